//! User recipes over HTTP (§a.2, §a.5, §a.6, §a.11, §a.12, §a.13): sign-up/in, reset,
//! verification, the user object, listing, metadata, roles, user-id mapping, deletion.

mod common;
use common::{Backend, TestServer};
use serde_json::{json, Value};

fn cfg() -> Value {
    // Cheapest bcrypt cost: these tests check behaviour, not hashing cost.
    json!({"bcrypt_log_rounds": 4})
}

async fn sign_up(s: &TestServer, email: &str, pw: &str) -> Value {
    s.post("/public/recipe/signup", json!({"email": email, "password": pw})).await
}

async fn signup_signin_and_user_object(b: Backend) {
    let Some(s) = TestServer::spawn(b, cfg()).await else { return };
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
    // Lookups.
    let got = s.get(&format!("/user/id?userId={id}")).await;
    assert_eq!(got["user"]["id"], id.as_str());
    assert_eq!(s.get("/user/id?userId=nope").await["status"], "UNKNOWN_USER_ID_ERROR");
    let by = s.get("/public/users/by-accountinfo?email=Alice%40example.com&doUnionOfAccountInfo=true").await;
    assert_eq!(by["users"].as_array().unwrap().len(), 1);
    let by = s.get("/public/users/by-accountinfo?email=zz%40example.com&doUnionOfAccountInfo=false").await;
    assert_eq!(by["users"], json!([]));
    // No user has a WebAuthn credential here: an AND match that needs one finds nobody.
    let q = "/public/users/by-accountinfo?email=Alice%40example.com&webauthnCredentialId=c";
    assert_eq!(s.get(&format!("{q}&doUnionOfAccountInfo=false")).await["users"], json!([]));
    assert_eq!(s.get(&format!("{q}&doUnionOfAccountInfo=true")).await["users"].as_array().unwrap().len(), 1);
    let by_status = |q: &'static str| {
        let s = &s;
        async move {
            let (st, text) = s.request("GET", q, None, &[("cdi-version", "5.4")]).await;
            (st, text.trim_end().to_string())
        }
    };
    assert_eq!(
        by_status("/public/users/by-accountinfo?email=a%40b.c&doUnionOfAccountInfo=TRUE").await,
        (400, "'doUnionOfAccountInfo' should be either 'true' or 'false'".to_string())
    );
    assert_eq!(
        by_status("/public/users/by-accountinfo?email=a%40b.c").await,
        (400, "Field name 'doUnionOfAccountInfo' is missing in GET request".to_string())
    );
    assert_eq!(
        by_status("/public/users/by-accountinfo?thirdPartyId=g&doUnionOfAccountInfo=true").await,
        (400, "If 'thirdPartyId' is provided, 'thirdPartyUserId' must also be provided, and vice versa".to_string())
    );
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
    let Some(s) = TestServer::spawn(b, cfg()).await else { return };
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

async fn email_verification(b: Backend) {
    let Some(s) = TestServer::spawn(b, cfg()).await else { return };
    let id = sign_up(&s, "eve@example.com", "pw").await["user"]["id"].as_str().unwrap().to_string();
    let q = format!("/recipe/user/email/verify?userId={id}&email=eve%40example.com");
    assert_eq!(s.get(&q).await["isVerified"], false);
    let tok = s.post("/public/recipe/user/email/verify/token", json!({"userId": id, "email": "eve@example.com"})).await;
    let token = tok["token"].as_str().unwrap().to_string();
    let bad = s.post("/public/recipe/user/email/verify", json!({"method": "token", "token": "nope"})).await;
    assert_eq!(bad["status"], "EMAIL_VERIFICATION_INVALID_TOKEN_ERROR");
    let v = s.post("/public/recipe/user/email/verify", json!({"method": "token", "token": token})).await;
    assert_eq!((v["userId"].as_str(), v["email"].as_str()), (Some(id.as_str()), Some("eve@example.com")));
    assert_eq!(s.get(&q).await["isVerified"], true);
    assert_eq!(s.get(&format!("/user/id?userId={id}")).await["user"]["loginMethods"][0]["verified"], true);
    let again =
        s.post("/public/recipe/user/email/verify/token", json!({"userId": id, "email": "eve@example.com"})).await;
    assert_eq!(again["status"], "EMAIL_ALREADY_VERIFIED_ERROR");
    s.post("/recipe/user/email/verify/remove", json!({"userId": id, "email": "eve@example.com"})).await;
    assert_eq!(s.get(&q).await["isVerified"], false);
    let (st, _) = s
        .request(
            "POST",
            "/public/recipe/user/email/verify",
            Some(json!({"method": "x", "token": "t"})),
            &[("cdi-version", "5.4")],
        )
        .await;
    assert_eq!(st, 400);
    // Both fields are read before the method is judged, as in the reference.
    let (st, body) = s.request("POST", "/public/recipe/user/email/verify", Some(json!({"method": "x"})), &[]).await;
    assert_eq!((st, body.trim_end()), (400, "Field name 'token' is invalid in JSON input"));
    let (st, body) =
        s.request("POST", "/public/recipe/user/email/verify", Some(json!({"method": "x", "token": "t"})), &[]).await;
    assert_eq!((st, body.trim_end()), (400, "Unsupported method for email verification"));
    // Java's trim: a control character around the address goes, a no-break space stays.
    let id2 = sign_up(&s, "ctl@example.com", "pw").await["user"]["id"].as_str().unwrap().to_string();
    let tok =
        s.post("/public/recipe/user/email/verify/token", json!({"userId": id2, "email": "\u{1}CTL@example.com"})).await;
    let v = s.post("/public/recipe/user/email/verify", json!({"method": "token", "token": tok["token"]})).await;
    assert_eq!(v["email"], "ctl@example.com");
    let tok = s
        .post("/public/recipe/user/email/verify/token", json!({"userId": id2, "email": "\u{a0}ctl@example.com"}))
        .await;
    let v = s.post("/public/recipe/user/email/verify", json!({"method": "token", "token": tok["token"]})).await;
    assert_eq!(v["email"], "\u{a0}ctl@example.com");
    s.stop().await;
}

