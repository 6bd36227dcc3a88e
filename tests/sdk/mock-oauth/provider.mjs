// A mock OAuth 2.0 / OpenID Connect provider for the SDK end-to-end tests: the apps' ThirdParty
// recipes are configured with custom providers pointing here, so social sign-in runs end to end
// without the internet. Node built-ins only.
//
//   PORT=4000 node provider.mjs        (prints "mock oauth provider listening on <port>")
//
// Endpoints:
//   GET  /.well-known/openid-configuration   discovery document (issuer = this server's URL)
//   GET  /authorize?client_id&redirect_uri&response_type=code[&scope][&state]
//              [&code_challenge&code_challenge_method=S256]&mock_user=<base64url JSON>
//        -> 302 redirect_uri?code=…[&state=…]. `mock_user` stands for the user logging in at the
//        provider's page: {"sub", "email", "email_verified", "name"} (the test picks it);
//        `mock_error=access_denied` -> 302 redirect_uri?error=access_denied[&state].
//   POST /token   (application/x-www-form-urlencoded: grant_type=authorization_code, code,
//        redirect_uri, client_id, client_secret | code_verifier)
//        -> {access_token, token_type, expires_in, scope, id_token}; a code works once, for the
//        client and redirect_uri it was issued to, within 60 s.
//   GET  /userinfo  (Authorization: Bearer <access_token>) -> {sub, email, email_verified, name}
//   GET  /jwks      the RS256 key the id_tokens are signed with (fresh per process)
//   GET  /mock/log?since=N   the requests served, for the tests to check what the SDK called
//   GET  /hello
//
// Clients: any client_id starting with "sdk-client-". A confidential client's secret is
// "secret-" + client_id (checked at /token); a client_id ending in "-pkce" is public: no secret,
// PKCE S256 required. Anything else is refused the way a provider would (invalid_client,
// invalid_grant, invalid_token).
import http from "node:http";
import crypto from "node:crypto";

const PORT = parseInt(process.env.PORT || "4000", 10);
let ISSUER = `http://127.0.0.1:${PORT}`;

const { publicKey, privateKey } = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 });
const KID = `mock-${crypto.randomBytes(4).toString("hex")}`;
const JWK = { ...publicKey.export({ format: "jwk" }), kid: KID, alg: "RS256", use: "sig" };

const codes = new Map(); // code -> {clientId, redirectUri, user, challenge, scope, at}
const tokens = new Map(); // access token -> {user, clientId}
const log = [];
let seq = 0;

const b64url = (buf) => Buffer.from(buf).toString("base64url");

function signJwt(payload) {
    const header = { alg: "RS256", typ: "JWT", kid: KID };
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
    return `${input}.${b64url(crypto.sign("sha256", Buffer.from(input), privateKey))}`;
}

function clientKind(clientId) {
    if (typeof clientId !== "string" || !clientId.startsWith("sdk-client-")) return undefined;
    return clientId.endsWith("-pkce") ? "public" : "confidential";
}

function send(res, status, body, headers = {}) {
    const text = typeof body === "string" ? body : JSON.stringify(body);
    res.writeHead(status, {
        "content-type": typeof body === "string" ? "text/plain" : "application/json",
        "cache-control": "no-store",
        ...headers,
    });
    res.end(text);
    return status;
}

async function readBody(req) {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    return Buffer.concat(chunks).toString("utf8");
}

