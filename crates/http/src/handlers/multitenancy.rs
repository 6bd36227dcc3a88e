//! Multitenancy endpoints (§a.14, §g.3): connection-URI domain, app and tenant management,
//! whose scope is `Management` (who may create, list or remove what is decided in the domain),
//! and the tenant-scoped third-party provider configs and tenant users.

use crate::ctx::{ok, status, Ctx, HResult, Reply};
use crate::error::ApiError;
use crate::input::Body;
use crate::router::{handler, Checks, Router, Scope};
use serde_json::{json, Map, Value};
use st_core::cdi::CdiVersion;
use st_core::ids::{AppId, ConnectionUriDomain, TenantId};
use st_core::multitenancy::{
    provider_from_json, provider_json, recipe_enabled, AssociationOutcome, LoginRecipe, TenantUpdate,
};
use st_core::storage::TenantRecord;

pub fn routes(r: &mut Router) {
    let (m, k) = (Scope::Management, Checks::KEY_AND_VERSION);
    r.at("/recipe/multitenancy/connectionuridomain", m, k).put(handler!(domain_put_v1));
    r.at("/recipe/multitenancy/connectionuridomain/v2", m, k).put(handler!(domain_put_v2));
    r.at("/recipe/multitenancy/connectionuridomain/remove", m, k).post(handler!(domain_remove));
    r.at("/recipe/multitenancy/connectionuridomain/list", m, k).get(handler!(domain_list_v1));
    r.at("/recipe/multitenancy/connectionuridomain/list/v2", m, k).get(handler!(domain_list_v2));
    r.at("/recipe/multitenancy/app", m, k).put(handler!(app_put_v1));
    r.at("/recipe/multitenancy/app/v2", m, k).put(handler!(app_put_v2));
    r.at("/recipe/multitenancy/app/remove", m, k).post(handler!(app_remove));
    r.at("/recipe/multitenancy/app/list", m, k).get(handler!(app_list_v1));
    r.at("/recipe/multitenancy/app/list/v2", m, k).get(handler!(app_list_v2));
    r.at("/recipe/multitenancy/tenant", m, k).put(handler!(tenant_put_v1)).get(handler!(tenant_get_v1));
    r.at("/recipe/multitenancy/tenant/v2", m, k).put(handler!(tenant_put_v2)).get(handler!(tenant_get_v2));
    r.at("/recipe/multitenancy/tenant/remove", m, k).post(handler!(tenant_remove));
    r.at("/recipe/multitenancy/tenant/list", m, k).get(handler!(tenant_list_v1));
    r.at("/recipe/multitenancy/tenant/list/v2", m, k).get(handler!(tenant_list_v2));
    let t = Scope::Tenant;
    r.at("/recipe/multitenancy/config/thirdparty", t, k).put(handler!(thirdparty_config_put));
    r.at("/recipe/multitenancy/config/thirdparty/remove", t, k).post(handler!(thirdparty_config_remove));
    r.at("/recipe/multitenancy/tenant/user", t, k).post(handler!(tenant_user_add));
    r.at("/recipe/multitenancy/tenant/user/remove", t, k).post(handler!(tenant_user_remove));
}

/// The tenant's providers, as every tenant read shows them.
fn providers_json(t: &TenantRecord) -> Value {
    Value::Array(t.third_party_providers.iter().map(provider_json).collect())
}

/// A tenant's JSON in the v2 or the deprecated v1 shape (without `status`), as this request may
/// see it: without the protected configs when they are protected from it (the reference's
/// `protectConfigs`).
fn tenant_json(ctx: &Ctx<'_>, t: &TenantRecord, v2: bool) -> Value {
    let mut core_config = t.core_config.clone();
    if ctx.protect_configs {
        for key in st_config::PROTECTED_CONFIGS {
            core_config.shift_remove(key);
        }
    }
    if v2 {
        tenant_json_v2(t, core_config)
    } else {
        tenant_json_v1(t, core_config, ctx.version())
    }
}

