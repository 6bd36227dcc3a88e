//! Bulk import (§a.20, the `ProcessBulkImportUsers` cron job of §f.2): users of another
//! system queued as JSON (`POST /bulk-import/users`, up to 10 000 a request), listed, counted
//! and removed, imported one at a time synchronously (`POST /bulk-import/import`) or by the
//! background job in batches.
//!
//! Every user is validated as the reference's `BulkImportUserUtils` does, with its messages
//! word for word (they are the API's contract): e-mail-password login methods with a bcrypt,
//! argon2 or Firebase-scrypt hash (checked by `crate::password`, as the hash import) or a
//! plain-text password (hashed at import with the app's algorithm), third-party and
//! passwordless login methods, their tenants, a primary login method linking them
//! (`isPrimary`), verified e-mails, TOTP devices, roles (which must exist), metadata, an
//! external user id, and the time joined. A user is imported by one storage intent
//! ([`crate::storage::BulkImportStorage::import_user`]): all of it or nothing, with the
//! reference's `E0xx` messages when an e-mail, a provider pair, a phone number, an external id
//! or an account-linking rule refuses it.
//!
//! The job claims rows (`NEW`, or `PROCESSING` left by a claimer that died, after
//! [`CLAIM_TIMEOUT_MS`]) in chunks of `bulk_migration_batch_size / bulk_migration_parallelism`,
//! validates and plans each (a plain-text password is hashed here, outside any lock), and
//! settles them: an imported user and the removal of its row are one transaction; invalid or
//! refused rows become `FAILED` with the reason in `error_msg`.

use crate::cdi::CdiVersion;
use crate::core::Core;
use crate::error::{CoreError, CoreResult};
use crate::ids::{AppId, Email};
use crate::jobs::Job;
use crate::password::{self, Algorithm};
use crate::random::{bytes, uuid_v4, Random};
use crate::storage::{
    BulkImportRow, BulkImportStatus, FinishReport, ImportLoginMethod, ImportOutcome, ImportPlan, RowAction, TotpDevice,
};
use crate::users::User;
use async_trait::async_trait;
use base64::Engine;
use serde_json::{json, Map, Value};
use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

/// Users one `POST /bulk-import/users` may queue.
pub const MAX_USERS_TO_ADD: usize = 10_000;
/// The largest page of `GET /bulk-import/users`.
pub const GET_USERS_PAGINATION_MAX_LIMIT: i64 = 500;
/// Its default page.
pub const GET_USERS_DEFAULT_LIMIT: i64 = 100;
/// Ids one `POST /bulk-import/users/remove` may name.
pub const DELETE_USERS_MAX_LIMIT: usize = 500;
/// `ProcessBulkImportUsers` runs every 5 minutes.
pub const PROCESS_USERS_INTERVAL: Duration = Duration::from_secs(5 * 60);
/// A `PROCESSING` row whose claim is older than this is claimed again (its claimer died).
pub const CLAIM_TIMEOUT_MS: i64 = 10 * 60 * 1000;

/// The `error` of `POST /bulk-import/users`' 400 when a user is invalid.
pub const INVALID_DATA: &str = "Data has missing or invalid fields. Please check the users field for more details.";

/// How the supertokens ids of the login methods are found: drawn for a new user, read back
/// from a queued one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdMode {
    Generate,
    ReadStored,
}

/// What the validation needs to know about the app.
#[derive(Debug, Clone)]
pub struct ValidationContext {
    pub roles: HashSet<String>,
    /// The app's tenant ids.
    pub tenants: HashSet<String>,
    pub firebase_key_set: bool,
    pub now: i64,
}

/// One validated login method (the reference's `BulkImportUser.LoginMethod`).
#[derive(Debug, Clone, PartialEq)]
pub struct BulkLoginMethod {
    pub tenant_ids: Vec<String>,
    pub is_verified: bool,
    pub is_primary: bool,
    pub time_joined: i64,
    pub recipe_id: String,
    pub email: Option<String>,
    pub password_hash: Option<String>,
    pub hashing_algorithm: Option<String>,
    pub plain_text_password: Option<String>,
    pub third_party_id: Option<String>,
    pub third_party_user_id: Option<String>,
    pub phone_number: Option<String>,
    pub supertokens_user_id: String,
}

