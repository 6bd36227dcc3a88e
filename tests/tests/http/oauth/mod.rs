//! The OAuth2 provider over HTTP (§a.18): clients (create with Hydra's defaults and validation,
//! read with the secret, update merged over the stored client, list with pagination and the
//! name filter, remove), the CDI 5.2 gate, and a client a Java core wrote; client-credentials
//! tokens (client authentication, scopes, audiences, the token's claims and keys), their
//! introspection, revocation and expiry.

use crate::helpers::*;
use serde_json::{json, Value};

mod code_flow;

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

const ISS: &str = "https://auth.example/auth";

fn basic(id: &str, secret: &str) -> String {
    use base64::Engine;
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}")))
}

/// The token endpoint as the SDK calls it: the token payloads (required by the reference but
/// for the code exchange) sent empty unless given.
async fn token_call(s: &TestServer, mut body: Value) -> Value {
    if body["inputBody"]["grant_type"] != "authorization_code" {
        for field in ["access_token", "id_token"] {
            if body.get(field).is_none() {
                body[field] = json!({});
            }
        }
    }
    s.post("/recipe/oauth/token", body).await
}

async fn introspect(s: &TestServer, token: &str) -> Value {
    s.post("/recipe/oauth/introspect", json!({"token": token})).await
}

async fn client_credentials_tokens(b: Backend) {
    let Some(s) = TestServer::spawn(b, config()).await else { return };
    let c = s
        .post(
            "/recipe/oauth/clients",
            json!({"clientId": "svc", "clientSecret": "svc-secret", "grantTypes": ["client_credentials"],
                   "scope": "read write", "audience": ["api1", "api2"]}),
        )
        .await;
    assert_eq!(c["status"], "OK");
    let t = token_call(
        &s,
        json!({"iss": ISS, "authorizationHeader": basic("svc", "svc-secret"),
               "inputBody": {"grant_type": "client_credentials", "scope": "read", "audience": "api1"},
               "access_token": {"custom": 1, "sub": "not-me", "stt": 7}, "id_token": {}}),
    )
    .await;
    assert_eq!(t["status"], "OK", "{t}");
    assert_eq!(
        (t["token_type"].as_str(), t["expires_in"].as_i64(), t["scope"].as_str()),
        (Some("bearer"), Some(3600), Some("read"))
    );
    let at = t["access_token"].as_str().unwrap().to_string();
    let p = jwt_payload(&at);
    assert_eq!(p["stt"], 1);
    assert_eq!(p["iss"], ISS);
    assert_eq!(p["client_id"], "svc");
    assert_eq!(p["sub"], "svc", "the SDK's payload does not override protected claims");
    assert_eq!(p["scp"], json!(["read"]));
    assert_eq!(p["aud"], "api1", "a one-audience list is written bare");
    assert_eq!(p["custom"], 1);
    assert_eq!(p["exp"].as_i64().unwrap() - p["iat"].as_i64().unwrap(), 3600);
    assert_eq!(p["iat"], p["nbf"]);
    assert!(is_uuid(p["jti"].as_str().unwrap()) && is_uuid(p["gid"].as_str().unwrap()));
    assert_eq!(jwt_header(&at)["alg"], "RS256");
    let (keys, _) = jwks(&s, "").await;
    assert!(verifies_with_jwks(&at, &keys), "verifiable offline with the JWKS");
    assert!(!dynamic_kids(&keys).contains(&kid(&at)), "the static key by default");

    // Introspection: the payload, active, while the jti is live.
    let i = introspect(&s, &at).await;
    assert_eq!((i["status"].as_str(), i["active"].as_bool()), (Some("OK"), Some(true)), "{i}");
    assert_eq!((i["token_type"].as_str(), i["token_use"].as_str()), (Some("Bearer"), Some("access_token")));
    assert_eq!(i["client_id"], "svc");
    assert_eq!(introspect(&s, &tamper_signature(&at)).await, json!({"status": "OK", "active": false}));
    assert_eq!(introspect(&s, "not a token").await, json!({"status": "OK", "active": false}));
    assert_eq!(introspect(&s, "st_rt_unknown").await["active"], false);

    // client_secret_post on a client that takes it; a dynamic key on request.
    s.post(
        "/recipe/oauth/clients",
        json!({"clientId": "post", "clientSecret": "post-secret", "grantTypes": ["client_credentials"],
               "tokenEndpointAuthMethod": "client_secret_post", "clientCredentialsGrantAccessTokenLifespan": "10m"}),
    )
    .await;
    let t2 = token_call(
        &s,
        json!({"iss": ISS, "useStaticSigningKey": false,
               "inputBody": {"grant_type": "client_credentials", "client_id": "post", "client_secret": "post-secret"}}),
    )
    .await;
    assert_eq!(t2["status"], "OK", "{t2}");
    assert_eq!(t2["expires_in"], 600);
    assert_eq!(t2["scope"], "");
    let at2 = t2["access_token"].as_str().unwrap().to_string();
    let (keys, _) = jwks(&s, "").await;
    assert!(dynamic_kids(&keys).contains(&kid(&at2)));
    assert!(jwt_payload(&at2).get("aud").is_none(), "no audience: no claim");

    // Revoke one token; then every token of a client.
    let again = token_call(&s, json!({"iss": ISS, "authorizationHeader": basic("svc", "svc-secret"), "inputBody": {"grant_type": "client_credentials"}})).await;
    let at3 = again["access_token"].as_str().unwrap().to_string();
    assert_eq!(s.post("/recipe/oauth/token/revoke", json!({"token": at})).await, json!({"status": "OK"}));
    assert_eq!(introspect(&s, &at).await["active"], false);
    assert_eq!(introspect(&s, &at3).await["active"], true, "another token of the client stays");
    assert_eq!(s.post("/recipe/oauth/tokens/revoke", json!({"client_id": "svc"})).await, json!({"status": "OK"}));
    assert_eq!(introspect(&s, &at3).await["active"], false);
    assert_eq!(introspect(&s, &at2).await["active"], true, "another client's token stays");
    // Expiry by the clock.
    s.clock.advance_ms(601_000);
    assert_eq!(introspect(&s, &at2).await["active"], false);
    assert_eq!(s.post("/recipe/oauth/session/revoke", json!({"sessionHandle": "h"})).await, json!({"status": "OK"}));

    if let Some(url) = s.db_url.clone() {
        // The reference's bookkeeping: one oauth_m2m_tokens row per token, oauth_sessions rows.
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
        let task = tokio::spawn(conn);
        let m2m: i64 = client.query_one("SELECT COUNT(*) FROM oauth_m2m_tokens", &[]).await.unwrap().get(0);
        assert!(m2m >= 2, "{m2m}");
        let row = client.query_one("SELECT jti, exp FROM oauth_sessions WHERE client_id = 'post'", &[]).await.unwrap();
        let (jtis, exp): (String, i64) = (row.get(0), row.get(1));
        assert_eq!(jtis, format!("{},", jwt_payload(&at2)["jti"].as_str().unwrap()));
        assert_eq!(exp, jwt_payload(&at2)["exp"].as_i64().unwrap());
        drop(client);
        let _ = task.await;
    }
    s.stop().await;
}

