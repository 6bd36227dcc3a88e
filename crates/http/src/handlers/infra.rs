//! `/`, `/hello`, `/apiversion`, JWKS, `/config`, `/telemetry`, `/requests/stats`, and the licence
//! endpoints.

use super::{ok, status, Ctx, HResult, Reply};
use crate::error::{text, ApiError};
use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use serde_json::json;
use st_core::ids::TenantIdentifier;

pub async fn root(ctx: &Ctx<'_>) -> HResult {
    ctx.state.core.tenant(&ctx.tenant).await.map_err(|_| ApiError::NotFound)?;
    Ok(Reply::Raw(text(StatusCode::OK, "Hello")))
}

pub async fn hello(ctx: &Ctx<'_>) -> HResult {
    let core = &ctx.state.core;
    core.app(&ctx.tenant.app).await?;
    if ctx.state.hello_limiter.allow(&ctx.tenant.app, core.now()) {
        if let Err(e) = core.storage.health_check().await {
            tracing::error!("/hello storage check failed: {e}");
            return Err(ApiError::Internal(e.to_string()));
        }
    }
    Ok(Reply::Raw(text(StatusCode::OK, "Hello")))
}

pub async fn api_version(ctx: &Ctx<'_>) -> HResult {
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
            let t = TenantIdentifier::app_public(&ctx.tenant.app);
            let core = &ctx.state.core;
            if core.storage.get_key_value(&t, key).await.ok().flatten().as_deref() != Some(v.as_str()) {
                if let Err(e) = core.storage.set_key_value(&t, key, &v, core.now()).await {
                    tracing::warn!(error = %e, key, "could not save the SDK's domain from /apiversion");
                }
            }
        }
    }
    Ok(Reply::Json(json!({ "versions": versions })))
}

pub async fn jwks(ctx: &Ctx<'_>) -> HResult {
    let (keys, max_age) = ctx.state.core.jwks(&ctx.tenant.app).await?;
    let body = json!({ "keys": keys }).to_string();
    Ok(Reply::Raw(
        HttpResponse::Ok()
            .content_type("application/json; charset=utf-8")
            .insert_header(("Cache-Control", format!("max-age={max_age}, must-revalidate")))
            .body(body),
    ))
}

pub async fn config_pid(ctx: &Ctx<'_>) -> HResult {
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

pub async fn telemetry(ctx: &Ctx<'_>) -> HResult {
    let t = TenantIdentifier::app_public(&ctx.tenant.app);
    let id = ctx.state.core.storage.get_key_value(&t, "TELEMETRY_ID").await.map_err(st_core::CoreError::from)?;
    Ok(Reply::Json(match id {
        Some(id) => json!({"exists": true, "telemetryId": id}),
        None => json!({"exists": false}),
    }))
}

/// `GET /requests/stats`: this instance's request rates for the app, per minute of the last day.
pub async fn request_stats(ctx: &Ctx<'_>) -> HResult {
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

pub async fn feature_flags(_ctx: &Ctx<'_>) -> HResult {
    ok(json!({ "features": FEATURES, "usageStats": {} }))
}

const LICENSE_KEY: &str = "LICENSE_KEY";

/// Licences are accepted and stored (every feature is on regardless).
pub async fn license_put(ctx: &Ctx<'_>) -> HResult {
    let key = ctx.body.opt_string("licenseKey")?;
    let core = &ctx.state.core;
    let t = TenantIdentifier::app_public(&ctx.tenant.app);
    if let Some(k) = key {
        core.storage.set_key_value(&t, LICENSE_KEY, &k, core.now()).await.map_err(st_core::CoreError::from)?;
    }
    ok(json!({}))
}

pub async fn license_delete(ctx: &Ctx<'_>) -> HResult {
    let core = &ctx.state.core;
    let t = TenantIdentifier::app_public(&ctx.tenant.app);
    core.storage.delete_key_value(&t, LICENSE_KEY).await.map_err(st_core::CoreError::from)?;
    ok(json!({}))
}

pub async fn license_get(ctx: &Ctx<'_>) -> HResult {
    let t = TenantIdentifier::app_public(&ctx.tenant.app);
    match ctx.state.core.storage.get_key_value(&t, LICENSE_KEY).await.map_err(st_core::CoreError::from)? {
        Some(k) => ok(json!({ "licenseKey": k })),
        None => status("NO_LICENSE_KEY_FOUND_ERROR", json!({})),
    }
}

/// `GET /metrics` (Prometheus text format), behind the API key of the base app.
pub async fn metrics(ctx: &Ctx<'_>) -> HResult {
    if !ctx.tenant.app.is_public() {
        return Err(ApiError::Forbidden("Only the public app can read metrics".into()));
    }
    let body = ctx.state.metrics.render(&ctx.state.core);
    Ok(Reply::Raw(HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(body)))
}
