//! The core calls of the Go SDK, replayed request by request at the only CDI version it speaks.
//!
//! supertokens-golang 0.25.2 (`c9db0d29`, the newest 0.25.x) lists `cdiSupported = ["3.1"]`
//! (`supertokens/constants.go:27`). We cannot run Go here, so each test below sends, in the
//! SDK's order, the requests one SDK flow sends to the core (method, path with the tenant prefix
//! as the SDK builds it, headers, JSON body / query parameters), and asserts the status and every
//! response field the SDK reads, with the JSON type it decodes it into, against the reference
//! core's CDI 3.x behaviour (docs/CDI_VERSIONS.md): the user object before 4.0 is
//! `{id, timeJoined, tenantIds, email}` (no `loginMethods`, `isPrimaryUser`, top-level
//! `recipeUserId`); session objects carry `tenantId` but no `recipeUserId`; access tokens are
//! version 4 (claims `sub exp iat tId sessionHandle refreshTokenHash1 parentRefreshTokenHash1
//! antiCsrfToken`, no `rsub`).
//!
//! The app under replay initialises, as a typical Go app does, EmailPassword, EmailVerification
//! (mode OPTIONAL), Session, UserRoles and UserMetadata, so every session it creates carries the
//! claims those recipes add (`st-ev`, `st-role`, `st-perm`) and the `iss` claim the session recipe
//! adds, fetched from the core first ([`create_new_session`]).
//!
//! How the SDK talks to the core (`supertokens/querier.go`):
//! * `GET /apiversion` first (`:59-144`), with only `api-key`, then every request with
//!   `cdi-version: 3.1`, `api-key`, and `rid: <recipe id>` when the path is a recipe path
//!   (`:189-201`, `:301-313`, `:458-470`; `normalisedURLPath.go:53-66`: `/recipe/…` or
//!   `/<tenant>/recipe/…`);
//! * bodies: `encoding/json` of a map (keys sorted), `content-type: application/json;
//!   charset=utf-8` (`:194`, `:463`); GET parameters through `url.Values.Encode()` (sorted,
//!   `QueryEscape`d, `:326-329`);
//! * any status but 200 is an error (`:588-605`); paths are lower-cased (`normalisedURLPath.go:68-69`).

use crate::helpers::*;
use serde_json::{json, Map, Value};
use st_core::random::sha256_hex;
use std::collections::BTreeSet;

/// The app's API key (`supertokens.ConnectionInfo.APIKey`), sent on every call.
const API_KEY: &str = "go-sdk-api-key-0123456789-abcdefgh";
/// `iss` = appInfo.APIDomain + APIBasePath (`recipe/session/sessionRequestFunctions.go:42-43`).
const ISS: &str = "https://api.example.com/auth";
/// The claims' fetch time (`t`) as the SDK writes it (its own clock, ms): any number.
const CLAIM_T: i64 = START_MS;

// The recipes' ids, sent as `rid` (`recipe/*/recipe.go` `RECIPE_ID`).
const EP: &str = "emailpassword";
const SESSION: &str = "session";
const EV: &str = "emailverification";
const ROLES: &str = "userroles";
const META: &str = "usermetadata";

/// The V4 access token's own claims at CDI 3.x (reference `AccessToken.java:399-429`).
const V4_CLAIMS: [&str; 8] =
    ["sub", "exp", "iat", "tId", "sessionHandle", "refreshTokenHash1", "parentRefreshTokenHash1", "antiCsrfToken"];

fn config() -> Value {
    json!({"bcrypt_log_rounds": 4, "api_keys": API_KEY})
}

// ---------------------------------------------------------------------------------------------
// The Go SDK's querier
// ---------------------------------------------------------------------------------------------

/// `Querier.SendGetRequest` / `SendPostRequest` / `SendPutRequest` (`supertokens/querier.go`).
struct Go<'a> {
    s: &'a TestServer,
}

/// `NormalisedURLPath.IsARecipePath` (`supertokens/normalisedURLPath.go:53-66`).
fn is_recipe_path(path: &str) -> bool {
    let parts: Vec<&str> = path.split('/').collect();
    parts.get(1) == Some(&"recipe") || parts.get(2) == Some(&"recipe")
}

/// Go's `url.QueryEscape`.
fn query_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Go's `url.Values.Encode()`: sorted by key.
fn encode_query(params: &[(&str, &str)]) -> String {
    let mut params = params.to_vec();
    params.sort();
    params.iter().map(|(k, v)| format!("{}={}", query_escape(k), query_escape(v))).collect::<Vec<_>>().join("&")
}

/// Go's `json.Marshal` of a `map[string]interface{}`: object keys sorted.
fn go_json(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut entries: Vec<(&String, &Value)> = m.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            Value::Object(entries.into_iter().map(|(k, v)| (k.clone(), go_json(v))).collect::<Map<_, _>>())
        }
        Value::Array(a) => Value::Array(a.iter().map(go_json).collect()),
        other => other.clone(),
    }
}

impl Go<'_> {
    /// One core call as the querier sends it; returns (status, body).
    async fn send(
        &self,
        method: &str,
        rid: &str,
        path: &str,
        query: &[(&str, &str)],
        body: Option<Value>,
    ) -> (u16, String) {
        let mut url = format!("{}{}", self.s.url, path.to_lowercase());
        if !query.is_empty() {
            url = format!("{url}?{}", encode_query(query));
        }
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self
            .s
            .client
            .request(m, url)
            .header("user-agent", "Go-http-client/1.1")
            .header("cdi-version", "3.1")
            .header("api-key", API_KEY);
        if !rid.is_empty() && is_recipe_path(path) {
            req = req.header("rid", rid);
        }
        if let Some(b) = body {
            req = req.header("content-type", "application/json; charset=utf-8").body(go_json(&b).to_string());
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        (status, resp.text().await.unwrap_or_default())
    }

    /// A call the SDK expects to succeed: 200 and a JSON object.
    async fn ok(&self, method: &str, rid: &str, path: &str, query: &[(&str, &str)], body: Option<Value>) -> Value {
        let (status, text) = self.send(method, rid, path, query, body).await;
        assert_eq!(status, 200, "{method} {path} (CDI 3.1) -> {status}: {text}");
        let v: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{method} {path}: not JSON: {text}"));
        assert!(v.is_object(), "{method} {path}: not an object: {v}");
        v
    }

    async fn get(&self, rid: &str, path: &str, query: &[(&str, &str)]) -> Value {
        self.ok("GET", rid, path, query, None).await
    }
    async fn post(&self, rid: &str, path: &str, body: Value) -> Value {
        self.ok("POST", rid, path, &[], Some(body)).await
    }
    async fn put(&self, rid: &str, path: &str, body: Value) -> Value {
        self.ok("PUT", rid, path, &[], Some(body)).await
    }
}