/// The v2 JSON shape of a tenant (without `status`).
fn tenant_json_v2(t: &TenantRecord, core_config: Map<String, Value>) -> Value {
    let mut out = Map::new();
    out.insert("tenantId".into(), json!(t.id.tenant.as_str()));
    out.insert("thirdParty".into(), json!({ "providers": providers_json(t) }));
    if let Some(f) = st_core::multitenancy::effective_first_factors(t) {
        out.insert("firstFactors".into(), json!(f));
    }
    if let Some(f) = &t.required_secondary_factors {
        out.insert("requiredSecondaryFactors".into(), json!(f));
    }
    out.insert("coreConfig".into(), Value::Object(core_config));
    Value::Object(out)
}

/// The deprecated (v1) JSON shape of a tenant. From CDI 5.0 the reference's
/// `TenantConfig.toJson5_0`: a recipe is enabled when its flag is on and the first-factor list
/// is absent or not empty; the factor lists follow when set (an empty first-factor list is left
/// out). Before 5.0 `toJsonLesserThanOrEqualTo4_0`: a recipe is enabled when its flag is on and
/// the list, if any, names one of its factors; no factor lists (see [`recipe_enabled`]).
fn tenant_json_v1(t: &TenantRecord, core_config: Map<String, Value>, version: CdiVersion) -> Value {
    let enabled = |recipe| recipe_enabled(t, recipe, version);
    let mut out = Map::new();
    out.insert("tenantId".into(), json!(t.id.tenant.as_str()));
    out.insert("emailPassword".into(), json!({"enabled": enabled(LoginRecipe::EmailPassword)}));
    out.insert(
        "thirdParty".into(),
        json!({"enabled": enabled(LoginRecipe::ThirdParty), "providers": providers_json(t)}),
    );
    out.insert("passwordless".into(), json!({"enabled": enabled(LoginRecipe::Passwordless)}));
    if version >= CdiVersion::V5_0 {
        if let Some(f) = t.first_factors.as_ref().filter(|f| !f.is_empty()) {
            out.insert("firstFactors".into(), json!(f));
        }
        if let Some(f) = &t.required_secondary_factors {
            out.insert("requiredSecondaryFactors".into(), json!(f));
        }
    }
    out.insert("coreConfig".into(), Value::Object(core_config));
    Value::Object(out)
}

/// Factor lists must be unique and made of `[0-9a-zA-Z_.-]`.
fn check_factors(name: &str, list: &Option<Option<Vec<String>>>) -> Result<(), ApiError> {
    if let Some(Some(items)) = list {
        let mut seen = std::collections::HashSet::new();
        for f in items {
            if !seen.insert(f) {
                return Err(ApiError::BadRequest(format!("{name} input should not contain duplicate values")));
            }
            if f.is_empty() || !f.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-') {
                return Err(ApiError::BadRequest(format!("{name} should contain only 0-9,a-z,A-Z,_,.,- characters")));
            }
            st_core::limits::stored(name, f).map_err(ApiError::BadRequest)?;
        }
    }
    Ok(())
}

/// Parse a create/update body. The v2 APIs take factors only; the deprecated ones also take the
/// recipe booleans, and before CDI 5.0 only those (the factor lists are not read).
fn update_from(ctx: &Ctx<'_>, v2: bool) -> Result<TenantUpdate, ApiError> {
    let b = &ctx.body;
    let version = ctx.version();
    let factors = v2 || version >= CdiVersion::V5_0;
    let factor_list = |name| if factors { b.nullable_string_array(name) } else { Ok(None) };
    if v2 {
        // (The reference names the last two "thirdParty" and "passwordless" in its message.)
        for (flag, name) in [
            ("emailPasswordEnabled", "emailPasswordEnabled"),
            ("thirdPartyEnabled", "thirdParty"),
            ("passwordlessEnabled", "passwordless"),
        ] {
            if b.has(flag)? {
                return Err(ApiError::BadRequest(format!("{name} is not a valid input for this API")));
            }
        }
    }
    let update = TenantUpdate {
        first_factors: factor_list("firstFactors")?,
        required_secondary_factors: factor_list("requiredSecondaryFactors")?,
        core_config: b.opt_object("coreConfig")?,
        email_password_enabled: b.opt_bool("emailPasswordEnabled")?,
        third_party_enabled: b.opt_bool("thirdPartyEnabled")?,
        passwordless_enabled: b.opt_bool("passwordlessEnabled")?,
        v2,
        version,
        protect_configs: ctx.protect_configs,
    };
    check_factors("firstFactors", &update.first_factors)?;
    check_factors("requiredSecondaryFactors", &update.required_secondary_factors)?;
    Ok(update)
}

