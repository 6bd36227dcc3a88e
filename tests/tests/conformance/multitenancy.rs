//! [`TenantStorage`]: apps and tenants (upsert/get/list/delete, a tenant of a missing app), the
//! third-party providers of a tenant, and the cascading deletion of a tenant's and an app's data.

use crate::helpers::*;
use serde_json::json;
use st_core::ids::{ConnectionUriDomain, TenantIdentifier};
use st_core::storage::*;
use std::sync::Arc;

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

fn tenant_ids(u: &AuthUser) -> Vec<String> {
    u.login_methods[0].tenant_ids.clone()
}

/// Email-password users added to and taken out of tenants.
async fn users_added_to_tenants(st: &dyn Storage) {
    add_app(st, "a1").await;
    for t in ["t1", "t2"] {
        add_tenant(st, "a1", t).await;
    }
    let (public, t1, t2) = (tid("a1", "public"), tid("a1", "t1"), tid("a1", "t2"));
    let a1 = app("a1");
    assert_eq!(st.sign_up_with_password(&t1, &uid(1), "same@x.com", "h", 10).await.unwrap(), SignUpResult::Created);
    assert_eq!(st.sign_up_with_password(&t2, &uid(2), "same@x.com", "h", 11).await.unwrap(), SignUpResult::Created);

    assert_eq!(st.add_user_to_tenant(&t2, &uid(1)).await.unwrap(), AddUserToTenant::EmailAlreadyExists);
    assert_eq!(st.add_user_to_tenant(&t2, &uid(9)).await.unwrap(), AddUserToTenant::UnknownUser);
    assert!(is_not_found(&st.add_user_to_tenant(&tid("a1", "nope"), &uid(1)).await));
    assert_eq!(st.add_user_to_tenant(&public, &uid(1)).await.unwrap(), AddUserToTenant::Added);
    assert_eq!(st.add_user_to_tenant(&public, &uid(1)).await.unwrap(), AddUserToTenant::AlreadyAssociated);
    assert_eq!(st.add_user_to_tenant(&t1, &uid(1)).await.unwrap(), AddUserToTenant::AlreadyAssociated);
    let u1 = st.get_auth_user(&a1, &uid(1)).await.unwrap().unwrap();
    assert_eq!(tenant_ids(&u1), ["public", "t1"]);
    assert_eq!(u1.login_methods[0].time_joined, 10, "its own time joined");
    // Now found, and unique, there.
    assert_eq!(st.password_user_by_email(&public, "same@x.com").await.unwrap(), Some((uid(1), "h".into())));
    assert_eq!(st.users_by_email(&public, "same@x.com").await.unwrap(), vec![uid(1)]);
    assert_eq!(st.add_user_to_tenant(&public, &uid(2)).await.unwrap(), AddUserToTenant::EmailAlreadyExists);
    assert_eq!(
        st.sign_up_with_password(&public, &uid(3), "same@x.com", "h", 12).await.unwrap(),
        SignUpResult::EmailAlreadyExists
    );
    assert_eq!(st.count_users(&a1, Some(&public), &[]).await.unwrap(), 1);

    // Taken out with its data in that tenant, and only there.
    for t in [&public, &t1] {
        st.create_session(&row(t, &format!("s-{}", t.tenant), &uid(1), 1_000)).await.unwrap();
        st.create_role_or_add_permissions(&a1, "r", &[]).await.unwrap();
        st.add_role_to_user(t, &uid(1), "r").await.unwrap();
        st.add_email_verification_token(t, &uid(1), "same@x.com", &format!("ev-{}", t.tenant), 1_000).await.unwrap();
    }
    assert!(st.remove_user_from_tenant(&public, Some(&uid(1)), &[uid(1)]).await.unwrap());
    assert_eq!(tenant_ids(&st.get_auth_user(&a1, &uid(1)).await.unwrap().unwrap()), ["t1"]);
    assert_eq!(st.password_user_by_email(&public, "same@x.com").await.unwrap(), None);
    assert_eq!(st.get_session(&public, "s-public").await.unwrap(), None);
    assert!(st.roles_of_user(&public, &uid(1)).await.unwrap().is_empty());
    assert_eq!(st.consume_email_verification_token(&public, "ev-public", 0).await.unwrap(), None);
    assert!(st.get_session(&t1, "s-t1").await.unwrap().is_some(), "other tenants keep theirs");
    assert_eq!(st.roles_of_user(&t1, &uid(1)).await.unwrap(), ["r"]);
    assert!(!st.remove_user_from_tenant(&public, Some(&uid(1)), &[uid(1)]).await.unwrap(), "nothing left");
    assert!(!st.remove_user_from_tenant(&public, Some(&uid(9)), &[uid(9)]).await.unwrap());
    // The e-mail is free again there.
    assert_eq!(st.add_user_to_tenant(&public, &uid(2)).await.unwrap(), AddUserToTenant::Added);

    // Data alone (an id without a login method), and a user out of its last tenant.
    st.create_session(&row(&t2, "s-ext", "ext-id", 1_000)).await.unwrap();
    assert!(st.remove_user_from_tenant(&t2, None, &["ext-id".into()]).await.unwrap());
    assert_eq!(st.get_session(&t2, "s-ext").await.unwrap(), None);
    assert!(st.remove_user_from_tenant(&t1, Some(&uid(1)), &[uid(1)]).await.unwrap());
    let u1 = st.get_auth_user(&a1, &uid(1)).await.unwrap().unwrap();
    assert!(tenant_ids(&u1).is_empty(), "a user may belong to no tenant");
    assert_eq!(st.add_user_to_tenant(&t2, &uid(1)).await.unwrap(), AddUserToTenant::EmailAlreadyExists);
    assert_eq!(st.add_user_to_tenant(&t1, &uid(1)).await.unwrap(), AddUserToTenant::Added);
}

