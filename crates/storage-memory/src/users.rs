//! User tables of the in-memory backend.

use crate::MemoryStorage;
use async_trait::async_trait;
use serde_json::{Map, Value};
use st_core::ids::{AppId, TenantIdentifier};
use st_core::storage::*;
use st_core::StorageError;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

#[derive(Debug, Clone)]
pub(crate) struct UserRow {
    recipe_id: String,
    time_joined: i64,
    tenants: BTreeSet<TenantIdentifier>,
    email: Option<String>,
    password_hash: Option<String>,
    primary: String,
    is_linked_or_primary: bool,
}

#[derive(Default)]
pub(crate) struct UserTables {
    users: HashMap<(AppId, String), UserRow>,
    reset_tokens: Vec<(AppId, String, String, String, i64)>,
    ev_tokens: Vec<(TenantIdentifier, String, String, String, i64)>,
    verified: HashSet<(AppId, String, String)>,
    metadata: HashMap<(AppId, String), Map<String, Value>>,
    roles: BTreeMap<(AppId, String), BTreeSet<String>>,
    user_roles: BTreeSet<(TenantIdentifier, String, String)>,
    mappings: Vec<(AppId, UserIdMapping)>,
}

impl UserTables {
    pub fn remove_tenant(&mut self, t: &TenantIdentifier) {
        for row in self.users.values_mut() {
            row.tenants.remove(t);
        }
        self.ev_tokens.retain(|x| &x.0 != t);
        self.user_roles.retain(|x| &x.0 != t);
    }

    pub fn remove_app(&mut self, app: &AppId) {
        self.users.retain(|(a, _), _| a != app);
        self.reset_tokens.retain(|x| &x.0 != app);
        self.ev_tokens.retain(|x| &x.0.app != app);
        self.verified.retain(|x| &x.0 != app);
        self.metadata.retain(|(a, _), _| a != app);
        self.roles.retain(|(a, _), _| a != app);
        self.user_roles.retain(|x| &x.0.app != app);
        self.mappings.retain(|(a, _)| a != app);
    }

    fn auth_user(&self, app: &AppId, user_id: &str) -> Option<AuthUser> {
        let row = self.users.get(&(app.clone(), user_id.to_string()))?;
        let primary = row.primary.clone();
        let mut methods: Vec<LoginMethod> = self
            .users
            .iter()
            .filter(|((a, _), r)| a == app && r.primary == primary)
            .map(|((_, id), r)| LoginMethod {
                recipe_id: r.recipe_id.clone(),
                recipe_user_id: id.clone(),
                tenant_ids: r.tenants.iter().map(|t| t.tenant.to_string()).collect(),
                time_joined: r.time_joined,
                email: r.email.clone(),
                phone_number: None,
                third_party: None,
            })
            .collect();
        methods.sort_by(|a, b| a.time_joined.cmp(&b.time_joined).then(a.recipe_user_id.cmp(&b.recipe_user_id)));
        Some(AuthUser { id: primary, is_primary: row.is_linked_or_primary, login_methods: methods })
    }

    fn ep_in_tenant(&self, tenant: &TenantIdentifier, email: &str) -> Option<(&String, &UserRow)> {
        self.users
            .iter()
            .find(|((a, _), r)| {
                a == &tenant.app
                    && r.recipe_id == "emailpassword"
                    && r.email.as_deref() == Some(email)
                    && r.tenants.contains(tenant)
            })
            .map(|((_, id), r)| (id, r))
    }

    fn mapping(&self, app: &AppId, id: &str, supertokens: Option<bool>) -> Option<usize> {
        self.mappings.iter().position(|(a, m)| {
            a == app
                && match supertokens {
                    Some(true) => m.supertokens_user_id == id,
                    Some(false) => m.external_user_id == id,
                    None => m.supertokens_user_id == id || m.external_user_id == id,
                }
        })
    }
}

/// Email search as the reference: the address or its domain part starts with a tag.
fn email_matches(value: Option<&str>, prefixes: &[String]) -> bool {
    value
        .map(|v| {
            let v = v.to_lowercase();
            let domain = v.split_once('@').map(|(_, d)| d).unwrap_or("");
            prefixes.iter().any(|p| v.starts_with(p.as_str()) || domain.starts_with(p.as_str()))
        })
        .unwrap_or(false)
}

