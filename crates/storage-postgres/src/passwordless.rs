//! [`PasswordlessStorage`] on the reference tables: `passwordless_devices` (one row per flow,
//! keyed by the device id's hash, with the link-code salt and the failed-attempt count),
//! `passwordless_codes` (keyed by code id, unique by link-code hash per tenant, cascading from
//! their device), and the users in `passwordless_users` / `passwordless_user_to_tenant` (unique
//! e-mail and phone number per tenant) with their `app_id_to_user_id` and
//! `all_auth_recipe_users` rows, written as the email-password recipe writes its users.
//!
//! * Devices are locked `FOR UPDATE` in one order, (tenant, device id hash), by every
//!   transaction that locks more than one: judging a code locks every device of the device's
//!   e-mail or phone number (a consume deletes them all), so two consumes of two devices of
//!   one e-mail queue instead of deadlocking; removals by contact, the user update and the
//!   cron job lock the devices they delete the same way.
//! * Judging a code reads the code after the device's lock is granted (READ COMMITTED: a new
//!   snapshot per statement), so it sees a removal or a failed attempt that committed while
//!   it waited.
//! * Ids and hashes in `CHAR(n)` columns are read back through `::TEXT` (no blank padding; a
//!   43-character device id hash is stored padded to 44, as the Java plugin stores it).

use crate::query::{col, is_state, tx_exec, tx_query};
use crate::{error, PgStorage, TableNames};
use async_trait::async_trait;
use deadpool_postgres::Transaction;
use st_core::accountlinking::AccountInfo;
use st_core::ids::{AppId, TenantIdentifier};
use st_core::storage::{
    AccountInfoKind, CodeAction, CodeDecider, Contact, CreateCodeResult, CreatePasswordlessUserResult, DeviceWithCodes,
    FieldUpdate, PasswordlessCode, PasswordlessDevice, PasswordlessStorage, PasswordlessUpdateResult, SResult,
};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;
use tracing::field::Empty;
use tracing::instrument;

const RECIPE_ID: &str = "passwordless";

/// Statement texts of the passwordless recipe.
#[derive(Debug)]
pub(crate) struct PasswordlessSql {
    device_insert: String,
    code_insert: String,
    device: String,
    devices_of_email: String,
    devices_of_phone: String,
    codes_of: String,
    code_by_link_hash: String,
    device_contact: String,
    lock_device_and_contact: String,
    count_failure: String,
    delete_device: String,
    delete_devices_of_email: String,
    delete_devices_of_phone: String,
    code_device: String,
    lock_device: String,
    code_counts: String,
    delete_code: String,
    lock_contact_devices: String,
    delete_locked: String,
    lock_expired: String,
    delete_expired: String,
    a2u_insert: String,
    aaru_insert: String,
    user_insert: String,
    user_tenant_insert: String,
    user_of_email: String,
    user_of_phone: String,
    users_by_phone: String,
    user_lock: String,
    user_tenants: String,
    tenant_set_email: String,
    set_email: String,
    tenant_set_phone: String,
    set_phone: String,
    lock_devices_of_user: String,
}

