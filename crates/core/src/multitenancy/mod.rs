//! Connection-URI domains, apps and tenants: create/update (v2 and the deprecated
//! recipe-boolean forms), read, list, remove with cascade, and the reference's permission
//! rules. A request reaches the domain its `Host` names when that domain is configured (else
//! the default one, `""`); apps and tenants are configured per domain, their data is the user
//! pool's (see [`crate::ids::AppId`]).
//!
//! A tenant's third-party provider configs are in [`providers`]; users added to or taken out of
//! a tenant in [`tenant_users`].

pub mod cache;
mod providers;
mod tenant_users;

pub use providers::{provider_from_json, provider_json};
pub use tenant_users::AssociationOutcome;

use crate::cdi::CdiVersion;
use crate::core::Core;
use crate::error::{CoreError, CoreResult};
use crate::ids::{AppId, ConnectionUriDomain, TenantId, TenantIdentifier};
use crate::storage::TenantRecord;
use serde_json::{Map, Value};

/// What a create/update call asks for. `None` = leave unchanged (or default on creation).
#[derive(Debug, Clone)]
pub struct TenantUpdate {
    pub first_factors: Option<Option<Vec<String>>>,
    pub required_secondary_factors: Option<Option<Vec<String>>>,
    pub core_config: Option<Map<String, Value>>,
    pub email_password_enabled: Option<bool>,
    pub third_party_enabled: Option<bool>,
    pub passwordless_enabled: Option<bool>,
    /// Whether the call is one of the v2 APIs (they create and update tenants differently from
    /// the deprecated ones).
    pub v2: bool,
    /// The request's CDI version: the deprecated APIs create and update tenants as CDI 3.0 did
    /// before 5.0 (see [`TenantUpdate::as_3_0`]).
    pub version: CdiVersion,
    /// Whether the caller may not change `st_config::PROTECTED_CONFIGS` (a SaaS secret is set
    /// and the caller did not present it).
    pub protect_configs: bool,
}

impl TenantUpdate {
    /// A deprecated API before CDI 5.0 (the reference's `applyTenantUpdates_3_0`): only the
    /// recipe booleans are read, and they are kept as a first-factor list.
    fn as_3_0(&self) -> bool {
        !self.v2 && self.version < CdiVersion::V5_0
    }
}

/// A login recipe a tenant enables (the deprecated APIs' `emailPassword`, `thirdParty`,
/// `passwordless` objects).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginRecipe {
    EmailPassword,
    ThirdParty,
    Passwordless,
}

impl LoginRecipe {
    /// The first factors that stand for the recipe.
    pub fn factors(self) -> &'static [&'static str] {
        match self {
            LoginRecipe::EmailPassword => &["emailpassword"],
            LoginRecipe::ThirdParty => &["thirdparty"],
            LoginRecipe::Passwordless => &["otp-phone", "otp-email", "link-phone", "link-email"],
        }
    }

    fn flag(self, t: &TenantRecord) -> bool {
        match self {
            LoginRecipe::EmailPassword => t.email_password_enabled,
            LoginRecipe::ThirdParty => t.third_party_enabled,
            LoginRecipe::Passwordless => t.passwordless_enabled,
        }
    }

    fn set_flag(self, t: &mut TenantRecord, on: bool) {
        match self {
            LoginRecipe::EmailPassword => t.email_password_enabled = on,
            LoginRecipe::ThirdParty => t.third_party_enabled = on,
            LoginRecipe::Passwordless => t.passwordless_enabled = on,
        }
    }
}

/// Whether `recipe` is enabled on `t` as CDI `version` sees it (the reference's
/// `<Recipe>Config.isEnabledInLesserThanOrEqualTo4_0` before 5.0, `isEnabledIn5_0` from 5.0):
/// its flag is on, and the first-factor list, if any, names one of its factors (before 5.0) or
/// is not empty (from 5.0).
pub fn recipe_enabled(t: &TenantRecord, recipe: LoginRecipe, version: CdiVersion) -> bool {
    recipe.flag(t)
        && t.first_factors.as_ref().is_none_or(|f| {
            if version >= CdiVersion::V5_0 {
                !f.is_empty()
            } else {
                f.iter().any(|x| recipe.factors().contains(&x.as_str()))
            }
        })
}

