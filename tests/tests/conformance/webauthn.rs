//! [`WebauthnStorage`]: generated options per tenant (found app-wide for the ceremonies),
//! sign-ups (e-mail unique per tenant, credentials per app and relying party, all or nothing),
//! more credentials per WebAuthn user, an accepted assertion's counter move and options use
//! (all or nothing; one winner under concurrency), the e-mail update, recovery tokens (one use
//! takes every token of the e-mail), the cleanup, and WebAuthn users in the auth-recipe
//! intents and the tenant/app/user cascades.

use crate::helpers::*;
use st_core::ids::{AppId, TenantIdentifier};
use st_core::storage::*;
use std::sync::Arc;

fn options(id: &str, tenant: &str, email: Option<&str>, expires_at: i64) -> WebauthnOptions {
    WebauthnOptions {
        id: id.into(),
        tenant_id: tenant.into(),
        challenge: format!("challenge-of-{id}"),
        email: email.map(Into::into),
        rp_id: "example.com".into(),
        rp_name: "Example".into(),
        origin: "https://example.com".into(),
        expires_at,
        created_at: 100,
        user_presence_required: false,
        user_verification: "preferred".into(),
    }
}

fn credential(id: &str, rp: &str, user: &str, counter: i64, at: i64) -> WebauthnCredential {
    WebauthnCredential {
        id: id.into(),
        rp_id: rp.into(),
        user_id: user.into(),
        counter,
        public_key: vec![0, 1, 2, 255, id.len() as u8],
        transports: "[\"internal\"]".into(),
        created_at: at,
        updated_at: at,
    }
}

/// The n-th options id.
fn oid(n: u32) -> String {
    format!("0000aaaa-0000-4000-8000-{n:012}")
}

/// Options are per tenant; the ceremonies find them in any tenant of the app.
async fn generated_options(st: &dyn Storage) {
    add_tenant(st, "public", "t2").await;
    add_app(st, "other").await;
    let (base, t2) = (TenantIdentifier::base(), tid("public", "t2"));
    let o1 = options(&oid(1), "public", Some("a@x.com"), 1000);
    assert!(st.save_webauthn_options(&base, &o1).await.unwrap());
    assert!(!st.save_webauthn_options(&base, &options(&oid(1), "public", None, 5)).await.unwrap());
    let o1_t2 = options(&oid(1), "t2", None, 2000);
    assert!(st.save_webauthn_options(&t2, &o1_t2).await.unwrap());
    assert!(is_not_found(&st.save_webauthn_options(&tid("public", "nope"), &options(&oid(2), "nope", None, 1)).await));

    assert_eq!(st.webauthn_options(&base, &oid(1)).await.unwrap(), Some(o1.clone()));
    assert_eq!(st.webauthn_options(&t2, &oid(1)).await.unwrap(), Some(o1_t2.clone()));
    assert_eq!(st.webauthn_options(&base, &oid(2)).await.unwrap(), None);
    assert_eq!(st.webauthn_options(&tid("other", "public"), &oid(1)).await.unwrap(), None);
    // In the app: either tenant's; not another app's; an id of any length finds nothing.
    let o3 = options(&oid(3), "t2", Some("c@x.com"), 3000);
    assert!(st.save_webauthn_options(&t2, &o3).await.unwrap());
    assert_eq!(st.webauthn_options_in_app(&base, &oid(3)).await.unwrap(), Some(o3));
    // An id in two tenants: the request's tenant's, else the smallest tenant id's.
    assert_eq!(st.webauthn_options_in_app(&base, &oid(1)).await.unwrap(), Some(o1.clone()));
    assert_eq!(st.webauthn_options_in_app(&t2, &oid(1)).await.unwrap(), Some(o1_t2.clone()));
    assert_eq!(st.webauthn_options_in_app(&tid("public", "t9"), &oid(1)).await.unwrap(), Some(o1.clone()));
    assert_eq!(st.webauthn_options_in_app(&tid("other", "public"), &oid(3)).await.unwrap(), None);
    assert_eq!(st.webauthn_options_in_app(&base, &"x".repeat(80)).await.unwrap(), None);

    assert!(st.remove_webauthn_options(&base, &oid(1)).await.unwrap());
    assert!(!st.remove_webauthn_options(&base, &oid(1)).await.unwrap());
    assert_eq!(st.webauthn_options(&t2, &oid(1)).await.unwrap(), Some(o1_t2));

    // A tenant's removal takes its options.
    assert!(st.delete_tenant(&t2).await.unwrap());
    assert_eq!(st.webauthn_options_in_app(&base, &oid(3)).await.unwrap(), None);
}

