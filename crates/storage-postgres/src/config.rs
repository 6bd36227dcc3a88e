//! [`PgConfig`]: the PostgreSQL settings of `config.yaml` (`postgresql_*` keys), parsed and
//! validated once at start-up.
//!
//! Rules (they follow the Java plugin, `PostgreSQLConfig.java`):
//! * `postgresql_connection_uri` (`postgresql://` or `postgres://`, libpq syntax, multi-host
//!   allowed) wins over the separate keys; whatever the URI leaves out (user, password,
//!   database, host) is taken from `postgresql_user`, `postgresql_password`,
//!   `postgresql_database_name`, `postgresql_host`/`postgresql_port`.
//! * The JDBC-style `currentSchema=` query parameter is removed from the URI and used as the
//!   schema (it wins over `postgresql_table_schema`).
//! * `sslmode=` is also taken out of the URI and handled here: `disable`, `prefer` (the
//!   default, as in libpq and pgjdbc), `require` (encrypt, do not verify the certificate, as
//!   libpq does), `verify-ca` / `verify-full` (verify against `sslrootcert=<PEM file>` when
//!   given, else the Mozilla root set; `verify-full` also checks the host name).
//! * The URI's query string, or `postgresql_connection_attributes` when the URI has none (or
//!   there is no URI), is read as the Java plugin passes it to its JDBC driver: the driver's
//!   own options that have a libpq equivalent are translated (`ssl=true` → `sslmode=verify-full`,
//!   or `require` with `sslfactory=…NonValidatingFactory`; `ApplicationName`; `connectTimeout` /
//!   `loginTimeout`; `tcpKeepAlive`), and the other JDBC-only options (`prepareThreshold`,
//!   `socketTimeout`, `allowPublicKeyRetrieval`, …, see `JDBC_IGNORED`) are ignored with a
//!   warning that names them. Any other unknown name, and TLS options we cannot honour
//!   (`sslcert`, `sslkey`, …), still stop the start. `postgresql_connection_scheme` is accepted
//!   and not used (only PostgreSQL is served).
//! * `migration_mode` must be `LEGACY`: this server reads and writes the legacy user tables only.
//! * `postgresql_table_names_prefix`, when not blank, is trimmed and gets `_` appended.
//! * The seven deprecated `postgresql_*_table_name` keys replace a table name verbatim (no
//!   prefix, schema still applied).
//! * Every error names the key, the value (passwords masked) and what is allowed.

use st_config::{ConfigError, CoreConfig};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;
use tokio_postgres::config::SslMode;

const URI_KEY: &str = "postgresql_connection_uri";

const URI_ALLOWED: &str = "a URI like postgresql://[user[:password]@][host][:port][,host2[:port2]...][/database]\
[?param=value&...] (scheme postgresql:// or postgres://; parameters: currentSchema, sslmode \
(disable, prefer, require, verify-ca, verify-full), sslrootcert, target_session_attrs \
(any, read-write), connect_timeout, application_name, options, keepalives, keepalives_idle, \
load_balance_hosts, channel_binding, user, password, dbname, host, hostaddr, port; the JDBC options \
ssl, sslfactory, ApplicationName, connectTimeout, loginTimeout and tcpKeepAlive are translated, \
pgjdbc tuning options such as prepareThreshold or socketTimeout are ignored)";

/// How the connection is secured (libpq's `sslmode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain TCP.
    Disable,
    /// TLS if the server offers it, without certificate verification; else plain.
    Prefer,
    /// TLS or fail, without certificate verification.
    Require,
    /// TLS or fail; the certificate chain must verify (host name not checked).
    VerifyCa,
    /// TLS or fail; chain and host name must verify.
    VerifyFull,
}

impl TlsMode {
    fn parse(v: &str) -> Option<TlsMode> {
        Some(match v {
            "disable" => TlsMode::Disable,
            "allow" | "prefer" => TlsMode::Prefer,
            "require" => TlsMode::Require,
            "verify-ca" => TlsMode::VerifyCa,
            "verify-full" => TlsMode::VerifyFull,
            _ => return None,
        })
    }

