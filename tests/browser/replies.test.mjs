// Browser tests of assistant replies in the UI: headless Chromium (playwright-core) against the
// worker under workerd, whose model upstream is the local OpenAI-compatible fixture
// (tests/fixtures/llm_server.mjs). The reply streams into a bubble, stops, fails with its error,
// resumes after a dropped stream or a reload without repeating text, renders citations as links,
// and shows live in a second window (WebSocket), and after a reload.
//
// UPDATE_DOCS_IMG=1 also writes the README's screenshot, docs/img/reply-streaming.png.
import { describe, test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { Browser, SHOTS, createTab } from "./app.mjs";
import { startWorker, call, ROOT } from "../e2e/harness.mjs";
import { startLlmServer, DEFAULT_TEXT } from "../fixtures/llm_server.mjs";

let llm;
let worker;
let browser;
let failed = false;

before(async () => {
  llm = await startLlmServer({ chunkChars: 3, delayMs: 20 });
  worker = await startWorker({
    vars: { LLM_UPSTREAM_URL: llm.base, LLM_MODEL: "fixture-ok", FLUSH_INTERVAL_MS: "100" },
  });
  browser = await Browser.launch();
});

afterEach((ctx) => {
  if (ctx && ctx.passed === false) failed = true;
  llm?.configure({ delayMs: 20, text: DEFAULT_TEXT, chunkChars: 3 });
});

after(async () => {
  await browser?.close();
  if (worker) {
    if (failed) console.error(`--- wrangler log (${worker.logPath}) ---\n${worker.log()}`);
    await worker.stop();
  }
  await llm?.close();
});

/** The app in a fresh context, signed in as `user` (see `Browser.openApp`). */
const openApp = (user, options) => browser.openApp(worker.base, user, options);

async function ask(page, text) {
  await page.fill("#composer-input", text);
  await page.press("#composer-input", "Enter");
}

const bubbles = (page) => page.locator("#message-list li[data-reply-id]");
const lastBubble = (page) => bubbles(page).last();
const bubbleText = (locator) => locator.locator(".message-body").evaluate((n) => n.textContent);
/** Waits until the last bubble has the reply status `status`. */
const waitStatus = (page, status) => page.locator(`#message-list li[data-reply-id][data-reply-status="${status}"]`).last().waitFor();
/** Waits until the last bubble shows at least `n` characters. */
const waitChars = (page, n) => page.waitForFunction((min) => {
  const items = document.querySelectorAll("#message-list li[data-reply-id] .message-body");
  return items.length && items[items.length - 1].textContent.length >= min;
}, n);
const currentTabId = (page) => page.getAttribute('.tab-button[aria-current="true"]', "data-tab-id");

/** Samples the last bubble's text every few ms until `stop()`; each sample must be a prefix of `full`. */
function watchPrefix(page, full) {
  const samples = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const text = await page.evaluate(() => {
        const items = document.querySelectorAll("#message-list li[data-reply-id] .message-body");
        return items.length ? items[items.length - 1].textContent : null;
      }).catch(() => null);
      if (text != null) samples.push(text);
      await new Promise((r) => setTimeout(r, 15));
    }
  })();
  return async () => {
    running = false;
    await loop;
    for (const s of samples) assert.ok(full.startsWith(s), `a shown text is not a prefix of the reply: ${JSON.stringify(s)}`);
    return samples;
  };
}

