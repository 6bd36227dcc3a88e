//! Bulk import over HTTP (§a.20) and its background job (`ProcessBulkImportUsers`, driven
//! directly with the server's manual clock): every route, every user kind, the reference's
//! validation messages, `FAILED` rows with their reason, and a claim left by a dead instance.

use crate::helpers::*;
use serde_json::{json, Value};
use st_core::bulkimport::CLAIM_TIMEOUT_MS;
use st_core::ids::AppId;

/// Firebase's published sample (firebase/scrypt README): password "user1password".
const FIREBASE_SIGNER: &str =
    "jxspr8Ki0RYycVU8zykbdLGjFQ3McFUH0uiiTvC8pVMXAn210wjLNmdZJzxUECKbm0QsEmYUSDzZvpjeJ9WmXA==";
const FIREBASE_HASH: &str = "$f_scrypt$lSrfV15cpx95/sZS2W9c9Kp6i/LVgQNDNC/qzrCnh1SAyZvqmZqAjTdn3aoItz+VHjoZilo78198JAdRuid5lQ==$42xEC+ixf3L2lw==$m=14$r=8$s=Bw==";

/// Cheap hashing, the Firebase signer key, and the job in rounds of three workers of two rows
/// each with no pause between rounds.
fn config() -> Value {
    json!({"bcrypt_log_rounds": 4, "firebase_password_hashing_signer_key": FIREBASE_SIGNER,
        "bulk_migration_parallelism": 3, "bulk_migration_batch_size": 6,
        "bulk_migration_sleep_between_rounds_in_batch_ms": 0})
}

fn hash(alg: st_core::password::Algorithm, pw: &str) -> String {
    let p = st_core::password::Params {
        algorithm: alg,
        bcrypt_cost: 4,
        argon2_memory_kb: 64,
        argon2_iterations: 1,
        argon2_parallelism: 1,
    };
    st_core::password::hash_blocking(pw, &p, [3; 16]).unwrap()
}

fn ep_user(email: &str, pw: &str) -> Value {
    json!({"loginMethods": [{"recipeId": "emailpassword", "email": email, "plainTextPassword": pw}]})
}

async fn sign_in(s: &TestServer, tenant: &str, email: &str, pw: &str) -> Value {
    s.post(&format!("/{tenant}/recipe/signin"), json!({"email": email, "password": pw})).await
}

