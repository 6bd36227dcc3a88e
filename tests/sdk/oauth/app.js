// The OAuth2 / OpenID Connect provider of the end-to-end test: supertokens-node's OAuth2Provider
// recipe (with its own /auth/oauth/* routes, EmailPassword for the login, Session) over the core
// under test. supertokens-node and express come from ../node (tests/sdk/node's install).
//
// Env: ST_CONNECTION_URI (core URL), ST_API_KEY, PORT (this app's port).
// Test-only route: POST /test/client (creates an OAuth2 client through the SDK).
"use strict";

module.paths.unshift(require("path").join(__dirname, "../node/node_modules"));

const express = require("express");
const cookieParser = require("cookie-parser");
const supertokens = require("supertokens-node");
const Session = require("supertokens-node/recipe/session");
const EmailPassword = require("supertokens-node/recipe/emailpassword");
const OAuth2Provider = require("supertokens-node/recipe/oauth2provider");
const { middleware, errorHandler } = require("supertokens-node/framework/express");

const PORT = parseInt(process.env.PORT || "3101", 10);
supertokens.init({
    framework: "express",
    supertokens: { connectionURI: process.env.ST_CONNECTION_URI, apiKey: process.env.ST_API_KEY },
    appInfo: {
        appName: "oauth-e2e",
        apiDomain: `http://localhost:${PORT}`,
        websiteDomain: "http://localhost:3000",
        apiBasePath: "/auth",
        websiteBasePath: "/auth",
    },
    recipeList: [
        EmailPassword.init(),
        Session.init({ getTokenTransferMethod: () => "cookie" }),
        OAuth2Provider.init(),
    ],
});

const app = express();
app.use(cookieParser());
app.use(middleware());
app.get("/hello", (_req, res) => res.send("hello"));
app.post("/test/client", express.json(), async (req, res) => {
    res.json(await OAuth2Provider.createOAuth2Client(req.body));
});
app.use(errorHandler());
app.use((err, _req, res, _next) => {
    console.error(err);
    res.status(500).send(String(err));
});
app.listen(PORT, "127.0.0.1", () => console.log(`oauth provider app on ${PORT}`));
