//! Refused sign-ins and registrations: each check fails on its own, with the reference's status,
//! and changes nothing.

use super::*;

/// Each check of a sign-in fails on its own, with the reference's status; a refused sign-in
/// changes nothing.
pub(super) async fn refused_assertions(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    let (up, mut credential) = sign_up(&s, "public", "carol@example.com", Algorithm::Es256).await;
    let user_id = up["recipeUserId"].as_str().unwrap().to_string();
    let r = sign_in_with(&s, &mut credential, |c| c.origin = "https://evil.example.com".into()).await;
    reason_has(&r, "INVALID_AUTHENTICATOR_ERROR", "origin");
    let r =
        sign_in_with(&s, &mut credential, |c| c.challenge = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into()).await;
    reason_has(&r, "INVALID_AUTHENTICATOR_ERROR", "challenge");
    let r = sign_in_with(&s, &mut credential, |c| c.rp_id = "login.example.com".into()).await;
    reason_has(&r, "INVALID_AUTHENTICATOR_ERROR", "relying party");
    let r = sign_in_with(&s, &mut credential, |c| c.bad_signature = true).await;
    reason_has(&r, "INVALID_AUTHENTICATOR_ERROR", "signature");
    let r = sign_in_with(&s, &mut credential, |c| c.client_data_type = Some("webauthn.create".into())).await;
    reason_has(&r, "INVALID_AUTHENTICATOR_ERROR", "type");

    // The counter: 10 is accepted, then 5 (backwards) and 10 (not forwards) are not.
    let r = sign_in_with(&s, &mut credential, |c| c.counter = Some(10)).await;
    assert_eq!(r["status"], "OK", "{r}");
    for counter in [5, 10] {
        let r = sign_in_with(&s, &mut credential, |c| c.counter = Some(counter)).await;
        reason_has(&r, "INVALID_AUTHENTICATOR_ERROR", "counter");
    }
    let r = sign_in_with(&s, &mut credential, |c| c.counter = Some(11)).await;
    assert_eq!(r["status"], "OK", "{r}");

    // User verification only where the options require it; presence likewise.
    let r = sign_in_with(&s, &mut credential, |c| c.user_verified = false).await;
    assert_eq!(r["status"], "OK", "{r}");
    let options = sign_in_options(&s, "public", json!({"userVerification": "required"})).await;
    let mut c = Ceremony::for_options(&options, ORIGIN);
    c.user_verified = false;
    let r = sign_in_call(&s, "5.4", "public", &options, c.assert(&mut credential)).await;
    reason_has(&r, "INVALID_AUTHENTICATOR_ERROR", "verification");
    let options = sign_in_options(&s, "public", json!({"userPresence": true})).await;
    let mut c = Ceremony::for_options(&options, ORIGIN);
    c.user_present = false;
    let r = sign_in_call(&s, "5.4", "public", &options, c.assert(&mut credential)).await;
    reason_has(&r, "INVALID_AUTHENTICATOR_ERROR", "presence");

    // Expired options (6 s by default).
    let options = s
        .post(
            "/public/recipe/webauthn/options/signin",
            json!({"relyingPartyName": "E",
        "relyingPartyId": RP, "origin": ORIGIN}),
        )
        .await;
    let assertion = Ceremony::for_options(&options, ORIGIN).assert(&mut credential);
    s.clock.advance_ms(6001);
    let r = sign_in_call(&s, "5.4", "public", &options, assertion).await;
    reason_has(&r, "INVALID_OPTIONS_ERROR", "Options expired");

    // Unknown options, unknown credential, malformed credential.
    let options = sign_in_options(&s, "public", json!({})).await;
    let assertion = Ceremony::for_options(&options, ORIGIN).assert(&mut credential);
    let body = json!({"webauthnGeneratedOptionsId": "00000000-0000-4000-8000-000000000000", "credential": assertion});
    assert_eq!(s.post("/public/recipe/webauthn/signin", body).await, json!({"status": "OPTIONS_NOT_FOUND_ERROR"}));
    let mut stranger = Credential::generate(Algorithm::Es256);
    let assertion = Ceremony::for_options(&options, ORIGIN).assert(&mut stranger);
    assert_eq!(
        sign_in_call(&s, "5.4", "public", &options, assertion).await,
        json!({"status": "CREDENTIAL_NOT_FOUND_ERROR"})
    );
    let assertion = Ceremony::for_options(&options, ORIGIN).assert(&mut credential);
    let mut broken = assertion.clone();
    broken.as_object_mut().unwrap().remove("id");
    reason_has(
        &sign_in_call(&s, "5.4", "public", &options, broken).await,
        "INVALID_CREDENTIALS_ERROR",
        "credential id is missing!",
    );
    let mut broken = assertion.clone();
    broken["type"] = json!("password");
    reason_has(&sign_in_call(&s, "5.4", "public", &options, broken).await, "INVALID_CREDENTIALS_ERROR", "password");
    let mut broken = assertion.clone();
    broken["response"]["authenticatorData"] = json!("AAAA");
    assert_eq!(sign_in_call(&s, "5.4", "public", &options, broken).await["status"], "INVALID_CREDENTIALS_ERROR");
    let (st, text) = s
        .status_and_text(
            "POST",
            "/public/recipe/webauthn/signin",
            Some(json!({"webauthnGeneratedOptionsId": options_id(&options)})),
        )
        .await;
    assert_eq!((st, text.as_str()), (400, "Field name 'credential' is invalid in JSON input"));
    // After all that, the credential still signs in.
    let r = sign_in_with(&s, &mut credential, |_| {}).await;
    assert_eq!((r["status"].as_str(), r["recipeUserId"].as_str()), (Some("OK"), Some(user_id.as_str())));
}

