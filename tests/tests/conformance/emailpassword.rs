//! [`EmailPasswordStorage`]: sign-ups (one winner under concurrency, per tenant), lookups by
//! e-mail, e-mail and password updates, and reset tokens.

use crate::helpers::*;
use st_core::ids::{AppId, TenantIdentifier};
use st_core::storage::*;
use st_core::StorageError;
use std::sync::Arc;

/// Sign-ups per tenant (one winner among concurrent sign-ups with one e-mail), lookups by
/// e-mail, the user a sign-up makes, e-mail and password updates, and reset tokens (one consume
/// takes all of the user's; expired ones are refused, and the job removes the others).
async fn email_password_users(st: &Arc<dyn Storage>) {
    add_tenant(st.as_ref(), "public", "t2").await;
    let base = TenantIdentifier::base();
    let t2 = tid("public", "t2");
    let app = AppId::public();
    assert_eq!(st.sign_up_with_password(&base, &uid(1), "a@x.com", "h1", 10).await.unwrap(), SignUpResult::Created);
    assert_eq!(
        st.sign_up_with_password(&base, &uid(2), "a@x.com", "h2", 11).await.unwrap(),
        SignUpResult::EmailAlreadyExists
    );
    assert_eq!(st.sign_up_with_password(&t2, &uid(2), "a@x.com", "h2", 11).await.unwrap(), SignUpResult::Created);
    assert_eq!(st.sign_up_with_password(&base, &uid(3), "b@x.com", "h3", 12).await.unwrap(), SignUpResult::Created);
    assert!(matches!(
        st.sign_up_with_password(&tid("public", "nope"), &uid(4), "c@x.com", "h", 1).await,
        Err(StorageError::TenantOrAppNotFound)
    ));
    // concurrent sign-ups with one email: exactly one wins
    let mut tasks = Vec::new();
    for i in 0..6u32 {
        let st = st.clone();
        tasks.push(tokio::spawn(async move {
            st.sign_up_with_password(&TenantIdentifier::base(), &uid(100 + i), "race@x.com", "h", 50).await.unwrap()
        }));
    }
    let mut created = 0;
    for t in tasks {
        if t.await.unwrap() == SignUpResult::Created {
            created += 1;
        }
    }
    assert_eq!(created, 1);

    assert_eq!(st.password_user_by_email(&base, "a@x.com").await.unwrap(), Some((uid(1), "h1".to_string())));
    assert_eq!(st.password_user_by_email(&t2, "a@x.com").await.unwrap(), Some((uid(2), "h2".to_string())));
    assert_eq!(st.password_user_by_email(&base, "zz@x.com").await.unwrap(), None);

    let user = st.get_auth_user(&app, &uid(1)).await.unwrap().unwrap();
    assert_eq!(user.id, uid(1));
    assert!(!user.is_primary);
    assert_eq!(
        user.login_methods,
        vec![LoginMethod {
            recipe_id: "emailpassword".into(),
            recipe_user_id: uid(1),
            tenant_ids: vec!["public".into()],
            time_joined: 10,
            email: Some("a@x.com".into()),
            phone_number: None,
            third_party: None,
        }]
    );
    assert_eq!(st.get_auth_user(&app, &uid(99)).await.unwrap(), None);

    assert_eq!(
        st.update_email_or_password(&app, &uid(3), Some("a@x.com"), None).await.unwrap(),
        UpdateResult::EmailAlreadyExists
    );
    assert_eq!(st.update_email_or_password(&app, &uid(99), None, Some("h")).await.unwrap(), UpdateResult::UnknownUser);
    assert_eq!(
        st.update_email_or_password(&app, &uid(3), Some("c@x.com"), Some("h3b")).await.unwrap(),
        UpdateResult::Ok
    );
    assert_eq!(st.password_user_by_email(&base, "c@x.com").await.unwrap(), Some((uid(3), "h3b".to_string())));
    assert_eq!(st.password_user_by_email(&base, "b@x.com").await.unwrap(), None);

    assert_eq!(st.users_by_email(&base, "a@x.com").await.unwrap(), vec![uid(1)]);
    assert_eq!(st.users_by_email(&t2, "a@x.com").await.unwrap(), vec![uid(2)]);
    assert!(st.users_by_email(&base, "none@x.com").await.unwrap().is_empty());

    // reset tokens
    st.add_password_reset_token(&app, &uid(1), "tok1", "a@x.com", 1000).await.unwrap();
    st.add_password_reset_token(&app, &uid(1), "tok2", "a@x.com", 1000).await.unwrap();
    assert_eq!(
        st.consume_password_reset_token(&app, "tok1", 500).await.unwrap(),
        Some((uid(1), "a@x.com".to_string()))
    );
    assert_eq!(st.consume_password_reset_token(&app, "tok2", 500).await.unwrap(), None, "all tokens of the user go");
    st.add_password_reset_token(&app, &uid(1), "tok3", "a@x.com", 100).await.unwrap();
    assert_eq!(st.consume_password_reset_token(&app, "tok3", 500).await.unwrap(), None, "expired");
    st.add_password_reset_token(&app, &uid(1), "tok4", "a@x.com", 100).await.unwrap();
    st.add_password_reset_token(&app, &uid(3), "tok5", "c@x.com", 1000).await.unwrap();
    assert_eq!(st.delete_expired_password_reset_tokens(500).await.unwrap(), 1);
}

/// Consuming deletes all of a user's reset tokens: two consumes of two different tokens of one
/// user at once must not deadlock (an error), and exactly one of them wins.
async fn reset_token_consumes_are_exclusive(st: &dyn Storage) {
    let a = AppId::public();
    let id = token_user(st).await;
    for round in 0..5 {
        let (h1, h2) = (format!("reset-{round}-a"), format!("reset-{round}-b"));
        st.add_password_reset_token(&a, id, &h1, "tok@example.com", i64::MAX).await.unwrap();
        st.add_password_reset_token(&a, id, &h2, "tok@example.com", i64::MAX).await.unwrap();
        let got =
            join_all(vec![st.consume_password_reset_token(&a, &h1, 10), st.consume_password_reset_token(&a, &h2, 10)])
                .await;
        let won: Vec<_> = got.into_iter().filter_map(|r| r.expect("no deadlock")).collect();
        assert_eq!(won, vec![(id.to_string(), "tok@example.com".to_string())], "round {round}");
    }
}

conformance! {
    email_password_users,
    reset_token_consumes_are_exclusive,
}
