//! `GET /<tenant>/recipe/dashboard/tenant/core-config`: the tenant's configuration as the
//! dashboard shows it, with the reference's metadata for every key (its
//! `CoreConfig.getConfigFieldsInfoForDashboard` and, on PostgreSQL, its plugin's
//! `PostgreSQLConfig.getConfigFieldsInfoForDashboard`).
//!
//! Shown: the keys an app or tenant may set (`config.yaml`-only keys, the ones the reference
//! hides from the dashboard and the deprecated ones are not), each with its value in the
//! tenant's effective config, its Java type (`number`, `string`, `boolean`, or `enum` with its
//! possible values), its description, whether it may differ between the tenants of an app,
//! its default and whether that is `null`; then, on PostgreSQL, the plugin's keys (table
//! names left out) with the values the plugin would derive from this server's configuration.
//! The order is the reference's: it walks `HashSet`s of the field names (128 buckets for the
//! core's 58 fields, 32 for the plugin's 24), so the tables below are in those sets' iteration
//! order, which the unit tests check against Java's `String.hashCode`. Every key of
//! `st_config::keys` is either listed here or named, with the reason, in [`HIDDEN`].

use crate::core::Core;
use crate::error::CoreResult;
use crate::ids::{java_trim, TenantIdentifier};
use serde_json::{Map, Value};
use st_config::keys::Dv;
use st_config::CoreConfig;

mod fields;

pub use fields::HIDDEN;
use fields::{CoreField, Int, Long, Str, CORE_FIELDS, PLUGIN_FIELDS, PLUGIN_PROTECTED};

/// One key as the dashboard shows it (the reference's `ConfigFieldInfo`).
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigFieldInfo {
    pub key: &'static str,
    /// `number`, `string`, `boolean` or `enum`.
    pub value_type: &'static str,
    /// The tenant's value (`null` when unset and without default).
    pub value: Value,
    pub description: &'static str,
    /// Whether the tenants of one app may have different values (the key is not app-level).
    pub is_different_across_tenants: bool,
    /// The values an `enum` key takes.
    pub possible_values: Option<&'static [&'static str]>,
    /// Whether the default is `null`.
    pub is_nullable: bool,
    pub default_value: Value,
    /// Whether the key is the storage plugin's.
    pub is_plugin_property: bool,
    /// Whether the plugin lets the key be changed per tenant (connection-pool keys).
    pub is_plugin_property_editable: bool,
}

fn dv(d: Dv) -> Value {
    match d {
        Dv::Int(i) => Value::from(i),
        Dv::Float(f) => Value::from(f),
        Dv::Bool(b) => Value::Bool(b),
        Dv::Str(s) => Value::String(s.to_string()),
        Dv::Null => Value::Null,
    }
}

/// A core key's default as the reference shows it (its field's initial value): this server's
/// default, except `saml_sp_entity_id`, whose field starts `null` and gets its URL when the
/// config is normalised. (`bulk_migration_parallelism` starts at the number of processors in
/// the reference; it is this server's default here, as its value is.)
fn core_default(f: &CoreField) -> Value {
    if f.key == "saml_sp_entity_id" {
        return Value::Null;
    }
    f.ty.typed(&st_config::keys::spec(f.key).map_or(Value::Null, |s| dv(s.default)))
}

/// A core key's value in the tenant's effective config, as the reference's normalised config
/// holds it.
fn core_value(cfg: &CoreConfig, f: &CoreField) -> Value {
    let set = |k: &str| cfg.map().get(k).filter(|v| !v.is_null()).cloned();
    let raw = match f.key {
        // The pre-4.0 name is an alias (the current name wins).
        "access_token_dynamic_signing_key_update_interval" => {
            set(f.key).or_else(|| set("access_token_signing_key_update_interval")).unwrap_or_else(|| cfg.value(f.key))
        }
        _ => cfg.value(f.key),
    };
    let v = f.ty.typed(&raw);
    match (f.key, &v) {
        // Trimmed; empty means unset.
        ("ip_allow_regex" | "ip_deny_regex", Value::String(s)) => {
            let t = java_trim(s);
            if t.is_empty() {
                Value::Null
            } else {
                Value::String(t.to_string())
            }
        }
        _ => v,
    }
}

