// The Workspaces panel: the user's code workspaces (create, delete with a confirmation), uploads
// (a dropped or picked archive sent as-is, or a dropped or picked folder packed into a tar here),
// the upload's progress (the request, then `indexing` with `pending` counting down, polled every
// 500 ms until `ready`) and report, the file tree (paged by cursor, directories collapsible), a
// file viewer with its symbols, the workspace's symbol list with a filter, and code search with the
// query's words highlighted. Code citations in replies open their file here (see render.js).
import { api, apiText, apiUpload, ApiError, timingText } from "./api.js";
import { $, el, announce, formatBytes, formatTime, showError } from "./dom.js";
import { currentTabId, setWorkspaceOptions, tabWorkspace } from "./chat.js";
import { onCodeCitation } from "./render.js";
import { buildTar } from "./tar.js";

const CURRENT_KEY = "edge-assistant.workspace";
const POLL_MS = 500;
const FILES_PAGE = 1000;
const SYMBOLS_LIMIT = 200;
/** Longest file shown in the viewer, in lines (the rest is summarised). */
const MAX_VIEW_LINES = 20000;
/**
 * Directories the server leaves out at any depth whatever the .gitignore files say; a folder
 * upload does not send them at all (they are often most of a folder's bytes).
 */
const SKIPPED_DIRS = new Set([".git", "node_modules", "target", "__pycache__", ".venv", "dist", "build"]);

const state = {
  workspaces: [],
  currentId: null,
  files: [],
  nextCursor: null,
  /** directory path -> open?; directories not in it are open when shallow. */
  openDirs: new Map(),
  openPath: null,
  /** The line to mark in the open file (kept across a reload of its text). */
  wantLine: null,
  uploading: false,
  /** Bumped to stop a running poll (another workspace, sign-out). */
  pollRun: 0,
  symbolTimer: null,
};

