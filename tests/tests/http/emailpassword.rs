//! The e-mail-password recipe over HTTP (§a.5): sign-up and sign-in, the user object they return,
//! password reset (tokens, the deprecated one-step reset), `PUT /recipe/user`, password-hash
//! import, and the deprecated `GET /recipe/user`.

use crate::helpers::*;
use serde_json::{json, Value};

async fn signup_signin_and_user_object(b: Backend) {
    let Some(s) = TestServer::spawn(b, cheap_hashing()).await else { return };
    let r = sign_up(&s, "  Alice@Example.COM ", "pw-1").await;
    assert_eq!(r["status"], "OK");
    let user = &r["user"];
    let id = user["id"].as_str().unwrap().to_string();
    assert_eq!(r["recipeUserId"], id.as_str());
    assert_eq!(user["emails"], json!(["alice@example.com"]));
    assert_eq!(user["tenantIds"], json!(["public"]));
    assert_eq!(user["isPrimaryUser"], false);
    assert_eq!(user["phoneNumbers"], json!([]));
    let lm = &user["loginMethods"][0];
    assert_eq!(lm["recipeId"], "emailpassword");
    assert_eq!(lm["verified"], false);
    assert_eq!(lm["email"], "alice@example.com");
    assert_eq!(lm["timeJoined"], user["timeJoined"]);
    // Same email again (any case) is taken.
    assert_eq!(sign_up(&s, "alice@example.com", "x").await["status"], "EMAIL_ALREADY_EXISTS_ERROR");
    // Empty password is a 400.
    let (st, body) = s
        .request(
            "POST",
            "/public/recipe/signup",
            Some(json!({"email":"b@x.com","password":""})),
            &[("cdi-version", "5.4")],
        )
        .await;
    assert_eq!((st, body.as_str()), (400, "Password cannot be an empty string\n"));
    // Sign-in.
    let ok = s.post("/public/recipe/signin", json!({"email": "ALICE@example.com", "password": "pw-1"})).await;
    assert_eq!(ok["status"], "OK");
    assert_eq!(ok["user"]["id"], id.as_str());
    let bad = s.post("/public/recipe/signin", json!({"email": "alice@example.com", "password": "nope"})).await;
    assert_eq!(bad["status"], "WRONG_CREDENTIALS_ERROR");
    let unknown = s.post("/public/recipe/signin", json!({"email": "nobody@example.com", "password": "pw-1"})).await;
    assert_eq!(unknown["status"], "WRONG_CREDENTIALS_ERROR");
    // Tenant isolation: another tenant does not see the user and may reuse the email.
    s.put("/recipe/multitenancy/tenant/v2", json!({"tenantId": "t1"})).await;
    let other = s.post("/t1/recipe/signin", json!({"email": "alice@example.com", "password": "pw-1"})).await;
    assert_eq!(other["status"], "WRONG_CREDENTIALS_ERROR");
    assert_eq!(
        s.post("/t1/recipe/signup", json!({"email": "alice@example.com", "password": "p"})).await["status"],
        "OK"
    );
    s.stop().await;
}

