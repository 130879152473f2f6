//! Query normalization and the stable key hash of the web-search cache.
//!
//! Two requests that mean the same search must hit the same cache entry, on every isolate and
//! every release: the key is the query after Unicode NFKC (fullwidth and compatibility forms fold to
//! their plain forms), lowercasing and whitespace collapsing. The hash of that key decides the
//! shard, indexes the frequency sketch and names the KV value, so it must never change between Rust
//! versions or isolates: it is 64-bit FNV-1a (a fixed, published function), never `DefaultHasher`.
//!
//! A 64-bit hash can collide. The KV value therefore stores its normalized query and a reader
//! compares it ([`crate::search::web::upstream::CachedResults::matches`]): a collision is a miss,
//! never another query's results.

use unicode_normalization::UnicodeNormalization;

use super::WebSearchError;
use crate::search::query::MAX_QUERY_CHARS;

/// Longest raw query accepted before normalizing it, in bytes. Bounds the work spent on absurd
/// inputs; any query that can normalize to [`MAX_QUERY_CHARS`] fits comfortably (400 four-byte
/// characters plus generous whitespace).
pub const MAX_RAW_QUERY_BYTES: usize = 8 * 1024;

/// Prefix of every web-cache value key in KV; the digit is the value format version.
pub const KV_KEY_PREFIX: &str = "w1:";

/// Normalizes a search query into its cache key.
///
/// Steps: NFKC, lowercase, NFKC again (lowercasing can leave a compatibility form behind), every
/// run of whitespace or control characters becomes one space, then trim.
///
/// Errors: [`WebSearchError::InvalidQuery`] (400 `invalid_field`) when the raw input is longer than
/// [`MAX_RAW_QUERY_BYTES`], or the result is empty or longer than
/// [`crate::search::query::MAX_QUERY_CHARS`] characters.
pub fn normalize_query(q: &str) -> Result<String, WebSearchError> {
    if q.len() > MAX_RAW_QUERY_BYTES {
        return Err(WebSearchError::InvalidQuery(format!(
            "it is {} bytes long; send at most {MAX_QUERY_CHARS} characters",
            q.len()
        )));
    }
    let folded: String = q.nfkc().collect::<String>().to_lowercase().nfkc().collect();
    let mut out = String::with_capacity(folded.len());
    let mut pending_space = false;
    for c in folded.chars() {
        if c.is_whitespace() || c.is_control() {
            pending_space = !out.is_empty();
        } else {
            if pending_space {
                out.push(' ');
                pending_space = false;
            }
            out.push(c);
        }
    }
    let chars = out.chars().count();
    if chars == 0 {
        return Err(WebSearchError::InvalidQuery(format!(
            "it is empty; send 1 to {MAX_QUERY_CHARS} characters of search text"
        )));
    }
    if chars > MAX_QUERY_CHARS {
        return Err(WebSearchError::InvalidQuery(format!(
            "it is {chars} characters long after normalization; send at most {MAX_QUERY_CHARS}"
        )));
    }
    Ok(out)
}

/// The stable 64-bit hash of a normalized query: FNV-1a 64 over its UTF-8 bytes.
///
/// Identical on every platform, isolate and Rust version (unlike `DefaultHasher`), so it can be
/// persisted and used to route a key to its shard from any isolate.
pub fn key_hash(normalized: &str) -> u64 {
    const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
    normalized.bytes().fold(FNV_OFFSET, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(FNV_PRIME)
    })
}

