//! An incremental Server-Sent Events decoder (the WHATWG HTML "event stream interpretation"),
//! fed the response body in whatever chunks the network delivers.
//!
//! Chunks may split the stream anywhere: inside a line, inside a multi-byte UTF-8 character,
//! between the `\r` and `\n` of a CRLF. Lines end with `\n`, `\r\n` or a lone `\r`; a blank line
//! dispatches the event; `:` lines are comments; `data:` takes its value with or without one
//! leading space, and several `data:` lines join with `\n`; `event:` and `id:` are exposed on the
//! event; `retry:` and unknown fields are ignored; one leading UTF-8 BOM is skipped. Bytes that are
//! not UTF-8 become U+FFFD (a line is decoded only once complete, so where a chunk splits a
//! character does not matter). As the specification says, an event not ended by a blank line when
//! the stream ends is discarded: callers must not treat it as received.
//!
//! Memory is bounded: the decoder holds at most one line (`max_line_bytes`) and one event's data
//! (`max_event_bytes`); passing either is an [`SseError`], after which the decoder ignores all
//! further input. Events are handed to a callback as they complete, so nothing queues up.

/// Default longest line: far above any Chat Completions chunk (a few hundred bytes).
pub const DEFAULT_MAX_LINE_BYTES: usize = 256 * 1024;
/// Default largest event data (all its `data:` lines together).
pub const DEFAULT_MAX_EVENT_BYTES: usize = 1024 * 1024;

const BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    /// The `event:` type, `None` when unset or empty (the specification's `message`).
    pub event: Option<String>,
    /// The `data:` lines joined with `\n` (possibly empty: a lone `data:` line).
    pub data: String,
    /// The last `id:` seen so far in the stream (it persists across events, per the spec).
    pub id: Option<String>,
}

/// The stream broke one of the decoder's bounds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SseError {
    /// A line (of any kind, comments included) grew past the limit before it ended.
    #[error("the upstream's event stream has a line longer than {limit} bytes")]
    LineTooLong { limit: usize },
    /// An event's data grew past the limit before the blank line that ends it.
    #[error("the upstream's event stream has an event larger than {limit} bytes")]
    EventTooLarge { limit: usize },
}

/// The decoder's state between chunks.
#[derive(Debug, Clone)]
pub struct SseDecoder {
    max_line_bytes: usize,
    max_event_bytes: usize,
    /// The current line's bytes (undecoded, so a split UTF-8 character completes first).
    line: Vec<u8>,
    /// The previous chunk ended with `\r`: a `\n` starting the next one belongs to it.
    after_cr: bool,
    /// How many bytes of a leading BOM have been matched; `None` once the start is past.
    bom_matched: Option<usize>,
    data: String,
    has_data: bool,
    event: Option<String>,
    last_id: Option<String>,
    failed: Option<SseError>,
}

impl Default for SseDecoder {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_LINE_BYTES, DEFAULT_MAX_EVENT_BYTES)
    }
}

impl SseDecoder {
    /// A decoder with these bounds (each at least 1).
    pub fn new(max_line_bytes: usize, max_event_bytes: usize) -> Self {
        Self {
            max_line_bytes: max_line_bytes.max(1),
            max_event_bytes: max_event_bytes.max(1),
            line: Vec::new(),
            after_cr: false,
            bom_matched: Some(0),
            data: String::new(),
            has_data: false,
            event: None,
            last_id: None,
            failed: None,
        }
    }

