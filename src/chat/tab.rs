//! [`Tab`]: everything one tab's Durable Object decides, as a pure core over a [`KvStore`].
//!
//! The object (`edge/objects/tab.rs`) only decodes a call, runs one of these methods with the
//! store and the clock, and carries out the [`Effect`]s it gets back (set or delete the alarm).
//! Sending index batches to the user's object is the one asynchronous step, so it is a loop the
//! shell drives: [`Tab::next_index_batch`] → send → [`Tab::mark_indexed`], and on failure
//! [`Tab::index_failed`]. The host tests, the simulated tab, the write-amplification bench and
//! the fuzz target run this same type, so what they measure is what ships.
//!
//! State: the message log ([`TabLog`]), the flush scheduler ([`Batcher`], rebuilt from the
//! alarm the object already has), the owner (a tab without one does not exist), and the indexed
//! watermark `x` (the highest `seq` the user's history index holds). Messages compacted by a
//! flush are kept in memory until indexed, so a flush does not read back what it just wrote; after
//! a restart the backlog is read from the pages instead.
//!
//! Storage keys besides the log's (`m`, `l/`, `p/`, `c/`): `o` the owner record, `x` the indexed
//! watermark.

use serde::{Deserialize, Serialize};

use super::batch::{AfterFlush, AlarmDecision, AppendDecision, Batcher, FlushPolicy};
use super::model::{
    Message, MessagePage, NewMessage, PageCursor, PageQuery, ReplyStatus, Role, TabStats,
};
use super::reply::{
    Citation, DeltaFlushRule, DeltaTaken, Ending, NewReply, Replay, Replies, ReplyEvent,
    ReplyIntent, ReplyRecord, Started,
};
use super::tab_log::{AppendOutcome, TabLog};
use super::ChatError;
use crate::storage::KvStore;

const OWNER_KEY: &str = "o";
const INDEXED_KEY: &str = "x";
/// Most messages sent to the history index in one call, so one call stays small.
pub const INDEX_BATCH_MESSAGES: usize = 200;
/// After a failed index call, the alarm retries this much later.
pub const INDEX_RETRY_MS: u64 = 1_000;
/// While a reply streams, the object keeps an alarm at most this far ahead: each alarm run is an
/// event that keeps the object in memory, and the one after an eviction ends the lost reply.
pub const REPLY_HEARTBEAT_MS: u64 = 10_000;

/// Who the tab belongs to (a tab object without an owner does not exist).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    pub user: String,
    pub tab_id: String,
}

/// What the object must do after a call, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Set the object's (single) alarm to `at_ms`, replacing any other.
    SetAlarm {
        /// ms since the epoch.
        at_ms: u64,
    },
    /// Delete the object's alarm.
    DeleteAlarm,
}

/// The answer to an append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendResult {
    pub message: Message,
    /// `false` when the `client_id` matched a message stored earlier.
    pub created: bool,
    pub message_count: u64,
    pub effects: Vec<Effect>,
}

/// Flushed messages for the user's history index, with the tab's state for its directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexBatch {
    pub user: String,
    pub tab_id: String,
    pub messages: Vec<Message>,
    pub message_count: u64,
    /// The watermark to record once the batch is indexed.
    pub indexed_through: u64,
}

/// Messages the history index does not hold yet, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unindexed {
    pub messages: Vec<Message>,
    /// More exist beyond the requested limit.
    pub more: bool,
}

/// One tab's state and decisions; see the module docs.
#[derive(Debug, Clone)]
pub struct Tab {
    log: TabLog,
    batcher: Batcher,
    owner: Option<Owner>,
    indexed_through: u64,
    /// Compacted messages above the watermark, ascending, kept from the last flush (may be a
    /// suffix of the backlog only; the rest is read from the pages).
    flushed_unindexed: Vec<Message>,
    /// The assistant's replies in this tab.
    replies: Replies,
}

/// What a reply request would do (see [`Tab::check_reply`]).
#[derive(Debug, Clone, PartialEq)]
pub enum ReplyCheck {
    /// The `client_id` names an earlier reply: answer it, start nothing.
    Existing(Box<Started>),
    /// Start a reply answering `message_seq`.
    New { message_seq: u64 },
}

