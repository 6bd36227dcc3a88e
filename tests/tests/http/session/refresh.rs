//! Refresh: lazy promotion and token-theft detection exactly where the reference raises it
//! (§c.5, §c.6, §h.1), under concurrency, expiry, anti-CSRF, activity, and the key type.

use super::*;

async fn refresh_parent_reuse_child_promotion_and_theft(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    let r1 = new_session(&s, "u").await;
    let h = handle(&r1);
    let rt1 = rt(&r1);

    // (a) RT1 -> RT2; the row is not touched (expiry unchanged).
    s.clock.advance_ms(1_000);
    let r2 = refresh(&s, &rt1).await;
    assert_eq!(keys_of(&r2), set(&["status", "session", "accessToken", "refreshToken"]), "{r2}");
    assert_eq!(
        r2["session"],
        json!({"handle": h, "userId": "u", "recipeUserId": "u", "userDataInJWT": {}, "tenantId": "public"})
    );
    let rt2 = rt(&r2);
    assert_ne!(rt2, rt1);
    let p2 = jwt_payload(&at(&r2));
    assert_eq!(p2["parentRefreshTokenHash1"], sha256_hex(&rt1).as_str());
    assert_eq!(p2["refreshTokenHash1"], sha256_hex(&rt2).as_str());
    assert_eq!(r2["refreshToken"]["expiry"], json!(START_MS + 1_000 + DEFAULT_REFRESH_MS));
    assert_eq!(session_info(&s, &h).await["expiry"], json!(START_MS + DEFAULT_REFRESH_MS), "no promotion yet");

    // RT1 again: still the current parent, not theft.
    s.clock.advance_ms(1_000);
    let r2b = refresh(&s, &rt1).await;
    assert_eq!(r2b["status"], "OK", "refreshing the parent twice is allowed: {r2b}");
    let rt2b = rt(&r2b);
    assert_ne!(rt2b, rt2);
    assert_eq!(session_info(&s, &h).await["expiry"], json!(START_MS + DEFAULT_REFRESH_MS));

    // (b) RT2 (child) promotes: the row now points at RT2 and the expiry slides.
    s.clock.advance_ms(1_000);
    let r3 = refresh(&s, &rt2).await;
    assert_eq!(r3["status"], "OK", "{r3}");
    let rt3 = rt(&r3);
    assert_eq!(jwt_payload(&at(&r3))["parentRefreshTokenHash1"], sha256_hex(&rt2).as_str());
    assert_eq!(session_info(&s, &h).await["expiry"], json!(START_MS + 3_000 + DEFAULT_REFRESH_MS), "promotion");

    // The old parent and its other child are now theft; the core does not revoke.
    assert_eq!(refresh(&s, &rt1).await, theft(&h, "u"));
    assert_eq!(refresh(&s, &rt2b).await, theft(&h, "u"));
    assert_eq!(session_info(&s, &h).await["status"], "OK", "TOKEN_THEFT_DETECTED does not revoke on CDI 5.4");

    // The promoted lineage continues: RT3 (child of RT2) promotes, after which RT2 is stale.
    assert_eq!(refresh(&s, &rt3).await["status"], "OK");
    assert_eq!(refresh(&s, &rt2).await, theft(&h, "u"));
    s.stop().await;
}

