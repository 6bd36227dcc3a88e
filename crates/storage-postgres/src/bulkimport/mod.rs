//! [`BulkImportStorage`] on the plugin's `bulk_import_users` table (its columns, statuses and
//! indexes, so a Java core reads our rows and we read its), and the import of one user into
//! the reference's LEGACY user tables in one transaction.
//!
//! * A claim is one statement: `NEW` rows (and `PROCESSING` rows whose claim is older than the
//!   timeout) picked `FOR UPDATE SKIP LOCKED`, in creation order, and moved to `PROCESSING`
//!   with `updated_at` = the claim time. Two claimers never get one row: a row locked by one is
//!   skipped by the other, and a committed claim is no longer `NEW`.
//! * Settling claimed rows is one transaction: it locks the rows still carrying this claim
//!   (`status = 'PROCESSING' AND updated_at = claim time`, `FOR UPDATE`), imports each user in
//!   a savepoint (rolled back on a refusal, the row then `FAILED` with the reference's
//!   message), deletes the rows of the imported users and commits. A user and the removal of
//!   its row commit together; an instance dying before the commit leaves the rows `PROCESSING`
//!   and no user written, and they are claimed again after the timeout.
//! * The import of a user inserts its login methods as the per-recipe sign-ups do
//!   (`app_id_to_user_id` with its time columns at their default 0, as a Java core in LEGACY
//!   mode; `all_auth_recipe_users` and the recipe tables per tenant), the uniqueness keys of the
//!   tenant tables deciding races (`ON CONFLICT DO NOTHING`, an unchanged row being the
//!   refusal). A primary user (a login method marked `isPrimary`) first takes the advisory
//!   locks of its account infos, as the account-linking intents do, and is refused when
//!   another primary user sharing a tenant holds one of them (the domain's
//!   `account_info_conflict`).
//! * A settlement first writes the users of its chunk that cannot be refused together, with
//!   one multi-row statement per table (see [`chunk`]); the others are imported user by user
//!   as above, each in its savepoint, in row order.

mod chunk;

use crate::query::{col, tx_exec, tx_query};
use crate::users::group_users;
use crate::{error, PgStorage, TableNames};
use async_trait::async_trait;
use deadpool_postgres::Transaction;
use st_core::accountlinking::{account_info_conflict, AccountInfo};
use st_core::bulkimport::refusal_text;
use st_core::ids::AppId;
use st_core::storage::{
    BulkImportRow, BulkImportStatus, BulkImportStorage, FinishReport, ImportLoginMethod, ImportOutcome, ImportPlan,
    LoginMethod, RowAction, SResult,
};
use st_core::StorageError;
use tokio_postgres::Row;
use tracing::field::Empty;
use tracing::instrument;

const ROW_COLUMNS: &str = "id::TEXT, raw_data, status, primary_user_id::TEXT, error_msg, created_at, updated_at";

/// Statement texts of the bulk-import intents.
#[derive(Debug)]
pub(crate) struct BulkImportSql {
    insert: String,
    list: [String; 4],
    count: String,
    count_status: String,
    delete: String,
    claim: String,
    lock_claimed: String,
    delete_claimed: String,
    fail_claimed: String,
    a2u_insert: String,
    aaru_insert: String,
    ep_insert: String,
    ep_tenant_insert: String,
    tp_insert: String,
    tp_tenant_insert: String,
    pl_insert: String,
    pl_tenant_insert: String,
    pl_email_taken: String,
    advisory_locks: String,
    holders: String,
    map_insert: String,
    verify: String,
    totp_user: String,
    totp_device: String,
    metadata: String,
    roles_present: String,
    user_role: String,
    chunk: chunk::ChunkSql,
}

