//! Integration tests against a real PostgreSQL. They run only when `ST_TEST_POSTGRES_URL` is
//! set (e.g. `postgresql://postgres@127.0.0.1:55440/postgres`, a role allowed to create
//! databases); otherwise each prints a skip line and passes. Every test works in its own
//! fresh database `st_<random>`, dropped afterwards (also when the test fails).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::json;
use st_core::ids::{AppId, TenantId, TenantIdentifier};
use st_core::storage::*;
use st_core::StorageError;
use st_storage_postgres::{render_migration, PgStorage, TableNames, V1_TEMPLATE, V2_TEMPLATE};
use std::collections::BTreeSet;
use std::str::FromStr;
use std::sync::Arc;

mod common;
/// Users: what only SQL on the reference tables can set up.
#[path = "postgres/users.rs"]
mod users;

use common::*;

/// Every table, column, index and constraint outside the system schemas (the refinery
/// history table left out), plus the base rows: equal snapshots = nothing changed.
async fn snapshot(client: &tokio_postgres::Client, schema: &str, prefix: &str) -> String {
    let structure = client
        .query_one(
            "SELECT string_agg(x, E'\\n' ORDER BY x) FROM (
               SELECT 'T ' || table_schema || '.' || table_name FROM information_schema.tables
                 WHERE table_schema NOT IN ('pg_catalog', 'information_schema')
               UNION ALL
               SELECT 'C ' || table_schema || '.' || table_name || '.' || column_name || ' ' || data_type || ' '
                      || coalesce(column_default, '') || ' ' || is_nullable
                 FROM information_schema.columns WHERE table_schema NOT IN ('pg_catalog', 'information_schema')
               UNION ALL
               SELECT 'I ' || indexdef FROM pg_indexes WHERE schemaname NOT IN ('pg_catalog', 'information_schema')
               UNION ALL
               SELECT 'K ' || c.conrelid::regclass::text || ' ' || c.conname || ' ' || pg_get_constraintdef(c.oid)
                 FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
                 WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
             ) s(x) WHERE x NOT LIKE '%refinery_schema_history%'",
            &[],
        )
        .await
        .unwrap()
        .get::<_, Option<String>>(0)
        .unwrap_or_default();
    let rows = client
        .query_one(
            &format!(
                "SELECT (SELECT string_agg(app_id || ':' || coalesce(created_at_time::text, ''), ',') FROM {schema}.{prefix}apps)
                   || ' | ' || (SELECT string_agg(app_id || '/' || tenant_id || ':' || coalesce(created_at_time::text, ''), ',') FROM {schema}.{prefix}tenants)
                   || ' | ' || (SELECT string_agg(concat_ws(':', connection_uri_domain, app_id, tenant_id, core_config,
                        email_password_enabled, passwordless_enabled, third_party_enabled, is_first_factors_null), ',') FROM {schema}.{prefix}tenant_configs)"
            ),
            &[],
        )
        .await
        .unwrap()
        .get::<_, Option<String>>(0)
        .unwrap_or_default();
    format!("{structure}\n{rows}")
}

/// The tables the template creates (unprefixed names).
fn template_tables() -> BTreeSet<String> {
    V1_TEMPLATE
        .lines()
        .filter_map(|l| l.trim().strip_prefix("CREATE TABLE IF NOT EXISTS __SCHEMA__.__PREFIX__"))
        .map(|rest| rest.split([' ', '(']).next().unwrap().to_string())
        .collect()
}

async fn tables_in(client: &tokio_postgres::Client, schema: &str) -> BTreeSet<String> {
    client
        .query("SELECT table_name::text FROM information_schema.tables WHERE table_schema = $1", &[&schema])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<_, String>(0))
        .collect()
}