/// The queue: users added (their answer), listed newest first in pages, counted by status,
/// removed; empty lists; the limits and the parameter checks.
async fn queue_routes(b: Backend) {
    let Some(s) = TestServer::spawn(b, config()).await else { return };
    assert_eq!(s.post("/bulk-import/users", json!({"users": []})).await, json!({"status": "OK"}));
    let users: Vec<Value> = (0..3).map(|i| ep_user(&format!("Q{i}@Example.com"), "pw")).collect();
    let r = s.post("/bulk-import/users", json!({"users": users})).await;
    assert_eq!(r["status"], "OK");
    let added = r["users"].as_array().unwrap();
    assert_eq!(added.len(), 3);
    assert_eq!(added[0]["loginMethods"][0]["email"], "q0@example.com");
    assert_eq!(added[0]["loginMethods"][0]["tenants"], json!(["public"]));
    assert_eq!(added[0]["userId"], added[0]["loginMethods"][0]["userId"]);
    s.clock.advance_ms(10);
    let tp = json!({"externalUserId": "ext-tp", "loginMethods": [{"recipeId": "thirdparty", "email": "t@x.com",
        "thirdPartyId": "google", "thirdPartyUserId": "g-1"}]});
    s.post("/bulk-import/users", json!({"users": [tp]})).await;
    assert_eq!(s.get("/bulk-import/users/count").await, json!({"status": "OK", "count": 4}));
    assert_eq!(s.get("/bulk-import/users/count?status=NEW").await["count"], 4);
    assert_eq!(s.get("/bulk-import/users/count?status=FAILED").await["count"], 0);
    let page = s.get("/bulk-import/users?limit=2").await;
    assert_eq!(page["status"], "OK");
    let rows = page["users"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["externalUserId"], "ext-tp");
    assert_eq!(rows[0]["status"], "NEW");
    assert_eq!(rows[0]["createdAt"], START_MS + 10);
    assert_eq!(rows[0]["loginMethods"][0]["isPrimary"], false);
    let token = page["nextPaginationToken"].as_str().unwrap().to_string();
    let next =
        s.get(&format!("/bulk-import/users?limit=2&status=NEW&paginationToken={}", token.replace('=', "%3D"))).await;
    let next_rows = next["users"].as_array().unwrap();
    assert_eq!(next_rows.len(), 2);
    assert!(next.get("nextPaginationToken").is_none());
    let all: Vec<Value> = rows.iter().chain(next_rows).map(|r| r["id"].clone()).collect();
    assert_eq!(all.iter().map(|v| v.to_string()).collect::<std::collections::BTreeSet<_>>().len(), 4);
    // Parameter checks.
    for (q, msg) in [
        ("limit=501", "Max limit allowed is 500"),
        ("limit=0", "limit must a positive integer with min value 1"),
        ("status=DONE", "Invalid value for status. Pass one of NEW, PROCESSING, or FAILED!"),
        ("paginationToken=abc", "invalid pagination token"),
    ] {
        assert_eq!(
            s.status_and_text("GET", &format!("/bulk-import/users?{q}"), None).await,
            (400, msg.to_string()),
            "{q}"
        );
    }
    assert_eq!(s.status_and_text("GET", "/bulk-import/users/count?status=new", None).await.0, 400);
    // Removal: deleted and unknown ids, in the given order.
    let first = all[0].as_str().unwrap();
    let r = s.post("/bulk-import/users/remove", json!({"ids": ["nope", first]})).await;
    assert_eq!(r, json!({"deletedIds": [first], "invalidIds": ["nope"]}));
    assert_eq!(
        s.post("/bulk-import/users/remove", json!({"ids": []})).await,
        json!({"deletedIds": [], "invalidIds": []})
    );
    let (st, text) = s.status_and_text("POST", "/bulk-import/users/remove", Some(json!({"ids": [""]}))).await;
    assert_eq!((st, text.as_str()), (400, "Field name 'ids' cannot contain an empty string"));
    let many: Vec<String> = (0..501).map(|i| i.to_string()).collect();
    let (st, text) = s.status_and_text("POST", "/bulk-import/users/remove", Some(json!({"ids": many}))).await;
    assert_eq!((st, text.as_str()), (400, "Field name 'ids' cannot contain more than 500 elements"));
    // At most 10 000 users a request.
    let too_many: Vec<Value> = (0..10_001).map(|_| json!({})).collect();
    let (st, text) = s.status_and_text("POST", "/bulk-import/users", Some(json!({"users": too_many}))).await;
    assert_eq!((st, text.as_str()), (400, "{\"error\":\"You can only add 10000 users at a time.\"}"));
    // App-wide: a non-public tenant is refused.
    s.put("/recipe/multitenancy/tenant/v2", json!({"tenantId": "t1"})).await;
    assert_eq!(s.status_and_text("GET", "/t1/bulk-import/users/count", None).await.0, 403);
    s.stop().await;
}

