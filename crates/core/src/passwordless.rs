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
use crate::core::{Core, TenantEntry};
use crate::error::{CoreError, CoreResult};
use crate::ids::{java_trim, AppId, Email, TenantIdentifier};
use crate::jobs::ExpiryJob;
use crate::multitenancy::{recipe_enabled, LoginRecipe};
use crate::random::{bytes, ct_eq, uuid_v4, Random};
use crate::storage::{
    AuthUser, CodeAction, Contact, CreateCodeResult, CreatePasswordlessUserResult, DeviceWithCodes, FieldUpdate,
    LoginMethod, PasswordlessCode, PasswordlessDevice, PasswordlessUpdateResult, TenantRecord,
};
use crate::users::User;
use base64::alphabet;
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use std::time::Duration;

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

impl Core {
    /// `POST /<tenant>/recipe/signinup/code`: a new flow (device) with its first code, or
    /// another code for an existing device.
    pub async fn pl_create_code(
        &self,
        tenant: &TenantIdentifier,
        target: CodeTarget,
        user_input_code: Option<&str>,
        version: CdiVersion,
    ) -> CoreResult<CreateCodeOutcome> {
        let entry = self.tenant(tenant).await?;
        check_enabled(&entry.record, version)?;
        let lifetime = entry.config.passwordless_code_lifetime_ms;
        let code_for = |device_id: &[u8], salt: &[u8], device_id_hash: &str| {
            let user_input_code = match user_input_code {
                Some(c) => c.to_string(),
                None => generate_user_input_code(self.rng.as_ref()),
            };
            let link = link_code(device_id, salt, &user_input_code);
            let code = PasswordlessCode {
                code_id: uuid_v4(self.rng.as_ref()),
                device_id_hash: device_id_hash.to_string(),
                link_code_hash: link_code_hash(&link),
                created_at: self.now(),
            };
            let created = CreatedCode {
                pre_auth_session_id: device_id_hash.to_string(),
                code_id: code.code_id.clone(),
                device_id: STANDARD.encode(device_id),
                user_input_code,
                link_code: URL_SAFE_NO_PAD.encode(link),
                time_created: code.created_at,
                code_lifetime: lifetime,
            };
            (code, created)
        };
        let contact = match target {
            CodeTarget::Email(e) => Contact::Email(Email::normalise(&e).into_string()),
            CodeTarget::PhoneNumber(p) => Contact::Phone(normalise_phone_number(&p)),
            CodeTarget::DeviceId(device_id) => {
                let device_id = decode_standard(&device_id, "deviceId")?;
                let hash = device_id_hash(&device_id);
                let Some(found) = self.storage.passwordless_device(tenant, &hash).await? else {
                    return Ok(CreateCodeOutcome::RestartFlow);
                };
                let salt = decode_standard(&found.device.link_code_salt, "LinkCodeSalt")?;
                for _ in 0..CREATE_ATTEMPTS {
                    let (code, created) = code_for(&device_id, &salt, &hash);
                    match self.storage.create_passwordless_code(tenant, &code).await? {
                        CreateCodeResult::Created => return Ok(CreateCodeOutcome::Ok(created)),
                        CreateCodeResult::UnknownDevice => return Ok(CreateCodeOutcome::RestartFlow),
                        // The caller's code gives the same link code every time.
                        CreateCodeResult::DuplicateLinkCodeHash if user_input_code.is_some() => {
                            return Ok(CreateCodeOutcome::UserInputCodeAlreadyUsed)
                        }
                        CreateCodeResult::DuplicateLinkCodeHash | CreateCodeResult::DuplicateId => {}
                    }
                }
                return Err(CoreError::Internal("no free code id after several attempts".into()));
            }
        };
        check_storable(&contact)?;
        for _ in 0..CREATE_ATTEMPTS {
            let device_id = bytes::<32>(self.rng.as_ref());
            let salt = bytes::<32>(self.rng.as_ref());
            let hash = device_id_hash(&device_id);
            let (code, created) = code_for(&device_id, &salt, &hash);
            let (email, phone_number) = match &contact {
                Contact::Email(e) => (Some(e.clone()), None),
                Contact::Phone(p) => (None, Some(p.clone())),
            };
            let device = PasswordlessDevice {
                device_id_hash: hash,
                email,
                phone_number,
                link_code_salt: STANDARD.encode(salt),
                failed_attempts: 0,
            };
            // Every collision is retryable: a new device id gives a new link code too.
            if self.storage.create_passwordless_device(tenant, &device, &code).await? == CreateCodeResult::Created {
                return Ok(CreateCodeOutcome::Ok(created));
            }
        }
        Err(CoreError::Internal("no free device id after several attempts".into()))
    }

