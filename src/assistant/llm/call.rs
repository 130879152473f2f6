//! One upstream call as a state machine: the response head, the body's chunks, its end, the
//! timer, a transport error or a cancel go in; [`Item`]s come out, ending with exactly one
//! [`Item::End`]. After that every input is ignored (and yields nothing).
//!
//! The edge's loop (see the module docs of [`super`]): send the request at `sent_ms`
//! ([`UpstreamCall::new`]); race the head against a timer at [`UpstreamCall::deadline_ms`];
//! [`UpstreamCall::on_head`]; then race each read against the timer, calling
//! [`UpstreamCall::on_chunk`], [`UpstreamCall::on_eof`], [`UpstreamCall::on_timer`] or
//! [`UpstreamCall::on_transport_error`]; stop at `Item::End` and abort the request if it is
//! still open (`AbortController`), which matters when the end was a cap, an error or a timeout.

use super::response::{self, Completion, HeadKind, REFUSAL_BODY_LIMIT};
use super::sse::SseDecoder;
use super::stream::{Item, Outcome, StreamInterpreter, Truncation, Usage};
use super::timeout::{TimeoutKind, Watchdog};
use super::{Failure, FailureKind, Limits};

#[derive(Debug, Clone)]
enum Phase {
    AwaitingHead,
    Stream(SseDecoder),
    Json(Vec<u8>),
    Refusal {
        status: u16,
        busy: bool,
        retry_after_s: Option<u64>,
        body: Vec<u8>,
    },
    Done,
}

/// The state of one upstream call (see the module docs).
#[derive(Debug, Clone)]
pub struct UpstreamCall {
    limits: Limits,
    watchdog: Watchdog,
    phase: Phase,
    interpreter: StreamInterpreter,
    body_bytes: u64,
}

impl UpstreamCall {
    /// A call whose request was sent at `sent_ms`.
    pub fn new(limits: Limits, sent_ms: u64) -> Self {
        Self {
            limits,
            watchdog: Watchdog::new(
                limits.first_byte_timeout_ms,
                limits.idle_timeout_ms,
                sent_ms,
            ),
            phase: Phase::AwaitingHead,
            interpreter: StreamInterpreter::new(limits.max_output_tokens),
            body_bytes: 0,
        }
    }

    /// The response head arrived: its status, `content-type` and `retry-after` headers. A
    /// refusal is not final yet: its body (up to [`REFUSAL_BODY_LIMIT`]) may hold the message,
    /// so keep reading; an unusable content type ends the call at once.
    pub fn on_head(
        &mut self,
        status: u16,
        content_type: Option<&str>,
        retry_after: Option<&str>,
        now_ms: u64,
    ) -> Vec<Item> {
        let mut out = Vec::new();
        if !matches!(self.phase, Phase::AwaitingHead) {
            return out;
        }
        self.phase = match response::classify(status, content_type) {
            HeadKind::Stream => Phase::Stream(SseDecoder::new(
                self.limits.max_line_bytes,
                self.limits.max_event_bytes,
            )),
            HeadKind::Json => Phase::Json(Vec::new()),
            HeadKind::Refused { busy } => Phase::Refusal {
                status,
                busy,
                retry_after_s: retry_after
                    .filter(|_| busy)
                    .and_then(|v| response::parse_retry_after(v, now_ms)),
                body: Vec::new(),
            },
            HeadKind::Unsupported(content_type) => {
                let message = format!(
                    "the model upstream answered {status} with content type `{content_type}`, \
                     not an event stream (is LLM_UPSTREAM_URL an OpenAI-compatible /v1 base?)"
                );
                self.fail(FailureKind::Refused { status }, message, &mut out);
                return out;
            }
        };
        out
    }

    /// A chunk of the body arrived at `now_ms`. Empty chunks are ignored (they are not bytes).
    pub fn on_chunk(&mut self, chunk: &[u8], now_ms: u64) -> Vec<Item> {
        let mut out = Vec::new();
        if self.interpreter.ended() || chunk.is_empty() {
            return out;
        }
        if matches!(self.phase, Phase::AwaitingHead) {
            // A caller that skipped `on_head` gets the common case rather than a panic.
            self.on_head(200, None, None, now_ms);
        }
        self.watchdog.on_bytes(now_ms);
        let allowed = self.limits.max_stream_bytes.saturating_sub(self.body_bytes);
        let take = usize::try_from(allowed).map_or(chunk.len(), |a| a.min(chunk.len()));
        let capped = take < chunk.len();
        let bytes = &chunk[..take];
        self.body_bytes += take as u64;
        match &mut self.phase {
            Phase::Stream(decoder) => {
                let interpreter = &mut self.interpreter;
                let fed = decoder.feed(bytes, &mut |event| interpreter.on_event(&event, &mut out));
                if let Err(err) = fed {
                    self.fail(FailureKind::Protocol, err.to_string(), &mut out);
                } else if capped {
                    self.interpreter.end(
                        Outcome::Truncated {
                            cause: Truncation::OutputCap,
                        },
                        &mut out,
                    );
                }
            }
            Phase::Json(body) => {
                if capped {
                    let message = format!(
                        "the model upstream's non-streaming answer is larger than {} bytes",
                        self.limits.max_stream_bytes
                    );
                    self.fail(FailureKind::Protocol, message, &mut out);
                } else {
                    body.extend_from_slice(bytes);
                }
            }
            Phase::Refusal { body, .. } => {
                let room = REFUSAL_BODY_LIMIT.saturating_sub(body.len());
                body.extend_from_slice(&bytes[..room.min(bytes.len())]);
                if body.len() >= REFUSAL_BODY_LIMIT {
                    self.finish_refusal(&mut out);
                }
            }
            Phase::AwaitingHead | Phase::Done => {}
        }
        self.settle();
        out
    }

