//! Configuration: `config.yaml`, the Docker image's environment variables, CLI overrides,
//! validation with one-line errors, and the per-app / per-tenant `coreConfig` layering.
//!
//! Values are kept as a JSON map of *normalised* values (numbers as numbers, booleans as
//! booleans, whatever the input spelled them as), from which the typed [`CoreConfig`] is built.

pub mod keys;
mod load;

use load::default_value;
pub use load::{apply_env, coerce, java_trim, layered, load_file, parse_yaml, validate_core_config_update};

use keys::Level;
use serde_json::{Map, Value};

#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum ConfigError {
    /// A value does not fit its key. Displayed as one line naming key, value and what is allowed.
    #[error("config key '{key}' has invalid value {value}: {allowed}")]
    Invalid { key: String, value: String, allowed: String },
    #[error("{0}")]
    Other(String),
}

/// Keys whose values are secrets: an error about them never shows the value (it may reach logs,
/// or a 400 body when a stored per-app config no longer validates).
pub const SECRET_KEYS: [&str; 6] = [
    "api_keys",
    "supertokens_saas_secret",
    "postgresql_password",
    "postgresql_connection_uri",
    "firebase_password_hashing_signer_key",
    "oauth_client_secret_encryption_key",
];

impl ConfigError {
    fn invalid(key: &str, value: &Value, allowed: impl Into<String>) -> Self {
        let value = if SECRET_KEYS.contains(&key) { "<redacted>".to_string() } else { value.to_string() };
        ConfigError::Invalid { key: key.to_string(), value, allowed: allowed.into() }
    }
}

/// A flat map of normalised config values (only keys that were set).
pub type ConfigMap = Map<String, Value>;

/// Keys that, when `supertokens_saas_secret` is set, only a request presenting the secret may
/// see or change in an app's or tenant's `coreConfig` (the reference's `PROTECTED_CONFIGS`).
pub const PROTECTED_CONFIGS: [&str; 7] = [
    "ip_allow_regex",
    "ip_deny_regex",
    "oauth_provider_public_service_url",
    "oauth_provider_admin_service_url",
    "oauth_provider_consent_login_base_url",
    "oauth_provider_url_configured_in_oauth_provider",
    "saml_legacy_acs_url",
];

/// Whether `key` must have the same value in every tenant of an app.
pub fn is_app_level(key: &str) -> bool {
    keys::spec(key).map(|s| s.level == Level::App).unwrap_or(false)
}

/// Typed view of an effective configuration (base ⊕ app ⊕ tenant).
#[derive(Debug, Clone)]
pub struct CoreConfig {
    values: ConfigMap,
    pub port: u16,
    pub host: String,
    pub base_path: String,
    pub max_server_pool_size: usize,
    pub info_log_path: Option<String>,
    pub error_log_path: Option<String>,
    pub log_level: String,
    pub log_format_json: bool,
    pub max_request_body_bytes: usize,
    /// Seconds.
    pub access_token_validity_s: i64,
    /// Minutes in the file; stored here in milliseconds.
    pub refresh_token_validity_ms: i64,
    /// Hours in the file; stored here in milliseconds.
    pub signing_key_update_interval_ms: i64,
    pub password_reset_token_lifetime_ms: i64,
    pub email_verification_token_lifetime_ms: i64,
    pub passwordless_max_code_input_attempts: i64,
    pub passwordless_code_lifetime_ms: i64,
    pub totp_max_attempts: i64,
    pub totp_rate_limit_cooldown_sec: i64,
    /// Sign-in lockout (ours, issue 25): failures that lock an e-mail (0 = off), the counting
    /// window and the lock's length, in seconds.
    pub signin_lockout_max_failures: i64,
    pub signin_lockout_window_seconds: i64,
    pub signin_lockout_duration_seconds: i64,
    /// Request rate limits (ours, issue 25): requests per window of the app (all its tenants)
    /// and of each tenant (0 = off), and the window in seconds (`st_core::ratelimit`).
    pub rate_limit_app_requests: i64,
    pub rate_limit_tenant_requests: i64,
    pub rate_limit_window_seconds: i64,
    /// Whether new sessions of CDI < 2.21 (which cannot choose) sign with the rotating keys.
    pub access_token_signing_key_dynamic: bool,
    /// `access_token_signing_algorithm`: "RS256" (the default), "ES256" or "EDDSA" (upper case).
    pub access_token_signing_algorithm: String,
    /// The `checkDatabase` of CDI < 2.21 verifies (which cannot choose).
    pub access_token_blacklisting: bool,
    /// Fraction (0 to 0.25) by which a new access token's validity is shortened at random.
    pub access_token_validity_jitter: f64,
    /// CDI 5.6 refresh: how long (ms) the previous refresh token may still rotate.
    pub refresh_token_rotation_grace_period_ms: i64,
    /// CDI 5.6 refresh: a reused recent token is `UNAUTHORISED` (true) rather than theft.
    pub recent_token_reuse_unauthorised: bool,
    /// Sorted, de-duplicated API keys; empty = open.
    pub api_keys: Vec<String>,
    /// `supertokens_saas_secret` (base config only): accepted as an API key too.
    pub saas_secret: Option<String>,
    pub password_hashing_alg: String,
    pub bcrypt_log_rounds: u32,
    pub argon2_iterations: u32,
    pub argon2_memory_kb: u32,
    pub argon2_parallelism: u32,
    pub argon2_hashing_pool_size: usize,
    pub firebase_password_hashing_signer_key: Option<String>,
    pub firebase_password_hashing_pool_size: usize,
    pub supertokens_max_cdi_version: Option<String>,
    pub supertokens_min_cdi_version: Option<String>,
    pub disable_telemetry: bool,
    /// Tomcat-style whole-address patterns (`ip_allow_regex` / `ip_deny_regex`).
    pub ip_allow_regex: Option<String>,
    pub ip_deny_regex: Option<String>,
}

