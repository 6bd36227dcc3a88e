// End-to-end flows through an SDK-backed app (node or python), driven over HTTP the way the
// supertokens-website frontend SDK would drive it.
//
// Usage: APP_URL=http://127.0.0.1:PORT SDK=node BACKEND=memory node flows.test.mjs [--mode cookie|header] [--only flow,…] [--skip flow,…]
//
// Prints one `PASS|FAIL <sdk> <backend> <mode> <flow> (<ms> ms)` line per flow (`SKIP ... (<reason>)`
// for a flow the SDK release cannot do), on failure the HTTP exchanges of that flow, and a final
// `N passed, N failed, N skipped` line. Exit code 1 on any failure.
// (The python flows_test.py does the same; both SDK apps expose the same routes.)

import assert from "node:assert/strict";
import { createHash, createHmac, generateKeyPair, randomBytes, randomUUID, sign as cryptoSign } from "node:crypto";
import { promisify } from "node:util";

const APP_URL = (process.env.APP_URL || "http://127.0.0.1:3001").replace(/\/$/, "");
// Same app, second process, pointed at a core app whose access tokens live 2 s.
const APP_URL_SHORT = (process.env.APP_URL_SHORT || "").replace(/\/$/, "");
// Same app, third process, with account linking, MFA and TOTP on (ST_APP_LINKING=1), for the
// account-linking and MFA flows; run.sh starts it for the releases those flows run on.
const APP_URL_LINKING = (process.env.APP_URL_LINKING || "").replace(/\/$/, "");
const SDK = process.env.SDK || "node";
const BACKEND = process.env.BACKEND || "memory";
// The other releases' apps on the same core (run.sh: PEER_APPS="node-3.0=http://…,python=http://…"),
// for the cross-version flow: a session started through one release is used through another.
const PEERS = (process.env.PEER_APPS || "")
    .split(",")
    .filter(Boolean)
    .map((kv) => ({ name: kv.slice(0, kv.indexOf("=")), url: kv.slice(kv.indexOf("=") + 1).replace(/\/$/, "") }));
// The mock OAuth/OIDC provider (tests/sdk/mock-oauth/provider.mjs) the apps' ThirdParty providers use.
const MOCK_OAUTH = (process.env.ST_MOCK_OAUTH_URL || "http://127.0.0.1:4000").replace(/\/$/, "");
// The redirect URI registered "on the provider's dashboard": the frontend's callback page.
const OAUTH_REDIRECT = "http://localhost:3000/auth/callback/mock";
// Flows that run on some releases only (the CPU budget of run.sh: about 4 minutes on 2 cores):
// the others leave them out silently, or print SKIP when asked for them with --only.
// ST_SDK_EVERY_RELEASE=1 runs every flow on every release (all pass).
const ISSUE20_RELEASES = ["node", "python", "node-3.0"];
// account linking and MFA: the newest releases (the others with ST_SDK_EVERY_RELEASE=1, where the
// recipes exist: of the tested releases account linking from node 16, MFA and TOTP from node 18 and
// python 0.26; the others SKIP)
const ISSUE21_RELEASES = ["node", "python"];
const WEBAUTHN_RELEASES = ["node", "node-5.3", "python", "python-5.3"];
const RELEASES_OF_FLOW = {
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
    // passkeys: the releases with the WebAuthn recipe (supertokens-node 23+, supertokens-python
    // 0.30+; the others SKIP with ST_SDK_EVERY_RELEASE=1)
    "webauthn-sign-up-sign-in": WEBAUTHN_RELEASES,
    "webauthn-signature-counter": WEBAUTHN_RELEASES,
    "webauthn-algorithms": WEBAUTHN_RELEASES,
};
function runsHere(flow) {
    return process.env.ST_SDK_EVERY_RELEASE === "1" || !RELEASES_OF_FLOW[flow] || RELEASES_OF_FLOW[flow].includes(SDK);
}

const args = process.argv.slice(2);
function argValue(name) {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
}
const MODES = argValue("--mode") ? [argValue("--mode")] : ["cookie", "header"];
const ONLY = argValue("--only");
// Flows left out silently (run.sh runs the account-linking and MFA flows in a runner of their own).
const SKIP_FLOWS = (argValue("--skip") || "").split(",").filter(Boolean);

// What the SDK release behind APP_URL is (GET /test/sdk-info, read once in main()): older releases
// speak older CDI versions, so some checks differ (e.g. no account linking before CDI 4.0).
let SDK_INFO = { version: "?", cdiSupported: [], accountLinking: true };
let CDI = 0; // the newest CDI version the SDK speaks, as a number (3.0, 4.0, 5.1, ...)
let CDI_SENT = ""; // the same as the SDK writes it in its `cdi-version` header

// A flow that this SDK release cannot do (the feature did not exist yet) calls skip(reason): it is
// reported as `SKIP ... (<reason>)`, never as a pass.
class SkipFlow extends Error {}
function skip(reason) {
    throw new SkipFlow(reason);
}

// ---------------------------------------------------------------------------------------------
// A tiny browser: cookie jar with path matching and expiry, anti-csrf header, header-mode tokens.
// ---------------------------------------------------------------------------------------------

function decodeJwtPayload(jwt) {
    const part = jwt.split(".")[1];
    return JSON.parse(Buffer.from(part, "base64url").toString("utf8"));
}
function decodeJwtHeader(jwt) {
    return JSON.parse(Buffer.from(jwt.split(".")[0], "base64url").toString("utf8"));
}
// The algorithm of every access token the browser receives (the JWT header's `alg`): the core's
// `access_token_signing_algorithm`, which run.sh passes as ST_SDK_EXPECT_ALG (its ES256 / EdDSA
// passes, ST_SDK_SIGNING_ALG); RS256, the core's default, otherwise. So a pass whose setting the
// core ignored fails, and the offline checks (`/protected`) prove the SDK verified that algorithm.
const EXPECT_ALG = process.env.ST_SDK_EXPECT_ALG || "RS256";
let ACCESS_TOKENS_CHECKED = 0;
function expectAccessTokenAlg(token, what) {
    const alg = decodeJwtHeader(token).alg;
    assert.equal(alg, EXPECT_ALG, `${what}: the access token's JWT header alg is ${alg}, not ${EXPECT_ALG}`);
    ACCESS_TOKENS_CHECKED++;
}
// The access-token version the core mints for a CDI version: v4 (`tId`) at 3.x, v5 (`rsub`) from 4.0.
function tokenVersionFor(cdi) {
    return cdi >= 4.0 ? "5" : "4";
}

class Browser {
    constructor(mode, trace, base = APP_URL) {
        this.base = base;
        this.mode = mode; // "cookie" | "header"
        this.trace = trace;
        this.cookies = new Map(); // name -> {value, path, expires}
        this.antiCsrf = undefined;
        this.accessToken = undefined; // header mode
        this.refreshToken = undefined; // header mode
        this.frontToken = undefined;
    }

    // --- state snapshots, for replaying old tokens ---
    snapshot() {
        return {
            cookies: new Map([...this.cookies].map(([k, v]) => [k, { ...v }])),
            antiCsrf: this.antiCsrf,
            accessToken: this.accessToken,
            refreshToken: this.refreshToken,
            frontToken: this.frontToken,
        };
    }
    restore(s) {
        this.cookies = new Map([...s.cookies].map(([k, v]) => [k, { ...v }]));
        this.antiCsrf = s.antiCsrf;
        this.accessToken = s.accessToken;
        this.refreshToken = s.refreshToken;
        this.frontToken = s.frontToken;
    }
    /** The current access token, whichever transport carries it. */
    currentAccessToken() {
        if (this.mode === "header") return this.accessToken;
        const c = this.liveCookie("sAccessToken", "/");
        return c && c.value;
    }
    currentRefreshToken() {
        if (this.mode === "header") return this.refreshToken;
        const c = this.liveCookie("sRefreshToken", "/auth/session/refresh");
        return c && c.value;
    }
    hasSession() {
        return this.frontToken !== undefined;
    }

    liveCookie(name, path) {
        const c = this.cookies.get(name);
        if (!c) return undefined;
        if (c.expires !== undefined && c.expires <= Date.now()) return undefined;
        if (!pathMatches(path, c.path)) return undefined;
        return c;
    }

    cookieHeader(path) {
        const parts = [];
        for (const [name, c] of this.cookies) {
            if (c.expires !== undefined && c.expires <= Date.now()) continue;
            if (!pathMatches(path, c.path)) continue;
            parts.push(`${name}=${c.value}`);
        }
        return parts.join("; ");
    }

    storeSetCookie(sc) {
        const [pair, ...attrs] = sc.split(";").map((s) => s.trim());
        const eq = pair.indexOf("=");
        const name = pair.slice(0, eq);
        const value = pair.slice(eq + 1);
        let path = "/";
        let expires;
        for (const a of attrs) {
            const [k, ...rest] = a.split("=");
            const v = rest.join("=");
            const key = k.toLowerCase();
            if (key === "path") path = v || "/";
            else if (key === "expires") expires = Date.parse(v);
            else if (key === "max-age") expires = Date.now() + Number(v) * 1000;
        }
        if (expires !== undefined && expires <= Date.now()) this.cookies.delete(name);
        else this.cookies.set(name, { value, path, expires });
    }

    async request(method, path, { body, headers = {}, auth = true, authToken } = {}) {
        const h = { ...headers };
        if (body !== undefined) h["content-type"] = "application/json";
        // What supertokens-website sends on every request it intercepts.
        h["st-auth-mode"] = this.mode;
        // The app keeps it with the core calls this request causes (coreCallsSince(seq, requestId)).
        const requestId = randomUUID();
        h["x-st-test-request"] = requestId;
        if (auth) {
            if (this.antiCsrf !== undefined) h["anti-csrf"] = this.antiCsrf;
            if (this.mode === "header") {
                const t = authToken !== undefined ? authToken : this.accessToken;
                if (t !== undefined) h["authorization"] = `Bearer ${t}`;
            }
            const ch = this.cookieHeader(path.split("?")[0]);
            if (ch) h["cookie"] = ch;
        }
        const started = Date.now();
        const res = await fetch(this.base + path, {
            method,
            headers: h,
            body: body === undefined ? undefined : JSON.stringify(body),
            redirect: "manual",
        });
        const text = await res.text();
        let json;
        try {
            json = JSON.parse(text);
        } catch {
            json = undefined;
        }
        // Absorb what the SDK sent back, like supertokens-website does.
        for (const sc of res.headers.getSetCookie()) this.storeSetCookie(sc);
        const ac = res.headers.get("anti-csrf");
        if (ac !== null) this.antiCsrf = ac === "remove" ? undefined : ac;
        const at = res.headers.get("st-access-token");
        if (at !== null) this.accessToken = at === "" ? undefined : at;
        const rt = res.headers.get("st-refresh-token");
        if (rt !== null) this.refreshToken = rt === "" ? undefined : rt;
        const ft = res.headers.get("front-token");
        if (ft !== null) this.frontToken = ft === "remove" ? undefined : ft;
        const newAccessTokens = [];
        if (at !== null && at !== "") newAccessTokens.push(at);
        for (const sc of res.headers.getSetCookie()) {
            const m = /^sAccessToken=([^;]+)/.exec(sc);
            if (m && m[1].includes(".")) newAccessTokens.push(m[1]);
        }

        const interesting = {};
        for (const k of ["front-token", "anti-csrf", "st-access-token", "st-refresh-token"]) {
            const v = res.headers.get(k);
            if (v !== null) interesting[k] = abbreviate(v);
        }
        const setCookies = res.headers.getSetCookie().map((c) => abbreviate(c, 90));
        this.trace.push(
            `${this.base === APP_URL ? "" : "[" + this.base + "] "}${method} ${path} ${body === undefined ? "" : JSON.stringify(body)}\n` +
                `    req headers: ${JSON.stringify(redactHeaders(h))}\n` +
                `    -> ${res.status} (${Date.now() - started} ms) ${abbreviate(text, 600)}\n` +
                (Object.keys(interesting).length ? `    resp headers: ${JSON.stringify(interesting)}\n` : "") +
                (setCookies.length ? `    set-cookie: ${JSON.stringify(setCookies)}\n` : ""),
        );
        for (const t of newAccessTokens) expectAccessTokenAlg(t, `${method} ${path}`);
        return { status: res.status, json, text, headers: res.headers, requestId };
    }

    // --- the app's API, as the frontend would call it ---
    signUp(email, password) {
        return this.request("POST", "/auth/signup", {
            body: { formFields: [{ id: "email", value: email }, { id: "password", value: password }] },
            headers: { rid: "emailpassword" },
        });
    }
    signIn(email, password) {
        return this.request("POST", "/auth/signin", {
            body: { formFields: [{ id: "email", value: email }, { id: "password", value: password }] },
            headers: { rid: "emailpassword" },
        });
    }
    async refresh() {
        // supertokens-website sends the refresh token (cookie with path /auth/session/refresh, or
        // `Authorization: Bearer <refresh token>` in header mode) and the anti-csrf token.
        const h = { rid: "session" };
        if (this.mode === "header") {
            return this.request("POST", "/auth/session/refresh", {
                headers: h,
                authToken: this.refreshToken === undefined ? "" : this.refreshToken,
            });
        }
        return this.request("POST", "/auth/session/refresh", { headers: h });
    }
    signOut() {
        return this.request("POST", "/auth/signout", { body: {}, headers: { rid: "session" } });
    }
}

function pathMatches(reqPath, cookiePath) {
    if (reqPath === cookiePath) return true;
    if (!reqPath.startsWith(cookiePath)) return false;
    return cookiePath.endsWith("/") || reqPath[cookiePath.length] === "/";
}

function abbreviate(s, n = 60) {
    s = String(s);
    return s.length > n ? s.slice(0, n) + `…(${s.length} chars)` : s;
}

function redactHeaders(h) {
    const out = {};
    for (const [k, v] of Object.entries(h)) out[k] = abbreviate(v, 70);
    return out;
}

// ---------------------------------------------------------------------------------------------
// assertions
// ---------------------------------------------------------------------------------------------

function expectStatus(res, code, what) {
    assert.equal(res.status, code, `${what}: expected HTTP ${code}, got ${res.status}: ${abbreviate(res.text, 400)}`);
}
function expectOk(res, what) {
    expectStatus(res, 200, what);
    assert.equal(res.json && res.json.status, "OK", `${what}: expected status OK, got ${abbreviate(res.text, 400)}`);
    return res.json;
}

const PASSWORD = "correct-horse-1";
function newEmail(tag) {
    return `${tag}-${randomUUID().slice(0, 8)}@example.com`;
}

async function signedUp(b, tag) {
    const email = newEmail(tag);
    const r = await b.signUp(email, PASSWORD);
    const body = expectOk(r, "sign up");
    assert.ok(b.hasSession(), "sign up should start a session (front-token header)");
    return { email, userId: body.user.id };
}

function assertSessionTransport(b, mode) {
    if (mode === "header") {
        assert.ok(b.accessToken, "header mode: st-access-token response header expected");
        assert.ok(b.refreshToken, "header mode: st-refresh-token response header expected");
        assert.equal(b.cookies.size, 0, `header mode: no cookies expected, got ${[...b.cookies.keys()]}`);
    } else {
        assert.ok(b.cookies.get("sAccessToken"), "cookie mode: sAccessToken cookie expected");
        assert.ok(b.cookies.get("sRefreshToken"), "cookie mode: sRefreshToken cookie expected");
        assert.equal(b.cookies.get("sRefreshToken").path, "/auth/session/refresh");
        assert.ok(b.antiCsrf, "cookie mode with antiCsrf VIA_TOKEN: anti-csrf response header expected");
        assert.equal(b.accessToken, undefined, "cookie mode: no st-access-token header expected");
    }
}


// ---------------------------------------------------------------------------------------------
// third party, passwordless, multitenancy helpers
// ---------------------------------------------------------------------------------------------

function rand8() {
    return randomUUID().slice(0, 8);
}

// A user at the mock provider (what they would type on its login page).
function mockUser(tag, emailVerified = true) {
    const id = rand8();
    return { sub: `${tag}-${id}`, email: `${tag}-${id}@idp.example.com`, email_verified: emailVerified };
}

// A German mobile number (+49 151 and 8 digits, valid for libphonenumber in both SDKs).
function newPhone() {
    return "+49151" + String(Math.floor(Math.random() * 1e8)).padStart(8, "0");
}

// A provider config for the core (Multitenancy.createOrUpdateThirdPartyConfig): the mock, with the
// tenant's own client; a client id ending in "-pkce" is a public client (no secret, PKCE).
function tenantProvider(clientId, name) {
    const client = clientId.endsWith("-pkce")
        ? { clientId, scope: ["openid", "email"] }
        : { clientId, clientSecret: `secret-${clientId}`, scope: ["openid", "email"] };
    return {
        thirdPartyId: "mock",
        name,
        clients: [client],
        authorizationEndpoint: `${MOCK_OAUTH}/authorize`,
        authorizationEndpointQueryParams: { prompt: "login" },
        tokenEndpoint: `${MOCK_OAUTH}/token`,
        userInfoEndpoint: `${MOCK_OAUTH}/userinfo`,
        jwksURI: `${MOCK_OAUTH}/jwks`,
        userInfoMap: {
            fromUserInfoAPI: { userId: "sub", email: "email", emailVerified: "email_verified" },
            fromIdTokenPayload: { userId: "sub", email: "email", emailVerified: "email_verified" },
        },
    };
}

