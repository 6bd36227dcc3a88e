//! The checks of a WebAuthn ceremony's response against its generated options, pure: the
//! reference's `WebAuthnManager.createNonStrictWebAuthnManager().verify(...)` (webauthn4j) for a
//! registration (`navigator.credentials.create()`) and an assertion (`…get()`).
//!
//! Parsing is webauthn-rs-core's: the response JSON (`RegisterPublicKeyCredential`,
//! `PublicKeyCredential`), the authenticator data and its attested credential data, and COSE
//! keys, whose ES384 / RS256 signatures it verifies too. ES256 signatures over P-256 (nearly every
//! passkey) are verified with ring ([`signature_verifies`]), and so are those of Ed25519 (EdDSA)
//! keys, which that crate refuses and which are read here. The ceremony itself is ours (see docs/COMPATIBILITY.md):
//! the challenge lives in the options row, not in a webauthn-rs state object, and the
//! reference's non-strict checks differ from webauthn-rs's (presence and verification only when
//! the options require them; attestation statements of a known format are not verified).
//!
//! A malformed response is [`Rejection::Credentials`] (the reference's `DataConversionException`,
//! `INVALID_CREDENTIALS_ERROR`); a well-formed one that fails a check is
//! [`Rejection::Authenticator`] (its `VerificationException`, `INVALID_AUTHENTICATOR_ERROR`).

use crate::storage::{WebauthnCredential, WebauthnOptions};
use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use serde_json::Value;
use webauthn_rs_core::internals::AuthenticatorData;
use webauthn_rs_core::proto::{
    Authentication, COSEAlgorithm, COSEKey, COSEKeyType, ECDSACurve, PublicKeyCredential, RegisterPublicKeyCredential,
    Registration,
};

/// Why a response is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// `INVALID_OPTIONS_ERROR` (expired options).
    Options(String),
    /// `INVALID_CREDENTIALS_ERROR`: the response is not a well-formed credential.
    Credentials(String),
    /// `INVALID_AUTHENTICATOR_ERROR`: a well-formed response that fails a check.
    Authenticator(String),
}

/// Java's URL-safe decoder (`Base64.getUrlDecoder()`): padding optional.
const URL_SAFE_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Base64url, padding optional.
pub(crate) fn decode_url_safe(s: &str) -> Option<Vec<u8>> {
    URL_SAFE_LENIENT.decode(s).ok()
}

/// The attestation statement formats webauthn4j knows (its non-strict manager accepts each
/// without verifying the statement).
const ATTESTATION_FORMATS: [&str; 7] =
    ["none", "packed", "fido-u2f", "android-key", "android-safetynet", "tpm", "apple"];

/// Offset of the attested credential data in the authenticator data: rpIdHash (32), flags (1),
/// signCount (4).
const ACD_OFFSET: usize = 37;

fn sha256(data: &[u8]) -> ring::digest::Digest {
    ring::digest::digest(&ring::digest::SHA256, data)
}

fn malformed(what: impl Into<String>) -> Rejection {
    Rejection::Credentials(what.into())
}

fn refused(what: impl Into<String>) -> Rejection {
    Rejection::Authenticator(what.into())
}

/// The origin of a URL for comparison: scheme, host and port (default ports implied), or the
/// whole string for an opaque one (`android:apk-key-hash:…`).
fn origin_key(origin: &str) -> String {
    match url::Url::parse(origin) {
        Ok(u) if u.origin().is_tuple() => u.origin().ascii_serialization(),
        _ => origin.to_string(),
    }
}

/// `clientDataJSON`: its type, challenge and origin against the options.
fn check_client_data(bytes: &[u8], ceremony: &str, options: &WebauthnOptions) -> Result<(), Rejection> {
    let data: Value = serde_json::from_slice(bytes).map_err(|_| malformed("clientDataJSON is not a JSON object"))?;
    let field = |name: &str| -> Result<&str, Rejection> {
        data.get(name).and_then(Value::as_str).ok_or_else(|| malformed(format!("clientDataJSON has no {name}")))
    };
    let (kind, challenge, origin) = (field("type")?, field("challenge")?, field("origin")?);
    if kind != ceremony {
        return Err(refused(format!("The client data type is '{kind}', '{ceremony}' was expected")));
    }
    let sent = decode_url_safe(challenge).ok_or_else(|| malformed("The client data challenge is not base64url"))?;
    if Some(sent) != decode_url_safe(&options.challenge) {
        return Err(refused("The client data challenge does not match the options' challenge"));
    }
    if origin_key(origin) != origin_key(&options.origin) {
        return Err(refused(format!("The client data origin '{origin}' does not match the options' origin")));
    }
    Ok(())
}

