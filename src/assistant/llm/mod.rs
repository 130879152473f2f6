//! The model client as a pure core: an OpenAI-compatible Chat Completions call with streaming,
//! from the request bytes to typed reply items, with no I/O and no clock of its own.
//!
//! The edge (the tab's Durable Object) does only the I/O: it sends the [`UpstreamRequest`],
//! feeds what comes back into an [`UpstreamCall`], and races each wait against a timer set to
//! [`UpstreamCall::deadline_ms`]. Everything else is decided here, and tested on the host:
//!
//! ```no_run
//! # use edge_assistant::assistant::llm::*;
//! # use edge_assistant::config::Config;
//! # fn now() -> u64 { 0 }
//! # let config = Config::default();
//! let Some(upstream) = &config.llm else { /* 503 not_configured */ return; };
//! let messages = [ChatMessage::new(Role::User, "Hello")];
//! let Ok(request) = build_request(upstream, None, &messages, config.llm_max_output_tokens)
//! else { /* an invalid `model` from the client: 400 invalid_field */ return; };
//! let mut call = UpstreamCall::new(Limits::from_config(&config), now());
//! // fetch(request.url, POST, request.headers, request.body) with an AbortSignal, raced against
//! // a timer at call.deadline_ms(): on the timer, items = call.on_timer(now()).
//! // On the response head:
//! let mut items = call.on_head(200, Some("text/event-stream"), None, now());
//! // Then, until an Item::End: items = call.on_chunk(&bytes, now()) per body chunk (raced
//! // against the timer), call.on_eof(now()) at the end of the body, call.on_transport_error(..)
//! // when fetch or a read fails, call.cancel() on a user's cancel.
//! for item in items.drain(..) {
//!     match item {
//!         Item::Delta(text) => { /* append to the reply, batch its persistence */ }
//!         Item::Usage(usage) => { /* keep; the last one wins */ }
//!         Item::Finish(reason) => { /* informative: the reply will be complete */ }
//!         Item::End(outcome) => {
//!             // Abort the fetch if still open; outcome.status().as_str(),
//!             // outcome.finish_reason(), outcome.failure() → the reply's error {code, message},
//!             // failure.retry_after_s for upstream_busy; call.usage_or_estimate(prompt_est).
//!         }
//!     }
//! }
//! ```
//!
//! Parts: [`request`] (body, URL, headers), [`response`] (status and content type, refusal
//! messages, `retry-after`), [`sse`] (the incremental event-stream decoder), [`stream`] (events
//! → items, completion judged only by `finish_reason`), [`timeout`] (first-byte and idle
//! deadlines), [`tokens`] (the token estimate), [`call`] (all of it as one state machine).
//!
//! Bounds: the body read is at most [`Limits::max_stream_bytes`] (then `Truncated`/`length`, the
//! request to be aborted), a line or event at most [`Limits::max_line_bytes`] /
//! [`Limits::max_event_bytes`] (then a protocol failure), a refusal's body at most
//! [`response::REFUSAL_BODY_LIMIT`], the reply text at most 2 × `LLM_MAX_OUTPUT_TOKENS`
//! estimated tokens. Memory held by a call is one line plus one event plus counters: the text
//! itself is handed out as deltas, never kept.

pub mod call;
pub mod request;
pub mod response;
pub mod sse;
pub mod stream;
pub mod timeout;
pub mod tokens;

pub use call::UpstreamCall;
pub use request::{build_request, ChatMessage, RequestError, Role, UpstreamRequest};
pub use stream::{Item, Outcome, ReplyStatus, Truncation, Usage};
pub use timeout::TimeoutKind;

use crate::config::Config;

/// The bounds and timeouts of one upstream call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `LLM_FIRST_BYTE_TIMEOUT_MS`.
    pub first_byte_timeout_ms: u64,
    /// `LLM_IDLE_TIMEOUT_MS`.
    pub idle_timeout_ms: u64,
    /// `LLM_MAX_OUTPUT_TOKENS`: the request's `max_tokens`; the output cap is twice this,
    /// estimated.
    pub max_output_tokens: u32,
    /// Most body bytes read (SSE framing and JSON included).
    pub max_stream_bytes: u64,
    /// Longest SSE line.
    pub max_line_bytes: usize,
    /// Largest SSE event.
    pub max_event_bytes: usize,
}

