//! User recipes' endpoints: email-password (§a.5), email verification (§a.6), users (§a.2),
//! user metadata (§a.11), user roles (§a.12), user-id mapping (§a.13).

use super::{ok, status, Ctx, HResult, H};
use crate::error::ApiError;
use crate::input::{Body, Query};
use crate::router::{Router, Scope};
use actix_web::http::Method;
use serde_json::{json, Value};
use st_core::emailpassword::{SignInOutcome, SignUpOutcome};
use st_core::ids::java_trim;
use st_core::storage::{MappingCreate, RoleResult, UpdateResult, UserIdMapping, UserListQuery};

/// User-recipe handlers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum U {
    SignUp,
    SignIn,
    ResetToken,
    ResetConsume,
    ResetDeprecated,
    Import,
    RecipeUserGet,
    RecipeUserPut,
    EvToken,
    EvVerify,
    EvIsVerified,
    EvTokenRemove,
    EvUnverify,
    UserById,
    ByAccountInfo,
    UserRemove,
    Users,
    UsersCount,
    UsersCountActive,
    SearchTags,
    MetadataGet,
    MetadataPut,
    MetadataRemove,
    MetadataBulk,
    RolePut,
    RolePermissions,
    RolePermissionsRemove,
    PermissionRoles,
    RoleRemove,
    Roles,
    UserRolePut,
    UserRoleRemove,
    UserRoles,
    RoleUsers,
    MapCreate,
    MapGet,
    MapRemove,
    MapInfo,
}

pub fn register(r: &mut Router) {
    use Scope::*;
    use U::*;
    let (get, post, put) = (Method::GET, Method::POST, Method::PUT);
    let one = |m: &Method, u: U| vec![(m.clone(), H::User(u))];
    r.add("/recipe/signup", one(&post, SignUp), Tenant, true, true);
    r.add("/recipe/signin", one(&post, SignIn), Tenant, true, true);
    r.add("/recipe/user/password/reset/token", one(&post, ResetToken), Tenant, true, true);
    r.add("/recipe/user/password/reset/token/consume", one(&post, ResetConsume), Tenant, true, true);
    r.add("/recipe/user/password/reset", one(&post, ResetDeprecated), Tenant, true, true);
    r.add("/recipe/user/passwordhash/import", one(&post, Import), Tenant, true, true);
    r.add(
        "/recipe/user",
        vec![(get.clone(), H::User(RecipeUserGet)), (put.clone(), H::User(RecipeUserPut))],
        None,
        true,
        true,
    );
    r.add("/recipe/user/email/verify/token", one(&post, EvToken), Tenant, true, true);
    r.add(
        "/recipe/user/email/verify",
        vec![(post.clone(), H::User(EvVerify)), (get.clone(), H::User(EvIsVerified))],
        None,
        true,
        true,
    );
    r.add("/recipe/user/email/verify/token/remove", one(&post, EvTokenRemove), Tenant, true, true);
    r.add("/recipe/user/email/verify/remove", one(&post, EvUnverify), App, true, true);
    r.add("/user/id", one(&get, UserById), App, true, true);
    r.add("/users/by-accountinfo", one(&get, ByAccountInfo), Tenant, true, true);
    r.add("/user/remove", one(&post, UserRemove), App, true, true);
    r.add("/users", one(&get, Users), Tenant, true, true);
    r.add("/users/count", one(&get, UsersCount), None, true, true);
    r.add("/users/count/active", one(&get, UsersCountActive), App, true, true);
    r.add("/user/search/tags", one(&get, SearchTags), None, true, true);
    r.add(
        "/recipe/user/metadata",
        vec![(get.clone(), H::User(MetadataGet)), (put.clone(), H::User(MetadataPut))],
        App,
        true,
        true,
    );
    r.add("/recipe/user/metadata/remove", one(&post, MetadataRemove), App, true, true);
    r.add("/recipe/user/metadata/bulk", one(&post, MetadataBulk), App, true, true);
    r.add("/recipe/role", one(&put, RolePut), App, true, true);
    r.add("/recipe/role/permissions", one(&get, RolePermissions), App, true, true);
    r.add("/recipe/role/permissions/remove", one(&post, RolePermissionsRemove), App, true, true);
    r.add("/recipe/permission/roles", one(&get, PermissionRoles), App, true, true);
    r.add("/recipe/role/remove", one(&post, RoleRemove), App, true, true);
    r.add("/recipe/roles", one(&get, Roles), App, true, true);
    r.add("/recipe/user/role", one(&put, UserRolePut), Tenant, true, true);
    r.add("/recipe/user/role/remove", one(&post, UserRoleRemove), Tenant, true, true);
    r.add("/recipe/user/roles", one(&get, UserRoles), Tenant, true, true);
    r.add("/recipe/role/users", one(&get, RoleUsers), Tenant, true, true);
    r.add(
        "/recipe/userid/map",
        vec![(post.clone(), H::User(MapCreate)), (get.clone(), H::User(MapGet))],
        App,
        true,
        true,
    );
    r.add("/recipe/userid/map/remove", one(&post, MapRemove), App, true, true);
    r.add("/recipe/userid/external-user-id-info", one(&put, MapInfo), App, true, true);
}