/// Third-party users: the provider pair is unique in a tenant.
async fn third_party_users_added_to_tenants(st: &dyn Storage) {
    for t in ["t1", "t2"] {
        add_tenant(st, "public", t).await;
    }
    let (t1, t2) = (tid("public", "t1"), tid("public", "t2"));
    let base = TenantIdentifier::base();
    let signed_up = ThirdPartySignUp::Created;
    assert_eq!(st.third_party_sign_up(&base, &uid(1), "google", "g-1", "a@x.com", 1).await.unwrap(), signed_up);
    assert_eq!(st.third_party_sign_up(&t1, &uid(2), "google", "g-1", "b@x.com", 2).await.unwrap(), signed_up);
    assert_eq!(st.third_party_sign_up(&t1, &uid(3), "google", "g-3", "a@x.com", 3).await.unwrap(), signed_up);
    assert_eq!(st.add_user_to_tenant(&t1, &uid(1)).await.unwrap(), AddUserToTenant::ThirdPartyUserAlreadyExists);
    assert_eq!(st.add_user_to_tenant(&base, &uid(3)).await.unwrap(), AddUserToTenant::Added, "e-mails may repeat");
    assert_eq!(st.add_user_to_tenant(&t2, &uid(1)).await.unwrap(), AddUserToTenant::Added);
    let found = st.third_party_user(&t2, "google", "g-1").await.unwrap().map(|l| l.user_id);
    assert_eq!(found, Some(uid(1)));
    assert!(st.remove_user_from_tenant(&t2, Some(&uid(1)), &[uid(1)]).await.unwrap());
    assert_eq!(st.third_party_user(&t2, "google", "g-1").await.unwrap(), None);
}