/// Create and every successful refresh record the user as active; a refresh that fails (theft,
/// unknown token) does not.
async fn refresh_records_activity(b: Backend) {
    // Activity writes are throttled per user for five minutes, as in the reference's 12.x core
    // (`st_core::activity`); the fake clock crosses the window.
    let window = st_core::activity::THROTTLE_MS;
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    let active_since = |t: i64| {
        let s = &s;
        async move { s.get(&format!("/users/count/active?since={t}")).await["count"].clone() }
    };
    let r1 = new_session(&s, "u").await;
    let h = handle(&r1);
    assert_eq!(active_since(START_MS).await, 1, "create");
    s.clock.advance_ms(10_000);
    let r2 = refresh(&s, &rt(&r1)).await;
    assert_eq!(r2["status"], "OK");
    assert_eq!(active_since(START_MS + 5_000).await, 0, "within the creation's window: not written again");
    s.clock.advance_ms(window);
    let t3 = START_MS + 10_000 + window;
    let r3 = refresh(&s, &rt(&r2)).await;
    assert_eq!(r3["status"], "OK");
    assert_eq!(active_since(t3).await, 1, "after the window: the refresh (child token, promotion) is written");
    s.clock.advance_ms(10_000);
    assert_eq!(refresh(&s, &rt(&r3)).await["status"], "OK");
    assert_eq!(active_since(t3 + 1).await, 0, "within the window of the last write");
    s.clock.advance_ms(window);
    assert_eq!(refresh(&s, &rt(&r1)).await, theft(&h, "u"));
    assert_eq!(active_since(t3 + 1).await, 0, "a theft attempt is not activity");
    let r4 = refresh(&s, &rt(&r3)).await;
    assert_eq!(r4["status"], "OK", "{r4}");
    assert_eq!(active_since(t3 + 1).await, 1, "the parent token again, after the window");
    // Revoking a user's sessions counts as activity too, as in the reference.
    s.clock.advance_ms(window);
    s.post("/recipe/session/remove", json!({"userId": "u"})).await;
    let t5 = t3 + 10_000 + 2 * window;
    assert_eq!(active_since(t5).await, 1);
    // Session creation is throttled the same way (the reference's `SessionAPI` calls the same
    // throttled update): a new session within the window does not write, one after it does.
    s.clock.advance_ms(10_000);
    assert_eq!(new_session(&s, "u").await["status"], "OK");
    assert_eq!(active_since(t5 + 1).await, 0, "a creation within the window is not written");
    s.clock.advance_ms(window);
    assert_eq!(new_session(&s, "u").await["status"], "OK");
    assert_eq!(active_since(t5 + 10_000 + window).await, 1, "a creation after the window is written");
    s.stop().await;
}

async fn concurrent_refreshes(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    for i in 0..4 {
        let r = new_session(&s, &format!("u{i}")).await;
        let h = handle(&r);
        let rt1 = rt(&r);
        // The same parent twice at once: both OK, no theft.
        let (a, b2) = tokio::join!(refresh(&s, &rt1), refresh(&s, &rt1));
        assert_eq!((a["status"].as_str(), b2["status"].as_str()), (Some("OK"), Some("OK")), "{a} {b2}");
        let (ca, cb) = (rt(&a), rt(&b2));
        assert_ne!(ca, cb);
        // The same un-promoted child twice at once: one promotes, the other sees it as the parent.
        let (x, y) = tokio::join!(refresh(&s, &ca), refresh(&s, &ca));
        assert_eq!((x["status"].as_str(), y["status"].as_str()), (Some("OK"), Some("OK")), "{x} {y}");
        // The sibling child lost the race for promotion.
        assert_eq!(refresh(&s, &cb).await, theft(&h, &format!("u{i}")));
    }
    // Two sibling children at once: exactly one promotes, the other is theft.
    for i in 0..4 {
        let r = new_session(&s, &format!("v{i}")).await;
        let rt1 = rt(&r);
        let c1 = rt(&refresh(&s, &rt1).await);
        let c2 = rt(&refresh(&s, &rt1).await);
        let (x, y) = tokio::join!(refresh(&s, &c1), refresh(&s, &c2));
        let mut statuses = vec![x["status"].as_str().unwrap().to_string(), y["status"].as_str().unwrap().to_string()];
        statuses.sort();
        assert_eq!(statuses, vec!["OK", "TOKEN_THEFT_DETECTED"], "{x} {y}");
    }
    s.stop().await;
}

async fn refresh_failures(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({"access_token_validity": 60, "refresh_token_validity": 10})).await else {
        return;
    };
    let refresh_ms = 10 * 60_000;
    let r = new_session(&s, "u").await;
    let h = handle(&r);
    assert_eq!(r["refreshToken"]["expiry"], json!(START_MS + refresh_ms));

    // Garbage and tampered refresh tokens.
    for bad in ["garbage".to_string(), format!("x{}", rt(&r)), rt(&r).replace(".V2", ".V1")] {
        let v = refresh(&s, &bad).await;
        assert_eq!(v, json!({"status": "UNAUTHORISED", "message": "Invalid refresh token"}), "{bad}");
    }
    // Missing useDynamicSigningKey (required on CDI >= 5.0).
    let (st, text) =
        raw(&s, "POST", "/recipe/session/refresh", Some(json!({"refreshToken": rt(&r), "enableAntiCsrf": false})))
            .await;
    assert_eq!((st, text.as_str()), (400, "Field name 'useDynamicSigningKey' is invalid in JSON input\n"));

    // Expiry: at expires_at the session still refreshes (expires_at < now is the test), one ms later not.
    s.clock.advance_ms(refresh_ms);
    assert_eq!(session_info(&s, &h).await["status"], "UNAUTHORISED", "GET uses expires_at <= now");
    assert_eq!(refresh(&s, &rt(&r)).await["status"], "OK", "refresh uses expires_at < now");
    s.clock.advance_ms(1);
    let v = refresh(&s, &rt(&r)).await;
    assert_eq!(v, json!({"status": "UNAUTHORISED", "message": "Session missing in db or has expired"}));

    // Revoked session.
    let r = new_session(&s, "u").await;
    s.post("/recipe/session/remove", json!({"sessionHandles": [handle(&r)]})).await;
    assert_eq!(refresh(&s, &rt(&r)).await["status"], "UNAUTHORISED");
    s.stop().await;
}

