//! The dashboard recipe over HTTP (§a.16): its users (the e-mail check and the password rule
//! with the reference's messages, no free-user cap), updates that revoke sessions, removal,
//! sign-in with 30-day sessions (verified, listed, revoked, expired, swept by the cron job),
//! the reference's input order and version branch, and the tenant's core config with the
//! reference's metadata; on PostgreSQL, rows a Java core wrote (bcrypt and argon2 hashes) and
//! the rows written here.

use crate::helpers::*;
use serde_json::{json, Value};
use st_core::clock::Clock;
use st_core::jobs::run_once;
use st_core::stats::JobStats;

const RID: (&str, &str) = ("rid", "dashboard");
const DAY_MS: i64 = 24 * 3600 * 1000;

/// A request at CDI `v` (with the SDKs' `rid: dashboard`): (status, text without the newline).
async fn at_version(s: &TestServer, v: &str, method: &str, path: &str, body: Option<Value>) -> (u16, String) {
    let (st, text) = s.request(method, path, body, &[("cdi-version", v), RID]).await;
    (st, text.trim_end().to_string())
}

/// A request at CDI `v` that must answer 200 with JSON.
async fn json_at(s: &TestServer, v: &str, method: &str, path: &str, body: Option<Value>) -> Value {
    let (st, text) = at_version(s, v, method, path, body).await;
    assert_eq!(st, 200, "{v} {method} {path}: {text}");
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
}

async fn call(s: &TestServer, method: &str, path: &str, body: Option<Value>) -> Value {
    json_at(s, "5.4", method, path, body).await
}

/// A CDI 5.4 request that must fail: (status, text).
async fn fails(s: &TestServer, method: &str, path: &str, body: Option<Value>) -> (u16, String) {
    at_version(s, "5.4", method, path, body).await
}

fn bad(text: &str) -> (u16, String) {
    (400, text.to_string())
}

async fn create(s: &TestServer, email: &str, password: &str) -> Value {
    call(s, "POST", "/recipe/dashboard/user", Some(json!({"email": email, "password": password}))).await
}

async fn created(s: &TestServer, email: &str, password: &str) -> Value {
    let r = create(s, email, password).await;
    assert_eq!(r["status"], "OK", "{r}");
    r["user"].clone()
}

async fn sign_in(s: &TestServer, email: &str, password: &str) -> Value {
    call(s, "POST", "/recipe/dashboard/signin", Some(json!({"email": email, "password": password}))).await
}

async fn session_of(s: &TestServer, email: &str, password: &str) -> String {
    let r = sign_in(s, email, password).await;
    assert_eq!(r["status"], "OK", "{r}");
    r["sessionId"].as_str().unwrap().to_string()
}

async fn verify(s: &TestServer, session_id: &str) -> Value {
    call(s, "POST", "/recipe/dashboard/session/verify", Some(json!({"sessionId": session_id}))).await
}

async fn sessions(s: &TestServer, user_id: &str) -> Vec<Value> {
    let r = call(s, "GET", &format!("/recipe/dashboard/user/sessions?userId={user_id}"), None).await;
    r["sessions"].as_array().unwrap().clone()
}

async fn users(s: &TestServer) -> Vec<Value> {
    call(s, "GET", "/recipe/dashboard/users", None).await["users"].as_array().unwrap().clone()
}

async fn update(s: &TestServer, body: Value) -> Value {
    call(s, "PUT", "/recipe/dashboard/user", Some(body)).await
}

fn id_of(user: &Value) -> String {
    user["userId"].as_str().unwrap().to_string()
}

