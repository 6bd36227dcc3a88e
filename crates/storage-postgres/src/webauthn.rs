//! [`WebauthnStorage`] on the reference's tables: `webauthn_generated_options`,
//! `webauthn_credentials`, `webauthn_account_recovery_tokens`, and the users' rows in
//! `webauthn_users`, `webauthn_user_to_tenant`, `app_id_to_user_id` and `all_auth_recipe_users`,
//! written as the reference's plugin writes them in its default (LEGACY) mode, so that a Java
//! core reads our rows and we read its.
//!
//! * A credential's `public_key` is the attested credential data of its registration (AAGUID,
//!   id length, id, COSE key), its `transports` a JSON array (or `null`), as webauthn4j's
//!   converters write them.
//! * Sign-up writes the five rows in one transaction; the unique keys decide races (an e-mail
//!   of the tenant: `webauthn_user_to_tenant`; a credential of the app: its primary key), the
//!   loser's insert waiting for the winner and then doing nothing.
//! * An accepted assertion removes its options (when it uses them up) and moves the
//!   credential's counter from the value it was judged against, in one transaction: a second
//!   use of the options waits for the first and then finds them gone.
//! * Consuming a recovery token locks every token of its e-mail in the tenant (token order)
//!   before deleting them, so two consumes of one e-mail's tokens queue instead of deadlocking.
//! * Ids in `CHAR(36)` columns are read back through `::TEXT` (no blank padding).

use crate::query::{col, find_token, is_state, tx_exec, tx_query};
use crate::{error, PgStorage, TableNames};
use async_trait::async_trait;
use st_core::ids::{AppId, TenantIdentifier};
use st_core::storage::{
    traced_error, AcceptAssertion, AddWebauthnCredential, SResult, WebauthnCredential, WebauthnEmailUpdate,
    WebauthnOptions, WebauthnRecoveryToken, WebauthnSignUp, WebauthnStorage,
};
use st_core::StorageError;
use std::collections::HashMap;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;
use tracing::field::Empty;
use tracing::instrument;

const RECIPE_ID: &str = "webauthn";

/// Statement texts of the WebAuthn recipe.
#[derive(Debug)]
pub(crate) struct WebauthnSql {
    options_insert: String,
    options_by_id: String,
    options_in_app: String,
    options_delete: String,
    a2u_insert: String,
    aaru_insert: String,
    user_insert: String,
    user_tenant_insert: String,
    credential_insert: String,
    credential_add: String,
    credential_by_id: String,
    credential_of_user: String,
    credentials_of_user: String,
    credential_ids: String,
    credential_delete: String,
    counter_update: String,
    user_lock: String,
    user_tenant_email: String,
    user_email: String,
    token_insert: String,
    token_by_hash: String,
    tokens_of_email_lock: String,
    tokens_of_email_delete: String,
    expired_delete: String,
}

/// The columns of an options row, in [`options_of`]'s order.
const OPTIONS_COLUMNS: &str = "id::TEXT, tenant_id, challenge, email, rp_id, rp_name, origin, expires_at, created_at, \
     user_presence_required, user_verification";

/// The columns of a credential row, in [`credential_of`]'s order.
const CREDENTIAL_COLUMNS: &str = "id, rp_id, user_id::TEXT, counter, public_key, transports, created_at, updated_at";

