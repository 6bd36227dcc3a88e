//! The storage port. Each method is one whole intent, atomic inside its backend; there is no
//! transaction API. Split by recipe; a backend implements all of them and so is a [`Storage`].

use crate::error::StorageError;
use crate::ids::{AppId, TenantIdentifier};
use async_trait::async_trait;
use serde_json::{Map, Value};

pub type SResult<T> = Result<T, StorageError>;

/// A tenant and its stored configuration (`tenant_configs` + factor tables).
#[derive(Debug, Clone, PartialEq)]
pub struct TenantRecord {
    pub id: TenantIdentifier,
    /// The tenant's own `coreConfig` (normalised values), not the layered one.
    pub core_config: Map<String, Value>,
    pub email_password_enabled: bool,
    pub passwordless_enabled: bool,
    pub third_party_enabled: bool,
    /// `None` = all first factors allowed.
    pub first_factors: Option<Vec<String>>,
    pub required_secondary_factors: Option<Vec<String>>,
}

impl TenantRecord {
    pub fn new(id: TenantIdentifier) -> Self {
        TenantRecord {
            id,
            core_config: Map::new(),
            email_password_enabled: true,
            passwordless_enabled: true,
            third_party_enabled: true,
            first_factors: None,
            required_secondary_factors: None,
        }
    }
}

#[async_trait]
pub trait TenantStorage: Send + Sync {
    /// Touch the database (the `/hello` check).
    async fn health_check(&self) -> SResult<()>;
    /// Every tenant of every app.
    async fn list_tenants(&self) -> SResult<Vec<TenantRecord>>;
    /// One tenant, if it exists.
    async fn get_tenant(&self, id: &TenantIdentifier) -> SResult<Option<TenantRecord>>;
    /// Create the tenant (and its app, when the tenant is the app's `public` one) or replace its
    /// configuration. Returns whether it was created. A non-public tenant of a missing app is
    /// `TenantOrAppNotFound`.
    async fn upsert_tenant(&self, record: &TenantRecord, now_ms: i64) -> SResult<bool>;
    /// Delete a tenant and every piece of data that belongs to it. Returns whether it existed.
    async fn delete_tenant(&self, id: &TenantIdentifier) -> SResult<bool>;
    /// Delete an app, all its tenants and all their data. Returns whether it existed.
    async fn delete_app(&self, app: &AppId) -> SResult<bool>;

    /// `key_value` read.
    async fn kv_get(&self, tenant: &TenantIdentifier, name: &str) -> SResult<Option<String>>;
    /// `key_value` write (insert or replace).
    async fn kv_set(&self, tenant: &TenantIdentifier, name: &str, value: &str, now_ms: i64) -> SResult<()>;
    /// `key_value` delete; returns whether it existed.
    async fn kv_delete(&self, tenant: &TenantIdentifier, name: &str) -> SResult<bool>;
    /// Insert `value` unless a value exists; return the stored value either way.
    async fn kv_get_or_insert(
        &self,
        tenant: &TenantIdentifier,
        name: &str,
        value: &str,
        now_ms: i64,
    ) -> SResult<String>;
}

/// A `session_info` row.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRow {
    pub tenant: TenantIdentifier,
    pub handle: String,
    /// Recipe user id as given by the caller.
    pub user_id: String,
    pub refresh_token_hash_2: String,
    pub session_data: Value,
    pub expires_at: i64,
    pub created_at: i64,
    pub jwt_user_payload: Value,
    pub use_static_key: bool,
}

/// Changes to apply to a session row inside [`SessionStorage::update_session_atomically`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionPatch {
    pub refresh_token_hash_2: Option<String>,
    pub expires_at: Option<i64>,
    pub use_static_key: Option<bool>,
}

/// Pure decision made while the row is locked: what to change, if anything.
pub type SessionDecider<'a> = &'a (dyn Fn(&SessionRow) -> Option<SessionPatch> + Send + Sync);

