//! The dashboard recipe (§a.16): the users of the user-management dashboard, their sign-in and
//! 30-day sessions, and the tenant's core config as the dashboard shows it
//! ([`core_config`]). Dashboard users are not users of the app: they live in their own tables,
//! one e-mail per app, and sign in with a password hashed as the app hashes e-mail-password
//! passwords (`password_hashing_alg`: bcrypt or argon2id, verified in every format the
//! reference writes). Every paid feature is on, so there is no free-user cap and no
//! `USER_SUSPENDED_ERROR`.
//!
//! E-mails and passwords are parsed at the edge ([`DashboardEmail`], [`DashboardPassword`]) with
//! the reference's rules, in the reference's order (the handlers check the e-mail, then the
//! password, then the app).

pub mod core_config;

use crate::core::Core;
use crate::error::{CoreError, CoreResult};
use crate::ids::{AppId, Email};
use crate::jobs::ExpiryJob;
use crate::random::{bytes, uuid_v4};
use crate::storage::{
    CreateDashboardSessionResult, CreateDashboardUserResult, DashboardSessionRow, DashboardUserRow,
    UpdateDashboardUserResult,
};
use std::time::Duration;

pub const RECIPE_ID: &str = "dashboard";

/// How long a dashboard session lasts: 30 days (the reference's `DASHBOARD_SESSION_DURATION`).
pub const SESSION_DURATION_MS: i64 = 2_592_000_000;

/// The length of the `email` column.
const MAX_EMAIL: usize = 256;

/// How many fresh ids an insert tries when the ones drawn are taken (a UUID collision: never,
/// in practice).
const ID_ATTEMPTS: usize = 16;

/// `RemoveExpiredDashboardSessions`: twice a day, every app's sessions whose expiry has passed.
pub const DELETE_EXPIRED_DASHBOARD_SESSIONS: ExpiryJob = ExpiryJob {
    name: "RemoveExpiredDashboardSessions",
    interval: Duration::from_secs(12 * 3600),
    delete: |core, now| Box::pin(core.delete_expired_dashboard_sessions(now)),
};

