//! Refresh tokens: the app's refresh-token key, the encrypted token format, and refresh with
//! token-theft detection under the row lock.

use super::token::Mint;
use super::*;
use crate::cdi::CdiVersion;
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

    /// `POST /recipe/session/refresh`. Up to CDI 5.5 the presented token (or its child, which
    /// is then promoted) stays the session's until the child's first use; from 5.6 every
    /// refresh rotates in the row (see [`Rotation`]).
    pub async fn refresh_session(
        &self,
        path_tenant: &TenantIdentifier,
        input: RefreshSession<'_>,
    ) -> CoreResult<RefreshOutcome> {
        let RefreshSession {
            refresh_token,
            anti_csrf_token,
            enable_anti_csrf,
            use_dynamic_key,
            cdi,
            access_token_validity_ms,
        } = input;
        self.tenant(path_tenant).await?;
        let app = &path_tenant.app;
        let cfg = self.app_config(app).await?;
        let master = self.refresh_master_key(app).await?;
        let unauthorised = |m: &str| Ok(RefreshOutcome::Unauthorised { message: m.into(), reuse: None });
        // The reference's message for a token that decrypts to the wrong nonce or fields; for
        // one that does not decrypt at all it gives the Java exception's text instead.
        let Some(payload) = self.decode_refresh_token(&master, refresh_token) else {
            return unauthorised("Invalid refresh token");
        };
        if enable_anti_csrf {
            if let Some(expected) = &payload.anti_csrf_token {
                if !anti_csrf_token.map(|a| crate::random::ct_eq(a, expected)).unwrap_or(false) {
                    return unauthorised("Anti CSRF token missing, or not matching");
                }
            }
        }
        // As the reference, the requested validity is judged once the token is known good.
        let validity_ms = access_token_validity(&cfg, access_token_validity_ms, self.rng.as_ref())?;
        let tenant = self.session_tenant(app, payload.tenant_id.as_deref()).await?;
        let tenant_id = tenant.tenant.clone();
        let now = self.now();
        let hash1 = sha256_hex(refresh_token);
        let hash2 = sha256_hex(&hash1);
        let parent_hash2 = payload.parent_refresh_token_hash1.as_deref().map(sha256_hex);
        let use_static = use_dynamic_key.map(|d| !d);
        let validity = cfg.refresh_token_validity_ms;
        let rotating = cdi >= CdiVersion::V5_6;
        let anti_csrf = enable_anti_csrf.then(|| uuid_v4(self.rng.as_ref()));
        let new_child = |user_id: &str| {
            self.new_refresh_token(
                &master,
                &tenant_id,
                &payload.session_handle,
                user_id,
                Some(&hash1),
                anti_csrf.as_deref(),
            )
        };
        // A rotation stores the child's hash, so the child exists before the row is read.
        let rotated_child = if rotating { Some(new_child(&payload.user_id)?) } else { None };
        let rotated_hash2 = rotated_child.as_deref().map(|c| sha256_hex(&sha256_hex(c)));
        let grace = cfg.refresh_token_rotation_grace_period_ms;
        let classify = |row: &SessionRow| -> Case {
            let is = |h: &Option<String>| h.as_deref() == Some(row.refresh_token_hash_2.as_str());
            let prev = row.prev_refresh_token_hash_2.as_deref();
            if row.expires_at < now {
                Case::Expired
            } else if row.refresh_token_hash_2 == hash2 {
                Case::Current
            } else if is(&parent_hash2) {
                Case::ChildOfCurrent
            } else if !rotating {
                Case::Reuse(TokenReuse::StaleLineage)
            } else if prev == Some(hash2.as_str()) {
                match row.refresh_token_rotated_at {
                    Some(at) if now <= at.saturating_add(grace) => Case::WithinGrace,
                    _ => Case::Reuse(TokenReuse::RecentPrev),
                }
            } else if prev.is_some() && parent_hash2.as_deref() == prev {
                Case::Reuse(TokenReuse::OrphanedBranch)
            } else {
                Case::Reuse(TokenReuse::StaleLineage)
            }
        };
        let decide = |row: &SessionRow| -> Option<SessionPatch> {
            let static_change = use_static.filter(|s| *s != row.use_static_key);
            let rotate_to = |h: &Option<String>| h.clone();
            match (classify(row), rotating) {
                (Case::Current, false) => {
                    static_change.map(|s| SessionPatch { use_static_key: Some(s), ..Default::default() })
                }
                // Promote the child; the replaced hash is kept as the previous one so that a
                // 5.6 refresh of the same session sees the rotation (the reference's dual write).
                (Case::ChildOfCurrent, false) => Some(SessionPatch {
                    refresh_token_hash_2: Some(hash2.clone()),
                    expires_at: Some(now + validity),
                    use_static_key: static_change,
                    prev_refresh_token_hash_2: Some(row.refresh_token_hash_2.clone()),
                    refresh_token_rotated_at: Some(now),
                }),
                (Case::Current | Case::ChildOfCurrent, true) => Some(SessionPatch {
                    refresh_token_hash_2: rotate_to(&rotated_hash2),
                    expires_at: Some(now + validity),
                    use_static_key: static_change,
                    prev_refresh_token_hash_2: Some(hash2.clone()),
                    refresh_token_rotated_at: Some(now),
                }),
                // Within the grace period the previous token rotates again; the child this
                // displaces is dead, the window is not extended.
                (Case::WithinGrace, _) => Some(SessionPatch {
                    refresh_token_hash_2: rotate_to(&rotated_hash2),
                    use_static_key: static_change,
                    ..Default::default()
                }),
                (Case::Expired | Case::Reuse(_), _) => None,
            }
        };
        // The row is read (and, for a child token, promoted) in one intent that also resolves
        // the user, and may record the activity of a refresh that succeeds (judged on its first
        // read, so a refresh that then loses a race on the row, to a sibling child promoted
        // first or a removal, can still count: activity is a statistic). Up to 5.5 the child
        // token depends only on the presented token, so its encryption (a PBKDF2 derivation)
        // runs while the read is in flight.
        // A user this instance recorded as active within the throttle window is not written
        // again (see `crate::activity`), so such a refresh reads only.
        let accepted: Vec<&str> = std::iter::once(hash2.as_str()).chain(parent_hash2.as_deref()).collect();
        let touch = TouchIfCurrent { refresh_token_hashes_2: &accepted, now_ms: now };
        let throttled = self.activity.was_recent(app, &payload.user_id, now);
        let touch = (!throttled).then_some(&touch);
        let (read, child) = tokio::join!(
            self.storage.update_session_resolved(&tenant, &payload.session_handle, &decide, touch),
            async {
                match &rotated_child {
                    Some(c) => Ok(c.clone()),
                    None => new_child(&payload.user_id),
                }
            }
        );
        let Some(ResolvedSession { row, identity, activity_recorded }) = read? else {
            return unauthorised("Session missing in db or has expired");
        };
        let active = SessionIdentity::active_user(identity.as_ref(), &row.user_id);
        let (primary, recipe) = SessionIdentity::reported(identity, &row.user_id);
        match classify(&row) {
            Case::Expired => return unauthorised("Session missing in db or has expired"),
            Case::Reuse(_) if !rotating => {
                return Ok(RefreshOutcome::TokenTheftDetected {
                    handle: row.handle.clone(),
                    user_id: primary,
                    recipe_user_id: recipe,
                    reuse: None,
                });
            }
            Case::Reuse(kind) => {
                // A 5.6 reuse ends the session.
                self.storage.delete_sessions(app, &[(tenant.clone(), row.handle.clone())]).await?;
                if kind != TokenReuse::StaleLineage && cfg.recent_token_reuse_unauthorised {
                    return Ok(RefreshOutcome::Unauthorised {
                        message: "refresh token reuse detected".into(),
                        reuse: Some(kind),
                    });
                }
                return Ok(RefreshOutcome::TokenTheftDetected {
                    handle: row.handle.clone(),
                    user_id: primary,
                    recipe_user_id: recipe,
                    reuse: Some(kind),
                });
            }
            Case::Current | Case::ChildOfCurrent | Case::WithinGrace => {}
        }
        let child = match child {
            // The stored row names the user the token was issued for; re-issue if it ever
            // differs (never for a rotation, whose child's hash is already stored).
            Ok(child) if row.user_id == payload.user_id || rotating => child,
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
        let key = self.signing_key(app, &cfg, use_static.unwrap_or(row.use_static_key)).await?;
        let claims = Mint {
            version: cdi.access_token_version(),
            user_id: &primary,
            recipe_user_id: &recipe,
            tenant: &tenant_id,
            handle: &row.handle,
            refresh_token_hash1: &child_hash1,
            // A rotated token is already the session's: nothing to promote at verify.
            parent_refresh_token_hash1: if rotating { None } else { Some(&hash1) },
            anti_csrf: anti_csrf.as_deref(),
            user_data: &row.jwt_user_payload,
            iat_ms: now,
            exp_ms: now + validity_ms,
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
        let refresh_expiry = now + validity;
        Ok(RefreshOutcome::Ok(Box::new(NewSession {
            session: SessionSummary {
                handle: row.handle.clone(),
                user_id: primary,
                recipe_user_id: recipe,
                user_data_in_jwt: row.jwt_user_payload.clone(),
                tenant_id: tenant_id.to_string(),
            },
            access_token: access,
            refresh_token: Token { token: child, expiry: refresh_expiry, created_time: now },
            id_refresh_token: cdi.hands_out_signing_keys().then(|| self.id_refresh_token(refresh_expiry, now)),
            anti_csrf_token: anti_csrf,
            legacy_keys: None,
        })))
    }
}

/// Where a presented refresh token stands against its session row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Case {
    Expired,
    /// It is the session's current token.
    Current,
    /// Its parent is (a child minted by a refresh up to 5.5, not yet used).
    ChildOfCurrent,
    /// CDI 5.6: it is the token the current one replaced, within the grace period.
    WithinGrace,
    /// Anything else: theft up to 5.5, a reuse from 5.6.
    Reuse(TokenReuse),
}
