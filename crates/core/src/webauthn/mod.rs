//! The WebAuthn recipe (passkeys, §a.17): generated options for registration and sign-in
//! (their challenge kept in `webauthn_generated_options` until they expire), sign-up with a
//! first credential, sign-in with an assertion, more credentials per user, account-recovery
//! tokens, and the e-mail update. Every route is tenant-scoped; as the reference, sign-up and
//! sign-in find their options in any tenant of the app, and sign-in finds the credential and
//! its user app-wide.
//!
//! The ceremonies' checks are [`ceremony`]'s (pure). From CDI 5.5 a sign-in uses up its
//! options: the accepted assertion, the counter's move and the options' removal are one intent
//! ([`crate::storage::WebauthnStorage::accept_webauthn_assertion`]), so a replay finds no
//! options (`OPTIONS_NOT_FOUND_ERROR`).

pub mod ceremony;
mod validate;

use crate::cdi::CdiVersion;
use crate::core::Core;
use crate::error::{CoreError, CoreResult};
use crate::ids::{AppId, Email, TenantIdentifier};
use crate::jobs::ExpiryJob;
use crate::random::{bytes, sha256_hex, uuid_v4};
use crate::storage::{
    AcceptAssertion, AddWebauthnCredential, AuthUser, WebauthnCredential, WebauthnEmailUpdate, WebauthnOptions,
    WebauthnRecoveryToken, WebauthnSignUp,
};
use crate::users::User;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ceremony::Rejection;
use serde_json::Value;
use std::collections::HashMap;
use std::time::Duration;
use validate::{algorithm_ids, check_column, check_credential_shape, common_options, one_of};

pub const RECIPE_ID: &str = "webauthn";

/// The reference's `CleanUpWebauthNExpiredDataCron`: expired recovery tokens and generated
/// options, daily.
pub const CLEAN_UP_EXPIRED_DATA: ExpiryJob = ExpiryJob {
    name: "CleanUpWebauthnExpiredDataCron",
    interval: Duration::from_secs(24 * 3600),
    delete: |core, now| Box::pin(core.delete_expired_webauthn_data(now)),
};

/// The reference's defaults for options.
const DEFAULT_TIMEOUT_MS: i64 = 6000;
const DEFAULT_ALGORITHMS: [i64; 3] = [-8, -7, -257];
const USER_VERIFICATIONS: [&str; 3] = ["required", "discouraged", "preferred"];
const RESIDENT_KEYS: [&str; 3] = ["required", "discouraged", "preferred"];
const ATTESTATIONS: [&str; 4] = ["none", "indirect", "direct", "enterprise"];
/// Width of the reference's `VARCHAR(256)` columns (e-mail, relying party, origin, credential id).
const MAX_COLUMN: usize = 256;
/// Rounds of a sign-in whose credential's counter moved while it was checked.
const SIGN_IN_ATTEMPTS: usize = 4;
const ANDROID_ORIGIN: &str = "android:apk-key-hash:";

/// `POST /recipe/webauthn/options/register` as parsed at the edge (absent fields `None`).
#[derive(Debug, Clone, Default)]
pub struct RegisterOptionsInput {
    pub email: String,
    pub display_name: Option<String>,
    pub rp_name: String,
    pub rp_id: String,
    pub origin: String,
    pub timeout: Option<i64>,
    pub attestation: Option<String>,
    pub resident_key: Option<String>,
    pub user_verification: Option<String>,
    pub user_presence: Option<bool>,
    /// `supportedAlgorithmIDs`, each element as sent.
    pub algorithms: Option<Vec<Value>>,
}

/// `POST /recipe/webauthn/options/signin` as parsed at the edge.
#[derive(Debug, Clone, Default)]
pub struct SignInOptionsInput {
    pub rp_id: String,
    pub rp_name: String,
    pub origin: String,
    pub timeout: Option<i64>,
    pub user_verification: Option<String>,
    pub user_presence: Option<bool>,
}

