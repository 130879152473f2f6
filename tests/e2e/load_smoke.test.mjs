// A short version of the load bench (bench/load/bench.mjs), on the same serving layout: the built
// worker on plain `workerd serve` from the generated config (bench/load/workerd.mjs). 32
// concurrent keep-alive clients hammer, one mix after another, 2 s each: health, appends
// spread over 8 tabs, paging, cached web-search hits over 100 queries, and rollouts. What a user
// would notice under load is asserted: no 5xx and no dropped connections, every answer the
// expected status, every acknowledged append readable afterwards exactly once with dense seqs, and
// a clean workerd log (no 5xx request line, nothing but request and event lines). Requests/s
// are printed as diagnostics, never asserted (shared machine). About 20 s in all.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { readFileSync } from "node:fs";
import { startWorkerd } from "../../bench/load/workerd.mjs";
import { tokenFor } from "./harness.mjs";

const CLIENTS = 32;
const SECONDS = 2;

/** Runs `CLIENTS` loops of `one(client, i)` for `seconds`; returns { count, statuses, errors, rps }. */
async function hammer(one, seconds = SECONDS) {
  const statuses = {};
  const errors = [];
  let count = 0;
  const until = Date.now() + seconds * 1000;
  const started = Date.now();
  await Promise.all(Array.from({ length: CLIENTS }, async (_, client) => {
    for (let i = 0; Date.now() < until; i++) {
      try {
        const status = await one(client, i);
        statuses[status] = (statuses[status] ?? 0) + 1;
        count++;
      } catch (err) {
        errors.push(String(err?.cause ?? err));
      }
    }
  }));
  return { count, statuses, errors, rps: count / ((Date.now() - started) / 1000) };
}

describe("load smoke (plain workerd serve, 32 concurrent clients)", () => {
  let server;
  let fixture;
  const token = tokenFor("smoke-user");
  const auth = { authorization: `Bearer ${token}` };
  const json = { ...auth, "content-type": "application/json" };

  before(async () => {
    fixture = createServer((req, res) => {
      const q = new URL(req.url, "http://fixture").searchParams.get("q") ?? "";
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ results: [{ url: `https://example.com/${encodeURIComponent(q)}`, title: q, content: `About ${q}`, engine: "fixture" }] }));
    });
    await new Promise((r) => fixture.listen(0, "127.0.0.1", r));
    server = await startWorkerd({
      vars: { RATE_LIMIT_PER_MINUTE: "1000000", SEARCH_UPSTREAM_URL: `http://127.0.0.1:${fixture.address().port}` },
    });
  });
  after(async () => {
    await server?.stop();
    fixture?.close();
  });

  const expectClean = (t, name, r, expected) => {
    t.diagnostic(`${name}: ${r.count} requests, ${r.rps.toFixed(0)} req/s, statuses ${JSON.stringify(r.statuses)}`);
    assert.deepEqual(r.errors.slice(0, 5), [], `${name}: connection errors`);
    assert.deepEqual(Object.keys(r.statuses), [String(expected)], `${name}: statuses ${JSON.stringify(r.statuses)}`);
    assert.ok(r.count > 0, `${name}: no request completed`);
  };

  test("health, appends, paging, cache hits and rollouts: no errors, no 5xx; acknowledged appends all readable", async (t) => {
    const get = async (path, headers = auth) => {
      const res = await fetch(server.base + path, { headers });
      await res.arrayBuffer();
      return res.status;
    };

    // Warm-up (the clients' and workerd's JIT), checked like the rest.
    expectClean(t, "warm-up (health)", await hammer(() => get("/api/health", {}), 1), 200);
    expectClean(t, "health", await hammer(() => get("/api/health", {})), 200);

    const tabs = [];
    for (let i = 0; i < 8; i++) {
      const res = await fetch(`${server.base}/api/tabs`, { method: "POST", headers: json, body: JSON.stringify({ title: `smoke ${i}` }) });
      assert.equal(res.status, 201);
      tabs.push({ id: (await res.json()).id, acked: [] });
    }
    const appends = await hammer(async (client, i) => {
      const tab = tabs[(client + i) % tabs.length];
      const res = await fetch(`${server.base}/api/tabs/${tab.id}/messages`, {
        method: "POST", headers: json, body: JSON.stringify({ role: "user", content: `client ${client} message ${i}` }),
      });
      const body = await res.json();
      if (res.status === 201) tab.acked.push(body.seq);
      return res.status;
    });
    expectClean(t, "appends to 8 tabs", appends, 201);
    for (const tab of tabs) {
      const seqs = [];
      for (let after = 0; ;) {
        const res = await fetch(`${server.base}/api/tabs/${tab.id}/messages?after=${after}&limit=200`, { headers: auth });
        assert.equal(res.status, 200);
        const page = await res.json();
        seqs.push(...page.messages.map((m) => m.seq));
        if (page.next_after == null) break;
        after = page.next_after;
      }
      assert.deepEqual(seqs, Array.from({ length: tab.acked.length }, (_, i) => i + 1), "every 201 is stored once, seqs dense");
      assert.deepEqual([...tab.acked].sort((a, b) => a - b), seqs);
    }

    expectClean(t, "paging", await hammer(() => get(`/api/tabs/${tabs[0].id}/messages?after=0&limit=50`)), 200);

    const queries = Array.from({ length: 100 }, (_, i) => `/api/search?q=${encodeURIComponent(`smoke query ${i}`)}`);
    for (let i = 0; i < queries.length; i += 10) {
      const statuses = await Promise.all(queries.slice(i, i + 10).map((q) => get(q)));
      assert.deepEqual(statuses, statuses.map(() => 200), "cache misses answered by the fixture upstream");
    }
    expectClean(t, "web-search cache hits over 100 queries", await hammer((client, i) => get(queries[(client * 7 + i) % queries.length])), 200);

    const rollout = JSON.stringify({ env: "CartPole-v1", num_envs: 64, steps: 128, seed: 1 });
    expectClean(t, "rollouts 64x128", await hammer(async () => {
      const res = await fetch(`${server.base}/api/rollout`, { method: "POST", headers: json, body: rollout });
      await res.arrayBuffer();
      return res.status;
    }), 200);

    const lines = readFileSync(server.logPath, "utf8").split("\n").filter((l) => l.trim());
    const fivexx = lines.filter((l) => /^\{"request_id"/.test(l) && /"status":5\d\d/.test(l));
    const other = lines.filter((l) => !/^\{"(request_id|event)"/.test(l));
    assert.deepEqual(fivexx.slice(0, 3), [], "no 5xx request line in workerd's log");
    assert.deepEqual(other.slice(0, 3), [], "nothing but request and event lines in workerd's log");
  });
});
