//! Path routing (§b.1) and the route table. Every API accepts optional `/appid-<app>` and
//! `/<tenant>` prefixes, matching is on the lower-cased path, a trailing slash is allowed,
//! unknown paths fall to the `/` handler (404 unless the rest is empty).
//!
//! The table is filled by the recipe modules (`handlers::RECIPES`, passed to [`Router::new`]):
//! each declares its paths with [`Router::at`] and adds a handler per method. A path several
//! recipes serve is merged: each adds its own methods, or its own `rid` branch of a method
//! ([`Methods::rid`]). This module knows no handler.

use crate::ctx::{Ctx, HResult};
use crate::error::ApiError;
use actix_web::http::Method;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;

/// How the tenant segment of the path is used by an API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Tenant-scoped: the (app, tenant) must exist.
    Tenant,
    /// App-scoped, public tenant only (403 otherwise); the app must exist.
    App,
    /// App-scoped, tenant segment ignored (taken from token / handle); the app must exist.
    AppAnyTenant,
    /// Multitenancy management: permission rules live in the handler.
    Management,
    /// No identity check (the handler decides).
    None,
}

/// Which of the request checks an API takes besides its scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checks {
    /// The app's API key (or the SaaS secret) must be presented.
    pub api_key: bool,
    /// The `cdi-version` header is negotiated (and a bad one refused).
    pub cdi_version: bool,
}

impl Checks {
    /// API key and `cdi-version`: every recipe API.
    pub const KEY_AND_VERSION: Checks = Checks { api_key: true, cdi_version: true };
    /// API key only (`/apiversion`, `/metrics`).
    pub const KEY: Checks = Checks { api_key: true, cdi_version: false };
    /// `cdi-version` only (`/config`).
    pub const VERSION: Checks = Checks { api_key: false, cdi_version: true };
    /// Neither (`/`, `/hello`, the JWKS).
    pub const NONE: Checks = Checks { api_key: false, cdi_version: false };
}

/// A running handler: one boxed future per request.
pub type HandlerFuture<'a> = Pin<Box<dyn Future<Output = HResult> + 'a>>;

/// A handler as the table holds it; [`handler!`] makes one of an `async fn(&Ctx<'_>) -> HResult`.
pub type Handler = for<'a> fn(&'a Ctx<'a>) -> HandlerFuture<'a>;

/// `handler!(path::to::async_fn)`: the [`Handler`] that runs `async fn f(ctx: &Ctx<'_>) -> HResult`.
macro_rules! handler {
    ($f:path) => {{
        fn boxed<'a>(ctx: &'a $crate::ctx::Ctx<'a>) -> $crate::router::HandlerFuture<'a> {
            ::std::boxed::Box::pin($f(ctx))
        }
        boxed as $crate::router::Handler
    }};
}
pub(crate) use handler;

/// One `rid` branch of a method.
#[derive(Debug, Clone, Copy)]
enum Branch {
    Handler(Handler),
    /// A recipe the reference serves here that this server does not implement yet: a 400.
    NotYetImplemented,
}

/// The handlers of one method of a path: the default one, for a missing `rid` or one no
/// branch names (as the reference's router falls back to the path's first recipe), and the
/// branches chosen by an exact, case-sensitive `rid`.
#[derive(Debug, Clone)]
pub struct MethodRoute {
    pub method: Method,
    default: Option<Handler>,
    by_rid: Vec<(&'static str, Branch)>,
}

impl MethodRoute {
    /// The handler for a request with this `rid` (trimmed) on `path`.
    pub fn handler(&self, path: &str, rid: Option<&str>) -> Result<Handler, ApiError> {
        let branch = rid.and_then(|rid| self.by_rid.iter().find(|(r, _)| *r == rid));
        match (branch, self.default) {
            (Some(&(_, Branch::Handler(h))), _) | (None, Some(h)) => Ok(h),
            (Some((rid, Branch::NotYetImplemented)), _) => {
                Err(ApiError::BadRequest(format!("The recipe {rid} is not supported on {path} yet")))
            }
            (None, None) => Err(ApiError::BadRequest(format!(
                "The recipe {} is not supported on {path} yet",
                rid.unwrap_or("(no rid)")
            ))),
        }
    }

    /// The `rid`s with a branch of their own (refused ones included).
    pub fn rids(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.by_rid.iter().map(|(r, _)| *r)
    }

