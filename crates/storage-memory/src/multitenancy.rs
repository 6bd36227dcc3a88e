//! Multitenancy in memory: the apps' and tenants' records ([`TenantStorage`]), per
//! connection-URI domain, with their third-party providers, and users added to or taken out of
//! a tenant. Removing a tenant, an app or a domain removes its records here; the data of a
//! tenant or app that no domain names any more goes with it, through the cascade of
//! [`crate::State`] (one user pool: the data of an (app, tenant) is shared by the domains that
//! name it, as in the reference's tables).
//!
//! Adding a login method to a tenant checks, under the store's one lock, the primary-user rule
//! ([`primary_user_conflict`]) and then its own recipe's uniqueness ([`recipe_conflict`], one
//! function per recipe).

use crate::users::{self, UserRow};
use crate::{Cascade, MemoryStorage};
use async_trait::async_trait;
use st_core::ids::{AppId, ConnectionUriDomain, TenantIdentifier};
use st_core::storage::{
    traced_error, AccountInfoKind, AddUserToTenant, SResult, TenantRecord, TenantStorage, ThirdPartyProvider,
};
use st_core::StorageError;
use std::collections::BTreeMap;
use tracing::field::Empty;
use tracing::instrument;

/// `tenant_configs`: each (app, tenant) of the user pool with its record in every domain that
/// names it; an app exists in a domain while its `public` tenant does.
#[derive(Default)]
pub(crate) struct Tables {
    records: BTreeMap<TenantIdentifier, BTreeMap<ConnectionUriDomain, TenantRecord>>,
}

impl Tables {
    /// Whether some domain names the tenant (its data may be written).
    pub fn exists(&self, t: &TenantIdentifier) -> bool {
        self.records.contains_key(t)
    }

    /// The tenant's record in the domain its identifier names.
    fn get(&self, t: &TenantIdentifier) -> Option<&TenantRecord> {
        self.records.get(t)?.get(t.domain())
    }

    fn get_mut(&mut self, t: &TenantIdentifier) -> Option<&mut TenantRecord> {
        self.records.get_mut(t)?.get_mut(t.domain())
    }

    /// Insert or replace the record; returns whether it is new.
    pub fn insert(&mut self, record: TenantRecord) -> bool {
        let domain = record.id.domain().clone();
        self.records.entry(record.id.clone()).or_default().insert(domain, record).is_none()
    }

    /// The ids of the app's tenants (in any domain).
    pub fn of_app(&self, app: &AppId) -> Vec<TenantIdentifier> {
        self.records.keys().filter(|t| &t.app == app).cloned().collect()
    }

    /// Remove the records `matches` picks; returns them (their ids, with their domains).
    fn take(&mut self, matches: impl Fn(&TenantIdentifier) -> bool) -> Vec<TenantIdentifier> {
        let mut taken = Vec::new();
        for by_domain in self.records.values_mut() {
            by_domain.retain(|_, r| {
                let pick = matches(&r.id);
                if pick {
                    taken.push(r.id.clone());
                }
                !pick
            });
        }
        self.records.retain(|_, by_domain| !by_domain.is_empty());
        taken
    }
}

impl Cascade for Tables {
    fn remove_tenant(&mut self, tenant: &TenantIdentifier) {
        self.records.remove(tenant);
    }

    fn remove_app(&mut self, app: &AppId) {
        self.records.retain(|t, _| &t.app != app);
    }
}

impl crate::State {
    /// Remove the tenant records `matches` picks, then the data of each (app, tenant), and of
    /// each app, that no domain names any more. Returns whether a record was removed.
    fn remove_records(&mut self, matches: impl Fn(&TenantIdentifier) -> bool) -> bool {
        let taken = self.tenants.take(matches);
        let mut apps: Vec<AppId> = Vec::new();
        for t in &taken {
            if !self.tenants.exists(t) {
                self.remove_tenant(t);
            }
            if !apps.contains(&t.app) {
                apps.push(t.app.clone());
            }
        }
        for app in apps {
            if self.tenants.of_app(&app).is_empty() {
                self.remove_app(&app);
            }
        }
        !taken.is_empty()
    }
}

