//! User tables of the in-memory backend (filled by the user recipes).

use st_core::ids::{AppId, TenantIdentifier};

#[derive(Default)]
pub(crate) struct UserTables {}

impl UserTables {
    pub fn remove_tenant(&mut self, _t: &TenantIdentifier) {}
    pub fn remove_app(&mut self, _app: &AppId) {}
}
