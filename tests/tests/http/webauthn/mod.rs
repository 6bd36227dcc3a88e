//! The WebAuthn recipe over HTTP (§a.17), with the software authenticator of
//! `st_tests::webauthn` (real P-256, Ed25519 and RSA keys, CBOR attestation objects, COSE keys
//! and signatures): options and their defaults, sign-up and sign-in with each algorithm, every
//! check of a response failing on its own (origin, challenge, relying party, signature,
//! counter, expiry, flags, format), single-use sign-in options from CDI 5.5, credentials per
//! user, recovery tokens, the e-mail update, and WebAuthn users wherever users appear.

use crate::helpers::*;
use serde_json::{json, Value};
use st_core::clock::Clock;
use st_tests::webauthn::{Algorithm, Ceremony, Credential};

mod refusals;

const ORIGIN: &str = "https://login.example.com";
const RP: &str = "example.com";

/// A request at CDI `v` that must answer 200 with JSON.
async fn json_at(s: &TestServer, v: &str, method: &str, path: &str, body: Option<Value>) -> Value {
    let (st, text) = s.request(method, path, body, &[("cdi-version", v)]).await;
    assert_eq!(st, 200, "{v} {method} {path}: {text}");
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
}

async fn register_options(s: &TestServer, tenant: &str, email: &str) -> Value {
    let body = json!({"email": email, "relyingPartyName": "Example", "relyingPartyId": RP, "origin": ORIGIN,
        "timeout": 60000});
    let o = s.post(&format!("/{tenant}/recipe/webauthn/options/register"), body).await;
    assert_eq!(o["status"], "OK", "{o}");
    o
}

async fn sign_in_options(s: &TestServer, tenant: &str, extra: Value) -> Value {
    let mut body = json!({"relyingPartyName": "Example", "relyingPartyId": RP, "origin": ORIGIN, "timeout": 60000});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let o = s.post(&format!("/{tenant}/recipe/webauthn/options/signin"), body).await;
    assert_eq!(o["status"], "OK", "{o}");
    o
}

fn options_id(o: &Value) -> String {
    o["webauthnGeneratedOptionsId"].as_str().unwrap_or_else(|| panic!("no options id in {o}")).to_string()
}

async fn sign_up_call(s: &TestServer, tenant: &str, options: &Value, credential: Value) -> Value {
    let body = json!({"webauthnGeneratedOptionsId": options_id(options), "credential": credential});
    s.post(&format!("/{tenant}/recipe/webauthn/signup"), body).await
}

/// Sign up `email` in `tenant` with a new key of `alg`: (response, credential).
async fn sign_up(s: &TestServer, tenant: &str, email: &str, alg: Algorithm) -> (Value, Credential) {
    let options = register_options(s, tenant, email).await;
    let mut credential = Credential::generate(alg);
    let response = Ceremony::for_options(&options, ORIGIN).register(&mut credential, &options);
    let up = sign_up_call(s, tenant, &options, response).await;
    assert_eq!(up["status"], "OK", "{up}");
    (up, credential)
}

async fn sign_in_call(s: &TestServer, v: &str, tenant: &str, options: &Value, credential: Value) -> Value {
    let body = json!({"webauthnGeneratedOptionsId": options_id(options), "credential": credential});
    json_at(s, v, "POST", &format!("/{tenant}/recipe/webauthn/signin"), Some(body)).await
}

/// A sign-in with fresh options and `tweak` applied to the ceremony.
async fn sign_in_with(s: &TestServer, credential: &mut Credential, tweak: impl FnOnce(&mut Ceremony)) -> Value {
    let options = sign_in_options(s, "public", json!({})).await;
    let mut ceremony = Ceremony::for_options(&options, ORIGIN);
    tweak(&mut ceremony);
    let assertion = ceremony.assert(credential);
    sign_in_call(s, "5.4", "public", &options, assertion).await
}

fn reason_has(r: &Value, status: &str, part: &str) {
    assert_eq!(r["status"], status, "{r}");
    let reason = r["reason"].as_str().unwrap_or_else(|| panic!("no reason in {r}"));
    assert!(reason.contains(part), "{reason:?} lacks {part:?}");
}

