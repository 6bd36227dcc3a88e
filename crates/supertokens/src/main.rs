//! The `supertokens` binary: `start`, `stop`, `list`, `--help`, `--version`.
//!
//! With glibc, the process first runs itself again with a fixed `malloc` mmap threshold
//! ([`fixed_mmap_threshold`]), so that the memory of large requests returns to the system.

fn main() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fixed_mmap_threshold();
    std::process::exit(supertokens::run());
}

/// glibc's `malloc` raises its mmap threshold each time a large block is freed (up to 32 MiB),
/// so after one burst of large request bodies (up to `max_request_body_bytes`, 10 MiB) the next
/// ones are carved from its heaps, which it keeps when they are freed: 20 concurrent 9 MiB
/// bodies left 570 MiB held. A fixed threshold (`MALLOC_MMAP_THRESHOLD_`, read by glibc at
/// start-up only) keeps every block of 128 KiB or more in its own mapping, returned when freed:
/// 35 MiB held after the same burst (docs/BENCHMARKS.md, "Reliability (issue 25)"). The
/// variable can only be set before the process starts, and `mallopt` would need `unsafe`
/// (forbidden here), so the binary runs itself again (`exec`: same pid, same arguments) with it
/// set. An operator's own `MALLOC_MMAP_THRESHOLD_` is kept as it is; when the `exec` fails the
/// server runs with glibc's defaults.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn fixed_mmap_threshold() {
    use std::os::unix::process::CommandExt;
    const VAR: &str = "MALLOC_MMAP_THRESHOLD_";
    if std::env::var_os(VAR).is_some() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else { return };
    let mut args = std::env::args_os();
    let mut cmd = std::process::Command::new(exe);
    if let Some(argv0) = args.next() {
        cmd.arg0(argv0);
    }
    // Only returns if the exec failed.
    let _failed = cmd.args(args).env(VAR, "131072").exec();
}