/// The reference's `applyTenantUpdates_3_0` (the deprecated APIs before CDI 5.0): enabling a
/// recipe that is not enabled (by the pre-5.0 rule) turns its flag on and adds its factors to
/// the first-factor list, if there is one; disabling one, or a recipe whose flag is off, makes
/// the list explicit (all six factors when there was none) without its factors. The flags
/// themselves are never turned off. The list is kept sorted (the reference's is a set).
fn apply_updates_3_0(record: &mut TenantRecord, update: &TenantUpdate) {
    let recipes = [
        (LoginRecipe::EmailPassword, update.email_password_enabled),
        (LoginRecipe::ThirdParty, update.third_party_enabled),
        (LoginRecipe::Passwordless, update.passwordless_enabled),
    ];
    let before = record.clone();
    let mut factors = record.first_factors.clone();
    for (recipe, input) in recipes {
        if input == Some(true) && !recipe_enabled(&before, recipe, CdiVersion::V4_0) {
            recipe.set_flag(record, true);
            if let Some(list) = factors.as_mut() {
                list.extend(recipe.factors().iter().map(|f| f.to_string()));
            }
        }
    }
    let disabled = |recipe: LoginRecipe, input: Option<bool>| !recipe.flag(record) || input == Some(false);
    if factors.is_none() && recipes.iter().any(|(r, input)| disabled(*r, *input)) {
        factors = Some(recipes.iter().flat_map(|(r, _)| r.factors()).map(|f| f.to_string()).collect());
    }
    if let Some(list) = factors.as_mut() {
        for (recipe, input) in recipes {
            if disabled(recipe, input) {
                list.retain(|f| !recipe.factors().contains(&f.as_str()));
            }
        }
        list.sort();
        list.dedup();
    }
    record.first_factors = factors;
}

fn forbidden(msg: &str) -> CoreError {
    CoreError::Forbidden(msg.to_string())
}

impl Core {
    async fn upsert(&self, id: TenantIdentifier, mut update: TenantUpdate) -> CoreResult<bool> {
        if let Some(only) = self.load_only_domain() {
            if !id.domain().is_default() && id.domain() != &only {
                return Err(CoreError::bad("Creation of connection uri domain or app or tenant is disallowed"));
            }
        }
        let existing = self.storage.get_tenant(&id).await?;
        let mut record = match existing.clone() {
            Some(r) => r,
            None => new_tenant(id.clone(), &update),
        };
        if let Some(cfg) = update.core_config.take() {
            // Keys set to null (or to a value that means unset, such as an empty IP pattern) are
            // removed; others replace the stored value.
            let normalised = st_config::validate_core_config_update(&cfg).map_err(|e| CoreError::bad(e.to_string()))?;
            for k in cfg.keys() {
                if !normalised.contains_key(k) {
                    record.core_config.remove(k);
                }
            }
            for (k, v) in normalised {
                record.core_config.insert(k, v);
            }
            if id.is_base() && !record.core_config.is_empty() {
                return Err(CoreError::bad("Cannot modify base config"));
            }
            if update.protect_configs {
                let before = existing.as_ref().map(|r| &r.core_config);
                let changed = |k: &&str| record.core_config.get(*k) != before.and_then(|c| c.get(*k));
                if st_config::PROTECTED_CONFIGS.iter().any(changed) {
                    // The reference refuses this too (with a 500); a 403 says what it is.
                    return Err(forbidden("Not allowed to modify protected configs."));
                }
            }
        }
        if update.as_3_0() {
            apply_updates_3_0(&mut record, &update);
            return self.store_tenant(&id, &record).await;
        }
        if update.v2 && (update.first_factors.is_some() || update.required_secondary_factors.is_some()) {
            // As the reference's v2 update: the legacy recipe flags are all turned on, and a
            // tenant whose first factors came from them keeps them as an explicit list (none:
            // all six enabled).
            if record.first_factors.is_none() {
                record.first_factors = effective_first_factors(&record);
            }
            record.email_password_enabled = true;
            record.third_party_enabled = true;
            record.passwordless_enabled = true;
        }
        if let Some(f) = update.first_factors {
            record.first_factors = f;
        }
        if let Some(f) = update.required_secondary_factors {
            // An empty list is no list, as the reference's `TenantConfig` stores it.
            record.required_secondary_factors = f.filter(|f| !f.is_empty());
        }
        let enables = [update.email_password_enabled, update.third_party_enabled, update.passwordless_enabled]
            .contains(&Some(true));
        if !update.v2 && enables && record.first_factors.as_ref().is_some_and(Vec::is_empty) {
            // As the reference's deprecated update: enabling a recipe on a tenant whose
            // first-factor list is empty (a v2 tenant created without factors) starts from
            // "every recipe off, no list", then applies the flags given.
            record.first_factors = None;
            record.email_password_enabled = false;
            record.third_party_enabled = false;
            record.passwordless_enabled = false;
        }
        if let Some(b) = update.email_password_enabled {
            record.email_password_enabled = b;
        }
        if let Some(b) = update.third_party_enabled {
            record.third_party_enabled = b;
        }
        if let Some(b) = update.passwordless_enabled {
            record.passwordless_enabled = b;
        }
        self.store_tenant(&id, &record).await
    }

