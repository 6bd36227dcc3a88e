//! Sessions of a non-public tenant: handles, claims, verify/refresh/read through any tenant's
//! path, listing flags, and the 400 for a session whose tenant is gone.

use super::*;

async fn tenant_sessions(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    assert_eq!(s.put("/recipe/multitenancy/tenant/v2", json!({"tenantId": "t1"})).await["status"], "OK");
    let r = create(&s, "/t1", "u", false, json!({}), json!({})).await;
    let h = handle(&r);
    let (uuid, suffix) = h.split_once('_').expect("non-public handle is <uuid>_<tenant>");
    assert!(is_uuid(uuid) && suffix == "t1", "{h}");
    assert_eq!(r["session"]["tenantId"], "t1");
    assert_eq!(jwt_payload(&at(&r))["tId"], "t1");

    // Verify, refresh, read through the public path: the token's / handle's tenant is used.
    let v = verify(&s, &at(&r), true).await;
    assert_eq!((v["status"].as_str(), v["session"]["tenantId"].as_str()), (Some("OK"), Some("t1")), "{v}");
    let r2 = s
        .post(
            "/public/recipe/session/refresh",
            json!({"refreshToken": rt(&r), "enableAntiCsrf": false, "useDynamicSigningKey": true}),
        )
        .await;
    assert_eq!(r2["status"], "OK", "{r2}");
    assert_eq!((r2["session"]["handle"].as_str(), r2["session"]["tenantId"].as_str()), (Some(h.as_str()), Some("t1")));
    assert_eq!(jwt_payload(&at(&r2))["tId"], "t1");
    assert_eq!(session_info(&s, &h).await["tenantId"], "t1");
    let r3 = s
        .post(
            "/t1/recipe/session/refresh",
            json!({"refreshToken": rt(&r2), "enableAntiCsrf": false, "useDynamicSigningKey": true}),
        )
        .await;
    assert_eq!(r3["session"]["tenantId"], "t1", "{r3}");

    // A public session refreshed through /t1 stays public.
    let p = new_session(&s, "u").await;
    let p2 = s
        .post(
            "/t1/recipe/session/refresh",
            json!({"refreshToken": rt(&p), "enableAntiCsrf": false, "useDynamicSigningKey": true}),
        )
        .await;
    assert_eq!((p2["status"].as_str(), p2["session"]["tenantId"].as_str()), (Some("OK"), Some("public")), "{p2}");

    // The path tenant must exist.
    let (st, _) = raw(
        &s,
        "POST",
        "/nope/recipe/session/refresh",
        Some(json!({"refreshToken": rt(&p2), "enableAntiCsrf": false, "useDynamicSigningKey": true})),
    )
    .await;
    assert_eq!(st, 400);

    // Query flags as the reference reads them: exactly "true" in any case, the first of repeats.
    let handles = |q: &'static str| {
        let s = &s;
        async move { str_set(&s.get(&format!("/recipe/session/user?userId=u{q}")).await["sessionHandles"]) }
    };
    let everywhere = set(&[h.as_str(), handle(&p).as_str()]);
    let public_only = set(&[handle(&p).as_str()]);
    assert_eq!(handles("").await, everywhere);
    assert_eq!(handles("&fetchAcrossAllTenants=TRUE").await, everywhere);
    assert_eq!(handles("&fetchAcrossAllTenants=%20true").await, public_only);
    assert_eq!(handles("&fetchAcrossAllTenants=false&fetchAcrossAllTenants=true").await, public_only);
    s.stop().await;
}

/// A session whose tenant is gone (or whose handle names no tenant) is the reference's 400
/// `AppId or tenantId not found`, not UNAUTHORISED: its storage lookup for that tenant fails.
async fn sessions_of_a_deleted_tenant(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    assert_eq!(s.put("/recipe/multitenancy/tenant/v2", json!({"tenantId": "t1"})).await["status"], "OK");
    let r = create(&s, "/t1", "u", false, json!({}), json!({})).await;
    let h = handle(&r);
    let public = handle(&new_session(&s, "u").await);
    let gone = s.post("/recipe/multitenancy/tenant/remove", json!({"tenantId": "t1"})).await;
    assert_eq!(gone["status"], "OK", "{gone}");

    let t1_missing = "AppId or tenantId not found => Tenant with the following connectionURIDomain, appId and \
                      tenantId combination not found: (, public, t1)\n";
    let refresh_body = json!({"refreshToken": rt(&r), "enableAntiCsrf": false, "useDynamicSigningKey": true});
    let verify_body = |check: bool| json!({"accessToken": at(&r), "enableAntiCsrf": false, "doAntiCsrfCheck": false, "checkDatabase": check});
    let mut wrong = Vec::new();
    for (method, path, body) in [
        ("POST", "/recipe/session/verify".to_string(), Some(verify_body(false))),
        ("POST", "/recipe/session/verify".to_string(), Some(verify_body(true))),
        ("POST", "/recipe/session/refresh".to_string(), Some(refresh_body)),
        ("POST", "/recipe/session/regenerate".to_string(), Some(json!({"accessToken": at(&r)}))),
        ("GET", format!("/recipe/session?sessionHandle={h}"), None),
        ("GET", format!("/recipe/session/data?sessionHandle={h}"), None),
        ("PUT", "/recipe/session/data".to_string(), Some(json!({"sessionHandle": h, "userDataInDatabase": {}}))),
        ("GET", format!("/recipe/jwt/data?sessionHandle={h}"), None),
        // The tenant is looked up before the payload is checked.
        ("PUT", "/recipe/jwt/data".to_string(), Some(json!({"sessionHandle": h, "userDataInJWT": {"sub": "x"}}))),
        ("POST", "/recipe/session/remove".to_string(), Some(json!({"sessionHandles": [public, h]}))),
    ] {
        let (st, text) = raw(&s, method, &path, body).await;
        if (st, text.as_str()) != (400, t1_missing) {
            wrong.push(format!("{method} {path}: {st} {text:?}"));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    assert_eq!(session_info(&s, &public).await["status"], "OK", "a refused removal revokes nothing");

    // The handle's tenant is its second `_` part, lower-cased; trailing empty parts do not count.
    let uuid = public.clone();
    let (st, text) = raw(&s, "GET", &format!("/recipe/session?sessionHandle={uuid}_Ghost_x"), None).await;
    assert_eq!((st, text.as_str()), (400, t1_missing.replace("t1)", "ghost)").as_str()));
    let (st, text) = raw(&s, "GET", &format!("/recipe/session?sessionHandle={uuid}_Bad%21"), None).await;
    assert_eq!((st, text.as_str()), (400, t1_missing.replace("t1)", "bad!)").as_str()));
    assert_eq!(session_info(&s, &format!("{uuid}__")).await["status"], "UNAUTHORISED", "public: no such handle");

    // An access token of the deleted tenant that has expired is TRY_REFRESH_TOKEN first.
    s.clock.advance_ms(3_600_001);
    let (st, text) = raw(&s, "POST", "/recipe/session/verify", Some(verify_body(false))).await;
    assert_eq!(st, 200);
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap()["status"], "TRY_REFRESH_TOKEN", "{text}");
    s.stop().await;
}

st_tests::both_backends! {
    tenant_sessions => tenant_sessions;
    sessions_of_a_deleted_tenant => sessions_of_a_deleted_tenant;
}