#[async_trait]
pub trait SessionStorage: Send + Sync {
    /// Insert a new session. `TenantOrAppNotFound` if the tenant does not exist.
    async fn create_session(&self, row: &SessionRow) -> SResult<()>;
    async fn get_session(&self, tenant: &TenantIdentifier, handle: &str) -> SResult<Option<SessionRow>>;
    /// Lock the row, let `decide` look at it, apply the patch it returns, all atomically.
    /// Returns the row as it was before the patch (`None` if missing).
    async fn update_session_atomically(
        &self,
        tenant: &TenantIdentifier,
        handle: &str,
        decide: SessionDecider<'_>,
    ) -> SResult<Option<SessionRow>>;
    /// Delete sessions by handle (each with its tenant); return the handles that existed.
    async fn delete_sessions(&self, app: &AppId, handles: &[(TenantIdentifier, String)]) -> SResult<Vec<String>>;
    /// Handles of the non-expired sessions of these users, in one tenant or (None) all of the app's.
    async fn session_handles_for_users(
        &self,
        app: &AppId,
        tenant: Option<&TenantIdentifier>,
        user_ids: &[String],
        now_ms: i64,
    ) -> SResult<Vec<(TenantIdentifier, String)>>;
    /// Replace `session_data` of a non-expired session; false if missing.
    async fn update_session_data(
        &self,
        tenant: &TenantIdentifier,
        handle: &str,
        data: &Value,
        now_ms: i64,
    ) -> SResult<bool>;
    /// Replace `jwt_user_payload` of a non-expired session; false if missing.
    async fn update_jwt_payload(
        &self,
        tenant: &TenantIdentifier,
        handle: &str,
        payload: &Value,
        now_ms: i64,
    ) -> SResult<bool>;
    /// Cron: delete sessions whose `expires_at <= now`. Returns how many.
    async fn delete_expired_sessions(&self, now_ms: i64) -> SResult<u64>;
    /// `user_last_active` upsert.
    async fn touch_user_last_active(&self, app: &AppId, user_id: &str, now_ms: i64) -> SResult<()>;
}

/// A stored signing key.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredKey {
    /// `d-<created>` for dynamic keys, the stored key id for static keys.
    pub kid: String,
    /// `"<base64 SPKI DER>|<base64 PKCS#8 DER>"`.
    pub value: String,
    pub created_at: i64,
}

#[async_trait]
pub trait SigningKeyStorage: Send + Sync {
    /// Atomically (serialised per app across every instance sharing the database): read the
    /// dynamic keys created at or after `verify_after`; if none was created at or after
    /// `sign_after` and `candidate` is given, insert it. Returns the keys, newest first, and
    /// whether the candidate was inserted. Two instances can never insert a key for the same
    /// rotation slot.
    async fn dynamic_keys_rotate(
        &self,
        app: &AppId,
        verify_after: i64,
        sign_after: i64,
        candidate: Option<&StoredKey>,
    ) -> SResult<(Vec<StoredKey>, bool)>;
    /// Cron: delete dynamic keys of `app` created before `before`.
    async fn delete_dynamic_keys_before(&self, app: &AppId, before: i64) -> SResult<u64>;
    /// The app's static RS256 key, inserting `candidate` if there is none yet. Returns the stored one.
    async fn static_key_get_or_insert(&self, app: &AppId, candidate: Option<&StoredKey>) -> SResult<Option<StoredKey>>;
}

/// A lease on a background job; the job runs only while it is held. Dropping releases it.
pub trait JobLease: Send {}

#[async_trait]
pub trait JobStorage: Send + Sync {
    /// Try to become the one instance that runs `job` now (e.g. a PostgreSQL advisory lock).
    /// `None` = another instance holds it.
    async fn try_lock_job(&self, job: &str) -> SResult<Option<Box<dyn JobLease>>>;
}

