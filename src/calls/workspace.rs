//! Calls to a code workspace's object (`WorkspaceObject`, one per user and workspace), and the
//! workspace registry calls of the user's object live in [`super::user`].

use serde::{Deserialize, Serialize};

use super::{calls, json_answer, Encoded};
use crate::workspace::context::CodeContext;
use crate::workspace::index::SymbolHit;
use crate::workspace::scan::SymbolKind;
use crate::workspace::state::{
    Blob, CodeResults, FileInfo, FilePage, Incoming, SkippedCounts, Stored, UploadPlan,
    UploadReport, WorkspaceInfo,
};

/// Every call a workspace's object accepts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum WorkspaceCall {
    Create(Create),
    Info(Info),
    Delete(Delete),
    BeginUpload(BeginUpload),
    CommitUpload(CommitUpload),
    PutFile(PutFile),
    DeleteFile(DeleteFile),
    Locate(Locate),
    ListFiles(ListFiles),
    Symbols(Symbols),
    Search(Search),
    Context(Context),
}

/// Creates the workspace (after the owner's registry took it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Create {
    pub id: String,
    pub name: String,
    pub user: String,
    pub now_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Info;

/// Deletes the workspace: its table, index and R2 packs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delete;

/// Takes the upload lease; answers which files must be stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BeginUpload {
    pub upload_id: String,
    pub incoming: Vec<Incoming>,
    pub now_ms: u64,
}

/// Swaps the table to the upload's files and starts scanning the stored ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitUpload {
    pub upload_id: String,
    pub incoming: Vec<Incoming>,
    pub stored: Vec<Stored>,
    pub skipped: SkippedCounts,
    pub now_ms: u64,
}

/// Adds or replaces one file (already in R2) and scans it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PutFile {
    pub path: String,
    pub hash: String,
    pub bytes: u64,
    pub blob: Blob,
    pub now_ms: u64,
}

/// Removes one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteFile {
    pub path: String,
    pub now_ms: u64,
}

/// Where one file's bytes are (for `GET …/files/{path}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Locate {
    pub path: String,
}

/// A file's location and language.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Located {
    pub blob: Blob,
    pub info: FileInfo,
}

/// A page of the file list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListFiles {
    pub prefix: String,
    pub cursor: Option<String>,
    pub limit: usize,
}

/// Symbol lookup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Symbols {
    pub q: Option<String>,
    pub path: Option<String>,
    pub kind: Option<SymbolKind>,
    pub limit: usize,
}

/// The answer of `GET …/symbols` (encoded in the object, passed through by the worker).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SymbolList {
    pub symbols: Vec<SymbolHit>,
}

/// Code search.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Search {
    pub q: String,
    pub limit: usize,
}

/// The code context of an assistant reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Context {
    pub question: String,
    pub budget_tokens: usize,
}

json_answer!(WorkspaceInfo, UploadPlan, FileInfo, Located, CodeContext);

calls!(WorkspaceCall {
    Create => Encoded<WorkspaceInfo>,
    Info => WorkspaceInfo,
    Delete => (),
    BeginUpload => UploadPlan,
    CommitUpload => Encoded<UploadReport>,
    PutFile => FileInfo,
    DeleteFile => (),
    Locate => Located,
    ListFiles => Encoded<FilePage>,
    Symbols => Encoded<SymbolList>,
    Search => Encoded<CodeResults>,
    Context => CodeContext,
});