/// Sign-ups (all or nothing), more credentials, look-ups, and the users they make.
async fn users_and_credentials(st: &dyn Storage) {
    add_tenant(st, "public", "t2").await;
    let (base, t2) = (TenantIdentifier::base(), tid("public", "t2"));
    let a = AppId::public();
    let c1 = credential("cred-1", "example.com", "ignored", 0, 10);
    assert_eq!(st.webauthn_sign_up(&base, &uid(1), "a@x.com", &c1, 10).await.unwrap(), WebauthnSignUp::Created);
    // The credential belongs to the new user, whatever its row said.
    let stored = st.webauthn_credential(&a, "cred-1", "example.com").await.unwrap().unwrap();
    assert_eq!(stored, WebauthnCredential { user_id: uid(1), ..c1.clone() });
    // The e-mail is taken in this tenant; the credential in this app: nothing is written.
    let c2 = credential("cred-2", "example.com", "", 0, 11);
    assert_eq!(
        st.webauthn_sign_up(&base, &uid(2), "a@x.com", &c2, 11).await.unwrap(),
        WebauthnSignUp::EmailAlreadyExists
    );
    assert_eq!(
        st.webauthn_sign_up(&t2, &uid(2), "b@x.com", &c1, 11).await.unwrap(),
        WebauthnSignUp::CredentialAlreadyExists
    );
    assert_eq!(st.get_auth_user(&a, &uid(2)).await.unwrap(), None);
    assert_eq!(st.webauthn_credential(&a, "cred-2", "example.com").await.unwrap(), None);
    // Another tenant may have the e-mail; another relying party the credential id.
    assert_eq!(st.webauthn_sign_up(&t2, &uid(2), "a@x.com", &c2, 11).await.unwrap(), WebauthnSignUp::Created);
    let c1_other_rp = credential("cred-1", "other.com", "", 0, 12);
    assert_eq!(
        st.webauthn_sign_up(&base, &uid(3), "c@x.com", &c1_other_rp, 12).await.unwrap(),
        WebauthnSignUp::Created
    );
    assert!(is_not_found(
        &st.webauthn_sign_up(&tid("public", "nope"), &uid(9), "z@x.com", &credential("z", "r", "", 0, 1), 1).await
    ));

    let user = st.get_auth_user(&a, &uid(1)).await.unwrap().unwrap();
    assert_eq!((user.id.as_str(), user.is_primary), (uid(1).as_str(), false));
    assert_eq!(
        user.login_methods,
        vec![LoginMethod {
            recipe_id: "webauthn".into(),
            recipe_user_id: uid(1),
            tenant_ids: vec!["public".into()],
            time_joined: 10,
            email: Some("a@x.com".into()),
            phone_number: None,
            third_party: None,
        }]
    );
    assert_eq!(st.users_by_email(&base, "a@x.com").await.unwrap(), vec![uid(1)]);
    assert_eq!(st.users_by_email(&t2, "a@x.com").await.unwrap(), vec![uid(2)]);
    assert_eq!(st.count_users(&a, Some(&base), &["webauthn".into()]).await.unwrap(), 2);
    let q = UserListQuery { limit: 10, email_prefixes: vec!["c@".into()], ..Default::default() };
    assert_eq!(st.list_users(&base, &q).await.unwrap().into_iter().map(|r| r.0).collect::<Vec<_>>(), vec![uid(3)]);

    // The credential with an id: of the preferred relying party, else any.
    assert_eq!(st.webauthn_credential(&a, "cred-1", "other.com").await.unwrap().unwrap().user_id, uid(3));
    assert_eq!(st.webauthn_credential(&a, "cred-1", "example.com").await.unwrap().unwrap().user_id, uid(1));
    assert!(st.webauthn_credential(&a, "cred-1", "").await.unwrap().is_some());
    assert_eq!(st.webauthn_credential(&app_other(st).await, "cred-1", "").await.unwrap(), None);

    // More credentials for a WebAuthn user only.
    let c3 = credential("cred-3", "example.com", &uid(1), 0, 20);
    assert_eq!(st.add_webauthn_credential(&a, &c3).await.unwrap(), AddWebauthnCredential::Added);
    assert_eq!(st.add_webauthn_credential(&a, &c3).await.unwrap(), AddWebauthnCredential::AlreadyExists);
    let ep = uid(7);
    st.sign_up_with_password(&base, &ep, "ep@x.com", "$2a$10$x", 30).await.unwrap();
    for user in [ep.as_str(), "no-such-user", &"x".repeat(40)] {
        let c = credential("cred-9", "example.com", user, 0, 20);
        assert_eq!(st.add_webauthn_credential(&a, &c).await.unwrap(), AddWebauthnCredential::UnknownUser, "{user}");
    }
    assert_eq!(st.webauthn_user_credential(&a, "cred-3", &uid(1)).await.unwrap(), Some(c3.clone()));
    assert_eq!(st.webauthn_user_credential(&a, "cred-3", &uid(2)).await.unwrap(), None);
    let of_1 = st.webauthn_credentials_of(&a, &uid(1)).await.unwrap();
    assert_eq!(of_1.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), ["cred-1", "cred-3"]);
    let ids = st.webauthn_credential_ids(&a, &[uid(1), uid(2), uid(3), ep.clone()]).await.unwrap();
    assert_eq!(ids.get(&uid(1)), Some(&vec!["cred-1".to_string(), "cred-3".to_string()]));
    assert_eq!(ids.get(&uid(2)), Some(&vec!["cred-2".to_string()]));
    assert_eq!(ids.get(&ep), None);
    assert!(st.webauthn_credential_ids(&a, &[]).await.unwrap().is_empty());

    assert!(st.remove_webauthn_credential(&a, &uid(1), "cred-3").await.unwrap());
    assert!(!st.remove_webauthn_credential(&a, &uid(1), "cred-3").await.unwrap());
    assert!(!st.remove_webauthn_credential(&a, &uid(2), "cred-1").await.unwrap());

    // The user's removal takes its credentials and frees its e-mail.
    st.delete_user(&a, &uid(1), &[uid(1)]).await.unwrap();
    assert_eq!(st.webauthn_user_credential(&a, "cred-1", &uid(1)).await.unwrap(), None);
    assert_eq!(st.webauthn_credential(&a, "cred-1", "example.com").await.unwrap().unwrap().user_id, uid(3));
    assert!(st.webauthn_credentials_of(&a, &uid(1)).await.unwrap().is_empty());
    let again = credential("cred-1", "example.com", "", 0, 40);
    assert_eq!(st.webauthn_sign_up(&base, &uid(4), "a@x.com", &again, 40).await.unwrap(), WebauthnSignUp::Created);
}

