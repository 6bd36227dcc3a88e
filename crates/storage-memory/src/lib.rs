//! In-memory [`Storage`]: the default when no database is configured (development, tests).
//! Data lives in one process and is lost on exit. Every intent runs under one short-lived
//! mutex, which makes each of them trivially atomic; nothing awaits while it is held.

use async_trait::async_trait;
use serde_json::Value;
use st_core::ids::{AppId, TenantIdentifier};
use st_core::storage::*;
use st_core::StorageError;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

mod users;

#[derive(Default)]
pub(crate) struct State {
    pub tenants: BTreeMap<TenantIdentifier, TenantRecord>,
    pub kv: HashMap<(TenantIdentifier, String), String>,
    pub sessions: HashMap<(TenantIdentifier, String), SessionRow>,
    /// app -> keys (any order).
    pub dynamic_keys: HashMap<AppId, Vec<StoredKey>>,
    pub static_keys: HashMap<AppId, StoredKey>,
    pub last_active: HashMap<(AppId, String), i64>,
    pub users: users::UserTables,
}

/// The in-memory backend. Cheap to clone (shared state).
#[derive(Clone)]
pub struct MemoryStorage {
    state: Arc<Mutex<State>>,
    jobs: Arc<Mutex<HashSet<String>>>,
}

