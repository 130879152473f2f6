//! [`KvStore`] over a SQLite-backed Durable Object's SQL storage.
//!
//! One table `kv(key TEXT PRIMARY KEY, value BLOB) WITHOUT ROWID` holds the core's keys, so range
//! scans are index scans. SQL calls are synchronous inside the object, and every write made while
//! handling a request is confirmed durable before the object's response is released (the output
//! gate): a handler that writes and then answers 201 has made the write durable.
//!
//! Tables are created by the first write, not by opening: an object that is only read (a probe
//! of a random tab or run id) keeps no storage at all, so it does not outlive the request.
//!
//! The tab's and the user's objects keep one store for their life and turn on its read cache
//! ([`SqlKv::with_read_cache`], [`crate::storage::read_cache`]): a read repeated with no write in
//! between is answered from memory. Objects that open a store per call leave it off, since two
//! stores over one table would not see each other's writes.
//!
//! Write counters (the tab's `stats.storage`) are kept in memory and saved in a one-row table by
//! [`SqlKv::save_stats`] at the end of each mutating request, so they survive restarts without
//! adding a write per operation; that bookkeeping row is not itself counted.

use std::cell::RefCell;

use worker::{SqlStorage, SqlStorageValue};

use crate::storage::read_cache::ReadCache;
use crate::storage::{KvStore, StorageError, WriteStats};

/// Bytes of keys and values a store's read cache may hold: a page of messages and the object's
/// small records, well within an object's memory.
const READ_CACHE_BYTES: usize = 256 * 1024;

/// The Durable Object's SQL storage seen as a [`KvStore`].
pub struct SqlKv {
    sql: SqlStorage,
    /// Whether the tables exist (reads of a store without them find nothing).
    created: bool,
    stats: WriteStats,
    saved: WriteStats,
    /// Answers of reads since the last write, when turned on ([`SqlKv::with_read_cache`]).
    cache: Option<RefCell<ReadCache>>,
}

fn err(e: worker::Error) -> StorageError {
    StorageError(e.to_string())
}

impl SqlKv {
    /// Opens the store and loads the saved write counters; creates nothing.
    pub fn open(sql: SqlStorage) -> Result<Self, StorageError> {
        let created = sql
            .exec(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'kv'",
                None,
            )
            .map_err(err)?
            .raw()
            .next()
            .is_some();
        let mut stats = WriteStats::default();
        if created {
            let cursor = sql
                .exec("SELECT ops, bytes FROM write_stats WHERE id = 0", None)
                .map_err(err)?;
            for row in cursor.raw() {
                let row = row.map_err(err)?;
                if let [ops, bytes] = row.as_slice() {
                    stats.write_ops = as_u64(ops);
                    stats.bytes_written = as_u64(bytes);
                }
            }
        }
        Ok(Self {
            sql,
            created,
            stats,
            saved: stats,
            cache: None,
        })
    }

    /// Creates the tables before the first write.
    fn create(&mut self) -> Result<(), StorageError> {
        if self.created {
            return Ok(());
        }
        self.sql
            .exec(
                "CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID",
                None,
            )
            .map_err(err)?;
        self.sql
            .exec(
                "CREATE TABLE IF NOT EXISTS write_stats (id INTEGER PRIMARY KEY CHECK (id = 0), ops INTEGER NOT NULL, bytes INTEGER NOT NULL)",
                None,
            )
            .map_err(err)?;
        self.created = true;
        Ok(())
    }

    /// Answers a read repeated with no write in between from memory. Only for a store that is
    /// its table's one reader and writer for the object's life: another store over the same
    /// table would write without this one forgetting its answers.
    pub fn with_read_cache(mut self) -> Self {
        self.cache = Some(RefCell::new(ReadCache::new(READ_CACHE_BYTES)));
        self
    }

    /// Forgets the cached reads (a write of many keys).
    fn forget_reads(&mut self) {
        if let Some(cache) = &mut self.cache {
            cache.get_mut().forget_all();
        }
    }

    /// Accounts a write of `key` in the read cache: its new value when the write succeeded,
    /// otherwise everything is forgotten (what the store holds is then not known for sure).
    fn cache_write(&mut self, key: &str, value: Option<&[u8]>, succeeded: bool) {
        if let Some(cache) = &mut self.cache {
            if succeeded {
                cache.get_mut().wrote(key, value);
            } else {
                cache.get_mut().forget_all();
            }
        }
    }

    /// Saves the write counters if they changed since the last save.
    pub fn save_stats(&mut self) -> Result<(), StorageError> {
        if self.stats == self.saved {
            return Ok(());
        }
        self.create()?;
        self.sql
            .exec(
                "INSERT INTO write_stats (id, ops, bytes) VALUES (0, ?, ?) ON CONFLICT(id) DO UPDATE SET ops = excluded.ops, bytes = excluded.bytes",
                vec![
                    SqlStorageValue::Integer(self.stats.write_ops as i64),
                    SqlStorageValue::Integer(self.stats.bytes_written as i64),
                ],
            )
            .map_err(err)?;
        self.saved = self.stats;
        Ok(())
    }