/// The authenticator data's flags against the options: the relying party, and presence and
/// verification where the options require them.
fn check_authenticator_data(
    raw: &[u8],
    user_present: bool,
    user_verified: bool,
    backup_eligible: bool,
    backup_state: bool,
    options: &WebauthnOptions,
) -> Result<(), Rejection> {
    if raw.get(..32) != Some(sha256(options.rp_id.as_bytes()).as_ref()) {
        return Err(refused("The relying party id hash of the authenticator data does not match the options"));
    }
    if options.user_presence_required && !user_present {
        return Err(refused("User presence is required but the authenticator did not report it"));
    }
    if options.user_verification.eq_ignore_ascii_case("required") && !user_verified {
        return Err(refused("User verification is required but the authenticator did not report it"));
    }
    if backup_state && !backup_eligible {
        return Err(refused("The authenticator reports a backed-up credential that is not backup eligible"));
    }
    Ok(())
}

/// A credential's public key: a COSE key webauthn-rs-core reads (EC2, RSA), or an Ed25519 one,
/// which it refuses and this module reads itself.
enum PublicKey {
    Cose(COSEKey),
    /// The 32-byte public point.
    Ed25519(Vec<u8>),
}

/// The COSE key labels (RFC 9053): key type, algorithm, curve, x.
const KTY: i128 = 1;
const ALG: i128 = 3;
const CRV: i128 = -1;
const X: i128 = -2;
const KTY_OKP: i128 = 1;
const ALG_EDDSA: i128 = -8;
const CRV_ED25519: i128 = 6;

/// Read a COSE public key.
fn public_key(value: &serde_cbor_2::Value) -> Result<PublicKey, String> {
    if let serde_cbor_2::Value::Map(m) = value {
        let int = |label: i128| match m.get(&serde_cbor_2::Value::Integer(label)) {
            Some(serde_cbor_2::Value::Integer(i)) => Some(*i),
            _ => None,
        };
        if int(KTY) == Some(KTY_OKP) && int(ALG) == Some(ALG_EDDSA) {
            if int(CRV) != Some(CRV_ED25519) {
                return Err("only the Ed25519 curve is supported for EdDSA".into());
            }
            return match m.get(&serde_cbor_2::Value::Integer(X)) {
                Some(serde_cbor_2::Value::Bytes(x)) if x.len() == 32 => Ok(PublicKey::Ed25519(x.clone())),
                _ => Err("the Ed25519 public key must be 32 bytes".into()),
            };
        }
    }
    COSEKey::try_from(value).map(PublicKey::Cose).map_err(|e| e.to_string())
}

/// Whether the key's algorithm is one this server verifies assertions of: ES256, ES384, RS256
/// and EdDSA (Ed25519).
fn supported(key: &PublicKey) -> bool {
    match key {
        PublicKey::Ed25519(_) => true,
        PublicKey::Cose(key) => matches!(
            (&key.type_, &key.key),
            (COSEAlgorithm::ES256 | COSEAlgorithm::ES384, COSEKeyType::EC_EC2(_))
                | (COSEAlgorithm::RS256, COSEKeyType::RSA(_))
        ),
    }
}

