// Reading `perf record` samples of workerd and charging each to what it was doing: shared by the
// whole-process profile (bench/load/profile.mjs) and the reply-path profile
// (bench/replies_profile.mjs). See profile.mjs for the method (V8's --perf-basic-prof names
// JIT code and wasm functions; frame-pointer call chains run through workerd's C++, V8, JS and
// wasm frames alike).
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";

/**
 * Labels for wasm-bindgen's import shims of the build in `buildDir`:
 * `__wbg_log_ff86…:function(t){console.log(t)}` → `log: \`console.log(t)\``, the body shortened,
 * so `new Headers` and `new Map` (both `__wbg_new_*`) stay apart.
 */
export function shimLabeller(buildDir) {
  const labels = new Map();
  const glue = readFileSync(join(buildDir, "index.js"), "utf8");
  for (const m of glue.matchAll(/(__wbg_[A-Za-z0-9_]+?_[0-9a-f]{16}):function\(([^)]*)\)\{(.{0,200}?)\}(?=,__wbg|,__wbindgen|\}\})/g)) {
    let body = m[3].replace(/^(let|var) [^;]*;/, "").replace(/^return /, "").replace(/d\(\)\.set\w+\([^)]*\)[,;]?/g, "");
    body = body.replace(/\bl\((\w),(\w)\)/g, "str").replace(/\bC\((\w),(\w)\)/g, "bytes");
    labels.set(m[1], body.slice(0, 60));
  }
  return (name) => `${name.replace(/_[0-9a-f]{16}$/, "").replace(/^__wbg_/, "")}: \`${labels.get(name) ?? "?"}\``;
}

export const isWasm = (sym) => /^JS:.*-\d+-(liftoff|turbofan)$/.test(sym) && !/^JS:(wasm-to-js|js-to-wasm)/.test(sym);
const isBoundary = (sym) => /^JS:(wasm-to-js|js-to-wasm)|^Stub:(js-to-wasm|wasm-to-js)|^Builtins_(JSToWasm|WasmToJs|GenericJSToWasm|GenericWasmToJS)/.test(sym);
const isGc = (sym) => /v8::internal::(Heap::|Scavenger|MinorGC|MarkCompact|ConcurrentMarking|MinorMarkSweep|IncrementalMarking)|cppgc::internal::(HeapVisitor|Sweeper|Marker|MutatorThreadSweeper)|HeapTracer::ResetRoot|GCEpilogue|GCPrologue/.test(sym);
export const isShim = (sym) => /^JS:[\^*~+']*__wbg_\w+ build\/index\.js/.test(sym);
export const wasmName = (sym) => sym.replace(/^JS:/, "").replace(/-\d+-(liftoff|turbofan)$/, "").replace(/::h[0-9a-f]{16}$/, "");

/** Charges one sample (frames leaf → root, each {sym, dso}) to a bucket. */
export function bucket(frames, shimLabel) {
  const syms = frames.map((f) => f.sym);
  const at = syms.findIndex(isShim);
  if (at >= 0) return `Rust → ${shimLabel(syms[at].match(/__wbg_\w+/)[0])}`;
  if (isWasm(syms[0])) return "Rust code (wasm)";
  if (syms.some(isWasm) && isBoundary(syms[0])) return "wasm↔JS boundary stubs";
  if (syms.some(isWasm)) return "Rust code (wasm): other leaves (V8 runtime, malloc)";
  if (syms.some((s) => / build\/index\.js/.test(s))) return "worker-build JS glue (Proxy, promise plumbing)";
  if (syms.some((s) => / (worker\/entry|variants\/variant-[\w-]+)\.mjs/.test(s))) return "worker/entry.mjs wrapper";
  if (syms.some((s) => /^JS:.* [\w-]+\.mjs:/.test(s))) return "worker JS (and the runtime APIs it calls)";
  if (syms.some(isGc)) return "workerd: V8 garbage collection";
  if (frames[0].dso === "[kernel.kallsyms]") return "workerd: kernel (syscalls, loopback TCP)";
  return "workerd: C++ (HTTP, dispatch, isolate entry, microtasks)";
}

/**
 * The samples of a recording as [{tid, ns, frames}] (frames leaf → root, each {sym, dso});
 * `ns` is the sample's time in perf's clock (CLOCK_MONOTONIC with `perf record -k
 * CLOCK_MONOTONIC`, comparable with Node's `process.hrtime.bigint()`).
 */
export function readSamples(dataFile) {
  const out = execFileSync("perf", ["script", "-i", dataFile, "-F", "tid,time,ip,sym,dso", "--ns"], {
    encoding: "utf8", maxBuffer: 1 << 30, stdio: ["ignore", "pipe", "ignore"],
  });
  const samples = [];
  for (const block of out.split("\n\n")) {
    const lines = block.split("\n").filter((l) => l.trim());
    if (lines.length < 2) continue;
    const head = lines[0].trim().match(/^(\d+)\s+(\d+)\.(\d+):/);
    if (!head) continue;
    const frames = lines.slice(1).map((l) => {
      const m = l.trim().match(/^[0-9a-f]+ (.*) \((.*)\)$/);
      return m ? { sym: m[1], dso: m[2] } : { sym: l.trim(), dso: "" };
    });
    samples.push({ tid: Number(head[1]), ns: BigInt(head[2]) * 1_000_000_000n + BigInt(head[3].padEnd(9, "0")), frames });
  }
  return samples;
}
