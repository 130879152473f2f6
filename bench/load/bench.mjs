// Load benchmark: serves the built worker (build/, ./scripts/build) on plain `workerd serve` from a
// config generated from wrangler.toml (bench/load/workerd.mjs), drives it with wrk on loopback, and
// reports every scenario against two baselines measured in the same run and the same workerd
// process, each measured both first and last (so drift over the run shows):
//   - js-noop: a plain JS worker answering /api/health's bytes (the ceiling of this machine and
//     runtime: workerd's own per-request cost);
//   - health: the Rust worker's GET /api/health (the Rust shell's own per-request cost on top).
// Per scenario: requests/s, share of the JS no-op's and of health's requests/s (each against the
// mean of its before/after runs), latency p50/p99, non-2xx responses and socket errors, workerd's
// CPU time per request (user + system over the run, /proc, all threads: alarms and background
// work included) and the JS no-op's CPU per request divided by it (the throughput share a purely
// CPU-bound run would give; steadier than requests/s on a shared machine), and the 1-minute load
// average when the scenario started.
// After the run it checks workerd's log (one JSON line per request) for 5xx lines and for lines
// that are not request logs (uncaught errors).
//
// Usage: node bench/load/bench.mjs [--duration 10s] [--connections 64] [--threads 2]
//          [--only name,name] [--rounds 1] [--warmup 3s] [--json FILE] [--with-miniflare]
// Before the first measurement both baselines get an unreported wrk run of --warmup (JIT and wasm
// tier-up; a cold first run reads several times slower).
// --with-miniflare also bundles the worker (`wrangler deploy --dry-run`) and serves it through
// Miniflare (bundled.mjs, the previous layout of this bench) in a second server, and measures its
// /api/health right after health (before): the serving layout's own cost, same run (no CPU
// figure for that row: it is another process tree).
// --rounds N repeats the whole sequence N times in the same process and reports medians (fixtures
// are created once; appends keep growing their tabs). Build first: ./scripts/build.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { tokenFor } from "../../scripts/lib/token.mjs";
import { scenarios, startFixtureUpstream } from "./scenarios.mjs";
import { WORKERD, startWorkerd } from "./workerd.mjs";
import { startBundledWorker } from "./bundled.mjs";

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const duration = opt("duration", "10s");
const connections = Number(opt("connections", "64"));
const threads = Number(opt("threads", "2"));
const rounds = Number(opt("rounds", "1"));
const warmup = opt("warmup", "3s");
const jsonOut = opt("json", "");
const only = opt("only", "")?.split(",").filter(Boolean);
const withMiniflare = args.includes("--with-miniflare");
const BASELINES = ["js-noop", "health"];

const fixture = await startFixtureUpstream();

const HZ = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }));
const cpuMs = (pid) => {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return ((Number(f[11]) + Number(f[12])) * 1000) / HZ;
};
const rssMiB = (pid) => Number(readFileSync(`/proc/${pid}/status`, "utf8").match(/VmRSS:\s+(\d+)/)[1]) / 1024;

const server = await startWorkerd({
  vars: { RATE_LIMIT_PER_MINUTE: "1000000", SEARCH_UPSTREAM_URL: fixture.url },
});
const work = mkdtempSync(join(tmpdir(), "edge-assistant-wrk-"));
const miniflare = withMiniflare ? await startBundledWorker({ RATE_LIMIT_PER_MINUTE: "1000000" }) : null;
if (miniflare) server.urls.miniflare = miniflare.base;

