//! One chat tab's message log over a [`KvStore`]: durable O(message) appends, paging that sees
//! flushed and pending messages alike, and idempotent flushes that commit pending messages with
//! one small write.
//!
//! # Key layout (one store per tab; every key is ASCII and sorts bytewise)
//!
//! | key                | value                                                         |
//! |--------------------|---------------------------------------------------------------|
//! | `m`                | meta JSON `{"through":N,"flushes":F,"last_flush_ms":T}`       |
//! | `l/<seq:010>`      | one message record (written by `append`, never moved)         |
//! | `p/<first:010>`    | a page (written by earlier versions, read only): JSON array of the records `first, first+1, ...` |
//! | `c/<client_id>`    | the `seq` (decimal) first stored with that idempotency key    |
//!
//! A record is the compact JSON array `[role, created_ms, id, content]` or
//! `[role, created_ms, id, content, client_id]` with role `"u"|"a"|"s"|"t"`; its `seq` is its key
//! (log) or its position in the page. Sequence numbers are zero-padded to 10 digits, so a tab holds
//! at most [`MAX_SEQ`] messages. The Durable Object may keep other keys of its own as long as they
//! do not start with `m`, `l/`, `p/` or `c/`.
//!
//! # Invariants and crash safety
//!
//! `through` (in `m`) is the last `seq` flushed. Messages with `seq <= through` are *committed*
//! and live in their log entries (or, when an earlier version compacted them, in a page); every
//! message with `seq > through` is *pending* and lives in a log entry or, after an earlier
//! version's compaction crashed midway, in an *orphan* page (`first > through`). Messages are
//! dense: `1..=message_count`.
//!
//! - `append` writes the client-id index (if any) and then the log entry. It is acknowledged only
//!   after both writes returned, so a 201 means durable. A crash between the two leaves an index
//!   entry pointing at a `seq` that holds no message (or another message): lookups verify the
//!   message's own `client_id`, so such an entry is simply overwritten later.
//! - `flush` writes `m` and nothing else: it commits every pending message (wherever it lives) and
//!   reports it. A failed flush changed nothing, so the retry reports the same messages; a flush
//!   with nothing pending writes nothing. Orphan pages left by an earlier version become
//!   committed pages, read alongside the log (a log entry wins over its page copy).
//!
//! # Costs
//!
//! `append`: one put of the record (plus one tiny index put with a `client_id`), independent of the
//! transcript. `flush` of `k` messages: one meta put, whatever `k`. `load`: one get and two range
//! scans over the pending part only. `read`: a range over the log entries of the page, plus at most
//! one page lookup and one page range for messages an earlier version compacted; none when the
//! page lies within the newest messages the log keeps in memory (`tail.rs`: up to 128 messages
//! and 128 KiB), as a reply's history and the UI's first page do.

use std::cell::RefCell;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::model::{
    Message, MessagePage, NewMessage, PageCursor, PageQuery, ReplyStatus, Role, TabStats,
};
use super::time::format_rfc3339_ms;
use super::ChatError;
use crate::storage::{prefix_end, KvStore};

mod tail;
use tail::Tail;

const META_KEY: &str = "m";
const LOG_PREFIX: &str = "l/";
const PAGE_PREFIX: &str = "p/";
const CLIENT_PREFIX: &str = "c/";

/// The largest `seq` a tab can hold (keys carry 10 decimal digits).
pub const MAX_SEQ: u64 = 9_999_999_999;
/// Most messages compacted into one page.
pub const PAGE_MAX_MESSAGES: usize = 100;
/// A page is closed before it would exceed this many value bytes (unless it holds one record),
/// keeping every stored value far below the platform's 2 MB row limit.
pub const PAGE_MAX_BYTES: usize = 128 * 1024;

fn seq_key(prefix: &str, seq: u64) -> String {
    format!("{prefix}{seq:010}")
}

fn client_key(client_id: &str) -> String {
    format!("{CLIENT_PREFIX}{client_id}")
}

fn parse_seq_key(prefix: &str, key: &str) -> Result<u64, ChatError> {
    key.strip_prefix(prefix)
        .filter(|digits| digits.len() == 10 && digits.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|digits| digits.parse().ok())
        .ok_or_else(|| ChatError::Corrupt(format!("unexpected key `{key}`")))
}