impl BulkLoginMethod {
    /// As Gson writes it (nulls left out), in the reference's field order.
    fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("tenantIds".into(), json!(self.tenant_ids));
        m.insert("isVerified".into(), json!(self.is_verified));
        m.insert("isPrimary".into(), json!(self.is_primary));
        m.insert("timeJoinedInMSSinceEpoch".into(), json!(self.time_joined));
        m.insert("recipeId".into(), json!(self.recipe_id));
        let opt = [
            ("email", &self.email),
            ("passwordHash", &self.password_hash),
            ("hashingAlgorithm", &self.hashing_algorithm),
            ("plainTextPassword", &self.plain_text_password),
            ("thirdPartyId", &self.third_party_id),
            ("thirdPartyUserId", &self.third_party_user_id),
            ("phoneNumber", &self.phone_number),
        ];
        for (k, v) in opt {
            if let Some(v) = v {
                m.insert(k.into(), json!(v));
            }
        }
        m.insert("superTokensUserId".into(), json!(self.supertokens_user_id));
        Value::Object(m)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct BulkTotpDevice {
    pub secret_key: String,
    pub period: i32,
    pub skew: i32,
    pub device_name: Option<String>,
}

/// One validated user (the reference's `BulkImportUser`).
#[derive(Debug, Clone, PartialEq)]
pub struct BulkUser {
    /// The row's id: the main login method's id for a new user.
    pub id: String,
    pub external_user_id: Option<String>,
    pub user_metadata: Option<Map<String, Value>>,
    /// (role, tenant ids)
    pub user_roles: Option<Vec<(String, Vec<String>)>>,
    pub totp_devices: Option<Vec<BulkTotpDevice>>,
    pub login_methods: Vec<BulkLoginMethod>,
}

impl BulkUser {
    /// The stored JSON (`raw_data`), as the reference's `toRawDataForDbStorage`.
    pub fn raw_data(&self) -> String {
        let mut m = Map::new();
        m.insert("id".into(), json!(self.id));
        if let Some(e) = &self.external_user_id {
            m.insert("externalUserId".into(), json!(e));
        }
        if let Some(md) = &self.user_metadata {
            m.insert("userMetadata".into(), Value::Object(md.clone()));
        }
        if let Some(roles) = &self.user_roles {
            let roles: Vec<Value> = roles.iter().map(|(r, t)| json!({"role": r, "tenantIds": t})).collect();
            m.insert("userRoles".into(), Value::Array(roles));
        }
        if let Some(devices) = &self.totp_devices {
            let devices: Vec<Value> = devices
                .iter()
                .map(|d| {
                    let mut o = json!({"secretKey": d.secret_key, "period": d.period, "skew": d.skew});
                    if let Some(n) = &d.device_name {
                        o["deviceName"] = json!(n);
                    }
                    o
                })
                .collect();
            m.insert("totpDevices".into(), Value::Array(devices));
        }
        m.insert("loginMethods".into(), Value::Array(self.login_methods.iter().map(|l| l.to_json()).collect()));
        Value::Object(m).to_string()
    }

    /// The main login method: the one marked primary, else the oldest (the first of equals).
    pub fn main_method(&self) -> Option<&BulkLoginMethod> {
        main_method(&self.login_methods)
    }

    /// `POST /bulk-import/users`' answer for this user (`toResponseJson`).
    pub fn response_json(&self) -> Value {
        let methods: Vec<Value> = self
            .login_methods
            .iter()
            .map(|l| {
                let mut o = json!({"recipeId": l.recipe_id, "userId": l.supertokens_user_id, "tenants": l.tenant_ids});
                match l.recipe_id.as_str() {
                    "emailpassword" => o["email"] = json!(l.email),
                    "thirdparty" => {
                        o["email"] = json!(l.email);
                        o["thirdpartyId"] = json!(l.third_party_id);
                        o["thirdpartyUserId"] = json!(l.third_party_user_id);
                    }
                    "passwordless" => {
                        o["email"] = json!(l.email);
                        o["phoneNumber"] = json!(l.phone_number);
                    }
                    _ => {}
                }
                o
            })
            .collect();
        json!({"userId": self.external_user_id.as_deref().unwrap_or(&self.id), "loginMethods": methods})
    }
}

fn main_method(methods: &[BulkLoginMethod]) -> Option<&BulkLoginMethod> {
    let mut oldest = methods.first()?;
    for m in methods {
        if m.is_primary {
            return Some(m);
        }
        if m.time_joined < oldest.time_joined {
            oldest = m;
        }
    }
    Some(oldest)
}

/// A queued row as `GET /bulk-import/users` lists it (`BulkImportUser.toJsonObject`): its
/// stored JSON with the row's id, then its status, primary user id, error and times.
pub fn row_json(row: &BulkImportRow) -> Value {
    let mut m = match serde_json::from_str::<Value>(&row.raw_data) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    m.insert("id".into(), json!(row.id));
    if !m.contains_key("loginMethods") {
        m.insert("loginMethods".into(), json!([]));
    }
    m.insert("status".into(), json!(row.status.as_str()));
    if let Some(p) = &row.primary_user_id {
        m.insert("primaryUserId".into(), json!(p));
    }
    if let Some(e) = &row.error_msg {
        m.insert("errorMessage".into(), json!(e));
    }
    m.insert("createdAt".into(), json!(row.created_at));
    m.insert("updatedAt".into(), json!(row.updated_at));
    Value::Object(m)
}

/// `base64("<id>;<created_at>")` (`BulkImportUserPaginationToken`).
pub fn pagination_token(id: &str, created_at: i64) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{id};{created_at}"))
}

fn parse_pagination_token(token: &str) -> Option<(i64, String)> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(token).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let parts: Vec<&str> = text.split(';').collect();
    // Java's split drops trailing empty strings.
    let parts: Vec<&str> = {
        let mut p = parts;
        while p.last() == Some(&"") {
            p.pop();
        }
        p
    };
    if parts.len() != 2 {
        return None;
    }
    let created_at = parts[1].parse::<i64>().ok()?;
    Some((created_at, parts[0].to_string()))
}

/// Java's `String.isBlank`.
fn blank(s: &str) -> bool {
    s.chars().all(char::is_whitespace)
}

#[derive(Clone, Copy)]
enum Kind {
    Str,
    Int,
    Long,
    Bool,
    Object,
    ArrayOfString,
    ArrayOfObject,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Str => "string",
            Kind::Int | Kind::Long => "integer",
            Kind::Bool => "boolean",
            Kind::Object => "object",
            Kind::ArrayOfString => "array of string",
            Kind::ArrayOfObject => "array of object",
        }
    }

    fn accepts(self, v: &Value) -> bool {
        match self {
            Kind::Str => v.as_str().is_some_and(|s| !blank(s)),
            Kind::Int | Kind::Long => v.is_number(),
            Kind::Bool => v.is_boolean(),
            Kind::Object => v.is_object(),
            Kind::ArrayOfString => {
                v.as_array().is_some_and(|a| a.iter().all(|e| e.as_str().is_some_and(|s| !blank(s))))
            }
            Kind::ArrayOfObject => v.as_array().is_some_and(|a| a.iter().all(Value::is_object)),
        }
    }
}

