//! Password hashing (§d). New hashes use the configured algorithm (bcrypt `$2a$` with
//! `bcrypt_log_rounds`, or argon2id with the `argon2_*` settings); verification recognises
//! every stored format whatever the setting (bcrypt 2a/2b/2x/2y, argon2 i/d/id, Firebase scrypt).
//!
//! Hashing is CPU-bound, so it runs on tokio's blocking pool behind a semaphore (at most
//! `argon2_hashing_pool_size` argon2 hashes, at most one bcrypt hash per core at a time):
//! the async runtime never stalls, and `queue_depth` reports how many wait.

use crate::error::{CoreError, CoreResult};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use st_config::CoreConfig;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::{OnceCell, Semaphore};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Bcrypt,
    Argon2,
}

#[derive(Debug, Clone, Copy)]
pub struct Params {
    pub algorithm: Algorithm,
    pub bcrypt_cost: u32,
    pub argon2_memory_kb: u32,
    pub argon2_iterations: u32,
    pub argon2_parallelism: u32,
}

impl Params {
    pub fn from_config(cfg: &CoreConfig) -> Params {
        Params {
            algorithm: if cfg.password_hashing_alg == "ARGON2" { Algorithm::Argon2 } else { Algorithm::Bcrypt },
            bcrypt_cost: cfg.bcrypt_log_rounds,
            argon2_memory_kb: cfg.argon2_memory_kb,
            argon2_iterations: cfg.argon2_iterations,
            argon2_parallelism: cfg.argon2_parallelism,
        }
    }
}

/// Hash `password` (blocking; call through [`Hasher`]).
pub fn hash_blocking(password: &str, p: &Params, salt: [u8; 16]) -> Result<String, String> {
    match p.algorithm {
        Algorithm::Bcrypt => bcrypt::hash_with_salt(password, p.bcrypt_cost, salt)
            .map(|h| h.format_for_version(bcrypt::Version::TwoA))
            .map_err(|e| e.to_string()),
        Algorithm::Argon2 => {
            use argon2::password_hash::{PasswordHasher, SaltString};
            let params = argon2::Params::new(p.argon2_memory_kb, p.argon2_iterations, p.argon2_parallelism, Some(32))
                .map_err(|e| e.to_string())?;
            let hasher = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
            let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
            hasher.hash_password(password.as_bytes(), &salt).map(|h| h.to_string()).map_err(|e| e.to_string())
        }
    }
}

/// Which family a stored hash belongs to.
pub fn kind_of(stored: &str) -> Option<Algorithm> {
    if stored.starts_with("$argon2id$") || stored.starts_with("$argon2i$") || stored.starts_with("$argon2d$") {
        Some(Algorithm::Argon2)
    } else if ["$2a$", "$2b$", "$2x$", "$2y$"].iter().any(|p| stored.starts_with(p)) {
        Some(Algorithm::Bcrypt)
    } else {
        None
    }
}

/// Upper bounds on the cost parameters of a stored hash. The reference has none, but an
/// imported hash carries its own parameters, and one with `m=4194304` (argon2, 4 GiB) or
/// `m=40` (scrypt) would make a single sign-in allocate more memory than the machine has,
/// which aborts the process. So: at most 1 GiB of memory, argon2 at most 64 passes and 64
/// lanes, bcrypt at most cost 20 (about a minute here), scrypt at most 64 rounds. Hashes beyond
/// these are refused at import and never match at sign-in. The defaults of every supported
/// source (SuperTokens, Auth0/bcrypt 10-12, Firebase m=14 r=8) are far inside.
pub mod limits {
    pub const MAX_MEMORY_BYTES: u64 = 1 << 30;
    pub const MAX_ARGON2_PASSES: u32 = 64;
    pub const MAX_ARGON2_LANES: u32 = 64;
    pub const MAX_BCRYPT_COST: u32 = 20;
    pub const MAX_SCRYPT_ROUNDS: u32 = 64;
}

/// Whether verifying against `stored` stays within [`limits`]. Unparseable hashes count as
/// within: they simply fail to verify.
pub fn within_limits(stored: &str) -> bool {
    use limits::*;
    match kind_of(stored) {
        Some(Algorithm::Bcrypt) => {
            stored.get(4..6).and_then(|c| c.parse::<u32>().ok()).is_none_or(|cost| cost <= MAX_BCRYPT_COST)
        }
        Some(Algorithm::Argon2) => match argon2::password_hash::PasswordHash::new(stored) {
            Ok(h) => {
                let param = |name: &str| h.params.get_decimal(name).unwrap_or(0);
                u64::from(param("m")) * 1024 <= MAX_MEMORY_BYTES
                    && param("t") <= MAX_ARGON2_PASSES
                    && param("p") <= MAX_ARGON2_LANES
            }
            Err(_) => true,
        },
        None => match parse_firebase(stored) {
            // scrypt needs 128 · r · N bytes, N = 2^m.
            Some(f) => {
                f.rounds <= MAX_SCRYPT_ROUNDS
                    && f.mem_cost < 40
                    && 128 * u64::from(f.rounds) * (1u64 << f.mem_cost) <= MAX_MEMORY_BYTES
            }
            None => true,
        },
    }
}

