// Express app using the official supertokens-node SDK, pointed at the core under test.
//
// Env: ST_CONNECTION_URI (core URL), ST_API_KEY, PORT (this app's port), ST_NODE_MODULES,
// ST_MOCK_OAUTH_URL (the mock OAuth/OIDC provider of tests/sdk/mock-oauth/provider.mjs).
// Default SDK routes live under /auth. Test-only helper routes live under /test.
"use strict";

// tests/sdk/run.sh also runs this app with an older supertokens-node installed in another folder
// (ST_NODE_MODULES, e.g. tests/sdk/node-5.3/node_modules): its modules are looked up first.
if (process.env.ST_NODE_MODULES) module.paths.unshift(process.env.ST_NODE_MODULES);

const path = require("path");
const express = require("express");
const cookieParser = require("cookie-parser");

const PORT = parseInt(process.env.PORT || "3001", 10);
const CORE = (process.env.ST_CONNECTION_URI || "http://127.0.0.1:3567").replace(/\/+$/, "");
const API_KEY = process.env.ST_API_KEY;
const API_DOMAIN = `http://localhost:${PORT}`;
const MOCK_OAUTH = (process.env.ST_MOCK_OAUTH_URL || "http://127.0.0.1:4000").replace(/\/+$/, "");

// Every request the SDK sends to the core, kept in a ring buffer so a failing flow can show the
// exact core exchanges (GET /test/core-calls). supertokens-node >= 16 calls the global fetch at
// call time; older releases (15.x) call cross-fetch (node-fetch), whose module is swapped for a
// recording wrapper below, before the SDK is loaded.
const coreCalls = [];
let coreSeq = 0;
// The runner's id of the browser request being served (header `x-st-test-request`), kept with each
// core call it caused: a runner checks "the core calls of this request" without counting those of
// another runner using this app at the same time (the cross-version flows use other releases' apps).
const { AsyncLocalStorage } = require("async_hooks");
const currentRequest = new AsyncLocalStorage();
function recordingFetch(realFetch) {
    return async function (input, init = {}) {
        const url = typeof input === "string" ? input : input.url || String(input);
        if (!url.startsWith(CORE)) return realFetch.call(this, input, init);
        const seq = ++coreSeq;
        const started = Date.now();
        const call = { seq, method: (init.method || "GET").toUpperCase(), path: url.slice(CORE.length) };
        const request = currentRequest.getStore();
        if (request) call.request = request;
        if (init.body !== undefined) call.body = String(init.body);
        const headers = new Headers(init.headers || {});
        if (headers.get("rid")) call.rid = headers.get("rid");
        if (headers.get("cdi-version")) call.cdiVersion = headers.get("cdi-version");
        coreCalls.push(call);
        if (coreCalls.length > 500) coreCalls.shift();
        try {
            const res = await realFetch.call(this, input, init);
            call.status = res.status;
            call.response = await res.clone().text();
            return res;
        } catch (e) {
            call.error = String(e);
            throw e;
        } finally {
            call.ms = Date.now() - started;
        }
    };
}
globalThis.fetch = recordingFetch(globalThis.fetch);
(() => {
    let crossFetchPath;
    try {
        // resolved from the SDK's own folder, as the SDK's require("cross-fetch") will be
        const sdkMain = require.resolve("supertokens-node");
        crossFetchPath = require.resolve("cross-fetch", { paths: [path.dirname(sdkMain)] });
    } catch {
        return; // this release does not use cross-fetch
    }
    const real = require(crossFetchPath);
    const wrapped = recordingFetch(real);
    Object.assign(wrapped, real); // Headers, Request, Response, ponyfill
    wrapped.fetch = wrapped;
    wrapped.default = wrapped;
    require.cache[crossFetchPath].exports = wrapped;
})();

