"""End-to-end flows through an SDK-backed app, driven over HTTP the way the supertokens-website
frontend SDK would drive it. Python twin of ../node/flows.test.mjs (same flows, same output).

Usage: APP_URL=http://127.0.0.1:PORT SDK=python BACKEND=memory python flows_test.py [--mode cookie|header] [--only a,b] [--skip a,b]

Prints one `PASS|FAIL <sdk> <backend> <mode> <flow> (<ms> ms)` line per flow (`SKIP ... (<reason>)`
for a flow the SDK release cannot do), on failure the HTTP exchanges of that flow, and a final
`N passed, N failed, N skipped` line. Exit code 1 on any failure.
"""

import argparse
import base64
import http.cookiejar
import copy
import hashlib
import hmac
import json
import os
import re
import sys
import time
import traceback
import uuid
from email.utils import parsedate_to_datetime
from typing import Any, Callable, Dict, List, Optional
import random
from urllib.parse import parse_qsl, quote, urlencode, urlparse, urlunparse

import requests

APP_URL = os.environ.get("APP_URL", "http://127.0.0.1:3002").rstrip("/")
# Same app, second process, pointed at a core app whose access tokens live 2 s.
APP_URL_SHORT = os.environ.get("APP_URL_SHORT", "").rstrip("/")
# Same app, third process, with account linking, MFA and TOTP on (ST_APP_LINKING=1), for the
# account-linking and MFA flows; run.sh starts it for the releases those flows run on.
APP_URL_LINKING = os.environ.get("APP_URL_LINKING", "").rstrip("/")
SDK = os.environ.get("SDK", "python")
BACKEND = os.environ.get("BACKEND", "memory")
# The other releases' apps on the same core (run.sh: PEER_APPS="node-3.0=http://…,node=http://…"),
# for the cross-version flow: a session started through one release is used through another.
PEERS = [
    {"name": kv.split("=", 1)[0], "url": kv.split("=", 1)[1].rstrip("/")}
    for kv in os.environ.get("PEER_APPS", "").split(",")
    if kv
]
# The mock OAuth/OIDC provider (../mock-oauth/provider.mjs) the apps' ThirdParty providers use.
MOCK_OAUTH = os.environ.get("ST_MOCK_OAUTH_URL", "http://127.0.0.1:4000").rstrip("/")
# The redirect URI registered "on the provider's dashboard": the frontend's callback page.
OAUTH_REDIRECT = "http://localhost:3000/auth/callback/mock"
# Flows that run on some releases only (the CPU budget of run.sh: about 4 minutes on 2 cores):
# the others leave them out silently, or print SKIP when asked for them with --only.
# ST_SDK_EVERY_RELEASE=1 runs every flow on every release (all pass).
ISSUE20_RELEASES = ["node", "python", "node-3.0"]
# account linking and MFA: the newest releases (the others with ST_SDK_EVERY_RELEASE=1, where the
# recipes exist: of the tested releases account linking from node 16, MFA and TOTP from node 18 and
# python 0.26; the others SKIP)
ISSUE21_RELEASES = ["node", "python"]
WEBAUTHN_RELEASES = ["node", "node-5.3", "python", "python-5.3"]
RELEASES_OF_FLOW: Dict[str, List[str]] = {
    "cross-version": ["node", "python"],
    "thirdparty-sign-in-up": ISSUE20_RELEASES,
    "thirdparty-tenants": ISSUE20_RELEASES,
    "passwordless-email-otp": ISSUE20_RELEASES,
    "passwordless-magic-link": ISSUE20_RELEASES,
    "passwordless-max-attempts": ISSUE20_RELEASES,
    "passwordless-expiry": ISSUE20_RELEASES,
    "multitenancy-users": ISSUE20_RELEASES,
    "accountlinking-automatic": ISSUE21_RELEASES,
    "accountlinking-manual": ISSUE21_RELEASES,
    "mfa-totp": ISSUE21_RELEASES,
    "mfa-totp-limit": ISSUE21_RELEASES,
    # passkeys: the releases with the WebAuthn recipe (supertokens-node 23+, supertokens-python
    # 0.30+; the others SKIP with ST_SDK_EVERY_RELEASE=1)
    "webauthn-sign-up-sign-in": WEBAUTHN_RELEASES,
    "webauthn-signature-counter": WEBAUTHN_RELEASES,
    "webauthn-algorithms": WEBAUTHN_RELEASES,
}


def runs_here(flow: str) -> bool:
    return os.environ.get("ST_SDK_EVERY_RELEASE") == "1" or flow not in RELEASES_OF_FLOW or SDK in RELEASES_OF_FLOW[flow]


# Apps besides APP_URL / APP_URL_SHORT that a flow talked to (base, core-call seq at the start):
# their core calls are printed too when the flow fails.
WATCHED_APPS: List[Dict[str, Any]] = []
PASSWORD = "correct-horse-1"

# Connection pooling only: cookies are handled by Browser below, never by requests.
HTTP = requests.Session()
HTTP.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))


# What the SDK release behind APP_URL is (GET /test/sdk-info, read once in main()): older releases
# speak older CDI versions, so some checks differ (e.g. no account linking before CDI 4.0).
SDK_INFO: Dict[str, Any] = {"version": "?", "cdiSupported": [], "accountLinking": True}
CDI = 0.0  # the newest CDI version the SDK speaks, as a number (3.0, 4.0, 5.1, ...)
CDI_SENT = ""  # the same as the SDK writes it in its `cdi-version` header


class FlowError(AssertionError):
    pass


class SkipFlow(Exception):
    """A flow that this SDK release cannot do (the feature did not exist yet): reported as
    `SKIP ... (<reason>)`, never as a pass."""


def skip(reason: str) -> None:
    raise SkipFlow(reason)


def check(cond: Any, msg: str) -> None:
    if not cond:
        raise FlowError(msg)


def eq(actual: Any, expected: Any, msg: str) -> None:
    if actual != expected:
        raise FlowError(f"{msg}: expected {expected!r}, got {actual!r}")


def abbreviate(s: Any, n: int = 60) -> str:
    s = str(s)
    return s[:n] + f"…({len(s)} chars)" if len(s) > n else s


def decode_jwt_payload(jwt: str) -> Dict[str, Any]:
    part = jwt.split(".")[1]
    part += "=" * (-len(part) % 4)
    return json.loads(base64.urlsafe_b64decode(part))


def decode_jwt_header(jwt: str) -> Dict[str, Any]:
    part = jwt.split(".")[0]
    part += "=" * (-len(part) % 4)
    return json.loads(base64.urlsafe_b64decode(part))


# The algorithm of every access token the browser receives (the JWT header's `alg`): the core's
# `access_token_signing_algorithm`, which run.sh passes as ST_SDK_EXPECT_ALG (its ES256 / EdDSA
# passes, ST_SDK_SIGNING_ALG); RS256, the core's default, otherwise. So a pass whose setting the
# core ignored fails, and the offline checks (`/protected`) prove the SDK verified that algorithm.
EXPECT_ALG = os.environ.get("ST_SDK_EXPECT_ALG") or "RS256"
ACCESS_TOKENS_CHECKED = 0


def expect_access_token_alg(token: str, what: str) -> None:
    global ACCESS_TOKENS_CHECKED
    eq(decode_jwt_header(token).get("alg"), EXPECT_ALG, f"{what}: the access token's JWT header alg")
    ACCESS_TOKENS_CHECKED += 1


def token_version_for(cdi: float) -> str:
    """The access-token version the core mints for a CDI version: v4 (`tId`) at 3.x, v5 (`rsub`) from 4.0."""
    return "5" if cdi >= 4.0 else "4"


def path_matches(req_path: str, cookie_path: str) -> bool:
    if req_path == cookie_path:
        return True
    if not req_path.startswith(cookie_path):
        return False
    return cookie_path.endswith("/") or req_path[len(cookie_path)] == "/"


class Response:
    def __init__(self, status: int, text: str, headers: Any, request_id: str = ""):
        self.status = status
        self.text = text
        self.headers = headers
        self.request_id = request_id
        try:
            self.json: Any = json.loads(text)
        except ValueError:
            self.json = None

    def field(self, name: str) -> Any:
        return self.json.get(name) if isinstance(self.json, dict) else None


class Browser:
    """A tiny browser: cookie jar with path matching and expiry, anti-csrf header, header-mode tokens."""

    def __init__(self, mode: str, trace: List[str], base: str = APP_URL):
        self.base = base
        self.mode = mode
        self.trace = trace
        self.cookies: Dict[str, Dict[str, Any]] = {}
        self.anti_csrf: Optional[str] = None
        self.access_token: Optional[str] = None
        self.refresh_token: Optional[str] = None
        self.front_token: Optional[str] = None

    def snapshot(self) -> Dict[str, Any]:
        return copy.deepcopy(
            {
                "cookies": self.cookies,
                "anti_csrf": self.anti_csrf,
                "access_token": self.access_token,
                "refresh_token": self.refresh_token,
                "front_token": self.front_token,
            }
        )

    def restore(self, s: Dict[str, Any]) -> None:
        s = copy.deepcopy(s)
        self.cookies = s["cookies"]
        self.anti_csrf = s["anti_csrf"]
        self.access_token = s["access_token"]
        self.refresh_token = s["refresh_token"]
        self.front_token = s["front_token"]

    def live_cookie(self, name: str, path: str) -> Optional[Dict[str, Any]]:
        c = self.cookies.get(name)
        if c is None:
            return None
        if c["expires"] is not None and c["expires"] <= time.time():
            return None
        if not path_matches(path, c["path"]):
            return None
        return c

    def current_access_token(self) -> Optional[str]:
        if self.mode == "header":
            return self.access_token
        c = self.live_cookie("sAccessToken", "/")
        return c["value"] if c else None

    def current_refresh_token(self) -> Optional[str]:
        if self.mode == "header":
            return self.refresh_token
        c = self.live_cookie("sRefreshToken", "/auth/session/refresh")
        return c["value"] if c else None

    def has_session(self) -> bool:
        return self.front_token is not None

    def cookie_header(self, path: str) -> str:
        parts = []
        for name in list(self.cookies):
            if self.live_cookie(name, path) is not None:
                parts.append(f"{name}={self.cookies[name]['value']}")
        return "; ".join(parts)

    def store_set_cookie(self, sc: str) -> None:
        pieces = [p.strip() for p in sc.split(";")]
        name, _, value = pieces[0].partition("=")
        path = "/"
        expires: Optional[float] = None
        for a in pieces[1:]:
            k, _, v = a.partition("=")
            k = k.lower()
            if k == "path":
                path = v or "/"
            elif k == "expires":
                try:
                    expires = parsedate_to_datetime(v).timestamp()
                except (TypeError, ValueError):
                    pass
            elif k == "max-age":
                expires = time.time() + float(v)
        if expires is not None and expires <= time.time():
            self.cookies.pop(name, None)
        else:
            self.cookies[name] = {"value": value, "path": path, "expires": expires}

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: Optional[Dict[str, str]] = None,
        auth: bool = True,
        auth_token: Optional[str] = None,
    ) -> Response:
        h = dict(headers or {})
        if body is not None:
            h["content-type"] = "application/json"
        h["st-auth-mode"] = self.mode
        # The app keeps it with the core calls this request causes (core_calls_since(seq, request_id)).
        request_id = str(uuid.uuid4())
        h["x-st-test-request"] = request_id
        if auth:
            if self.anti_csrf is not None:
                h["anti-csrf"] = self.anti_csrf
            if self.mode == "header":
                t = auth_token if auth_token is not None else self.access_token
                if t is not None:
                    h["authorization"] = f"Bearer {t}"
            ch = self.cookie_header(path.split("?")[0])
            if ch:
                h["cookie"] = ch
        started = time.time()
        r = HTTP.request(
            method,
            self.base + path,
            data=None if body is None else json.dumps(body),
            headers=h,
            allow_redirects=False,
            timeout=60,
        )
        res = Response(r.status_code, r.text, r.headers, request_id)
        set_cookies = r.raw.headers.getlist("set-cookie")
        for sc in set_cookies:
            self.store_set_cookie(sc)
        ac = r.headers.get("anti-csrf")
        if ac is not None:
            self.anti_csrf = None if ac == "remove" else ac
        at = r.headers.get("st-access-token")
        if at is not None:
            self.access_token = None if at == "" else at
        rt = r.headers.get("st-refresh-token")
        if rt is not None:
            self.refresh_token = None if rt == "" else rt
        ft = r.headers.get("front-token")
        if ft is not None:
            self.front_token = None if ft == "remove" else ft

        interesting = {
            k: abbreviate(r.headers[k])
            for k in ("front-token", "anti-csrf", "st-access-token", "st-refresh-token")
            if k in r.headers
        }
        line = (
            ("" if self.base == APP_URL else f"[{self.base}] ")
            + f"{method} {path} {'' if body is None else json.dumps(body)}\n"
            f"    req headers: {json.dumps({k: abbreviate(v, 70) for k, v in h.items()})}\n"
            f"    -> {r.status_code} ({int((time.time() - started) * 1000)} ms) {abbreviate(r.text, 600)}\n"
        )
        if interesting:
            line += f"    resp headers: {json.dumps(interesting)}\n"
        if set_cookies:
            line += f"    set-cookie: {json.dumps([abbreviate(c, 90) for c in set_cookies])}\n"
        self.trace.append(line)
        new_access_tokens = [at] if at else []
        for sc in set_cookies:
            m = re.match(r"sAccessToken=([^;]+)", sc)
            if m and "." in m.group(1):
                new_access_tokens.append(m.group(1))
        for t in new_access_tokens:
            expect_access_token_alg(t, f"{method} {path}")
        return res

    # --- the app's API, as the frontend would call it ---
    def sign_up(self, email: str, password: str) -> Response:
        return self.request(
            "POST",
            "/auth/signup",
            body={"formFields": [{"id": "email", "value": email}, {"id": "password", "value": password}]},
            headers={"rid": "emailpassword"},
        )

    def sign_in(self, email: str, password: str) -> Response:
        return self.request(
            "POST",
            "/auth/signin",
            body={"formFields": [{"id": "email", "value": email}, {"id": "password", "value": password}]},
            headers={"rid": "emailpassword"},
        )

    def refresh(self) -> Response:
        if self.mode == "header":
            return self.request(
                "POST",
                "/auth/session/refresh",
                headers={"rid": "session"},
                auth_token=self.refresh_token or "",
            )
        return self.request("POST", "/auth/session/refresh", headers={"rid": "session"})

    def sign_out(self) -> Response:
        return self.request("POST", "/auth/signout", body={}, headers={"rid": "session"})


def expect_status(res: Response, code: int, what: str) -> None:
    if res.status != code:
        raise FlowError(f"{what}: expected HTTP {code}, got {res.status}: {abbreviate(res.text, 400)}")


def expect_ok(res: Response, what: str) -> Dict[str, Any]:
    expect_status(res, 200, what)
    if res.field("status") != "OK":
        raise FlowError(f"{what}: expected status OK, got {abbreviate(res.text, 400)}")
    return res.json


def new_email(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:8]}@example.com"


def signed_up(b: Browser, tag: str) -> Dict[str, str]:
    email = new_email(tag)
    body = expect_ok(b.sign_up(email, PASSWORD), "sign up")
    check(b.has_session(), "sign up should start a session (front-token header)")
    return {"email": email, "userId": body["user"]["id"]}


def assert_session_transport(b: Browser, mode: str) -> None:
    if mode == "header":
        check(b.access_token, "header mode: st-access-token response header expected")
        check(b.refresh_token, "header mode: st-refresh-token response header expected")
        eq(list(b.cookies), [], "header mode: no cookies expected")
    else:
        check("sAccessToken" in b.cookies, "cookie mode: sAccessToken cookie expected")
        check("sRefreshToken" in b.cookies, "cookie mode: sRefreshToken cookie expected")
        eq(b.cookies["sRefreshToken"]["path"], "/auth/session/refresh", "sRefreshToken cookie path")
        check(b.anti_csrf, "cookie mode with antiCsrf VIA_TOKEN: anti-csrf response header expected")
        eq(b.access_token, None, "cookie mode: no st-access-token header expected")


def link_for(b: Browser, email: str, kind: str) -> Response:
    return b.request("GET", f"/test/last-link?kind={kind}&email={quote(email)}", auth=False)



# ---------------------------------------------------------------------------------------------
# third party, passwordless, multitenancy helpers
# ---------------------------------------------------------------------------------------------


def rand8() -> str:
    return uuid.uuid4().hex[:8]


def mock_user(tag: str, email_verified: bool = True) -> Dict[str, Any]:
    """A user at the mock provider (what they would type on its login page)."""
    i = rand8()
    return {"sub": f"{tag}-{i}", "email": f"{tag}-{i}@idp.example.com", "email_verified": email_verified}


def new_phone() -> str:
    """A German mobile number (+49 151 and 8 digits, valid for libphonenumber in both SDKs)."""
    return "+49151" + f"{random.randrange(10**8):08d}"


