//! [`AccountLinkingStorage`] on the reference's LEGACY tables: a group is the rows of
//! `app_id_to_user_id` and `all_auth_recipe_users` sharing `primary_or_recipe_user_id`, flagged
//! `is_linked_or_is_a_primary_user`; the group's `primary_or_recipe_user_time_joined` is the
//! minimum `time_joined` of its rows in each table (as the reference writes it). The
//! reservation tables of plugin 9.5 are neither read nor written (see ARCHITECTURE.md).
//!
//! Several server processes may share the database, so each intent is one transaction that
//! decides under locks covering everything its decision reads:
//!
//! 1. it reads the users concerned (their groups) without a lock, to learn their account
//!    infos (e-mails, phone numbers, provider pairs);
//! 2. it takes a transaction-scoped advisory lock per account info (key: the user pool, the app
//!    and the value), in key order in one statement;
//! 3. it locks the `app_id_to_user_id` rows of the groups concerned (`FOR UPDATE`, in id order,
//!    one statement), as the reference's `lockUser`;
//! 4. it reads the users again, with the other primary users holding their account infos; if
//!    their account infos are no longer all covered by the locks of step 2 (one changed in
//!    between), it rolls back and starts again; otherwise the domain decides on that state and
//!    the transaction applies the decision.
//!
//! Any two intents that could give one account info to two primary users both hold that
//! value's lock (each locks every account info of the group it forms), so they are decided one
//! after the other, and the second sees the first's result. Advisory locks before row locks,
//! each set in one sorted statement, so two intents cannot wait for each other in a cycle.

use crate::query::{col, tx_exec, tx_query};
use crate::users::group_users;
use crate::{error, PgStorage, TableNames};
use async_trait::async_trait;
use deadpool_postgres::Transaction;
use st_core::accountlinking::{change_conflicts, AccountInfo};
use st_core::ids::AppId;
use st_core::storage::{
    traced_error, AccountInfoKind, AccountLinkingStorage, AuthUser, LinkDecider, LinkDecision, LinkingState,
    PrimaryDecider, PrimaryDecision, SResult, UnlinkDecider, UnlinkDecision,
};
use st_core::StorageError;
use tracing::field::Empty;
use tracing::instrument;

/// Rounds of an intent whose users' account infos keep changing between its read and its locks.
const ATTEMPTS: usize = 8;

/// Statement texts of the account-linking intents.
#[derive(Debug)]
pub(crate) struct AccountLinkingSql {
    advisory_locks: String,
    lock_groups: String,
    share_group: String,
    holders: String,
    make_primary: [String; 2],
    link: [String; 2],
    unlink: [String; 2],
    group_time_joined: [String; 2],
    forget_activity: String,
}

