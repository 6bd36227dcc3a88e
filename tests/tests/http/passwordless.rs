//! The passwordless recipe over HTTP (§a.8): codes by e-mail and phone number, consume by link
//! and by typed code, check, failed attempts, expiry (the manual clock) and the cron job,
//! listing and removing codes, the deprecated `/recipe/user` (rid passwordless) with its
//! null-means-clear update, the version branches, and passwordless users wherever users show.

use crate::helpers::*;
use serde_json::{json, Value};
use st_core::jobs::run_once;
use st_core::stats::JobStats;

const RID: (&str, &str) = ("rid", "passwordless");

/// A request at CDI `v`; (status, body without the trailing newline).
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

/// A CDI 5.4 request that must fail: (status, text).
async fn fails(s: &TestServer, method: &str, path: &str, body: Value) -> (u16, String) {
    at_version(s, "5.4", method, path, Some(body)).await
}

fn bad(text: &str) -> (u16, String) {
    (400, text.to_string())
}

async fn create(s: &TestServer, body: Value) -> Value {
    let r = s.post("/public/recipe/signinup/code", body).await;
    assert_eq!(r["status"], "OK", "{r}");
    r
}

async fn consume_link(s: &TestServer, code: &Value) -> Value {
    let body = json!({"preAuthSessionId": code["preAuthSessionId"], "linkCode": code["linkCode"]});
    s.post("/public/recipe/signinup/code/consume", body).await
}

async fn consume_typed(s: &TestServer, code: &Value, typed: &str) -> Value {
    let body = json!({
        "preAuthSessionId": code["preAuthSessionId"], "deviceId": code["deviceId"], "userInputCode": typed,
    });
    s.post("/public/recipe/signinup/code/consume", body).await
}

async fn devices(s: &TestServer, query: &str) -> Vec<Value> {
    s.get(&format!("/public/recipe/signinup/codes?{query}")).await["devices"].as_array().unwrap().clone()
}

/// A flow by e-mail: the code's shape, the consume that signs up (e-mail verified, devices of
/// the e-mail gone), the next one that signs in, and a flow by phone number (E.164).
async fn sign_up_and_in_by_email_and_phone(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    let code = create(&s, json!({"email": "  Alice@Example.COM "})).await;
    assert_eq!(
        keys_of(&code),
        set(&[
            "status",
            "preAuthSessionId",
            "codeId",
            "deviceId",
            "userInputCode",
            "linkCode",
            "timeCreated",
            "codeLifetime"
        ])
    );
    assert_eq!((code["timeCreated"].as_i64(), code["codeLifetime"].as_i64()), (Some(START_MS), Some(900_000)));
    let typed = code["userInputCode"].as_str().unwrap();
    assert!(typed.len() == 6 && typed.chars().all(|c| c.is_ascii_digit()), "{typed}");
    assert_eq!(code["preAuthSessionId"].as_str().unwrap().len(), 43);
    assert_eq!(code["deviceId"].as_str().unwrap().len(), 44);
    assert!(is_uuid(code["codeId"].as_str().unwrap()));
    // A second flow for the same e-mail is another device; both are listed.
    let other = create(&s, json!({"email": "alice@example.com"})).await;
    assert_ne!(other["preAuthSessionId"], code["preAuthSessionId"]);
    let listed = devices(&s, "email=ALICE%40example.com").await;
    assert_eq!(listed.len(), 2);
    let mine = listed.iter().find(|d| d["preAuthSessionId"] == code["preAuthSessionId"]).unwrap();
    assert_eq!(
        *mine,
        json!({"preAuthSessionId": code["preAuthSessionId"], "failedCodeInputAttemptCount": 0,
               "email": "alice@example.com",
               "codes": [{"codeId": code["codeId"], "timeCreated": START_MS, "codeLifetime": 900_000}]})
    );

    let r = consume_link(&s, &code).await;
    assert_eq!(r["status"], "OK", "{r}");
    assert_eq!(r["createdNewUser"], true);
    let user = &r["user"];
    let id = user["id"].as_str().unwrap().to_string();
    assert_eq!(r["recipeUserId"], id.as_str());
    assert_eq!(user["emails"], json!(["alice@example.com"]));
    assert_eq!(user["phoneNumbers"], json!([]));
    let lm = &user["loginMethods"][0];
    assert_eq!((lm["recipeId"].as_str(), lm["verified"].as_bool()), (Some("passwordless"), Some(true)));
    assert_eq!(
        r["consumedDevice"],
        json!({"preAuthSessionId": code["preAuthSessionId"], "failedCodeInputAttemptCount": 0, "email": "alice@example.com"})
    );
    // Every device of the e-mail went with it; the same link again restarts.
    assert!(devices(&s, "email=alice%40example.com").await.is_empty());
    assert_eq!(consume_link(&s, &code).await, json!({"status": "RESTART_FLOW_ERROR"}));
    assert_eq!(consume_link(&s, &other).await, json!({"status": "RESTART_FLOW_ERROR"}));
    let q = format!("/recipe/user/email/verify?userId={id}&email=alice%40example.com");
    assert_eq!(s.get(&q).await["isVerified"], true);

    // The next flow signs the same user in, by the typed code.
    let code = create(&s, json!({"email": "alice@example.com"})).await;
    let r = consume_typed(&s, &code, code["userInputCode"].as_str().unwrap()).await;
    assert_eq!((r["status"].as_str(), r["createdNewUser"].as_bool()), (Some("OK"), Some(false)));
    assert_eq!(r["user"]["id"], id.as_str());

    // By phone number: normalised to E.164 when it parses.
    let code = create(&s, json!({"phoneNumber": " +1 (650) 555-1234 "})).await;
    let listed = devices(&s, "phoneNumber=%2B16505551234").await;
    assert_eq!(listed[0]["phoneNumber"], "+16505551234");
    assert!(listed[0].get("email").is_none());
    let r = consume_link(&s, &code).await;
    assert_eq!(r["user"]["phoneNumbers"], json!(["+16505551234"]));
    assert_eq!(r["user"]["loginMethods"][0]["verified"], true);
    assert_eq!(r["consumedDevice"]["phoneNumber"], "+16505551234");
    assert_ne!(r["user"]["id"], id.as_str());
    // A number that does not parse is only trimmed.
    create(&s, json!({"phoneNumber": " 650 555 1234 "})).await;
    assert_eq!(devices(&s, "phoneNumber=650%20555%201234").await.len(), 1);
    s.stop().await;
}

