//! [`User`]: everything one user's Durable Object decides, as a pure core over a [`KvStore`]:
//! the tab directory (with appends' in-memory touches) and the history search index.
//!
//! The object (`edge/objects/user.rs`) decodes a call, runs one of these methods and answers.
//! The one asynchronous step, asking tabs that are ahead of the index for their unindexed
//! messages, is split in two: [`User::tabs_behind_index`] says which tabs to ask, and
//! [`User::search`] ranks their messages with the indexed ones.

use super::directory::{self, TabList, TabRecord, Touches};
use super::model::{Message, TabMeta};
use super::ChatError;
use crate::search::history::{HistoryDoc, HistoryError, HistoryResults, PersistentIndex};
use crate::storage::{prefix_end, KvStore};

/// The most tabs one user may have (documented in the API: 400 `limit_exceeded` beyond it). The
/// directory lists all of a user's records per request, so the cap also bounds that cost.
pub const MAX_TABS_PER_USER: usize = 1000;

/// The most rollout runs one user may keep (400 `limit_exceeded` beyond it); idle runs expire
/// after `RUN_IDLE_EXPIRY_SECONDS` (default 7 days) and free their place.
pub const MAX_RUNS_PER_USER: usize = 100;

const RUN_PREFIX: &str = "r/";

/// One user's directory and index; see the module docs.
pub struct User {
    index: PersistentIndex,
    touches: Touches,
}

/// A history-search message as the index sees it.
pub fn history_doc(tab_id: &str, m: &Message) -> HistoryDoc {
    HistoryDoc {
        tab_id: tab_id.to_owned(),
        seq: m.seq,
        role: m.role.as_str().to_owned(),
        text: m.content.clone(),
    }
}

impl User {
    /// Opens the user's state from `store`.
    pub fn load(store: &impl KvStore) -> Result<User, HistoryError> {
        Ok(User {
            index: PersistentIndex::open(store)?,
            touches: Touches::default(),
        })
    }

    /// Adds a new tab (its object is already initialised).
    pub fn create_tab(
        &mut self,
        store: &mut impl KvStore,
        record: &TabRecord,
    ) -> Result<TabMeta, ChatError> {
        if directory::get(store, &record.id)?.is_none()
            && directory::count(store)? >= MAX_TABS_PER_USER
        {
            return Err(ChatError::TooManyTabs {
                max: MAX_TABS_PER_USER,
            });
        }
        directory::put(store, record)?;
        Ok(record.meta())
    }

    /// Whether the user may create another tab (checked before the tab's object is created).
    pub fn can_create_tab(&self, store: &impl KvStore) -> Result<(), ChatError> {
        if directory::count(store)? >= MAX_TABS_PER_USER {
            return Err(ChatError::TooManyTabs {
                max: MAX_TABS_PER_USER,
            });
        }
        Ok(())
    }

    /// Registers a new rollout run; `TooManyRuns` when the user has [`MAX_RUNS_PER_USER`].
    pub fn add_run(
        &mut self,
        store: &mut impl KvStore,
        run_id: &str,
        now_ms: u64,
    ) -> Result<(), ChatError> {
        let key = format!("{RUN_PREFIX}{run_id}");
        if store.get(&key)?.is_some() {
            return Ok(());
        }
        let runs = store
            .range(
                RUN_PREFIX,
                &prefix_end(RUN_PREFIX),
                false,
                MAX_RUNS_PER_USER,
            )?
            .len();
        if runs >= MAX_RUNS_PER_USER {
            return Err(ChatError::TooManyRuns {
                max: MAX_RUNS_PER_USER,
            });
        }
        store.put(&key, now_ms.to_string().as_bytes())?;
        Ok(())
    }

    /// Forgets a run (deleted or expired). Idempotent.
    pub fn remove_run(&mut self, store: &mut impl KvStore, run_id: &str) -> Result<(), ChatError> {
        let key = format!("{RUN_PREFIX}{run_id}");
        if store.get(&key)?.is_some() {
            store.delete(&key)?;
        }
        Ok(())
    }

    /// A page of the tab list, touches applied.
    pub fn list_tabs(
        &self,
        store: &impl KvStore,
        limit: u32,
        cursor: Option<(u64, String)>,
    ) -> Result<TabList, ChatError> {
        directory::list(store, limit, cursor, &self.touches)
    }

    /// One tab, touches applied; `TabNotFound` when the user has no such tab.
    pub fn get_tab(&self, store: &impl KvStore, tab_id: &str) -> Result<TabMeta, ChatError> {
        let record = directory::get(store, tab_id)?.ok_or(ChatError::TabNotFound)?;
        Ok(self.touches.apply(record).meta())
    }

