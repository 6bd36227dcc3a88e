//! The user-roles recipe: roles and their permissions (per app), users' roles (per tenant).

use crate::core::Core;
use crate::error::CoreResult;
use crate::ids::{AppId, TenantIdentifier};
use crate::storage::RoleResult;

impl Core {
    /// Create the role if missing and add permissions; returns whether it was created.
    pub async fn create_role_or_add_permissions(
        &self,
        app: &AppId,
        role: &str,
        permissions: &[String],
    ) -> CoreResult<bool> {
        Ok(self.storage.create_role_or_add_permissions(app, role, permissions).await?)
    }

    /// The role's permissions; `None`: no such role.
    pub async fn permissions_of_role(&self, app: &AppId, role: &str) -> CoreResult<Option<Vec<String>>> {
        Ok(self.storage.permissions_of_role(app, role).await?)
    }

    /// Remove some (or, with `None`, all) permissions; false if the role does not exist.
    pub async fn remove_role_permissions(
        &self,
        app: &AppId,
        role: &str,
        permissions: Option<&[String]>,
    ) -> CoreResult<bool> {
        Ok(self.storage.remove_role_permissions(app, role, permissions).await?)
    }

    /// The roles that grant `permission`.
    pub async fn roles_with_permission(&self, app: &AppId, permission: &str) -> CoreResult<Vec<String>> {
        Ok(self.storage.roles_with_permission(app, permission).await?)
    }

    /// Delete a role (and every user's grant of it); returns whether it existed.
    pub async fn delete_role(&self, app: &AppId, role: &str) -> CoreResult<bool> {
        Ok(self.storage.delete_role(app, role).await?)
    }

    /// Every role of the app.
    pub async fn all_roles(&self, app: &AppId) -> CoreResult<Vec<String>> {
        Ok(self.storage.all_roles(app).await?)
    }

    /// Take a role from a user in a tenant: `Ok(had it)`, or the role is unknown.
    pub async fn remove_user_role(
        &self,
        tenant: &TenantIdentifier,
        user_id: &str,
        role: &str,
    ) -> CoreResult<RoleResult> {
        Ok(self.storage.remove_role_from_user(tenant, user_id, role).await?)
    }

    /// The user's roles in a tenant.
    pub async fn roles_of_user(&self, tenant: &TenantIdentifier, user_id: &str) -> CoreResult<Vec<String>> {
        Ok(self.storage.roles_of_user(tenant, user_id).await?)
    }

    /// The users with a role in a tenant; `None`: no such role.
    pub async fn users_with_role(&self, tenant: &TenantIdentifier, role: &str) -> CoreResult<Option<Vec<String>>> {
        Ok(self.storage.users_with_role(tenant, role).await?)
    }

    /// Give a user a role in a tenant (which must exist): `Ok(already had it)`, or the role is
    /// unknown.
    pub async fn add_user_role(&self, tenant: &TenantIdentifier, user_id: &str, role: &str) -> CoreResult<RoleResult> {
        self.tenant(tenant).await?;
        Ok(self.storage.add_role_to_user(tenant, user_id, role).await?)
    }
}