/// Users: created with a normalised e-mail (any number of them), the e-mail checked before the
/// password, the password rule, listed oldest first, updated by id or e-mail, removed.
async fn users_created_listed_updated_and_removed(b: Backend) {
    let Some(s) = TestServer::spawn(b, cheap_hashing()).await else { return };
    let r = create(&s, "  Admin@Example.COM ", " password123 ").await;
    assert_eq!(keys_of(&r), set(&["status", "user"]));
    let admin = r["user"].clone();
    assert_eq!(keys_of(&admin), set(&["email", "userId", "timeJoined"]));
    assert_eq!(admin["email"], "admin@example.com");
    assert!(is_uuid(admin["userId"].as_str().unwrap()), "{admin}");
    assert_eq!(admin["timeJoined"], START_MS);
    assert_eq!(
        serde_json::to_string(&r).unwrap(),
        format!(
            r#"{{"status":"OK","user":{{"email":"admin@example.com","userId":"{}","timeJoined":{START_MS}}}}}"#,
            id_of(&admin)
        ),
        "the reference's key order"
    );
    assert_eq!(create(&s, "ADMIN@example.com", "password123").await, json!({"status": "EMAIL_ALREADY_EXISTS_ERROR"}));
    // The e-mail is checked before the password is read.
    let r = call(&s, "POST", "/recipe/dashboard/user", Some(json!({"email": "not-an-email"}))).await;
    assert_eq!(r, json!({"status": "INVALID_EMAIL_ERROR"}));
    for email in ["a@b", "a@b.c", "@b.co", "a\n@b.co"] {
        assert_eq!(create(&s, email, "password123").await, json!({"status": "INVALID_EMAIL_ERROR"}), "{email:?}");
    }
    let long = "a1".repeat(50);
    for (password, message) in [
        ("pass1", "Password must contain at least 8 characters, including a number"),
        ("  pass123  ", "Password must contain at least 8 characters, including a number"),
        (long.as_str(), "Password's length must be lesser than 100 characters"),
        ("12345678", "Password must contain at least one alphabet"),
        ("password", "Password must contain at least one number"),
    ] {
        let r = create(&s, "weak@example.com", password).await;
        assert_eq!(r, json!({"status": "PASSWORD_WEAK_ERROR", "message": message}), "{password:?}");
    }
    // No free-user cap: every paid feature is on.
    let mut ids = vec![id_of(&admin)];
    for i in 1..=4 {
        s.clock.advance_ms(1000);
        ids.push(id_of(&created(&s, &format!("user{i}@example.com"), "password123").await));
    }
    let listed = users(&s).await;
    assert_eq!(listed.iter().map(id_of).collect::<Vec<_>>(), ids, "oldest first");
    assert_eq!(listed[4]["timeJoined"], START_MS + 4000);
    // Updates: by id, by e-mail; the new e-mail is normalised.
    let r = update(&s, json!({"userId": ids[1], "newEmail": " New1@Example.com "})).await;
    assert_eq!(
        r,
        json!({"status": "OK", "user": {"email": "new1@example.com", "userId": ids[1], "timeJoined": START_MS + 1000}})
    );
    let r = update(&s, json!({"email": "USER2@example.com", "newPassword": "newpass123"})).await;
    assert_eq!(r["user"]["userId"], ids[2].as_str());
    assert_eq!(sign_in(&s, "user2@example.com", "password123").await["status"], "INVALID_CREDENTIALS_ERROR");
    assert_eq!(sign_in(&s, "user2@example.com", "newpass123").await["status"], "OK");
    // `userId` wins over `email`.
    let r = update(&s, json!({"userId": ids[3], "email": "user4@example.com", "newEmail": "three@example.com"})).await;
    assert_eq!(r["user"]["userId"], ids[3].as_str());
    let taken = update(&s, json!({"userId": ids[3], "newEmail": "admin@example.com"})).await;
    assert_eq!(taken, json!({"status": "EMAIL_ALREADY_EXISTS_ERROR"}));
    let same = update(&s, json!({"userId": ids[3], "newEmail": "three@example.com"})).await;
    assert_eq!(same["status"], "OK", "its own e-mail");
    let unknown = json!({"status": "UNKNOWN_USER_ERROR"});
    assert_eq!(update(&s, json!({"userId": "nope", "newEmail": "x@example.com"})).await, unknown);
    assert_eq!(update(&s, json!({"userId": "nope"})).await, unknown, "nothing to change");
    assert_eq!(update(&s, json!({"email": "nobody@example.com", "newPassword": "password123"})).await, unknown);
    assert_eq!(
        update(&s, json!({"userId": ids[3], "newEmail": "bad"})).await,
        json!({"status": "INVALID_EMAIL_ERROR"})
    );
    let weak = update(&s, json!({"userId": ids[3], "newPassword": "weak"})).await;
    assert_eq!(weak["status"], "PASSWORD_WEAK_ERROR");
    let neither = "Either field 'email' or 'userId' must be present";
    assert_eq!(
        fails(&s, "PUT", "/recipe/dashboard/user", Some(json!({"newEmail": "z@example.com"}))).await,
        bad(neither)
    );
    // Removal, by id or e-mail.
    let remove = |q: String| {
        let s = &s;
        async move { call(s, "DELETE", &format!("/recipe/dashboard/user?{q}"), None).await }
    };
    assert_eq!(remove(format!("userId={}", ids[4])).await, json!({"status": "OK", "didUserExist": true}));
    assert_eq!(remove(format!("userId={}", ids[4])).await, json!({"status": "OK", "didUserExist": false}));
    assert_eq!(remove("email=%20New1%40EXAMPLE.com".into()).await, json!({"status": "OK", "didUserExist": true}));
    assert_eq!(remove("email=new1%40example.com".into()).await, json!({"status": "OK", "didUserExist": false}));
    assert_eq!(fails(&s, "DELETE", "/recipe/dashboard/user", None).await, bad(neither));
    assert_eq!(users(&s).await.len(), 3);
    s.stop().await;
}