/// The generated options: the reference's defaults and fields, kept until removed (expired
/// ones too), and the reference's validation (`INVALID_OPTIONS_ERROR`, or a 400 for input of
/// the wrong type).
async fn options_and_their_validation(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    let body = json!({"email": " Alice@Example.COM ", "relyingPartyName": "Example", "relyingPartyId": RP,
        "origin": ORIGIN});
    let o = s.post("/public/recipe/webauthn/options/register", body).await;
    let id = options_id(&o);
    assert!(is_uuid(&id), "{o}");
    let challenge = o["challenge"].as_str().unwrap();
    assert_eq!(base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, challenge).unwrap().len(), 32);
    let user_handle = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, id.as_bytes());
    let expected = json!({
        "webauthnGeneratedOptionsId": id,
        "rp": {"id": RP, "name": "Example"},
        "user": {"id": user_handle, "name": "alice@example.com", "displayName": "alice@example.com"},
        "email": "alice@example.com",
        "timeout": 6000,
        "challenge": challenge,
        "attestation": "none",
        "createdAt": START_MS,
        "expiresAt": START_MS + 6000,
        "pubKeyCredParams": [{"alg": -8, "type": "public-key"}, {"alg": -7, "type": "public-key"},
            {"alg": -257, "type": "public-key"}],
        "excludeCredentials": [],
        "authenticatorSelection": {"requireResidentKey": true, "residentKey": "required",
            "userVerification": "preferred"},
        "status": "OK",
    });
    assert_eq!(o.to_string(), expected.to_string());

    // Read back (after expiry too), then removed.
    s.clock.advance_ms(10_000);
    let got = s.get(&format!("/public/recipe/webauthn/options?webauthnGeneratedOptionsId={id}")).await;
    let read = json!({"status": "OK", "webauthnGeneratedOptionsId": id, "relyingPartyId": RP,
        "relyingPartyName": "Example", "challenge": challenge, "timeout": 6000, "origin": ORIGIN,
        "email": "alice@example.com", "createdAt": START_MS, "expiresAt": START_MS + 6000,
        "userVerification": "preferred", "userPresence": false});
    assert_eq!(got.to_string(), read.to_string());
    let remove = format!("/public/recipe/webauthn/options/remove?webauthnGeneratedOptionsId={id}");
    assert_eq!(s.cdi("DELETE", &remove, None).await, json!({"status": "OK"}));
    assert_eq!(s.cdi("DELETE", &remove, None).await, json!({"status": "OPTIONS_NOT_FOUND_ERROR"}));
    let gone = s.get(&format!("/public/recipe/webauthn/options?webauthnGeneratedOptionsId={id}")).await;
    assert_eq!(gone, json!({"status": "OPTIONS_NOT_FOUND_ERROR"}));

    // Given values are kept; a user of the e-mail is the user handle.
    let custom = json!({"email": "bob@example.com", "displayName": "Bob", "relyingPartyName": "Example",
        "relyingPartyId": RP, "origin": ORIGIN, "timeout": 1000, "attestation": "direct", "residentKey": "preferred",
        "userVerification": "required", "userPresence": true, "supportedAlgorithmIDs": [-7, "-257"]});
    let o = s.post("/public/recipe/webauthn/options/register", custom).await;
    assert_eq!(o["user"], json!({"id": o["user"]["id"], "name": "bob@example.com", "displayName": "Bob"}));
    assert_eq!(o["pubKeyCredParams"], json!([{"alg": -7, "type": "public-key"}, {"alg": -257, "type": "public-key"}]));
    assert_eq!(
        o["authenticatorSelection"],
        json!({"requireResidentKey": false, "residentKey": "preferred", "userVerification": "required"})
    );
    assert_eq!((o["attestation"].as_str(), o["timeout"].as_i64()), (Some("direct"), Some(1000)));
    let got = s.get(&format!("/public/recipe/webauthn/options?webauthnGeneratedOptionsId={}", options_id(&o))).await;
    assert_eq!((got["userPresence"].as_bool(), got["userVerification"].as_str()), (Some(true), Some("required")));

    // Sign-in options.
    let o = s
        .post(
            "/public/recipe/webauthn/options/signin",
            json!({"relyingPartyName": "Example",
        "relyingPartyId": RP, "origin": ORIGIN}),
        )
        .await;
    let expected = json!({"webauthnGeneratedOptionsId": o["webauthnGeneratedOptionsId"], "relyingPartyId": RP,
        "challenge": o["challenge"], "timeout": 6000, "userVerification": "preferred", "userPresence": false,
        "createdAt": s.clock.now_ms(), "expiresAt": s.clock.now_ms() + 6000, "status": "OK"});
    assert_eq!(o.to_string(), expected.to_string());
    let got = s.get(&format!("/public/recipe/webauthn/options?webauthnGeneratedOptionsId={}", options_id(&o))).await;
    // `"email": null`, not left out: the reference's JsonNull, written by its JsonElement.toString();
    // supertokens-python's sign-in (get_generated_options) fails on an answer without the key
    assert_eq!(got.get("email"), Some(&Value::Null), "{got}");

    // INVALID_OPTIONS_ERROR, with the reference's reasons.
    let base = json!({"email": "a@b.c", "relyingPartyName": "Example", "relyingPartyId": RP, "origin": ORIGIN});
    let with = |k: &str, v: Value| {
        let mut b = base.clone();
        b[k] = v;
        b
    };
    let hash = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, [9u8; 32]);
    for (body, reason) in [
        (with("origin", json!("https://evil.com")), "Origin does not match RelyingParty Id"),
        (with("origin", json!("not a url")), "Origin has to be a valid url!"),
        (with("origin", json!("android:apk-key-hash:abc")), "Android origin hash must be 43 characters"),
        (with("timeout", json!(-1)), "Timeout must be a positive value"),
        (with("attestation", json!("always")), "Invalid value 'always' for attestation"),
        (with("userVerification", json!("maybe")), "Invalid value 'maybe' for userVerification"),
        (with("residentKey", json!("sometimes")), "Invalid value 'sometimes' for residentKey"),
        (with("supportedAlgorithmIDs", json!(["x"])), "For input string: \"x\""),
    ] {
        let r = s.post("/public/recipe/webauthn/options/register", body).await;
        reason_has(&r, "INVALID_OPTIONS_ERROR", reason);
    }
    let android = s
        .post("/public/recipe/webauthn/options/register", with("origin", json!(format!("android:apk-key-hash:{hash}"))))
        .await;
    assert_eq!(android["status"], "OK", "{android}");
    let r = s
        .post(
            "/public/recipe/webauthn/options/signin",
            json!({"relyingPartyName": "E", "relyingPartyId": RP,
        "origin": "https://evil.com"}),
        )
        .await;
    reason_has(&r, "INVALID_OPTIONS_ERROR", "Origin does not match RelyingParty Id");

    // Input of the wrong type, or too long for its column: 400, never 500.
    for (body, text) in [
        (
            json!({"relyingPartyName": "E", "relyingPartyId": RP, "origin": ORIGIN}),
            "Field name 'email' is invalid in JSON input",
        ),
        (with("supportedAlgorithmIDs", Value::Null), "Field name 'supportedAlgorithmIDs' is invalid in JSON input"),
        (with("timeout", json!("soon")), "Field name 'timeout' is invalid in JSON input"),
        (with("relyingPartyId", json!("x".repeat(257))), "relyingPartyId must be at most 256 characters long"),
    ] {
        assert_eq!(
            s.status_and_text("POST", "/public/recipe/webauthn/options/register", Some(body)).await,
            (400, text.to_string())
        );
    }
    let (st, _) = s.status_and_text("GET", "/public/recipe/webauthn/options", None).await;
    assert_eq!(st, 400);
    // An unknown tenant.
    let (st, text) = s.status_and_text("POST", "/nope/recipe/webauthn/options/register", Some(base.clone())).await;
    assert_eq!(st, 400, "{text}");
}

