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
//!
//! Its files: this one (the validated user, the queued row as listed, the outcomes),
//! [`validate`] (the reference's per-user checks and messages) and [`job`] (the routes' and the
//! job's work on [`Core`](crate::core::Core)).

mod job;
mod validate;

pub use job::ProcessBulkImportUsers;
pub use validate::Validator;

use crate::storage::{BulkImportRow, FinishReport};
use crate::users::User;
use base64::Engine;
use serde_json::{json, Map, Value};
use std::collections::HashSet;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pagination_tokens_round_trip() {
        let t = pagination_token("abc", 42);
        assert_eq!(parse_pagination_token(&t), Some((42, "abc".to_string())));
        assert_eq!(parse_pagination_token("!!"), None);
    }
}