    /// Whether a request without a `rid` (or with an unclaimed one) has a handler.
    pub fn has_default(&self) -> bool {
        self.default.is_some()
    }
}

#[derive(Debug, Clone)]
pub struct Route {
    /// The canonical API path (metrics label).
    pub path: &'static str,
    pub methods: Vec<MethodRoute>,
    pub scope: Scope,
    pub needs_api_key: bool,
    pub needs_cdi_version: bool,
}

impl Route {
    fn method(&mut self, method: Method) -> &mut MethodRoute {
        let i = match self.methods.iter().position(|m| m.method == method) {
            Some(i) => i,
            None => {
                self.methods.push(MethodRoute { method, default: None, by_rid: Vec::new() });
                self.methods.len() - 1
            }
        };
        &mut self.methods[i]
    }
}

pub struct Router {
    routes: HashMap<&'static str, Route>,
    /// `rid`s refused on a path until a recipe adds its branch (applied after every recipe).
    reserved: Vec<(&'static str, Method, &'static str)>,
    /// Registrations that contradict an earlier one (a programming error; a unit test checks
    /// there are none). The earlier registration stands.
    conflicts: Vec<String>,
}

/// Where a request goes.
pub struct Resolved<'a> {
    pub route: Option<&'a Route>,
    pub app: String,
    pub tenant: String,
}

fn valid_segment(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The methods a recipe adds to one path ([`Router::at`]).
pub struct Methods<'r> {
    route: &'r mut Route,
    conflicts: &'r mut Vec<String>,
}

impl Methods<'_> {
    /// `method` is served by `h` (its default handler: whatever the `rid`, unless another
    /// recipe adds a branch for its own).
    pub fn on(self, method: Method, h: Handler) -> Self {
        let path = self.route.path;
        let m = self.route.method(method);
        if m.default.is_some() {
            self.conflicts.push(format!("{} {path} has two default handlers", m.method));
        } else {
            m.default = Some(h);
        }
        self
    }

    pub fn get(self, h: Handler) -> Self {
        self.on(Method::GET, h)
    }

    pub fn post(self, h: Handler) -> Self {
        self.on(Method::POST, h)
    }

    pub fn put(self, h: Handler) -> Self {
        self.on(Method::PUT, h)
    }

    pub fn delete(self, h: Handler) -> Self {
        self.on(Method::DELETE, h)
    }

    /// GET, POST, PUT and DELETE are all served by `h`.
    pub fn any(self, h: Handler) -> Self {
        self.get(h).post(h).put(h).delete(h)
    }

    /// `method` with the `rid` header exactly `rid` (trimmed, case-sensitive) is served by `h`.
    pub fn rid(self, method: Method, rid: &'static str, h: Handler) -> Self {
        let path = self.route.path;
        let m = self.route.method(method);
        if m.by_rid.iter().any(|(r, _)| *r == rid) {
            self.conflicts.push(format!("{} {path} has two branches for rid {rid}", m.method));
        } else {
            m.by_rid.push((rid, Branch::Handler(h)));
        }
        self
    }
}

impl Router {
    /// The table of every route that `recipes` register (each one `<module>::routes`).
    pub fn new(recipes: &[fn(&mut Router)]) -> Router {
        let mut r = Router { routes: HashMap::new(), reserved: Vec::new(), conflicts: Vec::new() };
        for routes in recipes {
            routes(&mut r);
        }
        for (path, method, rid) in std::mem::take(&mut r.reserved) {
            match r.routes.get_mut(path).and_then(|route| route.methods.iter_mut().find(|m| m.method == method)) {
                Some(m) if m.by_rid.iter().any(|(r, _)| *r == rid) => {}
                Some(m) => m.by_rid.push((rid, Branch::NotYetImplemented)),
                None => r.conflicts.push(format!("rid {rid} reserved on {method} {path}, which nobody serves")),
            }
        }
        for c in &r.conflicts {
            tracing::error!("route table: {c}");
        }
        r
    }

