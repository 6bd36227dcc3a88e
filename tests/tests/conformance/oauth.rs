//! [`OAuthStorage`]: clients created once per id, read with their configuration, updated by a
//! decision under the lock (no lost update), listed by id with the name filter, removed with
//! their app; the tokens' bookkeeping (jtis live until revoked by token, client or session, or
//! the client's removal).

use crate::helpers::*;
use serde_json::json;
use st_core::storage::*;
use std::sync::Arc;

fn client(id: &str, name: &str) -> OAuthClientRow {
    OAuthClientRow {
        client_id: id.into(),
        client_secret: Some(format!("enc-{id}")),
        is_client_credentials_only: false,
        enable_refresh_token_rotation: false,
        config: Some(obj(json!({"clientId": id, "clientName": name, "n": 0}))),
    }
}

/// Create, duplicate, read, refused and applied updates, removal; an unknown app.
async fn oauth_clients(st: &dyn Storage) {
    let a = app("public");
    assert!(st.create_oauth_client(&a, &client("c1", "web")).await.unwrap());
    let mut other = client("c1", "other");
    other.client_secret = None;
    assert!(!st.create_oauth_client(&a, &other).await.unwrap(), "the id is taken");
    assert_eq!(st.get_oauth_client(&a, "c1").await.unwrap(), Some(client("c1", "web")));
    assert_eq!(st.get_oauth_client(&a, "c2").await.unwrap(), None);

    let refuse = |_: &OAuthClientRow| -> Result<OAuthClientRow, OAuthRefusal> {
        Err(OAuthRefusal { error: "e".into(), description: "d".into(), status_code: 400 })
    };
    assert!(matches!(st.update_oauth_client(&a, "c1", &refuse).await.unwrap(), ClientUpdateOutcome::Refused(_)));
    assert_eq!(st.get_oauth_client(&a, "c1").await.unwrap(), Some(client("c1", "web")), "nothing written");
    let rotate = |c: &OAuthClientRow| -> Result<OAuthClientRow, OAuthRefusal> {
        let mut c = c.clone();
        c.enable_refresh_token_rotation = true;
        c.is_client_credentials_only = true;
        c.client_secret = None;
        Ok(c)
    };
    let ClientUpdateOutcome::Updated(new) = st.update_oauth_client(&a, "c1", &rotate).await.unwrap() else {
        panic!("updated")
    };
    assert_eq!(st.get_oauth_client(&a, "c1").await.unwrap(), Some(new.clone()));
    assert!(new.enable_refresh_token_rotation && new.is_client_credentials_only && new.client_secret.is_none());
    assert_eq!(st.update_oauth_client(&a, "c2", &rotate).await.unwrap(), ClientUpdateOutcome::NotFound);

    assert!(is_not_found(&st.create_oauth_client(&app("nope"), &client("x", "x")).await));
    assert!(st.delete_oauth_client(&a, "c1").await.unwrap());
    assert!(!st.delete_oauth_client(&a, "c1").await.unwrap());
    assert_eq!(st.get_oauth_client(&a, "c1").await.unwrap(), None);
}

