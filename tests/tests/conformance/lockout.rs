//! [`LockoutStorage`]: the sign-in failure counters (ours, issue 25): the decision runs on the
//! current row, concurrent failures are all counted, reads, clears, expiry, tenant cascade.

use crate::helpers::*;
use st_core::ids::TenantIdentifier;
use st_core::lockout::LockoutPolicy;
use st_core::storage::*;
use std::sync::Arc;

const P: LockoutPolicy = LockoutPolicy { max_failures: 3, window_ms: 1_000, duration_ms: 5_000 };

async fn counters(st: &Arc<dyn Storage>) {
    add_tenant(st.as_ref(), "public", "t2").await;
    let base = TenantIdentifier::base();
    let t2 = tid("public", "t2");
    let fail = |now: i64| move |r: Option<LockoutRow>| P.after_failure(r, now);
    assert_eq!(st.signin_lockout(&base, "a@x.com").await.unwrap(), None);
    let r = st.record_signin_failure(&base, "a@x.com", &fail(100)).await.unwrap();
    assert_eq!(r, LockoutRow { failures: 1, window_end_ms: 1_100, locked_until_ms: 0 });
    assert_eq!(st.signin_lockout(&base, "a@x.com").await.unwrap(), Some(r));
    // Per tenant and e-mail.
    assert_eq!(st.signin_lockout(&t2, "a@x.com").await.unwrap(), None);
    assert_eq!(st.signin_lockout(&base, "b@x.com").await.unwrap(), None);
    st.record_signin_failure(&base, "a@x.com", &fail(200)).await.unwrap();
    let r = st.record_signin_failure(&base, "a@x.com", &fail(300)).await.unwrap();
    assert_eq!(r, LockoutRow { failures: 3, window_end_ms: 1_100, locked_until_ms: 5_300 });
    // Clear.
    assert!(st.clear_signin_lockout(&base, "a@x.com").await.unwrap());
    assert!(!st.clear_signin_lockout(&base, "a@x.com").await.unwrap());
    assert_eq!(st.signin_lockout(&base, "a@x.com").await.unwrap(), None);
    // Concurrent failures are each counted once.
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let st = st.clone();
        tasks.push(tokio::spawn(async move {
            let big = LockoutPolicy { max_failures: 100, ..P };
            let f = move |r: Option<LockoutRow>| big.after_failure(r, 500);
            st.record_signin_failure(&TenantIdentifier::base(), "race@x.com", &f).await.unwrap()
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(st.signin_lockout(&base, "race@x.com").await.unwrap().unwrap().failures, 8);
    // Expiry: the race row's window ends at 1 500.
    st.record_signin_failure(&t2, "c@x.com", &fail(10_000)).await.unwrap();
    assert_eq!(st.delete_expired_signin_lockouts(1_499).await.unwrap(), 0);
    assert_eq!(st.delete_expired_signin_lockouts(1_500).await.unwrap(), 1);
    assert_eq!(st.signin_lockout(&base, "race@x.com").await.unwrap(), None);
    // Removing the tenant removes its counters.
    assert!(st.signin_lockout(&t2, "c@x.com").await.unwrap().is_some());
    st.delete_tenant(&t2).await.unwrap();
    add_tenant(st.as_ref(), "public", "t2").await;
    assert_eq!(st.signin_lockout(&t2, "c@x.com").await.unwrap(), None);
}

conformance! {
    counters,
}
