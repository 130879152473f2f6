// Per-request cost of POST /api/rollout in the runtime (issue 5: 64 envs × 128 steps with GAE
// within 2 ms of server time), and of reading a full run buffer, each as JSON and as safetensors. Builds the bundle, serves it from workerd through Miniflare
// (bench/load/serve.mjs), and sends sequential requests of each kind, interleaved round by round,
// always with the no-op route (/api/health) as the baseline of the same run. Reports per kind:
// the worker's own `server-timing: app;dur=` (whole request inside the worker, millisecond
// resolution: median and mean), the client round trip (median, p90), the round trip minus the
// no-op's, the response size (uncompressed) and the content-encoding the runtime applied (Node's
// fetch asks for gzip like a browser; workerd then compresses JSON, after the worker returns, which
// the round trip includes and server-timing does not). Prints a markdown table. server-timing is
// wall time inside the worker here, where the clock runs during a request; on Cloudflare
// `Date.now()` only advances across I/O, so in production it is not CPU time.
// Usage: node bench/rollout_runtime.mjs [--rounds 200] [--envs 64] [--steps 128]
import { readFileSync } from "node:fs";
import { tokenFor } from "../scripts/lib/token.mjs";
import { startBundledWorker } from "./load/bundled.mjs";

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const rounds = opt("rounds", 200);
const numEnvs = opt("envs", 64);
const steps = opt("steps", 128);

const server = await startBundledWorker({ RATE_LIMIT_PER_MINUTE: 1000000 });
process.on("SIGINT", async () => { await server.stop(); process.exit(130); });
try {
  const base = server.base;
  const token = tokenFor("bench-rollout");
  const rollout = { env: "CartPole-v1", num_envs: numEnvs, steps, seed: 1 };
  const linear = { ...rollout, policy: { weights: [[0.1, -0.1], [0.3, -0.2], [-2, 2], [0.4, -0.4]], bias: [0, 0.05], value_weights: [0.5, 1, -3, 0.2], value_bias: 10 } };
  const post = (body, accept) => ({
    method: "POST", path: "/api/rollout", body: JSON.stringify(body),
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...(accept ? { accept } : {}) },
  });
  const binary = "application/octet-stream";
  // A stateful run with a full experience buffer (1024 envs × 64 steps = 65,536 transitions).
  const created = await fetch(`${base}/api/rollout/runs`, {
    method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ num_envs: 1024, seed: 1, buffer_capacity: 65536 }),
  });
  const runId = (await created.json()).id;
  const stepped = await fetch(`${base}/api/rollout/runs/${runId}/step`, {
    method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ steps: 64 }),
  });
  if (stepped.status !== 200) throw new Error(`run step: ${stepped.status}`);
  const buffer = (accept) => ({
    method: "GET", path: `/api/rollout/runs/${runId}/buffer?limit=65536`,
    headers: { authorization: `Bearer ${token}`, ...(accept ? { accept } : {}) },
  });
  const kinds = [
    ["no-op (GET /api/health)", { method: "GET", path: "/api/health", headers: {} }],
    ["random, summary only", post(rollout)],
    ["random, trajectory + GAE, JSON", post({ ...rollout, include: ["trajectory"] })],
    ["random, trajectory + GAE, safetensors", post({ ...rollout, include: ["trajectory"] }, binary)],
    ["linear + value head, summary only", post(linear)],
    ["linear + value head, trajectory + GAE, JSON", post({ ...linear, include: ["trajectory"] })],
    ["linear + value head, trajectory + GAE, safetensors", post({ ...linear, include: ["trajectory"] }, binary)],
    ["run buffer, 65,536 transitions, JSON", buffer()],
    ["run buffer, 65,536 transitions, safetensors", buffer(binary)],
  ];
  const samples = kinds.map(() => ({ server: [], client: [], bytes: 0, encoding: "" }));
  const once = async ({ method, path, headers, body }) => {
    const t0 = performance.now();
    const res = await fetch(base + path, { method, headers, body });
    const bytes = (await res.arrayBuffer()).byteLength;
    const client = performance.now() - t0;
    if (res.status !== 200) throw new Error(`${method} ${path}: ${res.status}`);
    const server = Number(res.headers.get("server-timing")?.match(/dur=([\d.]+)/)?.[1]);
    return { client, server, bytes, encoding: res.headers.get("content-encoding") ?? "none" };
  };
  for (const [, request] of kinds) for (let i = 0; i < 20; i++) await once(request); // warm-up
  for (let r = 0; r < rounds; r++) {
    for (const [k, [, request]] of kinds.entries()) {
      const s = await once(request);
      samples[k].server.push(s.server);
      samples[k].client.push(s.client);
      samples[k].bytes = s.bytes;
      samples[k].encoding = s.encoding;
    }
  }
  const quantile = (xs, q) => {
    const sorted = [...xs].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  };
  const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const baseline = quantile(samples[0].client, 0.5);
  console.log(`POST /api/rollout, ${numEnvs} envs × ${steps} steps, and GET .../buffer of a full run (65,536 transitions); ${rounds} sequential requests per kind (interleaved), workerd via Miniflare`);
  console.log(`load average at the end: ${readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")}\n`);
  console.log("server-timing: local wall time inside the worker (on Cloudflare the clock only advances across I/O: not CPU time there)\n");
  console.log("| request | server-timing median ms | server-timing mean ms | round trip median ms | round trip p90 ms | round trip − no-op ms | response bytes | content-encoding |");
  console.log("|---|---:|---:|---:|---:|---:|---:|---|");
  for (const [k, [name]] of kinds.entries()) {
    const s = samples[k];
    const p50 = quantile(s.client, 0.5);
    console.log(`| ${name} | ${quantile(s.server, 0.5)} | ${mean(s.server).toFixed(2)} | ${p50.toFixed(2)} | ${quantile(s.client, 0.9).toFixed(2)} | ${k === 0 ? "—" : (p50 - baseline).toFixed(2)} | ${s.bytes.toLocaleString("en-US")} | ${s.encoding} |`);
  }
} finally {
  await server.stop();
}
