//! The token endpoint (client credentials; the user grants are in `grants`), introspection and
//! revocation.
//!
//! An access token is what the reference makes of Hydra's JWT: Hydra's claims (`aud`,
//! `client_id`, `exp`, `iat`, `iss`, `jti`, `nbf`, `scp`, `sub`), then `iss` set to the SDK's,
//! `stt: 1`, a `gid` (the grant), the SDK's `access_token` claims except the protected ones,
//! signed RS256 with the app's static key (or its dynamic key with `useStaticSigningKey:
//! false`). It is live while its `jti` is listed in the grant's `oauth_sessions` row, as the
//! reference checks it.

use super::clients::OAuthClient;
use super::OAuthRefusal;
use crate::core::Core;
use crate::error::{CoreError, CoreResult};
use crate::ids::AppId;
use crate::storage::OAuthSessionUpsert;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Map, Value};

/// Hydra's default access-token lifespan (seconds).
pub const DEFAULT_ACCESS_TOKEN_LIFESPAN_S: i64 = 3600;

/// Claims the SDK's payload may not override (the reference's `NON_OVERRIDABLE_TOKEN_PROPS`).
const PROTECTED_CLAIMS: [&str; 18] = [
    "kid",
    "typ",
    "alg",
    "aud",
    "iss",
    "iat",
    "exp",
    "nbf",
    "jti",
    "ext",
    "sid",
    "rat",
    "at_hash",
    "gid",
    "client_id",
    "scp",
    "sub",
    "stt",
];

/// `POST /recipe/oauth/token`, as the SDK sends it.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    pub iss: String,
    /// The form the client sent the SDK's `/oauth/token` (values as strings).
    pub form: Map<String, Value>,
    pub access_token_update: Option<Map<String, Value>>,
    pub id_token_update: Option<Map<String, Value>>,
    pub use_static_key: bool,
    pub authorization_header: Option<String>,
}

impl TokenRequest {
    fn field(&self, name: &str) -> Option<&str> {
        self.form.get(name).and_then(Value::as_str)
    }
}

/// What the token endpoint answers.
#[derive(Debug, Clone, PartialEq)]
pub enum TokenOutcome {
    /// The token response (`access_token`, `expires_in`, `scope`, `token_type`, …).
    Ok(Map<String, Value>),
    ClientNotFound,
    Refused(OAuthRefusal),
}

fn refusal(error: &str, description: &str, status_code: u16) -> OAuthRefusal {
    OAuthRefusal { error: error.into(), description: description.into(), status_code }
}

/// `invalid_client` (401), fosite's wording, with an optional hint.
pub(crate) fn invalid_client(hint: Option<&str>) -> OAuthRefusal {
    let base = "Client authentication failed (e.g., unknown client, no client authentication included, or unsupported authentication method).";
    refusal("invalid_client", &hint.map_or_else(|| base.to_string(), |h| format!("{base} {h}")), 401)
}

/// Percent-decoding (`+` as space) of the Basic credentials, as RFC 6749 §2.3.1 encodes them.
fn form_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The client id and secret of a `Basic` authorization header; `None` when malformed.
pub fn parse_basic(header: &str) -> Option<(String, String)> {
    let encoded = header.strip_prefix("Basic ").unwrap_or(header).trim();
    let decoded = String::from_utf8(STANDARD.decode(encoded).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((form_decode(id), form_decode(secret)))
}

/// Client authentication at the token endpoint (fosite's rules): `client_secret_basic` by the
/// header, `client_secret_post` by the form's `client_secret`, `none` by neither; the secret
/// compared in constant time.
pub(crate) fn authenticate(
    client: &OAuthClient,
    basic: Option<&(String, String)>,
    post_secret: Option<&str>,
) -> Result<(), OAuthRefusal> {
    let method = client.auth_method();
    let (used, given) = match (basic, post_secret) {
        (Some((_, secret)), _) => ("client_secret_basic", Some(secret.as_str())),
        (None, Some(secret)) => ("client_secret_post", Some(secret)),
        (None, None) => ("none", None),
    };
    if used != method {
        return Err(invalid_client(Some(&format!(
            "The OAuth 2.0 Client supports client authentication method '{method}', but method '{used}' was requested. \
             You must configure the OAuth 2.0 client's 'token_endpoint_auth_method' value to accept '{used}'."
        ))));
    }
    match (given, &client.client_secret) {
        (None, _) => Ok(()),
        (Some(g), Some(s)) if crate::random::ct_eq(g, s) => Ok(()),
        _ => Err(invalid_client(None)),
    }
}

/// Space-separated values.
fn words(s: Option<&str>) -> Vec<String> {
    s.unwrap_or("").split(' ').filter(|w| !w.is_empty()).map(str::to_string).collect()
}

/// A Go duration in seconds (`1h30m`); `None` if it does not parse.
pub(crate) fn go_duration_s(s: &str) -> Option<i64> {
    let mut rest = s;
    let mut total_ns: f64 = 0.0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let n: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let (unit, ns) = [("ns", 1.0), ("us", 1e3), ("µs", 1e3), ("ms", 1e6), ("s", 1e9), ("m", 60e9), ("h", 3600e9)]
            .into_iter()
            .find(|(u, _)| rest.starts_with(u))?;
        rest = &rest[unit.len()..];
        total_ns += n * ns;
    }
    Some((total_ns / 1e9) as i64)
}

