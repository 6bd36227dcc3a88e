//! The auth-recipe user tables seen across recipes: users and their login methods (one group
//! per primary user), listing, counts and removal.

use super::compose;
use super::{EmailVerificationStorage, SResult, SessionIdentity, UserIdMappingStorage};
use crate::ids::{AppId, TenantIdentifier};
use async_trait::async_trait;

/// One login method of a user (a "recipe user").
#[derive(Debug, Clone, PartialEq)]
pub struct LoginMethod {
    pub recipe_id: String,
    pub recipe_user_id: String,
    pub tenant_ids: Vec<String>,
    pub time_joined: i64,
    pub email: Option<String>,
    pub phone_number: Option<String>,
    pub third_party: Option<(String, String)>,
}

/// A user: the primary (or standalone) user id and every login method of its group.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthUser {
    pub id: String,
    pub is_primary: bool,
    pub login_methods: Vec<LoginMethod>,
}

/// Query for `GET /users`.
#[derive(Debug, Clone, Default)]
pub struct UserListQuery {
    pub ascending: bool,
    /// Continue from this (time_joined, user id), inclusive: the first user of the page, as
    /// the reference's pagination token names it.
    pub from: Option<(i64, String)>,
    /// A page: at most this many users. A search (`from` and `recipe_ids` unused): at most this
    /// many matching login methods *per recipe*, whichever the backend finds first (the
    /// reference's `LIMIT` without `ORDER BY`, so that a common tag does not read the whole
    /// tenant), and then every primary user of those, de-duplicated, in order.
    pub limit: usize,
    /// Only users with a login method of one of these recipes (empty = all).
    pub recipe_ids: Vec<String>,
    /// Lower-cased prefixes (see [`UserListQuery::is_search`] for how they combine). An
    /// e-mail prefix also matches the start of the domain part.
    pub email_prefixes: Vec<String>,
    pub phone_prefixes: Vec<String>,
    pub provider_prefixes: Vec<String>,
}

impl UserListQuery {
    /// True when any search tag is given. Tag kinds combine with AND, prefixes of one kind
    /// with OR, all on the same login method, as the reference's search does: e-mail with
    /// phone matches only passwordless users, e-mail with provider only third-party users,
    /// phone with provider nobody.
    pub fn is_search(&self) -> bool {
        !(self.email_prefixes.is_empty() && self.phone_prefixes.is_empty() && self.provider_prefixes.is_empty())
    }
}

/// See [`AuthRecipeStorage::user_decorations`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserDecorations {
    /// Supertokens recipe user id → external user id.
    pub external_ids: std::collections::HashMap<String, String>,
    /// `(user id as the application sees it, email)` pairs that are verified.
    pub verified: std::collections::HashSet<(String, String)>,
    /// WebAuthn recipe user id → its credential ids (filled by the domain, not the backends).
    pub webauthn_credentials: std::collections::HashMap<String, Vec<String>>,
}

/// What removing the login method `user_id` of the group `group` (whose login methods are
/// `members`) takes, as the reference decides it for `removeAllLinkedAccounts=false` (and,
/// method by method, for `true`). Both backends follow it.
#[derive(Debug, PartialEq, Eq)]
pub enum Removal {
    /// The group's primary while other login methods remain: only this method's own rows go.
    /// Its id stays the group's id (with its mapping), and so does the data keyed by it
    /// (metadata, roles, sessions, verification, activity): the other login methods share that
    /// user.
    MethodOnly,
    /// The user id and everything keyed by it.
    User,
    /// The last login method of a group whose primary's own method was removed before: the
    /// user, then the primary's id and the data keyed by it (its external id when mapped).
    UserAndGroup,
}

/// See [`Removal`].
pub fn removal(user_id: &str, group: &str, members: &[String]) -> Removal {
    if members.len() > 1 && user_id == group {
        Removal::MethodOnly
    } else if members.len() == 1 && user_id != group {
        Removal::UserAndGroup
    } else {
        Removal::User
    }
}

#[async_trait]
pub trait AuthRecipeStorage: UserIdMappingStorage + EmailVerificationStorage + Send + Sync {
    /// The user whose group contains `user_id` (a supertokens id).
    async fn get_auth_user(&self, app: &AppId, user_id: &str) -> SResult<Option<AuthUser>>;
    /// The users whose groups contain these ids (supertokens ids), one per group, in the order
    /// of their first id; unknown ids are skipped. Backends may answer in one round trip; this
    /// default asks for each.
    async fn get_auth_users(&self, app: &AppId, user_ids: &[String]) -> SResult<Vec<AuthUser>> {
        compose::get_auth_users(self, app, user_ids).await
    }
    /// What user objects need besides the login methods: the external id of each login
    /// method (and of each user's own id) that has one, and which of their emails are verified (under the id the
    /// application uses for the login method: external if mapped). Backends may answer in one
    /// round trip; this default asks per login method.
    async fn user_decorations(&self, app: &AppId, users: &[AuthUser]) -> SResult<UserDecorations> {
        compose::user_decorations(self, app, users).await
    }
    /// Resolve an id given to the session APIs (supertokens or external) to the session's
    /// identity; `None` when no such user exists. Backends may answer in one round trip; this
    /// default composes the other intents.
    async fn session_identity(&self, app: &AppId, user_id: &str) -> SResult<Option<SessionIdentity>> {
        compose::session_identity(self, app, user_id).await
    }
    /// Supertokens ids of users (primary ids) in `tenant` having a login method with this email.
    async fn users_by_email(&self, tenant: &TenantIdentifier, email: &str) -> SResult<Vec<String>>;
    /// Primary user ids and their time joined for a page of `GET /users`.
    async fn list_users(&self, tenant: &TenantIdentifier, query: &UserListQuery) -> SResult<Vec<(String, i64)>>;
    /// Users (primary or standalone) in one tenant or the whole app, optionally by recipe.
    async fn count_users(&self, app: &AppId, tenant: Option<&TenantIdentifier>, recipe_ids: &[String]) -> SResult<u64>;
    /// Remove a user's login method and every trace of it: auth rows, tokens, verification,
    /// metadata, roles, sessions, mapping, last-active. `ids` are all ids the data may be keyed
    /// by (supertokens and external).
    ///
    /// In a linked group, as the reference ([`removal`]): removing the primary's login method
    /// while others remain removes only that method's own rows, and the primary's id stays the
    /// group's id with the data keyed by it; removing the last login method of such a group also
    /// removes the primary's id and its data.
    async fn delete_user(&self, app: &AppId, user_id: &str, ids: &[String]) -> SResult<()>;
}

#[cfg(test)]
mod tests {
    use super::{removal, Removal};

    #[test]
    fn removal_follows_the_reference() {
        let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        // A standalone user, or a primary that is its group's only login method.
        assert_eq!(removal("p", "p", &ids(&["p"])), Removal::User);
        // The primary with other login methods: only its own method goes.
        assert_eq!(removal("p", "p", &ids(&["m", "p"])), Removal::MethodOnly);
        // ...and asked again once its method is gone, with two others left: still nothing else.
        assert_eq!(removal("p", "p", &ids(&["m", "n"])), Removal::MethodOnly);
        // ...with one other left: the whole user (the reference's cascade takes that method too).
        assert_eq!(removal("p", "p", &ids(&["m"])), Removal::User);
        // A linked method with others left.
        assert_eq!(removal("m", "p", &ids(&["m", "p"])), Removal::User);
        // The last method of a group whose primary's method is gone.
        assert_eq!(removal("m", "p", &ids(&["m"])), Removal::UserAndGroup);
    }
}
