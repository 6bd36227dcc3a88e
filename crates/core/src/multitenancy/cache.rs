//! The in-memory tenant map ([`TenantMap`]) and its minute-ly re-sync with storage.
//!
//! Memory: an entry is the tenant's record and an `Arc` of its effective config. A tenant
//! whose own `coreConfig` and whose parents' (its app's public tenant, its domain's public
//! app) are all empty — the usual case — shares the base config's `Arc`; tenants whose
//! layered overrides are equal share one config built once per re-sync. So a tenant costs
//! its record, its key and its map slot (see `tests/tenant_memory.rs` in this crate).
//!
//! Re-sync ([`plan_resync`], [`TenantMap::apply`]): every tenant is read from storage (as the
//! reference's `SyncCoreConfigWithDb`), compared with the entry in memory, and only the
//! tenants whose record or parents' config changed are rebuilt; tenants gone from storage
//! are removed. Nothing changed ⇒ nothing is written. The comparison runs off the async
//! workers (`spawn_blocking`), taking the map's read lock a chunk of tenants at a time; the
//! changes are installed under the write lock in one short step. Entries invalidated by a
//! local change while the re-sync was reading are not overwritten by its (older) reading.

use crate::core::TenantEntry;
use crate::ids::{AppId, ConnectionUriDomain, TenantIdentifier};
use crate::storage::TenantRecord;
use st_config::{ConfigError, ConfigMap, CoreConfig};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

/// A tenant's key: the identifier's own equality leaves the domain out.
pub type TenantKey = (ConnectionUriDomain, TenantIdentifier);

/// The key of `id`.
pub fn key_of(id: &TenantIdentifier) -> TenantKey {
    (id.domain().clone(), id.clone())
}

/// What a local change dropped from the map.
#[derive(Debug, Clone)]
pub enum Invalidation {
    /// Every tenant of a domain (its public app's config is layered into all of them).
    Domain(ConnectionUriDomain),
    /// Every tenant of an app (by id, as the app's data: every domain naming it).
    App(AppId),
    /// One tenant.
    Tenant(TenantKey),
}

impl Invalidation {
    fn covers(&self, key: &TenantKey) -> bool {
        match self {
            Invalidation::Domain(d) => &key.0 == d,
            Invalidation::App(a) => &key.1.app == a,
            Invalidation::Tenant(k) => k.0 == key.0 && k.1 == key.1,
        }
    }
}

/// The tenants this instance knows, with the invalidations made while a re-sync is reading.
#[derive(Default)]
pub struct TenantMap {
    entries: HashMap<TenantKey, Arc<TenantEntry>>,
    /// `Some` from the start of a re-sync's reading until its changes are installed.
    during_resync: Option<Vec<Invalidation>>,
}

impl TenantMap {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn get(&self, key: &TenantKey) -> Option<&Arc<TenantEntry>> {
        self.entries.get(key)
    }

    pub fn insert(&mut self, key: TenantKey, entry: Arc<TenantEntry>) {
        self.entries.insert(key, entry);
    }

    /// Drop what `inv` covers; a re-sync under way will not put it back.
    pub fn invalidate(&mut self, inv: Invalidation) {
        // One tenant: a look-up, not a pass over every tenant (creating 100k tenants one by one
        // was quadratic).
        match &inv {
            Invalidation::Tenant(k) => {
                self.entries.remove(k);
            }
            _ => self.entries.retain(|k, _| !inv.covers(k)),
        }
        if let Some(list) = self.during_resync.as_mut() {
            list.push(inv);
        }
    }

    /// Start recording invalidations (before a re-sync reads storage).
    pub fn begin_resync(&mut self) {
        self.during_resync = Some(Vec::new());
    }

    /// Stop recording without installing anything (the re-sync failed).
    pub fn abort_resync(&mut self) {
        self.during_resync = None;
    }

