//! Assistant replies as a pure core: what one tab's object stores while a model streams an
//! answer, how a client replays it, and how an interrupted reply ends.
//!
//! A reply belongs to the tab's object, not to the request that started it. [`Replies`] (held by
//! [`super::Tab`]) keeps the one streaming reply in memory and persists it in batches; the object
//! only feeds it the upstream's deltas and the clock, and fans the events it returns out to the
//! clients watching.
//!
//! # Events
//! Every reply has a numbered event log: `1` is `context` (intent and citations), `2..=d+1` the
//! `d` deltas in order, `d+2` is `done`. Ids are stable: a live client and a replay after a
//! disconnect see the same id for the same text, so resuming after id `n` yields every later
//! event exactly once, and the delta texts concatenate to the stored content.
//!
//! # Storage (keys in the tab's store, beside the log's)
//! | key | value |
//! |---|---|
//! | `r/<reply_id>` | the [`ReplyRecord`] (JSON): written at start, when the context is known, at the end |
//! | `d/<reply_id>/<first:010>` | a chunk of deltas from delta index `first`: `varint(len) bytes` per delta |
//! | `rc/<client_id>` | the reply id first started with that idempotency key |
//! | `ra` | the id of the reply streaming now (absent when none) |
//!
//! The reply's assistant message lives in the log like every message (`l/<seq>`), empty and
//! `streaming` until the end writes its text once. Deltas are persisted the way the original
//! assistant flushed chat messages, applied to tokens: a chunk is written when
//! [`DeltaFlushRule::max_deltas`] deltas are waiting or the oldest has waited
//! [`DeltaFlushRule::max_ms`], whichever comes first, and at the end. A reply of `d` deltas
//! therefore costs about `d / max_deltas + 6` writes, and its bytes are the text twice (chunks and
//! message) plus a byte per delta and the record.
//!
//! # Interruption
//! `ra` names the streaming reply. An object that loads with `ra` set lost its reply mid-stream
//! (eviction, crash, deploy): [`Replies::interrupted`] finds it and
//! [`Replies::finish_interrupted`] ends it as `failed` with code `interrupted`,
//! keeping the text its stored chunks hold, so no reply stays `streaming` forever.

use serde::{Deserialize, Serialize};

use super::model::ReplyStatus;
use super::time::format_rfc3339_ms;
use super::ChatError;
use crate::storage::{prefix_end, KvStore};

/// Longest reply text kept, in UTF-8 bytes; the upstream's output past it is cut (`truncated`,
/// `finish_reason: "length"`). Bounds the object's memory and the message row.
pub const REPLY_MAX_BYTES: usize = 128 * 1024;
/// Longest `client_id` of a reply (as for messages).
pub const MAX_REPLY_CLIENT_ID_CHARS: usize = 64;

const RECORD_PREFIX: &str = "r/";
const CHUNK_PREFIX: &str = "d/";
const CLIENT_PREFIX: &str = "rc/";
const ACTIVE_KEY: &str = "ra";

/// When waiting deltas are written (whichever comes first), besides the end of the reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeltaFlushRule {
    /// Deltas waiting.
    pub max_deltas: usize,
    /// Age of the oldest waiting delta, ms.
    pub max_ms: u64,
}

impl Default for DeltaFlushRule {
    /// 32 deltas or 1 s: a fast model (50–100 tokens/s) writes about twice a second, a slow one
    /// once a second; a reconnecting client never misses anything (the object serves unwritten
    /// deltas from memory), only a crash loses up to one batch.
    fn default() -> Self {
        Self {
            max_deltas: 32,
            max_ms: 1_000,
        }
    }
}

/// What the intent router decided for the reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplyIntent {
    pub label: String,
    pub scores: serde_json::Map<String, serde_json::Value>,
}

impl Default for ReplyIntent {
    fn default() -> Self {
        Self {
            label: "chat".into(),
            scores: serde_json::Map::new(),
        }
    }
}

/// A numbered source given to the model (`[n]` in the prompt and the reply).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Citation {
    pub n: u32,
    /// `web`, `history` or `code`.
    pub source: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tab_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
}