async fn app_other(st: &dyn Storage) -> AppId {
    if st.get_tenant(&tid("other", "public")).await.unwrap().is_none() {
        add_app(st, "other").await;
    }
    app("other")
}

/// An accepted assertion moves the counter from the value it was judged against and uses up
/// its options, all or nothing; of concurrent uses of one options id, one wins.
async fn accepted_assertions(st: &Arc<dyn Storage>) {
    let base = TenantIdentifier::base();
    let a = AppId::public();
    let c = credential("cred", "example.com", "", 5, 10);
    assert_eq!(st.webauthn_sign_up(&base, &uid(1), "a@x.com", &c, 10).await.unwrap(), WebauthnSignUp::Created);
    let counter = |st: Arc<dyn Storage>| async move {
        let c = st.webauthn_credential(&AppId::public(), "cred", "example.com").await.unwrap().unwrap();
        (c.counter, c.updated_at)
    };
    // Without options to use up.
    let accept = |seen: i64, new: i64, use_up: Option<(&str, &str)>, now: i64| {
        let st = st.clone();
        let a = a.clone();
        let use_up = use_up.map(|(t, o)| (t.to_string(), o.to_string()));
        async move {
            let u = use_up.as_ref().map(|(t, o)| (t.as_str(), o.as_str()));
            st.accept_webauthn_assertion(&a, "example.com", "cred", seen, new, u, now).await.unwrap()
        }
    };
    assert_eq!(accept(5, 6, None, 20).await, AcceptAssertion::Accepted);
    assert_eq!(counter(st.clone()).await, (6, 20));
    assert_eq!(accept(5, 7, None, 21).await, AcceptAssertion::CredentialChanged);
    assert_eq!(counter(st.clone()).await, (6, 20));
    // With options: gone options change nothing; a stale counter keeps the options.
    assert_eq!(accept(6, 7, Some(("public", &oid(1))), 22).await, AcceptAssertion::OptionsGone);
    assert_eq!(counter(st.clone()).await, (6, 20));
    assert!(st.save_webauthn_options(&base, &options(&oid(1), "public", None, 1000)).await.unwrap());
    assert_eq!(accept(5, 7, Some(("public", &oid(1))), 22).await, AcceptAssertion::CredentialChanged);
    assert!(st.webauthn_options(&base, &oid(1)).await.unwrap().is_some());
    assert_eq!(accept(6, 7, Some(("public", &oid(1))), 23).await, AcceptAssertion::Accepted);
    assert_eq!(st.webauthn_options(&base, &oid(1)).await.unwrap(), None);
    assert_eq!(counter(st.clone()).await, (7, 23));
    // A counter that does not count (0) may be accepted again and again.
    let c0 = credential("zero", "example.com", &uid(1), 0, 10);
    assert_eq!(st.add_webauthn_credential(&a, &c0).await.unwrap(), AddWebauthnCredential::Added);
    for now in [30, 31] {
        assert_eq!(
            st.accept_webauthn_assertion(&a, "example.com", "zero", 0, 0, None, now).await.unwrap(),
            AcceptAssertion::Accepted
        );
    }

    // Concurrent uses of one options id (counter 0, so the counter does not decide): one wins.
    assert!(st.save_webauthn_options(&base, &options(&oid(2), "public", None, 1000)).await.unwrap());
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let st = st.clone();
            tokio::spawn(async move {
                st.accept_webauthn_assertion(
                    &AppId::public(),
                    "example.com",
                    "zero",
                    0,
                    0,
                    Some(("public", &oid(2))),
                    40 + i,
                )
                .await
                .unwrap()
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await.unwrap());
    }
    assert_eq!(outcomes.iter().filter(|o| **o == AcceptAssertion::Accepted).count(), 1, "{outcomes:?}");
    assert!(outcomes.iter().all(|o| matches!(o, AcceptAssertion::Accepted | AcceptAssertion::OptionsGone)));
}

