//! Multitenancy management over HTTP (reference notes §a.14, §b.1, §e.1, §g.3, §i): apps and
//! tenants created and updated through the v2 (and deprecated) APIs, per-app `coreConfig` given
//! as strings or numbers and applied to sessions, `/appid-<a>/<t>` routing and isolation, the
//! default shapes, `TENANT_NOT_FOUND_ERROR` as a 200, config validation (400), permission rules
//! (403), removal cascading to the removed tenant's / app's data, and hundreds of apps created the
//! way the SDK test suites do.

use crate::helpers::{cheap_hashing, handle, jwt_payload, raw, set, sign_up, str_set, Backend, TestServer};
use serde_json::{json, Value};
use std::collections::BTreeSet;

mod domains;
mod permissions;
mod providers;
mod tenant_users;

const KEY: &str = "per-app-key-0123456789-abcdefgh";

async fn create_app(s: &TestServer, app: &str, core_config: Value) -> Value {
    s.put("/recipe/multitenancy/app/v2", json!({"appId": app, "coreConfig": core_config})).await
}

async fn create_tenant(s: &TestServer, app: &str, tenant: &str) -> Value {
    s.put(&format!("/appid-{app}/recipe/multitenancy/tenant/v2"), json!({"tenantId": tenant})).await
}

async fn session(s: &TestServer, prefix: &str, user: &str) -> Value {
    let r = s
        .post(
            &format!("{prefix}/recipe/session"),
            json!({"userId": user, "enableAntiCsrf": false, "userDataInJWT": {}, "userDataInDatabase": {}}),
        )
        .await;
    assert_eq!(r["status"], "OK", "{r}");
    r
}

fn access_validity_s(r: &Value) -> i64 {
    let p = jwt_payload(r["accessToken"]["token"].as_str().unwrap());
    p["exp"].as_i64().unwrap() - p["iat"].as_i64().unwrap()
}

/// exp - iat for a configured validity, allowing the reference's ≤5% jitter.
fn assert_validity(r: &Value, configured: i64) {
    let v = access_validity_s(r);
    assert!(v <= configured && v * 100 >= configured * 95, "access validity {v}, configured {configured}");
}

fn ids(list: &Value, field: &str) -> BTreeSet<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("not an array: {list}"))
        .iter()
        .map(|t| t[field].as_str().unwrap().to_string())
        .collect()
}

fn tenant_not_found() -> Value {
    json!({"status": "TENANT_NOT_FOUND_ERROR"})
}

/// The JSON body of a 200 (status, body).
fn ok_json(r: (u16, String)) -> Value {
    assert_eq!(r.0, 200, "{}", r.1);
    serde_json::from_str(&r.1).unwrap()
}

/// A config value the reference may echo as given (string) or normalised (number).
fn config_number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

async fn apps_created_updated_and_configured(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    let cfg = json!({"access_token_validity": "7200", "refresh_token_validity": 1000, "passwordless_code_lifetime": 1000,
                     "access_token_signing_key_dynamic": "false", "password_hashing_alg": "argon2"});
    assert_eq!(create_app(&s, "a1", cfg).await, json!({"status": "OK", "createdNew": true}));
    assert_eq!(
        s.put("/recipe/multitenancy/app/v2", json!({"appId": "a1"})).await,
        json!({"status": "OK", "createdNew": false}),
        "an update"
    );
    // The deprecated path creates apps too.
    assert_eq!(
        s.put("/recipe/multitenancy/app", json!({"appId": "a9"})).await,
        json!({"status": "OK", "createdNew": true})
    );

    // The stored config (strings or numbers accepted; an update without coreConfig keeps it).
    let t = s.get("/appid-a1/recipe/multitenancy/tenant/v2").await;
    assert_eq!(t["status"], "OK");
    assert_eq!(config_number(&t["coreConfig"]["access_token_validity"]), Some(7200.0), "{t}");
    assert_eq!(config_number(&t["coreConfig"]["refresh_token_validity"]), Some(1000.0), "{t}");

    // Applied to the app's sessions, not to others.
    let r = session(&s, "/appid-a1", "u").await;
    assert_validity(&r, 7200);
    let rt = &r["refreshToken"];
    assert_eq!(rt["expiry"].as_i64().unwrap() - rt["createdTime"].as_i64().unwrap(), 1000 * 60_000);
    assert_validity(&session(&s, "", "u").await, 3600);
    assert_validity(&session(&s, "/appid-a9", "u").await, 3600);

    // Updating the app's config changes new sessions; `null` removes a key.
    assert_eq!(create_app(&s, "a1", json!({"access_token_validity": 100})).await["createdNew"], false);
    assert_validity(&session(&s, "/appid-a1", "u").await, 100);
    let r = session(&s, "/appid-a1/public", "u").await;
    assert_validity(&r, 100);
    assert_eq!(create_app(&s, "a1", json!({"access_token_validity": null})).await["status"], "OK");
    assert_validity(&session(&s, "/appid-a1", "u").await, 3600);
    let t = s.get("/appid-a1/recipe/multitenancy/tenant/v2").await;
    assert!(t["coreConfig"].get("access_token_validity").is_none(), "{t}");
    assert_eq!(config_number(&t["coreConfig"]["refresh_token_validity"]), Some(1000.0), "other keys stay");

    // A per-app api_keys protects only that app.
    create_app(&s, "a2", json!({"api_keys": KEY})).await;
    let body = json!({"userId": "u", "enableAntiCsrf": false, "userDataInJWT": {}, "userDataInDatabase": {}});
    let (st, text) = raw(&s, "POST", "/appid-a2/recipe/session", Some(body.clone())).await;
    assert_eq!((st, text.as_str()), (401, "Invalid API key\n"));
    let (st, _) = s
        .request("POST", "/appid-a2/recipe/session", Some(body.clone()), &[("cdi-version", "5.4"), ("api-key", KEY)])
        .await;
    assert_eq!(st, 200);
    assert_eq!(raw(&s, "POST", "/recipe/session", Some(body)).await.0, 200, "the public app stays open");
    s.stop().await;
}

