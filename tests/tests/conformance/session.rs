//! [`SessionStorage`] and the session intents of [`Storage`]: create/get, the atomic
//! read-decide-patch update and its serialisation under concurrency, the one-round-trip
//! intents that resolve the session's user, deletion reporting only existing rows, per-user
//! listing without expired rows, data/payload updates refusing expired rows, the expiry cron.

use crate::helpers::*;
use serde_json::json;
use st_core::ids::{AppId, TenantIdentifier};
use st_core::storage::*;
use std::sync::Mutex;

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// Sign up `u1` and `u2` (`<tag>1@example.com`, `<tag>2@example.com`) in the base tenant and
/// map `u1` to the external id `ext-<tag>`.
async fn two_users_first_mapped(st: &dyn Storage, u1: &str, u2: &str, tag: &str) {
    let (base, a) = (TenantIdentifier::base(), AppId::public());
    for (n, u) in [(1, u1), (2, u2)] {
        let email = format!("{tag}{n}@example.com");
        assert_eq!(
            st.sign_up_with_password(&base, u, &email, "$2a$10$hash", 4 + n).await.unwrap(),
            SignUpResult::Created
        );
    }
    let mapping = UserIdMapping {
        supertokens_user_id: u1.into(),
        external_user_id: format!("ext-{tag}"),
        external_user_id_info: None,
    };
    assert_eq!(st.create_user_id_mapping(&a, &mapping, false).await.unwrap(), MappingCreate::Ok);
}

/// The identity of a user that is its own primary user, with its external id if mapped.
fn own_identity(u: &str, ext: Option<&str>) -> SessionIdentity {
    SessionIdentity {
        recipe_user_id: u.into(),
        primary_user_id: u.into(),
        recipe_external_id: ext.map(Into::into),
        primary_external_id: ext.map(Into::into),
    }
}

async fn sessions_create_and_get(st: &dyn Storage) {
    let base = TenantIdentifier::base();
    add_tenant(st, "public", "t1").await;
    let r = row(&base, "h1", "u1", 1_000);
    st.create_session(&r).await.unwrap();
    assert_eq!(st.get_session(&base, "h1").await.unwrap(), Some(r.clone()), "a row reads back exactly");
    let mut s2 = row(&tid("public", "t1"), "h2_t1", "u1", 2_000);
    s2.use_static_key = true;
    s2.session_data = json!({});
    s2.jwt_user_payload = json!({});
    st.create_session(&s2).await.unwrap();
    assert_eq!(st.get_session(&tid("public", "t1"), "h2_t1").await.unwrap(), Some(s2));
    assert_eq!(st.get_session(&base, "h2_t1").await.unwrap(), None, "sessions are keyed by tenant and handle");
    assert_eq!(st.get_session(&base, "nope").await.unwrap(), None);
    let orphan = st.create_session(&row(&tid("public", "nope"), "h3", "u", 1)).await;
    assert!(is_not_found(&orphan), "{orphan:?}");
}

