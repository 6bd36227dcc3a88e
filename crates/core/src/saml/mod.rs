//! SAML single sign-on (§a.19, CDI 5.4): a tenant's IdP clients, made from the IdP's
//! metadata; the SP-initiated login (an AuthnRequest by the HTTP-Redirect binding, optionally
//! signed with the app's SP key); the SP metadata document; the cron job removing expired
//! relay states and claims.
//!
//! - [`xml`]: the XML the SP reads (IdP metadata) and writes (AuthnRequest, SP metadata).
//! - [`sp_key`]: the app's SP key pair and certificate, in `key_value` as the Java core keeps
//!   them.

pub mod sp_key;
pub mod xml;

use crate::error::{CoreError, CoreResult};
use crate::ids::TenantIdentifier;
use crate::jobs::ExpiryJob;
use crate::storage::{SamlClientRow, SamlClientUpsert, SamlRelayStateRow};
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
    fn datetime_with_millis() {
        assert_eq!(xml_datetime_ms(1_709_251_199_009), "2024-02-29T23:59:59.009Z");
    }
}
