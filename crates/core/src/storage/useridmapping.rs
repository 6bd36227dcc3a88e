//! User-id mapping storage: SuperTokens ids ↔ external ids, and the check of which recipes
//! hold data under an id before a mapping changes.

use super::SResult;
use crate::ids::AppId;
use async_trait::async_trait;

/// A non-auth recipe that holds data under a user id, in the order the reference checks them
/// before it creates or removes a user-id mapping (§a.13).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserIdUse {
    /// A session that has not expired yet.
    Session,
    UserMetadata,
    UserRoles,
    /// An email-verification token or a verified email.
    EmailVerification,
    /// A TOTP device.
    Totp,
}

impl UserIdUse {
    /// The recipe's name in the reference's "UserId is already in use in … recipe" message.
    pub fn recipe_name(self) -> &'static str {
        match self {
            UserIdUse::Session => "Session",
            UserIdUse::UserMetadata => "UserMetadata",
            UserIdUse::UserRoles => "UserRoles",
            UserIdUse::EmailVerification => "EmailVerification",
            UserIdUse::Totp => "TOTP",
        }
    }
}

/// Which kind of id a caller gives (the CDI's `userIdType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserIdType {
    /// A SuperTokens user id.
    SuperTokens,
    /// An external user id (the application's own).
    External,
    /// Either; a SuperTokens id is tried first.
    Any,
}

/// A user-id mapping row.
#[derive(Debug, Clone, PartialEq)]
pub struct UserIdMapping {
    pub supertokens_user_id: String,
    pub external_user_id: String,
    pub external_user_id_info: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MappingCreate {
    Ok,
    UnknownSuperTokensUserId,
    AlreadyExists { supertokens_id_exists: bool, external_id_exists: bool },
}

#[async_trait]
pub trait UserIdMappingStorage: Send + Sync {
    /// Create a mapping unless either id is already mapped. With `move_verification`, email
    /// verification tokens and verified emails stored under the supertokens id move to the
    /// external id in the same transaction (the reference's exception for email verification).
    async fn create_user_id_mapping(
        &self,
        app: &AppId,
        mapping: &UserIdMapping,
        move_verification: bool,
    ) -> SResult<MappingCreate>;
    /// Which non-auth recipes hold data under `user_id` (sessions only if they expire at or
    /// after `now_ms`), in [`UserIdUse`] order.
    async fn user_id_uses(&self, app: &AppId, user_id: &str, now_ms: i64) -> SResult<Vec<UserIdUse>>;
    /// Look a mapping up by the kind of id `id_type` says it is.
    async fn get_user_id_mapping(&self, app: &AppId, id: &str, id_type: UserIdType) -> SResult<Option<UserIdMapping>>;
    async fn delete_user_id_mapping(&self, app: &AppId, id: &str, id_type: UserIdType) -> SResult<bool>;
    async fn update_external_user_id_info(
        &self,
        app: &AppId,
        id: &str,
        id_type: UserIdType,
        info: Option<&str>,
    ) -> SResult<bool>;
}
