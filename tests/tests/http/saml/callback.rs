//! The assertion consumer callback against a test IdP written here (its responses signed by
//! xmlsec through samael): SP- and IdP-initiated logins, the code, the legacy routes, the attack
//! corpus, replays across instances.

use super::*;

/// The test IdP's signing key (PKCS#8 DER, base64), made with `openssl req -x509 -newkey rsa:2048`.
const IDP_KEY: &str = "MIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQCdb/nYMvUNQwyMZ/cxdgpZwwr6YoqFcUbRA8M+Bw0I0qovQWWKX3HHpIrKH5otml59Mxdp5eAoOXvbhbh6XEfD27REbp9e8e8ZMVi0FPOn8nSxLFJsXfhAjKt+g4mAndjP/UJIJo2lxj2tvpUfwU6TRzpY+Ykzl4xMljv6z8/40bKd4kxZtx6fwzF0Ecd/Id7uWZCgxOViHNV8SbgAQA5TrILuKEC+ZTK8lgX73NScEO8eJQM1N7tBQjFNiZqICwbj3AEdepzm8XW29weKep+tMyjoSGBOOjC8Vj+ljeOOWLiRC//7Knfbz9eP5dDGgb0jSIpIhmn27hSDITcyYVEHAgMBAAECggEAE+OGoryD6ZTRUSwnIF1Nnxun14wQUh2bznbVDjvHdphfvdAwpYOQ36GBPlncroB5tFj6ebsmZLPSWkqbzKq7ZC+X/Sx5FKj9RWekUZJIr6xOTT2Qp2D9phs/OksgA/ACPlA7tIVY+pq/GvkLD15qcJTxzDYF56RwVGfcPun213NkwcUTF5FZtyiVGI+14XDqFfj5r0vxR2jDTuB0z2xVAl/fIU8s2cCgYkPzhmel8PBen/ZITV8OizUjKv8nMNEus05HvpJPsDJllFJJHcEBQNlDUAFqcS9sWVCs5358Pj0BB6RyyGCS4Q4nMHw7Q5+Ez9ywigW/wgFX7iJiszDvwQKBgQDXqOQZTc41UN5DT0N0Oc31mgjSEs807HhH4wJCbmB7TnAYBh6yKnp3C1gp/xHh2rjIj6+34wngs/p3oVRA/RnZdKF4+tT6InRsqTJA5HnX8igtHSynfl4Za0vYYeeyHHMscTO4COevb+/gMNLfg8shdn28hSL7IzZEn1hXAf62RwKBgQC64wsbp9ICwYEFlnZHkVPdPiSmvKl01+NFBdrrulBHOgrchm5S0J7lLmzZqZwmIgehYT01+cJ/qWmk8PDj279qLdtsJBaY/Ga3oyGqH2PTNkXY1DPKVfvR8sGzi9ZwIVr2Jd61s1tHpEytSm0m3yzQ3i7rLZE700beuOSE4dIvQQKBgGZGCiaV530RZNa2+F5eK3aWHijCEtIecsxks+WdQtQ3VqGOBXCpBHsAPkdsV6ase4Vh3wtt+Hk/4UBqmfJYFbIyxYECM46MWHpPoy1zLPVkOflrJIoqO6YCZG2xwJePNm+VH9nfH0Dr7O59OQQXFHZCI08MNJK1GD9i8hoRMCJxAoGAcqTS7J0vZIdl6ZKabl7FToRPoYU8grPo9C+aU18Q3hDKFuvUg7L8tmSbW48DfhUED0iCbzkOypeXehpf+7eTHcSRxS4COskjDeXhweXNrASwJkpOlwHWH73Ge6j92/1qOnOSwm4LQdCVRPzSJrVjXaHesGBcppF9+ST88lNBR8ECgYBrHoaQIEFkxwjb+JF6f1JdevnBZy1UQzn8TLEh5SGCxhtymbJnTlP4BPoeBdMFZBoGFachJahyJH62RDSb5JW/KX5Rn3ivdyKrs0E7HRYJFUUoKSEQMcEUTa/BF6PZli9ilcyBCNplUYqJVy+moc0EJlIpEPntUU0YxDhot/wWCQ==";
/// Its self-signed certificate (DER, base64).
const IDP_SIGNING_CERT: &str = "MIIDCTCCAfGgAwIBAgIUVKfV4mMeebhO55Lx+YMJSRnBOikwDQYJKoZIhvcNAQELBQAwEzERMA8GA1UEAwwIdGVzdC1pZHAwIBcNMjYxMjA3MDQxMTIyWhgPMjEyNjExMTMwNDExMjJaMBMxETAPBgNVBAMMCHRlc3QtaWRwMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAnW/52DL1DUMMjGf3MXYKWcMK+mKKhXFG0QPDPgcNCNKqL0Flil9xx6SKyh+aLZpefTMXaeXgKDl724W4elxHw9u0RG6fXvHvGTFYtBTzp/J0sSxSbF34QIyrfoOJgJ3Yz/1CSCaNpcY9rb6VH8FOk0c6WPmJM5eMTJY7+s/P+NGyneJMWbcen8MxdBHHfyHe7lmQoMTlYhzVfEm4AEAOU6yC7ihAvmUyvJYF+9zUnBDvHiUDNTe7QUIxTYmaiAsG49wBHXqc5vF1tvcHinqfrTMo6EhgTjowvFY/pY3jjli4kQv/+yp328/Xj+XQxoG9I0iKSIZp9u4UgyE3MmFRBwIDAQABo1MwUTAdBgNVHQ4EFgQU+Ei01/rssFPCCmCik29JpAODBvIwHwYDVR0jBBgwFoAU+Ei01/rssFPCCmCik29JpAODBvIwDwYDVR0TAQH/BAUwAwEB/zANBgkqhkiG9w0BAQsFAAOCAQEAEzNXLZHb+FLcvP8Dj8ryHmBZl5huiFDcWINjIRdZMYNgC9+8SCLJ/hm81YfFfkk7fPUqRZ5Ahr5MK+w9Rtyqi7HiT4FTo65dkbtZu3PZyVSAkl6ib7+uVvV2c+IsyJfiHTyb91ey/j/r4RWASws+vogJTpyyz6GWCqR3zDWweyp91BMoQnL0N4hM4KQrsyNvt32Uz6QHH3teQk1vqabQfifqv32U7U7Jaf2/B6BrevQoJuOd91P315TbRgl+kGskPqqwwzuDz4QcwNquDao9Hh3v8Vq1x+pGPzW6dwfwc3IFh4RgwcbZOseU/n1mdv+EUfnNHWgBrtdkqdU4+5T9vg==";

