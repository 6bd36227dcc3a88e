//! [`ActiveUsersStorage`]: `user_last_active`, one row per user and app with the time of its
//! last activity.
//!
//! Session creation and the refresh read usually record the activity in their own statement
//! (see the session module); [`ActiveUsersStorage::touch_user_last_active`] is the separate
//! upsert of a refresh whose read ran alone, and concurrent ones share a statement
//! ([`LastActiveTouches`], see [`crate::batch`]).

use crate::batch::{self, BatchQueue, Batched};
use crate::query::col;
use crate::{PgStorage, TableNames};
use async_trait::async_trait;
use st_core::ids::AppId;
use st_core::storage::{ActiveUsersStorage, SResult};
use tokio_postgres::types::ToSql;
use tracing::field::Empty;
use tracing::instrument;

/// Statement texts of the active-users recipe.
#[derive(Debug)]
pub(crate) struct ActiveUsersSql {
    pub(crate) upsert: String,
    /// `upsert` for many: $1..$3 are arrays of app, user and time.
    upsert_many: String,
    count: String,
}

impl ActiveUsersSql {
    pub(crate) fn new(t: &TableNames) -> ActiveUsersSql {
        let ula = t.qualified("user_last_active");
        ActiveUsersSql {
            upsert: format!(
                "INSERT INTO {} (app_id, user_id, last_active_time) VALUES ($1, $2, $3) \
                 ON CONFLICT (app_id, user_id) DO UPDATE SET last_active_time = EXCLUDED.last_active_time",
                t.user_last_active
            ),
            // DISTINCT ON: a user touched twice in one batch is upserted once, with the later
            // time. The sort also makes concurrent batches lock their rows in one order.
            upsert_many: format!(
                "INSERT INTO {} (app_id, user_id, last_active_time) \
                 SELECT DISTINCT ON (app, uid) app, uid, at \
                 FROM unnest((SELECT $1::TEXT[]), (SELECT $2::TEXT[]), (SELECT $3::BIGINT[])) AS v(app, uid, at) \
                 ORDER BY app, uid, at DESC \
                 ON CONFLICT (app_id, user_id) DO UPDATE SET last_active_time = EXCLUDED.last_active_time",
                t.user_last_active
            ),
            count: format!("SELECT COUNT(*) FROM {ula} WHERE app_id = $1 AND last_active_time >= $2"),
        }
    }
}

impl PgStorage {
    fn active_users_sql(&self) -> &ActiveUsersSql {
        &self.sql().active_users
    }
}

/// The `user_last_active` upsert of a successful refresh whose read did not record it (see
/// the session module's `SessionSnapshots`).
pub(crate) struct LastActiveTouches;

/// One user's activity at one time.
pub(crate) struct Touch {
    app: String,
    user_id: String,
    now_ms: i64,
}

impl Batched for LastActiveTouches {
    type Item = Touch;
    type Output = ();
    const WHAT: &'static str = "last-active upsert";

    fn queue(storage: &PgStorage) -> &BatchQueue<Self> {
        &storage.batches().last_active
    }

    async fn alone(storage: &PgStorage, t: &Touch, _idle: bool) -> SResult<()> {
        let params: [&(dyn ToSql + Sync); 3] = [&t.app, &t.user_id, &t.now_ms];
        storage.execute(&storage.active_users_sql().upsert, &params).await.map(|_| ())
    }

    /// `upsert_many`: one statement; a user touched twice keeps the later time.
    async fn together(storage: &PgStorage, touches: &[Touch]) -> SResult<Vec<()>> {
        let apps: Vec<&str> = touches.iter().map(|t| t.app.as_str()).collect();
        let users: Vec<&str> = touches.iter().map(|t| t.user_id.as_str()).collect();
        let times: Vec<i64> = touches.iter().map(|t| t.now_ms).collect();
        storage.execute(&storage.active_users_sql().upsert_many, &[&apps, &users, &times]).await?;
        Ok(vec![(); touches.len()])
    }
}

#[async_trait]
impl ActiveUsersStorage for PgStorage {
    #[instrument(
        level = "debug", target = "st_storage", name = "storage.touch_user_last_active", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn touch_user_last_active(&self, app: &AppId, user_id: &str, now_ms: i64) -> SResult<()> {
        let touch = Touch { app: app.as_str().to_string(), user_id: user_id.to_string(), now_ms };
        batch::run::<LastActiveTouches>(self, touch).await
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.count_active_users", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn count_active_users(&self, app: &AppId, since_ms: i64) -> SResult<u64> {
        let row = self.query_opt(&self.active_users_sql().count, &[&app.as_str(), &since_ms]).await?;
        let n: i64 = match row {
            Some(r) => col(&r, 0)?,
            None => 0,
        };
        Ok(u64::try_from(n).unwrap_or(0))
    }
}