async fn sessions_atomic_update(st: &dyn Storage) {
    let base = TenantIdentifier::base();
    let original = row(&base, "h1", "u1", 1_000);
    st.create_session(&original).await.unwrap();

    // The decider sees the row; the patch is applied; the row before is returned.
    let seen = Mutex::new(None);
    let decide = |r: &SessionRow| -> Option<SessionPatch> {
        *seen.lock().unwrap() = Some(r.clone());
        Some(SessionPatch {
            refresh_token_hash_2: Some("new".into()),
            expires_at: Some(5_000),
            use_static_key: Some(true),
            prev_refresh_token_hash_2: Some("rth2-h1".into()),
            refresh_token_rotated_at: Some(4_000),
        })
    };
    let before = st.update_session_atomically(&base, "h1", &decide).await.unwrap();
    assert_eq!(before, Some(original.clone()));
    assert_eq!(seen.lock().unwrap().clone(), Some(original.clone()));
    let after = st.get_session(&base, "h1").await.unwrap().unwrap();
    let mut expected = original.clone();
    expected.refresh_token_hash_2 = "new".into();
    expected.expires_at = 5_000;
    expected.use_static_key = true;
    expected.prev_refresh_token_hash_2 = Some("rth2-h1".into());
    expected.refresh_token_rotated_at = Some(4_000);
    assert_eq!(after, expected);

    // No patch: nothing changes, the current row is returned.
    let keep = |_: &SessionRow| -> Option<SessionPatch> { None };
    assert_eq!(st.update_session_atomically(&base, "h1", &keep).await.unwrap(), Some(expected.clone()));
    assert_eq!(st.get_session(&base, "h1").await.unwrap(), Some(expected.clone()));

    // A partial patch leaves the other columns alone.
    let only_expiry = |_: &SessionRow| Some(SessionPatch { expires_at: Some(9_000), ..Default::default() });
    st.update_session_atomically(&base, "h1", &only_expiry).await.unwrap();
    expected.expires_at = 9_000;
    assert_eq!(st.get_session(&base, "h1").await.unwrap(), Some(expected));

    // Missing row: None, and the decider is not asked.
    let called = Mutex::new(false);
    let flag = |_: &SessionRow| -> Option<SessionPatch> {
        *called.lock().unwrap() = true;
        None
    };
    assert_eq!(st.update_session_atomically(&base, "nope", &flag).await.unwrap(), None);
    assert!(!*called.lock().unwrap());

    // Concurrent read-decide-patch is serialised: exactly one caller sees generation 0.
    st.create_session(&SessionRow { refresh_token_hash_2: "gen0".into(), ..row(&base, "race", "u", 1_000) })
        .await
        .unwrap();
    let deciders: Vec<_> = (0..8)
        .map(|i| {
            move |r: &SessionRow| -> Option<SessionPatch> {
                (r.refresh_token_hash_2 == "gen0")
                    .then(|| SessionPatch { refresh_token_hash_2: Some(format!("gen1-{i}")), ..Default::default() })
            }
        })
        .collect();
    let results = join_all(deciders.iter().map(|d| st.update_session_atomically(&base, "race", d)).collect()).await;
    let winners: Vec<usize> = results
        .iter()
        .enumerate()
        .filter(|(_, r)| r.as_ref().unwrap().as_ref().unwrap().refresh_token_hash_2 == "gen0")
        .map(|(i, _)| i)
        .collect();
    assert_eq!(winners.len(), 1, "exactly one update saw the old row: {results:?}");
    let final_row = st.get_session(&base, "race").await.unwrap().unwrap();
    assert_eq!(final_row.refresh_token_hash_2, format!("gen1-{}", winners[0]));
    for (i, r) in results.iter().enumerate() {
        if i != winners[0] {
            assert_eq!(r.as_ref().unwrap().as_ref().unwrap().refresh_token_hash_2, final_row.refresh_token_hash_2);
        }
    }
}

