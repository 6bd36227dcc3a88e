//! [`SigningKeyStorage`]: dynamic keys in `session_access_token_signing_keys`, the static
//! keys in `jwt_signing_keys` (one per `algorithm`: the reference's RS256 one, and ours of
//! ES256/EdDSA when `access_token_signing_algorithm` asks for them).
//!
//! Both read-then-maybe-insert intents run in one transaction that first takes
//! `pg_advisory_xact_lock(key)`, key = hash of the intent, the user pool (schema + prefix) and
//! the app: every instance sharing the database queues on the same lock, so one rotation slot
//! can never get two keys, and the lock is released by COMMIT / ROLLBACK / disconnect.

use crate::query::{col, tx_exec, tx_query};
use crate::{error, PgStorage, TableNames};
use async_trait::async_trait;
use st_core::ids::AppId;
use st_core::storage::{SResult, SigningKeyStorage, StoredKey, LEGACY_KEY_NAME};
use tracing::field::Empty;
use tracing::instrument;

/// Statement texts of the signing-key recipe.
#[derive(Debug)]
pub(crate) struct SigningKeySql {
    /// Taken first by both read-then-maybe-insert intents (see the module docs).
    advisory_xact_lock: String,
    dynamic_select: String,
    dynamic_insert: String,
    dynamic_delete_before: String,
    static_select: String,
    static_insert: String,
    /// Deletes the legacy key from `key_value`, returning its value and creation time.
    legacy_take: String,
}

impl SigningKeySql {
    pub(crate) fn new(t: &TableNames) -> SigningKeySql {
        SigningKeySql {
            advisory_xact_lock: "SELECT pg_advisory_xact_lock($1)".into(),
            dynamic_select: format!(
                "SELECT created_at_time, value FROM {} WHERE app_id = $1 AND created_at_time >= $2 \
                 ORDER BY created_at_time DESC",
                t.session_access_token_signing_keys
            ),
            dynamic_insert: format!(
                "INSERT INTO {} (app_id, created_at_time, value) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                t.session_access_token_signing_keys
            ),
            dynamic_delete_before: format!(
                "DELETE FROM {} WHERE app_id = $1 AND created_at_time < $2",
                t.session_access_token_signing_keys
            ),
            static_select: format!(
                "SELECT key_id, key_string, created_at FROM {} WHERE app_id = $1 AND algorithm = $2 \
                 ORDER BY created_at DESC NULLS LAST, key_id LIMIT 1",
                t.jwt_signing_keys
            ),
            static_insert: format!(
                "INSERT INTO {} (app_id, key_id, key_string, algorithm, created_at) VALUES ($1, $2, $3, $5, $4)",
                t.jwt_signing_keys
            ),
            legacy_take: format!(
                "DELETE FROM {} WHERE app_id = $1 AND tenant_id = 'public' AND name = $2 \
                 RETURNING value, created_at_time",
                t.key_value
            ),
        }
    }
}

impl PgStorage {
    fn signing_key_sql(&self) -> &SigningKeySql {
        &self.sql().signing_keys
    }
}

fn dynamic_kid(created_at: i64) -> String {
    format!("d-{created_at}")
}

