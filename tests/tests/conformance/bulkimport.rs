//! [`BulkImportStorage`]: the queue (add, pages, counts, removal), the import of one user whole
//! or not at all, and the job's claims: disjoint for concurrent claimers, re-claimable after
//! the timeout when a claimer died, and settled only by the claim a row still carries.

use crate::helpers::*;
use serde_json::json;
use st_core::ids::AppId;
use st_core::storage::*;
use std::sync::Arc;

fn ep(id: &str, email: &str, tenants: &[&str], t: i64) -> ImportLoginMethod {
    ImportLoginMethod {
        recipe_id: "emailpassword".into(),
        recipe_user_id: id.into(),
        tenant_ids: tenants.iter().map(|s| s.to_string()).collect(),
        time_joined: t,
        email: Some(email.into()),
        password_hash: Some("$2a$04$abcdefghijklmnopqrstuuS7Ktl6Mv4YG6i0u/7ue5C3tmZ6ZBYOy".into()),
        third_party: None,
        phone_number: None,
        verified: false,
    }
}

fn tp(id: &str, email: &str, provider_uid: &str, t: i64) -> ImportLoginMethod {
    ImportLoginMethod {
        recipe_id: "thirdparty".into(),
        email: Some(email.into()),
        password_hash: None,
        third_party: Some(("google".into(), provider_uid.into())),
        ..ep(id, email, &["public"], t)
    }
}

fn pl(id: &str, phone: &str, t: i64) -> ImportLoginMethod {
    ImportLoginMethod {
        recipe_id: "passwordless".into(),
        email: None,
        password_hash: None,
        phone_number: Some(phone.into()),
        ..ep(id, "", &["public"], t)
    }
}

fn plan(methods: Vec<ImportLoginMethod>) -> ImportPlan {
    ImportPlan {
        main_user_id: methods[0].recipe_user_id.clone(),
        methods,
        linked: false,
        external_user_id: None,
        metadata: None,
        roles: Vec::new(),
        totp_devices: Vec::new(),
    }
}

/// Rows queued, paged newest first (created_at DESC, id DESC) from a position, counted by
/// status, removed; a taken id writes nothing.
async fn queue(st: &dyn Storage) {
    let app = AppId::public();
    let rows: Vec<(String, String)> = (0..5).map(|i| (uid(i), format!("{{\"n\":{i}}}"))).collect();
    assert!(st.add_bulk_import_rows(&app, &rows[..3], 10).await.unwrap());
    assert!(st.add_bulk_import_rows(&app, &rows[3..], 20).await.unwrap());
    assert!(!st.add_bulk_import_rows(&app, &[(uid(9), "{}".into()), (uid(0), "{}".into())], 30).await.unwrap());
    assert_eq!(st.count_bulk_import_rows(&app, None).await.unwrap(), 5);
    assert_eq!(st.count_bulk_import_rows(&app, Some(BulkImportStatus::New)).await.unwrap(), 5);
    assert_eq!(st.count_bulk_import_rows(&app, Some(BulkImportStatus::Failed)).await.unwrap(), 0);
    let page = st.bulk_import_rows(&app, None, 3, None).await.unwrap();
    let ids: Vec<&str> = page.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, vec![uid(4).as_str(), uid(3).as_str(), uid(2).as_str()]);
    assert_eq!(page[0].raw_data, "{\"n\":4}");
    assert_eq!((page[0].status, page[0].created_at, page[0].updated_at), (BulkImportStatus::New, 20, 20));
    let next = st.bulk_import_rows(&app, Some(BulkImportStatus::New), 3, Some((10, uid(1)))).await.unwrap();
    assert_eq!(next.iter().map(|r| r.id.clone()).collect::<Vec<_>>(), vec![uid(1), uid(0)]);
    let deleted = st.delete_bulk_import_rows(&app, &[uid(0), "nope".into()]).await.unwrap();
    assert_eq!(deleted, vec![uid(0)]);
    assert_eq!(st.count_bulk_import_rows(&app, None).await.unwrap(), 4);
}

