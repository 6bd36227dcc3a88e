//! SAML single sign-on (§a.19, CDI 5.4): a tenant's IdP clients, made from the IdP's
//! metadata; the SP-initiated login (an AuthnRequest by the HTTP-Redirect binding, optionally
//! signed with the app's SP key); the SP metadata document; the cron job removing expired
//! relay states and claims.
//!
//! - [`xml`]: the XML the SP reads (IdP metadata) and writes (AuthnRequest, SP metadata).
//! - [`sp_key`]: the app's SP key pair and certificate, in `key_value` as the Java core keeps
//!   them.
//! - [`verify`]: the IdP's response verified (xmlsec through samael, and the checks around it).
//!
//! The callback verifies the response, accepts its assertion id once per app (a storage
//! intent shared by instances) and stores its claims under a one-time code, which
//! `/recipe/saml/user` (or the legacy token/userinfo pair) redeems.

pub mod sp_key;
pub mod verify;
pub mod xml;

use crate::error::{CoreError, CoreResult};
use crate::ids::TenantIdentifier;
use crate::jobs::ExpiryJob;
use crate::storage::{SamlClaimsRow, SamlClientRow, SamlClientUpsert, SamlRelayStateRow};
use crate::Core;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Map, Value};
use std::time::Duration;

/// `DeleteExpiredSAMLData`: expired relay states and claims, hourly.
pub const DELETE_EXPIRED_SAML_DATA: ExpiryJob = ExpiryJob {
    name: "DeleteExpiredSAMLData",
    interval: Duration::from_secs(3600),
    delete: |core, now| Box::pin(core.delete_expired_saml_data(now)),
};

const MALFORMED_METADATA: &str = "metadataXML does not have a valid SAML metadata";

/// A client as the routes answer it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SamlClient(pub SamlClientRow);

impl SamlClient {
    /// The reference's `SAMLClient.toJson()` (field order included).
    pub fn to_json(&self) -> Map<String, Value> {
        let c = &self.0;
        let mut m = Map::new();
        m.insert("clientId".into(), json!(c.client_id));
        if let Some(s) = &c.client_secret {
            m.insert("clientSecret".into(), json!(s));
        }
        m.insert("defaultRedirectURI".into(), json!(c.default_redirect_uri));
        m.insert("redirectURIs".into(), json!(c.redirect_uris));
        m.insert("idpEntityId".into(), json!(c.idp_entity_id));
        m.insert("idpSigningCertificate".into(), json!(c.idp_signing_certificate));
        m.insert("allowIDPInitiatedLogin".into(), json!(c.allow_idp_initiated_login));
        m.insert("enableRequestSigning".into(), json!(c.enable_request_signing));
        m
    }
}

/// What `PUT /recipe/saml/clients` asks for (already shaped by the handler).
#[derive(Debug, Clone)]
pub struct SamlClientInput {
    /// `None`: a new id `st_saml_<uuid>`.
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub default_redirect_uri: String,
    pub redirect_uris: Vec<String>,
    /// Base64 of the IdP's metadata XML.
    pub metadata_xml_b64: String,
    pub allow_idp_initiated_login: bool,
    pub enable_request_signing: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SamlClientOutcome {
    Ok(SamlClient),
    DuplicateIdpEntity,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SamlLoginOutcome {
    /// Where to send the browser: the IdP's SSO URL with `SAMLRequest` and `RelayState`.
    Ok(String),
    /// Unknown client, or a redirect URI it does not allow.
    InvalidClient,
}

/// The outcome of the assertion consumer callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SamlCallbackOutcome {
    /// Where to send the browser: the login's redirect URI with `code` (and `state`).
    Ok(String),
    InvalidRelayState,
    InvalidClient,
    VerificationFailed,
    IdpLoginDisallowed,
}

/// The outcome of redeeming a code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SamlUserOutcome {
    /// `claims`, `sub` (legacy: `id`) and `email` when found, `aud` (the client id).
    Ok(Map<String, Value>),
    InvalidToken,
}

/// The message of a response that cannot be parsed (the reference's 400).
pub const MALFORMED_RESPONSE: &str = "Invalid or malformed SAML response input";

/// `redirect_uri` with `code` and `state` added to its query (before any fragment).
fn with_code(redirect_uri: &str, code: &str, state: Option<&str>) -> String {
    let (base, fragment) = match redirect_uri.split_once('#') {
        Some((b, f)) => (b, Some(f)),
        None => (redirect_uri, None),
    };
    let mut out = base.to_string();
    let has_query = base.split_once('?').is_some_and(|(_, q)| !q.is_empty());
    if base.ends_with('?') || !base.contains('?') {
        if !base.ends_with('?') {
            out.push('?');
        }
    } else if has_query {
        out.push('&');
    }
    out.push_str("code=");
    out.push_str(&xml::java_url_encode(code));
    if let Some(state) = state {
        out.push_str("&state=");
        out.push_str(&xml::java_url_encode(state));
    }
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    out
}