/// Invalid users: nothing is queued, and each invalid user's errors are listed with the
/// reference's words, in its order.
async fn validation_messages(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({"bcrypt_log_rounds": 4})).await else { return };
    s.put("/recipe/role", json!({"role": "admin"})).await;
    let future = START_MS + 1_000;
    let users = json!([
        ep_user("ok@x.com", "pw"),
        {"externalUserId": "dup", "userRoles": [{"role": "ghost", "tenantIds": ["public"]}],
         "totpDevices": [{"secretKey": "ABC", "period": 0, "skew": -1}],
         "loginMethods": [
            {"recipeId": "emailpassword", "email": "a@x.com", "passwordHash": "nothash", "hashingAlgorithm": "bcrypt",
             "isPrimary": true, "timeJoinedInMSSinceEpoch": future, "tenantIds": ["t9", "public"]},
            {"recipeId": "emailpassword", "email": "b@x.com", "hashingAlgorithm": "md5", "isPrimary": true},
            {"recipeId": "saml"},
            {"recipeId": "thirdparty", "email": "c@x.com", "thirdPartyId": "a-very-long-provider-id-of-30c"},
            {"recipeId": "passwordless"}]},
        {"externalUserId": "dup", "loginMethods": [{"recipeId": "emailpassword", "email": "d@x.com",
          "passwordHash": FIREBASE_HASH, "hashingAlgorithm": "firebase_scrypt"}]},
        {"loginMethods": []},
        {"userMetadata": [], "loginMethods": "x"}
    ]);
    let (st, text) = s.status_and_text("POST", "/bulk-import/users", Some(json!({"users": users}))).await;
    assert_eq!(st, 400);
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["error"], "Data has missing or invalid fields. Please check the users field for more details.");
    assert_eq!(
        body["users"],
        json!([
            {"index": 1, "errors": [
                "Role ghost does not exist.",
                "period should be > 0 for a totp device.",
                "skew should be >= 0 for a totp device.",
                "No two loginMethods can have isPrimary as true.",
                "Invalid tenantId: t9 for emailpassword recipe.",
                "timeJoined cannot be in future for a loginMethod.",
                "Password hash is in invalid BCrypt format",
                "Either (passwordHash, hashingAlgorithm) or plainTextPassword is required for an emailpassword recipe.",
                "Invalid hashingAlgorithm for emailpassword recipe. Pass one of bcrypt, argon2 or, firebase_scrypt!",
                "Invalid recipeId for loginMethod. Pass one of emailpassword, thirdparty or, passwordless!",
                "thirdPartyUserId is required for a thirdparty recipe.",
                "thirdPartyId a-very-long-provider-id-of-30c is too long. Max length is 28.",
                "Either email or phoneNumber is required for a passwordless recipe."
            ]},
            {"index": 2, "errors": [
                "'firebase_password_hashing_signer_key' cannot be null",
                "externalUserId dup is not unique. It is already used by another user."
            ]},
            {"index": 3, "errors": ["At least one loginMethod is required."]},
            {"index": 4, "errors": ["userMetadata should be of type object.", "loginMethods should be of type array of object."]}
        ])
    );
    assert_eq!(s.get("/bulk-import/users/count").await["count"], 0);
    s.stop().await;
}

