#!/bin/sh
# Usage: cargo-recipe.sh SRC DEST
#
# Copies the Cargo workspace's manifests from SRC to DEST (every Cargo.toml, Cargo.lock,
# .cargo/config.toml, rust-toolchain[.toml]) and gives every package stub sources (src/lib.rs,
# src/main.rs, and any explicitly declared target or build-script path), so that
# `cargo build --locked` in DEST compiles the third-party dependencies only.
#
# docker/Dockerfile's planner stage runs it to make the dependency-caching layer, which then
# changes only when a manifest or the lock file changes, whoever adds crates to the workspace.
# tests/deploy/run.sh runs the same stage (emulated) and checks that DEST resolves with the
# unchanged Cargo.lock.
set -eu

src="$(cd "$1" && pwd)"
dest="$2"
mkdir -p "$dest"
dest="$(cd "$dest" && pwd)"
cd "$src"

find . -path ./target -prune -o -type f \
    \( -name Cargo.toml -o -name Cargo.lock -o -path ./.cargo/config.toml \
       -o -path ./rust-toolchain.toml -o -path ./rust-toolchain \) -print |
    while IFS= read -r file; do
        mkdir -p "$dest/$(dirname "$file")"
        cp "$file" "$dest/$file"
    done

cd "$dest"
stub() {
    mkdir -p "$(dirname "$1")"
    printf 'fn main() {}\n' >"$1"
}
find . -type f -name Cargo.toml | while IFS= read -r manifest; do
    grep -q '^\[package\]' "$manifest" || continue
    dir="$(dirname "$manifest")"
    stub "$dir/src/main.rs"
    : >"$dir/src/lib.rs"
    # Explicit target paths ([lib], [[bin]], [[test]], [[bench]], [[example]]: path = "x.rs")
    # and build scripts (build = "x.rs"). Dependency paths name directories, not .rs files.
    sed -n 's/^[[:space:]]*\(path\|build\)[[:space:]]*=[[:space:]]*"\([^"]*\.rs\)".*/\2/p' "$manifest" |
        while IFS= read -r path; do
            stub "$dir/$path"
        done
    if [ -f "$src/$dir/build.rs" ]; then
        stub "$dir/build.rs"
    fi
done
echo "cargo-recipe: $(find . -name Cargo.toml | wc -l) manifests copied to $dest"
