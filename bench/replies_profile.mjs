// Where a reply's time to first delta goes: a profile of workerd's main thread split at the
// model request. Complements bench/replies.mjs, which measures the time itself.
//
// Method: the bundle is served on plain `workerd serve` (bench/load/workerd.mjs) with V8's
// --perf-basic-prof, and `perf record -k CLOCK_MONOTONIC -g` samples workerd while replies run
// one at a time against the local OpenAI-compatible fixture (each a fresh tab with one question,
// `Accept: text/event-stream`, read to its end). For every reply the script notes, on the same
// clock (`process.hrtime.bigint()`): the POST's start, the moment the fixture receives the model
// request, and the first delta's arrival. Samples of workerd's main thread (the isolate's) are then
// charged to "before the model request" (the worker, the tab's object, the reservation in the
// user's object, the prompt) or "after it" (the model's answer through the object's and the
// worker's streams, the start's commit), and folded as bench/load/profile.mjs folds them
// (bench/load/perf_samples.mjs): runtime calls made from Rust by their JS body, Rust code,
// workerd's C++, GC and kernel; plus the Rust functions on the stack.
//
// The shipped build has no wasm name section (wasm-opt drops it), so its Rust frames show as
// `wasm-function[N]`; `BUILD_WASM_NAMES=1 ./scripts/build` (then copy build/ away and rebuild)
// keeps the names for this profile. perf slows the process (roughly 2× at 4999 Hz): the windows'
// milliseconds here are not the bench's; compare shares, and builds within one run.
//
// Usage: node bench/replies_profile.mjs [--runs 150] [--warmup 30] [--freq 4999] [--build DIR] [--top 25]
// --warmup 0 profiles the first replies of a fresh process (bench/replies.mjs --warmup).
// --same-tab runs every reply in one tab, as a conversation (a question appended before each,
// outside the profiled windows), instead of a new tab per reply: the objects' steady state.
// --keep FILE keeps the perf recording (for `perf report -i FILE`; JIT names need the process's
// /tmp/perf-PID.map, kept with it as FILE.map).
// Needs `perf` with permission to profile own processes (kernel.perf_event_paranoid ≤ 2).
import { spawn } from "node:child_process";
import { copyFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { call, tokenFor } from "../tests/e2e/harness.mjs";
import { startLlmServer } from "../tests/fixtures/llm_server.mjs";
import { bucket, isShim, isWasm, readSamples, shimLabeller, wasmName } from "./load/perf_samples.mjs";
import { ROOT, startWorkerd } from "./load/workerd.mjs";

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const RUNS = Number(opt("runs", "150"));
const WARMUP = Number(opt("warmup", "30"));
const FREQ = Number(opt("freq", "4999"));
const BUILD = opt("build", join(ROOT, "build"));
const TOP = Number(opt("top", "25"));
const KEEP = opt("keep", "");
const SAME_TAB = process.argv.includes("--same-tab");

const llm = await startLlmServer({ chunkChars: 4, delayMs: 0 });
llm.configure({ text: "Hello there, this is a short answer.", delayMs: 0 });
let modelRequestAt = 0n;
llm.server.prependListener("request", (req) => {
  if (req.url.includes("chat/completions")) modelRequestAt = process.hrtime.bigint();
});
const server = await startWorkerd({
  build: BUILD,
  v8Flags: ["--perf-basic-prof"],
  vars: {
    DEV_MODE: "1", RATE_LIMIT_PER_MINUTE: "1000000", LLM_UPSTREAM_URL: llm.base, LLM_MODEL: "fixture-ok",
    USER_DAILY_TOKENS: "1000000000", LLM_MAX_OUTPUT_TOKENS: "8192", LLM_CONTEXT_TOKENS: "16384",
  },
});
const perfMap = `/tmp/perf-${server.pid}.map`;
const dataFile = join(server.dir, "replies.perf.data");
const token = tokenFor("bench-replies-profile");
const api = (method, path, opts = {}) => call(server.base, method, path, { token, ...opts });

async function newTab() {
  const tab = await api("POST", "/api/tabs", { body: {} });
  await api("POST", `/api/tabs/${tab.body.id}/messages`, { body: { role: "user", content: "Write a short greeting." } });
  return tab.body.id;
}

/** One reply, read to its end: [POST start, model request, first delta] on the monotonic clock. */
async function reply(tabId) {
  const posted = process.hrtime.bigint();
  const res = await fetch(`${server.base}/api/tabs/${tabId}/replies`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json", accept: "text/event-stream" },
    body: "{}",
  });
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let text = "";
  let first;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
    if (first === undefined && text.includes("event: delta")) first = process.hrtime.bigint();
  }
  if (first === undefined) throw new Error(`no delta: ${text.slice(0, 300)}`);
  return [posted, modelRequestAt, first];
}