/// A user is imported whole; a refused one (an e-mail taken in a tenant) writes nothing.
async fn import_is_whole(st: &dyn Storage) {
    add_tenant(st, "public", "t1").await;
    let app = AppId::public();
    st.create_role_or_add_permissions(&app, "admin", &[]).await.unwrap();
    let mut p = plan(vec![ep(&uid(1), "a@x.com", &["public", "t1"], 5)]);
    p.external_user_id = Some("ext-1".into());
    p.metadata = Some(obj(json!({"k": 1})));
    p.roles = vec![("t1".into(), "admin".into())];
    assert_eq!(st.import_user(&app, &p, 100).await.unwrap(), ImportOutcome::Imported);
    let u = st.get_auth_user(&app, &uid(1)).await.unwrap().unwrap();
    assert_eq!(u.login_methods[0].tenant_ids.len(), 2);
    assert_eq!(st.get_user_metadata(&app, "ext-1").await.unwrap(), Some(obj(json!({"k": 1}))));
    assert_eq!(st.roles_of_user(&tid("public", "t1"), "ext-1").await.unwrap(), vec!["admin".to_string()]);
    // The second login method's e-mail is taken in t1: nothing of the user is written.
    let mut second = plan(vec![ep(&uid(2), "b@x.com", &["public"], 5), ep(&uid(3), "a@x.com", &["t1"], 6)]);
    second.external_user_id = Some("ext-2".into());
    assert_eq!(
        st.import_user(&app, &second, 100).await.unwrap(),
        ImportOutcome::Refused(vec![
            "E003: A user with email a@x.com already exists in emailpassword loginMethod.".into()
        ])
    );
    assert!(st.get_auth_user(&app, &uid(2)).await.unwrap().is_none());
    assert!(st.get_user_id_mapping(&app, "ext-2", UserIdType::Any).await.unwrap().is_none());
    // A taken external id refuses too.
    let mut third = plan(vec![ep(&uid(4), "c@x.com", &["public"], 5)]);
    third.external_user_id = Some("ext-1".into());
    assert_eq!(
        st.import_user(&app, &third, 100).await.unwrap(),
        ImportOutcome::Refused(vec!["E031: A user with externalId ext-1 already exists".into()])
    );
    assert!(st.get_auth_user(&app, &uid(4)).await.unwrap().is_none());
}

/// Claims take `NEW` rows; a row claimed by a claimer that died is claimed again only after
/// the timeout, and only the claim a row carries settles it: the user is imported once.
async fn claims_survive_a_dead_claimer(st: &dyn Storage) {
    let app = AppId::public();
    let rows: Vec<(String, String)> = (1..=3).map(|i| (uid(i), "{}".to_string())).collect();
    st.add_bulk_import_rows(&app, &rows, 10).await.unwrap();
    let first = st.claim_bulk_import_rows(&app, 2, 100, 100 - 1000).await.unwrap();
    assert_eq!(first.iter().map(|r| r.id.clone()).collect::<Vec<_>>(), vec![uid(1), uid(2)]);
    assert!(first.iter().all(|r| r.status == BulkImportStatus::Processing && r.updated_at == 100));
    // The claimer dies. Before the timeout only the third row is claimable.
    let second = st.claim_bulk_import_rows(&app, 10, 600, 600 - 1000).await.unwrap();
    assert_eq!(second.iter().map(|r| r.id.clone()).collect::<Vec<_>>(), vec![uid(3)]);
    assert_eq!(st.count_bulk_import_rows(&app, Some(BulkImportStatus::Processing)).await.unwrap(), 3);
    // After it, the dead claimer's rows are claimed again.
    let third = st.claim_bulk_import_rows(&app, 10, 1200, 1200 - 1000).await.unwrap();
    assert_eq!(third.iter().map(|r| r.id.clone()).collect::<Vec<_>>(), vec![uid(1), uid(2)]);
    // The dead claimer's late settlement is ignored; the new claim imports each user once.
    let import =
        |n: u32| (uid(n), RowAction::Import(Box::new(plan(vec![ep(&uid(n), &format!("{n}@x.com"), &["public"], 1)]))));
    let late = st.finish_bulk_import_rows(&app, 100, &[import(1)], 2100).await.unwrap();
    assert_eq!(late.skipped, vec![uid(1)]);
    assert!(st.get_auth_user(&app, &uid(1)).await.unwrap().is_none());
    let done = st
        .finish_bulk_import_rows(&app, 1200, &[import(1), (uid(2), RowAction::Fail("[bad]".into()))], 2100)
        .await
        .unwrap();
    assert_eq!(done.imported, vec![uid(1)]);
    assert_eq!(done.failed, vec![(uid(2), "[bad]".to_string())]);
    assert!(st.get_auth_user(&app, &uid(1)).await.unwrap().is_some());
    let failed = st.bulk_import_rows(&app, Some(BulkImportStatus::Failed), 10, None).await.unwrap();
    assert_eq!(
        (failed[0].id.clone(), failed[0].error_msg.as_deref(), failed[0].updated_at),
        (uid(2), Some("[bad]"), 2100)
    );
    // Settled again (a retry of the same settlement): nothing more happens.
    let again = st.finish_bulk_import_rows(&app, 1200, &[import(1)], 2200).await.unwrap();
    assert_eq!(again.skipped, vec![uid(1)]);
    // A refused import in a settlement fails its row alone.
    let dup = (uid(3), RowAction::Import(Box::new(plan(vec![ep(&uid(30), "1@x.com", &["public"], 1)]))));
    let r = st.finish_bulk_import_rows(&app, 600, &[dup], 2300).await.unwrap();
    assert_eq!(
        r.failed,
        vec![(uid(3), "E003: A user with email 1@x.com already exists in emailpassword loginMethod.".to_string())]
    );
    assert_eq!(st.count_bulk_import_rows(&app, None).await.unwrap(), 2);
}

