//! The OAuth2 provider over HTTP (§a.18): clients (create with Hydra's defaults and validation,
//! read with the secret, update merged over the stored client, list with pagination and the
//! name filter, remove), the CDI 5.2 gate, and a client a Java core wrote.

use crate::helpers::*;
use serde_json::{json, Value};

const KEY: &str = "clientsecretencryptionkey";

fn config() -> Value {
    json!({"oauth_client_secret_encryption_key": KEY})
}

async fn call(s: &TestServer, method: &str, path: &str, body: Option<Value>, cdi: &str) -> (u16, String) {
    s.request(method, path, body, &[("cdi-version", cdi)]).await
}

async fn clients_create_get_update_remove(b: Backend) {
    let Some(s) = TestServer::spawn(b, config()).await else { return };
    // Defaults: a generated id and secret, Hydra's defaults, rotation off.
    let c =
        s.post("/recipe/oauth/clients", json!({"clientName": "web", "redirectUris": ["https://app.example/cb"]})).await;
    assert_eq!(c["status"], "OK", "{c}");
    let id = c["clientId"].as_str().unwrap().to_string();
    assert!(id.starts_with("stcl_") && is_uuid(&id[5..]), "{id}");
    let secret = c["clientSecret"].as_str().unwrap().to_string();
    assert_eq!(secret.len(), 26);
    assert!(secret.bytes().all(|b| b.is_ascii_alphanumeric()));
    assert_eq!(c["scope"], "offline_access offline openid");
    assert_eq!(c["tokenEndpointAuthMethod"], "client_secret_basic");
    assert_eq!(c["grantTypes"], json!([]));
    assert_eq!(c["responseTypes"], json!([]));
    assert_eq!(c["redirectUris"], json!(["https://app.example/cb"]));
    assert_eq!(c["metadata"], json!({}));
    assert_eq!(c["enableRefreshTokenRotation"], false);
    assert_eq!(c["authorizationCodeGrantAccessTokenLifespan"], Value::Null);
    assert!(c["createdAt"].as_str().unwrap().ends_with('Z'));
    for hidden in ["owner", "skipConsent", "subjectType", "accessTokenStrategy"] {
        assert!(c.get(hidden).is_none(), "{hidden} is not passed on");
    }

    // Read back: the secret in clear (the reference returns it), the same fields.
    let got = s.get(&format!("/recipe/oauth/clients?clientId={id}")).await;
    assert_eq!(got["clientSecret"], secret.as_str());
    assert_eq!(got["clientName"], "web");
    assert_eq!(got["createdAt"], c["createdAt"]);
    let missing = s.get("/recipe/oauth/clients?clientId=nobody").await;
    assert_eq!(missing, json!({"status": "CLIENT_NOT_FOUND_ERROR"}));

    // Update: the given fields over the stored ones; the secret kept unless given.
    s.clock.advance_ms(5_000);
    let u = s
        .put(
            "/recipe/oauth/clients",
            json!({"clientId": id, "grantTypes": ["client_credentials"], "enableRefreshTokenRotation": true}),
        )
        .await;
    assert_eq!(u["status"], "OK", "{u}");
    assert_eq!(u["clientName"], "web", "kept");
    assert_eq!(u["grantTypes"], json!(["client_credentials"]));
    assert_eq!(u["clientSecret"], secret.as_str());
    assert_eq!(u["enableRefreshTokenRotation"], true);
    assert_eq!(u["createdAt"], c["createdAt"]);
    assert_ne!(u["updatedAt"], c["updatedAt"]);
    let u = s.put("/recipe/oauth/clients", json!({"clientId": id, "clientSecret": "a-new-secret"})).await;
    assert_eq!(u["clientSecret"], "a-new-secret");
    assert_eq!(u["enableRefreshTokenRotation"], true, "kept");
    assert_eq!(s.get(&format!("/recipe/oauth/clients?clientId={id}")).await["clientSecret"], "a-new-secret");
    let u = s.put("/recipe/oauth/clients", json!({"clientId": "nobody", "clientName": "x"})).await;
    assert_eq!(u, json!({"status": "CLIENT_NOT_FOUND_ERROR"}));
    // A refused update changes nothing.
    let u = s.put("/recipe/oauth/clients", json!({"clientId": id, "redirectUris": ["not a url"]})).await;
    assert_eq!(u["status"], "OAUTH_ERROR");
    assert_eq!(u["error"], "invalid_client_metadata");
    assert_eq!(u["statusCode"], 400);
    let got = s.get(&format!("/recipe/oauth/clients?clientId={id}")).await;
    assert_eq!(got["redirectUris"], json!(["https://app.example/cb"]));

    // Remove.
    assert_eq!(
        s.post("/recipe/oauth/clients/remove", json!({"clientId": id})).await,
        json!({"status": "OK", "didExist": true})
    );
    assert_eq!(
        s.post("/recipe/oauth/clients/remove", json!({"clientId": id})).await,
        json!({"status": "OK", "didExist": false})
    );
    assert_eq!(s.get(&format!("/recipe/oauth/clients?clientId={id}")).await["status"], "CLIENT_NOT_FOUND_ERROR");
    s.stop().await;
}

