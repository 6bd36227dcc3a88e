//! [`UserStorage`] on the reference user tables: `app_id_to_user_id` (one row per recipe user,
//! pointing at its primary), `all_auth_recipe_users` (one row per recipe user and tenant), the
//! recipe tables (`emailpassword_*`, `thirdparty_*`, `passwordless_*`, `webauthn_*`), tokens,
//! email verification, metadata, roles, user-id mapping.
//!
//! Notes on semantics:
//! * Sign-up writes the four rows of an email-password user in one transaction; the
//!   `(app, tenant, email)` unique key of `emailpassword_user_to_tenant` decides races.
//! * Ids in `CHAR(36)` columns are read back through `::TEXT` (no blank padding).
//! * `list_users` pages over primary users of the tenant ordered by
//!   `(primary_or_recipe_user_time_joined, id)` (ids compared bytewise, `COLLATE "C"`); the
//!   search tags select login methods *of that tenant* whose email starts with a tag or whose
//!   domain part does (`…@tag…`, as the reference), whose phone number or third-party id starts
//!   with a tag; at most `limit` login methods per recipe (the first its scan finds).
//! * `count_users` for a whole app adds up the per-tenant counts, as the reference's
//!   `includeAllTenants` does (a user in two tenants counts twice).
//! * `delete_user` deletes the recipe user's `app_id_to_user_id` row (the foreign keys cascade
//!   to its tenant rows, recipe rows, reset tokens, mapping, WebAuthn data); if it was the
//!   primary of other login methods, the oldest of them becomes their primary first, so the
//!   cascade never takes linked users with it. Data keyed by any of `ids` (sessions, metadata,
//!   roles, email verification, TOTP, last-active) is deleted too.

use crate::sql::TableNames;
use crate::{col, error, tx_exec, tx_query, PgStorage};
use async_trait::async_trait;
use serde_json::{Map, Value};
use st_core::ids::{AppId, TenantIdentifier};
use st_core::storage::{
    ActiveUsersStorage, AuthRecipeStorage, AuthUser, EmailPasswordStorage, EmailVerificationStorage, LoginMethod,
    MappingCreate, RoleResult, SResult, SessionIdentity, SignUpResult, UpdateResult, UserDecorations, UserIdMapping,
    UserIdMappingStorage, UserIdUse, UserListQuery, UserMetadataStorage, UserRolesStorage,
};
use st_core::StorageError;
use tokio_postgres::error::SqlState;

/// Statement texts of this module.
#[derive(Debug)]
pub struct UserSql {
    auth_user: String,
    ep_email_taken: String,
    a2u_insert: String,
    aaru_insert: String,
    ep_insert: String,
    ep_tenant_insert: String,
    ep_login: String,
    ep_lock: String,
    ep_tenant_set_email: String,
    ep_set_email: String,
    ep_set_hash: String,
    users_by_email: String,
    rt_insert: String,
    rt_lock: String,
    rt_delete_user: String,
    rt_delete_expired: String,
    evt_insert: String,
    evt_lock: String,
    evt_delete: String,
    evt_delete_expired: String,
    ev_verified_insert: String,
    ev_verified_select: String,
    ev_verified_delete: String,
    md_select: String,
    md_select_many: String,
    md_ensure: String,
    md_lock: String,
    md_set: String,
    md_delete: String,
    role_insert: String,
    perms_insert: String,
    role_perms: String,
    role_lock: String,
    perms_delete_all: String,
    perms_delete_some: String,
    roles_with_perm: String,
    role_delete: String,
    user_roles_delete_role: String,
    roles_list: String,
    user_role_insert: String,
    user_role_delete: String,
    user_roles: String,
    role_users: String,
    map_insert: String,
    map_move_verified: String,
    map_move_ev_tokens: String,
    user_id_uses: String,
    map_exists_st: String,
    map_exists_ext: String,
    map_get_st: String,
    map_get_ext: String,
    map_get_any: String,
    map_delete: String,
    map_set_info: String,
    /// `GET /users` statements, indexed by [`list_index`].
    list: Vec<String>,
    /// Login methods of the groups of many users (`get_auth_users`).
    auth_users: String,
    /// External ids and verified emails of many login methods (`user_decorations`).
    decorations: String,
    /// The session's identity in one round trip (see `session_identity`).
    session_identity: String,
    count_tenant: String,
    count_app: String,
    count_active: String,
    del_group_lock: String,
    del_method_only: Vec<String>,
    del_mapped_id: String,
    del_a2u: String,
    del_keyed: Vec<String>,
}

impl UserSql {
    pub(crate) fn session_identity_sql(&self) -> &str {
        &self.session_identity
    }
    pub(crate) fn auth_users_sql(&self) -> &str {
        &self.auth_users
    }
    pub(crate) fn decorations_sql(&self) -> &str {
        &self.decorations
    }
}

/// The row of `token` among locked token rows (column 0 is the token); `None` when a
/// concurrent consumer deleted it before the lock was granted.
fn find_token<'r>(rows: &'r [tokio_postgres::Row], token: &str) -> SResult<Option<&'r tokio_postgres::Row>> {
    for row in rows {
        if col::<String>(row, 0)? == token {
            return Ok(Some(row));
        }
    }
    Ok(None)
}

/// Index into [`UserSql::list`]: the four pages (order × cursor), then the two searches
/// (descending, ascending). A search has no cursor.
fn list_index(ascending: bool, cursor: bool, searching: bool) -> usize {
    if searching {
        4 + usize::from(ascending)
    } else {
        (usize::from(ascending) << 1) | usize::from(cursor)
    }
}