    pub fn rename_tab(
        &mut self,
        store: &mut impl KvStore,
        tab_id: &str,
        title: String,
        now_ms: u64,
    ) -> Result<TabMeta, ChatError> {
        let record =
            directory::rename(store, tab_id, title, now_ms)?.ok_or(ChatError::TabNotFound)?;
        Ok(self.touches.apply(record).meta())
    }

    /// An append's soft update: memory only (the tab's next flush writes the same facts).
    pub fn touch(
        &mut self,
        store: &impl KvStore,
        tab_id: &str,
        message_count: u64,
        updated_ms: u64,
    ) -> Result<(), ChatError> {
        directory::get(store, tab_id)?.ok_or(ChatError::TabNotFound)?;
        self.touches.record(tab_id, message_count, updated_ms);
        Ok(())
    }

    /// Removes a tab from the directory and its postings from the index.
    pub fn remove_tab(&mut self, store: &mut impl KvStore, tab_id: &str) -> Result<(), ChatError> {
        self.touches.forget(tab_id);
        directory::remove(store, tab_id)?;
        self.index
            .remove_tab(store, tab_id)
            .map_err(|e| ChatError::Corrupt(format!("history index: {e}")))?;
        Ok(())
    }

    /// Indexes a tab's flushed messages and records the tab's state. A tab deleted meanwhile is
    /// not brought back by a late flush; messages at or below the tab's watermark are skipped,
    /// so a retried batch is indexed once.
    pub fn index(
        &mut self,
        store: &mut impl KvStore,
        tab_id: &str,
        messages: &[Message],
        message_count: u64,
        indexed_through: u64,
        updated_ms: u64,
    ) -> Result<(), HistoryError> {
        let Some(record) = directory::get(store, tab_id).map_err(chat_to_history)? else {
            return Ok(());
        };
        let docs: Vec<HistoryDoc> = messages
            .iter()
            .filter(|m| m.seq > record.indexed_through)
            .map(|m| history_doc(tab_id, m))
            .collect();
        self.index.add(store, &docs)?;
        directory::touch(
            store,
            tab_id,
            message_count,
            updated_ms,
            Some(indexed_through),
        )
        .map_err(chat_to_history)?;
        Ok(())
    }

    /// The tabs (with `filter`, just that one; never `skip`) holding messages the index does not
    /// have yet, with the `seq` the index holds through. `TabNotFound` when `filter` names no tab.
    pub fn tabs_behind_index(
        &self,
        store: &impl KvStore,
        filter: Option<&str>,
        skip: Option<&str>,
    ) -> Result<Vec<(String, u64)>, ChatError> {
        if let Some(tab_id) = filter {
            directory::get(store, tab_id)?.ok_or(ChatError::TabNotFound)?;
        }
        Ok(directory::all(store)?
            .into_iter()
            .map(|r| self.touches.apply(r))
            .filter(|r| r.has_unindexed())
            .filter(|r| filter.is_none_or(|t| t == r.id))
            .filter(|r| skip != Some(r.id.as_str()))
            .map(|r| (r.id, r.indexed_through))
            .collect())
    }

    /// BM25 over the indexed messages plus `unindexed` ones; a query with no searchable word
    /// matches nothing.
    pub fn search(
        &mut self,
        store: &impl KvStore,
        q: &str,
        tab: Option<&str>,
        limit: usize,
        unindexed: &[HistoryDoc],
    ) -> Result<HistoryResults, HistoryError> {
        match self.index.search(store, q, tab, limit, unindexed) {
            Err(HistoryError::NoSearchableWords) => Ok(HistoryResults {
                total: 0,
                results: Vec::new(),
            }),
            other => other,
        }
    }
}

