// Assistant replies through the real runtime (wrangler dev's workerd) against the local
// OpenAI-compatible fixture on loopback. Three figures, each with its baseline in the same run:
//
// 1. Time to first delta: POST …/replies with `Accept: text/event-stream` until the first
//    `delta` event arrives, against the fixture's own time to first content chunk for the same
//    request sent straight to it. The difference is the worker's overhead (admission, the
//    durable start, routing, the prompt, the object's upstream call, SSE through two hops).
// 2. Storage per reply of 1,000 deltas: the tab's own write counters (`GET …/stats`, every put
//    and delete of the tab's object) before and after one reply, against the reply's text.
// 3. Replay of a finished 4,000-delta reply (about 4,000 tokens) from `after=0`, end to end.
//
// Usage: node bench/replies.mjs [--runs 100] [--warmup 100] [--replays 40] [--workerd] [--grounded]
//                               [--same-tab] [--baseline-build DIR]
// --warmup N: time-to-first-delta replies run (through each build) before the measured ones. The
// first hundred or so replies of a fresh workerd are slower: V8 still runs the Rust code as its
// baseline (Liftoff) code, compiles wasm functions on their first call and interprets the
// bindings' JavaScript (bench/replies_profile.mjs --warmup 0; with the baseline tier off,
// `--no-liftoff`, they are not faster). So the measured runs come after 100 by default, the
// steady state of a serving isolate, and the first min(N, 30) warm-up replies are reported on
// their own row as the fresh process's figure.
// --grounded asks a question the intent router sends to the user's history (a BM25 search in
// the user's object before the prompt) instead of an ungrounded greeting, in one tab.
// --same-tab asks the greeting in one tab, as a conversation (each reply read to its end before
// the next question; its prompt carries up to the 100 messages before it), instead of a fresh
// tab per reply.
// --workerd serves the bundle on plain `workerd serve` (bench/load/workerd.mjs: the deployed
// layout, no Miniflare or wrangler in the path) instead of `wrangler dev`.
// --baseline-build DIR (with --workerd) serves a second build (a copy of another commit's build/)
// on its own `workerd serve` and alternates the time-to-first-delta requests between the two, in
// turn order swapped every run, so both see the same machine load; it reports both overheads and
// their per-run difference, then stops (the other figures are not compared).
// Medians and p95/p99 over the runs; timings on this machine are noisy, compare within a run.
import { startWorker, call, tokenFor } from "../tests/e2e/harness.mjs";
import { startLlmServer } from "../tests/fixtures/llm_server.mjs";
import { startWorkerd } from "./load/workerd.mjs";

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const RUNS = opt("runs", 100);
const WARMUP = opt("warmup", 100);
/** The fresh process's first replies, reported apart from the steady state. */
const FRESH = Math.min(WARMUP, 30);
const GROUNDED = args.includes("--grounded");
/** Every reply in one tab per server, as a conversation (always so with --grounded). */
const ONE_TAB = GROUNDED || args.includes("--same-tab");
const QUESTION = GROUNDED
  ? "What did we say earlier about the deployment checklist?"
  : "Write a short greeting.";
const REPLAYS = opt("replays", 40);
const BASELINE = (() => {
  const i = args.indexOf("--baseline-build");
  return i >= 0 ? args[i + 1] : undefined;
})();

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const ms = (x) => x.toFixed(2);

/** Reads an SSE response until the first `event: delta` (then to its end with `drain`); returns ms since t0. */
async function firstDelta(res, t0, { drain = false } = {}) {
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let text = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`stream ended before a delta: ${text.slice(0, 300)}`);
    text += decoder.decode(value, { stream: true });
    if (text.includes("event: delta") || text.includes('"content":"')) {
      const at = performance.now() - t0;
      if (drain) while (!(await reader.read()).done); // to the reply's end
      else await reader.cancel().catch(() => {});
      return at;
    }
  }
}

const llm = await startLlmServer({ chunkChars: 4, delayMs: 0 });
const onWorkerd = args.includes("--workerd");
if (BASELINE && !onWorkerd) throw new Error("--baseline-build needs --workerd");
const start = onWorkerd
  ? async (options) => {
    const server = await startWorkerd({ build: options.build, vars: { DEV_MODE: "1", RATE_LIMIT_PER_MINUTE: "1000000", ...options.vars } });
    return { base: server.base, stop: () => server.stop() };
  }
  : startWorker;
