//! The e-mail-verification recipe over HTTP (§a.6): tokens, verification, removal, and the input
//! rules and trimming of the reference.

use crate::helpers::*;
use serde_json::json;

async fn email_verification(b: Backend) {
    let Some(s) = TestServer::spawn(b, cheap_hashing()).await else { return };
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

st_tests::both_backends! {
    email_verification => email_verification;
}
