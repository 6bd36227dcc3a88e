//! Users added to and taken out of a tenant ([`TenantStorage::add_user_to_tenant`],
//! [`TenantStorage::remove_user_from_tenant`]), on the reference's LEGACY tables, each in one
//! transaction:
//!
//! * Adding locks the login method's `app_id_to_user_id` row (and its primary user's) as the
//!   reference's `lockUser`, checks the primary-user rule when it is linked, then runs its own
//!   recipe's statements ([`RecipeTenancy`], one per recipe): the `all_auth_recipe_users` row
//!   and the recipe's `<recipe>_user_to_tenant` row, both `ON CONFLICT (key) DO NOTHING`, so
//!   that an existing association is no change and a taken e-mail, phone number or provider
//!   pair is the unique key's violation (which also decides concurrent associations).
//! * Removing deletes the `all_auth_recipe_users` row (its recipe's row goes with it by the
//!   foreign key) and the tenant's sessions, verification tokens, roles and TOTP codes of the
//!   user's ids.

use crate::query::{col, tx_exec, tx_query};
use crate::{error, TableNames};
use st_core::ids::TenantIdentifier;
use st_core::storage::{AccountInfoKind, AddUserToTenant, SResult};
use tokio_postgres::error::SqlState;

/// The statements one recipe needs to add its login method to a tenant.
#[derive(Debug)]
struct RecipeTenancy {
    recipe_id: &'static str,
    /// `SELECT 1` of its row in the recipe's users table.
    exists: String,
    /// Its `all_auth_recipe_users` row, from the recipe's users table.
    aaru_insert: String,
    /// Its `<recipe>_user_to_tenant` row, from the recipe's users table; one row inserted when
    /// it was not there yet.
    tenant_insert: String,
}

/// Statement texts of the tenant-association intents.
#[derive(Debug)]
pub(crate) struct TenantUserSql {
    lock_user: String,
    lock_primary: String,
    group_infos: String,
    email_holder: String,
    phone_holder: String,
    third_party_holder: String,
    recipes: Vec<RecipeTenancy>,
    group_time_joined: [String; 2],
    remove_login_method: String,
    remove_data: [String; 4],
}

