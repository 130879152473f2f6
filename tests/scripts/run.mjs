// Runs a project script for the script tests: in its own process group, killed as a whole when it
// overruns (so a regression that starts real work cannot outlive the test), with a chosen env.
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync, chmodSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** The current environment without CI (a local run), plus `extra` (undefined values delete). */
export function envWith(extra = {}) {
  const env = { ...process.env };
  delete env.CI;
  for (const [key, value] of Object.entries(extra)) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
  return env;
}

/** Runs `command args` from the repository root; resolves { status, stdout, stderr, output }. */
export function run(command, args, { env = envWith(), timeoutMs = 60_000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: ROOT, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => { stdout += d; });
    child.stderr.on("data", (d) => { stderr += d; });
    const timer = setTimeout(() => {
      try { process.kill(-child.pid, "SIGKILL"); } catch { /* gone */ }
      reject(new Error(`${command} ${args.join(" ")} ran over ${timeoutMs} ms\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.on("error", (err) => { clearTimeout(timer); reject(err); });
    child.on("close", (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr, output: `${stdout}\n${stderr}` });
    });
  });
}

/** A folder of executables named after `tools` ({name: shell body}), to put first on PATH. */
export function fakeTools(tools) {
  const dir = mkdtempSync(join(tmpdir(), "edge-assistant-fake-tools-"));
  mkdirSync(dir, { recursive: true });
  for (const [name, body] of Object.entries(tools)) {
    const path = join(dir, name);
    writeFileSync(path, `#!/bin/sh\n${body}\n`);
    chmodSync(path, 0o755);
  }
  return dir;
}
