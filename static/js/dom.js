// Small DOM helpers. Everything user- or server-supplied goes in as text (textContent), never as
// HTML, so no content can inject markup or script.

/**
 * Creates an element. props: { class, text, attrs: {name: value}, on: {event: handler} };
 * children: nodes or strings (strings become text nodes).
 */
export function el(tag, props = {}, children = []) {
  const node = document.createElement(tag);
  if (props.class) node.className = props.class;
  if (props.text != null) node.textContent = String(props.text);
  for (const [name, value] of Object.entries(props.attrs ?? {})) {
    if (value === false || value == null) continue;
    node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const [event, handler] of Object.entries(props.on ?? {})) node.addEventListener(event, handler);
  for (const child of children) {
    if (child == null) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

export const $ = (id) => document.getElementById(id);

/** Shows `message` in an error paragraph, or hides it when message is empty. */
export function showError(node, message) {
  node.textContent = message ?? "";
  node.hidden = !message;
}

/** Fills a <dl> with [label, value] pairs. */
export function fillFacts(dl, pairs) {
  dl.replaceChildren(...pairs.flatMap(([label, value]) => [
    el("dt", { text: label }),
    el("dd", { text: value == null ? "—" : String(value) }),
  ]));
}

/** A friendly local time for an RFC 3339 string. */
export function formatTime(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return date.toLocaleString(undefined, { dateStyle: "short", timeStyle: "medium" });
}

/** Formats a number of bytes as B/KiB/MiB. */
export function formatBytes(n) {
  if (typeof n !== "number") return n;
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

/** Says `text` in the page's polite live region (screen readers announce it; sighted users see it). */
export function announce(text, { bad = false } = {}) {
  const live = document.getElementById("live");
  if (!live) return;
  live.textContent = text;
  live.classList.toggle("bad", bad);
}
