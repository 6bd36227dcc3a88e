//! Passwordless in memory ([`PasswordlessStorage`]): devices and their codes (this module's
//! own tables, per tenant), and the passwordless users, which are login methods in the shared
//! rows of [`crate::users`] (recipe `passwordless`, with an e-mail and/or a phone number).
//! Every intent runs under the store's one lock, so judging a code (the domain's decision on
//! the device as it is) and applying the decision cannot interleave with another.

use crate::users::{self, UserRow};
use crate::{Cascade, MemoryStorage, State};
use async_trait::async_trait;
use st_core::accountlinking::AccountInfo;
use st_core::ids::{AppId, TenantIdentifier};
use st_core::storage::{
    CodeAction, CodeDecider, Contact, CreateCodeResult, CreatePasswordlessUserResult, DeviceWithCodes, FieldUpdate,
    PasswordlessCode, PasswordlessDevice, PasswordlessStorage, PasswordlessUpdateResult, SResult,
};
use std::collections::{BTreeMap, BTreeSet};
use tracing::field::Empty;
use tracing::instrument;

const RECIPE_ID: &str = "passwordless";

/// `passwordless_devices` and `passwordless_codes`.
#[derive(Default)]
pub(crate) struct Tables {
    /// (tenant, device id hash) → device.
    devices: BTreeMap<(TenantIdentifier, String), PasswordlessDevice>,
    /// (tenant, code id) → code.
    codes: BTreeMap<(TenantIdentifier, String), PasswordlessCode>,
}

impl Tables {
    fn codes_of(&self, tenant: &TenantIdentifier, device_id_hash: &str) -> Vec<PasswordlessCode> {
        let mut codes: Vec<PasswordlessCode> = self
            .codes
            .iter()
            .filter(|((t, _), c)| t == tenant && c.device_id_hash == device_id_hash)
            .map(|(_, c)| c.clone())
            .collect();
        codes.sort_by(|a, b| (a.created_at, &a.code_id).cmp(&(b.created_at, &b.code_id)));
        codes
    }

    fn with_codes(&self, tenant: &TenantIdentifier, device: &PasswordlessDevice) -> DeviceWithCodes {
        DeviceWithCodes { device: device.clone(), codes: self.codes_of(tenant, &device.device_id_hash) }
    }

    fn link_hash_taken(&self, tenant: &TenantIdentifier, link_code_hash: &str) -> bool {
        self.codes.iter().any(|((t, _), c)| t == tenant && c.link_code_hash == link_code_hash)
    }

    /// Insert a code of an existing device, unless its id or link-code hash is taken.
    fn insert_code(&mut self, tenant: &TenantIdentifier, code: &PasswordlessCode) -> CreateCodeResult {
        if self.codes.contains_key(&(tenant.clone(), code.code_id.clone())) {
            return CreateCodeResult::DuplicateId;
        }
        if self.link_hash_taken(tenant, &code.link_code_hash) {
            return CreateCodeResult::DuplicateLinkCodeHash;
        }
        self.codes.insert((tenant.clone(), code.code_id.clone()), code.clone());
        CreateCodeResult::Created
    }

    /// Remove devices (and their codes) of `tenant` that `which` selects; returns how many.
    fn remove_devices(&mut self, tenant: &TenantIdentifier, which: impl Fn(&PasswordlessDevice) -> bool) -> u64 {
        let gone: BTreeSet<String> =
            self.devices.iter().filter(|((t, _), d)| t == tenant && which(d)).map(|((_, h), _)| h.clone()).collect();
        self.devices.retain(|(t, h), _| !(t == tenant && gone.contains(h)));
        self.codes.retain(|(t, _), c| !(t == tenant && gone.contains(&c.device_id_hash)));
        gone.len() as u64
    }

    fn remove_devices_of(&mut self, tenant: &TenantIdentifier, contact: &Contact) {
        self.remove_devices(tenant, |d| has_contact(d, contact));
    }
}

