//! The XML of the SAML recipe that the SP reads or writes itself: the IdP's metadata (parsed by
//! roxmltree, which refuses any DTD, so no entity is ever expanded), the AuthnRequest of the
//! HTTP-Redirect binding (optionally carrying an enveloped XML signature, as the reference
//! sends it), and the SP metadata document.
//!
//! The AuthnRequest is written by this module in canonical form (exclusive XML
//! canonicalisation without comments: namespace declarations first, attributes in order, no
//! empty-element tags, canonical escaping), so the bytes it digests and signs are the bytes it
//! sends; nothing here canonicalises a document someone else wrote.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

const MD_NS: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
const DS_NS: &str = "http://www.w3.org/2000/09/xmldsig#";
pub(crate) const REDIRECT_BINDING: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
const POST_BINDING: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";

/// What the SP keeps of an IdP's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdpMetadata {
    pub entity_id: String,
    /// The SSO URL of the HTTP-Redirect binding (the last one listed, as the reference).
    pub sso_url: String,
    /// The first signing certificate (a `KeyDescriptor` with no `use` or `use="signing"`),
    /// base64 of its DER without whitespace.
    pub signing_certificate: String,
}

/// Parse IdP metadata (an `md:EntityDescriptor`); `None` when it is not well-formed, has a
/// DTD, is not an entity descriptor, or lacks the entity id, a redirect-binding SSO service or
/// a parseable signing certificate (the reference's "not a valid SAML metadata").
pub fn parse_idp_metadata(xml: &str) -> Option<IdpMetadata> {
    let opts = roxmltree::ParsingOptions { allow_dtd: false, nodes_limit: 100_000 };
    let doc = roxmltree::Document::parse_with_options(xml, opts).ok()?;
    let root = doc.root_element();
    if !(root.tag_name().name() == "EntityDescriptor" && root.tag_name().namespace() == Some(MD_NS)) {
        return None;
    }
    let entity_id = root.attribute("entityID")?.to_string();
    let idp_descriptors = || {
        root.children().filter(|n| n.tag_name().name() == "IDPSSODescriptor" && n.tag_name().namespace() == Some(MD_NS))
    };
    let mut sso_url = None;
    for d in idp_descriptors() {
        for s in d
            .children()
            .filter(|n| n.tag_name().name() == "SingleSignOnService" && n.tag_name().namespace() == Some(MD_NS))
        {
            if s.attribute("Binding") == Some(REDIRECT_BINDING) {
                sso_url = s.attribute("Location").map(str::to_string);
            }
        }
    }
    let sso_url = sso_url?;
    let mut certificate = None;
    'outer: for d in idp_descriptors() {
        for k in
            d.children().filter(|n| n.tag_name().name() == "KeyDescriptor" && n.tag_name().namespace() == Some(MD_NS))
        {
            if !matches!(k.attribute("use"), None | Some("signing")) {
                continue;
            }
            for c in k
                .descendants()
                .filter(|n| n.tag_name().name() == "X509Certificate" && n.tag_name().namespace() == Some(DS_NS))
            {
                let text: String = c.text().unwrap_or("").chars().filter(|c| !c.is_whitespace()).collect();
                if !text.is_empty() {
                    certificate = Some(text);
                    break 'outer;
                }
            }
        }
    }
    let signing_certificate = certificate?;
    let der = STANDARD.decode(&signing_certificate).ok()?;
    x509_parser::parse_x509_certificate(&der).ok()?;
    Some(IdpMetadata { entity_id, sso_url, signing_certificate })
}

/// Escape an attribute value as canonical XML does (`&`, `<`, `"`, tab, newline, return).
pub(crate) fn escape_attr(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '"' => out.push_str("&quot;"),
            '\t' => out.push_str("&#x9;"),
            '\n' => out.push_str("&#xA;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
    out
}

/// Escape text content as canonical XML does (`&`, `<`, `>`, return).
pub(crate) fn escape_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
    out
}

/// The fields of an AuthnRequest.
pub struct AuthnRequest<'a> {
    pub id: &'a str,
    /// `xs:dateTime` in UTC.
    pub issue_instant: &'a str,
    pub destination: &'a str,
    pub acs_url: &'a str,
    pub sp_entity_id: &'a str,
}

/// Signs bytes (RSA-SHA256, PKCS#1 v1.5).
pub type SignFn<'a> = &'a dyn Fn(&[u8]) -> Result<Vec<u8>, String>;

/// An RSA-SHA256 signer of the SP (the app's SP key) with its certificate.
pub struct Signer<'a> {
    /// Base64 of the certificate's DER (the `ds:X509Certificate` content).
    pub certificate_b64: &'a str,
    pub sign: SignFn<'a>,
}

