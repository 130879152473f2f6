// Durability: concurrent clients append to tabs while the runtime (wrangler + workerd) is killed
// with SIGKILL; after a restart on the same persistence folder, every message that got a 201 must
// be there exactly once, in seq order, with dense seqs. Several rounds on the same state.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startWorker, call, tokenFor } from "./harness.mjs";

const ROUNDS = Number(process.env.DURABILITY_ROUNDS ?? 3);
const CLIENTS = 12;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

describe("durability under SIGKILL", () => {
  test(`${ROUNDS} rounds: acknowledged appends survive a SIGKILL, none lost or duplicated`, async () => {
    const persistDir = mkdtempSync(join(tmpdir(), "edge-assistant-kill-"));
    const token = tokenFor("durable");
    const acked = new Map(); // tab -> Map(content -> message)
    let worker = await startWorker({ persistDir, vars: { FLUSH_INTERVAL_MS: "300" } });
    const tabs = [];
    try {
      for (let i = 0; i < 3; i++) {
        const res = await call(worker.base, "POST", "/api/tabs", { token, body: { title: `durable ${i}` } });
        assert.equal(res.status, 201);
        tabs.push(res.body.id);
        acked.set(res.body.id, new Map());
      }
      const report = [];
      for (let round = 1; round <= ROUNDS; round++) {
        let stop = false;
        let sent = 0;
        let failed = 0;
        const clients = Array.from({ length: CLIENTS }, async (_, c) => {
          for (let n = 0; !stop; n++) {
            const tab = tabs[(c + n) % tabs.length];
            const content = `r${round}-c${c}-n${n}`;
            sent++;
            try {
              const res = await call(worker.base, "POST", `/api/tabs/${tab}/messages`, {
                token, body: { role: "user", content, client_id: content },
              });
              if (res.status === 201 || res.status === 200) acked.get(tab).set(content, res.body);
              else failed++;
            } catch { failed++; }
          }
        });
        await sleep(1500 + Math.floor(Math.random() * 1000));
        await worker.stop({ keepState: true, signal: "SIGKILL" });
        stop = true;
        await Promise.all(clients);
        worker = await startWorker({ persistDir, vars: { FLUSH_INTERVAL_MS: "300" } });
        let present = 0;
        for (const tab of tabs) {
          const all = [];
          let after = 0;
          for (;;) {
            const res = await call(worker.base, "GET", `/api/tabs/${tab}/messages?after=${after}&limit=200`, { token });
            assert.equal(res.status, 200, JSON.stringify(res.body));
            all.push(...res.body.messages);
            if (res.body.next_after === null) break;
            after = res.body.next_after;
          }
          assert.deepEqual(all.map((m) => m.seq), all.map((_, i) => i + 1), "seqs dense and ordered");
          const contents = all.map((m) => m.content);
          assert.equal(new Set(contents).size, contents.length, "no duplicates");
          const stored = new Map(all.map((m) => [m.content, m]));
          for (const [content, message] of acked.get(tab)) {
            assert.ok(stored.has(content), `acknowledged ${content} lost`);
            assert.equal(stored.get(content).seq, message.seq, `${content} kept its seq`);
          }
          present += all.length;
        }
        const ackedCount = [...acked.values()].reduce((n, m) => n + m.size, 0);
        report.push({ round, sent, acked: ackedCount, present, failed_in_flight: failed });
      }
      console.log("durability rounds:", JSON.stringify(report));
    } finally {
      await worker.stop({ keepState: true });
      rmSync(persistDir, { recursive: true, force: true });
    }
  });
});