/// The reference's 400s for bad input, and the enabled check.
async fn input_rules(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    let path = "/public/recipe/signinup/code";
    let one = "Please provide exactly one of email, phoneNumber or deviceId";
    assert_eq!(fails(&s, "POST", path, json!({})).await, bad(one));
    assert_eq!(fails(&s, "POST", path, json!({"email": "a@b.c", "phoneNumber": "+1555"})).await, bad(one));
    assert_eq!(
        fails(&s, "POST", path, json!({"email": null})).await,
        bad("Field name 'email' is invalid in JSON input")
    );
    assert_eq!(
        fails(&s, "POST", path, json!({"email": "a@b.c", "userInputCode": ""})).await,
        bad("userInputCode cannot be an empty string.")
    );
    assert_eq!(fails(&s, "POST", path, json!({"deviceId": "%%%"})).await, bad("Input encoding error in deviceId"));
    // Valid base64 naming no device: start again.
    assert_eq!(s.post(path, json!({"deviceId": "AAAA"})).await, json!({"status": "RESTART_FLOW_ERROR"}));

    let code = create(&s, json!({"email": "a@b.c"})).await;
    let consume = "/public/recipe/signinup/code/consume";
    let either = "Please provide exactly one of linkCode or deviceId+userInputCode";
    let pre = code["preAuthSessionId"].clone();
    assert_eq!(fails(&s, "POST", consume, json!({"preAuthSessionId": pre})).await, bad(either));
    let both = json!({"preAuthSessionId": pre, "linkCode": code["linkCode"], "deviceId": code["deviceId"]});
    assert_eq!(fails(&s, "POST", consume, both).await, bad(either));
    let half = json!({"preAuthSessionId": pre, "userInputCode": "123456"});
    assert_eq!(fails(&s, "POST", consume, half).await, bad(either));
    assert_eq!(
        fails(&s, "POST", consume, json!({"linkCode": code["linkCode"]})).await,
        bad("Field name 'preAuthSessionId' is invalid in JSON input")
    );
    let bad_link = json!({"preAuthSessionId": pre, "linkCode": "a+b/"});
    assert_eq!(fails(&s, "POST", consume, bad_link).await, bad("Input encoding error in linkCode"));
    // A device that is not the session's.
    let other = create(&s, json!({"email": "other@b.c"})).await;
    let mismatch = json!({"preAuthSessionId": other["preAuthSessionId"], "linkCode": code["linkCode"]});
    assert_eq!(fails(&s, "POST", consume, mismatch).await, bad("preAuthSessionId and deviceId doesn't match"));
    let mismatch = json!({"preAuthSessionId": other["preAuthSessionId"], "deviceId": code["deviceId"],
        "userInputCode": code["userInputCode"]});
    assert_eq!(fails(&s, "POST", consume, mismatch).await, bad("preAuthSessionId and deviceId doesn't match"));
    // `=` in the session id is ignored, as the reference strips it.
    let padded = format!("{}=", pre.as_str().unwrap());
    let r = s.post(consume, json!({"preAuthSessionId": padded, "linkCode": code["linkCode"]})).await;
    assert_eq!(r["status"], "OK");

    let codes = "/public/recipe/signinup/codes";
    let (st, text) = at_version(&s, "5.4", "GET", &format!("{codes}?email=a%40b.c&deviceId=x"), None).await;
    assert_eq!(
        (st, text.as_str()),
        (400, "Please provide exactly one of email, phoneNumber, deviceId or preAuthSessionId")
    );
    let remove = "/public/recipe/signinup/codes/remove";
    let one_of = "Please provide exactly one of email or phoneNumber";
    assert_eq!(fails(&s, "POST", remove, json!({})).await, bad(one_of));
    assert_eq!(fails(&s, "POST", remove, json!({"email": "a@b.c", "phoneNumber": "+1"})).await, bad(one_of));
    // What PostgreSQL cannot store is refused on both backends; what nothing stored can match
    // finds nothing.
    assert_eq!(
        fails(&s, "POST", path, json!({"email": "a\u{0}b@c.d"})).await,
        bad("email must not contain a NUL character")
    );
    let long = format!("{}@b.c", "a".repeat(253));
    assert_eq!(fails(&s, "POST", path, json!({"email": long})).await, bad("email must be at most 256 characters long"));
    assert_eq!(
        fails(&s, "POST", path, json!({"phoneNumber": "+1".repeat(129)})).await,
        bad("phoneNumber must be at most 256 characters long")
    );
    assert!(devices(&s, "email=a%00b").await.is_empty());
    assert!(devices(&s, "phoneNumber=%2B1%00x").await.is_empty());
    assert!(devices(&s, "preAuthSessionId=a%00b").await.is_empty());
    assert_eq!(s.post(remove, json!({"email": "a\u{0}b"})).await, json!({"status": "OK"}));
    let code_remove = "/public/recipe/signinup/code/remove";
    assert_eq!(s.post(code_remove, json!({"codeId": "a\u{0}b"})).await, json!({"status": "OK"}));
    assert_eq!(s.post(code_remove, json!({"preAuthSessionId": "a\u{0}b"})).await, json!({"status": "OK"}));
    let by_phone = "/public/users/by-accountinfo?phoneNumber=a%00b&doUnionOfAccountInfo=true";
    assert_eq!(s.get(by_phone).await["users"], json!([]));
    let user = json_at(&s, "5.4", "GET", "/public/recipe/user?phoneNumber=a%00b", None).await;
    assert_eq!(user, json!({"status": "UNKNOWN_PHONE_NUMBER_ERROR"}));
    // An unknown tenant is the reference's 400.
    let (st, _) = at_version(&s, "5.4", "POST", "/nope/recipe/signinup/code", Some(json!({"email": "a@b.c"}))).await;
    assert_eq!(st, 400);
    s.stop().await;
}