describe("assistant replies in the UI", () => {
  test("a reply streams into an assistant bubble, with Stop while it streams", async () => {
    const text = "Durable Objects give each chat tab a single writer, so a reply is stored in order " +
      "and a client that reconnects resumes from the last event id it saw. Nothing repeats, nothing vanishes.";
    llm.configure({ text, delayMs: 45, chunkChars: 4 });
    const { page, problems, token } = await openApp("streamer");
    const starts = [];
    page.on("request", (req) => {
      if (req.method() === "POST" && /\/replies$/.test(new URL(req.url()).pathname)) starts.push(req.postDataJSON());
    });
    await createTab(page, "How replies work");
    const stop = watchPrefix(page, text);
    await ask(page, "Why can a reply never repeat text when the network drops?");
    await waitStatus(page, "streaming");
    await page.locator("#stop-reply").waitFor({ state: "visible" });
    assert.equal(await page.locator("#send").isVisible(), false, "Stop replaces Send while streaming");
    await waitChars(page, Math.floor(text.length / 2));
    await page.locator("#message-list li[data-reply-id] .state.streaming").waitFor();
    await page.screenshot({ path: join(SHOTS, "reply-streaming.png") });
    if (process.env.UPDATE_DOCS_IMG) {
      mkdirSync(join(ROOT, "docs", "img"), { recursive: true });
      copyFileSync(join(SHOTS, "reply-streaming.png"), join(ROOT, "docs", "img", "reply-streaming.png"));
    }
    await waitStatus(page, "complete");
    const samples = await stop();
    assert.ok(samples.some((s) => s.length > 0 && s.length < text.length), "the text was seen growing");
    assert.equal(await bubbleText(lastBubble(page)), text);
    await page.locator("#send").waitFor({ state: "visible" });
    assert.equal(await page.locator("#stop-reply").isVisible(), false);
    assert.equal(await lastBubble(page).locator('button[data-action="regenerate"]').innerText(), "Regenerate");

    // One start, with a client_id derived from the message's, for message #1.
    const userClientId = await page.getAttribute('#message-list li[data-seq="1"]', "data-client-id");
    assert.deepEqual(starts, [{ message_seq: 1, client_id: `reply:${userClientId}` }]);
    const tabId = await currentTabId(page);
    const listed = await call(worker.base, "GET", `/api/tabs/${tabId}/messages`, { token });
    assert.deepEqual(listed.body.messages.map((m) => [m.seq, m.role, m.status ?? null]), [[1, "user", null], [2, "assistant", "complete"]]);
    assert.equal(listed.body.messages[1].content, text);
    assert.deepEqual(problems, []);
  });

  test("Stop cancels: the partial text stays, the bubble says cancelled; Regenerate answers again", async () => {
    llm.configure({ delayMs: 150 });
    const { page, problems } = await openApp("stopper");
    await createTab(page, "Stop me");
    await ask(page, "Say something slowly.");
    await waitChars(page, 9);
    await page.click("#stop-reply");
    await waitStatus(page, "cancelled");
    const partial = await bubbleText(lastBubble(page));
    assert.ok(partial.length >= 9 && partial.length < DEFAULT_TEXT.length, `partial: ${partial}`);
    assert.ok(DEFAULT_TEXT.startsWith(partial));
    assert.match(await lastBubble(page).innerText(), /cancelled[\s\S]*Stopped; the text so far is kept\./);
    await page.locator("#live", { hasText: "Reply stopped" }).waitFor();
    await page.locator("#send").waitFor({ state: "visible" });
    await page.reload();
    await waitStatus(page, "cancelled");
    assert.equal(await bubbleText(lastBubble(page)), partial, "the stored text is the text shown");

    llm.configure({ delayMs: 5 });
    await lastBubble(page).locator('button[data-action="regenerate"]').click();
    await page.waitForFunction(() => document.querySelectorAll("#message-list li[data-reply-id]").length === 2);
    await waitStatus(page, "complete");
    assert.equal(await bubbleText(lastBubble(page)), DEFAULT_TEXT);
    assert.deepEqual(await page.$$eval("#message-list li", (lis) => lis.map((li) => [li.dataset.seq, li.dataset.replyStatus ?? null])),
      [["1", null], ["2", "cancelled"], ["3", "complete"]]);
    assert.deepEqual(problems, []);
  });

  test("a failed reply shows its error and the text so far; Retry starts a new reply", async () => {
    const { page, problems } = await openApp("failer");
    await createTab(page, "Faults");
    assert.equal(await page.locator("#role-select").isVisible(), false, "the role selector is an advanced option, collapsed");
    await page.click("#composer-advanced summary");
    await page.fill("#model-input", "fixture-error"); // the fixture fails mid-stream for this model
    await ask(page, "Fail halfway, please.");
    await waitStatus(page, "failed");
    const bubble = lastBubble(page);
    assert.match(await bubble.locator(".reply-error").innerText(), /fixture error mid-stream \(upstream_error\)/);
    const kept = await bubbleText(bubble);
    assert.ok(kept.length > 0 && DEFAULT_TEXT.startsWith(kept), `text so far kept: ${kept}`);
    await page.locator("#live", { hasText: "The reply failed" }).waitFor();
    // After a reload the error comes from GET …/replies/{id}.
    await page.reload();
    await waitStatus(page, "failed");
    await lastBubble(page).locator(".reply-error", { hasText: "fixture error mid-stream" }).waitFor();
    await shotOf(page, "reply-failed");

    await page.click("#composer-advanced summary");
    await page.fill("#model-input", "");
    await lastBubble(page).locator('button[data-action="regenerate"]', { hasText: "Retry" }).click();
    await page.waitForFunction(() => document.querySelectorAll("#message-list li[data-reply-id]").length === 2);
    await waitStatus(page, "complete");
    assert.equal(await bubbleText(lastBubble(page)), DEFAULT_TEXT);
    assert.deepEqual(problems, []);
  });

  test("a dropped event stream resumes with ?after=<last id>: no text repeated or lost", async () => {
    llm.configure({ delayMs: 20 });
    const { page, problems } = await openApp("dropper");
    await createTab(page, "Flaky stream");
    const afters = [];
    await page.route("**/api/tabs/*/replies/*/events*", async (route) => {
      const after = new URL(route.request().url()).searchParams.get("after");
      afters.push(after);
      if (afters.length > 1) return route.continue();
      // The first stream carries the context and five deltas, then the connection ends.
      const response = await route.fetch();
      const events = (await response.text()).split("\n\n").filter((b) => b.startsWith("id: "));
      await route.fulfill({ status: 200, headers: { "content-type": "text/event-stream" }, body: events.slice(0, 6).join("\n\n") + "\n\n" });
    });
    await ask(page, "Stream with a hiccup.");
    await waitStatus(page, "complete");
    assert.equal(await bubbleText(lastBubble(page)), DEFAULT_TEXT);
    assert.deepEqual(afters, ["0", "6"], "resumed after the last event seen");
    assert.deepEqual(problems, []);
  });

  test("reloading mid-reply picks the stream up again without duplicates", async () => {
    llm.configure({ delayMs: 200 });
    const { page, problems, token } = await openApp("reloader");
    await createTab(page, "Reload me");
    await ask(page, "Take your time.");
    await waitChars(page, 12);
    await page.reload();
    await page.locator("#message-list li[data-reply-id]").waitFor();
    const stop = watchPrefix(page, DEFAULT_TEXT);
    assert.equal(await lastBubble(page).getAttribute("data-reply-status"), "streaming", "still streaming after the reload");
    await page.locator("#stop-reply").waitFor({ state: "visible" });
    await waitStatus(page, "complete");
    await stop();
    assert.equal(await bubbleText(lastBubble(page)), DEFAULT_TEXT);
    assert.equal(await bubbles(page).count(), 1);
    const tabId = await currentTabId(page);
    const listed = await call(worker.base, "GET", `/api/tabs/${tabId}/messages`, { token });
    assert.equal(listed.body.messages.length, 2, "no second reply was started by the reload");
    assert.deepEqual(problems, []);
  });

  test("citations [n] render as links to the reply's sources; others stay text", async () => {
    const text = "Objects are single-threaded [1], as we discussed [2]; see the driver [3]. Not a source: [9]. Bad [4].\n" +
      "```\nlet x = a[1];\n```";
    llm.configure({ text, delayMs: 0 });
    const { page, problems } = await openApp("citer");
    await createTab(page, "Sources");
    await ask(page, "Cite your sources.");
    await waitStatus(page, "complete");
    assert.equal(await lastBubble(page).locator("a.cite").count(), 0, "no citations today: plain text");
    const tabId = await currentTabId(page);
    // Grounding is not wired on the server yet: stub the reply with four citations.
    const citations = [
      { n: 1, source: "web", title: "Durable Objects docs", url: "https://developers.cloudflare.com/durable-objects/" },
      { n: 2, source: "history", title: "Our earlier chat", tab_id: tabId, seq: 1 },
      { n: 3, source: "code", title: "reply driver", path: "src/edge/objects/reply.rs", line: 42 },
      { n: 4, source: "web", title: "Not a web link", url: "javascript:window.__pwned=1" },
    ];
    await page.route(/\/api\/tabs\/[^/]+\/replies\/[^/?]+$/, async (route) => {
      if (route.request().method() !== "GET") return route.continue();
      const response = await route.fetch();
      const reply = await response.json();
      await route.fulfill({ response, json: { ...reply, citations } });
    });
    await page.reload();
    const bubble = lastBubble(page);
    await bubble.locator("a.cite").first().waitFor();
    const links = await bubble.locator(".message-body a.cite").evaluateAll((as) => as.map((a) => ({
      text: a.textContent, href: a.getAttribute("href"), target: a.getAttribute("target"), rel: a.getAttribute("rel"), title: a.title,
    })));
    assert.deepEqual(links.map((l) => l.text), ["[1]", "[2]", "[3]", "[4]"]);
    assert.equal(links[0].href, "https://developers.cloudflare.com/durable-objects/");
    assert.equal(links[0].target, "_blank");
    assert.equal(links[0].rel, "noopener noreferrer");
    assert.equal(links[1].href, `#tab=${tabId}&seq=1`);
    assert.equal(links[2].href, null, "code sources have no page yet");
    assert.match(links[2].title, /src\/edge\/objects\/reply\.rs:42/);
    assert.equal(links[3].href, null, "only http(s) URLs become hrefs");
    assert.equal(await bubble.locator(".message-body p").first().textContent(), text.split("\n")[0], "the text itself is unchanged");
    assert.equal(await bubble.locator("pre a").count(), 0, "[1] inside code stays code");
    assert.equal(await bubble.locator(".sources li").count(), 4);
    assert.match(await bubble.locator(".sources").innerText(), /src\/edge\/objects\/reply\.rs:42/);
    await shotOf(page, "reply-citations");
    // A history citation opens the message in the app.
    await bubble.locator('.message-body a.cite[data-seq="1"]').click();
    await page.locator('#message-list li.highlight[data-seq="1"]').waitFor();
    assert.equal(await page.evaluate(() => window.__pwned), undefined);
    assert.deepEqual(problems, []);
  });

  test("a second window sees the message and the streaming reply live (WebSocket), then after a reload", async () => {
    llm.configure({ delayMs: 100 });
    const { page: first, problems } = await openApp("two-windows");
    await createTab(first, "Shared tab");
    const { page: second, problems: problems2 } = await openApp("two-windows");
    await second.locator("#conversation-title", { hasText: "Shared tab" }).waitFor();
    await ask(first, "Both windows should see this.");
    // No reload: the second window gets the user message and follows the reply as it streams.
    await second.locator("#message-list li", { hasText: "Both windows should see this." }).waitFor();
    await waitChars(second, 6);
    const stopSecond = watchPrefix(second, DEFAULT_TEXT);
    await waitStatus(second, "complete");
    await stopSecond();
    assert.equal(await bubbleText(lastBubble(second)), DEFAULT_TEXT);
    // A rename in the first window shows in the second one's tab list.
    await first.click("#rename-tab");
    await first.fill("#rename-input", "Renamed together");
    await first.press("#rename-input", "Enter");
    await second.locator(".tab-button", { hasText: "Renamed together" }).waitFor();
    await second.reload();
    await waitStatus(second, "complete");
    await waitStatus(first, "complete");
    assert.equal(await bubbleText(lastBubble(second)), DEFAULT_TEXT);
    assert.equal(await bubbleText(lastBubble(first)), DEFAULT_TEXT);
    assert.deepEqual(await messagesOf(second), await messagesOf(first));
    assert.deepEqual([...problems, ...problems2], []);
  });
});

const messagesOf = (page) => page.$$eval("#message-list li", (lis) => lis.map((li) => [li.dataset.seq, li.querySelector(".message-body").textContent]));

async function shotOf(page, name) {
  await page.screenshot({ path: join(SHOTS, `${name}.png`) });
}
