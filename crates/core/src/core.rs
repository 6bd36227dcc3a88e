//! [`Core`]: the process-wide service object the HTTP layer calls into. It owns the storage,
//! the clock and the RNG, and caches per-tenant effective configuration and per-app state
//! (signing keys, refresh-token key), all created lazily so that thousands of apps are cheap.

use crate::clock::Clock;
use crate::error::{CoreError, CoreResult};
use crate::ids::{AppId, TenantIdentifier};
use crate::random::Random;
use crate::signing_keys::AppKeys;
use crate::storage::{Storage, TenantRecord};
use st_config::{ConfigMap, CoreConfig};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// A tenant as the core knows it: its record and its effective (layered) configuration.
#[derive(Debug)]
pub struct TenantEntry {
    pub record: TenantRecord,
    pub config: Arc<CoreConfig>,
}

/// Lazily created per-app state.
pub struct AppState {
    pub keys: AppKeys,
    pub refresh_key: tokio::sync::OnceCell<String>,
    /// Requests served for the app (`/requests/stats`).
    pub requests: crate::stats::RequestStats,
    /// Whether the app's last new session reported its user id as given (see `create_session`).
    pub guess_session_identity: std::sync::atomic::AtomicBool,
    /// CDI 5.6 approximate user counts per tenant: (count, when it was exact), this instance's.
    pub user_counts: std::sync::Mutex<HashMap<crate::ids::TenantId, (u64, i64)>>,
}

pub struct Core {
    /// Private to the domain: handlers call `Core` methods, never the storage.
    pub(crate) storage: Arc<dyn Storage>,
    pub clock: Arc<dyn Clock>,
    pub rng: Arc<dyn Random>,
    /// Base configuration (config.yaml ⊕ environment ⊕ CLI), normalised.
    pub base_map: ConfigMap,
    pub base: Arc<CoreConfig>,
    pub test_mode: bool,
    tenants: RwLock<HashMap<TenantIdentifier, Arc<TenantEntry>>>,
    apps: RwLock<HashMap<AppId, Arc<AppState>>>,
    pub hashing: crate::password::Hasher,
    /// Run counters of background jobs (filled by the job runner).
    pub job_stats: crate::stats::JobStatsRegistry,
    /// Users this instance recorded as active lately (see [`crate::activity`]).
    pub activity: crate::activity::RecentActivity,
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|p| p.into_inner())
}
fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|p| p.into_inner())
}

impl Core {
    pub fn new(
        storage: Arc<dyn Storage>,
        clock: Arc<dyn Clock>,
        rng: Arc<dyn Random>,
        base_map: ConfigMap,
        test_mode: bool,
    ) -> CoreResult<Core> {
        let base =
            Arc::new(CoreConfig::from_map(&base_map, test_mode).map_err(|e| CoreError::Internal(e.to_string()))?);
        let hashing = crate::password::Hasher::new(&base);
        Ok(Core {
            job_stats: Default::default(),
            activity: Default::default(),
            hashing,
            storage,
            clock,
            rng,
            base_map,
            base,
            test_mode,
            tenants: RwLock::new(HashMap::new()),
            apps: RwLock::new(HashMap::new()),
        })
    }

    pub fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Build the effective config of a tenant: tenant ⊕ app's public tenant ⊕ base.
    fn effective_config(&self, record: &TenantRecord, app_public: Option<&TenantRecord>) -> CoreResult<CoreConfig> {
        let mut layers: Vec<&ConfigMap> = vec![&record.core_config];
        if let Some(p) = app_public {
            if p.id != record.id {
                layers.push(&p.core_config);
            }
        }
        layers.push(&self.base_map);
        let map = st_config::layered(&layers);
        CoreConfig::from_map(&map, self.test_mode).map_err(|e| CoreError::bad(format!("Invalid core config: {e}")))
    }

    /// The tenant, from cache or storage. Unknown ⇒ the reference's 400.
    pub async fn tenant(&self, id: &TenantIdentifier) -> CoreResult<Arc<TenantEntry>> {
        if let Some(t) = read(&self.tenants).get(id) {
            return Ok(t.clone());
        }
        let Some(record) = self.storage.get_tenant(id).await? else {
            return Err(CoreError::TenantOrAppNotFound(id.not_found_message()));
        };
        let app_public = if id.tenant.is_public() {
            None
        } else {
            self.storage.get_tenant(&TenantIdentifier::app_public(&id.app)).await?
        };
        let config = Arc::new(self.effective_config(&record, app_public.as_ref())?);
        let entry = Arc::new(TenantEntry { record, config });
        write(&self.tenants).insert(id.clone(), entry.clone());
        Ok(entry)
    }

    /// The app (its public tenant). Unknown ⇒ the reference's 400 for apps.
    pub async fn app(&self, app: &AppId) -> CoreResult<Arc<TenantEntry>> {
        self.tenant(&TenantIdentifier::app_public(app)).await.map_err(|e| match e {
            CoreError::TenantOrAppNotFound(_) => {
                CoreError::TenantOrAppNotFound(TenantIdentifier::app_not_found_message(app))
            }
            other => other,
        })
    }

    /// App config (the app's public tenant's effective config).
    pub async fn app_config(&self, app: &AppId) -> CoreResult<Arc<CoreConfig>> {
        Ok(self.app(app).await?.config.clone())
    }

