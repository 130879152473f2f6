// Web-search cache under faults, against workerd with a local SearXNG-compatible fixture:
// - a client that aborts the request leading a single-flight does not stall the next identical
//   request (the fetch finishes without it, and no entry outlives its deadline);
// - a miss answers its upstream results (uncached) when the shard admission, a KV put or a KV
//   delete fails (fault injection: FAULT_WEB_CACHE with DEV_MODE=1);
// - the KV bound holds: 64 concurrent distinct misses at capacity 20 with injected KV failures,
//   then a shard-count change on restart, never leave more than the configured entries and bytes
//   in the KV namespace;
// - empty (degraded) upstream answers are not cached for the full TTL.
//
// How KV is inspected: straight from wrangler's local persistence folder (`--persist-to`), which
// is what workerd's KV simulator reads and writes: keys with `wrangler kv key list --local`, and
// value sizes from the blob files that miniflare stores per value (`v3/kv/<namespace>/blobs/`,
// the ids named in its SQLite metadata). No route of the worker is involved.
import { describe, test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, statSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { useWorker, startWorker, call, tokenFor, freePort, ROOT } from "./harness.mjs";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const upstream = { delayMs: 0, delays: new Map(), empty: new Set(), calls: new Map() };
const fixture = createServer(async (req, res) => {
  const url = new URL(req.url, "http://fixture");
  const q = url.searchParams.get("q");
  upstream.calls.set(q, (upstream.calls.get(q) ?? 0) + 1);
  const delay = upstream.delays.get(q) ?? upstream.delayMs;
  if (delay) await new Promise((r) => setTimeout(r, delay));
  res.writeHead(200, { "content-type": "application/json" });
  if (upstream.empty.has(q)) {
    // What SearXNG answers when its engines time out: 200, no results.
    res.end(JSON.stringify({ query: q, results: [], unresponsive_engines: [["duckduckgo", "timeout"]] }));
    return;
  }
  res.end(JSON.stringify({
    query: q,
    results: [
      { url: `https://example.com/${encodeURIComponent(q)}/1`, title: `About ${q}`, content: `A page about ${q}.`, engine: "fixture" },
      { url: `https://example.com/${encodeURIComponent(q)}/2`, title: `More ${q}`, content: "Second result.", engine: "fixture" },
    ],
  }));
});
const port = await freePort();
await new Promise((r) => fixture.listen(port, "127.0.0.1", r));
after(() => new Promise((r) => fixture.close(r)));
const UPSTREAM = `http://127.0.0.1:${port}`;
const token = tokenFor("fault-user");

/**
 * Every cached web-search value in the local KV namespace, [{ name, bytes }], as one consistent
 * read of miniflare's store: its SQLite index of keys (`v3/kv/miniflare-KVNamespaceObject/`)
 * and the blob file of each value (`v3/kv/<namespace>/blobs/`). Expired keys are left out, as
 * KV itself does.
 */
function kvValues(persistDir) {
  const kvRoot = join(persistDir, "v3", "kv");
  const meta = join(kvRoot, "miniflare-KVNamespaceObject");
  const values = [];
  for (const file of readdirSync(meta).filter((f) => f.endsWith(".sqlite"))) {
    const db = new DatabaseSync(join(meta, file), { readOnly: true });
    try {
      const tables = db.prepare("SELECT name FROM sqlite_master WHERE name = '_mf_entries'").all();
      if (tables.length === 0) continue;
      const rows = db.prepare("SELECT key, blob_id, expiration FROM _mf_entries WHERE key LIKE 'w1:%'").all();
      for (const row of rows) {
        if (row.expiration !== null && row.expiration <= Date.now()) continue;
        const blob = readdirSync(kvRoot)
          .map((ns) => join(kvRoot, ns, "blobs", row.blob_id))
          .find((path) => { try { statSync(path); return true; } catch { return false; } });
        assert.ok(blob, `no blob for ${row.key}`);
        values.push({ name: row.key, bytes: statSync(blob).size });
      }
    } finally { db.close(); }
  }
  return values;
}

/** The cached keys as `wrangler kv key list --local` lists them (for a cross-check at rest). */
function kvListed(persistDir) {
  const listed = JSON.parse(execFileSync(join(ROOT, "node_modules/.bin/wrangler"),
    ["kv", "key", "list", "--binding", "SEARCH_CACHE", "--local", "--persist-to", persistDir],
    { cwd: ROOT, encoding: "utf8", env: { ...process.env, WRANGLER_SEND_METRICS: "false" } }));
  return listed.map((k) => k.name).filter((name) => name.startsWith("w1:")).sort();
}

const total = (values) => values.reduce((sum, v) => sum + v.bytes, 0);

async function stats(base) {
  const res = await call(base, "GET", "/api/search/cache/stats", { token });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body;
}

/** Waits until the shards have no KV delete left to retry (or the deadline passes). */
async function settled(base, ms = 30_000) {
  const deadline = Date.now() + ms;
  let last;
  while (Date.now() < deadline) {
    last = await stats(base);
    if ((last.pending_deletes ?? 0) === 0) return last;
    await sleep(500);
  }
  return last;
}

// wrangler dev does not pass a client's disconnect on to the worker (an aborted request runs to
// its end), so the cancellation a deployed worker can suffer is injected: the first miss of the
// isolate stops 200 ms in and its future is dropped (`drop_miss:1`), or leaked, never polled
// nor dropped again (`freeze_miss:1`).
for (const [fault, how] of [["drop_miss:1", "dropped"], ["freeze_miss:1", "frozen"]]) {
  describe(`single-flight: the leading request is cancelled (its future ${how})`, () => {
    const h = useWorker({ before, after, afterEach }, {
      vars: { SEARCH_UPSTREAM_URL: UPSTREAM, CACHE_TTL_SECONDS: "60", CACHE_MAX_ENTRIES: "50", DEV_MODE: "1", FAULT_WEB_CACHE: fault },
    });
    const search = (q) => fetch(`${h.worker.base}/api/search?q=${encodeURIComponent(q)}`, { headers: { authorization: `Bearer ${token}` } });

    test("the next identical request still answers promptly, and later ones hit", async () => {
      const q = `cancelled leader ${how}`;
      upstream.delays.set(q, 1500);
      const leader = await search(q);
      assert.equal(leader.status, 500, "the injected cancellation hit the leader");
      await leader.arrayBuffer();
      const started = Date.now();
      const next = await search(q);
      const body = await next.json();
      const took = Date.now() - started;
      assert.equal(next.status, 200, JSON.stringify(body));
      assert.equal(body.results.length, 2);
      assert.ok(took < 2500, `answered in ${took} ms (the upstream takes 1.5 s)`);
      const again = await search(q);
      assert.equal(again.status, 200);
      assert.equal((await again.json()).cache, "hit", "later requests are not stuck either");
      upstream.delays.delete(q);
    });
  });
}

describe("single-flight and degraded answers", () => {
  const h = useWorker({ before, after, afterEach }, {
    vars: { SEARCH_UPSTREAM_URL: UPSTREAM, CACHE_TTL_SECONDS: "60", CACHE_MAX_ENTRIES: "50" },
  });
  const search = (q, init = {}) =>
    fetch(`${h.worker.base}/api/search?q=${encodeURIComponent(q)}`, { headers: { authorization: `Bearer ${token}` }, ...init });

  test("the leader's client aborts mid-flight; the next identical request still answers promptly", async () => {
    const q = "aborted leader";
    upstream.delays.set(q, 1500);
    const controller = new AbortController();
    const leader = search(q, { signal: controller.signal }).catch((e) => e);
    await sleep(300);
    controller.abort();
    assert.ok((await leader) instanceof Error, "the leader's client gave up");
    const started = Date.now();
    const next = await search(q);
    const body = await next.json();
    const took = Date.now() - started;
    assert.equal(next.status, 200, JSON.stringify(body));
    assert.equal(body.results.length, 2);
    assert.ok(took < 2500, `answered in ${took} ms (the upstream takes 1.5 s)`);
    upstream.delays.delete(q);
  });

  test("many clients abort while others wait: every remaining waiter gets the answer", async () => {
    const q = "abort storm";
    upstream.delays.set(q, 1200);
    const controllers = Array.from({ length: 4 }, () => new AbortController());
    const aborted = controllers.map((c) => search(q, { signal: c.signal }).catch((e) => e));
    await sleep(100);
    const waiting = Array.from({ length: 4 }, () => search(q));
    await sleep(200);
    for (const c of controllers) c.abort();
    await Promise.all(aborted);
    for (const res of await Promise.all(waiting)) {
      assert.equal(res.status, 200);
      assert.equal((await res.json()).results.length, 2);
    }
    upstream.delays.delete(q);
  });

  test("an empty (degraded) upstream answer is not cached for the full TTL", async () => {
    const q = "engines down";
    upstream.empty.add(q);
    const first = await call(h.worker.base, "GET", `/api/search?q=${encodeURIComponent(q)}`, { token });
    assert.equal(first.status, 200);
    assert.deepEqual(first.body.results, []);
    upstream.empty.delete(q);
    // The TTL is 60 s; a degraded answer is good for 10 s at most.
    await sleep(10_500);
    const later = await call(h.worker.base, "GET", `/api/search?q=${encodeURIComponent(q)}`, { token });
    assert.equal(later.status, 200);
    assert.equal(later.body.results.length, 2, "asked the upstream again");
    assert.equal(upstream.calls.get(q), 2);
  });
});

describe("web cache under injected shard and KV failures", () => {
  const h = useWorker({ before, after, afterEach }, {
    vars: {
      SEARCH_UPSTREAM_URL: UPSTREAM, CACHE_TTL_SECONDS: "1", CACHE_MAX_ENTRIES: "20",
      CACHE_MAX_BYTES: "10000", DEV_MODE: "1", FAULT_WEB_CACHE: "admit:15,kv_put:30,kv_delete:30",
    },
  });
  const search = (q) => call(h.worker.base, "GET", `/api/search?q=${encodeURIComponent(q)}`, { token });

  test("a miss answers its results even when the admission, a KV put or a KV delete fails", async () => {
    for (let i = 0; i < 30; i++) {
      const res = await search(`sequential miss ${i}`);
      assert.equal(res.status, 200, `query ${i}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.cache, "miss");
      assert.equal(res.body.results.length, 2);
    }
  });

  test("64 concurrent distinct misses at capacity 20: KV never holds more than 20 entries or 10000 bytes", async (t) => {
    // Statuses are the previous test's business; this one is about what KV holds. Two rounds of
    // the same 64 queries: in the second, each query's frequency is 2 and beats the one-off
    // residents, so admissions evict (and delete) while others are in flight.
    const during = [];
    for (const round of [1, 2]) {
      await Promise.all(Array.from({ length: 64 }, (_, i) => search(`concurrent miss ${i}`)));
      const now = kvValues(h.worker.persistDir);
      during.push(`round ${round}: ${now.length} values, ${total(now)} bytes`);
      assert.ok(now.length <= 20, `KV holds ${now.length} values right after round ${round}`);
      assert.ok(total(now) <= 10000, `KV holds ${total(now)} bytes right after round ${round}`);
      await sleep(1200); // past the 1 s TTL: L1 no longer answers, KV is read again
    }
    const s = await settled(h.worker.base);
    const values = kvValues(h.worker.persistDir);
    const seen = `KV: ${values.length} values, ${total(values)} bytes; shard stats: ${JSON.stringify(s)}`;
    t.diagnostic(`right after the bursts: ${during.join("; ")}; settled: ${seen}`);
    assert.ok(values.length <= 20, `capacity 20 entries; ${seen}`);
    assert.ok(total(values) <= 10000, `capacity 10000 bytes; ${seen}`);
    assert.ok(values.length >= 1, `something was cached; ${seen}`);
    // The shard's figures are what KV really holds.
    assert.equal(s.entries, values.length, seen);
    assert.equal(s.bytes, total(values), seen);
    assert.equal(s.pending_deletes, 0, seen);
    assert.deepEqual(kvListed(h.worker.persistDir), values.map((v) => v.name).sort(), "wrangler lists the same keys");
  });
});

describe("web cache under concurrent churn (no faults)", () => {
  const h = useWorker({ before, after, afterEach }, {
    vars: { SEARCH_UPSTREAM_URL: UPSTREAM, CACHE_TTL_SECONDS: "1", CACHE_MAX_ENTRIES: "20", CACHE_MAX_BYTES: "10000" },
  });
  const search = (q) => call(h.worker.base, "GET", `/api/search?q=${encodeURIComponent(q)}`, { token });

  test("admissions that evict while other puts are in flight keep KV within 20 entries, and stats exact", async (t) => {
    const during = [];
    for (const round of [1, 2]) {
      const answers = await Promise.all(Array.from({ length: 64 }, (_, i) => search(`churn ${i}`)));
      for (const a of answers) assert.equal(a.status, 200);
      const now = kvValues(h.worker.persistDir);
      during.push(`round ${round}: ${now.length} values, ${total(now)} bytes`);
      assert.ok(now.length <= 20 && total(now) <= 10000, during.at(-1));
      await sleep(1200);
    }
    const s = await settled(h.worker.base);
    const values = kvValues(h.worker.persistDir);
    const seen = `KV: ${values.length} values, ${total(values)} bytes; shard stats: ${JSON.stringify(s)}`;
    t.diagnostic(`${during.join("; ")}; settled: ${seen}`);
    assert.ok(s.evictions > 0, `admissions evicted: ${seen}`);
    assert.ok(values.length <= 20 && total(values) <= 10000, seen);
    assert.equal(s.entries, values.length, seen);
    assert.equal(s.bytes, total(values), seen);
  });
});

describe("the KV bound survives a change of the shard count", () => {
  test("4 shards filled, restarted with 1 shard: the orphaned shards empty their KV share", async () => {
    const persistDir = mkdtempSync(join(tmpdir(), "edge-assistant-shards-"));
    const vars = { SEARCH_UPSTREAM_URL: UPSTREAM, CACHE_TTL_SECONDS: "2", DEV_MODE: "1", CACHE_MAX_BYTES: "1000000" };
    let worker = await startWorker({ persistDir, vars: { ...vars, CACHE_MAX_ENTRIES: "4000" } });
    try {
      for (let i = 0; i < 40; i++) {
        const res = await call(worker.base, "GET", `/api/search?q=${encodeURIComponent(`sharded ${i}`)}`, { token });
        assert.equal(res.status, 200);
      }
      await sleep(500);
      assert.ok(kvValues(persistDir).length > 20, "the 4 shards cached more than the next bound");
      await worker.stop({ keepState: true });
      worker = await startWorker({ persistDir, vars: { ...vars, CACHE_MAX_ENTRIES: "20" } });
      // One request wakes shard 0 (which shrinks); shards 1–3 are never called again: only their
      // periodic sweep can remove what they hold.
      assert.equal((await call(worker.base, "GET", "/api/search?q=wake", { token })).status, 200);
      const deadline = Date.now() + 30_000;
      let values = kvValues(persistDir);
      while (values.length > 20 && Date.now() < deadline) {
        await sleep(1000);
        values = kvValues(persistDir);
      }
      assert.ok(values.length <= 20, `KV holds ${values.length} values after the sweep, capacity 20`);
      assert.ok(values.length >= 1, "shard 0 kept its share");
      await sleep(1000);
      assert.ok(kvListed(persistDir).length <= 20, "wrangler lists at most 20");
    } catch (err) {
      console.error(worker.log());
      throw err;
    } finally {
      await worker.stop({ keepState: true });
      rmSync(persistDir, { recursive: true, force: true });
    }
  });
});
