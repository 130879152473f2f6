// Code workspaces end to end against workerd (wrangler dev, with its local R2 and Durable
// Objects): create, upload a tar.gz / zip, wait for indexing, list files, read them back byte for
// byte, look up symbols, search code by identifier parts, re-upload with one change, single-file
// PUT/DELETE, isolation between users, and the bad inputs the contract names.
import { describe, test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { useWorker, call, tokenFor } from "./harness.mjs";
import { tar, tarGz, zip } from "./archives.mjs";

const PY = `import os

@decorator
def parse_config(path):
    """def not_a_symbol(): the docstring says so"""
    return open(path).read()

class Loader(Base):
    def load(self):
        text = '''
def fake():
'''
        return text

    async def reload(self):
        pass
`;
const RS = `/// Parses it.
pub fn parseConfig() -> u32 { 1 }

pub struct Settings { a: u32 }

impl Settings {
    pub fn new() -> Self { Settings { a: 0 } }
}
`;
const JS = `export function ParseConfig(text) { return text.split("\\n"); }
export class Client {
  fetchAll() { return []; }
}
// mentions parse_config but defines nothing
const note = "parse config";
`;
const GO = "package main\n\nfunc ParseConfigFile(path string) error { return nil }\n";
const MD = "# Project\n\nSome text about parse config.\n\n## Usage\n";

const tree = (extra = []) => [
  { path: "proj/src/config.py", content: PY },
  { path: "proj/src/lib.rs", content: RS },
  { path: "proj/web/app.js", content: JS },
  { path: "proj/cmd/main.go", content: GO },
  { path: "proj/README.md", content: MD },
  { path: "proj/.gitignore", content: "*.log\nsecret/\n" },
  { path: "proj/debug.log", content: "ignored by .gitignore" },
  { path: "proj/secret/key.py", content: "def leaked(): pass\n" },
  { path: "proj/node_modules/dep/index.js", content: "function dep() {}\n" },
  { path: "proj/img.png", content: Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 0]) },
  { path: "proj/empty.py", content: "" },
  ...extra,
];

