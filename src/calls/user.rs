//! Calls to a user's object (`UserObject`: the tab directory and the history index).

use serde::{Deserialize, Serialize};

use super::{calls, json_answer, Encoded};
use crate::chat::directory::{TabList, TabRecord};
use crate::chat::{Message, TabMeta};
use crate::search::history::HistoryResults;
use crate::workspace::registry::WorkspaceEntry;

/// Every call a user's object accepts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum UserCall {
    CreateTab(CreateTab),
    CanCreateTab(CanCreateTab),
    ListTabs(ListTabs),
    GetTab(GetTab),
    RenameTab(RenameTab),
    Touch(Touch),
    RemoveTab(RemoveTab),
    Index(Index),
    Search(Search),
    AddRun(AddRun),
    RemoveRun(RemoveRun),
    ReserveTokens(ReserveTokens),
    ReleaseTokens(ReleaseTokens),
    SettleTokens(SettleTokens),
    GetUsage(GetUsage),
    AddWorkspace(AddWorkspace),
    RemoveWorkspace(RemoveWorkspace),
    ListWorkspaces(ListWorkspaces),
}

/// Registers a workspace before its object is created (400 `limit_exceeded` over the cap).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddWorkspace {
    pub entry: WorkspaceEntry,
}

/// Forgets a deleted workspace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoveWorkspace {
    pub id: String,
}

/// The user's workspaces, oldest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListWorkspaces;

/// The answer of [`ListWorkspaces`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkspaceEntries(pub Vec<WorkspaceEntry>);

/// Admits a reply under the daily token budget, reserving its worst case (429
/// `quota_exceeded` with `retry-after` when it would not fit).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReserveTokens {
    pub reply_id: String,
    pub tokens: u64,
    pub limit: u64,
    pub now_ms: u64,
    /// The tab's directory update for the reply's assistant message, applied once the reply is
    /// admitted, as a [`Touch`] would be: the start needs no call of its own for it.
    #[serde(default)]
    pub touch: Option<Touch>,
}

/// Drops the reservation of a reply that did not start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseTokens {
    pub reply_id: String,
    pub now_ms: u64,
}

/// Replaces an ended reply's reservation with its usage (idempotent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettleTokens {
    pub reply_id: String,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub now_ms: u64,
}

/// The day's usage (`GET /api/usage`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetUsage {
    pub limit: u64,
    pub now_ms: u64,
}

/// Registers a rollout run before its object is created (400 `limit_exceeded` over the cap).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddRun {
    pub run_id: String,
    pub now_ms: u64,
}

/// Forgets a run that was deleted or expired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoveRun {
    pub run_id: String,
}

/// Adds a tab to the directory (409 when the user has the most tabs allowed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateTab {
    pub record: TabRecord,
}

/// Fails with 400 `limit_exceeded` when the user has the most tabs allowed (asked before a new
/// tab's object is created, so a refused create leaves no object behind).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CanCreateTab;

/// A page of the tab list, most recently updated first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListTabs {
    pub limit: u32,
    /// `(updated_ms, id)` of the last tab of the previous page.
    pub cursor: Option<(u64, String)>,
}

/// One tab's metadata (404 when the user has no such tab).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetTab {
    pub tab_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenameTab {
    pub tab_id: String,
    pub title: String,
    pub now_ms: u64,
}

/// An append's soft directory update (memory only; the tab's next flush writes it durably).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Touch {
    pub tab_id: String,
    pub message_count: u64,
    pub updated_ms: u64,
}

/// Removes a tab from the directory and its postings from the history index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoveTab {
    pub tab_id: String,
}

/// Flushed messages of one tab for the history index, with the tab's state for its directory
/// record. Idempotent: messages at or below the tab's `indexed_through` are skipped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Index {
    pub tab_id: String,
    pub messages: Vec<Message>,
    pub message_count: u64,
    /// The highest `seq` this batch brings the index to.
    pub indexed_through: u64,
    pub updated_ms: u64,
}

/// BM25 search over the user's messages, indexed or not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Search {
    /// The user whose tabs hold unindexed messages (the object does not know its own name).
    pub user: String,
    pub q: String,
    pub tab: Option<String>,
    pub limit: usize,
    /// A tab whose unindexed messages are not fetched: the tab asking, when it leaves its own
    /// messages out of what it uses (a reply's history source), so the round trip back into it
    /// would be wasted. Its indexed messages can still be among the results.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_unindexed_of: Option<String>,
}

json_answer!(TabMeta, WorkspaceEntries);

calls!(UserCall {
    CreateTab => TabMeta,
    CanCreateTab => (),
    ListTabs => Encoded<TabList>,
    GetTab => Encoded<TabMeta>,
    RenameTab => Encoded<TabMeta>,
    Touch => (),
    RemoveTab => (),
    Index => (),
    Search => Encoded<HistoryResults>,
    AddRun => (),
    RemoveRun => (),
    ReserveTokens => (),
    ReleaseTokens => (),
    SettleTokens => (),
    GetUsage => Encoded<crate::assistant::quota::UsageView>,
    AddWorkspace => (),
    RemoveWorkspace => (),
    ListWorkspaces => WorkspaceEntries,
});
