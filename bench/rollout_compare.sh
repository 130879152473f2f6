#!/usr/bin/env bash
# Runs the Python baselines (numpy-vectorized CartPole, gymnasium's CartPoleVectorEnv) and the
# Rust rollout benchmark one after the other on this machine, and prints one set of tables with
# the core's speed-up over each baseline.
#
#   bench/rollout_compare.sh            # from the repository root
#
# numpy and gymnasium are installed with pip into ${XDG_CACHE_HOME:-$HOME/.cache}/edge-assistant/venv
# (gymnasium is optional: without it that baseline is skipped).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${XDG_CACHE_HOME:-$HOME/.cache}/edge-assistant/venv"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -c "import numpy" 2>/dev/null || "$VENV/bin/pip" install -q numpy
"$VENV/bin/python" -c "import gymnasium" 2>/dev/null || "$VENV/bin/pip" install -q gymnasium \
  || echo "gymnasium could not be installed; its baseline is skipped" >&2
# Keep freed memory in the process heap (for Python and Rust alike), like the Worker's wasm linear
# memory: glibc's default returns every multi-megabyte trajectory buffer to the kernel and pays
# page faults on the next request, which then dominate the trajectory figures natively.
# ROLLOUT_DEFAULT_MALLOC=1 measures with glibc's defaults instead.
if [ -z "${ROLLOUT_DEFAULT_MALLOC:-}" ]; then
  export GLIBC_TUNABLES="glibc.malloc.mmap_threshold=67108864:glibc.malloc.trim_threshold=268435456"
fi
OUT="$(mktemp -t rollout_baseline.XXXXXX)"
trap 'rm -f "$OUT"' EXIT
"$VENV/bin/python" bench/rollout_numpy.py > "$OUT"
cargo bench --bench rollout -- --baseline "$OUT" 2>/dev/null