/// Tokens the upstream reported (or the estimate when it reported none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

/// Why a reply failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyFailure {
    /// `upstream_error`, `upstream_busy`, `upstream_timeout`, `not_configured`, `interrupted`.
    pub code: String,
    pub message: String,
}

/// How a reply ended, as the driver saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ending {
    pub status: ReplyStatus,
    pub finish_reason: Option<String>,
    pub usage: Option<Usage>,
    pub error: Option<ReplyFailure>,
}

impl Ending {
    /// The upstream sent a `finish_reason`.
    pub fn complete(finish_reason: impl Into<String>, usage: Option<Usage>) -> Self {
        Self {
            status: ReplyStatus::Complete,
            finish_reason: Some(finish_reason.into()),
            usage,
            error: None,
        }
    }

    /// The stream ended without a `finish_reason`, or a cap cut it (`finish_reason: "length"`).
    pub fn truncated(finish_reason: Option<String>, usage: Option<Usage>) -> Self {
        Self {
            status: ReplyStatus::Truncated,
            finish_reason,
            usage,
            error: None,
        }
    }

    /// A failure with the API's `code` and a message for the user.
    pub fn failed(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            status: ReplyStatus::Failed,
            finish_reason: None,
            usage: None,
            error: Some(ReplyFailure {
                code: code.into(),
                message: message.into(),
            }),
        }
    }

    /// A client cancelled the reply.
    pub fn cancelled() -> Self {
        Self {
            status: ReplyStatus::Cancelled,
            finish_reason: None,
            usage: None,
            error: None,
        }
    }
}

/// A reply as stored (everything but its text, which the assistant message holds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplyRecord {
    pub id: String,
    pub tab_id: String,
    /// The user message answered.
    pub message_seq: u64,
    /// The assistant message the reply writes.
    pub assistant_seq: u64,
    pub status: ReplyStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
    #[serde(default)]
    pub intent: ReplyIntent,
    #[serde(default)]
    pub citations: Vec<Citation>,
    /// Whether the context event (intent, citations) has happened.
    #[serde(default)]
    pub context_ready: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ReplyFailure>,
    pub created_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Deltas the reply has (final once it ended).
    #[serde(default)]
    pub deltas: u64,
    /// The model asked.
    #[serde(default)]
    pub model: String,
    /// The prompt's estimated tokens (the usage of a reply whose upstream reported none).
    #[serde(default)]
    pub prompt_estimate: u64,
}

impl ReplyRecord {
    /// The usage to report and count: the upstream's, else the estimate of the prompt and of
    /// `content`.
    fn usage_or_estimate(&self, reported: Option<Usage>, content: &str) -> Usage {
        reported.unwrap_or(Usage {
            prompt_tokens: self.prompt_estimate,
            completion_tokens: crate::assistant::llm::tokens::estimate_tokens(content),
        })
    }

    /// The API's reply object with `content`.
    pub fn view<'a>(&'a self, content: &'a str) -> ReplyView<'a> {
        ReplyView {
            id: &self.id,
            tab_id: &self.tab_id,
            message_seq: self.message_seq,
            assistant_seq: self.assistant_seq,
            status: self.status,
            finish_reason: self.finish_reason.as_deref(),
            content,
            intent: &self.intent,
            citations: &self.citations,
            usage: self.usage,
            error: self.error.as_ref(),
            model: &self.model,
            last_event_id: if self.status.is_final() {
                self.deltas + 2
            } else if self.context_ready {
                self.deltas + 1
            } else {
                0
            },
            created_at: format_rfc3339_ms(self.created_ms),
            finished_at: self.finished_ms.map(format_rfc3339_ms),
        }
    }

    fn encode(&self) -> Result<Vec<u8>, ChatError> {
        serde_json::to_vec(self)
            .map_err(|e| ChatError::Corrupt(format!("cannot encode a reply record: {e}")))
    }

    fn decode(bytes: &[u8]) -> Result<ReplyRecord, ChatError> {
        serde_json::from_slice(bytes)
            .map_err(|_| ChatError::Corrupt("a reply record is malformed".into()))
    }
}

