//! The in-isolate L1 cache: an LRU of cached search values bounded by their real memory use.
//!
//! An isolate has 128 MB for everything, so L1 is bounded in bytes, and the bytes are counted the
//! way the allocator sees them (the original product's estimate was off by 10–100×): for each
//! entry, the fixed size of the key and value structs, the heap *capacity* (not length) of every
//! `String` and `Vec`, and the `lru` crate's per-entry overhead (its list node's two links and its
//! hash-map slot). Allocator rounding and the map's spare slots are not counted; they add a
//! bounded fraction on top.
//!
//! L1 is per isolate and not coherent with KV: entries older than `max_age_ms` are dropped on read,
//! so another isolate's refresh is picked up within that time. Freshness for the response is then
//! judged by the caller with [`super::upstream::Freshness`].

use std::mem::size_of;

use lru::LruCache;

use super::upstream::{CachedResults, WebResult};

/// Bytes of `lru`'s bookkeeping per entry besides the key and value: the list node's `prev` and
/// `next` pointers plus the hash-map slot (a key reference and a node pointer) and its control byte.
pub const LRU_ENTRY_OVERHEAD: usize = 4 * size_of::<usize>() + 1;

/// Heap plus inline bytes of one L1 entry (`key` → `value`), as counted against the bound.
pub fn entry_bytes(key: &str, value: &CachedResults) -> usize {
    let result_heap = |r: &WebResult| {
        r.title.capacity()
            + r.url.capacity()
            + r.snippet.capacity()
            + r.engine.as_ref().map_or(0, String::capacity)
    };
    LRU_ENTRY_OVERHEAD
        + size_of::<String>()
        + key.len()
        + size_of::<CachedResults>()
        + value.query.capacity()
        + value.results.capacity() * size_of::<WebResult>()
        + value.results.iter().map(result_heap).sum::<usize>()
}

/// One L1 entry and its accounted size.
struct Slot {
    value: CachedResults,
    bytes: usize,
}

/// An LRU of [`CachedResults`] keyed by normalized query, bounded by accounted bytes.
pub struct L1Cache {
    lru: LruCache<String, Slot>,
    bytes: usize,
    max_bytes: usize,
    max_age_ms: u64,
}

impl L1Cache {
    /// An empty cache holding at most `max_bytes` accounted bytes, serving entries for at most
    /// `max_age_ms` after their `fetched_at_ms`.
    pub fn new(max_bytes: usize, max_age_ms: u64) -> Self {
        Self {
            lru: LruCache::unbounded(),
            bytes: 0,
            max_bytes,
            max_age_ms,
        }
    }

    /// The value for `key` when present, of the same query, and younger than `max_age_ms` at
    /// `now_ms` (older entries are dropped); marks it most recently used.
    pub fn get(&mut self, key: &str, now_ms: u64) -> Option<&CachedResults> {
        let too_old = {
            let slot = self.lru.peek(key)?;
            now_ms.saturating_sub(slot.value.fetched_at_ms) >= self.max_age_ms
                || !slot.value.matches(key)
        };
        if too_old {
            if let Some(slot) = self.lru.pop(key) {
                self.bytes -= slot.bytes;
            }
            return None;
        }
        self.lru.get(key).map(|slot| &slot.value)
    }

    /// Stores `value` under `key` (its normalized query), evicting least recently used entries
    /// until the bound holds. A value that alone exceeds `max_bytes` is not stored (false).
    pub fn put(&mut self, key: &str, mut value: CachedResults) -> bool {
        // Drop spare capacity first: it would be counted (rightly) but buys nothing.
        value.query.shrink_to_fit();
        value.results.shrink_to_fit();
        let bytes = entry_bytes(key, &value);
        if let Some(old) = self.lru.pop(key) {
            self.bytes -= old.bytes;
        }
        if bytes > self.max_bytes {
            return false;
        }
        while self.bytes + bytes > self.max_bytes {
            match self.lru.pop_lru() {
                Some((_, old)) => self.bytes -= old.bytes,
                None => break,
            }
        }
        self.bytes += bytes;
        self.lru.put(key.to_owned(), Slot { value, bytes });
        true
    }

