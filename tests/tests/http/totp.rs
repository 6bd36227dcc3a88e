//! The TOTP recipe over HTTP (§a.9): devices (created with a 20-byte base32 secret, default
//! names, import, rename, list, remove, verification), codes checked with each device's skew
//! and period and single-use until they expire, the failed-attempt limit, used codes per
//! tenant, the bulk status, the version branch of the failure fields, the user's removal, the
//! cron job, and several instances on one PostgreSQL database. Codes are computed here from the
//! returned secret with totp-rs at the manual clock's time.

use crate::helpers::*;
use serde_json::{json, Value};
use st_core::clock::Clock;
use st_core::jobs::run_once;
use st_core::stats::JobStats;
use totp_rs::{Algorithm, Secret, TOTP};

/// The code of `secret` (base32) for the period of `period` seconds holding `at_ms`.
fn code(secret: &str, period: u64, at_ms: i64) -> String {
    let key = Secret::Encoded(secret.to_string()).to_bytes().expect("the secret is base32");
    TOTP::new_unchecked(Algorithm::SHA1, 6, 0, period, key).generate((at_ms / 1000) as u64)
}

/// The current code of `secret` on the server's clock (30-second periods).
fn now_code(s: &TestServer, secret: &str) -> String {
    code(secret, 30, s.clock.now_ms())
}

/// A code of `secret` that is surely wrong now (and within any small skew).
fn wrong_code(secret: &str, s: &TestServer) -> String {
    let near: Vec<String> = (-3..=3).map(|i| code(secret, 30, s.clock.now_ms() + i * 30_000)).collect();
    (0..1000).map(|n| format!("{n:06}")).find(|c| !near.contains(c)).unwrap()
}

async fn create(s: &TestServer, user: &str, name: Option<&str>, skew: i64, period: i64) -> Value {
    let mut body = json!({"userId": user, "skew": skew, "period": period});
    if let Some(n) = name {
        body["deviceName"] = json!(n);
    }
    s.post("/recipe/totp/device", body).await
}

async fn verify_device(s: &TestServer, prefix: &str, user: &str, device: &str, totp: &str) -> Value {
    s.post(&format!("{prefix}/recipe/totp/device/verify"), json!({"userId": user, "deviceName": device, "totp": totp}))
        .await
}

async fn verify(s: &TestServer, prefix: &str, user: &str, totp: &str) -> Value {
    s.post(&format!("{prefix}/recipe/totp/verify"), json!({"userId": user, "totp": totp})).await
}

async fn devices(s: &TestServer, user: &str) -> Value {
    s.get(&format!("/recipe/totp/device/list?userId={user}")).await["devices"].clone()
}

/// A user with one verified device (skew 1, period 30); its secret. The clock moves on by one
/// period, so that the current code is not the one that verified the device.
async fn verified_user(s: &TestServer, user: &str) -> String {
    let d = create(s, user, Some("phone"), 1, 30).await;
    let secret = d["secret"].as_str().unwrap().to_string();
    let r = verify_device(s, "", user, "phone", &now_code(s, &secret)).await;
    assert_eq!(r, json!({"status": "OK", "wasAlreadyVerified": false}));
    s.clock.advance_ms(30_000);
    secret
}

fn invalid(failed: i64, max: i64) -> Value {
    json!({"status": "INVALID_TOTP_ERROR", "currentNumberOfFailedAttempts": failed, "maxNumberOfFailedAttempts": max})
}