/// A message as stored: everything but its `seq`, which the key or page position gives.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Record {
    role: Role,
    created_ms: u64,
    id: String,
    content: String,
    client_id: Option<String>,
    /// The reply that writes this (assistant) message, and its status.
    reply: Option<(String, ReplyStatus)>,
}

impl Record {
    fn encode(&self) -> Result<Vec<u8>, ChatError> {
        let role = self.role.storage_code();
        let (created, id, content) = (self.created_ms, &self.id, &self.content);
        let encoded = match (&self.client_id, &self.reply) {
            (None, None) => serde_json::to_vec(&(role, created, id, content)),
            (Some(cid), None) => serde_json::to_vec(&(role, created, id, content, cid)),
            (cid, Some((reply_id, status))) => serde_json::to_vec(&(
                role,
                created,
                id,
                content,
                cid,
                (reply_id, status.storage_code()),
            )),
        };
        encoded.map_err(|e| ChatError::Corrupt(format!("cannot encode a message record: {e}")))
    }

    fn from_value(value: Value, seq: u64) -> Result<Record, ChatError> {
        let bad = || ChatError::Corrupt(format!("message {seq} has a malformed record"));
        let Value::Array(fields) = value else {
            return Err(bad());
        };
        let mut fields = fields.into_iter();
        let next_string = |fields: &mut std::vec::IntoIter<Value>| match fields.next() {
            Some(Value::String(s)) => Ok(s),
            _ => Err(bad()),
        };
        let role = Role::from_storage_code(&next_string(&mut fields)?).ok_or_else(bad)?;
        let created_ms = fields.next().and_then(|v| v.as_u64()).ok_or_else(bad)?;
        let id = next_string(&mut fields)?;
        let content = next_string(&mut fields)?;
        let client_id = match fields.next() {
            None | Some(Value::Null) => None,
            Some(Value::String(cid)) => Some(cid),
            Some(_) => return Err(bad()),
        };
        let reply = match fields.next() {
            None => None,
            Some(Value::Array(pair)) => match <[Value; 2]>::try_from(pair) {
                Ok([Value::String(reply_id), Value::String(code)]) => Some((
                    reply_id,
                    ReplyStatus::from_storage_code(&code).ok_or_else(bad)?,
                )),
                _ => return Err(bad()),
            },
            Some(_) => return Err(bad()),
        };
        if fields.next().is_some() {
            return Err(bad());
        }
        Ok(Record {
            role,
            created_ms,
            id,
            content,
            client_id,
            reply,
        })
    }

    fn decode(bytes: &[u8], seq: u64) -> Result<Record, ChatError> {
        let value = serde_json::from_slice(bytes)
            .map_err(|_| ChatError::Corrupt(format!("message {seq} is not valid JSON")))?;
        Record::from_value(value, seq)
    }

    fn into_message(self, seq: u64) -> Message {
        Message {
            id: self.id,
            seq,
            role: self.role,
            content: self.content,
            created_at: format_rfc3339_ms(self.created_ms),
            client_id: self.client_id,
            reply_id: self.reply.as_ref().map(|(id, _)| id.clone()),
            status: self.reply.map(|(_, status)| status),
        }
    }
}

/// Decodes page `first` into `(seq, record)` pairs.
fn decode_page(first: u64, bytes: &[u8]) -> Result<Vec<(u64, Record)>, ChatError> {
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|_| ChatError::Corrupt(format!("page {first} is not valid JSON")))?;
    let Value::Array(records) = value else {
        return Err(ChatError::Corrupt(format!("page {first} is not an array")));
    };
    let mut out = Vec::with_capacity(records.len());
    for (seq, record) in (first..).zip(records) {
        out.push((seq, Record::from_value(record, seq)?));
    }
    Ok(out)
}

/// The small record under `m`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Meta {
    /// Last `seq` compacted into a committed page (0 before the first flush).
    through: u64,
    /// Flushes completed.
    flushes: u64,
    /// When the last flush completed, ms since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_flush_ms: Option<u64>,
}

