//! [`SigningKeyStorage`]: dynamic keys in `session_access_token_signing_keys`, the static
//! RS256 key in `jwt_signing_keys`.
//!
//! Both read-then-maybe-insert intents run in one transaction that first takes
//! `pg_advisory_xact_lock(key)`, key = hash of the intent, the user pool (schema + prefix) and
//! the app: every instance sharing the database queues on the same lock, so one rotation slot
//! can never get two keys, and the lock is released by COMMIT / ROLLBACK / disconnect.

use crate::{col, error, tx_exec, tx_query, PgStorage};
use async_trait::async_trait;
use st_core::ids::AppId;
use st_core::storage::{SResult, SigningKeyStorage, StoredKey};

fn dynamic_kid(created_at: i64) -> String {
    format!("d-{created_at}")
}

#[async_trait]
impl SigningKeyStorage for PgStorage {
    async fn dynamic_keys_rotate(
        &self,
        app: &AppId,
        verify_after: i64,
        sign_after: i64,
        candidate: Option<&StoredKey>,
    ) -> SResult<(Vec<StoredKey>, bool)> {
        let sql = self.sql();
        let lock = self.lock_key("st-signing-keys", app.as_str());
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(error::pg)?;
        tx_query(&tx, &sql.advisory_xact_lock, &[&lock]).await?;
        let rows = tx_query(&tx, &sql.dynamic_keys_select, &[&app.as_str(), &verify_after]).await?;
        let mut keys = Vec::with_capacity(rows.len() + 1);
        for row in &rows {
            let created_at: i64 = col(row, 0)?;
            let value: Option<String> = col(row, 1)?;
            keys.push(StoredKey { kid: dynamic_kid(created_at), value: value.unwrap_or_default(), created_at });
        }
        let mut inserted = false;
        if let Some(c) = candidate {
            if !keys.iter().any(|k| k.created_at >= sign_after) {
                let n = tx_exec(&tx, &sql.dynamic_key_insert, &[&app.as_str(), &c.created_at, &c.value]).await?;
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
    }

    async fn delete_dynamic_keys_before(&self, app: &AppId, before: i64) -> SResult<u64> {
        self.execute(&self.sql().dynamic_keys_delete_before, &[&app.as_str(), &before]).await
    }

    async fn static_key_get_or_insert(&self, app: &AppId, candidate: Option<&StoredKey>) -> SResult<Option<StoredKey>> {
        let sql = self.sql();
        let lock = self.lock_key("st-static-key", app.as_str());
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(error::pg)?;
        tx_query(&tx, &sql.advisory_xact_lock, &[&lock]).await?;
        let rows = tx_query(&tx, &sql.static_key_select, &[&app.as_str()]).await?;
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
                tx_exec(&tx, &sql.static_key_insert, &[&app.as_str(), &c.kid, &c.value, &c.created_at]).await?;
                Some(c.clone())
            }
            (None, None) => None,
        };
        tx.commit().await.map_err(error::pg)?;
        Ok(result)
    }
}
