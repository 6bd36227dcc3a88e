//! The metadata tables of the dashboard's core-config view: the core's keys and the PostgreSQL
//! plugin's, each in the reference's order, the plugin's protected keys, and the keys not shown.

use crate::ids::java_trim;
use serde_json::Value;

/// The Java type of a field, which decides its `valueType` and how numbers are written
/// (`long` 3600, `double` 144000.0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum JavaType {
    Int,
    Long,
    Double,
    Str,
    Bool,
}

pub(super) use JavaType::{Bool, Double, Int, Long, Str};

impl JavaType {
    pub(super) fn value_type(self) -> &'static str {
        match self {
            Int | Long | Double => "number",
            Str => "string",
            Bool => "boolean",
        }
    }

    /// A configuration value written as the Java field holding it would be.
    pub(super) fn typed(self, v: &Value) -> Value {
        match (self, v) {
            (_, Value::Null) => Value::Null,
            (Int | Long, Value::Number(n)) => {
                n.as_i64().map_or_else(|| Value::from(n.as_f64().unwrap_or(0.0) as i64), Value::from)
            }
            (Int | Long, Value::String(s)) => java_trim(s).parse::<i64>().map_or(Value::Null, Value::from),
            (Double, Value::Number(n)) => n.as_f64().map_or(Value::Null, Value::from),
            (Double, Value::String(s)) => java_trim(s).parse::<f64>().map_or(Value::Null, Value::from),
            (Str, Value::String(_)) => v.clone(),
            (Str, other) => Value::String(other.to_string()),
            (Bool, Value::Bool(_)) => v.clone(),
            (Bool, Value::String(s)) => Value::Bool(s.eq_ignore_ascii_case("true")),
            _ => Value::Null,
        }
    }
}

/// A key of the core's config shown to the dashboard.
pub(super) struct CoreField {
    pub(super) key: &'static str,
    pub(super) ty: JavaType,
    /// The reference's `@NotConflictingInApp`.
    pub(super) same_in_app: bool,
    /// The reference's `@EnumProperty`.
    pub(super) possible_values: Option<&'static [&'static str]>,
    /// The reference's `@ConfigDescription`.
    pub(super) description: &'static str,
}