#[async_trait]
impl ActiveUsersStorage for MemoryStorage {
    async fn touch_user_last_active(&self, app: &AppId, user_id: &str, now_ms: i64) -> SResult<()> {
        self.lock().last_active.insert((app.clone(), user_id.to_string()), now_ms);
        Ok(())
    }

    async fn count_active_users(&self, app: &AppId, since_ms: i64) -> SResult<u64> {
        Ok(self.lock().last_active.iter().filter(|((a, _), t)| a == app && **t >= since_ms).count() as u64)
    }
}

#[async_trait]
impl AuthRecipeStorage for MemoryStorage {
    async fn get_auth_user(&self, app: &AppId, user_id: &str) -> SResult<Option<AuthUser>> {
        Ok(self.lock().users.auth_user(app, user_id))
    }

    async fn users_by_email(&self, tenant: &TenantIdentifier, email: &str) -> SResult<Vec<String>> {
        let s = self.lock();
        let mut out: Vec<String> = s
            .users
            .users
            .iter()
            .filter(|((a, _), r)| a == &tenant.app && r.email.as_deref() == Some(email) && r.tenants.contains(tenant))
            .map(|(_, r)| r.primary.clone())
            .collect();
        out.sort();
        out.dedup();
        Ok(out)
    }

    async fn list_users(&self, tenant: &TenantIdentifier, q: &UserListQuery) -> SResult<Vec<(String, i64)>> {
        let s = self.lock();
        let searching = q.is_search();
        // Every login method here is emailpassword: it has no phone number and no provider.
        let ep_searchable = q.phone_prefixes.is_empty() && q.provider_prefixes.is_empty();
        // The tenant's login methods that qualify, by (time joined, id): a search keeps the
        // first `limit` matches of the (only) recipe, as the reference's per-recipe `LIMIT`.
        let mut methods: Vec<(&String, &UserRow)> = s
            .users
            .users
            .iter()
            .filter(|((a, _), r)| a == &tenant.app && r.tenants.contains(tenant))
            .map(|((_, id), r)| (id, r))
            .filter(|(_, r)| searching || q.recipe_ids.is_empty() || q.recipe_ids.contains(&r.recipe_id))
            .filter(|(_, r)| !searching || (ep_searchable && email_matches(r.email.as_deref(), &q.email_prefixes)))
            .collect();
        if searching {
            methods.sort_by(|(xi, x), (yi, y)| (x.time_joined, xi).cmp(&(y.time_joined, yi)));
            methods.truncate(q.limit);
        }
        let mut primaries: BTreeMap<String, i64> = BTreeMap::new();
        for (_, r) in methods {
            let joined = s
                .users
                .users
                .get(&(tenant.app.clone(), r.primary.clone()))
                .map(|p| p.time_joined)
                .unwrap_or(r.time_joined);
            primaries.insert(r.primary.clone(), joined);
        }
        let mut rows: Vec<(String, i64)> = primaries.into_iter().collect();
        if searching {
            // Ties on time joined: id descending in both orders, as the reference's search.
            rows.sort_by(|a, b| if q.ascending { a.1.cmp(&b.1) } else { b.1.cmp(&a.1) }.then_with(|| b.0.cmp(&a.0)));
            return Ok(rows);
        }
        rows.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
        if !q.ascending {
            rows.reverse();
        }
        if let Some((joined, id)) = &q.from {
            rows.retain(|(i, j)| if q.ascending { (*j, i) >= (*joined, id) } else { (*j, i) <= (*joined, id) });
        }
        rows.truncate(q.limit);
        Ok(rows)
    }