async function mockSeq() {
    return (await (await fetch(`${MOCK_OAUTH}/mock/log?since=${Number.MAX_SAFE_INTEGER}`)).json()).seq;
}
async function mockRequestsSince(seq) {
    return (await (await fetch(`${MOCK_OAUTH}/mock/log?since=${seq}`)).json()).requests;
}

// The frontend's social login: the authorisation URL from the SDK, the provider's login page (the
// mock logs in `user` and redirects back with a code), then the SDK's sign-in-up with that code.
async function socialSignIn(b, { tenantId, thirdPartyId = "mock", user, clientId }) {
    const prefix = tenantId ? `/auth/${tenantId}` : "/auth";
    const au = await b.request(
        "GET",
        `${prefix}/authorisationurl?thirdPartyId=${thirdPartyId}&redirectURIOnProviderDashboard=${encodeURIComponent(OAUTH_REDIRECT)}`,
        { headers: { rid: "thirdparty" } },
    );
    const a = expectOk(au, `GET ${prefix}/authorisationurl`);
    const url = new URL(a.urlWithQueryParams);
    assert.equal(`${url.origin}${url.pathname}`, `${MOCK_OAUTH}/authorize`, "the authorisation URL is the provider's authorizationEndpoint");
    assert.equal(url.searchParams.get("client_id"), clientId, "client_id in the authorisation URL");
    assert.equal(url.searchParams.get("redirect_uri"), OAUTH_REDIRECT);
    const state = rand8();
    url.searchParams.set("state", state);
    url.searchParams.set("mock_user", Buffer.from(JSON.stringify(user)).toString("base64url"));
    const r = await fetch(url, { redirect: "manual" });
    const text = await r.text();
    b.trace.push(`[provider] GET ${abbreviate(url.toString(), 300)}\n    -> ${r.status} ${abbreviate(text, 200)} location: ${r.headers.get("location")}\n`);
    assert.equal(r.status, 302, `the provider's authorize page: ${text}`);
    const back = new URL(r.headers.get("location"));
    assert.equal(back.searchParams.get("state"), state, "state comes back");
    const redirectURIInfo = {
        redirectURIOnProviderDashboard: OAUTH_REDIRECT,
        redirectURIQueryParams: Object.fromEntries(back.searchParams),
    };
    if (a.pkceCodeVerifier) redirectURIInfo.pkceCodeVerifier = a.pkceCodeVerifier;
    const res = await b.request("POST", `${prefix}/signinup`, {
        body: { thirdPartyId, redirectURIInfo },
        headers: { rid: "thirdparty" },
    });
    return { authUrl: url, pkce: a.pkceCodeVerifier !== undefined, res };
}

// `createdNewRecipeUser` (account linking) or `createdNewUser` (before).
function createdNew(body) {
    return body.createdNewRecipeUser !== undefined ? body.createdNewRecipeUser : body.createdNewUser;
}

// The first login method of a sign-in answer's user, in one shape for every release: with account
// linking {id, loginMethods: [...]}, before {id, email | phoneNumber | thirdParty, tenantIds}.
function userView(u) {
    if (Array.isArray(u.loginMethods)) {
        const lm = u.loginMethods[0];
        return {
            id: u.id,
            recipeId: lm.recipeId,
            email: lm.email,
            phoneNumber: lm.phoneNumber,
            thirdParty: lm.thirdParty,
            verified: lm.verified,
            tenantIds: [...lm.tenantIds].sort(),
        };
    }
    return {
        id: u.id,
        email: u.email,
        phoneNumber: u.phoneNumber,
        thirdParty: u.thirdParty,
        tenantIds: [...(u.tenantIds || [])].sort(),
    };
}

async function admin(b, path, body) {
    const r = await b.request("POST", path, { body, auth: false });
    expectStatus(r, 200, `POST ${path}`);
    return r.json;
}

async function createTenant(b, tenantId, { coreConfig, providers, requiredSecondaryFactors } = {}) {
    const t = await admin(b, "/test/tenant", { tenantId, coreConfig, providers, requiredSecondaryFactors });
    assert.equal(t.status, "OK", `create tenant ${tenantId}: ${JSON.stringify(t)}`);
    return t;
}

// The core's user object through the SDK's getUser (releases with account linking), or undefined.
async function coreUser(b, userId) {
    if (!SDK_INFO.accountLinking) return undefined;
    const r = await b.request("GET", `/test/user?userId=${encodeURIComponent(userId)}`, { auth: false });
    return expectOk(r, "GET /test/user").user;
}

function pwlPrefix(tenantId) {
    return tenantId ? `/auth/${tenantId}` : "/auth";
}
async function createCode(b, contact, tenantId) {
    const body = contact.startsWith("+") ? { phoneNumber: contact } : { email: contact };
    const r = await b.request("POST", `${pwlPrefix(tenantId)}/signinup/code`, { body, headers: { rid: "passwordless" } });
    const j = expectOk(r, `POST ${pwlPrefix(tenantId)}/signinup/code`);
    assert.equal(j.flowType, "USER_INPUT_CODE_AND_MAGIC_LINK");
    assert.ok(j.deviceId && j.preAuthSessionId, "deviceId and preAuthSessionId");
    return j;
}
async function lastCode(b, contact) {
    const r = await b.request("GET", `/test/last-code?contact=${encodeURIComponent(contact)}`, { auth: false });
    return expectOk(r, `the code sent to ${contact}`);
}
function consumeOtp(b, dev, userInputCode, tenantId) {
    return b.request("POST", `${pwlPrefix(tenantId)}/signinup/code/consume`, {
        body: { preAuthSessionId: dev.preAuthSessionId, deviceId: dev.deviceId, userInputCode },
        headers: { rid: "passwordless" },
    });
}
function consumeLink(b, preAuthSessionId, linkCode, tenantId) {
    return b.request("POST", `${pwlPrefix(tenantId)}/signinup/code/consume`, {
        body: { preAuthSessionId, linkCode },
        headers: { rid: "passwordless" },
    });
}
// A code that is not `code` (same length, every digit changed).
function wrongCode(code) {
    return [...code].map((c) => (/[0-9]/.test(c) ? String((Number(c) + 1) % 10) : c === "a" ? "b" : "a")).join("");
}
function expectStatusField(res, status, what) {
    expectStatus(res, 200, what);
    assert.equal(res.json && res.json.status, status, `${what}: ${abbreviate(res.text, 400)}`);
    return res.json;
}
// A passwordless sign-in by OTP from scratch: code, captured code, consume.
async function passwordlessSignIn(b, contact, tenantId) {
    const dev = await createCode(b, contact, tenantId);
    const sent = await lastCode(b, contact);
    assert.equal(sent.preAuthSessionId, dev.preAuthSessionId);
    return { dev, sent, body: expectOk(await consumeOtp(b, dev, sent.userInputCode, tenantId), "consume the code") };
}

// ---------------------------------------------------------------------------------------------
// account linking and MFA (the linking app, APP_URL_LINKING)
// ---------------------------------------------------------------------------------------------

// The linking app's /test/sdk-info, read once.
let LINKING_INFO;
// The linking app must run (run.sh starts it for the releases of these flows) and the release
// must have the recipes; else the flow is a SKIP with the reason.
async function linkingApp(needMfa) {
    if (!SDK_INFO.accountLinking) skip(`no account linking in ${SDK_INFO.sdk} ${SDK_INFO.version} (CDI ${CDI_SENT})`);
    if (!APP_URL_LINKING) skip("no linking app (APP_URL_LINKING is empty; run.sh starts it for the releases of these flows)");
    if (LINKING_INFO === undefined) LINKING_INFO = await sdkInfoOf(APP_URL_LINKING);
    assert.equal(LINKING_INFO.linkingApp, true, "the app at APP_URL_LINKING runs with ST_APP_LINKING=1");
    if (!LINKING_INFO.accountLinkingRecipe) skip(`no AccountLinking recipe in ${LINKING_INFO.sdk} ${LINKING_INFO.version}`);
    if (needMfa && !LINKING_INFO.mfa) skip(`no MultiFactorAuth / TOTP recipe in ${LINKING_INFO.sdk} ${LINKING_INFO.version}`);
    WATCHED_APPS.push({ base: APP_URL_LINKING, seq: await coreSeq(APP_URL_LINKING) });
}

// The SDK's account-linking functions through the linking app (POST /test/accountlinking).
function accountLinking(b, op, recipeUserId, primaryUserId) {
    return admin(b, "/test/accountlinking", { op, recipeUserId, primaryUserId });
}

// A user's login methods, comparable: sorted by recipe user id, the fields the flows check.
function loginMethods(user) {
    return user.loginMethods
        .map((lm) => ({
            recipeId: lm.recipeId,
            recipeUserId: lm.recipeUserId,
            email: lm.email,
            thirdParty: lm.thirdParty,
            verified: lm.verified,
        }))
        .sort((x, y) => (x.recipeUserId < y.recipeUserId ? -1 : 1));
}
function lm(recipeId, recipeUserId, email, verified, thirdParty) {
    return { recipeId, recipeUserId, email, thirdParty, verified };
}
// The user object (toJson) has `user.id`, `isPrimaryUser` and exactly these login methods.
function expectUser(user, id, isPrimary, methods, what) {
    assert.ok(user, `${what}: a user object`);
    assert.equal(user.id, id, `${what}: user id`);
    assert.equal(user.isPrimaryUser, isPrimary, `${what}: isPrimaryUser`);
    const want = [...methods].sort((x, y) => (x.recipeUserId < y.recipeUserId ? -1 : 1));
    assert.deepEqual(loginMethods(user), want, `${what}: login methods`);
    // the user's account info is the union of its login methods'
    const emails = [...new Set(methods.map((m) => m.email).filter(Boolean))].sort();
    assert.deepEqual([...user.emails].sort(), emails, `${what}: emails`);
    assert.equal(user.thirdParty.length, methods.filter((m) => m.thirdParty).length, `${what}: thirdParty`);
    // a linked user joined when its first login method did
    assert.equal(user.timeJoined, Math.min(...user.loginMethods.map((m) => m.timeJoined)), `${what}: timeJoined is the earliest login method's`);
}

// The session the browser holds: sub (the user) and rsub (the login method) in the access token,
// and what the SDK reports for it with checkDatabase.
async function expectSessionOf(br, userId, recipeUserId, what) {
    const p = decodeJwtPayload(br.currentAccessToken());
    assert.equal(p.sub, userId, `${what}: sub`);
    assert.equal(p.rsub, recipeUserId, `${what}: rsub`);
    const r = await br.request("GET", "/protected-db");
    expectStatus(r, 200, `${what}: GET /protected-db`);
    assert.equal(r.json.userId, userId, `${what}: /protected-db userId`);
    assert.equal(r.json.recipeUserId, recipeUserId, `${what}: /protected-db recipeUserId`);
    return p;
}

// RFC 4648 base32 (the core's TOTP secrets: upper case, no padding).
function base32Decode(s) {
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let bits = 0;
    let value = 0;
    const out = [];
    for (const c of s.replace(/=+$/, "").toUpperCase()) {
        const i = alphabet.indexOf(c);
        if (i < 0) throw new Error(`not base32: ${s}`);
        value = (value << 5) | i;
        bits += 5;
        if (bits >= 8) {
            out.push((value >>> (bits - 8)) & 0xff);
            bits -= 8;
        }
    }
    return Buffer.from(out);
}
// RFC 6238 TOTP (HMAC-SHA1, 6 digits, period 30 s) of a base32 secret at time `ms`, computed here.
function totpAt(secret, ms, period = 30, digits = 6) {
    return hotp(base32Decode(secret), Math.floor(ms / 1000 / period), digits);
}
function hotp(key, counter, digits) {
    const msg = Buffer.alloc(8);
    msg.writeBigUInt64BE(BigInt(counter));
    const h = createHmac("sha1", key).update(msg).digest();
    const off = h[h.length - 1] & 0x0f;
    const bin = ((h[off] & 0x7f) << 24) | (h[off + 1] << 16) | (h[off + 2] << 8) | h[off + 3];
    return String(bin % 10 ** digits).padStart(digits, "0");
}
// The RFC 6238 appendix B vectors (SHA1, the ASCII secret "12345678901234567890"), 8 and 6 digits:
// the runner checks its own TOTP before any flow uses it.
function checkTotpImplementation() {
    const key = Buffer.from("12345678901234567890");
    assert.equal(base32Decode("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ").toString(), "12345678901234567890");
    for (const [t, code] of [[59, "94287082"], [1111111109, "07081804"], [1234567890, "89005924"], [20000000000, "65353130"]]) {
        assert.equal(hotp(key, Math.floor(t / 30), 8), code, `RFC 6238 vector at T=${t}`);
    }
    assert.equal(totpAt("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", 59_000), "287082");
}
// A valid code for the device that was not used yet: the current period's, or the next one's (the
// SDK's devices have skew 1, so both are accepted for the next 30 s).
function freshTotp(secret, used) {
    for (const ms of [Date.now(), Date.now() + 30_000]) {
        const c = totpAt(secret, ms);
        if (!used.has(c)) {
            used.add(c);
            return c;
        }
    }
    throw new Error("no unused TOTP code in this period and the next");
}

// The session's `st-mfa` claim: {c: {factor: time completed}, v: requirements satisfied}.
function mfaClaim(br) {
    return decodeJwtPayload(br.currentAccessToken())["st-mfa"];
}
// GET /protected refused by the MFA claim validator (403 invalid claim, st-mfa).
async function expectMfaRequired(br, what) {
    const r = await br.request("GET", "/protected");
    expectStatus(r, 403, `${what}: GET /protected before the second factor`);
    const errs = (r.json && r.json.claimValidationErrors) || [];
    assert.deepEqual(errs.map((e) => e.id), ["st-mfa"], `${what}: the claim that failed: ${r.text}`);
}
function totpApi(br, prefix, path, body) {
    return br.request("POST", `${prefix}/totp/${path}`, { body, headers: { rid: "totp" } });
}


// ---------------------------------------------------------------------------------------------
// passkeys: the browser's WebAuthn part and a software authenticator (as st_tests::webauthn in
// tests/src/webauthn.rs): P-256, Ed25519 and RSA keys, real CBOR attestation objects and COSE keys,
// real signatures over authenticatorData ‖ SHA-256(clientDataJSON)
// ---------------------------------------------------------------------------------------------

// Where the "browser" runs: the apps' websiteDomain (the SDK's default WebAuthn origin); the
// relying party is the apiDomain's host (the SDK's default rpId), checked in the options.
const WEBAUTHN_ORIGIN = "http://localhost:3000";
const WEBAUTHN_RP_ID = "localhost";

// Minimal CBOR (RFC 8949): a number is an integer, a Buffer a byte string, a string a text string,
// a Map a map (entries in their order).
function cborHead(major, n) {
    const m = major << 5;
    if (n < 24) return Buffer.from([m | n]);
    if (n < 0x100) return Buffer.from([m | 24, n]);
    if (n < 0x10000) return Buffer.from([m | 25, n >> 8, n & 0xff]);
    const b = Buffer.alloc(5);
    b[0] = m | 26;
    b.writeUInt32BE(n, 1);
    return b;
}
function cbor(v) {
    if (typeof v === "number") return v >= 0 ? cborHead(0, v) : cborHead(1, -1 - v);
    if (Buffer.isBuffer(v)) return Buffer.concat([cborHead(2, v.length), v]);
    if (typeof v === "string") {
        const t = Buffer.from(v, "utf8");
        return Buffer.concat([cborHead(3, t.length), t]);
    }
    if (v instanceof Map) return Buffer.concat([cborHead(5, v.size), ...[...v].flatMap(([k, x]) => [cbor(k), cbor(x)])]);
    throw new Error(`cbor: cannot encode ${v}`);
}
// The encodings the Rust authenticator's test checks, checked before any flow uses them.
function checkCborImplementation() {
    assert.equal(cbor(10).toString("hex"), "0a");
    assert.equal(cbor(-7).toString("hex"), "26");
    assert.equal(cbor(-257).toString("hex"), "390100");
    assert.equal(cbor("fmt").toString("hex"), "63666d74");
    assert.equal(cbor(Buffer.alloc(32)).subarray(0, 2).toString("hex"), "5820");
    assert.equal(cbor(new Map()).toString("hex"), "a0");
    assert.equal(cbor(new Map([[1, 2], [3, -7]])).toString("hex"), "a201020326");
}
const sha256 = (data) => createHash("sha256").update(data).digest();

// The credential algorithms, by COSE id: ES256 (P-256), EdDSA (Ed25519), RS256 (RSA-2048).
const PASSKEY_ALGORITHMS = { ES256: -7, EdDSA: -8, RS256: -257 };