/// Stream bytes allowed per output token: a Chat Completions chunk carrying one token is 150–300
/// bytes of JSON, more with `reasoning_content` (not counted as output but streamed), so 2 KiB
/// leaves room and still stops a runaway stream early.
pub const STREAM_BYTES_PER_TOKEN: u64 = 2048;
/// Fixed allowance on top of the per-token one (comments, usage, role chunks).
pub const STREAM_BYTES_BASE: u64 = 1024 * 1024;
/// The stream byte cap never exceeds this, whatever `LLM_MAX_OUTPUT_TOKENS` says.
pub const MAX_STREAM_BYTES: u64 = 32 * 1024 * 1024;

impl Limits {
    /// The limits from the validated configuration. With the defaults: 30 s to the first byte,
    /// 30 s between chunks, 1024 output tokens, 3 MiB of stream.
    pub fn from_config(config: &Config) -> Self {
        Self {
            first_byte_timeout_ms: config.llm_first_byte_timeout_ms,
            idle_timeout_ms: config.llm_idle_timeout_ms,
            max_output_tokens: config.llm_max_output_tokens,
            max_stream_bytes: stream_byte_cap(config.llm_max_output_tokens),
            max_line_bytes: sse::DEFAULT_MAX_LINE_BYTES,
            max_event_bytes: sse::DEFAULT_MAX_EVENT_BYTES,
        }
    }
}

/// The stream byte cap for a reply of `max_output_tokens`.
pub fn stream_byte_cap(max_output_tokens: u32) -> u64 {
    (STREAM_BYTES_BASE + u64::from(max_output_tokens) * STREAM_BYTES_PER_TOKEN)
        .min(MAX_STREAM_BYTES)
}

/// Why an upstream call failed: the module's one error type, stored as the reply's `error`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Failure {
    /// What happened.
    pub kind: FailureKind,
    /// A short message for the user (upstream text bounded and cleaned, never a secret).
    pub message: String,
    /// For `upstream_busy`: the upstream's `retry-after` in seconds, when it sent one.
    pub retry_after_s: Option<u64>,
}

/// The kinds of failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// A non-2xx status other than 429/503, or a 2xx of an unusable content type.
    Refused { status: u16 },
    /// 429 or 503.
    Busy { status: u16 },
    /// No body byte in time, or too long a gap between chunks.
    Timeout(TimeoutKind),
    /// An `error` object (or `event: error`) inside the stream.
    StreamError,
    /// Bytes that are not a Chat Completions stream (garbage, an over-long line or event).
    Protocol,
    /// `fetch` failed or a read errored (connection refused, reset, DNS).
    Transport,
}

/// The reply's `error.code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureCode {
    /// `upstream_error`
    UpstreamError,
    /// `upstream_busy`
    UpstreamBusy,
    /// `upstream_timeout`
    UpstreamTimeout,
}

impl FailureCode {
    /// The code as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UpstreamError => "upstream_error",
            Self::UpstreamBusy => "upstream_busy",
            Self::UpstreamTimeout => "upstream_timeout",
        }
    }
}

impl Failure {
    /// A failure without `retry-after`.
    pub fn new(kind: FailureKind, message: String) -> Self {
        Self {
            kind,
            message,
            retry_after_s: None,
        }
    }

    /// The reply's `error.code`.
    pub fn code(&self) -> FailureCode {
        match self.kind {
            FailureKind::Busy { .. } => FailureCode::UpstreamBusy,
            FailureKind::Timeout(_) => FailureCode::UpstreamTimeout,
            _ => FailureCode::UpstreamError,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_follow_the_config() {
        let limits = Limits::from_config(&Config::default());
        assert_eq!(limits.first_byte_timeout_ms, 30_000);
        assert_eq!(limits.idle_timeout_ms, 30_000);
        assert_eq!(limits.max_output_tokens, 1024);
        assert_eq!(limits.max_stream_bytes, 3 * 1024 * 1024);
        assert_eq!(stream_byte_cap(100_000), MAX_STREAM_BYTES);
    }

    #[test]
    fn failure_codes() {
        let code = |kind| Failure::new(kind, String::new()).code().as_str();
        assert_eq!(code(FailureKind::Busy { status: 429 }), "upstream_busy");
        assert_eq!(
            code(FailureKind::Timeout(TimeoutKind::Idle)),
            "upstream_timeout"
        );
        for kind in [
            FailureKind::Refused { status: 401 },
            FailureKind::StreamError,
            FailureKind::Protocol,
            FailureKind::Transport,
        ] {
            assert_eq!(code(kind), "upstream_error");
        }
    }
}
