//! The third-party recipe (social login): sign-in-up with a provider's user, and the
//! deprecated look-ups by id, by provider pair and by e-mail. The OAuth exchange runs in the
//! SDK; the core only stores the pair (provider id, the user's id there) with the e-mail the
//! provider reported last. Provider configs belong to multitenancy.

use crate::cdi::CdiVersion;
use crate::core::Core;
use crate::error::{CoreError, CoreResult};
use crate::ids::{AppId, Email, TenantIdentifier};
use crate::multitenancy::{recipe_enabled, LoginRecipe};
use crate::random::uuid_v4;
use crate::storage::{AuthUser, TenantRecord, ThirdPartyEmailUpdate, ThirdPartySignUp};
use crate::users::User;

pub const RECIPE_ID: &str = "thirdparty";

/// Rounds of sign-up-then-read a sign-in-up tries while the pair changes hands (a user
/// deleted between the two); the reference loops without a bound.
const SIGN_IN_UP_ATTEMPTS: usize = 8;

/// The widths of the reference's columns (`third_party_id VARCHAR(28)`,
/// `third_party_user_id VARCHAR(256)`, `email VARCHAR(256)`). The reference does not check
/// them and fails in the database (a 500); here they are 400s, on both backends alike.
const MAX_THIRD_PARTY_ID: usize = 28;
const MAX_THIRD_PARTY_USER_ID: usize = 256;
const MAX_EMAIL: usize = 256;

/// What `POST /recipe/signinup` did.
#[derive(Debug)]
pub enum SignInUpOutcome {
    /// Signed up (`created`) or in: the user, and the (external when mapped) id of its login
    /// method with this provider pair.
    Ok { created: bool, user: Box<User>, recipe_user_id: String },
    /// The provider reports a new e-mail that another primary user sharing a tenant with this
    /// user's group has (account linking).
    EmailChangeNotAllowed,
}

/// Whether sign-in-up is served on `tenant` at CDI `version` (the reference's
/// `MultitenancyHelper.isThirdPartyEnabled`), else the 403: before 5.1 the recipe must be
/// enabled by that version's rule ([`recipe_enabled`]); from 5.1 on the core never refuses.
fn check_enabled(tenant: &TenantRecord, version: CdiVersion) -> CoreResult<()> {
    if version >= CdiVersion::V5_1 || recipe_enabled(tenant, LoginRecipe::ThirdParty, version) {
        Ok(())
    } else {
        Err(CoreError::Forbidden("ThirdParty login not enabled for tenant".into()))
    }
}

/// A value for a column of `max` characters: no longer, and without NUL (which PostgreSQL's
/// text refuses).
fn check_column(field: &str, value: &str, max: usize) -> CoreResult<()> {
    if value.chars().count() > max {
        return Err(CoreError::bad(format!("{field} must be at most {max} characters long")));
    }
    if value.contains('\0') {
        return Err(CoreError::bad(format!("{field} must not contain a NUL character")));
    }
    Ok(())
}

/// Whether no stored value can equal one of these: they hold a NUL character, which sign-up
/// refuses ([`check_column`]) and PostgreSQL cannot even compare, so a look-up by them finds
/// nothing on both backends (rather than failing on one).
pub(crate) fn stores_nothing_like(values: &[&str]) -> bool {
    values.iter().any(|v| v.contains('\0'))
}

