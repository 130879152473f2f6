//! [`PersistentIndex`]: the history index kept in a [`KvStore`] (the user's Durable Object
//! storage) in small chunks, loaded lazily and rewritten only where a batch touches them.
//!
//! # Key layout (all under `hx/`; keys are ASCII apart from terms and tab ids)
//!
//! | key                        | value                                                        |
//! |----------------------------|--------------------------------------------------------------|
//! | `hx/meta`                  | JSON `{"v":1,"next_doc":u32,"live_docs":u64,"total_len":u64}` |
//! | `hx/t/{term} {block:08x}`  | postings of `term` for doc ids in `[block·1024, (block+1)·1024)`: varint count, then per posting varint (doc − previous doc, the first relative to the block start), varint tf, varint doc length |
//! | `hx/d/{term}`              | empty; present iff `term` has postings (the sorted term dictionary for prefix expansion) |
//! | `hx/doc/{doc:08x}`         | JSON [`HistoryDoc`] `{"tab_id","seq","role","text"}` (text for snippets and removal) |
//! | `hx/tab/{tab_id}`          | JSON [`TabRuns`] `{"runs":[[first_seq, first_doc, len], ...]}` |
//!
//! Terms never contain whitespace (see [`super::tokenize`]), so `hx/t/{term} ` is a prefix of
//! exactly that term's blocks and sorts them by block number.
//!
//! # Costs
//! - [`PersistentIndex::open`] reads `hx/meta` only.
//! - A query reads, per term, its blocks (one range read), one dictionary range read for the
//!   prefix, the tab runs it filters on, and the doc rows of the results (≤ `limit` gets).
//!   Everything read stays cached in the struct, so a warm Durable Object reads nothing twice.
//! - [`PersistentIndex::add`] writes one row per new message, one block per distinct
//!   (term, block) of the batch — doc ids grow, so that is the term's last block, at most 1024
//!   postings — one dictionary marker per block created, the touched tabs' runs and the meta:
//!   proportional to the batch, never to the index.
//! - [`PersistentIndex::remove_tab`] rewrites the blocks holding the tab's postings and deletes
//!   its rows: proportional to the tab.
//!
//! The cache is only valid if every write under `hx/` goes through the same
//! `PersistentIndex` (one per Durable Object, which is single-threaded).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use super::index::term_counts;
use super::{
    expand_prefix, hit, parse_query, CorpusStats, DocRef, HistoryDoc, HistoryError, HistoryResults,
    Pending, Posting, Scorer, TabRuns, MAX_PREFIX_EXPANSIONS,
};
use crate::storage::{prefix_end, KvStore};

/// Documents per postings block: bounds what an append rewrites (≤ ~3 KiB per term).
pub const BLOCK_DOCS: u32 = 1024;

const META_KEY: &str = "hx/meta";
const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Meta {
    v: u32,
    next_doc: u32,
    live_docs: u64,
    total_len: u64,
}

/// The loaded part of one term's postings.
#[derive(Debug, Default)]
struct TermCache {
    blocks: BTreeMap<u32, Vec<Posting>>,
    /// Whether every block of the term is in `blocks` (after a range read or a fresh term).
    complete: bool,
}

fn term_prefix(term: &str) -> String {
    format!("hx/t/{term} ")
}

fn block_key(term: &str, block: u32) -> String {
    format!("hx/t/{term} {block:08x}")
}

fn dict_key(term: &str) -> String {
    format!("hx/d/{term}")
}

fn doc_key(doc: u32) -> String {
    format!("hx/doc/{doc:08x}")
}

fn tab_key(tab: &str) -> String {
    format!("hx/tab/{tab}")
}