/// Whether any login method of the group `primary` is in `tenant`.
fn group_in_tenant(users: &users::Tables, app: &AppId, primary: &str, tenant: &TenantIdentifier) -> bool {
    users.rows.iter().any(|((a, _), r)| a == app && r.primary == primary && r.tenants.contains(tenant))
}

/// The reference's check before a login method of a primary user joins `tenant` (its LEGACY
/// `addTenantIdToPrimaryUser_Transaction`): another primary user with a login method in the
/// tenant may not have the e-mail or phone number of one of the group's login methods, and no
/// other group of the app (in any tenant, as the reference looks it up) its provider pair.
fn primary_user_conflict(users: &users::Tables, tenant: &TenantIdentifier, primary: &str) -> Option<AddUserToTenant> {
    let app = &tenant.app;
    let mut group: Vec<&UserRow> =
        users.rows.iter().filter(|((a, _), r)| a == app && r.primary == primary).map(|(_, r)| r).collect();
    group.sort_by_key(|r| r.time_joined);
    let conflict =
        |info, r: &UserRow| AddUserToTenant::PrimaryUserConflict { info, primary_user_id: r.primary.clone() };
    for method in &group {
        if let Some(email) = &method.email {
            let other = users.rows.iter().find(|((a, _), r)| {
                a == app
                    && r.is_linked_or_primary
                    && r.primary != primary
                    && r.email.as_ref() == Some(email)
                    && group_in_tenant(users, app, &r.primary, tenant)
            });
            if let Some((_, r)) = other {
                return Some(conflict(AccountInfoKind::Email, r));
            }
        }
        if let Some(phone) = &method.phone_number {
            let other = users.rows.iter().find(|((a, _), r)| {
                a == app
                    && r.is_linked_or_primary
                    && r.primary != primary
                    && r.phone_number.as_ref() == Some(phone)
                    && group_in_tenant(users, app, &r.primary, tenant)
            });
            if let Some((_, r)) = other {
                return Some(conflict(AccountInfoKind::PhoneNumber, r));
            }
        }
        if let Some(pair) = &method.third_party {
            let other = users
                .rows
                .iter()
                .find(|((a, _), r)| a == app && r.primary != primary && r.third_party.as_ref() == Some(pair));
            if let Some((_, r)) = other {
                return Some(conflict(AccountInfoKind::ThirdParty, r));
            }
        }
    }
    None
}

/// Email-password: the e-mail is unique among the tenant's email-password users.
fn emailpassword_conflict(
    users: &users::Tables,
    tenant: &TenantIdentifier,
    id: &str,
    row: &UserRow,
) -> Option<AddUserToTenant> {
    let taken = users.rows.iter().any(|((a, other), r)| {
        a == &tenant.app
            && other != id
            && r.recipe_id == row.recipe_id
            && r.email == row.email
            && r.tenants.contains(tenant)
    });
    taken.then_some(AddUserToTenant::EmailAlreadyExists)
}

/// Third party: the provider pair is unique among the tenant's third-party users.
fn thirdparty_conflict(
    users: &users::Tables,
    tenant: &TenantIdentifier,
    id: &str,
    row: &UserRow,
) -> Option<AddUserToTenant> {
    let taken = users.rows.iter().any(|((a, other), r)| {
        a == &tenant.app
            && other != id
            && r.recipe_id == row.recipe_id
            && r.third_party == row.third_party
            && r.tenants.contains(tenant)
    });
    taken.then_some(AddUserToTenant::ThirdPartyUserAlreadyExists)
}