async fn password_reset_and_update(b: Backend) {
    let Some(s) = TestServer::spawn(b, cheap_hashing()).await else { return };
    let id = sign_up(&s, "bob@example.com", "old").await["user"]["id"].as_str().unwrap().to_string();
    let t1 =
        s.post("/public/recipe/user/password/reset/token", json!({"userId": id, "email": "bob@example.com"})).await;
    let t2 =
        s.post("/public/recipe/user/password/reset/token", json!({"userId": id, "email": "bob@example.com"})).await;
    let (t1, t2) = (t1["token"].as_str().unwrap().to_string(), t2["token"].as_str().unwrap().to_string());
    assert_ne!(t1, t2);
    let unknown = s.post("/public/recipe/user/password/reset/token", json!({"userId": "nope", "email": "x@y.z"})).await;
    assert_eq!(unknown["status"], "UNKNOWN_USER_ID_ERROR");
    // The user is looked up before the e-mail is read, as in the reference.
    let unknown = s.post("/public/recipe/user/password/reset/token", json!({"userId": "nope"})).await;
    assert_eq!(unknown, json!({"status": "UNKNOWN_USER_ID_ERROR"}));
    let (st, text) = s
        .request(
            "POST",
            "/public/recipe/user/password/reset/token",
            Some(json!({"userId": id})),
            &[("cdi-version", "5.4")],
        )
        .await;
    assert_eq!((st, text.trim_end()), (400, "Field name 'email' is invalid in JSON input"));
    let c = s.post("/public/recipe/user/password/reset/token/consume", json!({"token": t1})).await;
    assert_eq!(
        (c["status"].as_str(), c["userId"].as_str(), c["email"].as_str()),
        (Some("OK"), Some(id.as_str()), Some("bob@example.com"))
    );
    // Single use, and consuming deletes all of the user's tokens.
    for t in [&t1, &t2] {
        let again = s.post("/public/recipe/user/password/reset/token/consume", json!({"token": t})).await;
        assert_eq!(again["status"], "RESET_PASSWORD_INVALID_TOKEN_ERROR");
    }
    // Expiry from config (default 1 h).
    let t3 =
        s.post("/public/recipe/user/password/reset/token", json!({"userId": id, "email": "bob@example.com"})).await;
    s.clock.advance_ms(3_600_001);
    let late = s.post("/public/recipe/user/password/reset/token/consume", json!({"token": t3["token"]})).await;
    assert_eq!(late["status"], "RESET_PASSWORD_INVALID_TOKEN_ERROR");
    // The deprecated one-step reset: the token's user gets the new password, once.
    let t4 =
        s.post("/public/recipe/user/password/reset/token", json!({"userId": id, "email": "bob@example.com"})).await;
    let reset = |token: Value, method: &'static str, pw: &'static str| {
        let s = &s;
        async move {
            s.request(
                "POST",
                "/public/recipe/user/password/reset",
                Some(json!({"method": method, "token": token, "newPassword": pw})),
                &[("cdi-version", "5.4")],
            )
            .await
        }
    };
    let (st, text) = reset(t4["token"].clone(), "other", "pw4").await;
    assert_eq!((st, text.trim_end()), (400, "Unsupported method for password reset"));
    let (st, text) = reset(t4["token"].clone(), "token", "").await;
    assert_eq!((st, text.trim_end()), (400, "Password cannot be an empty string"));
    let (st, text) = reset(t4["token"].clone(), "token", "pw4").await;
    let done: Value = serde_json::from_str(&text).unwrap();
    assert_eq!((st, done), (200, json!({"status": "OK", "userId": id})));
    let signin = s.post("/public/recipe/signin", json!({"email": "bob@example.com", "password": "pw4"})).await;
    assert_eq!(signin["status"], "OK");
    let (_, text) = reset(t4["token"].clone(), "token", "pw5").await;
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap()["status"], "RESET_PASSWORD_INVALID_TOKEN_ERROR");
    // PUT /recipe/user changes the password and the email.
    let put = s.put("/recipe/user", json!({"recipeUserId": id, "password": "new"})).await;
    assert_eq!(put["status"], "OK");
    assert_eq!(
        s.post("/public/recipe/signin", json!({"email": "bob@example.com", "password": "new"})).await["status"],
        "OK"
    );
    assert_eq!(
        s.post("/public/recipe/signin", json!({"email": "bob@example.com", "password": "old"})).await["status"],
        "WRONG_CREDENTIALS_ERROR"
    );
    sign_up(&s, "carol@example.com", "c").await;
    let clash = s.put("/recipe/user", json!({"recipeUserId": id, "email": "carol@example.com"})).await;
    assert_eq!(clash["status"], "EMAIL_ALREADY_EXISTS_ERROR");
    let moved = s.put("/recipe/user", json!({"recipeUserId": id, "email": "Bobby@example.com"})).await;
    assert_eq!(moved["status"], "OK");
    assert_eq!(
        s.post("/public/recipe/signin", json!({"email": "bobby@example.com", "password": "new"})).await["status"],
        "OK"
    );
    assert_eq!(
        s.put("/recipe/user", json!({"recipeUserId": "nope", "password": "x"})).await["status"],
        "UNKNOWN_USER_ID_ERROR"
    );
    let (st, text) =
        s.request("PUT", "/recipe/user", Some(json!({"userId": id, "password": "x"})), &[("cdi-version", "5.4")]).await;
    assert_eq!((st, text.trim_end()), (400, "Field name 'recipeUserId' is invalid in JSON input"), "no pre-4.0 userId");
    s.stop().await;
}

