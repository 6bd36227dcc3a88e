"""SAML end-to-end test (issue 24 item 5): a real SAML identity provider that nobody here wrote
(pysaml2's `saml2.server.Server`, signing with xmlsec1) in front of supertokens-node 24's SAML
recipe (app.js) over the core under test, driven the way a browser and the supertokens frontend SDK
would drive it; the app is supertokens-node 24's (app.js) or supertokens-python 0.31's (app.py).

    python e2e.py APP_URL CORE_URL API_KEY WORK_DIR    (env SAML_E2E_TAG: node | python)

The flow (each step checked):
  1. the IdP gets a generated RSA key and self-signed certificate; its metadata (pysaml2's) goes to
     the core through the SDK (SAML.createOrUpdateClient -> PUT /recipe/saml/clients);
  2. GET /auth/authorisationurl?thirdPartyId=saml-e2e -> the SDK's /auth/public/saml/login URL;
  3. GET that URL (+ state) -> the SDK calls POST /recipe/saml/login -> 302 to the IdP's
     HTTP-Redirect SSO URL with SAMLRequest and RelayState;
  4. the IdP parses the AuthnRequest (pysaml2 checks the core's enveloped signature with the
     certificate of the core's /.well-known/sp-metadata; the same request altered is refused),
     authenticates a fixed user and answers an auto-submitting HTTP-POST form with the Response,
     its assertion signed (RSA-SHA256);
  5. the form is posted to the ACS URL (/auth/public/saml/callback) -> the SDK calls
     POST /recipe/saml/callback -> 302 to the redirect URI with code and state;
  6. POST /auth/signinup with the code -> the SDK calls POST /recipe/saml/user and signs the user in
     (thirdParty {id: saml-e2e, userId: the NameID}, the email from the assertion's attribute);
  7. negative: the same IdP entity signing with another key -> SAML_RESPONSE_VERIFICATION_FAILED_ERROR
     and no code; a replay of the accepted response -> refused.
"""

import base64
import datetime
import html
import json
import logging
import os
import re
import sys
import threading
import urllib.parse
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.config import IdPConfig
from saml2.metadata import create_metadata_string
from saml2.saml import NAME_FORMAT_URI, NAMEID_FORMAT_PERSISTENT, NameID
from saml2.server import Server
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256

APP, CORE, API_KEY, WORK = sys.argv[1:5]
CLIENT_ID = os.environ.get("SAML_CLIENT_ID", "saml-e2e-client")
FRONTEND_CALLBACK = "http://localhost:3000/auth/callback/saml-e2e"
TAG = os.environ.get("SAML_E2E_TAG", "node")  # one user per SDK app on one core
USER_NAMEID = f"pysaml2-user-0042-{TAG}"
USER_EMAIL = f"alice.e2e.{TAG}@idp.example.com"
EMAIL_CLAIM = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"
XMLSEC = os.environ.get("XMLSEC1", "/usr/bin/xmlsec1")

FAILED = []


def check(cond, what, detail=""):
    print(f"  {'ok  ' if cond else 'FAIL'} {what}" + (f" ({detail})" if detail and not cond else ""))
    if not cond:
        FAILED.append(what)
    return cond


def must(cond, what, detail=""):
    if not check(cond, what, detail):
        print("saml e2e: FAIL (cannot go on)")
        sys.exit(1)