/// Verify `password` against any supported stored format (blocking).
pub fn verify_blocking(password: &str, stored: &str, firebase_signer_key: Option<&str>) -> bool {
    if !within_limits(stored) {
        return false;
    }
    match kind_of(stored) {
        Some(Algorithm::Bcrypt) => {
            // The bcrypt crate does not know $2x$; it is the same algorithm for ASCII input.
            let normalised = match stored.strip_prefix("$2x$") {
                Some(rest) => format!("$2a${rest}"),
                None => stored.to_string(),
            };
            bcrypt::verify(password, &normalised).unwrap_or(false)
        }
        Some(Algorithm::Argon2) => {
            use argon2::password_hash::{PasswordHash, PasswordVerifier};
            let stored = argon2_with_version(stored);
            match PasswordHash::new(&stored) {
                Ok(h) => argon2::Argon2::default().verify_password(password.as_bytes(), &h).is_ok(),
                Err(_) => false,
            }
        }
        None if stored.starts_with("$f_scrypt$") => match firebase_signer_key {
            Some(key) => firebase_verify(password, stored, key).unwrap_or(false),
            None => false,
        },
        None => false,
    }
}

/// An argon2 hash without `v=` is version 1.0 (0x10) for libargon2, which the reference
/// uses; the PHC parser here would take version 1.3. So name the version explicitly.
fn argon2_with_version(stored: &str) -> std::borrow::Cow<'_, str> {
    let mut parts = stored.splitn(4, '$');
    let (Some(""), Some(id), Some(second)) = (parts.next(), parts.next(), parts.next()) else {
        return stored.into();
    };
    if second.starts_with("v=") {
        return stored.into();
    }
    match parts.next() {
        Some(rest) => format!("${id}$v=16${second}${rest}").into(),
        None => stored.into(),
    }
}

/// Whether an argon2 hash is one this server can verify: the reference's libargon2 also takes
/// salts over 48 bytes and outputs over 64 bytes, which the PHC parser here refuses, so such a
/// hash is refused at import instead of failing every sign-in.
pub fn argon2_verifiable(stored: &str) -> bool {
    argon2::password_hash::PasswordHash::new(&argon2_with_version(stored)).is_ok()
}

/// Base64 as the reference's commons-codec decoder reads it: URL-safe letters accepted,
/// padding optional, other characters skipped.
fn decode_lenient(text: &str) -> Option<Vec<u8>> {
    use base64::engine::{general_purpose::GeneralPurpose, DecodePaddingMode, GeneralPurposeConfig};
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_padding_mode(DecodePaddingMode::RequireNone)
            .with_decode_allow_trailing_bits(true),
    );
    let mut clean: String = text
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            other => other,
        })
        .filter(|c| c.is_ascii_alphanumeric() || *c == '+' || *c == '/')
        .collect();
    if clean.len() % 4 == 1 {
        clean.pop();
    }
    LENIENT.decode(clean).ok()
}

/// Parsed `$f_scrypt$<hash>$<salt>$m=<mem>$r=<rounds>$s=<separator>` (m/r/s in any order).
pub struct FirebaseHash {
    hash: Vec<u8>,
    salt: Vec<u8>,
    separator: Vec<u8>,
    mem_cost: u8,
    rounds: u32,
}

pub fn parse_firebase(stored: &str) -> Option<FirebaseHash> {
    let parts: Vec<&str> = stored.split('$').collect();
    // ["", "f_scrypt", hash, salt, x, y, z]
    if parts.len() != 7 || parts[1] != "f_scrypt" {
        return None;
    }
    let (mut m, mut r, mut s) = (None, None, None);
    for p in &parts[4..] {
        let (k, v) = p.split_once('=')?;
        match k {
            "m" => m = v.parse::<u8>().ok(),
            "r" => r = v.parse::<u32>().ok(),
            "s" => s = decode_lenient(v),
            _ => return None,
        }
    }
    Some(FirebaseHash {
        hash: decode_lenient(parts[2])?,
        salt: decode_lenient(parts[3])?,
        separator: s?,
        mem_cost: m?,
        rounds: r?,
    })
}

