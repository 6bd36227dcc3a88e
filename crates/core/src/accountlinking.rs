//! Account linking (§a.15, §g.2): primary users, the checks, linking and unlinking of login
//! methods. Whether to link automatically, and when, is the SDK's decision; the core keeps the
//! rules that hold whatever the SDK decides:
//!
//! * a login method becomes a primary user unless it is linked to another one, or another
//!   primary user that shares a tenant with it holds its e-mail, phone number or provider pair;
//! * a login method is linked to a primary user's group unless it is a primary user or linked
//!   elsewhere, or another primary user that shares a tenant with the union of both users'
//!   tenants holds an account info of the recipe user or of the primary user's login methods
//!   (the union, not the intersection: the reference's comment explains why);
//! * unlinking the primary user's own login method while other login methods remain removes
//!   that method (its id keeps naming the group), since one id cannot name two users.
//!
//! The rules are pure functions ([`decide_primary`], [`decide_link`], [`decide_unlink`],
//! [`account_info_conflict`]); the storage runs them under a lock that covers the account
//! infos concerned (see `storage::accountlinking`). E-mail verification and metadata are not
//! merged on linking (the SDK decides that); sessions of a relinked login method are revoked,
//! as its access tokens' `sub` changes.

use crate::core::Core;
use crate::error::{CoreError, CoreResult};
use crate::ids::AppId;
use crate::storage::{
    AccountInfoConflict, AccountInfoKind, AuthUser, LinkDecision, LinkingState, LoginMethod, PrimaryDecision,
    UnlinkDecision,
};
use crate::users::User;

pub const RECIPE_ID: &str = "accountlinking";

/// The reference's answer to an id that names no user (`UnknownUserIdException`), a 400.
pub const UNKNOWN_USER: &str = "Unknown user ID provided";

/// `description` of `RECIPE_USER_ID_ALREADY_LINKED_WITH_PRIMARY_USER_ID_ERROR` (primary check).
pub const ALREADY_LINKED_TO_ANOTHER_PRIMARY: &str = "This user ID is already linked to another user ID";
/// `description` of `RECIPE_USER_ID_ALREADY_LINKED_WITH_ANOTHER_PRIMARY_USER_ID_ERROR` (link).
pub const RECIPE_USER_ALREADY_LINKED: &str = "The input recipe user ID is already linked to another user ID";

/// `description` of `ACCOUNT_INFO_ALREADY_ASSOCIATED_WITH_ANOTHER_PRIMARY_USER_ID_ERROR`.
pub fn conflict_description(kind: AccountInfoKind) -> &'static str {
    match kind {
        AccountInfoKind::Email => "This user's email is already associated with another user ID",
        AccountInfoKind::PhoneNumber => "This user's phone number is already associated with another user ID",
        AccountInfoKind::ThirdParty => "This user's third party login is already associated with another user ID",
    }
}

/// One account info of a login method.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AccountInfo {
    Email(String),
    PhoneNumber(String),
    /// (provider id, the user's id there)
    ThirdParty(String, String),
}

impl AccountInfo {
    /// A login method's account infos, in the reference's order: e-mail, phone number,
    /// provider pair.
    pub fn of(m: &LoginMethod) -> Vec<AccountInfo> {
        let mut out = Vec::with_capacity(2);
        if let Some(e) = &m.email {
            out.push(AccountInfo::Email(e.clone()));
        }
        if let Some(p) = &m.phone_number {
            out.push(AccountInfo::PhoneNumber(p.clone()));
        }
        if let Some((id, uid)) = &m.third_party {
            out.push(AccountInfo::ThirdParty(id.clone(), uid.clone()));
        }
        out
    }