/// The API's reply object (`GET …/replies/{id}`, the `done` event, the 202).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplyView<'a> {
    pub id: &'a str,
    pub tab_id: &'a str,
    pub message_seq: u64,
    /// The `seq` of the assistant message the reply writes.
    pub assistant_seq: u64,
    pub status: ReplyStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<&'a str>,
    pub content: &'a str,
    pub intent: &'a ReplyIntent,
    pub citations: &'a [Citation],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'a ReplyFailure>,
    pub model: &'a str,
    /// The id of the last event `content` includes: resume the events after it.
    pub last_event_id: u64,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
}

/// One event of a reply's stream.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplyEvent {
    pub id: u64,
    pub kind: EventKind,
}

/// What an event carries; `data` of the SSE event is its JSON.
#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    /// `{"intent", "citations"}`.
    Context(String),
    /// The delta's text.
    Delta(String),
    /// The final reply's JSON.
    Done(String),
}

impl ReplyEvent {
    /// The event in `text/event-stream` form, ending with the blank line.
    pub fn to_sse(&self) -> String {
        let (name, data) = match &self.kind {
            EventKind::Context(json) => ("context", json.clone()),
            EventKind::Delta(text) => (
                "delta",
                serde_json::to_string(&DeltaData { text }).unwrap_or_default(),
            ),
            EventKind::Done(json) => ("done", json.clone()),
        };
        format!("id: {}\nevent: {name}\ndata: {data}\n\n", self.id)
    }
}

#[derive(Serialize)]
struct DeltaData<'a> {
    text: &'a str,
}

#[derive(Serialize)]
struct ContextData<'a> {
    intent: &'a ReplyIntent,
    citations: &'a [Citation],
}

fn context_event(record: &ReplyRecord) -> Result<ReplyEvent, ChatError> {
    let json = serde_json::to_string(&ContextData {
        intent: &record.intent,
        citations: &record.citations,
    })
    .map_err(|e| ChatError::Corrupt(format!("cannot encode a context event: {e}")))?;
    Ok(ReplyEvent {
        id: 1,
        kind: EventKind::Context(json),
    })
}

fn done_event(record: &ReplyRecord, content: &str) -> Result<ReplyEvent, ChatError> {
    let json = serde_json::to_string(&record.view(content))
        .map_err(|e| ChatError::Corrupt(format!("cannot encode a reply: {e}")))?;
    Ok(ReplyEvent {
        id: record.deltas + 2,
        kind: EventKind::Done(json),
    })
}

fn record_key(reply_id: &str) -> String {
    format!("{RECORD_PREFIX}{reply_id}")
}

fn chunk_prefix(reply_id: &str) -> String {
    format!("{CHUNK_PREFIX}{reply_id}/")
}

fn chunk_key(reply_id: &str, first: usize) -> String {
    format!("{CHUNK_PREFIX}{reply_id}/{first:010}")
}

fn client_key(client_id: &str) -> String {
    format!("{CLIENT_PREFIX}{client_id}")
}

/// Encodes deltas as `varint(len) bytes` each.
fn encode_chunk<'a>(deltas: impl Iterator<Item = &'a str>) -> Vec<u8> {
    let mut out = Vec::new();
    for delta in deltas {
        let mut len = delta.len() as u64;
        loop {
            let byte = (len & 0x7f) as u8;
            len >>= 7;
            if len == 0 {
                out.push(byte);
                break;
            }
            out.push(byte | 0x80);
        }
        out.extend_from_slice(delta.as_bytes());
    }
    out
}

