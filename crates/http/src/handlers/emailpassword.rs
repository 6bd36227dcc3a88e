//! E-mail-password endpoints (§a.5): sign-up, sign-in, password reset, hash import, and the
//! e-mail-password branch of `/recipe/user` (the default one: a missing or unknown `rid`).

use super::common::app_scope;
use crate::ctx::{ok, status, Ctx, HResult};
use crate::error::ApiError;
use crate::router::{handler, Checks, Router, Scope};
use serde_json::json;
use st_core::cdi::CdiVersion;
use st_core::emailpassword::{SignInOutcome, SignUpOutcome};
use st_core::storage::UpdateResult;
use st_core::users::User;

pub fn routes(r: &mut Router) {
    let k = Checks::KEY_AND_VERSION;
    r.at("/recipe/signup", Scope::Tenant, k).post(handler!(sign_up));
    r.at("/recipe/signin", Scope::Tenant, k).post(handler!(sign_in));
    r.at("/recipe/user/password/reset/token", Scope::Tenant, k).post(handler!(reset_token));
    r.at("/recipe/user/password/reset/token/consume", Scope::Tenant, k).post(handler!(reset_consume));
    r.at("/recipe/user/password/reset", Scope::Tenant, k).post(handler!(reset_with_token));
    r.at("/recipe/user/passwordhash/import", Scope::Tenant, k).post(handler!(import));
    // The reference's router falls back to e-mail-password for a missing or unknown rid, so
    // its handlers are the defaults; other recipes add `rid` branches.
    r.at("/recipe/user", Scope::None, k).get(handler!(user_get)).put(handler!(user_put));
}

async fn sign_up(ctx: &Ctx<'_>) -> HResult {
    let email = ctx.body.stored("email")?;
    let password = ctx.body.string("password")?;
    match ctx.state.core.sign_up_with_password(&ctx.tenant, &email, &password, ctx.version()).await? {
        SignUpOutcome::Ok(user, rid) => user_with_recipe_user_id(ctx, *user, rid),
        SignUpOutcome::EmailAlreadyExists => status("EMAIL_ALREADY_EXISTS_ERROR", json!({})),
    }
}

async fn sign_in(ctx: &Ctx<'_>) -> HResult {
    let email = ctx.body.string("email")?;
    let password = ctx.body.string("password")?;
    match ctx.state.core.ep_sign_in(&ctx.tenant, &email, &password, ctx.version()).await? {
        SignInOutcome::Ok(user, rid) => user_with_recipe_user_id(ctx, *user, rid),
        SignInOutcome::WrongCredentials => status("WRONG_CREDENTIALS_ERROR", json!({})),
    }
}

/// A sign-up's or sign-in's answer: the user as the version shows it, and from CDI 4.0 the
/// recipe user id of the login method used.
fn user_with_recipe_user_id(ctx: &Ctx<'_>, user: User, recipe_user_id: String) -> HResult {
    let version = ctx.version();
    let mut out = json!({"user": user.at(version)?});
    if version >= CdiVersion::V4_0 {
        out["recipeUserId"] = json!(recipe_user_id);
    }
    ok(out)
}

async fn reset_token(ctx: &Ctx<'_>) -> HResult {
    let user = ctx.body.string("userId")?;
    let version = ctx.version();
    // From CDI 4.0 (only): the e-mail, whose absence the domain reports after the user lookup.
    let email = if version >= CdiVersion::V4_0 { ctx.body.string("email").ok() } else { None };
    // The token keeps the e-mail given.
    let email = email.map(|e| crate::input::storable("email", e)).transpose()?;
    match ctx.state.core.ep_reset_token(&ctx.tenant, &user, email.as_deref(), version).await? {
        Some(token) => ok(json!({"token": token})),
        None => status("UNKNOWN_USER_ID_ERROR", json!({})),
    }
}

