//! PostgreSQL [`Storage`] backend, on the reference (Java plugin 9.5) table layout so that a
//! database created by the Java core can be used as is, and vice versa.
//!
//! * [`PgConfig`] reads the `postgresql_*` keys (connection URI or separate keys, schema,
//!   table prefix, pool settings, `sslmode`); see [`config`].
//! * [`PgStorage::connect`] opens one bootstrap connection that creates the schema if needed,
//!   runs the embedded migration with refinery (all statements are `IF NOT EXISTS`), inserts
//!   the base app / tenant / tenant-config rows and the `activity_log` month partitions; then
//!   it builds the deadpool pool and its keeper task (minimum idle, idle timeout; see the
//!   `pool` module).
//! * One module per recipe holds its storage trait's impl and its statements, built once per
//!   table-name set ([`TableNames`]) into that recipe's field of `Statements`. Each method
//!   is one intent, run as a single statement or one transaction, on prepared statements.
//!   Adding a recipe: its module, one `mod` line below and its field in `Statements`.
//! * Every storage method runs in a `storage.<method>` span (target `st_storage`, level
//!   DEBUG; see [`st_core::storage::SPAN_TARGET`]); a failing call marks its span with the
//!   error's kind (the `error` module).
//! * Cross-instance serialisation uses PostgreSQL advisory locks keyed by a stable FNV-1a hash
//!   of a string that names the intent, the schema + prefix (the user pool) and the app:
//!   signing-key rotation and static-key creation take a transaction-scoped lock; a background
//!   job's [`JobLease`](st_core::storage::JobLease) is a session lock on a dedicated connection
//!   (outside the pool), released by closing that connection when the lease is dropped.
//!
//! An intent that PostgreSQL rolls back for a conflict with a concurrent transaction (deadlock,
//! serialisation failure) is run again from its start, a bounded number of times with a
//! jittered pause ([`retry`]): every transaction through `PgStorage::retrying`, every single
//! statement through the `query` helpers.
//!
//! Errors (the `error` module): unreachable database → `StorageError::Unavailable`, foreign-key
//! violation → `TenantOrAppNotFound`, anything else → `Query`. Nothing here panics on a request
//! path.

// Infrastructure.
mod batch;
mod bulkimport;
pub mod config;
mod error;
mod identity;
mod listing_sql;
mod migrate;
mod pool;
mod query;
pub mod retry;
mod tables;
mod tls;

// One module per recipe: its storage trait's impl and its statements.
mod accountlinking;
mod active_users;
mod dashboard;
mod emailpassword;
mod emailverification;
mod jobs;
mod key_value;
mod lockout;
mod multitenancy;
mod oauth;
mod passwordless;
mod ratelimit;
mod saml;
mod session;
mod signing_keys;
mod thirdparty;
mod totp;
mod useridmapping;
mod usermetadata;
mod userroles;
mod users;
mod webauthn;

pub use config::{mask_uri, PgConfig, TlsMode};
pub use migrate::{render as render_migration, V1_NAME, V1_TEMPLATE, V2_TEMPLATE, V3_TEMPLATE};
pub use tables::TableNames;

use async_trait::async_trait;
use deadpool_postgres::Pool;
use st_core::ids::TenantIdentifier;
use st_core::storage::{
    PoolStats, ResolvedSession, SResult, SessionDecider, SessionIdentity, SessionRow, Storage, TouchIfCurrent,
};
use st_core::StorageError;
use std::sync::Arc;
use tracing::field::Empty;
use tracing::instrument;

