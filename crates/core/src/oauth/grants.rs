//! The token endpoint's user grants: `authorization_code` (PKCE S256/plain, enforced for public
//! clients) and `refresh_token` (rotated when the client asks for it), with the OAuth access
//! token (`stt: 1`) and the OpenID Connect ID token (`stt: 2`, `nonce`, `at_hash`, `sid`) as the
//! reference re-signs Hydra's.
//!
//! A code is used once: its flow item is taken atomically with the grant's `oauth_sessions` row
//! and refresh token written; a second use (or the loser of two racing redeemers) is refused and
//! revokes what the code issued. A rotated refresh token is likewise taken once with its
//! successor; presenting it again is refused and revokes the grant.

use super::authorize::{hash_key, Flow};
use super::clients::OAuthClient;
use super::tokens::{apply_update, authenticate, invalid_client, parse_basic, TokenOutcome, TokenRequest};
use super::OAuthRefusal;
use crate::core::Core;
use crate::error::{CoreError, CoreResult};
use crate::ids::AppId;
use crate::storage::{FlowTake, OAuthFlowItem, OAuthSessionUpsert};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// Hydra's default lifespans (seconds).
const ACCESS_TOKEN_LIFESPAN_S: i64 = 3600;
const ID_TOKEN_LIFESPAN_S: i64 = 3600;
const REFRESH_TOKEN_LIFESPAN_S: i64 = 720 * 3600;

const INVALID_GRANT: &str = "The provided authorization grant (e.g., authorization code, resource owner credentials) or refresh token is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client.";

fn invalid_grant(hint: &str) -> OAuthRefusal {
    OAuthRefusal {
        error: "invalid_grant".into(),
        description: if hint.is_empty() { INVALID_GRANT.into() } else { format!("{INVALID_GRANT} {hint}") },
        status_code: 400,
    }
}

/// What the reference answers for a refresh token Hydra's introspection calls inactive.
fn token_inactive() -> OAuthRefusal {
    OAuthRefusal {
        error: "token_inactive".into(),
        description:
            "Token is inactive because it is malformed, expired or otherwise invalid. Token validation failed.".into(),
        status_code: 401,
    }
}

/// What a refresh token stands for (its flow item's value).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Grant {
    pub client_id: String,
    pub subject: String,
    pub scopes: Vec<String>,
    pub audience: Vec<String>,
    pub gid: String,
    pub access_ext: Map<String, Value>,
    pub id_ext: Map<String, Value>,
    /// ms.
    pub auth_time: Option<i64>,
    /// ms.
    pub requested_at: i64,
    pub acr: Option<String>,
    pub amr: Option<Value>,
    /// When this refresh token was issued (s).
    pub iat: i64,
    /// When it expires (s).
    pub exp: i64,
}

impl Grant {
    fn of_flow(flow: &Flow) -> Grant {
        Grant {
            client_id: flow.client_id.clone(),
            subject: flow.subject.clone().unwrap_or_default(),
            scopes: flow.granted_scopes.clone(),
            audience: flow.granted_audience.clone(),
            gid: flow.gid.clone().unwrap_or_default(),
            access_ext: flow.access_ext.clone(),
            id_ext: flow.id_ext.clone(),
            auth_time: flow.auth_time,
            requested_at: flow.requested_at,
            acr: flow.acr.clone(),
            amr: flow.amr.clone(),
            iat: 0,
            exp: 0,
        }
    }

    fn session_handle(&self) -> Option<String> {
        self.access_ext.get("sessionHandle").and_then(Value::as_str).map(str::to_string)
    }

    fn offline(&self) -> bool {
        self.scopes.iter().any(|s| s == "offline" || s == "offline_access")
    }

    fn openid(&self) -> bool {
        self.scopes.iter().any(|s| s == "openid")
    }

    fn to_value(&self) -> CoreResult<String> {
        serde_json::to_string(self).map_err(|e| CoreError::Internal(format!("cannot serialise an OAuth grant: {e}")))
    }

    fn parse(text: &str) -> CoreResult<Grant> {
        serde_json::from_str(text).map_err(|e| CoreError::Internal(format!("unreadable OAuth grant: {e}")))
    }
}

/// `at_hash`: the left half of the access token's SHA-256, base64url (OpenID Connect Core
/// §3.1.3.6, as the reference computes it).
pub fn at_hash(access_token: &str) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, access_token.as_bytes());
    URL_SAFE_NO_PAD.encode(&d.as_ref()[..16])
}