async fn metadata_roles_mapping(b: Backend) {
    let Some(s) = TestServer::spawn(b, cfg()).await else { return };
    assert_eq!(s.get("/recipe/user/metadata?userId=u1").await["metadata"], json!({}));
    let m = s.put("/recipe/user/metadata", json!({"userId": "u1", "metadataUpdate": {"a": 1, "b": {"c": 2}}})).await;
    assert_eq!(m["metadata"], json!({"a": 1, "b": {"c": 2}}));
    let m = s.put("/recipe/user/metadata", json!({"userId": "u1", "metadataUpdate": {"a": null, "b": {"d": 3}}})).await;
    assert_eq!(m["metadata"], json!({"b": {"d": 3}}));
    // The reference's merge order: a removed key leaves the others in order; an updated key
    // moves to the end (and is stored so).
    let keys = |m: &Value| m.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    s.put("/recipe/user/metadata", json!({"userId": "u3", "metadataUpdate": {"a": 1, "b": 2, "c": 3}})).await;
    let m = s.put("/recipe/user/metadata", json!({"userId": "u3", "metadataUpdate": {"a": null}})).await;
    assert_eq!(keys(&m["metadata"]), ["b", "c"]);
    let m = s.put("/recipe/user/metadata", json!({"userId": "u3", "metadataUpdate": {"b": 9}})).await;
    assert_eq!(keys(&m["metadata"]), ["c", "b"]);
    assert_eq!(keys(&s.get("/recipe/user/metadata?userId=u3").await["metadata"]), ["c", "b"]);
    s.put("/recipe/user/metadata", json!({"userId": "u2", "metadataUpdate": {"z": true}})).await;
    let bulk = s.post("/recipe/user/metadata/bulk", json!({"userIds": ["u2", "nobody", "u1"]})).await;
    assert_eq!(
        bulk["users"],
        json!([
            {"userId": "u2", "metadata": {"z": true}},
            {"userId": "nobody", "metadata": null},
            {"userId": "u1", "metadata": {"b": {"d": 3}}}
        ])
    );
    assert_eq!(s.post("/recipe/user/metadata/bulk", json!({"userIds": []})).await["users"], json!([]));
    let too_many: Vec<String> = (0..501).map(|i| format!("u{i}")).collect();
    let (st, text) = s
        .request("POST", "/recipe/user/metadata/bulk", Some(json!({"userIds": too_many})), &[("cdi-version", "5.4")])
        .await;
    assert_eq!((st, text.trim_end()), (400, "You can only query up to 500 users at a time."));
    let (st, text) =
        s.request("POST", "/recipe/user/metadata/bulk", Some(json!({"userIds": [1]})), &[("cdi-version", "5.4")]).await;
    assert_eq!((st, text.trim_end()), (400, "userIds array must contain only strings"));
    s.post("/recipe/user/metadata/remove", json!({"userId": "u1"})).await;
    assert_eq!(s.get("/recipe/user/metadata?userId=u1").await["metadata"], json!({}));
    // Roles.
    assert_eq!(
        s.put("/recipe/role", json!({"role": "admin", "permissions": ["read", "write"]})).await["createdNewRole"],
        true
    );
    assert_eq!(
        s.put("/recipe/role", json!({"role": "admin", "permissions": ["delete"]})).await["createdNewRole"],
        false
    );
    let mut perms: Vec<String> =
        serde_json::from_value(s.get("/recipe/role/permissions?role=admin").await["permissions"].clone()).unwrap();
    perms.sort();
    assert_eq!(perms, ["delete", "read", "write"]);
    assert_eq!(s.get("/recipe/permission/roles?permission=read").await["roles"], json!(["admin"]));
    assert_eq!(
        s.put("/public/recipe/user/role", json!({"userId": "u1", "role": "admin"})).await["didUserAlreadyHaveRole"],
        false
    );
    assert_eq!(
        s.put("/public/recipe/user/role", json!({"userId": "u1", "role": "admin"})).await["didUserAlreadyHaveRole"],
        true
    );
    assert_eq!(
        s.put("/public/recipe/user/role", json!({"userId": "u1", "role": "nope"})).await["status"],
        "UNKNOWN_ROLE_ERROR"
    );
    assert_eq!(s.get("/public/recipe/user/roles?userId=u1").await["roles"], json!(["admin"]));
    assert_eq!(s.get("/public/recipe/role/users?role=admin").await["users"], json!(["u1"]));
    s.post("/recipe/role/permissions/remove", json!({"role": "admin", "permissions": ["delete"]})).await;
    assert_eq!(s.get("/recipe/role/permissions?role=admin").await["permissions"].as_array().unwrap().len(), 2);
    assert_eq!(
        s.post("/public/recipe/user/role/remove", json!({"userId": "u1", "role": "admin"})).await["didUserHaveRole"],
        true
    );
    assert_eq!(s.post("/recipe/role/remove", json!({"role": "admin"})).await["didRoleExist"], true);
    assert_eq!(s.get("/recipe/roles").await["roles"], json!([]));
    // Java's trim: a control character is trimmed away, a no-break space is kept.
    let (st, body) = s.request("PUT", "/recipe/role", Some(json!({"role": "\u{1}"})), &[]).await;
    assert_eq!((st, body.trim_end()), (400, "Field name 'role' cannot be an empty String"));
    assert_eq!(s.put("/recipe/role", json!({"role": "nbsp\u{a0}"})).await["createdNewRole"], true);
    assert_eq!(s.get("/recipe/roles").await["roles"], json!(["nbsp\u{a0}"]));
    assert_eq!(s.post("/recipe/role/remove", json!({"role": "nbsp\u{a0}"})).await["didRoleExist"], true);
    // Permissions are checked one by one: the empty one comes before the non-string.
    let (st, body) = s.request("PUT", "/recipe/role", Some(json!({"role": "r", "permissions": [" ", 1]})), &[]).await;
    assert_eq!((st, body.trim_end()), (400, "Field name 'permissions' cannot contain an empty string"));
    let (st, body) = s.request("PUT", "/recipe/role", Some(json!({"role": "r", "permissions": [1, " "]})), &[]).await;
    assert_eq!((st, body.trim_end()), (400, "Field name 'permissions' is invalid in JSON input"));
    // User-id mapping applies to the user object, sign-in and sessions.
    let id = sign_up(&s, "map@example.com", "pw").await["user"]["id"].as_str().unwrap().to_string();
    let r = s
        .post(
            "/recipe/userid/map",
            json!({"superTokensUserId": id, "externalUserId": "ext-1", "externalUserIdInfo": "info"}),
        )
        .await;
    assert_eq!(r["status"], "OK");
    let dup = s.post("/recipe/userid/map", json!({"superTokensUserId": id, "externalUserId": "ext-2"})).await;
    assert_eq!(dup["status"], "USER_ID_MAPPING_ALREADY_EXISTS_ERROR");
    assert_eq!(
        s.post("/recipe/userid/map", json!({"superTokensUserId": "nope", "externalUserId": "e"})).await["status"],
        "UNKNOWN_SUPERTOKENS_USER_ID_ERROR"
    );
    let g = s.get("/recipe/userid/map?userId=ext-1&userIdType=EXTERNAL").await;
    assert_eq!((g["superTokensUserId"].as_str(), g["externalUserIdInfo"].as_str()), (Some(id.as_str()), Some("info")));
    let signin = s.post("/public/recipe/signin", json!({"email": "map@example.com", "password": "pw"})).await;
    assert_eq!(signin["user"]["id"], "ext-1");
    assert_eq!(signin["recipeUserId"], "ext-1");
    assert_eq!(s.get("/user/id?userId=ext-1").await["user"]["id"], "ext-1");
    let sess = s
        .post(
            "/public/recipe/session",
            json!({"userId": id, "enableAntiCsrf": false, "userDataInJWT": {}, "userDataInDatabase": {}}),
        )
        .await;
    assert_eq!(sess["session"]["userId"], "ext-1");
    // The access token carries the external id too, also when the app's previous session was
    // for an unmapped id (the server then signs for the id as given first) and for the next one.
    let create = |user: &str| {
        let body = json!({"userId": user, "enableAntiCsrf": false, "userDataInJWT": {}, "userDataInDatabase": {}});
        let s = &s;
        async move { s.post("/public/recipe/session", body).await }
    };
    for user in [id.as_str(), "ext-1", "not-a-user", id.as_str(), id.as_str(), "not-a-user"] {
        let sess = create(user).await;
        let claims = common::jwt_payload(sess["accessToken"]["token"].as_str().unwrap());
        let expected = if user == "not-a-user" { "not-a-user" } else { "ext-1" };
        assert_eq!((claims["sub"].as_str(), claims["rsub"].as_str()), (Some(expected), Some(expected)), "{user}");
        assert_eq!(sess["session"]["userId"], expected);
    }
    s.put("/recipe/userid/external-user-id-info", json!({"userId": "ext-1", "externalUserIdInfo": null})).await;
    assert!(s.get("/recipe/userid/map?userId=ext-1").await.get("externalUserIdInfo").is_none());
    // The sessions above are stored under "ext-1", so only a forced removal goes through.
    let removed = s.post("/recipe/userid/map/remove", json!({"userId": "ext-1", "force": true})).await;
    assert_eq!(removed["didMappingExist"], true);
    assert_eq!(s.get("/recipe/userid/map?userId=ext-1").await["status"], "UNKNOWN_MAPPING_ERROR");
    s.stop().await;
}