/// Whether `signature` over `data` verifies with `key`. ES256 over P-256 (nearly every
/// passkey) is verified with ring, whose P-256 arithmetic costs about a sixth of webauthn-rs-core's
/// (RustCrypto `p256`) per signature (`cargo xtask bench passkey`); both take the same
/// ASN.1 DER signatures. Other COSE keys go through webauthn-rs-core.
fn signature_verifies(key: &PublicKey, signature: &[u8], data: &[u8]) -> bool {
    use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_ASN1, ED25519};
    match key {
        PublicKey::Ed25519(x) => UnparsedPublicKey::new(&ED25519, x).verify(data, signature).is_ok(),
        PublicKey::Cose(cose) => match (&cose.type_, &cose.key) {
            (COSEAlgorithm::ES256, COSEKeyType::EC_EC2(ec))
                if ec.curve == ECDSACurve::SECP256R1 && ec.x.len() == 32 && ec.y.len() == 32 =>
            {
                let point = [&[4u8][..], &ec.x, &ec.y].concat();
                UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, &point).verify(data, signature).is_ok()
            }
            _ => cose.verify_signature(signature, data).unwrap_or(false),
        },
    }
}

/// A registration the checks accepted: what the credential's row keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registered {
    /// The attested credential data as sent (see [`WebauthnCredential::public_key`]).
    pub public_key: Vec<u8>,
    pub counter: i64,
    /// The reported transports as a JSON array, or `null`.
    pub transports: String,
}

/// The transports of a registration response (`response.transports`), as the reference stores
/// them: a JSON array of the strings, or `null`.
fn transports_of(credential: &Value) -> String {
    match credential.pointer("/response/transports").and_then(Value::as_array) {
        Some(list) => {
            let names: Vec<&str> = list.iter().filter_map(Value::as_str).collect();
            serde_json::to_string(&names).unwrap_or_else(|_| "null".into())
        }
        None => "null".into(),
    }
}

/// Check a registration response against its options (their expiry is the caller's).
pub fn verify_registration(options: &WebauthnOptions, credential: &Value) -> Result<Registered, Rejection> {
    let mut plain = credential.clone();
    // Kept as the client sent them (above), whatever strings they are.
    if let Some(response) = plain.get_mut("response").and_then(Value::as_object_mut) {
        response.remove("transports");
    }
    let parsed: RegisterPublicKeyCredential =
        serde_json::from_value(plain).map_err(|e| malformed(format!("The credential is malformed: {e}")))?;
    let response = &parsed.response;
    check_client_data(&response.client_data_json, "webauthn.create", options)?;
    let attestation: serde_cbor_2::Value = serde_cbor_2::from_slice(&response.attestation_object)
        .map_err(|_| malformed("The attestation object is not CBOR"))?;
    let serde_cbor_2::Value::Map(entries) = attestation else {
        return Err(malformed("The attestation object is not a CBOR map"));
    };
    let entry = |name: &str| entries.get(&serde_cbor_2::Value::Text(name.into()));
    let Some(serde_cbor_2::Value::Text(format)) = entry("fmt") else {
        return Err(malformed("The attestation object has no fmt"));
    };
    let Some(serde_cbor_2::Value::Bytes(raw)) = entry("authData") else {
        return Err(malformed("The attestation object has no authData"));
    };
    if !matches!(entry("attStmt"), Some(serde_cbor_2::Value::Map(_))) {
        return Err(malformed("The attestation object has no attStmt"));
    }
    let data = AuthenticatorData::<Registration>::try_from(raw.as_slice())
        .map_err(|e| malformed(format!("The authenticator data is malformed: {e}")))?;
    check_authenticator_data(
        raw,
        data.user_present,
        data.user_verified,
        data.backup_eligible,
        data.backup_state,
        options,
    )?;
    if !ATTESTATION_FORMATS.contains(&format.as_str()) {
        return Err(refused(format!("The attestation statement format '{format}' is not supported")));
    }
    let Some(acd) = data.acd.as_ref() else {
        return Err(refused("The authenticator data has no attested credential data"));
    };
    let key = public_key(&acd.credential_pk)
        .map_err(|e| malformed(format!("The credential public key is not usable: {e}")))?;
    if !supported(&key) {
        return Err(refused("The credential's algorithm is not supported (ES256, ES384, RS256 and EdDSA are)"));
    }
    // The attested credential data as sent: AAGUID, id length, id, then the COSE key, whose
    // CBOR length the decoder tells (extensions may follow it).
    let key_start = ACD_OFFSET + 16 + 2 + acd.credential_id.len();
    let mut decoder = serde_cbor_2::Deserializer::from_slice(raw.get(key_start..).unwrap_or_default());
    <serde::de::IgnoredAny as serde::Deserialize>::deserialize(&mut decoder)
        .map_err(|_| malformed("The credential public key is not CBOR"))?;
    let end = key_start + decoder.byte_offset();
    let public_key = raw.get(ACD_OFFSET..end).ok_or_else(|| malformed("The attested credential data is cut short"))?;
    Ok(Registered {
        public_key: public_key.to_vec(),
        counter: i64::from(data.counter),
        transports: transports_of(credential),
    })
}