    /// The body ended cleanly (as far as the runtime can tell: an aborted body looks the same,
    /// so a stream without `finish_reason` is `Truncated`, never complete).
    pub fn on_eof(&mut self, _now_ms: u64) -> Vec<Item> {
        let mut out = Vec::new();
        if self.interpreter.ended() {
            return out;
        }
        match std::mem::replace(&mut self.phase, Phase::Done) {
            Phase::AwaitingHead => self.fail(
                FailureKind::Transport,
                "the model upstream closed the connection without answering".to_owned(),
                &mut out,
            ),
            Phase::Stream(_) => self.interpreter.end_of_stream(&mut out),
            Phase::Json(body) => self.finish_json(&body, &mut out),
            phase @ Phase::Refusal { .. } => {
                self.phase = phase;
                self.finish_refusal(&mut out);
            }
            Phase::Done => {}
        }
        self.settle();
        out
    }

    /// The timer set to [`Self::deadline_ms`] fired (or any time: nothing happens before the
    /// deadline). A stream whose `finish_reason` is in ends complete rather than timed out.
    pub fn on_timer(&mut self, now_ms: u64) -> Vec<Item> {
        let mut out = Vec::new();
        if self.interpreter.ended() {
            return out;
        }
        let Some(kind) = self.watchdog.expired(now_ms) else {
            return out;
        };
        if matches!(self.phase, Phase::Refusal { .. }) {
            self.finish_refusal(&mut out);
        } else if self.interpreter.finished() {
            self.interpreter.end_of_stream(&mut out);
        } else {
            let message = match kind {
                TimeoutKind::FirstByte => format!(
                    "the model upstream sent nothing within {} ms (LLM_FIRST_BYTE_TIMEOUT_MS)",
                    self.limits.first_byte_timeout_ms
                ),
                TimeoutKind::Idle => format!(
                    "the model upstream stalled: nothing for {} ms (LLM_IDLE_TIMEOUT_MS)",
                    self.limits.idle_timeout_ms
                ),
            };
            self.fail(FailureKind::Timeout(kind), message, &mut out);
        }
        self.settle();
        out
    }

    /// `fetch` rejected or a read failed, with the platform's message. After a `finish_reason`
    /// the reply is complete anyway; a refusal keeps its status.
    pub fn on_transport_error(&mut self, message: &str) -> Vec<Item> {
        let mut out = Vec::new();
        if self.interpreter.ended() {
            return out;
        }
        if matches!(self.phase, Phase::Refusal { .. }) {
            self.finish_refusal(&mut out);
        } else if self.interpreter.finished() {
            self.interpreter.end_of_stream(&mut out);
        } else {
            let what = if matches!(self.phase, Phase::AwaitingHead) {
                "could not reach the model upstream"
            } else {
                "the connection to the model upstream failed mid-answer"
            };
            let detail = response::short_message(message);
            let message = if detail.is_empty() {
                what.to_owned()
            } else {
                format!("{what}: {detail}")
            };
            self.fail(FailureKind::Transport, message, &mut out);
        }
        self.settle();
        out
    }

    /// The user cancelled: ends the call as `Cancelled` (nothing if it had already ended).
    pub fn cancel(&mut self) -> Vec<Item> {
        let mut out = Vec::new();
        self.interpreter.end(Outcome::Cancelled, &mut out);
        self.settle();
        out
    }

    /// When to call [`Self::on_timer`] (ms); `None` once ended.
    pub fn deadline_ms(&self) -> Option<u64> {
        (!self.interpreter.ended()).then(|| self.watchdog.deadline_ms())
    }

    /// Whether the call has ended (its `Item::End` was returned).
    pub fn is_done(&self) -> bool {
        self.interpreter.ended()
    }

    /// The last usage the upstream reported.
    pub fn usage(&self) -> Option<Usage> {
        self.interpreter.usage()
    }

    /// The upstream's usage, or the estimate: `prompt_estimate` (from
    /// [`super::tokens::estimate_prompt_tokens`]) and the streamed text's estimated tokens.
    pub fn usage_or_estimate(&self, prompt_estimate: u64) -> Usage {
        self.interpreter.usage().unwrap_or(Usage {
            prompt_tokens: prompt_estimate,
            completion_tokens: self.interpreter.output().tokens(),
        })
    }

