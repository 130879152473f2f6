//! Synchronous key–value storage behind a small trait, with write accounting.
//!
//! Durable Objects backed by SQLite expose a synchronous storage API, so the core logic (tabs,
//! history index, cache shards, rollout runs) is written against [`KvStore`] and runs unchanged on
//! the host with [`MemoryStore`] (tests, benchmarks) and in the worker over a Durable Object's SQL
//! table (`edge/storage.rs`). Keys are UTF-8 strings ordered bytewise; values are opaque bytes.
//!
//! Every implementation counts its writes in [`WriteStats`]: one operation per `put` or `delete`,
//! and `bytes_written` = key bytes + value bytes of each `put` (a delete adds its key bytes). These
//! figures are what `GET /api/tabs/{id}/stats` reports and what the write-amplification benchmark
//! compares between designs, so they must be counted the same way everywhere.

use serde::Serialize;

pub mod read_cache;

/// Cumulative write counters of one store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct WriteStats {
    /// Number of `put` and `delete` operations issued.
    pub write_ops: u64,
    /// Key plus value bytes of every `put`, plus key bytes of every `delete`.
    pub bytes_written: u64,
}

impl WriteStats {
    /// Accounts one `put` of `key` → `value`.
    pub fn record_put(&mut self, key: &str, value_len: usize) {
        self.write_ops += 1;
        self.bytes_written += (key.len() + value_len) as u64;
    }

    /// Accounts one `delete` of `key`.
    pub fn record_delete(&mut self, key: &str) {
        self.write_ops += 1;
        self.bytes_written += key.len() as u64;
    }
}

/// Storage failure reported by a real backend (the in-memory store never fails).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("storage failed: {0}")]
pub struct StorageError(pub String);

impl crate::api::HasErrorCode for StorageError {
    fn error_code(&self) -> crate::api::ErrorCode {
        crate::api::ErrorCode::Internal
    }
}

/// A synchronous, ordered key–value store.
///
/// Writes are visible to subsequent reads of the same store immediately. Durability is the
/// backend's business: in a Durable Object, writes made before a response is returned are
/// confirmed before the response leaves the object (the output gate).
pub trait KvStore {
    /// The value under `key`, or `None` when absent.
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError>;
    /// Stores `value` under `key`, replacing any previous value.
    fn put(&mut self, key: &str, value: &[u8]) -> Result<(), StorageError>;
    /// Removes `key`; removing an absent key is not an error (but is still counted).
    fn delete(&mut self, key: &str) -> Result<(), StorageError>;
    /// Entries with `start <= key < end` in key order (descending when `reverse`), at most `limit`.
    fn range(
        &self,
        start: &str,
        end: &str,
        reverse: bool,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, StorageError>;
    /// Removes every entry whose key starts with `prefix`; returns how many were removed.
    /// Counted as one write operation per removed key.
    fn delete_prefix(&mut self, prefix: &str) -> Result<u64, StorageError>;
    /// Write counters since the store was created (or since its counters were loaded).
    fn write_stats(&self) -> WriteStats;
}

/// The smallest key greater than every key starting with `prefix` (for [`KvStore::range`]).
pub fn prefix_end(prefix: &str) -> String {
    // Keys are compared bytewise; U+10FFFF sorts after every other code point, so appending it
    // bounds all keys that extend `prefix` (the project's keys are ASCII).
    let mut end = String::with_capacity(prefix.len() + 4);
    end.push_str(prefix);
    end.push(char::MAX);
    end
}

/// An in-memory [`KvStore`] for host tests and benchmarks; counts writes like the real one.
#[derive(Debug, Default, Clone)]
pub struct MemoryStore {
    entries: std::collections::BTreeMap<String, Vec<u8>>,
    stats: WriteStats,
}

impl MemoryStore {
    /// An empty store with zeroed counters.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of keys held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the store holds no key.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Sum of key and value bytes currently held.
    pub fn stored_bytes(&self) -> u64 {
        self.entries
            .iter()
            .map(|(k, v)| (k.len() + v.len()) as u64)
            .sum()
    }
}

impl KvStore for MemoryStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.entries.get(key).cloned())
    }

    fn put(&mut self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        self.stats.record_put(key, value.len());
        self.entries.insert(key.to_owned(), value.to_vec());
        Ok(())
    }

    fn delete(&mut self, key: &str) -> Result<(), StorageError> {
        self.stats.record_delete(key);
        self.entries.remove(key);
        Ok(())
    }

    fn range(
        &self,
        start: &str,
        end: &str,
        reverse: bool,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, StorageError> {
        if start >= end {
            return Ok(Vec::new());
        }
        let iter = self.entries.range(start.to_owned()..end.to_owned());
        let pick = |(k, v): (&String, &Vec<u8>)| (k.clone(), v.clone());
        Ok(if reverse {
            iter.rev().take(limit).map(pick).collect()
        } else {
            iter.take(limit).map(pick).collect()
        })
    }

    fn delete_prefix(&mut self, prefix: &str) -> Result<u64, StorageError> {
        let keys: Vec<String> = self
            .entries
            .range(prefix.to_owned()..prefix_end(prefix))
            .map(|(k, _)| k.clone())
            .collect();
        for key in &keys {
            self.stats.record_delete(key);
            self.entries.remove(key);
        }
        Ok(keys.len() as u64)
    }

    fn write_stats(&self) -> WriteStats {
        self.stats
    }
}

