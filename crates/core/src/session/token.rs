//! Access tokens: their claims by version, minting with the app's signing key, verification
//! (with the lazy promotion of a refreshed session's first token) and regeneration.

use super::*;
use crate::cdi::CdiVersion;
use crate::core::Core;
use crate::crypto::{parse_jwt, KeyAlg, SigningKey};
use crate::error::{CoreError, CoreResult};
use crate::ids::{AppId, TenantId};
use crate::random::sha256_hex;
use crate::storage::{SessionPatch, SessionRow};
use serde_json::{json, Map, Value};
use st_config::CoreConfig;

/// Everything needed to mint an access token.
pub(crate) struct Mint<'a> {
    /// 3, 4 or 5: which claims and header `version` the token has (§c.2).
    pub(crate) version: u8,
    pub(crate) user_id: &'a str,
    pub(crate) recipe_user_id: &'a str,
    pub(crate) tenant: &'a TenantId,
    pub(crate) handle: &'a str,
    pub(crate) refresh_token_hash1: &'a str,
    pub(crate) parent_refresh_token_hash1: Option<&'a str>,
    pub(crate) anti_csrf: Option<&'a str>,
    pub(crate) user_data: &'a Value,
    pub(crate) iat_ms: i64,
    pub(crate) exp_ms: i64,
}

impl<'a> Mint<'a> {
    /// A new token for the session of an existing one (the verify-time promotion and
    /// regenerate): the same version, ids, tenant, handle and anti-CSRF token.
    pub(crate) fn reissue(
        info: &'a AccessTokenInfo,
        parent_refresh_token_hash1: Option<&'a str>,
        user_data: &'a Value,
        iat_ms: i64,
        exp_ms: i64,
    ) -> Mint<'a> {
        Mint {
            version: info.version,
            user_id: &info.user_id,
            recipe_user_id: &info.recipe_user_id,
            tenant: &info.tenant,
            handle: &info.handle,
            refresh_token_hash1: &info.refresh_token_hash1,
            parent_refresh_token_hash1,
            anti_csrf: info.anti_csrf.as_deref(),
            user_data,
            iat_ms,
            exp_ms,
        }
    }
}

/// A user's `aud` claim as the reference's JWT library writes it into a signed token: a
/// string stays, a list keeps its strings (one string is written bare, none removes the
/// claim), any other value removes the claim. The stored payload keeps what the user gave.
pub(crate) fn aud_as_signed(payload: &mut Map<String, Value>) {
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
pub(crate) fn same_as_signed(token_claims: &Map<String, Value>, stored: &Value) -> bool {
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
pub(crate) fn access_token_parts(kid: &str, alg: KeyAlg, m: &Mint<'_>) -> (Value, Value) {
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
    let header = json!({"kid": kid, "typ": "JWT", "version": m.version.to_string(), "alg": alg.name()});
    (header, Value::Object(payload))
}

/// The fixed first part of a version-1 access token: standard base64 (with padding) of
/// `{"alg":"RS256","typ":"JWT","version":"1"}`. Legacy tokens are recognised by this exact
/// string, as the reference does; a header that merely decodes to version 1 or 2 is refused.
pub(crate) const LEGACY_HEADER_V1: &str = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsInZlcnNpb24iOiIxIn0=";
/// The same for version 2, which CDI < 2.21 sessions get.
pub(crate) const LEGACY_HEADER_V2: &str = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsInZlcnNpb24iOiIyIn0=";

/// 1 or 2 for a token whose header is a legacy one, else `None`.
pub(crate) fn legacy_version(token: &str) -> Option<u8> {
    match token.split('.').next()? {
        LEGACY_HEADER_V1 => Some(1),
        LEGACY_HEADER_V2 => Some(2),
        _ => None,
    }
}

/// The payload of a legacy token, in the reference's order: times in milliseconds, the
/// optional hashes only when set, the user's claims nested under `userData`.
fn legacy_payload(m: &Mint<'_>) -> Value {
    let mut p = Map::new();
    p.insert("userId".into(), json!(m.user_id));
    p.insert("expiryTime".into(), json!(m.exp_ms));
    p.insert("timeCreated".into(), json!(m.iat_ms));
    p.insert("sessionHandle".into(), json!(m.handle));
    p.insert("refreshTokenHash1".into(), json!(m.refresh_token_hash1));
    if let Some(parent) = m.parent_refresh_token_hash1 {
        p.insert("parentRefreshTokenHash1".into(), json!(parent));
    }
    if let Some(a) = m.anti_csrf {
        p.insert("antiCsrfToken".into(), json!(a));
    }
    p.insert("userData".into(), m.user_data.clone());
    Value::Object(p)
}

/// The claims of a legacy token: `userId` (both the user and the recipe user), times in
/// milliseconds, the user's claims from `userData`; legacy sessions are of the public tenant.
pub(crate) fn read_legacy_claims(version: u8, payload: &Map<String, Value>) -> Result<AccessTokenInfo, String> {
    if let Some(absent) = LEGACY_PROTECTED_CLAIMS.iter().find(|k| !payload.contains_key(**k)) {
        return Err(format!("{INCOMPLETE} {absent}"));
    }
    let s = |k: &str| payload.get(k).and_then(Value::as_str).map(str::to_string);
    let missing = || INCOMPLETE.to_string();
    let optional = |k: &str| match payload.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(v)) => Ok(Some(v.clone())),
        _ => Err(missing()),
    };
    let user_id = s("userId").ok_or_else(missing)?;
    payload.get("timeCreated").and_then(Value::as_i64).ok_or_else(missing)?;
    Ok(AccessTokenInfo {
        recipe_user_id: user_id.clone(),
        handle: s("sessionHandle").ok_or_else(missing)?,
        user_id,
        tenant: TenantId::public(),
        refresh_token_hash1: s("refreshTokenHash1").ok_or_else(missing)?,
        parent_refresh_token_hash1: optional("parentRefreshTokenHash1")?,
        anti_csrf: optional("antiCsrfToken")?,
        exp_ms: payload.get("expiryTime").and_then(Value::as_i64).ok_or_else(missing)?,
        user_data: payload.get("userData").and_then(Value::as_object).cloned().ok_or_else(missing)?,
        version,
    })
}

