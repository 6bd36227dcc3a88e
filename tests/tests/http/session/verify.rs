//! Verify: signature, expiry, anti-CSRF, `checkDatabase`, header checks in the reference's order,
//! a changed payload, the `aud` claim, and verify-time promotion (§c.5).

use super::*;

async fn verify_basics(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    let r = create(&s, "", "u", false, json!({"a": 1}), json!({})).await;
    let h = handle(&r);
    let expected = json!({"status": "OK", "session": {"handle": h, "userId": "u", "recipeUserId": "u", "userDataInJWT": {"a": 1}, "tenantId": "public"}});
    assert_eq!(verify(&s, &at(&r), false).await, expected, "no new token for a parent-less token");
    assert_eq!(verify(&s, &at(&r), true).await, expected);

    // Revoked: stateless verify still passes, checkDatabase does not.
    let rm = s.post("/recipe/session/remove", json!({"sessionHandles": [h]})).await;
    assert_eq!(rm["sessionHandlesRevoked"], json!([h]));
    assert_eq!(verify(&s, &at(&r), false).await["status"], "OK");
    let v = verify(&s, &at(&r), true).await;
    assert_eq!(v, json!({"status": "UNAUTHORISED", "message": "Either the session has ended or has been blacklisted"}));
    s.stop().await;
}

async fn expired_session_with_live_access_token(b: Backend) {
    // Test mode allows a refresh validity (1 min) shorter than the access validity (1 h).
    let Some(s) = TestServer::spawn(b, json!({"refresh_token_validity": 1})).await else { return };
    let r = create(&s, "", "u", false, json!({"a": 1}), json!({})).await;
    s.clock.advance_ms(60_001);
    assert_eq!(session_info(&s, &handle(&r)).await["status"], "UNAUTHORISED", "the session has expired");
    // checkDatabase only asks whether the row exists, not whether it expired.
    assert_eq!(verify(&s, &at(&r), true).await["status"], "OK");
    // Regenerate reads the session and refuses an expired one.
    let g = s.post("/recipe/session/regenerate", json!({"accessToken": at(&r), "userDataInJWT": {"b": 2}})).await;
    assert_eq!(g["status"], "UNAUTHORISED", "{g}");
    assert_eq!(refresh(&s, &rt(&r)).await["status"], "UNAUTHORISED");
    s.stop().await;
}

async fn verify_anti_csrf(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    let r = create(&s, "", "u", true, json!({}), json!({})).await;
    let anti = r["antiCsrfToken"].as_str().unwrap().to_string();
    let call = |anti: Option<&str>, enable: bool, check: bool| {
        let mut body =
            json!({"accessToken": at(&r), "doAntiCsrfCheck": check, "enableAntiCsrf": enable, "checkDatabase": false});
        if let Some(a) = anti {
            body["antiCsrfToken"] = json!(a);
        }
        s.post("/recipe/session/verify", body)
    };
    assert_eq!(call(Some("wrong"), true, true).await["status"], "TRY_REFRESH_TOKEN");
    assert_eq!(call(None, true, true).await["status"], "TRY_REFRESH_TOKEN");
    assert_eq!(call(Some(&anti), true, true).await["status"], "OK");
    assert_eq!(call(Some("wrong"), true, false).await["status"], "OK", "doAntiCsrfCheck=false skips the check");
    assert_eq!(call(Some("wrong"), false, true).await["status"], "OK", "enableAntiCsrf=false skips the check");
    assert_eq!(call(Some("wrong"), true, true).await["message"], "anti-csrf check failed");
    // A token created without anti-CSRF, verified with the check: its claim is null, which the
    // reference reports as an incomplete token.
    let plain = create(&s, "", "u2", false, json!({}), json!({})).await;
    let v = s
        .post(
            "/recipe/session/verify",
            json!({"accessToken": at(&plain), "antiCsrfToken": "x", "doAntiCsrfCheck": true, "enableAntiCsrf": true, "checkDatabase": false}),
        )
        .await;
    assert_eq!(v["status"], "TRY_REFRESH_TOKEN", "{v}");
    assert_eq!(v["message"], "Access token does not contain all the information. Maybe the structure has changed?");
    s.stop().await;
}

async fn verify_expiry_boundary(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({"access_token_validity": 60})).await else { return };
    let r = new_session(&s, "u").await;
    let exp_ms = jwt_payload(&at(&r))["exp"].as_i64().unwrap() * 1000;
    s.clock.advance_ms(exp_ms - START_MS);
    assert_eq!(verify(&s, &at(&r), false).await["status"], "OK", "exp*1000 == now is still valid");
    s.clock.advance_ms(1);
    let v = verify(&s, &at(&r), false).await;
    assert_eq!(v["status"], "TRY_REFRESH_TOKEN", "{v}");
    assert!(v["message"].is_string());
    assert_eq!(verify(&s, &at(&r), true).await["status"], "TRY_REFRESH_TOKEN");
    s.stop().await;
}

