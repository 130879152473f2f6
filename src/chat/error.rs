//! The one error type of the chat module, mapped to the API's error codes.

use crate::api::{ErrorCode, HasErrorCode, InputError};
use crate::storage::StorageError;

/// Everything that can go wrong in the chat core.
///
/// Input errors are the caller's to fix (400); storage failures and corrupt records are the
/// platform's or a bug (500) and never caused by input alone.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChatError {
    /// A rejected body or query value; carries its own 400-class code and message.
    #[error(transparent)]
    Input(#[from] InputError),
    /// The tab's storage failed. Nothing half-done is acknowledged; retrying is safe (send a
    /// `client_id` so a retried append cannot be stored twice).
    #[error("{0}; the tab's storage is unavailable, retry the request (appends with a client_id are safe to retry)")]
    Storage(#[from] StorageError),
    /// A stored record could not be decoded or the log has a hole: a bug or a storage fault.
    #[error("tab data is corrupt: {0}; report this with the tab id")]
    Corrupt(String),
    /// The tab does not exist (never created, deleted, or another user's).
    #[error("no such tab")]
    TabNotFound,
    /// The user has the most tabs allowed.
    #[error("you have {max} tabs, the most allowed; delete a tab to create another")]
    TooManyTabs {
        /// The cap ([`super::user::MAX_TABS_PER_USER`]).
        max: usize,
    },
    /// The user has the most rollout runs allowed.
    #[error("you have {max} rollout runs, the most allowed; delete a run (idle runs expire after 7 days)")]
    TooManyRuns {
        /// The cap ([`super::user::MAX_RUNS_PER_USER`]).
        max: usize,
    },
    /// A reply is already streaming in the tab (one at a time).
    #[error("reply {reply_id} is still streaming in this tab; wait for it to end or cancel it")]
    ReplyBusy {
        /// The streaming reply.
        reply_id: String,
    },
    /// No such reply in the tab.
    #[error("no such reply")]
    ReplyNotFound,
    /// The tab reached the largest sequence number its keys can hold.
    #[error("this tab holds the maximum of {max} messages; start a new tab")]
    TabFull {
        /// The largest `seq` a tab can hold.
        max: u64,
    },
}

impl HasErrorCode for ChatError {
    fn error_code(&self) -> ErrorCode {
        match self {
            Self::Input(e) => e.code,
            Self::Storage(_) | Self::Corrupt(_) => ErrorCode::Internal,
            Self::TabFull { .. } | Self::TooManyTabs { .. } | Self::TooManyRuns { .. } => {
                ErrorCode::LimitExceeded
            }
            Self::TabNotFound | Self::ReplyNotFound => ErrorCode::NotFound,
            Self::ReplyBusy { .. } => ErrorCode::Conflict,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_follow_the_contract() {
        assert_eq!(
            ChatError::from(InputError::limit("too big")).error_code(),
            ErrorCode::LimitExceeded
        );
        assert_eq!(
            ChatError::from(StorageError("disk".into())).error_code(),
            ErrorCode::Internal
        );
        assert_eq!(
            ChatError::Corrupt("x".into()).error_code(),
            ErrorCode::Internal
        );
        assert_eq!(ChatError::TabFull { max: 9 }.error_code().status(), 400);
        assert_eq!(
            ChatError::from(InputError::invalid("bad role")).to_string(),
            "bad role"
        );
    }
}
