//! The `key_value` table: small named values per tenant (refresh-token key, telemetry id,
//! licence key, SDK domains).

use super::SResult;
use crate::ids::TenantIdentifier;
use async_trait::async_trait;

#[async_trait]
pub trait KeyValueStorage: Send + Sync {
    /// Read a value.
    async fn get_key_value(&self, tenant: &TenantIdentifier, name: &str) -> SResult<Option<String>>;
    /// Write a value (insert or replace).
    async fn set_key_value(&self, tenant: &TenantIdentifier, name: &str, value: &str, now_ms: i64) -> SResult<()>;
    /// Delete a value; returns whether it existed.
    async fn delete_key_value(&self, tenant: &TenantIdentifier, name: &str) -> SResult<bool>;
    /// Insert `value` unless a value exists; return the stored value either way.
    async fn get_or_insert_key_value(
        &self,
        tenant: &TenantIdentifier,
        name: &str,
        value: &str,
        now_ms: i64,
    ) -> SResult<String>;
}
