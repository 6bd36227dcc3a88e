//! The SAML callback benchmark's IdP and its per-call costs (`cargo xtask bench saml`, issue 24).
//!
//! * `saml-make --dir D --out FILE --count N --tag T --issuer I --audience A [--threads K]` — the
//!   IdP: its RSA-2048 key and self-signed certificate made once with `openssl` in `D`
//!   (`key.der` PKCS#8, `cert.b64` base64 DER for the client's metadata), then `N` distinct
//!   IdP-initiated responses (no `InResponseTo`), the assertion signed with RSA-SHA256 by xmlsec
//!   through samael exactly as the tests' IdP signs them, one callback body
//!   `{"samlResponse":"<base64>"}` a line. Assertion ids `_a-T-i` (single-use on the server), the
//!   response's `IssueInstant` two minutes ahead (the server's 5-minute window then covers the
//!   7 minutes from 3 minutes before to 7 after), the assertion valid for an hour.
//! * `saml-verify-cost --dir D --file FILE --issuer I --audience A --seconds S` — one thread,
//!   the responses of `FILE` in turn: `samael_us` (xmlsec's verification and reduction alone,
//!   the call the core makes, same certificate and algorithms), `core_us` (the server's whole
//!   pure check: `st_core::saml::verify::parse_response` + `verify_response`, i.e. base64, both
//!   XML parses, the xmlsec call and the SAML rules).

use crate::{now_ms, Opts, Result};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use samael::crypto::{AllowedSignatureAlgorithm, CryptoProvider, ReduceMode, XmlSec};
use st_core::saml::verify::{self, Expected, ExpectedRequest};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

fn need<'a>(opts: &'a Opts, name: &str) -> Result<&'a str> {
    opts.get(name).ok_or_else(|| format!("{name} is required"))
}

/// `xs:dateTime` of `ms` (UTC, milliseconds).
fn iso(ms: i64) -> String {
    let (days, rem) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let (h, mi, se, milli) = (rem / 3_600_000, rem / 60_000 % 60, rem / 1000 % 60, rem % 1000);
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{se:02}.{milli:03}Z")
}

fn openssl(args: &[&str]) -> Result<()> {
    let out = Command::new("openssl").args(args).output().map_err(|e| format!("openssl: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr)))
    }
}

/// The IdP's key (PKCS#8 DER) and certificate (DER) in `dir`, made on first use.
fn idp_key(dir: &Path) -> Result<(Vec<u8>, Vec<u8>)> {
    let (key, cert) = (dir.join("key.der"), dir.join("cert.der"));
    if !key.is_file() || !cert.is_file() {
        let p = |n: &str| dir.join(n).display().to_string();
        let (kp, cp) = (p("key.pem"), p("cert.pem"));
        openssl(&["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", &kp, "-out", &cp, "-days", "3"])
            .or_else(|_| {
                openssl(&[
                    "req",
                    "-x509",
                    "-newkey",
                    "rsa:2048",
                    "-nodes",
                    "-keyout",
                    &kp,
                    "-out",
                    &cp,
                    "-days",
                    "3",
                    "-subj",
                    "/CN=bench-idp",
                ])
            })?;
        openssl(&["pkcs8", "-topk8", "-nocrypt", "-in", &kp, "-outform", "DER", "-out", &p("key.der")])?;
        openssl(&["x509", "-in", &cp, "-outform", "DER", "-out", &p("cert.der")])?;
    }
    let read = |f: PathBuf| std::fs::read(&f).map_err(|e| format!("{}: {e}", f.display()));
    Ok((read(key)?, read(cert)?))
}

struct Make<'a> {
    key: &'a [u8],
    issuer: &'a str,
    audience: &'a str,
    tag: &'a str,
    now: i64,
}