/// The test IdP's other (attacker) key (PKCS#8 DER, base64), made with `openssl req -x509 -newkey rsa:2048`.
const WRONG_KEY: &str = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQCul56xvXVDl219nJ95/5MJaky4/ZDUQRCZQjsEGdlt+JSuZ5RwRuCmMaSPxKmnccG5BfAsP61c+TZWuxHpeFGNfAs7nwPeX7al6N+s9S1SzWcHnYtmOfDspTfpQQnUPZLBdkZ2cD+PkjLUO7Yv8AsypkaqB45DQvxyMaxqXFRPHXuJFrU0kIVoKJJtoWpeis6oUu17vxyUH8MfKwAc+tF63ny5cPuK1xqZybVZkIfl9KmtOAIT+4wkthbpxfSDefON1a/t09feg0T15IY/iZdFQyIOjKsuglonBMO3VGJx/IWlLMo6NKb1iYiPi5GLZKCFTVTusv7P8aMmGAJNxJ2LAgMBAAECggEADDpWRQCN6/P5GSkVCkhaFfi58uLfd94uuW0oEPt2fPtB/o0Gmm58YWdsrR0K/M080iaWUaMME0zo/14OvRlOLOiZKM3USYjOlAQhVk29pOT56FCiaMB6HTjdF5sUgybk1mPgP39RFE8a/D5KXkUjo6J9pH7u+csBP0Y3WyOoS/oY+qbmydHYdF5XH1ewcVq2wHFEfAXEiTptgjXuZmg1qCG4stfo/t0pLFF7sCousillYqAIm25xEDTEXxkf2TTTUCbs5KWsrekKlArRsuoZJLzP0lsNN/3so0r0p2nUWvp7ean8oZT7Z6WG2bhLyfto5SUaVEaJgWGbZ2iL/jEaYQKBgQDfJCFU+1VvOIeNQVUeGE2qt+ZRHzbscy6mRP7rbHPoFm/uSObjcm1hQdzJ/XCEl56kXdQ5gUzLOqTcqitcH3OuslR8UMdI7fvNMdAXG8O/zs+sEAf1EQ/6GzqAhxCUSpwoz+7srXtB43t5AFsOPK5YfNAQ8pXInmauU5x2JOmdUwKBgQDITVE1y6gNeTSgBIrGsdEoOZkQ9634omTbcz7l7rxzW1HXscKoSEIC4cLBGm5h4OdHrecBYVIH0m3HeWnL6Ct/JFTb9iSwpl242U6tECbiWQFROu2W0t6m7AWbvHPIiApyPecQxhSyVmGU5lrtmJnJuy/+MPBh0BmxR5wKgD8/6QKBgEgvdvz35ZZ6UheXKAL5V76/iSl7EJiDVncBYPol9oUBJSqPuOmhbdMFrHhHnau3JOIFXI9Rzdb83LJp9mbx4cmE9SHWO/HS0x95Wtju6W9WZwZBlWFpKKL/RfioOOvQCx6EzcURBgu1nI7zV4GOjdQgZGrnHx9sZslEURxDKrPzAoGBAJ1yQSKzKi8lFhuuVlOnFIy08b+noQWuyO7DIS7mQRXAM44DucpDuje/tDHMD/Y6LjJm3Q11rWBepVJF+saAgihXq6iXS/HbZBJYJoLdDmOfqOxsELQcn03AewwWz0BSxztTs1y5By3DvsKna9QVvtUWobwCRgHs7TUv39VVR+J5AoGAdFbaPvEZjpa8DKLpgqvjDE8aSUmkGKSe61uU8cq5Xp9xssxRT6QdvEZ2B8lyl11svb7OGtk75NvM6IksC3FplFiF3tRJB4HOGYi3L+Gks0NQ3UsRgrNCJrWNxjPvr3K0lOS6Wch2qr11Saj8V6Zh1QXfUQTcU4esLBd6jvjCSmg=";
/// Its self-signed certificate (DER, base64).
const WRONG_SIGNING_CERT: &str = "MIIDDTCCAfWgAwIBAgIUV45eqG5yCbDHatNSvk/NuGAe4xYwDQYJKoZIhvcNAQELBQAwFTETMBEGA1UEAwwKdGVzdC13cm9uZzAgFw0yNjEyMDcwNDExMjJaGA8yMTI2MTExMzA0MTEyMlowFTETMBEGA1UEAwwKdGVzdC13cm9uZzCCASIwDQYJKoZIhvcNAQEBBQADggEPADCCAQoCggEBAK6XnrG9dUOXbX2cn3n/kwlqTLj9kNRBEJlCOwQZ2W34lK5nlHBG4KYxpI/EqadxwbkF8Cw/rVz5Nla7Eel4UY18CzufA95ftqXo36z1LVLNZwedi2Y58OylN+lBCdQ9ksF2RnZwP4+SMtQ7ti/wCzKmRqoHjkNC/HIxrGpcVE8de4kWtTSQhWgokm2hal6KzqhS7Xu/HJQfwx8rABz60XrefLlw+4rXGpnJtVmQh+X0qa04AhP7jCS2FunF9IN5843Vr+3T196DRPXkhj+Jl0VDIg6Mqy6CWicEw7dUYnH8haUsyjo0pvWJiI+LkYtkoIVNVO6y/s/xoyYYAk3EnYsCAwEAAaNTMFEwHQYDVR0OBBYEFAHe+hyaVP7QwmSoXrMGi3Q7jP9KMB8GA1UdIwQYMBaAFAHe+hyaVP7QwmSoXrMGi3Q7jP9KMA8GA1UdEwEB/wQFMAMBAf8wDQYJKoZIhvcNAQELBQADggEBAIBRt68iioIasmTnyvunS0/QTKPAAc4MQRI5+TlsxQT2lZURMq272xaYoBPKaAGku1Sp10GMVevQwS5Ft2Jn8PgYOqktpt1ViDq11qNLy6snlyJtMhqpo7qy3U0rGYnc+8BHje/oPNsHq+i31aPOXdkBMHuuiVieZrqHshOUy8TGeB1ZLGEPqGQK1f3TWRfPSr3yt9O+bcTq7EN9d9esagJo8noIEnYO8r+oQzU0wyAyZefbcY4oQTyPL+TNF5QuvszDMW64xENcQwh9+KM8qwHz4eewz5zhvmpIdW71UWYdIs9raSa4AgwrDksCUZAbwZmObdgAfW009vHzoDmB1ZQ=";

