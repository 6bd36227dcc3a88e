//! Who may create, update and remove apps and tenants (403s), and the reference's texts for them.

use super::*;

pub(super) async fn permission_rules(b: Backend) {
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
pub(super) async fn permission_error_texts(b: Backend) {
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
