//! The session recipe: create, verify (with lazy promotion), refresh (with token-theft
//! detection), regenerate, read, revoke. Behaviour follows CDI 5.4 (see
//! `docs/ARCHITECTURE.md` and the reference notes §c).

use crate::core::Core;
use crate::crypto::{decrypt_refresh_payload, encrypt_refresh_payload, parse_jwt, SigningKey};
use crate::error::{CoreError, CoreResult};
use crate::ids::{AppId, TenantId, TenantIdentifier};
use crate::random::{sha256_hex, uuid_v4};
use crate::storage::{ResolvedSession, SessionIdentity, SessionPatch, SessionRow, TouchIfCurrent};
use serde::Serialize;
use serde_json::{json, Map, Value};
use st_config::CoreConfig;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Claims the core owns in a v5 access token; user payloads may not use them.
pub const PROTECTED_CLAIMS: [&str; 9] = [
    "sub",
    "exp",
    "iat",
    "sessionHandle",
    "refreshTokenHash1",
    "parentRefreshTokenHash1",
    "antiCsrfToken",
    "tId",
    "rsub",
];

/// The claims the core owns in an access token of `version` (3, 4 or 5): v3 has neither `tId`
/// nor `rsub`, v4 has no `rsub`.
fn protected_claims(version: u8) -> &'static [&'static str] {
    match version {
        ..=3 => &PROTECTED_CLAIMS[..7],
        4 => &PROTECTED_CLAIMS[..8],
        _ => &PROTECTED_CLAIMS,
    }
}

/// The access-token version the core issues.
const LATEST_TOKEN_VERSION: u8 = 5;

pub const PROTECTED_FIELD_MESSAGE: &str = "The user payload contains protected field";

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Token {
    pub token: String,
    pub expiry: i64,
    pub created_time: i64,
}

/// The `session` object of responses. Nulls are kept, as the reference does.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SessionSummary {
    pub handle: String,
    pub user_id: String,
    pub recipe_user_id: String,
    #[serde(rename = "userDataInJWT")]
    pub user_data_in_jwt: Value,
    pub tenant_id: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewSession {
    pub session: SessionSummary,
    pub access_token: Token,
    pub refresh_token: Token,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anti_csrf_token: Option<String>,
}

#[derive(Debug)]
pub enum VerifyOutcome {
    Ok { session: SessionSummary, access_token: Option<Token> },
    TryRefreshToken(String),
    Unauthorised(String),
}

#[derive(Debug)]
pub enum RefreshOutcome {
    Ok(NewSession),
    Unauthorised(String),
    TokenTheftDetected { handle: String, user_id: String, recipe_user_id: String },
}

#[derive(Debug)]
pub enum RegenerateOutcome {
    Ok { session: SessionSummary, access_token: Option<Token> },
    Unauthorised(String),
}

/// `GET /recipe/session` answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionInformation {
    pub session_handle: String,
    pub user_id: String,
    pub recipe_user_id: String,
    pub user_data_in_database: Value,
    pub expiry: i64,
    #[serde(rename = "userDataInJWT")]
    pub user_data_in_jwt: Value,
    pub time_created: i64,
    pub tenant_id: String,
}

pub struct CreateSession {
    pub user_id: String,
    pub enable_anti_csrf: bool,
    pub user_data_in_jwt: Map<String, Value>,
    pub user_data_in_database: Value,
    pub use_dynamic_key: bool,
}

/// The refresh token's encrypted payload.
#[derive(Debug, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct RefreshPayload {
    session_handle: String,
    user_id: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    parent_refresh_token_hash1: Option<String>,
    nonce: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    anti_csrf_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    tenant_id: Option<String>,
}

/// Reject payloads that use a protected claim.
pub fn check_user_payload(payload: &Map<String, Value>) -> CoreResult<()> {
    check_user_payload_for(LATEST_TOKEN_VERSION, payload)
}

/// [`check_user_payload`] for a token of `version` (a regenerate keeps its token's version).
fn check_user_payload_for(version: u8, payload: &Map<String, Value>) -> CoreResult<()> {
    if payload.keys().any(|k| protected_claims(version).contains(&k.as_str())) {
        return Err(CoreError::bad(PROTECTED_FIELD_MESSAGE));
    }
    Ok(())
}

/// The tenant part of a session handle (`<uuid>_<tenant>`), read as the reference reads it: the
/// second `_`-separated part, where trailing empty parts do not count (Java's `split`); `None`
/// (the public tenant) when there is none.
fn handle_tenant_part(handle: &str) -> Option<&str> {
    let mut parts: Vec<&str> = handle.split('_').collect();
    while parts.last() == Some(&"") {
        parts.pop();
    }
    parts.get(1).copied()
}