const SP_ENTITY: &str = "https://sp.example/entity";
const IDP_ENTITY: &str = "https://idp.example/metadata";
const ACS: &str = "https://api.example/auth/saml/callback";
const LEGACY_ACS: &str = "https://api.example/legacy/callback";
const APP_CB: &str = "https://app.example/auth/callback";
const RSA_SHA256: (&str, &str) =
    ("http://www.w3.org/2001/04/xmldsig-more#rsa-sha256", "http://www.w3.org/2001/04/xmlenc#sha256");
const RSA_SHA1: (&str, &str) = ("http://www.w3.org/2000/09/xmldsig#rsa-sha1", "http://www.w3.org/2000/09/xmldsig#sha1");

/// `xs:dateTime` of `ms` in UTC with milliseconds.
fn iso(ms: i64) -> String {
    let (days, rem) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
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

fn signature_template(reference: &str, alg: (&str, &str)) -> String {
    format!(
        "<ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"><ds:SignedInfo>\
         <ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/>\
         <ds:SignatureMethod Algorithm=\"{}\"/><ds:Reference URI=\"#{reference}\"><ds:Transforms>\
         <ds:Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"/>\
         <ds:Transform Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/></ds:Transforms>\
         <ds:DigestMethod Algorithm=\"{}\"/><ds:DigestValue></ds:DigestValue></ds:Reference></ds:SignedInfo>\
         <ds:SignatureValue></ds:SignatureValue></ds:Signature>",
        alg.0, alg.1
    )
}

/// Sign the first signature template of `xml` with the key (xmlsec, through samael); the
/// element without the XML declaration.
fn sign(xml: &str, key_b64: &str) -> String {
    use samael::crypto::CryptoProvider;
    let key = STANDARD.decode(key_b64).unwrap();
    let signed = samael::crypto::XmlSec::sign_xml(xml, &key).unwrap_or_else(|e| panic!("signing: {e:?}\n{xml}"));
    let body = match signed.find("?>") {
        Some(i) if signed.starts_with("<?xml") => &signed[i + 2..],
        _ => &signed[..],
    };
    body.trim().to_string()
}

/// The test IdP's response, each part settable for the attacks.
#[derive(Clone)]
struct Idp {
    response_id: String,
    assertion_id: String,
    issuer: String,
    assertion_issuer: String,
    destination: Option<String>,
    in_response_to: Option<String>,
    recipient: String,
    audience: String,
    name_id: String,
    email: String,
    issue_instant: i64,
    not_before: i64,
    not_on_or_after: i64,
    sign_response: bool,
    sign_assertion: bool,
    key: &'static str,
    alg: (&'static str, &'static str),
}

impl Idp {
    fn new(now: i64, in_response_to: Option<&str>, tag: &str) -> Idp {
        Idp {
            response_id: format!("_resp-{tag}-{now}"),
            assertion_id: format!("_assert-{tag}-{now}"),
            issuer: IDP_ENTITY.into(),
            assertion_issuer: IDP_ENTITY.into(),
            destination: Some(ACS.into()),
            in_response_to: in_response_to.map(str::to_string),
            recipient: ACS.into(),
            audience: SP_ENTITY.into(),
            name_id: "alice@example.com".into(),
            email: "alice@corp.example".into(),
            issue_instant: now,
            not_before: now - 60_000,
            not_on_or_after: now + 300_000,
            sign_response: false,
            sign_assertion: true,
            key: IDP_KEY,
            alg: RSA_SHA256,
        }
    }

    fn irt(&self) -> String {
        self.in_response_to.as_ref().map(|r| format!(" InResponseTo=\"{r}\"")).unwrap_or_default()
    }

    /// The assertion, signed when `sign_assertion`; `name_id_xml` is put as is.
    fn assertion_with(&self, name_id_xml: &str) -> String {
        let sig = if self.sign_assertion { signature_template(&self.assertion_id, self.alg) } else { String::new() };
        let xml = format!(
            "<saml:Assertion xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"{id}\" Version=\"2.0\" \
             IssueInstant=\"{at}\"><saml:Issuer>{issuer}</saml:Issuer>{sig}<saml:Subject>\
             <saml:NameID Format=\"urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress\">{name_id_xml}</saml:NameID>\
             <saml:SubjectConfirmation Method=\"urn:oasis:names:tc:SAML:2.0:cm:bearer\">\
             <saml:SubjectConfirmationData{irt} NotOnOrAfter=\"{noa}\" Recipient=\"{recipient}\"/>\
             </saml:SubjectConfirmation></saml:Subject><saml:Conditions NotBefore=\"{nb}\" NotOnOrAfter=\"{noa}\">\
             <saml:AudienceRestriction><saml:Audience>{aud}</saml:Audience></saml:AudienceRestriction></saml:Conditions>\
             <saml:AuthnStatement AuthnInstant=\"{at}\"><saml:AuthnContext><saml:AuthnContextClassRef>\
             urn:oasis:names:tc:SAML:2.0:ac:classes:Password</saml:AuthnContextClassRef></saml:AuthnContext>\
             </saml:AuthnStatement><saml:AttributeStatement><saml:Attribute Name=\"email\">\
             <saml:AttributeValue>{email}</saml:AttributeValue></saml:Attribute><saml:Attribute Name=\"groups\">\
             <saml:AttributeValue> admins </saml:AttributeValue><saml:AttributeValue>staff</saml:AttributeValue>\
             <saml:AttributeValue>  </saml:AttributeValue></saml:Attribute></saml:AttributeStatement></saml:Assertion>",
            id = self.assertion_id,
            at = iso(self.issue_instant),
            issuer = self.assertion_issuer,
            irt = self.irt(),
            noa = iso(self.not_on_or_after),
            nb = iso(self.not_before),
            recipient = self.recipient,
            aud = self.audience,
            email = self.email,
        );
        if self.sign_assertion {
            sign(&xml, self.key)
        } else {
            xml
        }
    }

    fn assertion(&self) -> String {
        self.assertion_with(&self.name_id)
    }

    /// The response around `inner` (the assertion, or whatever an attack puts there), signed
    /// when `sign_response`.
    fn response_around(&self, inner: &str) -> String {
        let sig = if self.sign_response { signature_template(&self.response_id, self.alg) } else { String::new() };
        let dest = self.destination.as_ref().map(|d| format!(" Destination=\"{d}\"")).unwrap_or_default();
        let xml = format!(
            "<samlp:Response xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" \
             xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"{id}\" Version=\"2.0\" \
             IssueInstant=\"{at}\"{dest}{irt}><saml:Issuer>{issuer}</saml:Issuer>{sig}<samlp:Status>\
             <samlp:StatusCode Value=\"urn:oasis:names:tc:SAML:2.0:status:Success\"/></samlp:Status>{inner}\
             </samlp:Response>",
            id = self.response_id,
            at = iso(self.issue_instant),
            irt = self.irt(),
            issuer = self.issuer,
        );
        if self.sign_response {
            sign(&xml, self.key)
        } else {
            xml
        }
    }

    fn xml(&self) -> String {
        self.response_around(&self.assertion())
    }
}

fn signing_metadata(entity_id: &str, cert: &str) -> String {
    format!(
        r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{entity_id}">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.example/sso"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>"#
    )
}

async fn saml_server(b: Backend) -> Option<TestServer> {
    let s = TestServer::spawn(b, json!({"saml_sp_entity_id": SP_ENTITY, "saml_legacy_acs_url": LEGACY_ACS})).await?;
    let c = s
        .put(
            "/recipe/saml/clients",
            json!({
                "clientId": "corp",
                "clientSecret": "corp-secret",
                "redirectURIs": [APP_CB, "https://app.example/cb?x=1#frag"],
                "defaultRedirectURI": APP_CB,
                "metadataXML": b64(&signing_metadata(IDP_ENTITY, IDP_SIGNING_CERT)),
                "enableRequestSigning": false,
            }),
        )
        .await;
    assert_eq!(c["status"], "OK", "{c}");
    Some(s)
}

/// Start an SP-initiated login: (relay state, AuthnRequest ID).
async fn start_login(s: &TestServer, redirect: &str) -> (String, String) {
    let r = s
        .post("/recipe/saml/login", json!({"clientId": "corp", "redirectURI": redirect, "acsURL": ACS, "state": "st8"}))
        .await;
    assert_eq!(r["status"], "OK", "{r}");
    let (_, xml, relay) = authn_request(r["ssoRedirectURI"].as_str().unwrap());
    (relay, attr(&xml, "ID").to_string())
}

async fn callback(s: &TestServer, xml: &str, relay: Option<&str>) -> Value {
    let mut body = json!({"samlResponse": b64(xml)});
    if let Some(r) = relay {
        body["relayState"] = json!(r);
    }
    s.post("/recipe/saml/callback", body).await
}

fn code_of(redirect: &str) -> String {
    let q = redirect.split_once('?').unwrap().1.split('#').next().unwrap();
    q.split('&').find_map(|kv| kv.strip_prefix("code=")).unwrap_or_else(|| panic!("no code in {redirect}")).to_string()
}

/// Verify the test IdP's signature with xmlsec1 (nobody here wrote it); `None` when xmlsec1 is
/// not installed.
fn xmlsec1_verifies_response(xml: &str, cert_b64: &str) -> Option<bool> {
    let dir = std::env::temp_dir().join(format!("st-saml-resp-{}-{}", std::process::id(), xml.len()));
    std::fs::create_dir_all(&dir).unwrap();
    let (x, c) = (dir.join("resp.xml"), dir.join("idp.der"));
    std::fs::write(&x, xml).unwrap();
    std::fs::write(&c, STANDARD.decode(cert_b64).unwrap()).unwrap();
    let out = std::process::Command::new("xmlsec1")
        .args(["--verify", "--id-attr:ID", "urn:oasis:names:tc:SAML:2.0:assertion:Assertion", "--pubkey-cert-der"])
        .arg(&c)
        .arg(&x)
        .output()
        .ok()?;
    let _ = std::fs::remove_dir_all(&dir);
    Some(out.status.success())
}

const FAILED: &str = "SAML_RESPONSE_VERIFICATION_FAILED_ERROR";

pub(super) async fn callback_sp_initiated_and_user(b: Backend) {
    let Some(s) = saml_server(b).await else { return };
    let now = START_MS;
    for (mode, sign_response, sign_assertion) in
        [("assertion", false, true), ("response", true, false), ("both", true, true)]
    {
        let (relay, request_id) = start_login(&s, APP_CB).await;
        let mut idp = Idp::new(now, Some(&request_id), mode);
        idp.sign_response = sign_response;
        idp.sign_assertion = sign_assertion;
        let xml = idp.xml();
        if mode == "assertion" {
            match xmlsec1_verifies_response(&xml, IDP_SIGNING_CERT) {
                Some(ok) => assert!(ok, "xmlsec1 verifies the test IdP's signature: {xml}"),
                None => eprintln!("xmlsec1 not installed: the test IdP's signature is not checked independently"),
            }
        }
        let r = callback(&s, &xml, Some(&relay)).await;
        assert_eq!(r["status"], "OK", "{mode}: {r}");
        let uri = r["redirectURI"].as_str().unwrap();
        assert!(uri.starts_with(&format!("{APP_CB}?code=")) && uri.ends_with("&state=st8"), "{uri}");
        let code = code_of(uri);
        assert!(is_uuid(&code), "{code}");

        // Another client's id: refused (and the code is spent, as the reference).
        if mode == "both" {
            let wrong = s.post("/recipe/saml/user", json!({"accessToken": code, "clientId": "other"})).await;
            assert_eq!(wrong, json!({"status": "INVALID_TOKEN_ERROR"}));
            continue;
        }
        let u = s.post("/recipe/saml/user", json!({"accessToken": code, "clientId": "corp"})).await;
        assert_eq!(
            u,
            json!({
                "claims": {
                    "NameID": ["alice@example.com"],
                    "NameIDFormat": ["urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"],
                    "email": ["alice@corp.example"],
                    "groups": ["admins", "staff"],
                },
                "sub": "alice@example.com",
                "email": "alice@corp.example",
                "aud": "corp",
                "status": "OK",
            }),
            "{mode}"
        );
        let keys: Vec<&str> = u.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["claims", "sub", "email", "aud", "status"]);
        let again = s.post("/recipe/saml/user", json!({"accessToken": code, "clientId": "corp"})).await;
        assert_eq!(again, json!({"status": "INVALID_TOKEN_ERROR"}), "a code is redeemed once");

        // The same response again: a replay.
        let replay = callback(&s, &xml, Some(&relay)).await;
        assert_eq!(replay, json!({"status": FAILED}), "{mode} replayed");
    }

    // A redirect URI with a query and a fragment keeps both.
    let (relay, request_id) = start_login(&s, "https://app.example/cb?x=1#frag").await;
    let r = callback(&s, &Idp::new(now, Some(&request_id), "frag").xml(), Some(&relay)).await;
    let uri = r["redirectURI"].as_str().unwrap();
    assert!(uri.starts_with("https://app.example/cb?x=1&code=") && uri.ends_with("&state=st8#frag"), "{uri}");

    // Unknown or expired relay state; a client removed since the login.
    let xml = Idp::new(now, Some("_x"), "relay").xml();
    assert_eq!(callback(&s, &xml, Some("nope")).await, json!({"status": "INVALID_RELAY_STATE_ERROR"}));
    let (relay, request_id) = start_login(&s, APP_CB).await;
    s.clock.advance_ms(300_001);
    let late = Idp::new(START_MS + 300_001, Some(&request_id), "late").xml();
    assert_eq!(callback(&s, &late, Some(&relay)).await, json!({"status": "INVALID_RELAY_STATE_ERROR"}));
    let (relay, request_id) = start_login(&s, APP_CB).await;
    s.post("/recipe/saml/clients/remove", json!({"clientId": "corp"})).await;
    let gone = Idp::new(START_MS + 300_001, Some(&request_id), "gone").xml();
    assert_eq!(callback(&s, &gone, Some(&relay)).await, json!({"status": "INVALID_CLIENT_ERROR"}));

    // The claims' validity (saml_claims_validity, 5 minutes).
    s.stop().await;
}

