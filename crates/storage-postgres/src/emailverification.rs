//! [`EmailVerificationStorage`]: `emailverification_tokens` (per tenant, user and e-mail) and
//! `emailverification_verified_emails` (per app, user and e-mail).
//!
//! Consuming a token locks every token of its (user, e-mail) pair in token order and deletes
//! them all, even when the given one has expired (as the reference); a live token also marks
//! the pair verified, in the same transaction.

use crate::query::{col, find_token, tx_exec, tx_query};
use crate::{error, PgStorage, TableNames};
use async_trait::async_trait;
use st_core::ids::{AppId, TenantIdentifier};
use st_core::storage::{EmailVerificationStorage, SResult};
use tracing::field::Empty;
use tracing::instrument;

/// Statement texts of the emailverification recipe.
#[derive(Debug)]
pub(crate) struct EmailVerificationSql {
    evt_insert: String,
    evt_lock: String,
    evt_delete: String,
    evt_delete_expired: String,
    ev_verified_insert: String,
    ev_verified_select: String,
    ev_verified_delete: String,
}

impl EmailVerificationSql {
    pub(crate) fn new(t: &TableNames) -> EmailVerificationSql {
        let evt = t.qualified("emailverification_tokens");
        let eve = t.qualified("emailverification_verified_emails");
        EmailVerificationSql {
            evt_insert: format!(
                "INSERT INTO {evt} (app_id, tenant_id, user_id, email, token, token_expiry) \
                 VALUES ($1, $2, $3, $4, $5, $6)"
            ),
            // As `EmailPasswordSql::rt_lock`: every token of the (user, email) pair, locked in token order.
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
        }
    }
}

impl PgStorage {
    fn ev_sql(&self) -> &EmailVerificationSql {
        &self.sql().emailverification
    }
}

#[async_trait]
impl EmailVerificationStorage for PgStorage {
    #[instrument(
        level = "debug", target = "st_storage", name = "storage.add_email_verification_token", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %tenant.app, tenant_id = %tenant.tenant,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn add_email_verification_token(
        &self,
        tenant: &TenantIdentifier,
        user_id: &str,
        email: &str,
        token_hash: &str,
        expiry: i64,
    ) -> SResult<()> {
        self.execute(
            &self.ev_sql().evt_insert,
            &[&tenant.app.as_str(), &tenant.tenant.as_str(), &user_id, &email, &token_hash, &expiry],
        )
        .await?;
        Ok(())
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.consume_email_verification_token", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %tenant.app, tenant_id = %tenant.tenant,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn consume_email_verification_token(
        &self,
        tenant: &TenantIdentifier,
        token_hash: &str,
        now_ms: i64,
    ) -> SResult<Option<(String, String)>> {
        let s = self.ev_sql();
        let (app, t) = (tenant.app.as_str(), tenant.tenant.as_str());
        self.retrying(|| async {
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
        })
        .await
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.delete_email_verification_tokens", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %tenant.app, tenant_id = %tenant.tenant,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn delete_email_verification_tokens(
        &self,
        tenant: &TenantIdentifier,
        user_id: &str,
        email: &str,
    ) -> SResult<()> {
        self.execute(&self.ev_sql().evt_delete, &[&tenant.app.as_str(), &tenant.tenant.as_str(), &user_id, &email])
            .await?;
        Ok(())
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.is_email_verified", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn is_email_verified(&self, app: &AppId, user_id: &str, email: &str) -> SResult<bool> {
        Ok(self.query_opt(&self.ev_sql().ev_verified_select, &[&app.as_str(), &user_id, &email]).await?.is_some())
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.set_email_verified", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn set_email_verified(&self, app: &AppId, user_id: &str, email: &str) -> SResult<()> {
        self.execute(&self.ev_sql().ev_verified_insert, &[&app.as_str(), &user_id, &email]).await?;
        Ok(())
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.unverify_email", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn unverify_email(&self, app: &AppId, user_id: &str, email: &str) -> SResult<()> {
        self.execute(&self.ev_sql().ev_verified_delete, &[&app.as_str(), &user_id, &email]).await?;
        Ok(())
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.delete_expired_email_verification_tokens", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", otel.status_code = Empty, error.type = Empty)
    )]
    async fn delete_expired_email_verification_tokens(&self, now_ms: i64) -> SResult<u64> {
        self.execute(&self.ev_sql().evt_delete_expired, &[&now_ms]).await
    }
}