/// `POST /bulk-import/import` of every kind: bcrypt, argon2, Firebase-scrypt and plain-text
/// passwords sign in; a linked user (e-mail-password primary, third party and passwordless)
/// with an external id, metadata, roles, a TOTP device and verified e-mails in two tenants;
/// a second import of the same e-mail is refused with the reference's message.
async fn import_every_kind(b: Backend) {
    let Some(s) = TestServer::spawn(b, config()).await else { return };
    s.put("/recipe/multitenancy/tenant/v2", json!({"tenantId": "t1"})).await;
    s.put("/recipe/role", json!({"role": "admin"})).await;
    use st_core::password::Algorithm::{Argon2, Bcrypt};
    let kinds = [
        ("bc@x.com", json!({"passwordHash": hash(Bcrypt, "pw-bc"), "hashingAlgorithm": "bcrypt"}), "pw-bc"),
        ("ar@x.com", json!({"passwordHash": hash(Argon2, "pw-ar"), "hashingAlgorithm": "ARGON2"}), "pw-ar"),
        ("fb@x.com", json!({"passwordHash": FIREBASE_HASH, "hashingAlgorithm": "firebase_scrypt"}), "user1password"),
        ("pt@x.com", json!({"plainTextPassword": "pw-pt"}), "pw-pt"),
    ];
    for (email, fields, pw) in &kinds {
        let mut lm = json!({"recipeId": "emailpassword", "email": email});
        for (k, v) in fields.as_object().unwrap() {
            lm[k] = v.clone();
        }
        let r = s.post("/bulk-import/import", json!({"loginMethods": [lm]})).await;
        assert_eq!(r["status"], "OK", "{email}: {r}");
        let signed = sign_in(&s, "public", email, pw).await;
        assert_eq!(signed["status"], "OK", "{email}");
        assert_eq!(signed["user"]["id"], r["user"]["id"]);
        assert_eq!(sign_in(&s, "public", email, "wrong").await["status"], "WRONG_CREDENTIALS_ERROR");
    }
    let joined = START_MS - 86_400_000;
    let user = json!({
        "externalUserId": "ext-linked",
        "userMetadata": {"plan": "pro"},
        "userRoles": [{"role": "admin", "tenantIds": ["public", "t1"]}],
        "totpDevices": [{"secretKey": "JBSWY3DPEHPK3PXP", "deviceName": "phone"}],
        "loginMethods": [
            {"recipeId": "emailpassword", "email": "Linked@X.com", "plainTextPassword": "pw", "isPrimary": true,
             "isVerified": true, "tenantIds": ["public", "t1"], "timeJoinedInMSSinceEpoch": joined + 5},
            {"recipeId": "thirdparty", "email": "linked@x.com", "thirdPartyId": "google", "thirdPartyUserId": "g-9",
             "isVerified": true, "timeJoinedInMSSinceEpoch": joined},
            {"recipeId": "passwordless", "phoneNumber": "+1 415 555 2671", "tenantIds": ["t1"]}
        ]
    });
    let r = s.post("/bulk-import/import", user.clone()).await;
    assert_eq!(r["status"], "OK", "{r}");
    let u = &r["user"];
    assert_eq!(u["id"], "ext-linked");
    assert_eq!(u["isPrimaryUser"], true);
    assert_eq!(u["timeJoined"], joined);
    assert_eq!(u["loginMethods"].as_array().unwrap().len(), 3);
    assert_eq!(u["phoneNumbers"], json!(["+14155552671"]));
    assert_eq!(str_set(&u["tenantIds"]), set(&["public", "t1"]));
    let ep = u["loginMethods"].as_array().unwrap().iter().find(|m| m["recipeId"] == "emailpassword").unwrap();
    assert_eq!((ep["recipeUserId"].as_str(), ep["verified"].as_bool()), (Some("ext-linked"), Some(true)));
    let tp = u["loginMethods"].as_array().unwrap().iter().find(|m| m["recipeId"] == "thirdparty").unwrap();
    assert_eq!(tp["verified"], true);
    // Sign-in in either tenant, the metadata, roles and TOTP device under the external id.
    assert_eq!(sign_in(&s, "t1", "linked@x.com", "pw").await["user"]["id"], "ext-linked");
    assert_eq!(s.get("/recipe/user/metadata?userId=ext-linked").await["metadata"], json!({"plan": "pro"}));
    assert_eq!(s.get("/t1/recipe/user/roles?userId=ext-linked").await["roles"], json!(["admin"]));
    let devices = s.get("/recipe/totp/device/list?userId=ext-linked").await;
    assert_eq!(devices["devices"][0]["name"], "phone");
    assert_eq!(devices["devices"][0]["verified"], true);
    let tp_signin = s
        .post(
            "/public/recipe/signinup",
            json!({"thirdPartyId": "google", "thirdPartyUserId": "g-9", "email": {"id": "linked@x.com", "isVerified": true}}),
        )
        .await;
    assert_eq!(tp_signin["createdNewUser"], false);
    assert_eq!(tp_signin["user"]["id"], "ext-linked");
    // The same e-mail again: refused, nothing written.
    let (st, text) = s
        .status_and_text(
            "POST",
            "/bulk-import/import",
            Some(json!({"loginMethods": [{"recipeId": "emailpassword",
            "email": "linked@x.com", "plainTextPassword": "x", "tenantIds": ["t1"]}]})),
        )
        .await;
    assert_eq!(st, 400);
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap(),
        json!({"errors": ["E003: A user with email linked@x.com already exists in emailpassword loginMethod."]})
    );
    // Another primary user with the third party's e-mail in a shared tenant: the linking rule.
    let (st, text) = s
        .status_and_text(
            "POST",
            "/bulk-import/import",
            Some(json!({"loginMethods": [
            {"recipeId": "passwordless", "email": "linked@x.com", "isPrimary": true}]})),
        )
        .await;
    assert_eq!(st, 400, "{text}");
    assert!(text.contains("E022: We tried to create the primary user for the userId"), "{text}");
    // A NUL character no column can store: refused alike on both backends.
    let (st, text) = s
        .status_and_text(
            "POST",
            "/bulk-import/import",
            Some(json!({"loginMethods": [{"recipeId": "passwordless",
            "email": "nul\u{0}@x.com"}]})),
        )
        .await;
    assert_eq!(st, 400);
    assert!(text.contains("Field name 'email' cannot contain a NUL character"), "{text}");
    // Invalid input: the validation errors.
    let (st, text) = s.status_and_text("POST", "/bulk-import/import", Some(json!({}))).await;
    assert_eq!((st, text.as_str()), (400, "{\"errors\":[\"loginMethods is required.\"]}"));
    s.stop().await;
}

