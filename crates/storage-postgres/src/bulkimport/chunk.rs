//! The fast way of a settlement: the users of a claimed chunk written together, one multi-row
//! statement per table (`INSERT … SELECT … FROM UNNEST(…)`) instead of 8–12 single-row
//! statements per user, in one savepoint of the settlement's transaction.
//!
//! Only users whose import cannot be refused go this way. A pre-check of the chunk sends the
//! others to the user-by-user way ([`PgStorage::import_in`] in a savepoint each, in row order,
//! after the batch):
//! * a user sharing a key with another user of the chunk: a recipe user id, an e-mail, provider
//!   pair or phone number in a tenant, an external id or the id it maps, the id its data is
//!   keyed by, or (both primary users) an account info;
//! * a user one of whose keys the database already holds (one query per kind of key for the
//!   whole chunk), or a primary user one of whose account infos a primary user holds (under
//!   the account-info advisory locks of every primary user of the chunk, taken first, as the
//!   account-linking intents take them);
//! * a role that does not exist, a recipe this server does not import.
//!
//! No user of the batch shares a key with one of those, so each of them gets the outcome a
//! user-by-user import in row order gives, refusal message included. The batch's inserts that
//! skip a conflicting row (`ON CONFLICT DO NOTHING`) are counted: a key taken meanwhile by a
//! concurrent writer, or any error the database raises (a tenant removed meanwhile), rolls
//! the savepoint back and the whole chunk goes the user-by-user way. A lost connection, a
//! deadlock or a serialisation failure ends the settlement uncommitted, as on the slow way.

use super::{ends_settlement, login_method};
use crate::query::{col, tx_exec, tx_query};
use crate::{error, PgStorage, TableNames};
use deadpool_postgres::Transaction;
use st_core::accountlinking::AccountInfo;
use st_core::storage::{ImportPlan, LoginMethod, SResult};
use std::collections::{HashMap, HashSet};

/// Statement texts of the chunk's pre-check and multi-row writes.
#[derive(Debug)]
pub(crate) struct ChunkSql {
    taken_ids: String,
    taken_ep: String,
    taken_tp: String,
    taken_pl_email: String,
    taken_pl_phone: String,
    taken_ext: String,
    held_infos: String,
    a2u: String,
    aaru: String,
    ep: String,
    ep_t: String,
    tp: String,
    tp_t: String,
    pl: String,
    pl_t: String,
    map: String,
    verify: String,
    totp_user: String,
    totp_device: String,
    metadata: String,
    user_role: String,
    /// The planner's row estimate of `app_id_to_user_id` (-1: never analysed).
    pub(super) estimate: String,
    /// `ANALYZE` of the tables an import writes.
    pub(super) analyze: String,
}

