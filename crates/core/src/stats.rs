//! `GET /requests/stats`: per-app request rates of the last 24 hours, one slot per minute (the
//! average and the peak of requests per second in that minute), as the reference keeps them.
//!
//! Counting is on every request's path, so it is lock-free: per-second counters of the current
//! minute are atomics. Rolling over to a new minute (rare) takes a mutex, folds the counters into
//! the 24-hour ring and zero-fills minutes without requests. A request that races a rollover may
//! land in the neighbouring minute; the figures are statistics, not accounting. Each instance
//! counts its own requests (the reference keeps them in memory too).

use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};
use std::sync::Mutex;

/// Minutes kept.
pub const MINUTES: usize = 24 * 60;

pub struct RequestStats {
    /// The minute (since the epoch) the per-second counters belong to.
    minute: AtomicI64,
    per_second: [AtomicU32; 60],
    /// Allocated when the first minute is folded (about 11 KB), so idle apps cost nothing.
    ring: Mutex<Option<Ring>>,
}

/// Index = minute % MINUTES; `-1` = no data (before this process counted). The average is
/// kept as the minute's request count and divided by 60 when read, which gives the same value
/// as the reference's `sum / 60.0`.
struct Ring {
    requests: Vec<i32>,
    peak: Vec<i32>,
}

/// A snapshot, oldest minute first; the last slot is the minute before `at_minute`.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestStatsSnapshot {
    pub at_minute: i64,
    pub average_per_second: Vec<f64>,
    pub peak_per_second: Vec<i64>,
}

impl RequestStats {
    pub fn new(now_ms: i64) -> RequestStats {
        RequestStats {
            minute: AtomicI64::new(now_ms.div_euclid(60_000)),
            per_second: std::array::from_fn(|_| AtomicU32::new(0)),
            ring: Mutex::new(None),
        }
    }

    /// Count one request at `now_ms`.
    pub fn record(&self, now_ms: i64) {
        let second = now_ms.div_euclid(1000);
        self.roll(second.div_euclid(60));
        self.per_second[second.rem_euclid(60) as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// The last 24 hours as of `now_ms` (or of the newest minute counted, if the clock stepped
    /// back). The fold and the read happen under one lock, so the slots match `at_minute`.
    pub fn snapshot(&self, now_ms: i64) -> RequestStatsSnapshot {
        let mut guard = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        self.roll_locked(&mut guard, now_ms.div_euclid(60_000));
        let at_minute = self.minute.load(Ordering::Acquire);
        let offset = slot(at_minute);
        let order = (0..MINUTES).map(|i| (i + offset) % MINUTES);
        let (average_per_second, peak_per_second) = match guard.as_ref() {
            Some(r) => (
                order
                    .clone()
                    .map(|i| match r.requests[i] {
                        -1 => -1.0,
                        n => f64::from(n) / 60.0,
                    })
                    .collect(),
                order.map(|i| i64::from(r.peak[i])).collect(),
            ),
            None => (vec![-1.0; MINUTES], vec![-1; MINUTES]),
        };
        RequestStatsSnapshot { at_minute, average_per_second, peak_per_second }
    }

    /// Fold the counters into the ring when `minute` is past the current one.
    fn roll(&self, minute: i64) {
        if minute <= self.minute.load(Ordering::Acquire) {
            return;
        }
        let mut guard = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        self.roll_locked(&mut guard, minute);
    }

    fn roll_locked(&self, ring: &mut Option<Ring>, minute: i64) {
        let current = self.minute.load(Ordering::Acquire);
        if minute <= current {
            return; // another thread rolled first, or the clock stepped back
        }
        let (mut sum, mut peak) = (0u32, 0u32);
        for counter in &self.per_second {
            let n = counter.swap(0, Ordering::Relaxed);
            sum = sum.saturating_add(n);
            peak = peak.max(n);
        }
        let ring = ring.get_or_insert_with(|| Ring { requests: vec![-1; MINUTES], peak: vec![-1; MINUTES] });
        let i = slot(current);
        ring.requests[i] = i32::try_from(sum).unwrap_or(i32::MAX);
        ring.peak[i] = i32::try_from(peak).unwrap_or(i32::MAX);
        // Minutes without any request (at most a whole day of them).
        for m in (current + 1..minute).take(MINUTES) {
            let i = slot(m);
            ring.requests[i] = 0;
            ring.peak[i] = 0;
        }
        self.minute.store(minute, Ordering::Release);
    }
}

fn slot(minute: i64) -> usize {
    minute.rem_euclid(MINUTES as i64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_700_000_000_000 - 1_700_000_000_000 % 60_000; // a minute boundary

    #[test]
    fn minutes_fold_into_average_and_peak() {
        let s = RequestStats::new(T0);
        let fresh = s.snapshot(T0);
        assert_eq!(fresh.at_minute, T0 / 60_000);
        assert!(fresh.average_per_second.iter().all(|&a| a == -1.0));
        assert!(fresh.peak_per_second.iter().all(|&p| p == -1));

        // Minute 0: 3 requests in second 0, 1 in second 5.
        for _ in 0..3 {
            s.record(T0 + 10);
        }
        s.record(T0 + 5_500);
        // Minute 1: nothing. Minute 2: one request. Read at minute 3.
        s.record(T0 + 120_000);
        let snap = s.snapshot(T0 + 180_000);
        assert_eq!(snap.at_minute, T0 / 60_000 + 3);
        let n = MINUTES;
        assert_eq!(snap.average_per_second[n - 3], 4.0 / 60.0);
        assert_eq!(snap.peak_per_second[n - 3], 3);
        assert_eq!((snap.average_per_second[n - 2], snap.peak_per_second[n - 2]), (0.0, 0), "an idle minute");
        assert_eq!((snap.average_per_second[n - 1], snap.peak_per_second[n - 1]), (1.0 / 60.0, 1));
        assert_eq!(snap.average_per_second[n - 4], -1.0, "before this process started");
        assert_eq!(snap.average_per_second.len(), MINUTES);
    }

    #[test]
    fn a_long_pause_zeroes_the_whole_day_and_the_past_is_not_rewritten() {
        let s = RequestStats::new(T0);
        s.record(T0);
        let snap = s.snapshot(T0 + 3 * 24 * 3_600_000);
        assert!(snap.average_per_second.iter().all(|&a| a == 0.0));
        // A clock step backwards neither rolls nor panics; the snapshot stays at the newest minute.
        s.record(T0);
        assert_eq!(s.snapshot(T0).at_minute, (T0 + 3 * 24 * 3_600_000) / 60_000);
    }
}

/// Run counters per job (exported as metrics).
#[derive(Default)]
pub struct JobStats {
    pub runs: std::sync::atomic::AtomicU64,
    pub failures: std::sync::atomic::AtomicU64,
    pub skipped: std::sync::atomic::AtomicU64,
}

/// Stats of every job by name.
pub type JobStatsRegistry =
    std::sync::Arc<std::sync::Mutex<std::collections::HashMap<&'static str, std::sync::Arc<JobStats>>>>;
