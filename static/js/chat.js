// The chat panel: tab list (create, rename, delete; most recently updated first), a message view
// that pages back with `before`, and a composer whose sends show at once (optimistic), carry a
// client_id so a retry can never store the message twice, and turn "saved" once the 201/200 arrives.
import { api, ApiError } from "./api.js";
import { $, el, announce, formatTime, showError } from "./dom.js";
import { renderContent } from "./render.js";

const CURRENT_TAB_KEY = "edge-assistant.tab";
const PAGE = 50;
/** `before` larger than any seq: the latest page. */
const LATEST = Number.MAX_SAFE_INTEGER;
/** Messages longer than this many characters start collapsed with a "Show all" button. */
const COLLAPSE_CHARS = 3000;

const state = {
  tabs: [],
  nextCursor: null,
  currentId: null,
  /** Loaded messages of the current tab, ascending seq. */
  messages: [],
  hasOlder: false,
  hasNewer: false,
  loading: false,
  /** tab id -> unsent or failed sends [{client_id, role, content, status, error}] */
  outbox: new Map(),
  /** client_ids saved during this page's life (shown as "saved"). */
  savedHere: new Set(),
  highlightSeq: null,
};

const listeners = { tabChange: [] };
/** Subscribes to current-tab changes (the status panel shows that tab's stats). */
export function onTabChange(fn) { listeners.tabChange.push(fn); }
export function currentTabId() { return state.currentId; }
export function tabTitle(id) { return state.tabs.find((t) => t.id === id)?.title ?? null; }

function remember(id) {
  try {
    if (id) localStorage.setItem(CURRENT_TAB_KEY, id);
    else localStorage.removeItem(CURRENT_TAB_KEY);
  } catch { /* storage disabled */ }
}

function failText(err) {
  return err instanceof ApiError ? `${err.message} (${err.status || "network"} ${err.code})` : String(err);
}

// ---------- tab list ----------

function sortTabs() {
  state.tabs.sort((a, b) => (b.updated_at ?? "").localeCompare(a.updated_at ?? ""));
}

function renderTabs() {
  const list = $("tab-list");
  list.replaceChildren(...state.tabs.map((tab) => {
    const count = tab.message_count === 1 ? "1 message" : `${tab.message_count ?? 0} messages`;
    const button = el("button", {
      class: "tab-button",
      attrs: { type: "button", "data-tab-id": tab.id, "aria-current": tab.id === state.currentId ? "true" : "false" },
      on: { click: () => selectTab(tab.id) },
    }, [
      el("span", { class: "tab-title", text: tab.title || "Untitled" }),
      el("span", { class: "tab-sub", text: `${count} · ${formatTime(tab.updated_at)}` }),
    ]);
    return el("li", {}, [button]);
  }));
  $("tabs-empty").hidden = state.tabs.length > 0;
  $("more-tabs").hidden = !state.nextCursor;
  const current = state.tabs.find((t) => t.id === state.currentId);
  $("conversation-title").textContent = current ? (current.title || "Untitled") : "No tab selected";
  $("rename-tab").disabled = !current;
  $("delete-tab").disabled = !current;
  $("composer-input").disabled = !current;
  $("send").disabled = !current;
}

export async function loadTabs({ more = false } = {}) {
  const query = more && state.nextCursor ? `&cursor=${encodeURIComponent(state.nextCursor)}` : "";
  const { body } = await api("GET", `/api/tabs?limit=50${query}`);
  state.tabs = more ? [...state.tabs, ...body.tabs.filter((t) => !state.tabs.some((s) => s.id === t.id))] : body.tabs;
  state.nextCursor = body.next_cursor;
  renderTabs();
}

function upsertTab(tab) {
  const index = state.tabs.findIndex((t) => t.id === tab.id);
  if (index >= 0) state.tabs[index] = { ...state.tabs[index], ...tab };
  else state.tabs.push(tab);
  sortTabs();
  renderTabs();
}

async function createTab(title) {
  const body = title.trim() ? { title: title.trim() } : {};
  const { body: tab } = await api("POST", "/api/tabs", { body });
  upsertTab(tab);
  await selectTab(tab.id);
  announce(`Created tab “${tab.title || "Untitled"}”.`);
  $("composer-input").focus();
}

async function renameTab(title) {
  const { body: tab } = await api("PATCH", `/api/tabs/${encodeURIComponent(state.currentId)}`, { body: { title } });
  upsertTab(tab);
  announce(`Renamed the tab to “${tab.title}”.`);
}