/// The e-mail update: unique among the WebAuthn users of each of the user's tenants.
async fn email_update(st: &dyn Storage) {
    add_tenant(st, "public", "t2").await;
    let (base, t2) = (TenantIdentifier::base(), tid("public", "t2"));
    let a = AppId::public();
    st.webauthn_sign_up(&base, &uid(1), "a@x.com", &credential("c1", "r", "", 0, 1), 1).await.unwrap();
    st.webauthn_sign_up(&base, &uid(2), "b@x.com", &credential("c2", "r", "", 0, 2), 2).await.unwrap();
    st.webauthn_sign_up(&t2, &uid(3), "c@x.com", &credential("c3", "r", "", 0, 3), 3).await.unwrap();
    st.sign_up_with_password(&base, &uid(4), "d@x.com", "$2a$10$x", 4).await.unwrap();
    assert_eq!(
        st.update_webauthn_email(&a, &uid(1), "b@x.com").await.unwrap(),
        WebauthnEmailUpdate::EmailAlreadyExists
    );
    assert_eq!(st.users_by_email(&base, "a@x.com").await.unwrap(), vec![uid(1)]);
    // Another tenant's user, and another recipe's, do not count.
    assert_eq!(st.update_webauthn_email(&a, &uid(1), "c@x.com").await.unwrap(), WebauthnEmailUpdate::Updated);
    assert_eq!(st.update_webauthn_email(&a, &uid(1), "d@x.com").await.unwrap(), WebauthnEmailUpdate::Updated);
    assert_eq!(st.users_by_email(&base, "d@x.com").await.unwrap().len(), 2);
    assert_eq!(st.users_by_email(&base, "a@x.com").await.unwrap(), Vec::<String>::new());
    assert_eq!(
        st.get_auth_user(&a, &uid(1)).await.unwrap().unwrap().login_methods[0].email.as_deref(),
        Some("d@x.com")
    );
    assert_eq!(st.update_webauthn_email(&a, &uid(4), "e@x.com").await.unwrap(), WebauthnEmailUpdate::UnknownUser);
    assert_eq!(st.update_webauthn_email(&a, "nobody", "e@x.com").await.unwrap(), WebauthnEmailUpdate::UnknownUser);
    // The freed e-mail signs up again.
    let c = credential("c5", "r", "", 0, 5);
    assert_eq!(st.webauthn_sign_up(&base, &uid(5), "a@x.com", &c, 5).await.unwrap(), WebauthnSignUp::Created);
}

