// The shared rate limits (Workers Rate Limiting bindings, counted across isolates): a user past
// the binding's limit gets 429 even though the isolate's own bucket (RATE_LIMIT_PER_MINUTE) is far
// from empty; a client address sending failed authentications gets 429 after its limit, while a
// valid token from the same address still works.
import { describe, test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { useWorker, call, tokenFor } from "./harness.mjs";

describe("shared rate limits", () => {
  const h = useWorker({ before, after, afterEach }, { rateLimits: { user: 8, authFailures: 5 } });

  test("a user past the shared limit gets 429 with retry-after; other users are unaffected", async () => {
    const token = tokenFor("shared-limited");
    const statuses = [];
    for (let i = 0; i < 12; i++) statuses.push((await call(h.worker.base, "GET", "/api/tabs", { token })).status);
    assert.deepEqual(statuses.slice(0, 8), Array(8).fill(200));
    assert.ok(statuses.slice(8).every((s) => s === 429), `statuses ${statuses}`);
    const limited = await call(h.worker.base, "GET", "/api/tabs", { token });
    assert.equal(limited.body.error.code, "rate_limited");
    assert.equal(limited.headers.get("retry-after"), "60");
    assert.equal((await call(h.worker.base, "GET", "/api/tabs", { token: tokenFor("someone-else") })).status, 200);
  });

  test("failed authentications from one address turn into 429; the limit does not block valid tokens", async () => {
    const statuses = [];
    for (let i = 0; i < 8; i++) {
      statuses.push((await call(h.worker.base, "GET", "/api/tabs", { token: "not-a-token" })).status);
    }
    assert.deepEqual(statuses.slice(0, 5), Array(5).fill(401));
    assert.ok(statuses.slice(5).every((s) => s === 429), `statuses ${statuses}`);
    assert.equal((await call(h.worker.base, "GET", "/api/tabs", { token: tokenFor("valid-user") })).status, 200);
  });
});
