//! Calls to a web-cache policy shard (`CacheShard`).

use serde::{Deserialize, Serialize};

use super::{calls, json_answer};
use crate::search::web::policy::PolicyStats;

/// Every call a cache shard accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ShardCall {
    Admit(Admit),
    Hits(Hits),
    Stats(Stats),
}

/// A value was fetched from the upstream: may it be stored in KV?
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Admit {
    pub hash: u64,
    pub size: u64,
    pub now_ms: u64,
    /// Whether this insert follows a miss (refreshes of stale entries are not misses).
    pub miss: bool,
}

/// The answer to [`Admit`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Admission {
    pub admitted: bool,
    /// Keys evicted (already deleted from KV when this answers).
    pub evicted: usize,
}

/// Hits recorded by an isolate's lossy read buffer (frequency only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hits {
    pub hits: Vec<u64>,
    #[serde(default)]
    pub stale_hits: Vec<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats;

json_answer!(Admission, PolicyStats);

calls!(ShardCall {
    Admit => Admission,
    Hits => (),
    Stats => PolicyStats,
});
