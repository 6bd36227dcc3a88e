//! Transport rules (§b): routing and prefixes, API keys, cdi-version, error bodies, body
//! parsing, size limit, `/hello`, `/apiversion`, `/config`, `/requests/stats`, licence endpoints.

use crate::helpers::{Backend, TestServer, START_MS};
use serde_json::{json, Value};

const KEY: &str = "abcdefghijklmnopqrstuvwxyz-0123456789";

async fn hello_and_errors(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    let (st, body) = s.request("GET", "/hello", None, &[]).await;
    assert_eq!((st, body.as_str()), (200, "Hello\n"));
    let (st, _) = s.request("POST", "/hello/", None, &[]).await;
    assert_eq!(st, 200);
    let (st, body) = s.request("GET", "/does/not/exist", None, &[]).await;
    assert_eq!((st, body.as_str()), (404, "Not found\n"));
    let (st, body) = s.request("DELETE", "/apiversion", None, &[]).await;
    assert_eq!((st, body.as_str()), (405, "Method not supported\n"));
    let (st, body) = s.request("POST", "/recipe/handshake", Some(json!({})), &[]).await;
    assert_eq!((st, body.as_str()), (404, "Not found\n"));
    // Before any tenant check.
    let (st, body) = s.request("POST", "/nosuchtenant/recipe/handshake", Some(json!({})), &[]).await;
    assert_eq!((st, body.as_str()), (404, "Not found\n"));
    let v = s.get("/apiversion").await;
    assert_eq!(v, json!({"versions": ALL_VERSIONS}), "every served version, no status");
    // Case-insensitive routing, tenant prefix, trailing slash.
    let (st, _) = s.request("GET", "/PUBLIC/APIVERSION/", None, &[]).await;
    assert_eq!(st, 200);
    let (st, body) = s.request("GET", "/", None, &[]).await;
    assert_eq!((st, body.as_str()), (200, "Hello\n"));
    let (st, _) = s.request("GET", "/unknowntenant", None, &[]).await;
    assert_eq!(st, 404);
    s.stop().await;
}

/// The reference core 12.1's supported set, oldest first.
const ALL_VERSIONS: [&str; 25] = [
    "2.7", "2.8", "2.9", "2.10", "2.11", "2.12", "2.13", "2.14", "2.15", "2.16", "2.17", "2.18", "2.19", "2.20",
    "2.21", "3.0", "3.1", "4.0", "5.0", "5.1", "5.2", "5.3", "5.4", "5.5", "5.6",
];

async fn cdi_version_rules(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    let body = json!({"userId":"u","enableAntiCsrf":false,"userDataInJWT":{},"userDataInDatabase":{}});
    for (v, msg) in [
        ("abc", "cdi-version header is invalid\n"),
        ("5.", "cdi-version header is invalid\n"),
        ("4.1", "cdi-version 4.1 not supported\n"),
        ("2.6", "cdi-version 2.6 not supported\n"),
        ("5.7", "cdi-version 5.7 not supported\n"),
        ("5.4.0", "cdi-version 5.4.0 not supported\n"),
        ("9.0", "cdi-version 9.0 not supported\n"),
    ] {
        let (st, text) = s.request("POST", "/public/recipe/session", Some(body.clone()), &[("cdi-version", v)]).await;
        assert_eq!((st, text.as_str()), (400, msg), "version {v}");
    }
    // Every version of the reference's set answers; what differs by version is tested with
    // each API (see docs/CDI_VERSIONS.md).
    for v in ALL_VERSIONS {
        let (st, text) = s.request("POST", "/public/recipe/session", Some(body.clone()), &[("cdi-version", v)]).await;
        assert_eq!(st, 200, "version {v}: {text}");
        let created: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(created["status"], "OK", "version {v}");
        assert!(created["accessToken"]["token"].is_string());
    }
    // The header is read even where no served version is needed (as the reference's
    // pipeline): a malformed one is a 400 on /hello, an unserved well-formed one is not.
    let (st, text) = s.request("GET", "/hello", None, &[("cdi-version", "abc")]).await;
    assert_eq!((st, text.as_str()), (400, "cdi-version header is invalid\n"));
    let (st, text) = s.request("GET", "/hello", None, &[("cdi-version", "1.0")]).await;
    assert_eq!((st, text.as_str()), (200, "Hello\n"));
    let (st, _) = s.request("GET", "/hello", None, &[("cdi-version", "9.0")]).await;
    assert_eq!(st, 400, "above the maximum");
    // Before 3.0 there are no tenants: a tenant segment other than public is unknown, even
    // for /hello and before any tenant lookup; `public` and an app segment are fine.
    for v in ["2.7", "2.21"] {
        let (st, text) = s.request("GET", "/t1/hello", None, &[("cdi-version", v)]).await;
        assert_eq!((st, text.as_str()), (404, "Not found\n"), "{v}");
        let (st, _) = s.request("POST", "/t1/recipe/session", Some(body.clone()), &[("cdi-version", v)]).await;
        assert_eq!(st, 404, "{v}");
        let (st, _) = s.request("POST", "/public/recipe/session", Some(body.clone()), &[("cdi-version", v)]).await;
        assert_eq!(st, 200, "{v}");
    }
    let (st, text) = s.request("POST", "/t1/recipe/session", Some(body.clone()), &[("cdi-version", "3.0")]).await;
    assert_eq!(st, 400, "3.0 has tenants, t1 is unknown: {text}");
    assert!(text.starts_with("AppId or tenantId not found"), "{text}");
    // Missing header = newest served.
    let (st, _) = s.request("POST", "/public/recipe/session", Some(body), &[]).await;
    assert_eq!(st, 200);
    s.stop().await;

    // The app's bounds (§b.3): above the maximum or below the minimum is refused, with the
    // reference's messages, and /apiversion lists the served versions up to the maximum.
    let bounded = json!({"supertokens_max_cdi_version": "5.4", "supertokens_min_cdi_version": "5.4"});
    let Some(s) = TestServer::spawn(b, bounded).await else { return };
    let body = json!({"userId":"u","enableAntiCsrf":false,"userDataInJWT":{},"userDataInDatabase":{}});
    for (v, st_want, msg) in [
        ("5.5", 400, "cdi-version 5.5 not supported\n"),
        ("5.3", 400, "cdi-version 5.3 is lower than the minimum allowed version 5.4\n"),
        ("5.0", 400, "cdi-version 5.0 is lower than the minimum allowed version 5.4\n"),
    ] {
        let (st, text) = s.request("POST", "/public/recipe/session", Some(body.clone()), &[("cdi-version", v)]).await;
        assert_eq!((st, text.as_str()), (st_want, msg), "version {v}");
    }
    assert_eq!(
        s.get("/apiversion").await,
        json!({"versions": ALL_VERSIONS[..ALL_VERSIONS.len() - 2]}),
        "not floored by the minimum"
    );
    s.stop().await;
}