/// Concurrent claimers get disjoint rows.
async fn concurrent_claims_are_disjoint(st: &Arc<dyn Storage>) {
    let app = AppId::public();
    let rows: Vec<(String, String)> = (1..=40).map(|i| (uid(i), "{}".to_string())).collect();
    st.add_bulk_import_rows(&app, &rows, 10).await.unwrap();
    let claims = join_all((0..4).map(|i| st.claim_bulk_import_rows(&app, 15, 100 + i, 0)).collect()).await;
    let mut all: Vec<String> = claims.into_iter().flat_map(|c| c.unwrap()).map(|r| r.id).collect();
    let n = all.len();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), n, "a row was claimed twice");
    assert_eq!(n, 40);
}

/// One settlement of many users, a few of them refused: a user whose e-mail an existing user
/// holds, one whose id is taken, one whose external id is taken, one whose phone number an
/// earlier user of the same chunk took, two sharing an e-mail (the first in row order wins), a
/// primary user whose e-mail an existing primary user holds in its tenant. Each refused row
/// fails alone with the reference's message; every other user is imported with all its rows.
async fn chunk_with_refused_users(st: &dyn Storage) {
    let app = AppId::public();
    st.create_role_or_add_permissions(&app, "admin", &[]).await.unwrap();
    let mut existing = plan(vec![ep(&uid(1000), "taken@x.com", &["public"], 1)]);
    existing.external_user_id = Some("ext-taken".into());
    assert_eq!(st.import_user(&app, &existing, 10).await.unwrap(), ImportOutcome::Imported);
    let mut primary = plan(vec![tp(&uid(1001), "prim@x.com", "p-1001", 1)]);
    primary.linked = true;
    assert_eq!(st.import_user(&app, &primary, 10).await.unwrap(), ImportOutcome::Imported);

    let rows: Vec<(String, String)> = (1..=30).map(|i| (uid(i), "{}".to_string())).collect();
    st.add_bulk_import_rows(&app, &rows, 20).await.unwrap();
    assert_eq!(st.claim_bulk_import_rows(&app, 30, 100, 0).await.unwrap().len(), 30);
    let mut expected_failed = Vec::new();
    let actions: Vec<(String, RowAction)> = (1..=30u32)
        .map(|n| {
            let id = uid(n);
            let mut p = match n {
                3 => plan(vec![ep(&id, "taken@x.com", &["public"], 1)]),
                5 | 9 => plan(vec![ep(&id, "dup@x.com", &["public"], 1)]),
                7 => plan(vec![pl(&id, "+14155550100", 1)]),
                8 => plan(vec![pl(&id, "+14155550100", 1)]),
                12 => plan(vec![tp(&id, "prim@x.com", "p-12", 1), tp(&uid(112), "other@x.com", "p-112", 2)]),
                14 => plan(vec![ep(&uid(1000), "fourteen@x.com", &["public"], 1)]),
                16 => plan(vec![ep(&id, "sixteen@x.com", &["public"], 1)]),
                n if n % 3 == 0 => plan(vec![tp(&id, &format!("{n}@x.com"), &format!("g{n}"), 1)]),
                n if n % 5 == 0 => plan(vec![
                    ep(&id, &format!("{n}@x.com"), &["public"], 2),
                    tp(&uid(100 + n), &format!("{n}@x.com"), &format!("g{n}"), 1),
                ]),
                _ => plan(vec![ep(&id, &format!("{n}@x.com"), &["public"], 1)]),
            };
            match n {
                3 => expected_failed.push((
                    id.clone(),
                    "E003: A user with email taken@x.com already exists in emailpassword loginMethod.",
                )),
                8 => expected_failed.push((
                    id.clone(),
                    "E007: A user with phoneNumber +14155550100 already exists in passwordless loginMethod.",
                )),
                9 => expected_failed.push((
                    id.clone(),
                    "E003: A user with email dup@x.com already exists in emailpassword loginMethod.",
                )),
                12 => {
                    p.linked = true;
                    expected_failed.push((id.clone(), ""));
                }
                14 => expected_failed.push((id.clone(), "")),
                5 => {}
                16 => {
                    p.external_user_id = Some("ext-taken".into());
                    expected_failed.push((id.clone(), "E031: A user with externalId ext-taken already exists"));
                }
                n if n % 5 == 0 && n % 3 != 0 => {
                    p.main_user_id = id.clone();
                    p.linked = true;
                    p.external_user_id = Some(format!("ext-{n}"));
                    p.metadata = Some(obj(json!({"n": n})));
                    p.roles = vec![("public".into(), "admin".into())];
                    p.methods[1].verified = true;
                }
                _ => {}
            }
            (id, RowAction::Import(Box::new(p)))
        })
        .collect();
    let report = st.finish_bulk_import_rows(&app, 100, &actions, 200).await.unwrap();
    let e022 = format!(
        "E022: We tried to create the primary user for the userId {} but the account info is already associated \
         with another primary user.",
        uid(12)
    );
    let e000 = format!("E000: A user with id {} already exists.", uid(1000));
    let expected_failed: Vec<(String, String)> = expected_failed
        .into_iter()
        .map(|(id, m)| {
            let m = match m {
                "" if id == uid(12) => e022.clone(),
                "" => e000.clone(),
                m => m.to_string(),
            };
            (id, m)
        })
        .collect();
    assert_eq!(report.failed, expected_failed);
    let failed_ids: Vec<&String> = expected_failed.iter().map(|(id, _)| id).collect();
    let expected_imported: Vec<String> = (1..=30).map(uid).filter(|id| !failed_ids.contains(&id)).collect();
    assert_eq!(report.imported, expected_imported);
    assert!(report.skipped.is_empty());
    // The queue keeps only the failed rows, with their messages.
    assert_eq!(st.count_bulk_import_rows(&app, None).await.unwrap(), 6);
    let failed = st.bulk_import_rows(&app, Some(BulkImportStatus::Failed), 10, None).await.unwrap();
    assert!(failed.iter().any(|r| r.id == uid(3) && r.error_msg.as_deref() == Some(expected_failed[0].1.as_str())));
    // Every imported user is whole; the refused ones wrote nothing.
    assert_eq!(
        st.get_auth_user(&app, &uid(5)).await.unwrap().unwrap().login_methods[0].email.as_deref(),
        Some("dup@x.com")
    );
    assert!(st.get_auth_user(&app, &uid(9)).await.unwrap().is_none());
    assert!(st.get_auth_user(&app, &uid(112)).await.unwrap().is_none());
    assert!(st.get_auth_user(&app, &uid(16)).await.unwrap().is_none());
    assert!(st.get_auth_user(&app, &uid(7)).await.unwrap().is_some());
    let linked = st.get_auth_user(&app, &uid(110)).await.unwrap().unwrap();
    assert_eq!((linked.id.as_str(), linked.is_primary, linked.login_methods.len()), (uid(10).as_str(), true, 2));
    assert_eq!(st.get_user_metadata(&app, "ext-10").await.unwrap(), Some(obj(json!({"n": 10}))));
    assert_eq!(st.roles_of_user(&tid("public", "public"), "ext-10").await.unwrap(), vec!["admin".to_string()]);
    let mapped = st.get_user_id_mapping(&app, "ext-25", UserIdType::External).await.unwrap().unwrap();
    assert_eq!(mapped.supertokens_user_id, uid(25));
    for n in [1, 2, 4, 6, 11, 13, 29, 30] {
        assert!(st.get_auth_user(&app, &uid(n)).await.unwrap().is_some(), "user {n}");
    }
}

conformance!(
    queue,
    import_is_whole,
    claims_survive_a_dead_claimer,
    concurrent_claims_are_disjoint,
    chunk_with_refused_users
);
