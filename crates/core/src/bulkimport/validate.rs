//! The reference's checks of one queued user (`BulkImportUserUtils`,
//! `JsonValidatorUtils`), with its messages word for word: they are the API's contract.

use super::{main_method, BulkLoginMethod, BulkTotpDevice, BulkUser, IdMode, ValidationContext};
use crate::ids::Email;
use crate::password::{self, Algorithm};
use crate::random::{uuid_v4, Random};
use serde_json::{json, Map, Value};
use std::collections::HashSet;

/// Java's `String.isBlank`.
fn blank(s: &str) -> bool {
    s.chars().all(char::is_whitespace)
}

#[derive(Clone, Copy)]
enum Kind {
    Str,
    Int,
    Long,
    Bool,
    Object,
    ArrayOfString,
    ArrayOfObject,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Str => "string",
            Kind::Int | Kind::Long => "integer",
            Kind::Bool => "boolean",
            Kind::Object => "object",
            Kind::ArrayOfString => "array of string",
            Kind::ArrayOfObject => "array of object",
        }
    }

    fn accepts(self, v: &Value) -> bool {
        match self {
            Kind::Str => v.as_str().is_some_and(|s| !blank(s)),
            Kind::Int | Kind::Long => v.is_number(),
            Kind::Bool => v.is_boolean(),
            Kind::Object => v.is_object(),
            Kind::ArrayOfString => {
                v.as_array().is_some_and(|a| a.iter().all(|e| e.as_str().is_some_and(|s| !blank(s))))
            }
            Kind::ArrayOfObject => v.as_array().is_some_and(|a| a.iter().all(Value::is_object)),
        }
    }
}

/// `JsonValidatorUtils.parseAndValidateFieldType`: the field if present and of its kind; an
/// error for a wrong kind (JSON `null` included), or for a missing required field.
fn field<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    kind: Kind,
    required: bool,
    errors: &mut Vec<String>,
    suffix: &str,
) -> Option<&'a Value> {
    match obj.get(key) {
        Some(v) if kind.accepts(v) => Some(v),
        Some(_) => {
            errors.push(format!("{key} should be of type {}{suffix}", kind.name()));
            None
        }
        None => {
            if required {
                errors.push(format!("{key} is required{suffix}"));
            }
            None
        }
    }
}

fn string_field(
    obj: &Map<String, Value>,
    key: &str,
    required: bool,
    errors: &mut Vec<String>,
    suffix: &str,
) -> Option<String> {
    let value = field(obj, key, Kind::Str, required, errors, suffix).and_then(Value::as_str)?;
    // No column can store a NUL character (the plain-text password is only hashed).
    if value.contains('\0') && key != "plainTextPassword" {
        errors.push(format!("Field name '{key}' cannot contain a NUL character"));
        return None;
    }
    Some(value.to_string())
}

fn bool_field(obj: &Map<String, Value>, key: &str, errors: &mut Vec<String>, suffix: &str) -> Option<bool> {
    field(obj, key, Kind::Bool, false, errors, suffix).and_then(Value::as_bool)
}

/// A JSON number as Java's `Number.longValue()` (fractions truncated).
fn long_of(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| v.as_u64().map(|u| u as i64)).or_else(|| v.as_f64().map(|f| f as i64))
}

fn strings_of(v: &Value) -> Vec<String> {
    v.as_array().map(|a| a.iter().filter_map(|e| e.as_str().map(str::to_string)).collect()).unwrap_or_default()
}

/// Length as Java counts it (UTF-16 units).
fn jlen(s: &str) -> usize {
    s.encode_utf16().count()
}

/// Gson's `toString` of a login method, for the "has no tenantId" message.
fn method_text(m: &BulkLoginMethod) -> String {
    let mut v = m.to_json();
    if let Value::Object(o) = &mut v {
        o.remove("superTokensUserId");
        o.insert("superTokensUserId".into(), json!(m.supertokens_user_id));
    }
    v.to_string()
}