/// An optional id field of a create/update body: absent or `null` names the public app or
/// tenant, as the reference's nullable parse does.
fn optional_id(b: &Body, field: &str) -> Result<Option<String>, ApiError> {
    match b.raw(field)? {
        None | Some(Value::Null) => Ok(None),
        Some(_) => b.string(field).map(Some),
    }
}

async fn app_put(ctx: &Ctx<'_>, v2: bool) -> HResult {
    let app = match optional_id(&ctx.body, "appId")? {
        Some(id) => AppId::parse(&id).map_err(ApiError::BadRequest)?,
        None => AppId::public(),
    };
    let created = ctx.state.core.create_or_update_app(&ctx.tenant, app, update_from(ctx, v2)?).await?;
    ok(json!({ "createdNew": created }))
}

async fn app_remove(ctx: &Ctx<'_>) -> HResult {
    let app = AppId::parse(&ctx.body.string("appId")?).map_err(ApiError::BadRequest)?;
    let existed = ctx.state.core.remove_app(&ctx.tenant, app).await?;
    ok(json!({ "didExist": existed }))
}

async fn app_list(ctx: &Ctx<'_>, v2: bool) -> HResult {
    if !ctx.tenant.tenant.is_public() || !ctx.tenant.app.is_public() {
        return Err(ApiError::Forbidden(
            "Only the public tenantId and public appId is allowed to list all apps associated with this connection uri domain"
                .into(),
        ));
    }
    let core = &ctx.state.core;
    core.app(&ctx.tenant.app).await?;
    let records = core.tenants_of_domain(ctx.tenant.domain()).await?;
    ok(json!({ "apps": apps_json(ctx, &records, v2) }))
}

/// `[{appId, tenants: [...]}]` of tenant records ordered by app.
fn apps_json(ctx: &Ctx<'_>, records: &[TenantRecord], v2: bool) -> Vec<Value> {
    let mut apps: Vec<(String, Vec<Value>)> = Vec::new();
    for t in records {
        let app = t.id.app.to_string();
        match apps.last_mut() {
            Some((a, tenants)) if *a == app => tenants.push(tenant_json(ctx, t, v2)),
            _ => apps.push((app, vec![tenant_json(ctx, t, v2)])),
        }
    }
    apps.into_iter().map(|(app, tenants)| json!({"appId": app, "tenants": tenants})).collect()
}

async fn domain_put(ctx: &Ctx<'_>, v2: bool) -> HResult {
    let domain = match optional_id(&ctx.body, "connectionUriDomain")? {
        Some(d) => Some(ConnectionUriDomain::parse(&d).map_err(ApiError::BadRequest)?),
        None => None,
    };
    let created = ctx.state.core.create_or_update_domain(&ctx.tenant, domain, update_from(ctx, v2)?).await?;
    ok(json!({ "createdNew": created }))
}

async fn domain_remove(ctx: &Ctx<'_>) -> HResult {
    let domain = ConnectionUriDomain::parse(&ctx.body.string("connectionUriDomain")?).map_err(ApiError::BadRequest)?;
    let existed = ctx.state.core.remove_domain(&ctx.tenant, domain).await?;
    ok(json!({ "didExist": existed }))
}