async fn app_routing_and_isolation(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    create_app(&s, "a1", json!({})).await;
    let r = session(&s, "/appid-a1", "u").await;
    let h = handle(&r);
    let token = r["accessToken"]["token"].as_str().unwrap();
    let refresh_token = r["refreshToken"]["token"].as_str().unwrap();

    // Case-insensitive app prefix, explicit public tenant.
    for prefix in ["/appid-a1", "/APPID-A1", "/appid-a1/public"] {
        let v = s.get(&format!("{prefix}/recipe/session?sessionHandle={h}")).await;
        assert_eq!(v["status"], "OK", "{prefix}: {v}");
    }
    // Not visible from the public app; tokens are the app's own.
    assert_eq!(s.get(&format!("/recipe/session?sessionHandle={h}")).await["status"], "UNAUTHORISED");
    assert_eq!(s.get(&format!("/appid-public/recipe/session?sessionHandle={h}")).await["status"], "UNAUTHORISED");
    let verify =
        json!({"accessToken": token, "doAntiCsrfCheck": false, "enableAntiCsrf": false, "checkDatabase": false});
    assert_eq!(s.post("/appid-a1/recipe/session/verify", verify.clone()).await["status"], "OK");
    assert_eq!(s.post("/recipe/session/verify", verify).await["status"], "TRY_REFRESH_TOKEN", "other app, other keys");
    let refresh = json!({"refreshToken": refresh_token, "enableAntiCsrf": false, "useDynamicSigningKey": true});
    assert_eq!(
        s.post("/recipe/session/refresh", refresh.clone()).await["status"],
        "UNAUTHORISED",
        "other app, other key"
    );
    assert_eq!(s.post("/appid-a1/recipe/session/refresh", refresh).await["status"], "OK");
    // Listing by user is per app.
    session(&s, "", "u").await;
    let mine = s.get("/appid-a1/recipe/session/user?userId=u").await;
    assert_eq!(mine["sessionHandles"], json!([h]));
    // Unknown app.
    let (st, text) = raw(&s, "GET", &format!("/appid-nope/recipe/session?sessionHandle={h}"), None).await;
    assert_eq!(st, 400, "{text}");
    assert!(text.starts_with("AppId or tenantId not found => "), "{text}");
    s.stop().await;
}