    pub(crate) fn ssl_mode(self) -> SslMode {
        match self {
            TlsMode::Disable => SslMode::Disable,
            TlsMode::Prefer => SslMode::Prefer,
            TlsMode::Require | TlsMode::VerifyCa | TlsMode::VerifyFull => SslMode::Require,
        }
    }
}

/// The seven deprecated per-table name overrides: (config key, default table name).
pub(crate) const TABLE_NAME_KEYS: [(&str, &str); 7] = [
    ("postgresql_key_value_table_name", "key_value"),
    ("postgresql_session_info_table_name", "session_info"),
    ("postgresql_emailpassword_users_table_name", "emailpassword_users"),
    ("postgresql_emailpassword_pswd_reset_tokens_table_name", "emailpassword_pswd_reset_tokens"),
    ("postgresql_emailverification_tokens_table_name", "emailverification_tokens"),
    ("postgresql_emailverification_verified_emails_table_name", "emailverification_verified_emails"),
    ("postgresql_thirdparty_users_table_name", "thirdparty_users"),
];

/// Validated PostgreSQL settings.
#[derive(Debug, Clone)]
pub struct PgConfig {
    /// Connection parameters (hosts, user, password, database, timeouts, sslmode).
    pub pg: tokio_postgres::Config,
    /// TLS behaviour (the URI's `sslmode`).
    pub tls: TlsMode,
    /// `sslrootcert=` from the URI: PEM file of trusted roots for `verify-ca` / `verify-full`.
    pub ssl_root_cert: Option<PathBuf>,
    /// Schema of every table, lower case (unquoted identifiers fold to lower case).
    pub schema: String,
    /// Table-name prefix *including* its trailing `_`, or empty.
    pub table_prefix: String,
    /// Deprecated verbatim table names: (default table name, configured name).
    pub table_overrides: Vec<(String, String)>,
    /// `postgresql_connection_pool_size`.
    pub pool_size: usize,
    /// `postgresql_idle_connection_timeout`; zero: idle connections are never closed (as
    /// HikariCP's `idleTimeout = 0`).
    pub idle_timeout: Duration,
    /// `postgresql_minimum_idle_connections` (default: the pool size; more is refused).
    pub min_idle: usize,
    /// At start-up, while PostgreSQL refuses connections or is starting up, try again every
    /// `connect_retry` for up to `connect_wait` (the Java plugin: every 10 s for an hour), so
    /// a core started before its database waits instead of exiting.
    pub connect_wait: Duration,
    pub connect_retry: Duration,
    /// `postgresql_connection_timeout` (HikariCP's `connectionTimeout`, 5 s in the reference's
    /// plugin): the longest a call waits for a pooled connection, opening one included.
    pub connection_timeout: Duration,
    /// `postgresql_statement_timeout`: PostgreSQL's `statement_timeout` on the pool's
    /// connections (zero: the server's own setting).
    pub statement_timeout: Duration,
    /// `postgresql_request_timeout`: the client-side bound on a request's waits for the
    /// database (zero: none). A connection still held when it passes is discarded.
    pub request_timeout: Duration,
    /// `postgresql_max_connection_waiters` (default ten times the pool size; zero: no limit):
    /// beyond this many calls waiting for a connection, a call is refused at once.
    pub max_waiters: usize,
}

fn invalid(key: &str, value: &str, allowed: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_string(),
        value: serde_json::Value::String(value.to_string()).to_string(),
        allowed: allowed.into(),
    }
}

/// Whether `s` is a plain SQL identifier we can splice into statements unquoted.
fn is_identifier(s: &str) -> bool {
    let mut bytes = s.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_alphabetic() || b == b'_' => {}
        _ => return false,
    }
    s.len() <= 63 && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'$')
}

