//! TOTP endpoints (§a.9): devices (create, import, rename, list, remove, verify), code
//! verification, and the bulk device status. The device APIs are app-wide: their input is read
//! before the public-tenant check, as the reference's; the two verifications are per tenant.
//!
//! Version branch: `INVALID_TOTP_ERROR` and `LIMIT_REACHED_ERROR` carry
//! `currentNumberOfFailedAttempts` and `maxNumberOfFailedAttempts` from CDI 5.0 on
//! (`VerifyTotpAPI`, `VerifyTotpDeviceAPI`); below, only `retryAfterMs` (limit reached).

use super::common::app_scope;
use crate::ctx::{ok, status, Ctx, HResult};
use crate::error::ApiError;
use crate::input::Body;
use crate::router::{handler, Checks, Router, Scope};
use serde_json::{json, Map, Value};
use st_core::cdi::CdiVersion;
use st_core::storage::RenameTotpDeviceResult;
use st_core::totp::{
    CreateDeviceOutcome, DeviceSettings, ImportDeviceOutcome, TotpFailure, VerifyCodeOutcome, VerifyDeviceOutcome,
};

pub fn routes(r: &mut Router) {
    let k = Checks::KEY_AND_VERSION;
    r.at("/recipe/totp/device", Scope::None, k).post(handler!(create_device)).put(handler!(rename_device));
    r.at("/recipe/totp/device/list", Scope::None, k).get(handler!(list_devices));
    r.at("/recipe/totp/device/remove", Scope::None, k).post(handler!(remove_device));
    r.at("/recipe/totp/device/import", Scope::None, k).post(handler!(import_device));
    r.at("/recipe/totp/device/verify", Scope::Tenant, k).post(handler!(verify_device));
    r.at("/recipe/totp/verify", Scope::Tenant, k).post(handler!(verify_code));
    r.at("/recipe/totp/device/status/bulk", Scope::None, k).post(handler!(bulk_status));
}

/// At most this many ids in one bulk status request, as the reference.
const MAX_BULK_USER_IDS: usize = 500;

fn bad(msg: &str) -> ApiError {
    ApiError::BadRequest(msg.into())
}

fn invalid(field: &str) -> ApiError {
    ApiError::BadRequest(format!("Field name '{field}' is invalid in JSON input"))
}

/// Gson's `JsonElement.getAsInt` on a JSON value, as the reference's `parseIntOrThrowError`:
/// a number is cut to an `int` (a fraction dropped, a long wrapped to its low 32 bits), a
/// string must be a Java `int` literal, a one-element array is its element; anything else
/// (`null`, a boolean, an object) is `None`.
fn java_int(v: &Value) -> Option<i32> {
    match v {
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Some(i as i32)
            } else if let Some(u) = n.as_u64() {
                Some(u as i32)
            } else {
                let f = n.as_f64()?.trunc();
                // Past 2¹²⁷ the low 32 bits of an f64's integer value are zero.
                Some(if f.abs() < 1.7e38 { (f as i128) as i32 } else { 0 })
            }
        }
        Value::String(s) => s.parse::<i32>().ok(),
        Value::Array(items) if items.len() == 1 => java_int(&items[0]),
        _ => None,
    }
}

fn int_field(body: &Body, field: &str) -> Result<i32, ApiError> {
    body.raw(field)?.and_then(java_int).ok_or_else(|| invalid(field))
}

/// `userId` given and not empty (not trimmed), as the reference checks it.
fn user_id_not_empty(user_id: &str) -> Result<(), ApiError> {
    if user_id.is_empty() {
        return Err(bad("userId cannot be empty"));
    }
    Ok(())
}

/// A device to create or import: `userId`, `deviceName`, `skew`, `period` (and `secretKey`),
/// read and then checked in the reference's order.
struct DeviceInput {
    user_id: String,
    name: Option<String>,
    settings: DeviceSettings,
    secret: Option<String>,
}

