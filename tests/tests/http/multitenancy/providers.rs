//! Third-party provider configs of tenants: created, updated, read back in the SDKs' shapes, and
//! the rows as the Java core writes them.

use super::*;

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

pub(super) async fn thirdparty_provider_configs(b: Backend) {
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
