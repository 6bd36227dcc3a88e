//! [`TableNames`]: the names of the tables (schema, prefix, deprecated overrides applied), from
//! which each recipe module builds its statement texts once, when the storage is constructed
//! (see `Statements` in the crate root). Statements are prepared per connection through
//! deadpool's statement cache (`prepare_cached`), keyed by their text.

use crate::config::PgConfig;

/// Fully qualified names of the tables this crate touches.
#[derive(Debug, Clone)]
pub struct TableNames {
    pub schema: String,
    pub prefix: String,
    overrides: Vec<(String, String)>,
    pub apps: String,
    pub tenants: String,
    pub tenant_configs: String,
    pub tenant_first_factors: String,
    pub tenant_required_secondary_factors: String,
    pub key_value: String,
    pub session_info: String,
    pub session_access_token_signing_keys: String,
    pub jwt_signing_keys: String,
    pub user_last_active: String,
    pub activity_log: String,
    /// refinery's history table: `<schema>.<prefix>refinery_schema_history`.
    pub migration_history: String,
}

impl TableNames {
    pub fn new(cfg: &PgConfig) -> TableNames {
        let mut t = TableNames {
            schema: cfg.schema.clone(),
            prefix: cfg.table_prefix.clone(),
            overrides: cfg.table_overrides.clone(),
            apps: String::new(),
            tenants: String::new(),
            tenant_configs: String::new(),
            tenant_first_factors: String::new(),
            tenant_required_secondary_factors: String::new(),
            key_value: String::new(),
            session_info: String::new(),
            session_access_token_signing_keys: String::new(),
            jwt_signing_keys: String::new(),
            user_last_active: String::new(),
            activity_log: String::new(),
            migration_history: String::new(),
        };
        t.apps = t.qualified("apps");
        t.tenants = t.qualified("tenants");
        t.tenant_configs = t.qualified("tenant_configs");
        t.tenant_first_factors = t.qualified("tenant_first_factors");
        t.tenant_required_secondary_factors = t.qualified("tenant_required_secondary_factors");
        t.key_value = t.qualified("key_value");
        t.session_info = t.qualified("session_info");
        t.session_access_token_signing_keys = t.qualified("session_access_token_signing_keys");
        t.jwt_signing_keys = t.qualified("jwt_signing_keys");
        t.user_last_active = t.qualified("user_last_active");
        t.activity_log = t.qualified("activity_log");
        t.migration_history = t.qualified("refinery_schema_history");
        t
    }

    /// The unqualified name of a table (prefix or deprecated override applied).
    pub fn bare(&self, table: &str) -> String {
        match self.overrides.iter().find(|(default, _)| default == table) {
            Some((_, custom)) => custom.clone(),
            None => format!("{}{table}", self.prefix),
        }
    }

    /// `<schema>.<bare name>`.
    pub fn qualified(&self, table: &str) -> String {
        format!("{}.{}", self.schema, self.bare(table))
    }

    /// Deprecated overrides: (default table name, configured name).
    pub fn overrides(&self) -> &[(String, String)] {
        &self.overrides
    }
}
