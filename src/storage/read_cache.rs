//! Reads of a store answered from memory until the store's next write.
//!
//! An object's SQL read is a runtime call that costs tens of µs (a statement lookup, a cursor,
//! rows crossing into wasm), and one request often repeats a read with no write in between: a
//! reply's start reads its question in the check, in the plan and in the start itself, and the
//! user's object reads its usage record on every reservation. The cache keeps each answer until
//! a write could change it: a write of a key becomes that key's remembered value (write-through),
//! and forgets every remembered range, so the cache never returns data a write of the same store
//! changed. It is only correct for a store that is its table's one reader and writer (see
//! `edge::storage::SqlKv::with_read_cache`).
//!
//! Memory is bounded by [`ReadCache::new`]'s byte budget (keys plus values) and by
//! `MAX_ENTRIES` answers: an answer larger than a quarter of the budget is not kept, and the
//! oldest answers make room for a new one.

/// One remembered read and its answer: a key's value, or a range's rows with
/// [`crate::storage::KvStore::range`]'s arguments.
#[derive(Debug)]
enum Entry {
    Value {
        key: String,
        value: Option<Vec<u8>>,
    },
    Rows {
        start: String,
        end: String,
        reverse: bool,
        limit: usize,
        rows: Vec<(String, Vec<u8>)>,
    },
}

impl Entry {
    fn is_value_of(&self, key: &str) -> bool {
        matches!(self, Entry::Value { key: k, .. } if k == key)
    }

    fn is_range(&self, start: &str, end: &str, reverse: bool, limit: usize) -> bool {
        matches!(self, Entry::Rows { start: s, end: e, reverse: r, limit: l, .. }
            if s == start && e == end && *r == reverse && *l == limit)
    }
}

/// At most this many answers are kept, oldest dropped first: a request repeats a handful of
/// reads, and a lookup is a scan (smaller code than a hash map, and far cheaper than a read).
const MAX_ENTRIES: usize = 32;

/// The answers of `get` and `range` that no write has changed since; see the module docs.
#[derive(Debug)]
pub struct ReadCache {
    /// Each entry with its cost in bytes (keys plus values), oldest first.
    entries: Vec<(Entry, usize)>,
    bytes: usize,
    budget: usize,
}

impl ReadCache {
    /// An empty cache that holds at most `budget` bytes of keys and values.
    pub fn new(budget: usize) -> Self {
        Self {
            entries: Vec::new(),
            bytes: 0,
            budget,
        }
    }

    /// The remembered answer of `get(key)`: `Some(None)` is a remembered absence.
    pub fn get(&self, key: &str) -> Option<Option<Vec<u8>>> {
        self.entries.iter().find_map(|(entry, _)| match entry {
            Entry::Value { key: k, value } if k == key => Some(value.clone()),
            _ => None,
        })
    }

    /// Remembers that `get(key)` answered `value` (`None`: absent).
    pub fn remember_get(&mut self, key: &str, value: &Option<Vec<u8>>) {
        self.remember_value(key, value.as_deref());
    }

    /// The remembered answer of `range(start, end, reverse, limit)`.
    pub fn range(
        &self,
        start: &str,
        end: &str,
        reverse: bool,
        limit: usize,
    ) -> Option<Vec<(String, Vec<u8>)>> {
        self.entries.iter().find_map(|(entry, _)| match entry {
            Entry::Rows { rows, .. } if entry.is_range(start, end, reverse, limit) => {
                Some(rows.clone())
            }
            _ => None,
        })
    }

    /// Remembers that `range(start, end, reverse, limit)` answered `rows`.
    pub fn remember_range(
        &mut self,
        start: &str,
        end: &str,
        reverse: bool,
        limit: usize,
        rows: &[(String, Vec<u8>)],
    ) {
        self.forget(|entry| entry.is_range(start, end, reverse, limit));
        let cost = start.len()
            + end.len()
            + rows
                .iter()
                .map(|(key, value)| key.len() + value.len())
                .sum::<usize>();
        if self.make_room(cost) {
            let entry = Entry::Rows {
                start: start.to_owned(),
                end: end.to_owned(),
                reverse,
                limit,
                rows: rows.to_vec(),
            };
            self.push(entry, cost);
        }
    }

    /// Accounts a write the store made of `key` (`Some(value)` for a put, `None` for a
    /// delete): the key's new value is remembered and every range is forgotten.
    pub fn wrote(&mut self, key: &str, value: Option<&[u8]>) {
        self.forget(|entry| matches!(entry, Entry::Rows { .. }));
        self.remember_value(key, value);
    }

    /// Forgets every answer: after a write of many keys, or a write that failed.
    pub fn forget_all(&mut self) {
        self.entries.clear();
        self.bytes = 0;
    }

    /// Bytes of keys and values held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Replaces what is remembered of `key` with `value`, copied only if it is kept.
    fn remember_value(&mut self, key: &str, value: Option<&[u8]>) {
        self.forget(|entry| entry.is_value_of(key));
        let cost = key.len() + value.map_or(0, <[u8]>::len);
        if self.make_room(cost) {
            let entry = Entry::Value {
                key: key.to_owned(),
                value: value.map(<[u8]>::to_vec),
            };
            self.push(entry, cost);
        }
    }

