//! CDI handlers. Each is a thin adapter: parse input, call the domain, shape the JSON.

pub mod infra;
pub mod session;
pub mod tenancy;
pub mod users;

use crate::error::ApiError;
use crate::input::{Body, Query};
use crate::ServerState;
use actix_web::HttpResponse;
use serde_json::{Map, Value};
use st_core::ids::TenantIdentifier;

/// Every handler, named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum H {
    Root,
    Hello,
    ApiVersion,
    Jwks,
    ConfigPid,
    Telemetry,
    RequestStats,
    Metrics,
    SessionCreate,
    SessionGet,
    SessionVerify,
    SessionRefresh,
    SessionRegenerate,
    SessionRemove,
    SessionUser,
    SessionDataGet,
    SessionDataPut,
    JwtDataGet,
    JwtDataPut,
    Handshake,
    JwtCreate,
    JwtJwks,
    AppPut,
    AppPutV2,
    AppRemove,
    AppList,
    AppListV1,
    TenantPut,
    TenantPutV2,
    TenantGetV1,
    TenantGetV2,
    TenantRemove,
    TenantList,
    TenantListV1,
    FeatureFlags,
    LicensePut,
    LicenseDelete,
    LicenseGet,
    User(users::U),
}

/// What a handler sees.
pub struct Ctx<'a> {
    pub state: &'a ServerState,
    pub tenant: TenantIdentifier,
    pub body: Body,
    pub query: Query,
    /// The negotiated CDI version.
    pub cdi: &'a str,
    /// The `rid` header (recipe id), used by `/recipe/user`.
    pub rid: Option<String>,
    /// The app's effective config, when the app exists (read once per request).
    pub app_config: Option<std::sync::Arc<st_config::CoreConfig>>,
    /// Whether the protected configs are hidden from, and frozen for, this request (a SaaS
    /// secret is set and the request did not present it).
    pub protect_configs: bool,
}

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

pub async fn dispatch(h: H, ctx: &Ctx<'_>) -> HResult {
    use H::*;
    match h {
        Root => infra::root(ctx).await,
        Hello => infra::hello(ctx).await,
        ApiVersion => infra::api_version(ctx).await,
        Jwks => infra::jwks(ctx).await,
        ConfigPid => infra::config_pid(ctx).await,
        Telemetry => infra::telemetry(ctx).await,
        RequestStats => infra::request_stats(ctx).await,
        Metrics => infra::metrics(ctx).await,
        SessionCreate => session::create(ctx).await,
        SessionGet => session::get(ctx).await,
        SessionVerify => session::verify(ctx).await,
        SessionRefresh => session::refresh(ctx).await,
        SessionRegenerate => session::regenerate(ctx).await,
        SessionRemove => session::remove(ctx).await,
        SessionUser => session::user_handles(ctx).await,
        SessionDataGet => session::data_get(ctx).await,
        SessionDataPut => session::data_put(ctx).await,
        JwtDataGet => session::jwt_data_get(ctx).await,
        JwtDataPut => session::jwt_data_put(ctx).await,
        Handshake => Err(ApiError::NotFound),
        JwtCreate => session::jwt_create(ctx).await,
        JwtJwks => session::jwt_jwks(ctx).await,
        AppPut => tenancy::app_put(ctx, false).await,
        AppPutV2 => tenancy::app_put(ctx, true).await,
        AppRemove => tenancy::app_remove(ctx).await,
        AppList => tenancy::app_list(ctx, true).await,
        AppListV1 => tenancy::app_list(ctx, false).await,
        TenantPut => tenancy::tenant_put(ctx, false).await,
        TenantPutV2 => tenancy::tenant_put(ctx, true).await,
        TenantGetV1 => tenancy::tenant_get(ctx, false).await,
        TenantGetV2 => tenancy::tenant_get(ctx, true).await,
        TenantRemove => tenancy::tenant_remove(ctx).await,
        TenantList => tenancy::tenant_list(ctx, true).await,
        TenantListV1 => tenancy::tenant_list(ctx, false).await,
        FeatureFlags => infra::feature_flags(ctx).await,
        LicensePut => infra::license_put(ctx).await,
        LicenseDelete => infra::license_delete(ctx).await,
        LicenseGet => infra::license_get(ctx).await,
        User(u) => users::dispatch(u, ctx).await,
    }
}