    async fn count_users(&self, app: &AppId, tenant: Option<&TenantIdentifier>, recipe_ids: &[String]) -> SResult<u64> {
        let s = self.lock();
        // Distinct primary users per tenant, summed over tenants (as the reference counts
        // `includeAllTenants`: a user in two tenants counts twice).
        let set: HashSet<(&TenantIdentifier, &String)> = s
            .users
            .users
            .iter()
            .filter(|((a, _), r)| a == app && (recipe_ids.is_empty() || recipe_ids.contains(&r.recipe_id)))
            .flat_map(|(_, r)| r.tenants.iter().map(move |t| (t, &r.primary)))
            .filter(|(t, _)| tenant.map(|x| x == *t).unwrap_or(true))
            .collect();
        Ok(set.len() as u64)
    }

    async fn delete_user(&self, app: &AppId, user_id: &str, ids: &[String]) -> SResult<()> {
        let mut s = self.lock();
        s.users.users.remove(&(app.clone(), user_id.to_string()));
        let u = &mut s.users;
        u.reset_tokens.retain(|t| !(&t.0 == app && ids.contains(&t.1)));
        u.ev_tokens.retain(|t| !(&t.0.app == app && ids.contains(&t.1)));
        u.verified.retain(|t| !(&t.0 == app && ids.contains(&t.1)));
        u.metadata.retain(|(a, id), _| !(a == app && ids.contains(id)));
        u.user_roles.retain(|(t, id, _)| !(&t.app == app && ids.contains(id)));
        u.mappings.retain(|(a, m)| !(a == app && m.supertokens_user_id == user_id));
        s.sessions.retain(|_, r| !(&r.tenant.app == app && ids.contains(&r.user_id)));
        s.last_active.retain(|(a, id), _| !(a == app && ids.contains(id)));
        Ok(())
    }
}

#[async_trait]
impl EmailPasswordStorage for MemoryStorage {
    async fn sign_up_with_password(
        &self,
        tenant: &TenantIdentifier,
        user_id: &str,
        email: &str,
        password_hash: &str,
        now_ms: i64,
    ) -> SResult<SignUpResult> {
        let mut s = self.lock();
        if !s.tenant_exists(tenant) {
            return Err(StorageError::TenantOrAppNotFound);
        }
        if s.users.ep_in_tenant(tenant, email).is_some() {
            return Ok(SignUpResult::EmailAlreadyExists);
        }
        s.users.users.insert(
            (tenant.app.clone(), user_id.to_string()),
            UserRow {
                recipe_id: "emailpassword".into(),
                time_joined: now_ms,
                tenants: BTreeSet::from([tenant.clone()]),
                email: Some(email.to_string()),
                password_hash: Some(password_hash.to_string()),
                primary: user_id.to_string(),
                is_linked_or_primary: false,
            },
        );
        Ok(SignUpResult::Created)
    }

    async fn password_user_by_email(
        &self,
        tenant: &TenantIdentifier,
        email: &str,
    ) -> SResult<Option<(String, String)>> {
        let s = self.lock();
        Ok(s.users.ep_in_tenant(tenant, email).map(|(id, r)| (id.clone(), r.password_hash.clone().unwrap_or_default())))
    }

    async fn update_email_or_password(
        &self,
        app: &AppId,
        user_id: &str,
        email: Option<&str>,
        password_hash: Option<&str>,
    ) -> SResult<UpdateResult> {
        let mut s = self.lock();
        let key = (app.clone(), user_id.to_string());
        let Some(row) = s.users.users.get(&key).filter(|r| r.recipe_id == "emailpassword").cloned() else {
            return Ok(UpdateResult::UnknownUser);
        };
        if let Some(e) = email {
            for t in &row.tenants {
                if let Some((other, _)) = s.users.ep_in_tenant(t, e) {
                    if other != user_id {
                        return Ok(UpdateResult::EmailAlreadyExists);
                    }
                }
            }
        }
        if let Some(r) = s.users.users.get_mut(&key) {
            if let Some(e) = email {
                r.email = Some(e.to_string());
            }
            if let Some(h) = password_hash {
                r.password_hash = Some(h.to_string());
            }
        }
        Ok(UpdateResult::Ok)
    }

    async fn add_password_reset_token(
        &self,
        app: &AppId,
        user_id: &str,
        token_hash: &str,
        email: &str,
        expiry: i64,
    ) -> SResult<()> {
        self.lock().users.reset_tokens.push((app.clone(), user_id.into(), token_hash.into(), email.into(), expiry));
        Ok(())
    }

