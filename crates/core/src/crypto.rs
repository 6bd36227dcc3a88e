//! Cryptographic building blocks: RSA signing keys (stored as `SPKI|PKCS#8`, base64), JWS
//! compact RS256 signing and verification with parsed keys kept in memory, and the opaque
//! refresh-token encryption (AES-256-GCM under a PBKDF2-derived key).

use crate::random::Random;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use ring::signature::{self, RsaKeyPair, RsaPublicKeyComponents};
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

/// A public RS256 key as the JWKS publishes it, fields in the reference's order.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Jwk {
    pub kty: &'static str,
    pub kid: String,
    pub n: String,
    pub e: String,
    pub alg: &'static str,
    #[serde(rename = "use")]
    pub use_: &'static str,
}

/// A parsed signing key: private half ready to sign, public components ready to verify.
pub struct SigningKey {
    pub kid: String,
    pub created_at: i64,
    pair: Option<RsaKeyPair>,
    /// The public half as stored (base64 of its X.509 DER), which legacy SDKs were handed.
    public_b64: String,
    n: Vec<u8>,
    e: Vec<u8>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey").field("kid", &self.kid).field("created_at", &self.created_at).finish()
    }
}

impl SigningKey {
    /// Parse the stored `public|private` (or legacy `public;private`) form.
    pub fn parse(kid: &str, created_at: i64, stored: &str) -> Result<SigningKey, String> {
        use rsa::pkcs8::DecodePublicKey;
        use rsa::traits::PublicKeyParts;
        let (public_b64, private_b64) =
            stored.split_once('|').or_else(|| stored.split_once(';')).ok_or("malformed signing key")?;
        let spki = STANDARD.decode(public_b64.trim()).map_err(|e| e.to_string())?;
        let public = rsa::RsaPublicKey::from_public_key_der(&spki).map_err(|e| e.to_string())?;
        let pair = if private_b64.trim().is_empty() {
            None
        } else {
            let pkcs8 = STANDARD.decode(private_b64.trim()).map_err(|e| e.to_string())?;
            Some(RsaKeyPair::from_pkcs8(&pkcs8).map_err(|e| e.to_string())?)
        };
        Ok(SigningKey {
            kid: kid.to_string(),
            created_at,
            pair,
            public_b64: public_b64.trim().to_string(),
            n: public.n().to_bytes_be(),
            e: public.e().to_bytes_be(),
        })
    }

    /// The JWK of the public half.
    pub fn jwk(&self) -> Jwk {
        Jwk {
            kty: "RSA",
            kid: self.kid.clone(),
            n: URL_SAFE_NO_PAD.encode(&self.n),
            e: URL_SAFE_NO_PAD.encode(&self.e),
            alg: "RS256",
            use_: "sig",
        }
    }

    /// Sign a JWS compact token with this key.
    pub fn sign_jwt(&self, header: &Value, payload: &Value) -> Result<String, String> {
        let pair = self.pair.as_ref().ok_or("key has no private half")?;
        let header = serde_json::to_vec(header).map_err(|e| e.to_string())?;
        let payload = serde_json::to_vec(payload).map_err(|e| e.to_string())?;
        let mut msg = String::with_capacity(header.len() * 4 / 3 + payload.len() * 4 / 3 + 350);
        URL_SAFE_NO_PAD.encode_string(header, &mut msg);
        msg.push('.');
        URL_SAFE_NO_PAD.encode_string(payload, &mut msg);
        let mut sig = vec![0u8; pair.public().modulus_len()];
        pair.sign(&signature::RSA_PKCS1_SHA256, &ring::rand::SystemRandom::new(), msg.as_bytes(), &mut sig)
            .map_err(|_| "signing failed".to_string())?;
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
    pub fn sign_legacy(&self, header_b64: &str, payload: &Value) -> Result<String, String> {
        let pair = self.pair.as_ref().ok_or("key has no private half")?;
        let payload = serde_json::to_vec(payload).map_err(|e| e.to_string())?;
        let mut msg = format!("{header_b64}.");
        STANDARD.encode_string(payload, &mut msg);
        let mut sig = vec![0u8; pair.public().modulus_len()];
        pair.sign(&signature::RSA_PKCS1_SHA256, &ring::rand::SystemRandom::new(), msg.as_bytes(), &mut sig)
            .map_err(|_| "signing failed".to_string())?;
        msg.push('.');
        STANDARD.encode_string(sig, &mut msg);
        Ok(msg)
    }

    /// Check an RS256 signature over `signed` (the `header.payload` part).
    pub fn verify(&self, signed: &[u8], sig: &[u8]) -> bool {
        RsaPublicKeyComponents { n: &self.n, e: &self.e }
            .verify(&signature::RSA_PKCS1_2048_8192_SHA256, signed, sig)
            .is_ok()
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
        assert_eq!(key.jwk().e, "AQAB");
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