async fn assert_base_rows(client: &tokio_postgres::Client, schema: &str, prefix: &str) {
    let apps: i64 = client
        .query_one(&format!("SELECT count(*) FROM {schema}.{prefix}apps WHERE app_id = 'public'"), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(apps, 1);
    let tenants: i64 = client
        .query_one(
            &format!("SELECT count(*) FROM {schema}.{prefix}tenants WHERE app_id = 'public' AND tenant_id = 'public'"),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(tenants, 1);
    let row = client
        .query_one(
            &format!(
                "SELECT core_config, email_password_enabled, passwordless_enabled, third_party_enabled, is_first_factors_null
                 FROM {schema}.{prefix}tenant_configs WHERE connection_uri_domain = '' AND app_id = 'public' AND tenant_id = 'public'"
            ),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "{}");
    for i in 1..5 {
        assert!(row.get::<_, bool>(i));
    }
}

fn uid(n: u32) -> String {
    format!("00000000-0000-4000-8000-{n:012}")
}

fn tid(app: &str, tenant: &str) -> TenantIdentifier {
    TenantIdentifier::new(AppId::parse(app).unwrap(), TenantId::parse(tenant).unwrap())
}

// (a)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_create_every_table_and_the_base_rows() {
    let Some(db) = fresh_db("migrations_create_every_table_and_the_base_rows").await else {
        return;
    };
    let storage = PgStorage::connect(&uri_config(&db, json!({}))).await.unwrap();
    let client = raw(&db).await;
    let mut expected = template_tables();
    expected.insert("refinery_schema_history".into());
    expected.insert("activity_log_default".into());
    let present = tables_in(&client, "public").await;
    for t in &expected {
        assert!(present.contains(t), "missing table {t}; present: {present:?}");
    }
    // this and next month's activity_log partitions
    assert_eq!(present.iter().filter(|t| t.starts_with("activity_log_p")).count(), 2, "{present:?}");
    assert_base_rows(&client, "public", "").await;
    let history: i64 =
        client.query_one("SELECT count(*) FROM public.refinery_schema_history", &[]).await.unwrap().get(0);
    assert_eq!(history, migrations_in_repo(), "every migration recorded");

    let base = storage.get_tenant(&TenantIdentifier::base()).await.unwrap().unwrap();
    assert_eq!(base, TenantRecord::new(TenantIdentifier::base()));
    assert_eq!(storage.list_tenants().await.unwrap(), vec![base]);
    storage.health_check().await.unwrap();
    assert_eq!(storage.kind(), "postgresql");
    // minimum idle defaults to the pool size
    assert_eq!(storage.pool_status().size, 3);
}

// (b)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connecting_twice_changes_nothing() {
    let Some(db) = fresh_db("connecting_twice_changes_nothing").await else {
        return;
    };
    let cfg = uri_config(&db, json!({}));
    let first = PgStorage::connect(&cfg).await.unwrap();
    let client = raw(&db).await;
    let before = snapshot(&client, "public", "").await;
    let history_before: String = client
        .query_one("SELECT string_agg(applied_on, ',' ORDER BY version) FROM public.refinery_schema_history", &[])
        .await
        .unwrap()
        .get(0);
    let second = PgStorage::connect(&cfg).await.unwrap();
    assert_eq!(snapshot(&client, "public", "").await, before);
    let history_after: String = client
        .query_one("SELECT string_agg(applied_on, ',' ORDER BY version) FROM public.refinery_schema_history", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(history_before, history_after);
    drop((first, second));
}

// (c)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_and_prefix_place_the_tables() {
    let Some(db) = fresh_db("schema_and_prefix_place_the_tables").await else {
        return;
    };
    let cfg =
        uri_config(&db, json!({ "postgresql_table_schema": "MySchema", "postgresql_table_names_prefix": " abc " }));
    let storage = PgStorage::connect(&cfg).await.unwrap();
    assert_eq!(storage.table_names().session_info, "myschema.abc_session_info");
    let client = raw(&db).await;
    let present = tables_in(&client, "myschema").await;
    for t in template_tables() {
        assert!(present.contains(&format!("abc_{t}")), "missing abc_{t}: {present:?}");
    }
    assert!(present.contains("abc_refinery_schema_history"));
    assert!(tables_in(&client, "public").await.is_empty());
    assert_base_rows(&client, "myschema", "abc_").await;
    let pk: i64 = client
        .query_one("SELECT count(*) FROM pg_constraint WHERE conname = 'abc_session_info_pkey'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(pk, 1);

    // The same through the URI's currentSchema, with the storage actually used.
    let cfg2 = pg_config(json!({
        "postgresql_connection_uri": format!("{}?currentSchema=myschema", db.url),
        "postgresql_table_names_prefix": "abc",
        "postgresql_connection_pool_size": 2,
    }));
    let again = PgStorage::connect(&cfg2).await.unwrap();
    again.set_key_value(&TenantIdentifier::base(), "k", "v", 1).await.unwrap();
    let v: String =
        client.query_one("SELECT value FROM myschema.abc_key_value WHERE name = 'k'", &[]).await.unwrap().get(0);
    assert_eq!(v, "v");
}

// (d)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_created_by_the_java_core_is_left_as_is() {
    let Some(db) = fresh_db("database_created_by_the_java_core_is_left_as_is").await else {
        return;
    };
    let cfg = uri_config(&db, json!({}));
    let client = raw(&db).await;
    // What the Java core (12.1, with its session_info rotation columns) leaves behind: the
    // tables, the base rows, a month partition, no refinery history.
    for template in [V1_TEMPLATE, V2_TEMPLATE] {
        client.batch_execute(&render_migration(template, &TableNames::new(&cfg))).await.unwrap();
    }
    client
        .batch_execute(
            "INSERT INTO apps VALUES ('public', 1000);
             INSERT INTO tenants VALUES ('public', 'public', 1000);
             INSERT INTO tenant_configs VALUES ('', 'public', 'public', '{}', true, true, true, true);
             INSERT INTO key_value VALUES ('public', 'public', 'refresh_token_key', 'java-key', 1000);",
        )
        .await
        .unwrap();
    let before = snapshot(&client, "public", "").await;
    let storage = PgStorage::connect(&cfg).await.unwrap();
    let after = snapshot(&client, "public", "").await;
    // Only our this/next month activity_log partitions, V3's own table (the native OAuth
    // provider's, beside the reference's), V4's sign-in lockout counters, V5's OAuth flow items,
    // V6's request rate-limit counters and V7's SAML assertion ids and request ids may have been
    // added.
    let ours = |l: &str| {
        l.contains("activity_log_p")
            || l.contains("oauth_client_configs")
            || l.contains("signin_lockouts")
            || l.contains("request_rate_limits")
            || l.contains("oauth_flow_items")
            || l.contains("saml_assertion_ids")
            || l.contains("saml_relay_state_requests")
    };
    let strip = |s: &str| -> String { s.lines().filter(|l| !ours(l)).collect::<Vec<_>>().join("\n") };
    assert_eq!(strip(&after), strip(&before));
    let history: i64 =
        client.query_one("SELECT count(*) FROM public.refinery_schema_history", &[]).await.unwrap().get(0);
    assert_eq!(history, migrations_in_repo(), "every migration recorded");
    assert_eq!(
        storage.get_key_value(&TenantIdentifier::base(), "refresh_token_key").await.unwrap().as_deref(),
        Some("java-key")
    );
}