let showPanelFn = () => {};
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const enc = encodeURIComponent;
const wsPath = (id) => `/api/workspaces/${enc(id)}`;
/** A file path as URL segments, each percent-encoded (the "/" between them kept). */
const filePath = (id, path) => `${wsPath(id)}/files/${path.split("/").map(enc).join("/")}`;
const plural = (n, one, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
const current = () => state.workspaces.find((w) => w.id === state.currentId) ?? null;

/** A readable sentence for an API error, with a hint for the answers an upload can get. */
export function errorText(err) {
  if (!(err instanceof ApiError)) return String(err?.message ?? err);
  const hints = {
    409: "Another upload or indexing is still running in this workspace: wait until it is ready, then retry.",
    413: "The archive is larger than the server accepts (WORKSPACE_MAX_ARCHIVE_BYTES).",
    415: "Drop a .zip, .tar, .tar.gz / .tgz or a folder.",
  };
  const hint = hints[err.status] ? ` ${hints[err.status]}` : "";
  return `${err.message} (${err.status || "network"} ${err.code}).${hint}`;
}

// ---------- workspace list ----------

function remember(id) {
  try {
    if (id) localStorage.setItem(CURRENT_KEY, id);
    else localStorage.removeItem(CURRENT_KEY);
  } catch { /* storage disabled */ }
}

function countsText(w) {
  const parts = [plural(w.files ?? 0, "file"), plural(w.symbols ?? 0, "symbol"), formatBytes(w.bytes ?? 0)];
  if (w.status === "indexing") parts.push(`indexing, ${w.pending ?? 0} left`);
  return parts.join(" · ");
}

function renderList() {
  $("ws-list").replaceChildren(...state.workspaces.map((w) => el("li", {}, [
    el("button", {
      class: "tab-button",
      attrs: { type: "button", "data-workspace-id": w.id, "data-status": w.status ?? "ready", "aria-current": w.id === state.currentId ? "true" : "false" },
      on: { click: () => selectWorkspace(w.id).catch(report) },
    }, [
      el("span", { class: "tab-title", text: w.name }),
      el("span", { class: "tab-sub", text: countsText(w) }),
    ]),
  ])));
  $("ws-empty").hidden = state.workspaces.length > 0;
  const w = current();
  $("ws-title").textContent = w ? w.name : "No workspace selected";
  $("ws-counts").textContent = w ? `${countsText(w)} · updated ${formatTime(w.updated_at)}` : "";
  $("ws-delete").disabled = !w;
  for (const id of ["ws-pick-archive", "ws-pick-folder"]) $(id).disabled = !w || state.uploading;
  $("ws-drop").classList.toggle("disabled", !w);
  setWorkspaceOptions(state.workspaces.map(({ id, name }) => ({ id, name })));
}

function upsert(workspace) {
  const index = state.workspaces.findIndex((w) => w.id === workspace.id);
  if (index >= 0) state.workspaces[index] = workspace;
  else state.workspaces.push(workspace);
  renderList();
}

/** Loads the workspace list (after sign-in; also fills the chat's workspace selector). */
export async function loadWorkspaces() {
  const { body } = await api("GET", "/api/workspaces");
  const listed = Array.isArray(body?.workspaces) ? body.workspaces : [];
  // The shown workspace stays even when this list predates it (created while the list loaded).
  const shown = current();
  state.workspaces = shown && !listed.some((w) => w.id === shown.id) ? [...listed, shown] : listed;
  showError($("ws-list-error"), "");
  renderList();
}

/**
 * Loads the list and reopens the remembered workspace, unless one was chosen meanwhile (the panel
 * is usable before the list has loaded). Sign-out and account switches call resetWorkspaces first.
 */
export async function startWorkspaces() {
  let remembered = null;
  try { remembered = localStorage.getItem(CURRENT_KEY); } catch { /* storage disabled */ }
  await loadWorkspaces();
  if (state.currentId) return;
  const id = state.workspaces.some((w) => w.id === remembered) ? remembered : state.workspaces[0]?.id ?? null;
  if (id) await selectWorkspace(id);
}

/** Forgets everything shown (sign-out, account switch). */
export function resetWorkspaces() {
  state.pollRun++;
  state.workspaces = [];
  state.currentId = null;
  state.uploading = false;
  clearWorkspaceView();
  renderList();
}

function clearWorkspaceView() {
  state.files = [];
  state.nextCursor = null;
  state.openDirs.clear();
  state.openPath = null;
  state.wantLine = null;
  $("ws-tree").replaceChildren();
  $("ws-more-files").hidden = true;
  $("ws-tree-empty").hidden = true;
  $("ws-file-title").textContent = "No file open";
  $("ws-file-symbols").replaceChildren();
  $("ws-code").replaceChildren();
  $("ws-symbols").replaceChildren();
  $("ws-search-results").replaceChildren();
  $("ws-search-meta").hidden = true;
  $("ws-progress-box").hidden = true;
  $("ws-report").hidden = true;
  $("ws-delete-confirm").hidden = true;
  for (const id of ["ws-error", "ws-file-error", "ws-symbols-error", "ws-search-error"]) showError($(id), "");
}

/** Makes `id` the shown workspace: its files, symbols, and (while it indexes) its progress. */
export async function selectWorkspace(id, { force = false } = {}) {
  if (id === state.currentId && !force) return;
  state.pollRun++;
  state.currentId = id;
  remember(id);
  clearWorkspaceView();
  renderList();
  if (!id) return;
  try {
    const { body } = await api("GET", wsPath(id));
    if (id !== state.currentId) return;
    upsert(body);
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) {
      state.workspaces = state.workspaces.filter((w) => w.id !== id);
      state.currentId = null;
      renderList();
      announce("That workspace no longer exists.", { bad: true });
      return;
    }
    throw err;
  }
  if (current()?.status === "indexing") followIndexing(id, null);
  await Promise.all([loadFiles(), loadSymbols()]);
}

