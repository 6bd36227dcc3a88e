//! Session reads, listing and removal, and the session and JWT data.

use super::*;

async fn get_session_information(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({"access_token_validity": 60, "refresh_token_validity": 10})).await else {
        return;
    };
    let r = create(&s, "", "u", false, json!({"j": 1}), json!({"d": [1, 2]})).await;
    let h = handle(&r);
    let info = session_info(&s, &h).await;
    assert_eq!(
        info,
        json!({"status": "OK", "sessionHandle": h, "userId": "u", "recipeUserId": "u", "userDataInDatabase": {"d": [1, 2]},
               "expiry": START_MS + 600_000, "userDataInJWT": {"j": 1}, "timeCreated": START_MS, "tenantId": "public"})
    );
    assert_eq!(session_info(&s, "no-such-handle").await["status"], "UNAUTHORISED");
    s.clock.advance_ms(600_000);
    assert_eq!(session_info(&s, &h).await["status"], "UNAUTHORISED", "expired");
    s.stop().await;
}

async fn remove_and_list_sessions(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({"access_token_validity": 60, "refresh_token_validity": 10})).await else {
        return;
    };
    s.put("/recipe/multitenancy/tenant/v2", json!({"tenantId": "t1"})).await;
    let p1 = handle(&new_session(&s, "u").await);
    let p2 = handle(&new_session(&s, "u").await);
    let t1 = handle(&create(&s, "/t1", "u", false, json!({}), json!({})).await);
    let t2 = handle(&create(&s, "/t1", "u", false, json!({}), json!({})).await);
    let other = handle(&new_session(&s, "v").await);

    // Listing: across tenants by default; one tenant on request.
    let all = s.get("/recipe/session/user?userId=u").await;
    assert_eq!(str_set(&all["sessionHandles"]), set(&[&p1, &p2, &t1, &t2]));
    let only_t1 = s.get("/t1/recipe/session/user?userId=u&fetchAcrossAllTenants=false").await;
    assert_eq!(str_set(&only_t1["sessionHandles"]), set(&[&t1, &t2]));
    let (st, _) = raw(&s, "GET", "/t1/recipe/session/user?userId=u", None).await;
    assert_eq!(st, 403, "across all tenants needs the public tenant");

    // By handles: only existing ones are reported.
    let rm = s
        .post("/recipe/session/remove", json!({"sessionHandles": [p1, "00000000-0000-4000-8000-000000000000", t1]}))
        .await;
    assert_eq!(str_set(&rm["sessionHandlesRevoked"]), set(&[&p1, &t1]));
    let rm = s.post("/recipe/session/remove", json!({"sessionHandles": [p1]})).await;
    assert_eq!(rm["sessionHandlesRevoked"], json!([]));

    // By user in one tenant.
    let rm = s.post("/t1/recipe/session/remove", json!({"userId": "u", "revokeAcrossAllTenants": false})).await;
    assert_eq!(rm["sessionHandlesRevoked"], json!([t2]));
    let (st, _) = raw(&s, "POST", "/t1/recipe/session/remove", Some(json!({"userId": "u"}))).await;
    assert_eq!(st, 403, "revokeAcrossAllTenants defaults to true, which needs the public tenant");
    // By user across tenants (default).
    let t3 = handle(&create(&s, "/t1", "u", false, json!({}), json!({})).await);
    let rm = s.post("/recipe/session/remove", json!({"userId": "u"})).await;
    assert_eq!(str_set(&rm["sessionHandlesRevoked"]), set(&[&p2, &t3]));
    assert_eq!(s.get("/recipe/session/user?userId=u").await["sessionHandles"], json!([]));
    assert_eq!(session_info(&s, &other).await["status"], "OK", "other users keep their sessions");

    // Listing filters expired sessions.
    let old = handle(&new_session(&s, "w").await);
    s.clock.advance_ms(300_000);
    let young = handle(&new_session(&s, "w").await);
    assert_eq!(str_set(&s.get("/recipe/session/user?userId=w").await["sessionHandles"]), set(&[&old, &young]));
    s.clock.advance_ms(300_001);
    assert_eq!(s.get("/recipe/session/user?userId=w").await["sessionHandles"], json!([young]));
    s.stop().await;
}

