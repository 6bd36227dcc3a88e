//! The authorization-code flow (phase 3): PKCE, the login, consent and logout challenges, code
//! exchange, refresh-token rotation, RP-initiated logout.

use super::*;

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

pub(super) async fn authorization_code_flow(b: Backend) {
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

pub(super) async fn authorization_code_security(b: Backend) {
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

pub(super) async fn refresh_tokens_rotate(b: Backend) {
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

pub(super) async fn rp_initiated_logout(b: Backend) {
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
