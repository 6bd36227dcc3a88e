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