/// Sign-in: a 30-day session (a UUID from the CSPRNG), verified with the user's e-mail, listed,
/// revoked; wrong credentials alike for an unknown e-mail and a wrong password; an update or
/// a removal of the user revokes its sessions; expired sessions are refused and swept by the
/// cron job.
async fn sign_in_and_sessions(b: Backend) {
    let Some(s) = TestServer::spawn(b, cheap_hashing()).await else { return };
    let user = created(&s, "admin@example.com", "password123").await;
    let other = created(&s, "other@example.com", "password123").await;
    let invalid = json!({"status": "INVALID_CREDENTIALS_ERROR"});
    assert_eq!(sign_in(&s, "admin@example.com", "password124").await, invalid);
    assert_eq!(sign_in(&s, "nobody@example.com", "password123").await, invalid);
    let r = sign_in(&s, " ADMIN@example.com ", " password123 ").await;
    assert_eq!(keys_of(&r), set(&["status", "sessionId"]));
    let first = r["sessionId"].as_str().unwrap().to_string();
    assert!(is_uuid(&first), "{first}");
    s.clock.advance_ms(1000);
    let second = session_of(&s, "admin@example.com", "password123").await;
    assert_ne!(first, second);
    let theirs = session_of(&s, "other@example.com", "password123").await;
    assert_eq!(verify(&s, &first).await, json!({"status": "OK", "email": "admin@example.com"}));
    assert_eq!(verify(&s, &format!("  {second} ")).await["status"], "OK", "trimmed");
    let invalid_session = json!({"status": "INVALID_SESSION_ERROR"});
    assert_eq!(verify(&s, "not-a-session").await, invalid_session);
    let listed = sessions(&s, &id_of(&user)).await;
    assert_eq!(
        listed,
        vec![
            json!({"userId": id_of(&user), "sessionId": first, "timeCreated": START_MS, "expiry": START_MS + 30 * DAY_MS}),
            json!({"userId": id_of(&user), "sessionId": second, "timeCreated": START_MS + 1000, "expiry": START_MS + 1000 + 30 * DAY_MS}),
        ]
    );
    assert!(sessions(&s, "nobody").await.is_empty());
    // Revocation: OK whether or not it existed.
    assert_eq!(
        call(&s, "DELETE", &format!("/recipe/dashboard/session?sessionId={first}"), None).await,
        json!({"status": "OK"})
    );
    assert_eq!(
        call(&s, "DELETE", &format!("/recipe/dashboard/session?sessionId={first}"), None).await,
        json!({"status": "OK"})
    );
    assert_eq!(verify(&s, &first).await, invalid_session);
    // Valid until its expiry, refused after it, and swept by the cron job.
    s.clock.set_ms(START_MS + 1000 + 30 * DAY_MS);
    assert_eq!(verify(&s, &second).await["status"], "OK");
    s.clock.advance_ms(1);
    assert_eq!(verify(&s, &second).await, invalid_session, "expired");
    assert_eq!(sessions(&s, &id_of(&user)).await.len(), 1, "listed until the cron job runs, as the reference");
    let job = st_core::dashboard::DELETE_EXPIRED_DASHBOARD_SESSIONS;
    assert_eq!(job.interval.as_secs(), 12 * 3600);
    let stats = JobStats::default();
    run_once(&s.core, &job, &stats).await;
    assert_eq!(stats.failures.load(std::sync::atomic::Ordering::Relaxed), 0);
    assert!(sessions(&s, &id_of(&user)).await.is_empty());
    assert!(sessions(&s, &id_of(&other)).await.is_empty(), "expired too");
    assert_eq!(verify(&s, &theirs).await, invalid_session);
    // Any update revokes the user's sessions (even one that changes nothing), not others'.
    let a = session_of(&s, "admin@example.com", "password123").await;
    let o = session_of(&s, "other@example.com", "password123").await;
    assert_eq!(update(&s, json!({"userId": id_of(&user)})).await["status"], "OK");
    assert_eq!(verify(&s, &a).await, invalid_session);
    assert_eq!(verify(&s, &o).await["status"], "OK");
    let a = session_of(&s, "admin@example.com", "password123").await;
    update(&s, json!({"userId": id_of(&user), "newEmail": "boss@example.com"})).await;
    assert_eq!(verify(&s, &a).await, invalid_session);
    let a = session_of(&s, "boss@example.com", "password123").await;
    assert_eq!(verify(&s, &a).await, json!({"status": "OK", "email": "boss@example.com"}));
    // A removed user's sessions go with it.
    call(&s, "DELETE", &format!("/recipe/dashboard/user?userId={}", id_of(&user)), None).await;
    assert_eq!(verify(&s, &a).await, invalid_session);
    assert_eq!(sign_in(&s, "boss@example.com", "password123").await, invalid);
    assert!(s.clock.now_ms() > START_MS);
    s.stop().await;
}