/// Mask the password of a connection URI (userinfo and `password=` parameters).
pub fn mask_uri(uri: &str) -> String {
    let (scheme, rest) = match uri.find("://") {
        Some(i) => (&uri[..i + 3], &uri[i + 3..]),
        None => ("", uri),
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            let hosts = &authority[at..];
            match userinfo.find(':') {
                Some(colon) => format!("{}:****{}", &userinfo[..colon], hosts),
                None => authority.to_string(),
            }
        }
        None => authority.to_string(),
    };
    let tail = match tail.find('?') {
        Some(q) => {
            let (path, query) = tail.split_at(q + 1);
            let masked: Vec<String> = query
                .split('&')
                .map(|p| match p.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=****"),
                    _ => p.to_string(),
                })
                .collect();
            format!("{path}{}", masked.join("&"))
        }
        None => tail.to_string(),
    };
    format!("{scheme}{authority}{tail}")
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(b) = hex {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What we take out of the query string before tokio-postgres parses the rest.
#[derive(Default)]
struct UriExtras {
    current_schema: Option<String>,
    sslmode: Option<String>,
    sslrootcert: Option<String>,
    /// JDBC `ssl=true`, and whether its `sslfactory` skips verification.
    jdbc_ssl: bool,
    jdbc_non_validating: bool,
    /// JDBC-only options that have no equivalent here (names only: values may be secrets).
    ignored: Vec<String>,
    /// TLS options this server cannot honour (client certificates, CRLs, …): refused, since
    /// dropping them would weaken the connection.
    unsupported_tls: Vec<String>,
}

/// pgjdbc options without a libpq equivalent that change nothing a server needs (statement
/// caching, fetch sizes, timeouts of its own, logging): ignored with a warning. Any other name
/// tokio-postgres does not know still fails the start (a typo such as `sslmod=` must not pass).
const JDBC_IGNORED: [&str; 30] = [
    "allowPublicKeyRetrieval",
    "prepareThreshold",
    "preparedStatementCacheQueries",
    "preparedStatementCacheSizeMiB",
    "defaultRowFetchSize",
    "socketTimeout",
    "cancelSignalTimeout",
    "stringtype",
    "reWriteBatchedInserts",
    "binaryTransfer",
    "binaryTransferEnable",
    "binaryTransferDisable",
    "readOnly",
    "readOnlyMode",
    "logUnclosedConnections",
    "assumeMinServerVersion",
    "targetServerType",
    "loadBalanceHosts",
    "hostRecheckSeconds",
    "sendBufferSize",
    "receiveBufferSize",
    "protocolVersion",
    "logServerErrorDetail",
    "autosave",
    "cleanupSavepoints",
    "escapeSyntaxCallMode",
    "quoteReturningIdentifiers",
    "adaptiveFetch",
    "maxResultBuffer",
    "tcpNoDelay",
];

/// The libpq / tokio-postgres parameter names, kept as they are.
const LIBPQ_PARAMS: [&str; 18] = [
    "user",
    "password",
    "dbname",
    "options",
    "application_name",
    "sslnegotiation",
    "host",
    "hostaddr",
    "port",
    "connect_timeout",
    "tcp_user_timeout",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_retries",
    "target_session_attrs",
    "channel_binding",
    "load_balance_hosts",
];

/// Split `query` (without `?`) into the parameters tokio-postgres takes, translated from the
/// JDBC names where there is an equivalent, and the ones we handle or ignore.
fn read_query(query: &str) -> (Vec<String>, UriExtras) {
    let mut extras = UriExtras::default();
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            _ if k.eq_ignore_ascii_case("currentSchema") => extras.current_schema = Some(percent_decode(v)),
            "sslmode" => extras.sslmode = Some(percent_decode(v)),
            "sslrootcert" => extras.sslrootcert = Some(percent_decode(v)),
            "ssl" => extras.jdbc_ssl = percent_decode(v).eq_ignore_ascii_case("true") || v.is_empty(),
            "sslfactory" => extras.jdbc_non_validating = percent_decode(v).ends_with("NonValidatingFactory"),
            "ApplicationName" => kept.push(format!("application_name={v}")),
            "connectTimeout" | "loginTimeout" => match percent_decode(v).trim().parse::<u64>() {
                Ok(secs) if secs > 0 => kept.push(format!("connect_timeout={secs}")),
                _ => extras.ignored.push(k.to_string()),
            },
            "tcpKeepAlive" => {
                let on = percent_decode(v).eq_ignore_ascii_case("true");
                kept.push(format!("keepalives={}", u8::from(on)));
            }
            _ if LIBPQ_PARAMS.contains(&k) => kept.push(pair.to_string()),
            _ if JDBC_IGNORED.contains(&k) => extras.ignored.push(k.to_string()),
            _ if k.to_ascii_lowercase().starts_with("ssl") => extras.unsupported_tls.push(k.to_string()),
            // Unknown: tokio-postgres refuses it, naming it.
            _ => kept.push(pair.to_string()),
        }
    }
    (kept, extras)
}

