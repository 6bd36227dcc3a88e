//! App-wide records kept in `key_value` and the storage health check: the licence key, the
//! telemetry id, and the website / API domains the SDK reports through `/apiversion`.

use crate::core::Core;
use crate::error::CoreResult;
use crate::ids::{AppId, TenantIdentifier};
use crate::storage::PoolStats;

const LICENSE_KEY: &str = "LICENSE_KEY";
const TELEMETRY_ID: &str = "TELEMETRY_ID";

impl Core {
    /// Touch the storage (the `/hello` check).
    pub async fn health_check(&self) -> CoreResult<()> {
        Ok(self.storage.health_check().await?)
    }

    /// `"memory"` or `"postgresql"`.
    pub fn storage_kind(&self) -> &'static str {
        self.storage.kind()
    }

    /// The client-side bound on a request's waits for storage (`None`: in memory); the HTTP
    /// layer runs each request under it (see [`crate::deadline`]).
    pub fn storage_request_timeout(&self) -> Option<std::time::Duration> {
        self.storage.request_timeout()
    }

    /// Connection-pool usage, for backends that have a pool (metrics).
    pub fn storage_pool_stats(&self) -> Option<PoolStats> {
        self.storage.pool_stats()
    }

    /// The app's stored licence key.
    pub async fn license_key(&self, app: &AppId) -> CoreResult<Option<String>> {
        Ok(self.storage.get_key_value(&TenantIdentifier::app_public(app), LICENSE_KEY).await?)
    }

    /// Store the app's licence key (every feature is on regardless).
    pub async fn set_license_key(&self, app: &AppId, key: &str) -> CoreResult<()> {
        Ok(self.storage.set_key_value(&TenantIdentifier::app_public(app), LICENSE_KEY, key, self.now()).await?)
    }

    /// Remove the app's licence key.
    pub async fn remove_license_key(&self, app: &AppId) -> CoreResult<()> {
        self.storage.delete_key_value(&TenantIdentifier::app_public(app), LICENSE_KEY).await?;
        Ok(())
    }

    /// The app's telemetry id, if one was ever stored (this server sends no telemetry).
    pub async fn telemetry_id(&self, app: &AppId) -> CoreResult<Option<String>> {
        Ok(self.storage.get_key_value(&TenantIdentifier::app_public(app), TELEMETRY_ID).await?)
    }

    /// Remember a domain the SDK reported (`websiteDomain` or `apiDomain`), writing only when
    /// it changed. As in the reference, which answers first and only logs a failed save, a
    /// database that cannot take the write does not fail the SDK's call.
    pub async fn remember_sdk_domain(&self, app: &AppId, key: &str, value: &str) {
        let t = TenantIdentifier::app_public(app);
        if self.storage.get_key_value(&t, key).await.ok().flatten().as_deref() != Some(value) {
            if let Err(e) = self.storage.set_key_value(&t, key, value, self.now()).await {
                tracing::warn!(error = %e, key, "could not save the SDK's domain from /apiversion");
            }
        }
    }
}
