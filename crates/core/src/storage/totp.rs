//! TOTP storage: a user's devices (app-wide, under the user id as the caller gave it, as the
//! reference keys them) and the codes submitted in each tenant (`totp_used_codes`), which are
//! both the replay guard and the failed-attempt count.
//!
//! The decision about a submitted code is the domain's ([`TotpJudge`]); the backend runs it on
//! the user's devices and the tenant's codes of the user as they stand under the user's lock,
//! and records what it asks. So concurrent submissions for one user, on one instance or
//! several, are judged one after the other: each wrong code counts, and a code accepted once is
//! refused to the next.

use super::SResult;
use crate::ids::{AppId, TenantIdentifier};
use async_trait::async_trait;
use std::collections::HashMap;

/// A TOTP device (`totp_user_devices`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpDevice {
    pub name: String,
    /// The secret, base32 as given (a generated one: 20 random bytes, 32 characters).
    pub secret_key: String,
    /// Seconds per code.
    pub period: i32,
    /// Periods accepted either side of the current one.
    pub skew: i32,
    pub verified: bool,
    /// Creation time (ms).
    pub created_at: i64,
}

/// A code submitted in a tenant (`totp_used_codes`), valid or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpUsedCode {
    pub code: String,
    pub is_valid: bool,
    /// Until when (ms) a valid code is refused if submitted again.
    pub expiry_time_ms: i64,
    /// When it was submitted (ms); one code per user, tenant and millisecond (the key).
    pub created_time_ms: i64,
}

/// What creating a device did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateTotpDeviceResult {
    Created,
    /// A verified device of that name exists.
    DeviceAlreadyExists,
}

/// What renaming a device did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenameTotpDeviceResult {
    Renamed,
    UnknownDevice,
    /// The user has a device of the new name.
    DeviceAlreadyExists,
}

/// The domain's judgement of a submitted code (see [`TotpJudge`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TotpJudgement {
    /// The code to record in the tenant; `None` records nothing.
    pub record: Option<TotpUsedCode>,
    /// The device to mark verified once the code is recorded.
    pub verify_device: Option<String>,
}

/// Judges a submitted code given the user's devices (by creation time) and the tenant's codes
/// of the user (newest first), as locked. A judgement that records a code for a user without
/// devices is not applied (there is no user to record it for).
pub type TotpJudge<'a> = &'a (dyn Fn(&[TotpDevice], &[TotpUsedCode]) -> TotpJudgement + Send + Sync);

/// What became of a [`TotpJudgement`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TotpRecordResult {
    /// It recorded nothing.
    NotRecorded,
    /// The code was recorded (and the device marked verified, if asked).
    Recorded,
    /// Another code of the user was recorded in the tenant at the same millisecond (the table's
    /// key): nothing changed.
    SameMillisecond,
}

#[async_trait]
pub trait TotpStorage: Send + Sync {
    /// Add the device (and its user). An unverified device of the same name is replaced; a
    /// verified one stays and the answer is `DeviceAlreadyExists`.
    async fn create_totp_device(
        &self,
        app: &AppId,
        user_id: &str,
        device: &TotpDevice,
    ) -> SResult<CreateTotpDeviceResult>;
    /// The user's devices, by creation time (then name).
    async fn totp_devices(&self, app: &AppId, user_id: &str) -> SResult<Vec<TotpDevice>>;
    /// The devices of each of `user_ids` that has any.
    async fn totp_devices_of_users(
        &self,
        app: &AppId,
        user_ids: &[String],
    ) -> SResult<HashMap<String, Vec<TotpDevice>>>;
    async fn rename_totp_device(
        &self,
        app: &AppId,
        user_id: &str,
        old_name: &str,
        new_name: &str,
    ) -> SResult<RenameTotpDeviceResult>;
    /// Remove the device; with the user's last device the user goes too, with its codes in
    /// every tenant. Whether the device existed.
    async fn remove_totp_device(&self, app: &AppId, user_id: &str, name: &str) -> SResult<bool>;
    /// Judge a code submitted in `tenant` for the user under the user's lock (see
    /// [`TotpJudge`]) and apply the judgement.
    async fn judge_totp_code(
        &self,
        tenant: &TenantIdentifier,
        user_id: &str,
        judge: TotpJudge<'_>,
    ) -> SResult<TotpRecordResult>;
    /// Delete the tenant's codes that expired before `expired_before` (the cron job); how many.
    async fn delete_expired_totp_codes(&self, tenant: &TenantIdentifier, expired_before: i64) -> SResult<u64>;
}
