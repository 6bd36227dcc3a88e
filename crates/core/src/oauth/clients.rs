//! OAuth2 clients: Hydra's client model (the fields the reference passes on, camelCase, with
//! Hydra's defaults and validation), stored in `oauth_clients` (id, encrypted secret, flags) and
//! `oauth_client_configs` (the rest).
//!
//! The secret: the reference returns it on every read (`GET /recipe/oauth/clients`, the list),
//! so it cannot be stored hashed; it is stored as the reference stores it, AES-256-GCM under a
//! key derived from `oauth_client_secret_encryption_key` (PBKDF2-HMAC-SHA512, the IV as salt),
//! so a database either core wrote is read by the other. Without that key set, an operation that
//! needs it is a 500, as in the reference.

use super::{invalid_metadata, invalid_request, rfc3339_seconds, OAuthRefusal};
use crate::core::Core;
use crate::error::{CoreError, CoreResult};
use crate::ids::AppId;
use crate::storage::{ClientUpdateOutcome, OAuthClientRow};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Map, Value};

/// Client secrets this instance has decrypted, by (encryption key, stored ciphertext). The
/// reference's format derives the AES key with PBKDF2 (100 rounds of HMAC-SHA512) per secret,
/// which was a tenth of a client-credentials token's CPU; the ciphertext carries its own IV, so
/// a changed secret is a new entry, and the encryption key is part of the entry's key, so a
/// changed key setting never reads an old entry. Holding what the process can decrypt at any
/// time anyway, in its memory only; at most [`SecretCache::CAPACITY`] entries (emptied when
/// full, no eviction order to keep).
#[derive(Default)]
pub struct SecretCache {
    /// By ciphertext: (the encryption key it was decrypted with, the secret).
    entries: std::sync::Mutex<std::collections::HashMap<String, (String, String)>>,
}

impl SecretCache {
    pub const CAPACITY: usize = 1024;

    fn entries(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, (String, String)>> {
        // A map left half-updated by a panic is still a map of correct entries.
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn get(&self, key: &str, ciphertext: &str) -> Option<String> {
        match self.entries().get(ciphertext) {
            Some((k, plain)) if k == key => Some(plain.clone()),
            _ => None,
        }
    }

    fn put(&self, key: &str, ciphertext: &str, plain: &str) {
        let mut entries = self.entries();
        if entries.len() >= Self::CAPACITY {
            entries.clear();
        }
        entries.insert(ciphertext.to_string(), (key.to_string(), plain.to_string()));
    }
}

/// Hydra's default client scope.
pub const DEFAULT_SCOPE: &str = "offline_access offline openid";
/// Default and largest page of `GET /recipe/oauth/clients/list` (Hydra's).
pub const DEFAULT_PAGE_SIZE: usize = 250;
pub const MAX_PAGE_SIZE: usize = 500;
/// The longest client id `oauth_clients.client_id` holds.
pub const MAX_CLIENT_ID_CHARS: usize = 255;

/// The token lifespans the reference passes on (Go durations such as `"1h"`, or null).
pub const LIFESPANS: [&str; 9] = [
    "authorizationCodeGrantAccessTokenLifespan",
    "authorizationCodeGrantIdTokenLifespan",
    "authorizationCodeGrantRefreshTokenLifespan",
    "clientCredentialsGrantAccessTokenLifespan",
    "implicitGrantAccessTokenLifespan",
    "implicitGrantIdTokenLifespan",
    "refreshTokenGrantAccessTokenLifespan",
    "refreshTokenGrantIdTokenLifespan",
    "refreshTokenGrantRefreshTokenLifespan",
];

const AUTH_METHODS: [&str; 3] = ["client_secret_basic", "client_secret_post", "none"];

/// A client as the domain sees it: the secret in clear.
#[derive(Debug, Clone, PartialEq)]
pub struct OAuthClient {
    pub client_id: String,
    pub client_secret: Option<String>,
    pub is_client_credentials_only: bool,
    pub enable_refresh_token_rotation: bool,
    /// Normalised configuration (see [`normalise`]), without the secret.
    pub config: Map<String, Value>,
}

impl OAuthClient {
    /// The client as the reference answers it: Hydra's whitelisted fields, `clientSecret`
    /// after `clientName` (absent for a public client unless `null_secret`, where the
    /// reference writes `null`), then `enableRefreshTokenRotation`.
    pub fn to_json(&self, null_secret: bool) -> Map<String, Value> {
        let mut out = Map::new();
        for (k, v) in &self.config {
            out.insert(k.clone(), v.clone());
            if k == "clientName" {
                match &self.client_secret {
                    Some(s) => {
                        out.insert("clientSecret".into(), json!(s));
                    }
                    None if null_secret => {
                        out.insert("clientSecret".into(), Value::Null);
                    }
                    None => {}
                }
            }
        }
        out.insert("enableRefreshTokenRotation".into(), json!(self.enable_refresh_token_rotation));
        out
    }

    /// Whether the client may use `grant_type` (Hydra: none listed means authorization code).
    pub fn allows_grant(&self, grant_type: &str) -> bool {
        match self.config.get("grantTypes").and_then(Value::as_array) {
            Some(g) if !g.is_empty() => g.iter().any(|v| v.as_str() == Some(grant_type)),
            _ => grant_type == "authorization_code",
        }
    }

    /// `tokenEndpointAuthMethod`.
    pub fn auth_method(&self) -> &str {
        self.config.get("tokenEndpointAuthMethod").and_then(Value::as_str).unwrap_or("client_secret_basic")
    }
}

/// Outcome of a create or update.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientOutcome {
    Ok(OAuthClient),
    NotFound,
    Refused(OAuthRefusal),
}

/// A page of clients and the token of the next page.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientPage {
    pub clients: Vec<OAuthClient>,
    pub next_page_token: Option<String>,
}

