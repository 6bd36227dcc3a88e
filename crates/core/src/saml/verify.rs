//! The verification of an IdP's `samlp:Response` (the assertion consumer callback).
//!
//! The signatures are checked by xmlsec (libxmlsec1, through samael), which also reduces the
//! document to what the verified signatures cover: every claim is read from that reduced
//! document, never from the bytes as posted, so an element that no signature covers is never
//! used (signature wrapping). Around it, checks of our own on the document as posted and on
//! the signed assertion:
//!
//! - no DTD at all (roxmltree refuses any `<!DOCTYPE`, before xmlsec/libxml2 sees a byte), so
//!   no entity is expanded (XXE, billion laughs);
//! - exactly one `saml:Assertion` in the whole document, a child of the `Response` (no
//!   `EncryptedAssertion`);
//! - the SAML signature profile, as OpenSAML's `SAMLSignatureProfileValidator`: each
//!   `ds:Signature` is a child of the `Response` or of the `Assertion`, has one `Reference`,
//!   and that reference names its parent's `ID`; at least one signature; every signature in
//!   the document verifies with the client's certificate (never the one in `KeyInfo`), with
//!   an RSA/ECDSA SHA-2 algorithm (no SHA-1);
//! - the assertion used is the one signed (the reduced document's assertion has the posted
//!   assertion's `ID`), issued by the client's IdP entity id;
//! - status `Success`; `Destination` (when present) and the bearer confirmation's `Recipient`
//!   (required) equal the ACS URL the login named, when known; `InResponseTo` equals the
//!   AuthnRequest the SP issued for this relay state (and is absent from an unsolicited
//!   response);
//! - `Conditions` `NotBefore`/`NotOnOrAfter` and the confirmation's `NotOnOrAfter` (required)
//!   with [`CLOCK_SKEW_MS`] of skew, the response's `IssueInstant` within 5 minutes as the
//!   reference; every `AudienceRestriction` names the SP entity id;
//! - no comment inside the assertion (the NameID comment-injection attack), and the `NameID`
//!   read as the whole text it signs, without child elements.
//!
//! Accepting each assertion id once is the caller's (a storage intent).

use base64::Engine;
use samael::crypto::{AllowedSignatureAlgorithm, CryptoProvider, ReduceMode, XmlSec};
use serde_json::{Map, Value};

const PROTOCOL_NS: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
const ASSERTION_NS: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
const DS_NS: &str = "http://www.w3.org/2000/09/xmldsig#";
const SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
const BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";

/// Clock skew allowed on the assertion's time bounds.
pub const CLOCK_SKEW_MS: i64 = 60_000;
/// How far the response's `IssueInstant` may be from now (the reference's 5 minutes).
const ISSUE_INSTANT_WINDOW_MS: i64 = 300_000;

/// The signature algorithms accepted (SHA-2 only).
const ALGORITHMS: [AllowedSignatureAlgorithm; 6] = [
    AllowedSignatureAlgorithm::RsaSha256,
    AllowedSignatureAlgorithm::RsaSha384,
    AllowedSignatureAlgorithm::RsaSha512,
    AllowedSignatureAlgorithm::EcdsaSha256,
    AllowedSignatureAlgorithm::EcdsaSha384,
    AllowedSignatureAlgorithm::EcdsaSha512,
];

/// A posted response that is not a well-formed SAML response without a DTD (the reference's
/// 400 "Invalid or malformed SAML response input").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed;

/// Why a well-formed response was refused (logged, answered as
/// `SAML_RESPONSE_VERIFICATION_FAILED_ERROR`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub String);

fn refused<T>(why: impl Into<String>) -> Result<T, Refused> {
    Err(Refused(why.into()))
}

/// A posted response, parsed: its text and the IdP entity id it names (the response's
/// `Issuer`, else its assertion's), used to find the client of an IdP-initiated login.
#[derive(Debug, Clone)]
pub struct ParsedResponse {
    xml: String,
    pub issuer: Option<String>,
}

fn parse_options() -> roxmltree::ParsingOptions {
    roxmltree::ParsingOptions { allow_dtd: false, nodes_limit: 100_000 }
}

fn is(n: &roxmltree::Node<'_, '_>, ns: &str, name: &str) -> bool {
    n.is_element() && n.tag_name().name() == name && n.tag_name().namespace() == Some(ns)
}

fn child<'a, 'i>(n: roxmltree::Node<'a, 'i>, ns: &str, name: &str) -> Option<roxmltree::Node<'a, 'i>> {
    n.children().find(|c| is(c, ns, name))
}

