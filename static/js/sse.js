// A server-sent-events parser for fetch() bodies (EventSource cannot send the Authorization
// header). Follows the HTML spec's event-stream interpretation: lines end in \n, \r\n or \r; a
// line starting with ":" is a comment; "field: value" or "field:value" (one leading space
// dropped); several data lines join with \n; a blank line dispatches the event; unknown fields
// are ignored. Bytes may be split anywhere, even inside a UTF-8 sequence or a CRLF.

export class SseParser {
  /** `onEvent({id, event, data})` is called for each complete event (`id` a string or null). */
  constructor(onEvent) {
    this.onEvent = onEvent;
    this.decoder = new TextDecoder();
    this.buffer = "";
    this.pendingCr = false;
    this.reset();
  }

  reset() {
    this.event = "";
    this.data = [];
    this.id = null;
    this.hasData = false;
  }

  /** Feeds a chunk of bytes (Uint8Array) or text. */
  push(chunk) {
    let text = typeof chunk === "string" ? chunk : this.decoder.decode(chunk, { stream: true });
    if (this.pendingCr) {
      // The previous chunk ended in \r: a \n right after it belongs to the same line end.
      if (text.startsWith("\n")) text = text.slice(1);
      this.pendingCr = false;
    }
    this.buffer += text;
    let start = 0;
    for (let i = 0; i < this.buffer.length; i++) {
      const c = this.buffer[i];
      if (c !== "\n" && c !== "\r") continue;
      this.line(this.buffer.slice(start, i));
      if (c === "\r") {
        if (i + 1 < this.buffer.length) {
          if (this.buffer[i + 1] === "\n") i++;
        } else {
          this.pendingCr = true;
        }
      }
      start = i + 1;
    }
    this.buffer = this.buffer.slice(start);
  }

  line(line) {
    if (line === "") {
      if (this.hasData || this.event) {
        this.onEvent({ id: this.id, event: this.event || "message", data: this.data.join("\n") });
      }
      this.reset();
      return;
    }
    if (line.startsWith(":")) return;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") { this.data.push(value); this.hasData = true; }
    else if (field === "event") this.event = value;
    else if (field === "id") { if (!value.includes("\0")) this.id = value; }
    // "retry" and unknown fields: ignored.
  }
}