async fn listing_counting_and_deletion(b: Backend) {
    let Some(s) = TestServer::spawn(b, cfg()).await else { return };
    let mut ids = Vec::new();
    for i in 0..7 {
        s.clock.advance_ms(10);
        ids.push(sign_up(&s, &format!("user{i}@example.com"), "pw").await["user"]["id"].as_str().unwrap().to_string());
    }
    let page = s.get("/public/users?limit=3").await;
    let got: Vec<&str> = page["users"].as_array().unwrap().iter().map(|u| u["id"].as_str().unwrap()).collect();
    assert_eq!(got, ids[..3].iter().map(String::as_str).collect::<Vec<_>>());
    let token = page["nextPaginationToken"].as_str().unwrap().to_string();
    let page2 = s.get(&format!("/public/users?limit=3&paginationToken={token}")).await;
    assert_eq!(page2["users"][0]["id"], ids[3].as_str());
    // The token names the next page's first user (`<id>;<time joined>`, base64), as the
    // reference's does, so a token minted by a Java core continues the same way here.
    use base64::Engine;
    let joined = page2["users"][0]["timeJoined"].as_i64().unwrap();
    let expected = base64::engine::general_purpose::STANDARD.encode(format!("{};{joined}", ids[3]));
    assert_eq!(token, expected);
    let desc = s.get("/public/users?limit=2&timeJoinedOrder=DESC").await;
    assert_eq!(desc["users"][0]["id"], ids[6].as_str());
    let token = desc["nextPaginationToken"].as_str().unwrap().to_string();
    let desc2 = s.get(&format!("/public/users?limit=2&timeJoinedOrder=DESC&paginationToken={token}")).await;
    let got: Vec<&str> = desc2["users"].as_array().unwrap().iter().map(|u| u["id"].as_str().unwrap()).collect();
    assert_eq!(got, vec![ids[4].as_str(), ids[3].as_str()]);
    let search = s.get("/public/users?email=user3").await;
    assert_eq!(search["users"].as_array().unwrap().len(), 1);
    // A tag matches the start of the address or of its domain part; LIKE wildcards in a tag
    // match themselves.
    let found = |v: &serde_json::Value| v["users"].as_array().unwrap().len();
    assert_eq!(found(&s.get("/public/users?email=example").await), 7, "domain part");
    assert_eq!(found(&s.get("/public/users?email=xample").await), 0, "not any substring");
    assert_eq!(found(&s.get("/public/users?email=user_").await), 0, "`_` is literal");
    assert_eq!(found(&s.get("/public/users?email=%25").await), 0, "`%` is literal");
    assert_eq!(found(&s.get("/public/users?email=nobody;user5").await), 1, "tags are alternatives");
    let (st, body) = s.request("GET", "/public/users?paginationToken=%%%", None, &[("cdi-version", "5.4")]).await;
    assert_eq!((st, body.as_str()), (400, "invalid pagination token\n"));
    assert_eq!(s.get("/public/users/count").await["count"], 7);
    assert_eq!(s.get("/users/count?includeAllTenants=true").await["count"], 7);
    // Sessions count as activity (sign-ups did too, before the clock moved on).
    s.clock.advance_ms(st_core::activity::THROTTLE_MS);
    let since = common::START_MS + st_core::activity::THROTTLE_MS;
    assert_eq!(s.get(&format!("/users/count/active?since={since}")).await["count"], 0);
    s.post(
        "/public/recipe/session",
        json!({"userId": ids[0], "enableAntiCsrf": false, "userDataInJWT": {}, "userDataInDatabase": {}}),
    )
    .await;
    assert_eq!(s.get(&format!("/users/count/active?since={since}")).await["count"], 1);
    // Deleting a user removes every trace.
    s.put("/recipe/user/metadata", json!({"userId": ids[0], "metadataUpdate": {"a": 1}})).await;
    assert_eq!(s.post("/user/remove", json!({"userId": ids[0]})).await["status"], "OK");
    assert_eq!(s.get(&format!("/user/id?userId={}", ids[0])).await["status"], "UNKNOWN_USER_ID_ERROR");
    assert_eq!(s.get(&format!("/recipe/user/metadata?userId={}", ids[0])).await["metadata"], json!({}));
    assert_eq!(s.get(&format!("/recipe/session/user?userId={}", ids[0])).await["sessionHandles"], json!([]));
    assert_eq!(s.get("/public/users/count").await["count"], 6);
    assert_eq!(
        s.post("/public/recipe/signin", json!({"email": "user0@example.com", "password": "pw"})).await["status"],
        "WRONG_CREDENTIALS_ERROR"
    );
    assert_eq!(s.post("/user/remove", json!({"userId": "unknown"})).await["status"], "OK");
    s.stop().await;
}

