//! [`EmailVerificationStorage`]: verification tokens (per tenant, consumed once with their
//! pair's others, expiry) and verified e-mails.

use crate::helpers::*;
use st_core::ids::{AppId, TenantIdentifier};
use st_core::storage::*;
use st_core::StorageError;

/// Verification tokens: per tenant, consumed once with the pair's other tokens, refused when
/// expired and cleaned up by the job; verified e-mails, also of an id that is no user's.
async fn email_verification(st: &dyn Storage) {
    add_tenant(st, "public", "t2").await;
    let base = TenantIdentifier::base();
    let t2 = tid("public", "t2");
    let app = AppId::public();
    for (n, email) in [(1, "a@x.com"), (3, "c@x.com")] {
        assert_eq!(st.sign_up_with_password(&base, &uid(n), email, "h", 10).await.unwrap(), SignUpResult::Created);
    }
    st.add_email_verification_token(&base, &uid(1), "a@x.com", "ev1", 1000).await.unwrap();
    st.add_email_verification_token(&base, &uid(1), "a@x.com", "ev2", 1000).await.unwrap();
    assert!(matches!(
        st.add_email_verification_token(&tid("public", "nope"), &uid(1), "a@x.com", "ev3", 1000).await,
        Err(StorageError::TenantOrAppNotFound)
    ));
    assert_eq!(st.consume_email_verification_token(&t2, "ev1", 500).await.unwrap(), None, "tokens are per tenant");
    assert!(!st.is_email_verified(&app, &uid(1), "a@x.com").await.unwrap());
    assert_eq!(
        st.consume_email_verification_token(&base, "ev1", 500).await.unwrap(),
        Some((uid(1), "a@x.com".to_string()))
    );
    assert!(st.is_email_verified(&app, &uid(1), "a@x.com").await.unwrap());
    assert_eq!(st.consume_email_verification_token(&base, "ev2", 500).await.unwrap(), None, "pair's tokens deleted");
    st.unverify_email(&app, &uid(1), "a@x.com").await.unwrap();
    assert!(!st.is_email_verified(&app, &uid(1), "a@x.com").await.unwrap());
    st.set_email_verified(&app, "external-id", "e@x.com").await.unwrap();
    st.set_email_verified(&app, "external-id", "e@x.com").await.unwrap();
    assert!(st.is_email_verified(&app, "external-id", "e@x.com").await.unwrap());
    st.add_email_verification_token(&base, &uid(1), "a@x.com", "ev4", 100).await.unwrap();
    assert_eq!(st.consume_email_verification_token(&base, "ev4", 500).await.unwrap(), None, "expired");
    // Consuming the expired token removed it (as the reference); another one waits for the job.
    st.add_email_verification_token(&base, &uid(1), "a@x.com", "ev6", 100).await.unwrap();
    st.add_email_verification_token(&base, &uid(3), "c@x.com", "ev5", 100).await.unwrap();
    st.delete_email_verification_tokens(&base, &uid(3), "c@x.com").await.unwrap();
    assert_eq!(st.delete_expired_email_verification_tokens(500).await.unwrap(), 1);
}

/// Consuming deletes all of a user's tokens for the e-mail: two consumes of two different tokens
/// at once must not deadlock (an error), and exactly one of them wins.
async fn verification_token_consumes_are_exclusive(st: &dyn Storage) {
    let base = TenantIdentifier::base();
    let a = AppId::public();
    let id = token_user(st).await;
    for round in 0..5 {
        let (e1, e2) = (format!("ev-{round}-a"), format!("ev-{round}-b"));
        st.add_email_verification_token(&base, id, "tok@example.com", &e1, i64::MAX).await.unwrap();
        st.add_email_verification_token(&base, id, "tok@example.com", &e2, i64::MAX).await.unwrap();
        let got = join_all(vec![
            st.consume_email_verification_token(&base, &e1, 10),
            st.consume_email_verification_token(&base, &e2, 10),
        ])
        .await;
        let won: Vec<_> = got.into_iter().filter_map(|r| r.expect("no deadlock")).collect();
        assert_eq!(won.len(), 1, "round {round}");
        st.unverify_email(&a, id, "tok@example.com").await.unwrap();
    }
    // An expired verification token is refused and still removes the pair's other tokens.
    st.add_email_verification_token(&base, id, "tok@example.com", "ev-old", 5).await.unwrap();
    st.add_email_verification_token(&base, id, "tok@example.com", "ev-new", i64::MAX).await.unwrap();
    assert_eq!(st.consume_email_verification_token(&base, "ev-old", 10).await.unwrap(), None);
    assert_eq!(st.consume_email_verification_token(&base, "ev-new", 10).await.unwrap(), None);
}

conformance! {
    email_verification,
    verification_token_consumes_are_exclusive,
}
