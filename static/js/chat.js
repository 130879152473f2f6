// The chat panel: tab list (create, rename, delete; most recently updated first), a message view
// that pages back with `before`, and a composer whose sends show at once (optimistic), carry a
// client_id so a retry can never store the message twice, and turn "saved" once the 201/200 arrives.
// A saved user message then gets the assistant's reply (POST …/replies, with its own client_id),
// which streams into an assistant bubble (reply.js) with a Stop button, its status, citations as
// links, and Regenerate / Retry.
import { api, ApiError, getToken } from "./api.js";
import { $, el, announce, formatTime, showError } from "./dom.js";
import { citationLink, citationTarget, renderContent } from "./render.js";
import { ReplyFollower } from "./reply.js";

const CURRENT_TAB_KEY = "edge-assistant.tab";
/** localStorage: {tab id: workspace id}, the code workspace each tab's replies may read. */
const TAB_WORKSPACES_KEY = "edge-assistant.tab-workspaces";
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
  /** reply id -> ReplyFollower (replies followed during this page's life, any tab). */
  followers: new Map(),
  /** reply id -> the reply as GET …/replies/{id} answered (citations, error, message_seq). */
  replyInfo: new Map(),
  /** reply ids whose GET is in flight. */
  replyFetching: new Set(),
  /** tab id -> a reply start that failed {message_seq, client_id, error} (shown with Retry). */
  replyStarts: new Map(),
  /** The server answered 503 not_configured to a reply: replies are off for this page's life. */
  repliesOff: false,
};

const listeners = { tabChange: [] };
/** Subscribes to current-tab changes (the status panel shows that tab's stats). */
export function onTabChange(fn) { listeners.tabChange.push(fn); }
export function currentTabId() { return state.currentId; }
export function tabTitle(id) { return state.tabs.find((t) => t.id === id)?.title ?? null; }

// ---------- the workspace a tab uses ----------

/** The user's workspaces [{id, name}] (from the Workspaces panel); null until it has loaded them. */
let workspaceOptions = null;

function tabWorkspaceMap() {
  try {
    const parsed = JSON.parse(localStorage.getItem(TAB_WORKSPACES_KEY) ?? "{}");
    return parsed && typeof parsed === "object" && !Array.isArray(parsed) ? parsed : {};
  } catch {
    return {};
  }
}

/** The workspace chosen for tab `tabId` ("" for none, or when that workspace no longer exists). */
export function tabWorkspace(tabId) {
  if (!tabId) return "";
  const id = tabWorkspaceMap()[tabId];
  if (typeof id !== "string" || !id) return "";
  if (workspaceOptions && !workspaceOptions.some((w) => w.id === id)) return "";
  return id;
}

function setTabWorkspace(tabId, workspaceId) {
  const map = tabWorkspaceMap();
  if (workspaceId) map[tabId] = workspaceId;
  else delete map[tabId];
  try { localStorage.setItem(TAB_WORKSPACES_KEY, JSON.stringify(map)); } catch { /* storage disabled */ }
}

/** The Workspaces panel's list changed: refill the chat's workspace selector. */
export function setWorkspaceOptions(list) {
  workspaceOptions = list;
  renderWorkspaceSelect();
}

/** The options the selector shows, as JSON: rebuilt only when they change (not on every render). */
let shownWorkspaceOptions = "";

function renderWorkspaceSelect() {
  const select = $("workspace-select");
  const chosen = tabWorkspace(state.currentId);
  const key = JSON.stringify(workspaceOptions ?? []);
  if (key !== shownWorkspaceOptions) {
    shownWorkspaceOptions = key;
    select.replaceChildren(
      el("option", { text: "None", attrs: { value: "" } }),
      ...(workspaceOptions ?? []).map((w) => el("option", { text: w.name, attrs: { value: w.id } })),
    );
  }
  select.value = chosen;
  select.disabled = !state.currentId;
}

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
  renderWorkspaceSelect();
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