#[async_trait]
impl SigningKeyStorage for PgStorage {
    #[instrument(
        level = "debug", target = "st_storage", name = "storage.dynamic_keys_rotate", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn dynamic_keys_rotate(
        &self,
        app: &AppId,
        verify_after: i64,
        sign_after: i64,
        candidate: Option<&StoredKey>,
    ) -> SResult<(Vec<StoredKey>, bool)> {
        let sql = self.signing_key_sql();
        let lock = self.lock_key("st-signing-keys", app.as_str());
        self.retrying(|| async {
            let mut conn = self.conn().await?;
            let tx = conn.transaction().await.map_err(error::pg)?;
            tx_query(&tx, &sql.advisory_xact_lock, &[&lock]).await?;
            let rows = tx_query(&tx, &sql.dynamic_select, &[&app.as_str(), &verify_after]).await?;
            let mut keys = Vec::with_capacity(rows.len() + 1);
            for row in &rows {
                let created_at: i64 = col(row, 0)?;
                let value: Option<String> = col(row, 1)?;
                keys.push(StoredKey { kid: dynamic_kid(created_at), value: value.unwrap_or_default(), created_at });
            }
            let mut inserted = false;
            if let Some(c) = candidate {
                if !keys.iter().any(|k| k.created_at >= sign_after && k.same_algorithm(c)) {
                    let n = tx_exec(&tx, &sql.dynamic_insert, &[&app.as_str(), &c.created_at, &c.value]).await?;
                    if n == 1 {
                        inserted = true;
                        keys.push(StoredKey {
                            kid: dynamic_kid(c.created_at),
                            value: c.value.clone(),
                            created_at: c.created_at,
                        });
                        keys.sort_by_key(|k| std::cmp::Reverse(k.created_at));
                    }
                }
            }
            tx.commit().await.map_err(error::pg)?;
            Ok((keys, inserted))
        })
        .await
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.delete_dynamic_keys_before", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn delete_dynamic_keys_before(&self, app: &AppId, before: i64) -> SResult<u64> {
        self.execute(&self.signing_key_sql().dynamic_delete_before, &[&app.as_str(), &before]).await
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.transfer_legacy_signing_key", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn transfer_legacy_signing_key(&self, app: &AppId, dynamic: bool, static_kid: &str) -> SResult<bool> {
        let sql = self.signing_key_sql();
        self.retrying(|| async {
            let mut conn = self.conn().await?;
            let tx = conn.transaction().await.map_err(error::pg)?;
            // The DELETE locks the row: of several instances, one gets it, the others nothing.
            let rows = tx_query(&tx, &sql.legacy_take, &[&app.as_str(), &LEGACY_KEY_NAME]).await?;
            let Some(row) = rows.first() else {
                return Ok(false);
            };
            let value: String = col(row, 0)?;
            let created_at: i64 = col::<Option<i64>>(row, 1)?.unwrap_or(0);
            if dynamic {
                tx_exec(&tx, &sql.dynamic_insert, &[&app.as_str(), &created_at, &value]).await?;
            } else {
                let lock = self.lock_key("st-static-key", app.as_str());
                tx_query(&tx, &sql.advisory_xact_lock, &[&lock]).await?;
                tx_exec(&tx, &sql.static_insert, &[&app.as_str(), &static_kid, &value, &created_at, &"RS256"]).await?;
            }
            tx.commit().await.map_err(error::pg)?;
            Ok(true)
        })
        .await
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.static_key_get_or_insert", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app, algorithm,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn static_key_of_alg_get_or_insert(
        &self,
        app: &AppId,
        algorithm: &str,
        candidate: Option<&StoredKey>,
    ) -> SResult<Option<StoredKey>> {
        let sql = self.signing_key_sql();
        let lock = self.lock_key("st-static-key", app.as_str());
        self.retrying(|| async {
            let mut conn = self.conn().await?;
            let tx = conn.transaction().await.map_err(error::pg)?;
            tx_query(&tx, &sql.advisory_xact_lock, &[&lock]).await?;
            let rows = tx_query(&tx, &sql.static_select, &[&app.as_str(), &algorithm]).await?;
            let found = match rows.first() {
                Some(row) => Some(StoredKey {
                    kid: col(row, 0)?,
                    value: col(row, 1)?,
                    created_at: col::<Option<i64>>(row, 2)?.unwrap_or(0),
                }),
                None => None,
            };
            let result = match (found, candidate) {
                (Some(k), _) => Some(k),
                (None, Some(c)) => {
                    tx_exec(&tx, &sql.static_insert, &[&app.as_str(), &c.kid, &c.value, &c.created_at, &algorithm])
                        .await?;
                    Some(c.clone())
                }
                (None, None) => None,
            };
            tx.commit().await.map_err(error::pg)?;
            Ok(result)
        })
        .await
    }
}