    /// Body bytes read so far (bounded by [`Limits::max_stream_bytes`]).
    pub fn body_bytes(&self) -> u64 {
        self.body_bytes
    }

    /// Bytes the call buffers between inputs (the decoder's partial line and event, or a JSON
    /// or refusal body): bounded by the limits.
    pub fn buffered_bytes(&self) -> usize {
        match &self.phase {
            Phase::Stream(decoder) => decoder.buffered_bytes(),
            Phase::Json(body) | Phase::Refusal { body, .. } => body.len(),
            Phase::AwaitingHead | Phase::Done => 0,
        }
    }

    fn fail(&mut self, kind: FailureKind, message: String, out: &mut Vec<Item>) {
        self.interpreter
            .end(Outcome::Failed(Failure::new(kind, message)), out);
    }

    /// Releases the buffers once the call has ended.
    fn settle(&mut self) {
        if self.interpreter.ended() {
            self.phase = Phase::Done;
        }
    }

    fn finish_refusal(&mut self, out: &mut Vec<Item>) {
        let Phase::Refusal {
            status,
            busy,
            retry_after_s,
            body,
        } = std::mem::replace(&mut self.phase, Phase::Done)
        else {
            return;
        };
        let detail = response::error_message(&body)
            .map(|m| format!(": {m}"))
            .unwrap_or_default();
        let message = format!(
            "the model upstream answered {status}{detail}{}",
            response::refusal_hint(status)
        );
        let kind = if busy {
            FailureKind::Busy { status }
        } else {
            FailureKind::Refused { status }
        };
        let failure = Failure {
            kind,
            message,
            retry_after_s,
        };
        self.interpreter.end(Outcome::Failed(failure), out);
    }

    fn finish_json(&mut self, body: &[u8], out: &mut Vec<Item>) {
        let completion: Completion = match serde_json::from_slice(body) {
            Ok(c) => c,
            Err(err) => {
                let message = format!(
                    "the model upstream sent an unreadable JSON answer ({})",
                    response::short_message(&err.to_string())
                );
                return self.fail(FailureKind::Protocol, message, out);
            }
        };
        if let Some(error) = completion.error {
            let message = match error.message() {
                Some(m) => format!("the model upstream reported an error: {m}"),
                None => "the model upstream reported an error".to_owned(),
            };
            return self.fail(FailureKind::StreamError, message, out);
        }
        // Through the interpreter, so the stream's rules (cap, finish) apply the same way.
        let choice = completion.choices.into_iter().flatten().next();
        let (text, finish_reason) = match choice {
            Some(c) => (c.message.and_then(|m| m.content), c.finish_reason),
            None => (None, None),
        };
        let usage = completion
            .usage
            .and_then(|u| u.counts())
            .map(|(p, c)| Usage {
                prompt_tokens: p,
                completion_tokens: c,
            });
        self.interpreter.apply(text, finish_reason, usage, out);
        self.interpreter.end_of_stream(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assistant::llm::{FailureCode, ReplyStatus};

    /// An OpenAI-style stream: role chunk, deltas (with a multi-byte character and a CJK one
    /// that chunk splits will cut), a comment, a null and a reasoning-only delta, the finish
    /// chunk, the usage chunk with empty `choices`, `[DONE]`.
    const RECORDED: &str = concat!(
        "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",",
        "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}],\"usage\":null}\n\n",
        "data: {\"id\":\"chatcmpl-1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"},\"finish_reason\":null}],\"usage\":null}\n\n",
        ": keep-alive\n\n",
        "data:{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo, w\u{f6}rld \u{4e16}\u{1F600}\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n",
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":null,\"reasoning_content\":\"hmm\"},\"finish_reason\":null}]}\n\n",
        "data: {\"choices\":[{\"index\":1,\"delta\":{\"content\":\"other choice\"},\"finish_reason\":null}]}\n\n",
        "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":null}\n\n",
        "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":4,\"total_tokens\":13}}\n\n",
        "data: [DONE]\n\n",
    );

    fn expected_recorded() -> Vec<Item> {
        vec![
            Item::Delta("Hel".into()),
            Item::Delta("lo, w\u{f6}rld \u{4e16}\u{1F600}".into()),
            Item::Finish("stop".into()),
            Item::Usage(Usage {
                prompt_tokens: 9,
                completion_tokens: 4,
            }),
            Item::End(Outcome::Complete {
                finish_reason: "stop".into(),
            }),
        ]
    }

    fn limits() -> Limits {
        Limits {
            first_byte_timeout_ms: 1000,
            idle_timeout_ms: 500,
            max_output_tokens: 1024,
            max_stream_bytes: 3 * 1024 * 1024,
            max_line_bytes: 64 * 1024,
            max_event_bytes: 256 * 1024,
        }
    }