/// A plugin key's default as the reference shows it (the plugin's defaults, normalised).
fn plugin_default(key: &str) -> Value {
    match key {
        "postgresql_connection_pool_size" => Value::from(10),
        "postgresql_host" => Value::from("localhost"),
        "postgresql_port" => Value::from(5432),
        "postgresql_database_name" => Value::from("supertokens"),
        "postgresql_table_names_prefix" => Value::from(""),
        "postgresql_table_schema" => Value::from("public"),
        "postgresql_connection_attributes" => Value::from("allowPublicKeyRetrieval=true"),
        "postgresql_connection_scheme" => Value::from("postgresql"),
        "postgresql_idle_connection_timeout" => Value::from(60_000),
        "migration_mode" => Value::from("LEGACY"),
        _ => Value::Null,
    }
}

/// Percent-decoding, as `java.net.URI`'s getters decode their component.
fn uri_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The parts of a connection URI the plugin reads (`java.net.URI`'s getters, for the
/// hierarchical `scheme://[userinfo@]host[:port][/path][?query]` form; an opaque one has a
/// scheme only).
#[derive(Debug, Default, PartialEq, Eq)]
struct UriParts {
    scheme: Option<String>,
    user_info: Option<String>,
    host: Option<String>,
    port: Option<i64>,
    path: Option<String>,
    query: Option<String>,
}

fn uri_parts(uri: &str) -> UriParts {
    let uri = uri.split('#').next().unwrap_or_default();
    let Some((scheme, rest)) = uri.split_once("://") else {
        let scheme = uri.split_once(':').map(|(s, _)| s.to_string());
        return UriParts { scheme, ..UriParts::default() };
    };
    let (before_query, query) = match rest.split_once('?') {
        Some((b, q)) => (b, Some(uri_decode(q))),
        None => (rest, None),
    };
    let (authority, path) = match before_query.find('/') {
        Some(i) => (&before_query[..i], Some(uri_decode(&before_query[i..]))),
        None => (before_query, Some(String::new())),
    };
    let (user_info, host_port) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(uri_decode(u)), h),
        None => (None, authority),
    };
    let (host, port) = if let Some(end) = host_port.strip_prefix('[').and_then(|h| h.find(']')) {
        let port = host_port[end + 2..].strip_prefix(':');
        (Some(host_port[..end + 2].to_string()), port)
    } else {
        match host_port.rsplit_once(':') {
            Some((h, p)) => (Some(h.to_string()), Some(p)),
            None => (Some(host_port.to_string()), None),
        }
    };
    // A registry authority (several hosts, bad port) has no host for `java.net.URI`.
    let port = port.map(|p| p.parse::<i64>().ok());
    let valid = host.as_deref().is_some_and(|h| !h.is_empty() && !h.contains(',')) && !matches!(port, Some(None));
    UriParts {
        scheme: Some(scheme.to_string()),
        user_info,
        host: host.filter(|_| valid),
        port: port.flatten().filter(|_| valid),
        path,
        query,
    }
}