async function createWorkspace(name) {
  const { body } = await api("POST", "/api/workspaces", { body: { name } });
  upsert(body);
  await selectWorkspace(body.id);
  announce(`Created workspace “${body.name}”. Drop a folder or an archive on it.`);
}

async function deleteCurrent() {
  const w = current();
  if (!w) return;
  await api("DELETE", wsPath(w.id));
  state.workspaces = state.workspaces.filter((x) => x.id !== w.id);
  await selectWorkspace(state.workspaces[0]?.id ?? null, { force: true });
  announce(`Deleted workspace “${w.name}”.`);
}

function report(err) {
  announce(errorText(err), { bad: true });
}

// ---------- uploads ----------

/** The content type to send an archive file with, from its name (the server reads only these). */
export function archiveType(name, fallback = "") {
  const lower = name.toLowerCase();
  if (lower.endsWith(".zip")) return "application/zip";
  if (lower.endsWith(".tar.gz") || lower.endsWith(".tgz") || lower.endsWith(".gz")) return "application/gzip";
  if (lower.endsWith(".tar")) return "application/x-tar";
  return fallback || "application/octet-stream";
}

const isArchiveName = (name) => /\.(zip|tar|tgz|tar\.gz|gz)$/i.test(name);
const skippedPath = (path) => path.split("/").slice(0, -1).some((part) => SKIPPED_DIRS.has(part));

function setProgress(text, value = null) {
  $("ws-progress-box").hidden = false;
  $("ws-progress-text").textContent = text;
  const bar = $("ws-progress");
  if (value == null) bar.removeAttribute("value");
  else bar.value = Math.min(1, Math.max(0, value));
}

function showReport(r, leftOut) {
  const skipped = r.skipped ?? {};
  const pairs = [
    ["Files", r.files],
    ["Scanned", r.scanned],
    ["Unchanged", r.unchanged],
    ["Removed", r.removed ?? 0],
    ["Skipped", `${skipped.ignored ?? 0} ignored · ${skipped.binary ?? 0} binary · ${skipped.too_large ?? 0} too large`],
    ["Symbols", r.symbols],
    ["Size", formatBytes(r.bytes)],
  ];
  if (leftOut) pairs.push(["Left out here", `${plural(leftOut, "file")} under ${[...SKIPPED_DIRS].join(", ")}`]);
  const dl = $("ws-report");
  dl.replaceChildren(...pairs.map(([label, value]) => el("div", {}, [
    el("dt", { text: label }),
    el("dd", { attrs: { "data-field": label.toLowerCase().replace(/ /g, "-") }, text: value == null ? "—" : String(value) }),
  ])));
  dl.hidden = false;
}

/**
 * Uploads `blob` to the current workspace as `contentType`, showing the request's progress, then
 * the indexing until ready. `what` names it ("notes.zip", "folder proj (12 files)").
 */
async function upload(blob, contentType, what, { leftOut = 0 } = {}) {
  const w = current();
  if (!w || state.uploading) return;
  const id = w.id;
  state.uploading = true;
  renderList();
  showError($("ws-error"), "");
  $("ws-report").hidden = true;
  $("ws-drop").setAttribute("aria-busy", "true");
  setProgress(`Uploading ${what}: 0 of ${formatBytes(blob.size)}`, 0);
  try {
    const result = await apiUpload("PUT", `${wsPath(id)}/archive`, blob, contentType, {
      onProgress: (sent, total) => {
        if (id !== state.currentId) return;
        const done = sent >= total;
        setProgress(done
          ? `Uploaded ${what} (${formatBytes(total)}); the worker is reading it…`
          : `Uploading ${what}: ${formatBytes(sent)} of ${formatBytes(total)}`, done ? null : sent / Math.max(total, 1));
      },
    });
    if (id !== state.currentId) return;
    showReport(result.body, leftOut);
    announce(`Uploaded ${what}: ${plural(result.body.scanned ?? 0, "file")} scanned, ${result.body.unchanged ?? 0} unchanged.`);
    await followIndexing(id, result.body);
  } catch (err) {
    if (id === state.currentId) {
      $("ws-progress-box").hidden = true;
      showError($("ws-error"), `Upload of ${what} failed: ${errorText(err)}`);
    }
    announce(`Upload failed: ${errorText(err)}`, { bad: true });
  } finally {
    state.uploading = false;
    $("ws-drop").removeAttribute("aria-busy");
    renderList();
  }
}