/// Decodes a chunk written by [`encode_chunk`].
fn decode_chunk(bytes: &[u8]) -> Result<Vec<String>, ChatError> {
    let bad = || ChatError::Corrupt("a reply chunk is malformed".into());
    let mut deltas = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let mut len: u64 = 0;
        let mut shift = 0;
        loop {
            let byte = *bytes.get(at).ok_or_else(bad)?;
            at += 1;
            len |= u64::from(byte & 0x7f).checked_shl(shift).ok_or_else(bad)?;
            if byte & 0x80 == 0 {
                break;
            }
            shift += 7;
            if shift > 63 {
                return Err(bad());
            }
        }
        let end = usize::try_from(len)
            .ok()
            .and_then(|len| at.checked_add(len))
            .filter(|&end| end <= bytes.len())
            .ok_or_else(bad)?;
        let text = std::str::from_utf8(&bytes[at..end]).map_err(|_| bad())?;
        deltas.push(text.to_owned());
        at = end;
    }
    Ok(deltas)
}

/// The streaming reply, in memory.
#[derive(Debug, Clone, PartialEq)]
struct LiveReply {
    record: ReplyRecord,
    /// Every delta so far, concatenated.
    content: String,
    /// End offset in `content` of each delta.
    delta_ends: Vec<usize>,
    /// Deltas written to chunks.
    stored: usize,
    /// When the oldest unwritten delta arrived.
    waiting_since_ms: Option<u64>,
}

impl LiveReply {
    fn delta(&self, index: usize) -> &str {
        let start = index.checked_sub(1).map_or(0, |i| self.delta_ends[i]);
        &self.content[start..self.delta_ends[index]]
    }

    /// Writes the waiting deltas as one chunk.
    fn store_waiting(&mut self, store: &mut impl KvStore) -> Result<(), ChatError> {
        let count = self.delta_ends.len();
        if self.stored == count {
            return Ok(());
        }
        let chunk = encode_chunk((self.stored..count).map(|i| self.delta(i)));
        store.put(&chunk_key(&self.record.id, self.stored), &chunk)?;
        self.stored = count;
        self.waiting_since_ms = None;
        Ok(())
    }
}

/// A reply to start, validated by the worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewReply {
    /// The id the reply gets (ignored when `client_id` finds an existing reply).
    pub reply_id: String,
    /// The id its assistant message gets.
    pub message_id: String,
    /// The user message to answer; `None`: the tab's latest, which must be a user message.
    pub message_seq: Option<u64>,
    pub client_id: Option<String>,
    pub model: String,
}

/// The answer to a start.
#[derive(Debug, Clone, PartialEq)]
pub struct Started {
    pub record: ReplyRecord,
    /// The text so far (empty for a new reply).
    pub content: String,
    /// `false` when the `client_id` found a reply started earlier.
    pub created: bool,
}

/// A delta taken in.
#[derive(Debug, Clone, PartialEq)]
pub struct DeltaTaken {
    /// The event to send to the watchers (`None` for an empty delta).
    pub event: Option<ReplyEvent>,
    /// The reply reached [`REPLY_MAX_BYTES`]: end it as truncated (`length`).
    pub full: bool,
    /// Writing the waiting deltas failed. The delta is taken all the same (it is in memory,
    /// watchers get it, and the next write or the end retries the chunk); log it.
    pub store_error: Option<ChatError>,
}

/// Events to replay from a reply's log.
#[derive(Debug, Clone, PartialEq)]
pub struct Replay {
    pub events: Vec<ReplyEvent>,
    /// The reply has ended (`done` is among the events unless the client had it already).
    pub finished: bool,
}

/// One tab's replies: the streaming one in memory, every one in the store.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Replies {
    live: Option<LiveReply>,
    rule: DeltaFlushRule,
}

impl Replies {
    /// No reply streaming, persisting deltas by `rule`.
    pub fn new(rule: DeltaFlushRule) -> Self {
        Self { live: None, rule }
    }

    /// The id of the reply streaming now.
    pub fn streaming(&self) -> Option<&str> {
        self.live.as_ref().map(|l| l.record.id.as_str())
    }

    /// The `seq` and text so far of the streaming reply's assistant message.
    /// The streaming reply's id, assistant message `seq` and number of deltas.
    pub fn streaming_progress(&self) -> Option<(&str, u64, u64)> {
        self.live.as_ref().map(|l| {
            (
                l.record.id.as_str(),
                l.record.assistant_seq,
                l.record.deltas,
            )
        })
    }

