// Body-size limits against workerd: a 100 MiB chunked upload (no content-length) gets its 413
// once the worker has read about the route's limit, not the whole body; a content-length that
// lies gets no body past what it announced; and the isolate serves normal requests afterwards.
import { describe, test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { connect } from "node:net";
import { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { useWorker, call, tokenFor } from "./harness.mjs";

const MiB = 1024 * 1024;
const HUGE = 100 * MiB;
const CHUNK = 64 * 1024;
// What the client may have handed to its socket when the upload ends: the route's limit plus
// what loopback TCP buffers hold (socket buffers, backpressure stops the writer after that; up
// to ~18 MiB measured unpaced). A worker that reads the whole upload first puts this at 100 MiB.
const SENT_BOUND = 32 * MiB;
// The client writes a chunk per millisecond at most (≤ 64 MB/s): 100 MiB takes over 1.6 s, so a
// 413 that arrives sooner arrived before the body could have been read.
const PACE_MS = 1;

/**
 * A lazily generated chunked request body: `prefix`, then spaces, `total` bytes in all, framed
 * as HTTP/1.1 chunks of 64 KiB, paced; `state.sent` counts the payload bytes generated so far and
 * `state.stop` ends the body early (without its last chunk, as a client that gave up would).
 */
function chunkedBody(total, prefix, state) {
  return Readable.from((async function* () {
    const filler = Buffer.alloc(CHUNK, 0x20);
    while (state.sent < total && !state.stop) {
      const head = state.sent === 0 ? Buffer.from(prefix) : Buffer.alloc(0);
      const data = Buffer.concat([head, filler]).subarray(0, Math.min(total - state.sent, head.length + CHUNK));
      state.sent += data.length;
      yield Buffer.concat([Buffer.from(`${data.length.toString(16)}\r\n`), data, Buffer.from("\r\n")]);
      await sleep(PACE_MS);
    }
    if (!state.stop) yield Buffer.from("0\r\n\r\n");
  })(), { objectMode: false });
}

/** Splits a raw HTTP/1.1 answer into status, lower-cased headers and the first body. */
function parseAnswer(received) {
  const end = received.indexOf("\r\n\r\n");
  if (end < 0) return null;
  const [statusLine, ...lines] = received.slice(0, end).split("\r\n");
  const headers = Object.fromEntries(lines.map((l) => {
    const i = l.indexOf(":");
    return [l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim()];
  }));
  const length = Number(headers["content-length"]);
  const rest = received.slice(end + 4);
  if (!(length >= 0) || Buffer.byteLength(rest, "latin1") < length) return null;
  const text = Buffer.from(rest, "latin1").subarray(0, length).toString("utf8");
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: Number(statusLine.split(" ")[1]), headers, text, json };
}

/**
 * Sends `head` and then `body` (a Readable, may be null) on a raw connection, and resolves with
 * the first complete answer (`answer`, null if none came), the payload bytes the client had
 * generated when the upload ended (answer, reset or close: `sent`) and the time it took. The
 * client stops writing as soon as any answer byte arrives.
 */
function exchange(port, head, { body = null, state = { sent: 0 }, timeoutMs = 30_000 } = {}) {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    const started = Date.now();
    let received = "";
    let sentAtEnd = null;
    let settled = false;
    const settle = (how) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      state.stop = true;
      body?.destroy();
      socket.destroy();
      resolve({ answer: parseAnswer(received), how, sent: sentAtEnd ?? state.sent, ms: Date.now() - started });
    };
    const timer = setTimeout(() => settle("timeout"), timeoutMs);
    socket.on("connect", () => {
      socket.write(head);
      body?.pipe(socket, { end: false });
    });
    socket.on("data", (d) => {
      sentAtEnd ??= state.sent;
      state.stop = true;
      body?.unpipe(socket);
      received += d.toString("latin1");
      if (parseAnswer(received)) settle("answer");
    });
    // The worker may answer and close while the client still writes: the answer is what counts.
    socket.on("error", (err) => settle(err.code));
    socket.on("close", () => settle("close"));
  });
}

