//! Start-up of the database: schema, migrations, base rows, `activity_log` partitions.
//!
//! Everything runs on one dedicated connection (not a pooled one) that holds a session
//! advisory lock for the whole bootstrap, so instances starting together take turns; closing
//! the connection releases the lock even on error.
//!
//! The migration is `migrations/V1__reference_schema.sql`, embedded at build time, with
//! `__SCHEMA__` / `__PREFIX__` (and the deprecated per-table name overrides) substituted, run
//! by refinery with its history table at `<schema>.<prefix>refinery_schema_history`. Every
//! statement in it is `CREATE … IF NOT EXISTS`, so a database created by the Java core (which
//! has no history table) is migrated to exactly what it already has; only the history table is
//! added.

use crate::error;
use crate::multitenancy::TenantSql;
use crate::TableNames;
use st_core::clock::{Clock, SystemClock};
use st_core::StorageError;

/// The migration template (see its header and docs/SCHEMA.md).
pub const V1_TEMPLATE: &str = include_str!("../../../migrations/V1__reference_schema.sql");
/// refinery's name for it.
pub const V1_NAME: &str = "V1__reference_schema";
/// The columns the reference core 12.1 adds to `session_info` (docs/SCHEMA.md).
pub const V2_TEMPLATE: &str = include_str!("../../../migrations/V2__session_refresh_rotation.sql");
pub const V2_NAME: &str = "V2__session_refresh_rotation";
/// The native OAuth2 provider's tables beside the reference's `oauth_*` (docs/SCHEMA.md).
pub const V3_TEMPLATE: &str = include_str!("../../../migrations/V3__oauth_provider.sql");
pub const V3_NAME: &str = "V3__oauth_provider";
/// The sign-in lockout counters (ours, issue 25; docs/SCHEMA.md).
pub const V4_TEMPLATE: &str = include_str!("../../../migrations/V4__signin_lockouts.sql");
pub const V4_NAME: &str = "V4__signin_lockouts";
/// The native OAuth2 provider's authorization-code flow (docs/SCHEMA.md).
pub const V5_TEMPLATE: &str = include_str!("../../../migrations/V5__oauth_flows.sql");
pub const V5_NAME: &str = "V5__oauth_flows";
/// The request rate-limit counters (ours, issue 25; docs/SCHEMA.md).
pub const V6_TEMPLATE: &str = include_str!("../../../migrations/V6__request_rate_limits.sql");
pub const V6_NAME: &str = "V6__request_rate_limits";
/// SAML: the requests behind relay states and the accepted assertion ids (ours, issue 24;
/// docs/SCHEMA.md).
pub const V7_TEMPLATE: &str = include_str!("../../../migrations/V7__saml_assertions.sql");
pub const V7_NAME: &str = "V7__saml_assertions";

/// Replace the identifier `token` by `with`, only where `token` is not followed by a letter or
/// digit (so `__PREFIX__key_value_pkey` matches `__PREFIX__key_value`, but a longer table
/// name does not).
fn replace_identifier(sql: &str, token: &str, with: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(pos) = rest.find(token) {
        let after = &rest[pos + token.len()..];
        let boundary = !after.starts_with(|c: char| c.is_ascii_alphanumeric());
        out.push_str(&rest[..pos]);
        out.push_str(if boundary { with } else { token });
        rest = after;
    }
    out.push_str(rest);
    out
}

/// The migration SQL for these table names.
pub fn render(template: &str, names: &TableNames) -> String {
    let mut sql = template.to_string();
    for (default, custom) in names.overrides() {
        sql = replace_identifier(&sql, &format!("__PREFIX__{default}"), custom);
    }
    sql.replace("__PREFIX__", &names.prefix).replace("__SCHEMA__", &names.schema)
}

/// Stable 64-bit key for PostgreSQL advisory locks (FNV-1a; the same in every build and
/// every instance).
pub(crate) fn lock_key(s: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h as i64
}

/// Wall-clock time for the rows and partitions made at start-up (nothing here is tested
/// against a moved clock).
pub(crate) fn now_ms() -> i64 {
    SystemClock.now_ms()
}

