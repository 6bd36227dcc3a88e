//! The users recipe: the user object (every login method of a user's group), look-ups by id
//! and by account info, `GET /users` listing and search, counts, active users and deletion.
//!
//! Ids: auth tables hold supertokens ids; wherever a user id comes in, an external id (user-id
//! mapping) is accepted and translated; wherever one goes out, the external id is returned.
//! Non-auth data (metadata, roles, verification, sessions) is keyed by the id the caller passed.

use crate::cdi::CdiVersion;
use crate::core::Core;
use crate::error::{CoreError, CoreResult};
use crate::ids::{AppId, Email, TenantIdentifier};
use crate::storage::{AuthUser, LoginMethod, UserDecorations, UserIdType, UserListQuery};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::Serialize;

/// How many matching login methods of each recipe a `GET /users` search reads at most (the
/// reference's fixed `LIMIT 1000` per recipe table; see [`UserListQuery::limit`]).
/// How old an approximate user count (CDI 5.6 `allowApproximate`) may be: the reference's
/// approximation also lags sign-ups by up to a minute.
pub const APPROXIMATE_COUNT_MAX_AGE_MS: i64 = 60_000;

pub const SEARCH_LIMIT: usize = 1000;

/// A user as the CDI (≥ 4.0) shows it: its id (external when mapped), every login method of its
/// group, and what they have in common. Serialised field by field in the reference's order.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: String,
    pub is_primary_user: bool,
    pub tenant_ids: Vec<String>,
    pub time_joined: i64,
    pub emails: Vec<String>,
    pub phone_numbers: Vec<String>,
    pub third_party: Vec<ThirdPartyInfo>,
    /// Shown from CDI 5.3 on (see [`User::at`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webauthn: Option<WebauthnInfo>,
    pub login_methods: Vec<UserLoginMethod>,
}

impl User {
    /// The account-linking (4.0+) object as CDI `version` shows it: the `webauthn` field exists
    /// from 5.3 on (the reference's `toJson(includeWebauthn = version >= 5.3)`). `GET /user/id`
    /// and `GET /users/by-accountinfo` answer with it at every version.
    ///
    /// Before 5.3 the WebAuthn login methods are listed (without their `webauthn`) but left out
    /// of the unions (`emails`, `phoneNumbers`, `thirdParty`), as the reference's
    /// `toJson(includeWebauthn = false)`.
    pub fn linked_at(mut self, version: CdiVersion) -> User {
        if version < CdiVersion::V5_3 {
            self.webauthn = None;
            if self.login_methods.iter().any(|m| m.webauthn.is_some() || m.recipe_id == "webauthn") {
                let (mut emails, mut phones, mut third_party) = (Vec::new(), Vec::new(), Vec::new());
                for m in self.login_methods.iter_mut() {
                    m.webauthn = None;
                    if m.recipe_id == "webauthn" {
                        continue;
                    }
                    push_new(&mut emails, m.email.as_ref());
                    push_new(&mut phones, m.phone_number.as_ref());
                    push_new(&mut third_party, m.third_party.as_ref());
                }
                (self.emails, self.phone_numbers, self.third_party) = (emails, phones, third_party);
            }
        }
        self
    }

    /// The user as the sign-up, sign-in, import and `GET /recipe/user` responses of CDI
    /// `version` show it: from 4.0 the account-linking object ([`User::linked_at`]); before, the
    /// reference's `toJsonWithoutAccountLinking` ([`User::without_account_linking`]), without
    /// `tenantIds` before 3.0.
    pub fn at(self, version: CdiVersion) -> CoreResult<UserJson> {
        if version >= CdiVersion::V4_0 {
            return Ok(UserJson::Linked(self.linked_at(version)));
        }
        Ok(UserJson::WithoutAccountLinking(self.without_account_linking(version)?))
    }

    /// An element of `GET /users` at CDI `version`: before 4.0 the user of
    /// [`User::at`] wrapped with the recipe of its first login method
    /// (`{"recipeId", "user"}`), from 4.0 the account-linking object itself.
    pub fn listed_at(self, version: CdiVersion) -> CoreResult<ListedUser> {
        if version >= CdiVersion::V4_0 {
            return Ok(ListedUser::Linked(self.linked_at(version)));
        }
        let recipe_id = self.login_methods.first().map(|m| m.recipe_id.clone()).unwrap_or_default();
        Ok(ListedUser::Wrapped { recipe_id, user: self.without_account_linking(version)? })
    }