impl BulkImportSql {
    pub(crate) fn new(t: &TableNames) -> BulkImportSql {
        let bi = t.qualified("bulk_import_users");
        let a2u = t.qualified("app_id_to_user_id");
        let aaru = t.qualified("all_auth_recipe_users");
        let ep = t.qualified("emailpassword_users");
        let ep_t = t.qualified("emailpassword_user_to_tenant");
        let tp = t.qualified("thirdparty_users");
        let tp_t = t.qualified("thirdparty_user_to_tenant");
        let pl = t.qualified("passwordless_users");
        let pl_t = t.qualified("passwordless_user_to_tenant");
        let wa_t = t.qualified("webauthn_user_to_tenant");
        let map = t.qualified("userid_mapping");
        let eve = t.qualified("emailverification_verified_emails");
        let totp_users = t.qualified("totp_users");
        let totp_devices = t.qualified("totp_user_devices");
        let md = t.qualified("user_metadata");
        let roles = t.qualified("roles");
        let ur = t.qualified("user_roles");
        // Pages: [no status, no position], [status], [position], [status and position].
        let page = |status: bool, from: bool| {
            let mut q = format!("SELECT {ROW_COLUMNS} FROM {bi} WHERE app_id = $1");
            let mut n = 2;
            if status {
                q.push_str(&format!(" AND status = ${n}"));
                n += 1;
            }
            if from {
                q.push_str(&format!(
                    " AND (created_at < ${n} OR (created_at = ${n} AND id <= ${}::TEXT::BPCHAR))",
                    n + 1
                ));
                n += 2;
            }
            q.push_str(&format!(" ORDER BY created_at DESC, id DESC LIMIT ${n}"));
            q
        };
        BulkImportSql {
            insert: format!(
                "INSERT INTO {bi} (id, app_id, raw_data, status, created_at, updated_at) \
                 SELECT i, $1, r, 'NEW', $4, $4 FROM UNNEST($2::TEXT[], $3::TEXT[]) AS x(i, r) \
                 ON CONFLICT DO NOTHING"
            ),
            list: [page(false, false), page(true, false), page(false, true), page(true, true)],
            count: format!("SELECT COUNT(*) FROM {bi} WHERE app_id = $1"),
            count_status: format!("SELECT COUNT(*) FROM {bi} WHERE app_id = $1 AND status = $2"),
            delete: format!("DELETE FROM {bi} WHERE app_id = $1 AND id = ANY($2::TEXT[]::BPCHAR[]) RETURNING id::TEXT"),
            claim: format!(
                "WITH c AS (SELECT id FROM {bi} WHERE app_id = $1 \
                   AND (status = 'NEW' OR (status = 'PROCESSING' AND updated_at < $3)) \
                   ORDER BY created_at, id LIMIT $2 FOR UPDATE SKIP LOCKED) \
                 UPDATE {bi} b SET status = 'PROCESSING', updated_at = $4 FROM c \
                 WHERE b.app_id = $1 AND b.id = c.id \
                 RETURNING b.id::TEXT, b.raw_data, b.status, b.primary_user_id::TEXT, b.error_msg, b.created_at, \
                   b.updated_at"
            ),
            lock_claimed: format!(
                "SELECT id::TEXT FROM {bi} WHERE app_id = $1 AND id = ANY($2::TEXT[]::BPCHAR[]) \
                 AND status = 'PROCESSING' AND updated_at = $3 ORDER BY id FOR UPDATE"
            ),
            delete_claimed: format!("DELETE FROM {bi} WHERE app_id = $1 AND id = ANY($2::TEXT[]::BPCHAR[])"),
            fail_claimed: format!(
                "UPDATE {bi} b SET status = 'FAILED', error_msg = x.m, updated_at = $4 \
                 FROM UNNEST($2::TEXT[], $3::TEXT[]) AS x(i, m) WHERE b.app_id = $1 AND b.id = x.i::BPCHAR"
            ),
            a2u_insert: format!(
                "INSERT INTO {a2u} (app_id, user_id, recipe_id, primary_or_recipe_user_id, \
                 is_linked_or_is_a_primary_user) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING"
            ),
            aaru_insert: format!(
                "INSERT INTO {aaru} (app_id, tenant_id, user_id, primary_or_recipe_user_id, \
                 is_linked_or_is_a_primary_user, recipe_id, time_joined, primary_or_recipe_user_time_joined) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
            ),
            ep_insert: format!(
                "INSERT INTO {ep} (app_id, user_id, email, password_hash, time_joined) VALUES ($1, $2, $3, $4, $5)"
            ),
            ep_tenant_insert: format!(
                "INSERT INTO {ep_t} (app_id, tenant_id, user_id, email) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING"
            ),
            tp_insert: format!(
                "INSERT INTO {tp} (app_id, third_party_id, third_party_user_id, user_id, email, time_joined) \
                 VALUES ($1, $2, $3, $4, $5, $6)"
            ),
            tp_tenant_insert: format!(
                "INSERT INTO {tp_t} (app_id, tenant_id, user_id, third_party_id, third_party_user_id) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING"
            ),
            pl_insert: format!(
                "INSERT INTO {pl} (app_id, user_id, email, phone_number, time_joined) VALUES ($1, $2, $3, $4, $5)"
            ),
            pl_tenant_insert: format!(
                "INSERT INTO {pl_t} (app_id, tenant_id, user_id, email, phone_number) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT DO NOTHING"
            ),
            pl_email_taken: format!("SELECT 1 FROM {pl_t} WHERE app_id = $1 AND tenant_id = $2 AND email = $3"),
            advisory_locks:
                "SELECT pg_advisory_xact_lock(k) FROM (SELECT k FROM UNNEST($1::BIGINT[]) AS k ORDER BY k) s".into(),
            // As the account-linking intents' (see `accountlinking.rs`).
            // Driven from the few values asked for: each is looked up through its index, and
            // the user's group through the primary key (`OFFSET 0` keeps that look-up a
            // parameterised nested loop). The job inserts thousands of users in one transaction,
            // which the statistics never see: the `IN (…)` form of the account-linking intents
            // was planned there as a nested loop over every row inserted so far, re-scanning the
            // recipe tables for each (20,000 users did not finish in six minutes).
            holders: format!(
                "SELECT DISTINCT a.primary_or_recipe_user_id::TEXT FROM ( \
                     SELECT u.user_id FROM UNNEST($2::TEXT[]) AS e(v) JOIN {ep} u ON u.app_id = $1 AND u.email = e.v \
                     UNION ALL SELECT u.user_id FROM UNNEST($2::TEXT[]) AS e(v) \
                       JOIN {tp} u ON u.app_id = $1 AND u.email = e.v \
                     UNION ALL SELECT u.user_id FROM UNNEST($2::TEXT[]) AS e(v) \
                       JOIN {pl} u ON u.app_id = $1 AND u.email = e.v \
                     UNION ALL SELECT u.user_id FROM UNNEST($2::TEXT[]) AS e(v) \
                       JOIN {wa_t} u ON u.app_id = $1 AND u.email = e.v \
                     UNION ALL SELECT u.user_id FROM UNNEST($3::TEXT[]) AS e(v) \
                       JOIN {pl} u ON u.app_id = $1 AND u.phone_number = e.v \
                     UNION ALL SELECT u.user_id FROM UNNEST($4::TEXT[], $5::TEXT[]) AS p(id, uid) \
                       JOIN {tp} u ON u.app_id = $1 AND u.third_party_id = p.id AND u.third_party_user_id = p.uid \
                 ) s CROSS JOIN LATERAL (SELECT x.primary_or_recipe_user_id FROM {a2u} x \
                     WHERE x.app_id = $1 AND x.user_id = s.user_id AND x.is_linked_or_is_a_primary_user OFFSET 0) a"
            ),
            map_insert: format!(
                "INSERT INTO {map} (app_id, supertokens_user_id, external_user_id) \
                 SELECT $1::TEXT, $2::TEXT, $3::TEXT WHERE NOT EXISTS (SELECT 1 FROM {map} \
                   WHERE app_id = $1::TEXT AND (external_user_id = $3::TEXT OR supertokens_user_id = $3::TEXT::BPCHAR)) \
                 ON CONFLICT DO NOTHING"
            ),
            verify: format!("INSERT INTO {eve} (app_id, user_id, email) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING"),
            totp_user: format!("INSERT INTO {totp_users} (app_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING"),
            totp_device: format!(
                "INSERT INTO {totp_devices} (app_id, user_id, device_name, secret_key, period, skew, verified, \
                 created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING"
            ),
            metadata: format!(
                "INSERT INTO {md} (app_id, user_id, user_metadata) VALUES ($1, $2, $3) \
                 ON CONFLICT (app_id, user_id) DO UPDATE SET user_metadata = EXCLUDED.user_metadata"
            ),
            roles_present: format!(
                "SELECT role::TEXT FROM {roles} WHERE app_id = $1 AND role = ANY($2::TEXT[]) FOR SHARE"
            ),
            user_role: format!(
                "INSERT INTO {ur} (app_id, tenant_id, user_id, role) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING"
            ),
            chunk: chunk::ChunkSql::new(t),
        }
    }
}