    /// `POST /<tenant>/recipe/signinup/code/check`: whether the code is right, without using
    /// it up (a wrong one still counts).
    pub async fn pl_check_code(
        &self,
        tenant: &TenantIdentifier,
        pre_auth_session_id: &str,
        input: CodeInput,
        version: CdiVersion,
    ) -> CoreResult<CodeOutcome<ConsumedDevice>> {
        let entry = self.tenant(tenant).await?;
        check_enabled(&entry.record, version)?;
        Ok(match self.pl_judge(tenant, &entry, pre_auth_session_id, input, false).await? {
            CodeOutcome::Ok(device) => CodeOutcome::Ok(device.into()),
            CodeOutcome::IncorrectUserInputCode { failed, maximum } => {
                CodeOutcome::IncorrectUserInputCode { failed, maximum }
            }
            CodeOutcome::ExpiredUserInputCode { failed, maximum } => {
                CodeOutcome::ExpiredUserInputCode { failed, maximum }
            }
            CodeOutcome::RestartFlow => CodeOutcome::RestartFlow,
        })
    }

    /// `POST /<tenant>/recipe/signinup/code/consume`: use the code up (every device of its
    /// e-mail or phone number goes), then sign the tenant's passwordless user with that contact
    /// in, or up. From CDI 4.0 an e-mail is marked verified.
    pub async fn pl_consume_code(
        &self,
        tenant: &TenantIdentifier,
        pre_auth_session_id: &str,
        input: CodeInput,
        version: CdiVersion,
    ) -> CoreResult<CodeOutcome<Consumed>> {
        let entry = self.tenant(tenant).await?;
        check_enabled(&entry.record, version)?;
        let device = match self.pl_judge(tenant, &entry, pre_auth_session_id, input, true).await? {
            CodeOutcome::Ok(device) => device,
            CodeOutcome::IncorrectUserInputCode { failed, maximum } => {
                return Ok(CodeOutcome::IncorrectUserInputCode { failed, maximum })
            }
            CodeOutcome::ExpiredUserInputCode { failed, maximum } => {
                return Ok(CodeOutcome::ExpiredUserInputCode { failed, maximum })
            }
            CodeOutcome::RestartFlow => return Ok(CodeOutcome::RestartFlow),
        };
        let Some(contact) = contact_of(device.email.as_deref(), device.phone_number.as_deref()) else {
            return Err(CoreError::Internal("a passwordless device without an e-mail or phone number".into()));
        };
        let mark_verified = version >= CdiVersion::V4_0;
        let app = &tenant.app;
        let existing = match self.storage.passwordless_user_of(tenant, &contact).await? {
            Some(id) => self.storage.get_auth_user(app, &id).await?.and_then(|u| {
                let method = method_with(&u, &contact).filter(|m| m.recipe_user_id == id).cloned();
                method.map(|m| (u, m))
            }),
            None => None,
        };
        let (created_new_user, user, method_id) = match existing {
            None => {
                let id = uuid_v4(self.rng.as_ref());
                let created = self
                    .storage
                    .create_passwordless_user(
                        tenant,
                        &id,
                        device.email.as_deref(),
                        device.phone_number.as_deref(),
                        self.now(),
                    )
                    .await?;
                if created != CreatePasswordlessUserResult::Created {
                    // The contact was taken since the lookup (another consume, or an update):
                    // as the reference, the user starts again.
                    return Ok(CodeOutcome::RestartFlow);
                }
                if let (true, Some(email)) = (mark_verified, &device.email) {
                    self.storage.set_email_verified(app, &id, email).await?;
                }
                (true, self.existing_auth_user(app, &id).await?, id)
            }
            Some((user, method)) => {
                if let (true, Some(email)) = (mark_verified, &device.email) {
                    // Under the id the application uses for the login method (external when
                    // mapped), where the user object and the verification API look, as for
                    // third party (the reference writes the SuperTokens id; see
                    // COMPATIBILITY.md).
                    let shown = self.external_user_id(app, &method.recipe_user_id).await?;
                    self.storage.set_email_verified(app, &shown, email).await?;
                }
                // Codes sent to the user's other contact go too.
                if let Some(e) = method.email.as_ref().filter(|e| device.email.as_ref() != Some(*e)) {
                    self.storage.remove_passwordless_devices_of(tenant, &Contact::Email(e.clone())).await?;
                }
                if let Some(p) = method.phone_number.as_ref().filter(|p| device.phone_number.as_ref() != Some(*p)) {
                    self.storage.remove_passwordless_devices_of(tenant, &Contact::Phone(p.clone())).await?;
                }
                (false, user, method.recipe_user_id)
            }
        };
        self.record_activity(app, &user.id).await;
        let mut json = self.user_json(app, &user).await?;
        if let (true, Some(email)) = (mark_verified, &device.email) {
            // The reference marks the login method verified in its answer whatever id the
            // verification was stored under.
            let shown = self.external_user_id(app, &method_id).await?;
            for m in json.login_methods.iter_mut() {
                if m.recipe_user_id == shown && m.email.as_ref() == Some(email) {
                    m.verified = true;
                }
            }
        }
        // As the reference: the first passwordless login method with the device's contact.
        let recipe_user_id = json
            .login_methods
            .iter()
            .find(|m| {
                m.recipe_id == RECIPE_ID
                    && (device.email.is_none() || m.email == device.email)
                    && (device.phone_number.is_none() || m.phone_number == device.phone_number)
            })
            .map(|m| m.recipe_user_id.clone());
        Ok(CodeOutcome::Ok(Consumed { created_new_user, user: json, recipe_user_id, device: device.into() }))
    }