/// The core's keys the dashboard shows, in the reference's order.
pub(super) const CORE_FIELDS: &[CoreField] = &[
    CoreField {
        key: "passwordless_code_lifetime",
        ty: Long,
        same_in_app: false,
        possible_values: None,
        description: "Time in milliseconds for how long a passwordless code is valid for. [Default: 900000 (15 mins)]",
    },
    CoreField {
        key: "firebase_password_hashing_signer_key",
        ty: Str,
        same_in_app: true,
        possible_values: None,
        description: "The signer key used for firebase scrypt password hashing. (Default: null)",
    },
    CoreField {
        key: "totp_max_attempts",
        ty: Int,
        same_in_app: false,
        possible_values: None,
        description: "The maximum number of invalid TOTP attempts that will trigger rate limiting. (Default: 5)",
    },
    CoreField {
        key: "saml_sp_entity_id",
        ty: Str,
        same_in_app: false,
        possible_values: None,
        description: "Service provider's entity ID",
    },
    CoreField {
        key: "access_token_dynamic_signing_key_update_interval",
        ty: Double,
        same_in_app: true,
        possible_values: None,
        description: "Time in hours for how frequently the dynamic signing key will change. [Default: 168 (1 week)]",
    },
    CoreField {
        key: "bulk_migration_sleep_between_rounds_in_batch_ms",
        ty: Int,
        same_in_app: true,
        possible_values: None,
        description: "If specified, the bulk migration will wait between rounds. To disable it, set it to null. (Default: 1000)",
    },
    CoreField {
        key: "refresh_token_rotation_grace_period",
        ty: Int,
        same_in_app: true,
        possible_values: None,
        description: "Time in seconds for how long the previously active refresh token remains accepted after a rotation. [Default: 30]",
    },
    CoreField {
        key: "access_token_validity_jitter",
        ty: Double,
        same_in_app: true,
        possible_values: None,
        description: "Fraction between 0 and 0.25 by which access token validity is randomly shortened at issuance. Applied subtractively so the token expiry is never lengthened. Set to 0 to disable. [Default: 0.05]",
    },
    CoreField {
        key: "saml_relay_state_validity",
        ty: Long,
        same_in_app: false,
        possible_values: None,
        description: "Duration for which SAML relay state will be valid before it is consumed",
    },
    CoreField {
        key: "bulk_migration_batch_size",
        ty: Int,
        same_in_app: true,
        possible_values: None,
        description: "If specified, the supertokens core will load the specified number of users for migrating in one single batch. (Default: 8000)",
    },
    CoreField {
        key: "password_reset_token_lifetime",
        ty: Long,
        same_in_app: false,
        possible_values: None,
        description: "Time in milliseconds for how long a password reset token / link is valid for. [Default: 3600000 (1 hour)]",
    },
    CoreField {
        key: "access_token_validity",
        ty: Long,
        same_in_app: true,
        possible_values: None,
        description: "Time in seconds for how long an access token is valid for. [Default: 3600 (1 hour)]",
    },
    CoreField {
        key: "password_hashing_alg",
        ty: Str,
        same_in_app: true,
        possible_values: Some(&["ARGON2", "BCRYPT"]),
        description: "The password hashing algorithm to use. Values are \"ARGON2\" | \"BCRYPT\". (Default: BCRYPT)",
    },
    CoreField {
        key: "bulk_migration_parallelism",
        ty: Int,
        same_in_app: true,
        possible_values: None,
        description: "If specified, the supertokens core will use the specified number of threads to complete the migration of users. (Default: number of available processor cores).",
    },
    CoreField {
        key: "disable_telemetry",
        ty: Bool,
        same_in_app: true,
        possible_values: None,
        description: "Learn more about Telemetry here: https://github.com/supertokens/supertokens-core/wiki/Telemetry. (Default: false)",
    },
    CoreField {
        key: "email_verification_token_lifetime",
        ty: Long,
        same_in_app: false,
        possible_values: None,
        description: "Time in milliseconds for how long an email verification token / link is valid for. [Default: 24 * 3600 * 1000 (1 day)]",
    },
    CoreField {
        key: "ip_deny_regex",
        ty: Str,
        same_in_app: false,
        possible_values: None,
        description: "Regex for denying requests from IP addresses that match with the value. Comment this value to deny no IP address.",
    },
    CoreField {
        key: "ip_allow_regex",
        ty: Str,
        same_in_app: false,
        possible_values: None,
        description: "Regex for allowing requests from IP addresses that match with the value. For example, use the value of 127\\.\\d+\\.\\d+\\.\\d+|::1|0:0:0:0:0:0:0:1 to allow only localhost to query the core",
    },
    CoreField {
        key: "passwordless_max_code_input_attempts",
        ty: Int,
        same_in_app: false,
        possible_values: None,
        description: "The maximum number of code input attempts per login before the user needs to restart. (Default: 5)",
    },
    CoreField {
        key: "saml_claims_validity",
        ty: Long,
        same_in_app: false,
        possible_values: None,
        description: "Duration for which SAML claims will be valid before it is consumed",
    },
    CoreField {
        key: "refresh_token_validity",
        ty: Double,
        same_in_app: true,
        possible_values: None,
        description: "Time in mins for how long a refresh token is valid for. [Default: 60 * 2400 (100 days)]",
    },
    CoreField {
        key: "webauthn_recover_account_token_lifetime",
        ty: Long,
        same_in_app: true,
        possible_values: None,
        description: "Time in milliseconds for how long a webauthn account recovery token is valid for. [Default: 3600000 (1 hour)]",
    },
    CoreField {
        key: "totp_rate_limit_cooldown_sec",
        ty: Int,
        same_in_app: false,
        possible_values: None,
        description: "The time in seconds for which the user will be rate limited once totp_max_attempts is crossed. [Default: 900 (15 mins)]",
    },
];

/// A key of the PostgreSQL plugin's config shown to the dashboard.
pub(super) struct PluginField {
    pub(super) key: &'static str,
    pub(super) ty: JavaType,
    /// The plugin's `@DashboardInfo(isEditable)`.
    pub(super) editable: bool,
    /// The plugin's `@DashboardInfo(description)`.
    pub(super) description: &'static str,
}