async fn password_hash_import(b: Backend) {
    let Some(s) = TestServer::spawn(b, cfg()).await else { return };
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

/// §a.13 rules the reference checks before creating or removing a mapping.
async fn mapping_rules(b: Backend) {
    let Some(s) = TestServer::spawn(b, cfg()).await else { return };
    let v54 = [("cdi-version", "5.4")];
    let err = |path: &'static str, body: Value| {
        let s = &s;
        async move {
            let (st, text) = s.request("POST", path, Some(body), &v54).await;
            (st, text.trim_end().to_string())
        }
    };
    // A verified email moves to the external id with the mapping.
    let v = sign_up(&s, "ver@example.com", "pw").await["user"]["id"].as_str().unwrap().to_string();
    let tok = s.post("/public/recipe/user/email/verify/token", json!({"userId": v, "email": "ver@example.com"})).await;
    s.post("/public/recipe/user/email/verify", json!({"method": "token", "token": tok["token"]})).await;
    let r = s.post("/recipe/userid/map", json!({"superTokensUserId": v, "externalUserId": "ext-v"})).await;
    assert_eq!(r["status"], "OK");
    assert_eq!(s.get("/user/id?userId=ext-v").await["user"]["loginMethods"][0]["verified"], true);
    let q = "/recipe/user/email/verify?userId=ext-v&email=ver%40example.com";
    assert_eq!(s.get(q).await["isVerified"], true);
    // Pending verification tokens move too: consuming one verifies the external id.
    let p = sign_up(&s, "pend@example.com", "pw").await["user"]["id"].as_str().unwrap().to_string();
    let tok = s.post("/public/recipe/user/email/verify/token", json!({"userId": p, "email": "pend@example.com"})).await;
    assert_eq!(
        s.post("/recipe/userid/map", json!({"superTokensUserId": p, "externalUserId": "ext-p"})).await["status"],
        "OK"
    );
    let v = s.post("/public/recipe/user/email/verify", json!({"method": "token", "token": tok["token"]})).await;
    assert_eq!(v["userId"], "ext-p");
    assert_eq!(s.get("/recipe/userid/map?userId=%20ext-p%20").await["superTokensUserId"], p.as_str());
    let (st, text) = s
        .request(
            "PUT",
            "/recipe/userid/external-user-id-info",
            Some(json!({"userId": "ext-p", "externalUserIdInfo": " "})),
            &v54,
        )
        .await;
    assert_eq!((st, text.trim_end()), (400, "Field name 'externalUserIdInfo' cannot be an empty String"));
    // Data of another non-auth recipe under the supertokens id blocks it, unless forced.
    let m = sign_up(&s, "meta@example.com", "pw").await["user"]["id"].as_str().unwrap().to_string();
    s.put("/recipe/user/metadata", json!({"userId": m, "metadataUpdate": {"a": 1}})).await;
    let body = json!({"superTokensUserId": m, "externalUserId": "ext-m"});
    assert_eq!(
        err("/recipe/userid/map", body.clone()).await,
        (400, "UserId is already in use in UserMetadata recipe".to_string())
    );
    let forced = json!({"superTokensUserId": m, "externalUserId": "ext-m", "force": true});
    assert_eq!(s.post("/recipe/userid/map", forced).await["status"], "OK");
    // An external id that is already mapped: reported before anything else.
    let other = s.post("/recipe/userid/map", json!({"superTokensUserId": "nope", "externalUserId": "ext-m"})).await;
    assert_eq!(
        (
            other["status"].as_str(),
            other["doesSuperTokensUserIdExist"].as_bool(),
            other["doesExternalUserIdExist"].as_bool()
        ),
        (Some("USER_ID_MAPPING_ALREADY_EXISTS_ERROR"), Some(false), Some(true))
    );
    // Removing a mapping whose external id holds data is refused unless forced.
    s.put("/recipe/user/metadata", json!({"userId": "ext-m", "metadataUpdate": {"b": 2}})).await;
    assert_eq!(
        err("/recipe/userid/map/remove", json!({"userId": "ext-m"})).await,
        (400, "UserId is already in use in UserMetadata recipe".to_string())
    );
    let removed = s.post("/recipe/userid/map/remove", json!({"userId": " ext-m ", "force": true})).await;
    assert_eq!(removed["didMappingExist"], true);
    assert_eq!(s.post("/recipe/userid/map/remove", json!({"userId": "ext-m"})).await["didMappingExist"], false);
    // Roles block too; ids are trimmed and must not be empty.
    s.put("/recipe/role", json!({"role": "r"})).await;
    let r_id = sign_up(&s, "role@example.com", "pw").await["user"]["id"].as_str().unwrap().to_string();
    s.put("/public/recipe/user/role", json!({"userId": r_id, "role": "r"})).await;
    assert_eq!(
        err("/recipe/userid/map", json!({"superTokensUserId": format!(" {r_id} "), "externalUserId": "ext-r"})).await,
        (400, "UserId is already in use in UserRoles recipe".to_string())
    );
    assert_eq!(
        err("/recipe/userid/map", json!({"superTokensUserId": r_id, "externalUserId": "  "})).await,
        (400, "Field name 'externalUserId' cannot be an empty String".to_string())
    );
    assert_eq!(
        err("/recipe/userid/map", json!({"superTokensUserId": r_id, "externalUserId": "x", "externalUserIdInfo": " "}))
            .await,
        (400, "Field name 'externalUserIdInfo' cannot be an empty String".to_string())
    );
    // Activity is recorded under the primary user's supertokens id, whichever id the session
    // was created with and whether or not a mapping exists at the time: the sign-up, and both
    // sessions, write the one row of `a`.
    let before = s.get("/users/count/active?since=0").await["count"].as_u64().unwrap();
    let a = sign_up(&s, "act@example.com", "pw").await["user"]["id"].as_str().unwrap().to_string();
    s.post("/recipe/userid/map", json!({"superTokensUserId": a, "externalUserId": "ext-a"})).await;
    let session = json!({"userId": "ext-a", "enableAntiCsrf": false, "userDataInJWT": {}, "userDataInDatabase": {}});
    s.post("/public/recipe/session", session).await;
    s.post("/recipe/userid/map/remove", json!({"userId": "ext-a", "force": true})).await;
    let session = json!({"userId": a, "enableAntiCsrf": false, "userDataInJWT": {}, "userDataInDatabase": {}});
    s.post("/public/recipe/session", session).await;
    assert_eq!(s.get("/users/count/active?since=0").await["count"].as_u64().unwrap(), before + 1);
    let (st, text) = s.request("GET", "/recipe/userid/map?userId=x&userIdType=external", None, &v54).await;
    assert_eq!(
        (st, text.trim_end()),
        (400, "Field name 'userIdType' should be one of 'SUPERTOKENS', 'EXTERNAL' or 'ANY'")
    );
    s.stop().await;
}