/// The first value of claim `name`.
fn first_claim<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    claims.get(name)?.as_array()?.first()?.as_str()
}

/// `xs:dateTime` in UTC with milliseconds (`2024-05-06T07:08:09.123Z`), as OpenSAML writes it.
pub(crate) fn xml_datetime_ms(ms: i64) -> String {
    let base = crate::oauth::rfc3339_seconds(ms);
    format!("{}.{:03}Z", base.trim_end_matches('Z'), ms.rem_euclid(1000))
}

impl Core {
    /// Create or replace a client from the IdP's metadata.
    pub async fn saml_create_or_update_client(
        &self,
        tenant: &TenantIdentifier,
        input: SamlClientInput,
    ) -> CoreResult<SamlClientOutcome> {
        let bad = || CoreError::bad(MALFORMED_METADATA);
        let bytes = STANDARD.decode(input.metadata_xml_b64.as_bytes()).map_err(|_| bad())?;
        // The reference decodes as UTF-8 with replacement; a parser then refuses what is broken.
        let xml = String::from_utf8_lossy(&bytes);
        let meta = xml::parse_idp_metadata(&xml).ok_or_else(bad)?;
        let client_id = match input.client_id {
            Some(id) => id,
            None => format!("st_saml_{}", crate::random::uuid_v4(self.rng.as_ref())),
        };
        let row = SamlClientRow {
            client_id,
            client_secret: input.client_secret,
            sso_login_url: meta.sso_url,
            redirect_uris: input.redirect_uris,
            default_redirect_uri: input.default_redirect_uri,
            idp_entity_id: meta.entity_id,
            idp_signing_certificate: meta.signing_certificate,
            allow_idp_initiated_login: input.allow_idp_initiated_login,
            enable_request_signing: input.enable_request_signing,
        };
        match self.storage.upsert_saml_client(tenant, &row, self.now()).await? {
            SamlClientUpsert::DuplicateEntityId => Ok(SamlClientOutcome::DuplicateIdpEntity),
            SamlClientUpsert::Saved => {
                let saved = self.storage.get_saml_client(tenant, &row.client_id).await?.unwrap_or(row);
                Ok(SamlClientOutcome::Ok(SamlClient(saved)))
            }
        }
    }

    /// The tenant's clients, oldest first.
    pub async fn saml_clients(&self, tenant: &TenantIdentifier) -> CoreResult<Vec<SamlClient>> {
        Ok(self.storage.list_saml_clients(tenant).await?.into_iter().map(SamlClient).collect())
    }

    /// Remove a client; whether it existed.
    pub async fn saml_remove_client(&self, tenant: &TenantIdentifier, client_id: &str) -> CoreResult<bool> {
        Ok(self.storage.remove_saml_client(tenant, client_id).await?)
    }

    /// Start an SP-initiated login: record the relay state and build the IdP redirect.
    pub async fn saml_login(
        &self,
        tenant: &TenantIdentifier,
        client_id: &str,
        redirect_uri: &str,
        state: Option<&str>,
        acs_url: &str,
    ) -> CoreResult<SamlLoginOutcome> {
        let cfg = self.tenant(tenant).await?.config.clone();
        let Some(client) = self.storage.get_saml_client(tenant, client_id).await? else {
            return Ok(SamlLoginOutcome::InvalidClient);
        };
        if !client.redirect_uris.iter().any(|u| u == redirect_uri) {
            return Ok(SamlLoginOutcome::InvalidClient);
        }
        let sp_entity_id = cfg.string("saml_sp_entity_id").unwrap_or_default();
        let now = self.now();
        let id = format!("_{}", crate::random::uuid_v4(self.rng.as_ref()));
        let at = xml_datetime_ms(now);
        let request = xml::AuthnRequest {
            id: &id,
            issue_instant: &at,
            destination: &client.sso_login_url,
            acs_url,
            sp_entity_id: &sp_entity_id,
        };
        let xml = if client.enable_request_signing {
            let key = self.saml_sp_key(&tenant.app).await?;
            let cert = key.certificate_b64();
            let sign = |m: &[u8]| key.sign(m);
            xml::authn_request(&request, Some(&xml::Signer { certificate_b64: &cert, sign: &sign }))
        } else {
            xml::authn_request(&request, None)
        }
        .map_err(|e| CoreError::Internal(format!("cannot build the SAML AuthnRequest: {e}")))?;
        let saml_request = xml::deflate_base64(&xml).map_err(CoreError::Internal)?;
        let relay_state = crate::random::uuid_v4(self.rng.as_ref());
        let validity = cfg.int("saml_relay_state_validity");
        let row = SamlRelayStateRow {
            relay_state: relay_state.clone(),
            client_id: client_id.to_string(),
            state: state.map(str::to_string),
            redirect_uri: redirect_uri.to_string(),
            request_id: Some(id.clone()),
            acs_url: Some(acs_url.to_string()),
        };
        self.storage.save_saml_relay_state(tenant, &row, now, now.saturating_add(validity)).await?;
        Ok(SamlLoginOutcome::Ok(format!(
            "{}?SAMLRequest={}&RelayState={}",
            client.sso_login_url,
            xml::java_url_encode(&saml_request),
            xml::java_url_encode(&relay_state)
        )))
    }