    async fn consume_password_reset_token(
        &self,
        app: &AppId,
        token_hash: &str,
        now_ms: i64,
    ) -> SResult<Option<(String, String)>> {
        let mut s = self.lock();
        let Some(t) = s.users.reset_tokens.iter().find(|t| &t.0 == app && t.2 == token_hash).cloned() else {
            return Ok(None);
        };
        s.users.reset_tokens.retain(|x| !(&x.0 == app && x.1 == t.1));
        if t.4 < now_ms {
            return Ok(None);
        }
        Ok(Some((t.1, t.3)))
    }

    async fn delete_expired_password_reset_tokens(&self, now_ms: i64) -> SResult<u64> {
        let mut s = self.lock();
        let n = s.users.reset_tokens.len();
        s.users.reset_tokens.retain(|t| t.4 >= now_ms);
        Ok((n - s.users.reset_tokens.len()) as u64)
    }
}

#[async_trait]
impl EmailVerificationStorage for MemoryStorage {
    async fn add_email_verification_token(
        &self,
        tenant: &TenantIdentifier,
        user_id: &str,
        email: &str,
        token_hash: &str,
        expiry: i64,
    ) -> SResult<()> {
        let mut s = self.lock();
        if !s.tenant_exists(tenant) {
            return Err(StorageError::TenantOrAppNotFound);
        }
        s.users.ev_tokens.push((tenant.clone(), user_id.into(), email.into(), token_hash.into(), expiry));
        Ok(())
    }

    async fn consume_email_verification_token(
        &self,
        tenant: &TenantIdentifier,
        token_hash: &str,
        now_ms: i64,
    ) -> SResult<Option<(String, String)>> {
        let mut s = self.lock();
        let Some(t) = s.users.ev_tokens.iter().find(|t| &t.0 == tenant && t.3 == token_hash).cloned() else {
            return Ok(None);
        };
        // The pair's tokens go even when this one has expired (as the reference).
        s.users.ev_tokens.retain(|x| !(&x.0 == tenant && x.1 == t.1 && x.2 == t.2));
        if t.4 < now_ms {
            return Ok(None);
        }
        s.users.verified.insert((tenant.app.clone(), t.1.clone(), t.2.clone()));
        Ok(Some((t.1, t.2)))
    }

    async fn delete_email_verification_tokens(
        &self,
        tenant: &TenantIdentifier,
        user_id: &str,
        email: &str,
    ) -> SResult<()> {
        self.lock().users.ev_tokens.retain(|x| !(&x.0 == tenant && x.1 == user_id && x.2 == email));
        Ok(())
    }

    async fn is_email_verified(&self, app: &AppId, user_id: &str, email: &str) -> SResult<bool> {
        Ok(self.lock().users.verified.contains(&(app.clone(), user_id.to_string(), email.to_string())))
    }

    async fn set_email_verified(&self, app: &AppId, user_id: &str, email: &str) -> SResult<()> {
        self.lock().users.verified.insert((app.clone(), user_id.to_string(), email.to_string()));
        Ok(())
    }

    async fn unverify_email(&self, app: &AppId, user_id: &str, email: &str) -> SResult<()> {
        self.lock().users.verified.remove(&(app.clone(), user_id.to_string(), email.to_string()));
        Ok(())
    }

    async fn delete_expired_email_verification_tokens(&self, now_ms: i64) -> SResult<u64> {
        let mut s = self.lock();
        let n = s.users.ev_tokens.len();
        s.users.ev_tokens.retain(|t| t.4 >= now_ms);
        Ok((n - s.users.ev_tokens.len()) as u64)
    }
}

#[async_trait]
impl UserMetadataStorage for MemoryStorage {
    async fn get_user_metadata(&self, app: &AppId, user_id: &str) -> SResult<Option<Map<String, Value>>> {
        Ok(self.lock().users.metadata.get(&(app.clone(), user_id.to_string())).cloned())
    }