    pub fn streaming_message(&self) -> Option<(u64, &str)> {
        self.live
            .as_ref()
            .map(|l| (l.record.assistant_seq, l.content.as_str()))
    }

    /// The reply first started with `client_id`, if any.
    pub fn find_by_client_id(
        &self,
        store: &impl KvStore,
        client_id: &str,
    ) -> Result<Option<ReplyRecord>, ChatError> {
        let Some(id) = store.get(&client_key(client_id))? else {
            return Ok(None);
        };
        let Ok(id) = String::from_utf8(id) else {
            return Ok(None);
        };
        Ok(self
            .record(store, &id)?
            .filter(|r| r.client_id.as_deref() == Some(client_id)))
    }

    /// Starts reply `new` answering `message_seq`, whose assistant message is `assistant_seq`
    /// (already appended by the caller). Writes the record, the active marker and the client
    /// index. The caller checked that no reply streams.
    pub fn start(
        &mut self,
        store: &mut impl KvStore,
        new: NewReply,
        tab_id: &str,
        message_seq: u64,
        assistant_seq: u64,
        now_ms: u64,
    ) -> Result<ReplyRecord, ChatError> {
        let record = ReplyRecord {
            id: new.reply_id,
            tab_id: tab_id.to_owned(),
            message_seq,
            assistant_seq,
            status: ReplyStatus::Streaming,
            finish_reason: None,
            intent: ReplyIntent::default(),
            citations: Vec::new(),
            context_ready: false,
            usage: None,
            error: None,
            created_ms: now_ms,
            finished_ms: None,
            client_id: new.client_id,
            deltas: 0,
            model: new.model,
            prompt_estimate: 0,
        };
        if let Some(cid) = &record.client_id {
            store.put(&client_key(cid), record.id.as_bytes())?;
        }
        store.put(&record_key(&record.id), &record.encode()?)?;
        store.put(ACTIVE_KEY, record.id.as_bytes())?;
        self.live = Some(LiveReply {
            record: record.clone(),
            content: String::new(),
            delta_ends: Vec::new(),
            stored: 0,
            waiting_since_ms: None,
        });
        Ok(record)
    }

    fn live_for(&mut self, reply_id: &str) -> Option<&mut LiveReply> {
        self.live.as_mut().filter(|l| l.record.id == reply_id)
    }

    /// Records the gathered context (event 1) and the prompt's estimated size. `None` when
    /// `reply_id` no longer streams.
    pub fn set_context(
        &mut self,
        store: &mut impl KvStore,
        reply_id: &str,
        intent: ReplyIntent,
        citations: Vec<Citation>,
        prompt_estimate: u64,
    ) -> Result<Option<ReplyEvent>, ChatError> {
        let Some(live) = self.live_for(reply_id) else {
            return Ok(None);
        };
        let mut record = live.record.clone();
        record.intent = intent;
        record.citations = citations;
        record.prompt_estimate = prompt_estimate;
        record.context_ready = true;
        store.put(&record_key(reply_id), &record.encode()?)?;
        live.record = record;
        Ok(Some(context_event(&live.record)?))
    }

    /// Takes in one delta of `reply_id` at `now_ms`; writes a chunk when the rule says so.
    /// `None` when `reply_id` no longer streams (it was cancelled: drop the rest). Never fails
    /// for a write: see [`DeltaTaken::store_error`].
    pub fn delta(
        &mut self,
        store: &mut impl KvStore,
        reply_id: &str,
        text: &str,
        now_ms: u64,
    ) -> Result<Option<DeltaTaken>, ChatError> {
        let rule = self.rule;
        let Some(live) = self.live_for(reply_id) else {
            return Ok(None);
        };
        let room = REPLY_MAX_BYTES - live.content.len();
        let mut cut = text.len().min(room);
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        let full = cut < text.len() || live.content.len() + cut == REPLY_MAX_BYTES;
        let text = &text[..cut];
        if text.is_empty() {
            return Ok(Some(DeltaTaken {
                event: None,
                full,
                store_error: None,
            }));
        }
        live.content.push_str(text);
        live.delta_ends.push(live.content.len());
        live.record.deltas = live.delta_ends.len() as u64;
        let since = *live.waiting_since_ms.get_or_insert(now_ms);
        let waiting = live.delta_ends.len() - live.stored;
        let store_error =
            if waiting >= rule.max_deltas || now_ms.saturating_sub(since) >= rule.max_ms {
                live.store_waiting(store).err()
            } else {
                None
            };
        Ok(Some(DeltaTaken {
            event: Some(ReplyEvent {
                id: live.delta_ends.len() as u64 + 1,
                kind: EventKind::Delta(text.to_owned()),
            }),
            full,
            store_error,
        }))
    }