async fn domain_list(ctx: &Ctx<'_>, v2: bool) -> HResult {
    let records = ctx.state.core.all_domains_tenants(&ctx.tenant).await?;
    let mut domains: Vec<(String, Vec<TenantRecord>)> = Vec::new();
    for t in records {
        let domain = t.id.domain().to_string();
        match domains.last_mut() {
            Some((d, tenants)) if *d == domain => tenants.push(t),
            _ => domains.push((domain, vec![t])),
        }
    }
    let list: Vec<Value> = domains
        .iter()
        .map(|(domain, tenants)| json!({"connectionUriDomain": domain, "apps": apps_json(ctx, tenants, v2)}))
        .collect();
    ok(json!({ "connectionUriDomains": list }))
}

async fn tenant_put(ctx: &Ctx<'_>, v2: bool) -> HResult {
    let tenant = match optional_id(&ctx.body, "tenantId")? {
        Some(id) => TenantId::parse(&id).map_err(ApiError::BadRequest)?,
        None => TenantId::public(),
    };
    let created = ctx.state.core.create_or_update_tenant(&ctx.tenant, tenant, update_from(ctx, v2)?).await?;
    ok(json!({ "createdNew": created }))
}

async fn tenant_get(ctx: &Ctx<'_>, v2: bool) -> HResult {
    match ctx.state.core.tenant(&ctx.tenant).await {
        Ok(entry) => {
            // The tenant's fields, then `status`, as the reference adds it last.
            let mut out = tenant_json(ctx, &entry.record, v2);
            out["status"] = json!("OK");
            Ok(Reply::Json(out))
        }
        Err(st_core::CoreError::TenantOrAppNotFound(_)) => status("TENANT_NOT_FOUND_ERROR", json!({})),
        Err(e) => Err(e.into()),
    }
}

async fn tenant_remove(ctx: &Ctx<'_>) -> HResult {
    let tenant = TenantId::parse(&ctx.body.string("tenantId")?).map_err(ApiError::BadRequest)?;
    let existed = ctx.state.core.remove_tenant(&ctx.tenant, tenant).await?;
    ok(json!({ "didExist": existed }))
}

async fn tenant_list(ctx: &Ctx<'_>, v2: bool) -> HResult {
    if !ctx.tenant.tenant.is_public() {
        return Err(ApiError::Forbidden(
            "Only the public tenantId is allowed to list all tenants associated with this app".into(),
        ));
    }
    let tenants = ctx.state.core.tenants_of_app(&ctx.tenant.app).await?;
    let list: Vec<Value> = tenants.iter().map(|t| tenant_json(ctx, t, v2)).collect();
    ok(json!({ "tenants": list }))
}

// The deprecated (v1) and current (v2) forms share a handler that takes the version.

async fn domain_put_v1(ctx: &Ctx<'_>) -> HResult {
    domain_put(ctx, false).await
}

async fn domain_put_v2(ctx: &Ctx<'_>) -> HResult {
    domain_put(ctx, true).await
}

async fn domain_list_v1(ctx: &Ctx<'_>) -> HResult {
    domain_list(ctx, false).await
}

async fn domain_list_v2(ctx: &Ctx<'_>) -> HResult {
    domain_list(ctx, true).await
}

async fn app_put_v1(ctx: &Ctx<'_>) -> HResult {
    app_put(ctx, false).await
}

async fn app_put_v2(ctx: &Ctx<'_>) -> HResult {
    app_put(ctx, true).await
}

async fn app_list_v1(ctx: &Ctx<'_>) -> HResult {
    app_list(ctx, false).await
}

async fn app_list_v2(ctx: &Ctx<'_>) -> HResult {
    app_list(ctx, true).await
}

async fn tenant_put_v1(ctx: &Ctx<'_>) -> HResult {
    tenant_put(ctx, false).await
}

async fn tenant_put_v2(ctx: &Ctx<'_>) -> HResult {
    tenant_put(ctx, true).await
}

