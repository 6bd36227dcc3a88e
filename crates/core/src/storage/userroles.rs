//! User-roles storage: roles with their permissions (per app), and users' roles (per tenant).

use super::SResult;
use crate::ids::{AppId, TenantIdentifier};
use async_trait::async_trait;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleResult {
    Ok(bool),
    UnknownRole,
}

#[async_trait]
pub trait UserRolesStorage: Send + Sync {
    /// Create the role if missing and add permissions; returns whether it was created.
    async fn create_role_or_add_permissions(&self, app: &AppId, role: &str, permissions: &[String]) -> SResult<bool>;
    async fn permissions_of_role(&self, app: &AppId, role: &str) -> SResult<Option<Vec<String>>>;
    /// Remove some (or, with `None`, all) permissions; false if the role does not exist.
    async fn remove_role_permissions(&self, app: &AppId, role: &str, permissions: Option<&[String]>) -> SResult<bool>;
    async fn roles_with_permission(&self, app: &AppId, permission: &str) -> SResult<Vec<String>>;
    async fn delete_role(&self, app: &AppId, role: &str) -> SResult<bool>;
    async fn all_roles(&self, app: &AppId) -> SResult<Vec<String>>;
    /// Ok(already had it)
    async fn add_role_to_user(&self, tenant: &TenantIdentifier, user_id: &str, role: &str) -> SResult<RoleResult>;
    /// Ok(had it)
    async fn remove_role_from_user(&self, tenant: &TenantIdentifier, user_id: &str, role: &str) -> SResult<RoleResult>;
    async fn roles_of_user(&self, tenant: &TenantIdentifier, user_id: &str) -> SResult<Vec<String>>;
    async fn users_with_role(&self, tenant: &TenantIdentifier, role: &str) -> SResult<Option<Vec<String>>>;
}
