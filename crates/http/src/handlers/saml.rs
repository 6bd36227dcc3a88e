//! SAML endpoints (§a.19, rid `saml`): the IdP clients of a tenant, the SP-initiated login,
//! the assertion consumer callback and the code's exchange for the user, the legacy
//! BoxyHQ-compatible routes (public tenant of an app: authorize by redirect, callback by form
//! post and redirect, token and userinfo without API key), and the SP metadata document.
//! Served from CDI 5.4 (404 `Not found` below, as the SDKs call them from there on).

use crate::ctx::{Ctx, HResult, Reply};
use crate::error::ApiError;
use crate::input::Query;
use crate::router::{handler, Checks, Router, Scope};
use actix_web::HttpResponse;
use serde_json::{json, Value};
use st_core::cdi::CdiVersion;
use st_core::saml::{SamlCallbackOutcome, SamlClientInput, SamlClientOutcome, SamlLoginOutcome, SamlUserOutcome};

/// The first CDI version that serves the SAML routes.
const SINCE: CdiVersion = CdiVersion::new(5, 4);

pub fn routes(r: &mut Router) {
    let (t, k) = (Scope::Tenant, Checks::KEY_AND_VERSION);
    r.at("/recipe/saml/clients", t, k).put(handler!(create_or_update_client));
    r.at("/recipe/saml/clients/list", t, k).get(handler!(list_clients));
    r.at("/recipe/saml/clients/remove", t, k).post(handler!(remove_client));
    r.at("/recipe/saml/login", t, k).post(handler!(login));
    r.at("/recipe/saml/callback", t, k).post(handler!(callback));
    r.at("/recipe/saml/user", t, k).post(handler!(user));
    let a = Scope::App;
    r.at("/recipe/saml/legacy/authorize", a, k).get(handler!(legacy_authorize));
    r.at("/recipe/saml/legacy/callback", a, k).post(handler!(legacy_callback));
    // Called by the application's OAuth client, which holds no API key.
    r.at("/recipe/saml/legacy/token", a, Checks::VERSION).post(handler!(legacy_token));
    r.at("/recipe/saml/legacy/userinfo", a, Checks::VERSION).get(handler!(legacy_userinfo));
    // Fetched by IdPs and browsers: no API key (the reference's `checkAPIKey` is false).
    r.at("/.well-known/sp-metadata", t, Checks::VERSION).get(handler!(sp_metadata));
}

/// Below CDI 5.4 the routes do not exist.
fn served(ctx: &Ctx<'_>) -> Result<(), ApiError> {
    if ctx.version() < SINCE {
        return Err(ApiError::NotFound);
    }
    Ok(())
}

async fn create_or_update_client(ctx: &Ctx<'_>) -> HResult {
    served(ctx)?;
    let b = &ctx.body;
    let client_id = b.opt_string("clientId")?;
    let client_secret = b.opt_string("clientSecret")?;
    let default_redirect_uri = b.string("defaultRedirectURI")?;
    let invalid_uris = || ApiError::BadRequest("Field name 'redirectURIs' is invalid in JSON input".into());
    let redirect_uris = b.opt_string_array("redirectURIs").map_err(|_| invalid_uris())?.ok_or_else(invalid_uris)?;
    if redirect_uris.is_empty() {
        return Err(ApiError::BadRequest("redirectURIs is required in the input".into()));
    }
    let metadata_xml_b64 = b.string("metadataXML")?;
    let input = SamlClientInput {
        client_id,
        client_secret,
        default_redirect_uri,
        redirect_uris,
        metadata_xml_b64,
        allow_idp_initiated_login: b.opt_bool("allowIDPInitiatedLogin")?.unwrap_or(false),
        enable_request_signing: b.opt_bool("enableRequestSigning")?.unwrap_or(true),
    };
    match ctx.state.core.saml_create_or_update_client(&ctx.tenant, input).await? {
        SamlClientOutcome::Ok(c) => {
            let mut m = c.to_json();
            m.insert("status".into(), json!("OK"));
            Ok(Reply::Json(Value::Object(m)))
        }
        SamlClientOutcome::DuplicateIdpEntity => Ok(Reply::Json(json!({"status": "DUPLICATE_IDP_ENTITY_ERROR"}))),
    }
}