async fn devices_created_listed_renamed_and_removed(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    // A fresh secret: base32 of 20 bytes (32 characters, no padding), different each time.
    let d = create(&s, "u1", Some("phone"), 1, 30).await;
    assert_eq!(keys_of(&d), set(&["status", "deviceName", "secret"]));
    assert_eq!(d["deviceName"], "phone");
    let secret = d["secret"].as_str().unwrap();
    assert_eq!(secret.len(), 32);
    assert!(secret.bytes().all(|c| c.is_ascii_uppercase() || (b'2'..=b'7').contains(&c)), "{secret}");
    assert_eq!(Secret::Encoded(secret.into()).to_bytes().unwrap().len(), 20);
    // An unverified device of the same name is replaced (a new secret).
    let again = create(&s, "u1", Some("phone"), 2, 60).await;
    assert_eq!(again["status"], "OK");
    assert_ne!(again["secret"], d["secret"]);
    assert_eq!(devices(&s, "u1").await, json!([{"name": "phone", "period": 60, "skew": 2, "verified": false}]));
    // Default names: `TOTP Device <number of verified devices>`, the next free number when
    // taken by a verified device; an unverified one of that name is replaced.
    let first = create(&s, "u2", None, 1, 30).await;
    assert_eq!(first["deviceName"], "TOTP Device 0");
    assert_eq!(create(&s, "u2", None, 1, 30).await["deviceName"], "TOTP Device 0");
    let secret0 = create(&s, "u2", None, 1, 30).await["secret"].as_str().unwrap().to_string();
    let r = verify_device(&s, "", "u2", "TOTP Device 0", &now_code(&s, &secret0)).await;
    assert_eq!(r["status"], "OK");
    s.clock.advance_ms(10);
    assert_eq!(create(&s, "u2", None, 1, 30).await["deviceName"], "TOTP Device 1");
    assert_eq!(create(&s, "u2", None, 1, 30).await["deviceName"], "TOTP Device 1");
    // A verified device keeps its name.
    assert_eq!(create(&s, "u2", Some("TOTP Device 0"), 1, 30).await, json!({"status": "DEVICE_ALREADY_EXISTS_ERROR"}));
    let listed = devices(&s, "u2").await;
    assert_eq!(
        listed,
        json!([
            {"name": "TOTP Device 0", "period": 30, "skew": 1, "verified": true},
            {"name": "TOTP Device 1", "period": 30, "skew": 1, "verified": false},
        ])
    );
    // Rename.
    let rename =
        |user: &str, from: &str, to: &str| json!({"userId": user, "existingDeviceName": from, "newDeviceName": to});
    assert_eq!(s.put("/recipe/totp/device", rename("u2", "TOTP Device 1", "laptop")).await, json!({"status": "OK"}));
    assert_eq!(
        s.put("/recipe/totp/device", rename("u2", "laptop", "TOTP Device 0")).await,
        json!({"status": "DEVICE_ALREADY_EXISTS_ERROR"})
    );
    assert_eq!(
        s.put("/recipe/totp/device", rename("u2", "nothing", "x")).await,
        json!({"status": "UNKNOWN_DEVICE_ERROR"})
    );
    assert_eq!(s.put("/recipe/totp/device", rename("nobody", "laptop", "x")).await["status"], "UNKNOWN_DEVICE_ERROR");
    assert_eq!(s.put("/recipe/totp/device", rename("u2", "laptop", "laptop")).await["status"], "OK");
    let names: Vec<Value> = devices(&s, "u2").await.as_array().unwrap().iter().map(|d| d["name"].clone()).collect();
    assert_eq!(names, [json!("TOTP Device 0"), json!("laptop")]);
    // Remove.
    let remove = |user: &str, name: &str| json!({"userId": user, "deviceName": name});
    let r = s.post("/recipe/totp/device/remove", remove("u2", "laptop")).await;
    assert_eq!(r, json!({"status": "OK", "didDeviceExist": true}));
    assert_eq!(s.post("/recipe/totp/device/remove", remove("u2", "laptop")).await["didDeviceExist"], false);
    assert_eq!(s.post("/recipe/totp/device/remove", remove("nobody", "laptop")).await["didDeviceExist"], false);
    assert_eq!(devices(&s, "u2").await.as_array().unwrap().len(), 1);
    assert_eq!(devices(&s, "nobody").await, json!([]));
    s.stop().await;
}

async fn codes_verified_with_skew_and_period_and_used_once(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    let d = create(&s, "u", Some("phone"), 1, 30).await;
    let secret = d["secret"].as_str().unwrap().to_string();
    // No verified device yet: codes are refused (and counted).
    assert_eq!(verify(&s, "", "u", &now_code(&s, &secret)).await, invalid(1, 5));
    s.clock.advance_ms(1);
    assert_eq!(verify(&s, "", "nobody", "123456").await, json!({"status": "UNKNOWN_USER_ID_ERROR"}));
    assert_eq!(verify_device(&s, "", "nobody", "phone", "123456").await, json!({"status": "UNKNOWN_DEVICE_ERROR"}));
    assert_eq!(verify_device(&s, "", "u", "other", "123456").await, json!({"status": "UNKNOWN_DEVICE_ERROR"}));
    // A wrong code does not verify the device.
    let wrong = wrong_code(&secret, &s);
    assert_eq!(verify_device(&s, "", "u", "phone", &wrong).await, invalid(2, 5));
    s.clock.advance_ms(1);
    assert_eq!(devices(&s, "u").await[0]["verified"], false);
    // The code of the previous period (skew 1) verifies it.
    let previous = code(&secret, 30, s.clock.now_ms() - 30_000);
    assert_eq!(
        verify_device(&s, "", "u", "phone", &previous).await,
        json!({"status": "OK", "wasAlreadyVerified": false})
    );
    s.clock.advance_ms(1);
    assert_eq!(devices(&s, "u").await[0]["verified"], true);
    // Already verified: whatever the code.
    assert_eq!(verify_device(&s, "", "u", "phone", "x").await, json!({"status": "OK", "wasAlreadyVerified": true}));
    // That code was used: refused until it expires, even within its window.
    assert_eq!(verify(&s, "", "u", &previous).await, invalid(1, 5));
    s.clock.advance_ms(1);
    // The current and the next period's codes are accepted, once each; two periods ahead is not.
    let current = now_code(&s, &secret);
    let next = code(&secret, 30, s.clock.now_ms() + 30_000);
    let far = code(&secret, 30, s.clock.now_ms() + 60_000);
    if far != current && far != next {
        assert_eq!(verify(&s, "", "u", &far).await, invalid(2, 5));
        s.clock.advance_ms(1);
    }
    assert_eq!(verify(&s, "", "u", &current).await, json!({"status": "OK"}));
    s.clock.advance_ms(1);
    assert_eq!(verify(&s, "", "u", &current).await, invalid(1, 5), "a valid code resets the count");
    s.clock.advance_ms(1);
    assert_eq!(verify(&s, "", "u", &next).await, json!({"status": "OK"}));
    s.clock.advance_ms(1);
    // Longer than 8 characters: wrong, not recorded (the count does not move).
    assert_eq!(verify(&s, "", "u", "123456789").await, invalid(1, 5));
    assert_eq!(verify(&s, "", "u", "123456789").await, invalid(1, 5));
    // A device with a 60-second period and no skew.
    let d60 = create(&s, "v", Some("slow"), 0, 60).await;
    let secret60 = d60["secret"].as_str().unwrap().to_string();
    let c = code(&secret60, 60, s.clock.now_ms());
    assert_eq!(verify_device(&s, "", "v", "slow", &c).await["status"], "OK");
    s.clock.advance_ms(60_000);
    let c = code(&secret60, 60, s.clock.now_ms());
    let stale = code(&secret60, 60, s.clock.now_ms() - 60_000);
    if stale != c {
        assert_eq!(verify(&s, "", "v", &stale).await["status"], "INVALID_TOTP_ERROR", "no skew");
        s.clock.advance_ms(1);
    }
    assert_eq!(verify(&s, "", "v", &c).await, json!({"status": "OK"}));
    s.stop().await;
}