/// Passwordless: the e-mail, then the phone number, unique among the tenant's passwordless
/// users (the order of the table's unique keys).
fn passwordless_conflict(
    users: &users::Tables,
    tenant: &TenantIdentifier,
    id: &str,
    row: &UserRow,
) -> Option<AddUserToTenant> {
    let others = || {
        users.rows.iter().filter(move |((a, other), r)| {
            a == &tenant.app && other != id && r.recipe_id == row.recipe_id && r.tenants.contains(tenant)
        })
    };
    if row.email.is_some() && others().any(|(_, r)| r.email == row.email) {
        return Some(AddUserToTenant::EmailAlreadyExists);
    }
    if row.phone_number.is_some() && others().any(|(_, r)| r.phone_number == row.phone_number) {
        return Some(AddUserToTenant::PhoneNumberAlreadyExists);
    }
    None
}

/// What keeps the login method `id` out of `tenant` under its own recipe's uniqueness rule.
fn recipe_conflict(
    users: &users::Tables,
    tenant: &TenantIdentifier,
    id: &str,
    row: &UserRow,
) -> Option<AddUserToTenant> {
    match row.recipe_id.as_str() {
        // WebAuthn: the e-mail is unique among the tenant's WebAuthn users, the same rule.
        "emailpassword" | "webauthn" => emailpassword_conflict(users, tenant, id, row),
        "thirdparty" => thirdparty_conflict(users, tenant, id, row),
        "passwordless" => passwordless_conflict(users, tenant, id, row),
        _ => None,
    }
}

