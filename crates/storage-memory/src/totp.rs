//! TOTP in memory ([`TotpStorage`]): each user's devices by name (a user exists while it has
//! one, as the reference's `totp_users` row with its devices), and each tenant's used codes of a
//! user by submission time (one per millisecond, the reference's key). A code is judged and
//! recorded under the store's one lock.

use crate::{Cascade, MemoryStorage};
use async_trait::async_trait;
use st_core::ids::{AppId, TenantIdentifier};
use st_core::storage::{
    CreateTotpDeviceResult, RenameTotpDeviceResult, SResult, TotpDevice, TotpJudge, TotpRecordResult, TotpStorage,
    TotpUsedCode,
};
use std::collections::{BTreeMap, HashMap};
use tracing::field::Empty;
use tracing::instrument;

type UserKey = (AppId, String);

#[derive(Default)]
pub(crate) struct Tables {
    /// (app, user id) → devices by name; never empty (the last device's removal removes the user).
    pub(crate) devices: HashMap<UserKey, BTreeMap<String, TotpDevice>>,
    /// (tenant, user id) → used codes by creation time.
    used: HashMap<(TenantIdentifier, String), BTreeMap<i64, TotpUsedCode>>,
}

impl Tables {
    /// Whether the user id has a TOTP device (user-id mapping checks).
    pub fn holds_user(&self, app: &AppId, user_id: &str) -> bool {
        self.devices.contains_key(&(app.clone(), user_id.to_string()))
    }

    /// Drop the tenant's used codes of any of `ids` (a user taken out of the tenant); whether
    /// there were any.
    pub fn remove_user_from_tenant(&mut self, tenant: &TenantIdentifier, ids: &[String]) -> bool {
        let before = self.used.len();
        self.used.retain(|(t, id), _| !(t == tenant && ids.contains(id)));
        self.used.len() != before
    }

    /// The user's devices, by creation time then name.
    fn listed(&self, key: &UserKey) -> Vec<TotpDevice> {
        let mut devices: Vec<TotpDevice> =
            self.devices.get(key).map(|d| d.values().cloned().collect()).unwrap_or_default();
        devices.sort_by(|a, b| (a.created_at, &a.name).cmp(&(b.created_at, &b.name)));
        devices
    }

    /// Remove the user with its codes in every tenant.
    fn remove_totp_user(&mut self, app: &AppId, user_id: &str) {
        self.devices.remove(&(app.clone(), user_id.to_string()));
        self.used.retain(|(t, id), _| !(&t.app == app && id == user_id));
    }
}

impl Cascade for Tables {
    fn remove_tenant(&mut self, tenant: &TenantIdentifier) {
        self.used.retain(|(t, _), _| t != tenant);
    }

    fn remove_app(&mut self, app: &AppId) {
        self.devices.retain(|(a, _), _| a != app);
        self.used.retain(|(t, _), _| &t.app != app);
    }

    fn remove_user(&mut self, app: &AppId, _user_id: &str, ids: &[String]) {
        for id in ids {
            self.remove_totp_user(app, id);
        }
    }
}