/// Passwordless users: the e-mail and the phone number are each unique in a tenant.
async fn passwordless_users_added_to_tenants(st: &dyn Storage) {
    for t in ["t1", "t2"] {
        add_tenant(st, "public", t).await;
    }
    let (base, t1, t2) = (TenantIdentifier::base(), tid("public", "t1"), tid("public", "t2"));
    let created = CreatePasswordlessUserResult::Created;
    let user = |tenant, n, email: Option<&'static str>, phone: Option<&'static str>| async move {
        assert_eq!(st.create_passwordless_user(tenant, &uid(n), email, phone, 1).await.unwrap(), created);
    };
    user(&base, 1, Some("a@x.com"), Some("+14155550101")).await;
    user(&t1, 2, Some("a@x.com"), None).await;
    user(&t2, 3, None, Some("+14155550101")).await;
    user(&t2, 4, Some("b@x.com"), None).await;
    assert_eq!(st.add_user_to_tenant(&t1, &uid(1)).await.unwrap(), AddUserToTenant::EmailAlreadyExists);
    assert_eq!(st.add_user_to_tenant(&t2, &uid(1)).await.unwrap(), AddUserToTenant::PhoneNumberAlreadyExists);
    assert_eq!(st.add_user_to_tenant(&t1, &uid(3)).await.unwrap(), AddUserToTenant::Added);
    assert_eq!(st.add_user_to_tenant(&base, &uid(4)).await.unwrap(), AddUserToTenant::Added);
    assert_eq!(st.passwordless_user_of(&t1, &Contact::Phone("+14155550101".into())).await.unwrap(), Some(uid(3)));
    // An email-password user with the same e-mail is another recipe's.
    assert_eq!(st.sign_up_with_password(&t2, &uid(5), "a@x.com", "h", 1).await.unwrap(), SignUpResult::Created);
    assert_eq!(st.add_user_to_tenant(&t1, &uid(5)).await.unwrap(), AddUserToTenant::Added);
}

/// Two users with one e-mail added to a tenant at once: exactly one gets in.
async fn concurrent_additions_keep_emails_unique(st: &Arc<dyn Storage>) {
    for t in ["t1", "t2", "t3"] {
        add_tenant(st.as_ref(), "public", t).await;
    }
    for round in 0..5u32 {
        let target = tid("public", "t3");
        let (a, b) = (uid(10 + 2 * round), uid(11 + 2 * round));
        let email = format!("race{round}@x.com");
        st.sign_up_with_password(&tid("public", "t1"), &a, &email, "h", 1).await.unwrap();
        st.sign_up_with_password(&tid("public", "t2"), &b, &email, "h", 1).await.unwrap();
        let tasks: Vec<_> = [a.clone(), b.clone()]
            .into_iter()
            .map(|id| {
                let (st, target) = (st.clone(), target.clone());
                tokio::spawn(async move { st.add_user_to_tenant(&target, &id).await.unwrap() })
            })
            .collect();
        let mut outcomes = Vec::new();
        for t in tasks {
            outcomes.push(t.await.unwrap());
        }
        outcomes.sort_by_key(|o| format!("{o:?}"));
        assert_eq!(outcomes, [AddUserToTenant::Added, AddUserToTenant::EmailAlreadyExists], "round {round}");
        assert_eq!(st.users_by_email(&target, &email).await.unwrap().len(), 1);
    }
}

fn in_domain(t: TenantIdentifier, domain: &str) -> TenantIdentifier {
    let domain = ConnectionUriDomain::parse(domain).unwrap();
    TenantIdentifier::new(t.app.in_domain(domain), t.tenant)
}

