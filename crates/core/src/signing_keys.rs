//! Access-token signing keys of one app: dynamic keys that rotate every
//! `access_token_dynamic_signing_key_update_interval` (kept for verification while a token they
//! signed can still be valid) and the static key. Keys are cached in memory, parsed once, and
//! re-read from storage at least every [`CACHE_TTL_MS`] so that instances sharing a database
//! learn about each other's keys before those keys sign anything.
//!
//! Rotation is lazy (on read) and serialised by the storage per app, so several instances never
//! create two keys for the same rotation slot. The new key's RSA generation happens outside any
//! lock; a losing instance simply discards its candidate.
//!
//! Keys sign with `access_token_signing_algorithm` (RS256, ES256 or EdDSA, issue 26): a rotation
//! slot is per algorithm, so switching the setting makes a key of the new algorithm at the next
//! load, while the keys of the old one stay published and keep verifying until they expire.

use crate::clock::Clock;
use crate::crypto::{generate_key_string, KeyAlg, SigningKey};
use crate::error::{CoreError, CoreResult};
use crate::ids::AppId;
use crate::random::Random;
use crate::storage::{SigningKeyStorage, StoredKey};
use st_config::CoreConfig;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// How long a key snapshot is trusted before storage is read again.
pub const CACHE_TTL_MS: i64 = 30_000;
/// The overlap: a new key is published this long before it is used to sign.
pub const MAX_OVERLAP_MS: i64 = 60_000;

/// Timing parameters derived from the app's config.
#[derive(Debug, Clone, Copy)]
pub struct KeyTiming {
    /// Update interval U (ms).
    pub interval: i64,
    /// Overlap O (ms): 60 s, or half the interval when the interval is shorter (test mode).
    pub overlap: i64,
    /// Lifetime of a key for verification: U + 2 × access-token validity.
    pub lifetime: i64,
    /// `access_token_signing_key_dynamic`: whether a pre-3.0 core's key becomes a dynamic key
    /// (else the static key) when it is moved out of `key_value`.
    pub legacy_key_dynamic: bool,
    /// `access_token_signing_algorithm`: what new keys are and what signs.
    pub alg: KeyAlg,
}

impl KeyTiming {
    pub fn of(cfg: &CoreConfig) -> KeyTiming {
        let interval = cfg.signing_key_update_interval_ms.max(1);
        KeyTiming {
            interval,
            overlap: MAX_OVERLAP_MS.min(interval / 2),
            lifetime: interval + 2 * cfg.access_token_validity_s * 1000,
            legacy_key_dynamic: cfg.access_token_signing_key_dynamic,
            alg: configured_alg(cfg),
        }
    }
    fn ttl(&self) -> i64 {
        CACHE_TTL_MS.min(self.overlap.max(1))
    }
}

/// The app's `access_token_signing_algorithm` (the config keeps enum values in upper case).
pub fn configured_alg(cfg: &CoreConfig) -> KeyAlg {
    let alg = cfg.access_token_signing_algorithm.as_str();
    if alg.eq_ignore_ascii_case("ES256") {
        KeyAlg::Es256
    } else if alg.eq_ignore_ascii_case("EDDSA") {
        KeyAlg::EdDsa
    } else {
        KeyAlg::Rs256
    }
}

/// An immutable snapshot of an app's keys.
#[derive(Debug)]
pub struct KeySet {
    /// Dynamic keys, newest first (only keys still valid for verification when loaded).
    pub dynamic: Vec<Arc<SigningKey>>,
    /// The static key of the configured algorithm (what a static-key session signs with).
    pub static_key: Option<Arc<SigningKey>>,
    /// The static keys of the other algorithms, still published and verifying.
    pub other_static_keys: Vec<Arc<SigningKey>>,
    pub loaded_at: i64,
    pub timing: KeyTiming,
}

impl KeySet {
    fn valid_dynamic(&self, now: i64) -> impl Iterator<Item = &Arc<SigningKey>> {
        let lifetime = self.timing.lifetime;
        self.dynamic.iter().filter(move |k| k.created_at + lifetime >= now)
    }

    fn is_fresh(&self, now: i64, timing: &KeyTiming) -> bool {
        if self.loaded_at + timing.ttl() <= now
            || self.timing.interval != timing.interval
            || self.timing.alg != timing.alg
        {
            return false;
        }
        match self.valid_dynamic(now).find(|k| k.alg() == timing.alg) {
            Some(newest) => now + timing.overlap <= newest.created_at + timing.interval,
            None => false,
        }
    }

    /// The dynamic key that signs now: the newest of the configured algorithm, unless it is
    /// younger than the overlap and the key before it (of any algorithm, so that a switch of
    /// algorithm is published before it signs, as a rotation is) may still sign.
    pub fn signing_key(&self, now: i64) -> Option<&Arc<SigningKey>> {
        let mut valid = self.valid_dynamic(now).skip_while(|k| k.alg() != self.timing.alg);
        match (valid.next(), valid.next()) {
            (Some(latest), Some(previous))
                if latest.created_at + self.timing.overlap > now
                    && now < previous.created_at + self.timing.interval =>
            {
                Some(previous)
            }
            (Some(latest), _) => Some(latest),
            (None, _) => None,
        }
    }