async function deleteCurrentTab() {
  const id = state.currentId;
  const title = tabTitle(id) || "Untitled";
  await api("DELETE", `/api/tabs/${encodeURIComponent(id)}`);
  state.tabs = state.tabs.filter((t) => t.id !== id);
  state.outbox.delete(id);
  await selectTab(state.tabs[0]?.id ?? null);
  announce(`Deleted tab “${title}”.`);
}

// ---------- messages ----------

function outboxFor(id) {
  if (!state.outbox.has(id)) state.outbox.set(id, []);
  return state.outbox.get(id);
}

function messageItem({ seq, role, content, created_at, client_id }, { status = null, error = null, onRetry, onDiscard } = {}) {
  const stateLabel = status === "sending" ? "sending…" : status === "failed" ? "not saved" : status === "saved" ? "✓ saved" : null;
  const head = el("div", { class: "message-head" }, [
    el("span", { class: "role", text: role }),
    seq != null ? el("span", { class: "seq", text: `#${seq}` }) : null,
    created_at ? el("time", { attrs: { datetime: created_at }, text: formatTime(created_at) }) : null,
    stateLabel ? el("span", { class: `state ${status}`, text: stateLabel }) : null,
  ]);
  const body = el("div", { class: "message-body" }, [renderContent(content)]);
  const item = el("li", {
    class: `message role-${role}`,
    attrs: { "data-seq": seq ?? false, "data-client-id": client_id ?? false, "data-state": status ?? "saved", tabindex: -1 },
  }, [head, body]);
  if (content.length > COLLAPSE_CHARS) {
    item.classList.add("collapsed");
    const toggle = el("button", { class: "link-button", text: "Show all", attrs: { type: "button", "aria-expanded": "false" } });
    toggle.addEventListener("click", () => {
      const collapsed = item.classList.toggle("collapsed");
      toggle.textContent = collapsed ? "Show all" : "Show less";
      toggle.setAttribute("aria-expanded", String(!collapsed));
    });
    item.append(toggle);
  }
  if (status === "failed") {
    item.append(el("div", { class: "row" }, [
      el("span", { class: "error", text: error ?? "Not saved." }),
      el("button", { text: "Retry", attrs: { type: "button", "data-action": "retry" }, on: { click: onRetry } }),
      el("button", { text: "Discard", attrs: { type: "button", "data-action": "discard" }, on: { click: onDiscard } }),
    ]));
  }
  return item;
}

function renderMessages({ keepBottom = false, keepTopAnchor = false } = {}) {
  const scroller = $("message-scroller");
  const fromBottom = scroller.scrollHeight - scroller.scrollTop;
  const atBottom = fromBottom - scroller.clientHeight < 40;
  const items = state.messages.map((m) => messageItem(m, { status: m.client_id && state.savedHere.has(m.client_id) ? "saved" : null }));
  for (const pending of state.currentId ? outboxFor(state.currentId) : []) {
    items.push(messageItem(pending, {
      status: pending.status,
      error: pending.error,
      onRetry: () => send(state.currentId, pending),
      onDiscard: () => discard(state.currentId, pending),
    }));
  }
  $("message-list").replaceChildren(...items);
  $("load-older").hidden = !state.hasOlder;
  $("load-newer").hidden = !state.hasNewer;
  $("messages-empty").hidden = !(state.currentId && items.length === 0 && !state.loading);
  if (state.highlightSeq != null) {
    const target = $("message-list").querySelector(`li[data-seq="${state.highlightSeq}"]`);
    if (target) target.classList.add("highlight");
  }
  if (keepTopAnchor) scroller.scrollTop = scroller.scrollHeight - fromBottom;
  else if (keepBottom || atBottom) scroller.scrollTop = scroller.scrollHeight;
}

function mergeMessages(incoming) {
  const bySeq = new Map(state.messages.map((m) => [m.seq, m]));
  for (const m of incoming) bySeq.set(m.seq, m);
  state.messages = [...bySeq.values()].sort((a, b) => a.seq - b.seq);
  // A message the server has is no longer pending here (e.g. saved by a request whose answer was lost).
  const saved = new Set(incoming.map((m) => m.client_id).filter(Boolean));
  if (state.currentId && saved.size) {
    const outbox = outboxFor(state.currentId);
    for (const pending of outbox.filter((p) => saved.has(p.client_id))) state.savedHere.add(pending.client_id);
    state.outbox.set(state.currentId, outbox.filter((p) => !saved.has(p.client_id)));
  }
}