def tenant_provider(client_id: str, name: str) -> Dict[str, Any]:
    """A provider config for the core (create_or_update_third_party_config): the mock, with the
    tenant's own client; a client id ending in "-pkce" is a public client (no secret, PKCE)."""
    client: Dict[str, Any] = {"clientId": client_id, "scope": ["openid", "email"]}
    if not client_id.endswith("-pkce"):
        client["clientSecret"] = f"secret-{client_id}"
    return {
        "thirdPartyId": "mock",
        "name": name,
        "clients": [client],
        "authorizationEndpoint": f"{MOCK_OAUTH}/authorize",
        "authorizationEndpointQueryParams": {"prompt": "login"},
        "tokenEndpoint": f"{MOCK_OAUTH}/token",
        "userInfoEndpoint": f"{MOCK_OAUTH}/userinfo",
        "jwksURI": f"{MOCK_OAUTH}/jwks",
        "userInfoMap": {
            "fromUserInfoAPI": {"userId": "sub", "email": "email", "emailVerified": "email_verified"},
            "fromIdTokenPayload": {"userId": "sub", "email": "email", "emailVerified": "email_verified"},
        },
    }


def mock_seq() -> int:
    return int(HTTP.get(f"{MOCK_OAUTH}/mock/log", params={"since": 2**53}, timeout=10).json()["seq"])


def mock_requests_since(seq: int) -> List[Dict[str, Any]]:
    return HTTP.get(f"{MOCK_OAUTH}/mock/log", params={"since": seq}, timeout=10).json()["requests"]


def social_sign_in(
    b: Browser, user: Dict[str, Any], client_id: str, tenant_id: Optional[str] = None, third_party_id: str = "mock"
) -> Dict[str, Any]:
    """The frontend's social login: the authorisation URL from the SDK, the provider's login page
    (the mock logs in `user` and redirects back with a code), then the SDK's sign-in-up."""
    prefix = f"/auth/{tenant_id}" if tenant_id else "/auth"
    au = b.request(
        "GET",
        f"{prefix}/authorisationurl?thirdPartyId={third_party_id}&redirectURIOnProviderDashboard={quote(OAUTH_REDIRECT, safe='')}",
        headers={"rid": "thirdparty"},
    )
    a = expect_ok(au, f"GET {prefix}/authorisationurl")
    url = urlparse(a["urlWithQueryParams"])
    query = dict(parse_qsl(url.query))
    eq(f"{url.scheme}://{url.netloc}{url.path}", f"{MOCK_OAUTH}/authorize", "the authorisation URL is the provider's authorizationEndpoint")
    eq(query.get("client_id"), client_id, "client_id in the authorisation URL")
    eq(query.get("redirect_uri"), OAUTH_REDIRECT, "redirect_uri in the authorisation URL")
    state = rand8()
    query["state"] = state
    query["mock_user"] = base64.urlsafe_b64encode(json.dumps(user).encode()).decode().rstrip("=")
    login = urlunparse(url._replace(query=urlencode(query)))
    r = HTTP.get(login, allow_redirects=False, timeout=30)
    b.trace.append(f"[provider] GET {abbreviate(login, 300)}\n    -> {r.status_code} {abbreviate(r.text, 200)} location: {r.headers.get('location')}\n")
    eq(r.status_code, 302, f"the provider's authorize page ({r.text})")
    back = urlparse(r.headers["location"])
    back_q = dict(parse_qsl(back.query))
    eq(back_q.get("state"), state, "state comes back")
    redirect_uri_info: Dict[str, Any] = {"redirectURIOnProviderDashboard": OAUTH_REDIRECT, "redirectURIQueryParams": back_q}
    if a.get("pkceCodeVerifier"):
        redirect_uri_info["pkceCodeVerifier"] = a["pkceCodeVerifier"]
    res = b.request(
        "POST",
        f"{prefix}/signinup",
        body={"thirdPartyId": third_party_id, "redirectURIInfo": redirect_uri_info},
        headers={"rid": "thirdparty"},
    )
    return {"query": query, "pkce": bool(a.get("pkceCodeVerifier")), "res": res}


def created_new(body: Dict[str, Any]) -> Any:
    """`createdNewRecipeUser` (account linking) or `createdNewUser` (before)."""
    return body["createdNewRecipeUser"] if "createdNewRecipeUser" in body else body.get("createdNewUser")


def user_view(u: Dict[str, Any]) -> Dict[str, Any]:
    """The first login method of a sign-in answer's user, in one shape for every release."""
    if isinstance(u.get("loginMethods"), list):
        lm = u["loginMethods"][0]
        return {
            "id": u["id"],
            "recipeId": lm.get("recipeId"),
            "email": lm.get("email"),
            "phoneNumber": lm.get("phoneNumber"),
            "thirdParty": lm.get("thirdParty"),
            "verified": lm.get("verified"),
            "tenantIds": sorted(lm.get("tenantIds") or []),
        }
    # supertokens-python 0.24 (before account linking) leaves tenantIds out of the answer to the
    # frontend (its User.to_json; the core sent them): None, and expect_tenant_ids skips the check.
    return {
        "id": u["id"],
        "email": u.get("email"),
        "phoneNumber": u.get("phoneNumber"),
        "thirdParty": u.get("thirdParty"),
        "tenantIds": sorted(u["tenantIds"]) if "tenantIds" in u else None,
    }


def expect_tenant_ids(v: Dict[str, Any], want: List[str], what: str) -> None:
    if v["tenantIds"] is None and not SDK_INFO["accountLinking"]:
        return
    eq(v["tenantIds"], sorted(want), what)


def admin(b: Browser, path: str, body: Dict[str, Any]) -> Dict[str, Any]:
    r = b.request("POST", path, body=body, auth=False)
    expect_status(r, 200, f"POST {path}")
    return r.json


def create_tenant(b: Browser, tenant_id: str, core_config: Optional[Dict[str, Any]] = None, providers: Optional[List[Dict[str, Any]]] = None) -> Dict[str, Any]:
    t = admin(b, "/test/tenant", {"tenantId": tenant_id, "coreConfig": core_config, "providers": providers})
    eq(t.get("status"), "OK", f"create tenant {tenant_id}: {t}")
    return t


def core_user(b: Browser, user_id: str) -> Optional[Dict[str, Any]]:
    """The core's user object through the SDK's get_user (releases with account linking), or None."""
    if not SDK_INFO["accountLinking"]:
        return None
    return expect_ok(b.request("GET", f"/test/user?userId={quote(user_id)}", auth=False), "GET /test/user")["user"]


def pwl_prefix(tenant_id: Optional[str]) -> str:
    return f"/auth/{tenant_id}" if tenant_id else "/auth"


def create_code(b: Browser, contact: str, tenant_id: Optional[str] = None) -> Dict[str, Any]:
    body = {"phoneNumber": contact} if contact.startswith("+") else {"email": contact}
    j = expect_ok(
        b.request("POST", f"{pwl_prefix(tenant_id)}/signinup/code", body=body, headers={"rid": "passwordless"}),
        f"POST {pwl_prefix(tenant_id)}/signinup/code",
    )
    eq(j.get("flowType"), "USER_INPUT_CODE_AND_MAGIC_LINK", "flowType")
    check(j.get("deviceId") and j.get("preAuthSessionId"), "deviceId and preAuthSessionId")
    return j


def last_code(b: Browser, contact: str) -> Dict[str, Any]:
    return expect_ok(b.request("GET", f"/test/last-code?contact={quote(contact)}", auth=False), f"the code sent to {contact}")


def consume_otp(b: Browser, dev: Dict[str, Any], code: str, tenant_id: Optional[str] = None) -> Response:
    return b.request(
        "POST",
        f"{pwl_prefix(tenant_id)}/signinup/code/consume",
        body={"preAuthSessionId": dev["preAuthSessionId"], "deviceId": dev["deviceId"], "userInputCode": code},
        headers={"rid": "passwordless"},
    )


def consume_link(b: Browser, pre_auth_session_id: str, link_code: str, tenant_id: Optional[str] = None) -> Response:
    return b.request(
        "POST",
        f"{pwl_prefix(tenant_id)}/signinup/code/consume",
        body={"preAuthSessionId": pre_auth_session_id, "linkCode": link_code},
        headers={"rid": "passwordless"},
    )


def wrong_code(code: str) -> str:
    """A code that is not `code` (same length, every digit changed)."""
    return "".join(str((int(c) + 1) % 10) if c.isdigit() else ("b" if c == "a" else "a") for c in code)


def expect_status_field(res: Response, status: str, what: str) -> Dict[str, Any]:
    expect_status(res, 200, what)
    if res.field("status") != status:
        raise FlowError(f"{what}: expected status {status}, got {abbreviate(res.text, 400)}")
    return res.json


def passwordless_sign_in(b: Browser, contact: str, tenant_id: Optional[str] = None) -> Dict[str, Any]:
    """A passwordless sign-in by OTP from scratch: code, captured code, consume."""
    dev = create_code(b, contact, tenant_id)
    sent = last_code(b, contact)
    eq(sent["preAuthSessionId"], dev["preAuthSessionId"], "the captured code's preAuthSessionId")
    body = expect_ok(consume_otp(b, dev, sent["userInputCode"], tenant_id), "consume the code")
    return {"dev": dev, "sent": sent, "body": body}


# ---------------------------------------------------------------------------------------------
# account linking and MFA (the linking app, APP_URL_LINKING)
# ---------------------------------------------------------------------------------------------

LINKING_INFO: Dict[str, Any] = {}


def linking_app(need_mfa: bool) -> None:
    """The linking app must run (run.sh starts it for the releases of these flows) and the release
    must have the recipes; else the flow is a SKIP with the reason."""
    if not SDK_INFO["accountLinking"]:
        skip(f"no account linking in {SDK_INFO['sdk']} {SDK_INFO['version']} (CDI {CDI_SENT})")
    if not APP_URL_LINKING:
        skip("no linking app (APP_URL_LINKING is empty; run.sh starts it for the releases of these flows)")
    if not LINKING_INFO:
        LINKING_INFO.update(sdk_info_of(APP_URL_LINKING))
    eq(LINKING_INFO.get("linkingApp"), True, "the app at APP_URL_LINKING runs with ST_APP_LINKING=1")
    if not LINKING_INFO.get("accountLinkingRecipe"):
        skip(f"no AccountLinking recipe in {LINKING_INFO['sdk']} {LINKING_INFO['version']}")
    if need_mfa and not LINKING_INFO.get("mfa"):
        skip(f"no MultiFactorAuth / TOTP recipe in {LINKING_INFO['sdk']} {LINKING_INFO['version']}")
    WATCHED_APPS.append({"base": APP_URL_LINKING, "seq": core_seq(APP_URL_LINKING)})


def account_linking(b: Browser, op: str, recipe_user_id: str, primary_user_id: Optional[str] = None) -> Dict[str, Any]:
    """The SDK's account-linking functions through the linking app (POST /test/accountlinking)."""
    body: Dict[str, Any] = {"op": op, "recipeUserId": recipe_user_id}
    if primary_user_id is not None:
        body["primaryUserId"] = primary_user_id
    return admin(b, "/test/accountlinking", body)