/// `totp_max_attempts` wrong codes in a row within `totp_rate_limit_cooldown_sec` block the
/// user for the rest of the cool-down, valid codes included; then the count starts again.
async fn failed_attempts_limit(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({"totp_max_attempts": 3, "totp_rate_limit_cooldown_sec": 10})).await
    else {
        return;
    };
    let secret = verified_user(&s, "u").await;
    let wrong = wrong_code(&secret, &s);
    for n in 1..=3 {
        assert_eq!(verify(&s, "", "u", &wrong).await, invalid(n, 3));
        s.clock.advance_ms(1000);
    }
    let limited = verify(&s, "", "u", &now_code(&s, &secret)).await;
    assert_eq!(
        limited,
        json!({"status": "LIMIT_REACHED_ERROR", "retryAfterMs": 9000,
               "currentNumberOfFailedAttempts": 3, "maxNumberOfFailedAttempts": 3})
    );
    // Not recorded: the time left keeps running from the last wrong code.
    s.clock.advance_ms(5000);
    assert_eq!(verify(&s, "", "u", &wrong).await["retryAfterMs"], 4000);
    // Device verification is limited too (the user's codes in the tenant).
    let other = create(&s, "u", Some("other"), 1, 30).await["secret"].as_str().unwrap().to_string();
    assert_eq!(verify_device(&s, "", "u", "other", &now_code(&s, &other)).await["status"], "LIMIT_REACHED_ERROR");
    // The cool-down over: a valid code is accepted, and wrong codes count from one again.
    s.clock.advance_ms(3999);
    assert_eq!(verify(&s, "", "u", &wrong).await["retryAfterMs"], 1);
    s.clock.advance_ms(1);
    assert_eq!(verify(&s, "", "u", &now_code(&s, &secret)).await, json!({"status": "OK"}));
    s.clock.advance_ms(1);
    let wrong = wrong_code(&secret, &s);
    assert_eq!(verify(&s, "", "u", &wrong).await, invalid(1, 3));
    // After a cool-down without a valid code, the count starts from one too.
    s.clock.advance_ms(1);
    assert_eq!(verify(&s, "", "u", &wrong).await, invalid(2, 3));
    s.clock.advance_ms(1);
    assert_eq!(verify(&s, "", "u", &wrong).await, invalid(3, 3));
    s.clock.advance_ms(10_000);
    let wrong = wrong_code(&secret, &s);
    assert_eq!(verify(&s, "", "u", &wrong).await, invalid(1, 3));
    // Two codes of one user in one millisecond: the second loses on the table's key and is
    // wrong without counting, as the reference.
    s.clock.advance_ms(1);
    assert_eq!(verify(&s, "", "u", &wrong).await, invalid(2, 3));
    assert_eq!(verify(&s, "", "u", &wrong).await, invalid(2, 3));
    s.stop().await;
}

/// Below CDI 5.0 the failures carry no counts.
async fn failure_fields_by_version(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({"totp_max_attempts": 1})).await else { return };
    let secret = verified_user(&s, "u").await;
    let wrong = wrong_code(&secret, &s);
    let call = |v: &'static str, path: &'static str, body: Value| {
        let s = &s;
        async move {
            let (st, text) = s.request("POST", path, Some(body), &[("cdi-version", v)]).await;
            assert_eq!(st, 200, "{text}");
            serde_json::from_str::<Value>(&text).unwrap()
        }
    };
    let r = call("4.0", "/recipe/totp/verify", json!({"userId": "u", "totp": wrong})).await;
    assert_eq!(r, json!({"status": "INVALID_TOTP_ERROR"}));
    s.clock.advance_ms(1);
    let r = call("2.8", "/recipe/totp/verify", json!({"userId": "u", "totp": wrong})).await;
    assert_eq!(r, json!({"status": "LIMIT_REACHED_ERROR", "retryAfterMs": 899_999}));
    let other = create(&s, "u", Some("other"), 1, 30).await["secret"].as_str().unwrap().to_string();
    let body = json!({"userId": "u", "deviceName": "other", "totp": now_code(&s, &other)});
    let r = call("3.0", "/recipe/totp/device/verify", body.clone()).await;
    assert_eq!(r, json!({"status": "LIMIT_REACHED_ERROR", "retryAfterMs": 899_999}));
    let r = call("5.0", "/recipe/totp/device/verify", body).await;
    assert_eq!(
        r,
        json!({"status": "LIMIT_REACHED_ERROR", "retryAfterMs": 899_999,
               "currentNumberOfFailedAttempts": 1, "maxNumberOfFailedAttempts": 1})
    );
    // Tenant-scoped paths below 3.0 take no tenant.
    let body = json!({"userId": "u", "totp": "1"});
    let (st, _) = s.request("POST", "/t1/recipe/totp/verify", Some(body), &[("cdi-version", "2.21")]).await;
    assert_eq!(st, 404);
    s.stop().await;
}