/// The job: queued users imported (their rows removed), invalid and refused rows `FAILED`
/// with the reason (a role removed since they were queued; a duplicate e-mail in the batch);
/// a claim left by a dead instance is taken again after the timeout, each user imported once.
async fn job_moves_rows(b: Backend) {
    let Some(s) = TestServer::spawn(b, config()).await else { return };
    s.put("/recipe/role", json!({"role": "gone"})).await;
    let users = json!([
        ep_user("j1@x.com", "pw1"),
        ep_user("dup@x.com", "pw2"),
        ep_user("dup@x.com", "pw3"),
        {"userRoles": [{"role": "gone", "tenantIds": ["public"]}], "loginMethods": [{"recipeId": "passwordless",
          "email": "pl@x.com"}]},
        {"externalUserId": "tp-ext", "loginMethods": [{"recipeId": "thirdparty", "email": "tp@x.com",
          "thirdPartyId": "github", "thirdPartyUserId": "42", "isVerified": true}]}
    ]);
    assert_eq!(s.post("/bulk-import/users", json!({"users": users})).await["status"], "OK");
    s.post("/recipe/role/remove", json!({"role": "gone"})).await;
    let report = s.core.process_bulk_import().await.unwrap();
    assert_eq!((report.imported, report.failed), (3, 2), "{report:?}");
    assert_eq!(s.get("/bulk-import/users/count?status=NEW").await["count"], 0);
    let failed = s.get("/bulk-import/users?status=FAILED").await;
    let mut reasons: Vec<String> =
        failed["users"].as_array().unwrap().iter().map(|u| u["errorMessage"].as_str().unwrap().to_string()).collect();
    reasons.sort();
    assert_eq!(
        reasons,
        vec![
            "E003: A user with email dup@x.com already exists in emailpassword loginMethod.".to_string(),
            "[Role gone does not exist.]".to_string(),
        ]
    );
    assert_eq!(sign_in(&s, "public", "j1@x.com", "pw1").await["status"], "OK");
    // One of the two rows of the same e-mail won (rows of one creation time go in id order).
    let won = [sign_in(&s, "public", "dup@x.com", "pw2").await, sign_in(&s, "public", "dup@x.com", "pw3").await];
    assert_eq!(won.iter().filter(|r| r["status"] == "OK").count(), 1);
    assert_eq!(s.get("/recipe/user/email/verify?userId=tp-ext&email=tp%40x.com").await["isVerified"], true);
    // A second run finds nothing to do.
    assert_eq!(s.core.process_bulk_import().await.unwrap(), Default::default());

    // A claim by an instance that died (claimed, never settled): the rows stay PROCESSING and
    // are not taken again before the timeout; after it, the job imports each user once.
    s.post("/bulk-import/users", json!({"users": [ep_user("late1@x.com", "a"), ep_user("late2@x.com", "b")]})).await;
    let app = AppId::public();
    let dead = dead_claim(&s, &app).await;
    assert_eq!(dead, 2);
    assert_eq!(s.get("/bulk-import/users/count?status=PROCESSING").await["count"], 2);
    assert_eq!(s.core.process_bulk_import().await.unwrap(), Default::default());
    s.clock.advance_ms(CLAIM_TIMEOUT_MS + 1);
    let report = s.core.process_bulk_import().await.unwrap();
    assert_eq!((report.imported, report.failed), (2, 0));
    assert_eq!(s.get("/bulk-import/users/count").await["count"], 2); // the two FAILED rows
    assert_eq!(sign_in(&s, "public", "late2@x.com", "b").await["status"], "OK");
    s.stop().await;
}