async function fetchPage(tabId, query) {
  const { body } = await api("GET", `/api/tabs/${encodeURIComponent(tabId)}/messages?${query}`);
  return body;
}

async function loadLatest() {
  const id = state.currentId;
  state.loading = true;
  try {
    const page = await fetchPage(id, `before=${LATEST}&limit=${PAGE}`);
    if (id !== state.currentId) return;
    state.messages = [];
    mergeMessages(page.messages);
    state.hasOlder = (state.messages[0]?.seq ?? 1) > 1;
    state.hasNewer = false;
  } finally {
    state.loading = false;
  }
  renderMessages({ keepBottom: true });
}

async function loadOlder() {
  if (state.loading || !state.hasOlder || !state.messages.length) return;
  const id = state.currentId;
  state.loading = true;
  try {
    const page = await fetchPage(id, `before=${state.messages[0].seq}&limit=${PAGE}`);
    if (id !== state.currentId) return;
    mergeMessages(page.messages);
    state.hasOlder = (state.messages[0]?.seq ?? 1) > 1;
  } finally {
    state.loading = false;
  }
  renderMessages({ keepTopAnchor: true });
  announce(`Loaded older messages; showing from #${state.messages[0]?.seq ?? 1}.`);
}

async function loadNewer() {
  if (state.loading || !state.hasNewer || !state.messages.length) return;
  const id = state.currentId;
  state.loading = true;
  try {
    const page = await fetchPage(id, `after=${state.messages[state.messages.length - 1].seq}&limit=${PAGE}`);
    if (id !== state.currentId) return;
    mergeMessages(page.messages);
    state.hasNewer = page.next_after != null;
  } finally {
    state.loading = false;
  }
  renderMessages();
}

/** Makes `id` the current tab (null: none) and shows its latest messages. */
export async function selectTab(id, { load = true } = {}) {
  const changed = id !== state.currentId;
  state.currentId = id;
  remember(id);
  state.highlightSeq = null;
  if (changed) {
    state.messages = [];
    state.hasOlder = false;
    state.hasNewer = false;
    hideTabForms();
  }
  renderTabs();
  renderMessages();
  if (changed) for (const fn of listeners.tabChange) fn(id);
  if (id && load) {
    try {
      await loadLatest();
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) {
        state.tabs = state.tabs.filter((t) => t.id !== id);
        announce("That tab no longer exists.", { bad: true });
        await selectTab(state.tabs[0]?.id ?? null);
        return;
      }
      throw err;
    }
  }
}

/** Opens message `seq` of tab `tabId` in place (history search hits): loads from it and highlights it. */
export async function openMessage(tabId, seq) {
  await selectTab(tabId, { load: false });
  state.loading = true;
  try {
    const page = await fetchPage(tabId, `after=${Math.max(0, seq - 1)}&limit=${PAGE}`);
    state.messages = [];
    mergeMessages(page.messages);
    state.hasOlder = (state.messages[0]?.seq ?? 1) > 1;
    state.hasNewer = page.next_after != null;
  } finally {
    state.loading = false;
  }
  state.highlightSeq = seq;
  renderMessages();
  const target = $("message-list").querySelector(`li[data-seq="${seq}"]`);
  if (target) {
    target.scrollIntoView({ block: "center" });
    target.focus({ preventScroll: true });
    announce(`Showing message #${seq} of “${tabTitle(tabId) || "Untitled"}”.`);
  } else {
    announce(`Message #${seq} is no longer in that tab.`, { bad: true });
  }
}

async function send(tabId, pending) {
  pending.status = "sending";
  pending.error = null;
  if (tabId === state.currentId) renderMessages({ keepBottom: true });
  try {
    const { status, body: message } = await api("POST", `/api/tabs/${encodeURIComponent(tabId)}/messages`, {
      body: { role: pending.role, content: pending.content, client_id: pending.client_id },
    });
    state.outbox.set(tabId, outboxFor(tabId).filter((p) => p !== pending));
    state.savedHere.add(pending.client_id);
    const tab = state.tabs.find((t) => t.id === tabId);
    if (tab) upsertTab({ id: tabId, message_count: Math.max(tab.message_count ?? 0, message.seq), updated_at: message.created_at });
    if (tabId === state.currentId) {
      if (state.hasNewer) await loadLatest();
      else { mergeMessages([message]); renderMessages({ keepBottom: true }); }
    }
    announce(status === 200 ? `Message #${message.seq} was already saved (retry matched it).` : `Saved message #${message.seq}.`);
  } catch (err) {
    pending.status = "failed";
    pending.error = failText(err);
    if (tabId === state.currentId) renderMessages({ keepBottom: true });
    announce(`Message not saved: ${pending.error}`, { bad: true });
  }
}

