//! The stream interpreter: decoded SSE events of a Chat Completions stream → typed [`Item`]s.
//!
//! Per event (after the SSE decoder):
//! - `data: [DONE]` ends the stream;
//! - `event: error`, or a chunk with a non-null `error` (`{"message"}` or a string) → the reply
//!   fails as `upstream_error` with the upstream's message (short, cleaned);
//! - otherwise the data must be a JSON object (else: a protocol error, `upstream_error`); its
//!   `choices[0].delta.content` is a [`Item::Delta`] (null, empty and role-only deltas are
//!   skipped; choices with another `index` are ignored: `n` is never set), its first non-empty
//!   `choices[0].finish_reason` a [`Item::Finish`], and a `usage` with both integer counts a
//!   [`Item::Usage`] (the `include_usage` chunk has empty `choices`; some servers send usage on
//!   every chunk: the last one wins). Unknown fields are ignored, including `reasoning_content`
//!   (a reasoning model's thinking is not part of the reply) and `tool_calls` (none are offered).
//!
//! **Completion is judged only by a `finish_reason`.** The stream ends (`[DONE]`, the end of
//! the body, or a timeout once the reason is in) as [`Outcome::Complete`] only if one arrived;
//! otherwise as [`Outcome::Truncated`]. An end of body alone is never success: workers-rs 0.8.7
//! reads an aborted body as a clean end. Bytes after the end are ignored.
//!
//! The output is capped at [`OUTPUT_CAP_FACTOR`] × `max_output_tokens` (estimated,
//! [`super::tokens`]): the request already asks for `max_tokens`, so this only stops an upstream
//! that ignores it, with room for the estimate's error. Passing it ends the stream as
//! `Truncated { cause: OutputCap }` (finish reason `length`) after the delta that crossed it.

use serde::Deserialize;

use super::response::{error_message, short_message, ErrorField, WireUsage};
use super::sse::SseEvent;
use super::tokens::TokenCounter;
use super::{Failure, FailureKind};

/// The output cap in estimated tokens is this many times `max_output_tokens`.
pub const OUTPUT_CAP_FACTOR: u64 = 2;

/// Token counts of one reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

/// What a reply's stream produced, in order. Exactly one [`Item::End`] comes last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// Text to append to the reply.
    Delta(String),
    /// The upstream's token counts (it may send more than one; the last wins).
    Usage(Usage),
    /// The upstream's `finish_reason` (`stop`, `length`, …): the reply is complete, whatever
    /// follows (a usage chunk, `[DONE]`).
    Finish(String),
    /// The stream is over: nothing more comes, abort the upstream request if still open.
    End(Outcome),
}

/// How a reply's stream ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The upstream sent a `finish_reason`.
    Complete { finish_reason: String },
    /// No `finish_reason`, or the output was cut at the cap.
    Truncated { cause: Truncation },
    /// The upstream refused, timed out, sent an error or garbage.
    Failed(Failure),
    /// The client cancelled (`UpstreamCall::cancel`).
    Cancelled,
}

/// Why a stream counts as truncated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Truncation {
    /// The body or `[DONE]` came without a `finish_reason` (an aborted connection looks so).
    NoFinishReason,
    /// The output passed the cap (estimated tokens or stream bytes); the request was cut.
    OutputCap,
}

/// A reply's `status` (API v1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyStatus {
    Complete,
    Truncated,
    Failed,
    Cancelled,
}

impl ReplyStatus {
    /// The status as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Complete => "complete",
            Self::Truncated => "truncated",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }
}

impl Outcome {
    /// The reply's final status.
    pub fn status(&self) -> ReplyStatus {
        match self {
            Self::Complete { .. } => ReplyStatus::Complete,
            Self::Truncated { .. } => ReplyStatus::Truncated,
            Self::Failed(_) => ReplyStatus::Failed,
            Self::Cancelled => ReplyStatus::Cancelled,
        }
    }

    /// The reply's `finish_reason`: the upstream's, or `length` when cut at the cap.
    pub fn finish_reason(&self) -> Option<&str> {
        match self {
            Self::Complete { finish_reason } => Some(finish_reason),
            Self::Truncated {
                cause: Truncation::OutputCap,
            } => Some("length"),
            _ => None,
        }
    }

    /// The failure, for the reply's `error`.
    pub fn failure(&self) -> Option<&Failure> {
        match self {
            Self::Failed(failure) => Some(failure),
            _ => None,
        }
    }
}

#[derive(Debug, Deserialize)]
struct Chunk {
    choices: Option<Vec<ChunkChoice>>,
    usage: Option<WireUsage>,
    error: Option<ErrorField>,
}