async fn tenants_created_read_and_listed(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    assert_eq!(
        s.get("/recipe/multitenancy/tenant/v2").await,
        json!({"tenantId": "public", "thirdParty": {"providers": []}, "coreConfig": {}, "status": "OK"}),
        "the default public tenant"
    );
    create_app(&s, "a1", json!({})).await;
    assert_eq!(
        s.get("/appid-a1/public/recipe/multitenancy/tenant/v2").await,
        json!({"tenantId": "public", "thirdParty": {"providers": []}, "coreConfig": {}, "status": "OK"}),
        "a new app's public tenant"
    );

    let created = s
        .put(
            "/appid-a1/recipe/multitenancy/tenant/v2",
            json!({"tenantId": "t1", "firstFactors": ["emailpassword"], "coreConfig": {"passwordless_code_lifetime": 1000}}),
        )
        .await;
    assert_eq!(created, json!({"status": "OK", "createdNew": true}));
    assert_eq!(create_tenant(&s, "a1", "t1").await, json!({"status": "OK", "createdNew": false}));
    assert_eq!(
        s.get("/appid-a1/t1/recipe/multitenancy/tenant/v2").await,
        json!({"tenantId": "t1", "thirdParty": {"providers": []}, "firstFactors": ["emailpassword"],
               "coreConfig": {"passwordless_code_lifetime": 1000}, "status": "OK"}),
        "an update without fields keeps them"
    );
    s.put(
        "/appid-a1/recipe/multitenancy/tenant/v2",
        json!({"tenantId": "t1", "firstFactors": null, "requiredSecondaryFactors": ["totp"]}),
    )
    .await;
    let t = s.get("/appid-a1/t1/recipe/multitenancy/tenant/v2").await;
    assert!(t.get("firstFactors").is_none(), "null = all factors: {t}");
    assert_eq!(t["requiredSecondaryFactors"], json!(["totp"]));

    // The deprecated shape.
    let v1 = s.get("/appid-a1/t1/recipe/multitenancy/tenant").await;
    assert_eq!((v1["status"].as_str(), v1["tenantId"].as_str()), (Some("OK"), Some("t1")), "{v1}");
    for recipe in ["emailPassword", "thirdParty", "passwordless"] {
        assert!(v1[recipe]["enabled"].is_boolean(), "{recipe}: {v1}");
    }
    assert_eq!(v1["thirdParty"]["providers"], json!([]));
    assert!(v1["coreConfig"].is_object());

    // Tenant ids are normalised to lower case; sessions work in the new tenant.
    assert_eq!(create_tenant(&s, "a1", "T2").await["createdNew"], true);
    assert_eq!(s.get("/appid-a1/t2/recipe/multitenancy/tenant/v2").await["tenantId"], "t2");
    let r = session(&s, "/appid-a1/t2", "u").await;
    assert_eq!(r["session"]["tenantId"], "t2");

    // Lists.
    let list = s.get("/appid-a1/recipe/multitenancy/tenant/list/v2").await;
    assert_eq!(list["status"], "OK");
    assert_eq!(ids(&list["tenants"], "tenantId"), set(&["public", "t1", "t2"]));
    let t1 = list["tenants"].as_array().unwrap().iter().find(|t| t["tenantId"] == "t1").unwrap().clone();
    assert_eq!(t1["requiredSecondaryFactors"], json!(["totp"]), "list entries use the v2 shape: {t1}");
    assert_eq!(
        ids(&s.get("/appid-a1/recipe/multitenancy/tenant/list").await["tenants"], "tenantId"),
        set(&["public", "t1", "t2"])
    );
    let apps = s.get("/recipe/multitenancy/app/list/v2").await;
    assert_eq!(ids(&apps["apps"], "appId"), set(&["public", "a1"]));
    let a1 = apps["apps"].as_array().unwrap().iter().find(|a| a["appId"] == "a1").unwrap().clone();
    assert_eq!(ids(&a1["tenants"], "tenantId"), set(&["public", "t1", "t2"]));
    assert_eq!(ids(&s.get("/recipe/multitenancy/app/list").await["apps"], "appId"), set(&["public", "a1"]));

    // As the reference creates tenants: through v2 without factors, none is allowed until the
    // caller names some; through the deprecated API, every recipe starts off.
    let v2 = |t: &str| format!("/appid-a1/{t}/recipe/multitenancy/tenant/v2");
    assert_eq!(s.get(&v2("t2")).await["firstFactors"], json!([]), "created by v2 without factors");
    let put =
        s.put("/appid-a1/recipe/multitenancy/tenant", json!({"tenantId": "t3", "emailPasswordEnabled": true})).await;
    assert_eq!(put["createdNew"], true);
    let enabled = |v1: &Value| ["emailPassword", "thirdParty", "passwordless"].map(|r| v1[r]["enabled"].as_bool());
    let v1 = s.get("/appid-a1/t3/recipe/multitenancy/tenant").await;
    assert_eq!(enabled(&v1), [Some(true), Some(false), Some(false)], "{v1}");
    assert_eq!(s.get(&v2("t3")).await["firstFactors"], json!(["emailpassword"]));
    // A v2 update that names factors turns the legacy flags on; the first factors they gave
    // stay, now as an explicit list.
    s.put("/appid-a1/recipe/multitenancy/tenant/v2", json!({"tenantId": "t3", "requiredSecondaryFactors": ["totp"]}))
        .await;
    let t3 = s.get(&v2("t3")).await;
    assert_eq!((&t3["firstFactors"], &t3["requiredSecondaryFactors"]), (&json!(["emailpassword"]), &json!(["totp"])));
    let v1 = s.get("/appid-a1/t3/recipe/multitenancy/tenant").await;
    assert_eq!(enabled(&v1), [Some(true); 3], "{v1}");
    // The deprecated shape carries the factor lists when set.
    assert_eq!((&v1["firstFactors"], &v1["requiredSecondaryFactors"]), (&json!(["emailpassword"]), &json!(["totp"])));
    // A v2 tenant with an empty first-factor list reads as every recipe off there.
    let v1 = s.get("/appid-a1/t2/recipe/multitenancy/tenant").await;
    assert_eq!(enabled(&v1), [Some(false); 3], "{v1}");
    assert!(v1.get("firstFactors").is_none(), "{v1}");
    // The deprecated lists use the deprecated shape.
    let listed = s.get("/appid-a1/recipe/multitenancy/tenant/list").await;
    let t2 = listed["tenants"].as_array().unwrap().iter().find(|t| t["tenantId"] == "t2").unwrap().clone();
    assert_eq!(t2["emailPassword"], json!({"enabled": false}), "{t2}");
    let apps = s.get("/recipe/multitenancy/app/list").await;
    let a1 = apps["apps"].as_array().unwrap().iter().find(|a| a["appId"] == "a1").unwrap().clone();
    assert!(a1["tenants"][0].get("emailPassword").is_some(), "{a1}");
    // Enabling a recipe through the deprecated API on that tenant starts from "all off, no list".
    s.put("/appid-a1/recipe/multitenancy/tenant", json!({"tenantId": "t2", "emailPasswordEnabled": true})).await;
    let v1 = s.get("/appid-a1/t2/recipe/multitenancy/tenant").await;
    assert_eq!(enabled(&v1), [Some(true), Some(false), Some(false)], "{v1}");
    assert_eq!(s.get(&v2("t2")).await["firstFactors"], json!(["emailpassword"]));
    s.put("/appid-a1/recipe/multitenancy/tenant/v2", json!({"tenantId": "t3", "firstFactors": null})).await;
    assert!(s.get(&v2("t3")).await.get("firstFactors").is_none(), "null: all factors");
    // An empty list of required secondary factors is no list.
    s.put("/appid-a1/recipe/multitenancy/tenant/v2", json!({"tenantId": "t3", "requiredSecondaryFactors": []})).await;
    assert!(s.get(&v2("t3")).await.get("requiredSecondaryFactors").is_none());

    // A create/update body without an id (or with null) names the public app or tenant.
    let put = s
        .put("/appid-a1/recipe/multitenancy/tenant/v2", json!({"coreConfig": {"password_reset_token_lifetime": 5000}}));
    assert_eq!(put.await, json!({"status": "OK", "createdNew": false}));
    assert_eq!(s.get(&v2("public")).await["coreConfig"]["password_reset_token_lifetime"], 5000);
    let put = s.put("/recipe/multitenancy/app/v2", json!({"appId": null, "coreConfig": {}})).await;
    assert_eq!(put, json!({"status": "OK", "createdNew": false}), "the public app");

    // A tenant of an unknown app cannot be created.
    let (st, _) = raw(&s, "PUT", "/appid-nope/recipe/multitenancy/tenant/v2", Some(json!({"tenantId": "t1"}))).await;
    assert_eq!(st, 400);
    s.stop().await;
}

