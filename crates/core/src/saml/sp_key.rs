//! The app's SP key pair and self-signed certificate, which sign AuthnRequests and are
//! published in the SP metadata. Kept as the Java core keeps them, in the app's public
//! tenant's `key_value`: `saml_key_pair` = base64(PKCS#8 private key) `\n` base64(X.509 SPKI),
//! `saml_certificate` = base64(certificate DER). Made on first use (RSA-4096, 2048 in test
//! mode as the reference's tests, valid 10 years, `CN=SAML-SP, O=SuperTokens, C=US`,
//! digitalSignature + keyEncipherment, CA:FALSE); instances racing to make it keep the first
//! stored key pair (insert-if-absent), and a certificate is always made for the stored pair.

use crate::error::{CoreError, CoreResult};
use crate::ids::{AppId, TenantIdentifier};
use crate::random::Random;
use crate::Core;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
use std::sync::Arc;

const KEY_PAIR_NAME: &str = "saml_key_pair";
const CERTIFICATE_NAME: &str = "saml_certificate";
const VALIDITY_MS: i64 = 10 * 365 * 24 * 60 * 60 * 1000;

/// A usable SP key: the private half and the certificate.
pub struct SpKey {
    pair: RsaKeyPair,
    cert_der: Vec<u8>,
    pub not_after_ms: i64,
}

impl SpKey {
    pub fn certificate_b64(&self) -> String {
        STANDARD.encode(&self.cert_der)
    }

    /// RSA-SHA256 (PKCS#1 v1.5) signature of `msg`.
    pub fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, String> {
        let mut sig = vec![0u8; self.pair.public().modulus_len()];
        self.pair
            .sign(&RSA_PKCS1_SHA256, &ring::rand::SystemRandom::new(), msg, &mut sig)
            .map_err(|_| "signing failed".to_string())?;
        Ok(sig)
    }
}

fn internal(e: impl std::fmt::Display) -> CoreError {
    CoreError::Internal(format!("SAML SP key: {e}"))
}

/// Key generation drawing from the [`Random`] input.
struct RngAdapter<'a>(&'a dyn Random);

impl rand::RngCore for RngAdapter<'_> {
    fn next_u32(&mut self) -> u32 {
        u32::from_le_bytes(crate::random::bytes::<4>(self.0))
    }
    fn next_u64(&mut self) -> u64 {
        u64::from_le_bytes(crate::random::bytes::<8>(self.0))
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

/// A new RSA key pair in the stored format.
fn generate_key_pair(rng: &dyn Random, bits: usize) -> Result<String, String> {
    use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey};
    let private = rsa::RsaPrivateKey::new(&mut RngAdapter(rng), bits).map_err(|e| e.to_string())?;
    let spki = private.to_public_key().to_public_key_der().map_err(|e| e.to_string())?;
    let pkcs8 = private.to_pkcs8_der().map_err(|e| e.to_string())?;
    Ok(format!("{}\n{}", STANDARD.encode(pkcs8.as_bytes()), STANDARD.encode(spki.as_bytes())))
}

/// The PKCS#8 DER of a stored key pair.
fn private_der(stored: &str) -> Result<Vec<u8>, String> {
    let mut parts = stored.split('\n');
    let (Some(private), Some(_public), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err("invalid key pair string format".into());
    };
    STANDARD.decode(private.trim()).map_err(|e| e.to_string())
}