async fn client_validation_and_public_clients(b: Backend) {
    let Some(s) = TestServer::spawn(b, config()).await else { return };
    // A given id and secret; the id taken.
    let c = s.post("/recipe/oauth/clients", json!({"clientId": "mine", "clientSecret": "s3cret-value"})).await;
    assert_eq!((c["clientId"].as_str(), c["clientSecret"].as_str()), (Some("mine"), Some("s3cret-value")));
    let dup = s.post("/recipe/oauth/clients", json!({"clientId": "mine"})).await;
    assert_eq!((dup["status"].as_str(), dup["statusCode"].as_i64()), (Some("OAUTH_ERROR"), Some(409)));
    // A public client has no secret: none answered, `null` on update, as the reference.
    let p = s.post("/recipe/oauth/clients", json!({"clientId": "spa", "tokenEndpointAuthMethod": "none"})).await;
    assert!(p.get("clientSecret").is_none(), "{p}");
    assert!(s.get("/recipe/oauth/clients?clientId=spa").await.get("clientSecret").is_none());
    assert_eq!(
        s.put("/recipe/oauth/clients", json!({"clientId": "spa", "clientName": "SPA"})).await["clientSecret"],
        Value::Null
    );
    // Hydra's validation as OAUTH_ERROR.
    for (body, error) in [
        (json!({"clientSecret": "short"}), "invalid_client_metadata"),
        (json!({"redirectUris": ["https://a.example/cb#frag"]}), "invalid_client_metadata"),
        (
            json!({"redirectUris": ["https://a.example/cb"], "postLogoutRedirectUris": ["https://b.example/"]}),
            "invalid_client_metadata",
        ),
        (json!({"logoUri": "ftp://a.example/x.png"}), "invalid_client_metadata"),
        (json!({"tokenEndpointAuthMethod": "private_key_jwt"}), "invalid_client_metadata"),
        (json!({"grantTypes": "authorization_code"}), "invalid_request"),
        (json!({"clientName": 5}), "invalid_request"),
        (json!({"authorizationCodeGrantAccessTokenLifespan": "one hour"}), "invalid_request"),
    ] {
        let r = s.post("/recipe/oauth/clients", body.clone()).await;
        assert_eq!((r["status"].as_str(), r["error"].as_str()), (Some("OAUTH_ERROR"), Some(error)), "{body}: {r}");
        assert_eq!(r["statusCode"], 400);
        assert!(r["errorDescription"].is_string());
    }
    let ok = s
        .post(
            "/recipe/oauth/clients",
            json!({"redirectUris": ["https://a.example/cb"], "postLogoutRedirectUris": ["https://a.example/bye"],
                   "authorizationCodeGrantAccessTokenLifespan": "1h", "metadata": {"k": 1},
                   "grantTypes": ["authorization_code", "refresh_token"], "responseTypes": ["code"]}),
        )
        .await;
    assert_eq!(ok["status"], "OK", "{ok}");
    assert_eq!(ok["postLogoutRedirectUris"], json!(["https://a.example/bye"]));
    assert_eq!(ok["authorizationCodeGrantAccessTokenLifespan"], "1h");
    assert_eq!(ok["metadata"], json!({"k": 1}));
    // The reference's plain-text 400s.
    let (st, text) =
        call(&s, "POST", "/recipe/oauth/clients", Some(json!({"enableRefreshTokenRotation": "yes"})), "5.4").await;
    assert_eq!((st, text.trim_end()), (400, "Field name 'enableRefreshTokenRotation' is invalid in JSON input"));
    let (st, text) = call(&s, "GET", "/recipe/oauth/clients", None, "5.4").await;
    assert_eq!((st, text.trim_end()), (400, "Field name 'clientId' is missing in GET request"));
    let (st, text) = call(&s, "POST", "/recipe/oauth/clients/remove", Some(json!({})), "5.4").await;
    assert_eq!((st, text.trim_end()), (400, "Field name 'clientId' is invalid in JSON input"));
    let (st, _) = call(&s, "PUT", "/recipe/oauth/clients", Some(json!({"clientName": "x"})), "5.4").await;
    assert_eq!(st, 400);
    // Served from CDI 5.2; not below.
    let (st, text) = call(&s, "GET", "/recipe/oauth/clients?clientId=mine", None, "5.1").await;
    assert_eq!((st, text.trim_end()), (404, "Not found"));
    let (st, _) = call(&s, "GET", "/recipe/oauth/clients?clientId=mine", None, "5.2").await;
    assert_eq!(st, 200);
    // App-scoped: public tenant only.
    s.put("/recipe/multitenancy/tenant/v2", json!({"tenantId": "t1"})).await;
    let (st, _) = call(&s, "GET", "/t1/recipe/oauth/clients?clientId=mine", None, "5.4").await;
    assert_eq!(st, 403);
    s.stop().await;
}

