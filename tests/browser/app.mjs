// What the browser tests share: Chromium launched headless, a signed-in app page that records
// page and console errors, a chat tab created through the UI, and the screenshots folder. Each
// test file starts its own worker and fixtures; this module only drives the browser.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { tokenFor, ROOT } from "../e2e/harness.mjs";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
/** Where the tests' screenshots go (printed at the end of each file). */
export const SHOTS = process.env.SCREENSHOT_DIR ?? join(ROOT, "test-artifacts", "screenshots");
mkdirSync(SHOTS, { recursive: true });

/** Debian's Chromium, headless, with the background services that would reach out turned off. */
export function launchChromium() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
      "--disable-component-update", "--no-first-run", "--disable-quic", "--disable-sync",
      "--disable-dev-shm-usage",
    ],
  });
}

/**
 * The browser of one test file and the contexts it opened, all closed by `close()`.
 * `timeoutMs` is every page's default timeout.
 */
export class Browser {
  constructor(browser, { timeoutMs = 15_000 } = {}) {
    this.browser = browser;
    this.timeoutMs = timeoutMs;
    this.contexts = [];
  }

  static async launch(options) {
    return new Browser(await launchChromium(), options);
  }

  /** A fresh context (empty localStorage), closed with the browser. */
  async newContext({ viewport = { width: 1180, height: 820 }, colorScheme = "light" } = {}) {
    const context = await this.browser.newContext({ viewport, colorScheme, deviceScaleFactor: 1 });
    this.contexts.push(context);
    return context;
  }

  /**
   * A new page (tab) in `context`. `problems` collects page errors and console errors other
   * than failed resource loads (which the tests provoke on purpose); a CSP violation shows up
   * there.
   */
  async newPage(context) {
    const page = await context.newPage();
    page.setDefaultTimeout(this.timeoutMs);
    const problems = [];
    page.on("pageerror", (err) => problems.push(`pageerror: ${err.message}`));
    page.on("console", (msg) => {
      if (msg.type() === "error" && !/Failed to load resource/.test(msg.text())) problems.push(`console: ${msg.text()}`);
    });
    return { page, problems };
  }

  /**
   * The app at `base` in a fresh context, signed in as `user` through the `#token=` link (or
   * not, with `signIn: false`); waits for the chat panel when signed in.
   */
  async openApp(base, user, { viewport, colorScheme, signIn = true } = {}) {
    const context = await this.newContext({ viewport, colorScheme });
    const { page, problems } = await this.newPage(context);
    const token = tokenFor(user);
    await page.goto(signIn ? `${base}/#token=${token}` : `${base}/`);
    if (signIn) await page.locator("#panel-chat").waitFor({ state: "visible" });
    return { context, page, problems, token };
  }

  async close() {
    for (const context of this.contexts) await context.close().catch(() => {});
    await this.browser.close().catch(() => {});
  }
}

/** Creates a chat tab named `title` through the sidebar form and waits until it is usable. */
export async function createTab(page, title) {
  await page.fill("#new-tab-title", title);
  await page.click("#new-tab-form button[type=submit]");
  await page.locator("#conversation-title", { hasText: title }).waitFor();
  await page.locator("#composer-input:not([disabled])").waitFor();
  // The form clears its input once the new tab's messages have loaded: a title typed before
  // that would be wiped.
  await page.waitForFunction(() => document.getElementById("new-tab-title").value === "");
}