#[derive(Debug, Deserialize)]
struct ChunkChoice {
    index: Option<u64>,
    delta: Option<ChunkDelta>,
    finish_reason: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ChunkDelta {
    content: Option<String>,
}

/// The interpreter's state: whether a finish reason and usage arrived, the output so far
/// (counted, not kept: the caller stores the text), and whether the stream is over.
#[derive(Debug, Clone)]
pub struct StreamInterpreter {
    output_token_cap: u64,
    output: TokenCounter,
    finish_reason: Option<String>,
    usage: Option<Usage>,
    ended: bool,
}

impl StreamInterpreter {
    /// An interpreter for a reply of at most `max_output_tokens` (the request's `max_tokens`).
    pub fn new(max_output_tokens: u32) -> Self {
        Self {
            output_token_cap: u64::from(max_output_tokens.max(1)) * OUTPUT_CAP_FACTOR,
            output: TokenCounter::default(),
            finish_reason: None,
            usage: None,
            ended: false,
        }
    }

    /// Interprets one event, appending what it yields to `out`.
    pub fn on_event(&mut self, event: &SseEvent, out: &mut Vec<Item>) {
        if self.ended {
            return;
        }
        if event.event.as_deref() == Some("error") {
            // Whatever error body shape it carries (`{"error": …}`, `{"message": …}`), or text.
            let message =
                error_message(event.data.as_bytes()).unwrap_or_else(|| short_message(&event.data));
            return self.fail(FailureKind::StreamError, stream_error(&message), out);
        }
        let data = event.data.trim();
        if data.is_empty() {
            return;
        }
        if data == "[DONE]" {
            return self.end_of_stream(out);
        }
        let chunk: Chunk = match serde_json::from_str(data) {
            Ok(chunk) => chunk,
            Err(err) => {
                let message = format!(
                    "the model upstream sent an unreadable stream chunk ({})",
                    short_message(&err.to_string())
                );
                return self.fail(FailureKind::Protocol, message, out);
            }
        };
        if let Some(error) = chunk.error {
            let message = error.message().unwrap_or_default();
            return self.fail(FailureKind::StreamError, stream_error(&message), out);
        }
        let choice = chunk
            .choices
            .into_iter()
            .flatten()
            .find(|c| c.index.unwrap_or(0) == 0);
        let (text, finish_reason) = match choice {
            Some(c) => (c.delta.and_then(|d| d.content), c.finish_reason),
            None => (None, None),
        };
        let usage = chunk.usage.and_then(|u| u.counts()).map(|(p, c)| Usage {
            prompt_tokens: p,
            completion_tokens: c,
        });
        self.apply(text, finish_reason, usage, out);
    }

    /// Applies one chunk's parts (also used for a non-streaming answer): the text as a delta,
    /// the first finish reason, the usage; then the output cap.
    pub fn apply(
        &mut self,
        text: Option<String>,
        finish_reason: Option<String>,
        usage: Option<Usage>,
        out: &mut Vec<Item>,
    ) {
        if self.ended {
            return;
        }
        if let Some(text) = text.filter(|t| !t.is_empty()) {
            self.output.add(&text);
            out.push(Item::Delta(text));
        }
        if let Some(reason) = finish_reason.filter(|r| !r.is_empty()) {
            if self.finish_reason.is_none() {
                self.finish_reason = Some(reason.clone());
                out.push(Item::Finish(reason));
            }
        }
        if let Some(usage) = usage {
            self.usage = Some(usage);
            out.push(Item::Usage(usage));
        }
        if self.output.tokens() > self.output_token_cap && self.finish_reason.is_none() {
            self.end(
                Outcome::Truncated {
                    cause: Truncation::OutputCap,
                },
                out,
            );
        }
    }

    /// The stream ended (`[DONE]`, the end of the body, or a timeout): complete if a finish
    /// reason arrived, truncated otherwise.
    pub fn end_of_stream(&mut self, out: &mut Vec<Item>) {
        let outcome = match &self.finish_reason {
            Some(reason) => Outcome::Complete {
                finish_reason: reason.clone(),
            },
            None => Outcome::Truncated {
                cause: Truncation::NoFinishReason,
            },
        };
        self.end(outcome, out);
    }

    /// Ends the stream with `outcome` (no-op once ended).
    pub fn end(&mut self, outcome: Outcome, out: &mut Vec<Item>) {
        if !self.ended {
            self.ended = true;
            out.push(Item::End(outcome));
        }
    }

    fn fail(&mut self, kind: FailureKind, message: String, out: &mut Vec<Item>) {
        self.end(Outcome::Failed(Failure::new(kind, message)), out);
    }

    /// Whether [`Item::End`] was produced.
    pub fn ended(&self) -> bool {
        self.ended
    }

    /// Whether a `finish_reason` arrived.
    pub fn finished(&self) -> bool {
        self.finish_reason.is_some()
    }

    /// The last usage the upstream reported.
    pub fn usage(&self) -> Option<Usage> {
        self.usage
    }

    /// The output counted so far (estimated tokens, bytes).
    pub fn output(&self) -> TokenCounter {
        self.output
    }
}

fn stream_error(message: &str) -> String {
    if message.is_empty() {
        "the model upstream reported an error mid-stream".to_owned()
    } else {
        format!("the model upstream reported an error mid-stream: {message}")
    }
}