impl Default for MemoryStorage {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStorage {
    /// A fresh store holding the base app and tenant.
    pub fn new() -> Self {
        let mut state = State::default();
        let base = TenantIdentifier::base();
        state.tenants.insert(base.clone(), TenantRecord::new(base));
        MemoryStorage { state: Arc::new(Mutex::new(state)), jobs: Arc::new(Mutex::new(HashSet::new())) }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave half-applied intents (each is applied in
        // one go), so a poisoned lock is still consistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl State {
    pub(crate) fn tenant_exists(&self, t: &TenantIdentifier) -> bool {
        self.tenants.contains_key(t)
    }

    fn remove_tenant_data(&mut self, t: &TenantIdentifier) {
        self.kv.retain(|(tt, _), _| tt != t);
        self.sessions.retain(|(tt, _), _| tt != t);
        self.users.remove_tenant(t);
    }

    fn remove_app_data(&mut self, app: &AppId) {
        self.dynamic_keys.remove(app);
        self.static_keys.remove(app);
        self.last_active.retain(|(a, _), _| a != app);
        self.users.remove_app(app);
    }
}

#[async_trait]
impl TenantStorage for MemoryStorage {
    async fn health_check(&self) -> SResult<()> {
        drop(self.lock());
        Ok(())
    }

    async fn list_tenants(&self) -> SResult<Vec<TenantRecord>> {
        Ok(self.lock().tenants.values().cloned().collect())
    }

    async fn get_tenant(&self, id: &TenantIdentifier) -> SResult<Option<TenantRecord>> {
        Ok(self.lock().tenants.get(id).cloned())
    }

    async fn upsert_tenant(&self, record: &TenantRecord, _now_ms: i64) -> SResult<bool> {
        let mut s = self.lock();
        if !record.id.tenant.is_public() && !s.tenant_exists(&TenantIdentifier::app_public(&record.id.app)) {
            return Err(StorageError::TenantOrAppNotFound);
        }
        Ok(s.tenants.insert(record.id.clone(), record.clone()).is_none())
    }

    async fn delete_tenant(&self, id: &TenantIdentifier) -> SResult<bool> {
        let mut s = self.lock();
        let existed = s.tenants.remove(id).is_some();
        s.remove_tenant_data(id);
        Ok(existed)
    }

    async fn delete_app(&self, app: &AppId) -> SResult<bool> {
        let mut s = self.lock();
        let ids: Vec<TenantIdentifier> = s.tenants.keys().filter(|t| &t.app == app).cloned().collect();
        for id in &ids {
            s.tenants.remove(id);
            s.remove_tenant_data(id);
        }
        s.remove_app_data(app);
        Ok(!ids.is_empty())
    }
}

#[async_trait]
impl KeyValueStorage for MemoryStorage {
    async fn get_key_value(&self, tenant: &TenantIdentifier, name: &str) -> SResult<Option<String>> {
        Ok(self.lock().kv.get(&(tenant.clone(), name.to_string())).cloned())
    }

    async fn set_key_value(&self, tenant: &TenantIdentifier, name: &str, value: &str, _now_ms: i64) -> SResult<()> {
        let mut s = self.lock();
        if !s.tenant_exists(tenant) {
            return Err(StorageError::TenantOrAppNotFound);
        }
        s.kv.insert((tenant.clone(), name.to_string()), value.to_string());
        Ok(())
    }

    async fn delete_key_value(&self, tenant: &TenantIdentifier, name: &str) -> SResult<bool> {
        Ok(self.lock().kv.remove(&(tenant.clone(), name.to_string())).is_some())
    }

    async fn get_or_insert_key_value(
        &self,
        tenant: &TenantIdentifier,
        name: &str,
        value: &str,
        _now_ms: i64,
    ) -> SResult<String> {
        let mut s = self.lock();
        if !s.tenant_exists(tenant) {
            return Err(StorageError::TenantOrAppNotFound);
        }
        Ok(s.kv.entry((tenant.clone(), name.to_string())).or_insert_with(|| value.to_string()).clone())
    }
}

#[async_trait]
impl SessionStorage for MemoryStorage {
    async fn create_session(&self, row: &SessionRow) -> SResult<()> {
        let mut s = self.lock();
        if !s.tenant_exists(&row.tenant) {
            return Err(StorageError::TenantOrAppNotFound);
        }
        s.sessions.insert((row.tenant.clone(), row.handle.clone()), row.clone());
        Ok(())
    }

    async fn get_session(&self, tenant: &TenantIdentifier, handle: &str) -> SResult<Option<SessionRow>> {
        Ok(self.lock().sessions.get(&(tenant.clone(), handle.to_string())).cloned())
    }

    async fn update_session_atomically(
        &self,
        tenant: &TenantIdentifier,
        handle: &str,
        decide: SessionDecider<'_>,
    ) -> SResult<Option<SessionRow>> {
        let mut s = self.lock();
        let Some(row) = s.sessions.get_mut(&(tenant.clone(), handle.to_string())) else {
            return Ok(None);
        };
        let before = row.clone();
        if let Some(patch) = decide(&before) {
            if let Some(h) = patch.refresh_token_hash_2 {
                row.refresh_token_hash_2 = h;
            }
            if let Some(e) = patch.expires_at {
                row.expires_at = e;
            }
            if let Some(k) = patch.use_static_key {
                row.use_static_key = k;
            }
        }
        Ok(Some(before))
    }

    async fn delete_sessions(&self, _app: &AppId, handles: &[(TenantIdentifier, String)]) -> SResult<Vec<String>> {
        let mut s = self.lock();
        Ok(handles.iter().filter(|key| s.sessions.remove(key).is_some()).map(|(_, h)| h.clone()).collect())
    }

    async fn session_handles_for_users(
        &self,
        app: &AppId,
        tenant: Option<&TenantIdentifier>,
        user_ids: &[String],
        now_ms: i64,
    ) -> SResult<Vec<(TenantIdentifier, String)>> {
        let s = self.lock();
        let mut out: Vec<(TenantIdentifier, String)> = s
            .sessions
            .values()
            .filter(|r| &r.tenant.app == app && tenant.map(|t| t == &r.tenant).unwrap_or(true))
            .filter(|r| r.expires_at >= now_ms && user_ids.contains(&r.user_id))
            .map(|r| (r.tenant.clone(), r.handle.clone()))
            .collect();
        out.sort();
        Ok(out)
    }

    async fn update_session_data(
        &self,
        tenant: &TenantIdentifier,
        handle: &str,
        data: &Value,
        now_ms: i64,
    ) -> SResult<bool> {
        let mut s = self.lock();
        match s.sessions.get_mut(&(tenant.clone(), handle.to_string())) {
            Some(row) if row.expires_at > now_ms => {
                row.session_data = data.clone();
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn update_jwt_payload(
        &self,
        tenant: &TenantIdentifier,
        handle: &str,
        payload: &Value,
        now_ms: i64,
    ) -> SResult<bool> {
        let mut s = self.lock();
        match s.sessions.get_mut(&(tenant.clone(), handle.to_string())) {
            Some(row) if row.expires_at > now_ms => {
                row.jwt_user_payload = payload.clone();
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn delete_expired_sessions(&self, now_ms: i64) -> SResult<u64> {
        let mut s = self.lock();
        let before = s.sessions.len();
        s.sessions.retain(|_, r| r.expires_at > now_ms);
        Ok((before - s.sessions.len()) as u64)
    }
}

#[async_trait]
impl SigningKeyStorage for MemoryStorage {
    async fn dynamic_keys_rotate(
        &self,
        app: &AppId,
        verify_after: i64,
        sign_after: i64,
        candidate: Option<&StoredKey>,
    ) -> SResult<(Vec<StoredKey>, bool)> {
        let mut s = self.lock();
        if !s.tenant_exists(&TenantIdentifier::app_public(app)) {
            return Err(StorageError::TenantOrAppNotFound);
        }
        let keys = s.dynamic_keys.entry(app.clone()).or_default();
        let mut inserted = false;
        if let Some(c) = candidate {
            if !keys.iter().any(|k| k.created_at >= sign_after) {
                keys.push(c.clone());
                inserted = true;
            }
        }
        let mut valid: Vec<StoredKey> = keys.iter().filter(|k| k.created_at >= verify_after).cloned().collect();
        valid.sort_by_key(|k| std::cmp::Reverse(k.created_at));
        Ok((valid, inserted))
    }

    async fn delete_dynamic_keys_before(&self, app: &AppId, before: i64) -> SResult<u64> {
        let mut s = self.lock();
        let Some(keys) = s.dynamic_keys.get_mut(app) else { return Ok(0) };
        let n = keys.len();
        keys.retain(|k| k.created_at >= before);
        Ok((n - keys.len()) as u64)
    }

    async fn static_key_get_or_insert(&self, app: &AppId, candidate: Option<&StoredKey>) -> SResult<Option<StoredKey>> {
        let mut s = self.lock();
        if let Some(k) = s.static_keys.get(app) {
            return Ok(Some(k.clone()));
        }
        match candidate {
            Some(c) => {
                if !s.tenant_exists(&TenantIdentifier::app_public(app)) {
                    return Err(StorageError::TenantOrAppNotFound);
                }
                s.static_keys.insert(app.clone(), c.clone());
                Ok(Some(c.clone()))
            }
            None => Ok(None),
        }
    }
}

struct MemoryLease {
    name: String,
    jobs: Arc<Mutex<HashSet<String>>>,
}

impl JobLease for MemoryLease {}

impl Drop for MemoryLease {
    fn drop(&mut self) {
        self.jobs.lock().unwrap_or_else(|p| p.into_inner()).remove(&self.name);
    }
}

#[async_trait]
impl JobStorage for MemoryStorage {
    async fn try_lock_job(&self, job: &str) -> SResult<Option<Box<dyn JobLease>>> {
        let mut jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
        if !jobs.insert(job.to_string()) {
            return Ok(None);
        }
        Ok(Some(Box::new(MemoryLease { name: job.to_string(), jobs: self.jobs.clone() })))
    }
}

impl Storage for MemoryStorage {
    fn kind(&self) -> &'static str {
        "memory"
    }
}
