//! SAML endpoints (§a.19, rid `saml`): the IdP clients of a tenant, the SP-initiated login and
//! the SP metadata document. Tenant-scoped, served from CDI 5.4 (404 `Not found` below, as the
//! SDKs call them from there on).

use crate::ctx::{Ctx, HResult, Reply};
use crate::error::ApiError;
use crate::router::{handler, Checks, Router, Scope};
use actix_web::HttpResponse;
use serde_json::{json, Value};
use st_core::cdi::CdiVersion;
use st_core::saml::{SamlClientInput, SamlClientOutcome, SamlLoginOutcome};

/// The first CDI version that serves the SAML routes.
const SINCE: CdiVersion = CdiVersion::new(5, 4);

pub fn routes(r: &mut Router) {
    let (t, k) = (Scope::Tenant, Checks::KEY_AND_VERSION);
    r.at("/recipe/saml/clients", t, k).put(handler!(create_or_update_client));
    r.at("/recipe/saml/clients/list", t, k).get(handler!(list_clients));
    r.at("/recipe/saml/clients/remove", t, k).post(handler!(remove_client));
    r.at("/recipe/saml/login", t, k).post(handler!(login));
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
