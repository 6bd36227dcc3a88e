//! Users endpoints (§a.2), whatever their recipe: the user by id or by account info, removal,
//! the paginated and searchable list, counts, and the search tags.

use super::common::app_scope;
use crate::ctx::{ok, status, Ctx, HResult};
use crate::error::ApiError;
use crate::input::Query;
use crate::router::{handler, Checks, Router, Scope};
use serde_json::{json, Value};
use st_core::cdi::CdiVersion;
use st_core::ids::java_trim;
use st_core::storage::UserListQuery;

pub fn routes(r: &mut Router) {
    let k = Checks::KEY_AND_VERSION;
    r.at("/user/id", Scope::App, k).get(handler!(by_id));
    r.at("/users/by-accountinfo", Scope::Tenant, k).get(handler!(by_account_info));
    r.at("/user/remove", Scope::App, k).post(handler!(remove));
    r.at("/users", Scope::Tenant, k).get(handler!(list));
    r.at("/users/count", Scope::None, k).get(handler!(count));
    r.at("/users/count/active", Scope::App, k).get(handler!(count_active));
    r.at("/user/search/tags", Scope::None, k).get(handler!(search_tag_kinds));
}

/// Recipe ids the reference knows (`RECIPE_ID`); `includeRecipeIds` may name any of them.
const KNOWN_RECIPE_IDS: &[&str] = &[
    "emailpassword",
    "thirdparty",
    "session",
    "emailverification",
    "jwt",
    "passwordless",
    "usermetadata",
    "userroles",
    "useridmapping",
    "dashboard",
    "totp",
    "multitenancy",
    "accountlinking",
    "mfa",
    "oauth",
    "webauthn",
    "saml",
];

/// `includeRecipeIds` (comma-separated); an unknown id is the reference's 400.
fn recipe_ids(q: &Query) -> Result<Vec<String>, ApiError> {
    let Some(raw) = q.opt_string("includeRecipeIds") else { return Ok(Vec::new()) };
    let mut ids = Vec::new();
    for id in raw.split(',').map(str::trim).filter(|r| !r.is_empty()) {
        // Matched in any case, as the reference's `RECIPE_ID.getEnumFromString`.
        let known = id.to_ascii_lowercase();
        if !KNOWN_RECIPE_IDS.contains(&known.as_str()) {
            return Err(ApiError::BadRequest(format!("Unknown recipe ID: {id}")));
        }
        ids.push(known);
    }
    Ok(ids)
}

/// A search parameter: `;`-separated prefixes, trimmed and lower-cased, empty ones dropped.
fn search_tags(raw: Option<String>) -> Vec<String> {
    raw.map(|s| s.split(';').map(|p| java_trim(p).to_lowercase()).filter(|p| !p.is_empty()).collect())
        .unwrap_or_default()
}

async fn by_id(ctx: &Ctx<'_>) -> HResult {
    match ctx.state.core.get_user(&ctx.tenant.app, &ctx.query.string("userId")?).await? {
        // The account-linking shape at every version, as the reference.
        Some(user) => ok(json!({"user": user.linked_at(ctx.version())})),
        None => status("UNKNOWN_USER_ID_ERROR", json!({})),
    }
}

async fn by_account_info(ctx: &Ctx<'_>) -> HResult {
    let q = &ctx.query;
    let webauthn = q.opt_string("webauthnCredentialId");
    // Exactly `true` or `false`, as the reference.
    let union = match q.string("doUnionOfAccountInfo")?.as_str() {
        "true" => true,
        "false" => false,
        _ => return Err(ApiError::BadRequest("'doUnionOfAccountInfo' should be either 'true' or 'false'".into())),
    };
    let tp = match (q.opt_string("thirdPartyId"), q.opt_string("thirdPartyUserId")) {
        (Some(a), Some(b)) => Some((a, b)),
        (None, None) => None,
        _ => {
            return Err(ApiError::BadRequest(
                "If 'thirdPartyId' is provided, 'thirdPartyUserId' must also be provided, and vice versa".into(),
            ))
        }
    };
    let email = q.opt_string("email");
    let phone = q.opt_string("phoneNumber");
    let users = ctx
        .state
        .core
        .users_by_any_account_info(
            &ctx.tenant,
            email.as_deref(),
            phone.as_deref(),
            tp.as_ref().map(|(a, b)| (a.as_str(), b.as_str())),
            webauthn.as_deref(),
            union,
        )
        .await?;
    // The account-linking shape at every version, as the reference.
    let users: Vec<_> = users.into_iter().map(|u| u.linked_at(ctx.version())).collect();
    ok(json!({"users": users}))
}

