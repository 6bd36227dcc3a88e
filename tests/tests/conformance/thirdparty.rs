//! [`ThirdPartyStorage`]: sign-ups per tenant and provider pair (one winner under
//! concurrency), look-ups by pair, the app-wide e-mail update, and third-party users in the
//! auth-recipe intents (login methods, e-mail look-ups, listing, searching, counting, removal).

use crate::helpers::*;
use st_core::ids::{AppId, TenantIdentifier};
use st_core::storage::*;
use st_core::StorageError;
use std::sync::Arc;

/// Sign-ups per tenant and pair, look-ups, the user a sign-up makes, and the e-mail update.
async fn third_party_users(st: &Arc<dyn Storage>) {
    add_tenant(st.as_ref(), "public", "t2").await;
    let base = TenantIdentifier::base();
    let t2 = tid("public", "t2");
    let app = AppId::public();
    let signed = |t: &TenantIdentifier, n: u32, tp: (&str, &str), email: &str, at: i64| {
        let (st, t, email, tp) = (st.clone(), t.clone(), email.to_string(), (tp.0.to_string(), tp.1.to_string()));
        async move { st.third_party_sign_up(&t, &uid(n), &tp.0, &tp.1, &email, at).await.unwrap() }
    };
    assert_eq!(signed(&base, 1, ("google", "g1"), "a@x.com", 10).await, ThirdPartySignUp::Created);
    let login = |n: u32, email: &str| ThirdPartyLogin { user_id: uid(n), primary_user_id: uid(n), email: email.into() };
    // The pair is taken in this tenant: the existing user comes back, nothing is written.
    assert_eq!(
        signed(&base, 2, ("google", "g1"), "other@x.com", 11).await,
        ThirdPartySignUp::Exists(login(1, "a@x.com"))
    );
    assert_eq!(st.get_auth_user(&app, &uid(2)).await.unwrap(), None);
    // Another tenant, another user id at the provider, another provider: new users.
    assert_eq!(signed(&t2, 2, ("google", "g1"), "a@x.com", 11).await, ThirdPartySignUp::Created);
    assert_eq!(signed(&base, 3, ("google", "g2"), "a@x.com", 12).await, ThirdPartySignUp::Created);
    assert_eq!(signed(&base, 4, ("github", "g1"), "a@x.com", 13).await, ThirdPartySignUp::Created);
    // Ids and providers are compared exactly.
    assert_eq!(signed(&base, 5, ("Google", "g1"), "a@x.com", 14).await, ThirdPartySignUp::Created);
    assert!(matches!(
        st.third_party_sign_up(&tid("public", "nope"), &uid(9), "google", "g9", "c@x.com", 1).await,
        Err(StorageError::TenantOrAppNotFound)
    ));
    assert!(matches!(
        st.third_party_sign_up(&tid("nope", "public"), &uid(9), "google", "g9", "c@x.com", 1).await,
        Err(StorageError::TenantOrAppNotFound)
    ));

    assert_eq!(st.third_party_user(&base, "google", "g1").await.unwrap(), Some(login(1, "a@x.com")));
    assert_eq!(st.third_party_user(&t2, "google", "g1").await.unwrap(), Some(login(2, "a@x.com")));
    assert_eq!(st.third_party_user(&base, "google", "g9").await.unwrap(), None);
    assert_eq!(st.third_party_user(&tid("public", "nope"), "google", "g1").await.unwrap(), None);

    let user = st.get_auth_user(&app, &uid(1)).await.unwrap().unwrap();
    assert_eq!((user.id.as_str(), user.is_primary), (uid(1).as_str(), false));
    assert_eq!(
        user.login_methods,
        vec![LoginMethod {
            recipe_id: "thirdparty".into(),
            recipe_user_id: uid(1),
            tenant_ids: vec!["public".into()],
            time_joined: 10,
            email: Some("a@x.com".into()),
            phone_number: None,
            third_party: Some(("google".into(), "g1".into())),
        }]
    );

    // The e-mail update reaches the pair's login method in every tenant, and nothing else.
    assert_eq!(
        st.update_third_party_email(&app, &uid(1), "google", "g1", "new@x.com").await.unwrap(),
        ThirdPartyEmailUpdate::Updated(2)
    );
    assert_eq!(st.third_party_user(&base, "google", "g1").await.unwrap(), Some(login(1, "new@x.com")));
    assert_eq!(st.third_party_user(&t2, "google", "g1").await.unwrap(), Some(login(2, "new@x.com")));
    assert_eq!(st.third_party_user(&base, "google", "g2").await.unwrap().unwrap().email, "a@x.com");
    assert_eq!(
        st.update_third_party_email(&app, &uid(9), "google", "nobody", "n@x.com").await.unwrap(),
        ThirdPartyEmailUpdate::Updated(0)
    );
    add_app(st.as_ref(), "other").await;
    assert_eq!(
        st.update_third_party_email(&AppId::parse("other").unwrap(), &uid(1), "google", "g1", "n@x.com").await.unwrap(),
        ThirdPartyEmailUpdate::Updated(0)
    );

    // E-mail look-ups see third-party users (of the tenant).
    assert_eq!(st.users_by_email(&base, "new@x.com").await.unwrap(), vec![uid(1)]);
    assert_eq!(st.users_by_email(&t2, "new@x.com").await.unwrap(), vec![uid(2)]);
    let mut a = st.users_by_email(&base, "a@x.com").await.unwrap();
    a.sort();
    assert_eq!(a, vec![uid(3), uid(4), uid(5)]);
}