impl Make<'_> {
    /// Callback body `i`: an IdP-initiated response whose assertion is signed.
    fn body(&self, i: usize) -> Result<String> {
        let (tag, now) = (self.tag, self.now);
        let id = format!("_a-{tag}-{i}");
        let at = iso(now + 120_000);
        let (nb, noa) = (iso(now - 60_000), iso(now + 3_600_000));
        let sig = format!(
            "<ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"><ds:SignedInfo>\
             <ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/>\
             <ds:SignatureMethod Algorithm=\"http://www.w3.org/2001/04/xmldsig-more#rsa-sha256\"/>\
             <ds:Reference URI=\"#{id}\"><ds:Transforms>\
             <ds:Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"/>\
             <ds:Transform Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/></ds:Transforms>\
             <ds:DigestMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#sha256\"/><ds:DigestValue></ds:DigestValue>\
             </ds:Reference></ds:SignedInfo><ds:SignatureValue></ds:SignatureValue></ds:Signature>"
        );
        let assertion = format!(
            "<saml:Assertion xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"{id}\" Version=\"2.0\" \
             IssueInstant=\"{at}\"><saml:Issuer>{issuer}</saml:Issuer>{sig}<saml:Subject>\
             <saml:NameID Format=\"urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress\">user-{i}@corp.example</saml:NameID>\
             <saml:SubjectConfirmation Method=\"urn:oasis:names:tc:SAML:2.0:cm:bearer\">\
             <saml:SubjectConfirmationData NotOnOrAfter=\"{noa}\" Recipient=\"https://api.example/auth/saml/callback\"/>\
             </saml:SubjectConfirmation></saml:Subject><saml:Conditions NotBefore=\"{nb}\" NotOnOrAfter=\"{noa}\">\
             <saml:AudienceRestriction><saml:Audience>{aud}</saml:Audience></saml:AudienceRestriction></saml:Conditions>\
             <saml:AuthnStatement AuthnInstant=\"{at}\"><saml:AuthnContext><saml:AuthnContextClassRef>\
             urn:oasis:names:tc:SAML:2.0:ac:classes:Password</saml:AuthnContextClassRef></saml:AuthnContext>\
             </saml:AuthnStatement><saml:AttributeStatement><saml:Attribute Name=\"email\">\
             <saml:AttributeValue>user-{i}@corp.example</saml:AttributeValue></saml:Attribute><saml:Attribute Name=\"groups\">\
             <saml:AttributeValue>staff</saml:AttributeValue></saml:Attribute></saml:AttributeStatement></saml:Assertion>",
            issuer = self.issuer,
            aud = self.audience,
        );
        let signed = XmlSec::sign_xml(assertion.as_str(), self.key).map_err(|e| format!("signing: {e:?}"))?;
        let signed = match signed.find("?>") {
            Some(p) if signed.starts_with("<?xml") => signed[p + 2..].trim().to_string(),
            _ => signed.trim().to_string(),
        };
        let response = format!(
            "<samlp:Response xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" \
             xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"_r-{tag}-{i}\" Version=\"2.0\" \
             IssueInstant=\"{at}\"><saml:Issuer>{issuer}</saml:Issuer><samlp:Status>\
             <samlp:StatusCode Value=\"urn:oasis:names:tc:SAML:2.0:status:Success\"/></samlp:Status>{signed}\
             </samlp:Response>",
            issuer = self.issuer,
        );
        Ok(format!("{{\"samlResponse\":\"{}\"}}", STANDARD.encode(response)))
    }
}