impl AccountLinkingSql {
    pub(crate) fn new(t: &TableNames) -> AccountLinkingSql {
        let a2u = t.qualified("app_id_to_user_id");
        let aaru = t.qualified("all_auth_recipe_users");
        let ep = t.qualified("emailpassword_users");
        let tp = t.qualified("thirdparty_users");
        let pl = t.qualified("passwordless_users");
        let wa = t.qualified("webauthn_users");
        let ula = t.qualified("user_last_active");
        let both = |f: &dyn Fn(&str) -> String| [f(&a2u), f(&aaru)];
        AccountLinkingSql {
            // In key order (the array comes sorted; the sub-select keeps it so).
            advisory_locks:
                "SELECT pg_advisory_xact_lock(k) FROM (SELECT k FROM UNNEST($1::BIGINT[]) AS k ORDER BY k) s".into(),
            // Every row of the groups of the ids $2 (and the ids' own rows), in id order. The groups'
            // ids as an array computed once (`= ANY(ARRAY(...))`): an `IN (sub-select)` inside the
            // OR stayed a hashed sub-plan filter, which made PostgreSQL visit every row of the app
            // instead of using the primary key and the `(primary_or_recipe_user_id, app_id)` index.
            lock_groups: format!(
                "SELECT a.user_id::TEXT FROM {a2u} a WHERE a.app_id = $1 AND (a.user_id = ANY($2::TEXT[]::BPCHAR[]) \
                   OR a.primary_or_recipe_user_id = ANY(ARRAY(SELECT g.primary_or_recipe_user_id FROM {a2u} g \
                     WHERE g.app_id = $1 AND g.user_id = ANY($2::TEXT[]::BPCHAR[])))) \
                 ORDER BY a.user_id::TEXT COLLATE \"C\" FOR UPDATE OF a"
            ),
            // Every row of the group of the id $2, in id order, shared (see `change_refused`).
            share_group: format!(
                "SELECT a.user_id::TEXT FROM {a2u} a WHERE a.app_id = $1 AND (a.user_id = $2 \
                   OR a.primary_or_recipe_user_id = (SELECT g.primary_or_recipe_user_id FROM {a2u} g \
                     WHERE g.app_id = $1 AND g.user_id = $2)) \
                 ORDER BY a.user_id::TEXT COLLATE \"C\" FOR SHARE OF a"
            ),
            // The primary users other than the groups $2 with a login method holding one of the
            // e-mails $3, phone numbers $4 or provider pairs ($5, $6).
            holders: format!(
                "SELECT DISTINCT a.primary_or_recipe_user_id::TEXT FROM {a2u} a \
                 WHERE a.app_id = $1 AND a.is_linked_or_is_a_primary_user \
                   AND a.primary_or_recipe_user_id <> ALL($2::TEXT[]::BPCHAR[]) AND a.user_id IN ( \
                     SELECT user_id FROM {ep} WHERE app_id = $1 AND email = ANY($3::TEXT[]) \
                     UNION ALL SELECT user_id FROM {tp} WHERE app_id = $1 AND email = ANY($3::TEXT[]) \
                     UNION ALL SELECT user_id FROM {pl} WHERE app_id = $1 AND email = ANY($3::TEXT[]) \
                     UNION ALL SELECT user_id FROM {wa} WHERE app_id = $1 AND email = ANY($3::TEXT[]) \
                     UNION ALL SELECT user_id FROM {pl} WHERE app_id = $1 AND phone_number = ANY($4::TEXT[]) \
                     UNION ALL SELECT u.user_id FROM {tp} u JOIN UNNEST($5::TEXT[], $6::TEXT[]) AS p(id, uid) \
                       ON u.third_party_id = p.id AND u.third_party_user_id = p.uid WHERE u.app_id = $1)"
            ),
            make_primary: both(&|table| {
                format!("UPDATE {table} SET is_linked_or_is_a_primary_user = TRUE WHERE app_id = $1 AND user_id = $2")
            }),
            link: both(&|table| {
                format!(
                    "UPDATE {table} SET is_linked_or_is_a_primary_user = TRUE, primary_or_recipe_user_id = $3 \
                     WHERE app_id = $1 AND user_id = $2"
                )
            }),
            unlink: both(&|table| {
                format!(
                    "UPDATE {table} SET is_linked_or_is_a_primary_user = FALSE, primary_or_recipe_user_id = user_id, \
                     primary_or_recipe_user_time_joined = time_joined WHERE app_id = $1 AND user_id = $2"
                )
            }),
            // As the reference (and the tenant association): each table's own minimum.
            group_time_joined: both(&|table| {
                format!(
                    "UPDATE {table} SET primary_or_recipe_user_time_joined = \
                       (SELECT MIN(time_joined) FROM {table} WHERE app_id = $1 AND primary_or_recipe_user_id = $2) \
                     WHERE app_id = $1 AND primary_or_recipe_user_id = $2"
                )
            }),
            forget_activity: format!("DELETE FROM {ula} WHERE app_id = $1 AND user_id = $2"),
        }
    }
}

/// What reading the users under the locks gave.
enum Locked {
    /// An id names no user.
    Unknown,
    /// Their account infos changed since the first read: start again.
    Retry,
    State(LinkingState),
}

impl PgStorage {
    fn al_sql(&self) -> &AccountLinkingSql {
        &self.sql().accountlinking
    }

    /// The group of `user_id` read in `tx`.
    async fn group_in(&self, tx: &Transaction<'_>, app: &str, user_id: &str) -> SResult<Option<AuthUser>> {
        let rows = tx_query(tx, &self.sql().users.auth_user, &[&app, &user_id]).await?;
        Ok(group_users(&rows)?.pop())
    }