/// Concurrent updates of one client each see the one before: none is lost.
async fn oauth_client_updates_serialise(st: &Arc<dyn Storage>) {
    let a = app("public");
    st.create_oauth_client(&a, &client("c", "web")).await.unwrap();
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let st = st.clone();
            tokio::spawn(async move {
                let bump = |c: &OAuthClientRow| -> Result<OAuthClientRow, OAuthRefusal> {
                    let mut c = c.clone();
                    if let Some(config) = c.config.as_mut() {
                        let n = config["n"].as_i64().unwrap_or(0);
                        config.insert("n".into(), json!(n + 1));
                    }
                    Ok(c)
                };
                st.update_oauth_client(&app("public"), "c", &bump).await.unwrap();
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let c = st.get_oauth_client(&a, "c").await.unwrap().unwrap();
    assert_eq!(c.config.unwrap()["n"], json!(10), "no lost update");
}

/// Listing: by client id (byte order), after a given id, at most `limit`, by name, per app;
/// an app's removal takes its clients.
async fn oauth_client_listing(st: &dyn Storage) {
    let a = app("public");
    add_app(st, "a2").await;
    for (id, name) in [("b", "odd"), ("B", "even"), ("a", "even"), ("c", "odd")] {
        st.create_oauth_client(&a, &client(id, name)).await.unwrap();
    }
    st.create_oauth_client(&app("a2"), &client("z", "odd")).await.unwrap();
    let ids = |rows: Vec<OAuthClientRow>| rows.into_iter().map(|r| r.client_id).collect::<Vec<_>>();
    assert_eq!(ids(st.list_oauth_clients(&a, None, None, 10).await.unwrap()), ["B", "a", "b", "c"]);
    assert_eq!(ids(st.list_oauth_clients(&a, None, Some("a"), 2).await.unwrap()), ["b", "c"]);
    assert_eq!(ids(st.list_oauth_clients(&a, Some("odd"), None, 10).await.unwrap()), ["b", "c"]);
    assert_eq!(ids(st.list_oauth_clients(&a, Some("odd"), Some("b"), 10).await.unwrap()), ["c"]);
    assert_eq!(ids(st.list_oauth_clients(&app("a2"), None, None, 10).await.unwrap()), ["z"]);
    assert!(st.delete_app(&app("a2")).await.unwrap());
    assert_eq!(st.get_oauth_client(&app("a2"), "z").await.unwrap(), None);
}

fn grant(gid: &str, client: &str, jti: &str, handle: Option<&str>) -> OAuthSessionUpsert {
    OAuthSessionUpsert {
        gid: gid.into(),
        client_id: client.into(),
        session_handle: handle.map(str::to_string),
        external_refresh_token: None,
        internal_refresh_token: None,
        jti: jti.into(),
        exp: 2_000_000_000,
    }
}

async fn oauth_token_bookkeeping(st: &dyn Storage) {
    let a = app("public");
    st.create_oauth_client(&a, &client("c1", "one")).await.unwrap();
    st.create_oauth_client(&a, &client("c2", "two")).await.unwrap();
    st.record_oauth_tokens(&a, &grant("g1", "c1", "j1", None), Some((1, 2))).await.unwrap();
    st.record_oauth_tokens(&a, &grant("g1", "c1", "j2", None), None).await.unwrap();
    st.record_oauth_tokens(&a, &grant("g2", "c2", "j3", Some("h")), None).await.unwrap();
    st.record_oauth_tokens(&a, &grant("g3", "c2", "j4", None), Some((1, 2))).await.unwrap();
    for (gid, jti) in [("g1", "j1"), ("g1", "j2"), ("g2", "j3"), ("g3", "j4")] {
        assert!(st.oauth_jti_active(&a, gid, jti).await.unwrap(), "{gid} {jti}");
    }
    assert!(!st.oauth_jti_active(&a, "g1", "j3").await.unwrap(), "another grant's jti");
    assert!(!st.oauth_jti_active(&a, "g9", "j1").await.unwrap());
    assert!(!st.oauth_jti_active(&app("other"), "g1", "j1").await.unwrap());
    st.revoke_oauth_jti(&a, "g1", "j1").await.unwrap();
    assert!(!st.oauth_jti_active(&a, "g1", "j1").await.unwrap());
    assert!(st.oauth_jti_active(&a, "g1", "j2").await.unwrap(), "the grant's other token stays");
    st.revoke_oauth_tokens_of_session(&a, "h").await.unwrap();
    assert!(!st.oauth_jti_active(&a, "g2", "j3").await.unwrap());
    assert!(st.oauth_jti_active(&a, "g3", "j4").await.unwrap());
    st.revoke_oauth_tokens_of_client(&a, "c1").await.unwrap();
    assert!(!st.oauth_jti_active(&a, "g1", "j2").await.unwrap());
    assert!(st.oauth_jti_active(&a, "g3", "j4").await.unwrap());
    assert!(st.delete_oauth_client(&a, "c2").await.unwrap());
    assert!(!st.oauth_jti_active(&a, "g3", "j4").await.unwrap(), "the client's removal takes its tokens");
    assert!(st.record_oauth_tokens(&a, &grant("g4", "c2", "j5", None), None).await.is_err(), "a removed client");
}

/// The cleanup removes, in every app, the grants and stats rows expired before the bound.
async fn oauth_expired_tokens_deleted(st: &dyn Storage) {
    let a = app("public");
    add_app(st, "a2").await;
    st.create_oauth_client(&a, &client("c1", "one")).await.unwrap();
    st.create_oauth_client(&app("a2"), &client("c2", "two")).await.unwrap();
    let mut old = grant("g-old", "c1", "j1", None);
    old.exp = 100;
    let mut old2 = grant("g-old2", "c2", "j2", None);
    old2.exp = 150;
    st.record_oauth_tokens(&a, &old, Some((50, 100))).await.unwrap();
    st.record_oauth_tokens(&app("a2"), &old2, Some((60, 150))).await.unwrap();
    st.record_oauth_tokens(&a, &grant("g-new", "c1", "j3", None), Some((70, 2_000_000_000))).await.unwrap();
    assert_eq!(st.delete_expired_oauth_tokens(200).await.unwrap(), 4, "two grants and two stats rows");
    assert!(!st.oauth_jti_active(&a, "g-old", "j1").await.unwrap());
    assert!(!st.oauth_jti_active(&app("a2"), "g-old2", "j2").await.unwrap());
    assert!(st.oauth_jti_active(&a, "g-new", "j3").await.unwrap());
    assert_eq!(st.delete_expired_oauth_tokens(200).await.unwrap(), 0);
}

fn flow_item(kind: &str, key: &str, client: &str, value: &str, expires_at: i64) -> OAuthFlowItem {
    OAuthFlowItem { kind: kind.into(), key: key.into(), client_id: client.into(), value: value.into(), expires_at }
}

/// Flow items: read while unused and live, taken once (the follow-up and the grant's row
/// written with the take), a used one reported with its value, expiry, the client's removal;
/// logout challenges taken once.
async fn oauth_flow_items(st: &dyn Storage) {
    let a = app("public");
    st.create_oauth_client(&a, &client("c", "web")).await.unwrap();
    let code = flow_item("code", "k1", "c", "{\"n\":1}", 10_000);
    st.put_oauth_flow_item(&a, &code).await.unwrap();
    assert_eq!(st.get_oauth_flow_item(&a, "code", "k1", 9_999).await.unwrap().as_deref(), Some("{\"n\":1}"));
    assert_eq!(st.get_oauth_flow_item(&a, "code", "k1", 10_000).await.unwrap(), None, "expired");
    assert_eq!(st.get_oauth_flow_item(&a, "refresh_token", "k1", 0).await.unwrap(), None, "per kind");
    assert_eq!(st.get_oauth_flow_item(&app("a2"), "code", "k1", 0).await.unwrap(), None, "per app");
    assert_eq!(st.take_oauth_flow_item(&a, "code", "k1", 10_000, &[], None).await.unwrap(), FlowTake::Missing);
    assert_eq!(st.take_oauth_flow_item(&a, "code", "nope", 0, &[], None).await.unwrap(), FlowTake::Missing);

    let rt = flow_item("refresh_token", "k2", "c", "grant", 50_000);
    let g = grant("g1", "c", "j1", Some("h1"));
    assert!(!st.oauth_grant_active(&a, "g1").await.unwrap());
    let taken = st.take_oauth_flow_item(&a, "code", "k1", 5_000, std::slice::from_ref(&rt), Some(&g)).await.unwrap();
    assert_eq!(taken, FlowTake::Taken("{\"n\":1}".into()));
    assert_eq!(st.get_oauth_flow_item(&a, "code", "k1", 5_000).await.unwrap(), None, "used");
    assert_eq!(st.get_oauth_flow_item(&a, "refresh_token", "k2", 5_000).await.unwrap().as_deref(), Some("grant"));
    assert!(st.oauth_grant_active(&a, "g1").await.unwrap());
    assert!(st.oauth_jti_active(&a, "g1", "j1").await.unwrap());
    let again = st.take_oauth_flow_item(&a, "code", "k1", 5_000, &[flow_item("x", "k3", "c", "v", 9)], None).await;
    assert_eq!(again.unwrap(), FlowTake::Used("{\"n\":1}".into()));
    assert_eq!(st.get_oauth_flow_item(&a, "x", "k3", 0).await.unwrap(), None, "nothing written by a refused take");
    st.revoke_oauth_grant(&a, "g1").await.unwrap();
    assert!(!st.oauth_grant_active(&a, "g1").await.unwrap());
    // Replaced by a put (a refresh token whose life is extended).
    st.put_oauth_flow_item(&a, &flow_item("refresh_token", "k2", "c", "grant2", 90_000)).await.unwrap();
    assert_eq!(st.get_oauth_flow_item(&a, "refresh_token", "k2", 60_000).await.unwrap().as_deref(), Some("grant2"));
    assert!(st.put_oauth_flow_item(&a, &flow_item("code", "k9", "nobody", "v", 1)).await.is_err(), "unknown client");

    // Logout challenges.
    let lc = OAuthLogoutChallenge {
        challenge: "ch".into(),
        client_id: "c".into(),
        post_logout_redirect_uri: Some("https://a.example/bye".into()),
        session_handle: Some("h1".into()),
        state: None,
        time_created: 1_000,
    };
    assert!(st.create_oauth_logout_challenge(&a, &lc).await.unwrap());
    assert!(!st.create_oauth_logout_challenge(&a, &lc).await.unwrap(), "taken");
    assert_eq!(st.take_oauth_logout_challenge(&a, "ch").await.unwrap(), Some(lc.clone()));
    assert_eq!(st.take_oauth_logout_challenge(&a, "ch").await.unwrap(), None);
    assert!(st.create_oauth_logout_challenge(&a, &lc).await.unwrap());

    // The client's removal takes its flow and challenges.
    assert!(st.delete_oauth_client(&a, "c").await.unwrap());
    st.create_oauth_client(&a, &client("c", "web")).await.unwrap();
    assert_eq!(st.get_oauth_flow_item(&a, "refresh_token", "k2", 0).await.unwrap(), None);
    assert_eq!(st.take_oauth_logout_challenge(&a, "ch").await.unwrap(), None);
}

/// Two (ten) redeemers of one code at once: one takes it and writes its follow-up, the others
/// are told it was used, and write nothing.
async fn oauth_flow_item_taken_once(st: &Arc<dyn Storage>) {
    let a = app("public");
    st.create_oauth_client(&a, &client("c", "web")).await.unwrap();
    st.put_oauth_flow_item(&a, &flow_item("code", "k", "c", "v", i64::MAX)).await.unwrap();
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let st = st.clone();
            tokio::spawn(async move {
                let follow = [flow_item("refresh_token", &format!("rt{i}"), "c", "g", i64::MAX)];
                let g = grant(&format!("g{i}"), "c", "j", None);
                st.take_oauth_flow_item(&app("public"), "code", "k", 0, &follow, Some(&g)).await.unwrap()
            })
        })
        .collect();
    let mut taken = Vec::new();
    for (i, t) in tasks.into_iter().enumerate() {
        match t.await.unwrap() {
            FlowTake::Taken(v) => {
                assert_eq!(v, "v");
                taken.push(i);
            }
            FlowTake::Used(v) => assert_eq!(v, "v"),
            FlowTake::Missing => panic!("the code is there"),
        }
    }
    assert_eq!(taken.len(), 1, "taken once");
    for i in 0..10 {
        let written = st.get_oauth_flow_item(&a, "refresh_token", &format!("rt{i}"), 0).await.unwrap().is_some();
        assert_eq!(written, taken == [i], "only the winner's follow-up ({i})");
        assert_eq!(st.oauth_grant_active(&a, &format!("g{i}")).await.unwrap(), taken == [i]);
    }
}

