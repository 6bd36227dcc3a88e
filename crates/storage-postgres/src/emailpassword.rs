//! [`EmailPasswordStorage`]: `emailpassword_users` (one row per e-mail-password login method)
//! and `emailpassword_user_to_tenant` (its tenants, unique per (app, tenant, email)), the
//! user's rows in `app_id_to_user_id` and `all_auth_recipe_users`, and the password-reset
//! tokens in `emailpassword_pswd_reset_tokens`.
//!
//! * Sign-up writes the four rows of an email-password user in one transaction; the
//!   `(app, tenant, email)` unique key of `emailpassword_user_to_tenant` decides races.
//! * Consuming a reset token locks every token of its user in token order and deletes them
//!   all, even when the given one has expired (as the reference).
//! * Ids in `CHAR(36)` columns are read back through `::TEXT` (no blank padding).

use crate::query::{col, find_token, is_state, tx_exec, tx_query};
use crate::{error, PgStorage, TableNames};
use async_trait::async_trait;
use st_core::accountlinking::AccountInfo;
use st_core::ids::{AppId, TenantIdentifier};
use st_core::storage::{EmailPasswordStorage, SResult, SignUpResult, UpdateResult};
use tokio_postgres::error::SqlState;
use tracing::field::Empty;
use tracing::instrument;

/// Statement texts of the emailpassword recipe.
#[derive(Debug)]
pub(crate) struct EmailPasswordSql {
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
    rt_insert: String,
    rt_lock: String,
    rt_delete_user: String,
    rt_delete_expired: String,
}

impl EmailPasswordSql {
    pub(crate) fn new(t: &TableNames) -> EmailPasswordSql {
        let a2u = t.qualified("app_id_to_user_id");
        let aaru = t.qualified("all_auth_recipe_users");
        let ep = t.qualified("emailpassword_users");
        let ep_t = t.qualified("emailpassword_user_to_tenant");
        let rt = t.qualified("emailpassword_pswd_reset_tokens");
        EmailPasswordSql {
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
            // The user's tenants from its `all_auth_recipe_users` rows (every user-to-tenant row
            // has one: the foreign key), so the primary key (app, tenant, user) pins the rows
            // instead of a scan of the app's.
            ep_tenant_set_email: format!(
                "UPDATE {ep_t} SET email = $3 WHERE app_id = $1 AND user_id = $2 \
                 AND tenant_id IN (SELECT tenant_id FROM {aaru} WHERE app_id = $1 AND user_id = $2)"
            ),
            ep_set_email: format!("UPDATE {ep} SET email = $3 WHERE app_id = $1 AND user_id = $2"),
            ep_set_hash: format!("UPDATE {ep} SET password_hash = $3 WHERE app_id = $1 AND user_id = $2"),
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
        }
    }
}

impl PgStorage {
    fn ep_sql(&self) -> &EmailPasswordSql {
        &self.sql().emailpassword
    }
}

#[async_trait]
impl EmailPasswordStorage for PgStorage {
    #[instrument(
        level = "debug", target = "st_storage", name = "storage.sign_up_with_password", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %tenant.app, tenant_id = %tenant.tenant,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn sign_up_with_password(
        &self,
        tenant: &TenantIdentifier,
        user_id: &str,
        email: &str,
        password_hash: &str,
        now_ms: i64,
    ) -> SResult<SignUpResult> {
        let s = self.ep_sql();
        let (app, t) = (tenant.app.as_str(), tenant.tenant.as_str());
        self.retrying(|| async {
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
                Err(e) if is_state(&e, &SqlState::UNIQUE_VIOLATION) => return Ok(SignUpResult::EmailAlreadyExists),
                Err(e) => return Err(error::pg(e)),
            }
            tx.commit().await.map_err(error::pg)?;
            Ok(SignUpResult::Created)
        })
        .await
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.password_user_by_email", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %tenant.app, tenant_id = %tenant.tenant,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn password_user_by_email(
        &self,
        tenant: &TenantIdentifier,
        email: &str,
    ) -> SResult<Option<(String, String)>> {
        let row =
            self.query_opt(&self.ep_sql().ep_login, &[&tenant.app.as_str(), &tenant.tenant.as_str(), &email]).await?;
        row.map(|r| Ok((col(&r, 0)?, col(&r, 1)?))).transpose()
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.update_email_or_password", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn update_email_or_password(
        &self,
        app: &AppId,
        user_id: &str,
        email: Option<&str>,
        password_hash: Option<&str>,
    ) -> SResult<UpdateResult> {
        let s = self.ep_sql();
        let app = app.as_str();
        self.retrying(|| async {
            let mut conn = self.conn().await?;
            let tx = conn.transaction().await.map_err(error::pg)?;
            // The account-linking rule first (its locks before the user's row, as the linking
            // intents take them).
            if let Some(email) = email {
                let new = [AccountInfo::Email(email.to_string())];
                if !self.change_refused(&tx, app, user_id, &new).await?.is_empty() {
                    return Ok(UpdateResult::EmailChangeNotAllowed);
                }
            }
            if tx_query(&tx, &s.ep_lock, &[&app, &user_id]).await?.is_empty() {
                return Ok(UpdateResult::UnknownUser);
            }
            if let Some(email) = email {
                let stmt = tx.prepare_cached(&s.ep_tenant_set_email).await.map_err(error::pg)?;
                match tx.execute(&stmt, &[&app, &user_id, &email]).await {
                    Ok(_) => {}
                    Err(e) if is_state(&e, &SqlState::UNIQUE_VIOLATION) => return Ok(UpdateResult::EmailAlreadyExists),
                    Err(e) => return Err(error::pg(e)),
                }
                tx_exec(&tx, &s.ep_set_email, &[&app, &user_id, &email]).await?;
            }
            if let Some(hash) = password_hash {
                tx_exec(&tx, &s.ep_set_hash, &[&app, &user_id, &hash]).await?;
            }
            tx.commit().await.map_err(error::pg)?;
            Ok(UpdateResult::Ok)
        })
        .await
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.add_password_reset_token", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn add_password_reset_token(
        &self,
        app: &AppId,
        user_id: &str,
        token_hash: &str,
        email: &str,
        expiry: i64,
    ) -> SResult<()> {
        self.execute(&self.ep_sql().rt_insert, &[&app.as_str(), &user_id, &token_hash, &email, &expiry]).await?;
        Ok(())
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.consume_password_reset_token", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn consume_password_reset_token(
        &self,
        app: &AppId,
        token_hash: &str,
        now_ms: i64,
    ) -> SResult<Option<(String, String)>> {
        let s = self.ep_sql();
        let app = app.as_str();
        self.retrying(|| async {
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
        })
        .await
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.delete_expired_password_reset_tokens", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", otel.status_code = Empty, error.type = Empty)
    )]
    async fn delete_expired_password_reset_tokens(&self, now_ms: i64) -> SResult<u64> {
        self.execute(&self.ep_sql().rt_delete_expired, &[&now_ms]).await
    }
}