    /// The reference's `toJsonWithoutAccountLinking` (CDI < 4.0): the user as its first
    /// login method (the oldest; a linked group is not refused, as in the reference), with that
    /// method's id (external when mapped), time joined and tenants, and its e-mail, provider or
    /// phone number by recipe. A user whose first method is of another recipe (WebAuthn) has
    /// no such shape: the reference's `UnsupportedOperationException`, a 500.
    pub fn without_account_linking(&self, version: CdiVersion) -> CoreResult<UserWithoutAccountLinking> {
        let Some(m) = self.login_methods.first() else {
            return Err(CoreError::Internal("a user without login methods".into()));
        };
        let (email, third_party, phone_number) = match m.recipe_id.as_str() {
            "emailpassword" => (m.email.clone(), None, None),
            "thirdparty" => (m.email.clone(), m.third_party.clone(), None),
            "passwordless" => (m.email.clone(), None, m.phone_number.clone()),
            _ => return Err(CoreError::Internal("Please search for bugs".into())),
        };
        Ok(UserWithoutAccountLinking {
            id: m.recipe_user_id.clone(),
            time_joined: m.time_joined,
            tenant_ids: (version >= CdiVersion::V3_0).then(|| m.tenant_ids.clone()),
            email,
            third_party,
            phone_number,
        })
    }
}

/// A user object as one CDI version shows it (see [`User::at`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum UserJson {
    /// CDI 4.0 and later.
    Linked(User),
    /// Before CDI 4.0.
    WithoutAccountLinking(UserWithoutAccountLinking),
}

/// The pre-4.0 user object (the reference's `toJsonWithoutAccountLinking`), fields in its order:
/// `{"id","timeJoined","tenantIds","email"}` for email-password, then `"thirdParty":{"id","userId"}`
/// for third party, `"email"?`/`"phoneNumber"?` for passwordless.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserWithoutAccountLinking {
    pub id: String,
    pub time_joined: i64,
    /// From CDI 3.0 on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant_ids: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub third_party: Option<ThirdPartyInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
}

/// An element of `GET /users` (see [`User::listed_at`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ListedUser {
    /// CDI 4.0 and later.
    Linked(User),
    /// Before CDI 4.0.
    Wrapped {
        #[serde(rename = "recipeId")]
        recipe_id: String,
        user: UserWithoutAccountLinking,
    },
}

/// One login method of a [`User`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserLoginMethod {
    pub tenant_ids: Vec<String>,
    pub recipe_user_id: String,
    pub verified: bool,
    pub time_joined: i64,
    pub recipe_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub third_party: Option<ThirdPartyInfo>,
    /// WebAuthn login methods only, from CDI 5.3 (see [`User::linked_at`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webauthn: Option<WebauthnInfo>,
}

/// Append `value` unless it is there already.
fn push_new<T: Clone + PartialEq>(list: &mut Vec<T>, value: Option<&T>) {
    if let Some(v) = value {
        if !list.contains(v) {
            list.push(v.clone());
        }
    }
}

/// A third-party login: the provider's id and the user's id there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ThirdPartyInfo {
    pub id: String,
    pub user_id: String,
}

/// WebAuthn credential ids: a WebAuthn login method's, or all of a user's.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WebauthnInfo {
    pub credential_ids: Vec<String>,
}