/// One chunk of every kind the benchmark queues (bcrypt, argon2 and Firebase-scrypt hashes,
/// third party, passwordless by e-mail and by phone, a linked primary user with an external id,
/// metadata, a role and a verified e-mail), written together on PostgreSQL: every user is
/// imported whole and signs in or is found.
async fn job_imports_a_mixed_chunk(b: Backend) {
    let mut cfg = config();
    cfg["bulk_migration_parallelism"] = json!(1);
    cfg["bulk_migration_batch_size"] = json!(100);
    let Some(s) = TestServer::spawn(b, cfg).await else { return };
    s.put("/recipe/role", json!({"role": "member"})).await;
    let bcrypt = hash(st_core::password::Algorithm::Bcrypt, "pw");
    let argon2 = hash(st_core::password::Algorithm::Argon2, "pw");
    let ep = |i: usize, h: &str, alg: &str, primary: bool| {
        json!({"recipeId": "emailpassword", "email": format!("m{i}@x.com"), "passwordHash": h,
            "hashingAlgorithm": alg, "isPrimary": primary})
    };
    let tp = |i: usize| {
        json!({"recipeId": "thirdparty", "email": format!("m{i}@x.com"), "thirdPartyId": "google",
            "thirdPartyUserId": format!("g{i}"), "isVerified": true})
    };
    let users: Vec<Value> = (0..60)
        .map(|i| match i % 7 {
            0 => json!({"loginMethods": [ep(i, &bcrypt, "bcrypt", false)]}),
            1 => json!({"loginMethods": [ep(i, &argon2, "argon2", false)]}),
            2 => json!({"loginMethods": [ep(i, FIREBASE_HASH, "firebase_scrypt", false)]}),
            3 => json!({"loginMethods": [tp(i)]}),
            4 => json!({"loginMethods": [{"recipeId": "passwordless", "email": format!("m{i}@x.com")}]}),
            5 => json!({"loginMethods": [{"recipeId": "passwordless", "phoneNumber": format!("+1415555{i:04}")}]}),
            _ => json!({"externalUserId": format!("ext-{i}"), "userMetadata": {"n": i},
                "userRoles": [{"role": "member", "tenantIds": ["public"]}],
                "loginMethods": [ep(i, &bcrypt, "bcrypt", true), tp(i)]}),
        })
        .collect();
    assert_eq!(s.post("/bulk-import/users", json!({"users": users})).await["status"], "OK");
    let report = s.core.process_bulk_import().await.unwrap();
    assert_eq!((report.imported, report.failed), (60, 0), "{report:?}");
    assert_eq!(s.get("/bulk-import/users/count").await["count"], 0);
    assert_eq!(sign_in(&s, "public", "m0@x.com", "pw").await["status"], "OK");
    assert_eq!(sign_in(&s, "public", "m1@x.com", "pw").await["status"], "OK");
    assert_eq!(sign_in(&s, "public", "m2@x.com", "user1password").await["status"], "OK");
    let linked = sign_in(&s, "public", "m6@x.com", "pw").await;
    assert_eq!(linked["user"]["id"], "ext-6");
    assert_eq!(linked["user"]["isPrimaryUser"], true);
    assert_eq!(linked["user"]["loginMethods"].as_array().unwrap().len(), 2);
    assert_eq!(s.get("/recipe/user/metadata?userId=ext-13").await["metadata"], json!({"n": 13}));
    assert_eq!(s.get("/recipe/user/roles?userId=ext-20").await["roles"], json!(["member"]));
    // The verified e-mail is the third-party login method's (keyed by its own id).
    let methods = sign_in(&s, "public", "m27@x.com", "pw").await["user"]["loginMethods"].clone();
    let tp_method = methods.as_array().unwrap().iter().find(|m| m["recipeId"] == "thirdparty").unwrap().clone();
    assert_eq!(tp_method["verified"], true, "{methods}");
    let by_phone = s.get("/users/by-accountinfo?doUnionOfAccountInfo=false&phoneNumber=%2B14155550005").await;
    assert_eq!(by_phone["users"].as_array().unwrap().len(), 1, "{by_phone}");
    let by_email = s.get("/users/by-accountinfo?doUnionOfAccountInfo=false&email=m4%40x.com").await;
    assert_eq!(by_email["users"][0]["loginMethods"][0]["recipeId"], "passwordless", "{by_email}");
    s.stop().await;
}

