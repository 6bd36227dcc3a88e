//! Session and JWT endpoints (§a.3, §a.4).

use super::{ok, status, Ctx, HResult};
use crate::error::ApiError;
use serde_json::{json, Value};
use st_core::ids::TenantIdentifier;
use st_core::session::{CreateSession, RefreshOutcome, RegenerateOutcome, VerifyOutcome};

fn to_json<T: serde::Serialize>(v: &T) -> Result<Value, ApiError> {
    serde_json::to_value(v).map_err(|e| ApiError::Internal(e.to_string()))
}

/// `POST /<tenant>/recipe/session` (create) — tenant-scoped.
pub async fn create(ctx: &Ctx<'_>) -> HResult {
    ctx.state.core.tenant(&ctx.tenant).await?;
    let b = &ctx.body;
    let input = CreateSession {
        user_id: b.string("userId")?,
        enable_anti_csrf: b.bool("enableAntiCsrf")?,
        user_data_in_jwt: b.object("userDataInJWT")?,
        user_data_in_database: Value::Object(b.object("userDataInDatabase")?),
        use_dynamic_key: b.opt_bool("useDynamicSigningKey")?.unwrap_or(true),
    };
    let created = ctx.state.core.create_session(&ctx.tenant, input).await?;
    ok(to_json(&created)?)
}

/// `GET /recipe/session` — app-scoped, tenant from the handle.
pub async fn get(ctx: &Ctx<'_>) -> HResult {
    ctx.state.core.app(&ctx.tenant.app).await?;
    let handle = ctx.query.string("sessionHandle")?;
    match ctx.state.core.get_session_info(&ctx.tenant.app, &handle).await? {
        Some(info) => ok(to_json(&info)?),
        None => status("UNAUTHORISED", json!({"message": "Session does not exist."})),
    }
}

pub async fn verify(ctx: &Ctx<'_>) -> HResult {
    let b = &ctx.body;
    let token = b.string("accessToken")?;
    let anti_csrf = b.opt_string("antiCsrfToken")?;
    let do_check = b.bool("doAntiCsrfCheck")?;
    let enable = b.bool("enableAntiCsrf")?;
    let check_db = b.bool("checkDatabase")?;
    let outcome = ctx
        .state
        .core
        .verify_session(&ctx.tenant.app, &token, anti_csrf.as_deref(), do_check, enable, check_db)
        .await?;
    match outcome {
        VerifyOutcome::Ok { session, access_token } => {
            let mut out = json!({ "session": to_json(&session)? });
            if let Some(t) = access_token {
                out["accessToken"] = to_json(&t)?;
            }
            ok(out)
        }
        VerifyOutcome::TryRefreshToken(m) => status("TRY_REFRESH_TOKEN", json!({ "message": m })),
        VerifyOutcome::Unauthorised(m) => status("UNAUTHORISED", json!({ "message": m })),
    }
}

pub async fn refresh(ctx: &Ctx<'_>) -> HResult {
    let b = &ctx.body;
    let token = b.string("refreshToken")?;
    let anti_csrf = b.opt_string("antiCsrfToken")?;
    let enable = b.bool("enableAntiCsrf")?;
    let use_dynamic = b.bool("useDynamicSigningKey")?;
    match ctx.state.core.refresh_session(&ctx.tenant, &token, anti_csrf.as_deref(), enable, use_dynamic).await? {
        RefreshOutcome::Ok(s) => ok(to_json(&s)?),
        RefreshOutcome::Unauthorised(m) => status("UNAUTHORISED", json!({ "message": m })),
        RefreshOutcome::TokenTheftDetected { handle, user_id, recipe_user_id } => status(
            "TOKEN_THEFT_DETECTED",
            json!({"session": {"handle": handle, "userId": user_id, "recipeUserId": recipe_user_id}}),
        ),
    }
}

