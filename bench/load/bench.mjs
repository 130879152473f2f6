// Load benchmark harness: builds the worker bundle, serves it from workerd directly (Miniflare,
// see serve.mjs), and drives it with wrk on loopback, always measuring the no-op route
// (/api/health) in the same run as the baseline. Prints a markdown table.
// Usage: node bench/load/bench.mjs [--duration 10s] [--connections 64] [--only name,name]
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { tokenFor } from "../../scripts/lib/token.mjs";
import { startBundledWorker } from "./bundled.mjs";
import { scenarios } from "./scenarios.mjs";

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const duration = opt("duration", "10s");
const connections = Number(opt("connections", "64"));
const only = opt("only", "")?.split(",").filter(Boolean);

// A SearXNG-compatible fixture upstream on loopback, for the web-search scenarios.
const fixture = createServer((req, res) => {
  const q = new URL(req.url, "http://fixture").searchParams.get("q");
  res.writeHead(200, { "content-type": "application/json" });
  res.end(JSON.stringify({ results: [{ url: `https://example.com/${encodeURIComponent(q)}`, title: q, content: `About ${q}`, engine: "fixture" }] }));
});
await new Promise((r) => fixture.listen(0, "127.0.0.1", r));
const fixtureUrl = `http://127.0.0.1:${fixture.address().port}`;

const server = await startBundledWorker({ RATE_LIMIT_PER_MINUTE: 1000000, SEARCH_UPSTREAM_URL: fixtureUrl });
const base = server.base;
const work = mkdtempSync(join(tmpdir(), "edge-assistant-wrk-"));

function wrk(url, luaScript) {
  const lua = join(work, `s${Math.random().toString(36).slice(2)}.lua`);
  writeFileSync(lua, luaScript ?? "");
  const out = execFileSync("wrk", ["-t2", `-c${connections}`, `-d${duration}`, "--latency", "-s", lua, url], {
    encoding: "utf8",
  });
  const rps = Number(out.match(/Requests\/sec:\s+([\d.]+)/)[1]);
  const toMs = (v, unit) => Number(v) * ({ us: 0.001, ms: 1, s: 1000 }[unit] ?? 1);
  const pct = (p) => {
    const m = out.match(new RegExp(`\\s${p}%\\s+([\\d.]+)(us|ms|s)`));
    return m ? toMs(m[1], m[2]) : NaN;
  };
  const errors = out.match(/Non-2xx or 3xx responses: (\d+)/)?.[1] ?? "0";
  const socketErrors = out.match(/Socket errors: (.*)/)?.[1] ?? "none";
  return { rps, p50: pct(50), p99: pct(99), errors: Number(errors), socketErrors };
}

// Resident memory of the workerd processes serving the worker (children of serve.mjs).
function workerdRssKiB() {
  let total = 0;
  const out = execFileSync("ps", ["-e", "-o", "pid=,ppid=,rss=,comm="], { encoding: "utf8" });
  const procs = out.trim().split("\n").map((l) => l.trim().split(/\s+/));
  const children = new Set([String(server.pid)]);
  for (let changed = true; changed;) {
    changed = false;
    for (const [pid, ppid] of procs) if (children.has(ppid) && !children.has(pid)) { children.add(pid); changed = true; }
  }
  for (const [pid, , rss, comm] of procs) if (children.has(pid) && /workerd/.test(comm ?? "")) total += Number(rss);
  return total;
}

const rows = [];
let rssStart = 0;
let rssEnd = 0;
try {
  rssStart = workerdRssKiB();
  const ctx = { base, token: tokenFor("load-user"), tokenFor, connections };
  const list = scenarios.filter((s) => s.name === "noop" || !only?.length || only.includes(s.name));
  let baseline;
  for (const scenario of list) {
    const prepared = scenario.prepare ? await scenario.prepare(ctx) : {};
    const r = wrk(base + scenario.path(prepared), scenario.lua(ctx, prepared));
    if (scenario.name === "noop") baseline = r.rps;
    rows.push({ name: scenario.name, ...r, ratio: r.rps / baseline });
  }
  rssEnd = workerdRssKiB();
} finally {
  fixture.close();
  await server.stop();
  rmSync(work, { recursive: true, force: true });
}
console.log(`\nLoad: wrk -t2 -c${connections} -d${duration}, workerd via Miniflare on loopback; workerd RSS ${(rssStart / 1024).toFixed(0)} MiB at start, ${(rssEnd / 1024).toFixed(0)} MiB at the end\n`);
console.log("| scenario | requests/s | vs no-op | p50 ms | p99 ms | non-2xx | socket errors |");
console.log("|---|---:|---:|---:|---:|---:|---|");
for (const r of rows) {
  console.log(`| ${r.name} | ${r.rps.toFixed(0)} | ${(100 * r.ratio).toFixed(0)}% | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${r.errors} | ${r.socketErrors} |`);
}
