//! The `supertokens` binary: `start`, `stop`, `list`, `--help`, `--version`.

fn main() {
    std::process::exit(supertokens::run());
}