impl OAuthClient {
    /// The lifespan (seconds) of a token kind (a lifespan field), Hydra's default otherwise.
    pub fn lifespan_s(&self, field: &str, default_s: i64) -> i64 {
        self.config.get(field).and_then(Value::as_str).and_then(go_duration_s).unwrap_or(default_s)
    }
}

/// The payload after the SDK's update, as the reference's `reSignToken` merges it.
pub(crate) fn apply_update(payload: &mut Map<String, Value>, update: Option<&Map<String, Value>>) {
    if let Some(update) = update {
        for (k, v) in update {
            if !PROTECTED_CLAIMS.contains(&k.as_str()) {
                payload.insert(k.clone(), v.clone());
            }
        }
    }
}

impl Core {
    /// Sign an OAuth token payload with the app's static (or dynamic) key; the reference's
    /// JWT writer's `aud` rules apply.
    pub(crate) async fn oauth_sign(
        &self,
        app: &AppId,
        mut payload: Map<String, Value>,
        use_static: bool,
    ) -> CoreResult<String> {
        let cfg = self.app_config(app).await?;
        let key = self.signing_key(app, &cfg, use_static).await?;
        crate::session::token::aud_as_signed(&mut payload);
        let header = json!({"kid": key.kid, "typ": "JWT", "alg": key.alg().name()});
        key.sign_jwt(&header, &Value::Object(payload)).map_err(CoreError::Internal)
    }

    /// The payload of a token signed by one of the app's keys and not expired.
    pub async fn oauth_verified_payload(&self, app: &AppId, token: &str) -> CoreResult<Option<Map<String, Value>>> {
        let Ok(parsed) = crate::crypto::parse_jwt(token) else { return Ok(None) };
        let cfg = self.app_config(app).await?;
        let set = self.app_state(app).keys.get(&self.key_source(), &cfg, false).await?;
        let now = self.now();
        let verified = match parsed.header.get("kid").and_then(Value::as_str) {
            Some(kid) => set.find(kid, now).is_some_and(|k| k.verify(parsed.signed.as_bytes(), &parsed.signature)),
            None => set.verification_keys(now).any(|k| k.verify(parsed.signed.as_bytes(), &parsed.signature)),
        };
        if !verified {
            return Ok(None);
        }
        match parsed.payload.get("exp").and_then(Value::as_i64) {
            Some(exp) if exp.saturating_mul(1000) >= now => Ok(Some(parsed.payload)),
            _ => Ok(None),
        }
    }

