//! The passwordless recipe: codes sent by e-mail or SMS (a magic link and a short code the user
//! types), their checking and consumption (sign-in or sign-up), the deprecated user lookups and
//! the user update, and the cron job that removes expired devices.
//!
//! Codes are derived exactly as the reference derives them, so that a flow started on a Java
//! core sharing the database can be finished here and vice versa:
//!
//! * device id: 32 random bytes, handed out in standard base64 (padded);
//!   `preAuthSessionId` = `device_id_hash` = base64url(SHA-256(device id)) without padding;
//! * link-code salt: 32 random bytes per device, stored in standard base64;
//! * link code = HMAC-SHA256(key = device id ‖ salt, message = user input code), handed out in
//!   base64url without padding; stored only as `link_code_hash` = base64url(SHA-256(link
//!   code)) *with* padding;
//! * user input code: six decimal digits from the CSPRNG, or the caller's.
//!
//! A submitted code is judged by [`judge`] under the device's lock in the storage
//! ([`PasswordlessStorage::judge_passwordless_code`]): the failed-attempt count goes up once
//! per wrong code, however many arrive at once, and the device goes at the configured maximum.
//!
//! Phone numbers are normalised as the reference's `Utils.normalizeIfPhoneNumber`: parsed
//! without a default region (so only international numbers, `+…`, parse) with the
//! `phonenumber` crate (a port of libphonenumber, whose metadata it embeds) and formatted in
//! E.164; a number that does not parse is only trimmed (see [`normalise_phone_number`]).

use crate::cdi::CdiVersion;
use crate::error::{CoreError, CoreResult};
use crate::ids::{java_trim, Email};
use crate::jobs::ExpiryJob;
use crate::multitenancy::{recipe_enabled, LoginRecipe};
use crate::random::{bytes, Random};
use crate::storage::{AuthUser, CodeAction, Contact, LoginMethod, PasswordlessCode, PasswordlessDevice, TenantRecord};
use crate::users::User;
use base64::alphabet;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use std::time::Duration;

mod codes;
mod users;

pub const RECIPE_ID: &str = "passwordless";

/// The length of the `email` and `phone_number` columns (devices and users).
const MAX_CONTACT: usize = 256;

/// How many fresh ids a code creation tries when the ones drawn are taken (a UUID or a
/// 256-bit collision: never, in practice).
const CREATE_ATTEMPTS: usize = 16;

/// `DeleteExpiredPasswordlessDevices`: every hour, per tenant, remove the devices all of whose
/// codes have outlived the tenant's `passwordless_code_lifetime`. (Expired codes of a device
/// that still has a live one stay: they tell an expired code from a wrong one.)
pub const DELETE_EXPIRED_DEVICES: ExpiryJob = ExpiryJob {
    name: "DeleteExpiredPasswordlessDevices",
    interval: Duration::from_secs(3600),
    delete: |core, now| Box::pin(core.delete_expired_passwordless_devices(now)),
};

/// Java's `Base64.getDecoder()` / `getUrlDecoder()`: padding optional, trailing bits ignored.
const JAVA_DECODE: GeneralPurposeConfig = GeneralPurposeConfig::new()
    .with_decode_padding_mode(DecodePaddingMode::Indifferent)
    .with_decode_allow_trailing_bits(true);
const JAVA_STANDARD: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, JAVA_DECODE);
const JAVA_URL_SAFE: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, JAVA_DECODE);

/// The reference's `Utils.normalizeIfPhoneNumber`: E.164 when the (trimmed) number parses
/// without a default region, else the trimmed input.
pub fn normalise_phone_number(raw: &str) -> String {
    let trimmed = java_trim(raw);
    match phonenumber::parse(None, trimmed) {
        Ok(number) => number.format().mode(phonenumber::Mode::E164).to_string(),
        Err(_) => trimmed.to_string(),
    }
}

fn sha256(data: &[u8]) -> ring::digest::Digest {
    ring::digest::digest(&ring::digest::SHA256, data)
}

/// `preAuthSessionId` of a device id.
fn device_id_hash(device_id: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(sha256(device_id))
}

/// The link code of a user input code for a device: HMAC-SHA256 keyed by device id ‖ salt.
fn link_code(device_id: &[u8], salt: &[u8], user_input_code: &str) -> Vec<u8> {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &[device_id, salt].concat());
    ring::hmac::sign(&key, user_input_code.as_bytes()).as_ref().to_vec()
}