/// The one-round-trip session intents resolve the session's user like `session_identity`,
/// record the reported recipe user as active, and leave the row as `create_session` would.
async fn sessions_resolved_intents(st: &dyn Storage) {
    let base = TenantIdentifier::base();
    let a = AppId::public();
    let uid = "0a0a0a0a-0000-4000-8000-00000000000a";
    assert_eq!(
        st.sign_up_with_password(&base, uid, "r@example.com", "$2a$10$hash", 5).await.unwrap(),
        SignUpResult::Created
    );
    let mapping = UserIdMapping {
        supertokens_user_id: uid.into(),
        external_user_id: "ext-r".into(),
        external_user_id_info: None,
    };
    assert_eq!(st.create_user_id_mapping(&a, &mapping, false).await.unwrap(), MappingCreate::Ok);
    let expected = Some(SessionIdentity {
        recipe_user_id: uid.into(),
        primary_user_id: uid.into(),
        recipe_external_id: Some("ext-r".into()),
        primary_external_id: Some("ext-r".into()),
    });

    // Created with the external id, with the supertokens id, and for an id of no user.
    let mut by_ext = row(&base, "h-ext", "ext-r", 10_000);
    by_ext.created_at = 1_000;
    assert_eq!(st.create_session_resolved(&by_ext, true).await.unwrap(), expected);
    assert_eq!(st.get_session(&base, "h-ext").await.unwrap(), Some(by_ext.clone()));
    assert_eq!(st.count_active_users(&a, 1_000).await.unwrap(), 1, "the external id is recorded");
    let mut by_st = row(&base, "h-st", uid, 10_000);
    by_st.created_at = 2_000;
    assert_eq!(st.create_session_resolved(&by_st, true).await.unwrap(), expected);
    let stored = st.get_session(&base, "h-st").await.unwrap();
    assert_eq!(stored, Some(SessionRow { user_id: "ext-r".into(), ..by_st.clone() }), "kept by external id");
    assert_eq!(st.count_active_users(&a, 0).await.unwrap(), 1, "same user, one last-active row");
    assert_eq!(st.count_active_users(&a, 2_000).await.unwrap(), 1, "its time moved forward");
    // Throttled: stored and resolved, no activity written.
    let mut quiet = row(&base, "h-quiet", uid, 10_000);
    quiet.created_at = 2_500;
    assert_eq!(st.create_session_resolved(&quiet, false).await.unwrap(), expected);
    assert_eq!(st.get_session(&base, "h-quiet").await.unwrap(), Some(SessionRow { user_id: "ext-r".into(), ..quiet }));
    assert_eq!(st.count_active_users(&a, 2_001).await.unwrap(), 0, "no activity when throttled");
    let mut ghost = row(&base, "h-ghost", "nobody", 10_000);
    ghost.created_at = 3_000;
    assert_eq!(st.create_session_resolved(&ghost, true).await.unwrap(), None);
    assert_eq!(st.get_session(&base, "h-ghost").await.unwrap(), Some(ghost));
    assert_eq!(st.count_active_users(&a, 3_000).await.unwrap(), 1, "an unknown id is recorded as given");
    let orphan = st.create_session_resolved(&row(&tid("public", "nope"), "h-o", uid, 1), true).await;
    assert!(is_not_found(&orphan), "{orphan:?}");
    assert_eq!(st.get_session(&tid("public", "nope"), "h-o").await.unwrap(), None);

    // The update intent returns the identity next to the row, with and without a change.
    let read = |h: &'static str, decide: SessionDecider<'static>| async move {
        let got = st.update_session_resolved(&TenantIdentifier::base(), h, decide, None).await.unwrap();
        got.map(|r| {
            assert!(!r.activity_recorded, "{h}: no activity without a touch");
            (r.row, r.identity)
        })
    };
    assert_eq!(read("h-ext", &|_| None).await, Some((by_ext.clone(), expected.clone())));
    let patch: SessionDecider<'static> = &|_| Some(SessionPatch { expires_at: Some(20_000), ..Default::default() });
    let (r, id) = read("h-st", patch).await.unwrap();
    assert_eq!((r.expires_at, id), (10_000, expected.clone()), "the row as it was before the patch");
    assert_eq!(st.get_session(&base, "h-st").await.unwrap().unwrap().expires_at, 20_000);
    assert_eq!(read("h-ghost", &|_| None).await.unwrap().1, None);
    assert!(read("missing", &|_| None).await.is_none());

    // With a touch, a read that judged it recorded activity only for a live row holding one
    // of the given hashes; one that did not (a backend may leave it to the caller) wrote none.
    let app_ref = &a;
    let active_since = move |t: i64| async move { st.count_active_users(app_ref, t).await.unwrap() };
    let cases: [(&str, &[&str], i64, u64); 4] = [
        ("h-ext", &["rth2-other"], 5_000, 0),
        ("h-ext", &["rth2-other", "rth2-h-ext"], 10_001, 0),
        ("h-ext", &["rth2-other", "rth2-h-ext"], 5_000, 1),
        ("h-ghost", &["rth2-h-ghost"], 6_000, 1),
    ];
    for (h, hashes, now, recorded_if_judged) in cases {
        let before = active_since(now).await;
        let touch = TouchIfCurrent { refresh_token_hashes_2: hashes, now_ms: now };
        let got = st.update_session_resolved(&base, h, &|_| None, Some(&touch)).await.unwrap().unwrap();
        let added = if got.activity_recorded { recorded_if_judged } else { 0 };
        assert_eq!(active_since(now).await, before + added, "{h} {hashes:?} at {now}");
    }
}