/// Used codes and failed attempts are per tenant; devices are app-wide. App-wide APIs refuse a
/// non-public tenant from CDI 5.0 and ignore it before.
async fn tenants(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({"totp_max_attempts": 2})).await else { return };
    s.put("/recipe/multitenancy/tenant/v2", json!({"tenantId": "t1"})).await;
    let secret = verified_user(&s, "u").await;
    let c = now_code(&s, &secret);
    assert_eq!(verify(&s, "", "u", &c).await, json!({"status": "OK"}));
    s.clock.advance_ms(1);
    assert_eq!(verify(&s, "/t1", "u", &c).await, json!({"status": "OK"}), "a code is used once per tenant");
    s.clock.advance_ms(1);
    assert_eq!(verify(&s, "/t1", "u", &c).await, invalid(1, 2));
    s.clock.advance_ms(1);
    assert_eq!(verify(&s, "/t1", "u", &c).await, invalid(2, 2));
    s.clock.advance_ms(1);
    assert_eq!(verify(&s, "/t1", "u", &c).await["status"], "LIMIT_REACHED_ERROR");
    let wrong = wrong_code(&secret, &s);
    assert_eq!(verify(&s, "", "u", &wrong).await, invalid(1, 2), "another tenant's attempts do not count");
    // Unknown tenant.
    let (st, text) = raw(&s, "POST", "/nope/recipe/totp/verify", Some(json!({"userId": "u", "totp": c}))).await;
    assert_eq!(st, 400);
    assert!(text.starts_with("AppId or tenantId not found"), "{text}");
    // App-wide APIs through a tenant path.
    let body = json!({"userId": "w", "skew": 1, "period": 30});
    let (st, text) = raw(&s, "POST", "/t1/recipe/totp/device", Some(body.clone())).await;
    assert_eq!((st, text.trim_end()), (403, "Only public tenantId can call this app specific API"));
    let (st, _) = s.request("POST", "/t1/recipe/totp/device", Some(body), &[("cdi-version", "4.0")]).await;
    assert_eq!(st, 200);
    assert_eq!(devices(&s, "w").await.as_array().unwrap().len(), 1, "the app's device");
    let (st, _) = raw(&s, "GET", "/t1/recipe/totp/device/list?userId=w", None).await;
    assert_eq!(st, 403);
    let (st, _) = raw(&s, "POST", "/t1/recipe/totp/device/status/bulk", Some(json!({"userIds": ["w"]}))).await;
    assert_eq!(st, 403);
    s.stop().await;
}

async fn imported_devices(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    let secret = "ZNPARPDTO6BFVSOFM3BPJGORPYTNTDSF";
    let import = |user: &str, name: Option<&str>, secret: &str| {
        let mut body = json!({"userId": user, "secretKey": secret, "skew": 0, "period": 30});
        if let Some(n) = name {
            body["deviceName"] = json!(n);
        }
        body
    };
    let r = s.post("/recipe/totp/device/import", import("u", None, secret)).await;
    assert_eq!(r, json!({"status": "OK", "deviceName": "TOTP Device 0"}));
    let r = s.post("/recipe/totp/device/import", import("u", Some("TOTP Device 0"), secret)).await;
    assert_eq!(r, json!({"status": "DEVICE_ALREADY_EXISTS_ERROR"}));
    assert_eq!(devices(&s, "u").await, json!([{"name": "TOTP Device 0", "period": 30, "skew": 0, "verified": true}]));
    assert_eq!(verify(&s, "", "u", &now_code(&s, secret)).await, json!({"status": "OK"}));
    // The secret is stored as given and read as the reference's decoder does: lower case,
    // blanks and padding are fine.
    let loose = "znpa rpdt o6bf vsof m3bp jgor pytn tdsf====";
    let r = s.post("/recipe/totp/device/import", import("v", Some("loose"), loose)).await;
    assert_eq!(r["deviceName"], "loose");
    assert_eq!(verify(&s, "", "v", &now_code(&s, secret)).await, json!({"status": "OK"}));
    // A secret with nothing to decode imports, and accepts no code (the reference: a 500).
    let r = s.post("/recipe/totp/device/import", import("w", Some("junk"), "!!!!")).await;
    assert_eq!(r["status"], "OK");
    assert_eq!(verify(&s, "", "w", "000000").await["status"], "INVALID_TOTP_ERROR");
    s.stop().await;
}

