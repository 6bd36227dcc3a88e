//! The authorisation endpoint and its login, consent and logout challenges (§a.18), natively.
//!
//! The reference forwards `POST /recipe/oauth/auth` to Hydra's `/oauth2/auth` and passes on the
//! redirect Hydra answers, rewritten to `{apiDomain}` (which the SDK replaces by its own API
//! domain and base path). The flow it drives, and that this module answers step by step:
//!
//! 1. the client's request → `{apiDomain}/oauth/login?login_challenge=…` (the SDK's login page);
//! 2. `PUT …/login/accept` → `{apiDomain}/oauth/auth?<request>&login_verifier=…`;
//! 3. that request → `{apiDomain}/oauth/consent?consent_challenge=…`;
//! 4. `PUT …/consent/accept` → `{apiDomain}/oauth/auth?<request>&consent_verifier=…`;
//! 5. that request → the client's `redirect_uri?code=st_ac_…&scope=…&state=…`.
//!
//! Each challenge and verifier is a flow item used once (storage `take_oauth_flow_item`); a
//! rejected login or consent ends at the client's redirect URI with the error. Errors before the
//! redirect URI is known to be the client's are `OAUTH_ERROR`s (never a redirect: no open
//! redirect); later ones go to the client as RFC 6749 §4.1.2.1 error redirects.

use super::clients::OAuthClient;
use super::OAuthRefusal;
use crate::core::Core;
use crate::error::{CoreError, CoreResult};
use crate::ids::AppId;
use crate::storage::{FlowTake, OAuthFlowItem, OAuthLogoutChallenge};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// How long a login or consent challenge (and its verifier) lives: Hydra's
/// `ttl.login_consent_request` (30 minutes), in ms.
pub const REQUEST_TTL_MS: i64 = 30 * 60 * 1000;
/// How long an authorization code lives: Hydra's `ttl.auth_code` (10 minutes), in ms.
pub const CODE_TTL_MS: i64 = 10 * 60 * 1000;
/// Fosite's minimum length of `state` and `nonce`.
const MIN_ENTROPY: usize = 8;

/// A rejection's error as given to `…/reject`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct FlowError {
    pub error: String,
    pub description: String,
}

/// One authorization request and what its login and consent decided (the flow items' value).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Flow {
    pub client_id: String,
    pub redirect_uri: String,
    /// Whether the request named the redirect URI (then the token request must repeat it).
    pub redirect_uri_given: bool,
    /// The request's parameters as received (without verifiers).
    pub params: Vec<(String, String)>,
    pub scopes: Vec<String>,
    pub audience: Vec<String>,
    pub state: String,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    /// ms.
    pub requested_at: i64,
    pub iss: Option<String>,
    pub login_challenge: String,
    pub subject: Option<String>,
    pub login_session_id: Option<String>,
    pub acr: Option<String>,
    pub amr: Option<Value>,
    pub context: Option<Value>,
    /// ms.
    pub auth_time: Option<i64>,
    pub consent_challenge: Option<String>,
    pub granted_scopes: Vec<String>,
    pub granted_audience: Vec<String>,
    /// Hydra's `session.access_token` as the reference's consent accept builds it (`iss`, `tId`,
    /// `rsub`, `sessionHandle`, `gid`, `initialPayload`).
    pub access_ext: Map<String, Value>,
    /// Hydra's `session.id_token` (`ext: {sessionHandle}`, `initialPayload`).
    pub id_ext: Map<String, Value>,
    pub gid: Option<String>,
    pub error: Option<FlowError>,
}

/// What the authorisation endpoint answers.
#[derive(Debug, Clone, PartialEq)]
pub enum AuthOutcome {
    /// `OK {redirectTo, cookies}`.
    Redirect(String),
    ClientNotFound,
    Refused(OAuthRefusal),
}

/// What the login/consent routes answer.
#[derive(Debug, Clone, PartialEq)]
pub enum ChallengeOutcome {
    /// The answer's fields (`status: OK` is added by the handler).
    Ok(Map<String, Value>),
    ClientNotFound,
    Refused(OAuthRefusal),
}

