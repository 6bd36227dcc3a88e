//! WebAuthn (passkeys) storage: the generated options of each ceremony (the challenge and what
//! the response must match), the credentials of the WebAuthn users, the users themselves, and
//! their account-recovery tokens, as the reference's five `webauthn_*` tables hold them.
//!
//! The checks of a ceremony's response are the domain's (pure, `crate::webauthn`); the
//! backend only applies their result atomically: a sign-up inserts the user with its first
//! credential unless the e-mail or the credential is taken, and an accepted assertion moves the
//! credential's counter on only if nobody moved it since it was read (and, from CDI 5.5, uses
//! up its options), so that a replayed or concurrent assertion loses.

use super::SResult;
use crate::ids::{AppId, TenantIdentifier};
use async_trait::async_trait;
use std::collections::HashMap;

/// The options of one ceremony (registration or sign-in), a row of `webauthn_generated_options`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebauthnOptions {
    /// `webauthnGeneratedOptionsId`, a UUID.
    pub id: String,
    /// The tenant they were generated in.
    pub tenant_id: String,
    /// Base64url (no padding) of the 32 random bytes the response must sign.
    pub challenge: String,
    /// The e-mail a registration is for; `None` for sign-in options.
    pub email: Option<String>,
    pub rp_id: String,
    pub rp_name: String,
    pub origin: String,
    pub expires_at: i64,
    pub created_at: i64,
    pub user_presence_required: bool,
    /// `required`, `preferred` or `discouraged`.
    pub user_verification: String,
}

/// A credential, a row of `webauthn_credentials` (unique per app, relying party and id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebauthnCredential {
    /// The credential id as the client sent it (base64url).
    pub id: String,
    pub rp_id: String,
    /// The WebAuthn user (recipe user, supertokens id) it belongs to.
    pub user_id: String,
    /// The authenticator's signature counter, as last accepted.
    pub counter: i64,
    /// The attested credential data of the registration, as the authenticator sent it: AAGUID
    /// (16 bytes), credential id length (2 bytes, big-endian), credential id, then the
    /// credential's COSE public key (CBOR); the reference's (webauthn4j's) format.
    pub public_key: Vec<u8>,
    /// The transports the client reported, as a JSON array (`null` when none were).
    pub transports: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// An account-recovery token, a row of `webauthn_account_recovery_tokens`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebauthnRecoveryToken {
    /// The user it recovers (supertokens id; any recipe).
    pub user_id: String,
    pub email: String,
    /// Lower-case hex SHA-256 of the token.
    pub token_hash: String,
    pub expires_at: i64,
}

/// What [`WebauthnStorage::webauthn_sign_up`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebauthnSignUp {
    Created,
    /// The tenant has a WebAuthn user with this e-mail.
    EmailAlreadyExists,
    /// The app has this credential (relying party and id) already.
    CredentialAlreadyExists,
}

/// What [`WebauthnStorage::add_webauthn_credential`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddWebauthnCredential {
    Added,
    /// The user is not a WebAuthn user (or does not exist).
    UnknownUser,
    AlreadyExists,
}

/// What [`WebauthnStorage::accept_webauthn_assertion`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcceptAssertion {
    Accepted,
    /// The options to use up are gone (used or removed meanwhile): nothing was written.
    OptionsGone,
    /// The credential's counter is no longer the one the assertion was judged against (or the
    /// credential is gone): nothing was written.
    CredentialChanged,
}

/// What [`WebauthnStorage::update_webauthn_email`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebauthnEmailUpdate {
    Updated,
    /// No WebAuthn user has this id.
    UnknownUser,
    /// Another WebAuthn user of one of the user's tenants has the e-mail.
    EmailAlreadyExists,
}

#[async_trait]
pub trait WebauthnStorage: Send + Sync {
    /// Insert generated options in `tenant` unless their id is taken there (`false`).
    async fn save_webauthn_options(&self, tenant: &TenantIdentifier, options: &WebauthnOptions) -> SResult<bool>;
    /// The options with this id generated in `tenant`.
    async fn webauthn_options(&self, tenant: &TenantIdentifier, id: &str) -> SResult<Option<WebauthnOptions>>;
    /// The options with this id generated in any tenant of the app (sign-up and sign-in look
    /// them up so, as the reference): `tenant`'s (the request's) if it has them, else the ones
    /// of the smallest tenant id. (The reference takes whichever PostgreSQL finds first; the ids
    /// are random UUIDs, so two tenants holding one id do not happen outside deliberate imports.
    /// The request's tenant first makes the usual case a primary-key look-up instead of a scan
    /// of the app's options.)
    async fn webauthn_options_in_app(&self, tenant: &TenantIdentifier, id: &str) -> SResult<Option<WebauthnOptions>>;
    /// Remove the options with this id generated in `tenant`; whether there were any.
    async fn remove_webauthn_options(&self, tenant: &TenantIdentifier, id: &str) -> SResult<bool>;

