//! Fuzzes the model client's stream path (`assistant::llm::UpstreamCall`: the SSE decoder and
//! the stream interpreter, or the JSON and refusal readers): whatever the upstream sends, it
//! never panics; memory stays bounded (what it buffers between chunks is within the line and
//! event bounds, what it reads within the stream cap); exactly one `End` comes, last; and
//! splitting the same bytes into different chunks yields exactly the same items.
//!
//! Input: byte 0 picks the limits (small caps, to reach them, or the defaults) and the response
//! head (event stream, JSON, a 429 refusal); bytes 1–2 seed the chunk splits; the rest is the body.
#![no_main]

use edge_assistant::assistant::llm::response::REFUSAL_BODY_LIMIT;
use edge_assistant::assistant::llm::{Item, Limits, UpstreamCall};
use libfuzzer_sys::fuzz_target;

fn limits(small: bool) -> Limits {
    if small {
        Limits {
            first_byte_timeout_ms: 1000,
            idle_timeout_ms: 1000,
            max_output_tokens: 8,
            max_stream_bytes: 4096,
            max_line_bytes: 96,
            max_event_bytes: 160,
        }
    } else {
        Limits {
            first_byte_timeout_ms: 30_000,
            idle_timeout_ms: 30_000,
            max_output_tokens: 1024,
            max_stream_bytes: 3 * 1024 * 1024,
            max_line_bytes: 256 * 1024,
            max_event_bytes: 1024 * 1024,
        }
    }
}

/// Feeds `chunks` after the head, then the end of the body; checks the bounds on the way.
fn run(limits: Limits, head: u8, chunks: &[&[u8]]) -> Vec<Item> {
    let mut call = UpstreamCall::new(limits, 0);
    let mut items = match head {
        0 => call.on_head(200, Some("text/event-stream"), None, 0),
        1 => call.on_head(200, Some("application/json"), None, 0),
        _ => call.on_head(429, Some("application/json"), Some("3"), 0),
    };
    let bound = 3 * limits.max_line_bytes + limits.max_event_bytes;
    for (i, chunk) in chunks.iter().enumerate() {
        items.extend(call.on_chunk(chunk, i as u64 + 1));
        // A stream buffers within the SSE bounds; a JSON body is read whole up to the stream
        // cap; a refusal's body up to its own limit.
        let max = match head {
            0 => bound,
            1 => usize::try_from(limits.max_stream_bytes).unwrap_or(usize::MAX),
            _ => REFUSAL_BODY_LIMIT,
        };
        assert!(
            call.buffered_bytes() <= max,
            "{} > {max}",
            call.buffered_bytes()
        );
        assert!(call.body_bytes() <= limits.max_stream_bytes);
    }
    items.extend(call.on_eof(u64::MAX));
    assert!(call.is_done());
    assert_eq!(call.buffered_bytes(), 0);
    assert!(call.on_chunk(b"data: {}\n\n", 0).is_empty());
    let ends = items.iter().filter(|i| matches!(i, Item::End(_))).count();
    assert_eq!(ends, 1, "{items:?}");
    assert!(matches!(items.last(), Some(Item::End(_))));
    for item in &items {
        if let Item::Delta(text) = item {
            assert!(!text.is_empty());
        }
    }
    items
}

fuzz_target!(|data: &[u8]| {
    let [config, a, b, body @ ..] = data else {
        return;
    };
    let limits = limits(config & 1 == 1);
    let head = (config >> 1) % 3;
    let whole = run(limits, head, &[body]);
    // Split points from the two seed bytes: one cut, and a chunking of a seed-chosen size.
    let cut = usize::from(*a) * body.len() / 255;
    let (x, y) = body.split_at(cut.min(body.len()));
    assert_eq!(run(limits, head, &[x, y]), whole, "split at {cut}");
    let size = usize::from(*b % 16) + 1;
    let chunks: Vec<&[u8]> = body.chunks(size).collect();
    assert_eq!(run(limits, head, &chunks), whole, "chunks of {size}");
});
