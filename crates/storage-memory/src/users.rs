//! The auth-recipe user rows in memory ([`AuthRecipeStorage`]): every login method with its
//! tenants and its group (primary user), and the intents over them: users and their groups,
//! lookups by e-mail, `GET /users` pages and searches, counts, and the removal of a user.
//!
//! The rows live here, not in `emailpassword`, because every recipe's login methods share
//! them, as the reference's `all_auth_recipe_users` table: `emailpassword` inserts and updates
//! its users here (a row keeps its password hash, which only that module reads), and
//! `useridmapping` checks here that a supertokens id exists. The fields are crate-visible for
//! those two modules.

use crate::{Cascade, MemoryStorage, State};
use async_trait::async_trait;
use st_core::ids::{AppId, TenantIdentifier};
use st_core::storage::{
    compose, removal, AuthRecipeStorage, AuthUser, LoginMethod, Removal, SResult, SessionIdentity, UserDecorations,
    UserListQuery,
};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use tracing::field::Empty;
use tracing::instrument;

/// One login method. Each recipe fills its own fields and leaves the others at their default
/// (`..Default::default()`).
#[derive(Debug, Clone, Default)]
pub(crate) struct UserRow {
    pub recipe_id: String,
    pub time_joined: i64,
    pub tenants: BTreeSet<TenantIdentifier>,
    pub email: Option<String>,
    /// Email-password users only.
    pub password_hash: Option<String>,
    /// Third-party users only: (provider id, the user's id there).
    pub third_party: Option<(String, String)>,
    /// Passwordless users only (with or without an e-mail).
    pub phone_number: Option<String>,
    /// The id of its group: its primary user's, or its own.
    pub primary: String,
    pub is_linked_or_primary: bool,
}

/// (app, recipe user id) -> login method.
#[derive(Default)]
pub(crate) struct Tables {
    pub rows: HashMap<(AppId, String), UserRow>,
}

impl Tables {
    /// The group id of `user_id`: its row's, or the id itself when it names a group whose
    /// primary's own login method was removed (see `st_core::storage::Removal::MethodOnly`),
    /// as the reference's `app_id_to_user_id` row of that id still names it.
    pub(crate) fn group_of(&self, app: &AppId, user_id: &str) -> Option<String> {
        match self.rows.get(&(app.clone(), user_id.to_string())) {
            Some(row) => Some(row.primary.clone()),
            None => self.rows.iter().any(|((a, _), r)| a == app && r.primary == user_id).then(|| user_id.to_string()),
        }
    }

    /// The ids of the login methods of the group `primary`.
    pub(crate) fn members(&self, app: &AppId, primary: &str) -> Vec<String> {
        let mut out: Vec<String> = self
            .rows
            .iter()
            .filter(|((a, _), r)| a == app && r.primary == primary)
            .map(|((_, id), _)| id.clone())
            .collect();
        out.sort();
        out
    }

    /// The user (group) of `user_id`.
    pub(crate) fn auth_user(&self, app: &AppId, user_id: &str) -> Option<AuthUser> {
        let primary = self.group_of(app, user_id)?;
        let mut methods: Vec<LoginMethod> = self
            .rows
            .iter()
            .filter(|((a, _), r)| a == app && r.primary == primary)
            .map(|((_, id), r)| LoginMethod {
                recipe_id: r.recipe_id.clone(),
                recipe_user_id: id.clone(),
                tenant_ids: r.tenants.iter().map(|t| t.tenant.to_string()).collect(),
                time_joined: r.time_joined,
                email: r.email.clone(),
                phone_number: r.phone_number.clone(),
                third_party: r.third_party.clone(),
            })
            .collect();
        methods.sort_by(|a, b| a.time_joined.cmp(&b.time_joined).then(a.recipe_user_id.cmp(&b.recipe_user_id)));
        // Every row of a linked group is flagged, and the primary's own row may be gone.
        let is_primary = self.rows.iter().any(|((a, _), r)| a == app && r.primary == primary && r.is_linked_or_primary);
        Some(AuthUser { id: primary, is_primary, login_methods: methods })
    }

    /// The time each group of the app joined: its oldest login method's (the reference's
    /// `primary_or_recipe_user_time_joined`).
    fn group_times(&self, app: &AppId) -> HashMap<&str, i64> {
        let mut out: HashMap<&str, i64> = HashMap::new();
        for ((_, _), r) in self.rows.iter().filter(|((a, _), _)| a == app) {
            let t = out.entry(r.primary.as_str()).or_insert(r.time_joined);
            *t = (*t).min(r.time_joined);
        }
        out
    }
}

