// Browser tests of the Workspaces panel: headless Chromium (playwright-core) against the worker
// under workerd (its local R2 and Durable Objects), with the LLM fixture as the model upstream. A
// folder picked through the webkitdirectory input is packed into a tar by the page and uploaded;
// the panel follows the indexing until ready, shows the report, the file tree, a file with its
// symbols, the symbol filter and code search with the query's words highlighted; a zip re-upload
// reports unchanged files; a chat tab's workspace choice is kept per tab and sent with its replies,
// and a reply grounded in it cites the definition as path:line, which opens the file at its line. Errors (not an archive, a broken zip)
// are shown readably, and a workspace is deleted after a confirmation.
//
// UPDATE_DOCS_IMG=1 also writes the README's screenshots, docs/img/workspaces.png and
// docs/img/code-reply.png.
import { describe, test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { Browser, SHOTS, createTab } from "./app.mjs";
import { startWorker, call, ROOT } from "../e2e/harness.mjs";
import { tarGz, zip } from "../e2e/archives.mjs";
import { startLlmServer } from "../fixtures/llm_server.mjs";

const PY = `import os


def parse_config(path):
    """Reads the configuration file."""
    return open(path).read()


class Loader:
    def load(self):
        return parse_config("settings.toml")

    def reload(self):
        return self.load()
`;
const RS = `/// Parses the settings.
pub fn parse_settings(text: &str) -> Settings {
    Settings { raw: text.to_owned() }
}

pub struct Settings {
    raw: String,
}
`;
const JS = `export function renderConfig(config) {
  return JSON.stringify(config, null, 2);
}
`;
const MD = "# Demo project\n\nParse config files and render them.\n\n## Usage\n";
/** The folder the test picks: its own name is the common top directory the server strips. */
const FOLDER = {
  "demo/src/config.py": PY,
  "demo/src/settings.rs": RS,
  "demo/web/render.js": JS,
  "demo/README.md": MD,
  // Left out by the page before packing (the server would ignore it anyway).
  "demo/node_modules/dep/index.js": "function dep() {}\n",
  // A path over 100 bytes: the tar needs the ustar prefix field for it.
  [`demo/${"deeply/nested/".repeat(7)}long_module.py`]: "def deep_helper():\n    return 1\n",
};
const KEPT = Object.keys(FOLDER).filter((p) => !p.includes("node_modules")).map((p) => p.slice("demo/".length)).sort();

let llm;
let worker;
let browser;
let failed = false;
let folderDir;

before(async () => {
  folderDir = mkdtempSync(join(tmpdir(), "ws-ui-"));
  for (const [path, content] of Object.entries(FOLDER)) {
    mkdirSync(dirname(join(folderDir, path)), { recursive: true });
    writeFileSync(join(folderDir, path), content);
  }
  llm = await startLlmServer({ chunkChars: 8, delayMs: 5 });
  worker = await startWorker({
    vars: { LLM_UPSTREAM_URL: llm.base, LLM_MODEL: "fixture-ok", FLUSH_INTERVAL_MS: "100" },
  });
  browser = await Browser.launch({ timeoutMs: 20_000 });
});

afterEach((ctx) => { if (ctx && ctx.passed === false) failed = true; });

after(async () => {
  await browser?.close();
  if (worker) {
    if (failed) console.error(`--- wrangler log (${worker.logPath}) ---\n${worker.log()}`);
    await worker.stop();
  }
  await llm?.close();
  if (folderDir) rmSync(folderDir, { recursive: true, force: true });
  console.log(`screenshots: ${SHOTS}`);
});

/** The app in a fresh context, signed in as `user` (see `Browser.openApp`); a tall window. */
const openApp = (user, { viewport = { width: 1280, height: 1180 } } = {}) =>
  browser.openApp(worker.base, user, { viewport });

async function createWorkspace(page, name) {
  await page.click('.panel-nav button[data-panel="workspaces"]');
  await page.fill("#ws-name", name);
  await page.click("#ws-create-form button[type=submit]");
  await page.locator("#ws-title", { hasText: name }).waitFor();
  await page.locator("#ws-pick-folder:not([disabled])").waitFor();
  return page.getAttribute('#ws-list button[aria-current="true"]', "data-workspace-id");
}

const waitReady = (page) => page.locator("#ws-progress-text", { hasText: /^Ready:/ }).waitFor({ timeout: 60_000 });
const field = (page, name) => page.locator(`#ws-report dd[data-field="${name}"]`).textContent();
const treePaths = (page) => page.$$eval("#ws-tree button.ws-file", (bs) => bs.map((b) => b.dataset.path).sort());

describe("the Workspaces panel", () => {
  test("upload a folder, follow indexing, browse files and symbols, search code, use it from a chat tab", async () => {
    const { page, problems, token } = await openApp("ws-browser");
    await createTab(page, "Code questions");
    await createTab(page, "Other tab");
    const id = await createWorkspace(page, "demo");

    // The folder input: the page packs the files into a tar (application/x-tar).
    const uploads = [];
    page.on("request", (req) => {
      if (req.method() === "PUT" && req.url().endsWith("/archive")) uploads.push(req.headers()["content-type"]);
    });
    const progressSeen = [];
    const watcher = setInterval(() => {
      page.locator("#ws-progress-text").textContent().then((t) => { if (t) progressSeen.push(t); }).catch(() => {});
    }, 40);
    await page.setInputFiles("#ws-folder-input", join(folderDir, "demo"));
    await waitReady(page);
    clearInterval(watcher);
    assert.deepEqual(uploads, ["application/x-tar"]);
    assert.ok(progressSeen.some((t) => /^(Uploading|Uploaded|Indexing)/.test(t)), `progress shown: ${progressSeen.join(" | ")}`);
    assert.equal(await field(page, "files"), String(KEPT.length));
    assert.equal(await field(page, "scanned"), String(KEPT.length));
    assert.equal(await field(page, "unchanged"), "0");
    assert.match(await field(page, "left-out-here"), /^1 file under \.git, node_modules/);
    assert.match(await page.locator(`#ws-list button[data-workspace-id="${id}"]`).innerText(), new RegExp(`${KEPT.length} files`));

    // The file tree: every kept file (the long path survived the tar), directories collapsible.
    await page.locator('#ws-tree button.ws-file[data-path="src/config.py"]').waitFor();
    assert.deepEqual(await treePaths(page), KEPT);
    const src = page.locator('#ws-tree details[data-dir="src"]');
    assert.equal(await src.getAttribute("open"), "");
    await src.locator("summary").click();
    assert.equal(await page.locator('#ws-tree button[data-path="src/config.py"]').isVisible(), false, "src/ collapsed");
    await src.locator("summary").click();

    // A file with its symbols; a symbol scrolls to its line.
    await page.click('#ws-tree button[data-path="src/config.py"]');
    await page.locator("#ws-file-title", { hasText: "src/config.py" }).waitFor();
    await page.locator("#ws-code .line").first().waitFor();
    assert.equal(await page.locator("#ws-code").evaluate((n) => n.textContent), PY);
    const fileSymbols = await page.$$eval("#ws-file-symbols .ws-symbol .name", (ns) => ns.map((n) => n.textContent));
    for (const name of ["parse_config", "Loader", "Loader.load", "Loader.reload"]) assert.ok(fileSymbols.includes(name), `${name} in ${fileSymbols}`);
    await page.locator("#ws-file-symbols .ws-symbol", { hasText: "Loader.reload" }).click();
    const reloadLine = PY.split("\n").findIndex((l) => l.includes("def reload")) + 1;
    await page.locator(`#ws-code .line.hit[data-line="${reloadLine}"]`).waitFor();

    // The symbol list with its filter.
    await page.fill("#ws-symbol-q", "parse");
    await page.waitForFunction(() => {
      const names = [...document.querySelectorAll("#ws-symbols .ws-symbol .name")].map((n) => n.textContent);
      return names.length > 0 && names.every((n) => n.toLowerCase().includes("parse"));
    });
    const parsed = await page.$$eval("#ws-symbols .ws-symbol .name", (ns) => ns.map((n) => n.textContent));
    assert.ok(parsed.includes("parse_config") && parsed.includes("parse_settings"), `prefix filter: ${parsed}`);
    await page.fill("#ws-symbol-q", "");
    await page.selectOption("#ws-symbol-kind", "struct");
    await page.waitForFunction(() => {
      const kinds = [...document.querySelectorAll("#ws-symbols .ws-symbol")].map((n) => n.dataset.kind);
      return kinds.length > 0 && kinds.every((k) => k === "struct");
    });
    assert.deepEqual(await page.$$eval("#ws-symbols .ws-symbol .name", (ns) => ns.map((n) => n.textContent)), ["Settings"]);
    await page.selectOption("#ws-symbol-kind", "");
    await page.waitForFunction(() => document.querySelectorAll("#ws-symbols .ws-symbol").length > 4);

    // Code search: path:line and the snippet with the query's words marked.
    await page.fill("#ws-search-q", "parse config");
    await page.click("#ws-search-form button[type=submit]");
    await page.locator("#ws-search-results li.code-result").first().waitFor();
    const hits = await page.$$eval("#ws-search-results li.code-result", (lis) => lis.map((li) => ({
      where: li.querySelector(".title").textContent,
      marks: [...li.querySelectorAll("mark")].map((m) => m.textContent.toLowerCase()),
    })));
    assert.ok(hits.length > 0);
    for (const hit of hits) assert.match(hit.where, /^[\w./-]+:\d+$/);
    assert.ok(hits.some((h) => h.where.startsWith("src/config.py:")), JSON.stringify(hits));
    assert.ok(hits.some((h) => h.marks.includes("parse") || h.marks.includes("parse_config")), JSON.stringify(hits));
    // A hit opens its file at its line.
    const first = page.locator("#ws-search-results li.code-result .title").first();
    const [hitPath, hitLine] = (await first.textContent()).split(":");
    await first.click();
    await page.locator("#ws-file-title", { hasText: hitPath }).waitFor();
    await page.locator(`#ws-code .line.hit[data-line="${hitLine}"]`).waitFor();

    // Open a file and the symbol list for the README screenshot. The file's text is held back
    // so the symbol is clicked while it reloads (the list of its previous opening is still
    // shown): the mark must survive the new text (it used to be lost).
    let release;
    const held = new Promise((resolve) => { release = resolve; });
    await page.route("**/files/src/config.py", async (route) => { await held; await route.continue(); });
    await page.click('#ws-tree button[data-path="src/config.py"]');
    await page.locator("#ws-file-title", { hasText: "src/config.py" }).waitFor();
    const loadButton = page.locator("#ws-file-symbols .ws-symbol", { hasText: "Loader.load" }).first();
    const loadLine = Number(await loadButton.getAttribute("data-line"));
    await loadButton.click();
    release();
    await page.waitForResponse((r) => r.url().endsWith("/files/src/config.py"));
    await page.unroute("**/files/src/config.py");
    await page.locator(`#ws-code .line.hit[data-line="${loadLine}"]`).waitFor();
    await page.fill("#ws-symbol-q", "");
    await page.waitForFunction(() => document.querySelectorAll("#ws-symbols .ws-symbol").length > 4);
    await page.locator("#ws-symbol-q").blur();
    await page.screenshot({ path: join(SHOTS, "workspaces.png") });
    if (process.env.UPDATE_DOCS_IMG) {
      mkdirSync(join(ROOT, "docs", "img"), { recursive: true });
      copyFileSync(join(SHOTS, "workspaces.png"), join(ROOT, "docs", "img", "workspaces.png"));
    }

    // A zip of the same files with one change: the report says what was unchanged.
    const entries = KEPT.map((path) => ({ path: `demo/${path}`, content: FOLDER[`demo/${path}`] }));
    entries.find((e) => e.path === "demo/README.md").content += "\nMore.\n";
    await page.setInputFiles("#ws-archive-input", { name: "demo.zip", mimeType: "application/zip", buffer: zip(entries) });
    await waitReady(page);
    assert.deepEqual(uploads, ["application/x-tar", "application/zip"]);
    assert.equal(await field(page, "scanned"), "1");
    assert.equal(await field(page, "unchanged"), String(KEPT.length - 1));

    // The chat tab's workspace: chosen per tab, kept across a reload, sent with its replies.
    await page.click('.panel-nav button[data-panel="chat"]');
    await page.locator(".tab-button", { hasText: "Code questions" }).click();
    await page.locator("#conversation-title", { hasText: "Code questions" }).waitFor();
    await page.selectOption("#workspace-select", id);
    await page.reload();
    await page.locator(".tab-button", { hasText: "Code questions" }).click();
    await page.locator("#conversation-title", { hasText: "Code questions" }).waitFor();
    await page.locator(`#workspace-select option[value="${id}"]`).waitFor({ state: "attached" });
    assert.equal(await page.inputValue("#workspace-select"), id, "kept for this tab");
    await page.locator(".tab-button", { hasText: "Other tab" }).click();
    await page.locator("#conversation-title", { hasText: "Other tab" }).waitFor();
    assert.equal(await page.inputValue("#workspace-select"), "", "the other tab uses none");
    await page.locator(".tab-button", { hasText: "Code questions" }).click();
    await page.locator("#conversation-title", { hasText: "Code questions" }).waitFor();

    llm.configure({ text: "`parse_config` is defined in src/config.py [1]; `Loader.load` calls it.", delayMs: 0 });
    const starts = [];
    page.on("request", (req) => {
      if (req.method() === "POST" && /\/replies$/.test(new URL(req.url()).pathname)) starts.push(req.postDataJSON());
    });
    await page.fill("#composer-input", "where is parse_config defined in my repo?");
    await page.press("#composer-input", "Enter");
    await page.locator('#message-list li[data-reply-id][data-reply-status="complete"]').waitFor({ timeout: 30_000 });
    assert.equal(starts.length, 1);
    assert.equal(starts[0].workspace, id, "the reply was started with the tab's workspace");

    // The reply is grounded in the workspace for real: its citation is the definition's path:line,
    // and it opens the file at that line in the panel.
    const cite = page.locator("#message-list li[data-reply-id] .message-body a.cite.code-cite");
    await cite.waitFor();
    assert.equal(await cite.getAttribute("data-path"), "src/config.py");
    assert.match(await page.locator("#message-list li[data-reply-id] .sources").innerText(), /src\/config\.py:4/);
    await page.screenshot({ path: join(SHOTS, "code-reply.png") });
    if (process.env.UPDATE_DOCS_IMG) {
      copyFileSync(join(SHOTS, "code-reply.png"), join(ROOT, "docs", "img", "code-reply.png"));
    }
    await cite.click();
    await page.locator("#panel-workspaces").waitFor({ state: "visible" });
    await page.locator("#ws-file-title", { hasText: "src/config.py" }).waitFor();
    await page.locator('#ws-code .line.hit[data-line="4"]').waitFor();

    // The server agrees with what the page shows.
    const listed = await call(worker.base, "GET", `/api/workspaces/${id}/files?limit=1000`, { token });
    assert.deepEqual(listed.body.files.map((f) => f.path).sort(), KEPT);
    assert.deepEqual(problems, []);
  });

  test("errors are readable (not an archive, a broken zip); a dropped archive uploads; delete asks first", async () => {
    const { page, problems, token } = await openApp("ws-errors", { viewport: { width: 1180, height: 900 } });
    const id = await createWorkspace(page, "faulty");

    await page.setInputFiles("#ws-archive-input", { name: "notes.txt", mimeType: "text/plain", buffer: Buffer.from("just some notes\n") });
    await page.locator("#ws-error:not([hidden])").waitFor();
    const unsupported = await page.locator("#ws-error").textContent();
    assert.match(unsupported, /^Upload of notes\.txt failed: .+ \(415 [a-z_]+\)\. Drop a \.zip, \.tar, \.tar\.gz \/ \.tgz or a folder\.$/);
    assert.ok(!unsupported.includes("{"), "a sentence, not JSON");
    assert.equal(await page.locator("#ws-progress-box").isHidden(), true);

    await page.setInputFiles("#ws-archive-input", { name: "broken.zip", mimeType: "application/zip", buffer: Buffer.from("PK\u0003\u0004 this is not really a zip") });
    await page.waitForFunction(() => document.getElementById("ws-error").textContent.includes("broken.zip"));
    assert.match(await page.locator("#ws-error").textContent(), /^Upload of broken\.zip failed: .+ \(4\d\d [a-z_]+\)\./);
    await page.screenshot({ path: join(SHOTS, "workspaces-error.png") });
    assert.equal((await call(worker.base, "GET", `/api/workspaces/${id}`, { token })).body.files, 0, "nothing stored");

    // An archive dropped on the drop zone is sent as-is, its type from its name.
    const types = [];
    page.on("request", (req) => {
      if (req.method() === "PUT" && req.url().endsWith("/archive")) types.push(req.headers()["content-type"]);
    });
    const bytes = [...tarGz([{ path: "lib/util.py", content: "def helper():\n    return 2\n" }, { path: "lib/main.py", content: "import util\n" }])];
    const dataTransfer = await page.evaluateHandle((data) => {
      const transfer = new DataTransfer();
      transfer.items.add(new File([new Uint8Array(data)], "lib.tgz"));
      return transfer;
    }, bytes);
    await page.dispatchEvent("#ws-drop", "drop", { dataTransfer });
    await waitReady(page);
    assert.deepEqual(types, ["application/gzip"]);
    assert.equal(await page.locator("#ws-error").isHidden(), true, "the error of the last upload is gone");
    assert.deepEqual(await treePaths(page), ["main.py", "util.py"]);

    // At 375px wide the panel fits: nothing scrolls sideways.
    await page.setViewportSize({ width: 375, height: 740 });
    await page.click('#ws-tree button[data-path="util.py"]');
    await page.locator("#ws-code .line").first().waitFor();
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), "no horizontal scrolling");
    await page.setViewportSize({ width: 1180, height: 900 });

    // Delete: a confirmation first; "Keep it" keeps it.
    await page.click("#ws-delete");
    assert.match(await page.locator("#ws-delete-question").textContent(), /Delete “faulty” and its 2 files\?/);
    await page.click("#ws-delete-no");
    assert.equal(await page.locator(`#ws-list button[data-workspace-id="${id}"]`).count(), 1);
    await page.click("#ws-delete");
    await page.click("#ws-delete-yes");
    await page.locator("#ws-empty").waitFor({ state: "visible" });
    assert.equal((await call(worker.base, "GET", `/api/workspaces/${id}`, { token })).status, 404);
    assert.deepEqual(problems, []);
  });
});
