//! [`OAuthStorage`]: the reference's `oauth_clients` (id, encrypted secret, flags: written as the
//! Java core writes them, so its queries keep working) and our `oauth_client_configs` (the rest
//! of the client, which the Java core kept in Hydra; V3). A client is created in one
//! transaction; an update locks the `oauth_clients` row and decides under the lock.
//!
//! The two statements of every client-credentials token, the client read and the token's
//! bookkeeping, and the read of every introspection are shared by concurrent calls
//! ([`batched`]).

mod batched;
pub(crate) use batched::Queues;

use crate::query::{col, tx_exec, tx_query};
use crate::{error, PgStorage, TableNames};
use async_trait::async_trait;
use serde_json::{Map, Value};
use st_core::ids::AppId;
use st_core::storage::{
    ClientUpdateOutcome, ClientUpdater, FlowTake, OAuthClientRow, OAuthFlowItem, OAuthLogoutChallenge,
    OAuthSessionUpsert, OAuthStorage, SResult,
};
use tokio_postgres::Row;
use tracing::field::Empty;
use tracing::instrument;

/// Statement texts of the OAuth recipe.
#[derive(Debug)]
pub(crate) struct OAuthSql {
    client_insert: String,
    config_upsert: String,
    client_select: String,
    /// `client_select` for many (app, client) pairs, each row with its pair's ordinal.
    client_select_many: String,
    client_lock: String,
    client_update: String,
    client_list: String,
    client_delete: String,
    session_upsert: String,
    /// The session upsert and the `oauth_m2m_tokens` row in one statement (one round trip, atomic
    /// as any single statement): a client-credentials token's whole write.
    session_upsert_m2m: String,
    /// `session_upsert_m2m` for many tokens (arrays, one element per token).
    session_upsert_m2m_many: String,
    session_jtis: String,
    /// `session_jtis` for many (app, gid) pairs, each row with its pair's ordinal.
    session_jtis_many: String,
    session_remove_jti: String,
    sessions_delete_client: String,
    sessions_delete_handle: String,
    sessions_delete_expired: String,
    m2m_delete_expired: String,
    flow_upsert: String,
    flow_select: String,
    flow_lock: String,
    flow_use: String,
    flow_delete_expired: String,
    grant_select: String,
    grant_delete: String,
    logout_insert: String,
    logout_take: String,
    logout_delete_expired: String,
}