fn forbid_non_public(ctx: &Ctx<'_>) -> Result<(), ApiError> {
    if ctx.tenant.tenant.is_public() {
        Ok(())
    } else {
        Err(ApiError::Forbidden("Only public tenantId can call this app specific API".into()))
    }
}

async fn app_scope(ctx: &Ctx<'_>) -> Result<(), ApiError> {
    forbid_non_public(ctx)?;
    ctx.state.core.app(&ctx.tenant.app).await?;
    Ok(())
}

/// `/recipe/user` dispatches on `rid`, and the reference's router falls back to emailpassword
/// for a missing or unknown rid. Only the recipes this server does not implement are refused.
fn rid_is_emailpassword(ctx: &Ctx<'_>) -> Result<(), ApiError> {
    match ctx.rid.as_deref() {
        Some(other @ ("thirdparty" | "passwordless")) => {
            Err(ApiError::BadRequest(format!("The recipe {other} is not supported on /recipe/user yet")))
        }
        _ => Ok(()),
    }
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

/// Role and permission names are trimmed, and must not be empty.
fn permissions(b: &Body) -> Result<Option<Vec<String>>, ApiError> {
    // Each element in turn: a non-string, then an empty one, as the reference checks them.
    b.opt_string_array_each("permissions", |p| match java_trim(p) {
        "" => Err(ApiError::BadRequest("Field name 'permissions' cannot contain an empty string".into())),
        p => Ok(p.to_string()),
    })
}

fn query_trimmed(q: &Query, field: &str) -> Result<String, ApiError> {
    crate::input::non_empty(field, java_trim(&q.string(field)?))
}

fn user_type(raw: Option<String>) -> Result<Option<bool>, ApiError> {
    // Trimmed and case-sensitive, as the reference parses it.
    match raw.as_deref().map(str::trim) {
        None | Some("ANY") => Ok(None),
        Some("SUPERTOKENS") => Ok(Some(true)),
        Some("EXTERNAL") => Ok(Some(false)),
        Some(_) => Err(ApiError::BadRequest(
            "Field name 'userIdType' should be one of 'SUPERTOKENS', 'EXTERNAL' or 'ANY'".into(),
        )),
    }
}

fn search_tags(raw: Option<String>) -> Vec<String> {
    raw.map(|s| s.split(';').map(|p| java_trim(p).to_lowercase()).filter(|p| !p.is_empty()).collect())
        .unwrap_or_default()
}

pub async fn dispatch(u: U, ctx: &Ctx<'_>) -> HResult {
    let core = &ctx.state.core;
    let app = &ctx.tenant.app;
    let (b, q) = (&ctx.body, &ctx.query);
    use U::*;
    match u {
        SignUp => {
            let email = b.string("email")?;
            let password = b.string("password")?;
            match core.sign_up_with_password(&ctx.tenant, &email, &password).await? {
                SignUpOutcome::Ok(user, rid) => ok(json!({"user": user, "recipeUserId": rid})),
                SignUpOutcome::EmailAlreadyExists => status("EMAIL_ALREADY_EXISTS_ERROR", json!({})),
            }
        }
        SignIn => {
            let email = b.string("email")?;
            let password = b.string("password")?;
            match core.ep_sign_in(&ctx.tenant, &email, &password).await? {
                SignInOutcome::Ok(user, rid) => ok(json!({"user": user, "recipeUserId": rid})),
                SignInOutcome::WrongCredentials => status("WRONG_CREDENTIALS_ERROR", json!({})),
            }
        }
        ResetToken => {
            let user = b.string("userId")?;
            let email = match b.string("email") {
                Ok(email) => email,
                // As the reference, which looks the user up before it reads the e-mail.
                Err(invalid) => {
                    if core.get_user(app, &user).await?.is_none() {
                        return status("UNKNOWN_USER_ID_ERROR", json!({}));
                    }
                    return Err(invalid);
                }
            };
            match core.ep_reset_token(&ctx.tenant, &user, &email).await? {
                Some(token) => ok(json!({"token": token})),
                None => status("UNKNOWN_USER_ID_ERROR", json!({})),
            }
        }
        ResetConsume => {
            let token = b.string("token")?;
            match core.ep_consume_reset_token(&ctx.tenant, &token).await? {
                Some((user, email)) => ok(json!({"userId": user, "email": email})),
                None => status("RESET_PASSWORD_INVALID_TOKEN_ERROR", json!({})),
            }
        }
        ResetDeprecated => {
            if b.string("method")? != "token" {
                return Err(ApiError::BadRequest("Unsupported method for password reset".into()));
            }
            let token = b.string("token")?;
            let password = b.string("newPassword")?;
            if password.is_empty() {
                return Err(ApiError::BadRequest("Password cannot be an empty string".into()));
            }
            match core.ep_reset_password_with_token(&ctx.tenant, &token, &password).await? {
                Some(user) => ok(json!({"userId": user})),
                None => status("RESET_PASSWORD_INVALID_TOKEN_ERROR", json!({})),
            }
        }
        Import => {
            let email = b.string("email")?;
            let hash = b.string("passwordHash")?;
            let alg = b.opt_string("hashingAlgorithm")?;
            let (user, existed) = core.ep_import(&ctx.tenant, &email, &hash, alg.as_deref()).await?;
            ok(json!({"user": user, "didUserAlreadyExist": existed}))
        }
        RecipeUserGet => {
            rid_is_emailpassword(ctx)?;
            match (q.opt_string("userId"), q.opt_string("email")) {
                (Some(_), Some(_)) => Err(ApiError::BadRequest("Please provide only one of userId or email".into())),
                (None, None) => Err(ApiError::BadRequest("Please provide one of userId or email".into())),
                // By id the lookup is app-wide (public tenant only); by email it is per tenant.
                (Some(id), None) => {
                    app_scope(ctx).await?;
                    match core.ep_user_by_recipe_id(app, &id).await? {
                        Some(user) => ok(json!({"user": user})),
                        None => status("UNKNOWN_USER_ID_ERROR", json!({})),
                    }
                }
                (None, Some(email)) => {
                    let ep = core.ep_user_by_email(&ctx.tenant, &email).await?;
                    match ep {
                        Some(user) => ok(json!({"user": user})),
                        None => status("UNKNOWN_EMAIL_ERROR", json!({})),
                    }
                }
            }
        }
        RecipeUserPut => {
            rid_is_emailpassword(ctx)?;
            app_scope(ctx).await?;
            // CDI ≥ 4.0 names the user `recipeUserId` only, as the reference reads it.
            let id = b.string("recipeUserId")?;
            let email = b.opt_string("email")?;
            let password = b.opt_string("password")?;
            if email.is_none() && password.is_none() {
                return Err(ApiError::BadRequest("You have to provide either email or password.".into()));
            }
            match core.ep_update_user(app, &id, email.as_deref(), password.as_deref()).await? {
                UpdateResult::Ok => ok(json!({})),
                UpdateResult::UnknownUser => status("UNKNOWN_USER_ID_ERROR", json!({})),
                UpdateResult::EmailAlreadyExists => status("EMAIL_ALREADY_EXISTS_ERROR", json!({})),
                UpdateResult::EmailChangeNotAllowed => status(
                    "EMAIL_CHANGE_NOT_ALLOWED_ERROR",
                    json!({"reason": "New email is associated with another primary user ID"}),
                ),
            }
        }
        EvToken => {
            let user = b.string("userId")?;
            let email = b.string("email")?;
            match core.ev_create_token(&ctx.tenant, &user, &email).await? {
                Some(token) => ok(json!({"token": token})),
                None => status("EMAIL_ALREADY_VERIFIED_ERROR", json!({})),
            }
        }
        EvVerify => {
            core.tenant(&ctx.tenant).await?;
            // Both fields are read before the method is judged, as the reference does.
            let method = b.string("method")?;
            let token = b.string("token")?;
            if method != "token" {
                return Err(ApiError::BadRequest("Unsupported method for email verification".into()));
            }
            match core.ev_verify(&ctx.tenant, &token).await? {
                Some((user, email)) => ok(json!({"userId": user, "email": email})),
                None => status("EMAIL_VERIFICATION_INVALID_TOKEN_ERROR", json!({})),
            }
        }
        EvIsVerified => {
            app_scope(ctx).await?;
            let user = q.string("userId")?;
            let email = q.string("email")?;
            ok(json!({"isVerified": core.is_email_verified(app, &user, &email).await?}))
        }
        EvTokenRemove => {
            core.ev_remove_tokens(&ctx.tenant, &b.string("userId")?, &b.string("email")?).await?;
            ok(json!({}))
        }
        EvUnverify => {
            core.unverify_email(app, &b.string("userId")?, &b.string("email")?).await?;
            ok(json!({}))
        }
        UserById => match core.get_user(app, &q.string("userId")?).await? {
            Some(user) => ok(json!({"user": user})),
            None => status("UNKNOWN_USER_ID_ERROR", json!({})),
        },
        ByAccountInfo => {
            let webauthn = q.opt_string("webauthnCredentialId");
            // Exactly `true` or `false`, as the reference.
            let union = match q.string("doUnionOfAccountInfo")?.as_str() {
                "true" => true,
                "false" => false,
                _ => {
                    return Err(ApiError::BadRequest(
                        "'doUnionOfAccountInfo' should be either 'true' or 'false'".into(),
                    ))
                }
            };
            let tp = match (q.opt_string("thirdPartyId"), q.opt_string("thirdPartyUserId")) {
                (Some(a), Some(b)) => Some((a, b)),
                (None, None) => None,
                _ => {
                    return Err(ApiError::BadRequest(
                        "If 'thirdPartyId' is provided, 'thirdPartyUserId' must also be provided, and vice versa"
                            .into(),
                    ))
                }
            };
            let email = q.opt_string("email");
            let phone = q.opt_string("phoneNumber");
            // WebAuthn is not implemented, so no user has a credential: when every given account
            // info must match (or the credential is the only one given), nobody does.
            if webauthn.is_some() && (!union || (email.is_none() && phone.is_none() && tp.is_none())) {
                return ok(json!({"users": []}));
            }
            let users = core
                .users_by_account_info(
                    &ctx.tenant,
                    email.as_deref(),
                    phone.as_deref(),
                    tp.as_ref().map(|(a, b)| (a.as_str(), b.as_str())),
                    union,
                )
                .await?;
            ok(json!({"users": users}))
        }
        UserRemove => {
            let user = b.string("userId")?;
            let all = b.opt_bool("removeAllLinkedAccounts")?.unwrap_or(true);
            core.delete_user(app, &user, all).await?;
            ok(json!({}))
        }
        Users => {
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
            let (users, next) = core.list_users(&ctx.tenant, query, token.as_deref()).await?;
            let mut out = json!({"users": users});
            if let Some(n) = next {
                out["nextPaginationToken"] = Value::String(n);
            }
            ok(out)
        }
        UsersCount => {
            let recipes = recipe_ids(q)?;
            let count = if q.bool_or("includeAllTenants", false) {
                app_scope(ctx).await?;
                core.count_users(app, None, &recipes).await?
            } else {
                core.tenant(&ctx.tenant).await?;
                core.count_users(app, Some(&ctx.tenant), &recipes).await?
            };
            ok(json!({"count": count}))
        }
        UsersCountActive => {
            let since = q
                .opt_long("since")?
                .ok_or_else(|| ApiError::BadRequest("Field name 'since' is missing in GET request".into()))?;
            if since < 0 {
                return Err(ApiError::BadRequest("'since' query parameter must be >= 0".into()));
            }
            let count = core.count_active_users(app, since).await?;
            ok(json!({"count": count}))
        }
        SearchTags => ok(json!({"tags": ["email", "phone", "provider"]})),
        MetadataGet => {
            let user = q.string("userId")?;
            let m = core.user_metadata(app, &user).await?;
            ok(json!({"metadata": m}))
        }
        MetadataPut => {
            let user = b.string("userId")?;
            let update = b.object("metadataUpdate")?;
            let m = core.update_user_metadata(app, &user, &update).await?;
            ok(json!({"metadata": m}))
        }
        MetadataBulk => {
            // At most 500 ids, as the reference; each user once per id given, `null` without metadata.
            let ids = match b.raw("userIds")? {
                Some(Value::Array(items)) => items,
                _ => return Err(ApiError::BadRequest("Field name 'userIds' is invalid in JSON input".into())),
            };
            if ids.len() > 500 {
                return Err(ApiError::BadRequest("You can only query up to 500 users at a time.".into()));
            }
            let ids = ids
                .iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect::<Option<Vec<String>>>()
                .ok_or_else(|| ApiError::BadRequest("userIds array must contain only strings".into()))?;
            let found = core.user_metadata_many(app, &ids).await?;
            let users: Vec<Value> = ids
                .iter()
                .map(|id| json!({"userId": id, "metadata": found.get(id).map_or(Value::Null, |m| Value::Object(m.clone()))}))
                .collect();
            ok(json!({"users": users}))
        }
        MetadataRemove => {
            let user = b.string("userId")?;
            core.remove_user_metadata(app, &user).await?;
            ok(json!({}))
        }
        RolePut => {
            let role = b.trimmed("role")?;
            let perms = permissions(b)?.unwrap_or_default();
            let created = core.create_role_or_add_permissions(app, &role, &perms).await?;
            ok(json!({"createdNewRole": created}))
        }
        RolePermissions => match core.permissions_of_role(app, &query_trimmed(q, "role")?).await? {
            Some(p) => ok(json!({"permissions": p})),
            None => status("UNKNOWN_ROLE_ERROR", json!({})),
        },
        RolePermissionsRemove => {
            let role = b.trimmed("role")?;
            let perms = permissions(b)?;
            if core.remove_role_permissions(app, &role, perms.as_deref()).await? {
                ok(json!({}))
            } else {
                status("UNKNOWN_ROLE_ERROR", json!({}))
            }
        }
        PermissionRoles => {
            let roles = core.roles_with_permission(app, &query_trimmed(q, "permission")?).await?;
            ok(json!({"roles": roles}))
        }
        RoleRemove => {
            let existed = core.delete_role(app, &b.trimmed("role")?).await?;
            ok(json!({"didRoleExist": existed}))
        }
        Roles => ok(json!({"roles": core.all_roles(app).await?})),
        UserRolePut => match core.add_user_role(&ctx.tenant, &b.string("userId")?, &b.trimmed("role")?).await? {
            RoleResult::Ok(had) => ok(json!({"didUserAlreadyHaveRole": had})),
            RoleResult::UnknownRole => status("UNKNOWN_ROLE_ERROR", json!({})),
        },
        UserRoleRemove => {
            let r = core.remove_user_role(&ctx.tenant, &b.string("userId")?, &b.trimmed("role")?).await?;
            match r {
                RoleResult::Ok(had) => ok(json!({"didUserHaveRole": had})),
                RoleResult::UnknownRole => status("UNKNOWN_ROLE_ERROR", json!({})),
            }
        }
        UserRoles => {
            let roles = core.roles_of_user(&ctx.tenant, &q.string("userId")?).await?;
            ok(json!({"roles": roles}))
        }
        RoleUsers => match core.users_with_role(&ctx.tenant, &query_trimmed(q, "role")?).await? {
            Some(users) => ok(json!({"users": users})),
            None => status("UNKNOWN_ROLE_ERROR", json!({})),
        },
        MapCreate => {
            let supertokens_user_id = b.trimmed("superTokensUserId")?;
            let external_user_id = b.trimmed("externalUserId")?;
            let info = match b.raw("externalUserIdInfo")? {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(crate::input::non_empty("externalUserIdInfo", java_trim(s))?),
                Some(_) => {
                    return Err(ApiError::BadRequest("Field name 'externalUserIdInfo' is invalid in JSON input".into()))
                }
            };
            let mapping = UserIdMapping { supertokens_user_id, external_user_id, external_user_id_info: info };
            let force = b.opt_bool("force")?.unwrap_or(false);
            match core.create_mapping(app, mapping, force).await? {
                MappingCreate::Ok => ok(json!({})),
                MappingCreate::UnknownSuperTokensUserId => status("UNKNOWN_SUPERTOKENS_USER_ID_ERROR", json!({})),
                MappingCreate::AlreadyExists { supertokens_id_exists, external_id_exists } => status(
                    "USER_ID_MAPPING_ALREADY_EXISTS_ERROR",
                    json!({"doesSuperTokensUserIdExist": supertokens_id_exists, "doesExternalUserIdExist": external_id_exists}),
                ),
            }
        }
        MapGet => {
            let id = query_trimmed(q, "userId")?;
            let kind = user_type(q.opt_string("userIdType"))?;
            match core.user_id_mapping(app, &id, kind).await? {
                Some(m) => {
                    let mut out =
                        json!({"superTokensUserId": m.supertokens_user_id, "externalUserId": m.external_user_id});
                    if let Some(info) = m.external_user_id_info {
                        out["externalUserIdInfo"] = Value::String(info);
                    }
                    ok(out)
                }
                None => status("UNKNOWN_MAPPING_ERROR", json!({})),
            }
        }
        MapRemove => {
            let id = b.trimmed("userId")?;
            let kind = user_type(b.opt_string("userIdType")?)?;
            let force = b.opt_bool("force")?.unwrap_or(false);
            let existed = core.delete_mapping(app, &id, kind, force).await?;
            ok(json!({"didMappingExist": existed}))
        }
        MapInfo => {
            let id = b.trimmed("userId")?;
            let kind = user_type(b.opt_string("userIdType")?)?;
            let info = match b.raw("externalUserIdInfo")? {
                Some(Value::Null) => None,
                Some(Value::String(s)) => Some(crate::input::non_empty("externalUserIdInfo", java_trim(s))?),
                _ => {
                    return Err(ApiError::BadRequest("Field name 'externalUserIdInfo' is invalid in JSON input".into()))
                }
            };
            if core.update_external_user_id_info(app, &id, kind, info.as_deref()).await? {
                ok(json!({}))
            } else {
                status("UNKNOWN_MAPPING_ERROR", json!({}))
            }
        }
    }
}
