//! SAML over HTTP (§a.19, CDI 5.4): IdP clients from metadata (the entity id, redirect SSO URL
//! and signing certificate extracted; duplicates, malformed metadata and DTDs refused), the
//! listing and removal, the SP-initiated login (a deflated AuthnRequest by the redirect binding,
//! signed with the app's SP key by default and verified by xmlsec1 when it is installed), the
//! SP metadata document without an API key, and the CDI 5.4 gate. The assertion consumer
//! callback against a test IdP written here (its responses signed by xmlsec through samael,
//! an xmlsec1 check of them when installed): SP- and IdP-initiated logins with response,
//! assertion or both signed, the code redeemed once for the user, the legacy routes, and the
//! attack corpus (signature wrapping, unsigned or uncovered assertions, wrong key, SHA-1,
//! comment injection, expiry, replay, audience/recipient/destination/InResponseTo/issuer
//! mismatches, XXE, billion laughs), each refused.

use crate::helpers::*;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};
use std::io::Read;

mod callback;

/// A self-signed IdP certificate (base64 DER), made with `openssl req -x509`.
const IDP_CERT: &str = "MIIDCTCCAfGgAwIBAgIUP56zuM1Hp6o8JSP6C5XJGDYBUDYwDQYJKoZIhvcNAQELBQAwEzERMA8GA1UEAwwIdGVzdC1pZHAwIBcNMjYxMjA3MDIxMzAxWhgPMjEyNjExMTMwMjEzMDFaMBMxETAPBgNVBAMMCHRlc3QtaWRwMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEApwSBlrnNBQwXUnHOKeVNY87LntHjLJJAnhkAyuHrrSsCS6RcdzacKx+LIt1U+Pz3QsX8TIt6F8Mm40EQMlSbd1ZUzNO0+B0n6Z9Tc9dC6gCxTLhTnWE5q6g80p2a5NXkAqf5dYn0cl3NExUQ0uORa+qzrZqu80uw53I3C71b4K+lqmWZnpaPq69jh2XeziUHRjN6hK4suxIEcaog/InghZLeh1zNaUWBEedRYgkOpAX0eLrnoW0HNVdDasJaiLjuQTUEzGwH6dfTb3elA9toqs/1wRETJ57W0MyVcjJYTKg2ynTteUtYwbMuIhOZ+JnrWaMV6U7keg7tdACDmCHJ/QIDAQABo1MwUTAdBgNVHQ4EFgQULsCwug6jAGx4b6L4r/Gs7Bix0p4wHwYDVR0jBBgwFoAULsCwug6jAGx4b6L4r/Gs7Bix0p4wDwYDVR0TAQH/BAUwAwEB/zANBgkqhkiG9w0BAQsFAAOCAQEARCz4yTaoW2vPsYVyvIxs00EA9lBNMdKiGqYr61WwdmQugz0MvJ/A9MbD8OYXMqhJSXGxDrTTJ++OIyERKGkYozLg9s5Fqov1c3qbmWJM3Oggpby7m4pdB7U7qIo0ealM47ssN7tuAw/IRbDB6Vm9HLqECDfyZaTwLKBCxYerORt3EaRaTy6erq0Bdseqaztp0JntCjiLVAbVuuURjEpAg5oy+5tgP9YNUhv3OJ8lpLASltkjJy7mIS34aoNXP5lk1h1GNjieC12hEPO8SLnaLjpw/r/5KFDiahKWxj02M/GFJ2IcJpz/Qt+1FB34hQWeUd4UZKBoHwMKGdT7qZTYVQ==";

fn metadata(entity_id: &str, extra: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{entity_id}">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="encryption"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>bm90IGEgY2VydA==</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>
      {cert_a}
      {cert_b}
    </ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://idp.example/post"/>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.example/sso"/>
    {extra}
  </md:IDPSSODescriptor>
</md:EntityDescriptor>"#,
        cert_a = &IDP_CERT[..400],
        cert_b = &IDP_CERT[400..],
    )
}

fn b64(s: &str) -> String {
    STANDARD.encode(s.as_bytes())
}

