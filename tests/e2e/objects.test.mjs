// Object lifecycle: probing ids that were never created leaves no storage behind; a user's runs
// are capped; a run is gone once deleted. Storage is inspected in wrangler's local persistence
// folder (one SQLite file per Durable Object) with Python's sqlite3 module.
import { describe, test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { useWorker, call, tokenFor } from "./harness.mjs";

/** Every Durable Object SQLite file under the persistence folder, by class folder. */
function objectFiles(dir) {
  const out = [];
  const walk = (d) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith(".sqlite")) out.push(p);
    }
  };
  walk(dir);
  return out;
}

/** How many of `files` hold the objects' `kv` table (i.e. were written by the core). */
function filesWithTables(files) {
  if (files.length === 0) return 0;
  const script = `
import sqlite3, sys
n = 0
for path in sys.argv[1:]:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    if con.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='kv'").fetchone():
        n += 1
    con.close()
print(n)`;
  return Number(execFileSync("python3", ["-c", script, ...files]).toString().trim());
}

describe("object lifecycle", () => {
  const h = useWorker({ before, after, afterEach });
  const token = tokenFor("prober");
  const other = tokenFor("owner");

  test("probing random tab and run ids answers 404 and leaves no tables", async () => {
    const base = h.worker.base;
    // One real tab and run of another user, so the folder is not trivially empty.
    const tab = (await call(base, "POST", "/api/tabs", { token: other, body: { title: "real" } })).body;
    await call(base, "POST", `/api/tabs/${tab.id}/messages`, { token: other, body: { role: "user", content: "hi" } });
    const run = await call(base, "POST", "/api/rollout/runs", { token: other, body: { num_envs: 2 } });
    assert.equal(run.status, 201);
    const before = filesWithTables(objectFiles(h.worker.persistDir));
    for (let i = 0; i < 10; i++) {
      const id = `probe${i}x${Date.now()}`;
      const probes = [
        ["GET", `/api/tabs/${id}/messages`], ["GET", `/api/tabs/${id}/stats`],
        ["POST", `/api/tabs/${id}/flush`], ["GET", `/api/rollout/runs/${id}`],
        ["GET", `/api/rollout/runs/${id}/buffer`], ["DELETE", `/api/rollout/runs/${id}`],
      ];
      for (const [method, path] of probes) {
        const res = await call(base, method, path, { token });
        assert.equal(res.status, 404, `${method} ${path}: ${res.text}`);
      }
      const step = await call(base, "POST", `/api/rollout/runs/${id}/step`, { token, body: { steps: 1 } });
      assert.equal(step.status, 404);
      const append = await call(base, "POST", `/api/tabs/${id}/messages`, { token, body: { role: "user", content: "x" } });
      assert.equal(append.status, 404);
      // Another user's real ids are just as unknown.
      assert.equal((await call(base, "GET", `/api/tabs/${tab.id}/messages`, { token })).status, 404);
      assert.equal((await call(base, "GET", `/api/rollout/runs/${run.body.id}`, { token })).status, 404);
    }
    const afterProbes = filesWithTables(objectFiles(h.worker.persistDir));
    // The prober's own user object may exist (it answered the list of runs/tabs), nothing else.
    assert.ok(afterProbes - before <= 1, `probing created ${afterProbes - before} objects with tables`);
  });

  test("a user's rollout runs are capped with a clear 400, and deleting one frees a place", async () => {
    const base = h.worker.base;
    const capped = tokenFor("many-runs");
    const ids = [];
    for (let i = 0; i < 100; i++) {
      const res = await call(base, "POST", "/api/rollout/runs", { token: capped, body: { num_envs: 1 } });
      assert.equal(res.status, 201, res.text);
      ids.push(res.body.id);
    }
    const over = await call(base, "POST", "/api/rollout/runs", { token: capped, body: { num_envs: 1 } });
    assert.equal(over.status, 400);
    assert.equal(over.body.error.code, "limit_exceeded");
    assert.match(over.body.error.message, /100 rollout runs/);
    assert.equal((await call(base, "DELETE", `/api/rollout/runs/${ids[0]}`, { token: capped })).status, 204);
    assert.equal((await call(base, "GET", `/api/rollout/runs/${ids[0]}`, { token: capped })).status, 404);
    const again = await call(base, "POST", "/api/rollout/runs", { token: capped, body: { num_envs: 1 } });
    assert.equal(again.status, 201);
  });
});

describe("idle rollout runs expire", () => {
  const h = useWorker({ before, after, afterEach }, { vars: { RUN_IDLE_EXPIRY_SECONDS: "3" } });
  const token = tokenFor("idle-runs");
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  test("a run is deleted RUN_IDLE_EXPIRY_SECONDS after its last create or step, and each step moves that", async () => {
    const base = h.worker.base;
    const created = await call(base, "POST", "/api/rollout/runs", { token, body: { num_envs: 2 } });
    assert.equal(created.status, 201);
    const id = created.body.id;
    await sleep(2000);
    // The step moves the expiry to 3 s from now.
    assert.equal((await call(base, "POST", `/api/rollout/runs/${id}/step`, { token, body: { steps: 4 } })).status, 200);
    await sleep(2000);
    // 4 s after the create: alive only because the step moved the alarm.
    const alive = await call(base, "GET", `/api/rollout/runs/${id}`, { token });
    assert.equal(alive.status, 200, alive.text);
    assert.equal(alive.body.total_steps, 4);
    let gone;
    const deadline = Date.now() + 10_000;
    do {
      await sleep(500);
      gone = await call(base, "GET", `/api/rollout/runs/${id}`, { token });
    } while (gone.status === 200 && Date.now() < deadline);
    assert.equal(gone.status, 404, "the idle run was deleted");
    assert.doesNotMatch(h.worker.log(), /run_expiry_failed/);
  });
});