/// Everything a backend provides, plus the intents that span recipes. The defaults compose the
/// per-recipe intents; a backend with round trips to pay for answers each in one.
#[async_trait]
pub trait Storage: TenantStorage + SessionStorage + SigningKeyStorage + JobStorage + UserStorage + Send + Sync {
    /// `"memory"` or `"postgresql"`.
    fn kind(&self) -> &'static str;

    /// Connection-pool usage, for backends that have a pool.
    fn pool_stats(&self) -> Option<PoolStats> {
        None
    }

    /// Session creation: insert `row`, with `record_activity` record its user as active at
    /// `row.created_at` (see [`SessionIdentity::active_user`]), and return the identity of
    /// `row.user_id` (`None`: the id names no user). As the reference, the row keeps the
    /// recipe user's external id when it has one, even when `row.user_id` is its SuperTokens
    /// id, so a Java core on the same database finds the session by the external id.
    async fn create_session_resolved(
        &self,
        row: &SessionRow,
        record_activity: bool,
    ) -> SResult<Option<SessionIdentity>> {
        let identity = self.session_identity(&row.tenant.app, &row.user_id).await?;
        match identity.as_ref().and_then(|i| i.recipe_external_id.as_ref()) {
            Some(external) if *external != row.user_id => {
                self.create_session(&SessionRow { user_id: external.clone(), ..row.clone() }).await?
            }
            _ => self.create_session(row).await?,
        }
        if record_activity {
            let active = SessionIdentity::active_user(identity.as_ref(), &row.user_id);
            self.touch_user_last_active(&row.tenant.app, &active, row.created_at).await?;
        }
        Ok(identity)
    }

    /// [`SessionStorage::update_session_atomically`], returning with the row the identity of
    /// its user as [`UserStorage::session_identity`] resolves it.
    ///
    /// `touch` is the condition under which the caller records the session's user as active
    /// (see [`SessionIdentity::active_user`]). A backend that can write that in the same
    /// statement as its first, unlocked read may do so, judged on that read, and then says so
    /// in [`ResolvedSession::activity_recorded`]; otherwise the caller records it with
    /// [`SessionStorage::touch_user_last_active`] once it knows that the refresh succeeded.
    /// PostgreSQL does the former under concurrency (where one more statement per refresh
    /// costs throughput) and the latter for a read while no other is in flight (where the
    /// write would lengthen the read that the refresh waits for; the caller then writes while
    /// it signs).
    async fn update_session_resolved(
        &self,
        tenant: &TenantIdentifier,
        handle: &str,
        decide: SessionDecider<'_>,
        _touch: Option<&TouchIfCurrent<'_>>,
    ) -> SResult<Option<ResolvedSession>> {
        let Some(row) = self.update_session_atomically(tenant, handle, decide).await? else { return Ok(None) };
        let identity = self.session_identity(&tenant.app, &row.user_id).await?;
        Ok(Some(ResolvedSession { row, identity, activity_recorded: false }))
    }
}

/// See [`Storage::update_session_resolved`]: the condition under which a session refresh
/// succeeds, as far as the stored row decides it.
#[derive(Debug, Clone, Copy)]
pub struct TouchIfCurrent<'a> {
    pub refresh_token_hashes_2: &'a [&'a str],
    pub now_ms: i64,
}

impl TouchIfCurrent<'_> {
    pub fn matches(&self, row: &SessionRow) -> bool {
        row.expires_at >= self.now_ms && self.refresh_token_hashes_2.contains(&row.refresh_token_hash_2.as_str())
    }
}

/// What [`Storage::update_session_resolved`] read.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedSession {
    /// The row as read, before any patch.
    pub row: SessionRow,
    /// The identity of `row.user_id`; `None`: the id names no user.
    pub identity: Option<SessionIdentity>,
    /// Whether the backend already judged `touch` (and recorded the activity if it matched).
    pub activity_recorded: bool,
}

/// Connection-pool usage snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    pub max_size: usize,
    pub size: usize,
    pub available: usize,
    pub waiting: usize,
}

