//! The table of every configuration key the server understands: its type, default, level and
//! environment variable. Everything else in this crate (parsing, env overrides, validation,
//! per-app/tenant layering) is driven by this table, so adding a key is one line here.

/// Where a key may be set. `Base` keys can only come from `config.yaml`/environment/CLI;
/// `App` keys may be set per app (and must agree across that app's tenants); `Tenant` keys
/// may differ per tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Base,
    App,
    Tenant,
}

/// The value type of a key, with its allowed range.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Int { min: i64, max: i64 },
    Float { min: f64, max: f64 },
    Bool,
    Str,
    Enum(&'static [&'static str]),
}

/// Default value of a key.
#[derive(Debug, Clone, Copy)]
pub enum Dv {
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(&'static str),
    Null,
}

#[derive(Debug, Clone, Copy)]
pub struct KeySpec {
    pub name: &'static str,
    pub kind: Kind,
    pub default: Dv,
    pub level: Level,
    pub env: Option<&'static str>,
    /// Whether the key belongs to the PostgreSQL storage (these may not differ between
    /// tenants: this server serves one user pool).
    pub database: bool,
}

const fn k(name: &'static str, kind: Kind, default: Dv, level: Level, env: Option<&'static str>) -> KeySpec {
    KeySpec { name, kind, default, level, env, database: false }
}

const fn db(name: &'static str, kind: Kind, default: Dv, env: Option<&'static str>) -> KeySpec {
    KeySpec { name, kind, default, level: Level::Base, env, database: true }
}

const POS: Kind = Kind::Int { min: 1, max: i64::MAX };
const ANY_INT: Kind = Kind::Int { min: i64::MIN, max: i64::MAX };
const PORT: Kind = Kind::Int { min: 1, max: 65535 };
const VERSION: Kind = Kind::Int { min: 0, max: i64::MAX };
const NON_NEG: Kind = Kind::Int { min: 0, max: i64::MAX };
/// Seconds, from 1 to a day.
const UP_TO_A_DAY: Kind = Kind::Int { min: 1, max: 86_400 };

use Dv as D;
use Level::{App, Base, Tenant};

/// Every key of the reference core (`CoreConfig`) and of its PostgreSQL plugin.
pub const KEYS: &[KeySpec] = &[
    k("core_config_version", VERSION, D::Null, Base, None),
    k("port", PORT, D::Int(3567), Base, Some("SUPERTOKENS_PORT")),
    k("host", Kind::Str, D::Str("localhost"), Base, Some("SUPERTOKENS_HOST")),
    k("base_path", Kind::Str, D::Str(""), Base, Some("BASE_PATH")),
    k("max_server_pool_size", POS, D::Int(10), Base, Some("MAX_SERVER_POOL_SIZE")),
    k("info_log_path", Kind::Str, D::Null, Base, Some("INFO_LOG_PATH")),
    k("error_log_path", Kind::Str, D::Null, Base, Some("ERROR_LOG_PATH")),
    k("log_level", Kind::Enum(&["DEBUG", "INFO", "WARN", "ERROR", "NONE"]), D::Str("INFO"), Base, Some("LOG_LEVEL")),
    k("access_token_validity", Kind::Int { min: 1, max: 86_400_000 }, D::Int(3600), App, Some("ACCESS_TOKEN_VALIDITY")),
    k(
        "refresh_token_validity",
        Kind::Float { min: 0.0, max: f64::MAX },
        D::Float(144_000.0),
        App,
        Some("REFRESH_TOKEN_VALIDITY"),
    ),
    k(
        "access_token_dynamic_signing_key_update_interval",
        Kind::Float { min: 0.0, max: f64::MAX },
        D::Float(168.0),
        App,
        Some("ACCESS_TOKEN_DYNAMIC_SIGNING_KEY_UPDATE_INTERVAL"),
    ),
    k("access_token_signing_key_dynamic", Kind::Bool, D::Bool(true), App, Some("ACCESS_TOKEN_SIGNING_KEY_DYNAMIC")),
    // Ours (issue 26): the algorithm of new access tokens and of `/recipe/jwt`. "EdDSA" is
    // accepted in any case, as every enum value.
    k(
        "access_token_signing_algorithm",
        Kind::Enum(&["RS256", "ES256", "EDDSA"]),
        D::Str("RS256"),
        App,
        Some("ACCESS_TOKEN_SIGNING_ALGORITHM"),
    ),
    k("access_token_signing_key_update_interval", Kind::Float { min: 0.0, max: f64::MAX }, D::Float(168.0), App, None),
    k("access_token_blacklisting", Kind::Bool, D::Bool(false), App, Some("ACCESS_TOKEN_BLACKLISTING")),
    k(
        "access_token_validity_jitter",
        Kind::Float { min: 0.0, max: 0.25 },
        D::Float(0.05),
        App,
        Some("ACCESS_TOKEN_VALIDITY_JITTER"),
    ),
    k(
        "refresh_token_rotation_grace_period",
        Kind::Int { min: 0, max: 300 },
        D::Int(30),
        App,
        Some("REFRESH_TOKEN_ROTATION_GRACE_PERIOD"),
    ),
    k(
        "recent_token_reuse_behaviour",
        Kind::Enum(&["TOKEN_THEFT", "UNAUTHORISED"]),
        D::Str("TOKEN_THEFT"),
        Base,
        Some("RECENT_TOKEN_REUSE_BEHAVIOUR"),
    ),
    k("password_reset_token_lifetime", POS, D::Int(3_600_000), Tenant, Some("PASSWORD_RESET_TOKEN_LIFETIME")),
    k("email_verification_token_lifetime", POS, D::Int(86_400_000), Tenant, Some("EMAIL_VERIFICATION_TOKEN_LIFETIME")),
    k("passwordless_max_code_input_attempts", POS, D::Int(5), Tenant, Some("PASSWORDLESS_MAX_CODE_INPUT_ATTEMPTS")),
    k("passwordless_code_lifetime", POS, D::Int(900_000), Tenant, Some("PASSWORDLESS_CODE_LIFETIME")),
    k("totp_max_attempts", POS, D::Int(5), Tenant, Some("TOTP_MAX_ATTEMPTS")),
    k("totp_rate_limit_cooldown_sec", POS, D::Int(900), Tenant, Some("TOTP_RATE_LIMIT_COOLDOWN_SEC")),
    k("api_keys", Kind::Str, D::Null, App, Some("API_KEYS")),
    k("disable_telemetry", Kind::Bool, D::Bool(false), App, Some("DISABLE_TELEMETRY")),
    k("password_hashing_alg", Kind::Enum(&["BCRYPT", "ARGON2"]), D::Str("BCRYPT"), App, Some("PASSWORD_HASHING_ALG")),
    k("bcrypt_log_rounds", Kind::Int { min: 1, max: 31 }, D::Int(11), Base, Some("BCRYPT_LOG_ROUNDS")),
    k("argon2_iterations", ANY_INT, D::Int(1), Base, Some("ARGON2_ITERATIONS")),
    k("argon2_memory_kb", ANY_INT, D::Int(87_795), Base, Some("ARGON2_MEMORY_KB")),
    k("argon2_parallelism", ANY_INT, D::Int(2), Base, Some("ARGON2_PARALLELISM")),
    k("argon2_hashing_pool_size", ANY_INT, D::Int(1), Base, Some("ARGON2_HASHING_POOL_SIZE")),
    k("firebase_password_hashing_signer_key", Kind::Str, D::Null, App, Some("FIREBASE_PASSWORD_HASHING_SIGNER_KEY")),
    // Ours (issue 25): sign-in lockout per (tenant, e-mail); 0 failures = off (README).
    k("signin_lockout_max_failures", NON_NEG, D::Int(0), Tenant, Some("SIGNIN_LOCKOUT_MAX_FAILURES")),
    k("signin_lockout_window_seconds", POS, D::Int(900), Tenant, Some("SIGNIN_LOCKOUT_WINDOW_SECONDS")),
    k("signin_lockout_duration_seconds", POS, D::Int(900), Tenant, Some("SIGNIN_LOCKOUT_DURATION_SECONDS")),
    // Ours (issue 25): request rate limits per app (all its tenants) and per tenant, in fixed
    // windows; 0 = off (README, docs/COMPATIBILITY.md "Request rate limits").
    k("rate_limit_app_requests", NON_NEG, D::Int(0), App, Some("RATE_LIMIT_APP_REQUESTS")),
    k("rate_limit_tenant_requests", NON_NEG, D::Int(0), Tenant, Some("RATE_LIMIT_TENANT_REQUESTS")),
    k("rate_limit_window_seconds", UP_TO_A_DAY, D::Int(1), App, Some("RATE_LIMIT_WINDOW_SECONDS")),
    k("firebase_password_hashing_pool_size", ANY_INT, D::Int(1), Base, Some("FIREBASE_PASSWORD_HASHING_POOL_SIZE")),
    k("ip_allow_regex", Kind::Str, D::Null, Tenant, Some("IP_ALLOW_REGEX")),
    k("ip_deny_regex", Kind::Str, D::Null, Tenant, Some("IP_DENY_REGEX")),
    k("supertokens_saas_secret", Kind::Str, D::Null, Base, Some("SUPERTOKENS_SAAS_SECRET")),
    k("supertokens_saas_load_only_cud", Kind::Str, D::Null, Base, Some("SUPERTOKENS_SAAS_LOAD_ONLY_CUD")),
    k("supertokens_max_cdi_version", Kind::Str, D::Null, App, Some("SUPERTOKENS_MAX_CDI_VERSION")),
    k("supertokens_min_cdi_version", Kind::Str, D::Null, App, Some("SUPERTOKENS_MIN_CDI_VERSION")),
    k("oauth_provider_public_service_url", Kind::Str, D::Null, App, Some("OAUTH_PROVIDER_PUBLIC_SERVICE_URL")),
    k("oauth_provider_admin_service_url", Kind::Str, D::Null, App, Some("OAUTH_PROVIDER_ADMIN_SERVICE_URL")),
    k("oauth_provider_consent_login_base_url", Kind::Str, D::Null, App, Some("OAUTH_PROVIDER_CONSENT_LOGIN_BASE_URL")),
    k(
        "oauth_provider_url_configured_in_oauth_provider",
        Kind::Str,
        D::Null,
        App,
        Some("OAUTH_PROVIDER_URL_CONFIGURED_IN_OAUTH_PROVIDER"),
    ),
    k("oauth_client_secret_encryption_key", Kind::Str, D::Null, Base, Some("OAUTH_CLIENT_SECRET_ENCRYPTION_KEY")),
    k("saml_legacy_acs_url", Kind::Str, D::Null, App, Some("SAML_LEGACY_ACS_URL")),
    k("saml_sp_entity_id", Kind::Str, D::Str("https://saml.supertokens.com"), Tenant, Some("SAML_SP_ENTITY_ID")),
    k("saml_claims_validity", POS, D::Int(300_000), Tenant, Some("SAML_CLAIMS_VALIDITY")),
    k("saml_relay_state_validity", POS, D::Int(300_000), Tenant, Some("SAML_RELAY_STATE_VALIDITY")),
    k("bulk_migration_parallelism", POS, D::Int(2), App, Some("BULK_MIGRATION_PARALLELISM")),
    k("bulk_migration_batch_size", POS, D::Int(8000), App, Some("BULK_MIGRATION_BATCH_SIZE")),
    k("bulk_migration_sleep_between_rounds_in_batch_ms", ANY_INT, D::Int(1000), App, None),
    k(
        "webauthn_recover_account_token_lifetime",
        POS,
        D::Int(3_600_000),
        App,
        Some("WEBAUTHN_RECOVER_ACCOUNT_TOKEN_LIFETIME"),
    ),
    k("otel_collector_connection_uri", Kind::Str, D::Null, Base, Some("OTEL_COLLECTOR_CONNECTION_URI")),
    k("deadlock_logger_enable", Kind::Bool, D::Bool(false), Base, Some("DEADLOCK_LOGGER_ENABLE")),
    k("webserver_https_enabled", Kind::Bool, D::Bool(false), Base, None),
    // Our own additions (documented in the README).
    k("log_format", Kind::Enum(&["TEXT", "JSON"]), D::Str("TEXT"), Base, Some("LOG_FORMAT")),
    k("metrics_port", PORT, D::Null, Base, Some("METRICS_PORT")),
    k("max_request_body_bytes", POS, D::Int(10 * 1024 * 1024), Base, Some("MAX_REQUEST_BODY_BYTES")),
    // PostgreSQL plugin keys.
    db("postgresql_config_version", VERSION, D::Null, None),
    db("postgresql_connection_uri", Kind::Str, D::Null, Some("POSTGRESQL_CONNECTION_URI")),
    db("postgresql_host", Kind::Str, D::Str("localhost"), Some("POSTGRESQL_HOST")),
    db("postgresql_port", PORT, D::Int(5432), Some("POSTGRESQL_PORT")),
    db("postgresql_user", Kind::Str, D::Null, Some("POSTGRESQL_USER")),
    db("postgresql_password", Kind::Str, D::Null, Some("POSTGRESQL_PASSWORD")),
    db("postgresql_database_name", Kind::Str, D::Str("supertokens"), Some("POSTGRESQL_DATABASE_NAME")),
    db("postgresql_table_schema", Kind::Str, D::Str("public"), Some("POSTGRESQL_TABLE_SCHEMA")),
    db("postgresql_table_names_prefix", Kind::Str, D::Str(""), Some("POSTGRESQL_TABLE_NAMES_PREFIX")),
    db("postgresql_key_value_table_name", Kind::Str, D::Null, Some("POSTGRESQL_KEY_VALUE_TABLE_NAME")),
    db("postgresql_session_info_table_name", Kind::Str, D::Null, Some("POSTGRESQL_SESSION_INFO_TABLE_NAME")),
    db(
        "postgresql_emailpassword_users_table_name",
        Kind::Str,
        D::Null,
        Some("POSTGRESQL_EMAILPASSWORD_USERS_TABLE_NAME"),
    ),
    db(
        "postgresql_emailpassword_pswd_reset_tokens_table_name",
        Kind::Str,
        D::Null,
        Some("POSTGRESQL_EMAILPASSWORD_PSWD_RESET_TOKENS_TABLE_NAME"),
    ),
    db(
        "postgresql_emailverification_tokens_table_name",
        Kind::Str,
        D::Null,
        Some("POSTGRESQL_EMAILVERIFICATION_TOKENS_TABLE_NAME"),
    ),
    db(
        "postgresql_emailverification_verified_emails_table_name",
        Kind::Str,
        D::Null,
        Some("POSTGRESQL_EMAILVERIFICATION_VERIFIED_EMAILS_TABLE_NAME"),
    ),
    db("postgresql_thirdparty_users_table_name", Kind::Str, D::Null, Some("POSTGRESQL_THIRDPARTY_USERS_TABLE_NAME")),
    db("postgresql_connection_pool_size", POS, D::Int(10), Some("POSTGRESQL_CONNECTION_POOL_SIZE")),
    db(
        "postgresql_idle_connection_timeout",
        Kind::Int { min: 0, max: i64::MAX },
        D::Int(60_000),
        Some("POSTGRESQL_IDLE_CONNECTION_TIMEOUT"),
    ),
    db("postgresql_connection_attributes", Kind::Str, D::Null, Some("POSTGRESQL_CONNECTION_ATTRIBUTES")),
    db("postgresql_connection_scheme", Kind::Str, D::Str("postgresql"), Some("POSTGRESQL_CONNECTION_SCHEME")),
    db(
        "postgresql_minimum_idle_connections",
        Kind::Int { min: 0, max: i64::MAX },
        D::Null,
        Some("POSTGRESQL_MINIMUM_IDLE_CONNECTIONS"),
    ),
    // Bounded waits on the database (our additions, documented in the README).
    db("postgresql_connection_timeout", POS, D::Int(5_000), Some("POSTGRESQL_CONNECTION_TIMEOUT")),
    db("postgresql_statement_timeout", NON_NEG, D::Int(0), Some("POSTGRESQL_STATEMENT_TIMEOUT")),
    db("postgresql_request_timeout", NON_NEG, D::Int(30_000), Some("POSTGRESQL_REQUEST_TIMEOUT")),
    db("postgresql_max_connection_waiters", NON_NEG, D::Null, Some("POSTGRESQL_MAX_CONNECTION_WAITERS")),
    db(
        "migration_mode",
        Kind::Enum(&["LEGACY", "DUAL_WRITE_READ_OLD", "DUAL_WRITE_READ_NEW", "MIGRATED"]),
        D::Str("LEGACY"),
        Some("SUPERTOKENS_MIGRATION_MODE"),
    ),
];

pub fn spec(name: &str) -> Option<&'static KeySpec> {
    KEYS.iter().find(|s| s.name == name)
}
