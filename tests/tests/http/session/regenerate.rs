//! Regenerate: claims replaced or kept, the stored key type, and (as regenerate does not check
//! the signature) the claim rules of each token version (§c.2, §c.8).

use super::*;

/// Regenerate signs with the key type stored on the session (`use_static_key`), not the one
/// of the token it is given (§c.8: "re-mints with ... key type" = `sessionInfo.useStaticKey`).
async fn regenerate_uses_the_stored_key_type(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    let r = s
        .post(
            "/recipe/session",
            json!({"userId": "u", "enableAntiCsrf": false, "userDataInJWT": {}, "userDataInDatabase": {}, "useDynamicSigningKey": false}),
        )
        .await;
    assert!(kid(&at(&r)).starts_with("s-"));
    // The SDK switched to dynamic keys: the refresh stores that choice.
    let r2 = refresh(&s, &rt(&r)).await;
    assert!(kid(&at(&r2)).starts_with("d-"), "{r2}");
    // The old (static) token is regenerated with the session's key type.
    let g = s.post("/recipe/session/regenerate", json!({"accessToken": at(&r), "userDataInJWT": {"x": 1}})).await;
    assert_eq!(g["status"], "OK", "{g}");
    assert!(kid(&at(&g)).starts_with("d-"), "regenerate follows use_static_key = false: kid {}", kid(&at(&g)));
    s.stop().await;
}

/// Regenerate does not check the signature, so it shows the claim rules directly: every claim
/// of the token's version must be present (§c.2), the header version must be 3, 4 or 5, and a
/// missing session is UNAUTHORISED before protected claims are a 400.
async fn incomplete_tokens(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    let r = new_session(&s, "u-claims").await;
    let token = at(&r);
    let parts: Vec<&str> = token.split('.').collect();
    let forge = |header: Value, payload: Value| {
        let enc = |v: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap());
        format!("{}.{}.{}", enc(&header), enc(&payload), parts[2])
    };
    let regen = |t: String, data: Value| {
        let s = &s;
        async move { s.post("/recipe/session/regenerate", json!({"accessToken": t, "userDataInJWT": data})).await }
    };
    let (header, payload) = (jwt_header(&token), jwt_payload(&token));
    assert_eq!(regen(forge(header.clone(), payload.clone()), json!({"a": 1})).await["status"], "OK");
    for claim in ["rsub", "tId", "iat", "parentRefreshTokenHash1", "antiCsrfToken", "sessionHandle"] {
        let mut p = payload.clone();
        p.as_object_mut().unwrap().remove(claim);
        let g = regen(forge(header.clone(), p), json!({})).await;
        assert_eq!(g["status"], "UNAUTHORISED", "without {claim}");
        // As the reference, the text names the first absent claim in its order of required claims.
        let text =
            format!("Access token does not contain all the information. Maybe the structure has changed? {claim}");
        assert_eq!(g["message"], text.as_str(), "without {claim}");
    }
    let mut two = payload.clone();
    two.as_object_mut().unwrap().remove("rsub");
    two.as_object_mut().unwrap().remove("exp");
    let g = regen(forge(header.clone(), two), json!({})).await;
    assert!(g["message"].as_str().unwrap().ends_with("changed? exp"), "exp comes before rsub: {g}");
    // A v3 token has neither tId nor rsub.
    let mut v3 = payload.clone();
    v3.as_object_mut().unwrap().remove("rsub");
    v3.as_object_mut().unwrap().remove("tId");
    let mut h3 = header.clone();
    h3["version"] = json!("3");
    let r3 = regen(forge(h3.clone(), v3.clone()), json!({"k": 3})).await;
    assert_eq!(r3["status"], "OK");
    // As the reference, the new token keeps the presented token's version and claim set.
    let t3 = r3["accessToken"]["token"].as_str().unwrap();
    assert_eq!(jwt_header(t3)["version"], "3");
    let p3 = jwt_payload(t3);
    assert!(p3.get("tId").is_none() && p3.get("rsub").is_none(), "{p3}");
    assert_eq!((&p3["k"], &p3["sub"]), (&json!(3), &payload["sub"]));
    // `tId` is not protected in a v3 token, so it is the user's claim there.
    assert_eq!(regen(forge(h3, v3), json!({"tId": "mine"})).await["status"], "OK");
    let (st, _) = s
        .request(
            "POST",
            "/recipe/session/regenerate",
            Some(json!({"accessToken": forge(header.clone(), payload.clone()), "userDataInJWT": {"tId": "mine"}})),
            &[("cdi-version", "5.4")],
        )
        .await;
    assert_eq!(st, 400, "protected in a v5 token");
    let mut v4 = payload.clone();
    v4.as_object_mut().unwrap().remove("rsub");
    let mut h4 = header.clone();
    h4["version"] = json!("4");
    let t4 = regen(forge(h4, v4), json!({})).await["accessToken"]["token"].as_str().unwrap().to_string();
    assert_eq!(jwt_header(&t4)["version"], "4");
    let p4 = jwt_payload(&t4);
    assert!(p4.get("rsub").is_none() && p4["tId"] == "public", "{p4}");
    let mut h99 = header.clone();
    h99["version"] = json!("99");
    assert_eq!(regen(forge(h99, payload.clone()), json!({})).await["status"], "UNAUTHORISED");
    // Protected claims on a revoked session: UNAUTHORISED first.
    s.post("/recipe/session/remove", json!({"sessionHandles": [r["session"]["handle"]]})).await;
    assert_eq!(regen(token.clone(), json!({"sub": "x"})).await["status"], "UNAUTHORISED");
    s.stop().await;
}

