//! A user's list of workspaces, kept in the user's object (`w/{id}` → name and creation time),
//! so `GET /api/workspaces` knows which workspace objects to ask and the per-user cap holds.

use serde::{Deserialize, Serialize};

use super::WorkspaceError;
use crate::storage::{prefix_end, KvStore};

/// The most workspaces one user may keep (400 `limit_exceeded` beyond it).
pub const MAX_WORKSPACES_PER_USER: usize = 20;

const PREFIX: &str = "w/";

/// One workspace in its owner's list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkspaceEntry {
    pub id: String,
    pub name: String,
    pub created_ms: u64,
}

fn key(id: &str) -> String {
    format!("{PREFIX}{id}")
}

fn decode(bytes: &[u8]) -> Result<WorkspaceEntry, WorkspaceError> {
    serde_json::from_slice(bytes).map_err(|e| WorkspaceError::Corrupt(format!("registry: {e}")))
}

/// Registers `entry`; registering the same id again changes nothing. `TooManyWorkspaces` at
/// the cap.
pub fn add(store: &mut impl KvStore, entry: &WorkspaceEntry) -> Result<(), WorkspaceError> {
    if store.get(&key(&entry.id))?.is_some() {
        return Ok(());
    }
    if list(store)?.len() >= MAX_WORKSPACES_PER_USER {
        return Err(WorkspaceError::TooManyWorkspaces {
            max: MAX_WORKSPACES_PER_USER,
        });
    }
    let bytes = serde_json::to_vec(entry).map_err(|e| WorkspaceError::Corrupt(e.to_string()))?;
    store.put(&key(&entry.id), &bytes)?;
    Ok(())
}

/// Whether the user has workspace `id`.
pub fn contains(store: &impl KvStore, id: &str) -> Result<bool, WorkspaceError> {
    Ok(store.get(&key(id))?.is_some())
}

/// Forgets workspace `id`. Idempotent.
pub fn remove(store: &mut impl KvStore, id: &str) -> Result<(), WorkspaceError> {
    if store.get(&key(id))?.is_some() {
        store.delete(&key(id))?;
    }
    Ok(())
}

/// The user's workspaces, oldest first (ties by id).
pub fn list(store: &impl KvStore) -> Result<Vec<WorkspaceEntry>, WorkspaceError> {
    let rows = store.range(
        PREFIX,
        &prefix_end(PREFIX),
        false,
        MAX_WORKSPACES_PER_USER + 1,
    )?;
    let mut entries = rows
        .iter()
        .map(|(_, v)| decode(v))
        .collect::<Result<Vec<_>, _>>()?;
    entries.sort_by(|a, b| (a.created_ms, &a.id).cmp(&(b.created_ms, &b.id)));
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemoryStore;

    fn entry(id: &str, created_ms: u64) -> WorkspaceEntry {
        WorkspaceEntry {
            id: id.into(),
            name: format!("name {id}"),
            created_ms,
        }
    }

    #[test]
    fn a_user_keeps_at_most_the_documented_number_of_workspaces() {
        let mut store = MemoryStore::new();
        for i in 0..MAX_WORKSPACES_PER_USER {
            add(&mut store, &entry(&format!("w{i:02}"), 100 - i as u64)).unwrap();
        }
        add(&mut store, &entry("w00", 5)).unwrap();
        assert_eq!(
            add(&mut store, &entry("extra", 1)).unwrap_err(),
            WorkspaceError::TooManyWorkspaces {
                max: MAX_WORKSPACES_PER_USER
            }
        );
        let listed = list(&store).unwrap();
        assert_eq!(listed.len(), MAX_WORKSPACES_PER_USER);
        assert_eq!(listed[0].id, format!("w{:02}", MAX_WORKSPACES_PER_USER - 1));
        remove(&mut store, "w03").unwrap();
        remove(&mut store, "w03").unwrap();
        assert!(!contains(&store, "w03").unwrap());
        add(&mut store, &entry("extra", 1)).unwrap();
        assert!(contains(&store, "extra").unwrap());
    }
}