fn has_contact(d: &PasswordlessDevice, contact: &Contact) -> bool {
    match contact {
        Contact::Email(e) => d.email.as_deref() == Some(e.as_str()),
        Contact::Phone(p) => d.phone_number.as_deref() == Some(p.as_str()),
    }
}

impl Cascade for Tables {
    fn remove_tenant(&mut self, tenant: &TenantIdentifier) {
        self.devices.retain(|(t, _), _| t != tenant);
        self.codes.retain(|(t, _), _| t != tenant);
    }
}

/// The passwordless user of `tenant` with this contact: (its id, its row).
fn user_in_tenant<'a>(
    users: &'a users::Tables,
    tenant: &TenantIdentifier,
    contact: &Contact,
) -> Option<(&'a String, &'a UserRow)> {
    users
        .rows
        .iter()
        .find(|((a, _), r)| {
            a == &tenant.app
                && r.recipe_id == RECIPE_ID
                && r.tenants.contains(tenant)
                && match contact {
                    Contact::Email(e) => r.email.as_deref() == Some(e.as_str()),
                    Contact::Phone(p) => r.phone_number.as_deref() == Some(p.as_str()),
                }
        })
        .map(|((_, id), r)| (id, r))
}

/// Before a login method goes: the devices of its e-mail and phone number in its tenants (as
/// the reference's passwordless user deletion). Called by [`State::remove_user`].
pub(crate) fn forget_devices_of_user(s: &mut State, app: &AppId, user_id: &str) {
    let Some(row) = s.users.rows.get(&(app.clone(), user_id.to_string())).filter(|r| r.recipe_id == RECIPE_ID) else {
        return;
    };
    let contacts: Vec<Contact> = [row.email.clone().map(Contact::Email), row.phone_number.clone().map(Contact::Phone)]
        .into_iter()
        .flatten()
        .collect();
    for tenant in row.tenants.clone() {
        for contact in &contacts {
            s.passwordless.remove_devices_of(&tenant, contact);
        }
    }
}