/** Polls workspace `id` every 500 ms while it indexes, counting `pending` down; then reloads. */
async function followIndexing(id, uploadReport) {
  const run = ++state.pollRun;
  let most = Math.max(uploadReport?.pending ?? 0, 1);
  // After an upload the list's copy is stale: the first round asks at once, or after 500 ms
  // when the report already says `indexing`.
  let workspace = uploadReport ? null : current();
  const reportIndexing = uploadReport?.status === "indexing";
  if (reportIndexing) setProgress(`Indexing: ${plural(uploadReport.pending ?? 0, "file")} left to scan`, 0);
  for (;;) {
    if (run !== state.pollRun) return;
    if (workspace && workspace.status !== "indexing") break;
    if (workspace) {
      const pending = workspace.pending ?? 0;
      most = Math.max(most, pending);
      setProgress(`Indexing: ${plural(pending, "file")} left to scan`, 1 - pending / most);
    }
    await sleep(workspace || reportIndexing ? POLL_MS : 0);
    if (run !== state.pollRun) return;
    try {
      ({ body: workspace } = await api("GET", wsPath(id)));
    } catch (err) {
      if (run === state.pollRun) showError($("ws-error"), `Could not follow the indexing: ${errorText(err)}`);
      return;
    }
    if (run !== state.pollRun) return;
    upsert(workspace);
  }
  state.files = [];
  state.nextCursor = null;
  await Promise.all([loadFiles(), loadSymbols()]);
  if (state.openPath) await openFile(state.openPath, state.wantLine).catch(() => {});
  if (run !== state.pollRun) return;
  // "Ready" once the tree and symbols show the new contents.
  setProgress(`Ready: ${countsText(workspace)}`, 1);
  announce(`Workspace “${workspace.name}” is ready: ${countsText(workspace)}.`);
}

/** Reads every file under a dropped directory entry, leaving out SKIPPED_DIRS. */
async function walkEntry(entry, prefix, out) {
  if (entry.isFile) {
    const file = await new Promise((resolve, reject) => entry.file(resolve, reject));
    out.files.push({ path: `${prefix}${entry.name}`, file });
  } else if (entry.isDirectory) {
    if (SKIPPED_DIRS.has(entry.name)) { out.leftOutDirs++; return; }
    const reader = entry.createReader();
    for (;;) {
      // readEntries answers in batches (about 100 in Chromium) until an empty one.
      const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
      if (!batch.length) break;
      for (const child of batch) await walkEntry(child, `${prefix}${entry.name}/`, out);
    }
  }
}

/** Packs `files` ([{path, file}]) into a tar and uploads it. */
async function uploadFolder(files, label, leftOut) {
  if (!files.length) {
    showError($("ws-error"), `The folder ${label} has no files to upload${leftOut ? ` (left out: ${plural(leftOut, "file")} under ${[...SKIPPED_DIRS].join(", ")})` : ""}.`);
    return;
  }
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const tar = buildTar(files);
  await upload(tar, "application/x-tar", `folder ${label} (${plural(files.length, "file")})`, { leftOut });
}

