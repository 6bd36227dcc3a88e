//! Input the reference schema cannot store (issue 25): a NUL character in any string, or a stored
//! string longer than its column, is refused at the edge with a 400 naming the field, on both
//! backends alike (PostgreSQL would answer 500, the memory store 200). What the schema does
//! store is still accepted: JSON values holding `\u0000` (kept as serialised text), passwords
//! with a NUL (only their hash is kept), overlong values in look-ups (nothing is written).
//! See docs/COMPATIBILITY.md, "Input the schema cannot store".

use crate::helpers::*;
use serde_json::json;

st_tests::both_backends! {
    nul_characters_are_refused_naming_the_field => nul_characters_are_refused_naming_the_field;
    stored_strings_longer_than_their_column_are_refused => stored_strings_longer_than_their_column_are_refused;
    what_the_schema_stores_is_accepted => what_the_schema_stores_is_accepted;
}

async fn nul_characters_are_refused_naming_the_field(backend: Backend) {
    let Some(s) = TestServer::spawn(backend, cheap_hashing()).await else { return };
    let nul = |field: &str| format!("{field} must not contain a NUL character");
    let cases = [
        ("POST", "/recipe/signup", json!({"email": "a\u{0}b@x.com", "password": "pw123456"}), "email"),
        ("POST", "/recipe/signin", json!({"email": "a\u{0}b@x.com", "password": "pw123456"}), "email"),
        (
            "POST",
            "/recipe/session",
            json!({"userId": "u\u{0}", "userDataInJWT": {}, "userDataInDatabase": {}, "enableAntiCsrf": false}),
            "userId",
        ),
        ("PUT", "/recipe/user/metadata", json!({"userId": "u\u{0}", "metadataUpdate": {}}), "userId"),
        ("PUT", "/recipe/role", json!({"role": "r\u{0}", "permissions": []}), "role"),
        ("PUT", "/recipe/role", json!({"role": "r", "permissions": ["p\u{0}"]}), "permissions"),
        ("POST", "/recipe/user/metadata/bulk", json!({"userIds": ["a", "b\u{0}"]}), "userIds"),
        (
            "POST",
            "/recipe/userid/map",
            json!({"superTokensUserId": "s", "externalUserId": "e", "externalUserIdInfo": "i\u{0}j"}),
            "externalUserIdInfo",
        ),
        (
            "PUT",
            "/recipe/multitenancy/config/thirdparty",
            json!({"config": {"thirdPartyId": "custom", "clients": [{"clientId": "c\u{0}"}]}}),
            "Invalid third party config: clientId",
        ),
    ];
    for (method, path, body, field) in cases {
        let (status, text) = s.status_and_text(method, path, Some(body)).await;
        assert_eq!((status, text.as_str()), (400, nul(field).as_str()), "{method} {path}");
    }
    // A NUL in a query parameter (`%00`), whichever handler would read it.
    let (status, text) = s.status_and_text("GET", "/recipe/user?email=a%00b%40x.com", None).await;
    assert_eq!((status, text.as_str()), (400, nul("email").as_str()));
    let (status, text) = s.status_and_text("GET", "/recipe/user/metadata?userId=u%00", None).await;
    assert_eq!((status, text.as_str()), (400, nul("userId").as_str()));
    // Nothing was written.
    assert_eq!(s.get("/users/count").await["count"], 0);
    assert_eq!(s.get("/recipe/roles").await["roles"], json!([]));
}

