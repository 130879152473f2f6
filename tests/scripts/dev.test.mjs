// scripts/dev builds the `wrangler dev` arguments from defaults (--ip 127.0.0.1, --port 8787,
// --persist-to .wrangler/state) and the user's arguments, which win: wrangler refuses a flag given
// twice ("--port expects a single value"). `--print-args` shows the result without starting
// anything: the UI URL, then one argument per line.
import { test } from "node:test";
import assert from "node:assert/strict";
import { run } from "./run.mjs";

async function printArgs(...args) {
  const res = await run("./scripts/dev", ["--print-args", ...args], { timeoutMs: 20_000 });
  assert.equal(res.status, 0, res.output);
  const [url, ...wrangler] = res.stdout.trimEnd().split("\n");
  return { url, args: wrangler };
}

/** How often `flag` is given, as `--flag value` or `--flag=value`. */
const count = (args, flag) => args.filter((a) => a === flag || a.startsWith(`${flag}=`)).length;

test("without arguments: the defaults", async () => {
  const { url, args } = await printArgs();
  assert.equal(url, "http://127.0.0.1:8787/");
  assert.deepEqual(args, ["--ip", "127.0.0.1", "--port", "8787", "--persist-to", ".wrangler/state"]);
});

test("README's example: --port 9000 replaces the default port, other arguments pass through", async () => {
  const { url, args } = await printArgs("--port", "9000", "--var", "FLUSH_MAX_PENDING:3");
  assert.equal(url, "http://127.0.0.1:9000/");
  assert.equal(count(args, "--port"), 1, args.join(" "));
  assert.deepEqual(args, ["--ip", "127.0.0.1", "--persist-to", ".wrangler/state", "--port", "9000", "--var", "FLUSH_MAX_PENDING:3"]);
});

test("--flag=value forms and --ip / --persist-to replace their defaults too", async () => {
  const { url, args } = await printArgs("--port=9100", "--ip=0.0.0.0", "--persist-to=/tmp/state");
  assert.equal(url, "http://127.0.0.1:9100/", "a wildcard address is opened on loopback");
  for (const flag of ["--port", "--ip", "--persist-to"]) assert.equal(count(args, flag), 1, `${flag}: ${args.join(" ")}`);
  assert.deepEqual(args, ["--port=9100", "--ip=0.0.0.0", "--persist-to=/tmp/state"]);
});

test("the URL follows --ip and --local-protocol", async () => {
  assert.equal((await printArgs("--ip", "192.168.1.5")).url, "http://192.168.1.5:8787/");
  assert.equal((await printArgs("--ip", "::1", "--port", "1234")).url, "http://[::1]:1234/");
  assert.equal((await printArgs("--local-protocol", "https")).url, "https://127.0.0.1:8787/");
});

test("look-alike flags (--inspector-port) do not replace --port", async () => {
  const { url, args } = await printArgs("--inspector-port", "9229", "--var", "NOTE:--port=1");
  assert.equal(url, "http://127.0.0.1:8787/");
  assert.deepEqual(args.slice(0, 6), ["--ip", "127.0.0.1", "--port", "8787", "--persist-to", ".wrangler/state"]);
});

test("a flag without its value is an error before anything starts", async () => {
  const res = await run("./scripts/dev", ["--print-args", "--port"], { timeoutMs: 20_000 });
  assert.equal(res.status, 2, res.output);
  assert.match(res.stderr, /--port needs a value/);
});