describe("code workspaces", () => {
  const h = useWorker({ before, after, afterEach });
  const alice = tokenFor("ws-alice");
  const bob = tokenFor("ws-bob");
  const api = (method, path, token, body, opts = {}) =>
    call(h.worker.base, method, path, { token, body, ...opts });
  const upload = (id, bytes, type, token = alice) =>
    call(h.worker.base, "PUT", `/api/workspaces/${id}/archive`, { token, raw: bytes, headers: { "content-type": type } });

  async function create(name, token = alice) {
    const res = await api("POST", "/api/workspaces", token, { name });
    assert.equal(res.status, 201, res.text);
    return res.body;
  }

  /** Polls the workspace until its status is `ready`. */
  async function ready(id, token = alice) {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const res = await api("GET", `/api/workspaces/${id}`, token);
      assert.equal(res.status, 200, res.text);
      if (res.body.status === "ready") return res.body;
      assert.ok(Date.now() < deadline, `still indexing: ${JSON.stringify(res.body)}`);
      await sleep(100);
    }
  }

  test("create, list, get, delete; another user's workspace is a 404", async () => {
    const ws = await create("  My project ");
    assert.equal(ws.name, "My project");
    assert.deepEqual(
      [ws.files, ws.bytes, ws.symbols, ws.status, ws.pending],
      [0, 0, 0, "ready", 0],
    );
    assert.match(ws.created_at, /^\d{4}-\d\d-\d\dT/);
    const listed = await api("GET", "/api/workspaces", alice);
    assert.ok(listed.body.workspaces.some((w) => w.id === ws.id));
    assert.equal((await api("GET", `/api/workspaces/${ws.id}`, bob)).status, 404);
    assert.equal((await upload(ws.id, tarGz(tree()), "application/gzip", bob)).status, 404);
    const bobs = await api("GET", "/api/workspaces", bob);
    assert.ok(!bobs.body.workspaces.some((w) => w.id === ws.id));
    assert.equal((await api("POST", "/api/workspaces", alice, { name: " " })).status, 400);
    assert.equal((await api("POST", "/api/workspaces", alice, { name: "x".repeat(101) })).status, 400);
    assert.equal((await api("POST", "/api/workspaces", alice, { name: "a", extra: 1 })).body.error.code, "unknown_field");
    assert.equal((await api("DELETE", `/api/workspaces/${ws.id}`, bob)).status, 404);
    assert.equal((await api("DELETE", `/api/workspaces/${ws.id}`, alice)).status, 204);
    assert.equal((await api("GET", `/api/workspaces/${ws.id}`, alice)).status, 404);
  });

  test("a tar.gz upload: filtered, scanned, listed, read back, symbols and code search", async () => {
    const ws = await create("tree");
    const res = await upload(ws.id, tarGz(tree()), "application/gzip");
    assert.equal(res.status, 200, res.text);
    // Kept: config.py lib.rs app.js main.go README.md .gitignore empty.py (the common `proj/`
    // prefix stripped); ignored: debug.log, secret/, node_modules/; binary: img.png.
    assert.equal(res.body.files, 7, res.text);
    assert.equal(res.body.scanned, 7);
    assert.equal(res.body.unchanged, 0);
    assert.deepEqual(res.body.skipped, { ignored: 3, binary: 1, too_large: 0, links: 0, unsupported: 0 });
    const info = await ready(ws.id);
    assert.equal(info.files, 7);

    const files = await api("GET", `/api/workspaces/${ws.id}/files`, alice);
    assert.equal(files.status, 200, files.text);
    const paths = files.body.files.map((f) => f.path);
    assert.deepEqual(paths, [".gitignore", "README.md", "cmd/main.go", "empty.py", "src/config.py", "src/lib.rs", "web/app.js"]);
    const py = files.body.files.find((f) => f.path === "src/config.py");
    assert.deepEqual([py.language, py.symbols, py.bytes], ["python", 4, Buffer.byteLength(PY)]);
    const page = await api("GET", `/api/workspaces/${ws.id}/files?prefix=src/&limit=1`, alice);
    assert.deepEqual(page.body.files.map((f) => f.path), ["src/config.py"]);
    const next = await api("GET", `/api/workspaces/${ws.id}/files?prefix=src/&limit=1&cursor=${encodeURIComponent(page.body.next_cursor)}`, alice);
    assert.deepEqual(next.body.files.map((f) => f.path), ["src/lib.rs"]);

    const raw = await api("GET", `/api/workspaces/${ws.id}/files/src/config.py`, alice);
    assert.equal(raw.status, 200);
    assert.equal(raw.text, PY);
    assert.equal((await api("GET", `/api/workspaces/${ws.id}/files/empty.py`, alice)).text, "");
    assert.equal((await api("GET", `/api/workspaces/${ws.id}/files/nope.py`, alice)).status, 404);

    const syms = await api("GET", `/api/workspaces/${ws.id}/symbols?path=src/config.py`, alice);
    assert.equal(syms.status, 200, syms.text);
    assert.deepEqual(
      syms.body.symbols.map((s) => [s.name, s.kind, s.line, s.container ?? null]).sort(),
      [["Loader", "class", 8, null], ["load", "method", 9, "Loader"], ["parse_config", "function", 4, null], ["reload", "method", 15, "Loader"]],
    );
    const byPrefix = await api("GET", `/api/workspaces/${ws.id}/symbols?q=pars`, alice);
    const names = byPrefix.body.symbols.map((s) => s.name);
    for (const n of ["parse_config", "parseConfig", "ParseConfig", "ParseConfigFile"]) assert.ok(names.includes(n), `${n} in ${names}`);
    const methods = await api("GET", `/api/workspaces/${ws.id}/symbols?kind=method`, alice);
    assert.ok(methods.body.symbols.every((s) => s.kind === "method" && s.container), methods.text);
    assert.equal((await api("GET", `/api/workspaces/${ws.id}/symbols?kind=lambda`, alice)).status, 400);

    const search = await api("GET", `/api/search?source=code&workspace=${ws.id}&q=${encodeURIComponent("parse config")}`, alice);
    assert.equal(search.status, 200, search.text);
    assert.equal(search.body.source, "code");
    const hits = search.body.results;
    const where = hits.map((r) => `${r.path}:${r.line}`);
    for (const loc of ["src/config.py:4", "src/lib.rs:2", "web/app.js:1"]) assert.ok(where.includes(loc), `${loc} in ${where}`);
    // Definitions outrank the mere mention in app.js's comment and the README's prose.
    const firstMention = hits.findIndex((r) => !r.symbol);
    const lastDefinition = hits.map((r) => Boolean(r.symbol)).lastIndexOf(true);
    assert.ok(firstMention === -1 || lastDefinition < firstMention, JSON.stringify(hits));
    assert.ok(hits.every((r) => typeof r.snippet === "string" && r.snippet.length > 0));
    const camel = await api("GET", `/api/search?source=code&workspace=${ws.id}&q=parseConfig`, alice);
    assert.ok(camel.body.results.some((r) => r.path === "src/config.py"), camel.text);
    assert.equal((await api("GET", `/api/search?source=code&q=x`, alice)).status, 400);
    assert.equal((await api("GET", `/api/search?source=code&workspace=${ws.id}&q=x`, bob)).status, 404);
  });

  test("re-uploading with one changed file rescans only that file; a zip works the same", async () => {
    const ws = await create("rescan");
    assert.equal((await upload(ws.id, tarGz(tree()), "application/gzip")).status, 200);
    await ready(ws.id);
    const changed = tree().map((e) => (e.path === "proj/src/lib.rs" ? { ...e, content: RS + "pub fn added() {}\n" } : e))
      .filter((e) => e.path !== "proj/README.md");
    const res = await upload(ws.id, zip(changed), "application/zip");
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.scanned, 1, res.text);
    assert.equal(res.body.unchanged, 5);
    assert.equal(res.body.removed, 1);
    await ready(ws.id);
    const syms = await api("GET", `/api/workspaces/${ws.id}/symbols?q=added`, alice);
    assert.deepEqual(syms.body.symbols.map((s) => [s.name, s.path]), [["added", "src/lib.rs"]]);
    assert.equal((await api("GET", `/api/workspaces/${ws.id}/files/README.md`, alice)).status, 404);
    const stored = await upload(ws.id, zip(changed, { deflate: false }), "application/zip");
    assert.equal(stored.body.scanned, 0, stored.text);
  });

  test("single files: PUT scans, GET reads back, DELETE removes; unsafe paths are 400", async () => {
    const ws = await create("single");
    const put = await api("PUT", `/api/workspaces/${ws.id}/files/pkg/util.py`, alice, undefined, {
      raw: "def helper():\n    return 1\n", headers: { "content-type": "application/octet-stream" },
    });
    assert.equal(put.status, 200, put.text);
    assert.deepEqual(put.body, { path: "pkg/util.py", bytes: 27, language: "python", symbols: 1 });
    const named = await api("PUT", `/api/workspaces/${ws.id}/files/${encodeURIComponent("docs/a b.md")}`, alice, undefined, {
      raw: "# Title\n", headers: { "content-type": "text/markdown" },
    });
    assert.equal(named.body.path, "docs/a b.md");
    assert.equal((await api("GET", `/api/workspaces/${ws.id}/files/docs/a%20b.md`, alice)).text, "# Title\n");
    // A 0-byte file: stored, scanned (no symbols) and read back without touching R2's ranges.
    const empty = await api("PUT", `/api/workspaces/${ws.id}/files/pkg/__init__.py`, alice, undefined, { raw: "" });
    assert.equal(empty.status, 200, empty.text);
    assert.deepEqual(empty.body, { path: "pkg/__init__.py", bytes: 0, language: "python", symbols: 0 });
    assert.equal((await api("GET", `/api/workspaces/${ws.id}/files/pkg/__init__.py`, alice)).text, "");
    // (`a/%2E%2E/b.py` never reaches the server: URL parsing turns `%2E%2E` into `..`.)
    for (const bad of ["..%2Fescape.py", "a%2F..%2Fb.py", "a//b.py", "%00.py", "a%5Cb.py"]) {
      const res = await api("PUT", `/api/workspaces/${ws.id}/files/${bad}`, alice, undefined, { raw: "x" });
      assert.equal(res.status, 400, `${bad}: ${res.text}`);
    }
    const binary = await api("PUT", `/api/workspaces/${ws.id}/files/x.bin`, alice, undefined, { raw: Buffer.from([1, 0, 2]) });
    assert.equal(binary.status, 400, binary.text);
    const big = await api("PUT", `/api/workspaces/${ws.id}/files/big.js`, alice, undefined, { raw: "x".repeat(1024 * 1024 + 1), fresh: true });
    assert.equal(big.status, 413, big.text);
    assert.equal((await api("DELETE", `/api/workspaces/${ws.id}/files/pkg/util.py`, alice)).status, 204);
    assert.equal((await api("DELETE", `/api/workspaces/${ws.id}/files/pkg/util.py`, alice)).status, 404);
    const info = await ready(ws.id);
    assert.deepEqual([info.files, info.symbols], [2, 1]);
  });

  test("bad archives: unsafe paths, corrupt or truncated bytes, wrong type, links", async () => {
    const ws = await create("bad");
    const expect400 = async (bytes, type, label) => {
      const res = await upload(ws.id, bytes, type);
      assert.equal(res.status, 400, `${label}: ${res.text}`);
      assert.ok(["invalid_field", "limit_exceeded"].includes(res.body.error.code), `${label}: ${res.text}`);
    };
    await expect400(tar([{ path: "../evil.py", content: "x" }]), "application/x-tar", "dotdot");
    await expect400(tar([{ path: "/etc/passwd", content: "x" }]), "application/x-tar", "absolute");
    await expect400(zip([{ path: "a/../../b.py", content: "x" }]), "application/zip", "zip dotdot");
    await expect400(Buffer.from("this is not an archive at all"), "application/gzip", "garbage gz");
    await expect400(tarGz(tree()).subarray(0, 200), "application/gzip", "truncated gz");
    await expect400(zip(tree()).subarray(0, 100), "application/zip", "truncated zip");
    const wrongType = await upload(ws.id, tarGz(tree()), "text/plain");
    assert.equal(wrongType.status, 415, wrongType.text);
    // Links are never followed: the link entries are skipped, the real file is kept.
    const links = await upload(ws.id, tar([
      { path: "real.py", content: "def real(): pass\n" },
      { path: "link.py", type: "symlink", linkname: "/etc/passwd" },
      { path: "hard.py", type: "hardlink", linkname: "real.py" },
    ]), "application/x-tar");
    assert.equal(links.status, 200, links.text);
    assert.equal(links.body.files, 1, links.text);
    assert.equal(links.body.skipped.links, 2, links.text);
    const nothing = await api("GET", `/api/workspaces/${ws.id}/files/link.py`, alice);
    assert.equal(nothing.status, 404);
  });
});