fn read_meta(store: &impl KvStore) -> Result<Meta, ChatError> {
    let Some(bytes) = store.get(META_KEY)? else {
        return Ok(Meta::default());
    };
    let meta: Meta = serde_json::from_slice(&bytes)
        .map_err(|_| ChatError::Corrupt("the tab's meta record is malformed".into()))?;
    // Bounding `through` keeps every `through + 1` below free of overflow.
    if meta.through > MAX_SEQ {
        return Err(ChatError::Corrupt(format!(
            "the tab's meta record claims {} flushed messages",
            meta.through
        )));
    }
    Ok(meta)
}

/// Pending messages (`seq > through`) found in log entries and orphan pages, with their keys.
#[derive(Debug, Default)]
struct PendingSet {
    records: BTreeMap<u64, Record>,
    log_keys: Vec<String>,
    orphan_page_keys: Vec<String>,
}

/// Reads the pending messages with `from <= seq <= upto` (`upto = None`: no upper bound).
/// Orphan pages are scanned from `through + 1` because one may start before `from`.
fn read_pending(
    store: &impl KvStore,
    through: u64,
    from: u64,
    upto: Option<u64>,
    orphan_pages: bool,
) -> Result<PendingSet, ChatError> {
    let from = from.max(through + 1);
    let in_range = |seq: u64| seq >= from && upto.is_none_or(|u| seq <= u);
    let end = |prefix: &str| match upto {
        Some(u) => seq_key(prefix, u + 1),
        None => prefix_end(prefix),
    };
    let mut set = PendingSet::default();
    let pages = if orphan_pages {
        store.range(
            &seq_key(PAGE_PREFIX, through + 1),
            &end(PAGE_PREFIX),
            false,
            usize::MAX,
        )?
    } else {
        Vec::new()
    };
    for (key, bytes) in pages {
        let first = parse_seq_key(PAGE_PREFIX, &key)?;
        for (seq, record) in decode_page(first, &bytes)? {
            if in_range(seq) {
                set.records.insert(seq, record);
            }
        }
        set.orphan_page_keys.push(key);
    }
    for (key, bytes) in store.range(
        &seq_key(LOG_PREFIX, from),
        &end(LOG_PREFIX),
        false,
        usize::MAX,
    )? {
        let seq = parse_seq_key(LOG_PREFIX, &key)?;
        // The log entry is the original write; an orphan page holds a copy of it.
        set.records.insert(seq, Record::decode(&bytes, seq)?);
        set.log_keys.push(key);
    }
    Ok(set)
}

/// Fails unless `records` holds exactly the seqs `lo, lo+1, ...` in order.
fn check_dense<'a>(lo: u64, seqs: impl Iterator<Item = &'a u64>) -> Result<u64, ChatError> {
    let mut expected = lo;
    for &seq in seqs {
        if seq != expected {
            return Err(ChatError::Corrupt(format!(
                "message {expected} is missing from storage"
            )));
        }
        expected += 1;
    }
    Ok(expected)
}

/// Result of [`TabLog::append`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppendOutcome {
    /// The message was stored (answer 201).
    Created(Message),
    /// A message with the same `client_id` exists; nothing was stored (answer 200 with it).
    Existing(Message),
}

impl AppendOutcome {
    /// The message to return, whichever way it came.
    pub fn message(&self) -> &Message {
        match self {
            Self::Created(m) | Self::Existing(m) => m,
        }
    }
}

/// Result of [`TabLog::flush`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FlushReport {
    /// Messages this flush committed, ascending `seq` (feed them to the history index). After a
    /// failed flush, the retry reports them again.
    pub flushed: Vec<Message>,
    /// Messages in the tab after the flush (for the tab directory).
    pub message_count: u64,
}