async fn tenant_not_found_is_a_200(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    create_app(&s, "a1", json!({})).await;
    for path in [
        "/appid-a1/nope/recipe/multitenancy/tenant/v2",
        "/nope/recipe/multitenancy/tenant/v2",
        "/appid-nope/recipe/multitenancy/tenant/v2",
        "/appid-nope/t1/recipe/multitenancy/tenant/v2",
        "/appid-a1/nope/recipe/multitenancy/tenant",
    ] {
        let (st, text) = raw(&s, "GET", path, None).await;
        assert_eq!(st, 200, "{path}: {text}");
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), tenant_not_found(), "{path}");
    }
    // Other tenant-scoped APIs answer an unknown tenant with a 400.
    let body = json!({"userId": "u", "enableAntiCsrf": false, "userDataInJWT": {}, "userDataInDatabase": {}});
    let (st, text) = raw(&s, "POST", "/appid-a1/nope/recipe/session", Some(body)).await;
    assert_eq!(st, 400);
    assert_eq!(
        text,
        "AppId or tenantId not found => Tenant with the following connectionURIDomain, appId and tenantId combination not found: (, a1, nope)\n"
    );
    s.stop().await;
}

async fn config_validation(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };

    let (st, text) =
        raw(&s, "PUT", "/recipe/multitenancy/app/v2", Some(json!({"appId": "a1", "coreConfig": {"foo": 1}}))).await;
    assert_eq!((st, text.as_str()), (400, "Invalid core config: Invalid config key: foo\n"));
    assert_eq!(s.get("/appid-a1/recipe/multitenancy/tenant/v2").await, tenant_not_found(), "nothing was created");

    let (st, text) =
        raw(&s, "PUT", "/recipe/multitenancy/app/v2", Some(json!({"appId": "a1", "coreConfig": {"port": 1234}}))).await;
    assert_eq!(
        (st, text.as_str()),
        (400, "Invalid core config: port can only be set via the core's base config setting\n")
    );
    let (st, text) = raw(
        &s,
        "PUT",
        "/recipe/multitenancy/app/v2",
        Some(json!({"appId": "a1", "coreConfig": {"bcrypt_log_rounds": 5}})),
    )
    .await;
    assert_eq!(
        (st, text.as_str()),
        (400, "Invalid core config: bcrypt_log_rounds can only be set via the core's base config setting\n")
    );
    let (st, text) = raw(
        &s,
        "PUT",
        "/recipe/multitenancy/app/v2",
        Some(json!({"appId": "a1", "coreConfig": {"access_token_validity": "abc"}})),
    )
    .await;
    assert_eq!(st, 400);
    assert!(text.starts_with("Invalid core config: "), "{text}");
    assert_eq!(s.get("/appid-a1/recipe/multitenancy/tenant/v2").await, tenant_not_found(), "nothing was created");

    // The base tenant's config comes from config.yaml only.
    for (path, body) in [
        ("/recipe/multitenancy/tenant/v2", json!({"tenantId": "public", "coreConfig": {"access_token_validity": 100}})),
        ("/recipe/multitenancy/app/v2", json!({"appId": "public", "coreConfig": {"access_token_validity": 100}})),
    ] {
        let (st, text) = raw(&s, "PUT", path, Some(body)).await;
        assert_eq!((st, text.as_str()), (400, "Cannot modify base config\n"), "{path}");
    }
    assert_eq!(
        s.put("/recipe/multitenancy/app/v2", json!({"appId": "public", "coreConfig": {}})).await["createdNew"],
        false
    );
    assert_validity(&session(&s, "", "u").await, 3600);

    // App-level keys must agree across an app's tenants.
    create_app(&s, "a1", json!({"access_token_validity": 7200})).await;
    let (st, text) = raw(
        &s,
        "PUT",
        "/appid-a1/recipe/multitenancy/tenant/v2",
        Some(json!({"tenantId": "t1", "coreConfig": {"access_token_validity": 100}})),
    )
    .await;
    assert_eq!(
        (st, text.as_str()),
        (400, "Invalid core config: You cannot set different values for access_token_validity for the same appId\n")
    );
    assert_eq!(s.get("/appid-a1/t1/recipe/multitenancy/tenant/v2").await, tenant_not_found());
    // Tenant-level keys may differ.
    let ok = s
        .put(
            "/appid-a1/recipe/multitenancy/tenant/v2",
            json!({"tenantId": "t1", "coreConfig": {"passwordless_code_lifetime": 5}}),
        )
        .await;
    assert_eq!(ok["createdNew"], true);
    // Tenants inherit the app's config.
    assert_validity(&session(&s, "/appid-a1/t1", "u").await, 7200);
    s.stop().await;
}

