//! Cryptographic building blocks: access-token signing keys (RSA stored as `SPKI|PKCS#8`,
//! base64, as the reference stores them; P-256 and Ed25519 as `ES256|SPKI|PKCS#8` and
//! `EdDSA|SPKI|PKCS#8`), JWS compact RS256/ES256/EdDSA signing and verification with parsed
//! keys kept in memory, and the opaque
//! refresh-token encryption (AES-256-GCM under a PBKDF2-derived key).

use crate::random::Random;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair, RsaPublicKeyComponents};
use serde_json::{Map, Value};
use std::num::NonZeroU32;

/// Adapter so that RSA key generation draws from our [`Random`] input.
struct RngAdapter<'a>(&'a dyn Random);

impl rand::RngCore for RngAdapter<'_> {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.0.fill(&mut b);
        u32::from_le_bytes(b)
    }
    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.0.fill(&mut b);
        u64::from_le_bytes(b)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.0.fill(dest)
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand::Error> {
        self.0.fill(dest);
        Ok(())
    }
}
impl rand::CryptoRng for RngAdapter<'_> {}

/// The algorithm an access-token signing key signs with (`access_token_signing_algorithm`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyAlg {
    /// RSASSA-PKCS1-v1_5 with SHA-256 over an RSA-2048 key: the reference's only algorithm.
    Rs256,
    /// ECDSA over P-256 with SHA-256, the 64-byte `r || s` signature of RFC 7518 §3.4.
    Es256,
    /// Ed25519 (RFC 8037).
    EdDsa,
}

impl KeyAlg {
    pub const ALL: [KeyAlg; 3] = [KeyAlg::Rs256, KeyAlg::Es256, KeyAlg::EdDsa];

    /// The JOSE `alg` name (also the config value and the `jwt_signing_keys.algorithm` column).
    pub fn name(self) -> &'static str {
        match self {
            KeyAlg::Rs256 => "RS256",
            KeyAlg::Es256 => "ES256",
            KeyAlg::EdDsa => "EdDSA",
        }
    }

    /// The algorithm of a JOSE `alg` name, exactly as written (`"none"`, `"HS256"`, … are `None`).
    pub fn from_name(name: &str) -> Option<KeyAlg> {
        KeyAlg::ALL.into_iter().find(|a| a.name() == name)
    }

    /// The algorithm of a stored key string: `ES256|…` and `EdDSA|…` name theirs, an RSA key
    /// (the reference's `<SPKI>|<PKCS#8>`, or `;` in older rows) has no prefix.
    pub fn of_stored(stored: &str) -> KeyAlg {
        match stored.split_once('|') {
            Some((prefix, _)) => KeyAlg::from_name(prefix).unwrap_or(KeyAlg::Rs256),
            None => KeyAlg::Rs256,
        }
    }
}

/// DER prefix of the SubjectPublicKeyInfo of a P-256 key (id-ecPublicKey, prime256v1), before
/// the 65-byte uncompressed point.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce,
    0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];
/// DER prefix of the SubjectPublicKeyInfo of an Ed25519 key (RFC 8410), before its 32 bytes.
const ED25519_SPKI_PREFIX: [u8; 12] = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];
/// DER prefix of a PKCS#8 v1 Ed25519 private key (RFC 8410), before its 32-byte seed.
const ED25519_PKCS8_PREFIX: [u8; 16] =
    [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];

/// Generate a new key of `alg` in its stored format (see [`SigningKey::parse`]).
/// RSA-2048 and Ed25519 draw from `rng`; a P-256 key is made by ring from the operating
/// system's CSPRNG (ring generates EC keys only from its own sealed random source; the ECDSA
/// signatures draw their nonces from it too). RSA is CPU-heavy: call from a blocking task.
pub fn generate_key_string(alg: KeyAlg, rng: &dyn Random) -> Result<String, String> {
    match alg {
        KeyAlg::Rs256 => generate_rsa_key_string(rng),
        KeyAlg::Es256 => {
            let sys = ring::rand::SystemRandom::new();
            let pkcs8 = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &sys)
                .map_err(|_| "P-256 key generation failed".to_string())?;
            let pair = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &sys)
                .map_err(|e| e.to_string())?;
            let spki = [&P256_SPKI_PREFIX[..], pair.public_key().as_ref()].concat();
            Ok(format!("ES256|{}|{}", STANDARD.encode(spki), STANDARD.encode(pkcs8.as_ref())))
        }
        KeyAlg::EdDsa => {
            let seed = crate::random::bytes::<32>(rng);
            let pair = Ed25519KeyPair::from_seed_unchecked(&seed).map_err(|e| e.to_string())?;
            let spki = [&ED25519_SPKI_PREFIX[..], pair.public_key().as_ref()].concat();
            let pkcs8 = [&ED25519_PKCS8_PREFIX[..], &seed[..]].concat();
            Ok(format!("EdDSA|{}|{}", STANDARD.encode(spki), STANDARD.encode(pkcs8)))
        }
    }
}