/// RFC 7636 §4.6: whether `verifier` matches `challenge` by `method` (`S256` or `plain`).
pub fn pkce_matches(method: &str, challenge: &str, verifier: &str) -> bool {
    let computed = if method == "S256" {
        URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes()).as_ref())
    } else {
        verifier.to_string()
    };
    crate::random::ct_eq(&computed, challenge)
}

/// Fosite's PKCE checks at the token endpoint.
fn check_pkce(flow: &Flow, verifier: Option<&str>) -> Result<(), OAuthRefusal> {
    let Some(challenge) = &flow.code_challenge else {
        if verifier.is_some_and(|v| !v.is_empty()) {
            return Err(invalid_grant(
                "The PKCE code verifier was provided but the code challenge was absent from the authorization request.",
            ));
        }
        return Ok(());
    };
    let verifier = verifier.unwrap_or("");
    if verifier.len() < 43 {
        return Err(invalid_grant("The PKCE code verifier must be at least 43 characters."));
    }
    if verifier.len() > 128 {
        return Err(invalid_grant("The PKCE code verifier can not be longer than 128 characters."));
    }
    if !verifier.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b)) {
        return Err(invalid_grant("The PKCE code verifier must only contain [a-Z], [0-9], '-', '.', '_', '~'."));
    }
    let method = flow.code_challenge_method.as_deref().unwrap_or("plain");
    if !pkce_matches(method, challenge, verifier) {
        return Err(invalid_grant("The PKCE code challenge did not match the code verifier."));
    }
    Ok(())
}

/// The tokens of one issuance.
struct Issued {
    access_token: String,
    jti: String,
    access_exp: i64,
    expires_in: i64,
    id_token: Option<String>,
}

impl Core {
    /// Client authentication and the grant-type check shared by the user grants.
    fn user_grant_client_check(client: &OAuthClient, req: &TokenRequest, grant_type: &str) -> Result<(), OAuthRefusal> {
        let basic = match &req.authorization_header {
            Some(h) => Some(parse_basic(h).ok_or_else(|| invalid_client(None))?),
            None => None,
        };
        authenticate(client, basic.as_ref(), req.form.get("client_secret").and_then(Value::as_str))?;
        if !client.allows_grant(grant_type) {
            return Err(OAuthRefusal {
                error: "unauthorized_client".into(),
                description: format!(
                    "The client is not authorized to request a token using this method. The OAuth 2.0 Client is not allowed to use authorization grant '{grant_type}'."
                ),
                status_code: 400,
            });
        }
        Ok(())
    }

    /// Sign the access token and (with `openid`) the ID token of a grant.
    #[allow(clippy::too_many_arguments)]
    async fn issue_user_tokens(
        &self,
        app: &AppId,
        client: &OAuthClient,
        grant: &Grant,
        req: &TokenRequest,
        kind: &str,
        nonce: Option<&str>,
    ) -> CoreResult<Issued> {
        let iat = self.now().div_euclid(1000);
        let access_lifespan = client.lifespan_s(&format!("{kind}GrantAccessTokenLifespan"), ACCESS_TOKEN_LIFESPAN_S);
        let jti = crate::random::uuid_v4(self.rng.as_ref());
        let access_exp = iat + access_lifespan;
        // Hydra's claims, then the reference's re-signing: `iss`, `stt`, the `ext` claims at the
        // root, the SDK's payload (or the consent's initial one) without the protected claims.
        let mut at = Map::new();
        at.insert("aud".into(), json!(grant.audience));
        at.insert("client_id".into(), json!(client.client_id));
        at.insert("exp".into(), json!(access_exp));
        at.insert("iat".into(), json!(iat));
        at.insert("iss".into(), json!(req.iss));
        at.insert("jti".into(), json!(jti));
        at.insert("nbf".into(), json!(iat));
        at.insert("scp".into(), json!(grant.scopes));
        at.insert("sub".into(), json!(grant.subject));
        at.insert("stt".into(), json!(1));
        for prop in ["iss", "rsub", "tId", "sessionHandle", "gid"] {
            if let Some(v) = grant.access_ext.get(prop).and_then(Value::as_str) {
                at.insert(prop.into(), json!(v));
            }
        }
        if !at.contains_key("gid") {
            at.insert("gid".into(), json!(grant.gid));
        }
        let initial = grant.access_ext.get("initialPayload").and_then(Value::as_object);
        apply_update(&mut at, req.access_token_update.as_ref().or(initial));
        let access_token = self.oauth_sign(app, at, req.use_static_key).await?;
        let id_token = if grant.openid() {
            let id_lifespan = client.lifespan_s(&format!("{kind}GrantIdTokenLifespan"), ID_TOKEN_LIFESPAN_S);
            let mut it = Map::new();
            it.insert("at_hash".into(), json!(at_hash(&access_token)));
            it.insert("aud".into(), json!([client.client_id]));
            if let Some(t) = grant.auth_time {
                it.insert("auth_time".into(), json!(t.div_euclid(1000)));
            }
            it.insert("exp".into(), json!(iat + id_lifespan));
            it.insert("iat".into(), json!(iat));
            it.insert("iss".into(), json!(req.iss));
            it.insert("jti".into(), json!(crate::random::uuid_v4(self.rng.as_ref())));
            if let Some(n) = nonce.filter(|n| !n.is_empty()) {
                it.insert("nonce".into(), json!(n));
            }
            if let Some(acr) = &grant.acr {
                it.insert("acr".into(), json!(acr));
            }
            if let Some(amr) = &grant.amr {
                it.insert("amr".into(), amr.clone());
            }
            it.insert("rat".into(), json!(grant.requested_at.div_euclid(1000)));
            it.insert("sub".into(), json!(grant.subject));
            it.insert("stt".into(), json!(2));
            if let Some(sid) = grant.id_ext.get("ext").and_then(|e| e.get("sessionHandle")).and_then(Value::as_str) {
                it.insert("sid".into(), json!(sid));
            }
            // The reference adds a gid to every token it re-signs that lacks one.
            it.insert("gid".into(), json!(crate::random::uuid_v4(self.rng.as_ref())));
            let initial = grant.id_ext.get("initialPayload").and_then(Value::as_object);
            apply_update(&mut it, req.id_token_update.as_ref().or(initial));
            Some(self.oauth_sign(app, it, req.use_static_key).await?)
        } else {
            None
        };
        Ok(Issued { access_token, jti, access_exp, expires_in: access_lifespan, id_token })
    }

