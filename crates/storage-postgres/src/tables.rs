//! Table names (schema, prefix, deprecated overrides applied) and every SQL statement text,
//! built once when the storage is constructed. Statements are prepared per connection through
//! deadpool's statement cache (`prepare_cached`), keyed by this text.

use crate::config::PgConfig;

/// Fully qualified names of the tables this crate touches.
#[derive(Debug, Clone)]
pub struct TableNames {
    pub schema: String,
    pub prefix: String,
    overrides: Vec<(String, String)>,
    pub apps: String,
    pub tenants: String,
    pub tenant_configs: String,
    pub tenant_first_factors: String,
    pub tenant_required_secondary_factors: String,
    pub key_value: String,
    pub session_info: String,
    pub session_access_token_signing_keys: String,
    pub jwt_signing_keys: String,
    pub user_last_active: String,
    pub activity_log: String,
    /// refinery's history table: `<schema>.<prefix>refinery_schema_history`.
    pub migration_history: String,
}

impl TableNames {
    pub fn new(cfg: &PgConfig) -> TableNames {
        let mut t = TableNames {
            schema: cfg.schema.clone(),
            prefix: cfg.table_prefix.clone(),
            overrides: cfg.table_overrides.clone(),
            apps: String::new(),
            tenants: String::new(),
            tenant_configs: String::new(),
            tenant_first_factors: String::new(),
            tenant_required_secondary_factors: String::new(),
            key_value: String::new(),
            session_info: String::new(),
            session_access_token_signing_keys: String::new(),
            jwt_signing_keys: String::new(),
            user_last_active: String::new(),
            activity_log: String::new(),
            migration_history: String::new(),
        };
        t.apps = t.qualified("apps");
        t.tenants = t.qualified("tenants");
        t.tenant_configs = t.qualified("tenant_configs");
        t.tenant_first_factors = t.qualified("tenant_first_factors");
        t.tenant_required_secondary_factors = t.qualified("tenant_required_secondary_factors");
        t.key_value = t.qualified("key_value");
        t.session_info = t.qualified("session_info");
        t.session_access_token_signing_keys = t.qualified("session_access_token_signing_keys");
        t.jwt_signing_keys = t.qualified("jwt_signing_keys");
        t.user_last_active = t.qualified("user_last_active");
        t.activity_log = t.qualified("activity_log");
        t.migration_history = t.qualified("refinery_schema_history");
        t
    }

    /// The unqualified name of a table (prefix or deprecated override applied).
    pub fn bare(&self, table: &str) -> String {
        match self.overrides.iter().find(|(default, _)| default == table) {
            Some((_, custom)) => custom.clone(),
            None => format!("{}{table}", self.prefix),
        }
    }

    /// `<schema>.<bare name>`.
    pub fn qualified(&self, table: &str) -> String {
        format!("{}.{}", self.schema, self.bare(table))
    }

    /// Deprecated overrides: (default table name, configured name).
    pub fn overrides(&self) -> &[(String, String)] {
        &self.overrides
    }
}

/// Every statement this crate runs, for one set of table names.
#[derive(Debug)]
pub struct Sql {
    pub health: String,
    pub tenant_select_all: String,
    pub tenant_select_one: String,
    pub app_insert: String,
    pub tenant_insert: String,
    pub tenant_config_upsert: String,
    pub first_factors_delete: String,
    pub secondary_factors_delete: String,
    pub first_factors_insert: String,
    pub secondary_factors_insert: String,
    pub tenant_config_delete: String,
    pub tenant_activity_delete: String,
    pub tenant_delete: String,
    pub app_configs_delete: String,
    pub app_activity_delete: String,
    pub app_delete: String,
    pub base_tenant_config_insert: String,
    pub kv_get: String,
    pub kv_set: String,
    pub kv_delete: String,
    pub kv_insert_if_absent: String,
    pub session_insert: String,
    pub session_select: String,
    pub session_select_for_update: String,
    pub session_patch: String,
    pub session_delete_many: String,
    pub session_handles_tenant: String,
    pub session_handles_app: String,
    pub session_update_data: String,
    pub session_update_payload: String,
    pub session_delete_expired: String,
    pub last_active_upsert: String,
    /// `last_active_upsert` for many: $1..$3 are arrays of app, user and time.
    pub last_active_upsert_many: String,
    /// Session insert, identity of its user ($4) and, when $11, last-active upsert in one
    /// statement.
    pub session_insert_resolved: String,
    /// `session_insert_resolved` for many rows: $1..$11 are arrays of the ten columns and the
    /// activity flag; one row per input with its ordinal (from 1) and the four identity columns.
    pub session_insert_many: String,
    /// `session_select` plus the identity of the session's user (four more columns).
    pub session_select_resolved: String,
    /// `session_select_resolved` that also upserts the last activity ($5) of the session's
    /// user when the row is live and its hash is one of $4.
    pub session_select_resolved_touch: String,
    /// `session_select_resolved` for many reads that also upserts the last activity of each
    /// read's user when its row is live at its time and holds its current or parent hash:
    /// $1..$6 are arrays of app, tenant, handle, current hash (NULL: no activity), parent hash
    /// (or NULL) and time; each found session comes back with its read's 1-based ordinal first.
    pub session_select_touch_many: String,
    pub advisory_xact_lock: String,
    pub advisory_try_lock: String,
    pub dynamic_keys_select: String,
    pub dynamic_key_insert: String,
    pub dynamic_keys_delete_before: String,
    pub static_key_select: String,
    pub static_key_insert: String,
    pub users: crate::users::UserSql,
}