/// One login method of a user (a "recipe user").
#[derive(Debug, Clone, PartialEq)]
pub struct LoginMethod {
    pub recipe_id: String,
    pub recipe_user_id: String,
    pub tenant_ids: Vec<String>,
    pub time_joined: i64,
    pub email: Option<String>,
    pub phone_number: Option<String>,
    pub third_party: Option<(String, String)>,
}

/// A user: the primary (or standalone) user id and every login method of its group.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthUser {
    pub id: String,
    pub is_primary: bool,
    pub login_methods: Vec<LoginMethod>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignUpResult {
    Created,
    EmailAlreadyExists,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateResult {
    Ok,
    UnknownUser,
    EmailAlreadyExists,
    /// The user's group is a primary user and another primary user of one of its tenants has
    /// the new e-mail (account linking). Decided by the core before it asks the storage.
    EmailChangeNotAllowed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleResult {
    Ok(bool),
    UnknownRole,
}

/// Query for `GET /users`.
#[derive(Debug, Clone, Default)]
pub struct UserListQuery {
    pub ascending: bool,
    /// Continue from this (time_joined, user id), inclusive: the first user of the page, as
    /// the reference's pagination token names it.
    pub from: Option<(i64, String)>,
    /// A page: at most this many users. A search (`from` and `recipe_ids` unused): at most this
    /// many matching login methods *per recipe*, whichever the backend finds first (the
    /// reference's `LIMIT` without `ORDER BY`, so that a common tag does not read the whole
    /// tenant), and then every primary user of those, de-duplicated, in order.
    pub limit: usize,
    /// Only users with a login method of one of these recipes (empty = all).
    pub recipe_ids: Vec<String>,
    /// Lower-cased prefixes (see [`UserListQuery::is_search`] for how they combine). An
    /// e-mail prefix also matches the start of the domain part.
    pub email_prefixes: Vec<String>,
    pub phone_prefixes: Vec<String>,
    pub provider_prefixes: Vec<String>,
}

impl UserListQuery {
    /// True when any search tag is given. Tag kinds combine with AND, prefixes of one kind
    /// with OR, all on the same login method, as the reference's search does: e-mail with
    /// phone matches only passwordless users, e-mail with provider only third-party users,
    /// phone with provider nobody.
    pub fn is_search(&self) -> bool {
        !(self.email_prefixes.is_empty() && self.phone_prefixes.is_empty() && self.provider_prefixes.is_empty())
    }
}

/// A non-auth recipe that holds data under a user id, in the order the reference checks them
/// before it creates or removes a user-id mapping (§a.13).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserIdUse {
    /// A session that has not expired yet.
    Session,
    UserMetadata,
    UserRoles,
    /// An email-verification token or a verified email.
    EmailVerification,
    /// A TOTP device.
    Totp,
}

impl UserIdUse {
    /// The recipe's name in the reference's "UserId is already in use in … recipe" message.
    pub fn recipe_name(self) -> &'static str {
        match self {
            UserIdUse::Session => "Session",
            UserIdUse::UserMetadata => "UserMetadata",
            UserIdUse::UserRoles => "UserRoles",
            UserIdUse::EmailVerification => "EmailVerification",
            UserIdUse::Totp => "TOTP",
        }
    }
}

/// A user-id mapping row.
#[derive(Debug, Clone, PartialEq)]
pub struct UserIdMapping {
    pub supertokens_user_id: String,
    pub external_user_id: String,
    pub external_user_id_info: Option<String>,
}

/// See [`UserStorage::user_decorations`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserDecorations {
    /// Supertokens recipe user id → external user id.
    pub external_ids: std::collections::HashMap<String, String>,
    /// `(user id as the application sees it, email)` pairs that are verified.
    pub verified: std::collections::HashSet<(String, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MappingCreate {
    Ok,
    UnknownSuperTokensUserId,
    AlreadyExists { supertokens_id_exists: bool, external_id_exists: bool },
}

/// Who a session belongs to: the recipe user and its primary user, with external ids.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionIdentity {
    pub recipe_user_id: String,
    pub primary_user_id: String,
    pub recipe_external_id: Option<String>,
    pub primary_external_id: Option<String>,
}