fn string_field(input: &Map<String, Value>, field: &str, default: &str) -> Result<String, OAuthRefusal> {
    match input.get(field) {
        None | Some(Value::Null) => Ok(default.to_string()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(invalid_request(&format!("Unable to decode the request body: field {field} must be a string."))),
    }
}

fn string_array(input: &Map<String, Value>, field: &str) -> Result<Vec<String>, OAuthRefusal> {
    let bad =
        || invalid_request(&format!("Unable to decode the request body: field {field} must be an array of strings."));
    match input.get(field) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items.iter().map(|v| v.as_str().map(str::to_string).ok_or_else(bad)).collect(),
        Some(_) => Err(bad()),
    }
}

/// A Go duration (`1h`, `30m`, `1h30m0s`, `500ms`), the lifespans' format.
fn is_go_duration(s: &str) -> bool {
    let mut rest = s;
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return false;
        }
        rest = &rest[digits..];
        let Some(unit) = ["ns", "us", "µs", "ms", "s", "m", "h"].iter().find(|u| rest.starts_with(**u)) else {
            return false;
        };
        rest = &rest[unit.len()..];
    }
    true
}

/// An absolute URL without a fragment.
fn parse_redirect(uri: &str) -> Option<url::Url> {
    let u = url::Url::parse(uri).ok()?;
    (u.fragment().is_none() && !u.cannot_be_a_base()).then_some(u)
}