fn firebase_verify(password: &str, stored: &str, signer_key: &str) -> Option<bool> {
    use aes::cipher::{KeyIvInit, StreamCipher};
    let f = parse_firebase(stored)?;
    let mut salt = f.salt.clone();
    salt.extend_from_slice(&f.separator);
    let params = scrypt::Params::new(f.mem_cost, f.rounds, 1, 64).ok()?;
    let mut derived = [0u8; 64];
    scrypt::scrypt(password.as_bytes(), &salt, &params, &mut derived).ok()?;
    let mut block = decode_lenient(signer_key)?;
    let mut cipher = ctr::Ctr128BE::<aes::Aes256>::new((&derived[..32]).into(), (&[0u8; 16]).into());
    cipher.apply_keystream(&mut block);
    Some(crate::random::ct_eq(&STANDARD.encode(&block), &STANDARD.encode(&f.hash)))
}

/// Which bounded queue a hashing operation waits in.
#[derive(Clone, Copy)]
enum Pool {
    Argon2,
    Firebase,
    Other,
}

/// The bounded hashing pool.
pub struct Hasher {
    params: Params,
    argon2: Arc<Semaphore>,
    /// Firebase scrypt checks (`firebase_password_hashing_pool_size`, as the reference's queue).
    firebase: Arc<Semaphore>,
    other: Arc<Semaphore>,
    waiting: Arc<AtomicUsize>,
    /// One dummy hash per algorithm (`password_hashing_alg` is per app): an unknown e-mail
    /// costs what a wrong password costs in the same app.
    dummy_bcrypt: OnceCell<String>,
    dummy_argon2: OnceCell<String>,
}

impl Hasher {
    pub fn new(cfg: &CoreConfig) -> Hasher {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        Hasher {
            params: Params::from_config(cfg),
            argon2: Arc::new(Semaphore::new(cfg.argon2_hashing_pool_size.max(1))),
            firebase: Arc::new(Semaphore::new(cfg.firebase_password_hashing_pool_size.max(1))),
            other: Arc::new(Semaphore::new(cores.max(1))),
            waiting: Arc::new(AtomicUsize::new(0)),
            dummy_bcrypt: OnceCell::new(),
            dummy_argon2: OnceCell::new(),
        }
    }

    /// Hashing operations waiting for a slot right now.
    pub fn queue_depth(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    async fn run<T: Send + 'static>(&self, pool: Pool, f: impl FnOnce() -> T + Send + 'static) -> CoreResult<T> {
        let sem = match pool {
            Pool::Argon2 => self.argon2.clone(),
            Pool::Firebase => self.firebase.clone(),
            Pool::Other => self.other.clone(),
        };
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let permit = sem.acquire_owned().await;
        self.waiting.fetch_sub(1, Ordering::Relaxed);
        let permit = permit.map_err(|e| CoreError::Internal(e.to_string()))?;
        let out = tokio::task::spawn_blocking(move || {
            let r = f();
            drop(permit);
            r
        })
        .await
        .map_err(|e| CoreError::Internal(e.to_string()))?;
        Ok(out)
    }

    /// Hash with the app's algorithm choice (`password_hashing_alg` is app-level).
    pub async fn hash(&self, password: &str, app_cfg: &CoreConfig, salt: [u8; 16]) -> CoreResult<String> {
        let mut p = self.params;
        p.algorithm = Params::from_config(app_cfg).algorithm;
        let pw = password.to_string();
        let pool = if p.algorithm == Algorithm::Argon2 { Pool::Argon2 } else { Pool::Other };
        self.run(pool, move || hash_blocking(&pw, &p, salt)).await?.map_err(CoreError::Internal)
    }

    pub async fn verify(&self, password: &str, stored: &str, firebase_key: Option<String>) -> CoreResult<bool> {
        let pool = match kind_of(stored) {
            Some(Algorithm::Argon2) => Pool::Argon2,
            Some(Algorithm::Bcrypt) => Pool::Other,
            None => Pool::Firebase,
        };
        let (pw, st) = (password.to_string(), stored.to_string());
        self.run(pool, move || verify_blocking(&pw, &st, firebase_key.as_deref())).await
    }

