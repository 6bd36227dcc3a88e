//! The `supertokens` binary: `start`, `stop`, `list`, `--help`, `--version`.

mod cli;
mod logging;
mod server;

fn main() {
    std::process::exit(cli::run());
}
