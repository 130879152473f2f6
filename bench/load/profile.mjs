// Where a request's CPU goes on plain `workerd serve`, per route, from a whole-process profile.
//
// Method: workerd runs the generated config (bench/load/workerd.mjs) with V8's `--perf-basic-prof`
// (V8 writes /tmp/perf-<pid>.map naming its JIT code: JS functions, and wasm functions by the
// module's name section, i.e. the Rust functions), and `perf record -g` samples the whole workerd
// process (cpu-clock, frame-pointer call chains through workerd's C++, V8, JS and wasm frames)
// while wrk drives one target. Each target is warmed up first (JIT and wasm tier-up). workerd's
// CPU time (user + system, /proc/<pid>/stat) over the measured run divided by the requests wrk
// completed gives CPU µs per request; the samples split it into:
//   - "Rust → <runtime API>": time inside a JS runtime API that the Rust code called through a
//     wasm-bindgen import (build/index.js `__wbg_*` shims), everything below it included: e.g.
//     `console.log`, `new Headers`, `headers.set`; the label is the shim's body;
//   - Rust code itself (wasm frames at the leaf) and the wasm↔JS boundary stubs;
//   - worker-build's JS glue (build/index.js outside the import shims: the Proxy around the
//     entrypoint, future_to_promise plumbing), and worker/entry.mjs's wrapper;
//   - worker JS (the JS targets' own code and the runtime APIs it calls);
//   - workerd with no worker code on the stack: V8 garbage collection, kernel (syscalls, loopback
//     TCP), and workerd's own C++ (HTTP parsing and writing, request dispatch, isolate entry).
// Every sample is charged to the first of those that matches (innermost Rust→API call first).
// Unlike V8's inspector profiler, this sees workerd's C++, GC threads and the kernel too.
//
// Usage: node bench/load/profile.mjs [--duration 10s] [--connections 64] [--freq 1999]
//        [--targets noop,health,...] [--top 20] [--keep DIR]
// Targets: health (Rust GET /api/health through worker/entry.mjs), rust-direct (the same Rust
// worker as the main module, without entry.mjs), noop (plain JS), noop-log (JS no-op + the log
// line), js-shell (the shell's health work written in JS). Needs `perf` (linux-perf) with
// permission to profile own processes (kernel.perf_event_paranoid ≤ 2).
import { execFileSync, spawn } from "node:child_process";
import { copyFileSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { ROOT, startWorkerd } from "./workerd.mjs";

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const duration = opt("duration", "10s");
const connections = Number(opt("connections", "64"));
const freq = Number(opt("freq", "1999"));
const targets = opt("targets", "noop,health,rust-direct,js-shell,noop-log").split(",");
const top = Number(opt("top", "20"));
const keep = opt("keep", "");

// target → [socket, path]
const TARGETS = {
  health: ["http", "/api/health"],
  "rust-direct": ["rust-direct", "/api/health"],
  noop: ["noop", "/"],
  "noop-log": ["noop-log", "/"],
  "js-shell": ["js-shell", "/"],
};

const HZ = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }));
/** CPU time of a process so far (user + system, all threads, ms), from /proc/PID/stat. */
export function cpuMs(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return ((Number(f[11]) + Number(f[12])) * 1000) / HZ;
}

function wrk(url, seconds) {
  const out = execFileSync("wrk", ["-t2", `-c${connections}`, `-d${seconds}`, url], { encoding: "utf8" });
  return {
    rps: Number(out.match(/Requests\/sec:\s+([\d.]+)/)[1]),
    requests: Number(out.match(/(\d+) requests in/)[1]),
    non2xx: Number(out.match(/Non-2xx or 3xx responses: (\d+)/)?.[1] ?? 0),
    socketErrors: out.match(/Socket errors: (.*)/)?.[1] ?? "none",
  };
}

// Labels for wasm-bindgen's import shims: `__wbg_log_ff86…:function(t){console.log(t)}` → the
// body, shortened, so `new Headers` and `new Map` (both `__wbg_new_*`) stay apart.
const shimLabels = new Map();
{
  const glue = readFileSync(join(ROOT, "build/index.js"), "utf8");
  for (const m of glue.matchAll(/(__wbg_[A-Za-z0-9_]+?_[0-9a-f]{16}):function\(([^)]*)\)\{(.{0,200}?)\}(?=,__wbg|,__wbindgen|\}\})/g)) {
    let body = m[3].replace(/^(let|var) [^;]*;/, "").replace(/^return /, "").replace(/d\(\)\.set\w+\([^)]*\)[,;]?/g, "");
    body = body.replace(/\bl\((\w),(\w)\)/g, "str").replace(/\bC\((\w),(\w)\)/g, "bytes");
    shimLabels.set(m[1], body.slice(0, 60));
  }
}
const shimLabel = (name) => `${name.replace(/_[0-9a-f]{16}$/, "").replace(/^__wbg_/, "")}: \`${shimLabels.get(name) ?? "?"}\``;

