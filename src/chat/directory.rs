//! A user's tab directory: the tabs a user owns, listed most recently updated first.
//!
//! Lives in the user's Durable Object (one per user), which is the single writer of its list, so a
//! tab created or written a moment ago is listed by the next request (read-your-writes). Each tab
//! is one small record, so creating, renaming or touching a tab writes O(1) bytes.
//!
//! # Key layout (inside the user's store, under its own prefix)
//!
//! | key        | value                                                        |
//! |------------|--------------------------------------------------------------|
//! | `t/<id>`   | [`TabRecord`] JSON                                           |
//!
//! Listing reads every record of the user and sorts by `(updated_ms desc, id)`: O(tabs) per list,
//! which is fine for the hundreds of tabs a person keeps; the cursor is the sort key of the last
//! tab returned, so paging stays stable while tabs are updated.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::model::TabMeta;
use super::time::format_rfc3339_ms;
use super::ChatError;
use crate::api::InputError;
use crate::storage::{prefix_end, KvStore};

const TAB_PREFIX: &str = "t/";

/// Default and largest page size of `GET /api/tabs`.
pub const DEFAULT_TAB_LIMIT: u32 = 20;
/// Largest accepted `limit` of `GET /api/tabs`.
pub const MAX_TAB_LIMIT: u32 = 100;

/// One tab as the directory stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TabRecord {
    pub id: String,
    pub title: String,
    pub created_ms: u64,
    pub updated_ms: u64,
    pub message_count: u64,
    /// Highest `seq` of this tab already in the user's history index; messages above it are
    /// searched in the tab itself.
    #[serde(default)]
    pub indexed_through: u64,
}

impl TabRecord {
    /// The API view of the record.
    pub fn meta(&self) -> TabMeta {
        TabMeta {
            id: self.id.clone(),
            title: self.title.clone(),
            created_at: format_rfc3339_ms(self.created_ms),
            updated_at: format_rfc3339_ms(self.updated_ms),
            message_count: self.message_count,
        }
    }

    /// Whether some of this tab's messages are not in the history index yet.
    pub fn has_unindexed(&self) -> bool {
        self.message_count > self.indexed_through
    }
}

/// A page of `GET /api/tabs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct TabList {
    pub tabs: Vec<TabMeta>,
    pub next_cursor: Option<String>,
}

/// Soft updates from appends, kept in the user's object memory only: each append tells the
/// directory the tab's new count and time, which must order the tab list at once
/// (read-your-writes) but need not cost a durable write per message — the tab's next flush writes
/// the same facts durably (`touch` with `indexed_through`). If the object restarts before that
/// flush, the list shows the last flushed state until the flush (at most `FLUSH_INTERVAL_MS`).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Touches(HashMap<String, (u64, u64)>);

impl Touches {
    /// Records that tab `id` holds `message_count` messages, last written at `updated_ms`.
    pub fn record(&mut self, id: &str, message_count: u64, updated_ms: u64) {
        let entry = self.0.entry(id.to_owned()).or_insert((0, 0));
        entry.0 = entry.0.max(message_count);
        entry.1 = entry.1.max(updated_ms);
    }

    /// Forgets tab `id` (deleted).
    pub fn forget(&mut self, id: &str) {
        self.0.remove(id);
    }

    /// The record with the soft updates applied (counts and times only move forward).
    pub fn apply(&self, mut record: TabRecord) -> TabRecord {
        if let Some((count, updated_ms)) = self.0.get(&record.id) {
            record.message_count = record.message_count.max(*count);
            record.updated_ms = record.updated_ms.max(*updated_ms);
        }
        record
    }
}

/// Parses `limit` and `cursor` of `GET /api/tabs`.
pub fn parse_list_query(
    limit: Option<&str>,
    cursor: Option<&str>,
) -> Result<(u32, Option<(u64, String)>), ChatError> {
    let limit = crate::api::query_int(
        "limit",
        limit,
        1,
        i64::from(MAX_TAB_LIMIT),
        i64::from(DEFAULT_TAB_LIMIT),
    )?;
    let limit = u32::try_from(limit).unwrap_or(DEFAULT_TAB_LIMIT);
    let cursor = match cursor {
        None => None,
        Some(raw) => {
            let bad = || {
                ChatError::from(InputError::invalid(
                    "query parameter `cursor` must be a `next_cursor` returned by GET /api/tabs",
                ))
            };
            let (ms, id) = raw.split_once('.').ok_or_else(bad)?;
            let ms = ms.parse::<u64>().map_err(|_| bad())?;
            if !crate::routes::valid_id(id) {
                return Err(bad());
            }
            Some((ms, id.to_owned()))
        }
    };
    Ok((limit, cursor))
}