// ---------------------------------------------------------------------------------------------
// What the SDK decodes
// ---------------------------------------------------------------------------------------------

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|x| x.as_str().unwrap_or_else(|| panic!("not a string: {x}")).to_string())
        .collect()
}

fn string_set(items: &[String]) -> BTreeSet<String> {
    items.iter().cloned().collect()
}

/// `epmodels.User` (`recipe/emailpassword/epmodels/models.go:64-69`, `ID string`, `Email string`,
/// `TimeJoined uint64`, `TenantIds []string`), decoded by `parseUser` (`recipe/emailpassword/
/// utils.go:268-279`) from the reference's pre-4.0 user object (`toJsonWithoutAccountLinking`).
/// Returns (id, timeJoined).
fn assert_user(user: &Value, email: &str) -> (String, u64) {
    assert_eq!(
        keys_of(user),
        set(&["id", "timeJoined", "tenantIds", "email"]),
        "CDI 3.1 user object: no loginMethods, isPrimaryUser, emails, phoneNumbers, thirdParty: {user}"
    );
    let id = user["id"].as_str().unwrap_or_else(|| panic!("id is a string: {user}")).to_string();
    assert!(is_uuid(&id), "{id}");
    assert_eq!(user["email"], email);
    assert_eq!(user["tenantIds"], json!(["public"]));
    let joined = user["timeJoined"].as_u64().unwrap_or_else(|| panic!("timeJoined decodes as uint64: {user}"));
    (id, joined)
}

/// `{"status":"OK","user":{…}}` of signup, signin and `GET /recipe/user` (no top-level
/// `recipeUserId` before 4.0).
fn assert_user_response(r: &Value, email: &str) -> (String, u64) {
    assert_eq!(keys_of(r), set(&["status", "user"]), "{r}");
    assert_eq!(r["status"], "OK");
    assert_user(&r["user"], email)
}

/// `sessmodels.CreateOrRefreshAPIResponseToken` (`recipe/session/sessmodels/models.go:78-82`).
fn assert_token_object(t: &Value) {
    assert_eq!(keys_of(t), set(&["token", "expiry", "createdTime"]), "{t}");
    assert!(t["token"].is_string(), "{t}");
    assert!(t["expiry"].is_u64() && t["createdTime"].is_u64(), "expiry/createdTime decode as uint64: {t}");
}

/// `sessmodels.SessionStruct` (`models.go:70-76`) as the reference sends it at CDI 3.x:
/// `{handle, userId, userDataInJWT, tenantId}`, no `recipeUserId`.
fn assert_session_object(session: &Value, handle: &str, user: &str, payload: &Value) {
    assert_eq!(
        session,
        &json!({"handle": handle, "userId": user, "userDataInJWT": payload, "tenantId": "public"}),
        "CDI 3.1 session object (no recipeUserId)"
    );
}

/// The access token as the SDK reads it (`recipe/session/jwt.go:45-133`: header `typ` "JWT",
/// string `version` ≥ 3, string `kid`; `accessToken.go:186-216`: `sessionHandle`, `sub`,
/// `refreshTokenHash1` strings, `exp`, `iat` numbers, `tId` string from version 4) and verifies
/// it (`accessToken.go:45-70`: RS256 against the core's JWKS, fetched with no header at all by
/// `keyfunc.Get`, `recipeImplementation.go:74-132`), in the reference's CDI 3.x shape: version
/// "4", exactly the V4 claims plus the user's, no `rsub`. Returns the payload.
fn assert_v4_token(token: &str, keys: &[Value], user: &str, handle: &str, user_claims: &Value) -> Value {
    let header = jwt_header(token);
    assert_eq!(keys_of(&header), set(&["alg", "kid", "typ", "version"]), "{header}");
    assert_eq!(
        (header["alg"].as_str(), header["typ"].as_str(), header["version"].as_str()),
        (Some("RS256"), Some("JWT"), Some("4")),
        "CDI 3.x mints version 4 access tokens: {header}"
    );
    assert!(
        header["kid"].as_str().is_some_and(|k| k.starts_with("d-")),
        "dynamic key (useDynamicSigningKey): {header}"
    );
    assert!(verifies_with_jwks(token, keys), "the token verifies with the published JWKS");
    let p = jwt_payload(token);
    let mut expected: BTreeSet<String> = V4_CLAIMS.iter().map(|c| c.to_string()).collect();
    expected.extend(user_claims.as_object().unwrap().keys().cloned());
    assert_eq!(keys_of(&p), expected, "V4 claims (no rsub) plus the user's: {p}");
    assert_eq!((p["sub"].as_str(), p["tId"].as_str()), (Some(user), Some("public")));
    assert_eq!(p["sessionHandle"], handle);
    assert!(p["refreshTokenHash1"].is_string(), "{p}");
    assert!(p["exp"].is_u64() && p["iat"].is_u64(), "exp/iat numbers (seconds): {p}");
    assert!(p["exp"].as_u64() > p["iat"].as_u64());
    assert!(p["parentRefreshTokenHash1"].is_null() || p["parentRefreshTokenHash1"].is_string(), "{p}");
    assert!(p["antiCsrfToken"].is_null() || p["antiCsrfToken"].is_string(), "{p}");
    for (k, v) in user_claims.as_object().unwrap() {
        assert_eq!(&p[k], v, "user claim {k}");
    }
    p
}

// ---------------------------------------------------------------------------------------------
// SDK flows shared by the tests
// ---------------------------------------------------------------------------------------------

/// `emailpassword.SignUp` (`recipe/emailpassword/recipeImplementation.go:24-45`), as called by
/// `signUpPOST` (`recipe/emailpassword/api/implementation.go:218`). Returns (id, timeJoined).
async fn sign_up_user(go: &Go<'_>, email: &str, password: &str) -> (String, u64) {
    let r = go.post(EP, "/public/recipe/signup", json!({"email": email, "password": password})).await;
    assert_user_response(&r, email)
}