impl ChunkSql {
    pub(crate) fn new(t: &TableNames) -> ChunkSql {
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
        let ur = t.qualified("user_roles");
        // Each pre-check is driven from the chunk's values, each looked up through its index
        // (the rows inserted by earlier chunks of the same run are not in the statistics).
        let taken_in = |table: &str, cols: &[&str]| {
            let n = cols.len();
            let params: Vec<String> = (0..n).map(|i| format!("${}::TEXT[]", i + 2)).collect();
            let names: Vec<String> = (0..n).map(|i| format!("v{i}")).collect();
            let cond: Vec<String> = cols.iter().enumerate().map(|(i, c)| format!("u.{c} = x.v{i}")).collect();
            format!(
                "SELECT {} FROM UNNEST({}) AS x({}) WHERE EXISTS (SELECT 1 FROM {table} u WHERE u.app_id = $1 AND {})",
                names.iter().map(|v| format!("x.{v}")).collect::<Vec<_>>().join(", "),
                params.join(", "),
                names.join(", "),
                cond.join(" AND ")
            )
        };
        ChunkSql {
            taken_ids: format!(
                "SELECT user_id::TEXT FROM {a2u} WHERE app_id = $1 AND user_id = ANY($2::TEXT[]::BPCHAR[])"
            ),
            taken_ep: taken_in(&ep_t, &["tenant_id", "email"]),
            taken_tp: taken_in(&tp_t, &["tenant_id", "third_party_id", "third_party_user_id"]),
            taken_pl_email: taken_in(&pl_t, &["tenant_id", "email"]),
            taken_pl_phone: taken_in(&pl_t, &["tenant_id", "phone_number"]),
            taken_ext: format!(
                "SELECT x.v FROM UNNEST($2::TEXT[]) AS x(v) \
                 WHERE EXISTS (SELECT 1 FROM {map} m WHERE m.app_id = $1 AND m.external_user_id = x.v) \
                    OR EXISTS (SELECT 1 FROM {map} m WHERE m.app_id = $1 AND m.supertokens_user_id = x.v::BPCHAR)"
            ),
            // The account infos (kind, value, provider user id) held by a linked or primary
            // user: as the holders look-up of a single import, value by value.
            held_infos: format!(
                "SELECT DISTINCT s.k, s.a, s.b FROM ( \
                     SELECT 'e' AS k, e.v AS a, '' AS b, u.user_id FROM UNNEST($2::TEXT[]) AS e(v) \
                       JOIN {ep} u ON u.app_id = $1 AND u.email = e.v \
                     UNION ALL SELECT 'e', e.v, '', u.user_id FROM UNNEST($2::TEXT[]) AS e(v) \
                       JOIN {tp} u ON u.app_id = $1 AND u.email = e.v \
                     UNION ALL SELECT 'e', e.v, '', u.user_id FROM UNNEST($2::TEXT[]) AS e(v) \
                       JOIN {pl} u ON u.app_id = $1 AND u.email = e.v \
                     UNION ALL SELECT 'e', e.v, '', u.user_id FROM UNNEST($2::TEXT[]) AS e(v) \
                       JOIN {wa_t} u ON u.app_id = $1 AND u.email = e.v \
                     UNION ALL SELECT 'p', e.v, '', u.user_id FROM UNNEST($3::TEXT[]) AS e(v) \
                       JOIN {pl} u ON u.app_id = $1 AND u.phone_number = e.v \
                     UNION ALL SELECT 't', p.id, p.uid, u.user_id FROM UNNEST($4::TEXT[], $5::TEXT[]) AS p(id, uid) \
                       JOIN {tp} u ON u.app_id = $1 AND u.third_party_id = p.id AND u.third_party_user_id = p.uid \
                 ) s CROSS JOIN LATERAL (SELECT 1 FROM {a2u} x \
                     WHERE x.app_id = $1 AND x.user_id = s.user_id AND x.is_linked_or_is_a_primary_user OFFSET 0) a"
            ),
            a2u: format!(
                "INSERT INTO {a2u} (app_id, user_id, recipe_id, primary_or_recipe_user_id, \
                 is_linked_or_is_a_primary_user) \
                 SELECT $1, u, r, p, l FROM UNNEST($2::TEXT[], $3::TEXT[], $4::TEXT[], $5::BOOL[]) AS x(u, r, p, l) \
                 ON CONFLICT DO NOTHING"
            ),
            aaru: format!(
                "INSERT INTO {aaru} (app_id, tenant_id, user_id, primary_or_recipe_user_id, \
                 is_linked_or_is_a_primary_user, recipe_id, time_joined, primary_or_recipe_user_time_joined) \
                 SELECT $1, t, u, p, l, r, j, g FROM UNNEST($2::TEXT[], $3::TEXT[], $4::TEXT[], $5::BOOL[], \
                   $6::TEXT[], $7::INT8[], $8::INT8[]) AS x(t, u, p, l, r, j, g)"
            ),
            ep: format!(
                "INSERT INTO {ep} (app_id, user_id, email, password_hash, time_joined) \
                 SELECT $1, u, e, h, j FROM UNNEST($2::TEXT[], $3::TEXT[], $4::TEXT[], $5::INT8[]) AS x(u, e, h, j)"
            ),
            ep_t: format!(
                "INSERT INTO {ep_t} (app_id, tenant_id, user_id, email) \
                 SELECT $1, t, u, e FROM UNNEST($2::TEXT[], $3::TEXT[], $4::TEXT[]) AS x(t, u, e) \
                 ON CONFLICT DO NOTHING"
            ),
            tp: format!(
                "INSERT INTO {tp} (app_id, third_party_id, third_party_user_id, user_id, email, time_joined) \
                 SELECT $1, i, p, u, e, j FROM UNNEST($2::TEXT[], $3::TEXT[], $4::TEXT[], $5::TEXT[], $6::INT8[]) \
                   AS x(i, p, u, e, j)"
            ),
            tp_t: format!(
                "INSERT INTO {tp_t} (app_id, tenant_id, user_id, third_party_id, third_party_user_id) \
                 SELECT $1, t, u, i, p FROM UNNEST($2::TEXT[], $3::TEXT[], $4::TEXT[], $5::TEXT[]) AS x(t, u, i, p) \
                 ON CONFLICT DO NOTHING"
            ),
            pl: format!(
                "INSERT INTO {pl} (app_id, user_id, email, phone_number, time_joined) \
                 SELECT $1, u, e, p, j FROM UNNEST($2::TEXT[], $3::TEXT[], $4::TEXT[], $5::INT8[]) AS x(u, e, p, j)"
            ),
            pl_t: format!(
                "INSERT INTO {pl_t} (app_id, tenant_id, user_id, email, phone_number) \
                 SELECT $1, t, u, e, p FROM UNNEST($2::TEXT[], $3::TEXT[], $4::TEXT[], $5::TEXT[]) AS x(t, u, e, p) \
                 ON CONFLICT DO NOTHING"
            ),
            map: format!(
                "INSERT INTO {map} (app_id, supertokens_user_id, external_user_id) \
                 SELECT $1::TEXT, s, e FROM UNNEST($2::TEXT[], $3::TEXT[]) AS x(s, e) \
                 WHERE NOT EXISTS (SELECT 1 FROM {map} m WHERE m.app_id = $1::TEXT AND m.external_user_id = x.e) \
                   AND NOT EXISTS (SELECT 1 FROM {map} m \
                     WHERE m.app_id = $1::TEXT AND m.supertokens_user_id = x.e::BPCHAR) \
                 ON CONFLICT DO NOTHING"
            ),
            verify: format!(
                "INSERT INTO {eve} (app_id, user_id, email) \
                 SELECT $1, u, e FROM UNNEST($2::TEXT[], $3::TEXT[]) AS x(u, e) ON CONFLICT DO NOTHING"
            ),
            totp_user: format!(
                "INSERT INTO {totp_users} (app_id, user_id) SELECT $1, u FROM UNNEST($2::TEXT[]) AS x(u) \
                 ON CONFLICT DO NOTHING"
            ),
            totp_device: format!(
                "INSERT INTO {totp_devices} (app_id, user_id, device_name, secret_key, period, skew, verified, \
                 created_at) SELECT $1, u, n, s, p, k, v, c FROM UNNEST($2::TEXT[], $3::TEXT[], $4::TEXT[], \
                   $5::INT4[], $6::INT4[], $7::BOOL[], $8::INT8[]) AS x(u, n, s, p, k, v, c) \
                 ON CONFLICT DO NOTHING"
            ),
            metadata: format!(
                "INSERT INTO {md} (app_id, user_id, user_metadata) \
                 SELECT $1, u, m FROM UNNEST($2::TEXT[], $3::TEXT[]) AS x(u, m) \
                 ON CONFLICT (app_id, user_id) DO UPDATE SET user_metadata = EXCLUDED.user_metadata"
            ),
            user_role: format!(
                "INSERT INTO {ur} (app_id, tenant_id, user_id, role) \
                 SELECT $1, t, u, r FROM UNNEST($2::TEXT[], $3::TEXT[], $4::TEXT[]) AS x(t, u, r) \
                 ON CONFLICT DO NOTHING"
            ),
            estimate: format!("SELECT reltuples::BIGINT FROM pg_class WHERE oid = to_regclass('{a2u}')"),
            analyze: format!(
                "ANALYZE {a2u}, {aaru}, {ep}, {ep_t}, {tp}, {tp_t}, {pl}, {pl_t}, {map}, {eve}, {totp_users}, \
                 {totp_devices}, {md}, {ur}"
            ),
        }
    }
}

