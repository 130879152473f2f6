// Code workspaces through the real runtime (wrangler dev: workerd with its local R2 and Durable
// Objects). On a corpus of source files (default: the `.py` files of the running Python's
// standard library, site-packages excluded), built into a tar.gz here:
//
// 1. Upload and index: wall time of the PUT (extract, hash, R2 packs, commit, first batch), then
//    until the workspace is `ready` (the alarm's batches), files/symbols, R2 bytes (the packs:
//    the sum of stored file sizes) and the object's storage bytes (its SQLite file on disk).
//    CPU: the CPU time (user + system, from /proc) of wrangler's whole process tree (workerd
//    included) while the workspace is indexing, split per scan batch by watching `pending`
//    (polled every 25 ms): an upper bound on the worker's CPU per batch, since it also counts
//    workerd's SQLite and local R2 work and the polling requests themselves.
// 2. Re-upload with one changed file: how many files were scanned (must be 1), wall time.
// 3. Code search latency through the worker (p50/p99 over --queries requests), next to
//    GET /api/health in the same run (the floor of a request through wrangler dev).
//
// Usage: node bench/workspaces.mjs [--root DIR] [--queries 1000]
import { execFileSync } from "node:child_process";
import { readdirSync, statSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { startWorker, call, tokenFor } from "../tests/e2e/harness.mjs";
import { tarGz } from "../tests/e2e/archives.mjs";

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const QUERIES = Number(opt("queries", 1000));
const root = opt("root", execFileSync("python3", ["-c", "import sysconfig; print(sysconfig.get_paths()['stdlib'])"]).toString().trim());

function walk(dir, out = []) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (name === "site-packages" || name === "__pycache__") continue;
    const st = statSync(path);
    if (st.isDirectory()) walk(path, out);
    else if (name.endsWith(".py") && st.size <= 1024 * 1024) out.push(path);
  }
  return out;
}

const files = walk(root).sort();
const entries = files.map((p) => ({ path: `stdlib/${relative(root, p)}`, content: readFileSync(p) }));
const sourceBytes = entries.reduce((n, e) => n + e.content.length, 0);
const archive = tarGz(entries);
console.log(`corpus: ${entries.length} files, ${(sourceBytes / 1048576).toFixed(1)} MiB source, tar.gz ${(archive.length / 1048576).toFixed(1)} MiB (${root})`);

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

const TICK_MS = 1000 / Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim());
// CPU ms (user + system) of `pid` and all its descendants (`all`), and of the workerd
// processes among them (`workerd`: the runtime alone, without wrangler's node proxy).
function treeCpuMs(pid) {
  const stats = new Map();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const raw = readFileSync(`/proc/${name}/stat`, "utf8");
      const comm = raw.slice(raw.indexOf("(") + 1, raw.lastIndexOf(")"));
      const rest = raw.slice(raw.lastIndexOf(")") + 2).split(" ");
      stats.set(Number(name), { comm, ppid: Number(rest[1]), cpu: Number(rest[11]) + Number(rest[12]) });
    } catch { /* exited */ }
  }
  let all = 0;
  let workerd = 0;
  const todo = [pid];
  while (todo.length) {
    const p = todo.pop();
    const s = stats.get(p);
    all += s?.cpu ?? 0;
    if (s?.comm.includes("workerd")) workerd += s.cpu;
    for (const [child, c] of stats) if (c.ppid === p) todo.push(child);
  }
  return { all: all * TICK_MS, workerd: workerd * TICK_MS };
}

