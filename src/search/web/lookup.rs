//! The lookup decision of a web search: from what L1 and KV hold, their freshness and the clock,
//! whether to answer, answer and refresh in the background, or fetch from the upstream.
//!
//! Pure, so every path is host-tested; the shell reads L1, asks [`decide`], reads KV only when
//! told to ([`Decision::ReadKv`]), asks again, and carries the decision out.
//!
//! Freshness of a value is judged by the value itself: a full answer is fresh for the configured
//! TTL and served stale (and refreshed) for one more TTL; a *degraded* answer (no usable results,
//! or the upstream said some engines did not answer) is fresh for [`DEGRADED_TTL_MS`] at most,
//! never served stale, and never stored in KV, so an upstream hiccup is not cached for the full
//! TTL. Values the upstream could not replace may be served on error up to
//! [`MAX_STALE_ON_ERROR_MS`] past their TTL (stale-if-error), unless they are degraded.

use super::upstream::{CachedResults, Freshness};

/// How long past its TTL a stored value may still be served when the upstream fails.
pub const MAX_STALE_ON_ERROR_MS: u64 = 24 * 3600 * 1000;
/// Freshness of a degraded answer (at most the configured TTL): short, so the upstream is asked
/// again soon after it recovers, long enough to absorb a burst of the same query.
pub const DEGRADED_TTL_MS: u64 = 10_000;

/// The freshness rules in force (from `CACHE_TTL_SECONDS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheTimes {
    /// Fresh for this long after the fetch.
    pub ttl_ms: u64,
    /// Then served stale and refreshed for this long (stale-while-revalidate).
    pub stale_ms: u64,
    /// Served when the upstream fails up to this long past the TTL (stale-if-error).
    pub max_stale_on_error_ms: u64,
    /// Fresh time of a degraded answer.
    pub degraded_ttl_ms: u64,
}

impl CacheTimes {
    /// The rules for a TTL: one more TTL of stale-while-revalidate, 24 h of stale-if-error,
    /// degraded answers fresh for [`DEGRADED_TTL_MS`] or the TTL, whichever is shorter.
    pub fn for_ttl(ttl_ms: u64) -> Self {
        Self {
            ttl_ms,
            stale_ms: ttl_ms,
            max_stale_on_error_ms: MAX_STALE_ON_ERROR_MS,
            degraded_ttl_ms: DEGRADED_TTL_MS.min(ttl_ms),
        }
    }

    /// How `value` may be used at `now_ms`.
    pub fn freshness(&self, value: &CachedResults, now_ms: u64) -> Freshness {
        if value.is_degraded() {
            Freshness::of(now_ms, value.fetched_at_ms, self.degraded_ttl_ms, 0)
        } else {
            Freshness::of(now_ms, value.fetched_at_ms, self.ttl_ms, self.stale_ms)
        }
    }

    /// Whether `value` may be served because the upstream failed at `now_ms`.
    pub fn usable_on_error(&self, value: &CachedResults, now_ms: u64) -> bool {
        !value.is_degraded()
            && Freshness::usable_on_error(
                now_ms,
                value.fetched_at_ms,
                self.ttl_ms,
                self.max_stale_on_error_ms,
            )
    }
}

/// Where an answered value came from (`x-cache-tier`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    /// This isolate's L1.
    L1,
    /// Workers KV.
    Kv,
}

impl Tier {
    /// The `x-cache-tier` header value.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::L1 => "l1",
            Tier::Kv => "kv",
        }
    }
}

/// What KV is known to hold for the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored<'a> {
    /// Not read yet.
    Unread,
    /// Read: nothing usable (absent, corrupt, or another query's value).
    Missing,
    /// Read: this value.
    Found(&'a CachedResults),
}

/// What the shell does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision<'a> {
    /// Answer with `value` (`"cache": "hit"`).
    Answer {
        value: &'a CachedResults,
        tier: Tier,
    },
    /// Answer with `value` (`"cache": "stale"`) and refresh it in the background.
    AnswerAndRefresh {
        value: &'a CachedResults,
        tier: Tier,
    },
    /// Read KV, then decide again.
    ReadKv,
    /// Fetch from the upstream (single-flight); if that fails, answer `fallback` as stale when
    /// there is one.
    Fetch { fallback: Option<&'a CachedResults> },
}

