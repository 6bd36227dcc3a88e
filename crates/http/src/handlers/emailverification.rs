//! E-mail verification endpoints (§a.6): tokens, verifying, the verified check, unverifying.

use super::common::app_scope;
use crate::ctx::{ok, status, Ctx, HResult};
use crate::error::ApiError;
use crate::router::{handler, Checks, Router, Scope};
use serde_json::json;

pub fn routes(r: &mut Router) {
    let k = Checks::KEY_AND_VERSION;
    r.at("/recipe/user/email/verify/token", Scope::Tenant, k).post(handler!(create_token));
    r.at("/recipe/user/email/verify", Scope::None, k).post(handler!(verify)).get(handler!(is_verified));
    r.at("/recipe/user/email/verify/token/remove", Scope::Tenant, k).post(handler!(remove_tokens));
    r.at("/recipe/user/email/verify/remove", Scope::App, k).post(handler!(unverify));
}

async fn create_token(ctx: &Ctx<'_>) -> HResult {
    let user = ctx.body.stored("userId")?;
    let email = ctx.body.stored("email")?;
    match ctx.state.core.ev_create_token(&ctx.tenant, &user, &email).await? {
        Some(token) => ok(json!({"token": token})),
        None => status("EMAIL_ALREADY_VERIFIED_ERROR", json!({})),
    }
}

/// `POST /recipe/user/email/verify` (tenant-scoped, checked here).
async fn verify(ctx: &Ctx<'_>) -> HResult {
    let core = &ctx.state.core;
    core.tenant(&ctx.tenant).await?;
    // Both fields are read before the method is judged, as the reference does.
    let method = ctx.body.string("method")?;
    let token = ctx.body.string("token")?;
    if method != "token" {
        return Err(ApiError::BadRequest("Unsupported method for email verification".into()));
    }
    match core.ev_verify(&ctx.tenant, &token).await? {
        Some((user, email)) => ok(json!({"userId": user, "email": email})),
        None => status("EMAIL_VERIFICATION_INVALID_TOKEN_ERROR", json!({})),
    }
}

/// `GET /recipe/user/email/verify` (app-scoped, checked here).
async fn is_verified(ctx: &Ctx<'_>) -> HResult {
    app_scope(ctx).await?;
    let user = ctx.query.string("userId")?;
    let email = ctx.query.string("email")?;
    ok(json!({"isVerified": ctx.state.core.is_email_verified(&ctx.tenant.app, &user, &email).await?}))
}

async fn remove_tokens(ctx: &Ctx<'_>) -> HResult {
    ctx.state.core.ev_remove_tokens(&ctx.tenant, &ctx.body.string("userId")?, &ctx.body.string("email")?).await?;
    ok(json!({}))
}

async fn unverify(ctx: &Ctx<'_>) -> HResult {
    ctx.state.core.unverify_email(&ctx.tenant.app, &ctx.body.string("userId")?, &ctx.body.string("email")?).await?;
    ok(json!({}))
}
