//! [`ThirdPartyStorage`]: `thirdparty_users` (one row per third-party login method, with its
//! provider pair and e-mail) and `thirdparty_user_to_tenant` (its tenants, unique per (app,
//! tenant, provider pair)), and the user's rows in `app_id_to_user_id` and
//! `all_auth_recipe_users`, written as the reference's plugin writes them in its default
//! (LEGACY) mode.
//!
//! * Sign-up writes the four rows in one transaction. The `(app, tenant, provider pair)` unique
//!   key of `thirdparty_user_to_tenant` decides races: the loser's insert waits for the winner,
//!   does nothing once it has committed, and the loser then reads the winner's user in the same
//!   (READ COMMITTED) transaction and rolls its own rows back.
//! * The e-mail update is the reference's: every row of the app with the provider pair.
//! * Ids in `CHAR(36)` columns are read back through `::TEXT` (no blank padding).

use crate::query::{col, tx_exec, tx_query};
use crate::{error, PgStorage, TableNames};
use async_trait::async_trait;
use st_core::accountlinking::AccountInfo;
use st_core::ids::{AppId, TenantIdentifier};
use st_core::storage::{
    traced_error, SResult, ThirdPartyEmailUpdate, ThirdPartyLogin, ThirdPartySignUp, ThirdPartyStorage,
};
use st_core::StorageError;
use tokio_postgres::Row;
use tracing::field::Empty;
use tracing::instrument;

const RECIPE_ID: &str = "thirdparty";

/// Rounds of a sign-up whose competitor's user is deleted before it could be read.
const SIGN_UP_ATTEMPTS: usize = 8;

/// Statement texts of the third-party recipe.
#[derive(Debug)]
pub(crate) struct ThirdPartySql {
    by_pair: String,
    a2u_insert: String,
    aaru_insert: String,
    tp_insert: String,
    tp_tenant_insert: String,
    set_email: String,
}

impl ThirdPartySql {
    pub(crate) fn new(t: &TableNames) -> ThirdPartySql {
        let a2u = t.qualified("app_id_to_user_id");
        let aaru = t.qualified("all_auth_recipe_users");
        let tp = t.qualified("thirdparty_users");
        let tp_t = t.qualified("thirdparty_user_to_tenant");
        ThirdPartySql {
            by_pair: format!(
                "SELECT t.user_id::TEXT, a.primary_or_recipe_user_id::TEXT, u.email::TEXT FROM {tp_t} t \
                 JOIN {tp} u ON u.app_id = t.app_id AND u.user_id = t.user_id \
                 JOIN {a2u} a ON a.app_id = t.app_id AND a.user_id = t.user_id \
                 WHERE t.app_id = $1 AND t.tenant_id = $2 AND t.third_party_id = $3 AND t.third_party_user_id = $4"
            ),
            // As the e-mail-password sign-up (see there): the two time columns of
            // `app_id_to_user_id` keep their default 0, as a Java 12 core writes them in LEGACY
            // mode, so that its backfill still processes our users.
            a2u_insert: format!(
                "INSERT INTO {a2u} (app_id, user_id, recipe_id, primary_or_recipe_user_id, \
                 is_linked_or_is_a_primary_user) VALUES ($1, $2, $3, $2, FALSE)"
            ),
            aaru_insert: format!(
                "INSERT INTO {aaru} (app_id, tenant_id, user_id, primary_or_recipe_user_id, \
                 is_linked_or_is_a_primary_user, recipe_id, time_joined, primary_or_recipe_user_time_joined) \
                 VALUES ($1, $2, $3, $3, FALSE, $4, $5, $5)"
            ),
            tp_insert: format!(
                "INSERT INTO {tp} (app_id, third_party_id, third_party_user_id, user_id, email, time_joined) \
                 VALUES ($1, $2, $3, $4, $5, $6)"
            ),
            tp_tenant_insert: format!(
                "INSERT INTO {tp_t} (app_id, tenant_id, user_id, third_party_id, third_party_user_id) \
                 VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (app_id, tenant_id, third_party_id, third_party_user_id) DO NOTHING"
            ),
            set_email: format!(
                "UPDATE {tp} SET email = $4 WHERE app_id = $1 AND third_party_id = $2 AND third_party_user_id = $3"
            ),
        }
    }
}

