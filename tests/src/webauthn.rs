//! A software WebAuthn authenticator (and the browser's part of a ceremony), for tests: it
//! turns the options the core generates into the `RegistrationResponseJSON` /
//! `AuthenticationResponseJSON` a browser would hand to the SDK, with real keys (P-256 for
//! ES256, Ed25519 for EdDSA, RSA-2048 for RS256), real CBOR attestation objects and COSE keys,
//! and real signatures over `authenticatorData ‖ SHA-256(clientDataJSON)`.
//!
//! Everything a test may want to get wrong is a field of [`Ceremony`] (origin, challenge,
//! relying party, flags, counter, signature), so that each check of the server can be made to
//! fail on its own. Usable from any test or tool: it needs only the options' JSON.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use serde_json::{json, Value};

/// The authenticator's AAGUID (its model's id).
pub const AAGUID: [u8; 16] = [0x5e; 16];

/// The credential algorithms the authenticator can make keys for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// ECDSA P-256 with SHA-256 (COSE -7).
    Es256,
    /// Ed25519 (COSE -8).
    EdDsa,
    /// RSASSA-PKCS1-v1_5 with SHA-256, 2048-bit (COSE -257).
    Rs256,
}

impl Algorithm {
    pub fn cose_id(self) -> i64 {
        match self {
            Algorithm::Es256 => -7,
            Algorithm::EdDsa => -8,
            Algorithm::Rs256 => -257,
        }
    }
}

enum Key {
    Es256(EcdsaKeyPair),
    EdDsa(Ed25519KeyPair),
    Rs256(RsaKeyPair),
}

/// Minimal CBOR (RFC 8949) encoding: what attestation objects and COSE keys use.
pub mod cbor {
    /// A CBOR value.
    #[derive(Debug, Clone, PartialEq)]
    pub enum V {
        Int(i64),
        Bytes(Vec<u8>),
        Text(String),
        Map(Vec<(V, V)>),
    }

    fn head(out: &mut Vec<u8>, major: u8, n: u64) {
        let m = major << 5;
        match n {
            0..=23 => out.push(m | n as u8),
            24..=0xff => out.extend([m | 24, n as u8]),
            0x100..=0xffff => {
                out.push(m | 25);
                out.extend((n as u16).to_be_bytes());
            }
            0x1_0000..=0xffff_ffff => {
                out.push(m | 26);
                out.extend((n as u32).to_be_bytes());
            }
            _ => {
                out.push(m | 27);
                out.extend(n.to_be_bytes());
            }
        }
    }

    /// The encoding of `v` (map entries in the order given).
    pub fn encode(v: &V) -> Vec<u8> {
        let mut out = Vec::new();
        write(&mut out, v);
        out
    }

    fn write(out: &mut Vec<u8>, v: &V) {
        match v {
            V::Int(i) if *i >= 0 => head(out, 0, *i as u64),
            V::Int(i) => head(out, 1, (-1 - *i) as u64),
            V::Bytes(b) => {
                head(out, 2, b.len() as u64);
                out.extend(b);
            }
            V::Text(t) => {
                head(out, 3, t.len() as u64);
                out.extend(t.as_bytes());
            }
            V::Map(entries) => {
                head(out, 5, entries.len() as u64);
                for (k, v) in entries {
                    write(out, k);
                    write(out, v);
                }
            }
        }
    }
}

use cbor::V;

fn sha256(data: &[u8]) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, data).as_ref().to_vec()
}