/// `JsonValidatorUtils.parseAndValidateFieldType`: the field if present and of its kind; an
/// error for a wrong kind (JSON `null` included), or for a missing required field.
fn field<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    kind: Kind,
    required: bool,
    errors: &mut Vec<String>,
    suffix: &str,
) -> Option<&'a Value> {
    match obj.get(key) {
        Some(v) if kind.accepts(v) => Some(v),
        Some(_) => {
            errors.push(format!("{key} should be of type {}{suffix}", kind.name()));
            None
        }
        None => {
            if required {
                errors.push(format!("{key} is required{suffix}"));
            }
            None
        }
    }
}

fn string_field(
    obj: &Map<String, Value>,
    key: &str,
    required: bool,
    errors: &mut Vec<String>,
    suffix: &str,
) -> Option<String> {
    let value = field(obj, key, Kind::Str, required, errors, suffix).and_then(Value::as_str)?;
    // No column can store a NUL character (the plain-text password is only hashed).
    if value.contains('\0') && key != "plainTextPassword" {
        errors.push(format!("Field name '{key}' cannot contain a NUL character"));
        return None;
    }
    Some(value.to_string())
}

fn bool_field(obj: &Map<String, Value>, key: &str, errors: &mut Vec<String>, suffix: &str) -> Option<bool> {
    field(obj, key, Kind::Bool, false, errors, suffix).and_then(Value::as_bool)
}

/// A JSON number as Java's `Number.longValue()` (fractions truncated).
fn long_of(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| v.as_u64().map(|u| u as i64)).or_else(|| v.as_f64().map(|f| f as i64))
}

fn strings_of(v: &Value) -> Vec<String> {
    v.as_array().map(|a| a.iter().filter_map(|e| e.as_str().map(str::to_string)).collect()).unwrap_or_default()
}

/// Length as Java counts it (UTF-16 units).
fn jlen(s: &str) -> usize {
    s.encode_utf16().count()
}

/// Gson's `toString` of a login method, for the "has no tenantId" message.
fn method_text(m: &BulkLoginMethod) -> String {
    let mut v = m.to_json();
    if let Value::Object(o) = &mut v {
        o.remove("superTokensUserId");
        o.insert("superTokensUserId".into(), json!(m.supertokens_user_id));
    }
    v.to_string()
}

/// The reference's checks of a password hash and its algorithm, with the checks of this
/// server's hash import (`crate::password`: parameters it can verify, costs within bounds).
fn hash_errors(hash: &str, algorithm: &str, firebase_key_set: bool) -> Vec<String> {
    let kind = password::kind_of(hash);
    let mut errors = Vec::new();
    match algorithm {
        "ARGON2" if kind != Some(Algorithm::Argon2) => errors.push("Password hash is in invalid Argon2 format".into()),
        "BCRYPT" if kind != Some(Algorithm::Bcrypt) => errors.push("Password hash is in invalid BCrypt format".into()),
        "FIREBASE_SCRYPT" => {
            if !firebase_key_set {
                errors.push("'firebase_password_hashing_signer_key' cannot be null".into());
            } else if password::parse_firebase(hash).is_none() {
                errors.push("Password hash is in invalid Firebase SCrypt format".into());
            }
        }
        _ => {}
    }
    if errors.is_empty() {
        if kind == Some(Algorithm::Argon2) && !password::argon2_verifiable(hash) {
            errors.push(
                "Password hash is in invalid Argon2 format: this server cannot verify a hash with this salt or \
                 output length"
                    .into(),
            );
        } else if (kind.is_some() || password::parse_firebase(hash).is_some()) && !password::within_limits(hash) {
            let name = match kind {
                Some(Algorithm::Bcrypt) => "BCrypt",
                Some(Algorithm::Argon2) => "Argon2",
                None => "Firebase SCrypt",
            };
            errors.push(format!(
                "Password hash is in invalid {name} format: its cost parameters exceed this server's limits"
            ));
        }
    }
    errors
}

/// The validator of one request (or one job chunk): external ids must be unique across it.
pub struct Validator<'a> {
    ctx: &'a ValidationContext,
    rng: &'a dyn Random,
    external_ids: HashSet<String>,
}

