//! User metadata endpoints (§a.11): read, merge-update, remove, and the bulk read.

use crate::ctx::{ok, Ctx, HResult};
use crate::error::ApiError;
use crate::router::{handler, Checks, Router, Scope};
use serde_json::{json, Value};

pub fn routes(r: &mut Router) {
    let k = Checks::KEY_AND_VERSION;
    r.at("/recipe/user/metadata", Scope::App, k).get(handler!(get)).put(handler!(update));
    r.at("/recipe/user/metadata/remove", Scope::App, k).post(handler!(remove));
    r.at("/recipe/user/metadata/bulk", Scope::App, k).post(handler!(bulk_get));
}

async fn get(ctx: &Ctx<'_>) -> HResult {
    let user = ctx.query.string("userId")?;
    let m = ctx.state.core.user_metadata(&ctx.tenant.app, &user).await?;
    ok(json!({"metadata": m}))
}

async fn update(ctx: &Ctx<'_>) -> HResult {
    let user = ctx.body.stored("userId")?;
    let update = ctx.body.object("metadataUpdate")?;
    let m = ctx.state.core.update_user_metadata(&ctx.tenant.app, &user, &update).await?;
    ok(json!({"metadata": m}))
}

/// At most 500 ids, as the reference; each user once per id given, `null` without metadata.
async fn bulk_get(ctx: &Ctx<'_>) -> HResult {
    let ids = match ctx.body.raw("userIds")? {
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
    for id in &ids {
        crate::input::no_nul("userIds", id)?;
    }
    let found = ctx.state.core.user_metadata_many(&ctx.tenant.app, &ids).await?;
    let users: Vec<Value> = ids
        .iter()
        .map(|id| json!({"userId": id, "metadata": found.get(id).map_or(Value::Null, |m| Value::Object(m.clone()))}))
        .collect();
    ok(json!({"users": users}))
}

async fn remove(ctx: &Ctx<'_>) -> HResult {
    let user = ctx.body.string("userId")?;
    ctx.state.core.remove_user_metadata(&ctx.tenant.app, &user).await?;
    ok(json!({}))
}