async fn remove(ctx: &Ctx<'_>) -> HResult {
    let user = ctx.body.string("userId")?;
    let all = ctx.body.opt_bool("removeAllLinkedAccounts")?.unwrap_or(true);
    ctx.state.core.delete_user(&ctx.tenant.app, &user, all).await?;
    ok(json!({}))
}

/// `GET /users`: a page of the tenant's users, or a search by e-mail, phone or provider.
async fn list(ctx: &Ctx<'_>) -> HResult {
    let q = &ctx.query;
    let order = q.opt_string("timeJoinedOrder").unwrap_or_else(|| "ASC".into());
    let ascending = match order.as_str() {
        "ASC" => true,
        "DESC" => false,
        _ => return Err(ApiError::BadRequest("timeJoinedOrder can be either ASC OR DESC".into())),
    };
    let query = UserListQuery {
        ascending,
        from: None,
        limit: 0,
        recipe_ids: recipe_ids(q)?,
        email_prefixes: search_tags(q.opt_string("email")),
        phone_prefixes: search_tags(q.opt_string("phone")),
        provider_prefixes: search_tags(q.opt_string("provider")),
    };
    let searching = query.is_search();
    let limit = q.opt_int("limit")?.unwrap_or(100);
    if !searching && limit > 500 {
        return Err(ApiError::BadRequest("max limit allowed is 500".into()));
    }
    if limit < 1 {
        return Err(ApiError::BadRequest("limit must a positive integer with min value 1".into()));
    }
    let query = UserListQuery { limit: limit as usize, ..query };
    let token = q.opt_string("paginationToken");
    let (users, next) = ctx.state.core.list_users(&ctx.tenant, query, token.as_deref()).await?;
    let users = users.into_iter().map(|u| u.listed_at(ctx.version())).collect::<Result<Vec<_>, _>>()?;
    let mut out = json!({"users": users});
    if let Some(n) = next {
        out["nextPaginationToken"] = Value::String(n);
    }
    ok(out)
}

/// `GET /users/count`: the tenant's users, or the app's with `includeAllTenants` (scope
/// checked here, as it depends on that parameter).
async fn count(ctx: &Ctx<'_>) -> HResult {
    let core = &ctx.state.core;
    let recipes = recipe_ids(&ctx.query)?;
    let scope = if ctx.query.bool_or("includeAllTenants", false) {
        app_scope(ctx).await?;
        None
    } else {
        core.tenant(&ctx.tenant).await?;
        Some(&ctx.tenant)
    };
    // CDI 5.6: `allowApproximate=true` (any case) may serve a recent count, and says so.
    let approximate = ctx.version() >= CdiVersion::V5_6
        && ctx.query.opt_string("allowApproximate").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if approximate {
        let (count, approximate, as_of) = core.count_users_approximately(&ctx.tenant.app, scope, &recipes).await?;
        return ok(json!({"count": count, "approximate": approximate, "asOf": as_of}));
    }
    ok(json!({"count": core.count_users(&ctx.tenant.app, scope, &recipes).await?}))
}

async fn count_active(ctx: &Ctx<'_>) -> HResult {
    let since = ctx
        .query
        .opt_long("since")?
        .ok_or_else(|| ApiError::BadRequest("Field name 'since' is missing in GET request".into()))?;
    if since < 0 {
        return Err(ApiError::BadRequest("'since' query parameter must be >= 0".into()));
    }
    let count = ctx.state.core.count_active_users(&ctx.tenant.app, since).await?;
    ok(json!({"count": count}))
}

async fn search_tag_kinds(_ctx: &Ctx<'_>) -> HResult {
    ok(json!({"tags": ["email", "phone", "provider"]}))
}
