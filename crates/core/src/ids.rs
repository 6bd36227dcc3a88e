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

/// An app id: `[a-z0-9-]+`, not starting with `appid-` (stored lower-case).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AppId(String);

impl AppId {
    pub fn public() -> Self {
        AppId(PUBLIC.to_string())
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
        Ok(AppId(s))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn is_public(&self) -> bool {
        self.0 == PUBLIC
    }
}

impl fmt::Display for AppId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
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

/// (app, tenant). Connection-URI domains are always the default `""` in this version.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantIdentifier {
    pub app: AppId,
    pub tenant: TenantId,
}

impl TenantIdentifier {
    pub fn new(app: AppId, tenant: TenantId) -> Self {
        TenantIdentifier { app, tenant }
    }
    pub fn base() -> Self {
        TenantIdentifier { app: AppId::public(), tenant: TenantId::public() }
    }
    pub fn app_public(app: &AppId) -> Self {
        TenantIdentifier { app: app.clone(), tenant: TenantId::public() }
    }
    pub fn is_base(&self) -> bool {
        self.app.is_public() && self.tenant.is_public()
    }
    /// The reference's error text for an unknown (cud, app, tenant).
    pub fn not_found_message(&self) -> String {
        Self::named_not_found_message(&self.app, self.tenant.as_str())
    }
    /// [`Self::not_found_message`] for a tenant id given as text, which may not even be valid.
    pub fn named_not_found_message(app: &AppId, tenant: &str) -> String {
        format!(
            "AppId or tenantId not found => Tenant with the following connectionURIDomain, appId and tenantId combination not found: (, {app}, {tenant})"
        )
    }
    pub fn app_not_found_message(app: &AppId) -> String {
        format!(
            "AppId or tenantId not found => App with the following connectionURIDomain and appId combination not found: (, {app})"
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
    fn emails_are_normalised() {
        assert_eq!(Email::normalise("  Foo@Bar.COM ").as_str(), "foo@bar.com");
        // Java's trim: control characters go, Unicode spaces stay.
        assert_eq!(Email::normalise("\u{1}\tA@b.c\u{1f}\n").as_str(), "a@b.c");
        assert_eq!(Email::normalise("\u{a0}A@b.c\u{2003}").as_str(), "\u{a0}a@b.c\u{2003}");
    }
}