impl UserSql {
    pub fn new(t: &TableNames) -> UserSql {
        let a2u = t.qualified("app_id_to_user_id");
        let aaru = t.qualified("all_auth_recipe_users");
        let ep = t.qualified("emailpassword_users");
        let ep_t = t.qualified("emailpassword_user_to_tenant");
        let rt = t.qualified("emailpassword_pswd_reset_tokens");
        let tp = t.qualified("thirdparty_users");
        let tp_t = t.qualified("thirdparty_user_to_tenant");
        let pl = t.qualified("passwordless_users");
        let pl_t = t.qualified("passwordless_user_to_tenant");
        let wa = t.qualified("webauthn_users");
        let wa_t = t.qualified("webauthn_user_to_tenant");
        let evt = t.qualified("emailverification_tokens");
        let eve = t.qualified("emailverification_verified_emails");
        let md = t.qualified("user_metadata");
        let roles = t.qualified("roles");
        let rp = t.qualified("role_permissions");
        let ur = t.qualified("user_roles");
        let map = t.qualified("userid_mapping");
        let ula = t.qualified("user_last_active");
        let totp = t.qualified("totp_users");
        let totp_dev = t.qualified("totp_user_devices");
        let si = t.session_info.clone();

        let listing = crate::listing_sql::ListingTables {
            aaru: &aaru,
            ep_t: &ep_t,
            pl_t: &pl_t,
            tp_t: &tp_t,
            tp: &tp,
            wa_t: &wa_t,
        };
        let list: Vec<String> =
            (0..6).map(|i| if i < 4 { listing.page(i & 2 != 0, i & 1 != 0) } else { listing.search(i == 5) }).collect();
        let keyed = |table: &str| format!("DELETE FROM {table} WHERE app_id = $1 AND user_id = ANY($2::TEXT[])");
        // The recipes' user tables: an id of `app_id_to_user_id` is a login method when one of
        // them has its row (the reference reads login methods from them).
        let recipe_users = [&ep, &tp, &pl, &wa];
        let is_method = recipe_users
            .iter()
            .map(|t| format!("EXISTS (SELECT 1 FROM {t} x WHERE x.app_id = a.app_id AND x.user_id = a.user_id)"))
            .collect::<Vec<_>>()
            .join(" OR ");
        // The login methods of whole groups, one row each, with column 4 the group's primary.
        let auth_users = |groups: &str| {
            format!(
                "SELECT a.user_id::TEXT, a.recipe_id, \
                   COALESCE(ep.time_joined, tp.time_joined, pl.time_joined, wa.time_joined), \
                   a.is_linked_or_is_a_primary_user, \
                   a.primary_or_recipe_user_id::TEXT, \
                   ARRAY(SELECT r.tenant_id::TEXT FROM {aaru} r WHERE r.app_id = a.app_id AND r.user_id = a.user_id \
                         ORDER BY r.tenant_id), \
                   COALESCE(ep.email, tp.email, pl.email, wa.email)::TEXT, pl.phone_number::TEXT, \
                   tp.third_party_id::TEXT, tp.third_party_user_id::TEXT \
                 FROM {a2u} a \
                 LEFT JOIN {ep} ep ON ep.app_id = a.app_id AND ep.user_id = a.user_id \
                 LEFT JOIN {tp} tp ON tp.app_id = a.app_id AND tp.user_id = a.user_id \
                 LEFT JOIN {pl} pl ON pl.app_id = a.app_id AND pl.user_id = a.user_id \
                 LEFT JOIN {wa} wa ON wa.app_id = a.app_id AND wa.user_id = a.user_id \
                 WHERE a.app_id = $1 AND {where_groups} \
                   AND COALESCE(ep.user_id, tp.user_id, pl.user_id, wa.user_id) IS NOT NULL \
                 ORDER BY 3, a.user_id::TEXT COLLATE \"C\"",
                where_groups = groups.replace("{a2u}", &a2u),
            )
        };
        UserSql {
            auth_user: auth_users(
                "a.primary_or_recipe_user_id = \
                   (SELECT p.primary_or_recipe_user_id FROM {a2u} p WHERE p.app_id = $1 AND p.user_id = $2)",
            ),
            auth_users: auth_users(
                "a.primary_or_recipe_user_id IN (SELECT p.primary_or_recipe_user_id FROM {a2u} p \
                   WHERE p.app_id = $1 AND p.user_id = ANY($2::TEXT[]::BPCHAR[]))",
            ),
            // $2: supertokens recipe user ids. Rows ('m', id, external id) for mappings, then
            // ('v', user id, email) for verified emails under either id.
            decorations: format!(
                "WITH m AS (SELECT m.supertokens_user_id::TEXT AS st, m.external_user_id AS ext FROM {map} m \
                   WHERE m.app_id = $1 AND m.supertokens_user_id = ANY($2::TEXT[]::BPCHAR[])) \
                 SELECT 'm', st, ext FROM m \
                 UNION ALL SELECT 'v', v.user_id::TEXT, v.email::TEXT FROM {eve} v WHERE v.app_id = $1 \
                   AND v.user_id IN (SELECT UNNEST($2::TEXT[]) UNION SELECT ext FROM m)"
            ),
            ep_email_taken: format!("SELECT 1 FROM {ep_t} WHERE app_id = $1 AND tenant_id = $2 AND email = $3"),
            // The two time columns keep their default 0, as a Java 12 core writes them in its
            // default (LEGACY) mode: 0 marks a user its backfill into the account-info tables
            // still has to process (MigrationBackfillQueries), so our users are not skipped
            // if that core later moves to its new tables. Times are read from the recipe tables.
            a2u_insert: format!(
                "INSERT INTO {a2u} (app_id, user_id, recipe_id, primary_or_recipe_user_id, \
                 is_linked_or_is_a_primary_user) VALUES ($1, $2, $3, $2, FALSE)"
            ),
            aaru_insert: format!(
                "INSERT INTO {aaru} (app_id, tenant_id, user_id, primary_or_recipe_user_id, \
                 is_linked_or_is_a_primary_user, recipe_id, time_joined, primary_or_recipe_user_time_joined) \
                 VALUES ($1, $2, $3, $3, FALSE, $4, $5, $5)"
            ),
            ep_insert: format!(
                "INSERT INTO {ep} (app_id, user_id, email, password_hash, time_joined) VALUES ($1, $2, $3, $4, $5)"
            ),
            ep_tenant_insert: format!("INSERT INTO {ep_t} (app_id, tenant_id, user_id, email) VALUES ($1, $2, $3, $4)"),
            ep_login: format!(
                "SELECT u.user_id::TEXT, u.password_hash FROM {ep_t} t \
                 JOIN {ep} u ON u.app_id = t.app_id AND u.user_id = t.user_id \
                 WHERE t.app_id = $1 AND t.tenant_id = $2 AND t.email = $3"
            ),
            ep_lock: format!("SELECT email FROM {ep} WHERE app_id = $1 AND user_id = $2 FOR UPDATE"),
            ep_tenant_set_email: format!("UPDATE {ep_t} SET email = $3 WHERE app_id = $1 AND user_id = $2"),
            ep_set_email: format!("UPDATE {ep} SET email = $3 WHERE app_id = $1 AND user_id = $2"),
            ep_set_hash: format!("UPDATE {ep} SET password_hash = $3 WHERE app_id = $1 AND user_id = $2"),
            users_by_email: format!(
                "SELECT DISTINCT a.primary_or_recipe_user_id::TEXT COLLATE \"C\" AS id FROM {aaru} a \
                 WHERE a.app_id = $1 AND a.tenant_id = $2 AND a.user_id IN ( \
                   SELECT user_id FROM {ep_t} WHERE app_id = $1 AND tenant_id = $2 AND email = $3 \
                   UNION SELECT user_id FROM {tp} WHERE app_id = $1 AND email = $3 \
                   UNION SELECT user_id FROM {pl_t} WHERE app_id = $1 AND tenant_id = $2 AND email = $3 \
                   UNION SELECT user_id FROM {wa_t} WHERE app_id = $1 AND tenant_id = $2 AND email = $3) \
                 ORDER BY id"
            ),
            rt_insert: format!(
                "INSERT INTO {rt} (app_id, user_id, token, email, token_expiry) VALUES ($1, $2, $3, $4, $5)"
            ),
            // Consuming deletes all of the user's tokens, so it locks all of them, in one
            // statement and in token order: two concurrent consumes of different tokens of one
            // user then queue instead of deadlocking. A token deleted meanwhile is not returned.
            rt_lock: format!(
                "SELECT t.token::TEXT, t.user_id::TEXT, COALESCE(t.email, (SELECT u.email FROM {ep} u \
                   WHERE u.app_id = t.app_id AND u.user_id = t.user_id))::TEXT, t.token_expiry \
                 FROM {rt} t WHERE t.app_id = $1 \
                   AND t.user_id = (SELECT r.user_id FROM {rt} r WHERE r.app_id = $1 AND r.token = $2) \
                 ORDER BY t.token FOR UPDATE OF t"
            ),
            rt_delete_user: format!("DELETE FROM {rt} WHERE app_id = $1 AND user_id = $2"),
            rt_delete_expired: format!("DELETE FROM {rt} WHERE token_expiry < $1"),
            evt_insert: format!(
                "INSERT INTO {evt} (app_id, tenant_id, user_id, email, token, token_expiry) \
                 VALUES ($1, $2, $3, $4, $5, $6)"
            ),
            // As `rt_lock`: every token of the (user, email) pair, locked in token order.
            evt_lock: format!(
                "SELECT e.token::TEXT, e.user_id, e.email, e.token_expiry FROM {evt} e \
                 WHERE (e.app_id, e.tenant_id, e.user_id, e.email) = (SELECT x.app_id, x.tenant_id, x.user_id, x.email \
                   FROM {evt} x WHERE x.app_id = $1 AND x.tenant_id = $2 AND x.token = $3) \
                 ORDER BY e.token FOR UPDATE"
            ),
            evt_delete: format!(
                "DELETE FROM {evt} WHERE app_id = $1 AND tenant_id = $2 AND user_id = $3 AND email = $4"
            ),
            evt_delete_expired: format!("DELETE FROM {evt} WHERE token_expiry < $1"),
            ev_verified_insert: format!(
                "INSERT INTO {eve} (app_id, user_id, email) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING"
            ),
            ev_verified_select: format!("SELECT 1 FROM {eve} WHERE app_id = $1 AND user_id = $2 AND email = $3"),
            ev_verified_delete: format!("DELETE FROM {eve} WHERE app_id = $1 AND user_id = $2 AND email = $3"),
            md_select: format!("SELECT user_metadata FROM {md} WHERE app_id = $1 AND user_id = $2"),
            md_select_many: format!(
                "SELECT user_id::TEXT, user_metadata FROM {md} WHERE app_id = $1 AND user_id = ANY($2::TEXT[])"
            ),
            md_ensure: format!(
                "INSERT INTO {md} (app_id, user_id, user_metadata) VALUES ($1, $2, '{{}}') ON CONFLICT DO NOTHING"
            ),
            md_lock: format!("SELECT user_metadata FROM {md} WHERE app_id = $1 AND user_id = $2 FOR UPDATE"),
            md_set: format!("UPDATE {md} SET user_metadata = $3 WHERE app_id = $1 AND user_id = $2"),
            md_delete: format!("DELETE FROM {md} WHERE app_id = $1 AND user_id = $2"),
            role_insert: format!("INSERT INTO {roles} (app_id, role) VALUES ($1, $2) ON CONFLICT DO NOTHING"),
            perms_insert: format!(
                "INSERT INTO {rp} (app_id, role, permission) SELECT $1, $2, p FROM UNNEST($3::TEXT[]) AS p \
                 ON CONFLICT DO NOTHING"
            ),
            role_perms: format!(
                "SELECT ARRAY(SELECT p.permission::TEXT FROM {rp} p WHERE p.app_id = r.app_id AND p.role = r.role \
                   ORDER BY p.permission::TEXT COLLATE \"C\") \
                 FROM {roles} r WHERE r.app_id = $1 AND r.role = $2"
            ),
            role_lock: format!("SELECT 1 FROM {roles} WHERE app_id = $1 AND role = $2 FOR SHARE"),
            perms_delete_all: format!("DELETE FROM {rp} WHERE app_id = $1 AND role = $2"),
            perms_delete_some: format!(
                "DELETE FROM {rp} WHERE app_id = $1 AND role = $2 AND permission = ANY($3::TEXT[])"
            ),
            roles_with_perm: format!(
                "SELECT role::TEXT FROM {rp} WHERE app_id = $1 AND permission = $2 ORDER BY role::TEXT COLLATE \"C\""
            ),
            role_delete: format!("DELETE FROM {roles} WHERE app_id = $1 AND role = $2"),
            user_roles_delete_role: format!("DELETE FROM {ur} WHERE app_id = $1 AND role = $2"),
            roles_list: format!("SELECT role::TEXT FROM {roles} WHERE app_id = $1 ORDER BY role::TEXT COLLATE \"C\""),
            user_role_insert: format!(
                "INSERT INTO {ur} (app_id, tenant_id, user_id, role) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING"
            ),
            user_role_delete: format!(
                "DELETE FROM {ur} WHERE app_id = $1 AND tenant_id = $2 AND user_id = $3 AND role = $4"
            ),
            user_roles: format!(
                "SELECT role::TEXT FROM {ur} WHERE app_id = $1 AND tenant_id = $2 AND user_id = $3 \
                 ORDER BY role::TEXT COLLATE \"C\""
            ),
            role_users: format!(
                "SELECT user_id::TEXT FROM {ur} WHERE app_id = $1 AND tenant_id = $2 AND role = $3 \
                 ORDER BY user_id::TEXT COLLATE \"C\""
            ),
            map_insert: format!(
                "INSERT INTO {map} (app_id, supertokens_user_id, external_user_id, external_user_id_info) \
                 VALUES ($1, $2, $3, $4)"
            ),
            map_move_verified: format!("UPDATE {eve} SET user_id = $3 WHERE app_id = $1 AND user_id = $2"),
            map_move_ev_tokens: format!("UPDATE {evt} SET user_id = $3 WHERE app_id = $1 AND user_id = $2"),
            // One row of flags in `UserIdUse` order; sessions count only until they expire.
            user_id_uses: format!(
                "SELECT EXISTS (SELECT 1 FROM {si} WHERE app_id = $1 AND user_id = $2 AND expires_at >= $3),                    EXISTS (SELECT 1 FROM {md} WHERE app_id = $1 AND user_id = $2),                    EXISTS (SELECT 1 FROM {ur} WHERE app_id = $1 AND user_id = $2),                    EXISTS (SELECT 1 FROM {evt} WHERE app_id = $1 AND user_id = $2)                      OR EXISTS (SELECT 1 FROM {eve} WHERE app_id = $1 AND user_id = $2),                    EXISTS (SELECT 1 FROM {totp_dev} WHERE app_id = $1 AND user_id = $2)"
            ),
            map_exists_st: format!("SELECT 1 FROM {map} WHERE app_id = $1 AND supertokens_user_id = $2"),
            map_exists_ext: format!("SELECT 1 FROM {map} WHERE app_id = $1 AND external_user_id = $2"),
            map_get_st: format!(
                "SELECT supertokens_user_id::TEXT, external_user_id::TEXT, external_user_id_info FROM {map} \
                 WHERE app_id = $1 AND supertokens_user_id = $2"
            ),
            map_get_ext: format!(
                "SELECT supertokens_user_id::TEXT, external_user_id::TEXT, external_user_id_info FROM {map} \
                 WHERE app_id = $1 AND external_user_id = $2"
            ),
            map_get_any: format!(
                "SELECT supertokens_user_id::TEXT, external_user_id::TEXT, external_user_id_info FROM {map} \
                 WHERE app_id = $1 AND (supertokens_user_id = $2::BPCHAR OR external_user_id = $3::TEXT) \
                 ORDER BY (supertokens_user_id = $2::BPCHAR) DESC LIMIT 1"
            ),
            map_delete: format!("DELETE FROM {map} WHERE app_id = $1 AND supertokens_user_id = $2"),
            map_set_info: format!(
                "UPDATE {map} SET external_user_id_info = $3 WHERE app_id = $1 AND supertokens_user_id = $2"
            ),
            list,
            // $2 may be an external id: resolve it, then the group's primary, then the
            // external ids of both. No row from the join = no such user.
            session_identity: identity_select(t, "$2::TEXT"),
            count_tenant: format!(
                "SELECT COUNT(DISTINCT primary_or_recipe_user_id) FROM {aaru} WHERE app_id = $1 AND tenant_id = $2 \
                 AND (cardinality($3::TEXT[]) = 0 OR recipe_id = ANY($3::TEXT[]))"
            ),
            count_app: format!(
                "SELECT COALESCE(SUM(c), 0)::BIGINT FROM (SELECT COUNT(DISTINCT primary_or_recipe_user_id) AS c \
                 FROM {aaru} WHERE app_id = $1 AND (cardinality($2::TEXT[]) = 0 OR recipe_id = ANY($2::TEXT[])) \
                 GROUP BY tenant_id) s"
            ),
            count_active: format!("SELECT COUNT(*) FROM {ula} WHERE app_id = $1 AND last_active_time >= $2"),
            // Every id of the user's group, locked in one order (so that two removals in one
            // group cannot deadlock), each with whether it is the given id (compared as the
            // key's `CHAR(36)`) and whether it is a login method (has a row in a recipe's table).
            del_group_lock: format!(
                "SELECT a.user_id::TEXT, a.primary_or_recipe_user_id::TEXT, a.user_id = $2, ({is_method}) \
                 FROM {a2u} a WHERE a.app_id = $1 AND a.primary_or_recipe_user_id = \
                   (SELECT g.primary_or_recipe_user_id FROM {a2u} g WHERE g.app_id = $1 AND g.user_id = $2) \
                 ORDER BY a.user_id::TEXT COLLATE \"C\" FOR UPDATE OF a"
            ),
            // A login method's own rows, its id staying (see `delete_user`): its tenants (which
            // cascade to the recipes' `*_user_to_tenant`), its recipe row and its reset tokens.
            del_method_only: [&aaru]
                .into_iter()
                .chain(recipe_users)
                .chain([&rt])
                .map(|table| format!("DELETE FROM {table} WHERE app_id = $1 AND user_id = $2"))
                .collect(),
            del_mapped_id: format!(
                "SELECT external_user_id FROM {map} WHERE app_id = $1 AND supertokens_user_id = $2"
            ),
            del_a2u: format!("DELETE FROM {a2u} WHERE app_id = $1 AND user_id = $2"),
            del_keyed: vec![
                keyed(&si),
                keyed(&md),
                keyed(&ur),
                keyed(&eve),
                keyed(&evt),
                keyed(&ula),
                keyed(&totp),
                format!("DELETE FROM {map} WHERE app_id = $1 AND external_user_id = ANY($2::TEXT[])"),
            ],
        }
    }
}