impl PasswordlessSql {
    pub(crate) fn new(t: &TableNames) -> PasswordlessSql {
        let dev = t.qualified("passwordless_devices");
        let codes = t.qualified("passwordless_codes");
        let pl = t.qualified("passwordless_users");
        let pl_t = t.qualified("passwordless_user_to_tenant");
        let a2u = t.qualified("app_id_to_user_id");
        let aaru = t.qualified("all_auth_recipe_users");
        let device_cols = "device_id_hash::TEXT, email, phone_number, link_code_salt::TEXT, failed_attempts";
        let code_cols = "code_id::TEXT, device_id_hash::TEXT, link_code_hash::TEXT, created_at";
        // Lock the selected devices in one order, then return their keys.
        let lock = |cond: &str| {
            format!(
                "SELECT tenant_id::TEXT, device_id_hash::TEXT FROM {dev} WHERE app_id = $1 AND {cond} \
                 ORDER BY tenant_id, device_id_hash FOR UPDATE"
            )
        };
        PasswordlessSql {
            device_insert: format!(
                "INSERT INTO {dev} (app_id, tenant_id, device_id_hash, email, phone_number, link_code_salt, \
                 failed_attempts) VALUES ($1, $2, $3, $4, $5, $6, 0)"
            ),
            code_insert: format!(
                "INSERT INTO {codes} (app_id, tenant_id, code_id, device_id_hash, link_code_hash, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)"
            ),
            device: format!(
                "SELECT {device_cols} FROM {dev} WHERE app_id = $1 AND tenant_id = $2 AND device_id_hash = $3"
            ),
            devices_of_email: format!(
                "SELECT {device_cols} FROM {dev} WHERE app_id = $1 AND tenant_id = $2 AND email = $3 \
                 ORDER BY device_id_hash"
            ),
            devices_of_phone: format!(
                "SELECT {device_cols} FROM {dev} WHERE app_id = $1 AND tenant_id = $2 AND phone_number = $3 \
                 ORDER BY device_id_hash"
            ),
            codes_of: format!(
                "SELECT {code_cols} FROM {codes} WHERE app_id = $1 AND tenant_id = $2 \
                 AND device_id_hash = ANY($3::TEXT[]::BPCHAR[]) ORDER BY created_at, code_id"
            ),
            code_by_link_hash: format!(
                "SELECT {code_cols} FROM {codes} WHERE app_id = $1 AND tenant_id = $2 AND link_code_hash = $3"
            ),
            device_contact: format!(
                "SELECT email, phone_number FROM {dev} WHERE app_id = $1 AND tenant_id = $2 AND device_id_hash = $3"
            ),
            // The device and every device of its contact ($4 e-mail, $5 phone number), locked.
            lock_device_and_contact: format!(
                "SELECT {device_cols} FROM {dev} WHERE app_id = $1 AND tenant_id = $2 \
                 AND (device_id_hash = $3 OR email = $4 OR phone_number = $5) ORDER BY device_id_hash FOR UPDATE"
            ),
            count_failure: format!(
                "UPDATE {dev} SET failed_attempts = failed_attempts + 1 \
                 WHERE app_id = $1 AND tenant_id = $2 AND device_id_hash = $3"
            ),
            delete_device: format!("DELETE FROM {dev} WHERE app_id = $1 AND tenant_id = $2 AND device_id_hash = $3"),
            delete_devices_of_email: format!("DELETE FROM {dev} WHERE app_id = $1 AND tenant_id = $2 AND email = $3"),
            delete_devices_of_phone: format!(
                "DELETE FROM {dev} WHERE app_id = $1 AND tenant_id = $2 AND phone_number = $3"
            ),
            code_device: format!(
                "SELECT device_id_hash::TEXT FROM {codes} WHERE app_id = $1 AND tenant_id = $2 AND code_id = $3"
            ),
            lock_device: format!(
                "SELECT 1 FROM {dev} WHERE app_id = $1 AND tenant_id = $2 AND device_id_hash = $3 FOR UPDATE"
            ),
            code_counts: format!(
                "SELECT COUNT(*) FILTER (WHERE code_id = $4), COUNT(*) FROM {codes} \
                 WHERE app_id = $1 AND tenant_id = $2 AND device_id_hash = $3"
            ),
            delete_code: format!("DELETE FROM {codes} WHERE app_id = $1 AND tenant_id = $2 AND code_id = $3"),
            // $2 tenants, $3 e-mails, $4 phone numbers.
            lock_contact_devices: lock(
                "tenant_id = ANY($2::TEXT[]) AND (email = ANY($3::TEXT[]) OR phone_number = ANY($4::TEXT[]))",
            ),
            // $2 tenants and $3 device id hashes, pairwise.
            delete_locked: format!(
                "DELETE FROM {dev} d USING UNNEST($2::TEXT[], $3::TEXT[]) AS k(tenant_id, device_id_hash) \
                 WHERE d.app_id = $1 AND d.tenant_id = k.tenant_id AND d.device_id_hash = k.device_id_hash::BPCHAR"
            ),
            // Devices of tenant $2 with a code created before $3; then, once locked, those of
            // them that (now) have no later code.
            lock_expired: lock(&format!(
                "tenant_id = $2 AND device_id_hash IN (SELECT c.device_id_hash FROM {codes} c \
                 WHERE c.app_id = $1 AND c.tenant_id = $2 AND c.created_at < $3)"
            )),
            delete_expired: format!(
                "DELETE FROM {dev} d WHERE d.app_id = $1 AND d.tenant_id = $2 \
                 AND d.device_id_hash = ANY($4::TEXT[]::BPCHAR[]) AND NOT EXISTS (SELECT 1 FROM {codes} c \
                 WHERE c.app_id = d.app_id AND c.tenant_id = d.tenant_id AND c.device_id_hash = d.device_id_hash \
                 AND c.created_at >= $3)"
            ),
            // As the email-password sign-up (see `emailpassword.rs`): the time columns of
            // `app_id_to_user_id` keep their default 0, as a Java 12 core writes them in LEGACY mode.
            a2u_insert: format!(
                "INSERT INTO {a2u} (app_id, user_id, recipe_id, primary_or_recipe_user_id, \
                 is_linked_or_is_a_primary_user) VALUES ($1, $2, $3, $2, FALSE)"
            ),
            aaru_insert: format!(
                "INSERT INTO {aaru} (app_id, tenant_id, user_id, primary_or_recipe_user_id, \
                 is_linked_or_is_a_primary_user, recipe_id, time_joined, primary_or_recipe_user_time_joined) \
                 VALUES ($1, $2, $3, $3, FALSE, $4, $5, $5)"
            ),
            user_insert: format!(
                "INSERT INTO {pl} (app_id, user_id, email, phone_number, time_joined) VALUES ($1, $2, $3, $4, $5)"
            ),
            user_tenant_insert: format!(
                "INSERT INTO {pl_t} (app_id, tenant_id, user_id, email, phone_number) VALUES ($1, $2, $3, $4, $5)"
            ),
            user_of_email: format!(
                "SELECT user_id::TEXT FROM {pl_t} WHERE app_id = $1 AND tenant_id = $2 AND email = $3"
            ),
            user_of_phone: format!(
                "SELECT user_id::TEXT FROM {pl_t} WHERE app_id = $1 AND tenant_id = $2 AND phone_number = $3"
            ),
            users_by_phone: format!(
                "SELECT DISTINCT a.primary_or_recipe_user_id::TEXT COLLATE \"C\" AS id FROM {aaru} a \
                 WHERE a.app_id = $1 AND a.tenant_id = $2 AND a.user_id IN ( \
                   SELECT user_id FROM {pl_t} WHERE app_id = $1 AND tenant_id = $2 AND phone_number = $3) \
                 ORDER BY id"
            ),
            user_lock: format!("SELECT email, phone_number FROM {pl} WHERE app_id = $1 AND user_id = $2 FOR UPDATE"),
            user_tenants: format!("SELECT tenant_id::TEXT FROM {aaru} WHERE app_id = $1 AND user_id = $2"),
            // The user's tenants from its `all_auth_recipe_users` rows (every user-to-tenant row
            // has one: the foreign key), so the primary key (app, tenant, user) pins the rows
            // instead of a scan of the app's.
            tenant_set_email: format!(
                "UPDATE {pl_t} SET email = $3 WHERE app_id = $1 AND user_id = $2 \
                 AND tenant_id IN (SELECT tenant_id FROM {aaru} WHERE app_id = $1 AND user_id = $2)"
            ),
            set_email: format!("UPDATE {pl} SET email = $3 WHERE app_id = $1 AND user_id = $2"),
            tenant_set_phone: format!(
                "UPDATE {pl_t} SET phone_number = $3 WHERE app_id = $1 AND user_id = $2 \
                 AND tenant_id IN (SELECT tenant_id FROM {aaru} WHERE app_id = $1 AND user_id = $2)"
            ),
            set_phone: format!("UPDATE {pl} SET phone_number = $3 WHERE app_id = $1 AND user_id = $2"),
            // The devices of a user's e-mail and phone number in its tenants ($2: the user).
            lock_devices_of_user: format!(
                "SELECT d.tenant_id::TEXT, d.device_id_hash::TEXT FROM {dev} d JOIN {pl_t} u \
                   ON u.app_id = d.app_id AND u.tenant_id = d.tenant_id \
                   AND (u.email = d.email OR u.phone_number = d.phone_number) \
                 WHERE d.app_id = $1 AND u.user_id = $2 ORDER BY d.tenant_id, d.device_id_hash FOR UPDATE OF d"
            ),
        }
    }
}

