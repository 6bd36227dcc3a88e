//! The routes' and the job's work: queue, list, count, remove, import one user, and
//! `ProcessBulkImportUsers` claiming and settling chunks.

use super::validate::Validator;
use super::{
    errors_text, pagination_token, parse_pagination_token, row_json, AddOutcome, BulkUser, IdMode, ImportUserOutcome,
    ProcessReport, RowsPage, ValidationContext, CLAIM_TIMEOUT_MS, PROCESS_USERS_INTERVAL,
};
use crate::cdi::CdiVersion;
use crate::core::Core;
use crate::error::{CoreError, CoreResult};
use crate::ids::AppId;
use crate::jobs::Job;
use crate::join::join_all;
use crate::random::{bytes, uuid_v4};
use crate::storage::{
    BulkImportStatus, FinishReport, ImportLoginMethod, ImportOutcome, ImportPlan, RowAction, TotpDevice,
};
use async_trait::async_trait;
use serde_json::Value;
use std::time::Duration;

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