/// Input errors come first, then an unknown app (400), then a non-public tenant (403 from CDI
/// 5.0; ignored before); the session's e-mail is answered from CDI 3.0.
async fn order_of_checks_and_versions(b: Backend) {
    let Some(s) = TestServer::spawn(b, cheap_hashing()).await else { return };
    s.put("/recipe/multitenancy/tenant/v2", json!({"tenantId": "t1"})).await;
    s.put("/recipe/multitenancy/app/v2", json!({"appId": "a1"})).await;
    created(&s, "admin@example.com", "password123").await;
    // Before the app check: business statuses and 400s.
    let body = json!({"email": "nope", "password": "password123"});
    let r = call(&s, "POST", "/appid-nope/recipe/dashboard/user", Some(body)).await;
    assert_eq!(r, json!({"status": "INVALID_EMAIL_ERROR"}));
    let body = json!({"email": "a@example.com", "password": "weak"});
    assert_eq!(call(&s, "POST", "/t1/recipe/dashboard/user", Some(body)).await["status"], "PASSWORD_WEAK_ERROR");
    let (st, text) = fails(&s, "POST", "/appid-nope/recipe/dashboard/signin", Some(json!({"email": "a@b.co"}))).await;
    assert_eq!((st, text.as_str()), (400, "Field name 'password' is invalid in JSON input"));
    // Then the app.
    let app_missing =
        "AppId or tenantId not found => App with the following connectionURIDomain and appId combination \
                       not found: (, nope)";
    let body = json!({"email": "a@example.com", "password": "password123"});
    let (st, text) = fails(&s, "POST", "/appid-nope/recipe/dashboard/user", Some(body.clone())).await;
    assert_eq!((st, text.as_str()), (400, app_missing));
    let (st, text) = fails(&s, "GET", "/appid-nope/t1/recipe/dashboard/users", None).await;
    assert_eq!((st, text.as_str()), (400, app_missing), "the app before the tenant");
    // Then, from 5.0, the public tenant.
    let only_public = (403, "Only public tenantId can call this app specific API".to_string());
    assert_eq!(fails(&s, "POST", "/t1/recipe/dashboard/user", Some(body.clone())).await, only_public);
    assert_eq!(fails(&s, "GET", "/t1/recipe/dashboard/users", None).await, only_public);
    let signin = json!({"email": "admin@example.com", "password": "password123"});
    assert_eq!(fails(&s, "POST", "/t1/recipe/dashboard/signin", Some(signin.clone())).await, only_public);
    // Before 5.0 the tenant segment is ignored (even an unknown one): the app's users.
    let r = json_at(&s, "4.0", "POST", "/t1/recipe/dashboard/signin", Some(signin.clone())).await;
    assert_eq!(r["status"], "OK");
    let r = json_at(&s, "3.0", "GET", "/unknown/recipe/dashboard/users", None).await;
    assert_eq!(r["users"].as_array().unwrap().len(), 1);
    // Below 3.0 there are no tenants.
    assert_eq!(at_version(&s, "2.21", "GET", "/t1/recipe/dashboard/users", None).await.0, 404);
    // Apps are separate: the same e-mail in another app, and no sign-in across apps.
    assert_eq!(
        call(&s, "POST", "/appid-a1/recipe/dashboard/signin", Some(signin.clone())).await["status"],
        "INVALID_CREDENTIALS_ERROR"
    );
    let r = call(
        &s,
        "POST",
        "/appid-a1/recipe/dashboard/user",
        Some(json!({"email": "admin@example.com", "password": "other1234"})),
    )
    .await;
    assert_eq!(r["status"], "OK");
    let theirs = call(
        &s,
        "POST",
        "/appid-a1/recipe/dashboard/signin",
        Some(json!({"email": "admin@example.com", "password": "other1234"})),
    )
    .await;
    let theirs = theirs["sessionId"].as_str().unwrap();
    assert_eq!(verify(&s, theirs).await["status"], "INVALID_SESSION_ERROR", "another app's session");
    let r = call(&s, "POST", "/appid-a1/recipe/dashboard/session/verify", Some(json!({"sessionId": theirs}))).await;
    assert_eq!(r["status"], "OK");
    // The e-mail from 3.0.
    let session = session_of(&s, "admin@example.com", "password123").await;
    for (v, with_email) in [("2.7", false), ("2.21", false), ("3.0", true), ("4.0", true), ("5.0", true), ("5.6", true)]
    {
        let r = json_at(&s, v, "POST", "/recipe/dashboard/session/verify", Some(json!({"sessionId": session}))).await;
        let expected =
            if with_email { json!({"status": "OK", "email": "admin@example.com"}) } else { json!({"status": "OK"}) };
        assert_eq!(r, expected, "CDI {v}");
        let r = json_at(&s, v, "POST", "/recipe/dashboard/session/verify", Some(json!({"sessionId": "x"}))).await;
        assert_eq!(r, json!({"status": "INVALID_SESSION_ERROR"}), "CDI {v}");
    }
    // Without a cdi-version header: the newest.
    let (st, text) =
        s.request("POST", "/recipe/dashboard/session/verify", Some(json!({"sessionId": session})), &[]).await;
    assert_eq!((st, serde_json::from_str::<Value>(&text).unwrap()["email"].clone()), (200, json!("admin@example.com")));
    s.stop().await;
}

