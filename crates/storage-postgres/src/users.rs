//! [`AuthRecipeStorage`] on the reference user tables: `app_id_to_user_id` (one row per recipe
//! user, pointing at its primary), `all_auth_recipe_users` (one row per recipe user and
//! tenant) and the recipes' user tables (`emailpassword_*`, `thirdparty_*`, `passwordless_*`,
//! `webauthn_*`): user groups and their login methods, their external ids and verified
//! e-mails, the identity a session resolves, listing, counting and deletion. The listing
//! statements are built by `listing_sql.rs`.
//!
//! Notes on semantics:
//! * Ids in `CHAR(36)` columns are read back through `::TEXT` (no blank padding).
//! * `list_users` pages over primary users of the tenant ordered by
//!   `(primary_or_recipe_user_time_joined, id)` (ids compared bytewise, `COLLATE "C"`); the
//!   search tags select login methods *of that tenant* whose email starts with a tag or whose
//!   domain part does (`…@tag…`, as the reference), whose phone number or third-party id starts
//!   with a tag; at most `limit` login methods per recipe (the first its scan finds).
//! * `count_users` for a whole app adds up the per-tenant counts, as the reference's
//!   `includeAllTenants` does (a user in two tenants counts twice).
//! * `delete_user` deletes the recipe user's `app_id_to_user_id` row (the foreign keys cascade
//!   to its tenant rows, recipe rows, reset tokens, mapping, WebAuthn data), or only its own
//!   rows when it is the primary of other login methods (`st_core::storage::Removal`), and
//!   recomputes the time joined of a group that keeps other login methods. Data keyed by any of `ids` (sessions, metadata,
//!   roles, email verification, TOTP, last-active) is deleted too.

use crate::identity::{identity_from_row, identity_select};
use crate::query::{col, strings, tx_exec, tx_query};
use crate::{error, PgStorage, TableNames};
use async_trait::async_trait;
use st_core::ids::{AppId, TenantIdentifier};
use st_core::storage::{
    removal, AuthRecipeStorage, AuthUser, LoginMethod, Removal, SResult, SessionIdentity, UserDecorations,
    UserListQuery,
};
use tokio_postgres::Row;
use tracing::field::Empty;
use tracing::instrument;

/// Statement texts of the auth-recipe user queries.
#[derive(Debug)]
pub(crate) struct UserSql {
    /// Login methods of the group of one user (`get_auth_user`).
    pub(crate) auth_user: String,
    /// Login methods of the groups of many users (`get_auth_users`).
    pub(crate) auth_users: String,
    /// External ids and verified emails of many login methods (`user_decorations`).
    pub(crate) decorations: String,
    users_by_email: String,
    /// `GET /users` statements, indexed by [`list_index`].
    list: Vec<String>,
    /// The session's identity in one round trip (see `session_identity`).
    pub(crate) session_identity: String,
    count_tenant: String,
    count_app: String,
    del_group_lock: String,
    /// `delete_user`: a login method's own rows (see `Removal::MethodOnly`).
    pub(crate) del_method_only: Vec<String>,
    del_mapped_id: String,
    del_a2u: String,
    /// `delete_user`: the data keyed by any of the user's ids.
    del_keyed: Vec<String>,
}

