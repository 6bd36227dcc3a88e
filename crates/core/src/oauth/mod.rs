//! The OAuth2 / OpenID Connect provider (§a.18), built in. The reference proxies every call to
//! Ory Hydra and rewrites its answers; this module answers what the reference answers the
//! SDKs, with the state in our own tables (see docs/COMPATIBILITY.md for the differences).
//!
//! - [`clients`]: create, read, update, list and remove clients, with Hydra's defaults and
//!   validation, the secret kept encrypted as the reference keeps it.
//! - [`tokens`]: the token endpoint (client credentials), introspection, revocation.
//! - [`authorize`]: the authorisation endpoint, the login, consent and logout challenges.
//! - [`grants`]: the authorization-code and refresh-token grants, the ID token.

pub mod authorize;
pub mod clients;
pub mod grants;
pub mod tokens;

pub use crate::storage::OAuthRefusal;

use crate::core::Core;
use crate::error::CoreResult;
use crate::jobs::ExpiryJob;
use std::time::Duration;

/// How long expired grants and client-credentials stats are kept (the reference's 31 days).
pub const KEEP_EXPIRED_S: i64 = 31 * 24 * 3600;

/// `CleanupOAuthSessionsAndChallenges`: daily, every app's grants and client-credentials stats
/// rows that expired more than [`KEEP_EXPIRED_S`] ago.
pub const CLEANUP_OAUTH_SESSIONS: ExpiryJob = ExpiryJob {
    name: "CleanupOAuthSessionsAndChallenges",
    interval: Duration::from_secs(24 * 3600),
    delete: |core, now| Box::pin(core.delete_expired_oauth_tokens(now)),
};

impl Core {
    /// The cleanup job's work at `now` (ms): rows whose `exp` is more than 31 days past.
    pub async fn delete_expired_oauth_tokens(&self, now: i64) -> CoreResult<u64> {
        Ok(self.storage.delete_expired_oauth_tokens(now.div_euclid(1000) - KEEP_EXPIRED_S).await?)
    }
}

/// `invalid_client_metadata` (400) with Hydra's description and `hint`.
pub(crate) fn invalid_metadata(hint: &str) -> OAuthRefusal {
    OAuthRefusal {
        error: "invalid_client_metadata".into(),
        description: format!(
            "The value of one of the Client Metadata fields is invalid and the server has rejected this request. \
             Note that an Authorization Server MAY choose to substitute a valid value for any requested parameter \
             of a Client's Metadata. {hint}"
        ),
        status_code: 400,
    }
}

/// `invalid_request` (400) with `detail` after RFC 6749's description.
pub(crate) fn invalid_request(detail: &str) -> OAuthRefusal {
    OAuthRefusal {
        error: "invalid_request".into(),
        description: format!(
            "The request is missing a required parameter, includes an invalid parameter value, includes a \
             parameter more than once, or is otherwise malformed. {detail}"
        ),
        status_code: 400,
    }
}

/// RFC 3339 in UTC at whole seconds (`2024-05-06T07:08:09Z`), as Hydra writes its times.
pub(crate) fn rfc3339_seconds(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339() {
        assert_eq!(rfc3339_seconds(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_seconds(1_709_251_199_999), "2024-02-29T23:59:59Z");
        assert_eq!(rfc3339_seconds(951_782_400_000), "2000-02-29T00:00:00Z");
    }
}