    /// The linking state of the users, read in `tx` (see [`LinkingState`]).
    async fn state_in(
        &self,
        tx: &Transaction<'_>,
        app: &str,
        recipe_user_id: &str,
        primary_user_id: Option<&str>,
    ) -> SResult<Option<LinkingState>> {
        let Some(recipe) = self.group_in(tx, app, recipe_user_id).await? else { return Ok(None) };
        let primary = match primary_user_id {
            Some(p) => match self.group_in(tx, app, p).await? {
                Some(g) => Some(g),
                None => return Ok(None),
            },
            None => None,
        };
        let infos = AccountInfo::of_users(std::iter::once(&recipe).chain(primary.as_ref()));
        let own: Vec<&str> =
            std::iter::once(recipe.id.as_str()).chain(primary.as_ref().map(|p| p.id.as_str())).collect();
        let others = self.holders_in(tx, app, &infos, &own).await?;
        Ok(Some(LinkingState { recipe, primary, others }))
    }

    /// The primary users other than the groups `own` with a login method holding one of
    /// `infos`, read in `tx`.
    async fn holders_in(
        &self,
        tx: &Transaction<'_>,
        app: &str,
        infos: &[AccountInfo],
        own: &[&str],
    ) -> SResult<Vec<AuthUser>> {
        let (mut emails, mut phones, mut tp_ids, mut tp_users) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for info in infos {
            match info {
                AccountInfo::Email(e) => emails.push(e.as_str()),
                AccountInfo::PhoneNumber(p) => phones.push(p.as_str()),
                AccountInfo::ThirdParty(id, uid) => {
                    tp_ids.push(id.as_str());
                    tp_users.push(uid.as_str());
                }
            }
        }
        let holders = tx_query(tx, &self.al_sql().holders, &[&app, &own, &emails, &phones, &tp_ids, &tp_users]).await?;
        let holder_ids = holders.iter().map(|r| col::<String>(r, 0)).collect::<SResult<Vec<String>>>()?;
        if holder_ids.is_empty() {
            return Ok(Vec::new());
        }
        group_users(&tx_query(tx, &self.sql().users.auth_users, &[&app, &holder_ids]).await?)
    }

    /// In `tx`, before a login method of `user_id`'s group takes the account infos `new` (an
    /// e-mail or phone number change): the kinds of those the account-linking rule refuses
    /// ([`change_conflicts`]), decided under the locks the linking intents take: the advisory
    /// locks of the new values, then the group's rows (shared: changes of one group's values
    /// do not need to wait for each other, only for links, unlinks and tenant associations).
    pub(crate) async fn change_refused(
        &self,
        tx: &Transaction<'_>,
        app: &str,
        user_id: &str,
        new: &[AccountInfo],
    ) -> SResult<Vec<AccountInfoKind>> {
        let sql = self.al_sql();
        let keys = self.info_keys(app, new);
        tx_query(tx, &sql.advisory_locks, &[&keys]).await?;
        tx_query(tx, &sql.share_group, &[&app, &user_id]).await?;
        let Some(group) = self.group_in(tx, app, user_id).await?.filter(|g| g.is_primary) else {
            return Ok(Vec::new());
        };
        let others = self.holders_in(tx, app, new, &[group.id.as_str()]).await?;
        Ok(change_conflicts(&group, new, &others))
    }

    /// In `tx`, before a login method of a primary user joins a tenant (the tenant
    /// association, which then locks the user's and its primary's rows): the advisory locks of
    /// the account infos of `user_id`'s group, as the linking intents take them before rows.
    /// Returns the keys locked (none for a user that is not a primary user's).
    pub(crate) async fn lock_group_infos(&self, tx: &Transaction<'_>, app: &str, user_id: &str) -> SResult<Vec<i64>> {
        let Some(group) = self.group_in(tx, app, user_id).await?.filter(|g| g.is_primary) else {
            return Ok(Vec::new());
        };
        let keys = self.info_keys(app, &AccountInfo::of_users([&group]));
        tx_query(tx, &self.al_sql().advisory_locks, &[&keys]).await?;
        Ok(keys)
    }

    /// After the rows are locked: the advisory locks of the group's account infos that
    /// [`PgStorage::lock_group_infos`] did not take (an info changed in between; rare).
    pub(crate) async fn cover_group_infos(
        &self,
        tx: &Transaction<'_>,
        app: &str,
        user_id: &str,
        locked: &[i64],
    ) -> SResult<()> {
        let Some(group) = self.group_in(tx, app, user_id).await? else { return Ok(()) };
        let missing: Vec<i64> = self
            .info_keys(app, &AccountInfo::of_users([&group]))
            .into_iter()
            .filter(|k| locked.binary_search(k).is_err())
            .collect();
        if !missing.is_empty() {
            tx_query(tx, &self.al_sql().advisory_locks, &[&missing]).await?;
        }
        Ok(())
    }

