#!/usr/bin/env bash
# Wasm vs native benchmark of the pure core (issues 4, 5 and 14): builds the native runner and
# the wasm module(s), runs the identical suite (history search over the synthetic 100k-message
# corpus of benches/history_search.rs; rollout requests 64/256/1024 envs × 128 steps; the
# workspace scanner over real source files, per language; extraction of a tar.gz of the CPython
# stdlib) natively and under Node 22, alternating sides for ROUNDS rounds, and prints markdown
# tables of medians and wasm ÷ native ratios.
#
#   bench/wasm/run.sh                    # full run (~5 min on 2 busy cores, after the builds)
#   ROUNDS=1 OPTIONS='{"persistent":false,"samples":3}' bench/wasm/run.sh   # quicker
#   DOCS=10000 bench/wasm/run.sh         # smaller synthetic corpus
#   CORPUS=FILE QUERIES=FILE bench/wasm/run.sh                             # your own data
#   WASM_SIMD=1 bench/wasm/run.sh        # adds an opt-level 3 + simd128 wasm build (own target dir)
#   OPTIONS='{"history":false,"rollout":false}' bench/wasm/run.sh        # scanner + archive only
#
# Scanner corpus (issue 14): the `.py` files of Python's stdlib (site-packages left out; STDLIB=DIR
# to choose), the `.rs` files of the newest local copy of each crate in SCAN_CRATES (default
# "serde_json regex-syntax", from ~/.cargo/registry/src; missing ones are skipped) and the JS/TS
# files under SCAN_JS_DIR (default bench/scanner_js/node_modules; skipped when absent), packed
# into out/data/files.bin for both sides. The archive is the same stdlib `.py` files as
# out/data/stdlib.tar.gz (system tar, gzip -6, as benches/archive.rs makes it). SCAN=0 skips both.
#
# Wasm builds: "wasm shipped" = what the worker ships (this crate's [profile.release] mirrors the
# root one: opt-level "s" with the hot crates at 3, fat LTO, 1 CGU, then worker-build's
# `wasm-opt -O` and scripts/build's second pass `wasm-opt -Oz`, both with the same feature
# flags); "wasm O3+simd128" = opt-level 3 everywhere with `-C target-feature=+simd128`, `wasm-opt
# -O` only. Native = opt-level 3, fat LTO, 1 CGU (profile release-o3).
# Outputs land in bench/wasm/out/ (ignored).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
source "$HERE/../../scripts/lib/env.sh"
cd "$HERE"
ROUNDS="${ROUNDS:-3}"
OPTIONS="${OPTIONS:-}"
[ -n "$OPTIONS" ] || OPTIONS="{}"
DOCS="${DOCS:-100000}"
NUM_QUERIES="${NUM_QUERIES:-1000}"
OUT="$HERE/out"
mkdir -p "$OUT" pkg
if [ ! -x "$WASM_BINDGEN_BIN" ] || [ ! -x "$WASM_OPT_BIN" ] || [ ! -x "$ROOT/node_modules/.bin/node" ]; then
  "$ROOT/scripts/setup"
fi

# The feature flags rustc's wasm32 target emits, as worker-build and scripts/build pass them.
WASM_FEATURES=(--enable-mutable-globals --enable-sign-ext --enable-nontrapping-float-to-int
  --enable-bulk-memory --enable-multivalue --enable-reference-types --enable-exception-handling)
WASM_OPT_FLAGS=(-O "${WASM_FEATURES[@]}" --debuginfo)

log "building the native runner (release-o3)"
cargo build --quiet --profile release-o3 --bin wasmbench-native
NATIVE="$HERE/target/release-o3/wasmbench-native"

# build_wasm NAME PROFILE_DIR CARGO_ARGS... : cargo build, wasm-bindgen, wasm-opt into pkg/NAME
# (WASM_OPT_FLAGS + EXTRA_OPT_FLAGS, then, when SECOND_PASS is set, `wasm-opt $SECOND_PASS` with
# the same features). The stamp records the passes, so changing them rebuilds the package.
build_wasm() {
  local name=$1 dir=$2
  shift 2
  log "building wasm: $name"
  cargo build --quiet --lib --target wasm32-unknown-unknown "$@"
  local raw="$dir/wasm32-unknown-unknown/${PROFILE_DIR}/edge_assistant_wasmbench.wasm"
  local pkg="pkg/$name"
  local passes="${WASM_OPT_FLAGS[*]} ${EXTRA_OPT_FLAGS[*]} | ${SECOND_PASS:-}"
  if [ -f "$pkg/.stamp" ] && [ "$pkg/.stamp" -nt "$raw" ] && [ "$(cat "$pkg/.stamp")" = "$passes" ]; then
    return
  fi
  rm -rf "$pkg"
  "$WASM_BINDGEN_BIN" --target experimental-nodejs-module --out-dir "$pkg" "$raw"
  "$WASM_OPT_BIN" "${WASM_OPT_FLAGS[@]}" "${EXTRA_OPT_FLAGS[@]}" \
    "$pkg/edge_assistant_wasmbench_bg.wasm" -o "$pkg/opt.wasm"
  mv "$pkg/opt.wasm" "$pkg/edge_assistant_wasmbench_bg.wasm"
  # Like scripts/build, the second pass has no --debuginfo: the shipped module has no names
  # section (CPU profiles of pkg/shipped show wasm-function[N] instead of Rust names).
  if [ -n "${SECOND_PASS:-}" ]; then
    "$WASM_OPT_BIN" "$SECOND_PASS" "${WASM_FEATURES[@]}" "${EXTRA_OPT_FLAGS[@]}" \
      "$pkg/edge_assistant_wasmbench_bg.wasm" -o "$pkg/opt.wasm"
    mv "$pkg/opt.wasm" "$pkg/edge_assistant_wasmbench_bg.wasm"
  fi
  echo "$passes" > "$pkg/.stamp"
}
SIDES=()
EXTRA_OPT_FLAGS=()
# As scripts/build ships it: worker-build's -O, then -Oz.
SECOND_PASS=-Oz PROFILE_DIR=release build_wasm shipped "$HERE/target" --release
SIDES+=("wasm shipped")
if [ -n "${WASM_SIMD:-}" ]; then
  EXTRA_OPT_FLAGS=(--enable-simd)
  RUSTFLAGS="-C target-feature=+simd128" CARGO_TARGET_DIR="$HERE/target/simd" \
    PROFILE_DIR=release-o3 build_wasm o3-simd "$HERE/target/simd" --profile release-o3
  SIDES+=("wasm O3+simd128")