fn put_varint(out: &mut Vec<u8>, mut value: u32) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn get_varint(bytes: &[u8], pos: &mut usize) -> Option<u32> {
    let mut value: u32 = 0;
    for shift in (0..35).step_by(7) {
        let byte = *bytes.get(*pos)?;
        *pos += 1;
        value |= u32::from(byte & 0x7f).checked_shl(shift)?;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// Encodes a block's postings (sorted by doc id, all within `block`).
pub fn encode_block(block: u32, postings: &[Posting]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + postings.len() * 3);
    put_varint(&mut out, postings.len() as u32);
    let mut prev = block.saturating_mul(BLOCK_DOCS);
    for p in postings {
        put_varint(&mut out, p.doc.wrapping_sub(prev));
        put_varint(&mut out, p.tf);
        put_varint(&mut out, p.dl);
        prev = p.doc;
    }
    out
}

/// Decodes [`encode_block`]'s output; `None` when the bytes are not a block.
pub fn decode_block(block: u32, bytes: &[u8]) -> Option<Vec<Posting>> {
    let mut pos = 0;
    let count = get_varint(bytes, &mut pos)? as usize;
    let mut postings = Vec::with_capacity(count.min(BLOCK_DOCS as usize));
    let mut prev = block.checked_mul(BLOCK_DOCS)?;
    for _ in 0..count {
        let doc = prev.checked_add(get_varint(bytes, &mut pos)?)?;
        let tf = get_varint(bytes, &mut pos)?;
        let dl = get_varint(bytes, &mut pos)?;
        postings.push(Posting { doc, tf, dl });
        prev = doc;
    }
    (pos == bytes.len()).then_some(postings)
}

fn parse_block_suffix(key: &str, prefix: &str) -> Option<u32> {
    u32::from_str_radix(key.strip_prefix(prefix)?, 16).ok()
}

fn get_json<T: serde::de::DeserializeOwned>(
    store: &impl KvStore,
    key: &str,
) -> Result<Option<T>, HistoryError> {
    match store.get(key)? {
        Some(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|_| HistoryError::Corrupt(key.to_owned())),
        None => Ok(None),
    }
}

fn put_json<T: Serialize>(
    store: &mut impl KvStore,
    key: &str,
    value: &T,
) -> Result<(), HistoryError> {
    let bytes = serde_json::to_vec(value).map_err(|_| HistoryError::Corrupt(key.to_owned()))?;
    store.put(key, &bytes)?;
    Ok(())
}

/// The history index of one user, stored in chunks in a [`KvStore`] and cached as it is read.
///
/// Same answers as [`super::HistoryIndex`] given the same operations. The store is passed to
/// each call (the Durable Object owns it); use one `PersistentIndex` per store.
#[derive(Debug, Default)]
pub struct PersistentIndex {
    meta: Meta,
    terms: HashMap<String, TermCache>,
    docs: HashMap<u32, HistoryDoc>,
    tabs: HashMap<String, TabRuns>,
}

impl PersistentIndex {
    /// Opens the index in `store`, reading only its metadata (an empty store is an empty index).
    ///
    /// Errors: [`HistoryError::Storage`] when the store fails, [`HistoryError::Corrupt`] when the
    /// metadata does not decode or has an unknown version.
    pub fn open(store: &impl KvStore) -> Result<Self, HistoryError> {
        let meta = match get_json::<Meta>(store, META_KEY)? {
            Some(meta) if meta.v == FORMAT_VERSION => meta,
            Some(_) => return Err(HistoryError::Corrupt(META_KEY.to_owned())),
            None => Meta {
                v: FORMAT_VERSION,
                ..Meta::default()
            },
        };
        Ok(Self {
            meta,
            ..Self::default()
        })
    }

    /// Number of indexed messages.
    pub fn len(&self) -> u64 {
        self.meta.live_docs
    }

    /// Whether no message is indexed.
    pub fn is_empty(&self) -> bool {
        self.meta.live_docs == 0
    }

    /// Drops everything cached (the next calls read from the store again).
    pub fn clear_cache(&mut self) {
        self.terms.clear();
        self.docs.clear();
        self.tabs.clear();
    }

    fn load_tab(&mut self, store: &impl KvStore, tab: &str) -> Result<(), HistoryError> {
        if !self.tabs.contains_key(tab) {
            let runs = get_json::<TabRuns>(store, &tab_key(tab))?.unwrap_or_default();
            self.tabs.insert(tab.to_owned(), runs);
        }
        Ok(())
    }

    fn load_doc(
        &mut self,
        store: &impl KvStore,
        id: u32,
    ) -> Result<Option<&HistoryDoc>, HistoryError> {
        if let std::collections::hash_map::Entry::Vacant(slot) = self.docs.entry(id) {
            match get_json::<HistoryDoc>(store, &doc_key(id))? {
                Some(doc) => {
                    slot.insert(doc);
                }
                None => return Ok(None),
            }
        }
        Ok(self.docs.get(&id))
    }

    /// Makes every block of `term` cached (one range read when not yet complete).
    fn load_term(&mut self, store: &impl KvStore, term: &str) -> Result<(), HistoryError> {
        if self.terms.get(term).is_some_and(|t| t.complete) {
            return Ok(());
        }
        let prefix = term_prefix(term);
        let mut blocks = BTreeMap::new();
        for (key, bytes) in store.range(&prefix, &prefix_end(&prefix), false, usize::MAX)? {
            let block = parse_block_suffix(&key, &prefix)
                .ok_or_else(|| HistoryError::Corrupt(key.clone()))?;
            let postings =
                decode_block(block, &bytes).ok_or_else(|| HistoryError::Corrupt(key.clone()))?;
            blocks.insert(block, postings);
        }
        self.terms.insert(
            term.to_owned(),
            TermCache {
                blocks,
                complete: true,
            },
        );
        Ok(())
    }

    /// The cached block `block` of `term`, read from the store when not cached; `None` when the
    /// term has no such block.
    fn load_block(
        &mut self,
        store: &impl KvStore,
        term: &str,
        block: u32,
    ) -> Result<&mut TermCache, HistoryError> {
        let cache = self.terms.entry(term.to_owned()).or_default();
        if !cache.complete && !cache.blocks.contains_key(&block) {
            let key = block_key(term, block);
            if let Some(bytes) = store.get(&key)? {
                let postings = decode_block(block, &bytes).ok_or(HistoryError::Corrupt(key))?;
                cache.blocks.insert(block, postings);
            }
        }
        Ok(cache)
    }

    /// Indexes `docs` and writes the touched chunks; a `(tab_id, seq)` already indexed (or
    /// repeated in `docs`) is skipped, so a retried flush writes nothing but the meta. Returns
    /// how many were added.
    ///
    /// Errors: [`HistoryError::Storage`] when the store fails (the call can be retried as a
    /// whole: what was written is consistent per chunk and re-adding is idempotent once the
    /// tab runs were written), [`HistoryError::Corrupt`] when a chunk does not decode.
    pub fn add(
        &mut self,
        store: &mut impl KvStore,
        docs: &[HistoryDoc],
    ) -> Result<usize, HistoryError> {
        let mut new_postings: BTreeMap<(String, u32), Vec<Posting>> = BTreeMap::new();
        let mut touched_tabs = BTreeSet::new();
        let mut added = 0;
        for doc in docs {
            self.load_tab(store, &doc.tab_id)?;
            let runs = self.tabs.entry(doc.tab_id.clone()).or_default();
            if runs.doc_of(doc.seq).is_some() {
                continue;
            }
            let id = self.meta.next_doc;
            self.meta.next_doc = id.checked_add(1).ok_or_else(|| {
                HistoryError::Corrupt("doc id space exhausted (u32::MAX documents)".into())
            })?;
            runs.insert(doc.seq, id);
            touched_tabs.insert(doc.tab_id.clone());
            let (counts, len) = term_counts(&doc.text);
            for (term, tf) in counts {
                new_postings
                    .entry((term, id / BLOCK_DOCS))
                    .or_default()
                    .push(Posting {
                        doc: id,
                        tf,
                        dl: len,
                    });
            }
            put_json(store, &doc_key(id), doc)?;
            self.docs.insert(id, doc.clone());
            self.meta.live_docs += 1;
            self.meta.total_len += u64::from(len);
            added += 1;
        }
        for ((term, block), postings) in new_postings {
            let cache = self.load_block(store, &term, block)?;
            let is_new_block = !cache.blocks.contains_key(&block);
            let merged = cache.blocks.entry(block).or_default();
            merged.extend(postings);
            let bytes = encode_block(block, merged);
            store.put(&block_key(&term, block), &bytes)?;
            if is_new_block {
                // Only when a block is created can the term be new; rewriting the empty marker
                // of an existing term is harmless and rare (once per term per 1024 docs).
                store.put(&dict_key(&term), b"")?;
            }
        }
        for tab in touched_tabs {
            if let Some(runs) = self.tabs.get(&tab) {
                put_json(store, &tab_key(&tab), runs)?;
            }
        }
        if added > 0 {
            put_json(store, META_KEY, &self.meta)?;
        }
        Ok(added)
    }

    /// Removes every message of `tab_id`: its rows, its postings (blocks rewritten or deleted),
    /// dictionary entries of terms left without postings, and its tab runs. Returns how many
    /// messages were removed; an unknown tab removes nothing and writes nothing.
    pub fn remove_tab(
        &mut self,
        store: &mut impl KvStore,
        tab_id: &str,
    ) -> Result<u64, HistoryError> {
        self.load_tab(store, tab_id)?;
        let runs = self.tabs.remove(tab_id).unwrap_or_default();
        if runs.is_empty() {
            return Ok(0);
        }
        let ranges = runs.doc_ranges();
        let mut touched: BTreeSet<(String, u32)> = BTreeSet::new();
        let mut removed = 0;
        for &(start, end) in &ranges {
            for id in start..end {
                let Some(doc) = self.load_doc(store, id)? else {
                    continue;
                };
                let (counts, len) = term_counts(&doc.text);
                touched.extend(counts.into_keys().map(|t| (t, id / BLOCK_DOCS)));
                self.docs.remove(&id);
                store.delete(&doc_key(id))?;
                self.meta.live_docs = self.meta.live_docs.saturating_sub(1);
                self.meta.total_len = self.meta.total_len.saturating_sub(u64::from(len));
                removed += 1;
            }
        }
        let mut emptied_terms = BTreeSet::new();
        for (term, block) in touched {
            let cache = self.load_block(store, &term, block)?;
            let Some(postings) = cache.blocks.get_mut(&block) else {
                continue;
            };
            postings.retain(|p| !super::in_ranges(&ranges, p.doc));
            let key = block_key(&term, block);
            if postings.is_empty() {
                cache.blocks.remove(&block);
                store.delete(&key)?;
                emptied_terms.insert(term);
            } else {
                let bytes = encode_block(block, postings);
                store.put(&key, &bytes)?;
            }
        }
        for term in emptied_terms {
            let prefix = term_prefix(&term);
            if store
                .range(&prefix, &prefix_end(&prefix), false, 1)?
                .is_empty()
            {
                store.delete(&dict_key(&term))?;
                self.terms.remove(&term);
            }
        }
        store.delete(&tab_key(tab_id))?;
        put_json(store, META_KEY, &self.meta)?;
        Ok(removed)
    }

    /// Searches like [`super::HistoryIndex::search`], reading only the chunks the query needs.
    ///
    /// Errors: `invalid_field` variants as [`super::parse_query`]; [`HistoryError::Storage`] or
    /// [`HistoryError::Corrupt`] when a chunk cannot be read.
    pub fn search(
        &mut self,
        store: &impl KvStore,
        query: &str,
        tab: Option<&str>,
        limit: usize,
        extra: &[HistoryDoc],
    ) -> Result<HistoryResults, HistoryError> {
        let parsed = parse_query(query, tab, limit)?;
        let mut indexed = Vec::with_capacity(extra.len());
        for doc in extra {
            self.load_tab(store, &doc.tab_id)?;
            indexed.push(
                self.tabs
                    .get(&doc.tab_id)
                    .is_some_and(|r| r.doc_of(doc.seq).is_some()),
            );
        }
        let pending = Pending::new(extra, |i, _| indexed.get(i).copied().unwrap_or(false));
        let candidates = match parsed.prefix() {
            Some(prefix) => {
                let start = dict_key(prefix);
                // Enough to fill the expansions after skipping the prefix and the query terms.
                let want = MAX_PREFIX_EXPANSIONS + parsed.terms.len() + 1;
                store
                    .range(&start, &prefix_end(&start), false, want)?
                    .into_iter()
                    .filter_map(|(k, _)| k.strip_prefix("hx/d/").map(str::to_owned))
                    .collect()
            }
            None => Vec::new(),
        };
        let terms = expand_prefix(&parsed, candidates.iter().map(String::as_str), &pending);
        let allowed = match tab {
            Some(tab) => {
                self.load_tab(store, tab)?;
                Some(
                    self.tabs
                        .get(tab)
                        .map(TabRuns::doc_ranges)
                        .unwrap_or_default(),
                )
            }
            None => None,
        };
        let stats = CorpusStats {
            doc_count: self.meta.live_docs,
            total_len: self.meta.total_len,
            doc_id_bound: self.meta.next_doc,
        };
        let mut scorer = Scorer::new(stats, &pending, tab, allowed);
        for term in &terms {
            self.load_term(store, term)?;
            let slices: Vec<&[Posting]> = self
                .terms
                .get(term)
                .map(|c| c.blocks.values().map(Vec::as_slice).collect())
                .unwrap_or_default();
            scorer.add_term(term, &slices);
        }
        let ranked = scorer.finish(limit);
        let mut results = Vec::with_capacity(ranked.top.len());
        for (score, doc) in ranked.top {
            let doc = match doc {
                DocRef::Indexed(id) => self.load_doc(store, id)?,
                DocRef::Pending(i) => extra.get(i),
            };
            if let Some(doc) = doc {
                results.push(hit(doc, &terms, score));
            }
        }
        Ok(HistoryResults {
            total: ranked.total,
            results,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::history::HistoryIndex;
    use crate::storage::MemoryStore;

    fn doc(tab: &str, seq: u64, text: &str) -> HistoryDoc {
        HistoryDoc {
            tab_id: tab.into(),
            seq,
            role: if seq.is_multiple_of(2) {
                "assistant"
            } else {
                "user"
            }
            .into(),
            text: text.into(),
        }
    }

    const WORDS: [&str; 12] = [
        "rust", "borrow", "checker", "cache", "cafe", "café", "lifetime", "trait", "async",
        "await", "東京", "zebra",
    ];

    /// A deterministic corpus over two tabs, long enough to span several postings blocks.
    fn corpus(n: u64) -> Vec<HistoryDoc> {
        (0..n)
            .map(|i| {
                let text: Vec<&str> = (0..(3 + i % 5))
                    .map(|j| WORDS[((i * 7 + j * 3 + i / 5) % 12) as usize])
                    .collect();
                doc(
                    if i.is_multiple_of(3) { "t1" } else { "t2" },
                    i + 1,
                    &text.join(" "),
                )
            })
            .collect()
    }

    const QUERIES: [&str; 6] = [
        "rust",
        "borrow checker",
        "caf",
        "東京 zebra",
        "async aw",
        "trait lifetime rust",
    ];

    fn assert_same(memory: &HistoryIndex, persistent: &mut PersistentIndex, store: &MemoryStore) {
        for q in QUERIES {
            for tab in [None, Some("t1"), Some("t2")] {
                assert_eq!(
                    memory.search(q, tab, 10, &[]).unwrap(),
                    persistent.search(store, q, tab, 10, &[]).unwrap(),
                    "query {q:?} tab {tab:?}"
                );
            }
        }
    }

    #[test]
    fn block_codec_round_trips_and_rejects_garbage() {
        let postings = [
            Posting {
                doc: 2048,
                tf: 1,
                dl: 300,
            },
            Posting {
                doc: 2049,
                tf: 7,
                dl: 9,
            },
            Posting {
                doc: 3071,
                tf: 200,
                dl: 70_000,
            },
        ];
        let bytes = encode_block(2, &postings);
        assert_eq!(decode_block(2, &bytes).unwrap(), postings);
        assert_eq!(decode_block(2, &bytes[..bytes.len() - 1]), None);
        assert_eq!(decode_block(2, &[0xff; 8]), None);
    }

    #[test]
    fn reopened_index_answers_like_the_memory_index() {
        let docs = corpus(2600);
        let mut store = MemoryStore::new();
        let mut memory = HistoryIndex::new();
        let mut persistent = PersistentIndex::open(&store).unwrap();
        for batch in docs.chunks(10) {
            memory.add(batch).unwrap();
            persistent.add(&mut store, batch).unwrap();
        }
        assert_same(&memory, &mut persistent, &store);
        let mut reopened = PersistentIndex::open(&store).unwrap();
        assert_eq!(reopened.len(), 2600);
        assert_same(&memory, &mut reopened, &store);
        // Pending messages too.
        let pending = [doc("t3", 1, "zebra zebra crossing")];
        assert_eq!(
            memory.search("zebra", None, 5, &pending).unwrap(),
            reopened.search(&store, "zebra", None, 5, &pending).unwrap()
        );
    }

    #[test]
    fn open_reads_only_the_meta_and_a_query_only_its_chunks() {
        let mut store = MemoryStore::new();
        let mut persistent = PersistentIndex::open(&store).unwrap();
        persistent.add(&mut store, &corpus(300)).unwrap();
        let reopened = PersistentIndex::open(&store).unwrap();
        assert!(reopened.terms.is_empty() && reopened.docs.is_empty() && reopened.tabs.is_empty());
        let mut reopened = reopened;
        reopened.search(&store, "zebra", None, 3, &[]).unwrap();
        assert_eq!(reopened.terms.keys().collect::<Vec<_>>(), ["zebra"]);
        assert!(reopened.docs.len() <= 3);
    }

    #[test]
    fn a_flush_writes_only_the_chunks_it_touches() {
        let mut store = MemoryStore::new();
        let mut persistent = PersistentIndex::open(&store).unwrap();
        persistent.add(&mut store, &corpus(3000)).unwrap();
        let before = store.write_stats();
        // Two messages with 3 distinct terms, all existing, in the current block of each term:
        // 2 rows + 3 blocks + 1 tab + 1 meta.
        persistent
            .add(
                &mut store,
                &[doc("t1", 5000, "rust rust trait"), doc("t1", 5001, "zebra")],
            )
            .unwrap();
        let after = store.write_stats();
        assert_eq!(after.write_ops - before.write_ops, 7);
        // Far less than the index: each block holds at most one block's worth of postings.
        assert!(after.bytes_written - before.bytes_written < store.stored_bytes() / 20);
        // Retrying the same flush writes nothing.
        persistent
            .add(
                &mut store,
                &[doc("t1", 5000, "rust rust trait"), doc("t1", 5001, "zebra")],
            )
            .unwrap();
        assert_eq!(store.write_stats(), after);
    }

    #[test]
    fn last_term_prefix_also_matches_pending_messages() {
        let docs = corpus(1500);
        let mut store = MemoryStore::new();
        let mut memory = HistoryIndex::new();
        let mut persistent = PersistentIndex::open(&store).unwrap();
        memory.add(&docs).unwrap();
        persistent.add(&mut store, &docs).unwrap();
        let pending = [
            doc("t3", 1, "an ocelot sleeps"),
            doc("t3", 2, "cafeteria at rust conf"),
            // Already indexed (t1 seq 1): ignored, its text contributes no expansion.
            doc("t1", 1, "ocelots everywhere"),
        ];
        for q in ["oce", "caf", "rust cafet", "ocelots"] {
            let expected = memory.search(q, None, 10, &pending).unwrap();
            let got = persistent.search(&store, q, None, 10, &pending).unwrap();
            assert_eq!(got, expected, "{q}");
        }
        let r = persistent
            .search(&store, "oce", None, 10, &pending)
            .unwrap();
        assert_eq!((r.total, r.results[0].seq), (1, 1));
        assert_eq!(r.results[0].tab_id, "t3");
        let r = persistent
            .search(&store, "rust cafet", None, 10, &pending)
            .unwrap();
        assert_eq!(r.results[0].tab_id, "t3");
    }

    #[test]
    fn a_new_term_gets_a_dictionary_entry_for_prefix_search() {
        let mut store = MemoryStore::new();
        let mut persistent = PersistentIndex::open(&store).unwrap();
        persistent
            .add(&mut store, &[doc("t", 1, "Serendipity")])
            .unwrap();
        assert_eq!(store.get("hx/d/serendipity").unwrap(), Some(Vec::new()));
        let mut reopened = PersistentIndex::open(&store).unwrap();
        let r = reopened.search(&store, "seren", None, 5, &[]).unwrap();
        assert_eq!(r.results[0].snippet, "Serendipity");
    }

    #[test]
    fn remove_tab_then_reopen_finds_nothing_of_it() {
        let docs = corpus(2600);
        let mut store = MemoryStore::new();
        let mut memory = HistoryIndex::new();
        let mut persistent = PersistentIndex::open(&store).unwrap();
        for batch in docs.chunks(25) {
            memory.add(batch).unwrap();
            persistent.add(&mut store, batch).unwrap();
        }
        persistent
            .add(&mut store, &[doc("gone", 1, "unique snowflake")])
            .unwrap();
        memory.add(&[doc("gone", 1, "unique snowflake")]).unwrap();
        assert_eq!(persistent.remove_tab(&mut store, "t1").unwrap(), 867);
        assert_eq!(persistent.remove_tab(&mut store, "gone").unwrap(), 1);
        memory.remove_tab("t1");
        memory.remove_tab("gone");
        assert_eq!(persistent.remove_tab(&mut store, "t1").unwrap(), 0);
        let mut reopened = PersistentIndex::open(&store).unwrap();
        assert_same(&memory, &mut reopened, &store);
        assert_eq!(
            reopened
                .search(&store, "rust", Some("t1"), 10, &[])
                .unwrap()
                .total,
            0
        );
        // Nothing of the removed tabs is left in storage: no rows, no runs, no orphan terms.
        for (key, value) in store
            .range("hx/", &prefix_end("hx/"), false, usize::MAX)
            .unwrap()
        {
            assert!(!key.contains("snowflake") && key != "hx/tab/t1", "{key}");
            if key.starts_with("hx/doc/") {
                let row: HistoryDoc = serde_json::from_slice(&value).unwrap();
                assert_eq!(row.tab_id, "t2");
            }
        }
    }
}
