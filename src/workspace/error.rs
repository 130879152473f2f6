//! The one error type of the workspace core, mapped to the API's error codes.

use crate::api::{ErrorCode, HasErrorCode, InputError};
use crate::storage::StorageError;

/// Everything that can go wrong in a workspace: input the caller can fix (400/404/409/413), or
/// storage and corrupt records (500, never caused by input alone).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkspaceError {
    /// A rejected body or query value; carries its own 400-class code and message.
    #[error(transparent)]
    Input(#[from] InputError),
    /// The workspace's storage failed; nothing half-done was acknowledged, retrying is safe.
    #[error("{0}; the workspace's storage is unavailable, retry the request")]
    Storage(#[from] StorageError),
    /// A stored record did not decode: a bug or a storage fault.
    #[error("workspace data is corrupt: {0}; report this with the workspace id")]
    Corrupt(String),
    /// No such workspace (never created, deleted, or another user's).
    #[error("no such workspace")]
    NotFound,
    /// No such file in the workspace.
    #[error("no such file in this workspace")]
    FileNotFound,
    /// The user has the most workspaces allowed.
    #[error("you have {max} workspaces, the most allowed; delete one to create another")]
    TooManyWorkspaces {
        /// The cap ([`super::registry::MAX_WORKSPACES_PER_USER`]).
        max: usize,
    },
    /// An archive upload is already running, or the previous one is still being indexed.
    #[error("{0}; wait until the workspace's status is `ready`, then upload again")]
    Busy(String),
    /// The upload took so long that its lease ran out (another upload may have started).
    #[error("this upload's lease expired before it was committed; upload again")]
    UploadExpired,
    /// The workspace would pass a documented cap.
    #[error("{0}")]
    Limit(String),
    /// A code search query was refused, or an index record is corrupt.
    #[error(transparent)]
    Search(#[from] super::index::CodeSearchError),
}

impl HasErrorCode for WorkspaceError {
    fn error_code(&self) -> ErrorCode {
        match self {
            Self::Input(e) => e.code,
            Self::Storage(_) | Self::Corrupt(_) => ErrorCode::Internal,
            Self::NotFound | Self::FileNotFound => ErrorCode::NotFound,
            Self::TooManyWorkspaces { .. } | Self::Limit(_) => ErrorCode::LimitExceeded,
            Self::Busy(_) | Self::UploadExpired => ErrorCode::Conflict,
            Self::Search(e) => e.error_code(),
        }
    }
}