/// Registration options as generated (the `PublicKeyCredentialCreationOptions` the SDK hands to
/// the browser, with their id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterOptions {
    pub id: String,
    pub rp_id: String,
    pub rp_name: String,
    /// Base64url of the user handle: the id of the tenant's primary user with this e-mail, or
    /// the options' id.
    pub user_id: String,
    pub email: String,
    pub display_name: String,
    pub timeout: i64,
    pub challenge: String,
    pub attestation: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub algorithms: Vec<i64>,
    pub resident_key: String,
    pub user_verification: String,
}

/// Sign-in options as generated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInOptions {
    pub id: String,
    pub rp_id: String,
    pub challenge: String,
    pub timeout: i64,
    pub user_verification: String,
    pub user_presence: bool,
    pub created_at: i64,
    pub expires_at: i64,
}

/// Generating options: the options, or `INVALID_OPTIONS_ERROR` with its reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OptionsOutcome<T> {
    Ok(T),
    Invalid(String),
}

/// Why a ceremony's response was refused before anything was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CeremonyFailure {
    /// `OPTIONS_NOT_FOUND_ERROR`
    OptionsNotFound,
    /// `INVALID_OPTIONS_ERROR`
    InvalidOptions(String),
    /// `INVALID_CREDENTIALS_ERROR`
    InvalidCredentials(String),
    /// `INVALID_AUTHENTICATOR_ERROR`
    InvalidAuthenticator(String),
}

impl From<Rejection> for CeremonyFailure {
    fn from(r: Rejection) -> Self {
        match r {
            Rejection::Options(m) => CeremonyFailure::InvalidOptions(m),
            Rejection::Credentials(m) => CeremonyFailure::InvalidCredentials(m),
            Rejection::Authenticator(m) => CeremonyFailure::InvalidAuthenticator(m),
        }
    }
}

/// `POST /recipe/webauthn/signup`.
#[derive(Debug)]
pub enum SignUpOutcome {
    Ok { user: Box<User>, recipe_user_id: String, credential_id: String, rp_id: String, rp_name: String },
    EmailAlreadyExists,
    Failed(CeremonyFailure),
}

/// `POST /recipe/webauthn/signin`.
#[derive(Debug)]
pub enum SignInOutcome {
    /// The user (whole group) and the (external when mapped) id of the login method whose
    /// credential signed.
    Ok {
        user: Box<User>,
        recipe_user_id: String,
    },
    CredentialNotFound,
    UnknownUser,
    Failed(CeremonyFailure),
}

/// `POST /recipe/webauthn/user/credential/register`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegisterCredentialOutcome {
    Ok { credential_id: String, email: Option<String>, rp_id: String, rp_name: String },
    CredentialAlreadyExists,
    UnknownUser,
    Failed(CeremonyFailure),
}

/// A credential as the credential APIs show it (`recipeUserId` is the caller's id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialInfo {
    pub credential_id: String,
    pub rp_id: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<WebauthnCredential> for CredentialInfo {
    fn from(c: WebauthnCredential) -> Self {
        CredentialInfo { credential_id: c.id, rp_id: c.rp_id, created_at: c.created_at, updated_at: c.updated_at }
    }
}

/// `PUT /recipe/webauthn/user/email`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateEmailOutcome {
    Ok,
    UnknownUser,
    EmailAlreadyExists,
    /// The user is primary and another primary user of one of its tenants has the e-mail
    /// (account linking): the reference's `USER_WITH_EMAIL_ALREADY_EXISTS_ERROR`.
    EmailChangeNotAllowed,
}

/// `GET /recipe/webauthn/user/recover`: the token's user and its WebAuthn login method in the
/// tenant, if it has one.
#[derive(Debug)]
pub struct RecoveredUser {
    pub user: Box<User>,
    pub recipe_user_id: Option<String>,
}

impl Core {
    /// New options in the tenant, their id retried on the (unlikely) collision.
    async fn save_options(
        &self,
        tenant: &TenantIdentifier,
        mut options: WebauthnOptions,
    ) -> CoreResult<WebauthnOptions> {
        loop {
            if self.storage.save_webauthn_options(tenant, &options).await? {
                return Ok(options);
            }
            options.id = uuid_v4(self.rng.as_ref());
        }
    }

