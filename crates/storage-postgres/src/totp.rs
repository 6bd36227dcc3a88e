//! [`TotpStorage`] on the reference tables: `totp_users` (one row per user id with devices),
//! `totp_user_devices` (cascading from it) and `totp_used_codes` (per tenant, cascading from the
//! user and from the tenant; key (app, tenant, user, `created_time_ms`)), written as the Java
//! core writes them, so that either core serves the other's devices and counts its codes.
//!
//! Every change to a user's TOTP data first locks the user's `totp_users` row (`FOR NO KEY
//! UPDATE`, which leaves the foreign-key checks of other writers alone), so the judgement of a
//! code, the device changes and the removals of one user happen one after the other across
//! instances: a code accepted on one instance is refused on the next, and each wrong code
//! counts. The used codes are also read `FOR UPDATE`, as the Java core reads them, so a Java
//! core judging a code of the same user waits for ours. Two codes of one user and tenant in the
//! same millisecond collide on the table's key; the second is not recorded (as the reference).

use crate::query::{col, is_state, tx_exec, tx_query};
use crate::{error, PgStorage, TableNames};
use async_trait::async_trait;
use st_core::ids::{AppId, TenantIdentifier};
use st_core::storage::{
    CreateTotpDeviceResult, RenameTotpDeviceResult, SResult, TotpDevice, TotpJudge, TotpRecordResult, TotpStorage,
    TotpUsedCode,
};
use std::collections::HashMap;
use tokio_postgres::error::SqlState;
use tokio_postgres::Row;
use tracing::field::Empty;
use tracing::instrument;

/// Statement texts of the TOTP recipe.
#[derive(Debug)]
pub(crate) struct TotpSql {
    user_ensure: String,
    user_lock: String,
    user_delete: String,
    /// The user's row locked, left-joined with its devices (no row: no user).
    user_lock_devices: String,
    device_verified_lock: String,
    device_insert: String,
    device_delete: String,
    device_rename: String,
    device_verify: String,
    devices_exist: String,
    devices: String,
    devices_many: String,
    used_lock: String,
    used_insert: String,
    used_delete_expired: String,
}

/// The device columns, in [`device_from_row`]'s order.
const DEVICE_COLUMNS: &str = "device_name::TEXT, secret_key::TEXT, period, skew, verified, created_at";

impl TotpSql {
    pub(crate) fn new(t: &TableNames) -> TotpSql {
        let users = t.qualified("totp_users");
        let devices = t.qualified("totp_user_devices");
        let used = t.qualified("totp_used_codes");
        let device_cols = DEVICE_COLUMNS;
        let d_cols = DEVICE_COLUMNS.split(", ").map(|c| format!("d.{c}")).collect::<Vec<_>>().join(", ");
        TotpSql {
            user_ensure: format!("INSERT INTO {users} (app_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING"),
            user_lock: format!("SELECT 1 FROM {users} WHERE app_id = $1 AND user_id = $2 FOR NO KEY UPDATE"),
            user_delete: format!("DELETE FROM {users} WHERE app_id = $1 AND user_id = $2"),
            user_lock_devices: format!(
                "SELECT {d_cols} FROM {users} u LEFT JOIN {devices} d ON d.app_id = u.app_id AND d.user_id = u.user_id \
                 WHERE u.app_id = $1 AND u.user_id = $2 \
                 ORDER BY d.created_at, d.device_name COLLATE \"C\" FOR NO KEY UPDATE OF u"
            ),
            device_verified_lock: format!(
                "SELECT verified FROM {devices} WHERE app_id = $1 AND user_id = $2 AND device_name = $3 FOR UPDATE"
            ),
            device_insert: format!(
                "INSERT INTO {devices} (app_id, user_id, device_name, secret_key, period, skew, verified, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
            ),
            device_delete: format!("DELETE FROM {devices} WHERE app_id = $1 AND user_id = $2 AND device_name = $3"),
            device_rename: format!(
                "UPDATE {devices} SET device_name = $4 WHERE app_id = $1 AND user_id = $2 AND device_name = $3"
            ),
            device_verify: format!(
                "UPDATE {devices} SET verified = true WHERE app_id = $1 AND user_id = $2 AND device_name = $3"
            ),
            devices_exist: format!("SELECT EXISTS (SELECT 1 FROM {devices} WHERE app_id = $1 AND user_id = $2)"),
            devices: format!(
                "SELECT {device_cols} FROM {devices} WHERE app_id = $1 AND user_id = $2 \
                 ORDER BY created_at, device_name COLLATE \"C\""
            ),
            devices_many: format!(
                "SELECT user_id::TEXT, {device_cols} FROM {devices} WHERE app_id = $1 AND user_id = ANY($2::TEXT[]) \
                 ORDER BY user_id, created_at, device_name COLLATE \"C\""
            ),
            used_lock: format!(
                "SELECT code::TEXT, is_valid, expiry_time_ms, created_time_ms FROM {used} \
                 WHERE app_id = $1 AND tenant_id = $2 AND user_id = $3 ORDER BY created_time_ms DESC FOR UPDATE"
            ),
            used_insert: format!(
                "INSERT INTO {used} (app_id, tenant_id, user_id, code, is_valid, expiry_time_ms, created_time_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)"
            ),
            used_delete_expired: format!(
                "DELETE FROM {used} WHERE app_id = $1 AND tenant_id = $2 AND expiry_time_ms < $3"
            ),
        }
    }
}