/// LIKE patterns for search tags: each tag matches as a prefix and, for e-mails, also as the
/// start of the domain part (`…@tag…`, as the reference). LIKE's wildcards and escape
/// character in a tag match themselves.
fn search_patterns(tags: &[String], domain_too: bool) -> Vec<String> {
    let mut out = Vec::with_capacity(tags.len() * 2);
    for tag in tags {
        let mut literal = String::with_capacity(tag.len());
        for c in tag.chars() {
            if matches!(c, '\\' | '%' | '_') {
                literal.push('\\');
            }
            literal.push(c);
        }
        out.push(format!("{literal}%"));
        if domain_too {
            out.push(format!("%@{literal}%"));
        }
    }
    out
}

/// Users from rows of the `auth_user(s)` statements, grouped by their primary (column 4) in
/// the order the groups first appear.
fn group_users(rows: &[tokio_postgres::Row]) -> SResult<Vec<AuthUser>> {
    let mut users: Vec<AuthUser> = Vec::new();
    for row in rows {
        let recipe_user_id: String = col(row, 0)?;
        let linked: bool = col(row, 3)?;
        let group: String = col(row, 4)?;
        let tp_id: Option<String> = col(row, 8)?;
        let tp_user: Option<String> = col(row, 9)?;
        let method = LoginMethod {
            recipe_id: col(row, 1)?,
            recipe_user_id,
            tenant_ids: col(row, 5)?,
            time_joined: col(row, 2)?,
            email: col(row, 6)?,
            phone_number: col(row, 7)?,
            third_party: tp_id.zip(tp_user),
        };
        let index = match users.iter().position(|u| u.id == group) {
            Some(i) => i,
            None => {
                users.push(AuthUser { id: group, is_primary: false, login_methods: Vec::new() });
                users.len() - 1
            }
        };
        let user = &mut users[index];
        // Every row of a linked group is flagged, and the primary's own login method may be
        // gone (see `Removal::MethodOnly`), so any row says it.
        user.is_primary |= linked;
        user.login_methods.push(method);
    }
    Ok(users)
}

