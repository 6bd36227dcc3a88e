//! [`DashboardStorage`]: dashboard users (an e-mail and an id unique per app, listed oldest
//! first), the update that revokes the user's sessions, sessions that go with their user and
//! their app, and the expiry sweep (`expiry < now`).

use crate::helpers::*;
use st_core::ids::AppId;
use st_core::storage::*;
use std::sync::Arc;

/// A 36-character id (the columns are `CHAR(36)`), distinct per `n`.
fn id(prefix: char, n: u32) -> String {
    format!("{prefix}{n:035}")
}

fn user(n: u32, email: &str, time_joined: i64) -> DashboardUserRow {
    DashboardUserRow {
        user_id: id('u', n),
        email: email.to_string(),
        password_hash: format!("$2a$04$hash{n}"),
        time_joined,
    }
}

fn session(n: u32, user_id: &str, time_created: i64) -> DashboardSessionRow {
    DashboardSessionRow {
        session_id: id('s', n),
        user_id: user_id.to_string(),
        time_created,
        expiry: time_created + 1000,
    }
}

/// Users: created unless the e-mail or the id is taken in the app (another app may reuse
/// both), found by e-mail, listed by join time then id; an unknown app is refused.
async fn users(st: &dyn Storage) {
    let a = AppId::public();
    add_app(st, "a2").await;
    let a2 = app("a2");
    assert_eq!(st.create_dashboard_user(&a, &user(2, "b@x.io", 20)).await.unwrap(), CreateDashboardUserResult::Created);
    assert_eq!(st.create_dashboard_user(&a, &user(1, "a@x.io", 20)).await.unwrap(), CreateDashboardUserResult::Created);
    assert_eq!(st.create_dashboard_user(&a, &user(3, "c@x.io", 10)).await.unwrap(), CreateDashboardUserResult::Created);
    assert_eq!(
        st.create_dashboard_user(&a, &user(4, "a@x.io", 30)).await.unwrap(),
        CreateDashboardUserResult::EmailExists
    );
    assert_eq!(
        st.create_dashboard_user(&a, &user(1, "d@x.io", 30)).await.unwrap(),
        CreateDashboardUserResult::UserIdExists
    );
    // The same e-mail and id in another app.
    assert_eq!(st.create_dashboard_user(&a2, &user(1, "a@x.io", 5)).await.unwrap(), CreateDashboardUserResult::Created);
    assert!(is_not_found(&st.create_dashboard_user(&app("nope"), &user(9, "z@x.io", 1)).await));
    let listed: Vec<String> = st.dashboard_users(&a).await.unwrap().into_iter().map(|u| u.user_id).collect();
    assert_eq!(listed, vec![id('u', 3), id('u', 1), id('u', 2)], "by join time, then id");
    assert_eq!(st.dashboard_users(&a2).await.unwrap(), vec![user(1, "a@x.io", 5)]);
    assert!(st.dashboard_users(&app("nope")).await.unwrap().is_empty());
    assert_eq!(st.dashboard_user_by_email(&a, "a@x.io").await.unwrap(), Some(user(1, "a@x.io", 20)));
    assert_eq!(st.dashboard_user_by_email(&a, "A@x.io").await.unwrap(), None, "exact match");
    assert_eq!(st.dashboard_user_by_email(&a, "d@x.io").await.unwrap(), None);
}

