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

conformance! {
    oauth_expired_tokens_deleted,
    oauth_token_bookkeeping,
    oauth_clients,
    oauth_client_updates_serialise,
    oauth_client_listing,
}