impl<'a> Validator<'a> {
    pub fn new(ctx: &'a ValidationContext, rng: &'a dyn Random) -> Validator<'a> {
        Validator { ctx, rng, external_ids: HashSet::new() }
    }

    /// `createBulkImportUserFromJSON`: the user, or every error found, in the reference's order.
    pub fn user(&mut self, data: &Value, mode: IdMode) -> Result<BulkUser, Vec<String>> {
        let mut errors = Vec::new();
        let empty = Map::new();
        let obj = data.as_object().unwrap_or(&empty);
        let external = string_field(obj, "externalUserId", false, &mut errors, ".");
        let metadata =
            field(obj, "userMetadata", Kind::Object, false, &mut errors, ".").and_then(Value::as_object).cloned();
        let roles = self.roles(obj, &mut errors);
        let devices = self.totp_devices(obj, &mut errors);
        let methods = self.login_methods(obj, &mut errors, mode);
        let external = external.map(|e| {
            if jlen(&e) > 128 {
                errors.push(format!("externalUserId {e} is too long. Max length is 128."));
            }
            if !self.external_ids.insert(e.clone()) {
                errors.push(format!("externalUserId {e} is not unique. It is already used by another user."));
            }
            crate::ids::java_trim(&e).to_string()
        });
        // Roles' tenants must be tenants of a login method.
        if let Some(roles) = &roles {
            for (_, tenants) in roles {
                for t in tenants {
                    if t != "public" && !methods.iter().any(|m| m.tenant_ids.contains(t)) {
                        errors.push(format!("TenantId {t} for a user role does not exist in loginMethods."));
                    }
                }
            }
        }
        for m in &methods {
            if m.tenant_ids.is_empty() {
                errors.push(format!("LoginMethod '{}' has no tenantId", method_text(m)));
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let Some(id) = main_method(&methods).map(|m| m.supertokens_user_id.clone()) else {
            return Err(vec!["At least one loginMethod is required.".into()]);
        };
        Ok(BulkUser {
            id,
            external_user_id: external,
            user_metadata: metadata,
            user_roles: roles,
            totp_devices: devices,
            login_methods: methods,
        })
    }

    fn tenant_ids(&self, raw: Option<&Value>, errors: &mut Vec<String>, suffix: &str) -> Vec<String> {
        let Some(raw) = raw else { return vec!["public".into()] };
        let mut out = Vec::new();
        for t in strings_of(raw) {
            if t == "public" {
                out.push(t);
                continue;
            }
            let normalised = crate::ids::java_trim(&t).to_lowercase();
            if self.ctx.tenants.contains(&normalised) {
                out.push(normalised);
            } else {
                errors.push(format!("Invalid tenantId: {t}{suffix}"));
            }
        }
        out
    }

    fn roles(&self, obj: &Map<String, Value>, errors: &mut Vec<String>) -> Option<Vec<(String, Vec<String>)>> {
        let list = field(obj, "userRoles", Kind::ArrayOfObject, false, errors, ".")?.as_array()?;
        let mut out = Vec::new();
        let empty = Map::new();
        for r in list {
            let r = r.as_object().unwrap_or(&empty);
            let suffix = " for a user role.";
            let role = string_field(r, "role", true, errors, suffix);
            let tenants = field(r, "tenantIds", Kind::ArrayOfString, true, errors, suffix);
            let role = role.map(|role| {
                if jlen(&role) > 255 {
                    errors.push(format!("role {role} is too long. Max length is 255."));
                }
                let role = crate::ids::java_trim(&role).to_string();
                if !self.ctx.roles.contains(&role) {
                    errors.push(format!("Role {role} does not exist."));
                }
                role
            });
            let tenants = tenants.map(|t| self.tenant_ids(Some(t), errors, suffix));
            if let (Some(role), Some(tenants)) = (role, tenants) {
                out.push((role, tenants));
            }
        }
        Some(out)
    }

    fn totp_devices(&self, obj: &Map<String, Value>, errors: &mut Vec<String>) -> Option<Vec<BulkTotpDevice>> {
        let list = field(obj, "totpDevices", Kind::ArrayOfObject, false, errors, ".")?.as_array()?;
        let mut out = Vec::new();
        let empty = Map::new();
        for d in list {
            let d = d.as_object().unwrap_or(&empty);
            let suffix = " for a totp device.";
            let secret = string_field(d, "secretKey", true, errors, suffix);
            let period = field(d, "period", Kind::Int, false, errors, suffix).and_then(long_of).map(|v| v as i32);
            let skew = field(d, "skew", Kind::Int, false, errors, suffix).and_then(long_of).map(|v| v as i32);
            let name = string_field(d, "deviceName", false, errors, suffix);
            if let Some(s) = &secret {
                if jlen(s) > 256 {
                    errors.push(format!("TOTP secretKey {s} is too long. Max length is 256."));
                }
            }
            let period = match period {
                None => Some(30),
                Some(p) if p < 1 => {
                    errors.push("period should be > 0 for a totp device.".into());
                    None
                }
                p => p,
            };
            let skew = match skew {
                None => Some(1),
                Some(s) if s < 0 => {
                    errors.push("skew should be >= 0 for a totp device.".into());
                    None
                }
                s => s,
            };
            let name = name.map(|n| {
                if jlen(&n) > 256 {
                    errors.push(format!("TOTP deviceName {n} is too long. Max length is 256."));
                }
                crate::ids::java_trim(&n).to_string()
            });
            if let (Some(secret_key), Some(period), Some(skew)) = (secret, period, skew) {
                out.push(BulkTotpDevice { secret_key, period, skew, device_name: name });
            }
        }
        Some(out)
    }

    fn login_methods(&self, obj: &Map<String, Value>, errors: &mut Vec<String>, mode: IdMode) -> Vec<BulkLoginMethod> {
        let Some(list) = field(obj, "loginMethods", Kind::ArrayOfObject, true, errors, ".").and_then(Value::as_array)
        else {
            return Vec::new();
        };
        if list.is_empty() {
            errors.push("At least one loginMethod is required.".into());
            return Vec::new();
        }
        // (Account linking is always enabled here: several login methods are allowed.)
        let mut has_primary = false;
        for m in list {
            if m.get("isPrimary").and_then(Value::as_bool) == Some(true) {
                if has_primary {
                    errors.push("No two loginMethods can have isPrimary as true.".into());
                }
                has_primary = true;
            }
        }
        let mut out = Vec::new();
        let empty = Map::new();
        for m in list {
            let m = m.as_object().unwrap_or(&empty);
            let lm = " for a loginMethod.";
            let recipe_id = string_field(m, "recipeId", true, errors, lm);
            let tenants = field(m, "tenantIds", Kind::ArrayOfString, false, errors, lm);
            let is_verified = bool_field(m, "isVerified", errors, lm);
            let is_primary = bool_field(m, "isPrimary", errors, lm);
            let time_joined =
                field(m, "timeJoinedInMSSinceEpoch", Kind::Long, false, errors, " for a loginMethod").and_then(long_of);
            if let Some(r) = &recipe_id {
                if !["emailpassword", "thirdparty", "passwordless"].contains(&r.as_str()) {
                    errors.push(
                        "Invalid recipeId for loginMethod. Pass one of emailpassword, thirdparty or, passwordless!"
                            .into(),
                    );
                }
            }
            let recipe_text = recipe_id.clone().unwrap_or_else(|| "null".into());
            let tenant_ids = self.tenant_ids(tenants, errors, &format!(" for {recipe_text} recipe."));
            let time_joined = match time_joined {
                None => self.ctx.now,
                Some(t) => {
                    if t > self.ctx.now {
                        errors.push("timeJoined cannot be in future for a loginMethod.".into());
                    }
                    if t < 0 {
                        errors.push("timeJoined cannot be < 0 for a loginMethod.".into());
                    }
                    t
                }
            };
            let supertokens_user_id = match mode {
                IdMode::ReadStored => string_field(m, "superTokensUserId", true, errors, " for a loginMethod"),
                IdMode::Generate => Some(uuid_v4(self.rng)),
            }
            .unwrap_or_default();
            let mut method = BulkLoginMethod {
                tenant_ids,
                is_verified: is_verified.unwrap_or(false),
                is_primary: is_primary.unwrap_or(false),
                time_joined,
                recipe_id: recipe_text.clone(),
                email: None,
                password_hash: None,
                hashing_algorithm: None,
                plain_text_password: None,
                third_party_id: None,
                third_party_user_id: None,
                phone_number: None,
                supertokens_user_id,
            };
            match recipe_id.as_deref() {
                Some("emailpassword") => {
                    let s = " for an emailpassword recipe.";
                    let email = string_field(m, "email", true, errors, s);
                    let hash = string_field(m, "passwordHash", false, errors, s);
                    let algorithm = string_field(m, "hashingAlgorithm", false, errors, s);
                    let plain = string_field(m, "plainTextPassword", false, errors, s);
                    if (hash.is_none() || algorithm.is_none()) && plain.is_none() {
                        errors.push(
                            "Either (passwordHash, hashingAlgorithm) or plainTextPassword is required for an \
                             emailpassword recipe."
                                .into(),
                        );
                    }
                    method.email = email.map(|e| normalise_email(&e, errors));
                    let normalised = algorithm.as_deref().map(|a| crate::ids::java_trim(a).to_ascii_uppercase());
                    let known = normalised.filter(|a| ["BCRYPT", "ARGON2", "FIREBASE_SCRYPT"].contains(&a.as_str()));
                    if algorithm.is_some() && known.is_none() {
                        errors.push(
                            "Invalid hashingAlgorithm for emailpassword recipe. Pass one of bcrypt, argon2 or, \
                             firebase_scrypt!"
                                .into(),
                        );
                    }
                    method.password_hash = match (&known, hash) {
                        (Some(alg), Some(h)) => {
                            if jlen(&h) > 256 {
                                errors.push("passwordHash is too long. Max length is 256.".into());
                            }
                            let h = crate::ids::java_trim(&h).to_string();
                            errors.extend(hash_errors(&h, alg, self.ctx.firebase_key_set));
                            Some(h)
                        }
                        (_, h) => h,
                    };
                    method.hashing_algorithm = known.or(algorithm);
                    method.plain_text_password = plain;
                    out.push(method);
                }
                Some("thirdparty") => {
                    let s = " for a thirdparty recipe.";
                    let email = string_field(m, "email", true, errors, s);
                    let tp_id = string_field(m, "thirdPartyId", true, errors, s);
                    let tp_uid = string_field(m, "thirdPartyUserId", true, errors, s);
                    method.email = email.map(|e| normalise_email(&e, errors));
                    if let Some(id) = &tp_id {
                        if jlen(id) > 28 {
                            errors.push(format!("thirdPartyId {id} is too long. Max length is 28."));
                        }
                    }
                    if let Some(uid) = &tp_uid {
                        if jlen(uid) > 256 {
                            errors.push(format!("thirdPartyUserId {uid} is too long. Max length is 256."));
                        }
                    }
                    method.third_party_id = tp_id;
                    method.third_party_user_id = tp_uid;
                    out.push(method);
                }
                Some("passwordless") => {
                    let s = " for a passwordless recipe.";
                    let email = string_field(m, "email", false, errors, s);
                    let phone = string_field(m, "phoneNumber", false, errors, s);
                    method.email = email.map(|e| normalise_email(&e, errors));
                    method.phone_number = phone.map(|p| {
                        if jlen(&p) > 256 {
                            errors.push(format!("phoneNumber {p} is too long. Max length is 256."));
                        }
                        crate::passwordless::normalise_phone_number(&p)
                    });
                    if method.email.is_none() && method.phone_number.is_none() {
                        errors.push("Either email or phoneNumber is required for a passwordless recipe.".into());
                    }
                    out.push(method);
                }
                _ => {}
            }
        }
        out
    }
}

fn normalise_email(email: &str, errors: &mut Vec<String>) -> String {
    if jlen(email) > 255 {
        errors.push(format!("email {email} is too long. Max length is 256."));
    }
    Email::normalise(email).into_string()
}

/// A job row's validation errors as the reference stores them (`String.valueOf(List)`).
pub fn errors_text(errors: &[String]) -> String {
    format!("[{}]", errors.join(", "))
}

/// A refused import's messages as one `error_msg`: the message when there is one.
pub fn refusal_text(messages: &[String]) -> String {
    match messages {
        [one] => one.clone(),
        many => errors_text(many),
    }
}

/// What `POST /bulk-import/users` did.
#[derive(Debug)]
pub enum AddOutcome {
    /// The users' answers (`toResponseJson`), in order.
    Added(Vec<Value>),
    /// (index, errors) of each invalid user: nothing was queued.
    Invalid(Vec<(usize, Vec<String>)>),
}

/// What `POST /bulk-import/import` did.
#[derive(Debug)]
pub enum ImportUserOutcome {
    Imported(Box<User>),
    /// The errors (validation, or the import's refusals): a 400 whose body is `{"errors":[…]}`.
    Invalid(Vec<String>),
}

/// A page of `GET /bulk-import/users`.
#[derive(Debug)]
pub struct RowsPage {
    pub users: Vec<Value>,
    pub next_pagination_token: Option<String>,
}

/// What one run of the job did (for tests and logs).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ProcessReport {
    pub imported: usize,
    pub failed: usize,
    pub skipped: usize,
}

