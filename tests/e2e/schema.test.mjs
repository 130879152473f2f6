// Schema-driven fuzzing with schemathesis against the running worker: every operation of
// /api/openapi.json with generated valid and invalid inputs and a valid token. Checks: no 5xx,
// responses conform to the documented schemas, status codes and content types are documented,
// undeclared methods answer 405. SCHEMA_EXAMPLES sets examples per operation (CI: 15; the long
// run in docs/RELIABILITY.md uses 300).
import { describe, test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer } from "node:http";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { useWorker, tokenFor, freePort, skipOrFail } from "./harness.mjs";
import { startLlmServer } from "../fixtures/llm_server.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const EXAMPLES = Number(process.env.SCHEMA_EXAMPLES ?? 15);
const python = process.env.EDGE_PYTHON ?? "python3";
const schemathesis = join(dirname(python), "schemathesis");

const fixture = createServer((req, res) => {
  const q = new URL(req.url, "http://fixture").searchParams.get("q") ?? "";
  res.writeHead(200, { "content-type": "application/json" });
  res.end(JSON.stringify({ results: [{ url: "https://example.com/a", title: q.slice(0, 50), content: "fixture", engine: "fixture" }] }));
});
const port = await freePort();
await new Promise((r) => fixture.listen(port, "127.0.0.1", r));
// The model upstream, so the reply routes answer as configured (not 503 not_configured).
const llm = await startLlmServer({ text: "A short fixture answer." });

describe("schemathesis", () => {
  const h = useWorker({ before, after, afterEach }, {
    vars: { SEARCH_UPSTREAM_URL: `http://127.0.0.1:${port}`, LLM_UPSTREAM_URL: llm.base, LLM_MODEL: "fixture-ok" },
  });
  after(() => new Promise((r) => fixture.close(r)));
  after(() => llm.close());

  test(`every operation, ${EXAMPLES} examples each: no 5xx, responses match the schema`, async (t) => {
    if (!existsSync(schemathesis)) {
      skipOrFail(t, `schemathesis not installed at ${schemathesis} (scripts/setup installs it from PyPI)`);
      return;
    }
    const reports = mkdtempSync(join(tmpdir(), "schemathesis-"));
    // Asynchronous: the fixture upstream lives in this process and must keep answering.
    const child = spawn(schemathesis, [
      "run", `${h.worker.base}/api/openapi.json`,
      "-H", `Authorization: Bearer ${tokenFor("schemathesis")}`,
      "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,unsupported_method",
      "-n", String(EXAMPLES), "--seed", "20261127", "--request-timeout", "15",
      "--continue-on-failure", "--report", "ndjson", "--report-dir", reports,
    ], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, NO_COLOR: "1", SCHEMATHESIS_HOOKS: join(here, "schemathesis_hooks.py") },
    });
    let output = "";
    child.stdout.on("data", (d) => { output += d; });
    child.stderr.on("data", (d) => { output += d; });
    const run = { status: await new Promise((r) => child.on("exit", (code) => r(code))) };
    const generated = output.match(/(\d+) generated/);
    console.log(`schemathesis: ${generated ? generated[1] : "?"} test cases generated, exit ${run.status}`);
    rmSync(reports, { recursive: true, force: true });
    assert.equal(run.status, 0, output.slice(-6000));
  });
});