// (e)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_rotations_insert_one_key() {
    let Some(db) = fresh_db("concurrent_rotations_insert_one_key").await else {
        return;
    };
    let cfg = uri_config(&db, json!({}));
    // Two "instances" sharing the database.
    let a = Arc::new(PgStorage::connect(&cfg).await.unwrap());
    let b = Arc::new(PgStorage::connect(&cfg).await.unwrap());
    for round in 0..5i64 {
        let app = AppId::parse(&format!("app{round}")).unwrap();
        a.upsert_tenant(&TenantRecord::new(TenantIdentifier::app_public(&app)), 1).await.unwrap();
        let now = 1_000_000 + round;
        let ka = StoredKey { kid: String::new(), value: "key-a".into(), created_at: now };
        let kb = StoredKey { kid: String::new(), value: "key-b".into(), created_at: now + 1 };
        let (ra, rb) = tokio::join!(
            a.dynamic_keys_rotate(&app, 0, now - 10, Some(&ka)),
            b.dynamic_keys_rotate(&app, 0, now - 10, Some(&kb)),
        );
        let (keys_a, ins_a) = ra.unwrap();
        let (keys_b, ins_b) = rb.unwrap();
        assert!(ins_a ^ ins_b, "exactly one insert: {ins_a} {ins_b}");
        assert_eq!(keys_a.len(), 1);
        assert_eq!(keys_a, keys_b);
        assert!(keys_a[0].kid.starts_with("d-"));
        assert_eq!(keys_a[0].kid, format!("d-{}", keys_a[0].created_at));
        // A later slot rotates; an old key stays in the verification set.
        let later = StoredKey { kid: String::new(), value: "key-c".into(), created_at: now + 100 };
        let (keys, ins) = a.dynamic_keys_rotate(&app, 0, now + 50, Some(&later)).await.unwrap();
        assert!(ins);
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[0].value, "key-c");
        assert_eq!(a.delete_dynamic_keys_before(&app, now + 100).await.unwrap(), 1);
        let (keys, ins) = b.dynamic_keys_rotate(&app, 0, now + 50, None).await.unwrap();
        assert!(!ins);
        assert_eq!(keys.len(), 1);
    }
}

