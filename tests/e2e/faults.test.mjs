// Fault injection: a tab's alarm handler fails once (FAULT_FAIL_ALARMS=1); the runtime retries
// it, the flush completes, nothing is lost. The upstream-fault cases live in search.test.mjs and
// the SIGKILL rounds in durability.test.mjs. FAULT_FAIL_ALARMS is honoured only with DEV_MODE=1,
// which the harness sets (foundation.test.mjs checks that it is refused without).
import { describe, test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { useWorker, call, tokenFor } from "./harness.mjs";

describe("alarm failure", () => {
  const h = useWorker({ before, after, afterEach }, { vars: { FLUSH_INTERVAL_MS: "200", FAULT_FAIL_ALARMS: "1" } });
  const token = tokenFor("faulty");

  test("a failing alarm is logged and retried; the flush completes and nothing is lost", async () => {
    const tab = (await call(h.worker.base, "POST", "/api/tabs", { token, body: { title: "faults" } })).body;
    for (let i = 0; i < 3; i++) {
      const res = await call(h.worker.base, "POST", `/api/tabs/${tab.id}/messages`, { token, body: { role: "user", content: `keep ${i}` } });
      assert.equal(res.status, 201);
    }
    let stats;
    const deadline = Date.now() + 20_000;
    do {
      await new Promise((r) => setTimeout(r, 250));
      stats = (await call(h.worker.base, "GET", `/api/tabs/${tab.id}/stats`, { token })).body;
    } while (stats.pending > 0 && Date.now() < deadline);
    assert.equal(stats.pending, 0, "flushed after the retry");
    assert.equal(stats.flushes, 1);
    assert.match(h.worker.log(), /tab_alarm_failed/, "the failure was logged");
    const page = await call(h.worker.base, "GET", `/api/tabs/${tab.id}/messages`, { token });
    assert.deepEqual(page.body.messages.map((m) => m.content), ["keep 0", "keep 1", "keep 2"]);
    const found = await call(h.worker.base, "GET", "/api/search?source=history&q=keep", { token });
    assert.equal(found.body.total, 3);
  });
});
