//! [`TenantStorage`]: apps and tenants (upsert/get/list/delete, a tenant of a missing app), the
//! third-party providers of a tenant, and the cascading deletion of a tenant's and an app's data.

use crate::helpers::*;
use serde_json::json;
use st_core::ids::TenantIdentifier;
use st_core::storage::*;

async fn tenants(st: &dyn Storage) {
    let base = TenantIdentifier::base();
    assert!(st.list_tenants().await.unwrap().iter().any(|t| t.id == base), "the base tenant exists from the start");
    assert!(st.get_tenant(&base).await.unwrap().is_some());
    st.health_check().await.unwrap();

    assert_eq!(st.get_tenant(&tid("a1", "public")).await.unwrap(), None);
    let orphan = st.upsert_tenant(&TenantRecord::new(tid("a1", "t1")), 1).await;
    assert!(is_not_found(&orphan), "a tenant of a missing app: {orphan:?}");
    assert_eq!(st.get_tenant(&tid("a1", "t1")).await.unwrap(), None);

    let mut rec = TenantRecord::new(tid("a1", "public"));
    rec.core_config = json!({"access_token_validity": 7200}).as_object().unwrap().clone();
    assert!(st.upsert_tenant(&rec, 5).await.unwrap(), "created");
    assert_eq!(st.get_tenant(&rec.id).await.unwrap(), Some(rec.clone()));

    // Replace the whole configuration.
    rec.core_config = json!({"refresh_token_validity": 10, "api_keys": "k"}).as_object().unwrap().clone();
    rec.first_factors = Some(vec!["emailpassword".into(), "thirdparty".into()]);
    rec.required_secondary_factors = Some(vec!["totp".into()]);
    rec.email_password_enabled = false;
    rec.passwordless_enabled = false;
    assert!(!st.upsert_tenant(&rec, 6).await.unwrap(), "updated, not created");
    assert_eq!(st.get_tenant(&rec.id).await.unwrap(), Some(rec.clone()));
    // And back to "all factors".
    rec.first_factors = None;
    rec.required_secondary_factors = None;
    st.upsert_tenant(&rec, 7).await.unwrap();
    assert_eq!(st.get_tenant(&rec.id).await.unwrap(), Some(rec.clone()));

    add_tenant(st, "a1", "t1").await;
    let listed: Vec<TenantIdentifier> = st.list_tenants().await.unwrap().into_iter().map(|t| t.id).collect();
    for id in [base.clone(), tid("a1", "public"), tid("a1", "t1")] {
        assert!(listed.contains(&id), "{id:?} listed in {listed:?}");
    }
    assert_eq!(listed.len(), 3);

    assert!(st.delete_tenant(&tid("a1", "t1")).await.unwrap());
    assert!(!st.delete_tenant(&tid("a1", "t1")).await.unwrap());
    assert!(!st.delete_tenant(&tid("a1", "never")).await.unwrap());
    assert_eq!(st.get_tenant(&tid("a1", "t1")).await.unwrap(), None);
    assert_eq!(st.get_tenant(&rec.id).await.unwrap(), Some(rec), "the app's public tenant is untouched");
}

async fn deletion_cascades(st: &dyn Storage) {
    for a in ["a1", "a2"] {
        add_app(st, a).await;
        add_tenant(st, a, "t1").await;
        for t in ["public", "t1"] {
            st.create_session(&row(&tid(a, t), &format!("{a}-{t}"), "u", 1_000)).await.unwrap();
            st.set_key_value(&tid(a, t), "k", "v", 1).await.unwrap();
        }
        st.dynamic_keys_rotate(&app(a), 0, 0, Some(&key(1_000))).await.unwrap();
        let s = StoredKey { kid: format!("s-{a}"), value: "p|q".into(), created_at: 1 };
        st.static_key_get_or_insert(&app(a), Some(&s)).await.unwrap();
    }

    // A tenant takes its own data with it.
    assert!(st.delete_tenant(&tid("a2", "t1")).await.unwrap());
    assert_eq!(st.get_session(&tid("a2", "t1"), "a2-t1").await.unwrap(), None);
    add_tenant(st, "a2", "t1").await;
    assert_eq!(st.get_session(&tid("a2", "t1"), "a2-t1").await.unwrap(), None, "not resurrected");
    assert_eq!(st.get_key_value(&tid("a2", "t1"), "k").await.unwrap(), None);
    assert!(st.get_session(&tid("a2", "public"), "a2-public").await.unwrap().is_some());
    assert_eq!(st.get_key_value(&tid("a2", "public"), "k").await.unwrap().as_deref(), Some("v"));

    // An app takes everything with it.
    assert!(st.delete_app(&app("a1")).await.unwrap());
    assert!(!st.delete_app(&app("a1")).await.unwrap());
    assert_eq!(st.get_tenant(&tid("a1", "public")).await.unwrap(), None);
    assert_eq!(st.get_tenant(&tid("a1", "t1")).await.unwrap(), None);
    assert!(st.list_tenants().await.unwrap().iter().all(|t| t.id.app != app("a1")));
    add_app(st, "a1").await;
    add_tenant(st, "a1", "t1").await;
    for t in ["public", "t1"] {
        assert_eq!(st.get_session(&tid("a1", t), &format!("a1-{t}")).await.unwrap(), None, "session of {t}");
        assert_eq!(st.get_key_value(&tid("a1", t), "k").await.unwrap(), None, "key-value of {t}");
    }
    assert!(st.dynamic_keys_rotate(&app("a1"), 0, 0, None).await.unwrap().0.is_empty(), "dynamic keys");
    assert_eq!(st.static_key_get_or_insert(&app("a1"), None).await.unwrap(), None, "static key");
    assert!(st.session_handles_for_users(&app("a1"), None, &["u".into()], 0).await.unwrap().is_empty());

    // The other app is untouched.
    assert!(st.get_session(&tid("a2", "public"), "a2-public").await.unwrap().is_some());
    assert_eq!(st.dynamic_keys_rotate(&app("a2"), 0, 0, None).await.unwrap().0, vec![key(1_000)]);
    assert_eq!(st.static_key_get_or_insert(&app("a2"), None).await.unwrap().map(|k| k.kid), Some("s-a2".to_string()));
}