async fn api_keys(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({"api_keys": format!("{KEY},zzzzzzzzzzzzzzzzzzzzzzzzzzzz")})).await else {
        return;
    };
    let (st, body) = s.request("GET", "/apiversion", None, &[]).await;
    assert_eq!((st, body.as_str()), (401, "Invalid API key\n"));
    let (st, _) = s.request("GET", "/apiversion", None, &[("api-key", "wrong-key-wrong-key-wrong")]).await;
    assert_eq!(st, 401);
    let (st, _) = s.request("GET", "/apiversion", None, &[("api-key", KEY)]).await;
    assert_eq!(st, 200);
    let (st, _) = s.request("GET", "/apiversion", None, &[("api-key", "zzzzzzzzzzzzzzzzzzzzzzzzzzzz")]).await;
    assert_eq!(st, 200);
    let bearer = format!("Bearer {KEY}");
    let (st, _) = s.request("GET", "/apiversion", None, &[("authorization", &bearer)]).await;
    assert_eq!(st, 200);
    // No key needed for /hello and the JWKS.
    assert_eq!(s.request("GET", "/hello", None, &[]).await.0, 200);
    assert_eq!(s.request("GET", "/.well-known/jwks.json", None, &[]).await.0, 200);
    s.stop().await;

    // The base config's `supertokens_saas_secret` is accepted as a key too, as in the reference.
    let secret = "s".repeat(40);
    let cfg = json!({"api_keys": KEY, "supertokens_saas_secret": secret});
    let Some(s) = TestServer::spawn(b, cfg).await else { return };
    assert_eq!(s.request("GET", "/apiversion", None, &[("api-key", &secret)]).await.0, 200);
    assert_eq!(s.request("GET", "/apiversion", None, &[("api-key", KEY)]).await.0, 200);
    assert_eq!(s.request("GET", "/apiversion", None, &[("api-key", &"t".repeat(40))]).await.0, 401);
    // With a secret set, the protected configs are seen and changed only with the secret.
    let call = |method: &'static str, path: &'static str, body: Option<Value>, key: String| {
        let s = &s;
        async move { s.request(method, path, body, &[("api-key", &key)]).await }
    };
    let put = |cfg: Value, key: String| {
        call("PUT", "/recipe/multitenancy/tenant/v2", Some(json!({"tenantId": "t1", "coreConfig": cfg})), key)
    };
    let get = |key: String| async move {
        let (st, text) = call("GET", "/t1/recipe/multitenancy/tenant/v2", None, key).await;
        assert_eq!(st, 200, "{text}");
        serde_json::from_str::<Value>(&text).unwrap()["coreConfig"].clone()
    };
    let key = || KEY.to_string();
    assert_eq!(put(json!({"ip_deny_regex": "10\\..*"}), secret.clone()).await.0, 200);
    let (st, text) = put(json!({"ip_deny_regex": "11\\..*"}), key()).await;
    assert_eq!((st, text.trim_end()), (403, "Not allowed to modify protected configs."));
    assert_eq!(put(json!({"ip_deny_regex": "10\\..*"}), key()).await.0, 200, "the same value is no change");
    assert_eq!(put(json!({"password_reset_token_lifetime": 5000}), key()).await.0, 200, "other keys are free");
    assert_eq!(get(key()).await, json!({"password_reset_token_lifetime": 5000}), "hidden without the secret");
    assert_eq!(get(secret.clone()).await["ip_deny_regex"], "10\\..*");
    s.stop().await;
}

