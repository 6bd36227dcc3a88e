//! Email-verification storage: verification tokens (per tenant) and verified e-mails (per app).

use super::SResult;
use crate::ids::{AppId, TenantIdentifier};
use async_trait::async_trait;

#[async_trait]
pub trait EmailVerificationStorage: Send + Sync {
    async fn add_email_verification_token(
        &self,
        tenant: &TenantIdentifier,
        user_id: &str,
        email: &str,
        token_hash: &str,
        expiry: i64,
    ) -> SResult<()>;
    /// Consume a verification token: marks (user, email) verified, deletes that pair's tokens in
    /// the tenant, returns (user id, email). `None` for unknown or expired tokens; an expired
    /// token still deletes the pair's tokens.
    async fn consume_email_verification_token(
        &self,
        tenant: &TenantIdentifier,
        token_hash: &str,
        now_ms: i64,
    ) -> SResult<Option<(String, String)>>;
    async fn delete_email_verification_tokens(
        &self,
        tenant: &TenantIdentifier,
        user_id: &str,
        email: &str,
    ) -> SResult<()>;
    async fn is_email_verified(&self, app: &AppId, user_id: &str, email: &str) -> SResult<bool>;
    async fn set_email_verified(&self, app: &AppId, user_id: &str, email: &str) -> SResult<()>;
    async fn unverify_email(&self, app: &AppId, user_id: &str, email: &str) -> SResult<()>;
    async fn delete_expired_email_verification_tokens(&self, now_ms: i64) -> SResult<u64>;
}