#[async_trait]
impl TenantStorage for MemoryStorage {
    #[instrument(level = "debug", target = "st_storage", name = "storage.health_check", skip_all, fields(
        otel.kind = "client", db.system = "memory", otel.status_code = Empty, error.type = Empty))]
    async fn health_check(&self) -> SResult<()> {
        drop(self.lock());
        Ok(())
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.list_tenants", skip_all, fields(
        otel.kind = "client", db.system = "memory", otel.status_code = Empty, error.type = Empty))]
    async fn list_tenants(&self) -> SResult<Vec<TenantRecord>> {
        Ok(self.lock().tenants.records.values().flat_map(|by_domain| by_domain.values().cloned()).collect())
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.get_tenant", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %id.app, tenant_id = %id.tenant,
        otel.status_code = Empty, error.type = Empty))]
    async fn get_tenant(&self, id: &TenantIdentifier) -> SResult<Option<TenantRecord>> {
        Ok(self.lock().tenants.get(id).cloned())
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.upsert_tenant", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %record.id.app, tenant_id = %record.id.tenant,
        otel.status_code = Empty, error.type = Empty))]
    async fn upsert_tenant(&self, record: &TenantRecord, _now_ms: i64) -> SResult<bool> {
        let mut s = self.lock();
        if !record.id.tenant.is_public() && s.tenants.get(&TenantIdentifier::app_public(&record.id.app)).is_none() {
            return Err(traced_error(StorageError::TenantOrAppNotFound));
        }
        let mut record = record.clone();
        record.third_party_providers =
            s.tenants.get(&record.id).map(|r| r.third_party_providers.clone()).unwrap_or_default();
        Ok(s.tenants.insert(record))
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.delete_tenant", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %id.app, tenant_id = %id.tenant,
        otel.status_code = Empty, error.type = Empty))]
    async fn delete_tenant(&self, id: &TenantIdentifier) -> SResult<bool> {
        Ok(self.lock().remove_records(|t| t.same_as(id)))
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.delete_app", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %app, otel.status_code = Empty, error.type = Empty))]
    async fn delete_app(&self, app: &AppId) -> SResult<bool> {
        Ok(self.lock().remove_records(|t| t.app.same_as(app)))
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.delete_connection_uri_domain", skip_all,
        fields(otel.kind = "client", db.system = "memory", otel.status_code = Empty, error.type = Empty))]
    async fn delete_connection_uri_domain(&self, domain: &ConnectionUriDomain) -> SResult<bool> {
        Ok(self.lock().remove_records(|t| t.domain() == domain))
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.upsert_thirdparty_provider", skip_all,
        fields(otel.kind = "client", db.system = "memory", app_id = %id.app, tenant_id = %id.tenant,
        otel.status_code = Empty, error.type = Empty))]
    async fn upsert_thirdparty_provider(&self, id: &TenantIdentifier, provider: &ThirdPartyProvider) -> SResult<bool> {
        let mut s = self.lock();
        let Some(record) = s.tenants.get_mut(id) else {
            return Err(traced_error(StorageError::TenantOrAppNotFound));
        };
        let mut provider = provider.clone();
        provider.clients.sort_by(|a, b| a.client_type.cmp(&b.client_type));
        let providers = &mut record.third_party_providers;
        let created = match providers.iter_mut().find(|p| p.third_party_id == provider.third_party_id) {
            Some(existing) => {
                *existing = provider;
                false
            }
            None => {
                providers.push(provider);
                true
            }
        };
        providers.sort_by(|a, b| a.third_party_id.cmp(&b.third_party_id));
        Ok(created)
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.delete_thirdparty_provider", skip_all,
        fields(otel.kind = "client", db.system = "memory", app_id = %id.app, tenant_id = %id.tenant,
        otel.status_code = Empty, error.type = Empty))]
    async fn delete_thirdparty_provider(&self, id: &TenantIdentifier, third_party_id: &str) -> SResult<bool> {
        let mut s = self.lock();
        let Some(record) = s.tenants.get_mut(id) else { return Ok(false) };
        let before = record.third_party_providers.len();
        record.third_party_providers.retain(|p| p.third_party_id != third_party_id);
        Ok(record.third_party_providers.len() != before)
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.add_user_to_tenant", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %tenant.app, tenant_id = %tenant.tenant,
        otel.status_code = Empty, error.type = Empty))]
    async fn add_user_to_tenant(&self, tenant: &TenantIdentifier, recipe_user_id: &str) -> SResult<AddUserToTenant> {
        let mut s = self.lock();
        s.require_tenant(tenant)?;
        let key = (tenant.app.clone(), recipe_user_id.to_string());
        let Some(row) = s.users.rows.get(&key).cloned() else { return Ok(AddUserToTenant::UnknownUser) };
        if row.is_linked_or_primary {
            if let Some(conflict) = primary_user_conflict(&s.users, tenant, &row.primary) {
                return Ok(conflict);
            }
        }
        if row.tenants.contains(tenant) {
            return Ok(AddUserToTenant::AlreadyAssociated);
        }
        if let Some(conflict) = recipe_conflict(&s.users, tenant, recipe_user_id, &row) {
            return Ok(conflict);
        }
        if let Some(r) = s.users.rows.get_mut(&key) {
            r.tenants.insert(tenant.clone());
        }
        Ok(AddUserToTenant::Added)
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.remove_user_from_tenant", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %tenant.app, tenant_id = %tenant.tenant,
        otel.status_code = Empty, error.type = Empty))]
    async fn remove_user_from_tenant(
        &self,
        tenant: &TenantIdentifier,
        recipe_user_id: Option<&str>,
        data_ids: &[String],
    ) -> SResult<bool> {
        let mut s = self.lock();
        let mut removed = s.sessions.remove_user_from_tenant(tenant, data_ids);
        removed |= s.emailverification.remove_user_from_tenant(tenant, data_ids);
        removed |= s.userroles.remove_user_from_tenant(tenant, data_ids);
        removed |= s.totp.remove_user_from_tenant(tenant, data_ids);
        if let Some(id) = recipe_user_id {
            if let Some(r) = s.users.rows.get_mut(&(tenant.app.clone(), id.to_string())) {
                removed |= r.tenants.remove(tenant);
            }
        }
        Ok(removed)
    }
}