async function onDrop(event) {
  event.preventDefault();
  $("ws-drop").dataset.active = "false";
  if (!current()) { announce("Create or choose a workspace first.", { bad: true }); return; }
  if (state.uploading) { announce("An upload is already running.", { bad: true }); return; }
  const items = [...(event.dataTransfer?.items ?? [])].filter((item) => item.kind === "file");
  // Entries must be taken before the first await: the DataTransfer empties after the event.
  const entries = items.map((item) => item.webkitGetAsEntry?.() ?? null);
  const plainFiles = [...(event.dataTransfer?.files ?? [])];
  if (entries.length === 1 && entries[0]?.isFile && plainFiles.length === 1) {
    const file = plainFiles[0];
    await upload(file, archiveType(file.name, file.type), file.name);
    return;
  }
  if (entries.length && entries.every(Boolean)) {
    const out = { files: [], leftOutDirs: 0 };
    setProgress("Reading the folder…");
    try {
      for (const entry of entries) await walkEntry(entry, "", out);
    } catch (err) {
      showError($("ws-error"), `Could not read the dropped folder: ${err?.message ?? err}`);
      $("ws-progress-box").hidden = true;
      return;
    }
    const label = entries.length === 1 ? entries[0].name : `of ${plural(entries.length, "item")}`;
    await uploadFolder(out.files, label, out.leftOutDirs);
    return;
  }
  // No entry API: a single file can still go as an archive.
  if (plainFiles.length === 1) await upload(plainFiles[0], archiveType(plainFiles[0].name, plainFiles[0].type), plainFiles[0].name);
  else showError($("ws-error"), "Drop one archive or one folder.");
}

async function onFolderPicked(input) {
  const picked = [...input.files];
  input.value = "";
  if (!picked.length) return;
  const files = [];
  let leftOut = 0;
  for (const file of picked) {
    const path = file.webkitRelativePath || file.name;
    if (skippedPath(path)) leftOut++;
    else files.push({ path, file });
  }
  const root = (picked[0].webkitRelativePath || "").split("/")[0] || "folder";
  await uploadFolder(files, root, leftOut);
}

async function onArchivePicked(input) {
  const file = input.files[0];
  input.value = "";
  if (!file) return;
  if (!isArchiveName(file.name)) {
    // Sent anyway: the server's 415 says what it accepts.
    announce(`${file.name} does not look like an archive; sending it anyway.`);
  }
  await upload(file, archiveType(file.name, file.type), file.name);
}

// ---------- file tree ----------

async function loadFiles({ more = false } = {}) {
  const id = state.currentId;
  if (!id) return;
  const params = new URLSearchParams({ limit: String(FILES_PAGE) });
  if (more && state.nextCursor) params.set("cursor", state.nextCursor);
  const { body } = await api("GET", `${wsPath(id)}/files?${params}`);
  if (id !== state.currentId) return;
  state.files = more ? [...state.files, ...body.files] : body.files;
  state.nextCursor = body.next_cursor ?? null;
  renderTree();
}

/** Nested { dirs: Map(name -> node), files: [file] } of `files`' paths. */
export function buildTree(files) {
  const root = { dirs: new Map(), files: [] };
  for (const file of files) {
    const parts = file.path.split("/");
    let node = root;
    for (const part of parts.slice(0, -1)) {
      if (!node.dirs.has(part)) node.dirs.set(part, { dirs: new Map(), files: [] });
      node = node.dirs.get(part);
    }
    node.files.push({ ...file, name: parts[parts.length - 1] });
  }
  return root;
}

