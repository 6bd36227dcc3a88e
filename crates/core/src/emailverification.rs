//! The email-verification recipe: verification tokens (per tenant), verifying, verified
//! e-mails (per app), and the cron job that removes expired tokens.

use crate::core::Core;
use crate::error::CoreResult;
use crate::ids::{AppId, Email, TenantIdentifier};
use crate::jobs::ExpiryJob;
use crate::random::sha256_hex;
use std::time::Duration;

/// `RemoveOldEmailVerificationTokens`: delete expired verification tokens, every 12 hours.
pub const DELETE_EXPIRED_EV_TOKENS: ExpiryJob = ExpiryJob {
    name: "RemoveOldEmailVerificationTokens",
    interval: Duration::from_secs(12 * 3600),
    delete: |core, now| Box::pin(async move { Ok(core.storage.delete_expired_email_verification_tokens(now).await?) }),
};

impl Core {
    // ---- email verification ----

    /// `POST /<tenant>/recipe/user/email/verify/token`: `None` = already verified.
    pub async fn ev_create_token(
        &self,
        tenant: &TenantIdentifier,
        user_id: &str,
        email: &str,
    ) -> CoreResult<Option<String>> {
        let entry = self.tenant(tenant).await?;
        let email = Email::normalise(email);
        if self.storage.is_email_verified(&tenant.app, user_id, email.as_str()).await? {
            return Ok(None);
        }
        let token = crate::random::url_token(self.rng.as_ref());
        let expiry = self.now() + entry.config.email_verification_token_lifetime_ms;
        self.storage.add_email_verification_token(tenant, user_id, email.as_str(), &sha256_hex(&token), expiry).await?;
        Ok(Some(token))
    }

    pub async fn ev_verify(&self, tenant: &TenantIdentifier, token: &str) -> CoreResult<Option<(String, String)>> {
        self.tenant(tenant).await?;
        Ok(self.storage.consume_email_verification_token(tenant, &sha256_hex(token), self.now()).await?)
    }

    pub async fn is_email_verified(&self, app: &AppId, user_id: &str, email: &str) -> CoreResult<bool> {
        Ok(self.storage.is_email_verified(app, user_id, Email::normalise(email).as_str()).await?)
    }

    pub async fn ev_remove_tokens(&self, tenant: &TenantIdentifier, user_id: &str, email: &str) -> CoreResult<()> {
        self.tenant(tenant).await?;
        Ok(self.storage.delete_email_verification_tokens(tenant, user_id, Email::normalise(email).as_str()).await?)
    }

    pub async fn unverify_email(&self, app: &AppId, user_id: &str, email: &str) -> CoreResult<()> {
        Ok(self.storage.unverify_email(app, user_id, Email::normalise(email).as_str()).await?)
    }
}