/// The plugin's values as it would normalise this server's configuration (its
/// `validateAndNormalise`: the connection URI's parts win over the separate keys).
fn plugin_values(base: &Map<String, Value>) -> Map<String, Value> {
    let set = |k: &str| base.get(k).filter(|v| !v.is_null()).cloned();
    let string = |k: &str| set(k).map(|v| Str.typed(&v)).and_then(|v| v.as_str().map(str::to_string));
    let mut host = string("postgresql_host");
    let mut port = set("postgresql_port").and_then(|v| Int.typed(&v).as_i64()).unwrap_or(-1);
    let mut user = string("postgresql_user");
    let mut password = string("postgresql_password");
    let mut database = string("postgresql_database_name");
    let mut schema = string("postgresql_table_schema").unwrap_or_else(|| "public".into());
    let mut attributes =
        string("postgresql_connection_attributes").unwrap_or_else(|| "allowPublicKeyRetrieval=true".into());
    let mut scheme = string("postgresql_connection_scheme").unwrap_or_else(|| "postgresql".into());
    let uri = string("postgresql_connection_uri");
    if let Some(uri) = &uri {
        let parts = uri_parts(uri);
        if let Some(q) = parts.query {
            attributes =
                if q.contains("allowPublicKeyRetrieval=") { q } else { format!("{q}&allowPublicKeyRetrieval=true") };
        }
        if let Some((_, after)) = attributes.split_once("currentSchema=") {
            schema = java_trim(after.split('&').next().unwrap_or_default()).to_string();
        }
        if let Some(h) = parts.host {
            host = Some(h);
        }
        if let Some(p) = parts.port.filter(|p| *p > 0) {
            port = p;
        }
        if let Some(s) = parts.scheme.filter(|s| Some(s) != host.as_ref()) {
            scheme = s;
        }
        if let Some(info) = parts.user_info {
            let mut split = info.split(':');
            if let Some(u) = split.next().filter(|u| !u.is_empty()) {
                user = Some(u.to_string());
            }
            if let Some(p) = split.next().filter(|p| !p.is_empty()) {
                password = Some(p.to_string());
            }
        }
        if let Some(path) = parts.path.filter(|p| !p.is_empty() && p != "/") {
            database = Some(path.strip_prefix('/').unwrap_or(&path).to_string());
        }
    }
    let prefix = java_trim(&string("postgresql_table_names_prefix").unwrap_or_default()).to_string();
    let prefix = if prefix.is_empty() { prefix } else { format!("{prefix}_") };
    let mut out = Map::new();
    let mut put = |k: &str, v: Value| {
        out.insert(k.to_string(), v);
    };
    let opt = |s: Option<String>| s.map_or(Value::Null, Value::String);
    put(
        "postgresql_connection_pool_size",
        set("postgresql_connection_pool_size").map_or(Value::from(10), |v| Int.typed(&v)),
    );
    put("postgresql_host", Value::String(host.unwrap_or_else(|| "localhost".into())));
    put("postgresql_port", Value::from(if port < 0 { 5432 } else { port }));
    put("postgresql_user", opt(user));
    put("postgresql_password", opt(password));
    put(
        "postgresql_database_name",
        Value::String(java_trim(&database.unwrap_or_else(|| "supertokens".into())).to_string()),
    );
    put("postgresql_table_names_prefix", Value::String(prefix));
    put("postgresql_table_schema", Value::String(java_trim(&schema).to_string()));
    put("postgresql_connection_uri", opt(uri));
    put("postgresql_connection_attributes", Value::String(attributes));
    put("postgresql_connection_scheme", Value::String(java_trim(&scheme).to_string()));
    put(
        "postgresql_idle_connection_timeout",
        set("postgresql_idle_connection_timeout").map_or(Value::from(60_000), |v| Long.typed(&v)),
    );
    put(
        "postgresql_minimum_idle_connections",
        set("postgresql_minimum_idle_connections").map_or(Value::Null, |v| Int.typed(&v)),
    );
    put(
        "migration_mode",
        Value::String(string("migration_mode").map_or_else(|| "LEGACY".into(), |m| m.to_uppercase())),
    );
    out
}