/// Sign-up and sign-in with each algorithm: the user object with the `webauthn` login method
/// and its credential ids (from CDI 5.3), the signature counter stored, and the user as every
/// user API shows it.
async fn sign_up_and_sign_in_with_each_algorithm(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    for (i, alg) in [Algorithm::Es256, Algorithm::EdDsa, Algorithm::Rs256].into_iter().enumerate() {
        let email = format!("user{i}@example.com");
        let (up, mut credential) = sign_up(&s, "public", &email, alg).await;
        let id = up["recipeUserId"].as_str().unwrap().to_string();
        assert!(is_uuid(&id), "{up}");
        let joined = s.clock.now_ms();
        let cred_id = credential.id_b64();
        let method = json!({"tenantIds": ["public"], "recipeUserId": id, "verified": false, "timeJoined": joined,
            "recipeId": "webauthn", "email": email, "webauthn": {"credentialIds": [cred_id]}});
        let user = json!({"id": id, "isPrimaryUser": false, "tenantIds": ["public"], "timeJoined": joined,
            "emails": [email], "phoneNumbers": [], "thirdParty": [], "webauthn": {"credentialIds": [cred_id]},
            "loginMethods": [method]});
        let expected = json!({"status": "OK", "user": user, "webauthnCredentialId": cred_id, "relyingPartyId": RP,
            "relyingPartyName": "Example", "recipeUserId": id});
        assert_eq!(up.to_string(), expected.to_string(), "{alg:?}");

        // Sign in twice: the counter moves on each time.
        s.clock.advance_ms(5);
        for _ in 0..2 {
            let r = sign_in_with(&s, &mut credential, |_| {}).await;
            assert_eq!(r, json!({"status": "OK", "user": user, "recipeUserId": id}), "{alg:?}");
        }
        let c = s
            .get(&format!("/public/recipe/webauthn/user/credential?webauthnCredentialId={cred_id}&recipeUserId={id}"))
            .await;
        let expected = json!({"webauthnCredentialId": cred_id, "recipeUserId": id, "relyingPartyId": RP,
            "createdAt": joined, "updatedAt": s.clock.now_ms(), "status": "OK"});
        assert_eq!(c.to_string(), expected.to_string());

        // The user wherever users appear: by id (5.3 shape; before 5.3 the WebAuthn login
        // method is listed without its credentials and out of the unions).
        assert_eq!(s.get(&format!("/user/id?userId={id}")).await["user"], user);
        let old = json_at(&s, "5.2", "GET", &format!("/user/id?userId={id}"), None).await;
        let mut method_52 = method.clone();
        method_52.as_object_mut().unwrap().remove("webauthn");
        assert_eq!(
            old["user"],
            json!({"id": id, "isPrimaryUser": false, "tenantIds": ["public"], "timeJoined": joined, "emails": [],
                "phoneNumbers": [], "thirdParty": [], "loginMethods": [method_52]})
        );
        // The sign-in answers the 4.0+ shape at any version.
        let options = sign_in_options(&s, "public", json!({})).await;
        let assertion = Ceremony::for_options(&options, ORIGIN).assert(&mut credential);
        let r = sign_in_call(&s, "3.0", "public", &options, assertion).await;
        assert_eq!(r["user"]["loginMethods"][0]["recipeId"], "webauthn", "{r}");
        assert!(r["user"].get("webauthn").is_none(), "{r}");
    }
    // Listed, counted, searched, found by account info.
    let users = s.get("/public/users").await;
    assert_eq!(users["users"].as_array().unwrap().len(), 3, "{users}");
    assert_eq!(s.get("/public/users/count?includeRecipeIds=webauthn").await["count"], 3);
    assert_eq!(s.get("/public/users/count?includeRecipeIds=emailpassword").await["count"], 0);
    let found = s.get("/public/users?email=user1").await;
    assert_eq!(found["users"].as_array().unwrap().len(), 1, "{found}");
    assert_eq!(found["users"][0]["emails"], json!(["user1@example.com"]));
    let by_email = s.get("/public/users/by-accountinfo?email=user2@example.com&doUnionOfAccountInfo=false").await;
    assert_eq!(by_email["users"].as_array().unwrap().len(), 1, "{by_email}");
}

