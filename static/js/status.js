// The status panel: worker health, today's token usage against the daily budget, the web-search
// cache's counters, and the current tab's
// batching/flush stats with a "Flush now" button.
import { api, timingText } from "./api.js";
import { $, announce, fillFacts, formatBytes, formatTime, showError } from "./dom.js";
import { currentTabId, tabTitle } from "./chat.js";

function ratio(hits, misses, stale) {
  const total = hits + misses + stale;
  return total ? `${(((hits + stale) / total) * 100).toFixed(1)} %` : "—";
}

function showTabStats(stats) {
  fillFacts($("st-tab"), [
    ["tab", tabTitle(currentTabId()) || "Untitled"],
    ["messages", stats.message_count],
    ["pending (not yet flushed)", stats.pending],
    ["flushes", stats.flushes],
    ["last flush", stats.last_flush_at ? formatTime(stats.last_flush_at) : "never"],
    ["storage write ops", stats.storage?.write_ops],
    ["storage bytes written", formatBytes(stats.storage?.bytes_written)],
  ]);
}

export async function refreshStatus() {
  const error = $("status-error");
  showError(error, "");
  const problems = [];
  const [health, usage, cache, tab] = await Promise.allSettled([
    api("GET", "/api/health", { auth: false }),
    api("GET", "/api/usage"),
    api("GET", "/api/search/cache/stats"),
    currentTabId() ? api("GET", `/api/tabs/${encodeURIComponent(currentTabId())}/stats`) : Promise.resolve(null),
  ]);
  if (health.status === "fulfilled") {
    fillFacts($("st-health"), [
      ["status", health.value.body.status],
      ["version", health.value.body.version],
      ["round trip", timingText(health.value)],
    ]);
  } else problems.push(`health: ${health.reason.message}`);
  if (usage.status === "fulfilled") {
    const u = usage.value.body;
    const used = u.prompt_tokens + u.completion_tokens;
    fillFacts($("st-usage"), [
      ["day (UTC)", u.date],
      ["tokens used", `${used} of ${u.limit_tokens} (${((used / u.limit_tokens) * 100).toFixed(1)} %)`],
      ["prompt / completion", `${u.prompt_tokens} / ${u.completion_tokens}`],
      ["held by replies in progress", u.reserved_tokens],
      ["replies", u.replies],
    ]);
  } else problems.push(`usage: ${usage.reason.message}`);
  if (cache.status === "fulfilled") {
    const c = cache.value.body;
    fillFacts($("st-cache"), [
      ["entries", `${c.entries} / ${c.capacity_entries}`],
      ["bytes", `${formatBytes(c.bytes)} / ${formatBytes(c.capacity_bytes)}`],
      ["hits", c.hits],
      ["stale hits", c.stale_hits],
      ["misses", c.misses],
      ["hit ratio", ratio(c.hits, c.misses, c.stale_hits)],
      ["evictions", c.evictions],
      ["rejected", c.rejected],
    ]);
  } else problems.push(`cache stats: ${cache.reason.message}`);
  if (tab.status === "fulfilled") {
    if (tab.value) showTabStats(tab.value.body);
    else fillFacts($("st-tab"), [["tab", "none selected"]]);
    $("st-flush").disabled = !tab.value;
  } else problems.push(`tab stats: ${tab.reason.message}`);
  if (problems.length) showError(error, problems.join(" · "));
  else announce("Status refreshed.");
}

export function initStatus() {
  $("status-refresh").addEventListener("click", () => refreshStatus());
  $("st-flush").addEventListener("click", async () => {
    const id = currentTabId();
    if (!id) return;
    try {
      const result = await api("POST", `/api/tabs/${encodeURIComponent(id)}/flush`);
      showTabStats(result.body);
      announce(`Flushed: ${result.body.pending} pending, ${result.body.flushes} flushes.`);
    } catch (err) {
      showError($("status-error"), err.message);
    }
  });
}