/// Create the schema (if not `public` and missing), run the migration, insert the base rows,
/// create this and next month's `activity_log` partitions.
pub(crate) async fn bootstrap(
    client: &mut tokio_postgres::Client,
    names: &TableNames,
    sql: &TenantSql,
) -> Result<(), StorageError> {
    let key = lock_key(&format!("st-migrate:{}.{}", names.schema, names.prefix));
    client.execute("SELECT pg_advisory_lock($1)", &[&key]).await.map_err(error::pg)?;
    let result = bootstrap_locked(client, names, sql).await;
    // The connection is closed right after; unlocking explicitly just frees the lock sooner.
    let _ = client.execute("SELECT pg_advisory_unlock($1)", &[&key]).await;
    result
}

async fn bootstrap_locked(
    client: &mut tokio_postgres::Client,
    names: &TableNames,
    sql: &TenantSql,
) -> Result<(), StorageError> {
    if names.schema != "public" {
        // Check first: CREATE SCHEMA IF NOT EXISTS needs CREATE on the database even when the
        // schema exists.
        let exists = client
            .query_opt("SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1", &[&names.schema])
            .await
            .map_err(error::pg)?
            .is_some();
        if !exists {
            client.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {}", names.schema)).await.map_err(error::pg)?;
        }
    }

    upgrade_from_plugin_9_4(client, names).await?;
    let migrations = [
        (V1_NAME, V1_TEMPLATE),
        (V2_NAME, V2_TEMPLATE),
        (V3_NAME, V3_TEMPLATE),
        (V4_NAME, V4_TEMPLATE),
        (V5_NAME, V5_TEMPLATE),
        (V6_NAME, V6_TEMPLATE),
        (V7_NAME, V7_TEMPLATE),
    ]
    .into_iter()
    .map(|(name, template)| {
        refinery::Migration::unapplied(name, &render(template, names))
            .map_err(|e| StorageError::Query(format!("bad migration: {e}")))
    })
    .collect::<Result<Vec<_>, _>>()?;
    let mut runner = refinery::Runner::new(&migrations);
    runner.set_migration_table_name(&names.migration_history);
    let report = runner.run_async(client).await.map_err(|e| StorageError::Query(format!("migration failed: {e}")))?;
    for m in report.applied_migrations() {
        tracing::info!("applied database migration {m}");
    }

    let now = now_ms();
    client.execute(&sql.app_insert, &[&"public", &now]).await.map_err(error::pg)?;
    client.execute(&sql.tenant_insert, &[&"public", &"public", &now]).await.map_err(error::pg)?;
    client.execute(&sql.base_config_insert, &[]).await.map_err(error::pg)?;

    maintain_activity_log(client, names, now).await;
    Ok(())
}

/// A database created by a Java core 11.x (PostgreSQL plugin 9.3/9.4, the first cores of CDI
/// 5.4) has `app_id_to_user_id` without the two time columns that plugin 9.5 (our schema, see
/// docs/SCHEMA.md) added, and the migration's `CREATE TABLE IF NOT EXISTS` leaves an existing
/// table as it is, so its pagination indexes would fail. Add the columns with their default
/// 0 (before the migration; nothing happens on a database that has them or has no such table
/// yet). 0 is what a Java 12 core expects there: its backfill into the account-info tables
/// processes the rows that still have 0. Nothing here reads those columns. The other 9.5
/// additions are new tables, which the migration creates.
async fn upgrade_from_plugin_9_4(client: &mut tokio_postgres::Client, names: &TableNames) -> Result<(), StorageError> {
    let a2u_bare = names.bare("app_id_to_user_id");
    let row = client
        .query_opt(
            "SELECT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 \
               AND column_name = 'time_joined') \
             FROM information_schema.tables WHERE table_schema = $1 AND table_name = $2",
            &[&names.schema, &a2u_bare],
        )
        .await
        .map_err(error::pg)?;
    let Some(row) = row else { return Ok(()) };
    let has_columns: bool = row.try_get(0).map_err(error::pg)?;
    if has_columns {
        return Ok(());
    }
    let a2u = names.qualified("app_id_to_user_id");
    tracing::info!("{a2u}: adding time_joined and primary_or_recipe_user_time_joined (a plugin 9.4 schema)");
    client
        .batch_execute(&format!(
            "ALTER TABLE {a2u} ADD COLUMN IF NOT EXISTS time_joined BIGINT NOT NULL DEFAULT 0, \
               ADD COLUMN IF NOT EXISTS primary_or_recipe_user_time_joined BIGINT NOT NULL DEFAULT 0"
        ))
        .await
        .map_err(error::pg)?;
    Ok(())
}

