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

st_tests::both_backends! {
    recipe_enabled_check_at_5_0 => recipe_enabled_check_at_5_0;
    signup_signin_and_user_object => signup_signin_and_user_object;
    password_reset_and_update => password_reset_and_update;
    password_hash_import => password_hash_import;
    get_user_rules => get_user_rules;
}