    /// Writes the waiting deltas if the oldest has waited long enough (call it on a timer, so a
    /// stalled stream still persists what it sent).
    pub fn tick(&mut self, store: &mut impl KvStore, now_ms: u64) -> Result<(), ChatError> {
        let max_ms = self.rule.max_ms;
        if let Some(live) = self.live.as_mut() {
            if live
                .waiting_since_ms
                .is_some_and(|since| now_ms.saturating_sub(since) >= max_ms)
            {
                live.store_waiting(store)?;
            }
        }
        Ok(())
    }

    /// Ends the streaming reply `reply_id`: writes the last chunk and the final record, clears
    /// the active marker, and hands back the record and text for the caller to write the
    /// assistant message. `None` when `reply_id` does not stream (already ended).
    pub fn finish(
        &mut self,
        store: &mut impl KvStore,
        reply_id: &str,
        ending: Ending,
        now_ms: u64,
    ) -> Result<Option<(ReplyRecord, String)>, ChatError> {
        let Some(live) = self.live_for(reply_id) else {
            return Ok(None);
        };
        live.store_waiting(store)?;
        let mut record = live.record.clone();
        record.status = ending.status;
        record.finish_reason = ending.finish_reason;
        record.usage = Some(record.usage_or_estimate(ending.usage, &live.content));
        record.error = ending.error;
        record.finished_ms = Some(now_ms);
        record.deltas = live.delta_ends.len() as u64;
        store.put(&record_key(reply_id), &record.encode()?)?;
        store.delete(ACTIVE_KEY)?;
        let content = std::mem::take(&mut live.content);
        self.live = None;
        Ok(Some((record, content)))
    }

    /// The reply named by the active marker after a restart, with the text its chunks hold:
    /// the caller ends it with [`Replies::finish_interrupted`]. `None` when no reply was
    /// streaming.
    pub fn interrupted(
        &self,
        store: &impl KvStore,
    ) -> Result<Option<(ReplyRecord, Vec<String>)>, ChatError> {
        if self.live.is_some() {
            return Ok(None);
        }
        let Some(id) = store.get(ACTIVE_KEY)? else {
            return Ok(None);
        };
        let id = String::from_utf8(id)
            .map_err(|_| ChatError::Corrupt("the active reply marker is malformed".into()))?;
        let Some(record) = self.record(store, &id)? else {
            return Err(ChatError::Corrupt(format!(
                "the active reply {id} has no record"
            )));
        };
        let deltas = read_stored_deltas(store, &id)?;
        Ok(Some((record, deltas)))
    }

    /// Ends an interrupted reply as `failed` (`interrupted`) with its stored text: the final
    /// record, the active marker cleared. Returns the record and text for the assistant message.
    pub fn finish_interrupted(
        &mut self,
        store: &mut impl KvStore,
        mut record: ReplyRecord,
        deltas: Vec<String>,
        now_ms: u64,
    ) -> Result<(ReplyRecord, String), ChatError> {
        let failure = Ending::failed(
            "interrupted",
            "the service restarted while this reply was streaming; the text so far is kept, \
             ask again to regenerate",
        );
        let content = deltas.concat();
        record.status = failure.status;
        record.error = failure.error;
        record.finished_ms = Some(now_ms);
        record.deltas = deltas.len() as u64;
        record.usage = Some(record.usage_or_estimate(None, &content));
        if !record.context_ready {
            record.context_ready = true;
        }
        store.put(&record_key(&record.id), &record.encode()?)?;
        store.delete(ACTIVE_KEY)?;
        Ok((record, content))
    }