async fn remove_input_rules(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    let h = handle(&new_session(&s, "u").await);
    let mut mismatches = Vec::new();
    for (body, msg) in [
        (
            json!({"userId": "u", "sessionHandles": [h]}),
            "Invalid JSON input - use one of userId or sessionHandles array\n",
        ),
        (json!({}), "Invalid JSON input - use one of userId or sessionHandles array\n"),
        (
            json!({"sessionHandles": [h], "revokeAcrossAllTenants": true}),
            "Invalid JSON input - revokeAcrossAllTenants can only be set if userId is set\n",
        ),
        (
            json!({"sessionHandles": [h], "revokeSessionsForLinkedAccounts": false}),
            "Invalid JSON input - revokeSessionsForLinkedAccounts can only be set if userId is set\n",
        ),
        // Each flag is parsed before it is refused.
        (
            json!({"sessionHandles": [h], "revokeAcrossAllTenants": "yes"}),
            "Field name 'revokeAcrossAllTenants' is invalid in JSON input\n",
        ),
        (
            json!({"sessionHandles": [h], "revokeAcrossAllTenants": true, "revokeSessionsForLinkedAccounts": null}),
            "Invalid JSON input - revokeAcrossAllTenants can only be set if userId is set\n",
        ),
        (
            json!({"userId": "u", "revokeSessionsForLinkedAccounts": null}),
            "Field name 'revokeSessionsForLinkedAccounts' is invalid in JSON input\n",
        ),
    ] {
        let (st, text) = raw(&s, "POST", "/recipe/session/remove", Some(body.clone())).await;
        if (st, text.as_str()) != (400, msg) {
            mismatches.push(format!("{body}: got {st} {text:?}, expected 400 {msg:?}"));
        }
    }
    let still = session_info(&s, &h).await["status"].clone();
    assert!(mismatches.is_empty(), "{mismatches:#?}");
    assert_eq!(still, "OK", "rejected requests revoke nothing");
    s.stop().await;
}

async fn session_and_jwt_data(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({"access_token_validity": 60, "refresh_token_validity": 10})).await else {
        return;
    };
    let r = create(&s, "", "u", false, json!({"j": 1}), json!({"d": 1})).await;
    let h = handle(&r);
    assert_eq!(
        s.get(&format!("/recipe/session/data?sessionHandle={h}")).await,
        json!({"status": "OK", "userDataInDatabase": {"d": 1}})
    );
    assert_eq!(
        s.put("/recipe/session/data", json!({"sessionHandle": h, "userDataInDatabase": {"d": 2}})).await,
        json!({"status": "OK"})
    );
    assert_eq!(s.get(&format!("/recipe/session/data?sessionHandle={h}")).await["userDataInDatabase"], json!({"d": 2}));
    assert_eq!(session_info(&s, &h).await["userDataInDatabase"], json!({"d": 2}));

    assert_eq!(
        s.get(&format!("/recipe/jwt/data?sessionHandle={h}")).await,
        json!({"status": "OK", "userDataInJWT": {"j": 1}})
    );
    assert_eq!(
        s.put("/recipe/jwt/data", json!({"sessionHandle": h, "userDataInJWT": {"j": 2}})).await,
        json!({"status": "OK"})
    );
    assert_eq!(s.get(&format!("/recipe/jwt/data?sessionHandle={h}")).await["userDataInJWT"], json!({"j": 2}));
    let (st, text) =
        raw(&s, "PUT", "/recipe/jwt/data", Some(json!({"sessionHandle": h, "userDataInJWT": {"exp": 1}}))).await;
    assert_eq!((st, text.as_str()), (400, "The user payload contains protected field\n"));
    assert_eq!(s.get(&format!("/recipe/jwt/data?sessionHandle={h}")).await["userDataInJWT"], json!({"j": 2}));
    // Only the DB copy changed: the existing token keeps its claims, a refresh picks up the new ones.
    assert_eq!(verify(&s, &at(&r), false).await["session"]["userDataInJWT"], json!({"j": 1}));
    let r2 = refresh(&s, &rt(&r)).await;
    assert_eq!(r2["session"]["userDataInJWT"], json!({"j": 2}));
    assert_eq!(jwt_payload(&at(&r2))["j"], 2);

    for path in ["/recipe/session/data", "/recipe/jwt/data"] {
        assert_eq!(s.get(&format!("{path}?sessionHandle=nope")).await["status"], "UNAUTHORISED", "{path}");
    }
    assert_eq!(
        s.put("/recipe/session/data", json!({"sessionHandle": "nope", "userDataInDatabase": {}})).await["status"],
        "UNAUTHORISED"
    );
    assert_eq!(
        s.put("/recipe/jwt/data", json!({"sessionHandle": "nope", "userDataInJWT": {}})).await["status"],
        "UNAUTHORISED"
    );
    // Expired sessions cannot be read or written.
    s.clock.advance_ms(600_000);
    assert_eq!(
        s.put("/recipe/session/data", json!({"sessionHandle": h, "userDataInDatabase": {}})).await["status"],
        "UNAUTHORISED"
    );
    assert_eq!(
        s.put("/recipe/jwt/data", json!({"sessionHandle": h, "userDataInJWT": {}})).await["status"],
        "UNAUTHORISED"
    );
    assert_eq!(s.get(&format!("/recipe/session/data?sessionHandle={h}")).await["status"], "UNAUTHORISED");
    s.stop().await;
}

st_tests::both_backends! {
    get_session_information => get_session_information;
    remove_and_list_sessions => remove_and_list_sessions;
    remove_input_rules => remove_input_rules;
    session_and_jwt_data => session_and_jwt_data;
}
