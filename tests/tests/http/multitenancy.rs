//! Multitenancy management over HTTP (reference notes §a.14, §b.1, §e.1, §g.3, §i): apps and
//! tenants created and updated through the v2 (and deprecated) APIs, per-app `coreConfig` given
//! as strings or numbers and applied to sessions, `/appid-<a>/<t>` routing and isolation, the
//! default shapes, `TENANT_NOT_FOUND_ERROR` as a 200, config validation (400), permission rules
//! (403), removal cascading to the removed tenant's / app's data, and hundreds of apps created the
//! way the SDK test suites do.

use crate::helpers::{cheap_hashing, handle, jwt_payload, raw, set, sign_up, str_set, Backend, TestServer};
use serde_json::{json, Value};
use std::collections::BTreeSet;

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

async fn permission_rules(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    create_app(&s, "a1", json!({})).await;
    create_tenant(&s, "a1", "t1").await;
    // The calling tenant must exist, before the permission rule: a tenant cannot create itself
    // through its own path, as in the reference.
    for target in ["t9", "t10"] {
        let (st, body) =
            raw(&s, "PUT", "/appid-a1/t9/recipe/multitenancy/tenant/v2", Some(json!({"tenantId": target}))).await;
        assert_eq!(st, 400, "{target}: {body}");
        assert!(body.starts_with("AppId or tenantId not found => ") && body.contains("(, a1, t9)"), "{body}");
    }
    assert_eq!(s.get("/appid-a1/t9/recipe/multitenancy/tenant/v2").await["status"], "TENANT_NOT_FOUND_ERROR");
    create_tenant(&s, "a1", "t2").await;
    create_tenant(&s, "public", "pt").await;

    // The allowed variants work.
    let same = s
        .put(
            "/appid-a1/t1/recipe/multitenancy/tenant/v2",
            json!({"tenantId": "t1", "coreConfig": {"passwordless_code_lifetime": 7}}),
        )
        .await;
    assert_eq!(same, json!({"status": "OK", "createdNew": false}));
    assert_eq!(s.put("/appid-a1/recipe/multitenancy/app/v2", json!({"appId": "a1"})).await["createdNew"], false);

    // (method, path, body, expected status, expected text if the reference documents it, why)
    #[allow(clippy::type_complexity)]
    let cases: Vec<(&str, &str, Option<Value>, u16, Option<&str>, &str)> = vec![
        (
            "PUT",
            "/appid-a1/t2/recipe/multitenancy/tenant/v2",
            Some(json!({"tenantId": "t1"})),
            403,
            Some("You must use the public or same tenant to add/update a tenant\n"),
            "a tenant is managed from its app's public tenant or itself",
        ),
        (
            "PUT",
            "/appid-a1/t2/recipe/multitenancy/tenant/v2",
            Some(json!({"tenantId": "t3"})),
            403,
            None,
            "no creation from a non-public tenant",
        ),
        (
            "PUT",
            "/appid-a1/recipe/multitenancy/app/v2",
            Some(json!({"appId": "a2"})),
            403,
            Some("You must use the public or same app to add/update an app\n"),
            "apps are managed from the public app or themselves",
        ),
        (
            "PUT",
            "/pt/recipe/multitenancy/app/v2",
            Some(json!({"appId": "a3"})),
            403,
            None,
            "apps are managed from a public tenant",
        ),
        (
            "GET",
            "/appid-a1/t1/recipe/multitenancy/tenant/list/v2",
            None,
            403,
            None,
            "tenants are listed from the public tenant",
        ),
        ("GET", "/pt/recipe/multitenancy/app/list/v2", None, 403, None, "apps are listed from the public tenant"),
        ("GET", "/appid-a1/recipe/multitenancy/app/list/v2", None, 403, None, "only the public app lists apps"),
        (
            "POST",
            "/appid-a1/recipe/multitenancy/tenant/remove",
            Some(json!({"tenantId": "public"})),
            403,
            None,
            "the public tenant goes with its app",
        ),
        (
            "POST",
            "/appid-a1/t1/recipe/multitenancy/tenant/remove",
            Some(json!({"tenantId": "t2"})),
            403,
            None,
            "tenants are removed from the public tenant",
        ),
        (
            "POST",
            "/recipe/multitenancy/app/remove",
            Some(json!({"appId": "public"})),
            403,
            None,
            "the public app stays",
        ),
        (
            "POST",
            "/appid-a1/recipe/multitenancy/app/remove",
            Some(json!({"appId": "a1"})),
            403,
            None,
            "apps are removed from the public app",
        ),
        (
            "POST",
            "/pt/recipe/multitenancy/app/remove",
            Some(json!({"appId": "a1"})),
            403,
            None,
            "apps are removed from the public tenant",
        ),
        // Last: a wrong answer here really removes the app.
        (
            "POST",
            "/recipe/multitenancy/app/remove",
            Some(json!({"appId": "a1"})),
            403,
            None,
            "an app with non-public tenants stays",
        ),
    ];
    let mut mismatches = Vec::new();
    for (method, path, body, status, text, why) in cases {
        let (st, got) = raw(&s, method, path, body.clone()).await;
        if st != status || text.is_some_and(|t| t != got) {
            mismatches.push(format!("{why}: {method} {path} {body:?} -> {st} {got:?}, expected {status} {text:?}"));
        }
    }
    assert_eq!(s.get("/appid-a2/recipe/multitenancy/tenant/v2").await, tenant_not_found(), "a2 was not created");
    for t in ["t1", "t2"] {
        let v = s.get(&format!("/appid-a1/{t}/recipe/multitenancy/tenant/v2")).await;
        if v["status"] != "OK" {
            mismatches.push(format!("tenant {t} of a1 was removed by a forbidden call: {v}"));
        }
    }
    assert!(mismatches.is_empty(), "{mismatches:#?}");
    s.stop().await;
}