/// Input rules of the roles and listing endpoints (§a.2, §a.12) and the `rid` fallback (§b).
async fn input_rules(b: Backend) {
    let Some(s) = TestServer::spawn(b, cfg()).await else { return };
    let v54 = [("cdi-version", "5.4")];
    let status_and_text = |method: &'static str, path: String, body: Option<Value>| {
        let s = &s;
        async move {
            let (st, text) = s.request(method, &path, body, &v54).await;
            (st, text.trim_end().to_string())
        }
    };
    // Role and permission names are trimmed; empty ones are refused.
    s.put("/recipe/role", json!({"role": " admin ", "permissions": [" read "]})).await;
    assert_eq!(s.get("/recipe/roles").await["roles"], json!(["admin"]));
    assert_eq!(s.get("/recipe/role/permissions?role=%20admin").await["permissions"], json!(["read"]));
    assert_eq!(
        status_and_text("PUT", "/recipe/role".into(), Some(json!({"role": "  "}))).await,
        (400, "Field name 'role' cannot be an empty String".to_string())
    );
    assert_eq!(
        status_and_text("PUT", "/recipe/role".into(), Some(json!({"role": "x", "permissions": ["a", " "]}))).await,
        (400, "Field name 'permissions' cannot contain an empty string".to_string())
    );
    assert_eq!(
        status_and_text("PUT", "/public/recipe/user/role".into(), Some(json!({"userId": "u", "role": ""}))).await,
        (400, "Field name 'role' cannot be an empty String".to_string())
    );
    assert_eq!(s.put("/public/recipe/user/role", json!({"userId": "u", "role": "admin "})).await["status"], "OK");
    // Listing: unknown recipe ids, limits, `since`.
    assert_eq!(
        status_and_text("GET", "/public/users?includeRecipeIds=emailpassword,foo".into(), None).await,
        (400, "Unknown recipe ID: foo".to_string())
    );
    assert_eq!(
        status_and_text("GET", "/public/users/count?includeRecipeIds=bar".into(), None).await,
        (400, "Unknown recipe ID: bar".to_string())
    );
    assert_eq!(s.get("/public/users?includeRecipeIds=thirdparty").await["users"], json!([]));
    assert_eq!(
        status_and_text("GET", "/public/users?limit=501".into(), None).await,
        (400, "max limit allowed is 500".to_string())
    );
    assert_eq!(
        status_and_text("GET", "/public/users?limit=0".into(), None).await,
        (400, "limit must a positive integer with min value 1".to_string())
    );
    assert_eq!(
        status_and_text("GET", "/users/count/active?since=-1".into(), None).await,
        (400, "'since' query parameter must be >= 0".to_string())
    );
    // Numbers as Java parses them: `since` is a long, `limit` an int, neither with blanks.
    assert_eq!(
        status_and_text("GET", "/users/count/active?since=abc".into(), None).await,
        (400, "Field name 'since' must be a long in the GET request".to_string())
    );
    for bad in ["%205", "3000000000"] {
        assert_eq!(
            status_and_text("GET", format!("/public/users?limit={bad}"), None).await,
            (400, "Field name 'limit' must be an int in the GET request".to_string())
        );
    }
    // Recipe ids in any case, as the reference's enum lookup.
    assert_eq!(s.get("/public/users?includeRecipeIds=EmailPassword").await["status"], "OK");
    assert_eq!(s.get("/public/users/count?includeRecipeIds=ThirdParty").await["count"], 0);
    // A search returns every match up to 1000 whatever `limit` says, and no pagination token.
    for i in 0..3 {
        s.clock.advance_ms(10);
        sign_up(&s, &format!("s{i}@example.com"), "pw").await;
    }
    assert_eq!(s.get("/public/users?email=s0&includeRecipeIds=thirdparty").await["users"].as_array().unwrap().len(), 1);
    let found = s.get("/public/users?email=s&limit=2").await;
    assert_eq!(found["users"].as_array().unwrap().len(), 3);
    assert!(found.get("nextPaginationToken").is_none());
    let desc = s.get("/public/users?email=example.com&timeJoinedOrder=DESC&limit=600").await;
    let emails: Vec<&str> =
        desc["users"].as_array().unwrap().iter().map(|u| u["emails"][0].as_str().unwrap()).collect();
    assert_eq!(emails, ["s2@example.com", "s1@example.com", "s0@example.com"]);
    // Tag kinds combine with AND: an emailpassword user has no phone number and no provider.
    assert_eq!(s.get("/public/users?email=s0&phone=%2B1").await["users"], json!([]));
    assert_eq!(s.get("/public/users?email=s0&provider=google").await["users"], json!([]));
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