/// An update sets what it is given, keeps the rest and revokes the user's sessions (also when
/// it changes nothing); a taken e-mail changes nothing; an unknown user is told.
async fn update(st: &dyn Storage) {
    let a = AppId::public();
    let (u1, u2) = (user(1, "a@x.io", 1), user(2, "b@x.io", 2));
    for u in [&u1, &u2] {
        st.create_dashboard_user(&a, u).await.unwrap();
    }
    for (n, u) in [(1, &u1), (2, &u1), (3, &u2)] {
        let r = st.create_dashboard_session(&a, &session(n, &u.user_id, 100 + i64::from(n))).await.unwrap();
        assert_eq!(r, CreateDashboardSessionResult::Created);
    }
    let r = st.update_dashboard_user(&a, &u1.user_id, Some("b@x.io"), Some("$2a$04$new")).await.unwrap();
    assert_eq!(r, UpdateDashboardUserResult::EmailExists);
    assert_eq!(st.dashboard_user_by_email(&a, "a@x.io").await.unwrap(), Some(u1.clone()), "nothing changed");
    assert_eq!(st.dashboard_sessions_of_user(&a, &u1.user_id).await.unwrap().len(), 2, "sessions kept");
    let r = st.update_dashboard_user(&a, &u1.user_id, Some("a2@x.io"), None).await.unwrap();
    let expected = DashboardUserRow { email: "a2@x.io".into(), ..u1.clone() };
    assert_eq!(r, UpdateDashboardUserResult::Updated(expected.clone()));
    assert!(st.dashboard_sessions_of_user(&a, &u1.user_id).await.unwrap().is_empty(), "sessions revoked");
    assert_eq!(st.dashboard_sessions_of_user(&a, &u2.user_id).await.unwrap().len(), 1, "not another user's");
    assert_eq!(st.dashboard_user_by_email(&a, "a@x.io").await.unwrap(), None);
    // Its own e-mail again, and a new hash.
    let r = st.update_dashboard_user(&a, &u1.user_id, Some("a2@x.io"), Some("$2a$04$new")).await.unwrap();
    let expected = DashboardUserRow { password_hash: "$2a$04$new".into(), ..expected };
    assert_eq!(r, UpdateDashboardUserResult::Updated(expected.clone()));
    assert_eq!(st.dashboard_user_by_email(&a, "a2@x.io").await.unwrap(), Some(expected));
    // Nothing to change: the sessions go all the same.
    let r = st.update_dashboard_user(&a, &u2.user_id, None, None).await.unwrap();
    assert_eq!(r, UpdateDashboardUserResult::Updated(u2.clone()));
    assert!(st.dashboard_sessions_of_user(&a, &u2.user_id).await.unwrap().is_empty());
    let unknown = id('u', 9);
    assert_eq!(
        st.update_dashboard_user(&a, &unknown, Some("n@x.io"), None).await.unwrap(),
        UpdateDashboardUserResult::UnknownUser
    );
    assert_eq!(
        st.update_dashboard_user(&a, &unknown, None, None).await.unwrap(),
        UpdateDashboardUserResult::UnknownUser
    );
    assert_eq!(
        st.update_dashboard_user(&app("nope"), &u1.user_id, None, None).await.unwrap(),
        UpdateDashboardUserResult::UnknownUser
    );
}