/// The session a sign-up / sign-in creates: `session.CreateNewSession` in the request
/// (`recipe/session/sessionRequestFunctions.go:33-134`). The SDK first builds the payload: `iss`
/// (`:42-43`), then each claim added by the other recipes (`:49-56`; `claims/claims.go:13-29`:
/// `{"v": value, "t": ms}`, `claims/primitiveArrayClaim.go:12-19`):
/// * `st-ev` (`emailverification/emailverificationClaim.go:14-37`): the user's e-mail through
///   emailpassword's `GetUserByID` (`emailpassword/recipe.go:206-221`, `GET /recipe/user`), then
///   `IsEmailVerified` (`emailverification/recipeimplementation.go:66-75`);
/// * `st-role` and `st-perm` (`userroles/claims.go:16-71`): `GET /public/recipe/user/roles` (once
///   per claim), then `GET /recipe/role/permissions` per role;
///
/// then `POST /public/recipe/session` (`sessionFunctions.go:29-60`): `enableAntiCsrf` true for a
/// cookie session with `AntiCsrf: VIA_TOKEN`, false for a header session (`:40`;
/// `sessionRequestFunctions.go:102`), `useDynamicSigningKey` = the config's default true.
/// Returns (response, the payload sent).
async fn create_new_session(go: &Go<'_>, user_id: &str, cookie: bool) -> (Value, Value) {
    let u = go.get(EP, "/recipe/user", &[("userId", user_id)]).await;
    let email = u["user"]["email"].as_str().unwrap_or_else(|| panic!("GET /recipe/user: {u}")).to_string();
    assert_user_response(&u, &email);
    let ev = go.get(EV, "/recipe/user/email/verify", &[("userId", user_id), ("email", &email)]).await;
    assert_eq!(keys_of(&ev), set(&["status", "isVerified"]), "{ev}");
    let verified = ev["isVerified"].as_bool().unwrap_or_else(|| panic!("isVerified is a bool: {ev}"));
    let roles = go.get(ROLES, "/public/recipe/user/roles", &[("userId", user_id)]).await;
    assert_eq!(roles["status"], "OK");
    let roles = strings(&roles["roles"]);
    let again = go.get(ROLES, "/public/recipe/user/roles", &[("userId", user_id)]).await;
    let mut perms = BTreeSet::new();
    for role in strings(&again["roles"]) {
        let p = go.get(ROLES, "/recipe/role/permissions", &[("role", &role)]).await;
        assert_eq!(p["status"], "OK", "{p}");
        perms.extend(strings(&p["permissions"]));
    }
    let payload = json!({
        "iss": ISS,
        "st-ev": {"v": verified, "t": CLAIM_T},
        "st-role": {"v": roles, "t": CLAIM_T},
        "st-perm": {"v": perms, "t": CLAIM_T},
    });
    let body = json!({
        "userId": user_id,
        "userDataInJWT": payload,
        "userDataInDatabase": {},
        "enableAntiCsrf": cookie,
        "useDynamicSigningKey": true,
    });
    let r = go.post(SESSION, "/public/recipe/session", body).await;
    // `sessmodels.CreateOrRefreshAPIResponse` (`models.go:63-68`); no `idRefreshToken` from 2.21 on.
    let mut expected = set(&["status", "session", "accessToken", "refreshToken"]);
    if cookie {
        expected.insert("antiCsrfToken".into());
    }
    assert_eq!(keys_of(&r), expected, "{r}");
    assert_eq!(r["status"], "OK");
    let h = handle(&r);
    assert_session_object(&r["session"], &h, user_id, &payload);
    assert_token_object(&r["accessToken"]);
    assert_token_object(&r["refreshToken"]);
    // The SDK verifies the new token locally from now on (no parent hash: no core call).
    let (keys, _) = jwks(go.s, "").await;
    let p = assert_v4_token(&at(&r), &keys, user_id, &h, &payload);
    assert!(p["parentRefreshTokenHash1"].is_null(), "{p}");
    assert_eq!(p["refreshTokenHash1"], sha256_hex(&rt(&r)).as_str());
    if cookie {
        let anti = r["antiCsrfToken"].as_str().unwrap_or_else(|| panic!("antiCsrfToken is a string: {r}"));
        assert_eq!(p["antiCsrfToken"], anti);
    } else {
        assert!(p["antiCsrfToken"].is_null(), "{p}");
    }
    (r, payload)
}

/// `getSessionHelper`'s core call (`recipe/session/sessionFunctions.go:152-165`): made when the
/// SDK asks for `checkDatabase` or the token has a parent hash (`:141`). `antiCsrfToken` only when
/// the request carried one (`:158-160`); `enableAntiCsrf` is the config's (VIA_TOKEN or not).
async fn verify_session(go: &Go<'_>, token: &str, anti: Option<&str>, cookie: bool, check_db: bool) -> Value {
    let mut body = json!({
        "accessToken": token,
        "doAntiCsrfCheck": cookie,
        "enableAntiCsrf": cookie,
        "checkDatabase": check_db,
    });
    if let Some(a) = anti {
        body["antiCsrfToken"] = json!(a);
    }
    go.post(SESSION, "/recipe/session/verify", body).await
}

/// `refreshSessionHelper` (`recipe/session/sessionFunctions.go:227-272`).
async fn refresh_session(go: &Go<'_>, refresh_token: &str, anti: Option<&str>, cookie: bool) -> Value {
    let mut body = json!({"refreshToken": refresh_token, "enableAntiCsrf": cookie, "useDynamicSigningKey": true});
    if let Some(a) = anti {
        body["antiCsrfToken"] = json!(a);
    }
    go.post(SESSION, "/recipe/session/refresh", body).await
}

/// `revokeSessionHelper` (`recipe/session/sessionFunctions.go:328-337`): sign-out
/// (`session.go:74-89`) and the token-theft handler (`utils.go:365-371`).
async fn revoke_session(go: &Go<'_>, h: &str) -> Vec<String> {
    let r = go.post(SESSION, "/recipe/session/remove", json!({"sessionHandles": [h]})).await;
    assert_eq!(keys_of(&r), set(&["status", "sessionHandlesRevoked"]), "{r}");
    strings(&r["sessionHandlesRevoked"])
}

/// `UNAUTHORISED` as the SDK reads it: `response["message"].(string)` (`sessionFunctions.go:196-198`).
fn assert_unauthorised(r: &Value) {
    assert_eq!(r["status"], "UNAUTHORISED", "{r}");
    assert!(r["message"].is_string(), "message is a string: {r}");
}

// ---------------------------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------------------------