fn device_input(body: &Body, with_secret: bool) -> Result<DeviceInput, ApiError> {
    let user_id = body.stored("userId")?;
    let name = body.opt_stored("deviceName")?;
    let skew = int_field(body, "skew")?;
    let period = int_field(body, "period")?;
    let secret = if with_secret { Some(body.stored("secretKey")?) } else { None };
    user_id_not_empty(&user_id)?;
    if name.as_deref() == Some("") {
        return Err(bad("deviceName cannot be empty"));
    }
    if secret.as_deref() == Some("") {
        return Err(bad("secretKey cannot be empty"));
    }
    let settings = DeviceSettings::new(skew, period)?;
    Ok(DeviceInput { user_id, name, settings, secret })
}

/// `POST /recipe/totp/device`: `{deviceName, secret}` or `DEVICE_ALREADY_EXISTS_ERROR`.
async fn create_device(ctx: &Ctx<'_>) -> HResult {
    let d = device_input(&ctx.body, false)?;
    app_scope(ctx).await?;
    match ctx.state.core.create_totp_device(&ctx.tenant.app, &d.user_id, d.name.as_deref(), d.settings).await? {
        CreateDeviceOutcome::Created { name, secret } => ok(json!({"deviceName": name, "secret": secret})),
        CreateDeviceOutcome::DeviceAlreadyExists => status("DEVICE_ALREADY_EXISTS_ERROR", json!({})),
    }
}

/// `POST /recipe/totp/device/import`: a verified device with the given secret.
async fn import_device(ctx: &Ctx<'_>) -> HResult {
    let d = device_input(&ctx.body, true)?;
    let secret = d.secret.unwrap_or_default();
    app_scope(ctx).await?;
    let core = &ctx.state.core;
    match core.import_totp_device(&ctx.tenant.app, &d.user_id, d.name.as_deref(), d.settings, &secret).await? {
        ImportDeviceOutcome::Imported { name } => ok(json!({"deviceName": name})),
        ImportDeviceOutcome::DeviceAlreadyExists => status("DEVICE_ALREADY_EXISTS_ERROR", json!({})),
    }
}

/// `PUT /recipe/totp/device`: rename.
async fn rename_device(ctx: &Ctx<'_>) -> HResult {
    let b = &ctx.body;
    let user_id = b.string("userId")?;
    let existing = b.string("existingDeviceName")?;
    let new_name = b.stored("newDeviceName")?;
    user_id_not_empty(&user_id)?;
    if existing.is_empty() {
        return Err(bad("existingDeviceName cannot be empty"));
    }
    if new_name.is_empty() {
        return Err(bad("newDeviceName cannot be empty"));
    }
    app_scope(ctx).await?;
    match ctx.state.core.rename_totp_device(&ctx.tenant.app, &user_id, &existing, &new_name).await? {
        RenameTotpDeviceResult::Renamed => ok(json!({})),
        RenameTotpDeviceResult::UnknownDevice => status("UNKNOWN_DEVICE_ERROR", json!({})),
        RenameTotpDeviceResult::DeviceAlreadyExists => status("DEVICE_ALREADY_EXISTS_ERROR", json!({})),
    }
}

/// `GET /recipe/totp/device/list?userId=`: `{devices: [{name, period, skew, verified}]}`.
async fn list_devices(ctx: &Ctx<'_>) -> HResult {
    let user_id = ctx.query.string("userId")?;
    user_id_not_empty(&user_id)?;
    app_scope(ctx).await?;
    let devices = ctx.state.core.totp_devices(&ctx.tenant.app, &user_id).await?;
    let devices: Vec<Value> = devices
        .iter()
        .map(|d| json!({"name": d.name, "period": d.period, "skew": d.skew, "verified": d.verified}))
        .collect();
    ok(json!({"devices": devices}))
}