/// Concurrent token requests (the PostgreSQL backend shares their statements): every client
/// read answers for its own client, every token's rows are written, and a token of a client that
/// does not exist fails alone, not the tokens it shared a statement with.
async fn oauth_concurrent_token_records(st: &Arc<dyn Storage>) {
    let a = app("public");
    st.create_oauth_client(&a, &client("c1", "one")).await.unwrap();
    st.create_oauth_client(&a, &client("c2", "two")).await.unwrap();
    let spawn = |i: i64| {
        let st = st.clone();
        tokio::spawn(async move {
            let a = app("public");
            match i % 3 {
                0 => {
                    let mut g = grant(&format!("g{i}"), "c1", &format!("j{i}"), None);
                    g.exp = 1_000 + i;
                    st.record_oauth_tokens(&a, &g, Some((i, 1_000 + i))).await.is_ok()
                }
                // The first half only with clients that exist (whole batches succeed).
                1 if i < 30 => {
                    let mut g = grant(&format!("g{i}"), "c2", &format!("j{i}"), None);
                    g.exp = 1_000 + i;
                    st.record_oauth_tokens(&a, &g, Some((i, 1_000 + i))).await.is_ok()
                }
                1 => {
                    let g = grant(&format!("g{i}"), "gone", &format!("j{i}"), None);
                    st.record_oauth_tokens(&a, &g, Some((i, 1_000 + i))).await.is_err()
                }
                _ => {
                    let id = ["c1", "c2", "missing"][(i as usize / 3) % 3];
                    let found = st.get_oauth_client(&a, id).await.unwrap();
                    match id {
                        "missing" => found.is_none(),
                        _ => found.is_some_and(|c| c.client_id == id && c.client_secret == Some(format!("enc-{id}"))),
                    }
                }
            }
        })
    };
    // Two rounds: in the first every client exists (whole batches succeed), in the second a
    // third of the tokens name a client that does not.
    for round in [0..30, 30..60] {
        let tasks: Vec<_> = round.clone().map(spawn).collect();
        for (i, t) in round.zip(tasks) {
            assert!(t.await.unwrap(), "request {i}");
        }
    }
    // Concurrent jti checks: the recorded tokens, another grant's jti, an unknown grant.
    let checks: Vec<_> = (0..60i64)
        .map(|i| {
            let st = st.clone();
            tokio::spawn(async move {
                let recorded = i % 3 == 0 || (i % 3 == 1 && i < 30);
                let jti = if i % 2 == 0 { format!("j{i}") } else { format!("j{}", i + 3) };
                let active = st.oauth_jti_active(&app("public"), &format!("g{i}"), &jti).await.unwrap();
                active == (recorded && i % 2 == 0)
            })
        })
        .collect();
    for (i, t) in checks.into_iter().enumerate() {
        assert!(t.await.unwrap(), "jti check {i}");
    }
    assert_eq!(st.delete_expired_oauth_tokens(2_000).await.unwrap(), 60, "30 grants and 30 stats rows");
}

conformance! {
    oauth_concurrent_token_records,
    oauth_expired_tokens_deleted,
    oauth_token_bookkeeping,
    oauth_clients,
    oauth_client_updates_serialise,
    oauth_client_listing,
    oauth_flow_items,
    oauth_flow_item_taken_once,
}
