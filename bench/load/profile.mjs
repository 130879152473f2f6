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
//        [--targets noop,health,...] [--rounds 1] [--top 20] [--keep DIR] [--variant-build DIR]
// --rounds N runs the targets N times interleaved; CPU µs/req is the median over rounds, and
// "vs noop" the median of each round's ratio (CPU time per request is the steadiest figure on a
// shared machine, but still moves ±10% between runs: compare within a run).
// Targets: health (Rust GET /api/health through worker/entry.mjs), rust-direct (the same Rust
// worker as the main module, without entry.mjs), noop (plain JS), noop-log (JS no-op + the log
// line), js-shell (the shell's health work written in JS), and the what-if entry variants
// rust-promise-microtask and rust-no-log (bench/load/workers/variant-*.mjs); with
// --variant-build DIR (another build's index.js + index_bg.wasm, e.g. a scratch checkout with a
// change to src/edge built by its ./scripts/build), rust-variant: that build's /api/health. Any
// scenario of scenarios.mjs is a target too (e.g. search-web-hit, append-1-tab). Needs `perf` (linux-perf) with
// permission to profile own processes (kernel.perf_event_paranoid ≤ 2).
import { execFileSync, spawn } from "node:child_process";
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { tokenFor } from "../../scripts/lib/token.mjs";
import { scenarios, startFixtureUpstream } from "./scenarios.mjs";
import { bucket, isShim, isWasm, readSamples, shimLabeller, wasmName } from "./perf_samples.mjs";
import { ROOT, startWorkerd } from "./workerd.mjs";

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const duration = opt("duration", "10s");
const connections = Number(opt("connections", "64"));
const freq = Number(opt("freq", "1999"));
const targets = opt("targets", "noop,health,rust-direct,rust-promise-microtask,rust-no-log,js-shell,noop-log").split(",");
const top = Number(opt("top", "20"));
const keep = opt("keep", "");
const rounds = Number(opt("rounds", "1"));
const variantBuild = opt("variant-build", "");

// target → [socket, path]
const TARGETS = {
  health: ["http", "/api/health"],
  "rust-direct": ["rust-direct", "/api/health"],
  noop: ["noop", "/"],
  "noop-log": ["noop-log", "/"],
  "js-shell": ["js-shell", "/"],
  "rust-promise-microtask": ["rust-promise-microtask", "/api/health"],
  "rust-no-log": ["rust-no-log", "/api/health"],
  "rust-variant": ["rust-variant", "/api/health"],
};

const HZ = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }));
/** CPU time of a process so far (user + system, all threads, ms), from /proc/PID/stat. */
export function cpuMs(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return ((Number(f[11]) + Number(f[12])) * 1000) / HZ;
}

function wrk(url, seconds, lua) {
  const out = execFileSync("wrk", ["-t2", `-c${connections}`, `-d${seconds}`, ...(lua ? ["-s", lua] : []), url], { encoding: "utf8", maxBuffer: 1 << 24 });
  return {
    rps: Number(out.match(/Requests\/sec:\s+([\d.]+)/)[1]),
    requests: Number(out.match(/(\d+) requests in/)[1]),
    non2xx: Number(out.match(/Non-2xx or 3xx responses: (\d+)/)?.[1] ?? 0),
    socketErrors: out.match(/Socket errors: (.*)/)?.[1] ?? "none",
  };
}

const shimLabel = shimLabeller(join(ROOT, "build"));