    /// Accounted bytes of all entries (≤ `max_bytes`).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.lru.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.lru.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(query: &str, n: usize, fetched_at_ms: u64) -> CachedResults {
        CachedResults {
            query: query.to_owned(),
            results: (0..n)
                .map(|i| WebResult {
                    // `to_owned` allocates exactly the length (format! may over-allocate).
                    title: format!("title {i}").as_str().to_owned(),
                    url: format!("https://example.org/{i}").as_str().to_owned(),
                    snippet: "x".repeat(100),
                    engine: Some("ddg".into()),
                })
                .collect(),
            fetched_at_ms,
            degraded: false,
        }
    }

    #[test]
    fn accounting_matches_a_hand_computed_size() {
        let mut v = value("rust", 2, 0);
        v.results.shrink_to_fit();
        // On a 64-bit host: String = 24 bytes, CachedResults = 24 + 24 + 8 + 1 (+ 7 padding) = 64,
        // WebResult = 3 × 24 + 24 (Option<String>) = 96, lru overhead = 4 × 8 + 1 = 33.
        // Heap: query 4, results 2 × 96 = 192, per result "title i" 7 + url 21 + 100 + "ddg" 3.
        let expected = 33 + 24 + 4 + 64 + 4 + 192 + 2 * (7 + 21 + 100 + 3);
        assert_eq!(size_of::<usize>(), 8, "hand-computed for 64-bit");
        assert_eq!(entry_bytes("rust", &v), expected);
        assert_eq!(expected, 583);
        let mut l1 = L1Cache::new(10_000, 60_000);
        assert!(l1.put("rust", v));
        assert_eq!(l1.bytes(), 583);
    }

    #[test]
    fn spare_capacity_is_counted_then_trimmed() {
        let mut v = value("q", 1, 0);
        v.results.reserve(100);
        let before = entry_bytes("q", &v);
        let mut l1 = L1Cache::new(1_000_000, 60_000);
        l1.put("q", v);
        // put shrinks the Vec to its length, saving at least 100 WebResult slots.
        assert!(before - l1.bytes() >= 100 * size_of::<WebResult>());
    }

    #[test]
    fn evicts_least_recently_used_to_stay_under_the_byte_bound() {
        let one = entry_bytes("a", &value("a", 3, 0));
        let mut l1 = L1Cache::new(3 * one + 10, 60_000);
        for k in ["a", "b", "c"] {
            assert!(l1.put(k, value(k, 3, 0)));
        }
        assert!(l1.get("a", 1).is_some()); // a is now most recent; b is the LRU
        assert!(l1.put("d", value("d", 3, 0)));
        assert_eq!(l1.len(), 3);
        assert!(l1.get("b", 1).is_none());
        assert!(l1.get("a", 1).is_some() && l1.get("d", 1).is_some());
        assert!(l1.bytes() <= 3 * one + 10);
        // Too big for the whole cache: refused, nothing evicted.
        assert!(!l1.put("huge", value("huge", 500, 0)));
        assert_eq!(l1.len(), 3);
    }

    #[test]
    fn old_and_mismatched_entries_are_not_served() {
        let mut l1 = L1Cache::new(1_000_000, 60_000);
        l1.put("rust", value("rust", 1, 1_000));
        assert!(l1.get("rust", 60_999).is_some());
        assert!(l1.get("rust", 61_000).is_none(), "too old: dropped");
        assert_eq!((l1.len(), l1.bytes()), (0, 0));
        l1.put("go", value("golang", 1, 1_000));
        assert!(l1.get("go", 2_000).is_none(), "stored under another query");
        // Replacing a key keeps the accounting exact.
        l1.put("x", value("x", 5, 0));
        l1.put("x", value("x", 1, 0));
        assert_eq!(l1.bytes(), entry_bytes("x", &value("x", 1, 0)));
    }
}