/// The URI without its query, the parameters tokio-postgres is to parse, and the rest.
fn strip_uri_params(uri: &str, attributes: Option<&str>) -> (String, UriExtras) {
    let (base, query) = match uri.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (uri, attributes),
    };
    let (kept, extras) = read_query(query.unwrap_or(""));
    if kept.is_empty() {
        (base.to_string(), extras)
    } else {
        (format!("{base}?{}", kept.join("&")), extras)
    }
}

impl PgConfig {
    /// Build from the effective base configuration.
    pub fn from_core_config(cfg: &CoreConfig) -> Result<PgConfig, ConfigError> {
        Self::from_lookup(&|key| cfg.string(key), &|key| cfg.int(key), &|key| cfg.value(key).is_null())
    }

    fn from_lookup(
        string: &dyn Fn(&str) -> Option<String>,
        int: &dyn Fn(&str) -> i64,
        is_null: &dyn Fn(&str) -> bool,
    ) -> Result<PgConfig, ConfigError> {
        let mut schema_from_uri = None;
        let mut tls = TlsMode::Prefer;
        let mut ssl_root_cert = None;
        let attributes = string("postgresql_connection_attributes").filter(|a| !a.trim().is_empty());
        let uri = string(URI_KEY).map(|u| u.trim().to_string()).filter(|u| !u.is_empty());
        let source = match (&uri, &attributes) {
            (Some(uri), _) => Some((URI_KEY, uri.clone())),
            (None, Some(_)) => Some(("postgresql_connection_attributes", "postgresql://".to_string())),
            (None, None) => None,
        };
        let mut pg = match source {
            Some((key, uri)) => {
                let masked = mask_uri(&uri);
                if !(uri.starts_with("postgresql://") || uri.starts_with("postgres://")) {
                    return Err(invalid(key, &masked, URI_ALLOWED));
                }
                let (stripped, extras) = strip_uri_params(&uri, attributes.as_deref());
                let pg = tokio_postgres::Config::from_str(&stripped)
                    .map_err(|e| invalid(key, &masked, format!("{URI_ALLOWED}; {}", crate::error::chain(&e))))?;
                if let Some(mode) = extras.sslmode {
                    tls = TlsMode::parse(&mode).ok_or_else(|| {
                        invalid(key, &masked, "sslmode one of disable, prefer, require, verify-ca, verify-full")
                    })?;
                } else if extras.jdbc_ssl {
                    // pgjdbc: `ssl=true` verifies the chain and the host name unless its
                    // socket factory is the non-validating one.
                    tls = if extras.jdbc_non_validating { TlsMode::Require } else { TlsMode::VerifyFull };
                }
                if !extras.unsupported_tls.is_empty() {
                    return Err(invalid(
                        key,
                        &masked,
                        format!(
                            "{} not supported (TLS here: sslmode, sslrootcert, or JDBC ssl / sslfactory); {URI_ALLOWED}",
                            extras.unsupported_tls.join(", ")
                        ),
                    ));
                }
                if !extras.ignored.is_empty() {
                    tracing::warn!(
                        "{key}: ignoring JDBC-only connection options {} (no equivalent in this server's driver)",
                        extras.ignored.join(", ")
                    );
                }
                ssl_root_cert = extras.sslrootcert.filter(|p| !p.is_empty()).map(PathBuf::from);
                schema_from_uri = extras.current_schema;
                pg
            }
            None => tokio_postgres::Config::new(),
        };
        pg.ssl_mode(tls.ssl_mode());

        if pg.get_hosts().is_empty() {
            let host = string("postgresql_host").unwrap_or_else(|| "localhost".into());
            pg.host(host.trim());
        }
        if pg.get_ports().is_empty() {
            let port = int("postgresql_port");
            let port = u16::try_from(port)
                .map_err(|_| invalid("postgresql_port", &port.to_string(), "an integer between 1 and 65535"))?;
            pg.port(port);
        }
        if pg.get_user().is_none() {
            match string("postgresql_user") {
                Some(u) => {
                    pg.user(u);
                }
                None => {
                    return Err(invalid(
                        "postgresql_user",
                        "null",
                        "a database user: set postgresql_user or put the user in postgresql_connection_uri",
                    ))
                }
            }
        }
        if pg.get_password().is_none() {
            if let Some(p) = string("postgresql_password") {
                pg.password(p);
            }
        }
        if pg.get_dbname().is_none() {
            pg.dbname(string("postgresql_database_name").unwrap_or_else(|| "supertokens".into()));
        }
        if pg.get_connect_timeout().is_none() {
            pg.connect_timeout(Duration::from_secs(10));
        }
        if pg.get_application_name().is_none() {
            pg.application_name("supertokens");
        }

        let (schema_key, raw_schema) = match schema_from_uri {
            Some(s) => (URI_KEY, s),
            None => ("postgresql_table_schema", string("postgresql_table_schema").unwrap_or_else(|| "public".into())),
        };
        let schema = raw_schema.trim().to_ascii_lowercase();
        if !is_identifier(&schema) {
            let shown = if schema_key == URI_KEY { format!("currentSchema={raw_schema}") } else { raw_schema };
            return Err(invalid(
                schema_key,
                &shown,
                "a schema name of letters, digits, '_' and '$', starting with a letter or '_', at most 63 characters",
            ));
        }

        let raw_prefix = string("postgresql_table_names_prefix").unwrap_or_default();
        let prefix = raw_prefix.trim().to_ascii_lowercase();
        let table_prefix = if prefix.is_empty() {
            String::new()
        } else if is_identifier(&prefix) {
            format!("{prefix}_")
        } else {
            return Err(invalid(
                "postgresql_table_names_prefix",
                &raw_prefix,
                "letters, digits, '_' and '$', starting with a letter or '_'",
            ));
        };
        if schema == "public" && table_prefix.starts_with("public") {
            tracing::warn!(
                "postgresql_table_names_prefix starts with 'public' while the schema is public: the Java \
                 core names this prefix's constraints differently; tables are shared all the same"
            );
        }

        let mut table_overrides = Vec::new();
        for (key, default) in TABLE_NAME_KEYS {
            if let Some(raw) = string(key) {
                let name = raw.trim().to_ascii_lowercase();
                if name.is_empty() {
                    continue;
                }
                if !is_identifier(&name) {
                    return Err(invalid(key, &raw, "a table name of letters, digits, '_' and '$'"));
                }
                table_overrides.push((default.to_string(), name));
            }
        }

        let pool_size = int("postgresql_connection_pool_size");
        let pool_size = usize::try_from(pool_size)
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| invalid("postgresql_connection_pool_size", &pool_size.to_string(), "an integer >= 1"))?;
        let idle_ms = int("postgresql_idle_connection_timeout");
        let idle_timeout = u64::try_from(idle_ms).map(Duration::from_millis).map_err(|_| {
            invalid("postgresql_idle_connection_timeout", &idle_ms.to_string(), "milliseconds >= 0 (0: never)")
        })?;
        let min_idle = if is_null("postgresql_minimum_idle_connections") {
            pool_size
        } else {
            let n = int("postgresql_minimum_idle_connections");
            match usize::try_from(n) {
                Ok(m) if m <= pool_size => m,
                Ok(_) => {
                    return Err(invalid(
                        "postgresql_minimum_idle_connections",
                        &n.to_string(),
                        "less than or equal to 'postgresql_connection_pool_size'",
                    ))
                }
                Err(_) => {
                    return Err(invalid("postgresql_minimum_idle_connections", &n.to_string(), "an integer >= 0"))
                }
            }
        };
        let millis = |key: &str, min: u64, allowed: &str| {
            let v = int(key);
            u64::try_from(v)
                .ok()
                .filter(|ms| *ms >= min)
                .map(Duration::from_millis)
                .ok_or_else(|| invalid(key, &v.to_string(), allowed))
        };
        let connection_timeout = millis("postgresql_connection_timeout", 1, "milliseconds >= 1")?;
        let statement_timeout =
            millis("postgresql_statement_timeout", 0, "milliseconds >= 0 (0: PostgreSQL's own setting)")?;
        let request_timeout = millis("postgresql_request_timeout", 0, "milliseconds >= 0 (0: no bound)")?;
        let max_waiters = if is_null("postgresql_max_connection_waiters") {
            pool_size.saturating_mul(10)
        } else {
            let n = int("postgresql_max_connection_waiters");
            usize::try_from(n).map_err(|_| {
                invalid("postgresql_max_connection_waiters", &n.to_string(), "an integer >= 0 (0: no limit)")
            })?
        };
        // One of the four modes (the key table checks them); anything but LEGACY would have the
        // Java core write, or read, tables this server does not keep.
        let mode = string("migration_mode").unwrap_or_else(|| "LEGACY".into());
        if !mode.eq_ignore_ascii_case("LEGACY") {
            return Err(invalid(
                "migration_mode",
                &mode,
                "LEGACY: this server reads and writes only the legacy user tables (all_auth_recipe_users)",
            ));
        }

