// An OpenID Connect relying party (openid-client 5, certified by the OpenID Foundation) against
// the provider of app.js: discovery, the authorization-code flow with PKCE through the SDK's
// login page (a browser with a cookie jar signs up there), the ID token checked by the library
// (signature through the JWKS, iss, aud, nonce, at_hash), userinfo, refresh with rotation (the old
// refresh token refused), RP-initiated logout through the logout confirmation, and a service's
// client-credentials token verified offline by another service with the JWKS.
//
// Env: API (the provider app's URL, e.g. http://127.0.0.1:3101). Prints PASS/FAIL per step,
// exits non-zero on the first failure.
import { createRequire } from "node:module";
const require = createRequire(import.meta.url);
const { Issuer, generators, errors } = require("openid-client");
const jose = require("jose");

const API = process.env.API.replace(/\/+$/, "");
// The app announces http://localhost:<port> as its API domain; the test reaches it there.
const PUBLIC = API.replace("127.0.0.1", "localhost");
const CB = "http://localhost:4000/cb";
const BYE = "http://localhost:4000/bye";

let failed = false;
function check(cond, step, detail = "") {
    console.log(`${cond ? "PASS" : "FAIL"} ${step}${cond ? "" : `: ${detail}`}`);
    if (!cond) {
        failed = true;
        process.exit(1);
    }
}

// A browser: cookies kept, redirects not followed.
const jar = new Map();
async function browser(url, init = {}) {
    const cookie = [...jar].map(([k, v]) => `${k}=${v}`).join("; ");
    const res = await fetch(url, { ...init, redirect: "manual", headers: { ...(init.headers || {}), cookie } });
    for (const c of res.headers.getSetCookie()) {
        const [kv] = c.split(";");
        const i = kv.indexOf("=");
        jar.set(kv.slice(0, i), kv.slice(i + 1));
    }
    return res;
}

async function createClient(body) {
    const r = await (
        await fetch(`${PUBLIC}/test/client`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify(body),
        })
    ).json();
    check(r.status === "OK", "client created through the SDK", JSON.stringify(r));
    return r.client;
}

// Discovery.
const issuer = await Issuer.discover(`${PUBLIC}/auth`);
check(issuer.issuer === `${PUBLIC}/auth`, "discovery: issuer", issuer.issuer);
check(
    typeof issuer.authorization_endpoint === "string" && typeof issuer.jwks_uri === "string",
    "discovery: endpoints",
    JSON.stringify(issuer.metadata),
);

const rp = await createClient({
    clientName: "relying party",
    redirectUris: [CB],
    postLogoutRedirectUris: [BYE],
    grantTypes: ["authorization_code", "refresh_token"],
    responseTypes: ["code"],
    scope: "openid offline_access email",
    tokenEndpointAuthMethod: "client_secret_basic",
    enableRefreshTokenRotation: true,
});
const client = new issuer.Client({
    client_id: rp.clientId,
    client_secret: rp.clientSecret,
    redirect_uris: [CB],
    post_logout_redirect_uris: [BYE],
    response_types: ["code"],
    token_endpoint_auth_method: "client_secret_basic",
});

// Authorization code with PKCE.
const codeVerifier = generators.codeVerifier();
const state = generators.state();
const nonce = generators.nonce();
const authUrl = client.authorizationUrl({
    scope: "openid offline_access email",
    code_challenge: generators.codeChallenge(codeVerifier),
    code_challenge_method: "S256",
    state,
    nonce,
});
let res = await browser(authUrl);
let to = res.headers.get("location") || "";
check(res.status === 302 && to.includes("loginChallenge="), "authorize: to the login page", `${res.status} ${to}`);
const loginChallenge = new URL(to).searchParams.get("loginChallenge");
const info = await (await browser(`${PUBLIC}/auth/oauth/login/info?loginChallenge=${loginChallenge}`)).json();
check(info.status === "OK" && info.info.clientName === "relying party", "login info", JSON.stringify(info));
const email = `rp-${Date.now()}@example.com`;
res = await browser(`${PUBLIC}/auth/signup`, {
    method: "POST",
    headers: { "content-type": "application/json", rid: "emailpassword" },
    body: JSON.stringify({ formFields: [{ id: "email", value: email }, { id: "password", value: "password123!" }] }),
});
check(res.status === 200 && (await res.json()).status === "OK", "sign-up on the login page");
res = await browser(`${PUBLIC}/auth/oauth/login?loginChallenge=${loginChallenge}`);
const login = await res.json();
to = login.frontendRedirectTo || "";
check(to.startsWith(`${CB}?`), "login (and consent) back to the client", JSON.stringify(login));
const params = client.callbackParams(to);
check(params.code?.startsWith("st_ac_") && params.state === state, "code and state", JSON.stringify(params));
const tokens = await client.callback(CB, params, { code_verifier: codeVerifier, state, nonce });
check(!!tokens.access_token && !!tokens.refresh_token && !!tokens.id_token, "token exchange (ID token validated by the library)");
const claims = tokens.claims();
check(claims.nonce === nonce && claims.aud === rp.clientId && claims.stt === 2, "ID token claims", JSON.stringify(claims));
check(claims.email === email, "ID token carries the SDK's email claim", JSON.stringify(claims));