async fn list_clients(ctx: &Ctx<'_>) -> HResult {
    served(ctx)?;
    let clients: Vec<Value> =
        ctx.state.core.saml_clients(&ctx.tenant).await?.iter().map(|c| Value::Object(c.to_json())).collect();
    Ok(Reply::Json(json!({"status": "OK", "clients": clients})))
}

async fn remove_client(ctx: &Ctx<'_>) -> HResult {
    served(ctx)?;
    let id = ctx.body.string("clientId")?;
    let existed = ctx.state.core.saml_remove_client(&ctx.tenant, &id).await?;
    Ok(Reply::Json(json!({"status": "OK", "didExist": existed})))
}

async fn login(ctx: &Ctx<'_>) -> HResult {
    served(ctx)?;
    let b = &ctx.body;
    let client_id = b.string("clientId")?;
    let redirect_uri = b.string("redirectURI")?;
    let state = b.opt_string("state")?;
    let acs_url = b.string("acsURL")?;
    let outcome = ctx.state.core.saml_login(&ctx.tenant, &client_id, &redirect_uri, state.as_deref(), &acs_url).await?;
    Ok(Reply::Json(match outcome {
        SamlLoginOutcome::Ok(url) => json!({"status": "OK", "ssoRedirectURI": url}),
        SamlLoginOutcome::InvalidClient => json!({"status": "INVALID_CLIENT_ERROR"}),
    }))
}

async fn sp_metadata(ctx: &Ctx<'_>) -> HResult {
    served(ctx)?;
    let xml = ctx.state.core.saml_sp_metadata(&ctx.tenant).await?;
    // The reference's `println`: the document and a newline.
    Ok(Reply::Raw(HttpResponse::Ok().content_type("text/xml; charset=UTF-8").body(format!("{xml}\n"))))
}

async fn callback(ctx: &Ctx<'_>) -> HResult {
    served(ctx)?;
    let saml_response = ctx.body.string("samlResponse")?;
    let relay_state = ctx.body.opt_string("relayState")?;
    let outcome = ctx.state.core.saml_callback(&ctx.tenant, &saml_response, relay_state.as_deref(), None).await?;
    Ok(Reply::Json(match outcome {
        SamlCallbackOutcome::Ok(uri) => json!({"status": "OK", "redirectURI": uri}),
        other => json!({"status": callback_error(&other)}),
    }))
}

fn callback_error(o: &SamlCallbackOutcome) -> &'static str {
    match o {
        SamlCallbackOutcome::Ok(_) => "OK",
        SamlCallbackOutcome::InvalidRelayState => "INVALID_RELAY_STATE_ERROR",
        SamlCallbackOutcome::InvalidClient => "INVALID_CLIENT_ERROR",
        SamlCallbackOutcome::VerificationFailed => "SAML_RESPONSE_VERIFICATION_FAILED_ERROR",
        SamlCallbackOutcome::IdpLoginDisallowed => "IDP_LOGIN_DISALLOWED_ERROR",
    }
}

async fn user(ctx: &Ctx<'_>) -> HResult {
    served(ctx)?;
    let code = ctx.body.string("accessToken")?;
    let client_id = ctx.body.string("clientId")?;
    match ctx.state.core.saml_user_info(&ctx.tenant, &code, Some(&client_id), false).await? {
        SamlUserOutcome::Ok(mut m) => {
            m.insert("status".into(), json!("OK"));
            Ok(Reply::Json(Value::Object(m)))
        }
        SamlUserOutcome::InvalidToken => Ok(Reply::Json(json!({"status": "INVALID_TOKEN_ERROR"}))),
    }
}

/// A redirect to `location` with `status` (302/307).
fn redirect(status: u16, location: &str) -> HResult {
    let code = actix_web::http::StatusCode::from_u16(status).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(Reply::Raw(HttpResponse::build(code).insert_header(("Location", location)).finish()))
}

/// A plain-text answer (the legacy routes' errors).
fn text(status: u16, msg: &str) -> HResult {
    let code = actix_web::http::StatusCode::from_u16(status).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(Reply::Raw(crate::error::text(code, msg)))
}

