//! Path routing (§b.1): every API accepts optional `/appid-<app>` and `/<tenant>` prefixes,
//! matching is on the lower-cased path, a trailing slash is allowed, unknown paths fall to the
//! `/` handler (404 unless the rest is empty).

use crate::handlers::H;
use actix_web::http::Method;
use std::collections::HashMap;

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

#[derive(Debug, Clone)]
pub struct Route {
    /// The canonical API path (metrics label).
    pub path: &'static str,
    pub methods: Vec<(Method, H)>,
    pub scope: Scope,
    pub needs_api_key: bool,
    pub needs_cdi_version: bool,
}

pub struct Router {
    routes: HashMap<&'static str, Route>,
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

impl Router {
    pub fn new() -> Router {
        let mut r = Router { routes: HashMap::new() };
        use Scope::*;
        use H::*;
        let get = Method::GET;
        let post = Method::POST;
        let put = Method::PUT;
        let delete = Method::DELETE;
        let any = |h: H| vec![(Method::GET, h), (Method::POST, h), (Method::PUT, h), (Method::DELETE, h)];
        r.add("/", any(Root), AppAnyTenant, false, false);
        r.add("/hello", any(Hello), AppAnyTenant, false, false);
        r.add("/apiversion", vec![(get.clone(), ApiVersion)], App, true, false);
        r.add("/.well-known/jwks.json", vec![(get.clone(), Jwks)], AppAnyTenant, false, false);
        r.add("/config", vec![(get.clone(), ConfigPid)], None, false, true);
        r.add("/metrics", vec![(get.clone(), Metrics)], App, true, false);
        r.add("/telemetry", vec![(get.clone(), Telemetry)], App, true, true);
        r.add("/requests/stats", vec![(get.clone(), RequestStats)], App, true, true);
        // Session
        r.add("/recipe/session", vec![(post.clone(), SessionCreate), (get.clone(), SessionGet)], None, true, true);
        r.add("/recipe/session/verify", vec![(post.clone(), SessionVerify)], AppAnyTenant, true, true);
        r.add("/recipe/session/refresh", vec![(post.clone(), SessionRefresh)], Tenant, true, true);
        r.add("/recipe/session/regenerate", vec![(post.clone(), SessionRegenerate)], AppAnyTenant, true, true);
        r.add("/recipe/session/remove", vec![(post.clone(), SessionRemove)], None, true, true);
        r.add("/recipe/session/user", vec![(get.clone(), SessionUser)], None, true, true);
        r.add(
            "/recipe/session/data",
            vec![(get.clone(), SessionDataGet), (put.clone(), SessionDataPut)],
            AppAnyTenant,
            true,
            true,
        );
        r.add("/recipe/jwt/data", vec![(get.clone(), JwtDataGet), (put.clone(), JwtDataPut)], AppAnyTenant, true, true);
        r.add("/recipe/handshake", vec![(post.clone(), Handshake)], None, true, true);
        r.add("/recipe/jwt", vec![(post.clone(), JwtCreate)], App, true, true);
        r.add("/recipe/jwt/jwks", vec![(get.clone(), JwtJwks)], App, true, true);
        // Multitenancy
        r.add("/recipe/multitenancy/app", vec![(put.clone(), AppPut)], Management, true, true);
        r.add("/recipe/multitenancy/app/v2", vec![(put.clone(), AppPutV2)], Management, true, true);
        r.add("/recipe/multitenancy/app/remove", vec![(post.clone(), AppRemove)], Management, true, true);
        r.add("/recipe/multitenancy/app/list", vec![(get.clone(), AppListV1)], Management, true, true);
        r.add("/recipe/multitenancy/app/list/v2", vec![(get.clone(), AppList)], Management, true, true);
        r.add(
            "/recipe/multitenancy/tenant",
            vec![(put.clone(), TenantPut), (get.clone(), TenantGetV1)],
            Management,
            true,
            true,
        );
        r.add(
            "/recipe/multitenancy/tenant/v2",
            vec![(put.clone(), TenantPutV2), (get.clone(), TenantGetV2)],
            Management,
            true,
            true,
        );
        r.add("/recipe/multitenancy/tenant/remove", vec![(post.clone(), TenantRemove)], Management, true, true);
        r.add("/recipe/multitenancy/tenant/list", vec![(get.clone(), TenantListV1)], Management, true, true);
        r.add("/recipe/multitenancy/tenant/list/v2", vec![(get.clone(), TenantList)], Management, true, true);
        // EE / licence: every feature is on.
        r.add("/ee/featureflag", vec![(get.clone(), FeatureFlags)], App, true, true);
        r.add(
            "/ee/license",
            vec![(put.clone(), LicensePut), (delete.clone(), LicenseDelete), (get.clone(), LicenseGet)],
            App,
            true,
            true,
        );
        crate::handlers::users::register(&mut r);
        r
    }

