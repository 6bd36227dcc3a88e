//! Access-token signing keys in memory ([`SigningKeyStorage`]): each app's rotating dynamic
//! keys and its static key. One process, one lock: a rotation slot can only get one key.

use crate::{Cascade, MemoryStorage};
use async_trait::async_trait;
use st_core::ids::{AppId, TenantIdentifier};
use st_core::storage::{SResult, SigningKeyStorage, StoredKey, LEGACY_KEY_NAME};
use std::collections::HashMap;
use tracing::field::Empty;
use tracing::instrument;

#[derive(Default)]
pub(crate) struct Tables {
    /// app -> dynamic keys (any order).
    dynamic: HashMap<AppId, Vec<StoredKey>>,
    /// app -> static RS256 key.
    static_keys: HashMap<AppId, StoredKey>,
    /// (app, algorithm) -> static key of another algorithm (ES256, EdDSA).
    other_static_keys: HashMap<(AppId, String), StoredKey>,
}

impl Cascade for Tables {
    fn remove_app(&mut self, app: &AppId) {
        self.dynamic.remove(app);
        self.static_keys.remove(app);
        self.other_static_keys.retain(|(a, _), _| a != app);
    }
}

#[async_trait]
impl SigningKeyStorage for MemoryStorage {
    #[instrument(level = "debug", target = "st_storage", name = "storage.dynamic_keys_rotate", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %app, otel.status_code = Empty, error.type = Empty))]
    async fn dynamic_keys_rotate(
        &self,
        app: &AppId,
        verify_after: i64,
        sign_after: i64,
        candidate: Option<&StoredKey>,
    ) -> SResult<(Vec<StoredKey>, bool)> {
        let mut s = self.lock();
        s.require_tenant(&TenantIdentifier::app_public(app))?;
        let keys = s.signing_keys.dynamic.entry(app.clone()).or_default();
        let mut inserted = false;
        if let Some(c) = candidate {
            if !keys.iter().any(|k| k.created_at >= sign_after && k.same_algorithm(c)) {
                keys.push(c.clone());
                inserted = true;
            }
        }
        let mut valid: Vec<StoredKey> = keys.iter().filter(|k| k.created_at >= verify_after).cloned().collect();
        valid.sort_by_key(|k| std::cmp::Reverse(k.created_at));
        Ok((valid, inserted))
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.delete_dynamic_keys_before", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %app, otel.status_code = Empty, error.type = Empty))]
    async fn delete_dynamic_keys_before(&self, app: &AppId, before: i64) -> SResult<u64> {
        let mut s = self.lock();
        let Some(keys) = s.signing_keys.dynamic.get_mut(app) else { return Ok(0) };
        let n = keys.len();
        keys.retain(|k| k.created_at >= before);
        Ok((n - keys.len()) as u64)
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.transfer_legacy_signing_key", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %app, otel.status_code = Empty, error.type = Empty))]
    async fn transfer_legacy_signing_key(&self, app: &AppId, dynamic: bool, static_kid: &str) -> SResult<bool> {
        let mut s = self.lock();
        let Some((value, created_at)) = s.key_value.take(&TenantIdentifier::app_public(app), LEGACY_KEY_NAME) else {
            return Ok(false);
        };
        if dynamic {
            let keys = s.signing_keys.dynamic.entry(app.clone()).or_default();
            if !keys.iter().any(|k| k.created_at == created_at) {
                keys.push(StoredKey { kid: format!("d-{created_at}"), value, created_at });
            }
        } else {
            let key = StoredKey { kid: static_kid.to_string(), value, created_at };
            s.signing_keys.static_keys.entry(app.clone()).or_insert(key);
        }
        Ok(true)
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.static_key_get_or_insert", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %app, algorithm, otel.status_code = Empty, error.type = Empty))]
    async fn static_key_of_alg_get_or_insert(
        &self,
        app: &AppId,
        algorithm: &str,
        candidate: Option<&StoredKey>,
    ) -> SResult<Option<StoredKey>> {
        let mut s = self.lock();
        let found = match algorithm {
            "RS256" => s.signing_keys.static_keys.get(app),
            _ => s.signing_keys.other_static_keys.get(&(app.clone(), algorithm.to_string())),
        };
        if let Some(k) = found {
            return Ok(Some(k.clone()));
        }
        match candidate {
            Some(c) => {
                s.require_tenant(&TenantIdentifier::app_public(app))?;
                match algorithm {
                    "RS256" => s.signing_keys.static_keys.insert(app.clone(), c.clone()),
                    _ => s.signing_keys.other_static_keys.insert((app.clone(), algorithm.to_string()), c.clone()),
                };
                Ok(Some(c.clone()))
            }
            None => Ok(None),
        }
    }
}
