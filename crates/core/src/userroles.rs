//! The user-roles recipe: roles and their permissions (per app), users' roles (per tenant).

use crate::core::Core;
use crate::error::CoreResult;
use crate::ids::TenantIdentifier;
use crate::storage::RoleResult;

impl Core {
    // ---- roles ----

    pub async fn add_user_role(&self, tenant: &TenantIdentifier, user_id: &str, role: &str) -> CoreResult<RoleResult> {
        self.tenant(tenant).await?;
        Ok(self.storage.add_role_to_user(tenant, user_id, role).await?)
    }
}