// Userinfo.
const userinfo = await client.userinfo(tokens.access_token);
check(userinfo.sub === claims.sub && userinfo.email === email, "userinfo", JSON.stringify(userinfo));

async function introspect(token) {
    const r = await fetch(`${PUBLIC}/auth/oauth/introspect`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ token }),
    });
    return r.json();
}

// Refresh: rotated.
const refreshed = await client.refresh(tokens.refresh_token);
check(!!refreshed.access_token && refreshed.refresh_token !== tokens.refresh_token, "refresh rotates");
check(refreshed.claims().sub === claims.sub, "refreshed ID token");
check((await introspect(refreshed.access_token)).active === true, "refreshed access token active");

// RP-initiated logout: the end-session URL, the logout confirmation (the browser has a session),
// accepted, back to the post-logout redirect URI with the state; the session's tokens revoked.
const endSession = client.endSessionUrl({
    id_token_hint: refreshed.id_token,
    post_logout_redirect_uri: BYE,
    state: "bye-state-1",
});
res = await browser(endSession);
to = res.headers.get("location") || "";
check(res.status === 302 && to.includes("logoutChallenge="), "end session: to the logout confirmation", `${res.status} ${to}`);
const logoutChallenge = new URL(to).searchParams.get("logoutChallenge");
res = await browser(`${PUBLIC}/auth/oauth/logout`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ logoutChallenge }),
});
const logout = await res.json();
check(logout.frontendRedirectTo === `${BYE}?state=bye-state-1`, "logout accepted", JSON.stringify(logout));
const after = await introspect(refreshed.access_token);
check(after.active === false, "tokens of the logged-out session inactive", JSON.stringify(after));

// The rotated-out refresh token is refused.
try {
    await client.refresh(tokens.refresh_token);
    check(false, "old refresh token refused", "accepted");
} catch (e) {
    check(e instanceof errors.OPError, "old refresh token refused", String(e));
}

// A second exchange of the code is refused (and would revoke what the code issued).
try {
    await client.callback(CB, params, { code_verifier: codeVerifier, state, nonce });
    check(false, "code reuse refused", "accepted");
} catch (e) {
    check(e instanceof errors.OPError && e.error === "invalid_grant", "code reuse refused", String(e));
}

// Machine to machine: a client-credentials token, verified offline by another service.
const svc = await createClient({
    clientName: "service",
    grantTypes: ["client_credentials"],
    scope: "read write",
    audience: ["api.example"],
    tokenEndpointAuthMethod: "client_secret_post",
});
const svcClient = new issuer.Client({
    client_id: svc.clientId,
    client_secret: svc.clientSecret,
    token_endpoint_auth_method: "client_secret_post",
});
const m2m = await svcClient.grant({ grant_type: "client_credentials", scope: "read", audience: "api.example" });
check(!!m2m.access_token && m2m.scope === "read", "client-credentials token", JSON.stringify(m2m));
const jwks = jose.createRemoteJWKSet(new URL(issuer.jwks_uri));
const { payload } = await jose.jwtVerify(m2m.access_token, jwks, { issuer: issuer.issuer, audience: "api.example" });
check(payload.stt === 1 && payload.client_id === svc.clientId, "verified offline with the JWKS", JSON.stringify(payload));

if (!failed) console.log("ALL PASS");
