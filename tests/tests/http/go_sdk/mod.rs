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

mod flows;

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

st_tests::both_backends! {
    handshake => flows::handshake;
    sign_up_and_sign_in => flows::sign_up_and_sign_in;
    cookie_session_verify_refresh_and_theft => flows::cookie_session_verify_refresh_and_theft;
    header_session_info_refresh_and_sign_out => flows::header_session_info_refresh_and_sign_out;
    revoke_all_sessions_of_a_user => flows::revoke_all_sessions_of_a_user;
    email_verification => flows::email_verification;
    user_roles => flows::user_roles;
    user_metadata => flows::user_metadata;
    get_user_by_id_and_email => flows::get_user_by_id_and_email;
    password_reset_and_update => flows::password_reset_and_update;
}