/// Wrong typed codes count (in parallel too), the maximum removes the device, a resend with the
/// caller's code refuses a code used before, and check does not use a code up.
async fn failed_attempts_resend_and_check(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({"passwordless_max_code_input_attempts": 3})).await else { return };
    let code = create(&s, json!({"email": "a@b.c", "userInputCode": "111111"})).await;
    assert_eq!(code["userInputCode"], "111111");
    let r = consume_typed(&s, &code, "000000").await;
    assert_eq!(
        r,
        json!({"status": "INCORRECT_USER_INPUT_CODE_ERROR", "failedCodeInputAttemptCount": 1, "maximumCodeInputAttempts": 3})
    );
    // Another code for the device, then the caller's code again: already used.
    let resend = s.post("/public/recipe/signinup/code", json!({"deviceId": code["deviceId"]})).await;
    assert_eq!(resend["status"], "OK");
    assert_eq!(resend["preAuthSessionId"], code["preAuthSessionId"]);
    assert_eq!(resend["deviceId"], code["deviceId"]);
    let again =
        s.post("/public/recipe/signinup/code", json!({"deviceId": code["deviceId"], "userInputCode": "111111"})).await;
    assert_eq!(again, json!({"status": "USER_INPUT_CODE_ALREADY_USED_ERROR"}));
    let listed = devices(&s, &format!("preAuthSessionId={}", code["preAuthSessionId"].as_str().unwrap())).await;
    assert_eq!(
        (listed[0]["codes"].as_array().unwrap().len(), &listed[0]["failedCodeInputAttemptCount"]),
        (2, &json!(1))
    );
    // Check: right code, nothing used up; wrong code, counted.
    let check = |typed: &str| json!({"preAuthSessionId": code["preAuthSessionId"], "deviceId": code["deviceId"], "userInputCode": typed});
    let ok = s.post("/public/recipe/signinup/code/check", check("111111")).await;
    assert_eq!(
        ok,
        json!({"status": "OK", "consumedDevice": {"preAuthSessionId": code["preAuthSessionId"],
            "failedCodeInputAttemptCount": 1, "email": "a@b.c"}})
    );
    let wrong = s.post("/public/recipe/signinup/code/check", check("222222")).await;
    assert_eq!(wrong["failedCodeInputAttemptCount"], 2);
    // The third failure reaches the maximum: the device goes.
    assert_eq!(consume_typed(&s, &code, "333333").await, json!({"status": "RESTART_FLOW_ERROR"}));
    assert!(devices(&s, "email=a%40b.c").await.is_empty());
    assert_eq!(consume_typed(&s, &code, "111111").await, json!({"status": "RESTART_FLOW_ERROR"}));
    let gone = s.post("/public/recipe/signinup/code", json!({"deviceId": code["deviceId"]})).await;
    assert_eq!(gone, json!({"status": "RESTART_FLOW_ERROR"}));

    // Wrong codes at once each count.
    let code = create(&s, json!({"email": "par@b.c"})).await;
    let (x, y) = tokio::join!(consume_typed(&s, &code, "x1"), consume_typed(&s, &code, "x2"));
    let mut counts = [&x, &y].map(|r| r["failedCodeInputAttemptCount"].as_i64().unwrap());
    counts.sort_unstable();
    assert_eq!(counts, [1, 2]);
    assert_eq!(consume_typed(&s, &code, "x").await, json!({"status": "RESTART_FLOW_ERROR"}), "the third");
    s.stop().await;
}