    fn new_challenge(&self) -> String {
        URL_SAFE_NO_PAD.encode(bytes::<32>(self.rng.as_ref()))
    }

    /// `POST /<tenant>/recipe/webauthn/options/register`.
    pub async fn webauthn_register_options(
        &self,
        tenant: &TenantIdentifier,
        input: RegisterOptionsInput,
    ) -> CoreResult<OptionsOutcome<RegisterOptions>> {
        self.tenant(tenant).await?;
        let email = Email::normalise(&input.email).into_string();
        for (field, value) in [
            ("email", &email),
            ("relyingPartyId", &input.rp_id),
            ("relyingPartyName", &input.rp_name),
            ("origin", &input.origin),
        ] {
            check_column(field, value)?;
        }
        let display_name = input.display_name.filter(|d| !d.is_empty()).unwrap_or_else(|| email.clone());
        let defaulted = |v: Option<String>, d: &str| v.filter(|v| !v.is_empty()).unwrap_or_else(|| d.to_string());
        let attestation = defaulted(input.attestation, "none");
        let resident_key = defaulted(input.resident_key, "required");
        let validated = common_options(&input.origin, &input.rp_id, input.timeout, input.user_verification.as_deref())
            .and_then(|common| {
                one_of(&attestation, &ATTESTATIONS, "attestation")?;
                one_of(&resident_key, &RESIDENT_KEYS, "residentKey")?;
                let algorithms = match &input.algorithms {
                    Some(values) => algorithm_ids(values)?,
                    None => DEFAULT_ALGORITHMS.to_vec(),
                };
                Ok((common, algorithms))
            });
        let ((timeout, user_verification), algorithms) = match validated {
            Ok(v) => v,
            Err(reason) => return Ok(OptionsOutcome::Invalid(reason)),
        };
        let user_presence = input.user_presence.unwrap_or(false);
        let now = self.now();
        let id = uuid_v4(self.rng.as_ref());
        let saved = self
            .save_options(
                tenant,
                WebauthnOptions {
                    id,
                    tenant_id: tenant.tenant.to_string(),
                    challenge: self.new_challenge(),
                    email: Some(email.clone()),
                    rp_id: input.rp_id.clone(),
                    rp_name: input.rp_name.clone(),
                    origin: input.origin.clone(),
                    expires_at: now.saturating_add(timeout),
                    created_at: now,
                    user_presence_required: user_presence,
                    user_verification: user_verification.clone(),
                },
            )
            .await?;
        // The user handle: the tenant's (first) primary user with the e-mail, else the options.
        let existing = self.storage.users_by_email(tenant, &email).await?;
        let handle = existing.first().cloned().unwrap_or_else(|| saved.id.clone());
        Ok(OptionsOutcome::Ok(RegisterOptions {
            id: saved.id,
            rp_id: input.rp_id,
            rp_name: input.rp_name,
            user_id: URL_SAFE_NO_PAD.encode(handle.as_bytes()),
            email,
            display_name,
            timeout,
            challenge: saved.challenge,
            attestation,
            created_at: saved.created_at,
            expires_at: saved.expires_at,
            algorithms,
            resident_key,
            user_verification,
        }))
    }

    /// `POST /<tenant>/recipe/webauthn/options/signin`.
    pub async fn webauthn_sign_in_options(
        &self,
        tenant: &TenantIdentifier,
        input: SignInOptionsInput,
    ) -> CoreResult<OptionsOutcome<SignInOptions>> {
        self.tenant(tenant).await?;
        for (field, value) in
            [("relyingPartyId", &input.rp_id), ("relyingPartyName", &input.rp_name), ("origin", &input.origin)]
        {
            check_column(field, value)?;
        }
        let (timeout, user_verification) =
            match common_options(&input.origin, &input.rp_id, input.timeout, input.user_verification.as_deref()) {
                Ok(v) => v,
                Err(reason) => return Ok(OptionsOutcome::Invalid(reason)),
            };
        let user_presence = input.user_presence.unwrap_or(false);
        let now = self.now();
        let saved = self
            .save_options(
                tenant,
                WebauthnOptions {
                    id: uuid_v4(self.rng.as_ref()),
                    tenant_id: tenant.tenant.to_string(),
                    challenge: self.new_challenge(),
                    email: None,
                    rp_id: input.rp_id.clone(),
                    rp_name: input.rp_name,
                    origin: input.origin,
                    expires_at: now.saturating_add(timeout),
                    created_at: now,
                    user_presence_required: user_presence,
                    user_verification: user_verification.clone(),
                },
            )
            .await?;
        Ok(OptionsOutcome::Ok(SignInOptions {
            id: saved.id,
            rp_id: input.rp_id,
            challenge: saved.challenge,
            timeout,
            user_verification,
            user_presence,
            created_at: saved.created_at,
            expires_at: saved.expires_at,
        }))
    }

