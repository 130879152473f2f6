// End-to-end harness: runs the real Workers runtime (workerd, through `wrangler dev`) on free
// loopback ports with a throwaway persistence folder, waits until it answers, and always stops it
// (by process group) — printing its log when a test failed.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, createWriteStream, readFileSync, writeFileSync, renameSync } from "node:fs";
import { createServer } from "node:net";
import { request as httpRequest } from "node:http";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { tokenFor, signToken, devSecret } from "../../scripts/lib/token.mjs";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export { tokenFor, signToken, devSecret };

export async function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * wrangler.toml with the shared rate limits replaced (a binding's limit cannot be set with
 * `--var`). Written next to wrangler.toml, whose relative paths it keeps; git-ignored.
 */
export function testConfig({ user = 1_000_000, authFailures = 1_000_000 } = {}) {
  const source = readFileSync(join(ROOT, "wrangler.toml"), "utf8");
  const limits = { USER_RATE_LIMIT: user, AUTH_FAIL_RATE_LIMIT: authFailures };
  let text = source;
  for (const [name, limit] of Object.entries(limits)) {
    const pattern = new RegExp(`(name = "${name}"[\\s\\S]*?simple = \\{ limit = )\\d+`);
    if (!pattern.test(text)) throw new Error(`wrangler.toml has no [[ratelimits]] ${name}`);
    text = text.replace(pattern, `$1${limit}`);
  }
  const path = join(ROOT, `wrangler.e2e-${user}-${authFailures}.toml`);
  const tmp = `${path}.${process.pid}`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
  return path;
}

/**
 * Whether this runs under CI (CI=true; any value but empty, 0 or false, the rule of is_ci in
 * scripts/lib/env.sh). There every check must run: a missing tool fails instead of skipping.
 */
export function isCI(env = process.env) {
  return !["", "0", "false"].includes((env.CI ?? "").trim().toLowerCase());
}

/** Skips test `t` with `message` locally; under CI throws, so the test fails with the message. */
export function skipOrFail(t, message, env = process.env) {
  if (isCI(env)) throw new Error(`${message} (CI=${env.CI}: a check that cannot run fails the run)`);
  t.skip(`SKIP: ${message}`);
}

/**
 * Starts `wrangler dev` and resolves once GET /api/health answers.
 * options.vars: extra `--var KEY:VALUE` pairs (DEV_MODE is "1" unless given); options.persistDir:
 * reuse a state folder;
 * options.readyStatus: the health status that means "up" (503 when testing broken config).
 * options.rateLimits: { user, authFailures } per 60 s for the shared Rate Limiting bindings
 * (default: far above any suite's bursts; the limits have their own tests).
 */
export async function startWorker(options = {}) {
  // freePort() closes its probe before wrangler binds the port, so another process (workerd's
  // own sockets, a client's ephemeral port) can take it in between; wrangler then exits with
  // "Address already in use". That start is retried on a new port; any other failure is not.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startWorkerOnce(options);
    } catch (err) {
      if (attempt >= 3 || !(err instanceof PortTaken)) throw err;
    }
  }
}

/** wrangler could not bind the port it was given. */
class PortTaken extends Error {}

