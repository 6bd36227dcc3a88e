//! The session recipe: create, verify (with lazy promotion), refresh (with token-theft
//! detection), regenerate, read, revoke. Behaviour follows CDI 5.4 (see
//! `docs/COMPATIBILITY.md` and the reference notes §c).

use crate::cdi::CdiVersion;
use crate::core::Core;
use crate::error::{CoreError, CoreResult};
use crate::ids::{AppId, TenantId, TenantIdentifier};
use crate::jobs::ExpiryJob;
use crate::random::{sha256_hex, uuid_v4};
use crate::storage::{SessionIdentity, SessionRow};
use serde::Serialize;
use serde_json::{Map, Value};
use std::sync::atomic::Ordering;
use std::time::Duration;

mod keys;
pub use keys::{DeleteExpiredSigningKeys, LegacyKeyInfo, LegacyPublicKey};
mod refresh;
use token::Mint;
pub(crate) mod token;

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

/// The claims the core owns in a legacy (version 1 or 2) access token, whose user claims are
/// nested under `userData`.
pub(crate) const LEGACY_PROTECTED_CLAIMS: [&str; 5] =
    ["userId", "expiryTime", "timeCreated", "sessionHandle", "refreshTokenHash1"];

/// The claims the core owns in an access token of `version`: v1 and v2 their own names, v3
/// neither `tId` nor `rsub`, v4 no `rsub`.
pub(crate) fn protected_claims(version: u8) -> &'static [&'static str] {
    match version {
        ..=2 => &LEGACY_PROTECTED_CLAIMS,
        3 => &PROTECTED_CLAIMS[..7],
        4 => &PROTECTED_CLAIMS[..8],
        _ => &PROTECTED_CLAIMS,
    }
}

/// The access-token version the core issues.
pub(crate) const LATEST_TOKEN_VERSION: u8 = 5;

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
    /// CDI < 2.21 only: the token the legacy SDKs kept to know a session exists (a random
    /// UUID, with the refresh token's expiry).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_refresh_token: Option<Token>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anti_csrf_token: Option<String>,
    /// CDI < 2.21 session creation only: the key the legacy SDKs verify tokens with.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub legacy_keys: Option<LegacyKeyInfo>,
}

/// Remove from a response's `session` object what the request's CDI version did not have
/// yet: `tenantId` before 3.0, `recipeUserId` before 4.0 (as the reference removes them).
pub fn session_json_at(cdi: CdiVersion, session: &mut Value) {
    if let Value::Object(m) = session {
        if cdi < CdiVersion::V3_0 {
            m.shift_remove("tenantId");
        }
        if cdi < CdiVersion::V4_0 {
            m.shift_remove("recipeUserId");
        }
    }
}

impl NewSession {
    /// The response fields for a request of CDI `cdi` (see [`session_json_at`]).
    pub fn to_json_at(&self, cdi: CdiVersion) -> CoreResult<Value> {
        let mut v = serde_json::to_value(self).map_err(|e| CoreError::Internal(e.to_string()))?;
        if let Some(session) = v.get_mut("session") {
            session_json_at(cdi, session);
        }
        Ok(v)
    }
}

#[derive(Debug)]
pub enum VerifyOutcome {
    /// `payload_update_available`: CDI 5.6 with `checkDatabase` only — whether the session's
    /// stored claims differ from the token's (the stateless verify never re-issues).
    Ok {
        session: SessionSummary,
        access_token: Option<Token>,
        payload_update_available: Option<bool>,
    },
    TryRefreshToken(String),
    Unauthorised(String),
}

#[derive(Debug)]
pub enum RefreshOutcome {
    Ok(Box<NewSession>),
    /// `reuse`: CDI 5.6 only, a recently rotated-out token presented again with
    /// `recent_token_reuse_behaviour: UNAUTHORISED` (the session has been revoked).
    Unauthorised {
        message: String,
        reuse: Option<TokenReuse>,
    },
    /// `reuse`: CDI 5.6 only (the session has been revoked); before, theft is only reported.
    TokenTheftDetected {
        handle: String,
        user_id: String,
        recipe_user_id: String,
        reuse: Option<TokenReuse>,
    },
}

/// How a CDI 5.6 refresh token that no longer rotates was recognised
/// (`recentTokenReuseSubtype`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenReuse {
    /// The token the current one replaced, after the grace period.
    RecentPrev,
    /// A child of that token (a branch the rotation left behind).
    OrphanedBranch,
    /// Anything older.
    StaleLineage,
}

impl TokenReuse {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenReuse::RecentPrev => "RECENT_PREV",
            TokenReuse::OrphanedBranch => "ORPHANED_BRANCH",
            TokenReuse::StaleLineage => "STALE_LINEAGE",
        }
    }
}