impl Core {
    /// `GET /<tenant>/recipe/dashboard/tenant/core-config`: the core's keys, then (on
    /// PostgreSQL) the plugin's; with `protect` (a SaaS secret is set and the request did not
    /// present it) without the protected ones.
    pub async fn dashboard_core_config(
        &self,
        tenant: &TenantIdentifier,
        protect: bool,
    ) -> CoreResult<Vec<ConfigFieldInfo>> {
        let entry = self.tenant(tenant).await?;
        let cfg = &entry.config;
        let mut fields: Vec<ConfigFieldInfo> = CORE_FIELDS
            .iter()
            .map(|f| {
                let default_value = core_default(f);
                ConfigFieldInfo {
                    key: f.key,
                    value_type: if f.possible_values.is_some() { "enum" } else { f.ty.value_type() },
                    value: core_value(cfg, f),
                    description: f.description,
                    is_different_across_tenants: !f.same_in_app,
                    possible_values: f.possible_values,
                    is_nullable: default_value.is_null(),
                    default_value,
                    is_plugin_property: false,
                    is_plugin_property_editable: false,
                }
            })
            .collect();
        if self.storage.kind() == "postgresql" {
            let mut values = plugin_values(&self.base_map);
            fields.extend(PLUGIN_FIELDS.iter().map(|f| {
                let default_value = plugin_default(f.key);
                ConfigFieldInfo {
                    key: f.key,
                    value_type: f.ty.value_type(),
                    value: values.remove(f.key).unwrap_or(Value::Null),
                    description: f.description,
                    is_different_across_tenants: true,
                    possible_values: None,
                    is_nullable: default_value.is_null(),
                    default_value,
                    is_plugin_property: true,
                    is_plugin_property_editable: f.editable,
                }
            }));
        }
        if protect {
            fields.retain(|f| !st_config::PROTECTED_CONFIGS.contains(&f.key) && !PLUGIN_PROTECTED.contains(&f.key));
        }
        Ok(fields)
    }
}

#[cfg(test)]
mod tests {
    use super::fields::Double;
    use super::*;
    use serde_json::json;

    /// Java's `String.hashCode`.
    fn java_hash(s: &str) -> i32 {
        s.encode_utf16().fold(0i32, |h, u| h.wrapping_mul(31).wrapping_add(i32::from(u)))
    }

    /// The bucket of a `HashMap` of `capacity` buckets (its `hash` spreads the high bits).
    fn bucket(s: &str, capacity: u32) -> u32 {
        let h = java_hash(s) as u32;
        (h ^ (h >> 16)) & (capacity - 1)
    }

    /// The tables are in `HashSet` iteration order: buckets ascending (ties keep the fields'
    /// declaration order, which these tables do not hold, so only the buckets are checked).
    #[test]
    fn tables_are_in_the_reference_hash_set_order() {
        let core: Vec<u32> = CORE_FIELDS.iter().map(|f| bucket(f.key, 128)).collect();
        assert!(core.windows(2).all(|w| w[0] <= w[1]), "{core:?}");
        let plugin: Vec<u32> = PLUGIN_FIELDS.iter().map(|f| bucket(f.key, 32)).collect();
        assert!(plugin.windows(2).all(|w| w[0] <= w[1]), "{plugin:?}");
        assert_eq!(
            java_hash("access_token_validity"),
            "access_token_validity".encode_utf16().fold(0i32, |h, u| h.wrapping_mul(31).wrapping_add(u as i32))
        );
    }

