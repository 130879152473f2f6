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

/// A [`MemoryStore`] whose operations can be made to fail, for tests and fuzzing of what callers
/// do when storage fails (a real backend can fail any call; a Durable Object can also be reset
/// between two writes).
///
/// [`FaultyStore::fail_after_writes`]`(n)` lets the next `n` writes through and fails every later
/// one until [`FaultyStore::heal`]; [`FaultyStore::fail_reads`] fails every `get` and `range`. A
/// failed operation has no effect, so what is left in the store is exactly what a crash after the
/// last successful write would leave. Failed writes are not counted in [`WriteStats`].
#[derive(Debug, Default, Clone)]
pub struct FaultyStore {
    /// The wrapped store (inspect or modify it directly to bypass the faults).
    pub inner: MemoryStore,
    writes_left: Option<u64>,
    failing_reads: bool,
    failed: u64,
}

impl FaultyStore {
    /// A store that does not fail until told to.
    pub fn new(inner: MemoryStore) -> Self {
        Self {
            inner,
            ..Self::default()
        }
    }

    /// Lets the next `writes` writes (`put`, `delete`, `delete_prefix`) succeed and fails the
    /// following ones.
    pub fn fail_after_writes(&mut self, writes: u64) {
        self.writes_left = Some(writes);
    }

    /// Makes every `get` and `range` fail (or succeed again).
    pub fn fail_reads(&mut self, fail: bool) {
        self.failing_reads = fail;
    }

    /// Stops failing writes and reads.
    pub fn heal(&mut self) {
        self.writes_left = None;
        self.failing_reads = false;
    }

    /// How many operations failed so far.
    pub fn failures(&self) -> u64 {
        self.failed
    }

    fn write(&mut self) -> Result<(), StorageError> {
        match &mut self.writes_left {
            Some(0) => {
                self.failed += 1;
                Err(StorageError("injected write failure".into()))
            }
            Some(n) => {
                *n -= 1;
                Ok(())
            }
            None => Ok(()),
        }
    }

    fn read(&self) -> Result<(), StorageError> {
        if self.failing_reads {
            Err(StorageError("injected read failure".into()))
        } else {
            Ok(())
        }
    }
}

impl KvStore for FaultyStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        self.read()?;
        self.inner.get(key)
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
        self.read()?;
        self.inner.range(start, end, reverse, limit)
    }

    fn delete_prefix(&mut self, prefix: &str) -> Result<u64, StorageError> {
        self.write()?;
        self.inner.delete_prefix(prefix)
    }

    fn write_stats(&self) -> WriteStats {
        self.inner.write_stats()
    }
}

/// A view of a [`KvStore`] under a key prefix, so two core components can share one Durable
/// Object's storage without their key layouts colliding (e.g. the tab directory and the history
/// index of a user). Writes are counted by the underlying store.
pub struct Prefixed<'a, S: KvStore> {
    inner: &'a mut S,
    prefix: &'static str,
}

impl<'a, S: KvStore> Prefixed<'a, S> {
    /// Keys `k` of the view are `prefix + k` in `inner`.
    pub fn new(inner: &'a mut S, prefix: &'static str) -> Self {
        Self { inner, prefix }
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }
}

impl<S: KvStore> KvStore for Prefixed<'_, S> {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        self.inner.get(&self.key(key))
    }

    fn put(&mut self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        let key = self.key(key);
        self.inner.put(&key, value)
    }

    fn delete(&mut self, key: &str) -> Result<(), StorageError> {
        let key = self.key(key);
        self.inner.delete(&key)
    }

    fn range(
        &self,
        start: &str,
        end: &str,
        reverse: bool,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, StorageError> {
        let rows = self
            .inner
            .range(&self.key(start), &self.key(end), reverse, limit)?;
        Ok(rows
            .into_iter()
            .filter_map(|(k, v)| k.strip_prefix(self.prefix).map(|k| (k.to_owned(), v)))
            .collect())
    }

    fn delete_prefix(&mut self, prefix: &str) -> Result<u64, StorageError> {
        let key = self.key(prefix);
        self.inner.delete_prefix(&key)
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
    fn prefixed_views_do_not_see_each_other() {
        let mut store = MemoryStore::new();
        Prefixed::new(&mut store, "a:").put("k", b"1").unwrap();
        Prefixed::new(&mut store, "b:").put("k", b"2").unwrap();
        let a = Prefixed::new(&mut store, "a:");
        assert_eq!(a.get("k").unwrap(), Some(b"1".to_vec()));
        assert_eq!(a.range("", &prefix_end(""), false, 10).unwrap().len(), 1);
        Prefixed::new(&mut store, "a:").delete_prefix("").unwrap();
        assert_eq!(store.get("b:k").unwrap(), Some(b"2".to_vec()));
        assert_eq!(store.len(), 1);
    }

    #[test]
    fn faulty_store_fails_after_n_writes_without_effect() {
        let mut store = FaultyStore::default();
        store.fail_after_writes(1);
        store.put("a", b"1").unwrap();
        assert!(store.put("b", b"2").is_err());
        assert!(store.delete("a").is_err());
        assert_eq!(store.failures(), 2);
        assert_eq!(store.get("a").unwrap(), Some(b"1".to_vec()));
        assert_eq!(store.get("b").unwrap(), None);
        assert_eq!(store.write_stats().write_ops, 1);
        store.fail_reads(true);
        assert!(store.get("a").is_err() && store.range("", "z", false, 9).is_err());
        store.heal();
        store.put("b", b"2").unwrap();
        assert_eq!(store.inner.len(), 2);
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