const ms = (ns) => Number(ns) / 1e6;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const pct = (n, total) => `${((100 * n) / Math.max(total, 1)).toFixed(1)}%`;
try {
  let conversation;
  /** The tab for the next reply: a fresh one, or with --same-tab the one tab and a new question. */
  const nextTab = async () => {
    if (!SAME_TAB) return newTab();
    if (!conversation) return (conversation = await newTab());
    await api("POST", `/api/tabs/${conversation}/messages`, { body: { role: "user", content: "Write a short greeting." } });
    return conversation;
  };
  for (let i = 0; i < WARMUP; i++) await reply(await nextTab());
  const tabs = [];
  if (!SAME_TAB) for (let i = 0; i < RUNS; i++) tabs.push(await newTab());
  const perf = spawn("perf", ["record", "-k", "CLOCK_MONOTONIC", "-F", String(FREQ), "-g", "-p", String(server.pid), "-o", dataFile, "--quiet"], { stdio: "ignore" });
  await new Promise((r) => setTimeout(r, 500));
  const windows = [];
  if (SAME_TAB) { // the question's append falls between the profiled windows
    for (let i = 0; i < RUNS; i++) windows.push(await reply(await nextTab()));
  } else {
    for (const tabId of tabs) windows.push(await reply(tabId));
  }
  process.kill(perf.pid, "SIGINT");
  await new Promise((r) => perf.once("exit", r));
  if (KEEP) {
    copyFileSync(dataFile, KEEP);
    copyFileSync(perfMap, `${KEEP}.map`);
  }

  const shimLabel = shimLabeller(BUILD);
  const phases = { before: new Map(), after: new Map() };
  const rust = { before: new Map(), after: new Map() };
  const calls = { before: new Map(), after: new Map() };
  const count = { before: 0, after: 0 };
  const add = (m, k) => m.set(k, (m.get(k) ?? 0) + 1);
  const starts = windows.map((w) => w[0]);
  for (const { tid, ns, frames } of readSamples(dataFile)) {
    if (tid !== server.pid) continue; // the main thread: the isolate, its I/O and its commits
    let lo = 0;
    let hi = starts.length - 1;
    if (ns < starts[0]) continue;
    while (lo < hi) { // the last window starting at or before the sample
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid] <= ns) lo = mid; else hi = mid - 1;
    }
    const [posted, requested, first] = windows[lo];
    const phase = ns < requested && ns >= posted ? "before" : ns >= requested && ns < first ? "after" : null;
    if (!phase) continue;
    count[phase]++;
    add(phases[phase], bucket(frames, shimLabel));
    const syms = frames.map((f) => f.sym);
    for (const name of new Set(syms.filter(isWasm).map(wasmName))) add(rust[phase], name);
    const at = syms.findIndex(isShim);
    if (at >= 0) {
      const caller = syms.slice(at + 1).find(isWasm);
      add(calls[phase], `${caller ? wasmName(caller) : "?"} → ${shimLabel(syms[at].match(/__wbg_\w+/)[0])}`);
    }
  }

  const before = windows.map(([p, r]) => ms(r - p));
  const after = windows.map(([, r, f]) => ms(f - r));
  const cpuMs = (phase) => (1000 * count[phase]) / FREQ / RUNS;
  console.log(`\`node bench/replies_profile.mjs ${args.join(" ")}\`: ${RUNS} replies${SAME_TAB ? " in one tab" : ", each in a new tab,"} after ${WARMUP} warm-up, perf -F ${FREQ} on workerd serve (build ${BUILD})\n`);
  // Busy: the main thread's CPU in the window over the window's mean length (both per reply).
  console.log("| window | median ms (under perf) | mean ms | main-thread CPU ms per reply | busy |");
  console.log("|---|---:|---:|---:|---:|");
  for (const [phase, xs] of [["before", before], ["after", after]]) {
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    console.log(`| ${phase === "before" ? "POST → model request" : "model request → first delta"} | ${median(xs).toFixed(2)} | ${mean.toFixed(2)} | ${cpuMs(phase).toFixed(2)} | ${pct(cpuMs(phase), mean)} |`);
  }
  const table = (title, maps, limit) => {
    console.log(`\n${title}\n\n| | before the model request | after it |\n|---|---:|---:|`);
    const keys = [...new Set([...maps.before.keys(), ...maps.after.keys()])]
      .sort((a, b) => (maps.before.get(b) ?? 0) + (maps.after.get(b) ?? 0) - (maps.before.get(a) ?? 0) - (maps.after.get(a) ?? 0))
      .slice(0, limit);
    for (const k of keys) console.log(`| ${k.replace(/\|/g, "\\|")} | ${pct(maps.before.get(k) ?? 0, count.before)} | ${pct(maps.after.get(k) ?? 0, count.after)} |`);
  };
  table("Where the main thread's samples go (each sample charged once, innermost runtime call first):", phases, 40);
  table("Rust functions on the stack (inclusive; needs a build with wasm names):", rust, TOP);
  table("Runtime calls from Rust, by calling function (inclusive):", calls, TOP);
} finally {
  await server.stop();
  await llm.close();
  rmSync(perfMap, { force: true });
}
