//! [`JobStorage`]: job leases, held until dropped.

use st_core::storage::*;

async fn job_leases(st: &dyn Storage) {
    let lease = st.try_lock_job("job-a").await.unwrap();
    assert!(lease.is_some());
    assert!(st.try_lock_job("job-a").await.unwrap().is_none(), "held");
    let other = st.try_lock_job("job-b").await.unwrap();
    assert!(other.is_some(), "jobs are independent");
    drop(lease);
    // Unlocking may happen asynchronously (PostgreSQL): poll briefly.
    let mut again = None;
    for _ in 0..250 {
        if let Some(l) = st.try_lock_job("job-a").await.unwrap() {
            again = Some(l);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(again.is_some(), "the lease is released when dropped");
    assert!(st.try_lock_job("job-b").await.unwrap().is_none(), "still held");
}

conformance! {
    job_leases,
}
