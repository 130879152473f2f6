// Live updates end to end: WebSockets on `GET /api/tabs/{id}/live` against wrangler dev's workerd
// and the local OpenAI-compatible fixture. Two clients on one tab see each other's messages and the
// same streaming reply; catch-up from `after`; the `bearer` subprotocol; 404 across users before
// the upgrade; renames and deletes; a socket that closes does not break the others.
import { describe, test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { request as httpRequest } from "node:http";
import { startWorker, call, tokenFor } from "./harness.mjs";
import { startLlmServer } from "../fixtures/llm_server.mjs";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A WebSocket client that records every frame (parsed JSON) and can wait for one. */
class LiveClient {
  constructor(url, init) {
    this.frames = [];
    this.waiters = [];
    this.closed = null;
    this.ws = new WebSocket(url, init);
    this.opened = new Promise((resolve, reject) => {
      this.ws.addEventListener("open", () => resolve());
      this.ws.addEventListener("error", (e) => reject(new Error(`socket error: ${e.message ?? e.type}`)));
    });
    this.ws.addEventListener("message", (e) => {
      this.frames.push(JSON.parse(e.data));
      this.check();
    });
    this.ws.addEventListener("close", (e) => {
      this.closed = { code: e.code, reason: e.reason };
      this.check();
    });
  }

  check() {
    this.waiters = this.waiters.filter((w) => {
      const hit = w.predicate(this);
      if (hit) w.resolve(hit);
      return !hit;
    });
  }

  /** Resolves with predicate(this) once it is truthy; fails after `ms`. */
  until(predicate, what, ms = 10_000) {
    const hit = predicate(this);
    if (hit) return Promise.resolve(hit);
    return new Promise((resolve, reject) => {
      const waiter = { predicate, resolve };
      this.waiters.push(waiter);
      setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`timed out waiting for ${what}; frames: ${JSON.stringify(this.frames).slice(0, 2000)}`));
      }, ms);
    });
  }

  ofType(type) { return this.frames.filter((f) => f.type === type); }

  close() { this.ws.close(); }
}

/** A raw WebSocket handshake: resolves { status, headers, body } (101 or the error answer). */
function handshake(base, path, headers = {}) {
  const url = new URL(path, base);
  return new Promise((resolve, reject) => {
    const req = httpRequest({
      host: url.hostname, port: url.port, path: url.pathname + url.search, method: "GET",
      headers: {
        connection: "Upgrade", upgrade: "websocket", "sec-websocket-version": "13",
        "sec-websocket-key": Buffer.from("0123456789abcdef").toString("base64"), ...headers,
      },
    });
    req.on("upgrade", (res, socket) => { socket.destroy(); resolve({ status: res.statusCode, headers: res.headers, body: null }); });
    req.on("response", (res) => {
      let text = "";
      res.on("data", (d) => { text += d; });
      res.on("end", () => {
        let body = text;
        try { body = JSON.parse(text); } catch { /* not JSON */ }
        resolve({ status: res.statusCode, headers: res.headers, body });
      });
    });
    req.on("error", reject);
    req.end();
  });
}

