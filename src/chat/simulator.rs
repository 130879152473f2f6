//! [`SimulatedTab`]: a tab driven exactly as its Durable Object drives it, with a fake clock, one
//! alarm slot and an in-memory history index, for host tests, the fuzz target and the
//! write-amplification benchmark.
//!
//! It runs the same [`Tab`] core and carries out its [`Effect`]s the way `edge/objects/tab.rs`
//! does: appends set the alarm they are told to; the alarm, when due, runs `on_alarm`, the index
//! loop (`next_index_batch` → deliver → `mark_indexed`, or `index_failed`) and `settle`. So a
//! figure or an invariant checked here is one of the code that ships, not of a copy.

use super::batch::FlushPolicy;
use super::model::{Message, NewMessage, Role};
use super::tab::{Effect, IndexBatch, Owner, Tab};
use super::ChatError;
use crate::storage::KvStore;

/// A tab, its store, its alarm and the messages its user's index received.
pub struct SimulatedTab<S: KvStore> {
    pub store: S,
    pub tab: Tab,
    /// The object's single alarm, ms since the epoch.
    pub alarm: Option<u64>,
    pub now_ms: u64,
    /// Every message delivered to the history index, in delivery order.
    pub indexed: Vec<Message>,
    /// The index batches delivered, in order (to replay into a user core).
    pub batches: Vec<IndexBatch>,
    /// Requests and alarm runs that wrote to the store: each also saves the object's write
    /// counters (one small row upsert, which the store's own counters do not include).
    pub writing_requests: u64,
    /// Index calls fail while this is set (the user's object unreachable).
    pub index_unreachable: bool,
    /// Index calls made (successful or not).
    pub index_calls: u64,
}

impl<S: KvStore> SimulatedTab<S> {
    /// A created tab (`alice`/`t1`) over `store`, at `now_ms`.
    pub fn new(mut store: S, policy: FlushPolicy, now_ms: u64) -> Result<Self, ChatError> {
        let (mut tab, effects) = Tab::load(&store, policy, None, now_ms)?;
        tab.init(
            &mut store,
            Owner {
                user: "alice".into(),
                tab_id: "t1".into(),
            },
        )?;
        let mut sim = Self {
            store,
            tab,
            alarm: None,
            now_ms,
            indexed: Vec::new(),
            batches: Vec::new(),
            writing_requests: 1,
            index_unreachable: false,
            index_calls: 0,
        };
        sim.apply(&effects);
        Ok(sim)
    }

    /// The object restarted: memory is gone, the store and the alarm remain.
    pub fn restart(&mut self) -> Result<(), ChatError> {
        let policy = FlushPolicy::default();
        let (tab, effects) = Tab::load(&self.store, policy, self.alarm, self.now_ms)?;
        self.tab = tab;
        self.apply(&effects);
        Ok(())
    }

    fn apply(&mut self, effects: &[Effect]) {
        for effect in effects {
            match *effect {
                Effect::SetAlarm { at_ms } => self.alarm = Some(at_ms),
                Effect::DeleteAlarm => self.alarm = None,
            }
        }
    }

    /// Appends a user message with an optional `client_id`, as `POST …/messages` does.
    pub fn append_with(
        &mut self,
        content: &str,
        client_id: Option<&str>,
    ) -> Result<Message, ChatError> {
        let id = format!("m{}", self.tab.log().message_count() + 1);
        let writes = self.store.write_stats().write_ops;
        let result = self.tab.append(
            &mut self.store,
            NewMessage {
                role: Role::User,
                content: content.to_owned(),
                client_id: client_id.map(str::to_owned),
            },
            id,
            self.now_ms,
        )?;
        self.apply(&result.effects);
        self.count_request(writes);
        Ok(result.message)
    }

    /// Appends a user message.
    pub fn append(&mut self, content: &str) -> Result<Message, ChatError> {
        self.append_with(content, None)
    }

    /// Moves the clock by `ms`, firing the alarm if it comes due (once: an alarm the run sets
    /// for a time already passed fires on the next call).
    pub fn advance(&mut self, ms: u64) -> Result<(), ChatError> {
        self.now_ms += ms;
        if self.alarm.is_some_and(|at| at <= self.now_ms) {
            // The platform deletes an alarm as it fires it.
            self.alarm = None;
            self.run_alarm()?;
        }
        Ok(())
    }

    /// The alarm handler: flush if due, index the backlog, settle. An index failure is the
    /// handler's failure (the platform would retry it); the retry alarm is set either way.
    pub fn run_alarm(&mut self) -> Result<(), ChatError> {
        let writes = self.store.write_stats().write_ops;
        let effects = self.tab.on_alarm(&mut self.store, self.now_ms)?;
        self.apply(&effects);
        let outcome = self.index_backlog();
        self.count_request(writes);
        outcome
    }

    /// `POST …/flush`: compact now, index, settle.
    pub fn flush_now(&mut self) -> Result<(), ChatError> {
        let writes = self.store.write_stats().write_ops;
        self.tab.flush(&mut self.store, self.now_ms)?;
        let outcome = self.index_backlog();
        self.count_request(writes);
        outcome
    }

    fn count_request(&mut self, writes_before: u64) {
        if self.store.write_stats().write_ops > writes_before {
            self.writing_requests += 1;
        }
    }

    fn index_backlog(&mut self) -> Result<(), ChatError> {
        while let Some(batch) = self.tab.next_index_batch(&self.store)? {
            self.index_calls += 1;
            if self.index_unreachable {
                let effect = self.tab.index_failed(self.now_ms);
                self.apply(&[effect]);
                return Ok(());
            }
            self.indexed.extend(batch.messages.iter().cloned());
            self.tab
                .mark_indexed(&mut self.store, batch.indexed_through)?;
            self.batches.push(batch);
        }
        let effects = self.tab.settle();
        self.apply(&effects);
        Ok(())
    }
}