impl Core {
    /// `POST /<tenant>/recipe/signinup`: sign up the provider's user in the tenant, or sign it
    /// in, its e-mail updated to the one the provider reports now (in every tenant's copy of
    /// the pair, as the reference). With `is_verified` that e-mail is marked verified for the
    /// login method.
    ///
    /// CDI 2.7 is the reference's `signInUp2_7`: no recipe-enabled check, and an e-mail change
    /// refused for a primary user is its unhandled exception (a 500). From 2.8 the tenant must
    /// enable the recipe (before 5.1) and the refusal is `EmailChangeNotAllowed`.
    pub async fn third_party_sign_in_up(
        &self,
        tenant: &TenantIdentifier,
        third_party_id: &str,
        third_party_user_id: &str,
        email: &str,
        is_verified: bool,
        version: CdiVersion,
    ) -> CoreResult<SignInUpOutcome> {
        let entry = self.tenant(tenant).await?;
        if version != CdiVersion::V2_7 {
            check_enabled(&entry.record, version)?;
        }
        let email = Email::normalise(email);
        check_column("thirdPartyId", third_party_id, MAX_THIRD_PARTY_ID)?;
        check_column("thirdPartyUserId", third_party_user_id, MAX_THIRD_PARTY_USER_ID)?;
        check_column("email", email.as_str(), MAX_EMAIL)?;
        let app = &tenant.app;
        let mut signed = None;
        for _ in 0..SIGN_IN_UP_ATTEMPTS {
            let new_id = uuid_v4(self.rng.as_ref());
            let found = match self
                .storage
                .third_party_sign_up(tenant, &new_id, third_party_id, third_party_user_id, email.as_str(), self.now())
                .await?
            {
                ThirdPartySignUp::Created => {
                    signed = Some((new_id, true));
                    break;
                }
                ThirdPartySignUp::Exists(found) => found,
            };
            if found.email != email.as_str() {
                // The storage checks a primary user's new e-mail under the linking lock.
                let updated = self
                    .storage
                    .update_third_party_email(app, &found.user_id, third_party_id, third_party_user_id, email.as_str())
                    .await?;
                match updated {
                    // Deleted since: sign up again.
                    ThirdPartyEmailUpdate::Updated(0) => continue,
                    ThirdPartyEmailUpdate::Updated(_) => {}
                    ThirdPartyEmailUpdate::EmailChangeNotAllowed if version == CdiVersion::V2_7 => {
                        return Err(CoreError::Internal("EmailChangeNotAllowedException".into()));
                    }
                    ThirdPartyEmailUpdate::EmailChangeNotAllowed => return Ok(SignInUpOutcome::EmailChangeNotAllowed),
                }
            }
            signed = Some((found.user_id, false));
            break;
        }
        let Some((user_id, created)) = signed else {
            return Err(CoreError::Internal("the third-party user kept changing hands during the sign-in".into()));
        };
        if is_verified {
            // Under the id the application uses for the login method (external when mapped),
            // where the user object looks (the reference writes the supertokens id here; see
            // COMPATIBILITY.md).
            let shown = self.external_user_id(app, &user_id).await?;
            self.storage.set_email_verified(app, &shown, email.as_str()).await?;
        }
        let user = self.existing_auth_user(app, &user_id).await?;
        // Activity of the user's primary id, as the reference records a sign-in-up.
        self.record_activity(app, &user.id).await;
        let (user, recipe_user_id) = self.response_of(app, &user, &user_id).await?;
        Ok(SignInUpOutcome::Ok { created, user: Box::new(user), recipe_user_id })
    }

    /// Deprecated `GET /recipe/user?userId=` (rid thirdparty): as the reference, only the
    /// third-party login method of that very id, as a user of its own (id = that recipe user,
    /// the group's primary flag); an id without such a method is unknown.
    pub async fn third_party_user_by_recipe_id(&self, app: &AppId, user_id: &str) -> CoreResult<Option<User>> {
        let id = self.internal_user_id(app, user_id).await?;
        let Some(group) = self.storage.get_auth_user(app, &id).await? else { return Ok(None) };
        let Some(method) = group.login_methods.iter().find(|m| m.recipe_id == RECIPE_ID && m.recipe_user_id == id)
        else {
            return Ok(None);
        };
        let own = AuthUser {
            id: method.recipe_user_id.clone(),
            is_primary: group.is_primary,
            login_methods: vec![method.clone()],
        };
        Ok(Some(self.user_json(app, &own).await?))
    }

    /// Deprecated `GET /recipe/user?thirdPartyId=&thirdPartyUserId=`: the user (whole group)
    /// with a login method of this provider pair in the tenant.
    pub async fn third_party_user_by_provider(
        &self,
        tenant: &TenantIdentifier,
        third_party_id: &str,
        third_party_user_id: &str,
    ) -> CoreResult<Option<User>> {
        self.tenant(tenant).await?;
        if stores_nothing_like(&[third_party_id, third_party_user_id]) {
            return Ok(None);
        }
        let Some(found) = self.storage.third_party_user(tenant, third_party_id, third_party_user_id).await? else {
            return Ok(None);
        };
        match self.storage.get_auth_user(&tenant.app, &found.primary_user_id).await? {
            Some(user) => Ok(Some(self.user_json(&tenant.app, &user).await?)),
            None => Ok(None),
        }
    }

    /// Deprecated `GET /<tenant>/recipe/users/by-email`: the users of the tenant (whole groups,
    /// by time joined) with a third-party login method of this e-mail; as the reference, a
    /// group is listed once per such method.
    pub async fn third_party_users_by_email(&self, tenant: &TenantIdentifier, email: &str) -> CoreResult<Vec<User>> {
        let normalised = Email::normalise(email);
        if stores_nothing_like(&[email]) {
            self.tenant(tenant).await?;
            return Ok(Vec::new());
        }
        let users = self.users_by_account_info(tenant, Some(email), None, None, true).await?;
        let mut out = Vec::with_capacity(users.len());
        for user in users {
            let methods = user
                .login_methods
                .iter()
                .filter(|l| l.recipe_id == RECIPE_ID && l.email.as_deref() == Some(normalised.as_str()))
                .count();
            for _ in 0..methods {
                out.push(user.clone());
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_checked() {
        assert!(check_column("thirdPartyId", &"g".repeat(28), 28).is_ok());
        assert!(matches!(
            check_column("thirdPartyId", &"g".repeat(29), 28),
            Err(CoreError::BadRequest(m)) if m == "thirdPartyId must be at most 28 characters long"
        ));
        // Characters, not bytes, as VARCHAR counts them.
        assert!(check_column("email", &"é".repeat(256), 256).is_ok());
        assert!(matches!(check_column("email", "a\0b", 256), Err(CoreError::BadRequest(_))));
    }
}