async fn refresh_anti_csrf(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    let r = create(&s, "", "u", true, json!({}), json!({})).await;
    let anti = r["antiCsrfToken"].as_str().unwrap().to_string();
    let call = |anti: Option<&str>, enable: bool| {
        let mut body = json!({"refreshToken": rt(&r), "enableAntiCsrf": enable, "useDynamicSigningKey": true});
        if let Some(a) = anti {
            body["antiCsrfToken"] = json!(a);
        }
        s.post("/recipe/session/refresh", body)
    };
    let v = call(Some("wrong"), true).await;
    assert_eq!(v, json!({"status": "UNAUTHORISED", "message": "Anti CSRF token missing, or not matching"}));
    assert_eq!(call(None, true).await["status"], "UNAUTHORISED");
    let ok = call(Some(&anti), true).await;
    assert_eq!(ok["status"], "OK", "{ok}");
    let new_anti = ok["antiCsrfToken"].as_str().expect("a new anti-csrf token");
    assert!(is_uuid(new_anti) && new_anti != anti);
    assert_eq!(jwt_payload(&at(&ok))["antiCsrfToken"], new_anti);
    // enableAntiCsrf=false: no check, no token.
    let off = call(Some("wrong"), false).await;
    assert_eq!(off["status"], "OK", "{off}");
    assert!(off.get("antiCsrfToken").is_none());
    assert!(jwt_payload(&at(&off))["antiCsrfToken"].is_null());
    // Verify-promotion (after which RT1 is stale) keeps the token's anti-csrf value.
    let v = s
        .post(
            "/recipe/session/verify",
            json!({"accessToken": at(&ok), "antiCsrfToken": new_anti, "doAntiCsrfCheck": true, "enableAntiCsrf": true, "checkDatabase": false}),
        )
        .await;
    assert_eq!(v["status"], "OK", "{v}");
    assert_eq!(jwt_payload(&at(&v))["antiCsrfToken"], new_anti);
    s.stop().await;
}

async fn refresh_switches_key_type(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    let r = new_session(&s, "u").await;
    assert!(kid(&at(&r)).starts_with("d-"));
    let r2 = s
        .post(
            "/recipe/session/refresh",
            json!({"refreshToken": rt(&r), "enableAntiCsrf": false, "useDynamicSigningKey": false}),
        )
        .await;
    assert_eq!(r2["status"], "OK", "{r2}");
    assert!(kid(&at(&r2)).starts_with("s-"), "useDynamicSigningKey=false signs with the static key");
    // Verify-promotion keeps the stored key type.
    let v = verify(&s, &at(&r2), false).await;
    assert!(kid(&at(&v)).starts_with("s-"), "{v}");
    // So does regenerate.
    let g = s.post("/recipe/session/regenerate", json!({"accessToken": at(&v), "userDataInJWT": {"z": 1}})).await;
    assert!(kid(&at(&g)).starts_with("s-"), "{g}");
    let (keys, _) = jwks(&s, "").await;
    assert!(verifies_with_jwks(&at(&g), &keys));
    s.stop().await;
}

st_tests::both_backends! {
    refresh_parent_reuse_child_promotion_and_theft => refresh_parent_reuse_child_promotion_and_theft;
    refresh_records_activity => refresh_records_activity;
    concurrent_refreshes => concurrent_refreshes;
    refresh_failures => refresh_failures;
    refresh_anti_csrf => refresh_anti_csrf;
    refresh_switches_key_type => refresh_switches_key_type;
}