impl Sql {
    pub fn new(t: &TableNames) -> Sql {
        let tenant_columns = |filter: &str| {
            format!(
                "SELECT c.app_id, c.tenant_id, c.core_config, c.email_password_enabled, c.passwordless_enabled, \
                 c.third_party_enabled, c.is_first_factors_null, \
                 ARRAY(SELECT f.factor_id::TEXT FROM {ff} f WHERE f.connection_uri_domain = c.connection_uri_domain \
                       AND f.app_id = c.app_id AND f.tenant_id = c.tenant_id ORDER BY f.factor_id), \
                 ARRAY(SELECT s.factor_id::TEXT FROM {sf} s WHERE s.connection_uri_domain = c.connection_uri_domain \
                       AND s.app_id = c.app_id AND s.tenant_id = c.tenant_id ORDER BY s.factor_id) \
                 FROM {tc} c WHERE c.connection_uri_domain = '' {filter} ORDER BY c.app_id, c.tenant_id",
                ff = t.tenant_first_factors,
                sf = t.tenant_required_secondary_factors,
                tc = t.tenant_configs,
            )
        };
        let session_columns = "user_id, refresh_token_hash_2, session_data, expires_at, created_at_time, \
                               jwt_user_payload, use_static_key";
        Sql {
            health: "SELECT 1".into(),
            tenant_select_all: tenant_columns(""),
            tenant_select_one: tenant_columns("AND c.app_id = $1 AND c.tenant_id = $2"),
            app_insert: format!(
                "INSERT INTO {} (app_id, created_at_time) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                t.apps
            ),
            tenant_insert: format!(
                "INSERT INTO {} (app_id, tenant_id, created_at_time) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                t.tenants
            ),
            tenant_config_upsert: format!(
                "INSERT INTO {} (connection_uri_domain, app_id, tenant_id, core_config, email_password_enabled, \
                 passwordless_enabled, third_party_enabled, is_first_factors_null) \
                 VALUES ('', $1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (connection_uri_domain, app_id, tenant_id) DO UPDATE SET \
                 core_config = EXCLUDED.core_config, email_password_enabled = EXCLUDED.email_password_enabled, \
                 passwordless_enabled = EXCLUDED.passwordless_enabled, \
                 third_party_enabled = EXCLUDED.third_party_enabled, \
                 is_first_factors_null = EXCLUDED.is_first_factors_null",
                t.tenant_configs
            ),
            first_factors_delete: format!(
                "DELETE FROM {} WHERE connection_uri_domain = '' AND app_id = $1 AND tenant_id = $2",
                t.tenant_first_factors
            ),
            secondary_factors_delete: format!(
                "DELETE FROM {} WHERE connection_uri_domain = '' AND app_id = $1 AND tenant_id = $2",
                t.tenant_required_secondary_factors
            ),
            first_factors_insert: format!(
                "INSERT INTO {} (connection_uri_domain, app_id, tenant_id, factor_id) \
                 SELECT '', $1, $2, f FROM UNNEST($3::TEXT[]) AS f ON CONFLICT DO NOTHING",
                t.tenant_first_factors
            ),
            secondary_factors_insert: format!(
                "INSERT INTO {} (connection_uri_domain, app_id, tenant_id, factor_id) \
                 SELECT '', $1, $2, f FROM UNNEST($3::TEXT[]) AS f ON CONFLICT DO NOTHING",
                t.tenant_required_secondary_factors
            ),
            tenant_config_delete: format!("DELETE FROM {} WHERE app_id = $1 AND tenant_id = $2", t.tenant_configs),
            tenant_activity_delete: format!("DELETE FROM {} WHERE app_id = $1 AND tenant_id = $2", t.activity_log),
            tenant_delete: format!("DELETE FROM {} WHERE app_id = $1 AND tenant_id = $2", t.tenants),
            app_configs_delete: format!("DELETE FROM {} WHERE app_id = $1", t.tenant_configs),
            app_activity_delete: format!("DELETE FROM {} WHERE app_id = $1", t.activity_log),
            app_delete: format!("DELETE FROM {} WHERE app_id = $1", t.apps),
            base_tenant_config_insert: format!(
                "INSERT INTO {} (connection_uri_domain, app_id, tenant_id, core_config, email_password_enabled, \
                 passwordless_enabled, third_party_enabled, is_first_factors_null) \
                 VALUES ('', 'public', 'public', '{{}}', TRUE, TRUE, TRUE, TRUE) ON CONFLICT DO NOTHING",
                t.tenant_configs
            ),
            kv_get: format!("SELECT value FROM {} WHERE app_id = $1 AND tenant_id = $2 AND name = $3", t.key_value),
            kv_set: format!(
                "INSERT INTO {} (app_id, tenant_id, name, value, created_at_time) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (app_id, tenant_id, name) DO UPDATE SET value = EXCLUDED.value, \
                 created_at_time = EXCLUDED.created_at_time",
                t.key_value
            ),
            kv_delete: format!("DELETE FROM {} WHERE app_id = $1 AND tenant_id = $2 AND name = $3", t.key_value),
            kv_insert_if_absent: format!(
                "INSERT INTO {} (app_id, tenant_id, name, value, created_at_time) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (app_id, tenant_id, name) DO NOTHING",
                t.key_value
            ),
            session_insert: format!(
                "INSERT INTO {} (app_id, tenant_id, session_handle, user_id, refresh_token_hash_2, session_data, \
                 expires_at, created_at_time, jwt_user_payload, use_static_key) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                t.session_info
            ),
            session_select: format!(
                "SELECT {session_columns} FROM {} WHERE app_id = $1 AND tenant_id = $2 AND session_handle = $3",
                t.session_info
            ),
            session_select_for_update: format!(
                "SELECT {session_columns} FROM {} WHERE app_id = $1 AND tenant_id = $2 AND session_handle = $3 \
                 FOR UPDATE",
                t.session_info
            ),
            session_patch: format!(
                "UPDATE {} SET refresh_token_hash_2 = COALESCE($4::TEXT, refresh_token_hash_2), \
                 expires_at = COALESCE($5::BIGINT, expires_at), use_static_key = COALESCE($6::BOOLEAN, use_static_key) \
                 WHERE app_id = $1 AND tenant_id = $2 AND session_handle = $3",
                t.session_info
            ),
            session_delete_many: format!(
                "DELETE FROM {} s USING UNNEST($2::TEXT[], $3::TEXT[]) AS d(tenant_id, session_handle) \
                 WHERE s.app_id = $1 AND s.tenant_id = d.tenant_id AND s.session_handle = d.session_handle \
                 RETURNING s.tenant_id, s.session_handle",
                t.session_info
            ),
            session_handles_tenant: format!(
                "SELECT tenant_id, session_handle FROM {} WHERE app_id = $1 AND tenant_id = $2 \
                 AND user_id = ANY($3::TEXT[]) AND expires_at >= $4 ORDER BY created_at_time, session_handle",
                t.session_info
            ),
            session_handles_app: format!(
                "SELECT tenant_id, session_handle FROM {} WHERE app_id = $1 \
                 AND user_id = ANY($2::TEXT[]) AND expires_at >= $3 ORDER BY created_at_time, session_handle",
                t.session_info
            ),
            session_update_data: format!(
                "UPDATE {} SET session_data = $4 WHERE app_id = $1 AND tenant_id = $2 AND session_handle = $3 \
                 AND expires_at > $5",
                t.session_info
            ),
            session_update_payload: format!(
                "UPDATE {} SET jwt_user_payload = $4 WHERE app_id = $1 AND tenant_id = $2 AND session_handle = $3 \
                 AND expires_at > $5",
                t.session_info
            ),
            session_delete_expired: format!("DELETE FROM {} WHERE expires_at <= $1", t.session_info),
            // The last-active row is the primary user's supertokens id, or the id as given when
            // it names no user (`SessionIdentity::active_user`).
            session_insert_resolved: format!(
                "WITH i AS ({identity}), \
                 s AS (INSERT INTO {si} (app_id, tenant_id, session_handle, user_id, refresh_token_hash_2, \
                   session_data, expires_at, created_at_time, jwt_user_payload, use_static_key) \
                   VALUES ($1, $2, $3, COALESCE((SELECT i.re FROM i), $4::TEXT), $5, $6, $7, $8, $9, $10) \
                   RETURNING app_id), \
                 u AS (INSERT INTO {ula} (app_id, user_id, last_active_time) \
                   SELECT s.app_id, COALESCE((SELECT i.p FROM i), $4::TEXT), $8 FROM s WHERE $11::BOOL \
                   ON CONFLICT (app_id, user_id) DO UPDATE SET last_active_time = EXCLUDED.last_active_time) \
                 SELECT i.r, i.p, i.re, i.pe FROM i",
                identity = crate::users::identity_select(t, "$4::TEXT"),
                si = t.session_info,
                ula = t.user_last_active,
            ),
            session_select_resolved_touch: format!(
                "WITH snap AS (SELECT s.app_id, {session_columns}, i.r, i.p, i.re, i.pe FROM {si} s \
                   LEFT JOIN LATERAL ({identity}) i ON TRUE \
                   WHERE s.app_id = $1 AND s.tenant_id = $2 AND s.session_handle = $3), \
                 u AS (INSERT INTO {ula} (app_id, user_id, last_active_time) \
                   SELECT snap.app_id, COALESCE(snap.p, snap.user_id), $5::BIGINT FROM snap \
                   WHERE snap.expires_at >= $5::BIGINT AND snap.refresh_token_hash_2 = ANY($4::TEXT[]) \
                   ON CONFLICT (app_id, user_id) DO UPDATE SET last_active_time = EXCLUDED.last_active_time) \
                 SELECT {session_columns}, r, p, re, pe FROM snap",
                si = t.session_info,
                ula = t.user_last_active,
                identity = crate::users::identity_select(t, "s.user_id"),
            ),
            session_select_touch_many: format!(
                "WITH v AS (SELECT * FROM unnest((SELECT $1::TEXT[]), (SELECT $2::TEXT[]), (SELECT $3::TEXT[]), \
                   (SELECT $4::TEXT[]), (SELECT $5::TEXT[]), (SELECT $6::BIGINT[])) \
                   WITH ORDINALITY AS v(app, ten, h, cur, par, now, n)), \
                 snap AS (SELECT v.n, v.now, v.cur, v.par, s.app_id, s.user_id, s.refresh_token_hash_2, \
                   s.session_data, s.expires_at, s.created_at_time, s.jwt_user_payload, s.use_static_key, \
                   x.r, x.p, x.re, x.pe FROM v \
                   JOIN {si} s ON s.app_id = v.app AND s.tenant_id = v.ten AND s.session_handle = v.h \
                   LEFT JOIN LATERAL ({identity} LIMIT 1) x ON TRUE), \
                 u AS (INSERT INTO {ula} (app_id, user_id, last_active_time) \
                   SELECT DISTINCT ON (snap.app_id, COALESCE(snap.p, snap.user_id)) \
                     snap.app_id, COALESCE(snap.p, snap.user_id), snap.now FROM snap \
                   WHERE snap.expires_at >= snap.now \
                     AND (snap.refresh_token_hash_2 = snap.cur OR snap.refresh_token_hash_2 = snap.par) \
                   ORDER BY snap.app_id, COALESCE(snap.p, snap.user_id), snap.now DESC \
                   ON CONFLICT (app_id, user_id) DO UPDATE SET last_active_time = EXCLUDED.last_active_time) \
                 SELECT n, {session_columns}, r, p, re, pe FROM snap",
                // Sub-selected arrays and the LIMIT: see `session_insert_many`. DISTINCT ON:
                // two reads of one user's sessions in a batch upsert its row once.
                si = t.session_info,
                ula = t.user_last_active,
                identity = crate::users::identity_select_in(t, "s.app_id", "s.user_id"),
            ),
            session_insert_many: format!(
                "WITH v AS (SELECT * FROM unnest((SELECT $1::TEXT[]), (SELECT $2::TEXT[]), (SELECT $3::TEXT[]), \
                   (SELECT $4::TEXT[]), (SELECT $5::TEXT[]), (SELECT $6::TEXT[]), (SELECT $7::BIGINT[]), \
                   (SELECT $8::BIGINT[]), (SELECT $9::TEXT[]), (SELECT $10::BOOL[]), (SELECT $11::BOOL[])) \
                   WITH ORDINALITY AS v(app, ten, h, uid, rth, sd, exp, cr, jp, st, rec, n)), \
                 i AS (SELECT v.*, x.r, x.p, x.re, x.pe FROM v \
                   LEFT JOIN LATERAL ({identity} LIMIT 1) x ON true), \
                 s AS (INSERT INTO {si} (app_id, tenant_id, session_handle, user_id, refresh_token_hash_2, \
                   session_data, expires_at, created_at_time, jwt_user_payload, use_static_key) \
                   SELECT app, ten, h, COALESCE(re, uid), rth, sd, exp, cr, jp, st FROM i), \
                 u AS (INSERT INTO {ula} (app_id, user_id, last_active_time) \
                   SELECT DISTINCT ON (i.app, COALESCE(i.p, i.uid)) i.app, COALESCE(i.p, i.uid), i.cr FROM i \
                   WHERE i.rec ORDER BY i.app, COALESCE(i.p, i.uid), i.cr DESC \
                   ON CONFLICT (app_id, user_id) DO UPDATE SET last_active_time = EXCLUDED.last_active_time) \
                 SELECT i.n, i.r, i.p, i.re, i.pe FROM i",
                // Each array is wrapped in a scalar sub-select so that the planner cannot see its
                // length, in custom plans as in the generic one: both then estimate the same rows,
                // and after five runs PostgreSQL keeps the generic plan. With bare `$n` arrays a
                // custom plan knew the batch size, looked cheaper, and every batch was planned
                // again (pg_stat_statements: 0.35 ms of planning per batch, about 60 µs per
                // created session at 16 clients).
                // The LIMIT keeps the lookup a per-row index probe (a lateral sub-query that
                // PostgreSQL cannot flatten into a hash join over all users).
                identity = crate::users::identity_select_in(t, "v.app", "v.uid"),
                si = t.session_info,
                ula = t.user_last_active,
            ),
            session_select_resolved: format!(
                "SELECT {session_columns}, i.r, i.p, i.re, i.pe FROM {} s LEFT JOIN LATERAL ({}) i ON TRUE \
                 WHERE s.app_id = $1 AND s.tenant_id = $2 AND s.session_handle = $3",
                t.session_info,
                crate::users::identity_select(t, "s.user_id"),
            ),
            last_active_upsert: format!(
                "INSERT INTO {} (app_id, user_id, last_active_time) VALUES ($1, $2, $3) \
                 ON CONFLICT (app_id, user_id) DO UPDATE SET last_active_time = EXCLUDED.last_active_time",
                t.user_last_active
            ),
            // DISTINCT ON: a user touched twice in one batch is upserted once, with the later
            // time. The sort also makes concurrent batches lock their rows in one order.
            last_active_upsert_many: format!(
                "INSERT INTO {} (app_id, user_id, last_active_time) \
                 SELECT DISTINCT ON (app, uid) app, uid, at \
                 FROM unnest((SELECT $1::TEXT[]), (SELECT $2::TEXT[]), (SELECT $3::BIGINT[])) AS v(app, uid, at) \
                 ORDER BY app, uid, at DESC \
                 ON CONFLICT (app_id, user_id) DO UPDATE SET last_active_time = EXCLUDED.last_active_time",
                t.user_last_active
            ),
            advisory_xact_lock: "SELECT pg_advisory_xact_lock($1)".into(),
            advisory_try_lock: "SELECT pg_try_advisory_lock($1)".into(),
            dynamic_keys_select: format!(
                "SELECT created_at_time, value FROM {} WHERE app_id = $1 AND created_at_time >= $2 \
                 ORDER BY created_at_time DESC",
                t.session_access_token_signing_keys
            ),
            dynamic_key_insert: format!(
                "INSERT INTO {} (app_id, created_at_time, value) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                t.session_access_token_signing_keys
            ),
            dynamic_keys_delete_before: format!(
                "DELETE FROM {} WHERE app_id = $1 AND created_at_time < $2",
                t.session_access_token_signing_keys
            ),
            static_key_select: format!(
                "SELECT key_id, key_string, created_at FROM {} WHERE app_id = $1 AND algorithm = 'RS256' \
                 ORDER BY created_at DESC NULLS LAST, key_id LIMIT 1",
                t.jwt_signing_keys
            ),
            static_key_insert: format!(
                "INSERT INTO {} (app_id, key_id, key_string, algorithm, created_at) VALUES ($1, $2, $3, 'RS256', $4)",
                t.jwt_signing_keys
            ),
            users: crate::users::UserSql::new(t),
        }
    }
}
