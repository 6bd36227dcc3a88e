//! OAuth2 provider endpoints (§a.18, rid `oauth`): clients, the authorisation endpoint with its
//! login, consent and logout challenges, the token endpoint (authorization code with PKCE,
//! refresh token, client credentials), introspection and revocation. App-scoped (public tenant only),
//! served from CDI 5.2 (404 `Not found` below, as the SDKs call them from there on).

use crate::ctx::{Ctx, HResult, Reply};
use crate::error::ApiError;
use crate::router::{handler, Checks, Router, Scope};
use serde_json::{json, Map, Value};
use st_core::cdi::CdiVersion;
use st_core::oauth::authorize::{
    AuthOutcome, AuthRequest, ChallengeOutcome, ConsentAccept, FlowErrorInput, LoginAccept, LogoutRequest,
};
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
    r.at("/recipe/oauth/auth", a, k).post(handler!(auth));
    r.at("/recipe/oauth/auth/requests/login", a, k).get(handler!(login_request));
    r.at("/recipe/oauth/auth/requests/login/accept", a, k).put(handler!(accept_login));
    r.at("/recipe/oauth/auth/requests/login/reject", a, k).put(handler!(reject_login));
    r.at("/recipe/oauth/auth/requests/consent", a, k).get(handler!(consent_request));
    r.at("/recipe/oauth/auth/requests/consent/accept", a, k).put(handler!(accept_consent));
    r.at("/recipe/oauth/auth/requests/consent/reject", a, k).put(handler!(reject_consent));
    r.at("/recipe/oauth/auth/requests/logout/accept", a, k).put(handler!(accept_logout));
    r.at("/recipe/oauth/auth/requests/logout/reject", a, k).put(handler!(reject_logout));
    r.at("/recipe/oauth/sessions/logout", a, k).get(handler!(logout));
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
    // The reference requires the SDK's token payloads except for the code exchange (where the
    // consent's initial payloads apply).
    let code_grant = grant_type == "authorization_code";
    let access_token_update = if code_grant { b.opt_object("access_token")? } else { Some(b.object("access_token")?) };
    let id_token_update = if code_grant { b.opt_object("id_token")? } else { Some(b.object("id_token")?) };
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
    let scope = ctx.body.opt_string("scope")?;
    let answer = ctx.state.core.oauth_introspect(&ctx.tenant.app, &token, scope.as_deref()).await?;
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

fn auth_answer(outcome: AuthOutcome) -> HResult {
    match outcome {
        AuthOutcome::Redirect(to) => Ok(Reply::Json(json!({"redirectTo": to, "cookies": [], "status": "OK"}))),
        AuthOutcome::ClientNotFound => client_not_found(),
        AuthOutcome::Refused(r) => oauth_error(r),
    }
}

fn challenge_answer(outcome: ChallengeOutcome) -> HResult {
    match outcome {
        ChallengeOutcome::Ok(fields) => with_status(fields, "OK"),
        ChallengeOutcome::ClientNotFound => client_not_found(),
        ChallengeOutcome::Refused(r) => oauth_error(r),
    }
}

/// `params`' values as the strings the reference reads them as.
async fn auth(ctx: &Ctx<'_>) -> HResult {
    served(ctx)?;
    let b = &ctx.body;
    let params = b.object("params")?;
    b.opt_string("cookies")?;
    b.opt_object("access_token")?;
    b.opt_object("id_token")?;
    b.opt_bool("useStaticSigningKey")?;
    let iss = b.opt_string("iss")?;
    let params = form_fields(params)
        .map_err(|_| ApiError::BadRequest("Field name 'params' is invalid in JSON input".into()))?
        .into_iter()
        .map(|(k, v)| (k, v.as_str().unwrap_or_default().to_string()))
        .collect();
    let req = AuthRequest { params, iss };
    auth_answer(ctx.state.core.oauth_authorize(&ctx.tenant.app, &req).await?)
}

/// The challenge of a login or consent route: `<kind>Challenge` as the SDK sends it, or
/// `<kind>_challenge` (the reference converts the first to the second for Hydra).
fn challenge_param(ctx: &Ctx<'_>, kind: &str) -> Result<String, OAuthRefusal> {
    ctx.query
        .opt_string(&format!("{kind}Challenge"))
        .or_else(|| ctx.query.opt_string(&format!("{kind}_challenge")))
        .ok_or_else(|| OAuthRefusal {
            error: "invalid_request".into(),
            description: format!(
                "The request is missing a required parameter, includes an invalid parameter value, includes a parameter more than once, or is otherwise malformed. Query parameter '{kind}_challenge' is not defined but should have been."
            ),
            status_code: 400,
        })
}