/// The reference's 400s for bad input, and what nothing stored can match.
async fn bad_input(b: Backend) {
    let Some(s) = TestServer::spawn(b, cheap_hashing()).await else { return };
    let user = "/recipe/dashboard/user";
    assert_eq!(
        fails(&s, "POST", user, Some(json!({"password": "password123"}))).await,
        bad("Field name 'email' is invalid in JSON input")
    );
    assert_eq!(
        fails(&s, "POST", user, Some(json!({"email": 1}))).await,
        bad("Field name 'email' is invalid in JSON input")
    );
    assert_eq!(
        fails(&s, "POST", user, Some(json!({"email": "  "}))).await,
        bad("Field name 'email' cannot be an empty String")
    );
    assert_eq!(
        fails(&s, "POST", user, Some(json!({"email": "a@b.co", "password": " "}))).await,
        bad("Field name 'password' cannot be an empty String")
    );
    assert_eq!(
        fails(&s, "POST", user, Some(json!({"email": "a@b.co"}))).await,
        bad("Field name 'password' is invalid in JSON input")
    );
    let (st, text) = s.request("POST", user, None, &[("cdi-version", "5.4")]).await;
    assert_eq!((st, text.trim_end()), (400, "Invalid Json Input"));
    assert_eq!(
        fails(&s, "PUT", user, Some(json!({"newEmail": ""}))).await,
        bad("Field name 'newEmail' cannot be an empty String")
    );
    assert_eq!(
        fails(&s, "PUT", user, Some(json!({"newPassword": null}))).await,
        bad("Field name 'newPassword' is invalid in JSON input")
    );
    assert_eq!(
        fails(&s, "PUT", user, Some(json!({"userId": " "}))).await,
        bad("Field name 'userId' cannot be an empty String")
    );
    assert_eq!(
        fails(&s, "PUT", user, Some(json!({"email": ""}))).await,
        bad("Field name 'email' cannot be an empty String")
    );
    assert_eq!(
        fails(&s, "DELETE", &format!("{user}?userId="), None).await,
        bad("Field name 'userId' cannot be an empty String")
    );
    assert_eq!(
        fails(&s, "DELETE", &format!("{user}?email=%20"), None).await,
        bad("Field name 'email' cannot be an empty String")
    );
    let signin = "/recipe/dashboard/signin";
    assert_eq!(
        fails(&s, "POST", signin, Some(json!({"email": "", "password": "x"}))).await,
        bad("Field name 'email' cannot be an empty String")
    );
    assert_eq!(
        fails(&s, "POST", signin, Some(json!({"email": "a@b.co", "password": ""}))).await,
        bad("Field name 'password' cannot be an empty String")
    );
    let verify_path = "/recipe/dashboard/session/verify";
    assert_eq!(
        fails(&s, "POST", verify_path, Some(json!({}))).await,
        bad("Field name 'sessionId' is invalid in JSON input")
    );
    assert_eq!(
        fails(&s, "POST", verify_path, Some(json!({"sessionId": " "}))).await,
        bad("Field name 'sessionId' cannot be an empty String")
    );
    assert_eq!(
        fails(&s, "DELETE", "/recipe/dashboard/session", None).await,
        bad("Field name 'sessionId' is missing in GET request")
    );
    assert_eq!(
        fails(&s, "DELETE", "/recipe/dashboard/session?sessionId=", None).await,
        bad("Field name 'sessionId' cannot be an empty String")
    );
    assert_eq!(
        fails(&s, "GET", "/recipe/dashboard/user/sessions", None).await,
        bad("Field name 'userId' is missing in GET request")
    );
    // Methods the paths do not serve.
    assert_eq!(fails(&s, "GET", user, None).await.0, 405);
    assert_eq!(fails(&s, "POST", "/recipe/dashboard/session", Some(json!({}))).await.0, 405);
    // What PostgreSQL cannot store is refused on both backends; what nothing stored can match
    // finds nothing.
    let long = format!("{}@b.co", "a".repeat(252));
    assert_eq!(
        fails(&s, "POST", user, Some(json!({"email": long, "password": "password123"}))).await,
        bad("email must be at most 256 characters long")
    );
    assert_eq!(
        fails(&s, "POST", user, Some(json!({"email": "a\u{0}b@c.de", "password": "password123"}))).await,
        bad("email must not contain a NUL character")
    );
    let admin = created(&s, "admin@example.com", "password123").await;
    assert_eq!(
        fails(&s, "PUT", user, Some(json!({"userId": id_of(&admin), "newEmail": long}))).await,
        bad("newEmail must be at most 256 characters long")
    );
    assert_eq!(sign_in(&s, "a\u{0}b@c.de", "password123").await["status"], "INVALID_CREDENTIALS_ERROR");
    assert_eq!(verify(&s, "a\u{0}b").await["status"], "INVALID_SESSION_ERROR");
    assert!(sessions(&s, "a%00b").await.is_empty());
    assert_eq!(call(&s, "DELETE", "/recipe/dashboard/session?sessionId=a%00b", None).await, json!({"status": "OK"}));
    assert_eq!(call(&s, "DELETE", "/recipe/dashboard/user?userId=a%00b", None).await["didUserExist"], false);
    assert_eq!(call(&s, "DELETE", "/recipe/dashboard/user?email=a%00b", None).await["didUserExist"], false);
    assert_eq!(
        update(&s, json!({"userId": "a\u{0}b", "newPassword": "password123"})).await["status"],
        "UNKNOWN_USER_ERROR"
    );
    assert_eq!(update(&s, json!({"email": "a\u{0}b@c.de"})).await["status"], "UNKNOWN_USER_ERROR");
    assert_eq!(users(&s).await.len(), 1);
    s.stop().await;
}

