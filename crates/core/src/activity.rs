//! Throttled activity records (`user_last_active`), as the reference core (12.x) keeps them:
//! an instance that recorded a user as active in the last [`THROTTLE_MS`] skips the next
//! write for that user (sign-in, sign-up, session creation, refresh, revocation by user).
//!
//! The table feeds the active-user counts (`GET /users/count/active`, by day or month), so a
//! few minutes of staleness does not show, while unthrottled writes would make every refresh a
//! database write. The memory is per instance: with several instances a user is written at
//! most once per window by each. Time comes from the core's clock, so tests move across the
//! window instead of sleeping (the reference instead turns the throttle off in its tests).

use crate::ids::AppId;
use std::collections::HashMap;
use std::sync::Mutex;

/// How long a recorded activity makes further records of the same user redundant.
pub const THROTTLE_MS: i64 = 5 * 60 * 1000;

/// Beyond this many remembered users, expired entries are swept, and if that is not enough,
/// all are forgotten: a few extra writes are acceptable, unbounded memory is not.
const MAX_ENTRIES: usize = 200_000;

/// When each (app, user) was last recorded as active by this instance.
#[derive(Default)]
pub struct RecentActivity {
    seen: Mutex<HashMap<AppId, HashMap<String, i64>>>,
    entries: std::sync::atomic::AtomicUsize,
}

impl RecentActivity {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<AppId, HashMap<String, i64>>> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `user` of `app` was recorded within the window before `now_ms`.
    pub fn was_recent(&self, app: &AppId, user: &str, now_ms: i64) -> bool {
        let seen = self.lock();
        seen.get(app).and_then(|users| users.get(user)).is_some_and(|&at| now_ms - at < THROTTLE_MS)
    }

    /// Remember that `users` of `app` (ids of one user: say its session's id and its primary
    /// id) were recorded at `now_ms`.
    pub fn mark(&self, app: &AppId, users: &[&str], now_ms: i64) {
        use std::sync::atomic::Ordering::Relaxed;
        let mut seen = self.lock();
        if self.entries.load(Relaxed) >= MAX_ENTRIES {
            for users in seen.values_mut() {
                users.retain(|_, at| now_ms - *at < THROTTLE_MS);
            }
            seen.retain(|_, users| !users.is_empty());
            let left: usize = seen.values().map(HashMap::len).sum();
            if left >= MAX_ENTRIES {
                seen.clear();
                self.entries.store(0, Relaxed);
            } else {
                self.entries.store(left, Relaxed);
            }
        }
        let known = seen.entry(app.clone()).or_default();
        for &user in users {
            match known.get_mut(user) {
                Some(at) => *at = (*at).max(now_ms),
                None => {
                    known.insert(user.to_string(), now_ms);
                    self.entries.fetch_add(1, Relaxed);
                }
            }
        }
    }

    /// Forget every user of `app` (the app was removed or re-created).
    pub fn forget_app(&self, app: &AppId) {
        use std::sync::atomic::Ordering::Relaxed;
        if let Some(users) = self.lock().remove(app) {
            self.entries.fetch_sub(users.len(), Relaxed);
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().values().map(HashMap::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_is_recent_for_the_window_only() {
        let a = RecentActivity::default();
        let app = AppId::public();
        assert!(!a.was_recent(&app, "u", 1_000));
        a.mark(&app, &["u"], 1_000);
        assert!(a.was_recent(&app, "u", 1_000));
        assert!(a.was_recent(&app, "u", 1_000 + THROTTLE_MS - 1));
        assert!(!a.was_recent(&app, "u", 1_000 + THROTTLE_MS));
        assert!(!a.was_recent(&app, "v", 1_000), "per user");
        assert!(!a.was_recent(&AppId::parse("other").unwrap(), "u", 1_000), "per app");
        // An older mark does not move the time back.
        a.mark(&app, &["u"], 500);
        assert!(a.was_recent(&app, "u", 1_000 + THROTTLE_MS - 1));
        a.forget_app(&app);
        assert!(!a.was_recent(&app, "u", 1_000));
        assert_eq!(a.len(), 0);
    }

    #[test]
    fn memory_is_bounded() {
        let a = RecentActivity::default();
        let app = AppId::public();
        for i in 0..MAX_ENTRIES {
            a.mark(&app, &[&format!("old-{i}")], 0);
        }
        assert_eq!(a.len(), MAX_ENTRIES);
        // Full: the expired entries are swept before the new one goes in.
        a.mark(&app, &["new"], THROTTLE_MS);
        assert_eq!(a.len(), 1);
        assert!(a.was_recent(&app, "new", THROTTLE_MS));
        // Full of live entries: everything is forgotten.
        for i in 0..MAX_ENTRIES {
            a.mark(&app, &[&format!("live-{i}")], THROTTLE_MS);
        }
        a.mark(&app, &["last"], THROTTLE_MS);
        assert!(a.len() < 10, "{}", a.len());
        assert!(a.was_recent(&app, "last", THROTTLE_MS));
    }
}