/// Sessions: only of an existing user, one per id; read with the user's e-mail; listed by
/// creation time; revoked; gone with their user and with their app.
async fn sessions(st: &dyn Storage) {
    let a = AppId::public();
    add_app(st, "a2").await;
    let a2 = app("a2");
    let (u1, u2) = (user(1, "a@x.io", 1), user(2, "b@x.io", 2));
    for u in [&u1, &u2] {
        st.create_dashboard_user(&a, u).await.unwrap();
    }
    st.create_dashboard_user(&a2, &u1).await.unwrap();
    let unknown = session(9, &id('u', 9), 1);
    assert_eq!(st.create_dashboard_session(&a, &unknown).await.unwrap(), CreateDashboardSessionResult::UnknownUser);
    let s1 = session(1, &u1.user_id, 300);
    let s2 = session(2, &u1.user_id, 200);
    let s3 = session(3, &u2.user_id, 100);
    for s in [&s1, &s2, &s3] {
        assert_eq!(st.create_dashboard_session(&a, s).await.unwrap(), CreateDashboardSessionResult::Created);
    }
    let taken = DashboardSessionRow { user_id: u2.user_id.clone(), ..s1.clone() };
    assert_eq!(st.create_dashboard_session(&a, &taken).await.unwrap(), CreateDashboardSessionResult::SessionIdExists);
    // The same id in another app, for that app's user.
    assert_eq!(st.create_dashboard_session(&a2, &s1).await.unwrap(), CreateDashboardSessionResult::Created);
    assert_eq!(st.dashboard_session(&a, &s1.session_id).await.unwrap(), Some((s1.clone(), "a@x.io".into())));
    assert_eq!(st.dashboard_session(&a, &s3.session_id).await.unwrap(), Some((s3.clone(), "b@x.io".into())));
    assert_eq!(st.dashboard_session(&a, &id('s', 9)).await.unwrap(), None);
    assert_eq!(st.dashboard_sessions_of_user(&a, &u1.user_id).await.unwrap(), vec![s2.clone(), s1.clone()]);
    assert!(st.dashboard_sessions_of_user(&a, &id('u', 9)).await.unwrap().is_empty());
    assert!(st.revoke_dashboard_session(&a, &s2.session_id).await.unwrap());
    assert!(!st.revoke_dashboard_session(&a, &s2.session_id).await.unwrap());
    assert_eq!(st.dashboard_session(&a, &s2.session_id).await.unwrap(), None);
    // A removed user takes its sessions, in its app only.
    assert!(st.delete_dashboard_user(&a, &u1.user_id).await.unwrap());
    assert!(!st.delete_dashboard_user(&a, &u1.user_id).await.unwrap());
    assert_eq!(st.dashboard_session(&a, &s1.session_id).await.unwrap(), None);
    assert!(st.dashboard_sessions_of_user(&a, &u1.user_id).await.unwrap().is_empty());
    assert_eq!(st.dashboard_session(&a2, &s1.session_id).await.unwrap(), Some((s1.clone(), "a@x.io".into())));
    assert_eq!(st.dashboard_session(&a, &s3.session_id).await.unwrap(), Some((s3, "b@x.io".into())));
    // A removed app takes its users and sessions.
    assert!(st.delete_app(&a2).await.unwrap());
    add_app(st, "a2").await;
    assert!(st.dashboard_users(&a2).await.unwrap().is_empty());
    assert_eq!(st.dashboard_session(&a2, &s1.session_id).await.unwrap(), None);
    assert_eq!(st.create_dashboard_user(&a2, &u1).await.unwrap(), CreateDashboardUserResult::Created);
    assert!(st.dashboard_sessions_of_user(&a2, &u1.user_id).await.unwrap().is_empty());
}

/// The sweep removes every app's sessions whose expiry is before `now`, and no other.
async fn expired_sessions(st: &dyn Storage) {
    add_app(st, "a2").await;
    for a in [AppId::public(), app("a2")] {
        st.create_dashboard_user(&a, &user(1, "a@x.io", 1)).await.unwrap();
        for (n, expiry) in [(1, 1000), (2, 2000), (3, 3000)] {
            let s = DashboardSessionRow { expiry, ..session(n, &id('u', 1), 1) };
            st.create_dashboard_session(&a, &s).await.unwrap();
        }
    }
    assert_eq!(st.delete_expired_dashboard_sessions(1000).await.unwrap(), 0, "expiry == now stays");
    assert_eq!(st.delete_expired_dashboard_sessions(2001).await.unwrap(), 4);
    for a in [AppId::public(), app("a2")] {
        let left: Vec<i64> =
            st.dashboard_sessions_of_user(&a, &id('u', 1)).await.unwrap().iter().map(|s| s.expiry).collect();
        assert_eq!(left, vec![3000]);
    }
    assert_eq!(st.delete_expired_dashboard_sessions(2001).await.unwrap(), 0);
}

/// Concurrent creations of one e-mail: exactly one is created.
async fn concurrent_creations(st: &Arc<dyn Storage>) {
    let mut tasks = Vec::new();
    for n in 0..8 {
        let st = st.clone();
        tasks.push(tokio::spawn(async move {
            st.create_dashboard_user(&AppId::public(), &user(n, "same@x.io", i64::from(n))).await.unwrap()
        }));
    }
    let mut created = 0;
    for t in tasks {
        match t.await.unwrap() {
            CreateDashboardUserResult::Created => created += 1,
            r => assert_eq!(r, CreateDashboardUserResult::EmailExists),
        }
    }
    assert_eq!(created, 1);
    assert_eq!(st.dashboard_users(&AppId::public()).await.unwrap().len(), 1);
}

conformance! {
    users,
    update,
    sessions,
    expired_sessions,
    concurrent_creations,
}