async fn password_hash_import(b: Backend) {
    let Some(s) = TestServer::spawn(b, cheap_hashing()).await else { return };
    let bcrypt = "$2a$04$4Z2nxGnI1mXKQdKV/WxZ7OaBYDJTFUvBI3ARsLbEW7XnaI9qPAHdG"; // "password" (cost 4)
    let r = s
        .post("/public/recipe/user/passwordhash/import", json!({"email": "imp@example.com", "passwordHash": bcrypt}))
        .await;
    assert_eq!(r["didUserAlreadyExist"], false);
    let (st, _) = s
        .request(
            "POST",
            "/public/recipe/user/passwordhash/import",
            Some(json!({"email": "x@example.com", "passwordHash": "garbage"})),
            &[("cdi-version", "5.4")],
        )
        .await;
    assert_eq!(st, 400);
    let (st, _) = s
        .request(
            "POST",
            "/public/recipe/user/passwordhash/import",
            Some(json!({"email": "x@example.com", "passwordHash": bcrypt, "hashingAlgorithm": "ARGON2"})),
            &[("cdi-version", "5.4")],
        )
        .await;
    assert_eq!(st, 400);
    // The algorithm's name is trimmed and upper-cased; an empty one has its own message.
    let import_bcrypt_as = |alg: &'static str| {
        let s = &s;
        async move {
            let body = json!({"email": "x@example.com", "passwordHash": bcrypt, "hashingAlgorithm": alg});
            let (st, text) = s
                .request("POST", "/public/recipe/user/passwordhash/import", Some(body), &[("cdi-version", "5.4")])
                .await;
            (st, text.trim_end().to_string())
        }
    };
    for (alg, msg) in [
        ("", "Hashing Algorithm cannot be an empty string"),
        ("  ", "Hashing Algorithm cannot be an empty string"),
        ("firebase_scrypt", "Password hash is in invalid Firebase SCrypt format"),
    ] {
        assert_eq!(import_bcrypt_as(alg).await, (400, msg.to_string()));
    }
    // A hash whose own parameters would need 4 GiB to verify is refused.
    let huge = json!({"email": "imp@example.com", "passwordHash": "$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHQ$xdhJXVf6QIhLMnXQ9E5wKA"});
    let (st, text) =
        s.request("POST", "/public/recipe/user/passwordhash/import", Some(huge), &[("cdi-version", "5.4")]).await;
    assert_eq!(st, 400);
    assert!(text.starts_with("Password hash is in invalid Argon2 format"), "{text}");
    // A salt longer than this server's argon2 parser takes: refused rather than imported and
    // then never matching.
    let long_salt = format!("$argon2id$v=19$m=16,t=2,p=1${}$xdhJXVf6QIhLMnXQ9E5wKA", "c2FsdA".repeat(20));
    let body = json!({"email": "imp@example.com", "passwordHash": long_salt});
    let (st, text) =
        s.request("POST", "/public/recipe/user/passwordhash/import", Some(body), &[("cdi-version", "5.4")]).await;
    assert_eq!(st, 400);
    assert!(text.starts_with("Password hash is in invalid Argon2 format: this server cannot verify"), "{text}");
    let argon = s.post("/public/recipe/user/passwordhash/import", json!({"email": "imp@example.com", "passwordHash": "$argon2id$v=19$m=16,t=2,p=1$c2FsdHNhbHQ$xdhJXVf6QIhLMnXQ9E5wKA", "hashingAlgorithm": "argon2"})).await;
    assert_eq!(argon["didUserAlreadyExist"], true);
    // Imports racing with the deletion of the user they find: each answers OK (an import whose
    // user is deleted before its hash is replaced looks again and creates the user).
    let import = "/public/recipe/user/passwordhash/import";
    for round in 0..10 {
        let body = json!({"email": format!("race{round}@example.com"), "passwordHash": bcrypt});
        let id = s.post(import, body.clone()).await["user"]["id"].as_str().unwrap().to_string();
        let (removed, imported) = tokio::join!(s.post("/user/remove", json!({"userId": id})), s.post(import, body));
        assert_eq!((removed["status"].as_str(), imported["status"].as_str()), (Some("OK"), Some("OK")));
    }
    s.stop().await;
}