/// Concurrent session creations (which PostgreSQL shares statements among) each get their
/// own answer: the identity of their user, `None` for an unknown id, and "not found" for
/// a missing tenant, which must not take the other creations of its batch with it.
async fn sessions_concurrent_creations(st: &dyn Storage) {
    let base = TenantIdentifier::base();
    let a = AppId::public();
    let (u1, u2) = ("0b0b0b0b-0000-4000-8000-00000000000b", "0c0c0c0c-0000-4000-8000-00000000000c");
    two_users_first_mapped(st, u1, u2, "c").await;
    for (round, with_orphans) in [(0, true), (1, false)] {
        let rows: Vec<SessionRow> = (0..30)
            .map(|i| {
                let (tenant, user) = match i % 5 {
                    0 => (base.clone(), "ext-c".to_string()),
                    1 => (base.clone(), u1.to_string()),
                    2 => (base.clone(), format!("ghost-{i}")),
                    3 if with_orphans => (tid("public", "nope"), u2.to_string()),
                    _ => (base.clone(), u2.to_string()),
                };
                let mut r = row(&tenant, &format!("c{round}-{i}"), &user, 10_000);
                r.created_at = 100 * (round + 1) + i;
                r
            })
            .collect();
        // The second round records only the ghosts' activity (the others are throttled):
        // a batch mixes rows that write with rows that do not.
        let record = |i: usize| round == 0 || i % 5 == 2;
        let results =
            join_all(rows.iter().enumerate().map(|(i, r)| st.create_session_resolved(r, record(i))).collect()).await;
        for (r, got) in rows.iter().zip(results) {
            let stored = st.get_session(&r.tenant, &r.handle).await.unwrap();
            if r.tenant.tenant.as_str() == "nope" {
                assert!(is_not_found(&got), "{}: {got:?}", r.handle);
                assert_eq!(stored, None);
                continue;
            }
            let want = match r.user_id.as_str() {
                "ext-c" => Some(own_identity(u1, Some("ext-c"))),
                u if u == u1 => Some(own_identity(u1, Some("ext-c"))),
                u if u == u2 => Some(own_identity(u2, None)),
                _ => None,
            };
            assert_eq!(got.unwrap(), want, "{}", r.handle);
            // As the reference: a mapped user's session is stored under its external id.
            let user_id = if r.user_id == u1 { "ext-c".to_string() } else { r.user_id.clone() };
            assert_eq!(stored, Some(SessionRow { user_id, ..r.clone() }), "{} stored", r.handle);
        }
    }
    // u1 (by either id), u2 and the six ghost ids. Each one's activity is the time of one of
    // its recorded creations: which one depends on the order concurrent statements commit
    // in, as with the reference's unconditional upsert. The first round's are 100..=129;
    // the second round's (200..=229) only the ghosts'.
    assert_eq!(st.count_active_users(&a, 0).await.unwrap(), 8);
    assert_eq!(st.count_active_users(&a, 100).await.unwrap(), 8);
    assert_eq!(st.count_active_users(&a, 130).await.unwrap(), 6, "the second round recorded the ghosts only");
    assert_eq!(st.count_active_users(&a, 200).await.unwrap(), 6);
    assert_eq!(st.count_active_users(&a, 230).await.unwrap(), 0);
}

