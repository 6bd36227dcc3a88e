//! Third-party storage: users identified by a provider's id and the user's id there
//! (unique per tenant), with the e-mail the provider last reported.

use super::SResult;
use crate::ids::{AppId, TenantIdentifier};
use async_trait::async_trait;

/// A third-party login method found by its provider pair in one tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThirdPartyLogin {
    /// The login method's (recipe user's) supertokens id.
    pub user_id: String,
    /// The supertokens id of its group: its primary user's, or its own.
    pub primary_user_id: String,
    /// The e-mail stored for it.
    pub email: String,
}

/// What [`ThirdPartyStorage::third_party_sign_up`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ThirdPartySignUp {
    /// The user was inserted.
    Created,
    /// The tenant already has a login method for this provider pair (found before the
    /// insert, or created by a concurrent sign-up that won): nothing was written.
    Exists(ThirdPartyLogin),
}

/// What [`ThirdPartyStorage::update_third_party_email`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThirdPartyEmailUpdate {
    /// The e-mail of this many login methods was set.
    Updated(u64),
    /// The login method's group is a primary user and another primary user of one of its
    /// tenants has the e-mail (`crate::accountlinking::change_conflicts`): nothing was written.
    EmailChangeNotAllowed,
}

#[async_trait]
pub trait ThirdPartyStorage: Send + Sync {
    /// Third-party sign-up: insert the user `user_id` of provider pair (`third_party_id`,
    /// `third_party_user_id`) with `email` in `tenant`, unless the tenant has that pair already,
    /// which is then returned. Of concurrent sign-ups with one pair in one tenant, exactly one
    /// creates the user and the others get it.
    async fn third_party_sign_up(
        &self,
        tenant: &TenantIdentifier,
        user_id: &str,
        third_party_id: &str,
        third_party_user_id: &str,
        email: &str,
        now_ms: i64,
    ) -> SResult<ThirdPartySignUp>;
    /// The login method of `tenant` with this provider pair.
    async fn third_party_user(
        &self,
        tenant: &TenantIdentifier,
        third_party_id: &str,
        third_party_user_id: &str,
    ) -> SResult<Option<ThirdPartyLogin>>;
    /// Set the e-mail of every third-party login method of the app with this provider pair (in
    /// any tenant, as the reference's update does), unless the account-linking rule refuses it
    /// for the login method `user_id` (the one signing in), decided under the lock the linking
    /// intents take (see `super::accountlinking`).
    async fn update_third_party_email(
        &self,
        app: &AppId,
        user_id: &str,
        third_party_id: &str,
        third_party_user_id: &str,
        email: &str,
    ) -> SResult<ThirdPartyEmailUpdate>;
}