/// Java's line terminators, which its regex `.` does not match (no `DOTALL`).
fn is_line_terminator(c: char) -> bool {
    matches!(c, '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// The reference's e-mail check (`Dashboard.isValidEmail`), whose pattern, as Java reads it, is
/// `^(.+)@([0-9{},.]|([A-Za-z0-9-]+.)+[A-Za-z]{2,})$` over the whole string, `.` being any
/// character but a line terminator: the mangled copy of the SDKs' pattern turns its first
/// alternative into one the second covers and its IP-address one into a single character class.
/// Decided right to left in one pass, so any input length is linear.
pub fn is_valid_email(email: &str) -> bool {
    let s: Vec<char> = email.chars().collect();
    if s.iter().copied().any(is_line_terminator) {
        return false;
    }
    let n = s.len();
    let label = |c: char| c.is_ascii_alphanumeric() || c == '-';
    // run[p]: where the run of label characters starting at p ends (exclusive).
    let mut run = vec![n; n + 1];
    for p in (0..n).rev() {
        run[p] = if label(s[p]) { run[p + 1] } else { p };
    }
    // letters_from: the start of the trailing run of ASCII letters.
    let letters_from = s.iter().rposition(|c| !c.is_ascii_alphabetic()).map_or(0, |i| i + 1);
    // groups[p]: s[p..] is `([A-Za-z0-9-]+.)+[A-Za-z]{2,}`; tail[p]: the same with `*`;
    // count[p]: how many tail[q] hold for q >= p.
    let mut groups = vec![false; n + 1];
    let mut count = vec![0usize; n + 3];
    for p in (0..=n).rev() {
        if p < n && run[p] > p {
            // A group is label characters s[p..q] (q > p) and one more character s[q]; the rest,
            // s[q + 1..], must match the tail: q + 1 in [p + 2, min(run[p], n - 1) + 1].
            let hi = run[p].min(n - 1) + 1;
            let lo = p + 2;
            groups[p] = hi >= lo && count[lo] > count[hi + 1];
        }
        let tail = groups[p] || (p >= letters_from && n - p >= 2);
        count[p] = count[p + 1] + usize::from(tail);
    }
    let domain =
        |j: usize| (n - j == 1 && (s[j].is_ascii_digit() || matches!(s[j], '{' | '}' | ',' | '.'))) || groups[j];
    (1..n).any(|i| s[i] == '@' && domain(i + 1))
}

/// The reference's password rule (`Dashboard.validatePassword`): its message, or `None`.
/// Lengths count UTF-16 units, as Java's; a line terminator anywhere fails the letter check
/// (the reference's patterns are whole-string matches of `.*`).
pub fn password_problem(password: &str) -> Option<&'static str> {
    let len = password.encode_utf16().count();
    if len < 8 {
        return Some("Password must contain at least 8 characters, including a number");
    }
    if len >= 100 {
        return Some("Password's length must be lesser than 100 characters");
    }
    let one_line = !password.chars().any(is_line_terminator);
    if !(one_line && password.chars().any(|c| c.is_ascii_alphabetic())) {
        return Some("Password must contain at least one alphabet");
    }
    if !(one_line && password.chars().any(|c| c.is_ascii_digit())) {
        return Some("Password must contain at least one number");
    }
    None
}

/// A dashboard user's e-mail: normalised (trimmed, lower-cased) and valid by
/// [`is_valid_email`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DashboardEmail(String);

impl DashboardEmail {
    /// `None`: the reference's `INVALID_EMAIL_ERROR`.
    pub fn parse(raw: &str) -> Option<DashboardEmail> {
        let email = Email::normalise(raw).into_string();
        is_valid_email(&email).then_some(DashboardEmail(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// No longer than its column, and without NUL (which PostgreSQL's text refuses): the
    /// reference fails in its database on either (a 500), here a 400 on both backends.
    fn check_storable(&self, field: &str) -> CoreResult<()> {
        if self.0.chars().count() > MAX_EMAIL {
            return Err(CoreError::bad(format!("{field} must be at most {MAX_EMAIL} characters long")));
        }
        if self.0.contains('\0') {
            return Err(CoreError::bad(format!("{field} must not contain a NUL character")));
        }
        Ok(())
    }
}

/// A new dashboard password: passes [`password_problem`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DashboardPassword(String);

impl DashboardPassword {
    /// `Err`: the reference's `PASSWORD_WEAK_ERROR` message.
    pub fn parse(raw: &str) -> Result<DashboardPassword, &'static str> {
        match password_problem(raw) {
            Some(message) => Err(message),
            None => Ok(DashboardPassword(raw.to_string())),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whether a looked-up value can match a stored one: nothing stored holds a NUL character,
/// which PostgreSQL cannot even compare, so such a look-up finds nothing on both backends.
fn findable(value: &str) -> bool {
    !value.contains('\0')
}

/// A dashboard user as the APIs show it (the hash never leaves the domain).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DashboardUser {
    pub user_id: String,
    pub email: String,
    pub time_joined: i64,
}

impl From<DashboardUserRow> for DashboardUser {
    fn from(row: DashboardUserRow) -> Self {
        DashboardUser { user_id: row.user_id, email: row.email, time_joined: row.time_joined }
    }
}

/// A dashboard session as `GET /recipe/dashboard/user/sessions` shows it.
pub type DashboardSession = DashboardSessionRow;

/// `POST /recipe/dashboard/user`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateDashboardUserOutcome {
    Created(DashboardUser),
    EmailAlreadyExists,
}

/// How `PUT` and `DELETE /recipe/dashboard/user` name the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DashboardUserRef {
    /// The user id, trimmed.
    Id(String),
    /// The e-mail, trimmed (normalised here).
    Email(String),
}

/// `PUT /recipe/dashboard/user`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdateDashboardUserOutcome {
    Updated(DashboardUser),
    UnknownUser,
    EmailAlreadyExists,
}

impl Core {
    /// `POST /recipe/dashboard/user`: a new dashboard user of the app (no free-user cap: every
    /// paid feature is on).
    pub async fn create_dashboard_user(
        &self,
        app: &AppId,
        email: &DashboardEmail,
        password: &DashboardPassword,
    ) -> CoreResult<CreateDashboardUserOutcome> {
        let cfg = self.app_config(app).await?;
        email.check_storable("email")?;
        // As the reference: an e-mail in use is answered before any hashing.
        if self.storage.dashboard_user_by_email(app, email.as_str()).await?.is_some() {
            return Ok(CreateDashboardUserOutcome::EmailAlreadyExists);
        }
        let hash = self.hashing.hash(password.as_str(), &cfg, bytes::<16>(self.rng.as_ref())).await?;
        for _ in 0..ID_ATTEMPTS {
            let row = DashboardUserRow {
                user_id: uuid_v4(self.rng.as_ref()),
                email: email.as_str().to_string(),
                password_hash: hash.clone(),
                time_joined: self.now(),
            };
            match self.storage.create_dashboard_user(app, &row).await? {
                CreateDashboardUserResult::Created => return Ok(CreateDashboardUserOutcome::Created(row.into())),
                CreateDashboardUserResult::EmailExists => return Ok(CreateDashboardUserOutcome::EmailAlreadyExists),
                CreateDashboardUserResult::UserIdExists => continue,
            }
        }
        Err(CoreError::Internal("no free dashboard user id after several attempts".into()))
    }

    /// `GET /recipe/dashboard/users`: every dashboard user of the app, oldest first.
    pub async fn dashboard_users(&self, app: &AppId) -> CoreResult<Vec<DashboardUser>> {
        Ok(self.storage.dashboard_users(app).await?.into_iter().map(DashboardUser::from).collect())
    }

    /// The user `user` names (an e-mail is normalised first).
    async fn dashboard_user_id(&self, app: &AppId, user: &DashboardUserRef) -> CoreResult<Option<String>> {
        match user {
            DashboardUserRef::Id(id) => Ok(Some(id.clone())),
            DashboardUserRef::Email(raw) => {
                let email = Email::normalise(raw);
                if !findable(email.as_str()) {
                    return Ok(None);
                }
                Ok(self.storage.dashboard_user_by_email(app, email.as_str()).await?.map(|u| u.user_id))
            }
        }
    }

    /// `PUT /recipe/dashboard/user`: a new e-mail and/or password; every session of the user is
    /// revoked (even when nothing changes, as the reference).
    pub async fn update_dashboard_user(
        &self,
        app: &AppId,
        user: &DashboardUserRef,
        new_email: Option<&DashboardEmail>,
        new_password: Option<&DashboardPassword>,
    ) -> CoreResult<UpdateDashboardUserOutcome> {
        let cfg = self.app_config(app).await?;
        if let Some(e) = new_email {
            e.check_storable("newEmail")?;
        }
        let Some(user_id) = self.dashboard_user_id(app, user).await? else {
            return Ok(UpdateDashboardUserOutcome::UnknownUser);
        };
        if !findable(&user_id) {
            return Ok(UpdateDashboardUserOutcome::UnknownUser);
        }
        let hash = match new_password {
            Some(p) => Some(self.hashing.hash(p.as_str(), &cfg, bytes::<16>(self.rng.as_ref())).await?),
            None => None,
        };
        let email = new_email.map(DashboardEmail::as_str);
        Ok(match self.storage.update_dashboard_user(app, &user_id, email, hash.as_deref()).await? {
            UpdateDashboardUserResult::Updated(row) => UpdateDashboardUserOutcome::Updated(row.into()),
            UpdateDashboardUserResult::UnknownUser => UpdateDashboardUserOutcome::UnknownUser,
            UpdateDashboardUserResult::EmailExists => UpdateDashboardUserOutcome::EmailAlreadyExists,
        })
    }

    /// `DELETE /recipe/dashboard/user`: the user and its sessions; whether it existed.
    pub async fn delete_dashboard_user(&self, app: &AppId, user: &DashboardUserRef) -> CoreResult<bool> {
        self.app(app).await?;
        match self.dashboard_user_id(app, user).await? {
            Some(id) if findable(&id) => Ok(self.storage.delete_dashboard_user(app, &id).await?),
            _ => Ok(false),
        }
    }

    /// `POST /recipe/dashboard/signin`: a new 30-day session id, or `None` for wrong
    /// credentials. An unknown e-mail costs a password check too (no timing oracle).
    pub async fn sign_in_dashboard_user(&self, app: &AppId, email: &str, password: &str) -> CoreResult<Option<String>> {
        let cfg = self.app_config(app).await?;
        let email = Email::normalise(email);
        let user = if findable(email.as_str()) {
            self.storage.dashboard_user_by_email(app, email.as_str()).await?
        } else {
            None
        };
        let Some(user) = user else {
            self.hashing.verify_dummy(password, &cfg, bytes::<16>(self.rng.as_ref())).await?;
            return Ok(None);
        };
        let firebase_key = cfg.firebase_password_hashing_signer_key.clone();
        if !self.hashing.verify(password, &user.password_hash, firebase_key).await? {
            return Ok(None);
        }
        for _ in 0..ID_ATTEMPTS {
            let now = self.now();
            let session = DashboardSessionRow {
                session_id: uuid_v4(self.rng.as_ref()),
                user_id: user.user_id.clone(),
                time_created: now,
                expiry: now + SESSION_DURATION_MS,
            };
            match self.storage.create_dashboard_session(app, &session).await? {
                CreateDashboardSessionResult::Created => return Ok(Some(session.session_id)),
                // Removed since its password was checked.
                CreateDashboardSessionResult::UnknownUser => return Ok(None),
                CreateDashboardSessionResult::SessionIdExists => continue,
            }
        }
        Err(CoreError::Internal("no free dashboard session id after several attempts".into()))
    }

    /// `POST /recipe/dashboard/session/verify`: the e-mail of the session's user, or `None` when
    /// there is no such session or it has expired (the reference serves an expired session
    /// until the cron job removes it; see docs/COMPATIBILITY.md).
    pub async fn verify_dashboard_session(&self, app: &AppId, session_id: &str) -> CoreResult<Option<String>> {
        self.app(app).await?;
        if !findable(session_id) {
            return Ok(None);
        }
        Ok(match self.storage.dashboard_session(app, session_id).await? {
            Some((session, email)) if session.expiry >= self.now() => Some(email),
            _ => None,
        })
    }

    /// `DELETE /recipe/dashboard/session`.
    pub async fn revoke_dashboard_session(&self, app: &AppId, session_id: &str) -> CoreResult<()> {
        self.app(app).await?;
        if findable(session_id) {
            self.storage.revoke_dashboard_session(app, session_id).await?;
        }
        Ok(())
    }

    /// `GET /recipe/dashboard/user/sessions`: the user's sessions (expired ones too, until the
    /// cron job removes them, as the reference lists them), oldest first.
    pub async fn dashboard_sessions_of_user(&self, app: &AppId, user_id: &str) -> CoreResult<Vec<DashboardSession>> {
        self.app(app).await?;
        if !findable(user_id) {
            return Ok(Vec::new());
        }
        Ok(self.storage.dashboard_sessions_of_user(app, user_id).await?)
    }

    /// The cron job's intent: every app's sessions that expired before `now`.
    pub async fn delete_expired_dashboard_sessions(&self, now: i64) -> CoreResult<u64> {
        Ok(self.storage.delete_expired_dashboard_sessions(now).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_as_the_reference_reads_its_pattern() {
        for ok in [
            "a@b.co",
            "john.doe+tag@example.com",
            "a@b-c.d-e.io",
            "@@b.co",
            "a@b@c.de",
            "x y@ex ample.com",
            "a@5",
            "a@{",
            "a@.",
            "a@-.cd",
            "a@bb.cc",
            "a@b!cd",
            "a@b\u{e9}cd",
            "\u{e9}@b.cd",
            "<>@b.cd",
        ] {
            assert!(is_valid_email(ok), "{ok:?} is valid");
        }
        for bad in [
            "",
            "@b.co",
            "a",
            "a@",
            "a@b",
            "a@b.c",
            "a@bc",
            "a@.cd",
            "a@b.c1",
            "a@55",
            "a@b..",
            "a@b.c.",
            "a\n@b.co",
            "a@b.co\n",
            "a@b.c\u{2028}d",
            "a@\u{e9}.cd",
            "a@b.cd\u{e9}",
        ] {
            assert!(!is_valid_email(bad), "{bad:?} is invalid");
        }
        // Linear: a long input of separators is decided at once.
        let long = format!("{}x", "@a.".repeat(200_000));
        assert!(!is_valid_email(&long));
        let long_ok = format!("{}bc", "a@".repeat(200_000));
        assert!(is_valid_email(&long_ok));
    }

    #[test]
    fn password_rule_and_messages() {
        assert_eq!(
            password_problem("abc1234"),
            Some("Password must contain at least 8 characters, including a number")
        );
        assert_eq!(password_problem(&"a1".repeat(50)), Some("Password's length must be lesser than 100 characters"));
        assert_eq!(password_problem(&format!("{}1", "a".repeat(98))), None);
        assert_eq!(password_problem("12345678"), Some("Password must contain at least one alphabet"));
        assert_eq!(password_problem("abcdefgh"), Some("Password must contain at least one number"));
        assert_eq!(password_problem("abcdefg1"), None);
        // UTF-16 units: three astral characters are six units.
        assert_eq!(password_problem("\u{1F600}\u{1F600}\u{1F600}a1"), None);
        assert!(password_problem("\u{1F600}\u{1F600}a1").is_some());
        // A line terminator fails the whole-string letter check.
        assert_eq!(password_problem("abcd\nefg1"), Some("Password must contain at least one alphabet"));
        assert_eq!(password_problem("abcdéfgh"), Some("Password must contain at least one number"));
        assert_eq!(password_problem("éééééé12"), Some("Password must contain at least one alphabet"));
    }

    #[test]
    fn newtypes() {
        assert_eq!(DashboardEmail::parse(" A@B.Co ").map(|e| e.as_str().to_string()), Some("a@b.co".into()));
        assert_eq!(DashboardEmail::parse("nope"), None);
        assert_eq!(
            DashboardPassword::parse("short"),
            Err("Password must contain at least 8 characters, including a number")
        );
        assert!(DashboardPassword::parse("password123").is_ok());
        let long = DashboardEmail::parse(&format!("{}@b.co", "a".repeat(252))).unwrap();
        assert!(long.check_storable("email").is_err());
        let fits = DashboardEmail::parse(&format!("{}@b.co", "a".repeat(251))).unwrap();
        assert!(fits.check_storable("email").is_ok());
        let nul = DashboardEmail::parse("a\u{0}b@c.de").unwrap();
        assert!(nul.check_storable("email").is_err());
    }
}