/// Concurrent sign-ups of one pair in one tenant: exactly one creates the user, the others get
/// it; in two tenants, one user each.
async fn concurrent_sign_ups(st: &Arc<dyn Storage>) {
    add_tenant(st.as_ref(), "public", "t2").await;
    let mut tasks = Vec::new();
    for i in 0..12u32 {
        let st = st.clone();
        let tenant = if i % 2 == 0 { TenantIdentifier::base() } else { tid("public", "t2") };
        tasks.push(tokio::spawn(async move {
            (i % 2, st.third_party_sign_up(&tenant, &uid(100 + i), "google", "race", "r@x.com", 50).await.unwrap())
        }));
    }
    let mut created = [Vec::new(), Vec::new()];
    let mut existing = [Vec::new(), Vec::new()];
    for (i, t) in tasks.into_iter().enumerate() {
        let (tenant, result) = t.await.unwrap();
        match result {
            ThirdPartySignUp::Created => created[tenant as usize].push(uid(100 + i as u32)),
            ThirdPartySignUp::Exists(found) => existing[tenant as usize].push(found.user_id),
        }
    }
    for tenant in 0..2 {
        assert_eq!(created[tenant].len(), 1, "one winner in tenant {tenant}");
        assert!(existing[tenant].iter().all(|id| *id == created[tenant][0]), "the others get the winner");
    }
    assert_eq!(st.count_users(&AppId::public(), None, &["thirdparty".into()]).await.unwrap(), 2);
    assert_eq!(st.count_users(&AppId::public(), Some(&TenantIdentifier::base()), &[]).await.unwrap(), 1);
}

/// Third-party users in `GET /users` pages and searches (provider and e-mail tags, with the
/// e-mail-password users), in counts by recipe, by account info, and removed.
async fn listed_searched_counted_and_removed(st: &dyn Storage) {
    let base = TenantIdentifier::base();
    let app = AppId::public();
    st.third_party_sign_up(&base, &uid(1), "google", "g1", "ann@alpha.com", 10).await.unwrap();
    st.sign_up_with_password(&base, &uid(2), "bob@alpha.com", "h", 20).await.unwrap();
    st.third_party_sign_up(&base, &uid(3), "github", "h3", "cat@beta.com", 30).await.unwrap();
    st.third_party_sign_up(&base, &uid(4), "google", "g4", "dan@beta.com", 40).await.unwrap();
    let all = UserListQuery { ascending: true, limit: 100, ..Default::default() };
    let ids = |rows: Vec<(String, i64)>| rows.into_iter().map(|(id, _)| id).collect::<Vec<_>>();
    let in_base = &base;
    let list = |q: UserListQuery| async move { ids(st.list_users(in_base, &q).await.unwrap()) };
    assert_eq!(list(all.clone()).await, vec![uid(1), uid(2), uid(3), uid(4)]);
    let tp_only = UserListQuery { recipe_ids: vec!["thirdparty".into()], ..all.clone() };
    assert_eq!(list(tp_only).await, vec![uid(1), uid(3), uid(4)]);
    let search = |email: &[&str], phone: &[&str], provider: &[&str]| UserListQuery {
        email_prefixes: email.iter().map(|s| s.to_string()).collect(),
        phone_prefixes: phone.iter().map(|s| s.to_string()).collect(),
        provider_prefixes: provider.iter().map(|s| s.to_string()).collect(),
        ..all.clone()
    };
    assert_eq!(list(search(&[], &[], &["goo"])).await, vec![uid(1), uid(4)]);
    assert_eq!(list(search(&[], &[], &["g"])).await, vec![uid(1), uid(3), uid(4)]);
    assert_eq!(list(search(&[], &[], &["gith", "nope"])).await, vec![uid(3)]);
    assert_eq!(list(search(&[], &[], &["Goo"])).await, Vec::<String>::new(), "provider ids compared as stored");
    assert_eq!(list(search(&["alpha"], &[], &[])).await, vec![uid(1), uid(2)]);
    assert_eq!(list(search(&["beta"], &[], &["google"])).await, vec![uid(4)]);
    assert_eq!(list(search(&["ann"], &[], &["github"])).await, Vec::<String>::new());
    assert_eq!(list(search(&[], &["+1"], &["g"])).await, Vec::<String>::new());
    // At most `limit` matches of each recipe.
    let limited = UserListQuery { limit: 1, ..search(&["a", "b", "c", "d"], &[], &[]) };
    assert_eq!(list(limited).await, vec![uid(1), uid(2)]);
    // Descending searches.
    let desc = UserListQuery { ascending: false, ..search(&[], &[], &["g"]) };
    assert_eq!(list(desc).await, vec![uid(4), uid(3), uid(1)]);

    assert_eq!(st.count_users(&app, Some(&base), &[]).await.unwrap(), 4);
    assert_eq!(st.count_users(&app, Some(&base), &["thirdparty".into()]).await.unwrap(), 3);
    assert_eq!(st.count_users(&app, None, &["emailpassword".into(), "thirdparty".into()]).await.unwrap(), 4);

    // Removal takes the login method and frees its pair.
    st.set_email_verified(&app, &uid(1), "ann@alpha.com").await.unwrap();
    st.delete_user(&app, &uid(1), &[uid(1)]).await.unwrap();
    assert_eq!(st.get_auth_user(&app, &uid(1)).await.unwrap(), None);
    assert_eq!(st.third_party_user(&base, "google", "g1").await.unwrap(), None);
    assert!(!st.is_email_verified(&app, &uid(1), "ann@alpha.com").await.unwrap());
    assert_eq!(st.count_users(&app, Some(&base), &["thirdparty".into()]).await.unwrap(), 2);
    assert_eq!(
        st.third_party_sign_up(&base, &uid(5), "google", "g1", "ann@alpha.com", 50).await.unwrap(),
        ThirdPartySignUp::Created
    );
}

conformance! {
    third_party_users,
    concurrent_sign_ups,
    listed_searched_counted_and_removed,
}