/// The reference's checks of a password hash and its algorithm, with the checks of this
/// server's hash import (`crate::password`: parameters it can verify, costs within bounds).
fn hash_errors(hash: &str, algorithm: &str, firebase_key_set: bool) -> Vec<String> {
    let kind = password::kind_of(hash);
    let mut errors = Vec::new();
    match algorithm {
        "ARGON2" if kind != Some(Algorithm::Argon2) => errors.push("Password hash is in invalid Argon2 format".into()),
        "BCRYPT" if kind != Some(Algorithm::Bcrypt) => errors.push("Password hash is in invalid BCrypt format".into()),
        "FIREBASE_SCRYPT" => {
            if !firebase_key_set {
                errors.push("'firebase_password_hashing_signer_key' cannot be null".into());
            } else if password::parse_firebase(hash).is_none() {
                errors.push("Password hash is in invalid Firebase SCrypt format".into());
            }
        }
        _ => {}
    }
    if errors.is_empty() {
        if kind == Some(Algorithm::Argon2) && !password::argon2_verifiable(hash) {
            errors.push(
                "Password hash is in invalid Argon2 format: this server cannot verify a hash with this salt or \
                 output length"
                    .into(),
            );
        } else if (kind.is_some() || password::parse_firebase(hash).is_some()) && !password::within_limits(hash) {
            let name = match kind {
                Some(Algorithm::Bcrypt) => "BCrypt",
                Some(Algorithm::Argon2) => "Argon2",
                None => "Firebase SCrypt",
            };
            errors.push(format!(
                "Password hash is in invalid {name} format: its cost parameters exceed this server's limits"
            ));
        }
    }
    errors
}

/// The validator of one request (or one job chunk): external ids must be unique across it.
pub struct Validator<'a> {
    ctx: &'a ValidationContext,
    rng: &'a dyn Random,
    external_ids: HashSet<String>,
}