impl PgStorage {
    fn pl_sql(&self) -> &PasswordlessSql {
        &self.sql().passwordless
    }
}

fn device_of(row: &Row) -> SResult<PasswordlessDevice> {
    Ok(PasswordlessDevice {
        device_id_hash: col(row, 0)?,
        email: col(row, 1)?,
        phone_number: col(row, 2)?,
        link_code_salt: col(row, 3)?,
        failed_attempts: col(row, 4)?,
    })
}

fn code_of(row: &Row) -> SResult<PasswordlessCode> {
    Ok(PasswordlessCode {
        code_id: col(row, 0)?,
        device_id_hash: col(row, 1)?,
        link_code_hash: col(row, 2)?,
        created_at: col(row, 3)?,
    })
}

/// Whether a unique violation is of the constraint on `column`.
fn violates(e: &tokio_postgres::Error, column: &str) -> bool {
    e.as_db_error().is_some_and(|db| {
        db.constraint().is_some_and(|c| c.contains(column)) || db.detail().is_some_and(|d| d.contains(column))
    })
}

/// A code insert's failure as a [`CreateCodeResult`], or the error.
fn code_insert_failure(e: tokio_postgres::Error) -> SResult<CreateCodeResult> {
    if is_state(&e, &SqlState::UNIQUE_VIOLATION) {
        Ok(if violates(&e, "link_code_hash") {
            CreateCodeResult::DuplicateLinkCodeHash
        } else {
            CreateCodeResult::DuplicateId
        })
    } else if is_state(&e, &SqlState::FOREIGN_KEY_VIOLATION) {
        // The device is gone (codes refer to nothing else).
        Ok(CreateCodeResult::UnknownDevice)
    } else {
        Err(error::pg(e))
    }
}