    /// `GET /<tenant>/recipe/webauthn/options`: the tenant's options with this id, expired or not.
    pub async fn webauthn_options(&self, tenant: &TenantIdentifier, id: &str) -> CoreResult<Option<WebauthnOptions>> {
        self.tenant(tenant).await?;
        Ok(self.storage.webauthn_options(tenant, id).await?)
    }

    /// `DELETE /<tenant>/recipe/webauthn/options/remove`: whether the tenant had them.
    pub async fn webauthn_remove_options(&self, tenant: &TenantIdentifier, id: &str) -> CoreResult<bool> {
        self.tenant(tenant).await?;
        Ok(self.storage.remove_webauthn_options(tenant, id).await?)
    }

    /// Check a registration response against `options` at `now`: the credential's id, then the
    /// options' expiry, then the ceremony.
    fn judge_registration(
        &self,
        options: &WebauthnOptions,
        credential: &Value,
        user_id: &str,
    ) -> Result<WebauthnCredential, CeremonyFailure> {
        let id = check_credential_shape(credential)?;
        let now = self.now();
        if options.expires_at < now {
            return Err(CeremonyFailure::InvalidOptions("Options expired".into()));
        }
        let registered = ceremony::verify_registration(options, credential)?;
        if id.chars().count() > MAX_COLUMN {
            return Err(CeremonyFailure::InvalidCredentials(format!(
                "credential id must be at most {MAX_COLUMN} characters long"
            )));
        }
        Ok(WebauthnCredential {
            id,
            rp_id: options.rp_id.clone(),
            user_id: user_id.to_string(),
            counter: registered.counter,
            public_key: registered.public_key,
            transports: registered.transports,
            created_at: now,
            updated_at: now,
        })
    }

    /// `POST /<tenant>/recipe/webauthn/signup`: a new WebAuthn user in the tenant with the
    /// registration options' e-mail and the credential just registered.
    pub async fn webauthn_sign_up(
        &self,
        tenant: &TenantIdentifier,
        options_id: &str,
        credential: &Value,
    ) -> CoreResult<SignUpOutcome> {
        self.tenant(tenant).await?;
        let app = &tenant.app;
        let Some(options) = self.storage.webauthn_options_in_app(tenant, options_id).await? else {
            return Ok(SignUpOutcome::Failed(CeremonyFailure::OptionsNotFound));
        };
        let user_id = uuid_v4(self.rng.as_ref());
        let row = match self.judge_registration(&options, credential, &user_id) {
            Ok(row) => row,
            Err(failure) => return Ok(SignUpOutcome::Failed(failure)),
        };
        // Sign-in options have no e-mail to sign up with (the reference fails in its database,
        // a 500).
        let Some(email) = options.email.as_deref() else {
            return Ok(SignUpOutcome::Failed(CeremonyFailure::InvalidOptions(
                "The options were generated for a sign-in, not a registration".into(),
            )));
        };
        match self.storage.webauthn_sign_up(tenant, &user_id, email, &row, self.now()).await? {
            WebauthnSignUp::Created => {
                self.record_activity(app, &user_id).await;
                let user = self.existing_auth_user(app, &user_id).await?;
                let user = self.user_json(app, &user).await?;
                Ok(SignUpOutcome::Ok {
                    user: Box::new(user),
                    recipe_user_id: user_id,
                    credential_id: row.id,
                    rp_id: options.rp_id,
                    rp_name: options.rp_name,
                })
            }
            WebauthnSignUp::EmailAlreadyExists => Ok(SignUpOutcome::EmailAlreadyExists),
            // Another user registered this very credential (a replayed registration in another
            // tenant): the reference fails in its database (a 500).
            WebauthnSignUp::CredentialAlreadyExists => Ok(SignUpOutcome::Failed(CeremonyFailure::InvalidCredentials(
                "A credential with this id is registered already".into(),
            ))),
        }
    }