    /// The advisory-lock keys of these account infos, sorted.
    fn info_keys(&self, app: &str, infos: &[AccountInfo]) -> Vec<i64> {
        let mut keys: Vec<i64> =
            infos.iter().map(|i| self.lock_key("st-account-info", &format!("{app}\u{1}{}", i.key_text()))).collect();
        keys.sort_unstable();
        keys.dedup();
        keys
    }

    /// Steps 1 to 4 of the module's protocol in `tx`.
    async fn lock_and_read(
        &self,
        tx: &Transaction<'_>,
        app: &str,
        recipe_user_id: &str,
        primary_user_id: Option<&str>,
    ) -> SResult<Locked> {
        let sql = self.al_sql();
        let Some(before) = self.state_in(tx, app, recipe_user_id, primary_user_id).await? else {
            return Ok(Locked::Unknown);
        };
        let infos = AccountInfo::of_users(std::iter::once(&before.recipe).chain(before.primary.as_ref()));
        let keys = self.info_keys(app, &infos);
        tx_query(tx, &sql.advisory_locks, &[&keys]).await?;
        let ids: Vec<&str> = std::iter::once(recipe_user_id).chain(primary_user_id).collect();
        tx_query(tx, &sql.lock_groups, &[&app, &ids]).await?;
        let Some(state) = self.state_in(tx, app, recipe_user_id, primary_user_id).await? else {
            return Ok(Locked::Unknown);
        };
        let now = AccountInfo::of_users(std::iter::once(&state.recipe).chain(state.primary.as_ref()));
        if self.info_keys(app, &now).iter().any(|k| keys.binary_search(k).is_err()) {
            return Ok(Locked::Retry);
        }
        Ok(Locked::State(state))
    }

    /// Recompute the time joined of the group `primary` on its rows.
    pub(crate) async fn update_group_time(&self, tx: &Transaction<'_>, app: &str, primary: &str) -> SResult<()> {
        for update in &self.al_sql().group_time_joined {
            tx_exec(tx, update, &[&app, &primary]).await?;
        }
        Ok(())
    }

    /// Run `apply` on the state read under the locks, in one transaction that it commits:
    /// `None` when an id names no user.
    async fn decide_locked<D, F>(
        &self,
        app: &AppId,
        recipe_user_id: &str,
        primary_user_id: Option<&str>,
        decide: F,
    ) -> SResult<Option<D>>
    where
        F: for<'t> Fn(&'t LinkingState) -> D,
        D: Applied,
    {
        let a = app.as_str();
        for _ in 0..ATTEMPTS {
            // A deadlock or serialisation failure runs the round again (see `retry`).
            let decided = self
                .retrying(|| async {
                    let mut conn = self.conn().await?;
                    let tx = conn.transaction().await.map_err(error::pg)?;
                    let state = match self.lock_and_read(&tx, a, recipe_user_id, primary_user_id).await? {
                        Locked::Unknown => return Ok(Some(None)),
                        Locked::Retry => return Ok(None),
                        Locked::State(state) => state,
                    };
                    let decision = decide(&state);
                    decision.apply(self, &tx, a, recipe_user_id, &state).await?;
                    tx.commit().await.map_err(error::pg)?;
                    Ok(Some(Some(decision)))
                })
                .await?;
            // `None`: the account infos moved between the read and the locks.
            if let Some(outcome) = decided {
                return Ok(outcome);
            }
        }
        Err(traced_error(StorageError::Query("the users' account infos kept changing while being locked".into())))
    }
}

/// A decision the transaction applies.
#[async_trait]
trait Applied: Send + Sync {
    async fn apply(
        &self,
        st: &PgStorage,
        tx: &Transaction<'_>,
        app: &str,
        recipe_user_id: &str,
        state: &LinkingState,
    ) -> SResult<()>;
}