async fn body_rules(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({"max_request_body_bytes": 2000})).await else { return };
    let h = [("cdi-version", "5.4")];
    let (st, text) = s.request("POST", "/recipe/session/verify", Some(json!([1, 2])), &h).await;
    assert_eq!((st, text.as_str()), (400, "Invalid Json Input\n"));
    let verify = json!({"accessToken":"x","antiCsrfToken":null,"doAntiCsrfCheck":false,"enableAntiCsrf":false,"checkDatabase":false});
    let (st, text) = s.request("POST", "/recipe/session/verify", Some(verify), &h).await;
    assert_eq!((st, text.as_str()), (400, "Field name 'antiCsrfToken' is invalid in JSON input\n"));
    let missing = json!({"accessToken":"x","doAntiCsrfCheck":false,"enableAntiCsrf":false});
    let (st, text) = s.request("POST", "/recipe/session/verify", Some(missing), &h).await;
    assert_eq!((st, text.as_str()), (400, "Field name 'checkDatabase' is invalid in JSON input\n"));
    let (st, text) = s.request("GET", "/recipe/session", None, &h).await;
    assert_eq!((st, text.as_str()), (400, "Field name 'sessionHandle' is missing in GET request\n"));
    let big = json!({"userId": "x".repeat(5000)});
    let (st, _) = s.request("POST", "/public/recipe/session", Some(big), &h).await;
    assert_eq!(st, 413);
    s.stop().await;
}

async fn unknown_tenant_and_scope(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    let h = [("cdi-version", "5.4")];
    let body = json!({"userId":"u","enableAntiCsrf":false,"userDataInJWT":{},"userDataInDatabase":{}});
    let (st, text) = s.request("POST", "/nope/recipe/session", Some(body.clone()), &h).await;
    assert_eq!(st, 400);
    assert!(text.starts_with("AppId or tenantId not found => Tenant with the following connectionURIDomain, appId and tenantId combination not found: (, public, nope)"), "{text}");
    let (st, text) = s.request("POST", "/appid-nope/public/recipe/session", Some(body), &h).await;
    assert_eq!(st, 400, "{text}");
    let (st, text) = s.request("GET", "/appid-nope/hello", None, &[]).await;
    assert_eq!(st, 400, "{text}");
    // App-specific APIs refuse a non-public tenant.
    s.put("/recipe/multitenancy/tenant/v2", json!({"tenantId": "t1"})).await;
    let (st, text) = s.request("GET", "/t1/apiversion", None, &h).await;
    assert_eq!((st, text.as_str()), (403, "Only public tenantId can call this app specific API\n"));
    s.stop().await;
}

async fn config_and_license(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    let pid = std::process::id();
    let v = s.get(&format!("/config?pid={pid}")).await;
    assert_eq!(v["status"], "OK");
    let v = s.get("/config?pid=1").await;
    assert_eq!(v["status"], "NOT_ALLOWED");
    assert_eq!(s.get("/ee/license").await["status"], "NO_LICENSE_KEY_FOUND_ERROR");
    assert_eq!(s.put("/ee/license", json!({"licenseKey": "abc"})).await["status"], "OK");
    assert_eq!(s.get("/ee/license").await["licenseKey"], "abc");
    assert_eq!(s.cdi("DELETE", "/ee/license", None).await["status"], "OK");
    assert_eq!(s.get("/ee/license").await["status"], "NO_LICENSE_KEY_FOUND_ERROR");
    let f = s.get("/ee/featureflag").await;
    assert!(f["features"].as_array().unwrap().contains(&json!("multi_tenancy")));
    assert_eq!(s.get("/telemetry").await["exists"], false);
    s.stop().await;
}

