//! Dashboard endpoints (§a.16): the dashboard's own users, their sign-in and sessions
//! (app-wide), and the tenant's core config as the dashboard shows it.
//!
//! The app-wide routes read their input first and check the app afterwards, in the reference's
//! order: a bad field, an invalid e-mail or a weak password is answered before an unknown app
//! (400) or, from CDI 5.0, a non-public tenant (403) — hence `Scope::None` and [`app_scope`].

use crate::ctx::{ok, status, Ctx, HResult};
use crate::error::ApiError;
use crate::handlers::common::{query_trimmed, require_public};
use crate::router::{handler, Checks, Router, Scope};
use serde_json::{json, Value};
use st_core::cdi::CdiVersion;
use st_core::dashboard::{
    core_config::ConfigFieldInfo, CreateDashboardUserOutcome, DashboardEmail, DashboardPassword, DashboardSession,
    DashboardUser, DashboardUserRef, UpdateDashboardUserOutcome,
};

pub fn routes(r: &mut Router) {
    let k = Checks::KEY_AND_VERSION;
    r.at("/recipe/dashboard/user", Scope::None, k)
        .post(handler!(create_user))
        .put(handler!(update_user))
        .delete(handler!(delete_user));
    r.at("/recipe/dashboard/users", Scope::None, k).get(handler!(users));
    r.at("/recipe/dashboard/signin", Scope::None, k).post(handler!(sign_in));
    r.at("/recipe/dashboard/session/verify", Scope::None, k).post(handler!(verify_session));
    r.at("/recipe/dashboard/session", Scope::None, k).delete(handler!(revoke_session));
    r.at("/recipe/dashboard/user/sessions", Scope::None, k).get(handler!(sessions_of_user));
    r.at("/recipe/dashboard/tenant/core-config", Scope::Tenant, k).get(handler!(core_config));
}

/// The app must exist (400), then, from CDI 5.0, the tenant be the public one (403): the
/// reference's `getAppIdentifier` then `enforcePublicTenantAndGetPublicTenantStorage`.
async fn app_scope(ctx: &Ctx<'_>) -> Result<(), ApiError> {
    ctx.state.core.app(&ctx.tenant.app).await?;
    require_public(ctx)
}

fn user_json(u: &DashboardUser) -> Value {
    json!({"email": u.email, "userId": u.user_id, "timeJoined": u.time_joined})
}

fn session_json(s: &DashboardSession) -> Value {
    json!({"userId": s.user_id, "sessionId": s.session_id, "timeCreated": s.time_created, "expiry": s.expiry})
}

/// `POST /recipe/dashboard/user`: the e-mail is checked before the password is read.
async fn create_user(ctx: &Ctx<'_>) -> HResult {
    let Some(email) = DashboardEmail::parse(&ctx.body.trimmed("email")?) else {
        return status("INVALID_EMAIL_ERROR", json!({}));
    };
    let password = match DashboardPassword::parse(&ctx.body.trimmed("password")?) {
        Ok(p) => p,
        Err(message) => return status("PASSWORD_WEAK_ERROR", json!({"message": message})),
    };
    app_scope(ctx).await?;
    match ctx.state.core.create_dashboard_user(&ctx.tenant.app, &email, &password).await? {
        CreateDashboardUserOutcome::Created(user) => ok(json!({"user": user_json(&user)})),
        CreateDashboardUserOutcome::EmailAlreadyExists => status("EMAIL_ALREADY_EXISTS_ERROR", json!({})),
    }
}

/// `PUT /recipe/dashboard/user`: `newEmail` and `newPassword` are checked first; the user is
/// named by `userId`, else `email`.
async fn update_user(ctx: &Ctx<'_>) -> HResult {
    let new_email = match ctx.body.opt_string("newEmail")? {
        Some(raw) => {
            match DashboardEmail::parse(&crate::input::non_empty("newEmail", st_core::ids::java_trim(&raw))?) {
                Some(e) => Some(e),
                None => return status("INVALID_EMAIL_ERROR", json!({})),
            }
        }
        None => None,
    };
    let new_password = match ctx.body.opt_string("newPassword")? {
        Some(raw) => {
            match DashboardPassword::parse(&crate::input::non_empty("newPassword", st_core::ids::java_trim(&raw))?) {
                Ok(p) => Some(p),
                Err(message) => return status("PASSWORD_WEAK_ERROR", json!({"message": message})),
            }
        }
        None => None,
    };
    app_scope(ctx).await?;
    let user = if let Some(id) = trimmed_opt(ctx.body.opt_string("userId")?, "userId")? {
        DashboardUserRef::Id(id)
    } else if let Some(email) = trimmed_opt(ctx.body.opt_string("email")?, "email")? {
        DashboardUserRef::Email(email)
    } else {
        return Err(ApiError::BadRequest("Either field 'email' or 'userId' must be present".into()));
    };
    let outcome =
        ctx.state.core.update_dashboard_user(&ctx.tenant.app, &user, new_email.as_ref(), new_password.as_ref()).await?;
    match outcome {
        UpdateDashboardUserOutcome::Updated(user) => ok(json!({"user": user_json(&user)})),
        UpdateDashboardUserOutcome::UnknownUser => status("UNKNOWN_USER_ERROR", json!({})),
        UpdateDashboardUserOutcome::EmailAlreadyExists => status("EMAIL_ALREADY_EXISTS_ERROR", json!({})),
    }
}