fn token(user: &str, email: &str, hash: &str, expires_at: i64) -> WebauthnRecoveryToken {
    WebauthnRecoveryToken { user_id: user.into(), email: email.into(), token_hash: hash.into(), expires_at }
}

/// Recovery tokens per tenant, for existing users of any recipe; one use takes every token of
/// its e-mail in the tenant; an expired one is refused and stays for the cleanup.
async fn recovery_tokens(st: &Arc<dyn Storage>) {
    add_tenant(st.as_ref(), "public", "t2").await;
    let (base, t2) = (TenantIdentifier::base(), tid("public", "t2"));
    st.sign_up_with_password(&base, &uid(1), "a@x.com", "$2a$10$x", 1).await.unwrap();
    st.webauthn_sign_up(&base, &uid(2), "b@x.com", &credential("c", "r", "", 0, 2), 2).await.unwrap();
    assert!(st.add_webauthn_recovery_token(&base, &token(&uid(1), "a@x.com", "h1", 100)).await.unwrap());
    assert!(st.add_webauthn_recovery_token(&base, &token(&uid(2), "a@x.com", "h2", 100)).await.unwrap());
    assert!(st.add_webauthn_recovery_token(&base, &token(&uid(1), "z@x.com", "h3", 100)).await.unwrap());
    assert!(st.add_webauthn_recovery_token(&t2, &token(&uid(1), "a@x.com", "h4", 100)).await.unwrap());
    assert!(st.add_webauthn_recovery_token(&base, &token(&uid(1), "a@x.com", "h5", 50)).await.unwrap());
    assert!(!st.add_webauthn_recovery_token(&base, &token("no-such-user", "a@x.com", "h6", 100)).await.unwrap());
    assert!(is_not_found(
        &st.add_webauthn_recovery_token(&tid("public", "nope"), &token(&uid(1), "a@x.com", "h7", 100)).await
    ));

    assert_eq!(st.webauthn_recovery_token(&base, "h1").await.unwrap(), Some(token(&uid(1), "a@x.com", "h1", 100)));
    assert_eq!(st.webauthn_recovery_token(&t2, "h1").await.unwrap(), None);
    // Expired: refused, kept.
    assert_eq!(st.consume_webauthn_recovery_token(&base, "h5", 60).await.unwrap(), None);
    assert!(st.webauthn_recovery_token(&base, "h5").await.unwrap().is_some());
    // Used: every token of the e-mail in the tenant goes (the expired one too).
    assert_eq!(
        st.consume_webauthn_recovery_token(&base, "h2", 60).await.unwrap(),
        Some(token(&uid(2), "a@x.com", "h2", 100))
    );
    for gone in ["h1", "h2", "h5"] {
        assert_eq!(st.webauthn_recovery_token(&base, gone).await.unwrap(), None, "{gone}");
    }
    assert!(st.webauthn_recovery_token(&base, "h3").await.unwrap().is_some());
    assert!(st.webauthn_recovery_token(&t2, "h4").await.unwrap().is_some());
    assert_eq!(st.consume_webauthn_recovery_token(&base, "h1", 60).await.unwrap(), None);

    // Concurrent uses of one e-mail's tokens: one wins, none deadlocks.
    for n in 0..6 {
        let t = token(&uid(1), "c@x.com", &format!("k{n}"), 1000);
        assert!(st.add_webauthn_recovery_token(&base, &t).await.unwrap());
    }
    let tasks: Vec<_> = (0..6)
        .map(|n| {
            let st = st.clone();
            tokio::spawn(async move {
                st.consume_webauthn_recovery_token(&TenantIdentifier::base(), &format!("k{n}"), 60).await.unwrap()
            })
        })
        .collect();
    let mut won = 0;
    for t in tasks {
        won += usize::from(t.await.unwrap().is_some());
    }
    assert_eq!(won, 1);

    // The user's removal takes its tokens.
    st.delete_user(&AppId::public(), &uid(1), &[uid(1)]).await.unwrap();
    assert_eq!(st.webauthn_recovery_token(&base, "h3").await.unwrap(), None);
}