function discard(tabId, pending) {
  state.outbox.set(tabId, outboxFor(tabId).filter((p) => p !== pending));
  if (tabId === state.currentId) renderMessages();
  $("composer-input").focus();
}

function submitComposer() {
  const input = $("composer-input");
  const content = input.value;
  if (!state.currentId || content.trim() === "") return;
  const pending = {
    client_id: crypto.randomUUID(),
    role: $("role-select").value,
    content,
    status: "sending",
    error: null,
  };
  outboxFor(state.currentId).push(pending);
  input.value = "";
  send(state.currentId, pending);
}

// ---------- forms ----------

function hideTabForms() {
  $("rename-form").hidden = true;
  $("delete-confirm").hidden = true;
}

function guard(fn) {
  return async (...args) => {
    try {
      await fn(...args);
    } catch (err) {
      announce(failText(err), { bad: true });
    }
  };
}

export function initChat() {
  try { state.currentId = localStorage.getItem(CURRENT_TAB_KEY); } catch { state.currentId = null; }

  $("new-tab-form").addEventListener("submit", guard(async (event) => {
    event.preventDefault();
    const input = $("new-tab-title");
    await createTab(input.value);
    input.value = "";
  }));
  $("more-tabs").addEventListener("click", guard(() => loadTabs({ more: true })));

  $("rename-tab").addEventListener("click", () => {
    $("delete-confirm").hidden = true;
    $("rename-form").hidden = false;
    const input = $("rename-input");
    input.value = tabTitle(state.currentId) ?? "";
    input.focus();
    input.select();
  });
  $("rename-cancel").addEventListener("click", () => { hideTabForms(); $("rename-tab").focus(); });
  $("rename-form").addEventListener("submit", guard(async (event) => {
    event.preventDefault();
    await renameTab($("rename-input").value.trim());
    hideTabForms();
    $("rename-tab").focus();
  }));
  $("rename-form").addEventListener("keydown", (event) => {
    if (event.key === "Escape") { hideTabForms(); $("rename-tab").focus(); }
  });

  $("delete-tab").addEventListener("click", () => {
    $("rename-form").hidden = true;
    $("delete-question").textContent = `Delete “${tabTitle(state.currentId) || "Untitled"}” and all its messages?`;
    $("delete-confirm").hidden = false;
    $("delete-no").focus();
  });
  $("delete-no").addEventListener("click", () => { hideTabForms(); $("delete-tab").focus(); });
  $("delete-yes").addEventListener("click", guard(async () => {
    hideTabForms();
    await deleteCurrentTab();
    $("new-tab-title").focus();
  }));

  $("load-older").addEventListener("click", guard(loadOlder));
  $("load-newer").addEventListener("click", guard(loadNewer));
  $("message-scroller").addEventListener("scroll", guard(async () => {
    const scroller = $("message-scroller");
    if (scroller.scrollTop < 8 && state.hasOlder && !state.loading) await loadOlder();
  }));

  $("composer").addEventListener("submit", (event) => { event.preventDefault(); submitComposer(); });
  $("composer-input").addEventListener("keydown", (event) => {
    // Enter sends; Shift+Enter (and Enter while an IME is composing) inserts a newline.
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing && !event.altKey && !event.ctrlKey && !event.metaKey) {
      event.preventDefault();
      submitComposer();
    }
  });
}

/** Loads the tab list and reopens the remembered tab (after sign-in). */
export async function startChat() {
  await loadTabs();
  const remembered = state.tabs.some((t) => t.id === state.currentId) ? state.currentId : state.tabs[0]?.id ?? null;
  state.currentId = null;
  await selectTab(remembered);
}

/** Forgets everything shown (sign-out). */
export function resetChat() {
  state.tabs = [];
  state.nextCursor = null;
  state.messages = [];
  state.outbox.clear();
  state.currentId = null;
  renderTabs();
  renderMessages();
  showError($("sign-in-error"), "");
}