/// What removing the login method `user_id` of the group `group` (whose login methods, the
/// users with a row in a recipe table, are `members`) takes, as the reference decides it for
/// `removeAllLinkedAccounts=false` (and, method by method, for `true`):
#[derive(Debug, PartialEq, Eq)]
enum Removal {
    /// The group's primary while other login methods remain: only this method's own rows go.
    /// Its id stays the group's id (in `app_id_to_user_id`, with its mapping), and so does the
    /// data keyed by it (metadata, roles, sessions, verification, activity): the other login
    /// methods share that user.
    MethodOnly,
    /// The user id and everything keyed by it.
    User,
    /// The last login method of a group whose primary's own method was removed before: the
    /// user, then the primary's id and the data keyed by it (its external id when mapped).
    UserAndGroup,
}

fn removal(user_id: &str, group: &str, members: &[String]) -> Removal {
    if members.len() > 1 && user_id == group {
        Removal::MethodOnly
    } else if members.len() == 1 && user_id != group {
        Removal::UserAndGroup
    } else {
        Removal::User
    }
}

/// The session identity of the user id `uid` (an SQL expression; may be an external id) as
/// columns `r` (recipe user), `p` (its primary), `re`/`pe` (their external ids); no row when it
/// names no user. `$1` is the app. The resolved id is compared as `bpchar`, the type of the
/// `CHAR(36)` key, so that the lookup uses the primary key (a `TEXT` comparison would cast the
/// column and scan every user of the app).
pub(crate) fn identity_select(t: &TableNames, uid: &str) -> String {
    identity_select_in(t, "$1", uid)
}

/// [`identity_select`] with the app id given as the SQL expression `app`.
pub(crate) fn identity_select_in(t: &TableNames, app: &str, uid: &str) -> String {
    let map = t.qualified("userid_mapping");
    let a2u = t.qualified("app_id_to_user_id");
    format!(
        "SELECT a.user_id::TEXT AS r, a.primary_or_recipe_user_id::TEXT AS p, \
           (SELECT m.external_user_id FROM {map} m WHERE m.app_id = {app} AND m.supertokens_user_id = a.user_id) AS re, \
           CASE WHEN a.primary_or_recipe_user_id <> a.user_id THEN (SELECT m.external_user_id FROM {map} m \
             WHERE m.app_id = {app} AND m.supertokens_user_id = a.primary_or_recipe_user_id) END AS pe \
         FROM {a2u} a WHERE a.app_id = {app} AND a.user_id = COALESCE((SELECT m.supertokens_user_id::TEXT FROM {map} m \
           WHERE m.app_id = {app} AND m.external_user_id = {uid}), {uid})::BPCHAR"
    )
}