impl OAuthSql {
    pub(crate) fn new(t: &TableNames) -> OAuthSql {
        let clients = t.qualified("oauth_clients");
        let configs = t.qualified("oauth_client_configs");
        let sessions = t.qualified("oauth_sessions");
        let m2m = t.qualified("oauth_m2m_tokens");
        let flow = t.qualified("oauth_flow_items");
        let logout = t.qualified("oauth_logout_challenges");
        let columns = "c.client_id::TEXT, c.client_secret, c.is_client_credentials_only, \
                       c.enable_refresh_token_rotation, g.config";
        let joined = format!("{clients} c LEFT JOIN {configs} g ON g.app_id = c.app_id AND g.client_id = c.client_id");
        OAuthSql {
            client_insert: format!(
                "INSERT INTO {clients} (app_id, client_id, client_secret, is_client_credentials_only, \
                 enable_refresh_token_rotation) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING"
            ),
            config_upsert: format!(
                "INSERT INTO {configs} (app_id, client_id, config) VALUES ($1, $2, $3) \
                 ON CONFLICT (app_id, client_id) DO UPDATE SET config = EXCLUDED.config"
            ),
            client_select: format!("SELECT {columns} FROM {joined} WHERE c.app_id = $1 AND c.client_id = $2"),
            client_select_many: format!(
                "SELECT v.ord, {columns} FROM UNNEST((SELECT $1::TEXT[]), (SELECT $2::TEXT[])) WITH ORDINALITY AS v(app_id, client_id, ord) \
                 JOIN {clients} c ON c.app_id = v.app_id AND c.client_id = v.client_id \
                 LEFT JOIN {configs} g ON g.app_id = c.app_id AND g.client_id = c.client_id"
            ),
            // The lock first, then the read in a statement of its own: a joined read locking only
            // `c` would see the configuration as it was before the lock was granted.
            client_lock: format!("SELECT 1 FROM {clients} WHERE app_id = $1 AND client_id = $2 FOR UPDATE"),
            client_update: format!(
                "UPDATE {clients} SET client_secret = $3, is_client_credentials_only = $4, \
                 enable_refresh_token_rotation = $5 WHERE app_id = $1 AND client_id = $2"
            ),
            // Byte order (COLLATE "C"), as the memory backend and the page tokens use it.
            client_list: format!(
                "SELECT {columns} FROM {joined} WHERE c.app_id = $1 \
                 AND ($2::TEXT IS NULL OR c.client_id::TEXT COLLATE \"C\" > $2::TEXT COLLATE \"C\") \
                 AND ($3::TEXT IS NULL OR (g.config::jsonb ->> 'clientName') = $3::TEXT) \
                 ORDER BY c.client_id::TEXT COLLATE \"C\" LIMIT $4"
            ),
            client_delete: format!("DELETE FROM {clients} WHERE app_id = $1 AND client_id = $2"),
            // As the Java plugin's createOrUpdateOAuthSession: the jti list is "a,b," (each jti
            // with its comma, so removing "jti," leaves no trace).
            session_upsert: format!(
                "INSERT INTO {sessions} (gid, client_id, app_id, external_refresh_token, internal_refresh_token, \
                 session_handle, jti, exp) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                 ON CONFLICT (gid) DO UPDATE SET external_refresh_token = $4, internal_refresh_token = $5, \
                 session_handle = $6, jti = CONCAT({sessions}.jti, $7::TEXT), exp = $8"
            ),
            session_upsert_m2m: format!(
                "WITH s AS (INSERT INTO {sessions} (gid, client_id, app_id, external_refresh_token, \
                 internal_refresh_token, session_handle, jti, exp) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                 ON CONFLICT (gid) DO UPDATE SET external_refresh_token = $4, internal_refresh_token = $5, \
                 session_handle = $6, jti = CONCAT({sessions}.jti, $7::TEXT), exp = $8 RETURNING 1) \
                 INSERT INTO {m2m} (app_id, client_id, iat, exp) SELECT $3, $2, $9, $10 FROM s \
                 ON CONFLICT DO NOTHING"
            ),
            // A token's gid is new (a UUID), so no two rows of one batch meet on `gid`. Each array
            // in a scalar sub-select in the batch statements, as the session ones: one generic plan
            // instead of a plan per batch size (see ARCHITECTURE).
            session_upsert_m2m_many: format!(
                "WITH v AS (SELECT * FROM UNNEST((SELECT $1::TEXT[]), (SELECT $2::TEXT[]), (SELECT $3::TEXT[]), \
                 (SELECT $4::TEXT[]), (SELECT $5::TEXT[]), (SELECT $6::TEXT[]), (SELECT $7::TEXT[]), \
                 (SELECT $8::BIGINT[]), (SELECT $9::BIGINT[]), (SELECT $10::BIGINT[])) \
                 AS v(gid, client_id, app_id, ext, int, handle, jti, exp, iat, m2m_exp)), \
                 s AS (INSERT INTO {sessions} (gid, client_id, app_id, external_refresh_token, \
                 internal_refresh_token, session_handle, jti, exp) \
                 SELECT gid, client_id, app_id, ext, int, handle, jti, exp FROM v \
                 ON CONFLICT (gid) DO UPDATE SET external_refresh_token = EXCLUDED.external_refresh_token, \
                 internal_refresh_token = EXCLUDED.internal_refresh_token, session_handle = EXCLUDED.session_handle, \
                 jti = CONCAT({sessions}.jti, EXCLUDED.jti), exp = EXCLUDED.exp RETURNING 1) \
                 INSERT INTO {m2m} (app_id, client_id, iat, exp) SELECT app_id, client_id, iat, m2m_exp FROM v \
                 ON CONFLICT DO NOTHING"
            ),
            session_jtis: format!("SELECT jti FROM {sessions} WHERE app_id = $1 AND gid = $2"),
            session_jtis_many: format!(
                "SELECT v.ord, s.jti FROM UNNEST((SELECT $1::TEXT[]), (SELECT $2::TEXT[])) WITH ORDINALITY AS v(app_id, gid, ord) \
                 JOIN {sessions} s ON s.app_id = v.app_id AND s.gid = v.gid"
            ),
            session_remove_jti: format!(
                "UPDATE {sessions} SET jti = REPLACE(jti, $3::TEXT, '') WHERE app_id = $1 AND gid = $2"
            ),
            sessions_delete_client: format!("DELETE FROM {sessions} WHERE app_id = $1 AND client_id = $2"),
            sessions_delete_handle: format!("DELETE FROM {sessions} WHERE app_id = $1 AND session_handle = $2"),
            // The reference's cleanup job's statements (every app).
            sessions_delete_expired: format!("DELETE FROM {sessions} WHERE exp < $1"),
            m2m_delete_expired: format!("DELETE FROM {m2m} WHERE exp < $1"),
            flow_upsert: format!(
                "INSERT INTO {flow} (app_id, kind, item_key, client_id, value, expires_at, used) \
                 VALUES ($1, $2, $3, $4, $5, $6, FALSE) ON CONFLICT (app_id, kind, item_key) DO UPDATE \
                 SET client_id = EXCLUDED.client_id, value = EXCLUDED.value, expires_at = EXCLUDED.expires_at, \
                 used = FALSE"
            ),
            flow_select: format!(
                "SELECT value FROM {flow} WHERE app_id = $1 AND kind = $2 AND item_key = $3 \
                 AND used = FALSE AND expires_at > $4"
            ),
            // A second taker waits here for the first's commit, then reads `used = true`.
            flow_lock: format!(
                "SELECT value, used, expires_at FROM {flow} WHERE app_id = $1 AND kind = $2 AND item_key = $3 \
                 FOR UPDATE"
            ),
            flow_use: format!("UPDATE {flow} SET used = TRUE WHERE app_id = $1 AND kind = $2 AND item_key = $3"),
            flow_delete_expired: format!("DELETE FROM {flow} WHERE expires_at < $1"),
            grant_select: format!("SELECT 1 FROM {sessions} WHERE app_id = $1 AND gid = $2"),
            grant_delete: format!("DELETE FROM {sessions} WHERE app_id = $1 AND gid = $2"),
            logout_insert: format!(
                "INSERT INTO {logout} (app_id, challenge, client_id, post_logout_redirect_uri, session_handle, \
                 state, time_created) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING"
            ),
            logout_take: format!(
                "DELETE FROM {logout} WHERE app_id = $1 AND challenge = $2 RETURNING challenge::TEXT, \
                 client_id::TEXT, post_logout_redirect_uri::TEXT, session_handle::TEXT, state::TEXT, time_created"
            ),
            logout_delete_expired: format!("DELETE FROM {logout} WHERE time_created < $1"),
        }
    }
}