    /// Check and write a created or updated tenant; true when it is new.
    async fn store_tenant(&self, id: &TenantIdentifier, record: &TenantRecord) -> CoreResult<bool> {
        self.check_tenant_config(record).await?;
        let created = match self.storage.upsert_tenant(record, self.now()).await {
            Ok(c) => c,
            Err(crate::StorageError::TenantOrAppNotFound) => {
                return Err(CoreError::TenantOrAppNotFound(TenantIdentifier::app_not_found_message(&id.app)))
            }
            Err(e) => return Err(e.into()),
        };
        self.set_domain_known(id.domain(), true);
        // Only an app's (or a domain's) public tenant is layered into other tenants' configs.
        self.invalidate_tenant(id);
        Ok(created)
    }

    /// `PUT /recipe/multitenancy/connectionuridomain[/v2]` called on `caller`: the domain's own
    /// configuration (its `public` app's `public` tenant); `None` names the default domain
    /// (the base tenant, whose config cannot change).
    pub async fn create_or_update_domain(
        &self,
        caller: &TenantIdentifier,
        domain: Option<ConnectionUriDomain>,
        update: TenantUpdate,
    ) -> CoreResult<bool> {
        self.tenant(caller).await?;
        let target = TenantIdentifier::domain_base(&domain.unwrap_or_default());
        if !target.domain().is_default() && !caller.is_base() && caller.domain() != target.domain() {
            return Err(forbidden(
                "You must use the default or same connectionUriDomain to create/update a connectionUriDomain",
            ));
        }
        self.upsert(target, update).await
    }

    /// `POST /recipe/multitenancy/connectionuridomain/remove`: the domain with its apps and
    /// tenants (their data too, unless another domain names them).
    pub async fn remove_domain(&self, caller: &TenantIdentifier, domain: ConnectionUriDomain) -> CoreResult<bool> {
        if domain.is_default() {
            return Err(forbidden("Cannot delete the default connection uri domain"));
        }
        self.tenant(caller).await?;
        if !caller.is_base() {
            return Err(forbidden(
                "Only the public tenantId, public appId and default connectionUriDomain is allowed to delete a connectionUriDomain",
            ));
        }
        let tenants = self.storage.list_tenants().await?;
        let mut apps: Vec<&AppId> = tenants.iter().filter(|t| t.id.domain() == &domain).map(|t| &t.id.app).collect();
        apps.sort();
        apps.dedup();
        if apps.len() > 1 {
            return Err(forbidden(
                "Please delete all apps except the public appID for this connectionUriDomain before calling the delete API.",
            ));
        }
        let existed = self.storage.delete_connection_uri_domain(&domain).await?;
        self.set_domain_known(&domain, false);
        self.invalidate_app(&AppId::public().in_domain(domain));
        Ok(existed)
    }

    /// `PUT /recipe/multitenancy/app[/v2]` called on `caller`.
    pub async fn create_or_update_app(
        &self,
        caller: &TenantIdentifier,
        app: AppId,
        update: TenantUpdate,
    ) -> CoreResult<bool> {
        // Apps are created in the caller's domain.
        let app = app.in_domain(caller.domain().clone());
        if !caller.tenant.is_public() || !(caller.app.is_public() || caller.app == app) {
            return Err(forbidden("You must use the public or same app to add/update an app"));
        }
        if !caller.app.is_public() && caller.app == app {
            self.app(&app).await?;
        }
        self.upsert(TenantIdentifier::app_public(&app), update).await
    }

    /// `PUT /appid-<a>/recipe/multitenancy/tenant[/v2]` called on `caller`.
    pub async fn create_or_update_tenant(
        &self,
        caller: &TenantIdentifier,
        tenant: TenantId,
        update: TenantUpdate,
    ) -> CoreResult<bool> {
        // As the reference, which resolves the calling tenant first: a tenant cannot be created
        // through its own path, and an unknown calling tenant is the 400 before the 403.
        if !caller.tenant.is_public() {
            self.tenant(caller).await?;
        }
        if !(caller.tenant.is_public() || caller.tenant == tenant) {
            return Err(forbidden("You must use the public or same tenant to add/update a tenant"));
        }
        self.app(&caller.app).await?;
        self.upsert(TenantIdentifier::new(caller.app.clone(), tenant), update).await
    }

