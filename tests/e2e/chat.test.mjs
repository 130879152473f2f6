// Chat and history-search end-to-end tests against workerd (wrangler dev): tabs, durable appends,
// paging, idempotent retries, batching by the alarm, tenant isolation, limits, history search.
import { describe, test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { useWorker, call, tokenFor } from "./harness.mjs";

const FLUSH_INTERVAL_MS = 400;

describe("chat", () => {
  const h = useWorker({ before, after, afterEach }, { vars: { FLUSH_INTERVAL_MS: String(FLUSH_INTERVAL_MS) } });
  const alice = tokenFor("alice");
  const bob = tokenFor("bob");
  const api = (method, path, token, body, extra = {}) => call(h.worker.base, method, path, { token, body, ...extra });
  const newTab = async (token, title) => {
    const res = await api("POST", "/api/tabs", token, title === undefined ? {} : { title });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res.body;
  };
  const append = (token, tab, content, extra = {}) =>
    api("POST", `/api/tabs/${tab}/messages`, token, { role: "user", content, ...extra });

  test("tabs: create, get, rename, list most recent first, delete", async () => {
    const a = await newTab(alice, "first");
    const b = await newTab(alice, "second");
    assert.equal(a.title, "first");
    assert.equal(a.message_count, 0);
    assert.match(a.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    const got = await api("GET", `/api/tabs/${a.id}`, alice);
    assert.deepEqual(got.body, a);
    await append(alice, a.id, "bump the first tab");
    const list = await api("GET", "/api/tabs?limit=100", alice);
    const ids = list.body.tabs.map((t) => t.id);
    assert.ok(ids.indexOf(a.id) < ids.indexOf(b.id), "written tab listed first");
    assert.equal(list.body.tabs.find((t) => t.id === a.id).message_count, 1);
    const renamed = await api("PATCH", `/api/tabs/${a.id}`, alice, { title: "renamed" });
    assert.equal(renamed.status, 200);
    assert.equal(renamed.body.title, "renamed");
    assert.equal((await api("DELETE", `/api/tabs/${b.id}`, alice)).status, 204);
    assert.equal((await api("GET", `/api/tabs/${b.id}`, alice)).status, 404);
    assert.equal((await api("GET", `/api/tabs/${b.id}/messages`, alice)).status, 404);
  });

  test("tab list pages with next_cursor", async () => {
    const token = tokenFor("pager");
    for (let i = 0; i < 5; i++) await newTab(token, `t${i}`);
    const seen = [];
    let cursor = null;
    do {
      const res = await api("GET", `/api/tabs?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`, token);
      assert.equal(res.status, 200);
      seen.push(...res.body.tabs.map((t) => t.title));
      cursor = res.body.next_cursor;
    } while (cursor);
    assert.deepEqual(seen, ["t4", "t3", "t2", "t1", "t0"]);
  });

  test("append answers 201 with seq, then pages in order; client_id retries answer 200 with the original", async () => {
    const tab = await newTab(alice, "paging");
    const first = await append(alice, tab.id, "hello", { client_id: "c-1" });
    assert.equal(first.status, 201);
    assert.equal(first.body.seq, 1);
    assert.equal(first.body.client_id, "c-1");
    const retry = await append(alice, tab.id, "hello", { client_id: "c-1" });
    assert.equal(retry.status, 200);
    assert.deepEqual(retry.body, first.body);
    for (let i = 2; i <= 5; i++) assert.equal((await append(alice, tab.id, `m${i}`)).body.seq, i);
    const page = await api("GET", `/api/tabs/${tab.id}/messages?after=1&limit=2`, alice);
    assert.deepEqual(page.body.messages.map((m) => m.seq), [2, 3]);
    assert.equal(page.body.next_after, 3);
    const before = await api("GET", `/api/tabs/${tab.id}/messages?before=5&limit=2`, alice);
    assert.deepEqual(before.body.messages.map((m) => m.content), ["m3", "m4"]);
    const between = await api("GET", `/api/tabs/${tab.id}/messages?after=1&before=5`, alice);
    assert.deepEqual(between.body.messages.map((m) => m.seq), [2, 3, 4]);
    assert.equal(between.body.next_after, null);
    const stats = await api("GET", `/api/tabs/${tab.id}/stats`, alice);
    assert.equal(stats.body.message_count, 5);
  });

  test("1000 appends from 16 concurrent clients keep seq dense and unique, and page back in order", async () => {
    const tab = await newTab(alice, "bulk");
    const acked = [];
    let next = 0;
    await Promise.all(Array.from({ length: 16 }, async () => {
      while (next < 1000) {
        const n = next++;
        const res = await append(alice, tab.id, `bulk message ${n}`);
        assert.equal(res.status, 201);
        acked.push(res.body);
      }
    }));
    const seqs = acked.map((m) => m.seq).sort((a, b) => a - b);
    assert.deepEqual(seqs, Array.from({ length: 1000 }, (_, i) => i + 1));
    const all = [];
    let after = 0;
    for (;;) {
      const res = await api("GET", `/api/tabs/${tab.id}/messages?after=${after}&limit=200`, alice);
      all.push(...res.body.messages);
      if (res.body.next_after === null) break;
      after = res.body.next_after;
    }
    assert.equal(all.length, 1000);
    assert.deepEqual(all.map((m) => m.seq), seqs);
    const bySeq = new Map(acked.map((m) => [m.seq, m.content]));
    for (const m of all) assert.equal(m.content, bySeq.get(m.seq));
  });

  test("the alarm flushes pending messages with no further request; /flush forces one", async () => {
    const tab = await newTab(alice, "alarm");
    for (let i = 0; i < 3; i++) await append(alice, tab.id, `pending ${i}`);
    const before = await api("GET", `/api/tabs/${tab.id}/stats`, alice);
    assert.equal(before.body.pending, 3);
    assert.equal(before.body.flushes, 0);
    await new Promise((r) => setTimeout(r, FLUSH_INTERVAL_MS * 4));
    const afterAlarm = await api("GET", `/api/tabs/${tab.id}/stats`, alice);
    assert.equal(afterAlarm.body.pending, 0);
    assert.equal(afterAlarm.body.flushes, 1);
    assert.ok(afterAlarm.body.last_flush_at);
    assert.ok(afterAlarm.body.storage.write_ops > before.body.storage.write_ops);
    await append(alice, tab.id, "one more");
    const forced = await api("POST", `/api/tabs/${tab.id}/flush`, alice);
    assert.equal(forced.status, 200);
    assert.equal(forced.body.pending, 0);
    assert.equal(forced.body.flushes, 2);
  });

  test("ten pending messages flush at once (threshold)", async () => {
    const tab = await newTab(alice, "threshold");
    for (let i = 0; i < 10; i++) await append(alice, tab.id, `t ${i}`);
    await new Promise((r) => setTimeout(r, 200));
    const stats = await api("GET", `/api/tabs/${tab.id}/stats`, alice);
    assert.equal(stats.body.pending, 0);
    assert.equal(stats.body.flushes, 1);
  });

  test("another user's tab answers 404 on every route, never 403", async () => {
    const tab = await newTab(alice, "private");
    await append(alice, tab.id, "alice's secret");
    const probes = [
      ["GET", `/api/tabs/${tab.id}`], ["PATCH", `/api/tabs/${tab.id}`, { title: "x" }],
      ["DELETE", `/api/tabs/${tab.id}`], ["GET", `/api/tabs/${tab.id}/messages`],
      ["POST", `/api/tabs/${tab.id}/messages`, { role: "user", content: "intrusion" }],
      ["GET", `/api/tabs/${tab.id}/stats`], ["POST", `/api/tabs/${tab.id}/flush`],
      ["GET", `/api/search?source=history&q=secret&tab=${tab.id}`],
    ];
    for (const [method, path, body] of probes) {
      const res = await api(method, path, bob, body);
      assert.equal(res.status, 404, `${method} ${path}`);
      assert.equal(res.body.error.code, "not_found");
    }
    const list = await api("GET", "/api/tabs", bob);
    assert.ok(!list.body.tabs.some((t) => t.id === tab.id));
    const search = await api("GET", "/api/search?source=history&q=secret", bob);
    assert.equal(search.body.total, 0);
    const still = await api("GET", `/api/tabs/${tab.id}/messages`, alice);
    assert.deepEqual(still.body.messages.map((m) => m.content), ["alice's secret"]);
  });

  test("bad input: clear 4xx JSON errors and nothing stored", async () => {
    const tab = await newTab(alice, "limits");
    const cases = [
      [{ role: "user", content: "" }, 400, "invalid_field"],
      [{ role: "robot", content: "x" }, 400, "invalid_field"],
      [{ role: "user", content: "x", extra: 1 }, 400, "unknown_field"],
      [{ role: "user", content: "x".repeat(32769) }, 400, "limit_exceeded"],
      [{ role: "user", content: "x", client_id: "y".repeat(65) }, 400, "limit_exceeded"],
    ];
    for (const [body, status, code] of cases) {
      const res = await api("POST", `/api/tabs/${tab.id}/messages`, alice, body);
      assert.equal(res.status, status, JSON.stringify(body).slice(0, 80));
      assert.equal(res.body.error.code, code);
    }
    const raw = (body, headers) => call(h.worker.base, "POST", `/api/tabs/${tab.id}/messages`, { token: alice, raw: body, headers, fresh: true });
    const badJson = await raw("{not json", { "content-type": "application/json" });
    assert.equal(badJson.body.error.code, "invalid_json");
    const wrongType = await raw('{"role":"user","content":"x"}', { "content-type": "text/plain" });
    assert.equal(wrongType.status, 415);
    const huge = await raw(JSON.stringify({ role: "user", content: "x".repeat(300000) }), { "content-type": "application/json" });
    assert.equal(huge.status, 413);
    for (const q of ["after=abc", "limit=0", "limit=201", "after=-1", "before=x", "bogus=1"]) {
      const res = await api("GET", `/api/tabs/${tab.id}/messages?${q}`, alice);
      assert.equal(res.status, 400, q);
    }
    const longTitle = await api("POST", "/api/tabs", alice, { title: "t".repeat(201) });
    assert.equal(longTitle.status, 400);
    const stats = await api("GET", `/api/tabs/${tab.id}/stats`, alice);
    assert.equal(stats.body.message_count, 0);
  });

  test("history search finds a message right after its 201, ranks, filters by tab, and forgets deleted tabs", async () => {
    const token = tokenFor("searcher");
    const t1 = await newTab(token, "one");
    const t2 = await newTab(token, "two");
    await append(token, t1.id, "the quick brown fox jumps over the lazy dog");
    const found = await api("GET", "/api/search?source=history&q=brown%20fox", token);
    assert.equal(found.status, 200);
    assert.equal(found.body.source, "history");
    assert.equal(found.body.total, 1, "pending message is searchable");
    assert.equal(found.body.results[0].tab_id, t1.id);
    assert.equal(found.body.results[0].seq, 1);
    assert.match(found.body.results[0].snippet, /brown fox/);
    await append(token, t2.id, "fox fox fox: a message all about the fox");
    await api("POST", `/api/tabs/${t1.id}/flush`, token);
    const ranked = await api("GET", "/api/search?source=history&q=fox", token);
    assert.equal(ranked.body.total, 2);
    assert.equal(ranked.body.results[0].tab_id, t2.id, "higher term frequency ranks first");
    const prefix = await api("GET", "/api/search?source=history&q=jum", token);
    assert.equal(prefix.body.total, 1, "prefix match on the last term");
    const filtered = await api("GET", `/api/search?source=history&q=fox&tab=${t1.id}`, token);
    assert.deepEqual(filtered.body.results.map((r) => r.tab_id), [t1.id]);
    await api("DELETE", `/api/tabs/${t1.id}`, token);
    const afterDelete = await api("GET", "/api/search?source=history&q=fox", token);
    assert.deepEqual(afterDelete.body.results.map((r) => r.tab_id), [t2.id]);
    for (const q of ["", "x".repeat(401)]) {
      const bad = await api("GET", `/api/search?source=history&q=${q}`, token);
      assert.equal(bad.status, 400);
    }
    assert.equal((await api("GET", "/api/search?source=nope&q=x", token)).status, 400);
    assert.equal((await api("GET", "/api/search?source=history&q=x&limit=51", token)).status, 400);
  });
});
