//! The OAuth statements that concurrent calls share (see [`crate::batch`]): the client read
//! that every token request starts with ([`ClientReads`]), a client-credentials token's
//! bookkeeping ([`M2mRecords`]) and the jti check of every introspection ([`JtiChecks`]). Under load these two statements, not the RSA signature, were
//! what a token cost the database: sharing them makes the cost per token a fraction of a
//! statement. Each read still starts after its caller asked (a batch takes only what queued
//! before it ran), so a client removed or changed through any instance is seen at once.

use super::client_row_at;
use crate::batch::{by_ordinal, BatchQueue, Batched};
use crate::query::col;
use crate::PgStorage;
use st_core::storage::{OAuthClientRow, OAuthSessionUpsert, SResult};
use tokio_postgres::types::ToSql;

/// The batch queues of the OAuth recipe.
#[derive(Default)]
pub(crate) struct Queues {
    client_reads: BatchQueue<ClientReads>,
    m2m_records: BatchQueue<M2mRecords>,
    jti_checks: BatchQueue<JtiChecks>,
}

/// `get_oauth_client`.
pub(crate) struct ClientReads;

/// One client to read.
pub(crate) struct ClientRead {
    pub(crate) app: String,
    pub(crate) client_id: String,
}

impl Batched for ClientReads {
    type Item = ClientRead;
    type Output = Option<OAuthClientRow>;
    const WHAT: &'static str = "oauth client read";
    const LEADERS: usize = 1;

    fn queue(storage: &PgStorage) -> &BatchQueue<Self> {
        &storage.batches().oauth.client_reads
    }

    async fn alone(storage: &PgStorage, read: &ClientRead, _idle: bool) -> SResult<Option<OAuthClientRow>> {
        let row = storage.query_opt(&storage.oauth_sql().client_select, &[&read.app, &read.client_id]).await?;
        row.as_ref().map(|r| client_row_at(r, 0)).transpose()
    }

    /// `client_select_many`: every pair in one statement, each found row by its ordinal.
    async fn together(storage: &PgStorage, reads: &[ClientRead]) -> SResult<Vec<Option<OAuthClientRow>>> {
        let apps: Vec<&str> = reads.iter().map(|r| r.app.as_str()).collect();
        let ids: Vec<&str> = reads.iter().map(|r| r.client_id.as_str()).collect();
        let rows = storage.query(&storage.oauth_sql().client_select_many, &[&apps, &ids]).await?;
        by_ordinal(&rows, reads.len(), Self::WHAT, |r, _| client_row_at(r, 1))
    }
}

/// `record_oauth_tokens` of a client-credentials token: its `oauth_sessions` row and its
/// `oauth_m2m_tokens` row.
pub(crate) struct M2mRecords;

/// One grant's row to upsert.
pub(crate) struct TokenRecord {
    pub(crate) app: String,
    pub(crate) session: OAuthSessionUpsert,
}

impl TokenRecord {
    /// The jti as the row's list holds it ("jti," — see `session_upsert`).
    pub(crate) fn jti(&self) -> String {
        format!("{},", self.session.jti)
    }

    /// `session_upsert`'s parameters.
    pub(crate) fn params<'a>(&'a self, jti: &'a String) -> [&'a (dyn ToSql + Sync); 8] {
        let s = &self.session;
        [
            &s.gid,
            &s.client_id,
            &self.app,
            &s.external_refresh_token,
            &s.internal_refresh_token,
            &s.session_handle,
            jti,
            &s.exp,
        ]
    }
}

impl Batched for M2mRecords {
    /// The grant's row, the token's `iat` and `exp`.
    type Item = (TokenRecord, i64, i64);
    type Output = ();
    const WHAT: &'static str = "oauth m2m token record";
    const LEADERS: usize = 1;

    fn queue(storage: &PgStorage) -> &BatchQueue<Self> {
        &storage.batches().oauth.m2m_records
    }

