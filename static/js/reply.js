// One assistant reply followed over its event stream (GET …/replies/{id}/events, server-sent
// events read with fetch, since EventSource cannot send the Authorization header). Every event has
// an id that grows by 1 from 1 and the delta texts concatenate to exactly the stored content, so
// when the stream drops the follower resumes with `?after=<last id seen>` and the text never
// repeats or loses a piece. Events at or below the last id seen are ignored.
//
// A follower attached to a reply that already has text (a page reload mid-reply: the message
// list gave `content` so far, but no event id) starts from `after=0` and shows the longer of that
// stored text and the text rebuilt from the events: both are prefixes of the same final text, so
// nothing is ever shown twice.
import { api, ApiError, openEventStream } from "./api.js";
import { SseParser } from "./sse.js";

const MIN_BACKOFF_MS = 250;
const MAX_BACKOFF_MS = 5000;
const sleep = (ms, signal) => new Promise((resolve) => {
  const timer = setTimeout(resolve, ms);
  signal?.addEventListener("abort", () => { clearTimeout(timer); resolve(); }, { once: true });
});

export class ReplyFollower {
  /**
   * `tabId`, `replyId`: the reply; `baseline`: text already known (shown until the events pass it);
   * `onUpdate(follower)`: called after every change (events, reconnects, the end).
   */
  constructor({ tabId, replyId, baseline = "", onUpdate = () => {} }) {
    this.tabId = tabId;
    this.replyId = replyId;
    this.baseline = baseline;
    this.onUpdate = onUpdate;
    /** Text rebuilt from delta events, in id order. */
    this.text = "";
    this.lastId = 0;
    this.status = "streaming";
    this.citations = null;
    this.intent = null;
    this.error = null;
    /** The final reply (`done` event or cancel answer). */
    this.reply = null;
    this.ended = false;
    this.reconnecting = false;
    /** Event-stream requests made, with their `after` (for tests and the status line). */
    this.requests = [];
    this.controller = new AbortController();
    this.done = this.run();
  }

  /** What to show: the longer of the known text and the rebuilt one (both prefixes of the final text). */
  content(stored = "") {
    if (this.reply) return this.reply.content;
    let best = this.text;
    for (const candidate of [this.baseline, stored]) if (candidate.length > best.length) best = candidate;
    return best;
  }

  get path() {
    return `/api/tabs/${encodeURIComponent(this.tabId)}/replies/${encodeURIComponent(this.replyId)}`;
  }

  /** Stops following (the reply itself goes on on the server). */
  close() {
    this.controller.abort();
  }

  /** Asks the server to cancel the reply; resolves to the reply it answers. */
  async cancel() {
    const { body } = await api("POST", `${this.path}/cancel`, { body: {} });
    this.finish(body);
    return body;
  }

  finish(reply) {
    if (this.ended) return;
    this.reply = reply;
    this.status = reply.status;
    this.error = reply.error ?? null;
    if (reply.citations) this.citations = reply.citations;
    this.ended = true;
    this.reconnecting = false;
    this.controller.abort();
    this.onUpdate(this);
  }

  handle(event) {
    if (this.ended) return;
    const id = Number(event.id);
    if (event.id != null && Number.isInteger(id)) {
      if (id <= this.lastId) return; // already seen (a replay after a resume)
    }
    let data;
    try { data = JSON.parse(event.data); } catch { return; }
    if (event.event === "context") {
      this.citations = Array.isArray(data.citations) ? data.citations : [];
      this.intent = data.intent ?? null;
    } else if (event.event === "delta") {
      if (typeof data.text === "string") this.text += data.text;
    }
    if (event.id != null && Number.isInteger(id)) this.lastId = id;
    if (event.event === "done") {
      this.finish(data);
      return;
    }
    this.reconnecting = false;
    this.onUpdate(this);
  }

  async run() {
    const signal = this.controller.signal;
    let backoff = MIN_BACKOFF_MS;
    let emptyStreams = 0;
    while (!this.ended && !signal.aborted) {
      const before = this.lastId;
      try {
        this.requests.push(this.lastId);
        const response = await openEventStream(`${this.path}/events?after=${this.lastId}`, { signal });
        const reader = response.body.getReader();
        const parser = new SseParser((event) => this.handle(event));
        try {
          for (;;) {
            const { value, done } = await reader.read();
            if (done || this.ended) break;
            parser.push(value);
            if (this.lastId > before) backoff = MIN_BACKOFF_MS;
          }
        } finally {
          reader.cancel().catch(() => {});
        }
      } catch (err) {
        if (this.ended || signal.aborted) return;
        if (err instanceof ApiError && err.status !== 0 && !err.retryable) {
          // 404 (tab or reply gone), 401, 400: following cannot succeed.
          this.status = "lost";
          this.error = { code: err.code, message: err.message };
          this.ended = true;
          this.onUpdate(this);
          return;
        }
      }
      if (this.ended || signal.aborted) return;
      // The stream ended without `done` (a dropped connection): resume after the last id.
      if (this.lastId === before) emptyStreams++;
      else emptyStreams = 0;
      if (emptyStreams >= 2) {
        // Nothing new twice: ask the reply itself (it may have ended while we were away).
        try {
          const { body } = await api("GET", this.path);
          if (body.status !== "streaming") { this.finish(body); return; }
        } catch { /* try the stream again */ }
      }
      this.reconnecting = true;
      this.onUpdate(this);
      await sleep(backoff, signal);
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
    }
  }
}