#[cfg(any(test, feature = "test-support"))]
/// A [`MemoryStore`] that can fail like a real backend, for the tests, fuzz targets and
/// benchmarks of every core over storage (the one fault-injecting store of the project).
///
/// [`FaultyStore::crash_after`]`(k)` lets the next `k` writes succeed and fails every later one
/// (a process dying mid-operation, or a storage outage) until [`FaultyStore::restart`];
/// [`FaultyStore::fail_nth_write`] fails exactly one future write. Reads never fail, and the
/// store counts the entries reads returned (to check that an operation reads what it should).
#[derive(Debug, Default, Clone)]
pub struct FaultyStore {
    /// The data, reachable directly to write or read without fault injection (to plant a
    /// corrupt record, say).
    pub inner: MemoryStore,
    writes_left: Option<usize>,
    fail_write_number: Option<u64>,
    writes_attempted: u64,
    entries_read: std::cell::Cell<u64>,
}

#[cfg(any(test, feature = "test-support"))]
impl FaultyStore {
    /// An empty store that does not fail.
    pub fn new() -> Self {
        Self::default()
    }

    /// The next `writes` writes succeed; every later one fails until [`FaultyStore::restart`].
    pub fn crash_after(&mut self, writes: usize) {
        self.writes_left = Some(writes);
    }

    /// Fails only the `n`-th write from now (1 = the next one).
    pub fn fail_nth_write(&mut self, n: u64) {
        self.fail_write_number = Some(self.writes_attempted + n);
    }

    /// Writes succeed again (the data written before the failure stays).
    pub fn restart(&mut self) {
        self.writes_left = None;
        self.fail_write_number = None;
    }

    /// Whether a crash is armed (writes fail once its budget is spent).
    pub fn is_failing(&self) -> bool {
        self.writes_left.is_some() || self.fail_write_number.is_some()
    }

    /// Entries returned by reads so far (a `get` counts one, a `range` one plus its rows).
    pub fn entries_read(&self) -> u64 {
        self.entries_read.get()
    }

    /// The keys under `prefix`, in order.
    pub fn keys(&self, prefix: &str) -> Vec<String> {
        self.inner
            .entries
            .range(prefix.to_owned()..prefix_end(prefix))
            .map(|(k, _)| k.clone())
            .collect()
    }

    fn write(&mut self) -> Result<(), StorageError> {
        self.writes_attempted += 1;
        if self.fail_write_number == Some(self.writes_attempted) {
            self.fail_write_number = None;
            return Err(StorageError("injected write failure".into()));
        }
        match &mut self.writes_left {
            Some(0) => Err(StorageError("simulated crash".into())),
            Some(n) => {
                *n -= 1;
                Ok(())
            }
            None => Ok(()),
        }
    }
}

#[cfg(any(test, feature = "test-support"))]
impl KvStore for FaultyStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let value = self.inner.get(key)?;
        self.entries_read.set(self.entries_read.get() + 1);
        Ok(value)
    }
    fn put(&mut self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        self.write()?;
        self.inner.put(key, value)
    }
    fn delete(&mut self, key: &str) -> Result<(), StorageError> {
        self.write()?;
        self.inner.delete(key)
    }
    fn range(
        &self,
        start: &str,
        end: &str,
        reverse: bool,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, StorageError> {
        let entries = self.inner.range(start, end, reverse, limit)?;
        self.entries_read
            .set(self.entries_read.get() + 1 + entries.len() as u64);
        Ok(entries)
    }
    fn delete_prefix(&mut self, prefix: &str) -> Result<u64, StorageError> {
        self.write()?;
        self.inner.delete_prefix(prefix)
    }
    fn write_stats(&self) -> WriteStats {
        self.inner.write_stats()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_puts_and_deletes_by_key_and_value_bytes() {
        let mut store = MemoryStore::new();
        store.put("ab", b"hello").unwrap();
        store.delete("ab").unwrap();
        assert_eq!(
            store.write_stats(),
            WriteStats {
                write_ops: 2,
                bytes_written: 2 + 5 + 2
            }
        );
        assert_eq!(store.get("ab").unwrap(), None);
    }

    #[test]
    fn range_is_half_open_and_honours_reverse_and_limit() {
        let mut store = MemoryStore::new();
        for key in ["a/1", "a/2", "a/3", "b/1"] {
            store.put(key, key.as_bytes()).unwrap();
        }
        let keys = |v: Vec<(String, Vec<u8>)>| v.into_iter().map(|(k, _)| k).collect::<Vec<_>>();
        assert_eq!(
            keys(store.range("a/", &prefix_end("a/"), false, 10).unwrap()),
            ["a/1", "a/2", "a/3"]
        );
        assert_eq!(
            keys(store.range("a/", &prefix_end("a/"), true, 2).unwrap()),
            ["a/3", "a/2"]
        );
        assert_eq!(keys(store.range("a/2", "a/3", false, 10).unwrap()), ["a/2"]);
        assert!(store.range("b", "a", false, 10).unwrap().is_empty());
    }

    #[test]
    fn the_faulty_store_fails_where_told_and_keeps_what_was_written() {
        let mut store = FaultyStore::new();
        store.put("a", b"1").unwrap();
        store.fail_nth_write(2);
        store.put("b", b"2").unwrap();
        assert!(store.put("c", b"3").is_err());
        store.put("d", b"4").unwrap();
        store.crash_after(1);
        store.delete("a").unwrap();
        assert!(store.put("e", b"5").is_err());
        store.restart();
        store.put("e", b"5").unwrap();
        assert_eq!(store.keys(""), ["b", "d", "e"]);
        let _ = store.get("b").unwrap();
        assert_eq!(store.entries_read(), 1);
    }

    #[test]
    fn delete_prefix_removes_only_that_prefix() {
        let mut store = MemoryStore::new();
        for key in ["t/1", "t/2", "u/1"] {
            store.put(key, b"x").unwrap();
        }
        assert_eq!(store.delete_prefix("t/").unwrap(), 2);
        assert_eq!(store.len(), 1);
        assert_eq!(store.write_stats().write_ops, 5);
    }
}
