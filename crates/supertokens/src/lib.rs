//! The `supertokens` binary as a library: its command line ([`run`]), and [`Application`], which
//! builds what `start` serves; the black-box tests build their servers with it, so they run the
//! binary's wiring.

mod app;
mod cli;
mod logging;
mod server;

pub use app::{Application, ApplicationBuilder};
pub use cli::run;