/// The in-memory summary of one tab's log; all messages live in the store, and the newest of
/// them also in memory (`tab_log/tail.rs`).
///
/// Build it with [`TabLog::load`] whenever the object starts; keep it for the object's lifetime
/// and route every write to the same store through it.
#[derive(Debug, Clone)]
pub struct TabLog {
    meta: Meta,
    next_seq: u64,
    pending: u64,
    first_pending_at_ms: Option<u64>,
    /// Whether page records above `through` may exist: the orphans of an earlier version's
    /// compaction that crashed, found by [`TabLog::load`] and committed by the next flush. This
    /// version writes no pages, so while this is false a read of pending messages skips the page
    /// range (one storage read fewer for every message the tab has not flushed yet).
    orphan_pages: bool,
    /// The newest messages' records, so reads of a conversation's end need no storage read.
    tail: RefCell<Tail>,
}

/// Two logs are equal when their summaries are: the tail is a copy of stored records, and a log
/// loaded again from the same store equals the one that wrote it.
impl PartialEq for TabLog {
    fn eq(&self, other: &Self) -> bool {
        self.meta == other.meta
            && self.next_seq == other.next_seq
            && self.pending == other.pending
            && self.first_pending_at_ms == other.first_pending_at_ms
            && self.orphan_pages == other.orphan_pages
    }
}

impl Eq for TabLog {}

impl TabLog {
    /// Reconstructs the summary from storage (an empty store is an empty tab).
    ///
    /// Reads the meta record and the pending part only: O(pending + 1), never the transcript.
    /// Errors: `Storage`, or `Corrupt` when a record is malformed or the pending log has a hole.
    pub fn load(store: &impl KvStore) -> Result<TabLog, ChatError> {
        let meta = read_meta(store)?;
        let pending = read_pending(store, meta.through, meta.through + 1, None, true)?;
        let next_seq = check_dense(meta.through + 1, pending.records.keys())?;
        Ok(TabLog {
            meta,
            next_seq,
            pending: pending.records.len() as u64,
            first_pending_at_ms: pending.records.values().next().map(|r| r.created_ms),
            orphan_pages: !pending.orphan_page_keys.is_empty(),
            tail: RefCell::default(),
        })
    }

    /// Messages in the tab, flushed or not.
    pub fn message_count(&self) -> u64 {
        self.next_seq - 1
    }

    /// Messages appended since the last completed flush.
    pub fn pending(&self) -> u64 {
        self.pending
    }

    /// When the oldest pending message was appended (ms since the epoch); `None` if none pending.
    pub fn first_pending_at_ms(&self) -> Option<u64> {
        self.first_pending_at_ms
    }

    /// Flushes completed since the tab was created.
    pub fn flushes(&self) -> u64 {
        self.meta.flushes
    }

    /// When the last flush completed (ms since the epoch).
    pub fn last_flush_at_ms(&self) -> Option<u64> {
        self.meta.last_flush_ms
    }

    /// Stores `new` as the next message, created at `now_ms` with id `message_id`.
    ///
    /// With a `client_id` already used in this tab, returns [`AppendOutcome::Existing`] with the
    /// original message and writes nothing. Otherwise writes O(message) bytes — the record, plus a
    /// small index entry with a `client_id` — and returns [`AppendOutcome::Created`] once they are
    /// written (durable at the edge). Errors: `Storage` (nothing acknowledged; a retry with the
    /// same `client_id` is safe), `TabFull`, `Corrupt`.
    pub fn append(
        &mut self,
        store: &mut impl KvStore,
        new: NewMessage,
        now_ms: u64,
        message_id: String,
    ) -> Result<AppendOutcome, ChatError> {
        if let Some(cid) = &new.client_id {
            if let Some(existing) = self.find_by_client_id(store, cid)? {
                return Ok(AppendOutcome::Existing(existing));
            }
        }
        let record = Record {
            role: new.role,
            created_ms: now_ms,
            id: message_id,
            content: new.content,
            client_id: new.client_id,
            reply: None,
        };
        self.append_record(store, record)
    }

    /// Stores the assistant message of reply `reply_id` as the next message: empty and
    /// `streaming` until [`TabLog::finish_reply_message`] writes its text. Costs one put.
    pub fn append_reply_message(
        &mut self,
        store: &mut impl KvStore,
        reply_id: &str,
        now_ms: u64,
        message_id: String,
    ) -> Result<Message, ChatError> {
        let record = Record {
            role: Role::Assistant,
            created_ms: now_ms,
            id: message_id,
            content: String::new(),
            client_id: None,
            reply: Some((reply_id.to_owned(), ReplyStatus::Streaming)),
        };
        match self.append_record(store, record)? {
            AppendOutcome::Created(message) | AppendOutcome::Existing(message) => Ok(message),
        }
    }

