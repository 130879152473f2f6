// Starts the worker as it deploys, for benchmarks: bundles it (`wrangler deploy --dry-run`) into a
// temporary directory and serves the bundle from workerd through Miniflare (serve.mjs), with
// persistence in the same directory. Used by bench/rollout_runtime.mjs. The load bench no longer
// uses it: Miniflare's entry layer caps throughput (about 4k req/s for a JS no-op here, against
// about 20k on plain `workerd serve`), so bench.mjs serves from workerd.mjs's generated config.
// The directory is under $TMPDIR (default /tmp): `TMPDIR=/dev/shm` keeps the Durable Objects'
// SQLite files in memory, which takes this machine's disk flushes out of the figures.
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/**
 * Resolves to { base, pid, stop } once the worker answers; `vars` are extra bindings
 * ({KEY: value}). `stop()` sends SIGTERM to the server (by PID) and removes the directory.
 */
export async function startBundledWorker(vars = {}) {
  const work = mkdtempSync(join(tmpdir(), "edge-assistant-bench-"));
  const bundle = join(work, "bundle");
  execFileSync(join(ROOT, "node_modules/.bin/wrangler"), ["deploy", "--dry-run", "--outdir", bundle], {
    cwd: ROOT, stdio: ["ignore", "ignore", "inherit"],
  });
  const varArgs = Object.entries(vars).flatMap(([k, v]) => ["--var", `${k}=${v}`]);
  const server = spawn(process.execPath, [join(ROOT, "bench/load/serve.mjs"), bundle, "--persist", join(work, "state"), ...varArgs],
    { stdio: ["ignore", "pipe", "inherit"] });
  const stop = async () => {
    try { process.kill(server.pid, "SIGTERM"); } catch { /* already gone */ }
    await new Promise((r) => setTimeout(r, 500));
    rmSync(work, { recursive: true, force: true });
  };
  try {
    const base = await new Promise((resolve, reject) => {
      let out = "";
      server.stdout.on("data", (d) => {
        out += d;
        const m = out.match(/READY (\S+)/);
        if (m) resolve(m[1]);
      });
      server.on("exit", (code) => reject(new Error(`server exited ${code}`)));
    });
    return { base, pid: server.pid, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
