#!/usr/bin/env bash
# Builds and runs the SQLite re-prepare check (src/main.rs); prints a markdown table.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
cargo run --quiet --release --manifest-path "$HERE/Cargo.toml" -- "$@"