    fn static_keys(&self) -> impl Iterator<Item = &Arc<SigningKey>> {
        self.static_key.iter().chain(self.other_static_keys.iter())
    }

    /// Find a verification key by kid (dynamic keys still valid, then the static key).
    pub fn find(&self, kid: &str, now: i64) -> Option<&Arc<SigningKey>> {
        self.valid_dynamic(now).find(|k| k.kid == kid).or_else(|| self.static_keys().find(|k| k.kid == kid))
    }

    /// Every key a token without a `kid` (a legacy v1/v2 token) may have been signed with:
    /// the RSA keys (legacy tokens are RS256): dynamic keys still valid, newest first, then the
    /// static key.
    pub fn verification_keys(&self, now: i64) -> impl Iterator<Item = &Arc<SigningKey>> {
        self.valid_dynamic(now).chain(self.static_keys()).filter(|k| k.alg() == KeyAlg::Rs256)
    }

    /// The dynamic keys still valid for verification, newest first.
    pub fn dynamic_keys(&self, now: i64) -> impl Iterator<Item = &Arc<SigningKey>> {
        self.valid_dynamic(now)
    }

    /// The JWKS `keys` array: dynamic keys newest first, then the static key, then the static
    /// keys of other algorithms (RSA, EC and OKP keys side by side).
    pub fn jwks(&self, now: i64) -> Vec<crate::crypto::Jwk> {
        self.valid_dynamic(now).chain(self.static_keys()).map(|k| k.jwk()).collect()
    }

    /// `Cache-Control: max-age` for the JWKS: until the next key could be created.
    pub fn jwks_max_age_s(&self, now: i64) -> i64 {
        match self.valid_dynamic(now).next() {
            Some(newest) => ((newest.created_at + self.timing.interval - self.timing.overlap - now) / 1000).max(1),
            None => 1,
        }
    }
}

/// What loading and rotating keys needs: the storage, the clock and the CSPRNG (the
/// [`crate::Core`]'s, through `Core::key_source`).
pub struct KeySource<'a> {
    pub storage: &'a dyn SigningKeyStorage,
    pub clock: &'a dyn Clock,
    pub rng: &'a Arc<dyn Random>,
}

impl KeySource<'_> {
    fn now(&self) -> i64 {
        self.clock.now_ms()
    }
}

/// The per-app key manager.
pub struct AppKeys {
    app: AppId,
    snapshot: RwLock<Option<Arc<KeySet>>>,
    refresh: tokio::sync::Mutex<()>,
    /// Whether this process has moved (or found no) pre-3.0 signing key of the app.
    legacy_moved: std::sync::atomic::AtomicBool,
}