pub(super) async fn code_expires(b: Backend) {
    let Some(s) = saml_server(b).await else { return };
    let (relay, request_id) = start_login(&s, APP_CB).await;
    let r = callback(&s, &Idp::new(START_MS, Some(&request_id), "exp").xml(), Some(&relay)).await;
    let code = code_of(r["redirectURI"].as_str().unwrap());
    s.clock.advance_ms(300_001);
    let u = s.post("/recipe/saml/user", json!({"accessToken": code, "clientId": "corp"})).await;
    assert_eq!(u, json!({"status": "INVALID_TOKEN_ERROR"}), "after saml_claims_validity");
    s.stop().await;
}

/// Each attack: a fresh login, the response the attacker posts; all refused, while the same
/// login with the honest response passes (so each refusal is the attack's).
pub(super) async fn attack_corpus(b: Backend) {
    let Some(s) = saml_server(b).await else { return };
    let now = START_MS;
    type Attack = fn(&Idp) -> String;
    let attacks: Vec<(&str, Attack)> = vec![
        ("unsigned", |i| Idp { sign_assertion: false, ..i.clone() }.xml()),
        ("signed by another key", |i| Idp { key: WRONG_KEY, ..i.clone() }.xml()),
        ("response signed by another key", |i| {
            Idp { key: WRONG_KEY, sign_response: true, sign_assertion: false, ..i.clone() }.xml()
        }),
        ("RSA-SHA1", |i| Idp { alg: RSA_SHA1, ..i.clone() }.xml()),
        ("assertion changed after signing", |i| i.xml().replace("alice@example.com", "admin@example.com")),
        ("response changed after signing", |i| {
            Idp { sign_response: true, sign_assertion: false, ..i.clone() }
                .xml()
                .replace("alice@example.com", "admin@example.com")
        }),
        ("unsigned assertion in a signed response that does not cover it", |i| {
            // The response's signature covers an empty response; the assertion is added after.
            let signer = Idp { sign_response: true, sign_assertion: false, ..i.clone() };
            let signed_empty = signer.response_around("");
            let forged = Idp { sign_assertion: false, name_id: "admin@example.com".into(), ..i.clone() }.assertion();
            signed_empty.replace("</samlp:Response>", &format!("{forged}</samlp:Response>"))
        }),
        ("signature referencing another element", |i| {
            // A signed Extensions element; the signature sits in the response, naming it.
            let ext_id = format!("{}-ext", i.response_id);
            let signed_ext = sign(
                &format!(
                    "<samlp:Extensions xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" ID=\"{ext_id}\">{}</samlp:Extensions>",
                    signature_template(&ext_id, RSA_SHA256)
                ),
                IDP_KEY,
            );
            let forged = Idp { sign_assertion: false, ..i.clone() }.assertion();
            Idp { sign_assertion: false, ..i.clone() }.response_around(&format!("{signed_ext}{forged}"))
        }),
        ("wrapping: signed assertion moved into Extensions, forged one in its place", |i| {
            let signed = i.assertion();
            let forged = Idp {
                sign_assertion: false,
                assertion_id: format!("{}-forged", i.assertion_id),
                name_id: "admin@example.com".into(),
                ..i.clone()
            }
            .assertion();
            i.response_around(&format!("<samlp:Extensions>{signed}</samlp:Extensions>{forged}"))
        }),
        ("wrapping: forged assertion first, signed one after", |i| {
            let forged = Idp {
                sign_assertion: false,
                assertion_id: format!("{}-forged", i.assertion_id),
                name_id: "admin@example.com".into(),
                ..i.clone()
            }
            .assertion();
            i.response_around(&format!("{forged}{}", i.assertion()))
        }),
        ("wrapping: duplicated assertion (same ID), forged copy unsigned", |i| {
            let forged = Idp { sign_assertion: false, name_id: "admin@example.com".into(), ..i.clone() }.assertion();
            i.response_around(&format!("{}{forged}", i.assertion()))
        }),
        ("wrapping: signed response moved inside a forged one", |i| {
            let signed = Idp { sign_response: true, sign_assertion: false, ..i.clone() }.xml();
            let forged_assertion =
                Idp { sign_assertion: false, name_id: "admin@example.com".into(), ..i.clone() }.assertion();
            let outer = Idp { sign_assertion: false, response_id: format!("{}-outer", i.response_id), ..i.clone() };
            outer.response_around(&format!("<samlp:Extensions>{signed}</samlp:Extensions>{forged_assertion}"))
        }),
        ("wrapping: signed assertion inside the forged assertion's Advice", |i| {
            let signed = i.assertion();
            let forged = Idp {
                sign_assertion: false,
                assertion_id: format!("{}-forged", i.assertion_id),
                name_id: "admin@example.com".into(),
                ..i.clone()
            }
            .assertion()
            .replace("<saml:Conditions", &format!("<saml:Advice>{signed}</saml:Advice><saml:Conditions"));
            i.response_around(&forged)
        }),
        ("comment injected in the NameID", |i| {
            let honest = Idp { name_id: "alice@example.com.evil.example".into(), ..i.clone() };
            let xml = honest.xml();
            xml.replace("alice@example.com.evil.example", "alice@example.com<!---->.evil.example")
        }),
        ("expired (NotOnOrAfter past, beyond the skew)", |i| {
            Idp { not_on_or_after: i.issue_instant - 61_000, not_before: i.issue_instant - 400_000, ..i.clone() }.xml()
        }),
        ("not yet valid (NotBefore ahead, beyond the skew)", |i| {
            Idp { not_before: i.issue_instant + 61_000, ..i.clone() }.xml()
        }),
        ("IssueInstant 6 minutes old", |i| {
            Idp { issue_instant: i.issue_instant - 360_000, not_before: i.issue_instant - 400_000, ..i.clone() }.xml()
        }),
        ("wrong audience", |i| Idp { audience: "https://other-sp.example".into(), ..i.clone() }.xml()),
        ("wrong recipient", |i| Idp { recipient: "https://evil.example/acs".into(), ..i.clone() }.xml()),
        ("wrong destination", |i| Idp { destination: Some("https://evil.example/acs".into()), ..i.clone() }.xml()),
        ("InResponseTo of another request", |i| Idp { in_response_to: Some("_another".into()), ..i.clone() }.xml()),
        ("no InResponseTo", |i| Idp { in_response_to: None, ..i.clone() }.xml()),
        ("assertion issued by another IdP", |i| {
            Idp { assertion_issuer: "https://idp2.example".into(), ..i.clone() }.xml()
        }),
        ("status not Success", |i| {
            i.xml()
                .replace("urn:oasis:names:tc:SAML:2.0:status:Success", "urn:oasis:names:tc:SAML:2.0:status:Requester")
        }),
    ];
    for (n, (name, attack)) in attacks.iter().enumerate() {
        let (relay, request_id) = start_login(&s, APP_CB).await;
        let idp = Idp::new(now, Some(&request_id), &format!("a{n}"));
        let r = callback(&s, &attack(&idp), Some(&relay)).await;
        assert_eq!(r, json!({"status": FAILED}), "{name}");
        let honest = callback(&s, &idp.xml(), Some(&relay)).await;
        assert_eq!(honest["status"], "OK", "{name}: the honest response of the same login passes: {honest}");
    }
    // Within the skew: 59 s past NotOnOrAfter and 59 s before NotBefore are accepted.
    for (n, idp) in [
        |i: &Idp| Idp { not_on_or_after: i.issue_instant - 59_000, not_before: i.issue_instant - 400_000, ..i.clone() },
        |i: &Idp| Idp { not_before: i.issue_instant + 59_000, ..i.clone() },
    ]
    .iter()
    .enumerate()
    {
        let (relay, request_id) = start_login(&s, APP_CB).await;
        let r = callback(&s, &idp(&Idp::new(now, Some(&request_id), &format!("skew{n}"))).xml(), Some(&relay)).await;
        assert_eq!(r["status"], "OK", "skew {n}: {r}");
    }
    // The client's certificate is what counts: re-pointed at another certificate, the IdP's
    // honest response is refused.
    let mut body = s.get("/recipe/saml/clients/list").await["clients"][0].clone();
    body["metadataXML"] = json!(b64(&signing_metadata(IDP_ENTITY, WRONG_SIGNING_CERT)));
    assert_eq!(s.put("/recipe/saml/clients", body).await["idpSigningCertificate"], WRONG_SIGNING_CERT);
    let (relay, request_id) = start_login(&s, APP_CB).await;
    let r = callback(&s, &Idp::new(now, Some(&request_id), "repointed").xml(), Some(&relay)).await;
    assert_eq!(r, json!({"status": FAILED}), "the IdP's key is no longer the client's");
    s.stop().await;
}