    /// Declare `path` with its scope and checks (or join it: a recipe adding methods or `rid`
    /// branches to a path another recipe declared gives the same scope and checks), then add
    /// methods to it.
    pub fn at(&mut self, path: &'static str, scope: Scope, checks: Checks) -> Methods<'_> {
        let route = self.routes.entry(path).or_insert_with(|| Route {
            path,
            methods: Vec::new(),
            scope,
            needs_api_key: checks.api_key,
            needs_cdi_version: checks.cdi_version,
        });
        let declared = Checks { api_key: route.needs_api_key, cdi_version: route.needs_cdi_version };
        if route.scope != scope || declared != checks {
            self.conflicts.push(format!("{path} is declared with two scopes or sets of checks"));
        }
        Methods { route, conflicts: &mut self.conflicts }
    }

    /// Refuse `rid` on `method` of `path` (a 400, "The recipe <rid> is not supported on <path>
    /// yet") instead of falling back to the default handler, unless a recipe adds its own
    /// branch for it, in whatever order the recipes are listed.
    pub fn reserve_rid(&mut self, path: &'static str, method: Method, rid: &'static str) {
        self.reserved.push((path, method, rid));
    }

    /// Registrations that contradicted an earlier one (empty for a sound table).
    pub fn conflicts(&self) -> &[String] {
        &self.conflicts
    }

    /// Every route, in no particular order.
    pub fn routes(&self) -> impl Iterator<Item = &Route> {
        self.routes.values()
    }

    fn lookup(&self, path: &str) -> Option<&Route> {
        let trimmed = if path.len() > 1 { path.strip_suffix('/').unwrap_or(path) } else { path };
        self.routes.get(if trimmed.is_empty() { "/" } else { trimmed })
    }

    /// Resolve a lower-cased path (base path already removed).
    pub fn resolve(&self, path: &str) -> Resolved<'_> {
        let public = || "public".to_string();
        if let Some(route) = self.lookup(path) {
            return Resolved { route: Some(route), app: public(), tenant: public() };
        }
        let mut rest = path;
        let mut app = public();
        if let Some(after) = rest.strip_prefix("/appid-") {
            let (seg, tail) = after.split_at(after.find('/').unwrap_or(after.len()));
            if !seg.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
                return Resolved { route: None, app, tenant: public() };
            }
            if !seg.is_empty() {
                app = seg.to_string();
            }
            rest = tail;
            if let Some(route) = self.lookup(rest) {
                return Resolved { route: Some(route), app, tenant: public() };
            }
        }
        if let Some(after) = rest.strip_prefix('/') {
            let (seg, tail) = after.split_at(after.find('/').unwrap_or(after.len()));
            let reserved = ["recipe", "config", "users", "hello"].contains(&seg) && !tail.is_empty();
            if valid_segment(seg) && !reserved && !seg.starts_with("appid-") {
                let route = self.lookup(if tail.is_empty() { "/" } else { tail });
                return Resolved { route, app, tenant: seg.to_string() };
            }
        }
        Resolved { route: None, app, tenant: public() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Router {
        Router::new(crate::handlers::RECIPES)
    }

    #[test]
    fn prefixes_resolve() {
        let r = table();
        let x = r.resolve("/appid-abc/t1/recipe/session/verify");
        assert!(x.route.is_some());
        assert_eq!((x.app.as_str(), x.tenant.as_str()), ("abc", "t1"));
        let x = r.resolve("/public/recipe/session/");
        assert!(x.route.is_some());
        assert_eq!(x.tenant, "public");
        let x = r.resolve("/appid-abc/ee/license");
        assert!(x.route.is_some());
        assert_eq!((x.app.as_str(), x.tenant.as_str()), ("abc", "public"));
        let x = r.resolve("/t1");
        assert!(x.route.is_some());
        assert_eq!(x.tenant, "t1");
        assert!(r.resolve("/nope/nope").route.is_none());
        assert!(r.resolve("/recipe/nope").route.is_none());
    }

    async fn one(_ctx: &Ctx<'_>) -> HResult {
        Err(ApiError::NotFound)
    }

    async fn two(_ctx: &Ctx<'_>) -> HResult {
        Err(ApiError::MethodNotAllowed)
    }

    /// Two recipes on one path: methods and rid branches merge, a recipe's own branch replaces
    /// a reservation whichever is listed first, and contradictions are reported.
    #[test]
    fn recipes_merge_on_a_shared_path() {
        fn first(r: &mut Router) {
            r.at("/p", Scope::Tenant, Checks::KEY_AND_VERSION).get(handler!(one));
            r.reserve_rid("/p", Method::GET, "b");
            r.reserve_rid("/p", Method::GET, "c");
        }
        fn second(r: &mut Router) {
            r.at("/p", Scope::Tenant, Checks::KEY_AND_VERSION).post(handler!(two)).rid(Method::GET, "b", handler!(two));
        }
        for recipes in [&[first, second] as &[fn(&mut Router)], &[second, first]] {
            let r = Router::new(recipes);
            assert_eq!(r.conflicts(), &[] as &[String]);
            let route = r.resolve("/p").route.unwrap();
            let get = route.methods.iter().find(|m| m.method == Method::GET).unwrap();
            assert!(get.handler("/p", None).is_ok());
            assert!(get.handler("/p", Some("b")).is_ok());
            assert!(get.handler("/p", Some("c")).is_err());
            assert_eq!(route.methods.len(), 2);
        }
        fn clash(r: &mut Router) {
            r.at("/p", Scope::App, Checks::KEY_AND_VERSION).get(handler!(two)).rid(Method::GET, "b", handler!(one));
            r.reserve_rid("/q", Method::GET, "b");
        }
        let r = Router::new(&[first, second, clash]);
        assert_eq!(r.conflicts().len(), 4, "{:?}", r.conflicts());
        assert_eq!(r.resolve("/p").route.unwrap().scope, Scope::Tenant, "the first declaration stands");
    }
}