    /// Runs a 200 event stream delivered in `chunks`, then the end of the body.
    fn run_with(limits: Limits, chunks: &[&[u8]]) -> Vec<Item> {
        let mut call = UpstreamCall::new(limits, 0);
        let mut items = call.on_head(200, Some("text/event-stream"), None, 1);
        for (i, chunk) in chunks.iter().enumerate() {
            items.extend(call.on_chunk(chunk, 2 + i as u64));
        }
        items.extend(call.on_eof(1000));
        assert!(call.is_done());
        assert_eq!(call.deadline_ms(), None);
        items
    }

    fn run(chunks: &[&[u8]]) -> Vec<Item> {
        run_with(limits(), chunks)
    }

    fn end(items: &[Item]) -> &Outcome {
        let ends: Vec<&Outcome> = items
            .iter()
            .filter_map(|i| match i {
                Item::End(o) => Some(o),
                _ => None,
            })
            .collect();
        assert_eq!(ends.len(), 1, "exactly one End: {items:?}");
        assert!(matches!(items.last(), Some(Item::End(_))), "End is last");
        ends[0]
    }

    fn failure(items: &[Item]) -> &Failure {
        end(items)
            .failure()
            .unwrap_or_else(|| panic!("expected a failure: {items:?}"))
    }

    fn text(items: &[Item]) -> String {
        items
            .iter()
            .filter_map(|i| match i {
                Item::Delta(t) => Some(t.as_str()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_recorded_stream_gives_its_items_whatever_the_chunking() {
        let input = RECORDED.as_bytes();
        assert_eq!(run(&[input]), expected_recorded());
        for split in 0..=input.len() {
            let (a, b) = input.split_at(split);
            assert_eq!(run(&[a, b]), expected_recorded(), "split at {split}");
        }
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(run(&bytes), expected_recorded());
        for size in [2, 3, 5, 7, 64] {
            let chunks: Vec<&[u8]> = input.chunks(size).collect();
            assert_eq!(run(&chunks), expected_recorded(), "chunks of {size}");
        }
    }

    #[test]
    fn crlf_and_lone_cr_streams_give_the_same_items() {
        for ending in ["\r\n", "\r"] {
            let input = RECORDED.replace('\n', ending);
            let input = input.as_bytes();
            for split in 0..=input.len() {
                let (a, b) = input.split_at(split);
                assert_eq!(
                    run(&[a, b]),
                    expected_recorded(),
                    "{ending:?} split {split}"
                );
            }
        }
    }

    #[test]
    fn the_end_of_the_body_without_finish_reason_is_truncated() {
        let delta = b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"par\"}}]}\n\n";
        let items = run(&[delta]);
        assert_eq!(items[0], Item::Delta("par".into()));
        assert_eq!(
            end(&items),
            &Outcome::Truncated {
                cause: Truncation::NoFinishReason
            }
        );
        assert_eq!(end(&items).status(), ReplyStatus::Truncated);
        assert_eq!(end(&items).finish_reason(), None);
        // [DONE] without a finish reason is no better.
        let items = run(&[delta, b"data: [DONE]\n\n"]);
        assert_eq!(end(&items).status(), ReplyStatus::Truncated);
        // A finish chunk cut before its blank line does not count (it may be incomplete).
        let items = run(&[
            delta,
            b"data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n",
        ]);
        assert_eq!(end(&items).status(), ReplyStatus::Truncated);
        // An empty body.
        assert_eq!(end(&run(&[])).status(), ReplyStatus::Truncated);
    }

    #[test]
    fn finish_without_usage_or_done_is_complete() {
        let items = run(&[
            b"data: {\"choices\":[{\"delta\":{\"content\":\"ok\"},\"finish_reason\":\"length\"}]}\n\n",
        ]);
        assert_eq!(
            items,
            vec![
                Item::Delta("ok".into()),
                Item::Finish("length".into()),
                Item::End(Outcome::Complete {
                    finish_reason: "length".into()
                })
            ]
        );
    }

    #[test]
    fn an_error_object_mid_stream_fails_with_its_message() {
        let delta = &b"data: {\"choices\":[{\"delta\":{\"content\":\"so far\"}}]}\n\n"[..];
        for error in [
            &b"data: {\"error\":{\"message\":\"The server is overloaded\",\"type\":\"server_error\"}}\n\n"[..],
            b"data: {\"error\":\"The server is overloaded\"}\n\n",
            b"event: error\ndata: {\"error\":{\"message\":\"The server is overloaded\"}}\n\n",
            b"event: error\ndata: The server is overloaded\n\n",
            b"event: error\ndata: {\"message\":\"The server is overloaded\"}\n\n",
        ] {
            let items = run(&[delta, error, b"data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\n"]);
            assert_eq!(text(&items), "so far", "the text so far is kept, nothing after");
            let f = failure(&items);
            assert_eq!(f.kind, FailureKind::StreamError);
            assert_eq!(f.code(), FailureCode::UpstreamError);
            assert!(f.message.ends_with(": The server is overloaded"), "{}", f.message);
        }
        // An error without a message still fails; `"error": null` is no error.
        let items = run(&[b"data: {\"error\":{\"code\":500}}\n\n"]);
        assert_eq!(failure(&items).kind, FailureKind::StreamError);
        let items = run(&[
            b"data: {\"error\":null,\"choices\":[{\"delta\":{\"content\":\"a\"},\"finish_reason\":\"stop\"}]}\n\n",
        ]);
        assert_eq!(end(&items).status(), ReplyStatus::Complete);
    }

    #[test]
    fn garbage_is_a_protocol_error() {
        for garbage in [
            &b"data: {not json\n\n"[..],
            b"data: 42\n\n",
            b"data: [1,2]\n\n",
            b"data: {\"choices\":[{\"delta\":{\"content\":5}}]}\n\n",
            b"data: {\"choices\":{\"a\":1}}\n\n",
            b"data: <html>502 Bad Gateway</html>\n\n",
        ] {
            let items = run(&[
                b"data: {\"choices\":[{\"delta\":{\"content\":\"kept\"}}]}\n\n",
                garbage,
            ]);
            assert_eq!(text(&items), "kept");
            let f = failure(&items);
            assert_eq!(f.kind, FailureKind::Protocol, "{garbage:?}");
            assert!(f.message.contains("unreadable"), "{}", f.message);
        }
        // Bytes that are not SSE lines at all are unknown fields: ignored, then truncated.
        let items = run(&[b"\x00\xff\xfe garbage \x01\n\n<html>\n"]);
        assert_eq!(end(&items).status(), ReplyStatus::Truncated);
        // Odd but harmless values are ignored, not fatal.
        let items = run(&[
            b"data: {\"choices\":[{\"delta\":{\"content\":\"a\"},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":1.5,\"completion_tokens\":-1},\"extra\":{\"deep\":[1,{}]}}\n\n",
        ]);
        assert_eq!(end(&items).status(), ReplyStatus::Complete);
        assert!(!items.iter().any(|i| matches!(i, Item::Usage(_))));
    }

    #[test]
    fn usage_on_every_chunk_keeps_the_last() {
        let mut call = UpstreamCall::new(limits(), 0);
        call.on_head(200, Some("text/event-stream"), None, 0);
        call.on_chunk(
            b"data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":1}}\n\n\
              data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2}}\n\n",
            1,
        );
        assert_eq!(
            call.usage(),
            Some(Usage {
                prompt_tokens: 5,
                completion_tokens: 2
            })
        );
        assert_eq!(call.usage_or_estimate(99).completion_tokens, 2);
    }