pub(super) async fn xxe_and_billion_laughs_refused(b: Backend) {
    let Some(s) = saml_server(b).await else { return };
    let (relay, request_id) = start_login(&s, APP_CB).await;
    let honest = Idp::new(START_MS, Some(&request_id), "dtd").xml();
    let xxe = format!(
        "<?xml version=\"1.0\"?>\n<!DOCTYPE samlp:Response [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>\n{}",
        honest.replace("alice@corp.example", "&xxe;")
    );
    let laughs = format!(
        "<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\
         <!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">\
         <!ENTITY lol4 \"&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;\">]>\n{}",
        honest.replace("alice@corp.example", "&lol4;")
    );
    let internal_dtd = format!("<!DOCTYPE samlp:Response>\n{honest}");
    for (name, xml) in [("XXE", xxe), ("billion laughs", laughs), ("any DTD", internal_dtd)] {
        let (st, text) = s
            .status_and_text(
                "POST",
                "/recipe/saml/callback",
                Some(json!({"samlResponse": b64(&xml), "relayState": relay})),
            )
            .await;
        assert_eq!((st, text.as_str()), (400, "Invalid or malformed SAML response input"), "{name}");
    }
    for bad in
        [json!({"samlResponse": "%%%"}), json!({"samlResponse": b64("not xml")}), json!({"samlResponse": b64("<a/>")})]
    {
        let (st, text) = s.status_and_text("POST", "/recipe/saml/callback", Some(bad.clone())).await;
        assert_eq!((st, text.as_str()), (400, "Invalid or malformed SAML response input"), "{bad}");
    }
    let (st, text) = s.status_and_text("POST", "/recipe/saml/callback", Some(json!({}))).await;
    assert_eq!((st, text.as_str()), (400, "Field name 'samlResponse' is invalid in JSON input"));
    let (st, _) = s.status_and_text("POST", "/recipe/saml/user", Some(json!({"accessToken": "x"}))).await;
    assert_eq!(st, 400);
    // The honest response still passes.
    assert_eq!(callback(&s, &honest, Some(&relay)).await["status"], "OK");
    s.stop().await;
}

