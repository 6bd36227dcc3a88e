//! The TOTP recipe (RFC 6238, HMAC-SHA1, six digits): devices (created with a secret of 20
//! random bytes, imported, renamed, listed, removed, verified), codes checked against a user's
//! verified devices with each device's `period` and `skew`, a code accepted once refused until it
//! expires, the failed-attempt limit (`totp_max_attempts` wrong codes in a row within
//! `totp_rate_limit_cooldown_sec` block the user for the rest of that cool-down), and the cron
//! job that deletes old used codes.
//!
//! As the reference, devices are app-wide and keyed by the user id exactly as given (an
//! external id stays an external id), and used codes are per tenant: a code accepted in one
//! tenant may be used once in each other tenant, and the attempts are counted per tenant.
//! Every decision about a code is [`judge`], a pure function that the storage runs on the
//! user's rows under the user's lock, so that instances sharing a database agree.

use crate::core::Core;
use crate::error::{CoreError, CoreResult};
use crate::ids::{AppId, TenantIdentifier};
use crate::jobs::ExpiryJob;
use crate::random::{bytes, ct_eq};
use crate::storage::{
    CreateTotpDeviceResult, RenameTotpDeviceResult, TotpDevice, TotpJudgement, TotpRecordResult, TotpUsedCode,
};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// Digits of a code.
const DIGITS: usize = 6;

/// Codes longer than this (in UTF-16 units, as Java's `String.length`) are refused before any
/// check, without being recorded (the column holds 8 characters).
const MAX_CODE_LENGTH: usize = 8;

/// The periods checked either side of the current one at most. The reference checks all
/// `2·skew+1` (an `int` loop: a skew near 2³¹ never ends); here a device's skew beyond this
/// accepts the codes of this many periods either side. The used code's expiry still counts the
/// device's whole skew.
pub const MAX_CHECKED_SKEW: i64 = 10_000;

/// Column sizes of the reference tables.
const USER_ID_COLUMN: usize = 128;
const DEVICE_NAME_COLUMN: usize = 256;
const SECRET_COLUMN: usize = 256;

/// `DeleteExpiredTotpTokens`: every hour, each tenant's used codes that expired more than the
/// tenant's `totp_rate_limit_cooldown_sec` ago (so that the codes that keep a user blocked stay
/// until the cool-down is over).
pub const DELETE_EXPIRED_CODES: ExpiryJob = ExpiryJob {
    name: "DeleteExpiredTotpTokens",
    interval: Duration::from_secs(3600),
    delete: |core, now| Box::pin(core.delete_expired_totp_codes(now)),
};

/// Why a code was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TotpFailure {
    /// `INVALID_TOTP_ERROR`: the code is wrong (or used, or too long); `failed` wrong codes in a
    /// row so far, `max` of them allowed.
    Invalid { failed: i64, max: i64 },
    /// `LIMIT_REACHED_ERROR`: too many wrong codes in a row; nothing is checked for `retry_after_ms`.
    LimitReached { retry_after_ms: i64, failed: i64, max: i64 },
}

/// `POST /recipe/totp/device`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateDeviceOutcome {
    Created { name: String, secret: String },
    DeviceAlreadyExists,
}

/// `POST /recipe/totp/device/import`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportDeviceOutcome {
    Imported { name: String },
    DeviceAlreadyExists,
}

/// `POST /recipe/totp/device/verify`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyDeviceOutcome {
    /// The device is verified (`was_already_verified`: it was before; no code was checked).
    Verified {
        was_already_verified: bool,
    },
    UnknownDevice,
    Failed(TotpFailure),
}

/// `POST /recipe/totp/verify`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyCodeOutcome {
    Ok,
    /// The user has no device.
    UnknownUser,
    Failed(TotpFailure),
}

/// A device's settings as the API takes them: the reference's checks, in its order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceSettings {
    pub skew: i32,
    pub period: i32,
}

impl DeviceSettings {
    pub fn new(skew: i32, period: i32) -> CoreResult<DeviceSettings> {
        if skew < 0 {
            return Err(CoreError::bad("skew must be >= 0"));
        }
        if period <= 0 {
            return Err(CoreError::bad("period must be > 0"));
        }
        Ok(DeviceSettings { skew, period })
    }
}

