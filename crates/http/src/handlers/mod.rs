//! CDI handlers, one module per recipe, and [`RECIPES`], the one list the router is built from.
//!
//! A handler is an `async fn(&Ctx<'_>) -> HResult`: it parses its input, calls the domain
//! (`st_core::Core`; never storage) and shapes the JSON. Each module exports
//! `pub fn routes(r: &mut Router)`, which declares its paths with their scope and checks and
//! points each method at a handler: `r.at(path, scope, checks).get(handler!(f))`. Handlers
//! stay private to their module; modules import the router types, `crate::ctx`, `crate::input`
//! and [`common`], never each other.
//!
//! Adding a recipe: a new module here with its `routes`, and one line in [`RECIPES`].
//!
//! A path several recipes serve (`/recipe/user`: e-mail-password today, passwordless and
//! third party later) is merged by the router. The recipe the reference's router falls back to
//! for a missing or unknown `rid` header (e-mail-password) owns the method's default handler,
//! `.get(handler!(f))`; any other recipe declares the same path with the same scope and checks
//! and adds the branch its `rid` selects (exact, trimmed, case-sensitive):
//!
//! ```ignore
//! r.at("/recipe/user", Scope::None, Checks::KEY_AND_VERSION)
//!     .rid(Method::GET, "passwordless", handler!(user_get))
//!     .rid(Method::PUT, "passwordless", handler!(user_put));
//! ```
//!
//! Until then the `rid`s of recipes the reference serves there but this server does not
//! implement are refused with a 400 ([`not_yet_implemented`]); a recipe's own branch replaces
//! that refusal whatever the order of [`RECIPES`], so deleting its line there is tidying, not
//! a requirement. Contradicting registrations (two defaults for one method, two branches for
//! one `rid`, one path with two scopes) are reported by `Router::conflicts`, which a unit test
//! keeps empty.

pub mod accountlinking;
pub mod bulkimport;
pub mod common;
pub mod dashboard;
pub mod emailpassword;
pub mod emailverification;
pub mod infra;
pub mod jwt;
pub mod lockout;
pub mod multitenancy;
pub mod oauth;
pub mod passwordless;
pub mod saml;
pub mod session;
pub mod thirdparty;
pub mod totp;
pub mod useridmapping;
pub mod usermetadata;
pub mod userroles;
pub mod users;
pub mod webauthn;

use crate::router::Router;
use actix_web::http::Method;

/// Every module's routes: one line per recipe.
pub const RECIPES: &[fn(&mut Router)] = &[
    infra::routes,
    session::routes,
    jwt::routes,
    multitenancy::routes,
    emailpassword::routes,
    emailverification::routes,
    lockout::routes,
    thirdparty::routes,
    passwordless::routes,
    totp::routes,
    users::routes,
    accountlinking::routes,
    usermetadata::routes,
    userroles::routes,
    useridmapping::routes,
    dashboard::routes,
    webauthn::routes,
    bulkimport::routes,
    oauth::routes,
    saml::routes,
    not_yet_implemented,
];