/// The devices with their codes, in one more statement.
async fn with_codes(
    st: &PgStorage,
    tenant: &TenantIdentifier,
    devices: Vec<PasswordlessDevice>,
) -> SResult<Vec<DeviceWithCodes>> {
    if devices.is_empty() {
        return Ok(Vec::new());
    }
    let hashes: Vec<&str> = devices.iter().map(|d| d.device_id_hash.as_str()).collect();
    let rows = st.query(&st.pl_sql().codes_of, &[&tenant.app.as_str(), &tenant.tenant.as_str(), &hashes]).await?;
    let codes = rows.iter().map(code_of).collect::<SResult<Vec<_>>>()?;
    Ok(devices
        .into_iter()
        .map(|device| {
            let codes = codes.iter().filter(|c| c.device_id_hash == device.device_id_hash).cloned().collect();
            DeviceWithCodes { device, codes }
        })
        .collect())
}

/// Delete the devices that `lock_sql` (whose first parameter is the app) locks, in its order.
async fn delete_devices_locked_by(
    s: &PasswordlessSql,
    tx: &Transaction<'_>,
    lock_sql: &str,
    params: &[&(dyn ToSql + Sync)],
    app: &str,
) -> SResult<u64> {
    let rows = tx_query(tx, lock_sql, params).await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let tenants = rows.iter().map(|r| col::<String>(r, 0)).collect::<SResult<Vec<_>>>()?;
    let hashes = rows.iter().map(|r| col::<String>(r, 1)).collect::<SResult<Vec<_>>>()?;
    tx_exec(tx, &s.delete_locked, &[&app, &tenants, &hashes]).await
}

/// Before a passwordless login method goes (`users.rs`'s `delete_user`, in its transaction):
/// the devices of its e-mail and phone number in its tenants, as the reference's deletion.
pub(crate) async fn forget_devices_of_user(
    st: &PgStorage,
    tx: &Transaction<'_>,
    app: &str,
    user_id: &str,
) -> SResult<()> {
    let s = st.pl_sql();
    delete_devices_locked_by(s, tx, &s.lock_devices_of_user, &[&app, &user_id], app).await?;
    Ok(())
}