impl WebauthnSql {
    pub(crate) fn new(t: &TableNames) -> WebauthnSql {
        let a2u = t.qualified("app_id_to_user_id");
        let aaru = t.qualified("all_auth_recipe_users");
        let wu = t.qualified("webauthn_users");
        let wt = t.qualified("webauthn_user_to_tenant");
        let wo = t.qualified("webauthn_generated_options");
        let wc = t.qualified("webauthn_credentials");
        let rt = t.qualified("webauthn_account_recovery_tokens");
        let tenants = t.qualified("tenants");
        WebauthnSql {
            options_insert: format!(
                "INSERT INTO {wo} (app_id, tenant_id, id, challenge, email, rp_id, origin, expires_at, created_at, \
                 rp_name, user_verification, user_presence_required) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
                 ON CONFLICT (app_id, tenant_id, id) DO NOTHING"
            ),
            options_by_id: format!(
                "SELECT {OPTIONS_COLUMNS} FROM {wo} WHERE app_id = $1 AND tenant_id = $2 AND id = $3"
            ),
            // The request's tenant first (a primary-key look-up); the app's other tenants only when
            // it has no such options (the second branch runs only then: LIMIT 1 over the append).
            options_in_app: format!(
                "(SELECT {OPTIONS_COLUMNS} FROM {wo} WHERE app_id = $1 AND tenant_id = $3 AND id = $2) \
                 UNION ALL (SELECT {OPTIONS_COLUMNS} FROM {wo} WHERE app_id = $1 AND id = $2 AND tenant_id <> $3 \
                 ORDER BY tenant_id LIMIT 1) LIMIT 1"
            ),
            options_delete: format!("DELETE FROM {wo} WHERE app_id = $1 AND tenant_id = $2 AND id = $3"),
            // As the other recipes' sign-ups: the two time columns of `app_id_to_user_id` keep
            // their default 0, as a Java 12 core writes them in LEGACY mode, so that its
            // backfill still processes our users.
            a2u_insert: format!(
                "INSERT INTO {a2u} (app_id, user_id, recipe_id, primary_or_recipe_user_id, \
                 is_linked_or_is_a_primary_user) VALUES ($1, $2, $3, $2, FALSE)"
            ),
            aaru_insert: format!(
                "INSERT INTO {aaru} (app_id, tenant_id, user_id, primary_or_recipe_user_id, \
                 is_linked_or_is_a_primary_user, recipe_id, time_joined, primary_or_recipe_user_time_joined) \
                 VALUES ($1, $2, $3, $3, FALSE, $4, $5, $5)"
            ),
            user_insert: format!(
                "INSERT INTO {wu} (app_id, user_id, email, rp_id, time_joined) VALUES ($1, $2, $3, $4, $5)"
            ),
            user_tenant_insert: format!(
                "INSERT INTO {wt} (app_id, tenant_id, user_id, email) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (app_id, tenant_id, email) DO NOTHING"
            ),
            credential_insert: format!(
                "INSERT INTO {wc} (id, app_id, rp_id, user_id, counter, public_key, transports, created_at, \
                 updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                 ON CONFLICT (app_id, rp_id, id) DO NOTHING"
            ),
            // Column 0: whether the user is a WebAuthn user; column 1: whether the row went in.
            credential_add: format!(
                "WITH u AS (SELECT user_id FROM {wu} WHERE app_id = $2 AND user_id = $4 FOR KEY SHARE), \
                 ins AS (INSERT INTO {wc} (id, app_id, rp_id, user_id, counter, public_key, transports, \
                   created_at, updated_at) SELECT $1, $2, $3, u.user_id, $5, $6, $7, $8, $9 FROM u \
                   ON CONFLICT (app_id, rp_id, id) DO NOTHING RETURNING 1) \
                 SELECT EXISTS (SELECT 1 FROM u), EXISTS (SELECT 1 FROM ins)"
            ),
            // The relying party's credential first, a primary-key look-up (app, rp, id); any other
            // relying party's only when there is none (the second branch, which scans the app's
            // credentials as the reference's look-up by (app, id) always does, runs only then).
            credential_by_id: format!(
                "(SELECT {CREDENTIAL_COLUMNS} FROM {wc} WHERE app_id = $1 AND rp_id = $3 AND id = $2) \
                 UNION ALL (SELECT {CREDENTIAL_COLUMNS} FROM {wc} WHERE app_id = $1 AND id = $2 AND rp_id <> $3 \
                 ORDER BY rp_id LIMIT 1) LIMIT 1"
            ),
            credential_of_user: format!(
                "SELECT {CREDENTIAL_COLUMNS} FROM {wc} WHERE app_id = $1 AND id = $2 AND user_id = $3 \
                 ORDER BY rp_id LIMIT 1"
            ),
            credentials_of_user: format!(
                "SELECT {CREDENTIAL_COLUMNS} FROM {wc} WHERE app_id = $1 AND user_id = $2 \
                 ORDER BY created_at, id, rp_id"
            ),
            credential_ids: format!(
                "SELECT user_id::TEXT, id FROM {wc} WHERE app_id = $1 AND user_id = ANY($2::TEXT[]::BPCHAR[]) \
                 ORDER BY id"
            ),
            credential_delete: format!("DELETE FROM {wc} WHERE app_id = $1 AND id = $2 AND user_id = $3"),
            counter_update: format!(
                "UPDATE {wc} SET counter = $4, updated_at = $5 \
                 WHERE app_id = $1 AND rp_id = $2 AND id = $3 AND counter = $6"
            ),
            user_lock: format!("SELECT 1 FROM {wu} WHERE app_id = $1 AND user_id = $2 FOR UPDATE"),
            // The user's tenants from its `all_auth_recipe_users` rows (every user-to-tenant row
            // has one: the foreign key), so the primary key (app, tenant, user) pins the rows
            // instead of a scan of the app's.
            user_tenant_email: format!(
                "UPDATE {wt} SET email = $3 WHERE app_id = $1 AND user_id = $2 \
                 AND tenant_id IN (SELECT tenant_id FROM {aaru} WHERE app_id = $1 AND user_id = $2)"
            ),
            user_email: format!("UPDATE {wu} SET email = $3 WHERE app_id = $1 AND user_id = $2"),
            // The table has no foreign key to its tenant (as the plugin's): column 0 says whether
            // the tenant exists, column 1 whether the row went in (its user exists).
            token_insert: format!(
                "WITH t AS (SELECT 1 FROM {tenants} WHERE app_id = $1::TEXT AND tenant_id = $2::TEXT), \
                 ins AS (INSERT INTO {rt} (app_id, tenant_id, user_id, email, token, expires_at) \
                   SELECT $1::TEXT, $2::TEXT, $3::TEXT::BPCHAR, $4::TEXT, $5::TEXT, $6::BIGINT \
                   WHERE EXISTS (SELECT 1 FROM t) \
                     AND EXISTS (SELECT 1 FROM {a2u} WHERE app_id = $1::TEXT AND user_id = $3::TEXT::BPCHAR) \
                   ON CONFLICT DO NOTHING RETURNING 1) \
                 SELECT EXISTS (SELECT 1 FROM t), EXISTS (SELECT 1 FROM ins)"
            ),
            token_by_hash: format!(
                "SELECT token, user_id::TEXT, email, expires_at FROM {rt} \
                 WHERE app_id = $1 AND tenant_id = $2 AND token = $3 LIMIT 1"
            ),
            // Column 0 is the token (see `find_token`).
            tokens_of_email_lock: format!(
                "SELECT token, user_id::TEXT, email, expires_at FROM {rt} \
                 WHERE app_id = $1 AND tenant_id = $2 AND email IN \
                   (SELECT email FROM {rt} WHERE app_id = $1 AND tenant_id = $2 AND token = $3) \
                 ORDER BY token, user_id FOR UPDATE"
            ),
            tokens_of_email_delete: format!("DELETE FROM {rt} WHERE app_id = $1 AND tenant_id = $2 AND email = $3"),
            expired_delete: format!(
                "WITH a AS (DELETE FROM {rt} WHERE expires_at < $1 RETURNING 1), \
                 b AS (DELETE FROM {wo} WHERE expires_at < $1 RETURNING 1) \
                 SELECT ((SELECT COUNT(*) FROM a) + (SELECT COUNT(*) FROM b))::BIGINT"
            ),
        }
    }
}