const supertokens = require("supertokens-node");
const Session = require("supertokens-node/recipe/session");
const EmailPassword = require("supertokens-node/recipe/emailpassword");
const EmailVerification = require("supertokens-node/recipe/emailverification");
const UserMetadata = require("supertokens-node/recipe/usermetadata");
const UserRoles = require("supertokens-node/recipe/userroles");
const ThirdParty = require("supertokens-node/recipe/thirdparty");
const Passwordless = require("supertokens-node/recipe/passwordless");
const Multitenancy = require("supertokens-node/recipe/multitenancy");
const { verifySession } = require("supertokens-node/recipe/session/framework/express");
const { middleware, errorHandler } = require("supertokens-node/framework/express");
const SDK_VERSION = require("supertokens-node/lib/build/version");
// The "linking" app (run.sh starts it beside the plain one, ST_APP_LINKING=1, for the
// account-linking and MFA flows): the same app plus the AccountLinking recipe with automatic
// linking, and MultiFactorAuth + TOTP where the release has them (supertokens-node 17+). The
// plain app leaves them out, so the other flows see the SDK's defaults (no linking, no st-mfa).
const LINKING_APP = process.env.ST_APP_LINKING === "1";
// (looked up in the loaded release's own folder: a plain require would fall back to node/'s
// newer supertokens-node for a recipe that the older release does not have)
const SDK_PACKAGE_DIR = path.dirname(require.resolve("supertokens-node"));
function optionalRecipe(name) {
    const dir = path.join(SDK_PACKAGE_DIR, "recipe", name);
    try {
        require.resolve(dir);
    } catch {
        return undefined; // not in this release
    }
    return require(dir);
}
const AccountLinking = optionalRecipe("accountlinking");
// Passkeys (supertokens-node 23+, CDI 5.3+), in the plain app: its defaults make the relying party
// the apiDomain's host (`localhost`) and the origin the websiteDomain (`http://localhost:3000`),
// which is where the flows' "browser" (flows.test.mjs) says it runs.
const WebAuthn = optionalRecipe("webauthn");
// The user-management dashboard (every tested release): no apiKey, so its operators sign in with
// the core's dashboard users (e-mail and password) and the SDK checks their sessions in the core.
// One admin per app process (only admins may change data; the SDK reads the operator's e-mail from
// the core's session check): its e-mail is in /test/sdk-info.
const Dashboard = require("supertokens-node/recipe/dashboard");
const DASHBOARD_ADMIN = `dashboard-admin-${PORT}@example.com`;
const MultiFactorAuth = optionalRecipe("multifactorauth");
const Totp = optionalRecipe("totp");
// Account linking (user objects with loginMethods, recipe user ids, `rsub`) exists from
// supertokens-node 16 (CDI 4.0) on.
const HAS_ACCOUNT_LINKING = typeof supertokens.RecipeUserId === "function";

// Links "sent" by email, newest last, keyed by lower-cased email.
const sentLinks = new Map();
function captureLink(kind, email, link) {
    const key = email.toLowerCase();
    if (!sentLinks.has(key)) sentLinks.set(key, []);
    sentLinks.get(key).push({ kind, link, at: Date.now() });
}

// Passwordless codes "sent" by e-mail or SMS, newest last, keyed by lower-cased e-mail / phone.
const sentCodes = new Map();
function captureCode(via, contact, input) {
    const key = contact.toLowerCase();
    if (!sentCodes.has(key)) sentCodes.set(key, []);
    sentCodes.get(key).push({
        via,
        contact,
        type: input.type,
        userInputCode: input.userInputCode,
        urlWithLinkCode: input.urlWithLinkCode,
        codeLifetime: input.codeLifetime,
        preAuthSessionId: input.preAuthSessionId,
        tenantId: input.tenantId,
        at: Date.now(),
    });
}