/// The PostgreSQL backend. Cheap to clone (shared pool).
#[derive(Clone)]
pub struct PgStorage {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    /// Load shedding and the connections to discard (see [`pool`]).
    guard: pool::Guard,
    names: Arc<TableNames>,
    sql: Statements,
    keeper: tokio::task::JoinHandle<()>,
    /// For lock keys: `<schema>.<prefix>`.
    pool_id: String,
    /// For job-lock connections.
    pg: tokio_postgres::Config,
    tls: tokio_postgres_rustls::MakeRustlsConnect,
    /// Calls waiting for a shared statement (see [`batch`]).
    batches: Batches,
    /// The runtime `connect` ran on: batch leaders run there (see [`batch`]).
    runtime: tokio::runtime::Handle,
    /// Intents rolled back by PostgreSQL: how often they are tried and the jitter's source.
    retry: retry::RetryPolicy,
    random: Arc<dyn st_core::random::Random>,
}

/// Every statement this crate runs, one field per recipe (its module builds it from the table
/// names and reads it through `PgStorage::sql`). Statements are prepared per connection
/// through deadpool's statement cache (`prepare_cached`), keyed by their text.
#[derive(Debug)]
struct Statements {
    tenants: multitenancy::TenantSql,
    key_value: key_value::KeyValueSql,
    session: session::SessionSql,
    lockout: lockout::LockoutSql,
    ratelimit: ratelimit::RateLimitSql,
    signing_keys: signing_keys::SigningKeySql,
    jobs: jobs::JobSql,
    active_users: active_users::ActiveUsersSql,
    users: users::UserSql,
    accountlinking: accountlinking::AccountLinkingSql,
    emailpassword: emailpassword::EmailPasswordSql,
    emailverification: emailverification::EmailVerificationSql,
    passwordless: passwordless::PasswordlessSql,
    thirdparty: thirdparty::ThirdPartySql,
    totp: totp::TotpSql,
    usermetadata: usermetadata::UserMetadataSql,
    userroles: userroles::UserRolesSql,
    useridmapping: useridmapping::UserIdMappingSql,
    webauthn: webauthn::WebauthnSql,
    dashboard: dashboard::DashboardSql,
    bulkimport: bulkimport::BulkImportSql,
    oauth: oauth::OAuthSql,
    saml: saml::SamlSql,
}

impl Statements {
    fn new(t: &TableNames) -> Statements {
        Statements {
            tenants: multitenancy::TenantSql::new(t),
            key_value: key_value::KeyValueSql::new(t),
            session: session::SessionSql::new(t),
            signing_keys: signing_keys::SigningKeySql::new(t),
            lockout: lockout::LockoutSql::new(t),
            ratelimit: ratelimit::RateLimitSql::new(t),
            jobs: jobs::JobSql::new(t),
            active_users: active_users::ActiveUsersSql::new(t),
            users: users::UserSql::new(t),
            accountlinking: accountlinking::AccountLinkingSql::new(t),
            emailpassword: emailpassword::EmailPasswordSql::new(t),
            emailverification: emailverification::EmailVerificationSql::new(t),
            passwordless: passwordless::PasswordlessSql::new(t),
            thirdparty: thirdparty::ThirdPartySql::new(t),
            totp: totp::TotpSql::new(t),
            usermetadata: usermetadata::UserMetadataSql::new(t),
            userroles: userroles::UserRolesSql::new(t),
            useridmapping: useridmapping::UserIdMappingSql::new(t),
            webauthn: webauthn::WebauthnSql::new(t),
            dashboard: dashboard::DashboardSql::new(t),
            bulkimport: bulkimport::BulkImportSql::new(t),
            oauth: oauth::OAuthSql::new(t),
            saml: saml::SamlSql::new(t),
        }
    }
}

/// The batch queues of the recipes whose concurrent calls share statements (see [`batch`]).
#[derive(Default)]
struct Batches {
    session: session::Queues,
    oauth: oauth::Queues,
    last_active: batch::BatchQueue<active_users::LastActiveTouches>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.keeper.abort();
        self.pool.close();
    }
}

