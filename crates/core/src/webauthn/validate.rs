//! The validation of the WebAuthn routes' input, pure and in the reference's order and words:
//! the options' fields (`OptionsValidator`) and a response's credential id and type
//! (`CredentialsValidator`).

use super::{ceremony, CeremonyFailure, ANDROID_ORIGIN, DEFAULT_TIMEOUT_MS, MAX_COLUMN, USER_VERIFICATIONS};
use crate::error::{CoreError, CoreResult};
use serde_json::Value;

/// A value for one of the reference's `VARCHAR(256)` columns: no longer, without NUL (400).
pub(super) fn check_column(field: &str, value: &str) -> CoreResult<()> {
    if value.chars().count() > MAX_COLUMN {
        return Err(CoreError::bad(format!("{field} must be at most {MAX_COLUMN} characters long")));
    }
    if value.contains('\0') {
        return Err(CoreError::bad(format!("{field} must not contain a NUL character")));
    }
    Ok(())
}

/// The reference's `OptionsValidator.validateEnumeratedStrValues`.
pub(super) fn one_of(value: &str, allowed: &[&str], field: &str) -> Result<(), String> {
    if allowed.contains(&value) {
        Ok(())
    } else {
        Err(format!("Invalid value '{value}' for {field}. Must be one of: {}", allowed.join(", ")))
    }
}

/// The reference's `OptionsValidator.validateOrigin`: an Android app's origin
/// (`android:apk-key-hash:` and the base64url SHA-256 of its signing certificate), or a URL
/// (as Java's `URL` accepts it) whose host ends with the relying party id.
pub(super) fn check_origin(origin: &str, rp_id: &str) -> Result<(), String> {
    if let Some(hash) = origin.strip_prefix(ANDROID_ORIGIN) {
        if hash.is_empty() {
            return Err("Android origin must contain a valid base64 hash".into());
        }
        let Some(decoded) = ceremony::decode_url_safe(hash) else {
            return Err("Android origin hash must be valid URL-safe base64 (no padding)".into());
        };
        if hash.len() != 43 {
            return Err("Android origin hash must be 43 characters (base64url SHA-256)".into());
        }
        if decoded.len() != 32 {
            return Err("Android origin hash must decode to 32 bytes (SHA-256)".into());
        }
        return Ok(());
    }
    let url = url::Url::parse(origin).map_err(|_| "Origin has to be a valid url!".to_string())?;
    if !["http", "https", "ftp", "file", "jar"].contains(&url.scheme()) {
        return Err("Origin has to be a valid url!".into());
    }
    if !url.host_str().unwrap_or("").ends_with(rp_id) {
        return Err("Origin does not match RelyingParty Id".into());
    }
    Ok(())
}

/// `supportedAlgorithmIDs` as the reference reads them (`getAsLong`): numbers (truncated) and
/// strings of integers.
pub(super) fn algorithm_ids(values: &[Value]) -> Result<Vec<i64>, String> {
    values
        .iter()
        .map(|v| match v {
            Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)).ok_or_else(|| n.to_string()),
            Value::String(s) => s.parse::<i64>().map_err(|_| format!("For input string: \"{s}\"")),
            other => Err(format!("For input string: \"{other}\"")),
        })
        .collect()
}

/// The options fields both kinds share, validated in the reference's order; the defaults
/// applied. Returns (timeout, user verification, user presence).
pub(super) fn common_options(
    origin: &str,
    rp_id: &str,
    timeout: Option<i64>,
    user_verification: Option<&str>,
) -> Result<(i64, String), String> {
    let timeout = timeout.unwrap_or(DEFAULT_TIMEOUT_MS);
    let user_verification = match user_verification {
        None | Some("") => "preferred".to_string(),
        Some(v) => v.to_string(),
    };
    check_origin(origin, rp_id)?;
    if timeout < 0 {
        return Err("Timeout must be a positive value".into());
    }
    one_of(&user_verification, &USER_VERIFICATIONS, "userVerification")?;
    Ok((timeout, user_verification))
}

/// The reference's `CredentialsValidator`: the response's `id` (base64url) and `type`.
pub(super) fn check_credential_shape(credential: &Value) -> Result<String, CeremonyFailure> {
    let bad = |m: &str| CeremonyFailure::InvalidCredentials(m.into());
    let id = match credential.get("id") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => return Err(bad("credential id is missing!")),
    };
    if id.is_empty() {
        return Err(bad("credential id is empty!"));
    }
    if ceremony::decode_url_safe(&id).is_none() {
        return Err(bad("Credential ID has to be base64 url encoded"));
    }
    let kind = match credential.get("type") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => return Err(bad("credential type is missing!")),
    };
    if kind.is_empty() {
        return Err(bad("credential type is empty!"));
    }
    if !kind.eq_ignore_ascii_case("public-key") {
        return Err(CeremonyFailure::InvalidCredentials(format!("not supported credential type: '{kind}'")));
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    #[test]
    fn origins_are_checked_as_the_reference() {
        assert_eq!(check_origin("https://example.com", "example.com"), Ok(()));
        assert_eq!(check_origin("https://login.example.com:8443", "example.com"), Ok(()));
        assert_eq!(check_origin("http://localhost:3000", "localhost"), Ok(()));
        assert_eq!(
            check_origin("https://evil.com", "example.com"),
            Err("Origin does not match RelyingParty Id".into())
        );
        assert_eq!(check_origin("not a url", "example.com"), Err("Origin has to be a valid url!".into()));
        let hash = URL_SAFE_NO_PAD.encode([7u8; 32]);
        assert_eq!(check_origin(&format!("android:apk-key-hash:{hash}"), "example.com"), Ok(()));
        assert!(check_origin("android:apk-key-hash:", "x").is_err());
        assert!(check_origin("android:apk-key-hash:abc", "x").unwrap_err().contains("43 characters"));
    }

    #[test]
    fn algorithm_ids_read_as_java_longs() {
        assert_eq!(
            algorithm_ids(&[serde_json::json!(-7), serde_json::json!("-257"), serde_json::json!(-8.9)]),
            Ok(vec![-7, -257, -8])
        );
        assert_eq!(algorithm_ids(&[serde_json::json!("x")]), Err("For input string: \"x\"".into()));
        assert!(algorithm_ids(&[serde_json::json!({})]).is_err());
    }

    #[test]
    fn credential_shape_as_the_reference() {
        use serde_json::json;
        assert_eq!(check_credential_shape(&json!({"id": "AAEC", "type": "public-key"})), Ok("AAEC".into()));
        let reason = |v: Value| match check_credential_shape(&v) {
            Err(CeremonyFailure::InvalidCredentials(m)) => m,
            other => format!("{other:?}"),
        };
        assert_eq!(reason(json!({"type": "public-key"})), "credential id is missing!");
        assert_eq!(reason(json!({"id": "", "type": "public-key"})), "credential id is empty!");
        assert_eq!(reason(json!({"id": "a b", "type": "public-key"})), "Credential ID has to be base64 url encoded");
        assert_eq!(reason(json!({"id": "AAEC"})), "credential type is missing!");
        assert_eq!(reason(json!({"id": "AAEC", "type": "password"})), "not supported credential type: 'password'");
    }
}