// The mock provider as the app's static ThirdParty provider (tenant public): a confidential client
// (secret "secret-" + client id, as the mock expects). Per-tenant providers come from the core
// (Multitenancy.createOrUpdateThirdPartyConfig, POST /test/tenant).
const STATIC_PROVIDER = {
    config: {
        thirdPartyId: "mock",
        name: "Mock OIDC",
        clients: [{ clientId: "sdk-client-static", clientSecret: "secret-sdk-client-static", scope: ["openid", "email"] }],
        authorizationEndpoint: `${MOCK_OAUTH}/authorize`,
        tokenEndpoint: `${MOCK_OAUTH}/token`,
        userInfoEndpoint: `${MOCK_OAUTH}/userinfo`,
        jwksURI: `${MOCK_OAUTH}/jwks`,
        userInfoMap: {
            fromUserInfoAPI: { userId: "sub", email: "email", emailVerified: "email_verified" },
            fromIdTokenPayload: { userId: "sub", email: "email", emailVerified: "email_verified" },
        },
    },
};
const CDI_MAX = Math.max(...SDK_VERSION.cdiSupported.map(Number));

supertokens.init({
    framework: "express",
    supertokens: { connectionURI: CORE, apiKey: API_KEY },
    appInfo: {
        appName: "st-sdk-tests",
        apiDomain: API_DOMAIN,
        websiteDomain: "http://localhost:3000",
        apiBasePath: "/auth",
        websiteBasePath: "/auth",
    },
    recipeList: [
        EmailPassword.init({
            emailDelivery: {
                override: (orig) => ({
                    ...orig,
                    sendEmail: async (input) => {
                        captureLink("reset", input.user.email, input.passwordResetLink);
                    },
                }),
            },
        }),
        EmailVerification.init({
            mode: "OPTIONAL",
            emailDelivery: {
                override: (orig) => ({
                    ...orig,
                    sendEmail: async (input) => {
                        captureLink("verify", input.user.email, input.emailVerifyLink);
                    },
                }),
            },
        }),
        Session.init({
            // Default token transfer method: the client picks with `st-auth-mode: header|cookie`.
            // Cookie sessions over plain http on localhost: the SDK defaults to VIA_CUSTOM_HEADER
            // when cookieSameSite is lax; force VIA_TOKEN so the core's anti-CSRF path is exercised.
            antiCsrf: process.env.ST_ANTI_CSRF || "VIA_TOKEN",
        }),
        UserMetadata.init(),
        UserRoles.init(),
        ThirdParty.init({ signInAndUpFeature: { providers: [STATIC_PROVIDER] } }),
        Passwordless.init({
            contactMethod: "EMAIL_OR_PHONE",
            flowType: "USER_INPUT_CODE_AND_MAGIC_LINK",
            emailDelivery: {
                override: (orig) => ({
                    ...orig,
                    sendEmail: async (input) => captureCode("email", input.email, input),
                }),
            },
            smsDelivery: {
                override: (orig) => ({
                    ...orig,
                    sendSms: async (input) => captureCode("sms", input.phoneNumber, input),
                }),
            },
        }),
        Multitenancy.init(),
        ...(WebAuthn ? [WebAuthn.init()] : []),
        Dashboard.init({ admins: [DASHBOARD_ADMIN] }),
        ...linkingRecipes(),
    ],
});

// Automatic account linking for everyone except e-mails starting with "manual-" (the manual
// linking flow links those through the SDK's functions), verification required (the SDK's
// recommended setting: an unverified e-mail never links nor blocks a verified owner).
function shouldDoAutomaticAccountLinking(newAccountInfo) {
    const email = newAccountInfo && newAccountInfo.email;
    if (typeof email === "string" && email.toLowerCase().startsWith("manual-")) return { shouldAutomaticallyLink: false };
    return { shouldAutomaticallyLink: true, shouldRequireVerification: true };
}
function linkingRecipes() {
    if (!LINKING_APP) return [];
    const list = [];
    if (AccountLinking) list.push(AccountLinking.init({ shouldDoAutomaticAccountLinking: async (info) => shouldDoAutomaticAccountLinking(info) }));
    // MFA: the first factors are the tenant's (no app-wide list); the required secondary factors
    // come from the tenant (requiredSecondaryFactors) and the user's metadata, the SDK's defaults.
    if (MultiFactorAuth && Totp) list.push(MultiFactorAuth.init(), Totp.init());
    return list;
}