impl Cascade for Tables {
    fn remove_tenant(&mut self, tenant: &TenantIdentifier) {
        for row in self.rows.values_mut() {
            row.tenants.remove(tenant);
        }
    }

    fn remove_app(&mut self, app: &AppId) {
        self.rows.retain(|(a, _), _| a != app);
    }

    fn remove_user(&mut self, app: &AppId, user_id: &str, _ids: &[String]) {
        self.rows.remove(&(app.clone(), user_id.to_string()));
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

/// Whether a login method matches a search ([`UserListQuery::is_search`]): each kind of tag
/// given must match, and a recipe without that kind of field matches no such tag (as the
/// reference's per-recipe queries).
fn search_matches(r: &UserRow, q: &UserListQuery) -> bool {
    let (no_email, no_phone, no_provider) =
        (q.email_prefixes.is_empty(), q.phone_prefixes.is_empty(), q.provider_prefixes.is_empty());
    match r.recipe_id.as_str() {
        "emailpassword" | "webauthn" => no_phone && no_provider && email_matches(r.email.as_deref(), &q.email_prefixes),
        "thirdparty" => {
            let provider = |(id, _): &(String, String)| q.provider_prefixes.iter().any(|p| id.starts_with(p.as_str()));
            no_phone
                && (no_email || email_matches(r.email.as_deref(), &q.email_prefixes))
                && (no_provider || r.third_party.as_ref().is_some_and(provider))
        }
        "passwordless" => {
            let phone = |p: &String| q.phone_prefixes.iter().any(|t| p.starts_with(t.as_str()));
            no_provider
                && (no_email || email_matches(r.email.as_deref(), &q.email_prefixes))
                && (no_phone || r.phone_number.as_ref().is_some_and(phone))
        }
        _ => false,
    }
}

#[async_trait]
impl AuthRecipeStorage for MemoryStorage {
    #[instrument(level = "debug", target = "st_storage", name = "storage.get_auth_users", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %app, otel.status_code = Empty, error.type = Empty))]
    async fn get_auth_users(&self, app: &AppId, user_ids: &[String]) -> SResult<Vec<AuthUser>> {
        compose::get_auth_users(self, app, user_ids).await
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.user_decorations", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %app, otel.status_code = Empty, error.type = Empty))]
    async fn user_decorations(&self, app: &AppId, users: &[AuthUser]) -> SResult<UserDecorations> {
        compose::user_decorations(self, app, users).await
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.session_identity", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %app, otel.status_code = Empty, error.type = Empty))]
    async fn session_identity(&self, app: &AppId, user_id: &str) -> SResult<Option<SessionIdentity>> {
        compose::session_identity(self, app, user_id).await
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.get_auth_user", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %app, otel.status_code = Empty, error.type = Empty))]
    async fn get_auth_user(&self, app: &AppId, user_id: &str) -> SResult<Option<AuthUser>> {
        Ok(self.lock().users.auth_user(app, user_id))
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.users_by_email", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %tenant.app, tenant_id = %tenant.tenant,
        otel.status_code = Empty, error.type = Empty))]
    async fn users_by_email(&self, tenant: &TenantIdentifier, email: &str) -> SResult<Vec<String>> {
        let s = self.lock();
        let mut out: Vec<String> = s
            .users
            .rows
            .iter()
            .filter(|((a, _), r)| a == &tenant.app && r.email.as_deref() == Some(email) && r.tenants.contains(tenant))
            .map(|(_, r)| r.primary.clone())
            .collect();
        out.sort();
        out.dedup();
        Ok(out)
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.list_users", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %tenant.app, tenant_id = %tenant.tenant,
        limit = query.limit, otel.status_code = Empty, error.type = Empty))]
    async fn list_users(&self, tenant: &TenantIdentifier, query: &UserListQuery) -> SResult<Vec<(String, i64)>> {
        let s = self.lock();
        let searching = query.is_search();
        // The tenant's login methods that qualify, by (time joined, id): a search keeps the
        // first `limit` matches of each recipe, as the reference's per-recipe `LIMIT`.
        let mut methods: Vec<(&String, &UserRow)> = s
            .users
            .rows
            .iter()
            .filter(|((a, _), r)| a == &tenant.app && r.tenants.contains(tenant))
            .map(|((_, id), r)| (id, r))
            .filter(|(_, r)| searching || query.recipe_ids.is_empty() || query.recipe_ids.contains(&r.recipe_id))
            .filter(|(_, r)| !searching || search_matches(r, query))
            .collect();
        if searching {
            methods.sort_by(|(xi, x), (yi, y)| (x.time_joined, xi).cmp(&(y.time_joined, yi)));
            let mut per_recipe: HashMap<&str, usize> = HashMap::new();
            methods.retain(|(_, r)| {
                let n = per_recipe.entry(r.recipe_id.as_str()).or_insert(0);
                *n += 1;
                *n <= query.limit
            });
        }
        let times = s.users.group_times(&tenant.app);
        let mut primaries: BTreeMap<String, i64> = BTreeMap::new();
        for (_, r) in methods {
            let joined = times.get(r.primary.as_str()).copied().unwrap_or(r.time_joined);
            primaries.insert(r.primary.clone(), joined);
        }
        let mut rows: Vec<(String, i64)> = primaries.into_iter().collect();
        if searching {
            // Ties on time joined: id descending in both orders, as the reference's search.
            rows.sort_by(|a, b| {
                if query.ascending { a.1.cmp(&b.1) } else { b.1.cmp(&a.1) }.then_with(|| b.0.cmp(&a.0))
            });
            return Ok(rows);
        }
        rows.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
        if !query.ascending {
            rows.reverse();
        }
        if let Some((joined, id)) = &query.from {
            rows.retain(|(i, j)| if query.ascending { (*j, i) >= (*joined, id) } else { (*j, i) <= (*joined, id) });
        }
        rows.truncate(query.limit);
        Ok(rows)
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.count_users", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %app,
        tenant_id = tenant.map(|t| tracing::field::display(&t.tenant)),
        otel.status_code = Empty, error.type = Empty))]
    async fn count_users(&self, app: &AppId, tenant: Option<&TenantIdentifier>, recipe_ids: &[String]) -> SResult<u64> {
        let s = self.lock();
        // Distinct primary users per tenant, summed over tenants (as the reference counts
        // `includeAllTenants`: a user in two tenants counts twice).
        let set: HashSet<(&TenantIdentifier, &String)> = s
            .users
            .rows
            .iter()
            .filter(|((a, _), r)| a == app && (recipe_ids.is_empty() || recipe_ids.contains(&r.recipe_id)))
            .flat_map(|(_, r)| r.tenants.iter().map(move |t| (t, &r.primary)))
            .filter(|(t, _)| tenant.map(|x| x == *t).unwrap_or(true))
            .collect();
        Ok(set.len() as u64)
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.delete_user", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %app, otel.status_code = Empty, error.type = Empty))]
    async fn delete_user(&self, app: &AppId, user_id: &str, ids: &[String]) -> SResult<()> {
        let mut s = self.lock();
        let Some(group) = s.users.group_of(app, user_id) else {
            // No such user: only the data keyed by the given ids goes.
            s.remove_user(app, user_id, ids);
            return Ok(());
        };
        let members = s.users.members(app, &group);
        match removal(user_id, &group, &members) {
            Removal::MethodOnly => remove_login_method_only(&mut s, app, user_id),
            Removal::User => {
                // As the reference's foreign keys: the login methods whose group id this is go
                // with it (there are others only when its own method is gone).
                if group == user_id {
                    for member in members.iter().filter(|m| *m != user_id) {
                        s.remove_user(app, member, std::slice::from_ref(member));
                    }
                }
                s.remove_user(app, user_id, ids);
            }
            Removal::UserAndGroup => {
                s.remove_user(app, user_id, ids);
                let mut group_ids = vec![group.clone()];
                group_ids.extend(s.useridmapping.external_of(app, &group));
                s.remove_user(app, &group, &group_ids);
            }
        }
        Ok(())
    }
}

/// Remove a login method's own rows and keep its id naming its group, with the data keyed by
/// it ([`Removal::MethodOnly`]): its row, its password-reset tokens and passwordless devices.
pub(crate) fn remove_login_method_only(s: &mut State, app: &AppId, user_id: &str) {
    crate::passwordless::forget_devices_of_user(s, app, user_id);
    let own = [user_id.to_string()];
    Cascade::remove_user(&mut s.emailpassword, app, user_id, &own);
    s.users.rows.remove(&(app.clone(), user_id.to_string()));
}