describe("body limits", () => {
  const h = useWorker({ before, after, afterEach });
  const alice = tokenFor("alice");
  const api = (method, path, body) => call(h.worker.base, method, path, { token: alice, body });
  const head = (path, fields) =>
    `POST ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer ${alice}\r\n` +
    `content-type: application/json\r\n${fields}\r\n`;

  let tabId;
  before(async () => {
    const tab = await api("POST", "/api/tabs", { title: "limits" });
    assert.equal(tab.status, 201, JSON.stringify(tab.body));
    tabId = tab.body.id;
  });

  // The isolate still serves ordinary requests, with state, after a refused upload.
  async function assertHealthy(label) {
    const content = `after ${label}`;
    const appended = await api("POST", `/api/tabs/${tabId}/messages`, { role: "user", content });
    assert.equal(appended.status, 201, `${label}: ${JSON.stringify(appended.body)}`);
    const page = await api("GET", `/api/tabs/${tabId}/messages?limit=200`);
    assert.ok(page.body.messages.some((m) => m.content === content), label);
    const rollout = await api("POST", "/api/rollout", { env: "CartPole-v1", num_envs: 4, steps: 8, seed: 1 });
    assert.equal(rollout.status, 200, `${label}: ${JSON.stringify(rollout.body)}`);
  }

  /**
   * Uploads 100 MiB chunked to `path` and returns the 413. `wrangler dev` (Miniflare's entry
   * worker and workerd's HTTP server) sometimes resets the connection, or answers its own 500
   * "Network connection lost", when a worker cancels a request body the client is still sending
   * (cloudflare/workers-sdk#15709); such an attempt is retried, but every attempt, answered or
   * not, must have ended long before the upload could finish.
   */
  async function hugeUpload(path, label) {
    const attempts = [];
    for (let attempt = 0; attempt < 5; attempt++) {
      const state = { sent: 0 };
      const res = await exchange(h.worker.port, head(path, "transfer-encoding: chunked\r\n"), {
        body: chunkedBody(HUGE, "{\"content\":\"", state), state,
      });
      attempts.push(`${res.answer?.status ?? res.how} after ${(res.sent / MiB).toFixed(1)} MiB, ${res.ms} ms`);
      assert.ok(res.sent < SENT_BOUND, `${label}: the upload ran to ${res.sent} bytes (${attempts.join("; ")})`);
      if (res.answer?.json?.error) {
        console.log(`${label}: ${attempts.join("; ")}`);
        return res.answer;
      }
    }
    assert.fail(`${label}: no answer from the worker in ${attempts.length} attempts: ${attempts.join("; ")}`);
  }

  for (const [name, path] of [
    ["message append", () => `/api/tabs/${tabId}/messages`],
    ["rollout", () => "/api/rollout"],
    ["tab create", () => "/api/tabs"],
  ]) {
    test(`a 100 MiB chunked ${name} gets 413 long before the upload could finish`, async () => {
      const answer = await hugeUpload(path(), name);
      assert.equal(answer.status, 413, answer.text);
      assert.equal(answer.json.error.code, "payload_too_large");
      assert.match(answer.json.error.message, /limit of \d+ bytes/);
      await assertHealthy(name);
    });
  }

  test("several huge uploads at once are all refused and the isolate keeps serving", async () => {
    const answers = await Promise.all([1, 2, 3].map((n) => hugeUpload("/api/rollout", `concurrent rollout ${n}`)));
    for (const answer of answers) assert.equal(answer.status, 413, answer.text);
    await assertHealthy("concurrent uploads");
  });

  test("a chunked body within the limit is read whole", async () => {
    const state = { sent: 0 };
    const prefix = JSON.stringify({ role: "user", content: "chunked", client_id: "chunked-1" });
    // 120 KiB in two chunks: the object, then spaces, which JSON allows after a value.
    const res = await exchange(h.worker.port, head(`/api/tabs/${tabId}/messages`, "transfer-encoding: chunked\r\n"), {
      body: chunkedBody(120 * 1024, prefix, state), state,
    });
    assert.equal(res.answer?.status, 201, res.answer?.text ?? res.how);
    assert.equal(res.answer.json.content, "chunked");
  });

  test("a content-length that lies gets no more than it announced, and never a body past the limit", async () => {
    const path = `/api/tabs/${tabId}/messages`;
    // Announces 20 bytes, then sends 32 MiB: the worker reads the 20 (not JSON) and answers 400
    // while the client is still writing; the rest is not this request's body.
    const state = { sent: 0 };
    const small = await exchange(h.worker.port, head(path, "content-length: 20\r\n"), {
      body: Readable.from((async function* () {
        while (state.sent < 32 * MiB && !state.stop) { state.sent += CHUNK; yield Buffer.alloc(CHUNK, 0x20); }
      })()),
      state,
    });
    assert.equal(small.answer?.status, 400, small.answer?.text ?? small.how);
    assert.equal(small.answer.json.error.code, "invalid_json");
    assert.ok(small.sent < SENT_BOUND, `sent ${small.sent}`);
    await assertHealthy("content-length 20 with 32 MiB sent");

    // Announces more than the limit and sends nothing: 413 at once, no body byte awaited.
    const big = await exchange(h.worker.port, head(path, `content-length: ${HUGE}\r\n`), { timeoutMs: 10_000 });
    assert.equal(big.answer?.status, 413, big.answer?.text ?? big.how);
    assert.equal(big.answer.json.error.code, "payload_too_large");
    assert.ok(big.ms < 5_000, `${big.ms} ms`);

    // Not a number: refused the same way.
    const junk = await exchange(h.worker.port, head(path, "content-length: 1e9\r\n"), { timeoutMs: 10_000 });
    assert.ok([400, 413].includes(junk.answer?.status), junk.answer?.text ?? junk.how);
    await assertHealthy("announced lengths");
  });

  test("the largest JSON answer streams out whole, with its content-length", async () => {
    // ~21 MB of JSON: written in 1 MiB chunks and streamed through a FixedLengthStream. Without
    // compression the length is announced; with gzip (fetch's default) the runtime re-encodes.
    const rollout = { env: "CartPole-v1", num_envs: 1024, steps: 128, seed: 3, include: ["trajectory"] };
    for (const encoding of ["identity", "gzip"]) {
      const res = await fetch(`${h.worker.base}/api/rollout`, {
        method: "POST",
        headers: { authorization: `Bearer ${alice}`, "content-type": "application/json", "accept-encoding": encoding },
        body: JSON.stringify(rollout),
      });
      assert.equal(res.status, 200, encoding);
      const bytes = Buffer.from(await res.arrayBuffer());
      assert.ok(bytes.length > 16 * MiB, `${encoding}: ${bytes.length} bytes`);
      if (encoding === "identity") assert.equal(Number(res.headers.get("content-length")), bytes.length);
      assert.equal(res.headers.get("content-type"), "application/json; charset=utf-8");
      const body = JSON.parse(bytes.toString("utf8"));
      assert.equal(body.trajectory.observations.length, 128);
      assert.equal(body.trajectory.observations[127].length, 1024);
      assert.equal(body.trajectory.log_probs[127][1023], Math.log(0.5));
    }
    // A small answer is one chunk, as before.
    const small = await api("POST", "/api/rollout", { env: "CartPole-v1", num_envs: 2, steps: 2, seed: 3 });
    assert.equal(small.status, 200);
    assert.equal(small.body.num_envs, 2);
  });

  test("a wrong content-type is refused without waiting for the body", async () => {
    const res = await exchange(h.worker.port,
      `POST /api/rollout HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer ${alice}\r\n` +
      `content-type: text/plain\r\ncontent-length: ${HUGE}\r\n\r\n`, { timeoutMs: 10_000 });
    assert.equal(res.answer?.status, 415, res.answer?.text ?? res.how);
    assert.ok(res.ms < 5_000, `${res.ms} ms`);
  });
});