/// The deprecated `GET /recipe/user`: the `rid` fallback (§b), app-wide by id, one of id or e-mail.
async fn get_user_rules(b: Backend) {
    let Some(s) = TestServer::spawn(b, cheap_hashing()).await else { return };
    let v54 = [("cdi-version", "5.4")];
    sign_up(&s, "s0@example.com", "pw").await;
    // `/recipe/user` falls back to emailpassword for an unknown rid.
    let (st, body) = s
        .request(
            "GET",
            "/public/recipe/user?email=s0%40example.com",
            None,
            &[("cdi-version", "5.4"), ("rid", "dashboard")],
        )
        .await;
    assert_eq!(st, 200);
    assert!(body.contains("s0@example.com"), "{body}");
    // By id the lookup is app-wide: a non-public tenant gets the reference's 403.
    s.put("/recipe/multitenancy/tenant/v2", json!({"tenantId": "t1"})).await;
    let (st, body) = s.request("GET", "/t1/recipe/user?userId=x", None, &v54).await;
    assert_eq!((st, body.trim_end()), (403, "Only public tenantId can call this app specific API"));
    let (st, body) = s.request("GET", "/public/recipe/user?userId=x&email=a%40b.c", None, &v54).await;
    assert_eq!((st, body.trim_end()), (400, "Please provide only one of userId or email"));
    s.stop().await;
}

/// CDI 5.0 only: sign-up, sign-in, reset tokens and imports are refused (403) on a tenant whose
/// first-factor list is empty or whose email-password flag is off; from 5.1 on never.
async fn recipe_enabled_check_at_5_0(b: Backend) {
    let Some(s) = TestServer::spawn(b, cheap_hashing()).await else { return };
    // A v2 tenant created without factors has an empty first-factor list; another lists
    // emailpassword; a deprecated one has the recipe switched off.
    assert_eq!(s.put("/recipe/multitenancy/tenant/v2", json!({"tenantId": "empty"})).await["status"], "OK");
    let ep = json!({"tenantId": "listed", "firstFactors": ["emailpassword"]});
    assert_eq!(s.put("/recipe/multitenancy/tenant/v2", ep).await["status"], "OK");
    let off = json!({"tenantId": "off", "emailPasswordEnabled": false});
    assert_eq!(s.put("/recipe/multitenancy/tenant", off).await["status"], "OK");
    let call = |v: &'static str, tenant: &'static str, path: &'static str, body: Value| {
        let s = &s;
        async move {
            let (st, text) = s.request("POST", &format!("/{tenant}{path}"), Some(body), &[("cdi-version", v)]).await;
            (st, text.trim_end().to_string())
        }
    };
    let creds = |i: u32| json!({"email": format!("five{i}@example.com"), "password": "pw-1"});
    let import = json!({"email": "imp@example.com", "passwordHash": "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"});
    let refused = (403, "Email password login not enabled for tenant".to_string());
    for tenant in ["empty", "off"] {
        assert_eq!(call("5.0", tenant, "/recipe/signup", creds(1)).await, refused, "{tenant}");
        assert_eq!(call("5.0", tenant, "/recipe/signin", creds(1)).await, refused, "{tenant}");
        let reset = json!({"userId": "u", "email": "five1@example.com"});
        assert_eq!(call("5.0", tenant, "/recipe/user/password/reset/token", reset).await, refused, "{tenant}");
        assert_eq!(call("5.0", tenant, "/recipe/user/passwordhash/import", import.clone()).await, refused);
        // From 5.1 on the core leaves the decision to the SDK.
        let (st, text) = call("5.1", tenant, "/recipe/signup", creds(2)).await;
        assert_eq!(st, 200, "{tenant}: {text}");
        assert!(text.contains("\"status\":\"OK\""), "{tenant}: {text}");
    }
    // Input errors come first, as the reference parses before it checks.
    let (st, text) = call("5.0", "empty", "/recipe/signup", json!({"email": "x@example.com", "password": ""})).await;
    assert_eq!((st, text.as_str()), (400, "Password cannot be an empty string"));
    // A tenant that lists emailpassword, and the public tenant (no list), are served at 5.0.
    for tenant in ["listed", "public"] {
        let (st, text) = call("5.0", tenant, "/recipe/signup", creds(3)).await;
        assert_eq!(st, 200, "{tenant}: {text}");
        let user: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(user["status"], "OK", "{tenant}");
        assert!(user["user"].get("webauthn").is_none(), "no webauthn before 5.3");
    }
    s.stop().await;
}

