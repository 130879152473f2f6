// Assistant replies end to end: wrangler dev's workerd against the local OpenAI-compatible fixture
// (tests/fixtures/llm_server.mjs, loopback). The reply belongs to the tab's object: it streams
// whether or not anyone reads it, resumes by event id, cancels, and every upstream fault ends it
// with the right status and the text so far, never stuck in `streaming`.
import { describe, test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { startWorker, call, tokenFor, freePort } from "./harness.mjs";
import { startLlmServer, DEFAULT_TEXT } from "../fixtures/llm_server.mjs";

// A SearXNG-compatible upstream for the web source (loopback).
const searx = createServer((req, res) => {
  const q = new URL(req.url, "http://fixture").searchParams.get("q");
  res.writeHead(200, { "content-type": "application/json" });
  res.end(JSON.stringify({
    query: q,
    results: [
      { url: "https://example.com/rust-1", title: "Rust 1.95 released", content: "The Rust team announces 1.95.", engine: "fixture" },
      { url: "https://example.com/rust-2", title: "What's new", content: "A summary of the release.", engine: "fixture" },
    ],
  }));
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Parses a text/event-stream body into [{id, event, data}] (comments dropped). */
function parseSse(text) {
  const events = [];
  for (const block of text.split("\n\n")) {
    const ev = {};
    for (const line of block.split("\n")) {
      if (!line || line.startsWith(":")) continue;
      const at = line.indexOf(":");
      const field = line.slice(0, at);
      const value = line.slice(at + 1).replace(/^ /, "");
      if (field === "data") ev.data = JSON.parse(value);
      else ev[field] = value;
    }
    if (ev.event) events.push({ ...ev, id: Number(ev.id) });
  }
  return events;
}

describe("assistant replies", () => {
  let llm;
  let worker;
  let failed = false;
  const token = tokenFor("replier");
  const api = (method, path, opts = {}) => call(worker.base, method, path, { token, ...opts });

  before(async () => {
    llm = await startLlmServer({ chunkChars: 3 });
    const searxPort = await freePort();
    await new Promise((r) => searx.listen(searxPort, "127.0.0.1", r));
    worker = await startWorker({
      vars: {
        SEARCH_UPSTREAM_URL: `http://127.0.0.1:${searxPort}`,
        LLM_UPSTREAM_URL: llm.base,
        LLM_MODEL: "fixture-ok",
        LLM_FIRST_BYTE_TIMEOUT_MS: "1500",
        LLM_IDLE_TIMEOUT_MS: "1500",
      },
    });
  });
  afterEach((ctx) => { if (ctx && ctx.passed === false) failed = true; });
  after(async () => {
    if (worker) {
      if (failed) console.error(`--- wrangler log ---\n${worker.log()}`);
      await worker.stop();
    }
    if (llm) await llm.close();
    await new Promise((r) => searx.close(r));
  });

  async function tabWithQuestion(text = "Tell me something nice.") {
    const tab = await api("POST", "/api/tabs", { body: { title: "replies" } });
    assert.equal(tab.status, 201);
    const msg = await api("POST", `/api/tabs/${tab.body.id}/messages`, { body: { role: "user", content: text } });
    assert.equal(msg.status, 201);
    return tab.body.id;
  }

  async function events(tabId, replyId, { after, lastEventId } = {}) {
    const q = after === undefined ? "" : `?after=${after}`;
    const headers = { authorization: `Bearer ${token}` };
    if (lastEventId !== undefined) headers["last-event-id"] = String(lastEventId);
    const res = await fetch(`${worker.base}/api/tabs/${tabId}/replies/${replyId}/events${q}`, { headers });
    assert.equal(res.status, 200, await res.clone().text());
    assert.match(res.headers.get("content-type"), /^text\/event-stream/);
    return parseSse(await res.text());
  }

  async function waitEnded(tabId, replyId) {
    for (let i = 0; i < 600; i++) {
      const res = await api("GET", `/api/tabs/${tabId}/replies/${replyId}`);
      assert.equal(res.status, 200);
      if (res.body.status !== "streaming") return res.body;
      await sleep(50);
    }
    assert.fail("the reply stayed streaming");
  }

  test("a reply streams from the model into the tab, and its events replay exactly", async () => {
    llm.configure({ delayMs: 0, text: DEFAULT_TEXT });
    llm.clearRequests();
    const tabId = await tabWithQuestion("Why is the sky blue?");
    const started = await api("POST", `/api/tabs/${tabId}/replies`, { body: {} });
    assert.equal(started.status, 202, JSON.stringify(started.body));
    const reply = started.body.reply;
    assert.equal(reply.status, "streaming");
    assert.equal(reply.message_seq, 1);
    assert.equal(reply.assistant_seq, 2);

    const all = await events(tabId, reply.id);
    assert.deepEqual(all.map((e) => e.id), all.map((_, i) => i + 1), "ids grow by 1 from 1");
    assert.equal(all[0].event, "context");
    assert.ok(all[0].data.intent.label);
    const done = all.at(-1);
    assert.equal(done.event, "done");
    const text = all.filter((e) => e.event === "delta").map((e) => e.data.text).join("");
    assert.equal(text, DEFAULT_TEXT, "the deltas concatenate to the model's text");
    assert.equal(done.data.status, "complete");
    assert.equal(done.data.finish_reason, "stop");
    assert.equal(done.data.content, DEFAULT_TEXT);
    assert.ok(done.data.usage.completion_tokens > 0);

    // Every resume point gives exactly the later events, by query or by Last-Event-ID.
    for (const after of [0, 1, 2, Math.floor(all.length / 2), all.length - 1, all.length, all.length + 5]) {
      const rest = await events(tabId, reply.id, { after });
      assert.deepEqual(rest, all.filter((e) => e.id > after), `after ${after}`);
    }
    assert.deepEqual(await events(tabId, reply.id, { lastEventId: 3 }), all.filter((e) => e.id > 3));

    // The assistant message is in the tab, and the model saw the question.
    const page = await api("GET", `/api/tabs/${tabId}/messages`);
    const assistant = page.body.messages[1];
    assert.equal(assistant.role, "assistant");
    assert.equal(assistant.reply_id, reply.id);
    assert.equal(assistant.status, "complete");
    assert.equal(assistant.content, DEFAULT_TEXT);
    const sent = llm.requests().at(-1);
    assert.equal(sent.body.stream, true);
    assert.equal(sent.body.messages.at(-1).content, "Why is the sky blue?");
    assert.equal(sent.body.messages.at(-1).role, "user");
  });

  test("the reply runs to its end with no client reading it", async () => {
    llm.configure({ delayMs: 5, text: "x".repeat(300) });
    const tabId = await tabWithQuestion();
    const started = await api("POST", `/api/tabs/${tabId}/replies`, { body: {} });
    assert.equal(started.status, 202);
    // The tab list counts the assistant message as soon as the start is answered: the
    // reservation call carries the directory update (the tab's flush comes seconds later).
    const list = await api("GET", "/api/tabs");
    assert.equal(list.body.tabs.find((t) => t.id === tabId).message_count, 2);
    const ended = await waitEnded(tabId, started.body.reply.id);
    assert.equal(ended.status, "complete");
    assert.equal(ended.content, "x".repeat(300));
  });

  test("Accept: text/event-stream answers the events at once; client_id finds the same reply", async () => {
    llm.configure({ delayMs: 0, text: DEFAULT_TEXT });
    const tabId = await tabWithQuestion();
    const res = await fetch(`${worker.base}/api/tabs/${tabId}/replies`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json", accept: "text/event-stream" },
      body: JSON.stringify({ client_id: "k-1" }),
    });
    assert.equal(res.status, 200);
    const all = parseSse(await res.text());
    assert.equal(all.at(-1).event, "done");
    const again = await api("POST", `/api/tabs/${tabId}/replies`, { body: { client_id: "k-1" } });
    assert.equal(again.status, 200);
    assert.equal(again.body.reply.id, all.at(-1).data.id);
    assert.equal(again.body.reply.content, DEFAULT_TEXT);
  });

  test("one reply at a time: 50 concurrent starts give one 202 and 49 409s", async () => {
    // Long enough (200 deltas, ~4 s) that all 50 starts arrive while it streams, even on a slow machine.
    llm.configure({ delayMs: 20, text: "y".repeat(600) });
    const tabId = await tabWithQuestion();
    const answers = await Promise.all(
      Array.from({ length: 50 }, () => api("POST", `/api/tabs/${tabId}/replies`, { body: {} })),
    );
    const statuses = answers.map((a) => a.status).sort();
    assert.equal(statuses.filter((s) => s === 202).length, 1, statuses.join(","));
    assert.equal(statuses.filter((s) => s === 409).length, 49);
    assert.equal(answers.find((a) => a.status === 409).body.error.code, "conflict");
    const winner = answers.find((a) => a.status === 202).body.reply;
    assert.equal((await waitEnded(tabId, winner.id)).status, "complete");
    // The latest message is now the assistant's: a new reply needs a user message.
    const refused = await api("POST", `/api/tabs/${tabId}/replies`, { body: {} });
    assert.equal(refused.status, 400);
    assert.equal(refused.body.error.code, "invalid_field");
  });

  test("cancel keeps the text so far; cancelling again changes nothing", async () => {
    llm.configure({ delayMs: 40, text: "z".repeat(300) });
    const tabId = await tabWithQuestion();
    const started = await api("POST", `/api/tabs/${tabId}/replies`, { body: {} });
    const id = started.body.reply.id;
    const watching = events(tabId, id);
    await sleep(600);
    const cancelled = await api("POST", `/api/tabs/${tabId}/replies/${id}/cancel`);
    assert.equal(cancelled.status, 200);
    assert.equal(cancelled.body.status, "cancelled");
    assert.ok(cancelled.body.content.length > 0 && cancelled.body.content.length < 300);
    const seen = await watching;
    assert.equal(seen.at(-1).event, "done");
    assert.equal(seen.at(-1).data.status, "cancelled");
    const text = seen.filter((e) => e.event === "delta").map((e) => e.data.text).join("");
    assert.equal(text, cancelled.body.content, "the watcher saw exactly the kept text");
    await sleep(300);
    const again = await api("POST", `/api/tabs/${tabId}/replies/${id}/cancel`);
    assert.deepEqual(again.body, cancelled.body);
    const page = await api("GET", `/api/tabs/${tabId}/messages`);
    assert.equal(page.body.messages[1].status, "cancelled");
    assert.equal(page.body.messages[1].content, cancelled.body.content);
  });

  test("upstream faults end the reply with the right status and the text so far", async () => {
    llm.configure({ delayMs: 0, text: DEFAULT_TEXT });
    const cases = [
      ["fixture-refuse-429", "failed", "upstream_busy"],
      ["fixture-refuse-503", "failed", "upstream_busy"],
      ["fixture-refuse-401", "failed", "upstream_error"],
      ["fixture-refuse-404", "failed", "upstream_error"],
      ["fixture-error", "failed", "upstream_error"],
      ["fixture-garbage", "failed", "upstream_error"],
      ["fixture-cut", "truncated", undefined],
      ["fixture-hang", "failed", "upstream_timeout"],
      ["fixture-stall", "failed", "upstream_timeout"],
      ["fixture-no-usage", "complete", undefined],
    ];
    for (const [model, status, code] of cases) {
      const tabId = await tabWithQuestion();
      const started = await api("POST", `/api/tabs/${tabId}/replies`, { body: { model } });
      assert.equal(started.status, 202, model);
      const ended = await waitEnded(tabId, started.body.reply.id);
      assert.equal(ended.status, status, `${model}: ${JSON.stringify(ended)}`);
      assert.equal(ended.error?.code, code, model);
      if (model === "fixture-stall" || model === "fixture-error") {
        assert.ok(ended.content.length > 0 && DEFAULT_TEXT.startsWith(ended.content), `${model} keeps the text so far`);
      }
      const page = await api("GET", `/api/tabs/${tabId}/messages`);
      assert.equal(page.body.messages[1].status, status, model);
      assert.equal(page.body.messages[1].content, ended.content, model);
    }
  });

  test("bad input: unknown ids, other users, resume points, bodies", async () => {
    const tabId = await tabWithQuestion();
    const started = await api("POST", `/api/tabs/${tabId}/replies`, { body: {} });
    const id = started.body.reply.id;
    await waitEnded(tabId, id);
    const other = tokenFor("someone-else");
    assert.equal((await call(worker.base, "GET", `/api/tabs/${tabId}/replies/${id}`, { token: other })).status, 404);
    assert.equal((await call(worker.base, "GET", `/api/tabs/${tabId}/replies/${id}/events`, { token: other })).status, 404);
    assert.equal((await call(worker.base, "POST", `/api/tabs/${tabId}/replies/${id}/cancel`, { token: other })).status, 404);
    assert.equal((await api("GET", `/api/tabs/${tabId}/replies/nope`)).status, 404);
    for (const after of ["-1", "x", "1.5"]) {
      const res = await api("GET", `/api/tabs/${tabId}/replies/${id}/events?after=${after}`);
      assert.equal(res.status, 400, after);
      assert.equal(res.body.error.code, "invalid_field");
    }
    const lei = await api("GET", `/api/tabs/${tabId}/replies/${id}/events`, { headers: { "last-event-id": "abc" } });
    assert.equal(lei.status, 400);
    for (const [body, code] of [
      [{ search: "sometimes" }, "invalid_field"],
      [{ sources: ["files"] }, "invalid_field"],
      [{ message_seq: 0 }, "invalid_field"],
      [{ message_seq: 99 }, "invalid_field"],
      [{ extra: 1 }, "unknown_field"],
    ]) {
      const res = await api("POST", `/api/tabs/${tabId}/replies`, { body });
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal(res.body.error.code, code, JSON.stringify(body));
    }
  });

  test("grounding: the intent picks the source, the prompt numbers it, the reply cites it", async () => {
    llm.configure({ delayMs: 0, text: "Rust 1.95 is out [1]." });
    const lastPrompt = () => llm.requests().at(-1).body.messages;

    // web
    llm.clearRequests();
    let tabId = await tabWithQuestion("what's the latest Rust release news today?");
    let started = await api("POST", `/api/tabs/${tabId}/replies`, { body: {} });
    let all = await events(tabId, started.body.reply.id);
    assert.equal(all[0].data.intent.label, "web");
    const cites = all[0].data.citations;
    assert.deepEqual(cites.map((c) => [c.n, c.source, c.url]), [
      [1, "web", "https://example.com/rust-1"],
      [2, "web", "https://example.com/rust-2"],
    ]);
    assert.deepEqual(all.at(-1).data.citations, cites, "the reply keeps its citations");
    const sources = lastPrompt().find((m) => m.content.startsWith("Sources:"));
    assert.ok(sources, JSON.stringify(lastPrompt()));
    assert.match(sources.content, /\[1\] Rust 1\.95 released \(https:\/\/example\.com\/rust-1\)\nThe Rust team announces 1\.95\./);

    // search: never consults nothing, whatever the label
    tabId = await tabWithQuestion("what's the latest Rust release news today?");
    started = await api("POST", `/api/tabs/${tabId}/replies`, { body: { search: "never" } });
    all = await events(tabId, started.body.reply.id);
    assert.deepEqual(all[0].data.citations, []);
    assert.ok(!lastPrompt().some((m) => m.content.startsWith("Sources:")));

    // history: another tab's message is found; the current tab is not cited
    const other = await tabWithQuestion("The ocelot migration deadline is next Friday, remember that.");
    tabId = await tabWithQuestion("what did I say about the ocelot migration deadline?");
    started = await api("POST", `/api/tabs/${tabId}/replies`, { body: {} });
    all = await events(tabId, started.body.reply.id);
    assert.equal(all[0].data.intent.label, "history");
    const history = all[0].data.citations;
    assert.ok(history.length >= 1, JSON.stringify(all[0].data));
    assert.ok(history.every((c) => c.source === "history" && c.tab_id !== tabId));
    assert.ok(history.some((c) => c.tab_id === other && c.seq === 1));

    // rollout: a computed summary goes into the prompt, uncited
    tabId = await tabWithQuestion("simulate 10 cartpole episodes and tell me the mean return");
    started = await api("POST", `/api/tabs/${tabId}/replies`, { body: {} });
    all = await events(tabId, started.body.reply.id);
    assert.equal(all[0].data.intent.label, "rollout");
    assert.deepEqual(all[0].data.citations, []);
    assert.ok(lastPrompt().some((m) => m.role === "system" && m.content.includes("CartPole-v1 rollout just run")));
  });

  test("code grounding: a question about the tab's workspace cites path:line and gets the symbol map", async () => {
    llm.configure({ delayMs: 0, text: "It is defined in src/config.py [1]." });
    const ws = await api("POST", "/api/workspaces", { body: { name: "grounding" } });
    assert.equal(ws.status, 201, ws.text);
    const files = [
      ["src/config.py", "import os\n\n\ndef parse_config(path):\n    return open(path).read()\n\n\nclass Loader:\n    def load(self):\n        return parse_config('x')\n"],
      ["src/server.rs", "pub struct Server {\n    port: u16,\n}\n\nimpl Server {\n    pub fn start(&self) {}\n}\n"],
    ];
    for (const [path, text] of files) {
      const put = await api("PUT", `/api/workspaces/${ws.body.id}/files/${path}`, { raw: text, headers: { "content-type": "text/plain" } });
      assert.equal(put.status, 200, put.text);
    }
    llm.clearRequests();
    const tabId = await tabWithQuestion("where is parse_config defined in my repo?");
    const started = await api("POST", `/api/tabs/${tabId}/replies`, { body: { workspace: ws.body.id } });
    assert.equal(started.status, 202, started.text);
    const all = await events(tabId, started.body.reply.id);
    assert.equal(all[0].data.intent.label, "code");
    const cites = all[0].data.citations;
    assert.ok(cites.length >= 1, JSON.stringify(all[0].data));
    assert.deepEqual([cites[0].n, cites[0].source, cites[0].path, cites[0].line], [1, "code", "src/config.py", 4]);
    const prompt = llm.requests().at(-1).body.messages;
    const sources = prompt.find((m) => m.content.startsWith("Sources:"));
    assert.ok(sources, JSON.stringify(prompt));
    assert.match(sources.content, /\[1\] .*\(src\/config\.py:4\)\n[^]*def parse_config\(path\):/);
    // The workspace's symbol map goes along as uncited context.
    assert.ok(prompt.some((m) => m.role === "system" && m.content.includes("src/server.rs") && m.content.includes("Server")), JSON.stringify(prompt));
    assert.equal(all.at(-1).data.status, "complete");

    // Another user's workspace id, or none at all, is a 404 before anything starts.
    const missing = await api("POST", `/api/tabs/${tabId}/replies`, { body: { workspace: "nope" } });
    assert.equal(missing.status, 404, missing.text);
  });
});

describe("the daily token budget", () => {
  let llm;
  let worker;
  const token = tokenFor("budgeted");
  const api = (method, path, opts = {}) => call(worker.base, method, path, { token, ...opts });

  before(async () => {
    // Replies of ~6 s: the two admitted ones are still streaming (holding their reservations)
    // when the rest of the burst arrives, even on a slow machine.
    llm = await startLlmServer({ chunkChars: 3, delayMs: 30, text: "q".repeat(600) });
    worker = await startWorker({
      vars: {
        LLM_UPSTREAM_URL: llm.base,
        LLM_MODEL: "fixture-ok",
        LLM_CONTEXT_TOKENS: "8192",
        USER_DAILY_TOKENS: "20000",
      },
    });
  });
  after(async () => {
    if (worker) await worker.stop();
    if (llm) await llm.close();
  });

  test("a burst cannot pass the budget: each admitted reply reserves its worst case", async () => {
    const tabs = [];
    for (let i = 0; i < 10; i++) {
      const tab = await api("POST", "/api/tabs", { body: {} });
      await api("POST", `/api/tabs/${tab.body.id}/messages`, { body: { role: "user", content: `question ${i}` } });
      tabs.push(tab.body.id);
    }
    const answers = await Promise.all(tabs.map((id) => api("POST", `/api/tabs/${id}/replies`, { body: {} })));
    const admitted = answers.filter((a) => a.status === 202);
    const refused = answers.filter((a) => a.status === 429);
    assert.equal(admitted.length, 2, answers.map((a) => a.status).join(","));
    assert.equal(refused.length, 8);
    for (const r of refused) {
      assert.equal(r.body.error.code, "quota_exceeded");
      const retry = Number(r.headers.get("retry-after"));
      assert.ok(retry >= 1 && retry <= 86_400, `retry-after ${retry}`);
    }
    let usage = await api("GET", "/api/usage");
    assert.equal(usage.status, 200);
    assert.equal(usage.body.reserved_tokens, 2 * 8192);
    assert.equal(usage.body.limit_tokens, 20000);
    // Once they end, the real usage replaces the reservations: 0 over-spend, and room again.
    for (const a of admitted) {
      const tabId = a.body.reply.tab_id;
      for (let i = 0; i < 600; i++) {
        const r = await api("GET", `/api/tabs/${tabId}/replies/${a.body.reply.id}`);
        if (r.body.status !== "streaming") break;
        await sleep(50);
      }
    }
    for (let i = 0; i < 50; i++) {
      usage = await api("GET", "/api/usage");
      if (usage.body.replies === 2) break;
      await sleep(50);
    }
    assert.equal(usage.body.replies, 2);
    assert.equal(usage.body.reserved_tokens, 0);
    const used = usage.body.prompt_tokens + usage.body.completion_tokens;
    assert.ok(used > 0 && used <= 20000, `used ${used}`);
    assert.match(usage.body.date, /^\d{4}-\d{2}-\d{2}$/);
    const again = await api("POST", `/api/tabs/${tabs[5]}/replies`, { body: {} });
    assert.equal(again.status, 202);
  });
});