    /// `POST /recipe/oauth/token`.
    pub async fn oauth_token(&self, app: &AppId, req: &TokenRequest) -> CoreResult<TokenOutcome> {
        let basic = match &req.authorization_header {
            Some(h) => match parse_basic(h) {
                Some(b) => Some(b),
                None => return Err(CoreError::bad("malformed request body or authorization header")),
            },
            None => None,
        };
        let client_id = match (&basic, req.field("client_id")) {
            (Some((id, _)), _) => id.clone(),
            (None, Some(id)) => id.to_string(),
            (None, None) => return Ok(TokenOutcome::ClientNotFound),
        };
        let Some(client) = self.oauth_client(app, &client_id).await? else {
            return Ok(TokenOutcome::ClientNotFound);
        };
        let grant_type = req.field("grant_type").unwrap_or("");
        match grant_type {
            "client_credentials" => self.oauth_client_credentials(app, req, &client, basic.as_ref()).await,
            "authorization_code" => self.oauth_code_grant(app, req, &client).await,
            "refresh_token" => self.oauth_refresh_grant(app, req, &client).await,
            other => Ok(TokenOutcome::Refused(refusal(
                "unsupported_grant_type",
                &format!(
                    "The authorization grant type is not supported by the authorization server. The handler for grant type '{other}' was not found."
                ),
                400,
            ))),
        }
    }

    async fn oauth_client_credentials(
        &self,
        app: &AppId,
        req: &TokenRequest,
        client: &OAuthClient,
        basic: Option<&(String, String)>,
    ) -> CoreResult<TokenOutcome> {
        if client.auth_method() == "none" {
            return Ok(TokenOutcome::Refused(refusal(
                "invalid_grant",
                "The provided authorization grant (e.g., authorization code, resource owner credentials) or refresh token is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client. The OAuth 2.0 Client is marked as public and is thus not allowed to use authorization grant 'client_credentials'.",
                400,
            )));
        }
        if let Err(r) = authenticate(client, basic, req.field("client_secret")) {
            return Ok(TokenOutcome::Refused(r));
        }
        if !client.allows_grant("client_credentials") {
            return Ok(TokenOutcome::Refused(refusal(
                "unauthorized_client",
                "The client is not authorized to request a token using this method. The OAuth 2.0 Client is not allowed to use authorization grant 'client_credentials'.",
                400,
            )));
        }
        let allowed = words(client.config.get("scope").and_then(Value::as_str));
        let scopes = words(req.field("scope"));
        if let Some(s) = scopes.iter().find(|s| !allowed.contains(s)) {
            return Ok(TokenOutcome::Refused(refusal(
                "invalid_scope",
                &format!("The requested scope is invalid, unknown, or malformed. The OAuth 2.0 Client is not allowed to request scope '{s}'."),
                400,
            )));
        }
        let allowed_aud: Vec<String> = client
            .config
            .get("audience")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
            .unwrap_or_default();
        let audience = words(req.field("audience"));
        if let Some(a) = audience.iter().find(|a| !allowed_aud.contains(a)) {
            return Ok(TokenOutcome::Refused(refusal(
                "invalid_request",
                &format!("The request is missing a required parameter, includes an invalid parameter value, includes a parameter more than once, or is otherwise malformed. Requested audience '{a}' has not been whitelisted by the OAuth 2.0 Client."),
                400,
            )));
        }
        let lifespan = client.lifespan_s("clientCredentialsGrantAccessTokenLifespan", DEFAULT_ACCESS_TOKEN_LIFESPAN_S);
        let iat = self.now().div_euclid(1000);
        let exp = iat + lifespan;
        let jti = crate::random::uuid_v4(self.rng.as_ref());
        let gid = crate::random::uuid_v4(self.rng.as_ref());
        let mut payload = Map::new();
        payload.insert("aud".into(), json!(audience));
        payload.insert("client_id".into(), json!(client.client_id));
        payload.insert("exp".into(), json!(exp));
        payload.insert("iat".into(), json!(iat));
        payload.insert("iss".into(), json!(req.iss));
        payload.insert("jti".into(), json!(jti));
        payload.insert("nbf".into(), json!(iat));
        payload.insert("scp".into(), json!(scopes));
        payload.insert("sub".into(), json!(client.client_id));
        payload.insert("stt".into(), json!(1));
        payload.insert("gid".into(), json!(gid));
        apply_update(&mut payload, req.access_token_update.as_ref());
        let token = self.oauth_sign(app, payload, req.use_static_key).await?;
        let session = OAuthSessionUpsert {
            gid,
            client_id: client.client_id.clone(),
            session_handle: None,
            external_refresh_token: None,
            internal_refresh_token: None,
            jti,
            exp,
        };
        self.storage.record_oauth_tokens(app, &session, Some((iat, exp))).await?;
        let mut out = Map::new();
        out.insert("access_token".into(), json!(token));
        out.insert("expires_in".into(), json!(lifespan));
        out.insert("scope".into(), json!(scopes.join(" ")));
        out.insert("token_type".into(), json!("bearer"));
        Ok(TokenOutcome::Ok(out))
    }