fn children<'a, 'i>(
    n: roxmltree::Node<'a, 'i>,
    ns: &'a str,
    name: &'a str,
) -> impl Iterator<Item = roxmltree::Node<'a, 'i>> + 'a {
    n.children().filter(move |c| is(c, ns, name))
}

/// Every text of the element, comments left out (what the signature's canonical form holds).
fn text_of(n: roxmltree::Node<'_, '_>) -> String {
    n.descendants().filter(|d| d.is_text()).filter_map(|d| d.text()).collect()
}

/// Decode and parse the `SAMLResponse` form value.
pub fn parse_response(b64: &str) -> Result<ParsedResponse, Malformed> {
    let compact: String = b64.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let bytes = base64::engine::general_purpose::STANDARD.decode(compact.as_bytes()).map_err(|_| Malformed)?;
    let xml = String::from_utf8(bytes).map_err(|_| Malformed)?;
    let issuer = {
        let doc = roxmltree::Document::parse_with_options(&xml, parse_options()).map_err(|_| Malformed)?;
        let root = doc.root_element();
        if !is(&root, PROTOCOL_NS, "Response") {
            return Err(Malformed);
        }
        child(root, ASSERTION_NS, "Issuer")
            .or_else(|| child(root, ASSERTION_NS, "Assertion").and_then(|a| child(a, ASSERTION_NS, "Issuer")))
            .map(|i| text_of(i).trim().to_string())
    };
    Ok(ParsedResponse { xml, issuer })
}

/// What the response must match.
#[derive(Debug, Clone)]
pub struct Expected<'a> {
    /// The client's signing certificate (DER).
    pub certificate_der: &'a [u8],
    pub idp_entity_id: &'a str,
    pub sp_entity_id: &'a str,
    /// The ACS URL the login named (`Destination` and `Recipient` must equal it), when known.
    pub acs_url: Option<&'a str>,
    /// SP-initiated: the AuthnRequest's ID when known (`InResponseTo` must equal it).
    /// `Unsolicited`: no request (`InResponseTo` must be absent).
    pub request: ExpectedRequest<'a>,
    pub now_ms: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectedRequest<'a> {
    /// The SP issued this AuthnRequest ID.
    Id(&'a str),
    /// SP-initiated, but the request's ID was not recorded (a relay state another core wrote).
    Unknown,
    /// IdP-initiated.
    Unsolicited,
}

/// The signed assertion's content.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedAssertion {
    pub id: String,
    /// Until when the assertion could be accepted (its latest `NotOnOrAfter` plus the skew):
    /// how long its id must be remembered.
    pub valid_until_ms: i64,
    /// The reference's claims: `NameID`, `NameIDFormat` and each attribute, as arrays.
    pub claims: Map<String, Value>,
}