/// A search reads at most 1000 matching login methods of each recipe (the reference's per-recipe
/// `LIMIT 1000`, whichever its scan finds first) and returns their users in order, without a
/// pagination token, whatever `limit` says.
async fn search_limit_per_recipe(b: Backend) {
    let Some(s) = TestServer::spawn(b, cfg()).await else { return };
    for i in 0..1003 {
        s.clock.advance_ms(1);
        assert_eq!(sign_up(&s, &format!("bulk{i}@example.com"), "pw").await["status"], "OK");
    }
    s.clock.advance_ms(1);
    sign_up(&s, "other@bulk.org", "pw").await;
    for (order, ascending) in [("ASC", true), ("DESC", false)] {
        let r = s.get(&format!("/public/users?email=bulk&limit=5&timeJoinedOrder={order}")).await;
        assert_eq!(r["status"], "OK");
        assert!(r.get("nextPaginationToken").is_none(), "a search has no token");
        let users = r["users"].as_array().unwrap();
        assert_eq!(users.len(), 1000, "{order}: 1000 of the 1004 matches");
        let joined: Vec<i64> = users.iter().map(|u| u["timeJoined"].as_i64().unwrap()).collect();
        let mut sorted = joined.clone();
        sorted.sort_unstable();
        if !ascending {
            sorted.reverse();
        }
        assert_eq!(joined, sorted, "{order}: in order");
        let mut distinct = joined.clone();
        distinct.dedup();
        assert_eq!(distinct.len(), 1000, "no user twice");
        for u in users {
            let email = u["emails"][0].as_str().unwrap();
            assert!(email.starts_with("bulk") || email.contains("@bulk"), "{email} matches");
        }
    }
    // Fewer matches than the limit: all of them.
    assert_eq!(
        s.get("/public/users?email=bulk100").await["users"].as_array().unwrap().len(),
        4,
        "bulk100, bulk1000-1002"
    );
    s.stop().await;
}