fn provider(id: &str, client_types: &[Option<&str>]) -> ThirdPartyProvider {
    ThirdPartyProvider {
        third_party_id: id.into(),
        name: Some(format!("{id} name")),
        clients: client_types
            .iter()
            .map(|t| ProviderClient {
                client_type: t.map(str::to_string),
                client_id: format!("{id}-{}", t.unwrap_or("none")),
                client_secret: Some("secret".into()),
                scope: Some(vec![Some("email".into()), None]),
                force_pkce: Some(true),
                additional_config: json!({"a": null, "b": [1, {"c": "d"}]}).as_object().cloned(),
            })
            .collect(),
        authorization_endpoint: Some("https://auth".into()),
        authorization_endpoint_query_params: json!({"x": null, "y": "z"}).as_object().cloned(),
        token_endpoint_body_params: json!({}).as_object().cloned(),
        user_info_endpoint_headers: json!({"h": 1}).as_object().cloned(),
        jwks_uri: Some("https://jwks".into()),
        require_email: Some(false),
        user_info_map: UserInfoMap {
            from_id_token_payload: UserInfoMapFields { user_id: Some("sub".into()), ..Default::default() },
            from_user_info_api: UserInfoMapFields { email_verified: Some("ev".into()), ..Default::default() },
        },
        ..Default::default()
    }
}

async fn thirdparty_providers(st: &dyn Storage) {
    let t1 = tid("a1", "t1");
    assert!(is_not_found(&st.upsert_thirdparty_provider(&t1, &provider("google", &[None])).await), "no tenant");
    assert!(!st.delete_thirdparty_provider(&t1, "google").await.unwrap());
    add_app(st, "a1").await;
    add_tenant(st, "a1", "t1").await;

    // Clients come back ordered by type (none first), providers by id.
    let google = provider("google", &[Some("web"), None, Some("android")]);
    assert!(st.upsert_thirdparty_provider(&t1, &google).await.unwrap(), "created");
    let mut expected = google.clone();
    expected.clients.sort_by(|a, b| a.client_type.cmp(&b.client_type));
    assert_eq!(expected.clients[0].client_type, None);
    let read = st.get_tenant(&t1).await.unwrap().unwrap();
    assert_eq!(read.third_party_providers, vec![expected.clone()]);
    let bare = ThirdPartyProvider { third_party_id: "apple".into(), ..Default::default() };
    assert!(st.upsert_thirdparty_provider(&t1, &bare).await.unwrap());
    let read = st.get_tenant(&t1).await.unwrap().unwrap();
    assert_eq!(read.third_party_providers, vec![bare.clone(), expected.clone()]);

    // Replaced whole, clients included.
    let replacement = provider("google", &[Some("ios")]);
    assert!(!st.upsert_thirdparty_provider(&t1, &replacement).await.unwrap(), "replaced");
    let read = st.get_tenant(&t1).await.unwrap().unwrap();
    assert_eq!(read.third_party_providers, vec![bare.clone(), replacement.clone()]);

    // A tenant update keeps them; other tenants do not see them; lists carry them.
    let mut rec = read.clone();
    rec.third_party_providers = Vec::new();
    rec.passwordless_enabled = false;
    assert!(!st.upsert_tenant(&rec, 9).await.unwrap());
    let read = st.get_tenant(&t1).await.unwrap().unwrap();
    assert!(!read.passwordless_enabled);
    assert_eq!(read.third_party_providers, vec![bare.clone(), replacement.clone()]);
    assert!(st.get_tenant(&tid("a1", "public")).await.unwrap().unwrap().third_party_providers.is_empty());
    let listed = st.list_tenants().await.unwrap().into_iter().find(|t| t.id == t1).unwrap();
    assert_eq!(listed, read);

    assert!(st.delete_thirdparty_provider(&t1, "apple").await.unwrap());
    assert!(!st.delete_thirdparty_provider(&t1, "apple").await.unwrap());
    assert!(!st.delete_thirdparty_provider(&tid("a1", "public"), "google").await.unwrap());
    assert_eq!(st.get_tenant(&t1).await.unwrap().unwrap().third_party_providers, vec![replacement]);

    // They go with their tenant.
    assert!(st.delete_tenant(&t1).await.unwrap());
    add_tenant(st, "a1", "t1").await;
    assert!(st.get_tenant(&t1).await.unwrap().unwrap().third_party_providers.is_empty());
}

conformance! {
    tenants,
    deletion_cascades,
    thirdparty_providers,
}
