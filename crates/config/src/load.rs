//! Reading values: one value normalised for its key, `config.yaml`, the Docker image's
//! environment variables, the layering of maps, and the check of a `coreConfig` update.

use crate::keys::{self, Dv as Dflt, KeySpec, Kind, Level, KEYS};
use crate::{ConfigError, ConfigMap};
use serde_json::{Map, Value};
use std::path::Path;

/// Normalise one value for `spec`: JSON strings holding numbers/booleans are accepted (the SDKs
/// send both `"7200"` and `7200`), range-checked, enums upper-cased.
pub fn coerce(spec: &KeySpec, value: &Value) -> Result<Value, ConfigError> {
    if value.is_null() {
        return Ok(Value::Null);
    }
    let as_text = match value {
        Value::String(s) => s.trim().to_string(),
        other => other.to_string(),
    };
    match spec.kind {
        Kind::Int { min, max } => {
            let n = match value {
                Value::Number(n) => n.as_i64().or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
                Value::String(_) => as_text.parse::<i64>().ok(),
                _ => None,
            };
            match n {
                Some(n) if n >= min && n <= max => Ok(Value::from(n)),
                _ => Err(ConfigError::invalid(spec.name, value, range_text("an integer", min as f64, max as f64))),
            }
        }
        Kind::Float { min, max } => {
            let n = match value {
                Value::Number(n) => n.as_f64(),
                Value::String(_) => as_text.parse::<f64>().ok().filter(|f| f.is_finite()),
                _ => None,
            };
            match n {
                Some(n) if n >= min && n <= max => Ok(Value::from(n)),
                _ => Err(ConfigError::invalid(spec.name, value, range_text("a number", min, max))),
            }
        }
        Kind::Bool => match value {
            Value::Bool(b) => Ok(Value::Bool(*b)),
            Value::String(_) if as_text.eq_ignore_ascii_case("true") => Ok(Value::Bool(true)),
            Value::String(_) if as_text.eq_ignore_ascii_case("false") => Ok(Value::Bool(false)),
            _ => Err(ConfigError::invalid(spec.name, value, "true or false")),
        },
        Kind::Str if matches!(spec.name, "ip_allow_regex" | "ip_deny_regex") => ip_pattern(spec.name, value),
        Kind::Str => match value {
            Value::String(s) => Ok(Value::String(s.clone())),
            Value::Number(_) | Value::Bool(_) => Ok(Value::String(as_text)),
            _ => Err(ConfigError::invalid(spec.name, value, "a string")),
        },
        Kind::Enum(options) => {
            let upper = as_text.to_ascii_uppercase();
            if matches!(value, Value::String(_)) && options.contains(&upper.as_str()) {
                Ok(Value::String(upper))
            } else {
                Err(ConfigError::invalid(spec.name, value, format!("one of {}", options.join(", "))))
            }
        }
    }
}

/// Java's `String.trim()`, which the reference applies to its inputs: it strips the characters
/// up to U+0020 at both ends (control characters included), and keeps other Unicode spaces
/// such as U+00A0, which Rust's `str::trim` would strip.
pub fn java_trim(s: &str) -> &str {
    s.trim_matches(|c: char| c <= ' ')
}

/// `ip_allow_regex` / `ip_deny_regex`, as the reference reads them: trimmed, empty means no
/// filter (kept as `""`, so that a tenant's empty value overrides its app's pattern, as the
/// reference layers the raw value and trims it afterwards), and a pattern that does not compile
/// is refused (in the base config it stops the start; per
/// app or tenant it is a 400), rather than stored to refuse every request later. The server
/// matches the whole address, so the pattern is checked in that anchored form. (Rust's regex
/// syntax has no look-around, which Java's has: such a pattern is refused here.)
fn ip_pattern(name: &str, value: &Value) -> Result<Value, ConfigError> {
    let raw = match value {
        Value::String(s) => s.clone(),
        Value::Number(_) | Value::Bool(_) => value.to_string(),
        _ => return Err(ConfigError::invalid(name, value, "a string")),
    };
    let pattern = java_trim(&raw);
    if pattern.is_empty() {
        return Ok(Value::String(String::new()));
    }
    match regex::Regex::new(&format!("^(?:{pattern})$")) {
        Ok(_) => Ok(Value::String(pattern.to_string())),
        Err(_) => Err(ConfigError::Other(format!("Provided regular expression is invalid for {name} config"))),
    }
}

fn range_text(what: &str, min: f64, max: f64) -> String {
    let big = 1e15;
    match (min > -big, max < big) {
        (true, true) => format!("{what} between {min} and {max}"),
        (true, false) => format!("{what} >= {min}"),
        (false, true) => format!("{what} <= {max}"),
        (false, false) => what.to_string(),
    }
}

pub(crate) fn default_value(spec: &KeySpec) -> Value {
    match spec.default {
        Dflt::Int(i) => Value::from(i),
        Dflt::Float(f) => Value::from(f),
        Dflt::Bool(b) => Value::Bool(b),
        Dflt::Str(s) => Value::String(s.to_string()),
        Dflt::Null => Value::Null,
    }
}