// (f)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_host_uri_skips_a_refused_host() {
    let Some(db) = fresh_db("multi_host_uri_skips_a_refused_host").await else {
        return;
    };
    let parsed = tokio_postgres::Config::from_str(&db.url).unwrap();
    let host = match &parsed.get_hosts()[0] {
        tokio_postgres::config::Host::Tcp(h) => h.clone(),
        other => panic!("TCP host expected, got {other:?}"),
    };
    let port = parsed.get_ports().first().copied().unwrap_or(5432);
    let user = parsed.get_user().unwrap_or("postgres");
    let uri = format!("postgresql://{user}@127.0.0.1:1,{host}:{port}/{}?target_session_attrs=read-write", db.name);
    let storage = PgStorage::connect(&pg_config(
        json!({ "postgresql_connection_uri": uri, "postgresql_connection_pool_size": 2 }),
    ))
    .await
    .unwrap();
    storage.health_check().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_and_key_values() {
    let Some(db) = fresh_db("tenants_and_key_values").await else {
        return;
    };
    let s = PgStorage::connect(&uri_config(&db, json!({}))).await.unwrap();
    let t1 = tid("public", "t1");
    let mut rec = TenantRecord::new(t1.clone());
    rec.core_config.insert("access_token_validity".into(), json!(7200));
    rec.passwordless_enabled = false;
    rec.first_factors = Some(vec!["thirdparty".into(), "emailpassword".into()]);
    rec.required_secondary_factors = Some(vec!["totp".into()]);
    assert!(s.upsert_tenant(&rec, 5).await.unwrap());
    let mut sorted = rec.clone();
    sorted.first_factors = Some(vec!["emailpassword".into(), "thirdparty".into()]);
    assert_eq!(s.get_tenant(&t1).await.unwrap(), Some(sorted));
    // replace
    rec.first_factors = Some(vec![]);
    rec.required_secondary_factors = None;
    assert!(!s.upsert_tenant(&rec, 6).await.unwrap());
    assert_eq!(s.get_tenant(&t1).await.unwrap(), Some(rec.clone()));
    // a tenant of a missing app
    let orphan = TenantRecord::new(tid("nope", "t1"));
    assert!(matches!(s.upsert_tenant(&orphan, 1).await, Err(StorageError::TenantOrAppNotFound)));
    // a new app through its public tenant
    let a2 = TenantRecord::new(tid("a2", "public"));
    assert!(s.upsert_tenant(&a2, 1).await.unwrap());
    assert!(s.upsert_tenant(&TenantRecord::new(tid("a2", "t9")), 1).await.unwrap());
    assert_eq!(s.list_tenants().await.unwrap().len(), 4);

    // key_value
    assert_eq!(s.get_key_value(&t1, "k").await.unwrap(), None);
    s.set_key_value(&t1, "k", "1", 1).await.unwrap();
    s.set_key_value(&t1, "k", "2", 2).await.unwrap();
    assert_eq!(s.get_key_value(&t1, "k").await.unwrap().as_deref(), Some("2"));
    assert_eq!(s.get_or_insert_key_value(&t1, "k", "3", 3).await.unwrap(), "2");
    assert_eq!(s.get_or_insert_key_value(&t1, "n", "3", 3).await.unwrap(), "3");
    assert!(s.delete_key_value(&t1, "n").await.unwrap());
    assert!(!s.delete_key_value(&t1, "n").await.unwrap());
    assert!(matches!(s.set_key_value(&tid("public", "zz"), "k", "v", 1).await, Err(StorageError::TenantOrAppNotFound)));

    // delete tenant: its data goes
    let row = session(&t1, "h1", "u1", i64::MAX);
    s.create_session(&row).await.unwrap();
    assert!(s.delete_tenant(&t1).await.unwrap());
    assert!(!s.delete_tenant(&t1).await.unwrap());
    assert_eq!(s.get_tenant(&t1).await.unwrap(), None);
    assert_eq!(s.get_key_value(&t1, "k").await.unwrap(), None);
    assert_eq!(s.get_session(&t1, "h1").await.unwrap(), None);

    // delete app: tenants, configs, keys go
    let a2_app = AppId::parse("a2").unwrap();
    let k = StoredKey { kid: String::new(), value: "v".into(), created_at: 10 };
    s.dynamic_keys_rotate(&a2_app, 0, 5, Some(&k)).await.unwrap();
    assert!(s.delete_app(&a2_app).await.unwrap());
    assert!(!s.delete_app(&a2_app).await.unwrap());
    assert_eq!(s.list_tenants().await.unwrap().len(), 1);
    let client = raw(&db).await;
    let left: i64 = client
        .query_one(
            "SELECT (SELECT count(*) FROM tenant_configs WHERE app_id = 'a2') + (SELECT count(*) FROM tenants WHERE app_id = 'a2')
             + (SELECT count(*) FROM session_access_token_signing_keys WHERE app_id = 'a2')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
}

fn session(t: &TenantIdentifier, handle: &str, user: &str, expires_at: i64) -> SessionRow {
    SessionRow {
        tenant: t.clone(),
        handle: handle.into(),
        user_id: user.into(),
        refresh_token_hash_2: "rth".into(),
        session_data: json!({"a": 1}),
        expires_at,
        created_at: 100,
        jwt_user_payload: json!({"p": [1, 2]}),
        use_static_key: false,
        prev_refresh_token_hash_2: None,
        refresh_token_rotated_at: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions() {
    let Some(db) = fresh_db("sessions").await else {
        return;
    };
    let s = PgStorage::connect(&uri_config(&db, json!({}))).await.unwrap();
    let base = TenantIdentifier::base();
    let app = AppId::public();
    let t2 = tid("public", "t2");
    s.upsert_tenant(&TenantRecord::new(t2.clone()), 1).await.unwrap();
    let live = session(&base, "h1", "u1", 10_000);
    s.create_session(&live).await.unwrap();
    s.create_session(&session(&t2, "h2", "u1", 10_000)).await.unwrap();
    s.create_session(&session(&base, "h3", "u1", 500)).await.unwrap();
    s.create_session(&session(&base, "h4", "u2", 10_000)).await.unwrap();
    assert!(matches!(
        s.create_session(&session(&tid("public", "missing"), "x", "u", 1)).await,
        Err(StorageError::TenantOrAppNotFound)
    ));
    assert!(matches!(s.create_session(&live).await, Err(StorageError::Query(_))));
    assert_eq!(s.get_session(&base, "h1").await.unwrap(), Some(live.clone()));

    let mut handles = s.session_handles_for_users(&app, None, &["u1".into()], 1000).await.unwrap();
    handles.sort();
    assert_eq!(handles, vec![(base.clone(), "h1".to_string()), (t2.clone(), "h2".to_string())]);
    let handles = s.session_handles_for_users(&app, Some(&t2), &["u1".into(), "u2".into()], 1000).await.unwrap();
    assert_eq!(handles, vec![(t2.clone(), "h2".to_string())]);

    assert!(s.update_session_data(&base, "h1", &json!({"b": 2}), 1000).await.unwrap());
    assert!(!s.update_session_data(&base, "h3", &json!({"b": 2}), 1000).await.unwrap());
    assert!(s.update_jwt_payload(&base, "h1", &json!({"c": 3}), 1000).await.unwrap());
    assert!(!s.update_jwt_payload(&base, "nope", &json!({}), 1000).await.unwrap());

    // atomic update: decider sees the current row; patch applied
    let before = s
        .update_session_atomically(&base, "h1", &|row: &SessionRow| {
            assert_eq!(row.session_data, json!({"b": 2}));
            Some(SessionPatch {
                refresh_token_hash_2: Some("new".into()),
                expires_at: None,
                use_static_key: Some(true),
                ..Default::default()
            })
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(before.refresh_token_hash_2, "rth");
    assert_eq!(before.jwt_user_payload, json!({"c": 3}));
    let now = s.get_session(&base, "h1").await.unwrap().unwrap();
    assert_eq!((now.refresh_token_hash_2.as_str(), now.expires_at, now.use_static_key), ("new", 10_000, true));
    assert!(s.update_session_atomically(&base, "nope", &|_| None).await.unwrap().is_none());

    // concurrent atomic updates serialise: each sees the previous one's write
    let shared = Arc::new(s.clone());
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let st = shared.clone();
        let base = base.clone();
        tasks.push(tokio::spawn(async move {
            st.update_session_atomically(&base, "h4", &|row: &SessionRow| {
                Some(SessionPatch { expires_at: Some(row.expires_at + 1), ..Default::default() })
            })
            .await
            .unwrap()
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(s.get_session(&base, "h4").await.unwrap().unwrap().expires_at, 10_008);

    s.touch_user_last_active(&app, "u1", 5).await.unwrap();
    s.touch_user_last_active(&app, "u1", 6).await.unwrap();
    assert!(matches!(
        s.touch_user_last_active(&AppId::parse("ghost").unwrap(), "u1", 6).await,
        Err(StorageError::TenantOrAppNotFound)
    ));

    assert_eq!(s.delete_expired_sessions(1000).await.unwrap(), 1);
    let deleted = s
        .delete_sessions(&app, &[(base.clone(), "h1".into()), (base.clone(), "zz".into()), (t2.clone(), "h2".into())])
        .await
        .unwrap();
    assert_eq!(deleted, vec!["h1".to_string(), "h2".to_string()]);
    assert!(s.delete_sessions(&app, &[]).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_key_and_job_leases() {
    let Some(db) = fresh_db("static_key_and_job_leases").await else {
        return;
    };
    let cfg = uri_config(&db, json!({}));
    let a = PgStorage::connect(&cfg).await.unwrap();
    let b = PgStorage::connect(&cfg).await.unwrap();
    let app = AppId::public();
    assert_eq!(a.static_key_get_or_insert(&app, None).await.unwrap(), None);
    let k1 = StoredKey { kid: "s-1".into(), value: "one".into(), created_at: 1 };
    let k2 = StoredKey { kid: "s-2".into(), value: "two".into(), created_at: 2 };
    let (r1, r2) =
        tokio::join!(a.static_key_get_or_insert(&app, Some(&k1)), b.static_key_get_or_insert(&app, Some(&k2)));
    let (r1, r2) = (r1.unwrap().unwrap(), r2.unwrap().unwrap());
    assert_eq!(r1, r2);
    assert_eq!(a.static_key_get_or_insert(&app, None).await.unwrap(), Some(r1));

    let lease = a.try_lock_job("cleanup").await.unwrap();
    assert!(lease.is_some());
    assert!(b.try_lock_job("cleanup").await.unwrap().is_none());
    assert!(a.try_lock_job("cleanup").await.unwrap().is_none(), "exclusive within one instance too");
    assert!(b.try_lock_job("other").await.unwrap().is_some());
    drop(lease);
    let mut again = None;
    for _ in 0..50 {
        again = b.try_lock_job("cleanup").await.unwrap();
        if again.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(again.is_some(), "lease released on drop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deprecated_table_name_override_and_pool_limits() {
    let Some(db) = fresh_db("deprecated_table_name_override_and_pool_limits").await else {
        return;
    };
    let cfg = uri_config(
        &db,
        json!({
            "postgresql_table_names_prefix": "pre",
            "postgresql_session_info_table_name": "my_sessions",
            "postgresql_connection_pool_size": 4,
            "postgresql_minimum_idle_connections": 2,
        }),
    );
    let s = PgStorage::connect(&cfg).await.unwrap();
    assert_eq!(s.pool_status().size, 2);
    let client = raw(&db).await;
    let present = tables_in(&client, "public").await;
    assert!(present.contains("my_sessions") && present.contains("pre_apps") && !present.contains("pre_session_info"));
    let fk: i64 = client
        .query_one("SELECT count(*) FROM pg_constraint WHERE conname = 'my_sessions_tenant_id_fkey'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(fk, 1);
    s.create_session(&session(&TenantIdentifier::base(), "h", "u", 10)).await.unwrap();
    let n: i64 = client.query_one("SELECT count(*) FROM my_sessions", &[]).await.unwrap().get(0);
    assert_eq!(n, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_modes_and_connection_errors() {
    let Some(db) = fresh_db("tls_modes_and_connection_errors").await else {
        return;
    };
    let ssl_on = raw(&db).await.query_one("SHOW ssl", &[]).await.unwrap().get::<_, String>(0) == "on";
    let with = |params: &str| {
        pg_config(json!({
            "postgresql_connection_uri": format!("{}?{params}", db.url),
            "postgresql_connection_pool_size": 1,
        }))
    };
    // prefer works either way (TLS without certificate checks, or plain).
    PgStorage::connect(&with("sslmode=prefer")).await.unwrap().health_check().await.unwrap();
    PgStorage::connect(&with("sslmode=disable")).await.unwrap().health_check().await.unwrap();
    let required = PgStorage::connect(&with("sslmode=require")).await;
    if ssl_on {
        // require encrypts without verifying the (here private-CA) certificate, like libpq.
        required.unwrap().health_check().await.unwrap();
        // verify-full against the public roots must refuse a private-CA certificate.
        let err = PgStorage::connect(&with("sslmode=verify-full")).await.unwrap_err();
        assert!(matches!(err, StorageError::Unavailable(_)), "{err}");
        if let Ok(root) = std::env::var("ST_TEST_POSTGRES_SSLROOTCERT") {
            let verified = with(&format!("sslmode=verify-full&sslrootcert={root}"));
            PgStorage::connect(&verified).await.unwrap().health_check().await.unwrap();
            let chain_only = with(&format!("sslmode=verify-ca&sslrootcert={root}"));
            PgStorage::connect(&chain_only).await.unwrap().health_check().await.unwrap();
        }
    } else {
        let err = required.unwrap_err();
        assert!(matches!(err, StorageError::Unavailable(_)), "{err}");
        assert!(err.to_string().contains("TLS"), "{err}");
    }
    let mut cfg =
        pg_config(json!({ "postgresql_connection_uri": "postgresql://postgres@127.0.0.1:1/x?connect_timeout=2" }));
    cfg.connect_wait = std::time::Duration::ZERO; // a refused connection: no waiting for it here
    let err = PgStorage::connect(&cfg).await.unwrap_err();
    assert!(matches!(err, StorageError::Unavailable(_)), "{err}");
    assert!(err.to_string().contains("127.0.0.1:1"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_above_the_minimum_are_closed() {
    let Some(db) = fresh_db("idle_connections_above_the_minimum_are_closed").await else { return };
    let cfg = uri_config(
        &db,
        json!({
            "postgresql_connection_pool_size": 4,
            "postgresql_minimum_idle_connections": 1,
            "postgresql_idle_connection_timeout": 1000,
        }),
    );
    let s = Arc::new(PgStorage::connect(&cfg).await.unwrap());
    assert_eq!(s.pool_status().size, 1);
    // A burst that needs several connections at once.
    let mut tasks = Vec::new();
    for i in 0..40 {
        let st = s.clone();
        tasks.push(tokio::spawn(async move {
            st.set_key_value(&TenantIdentifier::base(), &format!("k{i}"), "v", 1).await.unwrap();
            st.list_tenants().await.unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let grown = s.pool_status().size;
    println!("pool grew to {grown}");
    assert!((1..=4).contains(&grown), "{grown}");
    // idle timeout 1 s, keeper tick 1 s: back to the minimum within a few seconds
    let mut size = grown;
    for _ in 0..40 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        size = s.pool_status().size;
        if size == 1 {
            break;
        }
    }
    assert_eq!(size, 1, "grew to {grown}, did not shrink");
    s.health_check().await.unwrap();
    s.close();
    assert!(matches!(s.health_check().await, Err(StorageError::Unavailable(_))));
}

/// The hot-path statements look users and sessions up through an index. A `TEXT` comparison
/// with a `CHAR(36)` key (the bug that made every session lookup scan the app's users) leaves
/// PostgreSQL no index to use: with 20,000 users and sessions it then plans a sequential scan.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_statements_use_indexes() {
    let Some(db) = fresh_db("hot_statements_use_indexes").await else {
        return;
    };
    let storage = PgStorage::connect(&uri_config(&db, json!({}))).await.unwrap();
    let client = raw(&db).await;
    client
        .batch_execute(
            "INSERT INTO app_id_to_user_id (app_id, user_id, recipe_id, primary_or_recipe_user_id, time_joined, \
               primary_or_recipe_user_time_joined) \
             SELECT 'public', u, 'emailpassword', u, i, i FROM generate_series(1, 20000) i, \
               LATERAL (SELECT lpad(to_hex(i), 8, '0') || '-0000-4000-8000-' || lpad(to_hex(i), 12, '0') AS u) x;
             INSERT INTO all_auth_recipe_users (app_id, tenant_id, user_id, primary_or_recipe_user_id, recipe_id, \
               time_joined, primary_or_recipe_user_time_joined) \
             SELECT 'public', 'public', user_id, user_id, recipe_id, time_joined, time_joined FROM app_id_to_user_id;
             INSERT INTO session_info (app_id, tenant_id, session_handle, user_id, refresh_token_hash_2, \
               session_data, expires_at, created_at_time, jwt_user_payload, use_static_key) \
             SELECT 'public', 'public', 'h' || i, 'u' || i, 'x', '{}', 1, 1, '{}', false \
               FROM generate_series(1, 20000) i;
             INSERT INTO userid_mapping (app_id, supertokens_user_id, external_user_id) \
             SELECT 'public', user_id, 'e' || time_joined FROM app_id_to_user_id;
             INSERT INTO emailverification_verified_emails (app_id, user_id, email) \
             SELECT 'public', 'e' || i, 'u' || i || '@example.com' FROM generate_series(1, 20000) i;
             ANALYZE;",
        )
        .await
        .unwrap();
    let statements = storage.hot_statements();
    assert_eq!(statements.len(), 7);
    let tables = [
        "app_id_to_user_id",
        "all_auth_recipe_users",
        "session_info",
        "userid_mapping",
        "emailverification_verified_emails",
    ];
    // The plan for the sample values, then the generic plan a cached statement may switch to.
    for mode in ["force_custom_plan", "force_generic_plan"] {
        client.batch_execute(&format!("DEALLOCATE ALL; SET plan_cache_mode = {mode}")).await.unwrap();
        for (i, (name, sql, args)) in statements.iter().enumerate() {
            client.batch_execute(&format!("PREPARE hot{i} AS {sql}")).await.unwrap();
            let rows = client.query(&format!("EXPLAIN EXECUTE hot{i}({})", args.join(", ")), &[]).await.unwrap();
            let plan: Vec<String> = rows.iter().map(|r| r.get::<_, String>(0)).collect();
            for table in tables {
                assert!(
                    !plan.iter().any(|line| line.contains(&format!("Seq Scan on {table}"))),
                    "{name} ({mode}): sequential scan of {table}:\n{}",
                    plan.join("\n")
                );
            }
        }
    }
    storage.close();
}

/// A database created by a Java core 11.x (plugin 9.4: `app_id_to_user_id` without its two time
/// columns, no migration history of ours) is upgraded at start-up, the columns added with 0 (a
/// Java 12 core's marker for its own backfill, which we also write); a login method's time
/// comes from its recipe table.
#[tokio::test]
async fn plugin_9_4_database_is_upgraded() {
    let Some(db) = fresh_db("plugin_9_4_database_is_upgraded").await else { return };
    let base = TenantIdentifier::base();
    {
        let s = PgStorage::connect(&uri_config(&db, json!({}))).await.unwrap();
        assert_eq!(
            s.sign_up_with_password(&base, &uid(1), "old@x.com", "h1", 1234).await.unwrap(),
            SignUpResult::Created
        );
    }
    let client = raw(&db).await;
    client
        .batch_execute(
            "ALTER TABLE app_id_to_user_id DROP COLUMN time_joined, DROP COLUMN primary_or_recipe_user_time_joined;
             DROP TABLE refinery_schema_history;",
        )
        .await
        .unwrap();
    let s = PgStorage::connect(&uri_config(&db, json!({}))).await.expect("starts on a plugin 9.4 database");
    // The two app_id_to_user_id time columns of user n.
    let a2u_times = |n: u32| {
        let client = &client;
        async move {
            let sql =
                "SELECT time_joined, primary_or_recipe_user_time_joined FROM app_id_to_user_id WHERE user_id = $1";
            let row = client.query_one(sql, &[&uid(n)]).await.unwrap();
            (row.get::<_, i64>(0), row.get::<_, i64>(1))
        }
    };
    assert_eq!(a2u_times(1).await, (0, 0), "left for a Java 12 core's backfill");
    // A second start finds the columns and leaves them.
    drop(PgStorage::connect(&uri_config(&db, json!({}))).await.unwrap());
    let user = s.get_auth_user(&AppId::public(), &uid(1)).await.unwrap().unwrap();
    assert_eq!(user.login_methods[0].time_joined, 1234, "read from the recipe table");
    // Our own sign-ups leave the marker too.
    assert_eq!(s.sign_up_with_password(&base, &uid(2), "new@x.com", "h2", 5678).await.unwrap(), SignUpResult::Created);
    assert_eq!(a2u_times(2).await, (0, 0));
    let user = s.get_auth_user(&AppId::public(), &uid(2)).await.unwrap().unwrap();
    assert_eq!(user.login_methods[0].time_joined, 5678);
}

/// How many migrations the repository has (`migrations/V<n>__*.sql`): every one is applied.
fn migrations_in_repo() -> i64 {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations");
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name().to_string_lossy().into_owned();
            name.starts_with('V') && name.contains("__") && name.ends_with(".sql")
        })
        .count() as i64
}