    /// Every key this server knows is shown or hidden, once.
    #[test]
    fn every_key_is_shown_or_hidden_once() {
        let mut seen: Vec<&str> = CORE_FIELDS.iter().map(|f| f.key).collect();
        seen.extend(PLUGIN_FIELDS.iter().map(|f| f.key));
        seen.extend(HIDDEN.iter().map(|(k, _)| *k));
        let mut sorted = seen.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), seen.len(), "a key is listed twice");
        let mut known: Vec<&str> = st_config::keys::KEYS.iter().map(|s| s.name).collect();
        known.sort_unstable();
        assert_eq!(sorted, known);
        assert_eq!(CORE_FIELDS.len(), 23);
        assert_eq!(PLUGIN_FIELDS.len(), 14);
        // Shown core keys may be set per app or tenant; app-level ones are the same in an app.
        for f in CORE_FIELDS {
            let spec = st_config::keys::spec(f.key).unwrap();
            assert_ne!(spec.level, st_config::keys::Level::Base, "{}", f.key);
            assert_eq!(spec.level == st_config::keys::Level::App, f.same_in_app, "{}", f.key);
        }
    }

    #[test]
    fn defaults_and_types_as_the_reference_writes_them() {
        let f = |k: &str| CORE_FIELDS.iter().find(|f| f.key == k).unwrap();
        assert_eq!(core_default(f("access_token_validity")).to_string(), "3600");
        assert_eq!(core_default(f("refresh_token_validity")).to_string(), "144000.0");
        assert_eq!(core_default(f("access_token_dynamic_signing_key_update_interval")).to_string(), "168.0");
        assert_eq!(core_default(f("access_token_validity_jitter")).to_string(), "0.05");
        assert_eq!(core_default(f("saml_sp_entity_id")), Value::Null);
        assert_eq!(core_default(f("firebase_password_hashing_signer_key")), Value::Null);
        assert_eq!(core_default(f("password_hashing_alg")), json!("BCRYPT"));
        assert_eq!(core_default(f("disable_telemetry")), json!(false));
        assert_eq!(Long.typed(&json!(3600.0)), json!(3600));
        assert_eq!(Double.typed(&json!(60)).to_string(), "60.0");
        assert_eq!(Str.typed(&json!(12)), json!("12"));
    }

    #[test]
    fn plugin_values_from_the_uri_win() {
        let map = |v: Value| v.as_object().unwrap().clone();
        let v = plugin_values(&map(json!({
            "postgresql_connection_uri": "postgresql://u%40x:p%3Aw@db.example:6543/st?currentSchema=tenant1&sslmode=require",
            "postgresql_host": "other",
            "postgresql_user": "nobody",
            "postgresql_table_names_prefix": " pre ",
            "migration_mode": "dual_write_read_old",
        })));
        assert_eq!(v["postgresql_host"], "db.example");
        assert_eq!(v["postgresql_port"], 6543);
        assert_eq!(v["postgresql_user"], "u@x");
        // The plugin splits the decoded user info at each ':'.
        assert_eq!(v["postgresql_password"], "p");
        assert_eq!(v["postgresql_database_name"], "st");
        assert_eq!(v["postgresql_table_schema"], "tenant1");
        assert_eq!(
            v["postgresql_connection_attributes"],
            "currentSchema=tenant1&sslmode=require&allowPublicKeyRetrieval=true"
        );
        assert_eq!(v["postgresql_connection_scheme"], "postgresql");
        assert_eq!(v["postgresql_table_names_prefix"], "pre_");
        assert_eq!(v["migration_mode"], "DUAL_WRITE_READ_OLD");
        assert_eq!(v["postgresql_connection_pool_size"], 10);
        assert_eq!(v["postgresql_minimum_idle_connections"], Value::Null);
        let v = plugin_values(&map(json!({"postgresql_user": "me", "postgresql_port": 5433})));
        assert_eq!(v["postgresql_host"], "localhost");
        assert_eq!(v["postgresql_port"], 5433);
        assert_eq!(v["postgresql_user"], "me");
        assert_eq!(v["postgresql_password"], Value::Null);
        assert_eq!(v["postgresql_database_name"], "supertokens");
        assert_eq!(v["postgresql_table_schema"], "public");
        assert_eq!(v["postgresql_table_names_prefix"], "");
        assert_eq!(v["postgresql_connection_uri"], Value::Null);
        assert_eq!(v["migration_mode"], "LEGACY");
        for f in PLUGIN_FIELDS {
            assert!(v.contains_key(f.key), "{}", f.key);
        }
    }
}