/// A linked group as a Java core with account linking leaves it (made here with SQL; linking is
/// not implemented). PostgreSQL only: the in-memory store has no linked users.
#[tokio::test]
async fn linked_group_on_postgres() {
    let Some(s) = TestServer::spawn(Backend::Postgres, cfg()).await else { return };
    let id_of = |v: &Value| v["user"]["id"].as_str().unwrap().to_string();
    let p = id_of(&sign_up(&s, "pat@example.com", "pw-p").await);
    s.clock.advance_ms(1);
    let m = id_of(&sign_up(&s, "max@example.com", "pw-m").await);
    s.clock.advance_ms(1);
    let z = id_of(&sign_up(&s, "zoe@example.com", "pw-z").await);
    s.clock.advance_ms(1);
    let a = id_of(&sign_up(&s, "amy@example.com", "pw-a").await);
    let url = s.db_url.clone().unwrap();
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.expect("connect");
    let task = tokio::spawn(conn);
    client
        .batch_execute(&format!(
            "UPDATE app_id_to_user_id SET primary_or_recipe_user_id = '{p}', is_linked_or_is_a_primary_user = TRUE
               WHERE user_id IN ('{p}', '{m}');
             UPDATE all_auth_recipe_users SET primary_or_recipe_user_id = '{p}', is_linked_or_is_a_primary_user = TRUE
               WHERE user_id IN ('{p}', '{m}');
             UPDATE app_id_to_user_id SET is_linked_or_is_a_primary_user = TRUE WHERE user_id = '{z}';
             UPDATE all_auth_recipe_users SET is_linked_or_is_a_primary_user = TRUE WHERE user_id = '{z}';"
        ))
        .await
        .expect("link");
    drop(client);
    let _ = task.await;
    let user = s.get(&format!("/user/id?userId={m}")).await;
    assert_eq!((user["user"]["id"].as_str(), user["user"]["isPrimaryUser"].as_bool()), (Some(p.as_str()), Some(true)));
    assert_eq!(user["user"]["loginMethods"].as_array().unwrap().len(), 2);

    // As the reference: a primary user's e-mail may not become another primary user's (zoe
    // is a primary user on her own); a user that is not primary gets the duplicate error.
    let change = s.put("/recipe/user", json!({"recipeUserId": m, "email": "Zoe@example.com"})).await;
    assert_eq!(
        change,
        json!({"status": "EMAIL_CHANGE_NOT_ALLOWED_ERROR", "reason": "New email is associated with another primary user ID"})
    );
    let change = s.put("/recipe/user", json!({"recipeUserId": a, "email": "zoe@example.com"})).await;
    assert_eq!(change["status"], "EMAIL_ALREADY_EXISTS_ERROR");
    let change = s.put("/recipe/user", json!({"recipeUserId": m, "email": "max2@example.com"})).await;
    assert_eq!(change["status"], "OK", "an e-mail no other primary user has");
    let change = s.put("/recipe/user", json!({"recipeUserId": m, "email": "max@example.com"})).await;
    assert_eq!(change["status"], "OK", "{change}");
    // The deprecated GET /recipe/user by id: that id's own e-mail-password method only, as a
    // user of its own with the group's primary flag; by e-mail: the whole group.
    let own = s.get(&format!("/recipe/user?userId={m}")).await;
    assert_eq!((own["user"]["id"].as_str(), own["user"]["isPrimaryUser"].as_bool()), (Some(m.as_str()), Some(true)));
    let methods = own["user"]["loginMethods"].as_array().unwrap();
    assert_eq!((methods.len(), methods[0]["email"].as_str()), (1, Some("max@example.com")));
    let by_email = s.get("/public/recipe/user?email=max@example.com").await;
    assert_eq!(by_email["user"]["id"].as_str(), Some(p.as_str()));
    assert_eq!(by_email["user"]["loginMethods"].as_array().unwrap().len(), 2);

    // A reset token is for the given user (the primary), as the reference.
    let t = s.post("/public/recipe/user/password/reset/token", json!({"userId": p, "email": "max@example.com"})).await;
    let c = s.post("/public/recipe/user/password/reset/token/consume", json!({"token": t["token"]})).await;
    assert_eq!((c["status"].as_str(), c["userId"].as_str()), (Some("OK"), Some(p.as_str())));
    s.put("/recipe/user/metadata", json!({"userId": p, "metadataUpdate": {"plan": "pro"}})).await;

    // Removing the primary's own login method keeps the user, its id and its metadata.
    let removed = s.post("/user/remove", json!({"userId": p, "removeAllLinkedAccounts": false})).await;
    assert_eq!(removed["status"], "OK");
    for id in [&p, &m] {
        let user = s.get(&format!("/user/id?userId={id}")).await;
        assert_eq!(user["user"]["id"].as_str(), Some(p.as_str()));
        let methods: Vec<&str> = user["user"]["loginMethods"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["recipeUserId"].as_str().unwrap())
            .collect();
        assert_eq!(methods, vec![m.as_str()]);
    }
    assert_eq!(s.get(&format!("/recipe/user/metadata?userId={p}")).await["metadata"], json!({"plan": "pro"}));
    let signin = |email: &'static str, pw: &'static str| {
        s.post("/public/recipe/signin", json!({"email": email, "password": pw}))
    };
    assert_eq!(signin("pat@example.com", "pw-p").await["status"], "WRONG_CREDENTIALS_ERROR");
    let max = signin("max@example.com", "pw-m").await;
    assert_eq!((max["status"].as_str(), max["user"]["id"].as_str()), (Some("OK"), Some(p.as_str())));
    // PUT /recipe/user needs that id's own email-password method.
    let put = |id: &str| s.put("/recipe/user", json!({"recipeUserId": id, "password": "pw-new"}));
    assert_eq!(put(&p).await["status"], "UNKNOWN_USER_ID_ERROR");
    assert_eq!(put(&m).await["status"], "OK");

    // Removing its last login method removes the user with the primary's id and data.
    let removed = s.post("/user/remove", json!({"userId": m, "removeAllLinkedAccounts": false})).await;
    assert_eq!(removed["status"], "OK");
    for id in [&p, &m] {
        assert_eq!(s.get(&format!("/user/id?userId={id}")).await["status"], "UNKNOWN_USER_ID_ERROR");
    }
    assert_eq!(s.get(&format!("/recipe/user/metadata?userId={p}")).await["metadata"], json!({}));
    s.stop().await;
}

