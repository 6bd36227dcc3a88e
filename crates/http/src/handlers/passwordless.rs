//! Passwordless endpoints (§a.8): codes (create, check, consume, list, remove) and the
//! passwordless branch of `/recipe/user` (`rid: passwordless`).

use super::common::app_scope;
use crate::ctx::{ok, status, Ctx, HResult};
use crate::error::ApiError;
use crate::input::Body;
use crate::router::{handler, Checks, Router, Scope};
use actix_web::http::Method;
use serde_json::{json, Value};
use st_core::cdi::CdiVersion;
use st_core::passwordless::{
    CodeInput, CodeOutcome, CodeTarget, ConsumedDevice, CreateCodeOutcome, DeviceQuery, PasswordlessUpdateOutcome,
};

pub fn routes(r: &mut Router) {
    let k = Checks::KEY_AND_VERSION;
    r.at("/recipe/signinup/code", Scope::Tenant, k).post(handler!(create_code));
    r.at("/recipe/signinup/code/consume", Scope::Tenant, k).post(handler!(consume_code));
    r.at("/recipe/signinup/code/check", Scope::Tenant, k).post(handler!(check_code));
    r.at("/recipe/signinup/codes", Scope::Tenant, k).get(handler!(list_codes));
    r.at("/recipe/signinup/codes/remove", Scope::Tenant, k).post(handler!(remove_codes));
    r.at("/recipe/signinup/code/remove", Scope::Tenant, k).post(handler!(remove_code));
    r.at("/recipe/user", Scope::None, k).rid(Method::GET, "passwordless", handler!(user_get)).rid(
        Method::PUT,
        "passwordless",
        handler!(user_put),
    );
}

fn bad(msg: &str) -> ApiError {
    ApiError::BadRequest(msg.into())
}

/// `POST /<tenant>/recipe/signinup/code`: exactly one of `email`, `phoneNumber`, `deviceId`;
/// `userInputCode` optional (not empty).
async fn create_code(ctx: &Ctx<'_>) -> HResult {
    let b = &ctx.body;
    let email = b.opt_stored("email")?;
    let phone = b.opt_stored("phoneNumber")?;
    let device_id = b.opt_string("deviceId")?;
    let target = match (email, phone, device_id) {
        (Some(e), None, None) => CodeTarget::Email(e),
        (None, Some(p), None) => CodeTarget::PhoneNumber(p),
        (None, None, Some(d)) => CodeTarget::DeviceId(d),
        _ => return Err(bad("Please provide exactly one of email, phoneNumber or deviceId")),
    };
    let user_input_code = b.opt_string("userInputCode")?;
    if user_input_code.as_deref() == Some("") {
        return Err(bad("userInputCode cannot be an empty string."));
    }
    let core = &ctx.state.core;
    match core.pl_create_code(&ctx.tenant, target, user_input_code.as_deref(), ctx.version()).await? {
        CreateCodeOutcome::Ok(c) => ok(json!({
            "preAuthSessionId": c.pre_auth_session_id,
            "codeId": c.code_id,
            "deviceId": c.device_id,
            "userInputCode": c.user_input_code,
            "linkCode": c.link_code,
            "timeCreated": c.time_created,
            "codeLifetime": c.code_lifetime,
        })),
        CreateCodeOutcome::RestartFlow => status("RESTART_FLOW_ERROR", json!({})),
        CreateCodeOutcome::UserInputCodeAlreadyUsed => status("USER_INPUT_CODE_ALREADY_USED_ERROR", json!({})),
    }
}

/// The input of consume and check: `preAuthSessionId`, and `linkCode` or `deviceId` +
/// `userInputCode` (presence decides, as the reference's `has`).
fn code_input(b: &Body) -> Result<(String, CodeInput), ApiError> {
    let pre_auth_session_id = b.string("preAuthSessionId")?;
    let neither = || bad("Please provide exactly one of linkCode or deviceId+userInputCode");
    let input = if b.has("linkCode")? {
        if b.has("userInputCode")? || b.has("deviceId")? {
            return Err(neither());
        }
        CodeInput::LinkCode(b.string("linkCode")?)
    } else if b.has("userInputCode")? && b.has("deviceId")? {
        let device_id = b.string("deviceId")?;
        CodeInput::UserInputCode { device_id, user_input_code: b.string("userInputCode")? }
    } else {
        return Err(neither());
    };
    Ok((pre_auth_session_id, input))
}

