// The UI's server-sent-events parser (static/js/sse.js) on its own: no browser needed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { SseParser } from "../../static/js/sse.js";

function parseAll(chunks) {
  const events = [];
  const parser = new SseParser((e) => events.push(e));
  for (const c of chunks) parser.push(c);
  return events;
}

const STREAM = 'id: 1\nevent: context\ndata: {"citations":[]}\n\n: keep-alive\n\nid: 2\nevent: delta\ndata: {"text":"caf\u00e9 \u4e16\u754c \u{1F600}"}\n\nid: 3\nevent: done\ndata: {"status":"complete"}\n\n';
const EXPECTED = [
  { id: "1", event: "context", data: '{"citations":[]}' },
  { id: "2", event: "delta", data: '{"text":"caf\u00e9 \u4e16\u754c \u{1F600}"}' },
  { id: "3", event: "done", data: '{"status":"complete"}' },
];

test("events split at every byte boundary, in LF, CRLF and CR forms, parse the same", () => {
  for (const eol of ["\n", "\r\n", "\r"]) {
    const bytes = new TextEncoder().encode(STREAM.replace(/\n/g, eol));
    assert.deepEqual(parseAll([bytes]), EXPECTED, `whole, ${JSON.stringify(eol)}`);
    for (let cut = 1; cut < bytes.length; cut++) {
      assert.deepEqual(parseAll([bytes.slice(0, cut), bytes.slice(cut)]), EXPECTED, `cut at ${cut}, ${JSON.stringify(eol)}`);
    }
    assert.deepEqual(parseAll([...bytes].map((b) => new Uint8Array([b]))), EXPECTED, `byte by byte, ${JSON.stringify(eol)}`);
  }
});

test("data without a space, several data lines, unknown fields, an unfinished event", () => {
  const events = parseAll(["id:7\nevent:delta\nretry: 10\nfoo: bar\ndata:a\ndata: b\n\nid: 8\nevent: delta\ndata: never ended"]);
  assert.deepEqual(events, [{ id: "7", event: "delta", data: "a\nb" }]);
});