const app = express();
app.use((req, res, next) => currentRequest.run(req.get("x-st-test-request") || undefined, next));
app.use(cookieParser());
app.use(express.json());
app.use(middleware());

function sessionInfo(session) {
    return {
        userId: session.getUserId(),
        // no recipe user ids before account linking: null (the flows check that too)
        recipeUserId: HAS_ACCOUNT_LINKING ? session.getRecipeUserId().getAsString() : null,
        tenantId: session.getTenantId(),
        sessionHandle: session.getHandle(),
        accessTokenPayload: session.getAccessTokenPayload(),
    };
}

app.get("/protected", verifySession(), (req, res) => {
    res.json(sessionInfo(req.session));
});

app.get("/protected-db", verifySession({ checkDatabase: true }), (req, res) => {
    res.json(sessionInfo(req.session));
});

app.post("/regen", verifySession(), async (req, res, next) => {
    try {
        await req.session.mergeIntoAccessTokenPayload(req.body || {});
        res.json(sessionInfo(req.session));
    } catch (e) {
        next(e);
    }
});

app.post("/role", verifySession(), async (req, res, next) => {
    try {
        const created = await UserRoles.createNewRoleOrAddPermissions("admin", ["write"]);
        const added = await UserRoles.addRoleToUser(req.session.getTenantId(), req.session.getUserId(), "admin");
        if (added.status !== "OK") throw new Error("addRoleToUser: " + JSON.stringify(added));
        const roles = await UserRoles.getRolesForUser(req.session.getTenantId(), req.session.getUserId());
        const perms = await UserRoles.getPermissionsForRole("admin");
        await req.session.fetchAndSetClaim(UserRoles.UserRoleClaim);
        await req.session.fetchAndSetClaim(UserRoles.PermissionClaim);
        res.json({
            createdNewRole: created.createdNewRole,
            didUserAlreadyHaveRole: added.didUserAlreadyHaveRole,
            roles: roles.roles,
            permissions: perms.status === "OK" ? perms.permissions : perms.status,
            ...sessionInfo(req.session),
        });
    } catch (e) {
        next(e);
    }
});

app.post("/metadata", verifySession(), async (req, res, next) => {
    try {
        const userId = req.session.getUserId();
        const updated = await UserMetadata.updateUserMetadata(userId, req.body || {});
        const read = await UserMetadata.getUserMetadata(userId);
        res.json({ updated: updated.metadata, read: read.metadata });
    } catch (e) {
        next(e);
    }
});

app.post("/delete-user", verifySession(), async (req, res, next) => {
    try {
        const userId = req.session.getUserId();
        const r = await supertokens.deleteUser(userId);
        res.json({ status: r.status, userId });
    } catch (e) {
        next(e);
    }
});

// ---- test-only routes ----
// Tenant set-up through the SDK's Multitenancy recipe (the admin side of a multi-tenant app):
// {tenantId, coreConfig?, providers?: [ProviderConfig], requiredSecondaryFactors?} ->
// createOrUpdateTenant with every login method on, then createOrUpdateThirdPartyConfig per
// provider (-> config/thirdparty).
app.post("/test/tenant", async (req, res, next) => {
    try {
        const { tenantId, coreConfig, providers = [], requiredSecondaryFactors } = req.body || {};
        // CDI >= 5.1 (supertokens-node 20+): first factors, named (a new tenant made through
        // tenant/v2 without them has `firstFactors: []`, which the SDK reads as "none": the
        // reference's createBaseConfigForVersion); before: one flag per recipe.
        const config =
            CDI_MAX >= 5.1
                ? { firstFactors: ["emailpassword", "thirdparty", "otp-email", "otp-phone", "link-email", "link-phone"], coreConfig }
                : { emailPasswordEnabled: true, passwordlessEnabled: true, thirdPartyEnabled: true, coreConfig };
        // MFA (CDI 5.0+): the tenant's required second factors, stored in the core's tenant config
        if (requiredSecondaryFactors !== undefined) config.requiredSecondaryFactors = requiredSecondaryFactors;
        const tenant = await Multitenancy.createOrUpdateTenant(tenantId, config);
        const configs = [];
        for (const p of providers) configs.push(await Multitenancy.createOrUpdateThirdPartyConfig(tenantId, p));
        res.json({ status: tenant.status, createdNew: tenant.createdNew, providers: configs });
    } catch (e) {
        next(e);
    }
});