/// The CDI ≥4.0 user object of `user` (§a.2): external ids where mapped, login methods by
/// time joined, de-duplicated unions of emails, phone numbers, third parties and tenants.
pub fn user_object(user: &AuthUser, decorations: &UserDecorations) -> User {
    let shown = |id: &String| decorations.external_ids.get(id).unwrap_or(id).clone();
    let mut methods: Vec<&LoginMethod> = user.login_methods.iter().collect();
    methods.sort_by_key(|m| m.time_joined);
    let mut tenant_ids: Vec<String> = Vec::new();
    let (mut emails, mut phones, mut third_party): (Vec<String>, Vec<String>, Vec<ThirdPartyInfo>) = Default::default();
    let mut login_methods = Vec::with_capacity(methods.len());
    let mut credential_ids: Vec<String> = Vec::new();
    for m in &methods {
        let rid = shown(&m.recipe_user_id);
        let verified = match (&m.email, &m.phone_number) {
            (Some(e), _) => decorations.verified.contains(&(rid.clone(), e.clone())),
            (None, Some(_)) => true,
            (None, None) => false,
        };
        if let Some(e) = &m.email {
            if !emails.contains(e) {
                emails.push(e.clone());
            }
        }
        if let Some(p) = &m.phone_number {
            if !phones.contains(p) {
                phones.push(p.clone());
            }
        }
        let tp = m.third_party.as_ref().map(|(id, uid)| ThirdPartyInfo { id: id.clone(), user_id: uid.clone() });
        if let Some(tp) = &tp {
            if !third_party.contains(tp) {
                third_party.push(tp.clone());
            }
        }
        for t in &m.tenant_ids {
            if !tenant_ids.contains(t) {
                tenant_ids.push(t.clone());
            }
        }
        let webauthn = (m.recipe_id == crate::webauthn::RECIPE_ID).then(|| WebauthnInfo {
            credential_ids: decorations.webauthn_credentials.get(&m.recipe_user_id).cloned().unwrap_or_default(),
        });
        for id in webauthn.iter().flat_map(|w| w.credential_ids.iter()) {
            push_new(&mut credential_ids, Some(id));
        }
        login_methods.push(UserLoginMethod {
            tenant_ids: m.tenant_ids.clone(),
            recipe_user_id: rid,
            verified,
            time_joined: m.time_joined,
            recipe_id: m.recipe_id.clone(),
            email: m.email.clone(),
            phone_number: m.phone_number.clone(),
            third_party: tp,
            webauthn,
        });
    }
    User {
        id: shown(&user.id),
        is_primary_user: user.is_primary,
        tenant_ids,
        time_joined: methods.iter().map(|m| m.time_joined).min().unwrap_or(0),
        emails,
        phone_numbers: phones,
        third_party,
        webauthn: Some(WebauthnInfo { credential_ids }),
        login_methods,
    }
}

/// (primary user id, recipe user id) for a session of `user_id`, external ids when mapped.
/// A user id that names no user (sessions may be created for any id) is used as given.
pub async fn session_user_ids(core: &Core, app: &AppId, user_id: &str) -> CoreResult<(String, String)> {
    let identity = core.storage.session_identity(app, user_id).await?;
    Ok(crate::storage::SessionIdentity::reported(identity, user_id))
}