    /// `POST /appid-<a>/recipe/multitenancy/tenant/remove`
    pub async fn remove_tenant(&self, caller: &TenantIdentifier, tenant: TenantId) -> CoreResult<bool> {
        if !caller.tenant.is_public() {
            return Err(forbidden("Only the public tenantId is allowed to delete a tenant"));
        }
        if tenant.is_public() {
            return Err(forbidden("Cannot delete public tenant, use remove app API instead"));
        }
        self.app(&caller.app).await?;
        let id = TenantIdentifier::new(caller.app.clone(), tenant);
        let existed = self.storage.delete_tenant(&id).await?;
        self.invalidate_app(&caller.app);
        Ok(existed)
    }

    /// `POST /recipe/multitenancy/app/remove`
    pub async fn remove_app(&self, caller: &TenantIdentifier, app: AppId) -> CoreResult<bool> {
        if app.is_public() {
            return Err(forbidden("Cannot delete the public app, use remove connection uri domain API instead"));
        }
        if !caller.tenant.is_public() || !caller.app.is_public() {
            return Err(forbidden("Only the public tenantId and public appId is allowed to delete an app"));
        }
        let app = app.in_domain(caller.domain().clone());
        let others = self.storage.list_tenants().await?;
        if others.iter().any(|t| t.id.app.same_as(&app) && !t.id.tenant.is_public()) {
            return Err(forbidden(
                "Please delete all tenants except the public tenant for this app before calling the delete API",
            ));
        }
        let existed = self.storage.delete_app(&app).await?;
        self.invalidate_app(&app);
        self.forget_app_state(&app);
        Ok(existed)
    }

    /// Tenants of one app of its domain (for `tenant/list`).
    pub async fn tenants_of_app(&self, app: &AppId) -> CoreResult<Vec<TenantRecord>> {
        self.app(app).await?;
        let mut all: Vec<TenantRecord> =
            self.storage.list_tenants().await?.into_iter().filter(|t| t.id.app.same_as(app)).collect();
        all.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(all)
    }

    /// Every tenant of every app of `domain` (for `app/list`), by app and tenant.
    pub async fn tenants_of_domain(&self, domain: &ConnectionUriDomain) -> CoreResult<Vec<TenantRecord>> {
        let mut all: Vec<TenantRecord> =
            self.storage.list_tenants().await?.into_iter().filter(|t| t.id.domain() == domain).collect();
        all.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(all)
    }

    /// Every tenant of every domain (for `connectionuridomain/list`), by domain, app and
    /// tenant. Only the base tenant may list them.
    pub async fn all_domains_tenants(&self, caller: &TenantIdentifier) -> CoreResult<Vec<TenantRecord>> {
        self.tenant(caller).await?;
        if !caller.is_base() {
            return Err(forbidden(
                "Only the public tenantId, public appId and default connectionUriDomain is allowed to list all connectionUriDomains and appIds associated with this core",
            ));
        }
        let mut all = self.storage.list_tenants().await?;
        all.sort_by(|a, b| (a.id.domain(), &a.id).cmp(&(b.id.domain(), &b.id)));
        Ok(all)
    }
}

/// A tenant as the reference creates it (`BaseCreateOrUpdate.createBaseConfigForVersion`):
/// an app's public tenant has every recipe on and no first-factor list; another tenant
/// created through a v2 API has an empty list (no first factor allowed until the caller names
/// some), and one created through a deprecated API has every recipe off, and before CDI 5.0
/// also an empty list.
fn new_tenant(id: TenantIdentifier, update: &TenantUpdate) -> TenantRecord {
    let mut record = TenantRecord::new(id);
    if !record.id.tenant.is_public() {
        if update.v2 {
            record.first_factors = Some(Vec::new());
        } else {
            record.email_password_enabled = false;
            record.third_party_enabled = false;
            record.passwordless_enabled = false;
            if update.as_3_0() {
                record.first_factors = Some(Vec::new());
            }
        }
    }
    record
}

/// First factors as the v2 API reports them: stored, or synthesised from legacy booleans.
pub fn effective_first_factors(t: &TenantRecord) -> Option<Vec<String>> {
    if t.first_factors.is_some() {
        return t.first_factors.clone();
    }
    if t.email_password_enabled && t.third_party_enabled && t.passwordless_enabled {
        return None;
    }
    let mut f = Vec::new();
    if t.email_password_enabled {
        f.push("emailpassword".to_string());
    }
    if t.third_party_enabled {
        f.push("thirdparty".to_string());
    }
    if t.passwordless_enabled {
        f.extend(["otp-email", "otp-phone", "link-email", "link-phone"].map(String::from));
    }
    Some(f)
}
