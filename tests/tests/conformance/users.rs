//! [`AuthRecipeStorage`]: users across recipes (one-user and batched reads, decorations),
//! listing with paging and filters, counting, and deletion of every trace of a user.

use crate::helpers::*;
use serde_json::json;
use st_core::ids::{AppId, TenantIdentifier};
use st_core::storage::*;

/// Batched user reads agree with the one-user intents.
async fn users_batched_reads(st: &dyn Storage) {
    let base = TenantIdentifier::base();
    let a = AppId::public();
    let ids: Vec<String> = (1..=3).map(|i| format!("0b0b0b0b-0000-4000-8000-00000000000{i}")).collect();
    for (i, id) in ids.iter().enumerate() {
        let email = format!("u{i}@example.com");
        assert_eq!(
            st.sign_up_with_password(&base, id, &email, "$2a$10$x", 10 + i as i64).await.unwrap(),
            SignUpResult::Created
        );
    }
    let mapping = UserIdMapping {
        supertokens_user_id: ids[1].clone(),
        external_user_id: "ext-1".into(),
        external_user_id_info: None,
    };
    assert_eq!(st.create_user_id_mapping(&a, &mapping, false).await.unwrap(), MappingCreate::Ok);
    st.set_email_verified(&a, "ext-1", "u1@example.com").await.unwrap();
    st.set_email_verified(&a, &ids[2], "u2@example.com").await.unwrap();
    st.set_email_verified(&a, &ids[0], "other@example.com").await.unwrap();
    st.set_email_verified(&a, &ids[1], "u1@example.com").await.unwrap(); // under the wrong id

    let asked = vec![ids[2].clone(), ids[0].clone(), "0b0b0b0b-0000-4000-8000-00000000000f".into(), ids[2].clone()];
    let users = st.get_auth_users(&a, &asked).await.unwrap();
    let u2 = st.get_auth_user(&a, &ids[2]).await.unwrap().unwrap();
    let u0 = st.get_auth_user(&a, &ids[0]).await.unwrap().unwrap();
    assert_eq!(users, vec![u2, u0], "one per group, in asked order");
    assert!(st.get_auth_users(&a, &[]).await.unwrap().is_empty());

    let all = st.get_auth_users(&a, &ids).await.unwrap();
    let d = st.user_decorations(&a, &all).await.unwrap();
    assert_eq!(d.external_ids, [(ids[1].clone(), "ext-1".to_string())].into_iter().collect());
    let expected: std::collections::HashSet<(String, String)> =
        [("ext-1".to_string(), "u1@example.com".to_string()), (ids[2].clone(), "u2@example.com".to_string())]
            .into_iter()
            .collect();
    assert_eq!(d.verified, expected, "only each method's own email, under the id the application uses");
    assert_eq!(st.user_decorations(&a, &[]).await.unwrap(), UserDecorations::default());
}