/// Every user id whose sessions belong to `user_id`: itself (both id forms) plus, when asked,
/// every recipe user of its group.
pub async fn session_lookup_ids(
    core: &Core,
    app: &AppId,
    user_id: &str,
    include_linked: bool,
) -> CoreResult<Vec<String>> {
    let mut ids = vec![user_id.to_string()];
    let internal = core.internal_user_id(app, user_id).await?;
    let mut st_ids = vec![internal.clone()];
    if include_linked {
        if let Some(user) = core.storage.get_auth_user(app, &internal).await? {
            st_ids.extend(user.login_methods.iter().map(|m| m.recipe_user_id.clone()));
        }
    }
    for st in st_ids {
        let ext = core.external_user_id(app, &st).await?;
        for id in [st, ext] {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    Ok(ids)
}

/// The placeholder addresses the SDKs give users who have none (the reference's `isFakeEmail`).
pub(crate) fn is_fake_email(email: &str) -> bool {
    email.ends_with("@stfakeemail.supertokens.com") || email.ends_with(".fakeemail.com")
}

impl Core {
    /// Users (primary or standalone) in one tenant or (`None`) the whole app, optionally only
    /// those with a login method of one of `recipe_ids`.
    pub async fn count_users(
        &self,
        app: &AppId,
        tenant: Option<&TenantIdentifier>,
        recipe_ids: &[String],
    ) -> CoreResult<u64> {
        Ok(self.storage.count_users(app, tenant, recipe_ids).await?)
    }

    /// `GET /users/count` with CDI 5.6's `allowApproximate`: a tenant's count without a recipe
    /// filter may be served from this instance's count of at most
    /// [`APPROXIMATE_COUNT_MAX_AGE_MS`] ago (exact as of `as_of`), so that dashboards polling a
    /// large user table do not count it each time; anything else is counted now. Returns the
    /// count, whether it is approximate, and the time it is exact as of.
    pub async fn count_users_approximately(
        &self,
        app: &AppId,
        tenant: Option<&TenantIdentifier>,
        recipe_ids: &[String],
    ) -> CoreResult<(u64, bool, i64)> {
        let now = self.now();
        let Some(tenant) = tenant.filter(|_| recipe_ids.is_empty()) else {
            return Ok((self.count_users(app, tenant, recipe_ids).await?, false, now));
        };
        let state = self.app_state(app);
        let cached = state.user_counts.lock().unwrap_or_else(|p| p.into_inner()).get(&tenant.tenant).copied();
        if let Some((count, as_of)) = cached {
            if now - as_of <= APPROXIMATE_COUNT_MAX_AGE_MS {
                return Ok((count, true, as_of));
            }
        }
        let count = self.count_users(app, Some(tenant), &[]).await?;
        state.user_counts.lock().unwrap_or_else(|p| p.into_inner()).insert(tenant.tenant.clone(), (count, now));
        Ok((count, true, now))
    }

    /// Users of the app active at or after `since_ms`.
    pub async fn count_active_users(&self, app: &AppId, since_ms: i64) -> CoreResult<u64> {
        Ok(self.storage.count_active_users(app, since_ms).await?)
    }

    /// The supertokens id for an id that may be external.
    pub async fn internal_user_id(&self, app: &AppId, id: &str) -> CoreResult<String> {
        Ok(match self.storage.get_user_id_mapping(app, id, UserIdType::External).await? {
            Some(m) => m.supertokens_user_id,
            None => id.to_string(),
        })
    }

    /// The id to show for a supertokens id (external when mapped).
    pub async fn external_user_id(&self, app: &AppId, st_id: &str) -> CoreResult<String> {
        Ok(match self.storage.get_user_id_mapping(app, st_id, UserIdType::SuperTokens).await? {
            Some(m) => m.external_user_id,
            None => st_id.to_string(),
        })
    }

    /// What the user objects of `users` need besides their login methods: external ids,
    /// verified e-mails and WebAuthn credential ids.
    pub(crate) async fn decorations(&self, app: &AppId, users: &[AuthUser]) -> CoreResult<UserDecorations> {
        let mut decorations = self.storage.user_decorations(app, users).await?;
        decorations.webauthn_credentials = self.webauthn_credential_ids(app, users).await?;
        Ok(decorations)
    }

    /// The CDI ≥4.0 user object.
    pub async fn user_json(&self, app: &AppId, user: &AuthUser) -> CoreResult<User> {
        let decorations = self.decorations(app, std::slice::from_ref(user)).await?;
        Ok(user_object(user, &decorations))
    }

    /// `GET /user/id`: the user (any id of its group, external ids accepted).
    pub async fn get_user(&self, app: &AppId, user_id: &str) -> CoreResult<Option<User>> {
        let id = self.internal_user_id(app, user_id).await?;
        match self.storage.get_auth_user(app, &id).await? {
            Some(u) => Ok(Some(self.user_json(app, &u).await?)),
            None => Ok(None),
        }
    }

    pub(crate) async fn user_for_response(&self, app: &AppId, st_id: &str) -> CoreResult<(User, String)> {
        let user = self.existing_auth_user(app, st_id).await?;
        self.response_of(app, &user, st_id).await
    }

    /// A user this request has just written or found (its vanishing since is an internal error).
    pub(crate) async fn existing_auth_user(&self, app: &AppId, st_id: &str) -> CoreResult<AuthUser> {
        self.storage
            .get_auth_user(app, st_id)
            .await?
            .ok_or_else(|| CoreError::Internal("user vanished while being read".into()))
    }

    /// The user object and the (mapped) recipe user id of `user`'s login method `st_id`.
    pub(crate) async fn response_of(&self, app: &AppId, user: &AuthUser, st_id: &str) -> CoreResult<(User, String)> {
        Ok((self.user_json(app, user).await?, self.external_user_id(app, st_id).await?))
    }

    /// Users (JSON) in `tenant` matching account info, sorted by time joined.
    pub async fn users_by_account_info(
        &self,
        tenant: &TenantIdentifier,
        email: Option<&str>,
        phone: Option<&str>,
        third_party: Option<(&str, &str)>,
        union: bool,
    ) -> CoreResult<Vec<User>> {
        self.users_by_any_account_info(tenant, email, phone, third_party, None, union).await
    }

    /// [`Core::users_by_account_info`] with a WebAuthn credential id too (looked up in the
    /// whole app, as the reference).
    pub async fn users_by_any_account_info(
        &self,
        tenant: &TenantIdentifier,
        email: Option<&str>,
        phone: Option<&str>,
        third_party: Option<(&str, &str)>,
        webauthn_credential_id: Option<&str>,
        union: bool,
    ) -> CoreResult<Vec<User>> {
        self.tenant(tenant).await?;
        let mut sets: Vec<Vec<String>> = Vec::new();
        // A NUL is in no stored value and PostgreSQL cannot even compare it: nothing found, on
        // both backends alike (the route reads its query raw, without the edge's NUL check).
        if let Some(e) = email {
            if crate::thirdparty::stores_nothing_like(&[e]) {
                sets.push(Vec::new());
            } else {
                sets.push(self.storage.users_by_email(tenant, Email::normalise(e).as_str()).await?);
            }
        }
        if let Some(p) = phone {
            sets.push(self.users_by_phone_number(tenant, p).await?);
        }
        if let Some((id, user_id)) = third_party {
            let found = if crate::thirdparty::stores_nothing_like(&[id, user_id]) {
                None
            } else {
                self.storage.third_party_user(tenant, id, user_id).await?
            };
            sets.push(found.map(|f| f.primary_user_id).into_iter().collect());
        }
        if let Some(id) = webauthn_credential_id {
            let found = if crate::thirdparty::stores_nothing_like(&[id]) {
                None
            } else {
                self.user_of_webauthn_credential(&tenant.app, id).await?
            };
            sets.push(found.into_iter().collect());
        }
        let ids: Vec<String> = if union {
            let mut all: Vec<String> = sets.into_iter().flatten().collect();
            all.sort();
            all.dedup();
            all
        } else {
            let mut iter = sets.into_iter();
            let first = iter.next().unwrap_or_default();
            iter.fold(first, |acc, s| acc.into_iter().filter(|x| s.contains(x)).collect())
        };
        let mut users = self.storage.get_auth_users(&tenant.app, &ids).await?;
        users.sort_by_cached_key(|u| u.login_methods.iter().map(|m| m.time_joined).min().unwrap_or(0));
        let decorations = self.decorations(&tenant.app, &users).await?;
        Ok(users.iter().map(|u| user_object(u, &decorations)).collect())
    }

    // ---- listing ----

    /// `GET /users`: (users, next pagination token).
    pub async fn list_users(
        &self,
        tenant: &TenantIdentifier,
        mut query: UserListQuery,
        pagination_token: Option<&str>,
    ) -> CoreResult<(Vec<User>, Option<String>)> {
        self.tenant(tenant).await?;
        if let Some(t) = pagination_token {
            let decoded = STANDARD
                .decode(t.trim())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| CoreError::bad("invalid pagination token"))?;
            let (id, joined) = decoded.split_once(';').ok_or_else(|| CoreError::bad("invalid pagination token"))?;
            let joined = joined.parse::<i64>().map_err(|_| CoreError::bad("invalid pagination token"))?;
            query.from = Some((joined, id.to_string()));
        }
        if query.is_search() {
            // As the reference: a search takes up to SEARCH_LIMIT matches of each recipe and
            // returns all their users in order (ties on time joined by user id descending, in
            // both orders), whatever `limit` and the pagination token say (the token is still
            // validated), and no token. Nor does a search filter by `includeRecipeIds`.
            query.from = None;
            query.limit = SEARCH_LIMIT;
            query.recipe_ids.clear();
            let rows = self.storage.list_users(tenant, &query).await?;
            return Ok((self.user_objects(&tenant.app, rows).await?, None));
        }
        let limit = query.limit;
        query.limit = limit + 1;
        let mut rows = self.storage.list_users(tenant, &query).await?;
        // As the reference, the token names the next page's first user (`<id>;<time joined>`),
        // so tokens from a Java core and from this server continue the same way.
        let next = rows.get(limit).map(|(id, joined)| STANDARD.encode(format!("{id};{joined}")));
        rows.truncate(limit);
        Ok((self.user_objects(&tenant.app, rows).await?, next))
    }

    /// The user objects of listed (id, time joined) rows, in order. Three statements for the
    /// whole list: the users, then their external ids and verified emails.
    pub(crate) async fn user_objects(&self, app: &AppId, rows: Vec<(String, i64)>) -> CoreResult<Vec<User>> {
        let ids: Vec<String> = rows.into_iter().map(|(id, _)| id).collect();
        let users = self.storage.get_auth_users(app, &ids).await?;
        let decorations = self.decorations(app, &users).await?;
        Ok(users.iter().map(|u| user_object(u, &decorations)).collect())
    }

    /// `POST /user/remove`
    pub async fn delete_user(&self, app: &AppId, user_id: &str, remove_all_linked: bool) -> CoreResult<()> {
        let id = self.internal_user_id(app, user_id).await?;
        let Some(user) = self.storage.get_auth_user(app, &id).await? else { return Ok(()) };
        let targets: Vec<String> = if remove_all_linked {
            user.login_methods.iter().map(|m| m.recipe_user_id.clone()).collect()
        } else {
            vec![id.clone()]
        };
        for st_id in targets {
            let mut ids = vec![st_id.clone()];
            if let Some(m) = self.storage.get_user_id_mapping(app, &st_id, UserIdType::SuperTokens).await? {
                // A forced mapping may name another real user as the external id; that user's
                // metadata, roles and sessions are its own and stay.
                if self.storage.get_auth_user(app, &m.external_user_id).await?.is_none() {
                    ids.push(m.external_user_id);
                }
            }
            self.storage.delete_user(app, &st_id, &ids).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn method(recipe: &str, id: &str, joined: i64) -> UserLoginMethod {
        UserLoginMethod {
            tenant_ids: vec!["public".into(), "t1".into()],
            recipe_user_id: id.into(),
            verified: false,
            time_joined: joined,
            recipe_id: recipe.into(),
            email: Some(format!("{id}@example.com")),
            phone_number: None,
            third_party: None,
            webauthn: None,
        }
    }

    fn user(methods: Vec<UserLoginMethod>) -> User {
        User {
            id: "primary".into(),
            is_primary_user: true,
            tenant_ids: vec!["public".into()],
            time_joined: 1,
            emails: vec![],
            phone_numbers: vec![],
            third_party: vec![],
            webauthn: Some(WebauthnInfo::default()),
            login_methods: methods,
        }
    }

    fn json_of(u: &impl Serialize) -> String {
        serde_json::to_string(u).unwrap_or_default()
    }

    #[test]
    fn before_4_0_the_first_login_method_in_the_reference_order() {
        let linked = user(vec![method("emailpassword", "a", 5), method("emailpassword", "b", 9)]);
        let v3 = linked.clone().at(CdiVersion::V3_0).map(|u| json_of(&u)).unwrap_or_default();
        assert_eq!(v3, r#"{"id":"a","timeJoined":5,"tenantIds":["public","t1"],"email":"a@example.com"}"#);
        let v2 = linked.clone().at(CdiVersion::V2_21).map(|u| json_of(&u)).unwrap_or_default();
        assert_eq!(v2, r#"{"id":"a","timeJoined":5,"email":"a@example.com"}"#);
        let listed = linked.clone().listed_at(CdiVersion::V3_0).map(|u| json_of(&u)).unwrap_or_default();
        assert_eq!(listed, format!(r#"{{"recipeId":"emailpassword","user":{v3}}}"#));
        let v4 = linked.at(CdiVersion::V4_0).map(|u| json_of(&u)).unwrap_or_default();
        assert!(v4.starts_with(r#"{"id":"primary","isPrimaryUser":true"#) && !v4.contains("webauthn"), "{v4}");
    }

    #[test]
    fn third_party_passwordless_and_webauthn_shapes() {
        let mut tp = method("thirdparty", "t", 1);
        tp.third_party = Some(ThirdPartyInfo { id: "google".into(), user_id: "g1".into() });
        let json = user(vec![tp]).at(CdiVersion::V3_0).map(|u| json_of(&u)).unwrap_or_default();
        assert_eq!(
            json,
            r#"{"id":"t","timeJoined":1,"tenantIds":["public","t1"],"email":"t@example.com","thirdParty":{"id":"google","userId":"g1"}}"#
        );
        let mut pl = method("passwordless", "p", 1);
        pl.email = None;
        pl.phone_number = Some("+15550000".into());
        let json = user(vec![pl]).at(CdiVersion::new(2, 9)).map(|u| json_of(&u)).unwrap_or_default();
        assert_eq!(json, r#"{"id":"p","timeJoined":1,"phoneNumber":"+15550000"}"#);
        let webauthn_first = user(vec![method("webauthn", "w", 1), method("emailpassword", "e", 2)]);
        assert!(matches!(webauthn_first.clone().at(CdiVersion::V3_0), Err(CoreError::Internal(_))));
        assert!(matches!(webauthn_first.clone().listed_at(CdiVersion::V3_0), Err(CoreError::Internal(_))));
        assert!(webauthn_first.at(CdiVersion::V4_0).is_ok());
    }
}