/// Claim the claimable rows the way the job does and never settle them (an instance that
/// died mid-batch). Returns how many rows were claimed.
async fn dead_claim(s: &TestServer, app: &AppId) -> usize {
    s.core.bulk_import_claim_only(app, 100).await.unwrap()
}

/// On PostgreSQL: a row as the Java core queues it (Gson's `raw_data`, its own ids) is
/// imported by our job, and a row we queue has the columns and JSON the Java plugin reads
/// (`status` NEW, both times, `raw_data` with the row id and each login method's
/// `superTokensUserId`, no `status` or times inside).
#[tokio::test]
async fn java_rows_on_postgres() {
    let Some(s) = TestServer::spawn(Backend::Postgres, config()).await else { return };
    let (client, conn) = tokio_postgres::connect(s.db_url.as_ref().unwrap(), tokio_postgres::NoTls).await.unwrap();
    let task = tokio::spawn(conn);
    let java_id = "5b9c6a38-9f3e-4a51-9d1c-2f0c6f6e3a11";
    let raw = json!({"id": java_id, "externalUserId": "java-ext", "userMetadata": {"from": "java"},
        "loginMethods": [{"tenantIds": ["public"], "isVerified": true, "isPrimary": false,
            "timeJoinedInMSSinceEpoch": 1_700_000_000_000_i64, "recipeId": "emailpassword", "email": "java@x.com",
            "passwordHash": hash(st_core::password::Algorithm::Bcrypt, "java-pw"), "hashingAlgorithm": "BCRYPT",
            "superTokensUserId": java_id}]});
    client
        .execute(
            "INSERT INTO bulk_import_users (id, app_id, raw_data, created_at, updated_at) VALUES ($1, 'public', $2, $3, $3)",
            &[&java_id, &raw.to_string(), &(START_MS - 5)],
        )
        .await
        .unwrap();
    let listed = s.get("/bulk-import/users").await;
    assert_eq!(listed["users"][0]["id"], java_id);
    assert_eq!(listed["users"][0]["status"], "NEW");
    let report = s.core.process_bulk_import().await.unwrap();
    assert_eq!((report.imported, report.failed), (1, 0));
    let signed = sign_in(&s, "public", "java@x.com", "java-pw").await;
    assert_eq!(signed["user"]["id"], "java-ext");
    assert_eq!(signed["user"]["loginMethods"][0]["timeJoined"], 1_700_000_000_000_i64);
    assert_eq!(s.get("/recipe/user/metadata?userId=java-ext").await["metadata"], json!({"from": "java"}));
    let row = client.query_one("SELECT supertokens_user_id::TEXT FROM userid_mapping", &[]).await.unwrap();
    assert_eq!(row.get::<_, String>(0), java_id);

    // Ours, as the Java plugin reads it.
    let added = s.post("/bulk-import/users", json!({"users": [ep_user("ours@x.com", "pw")]})).await;
    let id = added["users"][0]["userId"].as_str().unwrap().to_string();
    let row = client
        .query_one(
            "SELECT raw_data, status, created_at, updated_at, primary_user_id, error_msg FROM bulk_import_users",
            &[],
        )
        .await
        .unwrap();
    let raw: Value = serde_json::from_str(&row.get::<_, String>(0)).unwrap();
    assert_eq!(raw["id"], id.as_str());
    assert_eq!(raw["loginMethods"][0]["superTokensUserId"], id.as_str());
    assert_eq!(raw["loginMethods"][0]["timeJoinedInMSSinceEpoch"], START_MS);
    assert_eq!(raw["loginMethods"][0]["tenantIds"], json!(["public"]));
    assert!(raw.get("status").is_none() && raw.get("createdAt").is_none());
    assert_eq!(row.get::<_, String>(1), "NEW");
    assert_eq!((row.get::<_, i64>(2), row.get::<_, i64>(3)), (START_MS, START_MS));
    assert_eq!((row.get::<_, Option<String>>(4), row.get::<_, Option<String>>(5)), (None, None));
    task.abort();
    s.stop().await;
}