fn client_body(client_id: Option<&str>, entity_id: &str) -> Value {
    let mut b = json!({
        "redirectURIs": ["https://app.example/auth/callback", "https://app.example/other"],
        "defaultRedirectURI": "https://app.example/auth/callback",
        "metadataXML": b64(&metadata(entity_id, "")),
    });
    if let Some(id) = client_id {
        b["clientId"] = json!(id);
    }
    b
}

async fn clients_create_list_update_remove(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    let c = s.put("/recipe/saml/clients", client_body(None, "https://idp.example/entity")).await;
    assert_eq!(c["status"], "OK", "{c}");
    let id = c["clientId"].as_str().unwrap().to_string();
    assert!(id.starts_with("st_saml_") && is_uuid(&id[8..]), "{id}");
    assert_eq!(c["idpEntityId"], "https://idp.example/entity");
    assert_eq!(c["idpSigningCertificate"], IDP_CERT, "the signing key's, whitespace removed");
    assert_eq!(c["redirectURIs"], json!(["https://app.example/auth/callback", "https://app.example/other"]));
    assert_eq!(c["defaultRedirectURI"], "https://app.example/auth/callback");
    assert_eq!(c["allowIDPInitiatedLogin"], false);
    assert_eq!(c["enableRequestSigning"], true, "the reference's default");
    assert!(c.get("clientSecret").is_none());
    let keys: Vec<&str> = c.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "clientId",
            "defaultRedirectURI",
            "redirectURIs",
            "idpEntityId",
            "idpSigningCertificate",
            "allowIDPInitiatedLogin",
            "enableRequestSigning",
            "status"
        ]
    );

    // A second client of the same IdP: refused.
    let dup = s.put("/recipe/saml/clients", client_body(Some("other"), "https://idp.example/entity")).await;
    assert_eq!(dup, json!({"status": "DUPLICATE_IDP_ENTITY_ERROR"}));
    // Another IdP; then the first client updated in place (same IdP, new fields).
    s.clock.advance_ms(10);
    let c2 = s.put("/recipe/saml/clients", client_body(Some("second"), "https://idp2.example")).await;
    assert_eq!(c2["clientId"], "second");
    let mut upd = client_body(Some(&id), "https://idp.example/entity");
    upd["clientSecret"] = json!("shh");
    upd["allowIDPInitiatedLogin"] = json!(true);
    upd["enableRequestSigning"] = json!(false);
    upd["redirectURIs"] = json!(["https://app.example/only"]);
    let u = s.put("/recipe/saml/clients", upd).await;
    assert_eq!(u["status"], "OK", "{u}");
    assert_eq!(u["clientSecret"], "shh");
    assert_eq!(u["allowIDPInitiatedLogin"], true);
    assert_eq!(u["enableRequestSigning"], false);
    assert_eq!(u["redirectURIs"], json!(["https://app.example/only"]));

    let list = s.get("/recipe/saml/clients/list").await;
    assert_eq!(list["status"], "OK");
    let ids: Vec<&str> = list["clients"].as_array().unwrap().iter().map(|c| c["clientId"].as_str().unwrap()).collect();
    assert_eq!(ids, [id.as_str(), "second"], "oldest first");
    assert_eq!(list["clients"][0]["clientSecret"], "shh");

    // Tenants apart.
    let t = s.put("/recipe/multitenancy/tenant/v2", json!({"tenantId": "t1"})).await;
    assert_eq!(t["status"], "OK", "{t}");
    assert_eq!(s.get("/t1/recipe/saml/clients/list").await["clients"], json!([]));
    let other = s.put("/t1/recipe/saml/clients", client_body(None, "https://idp.example/entity")).await;
    assert_eq!(other["status"], "OK", "the same IdP in another tenant");

    let r = s.post("/recipe/saml/clients/remove", json!({"clientId": "second"})).await;
    assert_eq!(r, json!({"status": "OK", "didExist": true}));
    let r = s.post("/recipe/saml/clients/remove", json!({"clientId": "second"})).await;
    assert_eq!(r, json!({"status": "OK", "didExist": false}));
    assert_eq!(s.get("/recipe/saml/clients/list").await["clients"].as_array().unwrap().len(), 1);
    s.stop().await;
}

