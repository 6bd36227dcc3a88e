//! [`SamlStorage`]: clients saved by id (replaced in place, the creation order kept for the
//! listing), one client per IdP entity id in a tenant, tenants apart; relay states readable
//! until they expire and removed by the cron intent (with the AuthnRequest ID and ACS URL
//! recorded beside them, or none); claims saved once per assertion id of an app (a replay
//! writes nothing, an id forgotten once its time is past is accepted again), redeemed once
//! until they expire; everything goes with its tenant.

use crate::helpers::*;
use st_core::storage::*;

fn client(id: &str, entity: &str) -> SamlClientRow {
    SamlClientRow {
        client_id: id.into(),
        client_secret: None,
        sso_login_url: format!("https://idp.example/{entity}/sso"),
        redirect_uris: vec!["https://app.example/cb".into(), "https://app.example/cb2".into()],
        default_redirect_uri: "https://app.example/cb".into(),
        idp_entity_id: format!("https://idp.example/{entity}"),
        idp_signing_certificate: "MIIB".into(),
        allow_idp_initiated_login: false,
        enable_request_signing: true,
    }
}

async fn saml_clients(st: &dyn Storage) {
    let t = tid("public", "public");
    assert_eq!(st.upsert_saml_client(&t, &client("c1", "a"), 10).await.unwrap(), SamlClientUpsert::Saved);
    assert_eq!(st.upsert_saml_client(&t, &client("c2", "b"), 20).await.unwrap(), SamlClientUpsert::Saved);
    // Another client with c1's IdP: refused, nothing written.
    assert_eq!(st.upsert_saml_client(&t, &client("c3", "a"), 30).await.unwrap(), SamlClientUpsert::DuplicateEntityId);
    assert_eq!(st.get_saml_client(&t, "c3").await.unwrap(), None);
    // c1 replaced in place (a new IdP too), keeping its place in the listing.
    let mut c1 = client("c1", "z");
    c1.client_secret = Some("s".into());
    c1.allow_idp_initiated_login = true;
    c1.redirect_uris = vec!["https://other.example/cb?x=1&y=\"2\"".into()];
    assert_eq!(st.upsert_saml_client(&t, &c1, 40).await.unwrap(), SamlClientUpsert::Saved);
    assert_eq!(st.get_saml_client(&t, "c1").await.unwrap(), Some(c1.clone()));
    let ids: Vec<String> = st.list_saml_clients(&t).await.unwrap().into_iter().map(|c| c.client_id).collect();
    assert_eq!(ids, ["c1", "c2"]);
    // The entity id "a" is free again.
    assert_eq!(st.upsert_saml_client(&t, &client("c3", "a"), 50).await.unwrap(), SamlClientUpsert::Saved);
    assert_eq!(st.get_saml_client_by_entity_id(&t, "https://idp.example/z").await.unwrap(), Some(c1));
    assert_eq!(st.get_saml_client_by_entity_id(&t, "https://idp.example/q").await.unwrap(), None);

    // Tenants apart: the same IdP in another tenant is another client.
    add_tenant(st, "public", "t2").await;
    let t2 = tid("public", "t2");
    assert_eq!(st.upsert_saml_client(&t2, &client("c1", "a"), 60).await.unwrap(), SamlClientUpsert::Saved);
    assert_eq!(st.list_saml_clients(&t2).await.unwrap().len(), 1);
    assert_eq!(st.list_saml_clients(&t).await.unwrap().len(), 3);

    assert!(st.remove_saml_client(&t, "c2").await.unwrap());
    assert!(!st.remove_saml_client(&t, "c2").await.unwrap());
    assert_eq!(st.get_saml_client(&t, "c2").await.unwrap(), None);
    assert!(st.get_saml_client(&t2, "c1").await.unwrap().is_some(), "the other tenant's client stays");

    // Unknown tenant; a removed tenant takes its clients.
    assert!(is_not_found(&st.upsert_saml_client(&tid("public", "nope"), &client("x", "x"), 1).await));
    assert!(st.delete_tenant(&t2).await.unwrap());
    add_tenant(st, "public", "t2").await;
    assert!(st.list_saml_clients(&t2).await.unwrap().is_empty());
}

fn relay(rs: &str, state: Option<&str>) -> SamlRelayStateRow {
    SamlRelayStateRow {
        relay_state: rs.into(),
        client_id: "c1".into(),
        state: state.map(str::to_string),
        redirect_uri: "https://app.example/cb".into(),
        request_id: Some(format!("_req-{rs}")),
        acs_url: Some("https://api.example/acs".into()),
    }
}