/// Codes expire with `passwordless_code_lifetime` (the clock is moved, never slept): a typed
/// expired code counts as a failure, an expired link restarts, a resent code works; the cron
/// job removes the devices all of whose codes expired.
async fn expiry_and_the_cron_job(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({"passwordless_code_lifetime": 60_000})).await else { return };
    let code = create(&s, json!({"email": "a@b.c"})).await;
    assert_eq!(code["codeLifetime"], 60_000);
    s.clock.advance_ms(60_000);
    // Created exactly one lifetime ago: still valid for a check.
    let check = json!({"preAuthSessionId": code["preAuthSessionId"], "linkCode": code["linkCode"]});
    assert_eq!(s.post("/public/recipe/signinup/code/check", check.clone()).await["status"], "OK");
    s.clock.advance_ms(1);
    assert_eq!(s.post("/public/recipe/signinup/code/check", check).await, json!({"status": "RESTART_FLOW_ERROR"}));
    let r = consume_typed(&s, &code, code["userInputCode"].as_str().unwrap()).await;
    assert_eq!(
        r,
        json!({"status": "EXPIRED_USER_INPUT_CODE_ERROR", "failedCodeInputAttemptCount": 1, "maximumCodeInputAttempts": 5})
    );
    let resent = s.post("/public/recipe/signinup/code", json!({"deviceId": code["deviceId"]})).await;
    let r = consume_typed(&s, &code, resent["userInputCode"].as_str().unwrap()).await;
    assert_eq!(
        (r["status"].as_str(), r["consumedDevice"]["failedCodeInputAttemptCount"].as_i64()),
        (Some("OK"), Some(1))
    );

    // The job: a device whose only code expired goes; one with a live code stays, with its
    // expired code (it tells an expired code from a wrong one).
    create(&s, json!({"email": "old@b.c"})).await;
    let mixed = create(&s, json!({"email": "mixed@b.c"})).await;
    s.clock.advance_ms(30_000);
    s.post("/public/recipe/signinup/code", json!({"deviceId": mixed["deviceId"]})).await;
    s.clock.advance_ms(30_001);
    let job = st_core::passwordless::DELETE_EXPIRED_DEVICES;
    assert!(st_core::all_jobs().iter().any(|j| j.name() == "DeleteExpiredPasswordlessDevices"));
    let stats = JobStats::default();
    run_once(&s.core, &job, &stats).await;
    assert_eq!(stats.failures.load(std::sync::atomic::Ordering::Relaxed), 0);
    assert!(devices(&s, "email=old%40b.c").await.is_empty());
    let kept = devices(&s, "email=mixed%40b.c").await;
    assert_eq!(kept[0]["codes"].as_array().unwrap().len(), 2);
    let r = consume_typed(&s, &mixed, mixed["userInputCode"].as_str().unwrap()).await;
    assert_eq!(r["status"], "EXPIRED_USER_INPUT_CODE_ERROR");
    s.stop().await;
}

/// `codes/remove` by contact, `code/remove` by code id (the device with its last code) or, from
/// CDI 5.0, by `preAuthSessionId`.
async fn removing_codes(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    let a = create(&s, json!({"email": "a@b.c"})).await;
    create(&s, json!({"email": "a@b.c"})).await;
    let keep = create(&s, json!({"email": "keep@b.c"})).await;
    s.post("/public/recipe/signinup/codes/remove", json!({"email": " A@B.C"})).await;
    assert!(devices(&s, "email=a%40b.c").await.is_empty());
    assert_eq!(devices(&s, "email=keep%40b.c").await.len(), 1);
    assert_eq!(consume_link(&s, &a).await["status"], "RESTART_FLOW_ERROR");
    let p = create(&s, json!({"phoneNumber": "+44 20 7946 0958"})).await;
    s.post("/public/recipe/signinup/codes/remove", json!({"phoneNumber": "+442079460958"})).await;
    assert_eq!(consume_link(&s, &p).await["status"], "RESTART_FLOW_ERROR");

    // By code id: the device stays while it has another code.
    let second = s.post("/public/recipe/signinup/code", json!({"deviceId": keep["deviceId"]})).await;
    let remove = "/public/recipe/signinup/code/remove";
    assert_eq!(s.post(remove, json!({"codeId": keep["codeId"]})).await, json!({"status": "OK"}));
    assert_eq!(consume_link(&s, &keep).await["status"], "RESTART_FLOW_ERROR", "that code is gone");
    let listed = devices(&s, "email=keep%40b.c").await;
    assert_eq!(listed[0]["codes"].as_array().unwrap().len(), 1);
    s.post(remove, json!({"codeId": second["codeId"]})).await;
    assert!(devices(&s, "email=keep%40b.c").await.is_empty(), "its last code took the device");
    assert_eq!(s.post(remove, json!({"codeId": "nope"})).await, json!({"status": "OK"}));

    // By preAuthSessionId from 5.0; before, codeId is required.
    let d = create(&s, json!({"email": "d@b.c"})).await;
    let by_device = json!({"preAuthSessionId": d["preAuthSessionId"]});
    assert_eq!(
        at_version(&s, "4.0", "POST", remove, Some(by_device.clone())).await,
        bad("Field name 'codeId' is invalid in JSON input")
    );
    assert_eq!(fails(&s, "POST", remove, json!({})).await, bad("Please provide either 'codeId' or 'preAuthSessionId'"));
    let both = json!({"codeId": d["codeId"], "preAuthSessionId": d["preAuthSessionId"]});
    assert_eq!(fails(&s, "POST", remove, both).await, bad("Please provide only one of 'codeId' or 'preAuthSessionId'"));
    assert_eq!(json_at(&s, "5.0", "POST", remove, Some(by_device)).await, json!({"status": "OK"}));
    assert!(devices(&s, "email=d%40b.c").await.is_empty());
    s.stop().await;
}