/// From CDI 5.5 sign-in options are single-use: a replayed assertion (even of an authenticator
/// that does not count) finds no options; before, the options serve until they expire. A
/// refused sign-in does not use them up.
async fn sign_in_options_single_use_from_5_5(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    let (_, mut credential) = sign_up(&s, "public", "frank@example.com", Algorithm::Es256).await;
    credential.counter_step = 0;
    let options = sign_in_options(&s, "public", json!({})).await;
    let assertion = Ceremony::for_options(&options, ORIGIN).assert(&mut credential);
    for _ in 0..2 {
        assert_eq!(sign_in_call(&s, "5.4", "public", &options, assertion.clone()).await["status"], "OK");
    }
    let options = sign_in_options(&s, "public", json!({})).await;
    let mut bad = Ceremony::for_options(&options, ORIGIN);
    bad.bad_signature = true;
    let refused = sign_in_call(&s, "5.5", "public", &options, bad.assert(&mut credential)).await;
    assert_eq!(refused["status"], "INVALID_AUTHENTICATOR_ERROR", "{refused}");
    let assertion = Ceremony::for_options(&options, ORIGIN).assert(&mut credential);
    assert_eq!(sign_in_call(&s, "5.5", "public", &options, assertion.clone()).await["status"], "OK");
    let replay = sign_in_call(&s, "5.5", "public", &options, assertion.clone()).await;
    assert_eq!(replay, json!({"status": "OPTIONS_NOT_FOUND_ERROR"}));
    let got =
        s.get(&format!("/public/recipe/webauthn/options?webauthnGeneratedOptionsId={}", options_id(&options))).await;
    assert_eq!(got["status"], "OPTIONS_NOT_FOUND_ERROR");
    // Concurrent uses of one options id: exactly one signs in.
    let options = sign_in_options(&s, "public", json!({})).await;
    let assertion = Ceremony::for_options(&options, ORIGIN).assert(&mut credential);
    let (a, b2) = tokio::join!(
        sign_in_call(&s, "5.6", "public", &options, assertion.clone()),
        sign_in_call(&s, "5.6", "public", &options, assertion.clone())
    );
    let statuses = [a["status"].as_str().unwrap(), b2["status"].as_str().unwrap()];
    assert_eq!(statuses.iter().filter(|s| **s == "OK").count(), 1, "{a} {b2}");
    assert!(statuses.contains(&"OPTIONS_NOT_FOUND_ERROR"), "{a} {b2}");
}