const worker = await startWorker({ vars: { WORKSPACE_MAX_ARCHIVE_BYTES: String(64 * 1024 * 1024) } });
try {
  const token = tokenFor("bench-ws");
  const api = (method, path, body, opts = {}) => call(worker.base, method, path, { token, body, ...opts });
  const ws = (await api("POST", "/api/workspaces", { name: "stdlib" })).body;
  // Polls until ready; returns the info and the CPU ms spent between changes of `pending`.
  const waitReady = async () => {
    const batches = [];
    let pending = null;
    let cpu = treeCpuMs(worker.child.pid).workerd;
    for (;;) {
      const info = (await api("GET", `/api/workspaces/${ws.id}`)).body;
      if (info.pending !== pending) {
        const now = treeCpuMs(worker.child.pid).workerd;
        if (pending !== null) batches.push(now - cpu);
        cpu = now;
        pending = info.pending;
      }
      if (info.status === "ready") return { info, batches };
      await new Promise((r) => setTimeout(r, 25));
    }
  };

  const cpuBefore = treeCpuMs(worker.child.pid);
  const SCAN_BATCH_BYTES = 2 * 1024 * 1024; // src/workspace/state.rs
  let t0 = performance.now();
  const first = await api("PUT", `/api/workspaces/${ws.id}/archive`, undefined, { raw: archive, headers: { "content-type": "application/gzip" } });
  const putMs = performance.now() - t0;
  const cpuAfterPut = treeCpuMs(worker.child.pid);
  const putCpu = { all: cpuAfterPut.all - cpuBefore.all, workerd: cpuAfterPut.workerd - cpuBefore.workerd };
  if (first.status !== 200) throw new Error(`upload: ${first.status} ${first.text}`);
  const { info, batches } = await waitReady();
  const readyMs = performance.now() - t0;
  const sqlite = execFileSync("sh", ["-c", `du -sb ${worker.persistDir}/v3/do/*WorkspaceObject* 2>/dev/null | awk '{s+=$1} END {print s+0}'`]).toString().trim();
  console.log(`upload: PUT ${putMs.toFixed(0)} ms (answered ${first.body.status}, ${first.body.pending} pending), ready after ${readyMs.toFixed(0)} ms`);
  console.log(`  files ${info.files}, symbols ${info.symbols}, R2 packs ${(info.bytes / 1048576).toFixed(1)} MiB, object storage on disk ${(Number(sqlite) / 1048576).toFixed(1)} MiB`);
  console.log(`  skipped ${JSON.stringify(first.body.skipped)}`);
  const sorted = [...batches].sort((a, b) => a - b);
  const indexing = sorted.reduce((a, b) => a + b, 0);
  const expectedBatches = Math.ceil(info.bytes / SCAN_BATCH_BYTES);
  console.log(`  CPU: PUT ${putCpu.workerd.toFixed(0)} ms in workerd (${putCpu.all.toFixed(0)} ms with wrangler's proxy); indexing after the PUT ${indexing.toFixed(0)} ms in workerd, ~${(indexing / Math.max(1, expectedBatches - 1)).toFixed(0)} ms per ${SCAN_BATCH_BYTES >> 20} MiB batch (${expectedBatches} batches of source incl. the PUT's first); longest observed interval between pending changes ${sorted.at(-1)?.toFixed(0)} ms (${batches.length} observed)`);

  const changed = entries.map((e, i) => (i === 0 ? { ...e, content: Buffer.concat([e.content, Buffer.from("\ndef bench_added():\n    pass\n")]) } : e));
  const cpuBeforeSecond = treeCpuMs(worker.child.pid).workerd;
  t0 = performance.now();
  const second = await api("PUT", `/api/workspaces/${ws.id}/archive`, undefined, { raw: tarGz(changed), headers: { "content-type": "application/gzip" } });
  const secondPutCpu = treeCpuMs(worker.child.pid).workerd - cpuBeforeSecond;
  await waitReady();
  console.log(`re-upload, one file changed: scanned ${second.body.scanned}, unchanged ${second.body.unchanged}, ${(performance.now() - t0).toFixed(0)} ms; PUT ${secondPutCpu.toFixed(0)} ms CPU in workerd (extract + hash the whole archive, store and scan one file)`);

  const words = ["parse config", "getLogger", "open file", "json decoder", "http client", "thread pool", "ParseResult", "split_header_words", "tokenize", "socket timeout", "utf8 encode", "TestCase", "deepcopy", "quote plus", "datetime timezone", "read_lines", "subprocess run", "ElementTree", "heapq merge", "lru cache"];
  const search = [];
  const health = [];
  for (let i = 0; i < QUERIES; i++) {
    const q = encodeURIComponent(words[i % words.length]);
    let t = performance.now();
    const res = await api("GET", `/api/search?source=code&workspace=${ws.id}&q=${q}&limit=10`);
    search.push(performance.now() - t);
    if (res.status !== 200) throw new Error(`search: ${res.status} ${res.text}`);
    t = performance.now();
    await call(worker.base, "GET", "/api/health");
    health.push(performance.now() - t);
  }
  console.log(`code search through the worker (${QUERIES} queries): p50 ${pct(search, 50).toFixed(2)} ms, p99 ${pct(search, 99).toFixed(2)} ms; /api/health p50 ${pct(health, 50).toFixed(2)} ms`);
} finally {
  await worker.stop();
}