function treeList(node, prefix, depth) {
  const items = [];
  for (const name of [...node.dirs.keys()].sort()) {
    const path = `${prefix}${name}`;
    const details = el("details", { attrs: { "data-dir": path } }, [
      el("summary", { text: `${name}/` }),
      treeList(node.dirs.get(name), `${path}/`, depth + 1),
    ]);
    details.open = state.openDirs.get(path) ?? depth < 2;
    details.addEventListener("toggle", () => state.openDirs.set(path, details.open));
    items.push(el("li", {}, [details]));
  }
  for (const file of node.files.sort((a, b) => a.name.localeCompare(b.name))) {
    items.push(el("li", {}, [
      el("button", {
        class: "link-button ws-file",
        text: file.name,
        attrs: { type: "button", "data-path": file.path, "aria-current": file.path === state.openPath ? "true" : false, title: `${file.path} · ${file.language} · ${formatBytes(file.bytes)}` },
        on: { click: () => openFile(file.path).catch((err) => showError($("ws-file-error"), errorText(err))) },
      }),
      file.symbols ? el("span", { class: "muted ws-sub", text: ` ${file.symbols}` }) : null,
    ]));
  }
  return el("ul", {}, items);
}

function renderTree() {
  $("ws-tree").replaceChildren(treeList(buildTree(state.files), "", 0));
  $("ws-tree-empty").hidden = state.files.length > 0;
  $("ws-more-files").hidden = !state.nextCursor;
}

// ---------- file viewer ----------

function markOpenFile() {
  for (const button of $("ws-tree").querySelectorAll("button.ws-file")) {
    if (button.dataset.path === state.openPath) button.setAttribute("aria-current", "true");
    else button.removeAttribute("aria-current");
  }
}

/** Shows file `path` of the current workspace with its symbols; with `line`, scrolls there. */
export async function openFile(path, line = null) {
  const id = state.currentId;
  if (!id) return;
  state.openPath = path;
  // The line to mark once the text is shown; a symbol or hit clicked while the file loads
  // (goToLine on the old text) updates it, so the new text keeps that mark.
  state.wantLine = line;
  markOpenFile();
  showError($("ws-file-error"), "");
  $("ws-file-title").textContent = path;
  const [text, symbols] = await Promise.all([
    apiText(filePath(id, path)),
    api("GET", `${wsPath(id)}/symbols?${new URLSearchParams({ path, limit: "500" })}`).then((r) => r.body.symbols ?? []),
  ]);
  if (id !== state.currentId || path !== state.openPath) return;
  const lines = text.split("\n");
  if (lines.length > 1 && lines[lines.length - 1] === "") lines.pop();
  const shown = lines.slice(0, MAX_VIEW_LINES);
  $("ws-code").replaceChildren(...shown.map((content, i) => el("span", { class: "line", attrs: { "data-line": i + 1 } }, [`${content}\n`])));
  if (lines.length > shown.length) $("ws-code").append(el("span", { class: "muted", text: `… ${lines.length - shown.length} more lines not shown` }));
  $("ws-code").scrollTop = 0;
  $("ws-file-symbols").replaceChildren(...symbols.map((s) => el("li", {}, [symbolButton(s, { withPath: false })])));
  if (state.wantLine != null) goToLine(state.wantLine);
  announce(`Opened ${path}: ${plural(lines.length, "line")}, ${plural(symbols.length, "symbol")}.`);
}

/** Scrolls the viewer to `line` and marks it. */
function goToLine(line) {
  state.wantLine = line;
  const code = $("ws-code");
  for (const old of code.querySelectorAll(".line.hit")) old.classList.remove("hit");
  const target = code.querySelector(`.line[data-line="${Number(line)}"]`);
  if (!target) return;
  target.classList.add("hit");
  code.scrollTop = Math.max(0, target.offsetTop - code.clientHeight / 3);
}

/** Opens `path` at `line` unless it is already open (then just scrolls). */
async function showLocation(path, line) {
  if (path === state.openPath && $("ws-code").childElementCount) goToLine(line);
  else await openFile(path, line);
}

function symbolButton(s, { withPath = true } = {}) {
  const where = withPath ? `${s.path}:${s.line}` : `:${s.line}`;
  return el("button", {
    class: "ws-symbol",
    attrs: { type: "button", "data-path": s.path, "data-line": s.line, "data-kind": s.kind, title: s.signature ?? "" },
    on: { click: () => showLocation(s.path, s.line).catch((err) => showError($("ws-file-error"), errorText(err))) },
  }, [
    el("span", { class: "kind", text: s.kind }),
    " ",
    el("span", { class: "name", text: s.container ? `${s.container}.${s.name}` : s.name }),
    " ",
    el("span", { class: "muted where", text: where }),
  ]);
}