impl ProcessReport {
    fn add(&mut self, r: &FinishReport) {
        self.imported += r.imported.len();
        self.failed += r.failed.len();
        self.skipped += r.skipped.len();
    }
}

/// Poll the futures concurrently (in the calling task) and collect their outputs in order.
async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
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

/// `ProcessBulkImportUsers`: at start-up and every 5 minutes, import the queued users of every app.
/// Exclusive (one instance at a time); the claims are safe without the lease too.
pub struct ProcessBulkImportUsers;

#[async_trait]
impl Job for ProcessBulkImportUsers {
    fn name(&self) -> &'static str {
        "ProcessBulkImportUsers"
    }
    fn interval(&self) -> Duration {
        PROCESS_USERS_INTERVAL
    }
    /// As the reference (its initial wait is 0): queued users are imported from start-up.
    fn runs_at_start(&self) -> bool {
        true
    }
    async fn run(&self, core: &Core) -> CoreResult<()> {
        let report = core.process_bulk_import().await?;
        if report != ProcessReport::default() {
            tracing::info!(
                imported = report.imported,
                failed = report.failed,
                skipped = report.skipped,
                "bulk import rows processed"
            );
        }
        Ok(())
    }
}

impl Core {
    async fn validation_context(&self, app: &AppId) -> CoreResult<ValidationContext> {
        let cfg = self.app_config(app).await?;
        let roles = self.storage.all_roles(app).await?.into_iter().collect();
        let tenants = self
            .list_tenant_records()
            .await?
            .into_iter()
            .filter(|t| &t.id.app == app)
            .map(|t| t.id.tenant.as_str().to_string())
            .collect();
        Ok(ValidationContext {
            roles,
            tenants,
            firebase_key_set: cfg.firebase_password_hashing_signer_key.is_some(),
            now: self.now(),
        })
    }