/// Generate a new RSA-2048 key pair in the stored format `"<b64 SPKI DER>|<b64 PKCS#8 DER>"`.
/// CPU-heavy (tens to hundreds of ms): call from a blocking task.
pub fn generate_rsa_key_string(rng: &dyn Random) -> Result<String, String> {
    use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey};
    let private = rsa::RsaPrivateKey::new(&mut RngAdapter(rng), 2048).map_err(|e| e.to_string())?;
    let public = private.to_public_key();
    let spki = public.to_public_key_der().map_err(|e| e.to_string())?;
    let pkcs8 = private.to_pkcs8_der().map_err(|e| e.to_string())?;
    Ok(format!("{}|{}", STANDARD.encode(spki.as_bytes()), STANDARD.encode(pkcs8.as_bytes())))
}

/// A public key as the JWKS publishes it, fields in the reference's order for RSA (`kty`,
/// `kid`, `n`, `e`, `alg`, `use`); an EC key has `crv`, `x`, `y` (RFC 7518 §6.2), an Ed25519
/// key `crv`, `x` (RFC 8037) in their place.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Jwk {
    pub kty: &'static str,
    pub kid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crv: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    pub alg: &'static str,
    #[serde(rename = "use")]
    pub use_: &'static str,
}

/// The key material of a [`SigningKey`], by algorithm.
enum Material {
    Rsa {
        pair: Option<RsaKeyPair>,
        n: Vec<u8>,
        e: Vec<u8>,
    },
    /// `point` is the 65-byte uncompressed P-256 point.
    Ec {
        pair: Option<EcdsaKeyPair>,
        point: Vec<u8>,
    },
    Ed {
        pair: Option<Ed25519KeyPair>,
        public: Vec<u8>,
    },
}

/// A parsed signing key: private half ready to sign, public components ready to verify.
pub struct SigningKey {
    pub kid: String,
    pub created_at: i64,
    /// The public half as stored (base64 of its X.509 DER), which legacy SDKs were handed.
    public_b64: String,
    material: Material,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg().name())
            .field("created_at", &self.created_at)
            .finish()
    }
}