async fn tenant_get_v1(ctx: &Ctx<'_>) -> HResult {
    tenant_get(ctx, false).await
}

async fn tenant_get_v2(ctx: &Ctx<'_>) -> HResult {
    tenant_get(ctx, true).await
}

async fn tenant_list_v1(ctx: &Ctx<'_>) -> HResult {
    tenant_list(ctx, false).await
}

async fn tenant_list_v2(ctx: &Ctx<'_>) -> HResult {
    tenant_list(ctx, true).await
}

/// `PUT /<tenant>/recipe/multitenancy/config/thirdparty`
async fn thirdparty_config_put(ctx: &Ctx<'_>) -> HResult {
    let config = ctx.body.object("config")?;
    // As the reference: the id must be a string (the rest of the config is read leniently).
    Body::of_object(config.clone()).string("thirdPartyId")?;
    st_core::limits::thirdparty_provider(&config)
        .map_err(|m| ApiError::BadRequest(format!("Invalid third party config: {m}")))?;
    let skip_validation = ctx.body.opt_bool("skipValidation")?.unwrap_or(false);
    let provider = provider_from_json(&config)?;
    let created = ctx.state.core.create_or_update_thirdparty_provider(&ctx.tenant, provider, skip_validation).await?;
    ok(json!({ "createdNew": created }))
}

/// `POST /<tenant>/recipe/multitenancy/config/thirdparty/remove`
async fn thirdparty_config_remove(ctx: &Ctx<'_>) -> HResult {
    let third_party_id = ctx.body.string("thirdPartyId")?;
    let existed =
        ctx.state.core.remove_thirdparty_provider(&ctx.tenant, st_core::ids::java_trim(&third_party_id)).await?;
    ok(json!({ "didConfigExist": existed }))
}

/// The user id of `tenant/user[/remove]`: `userId` before CDI 4.0, `recipeUserId` from 4.0,
/// trimmed; empty is the reference's 400, which names `userId` at every version.
fn tenant_user_id(ctx: &Ctx<'_>) -> Result<String, ApiError> {
    let field = if ctx.version() < CdiVersion::V4_0 { "userId" } else { "recipeUserId" };
    crate::input::non_empty("userId", st_core::ids::java_trim(&ctx.body.string(field)?))
}

/// `POST /<tenant>/recipe/multitenancy/tenant/user`
async fn tenant_user_add(ctx: &Ctx<'_>) -> HResult {
    let user_id = tenant_user_id(ctx)?;
    match ctx.state.core.add_user_to_tenant(&ctx.tenant, &user_id).await? {
        AssociationOutcome::Associated { was_already_associated } => {
            ok(json!({ "wasAlreadyAssociated": was_already_associated }))
        }
        AssociationOutcome::UnknownUser => status("UNKNOWN_USER_ID_ERROR", json!({})),
        AssociationOutcome::EmailAlreadyExists => status("EMAIL_ALREADY_EXISTS_ERROR", json!({})),
        AssociationOutcome::PhoneNumberAlreadyExists => status("PHONE_NUMBER_ALREADY_EXISTS_ERROR", json!({})),
        AssociationOutcome::ThirdPartyUserAlreadyExists => status("THIRD_PARTY_USER_ALREADY_EXISTS_ERROR", json!({})),
        AssociationOutcome::NotAllowed { reason } => {
            status("ASSOCIATION_NOT_ALLOWED_ERROR", json!({ "reason": reason }))
        }
    }
}

/// `POST /<tenant>/recipe/multitenancy/tenant/user/remove`
async fn tenant_user_remove(ctx: &Ctx<'_>) -> HResult {
    let user_id = tenant_user_id(ctx)?;
    match ctx.state.core.remove_user_from_tenant(&ctx.tenant, &user_id).await? {
        Some(was_associated) => ok(json!({ "wasAssociated": was_associated })),
        None => status("UNKNOWN_USER_ID_ERROR", json!({})),
    }
}
