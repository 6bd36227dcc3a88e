//! [`UserRolesStorage`]: `roles`, `role_permissions` (cascading from `roles`) and
//! `user_roles` (per tenant; no foreign key to `roles`, as the reference).
//!
//! Changes that need the role to exist take a `FOR SHARE` lock on its row first, so a
//! concurrent `delete_role` cannot leave an orphan permission or assignment. Lists come back
//! sorted bytewise (`COLLATE "C"`).

use crate::query::{col, strings, tx_exec, tx_query};
use crate::{error, PgStorage, TableNames};
use async_trait::async_trait;
use st_core::ids::{AppId, TenantIdentifier};
use st_core::storage::{RoleResult, SResult, UserRolesStorage};
use tracing::field::Empty;
use tracing::instrument;

/// Statement texts of the userroles recipe.
#[derive(Debug)]
pub(crate) struct UserRolesSql {
    role_insert: String,
    perms_insert: String,
    role_perms: String,
    role_lock: String,
    perms_delete_all: String,
    perms_delete_some: String,
    roles_with_perm: String,
    role_delete: String,
    user_roles_delete_role: String,
    roles_list: String,
    user_role_insert: String,
    user_role_delete: String,
    user_roles: String,
    role_users: String,
}

impl UserRolesSql {
    pub(crate) fn new(t: &TableNames) -> UserRolesSql {
        let roles = t.qualified("roles");
        let rp = t.qualified("role_permissions");
        let ur = t.qualified("user_roles");
        UserRolesSql {
            role_insert: format!("INSERT INTO {roles} (app_id, role) VALUES ($1, $2) ON CONFLICT DO NOTHING"),
            perms_insert: format!(
                "INSERT INTO {rp} (app_id, role, permission) SELECT $1, $2, p FROM UNNEST($3::TEXT[]) AS p \
                 ON CONFLICT DO NOTHING"
            ),
            role_perms: format!(
                "SELECT ARRAY(SELECT p.permission::TEXT FROM {rp} p WHERE p.app_id = r.app_id AND p.role = r.role \
                   ORDER BY p.permission::TEXT COLLATE \"C\") \
                 FROM {roles} r WHERE r.app_id = $1 AND r.role = $2"
            ),
            role_lock: format!("SELECT 1 FROM {roles} WHERE app_id = $1 AND role = $2 FOR SHARE"),
            perms_delete_all: format!("DELETE FROM {rp} WHERE app_id = $1 AND role = $2"),
            perms_delete_some: format!(
                "DELETE FROM {rp} WHERE app_id = $1 AND role = $2 AND permission = ANY($3::TEXT[])"
            ),
            roles_with_perm: format!(
                "SELECT role::TEXT FROM {rp} WHERE app_id = $1 AND permission = $2 ORDER BY role::TEXT COLLATE \"C\""
            ),
            role_delete: format!("DELETE FROM {roles} WHERE app_id = $1 AND role = $2"),
            user_roles_delete_role: format!("DELETE FROM {ur} WHERE app_id = $1 AND role = $2"),
            roles_list: format!("SELECT role::TEXT FROM {roles} WHERE app_id = $1 ORDER BY role::TEXT COLLATE \"C\""),
            user_role_insert: format!(
                "INSERT INTO {ur} (app_id, tenant_id, user_id, role) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING"
            ),
            user_role_delete: format!(
                "DELETE FROM {ur} WHERE app_id = $1 AND tenant_id = $2 AND user_id = $3 AND role = $4"
            ),
            user_roles: format!(
                "SELECT role::TEXT FROM {ur} WHERE app_id = $1 AND tenant_id = $2 AND user_id = $3 \
                 ORDER BY role::TEXT COLLATE \"C\""
            ),
            role_users: format!(
                "SELECT user_id::TEXT FROM {ur} WHERE app_id = $1 AND tenant_id = $2 AND role = $3 \
                 ORDER BY user_id::TEXT COLLATE \"C\""
            ),
        }
    }
}

impl PgStorage {
    fn roles_sql(&self) -> &UserRolesSql {
        &self.sql().userroles
    }
}

impl PgStorage {
    /// Run `statement` (parameters: app, tenant, user id, role) on a user's role in one
    /// transaction that first locks the role's row `FOR SHARE`, so that a concurrent
    /// `delete_role` cannot leave an orphan assignment. `None`: the role does not exist.
    async fn with_role_locked(
        &self,
        tenant: &TenantIdentifier,
        user_id: &str,
        role: &str,
        statement: &str,
    ) -> SResult<Option<u64>> {
        let (app, t) = (tenant.app.as_str(), tenant.tenant.as_str());
        self.retrying(|| async {
            let mut conn = self.conn().await?;
            let tx = conn.transaction().await.map_err(error::pg)?;
            if tx_query(&tx, &self.roles_sql().role_lock, &[&app, &role]).await?.is_empty() {
                return Ok(None);
            }
            let changed = tx_exec(&tx, statement, &[&app, &t, &user_id, &role]).await?;
            tx.commit().await.map_err(error::pg)?;
            Ok(Some(changed))
        })
        .await
    }
}

