//! Users: what only SQL on the reference tables can set up (the user contracts themselves run on
//! every backend in tests/tests/conformance).

use super::*;

/// Deleting a login method of a linked group: the users are those the listing contract of
/// `tests/tests/conformance/users.rs` leaves after its first deletion.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_login_methods_of_a_linked_group() {
    let Some(db) = fresh_db("deleting_login_methods_of_a_linked_group").await else { return };
    let s = PgStorage::connect(&uri_config(&db, json!({}))).await.unwrap();
    let app = AppId::public();
    let base = TenantIdentifier::base();
    for (i, e) in [(2, "bob@beta.com"), (3, "carl@alpha.com"), (4, "dora@gamma.org"), (5, "abe@beta.com")] {
        s.sign_up_with_password(&base, &uid(i), e, "h", i64::from(i) * 10).await.unwrap();
    }
    let all = |ascending| UserListQuery { ascending, limit: 100, ..Default::default() };
    let obj = |v: serde_json::Value| v.as_object().unwrap().clone();
    let session = session(&base, "h1", "ext-1", i64::MAX);

    // A linked group (made with SQL, as account linking would). Removing the primary's login
    // method alone keeps the user: its id stays the group's id, with the data keyed by it.
    let client = raw(&db).await;
    client
        .batch_execute(&format!(
            "UPDATE app_id_to_user_id SET primary_or_recipe_user_id = '{p}', is_linked_or_is_a_primary_user = TRUE
               WHERE user_id IN ('{p}', '{r}');
             UPDATE all_auth_recipe_users SET primary_or_recipe_user_id = '{p}', is_linked_or_is_a_primary_user = TRUE,
               primary_or_recipe_user_time_joined = 20 WHERE user_id IN ('{p}', '{r}');
             UPDATE app_id_to_user_id SET primary_or_recipe_user_time_joined = 20 WHERE user_id IN ('{p}', '{r}');",
            p = uid(2),
            r = uid(4)
        ))
        .await
        .unwrap();
    let group = s.get_auth_user(&app, &uid(4)).await.unwrap().unwrap();
    assert_eq!(group.id, uid(2));
    assert!(group.is_primary);
    assert_eq!(group.login_methods.len(), 2);
    assert_eq!(s.list_users(&base, &all(true)).await.unwrap().len(), 3);
    s.update_user_metadata(&app, &uid(2), &obj(json!({"plan": "pro"}))).await.unwrap();
    let session_of =
        |handle: &str, user: String| SessionRow { handle: handle.into(), user_id: user, ..session.clone() };
    s.create_session(&session_of("h2", uid(2))).await.unwrap();
    s.create_session(&session_of("h4", uid(4))).await.unwrap();
    s.add_password_reset_token(&app, &uid(2), "rt2", "bob@beta.com", 1_000).await.unwrap();

    // Given with a trailing blank, which the `CHAR(36)` key ignores: still the primary.
    let padded = format!("{} ", uid(2));
    s.delete_user(&app, &padded, std::slice::from_ref(&padded)).await.unwrap();
    for id in [uid(2), uid(4)] {
        let left = s.get_auth_user(&app, &id).await.unwrap().unwrap();
        assert_eq!(left.id, uid(2), "the group keeps its id");
        assert!(left.is_primary);
        let methods: Vec<&str> = left.login_methods.iter().map(|m| m.recipe_user_id.as_str()).collect();
        assert_eq!(methods, vec![uid(4).as_str()]);
    }
    assert_eq!(s.password_user_by_email(&base, "bob@beta.com").await.unwrap(), None, "the login method is gone");
    assert_eq!(s.consume_password_reset_token(&app, "rt2", 0).await.unwrap(), None);
    assert!(s.password_user_by_email(&base, "dora@gamma.org").await.unwrap().is_some());
    assert_eq!(s.get_user_metadata(&app, &uid(2)).await.unwrap(), Some(obj(json!({"plan": "pro"}))));
    assert!(s.get_session(&base, "h2").await.unwrap().is_some());
    // The group's time joined is now its remaining method's (as the reference recomputes it).
    assert_eq!(s.list_users(&base, &all(true)).await.unwrap(), vec![(uid(3), 30), (uid(2), 40), (uid(5), 50)]);
    let listed: Vec<String> =
        s.get_auth_users(&app, &[uid(3), uid(2), uid(5)]).await.unwrap().into_iter().map(|u| u.id).collect();
    assert_eq!(listed, vec![uid(3), uid(2), uid(5)], "in the order asked, the group by its own id");
    assert_eq!(s.count_users(&app, Some(&base), &[]).await.unwrap(), 3);

    // Removing the group's last login method removes the user, and the primary's id with the
    // data keyed by it.
    s.delete_user(&app, &uid(4), &[uid(4)]).await.unwrap();
    assert_eq!(s.get_auth_user(&app, &uid(4)).await.unwrap(), None);
    assert_eq!(s.get_auth_user(&app, &uid(2)).await.unwrap(), None);
    assert_eq!(s.get_user_metadata(&app, &uid(2)).await.unwrap(), None);
    assert_eq!(s.get_session(&base, "h2").await.unwrap(), None);
    assert_eq!(s.get_session(&base, "h4").await.unwrap(), None);
    assert_eq!(s.list_users(&base, &all(true)).await.unwrap(), vec![(uid(3), 30), (uid(5), 50)]);
}