/// Decides a lookup of `normalized` at `now_ms` (see the module docs). Values of another query
/// (a key-hash collision) count as absent.
pub fn decide<'a>(
    l1: Option<&'a CachedResults>,
    kv: Stored<'a>,
    normalized: &str,
    now_ms: u64,
    times: &CacheTimes,
) -> Decision<'a> {
    let l1 = l1.filter(|v| v.matches(normalized));
    if let Some(value) = l1 {
        if times.freshness(value, now_ms) == Freshness::Fresh {
            return Decision::Answer {
                value,
                tier: Tier::L1,
            };
        }
    }
    let stored = match kv {
        Stored::Unread => return Decision::ReadKv,
        Stored::Missing => None,
        Stored::Found(value) => Some(value).filter(|v| v.matches(normalized)),
    };
    if let Some(value) = stored {
        match times.freshness(value, now_ms) {
            Freshness::Fresh => {
                return Decision::Answer {
                    value,
                    tier: Tier::Kv,
                }
            }
            Freshness::Stale => {
                return Decision::AnswerAndRefresh {
                    value,
                    tier: Tier::Kv,
                }
            }
            Freshness::Expired => {}
        }
    }
    // The freshest value either tier has is the fallback for a failed fetch.
    let fallback = [stored, l1]
        .into_iter()
        .flatten()
        .filter(|v| times.usable_on_error(v, now_ms))
        .max_by_key(|v| v.fetched_at_ms);
    Decision::Fetch { fallback }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::web::upstream::WebResult;

    const TTL: u64 = 60_000;

    fn value(query: &str, fetched_at_ms: u64, results: usize) -> CachedResults {
        CachedResults {
            query: query.into(),
            results: (0..results)
                .map(|i| WebResult {
                    title: format!("t{i}"),
                    url: format!("https://e.example/{i}"),
                    snippet: String::new(),
                    engine: None,
                })
                .collect(),
            fetched_at_ms,
            degraded: false,
        }
    }

    fn times() -> CacheTimes {
        CacheTimes::for_ttl(TTL)
    }

    #[test]
    fn fresh_l1_answers_without_reading_kv() {
        let v = value("q", 1_000, 2);
        assert_eq!(
            decide(Some(&v), Stored::Unread, "q", 1_000 + TTL - 1, &times()),
            Decision::Answer {
                value: &v,
                tier: Tier::L1
            }
        );
        // Another query's value (hash collision) or an old one: read KV.
        assert_eq!(
            decide(Some(&v), Stored::Unread, "other", 1_000, &times()),
            Decision::ReadKv
        );
        assert_eq!(
            decide(Some(&v), Stored::Unread, "q", 1_000 + TTL, &times()),
            Decision::ReadKv
        );
        assert_eq!(
            decide(None, Stored::Unread, "q", 0, &times()),
            Decision::ReadKv
        );
    }

    #[test]
    fn kv_values_are_answered_refreshed_or_fetched_by_age() {
        let v = value("q", 0, 2);
        let at = |now| decide(None, Stored::Found(&v), "q", now, &times());
        assert_eq!(
            at(TTL - 1),
            Decision::Answer {
                value: &v,
                tier: Tier::Kv
            }
        );
        assert_eq!(
            at(TTL),
            Decision::AnswerAndRefresh {
                value: &v,
                tier: Tier::Kv
            }
        );
        assert_eq!(
            at(2 * TTL - 1),
            Decision::AnswerAndRefresh {
                value: &v,
                tier: Tier::Kv
            }
        );
        assert_eq!(at(2 * TTL), Decision::Fetch { fallback: Some(&v) });
        assert_eq!(
            at(TTL + MAX_STALE_ON_ERROR_MS - 1),
            Decision::Fetch { fallback: Some(&v) }
        );
        assert_eq!(
            at(TTL + MAX_STALE_ON_ERROR_MS),
            Decision::Fetch { fallback: None }
        );
        assert_eq!(
            decide(None, Stored::Missing, "q", 0, &times()),
            Decision::Fetch { fallback: None }
        );
        let other = value("other", 0, 2);
        assert_eq!(
            decide(None, Stored::Found(&other), "q", 0, &times()),
            Decision::Fetch { fallback: None }
        );
    }

    #[test]
    fn degraded_answers_are_not_fresh_for_the_full_ttl() {
        // No usable results: fresh for DEGRADED_TTL_MS only, never stale, never a fallback.
        let empty = value("q", 0, 0);
        assert!(empty.is_degraded());
        assert_eq!(
            decide(
                Some(&empty),
                Stored::Unread,
                "q",
                DEGRADED_TTL_MS - 1,
                &times()
            ),
            Decision::Answer {
                value: &empty,
                tier: Tier::L1
            }
        );
        assert_eq!(
            decide(
                Some(&empty),
                Stored::Missing,
                "q",
                DEGRADED_TTL_MS,
                &times()
            ),
            Decision::Fetch { fallback: None }
        );
        assert_eq!(
            decide(None, Stored::Found(&empty), "q", DEGRADED_TTL_MS, &times()),
            Decision::Fetch { fallback: None }
        );
        // Results, but the upstream said engines failed: the same.
        let mut partial = value("q", 0, 3);
        partial.degraded = true;
        assert_eq!(
            decide(
                None,
                Stored::Found(&partial),
                "q",
                DEGRADED_TTL_MS,
                &times()
            ),
            Decision::Fetch { fallback: None }
        );
        // A TTL shorter than DEGRADED_TTL_MS bounds it.
        assert_eq!(CacheTimes::for_ttl(2_000).degraded_ttl_ms, 2_000);
    }

    #[test]
    fn the_freshest_usable_value_is_the_fallback() {
        let old_kv = value("q", 0, 2);
        let newer_l1 = value("q", 10, 2);
        let now = 2 * TTL + 10;
        assert_eq!(
            decide(Some(&newer_l1), Stored::Found(&old_kv), "q", now, &times()),
            Decision::Fetch {
                fallback: Some(&newer_l1)
            }
        );
    }
}