impl SigningKey {
    /// Parse a stored key: an RSA key as the reference stores it, `<b64 SPKI DER>|<b64 PKCS#8
    /// DER>` (or `;` in older rows), and our elliptic-curve keys `ES256|<b64 SPKI>|<b64 PKCS#8>`
    /// and `EdDSA|<b64 SPKI>|<b64 PKCS#8>`. An empty private half is a verification-only key.
    pub fn parse(kid: &str, created_at: i64, stored: &str) -> Result<SigningKey, String> {
        let alg = KeyAlg::of_stored(stored);
        let rest = match alg {
            KeyAlg::Rs256 => stored,
            _ => stored.split_once('|').map(|(_, rest)| rest).unwrap_or_default(),
        };
        let (public_b64, private_b64) =
            rest.split_once('|').or_else(|| rest.split_once(';')).ok_or("malformed signing key")?;
        let (public_b64, private_b64) = (public_b64.trim(), private_b64.trim());
        let spki = STANDARD.decode(public_b64).map_err(|e| e.to_string())?;
        let pkcs8 = match private_b64.is_empty() {
            true => None,
            false => Some(STANDARD.decode(private_b64).map_err(|e| e.to_string())?),
        };
        let material = match alg {
            KeyAlg::Rs256 => {
                use rsa::pkcs8::DecodePublicKey;
                use rsa::traits::PublicKeyParts;
                let public = rsa::RsaPublicKey::from_public_key_der(&spki).map_err(|e| e.to_string())?;
                let pair = match pkcs8 {
                    None => None,
                    Some(p) => Some(RsaKeyPair::from_pkcs8(&p).map_err(|e| e.to_string())?),
                };
                Material::Rsa { pair, n: public.n().to_bytes_be(), e: public.e().to_bytes_be() }
            }
            KeyAlg::Es256 => {
                let point = spki.strip_prefix(&P256_SPKI_PREFIX[..]).filter(|p| p.len() == 65 && p[0] == 4);
                let point = point.ok_or("malformed P-256 public key")?.to_vec();
                let pair = match pkcs8 {
                    None => None,
                    Some(p) => {
                        let sys = ring::rand::SystemRandom::new();
                        let pair = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &p, &sys)
                            .map_err(|e| e.to_string())?;
                        if pair.public_key().as_ref() != point.as_slice() {
                            return Err("the P-256 key's halves do not match".into());
                        }
                        Some(pair)
                    }
                };
                Material::Ec { pair, point }
            }
            KeyAlg::EdDsa => {
                let public = spki.strip_prefix(&ED25519_SPKI_PREFIX[..]).filter(|p| p.len() == 32);
                let public = public.ok_or("malformed Ed25519 public key")?.to_vec();
                let pair = match pkcs8 {
                    None => None,
                    Some(p) => {
                        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&p).map_err(|e| e.to_string())?;
                        if pair.public_key().as_ref() != public.as_slice() {
                            return Err("the Ed25519 key's halves do not match".into());
                        }
                        Some(pair)
                    }
                };
                Material::Ed { pair, public }
            }
        };
        Ok(SigningKey { kid: kid.to_string(), created_at, public_b64: public_b64.to_string(), material })
    }

    /// The algorithm this key signs and verifies with.
    pub fn alg(&self) -> KeyAlg {
        match self.material {
            Material::Rsa { .. } => KeyAlg::Rs256,
            Material::Ec { .. } => KeyAlg::Es256,
            Material::Ed { .. } => KeyAlg::EdDsa,
        }
    }

    /// The JWK of the public half.
    pub fn jwk(&self) -> Jwk {
        let b64 = |b: &[u8]| Some(URL_SAFE_NO_PAD.encode(b));
        let mut jwk = Jwk {
            kty: "RSA",
            kid: self.kid.clone(),
            n: None,
            e: None,
            crv: None,
            x: None,
            y: None,
            alg: self.alg().name(),
            use_: "sig",
        };
        match &self.material {
            Material::Rsa { n, e, .. } => {
                jwk.n = b64(n);
                jwk.e = b64(e);
            }
            Material::Ec { point, .. } => {
                jwk.kty = "EC";
                jwk.crv = Some("P-256");
                jwk.x = b64(&point[1..33]);
                jwk.y = b64(&point[33..65]);
            }
            Material::Ed { public, .. } => {
                jwk.kty = "OKP";
                jwk.crv = Some("Ed25519");
                jwk.x = b64(public);
            }
        }
        jwk
    }

    /// The signature of `msg` by the private half.
    fn signature(&self, msg: &[u8]) -> Result<Vec<u8>, String> {
        let missing = || "key has no private half".to_string();
        match &self.material {
            Material::Rsa { pair, .. } => {
                let pair = pair.as_ref().ok_or_else(missing)?;
                let mut sig = vec![0u8; pair.public().modulus_len()];
                pair.sign(&signature::RSA_PKCS1_SHA256, &ring::rand::SystemRandom::new(), msg, &mut sig)
                    .map_err(|_| "signing failed".to_string())?;
                Ok(sig)
            }
            Material::Ec { pair, .. } => {
                let pair = pair.as_ref().ok_or_else(missing)?;
                let sig = pair.sign(&ring::rand::SystemRandom::new(), msg).map_err(|_| "signing failed".to_string())?;
                Ok(sig.as_ref().to_vec())
            }
            Material::Ed { pair, .. } => Ok(pair.as_ref().ok_or_else(missing)?.sign(msg).as_ref().to_vec()),
        }
    }

    /// Sign a JWS compact token with this key (the header names the algorithm: see
    /// [`SigningKey::alg`]).
    pub fn sign_jwt(&self, header: &Value, payload: &Value) -> Result<String, String> {
        let header = serde_json::to_vec(header).map_err(|e| e.to_string())?;
        let payload = serde_json::to_vec(payload).map_err(|e| e.to_string())?;
        let mut msg = String::with_capacity(header.len() * 4 / 3 + payload.len() * 4 / 3 + 350);
        URL_SAFE_NO_PAD.encode_string(header, &mut msg);
        msg.push('.');
        URL_SAFE_NO_PAD.encode_string(payload, &mut msg);
        let sig = self.signature(msg.as_bytes())?;
        msg.push('.');
        URL_SAFE_NO_PAD.encode_string(sig, &mut msg);
        Ok(msg)
    }

    /// The public half as base64 X.509 DER (the legacy `jwtSigningPublicKey`).
    pub fn public_key_b64(&self) -> &str {
        &self.public_b64
    }

    /// Sign a legacy (version 1 or 2) access token: the fixed `header_b64`, the payload and the
    /// RS256 signature in *standard* base64 with padding, as the reference's pre-2.21 tokens.
    /// Only an RSA key signs them (their header names RS256).
    pub fn sign_legacy(&self, header_b64: &str, payload: &Value) -> Result<String, String> {
        if self.alg() != KeyAlg::Rs256 {
            return Err(format!(
                "a {} key cannot sign a pre-2.21 access token: access_token_signing_algorithm must be RS256 for SDKs \
                 older than CDI 2.21",
                self.alg().name()
            ));
        }
        let payload = serde_json::to_vec(payload).map_err(|e| e.to_string())?;
        let mut msg = format!("{header_b64}.");
        STANDARD.encode_string(payload, &mut msg);
        let sig = self.signature(msg.as_bytes())?;
        msg.push('.');
        STANDARD.encode_string(sig, &mut msg);
        Ok(msg)
    }

    /// Check a signature over `signed` (the `header.payload` part) with this key's own
    /// algorithm. Which algorithm a token claims is the caller's check ([`SigningKey::alg`]):
    /// this never verifies with another one.
    pub fn verify(&self, signed: &[u8], sig: &[u8]) -> bool {
        match &self.material {
            Material::Rsa { n, e, .. } => {
                RsaPublicKeyComponents { n, e }.verify(&signature::RSA_PKCS1_2048_8192_SHA256, signed, sig).is_ok()
            }
            Material::Ec { point, .. } => signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                .verify(signed, sig)
                .is_ok(),
            Material::Ed { public, .. } => {
                signature::UnparsedPublicKey::new(&signature::ED25519, public).verify(signed, sig).is_ok()
            }
        }
    }
}