/// Many refresh reads at once (on PostgreSQL they share statements): each gets its own
/// session with its user, a change asked for lands on the locked row, and the reads that
/// say they judged the activity recorded exactly those that accept the stored hash of a
/// live row (the others leave it to the caller and write none).
async fn sessions_concurrent_refresh_reads(st: &dyn Storage) {
    let base = TenantIdentifier::base();
    let a = AppId::public();
    let (u1, u2) = ("0d0d0d0d-0000-4000-8000-00000000000d", "0e0e0e0e-0000-4000-8000-00000000000e");
    two_users_first_mapped(st, u1, u2, "d").await;
    // Six sessions: u1 by its external id, u2 (twice), an unknown user, an expired one of
    // u2, and a child waiting for promotion.
    let sessions = [
        row(&base, "r-ext", "ext-d", 10_000),
        row(&base, "r-u2a", u2, 10_000),
        row(&base, "r-u2b", u2, 10_000),
        row(&base, "r-ghost", "ghost-r", 10_000),
        row(&base, "r-old", u2, 1_000),
        row(&base, "r-child", u1, 10_000),
    ];
    for r in &sessions {
        st.create_session(r).await.unwrap();
    }
    // (handle, presented hash, parent's hash, expected identity); time 5_000.
    let current = |h: &str| format!("rth2-{h}");
    let mut reads: Vec<(String, String, Option<String>)> = Vec::new();
    for i in 0..36 {
        let read = match i % 9 {
            0 => ("r-ext".to_string(), current("r-ext"), None),
            1 => ("r-u2a".to_string(), current("r-u2a"), None),
            2 => ("r-u2b".to_string(), "rth2-stolen".to_string(), None),
            3 => ("r-ghost".to_string(), current("r-ghost"), None),
            4 => ("r-old".to_string(), current("r-old"), None),
            5 => ("r-missing".to_string(), current("r-missing"), None),
            6 => ("r-child".to_string(), "rth2-new".to_string(), Some(current("r-child"))),
            7 => ("r-u2b".to_string(), "rth2-other".to_string(), Some("rth2-parent".to_string())),
            _ => ("r-ext".to_string(), "rth2-x".to_string(), Some(current("r-ext"))),
        };
        reads.push(read);
    }
    let promote = |r: &SessionRow| {
        (r.refresh_token_hash_2 == "rth2-r-child")
            .then(|| SessionPatch { refresh_token_hash_2: Some("rth2-new".into()), ..Default::default() })
    };
    let (base_ref, promote_ref) = (&base, &promote);
    let results = join_all(
        reads
            .iter()
            .map(|(h, cur, parent)| async move {
                let mut accepted = vec![cur.as_str()];
                accepted.extend(parent.as_deref());
                let touch = TouchIfCurrent { refresh_token_hashes_2: &accepted, now_ms: 5_000 };
                st.update_session_resolved(base_ref, h, promote_ref, Some(&touch)).await
            })
            .collect(),
    )
    .await;
    let mut active = std::collections::BTreeSet::new();
    for ((h, cur, parent), got) in reads.iter().zip(results) {
        let got = got.unwrap();
        if h == "r-missing" {
            assert_eq!(got, None);
            continue;
        }
        let ResolvedSession { row: r, identity, activity_recorded } =
            got.unwrap_or_else(|| panic!("{h}: session not found"));
        let mut accepted = vec![cur.as_str()];
        accepted.extend(parent.as_deref());
        if activity_recorded && (TouchIfCurrent { refresh_token_hashes_2: &accepted, now_ms: 5_000 }).matches(&r) {
            active.insert(SessionIdentity::active_user(identity.as_ref(), &r.user_id));
        }
        let want = sessions.iter().find(|s| &s.handle == h).unwrap();
        let want_identity = match want.user_id.as_str() {
            "ext-d" => Some(own_identity(u1, Some("ext-d"))),
            u if u == u1 => Some(own_identity(u1, Some("ext-d"))),
            u if u == u2 => Some(own_identity(u2, None)),
            _ => None,
        };
        assert_eq!(identity, want_identity, "{h}");
        if h == "r-child" {
            // Before or after the first promotion, depending on the order of the reads.
            assert!(["rth2-r-child", "rth2-new"].contains(&r.refresh_token_hash_2.as_str()), "{r:?}");
            assert_eq!(SessionRow { refresh_token_hash_2: want.refresh_token_hash_2.clone(), ..r }, *want);
        } else {
            assert_eq!(&r, want, "{h}: the stored row");
        }
    }
    let child = st.get_session(&base, "r-child").await.unwrap().unwrap();
    assert_eq!(child.refresh_token_hash_2, "rth2-new", "the child was promoted");
    // Activity could only be u1 (by its external id, and through the child), u2 (r-u2a;
    // r-u2b only with a wrong hash, r-old expired) and the unknown user.
    assert!(active.iter().all(|u| [u1, u2, "ghost-r"].contains(&u.as_str())), "{active:?}");
    assert_eq!(st.count_active_users(&a, 5_000).await.unwrap(), active.len() as u64, "{active:?}");
    assert_eq!(st.count_active_users(&a, 5_001).await.unwrap(), 0);
}