fn get(map: &ConfigMap, key: &str) -> Value {
    match map.get(key) {
        Some(v) if !v.is_null() => v.clone(),
        _ => keys::spec(key).map(default_value).unwrap_or(Value::Null),
    }
}

fn int(map: &ConfigMap, key: &str) -> i64 {
    let v = get(map, key);
    v.as_i64().or_else(|| v.as_f64().map(|f| f as i64)).unwrap_or(0)
}
fn float(map: &ConfigMap, key: &str) -> f64 {
    get(map, key).as_f64().unwrap_or(0.0)
}
fn string(map: &ConfigMap, key: &str) -> Option<String> {
    match get(map, key) {
        Value::String(s) => Some(s),
        _ => None,
    }
}
fn boolean(map: &ConfigMap, key: &str) -> bool {
    get(map, key).as_bool().unwrap_or(false)
}

/// Normalise `base_path` to `/x/y` (leading slash, no trailing slash, no `//`), or `""`.
pub fn normalise_base_path(raw: &str) -> Result<String, String> {
    if raw.contains(' ') {
        return Err("must not contain spaces".into());
    }
    let parts: Vec<&str> = raw.split('/').filter(|p| !p.is_empty()).collect();
    if parts.is_empty() {
        Ok(String::new())
    } else {
        Ok(format!("/{}", parts.join("/")))
    }
}

/// Parse the comma-separated API keys as the reference does: split on `,` (trailing empty
/// parts dropped, as Java's `split`), each part trimmed, at least 20 characters of
/// `[A-Za-z0-9=-]`. An empty value or an empty part is an error, never "no key": a core must
/// not end up open because of a stray comma or quotes.
pub fn parse_api_keys(raw: &str) -> Result<Vec<String>, String> {
    let mut parts: Vec<&str> = raw.split(',').collect();
    while parts.len() > 1 && parts.last().is_some_and(|p| p.is_empty()) {
        parts.pop();
    }
    let mut keys = Vec::new();
    for part in parts {
        let key = java_trim(part);
        if key.chars().count() < 20 {
            return Err("One of the API keys is too short. Please use at least 20 characters".into());
        }
        if !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '=' || c == '-') {
            return Err(
                "Invalid characters in API key. Please only use '=', '-' and alpha-numeric (including capitals)".into(),
            );
        }
        keys.push(key.to_string());
    }
    keys.sort();
    keys.dedup();
    Ok(keys)
}