    /// `POST /recipe/oauth/introspect` of an access token: its payload with `active: true`,
    /// `token_type: "Bearer"`, `token_use: "access_token"` while it verifies, has not expired
    /// and its jti is live; `{active: false}` otherwise. A refresh token (`st_rt_…`): see
    /// `oauth_introspect_refresh`.
    pub async fn oauth_introspect(
        &self,
        app: &AppId,
        token: &str,
        scope: Option<&str>,
    ) -> CoreResult<Map<String, Value>> {
        if token.starts_with("st_rt_") {
            return self.oauth_introspect_refresh(app, token, scope).await;
        }
        {
            if let Some(mut payload) = self.oauth_verified_payload(app, token).await? {
                if payload.get("stt").and_then(Value::as_i64) == Some(1) && self.oauth_token_live(app, &payload).await?
                {
                    payload.insert("active".into(), json!(true));
                    payload.insert("token_type".into(), json!("Bearer"));
                    payload.insert("token_use".into(), json!("access_token"));
                    return Ok(payload);
                }
            }
        }
        let mut inactive = Map::new();
        inactive.insert("active".into(), json!(false));
        Ok(inactive)
    }

    async fn oauth_token_live(&self, app: &AppId, payload: &Map<String, Value>) -> CoreResult<bool> {
        match (payload.get("gid").and_then(Value::as_str), payload.get("jti").and_then(Value::as_str)) {
            (Some(gid), Some(jti)) => Ok(self.storage.oauth_jti_active(app, gid, jti).await?),
            _ => Ok(false),
        }
    }

    /// `POST /recipe/oauth/token/revoke` of an access token: its jti is no longer live (an
    /// invalid or expired token: nothing to do).
    pub async fn oauth_revoke_token(&self, app: &AppId, token: &str) -> CoreResult<()> {
        if token.starts_with("st_rt_") {
            return self.oauth_revoke_refresh(app, token).await;
        }
        if let Some(payload) = self.oauth_verified_payload(app, token).await? {
            if payload.get("stt").and_then(Value::as_i64) == Some(1) {
                if let (Some(gid), Some(jti)) =
                    (payload.get("gid").and_then(Value::as_str), payload.get("jti").and_then(Value::as_str))
                {
                    self.storage.revoke_oauth_jti(app, gid, jti).await?;
                }
            }
        }
        Ok(())
    }

    /// `POST /recipe/oauth/tokens/revoke`: every token of the client.
    pub async fn oauth_revoke_client_tokens(&self, app: &AppId, client_id: &str) -> CoreResult<()> {
        Ok(self.storage.revoke_oauth_tokens_of_client(app, client_id).await?)
    }

    /// `POST /recipe/oauth/session/revoke`: every token issued for the session.
    pub async fn oauth_revoke_session(&self, app: &AppId, session_handle: &str) -> CoreResult<()> {
        Ok(self.storage.revoke_oauth_tokens_of_session(app, session_handle).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials() {
        let h = format!("Basic {}", STANDARD.encode("my%20id:s%3Acret+x"));
        assert_eq!(parse_basic(&h), Some(("my id".into(), "s:cret x".into())));
        assert_eq!(parse_basic("Basic !!"), None);
        assert_eq!(parse_basic(&format!("Basic {}", STANDARD.encode("nocolon"))), None);
    }

    #[test]
    fn durations() {
        assert_eq!(go_duration_s("1h"), Some(3600));
        assert_eq!(go_duration_s("1h30m10s"), Some(5410));
        assert_eq!(go_duration_s("500ms"), Some(0));
        assert_eq!(go_duration_s("x"), None);
    }
}