// One credential: a key pair of `alg` with a random 32-byte id. `counts`: the authenticator moves
// its signature counter by one per assertion; else it always reports 0 (as synced passkeys do).
// Made with `await Passkey.create(…)`: the keys are generated off the event loop (an RSA key can
// take seconds on a loaded box, and a blocked loop let fetch reuse a keep-alive connection the app
// had closed meanwhile: "fetch failed").
class Passkey {
    static async create({ counts = false, alg = "ES256" } = {}) {
        const gen = promisify(generateKeyPair);
        const keys = alg === "ES256" ? await gen("ec", { namedCurve: "P-256" }) : alg === "EdDSA" ? await gen("ed25519") : await gen("rsa", { modulusLength: 2048 });
        return new Passkey(keys, { counts, alg });
    }
    constructor({ privateKey, publicKey }, { counts, alg }) {
        this.alg = alg;
        this.coseAlg = PASSKEY_ALGORITHMS[alg];
        this.privateKey = privateKey;
        this.jwk = publicKey.export({ format: "jwk" });
        this.id = randomBytes(32);
        this.counter = 0;
        this.counts = counts;
        this.userHandle = Buffer.alloc(0);
    }
    get idB64() {
        return this.id.toString("base64url");
    }
    // COSE_Key: EC2 P-256 (x, y), OKP Ed25519 (x), or RSA (n, e)
    coseKey() {
        const b = (v) => Buffer.from(v, "base64url");
        if (this.alg === "ES256") return cbor(new Map([[1, 2], [3, -7], [-1, 1], [-2, b(this.jwk.x)], [-3, b(this.jwk.y)]]));
        if (this.alg === "EdDSA") return cbor(new Map([[1, 1], [3, -8], [-1, 6], [-2, b(this.jwk.x)]]));
        return cbor(new Map([[1, 3], [3, -257], [-1, b(this.jwk.n)], [-2, b(this.jwk.e)]]));
    }
    // as authenticators sign: ES256 ECDSA P-256 SHA-256 DER-encoded, Ed25519, RSASSA-PKCS1-v1_5 SHA-256
    sign(data) {
        if (this.alg === "ES256") return cryptoSign("sha256", data, { key: this.privateKey, dsaEncoding: "der" });
        if (this.alg === "EdDSA") return cryptoSign(null, data, this.privateKey);
        return cryptoSign("sha256", data, this.privateKey);
    }
}
function clientDataJSON(type, challenge, origin) {
    return Buffer.from(JSON.stringify({ type, challenge, origin, crossOrigin: false }));
}
// authenticatorData: SHA-256(rpId) ‖ flags (UP, UV, AT with attested credential data) ‖ counter
function authenticatorData(rpId, counter, attested) {
    const c = Buffer.alloc(4);
    c.writeUInt32BE(counter);
    return Buffer.concat([sha256(rpId), Buffer.from([0x01 | 0x04 | (attested ? 0x40 : 0)]), c]);
}
// navigator.credentials.create() over the SDK's register options: RegistrationResponseJSON
// (attestation "none"). `origin`, `challenge`, `rpId` default to the browser's and the options'.
function passkeyRegistration(pk, options, { origin = WEBAUTHN_ORIGIN, challenge = options.challenge, rpId = options.rp.id } = {}) {
    pk.userHandle = Buffer.from(options.user.id, "base64url");
    const aaguid = Buffer.alloc(16, 0x5e);
    const idLen = Buffer.from([pk.id.length >> 8, pk.id.length & 0xff]);
    const authData = Buffer.concat([authenticatorData(rpId, pk.counter, true), aaguid, idLen, pk.id, pk.coseKey()]);
    const attestation = cbor(new Map([["fmt", "none"], ["attStmt", new Map()], ["authData", authData]]));
    return {
        id: pk.idB64,
        rawId: pk.idB64,
        type: "public-key",
        response: {
            clientDataJSON: clientDataJSON("webauthn.create", challenge, origin).toString("base64url"),
            attestationObject: attestation.toString("base64url"),
            authenticatorData: authData.toString("base64url"),
            transports: ["internal", "hybrid"],
            publicKeyAlgorithm: pk.coseAlg,
        },
        authenticatorAttachment: "platform",
        clientExtensionResults: {},
    };
}
// navigator.credentials.get() over the SDK's sign-in options: AuthenticationResponseJSON for
// credential `pk`, signed by `signer` (another key: a forged assertion). `counter`: what to report
// instead of the authenticator's next value.
function passkeyAssertion(pk, options, { origin = WEBAUTHN_ORIGIN, challenge = options.challenge, rpId = options.rpId, signer = pk, counter } = {}) {
    if (counter === undefined) counter = pk.counts ? pk.counter + 1 : 0;
    pk.counter = counter;
    const cd = clientDataJSON("webauthn.get", challenge, origin);
    const authData = authenticatorData(rpId, counter, false);
    const signature = signer.sign(Buffer.concat([authData, sha256(cd)]));
    return {
        id: pk.idB64,
        rawId: pk.idB64,
        type: "public-key",
        response: {
            clientDataJSON: cd.toString("base64url"),
            authenticatorData: authData.toString("base64url"),
            signature: signature.toString("base64url"),
            userHandle: pk.userHandle.toString("base64url"),
        },
        authenticatorAttachment: "platform",
        clientExtensionResults: {},
    };
}

// The release must have the WebAuthn recipe (the app reports it), else the flow is a SKIP.
function webauthnRecipe() {
    if (!SDK_INFO.webauthn) skip(`no WebAuthn recipe in ${SDK_INFO.sdk} ${SDK_INFO.version} (CDI ${CDI_SENT})`);
}
// The SDK's passkey API, as the frontend SDK calls it.
async function passkeyRegisterOptions(b, email) {
    const r = await b.request("POST", "/auth/webauthn/options/register", { body: { email }, headers: { rid: "webauthn" } });
    return expectOk(r, "POST /auth/webauthn/options/register");
}
async function passkeySignInOptions(b) {
    const r = await b.request("POST", "/auth/webauthn/options/signin", { body: {}, headers: { rid: "webauthn" } });
    return expectOk(r, "POST /auth/webauthn/options/signin");
}
function passkeySignUp(b, options, credential) {
    return b.request("POST", "/auth/webauthn/signup", {
        body: { webauthnGeneratedOptionsId: options.webauthnGeneratedOptionsId, credential },
        headers: { rid: "webauthn" },
    });
}
function passkeySignIn(b, options, credential) {
    return b.request("POST", "/auth/webauthn/signin", {
        body: { webauthnGeneratedOptionsId: options.webauthnGeneratedOptionsId, credential },
        headers: { rid: "webauthn" },
    });
}
// A passkey user from scratch: register options for a new e-mail, the passkey's registration.
async function passkeySignedUp(b, pk, tag) {
    const email = newEmail(tag);
    const opts = await passkeyRegisterOptions(b, email);
    const body = expectOk(await passkeySignUp(b, opts, passkeyRegistration(pk, opts)), "passkey sign up");
    return { email, userId: body.user.id, body };
}
// The answer's user is the passkey user: one webauthn login method with the e-mail and credential.
function expectPasskeyUser(user, userId, email, pk, what) {
    assert.equal(user.id, userId, `${what}: user id`);
    assert.equal(user.loginMethods.length, 1, `${what}: one login method: ${JSON.stringify(user)}`);
    const m = user.loginMethods[0];
    assert.equal(m.recipeId, "webauthn", `${what}: recipeId`);
    assert.equal(m.recipeUserId, userId, `${what}: recipeUserId`);
    assert.equal(m.email, email, `${what}: email`);
    assert.deepEqual(m.webauthn && m.webauthn.credentialIds, [pk.idB64], `${what}: the login method's credential ids`);
    assert.deepEqual(user.webauthn && user.webauthn.credentialIds, [pk.idB64], `${what}: the user's credential ids`);
    assert.deepEqual(m.tenantIds, ["public"], `${what}: tenantIds`);
}
// A refused passkey ceremony: 200, `status`, and no session started.
function expectRefused(b, res, status, what) {
    expectStatusField(res, status, what);
    assert.equal(b.hasSession(), false, `${what}: no session`);
    assert.equal(b.currentAccessToken(), undefined, `${what}: no access token`);
}
// The session the browser holds is the user's (offline and with the core).
async function expectSessionUser(b, mode, userId, what) {
    assertSessionTransport(b, mode);
    const p = decodeJwtPayload(b.currentAccessToken());
    assert.equal(p.sub, userId, `${what}: sub`);
    assert.equal(p.rsub, userId, `${what}: rsub`);
    assert.equal(p.tId, "public", `${what}: tId`);
    for (const path of ["/protected", "/protected-db"]) {
        const r = await b.request("GET", path);
        expectStatus(r, 200, `${what}: GET ${path}`);
        assert.equal(r.json.userId, userId, `${what}: GET ${path} userId`);
        assert.equal(r.json.recipeUserId, userId, `${what}: GET ${path} recipeUserId`);
    }
}

// ---------------------------------------------------------------------------------------------
// the user-management dashboard's API (its operators' sessions: `Authorization: Bearer <session id>`)
// ---------------------------------------------------------------------------------------------

function dashboardApi(b, method, path, { sessionId, body } = {}) {
    const headers = sessionId === undefined ? {} : { authorization: `Bearer ${sessionId}` };
    return b.request(method, `/auth/dashboard/api${path}`, { body, headers, auth: false });
}

// ---------------------------------------------------------------------------------------------
// flows
// ---------------------------------------------------------------------------------------------

// Apps besides APP_URL / APP_URL_SHORT that a flow talked to: their core calls are printed too
// when the flow fails.
let WATCHED_APPS = [];

// Checks what app `base` says about the session in `br`: 200, the user, the handle, tenant public.
async function expectSessionAt(br, base, path, userId, handle, recipeUserIds, what) {
    const saved = br.base;
    br.base = base;
    try {
        const r = await br.request("GET", path);
        expectStatus(r, 200, `${what}: GET ${path}`);
        assert.equal(r.json.userId, userId, `${what}: GET ${path} userId`);
        assert.equal(r.json.sessionHandle, handle, `${what}: GET ${path} sessionHandle`);
        assert.equal(r.json.tenantId, "public", `${what}: GET ${path} tenantId`);
        // the SDK reports rsub, or sub for a v4 token; null before account linking
        assert.equal(r.json.recipeUserId, recipeUserIds ? userId : null, `${what}: GET ${path} recipeUserId`);
        return r;
    } finally {
        br.base = saved;
    }
}

function expectTokenVersion(br, cdi, userId, handle, what) {
    const t = br.currentAccessToken();
    assert.ok(t, `${what}: an access token`);
    const v = decodeJwtHeader(t).version;
    assert.equal(v, tokenVersionFor(cdi), `${what}: access-token version for CDI ${cdi}`);
    const p = decodeJwtPayload(t);
    assert.equal(p.sub, userId, `${what}: sub`);
    assert.equal(p.sessionHandle, handle, `${what}: sessionHandle`);
    assert.equal(p.tId, "public", `${what}: tId`);
    assert.equal(p.rsub, v === "5" ? userId : undefined, `${what}: rsub (v5 only)`);
    return p;
}

// GET /test/sdk-info of another app; run.sh starts each runner as soon as its own app is up, so
// the others may still be starting: retried for up to 60 s.
async function sdkInfoOf(base) {
    const deadline = Date.now() + 60_000;
    for (;;) {
        try {
            const r = await fetch(`${base}/test/sdk-info`);
            if (r.status === 200) return await r.json();
        } catch (e) {
            if (Date.now() > deadline) throw new Error(`the app at ${base} is not up: ${e}`);
        }
        if (Date.now() > deadline) throw new Error(`the app at ${base} is not up`);
        await new Promise((r) => setTimeout(r, 250));
    }
}

async function crossVersionPair(trace, mode, peerUrl, info, peerCdi) {
    // 1. Started through the other release, used and refreshed through this one.
    const o = new Browser(mode, trace, peerUrl);
    const email = newEmail("xv");
    const su = expectOk(await o.signUp(email, PASSWORD), "sign up through the other release");
    const userId = su.user.id;
    const handle = decodeJwtPayload(o.currentAccessToken()).sessionHandle;
    expectTokenVersion(o, peerCdi, userId, handle, "token from the other release");
    await expectSessionAt(o, APP_URL, "/protected", userId, handle, SDK_INFO.accountLinking, "its token here (offline)");
    await expectSessionAt(o, APP_URL, "/protected-db", userId, handle, SDK_INFO.accountLinking, "its token here (core verify)");
    const started = o.snapshot();
    o.base = APP_URL;
    expectStatus(await o.refresh(), 200, "refresh here with the other release's refresh token");
    expectTokenVersion(o, CDI, userId, handle, "refreshed here");
    await expectSessionAt(o, APP_URL, "/protected-db", userId, handle, SDK_INFO.accountLinking, "refreshed token here");
    // ... and back: the token this release minted works at the other release, which can refresh it
    await expectSessionAt(o, peerUrl, "/protected", userId, handle, info.accountLinking, "this release's token there (offline)");
    await expectSessionAt(o, peerUrl, "/protected-db", userId, handle, info.accountLinking, "this release's token there (core verify)");
    o.base = peerUrl;
    expectStatus(await o.refresh(), 200, "refresh there");
    expectTokenVersion(o, peerCdi, userId, handle, "refreshed there");
    await expectSessionAt(o, APP_URL, "/protected-db", userId, handle, SDK_INFO.accountLinking, "re-refreshed token here");
    // The first refresh token (minted through the other release), replayed here: token theft.
    o.restore(started);
    o.base = APP_URL;
    const theft = await o.refresh();
    expectStatus(theft, 401, "replaying the other release's first refresh token here");
    assert.match(theft.text, /token theft detected/, "token theft reported");
    // The user signs in through this release.
    const si = new Browser(mode, trace);
    assert.equal(expectOk(await si.signIn(email, PASSWORD), "sign in here").user.id, userId);

    // 2. Started through this release, used and refreshed through the other one.
    const n = new Browser(mode, trace);
    const su2 = expectOk(await n.signUp(newEmail("xv"), PASSWORD), "sign up here");
    const userId2 = su2.user.id;
    const handle2 = decodeJwtPayload(n.currentAccessToken()).sessionHandle;
    expectTokenVersion(n, CDI, userId2, handle2, "token from this release");
    await expectSessionAt(n, peerUrl, "/protected", userId2, handle2, info.accountLinking, "this token there (offline)");
    await expectSessionAt(n, peerUrl, "/protected-db", userId2, handle2, info.accountLinking, "this token there (core verify)");
    n.base = peerUrl;
    expectStatus(await n.refresh(), 200, "refresh there with this release's refresh token");
    expectTokenVersion(n, peerCdi, userId2, handle2, "refreshed there");
    await expectSessionAt(n, APP_URL, "/protected", userId2, handle2, SDK_INFO.accountLinking, "its refreshed token here (offline)");
    await expectSessionAt(n, APP_URL, "/protected-db", userId2, handle2, SDK_INFO.accountLinking, "its refreshed token here (core verify)");
    n.base = APP_URL;
    expectStatus(await n.refresh(), 200, "refresh here");
    expectTokenVersion(n, CDI, userId2, handle2, "refreshed here again");
    // Sign out through the other release ends the session here too.
    const live = n.snapshot();
    n.base = peerUrl;
    expectOk(await n.signOut(), "sign out there");
    n.restore(live);
    n.base = APP_URL;
    expectStatus(await n.request("GET", "/protected-db"), 401, "GET /protected-db here after signing out there");
}