    /// `POST /bulk-import/users`: validate every user (all errors of all users), then queue
    /// them all (new ids drawn if one is taken).
    pub async fn bulk_import_add(&self, app: &AppId, users: &[Value]) -> CoreResult<AddOutcome> {
        self.app(app).await?;
        let ctx = self.validation_context(app).await?;
        let mut validator = Validator::new(&ctx, self.rng.as_ref());
        let mut valid = Vec::with_capacity(users.len());
        let mut invalid = Vec::new();
        for (i, u) in users.iter().enumerate() {
            match validator.user(u, IdMode::Generate) {
                Ok(user) => valid.push(user),
                Err(errors) => invalid.push((i, errors)),
            }
        }
        if !invalid.is_empty() {
            return Ok(AddOutcome::Invalid(invalid));
        }
        for _ in 0..8 {
            let rows: Vec<(String, String)> = valid.iter().map(|u| (u.id.clone(), u.raw_data())).collect();
            if self.storage.add_bulk_import_rows(app, &rows, self.now()).await? {
                return Ok(AddOutcome::Added(valid.iter().map(BulkUser::response_json).collect()));
            }
            // As the reference: a taken id, so every row gets a new one.
            for u in &mut valid {
                u.id = uuid_v4(self.rng.as_ref());
            }
        }
        Err(CoreError::Internal("could not find free bulk import ids".into()))
    }

    /// `GET /bulk-import/users`
    pub async fn bulk_import_rows(
        &self,
        app: &AppId,
        status: Option<BulkImportStatus>,
        limit: i64,
        token: Option<&str>,
    ) -> CoreResult<RowsPage> {
        let from = match token {
            None => None,
            Some(t) => Some(parse_pagination_token(t).ok_or_else(|| CoreError::bad("invalid pagination token"))?),
        };
        let limit = limit.max(1) as usize;
        let mut rows = self.storage.bulk_import_rows(app, status, limit + 1, from).await?;
        let next = if rows.len() > limit { rows.pop().map(|r| pagination_token(&r.id, r.created_at)) } else { None };
        Ok(RowsPage { users: rows.iter().map(row_json).collect(), next_pagination_token: next })
    }