/// Hydra's client, normalised from `input` (the request's camelCase fields; unknown ones
/// ignored) with its defaults and validation, in the reference's answer order. `secret` is the
/// client's secret (its length is checked).
pub fn normalise(
    input: &Map<String, Value>,
    client_id: &str,
    secret: Option<&str>,
    created_at: &str,
    updated_at: &str,
) -> Result<Map<String, Value>, OAuthRefusal> {
    let method = string_field(input, "tokenEndpointAuthMethod", "")?;
    let method = if method.is_empty() { "client_secret_basic".to_string() } else { method };
    if method == "private_key_jwt" {
        return Err(invalid_metadata(
            "When token_endpoint_auth_method is 'private_key_jwt', either jwks or jwks_uri must be set.",
        ));
    }
    if !AUTH_METHODS.contains(&method.as_str()) {
        return Err(invalid_metadata(&format!(
            "Field token_endpoint_auth_method has an unsupported value {method:?}."
        )));
    }
    if let Some(s) = secret {
        if !s.is_empty() && s.chars().count() < 6 {
            return Err(invalid_metadata(
                "Field client_secret must contain a secret that is at least 6 characters long.",
            ));
        }
    }
    let redirects = string_array(input, "redirectUris")?;
    let mut parsed = Vec::new();
    for r in &redirects {
        match parse_redirect(r) {
            Some(u) => parsed.push(u),
            None => return Err(invalid_metadata(&format!("Unable to parse redirect URL: {r}"))),
        }
    }
    let post_logout = string_array(input, "postLogoutRedirectUris")?;
    for l in &post_logout {
        let Some(u) = parse_redirect(l) else {
            return Err(invalid_metadata(&format!("Unable to parse post_logout_redirect_uri: {l}")));
        };
        let same_origin = |r: &url::Url| {
            r.scheme() == u.scheme()
                && r.host_str() == u.host_str()
                && r.port_or_known_default() == u.port_or_known_default()
        };
        if !parsed.iter().any(same_origin) {
            return Err(invalid_metadata(&format!(
                "post_logout_redirect_uri {l:?} must match the domain, port, scheme of at least one of the registered redirect URIs but did not"
            )));
        }
    }
    let mut uris = Vec::new();
    for (field, hydra) in
        [("policyUri", "policy_uri"), ("tosUri", "tos_uri"), ("clientUri", "client_uri"), ("logoUri", "logo_uri")]
    {
        let v = string_field(input, field, "")?;
        if !v.is_empty() {
            match url::Url::parse(&v) {
                Ok(u) if u.scheme() == "http" || u.scheme() == "https" => {}
                Ok(_) => {
                    return Err(invalid_metadata(&format!(
                        "{v} must use https:// or http:// as HTTP scheme for field {hydra}."
                    )));
                }
                Err(_) => return Err(invalid_metadata(&format!("Field {hydra} must be a valid URI."))),
            }
        }
        uris.push((field, v));
    }
    let mut origins = Vec::new();
    for o in string_array(input, "allowedCorsOrigins")? {
        match url::Url::parse(&o) {
            Ok(u)
                if (u.scheme() == "http" || u.scheme() == "https")
                    && u.username().is_empty()
                    && u.password().is_none()
                    && u.path().trim_end_matches('/').is_empty()
                    && u.query().is_none()
                    && u.fragment().is_none() =>
            {
                origins.push(u.origin().ascii_serialization())
            }
            _ => {
                return Err(invalid_metadata(&format!(
                    "Origin URL {o} from allowed_cors_origins is not a valid origin."
                )));
            }
        }
    }
    let scope = string_field(input, "scope", "")?;
    let metadata = match input.get("metadata") {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(v @ Value::Object(_)) => v.clone(),
        Some(_) => return Err(invalid_request("Unable to decode the request body: field metadata must be an object.")),
    };
    let mut c = Map::new();
    c.insert("clientId".into(), json!(client_id));
    c.insert("clientName".into(), json!(string_field(input, "clientName", "")?));
    c.insert("redirectUris".into(), json!(redirects));
    c.insert("grantTypes".into(), json!(string_array(input, "grantTypes")?));
    c.insert("responseTypes".into(), json!(string_array(input, "responseTypes")?));
    c.insert("scope".into(), json!(if scope.is_empty() { DEFAULT_SCOPE.to_string() } else { scope }));
    c.insert("audience".into(), json!(string_array(input, "audience")?));
    let mut uris = uris.into_iter();
    if let Some((k, v)) = uris.next() {
        c.insert(k.into(), json!(v)); // policyUri
    }
    c.insert("allowedCorsOrigins".into(), json!(origins));
    for (k, v) in uris {
        c.insert(k.into(), json!(v)); // tosUri, clientUri, logoUri
    }
    c.insert("tokenEndpointAuthMethod".into(), json!(method));
    c.insert("createdAt".into(), json!(created_at));
    c.insert("updatedAt".into(), json!(updated_at));
    if !post_logout.is_empty() {
        c.insert("postLogoutRedirectUris".into(), json!(post_logout));
    }
    c.insert("metadata".into(), metadata);
    for field in LIFESPANS {
        let v = string_field(input, field, "")?;
        if v.is_empty() {
            c.insert(field.into(), Value::Null);
        } else if is_go_duration(&v) {
            c.insert(field.into(), json!(v));
        } else {
            return Err(invalid_request(&format!(
                "Unable to decode the request body: field {field} must be a duration such as \"1h\"."
            )));
        }
    }
    Ok(c)
}