/// The claims of any access token, parsed but not verified (regenerate).
fn parse_claims(token: &str, parsed: &crate::crypto::ParsedJwt<'_>) -> Result<AccessTokenInfo, String> {
    match legacy_version(token) {
        Some(v) => read_legacy_claims(v, &parsed.payload),
        None => token_version(&parsed.header).and_then(|v| read_claims(v, &parsed.payload)),
    }
}

/// A verified (or, for regenerate, merely parsed) access token of version 1 to 5.
pub(crate) struct AccessTokenInfo {
    pub(crate) handle: String,
    pub(crate) user_id: String,
    pub(crate) recipe_user_id: String,
    pub(crate) tenant: TenantId,
    pub(crate) refresh_token_hash1: String,
    pub(crate) parent_refresh_token_hash1: Option<String>,
    pub(crate) anti_csrf: Option<String>,
    pub(crate) exp_ms: i64,
    pub(crate) user_data: Map<String, Value>,
    pub(crate) version: u8,
}

/// The version and `kid` of a session access token from its header, checked in the
/// reference's order (`JWT.preParseJWTInfo`) and with its messages: `typ` must be the string
/// `JWT`, `alg` the string `RS256` (ours: or `ES256` or `EdDSA`, exactly so written — the key
/// found by `kid` must then be of that algorithm, see [`Core::verify_access_token`]), `version`
/// (absent: the latest) one of "3", "4", "5", and `kid` a string. A field that is absent or not a JSON primitive is "missing"; one of the
/// wrong type or value is a "mismatch". A non-string `version`, or "1" or "2", is refused
/// before `kid` is looked at; another unknown version string only after it.
pub(crate) fn check_header(header: &Map<String, Value>) -> Result<(u8, &str, KeyAlg), String> {
    let primitive = |k: &str| header.get(k).filter(|v| !v.is_array() && !v.is_object() && !v.is_null());
    let expect = |k: &str, want: &str| -> Result<(), String> {
        match primitive(k) {
            None => Err(format!("JWT header missing - {k}")),
            Some(Value::String(v)) if v == want => Ok(()),
            Some(_) => Err(format!("JWT header mismatch - {k}")),
        }
    };
    expect("typ", "JWT")?;
    // `none`, `HS256` and any other name are refused here, before a key is looked at.
    let alg = match primitive("alg") {
        None => return Err("JWT header missing - alg".into()),
        Some(Value::String(v)) => KeyAlg::from_name(v).ok_or("JWT header mismatch - alg")?,
        Some(_) => return Err("JWT header mismatch - alg".into()),
    };
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
        Some(v) => Ok((v, kid, alg)),
        None => Err("JWT header mismatch - version".into()),
    }
}