impl SessionIdentity {
    /// `(userId, recipeUserId)` as a session reports them: external ids where mapped. An id
    /// that names no user (sessions may be created for any id) is reported as given.
    pub fn reported(identity: Option<SessionIdentity>, given: &str) -> (String, String) {
        match identity {
            Some(id) => (
                id.primary_external_id.unwrap_or(id.primary_user_id),
                id.recipe_external_id.unwrap_or(id.recipe_user_id),
            ),
            None => (given.to_string(), given.to_string()),
        }
    }

    /// The id a session's activity is recorded under in `user_last_active`: the primary user's
    /// supertokens id (never the external one, so that a mapping does not split a user's
    /// activity, and linked login methods count once), or the id as given when it names no user.
    pub fn active_user(identity: Option<&SessionIdentity>, given: &str) -> String {
        identity.map_or_else(|| given.to_string(), |id| id.primary_user_id.clone())
    }
}

#[async_trait]
pub trait UserStorage: Send + Sync {
    /// The user whose group contains `user_id` (a supertokens id).
    async fn get_auth_user(&self, app: &AppId, user_id: &str) -> SResult<Option<AuthUser>>;

    /// The users whose groups contain these ids (supertokens ids), one per group, in the order
    /// of their first id; unknown ids are skipped. Backends may answer in one round trip; this
    /// default asks for each.
    async fn get_auth_users(&self, app: &AppId, user_ids: &[String]) -> SResult<Vec<AuthUser>> {
        let mut users: Vec<AuthUser> = Vec::with_capacity(user_ids.len());
        for id in user_ids {
            if let Some(user) = self.get_auth_user(app, id).await? {
                if !users.iter().any(|u| u.id == user.id) {
                    users.push(user);
                }
            }
        }
        Ok(users)
    }

    /// What user objects need besides the login methods: the external id of each login
    /// method (and of each user's own id) that has one, and which of their emails are verified (under the id the
    /// application uses for the login method: external if mapped). Backends may answer in one
    /// round trip; this default asks per login method.
    async fn user_decorations(&self, app: &AppId, users: &[AuthUser]) -> SResult<UserDecorations> {
        let mut out = UserDecorations::default();
        for u in users.iter().filter(|u| !u.login_methods.iter().any(|m| m.recipe_user_id == u.id)) {
            if let Some(mapping) = self.mapping_get(app, &u.id, Some(true)).await? {
                out.external_ids.insert(u.id.clone(), mapping.external_user_id);
            }
        }
        for m in users.iter().flat_map(|u| u.login_methods.iter()) {
            let shown = match self.mapping_get(app, &m.recipe_user_id, Some(true)).await? {
                Some(mapping) => {
                    out.external_ids.insert(m.recipe_user_id.clone(), mapping.external_user_id.clone());
                    mapping.external_user_id
                }
                None => m.recipe_user_id.clone(),
            };
            if let Some(email) = &m.email {
                if self.ev_is_verified(app, &shown, email).await? {
                    out.verified.insert((shown, email.clone()));
                }
            }
        }
        Ok(out)
    }