impl TenantUserSql {
    pub(crate) fn new(t: &TableNames) -> TenantUserSql {
        let a2u = t.qualified("app_id_to_user_id");
        let aaru = t.qualified("all_auth_recipe_users");
        let ep = t.qualified("emailpassword_users");
        let tp = t.qualified("thirdparty_users");
        let pl = t.qualified("passwordless_users");
        let wa = t.qualified("webauthn_users");
        let recipe = |recipe_id: &'static str, users: &str, to_tenant: &str, columns: &str| RecipeTenancy {
            recipe_id,
            exists: format!("SELECT 1 FROM {users} WHERE app_id = $1 AND user_id = $2"),
            aaru_insert: format!(
                "INSERT INTO {aaru} (app_id, tenant_id, user_id, primary_or_recipe_user_id, \
                 is_linked_or_is_a_primary_user, recipe_id, time_joined, primary_or_recipe_user_time_joined) \
                 SELECT u.app_id, $2, u.user_id, $4, $5, '{recipe_id}', u.time_joined, u.time_joined \
                 FROM {users} u WHERE u.app_id = $1 AND u.user_id = $3 ON CONFLICT DO NOTHING"
            ),
            tenant_insert: format!(
                "INSERT INTO {to_tenant} (app_id, tenant_id, user_id, {columns}) \
                 SELECT u.app_id, $2, u.user_id, {columns} FROM {users} u WHERE u.app_id = $1 AND u.user_id = $3 \
                 ON CONFLICT (app_id, tenant_id, user_id) DO NOTHING",
                to_tenant = t.qualified(to_tenant)
            ),
        };
        let group = format!("(SELECT g.user_id FROM {a2u} g WHERE g.app_id = $1 AND g.primary_or_recipe_user_id = $2)");
        // Another primary user (not the group $2) with a login method in tenant $3.
        let other_primary_in_tenant = format!(
            "SELECT o.primary_or_recipe_user_id::TEXT FROM {a2u} o \
             WHERE o.app_id = $1 AND o.is_linked_or_is_a_primary_user AND o.primary_or_recipe_user_id <> $2 \
               AND EXISTS (SELECT 1 FROM {aaru} t WHERE t.app_id = $1 AND t.tenant_id = $3 \
                             AND t.primary_or_recipe_user_id = o.primary_or_recipe_user_id)"
        );
        TenantUserSql {
            lock_user: format!(
                "SELECT recipe_id, primary_or_recipe_user_id::TEXT, is_linked_or_is_a_primary_user FROM {a2u} \
                 WHERE app_id = $1 AND user_id = $2 FOR UPDATE"
            ),
            lock_primary: format!("SELECT 1 FROM {a2u} WHERE app_id = $1 AND user_id = $2 FOR UPDATE"),
            // The account infos of every login method of the group, oldest method first, each
            // method's e-mail before its phone number before its provider pair (the
            // reference's loop).
            group_infos: format!(
                "SELECT kind, v1, v2 FROM ( \
                   SELECT time_joined, 1 AS o, 'email' AS kind, email::TEXT AS v1, ''::TEXT AS v2 FROM {ep} \
                     WHERE app_id = $1 AND user_id IN {group} \
                   UNION ALL SELECT time_joined, 1, 'email', email::TEXT, '' FROM {tp} WHERE app_id = $1 AND user_id IN {group} \
                   UNION ALL SELECT time_joined, 3, 'thirdparty', third_party_id::TEXT, third_party_user_id::TEXT FROM {tp} \
                     WHERE app_id = $1 AND user_id IN {group} \
                   UNION ALL SELECT time_joined, 1, 'email', email::TEXT, '' FROM {pl} \
                     WHERE app_id = $1 AND user_id IN {group} AND email IS NOT NULL \
                   UNION ALL SELECT time_joined, 2, 'phone', phone_number::TEXT, '' FROM {pl} \
                     WHERE app_id = $1 AND user_id IN {group} AND phone_number IS NOT NULL \
                   UNION ALL SELECT time_joined, 1, 'email', email::TEXT, '' FROM {wa} WHERE app_id = $1 AND user_id IN {group} \
                 ) x ORDER BY time_joined, o"
            ),
            email_holder: format!(
                "{other_primary_in_tenant} AND o.user_id IN ( \
                   SELECT user_id FROM {ep} WHERE app_id = $1 AND email = $4 \
                   UNION ALL SELECT user_id FROM {tp} WHERE app_id = $1 AND email = $4 \
                   UNION ALL SELECT user_id FROM {pl} WHERE app_id = $1 AND email = $4 \
                   UNION ALL SELECT user_id FROM {wa} WHERE app_id = $1 AND email = $4) LIMIT 1"
            ),
            phone_holder: format!(
                "{other_primary_in_tenant} AND o.user_id IN \
                   (SELECT user_id FROM {pl} WHERE app_id = $1 AND phone_number = $4) LIMIT 1"
            ),
            // As the reference: any other group of the app with the provider pair, in any tenant.
            third_party_holder: format!(
                "SELECT o.primary_or_recipe_user_id::TEXT FROM {a2u} o JOIN {tp} u \
                   ON u.app_id = o.app_id AND u.user_id = o.user_id \
                 WHERE o.app_id = $1 AND o.primary_or_recipe_user_id <> $2 \
                   AND u.third_party_id = $3 AND u.third_party_user_id = $4 LIMIT 1"
            ),
            recipes: vec![
                recipe("emailpassword", &ep, "emailpassword_user_to_tenant", "email"),
                recipe("thirdparty", &tp, "thirdparty_user_to_tenant", "third_party_id, third_party_user_id"),
                recipe("passwordless", &pl, "passwordless_user_to_tenant", "email, phone_number"),
                recipe("webauthn", &wa, "webauthn_user_to_tenant", "email"),
            ],
            group_time_joined: [&aaru, &a2u].map(|table| {
                format!(
                    "UPDATE {table} SET primary_or_recipe_user_time_joined = \
                       (SELECT MIN(time_joined) FROM {table} WHERE app_id = $1 AND primary_or_recipe_user_id = $2) \
                     WHERE app_id = $1 AND primary_or_recipe_user_id = $2"
                )
            }),
            remove_login_method: format!("DELETE FROM {aaru} WHERE app_id = $1 AND tenant_id = $2 AND user_id = $3"),
            remove_data: [
                t.session_info.clone(),
                t.qualified("emailverification_tokens"),
                t.qualified("user_roles"),
                t.qualified("totp_used_codes"),
            ]
            .map(|table| format!("DELETE FROM {table} WHERE app_id = $1 AND tenant_id = $2 AND user_id = ANY($3)")),
        }
    }
}

/// What a unique-key violation of a `<recipe>_user_to_tenant` insert means.
fn duplicate_of(e: &tokio_postgres::Error) -> Option<AddUserToTenant> {
    if e.code() != Some(&SqlState::UNIQUE_VIOLATION) {
        return None;
    }
    let constraint = e.as_db_error().and_then(|d| d.constraint()).unwrap_or_default();
    Some(if constraint.ends_with("phone_number_key") {
        AddUserToTenant::PhoneNumberAlreadyExists
    } else if constraint.ends_with("third_party_user_id_key") {
        AddUserToTenant::ThirdPartyUserAlreadyExists
    } else {
        AddUserToTenant::EmailAlreadyExists
    })
}

impl crate::PgStorage {
    fn tenant_user_sql(&self) -> &TenantUserSql {
        &self.sql().tenants.users
    }

