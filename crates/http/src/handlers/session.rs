//! Session endpoints (§a.3): create, read, verify, refresh, regenerate, revoke, the user's
//! handles, and the session's database and JWT payloads.

use super::common::require_public;
use crate::ctx::{ok, status, Ctx, HResult};
use crate::error::ApiError;
use crate::router::{handler, Checks, Router, Scope};
use serde_json::{json, Value};
use st_core::cdi::CdiVersion;
use st_core::ids::TenantIdentifier;
use st_core::session::{
    session_json_at, CreateSession, RefreshOutcome, RefreshSession, RegenerateOutcome, TokenReuse, VerifyOptions,
    VerifyOutcome,
};

pub fn routes(r: &mut Router) {
    let k = Checks::KEY_AND_VERSION;
    r.at("/recipe/session", Scope::None, k).post(handler!(create)).get(handler!(get));
    r.at("/recipe/session/verify", Scope::AppAnyTenant, k).post(handler!(verify));
    r.at("/recipe/session/refresh", Scope::Tenant, k).post(handler!(refresh));
    r.at("/recipe/session/regenerate", Scope::AppAnyTenant, k).post(handler!(regenerate));
    r.at("/recipe/session/remove", Scope::None, k).post(handler!(remove));
    r.at("/recipe/session/user", Scope::None, k).get(handler!(user_handles));
    r.at("/recipe/session/data", Scope::AppAnyTenant, k).get(handler!(data_get)).put(handler!(data_put));
    r.at("/recipe/jwt/data", Scope::AppAnyTenant, k).get(handler!(jwt_data_get)).put(handler!(jwt_data_put));
    r.at("/recipe/handshake", Scope::None, k).post(handler!(handshake));
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<Value, ApiError> {
    serde_json::to_value(v).map_err(|e| ApiError::Internal(e.to_string()))
}

/// `POST /<tenant>/recipe/session` (create) — tenant-scoped.
async fn create(ctx: &Ctx<'_>) -> HResult {
    ctx.state.core.tenant(&ctx.tenant).await?;
    let b = &ctx.body;
    let cdi = ctx.version();
    let input = CreateSession {
        user_id: b.stored("userId")?,
        enable_anti_csrf: b.bool("enableAntiCsrf")?,
        user_data_in_jwt: b.object("userDataInJWT")?,
        user_data_in_database: Value::Object(b.object("userDataInDatabase")?),
        access_token_validity_ms: requested_validity(ctx)?,
        // Read from 2.21 on only (before, the app's config decides).
        use_dynamic_key: if cdi >= CdiVersion::V2_21 { b.opt_bool("useDynamicSigningKey")? } else { None },
        cdi,
    };
    let created = ctx.state.core.create_session(&ctx.tenant, input).await?;
    ok(created.to_json_at(cdi)?)
}

/// CDI 5.6's optional `accessTokenValidity` (ms); not read before.
fn requested_validity(ctx: &Ctx<'_>) -> Result<Option<i64>, ApiError> {
    if ctx.version() >= CdiVersion::V5_6 {
        ctx.body.opt_i64("accessTokenValidity")
    } else {
        Ok(None)
    }
}

/// `GET /recipe/session` — app-scoped, tenant from the handle.
async fn get(ctx: &Ctx<'_>) -> HResult {
    ctx.state.core.app(&ctx.tenant.app).await?;
    let handle = ctx.query.string("sessionHandle")?;
    match ctx.state.core.get_session_info(&ctx.tenant.app, &handle).await? {
        Some(info) => ok(info.to_json_at(ctx.version())?),
        None => session_missing(),
    }
}

async fn verify(ctx: &Ctx<'_>) -> HResult {
    let b = &ctx.body;
    let cdi = ctx.version();
    let token = b.string("accessToken")?;
    let anti_csrf = b.opt_string("antiCsrfToken")?;
    let options = VerifyOptions {
        anti_csrf_token: anti_csrf.as_deref(),
        do_anti_csrf_check: b.bool("doAntiCsrfCheck")?,
        enable_anti_csrf: b.bool("enableAntiCsrf")?,
        // Before 2.21 the app's `access_token_blacklisting` decides.
        check_database: if cdi >= CdiVersion::V2_21 { Some(b.bool("checkDatabase")?) } else { None },
        cdi,
    };
    // From 5.6 the verify is the public tenant's (checked once the body is read, as the
    // reference).
    if cdi >= CdiVersion::V5_6 {
        ctx.state.core.app(&ctx.tenant.app).await?;
        if !ctx.tenant.tenant.is_public() {
            return Err(ApiError::Forbidden("Only public tenantId can call this app specific API".into()));
        }
    }
    let outcome = ctx.state.core.verify_session(&ctx.tenant.app, &token, options).await?;
    // The legacy SDKs verify tokens themselves, with the key handed out here.
    match outcome {
        VerifyOutcome::Ok { session, access_token, payload_update_available } => {
            let mut session_json = to_json(&session)?;
            session_json_at(cdi, &mut session_json);
            let mut out = json!({ "session": session_json });
            if let Some(t) = access_token {
                out["accessToken"] = to_json(&t)?;
            }
            if let Some(flag) = payload_update_available {
                out["payloadUpdateAvailable"] = json!(flag);
            }
            if cdi.hands_out_signing_keys() {
                merge(&mut out, legacy_keys(ctx, cdi).await?);
            }
            ok(out)
        }
        VerifyOutcome::TryRefreshToken(m) => {
            let mut out = json!({});
            if cdi.hands_out_signing_keys() {
                merge(&mut out, legacy_keys(ctx, cdi).await?);
            }
            out["message"] = json!(m);
            status("TRY_REFRESH_TOKEN", out)
        }
        VerifyOutcome::Unauthorised(m) => status("UNAUTHORISED", json!({ "message": m })),
    }
}

/// The signing-key fields of CDI < 2.21 (`jwtSigningPublicKeyList` from 2.9).
async fn legacy_keys(ctx: &Ctx<'_>, cdi: CdiVersion) -> Result<Value, ApiError> {
    let info = ctx.state.core.legacy_key_info(&ctx.tenant.app, cdi >= CdiVersion::V2_9).await?;
    to_json(&info)
}

fn merge(out: &mut Value, more: Value) {
    if let (Value::Object(o), Value::Object(m)) = (out, more) {
        o.extend(m);
    }
}

async fn refresh(ctx: &Ctx<'_>) -> HResult {
    let b = &ctx.body;
    let cdi = ctx.version();
    let token = b.string("refreshToken")?;
    let anti_csrf = b.opt_string("antiCsrfToken")?;
    let enable = b.bool("enableAntiCsrf")?;
    // Required from 5.0, optional from 3.0 (absent: the session keeps its kind of key), not
    // read before.
    let use_dynamic = if cdi >= CdiVersion::V5_0 {
        Some(b.bool("useDynamicSigningKey")?)
    } else if cdi >= CdiVersion::V3_0 {
        b.opt_bool("useDynamicSigningKey")?
    } else {
        None
    };
    let input = RefreshSession {
        refresh_token: &token,
        anti_csrf_token: anti_csrf.as_deref(),
        enable_anti_csrf: enable,
        use_dynamic_key: use_dynamic,
        cdi,
        access_token_validity_ms: requested_validity(ctx)?,
    };
    let reuse_field = |out: &mut Value, reuse: Option<TokenReuse>| {
        if let Some(r) = reuse {
            out["recentTokenReuseSubtype"] = json!(r.as_str());
        }
    };
    match ctx.state.core.refresh_session(&ctx.tenant, input).await? {
        RefreshOutcome::Ok(s) => ok(s.to_json_at(cdi)?),
        RefreshOutcome::Unauthorised { message, reuse } => {
            let mut out = json!({ "message": message });
            reuse_field(&mut out, reuse);
            status("UNAUTHORISED", out)
        }
        // `recipeUserId` is kept at every version here, as the reference does.
        RefreshOutcome::TokenTheftDetected { handle, user_id, recipe_user_id, reuse } => {
            let mut out = json!({"session": {"handle": handle, "userId": user_id, "recipeUserId": recipe_user_id}});
            reuse_field(&mut out, reuse);
            status("TOKEN_THEFT_DETECTED", out)
        }
    }
}

async fn regenerate(ctx: &Ctx<'_>) -> HResult {
    let token = ctx.body.string("accessToken")?;
    let data = ctx.body.opt_object("userDataInJWT")?;
    let cdi = ctx.version();
    match ctx.state.core.regenerate_session(&ctx.tenant.app, &token, data, cdi).await? {
        RegenerateOutcome::Ok { session, access_token } => {
            let mut session_json = to_json(&session)?;
            session_json_at(cdi, &mut session_json);
            let mut out = json!({ "session": session_json });
            if let Some(t) = access_token {
                out["accessToken"] = to_json(&t)?;
            }
            ok(out)
        }
        RegenerateOutcome::Unauthorised(m) => status("UNAUTHORISED", json!({ "message": m })),
    }
}

async fn remove(ctx: &Ctx<'_>) -> HResult {
    let core = &ctx.state.core;
    let b = &ctx.body;
    let user_id = b.opt_string("userId")?;
    let handles = b.opt_string_array("sessionHandles")?;
    if user_id.is_some() == handles.is_some() {
        return Err(ApiError::BadRequest("Invalid JSON input - use one of userId or sessionHandles array".into()));
    }
    // As the reference: each flag is parsed, then refused without a userId, in this order.
    let mut flags = [true; 2];
    for (flag, value) in ["revokeAcrossAllTenants", "revokeSessionsForLinkedAccounts"].into_iter().zip(&mut flags) {
        if let Some(v) = b.opt_bool(flag)? {
            if user_id.is_none() {
                return Err(ApiError::BadRequest(format!(
                    "Invalid JSON input - {flag} can only be set if userId is set"
                )));
            }
            *value = v;
        }
    }
    let [across, linked] = flags;
    let revoked = match (user_id, handles) {
        (Some(user), None) => {
            let scope = if across {
                require_public(ctx)?;
                core.app(&ctx.tenant.app).await?;
                None
            } else {
                core.tenant(&ctx.tenant).await?;
                Some(&ctx.tenant)
            };
            core.revoke_sessions_of_user(&ctx.tenant.app, scope, &user, linked).await?
        }
        (None, Some(handles)) => {
            core.app(&ctx.tenant.app).await?;
            core.revoke_sessions(&ctx.tenant.app, &handles).await?
        }
        _ => return Err(ApiError::BadRequest("Invalid JSON input - use one of userId or sessionHandles array".into())),
    };
    ok(json!({ "sessionHandlesRevoked": revoked }))
}

async fn user_handles(ctx: &Ctx<'_>) -> HResult {
    let core = &ctx.state.core;
    let user = ctx.query.string("userId")?;
    let across = ctx.query.bool_or("fetchAcrossAllTenants", true);
    let linked = ctx.query.bool_or("fetchSessionsForAllLinkedAccounts", true);
    let scope: Option<&TenantIdentifier> = if across {
        require_public(ctx)?;
        core.app(&ctx.tenant.app).await?;
        None
    } else {
        core.tenant(&ctx.tenant).await?;
        Some(&ctx.tenant)
    };
    let handles = core.session_handles_of_user(&ctx.tenant.app, scope, &user, linked).await?;
    let handles: Vec<String> = handles.into_iter().map(|(_, h)| h).collect();
    ok(json!({ "sessionHandles": handles }))
}

/// The reference's answer for an unknown (or expired) session handle.
fn session_missing() -> HResult {
    status("UNAUTHORISED", json!({"message": "Session does not exist."}))
}

async fn data_get(ctx: &Ctx<'_>) -> HResult {
    let handle = ctx.query.string("sessionHandle")?;
    match ctx.state.core.get_session_info(&ctx.tenant.app, &handle).await? {
        Some(info) => ok(json!({ "userDataInDatabase": info.user_data_in_database })),
        None => session_missing(),
    }
}

async fn data_put(ctx: &Ctx<'_>) -> HResult {
    let handle = ctx.body.string("sessionHandle")?;
    let data = Value::Object(ctx.body.object("userDataInDatabase")?);
    if ctx.state.core.update_session_data(&ctx.tenant.app, &handle, &data).await? {
        ok(json!({}))
    } else {
        session_missing()
    }
}

async fn jwt_data_get(ctx: &Ctx<'_>) -> HResult {
    let handle = ctx.query.string("sessionHandle")?;
    match ctx.state.core.get_session_info(&ctx.tenant.app, &handle).await? {
        Some(info) => ok(json!({ "userDataInJWT": info.user_data_in_jwt })),
        None => session_missing(),
    }
}

async fn jwt_data_put(ctx: &Ctx<'_>) -> HResult {
    let handle = ctx.body.string("sessionHandle")?;
    let data = ctx.body.object("userDataInJWT")?;
    if ctx.state.core.update_jwt_data(&ctx.tenant.app, &handle, data, ctx.version()).await? {
        ok(json!({}))
    } else {
        session_missing()
    }
}

/// The handshake of the SDKs of CDI < 2.21: the key they verify tokens with and the session
/// settings; from 2.21 on, 404 once the checks pass.
async fn handshake(ctx: &Ctx<'_>) -> HResult {
    let cdi = ctx.version();
    if cdi >= CdiVersion::V2_21 {
        return Err(ApiError::NotFound);
    }
    ctx.state.core.tenant(&ctx.tenant).await?;
    let cfg = ctx.state.core.app_config(&ctx.tenant.app).await?;
    let mut out = legacy_keys(ctx, cdi).await?;
    merge(
        &mut out,
        json!({
            "accessTokenBlacklistingEnabled": cfg.access_token_blacklisting,
            "accessTokenValidity": cfg.access_token_validity_s * 1000,
            "refreshTokenValidity": cfg.refresh_token_validity_ms,
        }),
    );
    ok(out)
}