async fn stored_strings_longer_than_their_column_are_refused(backend: Backend) {
    let Some(s) = TestServer::spawn(backend, cheap_hashing()).await else { return };
    let long = |field: &str, max: usize| format!("{field} must be at most {max} characters long");
    let email = |n: usize| format!("{}@example.com", "a".repeat(n - 12));
    // user_id VARCHAR(128): 128 characters are stored, 129 are not.
    let session =
        |user: String| json!({"userId": user, "userDataInJWT": {}, "userDataInDatabase": {}, "enableAntiCsrf": false});
    s.post("/recipe/session", session("u".repeat(128))).await;
    let (status, text) = s.status_and_text("POST", "/recipe/session", Some(session("u".repeat(129)))).await;
    assert_eq!((status, text), (400, long("userId", 128)));
    // Characters, not bytes (VARCHAR(n) counts characters).
    s.post("/recipe/session", session("é".repeat(128))).await;
    // email VARCHAR(256).
    assert_eq!(s.post("/recipe/signup", json!({"email": email(256), "password": "pw123456"})).await["status"], "OK");
    let (status, text) =
        s.status_and_text("POST", "/recipe/signup", Some(json!({"email": email(257), "password": "pw123456"}))).await;
    assert_eq!((status, text), (400, long("email", 256)));
    let cases = [
        ("PUT", "/recipe/user/metadata", json!({"userId": "u".repeat(129), "metadataUpdate": {}}), long("userId", 128)),
        ("PUT", "/recipe/role", json!({"role": "r".repeat(256)}), long("role", 255)),
        ("PUT", "/recipe/role", json!({"role": "r", "permissions": ["p".repeat(256)]}), long("permissions", 255)),
        (
            "POST",
            "/recipe/signinup",
            json!({"thirdPartyId": "t".repeat(29), "thirdPartyUserId": "x", "email": {"id": "a@b.c", "isVerified": true}}),
            long("thirdPartyId", 28),
        ),
        (
            "POST",
            "/recipe/signinup",
            json!({"thirdPartyId": "google", "thirdPartyUserId": "x".repeat(257), "email": {"id": "a@b.c", "isVerified": true}}),
            long("thirdPartyUserId", 256),
        ),
        (
            "POST",
            "/recipe/signinup",
            json!({"thirdPartyId": "google", "thirdPartyUserId": "x", "email": {"id": email(257), "isVerified": true}}),
            long("email", 256),
        ),
        ("POST", "/recipe/signinup/code", json!({"email": email(257)}), long("email", 256)),
        (
            "POST",
            "/recipe/user/email/verify/token",
            json!({"userId": "u".repeat(129), "email": "a@b.c"}),
            long("userId", 128),
        ),
        (
            "POST",
            "/recipe/userid/map",
            json!({"superTokensUserId": "s", "externalUserId": "e".repeat(129)}),
            long("externalUserId", 128),
        ),
        ("POST", "/recipe/totp/device", json!({"userId": "u", "deviceName": "d".repeat(257)}), long("deviceName", 256)),
        (
            "PUT",
            "/recipe/multitenancy/config/thirdparty",
            json!({"config": {"thirdPartyId": "custom", "name": "n".repeat(65)}}),
            format!("Invalid third party config: {}", long("name", 64)),
        ),
    ];
    for (method, path, body, want) in cases {
        let (status, text) = s.status_and_text(method, path, Some(body)).await;
        assert_eq!((status, text.as_str()), (400, want.as_str()), "{method} {path}");
    }
    assert_eq!(s.get("/recipe/roles").await["roles"], json!([]));
}

async fn what_the_schema_stores_is_accepted(backend: Backend) {
    let Some(s) = TestServer::spawn(backend, cheap_hashing()).await else { return };
    // JSON values are stored as text, where a NUL is the escape `\u0000`.
    let update = json!({"k\u{0}": "v\u{0}", "n": [1, "\u{0}"]});
    s.put("/recipe/user/metadata", json!({"userId": "u1", "metadataUpdate": update})).await;
    assert_eq!(s.get("/recipe/user/metadata?userId=u1").await["metadata"], update);
    let created = s
        .post(
            "/recipe/session",
            json!({"userId": "u1", "userDataInJWT": {"a": "\u{0}"}, "userDataInDatabase": {"b": "\u{0}"}, "enableAntiCsrf": false}),
        )
        .await;
    let handle = handle(&created);
    assert_eq!(
        s.get(&format!("/recipe/session?sessionHandle={handle}")).await["userDataInDatabase"],
        json!({"b": "\u{0}"})
    );
    // A password is hashed: a NUL in it is no problem, and signs in.
    assert_eq!(
        s.post("/recipe/signup", json!({"email": "p@x.com", "password": "pw\u{0}123456"})).await["status"],
        "OK"
    );
    assert_eq!(
        s.post("/recipe/signin", json!({"email": "p@x.com", "password": "pw\u{0}123456"})).await["status"],
        "OK"
    );
    assert_eq!(
        s.post("/recipe/signin", json!({"email": "p@x.com", "password": "pw"})).await["status"],
        "WRONG_CREDENTIALS_ERROR"
    );
    // Look-ups of overlong values write nothing: answered as the reference answers them.
    let id = "u".repeat(300);
    assert_eq!(s.get(&format!("/user/id?userId={id}")).await["status"], "UNKNOWN_USER_ID_ERROR");
    assert_eq!(s.get(&format!("/recipe/user/metadata?userId={id}")).await["metadata"], json!({}));
    assert_eq!(
        s.post("/recipe/signin", json!({"email": "e".repeat(300), "password": "pw"})).await["status"],
        "WRONG_CREDENTIALS_ERROR"
    );
}
