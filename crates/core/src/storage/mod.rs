//! The storage port: one trait per recipe, in a module of its own, and [`Storage`], their
//! supertrait, which a backend implements to be usable by the core. Each method is one whole
//! intent, atomic inside its backend; there is no transaction API. Where a decision needs the
//! current row, the domain passes a pure function that the backend runs under its lock.
//!
//! Adding a recipe: a module here with its trait, one `pub mod` + `pub use` line below, and
//! its trait in the `Storage` bound list.

use crate::error::StorageError;
use crate::ids::TenantIdentifier;
use async_trait::async_trait;

pub mod accountlinking;
pub mod active_users;
pub mod bulkimport;
pub mod compose;
pub mod dashboard;
pub mod emailpassword;
pub mod emailverification;
pub mod jobs;
pub mod key_value;
pub mod lockout;
pub mod multitenancy;
pub mod oauth;
pub mod passwordless;
pub mod ratelimit;
pub mod saml;
pub mod session;
pub mod signing_keys;
pub mod thirdparty;
pub mod totp;
pub mod useridmapping;
pub mod usermetadata;
pub mod userroles;
pub mod users;
pub mod webauthn;

pub use self::accountlinking::*;
pub use self::active_users::*;
pub use self::bulkimport::*;
pub use self::dashboard::*;
pub use self::emailpassword::*;
pub use self::emailverification::*;
pub use self::jobs::*;
pub use self::key_value::*;
pub use self::lockout::*;
pub use self::multitenancy::*;
pub use self::oauth::*;
pub use self::passwordless::*;
pub use self::ratelimit::*;
pub use self::saml::*;
pub use self::session::*;
pub use self::signing_keys::*;
pub use self::thirdparty::*;
pub use self::totp::*;
pub use self::useridmapping::*;
pub use self::usermetadata::*;
pub use self::userroles::*;
pub use self::users::*;
pub use self::webauthn::*;

pub type SResult<T> = Result<T, StorageError>;

/// Everything a backend provides, plus the intents that span recipes. The defaults compose the
/// per-recipe intents; a backend with round trips to pay for answers each in one.
#[async_trait]
pub trait Storage:
    TenantStorage
    + KeyValueStorage
    + SessionStorage
    + SigningKeyStorage
    + JobStorage
    + ActiveUsersStorage
    + AuthRecipeStorage
    + AccountLinkingStorage
    + EmailPasswordStorage
    + EmailVerificationStorage
    + PasswordlessStorage
    + LockoutStorage
    + RateLimitStorage
    + ThirdPartyStorage
    + TotpStorage
    + UserMetadataStorage
    + UserRolesStorage
    + UserIdMappingStorage
    + WebauthnStorage
    + DashboardStorage
    + BulkImportStorage
    + OAuthStorage
    + SamlStorage
    + Send
    + Sync
{
    /// `"memory"` or `"postgresql"`.
    fn kind(&self) -> &'static str;

    /// Connection-pool usage, for backends that have a pool.
    fn pool_stats(&self) -> Option<PoolStats> {
        None
    }

    /// The client-side bound on a request's waits for this backend (see [`crate::deadline`]):
    /// `None` when its calls cannot hang (in memory).
    fn request_timeout(&self) -> Option<std::time::Duration> {
        None
    }

    /// Session creation: insert `row`, with `record_activity` record its user as active at
    /// `row.created_at` (see [`SessionIdentity::active_user`]), and return the identity of
    /// `row.user_id` (`None`: the id names no user). As the reference, the row keeps the
    /// recipe user's external id when it has one, even when `row.user_id` is its SuperTokens
    /// id, so a Java core on the same database finds the session by the external id.
    async fn create_session_resolved(
        &self,
        row: &SessionRow,
        record_activity: bool,
    ) -> SResult<Option<SessionIdentity>> {
        compose::create_session_resolved(self, row, record_activity).await
    }

    /// [`SessionStorage::update_session_atomically`], returning with the row the identity of
    /// its user as [`AuthRecipeStorage::session_identity`] resolves it.
    ///
    /// `touch` is the condition under which the caller records the session's user as active
    /// (see [`SessionIdentity::active_user`]). A backend that can write that in the same
    /// statement as its first, unlocked read may do so, judged on that read, and then says so
    /// in [`ResolvedSession::activity_recorded`]; otherwise the caller records it with
    /// [`ActiveUsersStorage::touch_user_last_active`] once it knows that the refresh succeeded.
    /// (When each backend does which is its own business; see its session module.)
    async fn update_session_resolved(
        &self,
        tenant: &TenantIdentifier,
        handle: &str,
        decide: SessionDecider<'_>,
        _touch: Option<&TouchIfCurrent<'_>>,
    ) -> SResult<Option<ResolvedSession>> {
        compose::update_session_resolved(self, tenant, handle, decide, _touch).await
    }
}

/// Connection-pool usage snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    pub max_size: usize,
    pub size: usize,
    pub available: usize,
    pub waiting: usize,
}

/// Tracing target of the per-call storage spans (see `docs/ARCHITECTURE.md`, Telemetry).
/// Backends put `#[tracing::instrument]` on every storage method with this target, the name
/// `storage.<method>`, `skip_all`, and the fields [`SPAN_FIELDS`] lists.
pub const SPAN_TARGET: &str = "st_storage";

/// The fields every storage span has, for reference: `otel.kind = "client"`, `db.system` (the
/// backend's [`Storage::kind`]), `app_id` / `tenant_id` when the call has them, and the
/// empty `otel.status_code` and `error.type` that [`traced_error`] fills. Some add a size
/// (`count`, `limit`) or a job name (`job`). Never user ids, e-mails, tokens, hashes or error
/// messages.
pub const SPAN_FIELDS: [&str; 6] = ["otel.kind", "db.system", "app_id", "tenant_id", "otel.status_code", "error.type"];

/// Mark the current storage span failed with the error's kind (never its message, which can
/// quote a row), and return the error. Backends call it where they create a [`StorageError`].
pub fn traced_error(e: StorageError) -> StorageError {
    let span = tracing::Span::current();
    if !span.is_disabled() {
        span.record("otel.status_code", "ERROR");
        span.record("error.type", e.kind());
    }
    e
}