fn device_json(d: &ConsumedDevice) -> Value {
    let mut out = json!({
        "preAuthSessionId": d.pre_auth_session_id,
        "failedCodeInputAttemptCount": d.failed_code_input_attempt_count,
    });
    if let Some(e) = &d.email {
        out["email"] = json!(e);
    }
    if let Some(p) = &d.phone_number {
        out["phoneNumber"] = json!(p);
    }
    out
}

/// The answers of a wrong, expired or unusable code.
fn failure<T>(outcome: CodeOutcome<T>) -> HResult {
    match outcome {
        CodeOutcome::IncorrectUserInputCode { failed, maximum } => status(
            "INCORRECT_USER_INPUT_CODE_ERROR",
            json!({"failedCodeInputAttemptCount": failed, "maximumCodeInputAttempts": maximum}),
        ),
        CodeOutcome::ExpiredUserInputCode { failed, maximum } => status(
            "EXPIRED_USER_INPUT_CODE_ERROR",
            json!({"failedCodeInputAttemptCount": failed, "maximumCodeInputAttempts": maximum}),
        ),
        CodeOutcome::Ok(_) | CodeOutcome::RestartFlow => status("RESTART_FLOW_ERROR", json!({})),
    }
}

/// `POST /<tenant>/recipe/signinup/code/consume`: the user as the version shows it,
/// `recipeUserId` from CDI 4.0, `consumedDevice` from 5.0.
async fn consume_code(ctx: &Ctx<'_>) -> HResult {
    let (pre_auth_session_id, input) = code_input(&ctx.body)?;
    let version = ctx.version();
    match ctx.state.core.pl_consume_code(&ctx.tenant, &pre_auth_session_id, input, version).await? {
        CodeOutcome::Ok(c) => {
            let mut out = json!({"createdNewUser": c.created_new_user, "user": c.user.at(version)?});
            if version >= CdiVersion::V4_0 {
                if let Some(id) = c.recipe_user_id {
                    out["recipeUserId"] = json!(id);
                }
            }
            if version >= CdiVersion::V5_0 {
                out["consumedDevice"] = device_json(&c.device);
            }
            ok(out)
        }
        other => failure(other),
    }
}

/// `POST /<tenant>/recipe/signinup/code/check`: whether the code is right, without using it.
async fn check_code(ctx: &Ctx<'_>) -> HResult {
    let (pre_auth_session_id, input) = code_input(&ctx.body)?;
    match ctx.state.core.pl_check_code(&ctx.tenant, &pre_auth_session_id, input, ctx.version()).await? {
        CodeOutcome::Ok(device) => ok(json!({"consumedDevice": device_json(&device)})),
        other => failure(other),
    }
}

/// `GET /<tenant>/recipe/signinup/codes`: exactly one of `email`, `phoneNumber`, `deviceId`,
/// `preAuthSessionId`.
async fn list_codes(ctx: &Ctx<'_>) -> HResult {
    let q = &ctx.query;
    let given = (
        q.opt_string("email"),
        q.opt_string("phoneNumber"),
        q.opt_string("deviceId"),
        q.opt_string("preAuthSessionId"),
    );
    let query = match given {
        (Some(e), None, None, None) => DeviceQuery::Email(e),
        (None, Some(p), None, None) => DeviceQuery::PhoneNumber(p),
        (None, None, Some(d), None) => DeviceQuery::DeviceId(d),
        (None, None, None, Some(h)) => DeviceQuery::PreAuthSessionId(h),
        _ => return Err(bad("Please provide exactly one of email, phoneNumber, deviceId or preAuthSessionId")),
    };
    let (devices, lifetime) = ctx.state.core.pl_devices(&ctx.tenant, query).await?;
    let devices: Vec<Value> = devices
        .into_iter()
        .map(|d| {
            let codes: Vec<Value> = d
                .codes
                .iter()
                .map(|c| json!({"codeId": c.code_id, "timeCreated": c.created_at, "codeLifetime": lifetime}))
                .collect();
            let mut out = device_json(&d.device.into());
            out["codes"] = json!(codes);
            out
        })
        .collect();
    ok(json!({"devices": devices}))
}

/// `POST /<tenant>/recipe/signinup/codes/remove`: every device of an e-mail or a phone number.
async fn remove_codes(ctx: &Ctx<'_>) -> HResult {
    let b = &ctx.body;
    let (email, phone) = (b.opt_string("email")?, b.opt_string("phoneNumber")?);
    if email.is_some() == phone.is_some() {
        return Err(bad("Please provide exactly one of email or phoneNumber"));
    }
    ctx.state.core.pl_remove_devices_of(&ctx.tenant, email.as_deref(), phone.as_deref()).await?;
    ok(json!({}))
}