/// `POST /recipe/totp/device/remove`: `{didDeviceExist}`.
async fn remove_device(ctx: &Ctx<'_>) -> HResult {
    let b = &ctx.body;
    let user_id = b.string("userId")?;
    let name = b.string("deviceName")?;
    user_id_not_empty(&user_id)?;
    if name.is_empty() {
        return Err(bad("deviceName cannot be empty"));
    }
    app_scope(ctx).await?;
    let existed = ctx.state.core.remove_totp_device(&ctx.tenant.app, &user_id, &name).await?;
    ok(json!({"didDeviceExist": existed}))
}

/// The fields of a failed code, by version.
fn failure(ctx: &Ctx<'_>, f: TotpFailure) -> HResult {
    let counts = ctx.version() >= CdiVersion::V5_0;
    let mut fields = Map::new();
    let (name, failed, max) = match f {
        TotpFailure::Invalid { failed, max } => ("INVALID_TOTP_ERROR", failed, max),
        TotpFailure::LimitReached { retry_after_ms, failed, max } => {
            fields.insert("retryAfterMs".into(), json!(retry_after_ms));
            ("LIMIT_REACHED_ERROR", failed, max)
        }
    };
    if counts {
        fields.insert("currentNumberOfFailedAttempts".into(), json!(failed));
        fields.insert("maxNumberOfFailedAttempts".into(), json!(max));
    }
    status(name, Value::Object(fields))
}

/// `POST /<tenant>/recipe/totp/device/verify`: `{wasAlreadyVerified}`.
async fn verify_device(ctx: &Ctx<'_>) -> HResult {
    let b = &ctx.body;
    let user_id = b.string("userId")?;
    let name = b.string("deviceName")?;
    let code = b.string("totp")?;
    user_id_not_empty(&user_id)?;
    if name.is_empty() {
        return Err(bad("deviceName cannot be empty"));
    }
    match ctx.state.core.verify_totp_device(&ctx.tenant, &user_id, &name, &code).await? {
        VerifyDeviceOutcome::Verified { was_already_verified } => {
            ok(json!({"wasAlreadyVerified": was_already_verified}))
        }
        VerifyDeviceOutcome::UnknownDevice => status("UNKNOWN_DEVICE_ERROR", json!({})),
        VerifyDeviceOutcome::Failed(f) => failure(ctx, f),
    }
}

/// `POST /<tenant>/recipe/totp/verify`.
async fn verify_code(ctx: &Ctx<'_>) -> HResult {
    let b = &ctx.body;
    let user_id = b.string("userId")?;
    let code = b.string("totp")?;
    user_id_not_empty(&user_id)?;
    match ctx.state.core.verify_totp_code(&ctx.tenant, &user_id, &code).await? {
        VerifyCodeOutcome::Ok => ok(json!({})),
        VerifyCodeOutcome::UnknownUser => status("UNKNOWN_USER_ID_ERROR", json!({})),
        VerifyCodeOutcome::Failed(f) => failure(ctx, f),
    }
}

/// `POST /recipe/totp/device/status/bulk`: `{users: [{userId, hasVerifiedDevice}]}`, one
/// entry per id given (`null`: no device). An empty list answers before any other check, as
/// the reference.
async fn bulk_status(ctx: &Ctx<'_>) -> HResult {
    let items = match ctx.body.raw("userIds")? {
        Some(Value::Array(items)) => items,
        _ => return Err(invalid("userIds")),
    };
    if items.is_empty() {
        return ok(json!({"users": []}));
    }
    if items.len() > MAX_BULK_USER_IDS {
        return Err(ApiError::BadRequest(format!("You can only query up to {MAX_BULK_USER_IDS} users at a time.")));
    }
    let ids = items
        .iter()
        .map(|v| v.as_str().map(str::to_string))
        .collect::<Option<Vec<String>>>()
        .ok_or_else(|| bad("userIds array must contain only strings"))?;
    app_scope(ctx).await?;
    let found = ctx.state.core.totp_device_status(&ctx.tenant.app, &ids).await?;
    let users: Vec<Value> =
        ids.iter().map(|id| json!({"userId": id, "hasVerifiedDevice": found.get(id).copied().flatten()})).collect();
    ok(json!({"users": users}))
}
