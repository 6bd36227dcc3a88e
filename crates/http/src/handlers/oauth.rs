//! OAuth2 provider endpoints (§a.18, rid `oauth`): clients, the token endpoint (client
//! credentials), introspection and revocation. App-scoped (public tenant only),
//! served from CDI 5.2 (404 `Not found` below, as the SDKs call them from there on).

use crate::ctx::{Ctx, HResult, Reply};
use crate::error::ApiError;
use crate::router::{handler, Checks, Router, Scope};
use serde_json::{json, Map, Value};
use st_core::cdi::CdiVersion;
use st_core::oauth::clients::{ClientOutcome, OAuthClient};
use st_core::oauth::tokens::{TokenOutcome, TokenRequest};
use st_core::oauth::OAuthRefusal;

/// The first CDI version that serves the OAuth routes.
const SINCE: CdiVersion = CdiVersion::new(5, 2);

pub fn routes(r: &mut Router) {
    let (a, k) = (Scope::App, Checks::KEY_AND_VERSION);
    r.at("/recipe/oauth/clients", a, k)
        .get(handler!(get_client))
        .post(handler!(create_client))
        .put(handler!(update_client));
    r.at("/recipe/oauth/clients/list", a, k).get(handler!(list_clients));
    r.at("/recipe/oauth/clients/remove", a, k).post(handler!(remove_client));
    r.at("/recipe/oauth/token", a, k).post(handler!(token));
    r.at("/recipe/oauth/introspect", a, k).post(handler!(introspect));
    r.at("/recipe/oauth/token/revoke", a, k).post(handler!(revoke_token));
    r.at("/recipe/oauth/tokens/revoke", a, k).post(handler!(revoke_client_tokens));
    r.at("/recipe/oauth/session/revoke", a, k).post(handler!(revoke_session));
}

/// Below CDI 5.2 the routes do not exist.
fn served(ctx: &Ctx<'_>) -> Result<(), ApiError> {
    if ctx.version() < SINCE {
        return Err(ApiError::NotFound);
    }
    Ok(())
}

/// `{...fields, "status": <status>}`: the reference adds the status last.
fn with_status(mut fields: Map<String, Value>, status: &str) -> HResult {
    fields.insert("status".into(), json!(status));
    Ok(Reply::Json(Value::Object(fields)))
}

/// `OAUTH_ERROR {error, errorDescription, statusCode}` (HTTP 200).
fn oauth_error(r: OAuthRefusal) -> HResult {
    Ok(Reply::Json(json!({
        "status": "OAUTH_ERROR",
        "error": r.error,
        "errorDescription": r.description,
        "statusCode": r.status_code,
    })))
}

fn client_not_found() -> HResult {
    Ok(Reply::Json(json!({"status": "CLIENT_NOT_FOUND_ERROR"})))
}

fn client_answer(outcome: ClientOutcome, null_secret: bool) -> HResult {
    match outcome {
        ClientOutcome::Ok(c) => with_status(c.to_json(null_secret), "OK"),
        ClientOutcome::NotFound => client_not_found(),
        ClientOutcome::Refused(r) => oauth_error(r),
    }
}

/// The request's fields without `enableRefreshTokenRotation` (ours, not Hydra's), and that flag.
fn client_input(ctx: &Ctx<'_>) -> Result<(Map<String, Value>, Option<bool>), ApiError> {
    let mut input = ctx.body.map()?.clone();
    let rotation = if input.contains_key("enableRefreshTokenRotation") {
        match input.remove("enableRefreshTokenRotation") {
            Some(Value::Bool(b)) => Some(b),
            _ => {
                return Err(ApiError::BadRequest(
                    "Field name 'enableRefreshTokenRotation' is invalid in JSON input".into(),
                ));
            }
        }
    } else {
        None
    };
    Ok((input, rotation))
}

async fn get_client(ctx: &Ctx<'_>) -> HResult {
    served(ctx)?;
    let id = ctx.query.string("clientId")?;
    match ctx.state.core.oauth_client(&ctx.tenant.app, &id).await? {
        Some(c) => with_status(c.to_json(false), "OK"),
        None => client_not_found(),
    }
}

async fn create_client(ctx: &Ctx<'_>) -> HResult {
    served(ctx)?;
    let (input, rotation) = client_input(ctx)?;
    let outcome = ctx.state.core.oauth_create_client(&ctx.tenant.app, &input, rotation.unwrap_or(false)).await?;
    client_answer(outcome, false)
}