/// Listing (both orders, pages from an inclusive cursor, recipe and e-mail/phone filters, per
/// tenant), counting per tenant or app and recipe, active users, and deletion of every trace of
/// a user (login method, mapping, metadata, roles, verification, reset tokens, sessions).
async fn listing_counting_and_deleting_users(st: &dyn Storage) {
    add_tenant(st, "public", "t2").await;
    let app = AppId::public();
    let base = TenantIdentifier::base();
    let t2 = tid("public", "t2");
    let emails = ["ann@alpha.com", "bob@beta.com", "carl@alpha.com", "dora@gamma.org", "abe@beta.com"];
    for (i, e) in emails.iter().enumerate() {
        let i = i as u32 + 1;
        st.sign_up_with_password(&base, &uid(i), e, "h", i64::from(i) * 10).await.unwrap();
    }
    st.sign_up_with_password(&t2, &uid(10), "x@y.com", "h", 5).await.unwrap();
    let all = |ascending| UserListQuery { ascending, limit: 100, ..Default::default() };
    let ids = |rows: Vec<(String, i64)>| rows.into_iter().map(|(id, _)| id).collect::<Vec<_>>();

    let asc = st.list_users(&base, &all(true)).await.unwrap();
    assert_eq!(asc, (1..=5).map(|i| (uid(i), i64::from(i) * 10)).collect::<Vec<_>>());
    let desc = ids(st.list_users(&base, &all(false)).await.unwrap());
    assert_eq!(desc, (1..=5).rev().map(uid).collect::<Vec<_>>());
    // paging
    let page1 = st.list_users(&base, &UserListQuery { limit: 2, ..all(true) }).await.unwrap();
    assert_eq!(ids(page1.clone()), vec![uid(1), uid(2)]);
    // A page starts from its cursor, inclusive.
    let from = Some((30, uid(3)));
    let page2 = st.list_users(&base, &UserListQuery { limit: 2, from, ..all(true) }).await.unwrap();
    assert_eq!(ids(page2), vec![uid(3), uid(4)]);
    let from = Some((30, uid(3)));
    let back = st.list_users(&base, &UserListQuery { limit: 2, from, ..all(false) }).await.unwrap();
    assert_eq!(ids(back), vec![uid(3), uid(2)]);
    // filters
    let q = UserListQuery { recipe_ids: vec!["thirdparty".into()], ..all(true) };
    assert!(st.list_users(&base, &q).await.unwrap().is_empty());
    let q = UserListQuery { recipe_ids: vec!["emailpassword".into()], ..all(true) };
    assert_eq!(st.list_users(&base, &q).await.unwrap().len(), 5);
    let q = UserListQuery { email_prefixes: vec!["a".into()], ..all(true) };
    assert_eq!(ids(st.list_users(&base, &q).await.unwrap()), vec![uid(1), uid(3), uid(5)], "prefix or domain");
    let q = UserListQuery { email_prefixes: vec!["beta".into(), "dora".into()], ..all(true) };
    assert_eq!(ids(st.list_users(&base, &q).await.unwrap()), vec![uid(2), uid(4), uid(5)]);
    let q = UserListQuery { phone_prefixes: vec!["+1".into()], ..all(true) };
    assert!(st.list_users(&base, &q).await.unwrap().is_empty());
    assert_eq!(ids(st.list_users(&t2, &all(true)).await.unwrap()), vec![uid(10)]);

    assert_eq!(st.count_users(&app, Some(&base), &[]).await.unwrap(), 5);
    assert_eq!(st.count_users(&app, None, &[]).await.unwrap(), 6);
    assert_eq!(st.count_users(&app, None, &["passwordless".into()]).await.unwrap(), 0);
    st.touch_user_last_active(&app, &uid(1), 100).await.unwrap();
    st.touch_user_last_active(&app, &uid(2), 200).await.unwrap();
    assert_eq!(st.count_active_users(&app, 150).await.unwrap(), 1);

    // every trace of a user goes
    let ids_of_1 = vec![uid(1), "ext-1".to_string()];
    st.create_user_id_mapping(
        &app,
        &UserIdMapping { supertokens_user_id: uid(1), external_user_id: "ext-1".into(), external_user_id_info: None },
        false,
    )
    .await
    .unwrap();
    st.update_user_metadata(&app, "ext-1", &obj(json!({"a": 1}))).await.unwrap();
    st.create_role_or_add_permissions(&app, "r", &[]).await.unwrap();
    st.add_role_to_user(&base, "ext-1", "r").await.unwrap();
    st.set_email_verified(&app, "ext-1", "ann@alpha.com").await.unwrap();
    st.add_password_reset_token(&app, &uid(1), "rt", "ann@alpha.com", 1_000).await.unwrap();
    let session = row(&base, "h1", "ext-1", i64::MAX);
    st.create_session(&session).await.unwrap();
    st.delete_user(&app, &uid(1), &ids_of_1).await.unwrap();
    assert_eq!(st.get_auth_user(&app, &uid(1)).await.unwrap(), None);
    assert_eq!(st.password_user_by_email(&base, "ann@alpha.com").await.unwrap(), None);
    assert_eq!(st.get_user_id_mapping(&app, "ext-1", UserIdType::Any).await.unwrap(), None);
    assert_eq!(st.get_user_metadata(&app, "ext-1").await.unwrap(), None);
    assert!(st.roles_of_user(&base, "ext-1").await.unwrap().is_empty());
    assert!(!st.is_email_verified(&app, "ext-1", "ann@alpha.com").await.unwrap());
    assert_eq!(st.consume_password_reset_token(&app, "rt", 0).await.unwrap(), None);
    assert_eq!(st.get_session(&base, "h1").await.unwrap(), None);
    assert_eq!(st.count_active_users(&app, 0).await.unwrap(), 1);
    assert_eq!(st.count_users(&app, Some(&base), &[]).await.unwrap(), 4);
    st.delete_user(&app, &uid(77), &[]).await.unwrap();
}

conformance! {
    users_batched_reads,
    listing_counting_and_deleting_users,
}