/// Whether the grant types are exactly `["client_credentials"]` (the reference's flag).
fn client_credentials_only(config: &Map<String, Value>) -> bool {
    matches!(config.get("grantTypes").and_then(Value::as_array), Some(g) if g.len() == 1 && g[0] == "client_credentials")
}

/// A secret as Hydra generates one: 26 alphanumeric characters.
fn generate_secret(rng: &dyn crate::random::Random) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut out = String::with_capacity(26);
    while out.len() < 26 {
        for b in crate::random::bytes::<32>(rng) {
            // Rejection sampling: 248 = 4 × 62, so every character is equally likely.
            if b < 248 && out.len() < 26 {
                out.push(char::from(ALPHABET[usize::from(b % 62)]));
            }
        }
    }
    out
}

/// The token of the page after `last_id`.
fn token_after(last_id: &str) -> String {
    URL_SAFE_NO_PAD.encode(last_id.as_bytes())
}

impl Core {
    /// The app's `oauth_client_secret_encryption_key` (a 500 when unset, as the reference).
    async fn oauth_secret_key(&self, app: &AppId) -> CoreResult<String> {
        self.app_config(app)
            .await?
            .string("oauth_client_secret_encryption_key")
            .ok_or_else(|| CoreError::Internal("oauth_client_secret_encryption_key is not set".into()))
    }

    fn encrypt_secret(&self, key: &str, secret: &str) -> CoreResult<String> {
        crate::crypto::encrypt_refresh_payload(key, secret.as_bytes(), self.rng.as_ref()).map_err(CoreError::Internal)
    }

    /// The client with its secret decrypted; a client a Java core created (no configuration of
    /// ours) gets Hydra's defaults.
    async fn oauth_client_of_row(&self, app: &AppId, row: OAuthClientRow) -> CoreResult<OAuthClient> {
        let client_secret = match &row.client_secret {
            None => None,
            Some(enc) => {
                let key = self.oauth_secret_key(app).await?;
                let cache = &self.app_state(app).oauth_secrets;
                match cache.get(&key, enc) {
                    Some(plain) => Some(plain),
                    None => {
                        let plain = crate::crypto::decrypt_refresh_payload(&key, enc)
                            .ok_or_else(|| CoreError::Internal("cannot decrypt an OAuth client secret".into()))?;
                        let plain = String::from_utf8(plain)
                            .map_err(|_| CoreError::Internal("bad OAuth client secret".into()))?;
                        cache.put(&key, enc, &plain);
                        Some(plain)
                    }
                }
            }
        };
        let config = match row.config {
            Some(c) => c,
            None => {
                let epoch = rfc3339_seconds(0);
                normalise(&Map::new(), &row.client_id, None, &epoch, &epoch)
                    .map_err(|r| CoreError::Internal(r.description))?
            }
        };
        Ok(OAuthClient {
            client_id: row.client_id,
            client_secret,
            is_client_credentials_only: row.is_client_credentials_only,
            enable_refresh_token_rotation: row.enable_refresh_token_rotation,
            config,
        })
    }

