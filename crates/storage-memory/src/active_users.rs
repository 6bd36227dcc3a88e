//! `user_last_active` in memory ([`ActiveUsersStorage`]): when each user was last active.

use crate::{Cascade, MemoryStorage};
use async_trait::async_trait;
use st_core::ids::AppId;
use st_core::storage::{ActiveUsersStorage, SResult};
use std::collections::HashMap;
use tracing::field::Empty;
use tracing::instrument;

/// (app, user id) -> last active (ms).
#[derive(Default)]
pub(crate) struct Tables {
    last_active: HashMap<(AppId, String), i64>,
}

impl Cascade for Tables {
    fn remove_app(&mut self, app: &AppId) {
        self.last_active.retain(|(a, _), _| a != app);
    }

    fn remove_user(&mut self, app: &AppId, _user_id: &str, ids: &[String]) {
        self.last_active.retain(|(a, id), _| !(a == app && ids.contains(id)));
    }
}

#[async_trait]
impl ActiveUsersStorage for MemoryStorage {
    #[instrument(level = "debug", target = "st_storage", name = "storage.touch_user_last_active", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %app, otel.status_code = Empty, error.type = Empty))]
    async fn touch_user_last_active(&self, app: &AppId, user_id: &str, now_ms: i64) -> SResult<()> {
        self.lock().active_users.last_active.insert((app.clone(), user_id.to_string()), now_ms);
        Ok(())
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.count_active_users", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %app, otel.status_code = Empty, error.type = Empty))]
    async fn count_active_users(&self, app: &AppId, since_ms: i64) -> SResult<u64> {
        let s = self.lock();
        Ok(s.active_users.last_active.iter().filter(|((a, _), t)| a == app && **t >= since_ms).count() as u64)
    }
}