#[async_trait]
impl PasswordlessStorage for MemoryStorage {
    #[instrument(level = "debug", target = "st_storage", name = "storage.create_passwordless_device", skip_all,
        fields(otel.kind = "client", db.system = "memory", app_id = %tenant.app, tenant_id = %tenant.tenant,
            otel.status_code = Empty, error.type = Empty))]
    async fn create_passwordless_device(
        &self,
        tenant: &TenantIdentifier,
        device: &PasswordlessDevice,
        code: &PasswordlessCode,
    ) -> SResult<CreateCodeResult> {
        let mut s = self.lock();
        s.require_tenant(tenant)?;
        let key = (tenant.clone(), device.device_id_hash.clone());
        let pl = &mut s.passwordless;
        if pl.devices.contains_key(&key) {
            return Ok(CreateCodeResult::DuplicateId);
        }
        if pl.codes.contains_key(&(tenant.clone(), code.code_id.clone())) {
            return Ok(CreateCodeResult::DuplicateId);
        }
        if pl.link_hash_taken(tenant, &code.link_code_hash) {
            return Ok(CreateCodeResult::DuplicateLinkCodeHash);
        }
        pl.devices.insert(key, device.clone());
        Ok(pl.insert_code(tenant, code))
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.create_passwordless_code", skip_all,
        fields(otel.kind = "client", db.system = "memory", app_id = %tenant.app, tenant_id = %tenant.tenant,
            otel.status_code = Empty, error.type = Empty))]
    async fn create_passwordless_code(
        &self,
        tenant: &TenantIdentifier,
        code: &PasswordlessCode,
    ) -> SResult<CreateCodeResult> {
        let mut s = self.lock();
        let pl = &mut s.passwordless;
        if !pl.devices.contains_key(&(tenant.clone(), code.device_id_hash.clone())) {
            return Ok(CreateCodeResult::UnknownDevice);
        }
        Ok(pl.insert_code(tenant, code))
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.passwordless_device", skip_all,
        fields(otel.kind = "client", db.system = "memory", app_id = %tenant.app, tenant_id = %tenant.tenant,
            otel.status_code = Empty, error.type = Empty))]
    async fn passwordless_device(
        &self,
        tenant: &TenantIdentifier,
        device_id_hash: &str,
    ) -> SResult<Option<DeviceWithCodes>> {
        let s = self.lock();
        let pl = &s.passwordless;
        Ok(pl.devices.get(&(tenant.clone(), device_id_hash.to_string())).map(|d| pl.with_codes(tenant, d)))
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.passwordless_devices_of", skip_all,
        fields(otel.kind = "client", db.system = "memory", app_id = %tenant.app, tenant_id = %tenant.tenant,
            otel.status_code = Empty, error.type = Empty))]
    async fn passwordless_devices_of(
        &self,
        tenant: &TenantIdentifier,
        contact: &Contact,
    ) -> SResult<Vec<DeviceWithCodes>> {
        let s = self.lock();
        let pl = &s.passwordless;
        Ok(pl
            .devices
            .iter()
            .filter(|((t, _), d)| t == tenant && has_contact(d, contact))
            .map(|(_, d)| pl.with_codes(tenant, d))
            .collect())
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.passwordless_code_by_link_hash", skip_all,
        fields(otel.kind = "client", db.system = "memory", app_id = %tenant.app, tenant_id = %tenant.tenant,
            otel.status_code = Empty, error.type = Empty))]
    async fn passwordless_code_by_link_hash(
        &self,
        tenant: &TenantIdentifier,
        link_code_hash: &str,
    ) -> SResult<Option<PasswordlessCode>> {
        let s = self.lock();
        Ok(s.passwordless
            .codes
            .iter()
            .find(|((t, _), c)| t == tenant && c.link_code_hash == link_code_hash)
            .map(|(_, c)| c.clone()))
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.judge_passwordless_code", skip_all,
        fields(otel.kind = "client", db.system = "memory", app_id = %tenant.app, tenant_id = %tenant.tenant,
            otel.status_code = Empty, error.type = Empty))]
    async fn judge_passwordless_code(
        &self,
        tenant: &TenantIdentifier,
        device_id_hash: &str,
        link_code_hash: &str,
        decide: CodeDecider<'_>,
    ) -> SResult<(Option<PasswordlessDevice>, Option<PasswordlessCode>)> {
        let mut s = self.lock();
        let pl = &mut s.passwordless;
        let key = (tenant.clone(), device_id_hash.to_string());
        let device = pl.devices.get(&key).cloned();
        let code = pl
            .codes
            .iter()
            .find(|((t, _), c)| t == tenant && c.link_code_hash == link_code_hash)
            .map(|(_, c)| c.clone());
        if let Some(d) = &device {
            match decide(Some(d), code.as_ref()) {
                CodeAction::Keep => {}
                CodeAction::CountFailure => {
                    if let Some(row) = pl.devices.get_mut(&key) {
                        row.failed_attempts = row.failed_attempts.saturating_add(1);
                    }
                }
                CodeAction::DeleteDevice => {
                    pl.remove_devices(tenant, |x| x.device_id_hash == d.device_id_hash);
                }
                CodeAction::DeleteDevicesOfContact => {
                    match (&d.email, &d.phone_number) {
                        (Some(e), _) => pl.remove_devices_of(tenant, &Contact::Email(e.clone())),
                        (None, Some(p)) => pl.remove_devices_of(tenant, &Contact::Phone(p.clone())),
                        (None, None) => {
                            pl.remove_devices(tenant, |x| x.device_id_hash == d.device_id_hash);
                        }
                    };
                }
            }
        }
        Ok((device, code))
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.remove_passwordless_code", skip_all,
        fields(otel.kind = "client", db.system = "memory", app_id = %tenant.app, tenant_id = %tenant.tenant,
            otel.status_code = Empty, error.type = Empty))]
    async fn remove_passwordless_code(&self, tenant: &TenantIdentifier, code_id: &str) -> SResult<()> {
        let mut s = self.lock();
        let pl = &mut s.passwordless;
        let Some(code) = pl.codes.remove(&(tenant.clone(), code_id.to_string())) else { return Ok(()) };
        if pl.codes_of(tenant, &code.device_id_hash).is_empty() {
            pl.devices.remove(&(tenant.clone(), code.device_id_hash));
        }
        Ok(())
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.remove_passwordless_device", skip_all,
        fields(otel.kind = "client", db.system = "memory", app_id = %tenant.app, tenant_id = %tenant.tenant,
            otel.status_code = Empty, error.type = Empty))]
    async fn remove_passwordless_device(&self, tenant: &TenantIdentifier, device_id_hash: &str) -> SResult<()> {
        self.lock().passwordless.remove_devices(tenant, |d| d.device_id_hash == device_id_hash);
        Ok(())
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.remove_passwordless_devices_of", skip_all,
        fields(otel.kind = "client", db.system = "memory", app_id = %tenant.app, tenant_id = %tenant.tenant,
            otel.status_code = Empty, error.type = Empty))]
    async fn remove_passwordless_devices_of(&self, tenant: &TenantIdentifier, contact: &Contact) -> SResult<()> {
        self.lock().passwordless.remove_devices_of(tenant, contact);
        Ok(())
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.delete_expired_passwordless_devices",
        skip_all, fields(otel.kind = "client", db.system = "memory", app_id = %tenant.app,
            tenant_id = %tenant.tenant, otel.status_code = Empty, error.type = Empty))]
    async fn delete_expired_passwordless_devices(
        &self,
        tenant: &TenantIdentifier,
        created_before: i64,
    ) -> SResult<u64> {
        let mut s = self.lock();
        let pl = &mut s.passwordless;
        // Devices with an expired code and no live one.
        let mut expired: BTreeSet<String> = BTreeSet::new();
        let mut live: BTreeSet<String> = BTreeSet::new();
        for (_, c) in pl.codes.iter().filter(|((t, _), _)| t == tenant) {
            if c.created_at < created_before {
                expired.insert(c.device_id_hash.clone());
            } else {
                live.insert(c.device_id_hash.clone());
            }
        }
        Ok(pl.remove_devices(tenant, |d| expired.contains(&d.device_id_hash) && !live.contains(&d.device_id_hash)))
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.create_passwordless_user", skip_all,
        fields(otel.kind = "client", db.system = "memory", app_id = %tenant.app, tenant_id = %tenant.tenant,
            otel.status_code = Empty, error.type = Empty))]
    async fn create_passwordless_user(
        &self,
        tenant: &TenantIdentifier,
        user_id: &str,
        email: Option<&str>,
        phone_number: Option<&str>,
        now_ms: i64,
    ) -> SResult<CreatePasswordlessUserResult> {
        let mut s = self.lock();
        s.require_tenant(tenant)?;
        if let Some(e) = email {
            if user_in_tenant(&s.users, tenant, &Contact::Email(e.to_string())).is_some() {
                return Ok(CreatePasswordlessUserResult::EmailAlreadyExists);
            }
        }
        if let Some(p) = phone_number {
            if user_in_tenant(&s.users, tenant, &Contact::Phone(p.to_string())).is_some() {
                return Ok(CreatePasswordlessUserResult::PhoneNumberAlreadyExists);
            }
        }
        s.users.rows.insert(
            (tenant.app.clone(), user_id.to_string()),
            UserRow {
                recipe_id: RECIPE_ID.into(),
                time_joined: now_ms,
                tenants: BTreeSet::from([tenant.clone()]),
                email: email.map(str::to_string),
                phone_number: phone_number.map(str::to_string),
                primary: user_id.to_string(),
                ..UserRow::default()
            },
        );
        Ok(CreatePasswordlessUserResult::Created)
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.passwordless_user_of", skip_all,
        fields(otel.kind = "client", db.system = "memory", app_id = %tenant.app, tenant_id = %tenant.tenant,
            otel.status_code = Empty, error.type = Empty))]
    async fn passwordless_user_of(&self, tenant: &TenantIdentifier, contact: &Contact) -> SResult<Option<String>> {
        let s = self.lock();
        Ok(user_in_tenant(&s.users, tenant, contact).map(|(id, _)| id.clone()))
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.users_by_phone_number", skip_all,
        fields(otel.kind = "client", db.system = "memory", app_id = %tenant.app, tenant_id = %tenant.tenant,
            otel.status_code = Empty, error.type = Empty))]
    async fn users_by_phone_number(&self, tenant: &TenantIdentifier, phone_number: &str) -> SResult<Vec<String>> {
        let s = self.lock();
        let mut out: Vec<String> = s
            .users
            .rows
            .iter()
            .filter(|((a, _), r)| {
                a == &tenant.app && r.phone_number.as_deref() == Some(phone_number) && r.tenants.contains(tenant)
            })
            .map(|(_, r)| r.primary.clone())
            .collect();
        out.sort();
        out.dedup();
        Ok(out)
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.update_passwordless_user", skip_all,
        fields(otel.kind = "client", db.system = "memory", app_id = %app, otel.status_code = Empty,
            error.type = Empty))]
    async fn update_passwordless_user(
        &self,
        app: &AppId,
        user_id: &str,
        email: FieldUpdate<'_>,
        phone_number: FieldUpdate<'_>,
    ) -> SResult<PasswordlessUpdateResult> {
        let mut s = self.lock();
        let key = (app.clone(), user_id.to_string());
        let Some(row) = s.users.rows.get(&key).filter(|r| r.recipe_id == RECIPE_ID).cloned() else {
            return Ok(PasswordlessUpdateResult::UnknownUser);
        };
        // Unique among the passwordless users of each of its tenants.
        let taken = |contact: &Contact| {
            row.tenants.iter().any(|t| user_in_tenant(&s.users, t, contact).is_some_and(|(id, _)| id != user_id))
        };
        // The reference's order: the e-mail refused or taken, then the phone number.
        let refused = |info: AccountInfo| !crate::accountlinking::change_refused(&s, app, user_id, &[info]).is_empty();
        if let Some(Some(e)) = email {
            if refused(AccountInfo::Email(e.to_string())) {
                return Ok(PasswordlessUpdateResult::EmailChangeNotAllowed);
            }
            if taken(&Contact::Email(e.to_string())) {
                return Ok(PasswordlessUpdateResult::EmailAlreadyExists);
            }
        }
        if let Some(Some(p)) = phone_number {
            if refused(AccountInfo::PhoneNumber(p.to_string())) {
                return Ok(PasswordlessUpdateResult::PhoneNumberChangeNotAllowed);
            }
            if taken(&Contact::Phone(p.to_string())) {
                return Ok(PasswordlessUpdateResult::PhoneNumberAlreadyExists);
            }
        }
        // The devices of a changed value, old and new, in the user's tenants.
        let mut stale: Vec<Contact> = Vec::new();
        if let Some(new) = email.filter(|new| *new != row.email.as_deref()) {
            stale.extend(row.email.clone().map(Contact::Email));
            stale.extend(new.map(|e| Contact::Email(e.to_string())));
        }
        if let Some(new) = phone_number.filter(|new| *new != row.phone_number.as_deref()) {
            stale.extend(row.phone_number.clone().map(Contact::Phone));
            stale.extend(new.map(|p| Contact::Phone(p.to_string())));
        }
        for tenant in &row.tenants {
            for contact in &stale {
                s.passwordless.remove_devices_of(tenant, contact);
            }
        }
        if let Some(r) = s.users.rows.get_mut(&key) {
            if let Some(e) = email {
                r.email = e.map(str::to_string);
            }
            if let Some(p) = phone_number {
                r.phone_number = p.map(str::to_string);
            }
        }
        Ok(PasswordlessUpdateResult::Ok)
    }
}