describe("live updates over WebSockets", () => {
  let llm;
  let worker;
  let failed = false;
  const token = tokenFor("watcher");
  const api = (method, path, opts = {}) => call(worker.base, method, path, { token, ...opts });
  const wsUrl = (tabId, after) =>
    `${worker.base.replace(/^http/, "ws")}/api/tabs/${tabId}/live${after === undefined ? "" : `?after=${after}`}`;
  const clients = [];
  const connect = async (tabId, { after, bearer = true } = {}) => {
    const init = bearer ? { protocols: ["bearer", token] } : { headers: { authorization: `Bearer ${token}` } };
    const client = new LiveClient(wsUrl(tabId, after), init);
    clients.push(client);
    await client.opened;
    return client;
  };

  before(async () => {
    llm = await startLlmServer({ chunkChars: 2 });
    worker = await startWorker({
      vars: {
        LLM_UPSTREAM_URL: llm.base,
        LLM_MODEL: "fixture-ok",
        LLM_FIRST_BYTE_TIMEOUT_MS: "3000",
        LLM_IDLE_TIMEOUT_MS: "3000",
      },
    });
  });
  afterEach((ctx) => {
    if (ctx && ctx.passed === false) failed = true;
    for (const c of clients.splice(0)) c.close();
  });
  after(async () => {
    if (worker) {
      if (failed) console.error(`--- wrangler log ---\n${worker.log()}`);
      await worker.stop();
    }
    if (llm) await llm.close();
  });

  async function newTab(title = "live") {
    const tab = await api("POST", "/api/tabs", { body: { title } });
    assert.equal(tab.status, 201);
    return tab.body.id;
  }

  async function append(tabId, content) {
    const res = await api("POST", `/api/tabs/${tabId}/messages`, { body: { role: "user", content } });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res.body;
  }

  const messageSeqs = (c) => c.ofType("message").map((f) => f.message.seq);

  test("two clients see each other's messages and the same streaming reply", async () => {
    const text = "The quick brown fox jumps over the lazy dog; caf\u00e9 \u4e16\u754c \u{1F600}. ".repeat(6);
    llm.configure({ delayMs: 15, text });
    const tabId = await newTab();
    const a = await connect(tabId);
    const b = await connect(tabId, { bearer: false });
    await append(tabId, "hello from window A");
    await append(tabId, "and from window B");
    for (const c of [a, b]) {
      await c.until((x) => x.ofType("message").length >= 2, "two messages");
      assert.deepEqual(c.ofType("message").map((f) => f.message.content), ["hello from window A", "and from window B"]);
      assert.deepEqual(messageSeqs(c), [1, 2]);
    }

    const started = await api("POST", `/api/tabs/${tabId}/replies`, { body: {} });
    assert.equal(started.status, 202, JSON.stringify(started.body));
    const replyId = started.body.reply.id;
    for (const c of [a, b]) {
      const end = await c.until(
        (x) => x.ofType("reply").find((f) => f.reply.id === replyId && f.reply.status !== "streaming"),
        "the reply's end", 20_000);
      assert.equal(end.reply.status, "complete");
      assert.equal(end.reply.content, text);
      const assistant = c.ofType("message").find((f) => f.message.seq === 3);
      assert.ok(assistant, "the assistant message frame");
      assert.equal(assistant.message.role, "assistant");
      assert.equal(assistant.message.status, "streaming");
      assert.equal(assistant.message.reply_id, replyId);
      const startFrame = c.ofType("reply").find((f) => f.reply.status === "streaming");
      assert.ok(startFrame, "a reply frame at the start");
      // Order: message(3), reply(streaming), deltas, reply(complete).
      const kinds = c.frames.filter((f) => f.type !== "message" || f.message.seq === 3).map((f) => f.type);
      assert.equal(kinds[0], "message");
      assert.equal(kinds[1], "reply");
      assert.equal(kinds.at(-1), "reply");
      const deltas = c.ofType("delta");
      assert.ok(deltas.every((d) => d.reply_id === replyId));
      assert.equal(deltas.map((d) => d.text).join(""), text, "the deltas concatenate to the reply");
      const ids = deltas.map((d) => d.id);
      assert.deepEqual(ids, [...ids].sort((x, y) => x - y), "delta ids grow");
      assert.ok(ids.at(-1) >= 2);
      // Coalesced: far fewer frames than the fixture's deltas.
      const upstreamDeltas = Math.ceil(Array.from(text).length / 2);
      assert.ok(deltas.length < upstreamDeltas, `${deltas.length} frames for ${upstreamDeltas} deltas`);
    }
    // Both saw the same text; the last delta frame's id is the reply's last delta id.
    const events = await fetch(`${worker.base}/api/tabs/${tabId}/replies/${replyId}/events`, { headers: { authorization: `Bearer ${token}` } });
    const lastDeltaId = (await events.text()).split("\n").filter((l) => l.startsWith("id: ")).map((l) => Number(l.slice(4))).at(-2);
    for (const c of [a, b]) assert.equal(c.ofType("delta").at(-1).id, lastDeltaId);
  });

  test("catch-up with after, then live; a socket joining mid-reply gets the rest exactly", async () => {
    llm.configure({ delayMs: 20, text: "0123456789".repeat(12) });
    const tabId = await newTab();
    for (const content of ["one", "two", "three", "four"]) await append(tabId, content);
    const all = await connect(tabId);
    await all.until((x) => x.ofType("message").length === 4, "catch-up of 4");
    assert.deepEqual(messageSeqs(all), [1, 2, 3, 4]);
    const late = await connect(tabId, { after: 2 });
    await late.until((x) => x.ofType("message").length === 2, "catch-up after 2");
    assert.deepEqual(late.ofType("message").map((f) => f.message.content), ["three", "four"]);
    const none = await connect(tabId, { after: 99 });

    const started = await api("POST", `/api/tabs/${tabId}/replies`, { body: {} });
    assert.equal(started.status, 202);
    const replyId = started.body.reply.id;
    await all.until((x) => x.ofType("delta").length >= 3, "some deltas");
    // Joins mid-reply: the streaming message with its text so far, then only what follows.
    const mid = await connect(tabId, { after: 4 });
    for (const c of [all, late, mid]) {
      await c.until((x) => x.ofType("reply").find((f) => f.reply.status !== "streaming"), "the end", 20_000);
    }
    const final = all.ofType("reply").at(-1).reply;
    assert.equal(final.status, "complete");
    const caught = mid.ofType("message");
    assert.equal(caught.length, 1);
    assert.equal(caught[0].message.seq, 5);
    assert.equal(caught[0].message.status, "streaming");
    assert.ok(caught[0].message.content.length > 0, "some text streamed before it joined");
    assert.equal(caught[0].message.content + mid.ofType("delta").map((d) => d.text).join(""), final.content);
    assert.equal(all.ofType("delta").map((d) => d.text).join(""), final.content);
    // after=99: no messages, but the reply's frames still come.
    assert.equal(none.ofType("message").length, 0);
    assert.equal(none.ofType("reply").at(-1).reply.id, replyId);
    // A new message after the reply reaches everyone with seq > after.
    await append(tabId, "five?");
    for (const c of [all, late, mid]) await c.until((x) => x.ofType("message").some((f) => f.message.seq === 6), "seq 6");
    await sleep(100);
    assert.equal(none.ofType("message").length, 0, "seq 6 <= after 99");
  });

  test("the bearer subprotocol is selected; bad auth and non-upgrades are refused with JSON", async () => {
    const tabId = await newTab();
    const ok = await handshake(worker.base, `/api/tabs/${tabId}/live`, { "sec-websocket-protocol": `bearer, ${token}` });
    assert.equal(ok.status, 101);
    assert.equal(ok.headers["sec-websocket-protocol"], "bearer");
    const header = await handshake(worker.base, `/api/tabs/${tabId}/live`, { authorization: `Bearer ${token}` });
    assert.equal(header.status, 101);
    assert.equal(header.headers["sec-websocket-protocol"], undefined);

    const client = await connect(tabId);
    assert.equal(client.ws.protocol, "bearer");

    const noToken = await handshake(worker.base, `/api/tabs/${tabId}/live`);
    assert.equal(noToken.status, 401);
    assert.equal(noToken.body.error.code, "unauthorized");
    const bareBearer = await handshake(worker.base, `/api/tabs/${tabId}/live`, { "sec-websocket-protocol": "bearer" });
    assert.equal(bareBearer.status, 401);
    const badToken = await handshake(worker.base, `/api/tabs/${tabId}/live`, { "sec-websocket-protocol": "bearer, a.b.c" });
    assert.equal(badToken.status, 401);

    const plain = await api("GET", `/api/tabs/${tabId}/live`);
    assert.equal(plain.status, 400);
    assert.equal(plain.body.error.code, "invalid_field");
    assert.match(plain.body.error.message, /WebSocket/);
    const badAfter = await handshake(worker.base, `/api/tabs/${tabId}/live?after=-1`, { authorization: `Bearer ${token}` });
    assert.equal(badAfter.status, 400);
    assert.equal(badAfter.body.error.code, "invalid_field");
    const post = await api("POST", `/api/tabs/${tabId}/live`);
    assert.equal(post.status, 405);
  });

  test("another user's tab is 404 before the upgrade", async () => {
    const tabId = await newTab();
    const other = tokenFor("someone-else");
    const res = await handshake(worker.base, `/api/tabs/${tabId}/live`, { "sec-websocket-protocol": `bearer, ${other}` });
    assert.equal(res.status, 404);
    assert.equal(res.body.error.code, "not_found");
    const never = await handshake(worker.base, `/api/tabs/nosuchtab/live`, { authorization: `Bearer ${token}` });
    assert.equal(never.status, 404);
  });

  test("a rename and a delete produce tab frames; the delete closes the sockets", async () => {
    const tabId = await newTab("before");
    const a = await connect(tabId);
    const b = await connect(tabId);
    const renamed = await api("PATCH", `/api/tabs/${tabId}`, { body: { title: "after" } });
    assert.equal(renamed.status, 200);
    for (const c of [a, b]) {
      const frame = await c.until((x) => x.ofType("tab")[0], "the rename frame");
      assert.equal(frame.tab.id, tabId);
      assert.equal(frame.tab.title, "after");
      assert.equal(frame.tab.deleted, undefined);
    }
    const deleted = await api("DELETE", `/api/tabs/${tabId}`);
    assert.equal(deleted.status, 204);
    for (const c of [a, b]) {
      const frame = await c.until((x) => x.ofType("tab")[1], "the delete frame");
      assert.equal(frame.tab.id, tabId);
      assert.equal(frame.tab.deleted, true);
      // The server's close frame: the client answers it and is CLOSING at once. (Its `close` event
      // waits for the TCP connection to end, which wrangler dev's local proxy holds open.)
      for (let i = 0; i < 100 && c.ws.readyState < WebSocket.CLOSING; i++) await sleep(50);
      assert.ok(c.ws.readyState >= WebSocket.CLOSING, `readyState ${c.ws.readyState}`);
    }
    const again = await handshake(worker.base, `/api/tabs/${tabId}/live`, { authorization: `Bearer ${token}` });
    assert.equal(again.status, 404);
  });

  test("a cancel ends the reply for every socket with the text so far", async () => {
    llm.configure({ delayMs: 30, text: "slow ".repeat(200) });
    const tabId = await newTab();
    const a = await connect(tabId);
    const b = await connect(tabId);
    await append(tabId, "take your time");
    const started = await api("POST", `/api/tabs/${tabId}/replies`, { body: {} });
    assert.equal(started.status, 202);
    const replyId = started.body.reply.id;
    await a.until((x) => x.ofType("delta").length >= 2, "some deltas");
    const cancelled = await api("POST", `/api/tabs/${tabId}/replies/${replyId}/cancel`);
    assert.equal(cancelled.status, 200);
    assert.equal(cancelled.body.status, "cancelled");
    for (const c of [a, b]) {
      const end = await c.until((x) => x.ofType("reply").find((f) => f.reply.status !== "streaming"), "the end");
      assert.equal(end.reply.status, "cancelled");
      assert.equal(c.ofType("delta").map((d) => d.text).join(""), end.reply.content);
      assert.equal(end.reply.content, cancelled.body.content);
    }
  });

  test("sockets outlive the object: it is evicted while idle and still delivers after it wakes", async () => {
    const tabId = await newTab();
    const a = await connect(tabId);
    await append(tabId, "before the nap");
    await a.until((x) => x.ofType("message").length === 1, "first");
    // workerd evicts an idle object that holds only hibernatable sockets (locally within ~15 s of
    // its last event, here the flush alarm); the next call constructs it again, and the object
    // logs the sockets it found (`tab_woke_with_sockets`).
    const woke = () => worker.log().split("\n").filter((l) => l.includes("tab_woke_with_sockets") && l.includes(tabId)).length;
    const before = woke();
    let n = 1;
    for (let i = 0; i < 4 && woke() === before; i++) {
      await sleep(15_000);
      n += 1;
      await append(tabId, `after nap ${i}`);
      await a.until((x) => x.ofType("message").length === n, `message ${n}`);
    }
    assert.ok(woke() > before, "the object was evicted and woke with the socket");
    assert.equal(a.ws.readyState, WebSocket.OPEN);
    assert.deepEqual(messageSeqs(a), Array.from({ length: n }, (_, i) => i + 1));
  });

  test("a socket that closes does not break the others", async () => {
    llm.configure({ delayMs: 10, text: "abcdefghij".repeat(10) });
    const tabId = await newTab();
    const stays = await connect(tabId);
    const leaves = await connect(tabId);
    // One dropped without a close handshake (the TCP connection destroyed right after the 101).
    const dropped = await handshake(worker.base, `/api/tabs/${tabId}/live`, { "sec-websocket-protocol": `bearer, ${token}` });
    assert.equal(dropped.status, 101);
    await append(tabId, "first");
    await leaves.until((x) => x.ofType("message").length === 1, "first");
    leaves.close();
    await leaves.until((x) => x.closed, "closed");
    await append(tabId, "second");
    await stays.until((x) => x.ofType("message").length === 2, "second");
    const started = await api("POST", `/api/tabs/${tabId}/replies`, { body: {} });
    assert.equal(started.status, 202);
    const end = await stays.until((x) => x.ofType("reply").find((f) => f.reply.status !== "streaming"), "end", 20_000);
    assert.equal(end.reply.status, "complete");
    assert.equal(stays.ofType("delta").map((d) => d.text).join(""), "abcdefghij".repeat(10));
    assert.equal(leaves.ofType("message").length, 1, "the closed socket got nothing more");
  });
});
