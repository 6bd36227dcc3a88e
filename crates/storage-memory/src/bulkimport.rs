//! Bulk import in memory ([`BulkImportStorage`]): the queue of users to import, and the import
//! of one user into the shared login-method rows of [`crate::users`] and the other recipes'
//! tables, decided and applied under the store's one lock (so all of it or nothing, atomic
//! with every other intent). The reference refuses bulk import in its in-memory mode; this
//! server serves it (docs/COMPATIBILITY.md).

use crate::users::UserRow;
use crate::{Cascade, MemoryStorage, State};
use async_trait::async_trait;
use st_core::accountlinking::{account_info_conflict, AccountInfo};
use st_core::bulkimport::refusal_text;
use st_core::ids::{AppId, TenantIdentifier};
use st_core::storage::{
    BulkImportRow, BulkImportStatus, BulkImportStorage, FinishReport, ImportOutcome, ImportPlan, LoginMethod,
    RowAction, SResult, UserIdMapping,
};
use std::collections::{BTreeSet, HashMap};
use tracing::field::Empty;
use tracing::instrument;

/// (app, row id) -> row.
#[derive(Default)]
pub(crate) struct Tables {
    rows: HashMap<(AppId, String), BulkImportRow>,
}

impl Cascade for Tables {
    fn remove_app(&mut self, app: &AppId) {
        self.rows.retain(|(a, _), _| a != app);
    }
}

/// The tenant of `app` named `tenant`.
fn tenant_of(app: &AppId, tenant: &str) -> Option<TenantIdentifier> {
    Some(TenantIdentifier::new(app.clone(), st_core::ids::TenantId::parse(tenant).ok()?))
}

/// Whether a login method (recipe, e-mail, phone number, provider pair) is the one looked for.
type Matcher<'a> = &'a dyn Fn(&str, Option<&str>, Option<&str>, Option<&(String, String)>) -> bool;

/// The reference's refusals of `plan` on the current state (empty: it can be imported).
fn refusals(s: &State, app: &AppId, plan: &ImportPlan) -> Vec<String> {
    let mut out = Vec::new();
    let rows = &s.users.rows;
    // Rows of the app, and the plan's earlier methods, in a tenant.
    let taken = |tenant: &TenantIdentifier, earlier: &[&st_core::storage::ImportLoginMethod], f: Matcher<'_>| {
        rows.iter().any(|((a, _), r)| {
            a == app
                && r.tenants.contains(tenant)
                && f(&r.recipe_id, r.email.as_deref(), r.phone_number.as_deref(), r.third_party.as_ref())
        }) || earlier.iter().any(|m| {
            m.tenant_ids.iter().any(|t| t == tenant.tenant.as_str())
                && f(&m.recipe_id, m.email.as_deref(), m.phone_number.as_deref(), m.third_party.as_ref())
        })
    };
    for (i, m) in plan.methods.iter().enumerate() {
        let earlier: Vec<&st_core::storage::ImportLoginMethod> = plan.methods[..i].iter().collect();
        if rows.contains_key(&(app.clone(), m.recipe_user_id.clone()))
            || earlier.iter().any(|e| e.recipe_user_id == m.recipe_user_id)
        {
            out.push(format!("E000: A user with id {} already exists.", m.recipe_user_id));
            continue;
        }
        for t in &m.tenant_ids {
            let Some(tenant) = tenant_of(app, t).filter(|x| s.tenants.exists(x)) else {
                out.push(format!("E008: Tenant {t} of app {} not found", app.as_str()));
                continue;
            };
            let msg =
                match m.recipe_id.as_str() {
                    "emailpassword" => {
                        let email = m.email.clone().unwrap_or_default();
                        taken(&tenant, &earlier, &|r, e, _, _| r == "emailpassword" && e == Some(email.as_str())).then(
                            || format!("E003: A user with email {email} already exists in emailpassword loginMethod."),
                        )
                    }
                    "thirdparty" => {
                        let pair = m.third_party.clone().unwrap_or_default();
                        taken(&tenant, &earlier, &|r, _, _, tp| r == "thirdparty" && tp == Some(&pair)).then(|| {
                            format!(
                            "E005: A user with thirdPartyId {} and thirdPartyUserId {} already exists in thirdparty \
                             loginMethod.",
                            pair.0, pair.1
                        )
                        })
                    }
                    "passwordless" => {
                        let email = m.email.clone();
                        let phone = m.phone_number.clone();
                        if email.as_deref().is_some_and(|em| {
                            taken(&tenant, &earlier, &|r, e, _, _| r == "passwordless" && e == Some(em))
                        }) {
                            Some(format!(
                                "E006: A user with email {} already exists in passwordless loginMethod.",
                                email.unwrap_or_default()
                            ))
                        } else if phone.as_deref().is_some_and(|ph| {
                            taken(&tenant, &earlier, &|r, _, p, _| r == "passwordless" && p == Some(ph))
                        }) {
                            Some(format!(
                                "E007: A user with phoneNumber {} already exists in passwordless loginMethod.",
                                phone.unwrap_or_default()
                            ))
                        } else {
                            None
                        }
                    }
                    _ => None,
                };
            if let Some(msg) = msg {
                out.push(msg);
                break;
            }
        }
    }
    if !out.is_empty() {
        return out;
    }
    if plan.linked {
        let methods: Vec<LoginMethod> = plan.methods.iter().map(login_method).collect();
        let mut infos: Vec<AccountInfo> = methods.iter().flat_map(AccountInfo::of).collect();
        infos.sort();
        infos.dedup();
        let mut tenants: Vec<&str> =
            plan.methods.iter().flat_map(|m| m.tenant_ids.iter().map(String::as_str)).collect();
        tenants.sort_unstable();
        tenants.dedup();
        let others = crate::accountlinking::primary_holders(s, app, &infos, &[]);
        if account_info_conflict(&infos, &tenants, &plan.main_user_id, &others).is_some() {
            out.push(format!(
                "E022: We tried to create the primary user for the userId {} but the account info is already \
                 associated with another primary user.",
                plan.main_user_id
            ));
            return out;
        }
    }
    if let Some(ext) = &plan.external_user_id {
        if s.useridmapping
            .rows
            .iter()
            .any(|(a, m)| a == app && (m.external_user_id == *ext || m.supertokens_user_id == *ext))
        {
            out.push(format!("E031: A user with externalId {ext} already exists"));
            return out;
        }
    }
    if plan.roles.iter().any(|(_, role)| !s.userroles.roles.contains_key(&(app.clone(), role.clone()))) {
        out.push("E034: Role does not exist! You need to pre-create the role before assigning it to the user.".into());
    }
    out
}