    /// The first other primary user holding one of the account infos of the group `primary`
    /// where it matters (the reference's LEGACY `addTenantIdToPrimaryUser_Transaction`).
    async fn primary_user_conflict(
        &self,
        tx: &deadpool_postgres::Transaction<'_>,
        tenant: &TenantIdentifier,
        primary: &str,
    ) -> SResult<Option<AddUserToTenant>> {
        let sql = self.tenant_user_sql();
        let (app, t) = (tenant.app.as_str(), tenant.tenant.as_str());
        for info in tx_query(tx, &sql.group_infos, &[&app, &primary]).await? {
            let (kind, v1, v2): (String, String, String) = (col(&info, 0)?, col(&info, 1)?, col(&info, 2)?);
            let (holder, info) = match kind.as_str() {
                "email" => (tx_query(tx, &sql.email_holder, &[&app, &primary, &t, &v1]).await?, AccountInfoKind::Email),
                "phone" => {
                    (tx_query(tx, &sql.phone_holder, &[&app, &primary, &t, &v1]).await?, AccountInfoKind::PhoneNumber)
                }
                _ => (
                    tx_query(tx, &sql.third_party_holder, &[&app, &primary, &v1, &v2]).await?,
                    AccountInfoKind::ThirdParty,
                ),
            };
            if let Some(row) = holder.first() {
                return Ok(Some(AddUserToTenant::PrimaryUserConflict { info, primary_user_id: col(row, 0)? }));
            }
        }
        Ok(None)
    }

    pub(super) async fn add_user_to_tenant_tx(
        &self,
        tenant: &TenantIdentifier,
        user_id: &str,
    ) -> SResult<AddUserToTenant> {
        let sql = self.tenant_user_sql();
        let (app, t) = (tenant.app.as_str(), tenant.tenant.as_str());
        self.retrying(|| async {
            let mut conn = self.conn().await?;
            let tx = conn.transaction().await.map_err(error::pg)?;
            // A linked user's account infos are locked first, as the account-linking intents lock
            // them (see `accountlinking.rs`), so that neither decides on the other's unwritten state.
            let info_locks = self.lock_group_infos(&tx, app, user_id).await?;
            let Some(locked) = tx_query(&tx, &sql.lock_user, &[&app, &user_id]).await?.into_iter().next() else {
                return Ok(AddUserToTenant::UnknownUser);
            };
            let (recipe_id, primary, linked): (String, String, bool) =
                (col(&locked, 0)?, col(&locked, 1)?, col(&locked, 2)?);
            if linked {
                if primary != user_id {
                    tx_query(&tx, &sql.lock_primary, &[&app, &primary]).await?;
                }
                self.cover_group_infos(&tx, app, user_id, &info_locks).await?;
                if let Some(conflict) = self.primary_user_conflict(&tx, tenant, &primary).await? {
                    return Ok(conflict);
                }
            }
            let Some(r) = sql.recipes.iter().find(|r| r.recipe_id == recipe_id) else {
                // A recipe this server does not know of (the reference fails there too).
                return Err(error::query(format!("cannot add a user of recipe {recipe_id} to a tenant")));
            };
            if tx_query(&tx, &r.exists, &[&app, &user_id]).await?.is_empty() {
                return Ok(AddUserToTenant::UnknownUser);
            }
            tx_exec(&tx, &r.aaru_insert, &[&app, &t, &user_id, &primary, &linked]).await?;
            let stmt = tx.prepare_cached(&r.tenant_insert).await.map_err(error::pg)?;
            let added = match tx.execute(&stmt, &[&app, &t, &user_id]).await {
                Ok(n) => n > 0,
                Err(e) => return duplicate_of(&e).ok_or_else(|| error::pg(e)),
            };
            if linked {
                for update in &sql.group_time_joined {
                    tx_exec(&tx, update, &[&app, &primary]).await?;
                }
            }
            tx.commit().await.map_err(error::pg)?;
            Ok(if added { AddUserToTenant::Added } else { AddUserToTenant::AlreadyAssociated })
        })
        .await
    }

    pub(super) async fn remove_user_from_tenant_tx(
        &self,
        tenant: &TenantIdentifier,
        user_id: Option<&str>,
        data_ids: &[String],
    ) -> SResult<bool> {
        let sql = self.tenant_user_sql();
        let (app, t) = (tenant.app.as_str(), tenant.tenant.as_str());
        self.retrying(|| async {
            let mut conn = self.conn().await?;
            let tx = conn.transaction().await.map_err(error::pg)?;
            let mut removed = false;
            if let Some(user_id) = user_id {
                if !tx_query(&tx, &sql.lock_user, &[&app, &user_id]).await?.is_empty() {
                    removed |= tx_exec(&tx, &sql.remove_login_method, &[&app, &t, &user_id]).await? > 0;
                }
            }
            for delete in &sql.remove_data {
                removed |= tx_exec(&tx, delete, &[&app, &t, &data_ids]).await? > 0;
            }
            tx.commit().await.map_err(error::pg)?;
            Ok(removed)
        })
        .await
    }
}
