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

/** A DocumentFragment showing `content` safely. */
export function renderContent(content) {
  const fragment = document.createDocumentFragment();
  for (const block of splitFences(content)) {
    if (block.kind === "code") {
      const pre = el("pre", { attrs: { tabindex: 0 } }, [el("code", { text: block.text })]);
      if (block.lang) fragment.append(el("span", { class: "code-lang", text: block.lang }));
      fragment.append(pre);
    } else {
      fragment.append(el("p", { text: block.text.replace(/^\n+|\n+$/g, "") }));
    }
  }
  return fragment;
}