/// More credentials per user (registered with options of the user's e-mail, whose user handle
/// is the user's id), listed, read and removed; refused for another recipe's user or twice.
async fn credentials_per_user(b: Backend) {
    let Some(s) = TestServer::spawn(b, cheap_hashing()).await else { return };
    let (up, mut first) = sign_up(&s, "public", "grace@example.com", Algorithm::Es256).await;
    let id = up["recipeUserId"].as_str().unwrap().to_string();
    s.clock.advance_ms(100);
    let options = register_options(&s, "public", "grace@example.com").await;
    let handle = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, id.as_bytes());
    assert_eq!(options["user"]["id"], handle);
    let mut second = Credential::generate(Algorithm::Rs256);
    let response = Ceremony::for_options(&options, ORIGIN).register(&mut second, &options);
    let body = json!({"recipeUserId": id, "webauthnGeneratedOptionsId": options_id(&options), "credential": response});
    let r = s.post("/public/recipe/webauthn/user/credential/register", body.clone()).await;
    let expected = json!({"status": "OK", "webauthnCredentialId": second.id_b64(), "recipeUserId": id,
        "email": "grace@example.com", "relyingPartyId": RP, "relyingPartyName": "Example"});
    assert_eq!(r.to_string(), expected.to_string());
    assert_eq!(
        s.post("/public/recipe/webauthn/user/credential/register", body).await,
        json!({"status": "CREDENTIAL_ALREADY_EXISTS_ERROR"})
    );
    let list = s.get(&format!("/public/recipe/webauthn/user/credential/list?recipeUserId={id}")).await;
    let expected = json!({"credentials": [
        {"webauthnCredentialId": first.id_b64(), "recipeUserId": id, "relyingPartyId": RP, "createdAt": START_MS},
        {"webauthnCredentialId": second.id_b64(), "recipeUserId": id, "relyingPartyId": RP, "createdAt": START_MS + 100},
    ], "status": "OK"});
    assert_eq!(list.to_string(), expected.to_string());
    let user = s.get(&format!("/user/id?userId={id}")).await["user"].clone();
    let mut ids = vec![first.id_b64(), second.id_b64()];
    ids.sort();
    assert_eq!(user["webauthn"]["credentialIds"], json!(ids), "{user}");
    assert_eq!(user["loginMethods"][0]["webauthn"]["credentialIds"], json!(ids), "{user}");
    // Both sign in, and find the user by account info.
    assert_eq!(sign_in_with(&s, &mut second, |_| {}).await["recipeUserId"], json!(id));
    let q = format!("/public/users/by-accountinfo?webauthnCredentialId={}&doUnionOfAccountInfo=false", second.id_b64());
    assert_eq!(s.get(&q).await["users"][0]["id"], json!(id));
    let q = format!(
        "/public/users/by-accountinfo?webauthnCredentialId={}&email=other@x.com&doUnionOfAccountInfo=false",
        second.id_b64()
    );
    assert_eq!(s.get(&q).await["users"], json!([]));
    let q = format!(
        "/public/users/by-accountinfo?webauthnCredentialId={}&email=other@x.com&doUnionOfAccountInfo=true",
        second.id_b64()
    );
    assert_eq!(s.get(&q).await["users"].as_array().unwrap().len(), 1);
    let q = "/public/users/by-accountinfo?webauthnCredentialId=bm9wZQ&doUnionOfAccountInfo=true";
    assert_eq!(s.get(q).await["users"], json!([]));
    // Removed: gone from the list, the user object and sign-in.
    let remove = format!(
        "/public/recipe/webauthn/user/credential/remove?recipeUserId={id}&webauthnCredentialId={}",
        first.id_b64()
    );
    assert_eq!(s.cdi("DELETE", &remove, None).await, json!({"status": "OK"}));
    assert_eq!(s.cdi("DELETE", &remove, None).await, json!({"status": "CREDENTIAL_NOT_FOUND_ERROR"}));
    let get =
        format!("/public/recipe/webauthn/user/credential?webauthnCredentialId={}&recipeUserId={id}", first.id_b64());
    assert_eq!(s.get(&get).await, json!({"status": "CREDENTIAL_NOT_FOUND_ERROR"}));
    assert_eq!(sign_in_with(&s, &mut first, |_| {}).await, json!({"status": "CREDENTIAL_NOT_FOUND_ERROR"}));
    assert_eq!(
        s.get(&format!("/user/id?userId={id}")).await["user"]["webauthn"]["credentialIds"],
        json!([second.id_b64()])
    );

    // Not a WebAuthn user: UNKNOWN_USER_ID_ERROR.
    let ep = sign_up_ep(&s, "heidi@example.com").await;
    let options = register_options(&s, "public", "heidi@example.com").await;
    assert_eq!(
        options["user"]["id"],
        base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, ep.as_bytes())
    );
    let mut third = Credential::generate(Algorithm::Es256);
    let response = Ceremony::for_options(&options, ORIGIN).register(&mut third, &options);
    let body = json!({"recipeUserId": ep, "webauthnGeneratedOptionsId": options_id(&options), "credential": response});
    assert_eq!(
        s.post("/public/recipe/webauthn/user/credential/register", body).await,
        json!({"status": "UNKNOWN_USER_ID_ERROR"})
    );

    // The user removed: its credentials go with it.
    s.post("/user/remove", json!({"userId": id})).await;
    assert_eq!(sign_in_with(&s, &mut second, |_| {}).await, json!({"status": "CREDENTIAL_NOT_FOUND_ERROR"}));
    let list = s.get(&format!("/public/recipe/webauthn/user/credential/list?recipeUserId={id}")).await;
    assert_eq!(list, json!({"credentials": [], "status": "OK"}));
}