/// An optional field, trimmed; present but empty is the reference's 400.
fn trimmed_opt(value: Option<String>, field: &str) -> Result<Option<String>, ApiError> {
    value.map(|v| crate::input::non_empty(field, st_core::ids::java_trim(&v))).transpose()
}

/// `DELETE /recipe/dashboard/user?userId=…` or `?email=…`.
async fn delete_user(ctx: &Ctx<'_>) -> HResult {
    let user = if let Some(id) = trimmed_opt(ctx.query.opt_string("userId"), "userId")? {
        DashboardUserRef::Id(id)
    } else if let Some(email) = trimmed_opt(ctx.query.opt_string("email"), "email")? {
        DashboardUserRef::Email(email)
    } else {
        return Err(ApiError::BadRequest("Either field 'email' or 'userId' must be present".into()));
    };
    app_scope(ctx).await?;
    let existed = ctx.state.core.delete_dashboard_user(&ctx.tenant.app, &user).await?;
    ok(json!({"didUserExist": existed}))
}

/// `GET /recipe/dashboard/users`: every dashboard user, oldest first (no free-user cap).
async fn users(ctx: &Ctx<'_>) -> HResult {
    app_scope(ctx).await?;
    let users = ctx.state.core.dashboard_users(&ctx.tenant.app).await?;
    ok(json!({"users": users.iter().map(user_json).collect::<Vec<_>>()}))
}

/// `POST /recipe/dashboard/signin`: a 30-day session.
async fn sign_in(ctx: &Ctx<'_>) -> HResult {
    let email = ctx.body.trimmed("email")?;
    let password = ctx.body.trimmed("password")?;
    app_scope(ctx).await?;
    match ctx.state.core.sign_in_dashboard_user(&ctx.tenant.app, &email, &password).await? {
        Some(session_id) => ok(json!({"sessionId": session_id})),
        None => status("INVALID_CREDENTIALS_ERROR", json!({})),
    }
}

/// `POST /recipe/dashboard/session/verify`: the user's e-mail from CDI 3.0.
async fn verify_session(ctx: &Ctx<'_>) -> HResult {
    let session_id = ctx.body.trimmed("sessionId")?;
    app_scope(ctx).await?;
    match ctx.state.core.verify_dashboard_session(&ctx.tenant.app, &session_id).await? {
        Some(email) if ctx.version() >= CdiVersion::V3_0 => ok(json!({"email": email})),
        Some(_) => ok(json!({})),
        None => status("INVALID_SESSION_ERROR", json!({})),
    }
}

/// `DELETE /recipe/dashboard/session?sessionId=…`: OK whether or not it existed.
async fn revoke_session(ctx: &Ctx<'_>) -> HResult {
    let session_id = query_trimmed(&ctx.query, "sessionId")?;
    app_scope(ctx).await?;
    ctx.state.core.revoke_dashboard_session(&ctx.tenant.app, &session_id).await?;
    ok(json!({}))
}

/// `GET /recipe/dashboard/user/sessions?userId=…`.
async fn sessions_of_user(ctx: &Ctx<'_>) -> HResult {
    let user_id = query_trimmed(&ctx.query, "userId")?;
    app_scope(ctx).await?;
    let sessions = ctx.state.core.dashboard_sessions_of_user(&ctx.tenant.app, &user_id).await?;
    ok(json!({"sessions": sessions.iter().map(session_json).collect::<Vec<_>>()}))
}

fn field_json(f: &ConfigFieldInfo) -> Value {
    json!({
        "key": f.key,
        "valueType": f.value_type,
        "value": f.value,
        "description": f.description,
        "isDifferentAcrossTenants": f.is_different_across_tenants,
        "possibleValues": f.possible_values,
        "isNullable": f.is_nullable,
        "defaultValue": f.default_value,
        "isPluginProperty": f.is_plugin_property,
        "isPluginPropertyEditable": f.is_plugin_property_editable,
    })
}

/// `GET /<tenant>/recipe/dashboard/tenant/core-config`: every field with its metadata.
async fn core_config(ctx: &Ctx<'_>) -> HResult {
    let fields = ctx.state.core.dashboard_core_config(&ctx.tenant, ctx.protect_configs).await?;
    ok(json!({"config": fields.iter().map(field_json).collect::<Vec<_>>()}))
}