/// A JWT split into its parts, not yet verified.
#[derive(Debug)]
pub struct ParsedJwt<'a> {
    pub header: Map<String, Value>,
    pub payload: Map<String, Value>,
    pub signed: &'a str,
    pub signature: Vec<u8>,
}

/// Split and decode a compact JWS without checking its signature.
pub fn parse_jwt(token: &str) -> Result<ParsedJwt<'_>, String> {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err("Invalid JWT".into());
    };
    let decode = |part: &str| -> Result<Map<String, Value>, String> {
        let bytes = URL_SAFE_NO_PAD
            .decode(part.trim_end_matches('='))
            .or_else(|_| STANDARD.decode(part))
            .map_err(|_| "Invalid JWT".to_string())?;
        match serde_json::from_slice(&bytes) {
            Ok(Value::Object(m)) => Ok(m),
            _ => Err("Invalid JWT".into()),
        }
    };
    let header = decode(h)?;
    let payload = decode(p)?;
    let signature = URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .or_else(|_| STANDARD.decode(s))
        .map_err(|_| "Invalid JWT".to_string())?;
    Ok(ParsedJwt { header, payload, signed: &token[..h.len() + 1 + p.len()], signature })
}

const PBKDF2_ITERATIONS: u32 = 100;

fn refresh_cipher_key(master: &str, iv: &[u8]) -> [u8; 32] {
    let mut key = [0u8; 32];
    ring::pbkdf2::derive(
        ring::pbkdf2::PBKDF2_HMAC_SHA512,
        NonZeroU32::MIN.saturating_add(PBKDF2_ITERATIONS - 1),
        iv,
        master.as_bytes(),
        &mut key,
    );
    key
}

/// Encrypt a refresh-token payload: `base64(iv || ciphertext || tag)`.
pub fn encrypt_refresh_payload(master: &str, plaintext: &[u8], rng: &dyn Random) -> Result<String, String> {
    use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
    let iv = crate::random::bytes::<12>(rng);
    let key = LessSafeKey::new(
        UnboundKey::new(&AES_256_GCM, &refresh_cipher_key(master, &iv)).map_err(|_| "bad key".to_string())?,
    );
    let mut buf = plaintext.to_vec();
    key.seal_in_place_append_tag(Nonce::assume_unique_for_key(iv), Aad::empty(), &mut buf)
        .map_err(|_| "encryption failed".to_string())?;
    let mut out = iv.to_vec();
    out.extend_from_slice(&buf);
    Ok(STANDARD.encode(out))
}