/// The CDI versions this server serves, oldest first: every version the reference core 12.1
/// accepts (its `WebserverAPI` set). `supertokens_max_cdi_version` and
/// `supertokens_min_cdi_version` must name one of them. Which behaviour changes at which
/// version is listed in docs/CDI_VERSIONS.md; the SDK releases that speak each one in
/// docs/COMPATIBILITY.md.
pub const SUPPORTED_CDI_VERSIONS: [&str; 25] = [
    "2.7", "2.8", "2.9", "2.10", "2.11", "2.12", "2.13", "2.14", "2.15", "2.16", "2.17", "2.18", "2.19", "2.20",
    "2.21", "3.0", "3.1", "4.0", "5.0", "5.1", "5.2", "5.3", "5.4", "5.5", "5.6",
];

/// `a > b` for dotted versions, compared numerically part by part.
pub fn version_is_greater(a: &str, b: &str) -> bool {
    let parse = |s: &str| s.split('.').map(|p| p.parse::<u64>().unwrap_or(0)).collect::<Vec<_>>();
    parse(a) > parse(b)
}

impl CoreConfig {
    /// Build and validate the typed config. `test_mode` relaxes the rules the reference relaxes
    /// for its test mode (short key rotation intervals, refresh validity below access validity).
    pub fn from_map(map: &ConfigMap, test_mode: bool) -> Result<CoreConfig, ConfigError> {
        let bad = |key: &str, allowed: &str| ConfigError::invalid(key, &get(map, key), allowed.to_string());
        let access_token_validity_s = int(map, "access_token_validity");
        let refresh_minutes = float(map, "refresh_token_validity");
        if !test_mode && refresh_minutes * 60.0 <= access_token_validity_s as f64 {
            return Err(bad(
                "refresh_token_validity",
                "minutes; must be greater than access_token_validity (seconds) divided by 60",
            ));
        }
        // The pre-4.0 name is an alias of the dynamic key's interval (the reference's
        // `@JsonAlias`); the current name wins when both are set.
        let interval_key = match (
            map.get("access_token_dynamic_signing_key_update_interval"),
            map.get("access_token_signing_key_update_interval"),
        ) {
            (None | Some(Value::Null), Some(v)) if !v.is_null() => "access_token_signing_key_update_interval",
            _ => "access_token_dynamic_signing_key_update_interval",
        };
        let interval_h = float(map, interval_key);
        if !test_mode && interval_h < 1.0 {
            return Err(bad(interval_key, "hours, at least 1"));
        }
        if interval_h <= 0.0 {
            return Err(bad(interval_key, "hours, greater than 0"));
        }
        let api_keys = match string(map, "api_keys") {
            Some(raw) => parse_api_keys(&raw).map_err(|e| bad("api_keys", &e))?,
            None => Vec::new(),
        };
        let base_path =
            normalise_base_path(&string(map, "base_path").unwrap_or_default()).map_err(|e| bad("base_path", &e))?;
        let max_server_pool_size = int(map, "max_server_pool_size") as usize;
        let password_hashing_alg = string(map, "password_hashing_alg").unwrap_or_else(|| "BCRYPT".into());
        // As the reference: the argon2 settings are checked only when argon2 is the algorithm,
        // and the hashing pools have at least one thread.
        if password_hashing_alg.eq_ignore_ascii_case("ARGON2") {
            for key in ["argon2_iterations", "argon2_parallelism", "argon2_memory_kb", "argon2_hashing_pool_size"] {
                if int(map, key) < 1 {
                    return Err(bad(key, "an integer >= 1"));
                }
            }
            if int(map, "argon2_hashing_pool_size") > max_server_pool_size as i64 {
                return Err(bad("argon2_hashing_pool_size", "at most max_server_pool_size"));
            }
        }
        let at_least_one = |key: &str| u32::try_from(int(map, key).max(1)).unwrap_or(u32::MAX);
        let max_cdi = string(map, "supertokens_max_cdi_version");
        let min_cdi = string(map, "supertokens_min_cdi_version");
        for (key, v) in [("supertokens_max_cdi_version", &max_cdi), ("supertokens_min_cdi_version", &min_cdi)] {
            if let Some(v) = v {
                if !is_version(v) {
                    return Err(ConfigError::Other(format!("{key} is not a valid semantic version")));
                }
                if !SUPPORTED_CDI_VERSIONS.contains(&v.as_str()) {
                    return Err(ConfigError::Other(format!("{key} is not a supported version")));
                }
            }
        }
        if let (Some(min), Some(max)) = (&min_cdi, &max_cdi) {
            if crate::version_is_greater(min, max) {
                return Err(ConfigError::Other(
                    "supertokens_min_cdi_version cannot be greater than supertokens_max_cdi_version".into(),
                ));
            }
        }
        if let Some(secret) = string(map, "supertokens_saas_secret") {
            let secret = secret.trim();
            if secret.len() < 40 {
                return Err(bad("supertokens_saas_secret", "at least 40 characters"));
            }
            if !secret.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'=' || b == b'-') {
                return Err(bad("supertokens_saas_secret", "only '=', '-' and letters and digits"));
            }
            if api_keys.is_empty() {
                return Err(bad("supertokens_saas_secret", "only together with api_keys"));
            }
        }
        let oauth = [
            "oauth_provider_public_service_url",
            "oauth_provider_admin_service_url",
            "oauth_provider_consent_login_base_url",
            "oauth_provider_url_configured_in_oauth_provider",
        ];
        let set = oauth.iter().filter(|k| string(map, k).is_some()).count();
        if set != 0 && set != oauth.len() {
            return Err(bad(oauth[0], "all four oauth_provider_* keys, or none"));
        }
        Ok(CoreConfig {
            port: int(map, "port") as u16,
            host: string(map, "host").unwrap_or_else(|| "localhost".into()),
            base_path,
            max_server_pool_size,
            info_log_path: string(map, "info_log_path"),
            error_log_path: string(map, "error_log_path"),
            log_level: string(map, "log_level").unwrap_or_else(|| "INFO".into()),
            log_format_json: string(map, "log_format").as_deref() == Some("JSON"),
            max_request_body_bytes: int(map, "max_request_body_bytes") as usize,
            access_token_validity_s,
            refresh_token_validity_ms: (refresh_minutes * 60_000.0) as i64,
            signing_key_update_interval_ms: (interval_h * 3_600_000.0) as i64,
            password_reset_token_lifetime_ms: int(map, "password_reset_token_lifetime"),
            email_verification_token_lifetime_ms: int(map, "email_verification_token_lifetime"),
            passwordless_max_code_input_attempts: int(map, "passwordless_max_code_input_attempts"),
            passwordless_code_lifetime_ms: int(map, "passwordless_code_lifetime"),
            totp_max_attempts: int(map, "totp_max_attempts"),
            totp_rate_limit_cooldown_sec: int(map, "totp_rate_limit_cooldown_sec"),
            signin_lockout_max_failures: int(map, "signin_lockout_max_failures"),
            signin_lockout_window_seconds: int(map, "signin_lockout_window_seconds"),
            signin_lockout_duration_seconds: int(map, "signin_lockout_duration_seconds"),
            rate_limit_app_requests: int(map, "rate_limit_app_requests"),
            rate_limit_tenant_requests: int(map, "rate_limit_tenant_requests"),
            rate_limit_window_seconds: int(map, "rate_limit_window_seconds"),
            access_token_signing_key_dynamic: boolean(map, "access_token_signing_key_dynamic"),
            access_token_signing_algorithm: string(map, "access_token_signing_algorithm")
                .unwrap_or_else(|| "RS256".into()),
            access_token_blacklisting: boolean(map, "access_token_blacklisting"),
            access_token_validity_jitter: float(map, "access_token_validity_jitter"),
            refresh_token_rotation_grace_period_ms: int(map, "refresh_token_rotation_grace_period") * 1000,
            recent_token_reuse_unauthorised: string(map, "recent_token_reuse_behaviour")
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("UNAUTHORISED")),
            api_keys,
            saas_secret: string(map, "supertokens_saas_secret").map(|s| s.trim().to_string()),
            password_hashing_alg,
            bcrypt_log_rounds: int(map, "bcrypt_log_rounds") as u32,
            argon2_iterations: at_least_one("argon2_iterations"),
            argon2_memory_kb: at_least_one("argon2_memory_kb"),
            argon2_parallelism: at_least_one("argon2_parallelism"),
            argon2_hashing_pool_size: at_least_one("argon2_hashing_pool_size") as usize,
            firebase_password_hashing_signer_key: string(map, "firebase_password_hashing_signer_key"),
            firebase_password_hashing_pool_size: at_least_one("firebase_password_hashing_pool_size") as usize,
            supertokens_max_cdi_version: string(map, "supertokens_max_cdi_version"),
            supertokens_min_cdi_version: string(map, "supertokens_min_cdi_version"),
            disable_telemetry: boolean(map, "disable_telemetry"),
            ip_allow_regex: string(map, "ip_allow_regex").filter(|p| !p.is_empty()),
            ip_deny_regex: string(map, "ip_deny_regex").filter(|p| !p.is_empty()),
            values: map.clone(),
        })
    }

    /// A raw value (default applied), for keys without a typed field.
    pub fn value(&self, key: &str) -> Value {
        get(&self.values, key)
    }

    pub fn string(&self, key: &str) -> Option<String> {
        string(&self.values, key)
    }

    pub fn int(&self, key: &str) -> i64 {
        int(&self.values, key)
    }

    /// Whether a PostgreSQL database is configured (else the in-memory store is used).
    pub fn uses_postgres(&self) -> bool {
        ["postgresql_connection_uri", "postgresql_user", "postgresql_password"]
            .iter()
            .any(|k| string(&self.values, k).is_some())
    }

    pub fn map(&self) -> &ConfigMap {
        &self.values
    }
}