    /// `GET /bulk-import/users/count`
    pub async fn bulk_import_count(&self, app: &AppId, status: Option<BulkImportStatus>) -> CoreResult<u64> {
        Ok(self.storage.count_bulk_import_rows(app, status).await?)
    }

    /// `POST /bulk-import/users/remove`: the ids removed.
    pub async fn bulk_import_delete(&self, app: &AppId, ids: &[String]) -> CoreResult<Vec<String>> {
        Ok(self.storage.delete_bulk_import_rows(app, ids).await?)
    }

    /// The storage plan of a validated user (plain-text passwords hashed with the app's algorithm).
    async fn import_plan(&self, app: &AppId, user: &BulkUser) -> CoreResult<ImportPlan> {
        let cfg = self.app_config(app).await?;
        let main = user.main_method().ok_or_else(|| CoreError::bad("At least one loginMethod is required."))?;
        let mut methods = Vec::with_capacity(user.login_methods.len());
        for m in &user.login_methods {
            let password_hash = match (&m.password_hash, &m.plain_text_password) {
                (Some(h), _) => Some(h.clone()),
                (None, Some(p)) => Some(self.hashing.hash(p, &cfg, bytes::<16>(self.rng.as_ref())).await?),
                (None, None) => None,
            };
            let third_party = match (&m.third_party_id, &m.third_party_user_id) {
                (Some(a), Some(b)) => Some((a.clone(), b.clone())),
                _ => None,
            };
            methods.push(ImportLoginMethod {
                recipe_id: m.recipe_id.clone(),
                recipe_user_id: m.supertokens_user_id.clone(),
                tenant_ids: m.tenant_ids.clone(),
                time_joined: m.time_joined,
                email: m.email.clone(),
                password_hash: if m.recipe_id == "emailpassword" { password_hash } else { None },
                third_party,
                phone_number: m.phone_number.clone(),
                verified: m.is_verified && m.email.is_some(),
            });
        }
        let mut roles = Vec::new();
        for (role, tenants) in user.user_roles.iter().flatten() {
            for t in tenants {
                roles.push((t.clone(), role.clone()));
            }
        }
        let now = self.now();
        let mut totp_devices: Vec<TotpDevice> = Vec::new();
        for d in user.totp_devices.iter().flatten() {
            // A device without a name gets the first free `TotpDevice<n>`.
            let name = match &d.device_name {
                Some(n) => n.clone(),
                None => {
                    let mut i = 0;
                    loop {
                        let candidate = if i == 0 { "TotpDevice".to_string() } else { format!("TotpDevice{i}") };
                        let taken = totp_devices.iter().any(|x| x.name == candidate)
                            || user.totp_devices.iter().flatten().any(|x| x.device_name.as_deref() == Some(&candidate));
                        if !taken {
                            break candidate;
                        }
                        i += 1;
                    }
                }
            };
            totp_devices.push(TotpDevice {
                name,
                secret_key: d.secret_key.clone(),
                period: d.period,
                skew: d.skew,
                verified: true,
                created_at: now,
            });
        }
        Ok(ImportPlan {
            methods,
            main_user_id: main.supertokens_user_id.clone(),
            linked: user.login_methods.iter().any(|m| m.is_primary),
            external_user_id: user.external_user_id.clone(),
            metadata: user.user_metadata.clone(),
            roles,
            totp_devices,
        })
    }

    /// `POST /bulk-import/import`: one user, validated and imported synchronously.
    pub async fn bulk_import_user(
        &self,
        app: &AppId,
        data: &Value,
        version: CdiVersion,
    ) -> CoreResult<ImportUserOutcome> {
        self.app(app).await?;
        let ctx = self.validation_context(app).await?;
        let user = match Validator::new(&ctx, self.rng.as_ref()).user(data, IdMode::Generate) {
            Ok(u) => u,
            Err(errors) => return Ok(ImportUserOutcome::Invalid(errors)),
        };
        let plan = self.import_plan(app, &user).await?;
        match self.storage.import_user(app, &plan, self.now()).await? {
            ImportOutcome::Refused(messages) => Ok(ImportUserOutcome::Invalid(messages)),
            ImportOutcome::Imported => {
                let user = self
                    .get_user(app, &plan.main_user_id)
                    .await?
                    .ok_or_else(|| CoreError::Internal("the imported user is gone".into()))?;
                Ok(ImportUserOutcome::Imported(Box::new(user.linked_at(version))))
            }
        }
    }

    /// One run of `ProcessBulkImportUsers` over every app.
    pub async fn process_bulk_import(&self) -> CoreResult<ProcessReport> {
        let mut apps: Vec<AppId> = self
            .list_tenant_records()
            .await?
            .into_iter()
            .filter(|t| t.id.tenant.is_public())
            .map(|t| t.id.app)
            .collect();
        apps.dedup();
        let mut report = ProcessReport::default();
        for app in apps {
            let r = self.process_bulk_import_app(&app).await?;
            report.imported += r.imported;
            report.failed += r.failed;
            report.skipped += r.skipped;
        }
        Ok(report)
    }