/// Reverse of [`encrypt_refresh_payload`]; `None` for anything that does not decrypt.
pub fn decrypt_refresh_payload(master: &str, encoded: &str) -> Option<Vec<u8>> {
    use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
    let raw = STANDARD.decode(encoded).ok()?;
    if raw.len() < 12 + 16 {
        return None;
    }
    let (iv, rest) = raw.split_at(12);
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &refresh_cipher_key(master, iv)).ok()?);
    let nonce = Nonce::try_assume_unique_for_key(iv).ok()?;
    let mut buf = rest.to_vec();
    let plain = key.open_in_place(nonce, Aad::empty(), &mut buf).ok()?;
    Some(plain.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::SystemRandom;
    use serde_json::json;

    #[test]
    fn sign_verify_round_trip_and_jwk() {
        let rng = SystemRandom::new();
        let stored = generate_rsa_key_string(&rng).unwrap();
        let key = SigningKey::parse("d-1", 1, &stored).unwrap();
        let token = key.sign_jwt(&json!({"alg":"RS256","kid":"d-1"}), &json!({"sub":"u"})).unwrap();
        let parsed = parse_jwt(&token).unwrap();
        assert_eq!(parsed.payload["sub"], "u");
        assert!(key.verify(parsed.signed.as_bytes(), &parsed.signature));
        assert!(!key.verify(b"other", &parsed.signature));
        assert_eq!(key.jwk().e.as_deref(), Some("AQAB"));
        assert_eq!(key.alg(), KeyAlg::Rs256);
    }

    #[test]
    fn elliptic_keys_round_trip_and_jwk() {
        let rng = SystemRandom::new();
        for (alg, kty, crv) in [(KeyAlg::Es256, "EC", "P-256"), (KeyAlg::EdDsa, "OKP", "Ed25519")] {
            let stored = generate_key_string(alg, &rng).unwrap();
            assert!(stored.starts_with(&format!("{}|", alg.name())), "{stored}");
            assert_eq!(KeyAlg::of_stored(&stored), alg);
            let key = SigningKey::parse("d-1", 1, &stored).unwrap();
            assert_eq!(key.alg(), alg);
            let token = key.sign_jwt(&json!({"alg": alg.name(), "kid":"d-1"}), &json!({"sub":"u"})).unwrap();
            let parsed = parse_jwt(&token).unwrap();
            assert!(key.verify(parsed.signed.as_bytes(), &parsed.signature));
            assert!(!key.verify(b"other", &parsed.signature));
            let jwk = key.jwk();
            assert_eq!((jwk.kty, jwk.crv, jwk.alg, jwk.n), (kty, Some(crv), alg.name(), None));
            // The public half alone verifies, and cannot sign.
            let (prefix_and_public, _) = stored.rsplit_once('|').unwrap();
            let public_only = SigningKey::parse("d-1", 1, &format!("{prefix_and_public}|")).unwrap();
            assert!(public_only.verify(parsed.signed.as_bytes(), &parsed.signature));
            assert!(public_only.sign_jwt(&json!({}), &json!({})).is_err());
            assert!(key.sign_legacy("x", &json!({})).is_err(), "legacy tokens are RS256 only");
        }
        let rsa = SigningKey::parse("r", 1, &generate_rsa_key_string(&rng).unwrap()).unwrap();
        let ec = SigningKey::parse("e", 1, &generate_key_string(KeyAlg::Es256, &rng).unwrap()).unwrap();
        let token = ec.sign_jwt(&json!({"alg":"ES256"}), &json!({})).unwrap();
        let parsed = parse_jwt(&token).unwrap();
        assert!(!rsa.verify(parsed.signed.as_bytes(), &parsed.signature), "an RSA key never checks an EC signature");
    }

    #[test]
    fn refresh_payload_round_trip() {
        let rng = SystemRandom::new();
        let enc = encrypt_refresh_payload("master", b"{\"a\":1}", &rng).unwrap();
        assert_eq!(decrypt_refresh_payload("master", &enc).unwrap(), b"{\"a\":1}");
        assert!(decrypt_refresh_payload("other", &enc).is_none());
        assert!(decrypt_refresh_payload("master", "garbage").is_none());
    }
}