async fn regenerate(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({"access_token_validity": 60, "refresh_token_validity": 10})).await else {
        return;
    };
    let r = create(&s, "", "u", true, json!({"a": 1}), json!({})).await;
    let h = handle(&r);
    s.clock.advance_ms(1_000);
    let r2 = s
        .post(
            "/recipe/session/refresh",
            json!({"refreshToken": rt(&r), "antiCsrfToken": r["antiCsrfToken"], "enableAntiCsrf": true, "useDynamicSigningKey": true}),
        )
        .await;
    let at2 = at(&r2);
    let p2 = jwt_payload(&at2);
    s.clock.advance_ms(1_000);

    let g = s.post("/recipe/session/regenerate", json!({"accessToken": at2, "userDataInJWT": {"b": 2}})).await;
    assert_eq!(keys_of(&g), set(&["status", "session", "accessToken"]), "{g}");
    assert_eq!(
        g["session"],
        json!({"handle": h, "userId": "u", "recipeUserId": "u", "userDataInJWT": {"b": 2}, "tenantId": "public"})
    );
    let p = jwt_payload(&at(&g));
    assert_eq!(p["b"], 2);
    assert!(p.get("a").is_none(), "claims replaced: {p}");
    for k in
        ["exp", "parentRefreshTokenHash1", "refreshTokenHash1", "antiCsrfToken", "sessionHandle", "sub", "rsub", "tId"]
    {
        assert_eq!(p[k], p2[k], "{k} is kept");
    }
    assert!(p["parentRefreshTokenHash1"].is_string());
    assert_eq!(g["accessToken"]["expiry"], json!(p2["exp"].as_i64().unwrap() * 1000));
    assert_eq!(s.get(&format!("/recipe/jwt/data?sessionHandle={h}")).await["userDataInJWT"], json!({"b": 2}));
    let (keys, _) = jwks(&s, "").await;
    assert!(verifies_with_jwks(&at(&g), &keys));

    // Without userDataInJWT the stored payload is used.
    s.put("/recipe/jwt/data", json!({"sessionHandle": h, "userDataInJWT": {"c": 3}})).await;
    let g = s.post("/recipe/session/regenerate", json!({"accessToken": at2})).await;
    assert_eq!(jwt_payload(&at(&g))["c"], 3);

    // The signature is not re-verified.
    let g = s
        .post("/recipe/session/regenerate", json!({"accessToken": tamper_signature(&at2), "userDataInJWT": {"d": 4}}))
        .await;
    assert_eq!(g["status"], "OK", "{g}");

    // Protected claim.
    let (st, text) =
        raw(&s, "POST", "/recipe/session/regenerate", Some(json!({"accessToken": at2, "userDataInJWT": {"tId": "x"}})))
            .await;
    assert_eq!((st, text.as_str()), (400, "The user payload contains protected field\n"));

    // Expired access token: the DB is updated, no token is returned.
    s.clock.advance_ms(60_000);
    let g = s.post("/recipe/session/regenerate", json!({"accessToken": at2, "userDataInJWT": {"e": 5}})).await;
    assert_eq!(keys_of(&g), set(&["status", "session"]), "{g}");
    assert_eq!(g["session"]["userDataInJWT"], json!({"e": 5}));
    assert_eq!(s.get(&format!("/recipe/jwt/data?sessionHandle={h}")).await["userDataInJWT"], json!({"e": 5}));

    // Revoked session.
    s.post("/recipe/session/remove", json!({"sessionHandles": [h]})).await;
    let g = s.post("/recipe/session/regenerate", json!({"accessToken": at2, "userDataInJWT": {}})).await;
    assert_eq!(g["status"], "UNAUTHORISED");
    s.stop().await;
}

st_tests::both_backends! {
    regenerate_uses_the_stored_key_type => regenerate_uses_the_stored_key_type;
    incomplete_tokens => incomplete_tokens;
    regenerate => regenerate;
}