/// Dashboard passwords are hashed as the app hashes e-mail-password passwords: argon2id with
/// `ARGON2` (checked by signing in; the PostgreSQL test reads the rows).
async fn argon2_when_configured(b: Backend) {
    let config = json!({"password_hashing_alg": "ARGON2", "argon2_memory_kb": 64, "argon2_iterations": 1, "argon2_parallelism": 1});
    let Some(s) = TestServer::spawn(b, config).await else { return };
    created(&s, "admin@example.com", "password123").await;
    assert_eq!(sign_in(&s, "admin@example.com", "password123").await["status"], "OK");
    assert_eq!(sign_in(&s, "admin@example.com", "password12").await["status"], "INVALID_CREDENTIALS_ERROR");
    assert_eq!(sign_in(&s, "nobody@example.com", "password123").await["status"], "INVALID_CREDENTIALS_ERROR");
    s.stop().await;
}

/// The field as the dashboard gets it.
fn field<'a>(config: &'a [Value], key: &str) -> &'a Value {
    config.iter().find(|f| f["key"] == key).unwrap_or_else(|| panic!("no {key}"))
}

async fn core_config(s: &TestServer, prefix: &str, headers: &[(&str, &str)]) -> Vec<Value> {
    let path = format!("{prefix}/recipe/dashboard/tenant/core-config");
    let mut h = vec![("cdi-version", "5.4"), RID];
    h.extend_from_slice(headers);
    let (st, text) = s.request("GET", &path, None, &h).await;
    assert_eq!(st, 200, "{text}");
    let r: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(keys_of(&r), set(&["status", "config"]));
    r["config"].as_array().unwrap().clone()
}