    async fn update_user_metadata(
        &self,
        app: &AppId,
        user_id: &str,
        update: &Map<String, Value>,
    ) -> SResult<Map<String, Value>> {
        let mut s = self.lock();
        let key = (app.clone(), user_id.to_string());
        let current = s.users.metadata.remove(&key).unwrap_or_default();
        let merged = st_core::users::merge_metadata(current, update);
        s.users.metadata.insert(key, merged.clone());
        Ok(merged)
    }

    async fn delete_user_metadata(&self, app: &AppId, user_id: &str) -> SResult<bool> {
        Ok(self.lock().users.metadata.remove(&(app.clone(), user_id.to_string())).is_some())
    }
}

#[async_trait]
impl UserRolesStorage for MemoryStorage {
    async fn create_role_or_add_permissions(&self, app: &AppId, role: &str, permissions: &[String]) -> SResult<bool> {
        let mut s = self.lock();
        let key = (app.clone(), role.to_string());
        let created = !s.users.roles.contains_key(&key);
        s.users.roles.entry(key).or_default().extend(permissions.iter().cloned());
        Ok(created)
    }

    async fn permissions_of_role(&self, app: &AppId, role: &str) -> SResult<Option<Vec<String>>> {
        Ok(self.lock().users.roles.get(&(app.clone(), role.to_string())).map(|p| p.iter().cloned().collect()))
    }

    async fn remove_role_permissions(&self, app: &AppId, role: &str, permissions: Option<&[String]>) -> SResult<bool> {
        let mut s = self.lock();
        let Some(perms) = s.users.roles.get_mut(&(app.clone(), role.to_string())) else { return Ok(false) };
        match permissions {
            Some(list) => perms.retain(|p| !list.contains(p)),
            None => perms.clear(),
        }
        Ok(true)
    }

    async fn roles_with_permission(&self, app: &AppId, permission: &str) -> SResult<Vec<String>> {
        let s = self.lock();
        Ok(s.users
            .roles
            .iter()
            .filter(|((a, _), p)| a == app && p.contains(permission))
            .map(|((_, r), _)| r.clone())
            .collect())
    }

    async fn delete_role(&self, app: &AppId, role: &str) -> SResult<bool> {
        let mut s = self.lock();
        let existed = s.users.roles.remove(&(app.clone(), role.to_string())).is_some();
        s.users.user_roles.retain(|(t, _, r)| !(&t.app == app && r == role));
        Ok(existed)
    }

    async fn all_roles(&self, app: &AppId) -> SResult<Vec<String>> {
        Ok(self.lock().users.roles.keys().filter(|(a, _)| a == app).map(|(_, r)| r.clone()).collect())
    }

    async fn add_role_to_user(&self, tenant: &TenantIdentifier, user_id: &str, role: &str) -> SResult<RoleResult> {
        let mut s = self.lock();
        if !s.users.roles.contains_key(&(tenant.app.clone(), role.to_string())) {
            return Ok(RoleResult::UnknownRole);
        }
        let inserted = s.users.user_roles.insert((tenant.clone(), user_id.to_string(), role.to_string()));
        Ok(RoleResult::Ok(!inserted))
    }

    async fn remove_role_from_user(&self, tenant: &TenantIdentifier, user_id: &str, role: &str) -> SResult<RoleResult> {
        let mut s = self.lock();
        if !s.users.roles.contains_key(&(tenant.app.clone(), role.to_string())) {
            return Ok(RoleResult::UnknownRole);
        }
        Ok(RoleResult::Ok(s.users.user_roles.remove(&(tenant.clone(), user_id.to_string(), role.to_string()))))
    }

    async fn roles_of_user(&self, tenant: &TenantIdentifier, user_id: &str) -> SResult<Vec<String>> {
        let s = self.lock();
        Ok(s.users
            .user_roles
            .iter()
            .filter(|(t, u, _)| t == tenant && u == user_id)
            .map(|(_, _, r)| r.clone())
            .collect())
    }