fn key(id: &str) -> String {
    format!("{TAB_PREFIX}{id}")
}

fn decode(bytes: &[u8]) -> Result<TabRecord, ChatError> {
    serde_json::from_slice(bytes)
        .map_err(|e| ChatError::Corrupt(format!("tab directory record: {e}")))
}

fn encode(record: &TabRecord) -> Vec<u8> {
    // A struct of strings and integers always serializes.
    serde_json::to_vec(record).unwrap_or_default()
}

/// Reads one tab; `None` when the user has no such tab.
pub fn get(store: &impl KvStore, id: &str) -> Result<Option<TabRecord>, ChatError> {
    store.get(&key(id))?.map(|b| decode(&b)).transpose()
}

/// Stores a new (or replaces an existing) tab record.
pub fn put(store: &mut impl KvStore, record: &TabRecord) -> Result<(), ChatError> {
    store.put(&key(&record.id), &encode(record))?;
    Ok(())
}

/// Renames a tab at `now_ms`; `None` when the user has no such tab.
pub fn rename(
    store: &mut impl KvStore,
    id: &str,
    title: String,
    now_ms: u64,
) -> Result<Option<TabRecord>, ChatError> {
    let Some(mut record) = get(store, id)? else {
        return Ok(None);
    };
    record.title = title;
    record.updated_ms = record.updated_ms.max(now_ms);
    put(store, &record)?;
    Ok(Some(record))
}

/// Records that the tab now holds `message_count` messages, last written at `updated_ms`, and
/// (when given) that its messages through `indexed_through` are in the history index. Counts and
/// times only move forward, so late or repeated notifications are harmless.
pub fn touch(
    store: &mut impl KvStore,
    id: &str,
    message_count: u64,
    updated_ms: u64,
    indexed_through: Option<u64>,
) -> Result<Option<TabRecord>, ChatError> {
    let Some(mut record) = get(store, id)? else {
        return Ok(None);
    };
    let before = record.clone();
    record.message_count = record.message_count.max(message_count);
    record.updated_ms = record.updated_ms.max(updated_ms);
    if let Some(through) = indexed_through {
        record.indexed_through = record.indexed_through.max(through);
    }
    if record != before {
        put(store, &record)?;
    }
    Ok(Some(record))
}

/// Removes a tab; returns whether it existed.
pub fn remove(store: &mut impl KvStore, id: &str) -> Result<bool, ChatError> {
    let existed = store.get(&key(id))?.is_some();
    if existed {
        store.delete(&key(id))?;
    }
    Ok(existed)
}

/// How many tabs the user has (reads the keys' records; bounded by the per-user cap).
pub fn count(store: &impl KvStore) -> Result<usize, ChatError> {
    Ok(store
        .range(TAB_PREFIX, &prefix_end(TAB_PREFIX), false, usize::MAX)?
        .len())
}

/// Every tab record of the user, in no particular order.
pub fn all(store: &impl KvStore) -> Result<Vec<TabRecord>, ChatError> {
    store
        .range(TAB_PREFIX, &prefix_end(TAB_PREFIX), false, usize::MAX)?
        .iter()
        .map(|(_, v)| decode(v))
        .collect()
}