pub async fn regenerate(ctx: &Ctx<'_>) -> HResult {
    let token = ctx.body.string("accessToken")?;
    let data = ctx.body.opt_object("userDataInJWT")?;
    match ctx.state.core.regenerate_session(&ctx.tenant.app, &token, data).await? {
        RegenerateOutcome::Ok { session, access_token } => {
            let mut out = json!({ "session": to_json(&session)? });
            if let Some(t) = access_token {
                out["accessToken"] = to_json(&t)?;
            }
            ok(out)
        }
        RegenerateOutcome::Unauthorised(m) => status("UNAUTHORISED", json!({ "message": m })),
    }
}

/// A non-public path tenant used for an app-wide operation ⇒ 403.
fn require_public(ctx: &Ctx<'_>) -> Result<(), ApiError> {
    if ctx.tenant.tenant.is_public() {
        Ok(())
    } else {
        Err(ApiError::Forbidden("Only public tenantId can call this app specific API".into()))
    }
}

pub async fn remove(ctx: &Ctx<'_>) -> HResult {
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

pub async fn user_handles(ctx: &Ctx<'_>) -> HResult {
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

pub async fn data_get(ctx: &Ctx<'_>) -> HResult {
    let handle = ctx.query.string("sessionHandle")?;
    match ctx.state.core.get_session_info(&ctx.tenant.app, &handle).await? {
        Some(info) => ok(json!({ "userDataInDatabase": info.user_data_in_database })),
        None => status("UNAUTHORISED", json!({"message": "Session does not exist."})),
    }
}

pub async fn data_put(ctx: &Ctx<'_>) -> HResult {
    let handle = ctx.body.string("sessionHandle")?;
    let data = Value::Object(ctx.body.object("userDataInDatabase")?);
    if ctx.state.core.update_session_data(&ctx.tenant.app, &handle, &data).await? {
        ok(json!({}))
    } else {
        status("UNAUTHORISED", json!({"message": "Session does not exist."}))
    }
}

pub async fn jwt_data_get(ctx: &Ctx<'_>) -> HResult {
    let handle = ctx.query.string("sessionHandle")?;
    match ctx.state.core.get_session_info(&ctx.tenant.app, &handle).await? {
        Some(info) => ok(json!({ "userDataInJWT": info.user_data_in_jwt })),
        None => status("UNAUTHORISED", json!({"message": "Session does not exist."})),
    }
}

pub async fn jwt_data_put(ctx: &Ctx<'_>) -> HResult {
    let handle = ctx.body.string("sessionHandle")?;
    let data = ctx.body.object("userDataInJWT")?;
    if ctx.state.core.update_jwt_data(&ctx.tenant.app, &handle, data).await? {
        ok(json!({}))
    } else {
        status("UNAUTHORISED", json!({"message": "Session does not exist."}))
    }
}

pub async fn jwt_create(ctx: &Ctx<'_>) -> HResult {
    let b = &ctx.body;
    // Fields are read in the reference's order, so the first bad one is the one it names.
    let algorithm = b.string("algorithm")?;
    let domain = b.string("jwksDomain")?;
    let payload = b.object("payload")?;
    let validity = b.i64("validity")?;
    if validity <= 0 {
        return Err(ApiError::BadRequest("validity must be greater than or equal to 0".into()));
    }
    let use_static = b.opt_bool("useStaticSigningKey")?.unwrap_or(true);
    if !algorithm.eq_ignore_ascii_case("rs256") {
        return status("UNSUPPORTED_ALGORITHM_ERROR", json!({}));
    }
    let jwt = ctx.state.core.create_jwt(&ctx.tenant.app, payload, &domain, validity, use_static).await?;
    ok(json!({ "jwt": jwt }))
}

pub async fn jwt_jwks(ctx: &Ctx<'_>) -> HResult {
    let (keys, _) = ctx.state.core.jwks(&ctx.tenant.app).await?;
    ok(json!({ "keys": keys }))
}