    /// Spend the same time as a real verification (unknown e-mail at sign-in).
    pub async fn verify_dummy(&self, password: &str, app_cfg: &CoreConfig, salt: [u8; 16]) -> CoreResult<()> {
        let cell = match Params::from_config(app_cfg).algorithm {
            Algorithm::Bcrypt => &self.dummy_bcrypt,
            Algorithm::Argon2 => &self.dummy_argon2,
        };
        let dummy = cell.get_or_try_init(|| self.hash("dummy-password-for-timing", app_cfg, salt)).await?.clone();
        self.verify(password, &dummy, None).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost_limits() {
        let argon = |m: u32, t: u32| format!("$argon2id$v=19$m={m},t={t},p=1$c2FsdHNhbHQ$xdhJXVf6QIhLMnXQ9E5wKA");
        assert!(within_limits(&argon(87795, 1)));
        assert!(within_limits(&argon(1 << 20, 64)));
        assert!(!within_limits(&argon(4194304, 1)), "4 GiB");
        assert!(!within_limits(&argon(16, 65)));
        let bcrypt = |cost: &str| format!("$2a${cost}$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy");
        assert!(within_limits(&bcrypt("12")));
        assert!(!within_limits(&bcrypt("21")));
        let firebase = |m: u32, r: u32| format!("$f_scrypt$aGFzaA==$c2FsdA==$m={m}$r={r}$s=Bw==");
        assert!(within_limits(&firebase(14, 8)));
        assert!(!within_limits(&firebase(40, 8)));
        assert!(!within_limits(&firebase(20, 64)), "8 GiB");
        assert!(!verify_blocking("pw", &argon(4194304, 1), None), "never attempted");
        assert!(within_limits("not a hash"));
    }

    fn params(algorithm: Algorithm) -> Params {
        Params { algorithm, bcrypt_cost: 4, argon2_memory_kb: 1024, argon2_iterations: 1, argon2_parallelism: 1 }
    }

    #[test]
    fn bcrypt_and_argon2_round_trip() {
        let h = hash_blocking("pw", &params(Algorithm::Bcrypt), [7; 16]).unwrap();
        assert!(h.starts_with("$2a$04$"));
        assert!(verify_blocking("pw", &h, None));
        assert!(!verify_blocking("nope", &h, None));
        let b = h.replacen("$2a$", "$2b$", 1);
        assert!(verify_blocking("pw", &b, None));
        let y = h.replacen("$2a$", "$2y$", 1);
        assert!(verify_blocking("pw", &y, None));
        let a = hash_blocking("pw", &params(Algorithm::Argon2), [9; 16]).unwrap();
        assert!(a.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"));
        assert!(verify_blocking("pw", &a, None));
        assert!(!verify_blocking("pw2", &a, None));
        assert!(!verify_blocking("pw", "plaintext", None));
    }

    #[test]
    fn firebase_scrypt_known_vector() {
        // Firebase's published sample parameters (firebase/scrypt README): password "user1password".
        let signer = "jxspr8Ki0RYycVU8zykbdLGjFQ3McFUH0uiiTvC8pVMXAn210wjLNmdZJzxUECKbm0QsEmYUSDzZvpjeJ9WmXA==";
        let stored = "$f_scrypt$lSrfV15cpx95/sZS2W9c9Kp6i/LVgQNDNC/qzrCnh1SAyZvqmZqAjTdn3aoItz+VHjoZilo78198JAdRuid5lQ==$42xEC+ixf3L2lw==$m=14$r=8$s=Bw==";
        assert!(verify_blocking("user1password", stored, Some(signer)));
        assert!(!verify_blocking("wrong", stored, Some(signer)));
        assert!(!verify_blocking("user1password", stored, None));
        // As the reference's lenient base64: no padding, URL-safe letters.
        let unpadded = stored.replace("==", "").replace('+', "-").replace('/', "_");
        assert!(verify_blocking("user1password", &unpadded, Some(&signer.replace("==", ""))));
        assert_eq!(decode_lenient("aGFzaA").as_deref(), Some(&b"hash"[..]));
        assert_eq!(decode_lenient(" aGFz\naA== ").as_deref(), Some(&b"hash"[..]));
    }

    #[test]
    fn argon2_without_version_is_version_1_0() {
        use argon2::password_hash::{PasswordHasher, SaltString};
        let salt = SaltString::encode_b64(b"saltsaltsaltsalt").unwrap();
        let params = argon2::Params::new(64, 1, 1, Some(32)).unwrap();
        let v10 = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x10, params);
        let stored = v10.hash_password(b"pw", &salt).unwrap().to_string();
        assert!(stored.contains("$v=16$"), "{stored}");
        let without = stored.replace("$v=16$", "$");
        assert!(verify_blocking("pw", &without, None), "libargon2 reads a missing v= as 1.0");
        assert!(!verify_blocking("other", &without, None));
        assert!(argon2_verifiable(&without));
        let long_salt = format!("$argon2id$v=19$m=64,t=1,p=1${}$xdhJXVf6QIhLMnXQ9E5wKA", "c2FsdA".repeat(20));
        assert!(!argon2_verifiable(&long_salt), "a salt the parser refuses is refused at import");
    }
}
