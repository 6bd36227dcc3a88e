//! What a tenant costs in memory: the growth of the resident set per tenant when a re-sync
//! loads N tenants with default configs into the tenant map, against the same tenants each
//! with a config of its own (the layout before the configs were shared). Run with
//! `--nocapture` to see the figures.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use st_config::CoreConfig;
use st_core::ids::{AppId, TenantId, TenantIdentifier};
use st_core::multitenancy::cache::{plan_resync, BaseConfig, TenantMap};
use st_core::storage::TenantRecord;
use std::sync::{Arc, RwLock};

/// The process's resident set (bytes), from `/proc/self/status`. The test binary runs this one
/// test, so nothing else allocates meanwhile; the figures include the allocator's overhead.
fn rss() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb * 1024.0
}

const N: usize = 100_000;

fn tenant_records() -> Vec<TenantRecord> {
    let app = AppId::public();
    let mut all = vec![TenantRecord::new(TenantIdentifier::app_public(&app))];
    all.extend((0..N).map(|i| {
        let mut r =
            TenantRecord::new(TenantIdentifier::new(app.clone(), TenantId::parse(&format!("tenant-{i}")).unwrap()));
        // As `PUT /recipe/multitenancy/tenant/v2` creates them.
        r.first_factors = Some(Vec::new());
        r
    }));
    all
}

#[test]
fn a_tenant_with_default_config_costs_well_under_a_kib() {
    // The bench's config.yaml.
    let base_map = st_config::parse_yaml(
        "core_config_version: 0\npostgresql_connection_uri: \"postgresql://postgres@127.0.0.1:5432/st\"\napi_keys: \"bench-api-key-0123456789abcdef\"\n",
    )
    .unwrap();
    let base = Arc::new(CoreConfig::from_map(&base_map, false).unwrap());
    let cfg = BaseConfig { base: base.clone(), base_map: Arc::new(base_map.clone()), test_mode: false };
    let map = RwLock::new(TenantMap::default());

    let records = tenant_records();
    let before = rss();
    map.write().unwrap().begin_resync();
    let plan = plan_resync(records, &map, &cfg);
    drop(map.write().unwrap().apply(plan));
    let per_tenant = (rss() - before) / N as f64;
    assert_eq!(map.read().unwrap().len(), N + 1);

    // The old layout: each tenant's own effective config, built from the layered base map.
    let before = rss();
    let own: Vec<CoreConfig> = (0..N)
        .map(|_| CoreConfig::from_map(&st_config::layered(&[&serde_json::Map::new(), &base_map]), false).unwrap())
        .collect();
    let config_each = (rss() - before) / N as f64;
    println!(
        "{N} tenants: {per_tenant:.0} B per tenant in the map (records consumed); \
         a config of its own would add {config_each:.0} B per tenant"
    );
    drop(own);
    assert!(per_tenant < 700.0, "{per_tenant:.0} B per tenant");

    // A second re-sync with nothing changed allocates no entry.
    let records = tenant_records();
    let before = rss();
    map.write().unwrap().begin_resync();
    let plan = plan_resync(records, &map, &cfg);
    assert_eq!((plan.kept, plan.upserts.len(), plan.removals.len()), (N + 1, 0, 0));
    drop(plan);
    map.write().unwrap().abort_resync();
    assert!(rss() - before < 1024.0 * 1024.0, "nothing held after an unchanged re-sync");
}