/// The job runs at start-up, as the reference's (its initial wait is 0): the job runner
/// imports queued users without waiting for its 5-minute interval.
async fn job_runs_at_start_up(b: Backend) {
    let Some(s) = TestServer::spawn(b, config()).await else { return };
    s.post("/bulk-import/users", json!({"users": [ep_user("boot@x.com", "pw")]})).await;
    assert_eq!(s.get("/bulk-import/users/count?status=NEW").await["count"], 1);
    let jobs: Vec<std::sync::Arc<dyn st_core::jobs::Job>> =
        vec![std::sync::Arc::new(st_core::bulkimport::ProcessBulkImportUsers)];
    let runner = st_core::jobs::JobRunner::start(s.core.clone(), jobs);
    // The start-up run is in the background: wait for it (bounded), not for a clock.
    let mut left = 1;
    for _ in 0..200 {
        left = s.get("/bulk-import/users/count").await["count"].as_i64().unwrap();
        if left == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    runner.stop().await;
    assert_eq!(left, 0);
    assert_eq!(sign_in(&s, "public", "boot@x.com", "pw").await["status"], "OK");
    s.stop().await;
}

/// On PostgreSQL: two instances running the job at once on one queue import every user once
/// (disjoint claims), with no row failed or left behind.
#[tokio::test]
async fn two_instances_import_each_user_once_on_postgres() {
    let Some(a) = TestServer::spawn(Backend::Postgres, config()).await else { return };
    let b = TestServer::spawn_on(Backend::Postgres, config(), a.db_url.clone()).await.unwrap();
    let users: Vec<Value> = (0..120)
        .map(|i| {
            json!({"loginMethods": [{"recipeId": "thirdparty", "email": format!("two{i}@x.com"),
                "thirdPartyId": "google", "thirdPartyUserId": format!("two-{i}")}]})
        })
        .collect();
    a.post("/bulk-import/users", json!({"users": users})).await;
    let (ra, rb) = tokio::join!(a.core.process_bulk_import(), b.core.process_bulk_import());
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!((ra.imported + rb.imported, ra.failed + rb.failed), (120, 0), "{ra:?} {rb:?}");
    assert_eq!(a.get("/bulk-import/users/count").await["count"], 0);
    let (client, conn) = tokio_postgres::connect(a.db_url.as_ref().unwrap(), tokio_postgres::NoTls).await.unwrap();
    let task = tokio::spawn(conn);
    let n: i64 = client.query_one("SELECT COUNT(*) FROM thirdparty_users", &[]).await.unwrap().get(0);
    assert_eq!(n, 120);
    task.abort();
    a.stop().await;
    b.stop().await;
}

st_tests::both_backends! {
    queue_routes => queue_routes;
    validation_messages => validation_messages;
    import_every_kind => import_every_kind;
    job_moves_rows => job_moves_rows;
    job_imports_a_mixed_chunk => job_imports_a_mixed_chunk;
    job_runs_at_start_up => job_runs_at_start_up;
}