    #[test]
    fn usage_is_estimated_when_the_upstream_sends_none() {
        let mut call = UpstreamCall::new(limits(), 0);
        call.on_head(200, Some("text/event-stream"), None, 0);
        call.on_chunk(
            b"data: {\"choices\":[{\"delta\":{\"content\":\"abcdefg\"},\"finish_reason\":\"stop\"}]}\n\n",
            1,
        );
        let items = call.on_eof(2);
        assert_eq!(end(&items).status(), ReplyStatus::Complete);
        assert_eq!(call.usage(), None);
        assert_eq!(
            call.usage_or_estimate(42),
            Usage {
                prompt_tokens: 42,
                completion_tokens: 2
            }
        );
    }

    #[test]
    fn output_over_the_estimated_token_cap_is_cut_as_length() {
        let limits = Limits {
            max_output_tokens: 10, // cap: 20 estimated tokens = 70 ASCII bytes
            ..limits()
        };
        let delta = b"data: {\"choices\":[{\"delta\":{\"content\":\"0123456789\"}}]}\n\n";
        let chunks = vec![&delta[..]; 20];
        let items = run_with(limits, &chunks);
        assert_eq!(text(&items), "0123456789".repeat(8)); // 80 bytes = 23 tokens > 20
        assert_eq!(
            end(&items),
            &Outcome::Truncated {
                cause: Truncation::OutputCap
            }
        );
        assert_eq!(end(&items).finish_reason(), Some("length"));
    }

