//! User roles in memory ([`UserRolesStorage`]): roles with their permissions (per app), and
//! users' roles (per tenant).

use crate::{Cascade, MemoryStorage};
use async_trait::async_trait;
use st_core::ids::{AppId, TenantIdentifier};
use st_core::storage::{RoleResult, SResult, UserRolesStorage};
use std::collections::{BTreeMap, BTreeSet};
use tracing::field::Empty;
use tracing::instrument;

#[derive(Default)]
pub(crate) struct Tables {
    /// (app, role) -> permissions.
    pub(crate) roles: BTreeMap<(AppId, String), BTreeSet<String>>,
    /// (tenant, user id, role).
    pub(crate) user_roles: BTreeSet<(TenantIdentifier, String, String)>,
}

impl Tables {
    /// Whether the user id has a role in any of the app's tenants.
    pub fn holds_user(&self, app: &AppId, user_id: &str) -> bool {
        self.user_roles.iter().any(|r| &r.0.app == app && r.1 == user_id)
    }

    fn role_exists(&self, app: &AppId, role: &str) -> bool {
        self.roles.contains_key(&(app.clone(), role.to_string()))
    }

    /// Drop the tenant's rows kept under any of these user ids (a user taken out of the tenant,
    /// [`st_core::storage::TenantStorage::remove_user_from_tenant`]); whether there were any.
    pub fn remove_user_from_tenant(&mut self, tenant: &TenantIdentifier, ids: &[String]) -> bool {
        let before = self.user_roles.len();
        self.user_roles.retain(|(t, id, _)| !(t == tenant && ids.contains(id)));
        self.user_roles.len() != before
    }
}

impl Cascade for Tables {
    fn remove_tenant(&mut self, tenant: &TenantIdentifier) {
        self.user_roles.retain(|x| &x.0 != tenant);
    }

    fn remove_app(&mut self, app: &AppId) {
        self.roles.retain(|(a, _), _| a != app);
        self.user_roles.retain(|x| &x.0.app != app);
    }

    fn remove_user(&mut self, app: &AppId, _user_id: &str, ids: &[String]) {
        self.user_roles.retain(|(t, id, _)| !(&t.app == app && ids.contains(id)));
    }
}

#[async_trait]
impl UserRolesStorage for MemoryStorage {
    #[instrument(level = "debug", target = "st_storage", name = "storage.create_role_or_add_permissions",
        skip_all, fields(otel.kind = "client", db.system = "memory", app_id = %app, otel.status_code = Empty,
        error.type = Empty))]
    async fn create_role_or_add_permissions(&self, app: &AppId, role: &str, permissions: &[String]) -> SResult<bool> {
        let mut s = self.lock();
        let roles = &mut s.userroles.roles;
        let key = (app.clone(), role.to_string());
        let created = !roles.contains_key(&key);
        roles.entry(key).or_default().extend(permissions.iter().cloned());
        Ok(created)
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.permissions_of_role", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %app, otel.status_code = Empty, error.type = Empty))]
    async fn permissions_of_role(&self, app: &AppId, role: &str) -> SResult<Option<Vec<String>>> {
        let s = self.lock();
        Ok(s.userroles.roles.get(&(app.clone(), role.to_string())).map(|p| p.iter().cloned().collect()))
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.remove_role_permissions", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %app, otel.status_code = Empty, error.type = Empty))]
    async fn remove_role_permissions(&self, app: &AppId, role: &str, permissions: Option<&[String]>) -> SResult<bool> {
        let mut s = self.lock();
        let Some(perms) = s.userroles.roles.get_mut(&(app.clone(), role.to_string())) else { return Ok(false) };
        match permissions {
            Some(list) => perms.retain(|p| !list.contains(p)),
            None => perms.clear(),
        }
        Ok(true)
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.roles_with_permission", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %app, otel.status_code = Empty, error.type = Empty))]
    async fn roles_with_permission(&self, app: &AppId, permission: &str) -> SResult<Vec<String>> {
        let s = self.lock();
        Ok(s.userroles
            .roles
            .iter()
            .filter(|((a, _), p)| a == app && p.contains(permission))
            .map(|((_, r), _)| r.clone())
            .collect())
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.delete_role", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %app, otel.status_code = Empty, error.type = Empty))]
    async fn delete_role(&self, app: &AppId, role: &str) -> SResult<bool> {
        let mut s = self.lock();
        let t = &mut s.userroles;
        let existed = t.roles.remove(&(app.clone(), role.to_string())).is_some();
        t.user_roles.retain(|(tenant, _, r)| !(&tenant.app == app && r == role));
        Ok(existed)
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.all_roles", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %app, otel.status_code = Empty, error.type = Empty))]
    async fn all_roles(&self, app: &AppId) -> SResult<Vec<String>> {
        Ok(self.lock().userroles.roles.keys().filter(|(a, _)| a == app).map(|(_, r)| r.clone()).collect())
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.add_role_to_user", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %tenant.app, tenant_id = %tenant.tenant,
        otel.status_code = Empty, error.type = Empty))]
    async fn add_role_to_user(&self, tenant: &TenantIdentifier, user_id: &str, role: &str) -> SResult<RoleResult> {
        let mut s = self.lock();
        if !s.userroles.role_exists(&tenant.app, role) {
            return Ok(RoleResult::UnknownRole);
        }
        // As PostgreSQL's foreign key: a missing tenant is refused after the role check.
        s.require_tenant(tenant)?;
        let inserted = s.userroles.user_roles.insert((tenant.clone(), user_id.to_string(), role.to_string()));
        Ok(RoleResult::Ok(!inserted))
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.remove_role_from_user", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %tenant.app, tenant_id = %tenant.tenant,
        otel.status_code = Empty, error.type = Empty))]
    async fn remove_role_from_user(&self, tenant: &TenantIdentifier, user_id: &str, role: &str) -> SResult<RoleResult> {
        let mut s = self.lock();
        let t = &mut s.userroles;
        if !t.role_exists(&tenant.app, role) {
            return Ok(RoleResult::UnknownRole);
        }
        Ok(RoleResult::Ok(t.user_roles.remove(&(tenant.clone(), user_id.to_string(), role.to_string()))))
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.roles_of_user", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %tenant.app, tenant_id = %tenant.tenant,
        otel.status_code = Empty, error.type = Empty))]
    async fn roles_of_user(&self, tenant: &TenantIdentifier, user_id: &str) -> SResult<Vec<String>> {
        let s = self.lock();
        Ok(s.userroles
            .user_roles
            .iter()
            .filter(|(t, u, _)| t == tenant && u == user_id)
            .map(|(_, _, r)| r.clone())
            .collect())
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.users_with_role", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %tenant.app, tenant_id = %tenant.tenant,
        otel.status_code = Empty, error.type = Empty))]
    async fn users_with_role(&self, tenant: &TenantIdentifier, role: &str) -> SResult<Option<Vec<String>>> {
        let s = self.lock();
        let t = &s.userroles;
        if !t.role_exists(&tenant.app, role) {
            return Ok(None);
        }
        Ok(Some(t.user_roles.iter().filter(|(x, _, r)| x == tenant && r == role).map(|(_, u, _)| u.clone()).collect()))
    }
}
