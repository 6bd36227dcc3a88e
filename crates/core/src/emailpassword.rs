//! The email-password recipe: sign-up, sign-in, password-reset tokens, reset, updates of
//! e-mail and password, hash import, and the cron job that removes expired reset tokens.

use crate::cdi::CdiVersion;
use crate::core::Core;
use crate::error::{CoreError, CoreResult};
use crate::ids::{AppId, Email, TenantIdentifier};
use crate::jobs::ExpiryJob;
use crate::multitenancy::{recipe_enabled, LoginRecipe};
use crate::random::{bytes, sha256_hex, uuid_v4};
use crate::storage::{AuthUser, LoginMethod, SignUpResult, TenantRecord, UpdateResult};
use crate::users::is_fake_email;
use crate::users::User;
use std::time::Duration;

#[derive(Debug)]
pub enum SignUpOutcome {
    Ok(Box<User>, String),
    EmailAlreadyExists,
}

#[derive(Debug)]
pub enum SignInOutcome {
    Ok(Box<User>, String),
    WrongCredentials,
}

/// Rounds of look-up-then-write a password-hash import tries while the e-mail changes hands.
pub(crate) const IMPORT_ATTEMPTS: usize = 8;

/// Whether sign-up, sign-in, reset tokens and imports are served on `tenant` at CDI `version`
/// (the reference's `MultitenancyHelper.isEmailPasswordEnabled`), else a 403: before 5.1 the
/// recipe must be enabled by that version's rule ([`recipe_enabled`]: before 5.0 the first-factor
/// list, if any, must name `emailpassword`; at 5.0 it must not be empty). From 5.1 on the core
/// never refuses on these grounds (the SDK decides).
fn check_enabled(tenant: &TenantRecord, version: CdiVersion) -> CoreResult<()> {
    if version >= CdiVersion::V5_1 || recipe_enabled(tenant, LoginRecipe::EmailPassword, version) {
        Ok(())
    } else {
        Err(CoreError::Forbidden("Email password login not enabled for tenant".into()))
    }
}

/// `RemoveOldPasswordResetTokens`: delete expired password-reset tokens, every hour.
pub const DELETE_EXPIRED_RESET_TOKENS: ExpiryJob = ExpiryJob {
    name: "RemoveOldPasswordResetTokens",
    interval: Duration::from_secs(3600),
    delete: |core, now| Box::pin(async move { Ok(core.storage.delete_expired_password_reset_tokens(now).await?) }),
};

impl Core {
    /// Deprecated `GET /recipe/user?email=`: the user (whole group) with an e-mail-password
    /// login method of this e-mail in the tenant.
    pub async fn ep_user_by_email(&self, tenant: &TenantIdentifier, email: &str) -> CoreResult<Option<User>> {
        self.tenant(tenant).await?;
        let normalised = Email::normalise(email);
        let users = self.users_by_account_info(tenant, Some(email), None, None, true).await?;
        Ok(users.into_iter().find(|u| {
            u.login_methods
                .iter()
                .any(|l| l.recipe_id == "emailpassword" && l.email.as_deref() == Some(normalised.as_str()))
        }))
    }

    /// Deprecated `GET /recipe/user?userId=`: as the reference, only the e-mail-password login
    /// method of that very id, as a user of its own (id = that recipe user, the group's primary
    /// flag); an id without such a method is unknown.
    pub async fn ep_user_by_recipe_id(&self, app: &AppId, user_id: &str) -> CoreResult<Option<User>> {
        let Some((group, method)) = self.ep_group(app, user_id).await? else { return Ok(None) };
        let own =
            AuthUser { id: method.recipe_user_id.clone(), is_primary: group.is_primary, login_methods: vec![method] };
        Ok(Some(self.user_json(app, &own).await?))
    }