    /// Writes the final text and status of reply `reply_id`'s message `seq` (one put: the
    /// record stays where the append wrote it). Errors: `Corrupt` when `seq` is not that reply's
    /// message.
    pub fn finish_reply_message(
        &mut self,
        store: &mut impl KvStore,
        seq: u64,
        reply_id: &str,
        content: String,
        status: ReplyStatus,
    ) -> Result<Message, ChatError> {
        let key = seq_key(LOG_PREFIX, seq);
        let bytes = store
            .get(&key)?
            .ok_or_else(|| ChatError::Corrupt(format!("reply message {seq} is missing")))?;
        let mut record = Record::decode(&bytes, seq)?;
        if record.reply.as_ref().map(|(id, _)| id.as_str()) != Some(reply_id) {
            return Err(ChatError::Corrupt(format!(
                "message {seq} is not the message of reply {reply_id}"
            )));
        }
        record.content = content;
        record.reply = Some((reply_id.to_owned(), status));
        match store.put(&key, &record.encode()?) {
            Ok(()) => self.tail.get_mut().rewrote(seq, &record),
            Err(e) => {
                // The store may hold either version now.
                self.tail.get_mut().clear();
                return Err(e.into());
            }
        }
        Ok(record.into_message(seq))
    }

    fn append_record(
        &mut self,
        store: &mut impl KvStore,
        record: Record,
    ) -> Result<AppendOutcome, ChatError> {
        let seq = self.next_seq;
        if seq > MAX_SEQ {
            return Err(ChatError::TabFull { max: MAX_SEQ });
        }
        let now_ms = record.created_ms;
        let encoded = record.encode()?;
        // Index first: a crash in between leaves an index entry without its message, which the
        // lookup recognises; the other order could leave a message a retry would duplicate.
        if let Some(cid) = &record.client_id {
            store.put(&client_key(cid), seq.to_string().as_bytes())?;
        }
        // A failed put leaves `seq` beyond the newest message, where no read looks and the next
        // append writes again, so the tail stays as it is.
        store.put(&seq_key(LOG_PREFIX, seq), &encoded)?;
        self.tail.get_mut().appended(seq, &record);
        self.next_seq += 1;
        self.pending += 1;
        self.first_pending_at_ms.get_or_insert(now_ms);
        Ok(AppendOutcome::Created(record.into_message(seq)))
    }

    /// The message first stored with `client_id`, if any.
    fn find_by_client_id(
        &self,
        store: &impl KvStore,
        client_id: &str,
    ) -> Result<Option<Message>, ChatError> {
        let Some(bytes) = store.get(&client_key(client_id))? else {
            return Ok(None);
        };
        // A malformed index entry is treated like a stale one: the message check below decides.
        let Some(seq) = std::str::from_utf8(&bytes)
            .ok()
            .and_then(|s| s.parse().ok())
        else {
            return Ok(None);
        };
        Ok(self
            .message(store, seq)?
            .filter(|m| m.client_id.as_deref() == Some(client_id)))
    }

    /// The message with `seq`, flushed or not; `None` outside `1..=message_count`.
    pub fn message(&self, store: &impl KvStore, seq: u64) -> Result<Option<Message>, ChatError> {
        if seq == 0 || seq >= self.next_seq {
            return Ok(None);
        }
        Ok(self.read_range(store, seq, seq)?.into_iter().next())
    }

