//! What a handler sees ([`Ctx`]) and what it answers ([`Reply`], [`HResult`], [`ok`],
//! [`status`]). Depends on neither the router nor the handler modules, so both can import it.

use crate::error::ApiError;
use crate::input::{Body, Query};
use crate::ServerState;
use actix_web::HttpResponse;
use serde_json::{Map, Value};
use st_core::cdi::CdiVersion;
use st_core::ids::TenantIdentifier;

/// What a handler sees: the request, already routed and checked (scope, API key, cdi-version).
pub struct Ctx<'a> {
    pub state: &'a ServerState,
    pub tenant: TenantIdentifier,
    pub body: Body,
    pub query: Query,
    /// The negotiated CDI version (`None` on the routes that do not read the header).
    pub cdi: Option<CdiVersion>,
    /// The `rid` header (recipe id), trimmed. The router has already used it to choose the
    /// handler of a path several recipes serve (`/recipe/user`).
    pub rid: Option<String>,
    /// The app's effective config, when the app exists (read once per request).
    pub app_config: Option<std::sync::Arc<st_config::CoreConfig>>,
    /// Whether the protected configs are hidden from, and frozen for, this request (a SaaS
    /// secret is set and the request did not present it).
    pub protect_configs: bool,
    /// The request itself (headers), for the few routes that read more than the body and
    /// query (SAML's legacy routes: `Authorization`, form bodies).
    pub request: &'a actix_web::HttpRequest,
    /// The body as received (a form body is not JSON).
    pub raw_body: &'a [u8],
}

impl Ctx<'_> {
    /// The request's CDI version; a route that does not read the header answers as the newest
    /// served version.
    pub fn version(&self) -> CdiVersion {
        self.cdi.unwrap_or_else(st_core::cdi::newest_served)
    }
}

/// A handler's answer: JSON (served as `application/json; charset=utf-8`), or a response the
/// handler built itself (plain text, headers).
pub enum Reply {
    Json(Value),
    Raw(HttpResponse),
}

pub type HResult = Result<Reply, ApiError>;

/// `{"status":"OK", ...fields}`.
pub fn ok(fields: Value) -> HResult {
    status("OK", fields)
}

/// `{"status":<status>, ...fields}`.
pub fn status(status: &str, fields: Value) -> HResult {
    let mut map = Map::new();
    map.insert("status".into(), Value::String(status.to_string()));
    if let Value::Object(f) = fields {
        map.extend(f);
    }
    Ok(Reply::Json(Value::Object(map)))
}