pub(super) async fn idp_initiated_login(b: Backend) {
    let Some(s) = saml_server(b).await else { return };
    let unsolicited = |tag: &str| Idp::new(START_MS, None, tag);
    // Not allowed by the client (the default).
    let r = callback(&s, &unsolicited("no").xml(), None).await;
    assert_eq!(r, json!({"status": "IDP_LOGIN_DISALLOWED_ERROR"}));
    // An IdP no client has.
    let other = Idp { issuer: "https://unknown-idp.example".into(), ..unsolicited("unknown") };
    assert_eq!(callback(&s, &other.xml(), Some("")).await, json!({"status": "INVALID_CLIENT_ERROR"}));

    let mut body = s.get("/recipe/saml/clients/list").await["clients"][0].clone();
    body["allowIDPInitiatedLogin"] = json!(true);
    body["metadataXML"] = json!(b64(&signing_metadata(IDP_ENTITY, IDP_SIGNING_CERT)));
    body.as_object_mut().unwrap().remove("idpEntityId");
    body.as_object_mut().unwrap().remove("idpSigningCertificate");
    assert_eq!(s.put("/recipe/saml/clients", body).await["status"], "OK");
    let r = callback(&s, &unsolicited("yes").xml(), None).await;
    assert_eq!(r["status"], "OK", "{r}");
    let uri = r["redirectURI"].as_str().unwrap();
    assert!(uri.starts_with(&format!("{APP_CB}?code=")) && !uri.contains("state="), "the default redirect URI: {uri}");
    let u = s.post("/recipe/saml/user", json!({"accessToken": code_of(uri), "clientId": "corp"})).await;
    assert_eq!(u["sub"], "alice@example.com");
    // An unsolicited response naming a request, or signed by another key: refused.
    let r = callback(&s, &Idp { in_response_to: Some("_req".into()), ..unsolicited("irt") }.xml(), None).await;
    assert_eq!(r, json!({"status": FAILED}));
    let r = callback(&s, &Idp { key: WRONG_KEY, ..unsolicited("key") }.xml(), None).await;
    assert_eq!(r, json!({"status": FAILED}));
    s.stop().await;
}