/// What the code table stores for a link code.
fn link_code_hash(link_code: &[u8]) -> String {
    URL_SAFE.encode(sha256(link_code))
}

/// Six decimal digits, uniformly from the CSPRNG.
fn generate_user_input_code(rng: &dyn Random) -> String {
    let mut out = String::with_capacity(6);
    while out.len() < 6 {
        let [b] = bytes::<1>(rng);
        // 250 = 25 × 10: reject the rest so every digit is equally likely.
        if b < 250 {
            out.push(char::from(b'0' + b % 10));
        }
    }
    out
}

/// A standard-base64 input (device id, link-code salt) as the reference decodes it; a bad one
/// is its 400 naming the field.
fn decode_standard(value: &str, field: &str) -> CoreResult<Vec<u8>> {
    JAVA_STANDARD.decode(value).map_err(|_| CoreError::bad(format!("Input encoding error in {field}")))
}

/// A contact to store: no longer than its column, and without NUL (which PostgreSQL's text
/// refuses); the reference fails in its database on either (a 500), here a 400 on both backends.
fn check_storable(contact: &Contact) -> CoreResult<()> {
    let (field, value) = match contact {
        Contact::Email(e) => ("email", e),
        Contact::Phone(p) => ("phoneNumber", p),
    };
    if value.chars().count() > MAX_CONTACT {
        return Err(CoreError::bad(format!("{field} must be at most {MAX_CONTACT} characters long")));
    }
    if value.contains('\0') {
        return Err(CoreError::bad(format!("{field} must not contain a NUL character")));
    }
    Ok(())
}

/// Whether a looked-up value can match a stored one: nothing stored holds a NUL character (see
/// [`check_storable`]), which PostgreSQL cannot even compare, so such a look-up finds nothing
/// on both backends instead of failing on one.
fn findable(value: &str) -> bool {
    !value.contains('\0')
}

fn contact_value(contact: &Contact) -> &str {
    match contact {
        Contact::Email(v) | Contact::Phone(v) => v,
    }
}

/// Whether the passwordless APIs that sign in are served on `tenant` at CDI `version` (the
/// reference's `MultitenancyHelper.isPasswordlessEnabled`), else the 403.
fn check_enabled(tenant: &TenantRecord, version: CdiVersion) -> CoreResult<()> {
    if version >= CdiVersion::V5_1 || recipe_enabled(tenant, LoginRecipe::Passwordless, version) {
        Ok(())
    } else {
        Err(CoreError::Forbidden("Passwordless login not enabled for tenant".into()))
    }
}

/// Where `POST /recipe/signinup/code` sends a code: a new flow for an e-mail or a phone number,
/// or another code of an existing flow (its device id).
#[derive(Debug, Clone)]
pub enum CodeTarget {
    Email(String),
    PhoneNumber(String),
    DeviceId(String),
}

/// A created code, as `POST /recipe/signinup/code` answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedCode {
    pub pre_auth_session_id: String,
    pub code_id: String,
    pub device_id: String,
    pub user_input_code: String,
    pub link_code: String,
    pub time_created: i64,
    pub code_lifetime: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateCodeOutcome {
    Ok(CreatedCode),
    /// The device id names no device (any more).
    RestartFlow,
    /// The caller's user input code for this device was used before.
    UserInputCodeAlreadyUsed,
}

/// A submitted code: the magic link's code, or the code the user typed with the device id.
#[derive(Debug, Clone)]
pub enum CodeInput {
    LinkCode(String),
    UserInputCode { device_id: String, user_input_code: String },
}

/// The device a right code belonged to (its failed attempts as they were).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumedDevice {
    pub pre_auth_session_id: String,
    pub failed_code_input_attempt_count: i32,
    pub email: Option<String>,
    pub phone_number: Option<String>,
}

impl From<PasswordlessDevice> for ConsumedDevice {
    fn from(d: PasswordlessDevice) -> Self {
        ConsumedDevice {
            pre_auth_session_id: d.device_id_hash,
            failed_code_input_attempt_count: d.failed_attempts,
            email: d.email,
            phone_number: d.phone_number,
        }
    }
}

/// What a consume did: the user signed in (or up), and the device whose code was used.
#[derive(Debug, Clone)]
pub struct Consumed {
    pub created_new_user: bool,
    pub user: User,
    /// The (external, when mapped) id of the user's passwordless login method with the
    /// device's e-mail or phone number.
    pub recipe_user_id: Option<String>,
    pub device: ConsumedDevice,
}