async fn client_input_refused(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    let bad_meta = "metadataXML does not have a valid SAML metadata";
    let with_meta = |xml: &str| {
        let mut body = client_body(None, "x");
        body["metadataXML"] = json!(b64(xml));
        body
    };
    let mut not_b64 = client_body(None, "x");
    not_b64["metadataXML"] = json!("%%%");
    let no_redirect = metadata("https://e", "").replace("HTTP-Redirect", "HTTP-Artifact");
    let no_cert = metadata("https://e", "").replace("use=\"signing\"", "use=\"encryption\"");
    let bad_cert = metadata("https://e", "").replace(&IDP_CERT[..400], "AAAA");
    let xxe = format!(
        "<?xml version=\"1.0\"?>\n<!DOCTYPE md:EntityDescriptor [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>\n{}",
        metadata("&xxe;", "").split_once("?>\n").unwrap().1
    );
    let laughs = format!(
        "<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">         <!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">]>\n{}",
        metadata("&lol3;", "").split_once("?>\n").unwrap().1
    );
    let mut no_uris = client_body(None, "x");
    no_uris.as_object_mut().unwrap().remove("redirectURIs");
    let mut empty_uris = client_body(None, "x");
    empty_uris["redirectURIs"] = json!([]);
    let mut no_default = client_body(None, "x");
    no_default.as_object_mut().unwrap().remove("defaultRedirectURI");
    let mut bad_flag = client_body(None, "x");
    bad_flag["enableRequestSigning"] = json!("yes");
    for (body, text) in [
        (not_b64, bad_meta),
        (with_meta("not xml"), bad_meta),
        (with_meta("<a/>"), bad_meta),
        (with_meta(&no_redirect), bad_meta),
        (with_meta(&no_cert), bad_meta),
        (with_meta(&bad_cert), bad_meta),
        (with_meta(&xxe), bad_meta),
        (with_meta(&laughs), bad_meta),
        (no_uris, "Field name 'redirectURIs' is invalid in JSON input"),
        (empty_uris, "redirectURIs is required in the input"),
        (no_default, "Field name 'defaultRedirectURI' is invalid in JSON input"),
        (bad_flag, "Field name 'enableRequestSigning' is invalid in JSON input"),
    ] {
        let (st, got) = s.status_and_text("PUT", "/recipe/saml/clients", Some(body.clone())).await;
        assert_eq!((st, got.as_str()), (400, text), "{body}");
    }
    assert_eq!(s.get("/recipe/saml/clients/list").await["clients"], json!([]), "nothing saved");
    let (st, got) = s.status_and_text("POST", "/recipe/saml/clients/remove", Some(json!({}))).await;
    assert_eq!((st, got.as_str()), (400, "Field name 'clientId' is invalid in JSON input"));
    let (st, _) = s.status_and_text("POST", "/recipe/saml/login", Some(json!({"clientId": "x"}))).await;
    assert_eq!(st, 400);
    s.stop().await;
}

async fn routes_from_cdi_5_4(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    for (m, p, body) in [
        ("PUT", "/recipe/saml/clients", Some(client_body(None, "https://e"))),
        ("GET", "/recipe/saml/clients/list", None),
        ("POST", "/recipe/saml/clients/remove", Some(json!({"clientId": "x"}))),
        ("POST", "/recipe/saml/login", Some(json!({"clientId": "x", "redirectURI": "y", "acsURL": "z"}))),
        ("GET", "/.well-known/sp-metadata", None),
    ] {
        let (st, _) = s.request(m, p, body.clone(), &[("cdi-version", "5.3")]).await;
        assert_eq!(st, 404, "{m} {p} at 5.3");
        let (st, _) = s.request(m, p, body, &[("cdi-version", "5.4")]).await;
        assert_eq!(st, 200, "{m} {p} at 5.4");
    }
    s.stop().await;
}

/// Percent-decoding of a query value (`+` is a space).
fn url_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

/// (base URL, AuthnRequest XML, RelayState) of an `ssoRedirectURI`.
fn authn_request(url: &str) -> (String, String, String) {
    let (base, query) = url.split_once('?').unwrap();
    let params: Vec<(&str, &str)> = query.split('&').map(|kv| kv.split_once('=').unwrap()).collect();
    assert_eq!(params.iter().map(|p| p.0).collect::<Vec<_>>(), ["SAMLRequest", "RelayState"]);
    let deflated = STANDARD.decode(url_decode(params[0].1)).unwrap();
    let mut xml = String::new();
    flate2::read::DeflateDecoder::new(&deflated[..]).read_to_string(&mut xml).unwrap();
    (base.to_string(), xml, url_decode(params[1].1))
}

