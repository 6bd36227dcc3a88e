//! Multi-factor authentication as the SDKs use the core (§a.10, §g.5). The core has no MFA
//! endpoint: the SDK's MFA recipe reads the tenant's `firstFactors` and
//! `requiredSecondaryFactors` (`GET …/tenant/v2`), the user's required factors from plain user
//! metadata (`_supertokens.requiredSecondaryFactors`), keeps the completed factors in the
//! access token's `st-mfa` claim, and sets up factors with TOTP devices, passwordless codes and
//! account linking. These tests run those calls in the SDK's order and check what the core does
//! with them: stores and returns the factor lists (validated as the reference validates them),
//! keeps the metadata as given, carries `st-mfa` through the session APIs, and keeps a user's
//! TOTP devices, metadata and sessions with its primary user id when other login methods are
//! linked to it or the primary's own method is removed.

use crate::helpers::*;
use serde_json::{json, Value};
use st_core::clock::Clock;
use totp_rs::{Algorithm, Secret, TOTP};

fn code(secret: &str, at_ms: i64) -> String {
    let key = Secret::Encoded(secret.to_string()).to_bytes().expect("the secret is base32");
    TOTP::new_unchecked(Algorithm::SHA1, 6, 0, 30, key).generate((at_ms / 1000) as u64)
}

fn id_of(r: &Value) -> String {
    r["user"]["id"].as_str().unwrap_or_else(|| panic!("no user id in {r}")).to_string()
}

/// The tenant's factor lists as the SDK reads them, custom factor ids included; what the
/// reference refuses (duplicates, other characters) is refused; `null` / `[]` clear them.
async fn tenant_factors(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    let body = json!({
        "tenantId": "t1",
        "firstFactors": ["emailpassword", "thirdparty", "otp-email", "biometric.v2"],
        "requiredSecondaryFactors": ["totp", "otp-phone"],
    });
    assert_eq!(s.put("/recipe/multitenancy/tenant/v2", body).await["createdNew"], true);
    // (As sets: the SDKs read them so; PostgreSQL lists them sorted, memory as given.)
    let t = s.get("/t1/recipe/multitenancy/tenant/v2").await;
    assert_eq!(str_set(&t["firstFactors"]), set(&["emailpassword", "thirdparty", "otp-email", "biometric.v2"]));
    assert_eq!(str_set(&t["requiredSecondaryFactors"]), set(&["totp", "otp-phone"]));
    // The public tenant, set through the app API.
    let app = json!({"appId": "a1", "firstFactors": ["emailpassword"], "requiredSecondaryFactors": ["totp"]});
    s.put("/recipe/multitenancy/app/v2", app).await;
    let t = s.get("/appid-a1/recipe/multitenancy/tenant/v2").await;
    assert_eq!((&t["firstFactors"], &t["requiredSecondaryFactors"]), (&json!(["emailpassword"]), &json!(["totp"])));
    for (body, message) in [
        (
            json!({"tenantId": "t1", "firstFactors": ["totp", "totp"]}),
            "firstFactors input should not contain duplicate values",
        ),
        (
            json!({"tenantId": "t1", "requiredSecondaryFactors": ["otp email"]}),
            "requiredSecondaryFactors should contain only 0-9,a-z,A-Z,_,.,- characters",
        ),
    ] {
        assert_eq!(s.status_and_text("PUT", "/recipe/multitenancy/tenant/v2", Some(body)).await, (400, message.into()));
    }
    s.put("/recipe/multitenancy/tenant/v2", json!({"tenantId": "t1", "requiredSecondaryFactors": null})).await;
    let t = s.get("/t1/recipe/multitenancy/tenant/v2").await;
    assert!(t.get("requiredSecondaryFactors").is_none(), "{t}");
    assert_eq!(str_set(&t["firstFactors"]), set(&["emailpassword", "thirdparty", "otp-email", "biometric.v2"]));
}