async fn verify_rejects_tampering(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    let r = new_session(&s, "u").await;
    let token = at(&r);
    assert_eq!(verify(&s, &tamper_signature(&token), false).await["status"], "TRY_REFRESH_TOKEN");
    let mut p = jwt_payload(&token);
    p["sub"] = json!("someone-else");
    assert_eq!(verify(&s, &with_payload(&token, &p), false).await["status"], "TRY_REFRESH_TOKEN", "payload changed");
    let mut h = jwt_header(&token);
    h["kid"] = json!("d-1");
    assert_eq!(verify(&s, &with_header(&token, &h), false).await["status"], "TRY_REFRESH_TOKEN", "unknown kid");
    let mut h = jwt_header(&token);
    h["alg"] = json!("HS256");
    assert_eq!(verify(&s, &with_header(&token, &h), false).await["status"], "TRY_REFRESH_TOKEN", "alg must be RS256");
    assert_eq!(verify(&s, "not-a-jwt", false).await["status"], "TRY_REFRESH_TOKEN");
    // Each header field is checked in the reference's order, with its message: absent or not a
    // primitive is "missing", a wrong type or value a "mismatch".
    let cases = [
        ("typ", None, "JWT header missing - typ"),
        ("typ", Some(json!(null)), "JWT header missing - typ"),
        ("typ", Some(json!("jwt")), "JWT header mismatch - typ"),
        ("alg", Some(json!(["RS256"])), "JWT header missing - alg"),
        ("alg", Some(json!("HS256")), "JWT header mismatch - alg"),
        ("version", Some(json!(5)), "JWT header mismatch - version"),
        ("version", Some(json!("2")), "JWT header mismatch - version"),
        ("version", Some(json!("6")), "JWT header mismatch - version"),
        ("version", Some(json!(null)), "JWT header mismatch - version"),
        ("kid", None, "JWT header missing - kid"),
        ("kid", Some(json!(7)), "JWT header mismatch - kid"),
    ];
    // An unknown version string is judged after `kid`; "1" and "2" before it.
    let mut h = jwt_header(&token);
    h["version"] = json!("6");
    h.as_object_mut().unwrap().remove("kid");
    let v = verify(&s, &with_header(&token, &h), false).await;
    assert_eq!(v["message"], "JWT header missing - kid", "{h}");
    h["version"] = json!("2");
    let v = verify(&s, &with_header(&token, &h), false).await;
    assert_eq!(v["message"], "JWT header mismatch - version", "{h}");
    for (field, value, message) in cases {
        let mut h = jwt_header(&token);
        match value {
            Some(v) => h[field] = v,
            None => drop(h.as_object_mut().unwrap().remove(field)),
        }
        // typ and alg come first: a bad typ is reported even when alg is bad too.
        if field == "typ" {
            h["alg"] = json!("none");
        }
        let v = verify(&s, &with_header(&token, &h), false).await;
        assert_eq!(v, json!({"status": "TRY_REFRESH_TOKEN", "message": message}), "{field}: {h}");
    }
    // A token of another session signed correctly still verifies: the checks above were real.
    assert_eq!(verify(&s, &token, false).await["status"], "OK");
    s.stop().await;
}

async fn verify_picks_up_payload_change(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    let r = create(&s, "", "u", false, json!({"role": "user"}), json!({})).await;
    let h = handle(&r);
    let old = at(&r);
    let put =
        s.put("/recipe/jwt/data", json!({"sessionHandle": h, "userDataInJWT": {"role": "admin", "x": [1]}})).await;
    assert_eq!(put, json!({"status": "OK"}));
    // The DB copy changed, the token did not; stateless verify knows nothing.
    let v = verify(&s, &old, false).await;
    assert_eq!((v["status"].as_str(), v.get("accessToken")), (Some("OK"), None), "{v}");
    assert_eq!(v["session"]["userDataInJWT"], json!({"role": "user"}));

    s.clock.advance_ms(5_000);
    let v = verify(&s, &old, true).await;
    assert_eq!(v["status"], "OK", "{v}");
    assert_eq!(v["session"]["userDataInJWT"], json!({"role": "admin", "x": [1]}));
    let new = at(&v);
    let p = jwt_payload(&new);
    let po = jwt_payload(&old);
    assert_eq!((p["role"].as_str(), &p["x"]), (Some("admin"), &json!([1])));
    assert!(p["parentRefreshTokenHash1"].is_null());
    assert_eq!((&p["sessionHandle"], &p["refreshTokenHash1"]), (&po["sessionHandle"], &po["refreshTokenHash1"]));
    let iat = (START_MS + 5_000) / 1000;
    assert_eq!((p["iat"].as_i64(), p["exp"].as_i64()), (Some(iat), Some(iat + 3600)), "verify mints now + validity");
    assert_eq!(v["accessToken"]["expiry"], json!((iat + 3600) * 1000));
    let (keys, _) = jwks(&s, "").await;
    assert!(verifies_with_jwks(&new, &keys));
    // The new token is up to date: no further token.
    let v2 = verify(&s, &new, true).await;
    assert_eq!((v2["status"].as_str(), v2.get("accessToken")), (Some("OK"), None), "{v2}");
    s.stop().await;
}