/// A request at CDI `v`: its status and body (without the plain-text bodies' newline).
async fn at_version(s: &TestServer, v: &str, method: &str, path: &str, body: Option<Value>) -> (u16, String) {
    let (st, text) = s.request(method, path, body, &[("cdi-version", v)]).await;
    (st, text.trim_end().to_string())
}

/// A request at CDI `v` that must answer 200 with JSON.
async fn json_at(s: &TestServer, v: &str, method: &str, path: &str, body: Option<Value>) -> Value {
    let (st, text) = at_version(s, v, method, path, body).await;
    assert_eq!(st, 200, "{v} {method} {path}: {text}");
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
}

/// Before CDI 4.0 sign-up, sign-in, import and the deprecated `GET /recipe/user` show the user
/// without account linking (`{"id","timeJoined","tenantIds","email"}`, the id external when
/// mapped) and no top-level `recipeUserId`; before 3.0 without `tenantIds`.
async fn user_object_before_4_0(b: Backend) {
    let Some(s) = TestServer::spawn(b, cheap_hashing()).await else { return };
    for (i, v) in ["2.7", "2.11", "2.12", "2.21", "3.0", "3.1"].into_iter().enumerate() {
        let email = format!("old{i}@example.com");
        let creds = json!({"email": email, "password": "pw-1"});
        let up = json_at(&s, v, "POST", "/public/recipe/signup", Some(creds.clone())).await;
        let id = up["user"]["id"].as_str().unwrap().to_string();
        let joined = up["user"]["timeJoined"].as_i64().unwrap();
        let mut user = json!({"id": id, "timeJoined": joined, "tenantIds": ["public"], "email": email});
        if v.starts_with('2') {
            user.as_object_mut().unwrap().remove("tenantIds");
        }
        // Exactly these fields, in the reference's order.
        assert_eq!(up.to_string(), json!({"status": "OK", "user": user}).to_string(), "{v}");
        let expected = json!({"status": "OK", "user": user});
        let signed_in = json_at(&s, v, "POST", "/public/recipe/signin", Some(creds)).await;
        assert_eq!(signed_in.to_string(), expected.to_string(), "{v}");
        let by_id = json_at(&s, v, "GET", &format!("/recipe/user?userId={id}"), None).await;
        assert_eq!(by_id.to_string(), expected.to_string(), "{v}");
        let by_email = json_at(&s, v, "GET", &format!("/public/recipe/user?email={email}"), None).await;
        assert_eq!(by_email.to_string(), expected.to_string(), "{v}");
        let bcrypt = "$2a$04$4Z2nxGnI1mXKQdKV/WxZ7OaBYDJTFUvBI3ARsLbEW7XnaI9qPAHdG";
        let import = json!({"email": email, "passwordHash": bcrypt});
        let imported = json_at(&s, v, "POST", "/public/recipe/user/passwordhash/import", Some(import)).await;
        assert_eq!(
            imported.to_string(),
            json!({"status": "OK", "user": user, "didUserAlreadyExist": true}).to_string(),
            "{v}"
        );
    }
    // A mapped user shows its external id.
    let up =
        json_at(&s, "3.0", "POST", "/public/recipe/signup", Some(json!({"email": "m@x.com", "password": "p"}))).await;
    let id = up["user"]["id"].as_str().unwrap();
    s.post("/recipe/userid/map", json!({"superTokensUserId": id, "externalUserId": "ext-old"})).await;
    let signed_in =
        json_at(&s, "3.0", "POST", "/public/recipe/signin", Some(json!({"email": "m@x.com", "password": "p"}))).await;
    assert_eq!(signed_in["user"]["id"], "ext-old");
    assert_eq!(json_at(&s, "2.21", "GET", "/recipe/user?userId=ext-old", None).await["user"]["id"], "ext-old");
    // From 4.0 the account-linking object and the recipe user id.
    let up =
        json_at(&s, "4.0", "POST", "/public/recipe/signup", Some(json!({"email": "n@x.com", "password": "p"}))).await;
    assert_eq!(up["recipeUserId"], up["user"]["id"]);
    assert!(up["user"]["loginMethods"].is_array() && up["user"].get("webauthn").is_none(), "{up}");
    s.stop().await;
}

