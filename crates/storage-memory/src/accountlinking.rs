//! Account linking in memory ([`AccountLinkingStorage`]) over the login-method rows of
//! [`crate::users`]: each intent reads the users concerned and the groups sharing their account
//! infos, runs the domain's decision and applies it, all under the store's one lock, which
//! makes it atomic with every other intent (sign-ups, e-mail changes, tenant associations).

use crate::users::{remove_login_method_only, UserRow};
use crate::{Cascade, MemoryStorage, State};
use async_trait::async_trait;
use st_core::accountlinking::{change_conflicts, AccountInfo};
use st_core::ids::AppId;
use st_core::storage::{
    AccountInfoKind, AccountLinkingStorage, AuthUser, LinkDecider, LinkDecision, LinkingState, PrimaryDecider,
    PrimaryDecision, SResult, UnlinkDecider, UnlinkDecision,
};
use tracing::field::Empty;
use tracing::instrument;

/// The groups of the app other than `own` holding one of `infos`, primary users only.
pub(crate) fn primary_holders(s: &State, app: &AppId, infos: &[AccountInfo], own: &[&str]) -> Vec<AuthUser> {
    let holds = |r: &UserRow, info: &AccountInfo| match info {
        AccountInfo::Email(e) => r.email.as_deref() == Some(e.as_str()),
        AccountInfo::PhoneNumber(p) => r.phone_number.as_deref() == Some(p.as_str()),
        AccountInfo::ThirdParty(id, uid) => r.third_party.as_ref().is_some_and(|(a, b)| a == id && b == uid),
    };
    let mut groups: Vec<&str> = Vec::new();
    for ((a, _), r) in &s.users.rows {
        let group = r.primary.as_str();
        if a == app
            && r.is_linked_or_primary
            && !own.contains(&group)
            && !groups.contains(&group)
            && infos.iter().any(|i| holds(r, i))
        {
            groups.push(group);
        }
    }
    groups.iter().filter_map(|g| s.users.auth_user(app, g)).collect()
}

/// The kinds of `new` (account infos a login method of `user_id`'s group is to take) that the
/// account-linking rule refuses ([`change_conflicts`]), under the store's lock.
pub(crate) fn change_refused(s: &State, app: &AppId, user_id: &str, new: &[AccountInfo]) -> Vec<AccountInfoKind> {
    let Some(group) = s.users.auth_user(app, user_id).filter(|g| g.is_primary) else { return Vec::new() };
    let others = primary_holders(s, app, new, &[group.id.as_str()]);
    change_conflicts(&group, new, &others)
}

/// The state of the recipe user (and the primary user) as the domain decides on it.
fn state_of(s: &State, app: &AppId, recipe_user_id: &str, primary_user_id: Option<&str>) -> Option<LinkingState> {
    let recipe = s.users.auth_user(app, recipe_user_id)?;
    let primary = match primary_user_id {
        Some(p) => Some(s.users.auth_user(app, p)?),
        None => None,
    };
    let infos = AccountInfo::of_users(std::iter::once(&recipe).chain(primary.as_ref()));
    let own: Vec<&str> = std::iter::once(recipe.id.as_str()).chain(primary.as_ref().map(|p| p.id.as_str())).collect();
    let others = primary_holders(s, app, &infos, &own);
    Some(LinkingState { recipe, primary, others })
}

#[async_trait]
impl AccountLinkingStorage for MemoryStorage {
    #[instrument(level = "debug", target = "st_storage", name = "storage.linking_state", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %app, otel.status_code = Empty, error.type = Empty))]
    async fn linking_state(
        &self,
        app: &AppId,
        recipe_user_id: &str,
        primary_user_id: Option<&str>,
    ) -> SResult<Option<LinkingState>> {
        Ok(state_of(&self.lock(), app, recipe_user_id, primary_user_id))
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.primary_users_holding", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %app, otel.status_code = Empty, error.type = Empty))]
    async fn primary_users_holding(&self, app: &AppId, infos: &[AccountInfo], own: &[&str]) -> SResult<Vec<AuthUser>> {
        Ok(primary_holders(&self.lock(), app, infos, own))
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.create_primary_user", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %app, otel.status_code = Empty, error.type = Empty))]
    async fn create_primary_user(
        &self,
        app: &AppId,
        recipe_user_id: &str,
        decide: PrimaryDecider<'_>,
    ) -> SResult<Option<PrimaryDecision>> {
        let mut s = self.lock();
        let Some(state) = state_of(&s, app, recipe_user_id, None) else { return Ok(None) };
        let decision = decide(&state);
        if decision == PrimaryDecision::Make {
            if let Some(row) = s.users.rows.get_mut(&(app.clone(), recipe_user_id.to_string())) {
                row.is_linked_or_primary = true;
            }
        }
        Ok(Some(decision))
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.link_accounts", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %app, otel.status_code = Empty, error.type = Empty))]
    async fn link_accounts(
        &self,
        app: &AppId,
        recipe_user_id: &str,
        primary_user_id: &str,
        decide: LinkDecider<'_>,
    ) -> SResult<Option<LinkDecision>> {
        let mut s = self.lock();
        let Some(state) = state_of(&s, app, recipe_user_id, Some(primary_user_id)) else { return Ok(None) };
        let decision = decide(&state);
        if let LinkDecision::Link { primary_user_id } = &decision {
            if let Some(row) = s.users.rows.get_mut(&(app.clone(), recipe_user_id.to_string())) {
                row.primary = primary_user_id.clone();
                row.is_linked_or_primary = true;
            }
            let own = [recipe_user_id.to_string()];
            Cascade::remove_user(&mut s.active_users, app, recipe_user_id, &own);
        }
        Ok(Some(decision))
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.unlink_account", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %app, otel.status_code = Empty, error.type = Empty))]
    async fn unlink_account(
        &self,
        app: &AppId,
        recipe_user_id: &str,
        decide: UnlinkDecider<'_>,
    ) -> SResult<Option<UnlinkDecision>> {
        let mut s = self.lock();
        let Some(group) = s.users.auth_user(app, recipe_user_id) else { return Ok(None) };
        let decision = decide(&group);
        match decision {
            UnlinkDecision::NotLinked => {}
            UnlinkDecision::Unlink => {
                if let Some(row) = s.users.rows.get_mut(&(app.clone(), recipe_user_id.to_string())) {
                    row.primary = recipe_user_id.to_string();
                    row.is_linked_or_primary = false;
                }
            }
            UnlinkDecision::RemoveMethod => remove_login_method_only(&mut s, app, recipe_user_id),
        }
        Ok(Some(decision))
    }
}