/// The servlet API's `getParameter`: a form body's field, else the query's.
fn form_param(ctx: &Ctx<'_>, name: &str) -> Option<String> {
    let is_form = ctx
        .request
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("application/x-www-form-urlencoded"));
    if is_form {
        if let Some(v) = Query::parse(&String::from_utf8_lossy(ctx.raw_body)).opt_string(name) {
            return Some(v);
        }
    }
    ctx.query.opt_string(name)
}

async fn legacy_authorize(ctx: &Ctx<'_>) -> HResult {
    served(ctx)?;
    let client_id = ctx.query.string("client_id")?;
    let redirect_uri = ctx.query.string("redirect_uri")?;
    let state = ctx.query.opt_string("state");
    let Some(acs_url) = ctx.state.core.saml_legacy_acs_url(&ctx.tenant.app).await? else {
        // The reference fails (500) on the missing config; it is the request's app that lacks it.
        return Err(ApiError::BadRequest("saml_legacy_acs_url is not configured".into()));
    };
    let outcome = ctx.state.core.saml_login(&ctx.tenant, &client_id, &redirect_uri, state.as_deref(), &acs_url).await?;
    match outcome {
        SamlLoginOutcome::Ok(url) => redirect(307, &url),
        SamlLoginOutcome::InvalidClient => Ok(Reply::Json(json!({"status": "INVALID_CLIENT_ERROR"}))),
    }
}

async fn legacy_callback(ctx: &Ctx<'_>) -> HResult {
    served(ctx)?;
    let saml_response = form_param(ctx, "SAMLResponse").or_else(|| form_param(ctx, "samlResponse"));
    let relay_state = form_param(ctx, "RelayState").or_else(|| form_param(ctx, "relayState"));
    let Some(saml_response) = saml_response.filter(|s| !s.trim().is_empty()) else {
        return Err(ApiError::BadRequest("Missing form field: SAMLResponse".into()));
    };
    let acs_url = ctx.state.core.saml_legacy_acs_url(&ctx.tenant.app).await?;
    let outcome =
        ctx.state.core.saml_callback(&ctx.tenant, &saml_response, relay_state.as_deref(), acs_url.as_deref()).await?;
    match outcome {
        SamlCallbackOutcome::Ok(uri) => redirect(302, &uri),
        other => text(400, callback_error(&other)),
    }
}

async fn legacy_token(ctx: &Ctx<'_>) -> HResult {
    served(ctx)?;
    let field = |name: &str| {
        form_param(ctx, name)
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| ApiError::BadRequest(format!("Missing form field: {name}")))
    };
    let client_id = field("client_id")?;
    let client_secret = field("client_secret")?;
    let code = field("code")?;
    let Some(client) = ctx.state.core.saml_client(&ctx.tenant, &client_id).await? else {
        return Err(ApiError::BadRequest("Invalid client_id".into()));
    };
    let secret_ok = client.0.client_secret.as_deref().is_some_and(|s| st_core::random::ct_eq(s, &client_secret));
    if !secret_ok {
        return Err(ApiError::BadRequest("Invalid client_secret".into()));
    }
    // The reference's access token: the code and the client id.
    Ok(Reply::Json(json!({"status": "OK", "access_token": format!("{code}.{client_id}")})))
}

async fn legacy_userinfo(ctx: &Ctx<'_>) -> HResult {
    served(ctx)?;
    let header = ctx.request.headers().get("authorization").and_then(|v| v.to_str().ok());
    let Some(token) = header.and_then(|h| h.strip_prefix("Bearer ")) else {
        return Err(ApiError::BadRequest("Authorization header is required".into()));
    };
    // Java's `split("[.]")`: trailing empty parts dropped, the first two used.
    let parts: Vec<&str> = token.split('.').collect();
    let (Some(code), Some(client_id)) = (parts.first(), parts.get(1).filter(|c| !c.is_empty())) else {
        return text(400, "INVALID_TOKEN_ERROR");
    };
    match ctx.state.core.saml_user_info(&ctx.tenant, code, Some(client_id), true).await? {
        SamlUserOutcome::Ok(m) => Ok(Reply::Json(Value::Object(m))),
        SamlUserOutcome::InvalidToken => text(400, "INVALID_TOKEN_ERROR"),
    }
}