async fn sign_up_ep(s: &TestServer, email: &str) -> String {
    let r = s.post("/public/recipe/signup", json!({"email": email, "password": "password123"})).await;
    r["user"]["id"].as_str().unwrap().to_string()
}

/// Account-recovery tokens (for any user, valid an hour by default, every token of the e-mail
/// used up by one), the e-mail update, and the cleanup job.
async fn recovery_and_email_update(b: Backend) {
    let Some(s) = TestServer::spawn(b, cheap_hashing()).await else { return };
    let (up, _) = sign_up(&s, "public", "ivan@example.com", Algorithm::Es256).await;
    let id = up["recipeUserId"].as_str().unwrap().to_string();
    let token_for = |user: String| {
        let s = &s;
        async move {
            s.post("/public/recipe/webauthn/user/recover/token", json!({"userId": user, "email": " Ivan@Example.com"}))
                .await
        }
    };
    assert_eq!(token_for("unknown".into()).await, json!({"status": "UNKNOWN_USER_ID_ERROR"}));
    let t1 = token_for(id.clone()).await["token"].as_str().unwrap().to_string();
    let t2 = token_for(id.clone()).await["token"].as_str().unwrap().to_string();
    assert_eq!(t1.len(), 43, "{t1}");
    let user = s.get(&format!("/user/id?userId={id}")).await["user"].clone();
    let got = s.get(&format!("/public/recipe/webauthn/user/recover?token={t1}")).await;
    assert_eq!(got.to_string(), json!({"status": "OK", "recipeUserId": id, "user": user}).to_string());
    let consume = |t: String| {
        let s = &s;
        async move { s.post("/public/recipe/webauthn/user/recover/token/consume", json!({"token": t})).await }
    };
    assert_eq!(consume(t1.clone()).await, json!({"status": "OK", "userId": id, "email": "ivan@example.com"}));
    let invalid = json!({"status": "RECOVER_ACCOUNT_TOKEN_INVALID_ERROR"});
    assert_eq!(consume(t1.clone()).await, invalid);
    assert_eq!(consume(t2).await, invalid, "one use takes every token of the e-mail");
    assert_eq!(s.get(&format!("/public/recipe/webauthn/user/recover?token={t1}")).await, invalid);
    // Another tenant does not know the token.
    let t3 = token_for(id.clone()).await["token"].as_str().unwrap().to_string();
    s.put("/recipe/multitenancy/tenant/v2", json!({"tenantId": "t1"})).await;
    assert_eq!(s.post("/t1/recipe/webauthn/user/recover/token/consume", json!({"token": t3})).await, invalid);
    // Expired after an hour (and removed by the job).
    s.clock.advance_ms(3_600_001);
    assert_eq!(s.get(&format!("/public/recipe/webauthn/user/recover?token={t3}")).await, invalid);
    assert_eq!(consume(t3.clone()).await, invalid);
    assert!(s.core.delete_expired_webauthn_data(s.clock.now_ms()).await.unwrap() >= 1);

    // The e-mail update (unique per tenant among WebAuthn users; any other recipe's user is
    // unknown here).
    let (other, _) = sign_up(&s, "public", "judy@example.com", Algorithm::Es256).await;
    let update = |user: &str, email: &str| {
        let body = json!({"recipeUserId": user, "email": email});
        let s = &s;
        async move { s.put("/public/recipe/webauthn/user/email", body).await }
    };
    assert_eq!(update(&id, "judy@example.com").await, json!({"status": "EMAIL_ALREADY_EXISTS_ERROR"}));
    assert_eq!(update(&id, "ivan2@example.com").await, json!({"status": "OK"}));
    assert_eq!(s.get(&format!("/user/id?userId={id}")).await["user"]["emails"], json!(["ivan2@example.com"]));
    assert_eq!(update("nobody", "x@example.com").await, json!({"status": "UNKNOWN_USER_ID_ERROR"}));
    let ep = sign_up_ep(&s, "kim@example.com").await;
    assert_eq!(update(&ep, "x@example.com").await, json!({"status": "UNKNOWN_USER_ID_ERROR"}));
    // The old e-mail is free again.
    let options = register_options(&s, "public", "ivan@example.com").await;
    let mut c = Credential::generate(Algorithm::Es256);
    let response = Ceremony::for_options(&options, ORIGIN).register(&mut c, &options);
    assert_eq!(sign_up_call(&s, "public", &options, response).await["status"], "OK");
    assert_eq!(other["status"], "OK");

    // The cleanup job removes expired options (which GET still shows before).
    let o = sign_in_options(&s, "public", json!({"timeout": 10})).await;
    s.clock.advance_ms(11);
    let path = format!("/public/recipe/webauthn/options?webauthnGeneratedOptionsId={}", options_id(&o));
    assert_eq!(s.get(&path).await["status"], "OK");
    assert!(s.core.delete_expired_webauthn_data(s.clock.now_ms()).await.unwrap() >= 1);
    assert_eq!(s.get(&path).await["status"], "OPTIONS_NOT_FOUND_ERROR");
}

