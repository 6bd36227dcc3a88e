//! Identifiers, parsed at the edge: once constructed they are valid.

use std::fmt;

pub const PUBLIC: &str = "public";
const RESERVED_TENANT_IDS: [&str; 4] = ["recipe", "config", "users", "hello"];

fn valid_id(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The columns hold 64 characters. The reference does not check this and fails in the database
/// (a 500); ours refuses such an id with a 400 of its own.
fn check_length(kind: &str, s: &str) -> Result<(), String> {
    if s.len() > 64 {
        return Err(format!("{kind} must be at most 64 characters long"));
    }
    Ok(())
}

/// A connection-URI domain: the host name by which requests reach a group of apps (the
/// reference's `connectionUriDomain`); the default one is `""`. Apps and tenants are configured
/// per domain (`tenant_configs` is keyed by domain, app and tenant); their data is not: this
/// server has one user pool, where an app's data is keyed by its id alone, as in the
/// reference's tables (see [`AppId`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ConnectionUriDomain(String);

impl ConnectionUriDomain {
    /// The default domain, `""`: requests whose host names no configured domain.
    pub fn default_domain() -> Self {
        ConnectionUriDomain(String::new())
    }

    /// A domain given in a request body, as the reference's
    /// `normalizeAndValidateConnectionUriDomain`: trimmed and lower-cased, a host name or IPv4
    /// address with an optional port, kept without the port.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let s = java_trim(raw).to_lowercase();
        if s.is_empty() {
            return Err("connectionUriDomain should not be an empty String".into());
        }
        let invalid = || "connectionUriDomain is invalid".to_string();
        let (host, port) = match s.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s.as_str(), None),
        };
        // Java's URL reads the port as an int.
        if port.is_some_and(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) || p.parse::<i32>().is_err()) {
            return Err(invalid());
        }
        let label =
            |l: &str| !l.is_empty() && l.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !host.split('.').all(label) {
            return Err(invalid());
        }
        if host.len() > 256 {
            return Err("connectionUriDomain must be at most 256 characters long".into());
        }
        Ok(ConnectionUriDomain(host.to_string()))
    }

    /// The domain a request's `Host` header names (the reference reads `getServerName()`:
    /// without the port, trimmed, lower-cased, not validated). It is only ever compared with
    /// the configured domains.
    pub fn of_host(host: &str) -> Self {
        let host = java_trim(host);
        let name = if host.starts_with('[') {
            host.split_inclusive(']').next().unwrap_or(host)
        } else {
            match host.rsplit_once(':') {
                Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
                _ => host,
            }
        };
        ConnectionUriDomain(java_trim(name).to_lowercase())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_default(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for ConnectionUriDomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An app id: `[a-z0-9-]+`, not starting with `appid-` (stored lower-case), and the
/// connection-URI domain it was reached through (the reference's `AppIdentifier`).
///
/// Equality, order and hashing are those of the app's data: the id alone. One user pool holds
/// every domain's apps, keyed by app id (`apps`, `app_id_to_user_id`, … have no domain column),
/// so an app id names the same users, sessions and keys through any domain, as in the
/// reference with one database. What is configured per domain (the tenant's record and
/// effective config) is looked up by [`AppId::domain`] too; [`AppId::same_as`] compares both.
#[derive(Debug, Clone)]
pub struct AppId {
    id: String,
    domain: ConnectionUriDomain,
}

impl PartialEq for AppId {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl Eq for AppId {}

impl std::hash::Hash for AppId {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.id.hash(state)
    }
}

impl PartialOrd for AppId {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for AppId {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.id.cmp(&other.id)
    }
}

impl AppId {
    /// The `public` app of the default domain.
    pub fn public() -> Self {
        AppId { id: PUBLIC.to_string(), domain: ConnectionUriDomain::default_domain() }
    }

    /// The same app id reached through `domain`.
    pub fn in_domain(mut self, domain: ConnectionUriDomain) -> Self {
        self.domain = domain;
        self
    }

    /// The connection-URI domain the app is reached through.
    pub fn domain(&self) -> &ConnectionUriDomain {
        &self.domain
    }

    /// The same app id through the same domain (`==` compares the id only).
    pub fn same_as(&self, other: &AppId) -> bool {
        self == other && self.domain == other.domain
    }
    /// Parse an app id given in a request body (case-insensitive, lower-cased).
    pub fn parse(raw: &str) -> Result<Self, String> {
        // The reference's order and messages (`webserver/Utils.normalizeAndValidateAppId`).
        let s = java_trim(raw).to_lowercase();
        if s.is_empty() {
            return Err("appId should not be an empty String".into());
        }
        if s.starts_with("appid-") {
            return Err("appId must not start with 'appid-'".into());
        }
        if !valid_id(&s) {
            return Err("appId can only contain letters, numbers and hyphens".into());
        }
        check_length("appId", &s)?;
        Ok(AppId { id: s, domain: ConnectionUriDomain::default_domain() })
    }
    pub fn as_str(&self) -> &str {
        &self.id
    }
    pub fn is_public(&self) -> bool {
        self.id == PUBLIC
    }
}

impl fmt::Display for AppId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.id)
    }
}