    /// The stored record of `reply_id` (for the streaming one: its latest state).
    pub fn record(
        &self,
        store: &impl KvStore,
        reply_id: &str,
    ) -> Result<Option<ReplyRecord>, ChatError> {
        if let Some(live) = self.live.as_ref().filter(|l| l.record.id == reply_id) {
            return Ok(Some(live.record.clone()));
        }
        match store.get(&record_key(reply_id))? {
            Some(bytes) => Ok(Some(ReplyRecord::decode(&bytes)?)),
            None => Ok(None),
        }
    }

    /// The events of `reply_id` after id `after`. A streaming reply replays from memory; an
    /// ended one from its chunks (and `content`, the assistant message's text, for `done`).
    pub fn replay(
        &self,
        store: &impl KvStore,
        record: &ReplyRecord,
        content: &str,
        after: u64,
    ) -> Result<Replay, ChatError> {
        let mut events = Vec::new();
        let finished = record.status.is_final();
        if after < 1 && (record.context_ready || finished) {
            events.push(context_event(record)?);
        }
        // Delta index i has event id i + 2.
        let first_delta = after.saturating_sub(1) as usize;
        match self.live.as_ref().filter(|l| l.record.id == record.id) {
            Some(live) => {
                for i in first_delta..live.delta_ends.len() {
                    events.push(ReplyEvent {
                        id: i as u64 + 2,
                        kind: EventKind::Delta(live.delta(i).to_owned()),
                    });
                }
            }
            None if (first_delta as u64) < record.deltas => {
                for (i, text) in read_stored_deltas_from(store, &record.id, first_delta)? {
                    events.push(ReplyEvent {
                        id: i as u64 + 2,
                        kind: EventKind::Delta(text),
                    });
                }
            }
            None => {}
        }
        if finished && after < record.deltas + 2 {
            events.push(done_event(record, content)?);
        }
        Ok(Replay { events, finished })
    }

    /// The `done` event of an ended reply.
    pub fn done_event(record: &ReplyRecord, content: &str) -> Result<ReplyEvent, ChatError> {
        done_event(record, content)
    }

    /// Forgets the streaming reply (the tab was deleted).
    pub fn reset(&mut self) {
        self.live = None;
    }
}

/// Every stored delta of `reply_id`, in order.
fn read_stored_deltas(store: &impl KvStore, reply_id: &str) -> Result<Vec<String>, ChatError> {
    Ok(read_stored_deltas_from(store, reply_id, 0)?
        .into_iter()
        .map(|(_, text)| text)
        .collect())
}

/// Stored deltas of `reply_id` with index `>= from`, with their index.
fn read_stored_deltas_from(
    store: &impl KvStore,
    reply_id: &str,
    from: usize,
) -> Result<Vec<(usize, String)>, ChatError> {
    let prefix = chunk_prefix(reply_id);
    // The chunk holding `from` is the last one starting at or before it.
    let mut chunks = store.range(&prefix, &chunk_key(reply_id, from + 1), true, 1)?;
    chunks.reverse();
    chunks.extend(store.range(
        &chunk_key(reply_id, from + 1),
        &prefix_end(&prefix),
        false,
        usize::MAX,
    )?);
    let mut out = Vec::new();
    let mut expected = None;
    for (key, bytes) in chunks {
        let first: usize = key
            .strip_prefix(&prefix)
            .and_then(|digits| digits.parse().ok())
            .ok_or_else(|| ChatError::Corrupt(format!("unexpected reply chunk key `{key}`")))?;
        if expected.is_some_and(|e| e != first) {
            return Err(ChatError::Corrupt(format!(
                "reply {reply_id} is missing deltas before {first}"
            )));
        }
        let deltas = decode_chunk(&bytes)?;
        expected = Some(first + deltas.len());
        out.extend(
            deltas
                .into_iter()
                .enumerate()
                .map(|(i, text)| (first + i, text))
                .filter(|(i, _)| *i >= from),
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