/// Tenants configured per connection-URI domain, their data the user pool's: shared by the
/// domains that name an (app, tenant), removed with the last of them.
async fn connection_uri_domains(st: &dyn Storage) {
    let d = |t: TenantIdentifier| in_domain(t, "a.example.com");
    let domain = ConnectionUriDomain::parse("a.example.com").unwrap();
    let mut domain_base = TenantRecord::new(TenantIdentifier::domain_base(&domain));
    domain_base.core_config = obj(json!({"access_token_validity": 100}));
    assert!(st.upsert_tenant(&domain_base, 1).await.unwrap(), "created in its domain");
    assert_eq!(st.get_tenant(&domain_base.id).await.unwrap(), Some(domain_base.clone()));
    let base = st.get_tenant(&TenantIdentifier::base()).await.unwrap().unwrap();
    assert!(base.core_config.is_empty() && base.id.domain().is_default(), "the default domain's is its own");

    // An app of the default domain is not the domain's.
    add_app(st, "x").await;
    assert!(is_not_found(&st.upsert_tenant(&TenantRecord::new(d(tid("x", "t1"))), 1).await));
    assert!(st.upsert_tenant(&TenantRecord::new(d(tid("x", "public"))), 1).await.unwrap(), "new in the domain");
    assert!(st.upsert_tenant(&TenantRecord::new(d(tid("x", "t1"))), 1).await.unwrap());
    assert_eq!(st.get_tenant(&tid("x", "t1")).await.unwrap(), None, "not in the default domain");
    let listed: Vec<(String, String)> = st
        .list_tenants()
        .await
        .unwrap()
        .iter()
        .map(|t| (t.id.domain().to_string(), format!("{}/{}", t.id.app, t.id.tenant)))
        .collect();
    for want in [
        ("", "public/public"),
        ("", "x/public"),
        ("a.example.com", "public/public"),
        ("a.example.com", "x/public"),
        ("a.example.com", "x/t1"),
    ] {
        assert!(listed.contains(&(want.0.to_string(), want.1.to_string())), "{want:?} in {listed:?}");
    }
    let read = st.get_tenant(&d(tid("x", "t1"))).await.unwrap().unwrap();
    assert_eq!(read.id.domain(), &domain);
    let provider = ThirdPartyProvider { third_party_id: "google".into(), ..Default::default() };
    assert!(st.upsert_thirdparty_provider(&d(tid("x", "public")), &provider).await.unwrap());
    assert!(st.get_tenant(&tid("x", "public")).await.unwrap().unwrap().third_party_providers.is_empty());
    assert!(!st.delete_thirdparty_provider(&tid("x", "public"), "google").await.unwrap(), "not the default domain's");

    // One user pool: a user of (x, public) is found through either domain.
    let up = st.sign_up_with_password(&d(tid("x", "public")), &uid(1), "a@x.com", "h", 1).await.unwrap();
    assert_eq!(up, SignUpResult::Created);
    assert_eq!(st.password_user_by_email(&tid("x", "public"), "a@x.com").await.unwrap(), Some((uid(1), "h".into())));
    st.create_session(&row(&d(tid("x", "t1")), "s1", &uid(1), 1_000)).await.unwrap();

    // Removing the domain's tenant removes its data (no other domain names it); removing the
    // domain's app keeps the data of (x, public), which the default domain still names.
    assert!(st.delete_tenant(&d(tid("x", "t1"))).await.unwrap());
    assert!(!st.delete_tenant(&d(tid("x", "t1"))).await.unwrap());
    assert_eq!(st.get_session(&tid("x", "t1"), "s1").await.unwrap(), None);
    assert!(st.delete_app(&app("x").in_domain(domain.clone())).await.unwrap());
    assert!(!st.delete_app(&app("x").in_domain(domain.clone())).await.unwrap());
    assert_eq!(st.get_tenant(&d(tid("x", "public"))).await.unwrap(), None);
    assert!(st.get_tenant(&tid("x", "public")).await.unwrap().is_some());
    assert_eq!(st.password_user_by_email(&tid("x", "public"), "a@x.com").await.unwrap(), Some((uid(1), "h".into())));

    // An app only one domain names goes with its data.
    assert!(st.upsert_tenant(&TenantRecord::new(d(tid("y", "public"))), 1).await.unwrap());
    let up = st.sign_up_with_password(&d(tid("y", "public")), &uid(2), "b@x.com", "h", 1).await.unwrap();
    assert_eq!(up, SignUpResult::Created);
    assert!(st.delete_connection_uri_domain(&domain).await.unwrap());
    assert!(!st.delete_connection_uri_domain(&domain).await.unwrap());
    assert!(st.list_tenants().await.unwrap().iter().all(|t| t.id.domain().is_default()));
    assert_eq!(st.get_auth_user(&app("y"), &uid(2)).await.unwrap(), None, "the app's users went");
    add_app(st, "y").await;
    assert_eq!(st.password_user_by_email(&tid("y", "public"), "b@x.com").await.unwrap(), None);
    assert!(st.get_tenant(&TenantIdentifier::base()).await.unwrap().is_some());
}

conformance! {
    tenants,
    deletion_cascades,
    thirdparty_providers,
    users_added_to_tenants,
    third_party_users_added_to_tenants,
    passwordless_users_added_to_tenants,
    concurrent_additions_keep_emails_unique,
    connection_uri_domains,
}