    /// Resolve an id given to the session APIs (supertokens or external) to the session's
    /// identity; `None` when no such user exists. Backends may answer in one round trip; this
    /// default composes the other intents.
    async fn session_identity(&self, app: &AppId, user_id: &str) -> SResult<Option<SessionIdentity>> {
        let recipe = match self.mapping_get(app, user_id, Some(false)).await? {
            Some(m) => m.supertokens_user_id,
            None => user_id.to_string(),
        };
        let Some(user) = self.get_auth_user(app, &recipe).await? else { return Ok(None) };
        let external = |id: String| async move {
            self.mapping_get(app, &id, Some(true)).await.map(|m| m.map(|m| m.external_user_id))
        };
        Ok(Some(SessionIdentity {
            recipe_external_id: external(recipe.clone()).await?,
            primary_external_id: external(user.id.clone()).await?,
            recipe_user_id: recipe,
            primary_user_id: user.id,
        }))
    }
    /// Email-password sign-up: insert the user in `tenant` unless the email is taken there.
    async fn ep_sign_up(
        &self,
        tenant: &TenantIdentifier,
        user_id: &str,
        email: &str,
        password_hash: &str,
        now_ms: i64,
    ) -> SResult<SignUpResult>;
    /// (user id, password hash) of the email-password user with this email in `tenant`.
    async fn ep_login(&self, tenant: &TenantIdentifier, email: &str) -> SResult<Option<(String, String)>>;
    /// Change email and/or password hash of an email-password user (email unique in each of its tenants).
    async fn ep_update(
        &self,
        app: &AppId,
        user_id: &str,
        email: Option<&str>,
        password_hash: Option<&str>,
    ) -> SResult<UpdateResult>;
    /// Supertokens ids of users (primary ids) in `tenant` having a login method with this email.
    async fn users_by_email(&self, tenant: &TenantIdentifier, email: &str) -> SResult<Vec<String>>;

    async fn reset_token_create(
        &self,
        app: &AppId,
        user_id: &str,
        token_hash: &str,
        email: &str,
        expiry: i64,
    ) -> SResult<()>;
    /// Consume a reset token: returns (user id, email) and deletes every token of that user.
    async fn reset_token_consume(
        &self,
        app: &AppId,
        token_hash: &str,
        now_ms: i64,
    ) -> SResult<Option<(String, String)>>;
    async fn delete_expired_reset_tokens(&self, now_ms: i64) -> SResult<u64>;

    async fn ev_token_create(
        &self,
        tenant: &TenantIdentifier,
        user_id: &str,
        email: &str,
        token_hash: &str,
        expiry: i64,
    ) -> SResult<()>;
    /// Consume a verification token: marks (user, email) verified, deletes that pair's tokens in
    /// the tenant, returns (user id, email). `None` for unknown or expired tokens; an expired
    /// token still deletes the pair's tokens.
    async fn ev_token_consume(
        &self,
        tenant: &TenantIdentifier,
        token_hash: &str,
        now_ms: i64,
    ) -> SResult<Option<(String, String)>>;
    async fn ev_tokens_delete(&self, tenant: &TenantIdentifier, user_id: &str, email: &str) -> SResult<()>;
    async fn ev_is_verified(&self, app: &AppId, user_id: &str, email: &str) -> SResult<bool>;
    async fn ev_set_verified(&self, app: &AppId, user_id: &str, email: &str) -> SResult<()>;
    async fn ev_unverify(&self, app: &AppId, user_id: &str, email: &str) -> SResult<()>;
    async fn delete_expired_ev_tokens(&self, now_ms: i64) -> SResult<u64>;

    async fn metadata_get(&self, app: &AppId, user_id: &str) -> SResult<Option<Map<String, Value>>>;
    /// The metadata of several users (those without any are absent from the map).
    async fn metadata_get_many(
        &self,
        app: &AppId,
        user_ids: &[String],
    ) -> SResult<std::collections::HashMap<String, Map<String, Value>>> {
        let mut out = std::collections::HashMap::new();
        for id in user_ids {
            if let Some(m) = self.metadata_get(app, id).await? {
                out.insert(id.clone(), m);
            }
        }
        Ok(out)
    }
    /// Shallow-merge `update` into the stored metadata atomically (`null` deletes a key), with
    /// [`crate::users::merge_metadata`]; returns the result.
    async fn metadata_update(
        &self,
        app: &AppId,
        user_id: &str,
        update: &Map<String, Value>,
    ) -> SResult<Map<String, Value>>;
    async fn metadata_delete(&self, app: &AppId, user_id: &str) -> SResult<bool>;