// ---------------------------------------------------------------------------------------------
// Secrets and codes
// ---------------------------------------------------------------------------------------------

const BASE32_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 base32 (upper case) with `=` padding, as commons-codec's `Base32.encodeToString`
/// (20 bytes: 32 characters, no padding).
pub fn base32_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(5) * 8);
    for chunk in data.chunks(5) {
        let mut block = [0u8; 5];
        block[..chunk.len()].copy_from_slice(chunk);
        let bits = block.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        let chars = (chunk.len() * 8).div_ceil(5);
        for i in 0..8 {
            if i < chars {
                let index = ((bits >> (35 - 5 * i)) & 0x1f) as usize;
                out.push(char::from(BASE32_ALPHABET[index]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The value of a base32 character (either case), as commons-codec's decode table.
fn base32_value(b: u8) -> Option<u64> {
    match b {
        b'A'..=b'Z' => Some(u64::from(b - b'A')),
        b'a'..=b'z' => Some(u64::from(b - b'a')),
        b'2'..=b'7' => Some(u64::from(b - b'2') + 26),
        _ => None,
    }
}

/// Decode a device secret as the reference does (commons-codec 1.15 `Base32.decode`, lenient):
/// characters outside the alphabet are skipped, the first `=` ends the input, and trailing
/// bits that do not make a whole byte are dropped. Never fails; may be empty.
pub fn base32_decode_lenient(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() * 5 / 8);
    let mut work: u64 = 0;
    let mut count = 0usize;
    for b in s.bytes() {
        if b == b'=' {
            break;
        }
        let Some(v) = base32_value(b) else { continue };
        work = (work << 5) | v;
        count = (count + 1) % 8;
        if count == 0 {
            out.extend_from_slice(&work.to_be_bytes()[3..8]);
            work = 0;
        }
    }
    let tail: &[u8] = match count {
        2 => &(work >> 2).to_be_bytes()[7..],
        3 => &(work >> 7).to_be_bytes()[7..],
        4 => &(work >> 4).to_be_bytes()[6..],
        5 => &(work >> 1).to_be_bytes()[5..],
        6 => &(work >> 6).to_be_bytes()[5..],
        7 => &(work >> 3).to_be_bytes()[4..],
        _ => &[],
    };
    out.extend_from_slice(tail);
    out
}

/// A new device secret: 20 bytes from the CSPRNG, base32.
fn new_secret(core: &Core) -> String {
    base32_encode(&bytes::<20>(core.rng.as_ref()))
}

/// The six-digit code of `key` for the period of `period_s` seconds that holds `time_ms`.
pub fn code_at(key: &[u8], period_s: u64, time_ms: u64) -> String {
    let totp = totp_rs::TOTP::new_unchecked(totp_rs::Algorithm::SHA1, DIGITS, 0, period_s, key.to_vec());
    totp.generate(time_ms / 1000)
}

/// Whether `code` is the device's code at `now_ms` or within its skew (the reference's
/// `Totp.checkCode`), compared in constant time. A secret that decodes to nothing, or a
/// non-positive period (neither can be created through the API), never matches.
pub fn device_accepts(device: &TotpDevice, code: &str, now_ms: i64) -> bool {
    let key = base32_decode_lenient(&device.secret_key);
    let Ok(period_s) = u64::try_from(device.period) else { return false };
    if key.is_empty() || period_s == 0 || now_ms < 0 {
        return false;
    }
    let totp = totp_rs::TOTP::new_unchecked(totp_rs::Algorithm::SHA1, DIGITS, 0, period_s, key);
    let skew = i64::from(device.skew.max(0)).min(MAX_CHECKED_SKEW);
    let period_ms = i64::from(device.period) * 1000;
    let mut matched = false;
    for i in -skew..=skew {
        let Some(t) = now_ms.checked_add(i * period_ms) else { continue };
        let Ok(t) = u64::try_from(t) else { continue };
        // Every period of the window is computed, whatever matched, so the time taken does not
        // tell which one did.
        matched |= ct_eq(&totp.generate(t / 1000), code);
    }
    matched
}

/// How long (s) a valid code of the device is refused after use: the whole window.
fn used_code_lifetime_s(device: &TotpDevice) -> i64 {
    i64::from(device.period).saturating_mul(i64::from(device.skew).saturating_mul(2).saturating_add(1))
}

// ---------------------------------------------------------------------------------------------
// Judging a code
// ---------------------------------------------------------------------------------------------

/// One submitted code and the tenant's limits.
#[derive(Debug, Clone, Copy)]
pub struct Attempt<'a> {
    pub code: &'a str,
    pub now_ms: i64,
    /// `totp_max_attempts`.
    pub max_attempts: i64,
    /// `totp_rate_limit_cooldown_sec`, in ms.
    pub cooldown_ms: i64,
}

/// What [`judge`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judged {
    /// The code to record (`None`: nothing is written).
    pub record: Option<TotpUsedCode>,
    /// The answer once it is recorded (or, without a record, at once).
    pub result: Result<(), TotpFailure>,
    /// The answer when the record loses to another code of the same millisecond.
    pub on_same_millisecond: TotpFailure,
}

/// The reference's `Totp.checkAndStoreCode`, as a pure function of the devices that may accept
/// the code and the tenant's codes of the user (newest first).
///
/// 1. The newest `max` codes, up to the first valid one, are the wrong codes in a row; of those,
///    the ones within the cool-down of the newest count. `max` of them and the newest less than
///    the cool-down ago: `LIMIT_REACHED_ERROR` with the rest of the cool-down, nothing recorded;
///    past the cool-down the count starts again from zero.
/// 2. A code longer than 8 (or with a NUL, which no column can hold) is wrong, not recorded.
/// 3. The code is valid if a device accepts it and no earlier valid record of the same code is
///    still unexpired; it is recorded either way, expiring after the accepting device's window
///    (no device: the longest window among them).
pub fn judge(devices: &[TotpDevice], used: &[TotpUsedCode], a: &Attempt<'_>) -> Judged {
    let max = a.max_attempts;
    let window = usize::try_from(max).unwrap_or(usize::MAX);
    let wrong: Vec<&TotpUsedCode> = used.iter().take(window).take_while(|c| !c.is_valid).collect();
    let mut failed = match wrong.first() {
        Some(newest) => {
            let since = newest.created_time_ms.saturating_sub(a.cooldown_ms);
            wrong.iter().take_while(|c| c.created_time_ms > since).count() as i64
        }
        None => 0,
    };
    if failed == max {
        if let Some(newest) = wrong.first() {
            let elapsed = a.now_ms.saturating_sub(newest.created_time_ms);
            if elapsed < a.cooldown_ms {
                let failure = TotpFailure::LimitReached { retry_after_ms: a.cooldown_ms - elapsed, failed, max };
                return Judged { record: None, result: Err(failure), on_same_millisecond: failure };
            }
        }
        failed = 0;
    }
    let wrong_code = TotpFailure::Invalid { failed: failed + 1, max };
    if a.code.encode_utf16().count() > MAX_CODE_LENGTH || a.code.contains('\0') {
        return Judged { record: None, result: Err(wrong_code), on_same_millisecond: wrong_code };
    }
    let matching = devices.iter().find(|d| device_accepts(d, a.code, a.now_ms));
    let replayed = used.iter().any(|c| c.is_valid && c.expiry_time_ms > a.now_ms && ct_eq(&c.code, a.code));
    let is_valid = matching.is_some() && !replayed;
    let lifetime_s = match matching {
        Some(d) => used_code_lifetime_s(d),
        None => devices.iter().map(used_code_lifetime_s).max().unwrap_or(0),
    };
    let record = TotpUsedCode {
        code: a.code.to_string(),
        is_valid,
        expiry_time_ms: a.now_ms.saturating_add(lifetime_s.saturating_mul(1000)),
        created_time_ms: a.now_ms,
    };
    Judged {
        record: Some(record),
        result: if is_valid { Ok(()) } else { Err(wrong_code) },
        on_same_millisecond: TotpFailure::Invalid { failed, max },
    }
}

/// A value for a column of `max` characters: no longer, and without NUL (which PostgreSQL's
/// text refuses). The reference fails in its database (a 500).
fn check_column(field: &str, value: &str, max: usize) -> CoreResult<()> {
    if value.chars().count() > max {
        return Err(CoreError::bad(format!("{field} must be at most {max} characters long")));
    }
    if value.contains('\0') {
        return Err(CoreError::bad(format!("{field} must not contain a NUL character")));
    }
    Ok(())
}

/// Whether no stored row can have this value: it holds a NUL character, which no write takes
/// and PostgreSQL cannot even compare, so a look-up by it finds nothing on both backends.
fn unstorable(value: &str) -> bool {
    value.contains('\0')
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What the device-verification judge saw.
enum DeviceVerdict {
    UnknownDevice,
    AlreadyVerified,
    Judged(Judged),
}

impl Core {
    /// `POST /recipe/totp/device`: a new unverified device with a fresh secret. Without a name
    /// it is `TOTP Device <n>`, `n` the number of verified devices, then the next free number
    /// (an unverified device of that name is replaced, as a named one is).
    pub async fn create_totp_device(
        &self,
        app: &AppId,
        user_id: &str,
        name: Option<&str>,
        settings: DeviceSettings,
    ) -> CoreResult<CreateDeviceOutcome> {
        let secret = new_secret(self);
        match self.add_totp_device(app, user_id, name, settings, &secret, false).await? {
            Some(name) => Ok(CreateDeviceOutcome::Created { name, secret }),
            None => Ok(CreateDeviceOutcome::DeviceAlreadyExists),
        }
    }

    /// `POST /recipe/totp/device/import`: a verified device with the given secret (stored as
    /// given, as the reference; decoded leniently when codes are checked).
    pub async fn import_totp_device(
        &self,
        app: &AppId,
        user_id: &str,
        name: Option<&str>,
        settings: DeviceSettings,
        secret: &str,
    ) -> CoreResult<ImportDeviceOutcome> {
        check_column("secretKey", secret, SECRET_COLUMN)?;
        match self.add_totp_device(app, user_id, name, settings, secret, true).await? {
            Some(name) => Ok(ImportDeviceOutcome::Imported { name }),
            None => Ok(ImportDeviceOutcome::DeviceAlreadyExists),
        }
    }

    /// The reference's `Totp.createDevice`: the device's name, or `None` when a verified device
    /// has the name given.
    async fn add_totp_device(
        &self,
        app: &AppId,
        user_id: &str,
        name: Option<&str>,
        settings: DeviceSettings,
        secret: &str,
        verified: bool,
    ) -> CoreResult<Option<String>> {
        check_column("userId", user_id, USER_ID_COLUMN)?;
        let device = |name: &str| TotpDevice {
            name: name.to_string(),
            secret_key: secret.to_string(),
            period: settings.period,
            skew: settings.skew,
            verified,
            created_at: self.now(),
        };
        if let Some(name) = name {
            check_column("deviceName", name, DEVICE_NAME_COLUMN)?;
            return Ok(match self.storage.create_totp_device(app, user_id, &device(name)).await? {
                CreateTotpDeviceResult::Created => Some(name.to_string()),
                CreateTotpDeviceResult::DeviceAlreadyExists => None,
            });
        }
        let existing = self.storage.totp_devices(app, user_id).await?;
        let first = existing.iter().filter(|d| d.verified).count();
        // Each refusal is a verified device of that name: there are at most as many as the
        // user had, plus those added meanwhile.
        for n in first..first + existing.len() + 64 {
            let name = format!("TOTP Device {n}");
            if self.storage.create_totp_device(app, user_id, &device(&name)).await? == CreateTotpDeviceResult::Created {
                return Ok(Some(name));
            }
        }
        Err(CoreError::Internal("could not find a free default TOTP device name".into()))
    }

    /// `PUT /recipe/totp/device`.
    pub async fn rename_totp_device(
        &self,
        app: &AppId,
        user_id: &str,
        old_name: &str,
        new_name: &str,
    ) -> CoreResult<RenameTotpDeviceResult> {
        if unstorable(user_id) || unstorable(old_name) {
            return Ok(RenameTotpDeviceResult::UnknownDevice);
        }
        check_column("newDeviceName", new_name, DEVICE_NAME_COLUMN)?;
        Ok(self.storage.rename_totp_device(app, user_id, old_name, new_name).await?)
    }

    /// `GET /recipe/totp/device/list`: the user's devices, by creation time.
    pub async fn totp_devices(&self, app: &AppId, user_id: &str) -> CoreResult<Vec<TotpDevice>> {
        if unstorable(user_id) {
            return Ok(Vec::new());
        }
        Ok(self.storage.totp_devices(app, user_id).await?)
    }

    /// `POST /recipe/totp/device/remove`: whether the device existed. Removing the user's last
    /// device removes its TOTP data (its used codes in every tenant), as the reference.
    pub async fn remove_totp_device(&self, app: &AppId, user_id: &str, name: &str) -> CoreResult<bool> {
        if unstorable(user_id) || unstorable(name) {
            return Ok(false);
        }
        Ok(self.storage.remove_totp_device(app, user_id, name).await?)
    }

    /// `POST /recipe/totp/device/status/bulk`: for each id, whether it has a verified device
    /// (`None`: no device at all).
    pub async fn totp_device_status(
        &self,
        app: &AppId,
        user_ids: &[String],
    ) -> CoreResult<HashMap<String, Option<bool>>> {
        let storable: Vec<String> = user_ids.iter().filter(|id| !unstorable(id)).cloned().collect();
        let devices = if storable.is_empty() {
            HashMap::new()
        } else {
            self.storage.totp_devices_of_users(app, &storable).await?
        };
        Ok(user_ids
            .iter()
            .map(|id| {
                let status = devices.get(id).filter(|d| !d.is_empty()).map(|d| d.iter().any(|d| d.verified));
                (id.clone(), status)
            })
            .collect())
    }

    /// The tenant's limits for an attempt made now.
    async fn attempt_limits(&self, tenant: &TenantIdentifier) -> CoreResult<(i64, i64)> {
        let cfg = self.tenant(tenant).await?.config.clone();
        Ok((cfg.totp_max_attempts, cfg.totp_rate_limit_cooldown_sec.saturating_mul(1000)))
    }

    /// `POST /<tenant>/recipe/totp/device/verify`: check a code of the (unverified) device and
    /// verify it. An already verified device answers at once, whatever the code.
    pub async fn verify_totp_device(
        &self,
        tenant: &TenantIdentifier,
        user_id: &str,
        name: &str,
        code: &str,
    ) -> CoreResult<VerifyDeviceOutcome> {
        let (max_attempts, cooldown_ms) = self.attempt_limits(tenant).await?;
        if unstorable(user_id) || unstorable(name) {
            return Ok(VerifyDeviceOutcome::UnknownDevice);
        }
        let verdict: Mutex<Option<DeviceVerdict>> = Mutex::new(None);
        let decide = |devices: &[TotpDevice], used: &[TotpUsedCode]| {
            let (seen, judgement) = match devices.iter().find(|d| d.name == name) {
                None => (DeviceVerdict::UnknownDevice, TotpJudgement::default()),
                Some(d) if d.verified => (DeviceVerdict::AlreadyVerified, TotpJudgement::default()),
                Some(d) => {
                    let attempt = Attempt { code, now_ms: self.now(), max_attempts, cooldown_ms };
                    let judged = judge(std::slice::from_ref(d), used, &attempt);
                    let judgement = TotpJudgement {
                        record: judged.record.clone(),
                        verify_device: judged.result.is_ok().then(|| d.name.clone()),
                    };
                    (DeviceVerdict::Judged(judged), judgement)
                }
            };
            *lock(&verdict) = Some(seen);
            judgement
        };
        let recorded = self.storage.judge_totp_code(tenant, user_id, &decide).await?;
        let seen = lock(&verdict).take();
        Ok(match seen {
            None | Some(DeviceVerdict::UnknownDevice) => VerifyDeviceOutcome::UnknownDevice,
            Some(DeviceVerdict::AlreadyVerified) => VerifyDeviceOutcome::Verified { was_already_verified: true },
            Some(DeviceVerdict::Judged(j)) => match (recorded, j.result) {
                (TotpRecordResult::SameMillisecond, _) => VerifyDeviceOutcome::Failed(j.on_same_millisecond),
                (_, Ok(())) => VerifyDeviceOutcome::Verified { was_already_verified: false },
                (_, Err(f)) => VerifyDeviceOutcome::Failed(f),
            },
        })
    }

    /// `POST /<tenant>/recipe/totp/verify`: check a code against the user's verified devices.
    pub async fn verify_totp_code(
        &self,
        tenant: &TenantIdentifier,
        user_id: &str,
        code: &str,
    ) -> CoreResult<VerifyCodeOutcome> {
        let (max_attempts, cooldown_ms) = self.attempt_limits(tenant).await?;
        if unstorable(user_id) {
            return Ok(VerifyCodeOutcome::UnknownUser);
        }
        let verdict: Mutex<Option<Judged>> = Mutex::new(None);
        let decide = |devices: &[TotpDevice], used: &[TotpUsedCode]| {
            if devices.is_empty() {
                return TotpJudgement::default();
            }
            let verified: Vec<TotpDevice> = devices.iter().filter(|d| d.verified).cloned().collect();
            let attempt = Attempt { code, now_ms: self.now(), max_attempts, cooldown_ms };
            let judged = judge(&verified, used, &attempt);
            let judgement = TotpJudgement { record: judged.record.clone(), verify_device: None };
            *lock(&verdict) = Some(judged);
            judgement
        };
        let recorded = self.storage.judge_totp_code(tenant, user_id, &decide).await?;
        let judged = lock(&verdict).take();
        Ok(match judged {
            None => VerifyCodeOutcome::UnknownUser,
            Some(j) => match (recorded, j.result) {
                (TotpRecordResult::SameMillisecond, _) => VerifyCodeOutcome::Failed(j.on_same_millisecond),
                (_, Ok(())) => VerifyCodeOutcome::Ok,
                (_, Err(f)) => VerifyCodeOutcome::Failed(f),
            },
        })
    }

    /// The cron job: in each tenant, delete the used codes that expired more than the tenant's
    /// cool-down before `now`.
    pub async fn delete_expired_totp_codes(&self, now: i64) -> CoreResult<u64> {
        let mut deleted = 0;
        for record in self.storage.list_tenants().await? {
            let entry = match self.tenant(&record.id).await {
                Ok(entry) => entry,
                Err(e) => {
                    tracing::warn!(tenant = %record.id.tenant, app = %record.id.app, "skipping the tenant: {e}");
                    continue;
                }
            };
            let cutoff = now.saturating_sub(entry.config.totp_rate_limit_cooldown_sec.saturating_mul(1000));
            deleted += self.storage.delete_expired_totp_codes(&record.id, cutoff).await?;
        }
        Ok(deleted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(secret: &str, period: i32, skew: i32) -> TotpDevice {
        TotpDevice { name: "d".into(), secret_key: secret.into(), period, skew, verified: true, created_at: 0 }
    }

    fn used(code: &str, is_valid: bool, created: i64, expiry: i64) -> TotpUsedCode {
        TotpUsedCode { code: code.into(), is_valid, expiry_time_ms: expiry, created_time_ms: created }
    }

    #[test]
    fn base32_round_trip_and_lenient_decoding() {
        let secret = b"12345678901234567890";
        let encoded = base32_encode(secret);
        assert_eq!(encoded, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        assert_eq!(base32_decode_lenient(&encoded), secret.to_vec());
        assert_eq!(base32_encode(b"f"), "MY======");
        assert_eq!(base32_encode(b"foobar"), "MZXW6YTBOI======");
        // Lower case, blanks and other characters skipped; `=` ends the input; partial bytes dropped.
        assert_eq!(base32_decode_lenient("mzxw 6ytb-oi"), b"foobar".to_vec());
        assert_eq!(base32_decode_lenient("MZXW6===YTBOI"), b"foo".to_vec());
        assert_eq!(base32_decode_lenient("MZXW6YT"), b"foob".to_vec());
        assert_eq!(base32_decode_lenient("M"), Vec::<u8>::new());
        assert_eq!(base32_decode_lenient("!!!"), Vec::<u8>::new());
        for n in 0..12 {
            let data: Vec<u8> = (0..n).map(|i| (i * 37 + 11) as u8).collect();
            assert_eq!(base32_decode_lenient(&base32_encode(&data)), data, "{n} bytes");
        }
    }

    /// RFC 6238 appendix B (SHA-1, its 8-digit values cut to 6).
    #[test]
    fn rfc_6238_vectors() {
        let key = b"12345678901234567890";
        for (t, code) in
            [(59u64, "287082"), (1_111_111_109, "081804"), (1_234_567_890, "005924"), (2_000_000_000, "279037")]
        {
            assert_eq!(code_at(key, 30, t * 1000), code, "T = {t}");
        }
    }

    #[test]
    fn the_window_is_the_skew() {
        let secret = base32_encode(b"12345678901234567890");
        let key = base32_decode_lenient(&secret);
        let now = 1_000_000_000_000;
        let d = device(&secret, 30, 1);
        assert!(device_accepts(&d, &code_at(&key, 30, now as u64), now));
        assert!(device_accepts(&d, &code_at(&key, 30, (now - 30_000) as u64), now));
        assert!(device_accepts(&d, &code_at(&key, 30, (now + 30_000) as u64), now));
        assert!(!device_accepts(&d, &code_at(&key, 30, (now + 60_000) as u64), now));
        assert!(!device_accepts(&device(&secret, 30, 0), &code_at(&key, 30, (now - 30_000) as u64), now));
        assert!(!device_accepts(&device("!!", 30, 1), "000000", now));
        assert!(!device_accepts(&device(&secret, 0, 1), "000000", now));
    }

    #[test]
    fn wrong_codes_count_until_the_limit() {
        let a = |code, now_ms| Attempt { code, now_ms, max_attempts: 3, cooldown_ms: 10_000 };
        let d = device(&base32_encode(b"12345678901234567890"), 30, 1);
        // Two wrong codes so far: the third is the third.
        let codes = vec![used("x", false, 2_000, 2_000 + 90_000), used("y", false, 1_000, 91_000)];
        let j = judge(std::slice::from_ref(&d), &codes, &a("bad", 3_000));
        assert_eq!(j.result, Err(TotpFailure::Invalid { failed: 3, max: 3 }));
        assert_eq!(j.on_same_millisecond, TotpFailure::Invalid { failed: 2, max: 3 });
        let rec = j.record.unwrap();
        assert!(!rec.is_valid);
        assert_eq!((rec.created_time_ms, rec.expiry_time_ms), (3_000, 93_000));
        // Three in a row: blocked for the rest of the cool-down, nothing recorded.
        let mut codes = codes;
        codes.insert(0, rec);
        let j = judge(std::slice::from_ref(&d), &codes, &a("bad", 5_000));
        assert_eq!(j.result, Err(TotpFailure::LimitReached { retry_after_ms: 8_000, failed: 3, max: 3 }));
        assert_eq!(j.record, None);
        // After the cool-down the count starts again.
        let j = judge(std::slice::from_ref(&d), &codes, &a("bad", 13_000));
        assert_eq!(j.result, Err(TotpFailure::Invalid { failed: 1, max: 3 }));
        // Too long: wrong without a record.
        let j = judge(std::slice::from_ref(&d), &[], &a("123456789", 13_000));
        assert_eq!((j.record, j.result), (None, Err(TotpFailure::Invalid { failed: 1, max: 3 })));
        // A valid code between wrong ones resets the count; wrong codes outside the cool-down of
        // the newest do not count.
        let codes = vec![used("x", false, 50_000, 0), used("y", false, 30_000, 0), used("v", true, 20_000, 0)];
        let j = judge(std::slice::from_ref(&d), &codes, &a("bad", 51_000));
        assert_eq!(j.result, Err(TotpFailure::Invalid { failed: 2, max: 3 }));
    }

    #[test]
    fn a_valid_code_is_single_use_until_it_expires() {
        let secret = base32_encode(b"12345678901234567890");
        let key = base32_decode_lenient(&secret);
        let d = device(&secret, 30, 1);
        let now = 1_000_000_000_000;
        let code = code_at(&key, 30, now as u64);
        let a = Attempt { code: &code, now_ms: now, max_attempts: 5, cooldown_ms: 900_000 };
        let j = judge(std::slice::from_ref(&d), &[], &a);
        assert_eq!(j.result, Ok(()));
        let rec = j.record.unwrap();
        assert!(rec.is_valid);
        assert_eq!(rec.expiry_time_ms, now + 90_000);
        let again = Attempt { now_ms: now + 1, ..a };
        let j = judge(std::slice::from_ref(&d), std::slice::from_ref(&rec), &again);
        assert_eq!(j.result, Err(TotpFailure::Invalid { failed: 1, max: 5 }));
        assert!(!j.record.unwrap().is_valid);
        // Without devices (none verified) every code is wrong and expires at once.
        let j = judge(&[], &[], &a);
        assert_eq!(j.result, Err(TotpFailure::Invalid { failed: 1, max: 5 }));
        assert_eq!(j.record.unwrap().expiry_time_ms, now);
    }
}