fn user_claims(version: u8, payload: &Map<String, Value>) -> Map<String, Value> {
    payload
        .iter()
        .filter(|(k, _)| !protected_claims(version).contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Everything needed to mint an access token.
struct Mint<'a> {
    /// 3, 4 or 5: which claims and header `version` the token has (§c.2).
    version: u8,
    user_id: &'a str,
    recipe_user_id: &'a str,
    tenant: &'a TenantId,
    handle: &'a str,
    refresh_token_hash1: &'a str,
    parent_refresh_token_hash1: Option<&'a str>,
    anti_csrf: Option<&'a str>,
    user_data: &'a Value,
    iat_ms: i64,
    exp_ms: i64,
}

/// A user's `aud` claim as the reference's JWT library writes it into a signed token: a
/// string stays, a list keeps its strings (one string is written bare, none removes the
/// claim), any other value removes the claim. The stored payload keeps what the user gave.
fn aud_as_signed(payload: &mut Map<String, Value>) {
    let written = match payload.get("aud") {
        None | Some(Value::String(_)) => return,
        Some(Value::Array(items)) => {
            let mut names: Vec<Value> = items.iter().filter(|v| v.is_string()).cloned().collect();
            match names.len() {
                0 => None,
                1 => names.pop(),
                _ => Some(Value::Array(names)),
            }
        }
        Some(_) => None,
    };
    match written {
        Some(v) => {
            payload.insert("aud".into(), v);
        }
        None => {
            payload.shift_remove("aud");
        }
    }
}

/// Whether a token's user claims are what `stored` gives once signed (see [`aud_as_signed`]).
fn same_as_signed(token_claims: &Map<String, Value>, stored: &Value) -> bool {
    match stored {
        Value::Object(m) if m.contains_key("aud") => {
            let mut signed = m.clone();
            aud_as_signed(&mut signed);
            *token_claims == signed
        }
        Value::Object(m) => token_claims == m,
        _ => false,
    }
}

/// The header and claims of an access token (§c.2); signing happens in [`Core::mint`].
fn access_token_parts(kid: &str, m: &Mint<'_>) -> (Value, Value) {
    let mut payload = Map::new();
    if let Value::Object(user) = m.user_data {
        for (k, v) in user {
            payload.insert(k.clone(), v.clone());
        }
    }
    aud_as_signed(&mut payload);
    payload.insert("iat".into(), json!(m.iat_ms / 1000));
    payload.insert("exp".into(), json!(m.exp_ms / 1000));
    payload.insert("sub".into(), json!(m.user_id));
    if m.version >= 4 {
        payload.insert("tId".into(), json!(m.tenant.as_str()));
    }
    if m.version >= 5 {
        payload.insert("rsub".into(), json!(m.recipe_user_id));
    }
    payload.insert("sessionHandle".into(), json!(m.handle));
    payload.insert("refreshTokenHash1".into(), json!(m.refresh_token_hash1));
    payload.insert("parentRefreshTokenHash1".into(), json!(m.parent_refresh_token_hash1));
    payload.insert("antiCsrfToken".into(), json!(m.anti_csrf));
    let header = json!({"kid": kid, "typ": "JWT", "version": m.version.to_string(), "alg": "RS256"});
    (header, Value::Object(payload))
}

/// A verified (or, for regenerate, merely parsed) access token of version 3, 4 or 5.
struct AccessTokenInfo {
    handle: String,
    user_id: String,
    recipe_user_id: String,
    tenant: TenantId,
    refresh_token_hash1: String,
    parent_refresh_token_hash1: Option<String>,
    anti_csrf: Option<String>,
    exp_ms: i64,
    user_data: Map<String, Value>,
    version: u8,
}

/// The version and `kid` of a session access token from its header, checked in the
/// reference's order (`JWT.preParseJWTInfo`) and with its messages: `typ` must be the string
/// `JWT`, `alg` the string `RS256`, `version` (absent: the latest) one of "3", "4", "5", and
/// `kid` a string. A field that is absent or not a JSON primitive is "missing"; one of the
/// wrong type or value is a "mismatch". A non-string `version`, or "1" or "2", is refused
/// before `kid` is looked at; another unknown version string only after it.
fn check_header(header: &Map<String, Value>) -> Result<(u8, &str), String> {
    let primitive = |k: &str| header.get(k).filter(|v| !v.is_array() && !v.is_object() && !v.is_null());
    let expect = |k: &str, want: &str| -> Result<(), String> {
        match primitive(k) {
            None => Err(format!("JWT header missing - {k}")),
            Some(Value::String(v)) if v == want => Ok(()),
            Some(_) => Err(format!("JWT header mismatch - {k}")),
        }
    };
    expect("typ", "JWT")?;
    expect("alg", "RS256")?;
    let version = match header.get("version") {
        None => Some(LATEST_TOKEN_VERSION),
        Some(Value::String(v)) if v == "1" || v == "2" => return Err("JWT header mismatch - version".into()),
        Some(Value::String(v)) => known_version(v),
        Some(_) => return Err("JWT header mismatch - version".into()),
    };
    let kid = match primitive("kid") {
        None => return Err("JWT header missing - kid".into()),
        Some(Value::String(kid)) => kid.as_str(),
        Some(_) => return Err("JWT header mismatch - kid".into()),
    };
    match version {
        Some(v) => Ok((v, kid)),
        None => Err("JWT header mismatch - version".into()),
    }
}

/// The access-token version of a JWT header: `version` "3", "4" or "5", latest when absent.
/// Versions 1 and 2 (no longer issued) and anything else are refused.
fn token_version(header: &Map<String, Value>) -> Result<u8, String> {
    match header.get("version") {
        None => Ok(LATEST_TOKEN_VERSION),
        Some(Value::String(v)) => known_version(v).ok_or_else(|| "Invalid JWT header".into()),
        Some(_) => Err("Invalid JWT header".into()),
    }
}

/// The access-token versions this server reads, by their header string.
fn known_version(v: &str) -> Option<u8> {
    match v {
        "3" => Some(3),
        "4" => Some(4),
        "5" => Some(5),
        _ => None,
    }
}

/// The claims of a version-`version` access token. Every claim of that version must be
/// present (`parentRefreshTokenHash1` and `antiCsrfToken` may be null): v3 has `sub, exp, iat,
/// sessionHandle, refreshTokenHash1, parentRefreshTokenHash1, antiCsrfToken`, v4 adds `tId`,
/// v5 adds `rsub`. A missing one is TRY_REFRESH_TOKEN.
/// TRY_REFRESH_TOKEN's text for a token without a claim the check needs.
const INCOMPLETE: &str = "Access token does not contain all the information. Maybe the structure has changed?";

fn read_claims(version: u8, payload: &Map<String, Value>) -> Result<AccessTokenInfo, String> {
    // An absent claim is named, in the reference's order of its required claims (the
    // protected claims of the version, in the same order).
    if let Some(absent) = protected_claims(version).iter().find(|k| !payload.contains_key(**k)) {
        return Err(format!("{INCOMPLETE} {absent}"));
    }
    // Present with the wrong type: the same text without a name (the reference fails with a 500).
    let s = |k: &str| payload.get(k).and_then(Value::as_str).map(str::to_string);
    let missing = || INCOMPLETE.to_string();
    let nullable = |k: &str| match payload.get(k) {
        Some(Value::Null) => Ok(None),
        Some(Value::String(v)) => Ok(Some(v.clone())),
        _ => Err(missing()),
    };
    let handle = s("sessionHandle").ok_or_else(missing)?;
    let user_id = s("sub").ok_or_else(missing)?;
    let refresh_token_hash1 = s("refreshTokenHash1").ok_or_else(missing)?;
    let exp = payload.get("exp").and_then(Value::as_i64).ok_or_else(missing)?;
    payload.get("iat").and_then(Value::as_i64).ok_or_else(missing)?;
    let parent_refresh_token_hash1 = nullable("parentRefreshTokenHash1")?;
    let anti_csrf = nullable("antiCsrfToken")?;
    let tenant = match (version, s("tId")) {
        (4.., Some(t)) => TenantId::parse(&t).map_err(|_| missing())?,
        (4.., None) => return Err(missing()),
        _ => TenantId::public(),
    };
    let recipe_user_id = match (version, s("rsub")) {
        (5.., Some(r)) => r,
        (5.., None) => return Err(missing()),
        _ => user_id.clone(),
    };
    Ok(AccessTokenInfo {
        recipe_user_id,
        handle,
        user_id,
        tenant,
        refresh_token_hash1,
        parent_refresh_token_hash1,
        anti_csrf,
        exp_ms: exp.saturating_mul(1000),
        user_data: user_claims(version, payload),
        version,
    })
}

impl Core {
    /// Start-up: make sure the base app has its refresh-token key (so `key_value` is populated
    /// from the first start, as with the reference core).
    pub async fn init_base_app(&self) -> CoreResult<()> {
        self.refresh_master_key(&AppId::public()).await.map(|_| ())
    }

    async fn refresh_master_key(&self, app: &AppId) -> CoreResult<String> {
        let state = self.app_state(app);
        let key = state
            .refresh_key
            .get_or_try_init(|| async {
                let candidate = format!(
                    "1000:{}:{}",
                    hex::encode(crate::random::bytes::<64>(self.rng.as_ref())),
                    hex::encode(crate::random::bytes::<64>(self.rng.as_ref()))
                );
                self.storage
                    .get_or_insert_key_value(
                        &TenantIdentifier::app_public(app),
                        "refresh_token_key",
                        &candidate,
                        self.now(),
                    )
                    .await
                    .map_err(CoreError::from)
            })
            .await?;
        Ok(key.clone())
    }

    /// The tenant a session belongs to, named by its handle or token (`None` or empty: public),
    /// which must exist. As in the reference, whose storage lookup for that tenant fails: an
    /// unknown or deleted tenant is the 400 `AppId or tenantId not found`, not UNAUTHORISED.
    async fn session_tenant(&self, app: &AppId, raw: Option<&str>) -> CoreResult<TenantIdentifier> {
        let tenant = match raw.filter(|t| !t.is_empty()) {
            None => TenantId::public(),
            Some(t) => TenantId::parse(t).map_err(|_| {
                CoreError::TenantOrAppNotFound(TenantIdentifier::named_not_found_message(
                    app,
                    &crate::ids::java_trim(t).to_ascii_lowercase(),
                ))
            })?,
        };
        let id = TenantIdentifier::new(app.clone(), tenant);
        self.tenant(&id).await?;
        Ok(id)
    }

    /// The key that signs new tokens of this kind.
    async fn signing_key(&self, app: &AppId, cfg: &CoreConfig, use_static: bool) -> CoreResult<Arc<SigningKey>> {
        let keys = &self.app_state(app).keys;
        if use_static {
            return keys.static_key(self, cfg).await;
        }
        let set = keys.get(self, cfg, false).await?;
        set.signing_key(self.now())
            .cloned()
            .ok_or_else(|| CoreError::Internal("no access-token signing key available".into()))
    }

    /// Map a user id to (primary user id, recipe user id) as the session should carry them.
    async fn session_user_ids(&self, app: &AppId, user_id: &str) -> CoreResult<(String, String)> {
        crate::users::session_user_ids(self, app, user_id).await
    }

    fn new_refresh_token(
        &self,
        master: &str,
        tenant: &TenantId,
        handle: &str,
        user_id: &str,
        parent_hash1: Option<&str>,
        anti_csrf: Option<&str>,
    ) -> CoreResult<String> {
        let nonce = sha256_hex(&uuid_v4(self.rng.as_ref()));
        let payload = RefreshPayload {
            session_handle: handle.to_string(),
            user_id: user_id.to_string(),
            parent_refresh_token_hash1: parent_hash1.map(str::to_string),
            nonce: nonce.clone(),
            anti_csrf_token: anti_csrf.map(str::to_string),
            tenant_id: if tenant.is_public() { None } else { Some(tenant.as_str().to_string()) },
        };
        let plain = serde_json::to_vec(&payload).map_err(|e| CoreError::Internal(e.to_string()))?;
        let enc = encrypt_refresh_payload(master, &plain, self.rng.as_ref()).map_err(CoreError::Internal)?;
        Ok(format!("{enc}.{nonce}.V2"))
    }

    fn decode_refresh_token(&self, master: &str, token: &str) -> Option<RefreshPayload> {
        let mut parts = token.rsplitn(3, '.');
        let (version, nonce, enc) = (parts.next()?, parts.next()?, parts.next()?);
        if version != "V2" {
            return None;
        }
        let plain = decrypt_refresh_payload(master, enc)?;
        let payload: RefreshPayload = serde_json::from_slice(&plain).ok()?;
        (payload.nonce == nonce).then_some(payload)
    }

    /// Sign an access token. Inline on the calling worker: an RS256 signature is about 0.7 ms,
    /// and handing it to a blocking thread measured slower (16 clients: 1,920 instead of
    /// 2,430 creations/s), the two thread switches per request costing more than the
    /// worker time they free.
    fn mint(&self, key: &SigningKey, m: &Mint<'_>) -> CoreResult<Token> {
        let (header, payload) = access_token_parts(&key.kid, m);
        let token = key.sign_jwt(&header, &payload).map_err(CoreError::Internal)?;
        let (iat, exp) = (m.iat_ms / 1000, m.exp_ms / 1000);
        Ok(Token { token, expiry: exp * 1000, created_time: iat * 1000 })
    }

    /// `POST /<tenant>/recipe/session`
    ///
    /// The row is stored in one storage intent that also resolves the session's user (primary
    /// and external ids) and records it as active. Nothing in the row depends on the access
    /// token, whose `sub`/`rsub` come from that identity; see below for when it is signed.
    pub async fn create_session(&self, tenant: &TenantIdentifier, input: CreateSession) -> CoreResult<NewSession> {
        check_user_payload(&input.user_data_in_jwt)?;
        self.tenant(tenant).await?;
        let cfg = self.app_config(&tenant.app).await?;
        let now = self.now();
        let mut handle = uuid_v4(self.rng.as_ref());
        if !tenant.tenant.is_public() {
            handle = format!("{handle}_{}", tenant.tenant);
        }
        let anti_csrf = input.enable_anti_csrf.then(|| uuid_v4(self.rng.as_ref()));
        let master = self.refresh_master_key(&tenant.app).await?;
        let refresh =
            self.new_refresh_token(&master, &tenant.tenant, &handle, &input.user_id, None, anti_csrf.as_deref())?;
        let refresh_hash1 = sha256_hex(&refresh);
        let refresh_expiry = now + cfg.refresh_token_validity_ms;
        let user_data = Value::Object(input.user_data_in_jwt);
        let key = self.signing_key(&tenant.app, &cfg, !input.use_dynamic_key).await?;
        let given = input.user_id.as_str();
        let claims = |primary: &str, recipe: &str| -> CoreResult<Token> {
            self.mint(
                &key,
                &Mint {
                    version: LATEST_TOKEN_VERSION,
                    user_id: primary,
                    recipe_user_id: recipe,
                    tenant: &tenant.tenant,
                    handle: &handle,
                    refresh_token_hash1: &refresh_hash1,
                    parent_refresh_token_hash1: None,
                    anti_csrf: anti_csrf.as_deref(),
                    user_data: &user_data,
                    iat_ms: now,
                    exp_ms: now + cfg.access_token_validity_s * 1000,
                },
            )
        };
        let row = SessionRow {
            tenant: tenant.clone(),
            handle: handle.clone(),
            user_id: input.user_id.clone(),
            refresh_token_hash_2: sha256_hex(&refresh_hash1),
            session_data: input.user_data_in_database,
            expires_at: refresh_expiry,
            created_at: now,
            jwt_user_payload: user_data.clone(),
            use_static_key: !input.use_dynamic_key,
        };
        // Most sessions are for a user that is its own primary and has no external id, so the
        // token's `sub` and `rsub` are the id as given. While the app's last session was such
        // a one, sign for that guess while the row is being stored (the signature overlaps the
        // round trip) and sign again only when the stored identity says otherwise; after a
        // miss, sign after the round trip until a session matches the guess again.
        // The insert's own statement records the activity, unless this instance recorded the
        // user within the throttle window (see `crate::activity`), as the reference's session
        // creation does; the refreshes that follow within the window need not write either.
        let record = !self.activity.was_recent(&tenant.app, given, now);
        let app_state = self.app_state(&tenant.app);
        let (identity, guessed) = if app_state.guess_session_identity.load(Ordering::Relaxed) {
            let (stored, guess) =
                tokio::join!(self.storage.create_session_resolved(&row, record), async { claims(given, given) });
            (stored?, Some(guess?))
        } else {
            (self.storage.create_session_resolved(&row, record).await?, None)
        };
        if record {
            let active = SessionIdentity::active_user(identity.as_ref(), given);
            self.activity.mark(&tenant.app, &[&active, given], now);
        }
        let (primary, recipe) = SessionIdentity::reported(identity, given);
        let as_given = primary == given && recipe == given;
        app_state.guess_session_identity.store(as_given, Ordering::Relaxed);
        let access = match guessed {
            Some(token) if as_given => token,
            _ => claims(&primary, &recipe)?,
        };
        Ok(NewSession {
            session: SessionSummary {
                handle,
                user_id: primary,
                recipe_user_id: recipe,
                user_data_in_jwt: user_data,
                tenant_id: tenant.tenant.to_string(),
            },
            access_token: access,
            refresh_token: Token { token: refresh, expiry: refresh_expiry, created_time: now },
            anti_csrf_token: anti_csrf,
        })
    }

    /// Verify signature, header and expiry of an access token.
    async fn verify_access_token(&self, app: &AppId, cfg: &CoreConfig, token: &str) -> Result<AccessTokenInfo, String> {
        let parsed = parse_jwt(token)?;
        let (version, kid) = check_header(&parsed.header)?;
        let keys = &self.app_state(app).keys;
        let now = self.now();
        let mut set = keys.get(self, cfg, false).await.map_err(|e| e.to_string())?;
        if set.find(kid, now).is_none() {
            set = keys.get(self, cfg, true).await.map_err(|e| e.to_string())?;
        }
        let key = set.find(kid, now).ok_or("Key not found")?;
        if !key.verify(parsed.signed.as_bytes(), &parsed.signature) {
            return Err("JWT verification failed".into());
        }
        let info = read_claims(version, &parsed.payload)?;
        if info.exp_ms < now {
            return Err("Access token expired".into());
        }
        Ok(info)
    }

    /// `POST /recipe/session/verify`
    pub async fn verify_session(
        &self,
        app: &AppId,
        access_token: &str,
        anti_csrf_token: Option<&str>,
        do_anti_csrf_check: bool,
        enable_anti_csrf: bool,
        check_database: bool,
    ) -> CoreResult<VerifyOutcome> {
        let cfg = self.app_config(app).await?;
        let info = match self.verify_access_token(app, &cfg, access_token).await {
            Ok(i) => i,
            Err(msg) => return Ok(VerifyOutcome::TryRefreshToken(msg)),
        };
        // The reference judges a token without an anti-CSRF claim while it reads the token,
        // before it looks up the tenant; a wrong or absent header token after.
        if enable_anti_csrf && do_anti_csrf_check && info.anti_csrf.is_none() {
            return Ok(VerifyOutcome::TryRefreshToken(INCOMPLETE.into()));
        }
        let tenant = self.session_tenant(app, Some(info.tenant.as_str())).await?;
        if enable_anti_csrf && do_anti_csrf_check {
            let ok = match (&info.anti_csrf, anti_csrf_token) {
                (Some(a), Some(b)) => crate::random::ct_eq(a, b),
                _ => false,
            };
            if !ok {
                return Ok(VerifyOutcome::TryRefreshToken("anti-csrf check failed".into()));
            }
        }
        let mut payload_needs_update = false;
        if check_database {
            match self.storage.get_session(&tenant, &info.handle).await? {
                None => {
                    return Ok(VerifyOutcome::Unauthorised(
                        "Either the session has ended or has been blacklisted".into(),
                    ))
                }
                Some(row) => payload_needs_update = !same_as_signed(&info.user_data, &row.jwt_user_payload),
            }
        }
        let summary = |user_data: Value| SessionSummary {
            handle: info.handle.clone(),
            user_id: info.user_id.clone(),
            recipe_user_id: info.recipe_user_id.clone(),
            user_data_in_jwt: user_data,
            tenant_id: info.tenant.to_string(),
        };
        if info.parent_refresh_token_hash1.is_none() && !payload_needs_update {
            return Ok(VerifyOutcome::Ok {
                session: summary(Value::Object(info.user_data.clone())),
                access_token: None,
            });
        }
        let now = self.now();
        let own_hash2 = sha256_hex(&info.refresh_token_hash1);
        let parent_hash2 = info.parent_refresh_token_hash1.as_deref().map(sha256_hex);
        let refresh_validity = cfg.refresh_token_validity_ms;
        let decide = |row: &SessionRow| -> Option<SessionPatch> {
            (parent_hash2.as_deref() == Some(row.refresh_token_hash_2.as_str())).then(|| SessionPatch {
                refresh_token_hash_2: Some(own_hash2.clone()),
                expires_at: Some(now + refresh_validity),
                use_static_key: None,
            })
        };
        let Some(row) = self.storage.update_session_atomically(&tenant, &info.handle, &decide).await? else {
            return Ok(VerifyOutcome::Unauthorised("Session missing in db".into()));
        };
        let promoted = decide(&row).is_some();
        if promoted || row.refresh_token_hash_2 == own_hash2 || payload_needs_update {
            let key = self.signing_key(app, &cfg, row.use_static_key).await?;
            let token = self.mint(
                &key,
                &Mint {
                    version: info.version,
                    user_id: &info.user_id,
                    recipe_user_id: &info.recipe_user_id,
                    tenant: &info.tenant,
                    handle: &info.handle,
                    refresh_token_hash1: &info.refresh_token_hash1,
                    parent_refresh_token_hash1: None,
                    anti_csrf: info.anti_csrf.as_deref(),
                    user_data: &row.jwt_user_payload,
                    iat_ms: now,
                    exp_ms: now + cfg.access_token_validity_s * 1000,
                },
            )?;
            return Ok(VerifyOutcome::Ok { session: summary(row.jwt_user_payload.clone()), access_token: Some(token) });
        }
        Ok(VerifyOutcome::Ok { session: summary(Value::Object(info.user_data.clone())), access_token: None })
    }

    /// `POST /recipe/session/refresh`
    pub async fn refresh_session(
        &self,
        path_tenant: &TenantIdentifier,
        refresh_token: &str,
        anti_csrf_token: Option<&str>,
        enable_anti_csrf: bool,
        use_dynamic_key: bool,
    ) -> CoreResult<RefreshOutcome> {
        self.tenant(path_tenant).await?;
        let app = &path_tenant.app;
        let cfg = self.app_config(app).await?;
        let master = self.refresh_master_key(app).await?;
        // The reference's message for a token that decrypts to the wrong nonce or fields; for
        // one that does not decrypt at all it gives the Java exception's text instead.
        let Some(payload) = self.decode_refresh_token(&master, refresh_token) else {
            return Ok(RefreshOutcome::Unauthorised("Invalid refresh token".into()));
        };
        if enable_anti_csrf {
            if let Some(expected) = &payload.anti_csrf_token {
                if !anti_csrf_token.map(|a| crate::random::ct_eq(a, expected)).unwrap_or(false) {
                    return Ok(RefreshOutcome::Unauthorised("Anti CSRF token missing, or not matching".into()));
                }
            }
        }
        let tenant = self.session_tenant(app, payload.tenant_id.as_deref()).await?;
        let tenant_id = tenant.tenant.clone();
        let now = self.now();
        let hash1 = sha256_hex(refresh_token);
        let hash2 = sha256_hex(&hash1);
        let parent_hash2 = payload.parent_refresh_token_hash1.as_deref().map(sha256_hex);
        let use_static = !use_dynamic_key;
        let validity = cfg.refresh_token_validity_ms;
        enum Case {
            Expired,
            Parent,
            Child,
            Theft,
        }
        let classify = |row: &SessionRow| -> Case {
            if row.expires_at < now {
                Case::Expired
            } else if row.refresh_token_hash_2 == hash2 {
                Case::Parent
            } else if parent_hash2.as_deref() == Some(row.refresh_token_hash_2.as_str()) {
                Case::Child
            } else {
                Case::Theft
            }
        };
        let decide = |row: &SessionRow| -> Option<SessionPatch> {
            let static_change = (row.use_static_key != use_static).then_some(use_static);
            match classify(row) {
                Case::Parent => static_change.map(|s| SessionPatch { use_static_key: Some(s), ..Default::default() }),
                Case::Child => Some(SessionPatch {
                    refresh_token_hash_2: Some(hash2.clone()),
                    expires_at: Some(now + validity),
                    use_static_key: static_change,
                }),
                Case::Expired | Case::Theft => None,
            }
        };
        // The row is read (and, for a child token, promoted) in one intent that also resolves
        // the user, and may record the activity of a refresh that succeeds (judged on its first
        // read, so a refresh that then loses a race on the row, to a sibling child promoted
        // first or a removal, can still count: activity is a statistic). The child token
        // depends only on the presented token, so its encryption (a PBKDF2 derivation) runs
        // while the read is in flight.
        // A user this instance recorded as active within the throttle window is not written
        // again (see `crate::activity`), so such a refresh reads only.
        let accepted: Vec<&str> = std::iter::once(hash2.as_str()).chain(parent_hash2.as_deref()).collect();
        let touch = TouchIfCurrent { refresh_token_hashes_2: &accepted, now_ms: now };
        let throttled = self.activity.was_recent(app, &payload.user_id, now);
        let touch = (!throttled).then_some(&touch);
        let anti_csrf = enable_anti_csrf.then(|| uuid_v4(self.rng.as_ref()));
        let (read, child) = tokio::join!(
            self.storage.update_session_resolved(&tenant, &payload.session_handle, &decide, touch),
            async {
                self.new_refresh_token(
                    &master,
                    &tenant_id,
                    &payload.session_handle,
                    &payload.user_id,
                    Some(&hash1),
                    anti_csrf.as_deref(),
                )
            }
        );
        let Some(ResolvedSession { row, identity, activity_recorded }) = read? else {
            return Ok(RefreshOutcome::Unauthorised("Session missing in db or has expired".into()));
        };
        let active = SessionIdentity::active_user(identity.as_ref(), &row.user_id);
        let (primary, recipe) = SessionIdentity::reported(identity, &row.user_id);
        match classify(&row) {
            Case::Expired => return Ok(RefreshOutcome::Unauthorised("Session missing in db or has expired".into())),
            Case::Theft => {
                return Ok(RefreshOutcome::TokenTheftDetected {
                    handle: row.handle.clone(),
                    user_id: primary,
                    recipe_user_id: recipe,
                })
            }
            Case::Parent | Case::Child => {}
        }
        let child = match child {
            // The stored row names the user the token was issued for; re-issue if it ever differs.
            Ok(child) if row.user_id == payload.user_id => child,
            _ => self.new_refresh_token(
                &master,
                &tenant_id,
                &row.handle,
                &row.user_id,
                Some(&hash1),
                anti_csrf.as_deref(),
            )?,
        };
        let child_hash1 = sha256_hex(&child);
        let key = self.signing_key(app, &cfg, use_static).await?;
        let claims = Mint {
            version: LATEST_TOKEN_VERSION,
            user_id: &primary,
            recipe_user_id: &recipe,
            tenant: &tenant_id,
            handle: &row.handle,
            refresh_token_hash1: &child_hash1,
            parent_refresh_token_hash1: Some(&hash1),
            anti_csrf: anti_csrf.as_deref(),
            user_data: &row.jwt_user_payload,
            iat_ms: now,
            exp_ms: now + cfg.access_token_validity_s * 1000,
        };
        // The refresh succeeds. Unless the read recorded it, record the user as active while
        // the token is signed (the statement runs on the database's time, the signature on
        // ours). Like the reference, a failed activity write does not fail the refresh: its
        // tokens stand, and activity is a statistic.
        let (access, recorded) = if activity_recorded || throttled {
            (self.mint(&key, &claims)?, activity_recorded)
        } else {
            let (touched, access) = tokio::join!(self.storage.touch_user_last_active(app, &active, now), async {
                self.mint(&key, &claims)
            });
            if let Err(e) = &touched {
                tracing::warn!(error = %e, "could not record the user's last activity after a session refresh");
            }
            (access?, touched.is_ok())
        };
        if recorded {
            // Under the id written, and under the session's own user id, which the next
            // refresh checks before its read.
            self.activity.mark(app, &[&active, &payload.user_id], now);
        }
        Ok(RefreshOutcome::Ok(NewSession {
            session: SessionSummary {
                handle: row.handle.clone(),
                user_id: primary,
                recipe_user_id: recipe,
                user_data_in_jwt: row.jwt_user_payload.clone(),
                tenant_id: tenant_id.to_string(),
            },
            access_token: access,
            refresh_token: Token { token: child, expiry: now + validity, created_time: now },
            anti_csrf_token: anti_csrf,
        }))
    }

    /// `POST /recipe/session/regenerate`: new claims, same expiry; signature is not re-checked.
    pub async fn regenerate_session(
        &self,
        app: &AppId,
        access_token: &str,
        new_user_data: Option<Map<String, Value>>,
    ) -> CoreResult<RegenerateOutcome> {
        let cfg = self.app_config(app).await?;
        let parsed = match parse_jwt(access_token) {
            Ok(p) => p,
            Err(_) => return Ok(RegenerateOutcome::Unauthorised("Invalid access token".into())),
        };
        let info = match token_version(&parsed.header).and_then(|v| read_claims(v, &parsed.payload)) {
            Ok(i) => i,
            Err(m) => return Ok(RegenerateOutcome::Unauthorised(m)),
        };
        let tenant = self.session_tenant(app, Some(info.tenant.as_str())).await?;
        let now = self.now();
        let row = match self.storage.get_session(&tenant, &info.handle).await? {
            Some(r) if r.expires_at > now => r,
            _ => return Ok(RegenerateOutcome::Unauthorised("Session does not exist.".into())),
        };
        // As the reference: a missing session is UNAUTHORISED before protected claims are a 400.
        if let Some(d) = &new_user_data {
            check_user_payload_for(info.version, d)?;
        }
        let user_data = match new_user_data {
            Some(d) => {
                let v = Value::Object(d);
                if !self.storage.update_jwt_payload(&tenant, &info.handle, &v, now).await? {
                    return Ok(RegenerateOutcome::Unauthorised("Session does not exist.".into()));
                }
                v
            }
            None => row.jwt_user_payload.clone(),
        };
        let session = SessionSummary {
            handle: info.handle.clone(),
            user_id: info.user_id.clone(),
            recipe_user_id: info.recipe_user_id.clone(),
            user_data_in_jwt: user_data.clone(),
            tenant_id: info.tenant.to_string(),
        };
        if info.exp_ms < now {
            return Ok(RegenerateOutcome::Ok { session, access_token: None });
        }
        let key = self.signing_key(app, &cfg, row.use_static_key).await?;
        let token = self.mint(
            &key,
            &Mint {
                version: info.version,
                user_id: &info.user_id,
                recipe_user_id: &info.recipe_user_id,
                tenant: &info.tenant,
                handle: &info.handle,
                refresh_token_hash1: &info.refresh_token_hash1,
                parent_refresh_token_hash1: info.parent_refresh_token_hash1.as_deref(),
                anti_csrf: info.anti_csrf.as_deref(),
                user_data: &user_data,
                iat_ms: now,
                exp_ms: info.exp_ms,
            },
        )?;
        Ok(RegenerateOutcome::Ok { session, access_token: Some(token) })
    }

    /// `GET /recipe/session`
    pub async fn get_session_info(&self, app: &AppId, handle: &str) -> CoreResult<Option<SessionInformation>> {
        let tenant = self.session_tenant(app, handle_tenant_part(handle)).await?;
        let now = self.now();
        let Some(row) = self.storage.get_session(&tenant, handle).await? else { return Ok(None) };
        if row.expires_at <= now {
            return Ok(None);
        }
        let (primary, recipe) = self.session_user_ids(app, &row.user_id).await?;
        Ok(Some(SessionInformation {
            session_handle: row.handle,
            user_id: primary,
            recipe_user_id: recipe,
            user_data_in_database: row.session_data,
            expiry: row.expires_at,
            user_data_in_jwt: row.jwt_user_payload,
            time_created: row.created_at,
            tenant_id: tenant.tenant.to_string(),
        }))
    }

    /// Revoke sessions by handle; returns the handles that existed.
    pub async fn revoke_sessions(&self, app: &AppId, handles: &[String]) -> CoreResult<Vec<String>> {
        // Every named tenant must exist (else the reference's 400) before anything is revoked.
        let mut keys: Vec<(TenantIdentifier, String)> = Vec::with_capacity(handles.len());
        for h in handles {
            keys.push((self.session_tenant(app, handle_tenant_part(h)).await?, h.clone()));
        }
        Ok(self.storage.delete_sessions(app, &keys).await?)
    }

    /// Session handles of a user (optionally including linked accounts), non-expired only.
    pub async fn session_handles_of_user(
        &self,
        app: &AppId,
        tenant: Option<&TenantIdentifier>,
        user_id: &str,
        include_linked: bool,
    ) -> CoreResult<Vec<(TenantIdentifier, String)>> {
        let ids = crate::users::session_lookup_ids(self, app, user_id, include_linked).await?;
        Ok(self.storage.session_handles_for_users(app, tenant, &ids, self.now()).await?)
    }

    /// Revoke every session of a user.
    pub async fn revoke_sessions_of_user(
        &self,
        app: &AppId,
        tenant: Option<&TenantIdentifier>,
        user_id: &str,
        include_linked: bool,
    ) -> CoreResult<Vec<String>> {
        let handles = self.session_handles_of_user(app, tenant, user_id, include_linked).await?;
        let revoked = self.storage.delete_sessions(app, &handles).await?;
        // As the reference's `/recipe/session/remove` by user id: the (mapped) user counts as
        // active.
        let internal = self.internal_user_id(app, user_id).await?;
        self.record_activity(app, &internal).await;
        Ok(revoked)
    }

    pub async fn update_session_data(&self, app: &AppId, handle: &str, data: &Value) -> CoreResult<bool> {
        let tenant = self.session_tenant(app, handle_tenant_part(handle)).await?;
        Ok(self.storage.update_session_data(&tenant, handle, data, self.now()).await?)
    }

    pub async fn update_jwt_data(&self, app: &AppId, handle: &str, data: Map<String, Value>) -> CoreResult<bool> {
        let tenant = self.session_tenant(app, handle_tenant_part(handle)).await?;
        check_user_payload(&data)?;
        Ok(self.storage.update_jwt_payload(&tenant, handle, &Value::Object(data), self.now()).await?)
    }

    /// JWKS keys of an app and the `Cache-Control` max-age.
    pub async fn jwks(&self, app: &AppId) -> CoreResult<(Vec<Value>, i64)> {
        let cfg = self.app_config(app).await?;
        let set = self.app_state(app).keys.get(self, &cfg, false).await?;
        let now = self.now();
        Ok((set.jwks(now), set.jwks_max_age_s(now)))
    }

    /// `POST /recipe/jwt`: sign an arbitrary payload.
    pub async fn create_jwt(
        &self,
        app: &AppId,
        mut payload: Map<String, Value>,
        jwks_domain: &str,
        validity_s: i64,
        use_static: bool,
    ) -> CoreResult<String> {
        let cfg = self.app_config(app).await?;
        let key = self.signing_key(app, &cfg, use_static).await?;
        let now = self.now() / 1000;
        // The caller's claims win, `iat` and `exp` included, as with the reference (whose JWT
        // builder adds the payload after its own `iat`, `exp` and `iss`).
        payload.entry("iat").or_insert_with(|| json!(now));
        payload.entry("exp").or_insert_with(|| json!(now + validity_s));
        payload.entry("iss").or_insert_with(|| json!(jwks_domain));
        aud_as_signed(&mut payload);
        let header = json!({"kid": key.kid, "typ": "JWT", "alg": "RS256"});
        key.sign_jwt(&header, &Value::Object(payload)).map_err(CoreError::Internal)
    }
}
