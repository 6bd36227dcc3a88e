//! The passwordless users: the deprecated user lookups and the user update.

use super::{
    check_storable, contact_of, contact_value, findable, method_with, normalise_phone_number,
    PasswordlessUpdateOutcome, RECIPE_ID,
};
use crate::core::Core;
use crate::error::{CoreError, CoreResult};
use crate::ids::{AppId, Email, TenantIdentifier};
use crate::storage::{AuthUser, Contact, FieldUpdate, LoginMethod, PasswordlessUpdateResult};
use crate::users::User;

impl Core {
    /// Deprecated `GET /recipe/user?userId=` (passwordless): the passwordless login method of
    /// that very id as a user of its own (see [`Core::ep_user_by_recipe_id`]).
    pub async fn pl_user_by_recipe_id(&self, app: &AppId, user_id: &str) -> CoreResult<Option<User>> {
        let Some((group, method)) = self.pl_group(app, user_id).await? else { return Ok(None) };
        let own =
            AuthUser { id: method.recipe_user_id.clone(), is_primary: group.is_primary, login_methods: vec![method] };
        Ok(Some(self.user_json(app, &own).await?))
    }

    /// Deprecated `GET /recipe/user?email=` / `?phoneNumber=` (passwordless): the user (whole
    /// group) with a passwordless login method of this contact in the tenant.
    pub async fn pl_user_by_contact(
        &self,
        tenant: &TenantIdentifier,
        email: Option<&str>,
        phone_number: Option<&str>,
    ) -> CoreResult<Option<User>> {
        self.tenant(tenant).await?;
        let Some(contact) = contact_of(email, phone_number).filter(|c| findable(contact_value(c))) else {
            return Ok(None);
        };
        let ids = match &contact {
            Contact::Email(e) => self.storage.users_by_email(tenant, e).await?,
            Contact::Phone(p) => self.storage.users_by_phone_number(tenant, p).await?,
        };
        for user in self.storage.get_auth_users(&tenant.app, &ids).await? {
            if method_with(&user, &contact).is_some() {
                return Ok(Some(self.user_json(&tenant.app, &user).await?));
            }
        }
        Ok(None)
    }

    /// The group of `user_id` (any id form) and that id's own passwordless login method.
    async fn pl_group(&self, app: &AppId, user_id: &str) -> CoreResult<Option<(AuthUser, LoginMethod)>> {
        let id = self.internal_user_id(app, user_id).await?;
        let Some(user) = self.storage.get_auth_user(app, &id).await? else { return Ok(None) };
        let own = user.login_methods.iter().find(|m| m.recipe_id == RECIPE_ID && m.recipe_user_id == id).cloned();
        Ok(own.map(|m| (user, m)))
    }

    /// `PUT /recipe/user` (passwordless): a new e-mail and/or phone number, `Some(None)`
    /// clearing one (both may not end up cleared: the reference's 400). The devices of the old
    /// and the new values go.
    pub async fn pl_update_user(
        &self,
        app: &AppId,
        recipe_user_id: &str,
        email: FieldUpdate<'_>,
        phone_number: FieldUpdate<'_>,
    ) -> CoreResult<PasswordlessUpdateOutcome> {
        let Some((_, method)) = self.pl_group(app, recipe_user_id).await? else {
            return Ok(PasswordlessUpdateOutcome::UnknownUser);
        };
        let email = email.map(|e| e.map(|e| Email::normalise(e).into_string()));
        let phone_number = phone_number.map(|p| p.map(normalise_phone_number));
        if let Some(Some(e)) = &email {
            check_storable(&Contact::Email(e.clone()))?;
        }
        if let Some(Some(p)) = &phone_number {
            check_storable(&Contact::Phone(p.clone()))?;
        }
        let will_have_email = email.as_ref().map_or(method.email.is_some(), Option::is_some);
        let will_have_phone = phone_number.as_ref().map_or(method.phone_number.is_some(), Option::is_some);
        if !will_have_email && !will_have_phone {
            return Err(CoreError::bad("You cannot clear both email and phone number of a user"));
        }
        // A primary user's new e-mail and phone number are checked by the storage, under the
        // linking lock.
        let result = self
            .storage
            .update_passwordless_user(
                app,
                &method.recipe_user_id,
                email.as_ref().map(|e| e.as_deref()),
                phone_number.as_ref().map(|p| p.as_deref()),
            )
            .await?;
        Ok(match result {
            PasswordlessUpdateResult::Ok => PasswordlessUpdateOutcome::Ok,
            PasswordlessUpdateResult::UnknownUser => PasswordlessUpdateOutcome::UnknownUser,
            PasswordlessUpdateResult::EmailAlreadyExists => PasswordlessUpdateOutcome::EmailAlreadyExists,
            PasswordlessUpdateResult::PhoneNumberAlreadyExists => PasswordlessUpdateOutcome::PhoneNumberAlreadyExists,
            PasswordlessUpdateResult::EmailChangeNotAllowed => PasswordlessUpdateOutcome::EmailChangeNotAllowed,
            PasswordlessUpdateResult::PhoneNumberChangeNotAllowed => {
                PasswordlessUpdateOutcome::PhoneNumberChangeNotAllowed
            }
        })
    }

    /// Supertokens ids of the users (primary ids) in `tenant` with a login method of this phone
    /// number (normalised here), for `GET /users/by-accountinfo`.
    pub(crate) async fn users_by_phone_number(&self, tenant: &TenantIdentifier, raw: &str) -> CoreResult<Vec<String>> {
        let phone = normalise_phone_number(raw);
        if !findable(&phone) {
            return Ok(Vec::new());
        }
        Ok(self.storage.users_by_phone_number(tenant, &phone).await?)
    }
}