    /// `POST /<tenant>/recipe/signup`
    pub async fn sign_up_with_password(
        &self,
        tenant: &TenantIdentifier,
        email: &str,
        password: &str,
        version: CdiVersion,
    ) -> CoreResult<SignUpOutcome> {
        if password.is_empty() {
            return Err(CoreError::bad("Password cannot be an empty string"));
        }
        let entry = self.tenant(tenant).await?;
        check_enabled(&entry.record, version)?;
        let cfg = self.app_config(&tenant.app).await?;
        let email = Email::normalise(email);
        let hash = self.hashing.hash(password, &cfg, bytes::<16>(self.rng.as_ref())).await?;
        let user_id = uuid_v4(self.rng.as_ref());
        match self.storage.sign_up_with_password(tenant, &user_id, email.as_str(), &hash, self.now()).await? {
            SignUpResult::Created => {
                // As the reference: the SDKs' placeholder addresses (for users without a real
                // one) are verified from the start.
                if is_fake_email(email.as_str()) {
                    self.storage.set_email_verified(&tenant.app, &user_id, email.as_str()).await?;
                }
                self.record_activity(&tenant.app, &user_id).await;
                let (user, rid) = self.user_for_response(&tenant.app, &user_id).await?;
                Ok(SignUpOutcome::Ok(Box::new(user), rid))
            }
            SignUpResult::EmailAlreadyExists => Ok(SignUpOutcome::EmailAlreadyExists),
        }
    }

    /// `POST /<tenant>/recipe/signin`. An unknown e-mail costs one hash verification too.
    pub async fn ep_sign_in(
        &self,
        tenant: &TenantIdentifier,
        email: &str,
        password: &str,
        version: CdiVersion,
    ) -> CoreResult<SignInOutcome> {
        let entry = self.tenant(tenant).await?;
        check_enabled(&entry.record, version)?;
        let cfg = self.app_config(&tenant.app).await?;
        let email = Email::normalise(email);
        // Sign-in lockout (crate::lockout; off by default: one branch, no storage call). A
        // locked e-mail still pays the lookup and the hash check below.
        let lockout = self.lockout_before_sign_in(tenant, &email).await?;
        match self.storage.password_user_by_email(tenant, email.as_str()).await? {
            None => {
                self.hashing.verify_dummy(password, &cfg, bytes::<16>(self.rng.as_ref())).await?;
                self.lockout_after_sign_in(tenant, &email, lockout, false).await?;
                Ok(SignInOutcome::WrongCredentials)
            }
            Some((user_id, hash)) => {
                let passed =
                    self.hashing.verify(password, &hash, cfg.firebase_password_hashing_signer_key.clone()).await?;
                if self.lockout_after_sign_in(tenant, &email, lockout, passed).await? {
                    return Ok(SignInOutcome::WrongCredentials);
                }
                if passed {
                    let user = self.existing_auth_user(&tenant.app, &user_id).await?;
                    // Activity of the user's primary id, as the reference records a sign-in.
                    self.record_activity(&tenant.app, &user.id).await;
                    let (user, rid) = self.response_of(&tenant.app, &user, &user_id).await?;
                    Ok(SignInOutcome::Ok(Box::new(user), rid))
                } else {
                    Ok(SignInOutcome::WrongCredentials)
                }
            }
        }
    }

    /// The email-password login method named by `user_id` (its own id, or the external id
    /// mapped to it). As the reference, another login method of the same user does not count:
    /// `PUT /recipe/user` on a primary whose own method is not email-password is an unknown user.
    /// The group of `user_id` (any id form) and that id's own e-mail-password login method;
    /// `None` when the id has no such method.
    pub(crate) async fn ep_group(&self, app: &AppId, user_id: &str) -> CoreResult<Option<(AuthUser, LoginMethod)>> {
        let id = self.internal_user_id(app, user_id).await?;
        let Some(user) = self.storage.get_auth_user(app, &id).await? else { return Ok(None) };
        let own = user.login_methods.iter().find(|m| m.recipe_id == "emailpassword" && m.recipe_user_id == id).cloned();
        Ok(own.map(|m| (user, m)))
    }