async fn clients_list_pages_and_filter(b: Backend) {
    let Some(s) = TestServer::spawn(b, config()).await else { return };
    for i in 0..5 {
        let name = if i % 2 == 0 { "even" } else { "odd" };
        s.post("/recipe/oauth/clients", json!({"clientId": format!("c{i}"), "clientName": name})).await;
    }
    // A client of another app is not listed.
    s.put("/recipe/multitenancy/app/v2", json!({"appId": "a2"})).await;
    let other = s.post("/appid-a2/recipe/oauth/clients", json!({"clientId": "zz"})).await;
    assert_eq!(other["status"], "OK");
    let all = s.get("/recipe/oauth/clients/list").await;
    let ids = |v: &Value| {
        v["clients"].as_array().unwrap().iter().map(|c| c["clientId"].as_str().unwrap().to_string()).collect::<Vec<_>>()
    };
    assert_eq!(ids(&all), ["c0", "c1", "c2", "c3", "c4"]);
    assert!(all.get("nextPaginationToken").is_none());
    assert_eq!(all["clients"][0]["enableRefreshTokenRotation"], false);
    assert_eq!(all["clients"][0]["clientSecret"].as_str().unwrap().len(), 26);
    // Pages of two.
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let path = match &token {
            None => "/recipe/oauth/clients/list?pageSize=2".to_string(),
            Some(t) => format!("/recipe/oauth/clients/list?pageSize=2&pageToken={t}"),
        };
        let page = s.get(&path).await;
        assert!(ids(&page).len() <= 2);
        seen.extend(ids(&page));
        match page.get("nextPaginationToken").and_then(Value::as_str) {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    assert_eq!(seen, ["c0", "c1", "c2", "c3", "c4"]);
    let odd = s.get("/recipe/oauth/clients/list?clientName=odd").await;
    assert_eq!(ids(&odd), ["c1", "c3"]);
    let bad = s.get("/recipe/oauth/clients/list?pageToken=%25%25").await;
    assert_eq!(bad["status"], "OAUTH_ERROR");
    assert_eq!(ids(&s.get("/appid-a2/recipe/oauth/clients/list").await), ["zz"]);
    s.stop().await;
}

/// A client a Java core created (its configuration in its Hydra, only `oauth_clients` here):
/// read with its secret decrypted as the Java core encrypted it, listed, updated, removed.
async fn client_written_by_the_java_core(b: Backend) {
    let Some(s) = TestServer::spawn(b, config()).await else { return };
    let Some(url) = s.db_url.clone() else {
        s.stop().await;
        return;
    };
    // `Utils.encrypt("javasecret123", KEY)` with the IV 01..0c.
    let encrypted = "AQIDBAUGBwgJCgsMV/d/chlpzxKnBREQWMhCLVQxKvYJe4z/W7HkDgc=";
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
    let task = tokio::spawn(conn);
    client
        .execute(
            "INSERT INTO oauth_clients (app_id, client_id, client_secret, enable_refresh_token_rotation, \
             is_client_credentials_only) VALUES ('public', 'java-client', $1, true, false)",
            &[&encrypted],
        )
        .await
        .unwrap();
    let got = s.get("/recipe/oauth/clients?clientId=java-client").await;
    assert_eq!(got["clientSecret"], "javasecret123");
    assert_eq!(got["enableRefreshTokenRotation"], true);
    assert_eq!(got["scope"], "offline_access offline openid");
    assert_eq!(ids_of(&s.get("/recipe/oauth/clients/list").await), ["java-client"]);
    let u = s.put("/recipe/oauth/clients", json!({"clientId": "java-client", "clientName": "J"})).await;
    assert_eq!((u["clientName"].as_str(), u["clientSecret"].as_str()), (Some("J"), Some("javasecret123")));
    // Our secrets are stored as the Java core stores them.
    s.post("/recipe/oauth/clients", json!({"clientId": "ours", "clientSecret": "our-secret"})).await;
    let row = client.query_one("SELECT client_secret FROM oauth_clients WHERE client_id = 'ours'", &[]).await.unwrap();
    let stored: String = row.get(0);
    assert_ne!(stored, "our-secret");
    assert_eq!(s.post("/recipe/oauth/clients/remove", json!({"clientId": "java-client"})).await["didExist"], true);
    let left = client
        .query_one("SELECT COUNT(*) FROM oauth_client_configs WHERE client_id = 'java-client'", &[])
        .await
        .unwrap();
    assert_eq!(left.get::<_, i64>(0), 0);
    drop(client);
    let _ = task.await;
    s.stop().await;
}

fn ids_of(v: &Value) -> Vec<String> {
    v["clients"].as_array().unwrap().iter().map(|c| c["clientId"].as_str().unwrap().to_string()).collect()
}

/// Without `oauth_client_secret_encryption_key` a confidential client cannot be stored (a 500,
/// as the reference), a public one can.
async fn secret_key_required(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    let (st, _) = call(&s, "POST", "/recipe/oauth/clients", Some(json!({"clientId": "c"})), "5.4").await;
    assert_eq!(st, 500);
    let p = s.post("/recipe/oauth/clients", json!({"clientId": "p", "tokenEndpointAuthMethod": "none"})).await;
    assert_eq!(p["status"], "OK");
    assert_eq!(s.get("/recipe/oauth/clients?clientId=c").await["status"], "CLIENT_NOT_FOUND_ERROR");
    s.stop().await;
}

st_tests::both_backends! {
    clients_create_get_update_remove => clients_create_get_update_remove;
    client_validation_and_public_clients => client_validation_and_public_clients;
    clients_list_pages_and_filter => clients_list_pages_and_filter;
    client_written_by_the_java_core => client_written_by_the_java_core;
    secret_key_required => secret_key_required;
}