impl PgStorage {
    fn oauth_sql(&self) -> &OAuthSql {
        &self.sql().oauth
    }
}

fn client_row(r: &Row) -> SResult<OAuthClientRow> {
    client_row_at(r, 0)
}

/// A client from the row's columns `base..base + 5`.
fn client_row_at(r: &Row, base: usize) -> SResult<OAuthClientRow> {
    let config: Option<String> = col(r, base + 4)?;
    let config = match config {
        None => None,
        Some(text) => match serde_json::from_str::<Value>(&text) {
            Ok(Value::Object(m)) => Some(m),
            Ok(other) => return Err(error::bad_row("oauth_client_configs", format!("not a JSON object: {other}"))),
            Err(e) => return Err(error::bad_row("oauth_client_configs", e)),
        },
    };
    Ok(OAuthClientRow {
        client_id: col(r, base)?,
        client_secret: col(r, base + 1)?,
        is_client_credentials_only: col(r, base + 2)?,
        enable_refresh_token_rotation: col(r, base + 3)?,
        config,
    })
}

fn config_text(config: Option<&Map<String, Value>>) -> SResult<Option<String>> {
    config
        .map(|c| serde_json::to_string(c).map_err(|e| error::query(format!("cannot serialise a client config: {e}"))))
        .transpose()
}