    /// `POST /<tenant>/recipe/webauthn/signin`. From CDI 5.5 the options are used up by the
    /// sign-in they accept.
    pub async fn webauthn_sign_in(
        &self,
        tenant: &TenantIdentifier,
        options_id: &str,
        credential: &Value,
        version: CdiVersion,
    ) -> CoreResult<SignInOutcome> {
        self.tenant(tenant).await?;
        let app = &tenant.app;
        let use_up = version >= CdiVersion::V5_5;
        let Some(options) = self.storage.webauthn_options_in_app(tenant, options_id).await? else {
            return Ok(SignInOutcome::Failed(CeremonyFailure::OptionsNotFound));
        };
        let credential_id = match check_credential_shape(credential) {
            Ok(id) => id,
            Err(failure) => return Ok(SignInOutcome::Failed(failure)),
        };
        let mut accepted = None;
        for _ in 0..SIGN_IN_ATTEMPTS {
            let Some(stored) = self.storage.webauthn_credential(app, &credential_id, &options.rp_id).await? else {
                return Ok(SignInOutcome::CredentialNotFound);
            };
            if options.expires_at < self.now() {
                return Ok(SignInOutcome::Failed(CeremonyFailure::InvalidOptions("Options expired".into())));
            }
            let counter = match ceremony::verify_assertion(&options, &stored, credential) {
                Ok(c) => c,
                Err(r) => return Ok(SignInOutcome::Failed(r.into())),
            };
            let used = use_up.then_some((options.tenant_id.as_str(), options.id.as_str()));
            match self
                .storage
                .accept_webauthn_assertion(app, &stored.rp_id, &stored.id, stored.counter, counter, used, self.now())
                .await?
            {
                AcceptAssertion::Accepted => {
                    accepted = Some(stored.user_id);
                    break;
                }
                // Replayed, or used by a concurrent sign-in.
                AcceptAssertion::OptionsGone => return Ok(SignInOutcome::Failed(CeremonyFailure::OptionsNotFound)),
                // The counter moved meanwhile: judge again against the credential as it is now.
                AcceptAssertion::CredentialChanged => continue,
            }
        }
        let Some(recipe_user) = accepted else {
            return Err(CoreError::Internal("the credential kept changing during the sign-in".into()));
        };
        let Some(user) = self.storage.get_auth_user(app, &recipe_user).await? else {
            return Ok(SignInOutcome::UnknownUser);
        };
        self.record_activity(app, &user.id).await;
        let (user, recipe_user_id) = self.response_of(app, &user, &recipe_user).await?;
        Ok(SignInOutcome::Ok { user: Box::new(user), recipe_user_id })
    }

    /// `POST /<tenant>/recipe/webauthn/user/credential/register`: another credential for a
    /// WebAuthn user (the options must be the tenant's).
    pub async fn webauthn_register_credential(
        &self,
        tenant: &TenantIdentifier,
        recipe_user_id: &str,
        options_id: &str,
        credential: &Value,
    ) -> CoreResult<RegisterCredentialOutcome> {
        self.tenant(tenant).await?;
        let app = &tenant.app;
        let Some(options) = self.storage.webauthn_options(tenant, options_id).await? else {
            return Ok(RegisterCredentialOutcome::Failed(CeremonyFailure::OptionsNotFound));
        };
        let user_id = self.internal_user_id(app, recipe_user_id).await?;
        let row = match self.judge_registration(&options, credential, &user_id) {
            Ok(row) => row,
            Err(failure) => return Ok(RegisterCredentialOutcome::Failed(failure)),
        };
        Ok(match self.storage.add_webauthn_credential(app, &row).await? {
            AddWebauthnCredential::Added => RegisterCredentialOutcome::Ok {
                credential_id: row.id,
                email: options.email,
                rp_id: options.rp_id,
                rp_name: options.rp_name,
            },
            AddWebauthnCredential::UnknownUser => RegisterCredentialOutcome::UnknownUser,
            AddWebauthnCredential::AlreadyExists => RegisterCredentialOutcome::CredentialAlreadyExists,
        })
    }

