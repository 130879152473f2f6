//! The newest messages of one tab, kept in memory by its [`TabLog`](super::TabLog).
//!
//! A reply's prompt carries the conversation before the question (up to a hundred messages), and
//! the UI opens a tab on its newest page: both read the end of the log, and in a conversation
//! every reply and every message moves that end, so a cache of storage reads (which forgets its
//! ranges on any write) never answers them. The log instead keeps the records of its newest
//! messages as it writes them, and a read that lies within them needs no storage read.
//!
//! Invariant: the tail holds the records of messages `first..first + len` exactly as stored, and
//! the last of them is the log's newest message (or the tail is empty). The log keeps it so: an
//! append adds the new newest message, a rewrite replaces its copy, a read that reaches the newest
//! message may widen it, and a rewrite that fails (the store may then hold either version)
//! empties it. An append that fails leaves it as it is: the log does not count that message, so
//! no read reaches its `seq` before the next append writes it again. It is bounded by
//! [`MAX_MESSAGES`] and [`MAX_BYTES`], dropping its oldest first.

use std::collections::BTreeMap;

use super::Record;

/// Most messages kept: the replies' history (100 messages and the question) and a page of the UI.
pub const MAX_MESSAGES: usize = 128;
/// Most bytes kept (the records' text, estimated by [`cost`]), per tab object.
pub const MAX_BYTES: usize = 128 * 1024;

/// The newest messages' records; see the module docs.
#[derive(Debug, Clone, Default)]
pub(super) struct Tail {
    /// The `seq` of `records[0]` (unused while empty).
    first: u64,
    /// Oldest first. A `Vec`, not a deque: the oldest leaves one at a time, moving at most
    /// [`MAX_MESSAGES`] records, and a deque costs more code in the worker's wasm.
    records: Vec<Record>,
    /// Sum of [`cost`] over `records`.
    bytes: usize,
}

/// Memory a record takes, roughly: its strings and a fixed overhead.
fn cost(record: &Record) -> usize {
    64 + record.id.len()
        + record.content.len()
        + record.client_id.as_ref().map_or(0, String::len)
        + record.reply.as_ref().map_or(0, |(id, _)| id.len())
}

impl Tail {
    /// Records of messages `lo..=hi` (ascending), if the tail holds every one of them.
    pub(super) fn records(&self, lo: u64, hi: u64) -> Option<Vec<(u64, Record)>> {
        let end = self.first + self.records.len() as u64;
        if self.records.is_empty() || lo > hi || lo < self.first || hi >= end {
            return None;
        }
        let from = (lo - self.first) as usize;
        let to = (hi - self.first) as usize;
        Some(
            (lo..)
                .zip(self.records[from..=to].iter().cloned())
                .collect(),
        )
    }

    /// Message `seq` was appended as `record`; it is the log's newest message now.
    pub(super) fn appended(&mut self, seq: u64, record: &Record) {
        if self.records.is_empty() || self.first + self.records.len() as u64 != seq {
            // Not adjacent (cannot happen while the invariant holds): start again at `seq`.
            self.clear();
            self.first = seq;
        }
        self.bytes += cost(record);
        self.records.push(record.clone());
        self.trim();
    }

    /// Message `seq` was stored again as `record` (a reply's message at its end).
    pub(super) fn rewrote(&mut self, seq: u64, record: &Record) {
        let Some(index) = seq.checked_sub(self.first).map(|i| i as usize) else {
            return;
        };
        if let Some(slot) = self.records.get_mut(index) {
            self.bytes = self.bytes - cost(slot) + cost(record);
            *slot = record.clone();
            self.trim();
        }
    }

    /// A storage read found `records`, dense and ascending, the last of them the log's newest
    /// message: keeps as many of the newest as fit, if that reaches further back than the tail.
    pub(super) fn read_to_newest(&mut self, records: &BTreeMap<u64, Record>) {
        let Some((&lo, _)) = records.first_key_value() else {
            return;
        };
        if !self.records.is_empty() && lo >= self.first {
            return;
        }
        self.clear();
        let mut kept = 0;
        for record in records.values().rev() {
            let bytes = self.bytes + cost(record);
            if kept == MAX_MESSAGES || bytes > MAX_BYTES {
                break;
            }
            self.bytes = bytes;
            kept += 1;
        }
        let skipped = records.len() - kept;
        self.records = records.values().skip(skipped).cloned().collect();
        self.first = lo + skipped as u64;
    }

    /// Forgets every record (a rewrite whose outcome in the store is unknown).
    pub(super) fn clear(&mut self) {
        self.records.clear();
        self.bytes = 0;
    }

    /// Messages held, for tests.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.records.len()
    }

    /// Drops the oldest records until both bounds hold.
    fn trim(&mut self) {
        let mut leaving = 0;
        while leaving < self.records.len()
            && (self.records.len() - leaving > MAX_MESSAGES || self.bytes > MAX_BYTES)
        {
            self.bytes -= cost(&self.records[leaving]);
            leaving += 1;
        }
        self.records.drain(..leaving);
        self.first += leaving as u64;
    }
}
