//! The session's signing keys: which key signs a new token, the key source the per-app key
//! cache ([`crate::signing_keys`]) loads from, and the cron job that deletes expired keys.

use crate::core::Core;
use crate::crypto::SigningKey;
use crate::error::{CoreError, CoreResult};
use crate::ids::AppId;
use crate::jobs::Job;
use crate::signing_keys::{KeySource, KeyTiming};
use async_trait::async_trait;
use st_config::CoreConfig;
use std::sync::Arc;
use std::time::Duration;

impl Core {
    /// What the key cache loads from: this core's storage, clock and CSPRNG.
    pub(crate) fn key_source(&self) -> KeySource<'_> {
        KeySource { storage: &*self.storage, clock: &*self.clock, rng: &self.rng }
    }

    /// The key that signs new tokens of this kind.
    pub(crate) async fn signing_key(
        &self,
        app: &AppId,
        cfg: &CoreConfig,
        use_static: bool,
    ) -> CoreResult<Arc<SigningKey>> {
        let keys = &self.app_state(app).keys;
        if use_static {
            return keys.static_key(&self.key_source(), cfg).await;
        }
        let set = keys.get(&self.key_source(), cfg, false).await?;
        set.signing_key(self.now())
            .cloned()
            .ok_or_else(|| CoreError::Internal("no access-token signing key available".into()))
    }
}

/// The legacy SDKs' public-key fields, and the handshake (CDI < 2.21).
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LegacyKeyInfo {
    pub jwt_signing_public_key: String,
    pub jwt_signing_public_key_expiry_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwt_signing_public_key_list: Option<Vec<LegacyPublicKey>>,
}

#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LegacyPublicKey {
    pub public_key: String,
    pub expiry_time: i64,
    pub created_at: i64,
}

/// How long the reference says a static key lasts, for the legacy SDKs: ten years. As a key's
/// `jwtSigningPublicKeyExpiryTime` it is given as this duration, not a time (the reference's).
const STATIC_KEY_LIFETIME_MS: i64 = 10 * 365 * 24 * 3600 * 1000;

impl Core {
    /// The key the legacy SDKs verify tokens with (`addLegacySigningKeyInfos`): with dynamic
    /// keys (`access_token_signing_key_dynamic`, the default) the one that signs now, valid
    /// until the next rotation, and, for CDI 2.9 to 2.20, every dynamic key still valid with
    /// its verification deadline; else the static key.
    pub async fn legacy_key_info(&self, app: &AppId, with_list: bool) -> CoreResult<LegacyKeyInfo> {
        let cfg = self.app_config(app).await?;
        let keys = &self.app_state(app).keys;
        let now = self.now();
        if !cfg.access_token_signing_key_dynamic {
            let key = keys.static_key(&self.key_source(), &cfg).await?;
            let entry = LegacyPublicKey {
                public_key: key.public_key_b64().to_string(),
                expiry_time: key.created_at + STATIC_KEY_LIFETIME_MS,
                created_at: key.created_at,
            };
            return Ok(LegacyKeyInfo {
                jwt_signing_public_key: entry.public_key.clone(),
                jwt_signing_public_key_expiry_time: STATIC_KEY_LIFETIME_MS,
                jwt_signing_public_key_list: with_list.then(|| vec![entry]),
            });
        }
        let set = keys.get(&self.key_source(), &cfg, false).await?;
        let timing = KeyTiming::of(&cfg);
        let signing =
            set.signing_key(now).ok_or_else(|| CoreError::Internal("no access-token signing key available".into()))?;
        Ok(LegacyKeyInfo {
            jwt_signing_public_key: signing.public_key_b64().to_string(),
            jwt_signing_public_key_expiry_time: signing.created_at + timing.interval,
            jwt_signing_public_key_list: with_list.then(|| {
                set.dynamic_keys(now)
                    .map(|k| LegacyPublicKey {
                        public_key: k.public_key_b64().to_string(),
                        expiry_time: k.created_at + timing.lifetime,
                        created_at: k.created_at,
                    })
                    .collect()
            }),
        })
    }
}

/// Delete dynamic signing keys older than `U + 2 × access_token_validity`, per app.
pub struct DeleteExpiredSigningKeys;

#[async_trait]
impl Job for DeleteExpiredSigningKeys {
    fn name(&self) -> &'static str {
        "DeleteExpiredAccessTokenSigningKeys"
    }
    fn interval(&self) -> Duration {
        Duration::from_secs(24 * 3600)
    }
    /// Each app is cleaned on its own, as the reference's per-app cron task: an app removed
    /// mid-run or one failing statement is logged and the remaining apps are still cleaned.
    async fn run(&self, core: &Core) -> CoreResult<()> {
        for t in core.list_tenant_records().await?.into_iter().filter(|t| t.id.tenant.is_public()) {
            let app = &t.id.app;
            let cleaned = match core.app_config(app).await {
                Ok(cfg) => {
                    let before = core.now() - KeyTiming::of(&cfg).lifetime;
                    core.storage.delete_dynamic_keys_before(app, before).await.map_err(Into::into)
                }
                Err(e) => Err(e),
            };
            if let Err(e) = cleaned {
                tracing::warn!(app = %app, error = %e, "expired signing keys of this app not removed");
            }
        }
        Ok(())
    }
}