    /// `POST /<tenant>/recipe/user/password/reset/token`, in the reference's order: the
    /// recipe-enabled check, the user, then the e-mail.
    ///
    /// From CDI 4.0 the token is for the given user and `email` (required, but an unknown user
    /// is reported first), whatever the user's login methods: for a linked user without an
    /// email-password method the SDK passes the primary's id, and adds such a method when the
    /// token is consumed. Before 4.0 `email` is not read: the user must be a single
    /// email-password login method (a linked user is the reference's 400 `Please use CDI
    /// version >= 4.0`, another recipe's user is unknown), and the token carries its e-mail.
    pub async fn ep_reset_token(
        &self,
        tenant: &TenantIdentifier,
        user_id: &str,
        email: Option<&str>,
        version: CdiVersion,
    ) -> CoreResult<Option<String>> {
        let entry = self.tenant(tenant).await?;
        check_enabled(&entry.record, version)?;
        let recipe_user = self.internal_user_id(&tenant.app, user_id).await?;
        let Some(user) = self.storage.get_auth_user(&tenant.app, &recipe_user).await? else { return Ok(None) };
        let email = if version >= CdiVersion::V4_0 {
            let email = email.ok_or_else(|| CoreError::bad("Field name 'email' is invalid in JSON input"))?;
            Email::normalise(email).as_str().to_string()
        } else {
            if user.login_methods.len() > 1 {
                return Err(CoreError::bad("Please use CDI version >= 4.0"));
            }
            match user.login_methods.first() {
                Some(LoginMethod { recipe_id, email: Some(email), .. }) if recipe_id == "emailpassword" => {
                    email.clone()
                }
                _ => return Ok(None),
            }
        };
        let token = crate::random::url_token(self.rng.as_ref());
        let expiry = self.now() + entry.config.password_reset_token_lifetime_ms;
        self.storage.add_password_reset_token(&tenant.app, &recipe_user, &sha256_hex(&token), &email, expiry).await?;
        Ok(Some(token))
    }

    /// `POST /<tenant>/recipe/user/password/reset/token/consume`: (user id, email).
    pub async fn ep_consume_reset_token(
        &self,
        tenant: &TenantIdentifier,
        token: &str,
    ) -> CoreResult<Option<(String, String)>> {
        self.tenant(tenant).await?;
        match self.storage.consume_password_reset_token(&tenant.app, &sha256_hex(token), self.now()).await? {
            Some((user, email)) => Ok(Some((self.external_user_id(&tenant.app, &user).await?, email))),
            None => Ok(None),
        }
    }

    /// Deprecated `POST /recipe/user/password/reset`: the token's user gets `password`. As the
    /// reference, the password is hashed before the token is used, so a failure there leaves
    /// the token valid; a user deleted since the token was made makes it invalid. Returns the
    /// (external) user id, or `None` for an invalid token.
    pub async fn ep_reset_password_with_token(
        &self,
        tenant: &TenantIdentifier,
        token: &str,
        password: &str,
    ) -> CoreResult<Option<String>> {
        let cfg = self.app_config(&tenant.app).await?;
        self.tenant(tenant).await?;
        let hash = self.hashing.hash(password, &cfg, bytes::<16>(self.rng.as_ref())).await?;
        let Some((user, _)) =
            self.storage.consume_password_reset_token(&tenant.app, &sha256_hex(token), self.now()).await?
        else {
            return Ok(None);
        };
        match self.storage.update_email_or_password(&tenant.app, &user, None, Some(&hash)).await? {
            UpdateResult::Ok => Ok(Some(self.external_user_id(&tenant.app, &user).await?)),
            _ => Ok(None),
        }
    }

    /// `PUT /recipe/user` (emailpassword): change email and/or password.
    pub async fn ep_update_user(
        &self,
        app: &AppId,
        recipe_user_id: &str,
        email: Option<&str>,
        password: Option<&str>,
    ) -> CoreResult<UpdateResult> {
        let cfg = self.app_config(app).await?;
        if password == Some("") {
            return Err(CoreError::bad("Password cannot be an empty string"));
        }
        let Some((_, method)) = self.ep_group(app, recipe_user_id).await? else {
            return Ok(UpdateResult::UnknownUser);
        };
        let id = method.recipe_user_id;
        let hash = match password {
            Some(p) => Some(self.hashing.hash(p, &cfg, bytes::<16>(self.rng.as_ref())).await?),
            None => None,
        };
        // A primary user's new e-mail is checked by the storage, under the linking lock.
        let email = email.map(Email::normalise);
        Ok(self.storage.update_email_or_password(app, &id, email.as_ref().map(|e| e.as_str()), hash.as_deref()).await?)
    }

