#!/usr/bin/env bash
# Release .wasm size of the worker, raw and gzip -9 (what the 3 MiB / 10 MiB Workers limits count).
set -euo pipefail
source "$(dirname "$0")/../scripts/lib/env.sh"
cd "$ROOT"
./scripts/build >/dev/null
raw=$(stat -c %s build/index_bg.wasm)
gz=$(gzip -9 -c build/index_bg.wasm | wc -c)
js=$(stat -c %s build/index.js)
printf '| artefact | bytes | KiB |\n|---|---:|---:|\n'
printf '| build/index_bg.wasm (raw) | %d | %.1f |\n' "$raw" "$(echo "$raw/1024" | bc -l)"
printf '| build/index_bg.wasm (gzip -9) | %d | %.1f |\n' "$gz" "$(echo "$gz/1024" | bc -l)"
printf '| build/index.js (glue) | %d | %.1f |\n' "$js" "$(echo "$js/1024" | bc -l)"