    #[test]
    fn a_huge_reply_is_cut_at_the_stream_byte_cap_with_bounded_memory() {
        // 20 MB of deltas, generated chunk by chunk; the cap (3 MiB) stops it early.
        let limits = Limits {
            max_output_tokens: 100_000, // the token cap alone would allow far more text
            ..limits()
        };
        let delta = b"data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\n";
        let chunk = delta.repeat(64 * 1024 / delta.len());
        let mut call = UpstreamCall::new(limits, 0);
        call.on_head(200, Some("text/event-stream"), None, 0);
        let mut fed = 0usize;
        let mut ended = None;
        while fed < 20 * 1024 * 1024 {
            let items = call.on_chunk(&chunk, 1);
            assert!(call.buffered_bytes() <= limits.max_line_bytes + limits.max_event_bytes);
            fed += chunk.len();
            if let Some(Item::End(outcome)) = items.last() {
                ended = Some(outcome.clone());
                break;
            }
        }
        assert_eq!(
            ended,
            Some(Outcome::Truncated {
                cause: Truncation::OutputCap
            })
        );
        assert_eq!(call.body_bytes(), limits.max_stream_bytes);
        assert!(fed < 4 * 1024 * 1024, "stopped soon after the cap: {fed}");
        assert!(call.on_chunk(&chunk, 2).is_empty(), "nothing after the end");
        assert_eq!(call.buffered_bytes(), 0, "buffers released");
        // The same cut happens at the same byte however the input is split.
        let whole: Vec<u8> = chunk.repeat(60);
        let small = Limits {
            max_stream_bytes: 100_000,
            ..limits
        };
        let one = run_with(small, &[&whole]);
        let many: Vec<&[u8]> = whole.chunks(977).collect();
        assert_eq!(run_with(small, &many), one);
        assert_eq!(end(&one).finish_reason(), Some("length"));
    }

    #[test]
    fn an_endless_line_is_a_protocol_error_not_growth() {
        let limits = limits();
        let mut call = UpstreamCall::new(limits, 0);
        call.on_head(200, Some("text/event-stream"), None, 0);
        let junk = vec![b'a'; 16 * 1024];
        let mut items = Vec::new();
        for _ in 0..10 {
            items.extend(call.on_chunk(&junk, 1));
            assert!(call.buffered_bytes() <= limits.max_line_bytes);
        }
        let f = failure(&items);
        assert_eq!(f.kind, FailureKind::Protocol);
        assert!(f.message.contains("longer than"), "{}", f.message);
    }

    fn refused(
        status: u16,
        retry_after: Option<&str>,
        body: &[u8],
        now_ms: u64,
    ) -> (Vec<Item>, UpstreamCall) {
        let mut call = UpstreamCall::new(limits(), now_ms);
        let mut items = call.on_head(status, Some("application/json"), retry_after, now_ms);
        assert!(items.is_empty(), "a refusal waits for its body");
        items.extend(call.on_chunk(body, now_ms));
        items.extend(call.on_eof(now_ms));
        (items, call)
    }