/// `POST /recipe/session/refresh` input.
pub struct RefreshSession<'a> {
    pub refresh_token: &'a str,
    pub anti_csrf_token: Option<&'a str>,
    pub enable_anti_csrf: bool,
    /// `None`: keep the session's key kind (CDI < 5.0 may omit it; < 3.0 cannot send it).
    pub use_dynamic_key: Option<bool>,
    pub cdi: CdiVersion,
    /// CDI 5.6: a shorter validity (ms) for the new access token.
    pub access_token_validity_ms: Option<i64>,
}

#[derive(Debug)]
pub enum RegenerateOutcome {
    Ok { session: SessionSummary, access_token: Option<Token> },
    Unauthorised(String),
}

impl SessionInformation {
    /// The answer for a request of CDI `cdi`: `tenantId` from 3.0, `recipeUserId` from 4.0.
    pub fn to_json_at(&self, cdi: CdiVersion) -> CoreResult<Value> {
        let mut v = serde_json::to_value(self).map_err(|e| CoreError::Internal(e.to_string()))?;
        session_json_at(cdi, &mut v);
        Ok(v)
    }
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

/// How `POST /recipe/session/verify` checks a token besides its signature and expiry.
#[derive(Debug, Clone, Copy)]
pub struct VerifyOptions<'a> {
    /// The anti-CSRF token the request carried.
    pub anti_csrf_token: Option<&'a str>,
    /// Whether to compare it with the token's (when anti-CSRF is enabled).
    pub do_anti_csrf_check: bool,
    /// Whether the app uses anti-CSRF tokens at all.
    pub enable_anti_csrf: bool,
    /// Whether to check the session row too (revocation, a newer refresh); `None` (CDI < 2.21,
    /// which cannot choose) is the app's `access_token_blacklisting`.
    pub check_database: Option<bool>,
    /// The request's CDI version: from 5.6 the verify is stateless.
    pub cdi: CdiVersion,
}

pub struct CreateSession {
    pub user_id: String,
    pub enable_anti_csrf: bool,
    pub user_data_in_jwt: Map<String, Value>,
    pub user_data_in_database: Value,
    /// `None`: the default, which is the dynamic keys from CDI 2.21 on and the app's
    /// `access_token_signing_key_dynamic` before (those SDKs cannot choose).
    pub use_dynamic_key: Option<bool>,
    /// The request's CDI version: it decides the access token's version and the response.
    pub cdi: CdiVersion,
    /// CDI 5.6: a shorter validity (ms) for this access token.
    pub access_token_validity_ms: Option<i64>,
}

/// The refresh token's encrypted payload.
#[derive(Debug, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RefreshPayload {
    pub(crate) session_handle: String,
    pub(crate) user_id: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub(crate) parent_refresh_token_hash1: Option<String>,
    pub(crate) nonce: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub(crate) anti_csrf_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub(crate) tenant_id: Option<String>,
}

/// Reject payloads that use a protected claim of the access tokens CDI `cdi` issues. Before
/// 2.21 the claims were nested in the token, so any name goes.
pub fn check_user_payload(cdi: CdiVersion, payload: &Map<String, Value>) -> CoreResult<()> {
    if cdi < CdiVersion::V2_21 {
        return Ok(());
    }
    check_user_payload_for(cdi.access_token_version(), payload)
}

/// The message of a CDI 5.6 `accessTokenValidity` out of range.
fn validity_out_of_range(max_ms: i64) -> CoreError {
    CoreError::bad(format!(
        "accessTokenValidity must be greater than 0 and at most the configured access_token_validity ({max_ms} ms)"
    ))
}

/// The validity (ms) of a freshly minted access token (creation, refresh): a shorter one the
/// request asked for (CDI 5.6), which must be positive and at most the app's; else the app's,
/// shortened at random by up to `access_token_validity_jitter` (a fraction, 0.05 by default,
/// as the reference 12.1 does at every CDI) so that the tokens of sessions started together do
/// not all expire, and refresh, in the same second.
pub(crate) fn access_token_validity(
    cfg: &st_config::CoreConfig,
    requested: Option<i64>,
    rng: &dyn crate::random::Random,
) -> CoreResult<i64> {
    let max = cfg.access_token_validity_s * 1000;
    match requested {
        None if cfg.access_token_validity_jitter > 0.0 => {
            let unit = u64::from_be_bytes(crate::random::bytes::<8>(rng)) as f64 / (u64::MAX as f64 + 1.0);
            Ok((max as f64 * (1.0 - unit * cfg.access_token_validity_jitter)) as i64)
        }
        None => Ok(max),
        Some(v) if v > 0 && v <= max => Ok(v),
        Some(_) => Err(validity_out_of_range(max)),
    }
}

/// [`check_user_payload`] for a token of `version` (a regenerate keeps its token's version).
pub(crate) fn check_user_payload_for(version: u8, payload: &Map<String, Value>) -> CoreResult<()> {
    if payload.keys().any(|k| protected_claims(version).contains(&k.as_str())) {
        return Err(CoreError::bad(PROTECTED_FIELD_MESSAGE));
    }
    Ok(())
}

