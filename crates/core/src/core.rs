//! [`Core`]: the process-wide service object the HTTP layer calls into. It owns the storage,
//! the clock and the RNG, and caches per-tenant effective configuration and per-app state
//! (signing keys, refresh-token key), all created lazily so that thousands of apps are cheap.

use crate::clock::Clock;
use crate::error::{CoreError, CoreResult};
use crate::ids::{AppId, ConnectionUriDomain, TenantIdentifier};
use crate::multitenancy::cache::{self, BaseConfig, Invalidation, TenantMap};
use crate::random::Random;
use crate::signing_keys::AppKeys;
use crate::storage::{Storage, TenantRecord};
use st_config::{ConfigMap, CoreConfig};
use std::collections::{HashMap, HashSet};
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
    /// OAuth client secrets already decrypted (see [`crate::oauth::clients::SecretCache`]).
    pub oauth_secrets: crate::oauth::clients::SecretCache,
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
    /// Tenants by (connection-URI domain, tenant): a tenant's record and config are its
    /// domain's (the identifier's own equality leaves the domain out). Shared with the
    /// re-sync's blocking task (see [`crate::multitenancy::cache`]).
    tenants: Arc<RwLock<TenantMap>>,
    /// One re-sync at a time.
    resync: tokio::sync::Mutex<()>,
    /// What effective configs are built from (the base config, shared by every tenant that
    /// overrides nothing).
    base_cfg: BaseConfig,
    /// The configured connection-URI domains other than the default one (the reference's
    /// `isConnectionUriDomainPresentInDb`), as of the last change or re-sync.
    domains: RwLock<HashSet<ConnectionUriDomain>>,
    apps: RwLock<HashMap<AppId, Arc<AppState>>>,
    pub hashing: crate::password::Hasher,
    /// Run counters of background jobs (filled by the job runner).
    pub job_stats: crate::stats::JobStatsRegistry,
    /// Users this instance recorded as active lately (see [`crate::activity`]).
    pub activity: crate::activity::RecentActivity,
    /// This instance's request rate-limit counters (see [`crate::ratelimit`]).
    pub(crate) rate_counters: Arc<crate::ratelimit::RateCounters>,
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
        let base_cfg = BaseConfig { base: base.clone(), base_map: Arc::new(base_map.clone()), test_mode };
        Ok(Core {
            job_stats: Default::default(),
            activity: Default::default(),
            rate_counters: Default::default(),
            hashing,
            storage,
            clock,
            rng,
            base_map,
            base,
            test_mode,
            tenants: Arc::new(RwLock::new(TenantMap::default())),
            resync: tokio::sync::Mutex::new(()),
            base_cfg,
            domains: RwLock::new(HashSet::new()),
            apps: RwLock::new(HashMap::new()),
        })
    }

    pub fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Build the effective config of a tenant, as the reference's
    /// `getNormalisedConfigForTenant`: tenant ⊕ its app's public tenant ⊕ its domain's public
    /// app's public tenant ⊕ base (the base config itself, shared, when nothing overrides it).
    fn effective_config(
        &self,
        record: &TenantRecord,
        app_public: Option<&TenantRecord>,
        domain_public: Option<&TenantRecord>,
    ) -> CoreResult<Arc<CoreConfig>> {
        self.base_cfg
            .effective(record, app_public, domain_public)
            .map_err(|e| CoreError::bad(format!("Invalid core config: {e}")))
    }

    /// The parents a tenant's config is layered on: its app's public tenant and its domain's
    /// public app's public tenant (each `None` when it is the tenant itself or missing).
    async fn config_parents(&self, id: &TenantIdentifier) -> CoreResult<(Option<TenantRecord>, Option<TenantRecord>)> {
        let app_public = TenantIdentifier::app_public(&id.app);
        let domain_public = TenantIdentifier::domain_base(id.domain());
        let app_public = if app_public.same_as(id) { None } else { self.storage.get_tenant(&app_public).await? };
        let domain_public =
            if domain_public.same_as(id) || domain_public.same_as(&TenantIdentifier::app_public(&id.app)) {
                None
            } else {
                self.storage.get_tenant(&domain_public).await?
            };
        Ok((app_public, domain_public))
    }

    /// The tenant (of the domain its identifier names), from cache or storage. Unknown ⇒ the
    /// reference's 400.
    pub async fn tenant(&self, id: &TenantIdentifier) -> CoreResult<Arc<TenantEntry>> {
        let key = cache::key_of(id);
        if let Some(t) = read(&self.tenants).get(&key) {
            return Ok(t.clone());
        }
        let Some(record) = self.storage.get_tenant(id).await? else {
            return Err(CoreError::TenantOrAppNotFound(id.not_found_message()));
        };
        let (app_public, domain_public) = self.config_parents(id).await?;
        let config = self.effective_config(&record, app_public.as_ref(), domain_public.as_ref())?;
        let entry = Arc::new(TenantEntry { record, config });
        write(&self.tenants).insert(key, entry.clone());
        Ok(entry)
    }

    /// The connection-URI domain of a request's `Host` (the reference's
    /// `getConnectionUriDomain`): a configured domain, else the default one. With
    /// `supertokens_saas_load_only_cud` set, another configured domain is the reference's 400.
    pub fn domain_of_host(&self, host: Option<&str>) -> CoreResult<ConnectionUriDomain> {
        let domains = read(&self.domains);
        if domains.is_empty() {
            return Ok(ConnectionUriDomain::default_domain());
        }
        let domain = ConnectionUriDomain::of_host(host.unwrap_or_default());
        if !domains.contains(&domain) {
            return Ok(ConnectionUriDomain::default_domain());
        }
        if let Some(only) = self.load_only_domain() {
            if only != domain {
                return Err(CoreError::bad("Connection URI domain is disallowed"));
            }
        }
        Ok(domain)
    }

    /// `supertokens_saas_load_only_cud`, normalised as the reference does.
    pub fn load_only_domain(&self) -> Option<ConnectionUriDomain> {
        let raw = self.base_map.get("supertokens_saas_load_only_cud")?.as_str()?;
        Some(ConnectionUriDomain::parse(raw).unwrap_or_else(|_| ConnectionUriDomain::of_host(raw)))
    }

    /// Record that `domain` is configured (a tenant was created in it) or, with `false`, that
    /// it is not any more.
    pub(crate) fn set_domain_known(&self, domain: &ConnectionUriDomain, known: bool) {
        if domain.is_default() {
            return;
        }
        let mut domains = write(&self.domains);
        if known {
            domains.insert(domain.clone());
        } else {
            domains.remove(domain);
        }
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
                    oauth_secrets: Default::default(),
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

    /// Forget cached configuration of an app's tenants (after a change or a removal), and of
    /// every tenant of its domain when the app is the domain's `public` one (its config is
    /// layered into theirs).
    pub fn invalidate_app(&self, app: &AppId) {
        let whole_domain = app.is_public() && !app.domain().is_default();
        let inv =
            if whole_domain { Invalidation::Domain(app.domain().clone()) } else { Invalidation::App(app.clone()) };
        write(&self.tenants).invalidate(inv);
    }

    /// Forget the cached configuration of one tenant (after a change to it: only an app's or a
    /// domain's public tenant is layered into others).
    pub fn invalidate_tenant(&self, id: &TenantIdentifier) {
        if id.tenant.is_public() {
            self.invalidate_app(&id.app);
        } else {
            write(&self.tenants).invalidate(Invalidation::Tenant(cache::key_of(id)));
        }
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

    /// Reload every tenant from storage (cron, so that instances sharing a database converge),
    /// as the reference's `refreshTenantsInCoreBasedOnChangesInCoreConfigOrIfTenantListChanged`:
    /// only tenants that changed are rebuilt, and nothing is written when none did. The reading,
    /// comparison and building run on a blocking thread (never on the async workers, nor on
    /// the runtime that drives the storage's connections); the map's write lock is held only
    /// to install the changes. See [`crate::multitenancy::cache`].
    pub async fn sync_tenants(&self) -> CoreResult<()> {
        let _one_at_a_time = self.resync.lock().await;
        write(&self.tenants).begin_resync();
        let (storage, map, cfg) = (self.storage.clone(), self.tenants.clone(), self.base_cfg.clone());
        let (handle, span) = (tokio::runtime::Handle::current(), tracing::Span::current());
        let planned = tokio::task::spawn_blocking(move || {
            use tracing::Instrument;
            let _in_span = span.enter();
            let records = handle.block_on(storage.list_tenants().in_current_span())?;
            let plan = cache::plan_resync(records, &map, &cfg);
            let (read, kept, upserts, removals) = (plan.read, plan.kept, plan.upserts.len(), plan.removals.len());
            let (domains, apps) = (plan.domains.clone(), plan.apps.clone());
            let replaced = write(&map).apply(plan);
            drop(replaced);
            tracing::debug!(read, kept, upserts, removals, "tenants re-synced");
            Ok::<_, crate::StorageError>((domains, apps))
        })
        .await;
        let (domains, apps) = match planned {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                write(&self.tenants).abort_resync();
                return Err(e.into());
            }
            Err(e) => {
                write(&self.tenants).abort_resync();
                return Err(CoreError::Internal(format!("tenant re-sync task failed: {e}")));
            }
        };
        if *read(&self.domains) != domains {
            *write(&self.domains) = domains;
        }
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
        let (app_public, domain_public) = self.config_parents(&record.id).await?;
        let effective = self.effective_config(record, app_public.as_ref(), domain_public.as_ref())?;
        // App-level keys must agree across the tenants of an app. A tenant that sets none of
        // them inherits the app's values, so only configs naming one need the cross-check.
        if !record.core_config.keys().any(|k| st_config::is_app_level(k)) {
            return Ok(());
        }
        let tenants = self.storage.list_tenants().await?;
        let same_app = |t: &TenantRecord| t.id.app.same_as(&record.id.app) && !t.id.same_as(&record.id);
        for other in tenants.iter().filter(|t| same_app(t)) {
            let other_public = if other.id.tenant.is_public() {
                None
            } else if record.id.tenant.is_public() {
                Some(record)
            } else {
                app_public.as_ref()
            };
            let other_cfg = self.effective_config(other, other_public, domain_public.as_ref())?;
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
