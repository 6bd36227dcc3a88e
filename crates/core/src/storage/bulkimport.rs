//! Bulk-import storage: the queue of users to import (`bulk_import_users`, as the reference's
//! plugin writes it) and the intent that imports one user whole.
//!
//! * [`BulkImportStorage::import_user`] writes every row of one user (its login methods in
//!   their tenants, the link of a primary user, the user-id mapping, verified e-mails, TOTP
//!   devices, metadata, roles) or nothing, deciding the uniqueness and account-linking rules
//!   under the locks the per-recipe intents take.
//! * The background job claims rows ([`BulkImportStorage::claim_bulk_import_rows`]: `NEW`
//!   rows, and `PROCESSING` rows whose claim is older than a timeout, moved to `PROCESSING`
//!   with the claim time as their `updated_at`; on PostgreSQL `FOR UPDATE SKIP LOCKED`, so two
//!   claimers never get one row), and then settles them
//!   ([`BulkImportStorage::finish_bulk_import_rows`]): each imported user and the removal of
//!   its row are one transaction, and a row is settled only while it still carries its claim
//!   time (a row re-claimed after the timeout, removed, or failed meanwhile is left alone), so
//!   no row is imported twice and none is lost when an instance dies mid-batch.

use super::{SResult, TotpDevice};
use crate::ids::AppId;
use async_trait::async_trait;
use serde_json::{Map, Value};

/// A queued user's state (the `status` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkImportStatus {
    New,
    Processing,
    Failed,
}

impl BulkImportStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            BulkImportStatus::New => "NEW",
            BulkImportStatus::Processing => "PROCESSING",
            BulkImportStatus::Failed => "FAILED",
        }
    }

    /// Exact, case-sensitive (Java's `valueOf`).
    pub fn parse(s: &str) -> Option<BulkImportStatus> {
        match s {
            "NEW" => Some(BulkImportStatus::New),
            "PROCESSING" => Some(BulkImportStatus::Processing),
            "FAILED" => Some(BulkImportStatus::Failed),
            _ => None,
        }
    }
}

/// One row of the queue.
#[derive(Debug, Clone, PartialEq)]
pub struct BulkImportRow {
    pub id: String,
    /// The user as JSON (the reference's `BulkImportUser.toRawDataForDbStorage`).
    pub raw_data: String,
    pub status: BulkImportStatus,
    pub primary_user_id: Option<String>,
    pub error_msg: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// One login method to import (validated and normalised by the domain).
#[derive(Debug, Clone, PartialEq)]
pub struct ImportLoginMethod {
    /// `emailpassword`, `thirdparty` or `passwordless`.
    pub recipe_id: String,
    pub recipe_user_id: String,
    pub tenant_ids: Vec<String>,
    pub time_joined: i64,
    pub email: Option<String>,
    /// E-mail-password only (already hashed).
    pub password_hash: Option<String>,
    /// Third party only: (provider id, the user's id there).
    pub third_party: Option<(String, String)>,
    /// Passwordless only.
    pub phone_number: Option<String>,
    /// Its e-mail is verified (for the id [`ImportPlan::id_of`] gives it).
    pub verified: bool,
}

/// Everything one imported user writes.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportPlan {
    pub methods: Vec<ImportLoginMethod>,
    /// The supertokens id of the login method that carries the user's data (mapping, metadata,
    /// roles, TOTP): the one marked primary, else the oldest.
    pub main_user_id: String,
    /// Whether the login methods form one linked group whose primary user is `main_user_id`
    /// (a method was marked `isPrimary`); otherwise each is a user of its own.
    pub linked: bool,
    pub external_user_id: Option<String>,
    pub metadata: Option<Map<String, Value>>,
    /// (tenant, role)
    pub roles: Vec<(String, String)>,
    pub totp_devices: Vec<TotpDevice>,
}

impl ImportPlan {
    /// The id the user's data is keyed by for this login method: the external id for the main
    /// login method when mapped, else its own id (the reference's `getSuperTokenOrExternalUserId`).
    pub fn id_of(&self, m: &ImportLoginMethod) -> String {
        match &self.external_user_id {
            Some(ext) if m.recipe_user_id == self.main_user_id => ext.clone(),
            _ => m.recipe_user_id.clone(),
        }
    }

    /// The id the user's metadata, roles and TOTP devices are keyed by.
    pub fn data_user_id(&self) -> &str {
        self.external_user_id.as_deref().unwrap_or(&self.main_user_id)
    }
}

/// Why an import was refused: the reference's message (`E003: A user with email … already
/// exists in emailpassword loginMethod.` …), one per refused part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportOutcome {
    Imported,
    Refused(Vec<String>),
}

/// What the job does with a claimed row.
#[derive(Debug, Clone, PartialEq)]
pub enum RowAction {
    Import(Box<ImportPlan>),
    /// Mark it `FAILED` with this message (invalid data).
    Fail(String),
}

/// What settling claimed rows did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FinishReport {
    /// Rows whose user was imported (and which were removed).
    pub imported: Vec<String>,
    /// Rows marked `FAILED`, with their message.
    pub failed: Vec<(String, String)>,
    /// Rows no longer claimed by this claim (re-claimed, removed or failed meanwhile): left alone.
    pub skipped: Vec<String>,
}

#[async_trait]
pub trait BulkImportStorage: Send + Sync {
    /// Queue the rows (status `NEW`, created and updated at `now_ms`). `false` (nothing
    /// written): one of the ids is taken in the app, and the caller draws new ones.
    async fn add_bulk_import_rows(&self, app: &AppId, rows: &[(String, String)], now_ms: i64) -> SResult<bool>;

    /// Rows of the app (of one status), newest first (`created_at DESC, id DESC`), from the
    /// position `from` = (created_at, id) included.
    async fn bulk_import_rows(
        &self,
        app: &AppId,
        status: Option<BulkImportStatus>,
        limit: usize,
        from: Option<(i64, String)>,
    ) -> SResult<Vec<BulkImportRow>>;

    async fn count_bulk_import_rows(&self, app: &AppId, status: Option<BulkImportStatus>) -> SResult<u64>;

    /// Remove these rows; returns the ids that were removed.
    async fn delete_bulk_import_rows(&self, app: &AppId, ids: &[String]) -> SResult<Vec<String>>;

    /// Import one user whole, or refuse it (nothing written).
    async fn import_user(&self, app: &AppId, plan: &ImportPlan, now_ms: i64) -> SResult<ImportOutcome>;

    /// Claim up to `limit` rows: `NEW` ones, and `PROCESSING` ones last claimed before
    /// `stale_before` (their claimer died); each becomes `PROCESSING` with `updated_at =
    /// now_ms` (the claim's mark). Rows another claimer holds are skipped, never waited for.
    async fn claim_bulk_import_rows(
        &self,
        app: &AppId,
        limit: usize,
        now_ms: i64,
        stale_before: i64,
    ) -> SResult<Vec<BulkImportRow>>;

    /// Settle rows claimed at `claimed_at`: each still carrying that claim is imported and
    /// removed in one transaction (a refused import marks it `FAILED` with its messages
    /// instead), or marked `FAILED`; the others are skipped.
    async fn finish_bulk_import_rows(
        &self,
        app: &AppId,
        claimed_at: i64,
        rows: &[(String, RowAction)],
        now_ms: i64,
    ) -> SResult<FinishReport>;
}
