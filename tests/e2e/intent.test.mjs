// POST /api/intent end to end: the router answers in the worker with the documented shape,
// routes examples of each label, needs a token, and refuses bad bodies with the contract's errors.
import { describe, test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { useWorker, call, tokenFor } from "./harness.mjs";

describe("intent routing", () => {
  const h = useWorker({ before, after, afterEach });
  const token = tokenFor("intent");
  const intent = (body, opts = {}) => call(h.worker.base, "POST", "/api/intent", { token, body, ...opts });

  test("each label, with the documented answer shape", async () => {
    const cases = [
      ["what's the weather in Lisbon tomorrow?", "web"],
      ["what did I say about the budget last week?", "history"],
      ["where is parse_config defined in my repo", "code"],
      ["simulate 10 CartPole episodes with seed 3", "rollout"],
      ["write a haiku about autumn", "chat"],
      ["hi there, thanks!", "chat"],
      ["search my code for parse_config", "code"],
    ];
    for (const [text, label] of cases) {
      const res = await intent({ text });
      assert.equal(res.status, 200, text);
      assert.equal(res.body.label, label, `${text}: ${JSON.stringify(res.body)}`);
      assert.deepEqual(Object.keys(res.body).sort(), ["label", "matched", "scores", "threshold"]);
      assert.deepEqual(Object.keys(res.body.scores).sort(), ["code", "history", "rollout", "web"]);
      for (const s of Object.values(res.body.scores)) assert.ok(s >= 0 && s < 1, `${text}: ${s}`);
      assert.equal(res.body.threshold, 0.55);
      assert.ok(Array.isArray(res.body.matched) && res.body.matched.length <= 16);
      if (label !== "chat") assert.ok(res.body.scores[label] >= res.body.threshold, text);
    }
    const veto = await intent({ text: "good morning :)" });
    assert.deepEqual(veto.body.matched, ["<small talk>"]);
    // Deterministic: the same text, the same answer.
    const again = await intent({ text: cases[0][0] });
    assert.deepEqual(again.body, (await intent({ text: cases[0][0] })).body);
  });

  test("4000 characters are accepted, 4001 are not; bad bodies are 4xx JSON", async () => {
    assert.equal((await intent({ text: "é".repeat(4000) })).status, 200);
    const cases = [
      [{ text: "é".repeat(4001) }, 400, "limit_exceeded"],
      [{ text: "" }, 400, "invalid_field"],
      [{}, 400, "invalid_field"],
      [{ text: 42 }, 400, "invalid_field"],
      [{ text: "hi", extra: true }, 400, "unknown_field"],
      [["hi"], 400, "invalid_field"],
    ];
    for (const [body, status, code] of cases) {
      const res = await intent(body);
      assert.equal(res.status, status, JSON.stringify(body).slice(0, 60));
      assert.equal(res.body.error.code, code, JSON.stringify(body).slice(0, 60));
    }
    const raw = (body, headers) => call(h.worker.base, "POST", "/api/intent", { token, raw: body, headers, fresh: true });
    assert.equal((await raw("{nope", { "content-type": "application/json" })).body.error.code, "invalid_json");
    assert.equal((await raw('{"text":"hi"}', { "content-type": "text/plain" })).status, 415);
    const huge = await raw(JSON.stringify({ text: "x".repeat(70000) }), { "content-type": "application/json" });
    assert.equal(huge.status, 413);
    assert.equal(huge.body.error.code, "payload_too_large");
  });

  test("needs a token; other methods are 405", async () => {
    const anonymous = await call(h.worker.base, "POST", "/api/intent", { body: { text: "hi" } });
    assert.equal(anonymous.status, 401);
    assert.equal(anonymous.body.error.code, "unauthorized");
    const get = await call(h.worker.base, "GET", "/api/intent", { token });
    assert.equal(get.status, 405);
    assert.equal(get.headers.get("allow"), "POST");
  });
});
