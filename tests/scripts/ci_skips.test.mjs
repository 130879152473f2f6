// Every step that SKIPs when its tool is missing must fail under CI (CI=true, as .ci/run gets it):
// a green CI run has to mean every check ran. Locally the same steps still SKIP with a message.
// Each case makes the tool look missing (a fake `rustup`/`apt-get` first on PATH, a `gymnasium`
// module that fails to import) and runs the real script both ways.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run, envWith, fakeTools } from "./run.mjs";
import { isCI, skipOrFail } from "../e2e/harness.mjs";

const withPath = (dir, extra = {}) => envWith({ PATH: `${dir}:${process.env.PATH}`, ...extra });

test("scripts/fuzz without a nightly toolchain: SKIP locally, failure under CI", async () => {
  // `rustup run nightly ...` fails as it does when nightly is not installed.
  const dir = fakeTools({ rustup: 'echo "error: toolchain nightly is not installed" >&2; exit 1' });
  const local = await run("./scripts/fuzz", ["--runs", "1"], { env: withPath(dir) });
  assert.equal(local.status, 0, local.output);
  assert.match(local.stdout, /^SKIP: fuzzing needs the nightly Rust toolchain/m);
  const ci = await run("./scripts/fuzz", ["--runs", "1"], { env: withPath(dir, { CI: "true" }) });
  assert.equal(ci.status, 1, ci.output);
  assert.doesNotMatch(ci.stdout, /SKIP/);
  assert.match(ci.stderr, /FAIL \(CI=true\): fuzzing needs the nightly Rust toolchain/);
});

test("tests/gym/crosscheck.py without gymnasium: SKIP locally, failure under CI", async () => {
  const shadow = mkdtempSync(join(tmpdir(), "edge-assistant-no-gym-"));
  mkdirSync(join(shadow, "gymnasium"));
  writeFileSync(join(shadow, "gymnasium", "__init__.py"), 'raise ImportError("simulated: gymnasium missing")\n');
  const python = process.env.EDGE_PYTHON ?? "python3";
  const args = ["tests/gym/crosscheck.py"];
  const env = { PYTHONPATH: shadow, BASE_URL: "http://127.0.0.1:9", TOKEN: "unused" };
  const local = await run(python, args, { env: envWith(env) });
  assert.equal(local.status, 0, local.output);
  assert.match(local.stdout, /^SKIP: gymnasium is not installed/m);
  const ci = await run(python, args, { env: envWith({ ...env, CI: "true" }) });
  assert.equal(ci.status, 1, ci.output);
  assert.doesNotMatch(ci.stdout, /SKIP/);
  assert.match(ci.stdout, /^FAIL: gymnasium is not installed/m);
});

test("scripts/test-browser without Chromium (and apt failing): SKIP locally, failure under CI", async () => {
  const dir = fakeTools({
    "apt-get": 'echo "E: simulated: apt-get cannot install $*" >&2; exit 100',
    sudo: 'exec "$@"',
  });
  const env = { CHROMIUM_PATH: "/nonexistent/chromium" };
  const local = await run("./scripts/test-browser", [], { env: withPath(dir, env) });
  assert.equal(local.status, 0, local.output);
  assert.match(local.stdout, /^SKIP: the browser tests need Chromium at \/nonexistent\/chromium/m);
  const ci = await run("./scripts/test-browser", [], { env: withPath(dir, { ...env, CI: "true" }) });
  assert.equal(ci.status, 1, ci.output);
  assert.doesNotMatch(ci.stdout, /SKIP/);
  assert.match(ci.stderr, /FAIL \(CI=true\): the browser tests need Chromium/);
});

test("scripts/test refuses SKIP_LINT under CI before doing anything", async () => {
  const res = await run("./scripts/test", [], { env: envWith({ CI: "true", SKIP_LINT: "1" }), timeoutMs: 20_000 });
  assert.equal(res.status, 1, res.output);
  assert.match(res.stderr, /SKIP_LINT is set, but under CI=true every step must run/);
});

test("the e2e suites' skipOrFail: t.skip locally, a failure under CI (schemathesis, gymnasium)", () => {
  const skipped = [];
  const t = { skip: (message) => skipped.push(message) };
  skipOrFail(t, "schemathesis not installed", {});
  skipOrFail(t, "schemathesis not installed", { CI: "false" });
  assert.deepEqual(skipped, ["SKIP: schemathesis not installed", "SKIP: schemathesis not installed"]);
  assert.throws(() => skipOrFail(t, "schemathesis not installed", { CI: "true" }), /schemathesis not installed \(CI=true/);
  assert.throws(() => skipOrFail(t, "x", { CI: "1" }), /CI=1/);
  assert.equal(skipped.length, 2);
  assert.equal(isCI({ CI: "true" }), true);
  assert.equal(isCI({ CI: "0" }), false);
  assert.equal(isCI({}), false);
});

test("the SKIP paths are all known: every SKIP in scripts/ and tests/ goes through the CI rule", async () => {
  // A new `echo "SKIP..."`, `print("SKIP...")` or `t.skip(` must use skip_or_fail / skipOrFail or
  // check CI itself; this list is what was checked when the rule was added.
  const res = await run("grep", ["-rnE", String.raw`echo "SKIP|print\("SKIP|t\.skip\(|test\.skip|\{ *skip:`, "scripts", "tests"], { env: envWith() });
  const lines = res.stdout.split("\n").filter(Boolean)
    .filter((l) => !l.startsWith("tests/scripts/")); // this folder's own fakes and checks
  assert.deepEqual(lines.map((l) => l.replace(/:\d+:.*/, "")).sort(),
    ["scripts/lib/env.sh", "tests/e2e/harness.mjs", "tests/gym/crosscheck.py"], lines.join("\n"));
});