impl PgStorage {
    fn wa_sql(&self) -> &WebauthnSql {
        &self.sql().webauthn
    }
}

fn options_of(row: &Row) -> SResult<WebauthnOptions> {
    Ok(WebauthnOptions {
        id: col(row, 0)?,
        tenant_id: col(row, 1)?,
        challenge: col(row, 2)?,
        email: col(row, 3)?,
        rp_id: col(row, 4)?,
        rp_name: col(row, 5)?,
        origin: col(row, 6)?,
        expires_at: col(row, 7)?,
        created_at: col(row, 8)?,
        user_presence_required: col(row, 9)?,
        user_verification: col(row, 10)?,
    })
}

fn credential_of(row: &Row) -> SResult<WebauthnCredential> {
    Ok(WebauthnCredential {
        id: col(row, 0)?,
        rp_id: col(row, 1)?,
        user_id: col(row, 2)?,
        counter: col(row, 3)?,
        public_key: col(row, 4)?,
        transports: col(row, 5)?,
        created_at: col(row, 6)?,
        updated_at: col(row, 7)?,
    })
}

fn token_of(row: &Row) -> SResult<WebauthnRecoveryToken> {
    Ok(WebauthnRecoveryToken {
        token_hash: col(row, 0)?,
        user_id: col(row, 1)?,
        email: col(row, 2)?,
        expires_at: col(row, 3)?,
    })
}