/// Days since 1970-01-01 → (year, month 1..=12). (H. Hinnant's civil-from-days.)
fn civil_from_days(days: i64) -> (i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m)
}

/// (year, month) → days since 1970-01-01 of its first day.
fn days_from_civil(y: i64, m: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

const DAY_MS: i64 = 86_400_000;

/// First millisecond of (year, month).
fn month_start_ms(y: i64, m: i64) -> i64 {
    days_from_civil(y, m) * DAY_MS
}

fn next_month(y: i64, m: i64) -> (i64, i64) {
    if m == 12 {
        (y + 1, 1)
    } else {
        (y, m + 1)
    }
}

/// Create the partitions of the current and the next UTC month, and drop monthly partitions
/// whose month ended more than 31 days ago (what the Java plugin does at start-up and daily).
/// Failures are logged, never fatal: rows still land in the DEFAULT partition.
pub(crate) async fn maintain_activity_log(client: &tokio_postgres::Client, names: &TableNames, now: i64) {
    let base = names.bare("activity_log");
    let (y, m) = civil_from_days(now.div_euclid(DAY_MS));
    let mut month = (y, m);
    for _ in 0..2 {
        let (ny, nm) = next_month(month.0, month.1);
        let stmt = format!(
            "CREATE TABLE IF NOT EXISTS {schema}.{base}_p{y:04}{m:02} PARTITION OF {parent} \
             FOR VALUES FROM ({from}) TO ({to})",
            schema = names.schema,
            y = month.0,
            m = month.1,
            parent = names.activity_log,
            from = month_start_ms(month.0, month.1),
            to = month_start_ms(ny, nm),
        );
        if let Err(e) = client.batch_execute(&stmt).await {
            tracing::warn!("could not create activity_log partition: {}", error::pg(e));
        }
        month = (ny, nm);
    }

    let rows = match client
        .query(
            "SELECT c.relname::TEXT FROM pg_catalog.pg_inherits i \
             JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid \
             JOIN pg_catalog.pg_class p ON p.oid = i.inhparent \
             JOIN pg_catalog.pg_namespace n ON n.oid = p.relnamespace \
             WHERE n.nspname = $1 AND p.relname = $2",
            &[&names.schema, &base],
        )
        .await
    {
        Ok(rows) => rows,
        Err(e) => {
            tracing::warn!("could not list activity_log partitions: {}", error::pg(e));
            return;
        }
    };
    let marker = format!("{base}_p");
    for row in rows {
        let Ok(name) = row.try_get::<_, String>(0) else {
            continue;
        };
        let Some(digits) = name.strip_prefix(&marker) else {
            continue;
        };
        if digits.len() != 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let (Ok(py), Ok(pm)) = (digits[..4].parse::<i64>(), digits[4..].parse::<i64>()) else {
            continue;
        };
        if !(1..=12).contains(&pm) {
            continue;
        }
        let (ey, em) = next_month(py, pm);
        if month_start_ms(ey, em) + 31 * DAY_MS < now {
            let stmt = format!("DROP TABLE IF EXISTS {}.{name}", names.schema);
            if let Err(e) = client.batch_execute(&stmt).await {
                tracing::warn!("could not drop old activity_log partition {name}: {}", error::pg(e));
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn calendar() {
        assert_eq!(civil_from_days(0), (1970, 1));
        // 2024-02-29 = 19782 days
        assert_eq!(civil_from_days(19_782), (2024, 2));
        assert_eq!(days_from_civil(2024, 3), 19_783);
        assert_eq!(month_start_ms(2026, 11), 1_793_491_200_000);
        for d in (-1000..30_000).step_by(17) {
            let (y, m) = civil_from_days(d);
            assert!(days_from_civil(y, m) <= d && d < days_from_civil(next_month(y, m).0, next_month(y, m).1));
        }
    }

    #[test]
    fn identifier_replacement() {
        let s = "x.__PREFIX__session_info (a), CONSTRAINT __PREFIX__session_info_pkey, __PREFIX__session_infox";
        assert_eq!(
            replace_identifier(s, "__PREFIX__session_info", "sess"),
            "x.sess (a), CONSTRAINT sess_pkey, __PREFIX__session_infox"
        );
    }

    #[test]
    fn lock_keys_are_stable() {
        assert_eq!(lock_key(""), 0xcbf2_9ce4_8422_2325_u64 as i64);
        assert_eq!(lock_key("a"), 0xaf63_dc4c_8601_ec8c_u64 as i64);
    }
}