/// `rid`s of recipes the reference serves on a shared path that this server does not implement
/// yet: a 400 ("The recipe <rid> is not supported on <path> yet") rather than the path's
/// default recipe.
fn not_yet_implemented(r: &mut Router) {
    for rid in ["thirdparty", "passwordless"] {
        r.reserve_rid("/recipe/user", Method::GET, rid);
        r.reserve_rid("/recipe/user", Method::PUT, rid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::router::{Route, Scope};
    use std::collections::HashMap;

    fn table() -> Router {
        Router::new(RECIPES)
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
            ("/recipe/multitenancy/connectionuridomain", &["PUT"], Management, true, true),
            ("/recipe/multitenancy/connectionuridomain/v2", &["PUT"], Management, true, true),
            ("/recipe/multitenancy/connectionuridomain/remove", &["POST"], Management, true, true),
            ("/recipe/multitenancy/connectionuridomain/list", &["GET"], Management, true, true),
            ("/recipe/multitenancy/connectionuridomain/list/v2", &["GET"], Management, true, true),
            ("/recipe/multitenancy/config/thirdparty", &["PUT"], Tenant, true, true),
            ("/recipe/multitenancy/config/thirdparty/remove", &["POST"], Tenant, true, true),
            ("/recipe/multitenancy/tenant/user", &["POST"], Tenant, true, true),
            ("/recipe/multitenancy/tenant/user/remove", &["POST"], Tenant, true, true),
            ("/ee/featureflag", &["GET"], App, true, true),
            ("/ee/license", &["PUT", "DELETE", "GET"], App, true, true),
            ("/recipe/signup", &["POST"], Tenant, true, true),
            ("/recipe/signin", &["POST"], Tenant, true, true),
            ("/recipe/user/password/reset/token", &["POST"], Tenant, true, true),
            ("/recipe/user/password/reset/token/consume", &["POST"], Tenant, true, true),
            ("/recipe/user/password/reset", &["POST"], Tenant, true, true),
            ("/recipe/user/passwordhash/import", &["POST"], Tenant, true, true),
            ("/recipe/user", &["GET", "PUT"], None, true, true),
            ("/recipe/signinup", &["POST"], Tenant, true, true),
            ("/recipe/users/by-email", &["GET"], Tenant, true, true),
            ("/recipe/signinup/code", &["POST"], Tenant, true, true),
            ("/recipe/signinup/code/consume", &["POST"], Tenant, true, true),
            ("/recipe/signinup/code/check", &["POST"], Tenant, true, true),
            ("/recipe/signinup/codes", &["GET"], Tenant, true, true),
            ("/recipe/signinup/codes/remove", &["POST"], Tenant, true, true),
            ("/recipe/signinup/code/remove", &["POST"], Tenant, true, true),
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
            ("/recipe/totp/device", &["POST", "PUT"], None, true, true),
            ("/recipe/totp/device/list", &["GET"], None, true, true),
            ("/recipe/totp/device/remove", &["POST"], None, true, true),
            ("/recipe/totp/device/import", &["POST"], None, true, true),
            ("/recipe/totp/device/verify", &["POST"], Tenant, true, true),
            ("/recipe/totp/verify", &["POST"], Tenant, true, true),
            ("/recipe/totp/device/status/bulk", &["POST"], None, true, true),
            ("/recipe/webauthn/options/register", &["POST"], Tenant, true, true),
            ("/recipe/webauthn/options/signin", &["POST"], Tenant, true, true),
            ("/recipe/webauthn/options", &["GET"], Tenant, true, true),
            ("/recipe/webauthn/options/remove", &["DELETE"], Tenant, true, true),
            ("/recipe/webauthn/signup", &["POST"], Tenant, true, true),
            ("/recipe/webauthn/signin", &["POST"], Tenant, true, true),
            ("/recipe/webauthn/user/credential/register", &["POST"], Tenant, true, true),
            ("/recipe/webauthn/user/credential", &["GET"], Tenant, true, true),
            ("/recipe/webauthn/user/credential/list", &["GET"], Tenant, true, true),
            ("/recipe/webauthn/user/credential/remove", &["DELETE"], Tenant, true, true),
            ("/recipe/webauthn/user/recover/token", &["POST"], Tenant, true, true),
            ("/recipe/webauthn/user/recover/token/consume", &["POST"], Tenant, true, true),
            ("/recipe/webauthn/user/recover", &["GET"], Tenant, true, true),
            ("/recipe/webauthn/user/email", &["PUT"], Tenant, true, true),
            ("/recipe/dashboard/user", &["POST", "PUT", "DELETE"], None, true, true),
            ("/recipe/dashboard/users", &["GET"], None, true, true),
            ("/recipe/dashboard/signin", &["POST"], None, true, true),
            ("/recipe/dashboard/session/verify", &["POST"], None, true, true),
            ("/recipe/dashboard/session", &["DELETE"], None, true, true),
            ("/recipe/dashboard/user/sessions", &["GET"], None, true, true),
            ("/recipe/dashboard/tenant/core-config", &["GET"], Tenant, true, true),
            ("/recipe/accountlinking/user/primary/check", &["GET"], App, true, true),
            ("/recipe/accountlinking/user/primary", &["POST"], App, true, true),
            ("/recipe/accountlinking/user/link/check", &["GET"], App, true, true),
            ("/recipe/accountlinking/user/link", &["POST"], App, true, true),
            ("/recipe/accountlinking/user/unlink", &["POST"], App, true, true),
            ("/recipe/oauth/clients", &["GET", "POST", "PUT"], App, true, true),
            ("/recipe/oauth/clients/list", &["GET"], App, true, true),
            ("/recipe/oauth/clients/remove", &["POST"], App, true, true),
            ("/recipe/oauth/token", &["POST"], App, true, true),
            ("/recipe/oauth/introspect", &["POST"], App, true, true),
            ("/recipe/oauth/token/revoke", &["POST"], App, true, true),
            ("/recipe/oauth/tokens/revoke", &["POST"], App, true, true),
            ("/recipe/oauth/session/revoke", &["POST"], App, true, true),
            ("/recipe/oauth/auth", &["POST"], App, true, true),
            ("/recipe/oauth/auth/requests/login", &["GET"], App, true, true),
            ("/recipe/oauth/auth/requests/login/accept", &["PUT"], App, true, true),
            ("/recipe/oauth/auth/requests/login/reject", &["PUT"], App, true, true),
            ("/recipe/oauth/auth/requests/consent", &["GET"], App, true, true),
            ("/recipe/oauth/auth/requests/consent/accept", &["PUT"], App, true, true),
            ("/recipe/oauth/auth/requests/consent/reject", &["PUT"], App, true, true),
            ("/recipe/oauth/auth/requests/logout/accept", &["PUT"], App, true, true),
            ("/recipe/oauth/auth/requests/logout/reject", &["PUT"], App, true, true),
            ("/recipe/oauth/sessions/logout", &["GET"], App, true, true),
            ("/recipe/saml/clients", &["PUT"], Tenant, true, true),
            ("/recipe/saml/clients/list", &["GET"], Tenant, true, true),
            ("/recipe/saml/clients/remove", &["POST"], Tenant, true, true),
            ("/recipe/saml/login", &["POST"], Tenant, true, true),
            ("/recipe/saml/callback", &["POST"], Tenant, true, true),
            ("/recipe/saml/user", &["POST"], Tenant, true, true),
            ("/recipe/saml/legacy/authorize", &["GET"], App, true, true),
            ("/recipe/saml/legacy/callback", &["POST"], App, true, true),
            ("/recipe/saml/legacy/token", &["POST"], App, false, true),
            ("/recipe/saml/legacy/userinfo", &["GET"], App, false, true),
            ("/.well-known/sp-metadata", &["GET"], Tenant, false, true),
            ("/bulk-import/users", &["GET", "POST"], App, true, true),
            ("/bulk-import/users/count", &["GET"], App, true, true),
            ("/bulk-import/users/remove", &["POST"], App, true, true),
            ("/bulk-import/import", &["POST"], App, true, true),
            ("/recipe/emailpassword/lockout", &["GET"], Tenant, true, true),
            ("/recipe/emailpassword/lockout/reset", &["POST"], Tenant, true, true),
        ]
    };

    /// Every path of the old table is registered with the same methods, scope and flags, and
    /// nothing else is.
    #[test]
    fn table_is_the_old_table() {
        let r = table();
        let routes: HashMap<&str, &Route> = r.routes().map(|route| (route.path, route)).collect();
        for &(path, methods, scope, key, cv) in OLD_TABLE {
            let route = *routes.get(path).unwrap_or_else(|| panic!("{path} is not registered"));
            assert_eq!(route.path, path);
            let mut want: Vec<&str> = methods.to_vec();
            let mut got: Vec<&str> = route.methods.iter().map(|m| m.method.as_str()).collect();
            want.sort_unstable();
            got.sort_unstable();
            assert_eq!(got, want, "methods of {path}");
            assert_eq!(route.scope, scope, "scope of {path}");
            assert_eq!(route.needs_api_key, key, "API key of {path}");
            assert_eq!(route.needs_cdi_version, cv, "cdi-version of {path}");
            for m in &route.methods {
                // Whatever the rid, as before (`/recipe/user`: see `recipe_user_is_chosen_by_rid`).
                assert!(m.has_default(), "{} {path} has no default handler", m.method);
                if path != "/recipe/user" {
                    assert_eq!(m.rids().count(), 0, "{} {path} is chosen by rid", m.method);
                }
            }
        }
        let mut old: Vec<&str> = OLD_TABLE.iter().map(|t| t.0).collect();
        let mut now: Vec<&str> = routes.keys().copied().collect();
        old.sort_unstable();
        now.sort_unstable();
        let len = old.len();
        old.dedup();
        assert_eq!(old.len(), len, "the old table lists a path twice");
        assert_eq!(now, old);
    }

    #[test]
    fn no_registration_contradicts_another() {
        assert_eq!(table().conflicts(), &[] as &[String]);
    }

    /// `/recipe/user` is e-mail-password's for a missing or unknown rid, as the reference's
    /// router falls back to it, and a 400 for the recipes not implemented yet (exact, trimmed
    /// by the caller, case-sensitive), as before the table was split.
    #[test]
    fn recipe_user_is_chosen_by_rid() {
        let r = table();
        let route = r.resolve("/recipe/user").route.unwrap();
        for method in [Method::GET, Method::PUT] {
            let m = route.methods.iter().find(|m| m.method == method).unwrap();
            for rid in [None, Some("emailpassword"), Some("dashboard"), Some(""), Some("ThirdParty")] {
                assert!(m.handler(route.path, rid).is_ok(), "{method} rid {rid:?}");
            }
            // Third party has its own branches (GET; PUT is its "Method not supported").
            assert!(m.handler(route.path, Some("thirdparty")).is_ok(), "{method} rid thirdparty");
            // So has passwordless (GET and PUT).
            assert!(m.handler(route.path, Some("passwordless")).is_ok(), "{method} rid passwordless");
        }
    }
}