async fn sign_up(s: &TestServer, body: Value) -> Value {
    let code = create(s, body).await;
    let r = consume_link(s, &code).await;
    assert_eq!(r["createdNewUser"], true, "{r}");
    r["user"].clone()
}

/// The deprecated `GET /recipe/user` and `PUT /recipe/user` (rid passwordless): look-ups by
/// id, e-mail, phone number; updates where `null` clears and absence leaves; uniqueness; the
/// devices of changed contacts go.
async fn recipe_user_get_and_put(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    let alice = sign_up(&s, json!({"email": "alice@b.c"})).await;
    let id = alice["id"].as_str().unwrap().to_string();
    let phone = sign_up(&s, json!({"phoneNumber": "+15550001111"})).await;
    let server = &s;
    let get = |q: String| async move { json_at(server, "5.4", "GET", &q, None).await };
    let by_id = get(format!("/recipe/user?userId={id}")).await;
    assert_eq!((by_id["status"].as_str(), by_id["user"]["id"].as_str()), (Some("OK"), Some(id.as_str())));
    assert_eq!(get("/public/recipe/user?email=ALICE%40b.c".into()).await["user"]["id"], id.as_str());
    assert_eq!(get("/public/recipe/user?phoneNumber=%2B1%20555%20000%201111".into()).await["user"]["id"], phone["id"]);
    assert_eq!(get("/recipe/user?userId=nope".into()).await, json!({"status": "UNKNOWN_USER_ID_ERROR"}));
    assert_eq!(get("/public/recipe/user?email=x%40b.c".into()).await, json!({"status": "UNKNOWN_EMAIL_ERROR"}));
    assert_eq!(
        get("/public/recipe/user?phoneNumber=%2B1".into()).await,
        json!({"status": "UNKNOWN_PHONE_NUMBER_ERROR"})
    );
    let (st, text) = at_version(&s, "5.4", "GET", &format!("/recipe/user?userId={id}&email=a%40b.c"), None).await;
    assert_eq!((st, text.as_str()), (400, "Please provide exactly one of userId, email or phoneNumber"));
    // An email-password user is no passwordless user.
    let ep = s.post("/public/recipe/signup", json!({"email": "ep@b.c", "password": "pw"})).await;
    let ep_id = ep["user"]["id"].as_str().unwrap();
    assert_eq!(get(format!("/recipe/user?userId={ep_id}")).await["status"], "UNKNOWN_USER_ID_ERROR");

    let put = |body: Value| json_at(&s, "5.4", "PUT", "/recipe/user", Some(body));
    // A pending code of the new e-mail goes with the update.
    let pending = create(&s, json!({"email": "new@b.c"})).await;
    let r = put(json!({"recipeUserId": id, "email": " NEW@b.c", "phoneNumber": "+1 555 000 2222"})).await;
    assert_eq!(r, json!({"status": "OK"}));
    assert_eq!(consume_link(&s, &pending).await["status"], "RESTART_FLOW_ERROR");
    let user = s.get(&format!("/user/id?userId={id}")).await["user"].clone();
    assert_eq!((user["emails"].clone(), user["phoneNumbers"].clone()), (json!(["new@b.c"]), json!(["+15550002222"])));
    // Absent leaves the field; null clears it; both cleared is a 400.
    assert_eq!(put(json!({"recipeUserId": id, "email": null})).await, json!({"status": "OK"}));
    let user = s.get(&format!("/user/id?userId={id}")).await["user"].clone();
    assert_eq!((user["emails"].clone(), user["phoneNumbers"].clone()), (json!([]), json!(["+15550002222"])));
    let clear = json!({"recipeUserId": id, "phoneNumber": null});
    assert_eq!(
        at_version(&s, "5.4", "PUT", "/recipe/user", Some(clear)).await,
        bad("You cannot clear both email and phone number of a user")
    );
    let (st, text) =
        at_version(&s, "5.4", "PUT", "/recipe/user", Some(json!({"recipeUserId": id, "phoneNumber": "x\u{0}y"}))).await;
    assert_eq!((st, text.as_str()), (400, "phoneNumber must not contain a NUL character"));
    let taken = put(json!({"recipeUserId": id, "phoneNumber": "+15550001111"})).await;
    assert_eq!(taken, json!({"status": "PHONE_NUMBER_ALREADY_EXISTS_ERROR"}));
    let other = sign_up(&s, json!({"email": "other@b.c"})).await;
    let taken = put(json!({"recipeUserId": id, "email": "other@b.c"})).await;
    assert_eq!(taken, json!({"status": "EMAIL_ALREADY_EXISTS_ERROR"}));
    assert_eq!(put(json!({"recipeUserId": "nope", "email": "z@b.c"})).await["status"], "UNKNOWN_USER_ID_ERROR");
    assert_eq!(put(json!({"recipeUserId": ep_id, "email": "z@b.c"})).await["status"], "UNKNOWN_USER_ID_ERROR");
    let (st, text) = at_version(&s, "5.4", "PUT", "/recipe/user", Some(json!({"recipeUserId": id, "email": 5}))).await;
    assert_eq!((st, text.as_str()), (400, "Field name 'email' is invalid in JSON input"));
    // `userId` before CDI 4.0.
    let old = json!({"userId": other["id"], "email": "renamed@b.c"});
    assert_eq!(json_at(&s, "3.0", "PUT", "/recipe/user", Some(old)).await, json!({"status": "OK"}));
    let (st, text) =
        at_version(&s, "3.0", "PUT", "/recipe/user", Some(json!({"recipeUserId": id, "email": "q@b.c"}))).await;
    assert_eq!((st, text.as_str()), (400, "Field name 'userId' is invalid in JSON input"));
    // App-wide from 5.0: a non-public tenant is refused.
    s.put("/recipe/multitenancy/tenant/v2", json!({"tenantId": "t1"})).await;
    let forbidden = (403, "Only public tenantId can call this app specific API".to_string());
    let body = json!({"recipeUserId": id, "email": "q@b.c"});
    assert_eq!(at_version(&s, "5.0", "PUT", "/t1/recipe/user", Some(body)).await, forbidden);
    assert_eq!(at_version(&s, "5.0", "GET", &format!("/t1/recipe/user?userId={id}"), None).await, forbidden);
    s.stop().await;
}