    /// `GET /<tenant>/recipe/webauthn/user/credential`.
    pub async fn webauthn_user_credential(
        &self,
        tenant: &TenantIdentifier,
        credential_id: &str,
        recipe_user_id: &str,
    ) -> CoreResult<Option<CredentialInfo>> {
        self.tenant(tenant).await?;
        let user_id = self.internal_user_id(&tenant.app, recipe_user_id).await?;
        Ok(self.storage.webauthn_user_credential(&tenant.app, credential_id, &user_id).await?.map(Into::into))
    }

    /// `GET /<tenant>/recipe/webauthn/user/credential/list`.
    pub async fn webauthn_list_credentials(
        &self,
        tenant: &TenantIdentifier,
        recipe_user_id: &str,
    ) -> CoreResult<Vec<CredentialInfo>> {
        self.tenant(tenant).await?;
        let user_id = self.internal_user_id(&tenant.app, recipe_user_id).await?;
        Ok(self.storage.webauthn_credentials_of(&tenant.app, &user_id).await?.into_iter().map(Into::into).collect())
    }

    /// `DELETE /<tenant>/recipe/webauthn/user/credential/remove`: whether the user had it.
    pub async fn webauthn_remove_credential(
        &self,
        tenant: &TenantIdentifier,
        recipe_user_id: &str,
        credential_id: &str,
    ) -> CoreResult<bool> {
        self.tenant(tenant).await?;
        let user_id = self.internal_user_id(&tenant.app, recipe_user_id).await?;
        Ok(self.storage.remove_webauthn_credential(&tenant.app, &user_id, credential_id).await?)
    }

    /// `POST /<tenant>/recipe/webauthn/user/recover/token`: a token recovering `user_id` (any
    /// user) for `email`, valid `webauthn_recover_account_token_lifetime`; `None` for an
    /// unknown user.
    pub async fn webauthn_recovery_token(
        &self,
        tenant: &TenantIdentifier,
        user_id: &str,
        email: &str,
    ) -> CoreResult<Option<String>> {
        let entry = self.tenant(tenant).await?;
        let email = Email::normalise(email).into_string();
        check_column("email", &email)?;
        let app = &tenant.app;
        let user_id = self.internal_user_id(app, user_id).await?;
        if self.storage.get_auth_user(app, &user_id).await?.is_none() {
            return Ok(None);
        }
        let lifetime = entry.config.int("webauthn_recover_account_token_lifetime");
        let token = URL_SAFE_NO_PAD.encode(bytes::<32>(self.rng.as_ref()));
        let row = WebauthnRecoveryToken {
            user_id,
            email,
            token_hash: sha256_hex(&token),
            expires_at: self.now().saturating_add(lifetime),
        };
        if !self.storage.add_webauthn_recovery_token(tenant, &row).await? {
            return Ok(None);
        }
        Ok(Some(token))
    }

    /// `POST /<tenant>/recipe/webauthn/user/recover/token/consume`: (user id, external when
    /// mapped; e-mail) of a valid token, whose e-mail's tokens in the tenant are all used up.
    pub async fn webauthn_consume_recovery_token(
        &self,
        tenant: &TenantIdentifier,
        token: &str,
    ) -> CoreResult<Option<(String, String)>> {
        self.tenant(tenant).await?;
        let Some(row) = self.storage.consume_webauthn_recovery_token(tenant, &sha256_hex(token), self.now()).await?
        else {
            return Ok(None);
        };
        Ok(Some((self.external_user_id(&tenant.app, &row.user_id).await?, row.email)))
    }