/// A [`SessionIdentity`] from four columns starting at `first` (see [`identity_select`]);
/// `None` when they are NULL (no such user). The statement leaves `pe` NULL for a user that is
/// its own primary (saving a lookup): its external id is then `re`.
pub(crate) fn identity_from_row(row: &tokio_postgres::Row, first: usize) -> SResult<Option<SessionIdentity>> {
    let recipe: Option<String> = col(row, first)?;
    let primary: Option<String> = col(row, first + 1)?;
    Ok(match (recipe, primary) {
        (Some(recipe_user_id), Some(primary_user_id)) => {
            let recipe_external_id: Option<String> = col(row, first + 2)?;
            let primary_external_id =
                if primary_user_id == recipe_user_id { recipe_external_id.clone() } else { col(row, first + 3)? };
            Some(SessionIdentity { recipe_user_id, primary_user_id, recipe_external_id, primary_external_id })
        }
        _ => None,
    })
}

fn is(e: &tokio_postgres::Error, state: &SqlState) -> bool {
    e.code() == Some(state)
}

fn parse_metadata(text: Option<String>) -> SResult<Map<String, Value>> {
    match text {
        None => Ok(Map::new()),
        Some(t) => match serde_json::from_str::<Value>(&t) {
            Ok(Value::Object(m)) => Ok(m),
            Ok(Value::Null) => Ok(Map::new()),
            Ok(other) => Err(error::bad_row("user_metadata", format!("not a JSON object: {other}"))),
            Err(e) => Err(error::bad_row("user_metadata", e)),
        },
    }
}

fn mapping_from_row(row: &tokio_postgres::Row) -> SResult<UserIdMapping> {
    Ok(UserIdMapping {
        supertokens_user_id: col(row, 0)?,
        external_user_id: col(row, 1)?,
        external_user_id_info: col(row, 2)?,
    })
}

fn strings(rows: &[tokio_postgres::Row]) -> SResult<Vec<String>> {
    rows.iter().map(|r| col(r, 0)).collect()
}

impl PgStorage {
    fn usql(&self) -> &UserSql {
        &self.sql().users
    }

    async fn find_mapping(&self, app: &AppId, id: &str, supertokens: Option<bool>) -> SResult<Option<UserIdMapping>> {
        let s = self.usql();
        let row = match supertokens {
            Some(true) => self.query_opt(&s.map_get_st, &[&app.as_str(), &id]).await?,
            Some(false) => self.query_opt(&s.map_get_ext, &[&app.as_str(), &id]).await?,
            None => self.query_opt(&s.map_get_any, &[&app.as_str(), &id, &id]).await?,
        };
        row.map(|r| mapping_from_row(&r)).transpose()
    }
}

#[async_trait]
impl ActiveUsersStorage for PgStorage {
    async fn touch_user_last_active(&self, app: &AppId, user_id: &str, now_ms: i64) -> SResult<()> {
        let touch = crate::batch::Touch { app: app.as_str().to_string(), user_id: user_id.to_string(), now_ms };
        crate::batch::run::<crate::batch::LastActiveTouches>(self, touch).await
    }

    async fn count_active_users(&self, app: &AppId, since_ms: i64) -> SResult<u64> {
        let row = self.query_opt(&self.usql().count_active, &[&app.as_str(), &since_ms]).await?;
        let n: i64 = match row {
            Some(r) => col(&r, 0)?,
            None => 0,
        };
        Ok(u64::try_from(n).unwrap_or(0))
    }
}

#[async_trait]
impl AuthRecipeStorage for PgStorage {
    async fn get_auth_user(&self, app: &AppId, user_id: &str) -> SResult<Option<AuthUser>> {
        let rows = self.query(&self.usql().auth_user, &[&app.as_str(), &user_id]).await?;
        Ok(group_users(&rows)?.pop())
    }

    async fn get_auth_users(&self, app: &AppId, user_ids: &[String]) -> SResult<Vec<AuthUser>> {
        if user_ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = self.query(&self.usql().auth_users, &[&app.as_str(), &user_ids]).await?;
        let mut users = group_users(&rows)?;
        // In the order of the first id of each group: its own id (a primary whose login method
        // was removed is none of its methods) or one of its methods.
        let rank = |u: &AuthUser| {
            user_ids
                .iter()
                .position(|id| &u.id == id || u.login_methods.iter().any(|m| &m.recipe_user_id == id))
                .unwrap_or(usize::MAX)
        };
        users.sort_by_cached_key(rank);
        Ok(users)
    }

    async fn user_decorations(&self, app: &AppId, users: &[AuthUser]) -> SResult<UserDecorations> {
        // The login methods, and each user's own id (its primary, normally one of them).
        let mut ids: Vec<&str> =
            users.iter().flat_map(|u| u.login_methods.iter()).map(|m| m.recipe_user_id.as_str()).collect();
        ids.extend(users.iter().map(|u| u.id.as_str()));
        ids.sort_unstable();
        ids.dedup();
        let mut out = UserDecorations::default();
        if ids.is_empty() {
            return Ok(out);
        }
        let rows = self.query(&self.usql().decorations, &[&app.as_str(), &ids]).await?;
        let mut verified_rows = std::collections::HashSet::new();
        for row in &rows {
            let kind: String = col(row, 0)?;
            let (id, value): (String, String) = (col(row, 1)?, col(row, 2)?);
            if kind == "m" {
                out.external_ids.insert(id, value);
            } else {
                verified_rows.insert((id, value));
            }
        }
        // Only pairs of a login method's own email under the id the application uses for it.
        for m in users.iter().flat_map(|u| u.login_methods.iter()) {
            let shown = out.external_ids.get(&m.recipe_user_id).unwrap_or(&m.recipe_user_id);
            if let Some(email) = &m.email {
                let pair = (shown.clone(), email.clone());
                if verified_rows.contains(&pair) {
                    out.verified.insert(pair);
                }
            }
        }
        Ok(out)
    }

    async fn session_identity(&self, app: &AppId, user_id: &str) -> SResult<Option<SessionIdentity>> {
        match self.query_opt(&self.usql().session_identity, &[&app.as_str(), &user_id]).await? {
            Some(row) => identity_from_row(&row, 0),
            None => Ok(None),
        }
    }

    async fn users_by_email(&self, tenant: &TenantIdentifier, email: &str) -> SResult<Vec<String>> {
        let rows =
            self.query(&self.usql().users_by_email, &[&tenant.app.as_str(), &tenant.tenant.as_str(), &email]).await?;
        strings(&rows)
    }

    async fn list_users(&self, tenant: &TenantIdentifier, query: &UserListQuery) -> SResult<Vec<(String, i64)>> {
        let s = self.usql();
        let searching = query.is_search();
        let sql = &s.list[list_index(query.ascending, query.from.is_some(), searching)];
        let (app, tenant_id) = (tenant.app.as_str(), tenant.tenant.as_str());
        let limit = i64::try_from(query.limit).unwrap_or(i64::MAX);
        let mut params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = vec![&app, &tenant_id];
        let emails = search_patterns(&query.email_prefixes, true);
        let phones = search_patterns(&query.phone_prefixes, false);
        let providers = search_patterns(&query.provider_prefixes, false);
        if searching {
            params.extend([&emails as &(dyn tokio_postgres::types::ToSql + Sync), &phones, &providers]);
        } else {
            params.push(&query.recipe_ids);
            if let Some((t, id)) = &query.from {
                params.push(t);
                params.push(id);
            }
        }
        params.push(&limit);
        let rows = if searching {
            // A search's sequential scans start at the table's first block, not where another
            // scan of the table happens to be (`synchronize_seqscans`): the same search then
            // finds the same matches (the oldest rows first) and stops as early every time.
            let mut conn = self.conn().await?;
            let tx = conn.build_transaction().read_only(true).start().await.map_err(error::pg)?;
            // Nor in parallel: workers would deliver their matches in a varying order.
            tx.batch_execute("SET LOCAL synchronize_seqscans = off; SET LOCAL max_parallel_workers_per_gather = 0")
                .await
                .map_err(error::pg)?;
            let rows = tx_query(&tx, sql, &params).await?;
            tx.commit().await.map_err(error::pg)?;
            rows
        } else {
            self.query(sql, &params).await?
        };
        rows.iter().map(|r| Ok((col(r, 0)?, col(r, 1)?))).collect()
    }