async fn sessions_delete_and_list(st: &dyn Storage) {
    let (p, t1) = (TenantIdentifier::base(), tid("public", "t1"));
    add_tenant(st, "public", "t1").await;
    add_app(st, "a1").await;
    let a1 = tid("a1", "public");
    st.create_session(&row(&p, "p-u1-old", "u1", 1_000)).await.unwrap();
    st.create_session(&row(&p, "p-u1", "u1", 3_000)).await.unwrap();
    st.create_session(&row(&t1, "t1-u1", "u1", 3_000)).await.unwrap();
    st.create_session(&row(&p, "p-u2", "u2", 3_000)).await.unwrap();
    st.create_session(&row(&a1, "a1-u1", "u1", 3_000)).await.unwrap();
    let handles = |v: Vec<(TenantIdentifier, String)>| sorted(v.into_iter().map(|(_, h)| h).collect());
    let public_app = AppId::public();

    let all = st.session_handles_for_users(&public_app, None, &["u1".into()], 500).await.unwrap();
    assert_eq!(handles(all.clone()), vec!["p-u1", "p-u1-old", "t1-u1"], "all tenants of the app, no other app");
    assert!(all.contains(&(t1.clone(), "t1-u1".to_string())), "each handle comes with its tenant: {all:?}");
    let live = st.session_handles_for_users(&public_app, None, &["u1".into()], 2_000).await.unwrap();
    assert_eq!(handles(live), vec!["p-u1", "t1-u1"], "expired sessions are left out");
    // As the reference's `expires_at >= now`: a session expiring at this very millisecond is listed.
    let edge = st.session_handles_for_users(&public_app, Some(&p), &["u1".into()], 1_000).await.unwrap();
    assert_eq!(handles(edge), vec!["p-u1", "p-u1-old"]);
    let past = st.session_handles_for_users(&public_app, Some(&p), &["u1".into()], 1_001).await.unwrap();
    assert_eq!(handles(past), vec!["p-u1"]);
    let one = st.session_handles_for_users(&public_app, Some(&t1), &["u1".into()], 2_000).await.unwrap();
    assert_eq!(one, vec![(t1.clone(), "t1-u1".to_string())]);
    let two = st.session_handles_for_users(&public_app, Some(&p), &["u1".into(), "u2".into()], 2_000).await.unwrap();
    assert_eq!(handles(two), vec!["p-u1", "p-u2"]);
    assert!(st.session_handles_for_users(&public_app, None, &[], 0).await.unwrap().is_empty());
    assert_eq!(
        handles(st.session_handles_for_users(&app("a1"), None, &["u1".into()], 0).await.unwrap()),
        vec!["a1-u1"]
    );

    // Deleting reports only rows that existed.
    let gone = st
        .delete_sessions(
            &public_app,
            &[
                (p.clone(), "p-u1".into()),
                (p.clone(), "missing".into()),
                (t1.clone(), "t1-u1".into()),
                (p.clone(), "t1-u1".into()), // right handle, wrong tenant
            ],
        )
        .await
        .unwrap();
    assert_eq!(sorted(gone), vec!["p-u1", "t1-u1"]);
    assert_eq!(st.get_session(&p, "p-u1").await.unwrap(), None);
    assert_eq!(st.get_session(&t1, "t1-u1").await.unwrap(), None);
    assert!(st.get_session(&p, "p-u2").await.unwrap().is_some(), "others stay");
    assert_eq!(st.delete_sessions(&public_app, &[(p.clone(), "p-u1".into())]).await.unwrap(), Vec::<String>::new());
    assert_eq!(st.delete_sessions(&public_app, &[]).await.unwrap(), Vec::<String>::new());
}