/// `POST /<tenant>/recipe/signinup/code/remove`: by `codeId` (required before CDI 5.0), or by
/// `preAuthSessionId` (from 5.0).
async fn remove_code(ctx: &Ctx<'_>) -> HResult {
    let b = &ctx.body;
    let (code_id, device) = if ctx.version() >= CdiVersion::V5_0 {
        (b.opt_string("codeId")?, b.opt_string("preAuthSessionId")?)
    } else {
        (Some(b.string("codeId")?), None)
    };
    let core = &ctx.state.core;
    match (code_id, device) {
        (None, None) => return Err(bad("Please provide either 'codeId' or 'preAuthSessionId'")),
        (Some(_), Some(_)) => return Err(bad("Please provide only one of 'codeId' or 'preAuthSessionId'")),
        (Some(code_id), None) => core.pl_remove_code(&ctx.tenant, &code_id).await?,
        (None, Some(device)) => core.pl_remove_device(&ctx.tenant, &device).await?,
    }
    ok(json!({}))
}

/// Deprecated `GET /recipe/user` (rid passwordless): exactly one of `userId` (app-wide, public
/// tenant only), `email`, `phoneNumber` (in the tenant).
async fn user_get(ctx: &Ctx<'_>) -> HResult {
    let q = &ctx.query;
    let core = &ctx.state.core;
    let (user_id, email, phone) = (q.opt_string("userId"), q.opt_string("email"), q.opt_string("phoneNumber"));
    let (user, unknown) = match (user_id, email, phone) {
        (Some(id), None, None) => {
            app_scope(ctx).await?;
            (core.pl_user_by_recipe_id(&ctx.tenant.app, &id).await?, "UNKNOWN_USER_ID_ERROR")
        }
        (None, Some(e), None) => (core.pl_user_by_contact(&ctx.tenant, Some(&e), None).await?, "UNKNOWN_EMAIL_ERROR"),
        (None, None, Some(p)) => {
            (core.pl_user_by_contact(&ctx.tenant, None, Some(&p)).await?, "UNKNOWN_PHONE_NUMBER_ERROR")
        }
        _ => return Err(bad("Please provide exactly one of userId, email or phoneNumber")),
    };
    match user {
        Some(user) => ok(json!({"user": user.at(ctx.version())?})),
        None => status(unknown, json!({})),
    }
}

/// A field of `PUT /recipe/user` where JSON `null` means "clear it" and absence "leave it".
fn nullable(b: &Body, field: &str) -> Result<Option<Option<String>>, ApiError> {
    match b.raw(field)? {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(_) => Ok(Some(Some(b.stored(field)?))),
    }
}

/// `PUT /recipe/user` (rid passwordless): a new e-mail and/or phone number (`null` clears).
async fn user_put(ctx: &Ctx<'_>) -> HResult {
    let b = &ctx.body;
    // `userId` before CDI 4.0, `recipeUserId` from 4.0 on.
    let id = b.string(if ctx.version() < CdiVersion::V4_0 { "userId" } else { "recipeUserId" })?;
    let email = nullable(b, "email")?;
    let phone = nullable(b, "phoneNumber")?;
    app_scope(ctx).await?;
    let outcome = ctx
        .state
        .core
        .pl_update_user(
            &ctx.tenant.app,
            &id,
            email.as_ref().map(|e| e.as_deref()),
            phone.as_ref().map(|p| p.as_deref()),
        )
        .await?;
    match outcome {
        PasswordlessUpdateOutcome::Ok => ok(json!({})),
        PasswordlessUpdateOutcome::UnknownUser => status("UNKNOWN_USER_ID_ERROR", json!({})),
        PasswordlessUpdateOutcome::EmailAlreadyExists => status("EMAIL_ALREADY_EXISTS_ERROR", json!({})),
        PasswordlessUpdateOutcome::PhoneNumberAlreadyExists => status("PHONE_NUMBER_ALREADY_EXISTS_ERROR", json!({})),
        PasswordlessUpdateOutcome::EmailChangeNotAllowed => status(
            "EMAIL_CHANGE_NOT_ALLOWED_ERROR",
            json!({"reason": "New email is associated with another primary user ID"}),
        ),
        PasswordlessUpdateOutcome::PhoneNumberChangeNotAllowed => status(
            "PHONE_NUMBER_CHANGE_NOT_ALLOWED_ERROR",
            json!({"reason": "New phone number is associated with another primary user ID"}),
        ),
    }
}