async fn update_client(ctx: &Ctx<'_>) -> HResult {
    served(ctx)?;
    let id = ctx.body.string("clientId")?;
    let (input, rotation) = client_input(ctx)?;
    let outcome = ctx.state.core.oauth_update_client(&ctx.tenant.app, &id, &input, rotation).await?;
    client_answer(outcome, true)
}

async fn list_clients(ctx: &Ctx<'_>) -> HResult {
    served(ctx)?;
    let page_size = ctx.query.opt_int("pageSize")?;
    let name = ctx.query.opt_string("clientName");
    let token = ctx.query.opt_string("pageToken");
    let page =
        match ctx.state.core.oauth_list_clients(&ctx.tenant.app, page_size, name.as_deref(), token.as_deref()).await? {
            Ok(page) => page,
            Err(r) => return oauth_error(r),
        };
    let clients: Vec<Value> = page.clients.iter().map(|c: &OAuthClient| Value::Object(c.to_json(true))).collect();
    let mut out = Map::new();
    out.insert("status".into(), json!("OK"));
    out.insert("clients".into(), json!(clients));
    if let Some(t) = page.next_page_token {
        out.insert("nextPaginationToken".into(), json!(t));
    }
    Ok(Reply::Json(Value::Object(out)))
}

async fn remove_client(ctx: &Ctx<'_>) -> HResult {
    served(ctx)?;
    let id = ctx.body.string("clientId")?;
    let existed = ctx.state.core.oauth_remove_client(&ctx.tenant.app, &id).await?;
    Ok(Reply::Json(json!({"status": "OK", "didExist": existed})))
}

/// `inputBody`'s values as the form fields they were (a non-scalar one is the reference's 400).
fn form_fields(body: Map<String, Value>) -> Result<Map<String, Value>, ApiError> {
    let malformed = || ApiError::BadRequest("malformed request body or authorization header".into());
    body.into_iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k, Value::String(s))),
            Value::Number(n) => Ok((k, Value::String(n.to_string()))),
            Value::Bool(b) => Ok((k, Value::String(b.to_string()))),
            _ => Err(malformed()),
        })
        .collect()
}

async fn token(ctx: &Ctx<'_>) -> HResult {
    served(ctx)?;
    let b = &ctx.body;
    let iss = b.string("iss")?;
    let input_body = b.object("inputBody")?;
    let grant_type = match input_body.get("grant_type") {
        Some(Value::String(g)) => g.clone(),
        _ => return Err(ApiError::BadRequest("Field name 'grant_type' is invalid in JSON input".into())),
    };
    let code_grant = grant_type == "authorization_code";
    let access_token_update = if code_grant { Some(b.object("access_token")?) } else { b.opt_object("access_token")? };
    let id_token_update = if code_grant { Some(b.object("id_token")?) } else { b.opt_object("id_token")? };
    let use_static_key = b.opt_bool("useStaticSigningKey")?.unwrap_or(true);
    let authorization_header = b.opt_string("authorizationHeader")?;
    let req = TokenRequest {
        iss,
        form: form_fields(input_body)?,
        access_token_update,
        id_token_update,
        use_static_key,
        authorization_header,
    };
    match ctx.state.core.oauth_token(&ctx.tenant.app, &req).await? {
        TokenOutcome::Ok(answer) => with_status(answer, "OK"),
        TokenOutcome::ClientNotFound => client_not_found(),
        TokenOutcome::Refused(r) => oauth_error(r),
    }
}

async fn introspect(ctx: &Ctx<'_>) -> HResult {
    served(ctx)?;
    let token = ctx.body.string("token")?;
    let answer = ctx.state.core.oauth_introspect(&ctx.tenant.app, &token).await?;
    with_status(answer, "OK")
}

async fn revoke_token(ctx: &Ctx<'_>) -> HResult {
    served(ctx)?;
    let token = ctx.body.string("token")?;
    ctx.state.core.oauth_revoke_token(&ctx.tenant.app, &token).await?;
    Ok(Reply::Json(json!({"status": "OK"})))
}

async fn revoke_client_tokens(ctx: &Ctx<'_>) -> HResult {
    served(ctx)?;
    let client_id = ctx.body.string("client_id")?;
    ctx.state.core.oauth_revoke_client_tokens(&ctx.tenant.app, &client_id).await?;
    Ok(Reply::Json(json!({"status": "OK"})))
}

async fn revoke_session(ctx: &Ctx<'_>) -> HResult {
    served(ctx)?;
    let handle = ctx.body.string("sessionHandle")?;
    ctx.state.core.oauth_revoke_session(&ctx.tenant.app, &handle).await?;
    Ok(Reply::Json(json!({"status": "OK"})))
}