    fn new_refresh_item(
        &self,
        client: &OAuthClient,
        grant: &Grant,
        kind: &str,
    ) -> CoreResult<(String, OAuthFlowItem, Grant)> {
        let iat = self.now().div_euclid(1000);
        let lifespan = client.lifespan_s(&format!("{kind}GrantRefreshTokenLifespan"), REFRESH_TOKEN_LIFESPAN_S);
        let mut g = grant.clone();
        g.iat = iat;
        g.exp = iat + lifespan;
        let token = format!("st_rt_{}", crate::random::url_token(self.rng.as_ref()));
        let item = OAuthFlowItem {
            kind: "refresh_token".into(),
            key: hash_key(&token),
            client_id: client.client_id.clone(),
            value: g.to_value()?,
            expires_at: g.exp.saturating_mul(1000),
        };
        Ok((token, item, g))
    }

    fn token_answer(issued: &Issued, refresh: Option<&str>, scopes: &[String]) -> Map<String, Value> {
        let mut out = Map::new();
        out.insert("access_token".into(), json!(issued.access_token));
        out.insert("expires_in".into(), json!(issued.expires_in));
        if let Some(id) = &issued.id_token {
            out.insert("id_token".into(), json!(id));
        }
        if let Some(r) = refresh {
            out.insert("refresh_token".into(), json!(r));
        }
        out.insert("scope".into(), json!(scopes.join(" ")));
        out.insert("token_type".into(), json!("bearer"));
        out
    }