fn attr<'a>(xml: &'a str, name: &str) -> &'a str {
    let start = xml.find(&format!(" {name}=\"")).unwrap_or_else(|| panic!("{name} in {xml}")) + name.len() + 3;
    &xml[start..start + xml[start..].find('"').unwrap()]
}

fn between<'a>(xml: &'a str, open: &str, close: &str) -> &'a str {
    let start = xml.find(open).unwrap_or_else(|| panic!("{open} in {xml}")) + open.len();
    &xml[start..start + xml[start..].find(close).unwrap()]
}

/// Verify the request's enveloped signature with xmlsec1 (an implementation nobody here
/// wrote) against `cert_b64`; `None` when xmlsec1 is not installed.
fn xmlsec1_verifies(xml: &str, cert_b64: &str) -> Option<bool> {
    let dir = std::env::temp_dir().join(format!("st-saml-{}-{}", std::process::id(), xml.len()));
    std::fs::create_dir_all(&dir).unwrap();
    let (x, c) = (dir.join("req.xml"), dir.join("sp.der"));
    std::fs::write(&x, xml).unwrap();
    std::fs::write(&c, STANDARD.decode(cert_b64).unwrap()).unwrap();
    let out = std::process::Command::new("xmlsec1")
        .args(["--verify", "--id-attr:ID", "urn:oasis:names:tc:SAML:2.0:protocol:AuthnRequest", "--pubkey-cert-der"])
        .arg(&c)
        .arg(&x)
        .output()
        .ok()?;
    let _ = std::fs::remove_dir_all(&dir);
    if !out.status.success() {
        eprintln!("xmlsec1: {}", String::from_utf8_lossy(&out.stderr));
    }
    Some(out.status.success())
}