async fn client_credentials_refusals(b: Backend) {
    let Some(s) = TestServer::spawn(b, config()).await else { return };
    s.post(
        "/recipe/oauth/clients",
        json!({"clientId": "svc", "clientSecret": "svc-secret", "grantTypes": ["client_credentials"], "scope": "read"}),
    )
    .await;
    s.post("/recipe/oauth/clients", json!({"clientId": "web", "clientSecret": "web-secret"})).await;
    s.post(
        "/recipe/oauth/clients",
        json!({"clientId": "spa", "tokenEndpointAuthMethod": "none", "grantTypes": ["client_credentials"]}),
    )
    .await;
    let cc = json!({"grant_type": "client_credentials"});
    let refused = |r: &Value| {
        (r["status"].as_str().map(str::to_string), r["error"].as_str().map(str::to_string), r["statusCode"].as_i64())
    };
    let r =
        token_call(&s, json!({"iss": ISS, "authorizationHeader": basic("svc", "wrong-secret"), "inputBody": cc})).await;
    assert_eq!(refused(&r), (Some("OAUTH_ERROR".into()), Some("invalid_client".into()), Some(401)));
    let r = token_call(&s, json!({"iss": ISS, "inputBody": {"grant_type": "client_credentials", "client_id": "svc", "client_secret": "svc-secret"}})).await;
    assert_eq!(refused(&r).1.as_deref(), Some("invalid_client"), "client_secret_post on a basic client: {r}");
    let r = token_call(&s, json!({"iss": ISS, "inputBody": {"grant_type": "client_credentials", "client_id": "svc"}}))
        .await;
    assert_eq!(refused(&r).1.as_deref(), Some("invalid_client"), "no secret");
    let r = token_call(&s, json!({"iss": ISS, "authorizationHeader": basic("svc", "svc-secret"), "inputBody": {"grant_type": "client_credentials", "scope": "admin"}})).await;
    assert_eq!(refused(&r), (Some("OAUTH_ERROR".into()), Some("invalid_scope".into()), Some(400)));
    let r = token_call(&s, json!({"iss": ISS, "authorizationHeader": basic("svc", "svc-secret"), "inputBody": {"grant_type": "client_credentials", "audience": "elsewhere"}})).await;
    assert_eq!(refused(&r).1.as_deref(), Some("invalid_request"));
    let r =
        token_call(&s, json!({"iss": ISS, "authorizationHeader": basic("web", "web-secret"), "inputBody": cc})).await;
    assert_eq!(refused(&r).1.as_deref(), Some("unauthorized_client"), "the grant is not the client's");
    let r = token_call(&s, json!({"iss": ISS, "inputBody": {"grant_type": "client_credentials", "client_id": "spa"}}))
        .await;
    assert_eq!(refused(&r).1.as_deref(), Some("invalid_grant"), "a public client");
    let r = token_call(&s, json!({"iss": ISS, "authorizationHeader": basic("nobody", "x"), "inputBody": cc})).await;
    assert_eq!(r, json!({"status": "CLIENT_NOT_FOUND_ERROR"}));
    let r = token_call(
        &s,
        json!({"iss": ISS, "authorizationHeader": basic("svc", "svc-secret"), "inputBody": {"grant_type": "password"}}),
    )
    .await;
    assert_eq!(refused(&r).1.as_deref(), Some("unsupported_grant_type"));
    // The reference's 400s.
    for (body, text) in [
        (json!({"inputBody": cc}), "Field name 'iss' is invalid in JSON input"),
        (json!({"iss": ISS}), "Field name 'inputBody' is invalid in JSON input"),
        (json!({"iss": ISS, "inputBody": {}}), "Field name 'grant_type' is invalid in JSON input"),
        // The SDK's payloads: required but for the code exchange.
        (json!({"iss": ISS, "inputBody": cc}), "Field name 'access_token' is invalid in JSON input"),
        (json!({"iss": ISS, "inputBody": cc, "access_token": {}}), "Field name 'id_token' is invalid in JSON input"),
        (
            json!({"iss": ISS, "inputBody": {"grant_type": "client_credentials", "client_id": ["svc"]},
                   "access_token": {}, "id_token": {}}),
            "malformed request body or authorization header",
        ),
        (
            json!({"iss": ISS, "authorizationHeader": "Basic !!", "inputBody": cc, "access_token": {}, "id_token": {}}),
            "malformed request body or authorization header",
        ),
    ] {
        let (st, got) = call(&s, "POST", "/recipe/oauth/token", Some(body.clone()), "5.4").await;
        assert_eq!((st, got.trim_end()), (400, text), "{body}");
    }
    let (st, _) = call(&s, "POST", "/recipe/oauth/introspect", Some(json!({})), "5.4").await;
    assert_eq!(st, 400);
    let (st, _) = call(&s, "POST", "/recipe/oauth/tokens/revoke", Some(json!({})), "5.4").await;
    assert_eq!(st, 400);
    let (st, _) = call(&s, "POST", "/recipe/oauth/token", Some(json!({"iss": ISS, "inputBody": cc})), "5.1").await;
    assert_eq!(st, 404);
    s.stop().await;
}