    /// Decodes `chunk`, calling `on_event` for each event it completes, in order. On a bound's
    /// breach, the events completed before it have been delivered and the error is returned, now
    /// and for every later call.
    pub fn feed(
        &mut self,
        chunk: &[u8],
        on_event: &mut impl FnMut(SseEvent),
    ) -> Result<(), SseError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        let result = self.feed_inner(chunk, on_event);
        if let Err(err) = &result {
            self.failed = Some(err.clone());
            // Nothing more will be decoded: release the buffers now.
            self.line = Vec::new();
            self.data = String::new();
        }
        result
    }

    /// The error that stopped the decoder, if any.
    pub fn error(&self) -> Option<&SseError> {
        self.failed.as_ref()
    }

    /// Bytes held between chunks (the partial line and event): at most the two bounds plus the
    /// `event:` and `id:` values, each shorter than a line.
    pub fn buffered_bytes(&self) -> usize {
        self.line.len()
            + self.data.len()
            + self.event.as_ref().map_or(0, String::len)
            + self.last_id.as_ref().map_or(0, String::len)
    }

    /// Whether input has arrived that no dispatched event covers yet (a partial line or an
    /// event without its blank line): at the end of the stream, that input is lost.
    pub fn has_partial_event(&self) -> bool {
        !self.line.is_empty() || self.has_data
    }

    fn feed_inner(
        &mut self,
        chunk: &[u8],
        on_event: &mut impl FnMut(SseEvent),
    ) -> Result<(), SseError> {
        let mut rest = chunk;
        while let Some(matched) = self.bom_matched {
            let Some((&byte, tail)) = rest.split_first() else {
                return Ok(());
            };
            if byte == BOM[matched] {
                rest = tail;
                self.bom_matched = (matched + 1 < BOM.len()).then_some(matched + 1);
            } else {
                // Not a BOM after all: the bytes matched so far are ordinary line bytes.
                self.bom_matched = None;
                self.push_line(&BOM[..matched])?;
            }
        }
        while !rest.is_empty() {
            if self.after_cr {
                self.after_cr = false;
                if rest[0] == b'\n' {
                    rest = &rest[1..];
                    continue;
                }
            }
            match rest.iter().position(|&b| b == b'\n' || b == b'\r') {
                None => {
                    self.push_line(rest)?;
                    break;
                }
                Some(end) => {
                    self.push_line(&rest[..end])?;
                    self.after_cr = rest[end] == b'\r';
                    self.end_line(on_event)?;
                    rest = &rest[end + 1..];
                }
            }
        }
        Ok(())
    }

    fn push_line(&mut self, bytes: &[u8]) -> Result<(), SseError> {
        if self.line.len() + bytes.len() > self.max_line_bytes {
            return Err(SseError::LineTooLong {
                limit: self.max_line_bytes,
            });
        }
        self.line.extend_from_slice(bytes);
        Ok(())
    }

    fn end_line(&mut self, on_event: &mut impl FnMut(SseEvent)) -> Result<(), SseError> {
        let line = std::mem::take(&mut self.line);
        let result = self.process_line(&line, on_event);
        // Keep the allocation for the next line.
        self.line = line;
        self.line.clear();
        result
    }

    fn process_line(
        &mut self,
        line: &[u8],
        on_event: &mut impl FnMut(SseEvent),
    ) -> Result<(), SseError> {
        if line.is_empty() {
            self.dispatch(on_event);
            return Ok(());
        }
        if line[0] == b':' {
            return Ok(()); // a comment (keep-alives are sent this way)
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &[][..]),
        };
        match field {
            b"data" => {
                let value = String::from_utf8_lossy(value);
                let added = value.len() + usize::from(self.has_data);
                if self.data.len() + added > self.max_event_bytes {
                    return Err(SseError::EventTooLarge {
                        limit: self.max_event_bytes,
                    });
                }
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(&value);
                self.has_data = true;
            }
            b"event" => {
                let value = String::from_utf8_lossy(value);
                self.event = (!value.is_empty()).then(|| value.into_owned());
            }
            // The spec ignores an id holding NUL (it could not be sent back in a header).
            b"id" if !value.contains(&0) => {
                self.last_id = Some(String::from_utf8_lossy(value).into_owned());
            }
            _ => {} // `retry:` (the client's reconnection delay) and unknown fields
        }
        Ok(())
    }

    fn dispatch(&mut self, on_event: &mut impl FnMut(SseEvent)) {
        let event = self.event.take();
        if !self.has_data {
            return; // no data: nothing to dispatch, and the type resets (spec)
        }
        self.has_data = false;
        on_event(SseEvent {
            event,
            data: std::mem::take(&mut self.data),
            id: self.last_id.clone(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// All events of `chunks` fed in order, then the decoder's error if any.
    fn decode_chunks(
        decoder: &mut SseDecoder,
        chunks: &[&[u8]],
    ) -> (Vec<SseEvent>, Option<SseError>) {
        let mut events = Vec::new();
        for chunk in chunks {
            if let Err(err) = decoder.feed(chunk, &mut |e| events.push(e)) {
                return (events, Some(err));
            }
        }
        (events, None)
    }

    fn decode(input: &[u8]) -> Vec<SseEvent> {
        let (events, err) = decode_chunks(&mut SseDecoder::default(), &[input]);
        assert_eq!(err, None);
        events
    }

    fn data(event: &str) -> SseEvent {
        SseEvent {
            data: event.to_owned(),
            ..SseEvent::default()
        }
    }

    #[test]
    fn line_endings_lf_crlf_and_lone_cr() {
        for input in [
            &b"data: a\n\ndata: b\n\n"[..],
            b"data: a\r\n\r\ndata: b\r\n\r\n",
            b"data: a\r\rdata: b\r\r",
            b"data: a\r\n\ndata: b\n\r\n",
        ] {
            assert_eq!(decode(input), vec![data("a"), data("b")], "{input:?}");
        }
    }

    #[test]
    fn data_with_or_without_space_multi_line_comments_and_unknown_fields() {
        let input = b": keep-alive\ndata:x\ndata:  two spaces\nretry: 10\nfoo: bar\nnocolon\n\n";
        assert_eq!(decode(input), vec![data("x\n two spaces")]);
        // A lone `data` (no colon) is an empty data line: the event is dispatched with "".
        assert_eq!(decode(b"data\n\n"), vec![data("")]);
        assert_eq!(decode(b"data:\ndata:\n\n"), vec![data("\n")]);
        // Blank lines without data dispatch nothing; comments alone dispatch nothing.
        assert_eq!(decode(b"\n\n: hi\n\n\r\n"), vec![]);
    }

    #[test]
    fn event_and_id_are_exposed_and_id_persists() {
        let events = decode(b"event: error\nid: 7\ndata: {}\n\ndata: next\n\nid\ndata: z\n\n");
        assert_eq!(
            events,
            vec![
                SseEvent {
                    event: Some("error".into()),
                    data: "{}".into(),
                    id: Some("7".into())
                },
                SseEvent {
                    event: None,
                    data: "next".into(),
                    id: Some("7".into())
                },
                SseEvent {
                    event: None,
                    data: "z".into(),
                    id: Some(String::new())
                },
            ]
        );
        // The type of an event without data does not leak into the next one.
        assert_eq!(decode(b"event: x\n\ndata: y\n\n"), vec![data("y")]);
        // An id with NUL is ignored.
        assert_eq!(decode(b"id: a\0b\ndata: y\n\n")[0].id, None);
    }

    #[test]
    fn a_leading_bom_is_skipped_once_even_split() {
        let input = b"\xEF\xBB\xBFdata: a\n\n";
        for split in 0..=input.len() {
            let (a, b) = input.split_at(split);
            let (events, err) = decode_chunks(&mut SseDecoder::default(), &[a, b]);
            assert_eq!((events, err), (vec![data("a")], None), "split {split}");
        }
        // A second BOM is content; a partial BOM is ordinary bytes (U+FFFD).
        assert_eq!(
            decode(b"\xEF\xBB\xBF\xEF\xBB\xBFdata: a\n\n"),
            vec![] // the line's field is "\u{feff}data", unknown
        );
        assert_eq!(decode(b"\xEF\xBBdata: a\n\n"), vec![]);
    }

    #[test]
    fn every_split_point_of_a_crlf_utf8_stream_gives_the_same_events() {
        let input = "data: h\u{e9}llo \u{1F600}\r\n\r\n: c\r\nevent: e\r\ndata: \u{4e16}\r\r\ndata: [DONE]\r\n\r\n"
            .as_bytes();
        let whole = decode(input);
        assert_eq!(whole.len(), 3);
        assert_eq!(whole[0].data, "h\u{e9}llo \u{1F600}");
        for a in 0..=input.len() {
            for b in a..=input.len() {
                let (events, err) = decode_chunks(
                    &mut SseDecoder::default(),
                    &[&input[..a], &input[a..b], &input[b..]],
                );
                assert_eq!(err, None);
                assert_eq!(events, whole, "splits {a} {b}");
            }
        }
        // Byte by byte.
        let chunks: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(decode_chunks(&mut SseDecoder::default(), &chunks).0, whole);
    }

    #[test]
    fn invalid_utf8_becomes_replacement_characters() {
        assert_eq!(decode(b"data: a\xFFb\n\n"), vec![data("a\u{FFFD}b")]);
    }

    #[test]
    fn an_unfinished_event_is_not_dispatched() {
        let mut decoder = SseDecoder::default();
        let (events, err) = decode_chunks(&mut decoder, &[b"data: a\n\ndata: b\n"]);
        assert_eq!((events, err), (vec![data("a")], None));
        assert!(decoder.has_partial_event());
        let mut decoder = SseDecoder::default();
        decode_chunks(&mut decoder, &[b"data: a\n\n"]);
        assert!(!decoder.has_partial_event());
    }

    #[test]
    fn a_long_line_or_event_is_an_error_and_memory_stays_bounded() {
        let mut decoder = SseDecoder::new(16, 32);
        let (events, err) = decode_chunks(
            &mut decoder,
            &[b"data: ok\n\n", b"data: 0123456789", b"abcdef\n\n"],
        );
        assert_eq!(events, vec![data("ok")]);
        assert_eq!(err, Some(SseError::LineTooLong { limit: 16 }));
        // Later input is refused with the same error, and nothing is buffered.
        assert_eq!(
            decoder.feed(b"data: x\n\n", &mut |_| panic!("no events after an error")),
            Err(SseError::LineTooLong { limit: 16 })
        );
        assert_eq!(decoder.buffered_bytes(), 0);
        // A comment counts too: an endless comment line cannot grow memory.
        let mut decoder = SseDecoder::new(16, 32);
        let (_, err) = decode_chunks(&mut decoder, &[&[b':'; 17]]);
        assert_eq!(err, Some(SseError::LineTooLong { limit: 16 }));
        // Many short data lines, each within the line bound, pass the event bound.
        let mut decoder = SseDecoder::new(16, 32);
        let (_, err) = decode_chunks(&mut decoder, &[&b"data: 0123456789\n".repeat(4)]);
        assert_eq!(err, Some(SseError::EventTooLarge { limit: 32 }));
        // Exactly at the bounds is fine.
        let mut decoder = SseDecoder::new(16, 32);
        let line = b"data:0123456789a\n"; // 16 bytes before the newline
        let (events, err) = decode_chunks(&mut decoder, &[line, line, b"\n"]);
        assert_eq!(err, None);
        assert_eq!(events, vec![data("0123456789a\n0123456789a")]);
    }
}