/** Runs `perf script` on a recording and folds its samples. */
function fold(dataFile) {
  const buckets = new Map();
  const leaves = new Map();
  const rustInclusive = new Map();
  const calls = new Map();
  let samples = 0;
  for (const { frames } of readSamples(dataFile)) {
    samples++;
    const b = bucket(frames, shimLabel);
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
const fixture = await startFixtureUpstream();
const server = await startWorkerd({
  ladder: true, v8Flags: ["--perf-basic-prof"],
  vars: { RATE_LIMIT_PER_MINUTE: "1000000", SEARCH_UPSTREAM_URL: fixture.url },
  ...(variantBuild ? { variantBuild } : {}),
});
const perfMap = `/tmp/perf-${server.pid}.map`;
const runs = []; // one per (round, target)
const plans = {};
try {
  // Scenarios of scenarios.mjs are targets too (fixtures created once, before the first round).
  const ctx = { base: server.base, token: tokenFor("load-user"), tokenFor, connections };
  const byScenario = Object.fromEntries(scenarios.map((sc) => [sc.name, sc]));
  for (const name of targets) {
    if (TARGETS[name]) {
      const [socket, path] = TARGETS[name];
      plans[name] = { url: server.urls[socket] + path };
    } else if (byScenario[name]) {
      const sc = byScenario[name];
      const prepared = sc.prepare ? await sc.prepare(ctx) : {};
      const lua = join(work, `${name}.lua`);
      writeFileSync(lua, sc.lua(ctx, prepared));
      plans[name] = { url: server.urls[sc.socket ?? "http"] + sc.path(prepared), lua };
    } else {
      throw new Error(`unknown target ${name}`);
    }
  }
  for (let round = 1; round <= rounds; round++) {
    for (const name of targets) {
      const { url, lua } = plans[name];
      if (round === 1) wrk(url, "3s", lua); // warm-up: JIT, wasm tier-up
      const dataFile = join(work, `${name}-${round}.perf.data`);
      const perf = spawn("perf", ["record", "-F", String(freq), "-g", "-p", String(server.pid), "-o", dataFile, "--quiet"], { stdio: "ignore" });
      await new Promise((r) => setTimeout(r, 300));
      const load = loadavg()[0];
      const cpu0 = cpuMs(server.pid);
      const r = wrk(url, duration, lua);
      const cpu1 = cpuMs(server.pid);
      process.kill(perf.pid, "SIGINT");
      await new Promise((r) => perf.once("exit", r));
      runs.push({ name, round, ...r, load, cpuUsPerReq: ((cpu1 - cpu0) * 1000) / r.requests, ...fold(dataFile) });
      if (keep) {
        mkdirSync(keep, { recursive: true });
        copyFileSync(dataFile, join(keep, `${name}-${round}.perf.data`));
      }
      rmSync(dataFile, { force: true });
      process.stderr.write(`round ${round}: ${name} ${(((cpu1 - cpu0) * 1000) / r.requests).toFixed(1)} µs/req\n`);
    }
  }
  if (keep) copyFileSync(perfMap, join(keep, `perf-${server.pid}.map`));
} finally {
  await server.stop();
  fixture.close();
  rmSync(perfMap, { force: true });
  for (const plan of Object.values(plans)) if (plan.lua) rmSync(plan.lua, { force: true });
}

// Per target: the median of the rounds' CPU µs/req; the samples of all rounds pooled.
const median = (xs) => {
  const v = [...xs].sort((a, b) => a - b);
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
};
const pool = (maps) => {
  const out = new Map();
  for (const m of maps) for (const [k, v] of m) out.set(k, (out.get(k) ?? 0) + v);
  return out;
};
const results = targets.map((name) => {
  const mine = runs.filter((r) => r.name === name);
  return {
    name,
    rps: median(mine.map((r) => r.rps)),
    non2xx: mine.reduce((a, r) => a + r.non2xx, 0),
    socketErrors: [...new Set(mine.map((r) => r.socketErrors))].join("; "),
    load: median(mine.map((r) => r.load)),
    cpuUsPerReq: median(mine.map((r) => r.cpuUsPerReq)),
    cpuRange: [Math.min(...mine.map((r) => r.cpuUsPerReq)), Math.max(...mine.map((r) => r.cpuUsPerReq))],
    samples: mine.reduce((a, r) => a + r.samples, 0),
    buckets: pool(mine.map((r) => r.buckets)),
    leaves: pool(mine.map((r) => r.leaves)),
    rustInclusive: pool(mine.map((r) => r.rustInclusive)),
    calls: pool(mine.map((r) => r.calls)),
  };
});
// Per round, each target's CPU µs/req over noop's of the same round; median over rounds.
const ratioToNoop = (name) => median(runs.filter((r) => r.name === name).map((r) => r.cpuUsPerReq / runs.find((x) => x.round === r.round && x.name === "noop").cpuUsPerReq));

const per = (r, count) => ((r.cpuUsPerReq * count) / r.samples).toFixed(1);
console.log(`\n\`node bench/load/profile.mjs ${args.join(" ")}\`: workerd serve (--perf-basic-prof), perf record -F ${freq} -g on the workerd process, wrk -t2 -c${connections} -d${duration} per target after a 3 s warm-up, ${rounds} round${rounds > 1 ? "s interleaved (medians; samples pooled)" : ""}\n`);
const hasNoop = targets.includes("noop");
console.log("| target | req/s (under perf) | non-2xx | socket errors | workerd CPU µs/req | (min–max over rounds) | vs noop (same round) | samples | load avg |");
console.log("|---|---:|---:|---|---:|---|---:|---:|---:|");
for (const r of results) {
  console.log(`| ${r.name} | ${r.rps.toFixed(0)} | ${r.non2xx} | ${r.socketErrors} | ${r.cpuUsPerReq.toFixed(1)} | ${r.cpuRange.map((x) => x.toFixed(0)).join("–")} | ${hasNoop ? `${ratioToNoop(r.name).toFixed(2)}×` : "—"} | ${r.samples} | ${r.load.toFixed(1)} |`);
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