#[async_trait]
impl PasswordlessStorage for PgStorage {
    #[instrument(
        level = "debug", target = "st_storage", name = "storage.create_passwordless_device", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %tenant.app, tenant_id = %tenant.tenant,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn create_passwordless_device(
        &self,
        tenant: &TenantIdentifier,
        device: &PasswordlessDevice,
        code: &PasswordlessCode,
    ) -> SResult<CreateCodeResult> {
        let s = self.pl_sql();
        let (app, t) = (tenant.app.as_str(), tenant.tenant.as_str());
        self.retrying(|| async {
            let mut conn = self.conn().await?;
            let tx = conn.transaction().await.map_err(error::pg)?;
            let stmt = tx.prepare_cached(&s.device_insert).await.map_err(error::pg)?;
            let params: [&(dyn ToSql + Sync); 6] =
                [&app, &t, &device.device_id_hash, &device.email, &device.phone_number, &device.link_code_salt];
            match tx.execute(&stmt, &params).await {
                Ok(_) => {}
                Err(e) if is_state(&e, &SqlState::UNIQUE_VIOLATION) => return Ok(CreateCodeResult::DuplicateId),
                // A missing tenant: its foreign key.
                Err(e) => return Err(error::pg(e)),
            }
            let stmt = tx.prepare_cached(&s.code_insert).await.map_err(error::pg)?;
            let params: [&(dyn ToSql + Sync); 6] =
                [&app, &t, &code.code_id, &code.device_id_hash, &code.link_code_hash, &code.created_at];
            if let Err(e) = tx.execute(&stmt, &params).await {
                return code_insert_failure(e);
            }
            tx.commit().await.map_err(error::pg)?;
            Ok(CreateCodeResult::Created)
        })
        .await
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.create_passwordless_code", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %tenant.app, tenant_id = %tenant.tenant,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn create_passwordless_code(
        &self,
        tenant: &TenantIdentifier,
        code: &PasswordlessCode,
    ) -> SResult<CreateCodeResult> {
        let c = self.conn().await?;
        let stmt = c.prepare_cached(&self.pl_sql().code_insert).await.map_err(error::pg)?;
        let params: [&(dyn ToSql + Sync); 6] = [
            &tenant.app.as_str(),
            &tenant.tenant.as_str(),
            &code.code_id,
            &code.device_id_hash,
            &code.link_code_hash,
            &code.created_at,
        ];
        match c.execute(&stmt, &params).await {
            Ok(_) => Ok(CreateCodeResult::Created),
            Err(e) => code_insert_failure(e),
        }
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.passwordless_device", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %tenant.app, tenant_id = %tenant.tenant,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn passwordless_device(
        &self,
        tenant: &TenantIdentifier,
        device_id_hash: &str,
    ) -> SResult<Option<DeviceWithCodes>> {
        let params: [&(dyn ToSql + Sync); 3] = [&tenant.app.as_str(), &tenant.tenant.as_str(), &device_id_hash];
        let Some(row) = self.query_opt(&self.pl_sql().device, &params).await? else { return Ok(None) };
        Ok(with_codes(self, tenant, vec![device_of(&row)?]).await?.pop())
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.passwordless_devices_of", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %tenant.app, tenant_id = %tenant.tenant,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn passwordless_devices_of(
        &self,
        tenant: &TenantIdentifier,
        contact: &Contact,
    ) -> SResult<Vec<DeviceWithCodes>> {
        let s = self.pl_sql();
        let (sql, value) = match contact {
            Contact::Email(e) => (&s.devices_of_email, e),
            Contact::Phone(p) => (&s.devices_of_phone, p),
        };
        let rows = self.query(sql, &[&tenant.app.as_str(), &tenant.tenant.as_str(), value]).await?;
        let devices = rows.iter().map(device_of).collect::<SResult<Vec<_>>>()?;
        with_codes(self, tenant, devices).await
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.passwordless_code_by_link_hash", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %tenant.app, tenant_id = %tenant.tenant,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn passwordless_code_by_link_hash(
        &self,
        tenant: &TenantIdentifier,
        link_code_hash: &str,
    ) -> SResult<Option<PasswordlessCode>> {
        let params: [&(dyn ToSql + Sync); 3] = [&tenant.app.as_str(), &tenant.tenant.as_str(), &link_code_hash];
        self.query_opt(&self.pl_sql().code_by_link_hash, &params).await?.map(|r| code_of(&r)).transpose()
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.judge_passwordless_code", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %tenant.app, tenant_id = %tenant.tenant,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn judge_passwordless_code(
        &self,
        tenant: &TenantIdentifier,
        device_id_hash: &str,
        link_code_hash: &str,
        decide: CodeDecider<'_>,
    ) -> SResult<(Option<PasswordlessDevice>, Option<PasswordlessCode>)> {
        let s = self.pl_sql();
        let (app, t) = (tenant.app.as_str(), tenant.tenant.as_str());
        self.retrying(|| async {
            let mut conn = self.conn().await?;
            let tx = conn.transaction().await.map_err(error::pg)?;
            // The device's contact (it never changes), then the device with every device of that
            // contact, locked in one order: a consume deletes them all.
            let contact = tx_query(&tx, &s.device_contact, &[&app, &t, &device_id_hash]).await?;
            let Some(contact) = contact.first() else { return Ok((None, None)) };
            let (email, phone): (Option<String>, Option<String>) = (col(contact, 0)?, col(contact, 1)?);
            let locked =
                tx_query(&tx, &s.lock_device_and_contact, &[&app, &t, &device_id_hash, &email, &phone]).await?;
            let mut device = None;
            for row in &locked {
                let d = device_of(row)?;
                if d.device_id_hash == device_id_hash {
                    device = Some(d);
                }
            }
            let code = tx_query(&tx, &s.code_by_link_hash, &[&app, &t, &link_code_hash]).await?;
            let code = code.first().map(code_of).transpose()?;
            let Some(d) = &device else {
                // Removed while we waited for its lock.
                return Ok((None, code));
            };
            match decide(Some(d), code.as_ref()) {
                CodeAction::Keep => {}
                CodeAction::CountFailure => {
                    tx_exec(&tx, &s.count_failure, &[&app, &t, &device_id_hash]).await?;
                }
                CodeAction::DeleteDevice => {
                    tx_exec(&tx, &s.delete_device, &[&app, &t, &device_id_hash]).await?;
                }
                CodeAction::DeleteDevicesOfContact => match (&d.email, &d.phone_number) {
                    (Some(e), _) => {
                        tx_exec(&tx, &s.delete_devices_of_email, &[&app, &t, e]).await?;
                    }
                    (None, Some(p)) => {
                        tx_exec(&tx, &s.delete_devices_of_phone, &[&app, &t, p]).await?;
                    }
                    (None, None) => {
                        tx_exec(&tx, &s.delete_device, &[&app, &t, &device_id_hash]).await?;
                    }
                },
            }
            tx.commit().await.map_err(error::pg)?;
            Ok((device, code))
        })
        .await
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.remove_passwordless_code", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %tenant.app, tenant_id = %tenant.tenant,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn remove_passwordless_code(&self, tenant: &TenantIdentifier, code_id: &str) -> SResult<()> {
        let s = self.pl_sql();
        let (app, t) = (tenant.app.as_str(), tenant.tenant.as_str());
        self.retrying(|| async {
            let mut conn = self.conn().await?;
            let tx = conn.transaction().await.map_err(error::pg)?;
            let found = tx_query(&tx, &s.code_device, &[&app, &t, &code_id]).await?;
            let Some(found) = found.first() else { return Ok(()) };
            let device: String = col(found, 0)?;
            tx_query(&tx, &s.lock_device, &[&app, &t, &device]).await?;
            // Counted again under the device's lock: a concurrent removal may have been first.
            let counts = tx_query(&tx, &s.code_counts, &[&app, &t, &device, &code_id]).await?;
            let (this, all): (i64, i64) = match counts.first() {
                Some(r) => (col(r, 0)?, col(r, 1)?),
                None => (0, 0),
            };
            if this == 0 {
                return Ok(());
            }
            if all == 1 {
                tx_exec(&tx, &s.delete_device, &[&app, &t, &device]).await?;
            } else {
                tx_exec(&tx, &s.delete_code, &[&app, &t, &code_id]).await?;
            }
            tx.commit().await.map_err(error::pg)?;
            Ok(())
        })
        .await
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.remove_passwordless_device", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %tenant.app, tenant_id = %tenant.tenant,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn remove_passwordless_device(&self, tenant: &TenantIdentifier, device_id_hash: &str) -> SResult<()> {
        let params: [&(dyn ToSql + Sync); 3] = [&tenant.app.as_str(), &tenant.tenant.as_str(), &device_id_hash];
        self.execute(&self.pl_sql().delete_device, &params).await?;
        Ok(())
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.remove_passwordless_devices_of", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %tenant.app, tenant_id = %tenant.tenant,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn remove_passwordless_devices_of(&self, tenant: &TenantIdentifier, contact: &Contact) -> SResult<()> {
        let s = self.pl_sql();
        let app = tenant.app.as_str();
        let tenants = vec![tenant.tenant.as_str().to_string()];
        let (emails, phones): (Vec<&str>, Vec<&str>) = match contact {
            Contact::Email(e) => (vec![e.as_str()], vec![]),
            Contact::Phone(p) => (vec![], vec![p.as_str()]),
        };
        self.retrying(|| async {
            let mut conn = self.conn().await?;
            let tx = conn.transaction().await.map_err(error::pg)?;
            delete_devices_locked_by(s, &tx, &s.lock_contact_devices, &[&app, &tenants, &emails, &phones], app).await?;
            tx.commit().await.map_err(error::pg)?;
            Ok(())
        })
        .await
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.delete_expired_passwordless_devices", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %tenant.app, tenant_id = %tenant.tenant,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn delete_expired_passwordless_devices(
        &self,
        tenant: &TenantIdentifier,
        created_before: i64,
    ) -> SResult<u64> {
        let s = self.pl_sql();
        let (app, t) = (tenant.app.as_str(), tenant.tenant.as_str());
        self.retrying(|| async {
            let mut conn = self.conn().await?;
            let tx = conn.transaction().await.map_err(error::pg)?;
            let locked = tx_query(&tx, &s.lock_expired, &[&app, &t, &created_before]).await?;
            if locked.is_empty() {
                return Ok(0);
            }
            let hashes = locked.iter().map(|r| col::<String>(r, 1)).collect::<SResult<Vec<_>>>()?;
            // A code created while we waited for the locks keeps its device.
            let n = tx_exec(&tx, &s.delete_expired, &[&app, &t, &created_before, &hashes]).await?;
            tx.commit().await.map_err(error::pg)?;
            Ok(n)
        })
        .await
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.create_passwordless_user", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %tenant.app, tenant_id = %tenant.tenant,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn create_passwordless_user(
        &self,
        tenant: &TenantIdentifier,
        user_id: &str,
        email: Option<&str>,
        phone_number: Option<&str>,
        now_ms: i64,
    ) -> SResult<CreatePasswordlessUserResult> {
        let s = self.pl_sql();
        let (app, t) = (tenant.app.as_str(), tenant.tenant.as_str());
        self.retrying(|| async {
            let mut conn = self.conn().await?;
            let tx = conn.transaction().await.map_err(error::pg)?;
            tx_exec(&tx, &s.a2u_insert, &[&app, &user_id, &RECIPE_ID]).await?;
            tx_exec(&tx, &s.aaru_insert, &[&app, &t, &user_id, &RECIPE_ID, &now_ms]).await?;
            tx_exec(&tx, &s.user_insert, &[&app, &user_id, &email, &phone_number, &now_ms]).await?;
            let stmt = tx.prepare_cached(&s.user_tenant_insert).await.map_err(error::pg)?;
            match tx.execute(&stmt, &[&app, &t, &user_id, &email, &phone_number]).await {
                Ok(_) => {}
                // The (app, tenant, e-mail) or (app, tenant, phone number) key: another user of the
                // tenant (perhaps a concurrent consume) has it.
                Err(e) if is_state(&e, &SqlState::UNIQUE_VIOLATION) => {
                    return Ok(if violates(&e, "phone_number") {
                        CreatePasswordlessUserResult::PhoneNumberAlreadyExists
                    } else {
                        CreatePasswordlessUserResult::EmailAlreadyExists
                    })
                }
                Err(e) => return Err(error::pg(e)),
            }
            tx.commit().await.map_err(error::pg)?;
            Ok(CreatePasswordlessUserResult::Created)
        })
        .await
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.passwordless_user_of", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %tenant.app, tenant_id = %tenant.tenant,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn passwordless_user_of(&self, tenant: &TenantIdentifier, contact: &Contact) -> SResult<Option<String>> {
        let s = self.pl_sql();
        let (sql, value) = match contact {
            Contact::Email(e) => (&s.user_of_email, e),
            Contact::Phone(p) => (&s.user_of_phone, p),
        };
        let row = self.query_opt(sql, &[&tenant.app.as_str(), &tenant.tenant.as_str(), value]).await?;
        row.map(|r| col(&r, 0)).transpose()
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.users_by_phone_number", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %tenant.app, tenant_id = %tenant.tenant,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn users_by_phone_number(&self, tenant: &TenantIdentifier, phone_number: &str) -> SResult<Vec<String>> {
        let params: [&(dyn ToSql + Sync); 3] = [&tenant.app.as_str(), &tenant.tenant.as_str(), &phone_number];
        let rows = self.query(&self.pl_sql().users_by_phone, &params).await?;
        rows.iter().map(|r| col(r, 0)).collect()
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.update_passwordless_user", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn update_passwordless_user(
        &self,
        app: &AppId,
        user_id: &str,
        email: FieldUpdate<'_>,
        phone_number: FieldUpdate<'_>,
    ) -> SResult<PasswordlessUpdateResult> {
        let s = self.pl_sql();
        let a = app.as_str();
        self.retrying(|| async {
            let mut conn = self.conn().await?;
            let tx = conn.transaction().await.map_err(error::pg)?;
            // The account-linking rule first (its locks before the user's row, as the linking
            // intents take them), applied in the reference's order below.
            let new: Vec<AccountInfo> = [
                email.flatten().map(|e| AccountInfo::Email(e.to_string())),
                phone_number.flatten().map(|p| AccountInfo::PhoneNumber(p.to_string())),
            ]
            .into_iter()
            .flatten()
            .collect();
            let refused = if new.is_empty() { Vec::new() } else { self.change_refused(&tx, a, user_id, &new).await? };
            let current = tx_query(&tx, &s.user_lock, &[&a, &user_id]).await?;
            let Some(current) = current.first() else { return Ok(PasswordlessUpdateResult::UnknownUser) };
            let (old_email, old_phone): (Option<String>, Option<String>) = (col(current, 0)?, col(current, 1)?);
            let updates = [
                (
                    email,
                    AccountInfoKind::Email,
                    PasswordlessUpdateResult::EmailChangeNotAllowed,
                    &s.tenant_set_email,
                    &s.set_email,
                    PasswordlessUpdateResult::EmailAlreadyExists,
                ),
                (
                    phone_number,
                    AccountInfoKind::PhoneNumber,
                    PasswordlessUpdateResult::PhoneNumberChangeNotAllowed,
                    &s.tenant_set_phone,
                    &s.set_phone,
                    PasswordlessUpdateResult::PhoneNumberAlreadyExists,
                ),
            ];
            for (value, kind, not_allowed, tenant_sql, user_sql, taken) in updates {
                let Some(value) = value else { continue };
                if value.is_some() && refused.contains(&kind) {
                    return Ok(not_allowed);
                }
                let stmt = tx.prepare_cached(tenant_sql).await.map_err(error::pg)?;
                match tx.execute(&stmt, &[&a, &user_id, &value]).await {
                    Ok(_) => {}
                    Err(e) if is_state(&e, &SqlState::UNIQUE_VIOLATION) => return Ok(taken),
                    Err(e) => return Err(error::pg(e)),
                }
                tx_exec(&tx, user_sql, &[&a, &user_id, &value]).await?;
            }
            // The devices of a changed value, old and new, in the user's tenants.
            let (mut emails, mut phones): (Vec<String>, Vec<String>) = (Vec::new(), Vec::new());
            if let Some(new) = email.filter(|new| *new != old_email.as_deref()) {
                emails.extend(old_email.clone());
                emails.extend(new.map(str::to_string));
            }
            if let Some(new) = phone_number.filter(|new| *new != old_phone.as_deref()) {
                phones.extend(old_phone.clone());
                phones.extend(new.map(str::to_string));
            }
            if !(emails.is_empty() && phones.is_empty()) {
                let tenants = tx_query(&tx, &s.user_tenants, &[&a, &user_id]).await?;
                let tenants = tenants.iter().map(|r| col::<String>(r, 0)).collect::<SResult<Vec<_>>>()?;
                delete_devices_locked_by(s, &tx, &s.lock_contact_devices, &[&a, &tenants, &emails, &phones], a).await?;
            }
            tx.commit().await.map_err(error::pg)?;
            Ok(PasswordlessUpdateResult::Ok)
        })
        .await
    }
}