async fn bad_input(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    let bad = |method: &'static str, path: &'static str, body: Option<Value>| {
        let s = &s;
        async move {
            let (st, text) = raw(s, method, path, body).await;
            assert_eq!(st, 400, "{method} {path}: {text}");
            text.trim_end().to_string()
        }
    };
    let dev = "/recipe/totp/device";
    assert_eq!(
        bad("POST", dev, Some(json!({"skew": 1, "period": 30}))).await,
        "Field name 'userId' is invalid in JSON input"
    );
    assert_eq!(
        bad("POST", dev, Some(json!({"userId": "u", "period": 30}))).await,
        "Field name 'skew' is invalid in JSON input"
    );
    for period in [json!(null), json!("x"), json!(true), json!({}), json!(" 30")] {
        assert_eq!(
            bad("POST", dev, Some(json!({"userId": "u", "skew": 1, "period": period}))).await,
            "Field name 'period' is invalid in JSON input"
        );
    }
    assert_eq!(
        bad("POST", dev, Some(json!({"userId": "u", "deviceName": null, "skew": 1, "period": 30}))).await,
        "Field name 'deviceName' is invalid in JSON input"
    );
    assert_eq!(bad("POST", dev, Some(json!({"userId": "", "skew": 1, "period": 30}))).await, "userId cannot be empty");
    assert_eq!(
        bad("POST", dev, Some(json!({"userId": "u", "deviceName": "", "skew": 1, "period": 30}))).await,
        "deviceName cannot be empty"
    );
    assert_eq!(bad("POST", dev, Some(json!({"userId": "u", "skew": -1, "period": 30}))).await, "skew must be >= 0");
    assert_eq!(bad("POST", dev, Some(json!({"userId": "u", "skew": 1, "period": 0}))).await, "period must be > 0");
    // Gson's int reading: a fraction is cut, a numeric string and a one-element array are read.
    assert_eq!(bad("POST", dev, Some(json!({"userId": "u", "skew": 1, "period": 0.9}))).await, "period must be > 0");
    let r = s.post(dev, json!({"userId": "u", "deviceName": "a", "skew": "2", "period": [45.7]})).await;
    assert_eq!(r["status"], "OK");
    assert_eq!(devices(&s, "u").await[0], json!({"name": "a", "period": 45, "skew": 2, "verified": false}));
    // Over the columns (the reference fails in its database).
    let long = "x".repeat(129);
    assert_eq!(
        bad("POST", dev, Some(json!({"userId": long, "skew": 1, "period": 30}))).await,
        "userId must be at most 128 characters long"
    );
    assert_eq!(
        bad("POST", dev, Some(json!({"userId": "u", "deviceName": "d".repeat(257), "skew": 1, "period": 30}))).await,
        "deviceName must be at most 256 characters long"
    );
    let import = "/recipe/totp/device/import";
    assert_eq!(
        bad("POST", import, Some(json!({"userId": "u", "skew": 1, "period": 30}))).await,
        "Field name 'secretKey' is invalid in JSON input"
    );
    assert_eq!(
        bad("POST", import, Some(json!({"userId": "u", "secretKey": "", "skew": -1, "period": 30}))).await,
        "secretKey cannot be empty"
    );
    assert_eq!(
        bad("POST", import, Some(json!({"userId": "u", "secretKey": "A".repeat(257), "skew": 1, "period": 30}))).await,
        "secretKey must be at most 256 characters long"
    );
    assert_eq!(
        bad("PUT", dev, Some(json!({"userId": "u", "existingDeviceName": "", "newDeviceName": "b"}))).await,
        "existingDeviceName cannot be empty"
    );
    assert_eq!(
        bad("PUT", dev, Some(json!({"userId": "u", "existingDeviceName": "a", "newDeviceName": ""}))).await,
        "newDeviceName cannot be empty"
    );
    assert_eq!(
        bad("PUT", dev, Some(json!({"userId": "u", "existingDeviceName": "a", "newDeviceName": "n".repeat(257)})))
            .await,
        "newDeviceName must be at most 256 characters long"
    );
    assert_eq!(bad("GET", "/recipe/totp/device/list", None).await, "Field name 'userId' is missing in GET request");
    assert_eq!(bad("GET", "/recipe/totp/device/list?userId=", None).await, "userId cannot be empty");
    assert_eq!(
        bad("POST", "/recipe/totp/device/remove", Some(json!({"userId": "u", "deviceName": ""}))).await,
        "deviceName cannot be empty"
    );
    assert_eq!(
        bad("POST", "/recipe/totp/verify", Some(json!({"userId": "u"}))).await,
        "Field name 'totp' is invalid in JSON input"
    );
    assert_eq!(
        bad("POST", "/recipe/totp/verify", Some(json!({"userId": "", "totp": "1"}))).await,
        "userId cannot be empty"
    );
    assert_eq!(
        bad("POST", "/recipe/totp/device/verify", Some(json!({"userId": "u", "deviceName": "", "totp": "1"}))).await,
        "deviceName cannot be empty"
    );
    // Ids nothing can hold (a NUL character) find nothing, on both backends alike.
    assert_eq!(verify(&s, "", "u\0", "123456").await["status"], "UNKNOWN_USER_ID_ERROR");
    assert_eq!(verify_device(&s, "", "u", "a\0", "123456").await["status"], "UNKNOWN_DEVICE_ERROR");
    assert_eq!(devices(&s, "u%00").await, json!([]));
    assert_eq!(
        s.post("/recipe/totp/device/remove", json!({"userId": "u\0", "deviceName": "a"})).await["didDeviceExist"],
        false
    );
    assert_eq!(
        bad("POST", dev, Some(json!({"userId": "u\0", "skew": 1, "period": 30}))).await,
        "userId must not contain a NUL character"
    );
    // A code with a NUL is wrong without being recorded.
    let secret = s
        .post(
            "/recipe/totp/device/import",
            json!({"userId": "z", "secretKey": "ZNPARPDTO6BFVSOFM3BPJGORPYTNTDSF", "skew": 0, "period": 30}),
        )
        .await;
    assert_eq!(secret["status"], "OK");
    assert_eq!(verify(&s, "", "z", "12\u{0}456").await, invalid(1, 5));
    assert_eq!(verify(&s, "", "z", "12\u{0}456").await, invalid(1, 5));
    // Bulk.
    let bulk = "/recipe/totp/device/status/bulk";
    assert_eq!(bad("POST", bulk, Some(json!({}))).await, "Field name 'userIds' is invalid in JSON input");
    assert_eq!(bad("POST", bulk, Some(json!({"userIds": "u"}))).await, "Field name 'userIds' is invalid in JSON input");
    let ids: Vec<String> = (0..501).map(|i| format!("u{i}")).collect();
    assert_eq!(bad("POST", bulk, Some(json!({"userIds": ids}))).await, "You can only query up to 500 users at a time.");
    assert_eq!(bad("POST", bulk, Some(json!({"userIds": ["u", 1]}))).await, "userIds array must contain only strings");
    s.stop().await;
}

