//! Passwordless storage: devices (one per sign-in attempt: an e-mail or a phone number, a
//! link-code salt and a failed-attempt count) with their codes, and the passwordless users.
//!
//! Everything secret is stored hashed, as the reference stores it: a device is known by the
//! hash of its id (the `preAuthSessionId`), a code by the hash of its link code. The decisions
//! about a submitted code are the domain's ([`CodeDecider`]); the backend runs them under the
//! device's lock, so that concurrent wrong codes each count and a code consumed while its
//! device is removed finds no device.

use super::SResult;
use crate::ids::{AppId, TenantIdentifier};
use async_trait::async_trait;

/// A device: one flow of codes sent to one e-mail address or phone number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordlessDevice {
    /// `base64url(sha256(device id))` without padding: the `preAuthSessionId`.
    pub device_id_hash: String,
    pub email: Option<String>,
    pub phone_number: Option<String>,
    /// Standard base64 of 32 random bytes, mixed into the link codes.
    pub link_code_salt: String,
    pub failed_attempts: i32,
}

/// A code of a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordlessCode {
    pub code_id: String,
    pub device_id_hash: String,
    /// `base64url(sha256(link code))` with padding.
    pub link_code_hash: String,
    pub created_at: i64,
}

/// A device with its codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceWithCodes {
    pub device: PasswordlessDevice,
    pub codes: Vec<PasswordlessCode>,
}

/// The contact a device or a passwordless user is known by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contact {
    Email(String),
    Phone(String),
}

/// What inserting a code (and, for a new flow, its device) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateCodeResult {
    Created,
    /// Another code of the tenant has this link-code hash.
    DuplicateLinkCodeHash,
    /// The code id (or, for a new flow, the device id hash) is taken: try another.
    DuplicateId,
    /// A code for a device that no longer exists.
    UnknownDevice,
}

/// What a submitted code does to its device, decided by the domain (see [`CodeDecider`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeAction {
    /// Nothing changes.
    Keep,
    /// Count one more failed attempt.
    CountFailure,
    /// Remove the device and its codes.
    DeleteDevice,
    /// The code is right and used up: remove every device of the tenant with the device's
    /// e-mail (or, without one, its phone number).
    DeleteDevicesOfContact,
}

/// The decision about a submitted code, given the device as locked (`None`: there is no such
/// device any more) and the tenant's code with the submitted link-code hash (`None`: none).
pub type CodeDecider<'a> =
    &'a (dyn Fn(Option<&PasswordlessDevice>, Option<&PasswordlessCode>) -> CodeAction + Send + Sync);

/// What creating a passwordless user did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreatePasswordlessUserResult {
    Created,
    EmailAlreadyExists,
    PhoneNumberAlreadyExists,
}

/// One field of a passwordless user's update: `None` leaves it, `Some(None)` clears it.
pub type FieldUpdate<'a> = Option<Option<&'a str>>;

/// What updating a passwordless user's e-mail and phone number did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordlessUpdateResult {
    Ok,
    UnknownUser,
    EmailAlreadyExists,
    PhoneNumberAlreadyExists,
    /// The user's group is a primary user and another primary user of one of its tenants has
    /// the new e-mail (`crate::accountlinking::change_conflicts`).
    EmailChangeNotAllowed,
    /// The same for the new phone number.
    PhoneNumberChangeNotAllowed,
}

#[async_trait]
pub trait PasswordlessStorage: Send + Sync {
    /// A new flow: insert the device and its first code (their ids hashed), unless an id or
    /// the link-code hash is taken in the tenant.
    async fn create_passwordless_device(
        &self,
        tenant: &TenantIdentifier,
        device: &PasswordlessDevice,
        code: &PasswordlessCode,
    ) -> SResult<CreateCodeResult>;
    /// Another code for an existing device (`code.device_id_hash`).
    async fn create_passwordless_code(
        &self,
        tenant: &TenantIdentifier,
        code: &PasswordlessCode,
    ) -> SResult<CreateCodeResult>;
    /// The device with this id hash and its codes.
    async fn passwordless_device(
        &self,
        tenant: &TenantIdentifier,
        device_id_hash: &str,
    ) -> SResult<Option<DeviceWithCodes>>;
    /// Every device of the tenant for this e-mail or phone number, with its codes.
    async fn passwordless_devices_of(
        &self,
        tenant: &TenantIdentifier,
        contact: &Contact,
    ) -> SResult<Vec<DeviceWithCodes>>;
    /// The tenant's code with this link-code hash (read without a lock).
    async fn passwordless_code_by_link_hash(
        &self,
        tenant: &TenantIdentifier,
        link_code_hash: &str,
    ) -> SResult<Option<PasswordlessCode>>;
    /// Judge a submitted code: lock the device, read the tenant's code with `link_code_hash`,
    /// apply what `decide` says, all atomically. Returns what `decide` saw (the device before
    /// the action).
    async fn judge_passwordless_code(
        &self,
        tenant: &TenantIdentifier,
        device_id_hash: &str,
        link_code_hash: &str,
        decide: CodeDecider<'_>,
    ) -> SResult<(Option<PasswordlessDevice>, Option<PasswordlessCode>)>;
    /// Remove a code; its device too when it was the device's last code.
    async fn remove_passwordless_code(&self, tenant: &TenantIdentifier, code_id: &str) -> SResult<()>;
    /// Remove a device and its codes.
    async fn remove_passwordless_device(&self, tenant: &TenantIdentifier, device_id_hash: &str) -> SResult<()>;
    /// Remove every device (and its codes) of the tenant for this e-mail or phone number.
    async fn remove_passwordless_devices_of(&self, tenant: &TenantIdentifier, contact: &Contact) -> SResult<()>;
    /// Remove the tenant's devices all of whose codes were created before `created_before`
    /// (the cron job); returns how many.
    async fn delete_expired_passwordless_devices(&self, tenant: &TenantIdentifier, created_before: i64)
        -> SResult<u64>;

    /// Insert a passwordless user in `tenant` unless its e-mail or phone number is taken there
    /// by another passwordless user.
    async fn create_passwordless_user(
        &self,
        tenant: &TenantIdentifier,
        user_id: &str,
        email: Option<&str>,
        phone_number: Option<&str>,
        now_ms: i64,
    ) -> SResult<CreatePasswordlessUserResult>;
    /// The recipe user id of the tenant's passwordless user with this e-mail or phone number.
    async fn passwordless_user_of(&self, tenant: &TenantIdentifier, contact: &Contact) -> SResult<Option<String>>;
    /// Supertokens ids of users (primary ids) in `tenant` having a login method with this
    /// phone number.
    async fn users_by_phone_number(&self, tenant: &TenantIdentifier, phone_number: &str) -> SResult<Vec<String>>;
    /// Change a passwordless user's e-mail and/or phone number (each unique among the
    /// passwordless users of each of its tenants, and allowed by the account-linking rule,
    /// decided under the lock the linking intents take; the reference's order: e-mail refused,
    /// e-mail taken, phone number refused, phone number taken) and remove the devices of the
    /// old and the new values in its tenants, atomically. Clearing both is the caller's to
    /// refuse.
    async fn update_passwordless_user(
        &self,
        app: &AppId,
        user_id: &str,
        email: FieldUpdate<'_>,
        phone_number: FieldUpdate<'_>,
    ) -> SResult<PasswordlessUpdateResult>;
}