function wrk(url, luaScript, seconds = duration) {
  const lua = join(work, `s${Math.random().toString(36).slice(2)}.lua`);
  writeFileSync(lua, luaScript ?? "");
  const out = execFileSync("wrk", [`-t${threads}`, `-c${connections}`, `-d${seconds}`, "--latency", "-s", lua, url], {
    encoding: "utf8", maxBuffer: 1 << 24,
  });
  const toMs = (v, unit) => Number(v) * ({ us: 0.001, ms: 1, s: 1000 }[unit] ?? 1);
  const pct = (p) => {
    const m = out.match(new RegExp(`\\s${p}%\\s+([\\d.]+)(us|ms|s)`));
    return m ? toMs(m[1], m[2]) : NaN;
  };
  return {
    rps: Number(out.match(/Requests\/sec:\s+([\d.]+)/)[1]),
    requests: Number(out.match(/(\d+) requests in/)[1]),
    p50: pct(50),
    p99: pct(99),
    non2xx: Number(out.match(/Non-2xx or 3xx responses: (\d+)/)?.[1] ?? 0),
    socketErrors: out.match(/Socket errors: (.*)/)?.[1] ?? "none",
  };
}

const median = (xs) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const selected = scenarios.filter((s) => !BASELINES.includes(s.name) && (!only?.length || only.includes(s.name)));
const byName = Object.fromEntries(scenarios.map((s) => [s.name, s]));
byName["health-via-miniflare"] = { name: "health-via-miniflare", socket: "miniflare", path: () => "/api/health", lua: () => "" };
// The sequence of one round: baselines first and last.
const sequence = [
  ["js-noop", "before"], ["health", "before"],
  ...(miniflare ? [["health-via-miniflare", ""]] : []),
  ...selected.map((s) => [s.name, ""]),
  ["health", "after"], ["js-noop", "after"],
];
const label = ([name, when]) => (when ? `${name} (${when})` : name);

const runs = []; // { round, key, ...wrk, cpuUsPerReq, load }
const notes = {};
const prepared = {};
let rssStart = 0;
let rssEnd = 0;
const startedAt = new Date();
const loadStart = loadavg()[0];
try {
  rssStart = rssMiB(server.pid);
  const ctx = { base: server.base, token: tokenFor("load-user"), tokenFor, connections };
  for (const name of BASELINES) wrk(server.urls[byName[name].socket ?? "http"] + byName[name].path({}), "", warmup);
  for (let round = 1; round <= rounds; round++) {
    for (const step of sequence) {
      const scenario = byName[step[0]];
      if (!(scenario.name in prepared)) prepared[scenario.name] = scenario.prepare ? await scenario.prepare(ctx) : {};
      const p = prepared[scenario.name];
      const load = loadavg()[0];
      const cpu0 = cpuMs(server.pid);
      const r = wrk(server.urls[scenario.socket ?? "http"] + scenario.path(p), scenario.lua(ctx, p));
      const cpu1 = cpuMs(server.pid);
      const cpuUsPerReq = scenario.socket === "miniflare" ? NaN : ((cpu1 - cpu0) * 1000) / r.requests;
      runs.push({ round, key: label(step), name: scenario.name, ...r, load, cpuUsPerReq });
      if (scenario.after && round === rounds) notes[scenario.name] = await scenario.after(ctx, p);
      process.stderr.write(`round ${round}: ${label(step)} ${r.rps.toFixed(0)} req/s\n`);
    }
  }
  rssEnd = rssMiB(server.pid);
} finally {
  fixture.close();
  await miniflare?.stop();
  await server.stop({ keepDir: true });
}