impl<'a> Validator<'a> {
    pub fn new(ctx: &'a ValidationContext, rng: &'a dyn Random) -> Validator<'a> {
        Validator { ctx, rng, external_ids: HashSet::new() }
    }

    /// `createBulkImportUserFromJSON`: the user, or every error found, in the reference's order.
    pub fn user(&mut self, data: &Value, mode: IdMode) -> Result<BulkUser, Vec<String>> {
        let mut errors = Vec::new();
        let empty = Map::new();
        let obj = data.as_object().unwrap_or(&empty);
        let external = string_field(obj, "externalUserId", false, &mut errors, ".");
        let metadata =
            field(obj, "userMetadata", Kind::Object, false, &mut errors, ".").and_then(Value::as_object).cloned();
        let roles = self.roles(obj, &mut errors);
        let devices = self.totp_devices(obj, &mut errors);
        let methods = self.login_methods(obj, &mut errors, mode);
        let external = external.map(|e| {
            if jlen(&e) > 128 {
                errors.push(format!("externalUserId {e} is too long. Max length is 128."));
            }
            if !self.external_ids.insert(e.clone()) {
                errors.push(format!("externalUserId {e} is not unique. It is already used by another user."));
            }
            crate::ids::java_trim(&e).to_string()
        });
        // Roles' tenants must be tenants of a login method.
        if let Some(roles) = &roles {
            for (_, tenants) in roles {
                for t in tenants {
                    if t != "public" && !methods.iter().any(|m| m.tenant_ids.contains(t)) {
                        errors.push(format!("TenantId {t} for a user role does not exist in loginMethods."));
                    }
                }
            }
        }
        for m in &methods {
            if m.tenant_ids.is_empty() {
                errors.push(format!("LoginMethod '{}' has no tenantId", method_text(m)));
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let Some(id) = main_method(&methods).map(|m| m.supertokens_user_id.clone()) else {
            return Err(vec!["At least one loginMethod is required.".into()]);
        };
        Ok(BulkUser {
            id,
            external_user_id: external,
            user_metadata: metadata,
            user_roles: roles,
            totp_devices: devices,
            login_methods: methods,
        })
    }

    fn tenant_ids(&self, raw: Option<&Value>, errors: &mut Vec<String>, suffix: &str) -> Vec<String> {
        let Some(raw) = raw else { return vec!["public".into()] };
        let mut out = Vec::new();
        for t in strings_of(raw) {
            if t == "public" {
                out.push(t);
                continue;
            }
            let normalised = crate::ids::java_trim(&t).to_lowercase();
            if self.ctx.tenants.contains(&normalised) {
                out.push(normalised);
            } else {
                errors.push(format!("Invalid tenantId: {t}{suffix}"));
            }
        }
        out
    }

    fn roles(&self, obj: &Map<String, Value>, errors: &mut Vec<String>) -> Option<Vec<(String, Vec<String>)>> {
        let list = field(obj, "userRoles", Kind::ArrayOfObject, false, errors, ".")?.as_array()?;
        let mut out = Vec::new();
        let empty = Map::new();
        for r in list {
            let r = r.as_object().unwrap_or(&empty);
            let suffix = " for a user role.";
            let role = string_field(r, "role", true, errors, suffix);
            let tenants = field(r, "tenantIds", Kind::ArrayOfString, true, errors, suffix);
            let role = role.map(|role| {
                if jlen(&role) > 255 {
                    errors.push(format!("role {role} is too long. Max length is 255."));
                }
                let role = crate::ids::java_trim(&role).to_string();
                if !self.ctx.roles.contains(&role) {
                    errors.push(format!("Role {role} does not exist."));
                }
                role
            });
            let tenants = tenants.map(|t| self.tenant_ids(Some(t), errors, suffix));
            if let (Some(role), Some(tenants)) = (role, tenants) {
                out.push((role, tenants));
            }
        }
        Some(out)
    }

    fn totp_devices(&self, obj: &Map<String, Value>, errors: &mut Vec<String>) -> Option<Vec<BulkTotpDevice>> {
        let list = field(obj, "totpDevices", Kind::ArrayOfObject, false, errors, ".")?.as_array()?;
        let mut out = Vec::new();
        let empty = Map::new();
        for d in list {
            let d = d.as_object().unwrap_or(&empty);
            let suffix = " for a totp device.";
            let secret = string_field(d, "secretKey", true, errors, suffix);
            let period = field(d, "period", Kind::Int, false, errors, suffix).and_then(long_of).map(|v| v as i32);
            let skew = field(d, "skew", Kind::Int, false, errors, suffix).and_then(long_of).map(|v| v as i32);
            let name = string_field(d, "deviceName", false, errors, suffix);
            if let Some(s) = &secret {
                if jlen(s) > 256 {
                    errors.push(format!("TOTP secretKey {s} is too long. Max length is 256."));
                }
            }
            let period = match period {
                None => Some(30),
                Some(p) if p < 1 => {
                    errors.push("period should be > 0 for a totp device.".into());
                    None
                }
                p => p,
            };
            let skew = match skew {
                None => Some(1),
                Some(s) if s < 0 => {
                    errors.push("skew should be >= 0 for a totp device.".into());
                    None
                }
                s => s,
            };
            let name = name.map(|n| {
                if jlen(&n) > 256 {
                    errors.push(format!("TOTP deviceName {n} is too long. Max length is 256."));
                }
                crate::ids::java_trim(&n).to_string()
            });
            if let (Some(secret_key), Some(period), Some(skew)) = (secret, period, skew) {
                out.push(BulkTotpDevice { secret_key, period, skew, device_name: name });
            }
        }
        Some(out)
    }

    fn login_methods(&self, obj: &Map<String, Value>, errors: &mut Vec<String>, mode: IdMode) -> Vec<BulkLoginMethod> {
        let Some(list) = field(obj, "loginMethods", Kind::ArrayOfObject, true, errors, ".").and_then(Value::as_array)
        else {
            return Vec::new();
        };
        if list.is_empty() {
            errors.push("At least one loginMethod is required.".into());
            return Vec::new();
        }
        // (Account linking is always enabled here: several login methods are allowed.)
        let mut has_primary = false;
        for m in list {
            if m.get("isPrimary").and_then(Value::as_bool) == Some(true) {
                if has_primary {
                    errors.push("No two loginMethods can have isPrimary as true.".into());
                }
                has_primary = true;
            }
        }
        let mut out = Vec::new();
        let empty = Map::new();
        for m in list {
            let m = m.as_object().unwrap_or(&empty);
            let lm = " for a loginMethod.";
            let recipe_id = string_field(m, "recipeId", true, errors, lm);
            let tenants = field(m, "tenantIds", Kind::ArrayOfString, false, errors, lm);
            let is_verified = bool_field(m, "isVerified", errors, lm);
            let is_primary = bool_field(m, "isPrimary", errors, lm);
            let time_joined =
                field(m, "timeJoinedInMSSinceEpoch", Kind::Long, false, errors, " for a loginMethod").and_then(long_of);
            if let Some(r) = &recipe_id {
                if !["emailpassword", "thirdparty", "passwordless"].contains(&r.as_str()) {
                    errors.push(
                        "Invalid recipeId for loginMethod. Pass one of emailpassword, thirdparty or, passwordless!"
                            .into(),
                    );
                }
            }
            let recipe_text = recipe_id.clone().unwrap_or_else(|| "null".into());
            let tenant_ids = self.tenant_ids(tenants, errors, &format!(" for {recipe_text} recipe."));
            let time_joined = match time_joined {
                None => self.ctx.now,
                Some(t) => {
                    if t > self.ctx.now {
                        errors.push("timeJoined cannot be in future for a loginMethod.".into());
                    }
                    if t < 0 {
                        errors.push("timeJoined cannot be < 0 for a loginMethod.".into());
                    }
                    t
                }
            };
            let supertokens_user_id = match mode {
                IdMode::ReadStored => string_field(m, "superTokensUserId", true, errors, " for a loginMethod"),
                IdMode::Generate => Some(uuid_v4(self.rng)),
            }
            .unwrap_or_default();
            let mut method = BulkLoginMethod {
                tenant_ids,
                is_verified: is_verified.unwrap_or(false),
                is_primary: is_primary.unwrap_or(false),
                time_joined,
                recipe_id: recipe_text.clone(),
                email: None,
                password_hash: None,
                hashing_algorithm: None,
                plain_text_password: None,
                third_party_id: None,
                third_party_user_id: None,
                phone_number: None,
                supertokens_user_id,
            };
            match recipe_id.as_deref() {
                Some("emailpassword") => {
                    let s = " for an emailpassword recipe.";
                    let email = string_field(m, "email", true, errors, s);
                    let hash = string_field(m, "passwordHash", false, errors, s);
                    let algorithm = string_field(m, "hashingAlgorithm", false, errors, s);
                    let plain = string_field(m, "plainTextPassword", false, errors, s);
                    if (hash.is_none() || algorithm.is_none()) && plain.is_none() {
                        errors.push(
                            "Either (passwordHash, hashingAlgorithm) or plainTextPassword is required for an \
                             emailpassword recipe."
                                .into(),
                        );
                    }
                    method.email = email.map(|e| normalise_email(&e, errors));
                    let normalised = algorithm.as_deref().map(|a| crate::ids::java_trim(a).to_ascii_uppercase());
                    let known = normalised.filter(|a| ["BCRYPT", "ARGON2", "FIREBASE_SCRYPT"].contains(&a.as_str()));
                    if algorithm.is_some() && known.is_none() {
                        errors.push(
                            "Invalid hashingAlgorithm for emailpassword recipe. Pass one of bcrypt, argon2 or, \
                             firebase_scrypt!"
                                .into(),
                        );
                    }
                    method.password_hash = match (&known, hash) {
                        (Some(alg), Some(h)) => {
                            if jlen(&h) > 256 {
                                errors.push("passwordHash is too long. Max length is 256.".into());
                            }
                            let h = crate::ids::java_trim(&h).to_string();
                            errors.extend(hash_errors(&h, alg, self.ctx.firebase_key_set));
                            Some(h)
                        }
                        (_, h) => h,
                    };
                    method.hashing_algorithm = known.or(algorithm);
                    method.plain_text_password = plain;
                    out.push(method);
                }
                Some("thirdparty") => {
                    let s = " for a thirdparty recipe.";
                    let email = string_field(m, "email", true, errors, s);
                    let tp_id = string_field(m, "thirdPartyId", true, errors, s);
                    let tp_uid = string_field(m, "thirdPartyUserId", true, errors, s);
                    method.email = email.map(|e| normalise_email(&e, errors));
                    if let Some(id) = &tp_id {
                        if jlen(id) > 28 {
                            errors.push(format!("thirdPartyId {id} is too long. Max length is 28."));
                        }
                    }
                    if let Some(uid) = &tp_uid {
                        if jlen(uid) > 256 {
                            errors.push(format!("thirdPartyUserId {uid} is too long. Max length is 256."));
                        }
                    }
                    method.third_party_id = tp_id;
                    method.third_party_user_id = tp_uid;
                    out.push(method);
                }
                Some("passwordless") => {
                    let s = " for a passwordless recipe.";
                    let email = string_field(m, "email", false, errors, s);
                    let phone = string_field(m, "phoneNumber", false, errors, s);
                    method.email = email.map(|e| normalise_email(&e, errors));
                    method.phone_number = phone.map(|p| {
                        if jlen(&p) > 256 {
                            errors.push(format!("phoneNumber {p} is too long. Max length is 256."));
                        }
                        crate::passwordless::normalise_phone_number(&p)
                    });
                    if method.email.is_none() && method.phone_number.is_none() {
                        errors.push("Either email or phoneNumber is required for a passwordless recipe.".into());
                    }
                    out.push(method);
                }
                _ => {}
            }
        }
        out
    }
}

fn normalise_email(email: &str, errors: &mut Vec<String>) -> String {
    if jlen(email) > 255 {
        errors.push(format!("email {email} is too long. Max length is 256."));
    }
    Email::normalise(email).into_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> ValidationContext {
        ValidationContext {
            roles: ["admin".to_string()].into_iter().collect(),
            tenants: ["public".to_string(), "t1".to_string()].into_iter().collect(),
            firebase_key_set: false,
            now: 1_000,
        }
    }

    struct Fixed;
    impl Random for Fixed {
        fn fill(&self, dest: &mut [u8]) {
            dest.fill(7);
        }
    }

    #[test]
    fn messages_and_raw_data() {
        let c = ctx();
        let mut v = Validator::new(&c, &Fixed);
        let errs = v.user(&json!({"loginMethods": []}), IdMode::Generate).unwrap_err();
        assert_eq!(errs, vec!["At least one loginMethod is required."]);
        let errs = v.user(&json!({}), IdMode::Generate).unwrap_err();
        assert_eq!(errs, vec!["loginMethods is required."]);
        let errs = v
            .user(
                &json!({"externalUserId": 5, "loginMethods": [{"recipeId": "emailpassword", "email": "a@b.c",
                    "timeJoinedInMSSinceEpoch": 2000, "tenantIds": ["nope", "public"]}]}),
                IdMode::Generate,
            )
            .unwrap_err();
        assert_eq!(
            errs,
            vec![
                "externalUserId should be of type string.",
                "Invalid tenantId: nope for emailpassword recipe.",
                "timeJoined cannot be in future for a loginMethod.",
                "Either (passwordHash, hashingAlgorithm) or plainTextPassword is required for an emailpassword recipe.",
            ]
        );
        let u = v
            .user(
                &json!({"loginMethods": [{"recipeId": "passwordless", "phoneNumber": "+14155552671",
                    "timeJoinedInMSSinceEpoch": 5}]}),
                IdMode::Generate,
            )
            .unwrap();
        let raw: Value = serde_json::from_str(&u.raw_data()).unwrap();
        assert_eq!(raw["loginMethods"][0]["tenantIds"], json!(["public"]));
        assert_eq!(raw["loginMethods"][0]["superTokensUserId"], json!(u.id));
        assert!(raw["loginMethods"][0].get("email").is_none());
    }
}