def key_and_cert(name):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    kf, cf = os.path.join(WORK, f"{name}.key"), os.path.join(WORK, f"{name}.crt")
    with open(kf, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    with open(cf, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    return kf, cf


# ------------------------------------------------------------------------------------------------
# the IdP: pysaml2's Server behind a small http.server (HTTP-Redirect in, HTTP-POST out)
# ------------------------------------------------------------------------------------------------
class Idp:
    def __init__(self, base_url, sp_metadata, key_name):
        kf, cf = key_and_cert(key_name)
        self.base_url = base_url
        conf = IdPConfig()
        conf.load({
            "entityid": base_url + "/metadata",
            "xmlsec_binary": XMLSEC,
            "key_file": kf,
            "cert_file": cf,
            "metadata": {"inline": [sp_metadata]},
            "service": {"idp": {
                "name": "pysaml2 e2e IdP",
                "endpoints": {"single_sign_on_service": [(base_url + "/sso/redirect", BINDING_HTTP_REDIRECT)]},
                "name_id_format": [NAMEID_FORMAT_PERSISTENT],
                "policy": {"default": {"lifetime": {"minutes": 5}, "name_form": NAME_FORMAT_URI}},
            }},
        })
        self.server = Server(config=conf)
        self.metadata = create_metadata_string(None, config=conf).decode()
        self.requests = []  # the parsed AuthnRequests
        self.raw_requests = []  # their SAMLRequest parameters

    def sso(self, query):
        q = urllib.parse.parse_qs(query)
        req = self.server.parse_authn_request(q["SAMLRequest"][0], BINDING_HTTP_REDIRECT)
        self.requests.append(req)
        self.raw_requests.append(q["SAMLRequest"][0])
        args = self.server.response_args(req.message, [BINDING_HTTP_POST])
        resp = self.server.create_authn_response(
            # The email under the claim name of ADFS / Azure AD (a name pysaml2's attribute
            # maps do not know goes out as is, NameFormat uri), the one the core reads first.
            identity={EMAIL_CLAIM: [USER_EMAIL], "givenName": ["Alice"]},
            in_response_to=args["in_response_to"],
            destination=args["destination"],
            sp_entity_id=args["sp_entity_id"],
            name_id=NameID(format=NAMEID_FORMAT_PERSISTENT, text=USER_NAMEID),
            authn={"class_ref": "urn:oasis:names:tc:SAML:2.0:ac:classes:Password"},
            sign_assertion=True,
            sign_response=False,
            sign_alg=SIG_RSA_SHA256,
            digest_alg=DIGEST_SHA256,
        )
        info = self.server.apply_binding(BINDING_HTTP_POST, str(resp), args["destination"],
                                         q.get("RelayState", [None])[0], response=True)
        return "".join(info["data"]) if isinstance(info["data"], list) else info["data"]


def start_http(handler_of_path):
    class H(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            u = urllib.parse.urlsplit(self.path)
            try:
                status, ctype, body = handler_of_path(u.path, u.query)
            except Exception as e:  # the test reports it
                import traceback
                traceback.print_exc()
                status, ctype, body = 500, "text/plain", f"idp error: {e!r}"
            data = body.encode()
            self.send_response(status)
            self.send_header("content-type", ctype)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, f"http://127.0.0.1:{srv.server_address[1]}"


def form_of(page):
    """The action and hidden inputs of the IdP's auto-submitting HTTP-POST form."""
    action = html.unescape(re.search(r'<form[^>]*action="([^"]*)"', page).group(1))
    fields = {html.unescape(n): html.unescape(v)
              for n, v in re.findall(r'<input[^>]*name="([^"]*)"[^>]*value="([^"]*)"', page)}
    return action, fields


# ------------------------------------------------------------------------------------------------
# the flow
# ------------------------------------------------------------------------------------------------
def main():
    core_h = {"api-key": API_KEY, "cdi-version": "5.4"}
    # The first call makes the app's SP key pair (RSA key generation: seconds in a debug build).
    sp_md = requests.get(CORE + "/.well-known/sp-metadata", timeout=120)
    must(sp_md.status_code == 200, "the core's SP metadata", sp_md.text[:200])
    acs = urllib.parse.urlsplit(APP)
    acs_url = f"http://localhost:{acs.port}/auth/public/saml/callback"
    # The IdP administrator registers the SP: the core's metadata (entity id, signing certificate)
    # plus the ACS URL of the app.
    sp_metadata = sp_md.text.replace(
        "</md:SPSSODescriptor>",
        f'<md:AssertionConsumerService Binding="{BINDING_HTTP_POST}" Location="{acs_url}" index="0"/>'
        "</md:SPSSODescriptor>")

    routes = {}
    srv, idp_url = start_http(lambda path, query: routes[path](query))
    idp = Idp(idp_url, sp_metadata, "idp")
    routes["/sso/redirect"] = lambda q: (200, "text/html", idp.sso(q))
    print(f"pysaml2 IdP on {idp_url} (entity id {idp_url}/metadata)")

    r = requests.put(APP + "/test/saml/client", json={
        "clientId": CLIENT_ID,
        "redirectURIs": [FRONTEND_CALLBACK],
        "defaultRedirectURI": FRONTEND_CALLBACK,
        "metadataXML": base64.b64encode(idp.metadata.encode()).decode(),
    }, timeout=20).json()
    must(r.get("status") == "OK", "SAML.createOrUpdateClient with pysaml2's metadata", json.dumps(r))
    check(r.get("idpEntityId") == idp_url + "/metadata", "the client's idpEntityId is the IdP's", json.dumps(r))

    browser = requests.Session()

    def login(state):
        r = browser.get(APP + "/auth/authorisationurl", params={
            "thirdPartyId": "saml-e2e", "redirectURIOnProviderDashboard": FRONTEND_CALLBACK}, timeout=20).json()
        must(r.get("status") == "OK", "GET /auth/authorisationurl", json.dumps(r))
        url = r["urlWithQueryParams"] + "&state=" + state
        must("/auth/public/saml/login?" in url, "the authorisation URL is the SDK's SAML login", url)
        r = browser.get(url, allow_redirects=False, timeout=20)
        must(r.status_code in (302, 303, 307), "the SAML login redirects", f"{r.status_code} {r.text[:300]}")
        loc = r.headers["location"]
        must(loc.startswith(idp_url + "/sso/redirect?") and "SAMLRequest=" in loc and "RelayState=" in loc,
             "to the IdP's SSO URL with SAMLRequest and RelayState", loc[:200])
        r = browser.get(loc, timeout=20)
        must(r.status_code == 200, "the IdP answers the AuthnRequest with its POST form", r.text[:500])
        return form_of(r.text)

    print("sign in through the IdP:")
    action, fields = login("st-state-1")
    areq = idp.requests[-1].message
    check(areq.assertion_consumer_service_url == acs_url, "the AuthnRequest names the SDK's ACS URL",
          areq.assertion_consumer_service_url)
    check(areq.issuer.text == "https://saml.supertokens.com", "the AuthnRequest's issuer is the SP entity id",
          areq.issuer.text)
    check(areq.signature is not None, "the AuthnRequest is signed (and pysaml2 accepted the signature)")
    # pysaml2 verifies an enveloped signature it finds (with the SP metadata's certificate): the
    # same request with its ACS URL changed is refused.
    xml = zlib.decompress(base64.b64decode(idp.raw_requests[-1]), -15).decode()
    forged = xml.replace(acs_url, "http://localhost:1/evil")
    must(forged != xml, "the AuthnRequest XML names the ACS URL")
    c = zlib.compressobj(wbits=-15)
    forged_param = base64.b64encode(c.compress(forged.encode()) + c.flush()).decode()
    logging.disable(logging.CRITICAL)  # pysaml2 logs xmlsec1's refusal at error level
    try:
        idp.server.parse_authn_request(forged_param, BINDING_HTTP_REDIRECT)
        check(False, "pysaml2 refuses the AuthnRequest altered after signing")
    except Exception as e:  # saml2.request.IncorrectlySigned
        check(type(e).__name__ == "IncorrectlySigned", "pysaml2 refuses the AuthnRequest altered after signing",
              repr(e))
    finally:
        logging.disable(logging.NOTSET)
    must(action == acs_url and "SAMLResponse" in fields, "the form posts SAMLResponse to the ACS URL", action)
    good_response = fields
    resp_xml = base64.b64decode(fields["SAMLResponse"]).decode()
    with open(os.path.join(WORK, "response.xml"), "w") as f:
        f.write(resp_xml)
    check("<ds:Signature" in resp_xml or ":Signature" in resp_xml, "pysaml2's Response carries a signature")
    r = browser.post(action, data=fields, allow_redirects=False, timeout=20)
    must(r.status_code in (302, 303, 307), "the callback redirects to the app", f"{r.status_code} {r.text[:300]}")
    loc = urllib.parse.urlsplit(r.headers["location"])
    q = dict(urllib.parse.parse_qsl(loc.query))
    must(f"{loc.scheme}://{loc.netloc}{loc.path}" == FRONTEND_CALLBACK and "code" in q,
         "to the redirect URI with a code", r.headers["location"])
    check(q.get("state") == "st-state-1", "and the state", r.headers["location"])
    r = browser.post(APP + "/auth/signinup", headers={"st-auth-mode": "header"}, json={
        "thirdPartyId": "saml-e2e",
        "redirectURIInfo": {"redirectURIOnProviderDashboard": FRONTEND_CALLBACK, "redirectURIQueryParams": q},
    }, timeout=20)
    body = r.json()
    must(body.get("status") == "OK", "POST /auth/signinup signs the user in", json.dumps(body))
    user = body["user"]
    check(body.get("createdNewRecipeUser") is True, "a new user")
    check(user.get("emails") == [USER_EMAIL], "the user's email is the assertion's emailaddress attribute", json.dumps(user))
    tp = [m.get("thirdParty") for m in user.get("loginMethods", [])]
    check(tp == [{"id": "saml-e2e", "userId": USER_NAMEID}], "the login method is saml-e2e with the NameID", json.dumps(tp))
    check(r.headers.get("st-access-token") and r.headers.get("front-token"), "a session (access token, front token)")
    first_user_id = user.get("id")

    calls = requests.get(APP + "/test/core-calls", timeout=10).json()
    for path in ("POST /public/recipe/saml/login", "POST /public/recipe/saml/callback", "POST /public/recipe/saml/user"):
        check(any(c.endswith(path) or c.endswith(path.replace("/public", "")) for c in calls),
              f"the SDK called {path}", json.dumps(calls))

    print("the same user again (second login):")
    action, fields = login("st-state-2")
    r = browser.post(action, data=fields, allow_redirects=False, timeout=20)
    q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(r.headers.get("location", "")).query))
    body = browser.post(APP + "/auth/signinup", headers={"st-auth-mode": "header"}, json={
        "thirdPartyId": "saml-e2e",
        "redirectURIInfo": {"redirectURIOnProviderDashboard": FRONTEND_CALLBACK, "redirectURIQueryParams": q},
    }, timeout=20).json()
    check(body.get("status") == "OK" and body.get("createdNewRecipeUser") is False
          and body["user"]["id"] == first_user_id, "signs in the same user", json.dumps(body)[:300])
    body = browser.post(APP + "/auth/signinup", headers={"st-auth-mode": "header"}, json={
        "thirdPartyId": "saml-e2e",
        "redirectURIInfo": {"redirectURIOnProviderDashboard": FRONTEND_CALLBACK, "redirectURIQueryParams": q},
    }, timeout=20)
    check(body.status_code != 200 or body.json().get("status") != "OK", "the code is redeemed once",
          body.text[:300])

    print("negative:")
    r = browser.post(action, data=good_response, allow_redirects=False, timeout=20)
    check(r.status_code == 200 and "location" not in r.headers and r.json().get("status") != "OK",
          "a replayed Response is refused", f"{r.status_code} {r.text[:200]}")

    # The same IdP entity (same entity id and endpoints) signing with another key.
    rogue = Idp(idp_url, sp_metadata, "rogue")
    routes["/sso/redirect"] = lambda q: (200, "text/html", rogue.sso(q))
    action, fields = login("st-state-3")
    r = browser.post(action, data=fields, allow_redirects=False, timeout=20)
    check(r.status_code == 200 and "location" not in r.headers
          and r.json().get("status") == "SAML_RESPONSE_VERIFICATION_FAILED_ERROR",
          "a Response signed with another key: SAML_RESPONSE_VERIFICATION_FAILED_ERROR",
          f"{r.status_code} {r.headers.get('location')} {r.text[:200]}")
    srv.shutdown()

    if FAILED:
        print(f"saml e2e: FAIL ({len(FAILED)} checks failed)")
        sys.exit(1)
    print("saml e2e: PASS")


if __name__ == "__main__":
    main()
