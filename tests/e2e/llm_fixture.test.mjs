// The OpenAI-compatible fixture server (tests/fixtures/llm_server.mjs) itself: each mode's wire
// output, request recording, and start/stop by PID. No worker needed. The captured streams in
// tests/fixtures/llm/*.sse must equal what the fixture sends now (the Rust tests replay them
// through the model client); `UPDATE_LLM_CAPTURES=1` rewrites them.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { spawnLlmServer, DEFAULT_TEXT, MODES, pieces } from "../fixtures/llm_server.mjs";

const CAPTURES = join(dirname(fileURLToPath(import.meta.url)), "..", "fixtures", "llm");
const PROMPT = [
  { role: "system", content: "You are terse." },
  { role: "user", content: "Say hello, with some UTF-8: \u00e9\u4e16\u{1F600}" },
];

describe("llm fixture server", () => {
  let fx;
  before(async () => { fx = await spawnLlmServer(); });
  after(async () => { await fx?.stop(); });

  const post = (mode, { body = {}, headers = {}, signal } = {}) => fetch(`${fx.base}/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "text/event-stream", "x-fixture-mode": mode, ...headers },
    body: JSON.stringify({ model: "m", messages: PROMPT, stream: true, stream_options: { include_usage: true }, max_tokens: 64, ...body }),
    signal,
  });
  const bytes = async (res) => Buffer.from(await res.arrayBuffer());
  /** The `data:` payloads of an LF- or CRLF-framed stream. */
  const events = (buf) => buf.toString("utf8").split(/\r?\n\r?\n/).filter(Boolean)
    .filter((e) => !e.startsWith(":")).map((e) => e.replace(/^data: ?/, ""));
  const deltas = (datas) => datas.filter((d) => d.startsWith("{"))
    .map((d) => JSON.parse(d)).map((c) => c.choices?.[0]?.delta?.content ?? "").join("");

  test("listens on loopback and was started as its own process", async () => {
    assert.match(fx.base, /^http:\/\/127\.0\.0\.1:\d+\/v1$/);
    assert.notEqual(fx.pid, process.pid);
    process.kill(fx.pid, 0); // alive
  });

  test("ok: deltas of the text, finish_reason, usage with empty choices, [DONE]", async () => {
    const res = await post("ok");
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type"), /^text\/event-stream/);
    const datas = events(await bytes(res));
    assert.equal(datas.at(-1), "[DONE]");
    const chunks = datas.slice(0, -1).map((d) => JSON.parse(d));
    assert.equal(chunks[0].choices[0].delta.role, "assistant");
    assert.equal(deltas(datas), DEFAULT_TEXT);
    assert.equal(chunks.length, 1 + pieces(DEFAULT_TEXT, 4).length + 2);
    assert.equal(chunks.at(-2).choices[0].finish_reason, "stop");
    assert.deepEqual(chunks.at(-1).choices, []);
    assert.equal(typeof chunks.at(-1).usage.prompt_tokens, "number");
    assert.equal(chunks.at(-1).usage.completion_tokens, Math.ceil(Array.from(DEFAULT_TEXT).length / 4));
  });

  test("the mode comes from the header or from a model named fixture-<mode>; unknown modes are 400", async () => {
    const byModel = await fetch(`${fx.base}/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "fixture-refuse-404", messages: PROMPT, stream: true }),
    });
    assert.equal(byModel.status, 404);
    assert.match((await byModel.json()).error.message, /fixture-refuse-404/);
    const unknown = await post("nonsense");
    assert.equal(unknown.status, 400);
    assert.match((await unknown.json()).error.message, /unknown fixture mode/);
    assert.ok(MODES.length >= 17);
  });

  test("no-usage and crlf; json answers one completion", async () => {
    const plain = events(await bytes(await post("no-usage")));
    assert.equal(plain.at(-1), "[DONE]");
    assert.ok(!plain.some((d) => d.includes("\"usage\"")));
    const crlfRaw = await bytes(await post("crlf"));
    const crlf = crlfRaw.toString("utf8");
    assert.ok(crlf.includes("\r\n\r\n") && !/[^\r]\n/.test(crlf), "CRLF only");
    assert.ok(crlf.includes(": keep-alive\r\n"));
    assert.ok(crlf.startsWith("data:{"), "data: without a space");
    assert.equal(deltas(events(crlfRaw)), DEFAULT_TEXT);
    const json = await post("json");
    assert.match(json.headers.get("content-type"), /^application\/json/);
    const body = await json.json();
    assert.equal(body.choices[0].message.content, DEFAULT_TEXT);
    assert.equal(body.choices[0].finish_reason, "stop");
  });

  test("refusals: status, OpenAI error body, retry-after", async () => {
    for (const status of [400, 401, 403, 404, 429, 500, 503]) {
      const res = await post(`refuse-${status}`);
      assert.equal(res.status, status);
      const body = await res.json();
      assert.equal(typeof body.error.message, "string");
      const retry = res.headers.get("retry-after");
      if (status === 429) assert.equal(retry, "7");
      else if (status === 503) {
        const wait = (Date.parse(retry) - Date.now()) / 1000;
        assert.ok(wait > 25 && wait <= 31, `${retry}: ${wait}`);
      } else assert.equal(retry, null);
    }
  });

  test("hang: no head within 300 ms; hang-body: a head, then no byte", async () => {
    await assert.rejects(post("hang", { signal: AbortSignal.timeout(300) }), { name: "TimeoutError" });
    const res = await post("hang-body");
    assert.equal(res.status, 200);
    const reader = res.body.getReader();
    const first = await Promise.race([reader.read(), new Promise((r) => setTimeout(() => r("silent"), 300))]);
    assert.equal(first, "silent");
    await reader.cancel();
  });

  test("stall: half the deltas, then silence with the connection open", async () => {
    const res = await post("stall");
    const reader = res.body.getReader();
    let got = Buffer.alloc(0);
    for (;;) {
      const next = await Promise.race([reader.read(), new Promise((r) => setTimeout(() => r(null), 300))]);
      if (next === null) break; // silent for 300 ms
      assert.equal(next.done, false, "the connection stays open");
      got = Buffer.concat([got, next.value]);
    }
    await reader.cancel();
    const half = pieces(DEFAULT_TEXT, 4).slice(0, Math.floor(pieces(DEFAULT_TEXT, 4).length / 2)).join("");
    assert.equal(deltas(events(got)), half);
    assert.ok(!got.toString().includes("finish_reason\":\"stop"));
  });

  test("error, cut and garbage end the body early without a finish_reason", async () => {
    const half = pieces(DEFAULT_TEXT, 4).slice(0, Math.floor(pieces(DEFAULT_TEXT, 4).length / 2)).join("");
    const error = events(await bytes(await post("error")));
    assert.deepEqual(JSON.parse(error.at(-1)).error.message, "fixture error mid-stream");
    assert.equal(deltas(error.slice(0, -1)), half);
    const cut = await bytes(await post("cut"));
    assert.equal(deltas(events(cut)), half);
    assert.ok(!cut.toString().includes("finish_reason\":\"stop") && !cut.toString().includes("[DONE]"));
    const garbage = await bytes(await post("garbage"));
    assert.ok(garbage.includes(Buffer.from([0xff, 0xfe, 0x00])), "raw non-UTF-8 bytes");
    assert.ok(garbage.toString("latin1").includes("not json"));
  });

  test("huge: 20 MB of deltas, then finish; a client may stop early", async () => {
    const res = await post("huge");
    const reader = res.body.getReader();
    let size = 0;
    while (size < 2 * 1024 * 1024) size += (await reader.read()).value.length;
    await reader.cancel(); // the server notices and stops writing
    const whole = await bytes(await post("huge"));
    assert.ok(whole.length > 20 * 1024 * 1024, `${whole.length}`);
    assert.ok(whole.subarray(-200).toString().includes("[DONE]"));
  });

  test("per-request pace with x-fixture-delay-ms", async () => {
    const start = Date.now();
    await bytes(await post("ok", { headers: { "x-fixture-delay-ms": "20" } }));
    const minimum = 20 * (pieces(DEFAULT_TEXT, 4).length + 1);
    assert.ok(Date.now() - start >= minimum - 5, `${Date.now() - start} ms`);
  });

  test("requests are recorded with the prompt and headers; config changes the defaults", async () => {
    await fx.clearRequests();
    await bytes(await post("ok", { headers: { authorization: "Bearer sk-test" }, body: { model: "gpt-x" } }));
    const [recorded] = await fx.requests();
    assert.equal(recorded.path, "/v1/chat/completions");
    assert.equal(recorded.mode, "ok");
    assert.equal(recorded.headers.authorization, "Bearer sk-test");
    assert.equal(recorded.headers.accept, "text/event-stream");
    assert.deepEqual(recorded.body.messages, PROMPT);
    assert.equal(recorded.body.model, "gpt-x");
    assert.deepEqual(recorded.body.stream_options, { include_usage: true });
    await fx.configure({ text: "short", chunkChars: 2 });
    assert.equal(deltas(events(await bytes(await post("ok")))), "short");
    await fx.configure({ text: DEFAULT_TEXT, chunkChars: 4 });
  });

  test("the captured streams the Rust tests replay are what the fixture sends", async () => {
    for (const mode of ["ok", "crlf", "no-usage", "error", "cut", "garbage"]) {
      const got = await bytes(await post(mode));
      const path = join(CAPTURES, `${mode}.sse`);
      if (process.env.UPDATE_LLM_CAPTURES === "1") writeFileSync(path, got);
      assert.ok(got.equals(readFileSync(path)), `${mode}.sse differs from the fixture's output (UPDATE_LLM_CAPTURES=1 rewrites it)`);
    }
  });

  test("stop() ends the process by its PID", async () => {
    const other = await spawnLlmServer();
    // A hanging request must not keep it alive.
    const hanging = fetch(`${other.base}/chat/completions`, {
      method: "POST", headers: { "x-fixture-mode": "hang" }, body: "{}",
    }).then(() => "answered", () => "closed");
    await new Promise((r) => setTimeout(r, 100));
    await other.stop();
    assert.throws(() => process.kill(other.pid, 0), { code: "ESRCH" });
    assert.equal(await hanging, "closed");
  });
});