async fn input_validation(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    let mut mismatches = Vec::new();
    for (path, body, msg) in [
        ("/recipe/multitenancy/tenant/v2", json!({"tenantId": "recipe"}), "Cannot use 'recipe' as a tenantId\n"),
        (
            "/recipe/multitenancy/tenant/v2",
            json!({"tenantId": "a_b"}),
            "tenantId can only contain letters, numbers and hyphens\n",
        ),
        ("/recipe/multitenancy/tenant/v2", json!({"tenantId": "appid-x"}), "tenantId must not start with 'appid-'\n"),
        ("/recipe/multitenancy/tenant/v2", json!({"tenantId": " "}), "tenantId should not be an empty String\n"),
        (
            "/recipe/multitenancy/tenant/v2",
            json!({"tenantId": "t".repeat(65)}),
            "tenantId must be at most 64 characters long\n",
        ),
        ("/recipe/multitenancy/app/v2", json!({"appId": "appid-x"}), "appId must not start with 'appid-'\n"),
        ("/recipe/multitenancy/app/v2", json!({"appId": "\u{1}"}), "appId should not be an empty String\n"),
        (
            "/recipe/multitenancy/app/v2",
            json!({"appId": "a b"}),
            "appId can only contain letters, numbers and hyphens\n",
        ),
        // v2 (CDI >= 5.1) body rules.
        (
            "/recipe/multitenancy/tenant/v2",
            json!({"tenantId": "t1", "firstFactors": ["emailpassword", "emailpassword"]}),
            "firstFactors input should not contain duplicate values\n",
        ),
        (
            "/recipe/multitenancy/tenant/v2",
            json!({"tenantId": "t1", "requiredSecondaryFactors": ["totp", "totp"]}),
            "requiredSecondaryFactors input should not contain duplicate values\n",
        ),
        (
            "/recipe/multitenancy/tenant/v2",
            json!({"tenantId": "t1", "firstFactors": ["email password"]}),
            "firstFactors should contain only 0-9,a-z,A-Z,_,.,- characters\n",
        ),
        (
            "/recipe/multitenancy/tenant/v2",
            json!({"tenantId": "t1", "emailPasswordEnabled": true}),
            "emailPasswordEnabled is not a valid input for this API\n",
        ),
        (
            "/recipe/multitenancy/app/v2",
            json!({"appId": "a1", "passwordlessEnabled": true}),
            "passwordless is not a valid input for this API\n",
        ),
    ] {
        let (st, text) = raw(&s, "PUT", path, Some(body.clone())).await;
        if (st, text.as_str()) != (400, msg) {
            mismatches.push(format!("{body}: got {st} {text:?}, expected 400 {msg:?}"));
        }
    }
    assert!(mismatches.is_empty(), "{mismatches:#?}");
    s.stop().await;
}