    /// A page of messages in ascending `seq` (see [`PageQuery`]); pending messages included.
    ///
    /// `After(n)`: the first `limit` messages with `seq > n`. `Before(n)`: the last `limit`
    /// messages with `seq < n`. `next_after` is the last returned `seq` while newer messages exist.
    pub fn read(&self, store: &impl KvStore, query: PageQuery) -> Result<MessagePage, ChatError> {
        let last = self.message_count();
        let limit = u64::from(query.limit);
        // (first, last) seqs of the page, and the highest seq the query can reach (for next_after).
        let range = match query.cursor {
            _ if limit == 0 || last == 0 => None,
            PageCursor::After(after) if after >= last => None,
            PageCursor::After(after) => {
                Some((after + 1, last.min(after.saturating_add(limit)), last))
            }
            PageCursor::Before(before) if before <= 1 => None,
            PageCursor::Before(before) => {
                let hi = last.min(before - 1);
                Some((hi.saturating_sub(limit - 1).max(1), hi, last))
            }
            PageCursor::Between(after, before) => {
                let top = last.min(before.saturating_sub(1));
                (after < top).then(|| (after + 1, top.min(after.saturating_add(limit)), top))
            }
        };
        let Some((lo, hi, top)) = range else {
            return Ok(MessagePage {
                messages: Vec::new(),
                next_after: None,
            });
        };
        Ok(MessagePage {
            messages: self.read_range(store, lo, hi)?,
            next_after: (hi < top).then_some(hi),
        })
    }

    /// Messages `lo..=hi`, which must lie within `1..=message_count`.
    fn read_range(
        &self,
        store: &impl KvStore,
        lo: u64,
        hi: u64,
    ) -> Result<Vec<Message>, ChatError> {
        let kept = self.tail.borrow().records(lo, hi);
        let records = match kept {
            Some(records) => records,
            None => self.read_stored(store, lo, hi)?,
        };
        Ok(records
            .into_iter()
            .map(|(seq, record)| record.into_message(seq))
            .collect())
    }

    /// Records `lo..=hi` from storage; a read that reaches the newest message widens the tail.
    fn read_stored(
        &self,
        store: &impl KvStore,
        lo: u64,
        hi: u64,
    ) -> Result<Vec<(u64, Record)>, ChatError> {
        let through = self.meta.through;
        let mut records: BTreeMap<u64, Record> = BTreeMap::new();
        if lo <= through {
            let top = hi.min(through);
            // The page holding `lo` is the last one starting at or before it; later pages follow.
            let mut pages = store.range(PAGE_PREFIX, &seq_key(PAGE_PREFIX, lo + 1), true, 1)?;
            pages.extend(store.range(
                &seq_key(PAGE_PREFIX, lo + 1),
                &seq_key(PAGE_PREFIX, top + 1),
                false,
                usize::MAX,
            )?);
            for (key, bytes) in pages {
                let first = parse_seq_key(PAGE_PREFIX, &key)?;
                records.extend(
                    decode_page(first, &bytes)?
                        .into_iter()
                        .filter(|(seq, _)| (lo..=top).contains(seq)),
                );
            }
            // Records committed by this version stay in the log; a log entry is the original
            // write, so it wins over a page copy of the same message.
            for (key, bytes) in store.range(
                &seq_key(LOG_PREFIX, lo),
                &seq_key(LOG_PREFIX, top + 1),
                false,
                usize::MAX,
            )? {
                let seq = parse_seq_key(LOG_PREFIX, &key)?;
                records.insert(seq, Record::decode(&bytes, seq)?);
            }
        }
        if hi > through {
            let pending = read_pending(store, through, lo, Some(hi), self.orphan_pages)?;
            records.extend(pending.records);
        }
        let end = check_dense(lo, records.keys())?;
        if end != hi + 1 {
            return Err(ChatError::Corrupt(format!(
                "message {end} is missing from storage"
            )));
        }
        if end == self.next_seq {
            self.tail.borrow_mut().read_to_newest(&records);
        }
        Ok(records.into_iter().collect())
    }