const isWasm = (sym) => /^JS:.*-\d+-(liftoff|turbofan)$/.test(sym) && !/^JS:(wasm-to-js|js-to-wasm)/.test(sym);
const isBoundary = (sym) => /^JS:(wasm-to-js|js-to-wasm)|^Stub:(js-to-wasm|wasm-to-js)|^Builtins_(JSToWasm|WasmToJs|GenericJSToWasm|GenericWasmToJS)/.test(sym);
const isGc = (sym) => /v8::internal::(Heap::|Scavenger|MinorGC|MarkCompact|ConcurrentMarking|MinorMarkSweep|IncrementalMarking)|cppgc::internal::(HeapVisitor|Sweeper|Marker|MutatorThreadSweeper)|HeapTracer::ResetRoot|GCEpilogue|GCPrologue/.test(sym);
const isShim = (sym) => /^JS:[\^*~+']*__wbg_\w+ build\/index\.js/.test(sym);
const wasmName = (sym) => sym.replace(/^JS:/, "").replace(/-\d+-(liftoff|turbofan)$/, "").replace(/::h[0-9a-f]{16}$/, "");

/** Charges one sample (frames leaf → root, each {sym, dso}) to a bucket. */
function bucket(frames) {
  const syms = frames.map((f) => f.sym);
  const at = syms.findIndex(isShim);
  if (at >= 0) return `Rust → ${shimLabel(syms[at].match(/__wbg_\w+/)[0])}`;
  if (isWasm(syms[0])) return "Rust code (wasm)";
  if (syms.some(isWasm) && isBoundary(syms[0])) return "wasm↔JS boundary stubs";
  if (syms.some(isWasm)) return "Rust code (wasm): other leaves (V8 runtime, malloc)";
  if (syms.some((s) => / build\/index\.js/.test(s))) return "worker-build JS glue (Proxy, promise plumbing)";
  if (syms.some((s) => / worker\/entry\.mjs/.test(s))) return "worker/entry.mjs wrapper";
  if (syms.some((s) => /^JS:.* [\w-]+\.mjs:/.test(s))) return "worker JS (and the runtime APIs it calls)";
  if (syms.some(isGc)) return "workerd: V8 garbage collection";
  if (frames[0].dso === "[kernel.kallsyms]") return "workerd: kernel (syscalls, loopback TCP)";
  return "workerd: C++ (HTTP, dispatch, isolate entry, microtasks)";
}

/** Runs `perf script` on a recording and folds its samples. */
function fold(dataFile) {
  const out = execFileSync("perf", ["script", "-i", dataFile, "-F", "tid,ip,sym,dso"], {
    encoding: "utf8", maxBuffer: 1 << 30, stdio: ["ignore", "pipe", "ignore"],
  });
  const buckets = new Map();
  const leaves = new Map();
  const rustInclusive = new Map();
  const calls = new Map();
  let samples = 0;
  for (const block of out.split("\n\n")) {
    const lines = block.split("\n").filter((l) => l.trim());
    if (lines.length < 2) continue;
    const frames = lines.slice(1).map((l) => {
      const m = l.trim().match(/^[0-9a-f]+ (.*) \((.*)\)$/);
      return m ? { sym: m[1], dso: m[2] } : { sym: l.trim(), dso: "" };
    });
    samples++;
    const b = bucket(frames);
    buckets.set(b, (buckets.get(b) ?? 0) + 1);
    const leaf = frames[0].sym.replace(/^JS:/, "").replace(/<.*>/g, "<…>").replace(/\(.*\)/g, "").slice(0, 110);
    leaves.set(leaf, (leaves.get(leaf) ?? 0) + 1);
    const syms = frames.map((f) => f.sym);
    const at = syms.findIndex(isShim);
    if (at >= 0) {
      const caller = syms.slice(at + 1).find(isWasm);
      const key = `${caller ? wasmName(caller) : "?"} → ${shimLabel(syms[at].match(/__wbg_\w+/)[0])}`;
      calls.set(key, (calls.get(key) ?? 0) + 1);
    }
    for (const name of new Set(syms.filter(isWasm).map(wasmName))) {
      rustInclusive.set(name, (rustInclusive.get(name) ?? 0) + 1);
    }
  }
  return { samples, buckets, leaves, rustInclusive, calls };
}

execFileSync("perf", ["--version"], { stdio: "ignore" });
const work = join(ROOT, "target", "load-profile");
mkdirSync(work, { recursive: true });
const server = await startWorkerd({ ladder: true, v8Flags: ["--perf-basic-prof"], vars: { RATE_LIMIT_PER_MINUTE: "1000000" } });
const perfMap = `/tmp/perf-${server.pid}.map`;
const results = [];
try {
  for (const name of targets) {
    const [socket, path] = TARGETS[name] ?? (() => { throw new Error(`unknown target ${name}`); })();
    const url = server.urls[socket] + path;
    wrk(url, "3s"); // warm-up: JIT, wasm tier-up
    const dataFile = join(work, `${name}.perf.data`);
    const perf = spawn("perf", ["record", "-F", String(freq), "-g", "-p", String(server.pid), "-o", dataFile, "--quiet"], { stdio: "ignore" });
    await new Promise((r) => setTimeout(r, 300));
    const load = loadavg()[0];
    const cpu0 = cpuMs(server.pid);
    const r = wrk(url, duration);
    const cpu1 = cpuMs(server.pid);
    process.kill(perf.pid, "SIGINT");
    await new Promise((r) => perf.once("exit", r));
    results.push({ name, ...r, load, cpuUsPerReq: ((cpu1 - cpu0) * 1000) / r.requests, ...fold(dataFile) });
    if (keep) {
      mkdirSync(keep, { recursive: true });
      copyFileSync(dataFile, join(keep, `${name}.perf.data`));
    }
    rmSync(dataFile, { force: true });
  }
  if (keep) copyFileSync(perfMap, join(keep, `perf-${server.pid}.map`));
} finally {
  await server.stop();
  rmSync(perfMap, { force: true });
}

const per = (r, count) => ((r.cpuUsPerReq * count) / r.samples).toFixed(1);
console.log(`\nProfile: workerd serve (--perf-basic-prof), perf record -F ${freq} -g on the workerd process, wrk -t2 -c${connections} -d${duration} per target after a 3 s warm-up\n`);
console.log("| target | req/s (under perf) | non-2xx | socket errors | workerd CPU µs/req | vs noop | samples | load avg |");
console.log("|---|---:|---:|---|---:|---:|---:|---:|");
const noop = results.find((r) => r.name === "noop");
for (const r of results) {
  console.log(`| ${r.name} | ${r.rps.toFixed(0)} | ${r.non2xx} | ${r.socketErrors} | ${r.cpuUsPerReq.toFixed(1)} | ${noop ? `${(r.cpuUsPerReq / noop.cpuUsPerReq).toFixed(2)}×` : "—"} | ${r.samples} | ${r.load.toFixed(1)} |`);
}
const allBuckets = [...new Set(results.flatMap((r) => [...r.buckets.keys()]))]
  .sort((a, b) => Math.max(...results.map((r) => r.buckets.get(b) ?? 0)) - Math.max(...results.map((r) => r.buckets.get(a) ?? 0)));
console.log("\nCPU µs per request by where it goes (samples × CPU µs/req ÷ samples; first match: innermost Rust→API call, Rust, glue, worker JS, then workerd):\n");
console.log(`| where | ${results.map((r) => r.name).join(" | ")} |`);
console.log(`|---|${results.map(() => "---:").join("|")}|`);
for (const b of allBuckets) {
  if (Math.max(...results.map((r) => (r.buckets.get(b) ?? 0) / r.samples)) < 0.003) continue;
  console.log(`| ${b} | ${results.map((r) => (r.buckets.has(b) ? per(r, r.buckets.get(b)) : "")).join(" | ")} |`);
}
console.log(`| (buckets under 0.3% of every target's samples) | ${results.map((r) => per(r, [...r.buckets].filter(([b]) => Math.max(...results.map((x) => (x.buckets.get(b) ?? 0) / x.samples)) < 0.003).reduce((a, [, n]) => a + n, 0))).join(" | ")} |`);
for (const r of results.filter((x) => x.rustInclusive.size)) {
  console.log(`\nRust functions on the stack, ${r.name} (inclusive µs/req: the function and all it calls, runtime APIs included; LTO inlines most of the shell into the future's poll closure):\n`);
  console.log("| wasm function | µs/req |");
  console.log("|---|---:|");
  for (const [f, n] of [...r.rustInclusive].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`| \`${f.replace(/\|/g, "\\|")}\` | ${per(r, n)} |`);
}
for (const r of results.filter((x) => x.calls.size)) {
  console.log(`\nRust → runtime API calls, ${r.name}, by calling wasm function (inclusive µs/req):\n`);
  console.log("| Rust caller → import (body) | µs/req |");
  console.log("|---|---:|");
  for (const [f, n] of [...r.calls].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`| ${f.replace(/\|/g, "\\|")} | ${per(r, n)} |`);
}
for (const r of results) {
  console.log(`\nTop ${top} leaf symbols (self time), ${r.name} (µs/req):\n`);
  console.log("| symbol | µs/req |");
  console.log("|---|---:|");
  for (const [f, n] of [...r.leaves].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`| \`${f.replace(/\|/g, "\\|")}\` | ${per(r, n)} |`);
}