// ---------- symbols and search ----------

async function loadSymbols() {
  const id = state.currentId;
  if (!id) return;
  const params = new URLSearchParams({ limit: String(SYMBOLS_LIMIT) });
  const q = $("ws-symbol-q").value.trim();
  const kind = $("ws-symbol-kind").value;
  if (q) params.set("q", q);
  if (kind) params.set("kind", kind);
  try {
    const { body } = await api("GET", `${wsPath(id)}/symbols?${params}`);
    if (id !== state.currentId) return;
    showError($("ws-symbols-error"), "");
    const symbols = body.symbols ?? [];
    $("ws-symbols").replaceChildren(...(symbols.length
      ? symbols.map((s) => el("li", { attrs: { title: s.signature ?? "" } }, [
        symbolButton(s),
        s.signature ? el("code", { class: "signature", text: s.signature }) : null,
      ]))
      : [el("li", { class: "muted", text: q || kind ? "No symbol matches." : "No symbols yet." })]));
  } catch (err) {
    if (id === state.currentId) showError($("ws-symbols-error"), errorText(err));
  }
}

/**
 * The words of `query` worth highlighting: its runs of letters, digits and "_", and the parts of
 * identifiers (parse_config → parse, config; ParseConfig → parse, config), lower-cased, longest
 * first, at least 2 characters.
 */
export function queryTerms(query) {
  const terms = new Set();
  for (const word of query.match(/[\p{L}\p{N}_]+/gu) ?? []) {
    terms.add(word.toLowerCase());
    const parts = word.replace(/([\p{Ll}\p{N}])(\p{Lu})/gu, "$1 $2").replace(/(\p{Lu})(\p{Lu}\p{Ll})/gu, "$1 $2").split(/[_\s]+/);
    for (const part of parts) terms.add(part.toLowerCase());
  }
  return [...terms].filter((t) => t.length >= 2).sort((a, b) => b.length - a.length);
}

/** `text` as strings and <mark> nodes around the query's terms (case-insensitive), for el(). */
export function highlight(text, query) {
  const terms = queryTerms(query);
  if (!terms.length) return [text];
  const escaped = terms.map((t) => t.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  const pattern = new RegExp(escaped.join("|"), "giu");
  const parts = [];
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    if (match.index > last) parts.push(text.slice(last, match.index));
    parts.push(el("mark", { text: match[0] }));
    last = match.index + match[0].length;
  }
  if (last < text.length) parts.push(text.slice(last));
  return parts;
}

async function searchCode(q) {
  const id = state.currentId;
  if (!id || !q) return;
  const params = new URLSearchParams({ source: "code", workspace: id, q, limit: "20" });
  const meta = $("ws-search-meta");
  showError($("ws-search-error"), "");
  meta.hidden = false;
  meta.textContent = "Searching…";
  try {
    const result = await api("GET", `/api/search?${params}`);
    if (id !== state.currentId) return;
    const hits = result.body.results ?? [];
    meta.textContent = `${hits.length} of ${result.body.total ?? hits.length} matching lines · ${timingText(result)}`;
    $("ws-search-results").replaceChildren(...(hits.length ? hits.map((hit) => el("li", { class: "code-result" }, [
      el("button", {
        class: "link-button title",
        text: `${hit.path}:${hit.line}`,
        attrs: { type: "button", "data-path": hit.path, "data-line": hit.line },
        on: { click: () => showLocation(hit.path, hit.line).catch((err) => showError($("ws-file-error"), errorText(err))) },
      }),
      hit.symbol ? el("span", { class: "muted", text: ` in ${hit.symbol}` }) : null,
      el("pre", { class: "snippet" }, [el("code", {}, highlight(hit.snippet ?? "", q))]),
    ])) : [el("li", { class: "muted", text: "No results." })]));
    announce(`${plural(hits.length, "code search result")}.`);
  } catch (err) {
    meta.hidden = true;
    $("ws-search-results").replaceChildren();
    showError($("ws-search-error"), errorText(err));
  }
}