async fn login_redirect_and_sp_metadata(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({"saml_sp_entity_id": "https://sp.example/entity"})).await else {
        return;
    };
    let signed = s.put("/recipe/saml/clients", client_body(Some("signed"), "https://idp.example/a")).await;
    assert_eq!(signed["status"], "OK");
    let mut plain = client_body(Some("plain"), "https://idp.example/b");
    plain["enableRequestSigning"] = json!(false);
    assert_eq!(s.put("/recipe/saml/clients", plain).await["status"], "OK");

    let login = |client: &str, redirect: &str| json!({"clientId": client, "redirectURI": redirect, "acsURL": "https://api.example/acs?x=1&y=2", "state": "st8"});
    // Unknown client, or a redirect URI the client does not list.
    for body in [login("nobody", "https://app.example/auth/callback"), login("plain", "https://evil.example/")] {
        assert_eq!(s.post("/recipe/saml/login", body).await, json!({"status": "INVALID_CLIENT_ERROR"}));
    }

    let r = s.post("/recipe/saml/login", login("plain", "https://app.example/other")).await;
    assert_eq!(r["status"], "OK", "{r}");
    let (base, xml, relay) = authn_request(r["ssoRedirectURI"].as_str().unwrap());
    assert_eq!(base, "https://idp.example/sso", "the redirect binding's location");
    assert!(is_uuid(&relay), "{relay}");
    assert!(xml.starts_with("<saml2p:AuthnRequest "), "{xml}");
    assert_eq!(attr(&xml, "Destination"), "https://idp.example/sso");
    assert_eq!(attr(&xml, "AssertionConsumerServiceURL"), "https://api.example/acs?x=1&amp;y=2");
    assert_eq!(attr(&xml, "ProtocolBinding"), "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST");
    assert_eq!(attr(&xml, "Version"), "2.0");
    assert!(attr(&xml, "ID").starts_with('_') && is_uuid(&attr(&xml, "ID")[1..]));
    assert!(attr(&xml, "IssueInstant").ends_with('Z'));
    assert_eq!(
        between(&xml, "<saml2:Issuer xmlns:saml2=\"urn:oasis:names:tc:SAML:2.0:assertion\">", "<"),
        "https://sp.example/entity"
    );
    assert!(xml.contains("<saml2p:NameIDPolicy AllowCreate=\"true\">"));
    assert!(!xml.contains("Signature"), "not signed: {xml}");
    let again = s.post("/recipe/saml/login", login("plain", "https://app.example/other")).await;
    let (_, xml2, relay2) = authn_request(again["ssoRedirectURI"].as_str().unwrap());
    assert_ne!(relay, relay2);
    assert_ne!(attr(&xml, "ID"), attr(&xml2, "ID"));

    // The SP metadata: no API key needed, the app's certificate, the tenant's entity id.
    let (st, md) = s.request("GET", "/.well-known/sp-metadata", None, &[]).await;
    assert_eq!(st, 200, "{md}");
    assert!(md.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?><md:EntityDescriptor"), "{md}");
    assert_eq!(attr(&md, "entityID"), "https://sp.example/entity");
    assert!(attr(&md, "validUntil").ends_with('Z'));
    assert!(md.contains("<md:KeyDescriptor use=\"signing\">"));
    let sp_cert = between(&md, "<ds:X509Certificate>", "<").to_string();
    assert!(STANDARD.decode(&sp_cert).is_ok());
    let (_, md2) = s.request("GET", "/.well-known/sp-metadata", None, &[]).await;
    assert_eq!(md, md2, "one key per app");

    // Signed: an enveloped signature over the request, with the SP certificate.
    let r = s.post("/recipe/saml/login", login("signed", "https://app.example/auth/callback")).await;
    let (_, xml, _) = authn_request(r["ssoRedirectURI"].as_str().unwrap());
    assert!(xml.contains("<ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\">"), "{xml}");
    assert_eq!(between(&xml, "<ds:Reference URI=\"#", "\""), attr(&xml, "ID"));
    assert_eq!(between(&xml, "<ds:X509Certificate>", "<"), sp_cert);
    match xmlsec1_verifies(&xml, &sp_cert) {
        Some(ok) => {
            assert!(ok, "xmlsec1 verifies the signed request: {xml}");
            let tampered = xml.replace("https://api.example/acs", "https://evil.example/acs");
            assert_eq!(xmlsec1_verifies(&tampered, &sp_cert), Some(false), "a changed request fails");
            let other_cert = xmlsec1_verifies(&xml, IDP_CERT);
            assert_eq!(other_cert, Some(false), "another key fails");
        }
        None => eprintln!("xmlsec1 not installed: the request signature is not checked independently"),
    }
    s.stop().await;
}

async fn sp_metadata_without_api_key(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({"api_keys": "a-key-of-enough-length-123"})).await else { return };
    let (st, md) = s.request("GET", "/.well-known/sp-metadata", None, &[("cdi-version", "5.4")]).await;
    assert_eq!(st, 200, "{md}");
    assert_eq!(attr(&md, "entityID"), "https://saml.supertokens.com", "the default entity id");
    let (st, _) = s.request("GET", "/recipe/saml/clients/list", None, &[("cdi-version", "5.4")]).await;
    assert_eq!(st, 401, "the other routes need the key");
    s.stop().await;
}

// ---------------------------------------------------------------------------------------------
// The assertion consumer callback, against a test IdP
// ---------------------------------------------------------------------------------------------

st_tests::both_backends! {
    clients_create_list_update_remove => clients_create_list_update_remove;
    client_input_refused => client_input_refused;
    routes_from_cdi_5_4 => routes_from_cdi_5_4;
    login_redirect_and_sp_metadata => login_redirect_and_sp_metadata;
    sp_metadata_without_api_key => sp_metadata_without_api_key;
    callback_sp_initiated_and_user => callback::callback_sp_initiated_and_user;
    code_expires => callback::code_expires;
    attack_corpus => callback::attack_corpus;
    xxe_and_billion_laughs_refused => callback::xxe_and_billion_laughs_refused;
    idp_initiated_login => callback::idp_initiated_login;
    legacy_routes => callback::legacy_routes;
    callback_routes_from_cdi_5_4 => callback::callback_routes_from_cdi_5_4;
}
