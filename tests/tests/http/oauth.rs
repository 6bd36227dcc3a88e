//! The OAuth2 provider over HTTP (§a.18): clients (create with Hydra's defaults and validation,
//! read with the secret, update merged over the stored client, list with pagination and the
//! name filter, remove), the CDI 5.2 gate, and a client a Java core wrote; client-credentials
//! tokens (client authentication, scopes, audiences, the token's claims and keys), their
//! introspection, revocation and expiry.

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

// ---------------------------------------------------------------------------------------------
// Authorization-code flow (phase 3)
// ---------------------------------------------------------------------------------------------

const CB: &str = "https://app.example/cb";

fn pct_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

/// The query parameters of a URL.
fn query_of(url: &str) -> Vec<(String, String)> {
    let Some((_, q)) = url.split_once('?') else { return vec![] };
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (pct_decode(k), pct_decode(v))
        })
        .collect()
}

fn param(url: &str, name: &str) -> Option<String> {
    query_of(url).into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

fn params_object(url: &str) -> Value {
    Value::Object(query_of(url).into_iter().map(|(k, v)| (k, Value::String(v))).collect())
}

fn b64url_sha256(s: &str, half: bool) -> String {
    use base64::Engine;
    let d = ring::digest::digest(&ring::digest::SHA256, s.as_bytes());
    let bytes = if half { &d.as_ref()[..16] } else { d.as_ref() };
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

async fn auth_call(s: &TestServer, params: Value) -> Value {
    s.post("/recipe/oauth/auth", json!({"params": params, "iss": ISS, "cookies": ""})).await
}

async fn web_client(s: &TestServer, id: &str, extra: Value) -> Value {
    let mut body = json!({"clientId": id, "clientSecret": "web-secret-value", "redirectUris": [CB],
        "postLogoutRedirectUris": ["https://app.example/bye"],
        "grantTypes": ["authorization_code", "refresh_token"], "responseTypes": ["code"]});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let c = s.post("/recipe/oauth/clients", body).await;
    assert_eq!(c["status"], "OK", "{c}");
    c
}

/// From the client's request to the redirect back to it, accepting login and consent as the
/// SDK does; the final redirect URL.
async fn run_flow(s: &TestServer, params: Value) -> String {
    let r = auth_call(s, params).await;
    assert_eq!(r["status"], "OK", "{r}");
    let to = r["redirectTo"].as_str().unwrap().to_string();
    assert!(to.starts_with("{apiDomain}/oauth/login?login_challenge="), "{to}");
    let login = param(&to, "login_challenge").unwrap();
    let a = s
        .put(
            &format!("/recipe/oauth/auth/requests/login/accept?loginChallenge={login}"),
            json!({"subject": "user-1", "identityProviderSessionId": "handle-1"}),
        )
        .await;
    let to = a["redirectTo"].as_str().unwrap().to_string();
    let r = auth_call(s, params_object(&to)).await;
    let to = r["redirectTo"].as_str().unwrap().to_string();
    assert!(to.starts_with("{apiDomain}/oauth/consent?consent_challenge="), "{to}");
    let consent = param(&to, "consent_challenge").unwrap();
    let got = s.get(&format!("/recipe/oauth/auth/requests/consent?consentChallenge={consent}")).await;
    let a = s
        .put(
            &format!("/recipe/oauth/auth/requests/consent/accept?consentChallenge={consent}"),
            json!({"iss": ISS, "tId": "public", "rsub": "user-1", "sessionHandle": "handle-1",
                   "initialAccessTokenPayload": {"custom": "at", "sub": "evil"},
                   "initialIdTokenPayload": {"email": "u@example.com"},
                   "grantScope": got["requestedScope"], "grantAccessTokenAudience": got["requestedAccessTokenAudience"]}),
        )
        .await;
    assert_eq!(a["status"], "OK", "{a}");
    let r = auth_call(s, params_object(a["redirectTo"].as_str().unwrap())).await;
    assert_eq!(r["status"], "OK", "{r}");
    r["redirectTo"].as_str().unwrap().to_string()
}

fn code_params(client: &str) -> Value {
    json!({"client_id": client, "redirect_uri": CB, "response_type": "code", "scope": "openid offline_access",
           "state": "state-123456", "nonce": "nonce-123456"})
}

async fn exchange(s: &TestServer, client: &str, secret: Option<&str>, code: &str, extra: Value) -> Value {
    let mut input = json!({"grant_type": "authorization_code", "code": code, "redirect_uri": CB, "client_id": client});
    for (k, v) in extra.as_object().unwrap() {
        input[k] = v.clone();
    }
    let mut body = json!({"iss": ISS, "inputBody": input});
    if let Some(sec) = secret {
        body["authorizationHeader"] = json!(basic(client, sec));
    }
    token_call(s, body).await
}

async fn refresh(s: &TestServer, client: &str, token: &str) -> Value {
    token_call(
        s,
        json!({"iss": ISS, "authorizationHeader": basic(client, "web-secret-value"),
               "inputBody": {"grant_type": "refresh_token", "refresh_token": token},
               "access_token": {"fresh": true}, "id_token": {"fresh": true}}),
    )
    .await
}

async fn authorization_code_flow(b: Backend) {
    let Some(s) = TestServer::spawn(b, config()).await else { return };
    web_client(&s, "web", json!({})).await;
    // The request: to the SDK's login page with a login challenge.
    let r = auth_call(&s, code_params("web")).await;
    assert_eq!(r["status"], "OK", "{r}");
    assert_eq!(r["cookies"], json!([]));
    let to = r["redirectTo"].as_str().unwrap();
    let login = param(to, "login_challenge").unwrap();
    let got = s.get(&format!("/recipe/oauth/auth/requests/login?loginChallenge={login}")).await;
    assert_eq!(got["challenge"], login.as_str());
    assert_eq!(got["client"]["clientId"], "web");
    assert_eq!(got["client"]["clientSecret"], "web-secret-value");
    assert_eq!(got["client"]["enableRefreshTokenRotation"], false);
    assert_eq!(got["requestedScope"], json!(["openid", "offline_access"]));
    assert_eq!((got["skip"].as_bool(), got["subject"].as_str()), (Some(false), Some("")));
    assert_eq!(param(got["requestUrl"].as_str().unwrap(), "state").as_deref(), Some("state-123456"));
    // Accepted once: a second accept finds nothing.
    let a = s
        .put(&format!("/recipe/oauth/auth/requests/login/accept?loginChallenge={login}"), json!({"subject": "user-1"}))
        .await;
    let verifier_url = a["redirectTo"].as_str().unwrap().to_string();
    assert!(verifier_url.starts_with("{apiDomain}/oauth/auth?"), "{verifier_url}");
    assert_eq!(param(&verifier_url, "client_id").as_deref(), Some("web"));
    let again = s
        .put(&format!("/recipe/oauth/auth/requests/login/accept?loginChallenge={login}"), json!({"subject": "user-1"}))
        .await;
    assert_eq!((again["status"].as_str(), again["statusCode"].as_i64()), (Some("OAUTH_ERROR"), Some(404)));
    // The login verifier is used once.
    let r = auth_call(&s, params_object(&verifier_url)).await;
    assert!(r["redirectTo"].as_str().unwrap().contains("consent_challenge="), "{r}");
    let r = auth_call(&s, params_object(&verifier_url)).await;
    assert_eq!(r["status"], "OAUTH_ERROR", "{r}");
    let consent = s.get("/recipe/oauth/auth/requests/consent?consentChallenge=unknown").await;
    assert_eq!(consent["status"], "OAUTH_ERROR", "an unknown consent challenge: {consent}");

    // The whole flow, then the code exchanged.
    let back = run_flow(&s, code_params("web")).await;
    assert!(back.starts_with(&format!("{CB}?code=st_ac_")), "{back}");
    assert_eq!(param(&back, "state").as_deref(), Some("state-123456"));
    assert_eq!(param(&back, "scope").as_deref(), Some("openid offline_access"));
    let code = param(&back, "code").unwrap();
    let t = exchange(&s, "web", Some("web-secret-value"), &code, json!({})).await;
    assert_eq!(t["status"], "OK", "{t}");
    assert_eq!((t["token_type"].as_str(), t["expires_in"].as_i64()), (Some("bearer"), Some(3600)));
    assert_eq!(t["scope"], "openid offline_access");
    let at = t["access_token"].as_str().unwrap();
    let id = t["id_token"].as_str().unwrap();
    let rt = t["refresh_token"].as_str().unwrap();
    assert!(rt.starts_with("st_rt_"), "{rt}");
    let (keys, _) = jwks(&s, "").await;
    assert!(verifies_with_jwks(at, &keys) && verifies_with_jwks(id, &keys));
    let p = jwt_payload(at);
    assert_eq!((p["stt"].as_i64(), p["sub"].as_str(), p["client_id"].as_str()), (Some(1), Some("user-1"), Some("web")));
    assert_eq!(
        (p["sessionHandle"].as_str(), p["tId"].as_str(), p["rsub"].as_str()),
        (Some("handle-1"), Some("public"), Some("user-1"))
    );
    assert_eq!((p["iss"].as_str(), p["custom"].as_str()), (Some(ISS), Some("at")), "{p}");
    assert_eq!(p["scp"], json!(["openid", "offline_access"]));
    assert!(p["gid"].is_string() && p.get("ext").is_none() && p.get("initialPayload").is_none(), "{p}");
    let ip = jwt_payload(id);
    assert_eq!(
        (ip["stt"].as_i64(), ip["aud"].as_str(), ip["sub"].as_str()),
        (Some(2), Some("web"), Some("user-1")),
        "{ip}"
    );
    assert_eq!((ip["nonce"].as_str(), ip["sid"].as_str()), (Some("nonce-123456"), Some("handle-1")));
    assert_eq!(ip["at_hash"].as_str(), Some(b64url_sha256(at, true).as_str()));
    assert_eq!(ip["email"], "u@example.com");
    assert!(ip.get("ext").is_none() && ip.get("initialPayload").is_none(), "{ip}");
    assert_eq!(introspect(&s, at).await["active"], true);
    let ri = s.post("/recipe/oauth/introspect", json!({"token": rt, "scope": "offline_access"})).await;
    assert_eq!(
        (ri["active"].as_bool(), ri["sessionHandle"].as_str(), ri["client_id"].as_str()),
        (Some(true), Some("handle-1"), Some("web")),
        "{ri}"
    );
    assert_eq!(ri["token_use"], "refresh_token");
    assert_eq!(s.post("/recipe/oauth/introspect", json!({"token": rt, "scope": "email"})).await["active"], false);

    // The code again: refused, and what it issued revoked.
    let t2 = exchange(&s, "web", Some("web-secret-value"), &code, json!({})).await;
    assert_eq!((t2["status"].as_str(), t2["error"].as_str()), (Some("OAUTH_ERROR"), Some("invalid_grant")), "{t2}");
    assert!(t2["errorDescription"].as_str().unwrap().contains("already been used"), "{t2}");
    assert_eq!(introspect(&s, at).await["active"], false);
    assert_eq!(introspect(&s, rt).await["active"], false);
    s.stop().await;
}

async fn authorization_code_security(b: Backend) {
    let Some(s) = TestServer::spawn(b, config()).await else { return };
    web_client(&s, "web", json!({})).await;
    web_client(&s, "spa", json!({"tokenEndpointAuthMethod": "none", "clientSecret": null})).await;
    // No open redirect: a redirect URI the client did not register is an error to the SDK.
    for uri in ["https://evil.example/cb", "https://app.example/cb/", "https://app.example/CB"] {
        let mut p = code_params("web");
        p["redirect_uri"] = json!(uri);
        let r = auth_call(&s, p).await;
        assert_eq!(
            (r["status"].as_str(), r["error"].as_str(), r["statusCode"].as_i64()),
            (Some("OAUTH_ERROR"), Some("invalid_request"), Some(400)),
            "{uri}: {r}"
        );
    }
    let mut p = code_params("nobody");
    p["redirect_uri"] = json!(CB);
    assert_eq!(auth_call(&s, p).await, json!({"status": "CLIENT_NOT_FOUND_ERROR"}));
    // Past the redirect URI, errors go back to the client.
    let mut p = code_params("web");
    p["state"] = json!("short");
    let to = auth_call(&s, p).await["redirectTo"].as_str().unwrap().to_string();
    assert!(to.starts_with(CB) && param(&to, "error").as_deref() == Some("invalid_state"), "{to}");
    let mut p = code_params("web");
    p["scope"] = json!("openid admin");
    let to = auth_call(&s, p).await["redirectTo"].as_str().unwrap().to_string();
    assert_eq!(param(&to, "error").as_deref(), Some("invalid_scope"), "{to}");
    assert_eq!(param(&to, "state").as_deref(), Some("state-123456"));
    let mut p = code_params("web");
    p["response_type"] = json!("token");
    let to = auth_call(&s, p).await["redirectTo"].as_str().unwrap().to_string();
    assert_eq!(param(&to, "error").as_deref(), Some("unsupported_response_type"), "{to}");
    // PKCE is required of a public client.
    let to = auth_call(&s, code_params("spa")).await["redirectTo"].as_str().unwrap().to_string();
    assert!(to.starts_with(CB), "{to}");
    assert_eq!(param(&to, "error").as_deref(), Some("invalid_request"), "{to}");
    let verifier = "a-verifier-of-at-least-forty-three-characters-0123456789";
    let mut p = code_params("spa");
    p["code_challenge"] = json!(b64url_sha256(verifier, false));
    p["code_challenge_method"] = json!("S256");
    let code = param(&run_flow(&s, p).await, "code").unwrap();
    for (given, hint) in
        [(None, "at least 43"), (Some("b-verifier-of-at-least-forty-three-characters-0123456789"), "did not match")]
    {
        let extra = given.map_or(json!({}), |v| json!({"code_verifier": v}));
        let t = exchange(&s, "spa", None, &code, extra).await;
        assert_eq!(t["error"], "invalid_grant", "{t}");
        assert!(t["errorDescription"].as_str().unwrap().contains(hint), "{t}");
    }
    let t = exchange(&s, "spa", None, &code, json!({"code_verifier": verifier})).await;
    assert_eq!(t["status"], "OK", "the code survives refused attempts: {t}");
    // Plain PKCE.
    let mut p = code_params("spa");
    p["code_challenge"] = json!(verifier);
    let code = param(&run_flow(&s, p).await, "code").unwrap();
    assert_eq!(exchange(&s, "spa", None, &code, json!({"code_verifier": verifier})).await["status"], "OK");
    // Confidential client: the secret, the redirect URI, the expiry.
    let code = param(&run_flow(&s, code_params("web")).await, "code").unwrap();
    let t = exchange(&s, "web", Some("wrong-secret"), &code, json!({})).await;
    assert_eq!((t["error"].as_str(), t["statusCode"].as_i64()), (Some("invalid_client"), Some(401)), "{t}");
    let t = exchange(&s, "web", Some("web-secret-value"), &code, json!({"redirect_uri": "https://app.example/other"}))
        .await;
    assert_eq!(t["error"], "invalid_grant", "{t}");
    let t = exchange(&s, "spa", None, &code, json!({})).await;
    assert_eq!(t["error"], "invalid_grant", "another client's code: {t}");
    s.clock.advance_ms(10 * 60 * 1000 + 1);
    let t = exchange(&s, "web", Some("web-secret-value"), &code, json!({})).await;
    assert_eq!(t["error"], "invalid_grant", "expired: {t}");
    let t = exchange(&s, "web", Some("web-secret-value"), "st_ac_unknown", json!({})).await;
    assert_eq!(t["error"], "invalid_grant", "{t}");
    // A rejected login ends at the client with the error and the state.
    let r = auth_call(&s, code_params("web")).await;
    let login = param(r["redirectTo"].as_str().unwrap(), "login_challenge").unwrap();
    let a = s
        .put(
            &format!("/recipe/oauth/auth/requests/login/reject?login_challenge={login}"),
            json!({"error": "access_denied", "errorDescription": "no thanks", "statusCode": 403}),
        )
        .await;
    let back = auth_call(&s, params_object(a["redirectTo"].as_str().unwrap())).await;
    let to = back["redirectTo"].as_str().unwrap();
    assert!(to.starts_with(CB), "{to}");
    assert_eq!(
        (param(to, "error").as_deref(), param(to, "error_description").as_deref(), param(to, "state").as_deref()),
        (Some("access_denied"), Some("no thanks"), Some("state-123456"))
    );
    assert!(param(to, "code").is_none());
    // Bad input: the reference's 400s.
    let (st, _) = raw(&s, "POST", "/recipe/oauth/auth", Some(json!({"iss": ISS}))).await;
    assert_eq!(st, 400);
    let (st, text) =
        raw(&s, "PUT", "/recipe/oauth/auth/requests/consent/accept?consentChallenge=x", Some(json!({}))).await;
    assert_eq!((st, text.trim_end()), (400, "Field name 'iss' is invalid in JSON input"));
    s.stop().await;
}

async fn refresh_tokens_rotate(b: Backend) {
    let Some(s) = TestServer::spawn(b, config()).await else { return };
    web_client(&s, "rot", json!({"enableRefreshTokenRotation": true})).await;
    web_client(&s, "keep", json!({})).await;
    let code = param(&run_flow(&s, code_params("rot")).await, "code").unwrap();
    let t = exchange(&s, "rot", Some("web-secret-value"), &code, json!({})).await;
    let rt1 = t["refresh_token"].as_str().unwrap().to_string();
    s.clock.advance_ms(1000);
    let r = refresh(&s, "rot", &rt1).await;
    assert_eq!(r["status"], "OK", "{r}");
    let rt2 = r["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(rt1, rt2, "rotated");
    let p = jwt_payload(r["access_token"].as_str().unwrap());
    assert_eq!(
        (p["fresh"].as_bool(), p["stt"].as_i64(), p["sub"].as_str()),
        (Some(true), Some(1), Some("user-1")),
        "{p}"
    );
    assert_eq!(p["gid"], jwt_payload(t["access_token"].as_str().unwrap())["gid"], "one grant");
    assert_eq!(jwt_payload(r["id_token"].as_str().unwrap())["fresh"], true);
    assert_eq!(introspect(&s, &rt1).await["active"], false);
    assert_eq!(introspect(&s, &rt2).await["active"], true);
    // The rotated token again: refused, and the grant revoked (its successor too).
    let again = refresh(&s, "rot", &rt1).await;
    assert_eq!((again["error"].as_str(), again["statusCode"].as_i64()), (Some("token_inactive"), Some(401)), "{again}");
    assert_eq!(introspect(&s, &rt2).await["active"], false);
    assert_eq!(refresh(&s, "rot", &rt2).await["error"], "token_inactive");
    assert_eq!(introspect(&s, r["access_token"].as_str().unwrap()).await["active"], false);
    // The SDK's payloads are required for a refresh (400 without).
    let (st, text) = raw(
        &s,
        "POST",
        "/recipe/oauth/token",
        Some(json!({"iss": ISS, "inputBody": {"grant_type": "refresh_token", "refresh_token": rt2}})),
    )
    .await;
    assert_eq!((st, text.trim_end()), (400, "Field name 'access_token' is invalid in JSON input"));

    // Without rotation the client keeps its refresh token (no refresh_token in the answer).
    let code = param(&run_flow(&s, code_params("keep")).await, "code").unwrap();
    let t = exchange(&s, "keep", Some("web-secret-value"), &code, json!({})).await;
    let rt = t["refresh_token"].as_str().unwrap().to_string();
    for _ in 0..2 {
        let r = refresh(&s, "keep", &rt).await;
        assert_eq!(r["status"], "OK", "{r}");
        assert!(r.get("refresh_token").is_none(), "{r}");
        assert_eq!(introspect(&s, r["access_token"].as_str().unwrap()).await["active"], true);
    }
    // Another client cannot use it; revoking it ends the grant.
    let other = token_call(
        &s,
        json!({"iss": ISS, "authorizationHeader": basic("rot", "web-secret-value"),
               "inputBody": {"grant_type": "refresh_token", "refresh_token": rt}, "access_token": {}, "id_token": {}}),
    )
    .await;
    assert_eq!(other["error"], "invalid_grant", "{other}");
    assert_eq!(s.post("/recipe/oauth/token/revoke", json!({"token": rt, "client_id": "keep"})).await["status"], "OK");
    assert_eq!(introspect(&s, &rt).await["active"], false);
    assert_eq!(refresh(&s, "keep", &rt).await["error"], "token_inactive");
    // Expiry: 720 h by default.
    let code = param(&run_flow(&s, code_params("keep")).await, "code").unwrap();
    let rt = exchange(&s, "keep", Some("web-secret-value"), &code, json!({})).await["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    s.clock.advance_ms(720 * 3600 * 1000 + 1000);
    assert_eq!(introspect(&s, &rt).await["active"], false);
    s.stop().await;
}

async fn rp_initiated_logout(b: Backend) {
    let Some(s) = TestServer::spawn(b, config()).await else { return };
    web_client(&s, "web", json!({})).await;
    let code = param(&run_flow(&s, code_params("web")).await, "code").unwrap();
    let t = exchange(&s, "web", Some("web-secret-value"), &code, json!({})).await;
    let (at, id) = (t["access_token"].as_str().unwrap(), t["id_token"].as_str().unwrap());
    let q = |extra: &str| format!("/recipe/oauth/sessions/logout?idTokenHint={id}{extra}");
    // The reference's checks.
    let r = s.get("/recipe/oauth/sessions/logout?state=abc").await;
    assert_eq!((r["status"].as_str(), r["error"].as_str()), (Some("OAUTH_ERROR"), Some("invalid_request")), "{r}");
    let r = s.get(&q("&postLogoutRedirectUri=https://evil.example/")).await;
    assert_eq!(r["errorDescription"], "The post_logout_redirect_uri is not valid for this client.");
    let r = s.get(&q("&clientId=other")).await;
    assert_eq!(
        r["errorDescription"],
        "The client_id in the id_token_hint does not match the client_id in the request."
    );
    let r = s.get("/recipe/oauth/sessions/logout?idTokenHint=not.a.token").await;
    assert_eq!(r["status"], "OAUTH_ERROR");
    // A logout challenge; accepting it revokes the session's tokens.
    let r = s.get(&q("&postLogoutRedirectUri=https://app.example/bye&state=st-1")).await;
    assert_eq!(r["status"], "OK", "{r}");
    let to = r["redirectTo"].as_str().unwrap();
    assert!(to.starts_with("{apiDomain}/oauth/logout?logout_challenge="), "{to}");
    let challenge = param(to, "logout_challenge").unwrap();
    assert!(is_uuid(&challenge));
    assert_eq!(introspect(&s, at).await["active"], true);
    let a = s.put("/recipe/oauth/auth/requests/logout/accept", json!({"challenge": challenge})).await;
    assert_eq!(a, json!({"status": "OK", "redirectTo": "https://app.example/bye?state=st-1"}));
    assert_eq!(introspect(&s, at).await["active"], false);
    let a = s.put("/recipe/oauth/auth/requests/logout/accept", json!({"challenge": challenge})).await;
    assert_eq!(
        (a["status"].as_str(), a["errorDescription"].as_str()),
        (Some("OAUTH_ERROR"), Some("Logout request not found"))
    );
    // Without a post-logout URI: the fallback page; a rejected challenge is gone.
    let r = s.get(&q("")).await;
    let challenge = param(r["redirectTo"].as_str().unwrap(), "logout_challenge").unwrap();
    assert_eq!(
        s.put("/recipe/oauth/auth/requests/logout/reject", json!({"challenge": challenge})).await,
        json!({"status": "OK"})
    );
    assert_eq!(
        s.put("/recipe/oauth/auth/requests/logout/accept", json!({"challenge": challenge})).await["status"],
        "OAUTH_ERROR"
    );
    let r = s.get("/recipe/oauth/sessions/logout?clientId=web").await;
    let challenge = param(r["redirectTo"].as_str().unwrap(), "logout_challenge").unwrap();
    let a = s.put("/recipe/oauth/auth/requests/logout/accept", json!({"challenge": challenge})).await;
    assert_eq!(a["redirectTo"], "{apiDomain}/fallbacks/logout/callback");
    // Before CDI 5.2 the routes do not exist.
    let (st, _) = call(&s, "GET", "/recipe/oauth/sessions/logout?clientId=web", None, "5.1").await;
    assert_eq!(st, 404);
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
    authorization_code_flow => authorization_code_flow;
    authorization_code_security => authorization_code_security;
    refresh_tokens_rotate => refresh_tokens_rotate;
    rp_initiated_logout => rp_initiated_logout;
}