fn b64(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

/// One credential (a key pair held by the authenticator) and its signature counter.
pub struct Credential {
    pub id: Vec<u8>,
    pub algorithm: Algorithm,
    key: Key,
    /// The user handle it was registered with (`user.id` of the options, decoded).
    pub user_handle: Vec<u8>,
    /// The signature counter: each assertion adds [`Credential::counter_step`] first.
    pub counter: u32,
    /// 0 for an authenticator that does not count (as synced passkeys).
    pub counter_step: u32,
    /// The PKCS#8 document of an ES256 key (empty for the others): what a tool keeps to sign
    /// with the credential again in another process ([`Credential::es256_from_pkcs8`]).
    pub pkcs8: Vec<u8>,
}

impl Credential {
    /// A new key pair of `algorithm` with a random 32-byte credential id.
    pub fn generate(algorithm: Algorithm) -> Credential {
        let rng = SystemRandom::new();
        let mut id = vec![0u8; 32];
        ring::rand::SecureRandom::fill(&rng, &mut id).expect("random credential id");
        let mut es256_pkcs8 = Vec::new();
        let key = match algorithm {
            Algorithm::Es256 => {
                let alg = &signature::ECDSA_P256_SHA256_ASN1_SIGNING;
                let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).expect("P-256 key");
                es256_pkcs8 = pkcs8.as_ref().to_vec();
                Key::Es256(EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).expect("P-256 key"))
            }
            Algorithm::EdDsa => {
                let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).expect("Ed25519 key");
                Key::EdDsa(Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("Ed25519 key"))
            }
            Algorithm::Rs256 => {
                let stored =
                    st_core::crypto::generate_rsa_key_string(&st_core::random::SystemRandom::new()).expect("RSA key");
                let (_, private) = stored.split_once('|').expect("SPKI|PKCS#8");
                use base64::engine::general_purpose::STANDARD;
                let der = STANDARD.decode(private).expect("PKCS#8 base64");
                Key::Rs256(RsaKeyPair::from_pkcs8(&der).expect("RSA key"))
            }
        };
        Credential { id, algorithm, key, user_handle: Vec::new(), counter: 0, counter_step: 1, pkcs8: es256_pkcs8 }
    }

    /// An ES256 credential registered before (its id, [`Credential::pkcs8`] and user handle),
    /// counting from 0 by `counter_step`; `None` if the document is not a P-256 key.
    pub fn es256_from_pkcs8(id: Vec<u8>, pkcs8: &[u8], user_handle: Vec<u8>, counter_step: u32) -> Option<Credential> {
        let alg = &signature::ECDSA_P256_SHA256_ASN1_SIGNING;
        let key = EcdsaKeyPair::from_pkcs8(alg, pkcs8, &SystemRandom::new()).ok()?;
        Some(Credential {
            id,
            algorithm: Algorithm::Es256,
            key: Key::Es256(key),
            user_handle,
            counter: 0,
            counter_step,
            pkcs8: pkcs8.to_vec(),
        })
    }

    /// The credential id as the JSON carries it (base64url).
    pub fn id_b64(&self) -> String {
        b64(&self.id)
    }

    /// The attested credential data of a registration: [`AAGUID`], the id's length (2 bytes,
    /// big-endian), the id, the COSE key (what the reference stores as `public_key`).
    pub fn attested_credential_data(&self) -> Vec<u8> {
        let mut out = AAGUID.to_vec();
        out.extend((self.id.len() as u16).to_be_bytes());
        out.extend(&self.id);
        out.extend(self.cose_key());
        out
    }

    /// The COSE_Key of the public key (CBOR).
    pub fn cose_key(&self) -> Vec<u8> {
        let map = match &self.key {
            Key::Es256(k) => {
                // Uncompressed point: 0x04 ‖ x ‖ y.
                let point = k.public_key().as_ref();
                V::Map(vec![
                    (V::Int(1), V::Int(2)),
                    (V::Int(3), V::Int(-7)),
                    (V::Int(-1), V::Int(1)),
                    (V::Int(-2), V::Bytes(point[1..33].to_vec())),
                    (V::Int(-3), V::Bytes(point[33..65].to_vec())),
                ])
            }
            Key::EdDsa(k) => V::Map(vec![
                (V::Int(1), V::Int(1)),
                (V::Int(3), V::Int(-8)),
                (V::Int(-1), V::Int(6)),
                (V::Int(-2), V::Bytes(k.public_key().as_ref().to_vec())),
            ]),
            Key::Rs256(k) => {
                let public: ring::rsa::PublicKeyComponents<Vec<u8>> = k.public().into();
                let (n, e) = (public.n, public.e);
                V::Map(vec![
                    (V::Int(1), V::Int(3)),
                    (V::Int(3), V::Int(-257)),
                    (V::Int(-1), V::Bytes(n)),
                    (V::Int(-2), V::Bytes(e)),
                ])
            }
        };
        cbor::encode(&map)
    }

    /// A signature over `data` with the credential's private key.
    pub fn sign(&self, data: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match &self.key {
            Key::Es256(k) => k.sign(&rng, data).expect("ECDSA signature").as_ref().to_vec(),
            Key::EdDsa(k) => k.sign(data).as_ref().to_vec(),
            Key::Rs256(k) => {
                let mut sig = vec![0u8; k.public().modulus_len()];
                k.sign(&signature::RSA_PKCS1_SHA256, &rng, data, &mut sig).expect("RSA signature");
                sig
            }
        }
    }
}