    /// Deletes every table's rows (the object's data is gone; counters restart at zero).
    pub fn wipe(&mut self) -> Result<(), StorageError> {
        self.forget_reads();
        if !self.created {
            return Ok(());
        }
        self.sql.exec("DELETE FROM kv", None).map_err(err)?;
        self.sql
            .exec("DELETE FROM write_stats", None)
            .map_err(err)?;
        self.stats = WriteStats::default();
        self.saved = self.stats;
        Ok(())
    }
}

fn as_u64(value: &SqlStorageValue) -> u64 {
    match value {
        SqlStorageValue::Integer(i) => (*i).max(0) as u64,
        SqlStorageValue::Float(f) => f.max(0.0) as u64,
        _ => 0,
    }
}

fn as_bytes(value: SqlStorageValue) -> Vec<u8> {
    match value {
        SqlStorageValue::Blob(bytes) => bytes,
        SqlStorageValue::String(s) => s.into_bytes(),
        _ => Vec::new(),
    }
}

impl KvStore for SqlKv {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        if !self.created {
            return Ok(None);
        }
        if let Some(hit) = self.cache.as_ref().and_then(|c| c.borrow().get(key)) {
            return Ok(hit);
        }
        let cursor = self
            .sql
            .exec("SELECT value FROM kv WHERE key = ?", vec![key.into()])
            .map_err(err)?;
        let mut found = None;
        for row in cursor.raw() {
            let mut row = row.map_err(err)?;
            if let Some(value) = row.pop() {
                found = Some(as_bytes(value));
                break;
            }
        }
        if let Some(cache) = &self.cache {
            cache.borrow_mut().remember_get(key, &found);
        }
        Ok(found)
    }

    fn put(&mut self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        self.create()?;
        let written = self.sql.exec(
            "INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            vec![key.into(), SqlStorageValue::Blob(value.to_vec())],
        );
        self.cache_write(key, Some(value), written.is_ok());
        written.map_err(err)?;
        self.stats.record_put(key, value.len());
        Ok(())
    }

    fn delete(&mut self, key: &str) -> Result<(), StorageError> {
        if !self.created {
            return Ok(());
        }
        let written = self
            .sql
            .exec("DELETE FROM kv WHERE key = ?", vec![key.into()]);
        self.cache_write(key, None, written.is_ok());
        written.map_err(err)?;
        self.stats.record_delete(key);
        Ok(())
    }

    fn range(
        &self,
        start: &str,
        end: &str,
        reverse: bool,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, StorageError> {
        if !self.created {
            return Ok(Vec::new());
        }
        if let Some(hit) = self
            .cache
            .as_ref()
            .and_then(|c| c.borrow().range(start, end, reverse, limit))
        {
            return Ok(hit);
        }
        // `LIMIT +?`, not `LIMIT ?`: SQLite reads a bare bound LIMIT while planning and marks the
        // statement to be prepared again whenever that parameter is bound, which workerd does on
        // every call (its statement cache clears the bindings), so each range read would compile
        // its SQL anew. The unary plus makes the limit an expression evaluated when run.
        let query = if reverse {
            "SELECT key, value FROM kv WHERE key >= ? AND key < ? ORDER BY key DESC LIMIT +?"
        } else {
            "SELECT key, value FROM kv WHERE key >= ? AND key < ? ORDER BY key ASC LIMIT +?"
        };
        let cursor = self
            .sql
            .exec(
                query,
                vec![
                    start.into(),
                    end.into(),
                    SqlStorageValue::Integer((limit as u64).min(1 << 53) as i64),
                ],
            )
            .map_err(err)?;
        let mut out = Vec::new();
        for row in cursor.raw() {
            let mut row = row.map_err(err)?.into_iter();
            if let (Some(SqlStorageValue::String(key)), Some(value)) = (row.next(), row.next()) {
                out.push((key, as_bytes(value)));
            }
        }
        if let Some(cache) = &self.cache {
            cache
                .borrow_mut()
                .remember_range(start, end, reverse, limit, &out);
        }
        Ok(out)
    }

    fn delete_prefix(&mut self, prefix: &str) -> Result<u64, StorageError> {
        if !self.created {
            return Ok(0);
        }
        let end = crate::storage::prefix_end(prefix);
        let keys = self.range(prefix, &end, false, usize::MAX)?;
        self.forget_reads();
        self.sql
            .exec(
                "DELETE FROM kv WHERE key >= ? AND key < ?",
                vec![prefix.into(), end.into()],
            )
            .map_err(err)?;
        for (key, _) in &keys {
            self.stats.record_delete(key);
        }
        Ok(keys.len() as u64)
    }

    fn write_stats(&self) -> WriteStats {
        self.stats
    }
}