pub fn make(opts: &Opts) -> Result<()> {
    let dir = PathBuf::from(need(opts, "--dir")?);
    let out = need(opts, "--out")?;
    let count: usize = opts.num("--count", 10_000)?;
    let threads: usize = opts.num("--threads", crate::cores())?.max(1);
    let (key, cert) = idp_key(&dir)?;
    std::fs::write(dir.join("cert.b64"), STANDARD.encode(&cert)).map_err(|e| e.to_string())?;
    let m = Make {
        key: &key,
        issuer: need(opts, "--issuer")?,
        audience: need(opts, "--audience")?,
        tag: need(opts, "--tag")?,
        now: now_ms(),
    };
    let started = Instant::now();
    let parts: Vec<Result<String>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let m = &m;
                s.spawn(move || {
                    let mut text = String::new();
                    for i in (t..count).step_by(threads) {
                        text.push_str(&m.body(i)?);
                        text.push('\n');
                    }
                    Ok(text)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err("a signing thread panicked".into()))).collect()
    });
    let mut all = String::new();
    for p in parts {
        all.push_str(&p?);
    }
    std::fs::write(out, all).map_err(|e| format!("{out}: {e}"))?;
    println!("made={count} seconds={:.3}", started.elapsed().as_secs_f64());
    Ok(())
}

const ALGORITHMS: [AllowedSignatureAlgorithm; 6] = [
    AllowedSignatureAlgorithm::RsaSha256,
    AllowedSignatureAlgorithm::RsaSha384,
    AllowedSignatureAlgorithm::RsaSha512,
    AllowedSignatureAlgorithm::EcdsaSha256,
    AllowedSignatureAlgorithm::EcdsaSha384,
    AllowedSignatureAlgorithm::EcdsaSha512,
];

/// µs per call of `f` over the items in turn for about `seconds`; `f` must succeed.
fn per_call_us<T>(items: &[T], seconds: f64, mut f: impl FnMut(&T) -> Result<()>) -> Result<f64> {
    let started = Instant::now();
    let mut n = 0usize;
    while started.elapsed().as_secs_f64() < seconds || n == 0 {
        let item = items.get(n % items.len()).ok_or("no responses")?;
        f(item)?;
        n += 1;
    }
    Ok(started.elapsed().as_secs_f64() * 1e6 / n as f64)
}

pub fn verify_cost(opts: &Opts) -> Result<()> {
    let dir = PathBuf::from(need(opts, "--dir")?);
    let file = need(opts, "--file")?;
    let (issuer, audience) = (need(opts, "--issuer")?, need(opts, "--audience")?);
    let seconds: f64 = opts.num("--seconds", 3.0)?;
    let (_, cert) = idp_key(&dir)?;
    let text = std::fs::read_to_string(file).map_err(|e| format!("{file}: {e}"))?;
    let bodies: Vec<String> = text
        .lines()
        .take(500)
        .filter_map(|l| l.strip_prefix("{\"samlResponse\":\"").and_then(|l| l.strip_suffix("\"}")))
        .map(str::to_string)
        .collect();
    let xmls: Vec<String> = bodies
        .iter()
        .map(|b| {
            STANDARD.decode(b).map_err(|e| e.to_string()).and_then(|x| String::from_utf8(x).map_err(|e| e.to_string()))
        })
        .collect::<Result<_>>()?;
    let samael_us = per_call_us(&xmls, seconds, |xml| {
        XmlSec::reduce_xml_to_signed_with_allowed_algorithms(
            xml,
            &[cert.clone().into()],
            ReduceMode::ValidateAndMarkNoAncestors,
            Some(&ALGORITHMS),
        )
        .map(|_| ())
        .map_err(|e| format!("samael: {e}"))
    })?;
    let core_us = per_call_us(&bodies, seconds, |b64| {
        let parsed = verify::parse_response(b64).map_err(|_| "malformed".to_string())?;
        let expected = Expected {
            certificate_der: &cert,
            idp_entity_id: issuer,
            sp_entity_id: audience,
            acs_url: None,
            request: ExpectedRequest::Unsolicited,
            now_ms: now_ms(),
        };
        verify::verify_response(&parsed, &expected).map(|_| ()).map_err(|e| format!("refused: {}", e.0))
    })?;
    println!("samael_us={samael_us:.1} core_us={core_us:.1} responses={}", bodies.len());
    Ok(())
}
