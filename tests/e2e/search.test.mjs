// Web-search end-to-end tests against workerd with a local SearXNG-compatible fixture upstream
// (started and stopped here, on loopback): miss then hit, single-flight, stale-while-revalidate,
// stale-if-error, upstream failures, and the cache's capacity bound.
import { describe, test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { useWorker, call, tokenFor, freePort, ROOT } from "./harness.mjs";

const upstream = { mode: "ok", delayMs: 0, calls: new Map() };
const fixture = createServer(async (req, res) => {
  const url = new URL(req.url, "http://fixture");
  const q = url.searchParams.get("q");
  upstream.calls.set(q, (upstream.calls.get(q) ?? 0) + 1);
  if (upstream.delayMs) await new Promise((r) => setTimeout(r, upstream.delayMs));
  if (upstream.mode === "fail") { res.writeHead(500); res.end("boom"); return; }
  if (upstream.mode === "huge") {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ results: [{ url: "https://example.com/x", title: "big", content: "x".repeat(3 * 1024 * 1024) }] }));
    return;
  }
  if (upstream.mode === "garbage") { res.writeHead(200, { "content-type": "application/json" }); res.end("<html>not json"); return; }
  res.writeHead(200, { "content-type": "application/json" });
  res.end(JSON.stringify({
    query: q,
    results: [
      { url: `https://example.com/${encodeURIComponent(q)}/1`, title: `About ${q}`, content: `A page about ${q}.`, engine: "fixture" },
      { url: `https://example.com/${encodeURIComponent(q)}/2`, title: `More ${q}`, content: "Second result.", engine: "fixture" },
      { url: "javascript:alert(1)", title: "dropped", content: "not http" },
    ],
  }));
});
const port = await freePort();
await new Promise((r) => fixture.listen(port, "127.0.0.1", r));

describe("web search", () => {
  const h = useWorker({ before, after, afterEach }, {
    vars: { SEARCH_UPSTREAM_URL: `http://127.0.0.1:${port}`, CACHE_TTL_SECONDS: "2", CACHE_MAX_ENTRIES: "5", CACHE_MAX_BYTES: "1000000" },
  });
  after(() => new Promise((r) => fixture.close(r)));
  const token = tokenFor("web-user");
  const search = (q, extra = "") => call(h.worker.base, "GET", `/api/search?q=${encodeURIComponent(q)}${extra}`, { token });
  const reset = () => { upstream.mode = "ok"; upstream.delayMs = 0; };

  test("miss then hit; results parsed and unsafe URLs dropped; query normalised for the key", async () => {
    reset();
    const first = await search("Rust  Workers");
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.equal(first.body.source, "web");
    assert.equal(first.body.cache, "miss");
    assert.equal(first.body.results.length, 2);
    assert.deepEqual(Object.keys(first.body.results[0]).sort(), ["engine", "snippet", "title", "url"]);
    const second = await search("rust workers");
    assert.equal(second.body.cache, "hit");
    assert.equal(second.headers.get("x-cache-tier"), "l1", "served from the isolate's L1");
    assert.deepEqual(second.body.results, first.body.results);
    assert.equal(upstream.calls.get("rust workers"), 1);
    const limited = await search("rust workers", "&limit=1");
    assert.equal(limited.body.results.length, 1);
  });

  test("concurrent identical misses make one upstream call", async () => {
    reset();
    upstream.delayMs = 300;
    const answers = await Promise.all(Array.from({ length: 6 }, () => search("single flight")));
    for (const a of answers) assert.equal(a.status, 200);
    assert.equal(upstream.calls.get("single flight"), 1);
  });

  test("stale is served while it refreshes, then fresh again; stale-if-error when upstream fails", async () => {
    reset();
    await search("staleness");
    await new Promise((r) => setTimeout(r, 2300));
    const stale = await search("staleness");
    assert.equal(stale.body.cache, "stale");
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(upstream.calls.get("staleness"), 2, "refreshed in the background");
    const fresh = await search("staleness");
    assert.equal(fresh.body.cache, "hit");
    await new Promise((r) => setTimeout(r, 4300)); // past TTL + stale window: expired
    upstream.mode = "fail";
    const onError = await search("staleness");
    assert.equal(onError.status, 200);
    assert.equal(onError.body.cache, "stale");
  });

  test("upstream failures answer 502/504 JSON and cache nothing", async () => {
    reset();
    upstream.mode = "fail";
    const failed = await search("never cached");
    assert.equal(failed.status, 502);
    assert.equal(failed.body.error.code, "upstream_error");
    upstream.mode = "garbage";
    assert.equal((await search("garbage body")).status, 502);
    upstream.mode = "huge";
    const huge = await search("huge body");
    assert.equal(huge.status, 502, "a 3 MiB upstream body is refused");
    upstream.mode = "ok";
    upstream.delayMs = 6000;
    const slow = await search("slow upstream");
    assert.equal(slow.status, 504);
    assert.equal(slow.body.error.code, "upstream_timeout");
    reset();
    const recovered = await search("never cached");
    assert.equal(recovered.body.cache, "miss");
  });

  test("after 3x capacity distinct queries the cache holds at most its capacity", async () => {
    reset();
    for (let i = 0; i < 15; i++) assert.equal((await search(`distinct query ${i}`)).status, 200);
    // A miss is answered before its admission runs (in the background): wait for the last one.
    let stats;
    for (const deadline = Date.now() + 5000; Date.now() < deadline;) {
      stats = await call(h.worker.base, "GET", "/api/search/cache/stats", { token });
      if (stats.status !== 200 || stats.body.misses >= 15) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(stats.status, 200);
    assert.ok(stats.body.entries <= stats.body.capacity_entries, JSON.stringify(stats.body));
    assert.ok(stats.body.bytes <= stats.body.capacity_bytes);
    assert.equal(stats.body.capacity_entries, 5);
    assert.ok(stats.body.misses >= 15);
    // The namespace itself, listed from the local persistence folder: never more than capacity.
    const listed = JSON.parse(execFileSync(join(ROOT, "node_modules/.bin/wrangler"),
      ["kv", "key", "list", "--binding", "SEARCH_CACHE", "--local", "--persist-to", h.worker.persistDir],
      { cwd: ROOT, encoding: "utf8", env: { ...process.env, WRANGLER_SEND_METRICS: "false" } }));
    const keys = listed.map((k) => k.name).filter((name) => name.startsWith("w1:"));
    assert.ok(keys.length <= 5, `KV holds ${keys.length} cached queries, capacity 5`);
    assert.ok(keys.length >= 1);
  });

  test("bad queries are 400", async () => {
    assert.equal((await search("")).status, 400);
    assert.equal((await search("x".repeat(401))).status, 400);
    assert.equal((await search("x", "&limit=0")).status, 400);
    assert.equal((await search("x", "&tab=abc")).status, 400);
  });
});