/// The daily cleanup removes the bookkeeping of tokens that expired more than 31 days ago.
async fn expired_token_bookkeeping_cleaned_up(b: Backend) {
    let Some(s) = TestServer::spawn(b, config()).await else { return };
    s.post(
        "/recipe/oauth/clients",
        json!({"clientId": "svc", "clientSecret": "svc-secret", "grantTypes": ["client_credentials"]}),
    )
    .await;
    let body = json!({"iss": ISS, "authorizationHeader": basic("svc", "svc-secret"), "inputBody": {"grant_type": "client_credentials"}});
    let old = token_call(&s, body.clone()).await;
    s.clock.advance_ms(31 * 24 * 3600 * 1000);
    let recent = token_call(&s, body).await;
    s.clock.advance_ms(3600 * 1000 + 1000);
    let job = st_core::oauth::CLEANUP_OAUTH_SESSIONS;
    assert!(st_core::all_jobs().iter().any(|j| j.name() == "CleanupOAuthSessionsAndChallenges"));
    let stats = st_core::stats::JobStats::default();
    st_core::jobs::run_once(&s.core, &job, &stats).await;
    assert_eq!(stats.failures.load(std::sync::atomic::Ordering::Relaxed), 0);
    if let Some(url) = s.db_url.clone() {
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
        let task = tokio::spawn(conn);
        let gids: Vec<String> =
            client.query("SELECT gid FROM oauth_sessions", &[]).await.unwrap().iter().map(|r| r.get(0)).collect();
        assert_eq!(gids, [jwt_payload(recent["access_token"].as_str().unwrap())["gid"].as_str().unwrap()]);
        let m2m: i64 = client.query_one("SELECT COUNT(*) FROM oauth_m2m_tokens", &[]).await.unwrap().get(0);
        assert_eq!(m2m, 1);
        drop(client);
        let _ = task.await;
    }
    assert_eq!(introspect(&s, old["access_token"].as_str().unwrap()).await["active"], false);
    s.stop().await;
}

st_tests::both_backends! {
    expired_token_bookkeeping_cleaned_up => expired_token_bookkeeping_cleaned_up;
    client_credentials_tokens => client_credentials_tokens;
    client_credentials_refusals => client_credentials_refusals;
    clients_create_get_update_remove => clients_create_get_update_remove;
    client_validation_and_public_clients => client_validation_and_public_clients;
    clients_list_pages_and_filter => clients_list_pages_and_filter;
    client_written_by_the_java_core => client_written_by_the_java_core;
    secret_key_required => secret_key_required;
    authorization_code_flow => code_flow::authorization_code_flow;
    authorization_code_security => code_flow::authorization_code_security;
    refresh_tokens_rotate => code_flow::refresh_tokens_rotate;
    rp_initiated_logout => code_flow::rp_initiated_logout;
}
