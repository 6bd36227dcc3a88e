//! Bulk-import endpoints (§a.20, app-scoped): queue users (`POST /bulk-import/users`), list
//! and count the queue, remove queued users, and import one user synchronously
//! (`POST /bulk-import/import`). Served at every CDI version, as the reference (its classes
//! read the version only for the imported user's `webauthn`), and in memory too (the
//! reference answers 400 there; see docs/COMPATIBILITY.md).

use crate::ctx::{ok, Ctx, HResult, Reply};
use crate::error::ApiError;
use crate::router::{handler, Checks, Router, Scope};
use serde_json::{json, Value};
use st_core::bulkimport::{
    AddOutcome, ImportUserOutcome, DELETE_USERS_MAX_LIMIT, GET_USERS_DEFAULT_LIMIT, GET_USERS_PAGINATION_MAX_LIMIT,
    INVALID_DATA, MAX_USERS_TO_ADD,
};
use st_core::storage::BulkImportStatus;

pub fn routes(r: &mut Router) {
    let k = Checks::KEY_AND_VERSION;
    r.at("/bulk-import/users", Scope::App, k).get(handler!(list)).post(handler!(add));
    r.at("/bulk-import/users/count", Scope::App, k).get(handler!(count));
    r.at("/bulk-import/users/remove", Scope::App, k).post(handler!(remove));
    r.at("/bulk-import/import", Scope::App, k).post(handler!(import));
}

fn status_param(raw: Option<String>) -> Result<Option<BulkImportStatus>, ApiError> {
    match raw {
        None => Ok(None),
        Some(s) => BulkImportStatus::parse(&s).map(Some).ok_or_else(|| {
            ApiError::BadRequest("Invalid value for status. Pass one of NEW, PROCESSING, or FAILED!".into())
        }),
    }
}

fn invalid(field: &str) -> ApiError {
    ApiError::BadRequest(format!("Field name '{field}' is invalid in JSON input"))
}

/// A required JSON array field.
fn array<'a>(ctx: &'a Ctx<'_>, field: &str) -> Result<&'a Vec<Value>, ApiError> {
    match ctx.body.raw(field)? {
        Some(Value::Array(a)) => Ok(a),
        _ => Err(invalid(field)),
    }
}

async fn list(ctx: &Ctx<'_>) -> HResult {
    let status = ctx.query.opt_string("status");
    let token = ctx.query.opt_string("paginationToken");
    let limit = match ctx.query.opt_int("limit")? {
        None => GET_USERS_DEFAULT_LIMIT,
        Some(l) if l > GET_USERS_PAGINATION_MAX_LIMIT => {
            return Err(ApiError::BadRequest(format!("Max limit allowed is {GET_USERS_PAGINATION_MAX_LIMIT}")));
        }
        Some(l) if l < 1 => {
            return Err(ApiError::BadRequest("limit must a positive integer with min value 1".into()));
        }
        Some(l) => l,
    };
    let status = status_param(status)?;
    let page = ctx.state.core.bulk_import_rows(&ctx.tenant.app, status, limit, token.as_deref()).await?;
    let mut out = json!({"users": page.users});
    if let Some(t) = page.next_pagination_token {
        out["nextPaginationToken"] = json!(t);
    }
    ok(out)
}

async fn add(ctx: &Ctx<'_>) -> HResult {
    let users = array(ctx, "users")?;
    if users.is_empty() {
        return ok(json!({}));
    }
    if users.len() > MAX_USERS_TO_ADD {
        let body = json!({"error": format!("You can only add {MAX_USERS_TO_ADD} users at a time.")});
        return Err(ApiError::BadRequest(body.to_string()));
    }
    match ctx.state.core.bulk_import_add(&ctx.tenant.app, users).await? {
        AddOutcome::Added(users) => ok(json!({"users": users})),
        AddOutcome::Invalid(errors) => {
            let users: Vec<Value> = errors.into_iter().map(|(i, e)| json!({"index": i, "errors": e})).collect();
            Err(ApiError::BadRequest(json!({"error": INVALID_DATA, "users": users}).to_string()))
        }
    }
}

async fn count(ctx: &Ctx<'_>) -> HResult {
    let status = status_param(ctx.query.opt_string("status"))?;
    let n = ctx.state.core.bulk_import_count(&ctx.tenant.app, status).await?;
    ok(json!({"count": n}))
}

async fn remove(ctx: &Ctx<'_>) -> HResult {
    let raw = array(ctx, "ids")?;
    if raw.is_empty() {
        return Ok(Reply::Json(json!({"deletedIds": [], "invalidIds": []})));
    }
    if raw.len() > DELETE_USERS_MAX_LIMIT {
        return Err(ApiError::BadRequest(format!(
            "Field name 'ids' cannot contain more than {DELETE_USERS_MAX_LIMIT} elements"
        )));
    }
    let mut ids = Vec::with_capacity(raw.len());
    for v in raw {
        let id = v.as_str().ok_or_else(|| invalid("ids"))?;
        if id.is_empty() {
            return Err(ApiError::BadRequest("Field name 'ids' cannot contain an empty string".into()));
        }
        ids.push(id.to_string());
    }
    let deleted = ctx.state.core.bulk_import_delete(&ctx.tenant.app, &ids).await?;
    let (deleted_ids, invalid_ids): (Vec<&String>, Vec<&String>) = ids.iter().partition(|id| deleted.contains(id));
    Ok(Reply::Json(json!({"deletedIds": deleted_ids, "invalidIds": invalid_ids})))
}

async fn import(ctx: &Ctx<'_>) -> HResult {
    let body = Value::Object(ctx.body.map()?.clone());
    match ctx.state.core.bulk_import_user(&ctx.tenant.app, &body, ctx.version()).await? {
        ImportUserOutcome::Imported(user) => ok(json!({"user": user})),
        ImportUserOutcome::Invalid(errors) => Err(ApiError::BadRequest(json!({"errors": errors}).to_string())),
    }
}