    /// The account infos of every login method of these users, de-duplicated and sorted.
    pub fn of_users<'a>(users: impl IntoIterator<Item = &'a AuthUser>) -> Vec<AccountInfo> {
        let mut out: Vec<AccountInfo> =
            users.into_iter().flat_map(|u| u.login_methods.iter()).flat_map(AccountInfo::of).collect();
        out.sort();
        out.dedup();
        out
    }

    pub fn kind(&self) -> AccountInfoKind {
        match self {
            AccountInfo::Email(_) => AccountInfoKind::Email,
            AccountInfo::PhoneNumber(_) => AccountInfoKind::PhoneNumber,
            AccountInfo::ThirdParty(..) => AccountInfoKind::ThirdParty,
        }
    }

    /// Whether the login method has this account info.
    pub fn held_by(&self, m: &LoginMethod) -> bool {
        match self {
            AccountInfo::Email(e) => m.email.as_deref() == Some(e.as_str()),
            AccountInfo::PhoneNumber(p) => m.phone_number.as_deref() == Some(p.as_str()),
            AccountInfo::ThirdParty(id, uid) => m.third_party.as_ref().is_some_and(|(a, b)| a == id && b == uid),
        }
    }

    /// A stable text naming the account info (for lock keys).
    pub fn key_text(&self) -> String {
        match self {
            AccountInfo::Email(e) => format!("email\u{1}{e}"),
            AccountInfo::PhoneNumber(p) => format!("phone\u{1}{p}"),
            AccountInfo::ThirdParty(id, uid) => format!("thirdparty\u{1}{id}\u{1}{uid}"),
        }
    }
}

/// The tenants of a user's login methods.
pub fn tenants_of<'a>(users: impl IntoIterator<Item = &'a AuthUser>) -> Vec<&'a str> {
    let mut out: Vec<&str> = users
        .into_iter()
        .flat_map(|u| u.login_methods.iter())
        .flat_map(|m| m.tenant_ids.iter())
        .map(String::as_str)
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// The time a group joined: its oldest login method's.
pub fn time_joined(user: &AuthUser) -> i64 {
    user.login_methods.iter().map(|m| m.time_joined).min().unwrap_or(0)
}

/// The first of `infos` (in order) held by a primary user among `others`, other than `own`,
/// that has a login method in one of `tenants`: the reference's check before a user becomes or
/// joins a primary user, or changes an account info of one. Candidates are tried oldest first,
/// as the reference lists them.
pub fn account_info_conflict(
    infos: &[AccountInfo],
    tenants: &[&str],
    own: &str,
    others: &[AuthUser],
) -> Option<AccountInfoConflict> {
    let mut candidates: Vec<&AuthUser> = others.iter().filter(|u| u.is_primary && u.id != own).collect();
    candidates.sort_by(|a, b| (time_joined(a), &a.id).cmp(&(time_joined(b), &b.id)));
    let shares_tenant =
        |u: &AuthUser| u.login_methods.iter().flat_map(|m| m.tenant_ids.iter()).any(|t| tenants.contains(&t.as_str()));
    for info in infos {
        for u in &candidates {
            if u.login_methods.iter().any(|m| info.held_by(m)) && shares_tenant(u) {
                return Some(AccountInfoConflict { primary_user_id: u.id.clone(), kind: info.kind() });
            }
        }
    }
    None
}

/// The infos of these login methods in order (each method's e-mail, phone number, provider
/// pair), without repeats.
fn ordered_infos<'a>(methods: impl IntoIterator<Item = &'a LoginMethod>) -> Vec<AccountInfo> {
    let mut out: Vec<AccountInfo> = Vec::new();
    for info in methods.into_iter().flat_map(AccountInfo::of) {
        if !out.contains(&info) {
            out.push(info);
        }
    }
    out
}

/// Whether `recipe_user_id` can become a primary user (the reference's `canCreatePrimaryUser`).
pub fn decide_primary(recipe_user_id: &str, state: &LinkingState) -> PrimaryDecision {
    let group = &state.recipe;
    if group.is_primary {
        return if group.id == recipe_user_id {
            PrimaryDecision::AlreadyPrimary
        } else {
            PrimaryDecision::LinkedToAnother { primary_user_id: group.id.clone() }
        };
    }
    let infos = ordered_infos(&group.login_methods);
    let tenants = tenants_of([group]);
    match account_info_conflict(&infos, &tenants, &group.id, &state.others) {
        Some(c) => PrimaryDecision::Conflict(c),
        None => PrimaryDecision::Make,
    }
}