#[async_trait]
impl UserRolesStorage for PgStorage {
    #[instrument(
        level = "debug", target = "st_storage", name = "storage.create_role_or_add_permissions", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn create_role_or_add_permissions(&self, app: &AppId, role: &str, permissions: &[String]) -> SResult<bool> {
        let s = self.roles_sql();
        let app = app.as_str();
        self.retrying(|| async {
            let mut conn = self.conn().await?;
            let tx = conn.transaction().await.map_err(error::pg)?;
            let created = tx_exec(&tx, &s.role_insert, &[&app, &role]).await? == 1;
            if !permissions.is_empty() {
                tx_exec(&tx, &s.perms_insert, &[&app, &role, &permissions]).await?;
            }
            tx.commit().await.map_err(error::pg)?;
            Ok(created)
        })
        .await
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.permissions_of_role", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn permissions_of_role(&self, app: &AppId, role: &str) -> SResult<Option<Vec<String>>> {
        let row = self.query_opt(&self.roles_sql().role_perms, &[&app.as_str(), &role]).await?;
        row.map(|r| col(&r, 0)).transpose()
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.remove_role_permissions", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn remove_role_permissions(&self, app: &AppId, role: &str, permissions: Option<&[String]>) -> SResult<bool> {
        let s = self.roles_sql();
        let app = app.as_str();
        self.retrying(|| async {
            let mut conn = self.conn().await?;
            let tx = conn.transaction().await.map_err(error::pg)?;
            if tx_query(&tx, &s.role_lock, &[&app, &role]).await?.is_empty() {
                return Ok(false);
            }
            match permissions {
                None => tx_exec(&tx, &s.perms_delete_all, &[&app, &role]).await?,
                Some(list) => tx_exec(&tx, &s.perms_delete_some, &[&app, &role, &list]).await?,
            };
            tx.commit().await.map_err(error::pg)?;
            Ok(true)
        })
        .await
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.roles_with_permission", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn roles_with_permission(&self, app: &AppId, permission: &str) -> SResult<Vec<String>> {
        strings(&self.query(&self.roles_sql().roles_with_perm, &[&app.as_str(), &permission]).await?)
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.delete_role", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn delete_role(&self, app: &AppId, role: &str) -> SResult<bool> {
        let s = self.roles_sql();
        let app = app.as_str();
        self.retrying(|| async {
            let mut conn = self.conn().await?;
            let tx = conn.transaction().await.map_err(error::pg)?;
            // role_permissions cascades from roles; user_roles has no FK to roles.
            let existed = tx_exec(&tx, &s.role_delete, &[&app, &role]).await? > 0;
            tx_exec(&tx, &s.user_roles_delete_role, &[&app, &role]).await?;
            tx.commit().await.map_err(error::pg)?;
            Ok(existed)
        })
        .await
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.all_roles", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn all_roles(&self, app: &AppId) -> SResult<Vec<String>> {
        strings(&self.query(&self.roles_sql().roles_list, &[&app.as_str()]).await?)
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.add_role_to_user", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %tenant.app, tenant_id = %tenant.tenant,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn add_role_to_user(&self, tenant: &TenantIdentifier, user_id: &str, role: &str) -> SResult<RoleResult> {
        let inserted = self.with_role_locked(tenant, user_id, role, &self.roles_sql().user_role_insert).await?;
        Ok(inserted.map_or(RoleResult::UnknownRole, |n| RoleResult::Ok(n != 1)))
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.remove_role_from_user", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %tenant.app, tenant_id = %tenant.tenant,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn remove_role_from_user(&self, tenant: &TenantIdentifier, user_id: &str, role: &str) -> SResult<RoleResult> {
        let removed = self.with_role_locked(tenant, user_id, role, &self.roles_sql().user_role_delete).await?;
        Ok(removed.map_or(RoleResult::UnknownRole, |n| RoleResult::Ok(n > 0)))
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.roles_of_user", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %tenant.app, tenant_id = %tenant.tenant,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn roles_of_user(&self, tenant: &TenantIdentifier, user_id: &str) -> SResult<Vec<String>> {
        let rows = self
            .query(&self.roles_sql().user_roles, &[&tenant.app.as_str(), &tenant.tenant.as_str(), &user_id])
            .await?;
        strings(&rows)
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.users_with_role", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %tenant.app, tenant_id = %tenant.tenant,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn users_with_role(&self, tenant: &TenantIdentifier, role: &str) -> SResult<Option<Vec<String>>> {
        let s = self.roles_sql();
        let (app, t) = (tenant.app.as_str(), tenant.tenant.as_str());
        self.retrying(|| async {
            let mut conn = self.conn().await?;
            let tx = conn.transaction().await.map_err(error::pg)?;
            if tx_query(&tx, &s.role_lock, &[&app, &role]).await?.is_empty() {
                return Ok(None);
            }
            let users = strings(&tx_query(&tx, &s.role_users, &[&app, &t, &role]).await?)?;
            tx.commit().await.map_err(error::pg)?;
            Ok(Some(users))
        })
        .await
    }
}
