//! User roles endpoints (§a.12): roles and their permissions (app-wide), and users' roles
//! (per tenant).

use super::common::query_trimmed;
use crate::ctx::{ok, status, Ctx, HResult};
use crate::error::ApiError;
use crate::input::Body;
use crate::router::{handler, Checks, Router, Scope};
use serde_json::json;
use st_core::ids::java_trim;
use st_core::storage::RoleResult;

pub fn routes(r: &mut Router) {
    let k = Checks::KEY_AND_VERSION;
    r.at("/recipe/role", Scope::App, k).put(handler!(create_or_add_permissions));
    r.at("/recipe/role/permissions", Scope::App, k).get(handler!(permissions_of_role));
    r.at("/recipe/role/permissions/remove", Scope::App, k).post(handler!(remove_permissions));
    r.at("/recipe/permission/roles", Scope::App, k).get(handler!(roles_with_permission));
    r.at("/recipe/role/remove", Scope::App, k).post(handler!(remove_role));
    r.at("/recipe/roles", Scope::App, k).get(handler!(all_roles));
    r.at("/recipe/user/role", Scope::Tenant, k).put(handler!(add_user_role));
    r.at("/recipe/user/role/remove", Scope::Tenant, k).post(handler!(remove_user_role));
    r.at("/recipe/user/roles", Scope::Tenant, k).get(handler!(roles_of_user));
    r.at("/recipe/role/users", Scope::Tenant, k).get(handler!(users_with_role));
}

/// Role and permission names are trimmed, and must not be empty.
fn permissions(b: &Body) -> Result<Option<Vec<String>>, ApiError> {
    // Each element in turn: a non-string, then an empty one, as the reference checks them.
    b.opt_string_array_each("permissions", |p| match java_trim(p) {
        "" => Err(ApiError::BadRequest("Field name 'permissions' cannot contain an empty string".into())),
        p => crate::input::storable("permissions", p.to_string()),
    })
}

async fn create_or_add_permissions(ctx: &Ctx<'_>) -> HResult {
    let role = ctx.body.stored_trimmed("role")?;
    let perms = permissions(&ctx.body)?.unwrap_or_default();
    let created = ctx.state.core.create_role_or_add_permissions(&ctx.tenant.app, &role, &perms).await?;
    ok(json!({"createdNewRole": created}))
}

async fn permissions_of_role(ctx: &Ctx<'_>) -> HResult {
    match ctx.state.core.permissions_of_role(&ctx.tenant.app, &query_trimmed(&ctx.query, "role")?).await? {
        Some(p) => ok(json!({"permissions": p})),
        None => status("UNKNOWN_ROLE_ERROR", json!({})),
    }
}

async fn remove_permissions(ctx: &Ctx<'_>) -> HResult {
    let role = ctx.body.trimmed("role")?;
    let perms = permissions(&ctx.body)?;
    if ctx.state.core.remove_role_permissions(&ctx.tenant.app, &role, perms.as_deref()).await? {
        ok(json!({}))
    } else {
        status("UNKNOWN_ROLE_ERROR", json!({}))
    }
}

async fn roles_with_permission(ctx: &Ctx<'_>) -> HResult {
    let roles =
        ctx.state.core.roles_with_permission(&ctx.tenant.app, &query_trimmed(&ctx.query, "permission")?).await?;
    ok(json!({"roles": roles}))
}

async fn remove_role(ctx: &Ctx<'_>) -> HResult {
    let existed = ctx.state.core.delete_role(&ctx.tenant.app, &ctx.body.trimmed("role")?).await?;
    ok(json!({"didRoleExist": existed}))
}

async fn all_roles(ctx: &Ctx<'_>) -> HResult {
    ok(json!({"roles": ctx.state.core.all_roles(&ctx.tenant.app).await?}))
}

async fn add_user_role(ctx: &Ctx<'_>) -> HResult {
    match ctx.state.core.add_user_role(&ctx.tenant, &ctx.body.stored("userId")?, &ctx.body.trimmed("role")?).await? {
        RoleResult::Ok(had) => ok(json!({"didUserAlreadyHaveRole": had})),
        RoleResult::UnknownRole => status("UNKNOWN_ROLE_ERROR", json!({})),
    }
}

async fn remove_user_role(ctx: &Ctx<'_>) -> HResult {
    let (user, role) = (ctx.body.string("userId")?, ctx.body.trimmed("role")?);
    match ctx.state.core.remove_user_role(&ctx.tenant, &user, &role).await? {
        RoleResult::Ok(had) => ok(json!({"didUserHaveRole": had})),
        RoleResult::UnknownRole => status("UNKNOWN_ROLE_ERROR", json!({})),
    }
}

async fn roles_of_user(ctx: &Ctx<'_>) -> HResult {
    let roles = ctx.state.core.roles_of_user(&ctx.tenant, &ctx.query.string("userId")?).await?;
    ok(json!({"roles": roles}))
}

async fn users_with_role(ctx: &Ctx<'_>) -> HResult {
    match ctx.state.core.users_with_role(&ctx.tenant, &query_trimmed(&ctx.query, "role")?).await? {
        Some(users) => ok(json!({"users": users})),
        None => status("UNKNOWN_ROLE_ERROR", json!({})),
    }
}