/// Before CDI 5.0 the recipe is refused (403) on a tenant whose email-password flag is off or
/// whose first-factor list does not name `emailpassword` (the reference's
/// `isEnabledInLesserThanOrEqualTo4_0`); at 5.0 only an empty list or the flag off is; from 5.1
/// nothing.
async fn recipe_enabled_check_before_5_0(b: Backend) {
    let Some(s) = TestServer::spawn(b, cheap_hashing()).await else { return };
    // A v2 tenant created without factors has an empty first-factor list.
    for body in [
        json!({"tenantId": "empty"}),
        json!({"tenantId": "listed", "firstFactors": ["emailpassword"]}),
        json!({"tenantId": "other", "firstFactors": ["thirdparty"]}),
    ] {
        assert_eq!(s.put("/recipe/multitenancy/tenant/v2", body).await["status"], "OK");
    }
    let off = json!({"tenantId": "off", "emailPasswordEnabled": false});
    assert_eq!(s.put("/recipe/multitenancy/tenant", off).await["status"], "OK");
    let creds = |i: usize| json!({"email": format!("e{i}@example.com"), "password": "pw-1"});
    let import = json!({"email": "imp@example.com", "passwordHash": "$2a$04$4Z2nxGnI1mXKQdKV/WxZ7OaBYDJTFUvBI3ARsLbEW7XnaI9qPAHdG"});
    let refused = (403, "Email password login not enabled for tenant".to_string());
    let mut i = 0;
    for v in ["3.0", "3.1", "4.0"] {
        for tenant in ["empty", "other", "off"] {
            let path = |p: &str| format!("/{tenant}{p}");
            i += 1;
            assert_eq!(at_version(&s, v, "POST", &path("/recipe/signup"), Some(creds(i))).await, refused);
            assert_eq!(at_version(&s, v, "POST", &path("/recipe/signin"), Some(creds(i))).await, refused);
            let reset = json!({"userId": "u", "email": "e@example.com"});
            let reset_path = path("/recipe/user/password/reset/token");
            assert_eq!(at_version(&s, v, "POST", &reset_path, Some(reset)).await, refused, "{v} {tenant}");
            let import_path = path("/recipe/user/passwordhash/import");
            assert_eq!(at_version(&s, v, "POST", &import_path, Some(import.clone())).await, refused);
        }
        for tenant in ["listed", "public"] {
            i += 1;
            let up = json_at(&s, v, "POST", &format!("/{tenant}/recipe/signup"), Some(creds(i))).await;
            assert_eq!(up["status"], "OK", "{v} {tenant}");
        }
    }
    // A list without `emailpassword` is refused before 5.0 only; an empty one at 5.0 too.
    i += 1;
    assert_eq!(json_at(&s, "5.0", "POST", "/other/recipe/signup", Some(creds(i))).await["status"], "OK");
    assert_eq!(at_version(&s, "5.0", "POST", "/empty/recipe/signup", Some(creds(i))).await, refused);
    assert_eq!(json_at(&s, "5.1", "POST", "/empty/recipe/signup", Some(creds(i))).await["status"], "OK");
    // Before 3.0 only the public tenant is reachable: refused when its list lacks the recipe.
    let public = json!({"tenantId": "public", "firstFactors": ["thirdparty"]});
    assert_eq!(s.put("/recipe/multitenancy/tenant/v2", public).await["status"], "OK");
    for v in ["2.7", "2.21"] {
        i += 1;
        assert_eq!(at_version(&s, v, "POST", "/recipe/signup", Some(creds(i))).await, refused, "{v}");
    }
    assert_eq!(json_at(&s, "5.0", "POST", "/recipe/signup", Some(creds(i))).await["status"], "OK");
    s.stop().await;
}