    #[test]
    fn refusals_before_streaming() {
        let (items, _) = refused(
            401,
            None,
            br#"{"error":{"message":"Incorrect API key provided: sk-abc***","type":"invalid_request_error"}}"#,
            0,
        );
        let f = failure(&items);
        assert_eq!(f.kind, FailureKind::Refused { status: 401 });
        assert_eq!(f.code().as_str(), "upstream_error");
        assert_eq!(
            f.message,
            "the model upstream answered 401: Incorrect API key provided: sk-abc*** (check LLM_API_KEY)"
        );
        assert_eq!(f.retry_after_s, None);
        let (items, _) = refused(
            404,
            Some("5"),
            br#"{"error":"model \"nope\" not found"}"#,
            0,
        );
        let f = failure(&items);
        assert_eq!(f.kind, FailureKind::Refused { status: 404 });
        assert!(
            f.message.contains("model \"nope\" not found"),
            "{}",
            f.message
        );
        assert_eq!(f.retry_after_s, None, "retry-after only matters when busy");
        let (items, _) = refused(429, Some("7"), br#"{"error":{"message":"Rate limit"}}"#, 0);
        let f = failure(&items);
        assert_eq!(f.code().as_str(), "upstream_busy");
        assert_eq!(f.retry_after_s, Some(7));
        let (items, _) = refused(
            503,
            Some("Sun, 06 Nov 1994 08:50:07 GMT"),
            b"",
            784_111_777_000,
        );
        let f = failure(&items);
        assert_eq!(f.kind, FailureKind::Busy { status: 503 });
        assert_eq!(f.retry_after_s, Some(30));
        assert_eq!(
            f.message,
            "the model upstream answered 503 (busy; try again later)"
        );
        let (items, _) = refused(500, None, b"<html>Internal error</html>", 0);
        assert_eq!(failure(&items).message, "the model upstream answered 500");
        let (items, _) = refused(
            400,
            None,
            br#"{"error":{"message":"max_tokens is too large"}}"#,
            0,
        );
        assert_eq!(failure(&items).kind, FailureKind::Refused { status: 400 });
    }

    #[test]
    fn a_refusal_body_is_read_only_up_to_its_limit() {
        let mut call = UpstreamCall::new(limits(), 0);
        call.on_head(404, None, None, 0);
        let big = vec![b' '; REFUSAL_BODY_LIMIT - 1];
        assert!(call.on_chunk(&big, 1).is_empty());
        let items = call.on_chunk(b"  more", 2);
        assert_eq!(failure(&items).kind, FailureKind::Refused { status: 404 });
        assert!(
            call.is_done(),
            "ended at the limit: the edge aborts the rest"
        );
        // A refusal whose body never ends still ends at the timer, with its status.
        let mut call = UpstreamCall::new(limits(), 0);
        call.on_head(429, None, Some("3"), 0);
        call.on_chunk(b"{\"err", 10);
        assert!(call.on_timer(509).is_empty());
        let items = call.on_timer(510);
        assert_eq!(failure(&items).code().as_str(), "upstream_busy");
        assert_eq!(failure(&items).retry_after_s, Some(3));
    }

    #[test]
    fn timeouts_first_byte_and_idle() {
        // No head at all.
        let mut call = UpstreamCall::new(limits(), 100);
        assert_eq!(call.deadline_ms(), Some(1100));
        assert!(call.on_timer(1099).is_empty());
        let items = call.on_timer(1100);
        let f = failure(&items);
        assert_eq!(f.kind, FailureKind::Timeout(TimeoutKind::FirstByte));
        assert_eq!(f.code().as_str(), "upstream_timeout");
        assert!(
            f.message.contains("LLM_FIRST_BYTE_TIMEOUT_MS"),
            "{}",
            f.message
        );
        // A head but no body byte: still the first-byte timeout.
        let mut call = UpstreamCall::new(limits(), 0);
        call.on_head(200, Some("text/event-stream"), None, 50);
        assert_eq!(call.deadline_ms(), Some(1000));
        let f = failure(&call.on_timer(1000)).clone();
        assert_eq!(f.kind, FailureKind::Timeout(TimeoutKind::FirstByte));
        // A stall mid-stream: the idle timeout, text so far kept by the caller.
        let mut call = UpstreamCall::new(limits(), 0);
        call.on_head(200, Some("text/event-stream"), None, 10);
        let items = call.on_chunk(
            b"data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n",
            200,
        );
        assert_eq!(text(&items), "a");
        assert_eq!(call.deadline_ms(), Some(700));
        call.on_chunk(b": ping\n\n", 600); // a comment is activity
        assert_eq!(call.deadline_ms(), Some(1100));
        call.on_chunk(b"", 1000); // an empty chunk is not
        assert!(call.on_timer(1099).is_empty());
        let items = call.on_timer(1100);
        let f = failure(&items);
        assert_eq!(f.kind, FailureKind::Timeout(TimeoutKind::Idle));
        assert!(f.message.contains("LLM_IDLE_TIMEOUT_MS"), "{}", f.message);
        // A stall after the finish reason (waiting for usage or [DONE]) is a complete reply.
        let mut call = UpstreamCall::new(limits(), 0);
        call.on_head(200, Some("text/event-stream"), None, 10);
        call.on_chunk(
            b"data: {\"choices\":[{\"delta\":{\"content\":\"a\"},\"finish_reason\":\"stop\"}]}\n\n",
            20,
        );
        let items = call.on_timer(520);
        assert_eq!(end(&items).status(), ReplyStatus::Complete);
    }

    #[test]
    fn a_json_answer_is_one_delta_then_its_finish() {
        let mut call = UpstreamCall::new(limits(), 0);
        let mut items = call.on_head(200, Some("application/json"), None, 1);
        let body = br#"{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"Hello there"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}"#;
        for part in body.chunks(10) {
            items.extend(call.on_chunk(part, 2));
        }
        items.extend(call.on_eof(3));
        assert_eq!(
            items,
            vec![
                Item::Delta("Hello there".into()),
                Item::Finish("stop".into()),
                Item::Usage(Usage {
                    prompt_tokens: 3,
                    completion_tokens: 2
                }),
                Item::End(Outcome::Complete {
                    finish_reason: "stop".into()
                }),
            ]
        );
        let json = |body: &[u8]| {
            let mut call = UpstreamCall::new(limits(), 0);
            let mut items = call.on_head(200, Some("application/json"), None, 1);
            items.extend(call.on_chunk(body, 2));
            items.extend(call.on_eof(3));
            items
        };
        let items = json(br#"{"choices":[{"message":{"content":"cut"}}]}"#);
        assert_eq!(text(&items), "cut");
        assert_eq!(end(&items).status(), ReplyStatus::Truncated);
        let items = json(br#"{"error":{"message":"context too long"}}"#);
        assert!(failure(&items).message.ends_with(": context too long"));
        assert_eq!(failure(&json(b"{oops")).kind, FailureKind::Protocol);
        // Larger than the stream cap: refused without buffering it all.
        let mut call = UpstreamCall::new(
            Limits {
                max_stream_bytes: 100,
                ..limits()
            },
            0,
        );
        call.on_head(200, Some("application/json"), None, 1);
        let items = call.on_chunk(&[b' '; 101], 2);
        assert_eq!(failure(&items).kind, FailureKind::Protocol);
    }

    #[test]
    fn another_content_type_fails_at_once() {
        let mut call = UpstreamCall::new(limits(), 0);
        let items = call.on_head(200, Some("text/html; charset=utf-8"), None, 1);
        let f = failure(&items);
        assert_eq!(f.kind, FailureKind::Refused { status: 200 });
        assert!(f.message.contains("text/html"), "{}", f.message);
        assert!(call.on_chunk(b"<html>", 2).is_empty());
    }

    #[test]
    fn transport_errors_and_cancel() {
        let mut call = UpstreamCall::new(limits(), 0);
        let items = call.on_transport_error("connect ECONNREFUSED 127.0.0.1:9\n");
        let f = failure(&items);
        assert_eq!(f.kind, FailureKind::Transport);
        assert_eq!(
            f.message,
            "could not reach the model upstream: connect ECONNREFUSED 127.0.0.1:9"
        );
        let mut call = UpstreamCall::new(limits(), 0);
        call.on_head(200, Some("text/event-stream"), None, 0);
        call.on_chunk(
            b"data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n",
            1,
        );
        let items = call.on_transport_error("reset");
        assert!(failure(&items).message.contains("mid-answer"));
        // After the finish reason, a reset is still a complete reply.
        let mut call = UpstreamCall::new(limits(), 0);
        call.on_head(200, Some("text/event-stream"), None, 0);
        call.on_chunk(
            b"data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
            1,
        );
        assert_eq!(
            end(&call.on_transport_error("reset")).status(),
            ReplyStatus::Complete
        );
        // The head never came and the connection closed.
        let mut call = UpstreamCall::new(limits(), 0);
        assert_eq!(failure(&call.on_eof(5)).kind, FailureKind::Transport);
        // Cancel: once, and nothing after it.
        let mut call = UpstreamCall::new(limits(), 0);
        call.on_head(200, Some("text/event-stream"), None, 0);
        assert_eq!(call.cancel(), vec![Item::End(Outcome::Cancelled)]);
        assert!(call.cancel().is_empty());
        assert!(call.on_eof(1).is_empty());
        assert!(call.on_timer(u64::MAX).is_empty());
        assert!(call
            .on_chunk(
                b"data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n",
                1
            )
            .is_empty());
        assert_eq!(Outcome::Cancelled.status().as_str(), "cancelled");
    }

    /// Streams captured from the fixture server (`tests/fixtures/llm_server.mjs`; its node test
    /// keeps these files equal to what it sends), replayed at every split point.
    mod captured {
        use super::*;

        const TEXT: &str =
            "Hello from the fixture: caf\u{e9}, \u{4e16}\u{754c}, \u{1F600}. The end.";
        const OK: &[u8] = include_bytes!("../../../tests/fixtures/llm/ok.sse");
        const CRLF: &[u8] = include_bytes!("../../../tests/fixtures/llm/crlf.sse");
        const NO_USAGE: &[u8] = include_bytes!("../../../tests/fixtures/llm/no-usage.sse");
        const ERROR: &[u8] = include_bytes!("../../../tests/fixtures/llm/error.sse");
        const CUT: &[u8] = include_bytes!("../../../tests/fixtures/llm/cut.sse");
        const GARBAGE: &[u8] = include_bytes!("../../../tests/fixtures/llm/garbage.sse");

        /// The items of `input`, checked to be the same at every two-chunk split.
        fn replay(input: &[u8]) -> Vec<Item> {
            let whole = run(&[input]);
            for split in 0..=input.len() {
                let (a, b) = input.split_at(split);
                assert_eq!(run(&[a, b]), whole, "split at {split}");
            }
            whole
        }

        /// The first half of the fixture's 4-character pieces.
        fn half() -> String {
            let chars: Vec<char> = TEXT.chars().collect();
            let pieces = chars.len().div_ceil(4);
            chars[..(pieces / 2) * 4].iter().collect()
        }

        #[test]
        fn ok_crlf_and_no_usage() {
            let ok = replay(OK);
            assert_eq!(text(&ok), TEXT);
            assert_eq!(end(&ok).finish_reason(), Some("stop"));
            assert_eq!(end(&ok).status(), ReplyStatus::Complete);
            let usage = ok.iter().find_map(|i| match i {
                Item::Usage(u) => Some(*u),
                _ => None,
            });
            assert_eq!(
                usage.map(|u| u.completion_tokens),
                Some(TEXT.chars().count().div_ceil(4) as u64)
            );
            assert_eq!(replay(CRLF), ok);
            let without: Vec<Item> = ok
                .iter()
                .filter(|i| !matches!(i, Item::Usage(_)))
                .cloned()
                .collect();
            assert_eq!(replay(NO_USAGE), without);
        }

        #[test]
        fn error_cut_and_garbage() {
            let error = replay(ERROR);
            assert_eq!(text(&error), half());
            assert_eq!(failure(&error).kind, FailureKind::StreamError);
            assert!(failure(&error)
                .message
                .ends_with("fixture error mid-stream"));
            let cut = replay(CUT);
            assert_eq!(text(&cut), half());
            assert_eq!(
                end(&cut),
                &Outcome::Truncated {
                    cause: Truncation::NoFinishReason
                }
            );
            let garbage = replay(GARBAGE);
            assert_eq!(text(&garbage), "Hell");
            assert_eq!(failure(&garbage).kind, FailureKind::Protocol);
        }
    }
}