async fn login_request(ctx: &Ctx<'_>) -> HResult {
    served(ctx)?;
    let challenge = match challenge_param(ctx, "login") {
        Ok(c) => c,
        Err(r) => return oauth_error(r),
    };
    challenge_answer(ctx.state.core.oauth_login_request(&ctx.tenant.app, &challenge).await?)
}

async fn accept_login(ctx: &Ctx<'_>) -> HResult {
    served(ctx)?;
    let b = &ctx.body;
    let accept = LoginAccept {
        subject: b.opt_string("subject")?,
        acr: b.opt_string("acr")?,
        amr: b.raw("amr")?.cloned().filter(|v| !v.is_null()),
        context: b.raw("context")?.cloned().filter(|v| !v.is_null()),
        identity_provider_session_id: b.opt_string("identityProviderSessionId")?,
    };
    let challenge = match challenge_param(ctx, "login") {
        Ok(c) => c,
        Err(r) => return oauth_error(r),
    };
    challenge_answer(ctx.state.core.oauth_accept_login(&ctx.tenant.app, &challenge, &accept).await?)
}

fn reject_error(ctx: &Ctx<'_>) -> Result<FlowErrorInput, ApiError> {
    Ok(FlowErrorInput { error: ctx.body.opt_string("error")?, description: ctx.body.opt_string("errorDescription")? })
}

async fn reject_login(ctx: &Ctx<'_>) -> HResult {
    served(ctx)?;
    let error = reject_error(ctx)?;
    let challenge = match challenge_param(ctx, "login") {
        Ok(c) => c,
        Err(r) => return oauth_error(r),
    };
    challenge_answer(ctx.state.core.oauth_reject_login(&ctx.tenant.app, &challenge, &error).await?)
}

async fn consent_request(ctx: &Ctx<'_>) -> HResult {
    served(ctx)?;
    let challenge = match challenge_param(ctx, "consent") {
        Ok(c) => c,
        Err(r) => return oauth_error(r),
    };
    challenge_answer(ctx.state.core.oauth_consent_request(&ctx.tenant.app, &challenge).await?)
}

async fn accept_consent(ctx: &Ctx<'_>) -> HResult {
    served(ctx)?;
    let b = &ctx.body;
    let accept = ConsentAccept {
        iss: b.string("iss")?,
        t_id: b.string("tId")?,
        rsub: b.string("rsub")?,
        session_handle: b.string("sessionHandle")?,
        initial_access_token_payload: b.object("initialAccessTokenPayload")?,
        initial_id_token_payload: b.object("initialIdTokenPayload")?,
        grant_scope: b.opt_string_array("grantScope")?,
        grant_access_token_audience: b.opt_string_array("grantAccessTokenAudience")?,
        context: b.raw("context")?.cloned().filter(|v| !v.is_null()),
    };
    let challenge = match challenge_param(ctx, "consent") {
        Ok(c) => c,
        Err(r) => return oauth_error(r),
    };
    challenge_answer(ctx.state.core.oauth_accept_consent(&ctx.tenant.app, &challenge, &accept).await?)
}

async fn reject_consent(ctx: &Ctx<'_>) -> HResult {
    served(ctx)?;
    let error = reject_error(ctx)?;
    let challenge = match challenge_param(ctx, "consent") {
        Ok(c) => c,
        Err(r) => return oauth_error(r),
    };
    challenge_answer(ctx.state.core.oauth_reject_consent(&ctx.tenant.app, &challenge, &error).await?)
}

async fn accept_logout(ctx: &Ctx<'_>) -> HResult {
    served(ctx)?;
    let challenge = ctx.body.string("challenge")?;
    match ctx.state.core.oauth_accept_logout(&ctx.tenant.app, &challenge).await? {
        Ok(to) => Ok(Reply::Json(json!({"status": "OK", "redirectTo": to}))),
        Err(r) => oauth_error(r),
    }
}

async fn reject_logout(ctx: &Ctx<'_>) -> HResult {
    served(ctx)?;
    let challenge = ctx.body.string("challenge")?;
    ctx.state.core.oauth_reject_logout(&ctx.tenant.app, &challenge).await?;
    Ok(Reply::Json(json!({"status": "OK"})))
}

async fn logout(ctx: &Ctx<'_>) -> HResult {
    served(ctx)?;
    let q = &ctx.query;
    let req = LogoutRequest {
        client_id: q.opt_string("clientId"),
        id_token_hint: q.opt_string("idTokenHint"),
        post_logout_redirect_uri: q.opt_string("postLogoutRedirectUri"),
        state: q.opt_string("state"),
    };
    match ctx.state.core.oauth_logout(&ctx.tenant.app, &req).await? {
        AuthOutcome::Redirect(to) => Ok(Reply::Json(json!({"status": "OK", "redirectTo": to}))),
        AuthOutcome::ClientNotFound => client_not_found(),
        AuthOutcome::Refused(r) => oauth_error(r),
    }
}
