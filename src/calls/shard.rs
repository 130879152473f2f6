//! Calls to a web-cache policy shard (`CacheShard`). Every call names the shard it is for, so an
//! object woken by its alarm knows its number, and keys routed by another shard count are told
//! apart.

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

/// A value was fetched from the upstream: the shard decides whether it is admitted and, if so,
/// writes it to KV itself (it is the single writer of its keys in KV).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Admit {
    /// The shard this key belongs to (`shard_of(hash, shard_count)`).
    pub shard: u32,
    pub hash: u64,
    /// The KV value: the cached results as JSON text.
    pub value: String,
    /// When the value was fetched (the policy's insertion time).
    pub now_ms: u64,
    /// Whether this insert follows a miss (refreshes of stale entries are not misses).
    pub miss: bool,
    /// Hits the isolate had buffered for this shard, recorded before the admission is decided:
    /// a miss sends them along instead of leaving them for the next full batch, so the policy
    /// compares the candidate with frequencies that are at most one isolate's buffer behind.
    #[serde(default)]
    pub hits: Vec<u64>,
}

/// The answer to [`Admit`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Admission {
    /// The value is in KV now.
    pub stored: bool,
    /// Keys the admission evicted (their KV deletes done or queued for the shard's alarm).
    pub evicted: usize,
}

/// Hits recorded by an isolate's lossy read buffer (frequency only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hits {
    pub shard: u32,
    pub hits: Vec<u64>,
    #[serde(default)]
    pub stale_hits: Vec<u64>,
}

/// The shard's counters; `entries` and `bytes` are what its share of KV may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    pub shard: u32,
}

json_answer!(Admission, PolicyStats);

calls!(ShardCall {
    Admit => Admission,
    Hits => (),
    Stats => PolicyStats,
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calls::{decode_call, encode_call, Answer};

    #[test]
    fn calls_and_answers_round_trip() {
        let call = ShardCall::from(Admit {
            shard: 2,
            hash: u64::MAX,
            value: r#"{"query":"q","results":[],"fetched_at_ms":1}"#.into(),
            now_ms: 7,
            miss: true,
            hits: vec![1, u64::MAX],
        });
        let back: ShardCall = decode_call(&encode_call(&call).unwrap()).unwrap();
        assert_eq!(back, call);
        let stats = PolicyStats {
            entries: 3,
            pending_deletes: 1,
            ..PolicyStats::default()
        };
        assert_eq!(PolicyStats::decode(stats.encode().unwrap()).unwrap(), stats);
        // Stats of a shard that predates `pending_deletes` still decode.
        let old = br#"{"entries":1,"bytes":2,"capacity_entries":3,"capacity_bytes":4,"hits":5,"misses":6,"stale_hits":7,"evictions":8,"rejected":9}"#;
        assert_eq!(
            PolicyStats::decode(old.to_vec()).unwrap().pending_deletes,
            0
        );
    }
}