    /// `POST /recipe/oauth/clients`: a new client from the request's fields (`clientId`
    /// defaults to `stcl_<uuid>`, the secret to a generated one unless the client is public).
    pub async fn oauth_create_client(
        &self,
        app: &AppId,
        input: &Map<String, Value>,
        enable_refresh_token_rotation: bool,
    ) -> CoreResult<ClientOutcome> {
        let client_id = match input.get("clientId") {
            None | Some(Value::Null) => format!("stcl_{}", crate::random::uuid_v4(self.rng.as_ref())),
            Some(Value::String(s)) => s.clone(),
            Some(_) => {
                return Ok(ClientOutcome::Refused(invalid_request(
                    "Unable to decode the request body: field clientId must be a string.",
                )));
            }
        };
        if client_id.is_empty() || client_id.chars().count() > MAX_CLIENT_ID_CHARS || client_id.contains('\0') {
            return Ok(ClientOutcome::Refused(invalid_metadata(&format!(
                "Field client_id must hold 1 to {MAX_CLIENT_ID_CHARS} characters."
            ))));
        }
        let given = match string_field(input, "clientSecret", "") {
            Ok(s) => s,
            Err(r) => return Ok(ClientOutcome::Refused(r)),
        };
        let secret = if given.is_empty() { generate_secret(self.rng.as_ref()) } else { given };
        let now = rfc3339_seconds(self.now());
        let config = match normalise(input, &client_id, Some(&secret), &now, &now) {
            Ok(c) => c,
            Err(r) => return Ok(ClientOutcome::Refused(r)),
        };
        // Hydra keeps a public client's secret to itself; the reference stores none.
        let secret = (config.get("tokenEndpointAuthMethod").and_then(Value::as_str) != Some("none")).then_some(secret);
        let encrypted = match &secret {
            Some(s) => Some(self.encrypt_secret(&self.oauth_secret_key(app).await?, s)?),
            None => None,
        };
        let row = OAuthClientRow {
            client_id: client_id.clone(),
            client_secret: encrypted,
            is_client_credentials_only: client_credentials_only(&config),
            enable_refresh_token_rotation,
            config: Some(config.clone()),
        };
        if !self.storage.create_oauth_client(app, &row).await? {
            return Ok(ClientOutcome::Refused(OAuthRefusal {
                error: "invalid_request".into(),
                description: "Unable to insert or update resource because a resource with that value exists already"
                    .into(),
                status_code: 409,
            }));
        }
        Ok(ClientOutcome::Ok(OAuthClient {
            client_id,
            client_secret: secret,
            is_client_credentials_only: row.is_client_credentials_only,
            enable_refresh_token_rotation,
            config,
        }))
    }

    /// `GET /recipe/oauth/clients`.
    pub async fn oauth_client(&self, app: &AppId, client_id: &str) -> CoreResult<Option<OAuthClient>> {
        match self.storage.get_oauth_client(app, client_id).await? {
            Some(row) => Ok(Some(self.oauth_client_of_row(app, row).await?)),
            None => Ok(None),
        }
    }

    /// `PUT /recipe/oauth/clients`: the request's fields over the client's current ones (the
    /// reference merges the stored client under the input), `clientSecret` replacing the secret
    /// when given, `enableRefreshTokenRotation` when given.
    pub async fn oauth_update_client(
        &self,
        app: &AppId,
        client_id: &str,
        input: &Map<String, Value>,
        enable_refresh_token_rotation: Option<bool>,
    ) -> CoreResult<ClientOutcome> {
        let new_secret = match string_field(input, "clientSecret", "") {
            Ok(s) if s.is_empty() => None,
            Ok(s) => Some(s),
            Err(r) => return Ok(ClientOutcome::Refused(r)),
        };
        let key = self.oauth_secret_key(app).await.ok();
        let encrypted = match (&new_secret, &key) {
            (Some(s), Some(k)) => Some(self.encrypt_secret(k, s)?),
            (Some(_), None) => return Err(CoreError::Internal("oauth_client_secret_encryption_key is not set".into())),
            (None, _) => None,
        };
        let updated_at = rfc3339_seconds(self.now());
        let update = |current: &OAuthClientRow| -> Result<OAuthClientRow, OAuthRefusal> {
            let mut merged = input.clone();
            if let Some(existing) = &current.config {
                for (k, v) in existing {
                    if !merged.contains_key(k) {
                        merged.insert(k.clone(), v.clone());
                    }
                }
            }
            let created_at = current
                .config
                .as_ref()
                .and_then(|c| c.get("createdAt"))
                .and_then(Value::as_str)
                .map_or_else(|| updated_at.clone(), str::to_string);
            let config = normalise(&merged, client_id, new_secret.as_deref(), &created_at, &updated_at)?;
            Ok(OAuthClientRow {
                client_id: client_id.to_string(),
                client_secret: encrypted.clone().or_else(|| current.client_secret.clone()),
                is_client_credentials_only: client_credentials_only(&config),
                enable_refresh_token_rotation: enable_refresh_token_rotation
                    .unwrap_or(current.enable_refresh_token_rotation),
                config: Some(config),
            })
        };
        match self.storage.update_oauth_client(app, client_id, &update).await? {
            ClientUpdateOutcome::Updated(row) => Ok(ClientOutcome::Ok(self.oauth_client_of_row(app, row).await?)),
            ClientUpdateOutcome::Refused(r) => Ok(ClientOutcome::Refused(r)),
            ClientUpdateOutcome::NotFound => Ok(ClientOutcome::NotFound),
        }
    }

