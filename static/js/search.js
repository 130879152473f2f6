// The search panel: web search (through the worker's cache; the answer says hit, miss or stale)
// and BM25 search over the user's chat history, whose hits open the message in its tab.
import { api, ApiError, timingText } from "./api.js";
import { $, el, announce, showError } from "./dom.js";
import { currentTabId, openMessage, tabTitle } from "./chat.js";

const CACHE_WORDS = {
  hit: "cache hit",
  miss: "cache miss (fetched from the upstream)",
  stale: "stale (served from cache while it refreshes)",
};

/** Only http(s) links become clickable; anything else is shown as text. */
function safeHref(url) {
  try {
    const parsed = new URL(url);
    return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : null;
  } catch {
    return null;
  }
}

function webResult(result) {
  const href = safeHref(result.url);
  const title = href
    ? el("a", { class: "title", text: result.title || result.url, attrs: { href, rel: "noopener noreferrer nofollow", target: "_blank" } })
    : el("span", { class: "title", text: result.title || result.url });
  return el("li", { class: "web-result" }, [
    title,
    el("span", { class: "url", text: result.url }),
    result.snippet ? el("p", { class: "snippet", text: result.snippet }) : null,
    result.engine ? el("span", { class: "muted", text: `via ${result.engine}` }) : null,
  ]);
}

function historyResult(hit, openHit) {
  const title = tabTitle(hit.tab_id) || "a tab";
  return el("li", { class: "history-result" }, [
    el("button", {
      class: "link-button title",
      text: `${title} · #${hit.seq} (${hit.role})`,
      attrs: { type: "button", "data-tab-id": hit.tab_id, "data-seq": hit.seq },
      on: { click: () => openHit(hit) },
    }),
    el("p", { class: "snippet", text: hit.snippet }),
    el("span", { class: "muted", text: `score ${Number(hit.score).toFixed(3)}` }),
  ]);
}

export function initSearch({ showPanel }) {
  const form = $("search-form");
  const results = $("search-results");
  const meta = $("search-meta");
  const error = $("search-error");

  const openHit = async (hit) => {
    try {
      showPanel("chat");
      await openMessage(hit.tab_id, hit.seq);
    } catch (err) {
      announce(err instanceof ApiError ? err.message : String(err), { bad: true });
    }
  };

  const syncTabOption = () => {
    const history = form.elements.source.value === "history";
    $("search-this-tab").disabled = !history || !currentTabId();
  };
  for (const radio of form.querySelectorAll('input[name="source"]')) radio.addEventListener("change", syncTabOption);
  syncTabOption();

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    syncTabOption();
    const q = $("search-input").value.trim();
    if (!q) return;
    const source = form.elements.source.value;
    const params = new URLSearchParams({ q, source, limit: "10" });
    if (source === "history" && $("search-this-tab").checked && currentTabId()) params.set("tab", currentTabId());
    showError(error, "");
    meta.hidden = false;
    meta.textContent = "Searching…";
    form.setAttribute("aria-busy", "true");
    try {
      const result = await api("GET", `/api/search?${params}`);
      const body = result.body;
      const count = body.results.length;
      meta.replaceChildren();
      if (source === "web") {
        const cache = body.cache ?? "miss";
        meta.append(
          el("span", { class: `badge ${cache}`, attrs: { "data-cache": cache }, text: cache }),
          ` ${count} result${count === 1 ? "" : "s"} · ${CACHE_WORDS[cache] ?? cache} · ${timingText(result)}`,
        );
        results.replaceChildren(...body.results.map(webResult));
        announce(`${count} web results, ${CACHE_WORDS[cache] ?? cache}.`);
      } else {
        meta.append(`${count} of ${body.total} matching messages · ${timingText(result)}`);
        results.replaceChildren(...body.results.map((hit) => historyResult(hit, openHit)));
        announce(`${count} history results.`);
      }
      if (count === 0) results.replaceChildren(el("li", { class: "muted", text: "No results." }));
    } catch (err) {
      meta.hidden = true;
      results.replaceChildren();
      const hint = err.code === "not_configured" ? " (web search needs SEARCH_UPSTREAM_URL)" : "";
      showError(error, `${err.message}${hint}`);
    } finally {
      form.removeAttribute("aria-busy");
    }
  });

  return { syncTabOption };
}