impl PgStorage {
    fn tp_sql(&self) -> &ThirdPartySql {
        &self.sql().thirdparty
    }
}

fn login_of(row: &Row) -> SResult<ThirdPartyLogin> {
    Ok(ThirdPartyLogin { user_id: col(row, 0)?, primary_user_id: col(row, 1)?, email: col(row, 2)? })
}

#[async_trait]
impl ThirdPartyStorage for PgStorage {
    #[instrument(
        level = "debug", target = "st_storage", name = "storage.third_party_sign_up", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %tenant.app, tenant_id = %tenant.tenant,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn third_party_sign_up(
        &self,
        tenant: &TenantIdentifier,
        user_id: &str,
        third_party_id: &str,
        third_party_user_id: &str,
        email: &str,
        now_ms: i64,
    ) -> SResult<ThirdPartySignUp> {
        let s = self.tp_sql();
        let (app, t) = (tenant.app.as_str(), tenant.tenant.as_str());
        let pair: [&(dyn tokio_postgres::types::ToSql + Sync); 4] = [&app, &t, &third_party_id, &third_party_user_id];
        self.retrying(|| async {
            let mut conn = self.conn().await?;
            for _ in 0..SIGN_UP_ATTEMPTS {
                let tx = conn.transaction().await.map_err(error::pg)?;
                if let Some(row) = tx_query(&tx, &s.by_pair, &pair).await?.first() {
                    return Ok(ThirdPartySignUp::Exists(login_of(row)?));
                }
                tx_exec(&tx, &s.a2u_insert, &[&app, &user_id, &RECIPE_ID]).await?;
                tx_exec(&tx, &s.aaru_insert, &[&app, &t, &user_id, &RECIPE_ID, &now_ms]).await?;
                tx_exec(&tx, &s.tp_insert, &[&app, &third_party_id, &third_party_user_id, &user_id, &email, &now_ms])
                    .await?;
                let inserted =
                    tx_exec(&tx, &s.tp_tenant_insert, &[&app, &t, &user_id, &third_party_id, &third_party_user_id])
                        .await?;
                if inserted == 1 {
                    tx.commit().await.map_err(error::pg)?;
                    return Ok(ThirdPartySignUp::Created);
                }
                // A concurrent sign-up with the pair committed first: its user, as this statement
                // sees it; this transaction's rows are rolled back when it is dropped.
                if let Some(row) = tx_query(&tx, &s.by_pair, &pair).await?.first() {
                    return Ok(ThirdPartySignUp::Exists(login_of(row)?));
                }
            }
            Err(traced_error(StorageError::Query("the third-party user kept changing hands during the sign-up".into())))
        })
        .await
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.third_party_user", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %tenant.app, tenant_id = %tenant.tenant,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn third_party_user(
        &self,
        tenant: &TenantIdentifier,
        third_party_id: &str,
        third_party_user_id: &str,
    ) -> SResult<Option<ThirdPartyLogin>> {
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 4] =
            [&tenant.app.as_str(), &tenant.tenant.as_str(), &third_party_id, &third_party_user_id];
        self.query_opt(&self.tp_sql().by_pair, &params).await?.as_ref().map(login_of).transpose()
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.update_third_party_email", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn update_third_party_email(
        &self,
        app: &AppId,
        user_id: &str,
        third_party_id: &str,
        third_party_user_id: &str,
        email: &str,
    ) -> SResult<ThirdPartyEmailUpdate> {
        let a = app.as_str();
        self.retrying(|| async {
            let mut conn = self.conn().await?;
            let tx = conn.transaction().await.map_err(error::pg)?;
            let new = [AccountInfo::Email(email.to_string())];
            if !self.change_refused(&tx, a, user_id, &new).await?.is_empty() {
                return Ok(ThirdPartyEmailUpdate::EmailChangeNotAllowed);
            }
            let n =
                tx_exec(&tx, &self.tp_sql().set_email, &[&a, &third_party_id, &third_party_user_id, &email]).await?;
            tx.commit().await.map_err(error::pg)?;
            Ok(ThirdPartyEmailUpdate::Updated(n))
        })
        .await
    }
}
