// Foundation end-to-end tests against workerd (wrangler dev): health, OpenAPI, static UI,
// error model, auth, request ids, CORS, config validation.
import { describe, test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { useWorker, startWorker, call, tokenFor, signToken, devSecret } from "./harness.mjs";

const hooks = { before, after, afterEach };

describe("foundation", () => {
  const h = useWorker(hooks, { vars: { ALLOWED_ORIGINS: "https://app.example", RATE_LIMIT_PER_MINUTE: "30" } });
  const base = () => h.worker.base;

  test("health answers 200 with the crate version", async () => {
    const res = await call(base(), "GET", "/api/health");
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { status: "ok", version: "0.1.0" });
    assert.match(res.headers.get("content-type"), /^application\/json/);
  });

  test("openapi.json is an OpenAPI 3.1 document describing health", async () => {
    const res = await call(base(), "GET", "/api/openapi.json");
    assert.equal(res.status, 200);
    assert.equal(res.body.openapi, "3.1.0");
    assert.ok(res.body.paths["/api/health"].get);
    assert.ok(res.body.components.schemas.Error);
  });

  test("the static UI is served at / with security headers", async () => {
    const res = await call(base(), "GET", "/");
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type"), /text\/html/);
    assert.match(res.text, /edge-assistant/);
    assert.match(res.headers.get("content-security-policy"), /script-src 'self'/);
    assert.equal(res.headers.get("x-content-type-options"), "nosniff");
  });

  test("unknown API routes answer JSON 404, wrong methods JSON 405 with allow", async () => {
    const missing = await call(base(), "GET", "/api/does-not-exist");
    assert.equal(missing.status, 404);
    assert.equal(missing.body.error.code, "not_found");
    assert.ok(missing.body.error.message.length > 0);
    const wrong = await call(base(), "PUT", "/api/health");
    assert.equal(wrong.status, 405);
    assert.equal(wrong.body.error.code, "method_not_allowed");
    assert.equal(wrong.headers.get("allow"), "GET");
  });

  test("authenticated routes refuse missing, malformed, wrong-secret, expired and alg:none tokens", async () => {
    const now = Math.floor(Date.now() / 1000);
    const cases = {
      missing: undefined,
      malformed: "not-a-jwt",
      wrongSecret: signToken({ sub: "alice", exp: now + 600 }, "some-other-secret-some-other-secret!"),
      expired: signToken({ sub: "alice", exp: now - 10 }, devSecret()),
      algNone: signToken({ sub: "alice", exp: now + 600 }, devSecret(), { alg: "none" }),
      badSub: signToken({ sub: "alice/../bob", exp: now + 600 }, devSecret()),
    };
    for (const [name, token] of Object.entries(cases)) {
      const res = await call(base(), "GET", "/api/tabs", { token });
      assert.equal(res.status, 401, name);
      assert.equal(res.body.error.code, "unauthorized", name);
    }
  });

  test("web search without an upstream answers 503 not_configured", async () => {
    const res = await call(base(), "GET", "/api/search?q=rust", { token: tokenFor("alice") });
    assert.equal(res.status, 503);
    assert.equal(res.body.error.code, "not_configured");
  });

  test("per-user rate limit: 429 with retry-after past RATE_LIMIT_PER_MINUTE, other users unaffected", async () => {
    const token = tokenFor("rate-limited");
    const statuses = [];
    for (let i = 0; i < 31; i++) statuses.push((await call(base(), "GET", "/api/tabs", { token })).status);
    assert.deepEqual(statuses.slice(0, 30), Array(30).fill(200));
    const limited = await call(base(), "GET", "/api/tabs", { token });
    assert.equal(limited.status, 429);
    assert.equal(limited.body.error.code, "rate_limited");
    assert.ok(Number(limited.headers.get("retry-after")) >= 1);
    const other = await call(base(), "GET", "/api/tabs", { token: tokenFor("someone-else") });
    assert.equal(other.status, 200);
  });

  test("a valid token passes authentication", async () => {
    const res = await call(base(), "GET", "/api/tabs", { token: tokenFor("alice") });
    assert.notEqual(res.status, 401);
  });

  test("every response carries x-request-id, echoing the client's", async () => {
    const echoed = await call(base(), "GET", "/api/health", { headers: { "x-request-id": "req-123" } });
    assert.equal(echoed.headers.get("x-request-id"), "req-123");
    const generated = await call(base(), "GET", "/api/nope");
    assert.match(generated.headers.get("x-request-id"), /^[0-9a-f]{32}$/);
    const asset = await call(base(), "GET", "/");
    assert.match(asset.headers.get("x-request-id"), /^[0-9a-f]{32}$/);
  });

  test("CORS: allowed origin gets allow headers, others do not", async () => {
    const ok = await call(base(), "OPTIONS", "/api/tabs", {
      headers: { origin: "https://app.example", "access-control-request-method": "POST" },
    });
    assert.equal(ok.status, 204);
    assert.equal(ok.headers.get("access-control-allow-origin"), "https://app.example");
    assert.match(ok.headers.get("access-control-allow-headers"), /authorization/);
    const denied = await call(base(), "OPTIONS", "/api/tabs", {
      headers: { origin: "https://evil.example", "access-control-request-method": "POST" },
    });
    assert.equal(denied.headers.get("access-control-allow-origin"), null);
    const simple = await call(base(), "GET", "/api/health", { headers: { origin: "https://app.example" } });
    assert.equal(simple.headers.get("access-control-allow-origin"), "https://app.example");
  });

  test("a request log line is written per request with id, route, status and duration", async () => {
    await call(base(), "GET", "/api/health", { headers: { "x-request-id": "log-check-1" } });
    await new Promise((r) => setTimeout(r, 300));
    const line = h.worker.log().split("\n").find((l) => l.includes('"request_id":"log-check-1"'));
    assert.ok(line, "log line present");
    const parsed = JSON.parse(line.slice(line.indexOf("{")));
    assert.equal(parsed.route, "health");
    assert.equal(parsed.status, 200);
    assert.equal(typeof parsed.duration_ms, "number");
  });
});