/// What the client and authenticator put in a response, defaulting to what the options ask
/// for; each field can be set to something else to make one check fail.
#[derive(Debug, Clone)]
pub struct Ceremony {
    /// `clientDataJSON.origin`.
    pub origin: String,
    /// `clientDataJSON.challenge` (base64url).
    pub challenge: String,
    /// The relying party whose SHA-256 starts the authenticator data.
    pub rp_id: String,
    /// `clientDataJSON.type` (`webauthn.create` / `webauthn.get` by default).
    pub client_data_type: Option<String>,
    pub user_present: bool,
    pub user_verified: bool,
    pub backup_eligible: bool,
    pub backup_state: bool,
    /// The signature counter to report instead of the credential's next one.
    pub counter: Option<u32>,
    /// Flip a bit of the signature.
    pub bad_signature: bool,
    /// `none` (default) or `packed` (self attestation, signed with the credential's key).
    pub attestation_format: String,
    /// `response.transports` of a registration.
    pub transports: Vec<String>,
}

impl Ceremony {
    /// The ceremony a browser at `origin` runs for these options (the core's register or
    /// sign-in options JSON).
    pub fn for_options(options: &Value, origin: &str) -> Ceremony {
        let rp_id = options["rp"]["id"].as_str().or(options["relyingPartyId"].as_str()).unwrap_or_default();
        Ceremony {
            origin: origin.to_string(),
            challenge: options["challenge"].as_str().unwrap_or_default().to_string(),
            rp_id: rp_id.to_string(),
            client_data_type: None,
            user_present: true,
            user_verified: true,
            backup_eligible: false,
            backup_state: false,
            counter: None,
            bad_signature: false,
            attestation_format: "none".into(),
            transports: vec!["internal".into(), "hybrid".into()],
        }
    }

    fn client_data(&self, default_type: &str) -> Vec<u8> {
        let kind = self.client_data_type.as_deref().unwrap_or(default_type);
        serde_json::to_vec(
            &json!({"type": kind, "challenge": self.challenge, "origin": self.origin, "crossOrigin": false}),
        )
        .expect("client data")
    }

    fn flags(&self, attested: bool) -> u8 {
        let mut f = 0u8;
        if self.user_present {
            f |= 0x01;
        }
        if self.user_verified {
            f |= 0x04;
        }
        if self.backup_eligible {
            f |= 0x08;
        }
        if self.backup_state {
            f |= 0x10;
        }
        if attested {
            f |= 0x40;
        }
        f
    }