    /// `grant_type=authorization_code`.
    pub(crate) async fn oauth_code_grant(
        &self,
        app: &AppId,
        req: &TokenRequest,
        client: &OAuthClient,
    ) -> CoreResult<TokenOutcome> {
        if let Err(r) = Self::user_grant_client_check(client, req, "authorization_code") {
            return Ok(TokenOutcome::Refused(r));
        }
        let field = |n: &str| req.form.get(n).and_then(Value::as_str);
        let code = field("code").unwrap_or("");
        let key = hash_key(code);
        let now = self.now();
        let Some(text) = self.storage.get_oauth_flow_item(app, "code", &key, now).await? else {
            // Used before (what it issued is revoked), or unknown, or expired.
            return Ok(TokenOutcome::Refused(self.oauth_code_reused(app, &key).await?));
        };
        let flow = Flow::parse(&text)?;
        if flow.client_id != client.client_id {
            return Ok(TokenOutcome::Refused(invalid_grant(
                "The OAuth 2.0 Client ID from this request does not match the one from the authorize request.",
            )));
        }
        if flow.redirect_uri_given && field("redirect_uri") != Some(flow.redirect_uri.as_str()) {
            return Ok(TokenOutcome::Refused(invalid_grant(
                "The 'redirect_uri' from this request does not match the one from the authorize request.",
            )));
        }
        if let Err(r) = check_pkce(&flow, field("code_verifier")) {
            return Ok(TokenOutcome::Refused(r));
        }
        let grant = Grant::of_flow(&flow);
        let issued =
            self.issue_user_tokens(app, client, &grant, req, "authorizationCode", flow.nonce.as_deref()).await?;
        let refresh = if grant.offline() && client.allows_grant("refresh_token") {
            Some(self.new_refresh_item(client, &grant, "authorizationCode")?)
        } else {
            None
        };
        let session = OAuthSessionUpsert {
            gid: grant.gid.clone(),
            client_id: client.client_id.clone(),
            session_handle: grant.session_handle(),
            external_refresh_token: refresh.as_ref().map(|(t, _, _)| t.clone()),
            internal_refresh_token: None,
            jti: issued.jti.clone(),
            exp: refresh.as_ref().map_or(issued.access_exp, |(_, _, g)| g.exp),
        };
        let follow: Vec<OAuthFlowItem> = refresh.iter().map(|(_, item, _)| item.clone()).collect();
        match self.storage.take_oauth_flow_item(app, "code", &key, now, &follow, Some(&session)).await? {
            FlowTake::Taken(_) => {
                let answer = Self::token_answer(&issued, refresh.as_ref().map(|(t, _, _)| t.as_str()), &grant.scopes);
                Ok(TokenOutcome::Ok(answer))
            }
            // Another redeemer won: this one is a reuse.
            _ => Ok(TokenOutcome::Refused(self.oauth_code_reused(app, &key).await?)),
        }
    }

    /// A code that is not live: when it was used, the grant it issued is revoked.
    async fn oauth_code_reused(&self, app: &AppId, key: &str) -> CoreResult<OAuthRefusal> {
        match self.storage.take_oauth_flow_item(app, "code", key, self.now(), &[], None).await? {
            FlowTake::Used(text) => {
                if let Some(gid) = Flow::parse(&text)?.gid {
                    self.storage.revoke_oauth_grant(app, &gid).await?;
                }
                Ok(invalid_grant("The authorization code has already been used."))
            }
            _ => Ok(invalid_grant("")),
        }
    }

    /// The live grant of a refresh token (unused, not expired, its grant not revoked).
    async fn live_refresh_grant(&self, app: &AppId, token: &str) -> CoreResult<Option<Grant>> {
        let Some(text) = self.storage.get_oauth_flow_item(app, "refresh_token", &hash_key(token), self.now()).await?
        else {
            return Ok(None);
        };
        let grant = Grant::parse(&text)?;
        if !self.storage.oauth_grant_active(app, &grant.gid).await? {
            return Ok(None);
        }
        Ok(Some(grant))
    }