    /// Commits every pending message as flushed at `now_ms`: one write, the meta record.
    ///
    /// Records stay where `append` wrote them (`l/<seq>`): SQLite keeps them ordered by key, so a
    /// range read pages through them as cheaply as through compacted pages, and not copying them
    /// halves the bytes and rows a message costs (the storage bills rows written). Pages written
    /// by earlier versions stay readable.
    ///
    /// Idempotent: with nothing pending it writes nothing and reports nothing. Crash-safe: the meta
    /// put is the only write, so a failed flush changed nothing and the retry reports the same
    /// messages. Errors: `Storage`, `Corrupt`.
    pub fn flush(
        &mut self,
        store: &mut impl KvStore,
        now_ms: u64,
    ) -> Result<FlushReport, ChatError> {
        let through = self.meta.through;
        let pending = read_pending(store, through, through + 1, None, self.orphan_pages)?;
        if pending.records.is_empty() {
            return Ok(FlushReport {
                message_count: self.message_count(),
                ..FlushReport::default()
            });
        }
        let next_seq = check_dense(through + 1, pending.records.keys())?;
        let meta = Meta {
            through: next_seq - 1,
            flushes: self.meta.flushes + 1,
            last_flush_ms: Some(now_ms),
        };
        let meta_bytes = serde_json::to_vec(&meta)
            .map_err(|e| ChatError::Corrupt(format!("cannot encode the meta record: {e}")))?;
        // The commit point, and the only write.
        store.put(META_KEY, &meta_bytes)?;

        self.meta = meta;
        self.next_seq = next_seq;
        self.pending = 0;
        self.first_pending_at_ms = None;
        // Orphan pages held pending messages only, all committed now.
        self.orphan_pages = false;
        Ok(FlushReport {
            flushed: pending
                .records
                .into_iter()
                .map(|(seq, record)| record.into_message(seq))
                .collect(),
            message_count: self.message_count(),
        })
    }

    /// The flush of earlier versions, which compacted pending records into pages (page
    /// writes, orphan and log deletes, meta last). Kept for the tests, which build the layouts
    /// (committed pages, and the orphan pages of a compaction that crashed) that stores written
    /// by those versions hold, and check that this version reads and recovers them.
    #[cfg(test)]
    pub(crate) fn legacy_compact(
        &mut self,
        store: &mut impl KvStore,
        now_ms: u64,
    ) -> Result<FlushReport, ChatError> {
        let through = self.meta.through;
        let pending = read_pending(store, through, through + 1, None, true)?;
        if pending.records.is_empty() {
            return Ok(FlushReport {
                message_count: self.message_count(),
                ..FlushReport::default()
            });
        }
        check_dense(through + 1, pending.records.keys())?;

        // Greedy pages: close one at PAGE_MAX_MESSAGES records or before PAGE_MAX_BYTES.
        let mut pages: Vec<(u64, Vec<u8>, usize)> = Vec::new();
        for (&seq, record) in &pending.records {
            let encoded = record.encode()?;
            let fits = pages.last().is_some_and(|(_, bytes, count)| {
                *count < PAGE_MAX_MESSAGES && bytes.len() + encoded.len() + 2 <= PAGE_MAX_BYTES
            });
            match pages.last_mut() {
                Some((_, bytes, count)) if fits => {
                    bytes.push(b',');
                    bytes.extend_from_slice(&encoded);
                    *count += 1;
                }
                _ => {
                    let mut bytes = Vec::with_capacity(encoded.len() + 2);
                    bytes.push(b'[');
                    bytes.extend_from_slice(&encoded);
                    pages.push((seq, bytes, 1));
                }
            }
        }
        let mut page_keys = Vec::with_capacity(pages.len());
        for (first, mut bytes, _) in pages {
            bytes.push(b']');
            let key = seq_key(PAGE_PREFIX, first);
            store.put(&key, &bytes)?;
            page_keys.push(key);
        }
        self.orphan_pages = true; // until the flush below commits them
        for key in &pending.orphan_page_keys {
            if !page_keys.contains(key) {
                store.delete(key)?;
            }
        }
        for key in &pending.log_keys {
            store.delete(key)?;
        }
        // What remains is this version's commit: the compacted messages (now in orphan pages)
        // stop being pending only when the meta record is written.
        self.flush(store, now_ms)
    }

    /// The contract's stats; `storage` is the store's cumulative write counters.
    pub fn stats(&self, store: &impl KvStore) -> TabStats {
        TabStats {
            message_count: self.message_count(),
            pending: self.pending,
            flushes: self.meta.flushes,
            last_flush_at: self.meta.last_flush_ms.map(format_rfc3339_ms),
            storage: store.write_stats(),
        }
    }
}

#[cfg(test)]
mod tests;
