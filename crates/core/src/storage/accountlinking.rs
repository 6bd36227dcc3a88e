//! Account-linking storage: primary users, linking and unlinking of login methods.
//!
//! A primary user is a login method flagged `is_linked_or_is_a_primary_user` whose group id
//! (`primary_or_recipe_user_id`) is its own id; the login methods linked to it carry its id as
//! their group id and the flag too. The rules (who may become primary, what may be linked) are
//! the domain's (`crate::accountlinking`): each intent reads the [`LinkingState`] of the users
//! concerned under a lock that covers their account infos (e-mails, phone numbers, provider
//! pairs), runs the domain's pure decision on it and applies what it decided, so that two
//! concurrent intents that could give one account info to two primary users of a tenant are
//! decided one after the other, on every instance of a shared database.

use super::{AccountInfoKind, AuthUser, SResult};
use crate::accountlinking::AccountInfo;
use crate::ids::AppId;
use async_trait::async_trait;

/// The users an account-linking intent decides about, read under its lock.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkingState {
    /// The group of the recipe user id.
    pub recipe: AuthUser,
    /// Linking: the group of the primary user id.
    pub primary: Option<AuthUser>,
    /// The other groups of the app holding an e-mail, a phone number or a provider pair of a
    /// login method of `recipe` or `primary`: at least every such primary user (a backend may
    /// leave out the groups that are not primary users, which cannot conflict).
    pub others: Vec<AuthUser>,
}

/// An account info of a login method held by another primary user that shares a tenant with
/// the user concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountInfoConflict {
    /// The other primary user's (supertokens) id.
    pub primary_user_id: String,
    pub kind: AccountInfoKind,
}

/// Whether the recipe user can become a primary user (decided by the domain).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrimaryDecision {
    /// It is one already: nothing to write.
    AlreadyPrimary,
    /// It is linked to this primary user.
    LinkedToAnother {
        primary_user_id: String,
    },
    Conflict(AccountInfoConflict),
    /// Flag it primary.
    Make,
}

/// Whether the recipe user can be linked to the primary user (decided by the domain).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkDecision {
    /// The "primary" user is neither a primary user nor linked to one.
    NotPrimary,
    /// Already in the primary user's group: nothing to write.
    AlreadyLinked,
    /// The recipe user is a primary user or linked to another one.
    LinkedToAnother,
    Conflict(AccountInfoConflict),
    /// Link the recipe user to this group (the primary user id's group id).
    Link {
        primary_user_id: String,
    },
}

/// What unlinking a login method does (decided by the domain).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnlinkDecision {
    /// A standalone user: nothing to write.
    NotLinked,
    /// Make it a standalone user again (a linked login method, or a primary user that is its
    /// group's only login method).
    Unlink,
    /// The primary user's own login method while other login methods remain: that method's own
    /// rows go (as [`super::AuthRecipeStorage::delete_user`] removes it: the id stays the
    /// group's id, with the data keyed by it), since the id cannot name two users.
    RemoveMethod,
}

/// Pure decisions the backends run on the state they read under their lock.
pub type PrimaryDecider<'a> = &'a (dyn Fn(&LinkingState) -> PrimaryDecision + Send + Sync);
pub type LinkDecider<'a> = &'a (dyn Fn(&LinkingState) -> LinkDecision + Send + Sync);
pub type UnlinkDecider<'a> = &'a (dyn Fn(&AuthUser) -> UnlinkDecision + Send + Sync);

#[async_trait]
pub trait AccountLinkingStorage: Send + Sync {
    /// The state of `recipe_user_id` (and, for a link, `primary_user_id`; supertokens ids),
    /// read without a lock, for the checks; `None` when an id names no user.
    async fn linking_state(
        &self,
        app: &AppId,
        recipe_user_id: &str,
        primary_user_id: Option<&str>,
    ) -> SResult<Option<LinkingState>>;

    /// The primary users of the app, other than the groups `own`, with a login method holding
    /// one of `infos` (read without a lock).
    async fn primary_users_holding(&self, app: &AppId, infos: &[AccountInfo], own: &[&str]) -> SResult<Vec<AuthUser>>;

    /// Under the lock, decide with `decide` and, on [`PrimaryDecision::Make`], flag the user a
    /// primary user. `None`: the id names no user.
    async fn create_primary_user(
        &self,
        app: &AppId,
        recipe_user_id: &str,
        decide: PrimaryDecider<'_>,
    ) -> SResult<Option<PrimaryDecision>>;

    /// Under the lock, decide with `decide` and, on [`LinkDecision::Link`], link the recipe
    /// user to that group: its group id and flag, the group's time joined (the minimum of its
    /// login methods') on every row, and the recipe user's last-activity row removed (its
    /// activity is its group's now). `None`: an id names no user.
    async fn link_accounts(
        &self,
        app: &AppId,
        recipe_user_id: &str,
        primary_user_id: &str,
        decide: LinkDecider<'_>,
    ) -> SResult<Option<LinkDecision>>;

    /// Under the lock, decide with `decide` on the recipe user's group and apply it (see
    /// [`UnlinkDecision`]); the group's time joined is recomputed. `None`: the id names no user.
    async fn unlink_account(
        &self,
        app: &AppId,
        recipe_user_id: &str,
        decide: UnlinkDecider<'_>,
    ) -> SResult<Option<UnlinkDecision>>;
}