/// Whether the recipe user can be linked to the primary user's group (the reference's
/// `canLinkAccounts`): the primary user first, then the recipe user, then the account infos
/// of both, in the union of their tenants.
pub fn decide_link(state: &LinkingState) -> LinkDecision {
    let Some(primary) = state.primary.as_ref().filter(|p| p.is_primary) else {
        return LinkDecision::NotPrimary;
    };
    let recipe = &state.recipe;
    if recipe.is_primary {
        return if recipe.id == primary.id { LinkDecision::AlreadyLinked } else { LinkDecision::LinkedToAnother };
    }
    let infos = ordered_infos(recipe.login_methods.iter().chain(primary.login_methods.iter()));
    let tenants = tenants_of([recipe, primary]);
    match account_info_conflict(&infos, &tenants, &primary.id, &state.others) {
        Some(c) => LinkDecision::Conflict(c),
        None => LinkDecision::Link { primary_user_id: primary.id.clone() },
    }
}

/// Whether a login method of `group` may take the account infos `new` (an e-mail or phone
/// number change): the kinds of those that another primary user holds in one of the group's
/// tenants, when the group is a primary user (the reference's `EmailChangeNotAllowedException`
/// and `PhoneNumberChangeNotAllowedException`); nothing for a group that is not one.
pub fn change_conflicts(group: &AuthUser, new: &[AccountInfo], others: &[AuthUser]) -> Vec<AccountInfoKind> {
    if !group.is_primary {
        return Vec::new();
    }
    let tenants = tenants_of([group]);
    new.iter()
        .filter_map(|info| account_info_conflict(std::slice::from_ref(info), &tenants, &group.id, others))
        .map(|c| c.kind)
        .collect()
}

/// What unlinking `recipe_user_id` of its `group` does (the reference's `unlinkAccounts`).
pub fn decide_unlink(recipe_user_id: &str, group: &AuthUser) -> UnlinkDecision {
    if !group.is_primary {
        UnlinkDecision::NotLinked
    } else if group.id != recipe_user_id {
        UnlinkDecision::Unlink
    } else if group.login_methods.iter().any(|m| m.recipe_user_id != recipe_user_id) {
        UnlinkDecision::RemoveMethod
    } else {
        UnlinkDecision::Unlink
    }
}

/// `GET …/user/primary/check` and `POST …/user/primary`.
#[derive(Debug)]
pub enum PrimaryOutcome {
    /// It can become (or became) a primary user; the user (whole group) when created.
    Ok { was_already_primary: bool, user: Option<Box<User>> },
    /// It is linked to this primary user (id as the application sees it).
    LinkedToAnother { primary_user_id: String, description: &'static str },
    /// Another primary user sharing a tenant holds one of its account infos.
    Conflict { primary_user_id: String, description: &'static str },
}

/// `GET …/user/link/check` and `POST …/user/link`.
#[derive(Debug)]
pub enum LinkOutcome {
    /// It can be linked (or was); the user (whole group) when linked.
    Ok {
        already_linked: bool,
        user: Option<Box<User>>,
    },
    /// The "primary" user is not a primary user.
    NotPrimary,
    /// The recipe user is a primary user or linked to another one: that user's id, and (when
    /// linking) that user.
    LinkedToAnother {
        primary_user_id: String,
        description: &'static str,
        user: Option<Box<User>>,
    },
    Conflict {
        primary_user_id: String,
        description: &'static str,
    },
}

/// `POST …/user/unlink`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnlinkOutcome {
    pub was_recipe_user_deleted: bool,
    pub was_linked: bool,
}

impl Core {
    /// The supertokens id of a user named by any of its ids; the reference's 400 when it names
    /// no user.
    async fn known_user(&self, app: &AppId, user_id: &str) -> CoreResult<String> {
        let id = self.internal_user_id(app, user_id).await?;
        match self.storage.get_auth_user(app, &id).await? {
            Some(_) => Ok(id),
            None => Err(CoreError::bad(UNKNOWN_USER)),
        }
    }

    /// The outcome of a primary decision that refuses, ids as the application sees them.
    async fn primary_refusal(&self, app: &AppId, decision: PrimaryDecision) -> CoreResult<PrimaryOutcome> {
        Ok(match decision {
            PrimaryDecision::LinkedToAnother { primary_user_id } => PrimaryOutcome::LinkedToAnother {
                primary_user_id: self.external_user_id(app, &primary_user_id).await?,
                description: ALREADY_LINKED_TO_ANOTHER_PRIMARY,
            },
            PrimaryDecision::Conflict(c) => self.conflict_outcome(app, c).await?,
            PrimaryDecision::AlreadyPrimary | PrimaryDecision::Make => {
                return Err(CoreError::Internal("not a refusal".into()))
            }
        })
    }