/// The PostgreSQL plugin's keys the dashboard shows, in the reference's order.
pub(super) const PLUGIN_FIELDS: &[PluginField] = &[
    PluginField {
        key: "postgresql_table_schema",
        ty: Str,
        editable: false,
        description: "The schema for tables.",
    },
    PluginField {
        key: "postgresql_minimum_idle_connections",
        ty: Int,
        editable: true,
        description: "Minimum number of idle connections to be kept active. If not set, minimum idle connections will be same as the connection pool size.",
    },
    PluginField {
        key: "postgresql_connection_attributes",
        ty: Str,
        editable: false,
        description: "The connection attributes of the PostgreSQL database.",
    },
    PluginField {
        key: "postgresql_host",
        ty: Str,
        editable: false,
        description: "Specify the postgresql host url here. For example: - \"localhost\" - \"192.168.0.1\" - \"<IP to cloud instance>\" - \"example.com\"",
    },
    PluginField {
        key: "postgresql_connection_uri",
        ty: Str,
        editable: false,
        description: "Specify the PostgreSQL connection URI in the following format: postgresql://[user[:[password]]@]host[:port][/dbname][?attr1=val1&attr2=val2... Values provided via other configs will override values provided by this config.",
    },
    PluginField {
        key: "postgresql_connection_pool_size",
        ty: Int,
        editable: true,
        description: "Defines the connection pool size to PostgreSQL. Please see https://github.com/brettwooldridge/HikariCP/wiki/About-Pool-Sizing",
    },
    PluginField {
        key: "postgresql_port",
        ty: Int,
        editable: false,
        description: "Specify the port to use when connecting to PostgreSQL instance.",
    },
    PluginField {
        key: "migration_mode",
        ty: Str,
        editable: false,
        description: "Migration mode for all_auth_recipe_users table deprecation. Values: LEGACY, DUAL_WRITE_READ_OLD, DUAL_WRITE_READ_NEW, MIGRATED",
    },
    PluginField {
        key: "postgresql_connection_scheme",
        ty: Str,
        editable: false,
        description: "The scheme of the PostgreSQL database.",
    },
    PluginField {
        key: "postgresql_table_names_prefix",
        ty: Str,
        editable: false,
        description: "A prefix to add to all table names managed by SuperTokens. An \"_\" will be added between this prefix and the actual table name if the prefix is defined.",
    },
    PluginField {
        key: "postgresql_user",
        ty: Str,
        editable: false,
        description: "The PostgreSQL user to use to query the database. If the relevant tables are not already created by you, this user should have the ability to create new tables. To see the tables needed, visit: https://supertokens.com/docs/thirdpartyemailpassword/pre-built-ui/setup/database-setup/postgresql",
    },
    PluginField {
        key: "postgresql_idle_connection_timeout",
        ty: Long,
        editable: true,
        description: "Timeout in milliseconds for the idle connections to be closed.",
    },
    PluginField {
        key: "postgresql_password",
        ty: Str,
        editable: false,
        description: "Password for the PostgreSQL user. If you have not set a password make this an empty string.",
    },
    PluginField {
        key: "postgresql_database_name",
        ty: Str,
        editable: false,
        description: "The database name to store SuperTokens related data.",
    },
];

/// The plugin's keys hidden from a request that did not present the SaaS secret (its
/// `PROTECTED_DB_CONFIG`), beside the core's `st_config::PROTECTED_CONFIGS`.
pub(super) const PLUGIN_PROTECTED: [&str; 13] = [
    "postgresql_connection_pool_size",
    "postgresql_connection_uri",
    "postgresql_host",
    "postgresql_port",
    "postgresql_user",
    "postgresql_password",
    "postgresql_database_name",
    "postgresql_table_schema",
    "postgresql_idle_connection_timeout",
    "postgresql_minimum_idle_connections",
    "postgresql_connection_attributes",
    "postgresql_connection_scheme",
    "postgresql_table_names_prefix",
];

