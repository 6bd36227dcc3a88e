//! [`ActiveUsersStorage`]: last-active times, upserted under concurrency, counted per app.

use crate::helpers::*;
use st_core::ids::AppId;
use st_core::storage::*;

/// Many activity upserts at once (on PostgreSQL they share statements, so one batch can
/// hold several touches of one user): every user is recorded once, at its time, in its app.
async fn last_active_concurrent_touches(st: &dyn Storage) {
    let (a, other) = (AppId::public(), app("touch-app"));
    add_app(st, "touch-app").await;
    // 48 touches: users t0..t7 of the public app at 1_000 + 100·k (six times each), and
    // t0..t3 again in the other app at 9_000.
    let mut touches: Vec<(AppId, String, i64)> = Vec::new();
    for round in 0..6 {
        for k in 0..8 {
            let (app_id, at) = if round == 5 && k < 4 { (other.clone(), 9_000) } else { (a.clone(), 1_000 + 100 * k) };
            touches.push((app_id, format!("t{k}"), at));
        }
    }
    let results =
        join_all(touches.iter().map(|(app_id, u, at)| st.touch_user_last_active(app_id, u, *at)).collect()).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(st.count_active_users(&a, 0).await.unwrap(), 8);
    assert_eq!(st.count_active_users(&a, 1_400).await.unwrap(), 4, "t4..t7");
    assert_eq!(st.count_active_users(&a, 1_701).await.unwrap(), 0);
    assert_eq!(st.count_active_users(&other, 0).await.unwrap(), 4);
    assert_eq!(st.count_active_users(&other, 9_000).await.unwrap(), 4);
    // A later touch moves a user's time forward, an earlier one moves it back (as the
    // reference, which stores the time of the last write).
    st.touch_user_last_active(&a, "t0", 5_000).await.unwrap();
    assert_eq!(st.count_active_users(&a, 5_000).await.unwrap(), 1);
    st.touch_user_last_active(&a, "t0", 1_000).await.unwrap();
    assert_eq!(st.count_active_users(&a, 1_001).await.unwrap(), 7);
}

conformance! {
    last_active_concurrent_touches,
}