/// The tenant part of a session handle (`<uuid>_<tenant>`), read as the reference reads it: the
/// second `_`-separated part, where trailing empty parts do not count (Java's `split`); `None`
/// (the public tenant) when there is none.
pub(crate) fn handle_tenant_part(handle: &str) -> Option<&str> {
    let mut parts: Vec<&str> = handle.split('_').collect();
    while parts.last() == Some(&"") {
        parts.pop();
    }
    parts.get(1).copied()
}

pub(crate) fn user_claims(version: u8, payload: &Map<String, Value>) -> Map<String, Value> {
    payload
        .iter()
        .filter(|(k, _)| !protected_claims(version).contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

impl Core {
    /// Start-up: make sure the base app has its refresh-token key (so `key_value` is populated
    /// from the first start, as with the reference core).
    pub async fn init_base_app(&self) -> CoreResult<()> {
        self.refresh_master_key(&AppId::public()).await.map(|_| ())
    }

    /// The tenant a session belongs to, named by its handle or token (`None` or empty: public),
    /// which must exist. As in the reference, whose storage lookup for that tenant fails: an
    /// unknown or deleted tenant is the 400 `AppId or tenantId not found`, not UNAUTHORISED.
    pub(crate) async fn session_tenant(&self, app: &AppId, raw: Option<&str>) -> CoreResult<TenantIdentifier> {
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

    /// Map a user id to (primary user id, recipe user id) as the session should carry them.
    pub(crate) async fn session_user_ids(&self, app: &AppId, user_id: &str) -> CoreResult<(String, String)> {
        crate::users::session_user_ids(self, app, user_id).await
    }

    /// `POST /<tenant>/recipe/session`
    ///
    /// The row is stored in one storage intent that also resolves the session's user (primary
    /// and external ids) and records it as active. Nothing in the row depends on the access
    /// token, whose `sub`/`rsub` come from that identity; see below for when it is signed.
    pub async fn create_session(&self, tenant: &TenantIdentifier, input: CreateSession) -> CoreResult<NewSession> {
        let cdi = input.cdi;
        check_user_payload(cdi, &input.user_data_in_jwt)?;
        self.tenant(tenant).await?;
        let cfg = self.app_config(&tenant.app).await?;
        let validity_ms = access_token_validity(&cfg, input.access_token_validity_ms, self.rng.as_ref())?;
        let use_dynamic_key = match input.use_dynamic_key {
            Some(d) if cdi >= CdiVersion::V2_21 => d,
            _ if cdi >= CdiVersion::V2_21 => true,
            _ => cfg.access_token_signing_key_dynamic,
        };
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
        let key = self.signing_key(&tenant.app, &cfg, !use_dynamic_key).await?;
        let given = input.user_id.as_str();
        let claims = |primary: &str, recipe: &str| -> CoreResult<Token> {
            self.mint(
                &key,
                &Mint {
                    version: cdi.access_token_version(),
                    user_id: primary,
                    recipe_user_id: recipe,
                    tenant: &tenant.tenant,
                    handle: &handle,
                    refresh_token_hash1: &refresh_hash1,
                    parent_refresh_token_hash1: None,
                    anti_csrf: anti_csrf.as_deref(),
                    user_data: &user_data,
                    iat_ms: now,
                    exp_ms: now + validity_ms,
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
            use_static_key: !use_dynamic_key,
            prev_refresh_token_hash_2: None,
            refresh_token_rotated_at: None,
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
        let legacy = cdi.hands_out_signing_keys();
        let legacy_keys = match legacy {
            true => Some(self.legacy_key_info(&tenant.app, cdi >= CdiVersion::V2_9).await?),
            false => None,
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
            id_refresh_token: legacy.then(|| self.id_refresh_token(refresh_expiry, now)),
            anti_csrf_token: anti_csrf,
            legacy_keys,
        })
    }

    /// The legacy SDKs' `idRefreshToken`: a random UUID with the refresh token's expiry.
    pub(crate) fn id_refresh_token(&self, expiry: i64, now: i64) -> Token {
        Token { token: uuid_v4(self.rng.as_ref()), expiry, created_time: now }
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

    pub async fn update_jwt_data(
        &self,
        app: &AppId,
        handle: &str,
        data: Map<String, Value>,
        cdi: CdiVersion,
    ) -> CoreResult<bool> {
        let tenant = self.session_tenant(app, handle_tenant_part(handle)).await?;
        check_user_payload(cdi, &data)?;
        Ok(self.storage.update_jwt_payload(&tenant, handle, &Value::Object(data), self.now()).await?)
    }
}

/// `RemoveOldSessions`: `DELETE FROM session_info WHERE expires_at <= now`, every 12 hours.
pub const DELETE_EXPIRED_SESSIONS: ExpiryJob = ExpiryJob {
    name: "RemoveOldSessions",
    interval: Duration::from_secs(12 * 3600),
    delete: |core, now| Box::pin(async move { Ok(core.storage.delete_expired_sessions(now).await?) }),
};
