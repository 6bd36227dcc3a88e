//! [`join_all`]: run borrowed futures concurrently in the calling task (no spawn, so they may
//! borrow from the caller), as the bulk-import job's workers and the conformance tests need.

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

/// Poll the futures concurrently (in the calling task) and collect their outputs in order.
pub async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, slot) in futures.iter_mut().zip(out.iter_mut()) {
            if slot.is_none() {
                match f.as_mut().poll(cx) {
                    Poll::Ready(v) => *slot = Some(v),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    out.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn outputs_in_order_and_polled_together() {
        let (tx, rx) = tokio::sync::oneshot::channel::<u8>();
        // The first waits for the second: only a concurrent poll finishes both.
        let first = Box::pin(async move { rx.await.unwrap_or(0) }) as Pin<Box<dyn Future<Output = u8>>>;
        let second = Box::pin(async move {
            let _ = tx.send(7);
            9u8
        }) as Pin<Box<dyn Future<Output = u8>>>;
        assert_eq!(join_all(vec![first, second]).await, vec![7, 9]);
    }
}
