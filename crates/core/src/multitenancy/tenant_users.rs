//! An existing user added to another tenant, or taken out of one (`POST
//! /<tenant>/recipe/multitenancy/tenant/user[/remove]`), as the reference's
//! `Multitenancy.addUserIdToTenant` / `removeUserIdFromTenant`. The uniqueness rules (§g.1) are
//! checked by the storage intent, atomically with the write.

use crate::core::Core;
use crate::error::CoreResult;
use crate::ids::{AppId, TenantIdentifier};
use crate::storage::{AccountInfoKind, AddUserToTenant, UserIdType};

/// What adding a user to a tenant did, as the API answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssociationOutcome {
    /// `OK`, `wasAlreadyAssociated`.
    Associated { was_already_associated: bool },
    /// `UNKNOWN_USER_ID_ERROR`
    UnknownUser,
    /// `EMAIL_ALREADY_EXISTS_ERROR`
    EmailAlreadyExists,
    /// `PHONE_NUMBER_ALREADY_EXISTS_ERROR`
    PhoneNumberAlreadyExists,
    /// `THIRD_PARTY_USER_ALREADY_EXISTS_ERROR`
    ThirdPartyUserAlreadyExists,
    /// `ASSOCIATION_NOT_ALLOWED_ERROR` with the reference's `reason`.
    NotAllowed { reason: String },
}

/// Who a user id given to these APIs names (the reference's
/// `getStorageAndUserIdMappingForTenantSpecificApi` with `UserIdType.ANY`).
enum TenantUser {
    /// A login method: its supertokens id and, when mapped, its external id.
    Auth {
        st_id: String,
        external: Option<String>,
    },
    /// No login method, but non-auth data (sessions, metadata, roles, …) is kept under the id.
    DataOnly,
    Unknown,
}

impl Core {
    async fn tenant_user(&self, app: &AppId, id: &str) -> CoreResult<TenantUser> {
        if self.storage.get_auth_user(app, id).await?.is_some() {
            let external =
                self.storage.get_user_id_mapping(app, id, UserIdType::SuperTokens).await?.map(|m| m.external_user_id);
            return Ok(TenantUser::Auth { st_id: id.to_string(), external });
        }
        if let Some(m) = self.storage.get_user_id_mapping(app, id, UserIdType::External).await? {
            return Ok(TenantUser::Auth { st_id: m.supertokens_user_id, external: Some(m.external_user_id) });
        }
        if !self.storage.user_id_uses(app, id, self.now()).await?.is_empty() {
            return Ok(TenantUser::DataOnly);
        }
        Ok(TenantUser::Unknown)
    }

    /// `POST /<tenant>/recipe/multitenancy/tenant/user`: add the login method `user_id`
    /// (supertokens or external id) to `tenant`.
    pub async fn add_user_to_tenant(&self, tenant: &TenantIdentifier, user_id: &str) -> CoreResult<AssociationOutcome> {
        self.tenant(tenant).await?;
        let TenantUser::Auth { st_id, .. } = self.tenant_user(&tenant.app, user_id).await? else {
            return Ok(AssociationOutcome::UnknownUser);
        };
        let outcome = match self.storage.add_user_to_tenant(tenant, &st_id).await {
            Ok(o) => o,
            Err(crate::StorageError::TenantOrAppNotFound) => {
                return Err(crate::CoreError::TenantOrAppNotFound(tenant.not_found_message()))
            }
            Err(e) => return Err(e.into()),
        };
        Ok(match outcome {
            AddUserToTenant::Added => AssociationOutcome::Associated { was_already_associated: false },
            AddUserToTenant::AlreadyAssociated => AssociationOutcome::Associated { was_already_associated: true },
            AddUserToTenant::UnknownUser => AssociationOutcome::UnknownUser,
            AddUserToTenant::EmailAlreadyExists => AssociationOutcome::EmailAlreadyExists,
            AddUserToTenant::PhoneNumberAlreadyExists => AssociationOutcome::PhoneNumberAlreadyExists,
            AddUserToTenant::ThirdPartyUserAlreadyExists => AssociationOutcome::ThirdPartyUserAlreadyExists,
            AddUserToTenant::PrimaryUserConflict { info, primary_user_id } => {
                // The messages of the reference's `AnotherPrimaryUserWith…AlreadyExistsException`.
                let what = match info {
                    AccountInfoKind::Email => "email",
                    AccountInfoKind::PhoneNumber => "phone number",
                    AccountInfoKind::ThirdParty => "third party info",
                };
                AssociationOutcome::NotAllowed {
                    reason: format!("Another primary user with {what} already exists: {primary_user_id}"),
                }
            }
        })
    }

    /// `POST /<tenant>/recipe/multitenancy/tenant/user/remove`: take the user out of `tenant`
    /// with its sessions, verification tokens, roles and TOTP codes there; `None` for an id
    /// naming no user and no data (`UNKNOWN_USER_ID_ERROR`), else whether anything was removed.
    /// As the reference, an id that names no login method but holds data only has its data
    /// removed. The data is looked for under both forms of a mapped user's id (the reference
    /// takes the external one only).
    pub async fn remove_user_from_tenant(&self, tenant: &TenantIdentifier, user_id: &str) -> CoreResult<Option<bool>> {
        self.tenant(tenant).await?;
        let (login_method, data_ids) = match self.tenant_user(&tenant.app, user_id).await? {
            TenantUser::Auth { st_id, external } => {
                let ids = external.into_iter().chain(std::iter::once(st_id.clone())).collect();
                (Some(st_id), ids)
            }
            TenantUser::DataOnly => (None, vec![user_id.to_string()]),
            TenantUser::Unknown => return Ok(None),
        };
        Ok(Some(self.storage.remove_user_from_tenant(tenant, login_method.as_deref(), &data_ids).await?))
    }
}