impl PgStorage {
    fn totp_sql(&self) -> &TotpSql {
        &self.sql().totp
    }
}

/// A device from [`DEVICE_COLUMNS`] starting at column `at` (`None`: the columns are NULL, the
/// left join found no device). A Java core may leave `created_at` NULL: read as 0.
fn device_from_row(row: &Row, at: usize) -> SResult<Option<TotpDevice>> {
    let Some(name) = col::<Option<String>>(row, at)? else { return Ok(None) };
    Ok(Some(TotpDevice {
        name,
        secret_key: col(row, at + 1)?,
        period: col(row, at + 2)?,
        skew: col(row, at + 3)?,
        verified: col(row, at + 4)?,
        created_at: col::<Option<i64>>(row, at + 5)?.unwrap_or(0),
    }))
}

fn used_from_row(row: &Row) -> SResult<TotpUsedCode> {
    Ok(TotpUsedCode {
        code: col(row, 0)?,
        is_valid: col(row, 1)?,
        expiry_time_ms: col(row, 2)?,
        created_time_ms: col(row, 3)?,
    })
}

/// The user's `totp_users` row, made if missing, and locked (`FOR NO KEY UPDATE`). A concurrent
/// removal of the user's last device may delete the row between the insert (which found it) and
/// the lock (which then finds nothing): the row is made again, so the device insert that follows
/// never fails its foreign key (found by the fuzz pass, tests/http/fuzz.rs: a 500 "tenant or app
/// not found").
async fn ensure_user_locked(
    tx: &deadpool_postgres::Transaction<'_>,
    s: &TotpSql,
    a: &str,
    user_id: &str,
) -> SResult<()> {
    for _ in 0..10 {
        tx_exec(tx, &s.user_ensure, &[&a, &user_id]).await?;
        if !tx_query(tx, &s.user_lock, &[&a, &user_id]).await?.is_empty() {
            return Ok(());
        }
    }
    Err(st_core::storage::traced_error(st_core::StorageError::Query(
        "the TOTP user row was removed concurrently ten times".into(),
    )))
}

