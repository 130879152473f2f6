//! Chat tabs and their message logs: the pure core behind one tab's Durable Object.
//!
//! - [`model`]: the API types (`Message`, `Role`, `TabMeta`, stats) and strict request parsing.
//! - [`time`]: RFC 3339 formatting of the millisecond clock the edge passes in.
//! - [`batch`]: *when* to flush (threshold or alarm), as a small state machine with an injected clock.
//! - [`directory`]: a user's tab list (in the user's Durable Object), most recently updated first.
//! - [`live`]: live updates over WebSockets: frames, the catch-up plan, the delta coalescer.
//! - [`reply`]: assistant replies streaming into a tab: batched persistence, replay by event id,
//!   the end of an interrupted reply.
//! - [`tab_log`]: *what* a tab stores and how a flush compacts it, over any [`crate::storage::KvStore`].
//!
//! The Durable Object only does I/O: it reads `Date.now()`, hands the store and the clock to these
//! types, sets or deletes the alarm the batcher asks for, and forwards flushed messages to the
//! history index. Every error of this module is a [`ChatError`].

pub mod batch;
pub mod directory;
mod error;
pub mod live;
pub mod model;
pub mod reply;
#[cfg(any(test, feature = "test-support"))]
pub mod simulator;
pub mod tab;
pub mod tab_log;
pub mod time;
pub mod user;

pub use batch::{AfterFlush, AlarmDecision, AppendDecision, Batcher, FlushPolicy};
pub use error::ChatError;
pub use model::{
    parse_new_message, parse_new_tab, parse_page_query, parse_tab_patch, Message, MessagePage,
    NewMessage, NewTab, PageCursor, PageQuery, ReplyStatus, Role, TabMeta, TabPatch, TabStats,
};
pub use tab::{Effect, IndexBatch, Owner, ReplyCheck, ReplyEnded, Tab};
pub use tab_log::{AppendOutcome, FlushReport, TabLog};
pub use time::format_rfc3339_ms;
pub use user::{User, MAX_TABS_PER_USER};
