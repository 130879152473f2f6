//! Web search behind a bounded two-level cache: the pure core.
//!
//! What lives here (all synchronous, I/O-free, host-tested):
//! - [`normalize`]: the cache key of a query (NFKC, lowercase, collapsed whitespace), a stable
//!   64-bit hash used for sharding, the frequency sketch and the KV key.
//! - [`upstream`]: the SearXNG-compatible upstream (URL building, JSON parsing with per-field caps),
//!   the cached value format (degraded answers marked) and its freshness classes.
//! - [`lookup`]: the lookup decision (answer, answer and refresh, read KV, fetch) from L1 and KV
//!   state and the clock, and the freshness rules (TTL, stale-while-revalidate, stale-if-error,
//!   the short life of degraded answers).
//! - [`flight`]: the isolate's single-flight table of misses, with deadlines, so entries always end.
//! - [`climber`]: the adaptive admission window (the marginal-hit climber with ghost lists, and
//!   Caffeine's classic hit-rate hill climber as a reference).
//! - [`sketch`]: a 4-bit count-min frequency sketch with aging (TinyLFU).
//! - [`policy`]: the W-TinyLFU admission/eviction policy of one cache shard, bounded in entries
//!   and bytes, with snapshot/restore so a Durable Object can persist it.
//! - [`shard`]: one shard object's core: the policy plus the ledger of what may be in KV, which
//!   keeps the KV bound under concurrency and failures (and `shard_count`).
//! - [`read_buffer`]: the isolate's lossy buffer of hit hashes, drained in batches to the shard.
//! - `replay` (test support only): trace replay of the policy, plain LRU and the sharded
//!   layout, for the hit-ratio benchmark and the trace regression test.
//! - [`l1`]: the in-isolate L1 cache, an LRU bounded by accurately accounted bytes.
//!
//! How the edge wires it: every isolate keeps an [`l1::L1Cache`], a [`read_buffer::ReadBuffer`]
//! per shard and a [`flight::Flights`] table; values live in Workers KV under
//! [`normalize::kv_key`]; each shard Durable Object owns one [`shard::Shard`] and is the single
//! writer of its keys in KV (puts and deletes).

pub mod audit;
pub mod climber;
pub mod flight;
pub mod l1;
pub mod lookup;
pub mod normalize;
pub mod policy;
pub mod read_buffer;
#[cfg(any(test, feature = "test-support"))]
pub mod replay;
pub mod shard;
pub mod sketch;
pub mod upstream;

use crate::api::{ErrorCode, HasErrorCode};

/// Everything that can go wrong in web search, with the API code the edge answers with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebSearchError {
    /// 400 `invalid_field`: the query `q` is empty, too long or otherwise unusable.
    #[error("invalid query `q`: {0}")]
    InvalidQuery(String),
    /// 502 `upstream_error`: the search upstream failed or answered with something unusable.
    #[error("the search upstream failed: {0}; try again later")]
    Upstream(String),
    /// 504 `upstream_timeout`: the search upstream did not answer in time.
    #[error("the search upstream did not answer within {timeout_ms} ms; try again later")]
    UpstreamTimeout {
        /// The timeout that expired, in milliseconds.
        timeout_ms: u64,
    },
    /// 503 `not_configured`: `SEARCH_UPSTREAM_URL` is missing or not an http(s) URL.
    #[error("web search is not configured: {0}; set SEARCH_UPSTREAM_URL to the http(s) base URL of a SearXNG-compatible instance")]
    NotConfigured(String),
    /// 500 `internal`: persisted cache state (a policy snapshot or cached value) is corrupt.
    #[error("corrupt web-search cache state: {0}")]
    Corrupt(String),
}

impl HasErrorCode for WebSearchError {
    fn error_code(&self) -> ErrorCode {
        match self {
            Self::InvalidQuery(_) => ErrorCode::InvalidField,
            Self::Upstream(_) => ErrorCode::UpstreamError,
            Self::UpstreamTimeout { .. } => ErrorCode::UpstreamTimeout,
            Self::NotConfigured(_) => ErrorCode::NotConfigured,
            Self::Corrupt(_) => ErrorCode::Internal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_map_to_the_contract_statuses() {
        let cases = [
            (
                WebSearchError::InvalidQuery("empty".into()),
                400,
                "invalid_field",
            ),
            (
                WebSearchError::Upstream("garbage".into()),
                502,
                "upstream_error",
            ),
            (
                WebSearchError::UpstreamTimeout { timeout_ms: 5000 },
                504,
                "upstream_timeout",
            ),
            (
                WebSearchError::NotConfigured("unset".into()),
                503,
                "not_configured",
            ),
            (
                WebSearchError::Corrupt("bad snapshot".into()),
                500,
                "internal",
            ),
        ];
        for (err, status, code) in cases {
            assert_eq!(err.error_code().status(), status, "{err}");
            assert_eq!(err.error_code().as_str(), code);
        }
        let timeout = WebSearchError::UpstreamTimeout { timeout_ms: 5000 };
        assert!(timeout.to_string().contains("5000 ms"));
    }
}
