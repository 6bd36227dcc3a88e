//! The statements of the session recipe (`session_info`, with the `user_last_active` upsert
//! and the user's identity that creation and the refresh read run in the same statement).

use crate::identity::{identity_select, identity_select_in};
use crate::TableNames;

/// Statement texts of the session recipe, for one set of table names.
#[derive(Debug)]
pub(crate) struct SessionSql {
    pub(crate) insert: String,
    pub(crate) select: String,
    pub(crate) select_for_update: String,
    pub(crate) patch: String,
    pub(crate) delete_many: String,
    pub(crate) handles_tenant: String,
    pub(crate) handles_app: String,
    pub(crate) update_data: String,
    pub(crate) update_payload: String,
    pub(crate) delete_expired: String,
    /// Session insert, identity of its user ($4) and, when $11, last-active upsert in one
    /// statement.
    pub(crate) insert_resolved: String,
    /// `insert_resolved` for many rows: $1..$11 are arrays of the ten columns and the
    /// activity flag; one row per input with its ordinal (from 1) and the four identity columns.
    pub(crate) insert_many: String,
    /// `select` plus the identity of the session's user (four more columns).
    pub(crate) select_resolved: String,
    /// `select_resolved` that also upserts the last activity ($5) of the session's
    /// user when the row is live and its hash is one of $4.
    pub(crate) select_resolved_touch: String,
    /// `select_resolved` for many reads that also upserts the last activity of each
    /// read's user when its row is live at its time and holds its current or parent hash:
    /// $1..$6 are arrays of app, tenant, handle, current hash (NULL: no activity), parent hash
    /// (or NULL) and time; each found session comes back with its read's 1-based ordinal first.
    pub(crate) select_touch_many: String,
}

impl SessionSql {
    pub(crate) fn new(t: &TableNames) -> SessionSql {
        let session_columns = "user_id, refresh_token_hash_2, session_data, expires_at, created_at_time, \
                               jwt_user_payload, use_static_key, prev_refresh_token_hash_2, refresh_token_rotated_at";
        SessionSql {
            insert: format!(
                "INSERT INTO {} (app_id, tenant_id, session_handle, user_id, refresh_token_hash_2, session_data, \
                 expires_at, created_at_time, jwt_user_payload, use_static_key) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                t.session_info
            ),
            select: format!(
                "SELECT {session_columns} FROM {} WHERE app_id = $1 AND tenant_id = $2 AND session_handle = $3",
                t.session_info
            ),
            select_for_update: format!(
                "SELECT {session_columns} FROM {} WHERE app_id = $1 AND tenant_id = $2 AND session_handle = $3 \
                 FOR UPDATE",
                t.session_info
            ),
            patch: format!(
                "UPDATE {} SET refresh_token_hash_2 = COALESCE($4::TEXT, refresh_token_hash_2), \
                 expires_at = COALESCE($5::BIGINT, expires_at), use_static_key = COALESCE($6::BOOLEAN, use_static_key), \
                 prev_refresh_token_hash_2 = COALESCE($7::TEXT, prev_refresh_token_hash_2), \
                 refresh_token_rotated_at = COALESCE($8::BIGINT, refresh_token_rotated_at) \
                 WHERE app_id = $1 AND tenant_id = $2 AND session_handle = $3",
                t.session_info
            ),
            delete_many: format!(
                "DELETE FROM {} s USING UNNEST($2::TEXT[], $3::TEXT[]) AS d(tenant_id, session_handle) \
                 WHERE s.app_id = $1 AND s.tenant_id = d.tenant_id AND s.session_handle = d.session_handle \
                 RETURNING s.tenant_id, s.session_handle",
                t.session_info
            ),
            handles_tenant: format!(
                "SELECT tenant_id, session_handle FROM {} WHERE app_id = $1 AND tenant_id = $2 \
                 AND user_id = ANY($3::TEXT[]) AND expires_at >= $4 ORDER BY created_at_time, session_handle",
                t.session_info
            ),
            handles_app: format!(
                "SELECT tenant_id, session_handle FROM {} WHERE app_id = $1 \
                 AND user_id = ANY($2::TEXT[]) AND expires_at >= $3 ORDER BY created_at_time, session_handle",
                t.session_info
            ),
            update_data: format!(
                "UPDATE {} SET session_data = $4 WHERE app_id = $1 AND tenant_id = $2 AND session_handle = $3 \
                 AND expires_at > $5",
                t.session_info
            ),
            update_payload: format!(
                "UPDATE {} SET jwt_user_payload = $4 WHERE app_id = $1 AND tenant_id = $2 AND session_handle = $3 \
                 AND expires_at > $5",
                t.session_info
            ),
            delete_expired: format!("DELETE FROM {} WHERE expires_at <= $1", t.session_info),
            // The last-active row is the primary user's supertokens id, or the id as given when
            // it names no user (`SessionIdentity::active_user`).
            insert_resolved: format!(
                "WITH i AS ({identity}), \
                 s AS (INSERT INTO {si} (app_id, tenant_id, session_handle, user_id, refresh_token_hash_2, \
                   session_data, expires_at, created_at_time, jwt_user_payload, use_static_key) \
                   VALUES ($1, $2, $3, COALESCE((SELECT i.re FROM i), $4::TEXT), $5, $6, $7, $8, $9, $10) \
                   RETURNING app_id), \
                 u AS (INSERT INTO {ula} (app_id, user_id, last_active_time) \
                   SELECT s.app_id, COALESCE((SELECT i.p FROM i), $4::TEXT), $8 FROM s WHERE $11::BOOL \
                   ON CONFLICT (app_id, user_id) DO UPDATE SET last_active_time = EXCLUDED.last_active_time) \
                 SELECT i.r, i.p, i.re, i.pe FROM i",
                identity = identity_select(t, "$4::TEXT"),
                si = t.session_info,
                ula = t.user_last_active,
            ),
            select_resolved_touch: format!(
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
                identity = identity_select(t, "s.user_id"),
            ),
            select_touch_many: format!(
                "WITH v AS (SELECT * FROM unnest((SELECT $1::TEXT[]), (SELECT $2::TEXT[]), (SELECT $3::TEXT[]), \
                   (SELECT $4::TEXT[]), (SELECT $5::TEXT[]), (SELECT $6::BIGINT[])) \
                   WITH ORDINALITY AS v(app, ten, h, cur, par, now, n)), \
                 snap AS (SELECT v.n, v.now, v.cur, v.par, s.app_id, s.user_id, s.refresh_token_hash_2, \
                   s.session_data, s.expires_at, s.created_at_time, s.jwt_user_payload, s.use_static_key, \
                   s.prev_refresh_token_hash_2, s.refresh_token_rotated_at, x.r, x.p, x.re, x.pe FROM v \
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
                // Sub-selected arrays and the LIMIT: see `insert_many`. DISTINCT ON:
                // two reads of one user's sessions in a batch upsert its row once.
                si = t.session_info,
                ula = t.user_last_active,
                identity = identity_select_in(t, "s.app_id", "s.user_id"),
            ),
            insert_many: format!(
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
                identity = identity_select_in(t, "v.app", "v.uid"),
                si = t.session_info,
                ula = t.user_last_active,
            ),
            select_resolved: format!(
                "SELECT {session_columns}, i.r, i.p, i.re, i.pe FROM {} s LEFT JOIN LATERAL ({}) i ON TRUE \
                 WHERE s.app_id = $1 AND s.tenant_id = $2 AND s.session_handle = $3",
                t.session_info,
                identity_select(t, "s.user_id"),
            ),
        }
    }
}