/// An ended reply: its record and text, the `done` event for the watchers, and what to schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplyEnded {
    pub record: ReplyRecord,
    pub content: String,
    pub done: ReplyEvent,
    pub effects: Vec<Effect>,
}

impl Tab {
    /// Loads the tab from `store`. `scheduled_alarm_ms` is the alarm the object has now
    /// (`getAlarm()`), so the scheduler neither asks for a second one nor believes in one that is
    /// gone. The effects make sure leftover work (pending messages, an index backlog) has an
    /// alarm after a restart that lost it.
    pub fn load(
        store: &impl KvStore,
        policy: FlushPolicy,
        scheduled_alarm_ms: Option<u64>,
        now_ms: u64,
    ) -> Result<(Tab, Vec<Effect>), ChatError> {
        let log = TabLog::load(store)?;
        let owner =
            match store.get(OWNER_KEY)? {
                Some(bytes) => Some(serde_json::from_slice::<Owner>(&bytes).map_err(|_| {
                    ChatError::Corrupt("the tab's owner record is malformed".into())
                })?),
                None => None,
            };
        let indexed_through = match store.get(INDEXED_KEY)? {
            Some(bytes) => std::str::from_utf8(&bytes)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| {
                    ChatError::Corrupt("the tab's index watermark is malformed".into())
                })?,
            None => 0,
        };
        let mut tab = Tab {
            log,
            batcher: Batcher::new(policy, scheduled_alarm_ms),
            owner,
            indexed_through,
            flushed_unindexed: Vec::new(),
            replies: Replies::new(DeltaFlushRule::default()),
        };
        let mut effects = Vec::new();
        if tab.owner.is_some() && tab.batcher.alarm_at_ms().is_none() {
            if let Some(first) = tab.log.first_pending_at_ms() {
                if let AppendDecision::SetAlarm { at_ms } =
                    tab.batcher.after_append(tab.log.pending(), first, now_ms)
                {
                    effects.push(Effect::SetAlarm { at_ms });
                }
            } else if tab.has_index_backlog() {
                let at_ms = tab.batcher.alarm_at_least_by(now_ms);
                effects.push(Effect::SetAlarm { at_ms });
            }
        }
        Ok((tab, effects))
    }

    /// The owner, or `NotFound` when the tab was never created (or was deleted).
    pub fn owner(&self) -> Result<&Owner, ChatError> {
        self.owner.as_ref().ok_or(ChatError::TabNotFound)
    }

    /// Whether the tab exists.
    pub fn exists(&self) -> bool {
        self.owner.is_some()
    }

    /// Creates the tab for `owner`. Idempotent for the same owner.
    pub fn init(&mut self, store: &mut impl KvStore, owner: Owner) -> Result<(), ChatError> {
        if self.owner.as_ref() == Some(&owner) {
            return Ok(());
        }
        let bytes = serde_json::to_vec(&owner)
            .map_err(|e| ChatError::Corrupt(format!("cannot encode the owner: {e}")))?;
        store.put(OWNER_KEY, &bytes)?;
        self.owner = Some(owner);
        Ok(())
    }

    /// Appends a validated message (durable once this returns) and says what to schedule.
    pub fn append(
        &mut self,
        store: &mut impl KvStore,
        new: NewMessage,
        message_id: String,
        now_ms: u64,
    ) -> Result<AppendResult, ChatError> {
        self.owner()?;
        let outcome = self.log.append(store, new, now_ms, message_id)?;
        let mut effects = Vec::new();
        let created = matches!(outcome, AppendOutcome::Created(_));
        if created {
            let first = self.log.first_pending_at_ms().unwrap_or(now_ms);
            match self.batcher.after_append(self.log.pending(), first, now_ms) {
                AppendDecision::FlushNow => effects.push(Effect::SetAlarm { at_ms: now_ms }),
                AppendDecision::SetAlarm { at_ms } => effects.push(Effect::SetAlarm { at_ms }),
                AppendDecision::Nothing => {}
            }
        }
        let message = match outcome {
            AppendOutcome::Created(m) | AppendOutcome::Existing(m) => m,
        };
        Ok(AppendResult {
            message,
            created,
            message_count: self.log.message_count(),
            effects,
        })
    }

    /// The object could not set the alarm an effect asked for: forget it, so the next append (or
    /// load) asks again. The append itself stays acknowledged.
    pub fn alarm_not_set(&mut self) {
        self.batcher.forget_alarm();
    }

    /// The alarm fired: flushes if the batch is due (or full), reschedules an early alarm.
    /// Afterwards the shell drains the index backlog and calls [`Tab::settle`].
    pub fn on_alarm(
        &mut self,
        store: &mut impl KvStore,
        now_ms: u64,
    ) -> Result<Vec<Effect>, ChatError> {
        if self.owner.is_none() {
            self.batcher.forget_alarm();
            return Ok(Vec::new());
        }
        let mut effects =
            match self
                .batcher
                .on_alarm(self.log.pending(), self.log.first_pending_at_ms(), now_ms)
            {
                AlarmDecision::Flush => {
                    self.flush(store, now_ms)?;
                    Vec::new()
                }
                AlarmDecision::Reschedule { at_ms } => vec![Effect::SetAlarm { at_ms }],
                AlarmDecision::Idle => Vec::new(),
            };
        self.replies.tick(store, now_ms)?;
        effects.extend(self.heartbeat(now_ms));
        Ok(effects)
    }

    /// While a reply streams: the alarm that keeps the object alive and ends a lost reply.
    fn heartbeat(&mut self, now_ms: u64) -> Option<Effect> {
        self.replies.streaming()?;
        let at_ms = self
            .batcher
            .alarm_at_least_by(now_ms.saturating_add(REPLY_HEARTBEAT_MS));
        Some(Effect::SetAlarm { at_ms })
    }

    /// Compacts every pending message now (`POST …/flush`, or a due alarm). The alarm is left
    /// as it is until [`Tab::settle`], after indexing, so a failed index call is retried.
    pub fn flush(&mut self, store: &mut impl KvStore, now_ms: u64) -> Result<(), ChatError> {
        self.owner()?;
        let report = self.log.flush(store, now_ms)?;
        let next = self
            .flushed_unindexed
            .last()
            .map_or(self.indexed_through, |m| m.seq)
            + 1;
        // Keep the report only when it continues what is held (or nothing is): then the held
        // messages are exactly a suffix of the backlog ending at the flushed watermark.
        match report.flushed.first() {
            Some(first) if first.seq == next => self.flushed_unindexed.extend(report.flushed),
            Some(_) => {
                self.flushed_unindexed = report
                    .flushed
                    .into_iter()
                    .filter(|m| m.seq > self.indexed_through)
                    .collect();
            }
            None => {}
        }
        Ok(())
    }

    /// The highest `seq` compacted into pages.
    fn flushed_through(&self) -> u64 {
        self.log.message_count() - self.log.pending()
    }

    fn has_index_backlog(&self) -> bool {
        self.indexed_through < self.flushed_through()
    }

    /// The next batch of compacted messages for the user's history index, or `None` when the
    /// index is up to date.
    pub fn next_index_batch(&self, store: &impl KvStore) -> Result<Option<IndexBatch>, ChatError> {
        let Some(owner) = &self.owner else {
            return Ok(None);
        };
        let flushed_through = self.flushed_through();
        if self.indexed_through >= flushed_through {
            return Ok(None);
        }
        let held_from = self.flushed_unindexed.first().map(|m| m.seq);
        let messages: Vec<Message> = if held_from == Some(self.indexed_through + 1) {
            self.flushed_unindexed
                .iter()
                .take(INDEX_BATCH_MESSAGES)
                .cloned()
                .collect()
        } else {
            self.log
                .read(
                    store,
                    PageQuery {
                        cursor: PageCursor::Between(self.indexed_through, flushed_through + 1),
                        limit: INDEX_BATCH_MESSAGES as u32,
                    },
                )?
                .messages
        };
        // A reply's message is indexed once it has its text: the batch stops before a streaming
        // one (the reply's end schedules the alarm that sends it).
        let mut messages = messages;
        if let Some(cut) = messages
            .iter()
            .position(|m| m.status == Some(ReplyStatus::Streaming))
        {
            messages.truncate(cut);
        }
        let Some(last) = messages.last() else {
            return Ok(None);
        };
        Ok(Some(IndexBatch {
            user: owner.user.clone(),
            tab_id: owner.tab_id.clone(),
            indexed_through: last.seq,
            messages,
            message_count: self.log.message_count(),
        }))
    }

    /// Records that the index holds every message through `seq`.
    pub fn mark_indexed(&mut self, store: &mut impl KvStore, seq: u64) -> Result<(), ChatError> {
        if seq <= self.indexed_through {
            return Ok(());
        }
        store.put(INDEXED_KEY, seq.to_string().as_bytes())?;
        self.indexed_through = seq;
        self.flushed_unindexed.retain(|m| m.seq > seq);
        Ok(())
    }

    /// An index call failed: the alarm retries it (the compacted messages stay in the backlog).
    pub fn index_failed(&mut self, now_ms: u64) -> Effect {
        let at_ms = self
            .batcher
            .alarm_at_least_by(now_ms.saturating_add(INDEX_RETRY_MS));
        Effect::SetAlarm { at_ms }
    }

    /// After a flush and the index loop: deletes the alarm when nothing is left to do.
    pub fn settle(&mut self) -> Vec<Effect> {
        if self.log.pending() == 0
            && self.replies.streaming().is_none()
            && !self.has_index_backlog()
            && self.batcher.after_flush() == AfterFlush::DeleteAlarm
        {
            return vec![Effect::DeleteAlarm];
        }
        Vec::new()
    }

    /// Starts a reply (see [`super::reply`]): resolves the user message it answers, appends its
    /// empty assistant message and writes the reply record. With a `client_id` used before, the
    /// earlier reply (`created: false`, nothing written). Errors: `ReplyBusy` while another
    /// reply streams, `Input` when the message to answer is not a user message.
    pub fn start_reply(
        &mut self,
        store: &mut impl KvStore,
        new: NewReply,
        now_ms: u64,
    ) -> Result<(Started, Vec<Effect>), ChatError> {
        let tab_id = self.owner()?.tab_id.clone();
        let message_seq = match self.check_reply(store, &new)? {
            ReplyCheck::Existing(started) => return Ok((*started, Vec::new())),
            ReplyCheck::New { message_seq } => message_seq,
        };
        let message_id = new.message_id.clone();
        let assistant = self
            .log
            .append_reply_message(store, &new.reply_id, now_ms, message_id)?;
        let record = self
            .replies
            .start(store, new, &tab_id, message_seq, assistant.seq, now_ms)?;
        let mut effects = Vec::new();
        let first = self.log.first_pending_at_ms().unwrap_or(now_ms);
        match self.batcher.after_append(self.log.pending(), first, now_ms) {
            AppendDecision::FlushNow => effects.push(Effect::SetAlarm { at_ms: now_ms }),
            AppendDecision::SetAlarm { at_ms } => effects.push(Effect::SetAlarm { at_ms }),
            AppendDecision::Nothing => {}
        }
        effects.extend(self.heartbeat(now_ms));
        let started = Started {
            record,
            content: String::new(),
            created: true,
        };
        Ok((started, effects))
    }

    /// What [`Tab::start_reply`] would do with `new`, without writing: answer an earlier reply
    /// (its `client_id`), refuse (busy, or not a user message to answer), or start one answering
    /// `message_seq`. The object asks this before it reserves the reply's tokens, so a request
    /// that would be refused holds no reservation.
    pub fn check_reply(
        &self,
        store: &impl KvStore,
        new: &NewReply,
    ) -> Result<ReplyCheck, ChatError> {
        self.owner()?;
        if let Some(cid) = &new.client_id {
            if let Some(record) = self.replies.find_by_client_id(store, cid)? {
                let content = self.reply_content(store, &record)?;
                return Ok(ReplyCheck::Existing(Box::new(Started {
                    record,
                    content,
                    created: false,
                })));
            }
        }
        if let Some(reply_id) = self.replies.streaming() {
            return Err(ChatError::ReplyBusy {
                reply_id: reply_id.to_owned(),
            });
        }
        let message_seq = new.message_seq.unwrap_or(self.log.message_count());
        match self.log.message(store, message_seq)? {
            Some(m) if m.role == Role::User => Ok(ReplyCheck::New { message_seq }),
            Some(m) => Err(crate::api::InputError::invalid(format!(
                "message {message_seq} is a {} message; a reply answers a user message \
                 (append one, or name it with `message_seq`)",
                m.role.as_str()
            ))
            .into()),
            None if new.message_seq.is_none() => Err(crate::api::InputError::invalid(
                "the tab has no messages; append the user message to answer first",
            )
            .into()),
            None => Err(crate::api::InputError::invalid(format!(
                "`message_seq` {message_seq} is not a message of this tab"
            ))
            .into()),
        }
    }

    /// The text of `record`'s reply: live while it streams, else its assistant message's.
    fn reply_content(
        &self,
        store: &impl KvStore,
        record: &ReplyRecord,
    ) -> Result<String, ChatError> {
        if let Some((seq, content)) = self.replies.streaming_message() {
            if seq == record.assistant_seq {
                return Ok(content.to_owned());
            }
        }
        Ok(self
            .log
            .message(store, record.assistant_seq)?
            .map(|m| m.content)
            .unwrap_or_default())
    }

    /// Records the reply's gathered context; the event for the watchers, `None` when the reply
    /// no longer streams.
    pub fn reply_context(
        &mut self,
        store: &mut impl KvStore,
        reply_id: &str,
        intent: ReplyIntent,
        citations: Vec<Citation>,
        prompt_estimate: u64,
    ) -> Result<Option<ReplyEvent>, ChatError> {
        self.replies
            .set_context(store, reply_id, intent, citations, prompt_estimate)
    }

    /// Takes in a delta of the streaming reply (`None`: it no longer streams, stop).
    pub fn reply_delta(
        &mut self,
        store: &mut impl KvStore,
        reply_id: &str,
        text: &str,
        now_ms: u64,
    ) -> Result<Option<DeltaTaken>, ChatError> {
        self.replies.delta(store, reply_id, text, now_ms)
    }

    /// Persists waiting deltas that are due (the driver's timer).
    pub fn reply_tick(&mut self, store: &mut impl KvStore, now_ms: u64) -> Result<(), ChatError> {
        self.replies.tick(store, now_ms)
    }

    /// Ends the streaming reply `reply_id` as `ending` says: last chunk, final record, the
    /// assistant message's text and status, and an alarm to index it. `None` when it had ended.
    pub fn finish_reply(
        &mut self,
        store: &mut impl KvStore,
        reply_id: &str,
        ending: Ending,
        now_ms: u64,
    ) -> Result<Option<ReplyEnded>, ChatError> {
        let Some((record, content)) = self.replies.finish(store, reply_id, ending, now_ms)? else {
            return Ok(None);
        };
        self.ended(store, record, content, now_ms).map(Some)
    }

    /// Writes an ended reply's message and schedules its indexing.
    fn ended(
        &mut self,
        store: &mut impl KvStore,
        record: ReplyRecord,
        content: String,
        now_ms: u64,
    ) -> Result<ReplyEnded, ChatError> {
        let message = self.log.finish_reply_message(
            store,
            record.assistant_seq,
            &record.id,
            content.clone(),
            record.status,
        )?;
        // A flush while it streamed may hold the empty copy for the index: replace it.
        if let Some(held) = self
            .flushed_unindexed
            .iter_mut()
            .find(|m| m.seq == message.seq)
        {
            *held = message;
        }
        // The message may have been flushed while it streamed, with the index held before it.
        let at_ms = self.batcher.alarm_at_least_by(
            now_ms.saturating_add(self.batcher.policy().interval_ms.min(REPLY_HEARTBEAT_MS)),
        );
        let done = Replies::done_event(&record, &content)?;
        Ok(ReplyEnded {
            record,
            content,
            done,
            effects: vec![Effect::SetAlarm { at_ms }],
        })
    }

    /// After a restart: ends the reply that was streaming when the object went away (`failed`,
    /// `interrupted`, with the text its stored chunks hold). Call once after [`Tab::load`].
    pub fn recover_reply(
        &mut self,
        store: &mut impl KvStore,
        now_ms: u64,
    ) -> Result<Option<ReplyEnded>, ChatError> {
        let Some((record, deltas)) = self.replies.interrupted(store)? else {
            return Ok(None);
        };
        let (record, content) = self
            .replies
            .finish_interrupted(store, record, deltas, now_ms)?;
        self.ended(store, record, content, now_ms).map(Some)
    }

    /// Cancels reply `reply_id`: ends it as `cancelled` with its text so far, or leaves it as it
    /// is if it had ended. The record and text after, and the end when this call ended it.
    pub fn cancel_reply(
        &mut self,
        store: &mut impl KvStore,
        reply_id: &str,
        now_ms: u64,
    ) -> Result<(ReplyRecord, String, Option<ReplyEnded>), ChatError> {
        self.owner()?;
        let ended = self.finish_reply(store, reply_id, Ending::cancelled(), now_ms)?;
        if let Some(ended) = &ended {
            return Ok((
                ended.record.clone(),
                ended.content.clone(),
                Some(ended.clone()),
            ));
        }
        let (record, content) = self.reply(store, reply_id)?;
        Ok((record, content, None))
    }

    /// Reply `reply_id` and its text so far.
    pub fn reply(
        &self,
        store: &impl KvStore,
        reply_id: &str,
    ) -> Result<(ReplyRecord, String), ChatError> {
        self.owner()?;
        let record = self
            .replies
            .record(store, reply_id)?
            .ok_or(ChatError::ReplyNotFound)?;
        let content = self.reply_content(store, &record)?;
        Ok((record, content))
    }

    /// The events of reply `reply_id` after id `after`.
    pub fn reply_events(
        &self,
        store: &impl KvStore,
        reply_id: &str,
        after: u64,
    ) -> Result<(ReplyRecord, Replay), ChatError> {
        let (record, content) = self.reply(store, reply_id)?;
        let replay = self.replies.replay(store, &record, &content, after)?;
        Ok((record, replay))
    }

    /// The reply streaming now, for a live socket joining: id, assistant message, last delta id.
    pub fn streaming_live(&self) -> Option<super::live::Streaming> {
        self.replies
            .streaming_progress()
            .map(|(id, assistant_seq, deltas)| super::live::Streaming {
                reply_id: id.to_owned(),
                assistant_seq,
                last_delta_id: deltas + 1,
            })
    }

    /// The reply streaming now, if any.
    pub fn streaming_reply(&self) -> Option<&str> {
        self.replies.streaming()
    }

    /// The highest `seq` the history index holds.
    pub fn indexed_through(&self) -> u64 {
        self.indexed_through
    }

    /// Up to `limit` messages the index does not hold yet (pending or awaiting indexing).
    /// Pages with `after`: pass the last `seq` of the previous page while `more` is set.
    pub fn unindexed(
        &self,
        store: &impl KvStore,
        after: u64,
        limit: u32,
    ) -> Result<Unindexed, ChatError> {
        self.owner()?;
        let limit = limit.clamp(1, super::model::MAX_PAGE_LIMIT);
        let page = self.log.read(
            store,
            PageQuery {
                cursor: PageCursor::After(after.max(self.indexed_through)),
                limit,
            },
        )?;
        Ok(Unindexed {
            more: page.next_after.is_some(),
            messages: page.messages,
        })
    }

    /// A page of messages.
    pub fn read(&self, store: &impl KvStore, query: PageQuery) -> Result<MessagePage, ChatError> {
        self.owner()?;
        let mut page = self.log.read(store, query)?;
        // The streaming reply's message shows what has streamed so far.
        if let Some((seq, content)) = self.replies.streaming_message() {
            if let Some(message) = page.messages.iter_mut().find(|m| m.seq == seq) {
                message.content = content.to_owned();
            }
        }
        Ok(page)
    }

    /// The tab's counters.
    pub fn stats(&self, store: &impl KvStore) -> Result<TabStats, ChatError> {
        self.owner()?;
        Ok(self.log.stats(store))
    }

    /// The log, for tests and benchmarks that inspect it.
    pub fn log(&self) -> &TabLog {
        &self.log
    }

    /// The alarm the scheduler believes is set.
    pub fn alarm_at_ms(&self) -> Option<u64> {
        self.batcher.alarm_at_ms()
    }

    /// Forgets everything after the object wiped its storage: the tab no longer exists.
    pub fn reset(&mut self, store: &impl KvStore) -> Result<Vec<Effect>, ChatError> {
        let policy = self.batcher.policy();
        let had_alarm = self.batcher.alarm_at_ms().is_some();
        *self = Tab {
            log: TabLog::load(store)?,
            batcher: Batcher::new(policy, None),
            owner: None,
            indexed_through: 0,
            flushed_unindexed: Vec::new(),
            replies: Replies::new(DeltaFlushRule::default()),
        };
        Ok(if had_alarm {
            vec![Effect::DeleteAlarm]
        } else {
            Vec::new()
        })
    }
}

#[cfg(test)]
mod tests;
