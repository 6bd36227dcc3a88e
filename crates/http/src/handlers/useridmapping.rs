//! User-id mapping endpoints (§a.13): create, read, remove, and the external id's info.

use super::common::query_trimmed;
use crate::ctx::{ok, status, Ctx, HResult};
use crate::error::ApiError;
use crate::router::{handler, Checks, Router, Scope};
use serde_json::{json, Value};
use st_core::ids::java_trim;
use st_core::storage::{MappingCreate, UserIdMapping, UserIdType};

pub fn routes(r: &mut Router) {
    let k = Checks::KEY_AND_VERSION;
    r.at("/recipe/userid/map", Scope::App, k).post(handler!(create)).get(handler!(get));
    r.at("/recipe/userid/map/remove", Scope::App, k).post(handler!(remove));
    r.at("/recipe/userid/external-user-id-info", Scope::App, k).put(handler!(update_info));
}

/// `userIdType`: which id a given user id is (absent: either).
fn user_type(raw: Option<String>) -> Result<UserIdType, ApiError> {
    // Trimmed and case-sensitive, as the reference parses it.
    match raw.as_deref().map(str::trim) {
        None | Some("ANY") => Ok(UserIdType::Any),
        Some("SUPERTOKENS") => Ok(UserIdType::SuperTokens),
        Some("EXTERNAL") => Ok(UserIdType::External),
        Some(_) => Err(ApiError::BadRequest(
            "Field name 'userIdType' should be one of 'SUPERTOKENS', 'EXTERNAL' or 'ANY'".into(),
        )),
    }
}

fn invalid_info() -> ApiError {
    ApiError::BadRequest("Field name 'externalUserIdInfo' is invalid in JSON input".into())
}

async fn create(ctx: &Ctx<'_>) -> HResult {
    let b = &ctx.body;
    let supertokens_user_id = b.trimmed("superTokensUserId")?;
    let external_user_id = b.stored_trimmed("externalUserId")?;
    let info = match b.raw("externalUserIdInfo")? {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(crate::input::storable(
            "externalUserIdInfo",
            crate::input::non_empty("externalUserIdInfo", java_trim(s))?,
        )?),
        Some(_) => return Err(invalid_info()),
    };
    let mapping = UserIdMapping { supertokens_user_id, external_user_id, external_user_id_info: info };
    let force = b.opt_bool("force")?.unwrap_or(false);
    match ctx.state.core.create_mapping(&ctx.tenant.app, mapping, force, ctx.version()).await? {
        MappingCreate::Ok => ok(json!({})),
        MappingCreate::UnknownSuperTokensUserId => status("UNKNOWN_SUPERTOKENS_USER_ID_ERROR", json!({})),
        MappingCreate::AlreadyExists { supertokens_id_exists, external_id_exists } => status(
            "USER_ID_MAPPING_ALREADY_EXISTS_ERROR",
            json!({"doesSuperTokensUserIdExist": supertokens_id_exists, "doesExternalUserIdExist": external_id_exists}),
        ),
    }
}

async fn get(ctx: &Ctx<'_>) -> HResult {
    let id = query_trimmed(&ctx.query, "userId")?;
    let kind = user_type(ctx.query.opt_string("userIdType"))?;
    match ctx.state.core.user_id_mapping(&ctx.tenant.app, &id, kind).await? {
        Some(m) => {
            let mut out = json!({"superTokensUserId": m.supertokens_user_id, "externalUserId": m.external_user_id});
            if let Some(info) = m.external_user_id_info {
                out["externalUserIdInfo"] = Value::String(info);
            }
            ok(out)
        }
        None => status("UNKNOWN_MAPPING_ERROR", json!({})),
    }
}

async fn remove(ctx: &Ctx<'_>) -> HResult {
    let id = ctx.body.trimmed("userId")?;
    let kind = user_type(ctx.body.opt_string("userIdType")?)?;
    let force = ctx.body.opt_bool("force")?.unwrap_or(false);
    let existed = ctx.state.core.delete_mapping(&ctx.tenant.app, &id, kind, force).await?;
    ok(json!({"didMappingExist": existed}))
}

/// `PUT /recipe/userid/external-user-id-info`: `externalUserIdInfo` is required; `null`
/// clears it.
async fn update_info(ctx: &Ctx<'_>) -> HResult {
    let id = ctx.body.trimmed("userId")?;
    let kind = user_type(ctx.body.opt_string("userIdType")?)?;
    let info = match ctx.body.raw("externalUserIdInfo")? {
        Some(Value::Null) => None,
        Some(Value::String(s)) => Some(crate::input::non_empty("externalUserIdInfo", java_trim(s))?),
        _ => return Err(invalid_info()),
    };
    if ctx.state.core.update_external_user_id_info(&ctx.tenant.app, &id, kind, info.as_deref()).await? {
        ok(json!({}))
    } else {
        status("UNKNOWN_MAPPING_ERROR", json!({}))
    }
}