async fn bulk_device_status(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    verified_user(&s, "verified").await;
    create(&s, "unverified", Some("d"), 1, 30).await;
    let r = s
        .post(
            "/recipe/totp/device/status/bulk",
            json!({"userIds": ["unverified", "none", "verified", "none", "x\u{0}"]}),
        )
        .await;
    assert_eq!(
        r,
        json!({"status": "OK", "users": [
            {"userId": "unverified", "hasVerifiedDevice": false},
            {"userId": "none", "hasVerifiedDevice": null},
            {"userId": "verified", "hasVerifiedDevice": true},
            {"userId": "none", "hasVerifiedDevice": null},
            {"userId": "x\u{0}", "hasVerifiedDevice": null},
        ]})
    );
    // An empty list answers before the tenant check, as the reference.
    let (st, text) = raw(&s, "POST", "/t9/recipe/totp/device/status/bulk", Some(json!({"userIds": []}))).await;
    assert_eq!((st, serde_json::from_str::<Value>(&text).unwrap()), (200, json!({"status": "OK", "users": []})));
    s.stop().await;
}

/// Removing the user removes its TOTP data (under its SuperTokens and external ids); a device
/// under the SuperTokens id blocks a user-id mapping (without `force`).
async fn user_removal_and_mapping(b: Backend) {
    let Some(s) = TestServer::spawn(b, cheap_hashing()).await else { return };
    let u = sign_up(&s, "a@example.com", "password1").await["user"]["id"].as_str().unwrap().to_string();
    let r = s.post("/recipe/userid/map", json!({"superTokensUserId": u, "externalUserId": "ext-a"})).await;
    assert_eq!(r["status"], "OK");
    create(&s, &u, Some("d"), 1, 30).await;
    create(&s, "ext-a", Some("e"), 1, 30).await;
    let v = sign_up(&s, "b@example.com", "password1").await["user"]["id"].as_str().unwrap().to_string();
    create(&s, &v, Some("d"), 1, 30).await;
    let map_v = json!({"superTokensUserId": v, "externalUserId": "ext-v"});
    let (st, text) = raw(&s, "POST", "/recipe/userid/map", Some(map_v.clone())).await;
    assert_eq!((st, text.trim_end()), (400, "UserId is already in use in TOTP recipe"));
    let mut forced = map_v;
    forced["force"] = json!(true);
    assert_eq!(s.post("/recipe/userid/map", forced).await["status"], "OK");
    // Devices under both forms of a mapped user's id go with the user.
    assert_eq!(s.post("/user/remove", json!({"userId": "ext-a"})).await["status"], "OK");
    assert_eq!(devices(&s, &u).await, json!([]));
    assert_eq!(devices(&s, "ext-a").await, json!([]));
    assert_eq!(s.post("/user/remove", json!({"userId": v})).await["status"], "OK");
    assert_eq!(devices(&s, &v).await, json!([]));
    s.stop().await;
}

/// A user taken out of a tenant loses its used codes there (and with them its failed
/// attempts); its devices are the app's and stay.
async fn user_taken_out_of_a_tenant(b: Backend) {
    let Some(s) = TestServer::spawn(b, cheap_hashing()).await else { return };
    s.put("/recipe/multitenancy/tenant/v2", json!({"tenantId": "t1", "firstFactors": null})).await;
    let u = sign_up(&s, "a@example.com", "password1").await["user"]["id"].as_str().unwrap().to_string();
    let add = s.post("/t1/recipe/multitenancy/tenant/user", json!({"recipeUserId": u})).await;
    assert_eq!(add["status"], "OK");
    let secret = verified_user(&s, &u).await;
    let wrong = wrong_code(&secret, &s);
    for n in 1..=2 {
        assert_eq!(verify(&s, "/t1", &u, &wrong).await, invalid(n, 5));
        s.clock.advance_ms(1);
    }
    assert_eq!(verify(&s, "", &u, &wrong).await, invalid(1, 5));
    s.clock.advance_ms(1);
    let removed = s.post("/t1/recipe/multitenancy/tenant/user/remove", json!({"recipeUserId": u})).await;
    assert_eq!(removed, json!({"status": "OK", "wasAssociated": true}));
    s.post("/t1/recipe/multitenancy/tenant/user", json!({"recipeUserId": u})).await;
    assert_eq!(verify(&s, "/t1", &u, &wrong).await, invalid(1, 5), "the tenant's codes went");
    s.clock.advance_ms(1);
    assert_eq!(verify(&s, "", &u, &wrong).await, invalid(2, 5), "another tenant's stay");
    assert_eq!(devices(&s, &u).await.as_array().unwrap().len(), 1);
    s.stop().await;
}