/// The COSE key of a stored credential's attested credential data.
fn stored_key(attested: &[u8]) -> Option<PublicKey> {
    let id_len = usize::from(u16::from_be_bytes([*attested.get(16)?, *attested.get(17)?]));
    let cose = attested.get(18 + id_len..)?;
    let value: serde_cbor_2::Value = serde_cbor_2::from_slice(cose).ok()?;
    public_key(&value).ok()
}

/// Check an assertion against its options and the stored credential (the options' expiry is
/// the caller's). Returns the counter to store: the authenticator's when it counts, as the
/// reference, which refuses a count that does not go up.
pub fn verify_assertion(
    options: &WebauthnOptions,
    stored: &WebauthnCredential,
    credential: &Value,
) -> Result<i64, Rejection> {
    let parsed: PublicKeyCredential = serde_json::from_value(credential.clone())
        .map_err(|e| malformed(format!("The credential is malformed: {e}")))?;
    let response = &parsed.response;
    check_client_data(&response.client_data_json, "webauthn.get", options)?;
    let raw = &response.authenticator_data;
    let data = AuthenticatorData::<Authentication>::try_from(raw.as_slice())
        .map_err(|e| malformed(format!("The authenticator data is malformed: {e}")))?;
    check_authenticator_data(
        raw,
        data.user_present,
        data.user_verified,
        data.backup_eligible,
        data.backup_state,
        options,
    )?;
    let key =
        stored_key(&stored.public_key).ok_or_else(|| refused("The stored credential's public key is unreadable"))?;
    let mut signed = raw.clone();
    signed.extend_from_slice(sha256(&response.client_data_json).as_ref());
    if !signature_verifies(&key, &response.signature, &signed) {
        return Err(refused("The signature is not valid"));
    }
    let presented = i64::from(data.counter);
    if presented > 0 || stored.counter > 0 {
        if presented <= stored.counter {
            return Err(refused("The signature counter did not increase: the authenticator may be cloned"));
        }
        return Ok(presented);
    }
    Ok(stored.counter)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;
    use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
    use serde_cbor_2::Value as Cbor;

    /// ring's ES256 path and webauthn-rs-core's agree: a signature of the key verifies with
    /// both, a changed message or signature with neither.
    #[test]
    fn es256_is_verified_by_ring_as_by_webauthn_rs() {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng).unwrap();
        let point = pair.public_key().as_ref();
        let cose = Cbor::Map(
            [
                (KTY, Cbor::Integer(2)),
                (ALG, Cbor::Integer(-7)),
                (CRV, Cbor::Integer(1)),
                (X, Cbor::Bytes(point[1..33].to_vec())),
                (-3, Cbor::Bytes(point[33..].to_vec())),
            ]
            .into_iter()
            .map(|(k, v)| (Cbor::Integer(k), v))
            .collect(),
        );
        let key = public_key(&cose).unwrap();
        let PublicKey::Cose(inner) = &key else { panic!("an EC2 key is a COSE key") };
        let data = b"authenticatorData and the client data hash";
        let sig = pair.sign(&rng, data).unwrap().as_ref().to_vec();
        assert!(signature_verifies(&key, &sig, data));
        assert!(inner.verify_signature(&sig, data).unwrap());
        assert!(!signature_verifies(&key, &sig, b"another message"));
        assert!(!inner.verify_signature(&sig, b"another message").unwrap_or(false));
        let mut bad = sig.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(!signature_verifies(&key, &bad, data));
        assert!(!inner.verify_signature(&bad, data).unwrap_or(false));
    }
}