    async fn users_with_role(&self, tenant: &TenantIdentifier, role: &str) -> SResult<Option<Vec<String>>> {
        let s = self.lock();
        if !s.users.roles.contains_key(&(tenant.app.clone(), role.to_string())) {
            return Ok(None);
        }
        Ok(Some(
            s.users.user_roles.iter().filter(|(t, _, r)| t == tenant && r == role).map(|(_, u, _)| u.clone()).collect(),
        ))
    }
}

#[async_trait]
impl UserIdMappingStorage for MemoryStorage {
    async fn create_user_id_mapping(
        &self,
        app: &AppId,
        mapping: &UserIdMapping,
        move_verification: bool,
    ) -> SResult<MappingCreate> {
        let mut s = self.lock();
        if !s.users.users.contains_key(&(app.clone(), mapping.supertokens_user_id.clone())) {
            return Ok(MappingCreate::UnknownSuperTokensUserId);
        }
        let st = s.users.mapping(app, &mapping.supertokens_user_id, Some(true)).is_some();
        let ext = s.users.mapping(app, &mapping.external_user_id, Some(false)).is_some();
        if st || ext {
            return Ok(MappingCreate::AlreadyExists { supertokens_id_exists: st, external_id_exists: ext });
        }
        if move_verification {
            let (from, to) = (&mapping.supertokens_user_id, &mapping.external_user_id);
            for t in s.users.ev_tokens.iter_mut().filter(|t| &t.0.app == app && &t.1 == from) {
                t.1 = to.clone();
            }
            let moved: Vec<_> = s.users.verified.iter().filter(|v| &v.0 == app && &v.1 == from).cloned().collect();
            for v in moved {
                s.users.verified.remove(&v);
                s.users.verified.insert((v.0, to.clone(), v.2));
            }
        }
        s.users.mappings.push((app.clone(), mapping.clone()));
        Ok(MappingCreate::Ok)
    }

    async fn user_id_uses(&self, app: &AppId, user_id: &str, now_ms: i64) -> SResult<Vec<UserIdUse>> {
        let s = self.lock();
        let u = &s.users;
        let checks = [
            (
                UserIdUse::Session,
                s.sessions.values().any(|r| &r.tenant.app == app && r.user_id == user_id && r.expires_at >= now_ms),
            ),
            (UserIdUse::UserMetadata, u.metadata.contains_key(&(app.clone(), user_id.to_string()))),
            (UserIdUse::UserRoles, u.user_roles.iter().any(|r| &r.0.app == app && r.1 == user_id)),
            (
                UserIdUse::EmailVerification,
                u.ev_tokens.iter().any(|t| &t.0.app == app && t.1 == user_id)
                    || u.verified.iter().any(|v| &v.0 == app && v.1 == user_id),
            ),
        ];
        // This backend has no TOTP devices.
        Ok(checks.into_iter().filter(|(_, used)| *used).map(|(kind, _)| kind).collect())
    }

    async fn get_user_id_mapping(
        &self,
        app: &AppId,
        id: &str,
        supertokens: Option<bool>,
    ) -> SResult<Option<UserIdMapping>> {
        let s = self.lock();
        if supertokens.is_none() {
            // Prefer the supertokens-id match, as the reference does for ANY.
            if let Some(i) = s.users.mapping(app, id, Some(true)) {
                return Ok(Some(s.users.mappings[i].1.clone()));
            }
        }
        Ok(s.users.mapping(app, id, supertokens).map(|i| s.users.mappings[i].1.clone()))
    }

    async fn delete_user_id_mapping(&self, app: &AppId, id: &str, supertokens: Option<bool>) -> SResult<bool> {
        let mut s = self.lock();
        match s.users.mapping(app, id, supertokens) {
            Some(i) => {
                s.users.mappings.remove(i);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn update_external_user_id_info(
        &self,
        app: &AppId,
        id: &str,
        supertokens: Option<bool>,
        info: Option<&str>,
    ) -> SResult<bool> {
        let mut s = self.lock();
        match s.users.mapping(app, id, supertokens) {
            Some(i) => {
                s.users.mappings[i].1.external_user_id_info = info.map(str::to_string);
                Ok(true)
            }
            None => Ok(false),
        }
    }
}
