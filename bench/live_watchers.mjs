// Live updates under a streaming reply: W WebSocket watchers on one tab (`GET /api/tabs/{id}/live`)
// while the assistant streams from the local OpenAI-compatible fixture, against `wrangler dev`.
//
//   source scripts/lib/env.sh && ./scripts/build
//   node bench/live_watchers.mjs [--watchers 10] [--rounds 3] [--deltas 400] [--delay-ms 10] [--chunk-chars 4] [--workerd]
//
// By default the worker runs under `wrangler dev` (its Node proxy relays every socket); with
// `--workerd`, under plain `workerd serve` (bench/load/workerd.mjs), without that proxy.
//
// Method. The fixture runs in this process and timestamps every delta just before writing it
// (`onDelta`, `performance.now()`); the watchers run in this process too, so both ends read the
// same clock. The reply's text is ASCII, so the k-th fixture delta ends at character
// (k+1)·chunk-chars of the reply. Each watcher concatenates its delta frames; a frame that brings
// its text to character n "contains" every fixture delta ending in (previous n, n], and the lag of
// each of those deltas for that watcher is the frame's arrival minus the delta's write. One SSE
// client on `GET …/replies/{id}/events` (one event per delta, no coalescing) is measured the same
// way as a reference for what the worker adds before any coalescing. Frames per second per watcher:
// (delta frames − 1) ÷ (last − first delta frame's arrival). Lag percentiles are over every
// (delta, watcher) pair of a round; every figure is the median over rounds (after a warm-up round).
import { performance } from "node:perf_hooks";
import { startWorker, call, tokenFor } from "../tests/e2e/harness.mjs";
import { startLlmServer } from "../tests/fixtures/llm_server.mjs";
import { startWorkerd } from "./load/workerd.mjs";

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const at = args.indexOf(`--${name}`);
  return at >= 0 ? Number(args[at + 1]) : dflt;
};
const WATCHERS = opt("watchers", 10);
const ROUNDS = opt("rounds", 3);
const DELTAS = opt("deltas", 400);
const DELAY_MS = opt("delay-ms", 10);
const CHUNK = opt("chunk-chars", 4);
const PLAIN_WORKERD = args.includes("--workerd");

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : NaN;
};
const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] : NaN;
};

let written = []; // performance.now() of each fixture delta, by index
const llm = await startLlmServer({
  chunkChars: CHUNK,
  delayMs: DELAY_MS,
  onDelta: (_text, index) => { written[index] = performance.now(); },
});
const text = Array.from({ length: DELTAS * CHUNK }, (_, i) => String.fromCharCode(97 + (i % 26))).join("");
llm.configure({ text });
const vars = {
  LLM_UPSTREAM_URL: llm.base, LLM_MODEL: "fixture-ok", LLM_IDLE_TIMEOUT_MS: "10000",
  LLM_MAX_OUTPUT_TOKENS: "20000", LLM_CONTEXT_TOKENS: "32768", // long replies are not cut
};
const worker = PLAIN_WORKERD
  ? await startWorkerd({ vars: { ...vars, DEV_MODE: "1", RATE_LIMIT_PER_MINUTE: "1000000" } })
  : await startWorker({ vars });
const token = tokenFor("bench-live");
const api = (method, path, body) => call(worker.base, method, path, { token, body });

/** Lags (ms) of each fixture delta for one receiver: arrivals = [{at, chars}] (cumulative). */
function lagsOf(arrivals) {
  const lags = [];
  let prev = 0;
  for (const { at, chars } of arrivals) {
    for (let n = prev; n < chars; n += CHUNK) {
      const k = Math.floor(n / CHUNK);
      if (written[k] !== undefined) lags.push(at - written[k]);
    }
    prev = chars;
  }
  return lags;
}