    async fn conflict_outcome(&self, app: &AppId, c: AccountInfoConflict) -> CoreResult<PrimaryOutcome> {
        Ok(PrimaryOutcome::Conflict {
            primary_user_id: self.external_user_id(app, &c.primary_user_id).await?,
            description: conflict_description(c.kind),
        })
    }

    /// `GET /recipe/accountlinking/user/primary/check`
    pub async fn can_create_primary_user(&self, app: &AppId, recipe_user_id: &str) -> CoreResult<PrimaryOutcome> {
        let id = self.known_user(app, recipe_user_id).await?;
        let Some(state) = self.storage.linking_state(app, &id, None).await? else {
            return Err(CoreError::bad(UNKNOWN_USER));
        };
        match decide_primary(&id, &state) {
            PrimaryDecision::Make => Ok(PrimaryOutcome::Ok { was_already_primary: false, user: None }),
            PrimaryDecision::AlreadyPrimary => Ok(PrimaryOutcome::Ok { was_already_primary: true, user: None }),
            refusal => self.primary_refusal(app, refusal).await,
        }
    }

    /// `POST /recipe/accountlinking/user/primary`
    pub async fn create_primary_user(&self, app: &AppId, recipe_user_id: &str) -> CoreResult<PrimaryOutcome> {
        let id = self.known_user(app, recipe_user_id).await?;
        let decide = |state: &LinkingState| decide_primary(&id, state);
        let Some(decision) = self.storage.create_primary_user(app, &id, &decide).await? else {
            return Err(CoreError::bad(UNKNOWN_USER));
        };
        let was_already_primary = match decision {
            PrimaryDecision::Make => false,
            PrimaryDecision::AlreadyPrimary => true,
            refusal => return self.primary_refusal(app, refusal).await,
        };
        let (user, _) = self.user_for_response(app, &id).await?;
        Ok(PrimaryOutcome::Ok { was_already_primary, user: Some(Box::new(user)) })
    }

    /// The outcome of a link decision that refuses, ids as the application sees them; with
    /// `with_user`, the recipe user's group for `LinkedToAnother`.
    async fn link_refusal(
        &self,
        app: &AppId,
        recipe: &AuthUser,
        decision: LinkDecision,
        with_user: bool,
    ) -> CoreResult<LinkOutcome> {
        Ok(match decision {
            LinkDecision::NotPrimary => LinkOutcome::NotPrimary,
            LinkDecision::LinkedToAnother => LinkOutcome::LinkedToAnother {
                primary_user_id: self.external_user_id(app, &recipe.id).await?,
                description: RECIPE_USER_ALREADY_LINKED,
                user: match with_user {
                    true => Some(Box::new(self.user_json(app, recipe).await?)),
                    false => None,
                },
            },
            LinkDecision::Conflict(c) => LinkOutcome::Conflict {
                primary_user_id: self.external_user_id(app, &c.primary_user_id).await?,
                description: conflict_description(c.kind),
            },
            LinkDecision::AlreadyLinked | LinkDecision::Link { .. } => {
                return Err(CoreError::Internal("not a refusal".into()))
            }
        })
    }

    /// The supertokens ids of the recipe and primary user ids, each the reference's 400 when it
    /// names no user (the recipe user first, as the reference resolves them).
    async fn link_ids(&self, app: &AppId, recipe_user_id: &str, primary_user_id: &str) -> CoreResult<(String, String)> {
        let recipe = self.known_user(app, recipe_user_id).await?;
        let primary = self.known_user(app, primary_user_id).await?;
        Ok((recipe, primary))
    }

    /// `GET /recipe/accountlinking/user/link/check`
    pub async fn can_link_accounts(
        &self,
        app: &AppId,
        recipe_user_id: &str,
        primary_user_id: &str,
    ) -> CoreResult<LinkOutcome> {
        let (recipe, primary) = self.link_ids(app, recipe_user_id, primary_user_id).await?;
        let Some(state) = self.storage.linking_state(app, &recipe, Some(&primary)).await? else {
            return Err(CoreError::bad(UNKNOWN_USER));
        };
        match decide_link(&state) {
            LinkDecision::Link { .. } => Ok(LinkOutcome::Ok { already_linked: false, user: None }),
            LinkDecision::AlreadyLinked => Ok(LinkOutcome::Ok { already_linked: true, user: None }),
            refusal => self.link_refusal(app, &state.recipe, refusal, false).await,
        }
    }