    async fn alone(storage: &PgStorage, item: &(TokenRecord, i64, i64), _idle: bool) -> SResult<()> {
        let (record, iat, exp) = item;
        let jti = record.jti();
        let mut params: Vec<&(dyn ToSql + Sync)> = record.params(&jti).to_vec();
        params.push(iat);
        params.push(exp);
        storage.execute(&storage.oauth_sql().session_upsert_m2m, &params).await.map(|_| ())
    }

    /// `session_upsert_m2m_many`: every token's two rows in one statement.
    async fn together(storage: &PgStorage, items: &[(TokenRecord, i64, i64)]) -> SResult<Vec<()>> {
        let sessions = || items.iter().map(|(r, _, _)| &r.session);
        let gids: Vec<&str> = sessions().map(|s| s.gid.as_str()).collect();
        let clients: Vec<&str> = sessions().map(|s| s.client_id.as_str()).collect();
        let apps: Vec<&str> = items.iter().map(|(r, _, _)| r.app.as_str()).collect();
        let ext: Vec<Option<&str>> = sessions().map(|s| s.external_refresh_token.as_deref()).collect();
        let int: Vec<Option<&str>> = sessions().map(|s| s.internal_refresh_token.as_deref()).collect();
        let handles: Vec<Option<&str>> = sessions().map(|s| s.session_handle.as_deref()).collect();
        let jtis: Vec<String> = items.iter().map(|(r, _, _)| r.jti()).collect();
        let exps: Vec<i64> = sessions().map(|s| s.exp).collect();
        let iats: Vec<i64> = items.iter().map(|(_, iat, _)| *iat).collect();
        let m2m_exps: Vec<i64> = items.iter().map(|(_, _, exp)| *exp).collect();
        let params: [&(dyn ToSql + Sync); 10] =
            [&gids, &clients, &apps, &ext, &int, &handles, &jtis, &exps, &iats, &m2m_exps];
        storage.execute(&storage.oauth_sql().session_upsert_m2m_many, &params).await?;
        Ok(vec![(); items.len()])
    }
}

/// `oauth_jti_active`: whether the grant's row lists the token's jti.
pub(crate) struct JtiChecks;

/// One token to check.
pub(crate) struct JtiCheck {
    pub(crate) app: String,
    pub(crate) gid: String,
    pub(crate) jti: String,
}

impl JtiCheck {
    /// Whether the row's list ("a,b,") holds this jti.
    fn listed_in(&self, list: &str) -> bool {
        list.split(',').any(|j| !j.is_empty() && j == self.jti)
    }
}

impl Batched for JtiChecks {
    type Item = JtiCheck;
    type Output = bool;
    const WHAT: &'static str = "oauth jti check";

    fn queue(storage: &PgStorage) -> &BatchQueue<Self> {
        &storage.batches().oauth.jti_checks
    }

    async fn alone(storage: &PgStorage, check: &JtiCheck, _idle: bool) -> SResult<bool> {
        let row = storage.query_opt(&storage.oauth_sql().session_jtis, &[&check.app, &check.gid]).await?;
        match row {
            None => Ok(false),
            Some(r) => Ok(check.listed_in(&col::<String>(&r, 0)?)),
        }
    }

    /// `session_jtis_many`: every grant in one statement, each found row by its ordinal.
    async fn together(storage: &PgStorage, checks: &[JtiCheck]) -> SResult<Vec<bool>> {
        let apps: Vec<&str> = checks.iter().map(|c| c.app.as_str()).collect();
        let gids: Vec<&str> = checks.iter().map(|c| c.gid.as_str()).collect();
        let rows = storage.query(&storage.oauth_sql().session_jtis_many, &[&apps, &gids]).await?;
        let found = by_ordinal(&rows, checks.len(), Self::WHAT, |r, i| Ok(checks[i].listed_in(&col::<String>(r, 1)?)))?;
        Ok(found.into_iter().map(|f| f.unwrap_or(false)).collect())
    }
}