    /// `grant_type=refresh_token`.
    pub(crate) async fn oauth_refresh_grant(
        &self,
        app: &AppId,
        req: &TokenRequest,
        client: &OAuthClient,
    ) -> CoreResult<TokenOutcome> {
        let Some(token) = req.form.get("refresh_token").and_then(Value::as_str).map(str::to_string) else {
            return Err(CoreError::bad("Field name 'refresh_token' is invalid in JSON input"));
        };
        let key = hash_key(&token);
        let now = self.now();
        let Some(grant) = self.live_refresh_grant(app, &token).await? else {
            // A rotated token presented again: the grant it belonged to is revoked.
            if let FlowTake::Used(text) =
                self.storage.take_oauth_flow_item(app, "refresh_token", &key, now, &[], None).await?
            {
                self.storage.revoke_oauth_grant(app, &Grant::parse(&text)?.gid).await?;
            }
            return Ok(TokenOutcome::Refused(token_inactive()));
        };
        if let Err(r) = Self::user_grant_client_check(client, req, "refresh_token") {
            return Ok(TokenOutcome::Refused(r));
        }
        if grant.client_id != client.client_id {
            return Ok(TokenOutcome::Refused(invalid_grant(
                "The OAuth 2.0 Client ID from this request does not match the ID during the initial token issuance.",
            )));
        }
        let requested: Vec<String> = req
            .form
            .get("scope")
            .and_then(Value::as_str)
            .unwrap_or("")
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        if let Some(s) = requested.iter().find(|s| !grant.scopes.contains(s)) {
            return Ok(TokenOutcome::Refused(OAuthRefusal {
                error: "invalid_scope".into(),
                description: format!(
                    "The requested scope is invalid, unknown, or malformed. The requested scope '{s}' was not granted."
                ),
                status_code: 400,
            }));
        }
        let issued = self.issue_user_tokens(app, client, &grant, req, "refreshToken", None).await?;
        let (new_token, item, new_grant) = self.new_refresh_item(client, &grant, "refreshToken")?;
        if client.enable_refresh_token_rotation {
            let session = OAuthSessionUpsert {
                gid: grant.gid.clone(),
                client_id: client.client_id.clone(),
                session_handle: grant.session_handle(),
                external_refresh_token: Some(new_token.clone()),
                internal_refresh_token: None,
                jti: issued.jti.clone(),
                exp: new_grant.exp,
            };
            match self.storage.take_oauth_flow_item(app, "refresh_token", &key, now, &[item], Some(&session)).await? {
                FlowTake::Taken(_) => {
                    Ok(TokenOutcome::Ok(Self::token_answer(&issued, Some(&new_token), &grant.scopes)))
                }
                FlowTake::Used(_) => {
                    // Lost the race to another refresh with the same token: a reuse.
                    self.storage.revoke_oauth_grant(app, &grant.gid).await?;
                    Ok(TokenOutcome::Refused(token_inactive()))
                }
                FlowTake::Missing => Ok(TokenOutcome::Refused(token_inactive())),
            }
        } else {
            // Without rotation the client keeps its refresh token, whose life is extended as
            // the reference's mapping to Hydra's newest token extends it (and the answer has no
            // `refresh_token`).
            let item = OAuthFlowItem { key: key.clone(), ..item };
            self.storage.put_oauth_flow_item(app, &item).await?;
            let session = OAuthSessionUpsert {
                gid: grant.gid.clone(),
                client_id: client.client_id.clone(),
                session_handle: grant.session_handle(),
                external_refresh_token: Some(token.clone()),
                internal_refresh_token: None,
                jti: issued.jti.clone(),
                exp: new_grant.exp,
            };
            self.storage.record_oauth_tokens(app, &session, None).await?;
            Ok(TokenOutcome::Ok(Self::token_answer(&issued, None, &grant.scopes)))
        }
    }

    /// `POST /recipe/oauth/introspect` of a refresh token: Hydra's introspection with the
    /// reference's `ext` claims at the root, while it is live (and has every `scope` asked).
    pub(crate) async fn oauth_introspect_refresh(
        &self,
        app: &AppId,
        token: &str,
        scope: Option<&str>,
    ) -> CoreResult<Map<String, Value>> {
        let mut out = Map::new();
        let Some(grant) = self.live_refresh_grant(app, token).await? else {
            out.insert("active".into(), json!(false));
            return Ok(out);
        };
        let asked: Vec<&str> = scope.unwrap_or("").split(' ').filter(|s| !s.is_empty()).collect();
        if asked.iter().any(|s| !grant.scopes.iter().any(|g| g == s)) {
            out.insert("active".into(), json!(false));
            return Ok(out);
        }
        out.insert("active".into(), json!(true));
        out.insert("aud".into(), json!(grant.audience));
        out.insert("client_id".into(), json!(grant.client_id));
        out.insert("exp".into(), json!(grant.exp));
        out.insert("iat".into(), json!(grant.iat));
        out.insert("nbf".into(), json!(grant.iat));
        out.insert("scope".into(), json!(grant.scopes.join(" ")));
        out.insert("sub".into(), json!(grant.subject));
        out.insert("token_type".into(), json!("Bearer"));
        out.insert("token_use".into(), json!("refresh_token"));
        for prop in ["iss", "rsub", "tId", "sessionHandle", "gid"] {
            if let Some(v) = grant.access_ext.get(prop).and_then(Value::as_str) {
                out.insert(prop.into(), json!(v));
            }
        }
        Ok(out)
    }

    /// `POST /recipe/oauth/token/revoke` of a refresh token: its grant (every token of it).
    pub(crate) async fn oauth_revoke_refresh(&self, app: &AppId, token: &str) -> CoreResult<()> {
        if let Some(grant) = self.live_refresh_grant(app, token).await? {
            self.storage.revoke_oauth_grant(app, &grant.gid).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_rfc7636_appendix_b() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(pkce_matches("S256", challenge, verifier));
        assert!(!pkce_matches("S256", challenge, "x"));
        assert!(pkce_matches("plain", verifier, verifier));
    }

    #[test]
    fn at_hash_is_left_half() {
        // 16 bytes -> 22 base64url characters.
        assert_eq!(at_hash("token").len(), 22);
    }
}