function messageItem(message, { status = null, error = null, onRetry, onDiscard } = {}) {
  if (message.reply_id) return replyItem(message);
  const { seq, role, content, created_at, client_id } = message;
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
  const failedStart = state.currentId ? state.replyStarts.get(state.currentId) : null;
  if (failedStart) items.push(replyStartItem(state.currentId, failedStart));
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
  followStreaming();
  fetchReplyInfo();
  updateComposer();
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
  if (changed) closeLive();
  if (id && load) {
    try {
      await loadLatest();
      if (id === state.currentId) connectLive(id);
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
    // The reply's client_id comes from the message's: a retried send cannot start two replies.
    if (pending.role === "user") {
      startReply(tabId, message.seq, `reply:${pending.client_id}`).catch((err) => announce(failText(err), { bad: true }));
    }
  } catch (err) {
    pending.status = "failed";
    pending.error = failText(err);
    // The tab's live socket may have shown the message saved meanwhile (the request reached the
    // server, its answer was lost): then it is saved, and its reply starts from here.
    if (!outboxFor(tabId).includes(pending)) {
      const saved = state.messages.find((m) => m.client_id === pending.client_id);
      if (saved) startSavedReply(tabId, saved);
      return;
    }
    if (tabId === state.currentId) renderMessages({ keepBottom: true });
    announce(`Message not saved: ${pending.error}`, { bad: true });
  }
}

/** Starts the reply to a user message whose send's answer was lost but which the server has. */
function startSavedReply(tabId, message) {
  if (message.role !== "user" || !message.client_id) return;
  announce(`Message #${message.seq} was saved (its answer was lost on the way).`);
  startReply(tabId, message.seq, `reply:${message.client_id}`).catch((err) => announce(failText(err), { bad: true }));
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
  if ($("role-select").value === "user" && streamingFollower(state.currentId)) {
    announce("A reply is still streaming in this tab: wait for it or press Stop, then send.", { bad: true });
    return;
  }
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

// ---------- assistant replies ----------

const REPLY_LABELS = {
  streaming: "streaming",
  complete: "",
  truncated: "truncated",
  cancelled: "cancelled",
  failed: "failed",
};

/** The reply following in tab `tabId` that has not ended, if any. */
function streamingFollower(tabId) {
  for (const follower of state.followers.values()) {
    if (follower.tabId === tabId && !follower.ended) return follower;
  }
  return null;
}

/** What an assistant message shows: its text, status, citations and error, live or stored. */
function replyView(m) {
  const follower = state.followers.get(m.reply_id);
  const info = state.replyInfo.get(m.reply_id) ?? follower?.reply ?? null;
  const live = follower && follower.status !== "lost" ? follower : null;
  const status = live ? live.status : info?.status ?? m.status ?? "complete";
  const content = live ? live.content(m.content ?? "") : (info && info.content.length > (m.content ?? "").length ? info.content : m.content ?? "");
  const citations = (live?.citations?.length ? live.citations : null) ?? info?.citations ?? [];
  const error = live?.error ?? info?.error ?? null;
  return { status, content, citations, error, reconnecting: !!live?.reconnecting && !live.ended, info, follower };
}

function replyItem(m) {
  const v = replyView(m);
  const label = REPLY_LABELS[v.status] ?? v.status;
  const badge = v.status === "streaming"
    ? el("span", { class: "state streaming", attrs: { "data-reply-state": "streaming" } }, [
      v.reconnecting ? "reconnecting…" : "streaming", el("span", { class: "dots", attrs: { "aria-hidden": "true" } }),
    ])
    : label ? el("span", { class: `state reply-${v.status}`, attrs: { "data-reply-state": v.status }, text: label }) : null;
  const head = el("div", { class: "message-head" }, [
    el("span", { class: "role", text: "assistant" }),
    m.seq != null ? el("span", { class: "seq", text: `#${m.seq}` }) : null,
    m.created_at ? el("time", { attrs: { datetime: m.created_at }, text: formatTime(m.created_at) }) : null,
    badge,
  ]);
  const body = el("div", { class: "message-body", attrs: { "aria-busy": v.status === "streaming" ? "true" : false } }, [
    renderContent(v.content, { citations: v.citations, onHistory: (tabId, seq) => { openMessage(tabId, seq).catch((err) => announce(failText(err), { bad: true })); } }),
  ]);
  const item = el("li", {
    class: `message role-assistant reply reply-${v.status}`,
    attrs: { "data-seq": m.seq ?? false, "data-reply-id": m.reply_id, "data-reply-status": v.status, "data-state": "saved", tabindex: -1 },
  }, [head, body]);
  if (v.citations.length) {
    item.append(el("ol", { class: "sources", attrs: { "aria-label": "Sources" } }, v.citations.map((c, i) => el("li", {}, [
      el("span", { class: "muted", text: `[${c.n ?? i + 1}] ` }),
      citationLink(c, c.title || citationTarget(c), (tabId, seq) => { openMessage(tabId, seq).catch((err) => announce(failText(err), { bad: true })); }),
      el("span", { class: "muted source-target", text: ` ${citationTarget(c)}` }),
    ]))));
  }
  if (v.status === "failed") {
    const error = v.error ? `${v.error.message} (${v.error.code})` : "The reply failed.";
    item.append(el("p", { class: "error reply-error", attrs: { role: "alert" }, text: error }));
  } else if (v.status === "truncated") {
    item.append(el("p", { class: "muted reply-note", text: `The reply was cut short${v.info?.finish_reason ? ` (${v.info.finish_reason})` : ""}; the text so far is kept.` }));
  } else if (v.status === "cancelled") {
    item.append(el("p", { class: "muted reply-note", text: "Stopped; the text so far is kept." }));
  }
  if (v.status !== "streaming") {
    const again = v.status === "complete" ? "Regenerate" : "Retry";
    item.append(el("div", { class: "row reply-actions" }, [
      el("button", {
        text: again,
        attrs: { type: "button", "data-action": "regenerate", title: "Start a new reply to the same message" },
        on: { click: () => regenerate(m).catch((err) => announce(failText(err), { bad: true })) },
      }),
    ]));
  }
  if (state.highlightSeq != null && m.seq === state.highlightSeq) item.classList.add("highlight");
  return item;
}

/** A reply that did not start, with Retry (the same client_id: never two replies) and Dismiss. */
function replyStartItem(tabId, start) {
  return el("li", { class: "message reply-start", attrs: { "data-state": "reply-failed" } }, [
    el("div", { class: "row" }, [
      el("span", { class: "error", text: `No reply to #${start.message_seq}: ${start.error}` }),
      el("button", {
        text: "Retry", attrs: { type: "button", "data-action": "retry-reply" },
        on: { click: () => startReply(tabId, start.message_seq, start.client_id) },
      }),
      el("button", {
        text: "Dismiss", attrs: { type: "button", "data-action": "dismiss-reply" },
        on: { click: () => { state.replyStarts.delete(tabId); renderMessages(); } },
      }),
    ]),
  ]);
}

const pendingRenders = new Set();
let renderScheduled = false;

/** Redraws the bubbles of `replyId` at the next frame (deltas arrive faster than frames). */
function scheduleReplyRender(replyId) {
  pendingRenders.add(replyId);
  if (renderScheduled) return;
  renderScheduled = true;
  requestAnimationFrame(() => {
    renderScheduled = false;
    const scroller = $("message-scroller");
    const atBottom = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 40;
    for (const id of pendingRenders) {
      const li = [...$("message-list").querySelectorAll("li[data-reply-id]")].find((n) => n.dataset.replyId === id);
      const m = state.messages.find((x) => x.reply_id === id);
      if (li && m) li.replaceWith(replyItem(m));
    }
    pendingRenders.clear();
    if (atBottom) scroller.scrollTop = scroller.scrollHeight;
    updateComposer();
  });
}

function onFollowerUpdate(follower) {
  if (follower.ended && !follower.announced) {
    follower.announced = true;
    const m = state.messages.find((x) => x.reply_id === follower.replyId);
    if (follower.reply) {
      state.replyInfo.set(follower.replyId, follower.reply);
      if (m) { m.content = follower.reply.content; m.status = follower.reply.status; }
    }
    if (follower.tabId === state.currentId) {
      const status = follower.reply?.status ?? follower.status;
      if (status === "complete") announce(`The assistant replied (#${follower.reply.assistant_seq}).`);
      else if (status === "cancelled") announce("Reply stopped; the text so far is kept.");
      else if (status === "truncated") announce("The reply was cut short; the text so far is kept.");
      else if (status === "failed") announce(`The reply failed: ${follower.error?.message ?? "unknown error"}`, { bad: true });
      else announce(`Lost track of the reply: ${follower.error?.message ?? ""} Reload to see it.`, { bad: true });
    }
  }
  scheduleReplyRender(follower.replyId);
}

/** Follows reply `replyId` of `tabId` (once per page life), showing at least `baseline`. */
function follow(tabId, replyId, baseline = "") {
  let follower = state.followers.get(replyId);
  if (!follower) {
    follower = new ReplyFollower({ tabId, replyId, baseline, onUpdate: onFollowerUpdate });
    state.followers.set(replyId, follower);
  }
  return follower;
}

/** Attaches to every reply of the current tab still streaming (e.g. after a reload). */
function followStreaming() {
  for (const m of state.messages) {
    if (m.reply_id && m.status === "streaming" && !state.followers.has(m.reply_id)) follow(state.currentId, m.reply_id, m.content ?? "");
  }
}

/** Fetches the replies whose citations or error a shown message needs (once each). */
function fetchReplyInfo() {
  const tabId = state.currentId;
  for (const m of state.messages) {
    const id = m.reply_id;
    if (!id || m.status === "streaming" || state.replyInfo.has(id) || state.replyFetching.has(id)) continue;
    if (state.followers.get(id)?.reply) continue;
    const needs = /\[\d{1,4}\]/.test(m.content ?? "") || m.status === "failed" || m.status === "truncated";
    if (!needs) continue;
    state.replyFetching.add(id);
    api("GET", `/api/tabs/${encodeURIComponent(tabId)}/replies/${encodeURIComponent(id)}`)
      .then(({ body }) => { state.replyInfo.set(id, body); scheduleReplyRender(id); })
      .catch(() => { /* shown without citations or error details */ })
      .finally(() => state.replyFetching.delete(id));
  }
}

/** Says once, under the composer, that this server has no model configured. */
function showRepliesOff(err) {
  state.repliesOff = true;
  const notice = $("reply-notice");
  notice.textContent = `Assistant replies are off on this server (${err.message}). Messages are still saved; nothing answers them. Set LLM_UPSTREAM_URL and LLM_MODEL to turn replies on.`;
  // The notice is a status region itself: announcing it again would replace the message's own
  // announcement ("saved", "already saved") in #live.
  notice.hidden = false;
}

/**
 * Starts the assistant's reply to user message `messageSeq` of `tabId`. `clientId` makes the start
 * idempotent: the same key answers the reply it started before instead of a second one.
 */
async function startReply(tabId, messageSeq, clientId = `reply:${crypto.randomUUID()}`) {
  if (state.repliesOff) return;
  const body = { message_seq: messageSeq, client_id: clientId };
  const model = $("model-input").value.trim();
  if (model) body.model = model;
  const workspace = tabWorkspace(tabId);
  if (workspace) body.workspace = workspace;
  state.replyStarts.delete(tabId);
  let reply;
  try {
    ({ body: { reply } } = await api("POST", `/api/tabs/${encodeURIComponent(tabId)}/replies`, { body }));
  } catch (err) {
    if (err instanceof ApiError && err.status === 503 && err.code === "not_configured") {
      showRepliesOff(err);
      return;
    }
    const text = err instanceof ApiError && err.status === 409
      ? "another reply is streaming in this tab (stop it or wait, then retry)."
      : failText(err);
    state.replyStarts.set(tabId, { message_seq: messageSeq, client_id: clientId, error: text });
    if (tabId === state.currentId) renderMessages({ keepBottom: true });
    announce(`The reply did not start: ${text}`, { bad: true });
    return;
  }
  const message = {
    seq: reply.assistant_seq, role: "assistant", content: reply.content ?? "", created_at: reply.created_at,
    reply_id: reply.id, status: reply.status,
  };
  if (reply.status === "streaming") follow(tabId, reply.id, reply.content ?? "");
  else state.replyInfo.set(reply.id, reply);
  const tab = state.tabs.find((t) => t.id === tabId);
  if (tab) upsertTab({ id: tabId, message_count: Math.max(tab.message_count ?? 0, reply.assistant_seq), updated_at: reply.created_at });
  if (tabId === state.currentId) {
    if (state.hasNewer) await loadLatest();
    else { mergeMessages([message]); renderMessages({ keepBottom: true }); }
    if (reply.status === "streaming") announce("The assistant is replying…");
  }
}

/** A new reply to the user message that `m`'s reply answered. */
async function regenerate(m) {
  if (state.repliesOff) {
    announce("Assistant replies are not configured on this server.", { bad: true });
    return;
  }
  if (streamingFollower(state.currentId)) {
    announce("A reply is still streaming in this tab: wait for it or press Stop.", { bad: true });
    return;
  }
  let seq = state.replyInfo.get(m.reply_id)?.message_seq ?? state.followers.get(m.reply_id)?.reply?.message_seq;
  if (seq == null) {
    const { body } = await api("GET", `/api/tabs/${encodeURIComponent(state.currentId)}/replies/${encodeURIComponent(m.reply_id)}`);
    state.replyInfo.set(m.reply_id, body);
    seq = body.message_seq;
  }
  await startReply(state.currentId, seq);
}

async function stopReply() {
  const follower = streamingFollower(state.currentId);
  if (!follower) return;
  $("stop-reply").disabled = true;
  try {
    await follower.cancel();
  } catch (err) {
    announce(`Could not stop the reply: ${failText(err)}`, { bad: true });
  } finally {
    $("stop-reply").disabled = false;
    updateComposer();
  }
}

/** Stop replaces Send while a reply streams in the current tab. */
function updateComposer() {
  const streaming = !!(state.currentId && streamingFollower(state.currentId));
  $("stop-reply").hidden = !streaming;
  $("send").hidden = streaming;
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

  $("workspace-select").addEventListener("change", () => {
    if (!state.currentId) return;
    const select = $("workspace-select");
    setTabWorkspace(state.currentId, select.value);
    const name = select.selectedOptions[0]?.textContent ?? "";
    announce(select.value ? `This tab's replies may read and cite workspace “${name}”.` : "This tab's replies use no workspace.");
  });
  $("composer").addEventListener("submit", (event) => { event.preventDefault(); submitComposer(); });
  $("stop-reply").addEventListener("click", () => stopReply());
  $("composer-input").addEventListener("keydown", (event) => {
    // Enter sends; Shift+Enter (and Enter while an IME is composing) inserts a newline.
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing && !event.altKey && !event.ctrlKey && !event.metaKey) {
      event.preventDefault();
      submitComposer();
    }
  });
}

// ---------- live updates (WebSocket) ----------
//
// The open tab keeps a WebSocket to GET /api/tabs/{id}/live (token as the `bearer` subprotocol,
// since browsers cannot set headers on a WebSocket): messages another window (or device) adds
// appear at once, an assistant message that starts streaming is followed over its resumable event
// stream (the exact text comes from there, so the socket's coalesced delta frames are not
// needed), status changes update the bubble, renames and deletes update the tab list. A dropped
// socket reconnects after a pause with `after` = the last message shown.

const LIVE_RETRY_MS = 2000;
let live = null;

function closeLive() {
  if (!live) return;
  live.closed = true;
  clearTimeout(live.retry);
  try { live.socket.close(1000); } catch { /* already closed */ }
  live = null;
}

function connectLive(tabId) {
  closeLive();
  const token = getToken();
  if (!token || !tabId || typeof WebSocket === "undefined") return;
  const after = state.messages.length ? state.messages[state.messages.length - 1].seq : 0;
  const url = `${location.origin.replace(/^http/, "ws")}/api/tabs/${encodeURIComponent(tabId)}/live?after=${after}`;
  let socket;
  try {
    socket = new WebSocket(url, ["bearer", token]);
  } catch {
    return;
  }
  const entry = { tabId, socket, closed: false, retry: null };
  live = entry;
  socket.addEventListener("message", (event) => {
    let frame;
    try { frame = JSON.parse(event.data); } catch { return; }
    if (live === entry) onLiveFrame(tabId, frame);
  });
  socket.addEventListener("close", () => {
    if (live !== entry || entry.closed || state.currentId !== tabId) return;
    entry.retry = setTimeout(() => { if (live === entry && state.currentId === tabId) connectLive(tabId); }, LIVE_RETRY_MS);
  });
}

function onLiveFrame(tabId, frame) {
  if (frame.type === "message" && frame.message && tabId === state.currentId) {
    const m = frame.message;
    const known = state.messages.find((x) => x.seq === m.seq);
    if (known) return;
    if (state.hasNewer) return; // the newest page is not shown; it loads when scrolled to
    // A send of this window whose request failed but reached the server: saved after all.
    const failed = m.client_id && outboxFor(tabId).find((p) => p.client_id === m.client_id && p.status === "failed");
    mergeMessages([m]);
    if (failed) startSavedReply(tabId, m);
    const tab = state.tabs.find((t) => t.id === tabId);
    if (tab) upsertTab({ id: tabId, message_count: Math.max(tab.message_count ?? 0, m.seq), updated_at: m.created_at });
    renderMessages({ keepBottom: true });
  } else if (frame.type === "reply" && frame.reply) {
    const r = frame.reply;
    if (r.status === "streaming") return; // its message frame starts the follower
    state.replyInfo.set(r.id, r);
    // A followed reply ends through its own event stream (`done`), in order with its text.
    if (state.followers.has(r.id)) return;
    const m = state.messages.find((x) => x.reply_id === r.id);
    if (m) { m.status = r.status; m.content = r.content; }
    scheduleReplyRender(r.id);
    updateComposer();
  } else if (frame.type === "tab" && frame.tab) {
    const t = frame.tab;
    if (t.deleted) {
      state.tabs = state.tabs.filter((x) => x.id !== t.id);
      renderTabs();
      if (state.currentId === t.id) {
        announce("This tab was deleted in another window.", { bad: true });
        selectTab(state.tabs[0]?.id ?? null).catch(() => {});
      }
    } else {
      upsertTab({ id: t.id, title: t.title, updated_at: t.updated_at });
    }
  }
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
  closeLive();
  state.tabs = [];
  state.nextCursor = null;
  state.messages = [];
  state.outbox.clear();
  for (const follower of state.followers.values()) follower.close();
  state.followers.clear();
  state.replyInfo.clear();
  state.replyStarts.clear();
  state.repliesOff = false;
  $("reply-notice").hidden = true;
  state.currentId = null;
  renderTabs();
  renderMessages();
  showError($("sign-in-error"), "");
}