app.post("/test/tenant/remove-provider", async (req, res, next) => {
    try {
        const { tenantId, thirdPartyId } = req.body || {};
        res.json(await Multitenancy.deleteThirdPartyConfig(tenantId, thirdPartyId));
    } catch (e) {
        next(e);
    }
});

// {tenantId, recipeUserId} -> associateUserToTenant / disassociateUserFromTenant (-> tenant/user)
function recipeUserIdArg(id) {
    return HAS_ACCOUNT_LINKING ? new supertokens.RecipeUserId(id) : id;
}
app.post("/test/tenant/associate", async (req, res, next) => {
    try {
        const { tenantId, recipeUserId } = req.body || {};
        res.json(await Multitenancy.associateUserToTenant(tenantId, recipeUserIdArg(recipeUserId)));
    } catch (e) {
        next(e);
    }
});
app.post("/test/tenant/disassociate", async (req, res, next) => {
    try {
        const { tenantId, recipeUserId } = req.body || {};
        res.json(await Multitenancy.disassociateUserFromTenant(tenantId, recipeUserIdArg(recipeUserId)));
    } catch (e) {
        next(e);
    }
});

// The core's user object through the SDK (supertokens.getUser; releases with account linking).
app.get("/test/user", async (req, res, next) => {
    try {
        if (!HAS_ACCOUNT_LINKING) return res.status(404).json({ status: "NOT_SUPPORTED" });
        const user = await supertokens.getUser(String(req.query.userId || ""));
        res.json(user === undefined ? { status: "UNKNOWN_USER_ID_ERROR" } : { status: "OK", user: user.toJson() });
    } catch (e) {
        next(e);
    }
});

// The SDK's account-linking functions (the admin side; test only): {op, recipeUserId, primaryUserId}
// -> canCreatePrimaryUser / createPrimaryUser / canLinkAccounts / linkAccounts / unlinkAccount,
// their answer as JSON (a user object through toJson).
app.post("/test/accountlinking", async (req, res, next) => {
    try {
        if (!AccountLinking) return res.status(404).json({ status: "NOT_SUPPORTED" });
        const { op, recipeUserId, primaryUserId } = req.body || {};
        const rid = new supertokens.RecipeUserId(recipeUserId);
        let r;
        if (op === "can-create-primary") r = await AccountLinking.canCreatePrimaryUser(rid);
        else if (op === "create-primary") r = await AccountLinking.createPrimaryUser(rid);
        else if (op === "can-link") r = await AccountLinking.canLinkAccounts(rid, primaryUserId);
        else if (op === "link") r = await AccountLinking.linkAccounts(rid, primaryUserId);
        else if (op === "unlink") r = await AccountLinking.unlinkAccount(rid);
        else return res.status(400).json({ status: "BAD_OP", op });
        res.json(r.user && typeof r.user.toJson === "function" ? { ...r, user: r.user.toJson() } : r);
    } catch (e) {
        next(e);
    }
});