/// The outcome of checking or consuming a code.
#[derive(Debug, Clone)]
pub enum CodeOutcome<T> {
    Ok(T),
    /// A wrong user input code: the device's failed attempts now, and the maximum.
    IncorrectUserInputCode {
        failed: i32,
        maximum: i64,
    },
    /// An expired user input code (it counts as a failed attempt too).
    ExpiredUserInputCode {
        failed: i32,
        maximum: i64,
    },
    /// No such device or link code any more, too many failed attempts, or an expired link.
    RestartFlow,
}

/// The verdict of [`judge`] besides what it does to the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Accept,
    Incorrect(i32),
    Expired(i32),
    Restart,
}

/// The rules for a submitted code (the reference's `checkCodeAndReturnDevice`), given the
/// locked device and the code with the submitted link-code hash, at `now`: what to do to the
/// device, and the verdict. Pure: the storage runs it under the device's lock, and the domain
/// runs it again on what the storage saw to learn the verdict.
fn judge(
    device: Option<&PasswordlessDevice>,
    code: Option<&PasswordlessCode>,
    rules: &CodeRules,
) -> (CodeAction, Verdict) {
    let Some(device) = device else { return (CodeAction::Keep, Verdict::Restart) };
    // The configured maximum may have gone down since the last attempt.
    if i64::from(device.failed_attempts) >= rules.max_attempts {
        return (CodeAction::DeleteDevice, Verdict::Restart);
    }
    // A code of another device cannot have this device's link-code hash; treat one as none.
    let code = code.filter(|c| c.device_id_hash == device.device_id_hash);
    let live = code.filter(|c| c.created_at >= rules.now - rules.lifetime);
    if live.is_some() {
        let action = if rules.consume { CodeAction::DeleteDevicesOfContact } else { CodeAction::Keep };
        return (action, Verdict::Accept);
    }
    if !rules.typed {
        // An unknown or expired link: no attempt is counted.
        return (CodeAction::Keep, Verdict::Restart);
    }
    let failed = device.failed_attempts.saturating_add(1);
    if i64::from(failed) >= rules.max_attempts {
        (CodeAction::DeleteDevice, Verdict::Restart)
    } else if code.is_some() {
        (CodeAction::CountFailure, Verdict::Expired(failed))
    } else {
        (CodeAction::CountFailure, Verdict::Incorrect(failed))
    }
}

/// The inputs of [`judge`] besides the rows.
#[derive(Debug, Clone, Copy)]
struct CodeRules {
    now: i64,
    lifetime: i64,
    max_attempts: i64,
    /// Whether the user typed the code (wrong ones count) or followed the link.
    typed: bool,
    /// Whether a right code is used up (consume) or only checked.
    consume: bool,
}

/// Normalised e-mail or phone number of a device or user query.
fn contact_of(email: Option<&str>, phone_number: Option<&str>) -> Option<Contact> {
    match (email, phone_number) {
        (Some(e), _) => Some(Contact::Email(Email::normalise(e).into_string())),
        (None, Some(p)) => Some(Contact::Phone(normalise_phone_number(p))),
        (None, None) => None,
    }
}

/// The passwordless login method of `user` with the contact, if any.
fn method_with<'a>(user: &'a AuthUser, contact: &Contact) -> Option<&'a LoginMethod> {
    user.login_methods.iter().find(|m| {
        m.recipe_id == RECIPE_ID
            && match contact {
                Contact::Email(e) => m.email.as_deref() == Some(e.as_str()),
                Contact::Phone(p) => m.phone_number.as_deref() == Some(p.as_str()),
            }
    })
}

/// Which devices `GET /recipe/signinup/codes` lists.
#[derive(Debug, Clone)]
pub enum DeviceQuery {
    Email(String),
    PhoneNumber(String),
    DeviceId(String),
    PreAuthSessionId(String),
}