/// The tenant's core config with the reference's metadata: the keys an app or tenant may set,
/// each with ten fields, the tenant's values, the Java types and defaults; the plugin's keys on
/// PostgreSQL only; the protected keys only with the SaaS secret.
async fn tenant_core_config(b: Backend) {
    let secret = "s".repeat(40);
    let key = "k".repeat(20);
    let config = json!({"api_keys": key, "supertokens_saas_secret": secret, "access_token_validity": 7200,
        "refresh_token_validity": 100000});
    let Some(s) = TestServer::spawn(b, config).await else { return };
    let with_secret = [("api-key", secret.as_str())];
    let body = json!({"tenantId": "t1", "coreConfig": {
        "passwordless_code_lifetime": 1234, "ip_deny_regex": "  10\\..*  "}});
    let (st, text) =
        s.request("PUT", "/recipe/multitenancy/tenant/v2", Some(body), &[("cdi-version", "5.4"), with_secret[0]]).await;
    assert_eq!(st, 200, "{text}");
    let public = core_config(&s, "", &with_secret).await;
    let fields = [
        "key",
        "valueType",
        "value",
        "description",
        "isDifferentAcrossTenants",
        "possibleValues",
        "isNullable",
        "defaultValue",
        "isPluginProperty",
        "isPluginPropertyEditable",
    ];
    for f in &public {
        assert_eq!(f.as_object().unwrap().keys().map(String::as_str).collect::<Vec<_>>(), fields, "{f}");
    }
    let core_keys: Vec<&str> =
        public.iter().filter(|f| f["isPluginProperty"] == false).map(|f| f["key"].as_str().unwrap()).collect();
    assert_eq!(core_keys.len(), 23, "{core_keys:?}");
    assert_eq!(
        &core_keys[..3],
        ["passwordless_code_lifetime", "firebase_password_hashing_signer_key", "totp_max_attempts"],
        "the reference's order"
    );
    for hidden in
        ["port", "api_keys", "access_token_blacklisting", "log_level", "supertokens_max_cdi_version", "metrics_port"]
    {
        assert!(!core_keys.contains(&hidden), "{hidden}");
    }
    assert_eq!(
        *field(&public, "access_token_validity"),
        json!({"key": "access_token_validity", "valueType": "number", "value": 7200,
            "description": "Time in seconds for how long an access token is valid for. [Default: 3600 (1 hour)]",
            "isDifferentAcrossTenants": false, "possibleValues": null, "isNullable": false, "defaultValue": 3600,
            "isPluginProperty": false, "isPluginPropertyEditable": false})
    );
    let alg = field(&public, "password_hashing_alg");
    assert_eq!(
        (&alg["valueType"], &alg["possibleValues"], &alg["value"]),
        (&json!("enum"), &json!(["ARGON2", "BCRYPT"]), &json!("BCRYPT"))
    );
    let saml = field(&public, "saml_sp_entity_id");
    assert_eq!(
        (&saml["value"], &saml["defaultValue"], &saml["isNullable"]),
        (&json!("https://saml.supertokens.com"), &Value::Null, &json!(true))
    );
    let deny = field(&public, "ip_deny_regex");
    assert_eq!(
        (&deny["value"], &deny["isDifferentAcrossTenants"], &deny["isNullable"]),
        (&Value::Null, &json!(true), &json!(true))
    );
    // A tenant's own values over its app's, with Java's number types.
    let t1 = core_config(&s, "/t1", &with_secret).await;
    assert_eq!(field(&t1, "passwordless_code_lifetime")["value"], 1234);
    assert_eq!(field(&t1, "ip_deny_regex")["value"], "10\\..*");
    assert_eq!(field(&t1, "access_token_validity")["value"], 7200, "the app's");
    assert_eq!(serde_json::to_string(&field(&t1, "refresh_token_validity")["value"]).unwrap(), "100000.0", "a double");
    assert_eq!(serde_json::to_string(&field(&public, "refresh_token_validity")["defaultValue"]).unwrap(), "144000.0");
    // The plugin's keys on PostgreSQL only, after the core's.
    let plugin: Vec<&Value> = t1.iter().filter(|f| f["isPluginProperty"] == true).collect();
    match b {
        Backend::Memory => assert!(plugin.is_empty()),
        Backend::Postgres => {
            assert_eq!(plugin.len(), 14);
            assert!(t1[..23].iter().all(|f| f["isPluginProperty"] == false));
            let pool = field(&t1, "postgresql_connection_pool_size");
            assert_eq!(
                (&pool["isPluginPropertyEditable"], &pool["defaultValue"], &pool["valueType"]),
                (&json!(true), &json!(10), &json!("number"))
            );
            let uri = field(&t1, "postgresql_connection_uri");
            assert_eq!(uri["value"].as_str(), s.db_url.as_deref());
            assert!(t1.iter().all(|f| !f["key"].as_str().unwrap().ends_with("_table_name")));
            assert_eq!(field(&t1, "migration_mode")["value"], "LEGACY");
        }
    }
    // Without the secret: no protected key.
    let plain = core_config(&s, "/t1", &[("api-key", key.as_str())]).await;
    assert!(plain.iter().all(|f| f["key"] != "ip_deny_regex" && f["key"] != "ip_allow_regex"));
    assert!(
        plain.iter().all(|f| f["isPluginProperty"] == false || f["key"] == "migration_mode"),
        "only the unprotected plugin key"
    );
    assert_eq!(plain.len(), 21 + plugin.len().min(1));
    // An unknown tenant, and no key at all.
    let (st, text) = s
        .request("GET", "/nope/recipe/dashboard/tenant/core-config", None, &[("cdi-version", "5.4"), with_secret[0]])
        .await;
    assert_eq!(st, 400, "{text}");
    assert!(text.starts_with("AppId or tenantId not found"), "{text}");
    assert_eq!(s.request("GET", "/recipe/dashboard/tenant/core-config", None, &[("cdi-version", "5.4")]).await.0, 401);
    s.stop().await;
}

