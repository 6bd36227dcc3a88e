//! The users recipe: the user object (every login method of a user's group), look-ups by id
//! and by account info, `GET /users` listing and search, counts, active users and deletion.
//!
//! Ids: auth tables hold supertokens ids; wherever a user id comes in, an external id (user-id
//! mapping) is accepted and translated; wherever one goes out, the external id is returned.
//! Non-auth data (metadata, roles, verification, sessions) is keyed by the id the caller passed.

use crate::core::Core;
use crate::error::{CoreError, CoreResult};
use crate::ids::{AppId, Email, TenantIdentifier};
use crate::storage::{
    AuthUser, LoginMethod, UserDecorations, UserListQuery,
};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Map, Value};

/// A random URL-safe token (48 bytes of entropy).
/// How many matching login methods of each recipe a `GET /users` search reads at most (the
/// reference's fixed `LIMIT 1000` per recipe table; see [`UserListQuery::limit`]).
pub const SEARCH_LIMIT: usize = 1000;

/// The CDI ≥4.0 user object of `user` (§a.2): external ids where mapped, login methods by
/// time joined, de-duplicated unions of emails, phone numbers, third parties and tenants.
pub fn user_object(user: &AuthUser, decorations: &UserDecorations) -> Value {
    let shown = |id: &String| decorations.external_ids.get(id).unwrap_or(id).clone();
    let mut methods: Vec<&LoginMethod> = user.login_methods.iter().collect();
    methods.sort_by_key(|m| m.time_joined);
    let mut tenant_ids: Vec<String> = Vec::new();
    let (mut emails, mut phones, mut third_party): (Vec<String>, Vec<String>, Vec<Value>) = Default::default();
    let mut lm_json = Vec::with_capacity(methods.len());
    for m in &methods {
        let rid = shown(&m.recipe_user_id);
        let verified = match (&m.email, &m.phone_number) {
            (Some(e), _) => decorations.verified.contains(&(rid.clone(), e.clone())),
            (None, Some(_)) => true,
            (None, None) => false,
        };
        let mut o = Map::new();
        o.insert("tenantIds".into(), json!(m.tenant_ids));
        o.insert("recipeUserId".into(), json!(rid));
        o.insert("verified".into(), json!(verified));
        o.insert("timeJoined".into(), json!(m.time_joined));
        o.insert("recipeId".into(), json!(m.recipe_id));
        if let Some(e) = &m.email {
            o.insert("email".into(), json!(e));
            if !emails.contains(e) {
                emails.push(e.clone());
            }
        }
        if let Some(p) = &m.phone_number {
            o.insert("phoneNumber".into(), json!(p));
            if !phones.contains(p) {
                phones.push(p.clone());
            }
        }
        if let Some((id, uid)) = &m.third_party {
            let tp = json!({"id": id, "userId": uid});
            o.insert("thirdParty".into(), tp.clone());
            if !third_party.contains(&tp) {
                third_party.push(tp);
            }
        }
        for t in &m.tenant_ids {
            if !tenant_ids.contains(t) {
                tenant_ids.push(t.clone());
            }
        }
        lm_json.push(Value::Object(o));
    }
    json!({
        "id": shown(&user.id),
        "isPrimaryUser": user.is_primary,
        "tenantIds": tenant_ids,
        "timeJoined": methods.iter().map(|m| m.time_joined).min().unwrap_or(0),
        "emails": emails,
        "phoneNumbers": phones,
        "thirdParty": third_party,
        "webauthn": {"credentialIds": []},
        "loginMethods": lm_json,
    })
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
    /// The supertokens id for an id that may be external.
    pub async fn internal_user_id(&self, app: &AppId, id: &str) -> CoreResult<String> {
        Ok(match self.storage.get_user_id_mapping(app, id, Some(false)).await? {
            Some(m) => m.supertokens_user_id,
            None => id.to_string(),
        })
    }

    /// The id to show for a supertokens id (external when mapped).
    pub async fn external_user_id(&self, app: &AppId, st_id: &str) -> CoreResult<String> {
        Ok(match self.storage.get_user_id_mapping(app, st_id, Some(true)).await? {
            Some(m) => m.external_user_id,
            None => st_id.to_string(),
        })
    }

    /// The CDI ≥4.0 user object.
    pub async fn user_json(&self, app: &AppId, user: &AuthUser) -> CoreResult<Value> {
        let decorations = self.storage.user_decorations(app, std::slice::from_ref(user)).await?;
        Ok(user_object(user, &decorations))
    }

    /// `GET /user/id`: the user (any id of its group, external ids accepted).
    pub async fn get_user(&self, app: &AppId, user_id: &str) -> CoreResult<Option<Value>> {
        let id = self.internal_user_id(app, user_id).await?;
        match self.storage.get_auth_user(app, &id).await? {
            Some(u) => Ok(Some(self.user_json(app, &u).await?)),
            None => Ok(None),
        }
    }

    pub(crate) async fn user_for_response(&self, app: &AppId, st_id: &str) -> CoreResult<(Value, String)> {
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
    pub(crate) async fn response_of(&self, app: &AppId, user: &AuthUser, st_id: &str) -> CoreResult<(Value, String)> {
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
    ) -> CoreResult<Vec<Value>> {
        self.tenant(tenant).await?;
        let mut sets: Vec<Vec<String>> = Vec::new();
        if let Some(e) = email {
            sets.push(self.storage.users_by_email(tenant, Email::normalise(e).as_str()).await?);
        }
        // No passwordless / third-party users can exist yet: their lookups match nobody.
        if phone.is_some() {
            sets.push(Vec::new());
        }
        if third_party.is_some() {
            sets.push(Vec::new());
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
        let decorations = self.storage.user_decorations(&tenant.app, &users).await?;
        Ok(users.iter().map(|u| user_object(u, &decorations)).collect())
    }

    // ---- listing ----

    /// `GET /users`: (users, next pagination token).
    pub async fn list_users(
        &self,
        tenant: &TenantIdentifier,
        mut query: UserListQuery,
        pagination_token: Option<&str>,
    ) -> CoreResult<(Vec<Value>, Option<String>)> {
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
    pub(crate) async fn user_objects(&self, app: &AppId, rows: Vec<(String, i64)>) -> CoreResult<Vec<Value>> {
        let ids: Vec<String> = rows.into_iter().map(|(id, _)| id).collect();
        let users = self.storage.get_auth_users(app, &ids).await?;
        let decorations = self.storage.user_decorations(app, &users).await?;
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
            if let Some(m) = self.storage.get_user_id_mapping(app, &st_id, Some(true)).await? {
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

// Backends merge metadata with it under their lock; re-exported while they move to the new path.
pub use crate::usermetadata::merge_metadata;
