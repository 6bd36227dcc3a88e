//! The user-id-mapping recipe over HTTP (§a.13): mappings applied to users, sign-in and sessions,
//! and the rules the reference checks before creating or removing one.

use crate::helpers::*;
use serde_json::{json, Value};

/// A mapping applies to the user object, sign-in and sessions (the access token carries the
/// external id); its info can be cleared, and a forced removal goes through.
async fn mapping_applies_to_users_and_sessions(b: Backend) {
    let Some(s) = TestServer::spawn(b, cheap_hashing()).await else { return };
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
        let claims = jwt_payload(sess["accessToken"]["token"].as_str().unwrap());
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

/// §a.13 rules the reference checks before creating or removing a mapping.
async fn mapping_rules(b: Backend) {
    let Some(s) = TestServer::spawn(b, cheap_hashing()).await else { return };
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

/// Before CDI 4.0 a verified e-mail under the supertokens id blocks a mapping like any other
/// recipe's data (`UserId is already in use in EmailVerification recipe`) unless forced; from
/// 4.0 it moves to the external id. Before 5.0 the mapping APIs ignore a non-public tenant.
async fn email_verification_blocks_a_mapping_before_4_0(b: Backend) {
    let Some(s) = TestServer::spawn(b, cheap_hashing()).await else { return };
    let verified = |email: &'static str| {
        let s = &s;
        async move {
            let id = sign_up(s, email, "pw").await["user"]["id"].as_str().unwrap().to_string();
            let tok = s.post("/public/recipe/user/email/verify/token", json!({"userId": id, "email": email})).await;
            s.post("/public/recipe/user/email/verify", json!({"method": "token", "token": tok["token"]})).await;
            id
        }
    };
    let map = |v: &'static str, body: Value| {
        let s = &s;
        async move {
            let (st, text) = s.request("POST", "/recipe/userid/map", Some(body), &[("cdi-version", v)]).await;
            (st, text.trim_end().to_string())
        }
    };
    let id = verified("old-map@example.com").await;
    for v in ["2.7", "2.21", "3.0", "3.1"] {
        assert_eq!(
            map(v, json!({"superTokensUserId": id, "externalUserId": "ext-old"})).await,
            (400, "UserId is already in use in EmailVerification recipe".to_string()),
            "{v}"
        );
    }
    let (st, text) = map("3.0", json!({"superTokensUserId": id, "externalUserId": "ext-old", "force": true})).await;
    assert_eq!((st, text.as_str()), (200, r#"{"status":"OK"}"#));
    // Forced: the verification stays with the supertokens id.
    let q = format!("/recipe/user/email/verify?userId={id}&email=old-map%40example.com");
    assert_eq!(s.get(&q).await["isVerified"], true);
    let id = verified("new-map@example.com").await;
    let (st, _) = map("4.0", json!({"superTokensUserId": id, "externalUserId": "ext-new"})).await;
    assert_eq!(st, 200);
    assert_eq!(s.get("/recipe/user/email/verify?userId=ext-new&email=new-map%40example.com").await["isVerified"], true);
    // App-wide: a non-public tenant in the path is ignored before 5.0, refused from 5.0.
    s.put("/recipe/multitenancy/tenant/v2", json!({"tenantId": "t1"})).await;
    let (st, text) = s.request("GET", "/t1/recipe/userid/map?userId=ext-new", None, &[("cdi-version", "4.0")]).await;
    assert_eq!(st, 200, "{text}");
    assert!(text.contains(&id), "{text}");
    let (st, _) = s.request("GET", "/t1/recipe/userid/map?userId=ext-new", None, &[("cdi-version", "5.0")]).await;
    assert_eq!(st, 403);
    s.stop().await;
}

st_tests::both_backends! {
    mapping_applies_to_users_and_sessions => mapping_applies_to_users_and_sessions;
    mapping_rules => mapping_rules;
    email_verification_blocks_a_mapping_before_4_0 => email_verification_blocks_a_mapping_before_4_0;
}