    pub fn add(&mut self, path: &'static str, methods: Vec<(Method, H)>, scope: Scope, key: bool, cv: bool) {
        self.routes.insert(path, Route { path, methods, scope, needs_api_key: key, needs_cdi_version: cv });
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

impl Default for Router {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_resolve() {
        let r = Router::new();
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

    /// The route table as it stood before the handlers were split per recipe: path, methods,
    /// scope, API key, cdi-version.
    const OLD_TABLE: &[(&str, &[&str], Scope, bool, bool)] = {
        use Scope::*;
        const ANY: &[&str] = &["GET", "POST", "PUT", "DELETE"];
        &[
            ("/", ANY, AppAnyTenant, false, false),
            ("/hello", ANY, AppAnyTenant, false, false),
            ("/apiversion", &["GET"], App, true, false),
            ("/.well-known/jwks.json", &["GET"], AppAnyTenant, false, false),
            ("/config", &["GET"], None, false, true),
            ("/metrics", &["GET"], App, true, false),
            ("/telemetry", &["GET"], App, true, true),
            ("/requests/stats", &["GET"], App, true, true),
            ("/recipe/session", &["POST", "GET"], None, true, true),
            ("/recipe/session/verify", &["POST"], AppAnyTenant, true, true),
            ("/recipe/session/refresh", &["POST"], Tenant, true, true),
            ("/recipe/session/regenerate", &["POST"], AppAnyTenant, true, true),
            ("/recipe/session/remove", &["POST"], None, true, true),
            ("/recipe/session/user", &["GET"], None, true, true),
            ("/recipe/session/data", &["GET", "PUT"], AppAnyTenant, true, true),
            ("/recipe/jwt/data", &["GET", "PUT"], AppAnyTenant, true, true),
            ("/recipe/handshake", &["POST"], None, true, true),
            ("/recipe/jwt", &["POST"], App, true, true),
            ("/recipe/jwt/jwks", &["GET"], App, true, true),
            ("/recipe/multitenancy/app", &["PUT"], Management, true, true),
            ("/recipe/multitenancy/app/v2", &["PUT"], Management, true, true),
            ("/recipe/multitenancy/app/remove", &["POST"], Management, true, true),
            ("/recipe/multitenancy/app/list", &["GET"], Management, true, true),
            ("/recipe/multitenancy/app/list/v2", &["GET"], Management, true, true),
            ("/recipe/multitenancy/tenant", &["PUT", "GET"], Management, true, true),
            ("/recipe/multitenancy/tenant/v2", &["PUT", "GET"], Management, true, true),
            ("/recipe/multitenancy/tenant/remove", &["POST"], Management, true, true),
            ("/recipe/multitenancy/tenant/list", &["GET"], Management, true, true),
            ("/recipe/multitenancy/tenant/list/v2", &["GET"], Management, true, true),
            ("/ee/featureflag", &["GET"], App, true, true),
            ("/ee/license", &["PUT", "DELETE", "GET"], App, true, true),
            ("/recipe/signup", &["POST"], Tenant, true, true),
            ("/recipe/signin", &["POST"], Tenant, true, true),
            ("/recipe/user/password/reset/token", &["POST"], Tenant, true, true),
            ("/recipe/user/password/reset/token/consume", &["POST"], Tenant, true, true),
            ("/recipe/user/password/reset", &["POST"], Tenant, true, true),
            ("/recipe/user/passwordhash/import", &["POST"], Tenant, true, true),
            ("/recipe/user", &["GET", "PUT"], None, true, true),
            ("/recipe/user/email/verify/token", &["POST"], Tenant, true, true),
            ("/recipe/user/email/verify", &["POST", "GET"], None, true, true),
            ("/recipe/user/email/verify/token/remove", &["POST"], Tenant, true, true),
            ("/recipe/user/email/verify/remove", &["POST"], App, true, true),
            ("/user/id", &["GET"], App, true, true),
            ("/users/by-accountinfo", &["GET"], Tenant, true, true),
            ("/user/remove", &["POST"], App, true, true),
            ("/users", &["GET"], Tenant, true, true),
            ("/users/count", &["GET"], None, true, true),
            ("/users/count/active", &["GET"], App, true, true),
            ("/user/search/tags", &["GET"], None, true, true),
            ("/recipe/user/metadata", &["GET", "PUT"], App, true, true),
            ("/recipe/user/metadata/remove", &["POST"], App, true, true),
            ("/recipe/user/metadata/bulk", &["POST"], App, true, true),
            ("/recipe/role", &["PUT"], App, true, true),
            ("/recipe/role/permissions", &["GET"], App, true, true),
            ("/recipe/role/permissions/remove", &["POST"], App, true, true),
            ("/recipe/permission/roles", &["GET"], App, true, true),
            ("/recipe/role/remove", &["POST"], App, true, true),
            ("/recipe/roles", &["GET"], App, true, true),
            ("/recipe/user/role", &["PUT"], Tenant, true, true),
            ("/recipe/user/role/remove", &["POST"], Tenant, true, true),
            ("/recipe/user/roles", &["GET"], Tenant, true, true),
            ("/recipe/role/users", &["GET"], Tenant, true, true),
            ("/recipe/userid/map", &["POST", "GET"], App, true, true),
            ("/recipe/userid/map/remove", &["POST"], App, true, true),
            ("/recipe/userid/external-user-id-info", &["PUT"], App, true, true),
        ]
    };

    /// Every path of the old table is registered with the same methods, scope and flags, and
    /// nothing else is.
    #[test]
    fn table_is_the_old_table() {
        let r = Router::new();
        for &(path, methods, scope, key, cv) in OLD_TABLE {
            let route = r.routes.get(path).unwrap_or_else(|| panic!("{path} is not registered"));
            assert_eq!(route.path, path);
            let mut want: Vec<&str> = methods.to_vec();
            let mut got: Vec<&str> = route.methods.iter().map(|(m, _)| m.as_str()).collect();
            want.sort_unstable();
            got.sort_unstable();
            assert_eq!(got, want, "methods of {path}");
            assert_eq!(route.scope, scope, "scope of {path}");
            assert_eq!(route.needs_api_key, key, "API key of {path}");
            assert_eq!(route.needs_cdi_version, cv, "cdi-version of {path}");
        }
        let mut old: Vec<&str> = OLD_TABLE.iter().map(|t| t.0).collect();
        let mut now: Vec<&str> = r.routes.keys().copied().collect();
        old.sort_unstable();
        now.sort_unstable();
        let len = old.len();
        old.dedup();
        assert_eq!(old.len(), len, "the old table lists a path twice");
        assert_eq!(now, old);
    }
}