/// A self-signed certificate for the stored key pair, valid from `now_ms` for 10 years.
fn make_certificate(pkcs8: &[u8], now_ms: i64, serial: [u8; 16]) -> Result<Vec<u8>, String> {
    use rcgen::{CertificateParams, DistinguishedName, DnType, IsCa, KeyPair, KeyUsagePurpose, SerialNumber};
    let key = KeyPair::try_from(pkcs8).map_err(|e| e.to_string())?;
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(|e| e.to_string())?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "SAML-SP");
    dn.push(DnType::OrganizationName, "SuperTokens");
    dn.push(DnType::CountryName, "US");
    params.distinguished_name = dn;
    let at = |ms: i64| time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000)).map_err(|e| e.to_string());
    params.not_before = at(now_ms)?;
    params.not_after = at(now_ms.saturating_add(VALIDITY_MS))?;
    // A positive 128-bit serial (top bit clear).
    let mut serial = serial;
    serial[0] &= 0x7f;
    params.serial_number = Some(SerialNumber::from_slice(&serial));
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    let cert = params.self_signed(&key).map_err(|e| e.to_string())?;
    Ok(cert.der().to_vec())
}

/// The certificate's `notAfter` in ms.
fn not_after_ms(der: &[u8]) -> Result<i64, String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|e| e.to_string())?;
    Ok(cert.validity().not_after.timestamp().saturating_mul(1000))
}

fn load(stored_pair: &str, stored_cert: &str) -> Result<SpKey, String> {
    let pkcs8 = private_der(stored_pair)?;
    let pair = RsaKeyPair::from_pkcs8(&pkcs8).map_err(|e| e.to_string())?;
    let cert_der = STANDARD.decode(stored_cert.trim()).map_err(|e| e.to_string())?;
    let not_after_ms = not_after_ms(&cert_der)?;
    Ok(SpKey { pair, cert_der, not_after_ms })
}

impl Core {
    /// The app's SP key, made and stored on first use (or when its certificate expired).
    pub(crate) async fn saml_sp_key(&self, app: &AppId) -> CoreResult<SpKey> {
        let t = TenantIdentifier::app_public(app);
        let now = self.now();
        let stored_pair = self.storage.get_key_value(&t, KEY_PAIR_NAME).await?;
        let stored_cert = self.storage.get_key_value(&t, CERTIFICATE_NAME).await?;
        if let (Some(p), Some(c)) = (&stored_pair, &stored_cert) {
            let key = load(p, c).map_err(internal)?;
            if key.not_after_ms >= now {
                return Ok(key);
            }
            // Expired: a new pair and certificate replace both (as the reference does).
            let (pair, cert) = self.new_sp_key(now).await?;
            self.storage.set_key_value(&t, KEY_PAIR_NAME, &pair, now).await?;
            self.storage.set_key_value(&t, CERTIFICATE_NAME, &cert, now).await?;
            return load(&pair, &cert).map_err(internal);
        }
        let pair = match stored_pair {
            Some(p) => p,
            None => {
                let (pair, _) = self.new_sp_key_pair().await?;
                self.storage.get_or_insert_key_value(&t, KEY_PAIR_NAME, &pair, now).await?
            }
        };
        let pkcs8 = private_der(&pair).map_err(internal)?;
        let cert = STANDARD
            .encode(make_certificate(&pkcs8, now, crate::random::bytes::<16>(self.rng.as_ref())).map_err(internal)?);
        let cert = self.storage.get_or_insert_key_value(&t, CERTIFICATE_NAME, &cert, now).await?;
        load(&pair, &cert).map_err(internal)
    }

    async fn new_sp_key_pair(&self) -> CoreResult<(String, ())> {
        let rng: Arc<dyn Random> = self.rng.clone();
        let bits = if self.test_mode { 2048 } else { 4096 };
        let pair = tokio::task::spawn_blocking(move || generate_key_pair(rng.as_ref(), bits))
            .await
            .map_err(internal)?
            .map_err(internal)?;
        Ok((pair, ()))
    }

    async fn new_sp_key(&self, now: i64) -> CoreResult<(String, String)> {
        let (pair, ()) = self.new_sp_key_pair().await?;
        let pkcs8 = private_der(&pair).map_err(internal)?;
        let cert = make_certificate(&pkcs8, now, crate::random::bytes::<16>(self.rng.as_ref())).map_err(internal)?;
        Ok((pair, STANDARD.encode(cert)))
    }
}
