//! [`UserIdMappingStorage`]: `userid_mapping`, at most one external id per SuperTokens user
//! id (a foreign key to `app_id_to_user_id`) and per external id.
//!
//! Creating a mapping may move the user's e-mail verification rows to the external id in the
//! same transaction; `user_id_uses` reads, in one statement, which other recipes hold data
//! under an id (sessions only while they have not expired).

use crate::query::{col, is_state, tx_exec};
use crate::{error, PgStorage, TableNames};
use async_trait::async_trait;
use st_core::ids::AppId;
use st_core::storage::{MappingCreate, SResult, UserIdMapping, UserIdMappingStorage, UserIdType, UserIdUse};
use tokio_postgres::error::SqlState;
use tokio_postgres::Row;
use tracing::field::Empty;
use tracing::instrument;

/// Statement texts of the useridmapping recipe.
#[derive(Debug)]
pub(crate) struct UserIdMappingSql {
    map_insert: String,
    map_move_verified: String,
    map_move_ev_tokens: String,
    user_id_uses: String,
    map_exists_st: String,
    map_exists_ext: String,
    map_get_st: String,
    map_get_ext: String,
    map_get_any: String,
    map_delete: String,
    map_set_info: String,
}

impl UserIdMappingSql {
    pub(crate) fn new(t: &TableNames) -> UserIdMappingSql {
        let map = t.qualified("userid_mapping");
        let evt = t.qualified("emailverification_tokens");
        let eve = t.qualified("emailverification_verified_emails");
        let md = t.qualified("user_metadata");
        let ur = t.qualified("user_roles");
        let totp_dev = t.qualified("totp_user_devices");
        let si = t.session_info.clone();
        UserIdMappingSql {
            map_insert: format!(
                "INSERT INTO {map} (app_id, supertokens_user_id, external_user_id, external_user_id_info) \
                 VALUES ($1, $2, $3, $4)"
            ),
            map_move_verified: format!("UPDATE {eve} SET user_id = $3 WHERE app_id = $1 AND user_id = $2"),
            map_move_ev_tokens: format!("UPDATE {evt} SET user_id = $3 WHERE app_id = $1 AND user_id = $2"),
            // One row of flags in `UserIdUse` order; sessions count only until they expire.
            user_id_uses: format!(
                "SELECT EXISTS (SELECT 1 FROM {si} WHERE app_id = $1 AND user_id = $2 AND expires_at >= $3),                    EXISTS (SELECT 1 FROM {md} WHERE app_id = $1 AND user_id = $2),                    EXISTS (SELECT 1 FROM {ur} WHERE app_id = $1 AND user_id = $2),                    EXISTS (SELECT 1 FROM {evt} WHERE app_id = $1 AND user_id = $2)                      OR EXISTS (SELECT 1 FROM {eve} WHERE app_id = $1 AND user_id = $2),                    EXISTS (SELECT 1 FROM {totp_dev} WHERE app_id = $1 AND user_id = $2)"
            ),
            map_exists_st: format!("SELECT 1 FROM {map} WHERE app_id = $1 AND supertokens_user_id = $2"),
            map_exists_ext: format!("SELECT 1 FROM {map} WHERE app_id = $1 AND external_user_id = $2"),
            map_get_st: format!(
                "SELECT supertokens_user_id::TEXT, external_user_id::TEXT, external_user_id_info FROM {map} \
                 WHERE app_id = $1 AND supertokens_user_id = $2"
            ),
            map_get_ext: format!(
                "SELECT supertokens_user_id::TEXT, external_user_id::TEXT, external_user_id_info FROM {map} \
                 WHERE app_id = $1 AND external_user_id = $2"
            ),
            map_get_any: format!(
                "SELECT supertokens_user_id::TEXT, external_user_id::TEXT, external_user_id_info FROM {map} \
                 WHERE app_id = $1 AND (supertokens_user_id = $2::BPCHAR OR external_user_id = $3::TEXT) \
                 ORDER BY (supertokens_user_id = $2::BPCHAR) DESC LIMIT 1"
            ),
            map_delete: format!("DELETE FROM {map} WHERE app_id = $1 AND supertokens_user_id = $2"),
            map_set_info: format!(
                "UPDATE {map} SET external_user_id_info = $3 WHERE app_id = $1 AND supertokens_user_id = $2"
            ),
        }
    }
}

impl PgStorage {
    fn map_sql(&self) -> &UserIdMappingSql {
        &self.sql().useridmapping
    }
}

/// A mapping from the three columns of the `map_get_*` statements.
fn mapping_from_row(row: &Row) -> SResult<UserIdMapping> {
    Ok(UserIdMapping {
        supertokens_user_id: col(row, 0)?,
        external_user_id: col(row, 1)?,
        external_user_id_info: col(row, 2)?,
    })
}