/// A tenant id: `[a-z0-9-]+`, not `appid-…`, not a reserved path word.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(String);

impl TenantId {
    pub fn public() -> Self {
        TenantId(PUBLIC.to_string())
    }
    pub fn parse(raw: &str) -> Result<Self, String> {
        // The reference's order and messages (`webserver/Utils.normalizeAndValidateTenantId`).
        let s = java_trim(raw).to_lowercase();
        if s.is_empty() {
            return Err("tenantId should not be an empty String".into());
        }
        if RESERVED_TENANT_IDS.contains(&s.as_str()) {
            return Err(format!("Cannot use '{s}' as a tenantId"));
        }
        if s.starts_with("appid-") {
            return Err("tenantId must not start with 'appid-'".into());
        }
        if !valid_id(&s) {
            return Err("tenantId can only contain letters, numbers and hyphens".into());
        }
        check_length("tenantId", &s)?;
        Ok(TenantId(s))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn is_public(&self) -> bool {
        self.0 == PUBLIC
    }
    pub fn is_reserved(s: &str) -> bool {
        RESERVED_TENANT_IDS.contains(&s)
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// (app, tenant), the app with the connection-URI domain it was reached through. Equality,
/// order and hashing are the data's, as [`AppId`]'s: the domain is not compared (see
/// [`TenantIdentifier::same_as`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantIdentifier {
    pub app: AppId,
    pub tenant: TenantId,
}

impl TenantIdentifier {
    pub fn new(app: AppId, tenant: TenantId) -> Self {
        TenantIdentifier { app, tenant }
    }
    /// The base tenant: the default domain's `public` app's `public` tenant.
    pub fn base() -> Self {
        TenantIdentifier { app: AppId::public(), tenant: TenantId::public() }
    }
    /// The `public` tenant of the `public` app of a domain: the domain's own configuration.
    pub fn domain_base(domain: &ConnectionUriDomain) -> Self {
        TenantIdentifier { app: AppId::public().in_domain(domain.clone()), tenant: TenantId::public() }
    }
    pub fn app_public(app: &AppId) -> Self {
        TenantIdentifier { app: app.clone(), tenant: TenantId::public() }
    }
    /// The connection-URI domain the tenant is reached through.
    pub fn domain(&self) -> &ConnectionUriDomain {
        self.app.domain()
    }
    /// The base tenant (default domain, `public` app, `public` tenant).
    pub fn is_base(&self) -> bool {
        self.app.is_public() && self.tenant.is_public() && self.domain().is_default()
    }
    /// The same tenant through the same domain (`==` compares the data's identity only).
    pub fn same_as(&self, other: &TenantIdentifier) -> bool {
        self == other && self.domain() == other.domain()
    }
    /// The reference's error text for an unknown (cud, app, tenant).
    pub fn not_found_message(&self) -> String {
        Self::named_not_found_message(&self.app, self.tenant.as_str())
    }
    /// [`Self::not_found_message`] for a tenant id given as text, which may not even be valid.
    pub fn named_not_found_message(app: &AppId, tenant: &str) -> String {
        format!(
            "AppId or tenantId not found => Tenant with the following connectionURIDomain, appId and tenantId combination not found: ({}, {app}, {tenant})",
            app.domain()
        )
    }
    pub fn app_not_found_message(app: &AppId) -> String {
        format!(
            "AppId or tenantId not found => App with the following connectionURIDomain and appId combination not found: ({}, {app})",
            app.domain()
        )
    }
}

/// An e-mail address as the core stores it: trimmed and lower-cased.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

/// Java's `String.trim()` (defined with the configuration, which trims the same way).
pub use st_config::java_trim;

impl Email {
    /// As the reference's `trim().toLowerCase()`: Java's `trim` strips the characters up to
    /// U+0020 (control characters included, but not Unicode spaces such as U+00A0).
    pub fn normalise(raw: &str) -> Self {
        Email(java_trim(raw).to_lowercase())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_ids() {
        assert!(TenantId::parse("T1").is_ok());
        assert_eq!(TenantId::parse("T1").unwrap().as_str(), "t1");
        assert!(TenantId::parse("recipe").is_err());
        assert!(TenantId::parse("appid-x").is_err());
        assert!(TenantId::parse("a_b").is_err());
        assert_eq!(AppId::parse(""), Err("appId should not be an empty String".into()));
        assert_eq!(TenantId::parse(" \t"), Err("tenantId should not be an empty String".into()));
        assert!(TenantId::parse(&"t".repeat(64)).is_ok());
        assert_eq!(TenantId::parse(&"t".repeat(65)), Err("tenantId must be at most 64 characters long".into()));
        // Java's full lower-casing: the Kelvin sign is a `k`.
        assert_eq!(AppId::parse("\u{212a}1").map(|a| a.as_str().to_string()), Ok("k1".into()));
    }

    #[test]
    fn connection_uri_domains() {
        let parse = |s: &str| ConnectionUriDomain::parse(s).map(|d| d.as_str().to_string());
        assert_eq!(parse(" Example.COM:3567 "), Ok("example.com".into()));
        assert_eq!(parse("127.0.0.1:80"), Ok("127.0.0.1".into()));
        assert_eq!(parse("localhost"), Ok("localhost".into()));
        assert_eq!(parse(""), Err("connectionUriDomain should not be an empty String".into()));
        for bad in ["a..b", "http://a.com", "a.com/x", "a_b.com", "a.com:", "a.com:x", "a.com:99999999999", ".a"] {
            assert_eq!(parse(bad), Err("connectionUriDomain is invalid".into()), "{bad}");
        }
        let host = |s: &str| ConnectionUriDomain::of_host(s).as_str().to_string();
        assert_eq!(host("Example.COM:3567"), "example.com");
        assert_eq!(host("example.com"), "example.com");
        assert_eq!(host("[::1]:3567"), "[::1]");
        // The domain is how an app is reached, not part of its data's identity.
        let a = AppId::parse("a").unwrap();
        let b = a.clone().in_domain(ConnectionUriDomain::of_host("x.com"));
        assert!(a == b && !a.same_as(&b) && a.same_as(&a.clone()));
        assert!(TenantIdentifier::base().is_base() && !TenantIdentifier::domain_base(b.domain()).is_base());
    }

    #[test]
    fn emails_are_normalised() {
        assert_eq!(Email::normalise("  Foo@Bar.COM ").as_str(), "foo@bar.com");
        // Java's trim: control characters go, Unicode spaces stay.
        assert_eq!(Email::normalise("\u{1}\tA@b.c\u{1f}\n").as_str(), "a@b.c");
        assert_eq!(Email::normalise("\u{a0}A@b.c\u{2003}").as_str(), "\u{a0}a@b.c\u{2003}");
    }
}