/// The version branches of consume: the user object (pre-4.0 shape, no `tenantIds` before
/// 3.0), `recipeUserId` from 4.0, `consumedDevice` from 5.0, the e-mail verified from 4.0
/// only; and the enabled check before 5.1.
async fn consume_by_version(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    for (i, v) in ["2.21", "3.0", "4.0", "5.0"].into_iter().enumerate() {
        let email = format!("v{i}@b.c");
        let code = json_at(&s, v, "POST", "/public/recipe/signinup/code", Some(json!({"email": email}))).await;
        let body = json!({"preAuthSessionId": code["preAuthSessionId"], "linkCode": code["linkCode"]});
        let r = json_at(&s, v, "POST", "/public/recipe/signinup/code/consume", Some(body)).await;
        let id = r["user"]["id"].as_str().unwrap().to_string();
        let mut expected = set(&["status", "createdNewUser", "user"]);
        if v >= "4.0" {
            expected.insert("recipeUserId".into());
        }
        if v >= "5.0" {
            expected.insert("consumedDevice".into());
        }
        assert_eq!(keys_of(&r), expected, "{v}");
        let user = &r["user"];
        match v {
            "2.21" => assert_eq!(keys_of(user), set(&["id", "timeJoined", "email"])),
            "3.0" => {
                assert_eq!(keys_of(user), set(&["id", "timeJoined", "tenantIds", "email"]));
                assert_eq!(user["email"], email.as_str());
            }
            _ => assert_eq!(user["loginMethods"][0]["verified"], true, "{v}"),
        }
        let q = format!("/recipe/user/email/verify?userId={id}&email={}", email.replace('@', "%40"));
        assert_eq!(s.get(&q).await["isVerified"], v >= "4.0", "{v}");
    }
    // A phone user before 4.0: its number instead of an e-mail.
    let code =
        json_at(&s, "3.0", "POST", "/public/recipe/signinup/code", Some(json!({"phoneNumber": "+15557770000"}))).await;
    let body = json!({"preAuthSessionId": code["preAuthSessionId"], "linkCode": code["linkCode"]});
    let r = json_at(&s, "3.0", "POST", "/public/recipe/signinup/code/consume", Some(body)).await;
    assert_eq!(keys_of(&r["user"]), set(&["id", "timeJoined", "tenantIds", "phoneNumber"]));

    // The enabled check: a tenant with passwordless off is refused before 5.1.
    let off = json!({"tenantId": "off", "passwordlessEnabled": false});
    assert_eq!(s.put("/recipe/multitenancy/tenant", off).await["status"], "OK");
    s.put("/recipe/multitenancy/tenant/v2", json!({"tenantId": "ep", "firstFactors": ["emailpassword"]})).await;
    let refused = (403, "Passwordless login not enabled for tenant".to_string());
    let create_body = Some(json!({"email": "x@b.c"}));
    let consume_body = Some(json!({"preAuthSessionId": "x", "linkCode": "x"}));
    for v in ["3.0", "4.0", "5.0"] {
        assert_eq!(at_version(&s, v, "POST", "/off/recipe/signinup/code", create_body.clone()).await, refused, "{v}");
        assert_eq!(at_version(&s, v, "POST", "/off/recipe/signinup/code/consume", consume_body.clone()).await, refused);
        assert_eq!(at_version(&s, v, "POST", "/off/recipe/signinup/code/check", consume_body.clone()).await, refused);
    }
    // A first-factor list without passwordless: refused before 5.0 only.
    assert_eq!(at_version(&s, "4.0", "POST", "/ep/recipe/signinup/code", create_body.clone()).await, refused);
    assert_eq!(json_at(&s, "5.0", "POST", "/ep/recipe/signinup/code", create_body.clone()).await["status"], "OK");
    assert_eq!(json_at(&s, "5.1", "POST", "/off/recipe/signinup/code", create_body).await["status"], "OK");
    s.stop().await;
}

