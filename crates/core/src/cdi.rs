//! The Core Driver Interface version of a request: negotiated once at the HTTP edge (from the
//! `cdi-version` header, the app's `supertokens_min/max_cdi_version` and the served set) and
//! handed to the domain as a value, so a recipe branches on `version >= CdiVersion::V5_0`
//! rather than on strings.

use std::fmt;

/// A CDI version `major.minor`, ordered numerically (`5.10 > 5.9`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CdiVersion {
    major: u16,
    minor: u16,
}

impl CdiVersion {
    pub const V2_7: CdiVersion = CdiVersion::new(2, 7);
    pub const V2_9: CdiVersion = CdiVersion::new(2, 9);
    pub const V2_12: CdiVersion = CdiVersion::new(2, 12);
    pub const V2_21: CdiVersion = CdiVersion::new(2, 21);
    pub const V3_1: CdiVersion = CdiVersion::new(3, 1);
    pub const V3_0: CdiVersion = CdiVersion::new(3, 0);
    pub const V4_0: CdiVersion = CdiVersion::new(4, 0);
    pub const V5_0: CdiVersion = CdiVersion::new(5, 0);
    pub const V5_1: CdiVersion = CdiVersion::new(5, 1);
    pub const V5_3: CdiVersion = CdiVersion::new(5, 3);
    pub const V5_4: CdiVersion = CdiVersion::new(5, 4);
    pub const V5_5: CdiVersion = CdiVersion::new(5, 5);
    pub const V5_6: CdiVersion = CdiVersion::new(5, 6);

    pub const fn new(major: u16, minor: u16) -> CdiVersion {
        CdiVersion { major, minor }
    }

    /// The access-token version a session created or refreshed under this CDI gets: 2 (legacy,
    /// no `kid`) below 2.21, 3 at 2.21, 4 (`tId`) for 3.x, 5 (`rsub`) from 4.0 on.
    pub fn access_token_version(self) -> u8 {
        if self < CdiVersion::V2_21 {
            2
        } else if self < CdiVersion::V3_0 {
            3
        } else if self < CdiVersion::V4_0 {
            4
        } else {
            5
        }
    }

    /// Whether responses carry the signing keys of the legacy (pre-2.21) SDKs, which verified
    /// tokens themselves with a key the core handed out.
    pub fn hands_out_signing_keys(self) -> bool {
        self < CdiVersion::V2_21
    }

    /// `"<major>.<minor>"` exactly (as the reference's supported-set lookup, `5.4.0` is not
    /// `5.4`); `None` for anything else.
    pub fn parse(s: &str) -> Option<CdiVersion> {
        let (major, minor) = s.split_once('.')?;
        let number =
            |p: &str| (!p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())).then(|| p.parse().ok()).flatten();
        Some(CdiVersion::new(number(major)?, number(minor)?))
    }
}

impl fmt::Display for CdiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// The newest version this server serves (the last of [`st_config::SUPPORTED_CDI_VERSIONS`]).
pub fn newest_served() -> CdiVersion {
    st_config::SUPPORTED_CDI_VERSIONS.iter().filter_map(|v| CdiVersion::parse(v)).max().unwrap_or(CdiVersion::V5_6)
}

/// Every version the reference core 12.1 accepts (its `WebserverAPI` supported set), for
/// reference: this server serves [`st_config::SUPPORTED_CDI_VERSIONS`], a subset.
pub const REFERENCE_VERSIONS: [&str; 25] = [
    "2.7", "2.8", "2.9", "2.10", "2.11", "2.12", "2.13", "2.14", "2.15", "2.16", "2.17", "2.18", "2.19", "2.20",
    "2.21", "3.0", "3.1", "4.0", "5.0", "5.1", "5.2", "5.3", "5.4", "5.5", "5.6",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_orders_numerically() {
        assert_eq!(CdiVersion::parse("5.4"), Some(CdiVersion::V5_4));
        assert_eq!(CdiVersion::parse("2.21").map(|v| v.to_string()).as_deref(), Some("2.21"));
        for bad in ["", "5", "5.", ".4", "5.4.0", "a.b", "5.-1", "99999999.1"] {
            assert_eq!(CdiVersion::parse(bad), None, "{bad}");
        }
        assert!(CdiVersion::parse("2.21") > CdiVersion::parse("2.9"));
        assert!(CdiVersion::V5_3 < CdiVersion::V5_4 && CdiVersion::V5_4 < CdiVersion::V5_5);
        assert_eq!(newest_served(), CdiVersion::V5_6);
        let token = |v: &str| CdiVersion::parse(v).map(CdiVersion::access_token_version);
        assert_eq!([token("2.20"), token("2.21"), token("3.1"), token("4.0"), token("5.6")], [2, 3, 4, 5, 5].map(Some));
    }

    #[test]
    fn every_served_version_is_a_reference_version() {
        for v in st_config::SUPPORTED_CDI_VERSIONS {
            assert!(REFERENCE_VERSIONS.contains(&v), "{v}");
            assert!(CdiVersion::parse(v).is_some(), "{v}");
        }
    }
}