/// The first connection at start-up fails with `e`: how long to wait before the next try, or
/// the error to fail with. While PostgreSQL refuses connections or is starting up, the caller
/// tries again every `cfg.connect_retry` until `deadline` (`cfg.connect_wait` after the first
/// try), as the Java plugin does, so a core started before its database (compose, Kubernetes)
/// waits for it. Any other error (authentication, unknown host, TLS) fails at once.
fn connect_retry_after(
    cfg: &PgConfig,
    e: &tokio_postgres::Error,
    deadline: tokio::time::Instant,
    told: &mut bool,
) -> Result<std::time::Duration, StorageError> {
    let now = tokio::time::Instant::now();
    if !error::is_not_up_yet(e) || now >= deadline {
        let waited = if *told { " (gave up waiting for it)" } else { "" };
        return Err(StorageError::Unavailable(format!(
            "cannot connect to {}{waited}: {}",
            cfg.describe(),
            error::chain(e)
        )));
    }
    if !*told {
        *told = true;
        tracing::info!(
            "Error connecting to PostgreSQL at {} ({}). Please make sure that PostgreSQL is running and that \
             postgresql_host and postgresql_port, or postgresql_connection_uri, are correct",
            cfg.describe(),
            error::chain(e)
        );
    }
    let left = deadline - now;
    tracing::info!("Trying again in a few seconds for {:.1} mins...", left.as_secs_f64() / 60.0);
    Ok(cfg.connect_retry.min(left))
}

impl PgStorage {
    /// Connect, migrate, insert the base rows, build the pool. Must be called inside a Tokio
    /// runtime that outlives the storage (the pool's connections and the keeper run on it).
    pub async fn connect(cfg: &PgConfig) -> Result<PgStorage, StorageError> {
        let tls = tls::connector(cfg).map_err(StorageError::Unavailable)?;
        let names = Arc::new(TableNames::new(cfg));
        let sql = Statements::new(&names);

        let deadline = tokio::time::Instant::now() + cfg.connect_wait;
        let mut told = false;
        let (mut client, connection) = loop {
            match cfg.pg.connect(tls.clone()).await {
                Ok(pair) => break pair,
                Err(e) => tokio::time::sleep(connect_retry_after(cfg, &e, deadline, &mut told)?).await,
            }
        };
        let conn_task = tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!("bootstrap connection ended: {e}");
            }
        });
        let bootstrapped = migrate::bootstrap(&mut client, &names, &sql.tenants).await;
        drop(client);
        let _ = conn_task.await;
        bootstrapped?;

        let guard = pool::Guard::new(cfg);
        let pool = pool::build(cfg, tls.clone(), &guard).map_err(StorageError::Unavailable)?;
        pool::prewarm(&pool, cfg.min_idle).await;
        let keeper = pool::spawn_keeper(&pool, cfg, names.clone(), &guard);
        tracing::info!("using PostgreSQL at {}", cfg.describe());
        Ok(PgStorage {
            inner: Arc::new(Inner {
                pool,
                guard,
                pool_id: format!("{}.{}", names.schema, names.prefix),
                names,
                sql,
                keeper,
                pg: cfg.pg.clone(),
                tls,
                batches: Batches::default(),
                runtime: tokio::runtime::Handle::current(),
                retry: retry::RetryPolicy::DEFAULT,
                random: Arc::new(st_core::random::SystemRandom::new()),
            }),
        })
    }

    /// The table names in use.
    pub fn table_names(&self) -> &TableNames {
        &self.inner.names
    }

    /// The statements of the per-request hot paths with sample arguments (SQL literals, one per
    /// `$n`), for `EXPLAIN` checks: session create and refresh, the session's user, user pages.
    /// Diagnostics and tests only.
    #[doc(hidden)]
    pub fn hot_statements(&self) -> Vec<(&'static str, String, Vec<&'static str>)> {
        let sql = self.sql();
        let (session, users) = (&sql.session, &sql.users);
        let app_tenant_handle = vec!["'public'", "'public'", "'h'"];
        vec![
            (
                "session create",
                session.insert_resolved.clone(),
                vec!["'public'", "'public'", "'h'", "'u'", "'x'", "'{}'", "1", "1", "'{}'", "false", "true"],
            ),
            ("session read", session.select_resolved.clone(), app_tenant_handle.clone()),
            (
                "session read and touch",
                session.select_resolved_touch.clone(),
                [app_tenant_handle.as_slice(), &["'{x}'", "1"]].concat(),
            ),
            ("last-active upsert", sql.active_users.upsert.clone(), vec!["'public'", "'u'", "1"]),
            ("session identity", users.session_identity.clone(), vec!["'public'", "'u'"]),
            ("users of a page", users.auth_users.clone(), vec!["'public'", "'{u}'"]),
            ("user decorations", users.decorations.clone(), vec!["'public'", "'{u}'"]),
        ]
    }

    /// Pool status (size, idle, waiting), for diagnostics and tests.
    pub fn pool_status(&self) -> deadpool_postgres::Status {
        self.inner.pool.status()
    }

    /// Stop the keeper and close every idle connection (in-flight ones close when returned).
    pub fn close(&self) {
        self.inner.keeper.abort();
        self.inner.pool.close();
    }

    /// Every recipe's statements; each recipe module reads its own field.
    fn sql(&self) -> &Statements {
        &self.inner.sql
    }

    fn batches(&self) -> &Batches {
        &self.inner.batches
    }

    fn runtime(&self) -> &tokio::runtime::Handle {
        &self.inner.runtime
    }

    /// Run `intent` (one transaction, opened by it on a connection from the pool) again from
    /// its start while PostgreSQL rolls it back for a conflict with a concurrent transaction
    /// (see [`retry`]). The intent may run more than once, so it decides only on what it reads
    /// in its transaction.
    pub(crate) async fn retrying<T, F, Fut>(&self, intent: F) -> SResult<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = SResult<T>>,
    {
        retry::run(&self.inner.retry, self.inner.random.as_ref(), intent).await
    }

    /// Advisory-lock key for `intent` within this user pool.
    fn lock_key(&self, intent: &str, scope: &str) -> i64 {
        migrate::lock_key(&format!("{intent}:{}:{scope}", self.inner.pool_id))
    }
}