impl AppKeys {
    pub fn new(app: AppId) -> AppKeys {
        AppKeys {
            app,
            snapshot: RwLock::new(None),
            refresh: tokio::sync::Mutex::new(()),
            legacy_moved: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Creation time of the newest loaded dynamic key.
    pub fn newest_created_at(&self) -> Option<i64> {
        self.current_snapshot().and_then(|s| s.dynamic.first().map(|k| k.created_at))
    }

    fn current_snapshot(&self) -> Option<Arc<KeySet>> {
        self.snapshot.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// A fresh-enough key set, rotating if needed. `force` re-reads storage (unknown kid).
    pub async fn get(&self, core: &KeySource<'_>, cfg: &CoreConfig, force: bool) -> CoreResult<Arc<KeySet>> {
        let timing = KeyTiming::of(cfg);
        let seen = self.current_snapshot();
        if let Some(s) = &seen {
            if !force && s.is_fresh(core.now(), &timing) {
                return Ok(s.clone());
            }
        }
        let _guard = self.refresh.lock().await;
        // Someone else may have refreshed while we waited.
        if let Some(s) = self.current_snapshot() {
            let changed = match &seen {
                Some(old) => !Arc::ptr_eq(old, &s),
                None => true,
            };
            if changed && s.is_fresh(core.now(), &timing) {
                return Ok(s);
            }
        }
        let fresh = Arc::new(self.load(core, &timing, seen.as_deref()).await?);
        *self.snapshot.write().unwrap_or_else(|p| p.into_inner()) = Some(fresh.clone());
        Ok(fresh)
    }

    async fn load(&self, core: &KeySource<'_>, timing: &KeyTiming, previous: Option<&KeySet>) -> CoreResult<KeySet> {
        // A database a core older than 3.0 served still has its one key in `key_value`: move
        // it to today's tables first, as the reference does when it loads an app, so that the
        // tokens it signed keep verifying.
        if !self.legacy_moved.load(std::sync::atomic::Ordering::Relaxed) {
            let static_kid = format!("s-{}", crate::random::uuid_v4(core.rng.as_ref()));
            if core.storage.transfer_legacy_signing_key(&self.app, timing.legacy_key_dynamic, &static_kid).await? {
                tracing::info!(app = %self.app, "moved the signing key of a core older than 3.0 out of key_value");
            }
            self.legacy_moved.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        let now = core.now();
        let verify_after = now - timing.lifetime;
        let sign_after = now - timing.interval + timing.overlap;
        let (mut stored, _) = core.storage.dynamic_keys_rotate(&self.app, verify_after, sign_after, None).await?;
        let alg = timing.alg;
        let mut static_stored = core.storage.static_key_of_alg_get_or_insert(&self.app, alg.name(), None).await?;
        // The static keys of the other algorithms, made while the setting was another one:
        // their tokens keep verifying.
        let mut other_static = Vec::new();
        for other in KeyAlg::ALL.into_iter().filter(|a| *a != alg) {
            if let Some(k) = core.storage.static_key_of_alg_get_or_insert(&self.app, other.name(), None).await? {
                other_static.push(k);
            }
        }
        // The static key exists from the app's first key load on, as the reference creates it
        // when it loads an app: so the JWKS publishes it before anything signs with it. Both
        // missing keys (an app's first load) are generated at once, one per core.
        let need_dynamic = !stored.iter().any(|k| k.created_at >= sign_after && KeyAlg::of_stored(&k.value) == alg);
        let need_static = static_stored.is_none();
        let generate_if = |needed: bool| async move {
            match needed {
                true => generate_key(core, alg).await.map(Some),
                false => Ok(None),
            }
        };
        let (dynamic_value, static_value) = tokio::join!(generate_if(need_dynamic), generate_if(need_static));
        if let Some(value) = dynamic_value? {
            // A dynamic key's id is its creation time: a key of the new algorithm made in the
            // same millisecond as the last one (a switch of the setting) is dated a little later.
            let created_at = stored.iter().map(|k| k.created_at + 1).fold(core.now(), i64::max);
            let candidate = StoredKey { kid: format!("d-{created_at}"), value, created_at };
            let (keys, inserted) =
                core.storage.dynamic_keys_rotate(&self.app, verify_after, sign_after, Some(&candidate)).await?;
            if inserted {
                tracing::info!(app = %self.app, kid = %candidate.kid, "created a new access-token signing key");
            }
            stored = keys;
        }
        if let Some(value) = static_value? {
            let candidate = StoredKey {
                kid: format!("s-{}", crate::random::uuid_v4(core.rng.as_ref())),
                value,
                created_at: core.now(),
            };
            static_stored =
                core.storage.static_key_of_alg_get_or_insert(&self.app, alg.name(), Some(&candidate)).await?;
        }
        let mut known: HashMap<&str, &Arc<SigningKey>> = HashMap::new();
        if let Some(prev) = previous {
            for k in prev.dynamic.iter().chain(prev.static_keys()) {
                known.insert(k.kid.as_str(), k);
            }
        }
        let parse = |s: &StoredKey| -> CoreResult<Arc<SigningKey>> {
            if let Some(k) = known.get(s.kid.as_str()) {
                return Ok((*k).clone());
            }
            SigningKey::parse(&s.kid, s.created_at, &s.value)
                .map(Arc::new)
                .map_err(|e| CoreError::Internal(format!("stored signing key {} is unreadable: {e}", s.kid)))
        };
        let mut dynamic = Vec::with_capacity(stored.len());
        for s in &stored {
            dynamic.push(parse(s)?);
        }
        dynamic.sort_by_key(|k| std::cmp::Reverse(k.created_at));
        let static_key = match &static_stored {
            Some(s) => Some(parse(s)?),
            None => None,
        };
        let mut other_static_keys = Vec::with_capacity(other_static.len());
        for s in &other_static {
            other_static_keys.push(parse(s)?);
        }
        Ok(KeySet { dynamic, static_key, other_static_keys, loaded_at: now, timing: *timing })
    }

    /// The app's static key (every key load makes sure that it exists).
    pub async fn static_key(&self, core: &KeySource<'_>, cfg: &CoreConfig) -> CoreResult<Arc<SigningKey>> {
        let set = self.get(core, cfg, false).await?;
        set.static_key.clone().ok_or_else(|| CoreError::Internal("static signing key was not stored".into()))
    }
}

async fn generate_key(core: &KeySource<'_>, alg: KeyAlg) -> CoreResult<String> {
    let rng = Arc::clone(core.rng);
    tokio::task::spawn_blocking(move || generate_key_string(alg, rng.as_ref()))
        .await
        .map_err(|e| CoreError::Internal(e.to_string()))?
        .map_err(CoreError::Internal)
}