// MultiFactorAuth.addToRequiredSecondaryFactorsForUser (-> user metadata `_supertokens`; test only)
app.post("/test/mfa/require-factor", async (req, res, next) => {
    try {
        if (!MultiFactorAuth) return res.status(404).json({ status: "NOT_SUPPORTED" });
        const { userId, factorId } = req.body || {};
        await MultiFactorAuth.addToRequiredSecondaryFactorsForUser(userId, factorId);
        res.json({ status: "OK", requiredSecondaryFactors: await MultiFactorAuth.getRequiredSecondaryFactorsForUser(userId) });
    } catch (e) {
        next(e);
    }
});

// Dashboard users, made and removed in the core the way an operator does (the SDKs have no function
// for it: POST / DELETE /recipe/dashboard/user with the API key; test only).
async function dashboardUserInCore(method, query, body) {
    const res = await fetch(`${CORE}/recipe/dashboard/user${query}`, {
        method,
        headers: { "api-key": API_KEY, "cdi-version": SDK_VERSION.cdiSupported[SDK_VERSION.cdiSupported.length - 1], "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { httpStatus: res.status, text: await res.text() };
}
app.post("/test/dashboard-user", async (req, res, next) => {
    try {
        const { email, password } = req.body || {};
        const r = await dashboardUserInCore("POST", "", { email, password });
        res.status(r.httpStatus).type("json").send(r.text);
    } catch (e) {
        next(e);
    }
});
app.post("/test/dashboard-user/remove", async (req, res, next) => {
    try {
        const { email } = req.body || {};
        const r = await dashboardUserInCore("DELETE", `?email=${encodeURIComponent(email)}`);
        res.status(r.httpStatus).type("json").send(r.text);
    } catch (e) {
        next(e);
    }
});

app.get("/test/last-code", (req, res) => {
    const all = sentCodes.get(String(req.query.contact || "").toLowerCase()) || [];
    if (all.length === 0) return res.status(404).json({ status: "NO_CODE" });
    const last = all[all.length - 1];
    const link = last.urlWithLinkCode ? new URL(last.urlWithLinkCode) : undefined;
    res.json({
        status: "OK",
        ...last,
        linkCode: link ? link.hash.replace(/^#/, "") : undefined,
        linkPreAuthSessionId: link ? link.searchParams.get("preAuthSessionId") : undefined,
        count: all.length,
    });
});

app.get("/test/last-link", (req, res) => {
    const email = String(req.query.email || "").toLowerCase();
    const kind = req.query.kind ? String(req.query.kind) : undefined;
    const all = (sentLinks.get(email) || []).filter((l) => !kind || l.kind === kind);
    if (all.length === 0) return res.status(404).json({ status: "NO_LINK" });
    const last = all[all.length - 1];
    const token = new URL(last.link).searchParams.get("token");
    res.json({ status: "OK", kind: last.kind, link: last.link, token, count: all.length });
});

app.get("/test/core-calls", (req, res) => {
    const since = parseInt(String(req.query.since || "0"), 10);
    res.json({ seq: coreSeq, calls: coreCalls.filter((c) => c.seq > since) });
});

app.get("/test/hello", (req, res) => res.send("ok"));

// What this SDK release is and can do; the flows adapt their checks to it.
app.get("/test/sdk-info", (req, res) => {
    res.json({
        sdk: "supertokens-node",
        version: SDK_VERSION.version,
        cdiSupported: SDK_VERSION.cdiSupported,
        accountLinking: HAS_ACCOUNT_LINKING,
        // the recipes of the linking app (ST_APP_LINKING=1) in this release
        linkingApp: LINKING_APP,
        accountLinkingRecipe: AccountLinking !== undefined,
        mfa: MultiFactorAuth !== undefined && Totp !== undefined,
        webauthn: WebAuthn !== undefined,
        dashboardAdmin: DASHBOARD_ADMIN,
    });
});

app.use(errorHandler());
app.use((err, req, res, next) => {
    console.error("[node app] unhandled error on", req.method, req.path, err);
    res.status(500).json({ status: "APP_ERROR", message: String((err && err.message) || err) });
});

app.listen(PORT, "127.0.0.1", () => {
    console.log(`node app listening on ${PORT}`);
});
