// Replies under disconnects and crashes, against the real runtime and the local model fixture:
// - a client that drops the event stream at random points and resumes with Last-Event-ID, 200+
//   times during one reply, reassembles exactly the stored text;
// - wrangler dev killed with SIGKILL mid-reply: after a restart on the same state, the reply ends
//   `failed` (`interrupted`) with the text stored before the kill, never stuck in `streaming`.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startWorker, call, tokenFor } from "./harness.mjs";
import { startLlmServer } from "../fixtures/llm_server.mjs";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const token = tokenFor("durable-replies");

/** A seeded generator, so a failing run can be replayed. */
function rng(seed) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    return x / 2 ** 32;
  };
}

async function tabWithQuestion(base) {
  const tab = await call(base, "POST", "/api/tabs", { token, body: {} });
  await call(base, "POST", `/api/tabs/${tab.body.id}/messages`, { token, body: { role: "user", content: "Talk for a while." } });
  return tab.body.id;
}

async function waitEnded(base, tabId, replyId, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const res = await call(base, "GET", `/api/tabs/${tabId}/replies/${replyId}`, { token });
    if (res.status === 200 && res.body.status !== "streaming") return res.body;
    await sleep(100);
  }
  assert.fail("the reply stayed streaming");
}

describe("reply durability", () => {
  test("200+ disconnects at random points, resumed by Last-Event-ID: the text is exact", async () => {
    const llm = await startLlmServer({ chunkChars: 3, delayMs: 4, text: "The quick brown fox, café 世界 😀. ".repeat(200) });
    const worker = await startWorker({ vars: { LLM_UPSTREAM_URL: llm.base, LLM_MODEL: "fixture-ok", LLM_MAX_OUTPUT_TOKENS: "8192", LLM_CONTEXT_TOKENS: "16384" } });
    try {
      const tabId = await tabWithQuestion(worker.base);
      const started = await call(worker.base, "POST", `/api/tabs/${tabId}/replies`, { token, body: {} });
      assert.equal(started.status, 202);
      const replyId = started.body.reply.id;
      const random = rng(20261128);
      const seen = new Map(); // event id -> delta text
      let last = 0;
      let disconnects = 0;
      let done = null;
      while (!done) {
        const controller = new AbortController();
        const res = await fetch(`${worker.base}/api/tabs/${tabId}/replies/${replyId}/events`, {
          headers: { authorization: `Bearer ${token}`, "last-event-id": String(last) },
          signal: controller.signal,
        });
        assert.equal(res.status, 200);
        const reader = res.body.getReader();
        const decoder = new TextDecoder();
        let buffer = "";
        // Drop the connection after a random number of complete events (0 to 6), mid-chunk.
        const keep = Math.floor(random() * 7);
        let got = 0;
        try {
          while (!done) {
            const { value, done: ended } = await reader.read();
            if (ended) break;
            buffer += decoder.decode(value, { stream: true });
            let at;
            while ((at = buffer.indexOf("\n\n")) >= 0) {
              const block = buffer.slice(0, at);
              buffer = buffer.slice(at + 2);
              const fields = Object.fromEntries(
                block.split("\n").filter((l) => l && !l.startsWith(":")).map((l) => {
                  const i = l.indexOf(":");
                  return [l.slice(0, i), l.slice(i + 1).replace(/^ /, "")];
                }),
              );
              if (!fields.event) continue;
              const id = Number(fields.id);
              assert.equal(id, last + 1, "each event once, in order, across reconnects");
              last = id;
              if (fields.event === "delta") seen.set(id, JSON.parse(fields.data).text);
              if (fields.event === "done") done = JSON.parse(fields.data);
              got++;
            }
            if (!done && got >= keep) {
              controller.abort();
              disconnects++;
              break;
            }
          }
        } catch (err) {
          if (err.name !== "AbortError") throw err;
        }
      }
      assert.ok(disconnects >= 200, `only ${disconnects} disconnects; make the reply longer`);
      console.log(`${disconnects} disconnects, ${seen.size} deltas`);
      const text = [...seen.keys()].sort((a, b) => a - b).map((k) => seen.get(k)).join("");
      assert.equal(done.status, "complete");
      assert.equal(text, done.content, "the resumed deltas equal the stored content, byte for byte");
      const stored = await call(worker.base, "GET", `/api/tabs/${tabId}/messages`, { token });
      assert.equal(stored.body.messages[1].content, text);
    } finally {
      await worker.stop();
      await llm.close();
    }
  });

  test("SIGKILL mid-reply: after the restart the reply ends failed (interrupted) with the stored text", async () => {
    const persistDir = mkdtempSync(join(tmpdir(), "edge-assistant-reply-kill-"));
    const llm = await startLlmServer({ chunkChars: 2, delayMs: 20, text: "abcdefghij".repeat(100) });
    const vars = { LLM_UPSTREAM_URL: llm.base, LLM_MODEL: "fixture-ok" };
    let worker = await startWorker({ persistDir, vars });
    try {
      const tabId = await tabWithQuestion(worker.base);
      const started = await call(worker.base, "POST", `/api/tabs/${tabId}/replies`, { token, body: {} });
      const replyId = started.body.reply.id;
      // Let it stream past a few stored chunks (32 deltas or 1 s each), then kill everything.
      await sleep(2_500);
      const before = await call(worker.base, "GET", `/api/tabs/${tabId}/replies/${replyId}`, { token });
      assert.equal(before.body.status, "streaming");
      const streamedBefore = before.body.content;
      assert.ok(streamedBefore.length > 0);
      await worker.stop({ keepState: true, signal: "SIGKILL" });
      worker = await startWorker({ persistDir, vars });
      const ended = await waitEnded(worker.base, tabId, replyId);
      assert.equal(ended.status, "failed");
      assert.equal(ended.error.code, "interrupted");
      // What was stored before the kill is kept: a prefix of the model's text, at most one batch
      // (or one second) behind what the object had streamed when asked.
      assert.ok("abcdefghij".repeat(100).startsWith(ended.content));
      assert.ok(ended.content.length > 0, "stored chunks survive the kill");
      assert.ok(ended.content.length >= Math.min(streamedBefore.length - 2 * 32, streamedBefore.length / 2),
        `kept ${ended.content.length} of the ${streamedBefore.length} characters streamed before the kill`);
      const page = await call(worker.base, "GET", `/api/tabs/${tabId}/messages`, { token });
      assert.equal(page.body.messages[1].status, "failed");
      assert.equal(page.body.messages[1].content, ended.content);
      // The events replay to `done`, and a new reply can start.
      const events = await fetch(`${worker.base}/api/tabs/${tabId}/replies/${replyId}/events`, { headers: { authorization: `Bearer ${token}` } });
      assert.match(await events.text(), /event: done/);
      await call(worker.base, "POST", `/api/tabs/${tabId}/messages`, { token, body: { role: "user", content: "again" } });
      llm.configure({ delayMs: 0, text: "ok" });
      const again = await call(worker.base, "POST", `/api/tabs/${tabId}/replies`, { token, body: {} });
      assert.equal(again.status, 202);
    } finally {
      await worker.stop({ keepState: true });
      rmSync(persistDir, { recursive: true, force: true });
      await llm.close();
    }
  });
});