#[async_trait]
impl TotpStorage for MemoryStorage {
    #[instrument(level = "debug", target = "st_storage", name = "storage.create_totp_device", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %app, otel.status_code = Empty, error.type = Empty))]
    async fn create_totp_device(
        &self,
        app: &AppId,
        user_id: &str,
        device: &TotpDevice,
    ) -> SResult<CreateTotpDeviceResult> {
        let mut s = self.lock();
        s.require_tenant(&TenantIdentifier::app_public(app))?;
        let devices = s.totp.devices.entry((app.clone(), user_id.to_string())).or_default();
        if devices.get(&device.name).is_some_and(|d| d.verified) {
            return Ok(CreateTotpDeviceResult::DeviceAlreadyExists);
        }
        devices.insert(device.name.clone(), device.clone());
        Ok(CreateTotpDeviceResult::Created)
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.totp_devices", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %app, otel.status_code = Empty, error.type = Empty))]
    async fn totp_devices(&self, app: &AppId, user_id: &str) -> SResult<Vec<TotpDevice>> {
        Ok(self.lock().totp.listed(&(app.clone(), user_id.to_string())))
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.totp_devices_of_users", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %app, count = user_ids.len(),
        otel.status_code = Empty, error.type = Empty))]
    async fn totp_devices_of_users(
        &self,
        app: &AppId,
        user_ids: &[String],
    ) -> SResult<HashMap<String, Vec<TotpDevice>>> {
        let s = self.lock();
        Ok(user_ids
            .iter()
            .filter_map(|id| {
                let devices = s.totp.listed(&(app.clone(), id.clone()));
                (!devices.is_empty()).then(|| (id.clone(), devices))
            })
            .collect())
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.rename_totp_device", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %app, otel.status_code = Empty, error.type = Empty))]
    async fn rename_totp_device(
        &self,
        app: &AppId,
        user_id: &str,
        old_name: &str,
        new_name: &str,
    ) -> SResult<RenameTotpDeviceResult> {
        let mut s = self.lock();
        let Some(devices) = s.totp.devices.get_mut(&(app.clone(), user_id.to_string())) else {
            return Ok(RenameTotpDeviceResult::UnknownDevice);
        };
        if !devices.contains_key(old_name) {
            return Ok(RenameTotpDeviceResult::UnknownDevice);
        }
        if old_name == new_name {
            return Ok(RenameTotpDeviceResult::Renamed);
        }
        if devices.contains_key(new_name) {
            return Ok(RenameTotpDeviceResult::DeviceAlreadyExists);
        }
        if let Some(mut device) = devices.remove(old_name) {
            device.name = new_name.to_string();
            devices.insert(new_name.to_string(), device);
        }
        Ok(RenameTotpDeviceResult::Renamed)
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.remove_totp_device", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %app, otel.status_code = Empty, error.type = Empty))]
    async fn remove_totp_device(&self, app: &AppId, user_id: &str, name: &str) -> SResult<bool> {
        let mut s = self.lock();
        let key = (app.clone(), user_id.to_string());
        let Some(devices) = s.totp.devices.get_mut(&key) else { return Ok(false) };
        if devices.remove(name).is_none() {
            return Ok(false);
        }
        if devices.is_empty() {
            s.totp.remove_totp_user(app, user_id);
        }
        Ok(true)
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.judge_totp_code", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %tenant.app, tenant_id = %tenant.tenant,
        otel.status_code = Empty, error.type = Empty))]
    async fn judge_totp_code(
        &self,
        tenant: &TenantIdentifier,
        user_id: &str,
        judge: TotpJudge<'_>,
    ) -> SResult<TotpRecordResult> {
        let mut s = self.lock();
        s.require_tenant(tenant)?;
        let devices = s.totp.listed(&(tenant.app.clone(), user_id.to_string()));
        let used_key = (tenant.clone(), user_id.to_string());
        let used: Vec<TotpUsedCode> =
            s.totp.used.get(&used_key).map(|codes| codes.values().rev().cloned().collect()).unwrap_or_default();
        let judgement = judge(&devices, &used);
        let Some(code) = judgement.record else { return Ok(TotpRecordResult::NotRecorded) };
        if devices.is_empty() {
            return Ok(TotpRecordResult::NotRecorded);
        }
        let codes = s.totp.used.entry(used_key).or_default();
        if codes.contains_key(&code.created_time_ms) {
            return Ok(TotpRecordResult::SameMillisecond);
        }
        codes.insert(code.created_time_ms, code);
        if let Some(name) = judgement.verify_device {
            if let Some(device) =
                s.totp.devices.get_mut(&(tenant.app.clone(), user_id.to_string())).and_then(|d| d.get_mut(&name))
            {
                device.verified = true;
            }
        }
        Ok(TotpRecordResult::Recorded)
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.delete_expired_totp_codes", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %tenant.app, tenant_id = %tenant.tenant,
        otel.status_code = Empty, error.type = Empty))]
    async fn delete_expired_totp_codes(&self, tenant: &TenantIdentifier, expired_before: i64) -> SResult<u64> {
        let mut s = self.lock();
        let mut deleted = 0u64;
        for ((t, _), codes) in s.totp.used.iter_mut() {
            if t != tenant {
                continue;
            }
            let before = codes.len();
            codes.retain(|_, c| c.expiry_time_ms >= expired_before);
            deleted += (before - codes.len()) as u64;
        }
        s.totp.used.retain(|_, codes| !codes.is_empty());
        Ok(deleted)
    }
}
