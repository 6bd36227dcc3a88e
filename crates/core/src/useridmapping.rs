//! The user-id mapping recipe: SuperTokens ids ↔ external ids, with the reference's checks of
//! the data other recipes hold under an id.

use crate::cdi::CdiVersion;
use crate::core::Core;
use crate::error::{CoreError, CoreResult};
use crate::ids::AppId;
use crate::storage::{MappingCreate, UserIdMapping, UserIdType, UserIdUse};

/// The reference's 400 for a mapping blocked by data of a non-auth recipe.
pub(crate) fn in_use(kind: UserIdUse) -> CoreError {
    CoreError::bad(format!("UserId is already in use in {} recipe", kind.recipe_name()))
}

impl Core {
    /// Look a mapping up by the kind of id `id_type` says `id` is.
    pub async fn user_id_mapping(
        &self,
        app: &AppId,
        id: &str,
        id_type: UserIdType,
    ) -> CoreResult<Option<UserIdMapping>> {
        Ok(self.storage.get_user_id_mapping(app, id, id_type).await?)
    }

    /// Replace (or, with `None`, remove) a mapping's external-id info; false: no such mapping.
    pub async fn update_external_user_id_info(
        &self,
        app: &AppId,
        id: &str,
        id_type: UserIdType,
        info: Option<&str>,
    ) -> CoreResult<bool> {
        Ok(self.storage.update_external_user_id_info(app, id, id_type, info).await?)
    }

    /// `POST /recipe/userid/map`, in the reference's order: an external id that is already
    /// mapped, an unknown supertokens id, then (unless `force`) an external id that is itself a
    /// user, and data that non-auth recipes keep under the supertokens id. From CDI 4.0, email
    /// verification alone is not an obstacle: it moves to the external id with the mapping.
    /// Before 4.0 it is one like the others (`UserId is already in use in EmailVerification
    /// recipe`).
    pub async fn create_mapping(
        &self,
        app: &AppId,
        mapping: UserIdMapping,
        force: bool,
        version: CdiVersion,
    ) -> CoreResult<MappingCreate> {
        if let Some(existing) =
            self.storage.get_user_id_mapping(app, &mapping.external_user_id, UserIdType::External).await?
        {
            return Ok(MappingCreate::AlreadyExists {
                supertokens_id_exists: existing.supertokens_user_id == mapping.supertokens_user_id,
                external_id_exists: true,
            });
        }
        if self.storage.get_auth_user(app, &mapping.supertokens_user_id).await?.is_none() {
            return Ok(MappingCreate::UnknownSuperTokensUserId);
        }
        let mut move_verification = false;
        if !force {
            if self.storage.get_auth_user(app, &mapping.external_user_id).await?.is_some() {
                return Err(CoreError::bad(
                    "Cannot create a userId mapping where the externalId is also a SuperTokens userID",
                ));
            }
            match self.storage.user_id_uses(app, &mapping.supertokens_user_id, self.now()).await?.as_slice() {
                [] => {}
                [UserIdUse::EmailVerification] if version >= CdiVersion::V4_0 => move_verification = true,
                [first, ..] => return Err(in_use(*first)),
            }
        }
        Ok(self.storage.create_user_id_mapping(app, &mapping, move_verification).await?)
    }

    /// `POST /recipe/userid/map/remove`: Ok(whether a mapping was deleted). Unless `force`, a
    /// mapping whose external id holds non-auth data (metadata, roles, ...) stays, because that
    /// data would lose its user. When the external id is itself a user, the mapping goes
    /// without the check, as in the reference.
    pub async fn delete_mapping(&self, app: &AppId, id: &str, id_type: UserIdType, force: bool) -> CoreResult<bool> {
        let Some(mapping) = self.storage.get_user_id_mapping(app, id, id_type).await? else { return Ok(false) };
        if self.storage.get_auth_user(app, &mapping.external_user_id).await?.is_some() {
            return Ok(self
                .storage
                .delete_user_id_mapping(app, &mapping.supertokens_user_id, UserIdType::SuperTokens)
                .await?);
        }
        if !force {
            if let Some(first) = self.storage.user_id_uses(app, &mapping.external_user_id, self.now()).await?.first() {
                return Err(in_use(*first));
            }
        }
        Ok(self.storage.delete_user_id_mapping(app, id, id_type).await?)
    }
}
