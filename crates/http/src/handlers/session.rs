//! Session endpoints (§a.3): create, read, verify, refresh, regenerate, revoke, the user's
//! handles, and the session's database and JWT payloads.

use super::common::require_public;
use crate::ctx::{ok, status, Ctx, HResult};
use crate::error::ApiError;
use crate::router::{handler, Checks, Router, Scope};
use serde_json::{json, Value};
use st_core::ids::TenantIdentifier;
use st_core::session::{CreateSession, RefreshOutcome, RegenerateOutcome, VerifyOptions, VerifyOutcome};

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
async fn get(ctx: &Ctx<'_>) -> HResult {
    ctx.state.core.app(&ctx.tenant.app).await?;
    let handle = ctx.query.string("sessionHandle")?;
    match ctx.state.core.get_session_info(&ctx.tenant.app, &handle).await? {
        Some(info) => ok(to_json(&info)?),
        None => session_missing(),
    }
}

async fn verify(ctx: &Ctx<'_>) -> HResult {
    let b = &ctx.body;
    let token = b.string("accessToken")?;
    let anti_csrf = b.opt_string("antiCsrfToken")?;
    let options = VerifyOptions {
        anti_csrf_token: anti_csrf.as_deref(),
        do_anti_csrf_check: b.bool("doAntiCsrfCheck")?,
        enable_anti_csrf: b.bool("enableAntiCsrf")?,
        check_database: b.bool("checkDatabase")?,
    };
    let outcome = ctx.state.core.verify_session(&ctx.tenant.app, &token, options).await?;
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

async fn refresh(ctx: &Ctx<'_>) -> HResult {
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

async fn regenerate(ctx: &Ctx<'_>) -> HResult {
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
    if ctx.state.core.update_jwt_data(&ctx.tenant.app, &handle, data).await? {
        ok(json!({}))
    } else {
        session_missing()
    }
}

/// The handshake of old SDKs, gone from the reference: 404 once the checks pass.
async fn handshake(_ctx: &Ctx<'_>) -> HResult {
    Err(ApiError::NotFound)
}