describe("configuration validation", () => {
  /** Starts a worker with `vars` and checks that health and /api/tabs answer 503 naming `name`. */
  async function assertNotConfigured(vars, name, token = tokenFor("alice")) {
    const worker = await startWorker({ vars, readyStatus: 503 });
    try {
      for (const path of ["/api/health", "/api/tabs"]) {
        const res = await call(worker.base, "GET", path, { token });
        assert.equal(res.status, 503, `${path}: ${res.text}`);
        assert.equal(res.body?.error?.code, "not_configured", `${path}: ${res.text}`);
        assert.match(res.body.error.message, new RegExp(`\\b${name}\\b`));
      }
      // wrangler's output reaches the log file asynchronously: give the line a moment to land.
      for (let i = 0; i < 50 && !/config_invalid/.test(worker.log()); i++) await new Promise((r) => setTimeout(r, 100));
      assert.match(worker.log(), /config_invalid/);
    } catch (err) {
      console.error(`--- wrangler log (${worker.logPath}) ---\n${worker.log()}`);
      throw err;
    } finally {
      await worker.stop();
    }
  }

  test("an invalid var answers 503 not_configured naming it, on every route", async () => {
    await assertNotConfigured({ FLUSH_MAX_PENDING: "lots" }, "FLUSH_MAX_PENDING");
  });

  test("the public dev secret (.dev.vars) without DEV_MODE answers 503 naming AUTH_SECRET", async () => {
    // The harness sets DEV_MODE=1 and .dev.vars may too; `--var` overrides both.
    await assertNotConfigured({ DEV_MODE: "0" }, "AUTH_SECRET");
  });

  test("FAULT_FAIL_ALARMS: a bad value, or any value without DEV_MODE, answers 503 naming it", async () => {
    await assertNotConfigured({ FAULT_FAIL_ALARMS: "lots" }, "FAULT_FAIL_ALARMS");
    // A real (non-dev) secret, so AUTH_SECRET is valid and the fault var is what fails.
    const secret = "e2e-not-the-dev-secret-0123456789abcdef";
    await assertNotConfigured({ DEV_MODE: "0", AUTH_SECRET: secret, FAULT_FAIL_ALARMS: "1" }, "FAULT_FAIL_ALARMS",
      tokenFor("alice", 600, secret));
  });
});