#[async_trait]
impl OAuthStorage for PgStorage {
    #[instrument(
        level = "debug", target = "st_storage", name = "storage.create_oauth_client", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn create_oauth_client(&self, app: &AppId, row: &OAuthClientRow) -> SResult<bool> {
        let s = self.oauth_sql();
        let app = app.as_str();
        let config = config_text(row.config.as_ref())?;
        self.retrying(|| async {
            let mut conn = self.conn().await?;
            let tx = conn.transaction().await.map_err(error::pg)?;
            let inserted = tx_exec(
                &tx,
                &s.client_insert,
                &[
                    &app,
                    &row.client_id,
                    &row.client_secret,
                    &row.is_client_credentials_only,
                    &row.enable_refresh_token_rotation,
                ],
            )
            .await?;
            if inserted == 0 {
                return Ok(false);
            }
            if let Some(config) = &config {
                tx_exec(&tx, &s.config_upsert, &[&app, &row.client_id, config]).await?;
            }
            tx.commit().await.map_err(error::pg)?;
            Ok(true)
        })
        .await
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.get_oauth_client", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn get_oauth_client(&self, app: &AppId, client_id: &str) -> SResult<Option<OAuthClientRow>> {
        let read = batched::ClientRead { app: app.as_str().to_string(), client_id: client_id.to_string() };
        crate::batch::run::<batched::ClientReads>(self, read).await
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.update_oauth_client", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn update_oauth_client(
        &self,
        app: &AppId,
        client_id: &str,
        update: ClientUpdater<'_>,
    ) -> SResult<ClientUpdateOutcome> {
        let s = self.oauth_sql();
        let app = app.as_str();
        self.retrying(|| async {
            let mut conn = self.conn().await?;
            let tx = conn.transaction().await.map_err(error::pg)?;
            if tx_query(&tx, &s.client_lock, &[&app, &client_id]).await?.is_empty() {
                return Ok(ClientUpdateOutcome::NotFound);
            }
            let rows = tx_query(&tx, &s.client_select, &[&app, &client_id]).await?;
            let Some(current) = rows.first() else {
                return Ok(ClientUpdateOutcome::NotFound);
            };
            let current = client_row(current)?;
            let new = match update(&current) {
                Ok(new) => new,
                Err(r) => return Ok(ClientUpdateOutcome::Refused(r)),
            };
            tx_exec(
                &tx,
                &s.client_update,
                &[
                    &app,
                    &client_id,
                    &new.client_secret,
                    &new.is_client_credentials_only,
                    &new.enable_refresh_token_rotation,
                ],
            )
            .await?;
            if let Some(config) = config_text(new.config.as_ref())? {
                tx_exec(&tx, &s.config_upsert, &[&app, &client_id, &config]).await?;
            }
            tx.commit().await.map_err(error::pg)?;
            Ok(ClientUpdateOutcome::Updated(new))
        })
        .await
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.list_oauth_clients", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn list_oauth_clients(
        &self,
        app: &AppId,
        client_name: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> SResult<Vec<OAuthClientRow>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self.query(&self.oauth_sql().client_list, &[&app.as_str(), &after, &client_name, &limit]).await?;
        rows.iter().map(client_row).collect()
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.delete_oauth_client", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn delete_oauth_client(&self, app: &AppId, client_id: &str) -> SResult<bool> {
        Ok(self.execute(&self.oauth_sql().client_delete, &[&app.as_str(), &client_id]).await? > 0)
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.record_oauth_tokens", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn record_oauth_tokens(
        &self,
        app: &AppId,
        session: &OAuthSessionUpsert,
        m2m: Option<(i64, i64)>,
    ) -> SResult<()> {
        let record = batched::TokenRecord { app: app.as_str().to_string(), session: session.clone() };
        match m2m {
            // A client-credentials token: shared with concurrent ones.
            Some((iat, exp)) => crate::batch::run::<batched::M2mRecords>(self, (record, iat, exp)).await,
            None => {
                let jti = record.jti();
                let params = record.params(&jti);
                self.execute(&self.oauth_sql().session_upsert, &params).await.map(|_| ())
            }
        }
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.oauth_jti_active", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn oauth_jti_active(&self, app: &AppId, gid: &str, jti: &str) -> SResult<bool> {
        let check = batched::JtiCheck { app: app.as_str().to_string(), gid: gid.to_string(), jti: jti.to_string() };
        crate::batch::run::<batched::JtiChecks>(self, check).await
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.revoke_oauth_jti", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn revoke_oauth_jti(&self, app: &AppId, gid: &str, jti: &str) -> SResult<()> {
        let jti = format!("{jti},");
        self.execute(&self.oauth_sql().session_remove_jti, &[&app.as_str(), &gid, &jti]).await?;
        Ok(())
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.revoke_oauth_tokens_of_client", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn revoke_oauth_tokens_of_client(&self, app: &AppId, client_id: &str) -> SResult<()> {
        self.execute(&self.oauth_sql().sessions_delete_client, &[&app.as_str(), &client_id]).await?;
        Ok(())
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.revoke_oauth_tokens_of_session", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn revoke_oauth_tokens_of_session(&self, app: &AppId, session_handle: &str) -> SResult<()> {
        self.execute(&self.oauth_sql().sessions_delete_handle, &[&app.as_str(), &session_handle]).await?;
        Ok(())
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.delete_expired_oauth_tokens", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", otel.status_code = Empty, error.type = Empty)
    )]
    async fn delete_expired_oauth_tokens(&self, before_s: i64) -> SResult<u64> {
        let s = self.oauth_sql();
        let sessions = self.execute(&s.sessions_delete_expired, &[&before_s]).await?;
        let m2m = self.execute(&s.m2m_delete_expired, &[&before_s]).await?;
        let before_ms = before_s.saturating_mul(1000);
        self.execute(&s.flow_delete_expired, &[&before_ms]).await?;
        self.execute(&s.logout_delete_expired, &[&before_ms]).await?;
        Ok(sessions + m2m)
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.put_oauth_flow_item", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn put_oauth_flow_item(&self, app: &AppId, item: &OAuthFlowItem) -> SResult<()> {
        let app = app.as_str();
        self.execute(
            &self.oauth_sql().flow_upsert,
            &[&app, &item.kind, &item.key, &item.client_id, &item.value, &item.expires_at],
        )
        .await?;
        Ok(())
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.get_oauth_flow_item", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn get_oauth_flow_item(&self, app: &AppId, kind: &str, key: &str, now: i64) -> SResult<Option<String>> {
        let row = self.query_opt(&self.oauth_sql().flow_select, &[&app.as_str(), &kind, &key, &now]).await?;
        row.map(|r| col(&r, 0)).transpose()
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.take_oauth_flow_item", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn take_oauth_flow_item(
        &self,
        app: &AppId,
        kind: &str,
        key: &str,
        now: i64,
        follow: &[OAuthFlowItem],
        session: Option<&OAuthSessionUpsert>,
    ) -> SResult<FlowTake> {
        let s = self.oauth_sql();
        let app = app.as_str();
        self.retrying(|| async {
            let mut conn = self.conn().await?;
            let tx = conn.transaction().await.map_err(error::pg)?;
            let rows = tx_query(&tx, &s.flow_lock, &[&app, &kind, &key]).await?;
            let Some(row) = rows.first() else { return Ok(FlowTake::Missing) };
            let value: String = col(row, 0)?;
            let used: bool = col(row, 1)?;
            let expires_at: i64 = col(row, 2)?;
            if expires_at <= now {
                return Ok(FlowTake::Missing);
            }
            if used {
                return Ok(FlowTake::Used(value));
            }
            tx_exec(&tx, &s.flow_use, &[&app, &kind, &key]).await?;
            for f in follow {
                tx_exec(&tx, &s.flow_upsert, &[&app, &f.kind, &f.key, &f.client_id, &f.value, &f.expires_at]).await?;
            }
            if let Some(x) = session {
                let jti = format!("{},", x.jti);
                tx_exec(
                    &tx,
                    &s.session_upsert,
                    &[
                        &x.gid,
                        &x.client_id,
                        &app,
                        &x.external_refresh_token,
                        &x.internal_refresh_token,
                        &x.session_handle,
                        &jti,
                        &x.exp,
                    ],
                )
                .await?;
            }
            tx.commit().await.map_err(error::pg)?;
            Ok(FlowTake::Taken(value))
        })
        .await
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.oauth_grant_active", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn oauth_grant_active(&self, app: &AppId, gid: &str) -> SResult<bool> {
        Ok(self.query_opt(&self.oauth_sql().grant_select, &[&app.as_str(), &gid]).await?.is_some())
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.revoke_oauth_grant", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn revoke_oauth_grant(&self, app: &AppId, gid: &str) -> SResult<()> {
        self.execute(&self.oauth_sql().grant_delete, &[&app.as_str(), &gid]).await?;
        Ok(())
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.create_oauth_logout_challenge", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn create_oauth_logout_challenge(&self, app: &AppId, c: &OAuthLogoutChallenge) -> SResult<bool> {
        let n = self
            .execute(
                &self.oauth_sql().logout_insert,
                &[
                    &app.as_str(),
                    &c.challenge,
                    &c.client_id,
                    &c.post_logout_redirect_uri,
                    &c.session_handle,
                    &c.state,
                    &c.time_created,
                ],
            )
            .await?;
        Ok(n == 1)
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.take_oauth_logout_challenge", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn take_oauth_logout_challenge(&self, app: &AppId, challenge: &str) -> SResult<Option<OAuthLogoutChallenge>> {
        let row = self.query_opt(&self.oauth_sql().logout_take, &[&app.as_str(), &challenge]).await?;
        row.map(|r| {
            Ok(OAuthLogoutChallenge {
                challenge: col(&r, 0)?,
                client_id: col(&r, 1)?,
                post_logout_redirect_uri: col(&r, 2)?,
                session_handle: col(&r, 3)?,
                state: col(&r, 4)?,
                time_created: col(&r, 5)?,
            })
        })
        .transpose()
    }
}