async fn saml_relay_states_expire(st: &dyn Storage) {
    let t = tid("public", "public");
    st.save_saml_relay_state(&t, &relay("r1", Some("st")), 1_000, 2_000).await.unwrap();
    st.save_saml_relay_state(&t, &relay("r2", None), 1_000, 5_000).await.unwrap();
    assert_eq!(st.get_saml_relay_state(&t, "r1", 2_000).await.unwrap(), Some(relay("r1", Some("st"))));
    assert_eq!(st.get_saml_relay_state(&t, "r1", 2_001).await.unwrap(), None, "expired");
    assert_eq!(st.get_saml_relay_state(&tid("public", "x"), "r1", 1_500).await.unwrap(), None, "another tenant");
    assert_eq!(st.get_saml_relay_state(&t, "r2", 2_001).await.unwrap(), Some(relay("r2", None)));
    // The cron intent: expired at 3_000 → r1 only.
    assert_eq!(st.delete_expired_saml_data(3_000).await.unwrap(), 1);
    assert_eq!(st.get_saml_relay_state(&t, "r1", 0).await.unwrap(), None, "deleted");
    assert_eq!(st.get_saml_relay_state(&t, "r2", 0).await.unwrap(), Some(relay("r2", None)));
    assert_eq!(st.delete_expired_saml_data(3_000).await.unwrap(), 0);
    assert!(is_not_found(&st.save_saml_relay_state(&tid("nope", "public"), &relay("r3", None), 1, 2).await));
    // A relay state without the request's details (as another core writes it).
    let bare = SamlRelayStateRow { request_id: None, acs_url: None, ..relay("r4", None) };
    st.save_saml_relay_state(&t, &bare, 1_000, 9_000).await.unwrap();
    assert_eq!(st.get_saml_relay_state(&t, "r4", 3_000).await.unwrap(), Some(bare));
}

fn claims(code: &str) -> SamlClaimsRow {
    SamlClaimsRow { code: code.into(), client_id: "c1".into(), claims: r#"{"NameID":["a@b.c"]}"#.into() }
}

async fn saml_claims_once(st: &dyn Storage) {
    let t = tid("public", "public");
    add_tenant(st, "public", "t2").await;
    let t2 = tid("public", "t2");
    assert!(st.save_saml_claims_once(&t, "_a1", 10_000, &claims("k1"), 1_000, 5_000).await.unwrap());
    // The same assertion again, in any tenant of the app: refused, nothing written.
    assert!(!st.save_saml_claims_once(&t, "_a1", 10_000, &claims("k2"), 2_000, 6_000).await.unwrap());
    assert!(!st.save_saml_claims_once(&t2, "_a1", 10_000, &claims("k3"), 2_000, 6_000).await.unwrap());
    assert_eq!(st.take_saml_claims(&t, "k2", 2_000).await.unwrap(), None);
    assert_eq!(st.take_saml_claims(&t2, "k3", 2_000).await.unwrap(), None);
    // Another app has its own ids.
    add_app(st, "a2").await;
    assert!(st.save_saml_claims_once(&tid("a2", "public"), "_a1", 10_000, &claims("k4"), 2_000, 6_000).await.unwrap());

    // Redeemed once; another tenant's code is not seen; expired codes are not redeemed.
    assert_eq!(st.take_saml_claims(&t2, "k1", 2_000).await.unwrap(), None);
    assert_eq!(st.take_saml_claims(&t, "k1", 5_000).await.unwrap(), Some(claims("k1")));
    assert_eq!(st.take_saml_claims(&t, "k1", 5_000).await.unwrap(), None);
    assert!(st.save_saml_claims_once(&t, "_a2", 10_000, &claims("k5"), 1_000, 5_000).await.unwrap());
    assert_eq!(st.take_saml_claims(&t, "k5", 5_001).await.unwrap(), None, "expired");

    // The cron intent: the expired code k5 (k4 lives until 6_000, the ids until 10_000).
    assert_eq!(st.delete_expired_saml_data(5_500).await.unwrap(), 1);
    assert!(!st.save_saml_claims_once(&t, "_a1", 20_000, &claims("k6"), 10_000, 15_000).await.unwrap(), "until 10_000");
    // Remembered until 10_000: at 10_001 the id is free again (even before the cron runs).
    assert!(st.save_saml_claims_once(&t, "_a1", 20_000, &claims("k6"), 10_001, 15_000).await.unwrap());
    assert!(!st.save_saml_claims_once(&t, "_a1", 20_000, &claims("k7"), 10_002, 15_000).await.unwrap());
    assert_eq!(st.delete_expired_saml_data(20_001).await.unwrap(), 5, "k4, k6, and the ids _a1, a2's _a1, _a2");
    assert!(st.save_saml_claims_once(&t, "_a1", 30_000, &claims("k8"), 20_001, 25_000).await.unwrap());

    // Unknown tenant; claims go with their tenant.
    let gone = st.save_saml_claims_once(&tid("public", "nope"), "_x", 1, &claims("k9"), 1, 2).await;
    assert!(is_not_found(&gone), "{gone:?}");
    assert!(st.save_saml_claims_once(&t2, "_b", 50_000, &claims("k10"), 20_001, 25_000).await.unwrap());
    assert!(st.delete_tenant(&t2).await.unwrap());
    add_tenant(st, "public", "t2").await;
    assert_eq!(st.take_saml_claims(&t2, "k10", 20_001).await.unwrap(), None);
}

conformance! {
    saml_clients,
    saml_relay_states_expire,
    saml_claims_once,
}