#[async_trait]
impl Applied for PrimaryDecision {
    async fn apply(
        &self,
        st: &PgStorage,
        tx: &Transaction<'_>,
        app: &str,
        recipe_user_id: &str,
        _state: &LinkingState,
    ) -> SResult<()> {
        if *self == PrimaryDecision::Make {
            for update in &st.al_sql().make_primary {
                tx_exec(tx, update, &[&app, &recipe_user_id]).await?;
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Applied for LinkDecision {
    async fn apply(
        &self,
        st: &PgStorage,
        tx: &Transaction<'_>,
        app: &str,
        recipe_user_id: &str,
        _state: &LinkingState,
    ) -> SResult<()> {
        if let LinkDecision::Link { primary_user_id } = self {
            let sql = st.al_sql();
            for update in &sql.link {
                tx_exec(tx, update, &[&app, &recipe_user_id, primary_user_id]).await?;
            }
            st.update_group_time(tx, app, primary_user_id).await?;
            tx_exec(tx, &sql.forget_activity, &[&app, &recipe_user_id]).await?;
        }
        Ok(())
    }
}

/// An unlink decision with the group it was made on.
struct Unlinking(UnlinkDecision);

#[async_trait]
impl Applied for Unlinking {
    async fn apply(
        &self,
        st: &PgStorage,
        tx: &Transaction<'_>,
        app: &str,
        recipe_user_id: &str,
        state: &LinkingState,
    ) -> SResult<()> {
        let group = state.recipe.id.as_str();
        match self.0 {
            UnlinkDecision::NotLinked => return Ok(()),
            UnlinkDecision::Unlink => {
                for update in &st.al_sql().unlink {
                    tx_exec(tx, update, &[&app, &recipe_user_id]).await?;
                }
            }
            UnlinkDecision::RemoveMethod => {
                crate::passwordless::forget_devices_of_user(st, tx, app, recipe_user_id).await?;
                for statement in &st.sql().users.del_method_only {
                    tx_exec(tx, statement, &[&app, &recipe_user_id]).await?;
                }
            }
        }
        if group != recipe_user_id || self.0 == UnlinkDecision::RemoveMethod {
            st.update_group_time(tx, app, group).await?;
        }
        Ok(())
    }
}

#[async_trait]
impl AccountLinkingStorage for PgStorage {
    #[instrument(
        level = "debug", target = "st_storage", name = "storage.linking_state", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn linking_state(
        &self,
        app: &AppId,
        recipe_user_id: &str,
        primary_user_id: Option<&str>,
    ) -> SResult<Option<LinkingState>> {
        let mut conn = self.conn().await?;
        let tx = conn.build_transaction().read_only(true).start().await.map_err(error::pg)?;
        let state = self.state_in(&tx, app.as_str(), recipe_user_id, primary_user_id).await?;
        tx.commit().await.map_err(error::pg)?;
        Ok(state)
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.primary_users_holding", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn primary_users_holding(&self, app: &AppId, infos: &[AccountInfo], own: &[&str]) -> SResult<Vec<AuthUser>> {
        let mut conn = self.conn().await?;
        let tx = conn.build_transaction().read_only(true).start().await.map_err(error::pg)?;
        let users = self.holders_in(&tx, app.as_str(), infos, own).await?;
        tx.commit().await.map_err(error::pg)?;
        Ok(users)
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.create_primary_user", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn create_primary_user(
        &self,
        app: &AppId,
        recipe_user_id: &str,
        decide: PrimaryDecider<'_>,
    ) -> SResult<Option<PrimaryDecision>> {
        self.decide_locked(app, recipe_user_id, None, |state: &LinkingState| decide(state)).await
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.link_accounts", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn link_accounts(
        &self,
        app: &AppId,
        recipe_user_id: &str,
        primary_user_id: &str,
        decide: LinkDecider<'_>,
    ) -> SResult<Option<LinkDecision>> {
        self.decide_locked(app, recipe_user_id, Some(primary_user_id), |state: &LinkingState| decide(state)).await
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.unlink_account", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn unlink_account(
        &self,
        app: &AppId,
        recipe_user_id: &str,
        decide: UnlinkDecider<'_>,
    ) -> SResult<Option<UnlinkDecision>> {
        let decision = self
            .decide_locked(app, recipe_user_id, None, |state: &LinkingState| Unlinking(decide(&state.recipe)))
            .await?;
        Ok(decision.map(|d| d.0))
    }
}
