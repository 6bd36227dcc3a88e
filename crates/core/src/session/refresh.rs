//! Refresh tokens: the app's refresh-token key, the encrypted token format, and refresh with
//! token-theft detection under the row lock.

use super::token::Mint;
use super::*;
use crate::core::Core;
use crate::crypto::{decrypt_refresh_payload, encrypt_refresh_payload};
use crate::error::{CoreError, CoreResult};
use crate::ids::{AppId, TenantId, TenantIdentifier};
use crate::random::{sha256_hex, uuid_v4};
use crate::storage::{ResolvedSession, SessionIdentity, SessionPatch, SessionRow, TouchIfCurrent};

impl Core {
    pub(crate) async fn refresh_master_key(&self, app: &AppId) -> CoreResult<String> {
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

    pub(crate) fn new_refresh_token(
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

    pub(crate) fn decode_refresh_token(&self, master: &str, token: &str) -> Option<RefreshPayload> {
        let mut parts = token.rsplitn(3, '.');
        let (version, nonce, enc) = (parts.next()?, parts.next()?, parts.next()?);
        if version != "V2" {
            return None;
        }
        let plain = decrypt_refresh_payload(master, enc)?;
        let payload: RefreshPayload = serde_json::from_slice(&plain).ok()?;
        (payload.nonce == nonce).then_some(payload)
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
}