    /// The SP metadata document of the tenant (entity id from its config, the app's SP
    /// certificate).
    pub async fn saml_sp_metadata(&self, tenant: &TenantIdentifier) -> CoreResult<String> {
        let cfg = self.tenant(tenant).await?.config.clone();
        let key = self.saml_sp_key(&tenant.app).await?;
        let valid_until = xml_datetime_seconds(key.not_after_ms);
        Ok(xml::sp_metadata(&cfg.string("saml_sp_entity_id").unwrap_or_default(), &key.certificate_b64(), &valid_until))
    }

    /// The assertion consumer callback: the IdP's response (base64 of the XML, as posted)
    /// verified for the login of `relay_state` (SP-initiated) or, without one, for the client of
    /// the IdP it names (IdP-initiated, when that client allows it); its claims stored under a
    /// new one-time code. `acs_url`: the ACS URL of an IdP-initiated login when known (the
    /// legacy route's configured one). A response that cannot be parsed is a 400.
    pub async fn saml_callback(
        &self,
        tenant: &TenantIdentifier,
        saml_response: &str,
        relay_state: Option<&str>,
        acs_url: Option<&str>,
    ) -> CoreResult<SamlCallbackOutcome> {
        let parsed = verify::parse_response(saml_response).map_err(|_| CoreError::bad(MALFORMED_RESPONSE))?;
        let cfg = self.tenant(tenant).await?.config.clone();
        let now = self.now();
        let (client, relay) = match relay_state.filter(|r| !r.is_empty()) {
            Some(rs) => {
                let Some(relay) = self.storage.get_saml_relay_state(tenant, rs, now).await? else {
                    return Ok(SamlCallbackOutcome::InvalidRelayState);
                };
                let Some(client) = self.storage.get_saml_client(tenant, &relay.client_id).await? else {
                    return Ok(SamlCallbackOutcome::InvalidClient);
                };
                (client, Some(relay))
            }
            None => {
                let Some(issuer) = parsed.issuer.as_deref() else {
                    return Ok(SamlCallbackOutcome::InvalidClient);
                };
                let Some(client) = self.storage.get_saml_client_by_entity_id(tenant, issuer).await? else {
                    return Ok(SamlCallbackOutcome::InvalidClient);
                };
                if !client.allow_idp_initiated_login {
                    return Ok(SamlCallbackOutcome::IdpLoginDisallowed);
                }
                (client, None)
            }
        };
        let Ok(certificate_der) = STANDARD.decode(client.idp_signing_certificate.as_bytes()) else {
            return Ok(SamlCallbackOutcome::VerificationFailed);
        };
        let sp_entity_id = cfg.string("saml_sp_entity_id").unwrap_or_default();
        let request = match &relay {
            Some(r) => r.request_id.as_deref().map_or(verify::ExpectedRequest::Unknown, verify::ExpectedRequest::Id),
            None => verify::ExpectedRequest::Unsolicited,
        };
        let expected = verify::Expected {
            certificate_der: &certificate_der,
            idp_entity_id: &client.idp_entity_id,
            sp_entity_id: &sp_entity_id,
            acs_url: relay.as_ref().map_or(acs_url, |r| r.acs_url.as_deref()),
            request,
            now_ms: now,
        };
        let verified = match verify::verify_response(&parsed, &expected) {
            Ok(v) => v,
            Err(verify::Refused(why)) => {
                tracing::info!(client_id = %client.client_id, "SAML response refused: {why}");
                return Ok(SamlCallbackOutcome::VerificationFailed);
            }
        };
        let code = crate::random::uuid_v4(self.rng.as_ref());
        let row = SamlClaimsRow {
            code: code.clone(),
            client_id: client.client_id.clone(),
            claims: Value::Object(verified.claims).to_string(),
        };
        let validity = cfg.int("saml_claims_validity");
        let fresh = self
            .storage
            .save_saml_claims_once(
                tenant,
                &verified.id,
                verified.valid_until_ms,
                &row,
                now,
                now.saturating_add(validity),
            )
            .await?;
        if !fresh {
            tracing::info!(client_id = %client.client_id, "SAML response refused: assertion replayed");
            return Ok(SamlCallbackOutcome::VerificationFailed);
        }
        let (redirect_uri, state) = match &relay {
            Some(r) => (r.redirect_uri.as_str(), r.state.as_deref()),
            None => (client.default_redirect_uri.as_str(), None),
        };
        Ok(SamlCallbackOutcome::Ok(with_code(redirect_uri, &code, state)))
    }

