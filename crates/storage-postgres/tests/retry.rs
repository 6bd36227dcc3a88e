//! A transaction PostgreSQL rolls back for a conflict with a concurrent one (a real deadlock,
//! SQLSTATE 40P01) is run again from its start and succeeds; any other error is returned at
//! once (`st_storage_postgres::retry`). Set `ST_TEST_POSTGRES_URL` to run them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use st_core::ids::{AppId, TenantIdentifier};
use st_core::random::Random;
use st_core::storage::{
    CreateTotpDeviceResult, SResult, TotpDevice, TotpJudgement, TotpRecordResult, TotpStorage, TotpUsedCode,
};
use st_core::StorageError;
use st_storage_postgres::retry::{self, RetryPolicy};
use st_storage_postgres::PgStorage;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use tokio_postgres::Client;

mod common;

use common::*;

/// The jitter's bytes, fixed.
struct Fixed;

impl Random for Fixed {
    fn fill(&self, buf: &mut [u8]) {
        buf.fill(7);
    }
}

/// Run `statements` in one transaction on `client` (rolled back on an error, as dropping a
/// pooled transaction does), the errors mapped as the storage maps them.
async fn transaction(client: &Client, statements: &[&str]) -> SResult<()> {
    let run = async {
        client.batch_execute("BEGIN").await?;
        for s in statements {
            client.batch_execute(s).await?;
        }
        client.batch_execute("COMMIT").await
    };
    match run.await {
        Ok(()) => Ok(()),
        Err(e) => {
            client.batch_execute("ROLLBACK").await.unwrap();
            Err(retry::storage_error(e))
        }
    }
}

/// Two transactions lock two rows in opposite orders: PostgreSQL aborts one of them with a
/// deadlock; the retry loop runs it again once the other committed, and both apply once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opposite_lock_orders_deadlock_and_the_victim_is_run_again() {
    let Some(db) = fresh_db("opposite_lock_orders_deadlock_and_the_victim_is_run_again").await else { return };
    let setup = raw(&db).await;
    setup
        .batch_execute("CREATE TABLE pair (id INT PRIMARY KEY, n INT NOT NULL); INSERT INTO pair VALUES (1, 0), (2, 0)")
        .await
        .unwrap();
    let (one, two) = (raw(&db).await, raw(&db).await);
    // Both hold their first row before either asks for its second (first tries only).
    let barrier = tokio::sync::Barrier::new(2);
    let policy = RetryPolicy::DEFAULT;
    let tries = [AtomicU32::new(0), AtomicU32::new(0)];
    let run = |client: &'static str, first: i32, second: i32, me: usize| {
        let (c, barrier, tries) = (if client == "one" { &one } else { &two }, &barrier, &tries);
        retry::run(&policy, &Fixed, move || async move {
            let attempt = tries[me].fetch_add(1, Ordering::SeqCst) + 1;
            c.batch_execute("BEGIN").await.map_err(retry::storage_error)?;
            c.batch_execute(&format!("UPDATE pair SET n = n + 1 WHERE id = {first}"))
                .await
                .map_err(retry::storage_error)?;
            if attempt == 1 {
                barrier.wait().await;
            }
            let second = c.batch_execute(&format!("UPDATE pair SET n = n + 1 WHERE id = {second}")).await;
            let done = match second {
                Ok(()) => c.batch_execute("COMMIT").await,
                Err(e) => Err(e),
            };
            if let Err(e) = done {
                c.batch_execute("ROLLBACK").await.unwrap();
                return Err(retry::storage_error(e));
            }
            Ok(attempt)
        })
    };
    let (a, b) = tokio::join!(run("one", 1, 2, 0), run("two", 2, 1, 1));
    let (a, b) = (a.unwrap(), b.unwrap());
    let mut attempts = [a, b];
    attempts.sort_unstable();
    assert_eq!(attempts, [1, 2], "the deadlock's victim succeeded on its second try");
    let total: u32 = tries.iter().map(|t| t.load(Ordering::SeqCst)).sum();
    assert_eq!(total, 3);
    let rows = setup.query("SELECT n FROM pair ORDER BY id", &[]).await.unwrap();
    let n: Vec<i32> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(n, vec![2, 2], "each transaction applied once");
}