    /// Find the device and the link-code hash a submitted code names, refuse a device that is
    /// not the session's, and have the storage judge the code under the device's lock.
    async fn pl_judge(
        &self,
        tenant: &TenantIdentifier,
        entry: &TenantEntry,
        pre_auth_session_id: &str,
        input: CodeInput,
        consume: bool,
    ) -> CoreResult<CodeOutcome<PasswordlessDevice>> {
        let rules = CodeRules {
            now: self.now(),
            lifetime: entry.config.passwordless_code_lifetime_ms,
            max_attempts: entry.config.passwordless_max_code_input_attempts,
            typed: matches!(input, CodeInput::UserInputCode { .. }),
            consume,
        };
        let (device_id_hash, link_hash) = match input {
            CodeInput::LinkCode(link) => {
                let link =
                    JAVA_URL_SAFE.decode(&link).map_err(|_| CoreError::bad("Input encoding error in linkCode"))?;
                let link_hash = link_code_hash(&link);
                match self.storage.passwordless_code_by_link_hash(tenant, &link_hash).await? {
                    Some(code) if code.created_at >= rules.now - rules.lifetime => (code.device_id_hash, link_hash),
                    _ => return Ok(CodeOutcome::RestartFlow),
                }
            }
            CodeInput::UserInputCode { device_id, user_input_code } => {
                let device_id = decode_standard(&device_id, "deviceId")?;
                let hash = device_id_hash(&device_id);
                let Some(found) = self.storage.passwordless_device(tenant, &hash).await? else {
                    return Ok(CodeOutcome::RestartFlow);
                };
                let salt = decode_standard(&found.device.link_code_salt, "LinkCodeSalt")?;
                (hash, link_code_hash(&link_code(&device_id, &salt, &user_input_code)))
            }
        };
        if !ct_eq(&device_id_hash, &pre_auth_session_id.replace('=', "")) {
            return Err(CoreError::bad("preAuthSessionId and deviceId doesn't match"));
        }
        let decide = move |d: Option<&PasswordlessDevice>, c: Option<&PasswordlessCode>| judge(d, c, &rules).0;
        let (device, code) = self.storage.judge_passwordless_code(tenant, &device_id_hash, &link_hash, &decide).await?;
        let maximum = rules.max_attempts;
        Ok(match (judge(device.as_ref(), code.as_ref(), &rules).1, device) {
            (Verdict::Accept, Some(device)) => CodeOutcome::Ok(device),
            (Verdict::Incorrect(failed), _) => CodeOutcome::IncorrectUserInputCode { failed, maximum },
            (Verdict::Expired(failed), _) => CodeOutcome::ExpiredUserInputCode { failed, maximum },
            _ => CodeOutcome::RestartFlow,
        })
    }

