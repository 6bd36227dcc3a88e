//! User recipes: the user object, email-password (sign-up, sign-in, reset, import, update),
//! email verification, user metadata, roles, user-id mapping, listing and deletion.
//!
//! Ids: auth tables hold supertokens ids; wherever a user id comes in, an external id (user-id
//! mapping) is accepted and translated; wherever one goes out, the external id is returned.
//! Non-auth data (metadata, roles, verification, sessions) is keyed by the id the caller passed.

use crate::core::Core;
use crate::error::{CoreError, CoreResult};
use crate::ids::{AppId, Email, TenantIdentifier};
use crate::random::{bytes, sha256_hex, uuid_v4};
use crate::storage::{
    AuthUser, LoginMethod, MappingCreate, RoleResult, SignUpResult, UpdateResult, UserDecorations, UserIdMapping,
    UserIdUse, UserListQuery,
};
use async_trait::async_trait;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde_json::{json, Map, Value};
use std::sync::Arc;
use std::time::Duration;

/// Shallow merge: each top-level key of `update` replaces the stored one; `null` deletes it.
pub fn merge_metadata(mut current: Map<String, Value>, update: &Map<String, Value>) -> Map<String, Value> {
    for (k, v) in update {
        // As the reference: the key is removed (the others keep their order), and a non-null
        // value is added back at the end.
        current.shift_remove(k);
        if !v.is_null() {
            current.insert(k.clone(), v.clone());
        }
    }
    current
}

#[derive(Debug)]
pub enum SignUpOutcome {
    Ok(Value, String),
    EmailAlreadyExists,
}

#[derive(Debug)]
pub enum SignInOutcome {
    Ok(Value, String),
    WrongCredentials,
}

/// A random URL-safe token (48 bytes of entropy).
/// How many matching login methods of each recipe a `GET /users` search reads at most (the
/// reference's fixed `LIMIT 1000` per recipe table; see [`UserListQuery::limit`]).
pub const SEARCH_LIMIT: usize = 1000;

/// Rounds of look-up-then-write a password-hash import tries while the e-mail changes hands.
const IMPORT_ATTEMPTS: usize = 8;

/// The reference's 400 for a mapping blocked by data of a non-auth recipe.
fn in_use(kind: UserIdUse) -> CoreError {
    CoreError::bad(format!("UserId is already in use in {} recipe", kind.recipe_name()))
}

