//! What the contracts share: ids, a session row and a signing key to store, apps and tenants to
//! add, and a join of borrowed futures.

use serde_json::{json, Map, Value};
use st_core::ids::{AppId, TenantId, TenantIdentifier};
use st_core::storage::*;
use st_core::StorageError;
use std::sync::Arc;

/// The store as a contract takes it: `&dyn Storage`, or `&Arc<dyn Storage>` to spawn tasks.
pub trait Store<'a> {
    fn of(st: &'a Arc<dyn Storage>) -> Self;
}

impl<'a> Store<'a> for &'a dyn Storage {
    fn of(st: &'a Arc<dyn Storage>) -> Self {
        st.as_ref()
    }
}

impl<'a> Store<'a> for &'a Arc<dyn Storage> {
    fn of(st: &'a Arc<dyn Storage>) -> Self {
        st
    }
}

pub fn tid(app: &str, tenant: &str) -> TenantIdentifier {
    TenantIdentifier::new(AppId::parse(app).unwrap(), TenantId::parse(tenant).unwrap())
}

pub fn app(a: &str) -> AppId {
    AppId::parse(a).unwrap()
}

/// Poll borrowed futures concurrently (in one task) and collect their outputs in order.
pub use st_core::join::join_all;

pub async fn add_app(st: &dyn Storage, a: &str) {
    assert!(st.upsert_tenant(&TenantRecord::new(tid(a, "public")), 1).await.unwrap(), "app {a} is new");
}

pub async fn add_tenant(st: &dyn Storage, a: &str, t: &str) {
    assert!(st.upsert_tenant(&TenantRecord::new(tid(a, t)), 1).await.unwrap(), "tenant {a}/{t} is new");
}

pub fn is_not_found<T: std::fmt::Debug>(r: &Result<T, StorageError>) -> bool {
    matches!(r, Err(StorageError::TenantOrAppNotFound))
}

pub fn row(t: &TenantIdentifier, handle: &str, user: &str, expires_at: i64) -> SessionRow {
    SessionRow {
        tenant: t.clone(),
        handle: handle.to_string(),
        user_id: user.to_string(),
        refresh_token_hash_2: format!("rth2-{handle}"),
        session_data: json!({"d": [1, "two", {"three": 3}], "n": null}),
        expires_at,
        created_at: 10,
        jwt_user_payload: json!({"role": "admin", "x": 1.5}),
        use_static_key: false,
        prev_refresh_token_hash_2: None,
        refresh_token_rotated_at: None,
    }
}

pub fn key(created_at: i64) -> StoredKey {
    StoredKey { kid: format!("d-{created_at}"), value: format!("public-{created_at}|private-{created_at}"), created_at }
}

/// The n-th user id of the contracts that number their users.
pub fn uid(n: u32) -> String {
    format!("00000000-0000-4000-8000-{n:012}")
}

pub fn obj(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

/// The e-mail-password user the token contracts issue tokens for: signed up in the base
/// tenant with `tok@example.com`; returns its id.
pub async fn token_user(st: &dyn Storage) -> &'static str {
    let id = "0c0c0c0c-0000-4000-8000-000000000001";
    let created = st.sign_up_with_password(&TenantIdentifier::base(), id, "tok@example.com", "$2a$10$x", 1).await;
    assert_eq!(created.unwrap(), SignUpResult::Created);
    id
}