/// `[0-9]+(\.[0-9]+)*`
pub fn is_version(v: &str) -> bool {
    !v.is_empty() && v.split('.').all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Check the mandatory version keys of `config.yaml`.
pub fn check_required(map: &ConfigMap) -> Result<(), ConfigError> {
    if map.get("core_config_version").map(Value::is_null).unwrap_or(true) {
        return Err(ConfigError::Other(
            "'core_config_version' is not set in the config.yaml file. Please redownload and install SuperTokens"
                .into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strings_and_numbers_are_both_accepted() {
        let spec = keys::spec("access_token_validity").unwrap();
        assert_eq!(coerce(spec, &json!("7200")).unwrap(), json!(7200));
        // IP patterns: trimmed, empty is unset, one that does not compile is refused (in the
        // base config too, where it stops the start).
        let ip = keys::spec("ip_deny_regex").unwrap();
        assert_eq!(coerce(ip, &json!(" 10\\..* ")).unwrap(), json!("10\\..*"));
        assert_eq!(coerce(ip, &json!(" ")).unwrap(), json!(""), "no filter, overriding a parent's");
        let e = coerce(ip, &json!("(10")).unwrap_err().to_string();
        assert_eq!(e, "Provided regular expression is invalid for ip_deny_regex config");
        assert_eq!(coerce(spec, &json!(7200)).unwrap(), json!(7200));
        assert!(coerce(spec, &json!("abc")).is_err());
        assert!(coerce(spec, &json!(0)).is_err());
        let b = keys::spec("access_token_signing_key_dynamic").unwrap();
        assert_eq!(coerce(b, &json!("false")).unwrap(), json!(false));
    }

    #[test]
    fn error_names_key_value_and_allowed() {
        let err = parse_yaml("core_config_version: 0\nport: 99999\n").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("port") && text.contains("99999") && text.contains("between"), "{text}");
        let err = parse_yaml("log_level: LOUD\n").unwrap_err().to_string();
        assert!(err.contains("DEBUG"), "{err}");
    }

    #[test]
    fn defaults_and_units() {
        let cfg = CoreConfig::from_map(&parse_yaml("core_config_version: 0").unwrap(), false).unwrap();
        assert_eq!(cfg.port, 3567);
        assert_eq!(cfg.access_token_validity_s, 3600);
        assert_eq!(cfg.refresh_token_validity_ms, 144_000 * 60_000);
        assert_eq!(cfg.signing_key_update_interval_ms, 168 * 3_600_000);
        assert!(!cfg.uses_postgres());
    }

    #[test]
    fn api_keys_are_validated() {
        let saas = |secret: &str| {
            let map =
                parse_yaml(&format!("api_keys: {}\nsupertokens_saas_secret: '{secret}'", "k".repeat(30))).unwrap();
            CoreConfig::from_map(&map, false).map(|c| c.saas_secret)
        };
        assert_eq!(saas(&format!(" {} ", "s".repeat(40))).unwrap(), Some("s".repeat(40)), "trimmed");
        assert!(saas(&"s".repeat(39)).is_err(), "too short");
        assert!(saas(&format!("{}!", "s".repeat(40))).is_err(), "only = - and alphanumerics");
        let map = parse_yaml("api_keys: short").unwrap();
        assert!(CoreConfig::from_map(&map, false).unwrap_err().to_string().contains("api_keys"));
        let map = parse_yaml("api_keys: 'bbbbbbbbbbbbbbbbbbbbbbbb, aaaaaaaaaaaaaaaaaaaaaaaa'").unwrap();
        let cfg = CoreConfig::from_map(&map, false).unwrap();
        assert_eq!(cfg.api_keys.len(), 2);
        assert!(cfg.api_keys[0].starts_with('a'));
        // As the reference: an empty value, an empty part or a space inside a key is an
        // error, never an open core; a trailing comma is dropped (Java's `split`).
        let key = "k".repeat(24);
        for bad in
            ["''", "'null'", &format!("'{key},,{key}'"), &format!("'{key}, ,{key}'"), "'kkkkkkkkkk kkkkkkkkkkkk'"]
        {
            let map = parse_yaml(&format!("api_keys: {bad}")).unwrap();
            assert!(CoreConfig::from_map(&map, false).is_err(), "{bad}");
        }
        let e = CoreConfig::from_map(&parse_yaml("api_keys: ''").unwrap(), false).unwrap_err().to_string();
        assert!(e.contains("One of the API keys is too short"), "{e}");
        let cfg = CoreConfig::from_map(&parse_yaml(&format!("api_keys: '{key},'")).unwrap(), false).unwrap();
        assert_eq!(cfg.api_keys, vec![key.clone()]);
        let map = parse_yaml(&format!("api_keys: '{key}'")).unwrap();
        let mut env_map = map.clone();
        let e = apply_env(&mut env_map, &|n: &str| (n == "API_KEYS").then(|| "null".to_string()));
        assert!(e.is_err(), "API_KEYS=null stops the start (never an open core)");
    }

    #[test]
    fn legacy_interval_name_cdi_versions_and_argon2_rules() {
        let cfg = |yaml: &str| CoreConfig::from_map(&parse_yaml(yaml).unwrap(), false);
        let c = cfg("access_token_signing_key_update_interval: 24").unwrap();
        assert_eq!(c.signing_key_update_interval_ms, 24 * 3_600_000, "the pre-4.0 name is an alias");
        let c =
            cfg("access_token_signing_key_update_interval: 24\naccess_token_dynamic_signing_key_update_interval: 48")
                .unwrap();
        assert_eq!(c.signing_key_update_interval_ms, 48 * 3_600_000, "the current name wins");
        assert!(cfg("access_token_signing_key_update_interval: 0.5").is_err());

        assert!(cfg("supertokens_max_cdi_version: '5.4'").is_ok());
        assert!(cfg("supertokens_max_cdi_version: '2.7'").is_ok());
        let e = cfg("supertokens_max_cdi_version: '4.1'").unwrap_err().to_string();
        assert_eq!(e, "supertokens_max_cdi_version is not a supported version");
        let e = cfg("supertokens_max_cdi_version: '5.4.0'").unwrap_err().to_string();
        assert_eq!(e, "supertokens_max_cdi_version is not a supported version", "an exact match, as the reference");
        assert!(cfg("supertokens_min_cdi_version: '3.0'\nsupertokens_max_cdi_version: '3.0'").is_ok());
        let e = cfg("supertokens_min_cdi_version: '4.0'\nsupertokens_max_cdi_version: '3.1'").unwrap_err().to_string();
        assert_eq!(e, "supertokens_min_cdi_version cannot be greater than supertokens_max_cdi_version");
        let e = cfg("supertokens_min_cdi_version: 'x'").unwrap_err().to_string();
        assert_eq!(e, "supertokens_min_cdi_version is not a valid semantic version");

        // With bcrypt, argon2 settings are not checked, and pools have at least one thread.
        let c = cfg("argon2_hashing_pool_size: 20\nmax_server_pool_size: 10\nfirebase_password_hashing_pool_size: 0\nargon2_iterations: 0")
            .unwrap();
        assert_eq!((c.firebase_password_hashing_pool_size, c.argon2_iterations), (1, 1));
        let e =
            cfg("password_hashing_alg: ARGON2\nargon2_hashing_pool_size: 20\nmax_server_pool_size: 10").unwrap_err();
        assert!(e.to_string().contains("argon2_hashing_pool_size"), "{e}");
        assert!(cfg("password_hashing_alg: ARGON2\nargon2_iterations: 0").is_err());
    }

    #[test]
    fn access_token_signing_algorithm_values() {
        let cfg = |yaml: &str| CoreConfig::from_map(&parse_yaml(yaml).unwrap(), false);
        assert_eq!(cfg("host: localhost").unwrap().access_token_signing_algorithm, "RS256");
        assert_eq!(cfg("access_token_signing_algorithm: ES256").unwrap().access_token_signing_algorithm, "ES256");
        assert_eq!(cfg("access_token_signing_algorithm: EdDSA").unwrap().access_token_signing_algorithm, "EDDSA");
        assert!(parse_yaml("access_token_signing_algorithm: HS256").is_err());
        assert!(parse_yaml("access_token_signing_algorithm: none").is_err());
    }

    #[test]
    fn test_mode_relaxes_rotation_interval() {
        let map = parse_yaml("access_token_dynamic_signing_key_update_interval: 0.0004").unwrap();
        assert!(CoreConfig::from_map(&map, false).is_err());
        assert!(CoreConfig::from_map(&map, true).is_ok());
    }

    #[test]
    fn env_overrides_and_unquotes() {
        let mut map = parse_yaml("port: 1234").unwrap();
        let env = |name: &str| match name {
            "SUPERTOKENS_PORT" => Some("\"4321\"".to_string()),
            "API_KEYS" => Some(String::new()),
            _ => None,
        };
        apply_env(&mut map, &env).unwrap();
        assert_eq!(map["port"], json!(4321));
        assert!(!map.contains_key("api_keys"));
        // As the reference: booleans are Java's `parseBoolean`; only quoted values are
        // unescaped, and nothing is trimmed.
        let mut map = ConfigMap::new();
        let env = |name: &str| match name {
            "DISABLE_TELEMETRY" => Some("1".to_string()),
            "POSTGRESQL_PASSWORD" => Some(" a\\tb ".to_string()),
            "POSTGRESQL_USER" => Some("\"x\\ty\"".to_string()),
            "ACCESS_TOKEN_SIGNING_KEY_DYNAMIC" => Some("TRUE".to_string()),
            _ => None,
        };
        apply_env(&mut map, &env).unwrap();
        assert_eq!(map["disable_telemetry"], json!(false));
        assert_eq!(map["access_token_signing_key_dynamic"], json!(true));
        assert_eq!(map["postgresql_password"], json!(" a\\tb "));
        assert_eq!(map["postgresql_user"], json!("x\ty"));
        // `null` is refused (it used to mean unset; the reference takes it as text), except
        // for the log paths, where it is the terminal; so is a YAML null there.
        let mut map = ConfigMap::new();
        let e = apply_env(&mut map, &|n: &str| (n == "POSTGRESQL_TABLE_SCHEMA").then(|| "null".to_string()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("POSTGRESQL_TABLE_SCHEMA") && e.contains("remove it"), "{e}");
        apply_env(&mut map, &|n: &str| (n == "INFO_LOG_PATH").then(|| "null".to_string())).unwrap();
        assert_eq!(map["info_log_path"], json!("null"));
        assert_eq!(parse_yaml("error_log_path: null").unwrap()["error_log_path"], json!("null"));
    }

    #[test]
    fn secret_values_are_never_shown_in_errors() {
        let e = CoreConfig::from_map(&parse_yaml("api_keys: 'hunter2hunter2hunter2,,x'").unwrap(), false)
            .unwrap_err()
            .to_string();
        assert!(!e.contains("hunter2") && e.contains("<redacted>"), "{e}");
        let e = validate_core_config_update(json!({"api_keys": ["hunter2"]}).as_object().unwrap()).unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }

    #[test]
    fn layering_most_specific_first() {
        let base = parse_yaml("access_token_validity: 100").unwrap();
        let tenant = validate_core_config_update(json!({"access_token_validity": "200"}).as_object().unwrap()).unwrap();
        let eff = layered(&[&tenant, &base]);
        assert_eq!(eff["access_token_validity"], json!(200));
        assert!(validate_core_config_update(json!({"port": 1}).as_object().unwrap()).is_err());
        assert!(validate_core_config_update(json!({"nope": 1}).as_object().unwrap()).is_err());
    }

    #[test]
    fn base_path_normalisation() {
        assert_eq!(normalise_base_path("a//b/").unwrap(), "/a/b");
        assert_eq!(normalise_base_path("/").unwrap(), "");
        assert!(normalise_base_path("a b").is_err());
    }
}