fn refusal(error: &str, description: &str, status_code: u16) -> OAuthRefusal {
    OAuthRefusal { error: error.into(), description: description.into(), status_code }
}

/// Hydra's 404 for an unknown (or used, or expired) challenge.
fn not_found() -> OAuthRefusal {
    refusal("Not Found", "Unable to locate the requested resource", 404)
}

fn invalid_request(detail: &str) -> OAuthRefusal {
    super::invalid_request(detail)
}

/// `application/x-www-form-urlencoded` pairs.
pub(crate) fn encode_query(pairs: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

/// `uri` with `query` appended (after `?`, or `&` when it has a query already).
pub(crate) fn with_query(uri: &str, query: &str) -> String {
    let sep = if uri.contains('?') { '&' } else { '?' };
    format!("{uri}{sep}{query}")
}

pub(crate) fn hash_key(secret: &str) -> String {
    crate::random::sha256_hex(secret)
}

fn words(s: Option<&str>) -> Vec<String> {
    s.unwrap_or("").split(' ').filter(|w| !w.is_empty()).map(str::to_string).collect()
}

fn string_list(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default()
}

impl OAuthClient {
    pub(crate) fn redirect_uris(&self) -> Vec<String> {
        string_list(self.config.get("redirectUris"))
    }
    fn response_types(&self) -> Vec<String> {
        let t = string_list(self.config.get("responseTypes"));
        if t.is_empty() {
            vec!["code".into()]
        } else {
            t
        }
    }
    pub(crate) fn allowed_scopes(&self) -> Vec<String> {
        words(self.config.get("scope").and_then(Value::as_str))
    }
    pub(crate) fn allowed_audience(&self) -> Vec<String> {
        string_list(self.config.get("audience"))
    }
    fn post_logout_redirect_uris(&self) -> Vec<String> {
        string_list(self.config.get("postLogoutRedirectUris"))
    }
    /// The client as the login and consent requests show it (the reference's whitelist).
    fn challenge_json(&self, with_secret: bool) -> Value {
        let mut c = self.to_json(false);
        if !with_secret {
            c.shift_remove("clientSecret");
            c.shift_remove("enableRefreshTokenRotation");
        } else if self.client_secret.is_none() {
            c.insert("clientSecret".into(), Value::Null);
        }
        Value::Object(c)
    }
}

impl Flow {
    fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The request's query (its parameters as received).
    fn query(&self) -> String {
        let pairs: Vec<(&str, &str)> = self.params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        encode_query(&pairs)
    }

    /// `{iss}/oauth/auth?<request>` (Hydra's `request_url`, at the SDK's authorisation endpoint).
    fn request_url(&self) -> String {
        format!("{}/oauth/auth?{}", self.iss.as_deref().unwrap_or("{apiDomain}"), self.query())
    }

    /// Back to the authorisation endpoint with a verifier.
    fn auth_redirect(&self, verifier_name: &str, verifier: &str) -> String {
        let q = self.query();
        let extra = encode_query(&[(verifier_name, verifier)]);
        if q.is_empty() {
            format!("{{apiDomain}}/oauth/auth?{extra}")
        } else {
            format!("{{apiDomain}}/oauth/auth?{q}&{extra}")
        }
    }

    /// An RFC 6749 §4.1.2.1 error redirect to the client.
    fn error_redirect(&self, error: &str, description: &str) -> String {
        let mut pairs = vec![("error", error), ("error_description", description)];
        if !self.state.is_empty() {
            pairs.push(("state", self.state.as_str()));
        }
        with_query(&self.redirect_uri, &encode_query(&pairs))
    }

    fn oidc_context(&self) -> Value {
        let mut ctx = Map::new();
        for (param, key) in [
            ("acr_values", "acrValues"),
            ("display", "display"),
            ("login_hint", "loginHint"),
            ("ui_locales", "uiLocales"),
        ] {
            if let Some(v) = self.param(param) {
                let v = if param == "login_hint" || param == "display" { json!(v) } else { json!(words(Some(v))) };
                ctx.insert(key.into(), v);
            }
        }
        Value::Object(ctx)
    }

    fn to_value(&self) -> CoreResult<String> {
        serde_json::to_string(self).map_err(|e| CoreError::Internal(format!("cannot serialise an OAuth flow: {e}")))
    }

    pub(crate) fn parse(text: &str) -> CoreResult<Flow> {
        serde_json::from_str(text).map_err(|e| CoreError::Internal(format!("unreadable OAuth flow: {e}")))
    }
}

/// `POST /recipe/oauth/auth`, as the SDK sends it.
#[derive(Debug, Clone, Default)]
pub struct AuthRequest {
    /// The browser's query parameters.
    pub params: Vec<(String, String)>,
    pub iss: Option<String>,
}

/// `PUT …/login/accept` body fields.
#[derive(Debug, Clone, Default)]
pub struct LoginAccept {
    pub subject: Option<String>,
    pub acr: Option<String>,
    pub amr: Option<Value>,
    pub context: Option<Value>,
    pub identity_provider_session_id: Option<String>,
}

/// `PUT …/consent/accept` body fields.
#[derive(Debug, Clone, Default)]
pub struct ConsentAccept {
    pub iss: String,
    pub t_id: String,
    pub rsub: String,
    pub session_handle: String,
    pub initial_access_token_payload: Map<String, Value>,
    pub initial_id_token_payload: Map<String, Value>,
    pub grant_scope: Option<Vec<String>>,
    pub grant_access_token_audience: Option<Vec<String>>,
    pub context: Option<Value>,
}

impl Core {
    fn random_secret(&self) -> String {
        crate::random::url_token(self.rng.as_ref())
    }

    async fn take_flow(&self, app: &AppId, kind: &str, secret: &str, follow: &[OAuthFlowItem]) -> CoreResult<FlowTake> {
        let now = self.now();
        Ok(self.storage.take_oauth_flow_item(app, kind, &hash_key(secret), now, follow, None).await?)
    }

    fn flow_item(&self, kind: &str, secret: &str, flow: &Flow, ttl_ms: i64) -> CoreResult<OAuthFlowItem> {
        Ok(OAuthFlowItem {
            kind: kind.into(),
            key: hash_key(secret),
            client_id: flow.client_id.clone(),
            value: flow.to_value()?,
            expires_at: self.now().saturating_add(ttl_ms),
        })
    }

    /// `POST /recipe/oauth/auth`: the next redirect of the authorization-code flow.
    pub async fn oauth_authorize(&self, app: &AppId, req: &AuthRequest) -> CoreResult<AuthOutcome> {
        let param = |name: &str| req.params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        if let Some(verifier) = param("login_verifier") {
            return self.oauth_after_login(app, verifier).await;
        }
        if let Some(verifier) = param("consent_verifier") {
            return self.oauth_after_consent(app, verifier).await;
        }
        let Some(client_id) = param("client_id") else {
            return Ok(AuthOutcome::Refused(refusal(
                "invalid_client",
                "Client authentication failed (e.g., unknown client, no client authentication included, or unsupported authentication method). The requested OAuth 2.0 Client does not exist.",
                400,
            )));
        };
        let Some(client) = self.oauth_client(app, client_id).await? else {
            return Ok(AuthOutcome::ClientNotFound);
        };
        // The redirect URI: exactly one of the client's (no open redirect), else no redirect.
        let registered = client.redirect_uris();
        let redirect_uri = match param("redirect_uri") {
            Some(uri) if registered.iter().any(|r| r == uri) => uri.to_string(),
            None if registered.len() == 1 => registered[0].clone(),
            _ => {
                return Ok(AuthOutcome::Refused(invalid_request(
                    "The 'redirect_uri' parameter does not match any of the OAuth 2.0 Client's pre-registered redirect urls.",
                )))
            }
        };
        let params: Vec<(String, String)> = req.params.clone();
        let mut flow = Flow {
            client_id: client.client_id.clone(),
            redirect_uri,
            redirect_uri_given: param("redirect_uri").is_some(),
            params,
            scopes: words(param("scope")),
            audience: words(param("audience")),
            state: param("state").unwrap_or("").to_string(),
            nonce: param("nonce").map(str::to_string),
            code_challenge: param("code_challenge").filter(|c| !c.is_empty()).map(str::to_string),
            code_challenge_method: param("code_challenge_method").filter(|c| !c.is_empty()).map(str::to_string),
            requested_at: self.now(),
            iss: req.iss.clone(),
            ..Flow::default()
        };
        if let Some(r) = validate_request(&client, &flow, param("response_type")) {
            return Ok(AuthOutcome::Redirect(flow.error_redirect(&r.error, &r.description)));
        }
        let challenge = self.random_secret();
        flow.login_challenge = challenge.clone();
        let item = self.flow_item("login_challenge", &challenge, &flow, REQUEST_TTL_MS)?;
        self.storage.put_oauth_flow_item(app, &item).await?;
        Ok(AuthOutcome::Redirect(format!(
            "{{apiDomain}}/oauth/login?{}",
            encode_query(&[("login_challenge", &challenge)])
        )))
    }

    async fn oauth_after_login(&self, app: &AppId, verifier: &str) -> CoreResult<AuthOutcome> {
        let consent_challenge = self.random_secret();
        // The consent challenge is written with the verifier's use; its value is the flow read
        // first (a flow item's value never changes).
        let Some(text) =
            self.storage.get_oauth_flow_item(app, "login_verifier", &hash_key(verifier), self.now()).await?
        else {
            return Ok(AuthOutcome::Refused(verifier_refusal("login")));
        };
        let mut flow = Flow::parse(&text)?;
        if let Some(e) = &flow.error {
            return Ok(match self.take_flow(app, "login_verifier", verifier, &[]).await? {
                FlowTake::Taken(_) => AuthOutcome::Redirect(flow.error_redirect(&e.error, &e.description)),
                _ => AuthOutcome::Refused(verifier_refusal("login")),
            });
        }
        flow.consent_challenge = Some(consent_challenge.clone());
        let follow = [self.flow_item("consent_challenge", &consent_challenge, &flow, REQUEST_TTL_MS)?];
        match self.take_flow(app, "login_verifier", verifier, &follow).await? {
            FlowTake::Taken(_) => Ok(AuthOutcome::Redirect(format!(
                "{{apiDomain}}/oauth/consent?{}",
                encode_query(&[("consent_challenge", &consent_challenge)])
            ))),
            _ => Ok(AuthOutcome::Refused(verifier_refusal("login"))),
        }
    }

    async fn oauth_after_consent(&self, app: &AppId, verifier: &str) -> CoreResult<AuthOutcome> {
        let Some(text) =
            self.storage.get_oauth_flow_item(app, "consent_verifier", &hash_key(verifier), self.now()).await?
        else {
            return Ok(AuthOutcome::Refused(verifier_refusal("consent")));
        };
        let flow = Flow::parse(&text)?;
        if let Some(e) = &flow.error {
            return Ok(match self.take_flow(app, "consent_verifier", verifier, &[]).await? {
                FlowTake::Taken(_) => AuthOutcome::Redirect(flow.error_redirect(&e.error, &e.description)),
                _ => AuthOutcome::Refused(verifier_refusal("consent")),
            });
        }
        let code = format!("st_ac_{}", self.random_secret());
        let follow = [self.flow_item("code", &code, &flow, CODE_TTL_MS)?];
        match self.take_flow(app, "consent_verifier", verifier, &follow).await? {
            FlowTake::Taken(_) => {
                let scope = flow.granted_scopes.join(" ");
                let mut pairs = vec![("code", code.as_str()), ("scope", scope.as_str())];
                if !flow.state.is_empty() {
                    pairs.push(("state", flow.state.as_str()));
                }
                Ok(AuthOutcome::Redirect(with_query(&flow.redirect_uri, &encode_query(&pairs))))
            }
            _ => Ok(AuthOutcome::Refused(verifier_refusal("consent"))),
        }
    }

    async fn challenge_flow(&self, app: &AppId, kind: &str, challenge: &str) -> CoreResult<Option<Flow>> {
        match self.storage.get_oauth_flow_item(app, kind, &hash_key(challenge), self.now()).await? {
            Some(text) => Ok(Some(Flow::parse(&text)?)),
            None => Ok(None),
        }
    }

    /// `GET /recipe/oauth/auth/requests/login`.
    pub async fn oauth_login_request(&self, app: &AppId, challenge: &str) -> CoreResult<ChallengeOutcome> {
        let Some(flow) = self.challenge_flow(app, "login_challenge", challenge).await? else {
            return Ok(ChallengeOutcome::Refused(not_found()));
        };
        let Some(client) = self.oauth_client(app, &flow.client_id).await? else {
            return Ok(ChallengeOutcome::ClientNotFound);
        };
        let mut out = Map::new();
        out.insert("challenge".into(), json!(challenge));
        out.insert("client".into(), client.challenge_json(true));
        out.insert("oidcContext".into(), flow.oidc_context());
        out.insert("requestUrl".into(), json!(flow.request_url()));
        out.insert("requestedAccessTokenAudience".into(), json!(flow.audience));
        out.insert("requestedScope".into(), json!(flow.scopes));
        out.insert("skip".into(), json!(false));
        out.insert("subject".into(), json!(""));
        Ok(ChallengeOutcome::Ok(out))
    }

    /// `PUT /recipe/oauth/auth/requests/login/accept`.
    pub async fn oauth_accept_login(
        &self,
        app: &AppId,
        challenge: &str,
        accept: &LoginAccept,
    ) -> CoreResult<ChallengeOutcome> {
        let Some(subject) = accept.subject.clone().filter(|s| !s.is_empty()) else {
            return Ok(ChallengeOutcome::Refused(invalid_request("Field 'subject' must not be empty.")));
        };
        let Some(mut flow) = self.challenge_flow(app, "login_challenge", challenge).await? else {
            return Ok(ChallengeOutcome::Refused(not_found()));
        };
        flow.subject = Some(subject);
        flow.acr = accept.acr.clone();
        flow.amr = accept.amr.clone();
        flow.context = accept.context.clone();
        flow.login_session_id = accept.identity_provider_session_id.clone();
        flow.auth_time = Some(self.now());
        self.oauth_login_decided(app, challenge, flow).await
    }

    /// `PUT /recipe/oauth/auth/requests/login/reject`.
    pub async fn oauth_reject_login(
        &self,
        app: &AppId,
        challenge: &str,
        error: &FlowErrorInput,
    ) -> CoreResult<ChallengeOutcome> {
        let Some(mut flow) = self.challenge_flow(app, "login_challenge", challenge).await? else {
            return Ok(ChallengeOutcome::Refused(not_found()));
        };
        flow.error = Some(error.resolve());
        self.oauth_login_decided(app, challenge, flow).await
    }

    async fn oauth_login_decided(&self, app: &AppId, challenge: &str, flow: Flow) -> CoreResult<ChallengeOutcome> {
        let verifier = self.random_secret();
        let follow = [self.flow_item("login_verifier", &verifier, &flow, REQUEST_TTL_MS)?];
        match self.take_flow(app, "login_challenge", challenge, &follow).await? {
            FlowTake::Taken(_) => {
                let mut out = Map::new();
                out.insert("redirectTo".into(), json!(flow.auth_redirect("login_verifier", &verifier)));
                Ok(ChallengeOutcome::Ok(out))
            }
            _ => Ok(ChallengeOutcome::Refused(not_found())),
        }
    }

    /// `GET /recipe/oauth/auth/requests/consent`.
    pub async fn oauth_consent_request(&self, app: &AppId, challenge: &str) -> CoreResult<ChallengeOutcome> {
        let Some(flow) = self.challenge_flow(app, "consent_challenge", challenge).await? else {
            return Ok(ChallengeOutcome::Refused(not_found()));
        };
        let Some(client) = self.oauth_client(app, &flow.client_id).await? else {
            return Ok(ChallengeOutcome::ClientNotFound);
        };
        let mut out = Map::new();
        if let Some(acr) = &flow.acr {
            out.insert("acr".into(), json!(acr));
        }
        if let Some(amr) = &flow.amr {
            out.insert("amr".into(), amr.clone());
        }
        out.insert("challenge".into(), json!(challenge));
        out.insert("client".into(), client.challenge_json(false));
        if let Some(ctx) = &flow.context {
            out.insert("context".into(), ctx.clone());
        }
        out.insert("loginChallenge".into(), json!(flow.login_challenge));
        if let Some(sid) = &flow.login_session_id {
            out.insert("loginSessionId".into(), json!(sid));
        }
        out.insert("oidcContext".into(), flow.oidc_context());
        out.insert("requestUrl".into(), json!(flow.request_url()));
        out.insert("requestedAccessTokenAudience".into(), json!(flow.audience));
        out.insert("requestedScope".into(), json!(flow.scopes));
        out.insert("skip".into(), json!(false));
        out.insert("subject".into(), json!(flow.subject.clone().unwrap_or_default()));
        Ok(ChallengeOutcome::Ok(out))
    }

    /// `PUT /recipe/oauth/auth/requests/consent/accept`: the session the tokens will carry, as
    /// the reference builds it (a new grant id `gid`).
    pub async fn oauth_accept_consent(
        &self,
        app: &AppId,
        challenge: &str,
        accept: &ConsentAccept,
    ) -> CoreResult<ChallengeOutcome> {
        let Some(mut flow) = self.challenge_flow(app, "consent_challenge", challenge).await? else {
            return Ok(ChallengeOutcome::Refused(not_found()));
        };
        let gid = crate::random::uuid_v4(self.rng.as_ref());
        let mut access = Map::new();
        access.insert("iss".into(), json!(accept.iss));
        access.insert("tId".into(), json!(accept.t_id));
        access.insert("rsub".into(), json!(accept.rsub));
        access.insert("sessionHandle".into(), json!(accept.session_handle));
        access.insert("gid".into(), json!(gid));
        access.insert("initialPayload".into(), Value::Object(accept.initial_access_token_payload.clone()));
        let mut id = Map::new();
        id.insert("ext".into(), json!({"sessionHandle": accept.session_handle}));
        id.insert("initialPayload".into(), Value::Object(accept.initial_id_token_payload.clone()));
        flow.access_ext = access;
        flow.id_ext = id;
        flow.gid = Some(gid);
        flow.granted_scopes = accept.grant_scope.clone().unwrap_or_default();
        flow.granted_audience = accept.grant_access_token_audience.clone().unwrap_or_default();
        if accept.context.is_some() {
            flow.context = accept.context.clone();
        }
        self.oauth_consent_decided(app, challenge, flow).await
    }

    /// `PUT /recipe/oauth/auth/requests/consent/reject`.
    pub async fn oauth_reject_consent(
        &self,
        app: &AppId,
        challenge: &str,
        error: &FlowErrorInput,
    ) -> CoreResult<ChallengeOutcome> {
        let Some(mut flow) = self.challenge_flow(app, "consent_challenge", challenge).await? else {
            return Ok(ChallengeOutcome::Refused(not_found()));
        };
        flow.error = Some(error.resolve());
        self.oauth_consent_decided(app, challenge, flow).await
    }

    async fn oauth_consent_decided(&self, app: &AppId, challenge: &str, flow: Flow) -> CoreResult<ChallengeOutcome> {
        let verifier = self.random_secret();
        let follow = [self.flow_item("consent_verifier", &verifier, &flow, REQUEST_TTL_MS)?];
        match self.take_flow(app, "consent_challenge", challenge, &follow).await? {
            FlowTake::Taken(_) => {
                let mut out = Map::new();
                out.insert("redirectTo".into(), json!(flow.auth_redirect("consent_verifier", &verifier)));
                Ok(ChallengeOutcome::Ok(out))
            }
            _ => Ok(ChallengeOutcome::Refused(not_found())),
        }
    }

    /// `GET /recipe/oauth/sessions/logout` (RP-initiated logout): a logout challenge for the
    /// SDK's logout page, after the reference's checks of the ID token hint and the post-logout
    /// redirect URI.
    pub async fn oauth_logout(&self, app: &AppId, req: &LogoutRequest) -> CoreResult<AuthOutcome> {
        if req.id_token_hint.is_none() {
            if req.post_logout_redirect_uri.is_some() {
                return Ok(AuthOutcome::Refused(invalid_request(
                    "Logout failed because query parameter postLogoutRedirectionUri is set but idTokenHint is missing.",
                )));
            }
            if req.state.is_some() {
                return Ok(AuthOutcome::Refused(invalid_request(
                    "Logout failed because query parameter state is set but idTokenHint is missing.",
                )));
            }
        }
        let mut client_id = req.client_id.clone();
        let mut session_handle = None;
        if let Some(hint) = &req.id_token_hint {
            let Some(payload) = self.oauth_verified_payload(app, hint).await? else {
                return Ok(AuthOutcome::Refused(invalid_request("")));
            };
            session_handle = payload.get("sid").and_then(Value::as_str).map(str::to_string);
            let aud = match payload.get("aud") {
                Some(Value::String(s)) => Some(s.clone()),
                Some(Value::Array(a)) if a.len() == 1 => a[0].as_str().map(str::to_string),
                _ => None,
            };
            match (&client_id, aud) {
                (Some(c), Some(a)) if *c != a => {
                    return Ok(AuthOutcome::Refused(refusal(
                        "invalid_request",
                        "The client_id in the id_token_hint does not match the client_id in the request.",
                        400,
                    )))
                }
                (Some(_), _) => {}
                (None, a) => client_id = a,
            }
        }
        // Without a client there is nothing to log out of (the reference fails on its NOT NULL
        // column): straight to the fallback page.
        let Some(client_id) = client_id else {
            return Ok(AuthOutcome::Redirect("{apiDomain}/fallbacks/logout/callback".into()));
        };
        let Some(client) = self.oauth_client(app, &client_id).await? else {
            return Ok(AuthOutcome::ClientNotFound);
        };
        if let Some(uri) = &req.post_logout_redirect_uri {
            let allowed = client.post_logout_redirect_uris();
            if allowed.is_empty() {
                return Ok(AuthOutcome::Refused(refusal("", "", 400)));
            }
            if !allowed.iter().any(|a| a == uri) {
                return Ok(AuthOutcome::Refused(refusal(
                    "invalid_request",
                    "The post_logout_redirect_uri is not valid for this client.",
                    400,
                )));
            }
        }
        loop {
            let challenge = crate::random::uuid_v4(self.rng.as_ref());
            let row = OAuthLogoutChallenge {
                challenge: challenge.clone(),
                client_id: client_id.clone(),
                post_logout_redirect_uri: req.post_logout_redirect_uri.clone(),
                session_handle: session_handle.clone(),
                state: req.state.clone(),
                time_created: self.now(),
            };
            if self.storage.create_oauth_logout_challenge(app, &row).await? {
                return Ok(AuthOutcome::Redirect(format!("{{apiDomain}}/oauth/logout?logout_challenge={challenge}")));
            }
        }
    }

    /// `PUT /recipe/oauth/auth/requests/logout/accept`: the session's OAuth tokens revoked, and
    /// where the browser goes (the post-logout redirect URI with the state, or the fallback).
    pub async fn oauth_accept_logout(&self, app: &AppId, challenge: &str) -> CoreResult<Result<String, OAuthRefusal>> {
        let Some(c) = self.storage.take_oauth_logout_challenge(app, challenge).await? else {
            return Ok(Err(refusal("invalid_request", "Logout request not found", 400)));
        };
        if let Some(handle) = &c.session_handle {
            self.storage.revoke_oauth_tokens_of_session(app, handle).await?;
        }
        Ok(Ok(match (&c.post_logout_redirect_uri, &c.state) {
            (Some(uri), Some(state)) => with_query(uri, &encode_query(&[("state", state)])),
            (Some(uri), None) => uri.clone(),
            _ => "{apiDomain}/fallbacks/logout/callback".into(),
        }))
    }

    /// `PUT /recipe/oauth/auth/requests/logout/reject`: the challenge is dropped.
    pub async fn oauth_reject_logout(&self, app: &AppId, challenge: &str) -> CoreResult<()> {
        self.storage.take_oauth_logout_challenge(app, challenge).await?;
        Ok(())
    }
}

/// `GET /recipe/oauth/sessions/logout`'s query.
#[derive(Debug, Clone, Default)]
pub struct LogoutRequest {
    pub client_id: Option<String>,
    pub id_token_hint: Option<String>,
    pub post_logout_redirect_uri: Option<String>,
    pub state: Option<String>,
}

/// The error given to a login or consent reject (`error`, `errorDescription`, `statusCode`).
#[derive(Debug, Clone, Default)]
pub struct FlowErrorInput {
    pub error: Option<String>,
    pub description: Option<String>,
}

impl FlowErrorInput {
    /// Hydra's default: `request_denied` ("The resource owner or authorization server denied
    /// the request.").
    fn resolve(&self) -> FlowError {
        let error = self.error.clone().filter(|e| !e.is_empty()).unwrap_or_else(|| "request_denied".into());
        let description = self
            .description
            .clone()
            .unwrap_or_else(|| "The resource owner or authorization server denied the request.".into());
        FlowError { error, description }
    }
}

fn verifier_refusal(which: &str) -> OAuthRefusal {
    invalid_request(&format!("The {which} verifier has already been used, has not been granted, or is invalid."))
}

/// Fosite's checks of an authorization request once the redirect URI is the client's: the
/// refusal, sent to the client as an error redirect.
fn validate_request(client: &OAuthClient, flow: &Flow, response_type: Option<&str>) -> Option<OAuthRefusal> {
    let types = words(response_type);
    if types.is_empty() {
        return Some(refusal(
            "unsupported_response_type",
            "The authorization server does not support obtaining a token using this method. `The request is missing the 'response_type' parameter.",
            400,
        ));
    }
    if types != ["code"] || !client.response_types().iter().any(|t| t == "code") {
        return Some(refusal(
            "unsupported_response_type",
            &format!(
                "The authorization server does not support obtaining a token using this method. The client is not allowed to request response_type '{}'.",
                types.join(" ")
            ),
            400,
        ));
    }
    if flow.state.chars().count() < MIN_ENTROPY {
        return Some(refusal(
            "invalid_state",
            "The state is missing or does not have enough characters and is therefore considered too weak. Request parameter 'state' must be at least be 8 characters long to ensure sufficient entropy.",
            400,
        ));
    }
    let allowed = client.allowed_scopes();
    if let Some(s) = flow.scopes.iter().find(|s| !allowed.contains(s)) {
        return Some(refusal(
            "invalid_scope",
            &format!("The requested scope is invalid, unknown, or malformed. The OAuth 2.0 Client is not allowed to request scope '{s}'."),
            400,
        ));
    }
    let allowed_aud = client.allowed_audience();
    if let Some(a) = flow.audience.iter().find(|a| !allowed_aud.contains(a)) {
        return Some(invalid_request(&format!(
            "Requested audience '{a}' has not been whitelisted by the OAuth 2.0 Client."
        )));
    }
    if flow.nonce.as_deref().is_some_and(|n| !n.is_empty() && n.chars().count() < MIN_ENTROPY) {
        return Some(invalid_request(
            "Parameter 'nonce' is set but does not satisfy the minimum entropy of 8 characters.",
        ));
    }
    match (&flow.code_challenge, flow.code_challenge_method.as_deref()) {
        (_, Some(m)) if m != "S256" && m != "plain" => {
            return Some(invalid_request("The code_challenge_method is not supported, use S256 instead."))
        }
        (None, _) if client.auth_method() == "none" => {
            return Some(invalid_request(
                "Clients must include a code_challenge when performing the authorize code flow, but it is missing. The server is configured in a way that enforces PKCE for this client.",
            ))
        }
        _ => {}
    }
    None
}