fn row_of(r: &Row) -> SResult<BulkImportRow> {
    let status: String = col(r, 2)?;
    Ok(BulkImportRow {
        id: col(r, 0)?,
        raw_data: col(r, 1)?,
        status: BulkImportStatus::parse(&status)
            .ok_or_else(|| error::bad_row("bulk_import_users.status", format!("unknown status {status}")))?,
        primary_user_id: col(r, 3)?,
        error_msg: col(r, 4)?,
        created_at: col(r, 5)?,
        updated_at: col(r, 6)?,
    })
}

/// Whether an error ends a settlement uncommitted (its rows claimed again after the timeout)
/// rather than failing one row: a lost connection, a deadlock, a serialisation failure.
fn ends_settlement(e: &StorageError) -> bool {
    match e {
        StorageError::Query(m) => m.starts_with("40P01") || m.starts_with("40001"),
        _ => true,
    }
}

fn login_method(m: &ImportLoginMethod) -> LoginMethod {
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

impl PgStorage {
    fn bi_sql(&self) -> &BulkImportSql {
        &self.sql().bulkimport
    }

    /// The advisory-lock keys of account infos, as the account-linking intents compute them.
    fn bi_info_keys(&self, app: &str, infos: &[AccountInfo]) -> Vec<i64> {
        let mut keys: Vec<i64> =
            infos.iter().map(|i| self.lock_key("st-account-info", &format!("{app}\u{1}{}", i.key_text()))).collect();
        keys.sort_unstable();
        keys.dedup();
        keys
    }

    /// Write `plan` in `tx`: `None` when written, else the refusals (the caller rolls back).
    async fn import_in(&self, tx: &Transaction<'_>, app: &str, plan: &ImportPlan) -> SResult<Option<Vec<String>>> {
        let s = self.bi_sql();
        if plan.linked {
            let methods: Vec<LoginMethod> = plan.methods.iter().map(login_method).collect();
            let mut infos: Vec<AccountInfo> = methods.iter().flat_map(AccountInfo::of).collect();
            infos.sort();
            infos.dedup();
            tx_query(tx, &s.advisory_locks, &[&self.bi_info_keys(app, &infos)]).await?;
            let (mut emails, mut phones, mut tp_ids, mut tp_users) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for info in &infos {
                match info {
                    AccountInfo::Email(e) => emails.push(e.as_str()),
                    AccountInfo::PhoneNumber(p) => phones.push(p.as_str()),
                    AccountInfo::ThirdParty(id, uid) => {
                        tp_ids.push(id.as_str());
                        tp_users.push(uid.as_str());
                    }
                }
            }
            let holders = tx_query(tx, &s.holders, &[&app, &emails, &phones, &tp_ids, &tp_users]).await?;
            let ids = holders.iter().map(|r| col::<String>(r, 0)).collect::<SResult<Vec<String>>>()?;
            if !ids.is_empty() {
                let others = group_users(&tx_query(tx, &self.sql().users.auth_users, &[&app, &ids]).await?)?;
                let mut tenants: Vec<&str> =
                    plan.methods.iter().flat_map(|m| m.tenant_ids.iter().map(String::as_str)).collect();
                tenants.sort_unstable();
                tenants.dedup();
                if account_info_conflict(&infos, &tenants, &plan.main_user_id, &others).is_some() {
                    return Ok(Some(vec![format!(
                        "E022: We tried to create the primary user for the userId {} but the account info is \
                         already associated with another primary user.",
                        plan.main_user_id
                    )]));
                }
            }
        }
        let group_time = plan.methods.iter().map(|m| m.time_joined).min().unwrap_or(0);
        for m in &plan.methods {
            let id = m.recipe_user_id.as_str();
            let (primary, group_joined) =
                if plan.linked { (plan.main_user_id.as_str(), group_time) } else { (id, m.time_joined) };
            let linked = plan.linked;
            if tx_exec(tx, &s.a2u_insert, &[&app, &id, &m.recipe_id, &primary, &linked]).await? == 0 {
                return Ok(Some(vec![format!("E000: A user with id {id} already exists.")]));
            }
            for t in &m.tenant_ids {
                let t = t.as_str();
                let inserted = tx_exec(
                    tx,
                    &s.aaru_insert,
                    &[&app, &t, &id, &primary, &linked, &m.recipe_id, &m.time_joined, &group_joined],
                )
                .await;
                match inserted {
                    Ok(_) => {}
                    Err(StorageError::TenantOrAppNotFound) => {
                        return Ok(Some(vec![format!("E008: Tenant {t} of app {app} not found")]));
                    }
                    Err(e) => return Err(e),
                }
            }
            let email = m.email.as_deref();
            match m.recipe_id.as_str() {
                "emailpassword" => {
                    let hash = m.password_hash.as_deref().unwrap_or_default();
                    tx_exec(tx, &s.ep_insert, &[&app, &id, &email, &hash, &m.time_joined]).await?;
                    for t in &m.tenant_ids {
                        if tx_exec(tx, &s.ep_tenant_insert, &[&app, &t.as_str(), &id, &email]).await? == 0 {
                            return Ok(Some(vec![format!(
                                "E003: A user with email {} already exists in emailpassword loginMethod.",
                                email.unwrap_or_default()
                            )]));
                        }
                    }
                }
                "thirdparty" => {
                    let (tp_id, tp_uid) = m.third_party.clone().unwrap_or_default();
                    tx_exec(tx, &s.tp_insert, &[&app, &tp_id, &tp_uid, &id, &email, &m.time_joined]).await?;
                    for t in &m.tenant_ids {
                        if tx_exec(tx, &s.tp_tenant_insert, &[&app, &t.as_str(), &id, &tp_id, &tp_uid]).await? == 0 {
                            return Ok(Some(vec![format!(
                                "E005: A user with thirdPartyId {tp_id} and thirdPartyUserId {tp_uid} already \
                                 exists in thirdparty loginMethod."
                            )]));
                        }
                    }
                }
                "passwordless" => {
                    let phone = m.phone_number.as_deref();
                    tx_exec(tx, &s.pl_insert, &[&app, &id, &email, &phone, &m.time_joined]).await?;
                    for t in &m.tenant_ids {
                        let t = t.as_str();
                        if tx_exec(tx, &s.pl_tenant_insert, &[&app, &t, &id, &email, &phone]).await? == 0 {
                            let email_taken = match email {
                                Some(e) => !tx_query(tx, &s.pl_email_taken, &[&app, &t, &e]).await?.is_empty(),
                                None => false,
                            };
                            return Ok(Some(vec![if email_taken {
                                format!(
                                    "E006: A user with email {} already exists in passwordless loginMethod.",
                                    email.unwrap_or_default()
                                )
                            } else {
                                format!(
                                    "E007: A user with phoneNumber {} already exists in passwordless loginMethod.",
                                    phone.unwrap_or_default()
                                )
                            }]));
                        }
                    }
                }
                other => return Ok(Some(vec![format!("E001: Unknown recipeId(s) [{other}] for loginMethod.")])),
            }
        }
        if let Some(ext) = &plan.external_user_id {
            if tx_exec(tx, &s.map_insert, &[&app, &plan.main_user_id, ext]).await? == 0 {
                return Ok(Some(vec![format!("E031: A user with externalId {ext} already exists")]));
            }
        }
        for m in &plan.methods {
            if let (true, Some(email)) = (m.verified, &m.email) {
                tx_exec(tx, &s.verify, &[&app, &plan.id_of(m), email]).await?;
            }
        }
        let data_id = plan.data_user_id();
        if !plan.totp_devices.is_empty() {
            tx_exec(tx, &s.totp_user, &[&app, &data_id]).await?;
            for d in &plan.totp_devices {
                tx_exec(
                    tx,
                    &s.totp_device,
                    &[&app, &data_id, &d.name, &d.secret_key, &d.period, &d.skew, &d.verified, &d.created_at],
                )
                .await?;
            }
        }
        if let Some(md) = &plan.metadata {
            let text = serde_json::Value::Object(md.clone()).to_string();
            tx_exec(tx, &s.metadata, &[&app, &data_id, &text]).await?;
        }
        if !plan.roles.is_empty() {
            let mut wanted: Vec<&str> = plan.roles.iter().map(|(_, r)| r.as_str()).collect();
            wanted.sort_unstable();
            wanted.dedup();
            let present = tx_query(tx, &s.roles_present, &[&app, &wanted]).await?;
            if present.len() != wanted.len() {
                return Ok(Some(vec![
                    "E034: Role does not exist! You need to pre-create the role before assigning it to the user."
                        .into(),
                ]));
            }
            for (tenant, role) in &plan.roles {
                match tx_exec(tx, &s.user_role, &[&app, tenant, &data_id, role]).await {
                    Ok(_) => {}
                    Err(StorageError::TenantOrAppNotFound) => {
                        return Ok(Some(vec![format!("E033: Tenant {tenant} of app {app} not found")]));
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(None)
    }
}

#[async_trait]
impl BulkImportStorage for PgStorage {
    #[instrument(
        level = "debug", target = "st_storage", name = "storage.add_bulk_import_rows", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app, count = rows.len(),
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn add_bulk_import_rows(&self, app: &AppId, rows: &[(String, String)], now_ms: i64) -> SResult<bool> {
        let ids: Vec<&str> = rows.iter().map(|(i, _)| i.as_str()).collect();
        let raws: Vec<&str> = rows.iter().map(|(_, r)| r.as_str()).collect();
        let a = app.as_str();
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(error::pg)?;
        let n = tx_exec(&tx, &self.bi_sql().insert, &[&a, &ids, &raws, &now_ms]).await?;
        if n as usize != rows.len() {
            // A taken id (or a repeated one): nothing is kept.
            return Ok(false);
        }
        tx.commit().await.map_err(error::pg)?;
        Ok(true)
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.bulk_import_rows", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app, limit = limit,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn bulk_import_rows(
        &self,
        app: &AppId,
        status: Option<BulkImportStatus>,
        limit: usize,
        from: Option<(i64, String)>,
    ) -> SResult<Vec<BulkImportRow>> {
        let s = self.bi_sql();
        let a = app.as_str();
        let limit = limit as i64;
        let rows = match (status.map(BulkImportStatus::as_str), &from) {
            (None, None) => self.query(&s.list[0], &[&a, &limit]).await?,
            (Some(st), None) => self.query(&s.list[1], &[&a, &st, &limit]).await?,
            (None, Some((c, id))) => self.query(&s.list[2], &[&a, c, id, &limit]).await?,
            (Some(st), Some((c, id))) => self.query(&s.list[3], &[&a, &st, c, id, &limit]).await?,
        };
        rows.iter().map(row_of).collect()
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.count_bulk_import_rows", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn count_bulk_import_rows(&self, app: &AppId, status: Option<BulkImportStatus>) -> SResult<u64> {
        let s = self.bi_sql();
        let a = app.as_str();
        let row = match status {
            None => self.query_opt(&s.count, &[&a]).await?,
            Some(st) => self.query_opt(&s.count_status, &[&a, &st.as_str()]).await?,
        };
        let n: i64 = match row {
            Some(r) => col(&r, 0)?,
            None => 0,
        };
        Ok(n.max(0) as u64)
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.delete_bulk_import_rows", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app, count = ids.len(),
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn delete_bulk_import_rows(&self, app: &AppId, ids: &[String]) -> SResult<Vec<String>> {
        let rows = self.query(&self.bi_sql().delete, &[&app.as_str(), &ids]).await?;
        rows.iter().map(|r| col(r, 0)).collect()
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.import_user", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn import_user(&self, app: &AppId, plan: &ImportPlan, _now_ms: i64) -> SResult<ImportOutcome> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(error::pg)?;
        let imported = match self.import_in(&tx, app.as_str(), plan).await {
            Ok(r) => r,
            // A value the database refuses: the reference's 400 with its message.
            Err(e @ StorageError::Query(_)) => return Ok(ImportOutcome::Refused(vec![e.to_string()])),
            Err(e) => return Err(e),
        };
        match imported {
            Some(refusals) => Ok(ImportOutcome::Refused(refusals)),
            None => {
                tx.commit().await.map_err(error::pg)?;
                Ok(ImportOutcome::Imported)
            }
        }
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.claim_bulk_import_rows", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app, limit = limit,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn claim_bulk_import_rows(
        &self,
        app: &AppId,
        limit: usize,
        now_ms: i64,
        stale_before: i64,
    ) -> SResult<Vec<BulkImportRow>> {
        let limit = limit as i64;
        let rows = self.query(&self.bi_sql().claim, &[&app.as_str(), &limit, &stale_before, &now_ms]).await?;
        let mut out = rows.iter().map(row_of).collect::<SResult<Vec<_>>>()?;
        out.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(out)
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.finish_bulk_import_rows", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app, count = rows.len(),
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn finish_bulk_import_rows(
        &self,
        app: &AppId,
        claimed_at: i64,
        rows: &[(String, RowAction)],
        now_ms: i64,
    ) -> SResult<FinishReport> {
        let s = self.bi_sql();
        let a = app.as_str();
        let ids: Vec<&str> = rows.iter().map(|(id, _)| id.as_str()).collect();
        let mut conn = self.conn().await?;
        let mut tx = conn.transaction().await.map_err(error::pg)?;
        let locked = tx_query(&tx, &s.lock_claimed, &[&a, &ids, &claimed_at]).await?;
        let ours =
            locked.iter().map(|r| col::<String>(r, 0)).collect::<SResult<std::collections::HashSet<String>>>()?;
        let imports: Vec<(usize, &ImportPlan)> = rows
            .iter()
            .enumerate()
            .filter_map(|(i, (id, action))| match action {
                RowAction::Import(plan) if ours.contains(id) => Some((i, plan.as_ref())),
                _ => None,
            })
            .collect();
        let batched =
            if imports.is_empty() { Default::default() } else { self.bi_import_chunk(&mut tx, a, &imports).await? };
        let mut report = FinishReport::default();
        for (i, (id, action)) in rows.iter().enumerate() {
            if !ours.contains(id) {
                report.skipped.push(id.clone());
                continue;
            }
            if batched.contains(&i) {
                report.imported.push(id.clone());
                continue;
            }
            let failure = match action {
                RowAction::Fail(msg) => Some(msg.clone()),
                RowAction::Import(plan) => {
                    let sp = tx.savepoint("bulk_import_user").await.map_err(error::pg)?;
                    match self.import_in(&sp, a, plan).await {
                        Ok(None) => {
                            sp.commit().await.map_err(error::pg)?;
                            None
                        }
                        Ok(Some(refusals)) => {
                            sp.rollback().await.map_err(error::pg)?;
                            Some(refusal_text(&refusals))
                        }
                        // A row the database refuses otherwise fails alone (the savepoint
                        // rolls back). A lost connection, a deadlock or a serialisation failure
                        // ends the whole settlement instead (nothing committed: the rows are
                        // claimed again after the timeout).
                        Err(e) => {
                            if ends_settlement(&e) {
                                return Err(e);
                            }
                            sp.rollback().await.map_err(error::pg)?;
                            Some(e.to_string())
                        }
                    }
                }
            };
            match failure {
                None => report.imported.push(id.clone()),
                Some(msg) => report.failed.push((id.clone(), msg)),
            }
        }
        if !report.imported.is_empty() {
            tx_exec(&tx, &s.delete_claimed, &[&a, &report.imported]).await?;
        }
        if !report.failed.is_empty() {
            let (fids, msgs): (Vec<&str>, Vec<&str>) =
                report.failed.iter().map(|(i, m)| (i.as_str(), m.as_str())).unzip();
            tx_exec(&tx, &s.fail_claimed, &[&a, &fids, &msgs, &now_ms]).await?;
        }
        tx.commit().await.map_err(error::pg)?;
        drop(conn);
        self.bi_refresh_stats(report.imported.len()).await;
        Ok(report)
    }
}