/// Passwordless users wherever users show: listing with `includeRecipeIds`, counts, e-mail and
/// phone search tags, `/user/id`, `/users/by-accountinfo` by e-mail or phone number (normalised),
/// and `/user/remove` (which takes the pending codes of the user's contacts).
async fn passwordless_users_everywhere(b: Backend) {
    let Some(s) = TestServer::spawn(b, cheap_hashing()).await else { return };
    s.post("/public/recipe/signup", json!({"email": "ep@b.c", "password": "pw"})).await;
    s.clock.advance_ms(10);
    let by_email = sign_up(&s, json!({"email": "pl@b.c"})).await;
    s.clock.advance_ms(10);
    let by_phone = sign_up(&s, json!({"phoneNumber": "+15553334444"})).await;
    let ids = |v: &Value| -> Vec<String> {
        v["users"].as_array().unwrap().iter().map(|u| u["id"].as_str().unwrap().to_string()).collect()
    };
    let listed = s.get("/public/users?includeRecipeIds=passwordless").await;
    assert_eq!(ids(&listed), vec![by_email["id"].as_str().unwrap(), by_phone["id"].as_str().unwrap()]);
    assert_eq!(s.get("/public/users/count?includeRecipeIds=passwordless").await["count"], 2);
    assert_eq!(s.get("/public/users/count").await["count"], 3);
    assert_eq!(ids(&s.get("/public/users?phone=%2B1555").await), vec![by_phone["id"].as_str().unwrap()]);
    assert_eq!(s.get("/public/users?email=pl").await["users"].as_array().unwrap().len(), 1);
    assert_eq!(s.get("/public/users?email=b.c").await["users"].as_array().unwrap().len(), 2);
    let user = s.get(&format!("/user/id?userId={}", by_phone["id"].as_str().unwrap())).await;
    assert_eq!(user["user"]["phoneNumbers"], json!(["+15553334444"]));
    let q = "/public/users/by-accountinfo?phoneNumber=%2B1%20555%20333%204444&doUnionOfAccountInfo=false";
    assert_eq!(ids(&s.get(q).await), vec![by_phone["id"].as_str().unwrap()]);
    let q = "/public/users/by-accountinfo?email=pl%40b.c&phoneNumber=%2B15553334444&doUnionOfAccountInfo=true";
    assert_eq!(ids(&s.get(q).await).len(), 2);
    let q = "/public/users/by-accountinfo?email=pl%40b.c&phoneNumber=%2B15553334444&doUnionOfAccountInfo=false";
    assert!(ids(&s.get(q).await).is_empty());
    // Before 4.0 the listing wraps each user with its recipe.
    let old = json_at(&s, "3.0", "GET", "/public/users?includeRecipeIds=passwordless", None).await;
    assert_eq!(old["users"][1]["recipeId"], "passwordless");
    assert_eq!(old["users"][1]["user"]["phoneNumber"], "+15553334444");

    // Removal: the user and the pending codes of its e-mail go.
    let pending = create(&s, json!({"email": "pl@b.c"})).await;
    s.post("/user/remove", json!({"userId": by_email["id"]})).await;
    assert_eq!(
        s.get(&format!("/user/id?userId={}", by_email["id"].as_str().unwrap())).await["status"],
        "UNKNOWN_USER_ID_ERROR"
    );
    assert!(devices(&s, "email=pl%40b.c").await.is_empty());
    assert_eq!(consume_link(&s, &pending).await["status"], "RESTART_FLOW_ERROR");
    assert_eq!(s.get("/public/users/count?includeRecipeIds=passwordless").await["count"], 1);
    s.stop().await;
}

/// A right code racing the removal of its device: the consume either wins (and the user
/// exists) or finds no device (and no user is made).
async fn consume_racing_a_removal(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    for round in 0..8 {
        let email = format!("race{round}@b.c");
        let code = create(&s, json!({"email": email})).await;
        let remove = json!({"email": email});
        let (consumed, _) =
            tokio::join!(consume_link(&s, &code), s.post("/public/recipe/signinup/codes/remove", remove),);
        let q = format!("/public/users/by-accountinfo?email={}&doUnionOfAccountInfo=true", email.replace('@', "%40"));
        let users = s.get(&q).await["users"].as_array().unwrap().len();
        match consumed["status"].as_str() {
            Some("OK") => assert_eq!(users, 1, "round {round}"),
            Some("RESTART_FLOW_ERROR") => assert_eq!(users, 0, "round {round}"),
            other => panic!("round {round}: {other:?}"),
        }
    }
    s.stop().await;
}

/// A mapped user signing in again: the e-mail is verified under the id the application uses
/// (the external one), where the verification API and the user object look.
async fn mapped_user_verified_under_its_external_id(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    let code = create(&s, json!({"email": "m@example.com"})).await;
    let id = consume_link(&s, &code).await["user"]["id"].as_str().unwrap().to_string();
    s.post("/recipe/userid/map", json!({"superTokensUserId": id, "externalUserId": "ext-m"})).await;
    // Unverify under the external id, then sign in again: verified again, where it is read.
    s.post("/recipe/user/email/verify/remove", json!({"userId": "ext-m", "email": "m@example.com"})).await;
    assert_eq!(s.get("/recipe/user/email/verify?userId=ext-m&email=m%40example.com").await["isVerified"], false);
    let code = create(&s, json!({"email": "m@example.com"})).await;
    let r = consume_link(&s, &code).await;
    assert_eq!((r["createdNewUser"].as_bool(), r["recipeUserId"].as_str()), (Some(false), Some("ext-m")), "{r}");
    assert_eq!(r["user"]["loginMethods"][0]["verified"], true);
    assert_eq!(s.get("/recipe/user/email/verify?userId=ext-m&email=m%40example.com").await["isVerified"], true);
    assert_eq!(
        s.get("/user/id?userId=ext-m").await["user"]["loginMethods"][0]["verified"],
        true,
        "a later read agrees"
    );
    s.stop().await;
}