/// Tenants: options belong to the tenant that made them (read, removed, used for a new
/// credential there), but sign-up and sign-in find them in any tenant of the app, as the
/// reference; a sign-up signs up in the request's tenant.
async fn tenants(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    s.put("/recipe/multitenancy/tenant/v2", json!({"tenantId": "t1"})).await;
    let options = register_options(&s, "t1", "lee@example.com").await;
    let path = format!("/recipe/webauthn/options?webauthnGeneratedOptionsId={}", options_id(&options));
    assert_eq!(s.get(&format!("/public{path}")).await["status"], "OPTIONS_NOT_FOUND_ERROR");
    assert_eq!(s.get(&format!("/t1{path}")).await["status"], "OK");
    let mut credential = Credential::generate(Algorithm::EdDsa);
    let response = Ceremony::for_options(&options, ORIGIN).register(&mut credential, &options);
    let up = sign_up_call(&s, "t1", &options, response).await;
    assert_eq!(up["user"]["tenantIds"], json!(["t1"]), "{up}");
    // The e-mail is per tenant: the same one signs up in public too.
    let (public_up, _) = sign_up(&s, "public", "lee@example.com", Algorithm::Es256).await;
    assert_ne!(public_up["recipeUserId"], up["recipeUserId"]);
    let options = sign_in_options(&s, "t1", json!({})).await;
    let assertion = Ceremony::for_options(&options, ORIGIN).assert(&mut credential);
    let r = sign_in_call(&s, "5.4", "t1", &options, assertion).await;
    assert_eq!(r["recipeUserId"], up["recipeUserId"], "{r}");
    assert_eq!(s.get("/t1/users/count").await["count"], 1);
}

st_tests::both_backends! {
    options_and_their_validation => options_and_their_validation;
    sign_up_and_sign_in_with_each_algorithm => sign_up_and_sign_in_with_each_algorithm;
    refused_assertions => refusals::refused_assertions;
    refused_registrations => refusals::refused_registrations;
    sign_in_options_single_use_from_5_5 => sign_in_options_single_use_from_5_5;
    credentials_per_user => credentials_per_user;
    recovery_and_email_update => recovery_and_email_update;
    tenants => tenants;
}

