//! The Go SDK's calls, replayed flow by flow (each test names the SDK functions it replays).

use super::*;

/// Replays the handshake: `Querier.GetQuerierAPIVersion` (`supertokens/querier.go:59-144`):
/// `GET /apiversion?apiDomain=…&websiteDomain=…` with `api-key` and no `cdi-version`, decoding
/// `{"versions": []string}` and taking the largest version also in `cdiSupported = ["3.1"]`
/// (`supertokens/utils.go:132-149`, exact string match; `constants.go:27`); none ⇒ the SDK refuses
/// to start. (The Go SDK never calls `/hello`.)
pub(super) async fn handshake(b: Backend) {
    let Some(s) = TestServer::spawn(b, config()).await else { return };
    let query = encode_query(&[("apiDomain", "https://api.example.com"), ("websiteDomain", "https://example.com")]);
    let resp = s
        .client
        .get(format!("{}/apiversion?{query}", s.url))
        .header("user-agent", "Go-http-client/1.1")
        .header("api-key", API_KEY)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    assert_eq!(status, 200, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(keys_of(&v), set(&["versions"]), "{v}");
    let versions = strings(&v["versions"]);
    assert!(
        versions.iter().any(|x| x == "3.1"),
        "the reference lists 3.1 (every supported version <= max): {versions:?}"
    );
    // The first call at the negotiated version is accepted.
    let go = Go { s: &s };
    assert_eq!(go.get(ROLES, "/recipe/roles", &[]).await, json!({"status": "OK", "roles": []}));
    s.stop().await;
}

/// Replays `signUpPOST` and `signInPOST` (`recipe/emailpassword/api/implementation.go:145-244`):
/// `SignUp` / `SignIn` (`recipe/emailpassword/recipeImplementation.go:24-68`: status "OK" ⇒
/// `parseUser(response["user"])`, anything else ⇒ EMAIL_ALREADY_EXISTS / WRONG_CREDENTIALS), each
/// followed by `session.CreateNewSession` with the claims (`recipe/session/
/// sessionRequestFunctions.go:33-134`, see [`create_new_session`]).
pub(super) async fn sign_up_and_sign_in(b: Backend) {
    let Some(s) = TestServer::spawn(b, config()).await else { return };
    let go = Go { s: &s };
    let (id, joined) = sign_up_user(&go, "alice@example.com", "pw-Alice-1").await;
    let (r, payload) = create_new_session(&go, &id, true).await;
    assert_eq!(payload["st-ev"]["v"], false);
    assert_eq!((payload["st-role"]["v"].clone(), payload["st-perm"]["v"].clone()), (json!([]), json!([])));
    assert!(is_uuid(&handle(&r)), "public-tenant handle");

    let dup = go.post(EP, "/public/recipe/signup", json!({"email": "alice@example.com", "password": "x"})).await;
    assert_eq!(dup, json!({"status": "EMAIL_ALREADY_EXISTS_ERROR"}));

    let ok =
        go.post(EP, "/public/recipe/signin", json!({"email": "alice@example.com", "password": "pw-Alice-1"})).await;
    assert_eq!(assert_user_response(&ok, "alice@example.com"), (id.clone(), joined));
    create_new_session(&go, &id, false).await;

    let wrong = go.post(EP, "/public/recipe/signin", json!({"email": "alice@example.com", "password": "nope"})).await;
    assert_eq!(wrong, json!({"status": "WRONG_CREDENTIALS_ERROR"}));
    let unknown =
        go.post(EP, "/public/recipe/signin", json!({"email": "nobody@example.com", "password": "pw-Alice-1"})).await;
    assert_eq!(unknown, json!({"status": "WRONG_CREDENTIALS_ERROR"}));
    s.stop().await;
}

/// Replays a cookie session with anti-CSRF `VIA_TOKEN`: create (`sessionRequestFunctions.go:
/// 33-134`), `VerifySession` with and without `CheckDatabase` on a POST API
/// (`sessionRequestFunctions.go:136-319`, `recipeImplementation.go:189-301`,
/// `sessionFunctions.go:62-203`), the refresh API (`sessionRequestFunctions.go:321-470`,
/// `sessionFunctions.go:227-272`), the refreshed token's first verification (it has a parent
/// hash, so the core is asked even without `checkDatabase` and answers with a new access token,
/// `sessionFunctions.go:141,184-194`), then the reuse of the first refresh token: token theft
/// (`sessionFunctions.go:260-270` reads `session.handle` and `session.userId`), which the default
/// handler answers by revoking the session (`recipe/session/utils.go:365-371`).
pub(super) async fn cookie_session_verify_refresh_and_theft(b: Backend) {
    let Some(s) = TestServer::spawn(b, config()).await else { return };
    let go = Go { s: &s };
    let (id, _) = sign_up_user(&go, "carol@example.com", "pw-Carol-1").await;
    let (r1, payload) = create_new_session(&go, &id, true).await;
    let h = handle(&r1);
    let (at1, rt1) = (at(&r1), rt(&r1));
    let anti1 = r1["antiCsrfToken"].as_str().unwrap().to_string();

    // Without checkDatabase the first token is verified locally (done in create_new_session);
    // with it, the core is asked.
    let v = verify_session(&go, &at1, Some(&anti1), true, true).await;
    assert_eq!(keys_of(&v), set(&["status", "session"]), "no new access token for a parent-less token: {v}");
    assert_eq!(v["status"], "OK");
    assert_session_object(&v["session"], &h, &id, &payload);

    // The refresh API: the refresh token and the anti-csrf header.
    s.clock.advance_ms(1_000);
    let r2 = refresh_session(&go, &rt1, Some(&anti1), true).await;
    assert_eq!(keys_of(&r2), set(&["status", "session", "accessToken", "refreshToken", "antiCsrfToken"]), "{r2}");
    assert_eq!(r2["status"], "OK");
    assert_session_object(&r2["session"], &h, &id, &payload);
    assert_token_object(&r2["accessToken"]);
    assert_token_object(&r2["refreshToken"]);
    let (at2, rt2) = (at(&r2), rt(&r2));
    let anti2 = r2["antiCsrfToken"].as_str().unwrap_or_else(|| panic!("antiCsrfToken is a string: {r2}")).to_string();
    let (keys, _) = jwks(&s, "").await;
    let p2 = assert_v4_token(&at2, &keys, &id, &h, &payload);
    assert_eq!(p2["parentRefreshTokenHash1"], sha256_hex(&rt1).as_str());
    assert_eq!(p2["refreshTokenHash1"], sha256_hex(&rt2).as_str());
    assert_eq!(p2["antiCsrfToken"], anti2.as_str());

    // The refreshed token has a parent hash: the SDK asks the core even without checkDatabase,
    // and takes the new access token it answers with.
    let v = verify_session(&go, &at2, Some(&anti2), true, false).await;
    assert_eq!(keys_of(&v), set(&["status", "session", "accessToken"]), "{v}");
    assert_eq!(v["status"], "OK");
    assert_session_object(&v["session"], &h, &id, &payload);
    assert_token_object(&v["accessToken"]);
    let at3 = at(&v);
    let p3 = assert_v4_token(&at3, &keys, &id, &h, &payload);
    assert!(p3["parentRefreshTokenHash1"].is_null(), "{p3}");
    assert_eq!(p3["refreshTokenHash1"], sha256_hex(&rt2).as_str());
    assert_eq!(p3["antiCsrfToken"], anti2.as_str());
    let v = verify_session(&go, &at3, Some(&anti2), true, true).await;
    assert_eq!(keys_of(&v), set(&["status", "session"]), "{v}");

    // The first refresh token again (a stolen copy): theft. The session object keeps
    // recipeUserId at every version (reference RefreshSessionAPI.java:160-170).
    let theft = refresh_session(&go, &rt1, Some(&anti1), true).await;
    assert_eq!(
        theft,
        json!({"status": "TOKEN_THEFT_DETECTED", "session": {"handle": h, "userId": id, "recipeUserId": id}})
    );
    assert_eq!(revoke_session(&go, &h).await, vec![h.clone()], "the default theft handler revokes the session");
    assert_unauthorised(&refresh_session(&go, &rt2, Some(&anti2), true).await);
    assert_unauthorised(&verify_session(&go, &at3, Some(&anti2), true, true).await);
    s.stop().await;
}

/// Replays a header session (no anti-CSRF: `disableAntiCSRF` for the header transfer method,
/// `sessionRequestFunctions.go:102`, config `AntiCsrf` NONE): create, `VerifySession` with
/// `CheckDatabase` (header tokens skip the anti-CSRF check, `sessionRequestFunctions.go:213-215`),
/// `GetSessionInformation` (`sessionFunctions.go:205-225`: type-asserts `sessionHandle`,
/// `userId`, `userDataInDatabase`, `expiry`, `timeCreated`, `userDataInJWT`, `tenantId`),
/// `UpdateSessionDataInDatabase` (`sessionFunctions.go:358-374`), refresh, and the sign-out API
/// (`signout.go:24-40`, `apiImplementation.go:70-80` ⇒ `session.go:74-89` ⇒
/// `sessionFunctions.go:328-337`). Also (not sent by 0.25.2, which always sends it) the
/// reference's rule that refresh's `useDynamicSigningKey` is optional before CDI 5.0.
pub(super) async fn header_session_info_refresh_and_sign_out(b: Backend) {
    let Some(s) = TestServer::spawn(b, config()).await else { return };
    let go = Go { s: &s };
    let (id, _) = sign_up_user(&go, "dave@example.com", "pw-Dave-1").await;
    let (r1, payload) = create_new_session(&go, &id, false).await;
    let h = handle(&r1);

    let v = verify_session(&go, &at(&r1), None, false, true).await;
    assert_eq!(
        v,
        json!({"status": "OK", "session": {"handle": h, "userId": id, "userDataInJWT": payload, "tenantId": "public"}})
    );

    let info = go.get(SESSION, "/recipe/session", &[("sessionHandle", &h)]).await;
    assert_eq!(
        keys_of(&info),
        set(&[
            "status",
            "sessionHandle",
            "userId",
            "userDataInDatabase",
            "expiry",
            "userDataInJWT",
            "timeCreated",
            "tenantId"
        ]),
        "GET /recipe/session at CDI 3.x: tenantId, no recipeUserId: {info}"
    );
    assert_eq!(info["status"], "OK");
    assert_eq!((info["sessionHandle"].as_str(), info["userId"].as_str()), (Some(h.as_str()), Some(id.as_str())));
    assert_eq!((info["userDataInDatabase"].clone(), info["userDataInJWT"].clone()), (json!({}), payload.clone()));
    assert!(info["expiry"].is_u64() && info["timeCreated"].is_u64(), "{info}");
    assert_eq!(info["tenantId"], "public");

    let d =
        go.put(SESSION, "/recipe/session/data", json!({"sessionHandle": h, "userDataInDatabase": {"cart": 3}})).await;
    assert_eq!(d["status"], "OK", "{d}");
    let info = go.get(SESSION, "/recipe/session", &[("sessionHandle", &h)]).await;
    assert_eq!(info["userDataInDatabase"], json!({"cart": 3}));

    s.clock.advance_ms(1_000);
    let r2 = refresh_session(&go, &rt(&r1), None, false).await;
    assert_eq!(keys_of(&r2), set(&["status", "session", "accessToken", "refreshToken"]), "no antiCsrfToken: {r2}");
    assert_session_object(&r2["session"], &h, &id, &payload);
    let (keys, _) = jwks(&s, "").await;
    let p2 = assert_v4_token(&at(&r2), &keys, &id, &h, &payload);
    assert!(p2["antiCsrfToken"].is_null(), "{p2}");
    assert_eq!(p2["parentRefreshTokenHash1"], sha256_hex(&rt(&r1)).as_str());

    // Reference: before CDI 5.0 useDynamicSigningKey may be left out (the stored key type stays).
    let r3 =
        go.post(SESSION, "/recipe/session/refresh", json!({"refreshToken": rt(&r2), "enableAntiCsrf": false})).await;
    assert_eq!(r3["status"], "OK", "useDynamicSigningKey is optional at CDI 3.1: {r3}");
    assert_v4_token(&at(&r3), &keys, &id, &h, &payload);

    // Sign-out.
    assert_eq!(revoke_session(&go, &h).await, vec![h.clone()]);
    assert_unauthorised(&verify_session(&go, &at(&r3), None, false, true).await);
    let gone = go.get(SESSION, "/recipe/session", &[("sessionHandle", &h)]).await;
    assert_eq!(gone["status"], "UNAUTHORISED", "GetSessionInformation ⇒ nil: {gone}");
    assert_eq!(revoke_session(&go, &h).await, Vec::<String>::new(), "RevokeSession ⇒ false");
    s.stop().await;
}

/// Replays `session.GetAllSessionHandlesForUser` and `session.RevokeAllSessionsForUser`
/// (`recipe/session/main.go:181-218`, `sessionFunctions.go:274-326`): without a tenant the SDK
/// calls `/public/recipe/session/{user,remove}` with only `userId`; with one it adds
/// `fetchAcrossAllTenants=false` / `"revokeAcrossAllTenants": false`.
pub(super) async fn revoke_all_sessions_of_a_user(b: Backend) {
    let Some(s) = TestServer::spawn(b, config()).await else { return };
    let go = Go { s: &s };
    let (id, _) = sign_up_user(&go, "erin@example.com", "pw-Erin-1").await;
    let (other, _) = sign_up_user(&go, "frank@example.com", "pw-Frank-1").await;
    let h1 = handle(&create_new_session(&go, &id, true).await.0);
    let h2 = handle(&create_new_session(&go, &id, false).await.0);
    let h_other = handle(&create_new_session(&go, &other, false).await.0);

    let all = go.get(SESSION, "/public/recipe/session/user", &[("userId", &id)]).await;
    assert_eq!(keys_of(&all), set(&["status", "sessionHandles"]), "{all}");
    assert_eq!(string_set(&strings(&all["sessionHandles"])), set(&[h1.as_str(), h2.as_str()]));

    let rm = go.post(SESSION, "/public/recipe/session/remove", json!({"userId": id})).await;
    assert_eq!(keys_of(&rm), set(&["status", "sessionHandlesRevoked"]), "{rm}");
    assert_eq!(string_set(&strings(&rm["sessionHandlesRevoked"])), set(&[h1.as_str(), h2.as_str()]));
    let all = go.get(SESSION, "/public/recipe/session/user", &[("userId", &id)]).await;
    assert_eq!(all["sessionHandles"], json!([]));
    let again = go.post(SESSION, "/public/recipe/session/remove", json!({"userId": id})).await;
    assert_eq!(again["sessionHandlesRevoked"], json!([]));

    // With an explicit tenant.
    let h3 = handle(&create_new_session(&go, &id, false).await.0);
    let all =
        go.get(SESSION, "/public/recipe/session/user", &[("userId", &id), ("fetchAcrossAllTenants", "false")]).await;
    assert_eq!(strings(&all["sessionHandles"]), vec![h3.clone()]);
    let rm =
        go.post(SESSION, "/public/recipe/session/remove", json!({"userId": id, "revokeAcrossAllTenants": false})).await;
    assert_eq!(strings(&rm["sessionHandlesRevoked"]), vec![h3]);
    // The other user's session is untouched.
    let theirs = go.get(SESSION, "/public/recipe/session/user", &[("userId", &other)]).await;
    assert_eq!(strings(&theirs["sessionHandles"]), vec![h_other]);
    s.stop().await;
}

/// Replays the e-mail verification APIs (`recipe/emailverification/api/implementation.go`):
/// `generateEmailVerifyTokenPOST` (`:82-…`: the e-mail via `GET /recipe/user`, then
/// `CreateEmailVerificationToken`, `recipeimplementation.go:24-42`), `verifyEmailPOST` (`:31-55`:
/// `VerifyEmailUsingToken`, `recipeimplementation.go:44-64`, reading `userId` and `email`, then
/// `FetchAndSetClaim(st-ev)`: the e-mail and `IsEmailVerified` again, and
/// `MergeIntoAccessTokenPayload` ⇒ `POST /recipe/session/regenerate`, `session.go:150-200,
/// 261-267`, `sessionFunctions.go:393-417`), `IsEmailVerified` (`recipeimplementation.go:66-75`),
/// `UnverifyEmail` (`:90-101`) and `RevokeEmailVerificationTokens` (`:77-88`).
pub(super) async fn email_verification(b: Backend) {
    let Some(s) = TestServer::spawn(b, config()).await else { return };
    let go = Go { s: &s };
    let email = "eve@example.com";
    let (id, _) = sign_up_user(&go, email, "pw-Eve-1").await;
    let (r, payload) = create_new_session(&go, &id, true).await;
    let h = handle(&r);
    assert_eq!(payload["st-ev"]["v"], false);

    // generateEmailVerifyTokenPOST.
    assert_user_response(&go.get(EP, "/recipe/user", &[("userId", &id)]).await, email);
    let tok = go.post(EV, "/public/recipe/user/email/verify/token", json!({"userId": id, "email": email})).await;
    assert_eq!(keys_of(&tok), set(&["status", "token"]), "{tok}");
    assert_eq!(tok["status"], "OK");
    let token = tok["token"].as_str().unwrap().to_string();

    // verifyEmailPOST.
    let v = go.post(EV, "/public/recipe/user/email/verify", json!({"method": "token", "token": token})).await;
    assert_eq!(v, json!({"status": "OK", "userId": id, "email": email}));
    assert_user_response(&go.get(EP, "/recipe/user", &[("userId", &id)]).await, email);
    let ev = go.get(EV, "/recipe/user/email/verify", &[("userId", &id), ("email", email)]).await;
    assert_eq!(ev, json!({"status": "OK", "isVerified": true}));
    let mut new_payload = payload.clone();
    new_payload["st-ev"] = json!({"v": true, "t": CLAIM_T + 1});
    let g = go
        .post(SESSION, "/recipe/session/regenerate", json!({"accessToken": at(&r), "userDataInJWT": new_payload}))
        .await;
    assert_eq!(keys_of(&g), set(&["status", "session", "accessToken"]), "{g}");
    assert_eq!(g["status"], "OK");
    assert_session_object(&g["session"], &h, &id, &new_payload);
    assert_token_object(&g["accessToken"]);
    let (keys, _) = jwks(&s, "").await;
    let p = assert_v4_token(&at(&g), &keys, &id, &h, &new_payload);
    assert_eq!(p["exp"], jwt_payload(&at(&r))["exp"], "regenerate keeps the token's expiry");
    assert_eq!(p["antiCsrfToken"], r["antiCsrfToken"]);

    // The token is single use; a verified e-mail gets no new token.
    let again = go.post(EV, "/public/recipe/user/email/verify", json!({"method": "token", "token": token})).await;
    assert_eq!(again, json!({"status": "EMAIL_VERIFICATION_INVALID_TOKEN_ERROR"}));
    let verified = go.post(EV, "/public/recipe/user/email/verify/token", json!({"userId": id, "email": email})).await;
    assert_eq!(verified, json!({"status": "EMAIL_ALREADY_VERIFIED_ERROR"}));

    // UnverifyEmail, then IsEmailVerified.
    let un = go.post(EV, "/recipe/user/email/verify/remove", json!({"userId": id, "email": email})).await;
    assert_eq!(un["status"], "OK", "{un}");
    let ev = go.get(EV, "/recipe/user/email/verify", &[("userId", &id), ("email", email)]).await;
    assert_eq!(ev, json!({"status": "OK", "isVerified": false}));

    // RevokeEmailVerificationTokens: a revoked token no longer verifies.
    let tok = go.post(EV, "/public/recipe/user/email/verify/token", json!({"userId": id, "email": email})).await;
    let token = tok["token"].as_str().unwrap().to_string();
    let rm = go.post(EV, "/public/recipe/user/email/verify/token/remove", json!({"userId": id, "email": email})).await;
    assert_eq!(rm["status"], "OK", "{rm}");
    let late = go.post(EV, "/public/recipe/user/email/verify", json!({"method": "token", "token": token})).await;
    assert_eq!(late, json!({"status": "EMAIL_VERIFICATION_INVALID_TOKEN_ERROR"}));
    s.stop().await;
}

/// Replays every UserRoles call (`recipe/userroles/recipeimplementation.go:25-204`): create a
/// role with permissions (`PUT /recipe/role`), add it to a user (`PUT /public/recipe/user/role`,
/// `didUserAlreadyHaveRole`; anything but OK ⇒ UNKNOWN_ROLE_ERROR), the user's roles, the role's
/// permissions / users, the permission's roles, the `st-role`/`st-perm` claims of a new session
/// (`userroles/claims.go:16-71`), removal of a permission, of the user's role, listing and
/// deletion of roles.
pub(super) async fn user_roles(b: Backend) {
    let Some(s) = TestServer::spawn(b, config()).await else { return };
    let go = Go { s: &s };
    let created = go.put(ROLES, "/recipe/role", json!({"role": "admin", "permissions": ["read", "write"]})).await;
    assert_eq!(created, json!({"status": "OK", "createdNewRole": true}));
    let added = go.put(ROLES, "/recipe/role", json!({"role": "admin", "permissions": ["delete"]})).await;
    assert_eq!(added, json!({"status": "OK", "createdNewRole": false}));
    let plain = go.put(ROLES, "/recipe/role", json!({"role": "viewer", "permissions": []})).await;
    assert_eq!(plain["createdNewRole"], true);
    // `CreateNewRoleOrAddPermissions(role, nil)`: Go marshals the nil slice as `null`, which the
    // reference refuses (Gson's JsonNull is not an array: `InputParser.parseArrayOrThrowError`),
    // so the SDK returns an error.
    let body = json!({"role": "nil-permissions", "permissions": null});
    let (st, text) = go.send("PUT", ROLES, "/recipe/role", &[], Some(body)).await;
    assert_eq!((st, text.trim_end()), (400, "Field name 'permissions' is invalid in JSON input"));

    let (id, _) = sign_up_user(&go, "grace@example.com", "pw-Grace-1").await;
    let add = go.put(ROLES, "/public/recipe/user/role", json!({"userId": id, "role": "admin"})).await;
    assert_eq!(add, json!({"status": "OK", "didUserAlreadyHaveRole": false}));
    let add = go.put(ROLES, "/public/recipe/user/role", json!({"userId": id, "role": "admin"})).await;
    assert_eq!(add, json!({"status": "OK", "didUserAlreadyHaveRole": true}));
    let unknown = go.put(ROLES, "/public/recipe/user/role", json!({"userId": id, "role": "nope"})).await;
    assert_eq!(unknown, json!({"status": "UNKNOWN_ROLE_ERROR"}));

    let roles = go.get(ROLES, "/public/recipe/user/roles", &[("userId", &id)]).await;
    assert_eq!(roles, json!({"status": "OK", "roles": ["admin"]}));
    let perms = go.get(ROLES, "/recipe/role/permissions", &[("role", "admin")]).await;
    assert_eq!(keys_of(&perms), set(&["status", "permissions"]), "{perms}");
    assert_eq!(string_set(&strings(&perms["permissions"])), set(&["read", "write", "delete"]));
    let nope = go.get(ROLES, "/recipe/role/permissions", &[("role", "nope")]).await;
    assert_eq!(nope, json!({"status": "UNKNOWN_ROLE_ERROR"}));
    let users = go.get(ROLES, "/public/recipe/role/users", &[("role", "admin")]).await;
    assert_eq!(users, json!({"status": "OK", "users": [id]}));
    let nope = go.get(ROLES, "/public/recipe/role/users", &[("role", "nope")]).await;
    assert_eq!(nope, json!({"status": "UNKNOWN_ROLE_ERROR"}));
    let by_perm = go.get(ROLES, "/recipe/permission/roles", &[("permission", "read")]).await;
    assert_eq!(by_perm, json!({"status": "OK", "roles": ["admin"]}));

    // A new session carries the roles and their permissions.
    let (r, payload) = create_new_session(&go, &id, false).await;
    assert_eq!(payload["st-role"]["v"], json!(["admin"]));
    assert_eq!(string_set(&strings(&payload["st-perm"]["v"])), set(&["read", "write", "delete"]));
    assert_eq!(jwt_payload(&at(&r))["st-role"]["v"], json!(["admin"]));

    let rm =
        go.post(ROLES, "/recipe/role/permissions/remove", json!({"role": "admin", "permissions": ["delete"]})).await;
    assert_eq!(rm, json!({"status": "OK"}));
    let perms = go.get(ROLES, "/recipe/role/permissions", &[("role", "admin")]).await;
    assert_eq!(string_set(&strings(&perms["permissions"])), set(&["read", "write"]));
    let rm = go.post(ROLES, "/public/recipe/user/role/remove", json!({"userId": id, "role": "admin"})).await;
    assert_eq!(rm, json!({"status": "OK", "didUserHaveRole": true}));
    let rm = go.post(ROLES, "/public/recipe/user/role/remove", json!({"userId": id, "role": "admin"})).await;
    assert_eq!(rm, json!({"status": "OK", "didUserHaveRole": false}));
    let all = go.get(ROLES, "/recipe/roles", &[]).await;
    assert_eq!(keys_of(&all), set(&["status", "roles"]));
    assert_eq!(string_set(&strings(&all["roles"])), set(&["admin", "viewer"]));
    assert_eq!(
        go.post(ROLES, "/recipe/role/remove", json!({"role": "admin"})).await,
        json!({"status": "OK", "didRoleExist": true})
    );
    assert_eq!(
        go.post(ROLES, "/recipe/role/remove", json!({"role": "admin"})).await,
        json!({"status": "OK", "didRoleExist": false})
    );
    s.stop().await;
}

/// Replays the UserMetadata calls (`recipe/usermetadata/recipeimplementation.go:24-52`):
/// `GetUserMetadata` and `UpdateUserMetadata` read `response["metadata"].(map[string]interface{})`,
/// `ClearUserMetadata` only the status code.
pub(super) async fn user_metadata(b: Backend) {
    let Some(s) = TestServer::spawn(b, config()).await else { return };
    let go = Go { s: &s };
    let (id, _) = sign_up_user(&go, "heidi@example.com", "pw-Heidi-1").await;
    assert_eq!(
        go.get(META, "/recipe/user/metadata", &[("userId", &id)]).await,
        json!({"status": "OK", "metadata": {}})
    );
    let m = go
        .put(
            META,
            "/recipe/user/metadata",
            json!({"userId": id, "metadataUpdate": {"theme": "dark", "n": 1, "o": {"a": 1}}}),
        )
        .await;
    assert_eq!(keys_of(&m), set(&["status", "metadata"]), "{m}");
    assert_eq!(m["metadata"], json!({"theme": "dark", "n": 1, "o": {"a": 1}}));
    let m = go.put(META, "/recipe/user/metadata", json!({"userId": id, "metadataUpdate": {"n": null}})).await;
    assert_eq!(m, json!({"status": "OK", "metadata": {"theme": "dark", "o": {"a": 1}}}));
    assert_eq!(go.get(META, "/recipe/user/metadata", &[("userId", &id)]).await["metadata"], m["metadata"]);
    // `UpdateUserMetadata(userId, nil)`: the nil map is marshalled as `null`, which the reference
    // refuses (`InputParser.parseJsonObjectOrThrowError`), so the SDK returns an error.
    let body = json!({"userId": id, "metadataUpdate": null});
    let (st, text) = go.send("PUT", META, "/recipe/user/metadata", &[], Some(body)).await;
    assert_eq!((st, text.trim_end()), (400, "Field name 'metadataUpdate' is invalid in JSON input"));
    let rm = go.post(META, "/recipe/user/metadata/remove", json!({"userId": id})).await;
    assert_eq!(rm, json!({"status": "OK"}));
    assert_eq!(
        go.get(META, "/recipe/user/metadata", &[("userId", &id)]).await,
        json!({"status": "OK", "metadata": {}})
    );
    s.stop().await;
}

/// Replays `emailpassword.GetUserByID` (`recipe/emailpassword/recipeImplementation.go:70-86`:
/// `GET /recipe/user?userId=` with no tenant; status OK ⇒ `parseUser`, else nil) and
/// `GetUserByEmail` (`:88-104`: `GET /public/recipe/user?email=`), as `emailExistsGET`
/// (`api/implementation.go:29-37`) and the e-mail lookups of the other recipes use them.
pub(super) async fn get_user_by_id_and_email(b: Backend) {
    let Some(s) = TestServer::spawn(b, config()).await else { return };
    let go = Go { s: &s };
    let (id, joined) = sign_up_user(&go, "ivan+test@example.com", "pw-Ivan-1").await;
    let by_id = go.get(EP, "/recipe/user", &[("userId", &id)]).await;
    assert_eq!(assert_user_response(&by_id, "ivan+test@example.com"), (id.clone(), joined));
    let by_email = go.get(EP, "/public/recipe/user", &[("email", "ivan+test@example.com")]).await;
    assert_eq!(assert_user_response(&by_email, "ivan+test@example.com"), (id.clone(), joined));
    let unknown = go.get(EP, "/recipe/user", &[("userId", "00000000-0000-4000-8000-000000000000")]).await;
    assert_eq!(unknown, json!({"status": "UNKNOWN_USER_ID_ERROR"}));
    let unknown = go.get(EP, "/public/recipe/user", &[("email", "nobody@example.com")]).await;
    assert_eq!(unknown, json!({"status": "UNKNOWN_EMAIL_ERROR"}));
    s.stop().await;
}

/// Replays `generatePasswordResetTokenPOST` (`recipe/emailpassword/api/implementation.go:39-109`:
/// `GetUserByEmail`, then `CreateResetPasswordToken`, `recipeImplementation.go:106-122`, whose body
/// is only `{"userId"}` — the reference reads `email` only from CDI 4.0), `passwordResetPOST`
/// (`:111-143`: `ResetPasswordUsingToken`, `recipeImplementation.go:124-159`, the deprecated
/// one-step `POST /public/recipe/user/password/reset`; the SDK never calls `…/token/consume`),
/// sign-in with the new password, and `UpdateEmailOrPassword` (`recipeImplementation.go:161-203`:
/// `PUT /recipe/user` with `userId`, the pre-4.0 name of `recipeUserId`).
pub(super) async fn password_reset_and_update(b: Backend) {
    let Some(s) = TestServer::spawn(b, config()).await else { return };
    let go = Go { s: &s };
    let (id, _) = sign_up_user(&go, "bob@example.com", "old-pw-1").await;

    let user = go.get(EP, "/public/recipe/user", &[("email", "bob@example.com")]).await;
    assert_eq!(assert_user_response(&user, "bob@example.com").0, id);
    let tok = go.post(EP, "/public/recipe/user/password/reset/token", json!({"userId": id})).await;
    assert_eq!(keys_of(&tok), set(&["status", "token"]), "no email needed before CDI 4.0: {tok}");
    assert_eq!(tok["status"], "OK");
    let token = tok["token"].as_str().unwrap().to_string();
    let unknown = go
        .post(EP, "/public/recipe/user/password/reset/token", json!({"userId": "00000000-0000-4000-8000-000000000000"}))
        .await;
    assert_eq!(unknown, json!({"status": "UNKNOWN_USER_ID_ERROR"}));

    let reset = |token: String, pw: &'static str| {
        let go = &go;
        async move {
            go.post(
                EP,
                "/public/recipe/user/password/reset",
                json!({"method": "token", "token": token, "newPassword": pw}),
            )
            .await
        }
    };
    assert_eq!(reset(token.clone(), "new-pw-2").await, json!({"status": "OK", "userId": id}));
    assert_eq!(reset(token, "new-pw-3").await, json!({"status": "RESET_PASSWORD_INVALID_TOKEN_ERROR"}));
    let signin = |pw: &'static str| {
        let go = &go;
        async move { go.post(EP, "/public/recipe/signin", json!({"email": "bob@example.com", "password": pw})).await }
    };
    assert_eq!(assert_user_response(&signin("new-pw-2").await, "bob@example.com").0, id);
    assert_eq!(signin("old-pw-1").await, json!({"status": "WRONG_CREDENTIALS_ERROR"}));

    // UpdateEmailOrPassword.
    let put = go.put(EP, "/recipe/user", json!({"userId": id, "password": "third-pw-3"})).await;
    assert_eq!(put, json!({"status": "OK"}));
    assert_eq!(signin("third-pw-3").await["status"], "OK");
    sign_up_user(&go, "carol@example.com", "pw-Carol-1").await;
    let clash = go.put(EP, "/recipe/user", json!({"userId": id, "email": "carol@example.com"})).await;
    assert_eq!(clash, json!({"status": "EMAIL_ALREADY_EXISTS_ERROR"}));
    let moved = go.put(EP, "/recipe/user", json!({"userId": id, "email": "bobby@example.com"})).await;
    assert_eq!(moved, json!({"status": "OK"}));
    let user = go.get(EP, "/recipe/user", &[("userId", &id)]).await;
    assert_user_response(&user, "bobby@example.com");
    let unknown = go
        .put(EP, "/recipe/user", json!({"userId": "00000000-0000-4000-8000-000000000000", "password": "x-pw-4"}))
        .await;
    assert_eq!(unknown, json!({"status": "UNKNOWN_USER_ID_ERROR"}));
    s.stop().await;
}