async fn ip_filters(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({"ip_deny_regex": "127\\.0\\.0\\.1"})).await else { return };
    let (st, _) = s.request("GET", "/apiversion", None, &[]).await;
    assert_eq!(st, 403, "denied address");
    s.stop().await;
    let Some(s) = TestServer::spawn(b, json!({"ip_allow_regex": "10\\..*"})).await else { return };
    assert_eq!(s.request("GET", "/apiversion", None, &[]).await.0, 403, "not in the allow list");
    s.stop().await;
    let Some(s) = TestServer::spawn(b, json!({"ip_allow_regex": "127\\..*|::1"})).await else { return };
    assert_eq!(s.request("GET", "/apiversion", None, &[]).await.0, 200);
    // Per tenant: a tenant denying loopback is refused, the public tenant is not.
    s.put("/recipe/multitenancy/tenant/v2", json!({"tenantId": "t1", "coreConfig": {"ip_deny_regex": "127\\..*"}}))
        .await;
    let body = json!({"userId":"u","enableAntiCsrf":false,"userDataInJWT":{},"userDataInDatabase":{}});
    let (st, _) = s.request("POST", "/t1/recipe/session", Some(body.clone()), &[]).await;
    assert_eq!(st, 403);
    let (st, _) = s.request("POST", "/public/recipe/session", Some(body.clone()), &[]).await;
    assert_eq!(st, 200);
    // A pattern that does not compile is refused, not stored (it would refuse every request);
    // an empty one means no filter, as in the reference.
    let put = |cfg: Value| {
        let s = &s;
        async move {
            s.request("PUT", "/recipe/multitenancy/tenant/v2", Some(json!({"tenantId": "t2", "coreConfig": cfg})), &[])
                .await
        }
    };
    let (st, text) = put(json!({"ip_allow_regex": "(127"})).await;
    assert_eq!(
        (st, text.trim_end()),
        (400, "Invalid core config: Provided regular expression is invalid for ip_allow_regex config")
    );
    assert_eq!(put(json!({"ip_deny_regex": "127\\..*"})).await.0, 200);
    assert_eq!(s.request("POST", "/t2/recipe/session", Some(body.clone()), &[]).await.0, 403);
    assert_eq!(put(json!({"ip_deny_regex": " "})).await.0, 200);
    assert_eq!(
        s.request("POST", "/t2/recipe/session", Some(body.clone()), &[]).await.0,
        200,
        "an empty pattern clears it"
    );
    // An empty pattern on a tenant also overrides its app's pattern (no filter there).
    s.put("/recipe/multitenancy/app/v2", json!({"appId": "a9"})).await;
    let t = json!({"tenantId": "t", "coreConfig": {"ip_deny_regex": ""}});
    assert_eq!(s.request("PUT", "/appid-a9/recipe/multitenancy/tenant/v2", Some(t), &[]).await.0, 200);
    s.put("/recipe/multitenancy/app/v2", json!({"appId": "a9", "coreConfig": {"ip_deny_regex": "127\\..*"}})).await;
    assert_eq!(s.request("POST", "/appid-a9/public/recipe/session", Some(body.clone()), &[]).await.0, 403);
    assert_eq!(s.request("POST", "/appid-a9/t/recipe/session", Some(body), &[]).await.0, 200);
    s.stop().await;
}

/// `/requests/stats`: per-minute average and peak of the app's requests per second, last 24 h.
async fn request_stats(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    let minute0 = START_MS / 60_000;
    s.clock.advance_ms(60_000);
    for _ in 0..5 {
        s.get("/apiversion").await;
    }
    s.clock.advance_ms(60_000);
    let stats = s.get("/requests/stats").await;
    assert_eq!(stats["status"], "OK");
    assert_eq!(stats["atMinute"], json!(minute0 + 2));
    let avg = stats["averageRequestsPerSecond"].as_array().unwrap();
    let peak = stats["peakRequestsPerSecond"].as_array().unwrap();
    assert_eq!((avg.len(), peak.len()), (1440, 1440));
    assert_eq!((avg[1439].as_f64().unwrap(), peak[1439].clone()), (5.0 / 60.0, json!(5)), "the last full minute");
    assert_eq!((avg[0].as_f64().unwrap(), peak[0].clone()), (-1.0, json!(-1)), "before the process started");
    // App-wide only, and only for apps that exist.
    let (st, _) = s.request("GET", "/appid-nope/requests/stats", None, &[]).await;
    assert_eq!(st, 400);
    s.stop().await;
}

st_tests::both_backends! {
    request_stats => request_stats;
    ip_filters => ip_filters;
    hello_and_errors => hello_and_errors;
    cdi_version_rules => cdi_version_rules;
    api_keys => api_keys;
    body_rules => body_rules;
    unknown_tenant_and_scope => unknown_tenant_and_scope;
    config_and_license => config_and_license;
}