    /// `POST /<tenant>/recipe/user/passwordhash/import`: (user json, recipe user id, existed).
    pub async fn ep_import(
        &self,
        tenant: &TenantIdentifier,
        email: &str,
        hash: &str,
        algorithm: Option<&str>,
        version: CdiVersion,
    ) -> CoreResult<(User, bool)> {
        let cfg = self.app_config(&tenant.app).await?;
        let entry = self.tenant(tenant).await?;
        let hash = crate::ids::java_trim(hash);
        if hash.is_empty() {
            return Err(CoreError::bad("Password hash cannot be an empty string"));
        }
        let kind = crate::password::kind_of(hash);
        let firebase = crate::password::parse_firebase(hash).is_some();
        let algorithm = algorithm.map(|a| crate::ids::java_trim(a).to_ascii_uppercase());
        if algorithm.as_deref() == Some("") {
            return Err(CoreError::bad("Hashing Algorithm cannot be an empty string"));
        }
        match algorithm {
            None if kind.is_some() => {}
            None if firebase => {
                if cfg.firebase_password_hashing_signer_key.is_none() {
                    return Err(CoreError::bad("'firebase_password_hashing_signer_key' cannot be null"));
                }
            }
            None => return Err(CoreError::bad("Password hash is in invalid format")),
            Some(a) if a == "BCRYPT" => {
                if kind != Some(crate::password::Algorithm::Bcrypt) {
                    return Err(CoreError::bad("Password hash is in invalid BCrypt format"));
                }
            }
            Some(a) if a == "ARGON2" => {
                if kind != Some(crate::password::Algorithm::Argon2) {
                    return Err(CoreError::bad("Password hash is in invalid Argon2 format"));
                }
            }
            Some(a) if a == "FIREBASE_SCRYPT" => {
                if !firebase {
                    return Err(CoreError::bad("Password hash is in invalid Firebase SCrypt format"));
                }
                if cfg.firebase_password_hashing_signer_key.is_none() {
                    return Err(CoreError::bad("'firebase_password_hashing_signer_key' cannot be null"));
                }
            }
            Some(_) => return Err(CoreError::bad("Unsupported password hashing algorithm")),
        }
        if kind == Some(crate::password::Algorithm::Argon2) && !crate::password::argon2_verifiable(hash) {
            return Err(CoreError::bad(
                "Password hash is in invalid Argon2 format: this server cannot verify a hash with this salt or \
                 output length",
            ));
        }
        if !crate::password::within_limits(hash) {
            let name = match kind {
                Some(crate::password::Algorithm::Bcrypt) => "BCrypt",
                Some(crate::password::Algorithm::Argon2) => "Argon2",
                None => "Firebase SCrypt",
            };
            return Err(CoreError::bad(format!(
                "Password hash is in invalid {name} format: its cost parameters exceed this server's limits"
            )));
        }
        // After the input checks, as the reference.
        check_enabled(&entry.record, version)?;
        let email = Email::normalise(email);
        // As the reference, look again when the e-mail changes hands between the lookup and the
        // write: the user found was deleted before its hash was replaced (or before it could be
        // read back), or a concurrent import (or sign-up) took the e-mail first, whose hash is
        // then replaced. Each round trip is atomic on its own; a bounded number of rounds only
        // guards against a pathological churn.
        for _ in 0..IMPORT_ATTEMPTS {
            let (id, existed) = match self.storage.password_user_by_email(tenant, email.as_str()).await? {
                Some((id, _)) => {
                    if self.storage.update_email_or_password(&tenant.app, &id, None, Some(hash)).await?
                        != UpdateResult::Ok
                    {
                        continue;
                    }
                    (id, true)
                }
                None => {
                    let id = uuid_v4(self.rng.as_ref());
                    let created =
                        self.storage.sign_up_with_password(tenant, &id, email.as_str(), hash, self.now()).await?;
                    if created != SignUpResult::Created {
                        continue;
                    }
                    (id, false)
                }
            };
            // Deleted again before it could be read: the e-mail is free, so look again.
            if let Some(user) = self.storage.get_auth_user(&tenant.app, &id).await? {
                return Ok((self.user_json(&tenant.app, &user).await?, existed));
            }
        }
        Err(CoreError::Internal("the e-mail kept changing hands during the import".into()))
    }
}
