//! Brute-force protection (issue 25, our addition, off by default): the per-(tenant, e-mail)
//! sign-in lockout and its API (`/recipe/emailpassword/lockout`, `…/lockout/reset`).

use crate::helpers::*;
use serde_json::{json, Value};
use st_core::jobs::run_once;
use st_core::stats::JobStats;

fn locking(n: i64) -> Value {
    let mut c = cheap_hashing();
    c["signin_lockout_max_failures"] = json!(n);
    c["signin_lockout_window_seconds"] = json!(60);
    c["signin_lockout_duration_seconds"] = json!(300);
    c
}

async fn sign_in(s: &TestServer, tenant: &str, email: &str, password: &str) -> String {
    let r = s.post(&format!("/{tenant}/recipe/signin"), json!({"email": email, "password": password})).await;
    r["status"].as_str().unwrap().to_string()
}

async fn lockout(s: &TestServer, tenant: &str, email: &str) -> Value {
    s.get(&format!("/{tenant}/recipe/emailpassword/lockout?email={email}")).await
}

async fn lockout_after_n_failures(b: Backend) {
    let Some(s) = TestServer::spawn(b, locking(3)).await else { return };
    sign_up(&s, "a@example.com", "right").await;
    // Two failures, then a success resets the count.
    for _ in 0..2 {
        assert_eq!(sign_in(&s, "public", "a@example.com", "wrong").await, "WRONG_CREDENTIALS_ERROR");
    }
    assert_eq!(
        lockout(&s, "public", "a@example.com").await,
        json!({"status": "OK", "failedAttempts": 2, "locked": false, "lockedUntil": null})
    );
    assert_eq!(sign_in(&s, "public", "a@example.com", "right").await, "OK");
    assert_eq!(lockout(&s, "public", "a@example.com").await["failedAttempts"], 0);
    // Three failures lock, even the right password is refused (e-mail normalised).
    for _ in 0..3 {
        assert_eq!(sign_in(&s, "public", "A@Example.com", "wrong").await, "WRONG_CREDENTIALS_ERROR");
    }
    let st = lockout(&s, "public", "a@example.com").await;
    assert_eq!(st["locked"], true);
    assert_eq!(st["lockedUntil"], START_MS + 300_000);
    assert_eq!(sign_in(&s, "public", "a@example.com", "right").await, "WRONG_CREDENTIALS_ERROR");
    // Failures in the window that fell out of it do not count: a new window.
    s.clock.advance_ms(299_999);
    assert_eq!(sign_in(&s, "public", "a@example.com", "right").await, "WRONG_CREDENTIALS_ERROR");
    s.clock.advance_ms(1);
    assert_eq!(sign_in(&s, "public", "a@example.com", "right").await, "OK");
    assert_eq!(lockout(&s, "public", "a@example.com").await["locked"], false);
    // Failures spread over more than the window do not lock.
    for _ in 0..2 {
        sign_in(&s, "public", "a@example.com", "wrong").await;
    }
    s.clock.advance_ms(60_000);
    sign_in(&s, "public", "a@example.com", "wrong").await;
    assert_eq!(lockout(&s, "public", "a@example.com").await["failedAttempts"], 1);
    assert_eq!(sign_in(&s, "public", "a@example.com", "right").await, "OK");
    // An unknown e-mail is counted and locked the same way (nothing tells them apart).
    for _ in 0..3 {
        assert_eq!(sign_in(&s, "public", "ghost@example.com", "x").await, "WRONG_CREDENTIALS_ERROR");
    }
    assert_eq!(lockout(&s, "public", "ghost@example.com").await["locked"], true);
    // The cron job's intent keeps live rows and drops expired ones.
    let job = st_core::lockout::DELETE_EXPIRED_LOCKOUTS;
    let stats = JobStats::default();
    run_once(&s.core, &job, &stats).await;
    assert_eq!(lockout(&s, "public", "ghost@example.com").await["locked"], true, "a live lock stays");
    s.clock.advance_ms(300_000);
    run_once(&s.core, &job, &stats).await;
    assert_eq!(stats.failures.load(std::sync::atomic::Ordering::Relaxed), 0);
    assert_eq!(lockout(&s, "public", "ghost@example.com").await["failedAttempts"], 0);
    s.stop().await;
}