/// The access-token version of a JWT header: `version` "3", "4" or "5", latest when absent.
/// Versions 1 and 2 (no longer issued) and anything else are refused.
pub(crate) fn token_version(header: &Map<String, Value>) -> Result<u8, String> {
    match header.get("version") {
        None => Ok(LATEST_TOKEN_VERSION),
        Some(Value::String(v)) => known_version(v).ok_or_else(|| "Invalid JWT header".into()),
        Some(_) => Err("Invalid JWT header".into()),
    }
}

/// The access-token versions this server reads, by their header string.
pub(crate) fn known_version(v: &str) -> Option<u8> {
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
pub(crate) const INCOMPLETE: &str =
    "Access token does not contain all the information. Maybe the structure has changed?";

pub(crate) fn read_claims(version: u8, payload: &Map<String, Value>) -> Result<AccessTokenInfo, String> {
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
    /// Sign an access token. Inline on the calling worker: an RS256 signature is about 0.7 ms,
    /// and handing it to a blocking thread measured slower (16 clients: 1,920 instead of
    /// 2,430 creations/s), the two thread switches per request costing more than the
    /// worker time they free.
    pub(crate) fn mint(&self, key: &SigningKey, m: &Mint<'_>) -> CoreResult<Token> {
        if m.version <= 2 {
            let header = if m.version == 1 { LEGACY_HEADER_V1 } else { LEGACY_HEADER_V2 };
            let token = key.sign_legacy(header, &legacy_payload(m)).map_err(CoreError::Internal)?;
            // Legacy tokens keep their times in milliseconds.
            return Ok(Token { token, expiry: m.exp_ms, created_time: m.iat_ms });
        }
        let (header, payload) = access_token_parts(&key.kid, key.alg(), m);
        let token = key.sign_jwt(&header, &payload).map_err(CoreError::Internal)?;
        let (iat, exp) = (m.iat_ms / 1000, m.exp_ms / 1000);
        Ok(Token { token, expiry: exp * 1000, created_time: iat * 1000 })
    }

    /// Verify signature, header and expiry of an access token.
    pub(crate) async fn verify_access_token(
        &self,
        app: &AppId,
        cfg: &CoreConfig,
        token: &str,
    ) -> Result<AccessTokenInfo, String> {
        let parsed = parse_jwt(token)?;
        let keys = &self.app_state(app).keys;
        let now = self.now();
        if let Some(version) = legacy_version(token) {
            // No `kid`: any key that may have signed it (the reference tries them all, then
            // re-reads the keys once).
            let signed_by_one = |set: &crate::signing_keys::KeySet| {
                set.verification_keys(now).any(|k| k.verify(parsed.signed.as_bytes(), &parsed.signature))
            };
            let set = keys.get(&self.key_source(), cfg, false).await.map_err(|e| e.to_string())?;
            if !signed_by_one(&set) {
                let set = keys.get(&self.key_source(), cfg, true).await.map_err(|e| e.to_string())?;
                if !signed_by_one(&set) {
                    return Err("JWT verification failed".into());
                }
            }
            let info = read_legacy_claims(version, &parsed.payload)?;
            if info.exp_ms < now {
                return Err("Access token expired".into());
            }
            return Ok(info);
        }
        let (version, kid, alg) = check_header(&parsed.header)?;
        let mut set = keys.get(&self.key_source(), cfg, false).await.map_err(|e| e.to_string())?;
        if set.find(kid, now).is_none() {
            set = keys.get(&self.key_source(), cfg, true).await.map_err(|e| e.to_string())?;
        }
        let key = set.find(kid, now).ok_or("Key not found")?;
        // No algorithm confusion: the header's algorithm must be the key's own (an RS256 header
        // over an EC key, or ES256 over an RSA key, is refused before any signature check).
        if key.alg() != alg {
            return Err("JWT header mismatch - alg".into());
        }
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
        options: VerifyOptions<'_>,
    ) -> CoreResult<VerifyOutcome> {
        let VerifyOptions { anti_csrf_token, do_anti_csrf_check, enable_anti_csrf, check_database, cdi } = options;
        let cfg = self.app_config(app).await?;
        let check_database = check_database.unwrap_or(cfg.access_token_blacklisting);
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
        let mut stored = None;
        if check_database {
            match self.storage.get_session(&tenant, &info.handle).await? {
                None => {
                    return Ok(VerifyOutcome::Unauthorised(
                        "Either the session has ended or has been blacklisted".into(),
                    ))
                }
                Some(row) => {
                    payload_needs_update = !same_as_signed(&info.user_data, &row.jwt_user_payload);
                    stored = Some(row);
                }
            }
        }
        let summary = |user_data: Value| SessionSummary {
            handle: info.handle.clone(),
            user_id: info.user_id.clone(),
            recipe_user_id: info.recipe_user_id.clone(),
            user_data_in_jwt: user_data,
            tenant_id: info.tenant.to_string(),
        };
        if cdi >= CdiVersion::V5_6 {
            // Stateless: never writes, never re-issues. With the row, a token whose lineage
            // the session's current or previous refresh token no longer continues is refused,
            // and a changed payload is only reported.
            if let Some(row) = &stored {
                let known = |h: &str| {
                    let h2 = sha256_hex(h);
                    row.refresh_token_hash_2 == h2 || row.prev_refresh_token_hash_2.as_deref() == Some(h2.as_str())
                };
                let in_lineage =
                    known(&info.refresh_token_hash1) || info.parent_refresh_token_hash1.as_deref().is_some_and(known);
                if !in_lineage {
                    return Ok(VerifyOutcome::Unauthorised("rotated-out token branch; refresh required".into()));
                }
            }
            return Ok(VerifyOutcome::Ok {
                session: summary(Value::Object(info.user_data.clone())),
                access_token: None,
                payload_update_available: stored.is_some().then_some(payload_needs_update),
            });
        }
        if info.parent_refresh_token_hash1.is_none() && !payload_needs_update {
            return Ok(VerifyOutcome::Ok {
                session: summary(Value::Object(info.user_data.clone())),
                access_token: None,
                payload_update_available: None,
            });
        }
        let now = self.now();
        let own_hash2 = sha256_hex(&info.refresh_token_hash1);
        let parent_hash2 = info.parent_refresh_token_hash1.as_deref().map(sha256_hex);
        let refresh_validity = cfg.refresh_token_validity_ms;
        // The promotion keeps the replaced hash as the previous one (the reference's dual
        // write, so that a 5.6 refresh of this session sees the rotation).
        let decide = |row: &SessionRow| -> Option<SessionPatch> {
            (parent_hash2.as_deref() == Some(row.refresh_token_hash_2.as_str())).then(|| SessionPatch {
                refresh_token_hash_2: Some(own_hash2.clone()),
                expires_at: Some(now + refresh_validity),
                use_static_key: None,
                prev_refresh_token_hash_2: Some(row.refresh_token_hash_2.clone()),
                refresh_token_rotated_at: Some(now),
            })
        };
        let Some(row) = self.storage.update_session_atomically(&tenant, &info.handle, &decide).await? else {
            return Ok(VerifyOutcome::Unauthorised("Session missing in db".into()));
        };
        let promoted = decide(&row).is_some();
        if promoted || row.refresh_token_hash_2 == own_hash2 || payload_needs_update {
            let key = self.signing_key(app, &cfg, row.use_static_key).await?;
            let exp_ms = now + cfg.access_token_validity_s * 1000;
            let token = self.mint(&key, &Mint::reissue(&info, None, &row.jwt_user_payload, now, exp_ms))?;
            return Ok(VerifyOutcome::Ok {
                session: summary(row.jwt_user_payload.clone()),
                access_token: Some(token),
                payload_update_available: None,
            });
        }
        Ok(VerifyOutcome::Ok {
            session: summary(Value::Object(info.user_data.clone())),
            access_token: None,
            payload_update_available: None,
        })
    }

    /// `POST /recipe/session/regenerate`: new claims, same expiry; signature is not re-checked.
    pub async fn regenerate_session(
        &self,
        app: &AppId,
        access_token: &str,
        new_user_data: Option<Map<String, Value>>,
        cdi: CdiVersion,
    ) -> CoreResult<RegenerateOutcome> {
        let cfg = self.app_config(app).await?;
        let parsed = match parse_jwt(access_token) {
            Ok(p) => p,
            Err(_) => return Ok(RegenerateOutcome::Unauthorised("Invalid access token".into())),
        };
        let info = match parse_claims(access_token, &parsed) {
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
        // Before 2.21 the claims were nested in the token: any name goes.
        if let Some(d) = &new_user_data {
            if cdi >= CdiVersion::V2_21 {
                check_user_payload_for(info.version, d)?;
            }
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
        let parent = info.parent_refresh_token_hash1.as_deref();
        let token = self.mint(&key, &Mint::reissue(&info, parent, &user_data, now, info.exp_ms))?;
        Ok(RegenerateOutcome::Ok { session, access_token: Some(token) })
    }
}