/// The AuthnRequest, canonical; with a signer, enveloped-signed (exclusive c14n, RSA-SHA256,
/// SHA-256 digest, the certificate in `KeyInfo`) with the signature after the `Issuer`.
pub fn authn_request(r: &AuthnRequest<'_>, signer: Option<&Signer<'_>>) -> Result<String, String> {
    // Exclusive c14n: the element's visibly used namespace first, then its attributes by name.
    let open = format!(
        "<saml2p:AuthnRequest xmlns:saml2p=\"urn:oasis:names:tc:SAML:2.0:protocol\" \
         AssertionConsumerServiceURL=\"{acs}\" Destination=\"{dest}\" ID=\"{id}\" IssueInstant=\"{at}\" \
         ProtocolBinding=\"{POST_BINDING}\" Version=\"2.0\">",
        acs = escape_attr(r.acs_url),
        dest = escape_attr(r.destination),
        id = escape_attr(r.id),
        at = escape_attr(r.issue_instant),
    );
    let issuer = format!(
        "<saml2:Issuer xmlns:saml2=\"urn:oasis:names:tc:SAML:2.0:assertion\">{}</saml2:Issuer>",
        escape_text(r.sp_entity_id)
    );
    let rest = "<saml2p:NameIDPolicy AllowCreate=\"true\"></saml2p:NameIDPolicy></saml2p:AuthnRequest>";
    let Some(signer) = signer else {
        return Ok(format!("{open}{issuer}{rest}"));
    };
    // The enveloped-signature transform removes the signature, so the digest is of the
    // request without it: exactly the unsigned canonical form.
    let unsigned = format!("{open}{issuer}{rest}");
    let digest = STANDARD.encode(ring::digest::digest(&ring::digest::SHA256, unsigned.as_bytes()));
    let signed_info_body = format!(
        "<ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"></ds:CanonicalizationMethod>\
         <ds:SignatureMethod Algorithm=\"http://www.w3.org/2001/04/xmldsig-more#rsa-sha256\"></ds:SignatureMethod>\
         <ds:Reference URI=\"#{id}\"><ds:Transforms>\
         <ds:Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"></ds:Transform>\
         <ds:Transform Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"></ds:Transform></ds:Transforms>\
         <ds:DigestMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#sha256\"></ds:DigestMethod>\
         <ds:DigestValue>{digest}</ds:DigestValue></ds:Reference>",
        id = escape_attr(r.id),
    );
    // Canonicalised alone, SignedInfo carries the `ds` declaration (its output parent does not).
    let signed_info_c14n = format!("<ds:SignedInfo xmlns:ds=\"{DS_NS}\">{signed_info_body}</ds:SignedInfo>");
    let signature = STANDARD.encode((signer.sign)(signed_info_c14n.as_bytes())?);
    let sig_element = format!(
        "<ds:Signature xmlns:ds=\"{DS_NS}\"><ds:SignedInfo>{signed_info_body}</ds:SignedInfo>\
         <ds:SignatureValue>{signature}</ds:SignatureValue><ds:KeyInfo><ds:X509Data>\
         <ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></ds:Signature>",
        cert = signer.certificate_b64,
    );
    Ok(format!("{open}{issuer}{sig_element}{rest}"))
}

/// Deflate (raw, RFC 1951) and base64, as the HTTP-Redirect binding carries a message.
pub fn deflate_base64(xml: &str) -> Result<String, String> {
    use std::io::Write;
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(xml.as_bytes()).map_err(|e| e.to_string())?;
    let bytes = enc.finish().map_err(|e| e.to_string())?;
    Ok(STANDARD.encode(bytes))
}

/// `application/x-www-form-urlencoded` as Java's `URLEncoder` (UTF-8): letters, digits and
/// `.-*_` kept, space as `+`, every other byte `%XX`.
pub fn java_url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'*' | b'_' => out.push(b as char),
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The SP metadata document (the reference's, byte for byte in its structure).
pub fn sp_metadata(sp_entity_id: &str, certificate_b64: &str, valid_until: &str) -> String {
    let esc = |s: &str| s.replace('&', "&amp;").replace('"', "&quot;").replace('<', "&lt;").replace('>', "&gt;");
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\
         <md:EntityDescriptor xmlns:md=\"{MD_NS}\" entityID=\"{eid}\" validUntil=\"{vu}\">\
         <md:SPSSODescriptor protocolSupportEnumeration=\"urn:oasis:names:tc:SAML:2.0:protocol\">\
         <md:KeyDescriptor use=\"signing\"><ds:KeyInfo xmlns:ds=\"{DS_NS}\"><ds:X509Data>\
         <ds:X509Certificate>{certificate_b64}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>\
         <md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>\
         </md:SPSSODescriptor></md:EntityDescriptor>",
        eid = esc(sp_entity_id),
        vu = esc(valid_until),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_encoding_is_javas() {
        assert_eq!(java_url_encode("a+b/c= d*._-~"), "a%2Bb%2Fc%3D+d*._-%7E");
    }

    #[test]
    fn dtd_refused() {
        let xml = "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY a \"b\">]><md:EntityDescriptor \
                   xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\" entityID=\"&a;\"/>";
        assert!(parse_idp_metadata(xml).is_none());
    }
}