#[async_trait]
impl TotpStorage for PgStorage {
    #[instrument(
        level = "debug", target = "st_storage", name = "storage.create_totp_device", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn create_totp_device(
        &self,
        app: &AppId,
        user_id: &str,
        device: &TotpDevice,
    ) -> SResult<CreateTotpDeviceResult> {
        let s = self.totp_sql();
        let a = app.as_str();
        let name = device.name.as_str();
        self.retrying(|| async {
            let mut conn = self.conn().await?;
            let tx = conn.transaction().await.map_err(error::pg)?;
            ensure_user_locked(&tx, s, a, user_id).await?;
            let existing = tx_query(&tx, &s.device_verified_lock, &[&a, &user_id, &name]).await?;
            if let Some(row) = existing.first() {
                if col::<bool>(row, 0)? {
                    return Ok(CreateTotpDeviceResult::DeviceAlreadyExists);
                }
                // An unverified device of that name is replaced.
                tx_exec(&tx, &s.device_delete, &[&a, &user_id, &name]).await?;
            }
            let stmt = tx.prepare_cached(&s.device_insert).await.map_err(error::pg)?;
            let params: [&(dyn tokio_postgres::types::ToSql + Sync); 8] = [
                &a,
                &user_id,
                &name,
                &device.secret_key,
                &device.period,
                &device.skew,
                &device.verified,
                &device.created_at,
            ];
            match tx.execute(&stmt, &params).await {
                Ok(_) => {}
                // A writer that does not take the user's lock (a Java core) added it meanwhile.
                Err(e) if is_state(&e, &SqlState::UNIQUE_VIOLATION) => {
                    return Ok(CreateTotpDeviceResult::DeviceAlreadyExists)
                }
                Err(e) => return Err(error::pg(e)),
            }
            tx.commit().await.map_err(error::pg)?;
            Ok(CreateTotpDeviceResult::Created)
        })
        .await
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.totp_devices", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn totp_devices(&self, app: &AppId, user_id: &str) -> SResult<Vec<TotpDevice>> {
        let rows = self.query(&self.totp_sql().devices, &[&app.as_str(), &user_id]).await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            out.extend(device_from_row(row, 0)?);
        }
        Ok(out)
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.totp_devices_of_users", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app, count = user_ids.len(),
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn totp_devices_of_users(
        &self,
        app: &AppId,
        user_ids: &[String],
    ) -> SResult<HashMap<String, Vec<TotpDevice>>> {
        let rows = self.query(&self.totp_sql().devices_many, &[&app.as_str(), &user_ids]).await?;
        let mut out: HashMap<String, Vec<TotpDevice>> = HashMap::new();
        for row in &rows {
            let user: String = col(row, 0)?;
            if let Some(device) = device_from_row(row, 1)? {
                out.entry(user).or_default().push(device);
            }
        }
        Ok(out)
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.rename_totp_device", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn rename_totp_device(
        &self,
        app: &AppId,
        user_id: &str,
        old_name: &str,
        new_name: &str,
    ) -> SResult<RenameTotpDeviceResult> {
        let s = self.totp_sql();
        let a = app.as_str();
        self.retrying(|| async {
            let mut conn = self.conn().await?;
            let tx = conn.transaction().await.map_err(error::pg)?;
            if tx_query(&tx, &s.user_lock, &[&a, &user_id]).await?.is_empty() {
                return Ok(RenameTotpDeviceResult::UnknownDevice);
            }
            let stmt = tx.prepare_cached(&s.device_rename).await.map_err(error::pg)?;
            let renamed = match tx.execute(&stmt, &[&a, &user_id, &old_name, &new_name]).await {
                Ok(n) => n,
                Err(e) if is_state(&e, &SqlState::UNIQUE_VIOLATION) => {
                    return Ok(RenameTotpDeviceResult::DeviceAlreadyExists)
                }
                Err(e) => return Err(error::pg(e)),
            };
            if renamed == 0 {
                return Ok(RenameTotpDeviceResult::UnknownDevice);
            }
            tx.commit().await.map_err(error::pg)?;
            Ok(RenameTotpDeviceResult::Renamed)
        })
        .await
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.remove_totp_device", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn remove_totp_device(&self, app: &AppId, user_id: &str, name: &str) -> SResult<bool> {
        let s = self.totp_sql();
        let a = app.as_str();
        self.retrying(|| async {
            let mut conn = self.conn().await?;
            let tx = conn.transaction().await.map_err(error::pg)?;
            if tx_query(&tx, &s.user_lock, &[&a, &user_id]).await?.is_empty() {
                return Ok(false);
            }
            if tx_exec(&tx, &s.device_delete, &[&a, &user_id, &name]).await? == 0 {
                return Ok(false);
            }
            let rows = tx_query(&tx, &s.devices_exist, &[&a, &user_id]).await?;
            let any_left = match rows.first() {
                Some(row) => col::<bool>(row, 0)?,
                None => false,
            };
            if !any_left {
                // The user goes with its last device, and its used codes with it (cascade).
                tx_exec(&tx, &s.user_delete, &[&a, &user_id]).await?;
            }
            tx.commit().await.map_err(error::pg)?;
            Ok(true)
        })
        .await
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.judge_totp_code", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %tenant.app, tenant_id = %tenant.tenant,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn judge_totp_code(
        &self,
        tenant: &TenantIdentifier,
        user_id: &str,
        judge: TotpJudge<'_>,
    ) -> SResult<TotpRecordResult> {
        let s = self.totp_sql();
        let (a, t) = (tenant.app.as_str(), tenant.tenant.as_str());
        self.retrying(|| async {
            let mut conn = self.conn().await?;
            let tx = conn.transaction().await.map_err(error::pg)?;
            let rows = tx_query(&tx, &s.user_lock_devices, &[&a, &user_id]).await?;
            let mut devices = Vec::with_capacity(rows.len());
            for row in &rows {
                devices.extend(device_from_row(row, 0)?);
            }
            let used = if rows.is_empty() {
                // No user: no codes either (they hang off the user).
                Vec::new()
            } else {
                let rows = tx_query(&tx, &s.used_lock, &[&a, &t, &user_id]).await?;
                rows.iter().map(used_from_row).collect::<SResult<Vec<_>>>()?
            };
            let judgement = judge(&devices, &used);
            let Some(code) = judgement.record else { return Ok(TotpRecordResult::NotRecorded) };
            if rows.is_empty() {
                return Ok(TotpRecordResult::NotRecorded);
            }
            let stmt = tx.prepare_cached(&s.used_insert).await.map_err(error::pg)?;
            let params: [&(dyn tokio_postgres::types::ToSql + Sync); 7] =
                [&a, &t, &user_id, &code.code, &code.is_valid, &code.expiry_time_ms, &code.created_time_ms];
            match tx.execute(&stmt, &params).await {
                Ok(_) => {}
                Err(e) if is_state(&e, &SqlState::UNIQUE_VIOLATION) => return Ok(TotpRecordResult::SameMillisecond),
                Err(e) => return Err(error::pg(e)),
            }
            if let Some(name) = &judgement.verify_device {
                tx_exec(&tx, &s.device_verify, &[&a, &user_id, name]).await?;
            }
            tx.commit().await.map_err(error::pg)?;
            Ok(TotpRecordResult::Recorded)
        })
        .await
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.delete_expired_totp_codes", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %tenant.app, tenant_id = %tenant.tenant,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn delete_expired_totp_codes(&self, tenant: &TenantIdentifier, expired_before: i64) -> SResult<u64> {
        self.execute(
            &self.totp_sql().used_delete_expired,
            &[&tenant.app.as_str(), &tenant.tenant.as_str(), &expired_before],
        )
        .await
    }
}