def lm(recipe_id: str, recipe_user_id: str, email: Optional[str], verified: bool, third_party: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
    return {"recipeId": recipe_id, "recipeUserId": recipe_user_id, "email": email, "thirdParty": third_party, "verified": verified}


def login_methods(user: Dict[str, Any]) -> List[Dict[str, Any]]:
    """A user's login methods, comparable: sorted by recipe user id, the fields the flows check."""
    return sorted(
        (lm(m["recipeId"], m["recipeUserId"], m.get("email"), m.get("verified"), m.get("thirdParty")) for m in user["loginMethods"]),
        key=lambda m: m["recipeUserId"],
    )


def expect_user(user: Optional[Dict[str, Any]], user_id: str, is_primary: bool, methods: List[Dict[str, Any]], what: str) -> None:
    """The user object (to_json) has `id`, `isPrimaryUser` and exactly these login methods."""
    check(user, f"{what}: a user object")
    assert user is not None
    eq(user.get("id"), user_id, f"{what}: user id")
    eq(user.get("isPrimaryUser"), is_primary, f"{what}: isPrimaryUser")
    eq(login_methods(user), sorted(methods, key=lambda m: m["recipeUserId"]), f"{what}: login methods")
    # the user's account info is the union of its login methods'
    eq(sorted(user.get("emails") or []), sorted({m["email"] for m in methods if m["email"]}), f"{what}: emails")
    eq(len(user.get("thirdParty") or []), len([m for m in methods if m["thirdParty"]]), f"{what}: thirdParty")
    # a linked user joined when its first login method did
    eq(user.get("timeJoined"), min(m["timeJoined"] for m in user["loginMethods"]), f"{what}: timeJoined is the earliest login method's")


def expect_session_of(br: Browser, user_id: str, recipe_user_id: str, what: str) -> Dict[str, Any]:
    """The browser's session: sub (the user) and rsub (the login method) in the access token, and
    what the SDK reports for it with check_database."""
    p = decode_jwt_payload(br.current_access_token() or "")
    eq(p.get("sub"), user_id, f"{what}: sub")
    eq(p.get("rsub"), recipe_user_id, f"{what}: rsub")
    r = br.request("GET", "/protected-db")
    expect_status(r, 200, f"{what}: GET /protected-db")
    eq(r.json["userId"], user_id, f"{what}: /protected-db userId")
    eq(r.json["recipeUserId"], recipe_user_id, f"{what}: /protected-db recipeUserId")
    return p


def totp_at(secret: str, at: float, period: int = 30, digits: int = 6) -> str:
    """RFC 6238 TOTP (HMAC-SHA1) of a base32 secret at time `at` (seconds), computed here."""
    key = base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))
    return hotp(key, int(at // period), digits)


def hotp(key: bytes, counter: int, digits: int) -> str:
    h = hmac.new(key, counter.to_bytes(8, "big"), hashlib.sha1).digest()
    off = h[-1] & 0x0F
    code = int.from_bytes(h[off : off + 4], "big") & 0x7FFFFFFF
    return str(code % 10**digits).zfill(digits)


def check_totp_implementation() -> None:
    """The RFC 6238 appendix B vectors (SHA1, the ASCII secret "12345678901234567890"): the runner
    checks its own TOTP before any flow uses it."""
    key = b"12345678901234567890"
    for t, code in [(59, "94287082"), (1111111109, "07081804"), (1234567890, "89005924"), (20000000000, "65353130")]:
        eq(hotp(key, t // 30, 8), code, f"RFC 6238 vector at T={t}")
    eq(totp_at("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", 59), "287082", "TOTP of a base32 secret")


def fresh_totp(secret: str, used: set) -> str:
    """A valid code for the device that was not used yet: the current period's, or the next one's
    (the SDK's devices have skew 1, so both are accepted for the next 30 s)."""
    for at in (time.time(), time.time() + 30):
        c = totp_at(secret, at)
        if c not in used:
            used.add(c)
            return c
    raise FlowError("no unused TOTP code in this period and the next")


def mfa_claim(br: Browser) -> Dict[str, Any]:
    """The session's `st-mfa` claim: {c: {factor: time completed}, v: requirements satisfied}."""
    return decode_jwt_payload(br.current_access_token() or "")["st-mfa"]


def expect_mfa_required(br: Browser, what: str) -> None:
    """GET /protected refused by the MFA claim validator (403 invalid claim, st-mfa)."""
    r = br.request("GET", "/protected")
    expect_status(r, 403, f"{what}: GET /protected before the second factor")
    errs = (r.json or {}).get("claimValidationErrors") or []
    eq([e.get("id") for e in errs], ["st-mfa"], f"{what}: the claim that failed ({r.text})")


def totp_api(br: Browser, prefix: str, path: str, body: Dict[str, Any]) -> Response:
    return br.request("POST", f"{prefix}/totp/{path}", body=body, headers={"rid": "totp"})


# ---------------------------------------------------------------------------------------------
# flows
# ---------------------------------------------------------------------------------------------


def flow_sign_up(b: Browser, mode: str) -> None:
    """Sign up, then the same e-mail again (FIELD_ERROR)."""
    seq0 = core_seq()
    email = new_email("signup")
    r = b.sign_up(email, PASSWORD)
    body = expect_ok(r, "sign up")
    # Each release speaks one CDI version (the newest of its list, all served by the core): every
    # request it sends to the core carries it.
    sent = [c.get("cdiVersion") for c in core_calls_since(seq0, r.request_id) if not c["path"].startswith("/apiversion")]
    check(sent, "sign up made core calls")
    eq(sorted(set(sent), key=str), [CDI_SENT], "cdi-version header of the SDK's core calls")
    if SDK_INFO["accountLinking"]:
        eq(body["user"]["emails"][0], email, "user email")
        eq(body["user"]["loginMethods"][0]["recipeId"], "emailpassword", "recipeId")
        eq(body["user"]["loginMethods"][0]["verified"], False, "verified")
    else:
        # before account linking (CDI < 4.0) the SDK returns the core's {id, email, timeJoined, tenantIds}
        eq(body["user"]["email"], email, "user email")
        check(isinstance(body["user"]["timeJoined"], int), f"user timeJoined: {body['user']}")
        eq(body["user"].get("loginMethods"), None, "no loginMethods before account linking")
    assert_session_transport(b, mode)
    p = decode_jwt_payload(b.current_access_token() or "")
    eq(p["sub"], body["user"]["id"], "sub")
    # `rsub` is in v5 access tokens (CDI >= 4.0); CDI 3.x gets v4 tokens without it
    if CDI >= 4.0:
        eq(p["rsub"], body["user"]["id"], "rsub")
    else:
        eq(p.get("rsub"), None, f"CDI {CDI} access token (v4) has no rsub")
    eq(p["tId"], "public", "tId")
    eq(p["parentRefreshTokenHash1"], None, "parentRefreshTokenHash1")
    check(isinstance(p["sessionHandle"], str), "sessionHandle is a string")
    eq(p["antiCsrfToken"], b.anti_csrf if mode == "cookie" else None, "antiCsrfToken claim")

    again = b.sign_up(email.upper(), "another-password-2")
    expect_status(again, 200, "second sign up")
    eq(again.field("status"), "FIELD_ERROR", f"second sign up ({again.text})")
    f = [x for x in again.json["formFields"] if x["id"] == "email"]
    check(f and "This email already exists" in f[0]["error"], f"second sign up: {again.text}")


def flow_sign_in(b: Browser, mode: str) -> None:
    """Wrong password, right password, then authenticated calls (offline JWKS verification)."""
    u = signed_up(b, "signin")
    fresh = Browser(mode, b.trace)
    wrong = fresh.sign_in(u["email"], "wrong-password-9")
    expect_status(wrong, 200, "sign in with wrong password")
    eq(wrong.field("status"), "WRONG_CREDENTIALS_ERROR", "sign in with wrong password")
    check(not fresh.has_session(), "no session after a failed sign in")
    unknown = fresh.sign_in(new_email("nobody"), PASSWORD)
    eq(unknown.field("status"), "WRONG_CREDENTIALS_ERROR", "sign in with unknown email")

    body = expect_ok(fresh.sign_in(u["email"], PASSWORD), "sign in")
    eq(body["user"]["id"], u["userId"], "signed-in user id")
    assert_session_transport(fresh, mode)

    # the token the SDK verifies offline below is signed with the core's configured algorithm
    eq(decode_jwt_header(fresh.current_access_token() or "").get("alg"), EXPECT_ALG, "the access token's JWT header alg")
    seq_before = core_seq()
    p = fresh.request("GET", "/protected")
    expect_status(p, 200, "GET /protected")
    eq(
        [f"{c['method']} {c['path']}" for c in core_calls_since(seq_before, p.request_id)],
        [],
        "GET /protected must be verified offline with the JWKS (no core call)",
    )
    eq(p.json["userId"], u["userId"], "userId")
    eq(p.json["recipeUserId"], u["userId"] if SDK_INFO["accountLinking"] else None, "recipeUserId")
    eq(p.json["tenantId"], "public", "tenantId")
    eq(p.json["sessionHandle"], decode_jwt_payload(fresh.current_access_token() or "")["sessionHandle"], "sessionHandle")
    eq(p.json["accessTokenPayload"]["sub"], u["userId"], "payload sub")
    port = urlparse(APP_URL).port
    eq(p.json["accessTokenPayload"]["iss"], f"http://localhost:{port}/auth", "payload iss")

    db = fresh.request("GET", "/protected-db")
    expect_status(db, 200, "GET /protected-db")
    eq(db.json["userId"], u["userId"], "userId (checkDatabase)")
    # (the positive control of the per-request core calls: check_database asks the core)
    eq(
        [f"{c['method']} {c['path']}" for c in core_calls_since(seq_before, db.request_id)],
        ["POST /recipe/session/verify"],
        "GET /protected-db goes through /recipe/session/verify",
    )

    anon = Browser(mode, b.trace)
    expect_status(anon.request("GET", "/protected"), 401, "GET /protected without a session")

    t = fresh.current_access_token() or ""
    h, _, sig = t.split(".")
    forged = decode_jwt_payload(t)
    forged["sub"] = "someone-else"
    bad = f"{h}.{base64.urlsafe_b64encode(json.dumps(forged).encode()).decode().rstrip('=')}.{sig}"
    tampered = Browser(mode, b.trace)
    if mode == "header":
        tampered.access_token = bad
    else:
        tampered.cookies["sAccessToken"] = {"value": bad, "path": "/", "expires": None}
    tampered.anti_csrf = fresh.anti_csrf
    expect_status(tampered.request("GET", "/protected"), 401, "GET /protected with a tampered access token")


def flow_refresh_and_token_theft(b: Browser, mode: str) -> None:
    """Refresh, use the new tokens, replay the old refresh token: token theft => session revoked."""
    u = signed_up(b, "refresh")
    before = b.snapshot()
    at0 = decode_jwt_payload(b.current_access_token() or "")
    rt0 = b.current_refresh_token()

    if mode == "cookie":
        b.anti_csrf = None
        expect_status(b.refresh(), 401, "refresh without anti-csrf header")
        b.restore(before)

    expect_status(b.refresh(), 200, "refresh")
    rt1 = b.current_refresh_token()
    check(rt1 and rt1 != rt0, "refresh must issue a new refresh token")
    at1 = decode_jwt_payload(b.current_access_token() or "")
    eq(at1["sessionHandle"], at0["sessionHandle"], "same session handle after refresh")
    eq(at1["sub"], u["userId"], "sub after refresh")
    check(at1["parentRefreshTokenHash1"], "access token after refresh carries parentRefreshTokenHash1")
    check(at1["refreshTokenHash1"] != at0["refreshTokenHash1"], "new refreshTokenHash1")

    seq_before = core_seq()
    p1 = b.request("GET", "/protected")
    expect_status(p1, 200, "GET /protected with the refreshed access token")
    eq(
        [f"{c['method']} {c['path']}" for c in core_calls_since(seq_before, p1.request_id)],
        ["POST /recipe/session/verify"],
        "first use of a refreshed access token goes through /recipe/session/verify",
    )
    eq(p1.json["userId"], u["userId"], "userId")
    at1b = decode_jwt_payload(b.current_access_token() or "")
    eq(at1b["parentRefreshTokenHash1"], None, "after promotion the SDK sets an access token without parent hash")
    eq(at1b["refreshTokenHash1"], at1["refreshTokenHash1"], "refreshTokenHash1 kept by promotion")

    expect_status(b.refresh(), 200, "second refresh")
    p2 = b.request("GET", "/protected")
    expect_status(p2, 200, "GET /protected after second refresh")
    eq(p2.json["sessionHandle"], at0["sessionHandle"], "session handle")
    current = b.snapshot()

    b.restore(before)
    theft = b.refresh()
    expect_status(theft, 401, "replaying the old refresh token")
    check(re.search("token theft detected", theft.text), f"SDK reports token theft: {theft.text}")
    check(not b.has_session(), "SDK clears the tokens after token theft")

    b.restore(current)
    expect_status(b.refresh(), 401, "refresh after token theft (session revoked)")
    b.restore(current)
    expect_status(b.request("GET", "/protected-db"), 401, "GET /protected-db after token theft")


def flow_refresh_retry_before_promotion(b: Browser, mode: str) -> None:
    """The same refresh token twice before the child is promoted (parallel tabs / retries)."""
    signed_up(b, "retry")
    before = b.snapshot()
    expect_status(b.refresh(), 200, "refresh #1")
    b.restore(before)
    expect_status(b.refresh(), 200, "refresh #2 with the same (not yet rotated) refresh token")
    expect_status(b.request("GET", "/protected"), 200, "GET /protected after the retried refresh")
    expect_status(b.request("GET", "/protected-db"), 200, "GET /protected-db after the retried refresh")


def flow_regenerate_claims(b: Browser, mode: str) -> None:
    """mergeIntoAccessTokenPayload => /recipe/session/regenerate; claims show up later."""
    u = signed_up(b, "regen")
    old_at = b.current_access_token() or ""
    old_p = decode_jwt_payload(old_at)
    r = b.request("POST", "/regen", body={"plan": "gold", "counter": 7, "nested": {"a": [1, 2]}})
    expect_status(r, 200, "POST /regen")
    eq(r.json["accessTokenPayload"].get("plan"), "gold", "plan in session payload")
    new_at = b.current_access_token() or ""
    check(new_at != old_at, "the SDK must send a new access token after regenerate")
    np = decode_jwt_payload(new_at)
    eq(np.get("plan"), "gold", "plan")
    eq(np.get("counter"), 7, "counter")
    eq(np.get("nested"), {"a": [1, 2]}, "nested")
    eq(np["exp"], old_p["exp"], "regenerate keeps the expiry")
    eq(np["sessionHandle"], old_p["sessionHandle"], "session handle")
    check(np.get("st-ev"), "existing claims are kept")

    p = b.request("GET", "/protected")
    expect_status(p, 200, "GET /protected after regen")
    eq(p.json["userId"], u["userId"], "userId")
    eq(p.json["accessTokenPayload"].get("plan"), "gold", "plan via /protected")
    eq(p.json["accessTokenPayload"].get("counter"), 7, "counter via /protected")

    expect_status(b.request("POST", "/regen", body={"plan": None, "counter": 8}), 200, "POST /regen #2")
    p2 = b.request("GET", "/protected-db")
    expect_status(p2, 200, "GET /protected-db after regen #2")
    eq(p2.json["accessTokenPayload"].get("plan"), None, "plan removed")
    eq(p2.json["accessTokenPayload"].get("counter"), 8, "counter updated")

    expect_status(b.refresh(), 200, "refresh after regen")
    rp = decode_jwt_payload(b.current_access_token() or "")
    eq(rp.get("counter"), 8, "counter after refresh")
    check("plan" not in rp, "plan still removed after refresh")


def flow_email_verification(b: Browser, mode: str) -> None:
    """Email verification token by 'email', consume it, claim st-ev becomes true."""
    u = signed_up(b, "verify")
    email = u["email"]
    eq(decode_jwt_payload(b.current_access_token() or "")["st-ev"]["v"], False, "st-ev at sign up")
    ev = {"rid": "emailverification"}
    st = expect_ok(b.request("GET", "/auth/user/email/verify", headers=ev), "GET /auth/user/email/verify")
    eq(st["isVerified"], False, "isVerified before")

    expect_ok(b.request("POST", "/auth/user/email/verify/token", body={}, headers=ev), "POST /auth/user/email/verify/token")
    link = link_for(b, email, "verify")
    expect_ok(link, "captured verification link")
    token = link.json["token"]
    check(token, "verification link has a token")
    check(re.search(r"/auth/verify-email\?token=", link.json["link"]), f"link shape: {link.json['link']}")

    bad = b.request("POST", "/auth/user/email/verify", body={"method": "token", "token": "not-a-real-token"}, headers=ev)
    expect_status(bad, 200, "verify with a bad token")
    eq(bad.field("status"), "EMAIL_VERIFICATION_INVALID_TOKEN_ERROR", "verify with a bad token")

    v = b.request("POST", "/auth/user/email/verify", body={"method": "token", "token": token}, headers=ev)
    expect_ok(v, "POST /auth/user/email/verify")

    again = b.request("POST", "/auth/user/email/verify", body={"method": "token", "token": token}, headers=ev)
    eq(again.field("status"), "EMAIL_VERIFICATION_INVALID_TOKEN_ERROR", "token reuse")

    st2 = expect_ok(b.request("GET", "/auth/user/email/verify", headers=ev), "GET /auth/user/email/verify (after)")
    eq(st2["isVerified"], True, "isVerified after")
    eq(decode_jwt_payload(b.current_access_token() or "")["st-ev"]["v"], True, "st-ev claim updated in the access token")

    p = b.request("GET", "/protected")
    expect_status(p, 200, "GET /protected after verification")
    eq(p.json["accessTokenPayload"]["st-ev"]["v"], True, "st-ev via /protected")

    resend = b.request("POST", "/auth/user/email/verify/token", body={}, headers=ev)
    expect_status(resend, 200, "resend after verified")
    eq(resend.field("status"), "EMAIL_ALREADY_VERIFIED_ERROR", "resend after verified")

    other = Browser(b.mode, b.trace)
    expect_ok(other.sign_in(email, PASSWORD), "sign in after verification")
    eq(decode_jwt_payload(other.current_access_token() or "")["st-ev"]["v"], True, "st-ev in a new session")


def flow_password_reset(b: Browser, mode: str) -> None:
    """Password reset by e-mail link, then sign in with the new password only."""
    u = signed_up(b, "reset")
    email = u["email"]
    anon = Browser(b.mode, b.trace)
    ep = {"rid": "emailpassword"}
    expect_ok(
        anon.request("POST", "/auth/user/password/reset/token", body={"formFields": [{"id": "email", "value": email}]}, headers=ep),
        "POST /auth/user/password/reset/token",
    )
    ghost = new_email("ghost")
    expect_ok(
        anon.request("POST", "/auth/user/password/reset/token", body={"formFields": [{"id": "email", "value": ghost}]}, headers=ep),
        "reset token for unknown email",
    )
    expect_status(link_for(anon, ghost, "reset"), 404, "no reset link for an unknown email")

    link = link_for(anon, email, "reset")
    expect_ok(link, "captured reset link")
    check(re.search(r"/auth/reset-password\?token=", link.json["link"]), f"link shape: {link.json['link']}")
    token = link.json["token"]

    newpw = "new-password-42"
    bad = anon.request(
        "POST", "/auth/user/password/reset",
        body={"method": "token", "token": "bogus", "formFields": [{"id": "password", "value": newpw}]}, headers=ep,
    )
    eq(bad.field("status"), "RESET_PASSWORD_INVALID_TOKEN_ERROR", "reset with a bogus token")
    expect_ok(
        anon.request(
            "POST", "/auth/user/password/reset",
            body={"method": "token", "token": token, "formFields": [{"id": "password", "value": newpw}]}, headers=ep,
        ),
        "POST /auth/user/password/reset",
    )
    reuse = anon.request(
        "POST", "/auth/user/password/reset",
        body={"method": "token", "token": token, "formFields": [{"id": "password", "value": "third-password-3"}]}, headers=ep,
    )
    eq(reuse.field("status"), "RESET_PASSWORD_INVALID_TOKEN_ERROR", "token reuse")

    eq(anon.sign_in(email, PASSWORD).field("status"), "WRONG_CREDENTIALS_ERROR", "sign in with the old password")
    body = expect_ok(anon.sign_in(email, newpw), "sign in with the new password")
    eq(body["user"]["id"], u["userId"], "user id")
    expect_status(anon.request("GET", "/protected"), 200, "GET /protected after password reset")


def flow_expired_access_token(b: Browser, mode: str) -> None:
    """Access token expiry (core app with access_token_validity = 2 s): 401 "try refresh token", refresh, go on."""
    check(APP_URL_SHORT, "APP_URL_SHORT (app on a core app with a 2 s access-token validity) is not set")
    s = Browser(mode, b.trace, APP_URL_SHORT)
    u = signed_up(s, "expiry")
    p0 = decode_jwt_payload(s.current_access_token() or "")
    check(p0["exp"] - p0["iat"] <= 2, f"access_token_validity of app sdkshort is 2 s, token has exp - iat = {p0['exp'] - p0['iat']}")
    before = s.snapshot()
    time.sleep(max(0.0, p0["exp"] - time.time()) + 1.1)
    e = s.request("GET", "/protected")
    expect_status(e, 401, "GET /protected with an expired access token")
    check("try refresh token" in e.text, f"expected 'try refresh token', got {e.text}")
    s.restore(before)
    expect_status(s.request("GET", "/protected-db"), 401, "GET /protected-db with an expired access token")
    s.restore(before)
    expect_status(s.refresh(), 200, "refresh after expiry")
    p1 = decode_jwt_payload(s.current_access_token() or "")
    check(p1["exp"] > p0["exp"], "the refreshed access token expires later")
    eq(p1["sessionHandle"], p0["sessionHandle"], "session handle after refresh")
    ok = s.request("GET", "/protected")
    expect_status(ok, 200, "GET /protected after refreshing the expired session")
    eq(ok.json["userId"], u["userId"], "userId")
    eq(ok.json["sessionHandle"], p0["sessionHandle"], "sessionHandle")
    expect_status(s.request("GET", "/protected-db"), 200, "GET /protected-db after refreshing the expired session")


def flow_roles_claims(b: Browser, mode: str) -> None:
    """Roles and permissions as claims (st-role / st-perm)."""
    u = signed_up(b, "roles")
    p0 = decode_jwt_payload(b.current_access_token() or "")
    eq(p0["st-role"]["v"], [], "no roles at sign up")
    eq(p0["st-perm"]["v"], [], "no permissions at sign up")
    r = b.request("POST", "/role", body={})
    expect_status(r, 200, "POST /role")
    eq(r.json["roles"], ["admin"], "roles")
    eq(r.json["permissions"], ["write"], "permissions")
    eq(r.json["didUserAlreadyHaveRole"], False, "didUserAlreadyHaveRole")
    np = decode_jwt_payload(b.current_access_token() or "")
    eq(np["st-role"]["v"], ["admin"], "st-role claim")
    eq(np["st-perm"]["v"], ["write"], "st-perm claim")
    p = b.request("GET", "/protected")
    expect_status(p, 200, "GET /protected after /role")
    eq(p.json["userId"], u["userId"], "userId")
    eq(p.json["accessTokenPayload"]["st-role"]["v"], ["admin"], "st-role via /protected")
    eq(p.json["accessTokenPayload"]["st-perm"]["v"], ["write"], "st-perm via /protected")
    r2 = b.request("POST", "/role", body={})
    expect_status(r2, 200, "POST /role again")
    eq(r2.json["didUserAlreadyHaveRole"], True, "didUserAlreadyHaveRole (second time)")
    expect_status(b.refresh(), 200, "refresh after /role")
    eq(decode_jwt_payload(b.current_access_token() or "")["st-role"]["v"], ["admin"], "st-role after refresh")
    other = Browser(b.mode, b.trace)
    expect_ok(other.sign_in(u["email"], PASSWORD), "sign in after /role")
    op = decode_jwt_payload(other.current_access_token() or "")
    eq(op["st-role"]["v"], ["admin"], "st-role in a new session")
    eq(op["st-perm"]["v"], ["write"], "st-perm in a new session")


def flow_metadata(b: Browser, mode: str) -> None:
    """User metadata: shallow merge, null deletes."""
    signed_up(b, "meta")
    r1 = b.request("POST", "/metadata", body={"theme": "dark", "prefs": {"a": 1, "b": 2}, "n": 1})
    expect_status(r1, 200, "POST /metadata #1")
    eq(r1.json["read"], {"theme": "dark", "prefs": {"a": 1, "b": 2}, "n": 1}, "metadata after #1")
    r2 = b.request("POST", "/metadata", body={"prefs": {"c": 3}, "theme": None})
    expect_status(r2, 200, "POST /metadata #2")
    eq(r2.json["updated"], {"prefs": {"c": 3}, "n": 1}, "shallow merge, null deletes")
    eq(r2.json["read"], {"prefs": {"c": 3}, "n": 1}, "metadata read back")


def flow_sign_out(b: Browser, mode: str) -> None:
    """Sign out revokes the session: the old access token verifies offline but not with checkDatabase."""
    signed_up(b, "signout")
    expect_status(b.request("GET", "/protected-db"), 200, "GET /protected-db before sign out")
    s = b.snapshot()
    expect_ok(b.sign_out(), "POST /auth/signout")
    check(not b.has_session(), "front-token removed after sign out")
    if mode == "cookie":
        check(b.live_cookie("sAccessToken", "/") is None, "sAccessToken cleared")
    else:
        check(b.access_token is None, "st-access-token cleared")
    expect_status(b.request("GET", "/protected"), 401, "GET /protected with no tokens after sign out")
    b.restore(s)
    expect_status(b.request("GET", "/protected-db"), 401, "GET /protected-db with the OLD access token after sign out")
    b.restore(s)
    expect_status(
        b.request("GET", "/protected"), 200,
        "GET /protected (offline JWT check) with the old access token is still accepted until expiry",
    )
    b.restore(s)
    expect_status(b.refresh(), 401, "refresh with the old refresh token after sign out")


def flow_delete_user(b: Browser, mode: str) -> None:
    """deleteUser: the user can no longer sign in, their sessions are gone."""
    u = signed_up(b, "delete")
    s = b.snapshot()
    d = b.request("POST", "/delete-user", body={})
    expect_status(d, 200, "POST /delete-user")
    eq(d.field("status"), "OK", "delete-user status")
    eq(d.field("userId"), u["userId"], "deleted user id")
    fresh = Browser(b.mode, b.trace)
    eq(fresh.sign_in(u["email"], PASSWORD).field("status"), "WRONG_CREDENTIALS_ERROR", "sign in after delete")
    b.restore(s)
    expect_status(b.request("GET", "/protected-db"), 401, "GET /protected-db after the user was deleted")
    b.restore(s)
    expect_status(b.refresh(), 401, "refresh after the user was deleted")
    expect_ok(fresh.sign_up(u["email"], PASSWORD), "sign up again with the deleted user's email")


def flow_thirdparty_sign_in_up(b: Browser, mode: str) -> None:
    """Social sign-in through the SDK's ThirdParty recipe with the mock OIDC provider as the app's
    static provider: authorisation URL, provider login, code exchange and userinfo by the SDK, then
    the core's POST /recipe/signinup; again (same user), with a changed e-mail (updated), with an
    unverified e-mail; an e-mail-password sign-up with the same e-mail is another user."""
    seq_mock = mock_seq()
    seq0 = core_seq()
    u = mock_user("tp")
    first = social_sign_in(b, u, "sdk-client-static")["res"]
    body = expect_ok(first, "POST /auth/signinup (new user)")
    eq(created_new(body), True, "a new user")
    v = user_view(body["user"])
    eq(v["thirdParty"], {"id": "mock", "userId": u["sub"]}, "thirdParty")
    eq(v["email"], u["email"], "email")
    expect_tenant_ids(v, ["public"], "tenantIds")
    if SDK_INFO["accountLinking"]:
        eq(v["recipeId"], "thirdparty", "recipeId")
        eq(v["verified"], True, "the provider verified the e-mail")
    assert_session_transport(b, mode)
    at = decode_jwt_payload(b.current_access_token() or "")
    eq(at["sub"], body["user"]["id"], "sub")
    eq(at["tId"], "public", "tId")
    eq(at["st-ev"]["v"], True, "st-ev: the provider verified the e-mail")
    seen = [f"{r['method']} {r['path']} {r.get('status')}" for r in mock_requests_since(seq_mock)]
    for want in ("GET /authorize 302", "POST /token 200", "GET /userinfo 200"):
        check(want in seen, f"the provider saw {want}: {seen}")
    sign_in_ups = [c for c in core_calls_since(seq0, first.request_id) if re.search(r"/recipe/signinup$", c["path"])]
    eq(len(sign_in_ups), 1, "POST /recipe/signinup calls to the core")
    eq(json.loads(sign_in_ups[0]["body"])["thirdPartyUserId"], u["sub"], "thirdPartyUserId sent to the core")
    p = b.request("GET", "/protected-db")
    expect_status(p, 200, "GET /protected-db")
    eq(p.field("userId"), body["user"]["id"], "/protected-db userId")

    # The same provider user again: signed in, not created.
    again = expect_ok(social_sign_in(Browser(mode, b.trace), u, "sdk-client-static")["res"], "sign in again")
    eq(created_new(again), False, "an existing user")
    eq(again["user"]["id"], body["user"]["id"], "same user")

    # The provider now reports another (verified) e-mail: the core updates the user's.
    u2 = {**u, "email": f"changed-{u['email']}"}
    b3 = Browser(mode, b.trace)
    changed = expect_ok(social_sign_in(b3, u2, "sdk-client-static")["res"], "sign in with a changed e-mail")
    eq(created_new(changed), False, "createdNew")
    eq(changed["user"]["id"], body["user"]["id"], "same user")
    eq(user_view(changed["user"])["email"], u2["email"], "the e-mail is updated")
    eq(decode_jwt_payload(b3.current_access_token() or "")["st-ev"]["v"], True, "st-ev of the new, verified e-mail")

    # An unverified provider e-mail: a user whose e-mail is not verified.
    w = mock_user("tpu", False)
    b4 = Browser(mode, b.trace)
    unverified = expect_ok(social_sign_in(b4, w, "sdk-client-static")["res"], "sign up with an unverified e-mail")
    eq(created_new(unverified), True, "createdNew")
    check(unverified["user"]["id"] != body["user"]["id"], "another user")
    if SDK_INFO["accountLinking"]:
        eq(user_view(unverified["user"])["verified"], False, "verified")
    eq(decode_jwt_payload(b4.current_access_token() or "")["st-ev"]["v"], False, "st-ev false")

    # Without account linking an e-mail-password sign-up with the same e-mail is another user.
    ep = expect_ok(Browser(mode, b.trace).sign_up(u2["email"], PASSWORD), "e-mail-password sign-up with that e-mail")
    check(ep["user"]["id"] != body["user"]["id"], "another user")

    cu = core_user(b, body["user"]["id"])
    if cu is not None:
        eq(cu["thirdParty"], [{"id": "mock", "userId": u["sub"]}], "getUser thirdParty")
        eq(cu["emails"], [u2["email"]], "getUser emails")
        eq(len(cu["loginMethods"]), 1, "getUser login methods")
        eq(cu["loginMethods"][0]["recipeId"], "thirdparty", "getUser recipeId")
        eq(cu["loginMethods"][0]["verified"], True, "getUser verified")


def flow_thirdparty_tenants(b: Browser, mode: str) -> None:
    """Per-tenant providers stored in the core (create_or_update_third_party_config ->
    config/thirdparty): each tenant's own client (t2: a public client with PKCE), users per tenant,
    a user added to a second tenant (associate_user_to_tenant -> tenant/user) and removed from the
    first, a provider removed from a tenant."""
    t1 = f"tpa-{rand8()}"
    t2 = f"tpb-{rand8()}"
    c1 = create_tenant(b, t1, providers=[tenant_provider("sdk-client-t1", "Mock for t1")])
    eq(c1["createdNew"], True, "tenant t1 is new")
    eq(c1["providers"], [{"status": "OK", "createdNew": True}], "t1's provider is new")
    c1b = create_tenant(b, t1, providers=[tenant_provider("sdk-client-t1", "Mock for t1")])
    eq(c1b["createdNew"], False, "tenant t1 exists")
    eq(c1b["providers"], [{"status": "OK", "createdNew": False}], "the same provider again: updated")
    create_tenant(b, t2, providers=[tenant_provider("sdk-client-t2-pkce", "Mock for t2")])

    # U at t1, with t1's client.
    u = mock_user("tpt")
    b1 = Browser(mode, b.trace)
    s1 = social_sign_in(b1, u, "sdk-client-t1", t1)
    eq(s1["query"].get("prompt"), "login", "t1's authorizationEndpointQueryParams (kept by the core)")
    at1 = expect_ok(s1["res"], f"sign up at {t1}")
    eq(created_new(at1), True, "createdNew")
    expect_tenant_ids(user_view(at1["user"]), [t1], "tenantIds")
    eq(decode_jwt_payload(b1.current_access_token() or "")["tId"], t1, "tId")
    p1 = b1.request("GET", "/protected-db")
    expect_status(p1, 200, "GET /protected-db")
    eq(p1.field("tenantId"), t1, "/protected-db tenantId")
    eq(p1.field("userId"), at1["user"]["id"], "/protected-db userId")

    # The same provider user at t2, with t2's public client and PKCE: another user.
    s2 = social_sign_in(Browser(mode, b.trace), u, "sdk-client-t2-pkce", t2)
    check(s2["pkce"] and s2["query"].get("code_challenge"), "PKCE for t2's public client")
    at2 = expect_ok(s2["res"], f"sign up at {t2}")
    eq(created_new(at2), True, "a tenant's third-party users are its own")
    check(at2["user"]["id"] != at1["user"]["id"], "another user")
    expect_tenant_ids(user_view(at2["user"]), [t2], "tenantIds")

    # U cannot join t2: t2 has a user with that provider identity.
    dup = admin(b, "/test/tenant/associate", {"tenantId": t2, "recipeUserId": at1["user"]["id"]})
    eq(dup.get("status"), "THIRD_PARTY_USER_ALREADY_EXISTS_ERROR", f"associate U with {t2}")

    # V joins t2 (tenant/user), then signs in there as the same user.
    vu = mock_user("tpv")
    v1 = expect_ok(social_sign_in(Browser(mode, b.trace), vu, "sdk-client-t1", t1)["res"], f"V at {t1}")
    eq(admin(b, "/test/tenant/associate", {"tenantId": t2, "recipeUserId": v1["user"]["id"]}),
       {"status": "OK", "wasAlreadyAssociated": False}, "associate V")
    eq(admin(b, "/test/tenant/associate", {"tenantId": t2, "recipeUserId": v1["user"]["id"]}),
       {"status": "OK", "wasAlreadyAssociated": True}, "associate V again")
    bv2 = Browser(mode, b.trace)
    v2 = expect_ok(social_sign_in(bv2, vu, "sdk-client-t2-pkce", t2)["res"], f"V at {t2}")
    eq(created_new(v2), False, "V is already a user of t2")
    eq(v2["user"]["id"], v1["user"]["id"], "same user")
    expect_tenant_ids(user_view(v2["user"]), sorted([t1, t2]), "tenantIds")
    eq(decode_jwt_payload(bv2.current_access_token() or "")["tId"], t2, "tId")

    # V leaves t1: signing in there makes a new user.
    eq(admin(b, "/test/tenant/disassociate", {"tenantId": t1, "recipeUserId": v1["user"]["id"]}),
       {"status": "OK", "wasAssociated": True}, "disassociate V from t1")
    v3 = expect_ok(social_sign_in(Browser(mode, b.trace), vu, "sdk-client-t1", t1)["res"], f"V at {t1} again")
    eq(created_new(v3), True, "V left t1")
    check(v3["user"]["id"] != v1["user"]["id"], "another user")
    cu = core_user(b, v1["user"]["id"])
    if cu is not None:
        eq(sorted(cu["tenantIds"]), [t2], "getUser tenantIds")

    # An unknown provider, and t1's provider removed (config/thirdparty/remove).
    q = f"redirectURIOnProviderDashboard={quote(OAUTH_REDIRECT, safe='')}"
    none = b.request("GET", f"/auth/{t1}/authorisationurl?thirdPartyId=nope&{q}", headers={"rid": "thirdparty"})
    expect_status(none, 400, "authorisation URL of an unknown provider")
    eq(admin(b, "/test/tenant/remove-provider", {"tenantId": t1, "thirdPartyId": "mock"}),
       {"status": "OK", "didConfigExist": True}, "remove t1's provider")
    gone = b.request("GET", f"/auth/{t1}/authorisationurl?thirdPartyId=mock&{q}", headers={"rid": "thirdparty"})
    expect_status(gone, 400, "authorisation URL of a removed provider")


def flow_passwordless_email_otp(b: Browser, mode: str) -> None:
    """E-mail OTP: a wrong code counts (INCORRECT_USER_INPUT_CODE_ERROR 1 of 5), resend, the right
    code signs up (verified e-mail, st-ev true), the used code restarts the flow; signing in again
    is the same user."""
    email = new_email("pwl")
    dev = create_code(b, email)
    sent = last_code(b, email)
    eq(sent["via"], "email", "delivered by e-mail")
    eq(sent["preAuthSessionId"], dev["preAuthSessionId"], "preAuthSessionId")
    check(re.fullmatch(r"[0-9]{6}", sent["userInputCode"] or ""), f"a 6-digit code: {sent['userInputCode']}")
    eq(sent["codeLifetime"], 900000, "the core's default passwordless_code_lifetime")
    check(not b.has_session(), "no session before the code is consumed")

    wrong = expect_status_field(consume_otp(b, dev, wrong_code(sent["userInputCode"])), "INCORRECT_USER_INPUT_CODE_ERROR", "a wrong code")
    eq(wrong.get("failedCodeInputAttemptCount"), 1, "failedCodeInputAttemptCount")
    eq(wrong.get("maximumCodeInputAttempts"), 5, "maximumCodeInputAttempts")
    check(not b.has_session(), "no session after a wrong code")

    expect_ok(
        b.request(
            "POST",
            "/auth/signinup/code/resend",
            body={"deviceId": dev["deviceId"], "preAuthSessionId": dev["preAuthSessionId"]},
            headers={"rid": "passwordless"},
        ),
        "resend the code",
    )
    resent = last_code(b, email)
    eq(resent["count"], 2, "a second e-mail")
    eq(resent["preAuthSessionId"], dev["preAuthSessionId"], "same device")

    ok = expect_ok(consume_otp(b, dev, resent["userInputCode"]), "the right code")
    eq(created_new(ok), True, "createdNew")
    v = user_view(ok["user"])
    eq(v["email"], email, "email")
    expect_tenant_ids(v, ["public"], "tenantIds")
    if SDK_INFO["accountLinking"]:
        eq(v["recipeId"], "passwordless", "recipeId")
        eq(v["verified"], True, "a passwordless e-mail is verified")
    assert_session_transport(b, mode)
    at = decode_jwt_payload(b.current_access_token() or "")
    eq(at["sub"], ok["user"]["id"], "sub")
    eq(at["st-ev"]["v"], True, "st-ev")

    reuse = Browser(mode, b.trace)
    expect_status_field(consume_otp(reuse, dev, resent["userInputCode"]), "RESTART_FLOW_ERROR", "the used code again")
    check(not reuse.has_session(), "no session")

    again = passwordless_sign_in(Browser(mode, b.trace), email)
    eq(created_new(again["body"]), False, "signing in again")
    eq(again["body"]["user"]["id"], ok["user"]["id"], "same user")
    p = b.request("GET", "/protected-db")
    expect_status(p, 200, "GET /protected-db")
    eq(p.field("userId"), ok["user"]["id"], "/protected-db userId")


def flow_passwordless_magic_link(b: Browser, mode: str) -> None:
    """Magic links (e-mail and SMS): the link's code signs in, the used link restarts the flow, a
    made-up link code too; SMS OTP signs the phone user in again."""
    email = new_email("link")
    dev = create_code(b, email)
    sent = last_code(b, email)
    check(re.match(r"^http://localhost:3000/auth/verify\?", sent["urlWithLinkCode"] or ""), f"link: {sent['urlWithLinkCode']}")
    eq(sent["linkPreAuthSessionId"], dev["preAuthSessionId"], "the link's preAuthSessionId")
    check(sent["linkCode"], "the link carries the link code (#fragment)")
    ok = expect_ok(consume_link(b, dev["preAuthSessionId"], sent["linkCode"]), "consume the magic link")
    eq(created_new(ok), True, "createdNew")
    eq(user_view(ok["user"])["email"], email, "email")
    assert_session_transport(b, mode)
    expect_status_field(consume_link(Browser(mode, b.trace), dev["preAuthSessionId"], sent["linkCode"]), "RESTART_FLOW_ERROR", "the used link again")

    # (a new browser: with a session, some releases send a code for the session user's second
    # factor, OTP only)
    phone = new_phone()
    pdev = create_code(Browser(mode, b.trace), phone)
    sms = last_code(b, phone)
    eq(sms["via"], "sms", "delivered by SMS")
    eq(sms["preAuthSessionId"], pdev["preAuthSessionId"], "preAuthSessionId")
    made_up = base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")
    expect_status_field(consume_link(Browser(mode, b.trace), pdev["preAuthSessionId"], made_up), "RESTART_FLOW_ERROR", "a made-up link code")
    pb = Browser(mode, b.trace)
    pok = expect_ok(consume_link(pb, pdev["preAuthSessionId"], sms["linkCode"]), "consume the SMS magic link")
    eq(created_new(pok), True, "createdNew")
    pv = user_view(pok["user"])
    eq(pv["phoneNumber"], phone, "phoneNumber")
    eq(pv["email"], None, "no email")
    eq(decode_jwt_payload(pb.current_access_token() or "")["sub"], pok["user"]["id"], "sub")
    again = passwordless_sign_in(Browser(mode, b.trace), phone)
    eq(created_new(again["body"]), False, "the phone user signs in again by SMS OTP")
    eq(again["body"]["user"]["id"], pok["user"]["id"], "same user")


def flow_passwordless_max_attempts(b: Browser, mode: str) -> None:
    """Five wrong codes: 1..4 counted, the fifth ends the device (RESTART_FLOW_ERROR) and even the
    right code no longer works; a new code does."""
    email = new_email("attempts")
    dev = create_code(b, email)
    sent = last_code(b, email)
    bad = wrong_code(sent["userInputCode"])
    for i in range(1, 5):
        r = expect_status_field(consume_otp(b, dev, bad), "INCORRECT_USER_INPUT_CODE_ERROR", f"wrong code #{i}")
        eq(r.get("failedCodeInputAttemptCount"), i, "failedCodeInputAttemptCount")
        eq(r.get("maximumCodeInputAttempts"), 5, "maximumCodeInputAttempts")
    expect_status_field(consume_otp(b, dev, bad), "RESTART_FLOW_ERROR", "wrong code #5")
    expect_status_field(consume_otp(b, dev, sent["userInputCode"]), "RESTART_FLOW_ERROR", "the right code after the device was removed")
    check(not b.has_session(), "no session")
    fresh = passwordless_sign_in(b, email)
    eq(created_new(fresh["body"]), True, "a new code signs up")


def flow_passwordless_expiry(b: Browser, mode: str) -> None:
    """Code expiry, on a tenant whose coreConfig has passwordless_code_lifetime 1500 ms: the expired
    OTP -> EXPIRED_USER_INPUT_CODE_ERROR (counted), the expired link -> RESTART_FLOW_ERROR; resend,
    and the new code signs in to that tenant."""
    t = f"pwx-{rand8()}"
    create_tenant(b, t, core_config={"passwordless_code_lifetime": 1500})
    email = new_email("expiry")
    dev = create_code(b, email, t)
    sent = last_code(b, email)
    eq(sent["codeLifetime"], 1500, "the tenant's passwordless_code_lifetime")
    eq(sent["tenantId"], t, "tenantId")
    time.sleep(1.7)
    exp = expect_status_field(consume_otp(b, dev, sent["userInputCode"], t), "EXPIRED_USER_INPUT_CODE_ERROR", "the expired code")
    eq(exp.get("failedCodeInputAttemptCount"), 1, "failedCodeInputAttemptCount")
    eq(exp.get("maximumCodeInputAttempts"), 5, "maximumCodeInputAttempts")
    expect_status_field(consume_link(b, dev["preAuthSessionId"], sent["linkCode"], t), "RESTART_FLOW_ERROR", "the expired link")
    expect_ok(
        b.request(
            "POST",
            f"/auth/{t}/signinup/code/resend",
            body={"deviceId": dev["deviceId"], "preAuthSessionId": dev["preAuthSessionId"]},
            headers={"rid": "passwordless"},
        ),
        "resend",
    )
    resent = last_code(b, email)
    ok = expect_ok(consume_otp(b, dev, resent["userInputCode"], t), "the new code")
    eq(created_new(ok), True, "createdNew")
    expect_tenant_ids(user_view(ok["user"]), [t], "tenantIds")
    assert_session_transport(b, mode)
    eq(decode_jwt_payload(b.current_access_token() or "")["tId"], t, "tId")


def flow_multitenancy_users(b: Browser, mode: str) -> None:
    """Users in several tenants (tenant/user through associate_user_to_tenant): an e-mail-password
    user of public joins tenant t and signs in there; a clash (the e-mail is taken in t) is refused;
    leaving public ends signing in there; a passwordless user of t joins public."""
    t = f"mtu-{rand8()}"
    create_tenant(b, t)
    u = signed_up(b, "mtu")
    email, user_id = u["email"], u["userId"]
    eq(admin(b, "/test/tenant/associate", {"tenantId": t, "recipeUserId": user_id}),
       {"status": "OK", "wasAlreadyAssociated": False}, f"associate with {t}")
    bt = Browser(mode, b.trace)
    si = expect_ok(
        bt.request(
            "POST",
            f"/auth/{t}/signin",
            body={"formFields": [{"id": "email", "value": email}, {"id": "password", "value": PASSWORD}]},
            headers={"rid": "emailpassword"},
        ),
        f"sign in at {t}",
    )
    eq(si["user"]["id"], user_id, "same user")
    expect_tenant_ids(user_view(si["user"]), sorted(["public", t]), "tenantIds")
    eq(decode_jwt_payload(bt.current_access_token() or "")["tId"], t, "tId")
    p = bt.request("GET", "/protected-db")
    expect_status(p, 200, "GET /protected-db")
    eq(p.field("tenantId"), t, "/protected-db tenantId")

    # Someone else signed up in t with an e-mail that a public user has: that user cannot join t.
    clash = new_email("clash")
    expect_ok(
        Browser(mode, b.trace).request(
            "POST",
            f"/auth/{t}/signup",
            body={"formFields": [{"id": "email", "value": clash}, {"id": "password", "value": PASSWORD}]},
            headers={"rid": "emailpassword"},
        ),
        f"sign up at {t}",
    )
    other = expect_ok(Browser(mode, b.trace).sign_up(clash, PASSWORD), "sign up at public with the same e-mail")
    refused = admin(b, "/test/tenant/associate", {"tenantId": t, "recipeUserId": other["user"]["id"]})
    eq(refused.get("status"), "EMAIL_ALREADY_EXISTS_ERROR", f"associate the clashing user with {t}")

    # The first user leaves public.
    eq(admin(b, "/test/tenant/disassociate", {"tenantId": "public", "recipeUserId": user_id}),
       {"status": "OK", "wasAssociated": True}, "disassociate from public")
    no = Browser(mode, b.trace).sign_in(email, PASSWORD)
    eq(no.field("status"), "WRONG_CREDENTIALS_ERROR", "sign in at public after leaving it")
    cu = core_user(b, user_id)
    if cu is not None:
        eq(cu["tenantIds"], [t], "getUser tenantIds")

    # A passwordless user of t joins public and signs in there as the same user.
    pe = new_email("mtp")
    pt = passwordless_sign_in(Browser(mode, b.trace), pe, t)
    expect_tenant_ids(user_view(pt["body"]["user"]), [t], "tenantIds")
    eq(admin(b, "/test/tenant/associate", {"tenantId": "public", "recipeUserId": pt["body"]["user"]["id"]}),
       {"status": "OK", "wasAlreadyAssociated": False}, "associate the passwordless user with public")
    pp = passwordless_sign_in(Browser(mode, b.trace), pe)
    eq(created_new(pp["body"]), False, "the passwordless user of t is a user of public now")
    eq(pp["body"]["user"]["id"], pt["body"]["user"]["id"], "same user")


def sdk_info_of(base: str) -> Dict[str, Any]:
    """GET /test/sdk-info of another app; run.sh starts each runner as soon as its own app is up,
    so the others may still be starting: retried for up to 60 s."""
    deadline = time.time() + 60
    while True:
        try:
            r = HTTP.get(f"{base}/test/sdk-info", timeout=10)
            if r.status_code == 200:
                return r.json()
        except requests.RequestException as e:
            if time.time() > deadline:
                raise FlowError(f"the app at {base} is not up: {e!r}")
        if time.time() > deadline:
            raise FlowError(f"the app at {base} is not up")
        time.sleep(0.25)


def expect_session_at(
    br: Browser, base: str, path: str, user_id: str, handle: str, recipe_user_ids: bool, what: str
) -> Response:
    """What app `base` says about the session in `br`: 200, the user, the handle, tenant public."""
    saved = br.base
    br.base = base
    try:
        r = br.request("GET", path)
        expect_status(r, 200, f"{what}: GET {path}")
        eq(r.field("userId"), user_id, f"{what}: GET {path} userId")
        eq(r.field("sessionHandle"), handle, f"{what}: GET {path} sessionHandle")
        eq(r.field("tenantId"), "public", f"{what}: GET {path} tenantId")
        # the SDK reports rsub, or sub for a v4 token; None before account linking
        eq(r.field("recipeUserId"), user_id if recipe_user_ids else None, f"{what}: GET {path} recipeUserId")
        return r
    finally:
        br.base = saved


def expect_token_version(br: Browser, cdi: float, user_id: str, handle: str, what: str) -> Dict[str, Any]:
    t = br.current_access_token()
    check(t, f"{what}: an access token")
    v = decode_jwt_header(t).get("version")
    eq(v, token_version_for(cdi), f"{what}: access-token version for CDI {cdi}")
    p = decode_jwt_payload(t)
    eq(p.get("sub"), user_id, f"{what}: sub")
    eq(p.get("sessionHandle"), handle, f"{what}: sessionHandle")
    eq(p.get("tId"), "public", f"{what}: tId")
    eq(p.get("rsub"), user_id if v == "5" else None, f"{what}: rsub (v5 only)")
    return p


def cross_version_pair(trace: List[str], mode: str, peer_url: str, info: Dict[str, Any], peer_cdi: float) -> None:
    here_al = bool(SDK_INFO["accountLinking"])
    there_al = bool(info["accountLinking"])
    # 1. Started through the other release, used and refreshed through this one.
    o = Browser(mode, trace, peer_url)
    email = new_email("xv")
    user_id = expect_ok(o.sign_up(email, PASSWORD), "sign up through the other release")["user"]["id"]
    handle = decode_jwt_payload(o.current_access_token() or "")["sessionHandle"]
    expect_token_version(o, peer_cdi, user_id, handle, "token from the other release")
    expect_session_at(o, APP_URL, "/protected", user_id, handle, here_al, "its token here (offline)")
    expect_session_at(o, APP_URL, "/protected-db", user_id, handle, here_al, "its token here (core verify)")
    started = o.snapshot()
    o.base = APP_URL
    expect_status(o.refresh(), 200, "refresh here with the other release's refresh token")
    expect_token_version(o, CDI, user_id, handle, "refreshed here")
    expect_session_at(o, APP_URL, "/protected-db", user_id, handle, here_al, "refreshed token here")
    # ... and back: the token this release minted works at the other release, which can refresh it
    expect_session_at(o, peer_url, "/protected", user_id, handle, there_al, "this release's token there (offline)")
    expect_session_at(o, peer_url, "/protected-db", user_id, handle, there_al, "this release's token there (core verify)")
    o.base = peer_url
    expect_status(o.refresh(), 200, "refresh there")
    expect_token_version(o, peer_cdi, user_id, handle, "refreshed there")
    expect_session_at(o, APP_URL, "/protected-db", user_id, handle, here_al, "re-refreshed token here")
    # The first refresh token (minted through the other release), replayed here: token theft.
    o.restore(started)
    o.base = APP_URL
    theft = o.refresh()
    expect_status(theft, 401, "replaying the other release's first refresh token here")
    check(re.search("token theft detected", theft.text), f"token theft reported: {theft.text}")
    # The user signs in through this release.
    si = Browser(mode, trace)
    eq(expect_ok(si.sign_in(email, PASSWORD), "sign in here")["user"]["id"], user_id, "sign in here: user id")

    # 2. Started through this release, used and refreshed through the other one.
    n = Browser(mode, trace)
    user_id2 = expect_ok(n.sign_up(new_email("xv"), PASSWORD), "sign up here")["user"]["id"]
    handle2 = decode_jwt_payload(n.current_access_token() or "")["sessionHandle"]
    expect_token_version(n, CDI, user_id2, handle2, "token from this release")
    expect_session_at(n, peer_url, "/protected", user_id2, handle2, there_al, "this token there (offline)")
    expect_session_at(n, peer_url, "/protected-db", user_id2, handle2, there_al, "this token there (core verify)")
    n.base = peer_url
    expect_status(n.refresh(), 200, "refresh there with this release's refresh token")
    expect_token_version(n, peer_cdi, user_id2, handle2, "refreshed there")
    expect_session_at(n, APP_URL, "/protected", user_id2, handle2, here_al, "its refreshed token here (offline)")
    expect_session_at(n, APP_URL, "/protected-db", user_id2, handle2, here_al, "its refreshed token here (core verify)")
    n.base = APP_URL
    expect_status(n.refresh(), 200, "refresh here")
    expect_token_version(n, CDI, user_id2, handle2, "refreshed here again")
    # Sign out through the other release ends the session here too.
    live = n.snapshot()
    n.base = peer_url
    expect_ok(n.sign_out(), "sign out there")
    n.restore(live)
    n.base = APP_URL
    expect_status(n.request("GET", "/protected-db"), 401, "GET /protected-db here after signing out there")


def flow_cross_version(b: Browser, mode: str) -> None:
    """Cross-version sessions (teams upgrade SDKs while sessions are live): with the other
    releases' apps on the same core that run.sh names in PEER_APPS (CROSS_VERSION_PEERS), a session
    started through the other release is used and refreshed through this one, and the other way
    round. A CDI 3.x release gets v4 access tokens (no `rsub`), 4.0+ gets v5; every release
    verifies both offline (each SDK accepts any JWT header `version` >= 3) and the core verifies
    and refreshes either at either CDI version, minting the token version of the refreshing
    release's CDI."""
    if not PEERS:
        skip("no other release's app is running (PEER_APPS is empty; see ST_SDK_RELEASES)")
    for peer in PEERS:
        info = sdk_info_of(peer["url"])
        peer_cdi = max(float(v) for v in info["cdiSupported"])
        WATCHED_APPS.append({"base": peer["url"], "seq": core_seq(peer["url"])})
        tag = f"{peer['name']} ({info['sdk']} {info['version']}, CDI {peer_cdi}) and {SDK} (CDI {CDI})"
        b.trace.append(f"--- cross-version: {tag}")
        try:
            cross_version_pair(b.trace, mode, peer["url"], info, peer_cdi)
        except FlowError as e:
            raise FlowError(f"{tag}: {e}") from e


def flow_accountlinking_automatic(b0: Browser, mode: str) -> None:
    """Automatic account linking (the linking app: AccountLinking with should_automatically_link
    and should_require_verification): an e-mail-password sign-up, unverified, is no primary user
    and blocks a social sign-up with its e-mail (SIGN_IN_UP_NOT_ALLOWED, ERR_CODE_006); once the
    e-mail is verified it becomes primary and the social sign-in with the same verified e-mail
    links to it (one user, two login methods; session sub = the user, rsub = the login method);
    the same e-mail unverified at another provider account is refused; a passwordless sign-in with
    it links a third login method."""
    linking_app(False)
    L = APP_URL_LINKING
    tag = rand8()
    email = f"auto-{tag}@idp.example.com"
    b = Browser(mode, b0.trace, L)
    su = expect_ok(b.sign_up(email, PASSWORD), "e-mail-password sign up")
    ep_id = su["user"]["id"]
    expect_user(su["user"], ep_id, False, [lm("emailpassword", ep_id, email, False)], "sign-up answer (unverified: not primary)")

    provider = {"sub": f"auto-{tag}", "email": email, "email_verified": True}
    early = social_sign_in(Browser(mode, b.trace, L), provider, "sdk-client-static")
    refused = expect_status_field(early["res"], "SIGN_IN_UP_NOT_ALLOWED", "social sign-up while an unverified account has the e-mail")
    check(re.search(r"ERR_CODE_006", refused.get("reason", "")), f"the SDK's reason: {refused}")

    # verify the e-mail-password account's e-mail (the SDK then makes it a primary user)
    ev = {"rid": "emailverification"}
    expect_ok(b.request("POST", "/auth/user/email/verify/token", body={}, headers=ev), "verification e-mail")
    link = expect_ok(link_for(b, email, "verify"), "captured link")
    expect_ok(b.request("POST", "/auth/user/email/verify", body={"method": "token", "token": link["token"]}, headers=ev), "verify")
    expect_user(core_user(b, ep_id), ep_id, True, [lm("emailpassword", ep_id, email, True)], "after verification: primary")

    tb = Browser(mode, b.trace, L)
    ok = expect_ok(social_sign_in(tb, provider, "sdk-client-static")["res"], "social sign-in with the same verified e-mail")
    eq(ok.get("createdNewRecipeUser"), True, "a new login method")
    tp = [m for m in ok["user"]["loginMethods"] if m["recipeId"] == "thirdparty"]
    check(tp, f"a thirdparty login method: {ok['user']}")
    tp_id = tp[0]["recipeUserId"]
    check(tp_id != ep_id, "a new recipe user id")
    two = [lm("emailpassword", ep_id, email, True), lm("thirdparty", tp_id, email, True, {"id": "mock", "userId": provider["sub"]})]
    expect_user(ok["user"], ep_id, True, two, "sign-in answer: one user, two login methods")
    assert_session_transport(tb, mode)
    expect_session_of(tb, ep_id, tp_id, "social session")
    expect_user(core_user(b, tp_id), ep_id, True, two, "get_user(thirdparty recipe user id)")

    again = expect_ok(social_sign_in(Browser(mode, b.trace, L), provider, "sdk-client-static")["res"], "social sign-in again")
    eq(again.get("createdNewRecipeUser"), False, "same login method")
    eq(again["user"]["id"], ep_id, "same user")

    # another account at the provider with the same e-mail, unverified there: refused
    other = {"sub": f"auto-other-{tag}", "email": email, "email_verified": False}
    no = expect_status_field(
        social_sign_in(Browser(mode, b.trace, L), other, "sdk-client-static")["res"], "SIGN_IN_UP_NOT_ALLOWED", "social sign-up with the e-mail unverified"
    )
    check(re.search(r"ERR_CODE_006", no.get("reason", "")), f"the SDK's reason: {no}")

    # passwordless with the e-mail (verified by the code): a third login method
    pb = Browser(mode, b.trace, L)
    pl = passwordless_sign_in(pb, email)
    eq(pl["body"].get("createdNewRecipeUser"), True, "a new login method")
    eq(pl["body"]["user"]["id"], ep_id, "the same user")
    pl_id = [m for m in pl["body"]["user"]["loginMethods"] if m["recipeId"] == "passwordless"][0]["recipeUserId"]
    three = two + [lm("passwordless", pl_id, email, True)]
    expect_user(pl["body"]["user"], ep_id, True, three, "passwordless sign-in answer")
    expect_session_of(pb, ep_id, pl_id, "passwordless session")

    # the e-mail-password login method signs in to the same user
    eb = Browser(mode, b.trace, L)
    si = expect_ok(eb.sign_in(email, PASSWORD), "e-mail-password sign-in")
    expect_user(si["user"], ep_id, True, three, "e-mail-password sign-in answer")
    expect_session_of(eb, ep_id, ep_id, "e-mail-password session")


def flow_accountlinking_manual(b0: Browser, mode: str) -> None:
    """Manual linking through the SDK's functions (automatic linking is off for "manual-" e-mails):
    create_primary_user, link_accounts (its login method's sessions revoked), a link to a linked
    login method's id (the core resolves its primary user), the errors, unlink_account (a linked
    login method leaves; the primary id itself is deleted, its group keeps the id), the user
    object's login methods after each step."""
    linking_app(False)
    L = APP_URL_LINKING
    trace = b0.trace

    def mk(t: str) -> str:
        return f"manual-{t}-{rand8()}@example.com"

    a_email = mk("ep")
    ab = Browser(mode, trace, L)
    a = expect_ok(ab.sign_up(a_email, PASSWORD), "e-mail-password sign up")["user"]["id"]
    provider = {"sub": f"manual-{rand8()}", "email": mk("tp"), "email_verified": True}
    bb = Browser(mode, trace, L)
    b_user = expect_ok(social_sign_in(bb, provider, "sdk-client-static")["res"], "social sign up")["user"]
    b = b_user["id"]
    c_email = mk("pl")
    c = passwordless_sign_in(Browser(mode, trace, L), c_email)["body"]["user"]["id"]
    A = lm("emailpassword", a, a_email, False)
    B = lm("thirdparty", b, provider["email"], True, {"id": "mock", "userId": provider["sub"]})
    C = lm("passwordless", c, c_email, True)
    expect_user(b_user, b, False, [B], "no automatic linking for manual- e-mails")
    expect_user(core_user(ab, c), c, False, [C], "the passwordless user")

    eq(account_linking(ab, "can-create-primary", a), {"status": "OK", "wasAlreadyAPrimaryUser": False}, "can_create_primary_user(a)")
    p1 = account_linking(ab, "create-primary", a)
    eq(p1.get("status"), "OK", f"create_primary_user(a): {p1}")
    eq(p1.get("wasAlreadyAPrimaryUser"), False, "wasAlreadyAPrimaryUser")
    expect_user(p1.get("user"), a, True, [A], "create_primary_user")
    eq(account_linking(ab, "create-primary", a).get("wasAlreadyAPrimaryUser"), True, "create_primary_user again")

    # the primary user must be one: c is not
    np = account_linking(ab, "link", b, c)
    eq(np.get("status"), "INPUT_USER_IS_NOT_A_PRIMARY_USER", f"link_accounts(b, c): {np}")

    eq(account_linking(ab, "can-link", b, a), {"status": "OK", "accountsAlreadyLinked": False}, "can_link_accounts(b, a)")
    l1 = account_linking(ab, "link", b, a)
    eq(l1.get("status"), "OK", f"link_accounts(b, a): {l1}")
    eq(l1.get("accountsAlreadyLinked"), False, "accountsAlreadyLinked")
    expect_user(l1.get("user"), a, True, [A, B], "link_accounts(b, a)")
    expect_user(core_user(ab, b), a, True, [A, B], "get_user(b) after linking")
    l2 = account_linking(ab, "link", b, a)
    eq((l2.get("status"), l2.get("accountsAlreadyLinked")), ("OK", True), f"linking again: {l2}")
    # b's session started before the link (sub b) is revoked; b signs in again as user a
    expect_status(bb.request("GET", "/protected-db"), 401, "b's old session after linking")
    bb2 = Browser(mode, trace, L)
    again = expect_ok(social_sign_in(bb2, provider, "sdk-client-static")["res"], "b signs in again")
    expect_user(again["user"], a, True, [A, B], "b's sign-in answer")
    expect_session_of(bb2, a, b, "b's new session")
    # a's session is untouched
    expect_session_of(ab, a, a, "a's session")

    cp = account_linking(ab, "create-primary", b)
    eq(cp.get("status"), "RECIPE_USER_ID_ALREADY_LINKED_WITH_PRIMARY_USER_ID_ERROR", f"create_primary_user(b): {cp}")
    eq(cp.get("primaryUserId"), a, "primaryUserId")
    # linking to b's id (a login method of a): the core links to b's primary user, a
    l3 = account_linking(ab, "link", c, b)
    eq(l3.get("status"), "OK", f"link_accounts(c, b): {l3}")
    expect_user(l3.get("user"), a, True, [A, B, C], "link_accounts(c, b) where b belongs to a")
    eq(account_linking(ab, "can-link", c, a), {"status": "OK", "accountsAlreadyLinked": True}, "can_link_accounts(c, a)")

    # unlink b: it stands alone again, a keeps the others; b's sessions are revoked
    eq(account_linking(ab, "unlink", b), {"status": "OK", "wasRecipeUserDeleted": False, "wasLinked": True}, "unlink_account(b)")
    expect_user(core_user(ab, a), a, True, [A, C], "a after unlinking b")
    expect_user(core_user(ab, b), b, False, [B], "b after unlinking")
    expect_status(bb2.request("GET", "/protected-db"), 401, "b's session after unlinking")
    eq(account_linking(ab, "unlink", b), {"status": "OK", "wasRecipeUserDeleted": False, "wasLinked": False}, "unlinking a user that is not linked")

    # unlink a, the primary id itself, while c is linked: the login method a is deleted, the group
    # keeps the id a (with c's login method only)
    eq(account_linking(ab, "unlink", a), {"status": "OK", "wasRecipeUserDeleted": True, "wasLinked": True}, "unlink_account(a)")
    expect_user(core_user(ab, c), a, True, [C], "c after a was unlinked (deleted)")
    expect_status(ab.request("GET", "/protected-db"), 401, "a's session after a was deleted")
    gone = Browser(mode, trace, L).sign_in(a_email, PASSWORD)
    eq(gone.field("status"), "WRONG_CREDENTIALS_ERROR", f"sign in as the deleted login method ({gone.text})")
    cb = Browser(mode, trace, L)
    cs = passwordless_sign_in(cb, c_email)
    eq(cs["body"]["user"]["id"], a, "c signs in to the group a")
    expect_session_of(cb, a, c, "c's session")


def flow_mfa_totp(b0: Browser, mode: str) -> None:
    """MFA with TOTP, required for the user (add_to_required_secondary_factors_for_user -> user
    metadata): the first factor's session has st-mfa v false and /protected refuses it; the device
    is created through the SDK's TOTP API, a wrong code is counted (1 of 5), the code computed here
    from the secret verifies the device and completes the factor (v true, /protected 200); the next
    sign-in needs the factor again: the used code is refused, a fresh one passes."""
    linking_app(True)
    L = APP_URL_LINKING
    b = Browser(mode, b0.trace, L)
    email = new_email("mfa")
    user_id = expect_ok(b.sign_up(email, PASSWORD), "sign up")["user"]["id"]
    eq(list(mfa_claim(b)["c"]), ["emailpassword"], "st-mfa: the first factor completed")
    eq(mfa_claim(b)["v"], True, "st-mfa: nothing else required yet")
    expect_status(b.request("GET", "/protected"), 200, "GET /protected with no second factor required")
    req = admin(b, "/test/mfa/require-factor", {"userId": user_id, "factorId": "totp"})
    eq(req.get("requiredSecondaryFactors"), ["totp"], "required secondary factors of the user")

    s = Browser(mode, b0.trace, L)
    expect_ok(s.sign_in(email, PASSWORD), "sign in (first factor)")
    eq(mfa_claim(s)["v"], False, "st-mfa: TOTP required")
    expect_mfa_required(s, "after the first factor")
    info = expect_ok(s.request("PUT", "/auth/mfa/info", headers={"rid": "multifactorauth"}), "PUT /auth/mfa/info")
    eq(info["factors"]["next"], ["totp"], f"mfa info ({info['factors']})")

    dev = expect_ok(totp_api(s, "/auth", "device", {}), "create a TOTP device")
    check(re.fullmatch(r"[A-Z2-7]{32}", dev["secret"]), f"a base32 secret of 20 bytes: {dev['secret']}")
    check(dev["qrCodeString"].startswith("otpauth://totp/"), f"qrCodeString: {dev['qrCodeString']}")
    used: set = set()
    code = fresh_totp(dev["secret"], used)
    bad = expect_status_field(
        totp_api(s, "/auth", "device/verify", {"deviceName": dev["deviceName"], "totp": wrong_code(code)}), "INVALID_TOTP_ERROR", "a wrong code"
    )
    eq((bad.get("currentNumberOfFailedAttempts"), bad.get("maxNumberOfFailedAttempts")), (1, 5), "failed attempts")
    expect_mfa_required(s, "after a wrong code")
    ok = expect_ok(totp_api(s, "/auth", "device/verify", {"deviceName": dev["deviceName"], "totp": code}), "verify the device")
    eq(ok.get("wasAlreadyVerified"), False, "wasAlreadyVerified")
    eq(mfa_claim(s)["v"], True, "st-mfa: satisfied")
    eq(sorted(mfa_claim(s)["c"]), ["emailpassword", "totp"], "st-mfa: completed factors")
    p = s.request("GET", "/protected")
    expect_status(p, 200, "GET /protected after TOTP")
    eq(p.json["userId"], user_id, "userId")
    expect_status(s.request("GET", "/protected-db"), 200, "GET /protected-db after TOTP")
    devices = expect_ok(s.request("GET", "/auth/totp/device/list", headers={"rid": "totp"}), "list devices")["devices"]
    eq(devices, [{"name": dev["deviceName"], "period": 30, "skew": 1, "verified": True}], "devices")

    # the next sign-in: TOTP again
    n = Browser(mode, b0.trace, L)
    expect_ok(n.sign_in(email, PASSWORD), "sign in again")
    expect_mfa_required(n, "second sign-in")
    reuse = expect_status_field(totp_api(n, "/auth", "verify", {"totp": code}), "INVALID_TOTP_ERROR", "the used code again")
    eq(reuse.get("currentNumberOfFailedAttempts"), 1, "a replayed code counts as a failure")
    expect_ok(totp_api(n, "/auth", "verify", {"totp": fresh_totp(dev["secret"], used)}), "a fresh code")
    eq(mfa_claim(n)["v"], True, "st-mfa: satisfied")
    expect_status(n.request("GET", "/protected"), 200, "GET /protected after TOTP (second sign-in)")


def flow_mfa_totp_limit(b0: Browser, mode: str) -> None:
    """TOTP required by the tenant (requiredSecondaryFactors ["totp"] in the core's tenant config)
    with coreConfig totp_max_attempts 3 and totp_rate_limit_cooldown_sec 5: three wrong codes are
    counted (1..3 of 3), then even the right code is LIMIT_REACHED_ERROR (retryAfterMs) and the
    route stays refused; after the cool-down the right code completes the factor. (The core counts
    the wrong codes within one cool-down of the last: 5 s leaves room for a loaded box.)"""
    linking_app(True)
    L = APP_URL_LINKING
    t = f"mfa-{rand8()}"
    cooldown = 5
    tb = Browser(mode, b0.trace, L)
    t_body = {"tenantId": t, "requiredSecondaryFactors": ["totp"], "coreConfig": {"totp_max_attempts": 3, "totp_rate_limit_cooldown_sec": cooldown}}
    eq(admin(tb, "/test/tenant", t_body).get("status"), "OK", f"create tenant {t}")
    email = new_email("mfalimit")
    form = {"formFields": [{"id": "email", "value": email}, {"id": "password", "value": PASSWORD}]}
    b = Browser(mode, b0.trace, L)
    expect_ok(b.request("POST", f"/auth/{t}/signup", body=form, headers={"rid": "emailpassword"}), f"sign up at {t}")
    eq(mfa_claim(b)["v"], False, "st-mfa: the tenant requires TOTP")
    expect_mfa_required(b, "sign-up at the tenant")
    dev = expect_ok(totp_api(b, f"/auth/{t}", "device", {}), "create a TOTP device")
    used: set = set()
    expect_ok(totp_api(b, f"/auth/{t}", "device/verify", {"deviceName": dev["deviceName"], "totp": fresh_totp(dev["secret"], used)}), "verify the device")
    expect_status(b.request("GET", "/protected"), 200, "GET /protected after TOTP")

    n = Browser(mode, b0.trace, L)
    expect_ok(n.request("POST", f"/auth/{t}/signin", body=form, headers={"rid": "emailpassword"}), f"sign in at {t}")
    expect_mfa_required(n, "sign-in at the tenant")
    good = fresh_totp(dev["secret"], used)
    first_wrong = time.time()
    for i in range(1, 4):
        r = expect_status_field(totp_api(n, f"/auth/{t}", "verify", {"totp": wrong_code(good)}), "INVALID_TOTP_ERROR", f"wrong code #{i}")
        eq((r.get("currentNumberOfFailedAttempts"), r.get("maxNumberOfFailedAttempts")), (i, 3), f"wrong code #{i}: failed attempts")
    lim = expect_status_field(totp_api(n, f"/auth/{t}", "verify", {"totp": good}), "LIMIT_REACHED_ERROR", "the right code after three wrong ones")
    took = time.time() - first_wrong
    check(took < cooldown, f"the three wrong codes and the check took {took:.1f} s, more than the {cooldown} s cool-down (a very slow box)")
    retry = lim.get("retryAfterMs")
    check(isinstance(retry, int) and 0 < retry <= cooldown * 1000, f"retryAfterMs {retry}")
    expect_mfa_required(n, "while rate-limited")
    time.sleep(retry / 1000 + 0.2)
    expect_ok(totp_api(n, f"/auth/{t}", "verify", {"totp": good}), "the right code after the cool-down")
    eq(mfa_claim(n)["v"], True, "st-mfa: satisfied")
    p = n.request("GET", "/protected")
    expect_status(p, 200, "GET /protected after TOTP")
    eq(p.json["tenantId"], t, "tenantId")


# ---------------------------------------------------------------------------------------------
# passkeys: the browser's WebAuthn part and a software authenticator (as ../node/flows.test.mjs and
# st_tests::webauthn in tests/src/webauthn.rs): P-256, Ed25519 and RSA keys, real CBOR attestation
# objects and COSE keys, real signatures over authenticatorData ‖ SHA-256(clientDataJSON)
# ---------------------------------------------------------------------------------------------

# Where the "browser" runs: the apps' website_domain (the SDK's default WebAuthn origin); the
# relying party is the api_domain's host (the SDK's default rp id), checked in the options.
WEBAUTHN_ORIGIN = "http://localhost:3000"
WEBAUTHN_RP_ID = "localhost"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def b64url_decode(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def _cbor_head(major: int, n: int) -> bytes:
    m = major << 5
    if n < 24:
        return bytes([m | n])
    if n < 0x100:
        return bytes([m | 24, n])
    if n < 0x10000:
        return bytes([m | 25]) + n.to_bytes(2, "big")
    return bytes([m | 26]) + n.to_bytes(4, "big")


def cbor(v: Any) -> bytes:
    """Minimal CBOR (RFC 8949): int, bytes, str, dict (entries in their order)."""
    if isinstance(v, bool):
        raise TypeError("cbor: no booleans here")
    if isinstance(v, int):
        return _cbor_head(0, v) if v >= 0 else _cbor_head(1, -1 - v)
    if isinstance(v, bytes):
        return _cbor_head(2, len(v)) + v
    if isinstance(v, str):
        t = v.encode()
        return _cbor_head(3, len(t)) + t
    if isinstance(v, dict):
        return _cbor_head(5, len(v)) + b"".join(cbor(k) + cbor(x) for k, x in v.items())
    raise TypeError(f"cbor: cannot encode {v!r}")


def check_cbor_implementation() -> None:
    """The encodings the Rust authenticator's test checks, checked before any flow uses them."""
    eq(cbor(10).hex(), "0a", "cbor 10")
    eq(cbor(-7).hex(), "26", "cbor -7")
    eq(cbor(-257).hex(), "390100", "cbor -257")
    eq(cbor("fmt").hex(), "63666d74", "cbor 'fmt'")
    eq(cbor(bytes(32))[:2].hex(), "5820", "cbor 32 bytes")
    eq(cbor({}).hex(), "a0", "cbor {}")
    eq(cbor({1: 2, 3: -7}).hex(), "a201020326", "cbor {1: 2, 3: -7}")


# The credential algorithms, by COSE id: ES256 (P-256), EdDSA (Ed25519), RS256 (RSA-2048).
PASSKEY_ALGORITHMS = {"ES256": -7, "EdDSA": -8, "RS256": -257}


class Passkey:
    """One credential: a key pair of `alg` with a random 32-byte id. `counts`: the authenticator
    moves its signature counter by one per assertion; else it always reports 0 (as synced passkeys
    do)."""

    def __init__(self, counts: bool = False, alg: str = "ES256") -> None:
        # the `cryptography` package: a dependency of every tested supertokens-python release
        from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

        self.alg = alg
        self.cose_alg = PASSKEY_ALGORITHMS[alg]
        if alg == "ES256":
            self.key: Any = ec.generate_private_key(ec.SECP256R1())
        elif alg == "EdDSA":
            self.key = ed25519.Ed25519PrivateKey.generate()
        else:
            self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.id = os.urandom(32)
        self.counter = 0
        self.counts = counts
        self.user_handle = b""

    @property
    def id_b64(self) -> str:
        return b64url(self.id)

    def cose_key(self) -> bytes:
        """COSE_Key: EC2 P-256 (x, y), OKP Ed25519 (x), or RSA (n, e)."""
        from cryptography.hazmat.primitives import serialization

        if self.alg == "ES256":
            n = self.key.public_key().public_numbers()
            return cbor({1: 2, 3: -7, -1: 1, -2: n.x.to_bytes(32, "big"), -3: n.y.to_bytes(32, "big")})
        if self.alg == "EdDSA":
            raw = self.key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            return cbor({1: 1, 3: -8, -1: 6, -2: raw})
        n = self.key.public_key().public_numbers()
        return cbor({1: 3, 3: -257, -1: n.n.to_bytes(256, "big"), -2: n.e.to_bytes(3, "big")})

    def sign(self, data: bytes) -> bytes:
        """As authenticators sign: ES256 ECDSA P-256 SHA-256 DER-encoded, Ed25519,
        RSASSA-PKCS1-v1_5 SHA-256."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec, padding

        if self.alg == "ES256":
            return self.key.sign(data, ec.ECDSA(hashes.SHA256()))
        if self.alg == "EdDSA":
            return self.key.sign(data)
        return self.key.sign(data, padding.PKCS1v15(), hashes.SHA256())


def client_data_json(kind: str, challenge: str, origin: str) -> bytes:
    return json.dumps({"type": kind, "challenge": challenge, "origin": origin, "crossOrigin": False}, separators=(",", ":")).encode()


def authenticator_data(rp_id: str, counter: int, attested: bool) -> bytes:
    """SHA-256(rpId) ‖ flags (UP, UV, AT with attested credential data) ‖ counter."""
    return hashlib.sha256(rp_id.encode()).digest() + bytes([0x01 | 0x04 | (0x40 if attested else 0)]) + counter.to_bytes(4, "big")


def passkey_registration(pk: Passkey, options: Dict[str, Any], origin: str = WEBAUTHN_ORIGIN, challenge: Optional[str] = None, rp_id: Optional[str] = None) -> Dict[str, Any]:
    """navigator.credentials.create() over the SDK's register options: RegistrationResponseJSON
    (attestation "none"). origin, challenge, rp id default to the browser's and the options'."""
    pk.user_handle = b64url_decode(options["user"]["id"])
    auth_data = (
        authenticator_data(rp_id or options["rp"]["id"], pk.counter, True)
        + bytes([0x5E] * 16)
        + len(pk.id).to_bytes(2, "big")
        + pk.id
        + pk.cose_key()
    )
    attestation = cbor({"fmt": "none", "attStmt": {}, "authData": auth_data})
    cd = client_data_json("webauthn.create", challenge or options["challenge"], origin)
    return {
        "id": pk.id_b64,
        "rawId": pk.id_b64,
        "type": "public-key",
        "response": {
            "clientDataJSON": b64url(cd),
            "attestationObject": b64url(attestation),
            "authenticatorData": b64url(auth_data),
            "transports": ["internal", "hybrid"],
            "publicKeyAlgorithm": pk.cose_alg,
        },
        "authenticatorAttachment": "platform",
        "clientExtensionResults": {},
    }


def passkey_assertion(
    pk: Passkey,
    options: Dict[str, Any],
    origin: str = WEBAUTHN_ORIGIN,
    challenge: Optional[str] = None,
    rp_id: Optional[str] = None,
    signer: Optional[Passkey] = None,
    counter: Optional[int] = None,
) -> Dict[str, Any]:
    """navigator.credentials.get() over the SDK's sign-in options: AuthenticationResponseJSON for
    credential `pk`, signed by `signer` (another key: a forged assertion). `counter`: what to report
    instead of the authenticator's next value."""
    if counter is None:
        counter = pk.counter + 1 if pk.counts else 0
    pk.counter = counter
    cd = client_data_json("webauthn.get", challenge or options["challenge"], origin)
    auth_data = authenticator_data(rp_id or options["rpId"], counter, False)
    signature = (signer or pk).sign(auth_data + hashlib.sha256(cd).digest())
    return {
        "id": pk.id_b64,
        "rawId": pk.id_b64,
        "type": "public-key",
        "response": {
            "clientDataJSON": b64url(cd),
            "authenticatorData": b64url(auth_data),
            "signature": b64url(signature),
            "userHandle": b64url(pk.user_handle),
        },
        "authenticatorAttachment": "platform",
        "clientExtensionResults": {},
    }


def webauthn_recipe() -> None:
    """The release must have the WebAuthn recipe (the app reports it), else the flow is a SKIP."""
    if not SDK_INFO.get("webauthn"):
        skip(f"no WebAuthn recipe in {SDK_INFO['sdk']} {SDK_INFO['version']} (CDI {CDI_SENT})")


def passkey_register_options(b: Browser, email: str) -> Dict[str, Any]:
    return expect_ok(b.request("POST", "/auth/webauthn/options/register", body={"email": email}, headers={"rid": "webauthn"}), "POST /auth/webauthn/options/register")


def passkey_sign_in_options(b: Browser) -> Dict[str, Any]:
    return expect_ok(b.request("POST", "/auth/webauthn/options/signin", body={}, headers={"rid": "webauthn"}), "POST /auth/webauthn/options/signin")


def passkey_sign_up(b: Browser, options: Dict[str, Any], credential: Optional[Dict[str, Any]]) -> Response:
    body: Dict[str, Any] = {"webauthnGeneratedOptionsId": options["webauthnGeneratedOptionsId"]}
    if credential is not None:
        body["credential"] = credential
    return b.request("POST", "/auth/webauthn/signup", body=body, headers={"rid": "webauthn"})


def passkey_sign_in(b: Browser, options: Dict[str, Any], credential: Optional[Dict[str, Any]]) -> Response:
    body: Dict[str, Any] = {"webauthnGeneratedOptionsId": options["webauthnGeneratedOptionsId"]}
    if credential is not None:
        body["credential"] = credential
    return b.request("POST", "/auth/webauthn/signin", body=body, headers={"rid": "webauthn"})


def passkey_signed_up(b: Browser, pk: Passkey, tag: str) -> Dict[str, Any]:
    """A passkey user from scratch: register options for a new e-mail, the passkey's registration."""
    email = new_email(tag)
    opts = passkey_register_options(b, email)
    body = expect_ok(passkey_sign_up(b, opts, passkey_registration(pk, opts)), "passkey sign up")
    return {"email": email, "userId": body["user"]["id"], "body": body}


def expect_passkey_user(user: Dict[str, Any], user_id: str, email: str, pk: Passkey, what: str) -> None:
    """The answer's user is the passkey user: one webauthn login method with the e-mail and credential."""
    eq(user["id"], user_id, f"{what}: user id")
    eq(len(user["loginMethods"]), 1, f"{what}: one login method ({user})")
    m = user["loginMethods"][0]
    eq(m["recipeId"], "webauthn", f"{what}: recipeId")
    eq(m["recipeUserId"], user_id, f"{what}: recipeUserId")
    eq(m["email"], email, f"{what}: email")
    eq((m.get("webauthn") or {}).get("credentialIds"), [pk.id_b64], f"{what}: the login method's credential ids")
    eq((user.get("webauthn") or {}).get("credentialIds"), [pk.id_b64], f"{what}: the user's credential ids")
    eq(m["tenantIds"], ["public"], f"{what}: tenantIds")


def expect_refused(b: Browser, res: Response, status: str, what: str) -> Dict[str, Any]:
    """A refused passkey ceremony: 200, `status`, and no session started."""
    j = expect_status_field(res, status, what)
    eq(b.has_session(), False, f"{what}: no session")
    eq(b.current_access_token(), None, f"{what}: no access token")
    return j


def expect_session_user(b: Browser, mode: str, user_id: str, what: str) -> None:
    """The session the browser holds is the user's (offline and with the core)."""
    assert_session_transport(b, mode)
    p = decode_jwt_payload(b.current_access_token() or "")
    eq(p.get("sub"), user_id, f"{what}: sub")
    eq(p.get("rsub"), user_id, f"{what}: rsub")
    eq(p.get("tId"), "public", f"{what}: tId")
    for path in ("/protected", "/protected-db"):
        r = b.request("GET", path)
        expect_status(r, 200, f"{what}: GET {path}")
        eq(r.json["userId"], user_id, f"{what}: GET {path} userId")
        eq(r.json["recipeUserId"], user_id, f"{what}: GET {path} recipeUserId")


def flow_webauthn_sign_up_sign_in(b: Browser, mode: str) -> None:
    """Passkeys through the SDK's WebAuthn recipe (see the node flow of the same name)."""
    webauthn_recipe()
    email = new_email("passkey")
    opts = passkey_register_options(b, email)
    eq(opts["rp"]["id"], WEBAUTHN_RP_ID, "rp.id: the api_domain's host")
    eq(opts["rp"]["name"], "st-sdk-tests", "rp.name: the app_name")
    eq(opts["user"]["name"], email, "user.name")
    eq(opts["user"]["displayName"], email, "user.displayName")
    check(len(b64url_decode(opts["user"]["id"])) > 0, "a user handle")
    check(len(b64url_decode(opts["challenge"])) >= 16, f"a challenge: {opts['challenge']}")
    eq([p["alg"] for p in opts["pubKeyCredParams"]], [-8, -7, -257], "pubKeyCredParams")
    check(all(p["type"] == "public-key" for p in opts["pubKeyCredParams"]), "public-key params")
    eq(opts["timeout"], 60000, "timeout")
    eq(opts["attestation"], "none", "attestation")
    eq(opts["authenticatorSelection"]["residentKey"], "required", "residentKey")
    eq(opts["authenticatorSelection"]["userVerification"], "preferred", "userVerification")
    eq(opts["excludeCredentials"], [], "excludeCredentials")
    eq(opts["expiresAt"] - opts["createdAt"], 60000, "the options expire after their timeout")

    pk = Passkey()
    elsewhere = passkey_sign_up(b, opts, passkey_registration(pk, opts, origin="http://localhost:3001"))
    j = expect_refused(b, elsewhere, "INVALID_AUTHENTICATOR_ERROR", "a registration made at another origin")
    check(re.search("origin", j.get("reason") or "", re.I), f"the reason names the origin: {j.get('reason')}")
    body = expect_ok(passkey_sign_up(b, opts, passkey_registration(pk, opts)), "passkey sign up")
    user_id = body["user"]["id"]
    expect_passkey_user(body["user"], user_id, email, pk, "sign-up answer")
    eq(body["user"]["loginMethods"][0]["verified"], False, "the e-mail is not verified")
    expect_session_user(b, mode, user_id, "sign-up session")

    again = Browser(mode, b.trace)
    opts2 = passkey_register_options(again, email.upper())
    expect_refused(again, passkey_sign_up(again, opts2, passkey_registration(Passkey(), opts2)), "EMAIL_ALREADY_EXISTS_ERROR", "a second passkey sign-up with the e-mail")

    # sign in: the refused ceremonies first, each over fresh options
    s = Browser(mode, b.trace)
    so = passkey_sign_in_options(s)
    expect_refused(s, passkey_sign_in(s, so, passkey_assertion(pk, so, signer=Passkey())), "INVALID_CREDENTIALS_ERROR", "an assertion signed by another key")
    other = passkey_sign_in_options(s)
    so = passkey_sign_in_options(s)
    check(other["challenge"] != so["challenge"], "each options has its challenge")
    expect_refused(s, passkey_sign_in(s, so, passkey_assertion(pk, so, challenge=other["challenge"])), "INVALID_CREDENTIALS_ERROR", "an assertion over another options' challenge")
    so = passkey_sign_in_options(s)
    expect_refused(s, passkey_sign_in(s, so, passkey_assertion(pk, so, origin="http://localhost:3001")), "INVALID_CREDENTIALS_ERROR", "an assertion made at another origin")
    so = passkey_sign_in_options(s)
    expect_refused(s, passkey_sign_in(s, so, passkey_assertion(Passkey(), so)), "INVALID_CREDENTIALS_ERROR", "an unknown credential")

    so = passkey_sign_in_options(s)
    eq(so["rpId"], WEBAUTHN_RP_ID, "sign-in options rpId")
    eq(so["timeout"], 60000, "sign-in options timeout")
    eq(so["userVerification"], "preferred", "sign-in options userVerification")
    check(len(b64url_decode(so["challenge"])) >= 16, f"a challenge: {so['challenge']}")
    si = expect_ok(passkey_sign_in(s, so, passkey_assertion(pk, so)), "passkey sign in")
    expect_passkey_user(si["user"], user_id, email, pk, "sign-in answer")
    expect_session_user(s, mode, user_id, "sign-in session")
    check(
        decode_jwt_payload(s.current_access_token() or "")["sessionHandle"] != decode_jwt_payload(b.current_access_token() or "")["sessionHandle"],
        "a new session",
    )
    # a synced passkey (counter 0) signs in again
    s2 = Browser(mode, b.trace)
    so2 = passkey_sign_in_options(s2)
    expect_passkey_user(expect_ok(passkey_sign_in(s2, so2, passkey_assertion(pk, so2)), "passkey sign in again")["user"], user_id, email, pk, "second sign-in")
    expect_session_user(s2, mode, user_id, "second sign-in session")


def flow_webauthn_signature_counter(b: Browser, mode: str) -> None:
    """A passkey whose authenticator counts its signatures (see the node flow of the same name):
    python 0.31 verifies an assertion once; 0.30 twice (supertokens-core#1195), so there a counting
    authenticator is refused by the core's clone check on the second presentation."""
    webauthn_recipe()
    pk = Passkey(counts=True)
    u = passkey_signed_up(b, pk, "counter")
    email, user_id = u["email"], u["userId"]
    s = Browser(mode, b.trace)
    seq0 = core_seq()
    so = passkey_sign_in_options(s)
    first = passkey_assertion(pk, so)
    eq(pk.counter, 1, "the authenticator's counter")
    r = passkey_sign_in(s, so, first)
    verifications = [c for c in core_calls_since(seq0, r.request_id) if c["path"].endswith("/recipe/webauthn/signin")]
    if len(verifications) == 2:
        eq(json.loads(verifications[0]["response"])["status"], "OK", "the first verification")
        eq(json.loads(verifications[1]["response"])["status"], "INVALID_AUTHENTICATOR_ERROR", "the second verification of the same counter")
        expect_refused(s, r, "INVALID_CREDENTIALS_ERROR", "a counting authenticator through a release that verifies twice")
        so2 = passkey_sign_in_options(s)
        expect_refused(s, passkey_sign_in(s, so2, passkey_assertion(pk, so2)), "INVALID_CREDENTIALS_ERROR", "and the next counter")
        return
    eq(len(verifications), 1, f"POST /recipe/webauthn/signin calls ({verifications})")
    expect_passkey_user(expect_ok(r, "sign in, counter 1")["user"], user_id, email, pk, "sign-in answer")
    expect_session_user(s, mode, user_id, "counter 1")
    s2 = Browser(mode, b.trace)
    so2 = passkey_sign_in_options(s2)
    second = passkey_assertion(pk, so2)
    eq(pk.counter, 2, "the authenticator's counter")
    expect_ok(passkey_sign_in(s2, so2, second), "sign in, counter 2")
    expect_session_user(s2, mode, user_id, "counter 2")
    s3 = Browser(mode, b.trace)
    expect_refused(s3, passkey_sign_in(s3, so2, second), "INVALID_CREDENTIALS_ERROR", "the counter-2 assertion replayed")
    so3 = passkey_sign_in_options(s3)
    expect_refused(s3, passkey_sign_in(s3, so3, passkey_assertion(pk, so3, counter=1)), "INVALID_CREDENTIALS_ERROR", "an older counter")
    so4 = passkey_sign_in_options(s3)
    expect_ok(passkey_sign_in(s3, so4, passkey_assertion(pk, so4, counter=7)), "a higher counter")
    expect_session_user(s3, mode, user_id, "counter 7")


def flow_webauthn_algorithms(b: Browser, mode: str) -> None:
    """EdDSA and RS256 passkeys through the same SDK routes (see the node flow of the same name)."""
    webauthn_recipe()
    for alg in ("EdDSA", "RS256"):
        pk = Passkey(alg=alg)
        su = Browser(mode, b.trace)
        u = passkey_signed_up(su, pk, f"passkey-{alg.lower()}")
        email, user_id = u["email"], u["userId"]
        expect_passkey_user(u["body"]["user"], user_id, email, pk, f"{alg} sign-up answer")
        expect_session_user(su, mode, user_id, f"{alg} sign-up session")
        s = Browser(mode, b.trace)
        so = passkey_sign_in_options(s)
        expect_refused(s, passkey_sign_in(s, so, passkey_assertion(pk, so, signer=Passkey(alg=alg))), "INVALID_CREDENTIALS_ERROR", f"{alg}: an assertion signed by another key")
        so = passkey_sign_in_options(s)
        expect_passkey_user(expect_ok(passkey_sign_in(s, so, passkey_assertion(pk, so)), f"{alg} sign in")["user"], user_id, email, pk, f"{alg} sign-in answer")
        expect_session_user(s, mode, user_id, f"{alg} sign-in session")


# ---------------------------------------------------------------------------------------------
# the user-management dashboard's API (its operators' sessions: `Authorization: Bearer <session id>`)
# ---------------------------------------------------------------------------------------------


def dashboard_api(b: Browser, method: str, path: str, session_id: Optional[str] = None, body: Optional[Dict[str, Any]] = None) -> Response:
    headers = {} if session_id is None else {"authorization": f"Bearer {session_id}"}
    return b.request(method, f"/auth/dashboard/api{path}", body=body, headers=headers, auth=False)


def flow_dashboard_sign_in(b: Browser, mode: str) -> None:
    """The dashboard's own sign-in (see the node flow of the same name)."""
    email = new_email("operator")
    password = "dash-board-7"
    created = admin(b, "/test/dashboard-user", {"email": email, "password": password})
    eq(created.get("status"), "OK", f"POST /recipe/dashboard/user ({created})")
    eq(created["user"]["email"], email, "the dashboard user's e-mail")
    # an app user, with a first name in its metadata (the dashboard shows it)
    u = signed_up(b, "dashview")
    user_email, user_id = u["email"], u["userId"]
    expect_status(b.request("POST", "/metadata", body={"first_name": "Ada", "last_name": "Lovelace"}), 200, "POST /metadata")

    d = Browser(mode, b.trace)
    wrong = dashboard_api(d, "POST", "/signin", body={"email": email, "password": "dash-board-8"})
    eq(expect_status_field(wrong, "INVALID_CREDENTIALS_ERROR", "a wrong password"), {"status": "INVALID_CREDENTIALS_ERROR"}, "a wrong password")
    expect_status_field(dashboard_api(d, "POST", "/signin", body={"email": new_email("nobody"), "password": password}), "INVALID_CREDENTIALS_ERROR", "an unknown e-mail")
    one = expect_ok(dashboard_api(d, "POST", "/signin", body={"email": email, "password": password}), "dashboard sign in")
    check(re.fullmatch(r"[0-9a-f-]{36}", one.get("sessionId") or ""), f"a session id: {one.get('sessionId')}")

    count = expect_ok(dashboard_api(d, "GET", "/users/count", session_id=one["sessionId"]), "GET /auth/dashboard/api/users/count")
    check(isinstance(count.get("count"), int) and count["count"] >= 1, f"the users count: {count.get('count')}")
    details = expect_ok(dashboard_api(d, "GET", f"/user?userId={user_id}&recipeId=emailpassword", session_id=one["sessionId"]), "GET /auth/dashboard/api/user")
    eq(details["user"]["id"], user_id, "the user's id")
    eq(details["user"].get("firstName"), "Ada", "firstName from the metadata")
    eq(details["user"].get("lastName"), "Lovelace", "lastName from the metadata")
    if SDK_INFO["accountLinking"]:
        eq(details["user"].get("emails"), [user_email], "the user's e-mails")
    else:
        eq(details["user"].get("email"), user_email, "the user's e-mail")

    expect_status(dashboard_api(d, "GET", "/users/count", session_id=str(uuid.uuid4())), 401, "a made-up session id")

    two = expect_ok(dashboard_api(d, "POST", "/signin", body={"email": email.upper(), "password": password}), "dashboard sign in again (e-mail in capitals)")
    check(two["sessionId"] != one["sessionId"], "a second session")
    expect_ok(dashboard_api(d, "POST", "/signout", session_id=one["sessionId"]), "dashboard sign out")
    expect_status(dashboard_api(d, "GET", "/users/count", session_id=one["sessionId"]), 401, "the signed-out session")
    expect_ok(dashboard_api(d, "GET", "/users/count", session_id=two["sessionId"]), "the other session")

    # Changes are for the app's dashboard admins (see the node flow): this operator is none → 403.
    def set_name(session_id: str, name: str) -> Response:
        return dashboard_api(d, "PUT", "/user/metadata", session_id=session_id, body={"userId": user_id, "data": json.dumps({"first_name": name})})

    denied = set_name(two["sessionId"], "Grace")
    expect_status(denied, 403, "a change by an operator who is not an admin")
    eq(denied.field("message"), "You are not permitted to perform this operation", "the SDK's message")
    admin_email = SDK_INFO["dashboardAdmin"]
    made = admin(b, "/test/dashboard-user", {"email": admin_email, "password": "dash-admin-1"})
    check(made.get("status") in ("OK", "EMAIL_ALREADY_EXISTS_ERROR"), f"the app's admin: {made}")
    boss = expect_ok(dashboard_api(d, "POST", "/signin", body={"email": admin_email, "password": "dash-admin-1"}), "the admin signs in")
    expect_ok(set_name(boss["sessionId"], "Grace"), "a change by the admin")
    changed = expect_ok(dashboard_api(d, "GET", f"/user?userId={user_id}&recipeId=emailpassword", session_id=two["sessionId"]), "the user after the admin's change")
    eq(changed["user"].get("firstName"), "Grace", "the first name the admin set")
    expect_ok(dashboard_api(d, "POST", "/signout", session_id=boss["sessionId"]), "the admin signs out")

    removed = admin(b, "/test/dashboard-user/remove", {"email": email})
    eq(removed, {"status": "OK", "didUserExist": True}, "DELETE /recipe/dashboard/user")
    expect_status(dashboard_api(d, "GET", "/users/count", session_id=two["sessionId"]), 401, "a removed dashboard user's session")
    expect_status_field(dashboard_api(d, "POST", "/signin", body={"email": email, "password": password}), "INVALID_CREDENTIALS_ERROR", "a removed dashboard user")


FLOWS: Dict[str, Callable[[Browser, str], None]] = {
    "sign-up": flow_sign_up,
    "sign-in": flow_sign_in,
    "refresh-and-token-theft": flow_refresh_and_token_theft,
    "refresh-retry-before-promotion": flow_refresh_retry_before_promotion,
    "regenerate-claims": flow_regenerate_claims,
    "email-verification": flow_email_verification,
    "password-reset": flow_password_reset,
    "expired-access-token": flow_expired_access_token,
    "roles-claims": flow_roles_claims,
    "metadata": flow_metadata,
    "sign-out": flow_sign_out,
    "delete-user": flow_delete_user,
    "thirdparty-sign-in-up": flow_thirdparty_sign_in_up,
    "thirdparty-tenants": flow_thirdparty_tenants,
    "passwordless-email-otp": flow_passwordless_email_otp,
    "passwordless-magic-link": flow_passwordless_magic_link,
    "passwordless-max-attempts": flow_passwordless_max_attempts,
    "passwordless-expiry": flow_passwordless_expiry,
    "multitenancy-users": flow_multitenancy_users,
    "cross-version": flow_cross_version,
    "accountlinking-automatic": flow_accountlinking_automatic,
    "accountlinking-manual": flow_accountlinking_manual,
    "mfa-totp": flow_mfa_totp,
    "mfa-totp-limit": flow_mfa_totp_limit,
    "webauthn-sign-up-sign-in": flow_webauthn_sign_up_sign_in,
    "webauthn-signature-counter": flow_webauthn_signature_counter,
    "webauthn-algorithms": flow_webauthn_algorithms,
    "dashboard-sign-in": flow_dashboard_sign_in,
}


def core_seq(base: str = APP_URL) -> int:
    """The app records every request its SDK sends to the core (GET /test/core-calls)."""
    try:
        return int(HTTP.get(f"{base}/test/core-calls", params={"since": 2**53}, timeout=10).json()["seq"])
    except Exception:  # noqa: BLE001
        return 0


def core_calls_since(since: int, request_id: Optional[str] = None) -> List[Dict[str, Any]]:
    """The SDK's core calls since `since`; with `request_id`, only those made while serving that
    request (another runner may use this app at the same time: the cross-version flows)."""
    calls = HTTP.get(f"{APP_URL}/test/core-calls", params={"since": since}, timeout=10).json()["calls"]
    return calls if request_id is None else [c for c in calls if c.get("request") == request_id]


def print_core_calls(since: int, base: str = APP_URL) -> None:
    # A new connection, not the pool's: after an unhandled error (a 500 APP_ERROR) uvicorn closes the
    # connection it answered on, and the pooled one would be reset.
    try:
        calls = requests.get(f"{base}/test/core-calls", params={"since": since}, timeout=10).json()["calls"]
    except Exception as e:  # noqa: BLE001
        print(f"  (could not fetch the SDK's core calls: {e!r})")
        return
    if base != APP_URL and not calls:
        return
    which = "" if base == APP_URL else f" by the app at {base}"
    print(f"  requests the {SDK} SDK sent to the core during this flow{which} ({len(calls)}):")
    for c in calls:
        head = f"{c['method']} {c['path']}" + (f" [rid {c['rid']}]" if c.get("rid") else "")
        if c.get("request"):
            head += f" [request {c['request'][:8]}]"
        if c.get("body") is not None:
            head += " " + abbreviate(c["body"], 500)
        tail = f"ERROR {c['error']}" if c.get("error") else f"{c.get('status')} {abbreviate(c.get('response', ''), 700)}"
        print(f"    core: {head}\n      -> {tail} ({c.get('ms')} ms)")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=["cookie", "header"])
    ap.add_argument("--only", help="comma-separated flow names")
    ap.add_argument("--skip", help="comma-separated flow names left out silently")
    args = ap.parse_args()
    modes = [args.mode] if args.mode else ["cookie", "header"]
    only = set(args.only.split(",")) if args.only else None
    skip_flows = set(args.skip.split(",")) if args.skip else set()
    global SDK_INFO, CDI, CDI_SENT
    passed = failed = skipped = 0
    t0 = time.time()
    check_totp_implementation()
    check_cbor_implementation()
    info = HTTP.get(f"{APP_URL}/test/sdk-info", timeout=30)
    info.raise_for_status()
    SDK_INFO = info.json()
    CDI = max(float(v) for v in SDK_INFO["cdiSupported"])
    CDI_SENT = next(v for v in SDK_INFO["cdiSupported"] if float(v) == CDI)
    print(
        f"{SDK}: {SDK_INFO['sdk']} {SDK_INFO['version']}, CDI {','.join(SDK_INFO['cdiSupported'])}, "
        f"account linking {'yes' if SDK_INFO['accountLinking'] else 'no'}",
        flush=True,
    )
    for mode in modes:
        for name, fn in FLOWS.items():
            if only and name not in only:
                continue
            if name in skip_flows:
                continue
            if not runs_here(name):
                if only:
                    skipped += 1
                    print(
                        f"SKIP {SDK} {BACKEND} {mode} {name} (runs on {', '.join(RELEASES_OF_FLOW[name])} only; "
                        "ST_SDK_EVERY_RELEASE=1 for all)",
                        flush=True,
                    )
                continue
            WATCHED_APPS.clear()
            trace: List[str] = []
            b = Browser(mode, trace)
            seq0 = core_seq()
            seq_short = core_seq(APP_URL_SHORT) if APP_URL_SHORT else 0
            started = time.time()
            try:
                fn(b, mode)
                passed += 1
                print(f"PASS {SDK} {BACKEND} {mode} {name} ({int((time.time() - started) * 1000)} ms)", flush=True)
            except SkipFlow as e:
                skipped += 1
                print(f"SKIP {SDK} {BACKEND} {mode} {name} ({e})", flush=True)
            except Exception as e:  # noqa: BLE001 - report every failure the same way
                failed += 1
                print(f"FAIL {SDK} {BACKEND} {mode} {name} ({int((time.time() - started) * 1000)} ms)")
                print(f"  error: {type(e).__name__}: {e}")
                if not isinstance(e, FlowError):
                    print("  " + "".join(traceback.format_exception(e)[-3:]).replace("\n", "\n  "))
                print("  HTTP exchanges of this flow (browser <-> SDK app):")
                for t in trace:
                    print("  " + t.rstrip().replace("\n", "\n  "))
                print_core_calls(seq0)
                if APP_URL_SHORT:
                    print_core_calls(seq_short, APP_URL_SHORT)
                for w in WATCHED_APPS:
                    print_core_calls(w["seq"], w["base"])
                sys.stdout.flush()
    print(f"{SDK} {BACKEND}: {ACCESS_TOKENS_CHECKED} access tokens received, each with JWT header alg {EXPECT_ALG}")
    if os.environ.get("ST_SDK_EXPECT_ALG") and passed > 0 and ACCESS_TOKENS_CHECKED == 0:
        failed += 1
        print(f"FAIL {SDK} {BACKEND} - alg-check (ST_SDK_EXPECT_ALG={EXPECT_ALG} but no flow received an access token)")
    print(
        f"{SDK} {BACKEND}: {passed} passed, {failed} failed, {skipped} skipped ({int((time.time() - t0) * 1000)} ms)",
        flush=True,
    )
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