    /// `GET /<tenant>/recipe/signinup/codes`: the devices asked for with their codes, and the
    /// tenant's code lifetime.
    pub async fn pl_devices(
        &self,
        tenant: &TenantIdentifier,
        query: DeviceQuery,
    ) -> CoreResult<(Vec<DeviceWithCodes>, i64)> {
        let entry = self.tenant(tenant).await?;
        let lifetime = entry.config.passwordless_code_lifetime_ms;
        let contact = match query {
            DeviceQuery::Email(e) => Contact::Email(Email::normalise(&e).into_string()),
            DeviceQuery::PhoneNumber(p) => Contact::Phone(normalise_phone_number(&p)),
            DeviceQuery::DeviceId(id) => {
                let hash = device_id_hash(&decode_standard(&id, "deviceId")?);
                return Ok((self.storage.passwordless_device(tenant, &hash).await?.into_iter().collect(), lifetime));
            }
            DeviceQuery::PreAuthSessionId(hash) => {
                let found = if findable(&hash) { self.storage.passwordless_device(tenant, &hash).await? } else { None };
                return Ok((found.into_iter().collect(), lifetime));
            }
        };
        let devices = if findable(contact_value(&contact)) {
            self.storage.passwordless_devices_of(tenant, &contact).await?
        } else {
            Vec::new()
        };
        Ok((devices, lifetime))
    }

    /// `POST /<tenant>/recipe/signinup/codes/remove`: every device of an e-mail or phone number.
    pub async fn pl_remove_devices_of(
        &self,
        tenant: &TenantIdentifier,
        email: Option<&str>,
        phone_number: Option<&str>,
    ) -> CoreResult<()> {
        self.tenant(tenant).await?;
        if let Some(contact) = contact_of(email, phone_number).filter(|c| findable(contact_value(c))) {
            self.storage.remove_passwordless_devices_of(tenant, &contact).await?;
        }
        Ok(())
    }

    /// `POST /<tenant>/recipe/signinup/code/remove` by code id: the code, and its device with
    /// it when it was the last one.
    pub async fn pl_remove_code(&self, tenant: &TenantIdentifier, code_id: &str) -> CoreResult<()> {
        self.tenant(tenant).await?;
        if !findable(code_id) {
            return Ok(());
        }
        Ok(self.storage.remove_passwordless_code(tenant, code_id).await?)
    }

    /// `POST /<tenant>/recipe/signinup/code/remove` by `preAuthSessionId` (CDI 5.0+): the device.
    pub async fn pl_remove_device(&self, tenant: &TenantIdentifier, pre_auth_session_id: &str) -> CoreResult<()> {
        self.tenant(tenant).await?;
        if !findable(pre_auth_session_id) {
            return Ok(());
        }
        Ok(self.storage.remove_passwordless_device(tenant, pre_auth_session_id).await?)
    }

    /// The cron job: each tenant's devices whose codes are all older than its code lifetime.
    pub async fn delete_expired_passwordless_devices(&self, now: i64) -> CoreResult<u64> {
        let mut deleted = 0;
        for record in self.storage.list_tenants().await? {
            let entry = match self.tenant(&record.id).await {
                Ok(entry) => entry,
                Err(e) => {
                    tracing::warn!(tenant = %record.id.tenant, app = %record.id.app, "skipping the tenant: {e}");
                    continue;
                }
            };
            let cutoff = now - entry.config.passwordless_code_lifetime_ms;
            deleted += self.storage.delete_expired_passwordless_devices(&record.id, cutoff).await?;
        }
        Ok(deleted)
    }

    /// Deprecated `GET /recipe/user?userId=` (passwordless): the passwordless login method of
    /// that very id as a user of its own (see [`Core::ep_user_by_recipe_id`]).
    pub async fn pl_user_by_recipe_id(&self, app: &AppId, user_id: &str) -> CoreResult<Option<User>> {
        let Some((group, method)) = self.pl_group(app, user_id).await? else { return Ok(None) };
        let own =
            AuthUser { id: method.recipe_user_id.clone(), is_primary: group.is_primary, login_methods: vec![method] };
        Ok(Some(self.user_json(app, &own).await?))
    }