    /// Sign-up: insert the WebAuthn user `user_id` with `email` in `tenant` (its rows of every
    /// user table) and its first credential, unless the tenant has a WebAuthn user with that
    /// e-mail or the app has that credential, atomically.
    async fn webauthn_sign_up(
        &self,
        tenant: &TenantIdentifier,
        user_id: &str,
        email: &str,
        credential: &WebauthnCredential,
        now_ms: i64,
    ) -> SResult<WebauthnSignUp>;
    /// Add a credential to the WebAuthn user `credential.user_id`.
    async fn add_webauthn_credential(
        &self,
        app: &AppId,
        credential: &WebauthnCredential,
    ) -> SResult<AddWebauthnCredential>;
    /// The app's credential with this id: the one of relying party `rp_id` if there is one,
    /// else any (ids are unique per relying party only).
    async fn webauthn_credential(&self, app: &AppId, id: &str, rp_id: &str) -> SResult<Option<WebauthnCredential>>;
    /// The credential with this id of the user `user_id`.
    async fn webauthn_user_credential(
        &self,
        app: &AppId,
        id: &str,
        user_id: &str,
    ) -> SResult<Option<WebauthnCredential>>;
    /// The credentials of the user `user_id`, by creation time.
    async fn webauthn_credentials_of(&self, app: &AppId, user_id: &str) -> SResult<Vec<WebauthnCredential>>;
    /// The credential ids of each of these users that has any (for user objects), sorted.
    async fn webauthn_credential_ids(&self, app: &AppId, user_ids: &[String]) -> SResult<HashMap<String, Vec<String>>>;
    /// Remove the user's credential(s) with this id; whether there were any.
    async fn remove_webauthn_credential(&self, app: &AppId, user_id: &str, id: &str) -> SResult<bool>;
    /// Apply an assertion the domain accepted against the credential (`rp_id`, `id`) as it
    /// had `seen_counter`: set its counter to `counter` (and its update time), and when
    /// `use_up` names options (tenant id, options id) remove them, all or nothing.
    #[allow(clippy::too_many_arguments)]
    async fn accept_webauthn_assertion(
        &self,
        app: &AppId,
        rp_id: &str,
        id: &str,
        seen_counter: i64,
        counter: i64,
        use_up: Option<(&str, &str)>,
        now_ms: i64,
    ) -> SResult<AcceptAssertion>;

    /// Set the e-mail of the WebAuthn user `user_id` (unique among the WebAuthn users of each
    /// of its tenants).
    async fn update_webauthn_email(&self, app: &AppId, user_id: &str, email: &str) -> SResult<WebauthnEmailUpdate>;

    /// Insert an account-recovery token of `tenant`; `false` when its user no longer exists.
    async fn add_webauthn_recovery_token(
        &self,
        tenant: &TenantIdentifier,
        token: &WebauthnRecoveryToken,
    ) -> SResult<bool>;
    /// The tenant's recovery token with this hash, expired or not.
    async fn webauthn_recovery_token(
        &self,
        tenant: &TenantIdentifier,
        token_hash: &str,
    ) -> SResult<Option<WebauthnRecoveryToken>>;
    /// Use a recovery token: when the tenant has it and it has not expired at `now_ms`, remove
    /// every token of the tenant for its e-mail and return it, atomically; otherwise `None`
    /// (an expired token stays until the cleanup job).
    async fn consume_webauthn_recovery_token(
        &self,
        tenant: &TenantIdentifier,
        token_hash: &str,
        now_ms: i64,
    ) -> SResult<Option<WebauthnRecoveryToken>>;

    /// The cleanup job: remove the recovery tokens and generated options of every app that
    /// expired before `now_ms`; returns how many rows went.
    async fn delete_expired_webauthn_data(&self, now_ms: i64) -> SResult<u64>;
}