    async fn count_users(&self, app: &AppId, tenant: Option<&TenantIdentifier>, recipe_ids: &[String]) -> SResult<u64> {
        let s = self.usql();
        let row = match tenant {
            Some(t) => self.query_opt(&s.count_tenant, &[&app.as_str(), &t.tenant.as_str(), &recipe_ids]).await?,
            None => self.query_opt(&s.count_app, &[&app.as_str(), &recipe_ids]).await?,
        };
        let n: i64 = match row {
            Some(r) => col(&r, 0)?,
            None => 0,
        };
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn delete_user(&self, app: &AppId, user_id: &str, ids: &[String]) -> SResult<()> {
        let s = self.usql();
        let a = app.as_str();
        let mut all_ids: Vec<String> = ids.to_vec();
        if !all_ids.iter().any(|id| id == user_id) {
            all_ids.push(user_id.to_string());
        }
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(error::pg)?;
        let rows = tx_query(&tx, &s.del_group_lock, &[&a, &user_id]).await?;
        let locked = rows
            .iter()
            .map(|row| Ok((col::<String>(row, 0)?, col::<String>(row, 1)?, col::<bool>(row, 2)?, col::<bool>(row, 3)?)))
            .collect::<SResult<Vec<_>>>()?;
        // From here on the stored id: the given one may differ from it in trailing blanks, which
        // the `CHAR(36)` key ignores. When the given id has no row (never had one, or a
        // concurrent removal took it first), only the data keyed by the given ids goes.
        if let Some((me, group, _, _)) = locked.iter().find(|(_, _, is_given, _)| *is_given) {
            let (me, group) = (me.clone(), group.clone());
            // Every locked row is of that group (the statement's condition).
            let members: Vec<String> =
                locked.iter().filter(|(.., is_method)| *is_method).map(|(id, ..)| id.clone()).collect();
            if !all_ids.contains(&me) {
                all_ids.push(me.clone());
            }
            match removal(&me, &group, &members) {
                Removal::MethodOnly => {
                    for statement in &s.del_method_only {
                        tx_exec(&tx, statement, &[&a, &me]).await?;
                    }
                    tx.commit().await.map_err(error::pg)?;
                    return Ok(());
                }
                Removal::User => {
                    tx_exec(&tx, &s.del_a2u, &[&a, &me]).await?;
                }
                Removal::UserAndGroup => {
                    tx_exec(&tx, &s.del_a2u, &[&a, &me]).await?;
                    let mapped = tx_query(&tx, &s.del_mapped_id, &[&a, &group]).await?;
                    all_ids.push(match mapped.first() {
                        Some(row) => col(row, 0)?,
                        None => group.clone(),
                    });
                    tx_exec(&tx, &s.del_a2u, &[&a, &group]).await?;
                }
            }
        }
        for statement in &s.del_keyed {
            tx_exec(&tx, statement, &[&a, &all_ids]).await?;
        }
        tx.commit().await.map_err(error::pg)?;
        Ok(())
    }
}

#[async_trait]
impl EmailPasswordStorage for PgStorage {
    async fn sign_up_with_password(
        &self,
        tenant: &TenantIdentifier,
        user_id: &str,
        email: &str,
        password_hash: &str,
        now_ms: i64,
    ) -> SResult<SignUpResult> {
        let s = self.usql();
        let (app, t) = (tenant.app.as_str(), tenant.tenant.as_str());
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(error::pg)?;
        if !tx_query(&tx, &s.ep_email_taken, &[&app, &t, &email]).await?.is_empty() {
            return Ok(SignUpResult::EmailAlreadyExists);
        }
        tx_exec(&tx, &s.a2u_insert, &[&app, &user_id, &"emailpassword"]).await?;
        tx_exec(&tx, &s.aaru_insert, &[&app, &t, &user_id, &"emailpassword", &now_ms]).await?;
        tx_exec(&tx, &s.ep_insert, &[&app, &user_id, &email, &password_hash, &now_ms]).await?;
        let stmt = tx.prepare_cached(&s.ep_tenant_insert).await.map_err(error::pg)?;
        match tx.execute(&stmt, &[&app, &t, &user_id, &email]).await {
            Ok(_) => {}
            // A concurrent sign-up with the same email won the (app, tenant, email) key.
            Err(e) if is(&e, &SqlState::UNIQUE_VIOLATION) => return Ok(SignUpResult::EmailAlreadyExists),
            Err(e) => return Err(error::pg(e)),
        }
        tx.commit().await.map_err(error::pg)?;
        Ok(SignUpResult::Created)
    }

    async fn password_user_by_email(
        &self,
        tenant: &TenantIdentifier,
        email: &str,
    ) -> SResult<Option<(String, String)>> {
        let row =
            self.query_opt(&self.usql().ep_login, &[&tenant.app.as_str(), &tenant.tenant.as_str(), &email]).await?;
        row.map(|r| Ok((col(&r, 0)?, col(&r, 1)?))).transpose()
    }

    async fn update_email_or_password(
        &self,
        app: &AppId,
        user_id: &str,
        email: Option<&str>,
        password_hash: Option<&str>,
    ) -> SResult<UpdateResult> {
        let s = self.usql();
        let app = app.as_str();
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(error::pg)?;
        if tx_query(&tx, &s.ep_lock, &[&app, &user_id]).await?.is_empty() {
            return Ok(UpdateResult::UnknownUser);
        }
        if let Some(email) = email {
            let stmt = tx.prepare_cached(&s.ep_tenant_set_email).await.map_err(error::pg)?;
            match tx.execute(&stmt, &[&app, &user_id, &email]).await {
                Ok(_) => {}
                Err(e) if is(&e, &SqlState::UNIQUE_VIOLATION) => return Ok(UpdateResult::EmailAlreadyExists),
                Err(e) => return Err(error::pg(e)),
            }
            tx_exec(&tx, &s.ep_set_email, &[&app, &user_id, &email]).await?;
        }
        if let Some(hash) = password_hash {
            tx_exec(&tx, &s.ep_set_hash, &[&app, &user_id, &hash]).await?;
        }
        tx.commit().await.map_err(error::pg)?;
        Ok(UpdateResult::Ok)
    }

    async fn add_password_reset_token(
        &self,
        app: &AppId,
        user_id: &str,
        token_hash: &str,
        email: &str,
        expiry: i64,
    ) -> SResult<()> {
        self.execute(&self.usql().rt_insert, &[&app.as_str(), &user_id, &token_hash, &email, &expiry]).await?;
        Ok(())
    }

