//! Access-token signing keys: the rotating dynamic keys and the app's static key.

use super::SResult;
use crate::ids::AppId;
use async_trait::async_trait;

/// The `key_value` name of the signing key of cores older than 3.0.
pub const LEGACY_KEY_NAME: &str = "access_token_signing_key";

/// A stored signing key.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredKey {
    /// `d-<created>` for dynamic keys, the stored key id for static keys.
    pub kid: String,
    /// `"<base64 SPKI DER>|<base64 PKCS#8 DER>"` for RSA (the reference's), `"ES256|…|…"` or
    /// `"EdDSA|…|…"` for our elliptic-curve keys (see [`crate::crypto::SigningKey::parse`]).
    pub value: String,
    pub created_at: i64,
}

impl StoredKey {
    /// Whether this key signs with the same algorithm as `other` (a rotation slot is per
    /// algorithm: switching `access_token_signing_algorithm` makes a key of the new one).
    pub fn same_algorithm(&self, other: &StoredKey) -> bool {
        crate::crypto::KeyAlg::of_stored(&self.value) == crate::crypto::KeyAlg::of_stored(&other.value)
    }
}

#[async_trait]
pub trait SigningKeyStorage: Send + Sync {
    /// Atomically (serialised per app across every instance sharing the database): read the
    /// dynamic keys created at or after `verify_after`; if none of the candidate's algorithm
    /// ([`StoredKey::same_algorithm`]) was created at or after `sign_after` and `candidate` is
    /// given, insert it. Returns the keys, newest first, and
    /// whether the candidate was inserted. Two instances can never insert a key for the same
    /// rotation slot.
    async fn dynamic_keys_rotate(
        &self,
        app: &AppId,
        verify_after: i64,
        sign_after: i64,
        candidate: Option<&StoredKey>,
    ) -> SResult<(Vec<StoredKey>, bool)>;
    /// Cron: delete dynamic keys of `app` created before `before`.
    async fn delete_dynamic_keys_before(&self, app: &AppId, before: i64) -> SResult<u64>;
    /// The app's static RS256 key, inserting `candidate` if there is none yet. Returns the stored one.
    async fn static_key_get_or_insert(&self, app: &AppId, candidate: Option<&StoredKey>) -> SResult<Option<StoredKey>> {
        self.static_key_of_alg_get_or_insert(app, "RS256", candidate).await
    }
    /// The app's static key of `algorithm` (`jwt_signing_keys.algorithm`: "RS256", "ES256" or
    /// "EdDSA"), inserting `candidate` (a key of that algorithm) if there is none yet.
    async fn static_key_of_alg_get_or_insert(
        &self,
        app: &AppId,
        algorithm: &str,
        candidate: Option<&StoredKey>,
    ) -> SResult<Option<StoredKey>>;
    /// Atomically move the signing key of a core older than 3.0 (`key_value`
    /// `access_token_signing_key` of the app's public tenant) to the tables of today: as a
    /// dynamic key created when it was (`dynamic`), or else as the static key `static_kid`,
    /// then delete it from `key_value`. Returns whether there was one (once only, whichever
    /// instance gets it).
    async fn transfer_legacy_signing_key(&self, app: &AppId, dynamic: bool, static_kid: &str) -> SResult<bool>;
}
