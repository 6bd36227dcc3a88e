//! Endpoints of the server rather than of a recipe: `/`, `/hello`, `/apiversion`, the public
//! JWKS, `/config`, `/telemetry`, `/requests/stats`, `/metrics`, and the `/ee` licence ones.

use crate::ctx::{ok, status, Ctx, HResult, Reply};
use crate::error::{text, ApiError};
use crate::router::{handler, Checks, Router, Scope};
use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use serde_json::json;

pub fn routes(r: &mut Router) {
    r.at("/", Scope::AppAnyTenant, Checks::NONE).any(handler!(root));
    r.at("/hello", Scope::AppAnyTenant, Checks::NONE).any(handler!(hello));
    r.at("/apiversion", Scope::App, Checks::KEY).get(handler!(api_version));
    r.at("/.well-known/jwks.json", Scope::AppAnyTenant, Checks::NONE).get(handler!(jwks));
    r.at("/config", Scope::None, Checks::VERSION).get(handler!(config_pid));
    r.at("/metrics", Scope::App, Checks::KEY).get(handler!(metrics));
    r.at("/telemetry", Scope::App, Checks::KEY_AND_VERSION).get(handler!(telemetry));
    r.at("/requests/stats", Scope::App, Checks::KEY_AND_VERSION).get(handler!(request_stats));
    // EE / licence: every feature is on.
    r.at("/ee/featureflag", Scope::App, Checks::KEY_AND_VERSION).get(handler!(feature_flags));
    r.at("/ee/license", Scope::App, Checks::KEY_AND_VERSION)
        .put(handler!(license_put))
        .delete(handler!(license_delete))
        .get(handler!(license_get));
}

async fn root(ctx: &Ctx<'_>) -> HResult {
    ctx.state.core.tenant(&ctx.tenant).await.map_err(|_| ApiError::NotFound)?;
    Ok(Reply::Raw(text(StatusCode::OK, "Hello")))
}

/// How long `/hello` waits for its storage check.
const HELLO_STORAGE_BOUND: std::time::Duration = std::time::Duration::from_millis(800);

async fn hello(ctx: &Ctx<'_>) -> HResult {
    let core = &ctx.state.core;
    core.app(&ctx.tenant.app).await?;
    if ctx.state.hello_limiter.allow(&ctx.tenant.app, core.now()) {
        // A liveness probe gets its answer within a second whatever the database does: a
        // check that has not finished by then is the reference's 500 for unhealthy storage.
        match st_core::deadline::within(HELLO_STORAGE_BOUND, core.health_check()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::error!("/hello storage check failed: {e}");
                return Err(ApiError::Internal(e.to_string()));
            }
            Err(_) => {
                let msg = format!(
                    "storage unavailable: no answer from the database within {} ms",
                    HELLO_STORAGE_BOUND.as_millis()
                );
                tracing::error!("/hello storage check failed: {msg}");
                return Err(ApiError::Internal(msg));
            }
        }
    }
    Ok(Reply::Raw(text(StatusCode::OK, "Hello")))
}

async fn api_version(ctx: &Ctx<'_>) -> HResult {
    let cfg = match &ctx.app_config {
        Some(c) => c.clone(),
        None => ctx.state.core.app_config(&ctx.tenant.app).await?,
    };
    let max = cfg.supertokens_max_cdi_version.clone();
    let versions: Vec<&str> = crate::SUPPORTED_CDI_VERSIONS
        .iter()
        .copied()
        .filter(|v| max.as_deref().map(|m| crate::version_cmp(v, m).is_le()).unwrap_or(true))
        .collect();
    // The domains are remembered for telemetry and the dashboard. As in the reference, which
    // answers first and only logs a failed save, a database that cannot take the write does
    // not fail the SDK's first call.
    for (param, key) in [("websiteDomain", "websiteDomain"), ("apiDomain", "apiDomain")] {
        if let Some(v) = ctx.query.opt_string(param) {
            ctx.state.core.remember_sdk_domain(&ctx.tenant.app, key, &v).await;
        }
    }
    Ok(Reply::Json(json!({ "versions": versions })))
}

async fn jwks(ctx: &Ctx<'_>) -> HResult {
    let (keys, max_age) = ctx.state.core.jwks(&ctx.tenant.app).await?;
    let body = json!({ "keys": keys }).to_string();
    Ok(Reply::Raw(
        HttpResponse::Ok()
            .content_type("application/json; charset=utf-8")
            .insert_header(("Cache-Control", format!("max-age={max_age}, must-revalidate")))
            .body(body),
    ))
}

async fn config_pid(ctx: &Ctx<'_>) -> HResult {
    if !ctx.tenant.is_base() {
        return Err(ApiError::Forbidden("Only public tenantId and public appId can call this API".into()));
    }
    let pid = ctx.query.string("pid")?;
    if pid.trim() == std::process::id().to_string() {
        ok(json!({ "path": ctx.state.config_path }))
    } else {
        status("NOT_ALLOWED", json!({}))
    }
}

async fn telemetry(ctx: &Ctx<'_>) -> HResult {
    let id = ctx.state.core.telemetry_id(&ctx.tenant.app).await?;
    Ok(Reply::Json(match id {
        Some(id) => json!({"exists": true, "telemetryId": id}),
        None => json!({"exists": false}),
    }))
}

/// `GET /requests/stats`: this instance's request rates for the app, per minute of the last day.
async fn request_stats(ctx: &Ctx<'_>) -> HResult {
    let stats = ctx.state.core.request_stats(&ctx.tenant.app);
    ok(json!({
        "averageRequestsPerSecond": stats.average_per_second,
        "peakRequestsPerSecond": stats.peak_per_second,
        "atMinute": stats.at_minute,
    }))
}

/// Every paid feature of the reference, always enabled here.
pub const FEATURES: [&str; 9] =
    ["account_linking", "multi_tenancy", "test", "dashboard_login", "mfa", "security", "oauth", "saml", "webauthn"];

async fn feature_flags(_ctx: &Ctx<'_>) -> HResult {
    ok(json!({ "features": FEATURES, "usageStats": {} }))
}

/// Licences are accepted and stored (every feature is on regardless).
async fn license_put(ctx: &Ctx<'_>) -> HResult {
    let key = ctx.body.opt_string("licenseKey")?;
    let core = &ctx.state.core;
    if let Some(k) = key {
        core.set_license_key(&ctx.tenant.app, &k).await?;
    }
    ok(json!({}))
}

async fn license_delete(ctx: &Ctx<'_>) -> HResult {
    let core = &ctx.state.core;
    core.remove_license_key(&ctx.tenant.app).await?;
    ok(json!({}))
}

async fn license_get(ctx: &Ctx<'_>) -> HResult {
    match ctx.state.core.license_key(&ctx.tenant.app).await? {
        Some(k) => ok(json!({ "licenseKey": k })),
        None => status("NO_LICENSE_KEY_FOUND_ERROR", json!({})),
    }
}

/// `GET /metrics` (Prometheus text format), behind the API key of the base app.
async fn metrics(ctx: &Ctx<'_>) -> HResult {
    if !ctx.tenant.app.is_public() {
        return Err(ApiError::Forbidden("Only the public app can read metrics".into()));
    }
    let body = ctx.state.metrics.render(&ctx.state.core);
    Ok(Reply::Raw(HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(body)))
}