/// The parameters of [`WebauthnSql::credential_insert`] / `credential_add` for `c` of `app`.
fn credential_params<'a>(app: &'a &'a str, c: &'a WebauthnCredential) -> [&'a (dyn ToSql + Sync); 9] {
    [&c.id, app, &c.rp_id, &c.user_id, &c.counter, &c.public_key, &c.transports, &c.created_at, &c.updated_at]
}

#[async_trait]
impl WebauthnStorage for PgStorage {
    #[instrument(
        level = "debug", target = "st_storage", name = "storage.save_webauthn_options", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %tenant.app, tenant_id = %tenant.tenant,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn save_webauthn_options(&self, tenant: &TenantIdentifier, o: &WebauthnOptions) -> SResult<bool> {
        let (app, t) = (tenant.app.as_str(), tenant.tenant.as_str());
        let n = self
            .execute(
                &self.wa_sql().options_insert,
                &[
                    &app,
                    &t,
                    &o.id,
                    &o.challenge,
                    &o.email,
                    &o.rp_id,
                    &o.origin,
                    &o.expires_at,
                    &o.created_at,
                    &o.rp_name,
                    &o.user_verification,
                    &o.user_presence_required,
                ],
            )
            .await?;
        Ok(n == 1)
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.webauthn_options", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %tenant.app, tenant_id = %tenant.tenant,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn webauthn_options(&self, tenant: &TenantIdentifier, id: &str) -> SResult<Option<WebauthnOptions>> {
        let params: [&(dyn ToSql + Sync); 3] = [&tenant.app.as_str(), &tenant.tenant.as_str(), &id];
        match self.query_opt(&self.wa_sql().options_by_id, &params).await? {
            Some(row) => Ok(Some(options_of(&row)?)),
            None => Ok(None),
        }
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.webauthn_options_in_app", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %tenant.app, tenant_id = %tenant.tenant,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn webauthn_options_in_app(&self, tenant: &TenantIdentifier, id: &str) -> SResult<Option<WebauthnOptions>> {
        let params: [&(dyn ToSql + Sync); 3] = [&tenant.app.as_str(), &id, &tenant.tenant.as_str()];
        match self.query_opt(&self.wa_sql().options_in_app, &params).await? {
            Some(row) => Ok(Some(options_of(&row)?)),
            None => Ok(None),
        }
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.remove_webauthn_options", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %tenant.app, tenant_id = %tenant.tenant,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn remove_webauthn_options(&self, tenant: &TenantIdentifier, id: &str) -> SResult<bool> {
        let params: [&(dyn ToSql + Sync); 3] = [&tenant.app.as_str(), &tenant.tenant.as_str(), &id];
        Ok(self.execute(&self.wa_sql().options_delete, &params).await? > 0)
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.webauthn_sign_up", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %tenant.app, tenant_id = %tenant.tenant,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn webauthn_sign_up(
        &self,
        tenant: &TenantIdentifier,
        user_id: &str,
        email: &str,
        credential: &WebauthnCredential,
        now_ms: i64,
    ) -> SResult<WebauthnSignUp> {
        let s = self.wa_sql();
        let (app, t) = (tenant.app.as_str(), tenant.tenant.as_str());
        self.retrying(|| async {
            let mut conn = self.conn().await?;
            let tx = conn.transaction().await.map_err(error::pg)?;
            tx_exec(&tx, &s.a2u_insert, &[&app, &user_id, &RECIPE_ID]).await?;
            tx_exec(&tx, &s.aaru_insert, &[&app, &t, &user_id, &RECIPE_ID, &now_ms]).await?;
            tx_exec(&tx, &s.user_insert, &[&app, &user_id, &email, &credential.rp_id, &now_ms]).await?;
            if tx_exec(&tx, &s.user_tenant_insert, &[&app, &t, &user_id, &email]).await? == 0 {
                // Rolled back when dropped.
                return Ok(WebauthnSignUp::EmailAlreadyExists);
            }
            let row = WebauthnCredential { user_id: user_id.to_string(), ..credential.clone() };
            if tx_exec(&tx, &s.credential_insert, &credential_params(&app, &row)).await? == 0 {
                return Ok(WebauthnSignUp::CredentialAlreadyExists);
            }
            tx.commit().await.map_err(error::pg)?;
            Ok(WebauthnSignUp::Created)
        })
        .await
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.add_webauthn_credential", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn add_webauthn_credential(
        &self,
        app: &AppId,
        credential: &WebauthnCredential,
    ) -> SResult<AddWebauthnCredential> {
        let a = app.as_str();
        let Some(row) = self.query_opt(&self.wa_sql().credential_add, &credential_params(&a, credential)).await? else {
            return Err(error::bad_row("credential insert", "no row"));
        };
        let (known, added): (bool, bool) = (col(&row, 0)?, col(&row, 1)?);
        Ok(match (known, added) {
            (false, _) => AddWebauthnCredential::UnknownUser,
            (true, true) => AddWebauthnCredential::Added,
            (true, false) => AddWebauthnCredential::AlreadyExists,
        })
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.webauthn_credential", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn webauthn_credential(&self, app: &AppId, id: &str, rp_id: &str) -> SResult<Option<WebauthnCredential>> {
        match self.query_opt(&self.wa_sql().credential_by_id, &[&app.as_str(), &id, &rp_id]).await? {
            Some(row) => Ok(Some(credential_of(&row)?)),
            None => Ok(None),
        }
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.webauthn_user_credential", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn webauthn_user_credential(
        &self,
        app: &AppId,
        id: &str,
        user_id: &str,
    ) -> SResult<Option<WebauthnCredential>> {
        match self.query_opt(&self.wa_sql().credential_of_user, &[&app.as_str(), &id, &user_id]).await? {
            Some(row) => Ok(Some(credential_of(&row)?)),
            None => Ok(None),
        }
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.webauthn_credentials_of", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn webauthn_credentials_of(&self, app: &AppId, user_id: &str) -> SResult<Vec<WebauthnCredential>> {
        let rows = self.query(&self.wa_sql().credentials_of_user, &[&app.as_str(), &user_id]).await?;
        rows.iter().map(credential_of).collect()
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.webauthn_credential_ids", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app, count = user_ids.len(),
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn webauthn_credential_ids(&self, app: &AppId, user_ids: &[String]) -> SResult<HashMap<String, Vec<String>>> {
        let mut out: HashMap<String, Vec<String>> = HashMap::new();
        if user_ids.is_empty() {
            return Ok(out);
        }
        for row in self.query(&self.wa_sql().credential_ids, &[&app.as_str(), &user_ids]).await? {
            let ids = out.entry(col(&row, 0)?).or_default();
            let id: String = col(&row, 1)?;
            // Ordered by id: one id under two relying parties comes twice in a row.
            if ids.last() != Some(&id) {
                ids.push(id);
            }
        }
        Ok(out)
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.remove_webauthn_credential", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn remove_webauthn_credential(&self, app: &AppId, user_id: &str, id: &str) -> SResult<bool> {
        Ok(self.execute(&self.wa_sql().credential_delete, &[&app.as_str(), &id, &user_id]).await? > 0)
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.accept_webauthn_assertion", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn accept_webauthn_assertion(
        &self,
        app: &AppId,
        rp_id: &str,
        id: &str,
        seen_counter: i64,
        counter: i64,
        use_up: Option<(&str, &str)>,
        now_ms: i64,
    ) -> SResult<AcceptAssertion> {
        let s = self.wa_sql();
        let a = app.as_str();
        let update: [&(dyn ToSql + Sync); 6] = [&a, &rp_id, &id, &counter, &now_ms, &seen_counter];
        let Some((tenant_id, options_id)) = use_up else {
            return Ok(if self.execute(&s.counter_update, &update).await? == 1 {
                AcceptAssertion::Accepted
            } else {
                AcceptAssertion::CredentialChanged
            });
        };
        self.retrying(|| async {
            let mut conn = self.conn().await?;
            let tx = conn.transaction().await.map_err(error::pg)?;
            if tx_exec(&tx, &s.options_delete, &[&a, &tenant_id, &options_id]).await? == 0 {
                return Ok(AcceptAssertion::OptionsGone);
            }
            if tx_exec(&tx, &s.counter_update, &update).await? != 1 {
                // Rolled back when dropped: the options stay.
                return Ok(AcceptAssertion::CredentialChanged);
            }
            tx.commit().await.map_err(error::pg)?;
            Ok(AcceptAssertion::Accepted)
        })
        .await
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.update_webauthn_email", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn update_webauthn_email(&self, app: &AppId, user_id: &str, email: &str) -> SResult<WebauthnEmailUpdate> {
        let s = self.wa_sql();
        let a = app.as_str();
        self.retrying(|| async {
            let mut conn = self.conn().await?;
            let tx = conn.transaction().await.map_err(error::pg)?;
            if tx_query(&tx, &s.user_lock, &[&a, &user_id]).await?.is_empty() {
                return Ok(WebauthnEmailUpdate::UnknownUser);
            }
            // In every tenant of the user (the reference changes only the request's tenant's row;
            // see docs/COMPATIBILITY.md), unique among each tenant's WebAuthn users.
            let stmt = tx.prepare_cached(&s.user_tenant_email).await.map_err(error::pg)?;
            match tx.execute(&stmt, &[&a, &user_id, &email]).await {
                Ok(_) => {}
                Err(e) if is_state(&e, &SqlState::UNIQUE_VIOLATION) => {
                    return Ok(WebauthnEmailUpdate::EmailAlreadyExists)
                }
                Err(e) => return Err(error::pg(e)),
            }
            tx_exec(&tx, &s.user_email, &[&a, &user_id, &email]).await?;
            tx.commit().await.map_err(error::pg)?;
            Ok(WebauthnEmailUpdate::Updated)
        })
        .await
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.add_webauthn_recovery_token", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %tenant.app, tenant_id = %tenant.tenant,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn add_webauthn_recovery_token(
        &self,
        tenant: &TenantIdentifier,
        token: &WebauthnRecoveryToken,
    ) -> SResult<bool> {
        let (a, t) = (tenant.app.as_str(), tenant.tenant.as_str());
        let params: [&(dyn ToSql + Sync); 6] =
            [&a, &t, &token.user_id, &token.email, &token.token_hash, &token.expires_at];
        let Some(row) = self.query_opt(&self.wa_sql().token_insert, &params).await? else {
            return Err(error::bad_row("recovery token insert", "no row"));
        };
        let (tenant_exists, added): (bool, bool) = (col(&row, 0)?, col(&row, 1)?);
        if !tenant_exists {
            return Err(traced_error(StorageError::TenantOrAppNotFound));
        }
        Ok(added)
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.webauthn_recovery_token", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %tenant.app, tenant_id = %tenant.tenant,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn webauthn_recovery_token(
        &self,
        tenant: &TenantIdentifier,
        token_hash: &str,
    ) -> SResult<Option<WebauthnRecoveryToken>> {
        let params: [&(dyn ToSql + Sync); 3] = [&tenant.app.as_str(), &tenant.tenant.as_str(), &token_hash];
        match self.query_opt(&self.wa_sql().token_by_hash, &params).await? {
            Some(row) => Ok(Some(token_of(&row)?)),
            None => Ok(None),
        }
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.consume_webauthn_recovery_token", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %tenant.app, tenant_id = %tenant.tenant,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn consume_webauthn_recovery_token(
        &self,
        tenant: &TenantIdentifier,
        token_hash: &str,
        now_ms: i64,
    ) -> SResult<Option<WebauthnRecoveryToken>> {
        let s = self.wa_sql();
        let (a, t) = (tenant.app.as_str(), tenant.tenant.as_str());
        self.retrying(|| async {
            let mut conn = self.conn().await?;
            let tx = conn.transaction().await.map_err(error::pg)?;
            let rows = tx_query(&tx, &s.tokens_of_email_lock, &[&a, &t, &token_hash]).await?;
            let Some(row) = find_token(&rows, token_hash)? else { return Ok(None) };
            let token = token_of(row)?;
            if token.expires_at < now_ms {
                return Ok(None);
            }
            tx_exec(&tx, &s.tokens_of_email_delete, &[&a, &t, &token.email]).await?;
            tx.commit().await.map_err(error::pg)?;
            Ok(Some(token))
        })
        .await
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.delete_expired_webauthn_data", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", otel.status_code = Empty, error.type = Empty)
    )]
    async fn delete_expired_webauthn_data(&self, now_ms: i64) -> SResult<u64> {
        let Some(row) = self.query_opt(&self.wa_sql().expired_delete, &[&now_ms]).await? else { return Ok(0) };
        let n: i64 = col(&row, 0)?;
        Ok(n.max(0) as u64)
    }
}