/// The recipes the batch writes (any other is refused on the user-by-user way).
const RECIPES: [&str; 3] = ["emailpassword", "thirdparty", "passwordless"];

/// The account infos of a primary user's login methods, sorted, without repeats.
fn infos_of(plan: &ImportPlan) -> Vec<AccountInfo> {
    let methods: Vec<LoginMethod> = plan.methods.iter().map(login_method).collect();
    let mut infos: Vec<AccountInfo> = methods.iter().flat_map(AccountInfo::of).collect();
    infos.sort();
    infos.dedup();
    infos
}

/// The keys of a user that no other user of its chunk may share (see the module's list).
fn keys_of(plan: &ImportPlan) -> Vec<String> {
    let mut keys = Vec::new();
    for m in &plan.methods {
        keys.push(format!("id\u{1}{}", m.recipe_user_id));
        for t in &m.tenant_ids {
            if let (true, Some(e)) = (m.recipe_id == "emailpassword", &m.email) {
                keys.push(format!("ep\u{1}{t}\u{1}{e}"));
            }
            if let (true, Some((id, uid))) = (m.recipe_id == "thirdparty", &m.third_party) {
                keys.push(format!("tp\u{1}{t}\u{1}{id}\u{1}{uid}"));
            }
            if m.recipe_id == "passwordless" {
                if let Some(e) = &m.email {
                    keys.push(format!("pe\u{1}{t}\u{1}{e}"));
                }
                if let Some(p) = &m.phone_number {
                    keys.push(format!("pp\u{1}{t}\u{1}{p}"));
                }
            }
        }
    }
    if let Some(ext) = &plan.external_user_id {
        keys.push(format!("map\u{1}{ext}"));
        keys.push(format!("map\u{1}{}", plan.main_user_id));
    }
    keys.push(format!("data\u{1}{}", plan.data_user_id()));
    if plan.linked {
        keys.extend(infos_of(plan).iter().map(|i| format!("info\u{1}{}", i.key_text())));
    }
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// A text column.
type Texts<'a> = Vec<&'a str>;
/// A text column with NULLs.
type Nullable<'a> = Vec<Option<&'a str>>;
/// Whole numbers, flags.
type Longs = Vec<i64>;

/// The columns of one multi-row insert.
#[derive(Default)]
struct Rows<'a> {
    a2u: (Texts<'a>, Texts<'a>, Texts<'a>, Vec<bool>),
    aaru: (Texts<'a>, Texts<'a>, Texts<'a>, Vec<bool>, Texts<'a>, Longs, Longs),
    ep: (Texts<'a>, Nullable<'a>, Texts<'a>, Longs),
    ep_t: (Texts<'a>, Texts<'a>, Nullable<'a>),
    tp: (Texts<'a>, Texts<'a>, Texts<'a>, Nullable<'a>, Longs),
    tp_t: (Texts<'a>, Texts<'a>, Texts<'a>, Texts<'a>),
    pl: (Texts<'a>, Nullable<'a>, Nullable<'a>, Longs),
    pl_t: (Texts<'a>, Texts<'a>, Nullable<'a>, Nullable<'a>),
    map: (Texts<'a>, Texts<'a>),
    verify: (Vec<String>, Texts<'a>),
    totp_user: Texts<'a>,
    totp_device: (Texts<'a>, Texts<'a>, Texts<'a>, Vec<i32>, Vec<i32>, Vec<bool>, Longs),
    metadata: (Texts<'a>, Vec<String>),
    user_role: (Texts<'a>, Texts<'a>, Texts<'a>),
}

impl<'a> Rows<'a> {
    /// The rows of `plans`, as [`PgStorage::import_in`] writes them user by user.
    fn of(plans: &[&'a ImportPlan]) -> Rows<'a> {
        let mut r = Rows::default();
        for plan in plans {
            let group_time = plan.methods.iter().map(|m| m.time_joined).min().unwrap_or(0);
            for m in &plan.methods {
                let id = m.recipe_user_id.as_str();
                let (primary, group_joined) =
                    if plan.linked { (plan.main_user_id.as_str(), group_time) } else { (id, m.time_joined) };
                r.a2u.0.push(id);
                r.a2u.1.push(&m.recipe_id);
                r.a2u.2.push(primary);
                r.a2u.3.push(plan.linked);
                for t in &m.tenant_ids {
                    r.aaru.0.push(t);
                    r.aaru.1.push(id);
                    r.aaru.2.push(primary);
                    r.aaru.3.push(plan.linked);
                    r.aaru.4.push(&m.recipe_id);
                    r.aaru.5.push(m.time_joined);
                    r.aaru.6.push(group_joined);
                }
                let email = m.email.as_deref();
                match m.recipe_id.as_str() {
                    "emailpassword" => {
                        r.ep.0.push(id);
                        r.ep.1.push(email);
                        r.ep.2.push(m.password_hash.as_deref().unwrap_or_default());
                        r.ep.3.push(m.time_joined);
                        for t in &m.tenant_ids {
                            r.ep_t.0.push(t);
                            r.ep_t.1.push(id);
                            r.ep_t.2.push(email);
                        }
                    }
                    "thirdparty" => {
                        let (tp_id, tp_uid) =
                            m.third_party.as_ref().map(|(a, b)| (a.as_str(), b.as_str())).unwrap_or_default();
                        r.tp.0.push(tp_id);
                        r.tp.1.push(tp_uid);
                        r.tp.2.push(id);
                        r.tp.3.push(email);
                        r.tp.4.push(m.time_joined);
                        for t in &m.tenant_ids {
                            r.tp_t.0.push(t);
                            r.tp_t.1.push(id);
                            r.tp_t.2.push(tp_id);
                            r.tp_t.3.push(tp_uid);
                        }
                    }
                    _ => {
                        let phone = m.phone_number.as_deref();
                        r.pl.0.push(id);
                        r.pl.1.push(email);
                        r.pl.2.push(phone);
                        r.pl.3.push(m.time_joined);
                        for t in &m.tenant_ids {
                            r.pl_t.0.push(t);
                            r.pl_t.1.push(id);
                            r.pl_t.2.push(email);
                            r.pl_t.3.push(phone);
                        }
                    }
                }
                if let (true, Some(email)) = (m.verified, &m.email) {
                    r.verify.0.push(plan.id_of(m));
                    r.verify.1.push(email);
                }
            }
            if let Some(ext) = &plan.external_user_id {
                r.map.0.push(&plan.main_user_id);
                r.map.1.push(ext);
            }
            let data_id = plan.data_user_id();
            if !plan.totp_devices.is_empty() {
                r.totp_user.push(data_id);
                for d in &plan.totp_devices {
                    r.totp_device.0.push(data_id);
                    r.totp_device.1.push(&d.name);
                    r.totp_device.2.push(&d.secret_key);
                    r.totp_device.3.push(d.period);
                    r.totp_device.4.push(d.skew);
                    r.totp_device.5.push(d.verified);
                    r.totp_device.6.push(d.created_at);
                }
            }
            if let Some(md) = &plan.metadata {
                r.metadata.0.push(data_id);
                r.metadata.1.push(serde_json::Value::Object(md.clone()).to_string());
            }
            for (tenant, role) in &plan.roles {
                r.user_role.0.push(tenant);
                r.user_role.1.push(data_id);
                r.user_role.2.push(role);
            }
        }
        r
    }
}

/// Whether the statistics of the import's tables are too old for a settlement that wrote
/// `imported` users: the planner's estimate of the users table is under four times that (or the
/// table was never analysed), so the plans made on it (the foreign-key checks' above all, made
/// once per connection) may be those of a nearly empty table.
pub(super) fn stats_stale(estimate: i64, imported: usize) -> bool {
    imported >= MIN_USERS_FOR_ANALYZE && estimate < 4 * imported as i64
}

/// Settlements smaller than this never refresh the statistics.
const MIN_USERS_FOR_ANALYZE: usize = 500;

impl PgStorage {
    /// After a settlement that wrote `imported` users, refresh the statistics of the import's
    /// tables while they are small beside what is being imported. Autovacuum would, but up to a
    /// minute late: the first chunks of an import into empty tables ran their foreign-key checks
    /// with the plans of empty tables, 26 s for one multi-row insert of 2,400 rows where the
    /// same insert after an `ANALYZE` takes a tenth of a second. Best effort: the settlement is
    /// committed already (and a non-owner's `ANALYZE` only warns).
    pub(super) async fn bi_refresh_stats(&self, imported: usize) {
        if imported < MIN_USERS_FOR_ANALYZE {
            return;
        }
        let s = &self.bi_sql().chunk;
        let refreshed = async {
            let conn = self.conn().await?;
            let estimate: i64 = match conn.query_opt(&s.estimate, &[]).await.map_err(error::pg)? {
                Some(r) => col(&r, 0)?,
                None => return Ok(()),
            };
            if stats_stale(estimate, imported) {
                conn.batch_execute(&s.analyze).await.map_err(error::pg)?;
            }
            SResult::Ok(())
        };
        if let Err(e) = refreshed.await {
            tracing::debug!(error = %e, "bulk import: statistics not refreshed");
        }
    }

    /// Import the users of `imports` ((row index, plan), in row order) that the pre-check lets
    /// through, together, in a savepoint of `tx`. Returns the row indexes imported; the others
    /// are for the user-by-user way.
    pub(super) async fn bi_import_chunk(
        &self,
        tx: &mut Transaction<'_>,
        app: &str,
        imports: &[(usize, &ImportPlan)],
    ) -> SResult<HashSet<usize>> {
        let fast = self.bi_precheck(tx, app, imports).await?;
        if fast.is_empty() {
            return Ok(HashSet::new());
        }
        let plans: Vec<&ImportPlan> = fast.iter().map(|(_, p)| *p).collect();
        let sp = tx.savepoint("bulk_import_chunk").await.map_err(error::pg)?;
        match self.bi_write_rows(&sp, app, &Rows::of(&plans)).await {
            Ok(true) => {
                sp.commit().await.map_err(error::pg)?;
                Ok(fast.iter().map(|(i, _)| *i).collect())
            }
            Err(e) if ends_settlement(&e) => Err(e),
            Ok(false) | Err(_) => {
                sp.rollback().await.map_err(error::pg)?;
                Ok(HashSet::new())
            }
        }
    }

    /// The users of `imports` no check sends the user-by-user way (see the module's list).
    async fn bi_precheck<'p>(
        &self,
        tx: &Transaction<'_>,
        app: &str,
        imports: &[(usize, &'p ImportPlan)],
    ) -> SResult<Vec<(usize, &'p ImportPlan)>> {
        let s = &self.bi_sql().chunk;
        let keys: Vec<Vec<String>> = imports.iter().map(|(_, p)| keys_of(p)).collect();
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for k in keys.iter().flatten() {
            *seen.entry(k.as_str()).or_default() += 1;
        }
        // Keys the database holds (a set of the same key texts).
        let mut taken: HashSet<String> = HashSet::new();
        let mut ids: Vec<&str> = Vec::new();
        let mut ep: (Vec<&str>, Vec<&str>) = Default::default();
        let mut tp: (Vec<&str>, Vec<&str>, Vec<&str>) = Default::default();
        let mut pe: (Vec<&str>, Vec<&str>) = Default::default();
        let mut pp: (Vec<&str>, Vec<&str>) = Default::default();
        let mut ext: Vec<&str> = Vec::new();
        let mut linked_infos: Vec<AccountInfo> = Vec::new();
        let mut wanted_roles: Vec<&str> = Vec::new();
        for (_, plan) in imports {
            for m in &plan.methods {
                ids.push(&m.recipe_user_id);
                for t in &m.tenant_ids {
                    match (m.recipe_id.as_str(), &m.email, &m.third_party, &m.phone_number) {
                        ("emailpassword", Some(e), _, _) => {
                            ep.0.push(t);
                            ep.1.push(e);
                        }
                        ("thirdparty", _, Some((id, uid)), _) => {
                            tp.0.push(t);
                            tp.1.push(id);
                            tp.2.push(uid);
                        }
                        ("passwordless", e, _, p) => {
                            if let Some(e) = e {
                                pe.0.push(t);
                                pe.1.push(e);
                            }
                            if let Some(p) = p {
                                pp.0.push(t);
                                pp.1.push(p);
                            }
                        }
                        _ => {}
                    }
                }
            }
            if let Some(e) = &plan.external_user_id {
                ext.push(e);
            }
            if plan.linked {
                linked_infos.extend(infos_of(plan));
            }
            wanted_roles.extend(plan.roles.iter().map(|(_, r)| r.as_str()));
        }
        let a = &app;
        for r in tx_query(tx, &s.taken_ids, &[a, &ids]).await? {
            taken.insert(format!("id\u{1}{}", col::<String>(&r, 0)?));
        }
        if !ep.0.is_empty() {
            for r in tx_query(tx, &s.taken_ep, &[a, &ep.0, &ep.1]).await? {
                taken.insert(format!("ep\u{1}{}\u{1}{}", col::<String>(&r, 0)?, col::<String>(&r, 1)?));
            }
        }
        if !tp.0.is_empty() {
            for r in tx_query(tx, &s.taken_tp, &[a, &tp.0, &tp.1, &tp.2]).await? {
                let (t, id, uid) = (col::<String>(&r, 0)?, col::<String>(&r, 1)?, col::<String>(&r, 2)?);
                taken.insert(format!("tp\u{1}{t}\u{1}{id}\u{1}{uid}"));
            }
        }
        if !pe.0.is_empty() {
            for r in tx_query(tx, &s.taken_pl_email, &[a, &pe.0, &pe.1]).await? {
                taken.insert(format!("pe\u{1}{}\u{1}{}", col::<String>(&r, 0)?, col::<String>(&r, 1)?));
            }
        }
        if !pp.0.is_empty() {
            for r in tx_query(tx, &s.taken_pl_phone, &[a, &pp.0, &pp.1]).await? {
                taken.insert(format!("pp\u{1}{}\u{1}{}", col::<String>(&r, 0)?, col::<String>(&r, 1)?));
            }
        }
        if !ext.is_empty() {
            for r in tx_query(tx, &s.taken_ext, &[a, &ext]).await? {
                taken.insert(format!("map\u{1}{}", col::<String>(&r, 0)?));
            }
        }
        if !linked_infos.is_empty() {
            linked_infos.sort();
            linked_infos.dedup();
            // The locks of every primary user's account infos first, as a single import takes
            // its own (sorted, so two settlements cannot wait on each other in a cycle).
            tx_query(tx, &self.bi_sql().advisory_locks, &[&self.bi_info_keys(app, &linked_infos)]).await?;
            let (mut emails, mut phones, mut tp_ids, mut tp_users) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for info in &linked_infos {
                match info {
                    AccountInfo::Email(e) => emails.push(e.as_str()),
                    AccountInfo::PhoneNumber(p) => phones.push(p.as_str()),
                    AccountInfo::ThirdParty(id, uid) => {
                        tp_ids.push(id.as_str());
                        tp_users.push(uid.as_str());
                    }
                }
            }
            for r in tx_query(tx, &s.held_infos, &[a, &emails, &phones, &tp_ids, &tp_users]).await? {
                let (k, v, uid) = (col::<String>(&r, 0)?, col::<String>(&r, 1)?, col::<String>(&r, 2)?);
                let info = match k.as_str() {
                    "e" => AccountInfo::Email(v),
                    "p" => AccountInfo::PhoneNumber(v),
                    _ => AccountInfo::ThirdParty(v, uid),
                };
                taken.insert(format!("info\u{1}{}", info.key_text()));
            }
        }
        let mut present: HashSet<String> = HashSet::new();
        if !wanted_roles.is_empty() {
            wanted_roles.sort_unstable();
            wanted_roles.dedup();
            for r in tx_query(tx, &self.bi_sql().roles_present, &[a, &wanted_roles]).await? {
                present.insert(col(&r, 0)?);
            }
        }
        let fast = imports
            .iter()
            .zip(&keys)
            .filter(|((_, plan), keys)| {
                keys.iter().all(|k| seen.get(k.as_str()) == Some(&1) && !taken.contains(k))
                    && plan.methods.iter().all(|m| RECIPES.contains(&m.recipe_id.as_str()))
                    && plan.roles.iter().all(|(_, r)| present.contains(r))
            })
            .map(|(x, _)| *x)
            .collect();
        Ok(fast)
    }

    /// Write the rows; `false` when an insert that skips conflicts wrote fewer rows than asked
    /// (a key taken by a concurrent writer since the pre-check).
    async fn bi_write_rows(&self, tx: &Transaction<'_>, app: &str, r: &Rows<'_>) -> SResult<bool> {
        let s = &self.bi_sql().chunk;
        let a = &app;
        let all = |n: u64, want: usize| n as usize == want;
        if !all(tx_exec(tx, &s.a2u, &[a, &r.a2u.0, &r.a2u.1, &r.a2u.2, &r.a2u.3]).await?, r.a2u.0.len()) {
            return Ok(false);
        }
        let x = &r.aaru;
        tx_exec(tx, &s.aaru, &[a, &x.0, &x.1, &x.2, &x.3, &x.4, &x.5, &x.6]).await?;
        if !r.ep.0.is_empty() {
            tx_exec(tx, &s.ep, &[a, &r.ep.0, &r.ep.1, &r.ep.2, &r.ep.3]).await?;
            if !all(tx_exec(tx, &s.ep_t, &[a, &r.ep_t.0, &r.ep_t.1, &r.ep_t.2]).await?, r.ep_t.0.len()) {
                return Ok(false);
            }
        }
        if !r.tp.0.is_empty() {
            tx_exec(tx, &s.tp, &[a, &r.tp.0, &r.tp.1, &r.tp.2, &r.tp.3, &r.tp.4]).await?;
            let x = &r.tp_t;
            if !all(tx_exec(tx, &s.tp_t, &[a, &x.0, &x.1, &x.2, &x.3]).await?, x.0.len()) {
                return Ok(false);
            }
        }
        if !r.pl.0.is_empty() {
            tx_exec(tx, &s.pl, &[a, &r.pl.0, &r.pl.1, &r.pl.2, &r.pl.3]).await?;
            let x = &r.pl_t;
            if !all(tx_exec(tx, &s.pl_t, &[a, &x.0, &x.1, &x.2, &x.3]).await?, x.0.len()) {
                return Ok(false);
            }
        }
        if !r.map.0.is_empty() && !all(tx_exec(tx, &s.map, &[a, &r.map.0, &r.map.1]).await?, r.map.0.len()) {
            return Ok(false);
        }
        if !r.verify.0.is_empty() {
            tx_exec(tx, &s.verify, &[a, &r.verify.0, &r.verify.1]).await?;
        }
        if !r.totp_user.is_empty() {
            tx_exec(tx, &s.totp_user, &[a, &r.totp_user]).await?;
            let x = &r.totp_device;
            tx_exec(tx, &s.totp_device, &[a, &x.0, &x.1, &x.2, &x.3, &x.4, &x.5, &x.6]).await?;
        }
        if !r.metadata.0.is_empty() {
            tx_exec(tx, &s.metadata, &[a, &r.metadata.0, &r.metadata.1]).await?;
        }
        if !r.user_role.0.is_empty() {
            tx_exec(tx, &s.user_role, &[a, &r.user_role.0, &r.user_role.1, &r.user_role.2]).await?;
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::stats_stale;

    #[test]
    fn statistics_refreshed_only_while_the_tables_are_small_beside_the_import() {
        assert!(stats_stale(-1, 4000));
        assert!(stats_stale(15_999, 4000));
        assert!(!stats_stale(16_000, 4000));
        assert!(!stats_stale(-1, 499));
    }
}