    /// Install a re-sync's changes, except for the tenants invalidated since it began
    /// (their reading may be older than the change). Returns the replaced entries, to be
    /// dropped after the lock is released.
    pub fn apply(&mut self, plan: ResyncPlan) -> Vec<Arc<TenantEntry>> {
        let invalidated = self.during_resync.take().unwrap_or_default();
        // Tenants by key (a set), apps and domains (few) checked one by one: a re-sync of many
        // new tenants while many are being created compared every pair under the write lock.
        let mut tenants = std::collections::HashSet::new();
        let mut wider = Vec::new();
        for inv in &invalidated {
            match inv {
                Invalidation::Tenant(k) => {
                    tenants.insert(k);
                }
                other => wider.push(other),
            }
        }
        let mut old = Vec::with_capacity(plan.upserts.len() + plan.removals.len());
        for key in plan.removals {
            old.extend(self.entries.remove(&key));
        }
        for (key, entry) in plan.upserts {
            if tenants.contains(&key) || wider.iter().any(|inv| inv.covers(&key)) {
                continue;
            }
            old.extend(self.entries.insert(key, entry));
        }
        old
    }
}

/// The configuration inputs every effective config is built from.
#[derive(Clone)]
pub struct BaseConfig {
    pub base: Arc<CoreConfig>,
    pub base_map: Arc<ConfigMap>,
    pub test_mode: bool,
}

impl BaseConfig {
    /// A tenant's effective config, as the reference's `getNormalisedConfigForTenant`: tenant ⊕
    /// its app's public tenant ⊕ its domain's public app's public tenant ⊕ base. No override
    /// at all ⇒ the base config itself (shared).
    pub fn effective(
        &self,
        record: &TenantRecord,
        app_public: Option<&TenantRecord>,
        domain_public: Option<&TenantRecord>,
    ) -> Result<Arc<CoreConfig>, ConfigError> {
        let layers = override_layers(record, app_public, domain_public);
        if layers.iter().all(|l| l.is_empty()) {
            return Ok(self.base.clone());
        }
        self.build(&layers).map(Arc::new)
    }

    fn build(&self, layers: &[&ConfigMap]) -> Result<CoreConfig, ConfigError> {
        let mut all = layers.to_vec();
        all.push(&self.base_map);
        CoreConfig::from_map(&st_config::layered(&all), self.test_mode)
    }
}

/// The `coreConfig` layers of a tenant above the base, most specific first.
fn override_layers<'a>(
    record: &'a TenantRecord,
    app_public: Option<&'a TenantRecord>,
    domain_public: Option<&'a TenantRecord>,
) -> Vec<&'a ConfigMap> {
    let mut layers: Vec<&ConfigMap> = vec![&record.core_config];
    for parent in [app_public, domain_public].into_iter().flatten() {
        if !parent.id.same_as(&record.id) {
            layers.push(&parent.core_config);
        }
    }
    layers
}

/// What a re-sync changes in the map, and what it learnt about domains and apps.
#[derive(Default)]
pub struct ResyncPlan {
    pub upserts: Vec<(TenantKey, Arc<TenantEntry>)>,
    pub removals: Vec<TenantKey>,
    /// The configured domains other than the default one.
    pub domains: HashSet<ConnectionUriDomain>,
    /// The apps that exist.
    pub apps: HashSet<AppId>,
    /// Tenants read, and tenants whose entry was kept as it was.
    pub read: usize,
    pub kept: usize,
}

/// How many tenants are compared per read lock of the map.
const CHUNK: usize = 1024;

