// The service provider of the SAML end-to-end test: supertokens-node 24's SAML recipe (its
// /auth/<tenant>/saml/login and /auth/<tenant>/saml/callback routes) and a ThirdParty provider of
// type "saml" (thirdPartyId "saml-e2e": /auth/signinup redeems the code through the core's
// /recipe/saml/user), Session in header mode, over the core under test. supertokens-node and express
// come from ../node (tests/sdk/node's install).
//
// Env: ST_CONNECTION_URI (core URL), ST_API_KEY, PORT (this app's port), SAML_CLIENT_ID.
// Test-only routes: PUT /test/saml/client (SAML.createOrUpdateClient with the JSON body),
// GET /test/core-calls (the paths of the core calls the SDK made, in order).
"use strict";

module.paths.unshift(require("path").join(__dirname, "../node/node_modules"));

// Record the SDK's core calls (supertokens-node 24 uses the global fetch).
const coreCalls = [];
const realFetch = global.fetch;
global.fetch = async (url, init) => {
    const u = new URL(String(url));
    if (u.origin === new URL(process.env.ST_CONNECTION_URI).origin) {
        coreCalls.push(`${(init && init.method) || "GET"} ${u.pathname}`);
    }
    return realFetch(url, init);
};

const express = require("express");
const supertokens = require("supertokens-node");
const Session = require("supertokens-node/recipe/session");
const ThirdParty = require("supertokens-node/recipe/thirdparty");
const SAML = require("supertokens-node/recipe/saml");
const { middleware, errorHandler } = require("supertokens-node/framework/express");

const PORT = parseInt(process.env.PORT || "3102", 10);
const CLIENT_ID = process.env.SAML_CLIENT_ID || "saml-e2e-client";
supertokens.init({
    framework: "express",
    supertokens: { connectionURI: process.env.ST_CONNECTION_URI, apiKey: process.env.ST_API_KEY },
    appInfo: {
        appName: "saml-e2e",
        apiDomain: `http://localhost:${PORT}`,
        websiteDomain: "http://localhost:3000",
        apiBasePath: "/auth",
        websiteBasePath: "/auth",
    },
    recipeList: [
        SAML.init(),
        ThirdParty.init({
            signInAndUpFeature: {
                providers: [{ config: { thirdPartyId: "saml-e2e", clients: [{ clientId: CLIENT_ID }] } }],
            },
        }),
        Session.init({ getTokenTransferMethod: () => "header" }),
    ],
});

const app = express();
app.use(middleware());
app.get("/hello", (_req, res) => res.send("hello"));
app.put("/test/saml/client", express.json({ limit: "1mb" }), async (req, res) => {
    res.json(await SAML.createOrUpdateClient({ tenantId: "public", ...req.body }));
});
app.get("/test/core-calls", (_req, res) => res.json(coreCalls));
app.use(errorHandler());
app.use((err, _req, res, _next) => {
    console.error(err);
    res.status(500).send(String(err));
});
app.listen(PORT, "127.0.0.1", () => console.log(`saml sp app on ${PORT}`));