async function round() {
  written = [];
  const tab = await api("POST", "/api/tabs", { title: "bench" });
  const tabId = tab.body.id;
  const q = await api("POST", `/api/tabs/${tabId}/messages`, { role: "user", content: "go" });
  if (q.status !== 201) throw new Error(`append: ${q.status}`);
  const url = `${worker.base.replace(/^http/, "ws")}/api/tabs/${tabId}/live?after=1`;
  const watchers = await Promise.all(Array.from({ length: WATCHERS }, () => new Promise((resolve, reject) => {
    const w = { arrivals: [], chars: 0, done: null };
    w.ended = new Promise((r) => { w.done = r; });
    const ws = new WebSocket(url, ["bearer", token]);
    ws.onmessage = (e) => {
      const at = performance.now();
      const f = JSON.parse(e.data);
      if (f.type === "delta") {
        w.chars += f.text.length;
        w.arrivals.push({ at, chars: w.chars });
      } else if (f.type === "reply" && f.reply.status !== "streaming") w.done(f.reply);
    };
    ws.onopen = () => resolve({ ...w, ws, get ended() { return w.ended; }, get arrivals() { return w.arrivals; }, get chars() { return w.chars; } });
    ws.onerror = () => reject(new Error("socket error"));
  })));
  const started = await api("POST", `/api/tabs/${tabId}/replies`, {});
  if (started.status !== 202) throw new Error(`reply: ${started.status}`);
  const replyId = started.body.reply.id;
  // The reference SSE reader.
  const sse = { arrivals: [], chars: 0 };
  const res = await fetch(`${worker.base}/api/tabs/${tabId}/replies/${replyId}/events`, { headers: { authorization: `Bearer ${token}` } });
  const decoder = new TextDecoder();
  let buf = "";
  for await (const chunk of res.body) {
    const at = performance.now();
    buf += decoder.decode(chunk, { stream: true });
    let cut;
    while ((cut = buf.indexOf("\n\n")) >= 0) {
      const block = buf.slice(0, cut);
      buf = buf.slice(cut + 2);
      if (!block.includes("event: delta")) continue;
      const data = block.split("\n").find((l) => l.startsWith("data: "));
      sse.chars += JSON.parse(data.slice(6)).text.length;
      sse.arrivals.push({ at, chars: sse.chars });
    }
  }
  const finals = await Promise.all(watchers.map((w) => w.ended));
  for (const w of watchers) w.ws.close();
  for (const [i, f] of finals.entries()) {
    if (f.status !== "complete" || watchers[i].chars !== text.length) throw new Error(`watcher ${i}: ${f.status}, ${watchers[i].chars} chars`);
  }
  const lags = watchers.flatMap((w) => lagsOf(w.arrivals));
  const fps = watchers.map((w) => {
    const span = (w.arrivals.at(-1).at - w.arrivals[0].at) / 1000;
    return (w.arrivals.length - 1) / span;
  });
  const sseLags = lagsOf(sse.arrivals);
  const streamS = (written.at(-1) - written[0]) / 1000;
  return {
    frames: median(watchers.map((w) => w.arrivals.length)),
    fps: median(fps),
    lagP50: pct(lags, 50), lagP99: pct(lags, 99), lagMax: Math.max(...lags),
    sseP50: pct(sseLags, 50), sseP99: pct(sseLags, 99),
    upstreamDeltasPerS: DELTAS / streamS,
  };
}

try {
  const results = [];
  await round(); // warm-up (compiles, creates the objects' tables)
  for (let r = 0; r < ROUNDS; r++) {
    const res = await round();
    results.push(res);
    console.error(`round ${r + 1}: ${JSON.stringify(Object.fromEntries(Object.entries(res).map(([k, v]) => [k, Math.round(v * 10) / 10])))}`);
  }
  const m = (k) => Math.round(median(results.map((x) => x[k])) * 10) / 10;
  console.log(JSON.stringify({
    server: PLAIN_WORKERD ? "workerd serve" : "wrangler dev", watchers: WATCHERS, rounds: ROUNDS, deltas: DELTAS, delay_ms: DELAY_MS, chunk_chars: CHUNK,
    upstream_deltas_per_s: m("upstreamDeltasPerS"),
    frames_per_watcher: m("frames"), frames_per_s_per_watcher: m("fps"),
    lag_p50_ms: m("lagP50"), lag_p99_ms: m("lagP99"), lag_max_ms: m("lagMax"),
    sse_lag_p50_ms: m("sseP50"), sse_lag_p99_ms: m("sseP99"),
  }));
} finally {
  await worker.stop();
  await llm.close();
}