async fn removal_cascades(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    create_app(&s, "a1", json!({})).await;
    create_tenant(&s, "a1", "t1").await;
    let in_public = session(&s, "/appid-a1", "u").await;
    let in_t1 = session(&s, "/appid-a1/t1", "u").await;
    let (h_pub, h_t1) = (handle(&in_public), handle(&in_t1));
    assert_eq!(s.put("/appid-a1/ee/license", json!({"licenseKey": "k"})).await["status"], "OK");
    let jwks_before = s.get("/appid-a1/recipe/jwt/jwks").await["keys"].clone();
    let other = session(&s, "", "u").await; // the public app's session must survive everything

    // Remove the tenant: its sessions go, the app's public tenant keeps its own.
    let rm = s.post("/appid-a1/recipe/multitenancy/tenant/remove", json!({"tenantId": "t1"})).await;
    assert_eq!(rm, json!({"status": "OK", "didExist": true}));
    let rm = s.post("/appid-a1/recipe/multitenancy/tenant/remove", json!({"tenantId": "t1"})).await;
    assert_eq!(rm, json!({"status": "OK", "didExist": false}));
    // A handle of the removed tenant is the reference's 400 (its tenant is looked up first).
    assert_eq!(raw(&s, "GET", &format!("/appid-a1/recipe/session?sessionHandle={h_t1}"), None).await.0, 400);
    assert_eq!(s.get(&format!("/appid-a1/recipe/session?sessionHandle={h_pub}")).await["status"], "OK");
    assert_eq!(s.get("/appid-a1/t1/recipe/multitenancy/tenant/v2").await, tenant_not_found());
    let body = json!({"userId": "u", "enableAntiCsrf": false, "userDataInJWT": {}, "userDataInDatabase": {}});
    assert_eq!(raw(&s, "POST", "/appid-a1/t1/recipe/session", Some(body.clone())).await.0, 400);
    assert_eq!(s.get("/appid-a1/recipe/session/user?userId=u").await["sessionHandles"], json!([h_pub]));
    // Re-created, the tenant is empty.
    assert_eq!(create_tenant(&s, "a1", "t1").await["createdNew"], true);
    assert_eq!(s.get(&format!("/appid-a1/recipe/session?sessionHandle={h_t1}")).await["status"], "UNAUTHORISED");
    s.post("/appid-a1/recipe/multitenancy/tenant/remove", json!({"tenantId": "t1"})).await;

    // Remove the app: every route of it answers 400, its data is gone.
    let rm = s.post("/recipe/multitenancy/app/remove", json!({"appId": "a1"})).await;
    assert_eq!(rm, json!({"status": "OK", "didExist": true}));
    let rm = s.post("/recipe/multitenancy/app/remove", json!({"appId": "a1"})).await;
    assert_eq!(rm, json!({"status": "OK", "didExist": false}));
    assert_eq!(raw(&s, "POST", "/appid-a1/recipe/session", Some(body.clone())).await.0, 400);
    assert_eq!(raw(&s, "GET", &format!("/appid-a1/recipe/session?sessionHandle={h_pub}"), None).await.0, 400);
    assert_eq!(raw(&s, "GET", "/appid-a1/hello", None).await.0, 400);
    assert_eq!(raw(&s, "GET", "/appid-a1/.well-known/jwks.json", None).await.0, 400);
    assert_eq!(s.get("/appid-a1/recipe/multitenancy/tenant/v2").await, tenant_not_found());
    assert_eq!(ids(&s.get("/recipe/multitenancy/app/list/v2").await["apps"], "appId"), set(&["public"]));

    // Re-created, the app starts empty: no sessions, no key-values, new keys, new refresh key.
    assert_eq!(create_app(&s, "a1", json!({})).await["createdNew"], true);
    assert_eq!(s.get(&format!("/appid-a1/recipe/session?sessionHandle={h_pub}")).await["status"], "UNAUTHORISED");
    assert_eq!(s.get("/appid-a1/recipe/session/user?userId=u").await["sessionHandles"], json!([]));
    assert_eq!(s.get("/appid-a1/ee/license").await["status"], "NO_LICENSE_KEY_FOUND_ERROR");
    let jwks_after = s.get("/appid-a1/recipe/jwt/jwks").await["keys"].clone();
    let moduli = |keys: &Value| {
        keys.as_array().unwrap().iter().map(|k| k["n"].as_str().unwrap().to_string()).collect::<BTreeSet<_>>()
    };
    assert!(moduli(&jwks_before).is_disjoint(&moduli(&jwks_after)), "the app's signing keys were deleted");
    let refresh = json!({"refreshToken": in_public["refreshToken"]["token"], "enableAntiCsrf": false, "useDynamicSigningKey": true});
    assert_eq!(s.post("/appid-a1/recipe/session/refresh", refresh).await["status"], "UNAUTHORISED");
    assert_eq!(s.get(&format!("/recipe/session?sessionHandle={}", handle(&other))).await["status"], "OK");
    s.stop().await;
}