fn chat_to_history(err: ChatError) -> HistoryError {
    match err {
        ChatError::Storage(e) => HistoryError::Storage(e),
        other => HistoryError::Corrupt(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::model::Role;
    use crate::storage::{FaultyStore, MemoryStore};

    fn record(id: &str, ms: u64) -> TabRecord {
        TabRecord {
            id: id.into(),
            title: "t".into(),
            created_ms: ms,
            updated_ms: ms,
            message_count: 0,
            indexed_through: 0,
        }
    }

    fn message(seq: u64, text: &str) -> Message {
        Message {
            id: format!("m{seq}"),
            seq,
            role: Role::User,
            content: text.into(),
            created_at: "2026-01-01T00:00:00.000Z".into(),
            client_id: None,
            reply_id: None,
            status: None,
        }
    }

    #[test]
    fn a_user_has_at_most_the_documented_number_of_tabs() {
        let mut store = MemoryStore::new();
        let mut user = User::load(&store).unwrap();
        for i in 0..MAX_TABS_PER_USER {
            user.create_tab(&mut store, &record(&format!("t{i}"), 1))
                .unwrap();
        }
        let err = user
            .create_tab(&mut store, &record("one-more", 2))
            .unwrap_err();
        assert_eq!(
            err,
            ChatError::TooManyTabs {
                max: MAX_TABS_PER_USER
            }
        );
        assert!(user.can_create_tab(&store).is_err());
        // Deleting one makes room again.
        user.remove_tab(&mut store, "t0").unwrap();
        user.create_tab(&mut store, &record("one-more", 2)).unwrap();
    }

    #[test]
    fn a_user_keeps_at_most_the_documented_number_of_runs() {
        let mut store = MemoryStore::new();
        let mut user = User::load(&store).unwrap();
        for i in 0..MAX_RUNS_PER_USER {
            user.add_run(&mut store, &format!("r{i}"), 1).unwrap();
        }
        // Registering a run again is not a new run.
        user.add_run(&mut store, "r0", 2).unwrap();
        assert_eq!(
            user.add_run(&mut store, "extra", 2).unwrap_err(),
            ChatError::TooManyRuns {
                max: MAX_RUNS_PER_USER
            }
        );
        user.remove_run(&mut store, "r3").unwrap();
        user.remove_run(&mut store, "r3").unwrap();
        user.add_run(&mut store, "extra", 3).unwrap();
    }

    #[test]
    fn a_retried_index_batch_is_indexed_once_and_a_late_one_for_a_deleted_tab_is_dropped() {
        let mut store = MemoryStore::new();
        let mut user = User::load(&store).unwrap();
        user.create_tab(&mut store, &record("t", 1)).unwrap();
        let batch = [message(1, "ocelot spotted"), message(2, "another ocelot")];
        user.index(&mut store, "t", &batch, 2, 2, 10).unwrap();
        user.index(&mut store, "t", &batch, 2, 2, 10).unwrap();
        let found = user.search(&store, "ocelot", None, 10, &[]).unwrap();
        assert_eq!(found.total, 2);
        user.remove_tab(&mut store, "t").unwrap();
        user.index(&mut store, "t", &[message(3, "ocelot again")], 3, 3, 11)
            .unwrap();
        assert_eq!(
            user.search(&store, "ocelot", None, 10, &[]).unwrap().total,
            0
        );
        assert!(directory::get(&store, "t").unwrap().is_none());
    }

    #[test]
    fn touches_put_unindexed_tabs_on_the_search_plan() {
        let mut store = MemoryStore::new();
        let mut user = User::load(&store).unwrap();
        user.create_tab(&mut store, &record("a", 1)).unwrap();
        user.create_tab(&mut store, &record("b", 1)).unwrap();
        assert!(user
            .tabs_behind_index(&store, None, None)
            .unwrap()
            .is_empty());
        user.touch(&store, "b", 3, 5).unwrap();
        assert_eq!(
            user.tabs_behind_index(&store, None, None).unwrap(),
            [("b".to_owned(), 0)]
        );
        assert!(user
            .tabs_behind_index(&store, Some("a"), None)
            .unwrap()
            .is_empty());
        assert!(
            user.tabs_behind_index(&store, None, Some("b"))
                .unwrap()
                .is_empty(),
            "a skipped tab is not asked"
        );
        assert_eq!(
            user.tabs_behind_index(&store, Some("zzz"), None)
                .unwrap_err(),
            ChatError::TabNotFound
        );
        assert_eq!(
            user.touch(&store, "zzz", 1, 1).unwrap_err(),
            ChatError::TabNotFound
        );
    }

    #[test]
    fn a_failed_index_write_is_not_acknowledged_and_the_retry_indexes() {
        let mut store = FaultyStore::new();
        let mut user = User::load(&store).unwrap();
        user.create_tab(&mut store, &record("t", 1)).unwrap();
        store.crash_after(0);
        assert!(user
            .index(&mut store, "t", &[message(1, "zebra")], 1, 1, 2)
            .is_err());
        store.restart();
        let mut user = User::load(&store).unwrap();
        user.index(&mut store, "t", &[message(1, "zebra")], 1, 1, 2)
            .unwrap();
        assert_eq!(
            user.search(&store, "zebra", None, 10, &[]).unwrap().total,
            1
        );
    }
}