/// The cron job deletes each tenant's codes once they expired more than the cool-down ago, so
/// the codes that keep a user blocked stay.
async fn cron_deletes_old_used_codes(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({"totp_max_attempts": 2, "totp_rate_limit_cooldown_sec": 100})).await
    else {
        return;
    };
    let secret = verified_user(&s, "u").await;
    // The device's verification code, valid at t0 for its window (90 s).
    let t0 = s.clock.now_ms() - 30_000;
    let wrong = wrong_code(&secret, &s);
    let job = st_core::totp::DELETE_EXPIRED_CODES;
    let run = || async {
        let stats = JobStats::default();
        run_once(&s.core, &job, &stats).await;
        assert_eq!(stats.failures.load(std::sync::atomic::Ordering::Relaxed), 0);
    };
    let count = |s: &TestServer| {
        let core = s.core.clone();
        let now = s.clock.now_ms();
        async move { core.delete_expired_totp_codes(now).await.unwrap() }
    };
    // Two wrong codes at t0 + 30 s, + 30.001 s, expiring 90 s later (the longest window of the
    // user's devices): the user is blocked.
    for _ in 0..2 {
        assert_eq!(verify(&s, "", "u", &wrong).await["status"], "INVALID_TOTP_ERROR");
        s.clock.advance_ms(1);
    }
    run().await;
    assert_eq!(verify(&s, "", "u", &now_code(&s, &secret)).await["status"], "LIMIT_REACHED_ERROR", "still blocked");
    // Each code goes once it expired more than the cool-down (100 s) ago.
    s.clock.set_ms(t0 + 90_000 + 100_000);
    assert_eq!(count(&s).await, 0);
    s.clock.set_ms(t0 + 90_000 + 100_001);
    assert_eq!(count(&s).await, 1, "the device's verification code");
    s.clock.set_ms(t0 + 120_001 + 100_000);
    assert_eq!(count(&s).await, 1, "the first wrong code");
    s.clock.set_ms(t0 + 120_001 + 100_001);
    run().await;
    assert_eq!(count(&s).await, 0, "the job deleted the second one");
    s.stop().await;
}

