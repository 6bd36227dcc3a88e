//! What a value must be for the reference schema to store it, in one place: the column sizes of
//! the request fields that are written (`VARCHAR(n)` / `CHAR(n)`, counted in characters, as
//! PostgreSQL counts them), and no NUL character in any string (PostgreSQL's text types refuse
//! U+0000). The HTTP edge checks every string it reads against [`no_nul`], and every string a
//! handler is about to store against [`stored`], so that both backends refuse the same input with
//! the same 400 instead of PostgreSQL answering a 500 and the memory store a 200
//! (docs/COMPATIBILITY.md, "Input the schema cannot store").
//!
//! JSON values stored whole (session data, user metadata, tenant core config) are kept as
//! serialised text, where a NUL is the escape `\u0000`: they need no check.

/// The column size of a request field that is stored, by its name in the request (the same name
/// means the same column everywhere in the CDI), or `None` for a field this table does not limit.
pub fn max_chars(field: &str) -> Option<usize> {
    Some(match field {
        // app_id / tenant_id columns (also checked by `ids::AppId` / `ids::TenantId`).
        "appId" | "tenantId" => 64,
        // session_info.user_id, user_metadata.user_id, user_roles.user_id, totp_users.user_id,
        // emailverification_*.user_id, userid_mapping.external_user_id, user_last_active.user_id.
        "userId" | "externalUserId" => 128,
        // Every table's email column.
        "email" | "newEmail" => 256,
        // passwordless_*.phone_number.
        "phoneNumber" => 256,
        // emailpassword_users.password_hash.
        "passwordHash" => 256,
        // thirdparty_users.third_party_id, tenant_thirdparty_providers.third_party_id.
        "thirdPartyId" => 28,
        "thirdPartyUserId" => 256,
        // roles.role, role_permissions.permission.
        "role" => 255,
        "permission" | "permissions" => 255,
        // totp_user_devices.device_name, .secret_key.
        "deviceName" | "newDeviceName" | "existingDeviceName" => 256,
        "secretKey" => 256,
        // tenant_first_factors.factor_id, tenant_required_secondary_factors.factor_id.
        "firstFactors" | "requiredSecondaryFactors" => 128,
        // tenant_thirdparty_providers / _provider_clients.
        "name" => 64,
        "clientId" => 256,
        "clientType" => 64,
        "scope" => 128,
        "connectionUriDomain" => 256,
        // webauthn_user_to_tenant / webauthn_generated_options / webauthn_credentials.
        "relyingPartyId" | "relyingPartyName" | "origin" => 256,
        _ => return None,
    })
}

/// A third-party provider's config (`PUT /recipe/multitenancy/config/thirdparty`): the strings
/// kept in columns of their own (`tenant_thirdparty_providers`, `_provider_clients`: its own,
/// each client's, its `userInfoMap`'s) hold no NUL. Their lengths are checked with the config
/// (`multitenancy::providers`); its nested objects (query params, headers, `additionalConfig`) are
/// stored as serialised JSON and need no check.
pub fn thirdparty_provider(config: &serde_json::Map<String, serde_json::Value>) -> Result<(), String> {
    use serde_json::Value;
    // Strings of an object, each under its own name; arrays of strings as their elements.
    fn strings(obj: &serde_json::Map<String, Value>) -> Result<(), String> {
        for (key, value) in obj {
            match value {
                Value::String(s) => no_nul(key, s)?,
                Value::Array(a) => a.iter().filter_map(Value::as_str).try_for_each(|s| no_nul(key, s))?,
                _ => {}
            }
        }
        Ok(())
    }
    strings(config)?;
    if let Some(Value::Array(clients)) = config.get("clients") {
        clients.iter().filter_map(Value::as_object).try_for_each(strings)?;
    }
    if let Some(Value::Object(map)) = config.get("userInfoMap") {
        map.values().filter_map(Value::as_object).try_for_each(strings)?;
    }
    Ok(())
}

/// The 400 text for a string field holding a NUL character (the wording the recipes that
/// checked this before, TOTP, WebAuthn, third party, passwordless, dashboard, use).
pub fn nul_message(field: &str) -> String {
    format!("{field} must not contain a NUL character")
}

/// The 400 text for a stored string longer than its column (the wording of the id checks,
/// `ids::TenantId`, and of the recipes that checked this before).
pub fn too_long_message(field: &str, max: usize) -> String {
    format!("{field} must be at most {max} characters long")
}

/// Every string read from a request: no NUL character (PostgreSQL refuses it anywhere, in a
/// look-up as in a write). Passwords are exempt: only their hash is stored, and the reference
/// accepts them.
pub fn no_nul(field: &str, value: &str) -> Result<(), String> {
    if value.contains('\0') && !matches!(field, "password" | "newPassword") {
        return Err(nul_message(field));
    }
    Ok(())
}

/// A string about to be stored under `field`: [`no_nul`], and no longer than its column.
pub fn stored(field: &str, value: &str) -> Result<(), String> {
    no_nul(field, value)?;
    if let Some(max) = max_chars(field) {
        if value.chars().count() > max {
            return Err(too_long_message(field, max));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_bound_stored_fields() {
        assert!(stored("userId", &"u".repeat(128)).is_ok());
        assert_eq!(stored("userId", &"u".repeat(129)), Err("userId must be at most 128 characters long".into()));
        // Characters, not bytes, as VARCHAR(n) counts them.
        assert!(stored("email", &"é".repeat(256)).is_ok());
        assert!(stored("email", &"é".repeat(257)).is_err());
        assert!(stored("thirdPartyId", &"t".repeat(29)).is_err());
        assert!(stored("userDataInJWT", &"x".repeat(10_000)).is_ok());
    }

    #[test]
    fn nul_is_refused_but_in_passwords() {
        assert_eq!(no_nul("email", "a\0b"), Err("email must not contain a NUL character".into()));
        assert!(stored("anything", "a\0").is_err());
        assert!(no_nul("password", "a\0b").is_ok());
        assert!(no_nul("email", "ab").is_ok());
    }
}