    async fn consume_password_reset_token(
        &self,
        app: &AppId,
        token_hash: &str,
        now_ms: i64,
    ) -> SResult<Option<(String, String)>> {
        let s = self.usql();
        let app = app.as_str();
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(error::pg)?;
        let rows = tx_query(&tx, &s.rt_lock, &[&app, &token_hash]).await?;
        let Some(row) = find_token(&rows, token_hash)? else {
            return Ok(None);
        };
        let user_id: String = col(row, 1)?;
        let email: Option<String> = col(row, 2)?;
        let expiry: i64 = col(row, 3)?;
        // Every token of the user goes, even when this one has expired (as the reference).
        tx_exec(&tx, &s.rt_delete_user, &[&app, &user_id]).await?;
        tx.commit().await.map_err(error::pg)?;
        if expiry < now_ms {
            return Ok(None);
        }
        Ok(Some((user_id, email.unwrap_or_default())))
    }

    async fn delete_expired_password_reset_tokens(&self, now_ms: i64) -> SResult<u64> {
        self.execute(&self.usql().rt_delete_expired, &[&now_ms]).await
    }
}

#[async_trait]
impl EmailVerificationStorage for PgStorage {
    async fn add_email_verification_token(
        &self,
        tenant: &TenantIdentifier,
        user_id: &str,
        email: &str,
        token_hash: &str,
        expiry: i64,
    ) -> SResult<()> {
        self.execute(
            &self.usql().evt_insert,
            &[&tenant.app.as_str(), &tenant.tenant.as_str(), &user_id, &email, &token_hash, &expiry],
        )
        .await?;
        Ok(())
    }

    async fn consume_email_verification_token(
        &self,
        tenant: &TenantIdentifier,
        token_hash: &str,
        now_ms: i64,
    ) -> SResult<Option<(String, String)>> {
        let s = self.usql();
        let (app, t) = (tenant.app.as_str(), tenant.tenant.as_str());
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(error::pg)?;
        let rows = tx_query(&tx, &s.evt_lock, &[&app, &t, &token_hash]).await?;
        let Some(row) = find_token(&rows, token_hash)? else {
            return Ok(None);
        };
        let user_id: String = col(row, 1)?;
        let email: String = col(row, 2)?;
        let expiry: i64 = col(row, 3)?;
        // The pair's tokens go even when this one has expired (as the reference).
        tx_exec(&tx, &s.evt_delete, &[&app, &t, &user_id, &email]).await?;
        if expiry < now_ms {
            tx.commit().await.map_err(error::pg)?;
            return Ok(None);
        }
        tx_exec(&tx, &s.ev_verified_insert, &[&app, &user_id, &email]).await?;
        tx.commit().await.map_err(error::pg)?;
        Ok(Some((user_id, email)))
    }

    async fn delete_email_verification_tokens(
        &self,
        tenant: &TenantIdentifier,
        user_id: &str,
        email: &str,
    ) -> SResult<()> {
        self.execute(&self.usql().evt_delete, &[&tenant.app.as_str(), &tenant.tenant.as_str(), &user_id, &email])
            .await?;
        Ok(())
    }

    async fn is_email_verified(&self, app: &AppId, user_id: &str, email: &str) -> SResult<bool> {
        Ok(self.query_opt(&self.usql().ev_verified_select, &[&app.as_str(), &user_id, &email]).await?.is_some())
    }

    async fn set_email_verified(&self, app: &AppId, user_id: &str, email: &str) -> SResult<()> {
        self.execute(&self.usql().ev_verified_insert, &[&app.as_str(), &user_id, &email]).await?;
        Ok(())
    }

    async fn unverify_email(&self, app: &AppId, user_id: &str, email: &str) -> SResult<()> {
        self.execute(&self.usql().ev_verified_delete, &[&app.as_str(), &user_id, &email]).await?;
        Ok(())
    }

    async fn delete_expired_email_verification_tokens(&self, now_ms: i64) -> SResult<u64> {
        self.execute(&self.usql().evt_delete_expired, &[&now_ms]).await
    }
}

#[async_trait]
impl UserMetadataStorage for PgStorage {
    async fn get_user_metadata(&self, app: &AppId, user_id: &str) -> SResult<Option<Map<String, Value>>> {
        let row = self.query_opt(&self.usql().md_select, &[&app.as_str(), &user_id]).await?;
        row.map(|r| parse_metadata(col(&r, 0)?)).transpose()
    }

    async fn get_user_metadata_many(
        &self,
        app: &AppId,
        user_ids: &[String],
    ) -> SResult<std::collections::HashMap<String, Map<String, Value>>> {
        let rows = self.query(&self.usql().md_select_many, &[&app.as_str(), &user_ids]).await?;
        rows.iter().map(|r| Ok((col(r, 0)?, parse_metadata(col(r, 1)?)?))).collect()
    }

    async fn update_user_metadata(
        &self,
        app: &AppId,
        user_id: &str,
        update: &Map<String, Value>,
    ) -> SResult<Map<String, Value>> {
        let s = self.usql();
        let app = app.as_str();
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(error::pg)?;
        // Make sure a row exists to lock, so concurrent updates merge one after the other.
        tx_exec(&tx, &s.md_ensure, &[&app, &user_id]).await?;
        let rows = tx_query(&tx, &s.md_lock, &[&app, &user_id]).await?;
        let current = match rows.first() {
            Some(row) => parse_metadata(col(row, 0)?)?,
            None => Map::new(),
        };
        let merged = st_core::users::merge_metadata(current, update);
        let text = serde_json::to_string(&merged)
            .map_err(|e| StorageError::Query(format!("cannot serialise user metadata: {e}")))?;
        tx_exec(&tx, &s.md_set, &[&app, &user_id, &text]).await?;
        tx.commit().await.map_err(error::pg)?;
        Ok(merged)
    }

    async fn delete_user_metadata(&self, app: &AppId, user_id: &str) -> SResult<bool> {
        Ok(self.execute(&self.usql().md_delete, &[&app.as_str(), &user_id]).await? > 0)
    }
}

#[async_trait]
impl UserRolesStorage for PgStorage {
    async fn create_role_or_add_permissions(&self, app: &AppId, role: &str, permissions: &[String]) -> SResult<bool> {
        let s = self.usql();
        let app = app.as_str();
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(error::pg)?;
        let created = tx_exec(&tx, &s.role_insert, &[&app, &role]).await? == 1;
        if !permissions.is_empty() {
            tx_exec(&tx, &s.perms_insert, &[&app, &role, &permissions]).await?;
        }
        tx.commit().await.map_err(error::pg)?;
        Ok(created)
    }

    async fn permissions_of_role(&self, app: &AppId, role: &str) -> SResult<Option<Vec<String>>> {
        let row = self.query_opt(&self.usql().role_perms, &[&app.as_str(), &role]).await?;
        row.map(|r| col(&r, 0)).transpose()
    }

    async fn remove_role_permissions(&self, app: &AppId, role: &str, permissions: Option<&[String]>) -> SResult<bool> {
        let s = self.usql();
        let app = app.as_str();
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(error::pg)?;
        if tx_query(&tx, &s.role_lock, &[&app, &role]).await?.is_empty() {
            return Ok(false);
        }
        match permissions {
            None => tx_exec(&tx, &s.perms_delete_all, &[&app, &role]).await?,
            Some(list) => tx_exec(&tx, &s.perms_delete_some, &[&app, &role, &list]).await?,
        };
        tx.commit().await.map_err(error::pg)?;
        Ok(true)
    }

    async fn roles_with_permission(&self, app: &AppId, permission: &str) -> SResult<Vec<String>> {
        strings(&self.query(&self.usql().roles_with_perm, &[&app.as_str(), &permission]).await?)
    }