/// A first factor, then TOTP as the SDK sets it up and completes it: the user's required factors
/// in its metadata, the `st-mfa` claim through session creation, payload update and refresh, the
/// device created and verified with a code computed here, a second login method (otp-email)
/// linked to the primary user, and the TOTP devices, metadata and sessions kept with the
/// primary id as linked methods come and go.
async fn second_factor_flow(b: Backend) {
    let Some(s) = TestServer::spawn(b, cheap_hashing()).await else { return };
    // First factor: e-mail-password; the SDK makes the user primary when MFA is on.
    let user = id_of(&sign_up(&s, "mia@example.com", "pw-secret").await);
    assert_eq!(s.post("/recipe/accountlinking/user/primary", json!({"recipeUserId": user})).await["status"], "OK");
    let required = json!({"_supertokens": {"requiredSecondaryFactors": ["totp"]}});
    s.put("/recipe/user/metadata", json!({"userId": user, "metadataUpdate": required})).await;
    s.put("/recipe/user/metadata", json!({"userId": user, "metadataUpdate": {"plan": "pro"}})).await;
    let metadata = s.get(&format!("/recipe/user/metadata?userId={user}")).await["metadata"].clone();
    assert_eq!(metadata, json!({"_supertokens": {"requiredSecondaryFactors": ["totp"]}, "plan": "pro"}));

    // The session with the factors completed so far.
    let claim = json!({"c": {"emailpassword": START_MS}, "v": false});
    let body =
        json!({"userId": user, "enableAntiCsrf": false, "userDataInJWT": {"st-mfa": claim}, "userDataInDatabase": {}});
    let session = s.post("/public/recipe/session", body).await;
    assert_eq!(jwt_payload(&at(&session))["st-mfa"], claim);
    let h = handle(&session);

    // TOTP set-up: a device, verified with its current code; then the claim is updated.
    let device = s.post("/recipe/totp/device", json!({"userId": user, "skew": 1, "period": 30})).await;
    let secret = device["secret"].as_str().unwrap().to_string();
    let name = device["deviceName"].as_str().unwrap().to_string();
    let verified = s
        .post(
            "/public/recipe/totp/device/verify",
            json!({"userId": user, "deviceName": name, "totp": code(&secret, s.clock.now_ms())}),
        )
        .await;
    assert_eq!(verified, json!({"status": "OK", "wasAlreadyVerified": false}));
    let done = json!({"c": {"emailpassword": START_MS, "totp": START_MS}, "v": true});
    let update = json!({"sessionHandle": h, "userDataInJWT": {"st-mfa": done}});
    assert_eq!(s.put("/recipe/jwt/data", update).await["status"], "OK");
    let refreshed = s
        .post(
            "/public/recipe/session/refresh",
            json!({"refreshToken": rt(&session), "enableAntiCsrf": false, "useDynamicSigningKey": true}),
        )
        .await;
    assert_eq!(jwt_payload(&at(&refreshed))["st-mfa"], done);
    let status = s.post("/recipe/totp/device/status/bulk", json!({"userIds": [user]})).await;
    assert_eq!(status["users"], json!([{"userId": user, "hasVerifiedDevice": true}]));

    // A later sign-in: the factor is checked by the core.
    s.clock.advance_ms(60_000);
    let ok =
        s.post("/public/recipe/totp/verify", json!({"userId": user, "totp": code(&secret, s.clock.now_ms())})).await;
    assert_eq!(ok["status"], "OK");

    // otp-email as another factor: the SDK signs the e-mail up with passwordless and links it.
    let code_body = s.post("/public/recipe/signinup/code", json!({"email": "mia@example.com"})).await;
    let consumed = s
        .post(
            "/public/recipe/signinup/code/consume",
            json!({"preAuthSessionId": code_body["preAuthSessionId"], "linkCode": code_body["linkCode"]}),
        )
        .await;
    let otp = consumed["recipeUserId"].as_str().unwrap().to_string();
    let linked = s.post("/recipe/accountlinking/user/link", json!({"recipeUserId": otp, "primaryUserId": user})).await;
    assert_eq!(
        (linked["status"].as_str(), linked["user"]["loginMethods"].as_array().map(Vec::len)),
        (Some("OK"), Some(2))
    );
    // The primary's session is kept; a session of the linked method names the primary.
    assert_eq!(s.get(&format!("/public/recipe/session?sessionHandle={h}")).await["status"], "OK");
    let body = json!({"userId": otp, "enableAntiCsrf": false, "userDataInJWT": {}, "userDataInDatabase": {}});
    let otp_session = s.post("/public/recipe/session", body).await;
    assert_eq!(jwt_payload(&at(&otp_session))["sub"].as_str(), Some(user.as_str()));
    assert_eq!(jwt_payload(&at(&otp_session))["rsub"].as_str(), Some(otp.as_str()));

    // The primary's own method removed: its id keeps its devices and metadata.
    s.post("/user/remove", json!({"userId": user, "removeAllLinkedAccounts": false})).await;
    let devices = s.get(&format!("/recipe/totp/device/list?userId={user}")).await;
    assert_eq!(devices["devices"].as_array().map(Vec::len), Some(1));
    assert_eq!(s.get(&format!("/recipe/user/metadata?userId={user}")).await["metadata"], metadata);
    assert_eq!(s.get(&format!("/user/id?userId={otp}")).await["user"]["id"].as_str(), Some(user.as_str()));
    // The whole user: its devices and metadata go.
    s.post("/user/remove", json!({"userId": otp})).await;
    assert_eq!(s.get(&format!("/recipe/totp/device/list?userId={user}")).await["devices"], json!([]));
    assert_eq!(s.get(&format!("/recipe/user/metadata?userId={user}")).await["metadata"], json!({}));
}

st_tests::both_backends! {
    tenant_factors => tenant_factors;
    second_factor_flow => second_factor_flow;
}