        Ok(PgConfig {
            pg,
            tls,
            ssl_root_cert,
            schema,
            table_prefix,
            table_overrides,
            pool_size,
            idle_timeout,
            min_idle,
            connect_wait: Duration::from_secs(3600),
            connect_retry: Duration::from_secs(10),
            connection_timeout,
            statement_timeout,
            request_timeout,
            max_waiters,
        })
    }

    /// The URI-ish description used in logs: hosts, ports, database, user; never the password.
    pub fn describe(&self) -> String {
        let hosts: Vec<String> = self
            .pg
            .get_hosts()
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let port = self.pg.get_ports().get(i).or_else(|| self.pg.get_ports().first()).copied().unwrap_or(5432);
                match h {
                    tokio_postgres::config::Host::Tcp(name) => format!("{name}:{port}"),
                    #[cfg(unix)]
                    tokio_postgres::config::Host::Unix(path) => {
                        format!("{}:{port}", path.display())
                    }
                }
            })
            .collect();
        format!(
            "postgresql://{}@{}/{} (schema {}, prefix '{}')",
            self.pg.get_user().unwrap_or(""),
            hosts.join(","),
            self.pg.get_dbname().unwrap_or(""),
            self.schema,
            self.table_prefix
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cfg(v: serde_json::Value) -> Result<PgConfig, ConfigError> {
        let core = CoreConfig::from_map(v.as_object().unwrap(), false).unwrap();
        PgConfig::from_core_config(&core)
    }

    #[test]
    fn uri_with_current_schema_and_sslmode() {
        let c = cfg(json!({
            "postgresql_connection_uri": "postgresql://u:secret@db.example:6543/app?currentSchema=MySchema&sslmode=require"
        }))
        .unwrap();
        assert_eq!(c.schema, "myschema");
        assert_eq!(c.tls, TlsMode::Require);
        assert_eq!(c.pg.get_user(), Some("u"));
        assert_eq!(c.pg.get_password(), Some(&b"secret"[..]));
        assert_eq!(c.pg.get_dbname(), Some("app"));
        assert_eq!(c.pg.get_ports(), &[6543]);
        assert_eq!(c.pool_size, 10);
        assert_eq!(c.min_idle, 10);
        assert!(!c.describe().contains("secret"));
    }

    #[test]
    fn postgres_scheme_and_multi_host() {
        let c = cfg(json!({
            "postgresql_connection_uri": "postgres://u@h1:1,h2:2/db?target_session_attrs=read-write"
        }))
        .unwrap();
        assert_eq!(c.pg.get_hosts().len(), 2);
        assert_eq!(c.pg.get_ports(), &[1, 2]);
        assert_eq!(c.tls, TlsMode::Prefer);
        assert_eq!(c.schema, "public");
    }

    #[test]
    fn separate_keys_fill_gaps() {
        let c = cfg(json!({
            "postgresql_user": "bob", "postgresql_password": "pw", "postgresql_host": "dbhost",
            "postgresql_port": 7777, "postgresql_table_schema": " Other ", "postgresql_table_names_prefix": "abc",
            "postgresql_connection_pool_size": 4, "postgresql_minimum_idle_connections": 3,
            "postgresql_session_info_table_name": "my_sessions"
        }))
        .unwrap();
        assert_eq!(c.pg.get_user(), Some("bob"));
        assert_eq!(c.pg.get_dbname(), Some("supertokens"));
        assert_eq!(c.pg.get_ports(), &[7777]);
        assert_eq!(c.schema, "other");
        assert_eq!(c.table_prefix, "abc_");
        assert_eq!(c.min_idle, 3);
        assert_eq!(c.table_overrides, vec![("session_info".to_string(), "my_sessions".to_string())]);
    }

    #[test]
    fn bad_uri_names_key_masks_password_and_says_what_is_allowed() {
        for uri in [
            "mysql://u:hunter2@h/db",
            "postgresql://u:hunter2@h:notaport/db",
            "postgresql://u:hunter2@h/db?port=x",
            "postgresql://u:hunter2@h/db?bogus=1",
            "postgresql://u:hunter2@h/db?sslmod=verify-full",
            "postgresql://u:hunter2@h/db?sslcert=/c.pem",
        ] {
            let text = cfg(json!({ "postgresql_connection_uri": uri })).unwrap_err().to_string();
            assert!(text.contains("postgresql_connection_uri"), "{text}");
            assert!(!text.contains("hunter2"), "{text}");
            assert!(text.contains("u:****@h"), "{text}");
            assert!(text.contains("postgresql://[user"), "{text}");
        }
        let text =
            cfg(json!({ "postgresql_connection_uri": "postgresql://u@h/db?sslmode=maybe" })).unwrap_err().to_string();
        assert!(text.contains("verify-full"), "{text}");
    }

    #[test]
    fn jdbc_options_are_translated_or_ignored() {
        let c = cfg(json!({
            "postgresql_connection_uri": "postgresql://u@h/db?ssl=true&prepareThreshold=0&ApplicationName=api&loginTimeout=7&tcpKeepAlive=true&socketTimeout=30&allowPublicKeyRetrieval=true"
        }))
        .unwrap();
        assert_eq!(c.tls, TlsMode::VerifyFull, "pgjdbc's ssl=true verifies");
        assert_eq!(c.pg.get_application_name(), Some("api"));
        assert_eq!(c.pg.get_connect_timeout(), Some(&Duration::from_secs(7)));
        assert!(c.pg.get_keepalives());
        let c = cfg(json!({
            "postgresql_connection_uri": "postgresql://u@h/db?ssl=true&sslfactory=org.postgresql.ssl.NonValidatingFactory"
        }))
        .unwrap();
        assert_eq!(c.tls, TlsMode::Require);
        let c = cfg(json!({"postgresql_connection_uri": "postgresql://u@h/db?ssl=true&sslmode=disable"})).unwrap();
        assert_eq!(c.tls, TlsMode::Disable, "an explicit sslmode wins");
        // The attributes key applies when the URI has no query, and without a URI.
        let c = cfg(json!({
            "postgresql_connection_uri": "postgresql://u@h/db",
            "postgresql_connection_attributes": "sslmode=require&currentSchema=s2"
        }))
        .unwrap();
        assert_eq!((c.tls, c.schema.as_str()), (TlsMode::Require, "s2"));
        let c = cfg(json!({
            "postgresql_connection_uri": "postgresql://u@h/db?sslmode=disable",
            "postgresql_connection_attributes": "sslmode=require"
        }))
        .unwrap();
        assert_eq!(c.tls, TlsMode::Disable, "the URI's own query wins");
        let c = cfg(json!({"postgresql_user": "u", "postgresql_host": "dbh", "postgresql_connection_attributes": "sslmode=require"}))
            .unwrap();
        assert_eq!((c.tls, c.pg.get_user()), (TlsMode::Require, Some("u")));
        assert_eq!(c.pg.get_hosts(), &[tokio_postgres::config::Host::Tcp("dbh".into())]);
    }

    #[test]
    fn pool_keys_and_migration_mode() {
        let c = cfg(json!({"postgresql_user": "u", "postgresql_idle_connection_timeout": 0})).unwrap();
        assert_eq!(c.idle_timeout, Duration::ZERO, "0: never close idle connections");
        let e = cfg(json!({"postgresql_user": "u", "postgresql_connection_pool_size": 4, "postgresql_minimum_idle_connections": 5}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("less than or equal to 'postgresql_connection_pool_size'"), "{e}");
        assert!(cfg(json!({"postgresql_user": "u", "migration_mode": "legacy"})).is_ok());
        let e = cfg(json!({"postgresql_user": "u", "migration_mode": "MIGRATED"})).unwrap_err().to_string();
        assert!(e.contains("migration_mode") && e.contains("LEGACY"), "{e}");
    }

    #[test]
    fn bounded_wait_keys() {
        let c = cfg(json!({"postgresql_user": "u"})).unwrap();
        assert_eq!(c.connection_timeout, Duration::from_millis(5000), "HikariCP's connectionTimeout in the plugin");
        assert_eq!(c.statement_timeout, Duration::ZERO);
        assert_eq!(c.request_timeout, Duration::from_millis(30_000));
        assert_eq!(c.max_waiters, 100, "ten times the pool size");
        let c = cfg(json!({"postgresql_user": "u", "postgresql_connection_timeout": 250,
            "postgresql_statement_timeout": 2000, "postgresql_request_timeout": 3000,
            "postgresql_max_connection_waiters": 7, "postgresql_connection_pool_size": 4}))
        .unwrap();
        assert_eq!(
            (c.connection_timeout, c.statement_timeout, c.request_timeout, c.max_waiters),
            (Duration::from_millis(250), Duration::from_millis(2000), Duration::from_millis(3000), 7)
        );
        for (key, bad) in [
            ("postgresql_connection_timeout", 0),
            ("postgresql_statement_timeout", -1),
            ("postgresql_request_timeout", -1),
            ("postgresql_max_connection_waiters", -1),
        ] {
            let text = cfg(json!({"postgresql_user": "u", key: bad})).unwrap_err().to_string();
            assert!(text.contains(key) && text.contains(">= "), "{text}");
        }
    }

    #[test]
    fn bad_identifiers_are_rejected() {
        let e = cfg(json!({"postgresql_user": "u", "postgresql_table_schema": "x; drop"})).unwrap_err().to_string();
        assert!(e.contains("postgresql_table_schema"), "{e}");
        let e = cfg(json!({"postgresql_user": "u", "postgresql_table_names_prefix": "a-b"})).unwrap_err().to_string();
        assert!(e.contains("postgresql_table_names_prefix"), "{e}");
        let e = cfg(json!({"postgresql_password": "p"})).unwrap_err().to_string();
        assert!(e.contains("postgresql_user"), "{e}");
    }

    #[test]
    fn masking() {
        assert_eq!(mask_uri("postgresql://a:b@h/d?password=x&y=1"), "postgresql://a:****@h/d?password=****&y=1");
        assert_eq!(mask_uri("postgresql://a@h,h2/d"), "postgresql://a@h,h2/d");
        assert_eq!(mask_uri("postgresql://a:p@ss@h"), "postgresql://a:****@h");
    }
}