/// Replays the handshake: `Querier.GetQuerierAPIVersion` (`supertokens/querier.go:59-144`):
/// `GET /apiversion?apiDomain=…&websiteDomain=…` with `api-key` and no `cdi-version`, decoding
/// `{"versions": []string}` and taking the largest version also in `cdiSupported = ["3.1"]`
/// (`supertokens/utils.go:132-149`, exact string match; `constants.go:27`); none ⇒ the SDK refuses
/// to start. (The Go SDK never calls `/hello`.)
async fn handshake(b: Backend) {
    let Some(s) = TestServer::spawn(b, config()).await else { return };
    let query = encode_query(&[("apiDomain", "https://api.example.com"), ("websiteDomain", "https://example.com")]);
    let resp = s
        .client
        .get(format!("{}/apiversion?{query}", s.url))
        .header("user-agent", "Go-http-client/1.1")
        .header("api-key", API_KEY)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    assert_eq!(status, 200, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(keys_of(&v), set(&["versions"]), "{v}");
    let versions = strings(&v["versions"]);
    assert!(
        versions.iter().any(|x| x == "3.1"),
        "the reference lists 3.1 (every supported version <= max): {versions:?}"
    );
    // The first call at the negotiated version is accepted.
    let go = Go { s: &s };
    assert_eq!(go.get(ROLES, "/recipe/roles", &[]).await, json!({"status": "OK", "roles": []}));
    s.stop().await;
}

/// Replays `signUpPOST` and `signInPOST` (`recipe/emailpassword/api/implementation.go:145-244`):
/// `SignUp` / `SignIn` (`recipe/emailpassword/recipeImplementation.go:24-68`: status "OK" ⇒
/// `parseUser(response["user"])`, anything else ⇒ EMAIL_ALREADY_EXISTS / WRONG_CREDENTIALS), each
/// followed by `session.CreateNewSession` with the claims (`recipe/session/
/// sessionRequestFunctions.go:33-134`, see [`create_new_session`]).
async fn sign_up_and_sign_in(b: Backend) {
    let Some(s) = TestServer::spawn(b, config()).await else { return };
    let go = Go { s: &s };
    let (id, joined) = sign_up_user(&go, "alice@example.com", "pw-Alice-1").await;
    let (r, payload) = create_new_session(&go, &id, true).await;
    assert_eq!(payload["st-ev"]["v"], false);
    assert_eq!((payload["st-role"]["v"].clone(), payload["st-perm"]["v"].clone()), (json!([]), json!([])));
    assert!(is_uuid(&handle(&r)), "public-tenant handle");

    let dup = go.post(EP, "/public/recipe/signup", json!({"email": "alice@example.com", "password": "x"})).await;
    assert_eq!(dup, json!({"status": "EMAIL_ALREADY_EXISTS_ERROR"}));

    let ok =
        go.post(EP, "/public/recipe/signin", json!({"email": "alice@example.com", "password": "pw-Alice-1"})).await;
    assert_eq!(assert_user_response(&ok, "alice@example.com"), (id.clone(), joined));
    create_new_session(&go, &id, false).await;

    let wrong = go.post(EP, "/public/recipe/signin", json!({"email": "alice@example.com", "password": "nope"})).await;
    assert_eq!(wrong, json!({"status": "WRONG_CREDENTIALS_ERROR"}));
    let unknown =
        go.post(EP, "/public/recipe/signin", json!({"email": "nobody@example.com", "password": "pw-Alice-1"})).await;
    assert_eq!(unknown, json!({"status": "WRONG_CREDENTIALS_ERROR"}));
    s.stop().await;
}

/// Replays a cookie session with anti-CSRF `VIA_TOKEN`: create (`sessionRequestFunctions.go:
/// 33-134`), `VerifySession` with and without `CheckDatabase` on a POST API
/// (`sessionRequestFunctions.go:136-319`, `recipeImplementation.go:189-301`,
/// `sessionFunctions.go:62-203`), the refresh API (`sessionRequestFunctions.go:321-470`,
/// `sessionFunctions.go:227-272`), the refreshed token's first verification (it has a parent
/// hash, so the core is asked even without `checkDatabase` and answers with a new access token,
/// `sessionFunctions.go:141,184-194`), then the reuse of the first refresh token: token theft
/// (`sessionFunctions.go:260-270` reads `session.handle` and `session.userId`), which the default
/// handler answers by revoking the session (`recipe/session/utils.go:365-371`).
async fn cookie_session_verify_refresh_and_theft(b: Backend) {
    let Some(s) = TestServer::spawn(b, config()).await else { return };
    let go = Go { s: &s };
    let (id, _) = sign_up_user(&go, "carol@example.com", "pw-Carol-1").await;
    let (r1, payload) = create_new_session(&go, &id, true).await;
    let h = handle(&r1);
    let (at1, rt1) = (at(&r1), rt(&r1));
    let anti1 = r1["antiCsrfToken"].as_str().unwrap().to_string();

    // Without checkDatabase the first token is verified locally (done in create_new_session);
    // with it, the core is asked.
    let v = verify_session(&go, &at1, Some(&anti1), true, true).await;
    assert_eq!(keys_of(&v), set(&["status", "session"]), "no new access token for a parent-less token: {v}");
    assert_eq!(v["status"], "OK");
    assert_session_object(&v["session"], &h, &id, &payload);

    // The refresh API: the refresh token and the anti-csrf header.
    s.clock.advance_ms(1_000);
    let r2 = refresh_session(&go, &rt1, Some(&anti1), true).await;
    assert_eq!(keys_of(&r2), set(&["status", "session", "accessToken", "refreshToken", "antiCsrfToken"]), "{r2}");
    assert_eq!(r2["status"], "OK");
    assert_session_object(&r2["session"], &h, &id, &payload);
    assert_token_object(&r2["accessToken"]);
    assert_token_object(&r2["refreshToken"]);
    let (at2, rt2) = (at(&r2), rt(&r2));
    let anti2 = r2["antiCsrfToken"].as_str().unwrap_or_else(|| panic!("antiCsrfToken is a string: {r2}")).to_string();
    let (keys, _) = jwks(&s, "").await;
    let p2 = assert_v4_token(&at2, &keys, &id, &h, &payload);
    assert_eq!(p2["parentRefreshTokenHash1"], sha256_hex(&rt1).as_str());
    assert_eq!(p2["refreshTokenHash1"], sha256_hex(&rt2).as_str());
    assert_eq!(p2["antiCsrfToken"], anti2.as_str());

    // The refreshed token has a parent hash: the SDK asks the core even without checkDatabase,
    // and takes the new access token it answers with.
    let v = verify_session(&go, &at2, Some(&anti2), true, false).await;
    assert_eq!(keys_of(&v), set(&["status", "session", "accessToken"]), "{v}");
    assert_eq!(v["status"], "OK");
    assert_session_object(&v["session"], &h, &id, &payload);
    assert_token_object(&v["accessToken"]);
    let at3 = at(&v);
    let p3 = assert_v4_token(&at3, &keys, &id, &h, &payload);
    assert!(p3["parentRefreshTokenHash1"].is_null(), "{p3}");
    assert_eq!(p3["refreshTokenHash1"], sha256_hex(&rt2).as_str());
    assert_eq!(p3["antiCsrfToken"], anti2.as_str());
    let v = verify_session(&go, &at3, Some(&anti2), true, true).await;
    assert_eq!(keys_of(&v), set(&["status", "session"]), "{v}");

    // The first refresh token again (a stolen copy): theft. The session object keeps
    // recipeUserId at every version (reference RefreshSessionAPI.java:160-170).
    let theft = refresh_session(&go, &rt1, Some(&anti1), true).await;
    assert_eq!(
        theft,
        json!({"status": "TOKEN_THEFT_DETECTED", "session": {"handle": h, "userId": id, "recipeUserId": id}})
    );
    assert_eq!(revoke_session(&go, &h).await, vec![h.clone()], "the default theft handler revokes the session");
    assert_unauthorised(&refresh_session(&go, &rt2, Some(&anti2), true).await);
    assert_unauthorised(&verify_session(&go, &at3, Some(&anti2), true, true).await);
    s.stop().await;
}

/// Replays a header session (no anti-CSRF: `disableAntiCSRF` for the header transfer method,
/// `sessionRequestFunctions.go:102`, config `AntiCsrf` NONE): create, `VerifySession` with
/// `CheckDatabase` (header tokens skip the anti-CSRF check, `sessionRequestFunctions.go:213-215`),
/// `GetSessionInformation` (`sessionFunctions.go:205-225`: type-asserts `sessionHandle`,
/// `userId`, `userDataInDatabase`, `expiry`, `timeCreated`, `userDataInJWT`, `tenantId`),
/// `UpdateSessionDataInDatabase` (`sessionFunctions.go:358-374`), refresh, and the sign-out API
/// (`signout.go:24-40`, `apiImplementation.go:70-80` ⇒ `session.go:74-89` ⇒
/// `sessionFunctions.go:328-337`). Also (not sent by 0.25.2, which always sends it) the
/// reference's rule that refresh's `useDynamicSigningKey` is optional before CDI 5.0.
async fn header_session_info_refresh_and_sign_out(b: Backend) {
    let Some(s) = TestServer::spawn(b, config()).await else { return };
    let go = Go { s: &s };
    let (id, _) = sign_up_user(&go, "dave@example.com", "pw-Dave-1").await;
    let (r1, payload) = create_new_session(&go, &id, false).await;
    let h = handle(&r1);

    let v = verify_session(&go, &at(&r1), None, false, true).await;
    assert_eq!(
        v,
        json!({"status": "OK", "session": {"handle": h, "userId": id, "userDataInJWT": payload, "tenantId": "public"}})
    );

    let info = go.get(SESSION, "/recipe/session", &[("sessionHandle", &h)]).await;
    assert_eq!(
        keys_of(&info),
        set(&[
            "status",
            "sessionHandle",
            "userId",
            "userDataInDatabase",
            "expiry",
            "userDataInJWT",
            "timeCreated",
            "tenantId"
        ]),
        "GET /recipe/session at CDI 3.x: tenantId, no recipeUserId: {info}"
    );
    assert_eq!(info["status"], "OK");
    assert_eq!((info["sessionHandle"].as_str(), info["userId"].as_str()), (Some(h.as_str()), Some(id.as_str())));
    assert_eq!((info["userDataInDatabase"].clone(), info["userDataInJWT"].clone()), (json!({}), payload.clone()));
    assert!(info["expiry"].is_u64() && info["timeCreated"].is_u64(), "{info}");
    assert_eq!(info["tenantId"], "public");

    let d =
        go.put(SESSION, "/recipe/session/data", json!({"sessionHandle": h, "userDataInDatabase": {"cart": 3}})).await;
    assert_eq!(d["status"], "OK", "{d}");
    let info = go.get(SESSION, "/recipe/session", &[("sessionHandle", &h)]).await;
    assert_eq!(info["userDataInDatabase"], json!({"cart": 3}));

    s.clock.advance_ms(1_000);
    let r2 = refresh_session(&go, &rt(&r1), None, false).await;
    assert_eq!(keys_of(&r2), set(&["status", "session", "accessToken", "refreshToken"]), "no antiCsrfToken: {r2}");
    assert_session_object(&r2["session"], &h, &id, &payload);
    let (keys, _) = jwks(&s, "").await;
    let p2 = assert_v4_token(&at(&r2), &keys, &id, &h, &payload);
    assert!(p2["antiCsrfToken"].is_null(), "{p2}");
    assert_eq!(p2["parentRefreshTokenHash1"], sha256_hex(&rt(&r1)).as_str());

    // Reference: before CDI 5.0 useDynamicSigningKey may be left out (the stored key type stays).
    let r3 =
        go.post(SESSION, "/recipe/session/refresh", json!({"refreshToken": rt(&r2), "enableAntiCsrf": false})).await;
    assert_eq!(r3["status"], "OK", "useDynamicSigningKey is optional at CDI 3.1: {r3}");
    assert_v4_token(&at(&r3), &keys, &id, &h, &payload);

    // Sign-out.
    assert_eq!(revoke_session(&go, &h).await, vec![h.clone()]);
    assert_unauthorised(&verify_session(&go, &at(&r3), None, false, true).await);
    let gone = go.get(SESSION, "/recipe/session", &[("sessionHandle", &h)]).await;
    assert_eq!(gone["status"], "UNAUTHORISED", "GetSessionInformation ⇒ nil: {gone}");
    assert_eq!(revoke_session(&go, &h).await, Vec::<String>::new(), "RevokeSession ⇒ false");
    s.stop().await;
}

/// Replays `session.GetAllSessionHandlesForUser` and `session.RevokeAllSessionsForUser`
/// (`recipe/session/main.go:181-218`, `sessionFunctions.go:274-326`): without a tenant the SDK
/// calls `/public/recipe/session/{user,remove}` with only `userId`; with one it adds
/// `fetchAcrossAllTenants=false` / `"revokeAcrossAllTenants": false`.
async fn revoke_all_sessions_of_a_user(b: Backend) {
    let Some(s) = TestServer::spawn(b, config()).await else { return };
    let go = Go { s: &s };
    let (id, _) = sign_up_user(&go, "erin@example.com", "pw-Erin-1").await;
    let (other, _) = sign_up_user(&go, "frank@example.com", "pw-Frank-1").await;
    let h1 = handle(&create_new_session(&go, &id, true).await.0);
    let h2 = handle(&create_new_session(&go, &id, false).await.0);
    let h_other = handle(&create_new_session(&go, &other, false).await.0);

    let all = go.get(SESSION, "/public/recipe/session/user", &[("userId", &id)]).await;
    assert_eq!(keys_of(&all), set(&["status", "sessionHandles"]), "{all}");
    assert_eq!(string_set(&strings(&all["sessionHandles"])), set(&[h1.as_str(), h2.as_str()]));

    let rm = go.post(SESSION, "/public/recipe/session/remove", json!({"userId": id})).await;
    assert_eq!(keys_of(&rm), set(&["status", "sessionHandlesRevoked"]), "{rm}");
    assert_eq!(string_set(&strings(&rm["sessionHandlesRevoked"])), set(&[h1.as_str(), h2.as_str()]));
    let all = go.get(SESSION, "/public/recipe/session/user", &[("userId", &id)]).await;
    assert_eq!(all["sessionHandles"], json!([]));
    let again = go.post(SESSION, "/public/recipe/session/remove", json!({"userId": id})).await;
    assert_eq!(again["sessionHandlesRevoked"], json!([]));

    // With an explicit tenant.
    let h3 = handle(&create_new_session(&go, &id, false).await.0);
    let all =
        go.get(SESSION, "/public/recipe/session/user", &[("userId", &id), ("fetchAcrossAllTenants", "false")]).await;
    assert_eq!(strings(&all["sessionHandles"]), vec![h3.clone()]);
    let rm =
        go.post(SESSION, "/public/recipe/session/remove", json!({"userId": id, "revokeAcrossAllTenants": false})).await;
    assert_eq!(strings(&rm["sessionHandlesRevoked"]), vec![h3]);
    // The other user's session is untouched.
    let theirs = go.get(SESSION, "/public/recipe/session/user", &[("userId", &other)]).await;
    assert_eq!(strings(&theirs["sessionHandles"]), vec![h_other]);
    s.stop().await;
}

/// Replays the e-mail verification APIs (`recipe/emailverification/api/implementation.go`):
/// `generateEmailVerifyTokenPOST` (`:82-…`: the e-mail via `GET /recipe/user`, then
/// `CreateEmailVerificationToken`, `recipeimplementation.go:24-42`), `verifyEmailPOST` (`:31-55`:
/// `VerifyEmailUsingToken`, `recipeimplementation.go:44-64`, reading `userId` and `email`, then
/// `FetchAndSetClaim(st-ev)`: the e-mail and `IsEmailVerified` again, and
/// `MergeIntoAccessTokenPayload` ⇒ `POST /recipe/session/regenerate`, `session.go:150-200,
/// 261-267`, `sessionFunctions.go:393-417`), `IsEmailVerified` (`recipeimplementation.go:66-75`),
/// `UnverifyEmail` (`:90-101`) and `RevokeEmailVerificationTokens` (`:77-88`).
async fn email_verification(b: Backend) {
    let Some(s) = TestServer::spawn(b, config()).await else { return };
    let go = Go { s: &s };
    let email = "eve@example.com";
    let (id, _) = sign_up_user(&go, email, "pw-Eve-1").await;
    let (r, payload) = create_new_session(&go, &id, true).await;
    let h = handle(&r);
    assert_eq!(payload["st-ev"]["v"], false);

    // generateEmailVerifyTokenPOST.
    assert_user_response(&go.get(EP, "/recipe/user", &[("userId", &id)]).await, email);
    let tok = go.post(EV, "/public/recipe/user/email/verify/token", json!({"userId": id, "email": email})).await;
    assert_eq!(keys_of(&tok), set(&["status", "token"]), "{tok}");
    assert_eq!(tok["status"], "OK");
    let token = tok["token"].as_str().unwrap().to_string();

    // verifyEmailPOST.
    let v = go.post(EV, "/public/recipe/user/email/verify", json!({"method": "token", "token": token})).await;
    assert_eq!(v, json!({"status": "OK", "userId": id, "email": email}));
    assert_user_response(&go.get(EP, "/recipe/user", &[("userId", &id)]).await, email);
    let ev = go.get(EV, "/recipe/user/email/verify", &[("userId", &id), ("email", email)]).await;
    assert_eq!(ev, json!({"status": "OK", "isVerified": true}));
    let mut new_payload = payload.clone();
    new_payload["st-ev"] = json!({"v": true, "t": CLAIM_T + 1});
    let g = go
        .post(SESSION, "/recipe/session/regenerate", json!({"accessToken": at(&r), "userDataInJWT": new_payload}))
        .await;
    assert_eq!(keys_of(&g), set(&["status", "session", "accessToken"]), "{g}");
    assert_eq!(g["status"], "OK");
    assert_session_object(&g["session"], &h, &id, &new_payload);
    assert_token_object(&g["accessToken"]);
    let (keys, _) = jwks(&s, "").await;
    let p = assert_v4_token(&at(&g), &keys, &id, &h, &new_payload);
    assert_eq!(p["exp"], jwt_payload(&at(&r))["exp"], "regenerate keeps the token's expiry");
    assert_eq!(p["antiCsrfToken"], r["antiCsrfToken"]);

    // The token is single use; a verified e-mail gets no new token.
    let again = go.post(EV, "/public/recipe/user/email/verify", json!({"method": "token", "token": token})).await;
    assert_eq!(again, json!({"status": "EMAIL_VERIFICATION_INVALID_TOKEN_ERROR"}));
    let verified = go.post(EV, "/public/recipe/user/email/verify/token", json!({"userId": id, "email": email})).await;
    assert_eq!(verified, json!({"status": "EMAIL_ALREADY_VERIFIED_ERROR"}));

    // UnverifyEmail, then IsEmailVerified.
    let un = go.post(EV, "/recipe/user/email/verify/remove", json!({"userId": id, "email": email})).await;
    assert_eq!(un["status"], "OK", "{un}");
    let ev = go.get(EV, "/recipe/user/email/verify", &[("userId", &id), ("email", email)]).await;
    assert_eq!(ev, json!({"status": "OK", "isVerified": false}));

    // RevokeEmailVerificationTokens: a revoked token no longer verifies.
    let tok = go.post(EV, "/public/recipe/user/email/verify/token", json!({"userId": id, "email": email})).await;
    let token = tok["token"].as_str().unwrap().to_string();
    let rm = go.post(EV, "/public/recipe/user/email/verify/token/remove", json!({"userId": id, "email": email})).await;
    assert_eq!(rm["status"], "OK", "{rm}");
    let late = go.post(EV, "/public/recipe/user/email/verify", json!({"method": "token", "token": token})).await;
    assert_eq!(late, json!({"status": "EMAIL_VERIFICATION_INVALID_TOKEN_ERROR"}));
    s.stop().await;
}

/// Replays every UserRoles call (`recipe/userroles/recipeimplementation.go:25-204`): create a
/// role with permissions (`PUT /recipe/role`), add it to a user (`PUT /public/recipe/user/role`,
/// `didUserAlreadyHaveRole`; anything but OK ⇒ UNKNOWN_ROLE_ERROR), the user's roles, the role's
/// permissions / users, the permission's roles, the `st-role`/`st-perm` claims of a new session
/// (`userroles/claims.go:16-71`), removal of a permission, of the user's role, listing and
/// deletion of roles.
async fn user_roles(b: Backend) {
    let Some(s) = TestServer::spawn(b, config()).await else { return };
    let go = Go { s: &s };
    let created = go.put(ROLES, "/recipe/role", json!({"role": "admin", "permissions": ["read", "write"]})).await;
    assert_eq!(created, json!({"status": "OK", "createdNewRole": true}));
    let added = go.put(ROLES, "/recipe/role", json!({"role": "admin", "permissions": ["delete"]})).await;
    assert_eq!(added, json!({"status": "OK", "createdNewRole": false}));
    let plain = go.put(ROLES, "/recipe/role", json!({"role": "viewer", "permissions": []})).await;
    assert_eq!(plain["createdNewRole"], true);
    // `CreateNewRoleOrAddPermissions(role, nil)`: Go marshals the nil slice as `null`, which the
    // reference refuses (Gson's JsonNull is not an array: `InputParser.parseArrayOrThrowError`),
    // so the SDK returns an error.
    let body = json!({"role": "nil-permissions", "permissions": null});
    let (st, text) = go.send("PUT", ROLES, "/recipe/role", &[], Some(body)).await;
    assert_eq!((st, text.trim_end()), (400, "Field name 'permissions' is invalid in JSON input"));

    let (id, _) = sign_up_user(&go, "grace@example.com", "pw-Grace-1").await;
    let add = go.put(ROLES, "/public/recipe/user/role", json!({"userId": id, "role": "admin"})).await;
    assert_eq!(add, json!({"status": "OK", "didUserAlreadyHaveRole": false}));
    let add = go.put(ROLES, "/public/recipe/user/role", json!({"userId": id, "role": "admin"})).await;
    assert_eq!(add, json!({"status": "OK", "didUserAlreadyHaveRole": true}));
    let unknown = go.put(ROLES, "/public/recipe/user/role", json!({"userId": id, "role": "nope"})).await;
    assert_eq!(unknown, json!({"status": "UNKNOWN_ROLE_ERROR"}));

    let roles = go.get(ROLES, "/public/recipe/user/roles", &[("userId", &id)]).await;
    assert_eq!(roles, json!({"status": "OK", "roles": ["admin"]}));
    let perms = go.get(ROLES, "/recipe/role/permissions", &[("role", "admin")]).await;
    assert_eq!(keys_of(&perms), set(&["status", "permissions"]), "{perms}");
    assert_eq!(string_set(&strings(&perms["permissions"])), set(&["read", "write", "delete"]));
    let nope = go.get(ROLES, "/recipe/role/permissions", &[("role", "nope")]).await;
    assert_eq!(nope, json!({"status": "UNKNOWN_ROLE_ERROR"}));
    let users = go.get(ROLES, "/public/recipe/role/users", &[("role", "admin")]).await;
    assert_eq!(users, json!({"status": "OK", "users": [id]}));
    let nope = go.get(ROLES, "/public/recipe/role/users", &[("role", "nope")]).await;
    assert_eq!(nope, json!({"status": "UNKNOWN_ROLE_ERROR"}));
    let by_perm = go.get(ROLES, "/recipe/permission/roles", &[("permission", "read")]).await;
    assert_eq!(by_perm, json!({"status": "OK", "roles": ["admin"]}));

    // A new session carries the roles and their permissions.
    let (r, payload) = create_new_session(&go, &id, false).await;
    assert_eq!(payload["st-role"]["v"], json!(["admin"]));
    assert_eq!(string_set(&strings(&payload["st-perm"]["v"])), set(&["read", "write", "delete"]));
    assert_eq!(jwt_payload(&at(&r))["st-role"]["v"], json!(["admin"]));

    let rm =
        go.post(ROLES, "/recipe/role/permissions/remove", json!({"role": "admin", "permissions": ["delete"]})).await;
    assert_eq!(rm, json!({"status": "OK"}));
    let perms = go.get(ROLES, "/recipe/role/permissions", &[("role", "admin")]).await;
    assert_eq!(string_set(&strings(&perms["permissions"])), set(&["read", "write"]));
    let rm = go.post(ROLES, "/public/recipe/user/role/remove", json!({"userId": id, "role": "admin"})).await;
    assert_eq!(rm, json!({"status": "OK", "didUserHaveRole": true}));
    let rm = go.post(ROLES, "/public/recipe/user/role/remove", json!({"userId": id, "role": "admin"})).await;
    assert_eq!(rm, json!({"status": "OK", "didUserHaveRole": false}));
    let all = go.get(ROLES, "/recipe/roles", &[]).await;
    assert_eq!(keys_of(&all), set(&["status", "roles"]));
    assert_eq!(string_set(&strings(&all["roles"])), set(&["admin", "viewer"]));
    assert_eq!(
        go.post(ROLES, "/recipe/role/remove", json!({"role": "admin"})).await,
        json!({"status": "OK", "didRoleExist": true})
    );
    assert_eq!(
        go.post(ROLES, "/recipe/role/remove", json!({"role": "admin"})).await,
        json!({"status": "OK", "didRoleExist": false})
    );
    s.stop().await;
}

/// Replays the UserMetadata calls (`recipe/usermetadata/recipeimplementation.go:24-52`):
/// `GetUserMetadata` and `UpdateUserMetadata` read `response["metadata"].(map[string]interface{})`,
/// `ClearUserMetadata` only the status code.
async fn user_metadata(b: Backend) {
    let Some(s) = TestServer::spawn(b, config()).await else { return };
    let go = Go { s: &s };
    let (id, _) = sign_up_user(&go, "heidi@example.com", "pw-Heidi-1").await;
    assert_eq!(
        go.get(META, "/recipe/user/metadata", &[("userId", &id)]).await,
        json!({"status": "OK", "metadata": {}})
    );
    let m = go
        .put(
            META,
            "/recipe/user/metadata",
            json!({"userId": id, "metadataUpdate": {"theme": "dark", "n": 1, "o": {"a": 1}}}),
        )
        .await;
    assert_eq!(keys_of(&m), set(&["status", "metadata"]), "{m}");
    assert_eq!(m["metadata"], json!({"theme": "dark", "n": 1, "o": {"a": 1}}));
    let m = go.put(META, "/recipe/user/metadata", json!({"userId": id, "metadataUpdate": {"n": null}})).await;
    assert_eq!(m, json!({"status": "OK", "metadata": {"theme": "dark", "o": {"a": 1}}}));
    assert_eq!(go.get(META, "/recipe/user/metadata", &[("userId", &id)]).await["metadata"], m["metadata"]);
    // `UpdateUserMetadata(userId, nil)`: the nil map is marshalled as `null`, which the reference
    // refuses (`InputParser.parseJsonObjectOrThrowError`), so the SDK returns an error.
    let body = json!({"userId": id, "metadataUpdate": null});
    let (st, text) = go.send("PUT", META, "/recipe/user/metadata", &[], Some(body)).await;
    assert_eq!((st, text.trim_end()), (400, "Field name 'metadataUpdate' is invalid in JSON input"));
    let rm = go.post(META, "/recipe/user/metadata/remove", json!({"userId": id})).await;
    assert_eq!(rm, json!({"status": "OK"}));
    assert_eq!(
        go.get(META, "/recipe/user/metadata", &[("userId", &id)]).await,
        json!({"status": "OK", "metadata": {}})
    );
    s.stop().await;
}

/// Replays `emailpassword.GetUserByID` (`recipe/emailpassword/recipeImplementation.go:70-86`:
/// `GET /recipe/user?userId=` with no tenant; status OK ⇒ `parseUser`, else nil) and
/// `GetUserByEmail` (`:88-104`: `GET /public/recipe/user?email=`), as `emailExistsGET`
/// (`api/implementation.go:29-37`) and the e-mail lookups of the other recipes use them.
async fn get_user_by_id_and_email(b: Backend) {
    let Some(s) = TestServer::spawn(b, config()).await else { return };
    let go = Go { s: &s };
    let (id, joined) = sign_up_user(&go, "ivan+test@example.com", "pw-Ivan-1").await;
    let by_id = go.get(EP, "/recipe/user", &[("userId", &id)]).await;
    assert_eq!(assert_user_response(&by_id, "ivan+test@example.com"), (id.clone(), joined));
    let by_email = go.get(EP, "/public/recipe/user", &[("email", "ivan+test@example.com")]).await;
    assert_eq!(assert_user_response(&by_email, "ivan+test@example.com"), (id.clone(), joined));
    let unknown = go.get(EP, "/recipe/user", &[("userId", "00000000-0000-4000-8000-000000000000")]).await;
    assert_eq!(unknown, json!({"status": "UNKNOWN_USER_ID_ERROR"}));
    let unknown = go.get(EP, "/public/recipe/user", &[("email", "nobody@example.com")]).await;
    assert_eq!(unknown, json!({"status": "UNKNOWN_EMAIL_ERROR"}));
    s.stop().await;
}

/// Replays `generatePasswordResetTokenPOST` (`recipe/emailpassword/api/implementation.go:39-109`:
/// `GetUserByEmail`, then `CreateResetPasswordToken`, `recipeImplementation.go:106-122`, whose body
/// is only `{"userId"}` — the reference reads `email` only from CDI 4.0), `passwordResetPOST`
/// (`:111-143`: `ResetPasswordUsingToken`, `recipeImplementation.go:124-159`, the deprecated
/// one-step `POST /public/recipe/user/password/reset`; the SDK never calls `…/token/consume`),
/// sign-in with the new password, and `UpdateEmailOrPassword` (`recipeImplementation.go:161-203`:
/// `PUT /recipe/user` with `userId`, the pre-4.0 name of `recipeUserId`).
async fn password_reset_and_update(b: Backend) {
    let Some(s) = TestServer::spawn(b, config()).await else { return };
    let go = Go { s: &s };
    let (id, _) = sign_up_user(&go, "bob@example.com", "old-pw-1").await;

    let user = go.get(EP, "/public/recipe/user", &[("email", "bob@example.com")]).await;
    assert_eq!(assert_user_response(&user, "bob@example.com").0, id);
    let tok = go.post(EP, "/public/recipe/user/password/reset/token", json!({"userId": id})).await;
    assert_eq!(keys_of(&tok), set(&["status", "token"]), "no email needed before CDI 4.0: {tok}");
    assert_eq!(tok["status"], "OK");
    let token = tok["token"].as_str().unwrap().to_string();
    let unknown = go
        .post(EP, "/public/recipe/user/password/reset/token", json!({"userId": "00000000-0000-4000-8000-000000000000"}))
        .await;
    assert_eq!(unknown, json!({"status": "UNKNOWN_USER_ID_ERROR"}));

    let reset = |token: String, pw: &'static str| {
        let go = &go;
        async move {
            go.post(
                EP,
                "/public/recipe/user/password/reset",
                json!({"method": "token", "token": token, "newPassword": pw}),
            )
            .await
        }
    };
    assert_eq!(reset(token.clone(), "new-pw-2").await, json!({"status": "OK", "userId": id}));
    assert_eq!(reset(token, "new-pw-3").await, json!({"status": "RESET_PASSWORD_INVALID_TOKEN_ERROR"}));
    let signin = |pw: &'static str| {
        let go = &go;
        async move { go.post(EP, "/public/recipe/signin", json!({"email": "bob@example.com", "password": pw})).await }
    };
    assert_eq!(assert_user_response(&signin("new-pw-2").await, "bob@example.com").0, id);
    assert_eq!(signin("old-pw-1").await, json!({"status": "WRONG_CREDENTIALS_ERROR"}));

    // UpdateEmailOrPassword.
    let put = go.put(EP, "/recipe/user", json!({"userId": id, "password": "third-pw-3"})).await;
    assert_eq!(put, json!({"status": "OK"}));
    assert_eq!(signin("third-pw-3").await["status"], "OK");
    sign_up_user(&go, "carol@example.com", "pw-Carol-1").await;
    let clash = go.put(EP, "/recipe/user", json!({"userId": id, "email": "carol@example.com"})).await;
    assert_eq!(clash, json!({"status": "EMAIL_ALREADY_EXISTS_ERROR"}));
    let moved = go.put(EP, "/recipe/user", json!({"userId": id, "email": "bobby@example.com"})).await;
    assert_eq!(moved, json!({"status": "OK"}));
    let user = go.get(EP, "/recipe/user", &[("userId", &id)]).await;
    assert_user_response(&user, "bobby@example.com");
    let unknown = go
        .put(EP, "/recipe/user", json!({"userId": "00000000-0000-4000-8000-000000000000", "password": "x-pw-4"}))
        .await;
    assert_eq!(unknown, json!({"status": "UNKNOWN_USER_ID_ERROR"}));
    s.stop().await;
}

st_tests::both_backends! {
    handshake => handshake;
    sign_up_and_sign_in => sign_up_and_sign_in;
    cookie_session_verify_refresh_and_theft => cookie_session_verify_refresh_and_theft;
    header_session_info_refresh_and_sign_out => header_session_info_refresh_and_sign_out;
    revoke_all_sessions_of_a_user => revoke_all_sessions_of_a_user;
    email_verification => email_verification;
    user_roles => user_roles;
    user_metadata => user_metadata;
    get_user_by_id_and_email => get_user_by_id_and_email;
    password_reset_and_update => password_reset_and_update;
}