impl UserSql {
    pub(crate) fn new(t: &TableNames) -> UserSql {
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
        let ur = t.qualified("user_roles");
        let map = t.qualified("userid_mapping");
        let ula = t.qualified("user_last_active");
        let totp = t.qualified("totp_users");
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
            users_by_email: format!(
                "SELECT DISTINCT a.primary_or_recipe_user_id::TEXT COLLATE \"C\" AS id FROM {aaru} a \
                 WHERE a.app_id = $1 AND a.tenant_id = $2 AND a.user_id IN ( \
                   SELECT user_id FROM {ep_t} WHERE app_id = $1 AND tenant_id = $2 AND email = $3 \
                   UNION SELECT user_id FROM {tp} WHERE app_id = $1 AND email = $3 \
                   UNION SELECT user_id FROM {pl_t} WHERE app_id = $1 AND tenant_id = $2 AND email = $3 \
                   UNION SELECT user_id FROM {wa_t} WHERE app_id = $1 AND tenant_id = $2 AND email = $3) \
                 ORDER BY id"
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
            del_mapped_id: format!("SELECT external_user_id FROM {map} WHERE app_id = $1 AND supertokens_user_id = $2"),
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

impl PgStorage {
    fn usql(&self) -> &UserSql {
        &self.sql().users
    }
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
pub(crate) fn group_users(rows: &[Row]) -> SResult<Vec<AuthUser>> {
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

#[async_trait]
impl AuthRecipeStorage for PgStorage {
    #[instrument(
        level = "debug", target = "st_storage", name = "storage.get_auth_user", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn get_auth_user(&self, app: &AppId, user_id: &str) -> SResult<Option<AuthUser>> {
        let rows = self.query(&self.usql().auth_user, &[&app.as_str(), &user_id]).await?;
        Ok(group_users(&rows)?.pop())
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.get_auth_users", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app,
            otel.status_code = Empty, error.type = Empty)
    )]
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

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.user_decorations", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app,
            otel.status_code = Empty, error.type = Empty)
    )]
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

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.session_identity", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn session_identity(&self, app: &AppId, user_id: &str) -> SResult<Option<SessionIdentity>> {
        match self.query_opt(&self.usql().session_identity, &[&app.as_str(), &user_id]).await? {
            Some(row) => identity_from_row(&row, 0),
            None => Ok(None),
        }
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.users_by_email", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %tenant.app, tenant_id = %tenant.tenant,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn users_by_email(&self, tenant: &TenantIdentifier, email: &str) -> SResult<Vec<String>> {
        let rows =
            self.query(&self.usql().users_by_email, &[&tenant.app.as_str(), &tenant.tenant.as_str(), &email]).await?;
        strings(&rows)
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.list_users", skip_all,
        fields(otel.kind = "client", db.system = "postgresql",
            app_id = %tenant.app, tenant_id = %tenant.tenant, limit = query.limit,
            otel.status_code = Empty, error.type = Empty)
    )]
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

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.count_users", skip_all,
        fields(otel.kind = "client", db.system = "postgresql",
            app_id = %app, tenant_id = tenant.map(|t| tracing::field::display(&t.tenant)),
            otel.status_code = Empty, error.type = Empty)
    )]
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

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.delete_user", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn delete_user(&self, app: &AppId, user_id: &str, ids: &[String]) -> SResult<()> {
        let s = self.usql();
        let a = app.as_str();
        self.retrying(|| async {
            let mut all_ids: Vec<String> = ids.to_vec();
            if !all_ids.iter().any(|id| id == user_id) {
                all_ids.push(user_id.to_string());
            }
            let mut conn = self.conn().await?;
            let tx = conn.transaction().await.map_err(error::pg)?;
            let rows = tx_query(&tx, &s.del_group_lock, &[&a, &user_id]).await?;
            let locked = rows
                .iter()
                .map(|row| {
                    Ok((col::<String>(row, 0)?, col::<String>(row, 1)?, col::<bool>(row, 2)?, col::<bool>(row, 3)?))
                })
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
                crate::passwordless::forget_devices_of_user(self, &tx, a, &me).await?;
                match removal(&me, &group, &members) {
                    Removal::MethodOnly => {
                        for statement in &s.del_method_only {
                            tx_exec(&tx, statement, &[&a, &me]).await?;
                        }
                        // The group joined when its oldest remaining login method did.
                        self.update_group_time(&tx, a, &group).await?;
                        tx.commit().await.map_err(error::pg)?;
                        return Ok(());
                    }
                    Removal::User => {
                        tx_exec(&tx, &s.del_a2u, &[&a, &me]).await?;
                        if me != group {
                            self.update_group_time(&tx, a, &group).await?;
                        }
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
        })
        .await
    }
}