/// The login method a planned one becomes.
fn login_method(m: &st_core::storage::ImportLoginMethod) -> LoginMethod {
    LoginMethod {
        recipe_id: m.recipe_id.clone(),
        recipe_user_id: m.recipe_user_id.clone(),
        tenant_ids: m.tenant_ids.clone(),
        time_joined: m.time_joined,
        email: m.email.clone(),
        phone_number: m.phone_number.clone(),
        third_party: m.third_party.clone(),
    }
}

/// Import `plan` under the lock: its refusals, or every row written.
fn import(s: &mut State, app: &AppId, plan: &ImportPlan) -> ImportOutcome {
    let refused = refusals(s, app, plan);
    if !refused.is_empty() {
        return ImportOutcome::Refused(refused);
    }
    for m in &plan.methods {
        let tenants: BTreeSet<TenantIdentifier> = m.tenant_ids.iter().filter_map(|t| tenant_of(app, t)).collect();
        let primary = if plan.linked { plan.main_user_id.clone() } else { m.recipe_user_id.clone() };
        s.users.rows.insert(
            (app.clone(), m.recipe_user_id.clone()),
            UserRow {
                recipe_id: m.recipe_id.clone(),
                time_joined: m.time_joined,
                tenants,
                email: m.email.clone(),
                password_hash: m.password_hash.clone(),
                third_party: m.third_party.clone(),
                phone_number: m.phone_number.clone(),
                primary,
                is_linked_or_primary: plan.linked,
            },
        );
    }
    if let Some(ext) = &plan.external_user_id {
        s.useridmapping.rows.push((
            app.clone(),
            UserIdMapping {
                supertokens_user_id: plan.main_user_id.clone(),
                external_user_id: ext.clone(),
                external_user_id_info: None,
            },
        ));
    }
    for m in &plan.methods {
        if let (true, Some(email)) = (m.verified, &m.email) {
            s.emailverification.verified.insert((app.clone(), plan.id_of(m), email.clone()));
        }
    }
    let data_id = plan.data_user_id().to_string();
    if !plan.totp_devices.is_empty() {
        let devices = s.totp.devices.entry((app.clone(), data_id.clone())).or_default();
        for d in &plan.totp_devices {
            devices.insert(d.name.clone(), d.clone());
        }
    }
    if let Some(md) = &plan.metadata {
        s.usermetadata.rows.insert((app.clone(), data_id.clone()), md.clone());
    }
    for (tenant, role) in &plan.roles {
        if let Some(t) = tenant_of(app, tenant) {
            s.userroles.user_roles.insert((t, data_id.clone(), role.clone()));
        }
    }
    ImportOutcome::Imported
}

fn page_key(r: &BulkImportRow) -> (i64, &str) {
    (r.created_at, r.id.as_str())
}