fn new_token(core: &Core) -> String {
    URL_SAFE_NO_PAD.encode(bytes::<48>(core.rng.as_ref()))
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

    /// Deprecated `GET /recipe/user?userId=`: as the reference, only the e-mail-password login
    /// method of that very id, as a user of its own (id = that recipe user, the group's primary
    /// flag); an id without such a method is unknown.
    pub async fn ep_user_by_recipe_id(&self, app: &AppId, user_id: &str) -> CoreResult<Option<Value>> {
        let Some((group, method)) = self.ep_group(app, user_id).await? else { return Ok(None) };
        let own =
            AuthUser { id: method.recipe_user_id.clone(), is_primary: group.is_primary, login_methods: vec![method] };
        Ok(Some(self.user_json(app, &own).await?))
    }

    async fn user_for_response(&self, app: &AppId, st_id: &str) -> CoreResult<(Value, String)> {
        let user = self.existing_auth_user(app, st_id).await?;
        self.response_of(app, &user, st_id).await
    }

    /// A user this request has just written or found (its vanishing since is an internal error).
    async fn existing_auth_user(&self, app: &AppId, st_id: &str) -> CoreResult<AuthUser> {
        self.storage
            .get_auth_user(app, st_id)
            .await?
            .ok_or_else(|| CoreError::Internal("user vanished while being read".into()))
    }

    /// The user object and the (mapped) recipe user id of `user`'s login method `st_id`.
    async fn response_of(&self, app: &AppId, user: &AuthUser, st_id: &str) -> CoreResult<(Value, String)> {
        Ok((self.user_json(app, user).await?, self.external_user_id(app, st_id).await?))
    }

    /// `POST /<tenant>/recipe/signup`
    pub async fn sign_up_with_password(
        &self,
        tenant: &TenantIdentifier,
        email: &str,
        password: &str,
    ) -> CoreResult<SignUpOutcome> {
        if password.is_empty() {
            return Err(CoreError::bad("Password cannot be an empty string"));
        }
        self.tenant(tenant).await?;
        let cfg = self.app_config(&tenant.app).await?;
        let email = Email::normalise(email);
        let hash = self.hashing.hash(password, &cfg, bytes::<16>(self.rng.as_ref())).await?;
        let user_id = uuid_v4(self.rng.as_ref());
        match self.storage.sign_up_with_password(tenant, &user_id, email.as_str(), &hash, self.now()).await? {
            SignUpResult::Created => {
                // As the reference: the SDKs' placeholder addresses (for users without a real
                // one) are verified from the start.
                if is_fake_email(email.as_str()) {
                    self.storage.set_email_verified(&tenant.app, &user_id, email.as_str()).await?;
                }
                self.record_activity(&tenant.app, &user_id).await;
                let (user, rid) = self.user_for_response(&tenant.app, &user_id).await?;
                Ok(SignUpOutcome::Ok(user, rid))
            }
            SignUpResult::EmailAlreadyExists => Ok(SignUpOutcome::EmailAlreadyExists),
        }
    }

    /// `POST /<tenant>/recipe/signin`. An unknown e-mail costs one hash verification too.
    pub async fn ep_sign_in(
        &self,
        tenant: &TenantIdentifier,
        email: &str,
        password: &str,
    ) -> CoreResult<SignInOutcome> {
        self.tenant(tenant).await?;
        let cfg = self.app_config(&tenant.app).await?;
        let email = Email::normalise(email);
        match self.storage.password_user_by_email(tenant, email.as_str()).await? {
            None => {
                self.hashing.verify_dummy(password, &cfg, bytes::<16>(self.rng.as_ref())).await?;
                Ok(SignInOutcome::WrongCredentials)
            }
            Some((user_id, hash)) => {
                if self.hashing.verify(password, &hash, cfg.firebase_password_hashing_signer_key.clone()).await? {
                    let user = self.existing_auth_user(&tenant.app, &user_id).await?;
                    // Activity of the user's primary id, as the reference records a sign-in.
                    self.record_activity(&tenant.app, &user.id).await;
                    let (user, rid) = self.response_of(&tenant.app, &user, &user_id).await?;
                    Ok(SignInOutcome::Ok(user, rid))
                } else {
                    Ok(SignInOutcome::WrongCredentials)
                }
            }
        }
    }

    /// The email-password login method named by `user_id` (its own id, or the external id
    /// mapped to it). As the reference, another login method of the same user does not count:
    /// `PUT /recipe/user` on a primary whose own method is not email-password is an unknown user.
    /// The group of `user_id` (any id form) and that id's own e-mail-password login method;
    /// `None` when the id has no such method.
    async fn ep_group(&self, app: &AppId, user_id: &str) -> CoreResult<Option<(AuthUser, LoginMethod)>> {
        let id = self.internal_user_id(app, user_id).await?;
        let Some(user) = self.storage.get_auth_user(app, &id).await? else { return Ok(None) };
        let own = user.login_methods.iter().find(|m| m.recipe_id == "emailpassword" && m.recipe_user_id == id).cloned();
        Ok(own.map(|m| (user, m)))
    }

    /// `POST /<tenant>/recipe/user/password/reset/token`
    pub async fn ep_reset_token(
        &self,
        tenant: &TenantIdentifier,
        user_id: &str,
        email: &str,
    ) -> CoreResult<Option<String>> {
        let entry = self.tenant(tenant).await?;
        // As the reference (CDI ≥ 4.0): the token is for the given user, whatever its login
        // methods. For a linked user without an email-password method the SDK passes the
        // primary's id, and adds such a method when the token is consumed.
        let recipe_user = self.internal_user_id(&tenant.app, user_id).await?;
        if self.storage.get_auth_user(&tenant.app, &recipe_user).await?.is_none() {
            return Ok(None);
        }
        let token = new_token(self);
        let expiry = self.now() + entry.config.password_reset_token_lifetime_ms;
        let email = Email::normalise(email);
        self.storage
            .add_password_reset_token(&tenant.app, &recipe_user, &sha256_hex(&token), email.as_str(), expiry)
            .await?;
        Ok(Some(token))
    }

    /// `POST /<tenant>/recipe/user/password/reset/token/consume`: (user id, email).
    pub async fn ep_consume_reset_token(
        &self,
        tenant: &TenantIdentifier,
        token: &str,
    ) -> CoreResult<Option<(String, String)>> {
        self.tenant(tenant).await?;
        match self.storage.consume_password_reset_token(&tenant.app, &sha256_hex(token), self.now()).await? {
            Some((user, email)) => Ok(Some((self.external_user_id(&tenant.app, &user).await?, email))),
            None => Ok(None),
        }
    }

    /// Deprecated `POST /recipe/user/password/reset`: the token's user gets `password`. As the
    /// reference, the password is hashed before the token is used, so a failure there leaves
    /// the token valid; a user deleted since the token was made makes it invalid. Returns the
    /// (external) user id, or `None` for an invalid token.
    pub async fn ep_reset_password_with_token(
        &self,
        tenant: &TenantIdentifier,
        token: &str,
        password: &str,
    ) -> CoreResult<Option<String>> {
        let cfg = self.app_config(&tenant.app).await?;
        self.tenant(tenant).await?;
        let hash = self.hashing.hash(password, &cfg, bytes::<16>(self.rng.as_ref())).await?;
        let Some((user, _)) =
            self.storage.consume_password_reset_token(&tenant.app, &sha256_hex(token), self.now()).await?
        else {
            return Ok(None);
        };
        match self.storage.update_email_or_password(&tenant.app, &user, None, Some(&hash)).await? {
            UpdateResult::Ok => Ok(Some(self.external_user_id(&tenant.app, &user).await?)),
            _ => Ok(None),
        }
    }

    /// `PUT /recipe/user` (emailpassword): change email and/or password.
    pub async fn ep_update_user(
        &self,
        app: &AppId,
        recipe_user_id: &str,
        email: Option<&str>,
        password: Option<&str>,
    ) -> CoreResult<UpdateResult> {
        let cfg = self.app_config(app).await?;
        if password == Some("") {
            return Err(CoreError::bad("Password cannot be an empty string"));
        }
        let Some((group, method)) = self.ep_group(app, recipe_user_id).await? else {
            return Ok(UpdateResult::UnknownUser);
        };
        let id = method.recipe_user_id;
        let hash = match password {
            Some(p) => Some(self.hashing.hash(p, &cfg, bytes::<16>(self.rng.as_ref())).await?),
            None => None,
        };
        let email = email.map(Email::normalise);
        if let Some(new_email) = &email {
            if self.email_taken_by_other_primary(app, &group, new_email.as_str()).await? {
                return Ok(UpdateResult::EmailChangeNotAllowed);
            }
        }
        Ok(self.storage.update_email_or_password(app, &id, email.as_ref().map(|e| e.as_str()), hash.as_deref()).await?)
    }

    /// As the reference's e-mail change: when `group` is a primary user, no other primary user
    /// in any of its tenants may have `email`. Linked groups exist only where a Java core linked
    /// accounts; the check is not atomic with the update (the reference holds a lock on the
    /// user), which matters only for concurrent linking there.
    async fn email_taken_by_other_primary(&self, app: &AppId, group: &AuthUser, email: &str) -> CoreResult<bool> {
        if !group.is_primary {
            return Ok(false);
        }
        let mut tenants: Vec<&String> = group.login_methods.iter().flat_map(|m| m.tenant_ids.iter()).collect();
        tenants.sort();
        tenants.dedup();
        for tenant_id in tenants {
            let Ok(tenant) = crate::ids::TenantId::parse(tenant_id) else { continue };
            let tenant = TenantIdentifier { app: app.clone(), tenant };
            let others: Vec<String> =
                self.storage.users_by_email(&tenant, email).await?.into_iter().filter(|id| *id != group.id).collect();
            for other in self.storage.get_auth_users(app, &others).await? {
                let in_tenant = other.login_methods.iter().any(|m| m.tenant_ids.iter().any(|t| t == tenant_id));
                if other.is_primary && other.id != group.id && in_tenant {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    /// `POST /<tenant>/recipe/user/passwordhash/import`: (user json, recipe user id, existed).
    pub async fn ep_import(
        &self,
        tenant: &TenantIdentifier,
        email: &str,
        hash: &str,
        algorithm: Option<&str>,
    ) -> CoreResult<(Value, bool)> {
        let cfg = self.app_config(&tenant.app).await?;
        self.tenant(tenant).await?;
        let hash = crate::ids::java_trim(hash);
        if hash.is_empty() {
            return Err(CoreError::bad("Password hash cannot be an empty string"));
        }
        let kind = crate::password::kind_of(hash);
        let firebase = crate::password::parse_firebase(hash).is_some();
        let algorithm = algorithm.map(|a| crate::ids::java_trim(a).to_ascii_uppercase());
        if algorithm.as_deref() == Some("") {
            return Err(CoreError::bad("Hashing Algorithm cannot be an empty string"));
        }
        match algorithm {
            None if kind.is_some() => {}
            None if firebase => {
                if cfg.firebase_password_hashing_signer_key.is_none() {
                    return Err(CoreError::bad("'firebase_password_hashing_signer_key' cannot be null"));
                }
            }
            None => return Err(CoreError::bad("Password hash is in invalid format")),
            Some(a) if a == "BCRYPT" => {
                if kind != Some(crate::password::Algorithm::Bcrypt) {
                    return Err(CoreError::bad("Password hash is in invalid BCrypt format"));
                }
            }
            Some(a) if a == "ARGON2" => {
                if kind != Some(crate::password::Algorithm::Argon2) {
                    return Err(CoreError::bad("Password hash is in invalid Argon2 format"));
                }
            }
            Some(a) if a == "FIREBASE_SCRYPT" => {
                if !firebase {
                    return Err(CoreError::bad("Password hash is in invalid Firebase SCrypt format"));
                }
                if cfg.firebase_password_hashing_signer_key.is_none() {
                    return Err(CoreError::bad("'firebase_password_hashing_signer_key' cannot be null"));
                }
            }
            Some(_) => return Err(CoreError::bad("Unsupported password hashing algorithm")),
        }
        if kind == Some(crate::password::Algorithm::Argon2) && !crate::password::argon2_verifiable(hash) {
            return Err(CoreError::bad(
                "Password hash is in invalid Argon2 format: this server cannot verify a hash with this salt or \
                 output length",
            ));
        }
        if !crate::password::within_limits(hash) {
            let name = match kind {
                Some(crate::password::Algorithm::Bcrypt) => "BCrypt",
                Some(crate::password::Algorithm::Argon2) => "Argon2",
                None => "Firebase SCrypt",
            };
            return Err(CoreError::bad(format!(
                "Password hash is in invalid {name} format: its cost parameters exceed this server's limits"
            )));
        }
        let email = Email::normalise(email);
        // As the reference, look again when the e-mail changes hands between the lookup and the
        // write: the user found was deleted before its hash was replaced (or before it could be
        // read back), or a concurrent import (or sign-up) took the e-mail first, whose hash is
        // then replaced. Each round trip is atomic on its own; a bounded number of rounds only
        // guards against a pathological churn.
        for _ in 0..IMPORT_ATTEMPTS {
            let (id, existed) = match self.storage.password_user_by_email(tenant, email.as_str()).await? {
                Some((id, _)) => {
                    if self.storage.update_email_or_password(&tenant.app, &id, None, Some(hash)).await?
                        != UpdateResult::Ok
                    {
                        continue;
                    }
                    (id, true)
                }
                None => {
                    let id = uuid_v4(self.rng.as_ref());
                    let created =
                        self.storage.sign_up_with_password(tenant, &id, email.as_str(), hash, self.now()).await?;
                    if created != SignUpResult::Created {
                        continue;
                    }
                    (id, false)
                }
            };
            // Deleted again before it could be read: the e-mail is free, so look again.
            if let Some(user) = self.storage.get_auth_user(&tenant.app, &id).await? {
                return Ok((self.user_json(&tenant.app, &user).await?, existed));
            }
        }
        Err(CoreError::Internal("the e-mail kept changing hands during the import".into()))
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

    // ---- email verification ----

    /// `POST /<tenant>/recipe/user/email/verify/token`: `None` = already verified.
    pub async fn ev_create_token(
        &self,
        tenant: &TenantIdentifier,
        user_id: &str,
        email: &str,
    ) -> CoreResult<Option<String>> {
        let entry = self.tenant(tenant).await?;
        let email = Email::normalise(email);
        if self.storage.is_email_verified(&tenant.app, user_id, email.as_str()).await? {
            return Ok(None);
        }
        let token = new_token(self);
        let expiry = self.now() + entry.config.email_verification_token_lifetime_ms;
        self.storage.add_email_verification_token(tenant, user_id, email.as_str(), &sha256_hex(&token), expiry).await?;
        Ok(Some(token))
    }

    pub async fn ev_verify(&self, tenant: &TenantIdentifier, token: &str) -> CoreResult<Option<(String, String)>> {
        self.tenant(tenant).await?;
        Ok(self.storage.consume_email_verification_token(tenant, &sha256_hex(token), self.now()).await?)
    }

    pub async fn is_email_verified(&self, app: &AppId, user_id: &str, email: &str) -> CoreResult<bool> {
        Ok(self.storage.is_email_verified(app, user_id, Email::normalise(email).as_str()).await?)
    }

    pub async fn ev_remove_tokens(&self, tenant: &TenantIdentifier, user_id: &str, email: &str) -> CoreResult<()> {
        self.tenant(tenant).await?;
        Ok(self.storage.delete_email_verification_tokens(tenant, user_id, Email::normalise(email).as_str()).await?)
    }

    pub async fn unverify_email(&self, app: &AppId, user_id: &str, email: &str) -> CoreResult<()> {
        Ok(self.storage.unverify_email(app, user_id, Email::normalise(email).as_str()).await?)
    }

    // ---- user-id mapping ----

    /// `POST /recipe/userid/map`, in the reference's order: an external id that is already
    /// mapped, an unknown supertokens id, then (unless `force`) an external id that is itself a
    /// user, and data that non-auth recipes keep under the supertokens id. Email verification
    /// alone is not an obstacle: it moves to the external id with the mapping (the reference
    /// does this from CDI 4.0, and we serve 5.x only).
    pub async fn create_mapping(&self, app: &AppId, mapping: UserIdMapping, force: bool) -> CoreResult<MappingCreate> {
        if let Some(existing) = self.storage.get_user_id_mapping(app, &mapping.external_user_id, Some(false)).await? {
            return Ok(MappingCreate::AlreadyExists {
                supertokens_id_exists: existing.supertokens_user_id == mapping.supertokens_user_id,
                external_id_exists: true,
            });
        }
        if self.storage.get_auth_user(app, &mapping.supertokens_user_id).await?.is_none() {
            return Ok(MappingCreate::UnknownSuperTokensUserId);
        }
        let mut move_verification = false;
        if !force {
            if self.storage.get_auth_user(app, &mapping.external_user_id).await?.is_some() {
                return Err(CoreError::bad(
                    "Cannot create a userId mapping where the externalId is also a SuperTokens userID",
                ));
            }
            match self.storage.user_id_uses(app, &mapping.supertokens_user_id, self.now()).await?.as_slice() {
                [] => {}
                [UserIdUse::EmailVerification] => move_verification = true,
                [first, ..] => return Err(in_use(*first)),
            }
        }
        Ok(self.storage.create_user_id_mapping(app, &mapping, move_verification).await?)
    }

    /// `POST /recipe/userid/map/remove`: Ok(whether a mapping was deleted). Unless `force`, a
    /// mapping whose external id holds non-auth data (metadata, roles, ...) stays, because that
    /// data would lose its user. When the external id is itself a user, the mapping goes
    /// without the check, as in the reference.
    pub async fn delete_mapping(&self, app: &AppId, id: &str, kind: Option<bool>, force: bool) -> CoreResult<bool> {
        let Some(mapping) = self.storage.get_user_id_mapping(app, id, kind).await? else { return Ok(false) };
        if self.storage.get_auth_user(app, &mapping.external_user_id).await?.is_some() {
            return Ok(self.storage.delete_user_id_mapping(app, &mapping.supertokens_user_id, Some(true)).await?);
        }
        if !force {
            if let Some(first) = self.storage.user_id_uses(app, &mapping.external_user_id, self.now()).await?.first() {
                return Err(in_use(*first));
            }
        }
        Ok(self.storage.delete_user_id_mapping(app, id, kind).await?)
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
    async fn user_objects(&self, app: &AppId, rows: Vec<(String, i64)>) -> CoreResult<Vec<Value>> {
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

    // ---- roles ----

    pub async fn add_user_role(&self, tenant: &TenantIdentifier, user_id: &str, role: &str) -> CoreResult<RoleResult> {
        self.tenant(tenant).await?;
        Ok(self.storage.add_role_to_user(tenant, user_id, role).await?)
    }
}

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

struct DeleteExpiredResetTokens;

#[async_trait]
impl crate::jobs::Job for DeleteExpiredResetTokens {
    fn name(&self) -> &'static str {
        "RemoveOldPasswordResetTokens"
    }
    fn interval(&self) -> Duration {
        Duration::from_secs(3600)
    }
    async fn run(&self, core: &Core) -> CoreResult<()> {
        core.storage.delete_expired_password_reset_tokens(core.now()).await?;
        Ok(())
    }
}

struct DeleteExpiredEvTokens;

#[async_trait]
impl crate::jobs::Job for DeleteExpiredEvTokens {
    fn name(&self) -> &'static str {
        "RemoveOldEmailVerificationTokens"
    }
    fn interval(&self) -> Duration {
        Duration::from_secs(12 * 3600)
    }
    async fn run(&self, core: &Core) -> CoreResult<()> {
        core.storage.delete_expired_email_verification_tokens(core.now()).await?;
        Ok(())
    }
}

/// Background jobs of the user recipes.
pub fn jobs() -> Vec<Arc<dyn crate::jobs::Job>> {
    vec![Arc::new(DeleteExpiredResetTokens), Arc::new(DeleteExpiredEvTokens)]
}

/// The placeholder addresses the SDKs give users who have none (the reference's `isFakeEmail`).
fn is_fake_email(email: &str) -> bool {
    email.ends_with("@stfakeemail.supertokens.com") || email.ends_with(".fakeemail.com")
}
