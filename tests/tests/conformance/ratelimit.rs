//! [`RateLimitStorage`]: the request rate-limit counters (ours, issue 25): additions within a
//! window sum, concurrent additions are all counted, a later window restarts the counter, an
//! earlier one leaves it, app and tenant counters are apart, unknown apps are refused, the app
//! cascade.

use crate::helpers::*;
use st_core::ids::AppId;
use st_core::storage::*;
use std::sync::Arc;

async fn counters(st: &Arc<dyn Storage>) {
    let public = AppId::public();
    let add = |scope: RateScope<'static>, w: i64, n: i64| {
        let st = st.clone();
        async move { st.add_request_count(&AppId::public(), scope, w, n).await.unwrap() }
    };
    assert_eq!(add(RateScope::App, 1_000, 3).await, RateCount { window_start_ms: 1_000, count: 3 });
    assert_eq!(add(RateScope::App, 1_000, 2).await, RateCount { window_start_ms: 1_000, count: 5 });
    // Tenants' counters are apart from the app's and from each other's.
    assert_eq!(add(RateScope::Tenant("public"), 1_000, 1).await.count, 1);
    assert_eq!(add(RateScope::Tenant("t2"), 1_000, 4).await.count, 4);
    assert_eq!(add(RateScope::Tenant("public"), 1_000, 1).await.count, 2);
    // A later window restarts the counter; an earlier one (a clock behind) leaves it.
    assert_eq!(add(RateScope::App, 2_000, 1).await, RateCount { window_start_ms: 2_000, count: 1 });
    assert_eq!(add(RateScope::App, 1_000, 7).await, RateCount { window_start_ms: 2_000, count: 1 });
    // Concurrent additions are each counted once.
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let st = st.clone();
        tasks.push(tokio::spawn(async move {
            st.add_request_count(&AppId::public(), RateScope::App, 2_000, 2).await.unwrap()
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(add(RateScope::App, 2_000, 0).await.count, 17);
    // An unknown app is refused.
    let ghost = AppId::parse("ghost").unwrap();
    assert!(is_not_found(&st.add_request_count(&ghost, RateScope::App, 1_000, 1).await));
    // Another app's counters are its own, and go with it.
    add_app(st.as_ref(), "a2").await;
    let a2 = AppId::parse("a2").unwrap();
    assert_eq!(st.add_request_count(&a2, RateScope::App, 2_000, 5).await.unwrap().count, 5);
    assert_eq!(st.add_request_count(&public, RateScope::App, 2_000, 0).await.unwrap().count, 17);
    assert!(st.delete_app(&a2).await.unwrap());
    add_app(st.as_ref(), "a2").await;
    assert_eq!(st.add_request_count(&a2, RateScope::App, 2_000, 1).await.unwrap().count, 1);
}

conformance! {
    counters,
}