/// The reference's exact texts for the 403s above (kept apart so that a wording difference does
/// not hide a status-code bug).
async fn permission_error_texts(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    let mut mismatches = Vec::new();
    create_app(&s, "a1", json!({})).await;
    create_tenant(&s, "a1", "t1").await;
    // Lists first: the last removal below really removes the app if the server gets it wrong.
    for (path, msg) in [
        (
            "/appid-a1/t1/recipe/multitenancy/tenant/list/v2",
            "Only the public tenantId is allowed to list all tenants associated with this app\n",
        ),
        (
            "/appid-a1/recipe/multitenancy/app/list/v2",
            "Only the public tenantId and public appId is allowed to list all apps associated with this connection uri domain\n",
        ),
    ] {
        let (st, text) = raw(&s, "GET", path, None).await;
        if (st, text.as_str()) != (403, msg) {
            mismatches.push(format!("GET {path}: got {st} {text:?}, expected 403 {msg:?}"));
        }
    }
    for (path, body, msg) in [
        (
            "/appid-a1/recipe/multitenancy/tenant/remove",
            json!({"tenantId": "public"}),
            "Cannot delete public tenant, use remove app API instead\n",
        ),
        (
            "/appid-a1/t1/recipe/multitenancy/tenant/remove",
            json!({"tenantId": "t1"}),
            "Only the public tenantId is allowed to delete a tenant\n",
        ),
        (
            "/recipe/multitenancy/app/remove",
            json!({"appId": "public"}),
            "Cannot delete the public app, use remove connection uri domain API instead\n",
        ),
        (
            "/appid-a1/recipe/multitenancy/app/remove",
            json!({"appId": "a1"}),
            "Only the public tenantId and public appId is allowed to delete an app\n",
        ),
        (
            "/recipe/multitenancy/app/remove",
            json!({"appId": "a1"}),
            "Please delete all tenants except the public tenant for this app before calling the delete API\n",
        ),
    ] {
        let (st, text) = raw(&s, "POST", path, Some(body.clone())).await;
        if (st, text.as_str()) != (403, msg) {
            mismatches.push(format!("POST {path} {body}: got {st} {text:?}, expected 403 {msg:?}"));
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

/// A provider as the SDKs' tenant-management helpers send one (`createOrUpdateThirdPartyConfig`).
fn google_provider() -> Value {
    json!({
        "thirdPartyId": "google",
        "name": "Google",
        "clients": [
            {"clientType": "web", "clientId": "web-id", "clientSecret": "web-secret", "scope": ["email", "openid"],
             "forcePKCE": false, "additionalConfig": {"prompt": "consent", "unset": null}},
            {"clientId": "default-id"}
        ],
        "authorizationEndpointQueryParams": {"access_type": "offline", "dropped": null},
        "userInfoMap": {"fromIdTokenPayload": {"userId": "sub", "email": "email"}, "fromUserInfoAPI": {}},
        "requireEmail": true
    })
}

/// The provider as every tenant read answers it (the reference's `Provider.toJson`): clients by
/// type (none first), a client's `additionalConfig` without nulls, the parameter maps with them.
fn google_provider_read() -> Value {
    json!({
        "thirdPartyId": "google",
        "name": "Google",
        "clients": [
            {"clientId": "default-id"},
            {"clientType": "web", "clientId": "web-id", "clientSecret": "web-secret", "scope": ["email", "openid"],
             "forcePKCE": false, "additionalConfig": {"prompt": "consent"}}
        ],
        "authorizationEndpointQueryParams": {"access_type": "offline", "dropped": null},
        "requireEmail": true,
        "userInfoMap": {"fromIdTokenPayload": {"userId": "sub", "email": "email"}, "fromUserInfoAPI": {}}
    })
}

async fn thirdparty_provider_configs(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    let put = |prefix: &str, body: Value| {
        let s = &s;
        let path = format!("{prefix}/recipe/multitenancy/config/thirdparty");
        async move { s.request("PUT", &path, Some(body), &[("cdi-version", "5.4")]).await }
    };
    let providers = |v: Value| v["thirdParty"]["providers"].clone();
    create_app(&s, "a1", json!({})).await;
    create_tenant(&s, "a1", "t1").await;

    // Created on the tenant of the path, then replaced.
    let (st, text) = put("/appid-a1/t1", json!({"config": google_provider()})).await;
    assert_eq!((st, text.as_str()), (200, r#"{"status":"OK","createdNew":true}"#));
    let read = s.get("/appid-a1/t1/recipe/multitenancy/tenant/v2").await;
    assert_eq!(providers(read.clone()), json!([google_provider_read()]), "{read}");
    assert_eq!(s.get("/appid-a1/recipe/multitenancy/tenant/v2").await["thirdParty"], json!({"providers": []}));
    let github = json!({"thirdPartyId": " github ", "clients": [{"clientId": "gh"}]});
    assert_eq!(put("/appid-a1/t1", json!({"config": github})).await.0, 200);
    let list = providers(s.get("/appid-a1/t1/recipe/multitenancy/tenant/v2").await);
    let ids: Vec<&str> = list.as_array().unwrap().iter().map(|p| p["thirdPartyId"].as_str().unwrap()).collect();
    assert_eq!(ids, ["github", "google"], "trimmed, ordered by id");
    assert_eq!(
        list[0],
        json!({"thirdPartyId": "github", "clients": [{"clientId": "gh"}],
               "userInfoMap": {"fromIdTokenPayload": {}, "fromUserInfoAPI": {}}})
    );
    let replaced = json!({"thirdPartyId": "github", "name": "GitHub", "clients": [{"clientId": "gh2"}]});
    let (st, text) = put("/appid-a1/t1", json!({"config": replaced})).await;
    assert_eq!((st, text.as_str()), (200, r#"{"status":"OK","createdNew":false}"#));
    let list = providers(s.get("/appid-a1/t1/recipe/multitenancy/tenant/v2").await);
    assert_eq!((list[0]["name"].clone(), list[0]["clients"].clone()), (json!("GitHub"), json!([{"clientId": "gh2"}])));

    // A tenant update keeps its providers; every read shows them.
    let update = json!({"tenantId": "t1", "coreConfig": {"passwordless_code_lifetime": 5}});
    assert_eq!(s.put("/appid-a1/recipe/multitenancy/tenant/v2", update).await["createdNew"], false);
    let list = providers(s.get("/appid-a1/t1/recipe/multitenancy/tenant/v2").await);
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert_eq!(list[1], google_provider_read());
    let listed = s.get("/appid-a1/recipe/multitenancy/tenant/list/v2").await;
    let t1 = listed["tenants"].as_array().unwrap().iter().find(|t| t["tenantId"] == "t1").unwrap().clone();
    assert_eq!(providers(t1), list);
    let apps = s.get("/recipe/multitenancy/app/list/v2").await;
    let a1 = apps["apps"].as_array().unwrap().iter().find(|a| a["appId"] == "a1").unwrap().clone();
    let t1 = a1["tenants"].as_array().unwrap().iter().find(|t| t["tenantId"] == "t1").unwrap().clone();
    assert_eq!(providers(t1), list);
    for v in ["3.0", "4.0", "5.0"] {
        let (st, text) = s.request("GET", "/appid-a1/t1/recipe/multitenancy/tenant", None, &[("cdi-version", v)]).await;
        assert_eq!(st, 200);
        let old: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(old["thirdParty"]["providers"], list, "the deprecated shape at {v}");
    }

    // The reference's validation, and what it lets through with `skipValidation`.
    let bad = |config: Value| json!({"config": config});
    for (body, msg) in [
        (json!({}), "Field name 'config' is invalid in JSON input"),
        (json!({"config": []}), "Field name 'config' is invalid in JSON input"),
        (bad(json!({"name": "x"})), "Field name 'thirdPartyId' is invalid in JSON input"),
        (bad(json!({"thirdPartyId": 5})), "Field name 'thirdPartyId' is invalid in JSON input"),
        (json!({"config": {"thirdPartyId": "x"}, "skipValidation": "yes"}), "Field name 'skipValidation' is invalid in JSON input"),
        (bad(json!({"thirdPartyId": "  "})), "Invalid third party config: thirdPartyId cannot be null or empty"),
        (bad(json!({"thirdPartyId": "x", "clients": [{"clientSecret": "s"}]})), "Invalid third party config: clientId cannot be null"),
        (
            bad(json!({"thirdPartyId": "x", "clients": [{"clientId": "a"}, {"clientId": "b"}]})),
            "Invalid third party config: Duplicate clientType was specified in the clients list.",
        ),
        (
            bad(json!({"thirdPartyId": "x", "clients": [{"clientId": "a", "scope": ["a", null]}]})),
            "Invalid third party config: scope array cannot contain a null",
        ),
        (
            bad(json!({"thirdPartyId": "apple", "clients": [{"clientId": "a", "additionalConfig": {"keyId": "k"}}]})),
            "Invalid third party config: a non empty string value must be specified for keyId, teamId and privateKey in the additionalConfig for Apple provider",
        ),
        (
            bad(json!({"thirdPartyId": "google-workspaces", "clients": [{"clientId": "a", "additionalConfig": {"hd": ""}}]})),
            "Invalid third party config: hd in additionalConfig must be a non empty string value",
        ),
        (
            bad(json!({"thirdPartyId": "boxy-saml", "clients": [{"clientId": "a", "additionalConfig": {"boxyURL": ""}}]})),
            "Invalid third party config: a non empty string value must be specified for boxyURL in the additionalConfig for Boxy SAML provider",
        ),
        (bad(json!({"thirdPartyId": "x", "clients": [1]})), "Field name 'clients' is invalid in JSON input"),
        (bad(json!({"thirdPartyId": "x", "userInfoEndpointHeaders": []})), "Field name 'userInfoEndpointHeaders' is invalid in JSON input"),
        (
            bad(json!({"thirdPartyId": "a-provider-id-of-29-characters"})),
            "Invalid third party config: thirdPartyId must be at most 28 characters long",
        ),
    ] {
        let (st, text) = put("/appid-a1/t1", body.clone()).await;
        assert_eq!((st, text.as_str()), (400, format!("{msg}\n").as_str()), "{body}");
    }
    let apple = json!({"thirdPartyId": "apple", "clients": [{"clientId": "a", "scope": [null]}]});
    let (st, text) = put("/appid-a1/t1", json!({"config": apple, "skipValidation": true})).await;
    assert_eq!((st, text.as_str()), (200, r#"{"status":"OK","createdNew":true}"#), "skipped");
    let list = providers(s.get("/appid-a1/t1/recipe/multitenancy/tenant/v2").await);
    assert_eq!(list[0]["clients"], json!([{"clientId": "a", "scope": [null]}]), "{list}");
    // The stored invalid provider now fails the validation of the whole list, as in the reference.
    let other = json!({"thirdPartyId": "other", "clients": [{"clientId": "o"}]});
    assert_eq!(put("/appid-a1/t1", json!({"config": other.clone()})).await.0, 400);
    assert_eq!(put("/appid-a1/t1", json!({"config": other, "skipValidation": true})).await.0, 200);
    let storable = json!({"thirdPartyId": "x", "clients": [{"clientId": "a"}, {"clientId": "b", "clientType": ""}]});
    let (st, text) = put("/appid-a1/t1", json!({"config": storable, "skipValidation": true})).await;
    assert_eq!(
        (st, text.as_str()),
        (400, "Invalid third party config: Duplicate clientType was specified in the clients list.\n"),
        "two clients of one type cannot be stored"
    );

    // Removed; an unknown tenant is the identity error.
    let remove = |prefix: &str, id: &str| {
        let s = &s;
        let path = format!("{prefix}/recipe/multitenancy/config/thirdparty/remove");
        let body = json!({ "thirdPartyId": id });
        async move { s.request("POST", &path, Some(body), &[("cdi-version", "5.4")]).await }
    };
    let (st, text) = remove("/appid-a1/t1", "apple").await;
    assert_eq!((st, text.as_str()), (200, r#"{"status":"OK","didConfigExist":true}"#));
    for id in ["apple", "google"] {
        assert_eq!(remove("/appid-a1", id).await.1, r#"{"status":"OK","didConfigExist":false}"#, "{id} on public");
    }
    assert_eq!(remove("/appid-a1/t1", " google ").await.1, r#"{"status":"OK","didConfigExist":true}"#);
    let list = providers(s.get("/appid-a1/t1/recipe/multitenancy/tenant/v2").await);
    let ids: Vec<&str> = list.as_array().unwrap().iter().map(|p| p["thirdPartyId"].as_str().unwrap()).collect();
    assert_eq!(ids, ["github", "other"]);
    let (st, text) = put("/appid-a1/nope", json!({"config": {"thirdPartyId": "x"}})).await;
    assert_eq!(
        (st, text.trim_end()),
        (400, "AppId or tenantId not found => Tenant with the following connectionURIDomain, appId and tenantId combination not found: (, a1, nope)")
    );
    assert_eq!(remove("/appid-a1/nope", "x").await.0, 400);
    assert_eq!(remove("/appid-a1/t1", "").await.1, r#"{"status":"OK","didConfigExist":false}"#);

    // The base tenant has providers too; a removed tenant takes its own with it.
    assert_eq!(put("", json!({"config": {"thirdPartyId": "google", "clients": [{"clientId": "b"}]}})).await.0, 200);
    assert_eq!(providers(s.get("/recipe/multitenancy/tenant/v2").await)[0]["clients"], json!([{"clientId": "b"}]));
    assert_eq!(
        s.post("/appid-a1/recipe/multitenancy/tenant/remove", json!({"tenantId": "t1"})).await["didExist"],
        true
    );
    create_tenant(&s, "a1", "t1").await;
    assert_eq!(providers(s.get("/appid-a1/t1/recipe/multitenancy/tenant/v2").await), json!([]));
    s.stop().await;
}

/// The provider rows a Java core reads (`tenant_thirdparty_providers` and its clients), and a
/// provider a Java core wrote.
#[tokio::test]
async fn thirdparty_provider_rows_on_postgres() {
    let Some(s) = TestServer::spawn(Backend::Postgres, json!({})).await else { return };
    let body = json!({"config": google_provider()});
    assert_eq!(s.put("/recipe/multitenancy/config/thirdparty", body).await["createdNew"], true);
    let (client, conn) = tokio_postgres::connect(s.db_url.as_deref().unwrap(), tokio_postgres::NoTls).await.unwrap();
    let task = tokio::spawn(conn);
    let p = client
        .query_one(
            "SELECT connection_uri_domain, name, authorization_endpoint_query_params, require_email, \
             user_info_map_from_id_token_payload_user_id, user_info_map_from_user_info_endpoint_email \
             FROM tenant_thirdparty_providers WHERE app_id = 'public' AND tenant_id = 'public' AND third_party_id = 'google'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(p.get::<_, String>(0), "");
    assert_eq!(p.get::<_, Option<String>>(1).as_deref(), Some("Google"));
    let params: Value = serde_json::from_str(&p.get::<_, String>(2)).unwrap();
    assert_eq!(params, json!({"access_type": "offline", "dropped": null}));
    assert_eq!(p.get::<_, Option<bool>>(3), Some(true));
    assert_eq!(p.get::<_, Option<String>>(4).as_deref(), Some("sub"));
    assert_eq!(p.get::<_, Option<String>>(5), None);
    let clients = client
        .query(
            "SELECT client_type, client_id, client_secret, scope, force_pkce, additional_config \
             FROM tenant_thirdparty_provider_clients WHERE third_party_id = 'google' ORDER BY client_type",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(clients.len(), 2);
    assert_eq!((clients[0].get::<_, String>(0), clients[0].get::<_, String>(1)), ("".into(), "default-id".into()));
    assert_eq!(clients[0].get::<_, Option<Vec<String>>>(3), None);
    assert_eq!(clients[1].get::<_, String>(0), "web");
    assert_eq!(clients[1].get::<_, Option<Vec<String>>>(3), Some(vec!["email".into(), "openid".into()]));
    assert_eq!(clients[1].get::<_, Option<bool>>(4), Some(false));
    let extra: Value = serde_json::from_str(&clients[1].get::<_, String>(5)).unwrap();
    assert_eq!(extra, json!({"prompt": "consent", "unset": null}), "stored as given");

    // A provider written by a Java core (no clients, nulls everywhere) is read as it reads it.
    client
        .batch_execute(
            "INSERT INTO tenant_thirdparty_providers (connection_uri_domain, app_id, tenant_id, third_party_id) \
             VALUES ('', 'public', 'public', 'active-directory')",
        )
        .await
        .unwrap();
    drop(client);
    let _ = task.await;
    s.core.sync_tenants().await.unwrap();
    let list = s.get("/recipe/multitenancy/tenant/v2").await["thirdParty"]["providers"].clone();
    assert_eq!(
        list,
        json!([{"thirdPartyId": "active-directory", "clients": [],
                "userInfoMap": {"fromIdTokenPayload": {}, "fromUserInfoAPI": {}}}, google_provider_read()])
    );
    s.stop().await;
}

async fn associate(s: &TestServer, version: &str, prefix: &str, body: Value) -> (u16, String) {
    let path = format!("{prefix}/recipe/multitenancy/tenant/user");
    let (st, text) = s.request("POST", &path, Some(body), &[("cdi-version", version)]).await;
    (st, text.trim_end().to_string())
}

async fn disassociate(s: &TestServer, version: &str, prefix: &str, body: Value) -> (u16, String) {
    let path = format!("{prefix}/recipe/multitenancy/tenant/user/remove");
    let (st, text) = s.request("POST", &path, Some(body), &[("cdi-version", version)]).await;
    (st, text.trim_end().to_string())
}

fn ok_json(r: (u16, String)) -> Value {
    assert_eq!(r.0, 200, "{}", r.1);
    serde_json::from_str(&r.1).unwrap()
}

async fn users_added_to_and_taken_out_of_tenants(b: Backend) {
    let Some(s) = TestServer::spawn(b, cheap_hashing()).await else { return };
    for t in ["t1", "t2"] {
        s.put("/recipe/multitenancy/tenant/v2", json!({"tenantId": t, "firstFactors": ["emailpassword"]})).await;
    }
    let u1 = sign_up(&s, "same@example.com", "pw-1").await["user"]["id"].as_str().unwrap().to_string();
    let r = s.post("/t1/recipe/signup", json!({"email": "same@example.com", "password": "pw-2"})).await;
    let u2 = r["user"]["id"].as_str().unwrap().to_string();
    let signin = |prefix: &'static str| {
        let s = &s;
        async move {
            let body = json!({"email": "same@example.com", "password": "pw-1"});
            s.post(&format!("{prefix}/recipe/signin"), body).await["status"].as_str().unwrap().to_string()
        }
    };
    assert_eq!(signin("/t2").await, "WRONG_CREDENTIALS_ERROR");

    // Added (`recipeUserId` from 4.0), once.
    let r = ok_json(associate(&s, "5.4", "/t2", json!({ "recipeUserId": u1 })).await);
    assert_eq!(r, json!({"status": "OK", "wasAlreadyAssociated": false}));
    let r = ok_json(associate(&s, "4.0", "/t2", json!({ "recipeUserId": format!(" {u1} ") })).await);
    assert_eq!(r, json!({"status": "OK", "wasAlreadyAssociated": true}));
    assert_eq!(signin("/t2").await, "OK");
    let user = s.get(&format!("/user/id?userId={u1}")).await;
    assert_eq!(str_set(&user["user"]["tenantIds"]), set(&["public", "t2"]));
    assert_eq!(str_set(&user["user"]["loginMethods"][0]["tenantIds"]), set(&["public", "t2"]));

    // The e-mail is taken in t1 by another email-password user.
    let r = ok_json(associate(&s, "5.4", "/t1", json!({ "recipeUserId": u1 })).await);
    assert_eq!(r, json!({"status": "EMAIL_ALREADY_EXISTS_ERROR"}));
    let r = ok_json(associate(&s, "5.4", "/t2", json!({ "recipeUserId": u2 })).await);
    assert_eq!(r, json!({"status": "EMAIL_ALREADY_EXISTS_ERROR"}));
    for id in ["nobody", "00000000-0000-4000-8000-000000000000"] {
        let r = ok_json(associate(&s, "5.4", "/t1", json!({ "recipeUserId": id })).await);
        assert_eq!(r, json!({"status": "UNKNOWN_USER_ID_ERROR"}), "{id}");
    }

    // `userId` before 4.0; the field names and the reference's messages.
    let r = ok_json(associate(&s, "3.0", "/t2", json!({ "userId": u1 })).await);
    assert_eq!(r["wasAlreadyAssociated"], true);
    for (v, body, msg) in [
        ("3.0", json!({ "recipeUserId": u1 }), "Field name 'userId' is invalid in JSON input"),
        ("5.4", json!({ "userId": u1 }), "Field name 'recipeUserId' is invalid in JSON input"),
        ("5.4", json!({"recipeUserId": 5}), "Field name 'recipeUserId' is invalid in JSON input"),
        ("5.4", json!({"recipeUserId": " "}), "Field name 'userId' cannot be an empty String"),
        ("3.1", json!({"userId": ""}), "Field name 'userId' cannot be an empty String"),
    ] {
        assert_eq!(associate(&s, v, "/t2", body.clone()).await, (400, msg.to_string()), "{v} {body}");
        assert_eq!(disassociate(&s, v, "/t2", body.clone()).await, (400, msg.to_string()), "{v} {body}");
    }
    let not_found = "AppId or tenantId not found => Tenant with the following connectionURIDomain, appId and tenantId combination not found: (, public, nope)";
    assert_eq!(associate(&s, "5.4", "/nope", json!({ "recipeUserId": u1 })).await, (400, not_found.to_string()));
    assert_eq!(disassociate(&s, "5.4", "/nope", json!({ "recipeUserId": u1 })).await, (400, not_found.to_string()));
    assert_eq!(associate(&s, "2.21", "/t2", json!({ "userId": u1 })).await.0, 404, "no tenants before 3.0");
    let r = ok_json(associate(&s, "2.21", "", json!({ "userId": u1 })).await);
    assert_eq!(r["wasAlreadyAssociated"], true, "the public tenant");

    // An external id names its user.
    let map = json!({"superTokensUserId": u2, "externalUserId": "ext-2"});
    assert_eq!(s.post("/recipe/userid/map", map).await["status"], "OK");
    let r = ok_json(associate(&s, "5.4", "/t2", json!({"recipeUserId": "ext-2"})).await);
    assert_eq!(r["status"], "EMAIL_ALREADY_EXISTS_ERROR");

    // Taken out with its sessions and roles in that tenant; not from the others.
    let session = |prefix: &'static str| {
        let s = &s;
        let body = json!({"userId": u1, "enableAntiCsrf": false, "userDataInJWT": {}, "userDataInDatabase": {}});
        async move { handle(&s.post(&format!("{prefix}/recipe/session"), body).await) }
    };
    let (h_public, h_t2) = (session("").await, session("/t2").await);
    s.put("/recipe/role", json!({"role": "admin"})).await;
    for prefix in ["", "/t2"] {
        s.put(&format!("{prefix}/recipe/user/role"), json!({"userId": u1, "role": "admin"})).await;
    }
    let r = ok_json(disassociate(&s, "5.4", "/t2", json!({ "recipeUserId": u1 })).await);
    assert_eq!(r, json!({"status": "OK", "wasAssociated": true}));
    assert_eq!(signin("/t2").await, "WRONG_CREDENTIALS_ERROR");
    assert_eq!(s.get(&format!("/t2/recipe/session?sessionHandle={h_t2}")).await["status"], "UNAUTHORISED");
    assert_eq!(s.get(&format!("/recipe/session?sessionHandle={h_public}")).await["status"], "OK");
    assert_eq!(s.get(&format!("/t2/recipe/user/roles?userId={u1}")).await["roles"], json!([]));
    assert_eq!(s.get(&format!("/recipe/user/roles?userId={u1}")).await["roles"], json!(["admin"]));
    let r = ok_json(disassociate(&s, "3.0", "/t2", json!({ "userId": u1 })).await);
    assert_eq!(r, json!({"status": "OK", "wasAssociated": false}));
    let user = s.get(&format!("/user/id?userId={u1}")).await;
    assert_eq!(str_set(&user["user"]["tenantIds"]), set(&["public"]));

    // An id without a login method: its data there goes; an id that names nothing is unknown.
    let body = json!({"userId": "someone", "enableAntiCsrf": false, "userDataInJWT": {}, "userDataInDatabase": {}});
    let h = handle(&s.post("/t2/recipe/session", body).await);
    let r = ok_json(disassociate(&s, "5.4", "/t2", json!({"recipeUserId": "someone"})).await);
    assert_eq!(r, json!({"status": "OK", "wasAssociated": true}));
    assert_eq!(s.get(&format!("/t2/recipe/session?sessionHandle={h}")).await["status"], "UNAUTHORISED");
    let r = ok_json(disassociate(&s, "5.4", "/t2", json!({"recipeUserId": "someone"})).await);
    assert_eq!(r, json!({"status": "UNKNOWN_USER_ID_ERROR"}));
    let r = ok_json(associate(&s, "5.4", "/t2", json!({"recipeUserId": "someone"})).await);
    assert_eq!(r, json!({"status": "UNKNOWN_USER_ID_ERROR"}));
    // By external id: out of t1, then the e-mail is free there for the other user.
    let r = ok_json(disassociate(&s, "5.4", "/t1", json!({"recipeUserId": "ext-2"})).await);
    assert_eq!(r["wasAssociated"], true);
    let r = ok_json(associate(&s, "5.4", "/t1", json!({ "recipeUserId": u1 })).await);
    assert_eq!(r["wasAlreadyAssociated"], false);
    s.stop().await;
}

/// Third-party login methods: the provider pair is unique per tenant, the e-mail is not.
async fn third_party_users_added_to_tenants(b: Backend) {
    let Some(s) = TestServer::spawn(b, cheap_hashing()).await else { return };
    for t in ["t1", "t2"] {
        s.put("/recipe/multitenancy/tenant/v2", json!({"tenantId": t, "firstFactors": ["thirdparty"]})).await;
    }
    let tp = |tenant: &str, user: &str, email: &str| {
        let s = &s;
        let path = format!("/{tenant}/recipe/signinup");
        let body =
            json!({"thirdPartyId": "google", "thirdPartyUserId": user, "email": {"id": email, "isVerified": false}});
        async move { s.post(&path, body).await["user"]["id"].as_str().unwrap().to_string() }
    };
    let g1 = tp("public", "g-1", "a@example.com").await;
    let g1_t1 = tp("t1", "g-1", "b@example.com").await;
    assert_ne!(g1, g1_t1, "one pair, two tenants, two users");
    let g2 = tp("t1", "g-2", "a@example.com").await;
    let r = ok_json(associate(&s, "5.4", "/t1", json!({ "recipeUserId": g1 })).await);
    assert_eq!(r, json!({"status": "THIRD_PARTY_USER_ALREADY_EXISTS_ERROR"}));
    let r = ok_json(associate(&s, "5.4", "/t2", json!({ "recipeUserId": g1 })).await);
    assert_eq!(r["wasAlreadyAssociated"], false);
    let r = ok_json(associate(&s, "5.4", "/public", json!({ "recipeUserId": g2 })).await);
    assert_eq!(r["wasAlreadyAssociated"], false, "the same e-mail under another pair");
    // Signing in through t2 finds the user added there.
    assert_eq!(tp("t2", "g-1", "a@example.com").await, g1);
    let r = ok_json(disassociate(&s, "5.4", "/t2", json!({ "recipeUserId": g1 })).await);
    assert_eq!(r["wasAssociated"], true);
    assert_ne!(tp("t2", "g-1", "a@example.com").await, g1, "a new user once it left");
    s.stop().await;
}

/// Passwordless login methods: e-mail and phone number unique per tenant among them.
async fn passwordless_users_added_to_tenants(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    s.put("/recipe/multitenancy/tenant/v2", json!({"tenantId": "t1", "firstFactors": null})).await;
    let pl = |tenant: &'static str, contact: Value| {
        let s = &s;
        async move {
            let code = s.post(&format!("/{tenant}/recipe/signinup/code"), contact).await;
            let body = json!({"preAuthSessionId": code["preAuthSessionId"], "linkCode": code["linkCode"]});
            let r = s.post(&format!("/{tenant}/recipe/signinup/code/consume"), body).await;
            assert_eq!(r["createdNewUser"], true, "{r}");
            r["user"]["id"].as_str().unwrap().to_string()
        }
    };
    let by_phone = pl("public", json!({"phoneNumber": "+14155550101"})).await;
    let by_email = pl("public", json!({"email": "p@example.com"})).await;
    pl("t1", json!({"phoneNumber": "+1 415 555 0101"})).await;
    let r = ok_json(associate(&s, "5.4", "/t1", json!({ "recipeUserId": by_phone })).await);
    assert_eq!(r, json!({"status": "PHONE_NUMBER_ALREADY_EXISTS_ERROR"}));
    let r = ok_json(associate(&s, "5.4", "/t1", json!({ "recipeUserId": by_email })).await);
    assert_eq!(r["wasAlreadyAssociated"], false);
    pl("public", json!({"email": "q@example.com"})).await;
    let r = ok_json(associate(&s, "5.4", "/t1", json!({ "recipeUserId": by_email })).await);
    assert_eq!(r["wasAlreadyAssociated"], true);
    s.stop().await;
}

/// A login method of a linked group (written with SQL, as a Java core with account linking
/// leaves it) may not join a tenant where another primary user has one of its group's e-mails.
#[tokio::test]
async fn association_not_allowed_for_a_linked_user_on_postgres() {
    let Some(s) = TestServer::spawn(Backend::Postgres, cheap_hashing()).await else { return };
    s.put("/recipe/multitenancy/tenant/v2", json!({"tenantId": "t1", "firstFactors": ["emailpassword"]})).await;
    let id_of = |v: &Value| v["user"]["id"].as_str().unwrap().to_string();
    let p = id_of(&sign_up(&s, "pat@example.com", "pw").await);
    s.clock.advance_ms(1);
    let m = id_of(&sign_up(&s, "max@example.com", "pw").await);
    let z = id_of(&s.post("/t1/recipe/signup", json!({"email": "pat@example.com", "password": "pw"})).await);
    let (client, conn) = tokio_postgres::connect(s.db_url.as_deref().unwrap(), tokio_postgres::NoTls).await.unwrap();
    let task = tokio::spawn(conn);
    let link = |primary: String, ids: Vec<String>| {
        let client = &client;
        async move {
            let ids: Vec<String> = ids.iter().map(|i| format!("'{i}'")).collect();
            let ids = ids.join(", ");
            for table in ["app_id_to_user_id", "all_auth_recipe_users"] {
                let sql = format!(
                    "UPDATE {table} SET primary_or_recipe_user_id = '{primary}', is_linked_or_is_a_primary_user = TRUE \
                     WHERE user_id IN ({ids})"
                );
                client.batch_execute(&sql).await.unwrap();
            }
        }
    };
    link(p.clone(), vec![p.clone(), m.clone()]).await;
    // Not a primary user yet: `z` does not stand in the way of `m` (its own e-mail is free in t1).
    let r = ok_json(associate(&s, "5.4", "/t1", json!({ "recipeUserId": m })).await);
    assert_eq!(r["wasAlreadyAssociated"], false);
    assert_eq!(ok_json(disassociate(&s, "5.4", "/t1", json!({ "recipeUserId": m })).await)["wasAssociated"], true);
    link(z.clone(), vec![z.clone()]).await;
    let r = ok_json(associate(&s, "5.4", "/t1", json!({ "recipeUserId": m })).await);
    assert_eq!(
        r,
        json!({"status": "ASSOCIATION_NOT_ALLOWED_ERROR", "reason": format!("Another primary user with email already exists: {z}")})
    );
    // The primary's own e-mail is taken in t1 by `z` as an email-password user too; the
    // primary-user rule is checked first.
    let r = ok_json(associate(&s, "5.4", "/t1", json!({ "recipeUserId": p })).await);
    assert_eq!(r["status"], "ASSOCIATION_NOT_ALLOWED_ERROR");
    drop(client);
    let _ = task.await;
    s.stop().await;
}

/// A CDI 5.4 request that reaches the core by the host name `host`; (status, body without the
/// trailing newline of the plain-text errors).
async fn via(s: &TestServer, host: &str, method: &str, path: &str, body: Option<Value>) -> (u16, String) {
    let (st, text) = s.request(method, path, body, &[("cdi-version", "5.4"), ("host", host)]).await;
    (st, text.trim_end().to_string())
}

async fn via_json(s: &TestServer, host: &str, method: &str, path: &str, body: Option<Value>) -> Value {
    ok_json(via(s, host, method, path, body).await)
}

const DOMAIN: &str = "a.example.com";

/// Connection-URI domains (§b.1, §g.3): created, updated, listed and removed; requests routed
/// to a domain by their `Host`; apps and tenants configured per domain with its config layered
/// under theirs; the data of an app id shared by the domains that name it (one user pool).
async fn connection_uri_domains(b: Backend) {
    let Some(s) = TestServer::spawn(b, cheap_hashing()).await else { return };
    let put_domain = |host: &'static str, body: Value| {
        let s = &s;
        async move { via(s, host, "PUT", "/recipe/multitenancy/connectionuridomain/v2", Some(body)).await }
    };
    let body = json!({"connectionUriDomain": " A.Example.COM:3567 ", "coreConfig": {"access_token_validity": 1000}});
    assert_eq!(ok_json(put_domain("localhost", body.clone()).await), json!({"status": "OK", "createdNew": true}));
    assert_eq!(ok_json(put_domain("localhost", body).await)["createdNew"], false);

    // Its own config, layered under its apps'; any port; an unknown host is the default domain.
    let read = via_json(&s, "a.example.com:9999", "GET", "/recipe/multitenancy/tenant/v2", None).await;
    assert_eq!(config_number(&read["coreConfig"]["access_token_validity"]), Some(1000.0), "{read}");
    let base = via_json(&s, "b.example.com", "GET", "/recipe/multitenancy/tenant/v2", None).await;
    assert_eq!(base["coreConfig"], json!({}));
    let session_body = json!({"userId": "u", "enableAntiCsrf": false, "userDataInJWT": {}, "userDataInDatabase": {}});
    let r = via_json(&s, DOMAIN, "POST", "/recipe/session", Some(session_body.clone())).await;
    assert_validity(&r, 1000);
    assert_validity(&session(&s, "", "u").await, 3600);
    let created = via_json(&s, DOMAIN, "PUT", "/recipe/multitenancy/app/v2", Some(json!({"appId": "x"}))).await;
    assert_eq!(created["createdNew"], true);
    let r = via_json(&s, DOMAIN, "POST", "/appid-x/recipe/session", Some(session_body.clone())).await;
    assert_validity(&r, 1000);
    let t =
        via_json(&s, DOMAIN, "PUT", "/appid-x/recipe/multitenancy/tenant/v2", Some(json!({"tenantId": "t1"}))).await;
    assert_eq!(t["createdNew"], true);

    // Apps and tenants are the domain's.
    assert_eq!(s.get("/appid-x/recipe/multitenancy/tenant/v2").await, tenant_not_found());
    assert_eq!(via_json(&s, DOMAIN, "GET", "/appid-x/t1/recipe/multitenancy/tenant/v2", None).await["status"], "OK");
    let (st, text) =
        via(&s, DOMAIN, "POST", "/appid-x/t9/recipe/signup", Some(json!({"email": "a@b.c", "password": "p"}))).await;
    assert_eq!(
        (st, text.as_str()),
        (400, "AppId or tenantId not found => Tenant with the following connectionURIDomain, appId and tenantId combination not found: (a.example.com, x, t9)")
    );
    let apps = via_json(&s, DOMAIN, "GET", "/recipe/multitenancy/app/list/v2", None).await;
    assert_eq!(ids(&apps["apps"], "appId"), set(&["public", "x"]));
    assert_eq!(ids(&s.get("/recipe/multitenancy/app/list/v2").await["apps"], "appId"), set(&["public"]));
    let tenants = via_json(&s, DOMAIN, "GET", "/appid-x/recipe/multitenancy/tenant/list/v2", None).await;
    assert_eq!(ids(&tenants["tenants"], "tenantId"), set(&["public", "t1"]));
    let provider = json!({"config": {"thirdPartyId": "google", "clients": [{"clientId": "a"}]}});
    via_json(&s, DOMAIN, "PUT", "/recipe/multitenancy/config/thirdparty", Some(provider)).await;
    let read = via_json(&s, DOMAIN, "GET", "/recipe/multitenancy/tenant/v2", None).await;
    assert_eq!(read["thirdParty"]["providers"][0]["thirdPartyId"], "google");
    assert_eq!(s.get("/recipe/multitenancy/tenant/v2").await["thirdParty"]["providers"], json!([]));

    // A domain's API keys protect its apps, not the default domain's.
    let keys = json!({"connectionUriDomain": "k.example.com", "coreConfig": {"api_keys": KEY}});
    assert_eq!(ok_json(put_domain("localhost", keys).await)["createdNew"], true);
    let (st, text) = via(&s, "k.example.com", "GET", "/recipe/multitenancy/tenant/v2", None).await;
    assert_eq!((st, text.as_str()), (401, "Invalid API key"));
    let (st, _) = s
        .request(
            "GET",
            "/recipe/multitenancy/tenant/v2",
            None,
            &[("cdi-version", "5.4"), ("host", "k.example.com"), ("api-key", KEY)],
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(s.get("/recipe/multitenancy/tenant/v2").await["status"], "OK");
    let (st, text) = s
        .request(
            "POST",
            "/recipe/multitenancy/connectionuridomain/remove",
            Some(json!({"connectionUriDomain": "k.example.com"})),
            &[("cdi-version", "5.4")],
        )
        .await;
    assert_eq!((st, text.as_str()), (200, r#"{"status":"OK","didExist":true}"#));

    // Listed from the base tenant only.
    let list = s.get("/recipe/multitenancy/connectionuridomain/list/v2").await;
    let domains: Vec<&str> = list["connectionUriDomains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["connectionUriDomain"].as_str().unwrap())
        .collect();
    assert_eq!(domains, ["", DOMAIN]);
    let ours = &list["connectionUriDomains"][1]["apps"];
    assert_eq!(ids(ours, "appId"), set(&["public", "x"]));
    assert_eq!(ids(&ours[1]["tenants"], "tenantId"), set(&["public", "t1"]));
    assert_eq!(config_number(&ours[0]["tenants"][0]["coreConfig"]["access_token_validity"]), Some(1000.0));
    let (st, text) =
        s.request("GET", "/recipe/multitenancy/connectionuridomain/list", None, &[("cdi-version", "4.0")]).await;
    assert_eq!(st, 200, "{text}");
    let old: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(old["connectionUriDomains"][1]["apps"][0]["tenants"][0]["emailPassword"], json!({"enabled": true}));
    let forbidden = "Only the public tenantId, public appId and default connectionUriDomain is allowed to list all connectionUriDomains and appIds associated with this core";
    let (st, text) = via(&s, DOMAIN, "GET", "/recipe/multitenancy/connectionuridomain/list/v2", None).await;
    assert_eq!((st, text.as_str()), (403, forbidden));

    // Input and permissions.
    for (body, msg) in [
        (json!({"connectionUriDomain": "http://a.com"}), "connectionUriDomain is invalid"),
        (json!({"connectionUriDomain": "a_b.com"}), "connectionUriDomain is invalid"),
        (json!({"connectionUriDomain": " "}), "connectionUriDomain should not be an empty String"),
        (json!({"connectionUriDomain": 5}), "Field name 'connectionUriDomain' is invalid in JSON input"),
        (json!({"coreConfig": {"access_token_validity": 5}}), "Cannot modify base config"),
    ] {
        assert_eq!(put_domain("localhost", body.clone()).await, (400, msg.to_string()), "{body}");
    }
    assert_eq!(ok_json(put_domain("localhost", json!({})).await)["createdNew"], false, "the base tenant");
    let (st, text) = put_domain(DOMAIN, json!({"connectionUriDomain": "b.example.com"})).await;
    assert_eq!(
        (st, text.as_str()),
        (403, "You must use the default or same connectionUriDomain to create/update a connectionUriDomain")
    );
    let update = json!({"connectionUriDomain": DOMAIN, "coreConfig": {"refresh_token_validity": 100}});
    assert_eq!(ok_json(put_domain(DOMAIN, update).await)["createdNew"], false, "a domain updates itself");
    let old_put = json!({"connectionUriDomain": "c.example.com", "emailPasswordEnabled": false});
    let (st, text) =
        s.request("PUT", "/recipe/multitenancy/connectionuridomain", Some(old_put), &[("cdi-version", "4.0")]).await;
    assert_eq!((st, text.as_str()), (200, r#"{"status":"OK","createdNew":true}"#), "the deprecated API");
    let c = via_json(&s, "c.example.com", "GET", "/recipe/multitenancy/tenant/v2", None).await;
    assert_eq!(str_set(&c["firstFactors"]), set(&["otp-email", "otp-phone", "link-email", "link-phone", "thirdparty"]));

    // One user pool: the public app's users are the same through every domain; a domain's own
    // app is its own.
    let up =
        via_json(&s, DOMAIN, "POST", "/recipe/signup", Some(json!({"email": "pool@x.com", "password": "pw"}))).await;
    assert_eq!(up["status"], "OK");
    let signin = json!({"email": "pool@x.com", "password": "pw"});
    assert_eq!(s.post("/recipe/signin", signin.clone()).await["user"]["id"], up["user"]["id"]);
    let up = via_json(&s, DOMAIN, "POST", "/appid-x/recipe/signup", Some(signin.clone())).await;
    assert_eq!(up["status"], "OK");

    // Removed from the base tenant, once its apps other than `public` are gone.
    let remove = |host: &'static str, domain: &'static str| {
        let s = &s;
        let body = json!({ "connectionUriDomain": domain });
        async move { via(s, host, "POST", "/recipe/multitenancy/connectionuridomain/remove", Some(body)).await }
    };
    let (st, text) = remove(DOMAIN, DOMAIN).await;
    assert_eq!(
        (st, text.as_str()),
        (403, "Only the public tenantId, public appId and default connectionUriDomain is allowed to delete a connectionUriDomain")
    );
    let (st, text) = remove("localhost", DOMAIN).await;
    assert_eq!(
        (st, text.as_str()),
        (403, "Please delete all apps except the public appID for this connectionUriDomain before calling the delete API.")
    );
    assert_eq!(remove("localhost", "").await, (400, "connectionUriDomain should not be an empty String".into()));
    let rm_tenant =
        via_json(&s, DOMAIN, "POST", "/appid-x/recipe/multitenancy/tenant/remove", Some(json!({"tenantId": "t1"})))
            .await;
    assert_eq!(rm_tenant["didExist"], true);
    let rm_app = via_json(&s, DOMAIN, "POST", "/recipe/multitenancy/app/remove", Some(json!({"appId": "x"}))).await;
    assert_eq!(rm_app["didExist"], true);
    assert_eq!(ok_json(remove("localhost", "A.example.com").await), json!({"status": "OK", "didExist": true}));
    assert_eq!(ok_json(remove("localhost", DOMAIN).await), json!({"status": "OK", "didExist": false}));
    // The host names no domain any more; the public app's users stay, app x's went with it.
    let read = via_json(&s, DOMAIN, "GET", "/recipe/multitenancy/tenant/v2", None).await;
    assert_eq!(read["coreConfig"], json!({}));
    assert_eq!(s.post("/recipe/signin", signin.clone()).await["status"], "OK");
    via_json(&s, DOMAIN, "PUT", "/recipe/multitenancy/app/v2", Some(json!({"appId": "x"}))).await;
    let again = via_json(&s, DOMAIN, "POST", "/appid-x/recipe/signin", Some(signin)).await;
    assert_eq!(again["status"], "WRONG_CREDENTIALS_ERROR");
    s.stop().await;
}

/// `supertokens_saas_load_only_cud`: no other domain may be created.
async fn only_one_domain_loaded(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({"supertokens_saas_load_only_cud": DOMAIN})).await else { return };
    let put = |domain: &str| {
        let s = &s;
        let body = json!({ "connectionUriDomain": domain });
        async move { via(s, "localhost", "PUT", "/recipe/multitenancy/connectionuridomain/v2", Some(body)).await }
    };
    assert_eq!(
        put("b.example.com").await,
        (400, "Creation of connection uri domain or app or tenant is disallowed".into())
    );
    assert_eq!(ok_json(put(DOMAIN).await)["createdNew"], true);
    assert_eq!(via_json(&s, DOMAIN, "GET", "/recipe/multitenancy/tenant/v2", None).await["status"], "OK");
    s.stop().await;
}

/// A domain created through one instance is routed by the other after its re-sync.
#[tokio::test]
async fn domains_shared_by_instances_on_postgres() {
    let Some(s1) = TestServer::spawn(Backend::Postgres, json!({})).await else { return };
    let s2 = TestServer::spawn_on(Backend::Postgres, json!({}), s1.db_url.clone()).await.unwrap();
    let body = json!({"connectionUriDomain": DOMAIN, "coreConfig": {"access_token_validity": 1000}});
    via_json(&s1, "localhost", "PUT", "/recipe/multitenancy/connectionuridomain/v2", Some(body)).await;
    let before = via_json(&s2, DOMAIN, "GET", "/recipe/multitenancy/tenant/v2", None).await;
    assert_eq!(before["coreConfig"], json!({}), "not known yet: the default domain");
    s2.core.sync_tenants().await.unwrap();
    let after = via_json(&s2, DOMAIN, "GET", "/recipe/multitenancy/tenant/v2", None).await;
    assert_eq!(config_number(&after["coreConfig"]["access_token_validity"]), Some(1000.0));
    // The rows a Java core reads.
    let (client, conn) = tokio_postgres::connect(s1.db_url.as_deref().unwrap(), tokio_postgres::NoTls).await.unwrap();
    let task = tokio::spawn(conn);
    let rows = client
        .query(
            "SELECT connection_uri_domain, app_id, tenant_id FROM tenant_configs ORDER BY connection_uri_domain",
            &[],
        )
        .await
        .unwrap();
    let rows: Vec<(String, String, String)> = rows.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect();
    assert_eq!(
        rows,
        [("".into(), "public".into(), "public".into()), (DOMAIN.into(), "public".into(), "public".into())]
    );
    drop(client);
    let _ = task.await;
    s2.stop().await;
    s1.stop().await;
}

st_tests::both_backends! {
    apps_created_updated_and_configured => apps_created_updated_and_configured;
    app_routing_and_isolation => app_routing_and_isolation;
    tenants_created_read_and_listed => tenants_created_read_and_listed;
    tenant_not_found_is_a_200 => tenant_not_found_is_a_200;
    config_validation => config_validation;
    input_validation => input_validation;
    permission_rules => permission_rules;
    permission_error_texts => permission_error_texts;
    removal_cascades => removal_cascades;
    deprecated_apis_before_5_0 => deprecated_apis_before_5_0;
    thirdparty_provider_configs => thirdparty_provider_configs;
    users_added_to_and_taken_out_of_tenants => users_added_to_and_taken_out_of_tenants;
    third_party_users_added_to_tenants => third_party_users_added_to_tenants;
    passwordless_users_added_to_tenants => passwordless_users_added_to_tenants;
    connection_uri_domains => connection_uri_domains;
    only_one_domain_loaded => only_one_domain_loaded;
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
