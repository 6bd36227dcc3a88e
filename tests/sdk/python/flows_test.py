"""End-to-end flows through an SDK-backed app, driven over HTTP the way the supertokens-website
frontend SDK would drive it. Python twin of ../node/flows.test.mjs (same flows, same output).

Usage: APP_URL=http://127.0.0.1:PORT SDK=python BACKEND=memory python flows_test.py [--mode cookie|header] [--only a,b]

Prints one `PASS|FAIL <sdk> <backend> <mode> <flow> (<ms> ms)` line per flow (`SKIP ... (<reason>)`
for a flow the SDK release cannot do), on failure the HTTP exchanges of that flow, and a final
`N passed, N failed, N skipped` line. Exit code 1 on any failure.
"""

import argparse
import base64
import http.cookiejar
import copy
import json
import os
import re
import sys
import time
import traceback
import uuid
from email.utils import parsedate_to_datetime
from typing import Any, Callable, Dict, List, Optional
from urllib.parse import quote, urlparse

import requests

APP_URL = os.environ.get("APP_URL", "http://127.0.0.1:3002").rstrip("/")
# Same app, second process, pointed at a core app whose access tokens live 2 s.
APP_URL_SHORT = os.environ.get("APP_URL_SHORT", "").rstrip("/")
SDK = os.environ.get("SDK", "python")
BACKEND = os.environ.get("BACKEND", "memory")
# The other releases' apps on the same core (run.sh: PEER_APPS="node-3.0=http://…,node=http://…"),
# for the cross-version flow: a session started through one release is used through another.
PEERS = [
    {"name": kv.split("=", 1)[0], "url": kv.split("=", 1)[1].rstrip("/")}
    for kv in os.environ.get("PEER_APPS", "").split(",")
    if kv
]
# The newest release of each SDK (`node`, `python`) runs every flow; the older ones skip the flows
# in NEWEST_ONLY (not printed unless asked for with --only).
IS_NEWEST = SDK in ("node", "python")
NEWEST_ONLY = {"cross-version"}
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
    def __init__(self, status: int, text: str, headers: Any):
        self.status = status
        self.text = text
        self.headers = headers
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
        res = Response(r.status_code, r.text, r.headers)
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
# flows
# ---------------------------------------------------------------------------------------------


def flow_sign_up(b: Browser, mode: str) -> None:
    """Sign up, then the same e-mail again (FIELD_ERROR)."""
    seq0 = core_seq()
    email = new_email("signup")
    body = expect_ok(b.sign_up(email, PASSWORD), "sign up")
    # Each release speaks one CDI version (the newest of its list, all served by the core): every
    # request it sends to the core carries it.
    sent = [c.get("cdiVersion") for c in core_calls_since(seq0) if not c["path"].startswith("/apiversion")]
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

    seq_before = core_seq()
    p = fresh.request("GET", "/protected")
    expect_status(p, 200, "GET /protected")
    eq(
        [f"{c['method']} {c['path']}" for c in core_calls_since(seq_before)],
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
        [f"{c['method']} {c['path']}" for c in core_calls_since(seq_before)],
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
    """Cross-version sessions (teams upgrade SDKs while sessions are live): with every other
    release's app on the same core (PEER_APPS), a session started through the other release is
    used and refreshed through this one, and the other way round. A CDI 3.x release gets v4
    access tokens (no `rsub`), 4.0+ gets v5; every release verifies both offline (each SDK accepts
    any JWT header `version` >= 3) and the core verifies and refreshes either at either CDI
    version, minting the token version of the refreshing release's CDI."""
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
    "cross-version": flow_cross_version,
}


def core_seq(base: str = APP_URL) -> int:
    """The app records every request its SDK sends to the core (GET /test/core-calls)."""
    try:
        return int(HTTP.get(f"{base}/test/core-calls", params={"since": 2**53}, timeout=10).json()["seq"])
    except Exception:  # noqa: BLE001
        return 0


def core_calls_since(since: int) -> List[Dict[str, Any]]:
    return HTTP.get(f"{APP_URL}/test/core-calls", params={"since": since}, timeout=10).json()["calls"]


def print_core_calls(since: int, base: str = APP_URL) -> None:
    try:
        calls = HTTP.get(f"{base}/test/core-calls", params={"since": since}, timeout=10).json()["calls"]
    except Exception as e:  # noqa: BLE001
        print(f"  (could not fetch the SDK's core calls: {e!r})")
        return
    if base != APP_URL and not calls:
        return
    which = "" if base == APP_URL else f" by the app at {base}"
    print(f"  requests the {SDK} SDK sent to the core during this flow{which} ({len(calls)}):")
    for c in calls:
        head = f"{c['method']} {c['path']}" + (f" [rid {c['rid']}]" if c.get("rid") else "")
        if c.get("body") is not None:
            head += " " + abbreviate(c["body"], 500)
        tail = f"ERROR {c['error']}" if c.get("error") else f"{c.get('status')} {abbreviate(c.get('response', ''), 700)}"
        print(f"    core: {head}\n      -> {tail} ({c.get('ms')} ms)")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=["cookie", "header"])
    ap.add_argument("--only", help="comma-separated flow names")
    args = ap.parse_args()
    modes = [args.mode] if args.mode else ["cookie", "header"]
    only = set(args.only.split(",")) if args.only else None
    global SDK_INFO, CDI, CDI_SENT
    passed = failed = skipped = 0
    t0 = time.time()
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
            if name in NEWEST_ONLY and not IS_NEWEST:
                if only:
                    skipped += 1
                    print(f"SKIP {SDK} {BACKEND} {mode} {name} (runs in the newest releases' runners only)", flush=True)
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
    print(
        f"{SDK} {BACKEND}: {passed} passed, {failed} failed, {skipped} skipped ({int((time.time() - t0) * 1000)} ms)",
        flush=True,
    )
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
