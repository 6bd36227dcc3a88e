//! [`UserStorage`] against a real PostgreSQL (runs only with `ST_TEST_POSTGRES_URL`; see
//! `tests/postgres.rs`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{json, Map, Value};
use st_core::ids::{AppId, TenantId, TenantIdentifier};
use st_core::storage::*;
use st_core::StorageError;
use st_storage_postgres::PgStorage;
use std::sync::Arc;

mod common;

use common::*;

fn tid(app: &str, tenant: &str) -> TenantIdentifier {
    TenantIdentifier::new(AppId::parse(app).unwrap(), TenantId::parse(tenant).unwrap())
}

fn uid(n: u32) -> String {
    format!("00000000-0000-4000-8000-{n:012}")
}

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

async fn setup(test: &str) -> Option<(TestDb, PgStorage)> {
    let db = fresh_db(test).await?;
    let s = PgStorage::connect(&uri_config(&db, json!({}))).await.unwrap();
    s.upsert_tenant(&TenantRecord::new(tid("public", "t2")), 1).await.unwrap();
    Some((db, s))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_password_users() {
    let Some((db, s)) = setup("email_password_users").await else {
        return;
    };
    let base = TenantIdentifier::base();
    let t2 = tid("public", "t2");
    let app = AppId::public();
    assert_eq!(s.sign_up_with_password(&base, &uid(1), "a@x.com", "h1", 10).await.unwrap(), SignUpResult::Created);
    assert_eq!(
        s.sign_up_with_password(&base, &uid(2), "a@x.com", "h2", 11).await.unwrap(),
        SignUpResult::EmailAlreadyExists
    );
    assert_eq!(s.sign_up_with_password(&t2, &uid(2), "a@x.com", "h2", 11).await.unwrap(), SignUpResult::Created);
    assert_eq!(s.sign_up_with_password(&base, &uid(3), "b@x.com", "h3", 12).await.unwrap(), SignUpResult::Created);
    assert!(matches!(
        s.sign_up_with_password(&tid("public", "nope"), &uid(4), "c@x.com", "h", 1).await,
        Err(StorageError::TenantOrAppNotFound)
    ));
    // concurrent sign-ups with one email: exactly one wins
    let shared = Arc::new(s.clone());
    let mut tasks = Vec::new();
    for i in 0..6u32 {
        let st = shared.clone();
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

    assert_eq!(s.password_user_by_email(&base, "a@x.com").await.unwrap(), Some((uid(1), "h1".to_string())));
    assert_eq!(s.password_user_by_email(&t2, "a@x.com").await.unwrap(), Some((uid(2), "h2".to_string())));
    assert_eq!(s.password_user_by_email(&base, "zz@x.com").await.unwrap(), None);

    let user = s.get_auth_user(&app, &uid(1)).await.unwrap().unwrap();
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
    assert_eq!(s.get_auth_user(&app, &uid(99)).await.unwrap(), None);

    assert_eq!(
        s.update_email_or_password(&app, &uid(3), Some("a@x.com"), None).await.unwrap(),
        UpdateResult::EmailAlreadyExists
    );
    assert_eq!(s.update_email_or_password(&app, &uid(99), None, Some("h")).await.unwrap(), UpdateResult::UnknownUser);
    assert_eq!(
        s.update_email_or_password(&app, &uid(3), Some("c@x.com"), Some("h3b")).await.unwrap(),
        UpdateResult::Ok
    );
    assert_eq!(s.password_user_by_email(&base, "c@x.com").await.unwrap(), Some((uid(3), "h3b".to_string())));
    assert_eq!(s.password_user_by_email(&base, "b@x.com").await.unwrap(), None);

    assert_eq!(s.users_by_email(&base, "a@x.com").await.unwrap(), vec![uid(1)]);
    assert_eq!(s.users_by_email(&t2, "a@x.com").await.unwrap(), vec![uid(2)]);
    assert!(s.users_by_email(&base, "none@x.com").await.unwrap().is_empty());

    // reset tokens
    s.add_password_reset_token(&app, &uid(1), "tok1", "a@x.com", 1000).await.unwrap();
    s.add_password_reset_token(&app, &uid(1), "tok2", "a@x.com", 1000).await.unwrap();
    assert_eq!(s.consume_password_reset_token(&app, "tok1", 500).await.unwrap(), Some((uid(1), "a@x.com".to_string())));
    assert_eq!(s.consume_password_reset_token(&app, "tok2", 500).await.unwrap(), None, "all tokens of the user go");
    s.add_password_reset_token(&app, &uid(1), "tok3", "a@x.com", 100).await.unwrap();
    assert_eq!(s.consume_password_reset_token(&app, "tok3", 500).await.unwrap(), None, "expired");
    s.add_password_reset_token(&app, &uid(1), "tok4", "a@x.com", 100).await.unwrap();
    s.add_password_reset_token(&app, &uid(3), "tok5", "c@x.com", 1000).await.unwrap();
    assert_eq!(s.delete_expired_password_reset_tokens(500).await.unwrap(), 1);

    // email verification
    s.add_email_verification_token(&base, &uid(1), "a@x.com", "ev1", 1000).await.unwrap();
    s.add_email_verification_token(&base, &uid(1), "a@x.com", "ev2", 1000).await.unwrap();
    assert!(matches!(
        s.add_email_verification_token(&tid("public", "nope"), &uid(1), "a@x.com", "ev3", 1000).await,
        Err(StorageError::TenantOrAppNotFound)
    ));
    assert_eq!(s.consume_email_verification_token(&t2, "ev1", 500).await.unwrap(), None, "tokens are per tenant");
    assert!(!s.is_email_verified(&app, &uid(1), "a@x.com").await.unwrap());
    assert_eq!(
        s.consume_email_verification_token(&base, "ev1", 500).await.unwrap(),
        Some((uid(1), "a@x.com".to_string()))
    );
    assert!(s.is_email_verified(&app, &uid(1), "a@x.com").await.unwrap());
    assert_eq!(s.consume_email_verification_token(&base, "ev2", 500).await.unwrap(), None, "pair's tokens deleted");
    s.unverify_email(&app, &uid(1), "a@x.com").await.unwrap();
    assert!(!s.is_email_verified(&app, &uid(1), "a@x.com").await.unwrap());
    s.set_email_verified(&app, "external-id", "e@x.com").await.unwrap();
    s.set_email_verified(&app, "external-id", "e@x.com").await.unwrap();
    assert!(s.is_email_verified(&app, "external-id", "e@x.com").await.unwrap());
    s.add_email_verification_token(&base, &uid(1), "a@x.com", "ev4", 100).await.unwrap();
    assert_eq!(s.consume_email_verification_token(&base, "ev4", 500).await.unwrap(), None, "expired");
    // Consuming the expired token removed it (as the reference); another one waits for the job.
    s.add_email_verification_token(&base, &uid(1), "a@x.com", "ev6", 100).await.unwrap();
    s.add_email_verification_token(&base, &uid(3), "c@x.com", "ev5", 100).await.unwrap();
    s.delete_email_verification_tokens(&base, &uid(3), "c@x.com").await.unwrap();
    assert_eq!(s.delete_expired_email_verification_tokens(500).await.unwrap(), 1);
    drop(db);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_and_roles() {
    let Some((_db, s)) = setup("metadata_and_roles").await else {
        return;
    };
    let app = AppId::public();
    let base = TenantIdentifier::base();
    let t2 = tid("public", "t2");
    assert_eq!(s.get_user_metadata(&app, "u").await.unwrap(), None);
    let m = s.update_user_metadata(&app, "u", &obj(json!({"a": 1, "b": {"c": 2}}))).await.unwrap();
    assert_eq!(Value::Object(m), json!({"a": 1, "b": {"c": 2}}));
    let m = s.update_user_metadata(&app, "u", &obj(json!({"a": null, "b": {"d": 3}, "e": []}))).await.unwrap();
    assert_eq!(Value::Object(m.clone()), json!({"b": {"d": 3}, "e": []}));
    assert_eq!(s.get_user_metadata(&app, "u").await.unwrap(), Some(m));
    let shared = Arc::new(s.clone());
    let mut tasks = Vec::new();
    for i in 0..10 {
        let st = shared.clone();
        tasks.push(tokio::spawn(async move {
            let mut update = Map::new();
            update.insert(format!("k{i}"), json!(i));
            st.update_user_metadata(&AppId::public(), "v", &update).await.unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(s.get_user_metadata(&app, "v").await.unwrap().unwrap().len(), 10, "no lost update");
    assert!(s.delete_user_metadata(&app, "u").await.unwrap());
    assert!(!s.delete_user_metadata(&app, "u").await.unwrap());

    assert!(s.create_role_or_add_permissions(&app, "admin", &["write".into(), "read".into()]).await.unwrap());
    assert!(!s.create_role_or_add_permissions(&app, "admin", &["read".into(), "delete".into()]).await.unwrap());
    assert!(s.create_role_or_add_permissions(&app, "viewer", &["read".into()]).await.unwrap());
    assert_eq!(
        s.permissions_of_role(&app, "admin").await.unwrap(),
        Some(vec!["delete".to_string(), "read".into(), "write".into()])
    );
    assert_eq!(s.permissions_of_role(&app, "ghost").await.unwrap(), None);
    assert_eq!(s.roles_with_permission(&app, "read").await.unwrap(), vec!["admin".to_string(), "viewer".into()]);
    assert!(s.remove_role_permissions(&app, "admin", Some(&["delete".to_string()])).await.unwrap());
    assert_eq!(s.permissions_of_role(&app, "admin").await.unwrap().unwrap().len(), 2);
    assert!(!s.remove_role_permissions(&app, "ghost", None).await.unwrap());
    assert!(s.remove_role_permissions(&app, "viewer", None).await.unwrap());
    assert_eq!(s.permissions_of_role(&app, "viewer").await.unwrap(), Some(vec![]));
    assert_eq!(s.all_roles(&app).await.unwrap(), vec!["admin".to_string(), "viewer".into()]);

    assert_eq!(s.add_role_to_user(&base, "u1", "ghost").await.unwrap(), RoleResult::UnknownRole);
    assert_eq!(s.add_role_to_user(&base, "u1", "admin").await.unwrap(), RoleResult::Ok(false));
    assert_eq!(s.add_role_to_user(&base, "u1", "admin").await.unwrap(), RoleResult::Ok(true));
    assert_eq!(s.add_role_to_user(&base, "u1", "viewer").await.unwrap(), RoleResult::Ok(false));
    assert_eq!(s.add_role_to_user(&t2, "u2", "admin").await.unwrap(), RoleResult::Ok(false));
    assert!(matches!(
        s.add_role_to_user(&tid("public", "nope"), "u", "admin").await,
        Err(StorageError::TenantOrAppNotFound)
    ));
    assert_eq!(s.roles_of_user(&base, "u1").await.unwrap(), vec!["admin".to_string(), "viewer".into()]);
    assert_eq!(s.users_with_role(&base, "admin").await.unwrap(), Some(vec!["u1".to_string()]));
    assert_eq!(s.users_with_role(&base, "ghost").await.unwrap(), None);
    assert_eq!(s.remove_role_from_user(&base, "u1", "viewer").await.unwrap(), RoleResult::Ok(true));
    assert_eq!(s.remove_role_from_user(&base, "u1", "viewer").await.unwrap(), RoleResult::Ok(false));
    assert_eq!(s.remove_role_from_user(&base, "u1", "ghost").await.unwrap(), RoleResult::UnknownRole);
    assert!(s.delete_role(&app, "admin").await.unwrap());
    assert!(!s.delete_role(&app, "admin").await.unwrap());
    assert!(s.roles_of_user(&base, "u1").await.unwrap().is_empty());
    assert!(s.roles_of_user(&t2, "u2").await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_id_mapping() {
    let Some((_db, s)) = setup("user_id_mapping").await else {
        return;
    };
    let app = AppId::public();
    let base = TenantIdentifier::base();
    s.sign_up_with_password(&base, &uid(1), "a@x.com", "h", 1).await.unwrap();
    s.sign_up_with_password(&base, &uid(2), "b@x.com", "h", 2).await.unwrap();
    let m = |st: &str, ext: &str| UserIdMapping {
        supertokens_user_id: st.into(),
        external_user_id: ext.into(),
        external_user_id_info: None,
    };
    assert_eq!(s.create_user_id_mapping(&app, &m(&uid(1), "ext-1"), false).await.unwrap(), MappingCreate::Ok);
    assert_eq!(
        s.create_user_id_mapping(&app, &m(&uid(1), "ext-x"), false).await.unwrap(),
        MappingCreate::AlreadyExists { supertokens_id_exists: true, external_id_exists: false }
    );
    assert_eq!(
        s.create_user_id_mapping(&app, &m(&uid(2), "ext-1"), false).await.unwrap(),
        MappingCreate::AlreadyExists { supertokens_id_exists: false, external_id_exists: true }
    );
    assert_eq!(
        s.create_user_id_mapping(&app, &m(&uid(9), "ext-9"), false).await.unwrap(),
        MappingCreate::UnknownSuperTokensUserId
    );
    // uid(2) mapped to the external id that equals uid(1): ANY prefers the supertokens match
    assert_eq!(s.create_user_id_mapping(&app, &m(&uid(2), &uid(1)), true).await.unwrap(), MappingCreate::Ok);
    assert_eq!(s.get_user_id_mapping(&app, &uid(1), None).await.unwrap(), Some(m(&uid(1), "ext-1")));
    assert_eq!(s.get_user_id_mapping(&app, &uid(1), Some(false)).await.unwrap(), Some(m(&uid(2), &uid(1))));
    assert_eq!(s.get_user_id_mapping(&app, "ext-1", None).await.unwrap(), Some(m(&uid(1), "ext-1")));
    assert_eq!(s.get_user_id_mapping(&app, "ext-1", Some(true)).await.unwrap(), None);
    assert!(s.update_external_user_id_info(&app, "ext-1", Some(false), Some("info")).await.unwrap());
    assert_eq!(
        s.get_user_id_mapping(&app, &uid(1), Some(true)).await.unwrap().unwrap().external_user_id_info.as_deref(),
        Some("info")
    );
    assert!(s.update_external_user_id_info(&app, "ext-1", None, None).await.unwrap());
    assert!(!s.update_external_user_id_info(&app, "nope", None, None).await.unwrap());
    assert!(s.delete_user_id_mapping(&app, "ext-1", Some(false)).await.unwrap());
    assert!(!s.delete_user_id_mapping(&app, "ext-1", None).await.unwrap());
    assert!(s.delete_user_id_mapping(&app, &uid(1), None).await.unwrap(), "the external-id match remains");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_counting_and_deleting_users() {
    let Some((db, s)) = setup("listing_counting_and_deleting_users").await else {
        return;
    };
    let app = AppId::public();
    let base = TenantIdentifier::base();
    let t2 = tid("public", "t2");
    let emails = ["ann@alpha.com", "bob@beta.com", "carl@alpha.com", "dora@gamma.org", "abe@beta.com"];
    for (i, e) in emails.iter().enumerate() {
        let i = i as u32 + 1;
        s.sign_up_with_password(&base, &uid(i), e, "h", i64::from(i) * 10).await.unwrap();
    }
    s.sign_up_with_password(&t2, &uid(10), "x@y.com", "h", 5).await.unwrap();
    let all = |ascending| UserListQuery { ascending, limit: 100, ..Default::default() };
    let ids = |rows: Vec<(String, i64)>| rows.into_iter().map(|(id, _)| id).collect::<Vec<_>>();

    let asc = s.list_users(&base, &all(true)).await.unwrap();
    assert_eq!(asc, (1..=5).map(|i| (uid(i), i64::from(i) * 10)).collect::<Vec<_>>());
    let desc = ids(s.list_users(&base, &all(false)).await.unwrap());
    assert_eq!(desc, (1..=5).rev().map(uid).collect::<Vec<_>>());
    // paging
    let page1 = s.list_users(&base, &UserListQuery { limit: 2, ..all(true) }).await.unwrap();
    assert_eq!(ids(page1.clone()), vec![uid(1), uid(2)]);
    // A page starts from its cursor, inclusive.
    let from = Some((30, uid(3)));
    let page2 = s.list_users(&base, &UserListQuery { limit: 2, from, ..all(true) }).await.unwrap();
    assert_eq!(ids(page2), vec![uid(3), uid(4)]);
    let from = Some((30, uid(3)));
    let back = s.list_users(&base, &UserListQuery { limit: 2, from, ..all(false) }).await.unwrap();
    assert_eq!(ids(back), vec![uid(3), uid(2)]);
    // filters
    let q = UserListQuery { recipe_ids: vec!["thirdparty".into()], ..all(true) };
    assert!(s.list_users(&base, &q).await.unwrap().is_empty());
    let q = UserListQuery { recipe_ids: vec!["emailpassword".into()], ..all(true) };
    assert_eq!(s.list_users(&base, &q).await.unwrap().len(), 5);
    let q = UserListQuery { email_prefixes: vec!["a".into()], ..all(true) };
    assert_eq!(ids(s.list_users(&base, &q).await.unwrap()), vec![uid(1), uid(3), uid(5)], "prefix or domain");
    let q = UserListQuery { email_prefixes: vec!["beta".into(), "dora".into()], ..all(true) };
    assert_eq!(ids(s.list_users(&base, &q).await.unwrap()), vec![uid(2), uid(4), uid(5)]);
    let q = UserListQuery { phone_prefixes: vec!["+1".into()], ..all(true) };
    assert!(s.list_users(&base, &q).await.unwrap().is_empty());
    assert_eq!(ids(s.list_users(&t2, &all(true)).await.unwrap()), vec![uid(10)]);

    assert_eq!(s.count_users(&app, Some(&base), &[]).await.unwrap(), 5);
    assert_eq!(s.count_users(&app, None, &[]).await.unwrap(), 6);
    assert_eq!(s.count_users(&app, None, &["passwordless".into()]).await.unwrap(), 0);
    s.touch_user_last_active(&app, &uid(1), 100).await.unwrap();
    s.touch_user_last_active(&app, &uid(2), 200).await.unwrap();
    assert_eq!(s.count_active_users(&app, 150).await.unwrap(), 1);

    // every trace of a user goes
    let ids_of_1 = vec![uid(1), "ext-1".to_string()];
    s.create_user_id_mapping(
        &app,
        &UserIdMapping { supertokens_user_id: uid(1), external_user_id: "ext-1".into(), external_user_id_info: None },
        false,
    )
    .await
    .unwrap();
    s.update_user_metadata(&app, "ext-1", &obj(json!({"a": 1}))).await.unwrap();
    s.create_role_or_add_permissions(&app, "r", &[]).await.unwrap();
    s.add_role_to_user(&base, "ext-1", "r").await.unwrap();
    s.set_email_verified(&app, "ext-1", "ann@alpha.com").await.unwrap();
    s.add_password_reset_token(&app, &uid(1), "rt", "ann@alpha.com", 1_000).await.unwrap();
    let session = SessionRow {
        tenant: base.clone(),
        handle: "h1".into(),
        user_id: "ext-1".into(),
        refresh_token_hash_2: "x".into(),
        session_data: json!({}),
        expires_at: i64::MAX,
        created_at: 1,
        jwt_user_payload: json!({}),
        use_static_key: false,
    };
    s.create_session(&session).await.unwrap();
    s.delete_user(&app, &uid(1), &ids_of_1).await.unwrap();
    assert_eq!(s.get_auth_user(&app, &uid(1)).await.unwrap(), None);
    assert_eq!(s.password_user_by_email(&base, "ann@alpha.com").await.unwrap(), None);
    assert_eq!(s.get_user_id_mapping(&app, "ext-1", None).await.unwrap(), None);
    assert_eq!(s.get_user_metadata(&app, "ext-1").await.unwrap(), None);
    assert!(s.roles_of_user(&base, "ext-1").await.unwrap().is_empty());
    assert!(!s.is_email_verified(&app, "ext-1", "ann@alpha.com").await.unwrap());
    assert_eq!(s.consume_password_reset_token(&app, "rt", 0).await.unwrap(), None);
    assert_eq!(s.get_session(&base, "h1").await.unwrap(), None);
    assert_eq!(s.count_active_users(&app, 0).await.unwrap(), 1);
    assert_eq!(s.count_users(&app, Some(&base), &[]).await.unwrap(), 4);
    s.delete_user(&app, &uid(77), &[]).await.unwrap();

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
    assert_eq!(s.list_users(&base, &all(true)).await.unwrap(), vec![(uid(2), 20), (uid(3), 30), (uid(5), 50)]);
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

/// A database created by a Java core 11.x (plugin 9.4: `app_id_to_user_id` without its two time
/// columns, no migration history of ours) is upgraded at start-up, the columns added with 0 (a
/// Java 12 core's marker for its own backfill, which we also write); a login method's time
/// comes from its recipe table.
#[tokio::test]
async fn plugin_9_4_database_is_upgraded() {
    let Some(db) = fresh_db("plugin_9_4_database_is_upgraded").await else { return };
    let base = TenantIdentifier::base();
    {
        let s = PgStorage::connect(&uri_config(&db, json!({}))).await.unwrap();
        assert_eq!(
            s.sign_up_with_password(&base, &uid(1), "old@x.com", "h1", 1234).await.unwrap(),
            SignUpResult::Created
        );
    }
    let client = raw(&db).await;
    client
        .batch_execute(
            "ALTER TABLE app_id_to_user_id DROP COLUMN time_joined, DROP COLUMN primary_or_recipe_user_time_joined;
             DROP TABLE refinery_schema_history;",
        )
        .await
        .unwrap();
    let s = PgStorage::connect(&uri_config(&db, json!({}))).await.expect("starts on a plugin 9.4 database");
    // The two app_id_to_user_id time columns of user n.
    let a2u_times = |n: u32| {
        let client = &client;
        async move {
            let sql =
                "SELECT time_joined, primary_or_recipe_user_time_joined FROM app_id_to_user_id WHERE user_id = $1";
            let row = client.query_one(sql, &[&uid(n)]).await.unwrap();
            (row.get::<_, i64>(0), row.get::<_, i64>(1))
        }
    };
    assert_eq!(a2u_times(1).await, (0, 0), "left for a Java 12 core's backfill");
    // A second start finds the columns and leaves them.
    drop(PgStorage::connect(&uri_config(&db, json!({}))).await.unwrap());
    let user = s.get_auth_user(&AppId::public(), &uid(1)).await.unwrap().unwrap();
    assert_eq!(user.login_methods[0].time_joined, 1234, "read from the recipe table");
    // Our own sign-ups leave the marker too.
    assert_eq!(s.sign_up_with_password(&base, &uid(2), "new@x.com", "h2", 5678).await.unwrap(), SignUpResult::Created);
    assert_eq!(a2u_times(2).await, (0, 0));
    let user = s.get_auth_user(&AppId::public(), &uid(2)).await.unwrap().unwrap();
    assert_eq!(user.login_methods[0].time_joined, 5678);
}