/// Before CDI 4.0 a reset token is for the user's own e-mail-password e-mail (`email` is not
/// read); an unknown user is `UNKNOWN_USER_ID_ERROR`.
async fn reset_token_before_4_0(b: Backend) {
    let Some(s) = TestServer::spawn(b, cheap_hashing()).await else { return };
    let id = sign_up(&s, "Reset@Example.com", "pw").await["user"]["id"].as_str().unwrap().to_string();
    for (v, body) in [
        ("2.7", json!({"userId": id})),
        ("2.21", json!({"userId": id, "email": 5})),
        ("3.0", json!({"userId": id, "email": "someone-else@example.com"})),
        ("3.1", json!({"userId": id})),
    ] {
        let t = json_at(&s, v, "POST", "/public/recipe/user/password/reset/token", Some(body)).await;
        assert_eq!(keys_of(&t), set(&["status", "token"]), "{v}: {t}");
        let c = s.post("/public/recipe/user/password/reset/token/consume", json!({"token": t["token"]})).await;
        assert_eq!(
            (c["status"].as_str(), c["userId"].as_str(), c["email"].as_str()),
            (Some("OK"), Some(id.as_str()), Some("reset@example.com")),
            "{v}"
        );
    }
    let unknown = json_at(&s, "3.0", "POST", "/public/recipe/user/password/reset/token", Some(json!({"userId": "x"})));
    assert_eq!(unknown.await, json!({"status": "UNKNOWN_USER_ID_ERROR"}));
    // A mapped user is named by its external id.
    s.post("/recipe/userid/map", json!({"superTokensUserId": id, "externalUserId": "ext-r"})).await;
    let t = json_at(&s, "3.0", "POST", "/public/recipe/user/password/reset/token", Some(json!({"userId": "ext-r"})));
    let c = s.post("/public/recipe/user/password/reset/token/consume", json!({"token": t.await["token"]})).await;
    assert_eq!((c["userId"].as_str(), c["email"].as_str()), (Some("ext-r"), Some("reset@example.com")));
    // From 4.0 the e-mail is required (after the user lookup).
    let (st, text) =
        at_version(&s, "4.0", "POST", "/public/recipe/user/password/reset/token", Some(json!({"userId": "ext-r"})))
            .await;
    assert_eq!((st, text.as_str()), (400, "Field name 'email' is invalid in JSON input"));
    s.stop().await;
}

/// The deprecated one-step reset answers without `userId` at CDI 2.7 to 2.11, with it from 2.12.
async fn deprecated_reset_without_user_id_before_2_12(b: Backend) {
    let Some(s) = TestServer::spawn(b, cheap_hashing()).await else { return };
    let id = sign_up(&s, "old-reset@example.com", "pw").await["user"]["id"].as_str().unwrap().to_string();
    for v in ["2.7", "2.8", "2.9", "2.10", "2.11", "2.12", "2.21", "3.0", "4.0"] {
        let t = s
            .post("/public/recipe/user/password/reset/token", json!({"userId": id, "email": "old-reset@example.com"}))
            .await;
        let body = json!({"method": "token", "token": t["token"], "newPassword": format!("pw-{v}")});
        let done = json_at(&s, v, "POST", "/public/recipe/user/password/reset", Some(body)).await;
        let expected = if ["2.7", "2.8", "2.9", "2.10", "2.11"].contains(&v) {
            json!({"status": "OK"})
        } else {
            json!({"status": "OK", "userId": id})
        };
        assert_eq!(done, expected, "{v}");
        let creds = json!({"email": "old-reset@example.com", "password": format!("pw-{v}")});
        assert_eq!(s.post("/public/recipe/signin", creds).await["status"], "OK", "{v}");
    }
    s.stop().await;
}