impl PgStorage {
    /// The mapping of `id` as the kind of id `id_type` says (with `Any`, the SuperTokens id
    /// first).
    async fn find_mapping(&self, app: &AppId, id: &str, id_type: UserIdType) -> SResult<Option<UserIdMapping>> {
        let s = self.map_sql();
        let row = match id_type {
            UserIdType::SuperTokens => self.query_opt(&s.map_get_st, &[&app.as_str(), &id]).await?,
            UserIdType::External => self.query_opt(&s.map_get_ext, &[&app.as_str(), &id]).await?,
            UserIdType::Any => self.query_opt(&s.map_get_any, &[&app.as_str(), &id, &id]).await?,
        };
        row.map(|r| mapping_from_row(&r)).transpose()
    }
}

#[async_trait]
impl UserIdMappingStorage for PgStorage {
    #[instrument(
        level = "debug", target = "st_storage", name = "storage.create_user_id_mapping", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn create_user_id_mapping(
        &self,
        app: &AppId,
        mapping: &UserIdMapping,
        move_verification: bool,
    ) -> SResult<MappingCreate> {
        let s = self.map_sql();
        let a = app.as_str();
        let (st_id, ext_id) = (&mapping.supertokens_user_id, &mapping.external_user_id);
        self.retrying(|| async {
            let mut conn = self.conn().await?;
            let tx = conn.transaction().await.map_err(error::pg)?;
            let stmt = tx.prepare_cached(&s.map_insert).await.map_err(error::pg)?;
            let inserted = tx.execute(&stmt, &[&a, st_id, ext_id, &mapping.external_user_id_info]).await;
            match inserted {
                Ok(_) => {
                    if move_verification {
                        tx_exec(&tx, &s.map_move_verified, &[&a, st_id, ext_id]).await?;
                        tx_exec(&tx, &s.map_move_ev_tokens, &[&a, st_id, ext_id]).await?;
                    }
                    tx.commit().await.map_err(error::pg)?;
                    Ok(MappingCreate::Ok)
                }
                // The supertokens id must be a user of the app (FK to app_id_to_user_id).
                Err(e) if is_state(&e, &SqlState::FOREIGN_KEY_VIOLATION) => Ok(MappingCreate::UnknownSuperTokensUserId),
                Err(e) if is_state(&e, &SqlState::UNIQUE_VIOLATION) => {
                    drop(tx);
                    drop(conn);
                    let st = self.query_opt(&s.map_exists_st, &[&a, &mapping.supertokens_user_id]).await?.is_some();
                    let ext = self.query_opt(&s.map_exists_ext, &[&a, &mapping.external_user_id]).await?.is_some();
                    Ok(MappingCreate::AlreadyExists { supertokens_id_exists: st, external_id_exists: ext })
                }
                Err(e) => Err(error::pg(e)),
            }
        })
        .await
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.get_user_id_mapping", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn get_user_id_mapping(&self, app: &AppId, id: &str, id_type: UserIdType) -> SResult<Option<UserIdMapping>> {
        self.find_mapping(app, id, id_type).await
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.user_id_uses", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn user_id_uses(&self, app: &AppId, user_id: &str, now_ms: i64) -> SResult<Vec<UserIdUse>> {
        let Some(row) = self.query_opt(&self.map_sql().user_id_uses, &[&app.as_str(), &user_id, &now_ms]).await? else {
            return Ok(Vec::new());
        };
        let kinds = [
            UserIdUse::Session,
            UserIdUse::UserMetadata,
            UserIdUse::UserRoles,
            UserIdUse::EmailVerification,
            UserIdUse::Totp,
        ];
        let mut uses = Vec::new();
        for (i, kind) in kinds.into_iter().enumerate() {
            if col::<bool>(&row, i)? {
                uses.push(kind);
            }
        }
        Ok(uses)
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.delete_user_id_mapping", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn delete_user_id_mapping(&self, app: &AppId, id: &str, id_type: UserIdType) -> SResult<bool> {
        let Some(m) = self.find_mapping(app, id, id_type).await? else {
            return Ok(false);
        };
        Ok(self.execute(&self.map_sql().map_delete, &[&app.as_str(), &m.supertokens_user_id]).await? > 0)
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.update_external_user_id_info", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn update_external_user_id_info(
        &self,
        app: &AppId,
        id: &str,
        id_type: UserIdType,
        info: Option<&str>,
    ) -> SResult<bool> {
        let Some(m) = self.find_mapping(app, id, id_type).await? else {
            return Ok(false);
        };
        Ok(self.execute(&self.map_sql().map_set_info, &[&app.as_str(), &m.supertokens_user_id, &info]).await? > 0)
    }
}
