//! Storage conformance: the contract of the `st_core::storage` port, one module per storage
//! trait, each contract written once as a function over the storage and run against every
//! backend — in memory and a fresh PostgreSQL database per test — through `conformance!`.
//! (Contracts that need PostgreSQL internals, raw SQL on the reference tables, are in
//! `crates/storage-postgres/tests/postgres.rs`.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

/// Run each named contract of the invoking module (an `async fn` taking `&dyn Storage`, or
/// `&Arc<dyn Storage>` to spawn tasks) on a fresh store of each backend, as the tests
/// `memory::<name>` and `postgres::<name>`. `#[memory(...)]` before a name puts an attribute on
/// its memory test only (an `ignore` naming a difference between the backends).
macro_rules! conformance {
    ($($(#[memory($attr:meta)])* $name:ident),* $(,)?) => {
        /// The tests' bodies: a fresh store of the backend, then the contract.
        mod on {
            $(
                pub(super) async fn $name(b: st_tests::Backend) {
                    let Some(st) = st_tests::storage(b, &serde_json::Map::new()).await else { return };
                    super::$name(crate::helpers::Store::of(&st)).await
                }
            )*
        }
        st_tests::both_backends! { $($(#[memory($attr)])* $name => on::$name;)* }
    };
}

mod helpers;

mod accountlinking;
mod active_users;
mod bulkimport;
mod dashboard;
mod emailpassword;
mod emailverification;
mod jobs;
mod key_value;
mod lockout;
mod multitenancy;
mod oauth;
mod passwordless;
mod ratelimit;
mod saml;
mod session;
mod signing_keys;
mod thirdparty;
mod totp;
mod useridmapping;
mod usermetadata;
mod userroles;
mod users;
mod webauthn;