/** A code citation of a reply: opens its file at its line in the tab's workspace. */
async function openCitation(citation) {
  const id = citation.workspace ?? tabWorkspace(currentTabId());
  if (!id) {
    announce(`No workspace is chosen for this tab, so ${citation.path} cannot be opened.`, { bad: true });
    return;
  }
  showPanelFn("workspaces");
  await selectWorkspace(id);
  await openFile(citation.path, citation.line ?? null);
}

// ---------- wiring ----------

export function initWorkspaces({ showPanel }) {
  showPanelFn = showPanel;
  onCodeCitation((c) => openCitation(c).catch(report));

  $("ws-create-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const name = $("ws-name").value.trim();
    if (!name) return;
    try {
      await createWorkspace(name);
      $("ws-name").value = "";
      showError($("ws-list-error"), "");
    } catch (err) {
      showError($("ws-list-error"), errorText(err));
    }
  });

  $("ws-delete").addEventListener("click", () => {
    const w = current();
    if (!w) return;
    $("ws-delete-question").textContent = `Delete “${w.name}” and its ${plural(w.files ?? 0, "file")}?`;
    $("ws-delete-confirm").hidden = false;
    $("ws-delete-no").focus();
  });
  $("ws-delete-no").addEventListener("click", () => { $("ws-delete-confirm").hidden = true; $("ws-delete").focus(); });
  $("ws-delete-confirm").addEventListener("keydown", (event) => {
    if (event.key === "Escape") { $("ws-delete-confirm").hidden = true; $("ws-delete").focus(); }
  });
  $("ws-delete-yes").addEventListener("click", () => {
    $("ws-delete-confirm").hidden = true;
    deleteCurrent().catch(report);
  });

  $("ws-pick-archive").addEventListener("click", () => $("ws-archive-input").click());
  $("ws-pick-folder").addEventListener("click", () => $("ws-folder-input").click());
  $("ws-archive-input").addEventListener("change", () => onArchivePicked($("ws-archive-input")).catch(report));
  $("ws-folder-input").addEventListener("change", () => onFolderPicked($("ws-folder-input")).catch(report));

  const drop = $("ws-drop");
  for (const type of ["dragenter", "dragover"]) {
    drop.addEventListener(type, (event) => {
      event.preventDefault();
      if (event.dataTransfer) event.dataTransfer.dropEffect = current() ? "copy" : "none";
      drop.dataset.active = "true";
    });
  }
  drop.addEventListener("dragleave", (event) => {
    if (!drop.contains(event.relatedTarget)) drop.dataset.active = "false";
  });
  drop.addEventListener("drop", (event) => { onDrop(event).catch(report); });

  $("ws-more-files").addEventListener("click", () => loadFiles({ more: true }).catch(report));

  $("ws-symbol-form").addEventListener("submit", (event) => { event.preventDefault(); loadSymbols(); });
  $("ws-symbol-q").addEventListener("input", () => {
    clearTimeout(state.symbolTimer);
    state.symbolTimer = setTimeout(loadSymbols, 250);
  });
  $("ws-symbol-kind").addEventListener("change", () => loadSymbols());

  $("ws-search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    searchCode($("ws-search-q").value.trim());
  });
}

/** Refreshes the list when the panel is shown (another window may have uploaded meanwhile). */
export function onWorkspacesShown() {
  loadWorkspaces().catch((err) => showError($("ws-list-error"), errorText(err)));
}