/// The cleanup job removes expired tokens and options (of every app) and nothing else.
async fn cleanup(st: &dyn Storage) {
    add_app(st, "other").await;
    let (base, other) = (TenantIdentifier::base(), tid("other", "public"));
    st.sign_up_with_password(&base, &uid(1), "a@x.com", "$2a$10$x", 1).await.unwrap();
    st.add_webauthn_recovery_token(&base, &token(&uid(1), "a@x.com", "old", 100)).await.unwrap();
    st.add_webauthn_recovery_token(&base, &token(&uid(1), "a@x.com", "new", 300)).await.unwrap();
    st.save_webauthn_options(&base, &options(&oid(1), "public", None, 100)).await.unwrap();
    st.save_webauthn_options(&other, &options(&oid(2), "public", None, 150)).await.unwrap();
    st.save_webauthn_options(&base, &options(&oid(3), "public", None, 300)).await.unwrap();
    assert_eq!(st.delete_expired_webauthn_data(200).await.unwrap(), 3);
    assert_eq!(st.delete_expired_webauthn_data(200).await.unwrap(), 0);
    assert!(st.webauthn_recovery_token(&base, "new").await.unwrap().is_some());
    assert!(st.webauthn_options(&base, &oid(3)).await.unwrap().is_some());
    assert_eq!(st.webauthn_options(&other, &oid(2)).await.unwrap(), None);
    // An app's removal takes its credentials, options and tokens.
    let oa = app("other");
    st.webauthn_sign_up(&other, &uid(5), "o@x.com", &credential("oc", "r", "", 0, 1), 1).await.unwrap();
    st.save_webauthn_options(&other, &options(&oid(4), "public", None, 900)).await.unwrap();
    assert!(st.delete_app(&oa).await.unwrap());
    add_app(st, "other").await;
    assert_eq!(st.webauthn_credential(&oa, "oc", "r").await.unwrap(), None);
    assert_eq!(st.webauthn_options_in_app(&other, &oid(4)).await.unwrap(), None);
}

conformance! {
    generated_options,
    users_and_credentials,
    accepted_assertions,
    email_update,
    recovery_tokens,
    cleanup,
}