/// The deprecated create/update and read APIs before CDI 5.0 (the reference's
/// `applyTenantUpdates_3_0`, `createBaseConfigForVersion` and `toJsonLesserThanOrEqualTo4_0`):
/// the recipe booleans become a first-factor list, the flags are never turned off, the factor
/// inputs are not read, and a recipe reads as enabled when its flag is on and the list, if any,
/// names one of its factors; the reads carry no factor lists.
async fn deprecated_apis_before_5_0(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    let call = |v: &'static str, method: &'static str, path: &'static str, body: Option<Value>| {
        let s = &s;
        async move {
            let (st, text) = s.request(method, path, body, &[("cdi-version", v)]).await;
            assert_eq!(st, 200, "{v} {method} {path}: {text}");
            serde_json::from_str::<Value>(&text).unwrap()
        }
    };
    let enabled =
        |t: &Value| ["emailPassword", "thirdParty", "passwordless"].map(|r| t[r]["enabled"].as_bool().unwrap());
    let put = |v: &'static str, body: Value| call(v, "PUT", "/appid-a1/recipe/multitenancy/tenant", Some(body));
    let v1 = |v: &'static str, path: &'static str| call(v, "GET", path, None);
    let v2 = |path: &'static str| s.get(path);
    let app = call("4.0", "PUT", "/recipe/multitenancy/app", Some(json!({"appId": "a1"}))).await;
    assert_eq!(app, json!({"status": "OK", "createdNew": true}));
    let public = v1("4.0", "/appid-a1/public/recipe/multitenancy/tenant").await;
    assert_eq!(
        public.to_string(),
        json!({"tenantId": "public", "emailPassword": {"enabled": true}, "thirdParty": {"enabled": true, "providers": []},
               "passwordless": {"enabled": true}, "coreConfig": {}, "status": "OK"})
        .to_string(),
        "the reference's pre-5.0 shape and field order"
    );
    // A new tenant starts with every recipe off and an empty list.
    assert_eq!(put("4.0", json!({"tenantId": "d0"})).await["createdNew"], true);
    let d0 = v1("3.0", "/appid-a1/d0/recipe/multitenancy/tenant").await;
    assert_eq!(enabled(&d0), [false; 3], "{d0}");
    assert_eq!(v2("/appid-a1/d0/recipe/multitenancy/tenant/v2").await["firstFactors"], json!([]));
    // Enabling adds the recipe's factors.
    put("4.0", json!({"tenantId": "t1", "emailPasswordEnabled": true})).await;
    let t1 = "/appid-a1/t1/recipe/multitenancy/tenant";
    let t1_v2 = "/appid-a1/t1/recipe/multitenancy/tenant/v2";
    assert_eq!(enabled(&v1("4.0", t1).await), [true, false, false]);
    assert_eq!(v2(t1_v2).await["firstFactors"], json!(["emailpassword"]));
    put("3.0", json!({"tenantId": "t1", "thirdPartyEnabled": true, "passwordlessEnabled": true})).await;
    assert_eq!(enabled(&v1("4.0", t1).await), [true; 3]);
    assert_eq!(
        str_set(&v2(t1_v2).await["firstFactors"]),
        set(&["emailpassword", "thirdparty", "otp-email", "otp-phone", "link-email", "link-phone"])
    );
    // Disabling removes them from the list but leaves the flag on: at 5.0 the recipe reads
    // as enabled again (its flag is on and the list is not empty).
    put("4.0", json!({"tenantId": "t1", "emailPasswordEnabled": false, "passwordlessEnabled": false})).await;
    let read = v1("4.0", t1).await;
    assert_eq!(enabled(&read), [false, true, false], "{read}");
    assert!(read.get("firstFactors").is_none(), "no factor lists before 5.0: {read}");
    assert_eq!(v2(t1_v2).await["firstFactors"], json!(["thirdparty"]));
    let read = v1("5.0", t1).await;
    assert_eq!(enabled(&read), [true; 3], "{read}");
    assert_eq!(read["firstFactors"], json!(["thirdparty"]));
    // Factor inputs are not read before 5.0 (not even checked); from 5.0 they are.
    let ignored = json!({"tenantId": "t1", "firstFactors": 5, "requiredSecondaryFactors": ["a", "a"]});
    assert_eq!(put("4.0", ignored.clone()).await["status"], "OK");
    assert_eq!(v2(t1_v2).await["firstFactors"], json!(["thirdparty"]));
    let (st, _) =
        s.request("PUT", "/appid-a1/recipe/multitenancy/tenant", Some(ignored), &[("cdi-version", "5.0")]).await;
    assert_eq!(st, 400);
    // Disabling a recipe on a tenant without a list makes the list explicit: all six factors
    // but the disabled recipe's.
    call("4.0", "PUT", "/recipe/multitenancy/app", Some(json!({"appId": "a1", "passwordlessEnabled": false}))).await;
    assert_eq!(
        v2("/appid-a1/public/recipe/multitenancy/tenant/v2").await["firstFactors"],
        json!(["emailpassword", "thirdparty"])
    );
    assert_eq!(enabled(&v1("4.0", "/appid-a1/public/recipe/multitenancy/tenant").await), [true, true, false]);
    // Lists use the same shapes.
    let listed = v1("4.0", "/appid-a1/recipe/multitenancy/tenant/list").await;
    let t1_listed = listed["tenants"].as_array().unwrap().iter().find(|t| t["tenantId"] == "t1").unwrap().clone();
    assert_eq!(enabled(&t1_listed), [false, true, false], "{t1_listed}");
    assert!(t1_listed.get("firstFactors").is_none(), "{t1_listed}");
    let apps = v1("3.0", "/recipe/multitenancy/app/list").await;
    let a1 = apps["apps"].as_array().unwrap().iter().find(|a| a["appId"] == "a1").unwrap().clone();
    let t1_listed = a1["tenants"].as_array().unwrap().iter().find(|t| t["tenantId"] == "t1").unwrap().clone();
    assert_eq!(enabled(&t1_listed), [false, true, false], "{t1_listed}");
    let apps = v1("5.0", "/recipe/multitenancy/app/list").await;
    let a1 = apps["apps"].as_array().unwrap().iter().find(|a| a["appId"] == "a1").unwrap().clone();
    let t1_listed = a1["tenants"].as_array().unwrap().iter().find(|t| t["tenantId"] == "t1").unwrap().clone();
    assert_eq!(t1_listed["firstFactors"], json!(["thirdparty"]), "{t1_listed}");
    // The v2 APIs are the same at every version.
    let created = call("3.0", "PUT", "/appid-a1/recipe/multitenancy/tenant/v2", Some(json!({"tenantId": "n2"}))).await;
    assert_eq!(created["createdNew"], true);
    assert_eq!(v2("/appid-a1/n2/recipe/multitenancy/tenant/v2").await["firstFactors"], json!([]));
    s.stop().await;
}