    /// Per-app lazily created state.
    pub fn app_state(&self, app: &AppId) -> Arc<AppState> {
        if let Some(s) = read(&self.apps).get(app) {
            return s.clone();
        }
        let mut apps = write(&self.apps);
        apps.entry(app.clone())
            .or_insert_with(|| {
                Arc::new(AppState {
                    keys: AppKeys::new(app.clone()),
                    refresh_key: tokio::sync::OnceCell::new(),
                    requests: crate::stats::RequestStats::new(self.clock.now_ms()),
                    guess_session_identity: std::sync::atomic::AtomicBool::new(true),
                    user_counts: std::sync::Mutex::new(HashMap::new()),
                })
            })
            .clone()
    }

    /// Count a request served for `app` (an app that exists: state is per app).
    pub fn record_request(&self, app: &AppId) {
        self.app_state(app).requests.record(self.now());
    }

    /// `GET /requests/stats` of `app`.
    pub fn request_stats(&self, app: &AppId) -> crate::stats::RequestStatsSnapshot {
        self.app_state(app).requests.snapshot(self.now())
    }

    /// Forget cached configuration of an app's tenants (after a change or a removal).
    pub fn invalidate_app(&self, app: &AppId) {
        write(&self.tenants).retain(|k, _| &k.app != app);
    }

    /// Record `user_id` of `app` as active now, unless this instance did so within the
    /// throttle window ([`crate::activity`]). As with the reference, a failed write fails
    /// nothing: activity is a statistic.
    pub async fn record_activity(&self, app: &AppId, user_id: &str) {
        let now = self.now();
        if self.activity.was_recent(app, user_id, now) {
            return;
        }
        match self.storage.touch_user_last_active(app, user_id, now).await {
            Ok(()) => self.activity.mark(app, &[user_id], now),
            Err(e) => tracing::warn!(error = %e, "could not record the user's last activity"),
        }
    }

    pub fn forget_app_state(&self, app: &AppId) {
        write(&self.apps).remove(app);
        self.activity.forget_app(app);
    }

    /// Age (ms) of the newest dynamic signing key of every app whose keys are loaded.
    pub fn signing_key_ages(&self) -> Vec<(AppId, i64)> {
        let now = self.now();
        read(&self.apps)
            .iter()
            .filter_map(|(app, state)| state.keys.newest_created_at().map(|c| (app.clone(), now - c)))
            .collect()
    }

    /// Reload every tenant from storage (cron, so that instances sharing a database converge).
    pub async fn sync_tenants(&self) -> CoreResult<()> {
        let all = self.storage.list_tenants().await?;
        let publics: HashMap<AppId, TenantRecord> =
            all.iter().filter(|t| t.id.tenant.is_public()).map(|t| (t.id.app.clone(), t.clone())).collect();
        let mut fresh = HashMap::new();
        for record in all {
            let config = match self.effective_config(&record, publics.get(&record.id.app)) {
                Ok(c) => Arc::new(c),
                Err(e) => {
                    tracing::warn!(tenant = %record.id.tenant, app = %record.id.app, "ignoring invalid tenant config: {e}");
                    continue;
                }
            };
            fresh.insert(record.id.clone(), Arc::new(TenantEntry { record, config }));
        }
        let apps: std::collections::HashSet<AppId> = fresh.keys().map(|k| k.app.clone()).collect();
        *write(&self.tenants) = fresh;
        write(&self.apps).retain(|a, _| apps.contains(a));
        // An app deleted and re-created under the same id (perhaps by another instance, within
        // one re-sync) has a new refresh-token key, and new signing keys: when the stored key
        // no longer matches the cached one, forget everything cached for the app. One small
        // read per app whose key this instance has loaded.
        let loaded: Vec<(AppId, String)> =
            read(&self.apps).iter().filter_map(|(a, s)| s.refresh_key.get().map(|k| (a.clone(), k.clone()))).collect();
        for (app, key) in loaded {
            let stored = self.storage.get_key_value(&TenantIdentifier::app_public(&app), "refresh_token_key").await?;
            if stored.as_deref() != Some(key.as_str()) {
                tracing::info!(app = %app, "the app's keys changed in storage (the app was re-created): reloading them");
                self.forget_app_state(&app);
            }
        }
        Ok(())
    }

    /// All known tenants (from storage).
    pub async fn list_tenant_records(&self) -> CoreResult<Vec<TenantRecord>> {
        Ok(self.storage.list_tenants().await?)
    }

    /// Validate a config that would result from giving `record` its new coreConfig.
    pub async fn check_tenant_config(&self, record: &TenantRecord) -> CoreResult<()> {
        let app_public = if record.id.tenant.is_public() {
            None
        } else {
            self.storage.get_tenant(&TenantIdentifier::app_public(&record.id.app)).await?
        };
        let effective = self.effective_config(record, app_public.as_ref())?;
        // App-level keys must agree across the tenants of an app. A tenant that sets none of
        // them inherits the app's values, so only configs naming one need the cross-check.
        if !record.core_config.keys().any(|k| st_config::is_app_level(k)) {
            return Ok(());
        }
        let tenants = self.storage.list_tenants().await?;
        for other in tenants.iter().filter(|t| t.id.app == record.id.app && t.id != record.id) {
            let other_public = if other.id.tenant.is_public() {
                None
            } else if record.id.tenant.is_public() {
                Some(record)
            } else {
                app_public.as_ref()
            };
            let other_cfg = self.effective_config(other, other_public)?;
            for (key, _) in st_config::keys::KEYS.iter().map(|s| (s.name, ())) {
                if st_config::is_app_level(key) && other_cfg.value(key) != effective.value(key) {
                    return Err(CoreError::bad(format!(
                        "Invalid core config: You cannot set different values for {key} for the same appId"
                    )));
                }
            }
        }
        Ok(())
    }
}