fi
pkg_of() {
  case "$1" in
    "wasm shipped") echo pkg/shipped ;;
    *) echo pkg/o3-simd ;;
  esac
}

if [ -z "${CORPUS:-}" ] || [ -z "${QUERIES:-}" ]; then
  "$NATIVE" gen "$OUT/data" "$DOCS" "$NUM_QUERIES"
  CORPUS="$OUT/data/corpus.txt" QUERIES="$OUT/data/queries.txt"
  # Same generator as benches/history_search.rs: say so when that bench's files are around.
  reference=/tmp/edge-assistant-history-bench
  if [ "$DOCS" = 100000 ] && [ "$NUM_QUERIES" = 1000 ] && [ -f "$reference/corpus.txt" ] && [ -f "$reference/queries.txt" ]; then
    if cmp -s "$CORPUS" "$reference/corpus.txt" && cmp -s "$QUERIES" "$reference/queries.txt"; then
      log "corpus and queries are byte-identical to benches/history_search.rs's ($reference)"
    else
      log "warning: corpus differs from $reference (regenerated by another version of the bench?)"
    fi
  fi
fi

# The scanner's file bundle and the stdlib tar.gz (issue 14), rebuilt on every run (a few seconds).
FILES="" ARCHIVE=""
if [ "${SCAN:-1}" != 0 ]; then
  STDLIB="${STDLIB:-$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["stdlib"])' 2>/dev/null || true)}"
  list="$OUT/data/files.txt"
  mkdir -p "$OUT/data"
  : > "$list"
  if [ -n "$STDLIB" ] && [ -d "$STDLIB" ]; then
    (cd "$STDLIB" && find . -name '*.py' -not -path '*/site-packages/*' -type f | LC_ALL=C sort) \
      > "$OUT/data/stdlib.txt"
    find "$STDLIB" -name '*.py' -not -path '*/site-packages/*' -type f | LC_ALL=C sort >> "$list"
    (cd "$STDLIB" && tar cf - -T "$OUT/data/stdlib.txt" | gzip -6) > "$OUT/data/stdlib.tar.gz"
    ARCHIVE="$OUT/data/stdlib.tar.gz"
    log "scanner corpus: Python stdlib at $STDLIB"
  else
    log "no Python stdlib found (STDLIB=DIR): no Python files, no archive"
  fi
  for crate in ${SCAN_CRATES:-serde_json regex-syntax}; do
    dir="$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/"$crate"-[0-9]* 2>/dev/null | sort -V | tail -1 || true)"
    if [ -n "$dir" ]; then
      find "$dir" -name '*.rs' -type f | LC_ALL=C sort >> "$list"
      log "scanner corpus: $(basename "$dir")"
    else
      log "scanner corpus: crate $crate not in the local registry, skipped"
    fi
  done
  js="${SCAN_JS_DIR:-$ROOT/bench/scanner_js/node_modules}"
  if [ -d "$js" ]; then
    find "$js" -type f \( -name '*.js' -o -name '*.mjs' -o -name '*.cjs' -o -name '*.jsx' \
      -o -name '*.ts' -o -name '*.mts' -o -name '*.cts' -o -name '*.tsx' \) | LC_ALL=C sort >> "$list"
    log "scanner corpus: JS/TS under $js"
  else
    log "scanner corpus: no $js, JS/TS skipped"
  fi
  if [ -s "$list" ]; then
    "$NATIVE" bundle "$list" "$OUT/data/files.bin"
    FILES="$OUT/data/files.bin"
  fi
fi

RESULTS="$OUT/results.jsonl"
: > "$RESULTS"
# record SIDE ROUND COMMAND...: runs one side's suite, appends its JSON line (progress → out/run.log).
record() {
  local side=$1 round=$2 result
  shift 2
  log "round $round/$ROUNDS: $side"
  if ! result="$("$@" 2>>"$OUT/run.log")" || [ -z "$result" ]; then
    log "$side failed; see $OUT/run.log"
    exit 1
  fi
  printf '{"side":"%s","round":%s,"result":%s}\n' "$side" "$round" "$result" >> "$RESULTS"
}
: > "$OUT/run.log"
for round in $(seq 1 "$ROUNDS"); do
  record native "$round" "$NATIVE" run "$CORPUS" "$QUERIES" "$OPTIONS" "$FILES" "$ARCHIVE"
  for side in "${SIDES[@]}"; do
    record "$side" "$round" node run.mjs "$(pkg_of "$side")" "$CORPUS" "$QUERIES" "$OPTIONS" \
      "$FILES" "$ARCHIVE"
  done
done
log "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
node report.mjs "$RESULTS"