/// Sign-up and sign-in record the user as active, as in the reference, throttled per user
/// for five minutes (`st_core::activity`); a failed sign-in does not.
async fn sign_in_and_up_record_activity(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    let window = st_core::activity::THROTTLE_MS;
    let active_since = |t: i64| {
        let s = &s;
        async move { s.get(&format!("/users/count/active?since={t}")).await["count"].clone() }
    };
    sign_up(&s, "act@example.com", "pw").await;
    assert_eq!(active_since(common::START_MS).await, 1, "sign-up");
    // (And, as the reference, an SDK placeholder address is verified from the sign-up on.)
    for (email, verified) in
        [("u1@stfakeemail.supertokens.com", true), ("u2@x.fakeemail.com", true), ("u3@fakeemail.com.au", false)]
    {
        let user = sign_up(&s, email, "pw").await;
        assert_eq!(user["user"]["loginMethods"][0]["verified"], verified, "{email}: {user}");
        let id = user["user"]["id"].as_str().unwrap();
        let v = s.get(&format!("/recipe/user/email/verify?userId={id}&email={email}")).await;
        assert_eq!(v["isVerified"], verified, "{email}: {v}");
    }
    assert_eq!(active_since(common::START_MS).await, 4);
    s.clock.advance_ms(window);
    let t1 = common::START_MS + window;
    let signin = |pw: &'static str| {
        let s = &s;
        async move { s.post("/public/recipe/signin", json!({"email": "act@example.com", "password": pw})).await }
    };
    assert_eq!(signin("wrong").await["status"], "WRONG_CREDENTIALS_ERROR");
    assert_eq!(active_since(t1).await, 0, "a failed sign-in is not activity");
    assert_eq!(signin("pw").await["status"], "OK");
    assert_eq!(active_since(t1).await, 1, "sign-in");
    s.clock.advance_ms(60_000);
    assert_eq!(signin("pw").await["status"], "OK");
    assert_eq!(active_since(t1 + 1).await, 0, "within the window: not written again");
    s.clock.advance_ms(window);
    assert_eq!(signin("pw").await["status"], "OK");
    assert_eq!(active_since(t1 + 60_000 + window).await, 1, "after the window");
    s.stop().await;
}

both_backends! {
    signup_signin_and_user_object => signup_signin_and_user_object;
    sign_in_and_up_record_activity => sign_in_and_up_record_activity;
    password_reset_and_update => password_reset_and_update;
    email_verification => email_verification;
    metadata_roles_mapping => metadata_roles_mapping;
    listing_counting_and_deletion => listing_counting_and_deletion;
    password_hash_import => password_hash_import;
    mapping_rules => mapping_rules;
    input_rules => input_rules;
    search_limit_per_recipe => search_limit_per_recipe;
}