async fn reset_consume(ctx: &Ctx<'_>) -> HResult {
    let token = ctx.body.string("token")?;
    match ctx.state.core.ep_consume_reset_token(&ctx.tenant, &token).await? {
        Some((user, email)) => ok(json!({"userId": user, "email": email})),
        None => status("RESET_PASSWORD_INVALID_TOKEN_ERROR", json!({})),
    }
}

/// The deprecated `/recipe/user/password/reset` (token and new password in one call).
async fn reset_with_token(ctx: &Ctx<'_>) -> HResult {
    let b = &ctx.body;
    if b.string("method")? != "token" {
        return Err(ApiError::BadRequest("Unsupported method for password reset".into()));
    }
    let token = b.string("token")?;
    let password = b.string("newPassword")?;
    if password.is_empty() {
        return Err(ApiError::BadRequest("Password cannot be an empty string".into()));
    }
    match ctx.state.core.ep_reset_password_with_token(&ctx.tenant, &token, &password).await? {
        // CDI 2.7 to 2.11 answer without the user id.
        Some(_) if ctx.version() < CdiVersion::V2_12 => ok(json!({})),
        Some(user) => ok(json!({"userId": user})),
        None => status("RESET_PASSWORD_INVALID_TOKEN_ERROR", json!({})),
    }
}

async fn import(ctx: &Ctx<'_>) -> HResult {
    let b = &ctx.body;
    let email = b.stored("email")?;
    let hash = b.stored("passwordHash")?;
    let alg = b.opt_string("hashingAlgorithm")?;
    let (user, existed) = ctx.state.core.ep_import(&ctx.tenant, &email, &hash, alg.as_deref(), ctx.version()).await?;
    ok(json!({"user": user.at(ctx.version())?, "didUserAlreadyExist": existed}))
}

/// `GET /recipe/user`: by `userId` the lookup is app-wide (public tenant only); by `email` it
/// is per tenant.
async fn user_get(ctx: &Ctx<'_>) -> HResult {
    let core = &ctx.state.core;
    match (ctx.query.opt_string("userId"), ctx.query.opt_string("email")) {
        (Some(_), Some(_)) => Err(ApiError::BadRequest("Please provide only one of userId or email".into())),
        (None, None) => Err(ApiError::BadRequest("Please provide one of userId or email".into())),
        (Some(id), None) => {
            app_scope(ctx).await?;
            match core.ep_user_by_recipe_id(&ctx.tenant.app, &id).await? {
                Some(user) => ok(json!({"user": user.at(ctx.version())?})),
                None => status("UNKNOWN_USER_ID_ERROR", json!({})),
            }
        }
        (None, Some(email)) => match core.ep_user_by_email(&ctx.tenant, &email).await? {
            Some(user) => ok(json!({"user": user.at(ctx.version())?})),
            None => status("UNKNOWN_EMAIL_ERROR", json!({})),
        },
    }
}

/// `PUT /recipe/user`: a new e-mail and/or password.
async fn user_put(ctx: &Ctx<'_>) -> HResult {
    let b = &ctx.body;
    // `userId` before CDI 4.0, `recipeUserId` from 4.0 on (only that one, as the reference).
    let id = b.string(if ctx.version() < CdiVersion::V4_0 { "userId" } else { "recipeUserId" })?;
    let email = b.opt_stored("email")?;
    let password = b.opt_string("password")?;
    if email.is_none() && password.is_none() {
        return Err(ApiError::BadRequest("You have to provide either email or password.".into()));
    }
    // The scope after the input, as the reference.
    app_scope(ctx).await?;
    match ctx.state.core.ep_update_user(&ctx.tenant.app, &id, email.as_deref(), password.as_deref()).await? {
        UpdateResult::Ok => ok(json!({})),
        UpdateResult::UnknownUser => status("UNKNOWN_USER_ID_ERROR", json!({})),
        UpdateResult::EmailAlreadyExists => status("EMAIL_ALREADY_EXISTS_ERROR", json!({})),
        UpdateResult::EmailChangeNotAllowed => status(
            "EMAIL_CHANGE_NOT_ALLOWED_ERROR",
            json!({"reason": "New email is associated with another primary user ID"}),
        ),
    }
}