#[async_trait]
impl BulkImportStorage for MemoryStorage {
    #[instrument(level = "debug", target = "st_storage", name = "storage.add_bulk_import_rows", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %app, count = rows.len(),
        otel.status_code = Empty, error.type = Empty))]
    async fn add_bulk_import_rows(&self, app: &AppId, rows: &[(String, String)], now_ms: i64) -> SResult<bool> {
        let mut s = self.lock();
        s.require_tenant(&TenantIdentifier::app_public(app))?;
        let mut ids: Vec<&String> = rows.iter().map(|(id, _)| id).collect();
        ids.sort();
        ids.dedup();
        if ids.len() != rows.len()
            || rows.iter().any(|(id, _)| s.bulkimport.rows.contains_key(&(app.clone(), id.clone())))
        {
            return Ok(false);
        }
        for (id, raw) in rows {
            s.bulkimport.rows.insert(
                (app.clone(), id.clone()),
                BulkImportRow {
                    id: id.clone(),
                    raw_data: raw.clone(),
                    status: BulkImportStatus::New,
                    primary_user_id: None,
                    error_msg: None,
                    created_at: now_ms,
                    updated_at: now_ms,
                },
            );
        }
        Ok(true)
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.bulk_import_rows", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %app, limit = limit,
        otel.status_code = Empty, error.type = Empty))]
    async fn bulk_import_rows(
        &self,
        app: &AppId,
        status: Option<BulkImportStatus>,
        limit: usize,
        from: Option<(i64, String)>,
    ) -> SResult<Vec<BulkImportRow>> {
        let s = self.lock();
        let mut out: Vec<&BulkImportRow> = s
            .bulkimport
            .rows
            .iter()
            .filter(|((a, _), r)| {
                a == app
                    && status.is_none_or(|st| r.status == st)
                    && from.as_ref().is_none_or(|(c, id)| page_key(r) <= (*c, id.as_str()))
            })
            .map(|(_, r)| r)
            .collect();
        out.sort_by(|a, b| page_key(b).cmp(&page_key(a)));
        Ok(out.into_iter().take(limit).cloned().collect())
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.count_bulk_import_rows", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %app, otel.status_code = Empty, error.type = Empty))]
    async fn count_bulk_import_rows(&self, app: &AppId, status: Option<BulkImportStatus>) -> SResult<u64> {
        let s = self.lock();
        Ok(s.bulkimport.rows.iter().filter(|((a, _), r)| a == app && status.is_none_or(|st| r.status == st)).count()
            as u64)
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.delete_bulk_import_rows", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %app, count = ids.len(),
        otel.status_code = Empty, error.type = Empty))]
    async fn delete_bulk_import_rows(&self, app: &AppId, ids: &[String]) -> SResult<Vec<String>> {
        let mut s = self.lock();
        Ok(ids.iter().filter(|id| s.bulkimport.rows.remove(&(app.clone(), (*id).clone())).is_some()).cloned().collect())
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.import_user", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %app, otel.status_code = Empty, error.type = Empty))]
    async fn import_user(&self, app: &AppId, plan: &ImportPlan, _now_ms: i64) -> SResult<ImportOutcome> {
        let mut s = self.lock();
        s.require_tenant(&TenantIdentifier::app_public(app))?;
        Ok(import(&mut s, app, plan))
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.claim_bulk_import_rows", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %app, limit = limit,
        otel.status_code = Empty, error.type = Empty))]
    async fn claim_bulk_import_rows(
        &self,
        app: &AppId,
        limit: usize,
        now_ms: i64,
        stale_before: i64,
    ) -> SResult<Vec<BulkImportRow>> {
        let mut s = self.lock();
        let mut claimable: Vec<&mut BulkImportRow> = s
            .bulkimport
            .rows
            .iter_mut()
            .filter(|((a, _), r)| {
                a == app
                    && (r.status == BulkImportStatus::New
                        || (r.status == BulkImportStatus::Processing && r.updated_at < stale_before))
            })
            .map(|(_, r)| r)
            .collect();
        claimable.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        let mut out = Vec::new();
        for r in claimable.into_iter().take(limit) {
            r.status = BulkImportStatus::Processing;
            r.updated_at = now_ms;
            out.push(r.clone());
        }
        Ok(out)
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.finish_bulk_import_rows", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %app, count = rows.len(),
        otel.status_code = Empty, error.type = Empty))]
    async fn finish_bulk_import_rows(
        &self,
        app: &AppId,
        claimed_at: i64,
        rows: &[(String, RowAction)],
        now_ms: i64,
    ) -> SResult<FinishReport> {
        let mut s = self.lock();
        let mut report = FinishReport::default();
        for (id, action) in rows {
            let key = (app.clone(), id.clone());
            let ours = s
                .bulkimport
                .rows
                .get(&key)
                .is_some_and(|r| r.status == BulkImportStatus::Processing && r.updated_at == claimed_at);
            if !ours {
                report.skipped.push(id.clone());
                continue;
            }
            let failure = match action {
                RowAction::Fail(msg) => Some(msg.clone()),
                RowAction::Import(plan) => match import(&mut s, app, plan) {
                    ImportOutcome::Imported => None,
                    ImportOutcome::Refused(messages) => Some(refusal_text(&messages)),
                },
            };
            match failure {
                None => {
                    s.bulkimport.rows.remove(&key);
                    report.imported.push(id.clone());
                }
                Some(msg) => {
                    if let Some(r) = s.bulkimport.rows.get_mut(&key) {
                        r.status = BulkImportStatus::Failed;
                        r.error_msg = Some(msg.clone());
                        r.updated_at = now_ms;
                    }
                    report.failed.push((id.clone(), msg));
                }
            }
        }
        Ok(report)
    }
}
