// Cold start of `wrangler dev` to the first 200 from /api/health, with an up-to-date build
// (wrangler still runs the [build] command, which returns at once). Median of N runs.
// Usage: node bench/cold_start.mjs [RUNS=5]
import { startWorker } from "../tests/e2e/harness.mjs";

const runs = Number(process.argv[2] ?? 5);
const times = [];
for (let i = 0; i < runs; i++) {
  const t0 = performance.now();
  const worker = await startWorker();
  times.push(performance.now() - t0);
  await worker.stop();
}
times.sort((a, b) => a - b);
const median = times[Math.floor(times.length / 2)];
console.log(`wrangler dev cold start to first 200: median ${(median / 1000).toFixed(2)} s over ${runs} runs (min ${(times[0] / 1000).toFixed(2)} s, max ${(times.at(-1) / 1000).toFixed(2)} s)`);