    /// Drops the entries that match.
    fn forget(&mut self, matches: impl Fn(&Entry) -> bool) {
        let mut freed = 0;
        self.entries.retain(|(entry, cost)| {
            let drop = matches(entry);
            if drop {
                freed += cost;
            }
            !drop
        });
        self.bytes -= freed;
    }

    /// Whether an answer of `cost` bytes may be kept, dropping the oldest entries while it would
    /// pass the budget or the entry limit; an answer over a quarter of the budget is not kept.
    fn make_room(&mut self, cost: usize) -> bool {
        if cost > self.budget / 4 {
            return false;
        }
        while !self.entries.is_empty()
            && (self.bytes + cost > self.budget || self.entries.len() >= MAX_ENTRIES)
        {
            let (_, oldest) = self.entries.remove(0);
            self.bytes -= oldest;
        }
        true
    }

    fn push(&mut self, entry: Entry, cost: usize) {
        self.bytes += cost;
        self.entries.push((entry, cost));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(pairs: &[(&str, &str)]) -> Vec<(String, Vec<u8>)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn answers_a_repeated_read_and_a_remembered_absence() {
        let mut cache = ReadCache::new(1024);
        assert_eq!(cache.get("a"), None, "nothing remembered yet");
        cache.remember_get("a", &Some(b"1".to_vec()));
        cache.remember_get("missing", &None);
        assert_eq!(cache.get("a"), Some(Some(b"1".to_vec())));
        assert_eq!(cache.get("missing"), Some(None));
        let page = rows(&[("l/1", "x"), ("l/2", "y")]);
        cache.remember_range("l/", "l/\u{10FFFF}", false, 10, &page);
        assert_eq!(cache.range("l/", "l/\u{10FFFF}", false, 10), Some(page));
    }

    #[test]
    fn a_range_is_only_answered_for_the_same_arguments() {
        let mut cache = ReadCache::new(1024);
        cache.remember_range("l/", "m/", false, 10, &rows(&[("l/1", "x")]));
        assert_eq!(cache.range("l/", "m/", true, 10), None, "other order");
        assert_eq!(cache.range("l/", "m/", false, 5), None, "other limit");
        assert_eq!(cache.range("l/0", "m/", false, 10), None, "other start");
        assert_eq!(cache.range("l/", "l/9", false, 10), None, "other end");
    }

    #[test]
    fn a_write_is_remembered_and_forgets_every_range() {
        let mut cache = ReadCache::new(1024);
        cache.remember_get("a", &Some(b"1".to_vec()));
        cache.remember_get("b", &Some(b"2".to_vec()));
        cache.remember_range("l/", "m/", false, 10, &rows(&[("l/1", "x")]));
        cache.wrote("a", Some(b"33"));
        assert_eq!(cache.get("a"), Some(Some(b"33".to_vec())), "write-through");
        assert_eq!(cache.get("b"), Some(Some(b"2".to_vec())), "other keys stay");
        assert_eq!(
            cache.range("l/", "m/", false, 10),
            None,
            "a range may hold the key"
        );
        cache.wrote("b", None);
        assert_eq!(
            cache.get("b"),
            Some(None),
            "a delete is a remembered absence"
        );
        assert_eq!(cache.bytes(), "a".len() + 2 + "b".len());
    }

    #[test]
    fn forgetting_all_empties_the_cache() {
        let mut cache = ReadCache::new(1024);
        cache.remember_get("a", &Some(b"1".to_vec()));
        cache.remember_range("l/", "m/", false, 10, &rows(&[("l/1", "x")]));
        cache.forget_all();
        assert_eq!(cache.get("a"), None);
        assert_eq!(cache.range("l/", "m/", false, 10), None);
        assert_eq!(cache.bytes(), 0);
    }

    #[test]
    fn memory_stays_within_the_budget() {
        let mut cache = ReadCache::new(100);
        // Larger than a quarter of the budget: not kept.
        cache.remember_get("big", &Some(vec![0; 30]));
        assert_eq!(cache.get("big"), None);
        assert_eq!(cache.bytes(), 0);
        for i in 0..20 {
            cache.remember_get(&format!("k{i:02}"), &Some(vec![0; 10]));
            cache.remember_get(&format!("k{i:02}"), &Some(vec![0; 10])); // a re-read: no double count
            assert!(cache.bytes() <= 100, "{} bytes after {i}", cache.bytes());
            assert_eq!(
                cache.get(&format!("k{i:02}")),
                Some(Some(vec![0; 10])),
                "the newest answer is kept"
            );
        }
        // 100 bytes hold 7 answers of 13: the newest 7, the oldest dropped first.
        assert_eq!(cache.get("k12"), None);
        assert_eq!(cache.get("k13"), Some(Some(vec![0; 10])));
    }

    #[test]
    fn at_most_max_entries_answers_are_kept() {
        let mut cache = ReadCache::new(1 << 20);
        for i in 0..MAX_ENTRIES + 5 {
            cache.remember_get(&format!("k{i}"), &None);
        }
        assert_eq!(cache.get("k4"), None, "the oldest went first");
        assert_eq!(cache.get("k5"), Some(None));
        assert_eq!(cache.get(&format!("k{}", MAX_ENTRIES + 4)), Some(None));
    }
}
