//! [`UserRolesStorage`]: roles and their permissions, and users' roles per tenant.

use crate::helpers::*;
use st_core::ids::{AppId, TenantIdentifier};
use st_core::storage::*;
use st_core::StorageError;

/// Roles with their permissions (created or extended, removed), and users' roles per tenant.
async fn user_roles(st: &dyn Storage) {
    add_tenant(st, "public", "t2").await;
    let app = AppId::public();
    let base = TenantIdentifier::base();
    let t2 = tid("public", "t2");
    assert!(st.create_role_or_add_permissions(&app, "admin", &["write".into(), "read".into()]).await.unwrap());
    assert!(!st.create_role_or_add_permissions(&app, "admin", &["read".into(), "delete".into()]).await.unwrap());
    assert!(st.create_role_or_add_permissions(&app, "viewer", &["read".into()]).await.unwrap());
    assert_eq!(
        st.permissions_of_role(&app, "admin").await.unwrap(),
        Some(vec!["delete".to_string(), "read".into(), "write".into()])
    );
    assert_eq!(st.permissions_of_role(&app, "ghost").await.unwrap(), None);
    assert_eq!(st.roles_with_permission(&app, "read").await.unwrap(), vec!["admin".to_string(), "viewer".into()]);
    assert!(st.remove_role_permissions(&app, "admin", Some(&["delete".to_string()])).await.unwrap());
    assert_eq!(st.permissions_of_role(&app, "admin").await.unwrap().unwrap().len(), 2);
    assert!(!st.remove_role_permissions(&app, "ghost", None).await.unwrap());
    assert!(st.remove_role_permissions(&app, "viewer", None).await.unwrap());
    assert_eq!(st.permissions_of_role(&app, "viewer").await.unwrap(), Some(vec![]));
    assert_eq!(st.all_roles(&app).await.unwrap(), vec!["admin".to_string(), "viewer".into()]);

    assert_eq!(st.add_role_to_user(&base, "u1", "ghost").await.unwrap(), RoleResult::UnknownRole);
    assert_eq!(st.add_role_to_user(&base, "u1", "admin").await.unwrap(), RoleResult::Ok(false));
    assert_eq!(st.add_role_to_user(&base, "u1", "admin").await.unwrap(), RoleResult::Ok(true));
    assert_eq!(st.add_role_to_user(&base, "u1", "viewer").await.unwrap(), RoleResult::Ok(false));
    assert_eq!(st.add_role_to_user(&t2, "u2", "admin").await.unwrap(), RoleResult::Ok(false));
    assert_eq!(st.roles_of_user(&base, "u1").await.unwrap(), vec!["admin".to_string(), "viewer".into()]);
    assert_eq!(st.users_with_role(&base, "admin").await.unwrap(), Some(vec!["u1".to_string()]));
    assert_eq!(st.users_with_role(&base, "ghost").await.unwrap(), None);
    assert_eq!(st.remove_role_from_user(&base, "u1", "viewer").await.unwrap(), RoleResult::Ok(true));
    assert_eq!(st.remove_role_from_user(&base, "u1", "viewer").await.unwrap(), RoleResult::Ok(false));
    assert_eq!(st.remove_role_from_user(&base, "u1", "ghost").await.unwrap(), RoleResult::UnknownRole);
    assert!(st.delete_role(&app, "admin").await.unwrap());
    assert!(!st.delete_role(&app, "admin").await.unwrap());
    assert!(st.roles_of_user(&base, "u1").await.unwrap().is_empty());
    assert!(st.roles_of_user(&t2, "u2").await.unwrap().is_empty());
}

/// A role given to a user of a tenant that does not exist: "not found", as for every write of a
/// missing tenant's data.
async fn user_role_in_a_missing_tenant(st: &dyn Storage) {
    let app = AppId::public();
    assert!(st.create_role_or_add_permissions(&app, "admin", &["write".into(), "read".into()]).await.unwrap());
    let got = st.add_role_to_user(&tid("public", "nope"), "u", "admin").await;
    assert!(matches!(got, Err(StorageError::TenantOrAppNotFound)), "{got:?}");
    assert!(st.roles_of_user(&tid("public", "nope"), "u").await.unwrap().is_empty());
}

conformance! {
    user_roles,
    user_role_in_a_missing_tenant,
}