async function startWorkerOnce(options) {
  const port = await freePort();
  const inspectorPort = await freePort();
  const persistDir = options.persistDir ?? mkdtempSync(join(tmpdir(), "edge-assistant-e2e-"));
  const ownsPersist = !options.persistDir;
  const logPath = join(persistDir, `wrangler-${port}.log`);
  const logStream = createWriteStream(logPath);
  const args = [
    "dev", "--ip", "127.0.0.1", "--port", String(port), "--inspector-port", String(inspectorPort),
    "--persist-to", persistDir, "--log-level", "log", "--show-interactive-dev-session=false",
  ];
  args.push("--config", testConfig(options.rateLimits ?? {}));
  // Suites send bursts far above a person's rate; the limiter has its own test. DEV_MODE lets the
  // worker accept the public dev secret (.dev.vars) and FAULT_FAIL_ALARMS; `--var` wins over
  // .dev.vars, so a test can turn it off with DEV_MODE: "0".
  const vars = { RATE_LIMIT_PER_MINUTE: "1000000", DEV_MODE: "1", ...(options.vars ?? {}) };
  for (const [key, value] of Object.entries(vars)) args.push("--var", `${key}:${value}`);
  const child = spawn(join(ROOT, "node_modules/.bin/wrangler"), args, {
    cwd: ROOT,
    detached: true, // own process group, so stop() reaches workerd too
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "true", FORCE_COLOR: "0" },
  });
  child.stdout.pipe(logStream);
  child.stderr.pipe(logStream);
  const base = `http://127.0.0.1:${port}`;
  const worker = {
    base, port, persistDir, logPath, child,
    log: () => { try { return readFileSync(logPath, "utf8"); } catch { return ""; } },
    async stop({ keepState = false, signal = "SIGTERM" } = {}) {
      if (child.exitCode === null && child.signalCode === null) {
        try { process.kill(-child.pid, signal); } catch { /* already gone */ }
        const exited = new Promise((r) => child.once("exit", r));
        const timedOut = await Promise.race([exited.then(() => false), sleep(5000).then(() => true)]);
        if (timedOut) { try { process.kill(-child.pid, "SIGKILL"); } catch { /* gone */ } await exited; }
      }
      logStream.end();
      if (ownsPersist && !keepState) rmSync(persistDir, { recursive: true, force: true });
    },
  };
  const deadline = Date.now() + (options.startTimeoutMs ?? 120_000);
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break;
    try {
      const res = await fetch(`${base}/api/health`);
      if (res.status === (options.readyStatus ?? 200)) return worker;
    } catch { /* not up yet */ }
    await sleep(200);
  }
  const log = worker.log();
  await worker.stop();
  const message = `wrangler dev did not become ready on ${base}\n--- log ---\n${log}`;
  if (child.exitCode !== null && /Address already in use/.test(log)) throw new PortTaken(message);
  throw new Error(message);
}

/** Registers before/after hooks for a node:test suite and returns a handle to the worker. */
export function useWorker(t, options = {}) {
  const handle = { worker: null, failed: false };
  t.before(async () => { handle.worker = await startWorker(options); });
  t.afterEach((ctx) => { if (ctx && ctx.passed === false) handle.failed = true; });
  t.after(async () => {
    if (!handle.worker) return;
    if (handle.failed) console.error(`--- wrangler log (${handle.worker.logPath}) ---\n${handle.worker.log()}`);
    await handle.worker.stop();
  });
  return handle;
}

/** fetch with JSON conveniences: returns { status, headers, body (parsed JSON or text) }. */
/**
 * One request through `fetch`, answered as `{ status, headers, body, text }` (body parsed as JSON
 * when it is JSON). `fresh: true` sends it on its own connection, closed afterwards: for a body
 * the worker refuses unread (413). `wrangler dev` answers the *next* request on a kept-alive
 * connection whose request body the worker cancelled with its own 500 "Network connection lost"
 * (cloudflare/workers-sdk#15709; about 1 in 300 here, 0 in 1,000 on a closed connection).
 */
export async function call(base, method, path, { token, body, headers = {}, raw, fresh = false } = {}) {
  const init = { method, headers: { ...headers } };
  if (token) init.headers.authorization = `Bearer ${token}`;
  if (raw !== undefined) init.body = raw;
  else if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["content-type"] ??= "application/json";
  }
  if (fresh) return callOnClosedConnection(base + path, init);
  const res = await fetch(base + path, init);
  const text = await res.text();
  let parsed = text;
  try { parsed = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
  return { status: res.status, headers: res.headers, body: parsed, text };
}

/** `call` over a connection of its own (no keep-alive pool), closed once answered. */
function callOnClosedConnection(url, init) {
  const body = init.body === undefined ? undefined : Buffer.from(init.body);
  const headers = { ...init.headers, connection: "close" };
  if (body) headers["content-length"] = body.length;
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: init.method, headers, agent: false }, (res) => {
      const parts = [];
      res.on("data", (part) => parts.push(part));
      res.on("error", reject);
      res.on("end", () => {
        const text = Buffer.concat(parts).toString("utf8");
        let parsed = text;
        try { parsed = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
        resolve({ status: res.statusCode, headers: new Headers(res.headers), body: parsed, text });
      });
    });
    req.on("error", reject);
    req.end(body);
  });
}