async fn sessions_data_updates(st: &dyn Storage) {
    let base = TenantIdentifier::base();
    st.create_session(&row(&base, "h", "u", 1_000)).await.unwrap();
    let data = json!({"new": [true]});
    assert!(st.update_session_data(&base, "h", &data, 999).await.unwrap());
    assert!(st.update_jwt_payload(&base, "h", &json!({"p": 1}), 999).await.unwrap());
    let r = st.get_session(&base, "h").await.unwrap().unwrap();
    assert_eq!((r.session_data, r.jwt_user_payload), (data.clone(), json!({"p": 1})));
    assert_eq!((r.refresh_token_hash_2.as_str(), r.expires_at), ("rth2-h", 1_000), "nothing else changed");

    // Expired (expires_at <= now) and missing sessions are not updated.
    assert!(!st.update_session_data(&base, "h", &json!({"late": 1}), 1_000).await.unwrap());
    assert!(!st.update_jwt_payload(&base, "h", &json!({"late": 1}), 1_000).await.unwrap());
    let r = st.get_session(&base, "h").await.unwrap().unwrap();
    assert_eq!((r.session_data, r.jwt_user_payload), (data, json!({"p": 1})));
    assert!(!st.update_session_data(&base, "nope", &json!({}), 0).await.unwrap());
    assert!(!st.update_jwt_payload(&base, "nope", &json!({}), 0).await.unwrap());
}

async fn sessions_expiry_cleanup(st: &dyn Storage) {
    let base = TenantIdentifier::base();
    add_tenant(st, "public", "t1").await;
    st.create_session(&row(&base, "e1", "u", 1_000)).await.unwrap();
    st.create_session(&row(&tid("public", "t1"), "e2", "u", 2_000)).await.unwrap();
    st.create_session(&row(&base, "e3", "u", 3_000)).await.unwrap();
    assert_eq!(st.delete_expired_sessions(999).await.unwrap(), 0);
    assert_eq!(st.delete_expired_sessions(2_000).await.unwrap(), 2, "expires_at <= now is expired");
    assert_eq!(st.get_session(&base, "e1").await.unwrap(), None);
    assert_eq!(st.get_session(&tid("public", "t1"), "e2").await.unwrap(), None);
    assert!(st.get_session(&base, "e3").await.unwrap().is_some());
    st.touch_user_last_active(&AppId::public(), "u", 5).await.unwrap();
    st.touch_user_last_active(&AppId::public(), "u", 6).await.unwrap();
}

conformance! {
    sessions_create_and_get,
    sessions_atomic_update,
    sessions_resolved_intents,
    sessions_concurrent_creations,
    sessions_concurrent_refresh_reads,
    sessions_delete_and_list,
    sessions_data_updates,
    sessions_expiry_cleanup,
}