st_tests::both_backends! {
    apps_created_updated_and_configured => apps_created_updated_and_configured;
    app_routing_and_isolation => app_routing_and_isolation;
    tenants_created_read_and_listed => tenants_created_read_and_listed;
    tenant_not_found_is_a_200 => tenant_not_found_is_a_200;
    config_validation => config_validation;
    input_validation => input_validation;
    permission_rules => permissions::permission_rules;
    permission_error_texts => permissions::permission_error_texts;
    removal_cascades => removal_cascades;
    deprecated_apis_before_5_0 => deprecated_apis_before_5_0;
    thirdparty_provider_configs => providers::thirdparty_provider_configs;
    users_added_to_and_taken_out_of_tenants => tenant_users::users_added_to_and_taken_out_of_tenants;
    third_party_users_added_to_tenants => tenant_users::third_party_users_added_to_tenants;
    passwordless_users_added_to_tenants => tenant_users::passwordless_users_added_to_tenants;
    connection_uri_domains => domains::connection_uri_domains;
    only_one_domain_loaded => domains::only_one_domain_loaded;
}

/// The SDK test suites create a fresh app per test and never delete it (§i).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundreds_of_apps_in_memory() {
    let s = TestServer::spawn(Backend::Memory, json!({})).await.expect("memory server");
    let started = std::time::Instant::now();
    for i in 0..300 {
        let r = create_app(
            &s,
            &format!("sdk-app-{i}"),
            json!({"access_token_validity": 1000 + i, "refresh_token_validity": "1000"}),
        )
        .await;
        assert_eq!(r, json!({"status": "OK", "createdNew": true}), "app {i}");
    }
    // Concurrently, as parallel test workers do.
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..40 {
        let (client, url) = (s.client.clone(), s.url.clone());
        tasks.spawn(async move {
            let resp = client
                .put(format!("{url}/recipe/multitenancy/app/v2"))
                .header("cdi-version", "5.4")
                .header("content-type", "application/json")
                .body(json!({"appId": format!("par-app-{i}")}).to_string())
                .send()
                .await
                .unwrap();
            (resp.status().as_u16(), resp.text().await.unwrap())
        });
    }
    while let Some(res) = tasks.join_next().await {
        let (st, text) = res.unwrap();
        assert_eq!(st, 200, "{text}");
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), json!({"status": "OK", "createdNew": true}));
    }
    let elapsed = started.elapsed();
    let apps = s.get("/recipe/multitenancy/app/list/v2").await;
    assert_eq!(apps["apps"].as_array().unwrap().len(), 341);
    // Each app works with its own config.
    for i in [0, 150, 299] {
        assert_validity(&session(&s, &format!("/appid-sdk-app-{i}"), "u").await, 1000 + i);
    }
    assert!(elapsed.as_secs() < 60, "340 app creations took {elapsed:?}");
    s.stop().await;
}