    /// `POST /recipe/accountlinking/user/link`: on a new link, the recipe user's sessions are
    /// revoked (their `sub` is no longer its group's id) and its activity becomes its group's.
    pub async fn link_accounts(
        &self,
        app: &AppId,
        recipe_user_id: &str,
        primary_user_id: &str,
    ) -> CoreResult<LinkOutcome> {
        let (recipe, primary) = self.link_ids(app, recipe_user_id, primary_user_id).await?;
        let Some(decision) = self.storage.link_accounts(app, &recipe, &primary, &decide_link).await? else {
            return Err(CoreError::bad(UNKNOWN_USER));
        };
        let already_linked = match decision {
            LinkDecision::Link { primary_user_id } => {
                self.revoke_sessions_of_login_method(app, &recipe).await?;
                let now = self.now();
                match self.storage.touch_user_last_active(app, &primary_user_id, now).await {
                    Ok(()) => self.activity.mark(app, &[primary_user_id.as_str()], now),
                    Err(e) => tracing::warn!(error = %e, "could not record the user's last activity"),
                }
                false
            }
            LinkDecision::AlreadyLinked => true,
            refusal => {
                let group = self.existing_auth_user(app, &recipe).await?;
                return self.link_refusal(app, &group, refusal, true).await;
            }
        };
        let (user, _) = self.user_for_response(app, &recipe).await?;
        Ok(LinkOutcome::Ok { already_linked, user: Some(Box::new(user)) })
    }

    /// `POST /recipe/accountlinking/user/unlink`
    pub async fn unlink_account(&self, app: &AppId, recipe_user_id: &str) -> CoreResult<UnlinkOutcome> {
        let id = self.known_user(app, recipe_user_id).await?;
        let decide = |group: &AuthUser| decide_unlink(&id, group);
        let Some(decision) = self.storage.unlink_account(app, &id, &decide).await? else {
            return Err(CoreError::bad(UNKNOWN_USER));
        };
        let outcome = match decision {
            UnlinkDecision::NotLinked => {
                return Ok(UnlinkOutcome { was_recipe_user_deleted: false, was_linked: false })
            }
            UnlinkDecision::Unlink => UnlinkOutcome { was_recipe_user_deleted: false, was_linked: true },
            UnlinkDecision::RemoveMethod => UnlinkOutcome { was_recipe_user_deleted: true, was_linked: true },
        };
        self.revoke_sessions_of_login_method(app, &id).await?;
        Ok(outcome)
    }

    /// Whether the account-linking rule refuses `email` to a login method of `group` (another
    /// primary user holds it in one of the group's tenants), read without a lock. The recipes'
    /// own updates decide this in their storage intents, under the linking lock; this is for a
    /// caller that checks before it writes.
    pub(crate) async fn email_taken_by_other_primary(
        &self,
        app: &AppId,
        group: &AuthUser,
        email: &str,
    ) -> CoreResult<bool> {
        if !group.is_primary {
            return Ok(false);
        }
        let new = [AccountInfo::Email(email.to_string())];
        let others = self.storage.primary_users_holding(app, &new, &[group.id.as_str()]).await?;
        Ok(!change_conflicts(group, &new, &others).is_empty())
    }