/// The outcome of `PUT /recipe/user` (passwordless).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordlessUpdateOutcome {
    Ok,
    UnknownUser,
    EmailAlreadyExists,
    PhoneNumberAlreadyExists,
    EmailChangeNotAllowed,
    PhoneNumberChangeNotAllowed,
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;

    fn device(failed: i32) -> PasswordlessDevice {
        PasswordlessDevice {
            device_id_hash: "d".into(),
            email: Some("a@b.c".into()),
            phone_number: None,
            link_code_salt: "s".into(),
            failed_attempts: failed,
        }
    }

    fn code(created_at: i64) -> PasswordlessCode {
        PasswordlessCode { code_id: "c".into(), device_id_hash: "d".into(), link_code_hash: "h".into(), created_at }
    }

    const RULES: CodeRules = CodeRules { now: 1_000, lifetime: 100, max_attempts: 3, typed: true, consume: true };

    #[test]
    fn judging_a_code() {
        let (d, live, old) = (device(0), code(900), code(899));
        assert_eq!(judge(None, Some(&live), &RULES), (CodeAction::Keep, Verdict::Restart));
        assert_eq!(judge(Some(&d), Some(&live), &RULES), (CodeAction::DeleteDevicesOfContact, Verdict::Accept));
        let check = CodeRules { consume: false, ..RULES };
        assert_eq!(judge(Some(&d), Some(&live), &check), (CodeAction::Keep, Verdict::Accept));
        assert_eq!(judge(Some(&d), None, &RULES), (CodeAction::CountFailure, Verdict::Incorrect(1)));
        assert_eq!(judge(Some(&d), Some(&old), &RULES), (CodeAction::CountFailure, Verdict::Expired(1)));
        // The attempt that reaches the maximum removes the device.
        assert_eq!(judge(Some(&device(2)), None, &RULES), (CodeAction::DeleteDevice, Verdict::Restart));
        // A maximum lowered below the count: the device goes, even with a right code.
        assert_eq!(judge(Some(&device(5)), Some(&live), &RULES), (CodeAction::DeleteDevice, Verdict::Restart));
        // A link that is wrong or expired counts nothing.
        let link = CodeRules { typed: false, ..RULES };
        assert_eq!(judge(Some(&d), None, &link), (CodeAction::Keep, Verdict::Restart));
        assert_eq!(judge(Some(&d), Some(&old), &link), (CodeAction::Keep, Verdict::Restart));
        // Another device's code is no code of this one.
        let other = PasswordlessCode { device_id_hash: "x".into(), ..live };
        assert_eq!(judge(Some(&d), Some(&other), &RULES), (CodeAction::CountFailure, Verdict::Incorrect(1)));
    }

    /// The reference's derivations, checked against values computed independently (Python's
    /// `hmac`/`hashlib`/`base64` on the same bytes).
    #[test]
    fn codes_are_derived_as_the_reference() {
        let device_id = [1u8; 32];
        let salt = [2u8; 32];
        assert_eq!(STANDARD.encode(device_id), "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=");
        assert_eq!(device_id_hash(&device_id), "cs1uhCLEB_ttCYaQ8RMLfe1-wvf14dML2dUh8BU2N5M");
        let link = link_code(&device_id, &salt, "123456");
        assert_eq!(URL_SAFE_NO_PAD.encode(&link), "5F-gDG2dqpl_eq4dsP_kRyBN13fCEVVRhlGs8OCm6Q0");
        assert_eq!(link_code_hash(&link), "jmMJX7FfBv1-iujNe7LhSYMLORrUmf7tgQMAiBatYOI=");
        // Java's decoders: padding optional.
        assert_eq!(JAVA_STANDARD.decode("AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE").ok(), Some(device_id.to_vec()));
        assert!(JAVA_STANDARD.decode("AQ-_").is_err());
        assert!(JAVA_URL_SAFE.decode("AQ+/").is_err());
    }

    #[test]
    fn user_input_codes_are_six_digits() {
        let rng = crate::random::SystemRandom::new();
        for _ in 0..50 {
            let c = generate_user_input_code(&rng);
            assert_eq!(c.len(), 6);
            assert!(c.chars().all(|x| x.is_ascii_digit()), "{c}");
        }
    }

    #[test]
    fn phone_numbers_as_the_reference() {
        assert_eq!(normalise_phone_number(" +1 (650) 555-1234 "), "+16505551234");
        assert_eq!(normalise_phone_number("+44 20 7946 0958"), "+442079460958");
        // No default region: a national number does not parse, and is only trimmed.
        assert_eq!(normalise_phone_number(" 650 555 1234\t"), "650 555 1234");
        assert_eq!(normalise_phone_number("not a number"), "not a number");
    }
}