pub(super) async fn legacy_routes(b: Backend) {
    let Some(s) = saml_server(b).await else { return };
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let url = |p: &str| format!("{}{}", s.url, p);

    // authorize: a 307 to the IdP, the ACS URL being saml_legacy_acs_url.
    let resp = http
        .get(url("/recipe/saml/legacy/authorize?client_id=corp&redirect_uri=https%3A%2F%2Fapp.example%2Fauth%2Fcallback&state=ls"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 307);
    let location = resp.headers()["location"].to_str().unwrap().to_string();
    let (base, xml, relay) = authn_request(&location);
    assert_eq!(base, "https://idp.example/sso");
    assert_eq!(attr(&xml, "AssertionConsumerServiceURL"), LEGACY_ACS);
    let bad = http.get(url("/recipe/saml/legacy/authorize?client_id=nobody&redirect_uri=x")).send().await.unwrap();
    assert_eq!(bad.text().await.unwrap(), r#"{"status":"INVALID_CLIENT_ERROR"}"#);

    // callback: a form post, answered by a 302 to the app with the code.
    let idp = Idp {
        destination: Some(LEGACY_ACS.into()),
        recipient: LEGACY_ACS.into(),
        ..Idp::new(START_MS, Some(attr(&xml, "ID")), "legacy")
    };
    let form = format!("SAMLResponse={}&RelayState={}", java_like_encode(&b64(&idp.xml())), relay);
    let post = |body: String| {
        http.post(url("/recipe/saml/legacy/callback"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    let resp = post(form.clone()).await.unwrap();
    assert_eq!(resp.status().as_u16(), 302);
    let to = resp.headers()["location"].to_str().unwrap().to_string();
    assert!(to.starts_with(&format!("{APP_CB}?code=")) && to.ends_with("&state=ls"), "{to}");
    let code = code_of(&to);
    let resp = post(form).await.unwrap();
    assert_eq!(resp.status().as_u16(), 400, "replayed");
    assert_eq!(resp.text().await.unwrap().trim(), FAILED);
    let resp = post(String::new()).await.unwrap();
    assert_eq!(
        (resp.status().as_u16(), resp.text().await.unwrap().trim().to_string()),
        (400, "Missing form field: SAMLResponse".into())
    );
    let resp = post("SAMLResponse=x&RelayState=nope".into()).await.unwrap();
    assert_eq!(resp.status().as_u16(), 400);

    // token: no API key, the client's secret; the access token is code.clientId.
    let token = |body: &str| {
        http.post(url("/recipe/saml/legacy/token"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_string())
            .send()
    };
    for (body, want) in [
        ("client_secret=s&code=c".to_string(), "Missing form field: client_id"),
        ("client_id=corp&code=c".to_string(), "Missing form field: client_secret"),
        ("client_id=corp&client_secret=corp-secret".to_string(), "Missing form field: code"),
        ("client_id=nobody&client_secret=x&code=c".to_string(), "Invalid client_id"),
        ("client_id=corp&client_secret=wrong&code=c".to_string(), "Invalid client_secret"),
    ] {
        let resp = token(&body).await.unwrap();
        assert_eq!(
            (resp.status().as_u16(), resp.text().await.unwrap().trim().to_string()),
            (400, want.to_string()),
            "{body}"
        );
    }
    let resp = token(&format!("client_id=corp&client_secret=corp-secret&code={code}")).await.unwrap();
    let t: Value = resp.json().await.unwrap();
    assert_eq!(t, json!({"status": "OK", "access_token": format!("{code}.corp")}));

    // userinfo: Bearer <access token>, the user with `id`; once.
    let info = |auth: Option<String>| {
        let mut r = http.get(url("/recipe/saml/legacy/userinfo"));
        if let Some(a) = auth {
            r = r.header("authorization", a);
        }
        r.send()
    };
    let resp = info(Some(format!("Bearer {code}.corp"))).await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let u: Value = resp.json().await.unwrap();
    assert_eq!(u["id"], "alice@example.com");
    assert_eq!(u["email"], "alice@corp.example");
    assert_eq!(u["aud"], "corp");
    assert!(u.get("sub").is_none() && u.get("status").is_none(), "{u}");
    let resp = info(Some(format!("Bearer {code}.corp"))).await.unwrap();
    assert_eq!(
        (resp.status().as_u16(), resp.text().await.unwrap().trim().to_string()),
        (400, "INVALID_TOKEN_ERROR".into())
    );
    let resp = info(Some("Bearer nodot".into())).await.unwrap();
    assert_eq!(
        (resp.status().as_u16(), resp.text().await.unwrap().trim().to_string()),
        (400, "INVALID_TOKEN_ERROR".into())
    );
    let resp = info(None).await.unwrap();
    assert_eq!(
        (resp.status().as_u16(), resp.text().await.unwrap().trim().to_string()),
        (400, "Authorization header is required".into())
    );

    // App routes: a non-public tenant's path is refused.
    let t = s.put("/recipe/multitenancy/tenant/v2", json!({"tenantId": "t1"})).await;
    assert_eq!(t["status"], "OK");
    let resp = http.post(url("/t1/recipe/saml/legacy/token")).body("client_id=corp").send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 403);
    s.stop().await;
}

/// Form encoding of a value.
fn java_like_encode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'*' | b'_' => (b as char).to_string(),
            b => format!("%{b:02X}"),
        })
        .collect()
}

pub(super) async fn callback_routes_from_cdi_5_4(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    for (m, p, body) in [
        ("POST", "/recipe/saml/callback", Some(json!({"samlResponse": "x"}))),
        ("POST", "/recipe/saml/user", Some(json!({"accessToken": "x", "clientId": "y"}))),
    ] {
        let (st, _) = s.request(m, p, body.clone(), &[("cdi-version", "5.3")]).await;
        assert_eq!(st, 404, "{m} {p} at 5.3");
        let (st, _) = s.request(m, p, body, &[("cdi-version", "5.4")]).await;
        assert_ne!(st, 404, "{m} {p} at 5.4");
    }
    s.stop().await;
}

/// Two instances on one PostgreSQL database: a login started on one completes on the other,
/// and the assertion accepted by one is refused as a replay by the other, also when both post it
/// at once (one insert-if-absent decides); the rows are the Java plugin's and ours.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replay_refused_across_instances_on_postgres() {
    let Some(s1) = saml_server(Backend::Postgres).await else { return };
    let cfg = json!({"saml_sp_entity_id": SP_ENTITY, "saml_legacy_acs_url": LEGACY_ACS});
    let Some(s2) = TestServer::spawn_on(Backend::Postgres, cfg, s1.db_url.clone()).await else { return };
    let (relay, request_id) = start_login(&s1, APP_CB).await;
    let xml = Idp::new(START_MS, Some(&request_id), "two").xml();
    let r = callback(&s2, &xml, Some(&relay)).await;
    assert_eq!(r["status"], "OK", "the relay state and its request are shared: {r}");
    assert_eq!(callback(&s1, &xml, Some(&relay)).await, json!({"status": FAILED}), "replayed on the other instance");
    // Both at once: exactly one accepted.
    for round in 0..5 {
        let (relay, request_id) = start_login(&s1, APP_CB).await;
        let xml = Idp::new(START_MS, Some(&request_id), &format!("race{round}")).xml();
        let (a, b) = tokio::join!(callback(&s1, &xml, Some(&relay)), callback(&s2, &xml, Some(&relay)));
        let ok = [&a, &b].iter().filter(|r| r["status"] == "OK").count();
        assert_eq!(ok, 1, "round {round}: {a} {b}");
    }
    let (client, conn) = tokio_postgres::connect(s1.db_url.as_ref().unwrap(), tokio_postgres::NoTls).await.unwrap();
    let task = tokio::spawn(conn);
    let n: i64 = client.query_one("SELECT count(*) FROM saml_assertion_ids", &[]).await.unwrap().get(0);
    assert_eq!(n, 6);
    let n: i64 = client.query_one("SELECT count(*) FROM saml_claims", &[]).await.unwrap().get(0);
    assert_eq!(n, 6, "one code per accepted assertion");
    let n: i64 = client.query_one("SELECT count(*) FROM saml_relay_state_requests", &[]).await.unwrap().get(0);
    assert_eq!(n, 6);
    drop(client);
    task.abort();
    s1.stop().await;
    s2.stop().await;
}
