//! Black-box tests of the HTTP API (CDI 5.4 unless a test names another version), one module per recipe, each test on both backends
//! (`st_tests::both_backends!`) against the application the binary serves, built by
//! `supertokens::Application` (see `helpers`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod helpers;

mod accountlinking;
mod bulkimport;
mod dashboard;
mod emailpassword;
mod emailverification;
mod es256;
mod fuzz;
mod go_sdk;
mod jwt;
mod mfa;
mod multitenancy;
mod oauth;
mod passwordless;
mod pg_faults;
mod pg_outage;
mod protection;
mod ratelimit;
mod saml;
mod session;
mod storable;
mod thirdparty;
mod totp;
mod transport;
mod useridmapping;
mod usermetadata;
mod userroles;
mod users;
mod webauthn;