/// The keys of `st_config::keys` the dashboard is not shown, and why.
pub const HIDDEN: &[(&str, &str)] = &[
    ("core_config_version", "the version of the file"),
    ("port", "config.yaml only"),
    ("host", "config.yaml only"),
    ("base_path", "config.yaml only"),
    ("max_server_pool_size", "config.yaml only"),
    ("info_log_path", "config.yaml only"),
    ("error_log_path", "config.yaml only"),
    ("log_level", "config.yaml only"),
    ("recent_token_reuse_behaviour", "config.yaml only"),
    ("bcrypt_log_rounds", "config.yaml only"),
    ("argon2_iterations", "config.yaml only"),
    ("argon2_memory_kb", "config.yaml only"),
    ("argon2_parallelism", "config.yaml only"),
    ("argon2_hashing_pool_size", "config.yaml only"),
    ("firebase_password_hashing_pool_size", "config.yaml only"),
    ("supertokens_saas_secret", "config.yaml only"),
    ("supertokens_saas_load_only_cud", "config.yaml only"),
    ("otel_collector_connection_uri", "config.yaml only"),
    ("deadlock_logger_enable", "config.yaml only"),
    ("webserver_https_enabled", "config.yaml only"),
    ("oauth_client_secret_encryption_key", "config.yaml only, and hidden from the dashboard"),
    ("api_keys", "hidden from the dashboard (@HideFromDashboard)"),
    ("supertokens_max_cdi_version", "hidden from the dashboard (@HideFromDashboard)"),
    ("supertokens_min_cdi_version", "hidden from the dashboard (@HideFromDashboard)"),
    ("oauth_provider_public_service_url", "hidden from the dashboard (@HideFromDashboard)"),
    ("oauth_provider_admin_service_url", "hidden from the dashboard (@HideFromDashboard)"),
    ("oauth_provider_consent_login_base_url", "hidden from the dashboard (@HideFromDashboard)"),
    ("oauth_provider_url_configured_in_oauth_provider", "hidden from the dashboard (@HideFromDashboard)"),
    ("saml_legacy_acs_url", "hidden from the dashboard (@HideFromDashboard)"),
    ("access_token_blacklisting", "deprecated (its description says so)"),
    ("access_token_signing_key_dynamic", "deprecated (its description says so)"),
    ("access_token_signing_key_update_interval", "an alias of access_token_dynamic_signing_key_update_interval"),
    ("log_format", "this server's own, config.yaml only"),
    ("metrics_port", "this server's own, config.yaml only"),
    ("max_request_body_bytes", "this server's own, config.yaml only"),
    ("signin_lockout_max_failures", "this server's own (sign-in lockout, issue 25)"),
    ("signin_lockout_window_seconds", "this server's own (sign-in lockout, issue 25)"),
    ("signin_lockout_duration_seconds", "this server's own (sign-in lockout, issue 25)"),
    ("rate_limit_app_requests", "this server's own (request rate limits, issue 25)"),
    ("rate_limit_tenant_requests", "this server's own (request rate limits, issue 25)"),
    ("rate_limit_window_seconds", "this server's own (request rate limits, issue 25)"),
    ("access_token_signing_algorithm", "this server's own (EC access tokens, issue 26)"),
    ("postgresql_connection_timeout", "this server's own, config.yaml only"),
    ("postgresql_statement_timeout", "this server's own, config.yaml only"),
    ("postgresql_request_timeout", "this server's own, config.yaml only"),
    ("postgresql_max_connection_waiters", "this server's own, config.yaml only"),
    ("postgresql_config_version", "the version of the plugin's file"),
    ("postgresql_key_value_table_name", "a table name (the plugin shows none)"),
    ("postgresql_session_info_table_name", "a table name (the plugin shows none)"),
    ("postgresql_emailpassword_users_table_name", "a table name (the plugin shows none)"),
    ("postgresql_emailpassword_pswd_reset_tokens_table_name", "a table name (the plugin shows none)"),
    ("postgresql_emailverification_tokens_table_name", "a table name (the plugin shows none)"),
    ("postgresql_emailverification_verified_emails_table_name", "a table name (the plugin shows none)"),
    ("postgresql_thirdparty_users_table_name", "a table name (the plugin shows none)"),
];
