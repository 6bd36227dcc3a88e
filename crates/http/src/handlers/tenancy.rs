//! App and tenant management (§a.14, §g.3).

use super::{ok, status, Ctx, HResult};
use crate::error::ApiError;
use crate::input::Body;
use serde_json::{json, Value};
use st_core::ids::{AppId, TenantId};
use st_core::tenancy::{tenant_json_v1, tenant_json_v2, TenantUpdate};

fn update_from(b: &Body) -> Result<TenantUpdate, ApiError> {
    Ok(TenantUpdate {
        first_factors: b.nullable_string_array("firstFactors")?,
        required_secondary_factors: b.nullable_string_array("requiredSecondaryFactors")?,
        core_config: b.opt_object("coreConfig")?,
        email_password_enabled: b.opt_bool("emailPasswordEnabled")?,
        third_party_enabled: b.opt_bool("thirdPartyEnabled")?,
        passwordless_enabled: b.opt_bool("passwordlessEnabled")?,
    })
}

pub async fn app_put(ctx: &Ctx<'_>) -> HResult {
    let app = AppId::parse(&ctx.body.string("appId")?).map_err(ApiError::BadRequest)?;
    let created = ctx.state.core.create_or_update_app(&ctx.tenant, app, update_from(&ctx.body)?).await?;
    ok(json!({ "createdNew": created }))
}

pub async fn app_remove(ctx: &Ctx<'_>) -> HResult {
    let app = AppId::parse(&ctx.body.string("appId")?).map_err(ApiError::BadRequest)?;
    let existed = ctx.state.core.remove_app(&ctx.tenant, app).await?;
    ok(json!({ "didExist": existed }))
}

pub async fn app_list(ctx: &Ctx<'_>) -> HResult {
    if !ctx.tenant.tenant.is_public() {
        return Err(ApiError::Forbidden("Only public tenantId can call this app specific API".into()));
    }
    let core = &ctx.state.core;
    core.app(&ctx.tenant.app).await?;
    let records = core.list_tenant_records().await?;
    let mut apps: std::collections::BTreeMap<String, Vec<Value>> = Default::default();
    for t in &records {
        if ctx.tenant.app.is_public() || t.id.app == ctx.tenant.app {
            apps.entry(t.id.app.to_string()).or_default().push(tenant_json_v2(t));
        }
    }
    let apps: Vec<Value> = apps.into_iter().map(|(app, tenants)| json!({"appId": app, "tenants": tenants})).collect();
    ok(json!({ "apps": apps }))
}

pub async fn tenant_put(ctx: &Ctx<'_>) -> HResult {
    let tenant = TenantId::parse(&ctx.body.string("tenantId")?).map_err(ApiError::BadRequest)?;
    let created = ctx.state.core.create_or_update_tenant(&ctx.tenant, tenant, update_from(&ctx.body)?).await?;
    ok(json!({ "createdNew": created }))
}

pub async fn tenant_get(ctx: &Ctx<'_>, v2: bool) -> HResult {
    match ctx.state.core.tenant(&ctx.tenant).await {
        Ok(entry) => {
            let body = if v2 { tenant_json_v2(&entry.record) } else { tenant_json_v1(&entry.record) };
            ok(body)
        }
        Err(st_core::CoreError::TenantOrAppNotFound(_)) => status("TENANT_NOT_FOUND_ERROR", json!({})),
        Err(e) => Err(e.into()),
    }
}

pub async fn tenant_remove(ctx: &Ctx<'_>) -> HResult {
    let tenant = TenantId::parse(&ctx.body.string("tenantId")?).map_err(ApiError::BadRequest)?;
    let existed = ctx.state.core.remove_tenant(&ctx.tenant, tenant).await?;
    ok(json!({ "didExist": existed }))
}

pub async fn tenant_list(ctx: &Ctx<'_>) -> HResult {
    if !ctx.tenant.tenant.is_public() {
        return Err(ApiError::Forbidden("Only public tenantId can call this app specific API".into()));
    }
    let tenants = ctx.state.core.tenants_of_app(&ctx.tenant.app).await?;
    let list: Vec<Value> = tenants.iter().map(tenant_json_v2).collect();
    ok(json!({ "tenants": list }))
}