const VARS = {
  LLM_UPSTREAM_URL: llm.base, LLM_MODEL: "fixture-ok", USER_DAILY_TOKENS: "1000000000",
  // Room for the 4,000-token replay reply (the output cap is twice this, estimated).
  LLM_MAX_OUTPUT_TOKENS: "8192", LLM_CONTEXT_TOKENS: "16384",
};
const worker = await start({ vars: VARS });
const baseline = BASELINE ? await start({ vars: VARS, build: BASELINE }) : undefined;
const token = tokenFor("bench-replies");
const api = (method, path, opts = {}) => call(worker.base, method, path, { token, ...opts });
const out = [];
try {
  // 1. Time to first delta.
  llm.configure({ text: "Hello there, this is a short answer.", delayMs: 0 });
  const direct = [];
  const viaWorker = [];
  const viaBaseline = [];
  const freshOverhead = [];
  const freshBaselineOverhead = [];
  const conversationTabs = new Map();
  // Through a worker: a fresh tab and question each time (one reply per tab at a time);
  // grounded or --same-tab, one tab for every run, as a conversation (the reply's stream is read
  // to its end before the next question), so the history search and the prompt's history meet
  // the tab as a user's would, not dozens of new tabs.
  const throughWorker = async (server) => {
    const call_ = (method, path, opts = {}) => call(server.base, method, path, { token, ...opts });
    let tab = conversationTabs.get(server);
    if (!ONE_TAB || !tab) tab = await call_("POST", "/api/tabs", { body: {} });
    conversationTabs.set(server, tab);
    await call_("POST", `/api/tabs/${tab.body.id}/messages`, { body: { role: "user", content: QUESTION } });
    const t0 = performance.now();
    const viaRes = await fetch(`${server.base}/api/tabs/${tab.body.id}/replies`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json", accept: "text/event-stream" },
      body: "{}",
    });
    return firstDelta(viaRes, t0, { drain: ONE_TAB });
  };
  for (let i = 0; i < RUNS + WARMUP; i++) {
    // Straight to the fixture.
    const t0 = performance.now();
    const res = await fetch(`${llm.base}/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "fixture-ok", stream: true, messages: [{ role: "user", content: "hi" }] }),
    });
    const d = await firstDelta(res, t0);
    let w;
    let b;
    if (baseline && i % 2 === 1) {
      b = await throughWorker(baseline);
      w = await throughWorker(worker);
    } else {
      w = await throughWorker(worker);
      if (baseline) b = await throughWorker(baseline);
    }
    if (i >= WARMUP) {
      direct.push(d);
      viaWorker.push(w);
      if (baseline) viaBaseline.push(b);
    } else if (i < FRESH) {
      freshOverhead.push(w - d);
      if (baseline) freshBaselineOverhead.push(b - d);
    }
  }
  const overhead = viaWorker.map((w, i) => w - direct[i]);
  out.push(`Served by ${onWorkerd ? "plain \`workerd serve\` (bench/load/workerd.mjs)" : "\`wrangler dev\`"}.`);
  out.push("");
  const routed = await api("POST", "/api/intent", { body: { text: QUESTION } });
  out.push(`### Time to first delta (${RUNS} replies, after ${WARMUP} warm-up, ${ONE_TAB ? "in one tab per server" : "each in a new tab"}; question ${JSON.stringify(QUESTION)}, routed to \`${routed.body.label}\`)`);
  out.push("");
  out.push("| path | p50 ms | p99 ms |");
  out.push("|---|---:|---:|");
  out.push(`| fixture directly (its own first content chunk) | ${ms(pct(direct, 50))} | ${ms(pct(direct, 99))} |`);
  out.push(`| through the worker (POST …/replies, Accept: text/event-stream) | ${ms(pct(viaWorker, 50))} | ${ms(pct(viaWorker, 99))} |`);
  out.push(`| worker overhead (per-run difference) | ${ms(pct(overhead, 50))} | ${ms(pct(overhead, 99))} |`);
  if (baseline) {
    const baseOverhead = viaBaseline.map((b, i) => b - direct[i]);
    const paired = viaWorker.map((w, i) => w - viaBaseline[i]);
    out.push(`| baseline build (${BASELINE}), through the worker | ${ms(pct(viaBaseline, 50))} | ${ms(pct(viaBaseline, 99))} |`);
    out.push(`| baseline build, worker overhead | ${ms(pct(baseOverhead, 50))} | ${ms(pct(baseOverhead, 99))} |`);
    out.push(`| this build − baseline, per run (median; negative is faster) | ${ms(pct(paired, 50))} | |`);
  }
  if (FRESH > 0) {
    out.push(`| worker overhead, the fresh process's first ${FRESH} replies (JIT warming up) | ${ms(pct(freshOverhead, 50))} | ${ms(pct(freshOverhead, 99))} |`);
    if (baseline) out.push(`| baseline build, worker overhead, its first ${FRESH} replies | ${ms(pct(freshBaselineOverhead, 50))} | ${ms(pct(freshBaselineOverhead, 99))} |`);
  }
  out.push("");
  out.push("Target: worker overhead ≤ 5 ms p50 (the steady state, after the warm-up).");
  out.push("");

  if (!baseline) { // the A/B run compares the time to first delta only
    // 2. Storage per reply of 1,000 deltas.
    const deltas = 1000;
    const text = "tok ".repeat(deltas); // 4 characters per delta with chunkChars 4
    llm.configure({ text, delayMs: 0 });
    const tab = await api("POST", "/api/tabs", { body: {} });
    await api("POST", `/api/tabs/${tab.body.id}/messages`, { body: { role: "user", content: "Count." } });
    const before = (await api("GET", `/api/tabs/${tab.body.id}/stats`)).body.storage;
    const started = await api("POST", `/api/tabs/${tab.body.id}/replies`, { body: {} });
    let reply;
    for (;;) {
      reply = (await api("GET", `/api/tabs/${tab.body.id}/replies/${started.body.reply.id}`)).body;
      if (reply.status !== "streaming") break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const afterStats = (await api("GET", `/api/tabs/${tab.body.id}/stats`)).body.storage;
    const writes = afterStats.write_ops - before.write_ops;
    const bytes = afterStats.bytes_written - before.bytes_written;
    const contentBytes = Buffer.byteLength(reply.content);
    out.push(`### Storage per reply of ${deltas} deltas (${contentBytes} bytes of text, status ${reply.status})`);
    out.push("");
    out.push("| | value | target |");
    out.push("|---|---:|---|");
    out.push(`| writes (puts and deletes of the tab's object) | ${writes} (${(writes / deltas * 10).toFixed(2)} per 10 deltas) | ≤ 1 per 10 deltas |`);
    out.push(`| bytes written | ${bytes} (${(bytes / contentBytes).toFixed(2)}× the text) | ≤ 3× |`);
    out.push("");

    // 3. Replay of a finished ~4,000-token reply.
    llm.configure({ text: "word ".repeat(3200), delayMs: 0 }); // 16,000 chars, 4,000 deltas
    const tab2 = await api("POST", "/api/tabs", { body: {} });
    await api("POST", `/api/tabs/${tab2.body.id}/messages`, { body: { role: "user", content: "Talk." } });
    const long = await api("POST", `/api/tabs/${tab2.body.id}/replies`, { body: {} });
    const id = long.body.reply.id;
    for (;;) {
      const r = (await api("GET", `/api/tabs/${tab2.body.id}/replies/${id}`)).body;
      if (r.status !== "streaming") { reply = r; break; }
      await new Promise((r2) => setTimeout(r2, 50));
    }
    const replays = [];
    let events = 0;
    for (let i = 0; i < REPLAYS + 3; i++) {
      const t0 = performance.now();
      const res = await fetch(`${worker.base}/api/tabs/${tab2.body.id}/replies/${id}/events?after=0`, {
        headers: { authorization: `Bearer ${token}` },
      });
      const body = await res.text();
      if (i >= 3) replays.push(performance.now() - t0);
      events = (body.match(/^id: /gm) ?? []).length;
    }
    out.push(`### Replay of a finished reply from after=0 (${events} events, ${Buffer.byteLength(reply.content)} bytes of text, usage ${JSON.stringify(reply.usage)})`);
    out.push("");
    out.push("| | p50 ms | p95 ms | target |");
    out.push("|---|---:|---:|---|");
    out.push(`| GET …/events?after=0, whole body | ${ms(pct(replays, 50))} | ${ms(pct(replays, 95))} | p95 ≤ 100 ms |`);
  }
  console.log(out.join("\n"));
} finally {
  await baseline?.stop();
  await worker.stop();
  await llm.close();
}