    async fn delete_role(&self, app: &AppId, role: &str) -> SResult<bool> {
        let s = self.usql();
        let app = app.as_str();
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(error::pg)?;
        // role_permissions cascades from roles; user_roles has no FK to roles.
        let existed = tx_exec(&tx, &s.role_delete, &[&app, &role]).await? > 0;
        tx_exec(&tx, &s.user_roles_delete_role, &[&app, &role]).await?;
        tx.commit().await.map_err(error::pg)?;
        Ok(existed)
    }

    async fn all_roles(&self, app: &AppId) -> SResult<Vec<String>> {
        strings(&self.query(&self.usql().roles_list, &[&app.as_str()]).await?)
    }

    async fn add_role_to_user(&self, tenant: &TenantIdentifier, user_id: &str, role: &str) -> SResult<RoleResult> {
        let s = self.usql();
        let (app, t) = (tenant.app.as_str(), tenant.tenant.as_str());
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(error::pg)?;
        // FOR SHARE keeps a concurrent role_delete from leaving an orphan assignment.
        if tx_query(&tx, &s.role_lock, &[&app, &role]).await?.is_empty() {
            return Ok(RoleResult::UnknownRole);
        }
        let inserted = tx_exec(&tx, &s.user_role_insert, &[&app, &t, &user_id, &role]).await? == 1;
        tx.commit().await.map_err(error::pg)?;
        Ok(RoleResult::Ok(!inserted))
    }

    async fn remove_role_from_user(&self, tenant: &TenantIdentifier, user_id: &str, role: &str) -> SResult<RoleResult> {
        let s = self.usql();
        let (app, t) = (tenant.app.as_str(), tenant.tenant.as_str());
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(error::pg)?;
        if tx_query(&tx, &s.role_lock, &[&app, &role]).await?.is_empty() {
            return Ok(RoleResult::UnknownRole);
        }
        let removed = tx_exec(&tx, &s.user_role_delete, &[&app, &t, &user_id, &role]).await? > 0;
        tx.commit().await.map_err(error::pg)?;
        Ok(RoleResult::Ok(removed))
    }

    async fn roles_of_user(&self, tenant: &TenantIdentifier, user_id: &str) -> SResult<Vec<String>> {
        strings(&self.query(&self.usql().user_roles, &[&tenant.app.as_str(), &tenant.tenant.as_str(), &user_id]).await?)
    }

    async fn users_with_role(&self, tenant: &TenantIdentifier, role: &str) -> SResult<Option<Vec<String>>> {
        let s = self.usql();
        let (app, t) = (tenant.app.as_str(), tenant.tenant.as_str());
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(error::pg)?;
        if tx_query(&tx, &s.role_lock, &[&app, &role]).await?.is_empty() {
            return Ok(None);
        }
        let users = strings(&tx_query(&tx, &s.role_users, &[&app, &t, &role]).await?)?;
        tx.commit().await.map_err(error::pg)?;
        Ok(Some(users))
    }
}

#[async_trait]
impl UserIdMappingStorage for PgStorage {
    async fn create_user_id_mapping(
        &self,
        app: &AppId,
        mapping: &UserIdMapping,
        move_verification: bool,
    ) -> SResult<MappingCreate> {
        let s = self.usql();
        let a = app.as_str();
        let (st_id, ext_id) = (&mapping.supertokens_user_id, &mapping.external_user_id);
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(error::pg)?;
        let stmt = tx.prepare_cached(&s.map_insert).await.map_err(error::pg)?;
        let inserted = tx.execute(&stmt, &[&a, st_id, ext_id, &mapping.external_user_id_info]).await;
        match inserted {
            Ok(_) => {
                if move_verification {
                    tx_exec(&tx, &s.map_move_verified, &[&a, st_id, ext_id]).await?;
                    tx_exec(&tx, &s.map_move_ev_tokens, &[&a, st_id, ext_id]).await?;
                }
                tx.commit().await.map_err(error::pg)?;
                Ok(MappingCreate::Ok)
            }
            // The supertokens id must be a user of the app (FK to app_id_to_user_id).
            Err(e) if is(&e, &SqlState::FOREIGN_KEY_VIOLATION) => Ok(MappingCreate::UnknownSuperTokensUserId),
            Err(e) if is(&e, &SqlState::UNIQUE_VIOLATION) => {
                drop(tx);
                drop(conn);
                let st = self.query_opt(&s.map_exists_st, &[&a, &mapping.supertokens_user_id]).await?.is_some();
                let ext = self.query_opt(&s.map_exists_ext, &[&a, &mapping.external_user_id]).await?.is_some();
                Ok(MappingCreate::AlreadyExists { supertokens_id_exists: st, external_id_exists: ext })
            }
            Err(e) => Err(error::pg(e)),
        }
    }

    async fn get_user_id_mapping(
        &self,
        app: &AppId,
        id: &str,
        supertokens: Option<bool>,
    ) -> SResult<Option<UserIdMapping>> {
        self.find_mapping(app, id, supertokens).await
    }

    async fn user_id_uses(&self, app: &AppId, user_id: &str, now_ms: i64) -> SResult<Vec<UserIdUse>> {
        let Some(row) = self.query_opt(&self.usql().user_id_uses, &[&app.as_str(), &user_id, &now_ms]).await? else {
            return Ok(Vec::new());
        };
        let kinds = [
            UserIdUse::Session,
            UserIdUse::UserMetadata,
            UserIdUse::UserRoles,
            UserIdUse::EmailVerification,
            UserIdUse::Totp,
        ];
        let mut uses = Vec::new();
        for (i, kind) in kinds.into_iter().enumerate() {
            if col::<bool>(&row, i)? {
                uses.push(kind);
            }
        }
        Ok(uses)
    }

    async fn delete_user_id_mapping(&self, app: &AppId, id: &str, supertokens: Option<bool>) -> SResult<bool> {
        let Some(m) = self.find_mapping(app, id, supertokens).await? else {
            return Ok(false);
        };
        Ok(self.execute(&self.usql().map_delete, &[&app.as_str(), &m.supertokens_user_id]).await? > 0)
    }

    async fn update_external_user_id_info(
        &self,
        app: &AppId,
        id: &str,
        supertokens: Option<bool>,
        info: Option<&str>,
    ) -> SResult<bool> {
        let Some(m) = self.find_mapping(app, id, supertokens).await? else {
            return Ok(false);
        };
        Ok(self.execute(&self.usql().map_set_info, &[&app.as_str(), &m.supertokens_user_id, &info]).await? > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::{removal, Removal};

    #[test]
    fn removal_follows_the_reference() {
        let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        // A standalone user, or a primary that is its group's only login method.
        assert_eq!(removal("p", "p", &ids(&["p"])), Removal::User);
        // The primary with other login methods: only its own method goes.
        assert_eq!(removal("p", "p", &ids(&["m", "p"])), Removal::MethodOnly);
        // ...and asked again once its method is gone, with two others left: still nothing else.
        assert_eq!(removal("p", "p", &ids(&["m", "n"])), Removal::MethodOnly);
        // ...with one other left: the whole user (the reference's cascade takes that method too).
        assert_eq!(removal("p", "p", &ids(&["m"])), Removal::User);
        // A linked method with others left.
        assert_eq!(removal("m", "p", &ids(&["m", "p"])), Removal::User);
        // The last method of a group whose primary's method is gone.
        assert_eq!(removal("m", "p", &ids(&["m"])), Removal::UserAndGroup);
    }
}