// workerd's log: one JSON request line per request; anything else is an error report.
let log5xx = 0;
let otherLines = [];
for (const line of readFileSync(server.logPath, "utf8").split("\n")) {
  if (!line.trim()) continue;
  if (/^\{"request_id"/.test(line)) {
    if (/"status":5\d\d/.test(line)) log5xx++;
  } else if (!/^\{"event"/.test(line)) {
    otherLines.push(line);
  }
}
rmSync(server.dir, { recursive: true, force: true });
rmSync(work, { recursive: true, force: true });

// Per round: ratios against the mean of that round's before/after baselines.
const rows = [];
for (const step of sequence) {
  const key = label(step);
  const mine = runs.filter((r) => r.key === key);
  const ratio = (base) => mine.map((r) => {
    const b = runs.filter((x) => x.round === r.round && x.name === base);
    return r.rps / (b.reduce((a, x) => a + x.rps, 0) / b.length);
  });
  // CPU view: the JS no-op's CPU µs/req (mean of the round's two runs) over this scenario's, i.e.
  // the share of the no-op's throughput this scenario would get if workerd's CPU were the only limit.
  const cpuRatio = mine.map((r) => {
    const b = runs.filter((x) => x.round === r.round && x.name === "js-noop");
    return b.reduce((a, x) => a + x.cpuUsPerReq, 0) / b.length / r.cpuUsPerReq;
  });
  rows.push({
    key,
    rps: median(mine.map((r) => r.rps)),
    vsNoop: median(ratio("js-noop")),
    cpuVsNoop: median(cpuRatio),
    vsHealth: median(ratio("health")),
    p50: median(mine.map((r) => r.p50)),
    p99: median(mine.map((r) => r.p99)),
    non2xx: mine.reduce((a, r) => a + r.non2xx, 0),
    socketErrors: [...new Set(mine.map((r) => r.socketErrors))].join("; "),
    cpu: median(mine.map((r) => r.cpuUsPerReq)),
    load: median(mine.map((r) => r.load)),
  });
}

const version = execFileSync(WORKERD, ["--version"], { encoding: "utf8" }).trim();
const cmd = `node bench/load/bench.mjs ${args.join(" ")}`.trim();
console.log(`\n\`${cmd}\` — ${startedAt.toISOString().slice(0, 16)}Z, ${version}, plain \`workerd serve\` (generated config), wrk -t${threads} -c${connections} -d${duration} on loopback after a ${warmup} warm-up of both baselines, ${rounds} round${rounds > 1 ? "s (medians)" : ""}; load average ${loadStart.toFixed(1)} at the start; workerd RSS ${rssStart.toFixed(0)} MiB at the start, ${rssEnd.toFixed(0)} MiB at the end\n`);
console.log("| scenario | requests/s | vs JS no-op | vs Rust health | p50 ms | p99 ms | non-2xx | socket errors | workerd CPU µs/req | JS no-op's CPU/req ÷ this | load avg |");
console.log("|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|");
for (const r of rows) {
  console.log(`| ${r.key} | ${r.rps.toFixed(0)} | ${(100 * r.vsNoop).toFixed(0)}% | ${(100 * r.vsHealth).toFixed(0)}% | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${r.non2xx} | ${r.socketErrors} | ${Number.isFinite(r.cpu) ? r.cpu.toFixed(0) : "—"} | ${Number.isFinite(r.cpuVsNoop) ? `${(100 * r.cpuVsNoop).toFixed(0)}%` : "—"} | ${r.load.toFixed(1)} |`);
}
const drift = (name) => {
  const b = rows.find((r) => r.key === `${name} (before)`);
  const a = rows.find((r) => r.key === `${name} (after)`);
  return `${name} ${b.rps.toFixed(0)} → ${a.rps.toFixed(0)} req/s (${(100 * (a.rps / b.rps - 1)).toFixed(0)}%)`;
};
console.log(`\nDrift over the run (after vs before): ${drift("js-noop")}; ${drift("health")}.`);
for (const [name, note] of Object.entries(notes)) console.log(`${name}: ${note}.`);
console.log(`workerd log: ${log5xx} request lines with a 5xx status; ${otherLines.length} other lines${otherLines.length ? `, first: ${otherLines.slice(0, 3).map((l) => JSON.stringify(l.slice(0, 200))).join(" ")}` : ""}.`);
if (jsonOut) writeFileSync(jsonOut, JSON.stringify({ cmd, startedAt, version, loadStart, rssStart, rssEnd, runs, rows, notes, log5xx, otherLines: otherLines.slice(0, 50) }, null, 1));