async fn reset_through_the_api(b: Backend) {
    let Some(s) = TestServer::spawn(b, locking(2)).await else { return };
    sign_up(&s, "b@example.com", "right").await;
    for _ in 0..2 {
        sign_in(&s, "public", "b@example.com", "wrong").await;
    }
    assert_eq!(sign_in(&s, "public", "b@example.com", "right").await, "WRONG_CREDENTIALS_ERROR");
    let r = s.post("/public/recipe/emailpassword/lockout/reset", json!({"email": "B@example.com"})).await;
    assert_eq!(r, json!({"status": "OK", "didExist": true}));
    let r = s.post("/public/recipe/emailpassword/lockout/reset", json!({"email": "b@example.com"})).await;
    assert_eq!(r, json!({"status": "OK", "didExist": false}));
    assert_eq!(sign_in(&s, "public", "b@example.com", "right").await, "OK");
    // Bad input: 400 naming the field.
    assert_eq!(s.status_and_text("GET", "/public/recipe/emailpassword/lockout", None).await.0, 400);
    let (st, text) = s.status_and_text("POST", "/public/recipe/emailpassword/lockout/reset", Some(json!({}))).await;
    assert_eq!(st, 400, "{text}");
    assert!(text.contains("email"), "{text}");
    // Unknown tenant.
    let (st, _) = s.status_and_text("GET", "/nope/recipe/emailpassword/lockout?email=b@example.com", None).await;
    assert_ne!(st, 200);
    s.stop().await;
}

async fn off_by_default(b: Backend) {
    let Some(s) = TestServer::spawn(b, cheap_hashing()).await else { return };
    sign_up(&s, "c@example.com", "right").await;
    for _ in 0..20 {
        assert_eq!(sign_in(&s, "public", "c@example.com", "wrong").await, "WRONG_CREDENTIALS_ERROR");
    }
    assert_eq!(sign_in(&s, "public", "c@example.com", "right").await, "OK");
    // Nothing was counted.
    assert_eq!(lockout(&s, "public", "c@example.com").await["failedAttempts"], 0);
    s.stop().await;
}

async fn per_tenant_override(b: Backend) {
    let Some(s) = TestServer::spawn(b, cheap_hashing()).await else { return };
    let r = s
        .put(
            "/recipe/multitenancy/tenant/v2",
            json!({"tenantId": "t1", "coreConfig": {"signin_lockout_max_failures": 2}}),
        )
        .await;
    assert_eq!(r["status"], "OK", "{r}");
    s.post("/t1/recipe/signup", json!({"email": "d@example.com", "password": "right"})).await;
    sign_up(&s, "d@example.com", "right").await;
    for _ in 0..2 {
        sign_in(&s, "t1", "d@example.com", "wrong").await;
        sign_in(&s, "public", "d@example.com", "wrong").await;
    }
    // Locked on t1 only.
    assert_eq!(sign_in(&s, "t1", "d@example.com", "right").await, "WRONG_CREDENTIALS_ERROR");
    assert_eq!(sign_in(&s, "public", "d@example.com", "right").await, "OK");
    assert_eq!(lockout(&s, "t1", "d@example.com").await["locked"], true);
    // An out-of-range value is refused.
    let (st, text) = s
        .status_and_text(
            "PUT",
            "/recipe/multitenancy/tenant/v2",
            Some(json!({"tenantId": "t2", "coreConfig": {"signin_lockout_window_seconds": 0}})),
        )
        .await;
    assert!(st == 400 || text.contains("INVALID"), "{st} {text}");
    s.stop().await;
}

/// Two instances on one database share each e-mail's count.
async fn shared_by_two_instances(b: Backend) {
    let Some(s1) = TestServer::spawn(b, locking(4)).await else { return };
    let s2 = if b == Backend::Postgres {
        TestServer::spawn_on(b, locking(4), s1.db_url.clone()).await.unwrap()
    } else {
        s1.stop().await;
        return;
    };
    sign_up(&s1, "e@example.com", "right").await;
    // Concurrent failures through both are all counted.
    let a = async {
        sign_in(&s1, "public", "e@example.com", "wrong").await;
        sign_in(&s1, "public", "e@example.com", "wrong").await;
    };
    let c = async {
        sign_in(&s2, "public", "e@example.com", "wrong").await;
        sign_in(&s2, "public", "e@example.com", "wrong").await;
    };
    tokio::join!(a, c);
    assert_eq!(lockout(&s2, "public", "e@example.com").await["locked"], true);
    assert_eq!(sign_in(&s1, "public", "e@example.com", "right").await, "WRONG_CREDENTIALS_ERROR");
    assert_eq!(sign_in(&s2, "public", "e@example.com", "right").await, "WRONG_CREDENTIALS_ERROR");
    s1.post("/public/recipe/emailpassword/lockout/reset", json!({"email": "e@example.com"})).await;
    assert_eq!(sign_in(&s2, "public", "e@example.com", "right").await, "OK");
    s2.stop().await;
    s1.stop().await;
}

st_tests::both_backends! {
    lockout_after_n_failures => lockout_after_n_failures;
    reset_through_the_api => reset_through_the_api;
    off_by_default => off_by_default;
    per_tenant_override => per_tenant_override;
    shared_by_two_instances => shared_by_two_instances;
}