/// The same deadlock without the retry loop is the error the loop retries, and errors that are
/// not rollbacks (a duplicate key, a division by zero) are returned after one try.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_errors_are_not_run_again() {
    let Some(db) = fresh_db("other_errors_are_not_run_again").await else { return };
    let c = raw(&db).await;
    c.batch_execute("CREATE TABLE one (id INT PRIMARY KEY); INSERT INTO one VALUES (1)").await.unwrap();
    let policy = RetryPolicy { attempts: 5, base: Duration::from_millis(1), cap: Duration::from_millis(1) };
    for (statement, state) in [("INSERT INTO one VALUES (1)", "23505"), ("SELECT 1 / 0", "22012")] {
        let tries = AtomicU32::new(0);
        let r = retry::run(&policy, &Fixed, || async {
            tries.fetch_add(1, Ordering::SeqCst);
            transaction(&c, &[statement]).await
        })
        .await;
        match r {
            Err(StorageError::Query(m)) => assert!(m.starts_with(state), "{m}"),
            other => panic!("{statement}: {other:?}"),
        }
        assert!(!retry::is_retryable(&StorageError::Query(format!("{state}: x"))));
        assert_eq!(tries.load(Ordering::SeqCst), 1, "{statement} is tried once");
    }
    assert!(retry::is_retryable(&StorageError::Query("40P01: deadlock detected".into())));
    assert!(retry::is_retryable(&StorageError::Query("40001: could not serialize access".into())));
}

/// A storage intent (the judgement of a TOTP code: the user's row, then its used codes) is
/// chosen as a deadlock's victim by another writer that locks the same rows in the other order
/// (as a Java core or a hand-written script might); the storage judges the code again once the
/// other committed, and records it once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadlocked_intent_is_run_again_by_the_storage() {
    let Some(db) = fresh_db("a_deadlocked_intent_is_run_again_by_the_storage").await else { return };
    let s = PgStorage::connect(&uri_config(&db, serde_json::json!({}))).await.unwrap();
    let (app, tenant) = (AppId::public(), TenantIdentifier::base());
    let device = TotpDevice {
        name: "d".into(),
        secret_key: "JBSWY3DPEHPK3PXP".into(),
        period: 30,
        skew: 1,
        verified: true,
        created_at: 1,
    };
    assert_eq!(s.create_totp_device(&app, "u", &device).await.unwrap(), CreateTotpDeviceResult::Created);
    let code =
        |at: i64| TotpUsedCode { code: "111111".into(), is_valid: false, expiry_time_ms: at, created_time_ms: at };
    let first =
        move |_: &[TotpDevice], _: &[TotpUsedCode]| TotpJudgement { record: Some(code(10)), verify_device: None };
    assert_eq!(s.judge_totp_code(&tenant, "u", &first).await.unwrap(), TotpRecordResult::Recorded);

    // The other writer holds the user's used codes...
    let other = raw(&db).await;
    other.batch_execute("BEGIN; SELECT 1 FROM totp_used_codes WHERE user_id = 'u' FOR UPDATE").await.unwrap();
    let judged = AtomicU32::new(0);
    let judge = |_: &[TotpDevice], used: &[TotpUsedCode]| {
        judged.fetch_add(1, Ordering::SeqCst);
        assert_eq!(used.len(), 1, "the codes as committed");
        TotpJudgement { record: Some(code(20)), verify_device: None }
    };
    let intent = s.judge_totp_code(&tenant, "u", &judge);
    let watch = raw(&db).await;
    let (result, ()) = tokio::join!(intent, async {
        // ... the intent locks the user's row and waits for them ...
        let waiting =
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'";
        loop {
            if watch.query_one(waiting, &[]).await.unwrap().get::<_, i64>(0) == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // ... and the writer asks for the user's row: a deadlock, which the intent (waiting
        // first, so the first to look for one) loses; its rollback lets the writer through.
        other.batch_execute("SELECT 1 FROM totp_users WHERE user_id = 'u' FOR UPDATE").await.unwrap();
        other.batch_execute("COMMIT").await.unwrap();
    });
    assert_eq!(result.unwrap(), TotpRecordResult::Recorded);
    // The writer got the user's row while the intent had locked it, so the intent's first
    // transaction was rolled back; it never reached the judge (it failed reading the codes),
    // so the judgement and the answer are its second try's.
    assert_eq!(judged.load(Ordering::SeqCst), 1);
    let rows = watch.query("SELECT created_time_ms FROM totp_used_codes ORDER BY 1", &[]).await.unwrap();
    let at: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(at, vec![10, 20], "recorded once");
}
