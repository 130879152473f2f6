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
//! Write counters (the tab's `stats.storage`) are kept in memory and saved in a one-row table by
//! [`SqlKv::save_stats`] at the end of each mutating request, so they survive restarts without
//! adding a write per operation; that bookkeeping row is not itself counted.

use worker::{SqlStorage, SqlStorageValue};

use crate::storage::{KvStore, StorageError, WriteStats};

/// The Durable Object's SQL storage seen as a [`KvStore`].
pub struct SqlKv {
    sql: SqlStorage,
    /// Whether the tables exist (reads of a store without them find nothing).
    created: bool,
    stats: WriteStats,
    saved: WriteStats,
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
        let cursor = self
            .sql
            .exec("SELECT value FROM kv WHERE key = ?", vec![key.into()])
            .map_err(err)?;
        for row in cursor.raw() {
            let mut row = row.map_err(err)?;
            if let Some(value) = row.pop() {
                return Ok(Some(as_bytes(value)));
            }
        }
        Ok(None)
    }

    fn put(&mut self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        self.create()?;
        self.sql
            .exec(
                "INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                vec![key.into(), SqlStorageValue::Blob(value.to_vec())],
            )
            .map_err(err)?;
        self.stats.record_put(key, value.len());
        Ok(())
    }

    fn delete(&mut self, key: &str) -> Result<(), StorageError> {
        if !self.created {
            return Ok(());
        }
        self.sql
            .exec("DELETE FROM kv WHERE key = ?", vec![key.into()])
            .map_err(err)?;
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
        let query = if reverse {
            "SELECT key, value FROM kv WHERE key >= ? AND key < ? ORDER BY key DESC LIMIT ?"
        } else {
            "SELECT key, value FROM kv WHERE key >= ? AND key < ? ORDER BY key ASC LIMIT ?"
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
        Ok(out)
    }

    fn delete_prefix(&mut self, prefix: &str) -> Result<u64, StorageError> {
        if !self.created {
            return Ok(0);
        }
        let end = crate::storage::prefix_end(prefix);
        let keys = self.range(prefix, &end, false, usize::MAX)?;
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