/// Each check of a registration fails on its own; the e-mail is unique per tenant.
pub(super) async fn refused_registrations(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    let attempt = |tweak: fn(&mut Ceremony)| {
        let s = &s;
        async move {
            let options = register_options(s, "public", "dave@example.com").await;
            let mut credential = Credential::generate(Algorithm::EdDsa);
            let mut c = Ceremony::for_options(&options, ORIGIN);
            tweak(&mut c);
            let response = c.register(&mut credential, &options);
            sign_up_call(s, "public", &options, response).await
        }
    };
    reason_has(
        &attempt(|c| c.origin = "https://evil.example.com".into()).await,
        "INVALID_AUTHENTICATOR_ERROR",
        "origin",
    );
    reason_has(&attempt(|c| c.challenge = "AAAA".into()).await, "INVALID_AUTHENTICATOR_ERROR", "challenge");
    reason_has(&attempt(|c| c.rp_id = "other.com".into()).await, "INVALID_AUTHENTICATOR_ERROR", "relying party");
    reason_has(
        &attempt(|c| c.client_data_type = Some("webauthn.get".into())).await,
        "INVALID_AUTHENTICATOR_ERROR",
        "type",
    );
    reason_has(&attempt(|c| c.attestation_format = "x-custom".into()).await, "INVALID_AUTHENTICATOR_ERROR", "format");
    reason_has(
        &attempt(|c| {
            c.backup_state = true;
            c.backup_eligible = false
        })
        .await,
        "INVALID_AUTHENTICATOR_ERROR",
        "backup",
    );
    // A packed self attestation is accepted (the statement is not verified, as the reference's
    // non-strict manager), and so is a synced passkey (backup eligible and backed up).
    let up = attempt(|c| {
        c.attestation_format = "packed".into();
        c.backup_eligible = true;
        c.backup_state = true;
    })
    .await;
    assert_eq!(up["status"], "OK", "{up}");
    // The same e-mail again.
    assert_eq!(attempt(|_| {}).await, json!({"status": "EMAIL_ALREADY_EXISTS_ERROR"}));

    // Malformed responses.
    let options = register_options(&s, "public", "erin@example.com").await;
    let mut credential = Credential::generate(Algorithm::Es256);
    let good = Ceremony::for_options(&options, ORIGIN).register(&mut credential, &options);
    let mut broken = good.clone();
    broken["response"]["attestationObject"] = json!("AAAA");
    reason_has(&sign_up_call(&s, "public", &options, broken).await, "INVALID_CREDENTIALS_ERROR", "CBOR");
    let mut broken = good.clone();
    broken["id"] = json!("");
    reason_has(
        &sign_up_call(&s, "public", &options, broken).await,
        "INVALID_CREDENTIALS_ERROR",
        "credential id is empty!",
    );
    let mut broken = good.clone();
    broken["id"] = json!("not base64!");
    reason_has(&sign_up_call(&s, "public", &options, broken).await, "INVALID_CREDENTIALS_ERROR", "base64");
    // Sign-in options cannot sign anybody up.
    let signin = sign_in_options(&s, "public", json!({})).await;
    let mut other = Credential::generate(Algorithm::Es256);
    let response = Ceremony::for_options(&signin, ORIGIN).register(&mut other, &signin);
    assert_eq!(sign_up_call(&s, "public", &signin, response).await["status"], "INVALID_OPTIONS_ERROR");
    // Expired.
    s.clock.advance_ms(60_001);
    reason_has(&sign_up_call(&s, "public", &options, good).await, "INVALID_OPTIONS_ERROR", "Options expired");
    let unknown = json!({"webauthnGeneratedOptionsId": "00000000-0000-4000-8000-000000000000", "credential": {}});
    assert_eq!(s.post("/public/recipe/webauthn/signup", unknown).await, json!({"status": "OPTIONS_NOT_FOUND_ERROR"}));
}