/// Compare the tenants read from storage (`records`) with `map` and build the entries of the
/// new or changed ones. CPU work: run it off the async workers. The map's read lock is taken
/// for one chunk of tenants at a time, never while an entry is built.
pub fn plan_resync(records: Vec<TenantRecord>, map: &RwLock<TenantMap>, cfg: &BaseConfig) -> ResyncPlan {
    let read_map = || map.read().unwrap_or_else(|p| p.into_inner());
    let mut plan = ResyncPlan { read: records.len(), ..ResyncPlan::default() };
    let parent_key = |domain: &ConnectionUriDomain, app: &AppId| (domain.clone(), app.clone());
    let publics: HashMap<(ConnectionUriDomain, AppId), TenantRecord> = records
        .iter()
        .filter(|t| t.id.tenant.is_public())
        .map(|t| (parent_key(t.id.domain(), &t.id.app), t.clone()))
        .collect();
    // Public tenants whose config (layered into their app's, or domain's, tenants) is not the
    // one in memory: every tenant under them is rebuilt.
    let changed_parents: HashSet<(ConnectionUriDomain, AppId)> = {
        let m = read_map();
        publics
            .iter()
            .filter(|(_, r)| m.get(&key_of(&r.id)).is_none_or(|e| e.record.core_config != r.core_config))
            .map(|(k, _)| k.clone())
            .collect()
    };
    let mut changed: Vec<usize> = Vec::new();
    let mut found = 0usize;
    for (c, chunk) in records.chunks(CHUNK).enumerate() {
        let m = read_map();
        for (i, record) in chunk.iter().enumerate() {
            let domain = record.id.domain();
            if !domain.is_default() && !plan.domains.contains(domain) {
                plan.domains.insert(domain.clone());
            }
            if !plan.apps.contains(&record.id.app) {
                plan.apps.insert(record.id.app.clone());
            }
            let parents_changed = changed_parents.contains(&parent_key(domain, &record.id.app))
                || changed_parents.contains(&parent_key(domain, &AppId::public()));
            if let Some(e) = m.get(&key_of(&record.id)) {
                found += 1;
                if e.record == *record && !parents_changed {
                    plan.kept += 1;
                    continue;
                }
            }
            changed.push(c * CHUNK + i);
        }
    }
    // Tenants in memory but gone from storage.
    {
        let m = read_map();
        if m.entries.len() > found {
            let present: HashSet<(&ConnectionUriDomain, &TenantIdentifier)> =
                records.iter().map(|r| (r.id.domain(), &r.id)).collect();
            plan.removals = m.entries.keys().filter(|k| !present.contains(&(&k.0, &k.1))).cloned().collect();
        }
    }
    // Configs with the same overrides are built once.
    let mut built: HashMap<String, Arc<CoreConfig>> = HashMap::new();
    let mut changed = changed.into_iter().peekable();
    for (i, record) in records.into_iter().enumerate() {
        if changed.peek() != Some(&i) {
            continue;
        }
        changed.next();
        let domain = record.id.domain();
        let app_public = publics.get(&parent_key(domain, &record.id.app));
        let domain_public = publics.get(&parent_key(domain, &AppId::public()));
        let layers = override_layers(&record, app_public, domain_public);
        let config = if layers.iter().all(|l| l.is_empty()) {
            Ok(cfg.base.clone())
        } else {
            let overrides = serde_json::to_string(&st_config::layered(&layers)).unwrap_or_default();
            match built.get(&overrides) {
                Some(c) => Ok(c.clone()),
                None => cfg.build(&layers).map(Arc::new).inspect(|c| {
                    built.insert(overrides, c.clone());
                }),
            }
        };
        match config {
            Ok(config) => {
                plan.upserts.push((key_of(&record.id), Arc::new(TenantEntry { record, config })));
            }
            Err(e) => {
                tracing::warn!(tenant = %record.id.tenant, app = %record.id.app, "ignoring invalid tenant config: {e}");
                plan.removals.push(key_of(&record.id));
            }
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::TenantId;
    use serde_json::json;

    fn cfg() -> BaseConfig {
        let base_map = st_config::parse_yaml("core_config_version: 0\naccess_token_validity: 3600").unwrap();
        let base = Arc::new(CoreConfig::from_map(&base_map, false).unwrap());
        BaseConfig { base, base_map: Arc::new(base_map), test_mode: false }
    }

    fn tenant(app: &AppId, t: &str) -> TenantRecord {
        let id = if t == "public" { TenantId::public() } else { TenantId::parse(t).unwrap() };
        TenantRecord::new(TenantIdentifier::new(app.clone(), id))
    }

    fn records() -> Vec<TenantRecord> {
        let (public, a1) = (AppId::public(), AppId::parse("a1").unwrap());
        let mut all = vec![tenant(&public, "public"), tenant(&a1, "public")];
        all.extend((0..5).map(|i| tenant(&public, &format!("t{i}"))));
        all.extend((0..3).map(|i| tenant(&a1, &format!("u{i}"))));
        all
    }

    fn resync(map: &RwLock<TenantMap>, records: Vec<TenantRecord>, cfg: &BaseConfig) -> (usize, usize, usize) {
        map.write().unwrap().begin_resync();
        let plan = plan_resync(records, map, cfg);
        let r = (plan.kept, plan.upserts.len(), plan.removals.len());
        map.write().unwrap().apply(plan);
        r
    }

    fn config_of(map: &RwLock<TenantMap>, r: &TenantRecord) -> Arc<CoreConfig> {
        map.read().unwrap().get(&key_of(&r.id)).unwrap().config.clone()
    }

    #[test]
    fn unchanged_tenants_are_kept_and_default_configs_shared() {
        let (cfg, map) = (cfg(), RwLock::new(TenantMap::default()));
        let all = records();
        assert_eq!(resync(&map, all.clone(), &cfg), (0, 10, 0));
        assert_eq!(map.read().unwrap().len(), 10);
        for r in &all {
            assert!(Arc::ptr_eq(&config_of(&map, r), &cfg.base), "no override: the base config itself");
        }
        let before = config_of(&map, &all[3]);
        assert_eq!(resync(&map, all.clone(), &cfg), (10, 0, 0), "nothing changed: nothing rebuilt");
        let entry = map.read().unwrap().get(&key_of(&all[3].id)).cloned().unwrap();
        assert!(Arc::ptr_eq(&entry.config, &before));

        // One tenant's config changes; one tenant is removed; one is added.
        let mut next = all.clone();
        next[3].core_config = json!({"access_token_validity": 10}).as_object().unwrap().clone();
        let gone = next.remove(4);
        next.push(tenant(&AppId::public(), "new"));
        assert_eq!(resync(&map, next.clone(), &cfg), (8, 2, 1));
        assert!(map.read().unwrap().get(&key_of(&gone.id)).is_none());
        assert_eq!(config_of(&map, &next[3]).access_token_validity_s, 10);
        assert!(Arc::ptr_eq(&config_of(&map, &next[2]), &cfg.base));

        // An app's public tenant's config is layered into its tenants: all of them rebuilt, and
        // tenants with the same overrides share one config.
        next[1].core_config = json!({"access_token_validity": 20}).as_object().unwrap().clone();
        assert_eq!(resync(&map, next.clone(), &cfg), (6, 4, 0));
        let u: Vec<Arc<CoreConfig>> = next[6..9].iter().map(|r| config_of(&map, r)).collect();
        assert_eq!(u[0].access_token_validity_s, 20);
        assert!(Arc::ptr_eq(&u[0], &u[1]) && Arc::ptr_eq(&u[1], &u[2]));
        assert_eq!(config_of(&map, &next[2]).access_token_validity_s, 3600, "another app's tenant");
    }

    #[test]
    fn a_local_change_during_a_resync_is_not_overwritten() {
        let (cfg, map) = (cfg(), RwLock::new(TenantMap::default()));
        let all = records();
        resync(&map, all.clone(), &cfg);
        // The re-sync reads t0 with a config; meanwhile a local change drops t0 (its stored
        // record is newer than what the re-sync read).
        let mut read = all.clone();
        read[2].core_config = json!({"access_token_validity": 10}).as_object().unwrap().clone();
        map.write().unwrap().begin_resync();
        let plan = plan_resync(read, &map, &cfg);
        assert_eq!(plan.upserts.len(), 1);
        map.write().unwrap().invalidate(Invalidation::Tenant(key_of(&all[2].id)));
        map.write().unwrap().apply(plan);
        assert!(map.read().unwrap().get(&key_of(&all[2].id)).is_none(), "left to be loaded again");
        assert_eq!(map.read().unwrap().len(), 9);
        // An app invalidated: every tenant of it (any domain), not the others.
        map.write().unwrap().invalidate(Invalidation::App(AppId::parse("a1").unwrap()));
        assert_eq!(map.read().unwrap().len(), 5);
    }
}