async function handle(req, res, url, entry) {
    const q = url.searchParams;
    switch (`${req.method} ${url.pathname}`) {
        case "GET /hello":
            return send(res, 200, "ok");
        case "GET /.well-known/openid-configuration":
            return send(res, 200, {
                issuer: ISSUER,
                authorization_endpoint: `${ISSUER}/authorize`,
                token_endpoint: `${ISSUER}/token`,
                userinfo_endpoint: `${ISSUER}/userinfo`,
                jwks_uri: `${ISSUER}/jwks`,
                response_types_supported: ["code"],
                subject_types_supported: ["public"],
                id_token_signing_alg_values_supported: ["RS256"],
                code_challenge_methods_supported: ["S256"],
            });
        case "GET /jwks":
            return send(res, 200, { keys: [JWK] });
        case "GET /mock/log": {
            const since = parseInt(q.get("since") || "0", 10);
            return send(res, 200, { seq, requests: log.filter((l) => l.seq > since) });
        }
        case "GET /authorize": {
            const clientId = q.get("client_id");
            const redirectUri = q.get("redirect_uri");
            entry.clientId = clientId;
            if (!clientKind(clientId)) return send(res, 400, `unknown client_id ${clientId}`);
            if (!redirectUri) return send(res, 400, "redirect_uri missing");
            if (q.get("response_type") !== "code") return send(res, 400, `response_type must be code, got ${q.get("response_type")}`);
            const challenge = q.get("code_challenge");
            if (challenge && q.get("code_challenge_method") !== "S256") return send(res, 400, "only S256 PKCE");
            if (clientKind(clientId) === "public" && !challenge) return send(res, 400, "public client: PKCE required");
            const back = new URL(redirectUri);
            if (q.get("state") !== null) back.searchParams.set("state", q.get("state"));
            if (q.get("mock_error")) {
                back.searchParams.set("error", q.get("mock_error"));
                return send(res, 302, "", { location: back.toString() });
            }
            let user;
            try {
                user = JSON.parse(Buffer.from(q.get("mock_user") || "", "base64url").toString("utf8"));
            } catch {
                return send(res, 400, "mock_user: base64url JSON expected");
            }
            if (!user || typeof user.sub !== "string") return send(res, 400, "mock_user.sub missing");
            const code = `code-${crypto.randomBytes(16).toString("hex")}`;
            codes.set(code, { clientId, redirectUri, user, challenge, scope: q.get("scope") || "", at: Date.now() });
            entry.sub = user.sub;
            back.searchParams.set("code", code);
            return send(res, 302, "", { location: back.toString() });
        }
        case "POST /token": {
            const form = new URLSearchParams(await readBody(req));
            const clientId = form.get("client_id");
            entry.clientId = clientId;
            const kind = clientKind(clientId);
            if (!kind) return send(res, 401, { error: "invalid_client", error_description: `unknown client ${clientId}` });
            if (kind === "confidential" && form.get("client_secret") !== `secret-${clientId}`)
                return send(res, 401, { error: "invalid_client", error_description: "bad client_secret" });
            if (kind === "public" && form.get("client_secret") !== null)
                return send(res, 401, { error: "invalid_client", error_description: "a public client has no secret" });
            if (form.get("grant_type") !== "authorization_code") return send(res, 400, { error: "unsupported_grant_type" });
            const code = form.get("code");
            const c = codes.get(code);
            codes.delete(code);
            if (!c || Date.now() - c.at > 60_000) return send(res, 400, { error: "invalid_grant", error_description: "unknown, used or expired code" });
            if (c.clientId !== clientId) return send(res, 400, { error: "invalid_grant", error_description: "code issued to another client" });
            if (c.redirectUri !== form.get("redirect_uri")) return send(res, 400, { error: "invalid_grant", error_description: "redirect_uri mismatch" });
            if (c.challenge) {
                const verifier = form.get("code_verifier") || "";
                if (b64url(crypto.createHash("sha256").update(verifier).digest()) !== c.challenge)
                    return send(res, 400, { error: "invalid_grant", error_description: "PKCE verification failed" });
            }
            entry.sub = c.user.sub;
            const accessToken = `at-${crypto.randomBytes(16).toString("hex")}`;
            tokens.set(accessToken, { user: c.user, clientId });
            const now = Math.floor(Date.now() / 1000);
            const idToken = signJwt({
                iss: ISSUER,
                aud: clientId,
                sub: c.user.sub,
                iat: now,
                exp: now + 600,
                ...(c.user.email !== undefined ? { email: c.user.email, email_verified: !!c.user.email_verified } : {}),
            });
            return send(res, 200, { access_token: accessToken, token_type: "Bearer", expires_in: 3600, scope: c.scope, id_token: idToken });
        }
        case "GET /userinfo": {
            const auth = req.headers["authorization"] || "";
            const t = tokens.get(auth.replace(/^Bearer\s+/i, ""));
            if (!t) return send(res, 401, { error: "invalid_token" });
            entry.clientId = t.clientId;
            entry.sub = t.user.sub;
            const u = t.user;
            return send(res, 200, {
                sub: u.sub,
                ...(u.email !== undefined ? { email: u.email, email_verified: !!u.email_verified } : {}),
                name: u.name || "Mock User",
            });
        }
        default:
            return send(res, 404, { error: "not_found" });
    }
}

const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, ISSUER);
    const entry = { seq: ++seq, method: req.method, path: url.pathname };
    log.push(entry);
    if (log.length > 2000) log.shift();
    try {
        entry.status = await handle(req, res, url, entry);
    } catch (e) {
        entry.status = send(res, 500, { error: "server_error", error_description: String(e) });
    }
});

server.listen(PORT, "127.0.0.1", () => {
    ISSUER = `http://127.0.0.1:${server.address().port}`;
    console.log(`mock oauth provider listening on ${server.address().port}`);
});