/// A user's `aud` claim is written as the reference's JWT library writes it (one string bare,
/// non-strings dropped, nothing left removes it), in access tokens and in `/recipe/jwt`. The
/// stored payload keeps what was given, and a database verify does not take that difference
/// for a change (no new token on every call).
async fn aud_claim_as_signed(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    let cases = [
        (json!(["api"]), Some(json!("api"))),
        (json!(["a", 1, "b", null]), Some(json!(["a", "b"]))),
        (json!([]), None),
        (json!([2]), None),
        (json!(7), None),
        (json!(null), None),
        (json!({"x": 1}), None),
        (json!("plain"), Some(json!("plain"))),
    ];
    for (i, (given, written)) in cases.iter().enumerate() {
        let r = create(&s, "", &format!("aud-{i}"), false, json!({"aud": given, "k": i}), json!({})).await;
        let p = jwt_payload(&at(&r));
        assert_eq!(p.get("aud"), written.as_ref(), "access token, aud {given}");
        assert_eq!(p["k"], json!(i));
        let info = session_info(&s, &handle(&r)).await;
        assert_eq!(info["userDataInJWT"]["aud"], *given, "stored as given");
        let v = verify(&s, &at(&r), true).await;
        assert_eq!((v["status"].as_str(), v.get("accessToken")), (Some("OK"), None), "aud {given}: {v}");

        let j = s
            .post(
                "/recipe/jwt",
                json!({"payload": {"aud": given}, "algorithm": "RS256", "jwksDomain": "d", "validity": 60}),
            )
            .await;
        assert_eq!(j["status"], "OK", "{j}");
        assert_eq!(jwt_payload(j["jwt"].as_str().unwrap()).get("aud"), written.as_ref(), "/recipe/jwt, aud {given}");
    }
    s.stop().await;
}

async fn verify_time_promotion(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    let r1 = new_session(&s, "u").await;
    let h = handle(&r1);
    let rt1 = rt(&r1);
    let r2 = refresh(&s, &rt1).await;
    let r2b = refresh(&s, &rt1).await; // a sibling lineage (e.g. another tab)
    let (rt2, at2, at2b) = (rt(&r2), at(&r2), at(&r2b));
    assert_eq!(jwt_payload(&at2)["parentRefreshTokenHash1"], sha256_hex(&rt1).as_str());

    s.clock.advance_ms(2_000);
    let v = verify(&s, &at2, false).await;
    assert_eq!(v["status"], "OK", "{v}");
    let at3 = at(&v);
    let p3 = jwt_payload(&at3);
    assert!(p3["parentRefreshTokenHash1"].is_null(), "promoted token has no parent: {p3}");
    assert_eq!(p3["refreshTokenHash1"], sha256_hex(&rt2).as_str());
    assert_eq!(p3["sessionHandle"], h.as_str());
    let iat = (START_MS + 2_000) / 1000;
    assert_eq!((p3["iat"].as_i64(), p3["exp"].as_i64()), (Some(iat), Some(iat + 3600)));
    assert_eq!(session_info(&s, &h).await["expiry"], json!(START_MS + 2_000 + DEFAULT_REFRESH_MS), "verify promoted");

    // RT1 is now theft.
    assert_eq!(refresh(&s, &rt1).await, theft(&h, "u"));
    // AT2 again: its refresh token is now the current one -> another fresh token.
    let v = verify(&s, &at2, false).await;
    assert_eq!(v["status"], "OK");
    assert!(v["accessToken"]["token"].is_string(), "current lineage with a parent still gets a new token: {v}");
    // The sibling's access token is accepted (older lineage) but gets no new token.
    let v = verify(&s, &at2b, false).await;
    assert_eq!((v["status"].as_str(), v.get("accessToken")), (Some("OK"), None), "{v}");
    // AT3 is up to date.
    let v = verify(&s, &at3, false).await;
    assert_eq!((v["status"].as_str(), v.get("accessToken")), (Some("OK"), None), "{v}");
    // The sibling's refresh token is theft; the promoted one is the current parent.
    assert_eq!(refresh(&s, &rt(&r2b)).await, theft(&h, "u"));
    assert_eq!(refresh(&s, &rt2).await["status"], "OK");
    // Verify of a revoked session with a parent hash: UNAUTHORISED.
    let r4 = refresh(&s, &rt2).await;
    s.post("/recipe/session/remove", json!({"sessionHandles": [h]})).await;
    assert_eq!(verify(&s, &at(&r4), false).await["status"], "UNAUTHORISED");
    s.stop().await;
}

st_tests::both_backends! {
    verify_basics => verify_basics;
    expired_session_with_live_access_token => expired_session_with_live_access_token;
    verify_anti_csrf => verify_anti_csrf;
    verify_expiry_boundary => verify_expiry_boundary;
    verify_rejects_tampering => verify_rejects_tampering;
    verify_picks_up_payload_change => verify_picks_up_payload_change;
    aud_claim_as_signed => aud_claim_as_signed;
    verify_time_promotion => verify_time_promotion;
}