    /// `GET /<tenant>/recipe/webauthn/user/recover`: the user of a valid token (not used up).
    pub async fn webauthn_recovered_user(
        &self,
        tenant: &TenantIdentifier,
        token: &str,
    ) -> CoreResult<Option<RecoveredUser>> {
        self.tenant(tenant).await?;
        let app = &tenant.app;
        let Some(row) = self.storage.webauthn_recovery_token(tenant, &sha256_hex(token)).await? else {
            return Ok(None);
        };
        if row.expires_at < self.now() {
            return Ok(None);
        }
        let Some(group) = self.storage.get_auth_user(app, &row.user_id).await? else { return Ok(None) };
        let user = self.user_json(app, &group).await?;
        // As the reference: the (last) WebAuthn login method of the group in this tenant.
        let tenant_id = tenant.tenant.to_string();
        let recipe_user_id = user
            .login_methods
            .iter()
            .rfind(|m| m.recipe_id == RECIPE_ID && m.tenant_ids.contains(&tenant_id))
            .map(|m| m.recipe_user_id.clone());
        Ok(Some(RecoveredUser { user: Box::new(user), recipe_user_id }))
    }

    /// `PUT /<tenant>/recipe/webauthn/user/email`: the e-mail (as given) of a WebAuthn login
    /// method.
    pub async fn webauthn_update_email(
        &self,
        tenant: &TenantIdentifier,
        recipe_user_id: &str,
        email: &str,
    ) -> CoreResult<UpdateEmailOutcome> {
        self.tenant(tenant).await?;
        check_column("email", email)?;
        let app = &tenant.app;
        let user_id = self.internal_user_id(app, recipe_user_id).await?;
        let Some(group) = self.storage.get_auth_user(app, &user_id).await? else {
            return Ok(UpdateEmailOutcome::UnknownUser);
        };
        if !group.login_methods.iter().any(|m| m.recipe_id == RECIPE_ID && m.recipe_user_id == user_id) {
            return Ok(UpdateEmailOutcome::UnknownUser);
        }
        if self.email_taken_by_other_primary(app, &group, email).await? {
            return Ok(UpdateEmailOutcome::EmailChangeNotAllowed);
        }
        Ok(match self.storage.update_webauthn_email(app, &user_id, email).await? {
            WebauthnEmailUpdate::Updated => UpdateEmailOutcome::Ok,
            WebauthnEmailUpdate::UnknownUser => UpdateEmailOutcome::UnknownUser,
            WebauthnEmailUpdate::EmailAlreadyExists => UpdateEmailOutcome::EmailAlreadyExists,
        })
    }

    /// The primary user (supertokens id) whose WebAuthn login method has this credential, in
    /// any tenant of the app (`GET /users/by-accountinfo?webauthnCredentialId=`, as the
    /// reference looks it up).
    pub(crate) async fn user_of_webauthn_credential(
        &self,
        app: &AppId,
        credential_id: &str,
    ) -> CoreResult<Option<String>> {
        let Some(credential) = self.storage.webauthn_credential(app, credential_id, "").await? else {
            return Ok(None);
        };
        Ok(self.storage.get_auth_user(app, &credential.user_id).await?.map(|u| u.id))
    }

    /// The credential ids of the WebAuthn login methods of `users` (for user objects): one
    /// statement, none when no login method is a WebAuthn one.
    pub(crate) async fn webauthn_credential_ids(
        &self,
        app: &AppId,
        users: &[AuthUser],
    ) -> CoreResult<HashMap<String, Vec<String>>> {
        let ids: Vec<String> = users
            .iter()
            .flat_map(|u| u.login_methods.iter())
            .filter(|m| m.recipe_id == RECIPE_ID)
            .map(|m| m.recipe_user_id.clone())
            .collect();
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        Ok(self.storage.webauthn_credential_ids(app, &ids).await?)
    }

    /// The cleanup job (see [`CLEAN_UP_EXPIRED_DATA`]).
    pub async fn delete_expired_webauthn_data(&self, now: i64) -> CoreResult<u64> {
        Ok(self.storage.delete_expired_webauthn_data(now).await?)
    }
}