const FLOWS = {
    // Sign up, then the same e-mail again (FIELD_ERROR), session transport as requested.
    async "sign-up"(b, mode) {
        const seq0 = await coreSeq();
        const email = newEmail("signup");
        const r = await b.signUp(email, PASSWORD);
        const body = expectOk(r, "sign up");
        // Each release speaks one CDI version (the newest of its list, all served by the core):
        // every request it sends to the core carries it.
        const sent = (await coreCallsSince(seq0, r.requestId)).filter((c) => !c.path.startsWith("/apiversion")).map((c) => c.cdiVersion);
        assert.ok(sent.length > 0, "sign up made core calls");
        assert.deepEqual([...new Set(sent)], [CDI_SENT], `cdi-version header of the SDK's core calls`);
        if (SDK_INFO.accountLinking) {
            assert.equal(body.user.emails[0], email);
            assert.equal(body.user.loginMethods[0].recipeId, "emailpassword");
            assert.equal(body.user.loginMethods[0].verified, false);
        } else {
            // before account linking (CDI < 4.0) the SDK returns the core's {id, email, timeJoined, tenantIds}
            assert.equal(body.user.email, email);
            assert.equal(typeof body.user.timeJoined, "number");
            assert.equal(body.user.loginMethods, undefined, "no loginMethods before account linking");
        }
        assertSessionTransport(b, mode);
        const payload = decodeJwtPayload(b.currentAccessToken());
        assert.equal(payload.sub, body.user.id);
        // `rsub` is in v5 access tokens (CDI >= 4.0); CDI 3.x gets v4 tokens without it
        if (CDI >= 4.0) assert.equal(payload.rsub, body.user.id);
        else assert.equal(payload.rsub, undefined, `CDI ${CDI} access token (v4) has no rsub`);
        assert.equal(payload.tId, "public");
        assert.equal(payload.parentRefreshTokenHash1, null);
        assert.equal(typeof payload.sessionHandle, "string");
        if (mode === "cookie") assert.equal(payload.antiCsrfToken, b.antiCsrf);
        else assert.equal(payload.antiCsrfToken, null);

        const again = await b.signUp(email.toUpperCase(), "another-password-2");
        expectStatus(again, 200, "second sign up");
        assert.equal(again.json.status, "FIELD_ERROR", `second sign up: ${again.text}`);
        const f = again.json.formFields.find((x) => x.id === "email");
        assert.ok(f && /This email already exists/.test(f.error), `second sign up: ${again.text}`);
    },

    // Wrong password, right password, then an authenticated call verified offline with the JWKS.
    async "sign-in"(b, mode) {
        const { email, userId } = await signedUp(b, "signin");
        const fresh = new Browser(mode, b.trace);
        const wrong = await fresh.signIn(email, "wrong-password-9");
        expectStatus(wrong, 200, "sign in with wrong password");
        assert.equal(wrong.json.status, "WRONG_CREDENTIALS_ERROR", wrong.text);
        assert.ok(!fresh.hasSession(), "no session after a failed sign in");

        const unknown = await fresh.signIn(newEmail("nobody"), PASSWORD);
        assert.equal(unknown.json && unknown.json.status, "WRONG_CREDENTIALS_ERROR", unknown.text);

        const ok = await fresh.signIn(email, PASSWORD);
        const body = expectOk(ok, "sign in");
        assert.equal(body.user.id, userId);
        assertSessionTransport(fresh, mode);

        // the token the SDK verifies offline below is signed with the core's configured algorithm
        assert.equal(decodeJwtHeader(fresh.currentAccessToken()).alg, EXPECT_ALG, "the access token's JWT header alg");
        const seqBefore = await coreSeq();
        const p = await fresh.request("GET", "/protected");
        expectStatus(p, 200, "GET /protected");
        const verifyCalls = await coreCallsSince(seqBefore, p.requestId);
        assert.deepEqual(
            verifyCalls.map((c) => `${c.method} ${c.path}`),
            [],
            "GET /protected must be verified offline with the JWKS (no core call)",
        );
        assert.equal(p.json.userId, userId);
        assert.equal(p.json.recipeUserId, SDK_INFO.accountLinking ? userId : null);
        assert.equal(p.json.tenantId, "public");
        assert.equal(p.json.sessionHandle, decodeJwtPayload(fresh.currentAccessToken()).sessionHandle);
        assert.equal(p.json.accessTokenPayload.sub, userId);
        assert.equal(p.json.accessTokenPayload.iss, `${new URL(APP_URL).protocol}//localhost:${new URL(APP_URL).port}/auth`);

        const db = await fresh.request("GET", "/protected-db");
        expectStatus(db, 200, "GET /protected-db");
        assert.equal(db.json.userId, userId);
        // (the positive control of the per-request core calls: checkDatabase asks the core)
        assert.deepEqual(
            (await coreCallsSince(seqBefore, db.requestId)).map((c) => `${c.method} ${c.path}`),
            ["POST /recipe/session/verify"],
            "GET /protected-db goes through /recipe/session/verify",
        );

        // Without any token: 401 from the SDK.
        const anon = new Browser(mode, b.trace);
        const none = await anon.request("GET", "/protected");
        expectStatus(none, 401, "GET /protected without a session");

        // A tampered token (signature broken) must be rejected (401 try-refresh).
        const t = fresh.currentAccessToken();
        const [h, pl, sig] = t.split(".");
        const forged = decodeJwtPayload(t);
        forged.sub = "someone-else";
        const bad = `${h}.${Buffer.from(JSON.stringify(forged)).toString("base64url")}.${sig}`;
        const tampered = new Browser(mode, b.trace);
        if (mode === "header") tampered.accessToken = bad;
        else tampered.cookies.set("sAccessToken", { value: bad, path: "/" });
        tampered.antiCsrf = fresh.antiCsrf;
        const tr = await tampered.request("GET", "/protected");
        expectStatus(tr, 401, "GET /protected with a tampered access token");
    },

    // Refresh, use the new tokens, then replay the old refresh token: token theft ⇒ session revoked.
    async "refresh-and-token-theft"(b, mode) {
        const { userId } = await signedUp(b, "refresh");
        const before = b.snapshot();
        const at0 = decodeJwtPayload(b.currentAccessToken());
        const rt0 = b.currentRefreshToken();

        // Anti-CSRF (cookie mode, VIA_TOKEN): a refresh without the anti-csrf header is refused.
        if (mode === "cookie") {
            const saved = b.antiCsrf;
            b.antiCsrf = undefined;
            const noCsrf = await b.refresh();
            expectStatus(noCsrf, 401, "refresh without anti-csrf header");
            b.restore(before);
            assert.equal(saved, b.antiCsrf);
        }

        const r1 = await b.refresh();
        expectStatus(r1, 200, "refresh");
        const rt1 = b.currentRefreshToken();
        assert.ok(rt1 && rt1 !== rt0, "refresh must issue a new refresh token");
        const at1 = decodeJwtPayload(b.currentAccessToken());
        assert.equal(at1.sessionHandle, at0.sessionHandle);
        assert.equal(at1.sub, userId);
        assert.ok(at1.parentRefreshTokenHash1, "access token after refresh carries parentRefreshTokenHash1");
        assert.notEqual(at1.refreshTokenHash1, at0.refreshTokenHash1);

        // First use of the new access token: the SDK calls /recipe/session/verify, the core promotes
        // the new refresh token and returns a new access token without a parent hash.
        const seqBefore = await coreSeq();
        const p1 = await b.request("GET", "/protected");
        expectStatus(p1, 200, "GET /protected with the refreshed access token");
        assert.deepEqual(
            (await coreCallsSince(seqBefore, p1.requestId)).map((c) => `${c.method} ${c.path}`),
            ["POST /recipe/session/verify"],
            "first use of a refreshed access token goes through /recipe/session/verify",
        );
        assert.equal(p1.json.userId, userId);
        const at1b = decodeJwtPayload(b.currentAccessToken());
        assert.equal(at1b.parentRefreshTokenHash1, null, "after promotion the SDK sets an access token without parent hash");
        assert.equal(at1b.refreshTokenHash1, at1.refreshTokenHash1);

        // A second refresh with the current token works (rotation continues).
        const r2 = await b.refresh();
        expectStatus(r2, 200, "second refresh");
        const p2 = await b.request("GET", "/protected");
        expectStatus(p2, 200, "GET /protected after second refresh");
        assert.equal(p2.json.sessionHandle, at0.sessionHandle);
        const current = b.snapshot();

        // Replay the very first refresh token: theft.
        b.restore(before);
        const theft = await b.refresh();
        expectStatus(theft, 401, "replaying the old refresh token");
        assert.match(theft.text, /token theft detected/, "SDK reports token theft");
        assert.ok(!b.hasSession(), "SDK clears the tokens after token theft");

        // The session is gone: the current refresh token no longer works, nor does checkDatabase.
        b.restore(current);
        const after = await b.refresh();
        expectStatus(after, 401, "refresh after token theft (session revoked)");
        b.restore(current);
        const db = await b.request("GET", "/protected-db");
        expectStatus(db, 401, "GET /protected-db after token theft");
    },

    // Same refresh token used twice before the child is promoted (parallel tabs / retries): both OK.
    async "refresh-retry-before-promotion"(b) {
        await signedUp(b, "retry");
        const before = b.snapshot();
        const r1 = await b.refresh();
        expectStatus(r1, 200, "refresh #1");
        b.restore(before);
        const r2 = await b.refresh();
        expectStatus(r2, 200, "refresh #2 with the same (not yet rotated) refresh token");
        const p = await b.request("GET", "/protected");
        expectStatus(p, 200, "GET /protected after the retried refresh");
        const db = await b.request("GET", "/protected-db");
        expectStatus(db, 200, "GET /protected-db after the retried refresh");
    },

    // mergeIntoAccessTokenPayload ⇒ /recipe/session/regenerate; the claims show up in later calls.
    async "regenerate-claims"(b) {
        const { userId } = await signedUp(b, "regen");
        const oldAt = b.currentAccessToken();
        const oldPayload = decodeJwtPayload(oldAt);
        const r = await b.request("POST", "/regen", { body: { plan: "gold", counter: 7, nested: { a: [1, 2] } } });
        expectStatus(r, 200, "POST /regen");
        assert.equal(r.json.accessTokenPayload.plan, "gold");
        const newAt = b.currentAccessToken();
        assert.notEqual(newAt, oldAt, "the SDK must send a new access token after regenerate");
        const np = decodeJwtPayload(newAt);
        assert.equal(np.plan, "gold");
        assert.equal(np.counter, 7);
        assert.deepEqual(np.nested, { a: [1, 2] });
        assert.equal(np.exp, oldPayload.exp, "regenerate keeps the expiry");
        assert.equal(np.sessionHandle, oldPayload.sessionHandle);
        assert.ok(np["st-ev"], "existing claims are kept");

        const p = await b.request("GET", "/protected");
        expectStatus(p, 200, "GET /protected after regen");
        assert.equal(p.json.userId, userId);
        assert.equal(p.json.accessTokenPayload.plan, "gold");
        assert.equal(p.json.accessTokenPayload.counter, 7);

        // Remove one claim (null), change another.
        const r2 = await b.request("POST", "/regen", { body: { plan: null, counter: 8 } });
        expectStatus(r2, 200, "POST /regen #2");
        const p2 = await b.request("GET", "/protected-db");
        expectStatus(p2, 200, "GET /protected-db after regen #2");
        assert.equal(p2.json.accessTokenPayload.plan, undefined);
        assert.equal(p2.json.accessTokenPayload.counter, 8);

        // Claims survive a refresh (the core copies the stored payload into the new token).
        const rf = await b.refresh();
        expectStatus(rf, 200, "refresh after regen");
        const rp = decodeJwtPayload(b.currentAccessToken());
        assert.equal(rp.counter, 8);
        assert.equal(rp.plan, undefined);
    },

    // Email verification: token by "email", consume it, claim st-ev becomes true.
    async "email-verification"(b) {
        const { email } = await signedUp(b, "verify");
        assert.equal(decodeJwtPayload(b.currentAccessToken())["st-ev"].v, false);
        const st = await b.request("GET", "/auth/user/email/verify", { headers: { rid: "emailverification" } });
        const stBody = expectOk(st, "GET /auth/user/email/verify");
        assert.equal(stBody.isVerified, false);

        const send = await b.request("POST", "/auth/user/email/verify/token", { body: {}, headers: { rid: "emailverification" } });
        expectOk(send, "POST /auth/user/email/verify/token");
        const link = await b.request("GET", `/test/last-link?kind=verify&email=${encodeURIComponent(email)}`, { auth: false });
        expectOk(link, "captured verification link");
        const token = link.json.token;
        assert.ok(token, "verification link has a token");
        assert.match(link.json.link, /\/auth\/verify-email\?token=/);

        const badTok = await b.request("POST", "/auth/user/email/verify", {
            body: { method: "token", token: "not-a-real-token" },
            headers: { rid: "emailverification" },
        });
        expectStatus(badTok, 200, "verify with a bad token");
        assert.equal(badTok.json.status, "EMAIL_VERIFICATION_INVALID_TOKEN_ERROR", badTok.text);

        const v = await b.request("POST", "/auth/user/email/verify", {
            body: { method: "token", token },
            headers: { rid: "emailverification" },
        });
        expectOk(v, "POST /auth/user/email/verify"); // the SDK answers a bare {status: "OK"}

        const again = await b.request("POST", "/auth/user/email/verify", {
            body: { method: "token", token },
            headers: { rid: "emailverification" },
        });
        assert.equal(again.json && again.json.status, "EMAIL_VERIFICATION_INVALID_TOKEN_ERROR", `token reuse: ${again.text}`);

        const st2 = await b.request("GET", "/auth/user/email/verify", { headers: { rid: "emailverification" } });
        assert.equal(expectOk(st2, "GET /auth/user/email/verify (after)").isVerified, true);
        assert.equal(decodeJwtPayload(b.currentAccessToken())["st-ev"].v, true, "st-ev claim updated in the access token");

        const p = await b.request("GET", "/protected");
        expectStatus(p, 200, "GET /protected after verification");
        assert.equal(p.json.accessTokenPayload["st-ev"].v, true);

        const resend = await b.request("POST", "/auth/user/email/verify/token", { body: {}, headers: { rid: "emailverification" } });
        expectStatus(resend, 200, "resend after verified");
        assert.equal(resend.json.status, "EMAIL_ALREADY_VERIFIED_ERROR", resend.text);

        // A fresh sign-in sees the verified state in the new session's claim.
        const other = new Browser(b.mode, b.trace);
        expectOk(await other.signIn(email, PASSWORD), "sign in after verification");
        assert.equal(decodeJwtPayload(other.currentAccessToken())["st-ev"].v, true);
    },

    // Password reset by e-mail link, then sign in with the new password only.
    async "password-reset"(b) {
        const { email, userId } = await signedUp(b, "reset");
        const anon = new Browser(b.mode, b.trace);
        const send = await anon.request("POST", "/auth/user/password/reset/token", {
            body: { formFields: [{ id: "email", value: email }] },
            headers: { rid: "emailpassword" },
        });
        expectOk(send, "POST /auth/user/password/reset/token");
        // Unknown e-mail: the SDK still answers OK (no user enumeration), no link sent.
        const ghost = newEmail("ghost");
        expectOk(
            await anon.request("POST", "/auth/user/password/reset/token", {
                body: { formFields: [{ id: "email", value: ghost }] },
                headers: { rid: "emailpassword" },
            }),
            "reset token for unknown email",
        );
        const ghostLink = await anon.request("GET", `/test/last-link?email=${encodeURIComponent(ghost)}`, { auth: false });
        expectStatus(ghostLink, 404, "no reset link for an unknown email");

        const link = await anon.request("GET", `/test/last-link?kind=reset&email=${encodeURIComponent(email)}`, { auth: false });
        expectOk(link, "captured reset link");
        assert.match(link.json.link, /\/auth\/reset-password\?token=/);
        const token = link.json.token;

        const NEWPW = "new-password-42";
        const bad = await anon.request("POST", "/auth/user/password/reset", {
            body: { method: "token", token: "bogus", formFields: [{ id: "password", value: NEWPW }] },
            headers: { rid: "emailpassword" },
        });
        assert.equal(bad.json && bad.json.status, "RESET_PASSWORD_INVALID_TOKEN_ERROR", bad.text);

        const r = await anon.request("POST", "/auth/user/password/reset", {
            body: { method: "token", token, formFields: [{ id: "password", value: NEWPW }] },
            headers: { rid: "emailpassword" },
        });
        expectOk(r, "POST /auth/user/password/reset");

        const reuse = await anon.request("POST", "/auth/user/password/reset", {
            body: { method: "token", token, formFields: [{ id: "password", value: "third-password-3" }] },
            headers: { rid: "emailpassword" },
        });
        assert.equal(reuse.json && reuse.json.status, "RESET_PASSWORD_INVALID_TOKEN_ERROR", `token reuse: ${reuse.text}`);

        const old = await anon.signIn(email, PASSWORD);
        assert.equal(old.json && old.json.status, "WRONG_CREDENTIALS_ERROR", `old password: ${old.text}`);
        const ok = await anon.signIn(email, NEWPW);
        assert.equal(expectOk(ok, "sign in with the new password").user.id, userId);
        const p = await anon.request("GET", "/protected");
        expectStatus(p, 200, "GET /protected after password reset");
    },

    // Access token expiry (core app with access_token_validity = 2 s): 401 "try refresh token",
    // refresh, and the session goes on.
    async "expired-access-token"(b, mode) {
        assert.ok(APP_URL_SHORT, "APP_URL_SHORT (app on a core app with a 2 s access-token validity) is not set");
        const s = new Browser(mode, b.trace, APP_URL_SHORT);
        const { userId } = await signedUp(s, "expiry");
        const p0 = decodeJwtPayload(s.currentAccessToken());
        assert.ok(p0.exp - p0.iat <= 2, `access_token_validity of app sdkshort is 2 s, token has exp - iat = ${p0.exp - p0.iat}`);
        const before = s.snapshot();
        await new Promise((r) => setTimeout(r, Math.max(0, p0.exp * 1000 - Date.now()) + 1100));
        const e = await s.request("GET", "/protected");
        expectStatus(e, 401, "GET /protected with an expired access token");
        assert.match(e.text, /try refresh token/);
        s.restore(before);
        const edb = await s.request("GET", "/protected-db");
        expectStatus(edb, 401, "GET /protected-db with an expired access token");
        s.restore(before);
        const r = await s.refresh();
        expectStatus(r, 200, "refresh after expiry");
        const p1 = decodeJwtPayload(s.currentAccessToken());
        assert.ok(p1.exp > p0.exp, "the refreshed access token expires later");
        assert.equal(p1.sessionHandle, p0.sessionHandle);
        const ok = await s.request("GET", "/protected");
        expectStatus(ok, 200, "GET /protected after refreshing the expired session");
        assert.equal(ok.json.userId, userId);
        assert.equal(ok.json.sessionHandle, p0.sessionHandle);
        const db = await s.request("GET", "/protected-db");
        expectStatus(db, 200, "GET /protected-db after refreshing the expired session");
    },

    // Roles and permissions as claims (st-role / st-perm).
    async "roles-claims"(b) {
        const { email, userId } = await signedUp(b, "roles");
        const p0 = decodeJwtPayload(b.currentAccessToken());
        assert.deepEqual(p0["st-role"].v, [], "no roles at sign up");
        assert.deepEqual(p0["st-perm"].v, [], "no permissions at sign up");
        const r = await b.request("POST", "/role", { body: {} });
        expectStatus(r, 200, "POST /role");
        assert.deepEqual(r.json.roles, ["admin"]);
        assert.deepEqual(r.json.permissions, ["write"]);
        assert.equal(r.json.didUserAlreadyHaveRole, false);
        const np = decodeJwtPayload(b.currentAccessToken());
        assert.deepEqual(np["st-role"].v, ["admin"]);
        assert.deepEqual(np["st-perm"].v, ["write"]);
        const p = await b.request("GET", "/protected");
        expectStatus(p, 200, "GET /protected after /role");
        assert.equal(p.json.userId, userId);
        assert.deepEqual(p.json.accessTokenPayload["st-role"].v, ["admin"]);
        assert.deepEqual(p.json.accessTokenPayload["st-perm"].v, ["write"]);
        // Idempotent the second time.
        const r2 = await b.request("POST", "/role", { body: {} });
        expectStatus(r2, 200, "POST /role again");
        assert.equal(r2.json.didUserAlreadyHaveRole, true);
        // The claims are in the stored payload, so they survive a refresh.
        const reg = await b.refresh();
        expectStatus(reg, 200, "refresh after /role");
        assert.deepEqual(decodeJwtPayload(b.currentAccessToken())["st-role"].v, ["admin"]);
        // A new session (sign in) gets the claims at creation time.
        const other = new Browser(b.mode, b.trace);
        expectOk(await other.signIn(email, PASSWORD), "sign in after /role");
        const op = decodeJwtPayload(other.currentAccessToken());
        assert.deepEqual(op["st-role"].v, ["admin"]);
        assert.deepEqual(op["st-perm"].v, ["write"]);
    },

    // User metadata: shallow merge, null deletes.
    async "metadata"(b) {
        await signedUp(b, "meta");
        const r1 = await b.request("POST", "/metadata", { body: { theme: "dark", prefs: { a: 1, b: 2 }, n: 1 } });
        expectStatus(r1, 200, "POST /metadata #1");
        assert.deepEqual(r1.json.read, { theme: "dark", prefs: { a: 1, b: 2 }, n: 1 });
        const r2 = await b.request("POST", "/metadata", { body: { prefs: { c: 3 }, theme: null } });
        expectStatus(r2, 200, "POST /metadata #2");
        assert.deepEqual(r2.json.updated, { prefs: { c: 3 }, n: 1 }, "shallow merge, null deletes");
        assert.deepEqual(r2.json.read, { prefs: { c: 3 }, n: 1 });
    },

    // Sign out revokes the session: the old access token still verifies offline but not with checkDatabase.
    async "sign-out"(b, mode) {
        await signedUp(b, "signout");
        const p = await b.request("GET", "/protected-db");
        expectStatus(p, 200, "GET /protected-db before sign out");
        const s = b.snapshot();
        const out = await b.signOut();
        expectOk(out, "POST /auth/signout");
        assert.ok(!b.hasSession(), "front-token removed after sign out");
        if (mode === "cookie") {
            assert.equal(b.liveCookie("sAccessToken", "/"), undefined, "sAccessToken cleared");
        } else {
            assert.equal(b.accessToken, undefined, "st-access-token cleared");
        }
        const gone = await b.request("GET", "/protected");
        expectStatus(gone, 401, "GET /protected with no tokens after sign out");

        b.restore(s);
        const db = await b.request("GET", "/protected-db");
        expectStatus(db, 401, "GET /protected-db with the OLD access token after sign out");
        b.restore(s);
        const offline = await b.request("GET", "/protected");
        expectStatus(offline, 200, "GET /protected (offline JWT check) with the old access token is still accepted until expiry");
        b.restore(s);
        const rf = await b.refresh();
        expectStatus(rf, 401, "refresh with the old refresh token after sign out");
    },

    // deleteUser: the user can no longer sign in, their sessions are gone.
    async "delete-user"(b) {
        const { email, userId } = await signedUp(b, "delete");
        const s = b.snapshot();
        const d = await b.request("POST", "/delete-user", { body: {} });
        expectStatus(d, 200, "POST /delete-user");
        assert.equal(d.json.status, "OK");
        assert.equal(d.json.userId, userId);
        const fresh = new Browser(b.mode, b.trace);
        const si = await fresh.signIn(email, PASSWORD);
        assert.equal(si.json && si.json.status, "WRONG_CREDENTIALS_ERROR", `sign in after delete: ${si.text}`);
        b.restore(s);
        const db = await b.request("GET", "/protected-db");
        expectStatus(db, 401, "GET /protected-db after the user was deleted");
        b.restore(s);
        const rf = await b.refresh();
        expectStatus(rf, 401, "refresh after the user was deleted");
        // The e-mail is free again.
        expectOk(await fresh.signUp(email, PASSWORD), "sign up again with the deleted user's email");
    },

    // Social sign-in through the SDK's ThirdParty recipe with the mock OIDC provider as the app's
    // static provider: authorisation URL, provider login, code exchange and userinfo by the SDK,
    // then the core's POST /recipe/signinup; again (same user), with a changed e-mail (updated),
    // with an unverified e-mail; an e-mail-password sign-up with the same e-mail is another user.
    async "thirdparty-sign-in-up"(b, mode) {
        const seqMock = await mockSeq();
        const seq0 = await coreSeq();
        const u = mockUser("tp");
        const { res } = await socialSignIn(b, { user: u, clientId: "sdk-client-static" });
        const body = expectOk(res, "POST /auth/signinup (new user)");
        assert.equal(createdNew(body), true, "a new user");
        const v = userView(body.user);
        assert.deepEqual(v.thirdParty, { id: "mock", userId: u.sub });
        assert.equal(v.email, u.email);
        assert.deepEqual(v.tenantIds, ["public"]);
        if (SDK_INFO.accountLinking) {
            assert.equal(v.recipeId, "thirdparty");
            assert.equal(v.verified, true, "the provider verified the e-mail");
        }
        assertSessionTransport(b, mode);
        const at = decodeJwtPayload(b.currentAccessToken());
        assert.equal(at.sub, body.user.id);
        assert.equal(at.tId, "public");
        assert.equal(at["st-ev"].v, true, "st-ev: the provider verified the e-mail");
        const atProvider = (await mockRequestsSince(seqMock)).map((r) => `${r.method} ${r.path} ${r.status}`);
        for (const want of ["GET /authorize 302", "POST /token 200", "GET /userinfo 200"])
            assert.ok(atProvider.includes(want), `the provider saw ${want}: ${JSON.stringify(atProvider)}`);
        const signInUps = (await coreCallsSince(seq0, res.requestId)).filter((c) => /\/recipe\/signinup$/.test(c.path));
        assert.equal(signInUps.length, 1, "one POST /recipe/signinup to the core");
        assert.equal(JSON.parse(signInUps[0].body).thirdPartyUserId, u.sub);
        const p = await b.request("GET", "/protected-db");
        expectStatus(p, 200, "GET /protected-db");
        assert.equal(p.json.userId, body.user.id);

        // The same provider user again: signed in, not created.
        const again = expectOk((await socialSignIn(new Browser(mode, b.trace), { user: u, clientId: "sdk-client-static" })).res, "sign in again");
        assert.equal(createdNew(again), false, "an existing user");
        assert.equal(again.user.id, body.user.id);

        // The provider now reports another (verified) e-mail: the core updates the user's.
        const u2 = { ...u, email: `changed-${u.email}` };
        const b3 = new Browser(mode, b.trace);
        const changed = expectOk((await socialSignIn(b3, { user: u2, clientId: "sdk-client-static" })).res, "sign in with a changed e-mail");
        assert.equal(createdNew(changed), false);
        assert.equal(changed.user.id, body.user.id);
        assert.equal(userView(changed.user).email, u2.email, "the e-mail is updated");
        assert.equal(decodeJwtPayload(b3.currentAccessToken())["st-ev"].v, true, "st-ev of the new, verified e-mail");

        // An unverified provider e-mail: a user whose e-mail is not verified.
        const w = mockUser("tpu", false);
        const b4 = new Browser(mode, b.trace);
        const unverified = expectOk((await socialSignIn(b4, { user: w, clientId: "sdk-client-static" })).res, "sign up with an unverified e-mail");
        assert.equal(createdNew(unverified), true);
        assert.notEqual(unverified.user.id, body.user.id);
        if (SDK_INFO.accountLinking) assert.equal(userView(unverified.user).verified, false);
        assert.equal(decodeJwtPayload(b4.currentAccessToken())["st-ev"].v, false, "st-ev false");

        // Without account linking an e-mail-password sign-up with the same e-mail is another user.
        const ep = expectOk(await new Browser(mode, b.trace).signUp(u2.email, PASSWORD), "e-mail-password sign-up with that e-mail");
        assert.notEqual(ep.user.id, body.user.id);

        const cu = await coreUser(b, body.user.id);
        if (cu) {
            assert.deepEqual(cu.thirdParty, [{ id: "mock", userId: u.sub }]);
            assert.deepEqual(cu.emails, [u2.email]);
            assert.equal(cu.loginMethods.length, 1);
            assert.equal(cu.loginMethods[0].recipeId, "thirdparty");
            assert.equal(cu.loginMethods[0].verified, true);
        }
    },

    // Per-tenant providers stored in the core (createOrUpdateThirdPartyConfig -> config/thirdparty):
    // each tenant's own client (t2: a public client with PKCE), users per tenant, a user added to
    // a second tenant (associateUserToTenant -> tenant/user) and removed from the first, a
    // provider removed from a tenant.
    async "thirdparty-tenants"(b, mode) {
        const t1 = `tpa-${rand8()}`;
        const t2 = `tpb-${rand8()}`;
        const c1 = await createTenant(b, t1, { providers: [tenantProvider("sdk-client-t1", "Mock for t1")] });
        assert.equal(c1.createdNew, true, "tenant t1 is new");
        assert.deepEqual(c1.providers, [{ status: "OK", createdNew: true }]);
        const c1b = await createTenant(b, t1, { providers: [tenantProvider("sdk-client-t1", "Mock for t1")] });
        assert.equal(c1b.createdNew, false, "tenant t1 exists");
        assert.deepEqual(c1b.providers, [{ status: "OK", createdNew: false }], "the same provider again: updated");
        await createTenant(b, t2, { providers: [tenantProvider("sdk-client-t2-pkce", "Mock for t2")] });

        // U at t1, with t1's client.
        const u = mockUser("tpt");
        const b1 = new Browser(mode, b.trace);
        const s1 = await socialSignIn(b1, { tenantId: t1, user: u, clientId: "sdk-client-t1" });
        assert.equal(s1.authUrl.searchParams.get("prompt"), "login", "t1's authorizationEndpointQueryParams (kept by the core)");
        const at1 = expectOk(s1.res, `sign up at ${t1}`);
        assert.equal(createdNew(at1), true);
        assert.deepEqual(userView(at1.user).tenantIds, [t1]);
        assert.equal(decodeJwtPayload(b1.currentAccessToken()).tId, t1);
        const p1 = await b1.request("GET", "/protected-db");
        expectStatus(p1, 200, "GET /protected-db");
        assert.equal(p1.json.tenantId, t1);
        assert.equal(p1.json.userId, at1.user.id);

        // The same provider user at t2, with t2's public client and PKCE: another user.
        const s2 = await socialSignIn(new Browser(mode, b.trace), { tenantId: t2, user: u, clientId: "sdk-client-t2-pkce" });
        assert.ok(s2.pkce && s2.authUrl.searchParams.get("code_challenge"), "PKCE for t2's public client");
        const at2 = expectOk(s2.res, `sign up at ${t2}`);
        assert.equal(createdNew(at2), true, "a tenant's third-party users are its own");
        assert.notEqual(at2.user.id, at1.user.id);
        assert.deepEqual(userView(at2.user).tenantIds, [t2]);

        // U cannot join t2: t2 has a user with that provider identity.
        const dup = await admin(b, "/test/tenant/associate", { tenantId: t2, recipeUserId: at1.user.id });
        assert.equal(dup.status, "THIRD_PARTY_USER_ALREADY_EXISTS_ERROR", JSON.stringify(dup));

        // V joins t2 (tenant/user), then signs in there as the same user.
        const vu = mockUser("tpv");
        const v1 = expectOk((await socialSignIn(new Browser(mode, b.trace), { tenantId: t1, user: vu, clientId: "sdk-client-t1" })).res, `V at ${t1}`);
        const assoc = await admin(b, "/test/tenant/associate", { tenantId: t2, recipeUserId: v1.user.id });
        assert.deepEqual(assoc, { status: "OK", wasAlreadyAssociated: false });
        const assoc2 = await admin(b, "/test/tenant/associate", { tenantId: t2, recipeUserId: v1.user.id });
        assert.deepEqual(assoc2, { status: "OK", wasAlreadyAssociated: true });
        const bv2 = new Browser(mode, b.trace);
        const v2 = expectOk((await socialSignIn(bv2, { tenantId: t2, user: vu, clientId: "sdk-client-t2-pkce" })).res, `V at ${t2}`);
        assert.equal(createdNew(v2), false, "V is already a user of t2");
        assert.equal(v2.user.id, v1.user.id);
        assert.deepEqual(userView(v2.user).tenantIds, [t1, t2].sort());
        assert.equal(decodeJwtPayload(bv2.currentAccessToken()).tId, t2);

        // V leaves t1: signing in there makes a new user.
        const dis = await admin(b, "/test/tenant/disassociate", { tenantId: t1, recipeUserId: v1.user.id });
        assert.deepEqual(dis, { status: "OK", wasAssociated: true });
        const v3 = expectOk((await socialSignIn(new Browser(mode, b.trace), { tenantId: t1, user: vu, clientId: "sdk-client-t1" })).res, `V at ${t1} again`);
        assert.equal(createdNew(v3), true, "V left t1");
        assert.notEqual(v3.user.id, v1.user.id);
        const cu = await coreUser(b, v1.user.id);
        if (cu) assert.deepEqual([...cu.tenantIds].sort(), [t2]);

        // An unknown provider, and t1's provider removed (config/thirdparty/remove).
        const none = await b.request("GET", `/auth/${t1}/authorisationurl?thirdPartyId=nope&redirectURIOnProviderDashboard=${encodeURIComponent(OAUTH_REDIRECT)}`, { headers: { rid: "thirdparty" } });
        expectStatus(none, 400, "authorisation URL of an unknown provider");
        const rm = await admin(b, "/test/tenant/remove-provider", { tenantId: t1, thirdPartyId: "mock" });
        assert.deepEqual(rm, { status: "OK", didConfigExist: true });
        const gone = await b.request("GET", `/auth/${t1}/authorisationurl?thirdPartyId=mock&redirectURIOnProviderDashboard=${encodeURIComponent(OAUTH_REDIRECT)}`, { headers: { rid: "thirdparty" } });
        if (CDI >= 5.1) {
            expectStatus(gone, 400, "authorisation URL of a removed provider");
        } else {
            // supertokens-node <= 18 gives a tenant with no provider in the core the app's static
            // providers (mergeProvidersFromCoreAndStatic; `includeInNonPublicTenantsByDefault`
            // came with node 20): the static client again.
            const back = new URL(expectOk(gone, "authorisation URL once the tenant's provider is removed").urlWithQueryParams);
            assert.equal(back.searchParams.get("client_id"), "sdk-client-static", "node <= 18: the static provider");
        }
    },

    // E-mail OTP: a wrong code counts (INCORRECT_USER_INPUT_CODE_ERROR 1 of 5), resend, the right
    // code signs up (verified e-mail, st-ev true), the used code restarts the flow; signing in
    // again is the same user.
    async "passwordless-email-otp"(b, mode) {
        const email = newEmail("pwl");
        const dev = await createCode(b, email);
        const sent = await lastCode(b, email);
        assert.equal(sent.via, "email");
        assert.equal(sent.preAuthSessionId, dev.preAuthSessionId);
        assert.match(sent.userInputCode, /^[0-9]{6}$/, "a 6-digit code");
        assert.equal(sent.codeLifetime, 900000, "the core's default passwordless_code_lifetime");
        assert.ok(!b.hasSession(), "no session before the code is consumed");

        const wrong = expectStatusField(await consumeOtp(b, dev, wrongCode(sent.userInputCode)), "INCORRECT_USER_INPUT_CODE_ERROR", "a wrong code");
        assert.equal(wrong.failedCodeInputAttemptCount, 1);
        assert.equal(wrong.maximumCodeInputAttempts, 5);
        assert.ok(!b.hasSession());

        expectOk(
            await b.request("POST", "/auth/signinup/code/resend", {
                body: { deviceId: dev.deviceId, preAuthSessionId: dev.preAuthSessionId },
                headers: { rid: "passwordless" },
            }),
            "resend the code",
        );
        const resent = await lastCode(b, email);
        assert.equal(resent.count, 2, "a second e-mail");
        assert.equal(resent.preAuthSessionId, dev.preAuthSessionId, "same device");

        const ok = expectOk(await consumeOtp(b, dev, resent.userInputCode), "the right code");
        assert.equal(createdNew(ok), true);
        const v = userView(ok.user);
        assert.equal(v.email, email);
        assert.deepEqual(v.tenantIds, ["public"]);
        if (SDK_INFO.accountLinking) {
            assert.equal(v.recipeId, "passwordless");
            assert.equal(v.verified, true, "a passwordless e-mail is verified");
        }
        assertSessionTransport(b, mode);
        const at = decodeJwtPayload(b.currentAccessToken());
        assert.equal(at.sub, ok.user.id);
        assert.equal(at["st-ev"].v, true);

        const reuse = new Browser(mode, b.trace);
        expectStatusField(await consumeOtp(reuse, dev, resent.userInputCode), "RESTART_FLOW_ERROR", "the used code again");
        assert.ok(!reuse.hasSession());

        const again = await passwordlessSignIn(new Browser(mode, b.trace), email);
        assert.equal(createdNew(again.body), false, "signing in again");
        assert.equal(again.body.user.id, ok.user.id);
        const p = await b.request("GET", "/protected-db");
        expectStatus(p, 200, "GET /protected-db");
        assert.equal(p.json.userId, ok.user.id);
    },

    // Magic links (e-mail and SMS): the link's code signs in, the used link restarts the flow, a
    // made-up link code too; SMS OTP signs the phone user in again.
    async "passwordless-magic-link"(b, mode) {
        const email = newEmail("link");
        const dev = await createCode(b, email);
        const sent = await lastCode(b, email);
        assert.match(sent.urlWithLinkCode, /^http:\/\/localhost:3000\/auth\/verify\?/);
        assert.equal(sent.linkPreAuthSessionId, dev.preAuthSessionId);
        assert.ok(sent.linkCode, "the link carries the link code (#fragment)");
        const ok = expectOk(await consumeLink(b, dev.preAuthSessionId, sent.linkCode), "consume the magic link");
        assert.equal(createdNew(ok), true);
        assert.equal(userView(ok.user).email, email);
        assertSessionTransport(b, mode);
        expectStatusField(await consumeLink(new Browser(mode, b.trace), dev.preAuthSessionId, sent.linkCode), "RESTART_FLOW_ERROR", "the used link again");

        // (a new browser: with a session, node 18-20 send a code for the session user's second
        // factor, OTP only)
        const phone = newPhone();
        const pdev = await createCode(new Browser(mode, b.trace), phone);
        const sms = await lastCode(b, phone);
        assert.equal(sms.via, "sms");
        assert.equal(sms.preAuthSessionId, pdev.preAuthSessionId);
        expectStatusField(
            await consumeLink(new Browser(mode, b.trace), pdev.preAuthSessionId, Buffer.from(randomUUID() + randomUUID()).toString("base64url").slice(0, 43)),
            "RESTART_FLOW_ERROR",
            "a made-up link code",
        );
        const pb = new Browser(mode, b.trace);
        const pok = expectOk(await consumeLink(pb, pdev.preAuthSessionId, sms.linkCode), "consume the SMS magic link");
        assert.equal(createdNew(pok), true);
        const pv = userView(pok.user);
        assert.equal(pv.phoneNumber, phone);
        assert.equal(pv.email, undefined);
        assert.equal(decodeJwtPayload(pb.currentAccessToken()).sub, pok.user.id);
        const again = await passwordlessSignIn(new Browser(mode, b.trace), phone);
        assert.equal(createdNew(again.body), false, "the phone user signs in again by SMS OTP");
        assert.equal(again.body.user.id, pok.user.id);
    },

    // Five wrong codes: 1..4 counted, the fifth ends the device (RESTART_FLOW_ERROR) and even the
    // right code no longer works; a new code does.
    async "passwordless-max-attempts"(b) {
        const email = newEmail("attempts");
        const dev = await createCode(b, email);
        const sent = await lastCode(b, email);
        const bad = wrongCode(sent.userInputCode);
        for (let i = 1; i <= 4; i++) {
            const r = expectStatusField(await consumeOtp(b, dev, bad), "INCORRECT_USER_INPUT_CODE_ERROR", `wrong code #${i}`);
            assert.equal(r.failedCodeInputAttemptCount, i);
            assert.equal(r.maximumCodeInputAttempts, 5);
        }
        expectStatusField(await consumeOtp(b, dev, bad), "RESTART_FLOW_ERROR", "wrong code #5");
        expectStatusField(await consumeOtp(b, dev, sent.userInputCode), "RESTART_FLOW_ERROR", "the right code after the device was removed");
        assert.ok(!b.hasSession());
        const fresh = await passwordlessSignIn(b, email);
        assert.equal(createdNew(fresh.body), true, "a new code signs up");
    },

    // Code expiry, on a tenant whose coreConfig has passwordless_code_lifetime 1500 ms: the expired
    // OTP -> EXPIRED_USER_INPUT_CODE_ERROR (counted), the expired link -> RESTART_FLOW_ERROR;
    // resend, and the new code signs in to that tenant.
    async "passwordless-expiry"(b, mode) {
        const t = `pwx-${rand8()}`;
        await createTenant(b, t, { coreConfig: { passwordless_code_lifetime: 1500 } });
        const email = newEmail("expiry");
        const dev = await createCode(b, email, t);
        const sent = await lastCode(b, email);
        assert.equal(sent.codeLifetime, 1500, "the tenant's passwordless_code_lifetime");
        assert.equal(sent.tenantId, t);
        await new Promise((r) => setTimeout(r, 1700));
        const exp = expectStatusField(await consumeOtp(b, dev, sent.userInputCode, t), "EXPIRED_USER_INPUT_CODE_ERROR", "the expired code");
        assert.equal(exp.failedCodeInputAttemptCount, 1);
        assert.equal(exp.maximumCodeInputAttempts, 5);
        expectStatusField(await consumeLink(b, dev.preAuthSessionId, sent.linkCode, t), "RESTART_FLOW_ERROR", "the expired link");
        expectOk(
            await b.request("POST", `/auth/${t}/signinup/code/resend`, {
                body: { deviceId: dev.deviceId, preAuthSessionId: dev.preAuthSessionId },
                headers: { rid: "passwordless" },
            }),
            "resend",
        );
        const resent = await lastCode(b, email);
        const ok = expectOk(await consumeOtp(b, dev, resent.userInputCode, t), "the new code");
        assert.equal(createdNew(ok), true);
        assert.deepEqual(userView(ok.user).tenantIds, [t]);
        assertSessionTransport(b, mode);
        assert.equal(decodeJwtPayload(b.currentAccessToken()).tId, t);
    },

    // Users in several tenants (tenant/user through associateUserToTenant): an e-mail-password user
    // of public joins tenant t and signs in there; a clash (the e-mail is taken in t) is refused;
    // leaving public ends signing in there; a passwordless user of t joins public.
    async "multitenancy-users"(b, mode) {
        const t = `mtu-${rand8()}`;
        await createTenant(b, t);
        const { email, userId } = await signedUp(b, "mtu");
        const a = await admin(b, "/test/tenant/associate", { tenantId: t, recipeUserId: userId });
        assert.deepEqual(a, { status: "OK", wasAlreadyAssociated: false });
        const bt = new Browser(mode, b.trace);
        const si = expectOk(
            await bt.request("POST", `/auth/${t}/signin`, {
                body: { formFields: [{ id: "email", value: email }, { id: "password", value: PASSWORD }] },
                headers: { rid: "emailpassword" },
            }),
            `sign in at ${t}`,
        );
        assert.equal(si.user.id, userId);
        assert.deepEqual(userView(si.user).tenantIds, ["public", t].sort());
        assert.equal(decodeJwtPayload(bt.currentAccessToken()).tId, t);
        const p = await bt.request("GET", "/protected-db");
        expectStatus(p, 200, "GET /protected-db");
        assert.equal(p.json.tenantId, t);

        // Someone else signed up in t with an e-mail that a public user has: that user cannot join t.
        const clash = newEmail("clash");
        expectOk(
            await new Browser(mode, b.trace).request("POST", `/auth/${t}/signup`, {
                body: { formFields: [{ id: "email", value: clash }, { id: "password", value: PASSWORD }] },
                headers: { rid: "emailpassword" },
            }),
            `sign up at ${t}`,
        );
        const other = expectOk(await new Browser(mode, b.trace).signUp(clash, PASSWORD), "sign up at public with the same e-mail");
        const refused = await admin(b, "/test/tenant/associate", { tenantId: t, recipeUserId: other.user.id });
        assert.equal(refused.status, "EMAIL_ALREADY_EXISTS_ERROR", JSON.stringify(refused));

        // The first user leaves public.
        const d = await admin(b, "/test/tenant/disassociate", { tenantId: "public", recipeUserId: userId });
        assert.deepEqual(d, { status: "OK", wasAssociated: true });
        const no = await new Browser(mode, b.trace).signIn(email, PASSWORD);
        assert.equal(no.json && no.json.status, "WRONG_CREDENTIALS_ERROR", `sign in at public after leaving it: ${no.text}`);
        const cu = await coreUser(b, userId);
        if (cu) assert.deepEqual(cu.tenantIds, [t]);

        // A passwordless user of t joins public and signs in there as the same user.
        const pe = newEmail("mtp");
        const pt = await passwordlessSignIn(new Browser(mode, b.trace), pe, t);
        assert.deepEqual(userView(pt.body.user).tenantIds, [t]);
        const pa = await admin(b, "/test/tenant/associate", { tenantId: "public", recipeUserId: pt.body.user.id });
        assert.deepEqual(pa, { status: "OK", wasAlreadyAssociated: false });
        const pp = await passwordlessSignIn(new Browser(mode, b.trace), pe);
        assert.equal(createdNew(pp.body), false, "the passwordless user of t is a user of public now");
        assert.equal(pp.body.user.id, pt.body.user.id);
    },

    // Cross-version sessions (teams upgrade SDKs while sessions are live): with the other releases'
    // apps on the same core that run.sh names in PEER_APPS (CROSS_VERSION_PEERS), a session started
    // through the other release is used and refreshed through this one, and the other way round.
    // A CDI 3.x release gets v4 access tokens (no `rsub`), 4.0+ gets v5; every release verifies
    // both offline (each SDK accepts any JWT header `version` >= 3) and the core verifies and
    // refreshes either at either CDI version, minting the token version of the refreshing
    // release's CDI.
    async "cross-version"(b, mode) {
        if (PEERS.length === 0) skip("no other release's app is running (PEER_APPS is empty; see ST_SDK_RELEASES)");
        for (const peer of PEERS) {
            const info = await sdkInfoOf(peer.url);
            const peerCdi = Math.max(...info.cdiSupported.map(Number));
            WATCHED_APPS.push({ base: peer.url, seq: await coreSeq(peer.url) });
            const tag = `${peer.name} (${info.sdk} ${info.version}, CDI ${peerCdi}) and ${SDK} (CDI ${CDI})`;
            b.trace.push(`--- cross-version: ${tag}`);
            try {
                await crossVersionPair(b.trace, mode, peer.url, info, peerCdi);
            } catch (e) {
                if (e && e.stack) e.stack = `${tag}: ${e.stack}`;
                throw e;
            }
        }
    },

    // Automatic account linking (the linking app: AccountLinking with shouldAutomaticallyLink and
    // shouldRequireVerification): an e-mail-password sign-up, unverified, is no primary user and
    // blocks a social sign-up with its e-mail (SIGN_IN_UP_NOT_ALLOWED, ERR_CODE_006); once the
    // e-mail is verified it becomes primary and the social sign-in with the same verified e-mail
    // links to it (one user, two login methods; session sub = the user, rsub = the login method);
    // the same e-mail unverified at another provider account is refused; a passwordless sign-in
    // with it links a third login method.
    async "accountlinking-automatic"(b0, mode) {
        await linkingApp(false);
        const L = APP_URL_LINKING;
        const tag = rand8();
        const email = `auto-${tag}@idp.example.com`;
        const b = new Browser(mode, b0.trace, L);
        const su = expectOk(await b.signUp(email, PASSWORD), "e-mail-password sign up");
        const epId = su.user.id;
        expectUser(su.user, epId, false, [lm("emailpassword", epId, email, false)], "sign-up answer (unverified: not primary)");

        const provider = { sub: `auto-${tag}`, email, email_verified: true };
        const early = await socialSignIn(new Browser(mode, b.trace, L), { user: provider, clientId: "sdk-client-static" });
        const refused = expectStatusField(early.res, "SIGN_IN_UP_NOT_ALLOWED", "social sign-up while an unverified account has the e-mail");
        assert.match(refused.reason, /ERR_CODE_006/, "the SDK's reason");

        // verify the e-mail-password account's e-mail (the SDK then makes it a primary user)
        expectOk(await b.request("POST", "/auth/user/email/verify/token", { body: {}, headers: { rid: "emailverification" } }), "verification e-mail");
        const link = expectOk(await b.request("GET", `/test/last-link?kind=verify&email=${encodeURIComponent(email)}`, { auth: false }), "captured link");
        expectOk(await b.request("POST", "/auth/user/email/verify", { body: { method: "token", token: link.token }, headers: { rid: "emailverification" } }), "verify");
        const primary = await coreUser(b, epId);
        expectUser(primary, epId, true, [lm("emailpassword", epId, email, true)], "after verification: primary");

        const tb = new Browser(mode, b.trace, L);
        const s = await socialSignIn(tb, { user: provider, clientId: "sdk-client-static" });
        const ok = expectOk(s.res, "social sign-in with the same verified e-mail");
        assert.equal(ok.createdNewRecipeUser, true, "a new login method");
        const tpLm = ok.user.loginMethods.find((m) => m.recipeId === "thirdparty");
        assert.ok(tpLm, `a thirdparty login method: ${JSON.stringify(ok.user)}`);
        const tpId = tpLm.recipeUserId;
        assert.notEqual(tpId, epId);
        const two = [lm("emailpassword", epId, email, true), lm("thirdparty", tpId, email, true, { id: "mock", userId: provider.sub })];
        expectUser(ok.user, epId, true, two, "sign-in answer: one user, two login methods");
        assertSessionTransport(tb, mode);
        await expectSessionOf(tb, epId, tpId, "social session");
        expectUser(await coreUser(b, tpId), epId, true, two, "getUser(thirdparty recipe user id)");

        const again = expectOk((await socialSignIn(new Browser(mode, b.trace, L), { user: provider, clientId: "sdk-client-static" })).res, "social sign-in again");
        assert.equal(again.createdNewRecipeUser, false, "same login method");
        assert.equal(again.user.id, epId);

        // another account at the provider with the same e-mail, unverified there: refused
        const other = { sub: `auto-other-${tag}`, email, email_verified: false };
        const no = await socialSignIn(new Browser(mode, b.trace, L), { user: other, clientId: "sdk-client-static" });
        const no2 = expectStatusField(no.res, "SIGN_IN_UP_NOT_ALLOWED", "social sign-up with the e-mail unverified");
        assert.match(no2.reason, /ERR_CODE_006/, "the SDK's reason");

        // passwordless with the e-mail (verified by the code): a third login method
        const pb = new Browser(mode, b.trace, L);
        const pl = await passwordlessSignIn(pb, email);
        assert.equal(pl.body.createdNewRecipeUser, true);
        assert.equal(pl.body.user.id, epId);
        const plId = pl.body.user.loginMethods.find((m) => m.recipeId === "passwordless").recipeUserId;
        const three = [...two, lm("passwordless", plId, email, true)];
        expectUser(pl.body.user, epId, true, three, "passwordless sign-in answer");
        await expectSessionOf(pb, epId, plId, "passwordless session");

        // the e-mail-password login method signs in to the same user
        const eb = new Browser(mode, b.trace, L);
        const si = expectOk(await eb.signIn(email, PASSWORD), "e-mail-password sign-in");
        expectUser(si.user, epId, true, three, "e-mail-password sign-in answer");
        await expectSessionOf(eb, epId, epId, "e-mail-password session");
    },

    // Manual linking through the SDK's functions (automatic linking is off for "manual-" e-mails):
    // createPrimaryUser, linkAccounts (its login method's sessions revoked), a link to a linked
    // login method's id (the core resolves its primary user), the errors, unlinkAccount (a linked
    // login method leaves; the primary id itself is deleted, its group keeps the id), the user
    // object's login methods after each step.
    async "accountlinking-manual"(b0, mode) {
        await linkingApp(false);
        const L = APP_URL_LINKING;
        const trace = b0.trace;
        const mk = (t) => `manual-${t}-${rand8()}@example.com`;
        const aEmail = mk("ep");
        const ab = new Browser(mode, trace, L);
        const a = expectOk(await ab.signUp(aEmail, PASSWORD), "e-mail-password sign up").user.id;
        const provider = { sub: `manual-${rand8()}`, email: mk("tp"), email_verified: true };
        const bb = new Browser(mode, trace, L);
        const bUser = expectOk((await socialSignIn(bb, { user: provider, clientId: "sdk-client-static" })).res, "social sign up").user;
        const b = bUser.id;
        const cEmail = mk("pl");
        const c = (await passwordlessSignIn(new Browser(mode, trace, L), cEmail)).body.user.id;
        const A = lm("emailpassword", a, aEmail, false);
        const B = lm("thirdparty", b, provider.email, true, { id: "mock", userId: provider.sub });
        const C = lm("passwordless", c, cEmail, true);
        expectUser(bUser, b, false, [B], "no automatic linking for manual- e-mails");
        expectUser(await coreUser(ab, c), c, false, [C], "the passwordless user");

        assert.deepEqual(await accountLinking(ab, "can-create-primary", a), { status: "OK", wasAlreadyAPrimaryUser: false });
        const p1 = await accountLinking(ab, "create-primary", a);
        assert.equal(p1.status, "OK", JSON.stringify(p1));
        assert.equal(p1.wasAlreadyAPrimaryUser, false);
        expectUser(p1.user, a, true, [A], "createPrimaryUser");
        const p2 = await accountLinking(ab, "create-primary", a);
        assert.equal(p2.wasAlreadyAPrimaryUser, true, JSON.stringify(p2));

        // the primary user must be one: c is not
        const notPrimary = await accountLinking(ab, "link", b, c);
        assert.equal(notPrimary.status, "INPUT_USER_IS_NOT_A_PRIMARY_USER", JSON.stringify(notPrimary));

        assert.deepEqual(await accountLinking(ab, "can-link", b, a), { status: "OK", accountsAlreadyLinked: false });
        const l1 = await accountLinking(ab, "link", b, a);
        assert.equal(l1.status, "OK", JSON.stringify(l1));
        assert.equal(l1.accountsAlreadyLinked, false);
        expectUser(l1.user, a, true, [A, B], "linkAccounts(b, a)");
        expectUser(await coreUser(ab, b), a, true, [A, B], "getUser(b) after linking");
        const l2 = await accountLinking(ab, "link", b, a);
        assert.equal(l2.status, "OK", JSON.stringify(l2));
        assert.equal(l2.accountsAlreadyLinked, true, "linking again");
        // b's session started before the link (sub b) is revoked; b signs in again as user a
        expectStatus(await bb.request("GET", "/protected-db"), 401, "b's old session after linking");
        const bb2 = new Browser(mode, trace, L);
        const again = expectOk((await socialSignIn(bb2, { user: provider, clientId: "sdk-client-static" })).res, "b signs in again");
        expectUser(again.user, a, true, [A, B], "b's sign-in answer");
        await expectSessionOf(bb2, a, b, "b's new session");
        // a's session is untouched
        await expectSessionOf(ab, a, a, "a's session");

        const cp = await accountLinking(ab, "create-primary", b);
        assert.equal(cp.status, "RECIPE_USER_ID_ALREADY_LINKED_WITH_PRIMARY_USER_ID_ERROR", JSON.stringify(cp));
        assert.equal(cp.primaryUserId, a);
        // linking to b's id (a login method of a): the core links to b's primary user, a
        const l3 = await accountLinking(ab, "link", c, b);
        assert.equal(l3.status, "OK", JSON.stringify(l3));
        expectUser(l3.user, a, true, [A, B, C], "linkAccounts(c, b) where b belongs to a");
        const bc = await accountLinking(ab, "can-link", c, a);
        assert.deepEqual(bc, { status: "OK", accountsAlreadyLinked: true });

        // unlink b: it stands alone again, a keeps the others; b's sessions are revoked
        const u1 = await accountLinking(ab, "unlink", b);
        assert.deepEqual(u1, { status: "OK", wasRecipeUserDeleted: false, wasLinked: true });
        expectUser(await coreUser(ab, a), a, true, [A, C], "a after unlinking b");
        expectUser(await coreUser(ab, b), b, false, [B], "b after unlinking");
        expectStatus(await bb2.request("GET", "/protected-db"), 401, "b's session after unlinking");
        assert.deepEqual(await accountLinking(ab, "unlink", b), { status: "OK", wasRecipeUserDeleted: false, wasLinked: false }, "unlinking a user that is not linked");

        // unlink a, the primary id itself, while c is linked: the login method a is deleted, the
        // group keeps the id a (with c's login method only)
        const u2 = await accountLinking(ab, "unlink", a);
        assert.deepEqual(u2, { status: "OK", wasRecipeUserDeleted: true, wasLinked: true });
        expectUser(await coreUser(ab, c), a, true, [C], "c after a was unlinked (deleted)");
        expectStatus(await ab.request("GET", "/protected-db"), 401, "a's session after a was deleted");
        const gone = await new Browser(mode, trace, L).signIn(aEmail, PASSWORD);
        assert.equal(gone.json && gone.json.status, "WRONG_CREDENTIALS_ERROR", `sign in as the deleted login method: ${gone.text}`);
        const cb = new Browser(mode, trace, L);
        const cs = await passwordlessSignIn(cb, cEmail);
        assert.equal(cs.body.user.id, a, "c signs in to the group a");
        await expectSessionOf(cb, a, c, "c's session");
    },

    // MFA with TOTP, required for the user (MultiFactorAuth.addToRequiredSecondaryFactorsForUser ->
    // user metadata): the first factor's session has st-mfa v false and /protected refuses it;
    // the device is created through the SDK's TOTP API, a wrong code is counted (1 of 5), the code
    // computed here from the secret verifies the device and completes the factor (v true,
    // /protected 200); the next sign-in needs the factor again: the used code is refused, a fresh
    // one passes.
    async "mfa-totp"(b0, mode) {
        await linkingApp(true);
        const L = APP_URL_LINKING;
        const b = new Browser(mode, b0.trace, L);
        const email = newEmail("mfa");
        const userId = expectOk(await b.signUp(email, PASSWORD), "sign up").user.id;
        assert.deepEqual(Object.keys(mfaClaim(b).c), ["emailpassword"], "st-mfa: the first factor completed");
        assert.equal(mfaClaim(b).v, true, "st-mfa: nothing else required yet");
        expectStatus(await b.request("GET", "/protected"), 200, "GET /protected with no second factor required");
        const req = await admin(b, "/test/mfa/require-factor", { userId, factorId: "totp" });
        assert.deepEqual(req.requiredSecondaryFactors, ["totp"]);

        const s = new Browser(mode, b0.trace, L);
        expectOk(await s.signIn(email, PASSWORD), "sign in (first factor)");
        assert.equal(mfaClaim(s).v, false, "st-mfa: TOTP required");
        await expectMfaRequired(s, "after the first factor");
        const info = expectOk(await s.request("PUT", "/auth/mfa/info", { headers: { rid: "multifactorauth" } }), "PUT /auth/mfa/info");
        assert.deepEqual(info.factors.next, ["totp"], `mfa info: ${JSON.stringify(info.factors)}`);

        const dev = expectOk(await totpApi(s, "/auth", "device", {}), "create a TOTP device");
        assert.match(dev.secret, /^[A-Z2-7]{32}$/, "a base32 secret of 20 bytes");
        assert.match(dev.qrCodeString, /^otpauth:\/\/totp\//);
        const used = new Set();
        const code = freshTotp(dev.secret, used);
        const bad = expectStatusField(await totpApi(s, "/auth", "device/verify", { deviceName: dev.deviceName, totp: wrongCode(code) }), "INVALID_TOTP_ERROR", "a wrong code");
        assert.equal(bad.currentNumberOfFailedAttempts, 1);
        assert.equal(bad.maxNumberOfFailedAttempts, 5);
        await expectMfaRequired(s, "after a wrong code");
        const ok = expectOk(await totpApi(s, "/auth", "device/verify", { deviceName: dev.deviceName, totp: code }), "verify the device");
        assert.equal(ok.wasAlreadyVerified, false);
        assert.equal(mfaClaim(s).v, true, "st-mfa: satisfied");
        assert.deepEqual(Object.keys(mfaClaim(s).c).sort(), ["emailpassword", "totp"]);
        const p = await s.request("GET", "/protected");
        expectStatus(p, 200, "GET /protected after TOTP");
        assert.equal(p.json.userId, userId);
        expectStatus(await s.request("GET", "/protected-db"), 200, "GET /protected-db after TOTP");
        const list = await s.request("GET", "/auth/totp/device/list", { headers: { rid: "totp" } });
        assert.deepEqual(expectOk(list, "list devices").devices, [{ name: dev.deviceName, period: 30, skew: 1, verified: true }]);

        // the next sign-in: TOTP again
        const n = new Browser(mode, b0.trace, L);
        expectOk(await n.signIn(email, PASSWORD), "sign in again");
        await expectMfaRequired(n, "second sign-in");
        const reuse = expectStatusField(await totpApi(n, "/auth", "verify", { totp: code }), "INVALID_TOTP_ERROR", "the used code again");
        assert.equal(reuse.currentNumberOfFailedAttempts, 1, "a replayed code counts as a failure");
        expectOk(await totpApi(n, "/auth", "verify", { totp: freshTotp(dev.secret, used) }), "a fresh code");
        assert.equal(mfaClaim(n).v, true);
        expectStatus(await n.request("GET", "/protected"), 200, "GET /protected after TOTP (second sign-in)");
    },

    // TOTP required by the tenant (requiredSecondaryFactors ["totp"] in the core's tenant config)
    // with coreConfig totp_max_attempts 3 and totp_rate_limit_cooldown_sec 5: three wrong codes
    // are counted (1..3 of 3), then even the right code is LIMIT_REACHED_ERROR (retryAfterMs) and
    // the route stays refused; after the cool-down the right code completes the factor. (The core
    // counts the wrong codes within one cool-down of the last: 5 s leaves room for a loaded box.)
    async "mfa-totp-limit"(b0, mode) {
        await linkingApp(true);
        const L = APP_URL_LINKING;
        const t = `mfa-${rand8()}`;
        const cooldown = 5;
        const tb = new Browser(mode, b0.trace, L);
        await createTenant(tb, t, { requiredSecondaryFactors: ["totp"], coreConfig: { totp_max_attempts: 3, totp_rate_limit_cooldown_sec: cooldown } });
        const email = newEmail("mfalimit");
        const b = new Browser(mode, b0.trace, L);
        const signUp = (br) =>
            br.request("POST", `/auth/${t}/signup`, { body: { formFields: [{ id: "email", value: email }, { id: "password", value: PASSWORD }] }, headers: { rid: "emailpassword" } });
        expectOk(await signUp(b), `sign up at ${t}`);
        assert.equal(mfaClaim(b).v, false, "st-mfa: the tenant requires TOTP");
        await expectMfaRequired(b, "sign-up at the tenant");
        const dev = expectOk(await totpApi(b, `/auth/${t}`, "device", {}), "create a TOTP device");
        const used = new Set();
        expectOk(await totpApi(b, `/auth/${t}`, "device/verify", { deviceName: dev.deviceName, totp: freshTotp(dev.secret, used) }), "verify the device");
        expectStatus(await b.request("GET", "/protected"), 200, "GET /protected after TOTP");

        const n = new Browser(mode, b0.trace, L);
        expectOk(
            await n.request("POST", `/auth/${t}/signin`, { body: { formFields: [{ id: "email", value: email }, { id: "password", value: PASSWORD }] }, headers: { rid: "emailpassword" } }),
            `sign in at ${t}`,
        );
        await expectMfaRequired(n, "sign-in at the tenant");
        const good = freshTotp(dev.secret, used);
        const firstWrong = Date.now();
        for (let i = 1; i <= 3; i++) {
            const r = expectStatusField(await totpApi(n, `/auth/${t}`, "verify", { totp: wrongCode(good) }), "INVALID_TOTP_ERROR", `wrong code #${i}`);
            assert.equal(r.currentNumberOfFailedAttempts, i);
            assert.equal(r.maxNumberOfFailedAttempts, 3);
        }
        const lim = expectStatusField(await totpApi(n, `/auth/${t}`, "verify", { totp: good }), "LIMIT_REACHED_ERROR", "the right code after three wrong ones");
        const took = Date.now() - firstWrong;
        assert.ok(took < cooldown * 1000, `the three wrong codes and the check took ${took} ms, more than the ${cooldown} s cool-down (a very slow box)`);
        assert.ok(lim.retryAfterMs > 0 && lim.retryAfterMs <= cooldown * 1000, `retryAfterMs ${lim.retryAfterMs}`);
        await expectMfaRequired(n, "while rate-limited");
        await new Promise((r) => setTimeout(r, lim.retryAfterMs + 200));
        expectOk(await totpApi(n, `/auth/${t}`, "verify", { totp: good }), "the right code after the cool-down");
        assert.equal(mfaClaim(n).v, true);
        const p = await n.request("GET", "/protected");
        expectStatus(p, 200, "GET /protected after TOTP");
        assert.equal(p.json.tenantId, t);
    },

    // Passkeys through the SDK's WebAuthn recipe, the runner being the browser and the software
    // authenticator (a synced passkey: counter 0): the register options carry the SDK's defaults
    // (relying party = the apiDomain's host, the e-mail as user name, EdDSA/ES256/RS256, resident
    // key required); a registration made at another origin is refused; the registration → a new
    // webauthn user with the credential, session; the same e-mail again → EMAIL_ALREADY_EXISTS_ERROR;
    // sign-in options → an assertion signed with the key → the same user, session. Refused, with no
    // session: an assertion signed by another key, one over another options' challenge, one made
    // at another origin, and an unknown credential (INVALID_CREDENTIALS_ERROR: the SDK answers it
    // for every failed verification).
    async "webauthn-sign-up-sign-in"(b, mode) {
        webauthnRecipe();
        const email = newEmail("passkey");
        const opts = await passkeyRegisterOptions(b, email);
        assert.equal(opts.rp.id, WEBAUTHN_RP_ID, "rp.id: the apiDomain's host");
        assert.equal(opts.rp.name, "st-sdk-tests", "rp.name: the appName");
        assert.equal(opts.user.name, email);
        assert.equal(opts.user.displayName, email);
        assert.ok(Buffer.from(opts.user.id, "base64url").length > 0, "a user handle");
        assert.ok(Buffer.from(opts.challenge, "base64url").length >= 16, `a challenge: ${opts.challenge}`);
        assert.deepEqual(opts.pubKeyCredParams.map((p) => p.alg), [-8, -7, -257]);
        assert.ok(opts.pubKeyCredParams.every((p) => p.type === "public-key"));
        assert.equal(opts.timeout, 60000);
        assert.equal(opts.attestation, "none");
        assert.equal(opts.authenticatorSelection.residentKey, "required");
        assert.equal(opts.authenticatorSelection.userVerification, "preferred");
        assert.deepEqual(opts.excludeCredentials, []);
        assert.equal(opts.expiresAt - opts.createdAt, 60000, "the options expire after their timeout");

        const pk = await Passkey.create();
        const elsewhere = await passkeySignUp(b, opts, passkeyRegistration(pk, opts, { origin: "http://localhost:3001" }));
        expectRefused(b, elsewhere, "INVALID_AUTHENTICATOR_ERROR", "a registration made at another origin");
        assert.match(elsewhere.json.reason, /origin/i, `the reason names the origin: ${elsewhere.json.reason}`);
        const su = await passkeySignUp(b, opts, passkeyRegistration(pk, opts));
        const body = expectOk(su, "passkey sign up");
        const userId = body.user.id;
        expectPasskeyUser(body.user, userId, email, pk, "sign-up answer");
        assert.equal(body.user.loginMethods[0].verified, false, "the e-mail is not verified");
        await expectSessionUser(b, mode, userId, "sign-up session");

        const again = new Browser(mode, b.trace);
        const opts2 = await passkeyRegisterOptions(again, email.toUpperCase());
        const dup = await passkeySignUp(again, opts2, passkeyRegistration(await Passkey.create(), opts2));
        expectRefused(again, dup, "EMAIL_ALREADY_EXISTS_ERROR", "a second passkey sign-up with the e-mail");

        // sign in: the refused ceremonies first, each over fresh options
        const s = new Browser(mode, b.trace);
        let so = await passkeySignInOptions(s);
        expectRefused(s, await passkeySignIn(s, so, passkeyAssertion(pk, so, { signer: await Passkey.create() })), "INVALID_CREDENTIALS_ERROR", "an assertion signed by another key");
        const other = await passkeySignInOptions(s);
        so = await passkeySignInOptions(s);
        assert.notEqual(other.challenge, so.challenge, "each options has its challenge");
        expectRefused(s, await passkeySignIn(s, so, passkeyAssertion(pk, so, { challenge: other.challenge })), "INVALID_CREDENTIALS_ERROR", "an assertion over another options' challenge");
        so = await passkeySignInOptions(s);
        expectRefused(s, await passkeySignIn(s, so, passkeyAssertion(pk, so, { origin: "http://localhost:3001" })), "INVALID_CREDENTIALS_ERROR", "an assertion made at another origin");
        so = await passkeySignInOptions(s);
        expectRefused(s, await passkeySignIn(s, so, passkeyAssertion(await Passkey.create(), so)), "INVALID_CREDENTIALS_ERROR", "an unknown credential");

        so = await passkeySignInOptions(s);
        assert.equal(so.rpId, WEBAUTHN_RP_ID);
        assert.equal(so.timeout, 60000);
        assert.equal(so.userVerification, "preferred");
        assert.ok(Buffer.from(so.challenge, "base64url").length >= 16, `a challenge: ${so.challenge}`);
        const si = expectOk(await passkeySignIn(s, so, passkeyAssertion(pk, so)), "passkey sign in");
        expectPasskeyUser(si.user, userId, email, pk, "sign-in answer");
        await expectSessionUser(s, mode, userId, "sign-in session");
        assert.notEqual(decodeJwtPayload(s.currentAccessToken()).sessionHandle, decodeJwtPayload(b.currentAccessToken()).sessionHandle, "a new session");
        // a synced passkey (counter 0) signs in again
        const s2 = new Browser(mode, b.trace);
        const so2 = await passkeySignInOptions(s2);
        expectPasskeyUser(expectOk(await passkeySignIn(s2, so2, passkeyAssertion(pk, so2)), "passkey sign in again").user, userId, email, pk, "second sign-in");
        await expectSessionUser(s2, mode, userId, "second sign-in session");
    },

    // A passkey whose authenticator counts its signatures (1, 2, ...). The newest releases verify
    // an assertion once (one POST /recipe/webauthn/signin): each sign-in with a higher counter
    // passes, the same assertion replayed and an older counter are refused (the core's clone
    // check). supertokens-node 23 and supertokens-python 0.30 verify it twice (their signInPOST's
    // verifyCredentials, then signIn verifies again: supertokens-core#1195, fixed in node 24 /
    // python 0.31): the second presentation of the same counter trips the core's clone check, so
    // a counting authenticator cannot sign in through them (checked: two core calls, the first OK,
    // the second INVALID_AUTHENTICATOR_ERROR, INVALID_CREDENTIALS_ERROR to the browser).
    async "webauthn-signature-counter"(b, mode) {
        webauthnRecipe();
        const pk = await Passkey.create({ counts: true });
        const { email, userId } = await passkeySignedUp(b, pk, "counter");
        const s = new Browser(mode, b.trace);
        const seq0 = await coreSeq();
        const so = await passkeySignInOptions(s);
        const first = passkeyAssertion(pk, so);
        assert.equal(pk.counter, 1);
        const r = await passkeySignIn(s, so, first);
        const verifications = (await coreCallsSince(seq0, r.requestId)).filter((c) => c.path.endsWith("/recipe/webauthn/signin"));
        if (verifications.length === 2) {
            assert.equal(JSON.parse(verifications[0].response).status, "OK", "the first verification");
            assert.equal(JSON.parse(verifications[1].response).status, "INVALID_AUTHENTICATOR_ERROR", "the second verification of the same counter");
            expectRefused(s, r, "INVALID_CREDENTIALS_ERROR", "a counting authenticator through a release that verifies twice");
            const so2 = await passkeySignInOptions(s);
            expectRefused(s, await passkeySignIn(s, so2, passkeyAssertion(pk, so2)), "INVALID_CREDENTIALS_ERROR", "and the next counter");
            return;
        }
        assert.equal(verifications.length, 1, `POST /recipe/webauthn/signin calls: ${JSON.stringify(verifications)}`);
        expectPasskeyUser(expectOk(r, "sign in, counter 1").user, userId, email, pk, "sign-in answer");
        await expectSessionUser(s, mode, userId, "counter 1");
        const s2 = new Browser(mode, b.trace);
        const so2 = await passkeySignInOptions(s2);
        const second = passkeyAssertion(pk, so2);
        assert.equal(pk.counter, 2);
        expectOk(await passkeySignIn(s2, so2, second), "sign in, counter 2");
        await expectSessionUser(s2, mode, userId, "counter 2");
        const s3 = new Browser(mode, b.trace);
        expectRefused(s3, await passkeySignIn(s3, so2, second), "INVALID_CREDENTIALS_ERROR", "the counter-2 assertion replayed");
        const so3 = await passkeySignInOptions(s3);
        expectRefused(s3, await passkeySignIn(s3, so3, passkeyAssertion(pk, so3, { counter: 1 })), "INVALID_CREDENTIALS_ERROR", "an older counter");
        const so4 = await passkeySignInOptions(s3);
        expectOk(await passkeySignIn(s3, so4, passkeyAssertion(pk, so4, { counter: 7 })), "a higher counter");
        await expectSessionUser(s3, mode, userId, "counter 7");
    },

    // The other two algorithms of the SDK's default list, through the same SDK routes: a passkey
    // with an Ed25519 key (EdDSA, COSE -8) and one with an RSA-2048 key (RS256, COSE -257) each
    // sign up and sign in (their COSE keys and signatures as authenticators make them); an
    // assertion signed by another key of the same algorithm is refused.
    async "webauthn-algorithms"(b, mode) {
        webauthnRecipe();
        for (const alg of ["EdDSA", "RS256"]) {
            const pk = await Passkey.create({ alg });
            const su = new Browser(mode, b.trace);
            const { email, userId, body } = await passkeySignedUp(su, pk, `passkey-${alg.toLowerCase()}`);
            expectPasskeyUser(body.user, userId, email, pk, `${alg} sign-up answer`);
            await expectSessionUser(su, mode, userId, `${alg} sign-up session`);
            const s = new Browser(mode, b.trace);
            let so = await passkeySignInOptions(s);
            expectRefused(s, await passkeySignIn(s, so, passkeyAssertion(pk, so, { signer: await Passkey.create({ alg }) })), "INVALID_CREDENTIALS_ERROR", `${alg}: an assertion signed by another key`);
            so = await passkeySignInOptions(s);
            expectPasskeyUser(expectOk(await passkeySignIn(s, so, passkeyAssertion(pk, so)), `${alg} sign in`).user, userId, email, pk, `${alg} sign-in answer`);
            await expectSessionUser(s, mode, userId, `${alg} sign-in session`);
        }
    },

    // The user-management dashboard's own sign-in (the Dashboard recipe without an apiKey): a
    // dashboard user made in the core (POST /recipe/dashboard/user, through /test/dashboard-user);
    // a wrong password and an unknown e-mail → INVALID_CREDENTIALS_ERROR; the right one → a
    // session id, with which the dashboard's API answers (the users count; an app user's details
    // with the first name from its metadata); a change of the user's metadata by an operator who is
    // not one of the app's admins → 403, by the admin → done; a made-up session id → 401 (no Authorization header
    // at all is not tried: the SDKs then send the core no sessionId, which the core refuses with a
    // 400 as the reference does, and the SDK throws); two sessions, one
    // signed out → that one 401, the other still 200; the dashboard user removed in the core → its
    // other session 401 too.
    async "dashboard-sign-in"(b, mode) {
        const email = newEmail("operator");
        const password = "dash-board-7";
        const created = await admin(b, "/test/dashboard-user", { email, password });
        assert.equal(created.status, "OK", `POST /recipe/dashboard/user: ${JSON.stringify(created)}`);
        assert.equal(created.user.email, email);
        // an app user, with a first name in its metadata (the dashboard shows it)
        const { email: userEmail, userId } = await signedUp(b, "dashview");
        expectStatus(await b.request("POST", "/metadata", { body: { first_name: "Ada", last_name: "Lovelace" } }), 200, "POST /metadata");

        const d = new Browser(mode, b.trace);
        const wrong = await dashboardApi(d, "POST", "/signin", { body: { email, password: "dash-board-8" } });
        assert.deepEqual(expectStatusField(wrong, "INVALID_CREDENTIALS_ERROR", "a wrong password"), { status: "INVALID_CREDENTIALS_ERROR" });
        expectStatusField(await dashboardApi(d, "POST", "/signin", { body: { email: newEmail("nobody"), password } }), "INVALID_CREDENTIALS_ERROR", "an unknown e-mail");
        const one = expectOk(await dashboardApi(d, "POST", "/signin", { body: { email, password } }), "dashboard sign in");
        assert.match(one.sessionId, /^[0-9a-f-]{36}$/, `a session id: ${one.sessionId}`);

        const count = expectOk(await dashboardApi(d, "GET", "/users/count", { sessionId: one.sessionId }), "GET /auth/dashboard/api/users/count");
        assert.ok(Number.isInteger(count.count) && count.count >= 1, `the users count: ${count.count}`);
        const details = expectOk(await dashboardApi(d, "GET", `/user?userId=${userId}&recipeId=emailpassword`, { sessionId: one.sessionId }), "GET /auth/dashboard/api/user");
        assert.equal(details.user.id, userId);
        assert.equal(details.user.firstName, "Ada");
        assert.equal(details.user.lastName, "Lovelace");
        if (SDK_INFO.accountLinking) assert.deepEqual(details.user.emails, [userEmail]);
        else assert.equal(details.user.email, userEmail);

        expectStatus(await dashboardApi(d, "GET", "/users/count", { sessionId: randomUUID() }), 401, "a made-up session id");

        const two = expectOk(await dashboardApi(d, "POST", "/signin", { body: { email: email.toUpperCase(), password } }), "dashboard sign in again (e-mail in capitals)");
        assert.notEqual(two.sessionId, one.sessionId);
        expectOk(await dashboardApi(d, "POST", "/signout", { sessionId: one.sessionId }), "dashboard sign out");
        expectStatus(await dashboardApi(d, "GET", "/users/count", { sessionId: one.sessionId }), 401, "the signed-out session");
        expectOk(await dashboardApi(d, "GET", "/users/count", { sessionId: two.sessionId }), "the other session");

        // Changes are for the app's dashboard admins (the SDK's `admins`, checked against the e-mail
        // the core's session check answers): this operator is none → 403, the data unchanged; the
        // app's admin (made once per app; its password is fixed) changes the user's metadata.
        const setName = (sessionId, name) =>
            dashboardApi(d, "PUT", "/user/metadata", { sessionId, body: { userId, data: JSON.stringify({ first_name: name }) } });
        const denied = await setName(two.sessionId, "Grace");
        expectStatus(denied, 403, "a change by an operator who is not an admin");
        assert.equal(denied.json && denied.json.message, "You are not permitted to perform this operation");
        const adminEmail = SDK_INFO.dashboardAdmin;
        const made = await admin(b, "/test/dashboard-user", { email: adminEmail, password: "dash-admin-1" });
        assert.ok(made.status === "OK" || made.status === "EMAIL_ALREADY_EXISTS_ERROR", `the app's admin: ${JSON.stringify(made)}`);
        const boss = expectOk(await dashboardApi(d, "POST", "/signin", { body: { email: adminEmail, password: "dash-admin-1" } }), "the admin signs in");
        expectOk(await setName(boss.sessionId, "Grace"), "a change by the admin");
        const changed = expectOk(await dashboardApi(d, "GET", `/user?userId=${userId}&recipeId=emailpassword`, { sessionId: two.sessionId }), "the user after the admin's change");
        assert.equal(changed.user.firstName, "Grace", "the first name the admin set");
        expectOk(await dashboardApi(d, "POST", "/signout", { sessionId: boss.sessionId }), "the admin signs out");

        const removed = await admin(b, "/test/dashboard-user/remove", { email });
        assert.deepEqual(removed, { status: "OK", didUserExist: true });
        expectStatus(await dashboardApi(d, "GET", "/users/count", { sessionId: two.sessionId }), 401, "a removed dashboard user's session");
        expectStatusField(await dashboardApi(d, "POST", "/signin", { body: { email, password } }), "INVALID_CREDENTIALS_ERROR", "a removed dashboard user");
    },
};

// ---------------------------------------------------------------------------------------------
// runner
// ---------------------------------------------------------------------------------------------

// The app records every request its SDK sends to the core (GET /test/core-calls).
async function coreSeq(base = APP_URL) {
    try {
        const r = await fetch(`${base}/test/core-calls?since=${Number.MAX_SAFE_INTEGER}`);
        return (await r.json()).seq;
    } catch {
        return 0;
    }
}

// The SDK's core calls since `since`; with `requestId`, only those made while serving that request
// (another runner may use this app at the same time: the cross-version flows).
async function coreCallsSince(since, requestId) {
    const r = await fetch(`${APP_URL}/test/core-calls?since=${since}`);
    const calls = (await r.json()).calls;
    return requestId === undefined ? calls : calls.filter((c) => c.request === requestId);
}

async function printCoreCalls(since, base = APP_URL) {
    let calls;
    try {
        calls = (await (await fetch(`${base}/test/core-calls?since=${since}`)).json()).calls;
    } catch (e) {
        console.log(`  (could not fetch the SDK's core calls: ${e})`);
        return;
    }
    if (base !== APP_URL && calls.length === 0) return;
    const which = base === APP_URL ? "" : ` by the app at ${base}`;
    console.log(`  requests the ${SDK} SDK sent to the core during this flow${which} (${calls.length}):`);
    for (const c of calls) {
        const head = `${c.method} ${c.path}${c.rid ? ` [rid ${c.rid}]` : ""}${c.request ? ` [request ${c.request.slice(0, 8)}]` : ""}${c.body !== undefined ? " " + abbreviate(c.body, 500) : ""}`;
        const tail = c.error !== undefined ? `ERROR ${c.error}` : `${c.status} ${abbreviate(c.response, 700)}`;
        console.log(`    core: ${head}\n      -> ${tail} (${c.ms} ms)`);
    }
}

async function main() {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    const t0 = Date.now();
    checkTotpImplementation();
    checkCborImplementation();
    const info = await fetch(`${APP_URL}/test/sdk-info`);
    assert.equal(info.status, 200, "GET /test/sdk-info");
    SDK_INFO = await info.json();
    CDI = Math.max(...SDK_INFO.cdiSupported.map(Number));
    CDI_SENT = SDK_INFO.cdiSupported.find((v) => Number(v) === CDI);
    console.log(`${SDK}: ${SDK_INFO.sdk} ${SDK_INFO.version}, CDI ${SDK_INFO.cdiSupported.join(",")}, account linking ${SDK_INFO.accountLinking ? "yes" : "no"}`);
    for (const mode of MODES) {
        for (const [name, fn] of Object.entries(FLOWS)) {
            if (ONLY && !ONLY.split(",").includes(name)) continue;
            if (SKIP_FLOWS.includes(name)) continue;
            if (!runsHere(name)) {
                if (ONLY) {
                    skipped++;
                    console.log(`SKIP ${SDK} ${BACKEND} ${mode} ${name} (runs on ${RELEASES_OF_FLOW[name].join(", ")} only; ST_SDK_EVERY_RELEASE=1 for all)`);
                }
                continue;
            }
            WATCHED_APPS = [];
            const trace = [];
            const b = new Browser(mode, trace);
            const seq0 = await coreSeq();
            const seqShort = APP_URL_SHORT ? await coreSeq(APP_URL_SHORT) : 0;
            const started = Date.now();
            try {
                await fn(b, mode);
                passed++;
                console.log(`PASS ${SDK} ${BACKEND} ${mode} ${name} (${Date.now() - started} ms)`);
            } catch (e) {
                if (e instanceof SkipFlow) {
                    skipped++;
                    console.log(`SKIP ${SDK} ${BACKEND} ${mode} ${name} (${e.message})`);
                    continue;
                }
                failed++;
                console.log(`FAIL ${SDK} ${BACKEND} ${mode} ${name} (${Date.now() - started} ms)`);
                console.log(`  error: ${(e && e.stack) || e}`.split("\n").slice(0, 6).join("\n  "));
                console.log("  HTTP exchanges of this flow (browser <-> SDK app):");
                for (const t of trace) console.log("  " + t.trimEnd().split("\n").join("\n  "));
                await printCoreCalls(seq0);
                if (APP_URL_SHORT) await printCoreCalls(seqShort, APP_URL_SHORT);
                for (const w of WATCHED_APPS) await printCoreCalls(w.seq, w.base);
            }
        }
    }
    console.log(`${SDK} ${BACKEND}: ${ACCESS_TOKENS_CHECKED} access tokens received, each with JWT header alg ${EXPECT_ALG}`);
    if (process.env.ST_SDK_EXPECT_ALG && passed > 0 && ACCESS_TOKENS_CHECKED === 0) {
        failed++;
        console.log(`FAIL ${SDK} ${BACKEND} - alg-check (ST_SDK_EXPECT_ALG=${EXPECT_ALG} but no flow received an access token)`);
    }
    console.log(`${SDK} ${BACKEND}: ${passed} passed, ${failed} failed, ${skipped} skipped (${Date.now() - t0} ms)`);
    process.exit(failed === 0 ? 0 : 1);
}

main().catch((e) => {
    console.error(e);
    process.exit(2);
});