/// A page of tabs, most recently updated first, starting after `cursor`, with `touches` applied.
pub fn list(
    store: &impl KvStore,
    limit: u32,
    cursor: Option<(u64, String)>,
    touches: &Touches,
) -> Result<TabList, ChatError> {
    let mut records: Vec<TabRecord> = all(store)?.into_iter().map(|r| touches.apply(r)).collect();
    // Newest first; ties broken by id so the order (and the cursor) is total.
    records.sort_by(|a, b| b.updated_ms.cmp(&a.updated_ms).then(a.id.cmp(&b.id)));
    let start = match &cursor {
        None => 0,
        Some((ms, id)) => records
            .iter()
            .position(|r| {
                (r.updated_ms < *ms) || (r.updated_ms == *ms && r.id.as_str() > id.as_str())
            })
            .unwrap_or(records.len()),
    };
    let limit = limit as usize;
    let page: Vec<&TabRecord> = records.iter().skip(start).take(limit).collect();
    let next_cursor = (start + page.len() < records.len())
        .then(|| page.last().map(|r| format!("{}.{}", r.updated_ms, r.id)))
        .flatten();
    Ok(TabList {
        tabs: page.into_iter().map(TabRecord::meta).collect(),
        next_cursor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemoryStore;

    fn record(id: &str, updated_ms: u64) -> TabRecord {
        TabRecord {
            id: id.into(),
            title: format!("tab {id}"),
            created_ms: 1,
            updated_ms,
            message_count: 0,
            indexed_through: 0,
        }
    }

    #[test]
    fn lists_most_recently_updated_first_with_stable_cursor() {
        let mut store = MemoryStore::new();
        for (id, ms) in [("a", 10), ("b", 30), ("c", 20), ("d", 30)] {
            put(&mut store, &record(id, ms)).unwrap();
        }
        let first = list(&store, 2, None, &Touches::default()).unwrap();
        let ids: Vec<_> = first.tabs.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, ["b", "d"]);
        let cursor = parse_list_query(None, first.next_cursor.as_deref())
            .unwrap()
            .1;
        let second = list(&store, 2, cursor, &Touches::default()).unwrap();
        let ids: Vec<_> = second.tabs.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, ["c", "a"]);
        assert_eq!(second.next_cursor, None);
    }

    #[test]
    fn touch_moves_a_tab_to_the_front_and_never_backwards() {
        let mut store = MemoryStore::new();
        put(&mut store, &record("a", 10)).unwrap();
        put(&mut store, &record("b", 20)).unwrap();
        touch(&mut store, "a", 3, 25, None).unwrap();
        assert_eq!(
            list(&store, 10, None, &Touches::default()).unwrap().tabs[0].id,
            "a"
        );
        let stale = touch(&mut store, "a", 1, 5, Some(2)).unwrap().unwrap();
        assert_eq!(
            (stale.message_count, stale.updated_ms, stale.indexed_through),
            (3, 25, 2)
        );
        assert!(stale.has_unindexed());
        assert_eq!(touch(&mut store, "zz", 1, 1, None).unwrap(), None);
    }

    #[test]
    fn soft_touches_reorder_the_list_without_writing() {
        let mut store = MemoryStore::new();
        put(&mut store, &record("a", 10)).unwrap();
        put(&mut store, &record("b", 20)).unwrap();
        let writes = store.write_stats();
        let mut touches = Touches::default();
        touches.record("a", 4, 30);
        touches.record("a", 2, 15);
        let listed = list(&store, 10, None, &touches).unwrap();
        assert_eq!(listed.tabs[0].id, "a");
        assert_eq!(listed.tabs[0].message_count, 4);
        assert_eq!(store.write_stats(), writes, "touches are memory only");
        touches.forget("a");
        assert_eq!(list(&store, 10, None, &touches).unwrap().tabs[0].id, "b");
    }

    #[test]
    fn rename_and_remove() {
        let mut store = MemoryStore::new();
        put(&mut store, &record("a", 10)).unwrap();
        let renamed = rename(&mut store, "a", "New".into(), 50).unwrap().unwrap();
        assert_eq!(renamed.meta().title, "New");
        assert_eq!(renamed.updated_ms, 50);
        assert!(remove(&mut store, "a").unwrap());
        assert!(!remove(&mut store, "a").unwrap());
        assert_eq!(get(&store, "a").unwrap(), None);
    }

    #[test]
    fn bad_cursors_and_limits_are_rejected() {
        assert!(parse_list_query(Some("0"), None).is_err());
        assert!(parse_list_query(Some("101"), None).is_err());
        assert!(parse_list_query(None, Some("nonsense")).is_err());
        assert!(parse_list_query(None, Some("12.bad id")).is_err());
        assert_eq!(parse_list_query(None, None).unwrap(), (20, None));
    }
}