/// Rows a Java core wrote (a bcrypt and an argon2 user, a session) are served as they are, and
/// the rows written here are the reference's.
#[tokio::test]
async fn java_core_rows_on_postgres() {
    let Some(s) = TestServer::spawn(Backend::Postgres, json!({"password_hashing_alg": "ARGON2"})).await else { return };
    let (client, conn) = tokio_postgres::connect(s.db_url.as_deref().unwrap(), tokio_postgres::NoTls).await.unwrap();
    let task = tokio::spawn(conn);
    let bcrypt = "$2a$10$GzEm3vKoAqnJCTWesRARCe/ovjt/07qjvcH9jbLUg44Fn77gMZkmm"; // "testPass123"
    let argon2 = "$argon2id$v=19$m=16,t=2,p=1$VG1Oa1lMbzZLbzk5azQ2Qg$kjcNNtZ/b0t/8HgXUiQ76A"; // "testPass123"
    let (u1, u2, sid) = (
        "11111111-1111-4111-8111-111111111111",
        "22222222-2222-4222-8222-222222222222",
        "33333333-3333-4333-8333-333333333333",
    );
    client
        .batch_execute(&format!(
            "INSERT INTO dashboard_users (app_id, user_id, email, password_hash, time_joined) VALUES \
               ('public', '{u1}', 'java1@example.com', '{bcrypt}', 5), \
               ('public', '{u2}', 'java2@example.com', '{argon2}', 6); \
             INSERT INTO dashboard_user_sessions (app_id, session_id, user_id, time_created, expiry) \
               VALUES ('public', '{sid}', '{u1}', 7, {expiry})",
            expiry = START_MS + 1000
        ))
        .await
        .unwrap();
    assert_eq!(verify(&s, sid).await, json!({"status": "OK", "email": "java1@example.com"}));
    assert_eq!(
        sessions(&s, u1).await,
        vec![json!({"userId": u1, "sessionId": sid, "timeCreated": 7, "expiry": START_MS + 1000})]
    );
    assert_eq!(sign_in(&s, "java1@example.com", "testPass123").await["status"], "OK");
    assert_eq!(sign_in(&s, "java2@example.com", "testPass123").await["status"], "OK");
    assert_eq!(sign_in(&s, "java2@example.com", "testPass124").await["status"], "INVALID_CREDENTIALS_ERROR");
    let listed: Vec<String> = users(&s).await.iter().map(id_of).collect();
    assert_eq!(listed, vec![u1.to_string(), u2.to_string()]);
    // Written here: an argon2id hash of the configured parameters, as the Java core writes one
    // (16-byte salt, 32-byte hash) and verifies; a session of 30 days.
    let user = created(&s, "rust@example.com", "password123").await;
    let session = session_of(&s, "rust@example.com", "password123").await;
    let row = client
        .query_one(
            "SELECT u.user_id, u.email, u.password_hash, u.time_joined, s.session_id, s.time_created, s.expiry \
             FROM dashboard_users u JOIN dashboard_user_sessions s USING (app_id, user_id) WHERE u.email = 'rust@example.com'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), id_of(&user));
    assert_eq!(row.get::<_, String>(1), "rust@example.com");
    let hash: String = row.get(2);
    let parts: Vec<&str> = hash.split('$').collect();
    assert_eq!(&parts[..4], ["", "argon2id", "v=19", "m=87795,t=1,p=2"], "{hash}");
    assert_eq!((parts[4].len(), parts[5].len()), (22, 43), "16-byte salt, 32-byte hash, unpadded: {hash}");
    assert_eq!(row.get::<_, i64>(3), START_MS);
    assert_eq!(row.get::<_, String>(4), session);
    assert_eq!((row.get::<_, i64>(5), row.get::<_, i64>(6)), (START_MS, START_MS + 30 * DAY_MS));
    // Removing a user removes its sessions (the foreign key).
    call(&s, "DELETE", &format!("/recipe/dashboard/user?userId={u1}"), None).await;
    let n: i64 = client
        .query_one("SELECT COUNT(*) FROM dashboard_user_sessions WHERE user_id = $1", &[&u1])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0);
    drop(client);
    let _ = task.await;
    s.stop().await;
}

st_tests::both_backends! {
    users_created_listed_updated_and_removed => users_created_listed_updated_and_removed;
    sign_in_and_sessions => sign_in_and_sessions;
    order_of_checks_and_versions => order_of_checks_and_versions;
    bad_input => bad_input;
    argon2_when_configured => argon2_when_configured;
    tenant_core_config => tenant_core_config;
}