    /// Revoke the sessions of one login method (under either of its ids), not its group's.
    async fn revoke_sessions_of_login_method(&self, app: &AppId, st_id: &str) -> CoreResult<()> {
        let ids = crate::users::session_lookup_ids(self, app, st_id, false).await?;
        let handles = self.storage.session_handles_for_users(app, None, &ids, self.now()).await?;
        self.storage.delete_sessions(app, &handles).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn method(id: &str, email: Option<&str>, tenants: &[&str], joined: i64) -> LoginMethod {
        LoginMethod {
            recipe_id: "emailpassword".into(),
            recipe_user_id: id.into(),
            tenant_ids: tenants.iter().map(|t| t.to_string()).collect(),
            time_joined: joined,
            email: email.map(str::to_string),
            phone_number: None,
            third_party: None,
        }
    }

    fn user(id: &str, primary: bool, methods: Vec<LoginMethod>) -> AuthUser {
        AuthUser { id: id.into(), is_primary: primary, login_methods: methods }
    }

    fn state(recipe: AuthUser, primary: Option<AuthUser>, others: Vec<AuthUser>) -> LinkingState {
        LinkingState { recipe, primary, others }
    }

    #[test]
    fn primary_rules() {
        let r = user("r", false, vec![method("r", Some("e"), &["t1"], 5)]);
        assert_eq!(decide_primary("r", &state(r.clone(), None, vec![])), PrimaryDecision::Make);
        // Another primary with the e-mail, but in another tenant: fine.
        let other = user("o", true, vec![method("o", Some("e"), &["t2"], 1)]);
        assert_eq!(decide_primary("r", &state(r.clone(), None, vec![other])), PrimaryDecision::Make);
        // ... sharing a tenant through another of its login methods: a conflict.
        let other = user("o", true, vec![method("o", Some("e"), &["t2"], 1), method("x", None, &["t1"], 2)]);
        assert_eq!(
            decide_primary("r", &state(r.clone(), None, vec![other.clone()])),
            PrimaryDecision::Conflict(AccountInfoConflict {
                primary_user_id: "o".into(),
                kind: AccountInfoKind::Email
            })
        );
        // Not primary: no conflict.
        let not_primary = AuthUser { is_primary: false, ..other };
        assert_eq!(decide_primary("r", &state(r, None, vec![not_primary])), PrimaryDecision::Make);
        let linked = user("p", true, vec![method("p", None, &["t1"], 1), method("r", Some("e"), &["t1"], 2)]);
        assert_eq!(
            decide_primary("r", &state(linked.clone(), None, vec![])),
            PrimaryDecision::LinkedToAnother { primary_user_id: "p".into() }
        );
        assert_eq!(decide_primary("p", &state(linked, None, vec![])), PrimaryDecision::AlreadyPrimary);
    }

    #[test]
    fn link_rules() {
        let r = user("r", false, vec![method("r", Some("a"), &["t1"], 5)]);
        let p = user("p", true, vec![method("p", Some("b"), &["t2"], 1)]);
        assert_eq!(
            decide_link(&state(r.clone(), Some(p.clone()), vec![])),
            LinkDecision::Link { primary_user_id: "p".into() }
        );
        let not_primary = AuthUser { is_primary: false, ..p.clone() };
        assert_eq!(decide_link(&state(r.clone(), Some(not_primary), vec![])), LinkDecision::NotPrimary);
        // A third primary with the primary's e-mail in the recipe user's tenant: the union counts.
        let third = user("x", true, vec![method("x", Some("b"), &["t1"], 0)]);
        assert_eq!(
            decide_link(&state(r.clone(), Some(p.clone()), vec![third])),
            LinkDecision::Conflict(AccountInfoConflict { primary_user_id: "x".into(), kind: AccountInfoKind::Email })
        );
        let in_group = user("p", true, vec![method("p", Some("b"), &["t2"], 1), method("r", Some("a"), &["t1"], 5)]);
        assert_eq!(decide_link(&state(in_group.clone(), Some(in_group), vec![])), LinkDecision::AlreadyLinked);
        let elsewhere = user("q", true, vec![method("r", Some("a"), &["t1"], 5)]);
        assert_eq!(decide_link(&state(elsewhere, Some(p), vec![])), LinkDecision::LinkedToAnother);
    }

    #[test]
    fn unlink_rules() {
        let alone = user("r", false, vec![method("r", Some("a"), &["t1"], 5)]);
        assert_eq!(decide_unlink("r", &alone), UnlinkDecision::NotLinked);
        let primary_alone = AuthUser { is_primary: true, ..alone };
        assert_eq!(decide_unlink("r", &primary_alone), UnlinkDecision::Unlink);
        let group = user("p", true, vec![method("p", None, &["t1"], 1), method("r", None, &["t1"], 2)]);
        assert_eq!(decide_unlink("r", &group), UnlinkDecision::Unlink);
        assert_eq!(decide_unlink("p", &group), UnlinkDecision::RemoveMethod);
    }
}