    /// Deprecated `GET /recipe/user?email=` / `?phoneNumber=` (passwordless): the user (whole
    /// group) with a passwordless login method of this contact in the tenant.
    pub async fn pl_user_by_contact(
        &self,
        tenant: &TenantIdentifier,
        email: Option<&str>,
        phone_number: Option<&str>,
    ) -> CoreResult<Option<User>> {
        self.tenant(tenant).await?;
        let Some(contact) = contact_of(email, phone_number).filter(|c| findable(contact_value(c))) else {
            return Ok(None);
        };
        let ids = match &contact {
            Contact::Email(e) => self.storage.users_by_email(tenant, e).await?,
            Contact::Phone(p) => self.storage.users_by_phone_number(tenant, p).await?,
        };
        for user in self.storage.get_auth_users(&tenant.app, &ids).await? {
            if method_with(&user, &contact).is_some() {
                return Ok(Some(self.user_json(&tenant.app, &user).await?));
            }
        }
        Ok(None)
    }

    /// The group of `user_id` (any id form) and that id's own passwordless login method.
    async fn pl_group(&self, app: &AppId, user_id: &str) -> CoreResult<Option<(AuthUser, LoginMethod)>> {
        let id = self.internal_user_id(app, user_id).await?;
        let Some(user) = self.storage.get_auth_user(app, &id).await? else { return Ok(None) };
        let own = user.login_methods.iter().find(|m| m.recipe_id == RECIPE_ID && m.recipe_user_id == id).cloned();
        Ok(own.map(|m| (user, m)))
    }

    /// `PUT /recipe/user` (passwordless): a new e-mail and/or phone number, `Some(None)`
    /// clearing one (both may not end up cleared: the reference's 400). The devices of the old
    /// and the new values go.
    pub async fn pl_update_user(
        &self,
        app: &AppId,
        recipe_user_id: &str,
        email: FieldUpdate<'_>,
        phone_number: FieldUpdate<'_>,
    ) -> CoreResult<PasswordlessUpdateOutcome> {
        let Some((_, method)) = self.pl_group(app, recipe_user_id).await? else {
            return Ok(PasswordlessUpdateOutcome::UnknownUser);
        };
        let email = email.map(|e| e.map(|e| Email::normalise(e).into_string()));
        let phone_number = phone_number.map(|p| p.map(normalise_phone_number));
        if let Some(Some(e)) = &email {
            check_storable(&Contact::Email(e.clone()))?;
        }
        if let Some(Some(p)) = &phone_number {
            check_storable(&Contact::Phone(p.clone()))?;
        }
        let will_have_email = email.as_ref().map_or(method.email.is_some(), Option::is_some);
        let will_have_phone = phone_number.as_ref().map_or(method.phone_number.is_some(), Option::is_some);
        if !will_have_email && !will_have_phone {
            return Err(CoreError::bad("You cannot clear both email and phone number of a user"));
        }
        // A primary user's new e-mail and phone number are checked by the storage, under the
        // linking lock.
        let result = self
            .storage
            .update_passwordless_user(
                app,
                &method.recipe_user_id,
                email.as_ref().map(|e| e.as_deref()),
                phone_number.as_ref().map(|p| p.as_deref()),
            )
            .await?;
        Ok(match result {
            PasswordlessUpdateResult::Ok => PasswordlessUpdateOutcome::Ok,
            PasswordlessUpdateResult::UnknownUser => PasswordlessUpdateOutcome::UnknownUser,
            PasswordlessUpdateResult::EmailAlreadyExists => PasswordlessUpdateOutcome::EmailAlreadyExists,
            PasswordlessUpdateResult::PhoneNumberAlreadyExists => PasswordlessUpdateOutcome::PhoneNumberAlreadyExists,
            PasswordlessUpdateResult::EmailChangeNotAllowed => PasswordlessUpdateOutcome::EmailChangeNotAllowed,
            PasswordlessUpdateResult::PhoneNumberChangeNotAllowed => {
                PasswordlessUpdateOutcome::PhoneNumberChangeNotAllowed
            }
        })
    }

    /// Supertokens ids of the users (primary ids) in `tenant` with a login method of this phone
    /// number (normalised here), for `GET /users/by-accountinfo`.
    pub(crate) async fn users_by_phone_number(&self, tenant: &TenantIdentifier, raw: &str) -> CoreResult<Vec<String>> {
        let phone = normalise_phone_number(raw);
        if !findable(&phone) {
            return Ok(Vec::new());
        }
        Ok(self.storage.users_by_phone_number(tenant, &phone).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