    /// Create the role if missing and add permissions; returns whether it was created.
    async fn role_upsert(&self, app: &AppId, role: &str, permissions: &[String]) -> SResult<bool>;
    async fn role_permissions(&self, app: &AppId, role: &str) -> SResult<Option<Vec<String>>>;
    /// Remove some (or, with `None`, all) permissions; false if the role does not exist.
    async fn role_remove_permissions(&self, app: &AppId, role: &str, permissions: Option<&[String]>) -> SResult<bool>;
    async fn roles_with_permission(&self, app: &AppId, permission: &str) -> SResult<Vec<String>>;
    async fn role_delete(&self, app: &AppId, role: &str) -> SResult<bool>;
    async fn roles_list(&self, app: &AppId) -> SResult<Vec<String>>;
    /// Ok(already had it)
    async fn user_role_add(&self, tenant: &TenantIdentifier, user_id: &str, role: &str) -> SResult<RoleResult>;
    /// Ok(had it)
    async fn user_role_remove(&self, tenant: &TenantIdentifier, user_id: &str, role: &str) -> SResult<RoleResult>;
    async fn user_roles(&self, tenant: &TenantIdentifier, user_id: &str) -> SResult<Vec<String>>;
    async fn role_users(&self, tenant: &TenantIdentifier, role: &str) -> SResult<Option<Vec<String>>>;

    /// Create a mapping unless either id is already mapped. With `move_verification`, email
    /// verification tokens and verified emails stored under the supertokens id move to the
    /// external id in the same transaction (the reference's exception for email verification).
    async fn mapping_create(
        &self,
        app: &AppId,
        mapping: &UserIdMapping,
        move_verification: bool,
    ) -> SResult<MappingCreate>;
    /// Which non-auth recipes hold data under `user_id` (sessions only if they expire at or
    /// after `now_ms`), in [`UserIdUse`] order.
    async fn user_id_uses(&self, app: &AppId, user_id: &str, now_ms: i64) -> SResult<Vec<UserIdUse>>;
    /// Look a mapping up by supertokens id (`Some(true)`), external id (`Some(false)`) or either (`None`).
    async fn mapping_get(&self, app: &AppId, id: &str, supertokens: Option<bool>) -> SResult<Option<UserIdMapping>>;
    async fn mapping_delete(&self, app: &AppId, id: &str, supertokens: Option<bool>) -> SResult<bool>;
    async fn mapping_update_info(
        &self,
        app: &AppId,
        id: &str,
        supertokens: Option<bool>,
        info: Option<&str>,
    ) -> SResult<bool>;

    /// Primary user ids and their time joined for a page of `GET /users`.
    async fn list_users(&self, tenant: &TenantIdentifier, query: &UserListQuery) -> SResult<Vec<(String, i64)>>;
    /// Users (primary or standalone) in one tenant or the whole app, optionally by recipe.
    async fn count_users(&self, app: &AppId, tenant: Option<&TenantIdentifier>, recipe_ids: &[String]) -> SResult<u64>;
    async fn count_active_users(&self, app: &AppId, since_ms: i64) -> SResult<u64>;
    /// Remove a user's login method and every trace of it: auth rows, tokens, verification,
    /// metadata, roles, sessions, mapping, last-active. `ids` are all ids the data may be keyed
    /// by (supertokens and external).
    ///
    /// In a linked group (account linking, so far only in databases the reference core wrote),
    /// as the reference: removing the primary's login method while others remain removes only
    /// that method's own rows, and the primary's id stays the group's id with the data keyed by
    /// it; removing the last login method of such a group also removes the primary's id and
    /// its data.
    async fn delete_user(&self, app: &AppId, user_id: &str, ids: &[String]) -> SResult<()>;
}
