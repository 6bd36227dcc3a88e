//! Randomness is an input too. Production uses the operating system's CSPRNG.

use ring::rand::SecureRandom;

pub trait Random: Send + Sync {
    fn fill(&self, buf: &mut [u8]);
}

/// The OS CSPRNG (via ring).
pub struct SystemRandom(ring::rand::SystemRandom);

impl SystemRandom {
    pub fn new() -> Self {
        SystemRandom(ring::rand::SystemRandom::new())
    }
}

impl Default for SystemRandom {
    fn default() -> Self {
        Self::new()
    }
}

impl Random for SystemRandom {
    fn fill(&self, buf: &mut [u8]) {
        // The OS RNG only fails if the kernel refuses getrandom(2); there is no safe fallback.
        if self.0.fill(buf).is_err() {
            std::process::abort();
        }
    }
}

pub fn bytes<const N: usize>(rng: &dyn Random) -> [u8; N] {
    let mut b = [0u8; N];
    rng.fill(&mut b);
    b
}

/// A random (version 4) UUID string.
pub fn uuid_v4(rng: &dyn Random) -> String {
    uuid::Builder::from_random_bytes(bytes::<16>(rng)).into_uuid().hyphenated().to_string()
}

/// Lower-case hex SHA-256 of a UTF-8 string.
pub fn sha256_hex(s: &str) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, s.as_bytes()))
}

/// Constant-time equality of two strings.
pub fn ct_eq(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// A random URL-safe token with 48 bytes of entropy (password-reset and e-mail-verification
/// tokens; only their SHA-256 is stored).
pub fn url_token(rng: &dyn Random) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes::<48>(rng))
}
