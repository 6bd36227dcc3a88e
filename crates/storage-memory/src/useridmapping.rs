//! User-id mapping in memory ([`UserIdMappingStorage`]): SuperTokens ids ↔ external ids, and
//! which recipes' tables hold data under an id (read from their own modules' tables).

use crate::{Cascade, MemoryStorage};
use async_trait::async_trait;
use st_core::ids::AppId;
use st_core::storage::{MappingCreate, SResult, UserIdMapping, UserIdMappingStorage, UserIdType, UserIdUse};
use tracing::field::Empty;
use tracing::instrument;

#[derive(Default)]
pub(crate) struct Tables {
    pub(crate) rows: Vec<(AppId, UserIdMapping)>,
}

impl Tables {
    /// The external id mapped to the supertokens id `st_id`.
    pub(crate) fn external_of(&self, app: &AppId, st_id: &str) -> Option<String> {
        self.rows
            .iter()
            .find(|(a, m)| a == app && m.supertokens_user_id == st_id)
            .map(|(_, m)| m.external_user_id.clone())
    }

    /// The index of the mapping of `id` as the kind of id `id_type` says.
    fn find(&self, app: &AppId, id: &str, id_type: UserIdType) -> Option<usize> {
        self.rows.iter().position(|(a, m)| {
            a == app
                && match id_type {
                    UserIdType::SuperTokens => m.supertokens_user_id == id,
                    UserIdType::External => m.external_user_id == id,
                    UserIdType::Any => m.supertokens_user_id == id || m.external_user_id == id,
                }
        })
    }
}

impl Cascade for Tables {
    fn remove_app(&mut self, app: &AppId) {
        self.rows.retain(|(a, _)| a != app);
    }

    fn remove_user(&mut self, app: &AppId, user_id: &str, _ids: &[String]) {
        self.rows.retain(|(a, m)| !(a == app && m.supertokens_user_id == user_id));
    }
}

#[async_trait]
impl UserIdMappingStorage for MemoryStorage {
    #[instrument(level = "debug", target = "st_storage", name = "storage.create_user_id_mapping", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %app, otel.status_code = Empty, error.type = Empty))]
    async fn create_user_id_mapping(
        &self,
        app: &AppId,
        mapping: &UserIdMapping,
        move_verification: bool,
    ) -> SResult<MappingCreate> {
        let mut s = self.lock();
        if !s.users.rows.contains_key(&(app.clone(), mapping.supertokens_user_id.clone())) {
            return Ok(MappingCreate::UnknownSuperTokensUserId);
        }
        let st = s.useridmapping.find(app, &mapping.supertokens_user_id, UserIdType::SuperTokens).is_some();
        let ext = s.useridmapping.find(app, &mapping.external_user_id, UserIdType::External).is_some();
        if st || ext {
            return Ok(MappingCreate::AlreadyExists { supertokens_id_exists: st, external_id_exists: ext });
        }
        if move_verification {
            s.emailverification.move_user(app, &mapping.supertokens_user_id, &mapping.external_user_id);
        }
        s.useridmapping.rows.push((app.clone(), mapping.clone()));
        Ok(MappingCreate::Ok)
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.user_id_uses", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %app, otel.status_code = Empty, error.type = Empty))]
    async fn user_id_uses(&self, app: &AppId, user_id: &str, now_ms: i64) -> SResult<Vec<UserIdUse>> {
        let s = self.lock();
        let checks = [
            (UserIdUse::Session, s.sessions.has_live(app, user_id, now_ms)),
            (UserIdUse::UserMetadata, s.usermetadata.holds_user(app, user_id)),
            (UserIdUse::UserRoles, s.userroles.holds_user(app, user_id)),
            (UserIdUse::EmailVerification, s.emailverification.holds_user(app, user_id)),
            (UserIdUse::Totp, s.totp.holds_user(app, user_id)),
        ];
        Ok(checks.into_iter().filter(|(_, used)| *used).map(|(kind, _)| kind).collect())
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.get_user_id_mapping", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %app, otel.status_code = Empty, error.type = Empty))]
    async fn get_user_id_mapping(&self, app: &AppId, id: &str, id_type: UserIdType) -> SResult<Option<UserIdMapping>> {
        let s = self.lock();
        let t = &s.useridmapping;
        if id_type == UserIdType::Any {
            // Prefer the supertokens-id match, as the reference does for ANY.
            if let Some(i) = t.find(app, id, UserIdType::SuperTokens) {
                return Ok(Some(t.rows[i].1.clone()));
            }
        }
        Ok(t.find(app, id, id_type).map(|i| t.rows[i].1.clone()))
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.delete_user_id_mapping", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %app, otel.status_code = Empty, error.type = Empty))]
    async fn delete_user_id_mapping(&self, app: &AppId, id: &str, id_type: UserIdType) -> SResult<bool> {
        let mut s = self.lock();
        let t = &mut s.useridmapping;
        match t.find(app, id, id_type) {
            Some(i) => {
                t.rows.remove(i);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.update_external_user_id_info",
        skip_all, fields(otel.kind = "client", db.system = "memory", app_id = %app, otel.status_code = Empty,
        error.type = Empty))]
    async fn update_external_user_id_info(
        &self,
        app: &AppId,
        id: &str,
        id_type: UserIdType,
        info: Option<&str>,
    ) -> SResult<bool> {
        let mut s = self.lock();
        let t = &mut s.useridmapping;
        match t.find(app, id, id_type) {
            Some(i) => {
                t.rows[i].1.external_user_id_info = info.map(str::to_string);
                Ok(true)
            }
            None => Ok(false),
        }
    }
}