st_tests::both_backends! {
    mapped_user_verified_under_its_external_id => mapped_user_verified_under_its_external_id;
    sign_up_and_in_by_email_and_phone => sign_up_and_in_by_email_and_phone;
    input_rules => input_rules;
    failed_attempts_resend_and_check => failed_attempts_resend_and_check;
    expiry_and_the_cron_job => expiry_and_the_cron_job;
    removing_codes => removing_codes;
    recipe_user_get_and_put => recipe_user_get_and_put;
    consume_by_version => consume_by_version;
    passwordless_users_everywhere => passwordless_users_everywhere;
    consume_racing_a_removal => consume_racing_a_removal;
}

/// A flow a Java core started on the same database (its rows, for known bytes: device id
/// 32 × 0x01, salt 32 × 0x02, user input code `123456`, as `st_core::passwordless`'s unit test
/// derives them) is checked by its link and consumed by its typed code here; and the rows this
/// server writes are derived as the reference derives them (SHA-256 computed by PostgreSQL).
#[tokio::test]
async fn java_written_flow_on_postgres() {
    let Some(s) = TestServer::spawn(Backend::Postgres, json!({})).await else { return };
    let device_hash = "cs1uhCLEB_ttCYaQ8RMLfe1-wvf14dML2dUh8BU2N5M";
    sql(
        &s,
        "INSERT INTO passwordless_devices (app_id, tenant_id, device_id_hash, email, phone_number, link_code_salt, \
         failed_attempts) VALUES ('public', 'public', $1, 'java@b.c', NULL, \
         'AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=', 0)",
        &[&device_hash],
    )
    .await;
    sql(
        &s,
        "INSERT INTO passwordless_codes (app_id, tenant_id, code_id, device_id_hash, link_code_hash, created_at) \
         VALUES ('public', 'public', '0f0f0f0f-0000-4000-8000-000000000001', $1, \
         'jmMJX7FfBv1-iujNe7LhSYMLORrUmf7tgQMAiBatYOI=', $2)",
        &[&device_hash, &START_MS],
    )
    .await;
    let listed = devices(&s, "email=java%40b.c").await;
    assert_eq!(listed[0]["preAuthSessionId"], device_hash, "no CHAR(44) padding");
    let check = json!({"preAuthSessionId": device_hash, "linkCode": "5F-gDG2dqpl_eq4dsP_kRyBN13fCEVVRhlGs8OCm6Q0"});
    assert_eq!(s.post("/public/recipe/signinup/code/check", check).await["status"], "OK");
    let typed = json!({"preAuthSessionId": device_hash, "deviceId": "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=",
        "userInputCode": "123456"});
    let r = s.post("/public/recipe/signinup/code/consume", typed).await;
    assert_eq!((r["status"].as_str(), r["createdNewUser"].as_bool()), (Some("OK"), Some(true)), "{r}");
    let id = r["user"]["id"].as_str().unwrap().to_string();

    // Our rows: as the reference writes them.
    let code = create(&s, json!({"email": "rust@b.c"})).await;
    let url_b64 = |expr: &str| format!("translate(encode(sha256({expr}), 'base64'), '+/', '-_')");
    let row = &sql(
        &s,
        &format!(
            "SELECT d.device_id_hash = rtrim({}, '='), length(d.link_code_salt), c.link_code_hash = {}, \
               c.code_id::TEXT = $3 \
             FROM passwordless_devices d JOIN passwordless_codes c USING (app_id, tenant_id, device_id_hash) \
             WHERE d.email = 'rust@b.c'",
            url_b64("decode($1, 'base64')"),
            url_b64("$2::BYTEA")
        ),
        &[
            &code["deviceId"].as_str().unwrap(),
            &base64::Engine::decode(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                code["linkCode"].as_str().unwrap(),
            )
            .unwrap(),
            &code["codeId"].as_str().unwrap(),
        ],
    )
    .await[0];
    assert_eq!(
        (row.get::<_, bool>(0), row.get::<_, i32>(1), row.get::<_, bool>(2), row.get::<_, bool>(3)),
        (true, 44, true, true)
    );
    // The user's rows: as an email-password user's, recipe `passwordless`.
    let user = &sql(
        &s,
        "SELECT a.recipe_id, a.time_joined, r.time_joined, u.email, t.email, t.tenant_id::TEXT \
         FROM app_id_to_user_id a JOIN all_auth_recipe_users r USING (app_id, user_id) \
         JOIN passwordless_users u USING (app_id, user_id) JOIN passwordless_user_to_tenant t USING (app_id, user_id) \
         WHERE a.user_id = $1",
        &[&id],
    )
    .await[0];
    assert_eq!(
        (
            user.get::<_, String>(0),
            user.get::<_, i64>(1),
            user.get::<_, i64>(2),
            user.get::<_, String>(3),
            user.get::<_, String>(4),
            user.get::<_, String>(5)
        ),
        ("passwordless".into(), 0, START_MS, "java@b.c".into(), "java@b.c".into(), "public".into())
    );
    s.stop().await;
}
