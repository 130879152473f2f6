// Renders message content as safe text: prose in <p> (whitespace kept), ``` fenced blocks in
// <pre><code> with the fence's language as a label. No markdown beyond fences, no HTML.
import { el } from "./dom.js";

/**
 * Splits content into blocks: [{kind: "text"|"code", text, lang}]. An unclosed fence runs to the
 * end (the way people paste code), so nothing is ever dropped.
 */
export function splitFences(content) {
  const blocks = [];
  const lines = content.split("\n");
  let current = { kind: "text", lines: [], lang: "" };
  const push = () => {
    if (current.kind === "code" || current.lines.some((l) => l.trim() !== "")) {
      blocks.push({ kind: current.kind, text: current.lines.join("\n"), lang: current.lang });
    }
  };
  for (const line of lines) {
    const fence = /^\s*```\s*([\w+#.-]*)\s*$/.exec(line);
    if (fence) {
      push();
      current = current.kind === "text"
        ? { kind: "code", lines: [], lang: fence[1] ?? "" }
        : { kind: "text", lines: [], lang: "" };
      continue;
    }
    current.lines.push(line);
  }
  push();
  return blocks;
}

/**
 * A DocumentFragment showing `content` safely. With `citations` (a reply's numbered sources),
 * every `[n]` in prose (not in code blocks) that has a source becomes a link to it (see
 * citationLink); `onHistory(tabId, seq)` opens a history source in the app.
 */
export function renderContent(content, { citations = null, onHistory = null } = {}) {
  const fragment = document.createDocumentFragment();
  for (const block of splitFences(content)) {
    if (block.kind === "code") {
      const pre = el("pre", { attrs: { tabindex: 0 } }, [el("code", { text: block.text })]);
      if (block.lang) fragment.append(el("span", { class: "code-lang", text: block.lang }));
      fragment.append(pre);
    } else {
      const text = block.text.replace(/^\n+|\n+$/g, "");
      fragment.append(citations?.length ? el("p", {}, linkCitations(text, citations, onHistory)) : el("p", { text }));
    }
  }
  return fragment;
}

/** The citation numbered `n`: the one whose `n` matches, else `citations[n-1]`. */
export function findCitation(citations, n) {
  return citations.find((c) => c && c.n === n) ?? citations[n - 1] ?? null;
}

/** `text` as strings and citation links, for el()'s children. */
export function linkCitations(text, citations, onHistory) {
  const parts = [];
  const pattern = /\[(\d{1,4})\]/g;
  let last = 0;
  for (let match; (match = pattern.exec(text));) {
    const citation = findCitation(citations, Number(match[1]));
    if (!citation) continue;
    if (match.index > last) parts.push(text.slice(last, match.index));
    parts.push(citationLink(citation, match[0], onHistory));
    last = match.index + match[0].length;
  }
  if (last < text.length) parts.push(text.slice(last));
  return parts;
}

/** Where a citation points, as text: its URL, "tab … #seq", or "path:line". */
export function citationTarget(c) {
  if (c.url) return c.url;
  if (c.tab_id && c.seq != null) return `message #${c.seq} of tab ${c.tab_id}`;
  if (c.path) return c.line != null ? `${c.path}:${c.line}` : c.path;
  return c.source ?? "source";
}

const safeUrl = (url) => {
  try {
    const parsed = new URL(url);
    return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : null;
  } catch {
    return null;
  }
};

let codeOpener = null;
/** Registers what opening a code citation does (the Workspaces panel shows the file at its line). */
export function onCodeCitation(fn) {
  codeOpener = fn;
}

/**
 * A link for citation `c` showing `label`: web sources open their URL (http/https only) in a new
 * tab; history sources open the message in the app; code sources name path:line in their title
 * and open the file in the Workspaces panel (a link without an href: there is no URL for it).
 */
export function citationLink(c, label, onHistory) {
  const title = [c.title, citationTarget(c)].filter(Boolean).join(" — ");
  const attrs = { title, "data-source": c.source ?? "", "data-n": c.n ?? "" };
  const url = c.url ? safeUrl(c.url) : null;
  if (url) {
    return el("a", { class: "cite", text: label, attrs: { ...attrs, href: url, target: "_blank", rel: "noopener noreferrer" } });
  }
  if (c.tab_id && c.seq != null) {
    const href = `#tab=${encodeURIComponent(c.tab_id)}&seq=${c.seq}`;
    return el("a", {
      class: "cite", text: label, attrs: { ...attrs, href, "data-tab-id": c.tab_id, "data-seq": c.seq },
      on: { click: (event) => { event.preventDefault(); onHistory?.(c.tab_id, Number(c.seq)); } },
    });
  }
  if (c.path && codeOpener) {
    const open = (event) => { event.preventDefault(); codeOpener(c); };
    return el("a", {
      class: "cite code-cite", text: label,
      attrs: { ...attrs, "data-path": c.path, "data-line": c.line ?? "", role: "link", tabindex: 0 },
      on: { click: open, keydown: (event) => { if (event.key === "Enter") open(event); } },
    });
  }
  return el("a", { class: "cite", text: label, attrs: { ...attrs, "data-path": c.path ?? "", "data-line": c.line ?? "" } });
}