    /// `GET /recipe/oauth/clients/list`: by client id, `page_size` at a time (Hydra's default
    /// 250, at most 500), filtered by `clientName`; `page_token` is the previous page's token.
    pub async fn oauth_list_clients(
        &self,
        app: &AppId,
        page_size: Option<i64>,
        client_name: Option<&str>,
        page_token: Option<&str>,
    ) -> CoreResult<Result<ClientPage, OAuthRefusal>> {
        let size = match page_size {
            None => DEFAULT_PAGE_SIZE,
            Some(n) if n >= 1 => usize::try_from(n).unwrap_or(MAX_PAGE_SIZE).min(MAX_PAGE_SIZE),
            Some(_) => return Ok(Err(invalid_request("The page size must be at least 1."))),
        };
        let after = match page_token {
            None | Some("") => None,
            Some(t) => match URL_SAFE_NO_PAD.decode(t).ok().and_then(|b| String::from_utf8(b).ok()) {
                Some(id) => Some(id),
                None => {
                    return Ok(Err(invalid_request("The page token is invalid, do not craft your own page tokens")));
                }
            },
        };
        let client_name = client_name.filter(|n| !n.is_empty());
        let mut rows = self.storage.list_oauth_clients(app, client_name, after.as_deref(), size + 1).await?;
        let more = rows.len() > size;
        rows.truncate(size);
        let next_page_token = if more { rows.last().map(|r| token_after(&r.client_id)) } else { None };
        let mut clients = Vec::with_capacity(rows.len());
        for row in rows {
            clients.push(self.oauth_client_of_row(app, row).await?);
        }
        Ok(Ok(ClientPage { clients, next_page_token }))
    }

    /// `POST /recipe/oauth/clients/remove`: whether the client existed.
    pub async fn oauth_remove_client(&self, app: &AppId, client_id: &str) -> CoreResult<bool> {
        Ok(self.storage.delete_oauth_client(app, client_id).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_cache_by_key_and_ciphertext() {
        let c = SecretCache::default();
        c.put("k1", "enc-a", "secret-a");
        assert_eq!(c.get("k1", "enc-a").as_deref(), Some("secret-a"));
        assert_eq!(c.get("k2", "enc-a"), None, "another encryption key");
        assert_eq!(c.get("k1", "enc-b"), None, "another ciphertext (a new secret)");
        for i in 0..SecretCache::CAPACITY {
            c.put("k1", &format!("enc-{i}"), "s");
        }
        assert!(c.entries().len() <= SecretCache::CAPACITY, "bounded");
    }

    #[test]
    fn go_durations() {
        for ok in ["1h", "30m", "1h30m0s", "500ms", "10s", "1µs"] {
            assert!(is_go_duration(ok), "{ok}");
        }
        for bad in ["", "h", "1", "1d", "-1h", "1.5h"] {
            assert!(!is_go_duration(bad), "{bad}");
        }
    }

    #[test]
    fn defaults_and_validation() {
        let c = normalise(&Map::new(), "c1", None, "t", "t").unwrap();
        assert_eq!(c["scope"], DEFAULT_SCOPE);
        assert_eq!(c["tokenEndpointAuthMethod"], "client_secret_basic");
        assert_eq!(c["grantTypes"], json!([]));
        assert_eq!(c["metadata"], json!({}));
        assert!(c.get("postLogoutRedirectUris").is_none());
        let input = |v: Value| v.as_object().unwrap().clone();
        assert!(normalise(&input(json!({"redirectUris": ["not a url"]})), "c", None, "t", "t").is_err());
        assert!(normalise(&Map::new(), "c", Some("short"), "t", "t").is_err());
        let r = normalise(
            &input(json!({"redirectUris": ["https://a.example/cb"], "postLogoutRedirectUris": ["https://b.example/"]})),
            "c",
            None,
            "t",
            "t",
        );
        assert_eq!(r.unwrap_err().error, "invalid_client_metadata");
    }

    #[test]
    fn secrets_are_alphanumeric() {
        let rng = crate::random::SystemRandom::new();
        let s = generate_secret(&rng);
        assert_eq!(s.len(), 26);
        assert!(s.bytes().all(|b| b.is_ascii_alphanumeric()));
    }
}