#[async_trait]
impl Storage for PgStorage {
    fn kind(&self) -> &'static str {
        "postgresql"
    }

    /// One statement: insert, identity and, unless throttled, last-activity upsert, shared
    /// with concurrent creations (see `session::create_resolved`).
    #[instrument(
        level = "debug", target = "st_storage", name = "storage.create_session_resolved", skip_all,
        fields(otel.kind = "client", db.system = "postgresql",
            app_id = %row.tenant.app, tenant_id = %row.tenant.tenant,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn create_session_resolved(
        &self,
        row: &SessionRow,
        record_activity: bool,
    ) -> SResult<Option<SessionIdentity>> {
        session::create_resolved(self, row, record_activity).await
    }

    /// The snapshot read also resolves the identity and, with `touch`, records the activity, so
    /// a refresh that changes nothing is one statement (see `session::update_resolved`).
    #[instrument(
        level = "debug", target = "st_storage", name = "storage.update_session_resolved", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %tenant.app, tenant_id = %tenant.tenant,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn update_session_resolved(
        &self,
        tenant: &TenantIdentifier,
        handle: &str,
        decide: SessionDecider<'_>,
        touch: Option<&TouchIfCurrent<'_>>,
    ) -> SResult<Option<ResolvedSession>> {
        session::update_resolved(self, tenant, handle, decide, touch).await
    }

    fn request_timeout(&self) -> Option<std::time::Duration> {
        Some(self.inner.guard.request_timeout).filter(|t| !t.is_zero())
    }

    fn pool_stats(&self) -> Option<PoolStats> {
        let s = self.inner.pool.status();
        Some(PoolStats { max_size: s.max_size, size: s.size, available: s.available, waiting: s.waiting })
    }
}

impl std::fmt::Debug for PgStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStorage").field("tables", &self.inner.names).finish()
    }
}
