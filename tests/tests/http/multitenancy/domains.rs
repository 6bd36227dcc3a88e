//! Connection-URI domains: requests routed by host name, one domain loaded, domains shared by
//! instances.

use super::*;

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
pub(super) async fn connection_uri_domains(b: Backend) {
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
pub(super) async fn only_one_domain_loaded(b: Backend) {
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