/// A user, credential and sign-in options a Java core wrote (its rows as its plugin writes them
/// in LEGACY mode, the credential's `public_key` the attested credential data) sign in here, and
/// the counter moves in its row; the rows this server writes are the reference's.
#[tokio::test]
async fn java_written_rows_on_postgres() {
    let Some(s) = TestServer::spawn(Backend::Postgres, json!({})).await else { return };
    let user = "0a0a0a0a-0000-4000-8000-000000000001";
    let mut credential = Credential::generate(Algorithm::Es256);
    for statement in [
        "INSERT INTO app_id_to_user_id (app_id, user_id, recipe_id, primary_or_recipe_user_id, \
         is_linked_or_is_a_primary_user) VALUES ('public', $1, 'webauthn', $1, FALSE)",
        "INSERT INTO all_auth_recipe_users (app_id, tenant_id, user_id, primary_or_recipe_user_id, \
         is_linked_or_is_a_primary_user, recipe_id, time_joined, primary_or_recipe_user_time_joined) \
         VALUES ('public', 'public', $1, $1, FALSE, 'webauthn', 5, 5)",
        "INSERT INTO webauthn_users (app_id, user_id, email, rp_id, time_joined) \
         VALUES ('public', $1, 'java@example.com', 'example.com', 5)",
        "INSERT INTO webauthn_user_to_tenant (app_id, tenant_id, user_id, email) \
         VALUES ('public', 'public', $1, 'java@example.com')",
    ] {
        sql(&s, statement, &[&user]).await;
    }
    sql(
        &s,
        "INSERT INTO webauthn_credentials (id, app_id, rp_id, user_id, counter, public_key, transports, created_at, \
         updated_at) VALUES ($1, 'public', 'example.com', $2, 0, $3, '[\"usb\"]', 5, 5)",
        &[&credential.id_b64(), &user, &credential.attested_credential_data()],
    )
    .await;
    let java_options = "0b0b0b0b-0000-4000-8000-000000000001";
    let challenge = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA";
    sql(
        &s,
        "INSERT INTO webauthn_generated_options (app_id, tenant_id, id, challenge, email, rp_id, origin, expires_at, \
         created_at, rp_name, user_verification, user_presence_required) \
         VALUES ('public', 'public', $1, $2, NULL, 'example.com', $3, $4, $5, 'Example', 'preferred', FALSE)",
        &[&java_options, &challenge, &ORIGIN, &(START_MS + 60_000), &START_MS],
    )
    .await;
    let options = s.get(&format!("/public/recipe/webauthn/options?webauthnGeneratedOptionsId={java_options}")).await;
    assert_eq!(
        (options["webauthnGeneratedOptionsId"].as_str(), options["timeout"].as_i64()),
        (Some(java_options), Some(60_000))
    );
    let assertion = Ceremony::for_options(&options, ORIGIN).assert(&mut credential);
    let r = sign_in_call(&s, "5.5", "public", &options, assertion).await;
    assert_eq!((r["status"].as_str(), r["recipeUserId"].as_str()), (Some("OK"), Some(user)), "{r}");
    assert_eq!(r["user"]["webauthn"]["credentialIds"], json!([credential.id_b64()]));
    let row = &sql(&s, "SELECT counter, updated_at FROM webauthn_credentials WHERE user_id = $1", &[&user]).await[0];
    assert_eq!((row.get::<_, i64>(0), row.get::<_, i64>(1)), (1, START_MS));

    // Our rows.
    let (up, mine) = sign_up(&s, "public", "rust@example.com", Algorithm::EdDsa).await;
    let id = up["recipeUserId"].as_str().unwrap().to_string();
    let row = &sql(
        &s,
        "SELECT a.recipe_id, a.time_joined, r.time_joined, r.recipe_id, u.email, u.rp_id, u.time_joined, t.email, \
           c.id, c.rp_id, c.counter, c.public_key, c.transports, c.created_at, c.updated_at \
         FROM app_id_to_user_id a JOIN all_auth_recipe_users r USING (app_id, user_id) \
         JOIN webauthn_users u USING (app_id, user_id) JOIN webauthn_user_to_tenant t USING (app_id, user_id) \
         JOIN webauthn_credentials c USING (app_id, user_id) WHERE a.user_id = $1",
        &[&id],
    )
    .await[0];
    assert_eq!(
        (row.get::<_, String>(0), row.get::<_, i64>(1), row.get::<_, i64>(2), row.get::<_, String>(3)),
        ("webauthn".into(), 0, START_MS, "webauthn".into())
    );
    assert_eq!(
        (row.get::<_, String>(4), row.get::<_, String>(5), row.get::<_, i64>(6), row.get::<_, String>(7)),
        ("rust@example.com".into(), RP.into(), START_MS, "rust@example.com".into())
    );
    assert_eq!(
        (row.get::<_, String>(8), row.get::<_, String>(9), row.get::<_, i64>(10)),
        (mine.id_b64(), RP.into(), 0)
    );
    assert_eq!(row.get::<_, Vec<u8>>(11), mine.attested_credential_data());
    assert_eq!(
        (row.get::<_, String>(12), row.get::<_, i64>(13), row.get::<_, i64>(14)),
        ("[\"internal\",\"hybrid\"]".into(), START_MS, START_MS)
    );
    // Options: the challenge as sent, the timeout as the difference of the two times.
    let o = register_options(&s, "public", "x@example.com").await;
    let row = &sql(
        &s,
        "SELECT tenant_id, challenge, email, rp_id, rp_name, origin, expires_at - created_at, user_verification, \
           user_presence_required FROM webauthn_generated_options WHERE id = $1",
        &[&options_id(&o)],
    )
    .await[0];
    assert_eq!(
        (row.get::<_, String>(0), row.get::<_, String>(1), row.get::<_, Option<String>>(2), row.get::<_, String>(3)),
        ("public".into(), o["challenge"].as_str().unwrap().to_string(), Some("x@example.com".into()), RP.into())
    );
    assert_eq!(
        (
            row.get::<_, String>(4),
            row.get::<_, String>(5),
            row.get::<_, i64>(6),
            row.get::<_, String>(7),
            row.get::<_, bool>(8)
        ),
        ("Example".into(), ORIGIN.into(), 60_000, "preferred".into(), false)
    );
    // A recovery token: its SHA-256 in hex.
    let token = s
        .post("/public/recipe/webauthn/user/recover/token", json!({"userId": user, "email": "java@example.com"}))
        .await;
    let token = token["token"].as_str().unwrap().to_string();
    let row = &sql(
        &s,
        "SELECT token = encode(sha256($1::TEXT::BYTEA), 'hex'), user_id::TEXT, expires_at \
         FROM webauthn_account_recovery_tokens",
        &[&token],
    )
    .await[0];
    assert_eq!(
        (row.get::<_, bool>(0), row.get::<_, String>(1), row.get::<_, i64>(2)),
        (true, user.to_string(), START_MS + 3_600_000)
    );
    s.stop().await;
}