/// A bijective 64-bit finalizer (SplitMix64's) that spreads FNV's weak high/low bits before the
/// hash is reduced to a shard or sketch index.
pub fn mix64(hash: u64) -> u64 {
    let mut z = hash;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The shard (0..`shards`) that owns `hash`. `shards == 0` is treated as 1.
///
/// Uses the multiply-shift reduction of the mixed hash, which is uniform without a modulo bias and
/// stable as long as the shard count is unchanged (changing it reshuffles keys: the old shards'
/// entries then simply age out of KV by their expiration).
pub fn shard_of(hash: u64, shards: u32) -> u32 {
    let shards = u64::from(shards.max(1));
    ((u128::from(mix64(hash)) * u128::from(shards)) >> 64) as u32
}

/// The KV key of the cached value for a key hash: `"w1:"` + 16 lowercase hex digits (19 bytes,
/// well under KV's 512-byte key limit).
pub fn kv_key_for_hash(hash: u64) -> String {
    format!("{KV_KEY_PREFIX}{hash:016x}")
}

/// The KV key of the cached value of a normalized query (see [`kv_key_for_hash`]).
pub fn kv_key(normalized: &str) -> String {
    kv_key_for_hash(key_hash(normalized))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn case_and_whitespace_fold_to_one_key() {
        assert_eq!(
            normalize_query("  Rust   LANG\t\nGuide ").unwrap(),
            "rust lang guide"
        );
        assert_eq!(normalize_query("a\u{0}b").unwrap(), "a b");
        assert_eq!(normalize_query("x\u{00A0}\u{3000}y").unwrap(), "x y");
    }

    #[test]
    fn nfkc_folds_fullwidth_and_compatibility_forms() {
        // Fullwidth Latin letters and digits, the "fi" ligature, the Kelvin sign, superscript two.
        assert_eq!(normalize_query("ＲＵＳＴ　２０２４").unwrap(), "rust 2024");
        assert_eq!(normalize_query("\u{FB01}le").unwrap(), "file");
        assert_eq!(normalize_query("5\u{212A}").unwrap(), "5k");
        assert_eq!(normalize_query("x\u{00B2}").unwrap(), "x2");
        // Composed and decomposed é are the same key.
        assert_eq!(
            normalize_query("Caf\u{00C9}").unwrap(),
            normalize_query("cafe\u{0301}").unwrap()
        );
    }

    #[test]
    fn empty_and_too_long_queries_are_invalid_field() {
        for bad in ["", "   ", "\t\n", "\u{3000}"] {
            let err = normalize_query(bad).unwrap_err();
            assert_eq!(err.error_code_str(), "invalid_field", "{bad:?}");
        }
        assert!(normalize_query(&"a".repeat(400)).is_ok());
        assert!(normalize_query(&format!("  {}  ", "a".repeat(400))).is_ok());
        assert!(normalize_query(&"a".repeat(401)).is_err());
        assert!(normalize_query(&" ".repeat(MAX_RAW_QUERY_BYTES + 1)).is_err());
    }

    #[test]
    fn key_hash_is_the_published_fnv1a_64() {
        // Reference values of FNV-1a 64 (from the FNV test suite).
        assert_eq!(key_hash(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(key_hash("a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(key_hash("foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn kv_key_is_short_prefixed_hex() {
        assert_eq!(kv_key(""), "w1:cbf29ce484222325");
        assert_eq!(kv_key(&"z".repeat(400)).len(), 19);
    }

    #[test]
    fn shards_are_in_range_and_spread() {
        assert_eq!(shard_of(12345, 0), 0);
        assert_eq!(shard_of(12345, 1), 0);
        let mut counts = [0u32; 8];
        for i in 0..8000 {
            let s = shard_of(key_hash(&format!("query {i}")), 8);
            counts[s as usize] += 1;
        }
        // Each of 8 shards gets about 1000 of 8000 keys.
        assert!(
            counts.iter().all(|&c| (850..1150).contains(&c)),
            "{counts:?}"
        );
    }

    trait CodeStr {
        fn error_code_str(&self) -> &'static str;
    }
    impl CodeStr for WebSearchError {
        fn error_code_str(&self) -> &'static str {
            use crate::api::HasErrorCode;
            self.error_code().as_str()
        }
    }

    proptest! {
        #[test]
        fn normalization_is_idempotent_and_bounded(q in "\\PC{0,60}") {
            if let Ok(n) = normalize_query(&q) {
                prop_assert_eq!(normalize_query(&n).unwrap(), n.clone());
                prop_assert!(!n.starts_with(' ') && !n.ends_with(' ') && !n.contains("  "));
                prop_assert!(n.chars().count() <= MAX_QUERY_CHARS);
            }
        }
    }
}