/// `xs:dateTime` (with a zone) in ms.
fn instant_ms(s: &str) -> Option<i64> {
    let t = time::OffsetDateTime::parse(s.trim(), &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

fn time_attr(n: roxmltree::Node<'_, '_>, name: &str) -> Result<Option<i64>, Refused> {
    match n.attribute(name) {
        None => Ok(None),
        Some(v) => instant_ms(v).map(Some).ok_or_else(|| Refused(format!("{name} is not a dateTime"))),
    }
}

/// Verify `parsed` against `expected`; the signed assertion's content.
pub fn verify_response(parsed: &ParsedResponse, expected: &Expected<'_>) -> Result<VerifiedAssertion, Refused> {
    let now = expected.now_ms;
    let doc = roxmltree::Document::parse_with_options(&parsed.xml, parse_options())
        .map_err(|_| Refused("not well-formed".into()))?;
    let root = doc.root_element();

    // One assertion in the whole document, a child of the response; nothing encrypted.
    let assertions: Vec<_> = root.descendants().filter(|n| is(n, ASSERTION_NS, "Assertion")).collect();
    if root.descendants().any(|n| is(&n, ASSERTION_NS, "EncryptedAssertion")) {
        return refused("encrypted assertions are not supported");
    }
    let [assertion] = assertions[..] else {
        return refused(format!("{} assertions", assertions.len()));
    };
    if assertion.parent() != Some(root) {
        return refused("the assertion is not a child of the response");
    }
    // A comment inside the assertion is outside what its signature covers (canonical form
    // without comments) and splits text a reader could cut short (`user@a.example<!---->.evil`):
    // no IdP writes one, so none is accepted.
    if assertion.descendants().any(|n| n.is_comment()) {
        return refused("a comment inside the assertion");
    }
    let assertion_id = match assertion.attribute("ID") {
        Some(id) if !id.is_empty() => id.to_string(),
        _ => return refused("the assertion has no ID"),
    };

    // The SAML signature profile: enveloped in the element it signs, one reference to it.
    let signatures: Vec<_> = root.descendants().filter(|n| is(n, DS_NS, "Signature")).collect();
    if signatures.is_empty() {
        return refused("not signed");
    }
    for sig in &signatures {
        let Some(parent) = sig.parent().filter(|p| *p == root || *p == assertion) else {
            return refused("a signature outside the response and its assertion");
        };
        let Some(parent_id) = parent.attribute("ID").filter(|id| !id.is_empty()) else {
            return refused("a signed element without an ID");
        };
        let Some(signed_info) = child(*sig, DS_NS, "SignedInfo") else {
            return refused("a signature without SignedInfo");
        };
        let references: Vec<_> = children(signed_info, DS_NS, "Reference").collect();
        let [reference] = references[..] else {
            return refused("a signature without exactly one reference");
        };
        if reference.attribute("URI") != Some(&format!("#{parent_id}")) {
            return refused("a signature whose reference is not its parent");
        }
    }

    // The response's envelope (signed or not, it must agree).
    let status_ok = child(root, PROTOCOL_NS, "Status")
        .and_then(|s| child(s, PROTOCOL_NS, "StatusCode"))
        .and_then(|c| c.attribute("Value"))
        == Some(SUCCESS);
    if !status_ok {
        return refused("status is not Success");
    }
    if root.attribute("Version") != Some("2.0") {
        return refused("not SAML 2.0");
    }
    if let (Some(dest), Some(acs)) = (root.attribute("Destination"), expected.acs_url) {
        if dest != acs {
            return refused("Destination is not the ACS URL");
        }
    }
    check_in_response_to(root.attribute("InResponseTo"), expected.request)?;
    match time_attr(root, "IssueInstant")? {
        Some(at) if (at - now).abs() <= ISSUE_INSTANT_WINDOW_MS => {}
        Some(_) => return refused("IssueInstant too far from now"),
        None => return refused("no IssueInstant"),
    }

    // xmlsec: every signature verifies with the client's certificate; the document reduced to
    // what they cover.
    let reduced = XmlSec::reduce_xml_to_signed_with_allowed_algorithms(
        &parsed.xml,
        &[expected.certificate_der.to_vec().into()],
        ReduceMode::ValidateAndMarkNoAncestors,
        Some(&ALGORITHMS),
    )
    .map_err(|e| Refused(format!("signature: {e}")))?;
    let signed = roxmltree::Document::parse_with_options(&reduced, parse_options())
        .map_err(|_| Refused("the signed part is not well-formed".into()))?;
    let signed_root = signed.root_element();
    let signed_assertion = if is(&signed_root, ASSERTION_NS, "Assertion") {
        signed_root
    } else if is(&signed_root, PROTOCOL_NS, "Response") {
        let all: Vec<_> = children(signed_root, ASSERTION_NS, "Assertion").collect();
        let [a] = all[..] else {
            return refused("the signed response does not hold one assertion");
        };
        a
    } else {
        return refused("the signature covers neither the response nor the assertion");
    };
    if signed_assertion.attribute("ID") != Some(assertion_id.as_str()) {
        return refused("the signed assertion is not the response's assertion");
    }
    check_assertion(signed_assertion, expected, assertion_id)
}

fn check_in_response_to(got: Option<&str>, request: ExpectedRequest<'_>) -> Result<(), Refused> {
    match (request, got) {
        (ExpectedRequest::Id(want), Some(got)) if got == want => Ok(()),
        (ExpectedRequest::Id(_), _) => refused("InResponseTo is not the request's ID"),
        (ExpectedRequest::Unknown, _) => Ok(()),
        (ExpectedRequest::Unsolicited, None) => Ok(()),
        (ExpectedRequest::Unsolicited, Some(_)) => refused("InResponseTo in an unsolicited response"),
    }
}

fn check_assertion(
    a: roxmltree::Node<'_, '_>,
    expected: &Expected<'_>,
    id: String,
) -> Result<VerifiedAssertion, Refused> {
    let now = expected.now_ms;
    if a.attribute("Version") != Some("2.0") {
        return refused("assertion not SAML 2.0");
    }
    let issuer = child(a, ASSERTION_NS, "Issuer").map(|i| text_of(i).trim().to_string());
    if issuer.as_deref() != Some(expected.idp_entity_id) {
        return refused("the assertion's Issuer is not the client's IdP");
    }
    match time_attr(a, "IssueInstant")? {
        Some(at) if (at - now).abs() <= ISSUE_INSTANT_WINDOW_MS => {}
        _ => return refused("assertion IssueInstant missing or too far from now"),
    }

    // Subject: the NameID and a bearer confirmation for this SP.
    let Some(subject) = child(a, ASSERTION_NS, "Subject") else {
        return refused("no Subject");
    };
    let mut valid_until = i64::MIN;
    let mut confirmed = false;
    for sc in children(subject, ASSERTION_NS, "SubjectConfirmation") {
        if sc.attribute("Method") != Some(BEARER) {
            continue;
        }
        let Some(data) = child(sc, ASSERTION_NS, "SubjectConfirmationData") else {
            continue;
        };
        let Some(not_on_or_after) = time_attr(data, "NotOnOrAfter")? else {
            continue;
        };
        if now >= not_on_or_after.saturating_add(CLOCK_SKEW_MS) {
            continue;
        }
        if let Some(nb) = time_attr(data, "NotBefore")? {
            if now.saturating_add(CLOCK_SKEW_MS) < nb {
                continue;
            }
        }
        let Some(recipient) = data.attribute("Recipient") else {
            continue;
        };
        if expected.acs_url.is_some_and(|acs| acs != recipient) {
            continue;
        }
        if check_in_response_to(data.attribute("InResponseTo"), expected.request).is_err() {
            continue;
        }
        confirmed = true;
        valid_until = valid_until.max(not_on_or_after);
    }
    if !confirmed {
        return refused("no valid bearer SubjectConfirmation (NotOnOrAfter, Recipient, InResponseTo)");
    }

    // Conditions: time bounds and the audience.
    let Some(conditions) = child(a, ASSERTION_NS, "Conditions") else {
        return refused("no Conditions");
    };
    if let Some(nb) = time_attr(conditions, "NotBefore")? {
        if now.saturating_add(CLOCK_SKEW_MS) < nb {
            return refused("not yet valid (NotBefore)");
        }
    }
    if let Some(noa) = time_attr(conditions, "NotOnOrAfter")? {
        if now >= noa.saturating_add(CLOCK_SKEW_MS) {
            return refused("expired (NotOnOrAfter)");
        }
        valid_until = valid_until.max(noa);
    }
    let restrictions: Vec<_> = children(conditions, ASSERTION_NS, "AudienceRestriction").collect();
    if restrictions.is_empty() {
        return refused("no AudienceRestriction");
    }
    for r in restrictions {
        let ours = children(r, ASSERTION_NS, "Audience").any(|aud| text_of(aud).trim() == expected.sp_entity_id);
        if !ours {
            return refused("an AudienceRestriction without the SP entity id");
        }
    }

    let mut claims = Map::new();
    if let Some(name_id) = child(subject, ASSERTION_NS, "NameID") {
        if name_id.children().any(|c| c.is_element()) {
            return refused("NameID with child elements");
        }
        let value = text_of(name_id);
        if value.trim().is_empty() {
            return refused("empty NameID");
        }
        claims.insert("NameID".into(), Value::Array(vec![Value::String(value)]));
        if let Some(format) = name_id.attribute("Format") {
            claims.insert("NameIDFormat".into(), Value::Array(vec![Value::String(format.to_string())]));
        }
    }
    for statement in children(a, ASSERTION_NS, "AttributeStatement") {
        for attribute in children(statement, ASSERTION_NS, "Attribute") {
            let Some(name) = attribute.attribute("Name") else { continue };
            let values: Vec<Value> = children(attribute, ASSERTION_NS, "AttributeValue")
                .map(|v| text_of(v).trim().to_string())
                .filter(|v| !v.is_empty())
                .map(Value::String)
                .collect();
            if !values.is_empty() {
                claims.insert(name.to_string(), Value::Array(values));
            }
        }
    }
    Ok(VerifiedAssertion { id, valid_until_ms: valid_until.saturating_add(CLOCK_SKEW_MS), claims })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doctype_is_malformed() {
        let xml = "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY a \"b\">]>\
                   <samlp:Response xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\">&a;</samlp:Response>";
        let b64 = base64::engine::general_purpose::STANDARD.encode(xml);
        assert_eq!(parse_response(&b64).err(), Some(Malformed));
    }

    #[test]
    fn instants() {
        assert_eq!(instant_ms("1970-01-01T00:00:01.5Z"), Some(1500));
        assert_eq!(instant_ms("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(instant_ms("1970-01-01T00:00:00"), None);
    }
}