    /// Redeem a callback's code (once) for the user it signed in: the reference's payload
    /// (`claims`, `sub` — `id` for the legacy routes —, `email`, `aud`). `client_id`, when
    /// given, must be the code's client.
    pub async fn saml_user_info(
        &self,
        tenant: &TenantIdentifier,
        code: &str,
        client_id: Option<&str>,
        legacy: bool,
    ) -> CoreResult<SamlUserOutcome> {
        let Some(row) = self.storage.take_saml_claims(tenant, code, self.now()).await? else {
            return Ok(SamlUserOutcome::InvalidToken);
        };
        if client_id.is_some_and(|c| c != row.client_id) {
            return Ok(SamlUserOutcome::InvalidToken);
        }
        let claims: Map<String, Value> = serde_json::from_str(&row.claims).unwrap_or_default();
        let sub = first_claim(&claims, "NameID")
            .or_else(|| first_claim(&claims, "http://schemas.microsoft.com/identity/claims/objectidentifier"))
            .or_else(|| first_claim(&claims, "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"))
            .map(str::to_string);
        let email = first_claim(&claims, "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress")
            .or_else(|| first_claim(&claims, "mail"))
            .or_else(|| first_claim(&claims, "email"))
            .or_else(|| first_claim(&claims, "NameID").filter(|n| n.contains('@')))
            .map(str::to_string);
        // Gson leaves out the null properties.
        let mut out = Map::new();
        out.insert("claims".into(), Value::Object(claims));
        if let Some(sub) = sub {
            out.insert(if legacy { "id" } else { "sub" }.into(), json!(sub));
        }
        if let Some(email) = email {
            out.insert("email".into(), json!(email));
        }
        out.insert("aud".into(), json!(row.client_id));
        Ok(SamlUserOutcome::Ok(out))
    }

    /// A client of the tenant (the legacy token route checks its secret).
    pub async fn saml_client(&self, tenant: &TenantIdentifier, client_id: &str) -> CoreResult<Option<SamlClient>> {
        Ok(self.storage.get_saml_client(tenant, client_id).await?.map(SamlClient))
    }

    /// The app's `saml_legacy_acs_url`.
    pub async fn saml_legacy_acs_url(&self, app: &crate::ids::AppId) -> CoreResult<Option<String>> {
        let cfg = self.tenant(&TenantIdentifier::app_public(app)).await?.config.clone();
        Ok(cfg.string("saml_legacy_acs_url"))
    }

    /// The cron job's intent: relay states and claims expired at `now`.
    pub async fn delete_expired_saml_data(&self, now: i64) -> CoreResult<u64> {
        Ok(self.storage.delete_expired_saml_data(now).await?)
    }
}

/// `ISO_INSTANT` at whole seconds (`2034-05-06T07:08:09Z`), as the reference's `validUntil`.
fn xml_datetime_seconds(ms: i64) -> String {
    crate::oauth::rfc3339_seconds(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_in_the_query() {
        assert_eq!(with_code("https://a.example/cb", "c", None), "https://a.example/cb?code=c");
        assert_eq!(
            with_code("https://a.example/cb?x=1#f", "c", Some("s t")),
            "https://a.example/cb?x=1&code=c&state=s+t#f"
        );
        assert_eq!(with_code("https://a.example/cb?", "c", None), "https://a.example/cb?code=c");
    }

    #[test]
    fn datetime_with_millis() {
        assert_eq!(xml_datetime_ms(1_709_251_199_009), "2024-02-29T23:59:59.009Z");
    }
}