    /// `navigator.credentials.create()`: a registration of `credential` (its user handle set
    /// from the options' `user.id`), as `RegistrationResponseJSON`.
    pub fn register(&self, credential: &mut Credential, options: &Value) -> Value {
        if let Some(handle) = options["user"]["id"].as_str() {
            credential.user_handle = URL_SAFE_NO_PAD.decode(handle).unwrap_or_default();
        }
        let counter = self.counter.unwrap_or(credential.counter);
        credential.counter = counter;
        let client_data = self.client_data("webauthn.create");
        let mut auth_data = sha256(self.rp_id.as_bytes());
        auth_data.push(self.flags(true));
        auth_data.extend(counter.to_be_bytes());
        auth_data.extend(credential.attested_credential_data());
        let statement = if self.attestation_format == "packed" {
            let mut signed = auth_data.clone();
            signed.extend(sha256(&client_data));
            let mut sig = credential.sign(&signed);
            if self.bad_signature {
                sig[0] ^= 1;
            }
            V::Map(vec![
                (V::Text("alg".into()), V::Int(credential.algorithm.cose_id())),
                (V::Text("sig".into()), V::Bytes(sig)),
            ])
        } else {
            V::Map(vec![])
        };
        let attestation = cbor::encode(&V::Map(vec![
            (V::Text("fmt".into()), V::Text(self.attestation_format.clone())),
            (V::Text("attStmt".into()), statement),
            (V::Text("authData".into()), V::Bytes(auth_data.clone())),
        ]));
        json!({
            "id": credential.id_b64(),
            "rawId": credential.id_b64(),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64(&client_data),
                "attestationObject": b64(&attestation),
                "authenticatorData": b64(&auth_data),
                "transports": self.transports,
                "publicKeyAlgorithm": credential.algorithm.cose_id(),
            },
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
        })
    }

    /// `navigator.credentials.get()`: an assertion by `credential` (its counter moved on by
    /// its step, unless [`Ceremony::counter`] says what to report), as
    /// `AuthenticationResponseJSON`.
    pub fn assert(&self, credential: &mut Credential) -> Value {
        let counter = match self.counter {
            Some(c) => c,
            None => credential.counter.wrapping_add(credential.counter_step),
        };
        credential.counter = counter;
        let client_data = self.client_data("webauthn.get");
        let mut auth_data = sha256(self.rp_id.as_bytes());
        auth_data.push(self.flags(false));
        auth_data.extend(counter.to_be_bytes());
        let mut signed = auth_data.clone();
        signed.extend(sha256(&client_data));
        let mut sig = credential.sign(&signed);
        if self.bad_signature {
            let last = sig.len() - 1;
            sig[last] ^= 1;
        }
        json!({
            "id": credential.id_b64(),
            "rawId": credential.id_b64(),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64(&client_data),
                "authenticatorData": b64(&auth_data),
                "signature": b64(&sig),
                "userHandle": b64(&credential.user_handle),
            },
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
        })
    }
}

#[cfg(test)]
mod tests {
    use super::cbor::{encode, V};

    #[test]
    fn cbor_heads() {
        assert_eq!(encode(&V::Int(10)), [0x0a]);
        assert_eq!(encode(&V::Int(-7)), [0x26]);
        assert_eq!(encode(&V::Int(-257)), [0x39, 0x01, 0x00]);
        assert_eq!(encode(&V::Text("fmt".into())), [0x63, b'f', b'm', b't']);
        assert_eq!(encode(&V::Bytes(vec![0; 32]))[..2], [0x58, 0x20]);
        assert_eq!(encode(&V::Map(vec![])), [0xa0]);
    }

    #[test]
    fn an_es256_credential_comes_back_from_its_pkcs8() {
        use super::{Algorithm, Credential};
        let original = Credential::generate(Algorithm::Es256);
        let again = Credential::es256_from_pkcs8(original.id.clone(), &original.pkcs8, vec![1, 2], 0).unwrap();
        assert_eq!(again.cose_key(), original.cose_key());
        assert_eq!((again.user_handle, again.counter_step), (vec![1, 2], 0));
        assert!(Credential::es256_from_pkcs8(vec![1], b"not a key", vec![], 0).is_none());
        assert!(Credential::generate(Algorithm::EdDsa).pkcs8.is_empty());
    }
}
