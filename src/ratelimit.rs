//! Request rate limiting in two layers.
//!
//! 1. [`RateLimiter`]: a token bucket per user in each isolate (`RATE_LIMIT_PER_MINUTE` tokens,
//!    refilled continuously), with the clock passed in. No I/O, so it turns away a burst from one
//!    client before anything else runs; but it is per isolate, so alone a user spread over k
//!    isolates could reach k × the limit. Memory is bounded: at most `max_keys` users are tracked
//!    (least recently seen dropped first, `lru`).
//! 2. The shared limit: the Workers Rate Limiting binding `USER_RATE_LIMIT` (`wrangler.toml`
//!    `[[ratelimits]]`, `limit` per 60 s), keyed by [`user_key`], counted across all isolates of
//!    a location; and `AUTH_FAIL_RATE_LIMIT`, keyed by [`address_key`], which turns a client
//!    address's stream of failed authentications (401) into 429s. The binding answers from the
//!    location's own counters (no round trip to a central store), which is why it, not a Durable
//!    Object hop per request, holds the limit across isolates. Its limit is set in
//!    `wrangler.toml`, so keep it equal to `RATE_LIMIT_PER_MINUTE`.

use std::num::NonZeroUsize;

use lru::LruCache;

/// The period of the shared limits in `wrangler.toml` (the binding allows 10 or 60 s): the
/// `retry-after` of their 429s.
pub const SHARED_LIMIT_PERIOD_SECS: u64 = 60;

/// The shared limiter's key for an authenticated user.
pub fn user_key(user: &str) -> String {
    format!("user:{user}")
}

/// The shared limiter's key for failed authentications from a client address
/// (`cf-connecting-ip`); clients without one share the key `addr:unknown`.
pub fn address_key(address: Option<&str>) -> String {
    let address = address
        .map(str::trim)
        .filter(|a| !a.is_empty() && a.len() <= 64 && a.bytes().all(|b| b.is_ascii_graphic()))
        .unwrap_or("unknown");
    format!("addr:{address}")
}

/// Users tracked per isolate before the least recently seen are forgotten.
pub const DEFAULT_MAX_KEYS: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated_ms: u64,
}

/// Token buckets keyed by user id.
pub struct RateLimiter {
    per_minute: u32,
    buckets: LruCache<String, Bucket>,
}

impl RateLimiter {
    /// A limiter allowing `per_minute` requests per user per minute (bursts up to `per_minute`).
    pub fn new(per_minute: u32, max_keys: usize) -> Self {
        let cap = NonZeroUsize::new(max_keys.max(1)).unwrap_or(NonZeroUsize::MIN);
        Self {
            per_minute: per_minute.max(1),
            buckets: LruCache::new(cap),
        }
    }

    /// The configured rate.
    pub fn per_minute(&self) -> u32 {
        self.per_minute
    }

    /// Takes one token for `key` at `now_ms`. `Err(seconds)` when none is left: the whole
    /// seconds until one will be (for `retry-after`, at least 1).
    pub fn check(&mut self, key: &str, now_ms: u64) -> Result<(), u64> {
        let capacity = f64::from(self.per_minute);
        let per_ms = capacity / 60_000.0;
        let bucket = match self.buckets.get_mut(key) {
            Some(bucket) => bucket,
            None => {
                self.buckets.put(
                    key.to_owned(),
                    Bucket {
                        tokens: capacity,
                        updated_ms: now_ms,
                    },
                );
                match self.buckets.get_mut(key) {
                    Some(bucket) => bucket,
                    None => return Ok(()),
                }
            }
        };
        let elapsed = now_ms.saturating_sub(bucket.updated_ms) as f64;
        bucket.tokens = (bucket.tokens + elapsed * per_ms).min(capacity);
        bucket.updated_ms = bucket.updated_ms.max(now_ms);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let missing_ms = (1.0 - bucket.tokens) / per_ms;
            Err(((missing_ms / 1000.0).ceil() as u64).max(1))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_a_burst_of_the_limit_then_refuses_with_retry_after() {
        let mut limiter = RateLimiter::new(3, 100);
        for _ in 0..3 {
            assert_eq!(limiter.check("alice", 1_000), Ok(()));
        }
        // One token comes back every 20 s at 3/minute.
        assert_eq!(limiter.check("alice", 1_000), Err(20));
        assert_eq!(limiter.check("alice", 11_000), Err(10));
        assert_eq!(limiter.check("alice", 21_000), Ok(()));
        assert!(limiter.check("alice", 21_000).is_err());
    }

    #[test]
    fn users_have_separate_buckets() {
        let mut limiter = RateLimiter::new(1, 100);
        assert_eq!(limiter.check("alice", 0), Ok(()));
        assert!(limiter.check("alice", 0).is_err());
        assert_eq!(limiter.check("bob", 0), Ok(()));
    }

    #[test]
    fn memory_is_bounded_by_max_keys() {
        let mut limiter = RateLimiter::new(1, 2);
        for user in ["a", "b", "c"] {
            assert_eq!(limiter.check(user, 0), Ok(()));
        }
        assert_eq!(limiter.buckets.len(), 2);
        // "a" was forgotten, so it starts with a full bucket again.
        assert_eq!(limiter.check("a", 0), Ok(()));
    }

    #[test]
    fn shared_keys_keep_users_and_addresses_apart() {
        assert_eq!(user_key("alice"), "user:alice");
        assert_eq!(address_key(Some("203.0.113.7")), "addr:203.0.113.7");
        assert_eq!(address_key(Some("2001:db8::1")), "addr:2001:db8::1");
        assert_eq!(address_key(None), "addr:unknown");
        assert_eq!(address_key(Some("  ")), "addr:unknown");
        assert_eq!(address_key(Some("a b")), "addr:unknown");
        assert_ne!(user_key("x"), address_key(Some("x")));
    }

    #[test]
    fn a_clock_going_backwards_does_not_mint_tokens() {
        let mut limiter = RateLimiter::new(1, 10);
        assert_eq!(limiter.check("a", 60_000), Ok(()));
        assert!(limiter.check("a", 0).is_err());
    }
}