/// Concurrent submissions of one valid code: exactly one is accepted.
async fn one_of_concurrent_codes(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({"totp_max_attempts": 100})).await else { return };
    let secret = verified_user(&s, "u").await;
    let c = now_code(&s, &secret);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (url, client, c) = (s.url.clone(), s.client.clone(), c.clone());
        tasks.push(tokio::spawn(async move {
            let r = client
                .post(format!("{url}/recipe/totp/verify"))
                .header("cdi-version", "5.4")
                .json(&json!({"userId": "u", "totp": c}))
                .send()
                .await
                .unwrap();
            r.json::<Value>().await.unwrap()["status"].as_str().unwrap().to_string()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert_eq!(statuses.iter().filter(|st| *st == "OK").count(), 1, "{statuses:?}");
    assert!(statuses.iter().all(|st| st == "OK" || st == "INVALID_TOTP_ERROR"), "{statuses:?}");
    s.stop().await;
}

/// Two instances on one database: a code used on one is refused on the other, the wrong codes
/// of both count against one limit, and the rows are the reference's.
#[tokio::test]
async fn instances_share_codes_and_attempts_on_postgres() {
    let config = json!({"totp_max_attempts": 3});
    let Some(a) = TestServer::spawn(Backend::Postgres, config.clone()).await else { return };
    let b = TestServer::spawn_on(Backend::Postgres, config, a.db_url.clone()).await.unwrap();
    let secret = verified_user(&a, "u").await;
    b.clock.set_ms(a.clock.now_ms());
    let c = now_code(&a, &secret);
    assert_eq!(verify(&a, "", "u", &c).await, json!({"status": "OK"}));
    b.clock.advance_ms(1);
    assert_eq!(verify(&b, "", "u", &c).await, invalid(1, 3), "used on the other instance");
    let wrong = wrong_code(&secret, &a);
    a.clock.set_ms(b.clock.now_ms() + 1);
    assert_eq!(verify(&a, "", "u", &wrong).await, invalid(2, 3));
    b.clock.set_ms(a.clock.now_ms() + 1);
    assert_eq!(verify(&b, "", "u", &wrong).await, invalid(3, 3));
    a.clock.set_ms(b.clock.now_ms() + 1);
    assert_eq!(verify(&a, "", "u", &now_code(&a, &secret)).await["status"], "LIMIT_REACHED_ERROR");
    // Concurrent submissions of a fresh code through both instances: one is accepted.
    a.clock.advance_ms(900_000);
    b.clock.set_ms(a.clock.now_ms());
    let fresh = now_code(&a, &secret);
    let mut tasks = Vec::new();
    for i in 0..8 {
        let s = if i % 2 == 0 { &a } else { &b };
        let (url, client, c) = (s.url.clone(), s.client.clone(), fresh.clone());
        tasks.push(tokio::spawn(async move {
            let r = client
                .post(format!("{url}/recipe/totp/verify"))
                .header("cdi-version", "5.4")
                .json(&json!({"userId": "u", "totp": c}))
                .send()
                .await
                .unwrap();
            r.json::<Value>().await.unwrap()["status"].as_str().unwrap().to_string()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert_eq!(statuses.iter().filter(|st| *st == "OK").count(), 1, "{statuses:?}");
    // The rows a Java core reads.
    let (client, conn) = tokio_postgres::connect(a.db_url.as_deref().unwrap(), tokio_postgres::NoTls).await.unwrap();
    let task = tokio::spawn(conn);
    let row = client
        .query_one(
            "SELECT app_id, user_id, device_name, secret_key, period, skew, verified, created_at FROM totp_user_devices",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        (row.get::<_, String>(0), row.get::<_, String>(1), row.get::<_, String>(2), row.get::<_, String>(3)),
        ("public".into(), "u".into(), "phone".into(), secret.clone())
    );
    assert_eq!((row.get::<_, i32>(4), row.get::<_, i32>(5), row.get::<_, bool>(6)), (30, 1, true));
    assert_eq!(row.get::<_, Option<i64>>(7), Some(START_MS));
    let users: i64 = client.query_one("SELECT COUNT(*) FROM totp_users WHERE user_id = 'u'", &[]).await.unwrap().get(0);
    assert_eq!(users, 1);
    let valid: Vec<(String, bool, i64, i64)> = client
        .query(
            "SELECT code, is_valid, expiry_time_ms, created_time_ms FROM totp_used_codes \
             WHERE tenant_id = 'public' AND is_valid ORDER BY created_time_ms",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    assert_eq!(valid.len(), 3, "{valid:?}");
    assert_eq!(valid[1].0, c);
    assert_eq!(valid[1].2 - valid[1].3, 90_000, "valid for the device's window");
    drop(client);
    let _ = task.await;
    b.stop().await;
    a.stop().await;
}

/// Rows a Java core wrote (a device without `created_at`, a code it accepted) are served as
/// they are: the device is listed and checked, and the code it accepted is refused here.
#[tokio::test]
async fn java_core_rows_on_postgres() {
    let Some(s) = TestServer::spawn(Backend::Postgres, json!({})).await else { return };
    let secret = "ZNPARPDTO6BFVSOFM3BPJGORPYTNTDSF";
    let (client, conn) = tokio_postgres::connect(s.db_url.as_deref().unwrap(), tokio_postgres::NoTls).await.unwrap();
    let task = tokio::spawn(conn);
    let now = s.clock.now_ms();
    let used = now_code(&s, secret);
    client
        .batch_execute(&format!(
            "INSERT INTO totp_users (app_id, user_id) VALUES ('public', 'java-user'); \
             INSERT INTO totp_user_devices (app_id, user_id, device_name, secret_key, period, skew, verified) \
               VALUES ('public', 'java-user', 'Phone', '{secret}', 30, 1, true); \
             INSERT INTO totp_used_codes (app_id, tenant_id, user_id, code, is_valid, expiry_time_ms, created_time_ms) \
               VALUES ('public', 'public', 'java-user', '{used}', true, {exp}, {created})",
            exp = now + 90_000,
            created = now - 1000,
        ))
        .await
        .unwrap();
    assert_eq!(devices(&s, "java-user").await, json!([{"name": "Phone", "period": 30, "skew": 1, "verified": true}]));
    assert_eq!(verify(&s, "", "java-user", &used).await, invalid(1, 5), "accepted by the Java core already");
    s.clock.advance_ms(30_000);
    assert_eq!(verify(&s, "", "java-user", &now_code(&s, secret)).await, json!({"status": "OK"}));
    let r = s.post("/recipe/totp/device/status/bulk", json!({"userIds": ["java-user"]})).await;
    assert_eq!(r["users"], json!([{"userId": "java-user", "hasVerifiedDevice": true}]));
    // Removing its last device removes the user row and its codes, as the Java core does.
    let r = s.post("/recipe/totp/device/remove", json!({"userId": "java-user", "deviceName": "Phone"})).await;
    assert_eq!(r["didDeviceExist"], true);
    for table in ["totp_users", "totp_user_devices", "totp_used_codes"] {
        let n: i64 = client.query_one(&format!("SELECT COUNT(*) FROM {table}"), &[]).await.unwrap().get(0);
        assert_eq!(n, 0, "{table}");
    }
    drop(client);
    let _ = task.await;
    s.stop().await;
}

st_tests::both_backends! {
    devices_created_listed_renamed_and_removed => devices_created_listed_renamed_and_removed;
    codes_verified_with_skew_and_period_and_used_once => codes_verified_with_skew_and_period_and_used_once;
    failed_attempts_limit => failed_attempts_limit;
    failure_fields_by_version => failure_fields_by_version;
    tenants => tenants;
    imported_devices => imported_devices;
    bad_input => bad_input;
    bulk_device_status => bulk_device_status;
    user_removal_and_mapping => user_removal_and_mapping;
    user_taken_out_of_a_tenant => user_taken_out_of_a_tenant;
    cron_deletes_old_used_codes => cron_deletes_old_used_codes;
    one_of_concurrent_codes => one_of_concurrent_codes;
}