/// `PUT /recipe/user` names the user `userId` before CDI 4.0 and `recipeUserId` from 4.0 on;
/// before 5.0 a non-public tenant in the path of it (and of `GET /recipe/user?userId=`) is
/// ignored, as the reference's app-wide APIs do.
async fn user_update_id_field_by_version(b: Backend) {
    let Some(s) = TestServer::spawn(b, cheap_hashing()).await else { return };
    let id = sign_up(&s, "upd@example.com", "pw").await["user"]["id"].as_str().unwrap().to_string();
    s.put("/recipe/multitenancy/tenant/v2", json!({"tenantId": "t1"})).await;
    for (v, field, other) in
        [("2.21", "userId", "recipeUserId"), ("3.0", "userId", "recipeUserId"), ("4.0", "recipeUserId", "userId")]
    {
        let pw = format!("pw-{v}");
        let put = json_at(&s, v, "PUT", "/recipe/user", Some(json!({field: id, "password": pw}))).await;
        assert_eq!(put, json!({"status": "OK"}), "{v}");
        let signed_in = s.post("/public/recipe/signin", json!({"email": "upd@example.com", "password": pw})).await;
        assert_eq!(signed_in["status"], "OK", "{v}");
        let (st, text) = at_version(&s, v, "PUT", "/recipe/user", Some(json!({other: id, "password": "x"}))).await;
        assert_eq!((st, text), (400, format!("Field name '{field}' is invalid in JSON input")), "{v}");
        let unknown = json_at(&s, v, "PUT", "/recipe/user", Some(json!({field: "nope", "password": "x"}))).await;
        assert_eq!(unknown["status"], "UNKNOWN_USER_ID_ERROR", "{v}");
    }
    // App-wide before 5.0: the tenant segment (even an unknown one) is ignored.
    for prefix in ["/t1", "/nope"] {
        let body = json!({"recipeUserId": id, "password": "q"});
        let put = json_at(&s, "4.0", "PUT", &format!("{prefix}/recipe/user"), Some(body)).await;
        assert_eq!(put["status"], "OK", "{prefix}");
        let got = json_at(&s, "4.0", "GET", &format!("{prefix}/recipe/user?userId={id}"), None).await;
        assert_eq!(got["user"]["id"], id.as_str(), "{prefix}");
    }
    let forbidden = (403, "Only public tenantId can call this app specific API".to_string());
    let put = json!({"recipeUserId": id, "password": "q"});
    assert_eq!(at_version(&s, "5.0", "PUT", "/t1/recipe/user", Some(put)).await, forbidden);
    assert_eq!(at_version(&s, "5.0", "GET", &format!("/t1/recipe/user?userId={id}"), None).await, forbidden);
    s.stop().await;
}

st_tests::both_backends! {
    recipe_enabled_check_at_5_0 => recipe_enabled_check_at_5_0;
    signup_signin_and_user_object => signup_signin_and_user_object;
    password_reset_and_update => password_reset_and_update;
    password_hash_import => password_hash_import;
    get_user_rules => get_user_rules;
    user_object_before_4_0 => user_object_before_4_0;
    recipe_enabled_check_before_5_0 => recipe_enabled_check_before_5_0;
    reset_token_before_4_0 => reset_token_before_4_0;
    deprecated_reset_without_user_id_before_2_12 => deprecated_reset_without_user_id_before_2_12;
    user_update_id_field_by_version => user_update_id_field_by_version;
}