    /// The job's work for one app: chunks of `bulk_migration_batch_size /
    /// bulk_migration_parallelism` rows until none is left to claim.
    pub async fn process_bulk_import_app(&self, app: &AppId) -> CoreResult<ProcessReport> {
        let mut report = ProcessReport::default();
        let pending = self.storage.count_bulk_import_rows(app, Some(BulkImportStatus::New)).await?
            + self.storage.count_bulk_import_rows(app, Some(BulkImportStatus::Processing)).await?;
        if pending == 0 {
            return Ok(report);
        }
        let cfg = self.app_config(app).await?;
        let batch = cfg.int("bulk_migration_batch_size").max(1);
        let parallelism = cfg.int("bulk_migration_parallelism").max(1);
        let chunk = (batch / parallelism).max(1) as usize;
        let pause = cfg.int("bulk_migration_sleep_between_rounds_in_batch_ms").max(0) as u64;
        // Rounds of `parallelism` workers, each claiming and settling its own chunk, until a
        // round finds nothing to claim; a pause between rounds (the reference's pacing).
        loop {
            let workers = (0..parallelism).map(|_| self.process_bulk_import_chunk(app, chunk)).collect();
            let mut claimed = 0;
            for r in join_all(workers).await {
                let r = r?;
                claimed += r.imported.len() + r.failed.len() + r.skipped.len();
                report.add(&r);
            }
            if claimed == 0 {
                break;
            }
            if pause > 0 {
                tokio::time::sleep(Duration::from_millis(pause)).await;
            }
        }
        Ok(report)
    }

    /// Claim up to `limit` rows and leave them `PROCESSING`, unsettled: what an instance
    /// that dies after its claim leaves behind (for tests of the job's recovery). Returns how
    /// many rows were claimed.
    pub async fn bulk_import_claim_only(&self, app: &AppId, limit: usize) -> CoreResult<usize> {
        let now = self.now();
        Ok(self.storage.claim_bulk_import_rows(app, limit, now, now - CLAIM_TIMEOUT_MS).await?.len())
    }

    /// Claim up to `limit` rows of the app and settle them. Public so that tests (and a
    /// benchmark) can drive the job one chunk at a time.
    pub async fn process_bulk_import_chunk(&self, app: &AppId, limit: usize) -> CoreResult<FinishReport> {
        let claimed_at = self.now();
        let rows = self.storage.claim_bulk_import_rows(app, limit, claimed_at, claimed_at - CLAIM_TIMEOUT_MS).await?;
        if rows.is_empty() {
            return Ok(FinishReport::default());
        }
        let ctx = self.validation_context(app).await?;
        let mut validator = Validator::new(&ctx, self.rng.as_ref());
        let mut actions = Vec::with_capacity(rows.len());
        for row in &rows {
            let data = serde_json::from_str::<Value>(&row.raw_data).unwrap_or(Value::Null);
            let action = match validator.user(&row_json(row), IdMode::ReadStored) {
                Err(errors) => RowAction::Fail(errors_text(&errors)),
                Ok(user) if data.is_object() => match self.import_plan(app, &user).await {
                    Ok(plan) => RowAction::Import(Box::new(plan)),
                    Err(e) => RowAction::Fail(e.to_string()),
                },
                Ok(_) => RowAction::Fail("[raw_data is not a JSON object]".into()),
            };
            actions.push((row.id.clone(), action));
        }
        Ok(self.storage.finish_bulk_import_rows(app, claimed_at, &actions, self.now()).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> ValidationContext {
        ValidationContext {
            roles: ["admin".to_string()].into_iter().collect(),
            tenants: ["public".to_string(), "t1".to_string()].into_iter().collect(),
            firebase_key_set: false,
            now: 1_000,
        }
    }

    struct Fixed;
    impl Random for Fixed {
        fn fill(&self, dest: &mut [u8]) {
            dest.fill(7);
        }
    }

    #[test]
    fn messages_and_raw_data() {
        let c = ctx();
        let mut v = Validator::new(&c, &Fixed);
        let errs = v.user(&json!({"loginMethods": []}), IdMode::Generate).unwrap_err();
        assert_eq!(errs, vec!["At least one loginMethod is required."]);
        let errs = v.user(&json!({}), IdMode::Generate).unwrap_err();
        assert_eq!(errs, vec!["loginMethods is required."]);
        let errs = v
            .user(
                &json!({"externalUserId": 5, "loginMethods": [{"recipeId": "emailpassword", "email": "a@b.c",
                    "timeJoinedInMSSinceEpoch": 2000, "tenantIds": ["nope", "public"]}]}),
                IdMode::Generate,
            )
            .unwrap_err();
        assert_eq!(
            errs,
            vec![
                "externalUserId should be of type string.",
                "Invalid tenantId: nope for emailpassword recipe.",
                "timeJoined cannot be in future for a loginMethod.",
                "Either (passwordHash, hashingAlgorithm) or plainTextPassword is required for an emailpassword recipe.",
            ]
        );
        let u = v
            .user(
                &json!({"loginMethods": [{"recipeId": "passwordless", "phoneNumber": "+14155552671",
                    "timeJoinedInMSSinceEpoch": 5}]}),
                IdMode::Generate,
            )
            .unwrap();
        let raw: Value = serde_json::from_str(&u.raw_data()).unwrap();
        assert_eq!(raw["loginMethods"][0]["tenantIds"], json!(["public"]));
        assert_eq!(raw["loginMethods"][0]["superTokensUserId"], json!(u.id));
        assert!(raw["loginMethods"][0].get("email").is_none());
    }

    #[test]
    fn pagination_tokens_round_trip() {
        let t = pagination_token("abc", 42);
        assert_eq!(parse_pagination_token(&t), Some((42, "abc".to_string())));
        assert_eq!(parse_pagination_token("!!"), None);
    }
}