/// Parse `config.yaml` text into a normalised map. Unknown keys are ignored (as the reference
/// does); known keys with bad values are errors. `null`/`"null"` for log paths mean stdout.
pub fn parse_yaml(text: &str) -> Result<ConfigMap, ConfigError> {
    let raw: Value = if text.trim().is_empty() {
        Value::Object(Map::new())
    } else {
        serde_yaml::from_str(text).map_err(|e| ConfigError::Other(format!("config.yaml is not valid YAML: {e}")))?
    };
    let obj = match raw {
        Value::Object(o) => o,
        Value::Null => Map::new(),
        _ => return Err(ConfigError::Other("config.yaml must be a mapping of keys to values".into())),
    };
    let mut out = Map::new();
    for (key, value) in obj {
        if let Some(spec) = keys::spec(&key) {
            // `info_log_path: null` (unquoted, as config.yaml's comment shows) is the terminal,
            // as the reference, also for a daemonised start; an absent key is the default.
            let value = match (key.as_str(), value) {
                ("info_log_path" | "error_log_path", Value::Null) => Value::String("null".into()),
                (_, v) => v,
            };
            out.insert(key, coerce(spec, &value)?);
        }
    }
    Ok(out)
}

/// Read `config.yaml` from `path`.
pub fn load_file(path: &Path) -> Result<ConfigMap, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::Other(format!("cannot read config file {}: {e}", path.display())))?;
    parse_yaml(&text)
}

/// An environment value as the reference reads it: a value in double quotes loses them and
/// has `\n`, `\t`, `\r`, `\"`, `\'` and `\\` unescaped; any other value is taken as it is
/// (not trimmed, backslashes kept), so a password with a backslash survives.
fn unquote_env(v: &str) -> String {
    if !(v.len() >= 2 && v.starts_with('"') && v.ends_with('"')) {
        return v.to_string();
    }
    // The reference's chain of `replace` calls, in its order (so `\\n` gives a backslash and a
    // newline there, and here).
    v[1..v.len() - 1]
        .replace("\\n", "\n")
        .replace("\\t", "\t")
        .replace("\\r", "\r")
        .replace("\\\"", "\"")
        .replace("\\'", "'")
        .replace("\\\\", "\\")
}

/// Apply environment overrides (non-empty variables only) on top of `map`.
pub fn apply_env(map: &mut ConfigMap, env: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
    for spec in KEYS {
        let Some(name) = spec.env else { continue };
        let Some(raw) = env(name) else { continue };
        if raw.is_empty() {
            continue;
        }
        let value = unquote_env(&raw);
        // `null` meant "unset" here before; the reference takes it as text (a schema or prefix
        // named "null", an API key "null"). Neither is what anyone means: refuse it, except for
        // the log paths, where `null` is the terminal.
        if value == "null" && !matches!(spec.name, "info_log_path" | "error_log_path") {
            return Err(ConfigError::Other(format!(
                "environment variable {name} is \"null\": remove it to leave {} unset",
                spec.name
            )));
        }
        // As Java's `Boolean.parseBoolean`: only "true" (any case) is true, anything else false.
        let json = match spec.kind {
            Kind::Bool => Value::Bool(value.eq_ignore_ascii_case("true")),
            _ => Value::String(value),
        };
        map.insert(spec.name.to_string(), coerce(spec, &json)?);
    }
    // Docker secret convention: POSTGRESQL_PASSWORD_FILE holds the path of a file.
    if let Some(path) = env("POSTGRESQL_PASSWORD_FILE").filter(|p| !p.is_empty()) {
        let pw = std::fs::read_to_string(&path)
            .map_err(|e| ConfigError::Other(format!("cannot read POSTGRESQL_PASSWORD_FILE {path}: {e}")))?;
        map.insert("postgresql_password".into(), Value::String(pw.trim_end_matches(['\n', '\r']).to_string()));
    }
    Ok(())
}

/// Layer maps: the first map that defines a key wins (most specific first).
pub fn layered(layers: &[&ConfigMap]) -> ConfigMap {
    let mut out = Map::new();
    for layer in layers.iter().rev() {
        for (k, v) in layer.iter() {
            out.insert(k.clone(), v.clone());
        }
    }
    out
}

/// Validate and normalise a `coreConfig` object sent through the multitenancy APIs.
/// `is_base_tenant`: the (default CUD, public app, public tenant) may not get a coreConfig.
pub fn validate_core_config_update(core_config: &Map<String, Value>) -> Result<ConfigMap, ConfigError> {
    let mut out = Map::new();
    for (key, value) in core_config {
        let Some(spec) = keys::spec(key) else {
            return Err(ConfigError::Other(format!("Invalid core config: Invalid config key: {key}")));
        };
        if spec.database {
            return Err(ConfigError::Other(format!(
                "Invalid core config: {key} cannot be set per app or tenant: this server serves a single database"
            )));
        }
        if spec.level == Level::Base {
            return Err(ConfigError::Other(format!(
                "Invalid core config: {key} can only be set via the core's base config setting"
            )));
        }
        let v = coerce(spec, value).map_err(|e| ConfigError::Other(format!("Invalid core config: {e}")))?;
        if !v.is_null() {
            out.insert(key.clone(), v);
        }
    }
    Ok(out)
}
