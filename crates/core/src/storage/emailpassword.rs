//! Email-password storage: users with a password hash, and password-reset tokens.

use super::SResult;
use crate::ids::{AppId, TenantIdentifier};
use async_trait::async_trait;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignUpResult {
    Created,
    EmailAlreadyExists,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateResult {
    Ok,
    UnknownUser,
    EmailAlreadyExists,
    /// The user's group is a primary user and another primary user of one of its tenants has
    /// the new e-mail (`crate::accountlinking::change_conflicts`), decided under the lock the
    /// linking intents take.
    EmailChangeNotAllowed,
}

#[async_trait]
pub trait EmailPasswordStorage: Send + Sync {
    /// Email-password sign-up: insert the user in `tenant` unless the email is taken there.
    async fn sign_up_with_password(
        &self,
        tenant: &TenantIdentifier,
        user_id: &str,
        email: &str,
        password_hash: &str,
        now_ms: i64,
    ) -> SResult<SignUpResult>;
    /// (user id, password hash) of the email-password user with this email in `tenant`.
    async fn password_user_by_email(&self, tenant: &TenantIdentifier, email: &str)
        -> SResult<Option<(String, String)>>;
    /// Change email and/or password hash of an email-password user (email unique in each of its
    /// tenants, and allowed by the account-linking rule: `EmailChangeNotAllowed` first).
    async fn update_email_or_password(
        &self,
        app: &AppId,
        user_id: &str,
        email: Option<&str>,
        password_hash: Option<&str>,
    ) -> SResult<UpdateResult>;
    async fn add_password_reset_token(
        &self,
        app: &AppId,
        user_id: &str,
        token_hash: &str,
        email: &str,
        expiry: i64,
    ) -> SResult<()>;
    /// Consume a reset token: returns (user id, email) and deletes every token of that user.
    async fn consume_password_reset_token(
        &self,
        app: &AppId,
        token_hash: &str,
        now_ms: i64,
    ) -> SResult<Option<(String, String)>>;
    async fn delete_expired_password_reset_tokens(&self, now_ms: i64) -> SResult<u64>;
}
