//! Per-account sign-in lockout (our addition, issue 25; off by default).
//!
//! With `signin_lockout_max_failures` = N > 0 (a tenant-level key), N failed e-mail-password
//! sign-ins for one e-mail on one tenant within `signin_lockout_window_seconds` lock that
//! e-mail's sign-in for `signin_lockout_duration_seconds`: meanwhile `/recipe/signin` answers
//! `WRONG_CREDENTIALS_ERROR` whatever the password. A successful sign-in (while not locked)
//! clears the counter.
//!
//! * Keyed by (app, tenant, normalised e-mail), not by user id: the attacker names an e-mail on
//!   a tenant's sign-in, the key exists before any user does, so unknown e-mails are counted
//!   and locked exactly like known ones (the lockout reveals nothing about which e-mails have
//!   accounts), and the tenant is the level the keys are configured at.
//! * No timing oracle: a locked sign-in still looks the user up and verifies the password
//!   against the stored hash (or the dummy hash for an unknown e-mail), as every sign-in
//!   does; only the answer is forced.
//! * Shared by instances through the storage (a table in PostgreSQL, upserted under a row
//!   lock); old counters are deleted by the `RemoveExpiredSigninLockouts` job.

use crate::core::Core;
use crate::error::CoreResult;
use crate::ids::{Email, TenantIdentifier};
use crate::jobs::ExpiryJob;
use crate::storage::LockoutRow;
use std::time::Duration;

/// The lockout settings of one tenant, from its config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// 0 = off.
    pub max_failures: i64,
    pub window_ms: i64,
    pub duration_ms: i64,
}

impl LockoutPolicy {
    pub fn enabled(&self) -> bool {
        self.max_failures > 0
    }

    /// The row after one more failure at `now_ms` (the decision the storage runs under its
    /// lock). A locked row stays as it is (failures while locked do not extend the lock); an
    /// expired window or lock starts a new window.
    pub fn after_failure(&self, row: Option<LockoutRow>, now_ms: i64) -> LockoutRow {
        if let Some(r) = row {
            if r.locked_at(now_ms) {
                return r;
            }
        }
        let counting = row.filter(|r| r.locked_until_ms == 0 && r.window_end_ms > now_ms);
        let mut next = match counting {
            Some(r) => LockoutRow { failures: r.failures.saturating_add(1), ..r },
            None => {
                LockoutRow { failures: 1, window_end_ms: now_ms.saturating_add(self.window_ms), locked_until_ms: 0 }
            }
        };
        if next.failures >= self.max_failures {
            next.locked_until_ms = now_ms.saturating_add(self.duration_ms);
        }
        next
    }
}

/// What `GET /recipe/emailpassword/lockout` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockoutStatus {
    /// Failures counted in the current window (0 when none or expired).
    pub failed_attempts: i64,
    /// Until when sign-in is locked, if it is now.
    pub locked_until_ms: Option<i64>,
}

/// `RemoveExpiredSigninLockouts`: delete counters whose window and lock are over, hourly.
pub const DELETE_EXPIRED_LOCKOUTS: ExpiryJob = ExpiryJob {
    name: "RemoveExpiredSigninLockouts",
    interval: Duration::from_secs(3600),
    delete: |core, now| Box::pin(async move { Ok(core.storage.delete_expired_signin_lockouts(now).await?) }),
};

impl Core {
    /// The tenant's lockout settings.
    pub(crate) async fn lockout_policy(&self, tenant: &TenantIdentifier) -> CoreResult<LockoutPolicy> {
        let cfg = &self.tenant(tenant).await?.config;
        Ok(LockoutPolicy {
            max_failures: cfg.signin_lockout_max_failures,
            window_ms: cfg.signin_lockout_window_seconds.saturating_mul(1000),
            duration_ms: cfg.signin_lockout_duration_seconds.saturating_mul(1000),
        })
    }

    /// `GET /<tenant>/recipe/emailpassword/lockout?email=`.
    pub async fn signin_lockout_status(&self, tenant: &TenantIdentifier, email: &str) -> CoreResult<LockoutStatus> {
        self.tenant(tenant).await?;
        let email = Email::normalise(email);
        let now = self.now();
        let row = self.storage.signin_lockout(tenant, email.as_str()).await?;
        Ok(match row {
            Some(r) if r.locked_at(now) => {
                LockoutStatus { failed_attempts: r.failures, locked_until_ms: Some(r.locked_until_ms) }
            }
            Some(r) if r.locked_until_ms == 0 && r.window_end_ms > now => {
                LockoutStatus { failed_attempts: r.failures, locked_until_ms: None }
            }
            _ => LockoutStatus { failed_attempts: 0, locked_until_ms: None },
        })
    }

    /// `POST /<tenant>/recipe/emailpassword/lockout/reset`: forget the counter (and lock) of
    /// this e-mail; whether there was one.
    pub async fn reset_signin_lockout(&self, tenant: &TenantIdentifier, email: &str) -> CoreResult<bool> {
        self.tenant(tenant).await?;
        let email = Email::normalise(email);
        Ok(self.storage.clear_signin_lockout(tenant, email.as_str()).await?)
    }

    /// Before a sign-in's password check: the current counter when the lockout is on.
    pub(crate) async fn lockout_before_sign_in(
        &self,
        tenant: &TenantIdentifier,
        email: &Email,
    ) -> CoreResult<Option<(LockoutPolicy, Option<LockoutRow>)>> {
        let policy = self.lockout_policy(tenant).await?;
        if !policy.enabled() {
            return Ok(None);
        }
        Ok(Some((policy, self.storage.signin_lockout(tenant, email.as_str()).await?)))
    }

    /// After a sign-in's password check (`passed`): count a failure, or clear the counter of a
    /// success. Returns whether the sign-in is refused (locked now, whatever the password).
    pub(crate) async fn lockout_after_sign_in(
        &self,
        tenant: &TenantIdentifier,
        email: &Email,
        state: Option<(LockoutPolicy, Option<LockoutRow>)>,
        passed: bool,
    ) -> CoreResult<bool> {
        let Some((policy, row)) = state else { return Ok(false) };
        let now = self.now();
        let locked = row.is_some_and(|r| r.locked_at(now));
        if locked {
            return Ok(true);
        }
        if passed {
            if row.is_some() {
                self.storage.clear_signin_lockout(tenant, email.as_str()).await?;
            }
        } else {
            let next = move |r: Option<LockoutRow>| policy.after_failure(r, now);
            self.storage.record_signin_failure(tenant, email.as_str(), &next).await?;
        }
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: LockoutPolicy = LockoutPolicy { max_failures: 3, window_ms: 1000, duration_ms: 5000 };

    #[test]
    fn counts_then_locks_then_starts_over() {
        let r1 = P.after_failure(None, 0);
        assert_eq!(r1, LockoutRow { failures: 1, window_end_ms: 1000, locked_until_ms: 0 });
        let r2 = P.after_failure(Some(r1), 10);
        assert_eq!(r2.failures, 2);
        let r3 = P.after_failure(Some(r2), 20);
        assert_eq!(r3.locked_until_ms, 5020);
        // Failures while locked change nothing.
        assert_eq!(P.after_failure(Some(r3), 3000), r3);
        // After the lock, a new window.
        assert_eq!(
            P.after_failure(Some(r3), 6000),
            LockoutRow { failures: 1, window_end_ms: 7000, locked_until_ms: 0 }
        );
        // After the window, a new window.
        assert_eq!(P.after_failure(Some(r2), 1000).failures, 1);
    }
}
