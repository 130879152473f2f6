//! [`PersistentIndex`]: the history index kept in a [`KvStore`] (the user's Durable Object
//! storage) in small chunks, loaded lazily. An update only appends: what it writes is
//! proportional to the batch, never to the history.
//!
//! # Key layout (all under `hx/`; keys are ASCII apart from terms and tab ids)
//!
//! | key                        | value                                                        |
//! |----------------------------|--------------------------------------------------------------|
//! | `hx/meta`                  | JSON `{"v":2,"next_doc":u32,"live_docs":u64,"total_len":u64}`, plus `"dead":[[start,end],...]` while a removal's cleanup is unfinished, and `"legacy":u32` for a store begun in format 1 |
//! | `hx/t/{term} p{last:08x}`  | a *piece*: postings of `term` for some doc ids of one group (`[g·1024, (g+1)·1024)`, [`BLOCK_DOCS`]), `last` the largest: varint count, then per posting varint (doc − previous doc, the first relative to 0), varint tf, varint doc length |
//! | `hx/t/{term} {block:08x}`  | format 1 only: all postings of `term` in group `block`, the first doc relative to `block·1024` |
//! | `hx/d/{term}`              | empty; present iff `term` has postings (the sorted term dictionary for prefix expansion) |
//! | `hx/doc/{doc:08x}`         | the [`HistoryDoc`] (`tab_id`, `seq`, `role`, `text`; text for snippets and removal): binary, [`encode_doc`] (format 1: JSON) |
//! | `hx/tab/{tab_id}`          | JSON [`TabRuns`] `{"runs":[[first_seq, first_doc, len], ...]}` |
//!
//! Terms never contain whitespace (see [`super::tokenize`]), so `hx/t/{term} ` is a prefix of
//! exactly that term's chunks, and they sort by doc id: format-1 blocks (hex digits) before
//! pieces (`p`, written later, so with larger doc ids), pieces by their last doc id.
//!
//! # Writes: append, then merge each finished group once
//!
//! Format 1 rewrote, per batch, the last block of every distinct term of the batch (up to 1024
//! postings): ≈ 3.2 KB per 200-byte message at 1000 messages, growing with the history until a
//! block filled (17.8× the payload for the whole service; `benches/write_amplification.rs`).
//! Format 2 writes only new data: per batch, one piece per distinct (term, group) holding just
//! the batch's postings, plus the rows, the touched tab runs and the meta.
//!
//! Pieces would pile up (a common term gets one per batch: 100 per group at 10 messages a batch,
//! 512 for a slow chat flushing every 2), making a cold read of that term thousands of rows. So
//! when a term shows up in a group for the first time and its previous group has several chunks,
//! that group is merged into one chunk: written at the group's last key, then the others deleted.
//! Each posting is rewritten at most once (rewrite factor ≤ 2), found with one short reverse range
//! read per term of the batch; a term's chunks are at most one per finished group plus the
//! pieces of its current group. The cost is one delete per piece merged away (a row written, and
//! its key's bytes): measured, the index's share of the bytes goes from 1.9× the payload at 1,000
//! messages (no group finished yet) to 2.5× at 10,000 (3.5× to 4.9× for the slow chat; see
//! docs/BENCHMARKS.md, "Chat: write amplification"). Merging more lazily (only past a piece
//! count) would save little: common terms make most pieces, and their groups would be merged
//! anyway. Fewer rows would need fewer pieces: one segment per batch for all its terms, merged
//! into term chunks later, at the price of a second read path; not done.
//!
//! A merge needs no commit record: chunks are decoded in key order and each contributes only the
//! doc ids above every doc id of the chunks before it (`decode_chunks`). The merged chunk is a
//! superset of the chunks it replaces and sorts last among them, so until they are deleted it
//! stands for nothing they hold, and deleting them newest first hands it exactly their ids. An
//! interrupted merge is therefore invisible, and the next add of the term finishes it.
//!
//! Doc rows keep the full text: snippets are cut from it, and removal and recovery find a doc's
//! terms in it. Dropping it (≈ 200 of the ≈ 230 bytes a row takes per message, about 1× the
//! payload) would need the shell to fetch snippet text from the tab objects and removal to list
//! terms otherwise; not done (`src/edge` is out of this core's scope). The row is binary (no JSON
//! framing or escaping), 40–50 bytes less than format 1's.
//!
//! # Format versions
//!
//! A store written by format 1 opens and searches as is: its blocks are read as one chunk per
//! group, its JSON rows decode. Its first commit rewrites the meta as format 2 with `legacy` =
//! the doc ids below which format-1 blocks may exist (so cleaning a group also looks at its
//! block); a format-1 reader refuses the new meta (unknown version) rather than misread pieces.
//! Nothing is migrated eagerly: old groups stay blocks, group `next_doc / 1024` gets pieces
//! next to its block and is merged into one piece when finished.
//!
//! # Failures: every update commits with one write
//!
//! A store can fail any write, and a Durable Object can be reset between two writes, so an update
//! may stop halfway. The meta is the commit record: a doc id is *committed* when it is below
//! `next_doc` and outside `dead`, and the index is whatever the chunks say about committed ids
//! only. Everything read (postings, tab runs) is filtered to committed ids, so the leftovers of an
//! interrupted update are invisible, and they are cleaned before the next update:
//! - [`PersistentIndex::add`] writes the new rows first, then the pieces, dictionary markers and
//!   merges, the tab runs, and the meta last (the commit). Before the commit its doc ids are at
//!   or above `next_doc`; the leftover rows (`hx/doc/` from `next_doc` on, one range read) list
//!   exactly what the interrupted call touched, so the cleanup filters those ids out of every
//!   chunk of their terms' groups, deletes markers left without postings, then the rows. The
//!   retry gets the same doc ids and writes the same chunks: each message is indexed once.
//! - [`PersistentIndex::remove_tab`] reads what it removes, then commits with one meta write that
//!   lowers the counts and lists the tab's doc ids as `dead`; the chunks, runs and rows are
//!   cleaned after (or by the next update, found through `dead`), and `dead` is cleared last.
//!   Cleaning filters every chunk of the group as stored, so a copy left by an interrupted merge
//!   goes too.
//!
//! In memory, a failed call changes nothing a caller can observe: the new state is applied only
//! after the commit write succeeded.
//!
//! # Costs
//! - [`PersistentIndex::open`] reads `hx/meta` and probes for leftover rows (one range read of
//!   at most one key).
//! - A query reads, per term, its chunks (one range read: a chunk per finished group plus the
//!   current group's pieces), one dictionary range read for the prefix, the tab runs it filters
//!   on, and the doc rows of the results (≤ `limit` gets). It scores one term at a time, so
//!   beyond the cache it holds one term's postings and a score array (4 bytes per doc id).
//! - [`PersistentIndex::add`] writes one row per new message, one piece per distinct (term,
//!   group) of the batch, one dictionary marker per new term, the touched tabs' runs and the
//!   meta; and, once per term and finished group, one merged chunk and a delete per other piece.
//!   It reads one reverse range of at most 2 keys per distinct term.
//! - [`PersistentIndex::remove_tab`] rewrites the chunks holding the tab's postings and deletes
//!   its rows: proportional to the tab, plus two meta writes (commit, then end of cleanup).
//!
//! # Memory
//! What was read is cached in one LRU bounded by accounted bytes ([`CACHE_BUDGET_BYTES`] by
//! default, [`PersistentIndex::open_with_budget`] otherwise; [`PersistentIndex::resident_bytes`]
//! never exceeds it), so a warm Durable Object reads nothing twice as long as its working set
//! fits, and a long history cannot grow it past the isolate's 128 MB. The accounting follows
//! [`crate::search::web::l1`]: the hash table's spare slots are not counted, which the benchmark
//! measures at a few percent of the allocator's view. Evicting an entry only costs a read: every
//! answer is the same whatever the budget, down to zero.
//!
//! The cache is only valid if every write under `hx/` goes through the same
//! `PersistentIndex` (one per Durable Object, which is single-threaded).

use std::collections::{BTreeMap, BTreeSet};
use std::mem::size_of;

use lru::LruCache;
use serde::{Deserialize, Serialize};

use super::index::term_counts;
use super::{
    expand_prefix, hit, in_ranges, parse_query, CorpusStats, DocRef, HistoryDoc, HistoryError,
    HistoryResults, ParsedQuery, Pending, Posting, Scorer, TabRuns, MAX_PREFIX_EXPANSIONS,
};
use crate::search::web::l1::LRU_ENTRY_OVERHEAD;
use crate::storage::{prefix_end, KvStore};

/// Doc ids per group: a piece never spans two, and a term's pieces of a finished group are
/// merged into one chunk, so a term is read as about one chunk per group (format 1 kept exactly
/// one block per group, rewritten by every append).
pub const BLOCK_DOCS: u32 = 1024;

/// A term's last group is merged into one chunk when its newest `MERGE_AT` chunks all lie in it
/// and the term shows up in a later group. 2: every finished group ends as one chunk, and an
/// interrupted merge is always finished by the retry (see the module docs).
const MERGE_AT: usize = 2;

/// Default bound of the in-memory cache of one index, in accounted bytes (counted as in
/// [`crate::search::web::l1`]: inline sizes, heap capacities and `lru`'s per-entry overhead).
///
/// An isolate has 128 MB for everything, and several Durable Objects (user and tab objects) may
/// share one, next to the worker's own L1 web cache (8 MiB). A query also needs transient memory
/// beyond the cache: its score array (4 bytes per doc id: 4 MB at a million messages) and the
/// decoded postings of one term at a time. 16 MiB keeps a user object's index cache at an
/// eighth of the isolate, leaving room for several objects and those transients; what it holds
/// at a million messages is measured in docs/BENCHMARKS.md (history search).
pub const CACHE_BUDGET_BYTES: usize = 16 * 1024 * 1024;

/// No cache entry may take more than this fraction (1/n) of the budget.
const MAX_ENTRY_SHARE: usize = 4;

const META_KEY: &str = "hx/meta";
const DOC_PREFIX: &str = "hx/doc/";
const DICT_PREFIX: &str = "hx/d/";
/// Written by this code. Format 1 (postings rewritten in whole blocks, JSON doc rows) is read
/// too; see the module docs.
const FORMAT_VERSION: u32 = 2;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Meta {
    v: u32,
    next_doc: u32,
    live_docs: u64,
    total_len: u64,
    /// Removed doc-id ranges (sorted, disjoint) whose chunks may not be cleaned yet.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    dead: Vec<(u32, u32)>,
    /// Doc ids below this may have postings in format-1 blocks (`hx/t/{term} {block:08x}`);
    /// 0 for a store created by format 2.
    #[serde(default, skip_serializing_if = "is_zero")]
    legacy: u32,
}

fn is_zero(value: &u32) -> bool {
    *value == 0
}

impl Meta {
    /// Whether `doc` is committed (see the module docs).
    fn is_committed(&self, doc: u32) -> bool {
        doc < self.next_doc && !in_ranges(&self.dead, doc)
    }

    /// Drops the postings of uncommitted doc ids (a cheap check in the usual case of none).
    fn keep_committed(&self, postings: &mut Vec<Posting>) {
        if self.dead.is_empty() && postings.last().is_none_or(|p| p.doc < self.next_doc) {
            return;
        }
        postings.retain(|p| self.is_committed(p.doc));
    }

    /// The tab runs restricted to committed doc ids.
    fn committed_runs(&self, runs: TabRuns) -> TabRuns {
        let clean = self.dead.is_empty()
            && runs
                .runs
                .iter()
                .all(|&(_, doc, len)| u64::from(doc) + u64::from(len) <= u64::from(self.next_doc));
        if clean {
            runs
        } else {
            runs.restricted(self.next_doc, &self.dead)
        }
    }
}

/// The sorted, disjoint union of two sorted, disjoint range lists.
fn merge_ranges(a: &[(u32, u32)], b: &[(u32, u32)]) -> Vec<(u32, u32)> {
    let mut all: Vec<(u32, u32)> = a.iter().chain(b).copied().collect();
    all.sort_unstable();
    let mut out: Vec<(u32, u32)> = Vec::with_capacity(all.len());
    for (start, end) in all {
        match out.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => out.push((start, end)),
        }
    }
    out
}

/// The loaded part of one term's postings.
#[derive(Debug, Default, Clone, PartialEq)]
struct TermCache {
    /// `(group, postings)` sorted by group; no group is empty.
    blocks: Vec<(u32, Vec<Posting>)>,
    /// Whether every block of the term is in `blocks` (after a range read or a fresh term).
    complete: bool,
}

impl TermCache {
    fn block(&self, block: u32) -> Option<&Vec<Posting>> {
        let i = self.blocks.binary_search_by_key(&block, |b| b.0).ok()?;
        self.blocks.get(i).map(|b| &b.1)
    }

    /// Replaces (or adds) `block`; an empty one is dropped.
    fn set_block(&mut self, block: u32, postings: Vec<Posting>) {
        match self.blocks.binary_search_by_key(&block, |b| b.0) {
            Ok(i) if postings.is_empty() => {
                self.blocks.remove(i);
            }
            Ok(i) => {
                if let Some(slot) = self.blocks.get_mut(i) {
                    slot.1 = postings;
                }
            }
            Err(_) if postings.is_empty() => {}
            Err(i) => self.blocks.insert(i, (block, postings)),
        }
    }

    fn slices(&self) -> Vec<&[Posting]> {
        self.blocks.iter().map(|b| b.1.as_slice()).collect()
    }
}

/// Bytes accounted for one cached chunk: the `lru` entry's bookkeeping and inline key and slot,
/// plus the heap *capacity* of every `String` and `Vec` it owns (the counting rules of
/// [`crate::search::web::l1`]; allocator rounding and the map's spare slots are not counted).
fn entry_bytes(key: &CacheKey, value: &Cached) -> usize {
    let key_heap = match key {
        CacheKey::Term(s) | CacheKey::Tab(s) => s.capacity(),
        CacheKey::Doc(_) => 0,
    };
    let value_heap = match value {
        Cached::Term(t) => {
            t.blocks.capacity() * size_of::<(u32, Vec<Posting>)>()
                + t.blocks
                    .iter()
                    .map(|b| b.1.capacity() * size_of::<Posting>())
                    .sum::<usize>()
        }
        Cached::Doc(d) => d.tab_id.capacity() + d.role.capacity() + d.text.capacity(),
        Cached::Tab(r) => r.runs.capacity() * size_of::<(u64, u32, u32)>(),
    };
    LRU_ENTRY_OVERHEAD + size_of::<CacheKey>() + key_heap + size_of::<Slot>() + value_heap
}

/// What a cache entry holds: a chunk of the store as read (restricted to committed doc ids).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum CacheKey {
    Term(String),
    Doc(u32),
    Tab(String),
}

#[derive(Debug)]
enum Cached {
    Term(TermCache),
    Doc(HistoryDoc),
    Tab(TabRuns),
}

impl Cached {
    /// Drops spare capacity: it would be counted (rightly) but buys nothing.
    fn shrink(&mut self) {
        match self {
            Cached::Term(t) => {
                t.blocks.shrink_to_fit();
                for block in &mut t.blocks {
                    block.1.shrink_to_fit();
                }
            }
            Cached::Doc(d) => {
                d.tab_id.shrink_to_fit();
                d.role.shrink_to_fit();
                d.text.shrink_to_fit();
            }
            Cached::Tab(r) => r.runs.shrink_to_fit(),
        }
    }
}

/// One cache entry and its accounted size.
struct Slot {
    value: Cached,
    bytes: usize,
}

/// What the index keeps of the store in memory — term postings, doc rows and tab runs, all
/// restricted to committed doc ids — in one LRU bounded by accounted bytes, so a long history
/// cannot grow the Durable Object past its isolate's memory. Anything evicted is read again
/// from the store when needed; the cache only saves reads.
struct Cache {
    lru: LruCache<CacheKey, Slot>,
    bytes: usize,
    max_bytes: usize,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("entries", &self.lru.len())
            .field("bytes", &self.bytes)
            .field("max_bytes", &self.max_bytes)
            .finish()
    }
}

impl Cache {
    fn new(max_bytes: usize) -> Self {
        Self {
            lru: LruCache::unbounded(),
            bytes: 0,
            max_bytes,
        }
    }

    /// The value under `key`, marked most recently used.
    fn get(&mut self, key: &CacheKey) -> Option<&Cached> {
        self.lru.get(key).map(|slot| &slot.value)
    }

    /// Stores `value` under `key`, evicting least recently used entries until the bound holds.
    /// An entry above a quarter of the budget is not kept, so one very common term does not
    /// flush everything else at each query that needs it (it is read from the store instead).
    fn put(&mut self, key: CacheKey, mut value: Cached) {
        self.take(&key);
        value.shrink();
        let bytes = entry_bytes(&key, &value);
        if bytes > self.max_bytes / MAX_ENTRY_SHARE {
            return;
        }
        while self.bytes + bytes > self.max_bytes {
            match self.lru.pop_lru() {
                Some((_, old)) => self.bytes -= old.bytes,
                None => break,
            }
        }
        self.bytes += bytes;
        self.lru.put(key, Slot { value, bytes });
    }

    /// Removes and returns the value under `key`.
    fn take(&mut self, key: &CacheKey) -> Option<Cached> {
        let slot = self.lru.pop(key)?;
        self.bytes -= slot.bytes;
        Some(slot.value)
    }

    fn term(&mut self, term: &str) -> Option<&TermCache> {
        match self.get(&CacheKey::Term(term.to_owned()))? {
            Cached::Term(t) => Some(t),
            _ => None,
        }
    }

    fn put_term(&mut self, term: &str, value: TermCache) {
        self.put(CacheKey::Term(term.to_owned()), Cached::Term(value));
    }

    /// Applies `f` to the cached entry of `term`, or to a new partial one when `create`.
    fn update_term(&mut self, term: &str, create: bool, f: impl FnOnce(&mut TermCache)) {
        let mut entry = match self.take(&CacheKey::Term(term.to_owned())) {
            Some(Cached::Term(entry)) => entry,
            _ if create => TermCache::default(),
            _ => return,
        };
        f(&mut entry);
        self.put_term(term, entry);
    }

    fn doc(&mut self, id: u32) -> Option<&HistoryDoc> {
        match self.get(&CacheKey::Doc(id))? {
            Cached::Doc(d) => Some(d),
            _ => None,
        }
    }

    fn put_doc(&mut self, id: u32, doc: HistoryDoc) {
        self.put(CacheKey::Doc(id), Cached::Doc(doc));
    }

    fn remove_doc(&mut self, id: u32) {
        self.take(&CacheKey::Doc(id));
    }

    fn tab(&mut self, tab: &str) -> Option<&TabRuns> {
        match self.get(&CacheKey::Tab(tab.to_owned()))? {
            Cached::Tab(r) => Some(r),
            _ => None,
        }
    }

    fn put_tab(&mut self, tab: &str, runs: TabRuns) {
        self.put(CacheKey::Tab(tab.to_owned()), Cached::Tab(runs));
    }

    fn clear(&mut self) {
        self.lru.clear();
        self.bytes = 0;
    }

    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.lru.is_empty()
    }

    /// The cached terms, most recently used first.
    #[cfg(test)]
    fn terms(&self) -> Vec<&str> {
        self.lru
            .iter()
            .filter_map(|(k, _)| match k {
                CacheKey::Term(t) => Some(t.as_str()),
                _ => None,
            })
            .collect()
    }

    #[cfg(test)]
    fn doc_count(&self) -> usize {
        self.lru
            .iter()
            .filter(|(k, _)| matches!(k, CacheKey::Doc(_)))
            .count()
    }
}

fn term_prefix(term: &str) -> String {
    format!("hx/t/{term} ")
}

fn block_key(term: &str, block: u32) -> String {
    format!("hx/t/{term} {block:08x}")
}

/// The key of a piece of `term` whose last doc id is `last` (the `p` sorts after every format-1
/// block suffix, so a term's chunks sort by doc id whichever format wrote them).
fn piece_key(term: &str, last: u32) -> String {
    format!("hx/t/{term} p{last:08x}")
}

/// The group (aligned run of [`BLOCK_DOCS`] doc ids) of `doc`: pieces never span two.
fn group_of(doc: u32) -> u32 {
    doc / BLOCK_DOCS
}

/// What a chunk key under a term's prefix names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// A format-1 block (every posting of the term in that group, doc ids relative to its start).
    Block(u32),
    /// A piece whose last doc id is this (doc ids relative to 0).
    Piece(u32),
}

impl Chunk {
    fn parse(key: &str, prefix: &str) -> Option<Chunk> {
        let suffix = key.strip_prefix(prefix)?;
        match suffix.strip_prefix('p') {
            Some(last) => u32::from_str_radix(last, 16).ok().map(Chunk::Piece),
            None => u32::from_str_radix(suffix, 16).ok().map(Chunk::Block),
        }
    }

    fn group(self) -> u32 {
        match self {
            Chunk::Block(block) => block,
            Chunk::Piece(last) => group_of(last),
        }
    }

    fn decode(self, bytes: &[u8]) -> Option<Vec<Posting>> {
        match self {
            Chunk::Block(block) => decode_block(block, bytes),
            Chunk::Piece(_) => decode_block(0, bytes),
        }
    }
}

/// Decodes one term's chunks given in key order into its postings, sorted by doc id, without the
/// duplicates an interrupted merge leaves: a chunk only contributes the doc ids above every doc
/// id of the chunks before it (a merged chunk is a superset of the chunks it replaces, and is
/// written after them in key order, so until they are deleted they still own their doc ids).
fn decode_chunks(
    chunks: impl IntoIterator<Item = (String, Vec<u8>)>,
    prefix: &str,
    mut each: impl FnMut(u32, Vec<Posting>),
) -> Result<(), HistoryError> {
    let mut bound: Option<u32> = None;
    for (key, bytes) in chunks {
        let chunk = Chunk::parse(&key, prefix).ok_or_else(|| HistoryError::Corrupt(key.clone()))?;
        let mut postings = chunk
            .decode(&bytes)
            .ok_or_else(|| HistoryError::Corrupt(key.clone()))?;
        let raw_max = postings.last().map(|p| p.doc);
        if let Some(bound) = bound {
            postings.retain(|p| p.doc > bound);
        }
        bound = bound.max(raw_max);
        each(chunk.group(), postings);
    }
    Ok(())
}

fn dict_key(term: &str) -> String {
    format!("{DICT_PREFIX}{term}")
}

fn doc_key(doc: u32) -> String {
    format!("{DOC_PREFIX}{doc:08x}")
}

fn tab_key(tab: &str) -> String {
    format!("hx/tab/{tab}")
}

fn put_varint(out: &mut Vec<u8>, value: u32) {
    put_varint64(out, u64::from(value));
}

/// A varint that must fit a `u32` (a larger value is malformed input, not a truncated one).
fn get_varint(bytes: &[u8], pos: &mut usize) -> Option<u32> {
    u32::try_from(get_varint64(bytes, pos)?).ok()
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

fn put_varint64(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn get_varint64(bytes: &[u8], pos: &mut usize) -> Option<u64> {
    let mut value: u64 = 0;
    for shift in (0..70).step_by(7) {
        let byte = *bytes.get(*pos)?;
        *pos += 1;
        value |= u64::from(byte & 0x7f).checked_shl(shift)?;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// First byte of a format-2 doc row (a format-1 row is JSON, so it starts with `{`).
const DOC_ROW_V2: u8 = 2;

/// Encodes a doc row: the tag, varint tab id length and tab id, varint seq, varint role length
/// and role, then the text to the end (no JSON framing or escaping: 40–50 bytes less per row).
pub fn encode_doc(doc: &HistoryDoc) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + doc.tab_id.len() + doc.role.len() + doc.text.len());
    out.push(DOC_ROW_V2);
    put_varint64(&mut out, doc.tab_id.len() as u64);
    out.extend_from_slice(doc.tab_id.as_bytes());
    put_varint64(&mut out, doc.seq);
    put_varint64(&mut out, doc.role.len() as u64);
    out.extend_from_slice(doc.role.as_bytes());
    out.extend_from_slice(doc.text.as_bytes());
    out
}

/// Decodes a doc row of either format; `None` when the bytes are neither.
pub fn decode_doc(bytes: &[u8]) -> Option<HistoryDoc> {
    if bytes.first() != Some(&DOC_ROW_V2) {
        return serde_json::from_slice(bytes).ok();
    }
    let mut pos = 1;
    let string = |pos: &mut usize| -> Option<String> {
        let len = usize::try_from(get_varint64(bytes, pos)?).ok()?;
        let end = pos.checked_add(len)?;
        let s = std::str::from_utf8(bytes.get(*pos..end)?).ok()?.to_owned();
        *pos = end;
        Some(s)
    };
    let tab_id = string(&mut pos)?;
    let seq = get_varint64(bytes, &mut pos)?;
    let role = string(&mut pos)?;
    let text = std::str::from_utf8(bytes.get(pos..)?).ok()?.to_owned();
    Some(HistoryDoc {
        tab_id,
        seq,
        role,
        text,
    })
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

/// The stored meta (an absent one is an empty index).
fn read_meta(store: &impl KvStore) -> Result<Meta, HistoryError> {
    match get_json::<Meta>(store, META_KEY)? {
        Some(meta) if meta.v == FORMAT_VERSION => Ok(meta),
        // Format 1: any doc id, even a leftover above `next_doc`, may be in a block, until
        // the store is known clean (`open`, `recover`). Rewritten as format 2 at the next commit.
        Some(meta) if meta.v == 1 => Ok(Meta {
            v: FORMAT_VERSION,
            legacy: u32::MAX,
            ..meta
        }),
        Some(_) => Err(HistoryError::Corrupt(META_KEY.to_owned())),
        None => Ok(Meta {
            v: FORMAT_VERSION,
            ..Meta::default()
        }),
    }
}

/// The doc rows with keys in `[start, end)`, decoded.
fn read_rows(
    store: &impl KvStore,
    start: &str,
    end: &str,
) -> Result<Vec<(u32, HistoryDoc)>, HistoryError> {
    store
        .range(start, end, false, usize::MAX)?
        .into_iter()
        .map(|(key, bytes)| {
            let id = parse_block_suffix(&key, DOC_PREFIX);
            let doc = decode_doc(&bytes);
            id.zip(doc).ok_or(HistoryError::Corrupt(key))
        })
        .collect()
}

/// A new piece's content, computed before anything is written.
struct PlannedPiece {
    term: String,
    /// The piece's last doc id (its key).
    last: u32,
    postings: Vec<Posting>,
}

/// A merge of one term's pieces of one finished group into one chunk, planned from the store.
struct PlannedMerge {
    /// Where the merged chunk goes: the group's last key, which it replaces.
    key: String,
    postings: Vec<Posting>,
    /// The group's other chunks, deleted once the merged one is written.
    delete: Vec<String>,
}

/// The history index of one user, stored in chunks in a [`KvStore`] and cached as it is read,
/// within a memory budget.
///
/// Same answers as [`super::HistoryIndex`] given the same operations, whatever the budget. The
/// store is passed to each call (the Durable Object owns it); use one `PersistentIndex` per
/// store.
#[derive(Debug)]
pub struct PersistentIndex {
    meta: Meta,
    cache: Cache,
    /// Whether the store may hold leftovers of an interrupted update (cleaned before the next
    /// update; meanwhile, dictionary candidates are checked for committed postings).
    unclean: bool,
}

impl PersistentIndex {
    /// Opens the index in `store`: reads its metadata and probes for leftovers of an interrupted
    /// update (an empty store is an empty index).
    ///
    /// Errors: [`HistoryError::Storage`] when the store fails, [`HistoryError::Corrupt`] when the
    /// metadata does not decode or has an unknown version.
    pub fn open(store: &impl KvStore) -> Result<Self, HistoryError> {
        Self::open_with_budget(store, CACHE_BUDGET_BYTES)
    }

    /// [`PersistentIndex::open`] with a cache of at most `max_bytes` instead of
    /// [`CACHE_BUDGET_BYTES`].
    pub fn open_with_budget(store: &impl KvStore, max_bytes: usize) -> Result<Self, HistoryError> {
        let mut meta = read_meta(store)?;
        let leftover = !store
            .range(&doc_key(meta.next_doc), &prefix_end(DOC_PREFIX), false, 1)?
            .is_empty();
        if !leftover {
            // No block above `next_doc` then (leftover blocks come with leftover rows).
            meta.legacy = meta.legacy.min(meta.next_doc);
        }
        Ok(Self {
            unclean: leftover || !meta.dead.is_empty(),
            meta,
            cache: Cache::new(max_bytes),
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

    /// Accounted bytes of the cache (postings, rows, tab runs): at most [`Self::cache_budget`].
    /// The rest of the struct is a few hundred bytes whatever the history.
    pub fn resident_bytes(&self) -> usize {
        self.cache.bytes
    }

    /// The cache's bound, in accounted bytes.
    pub fn cache_budget(&self) -> usize {
        self.cache.max_bytes
    }

    /// Drops everything cached (the next calls read from the store again).
    pub fn clear_cache(&mut self) {
        self.cache.clear();
    }

    /// The committed runs of `tab` (empty when unknown), cached.
    fn tab_runs(&mut self, store: &impl KvStore, tab: &str) -> Result<TabRuns, HistoryError> {
        if let Some(runs) = self.cache.tab(tab) {
            return Ok(runs.clone());
        }
        let stored = get_json::<TabRuns>(store, &tab_key(tab))?.unwrap_or_default();
        let runs = self.meta.committed_runs(stored);
        self.cache.put_tab(tab, runs.clone());
        Ok(runs)
    }

    /// Whether `(tab, seq)` is indexed.
    fn contains(
        &mut self,
        store: &impl KvStore,
        tab: &str,
        seq: u64,
    ) -> Result<bool, HistoryError> {
        if let Some(runs) = self.cache.tab(tab) {
            return Ok(runs.doc_of(seq).is_some());
        }
        Ok(self.tab_runs(store, tab)?.doc_of(seq).is_some())
    }

    /// The row of committed doc `id`, cached.
    fn doc(&mut self, store: &impl KvStore, id: u32) -> Result<Option<HistoryDoc>, HistoryError> {
        if let Some(doc) = self.cache.doc(id) {
            return Ok(Some(doc.clone()));
        }
        let key = doc_key(id);
        let doc = match store.get(&key)? {
            Some(bytes) => Some(decode_doc(&bytes).ok_or(HistoryError::Corrupt(key))?),
            None => None,
        };
        if let Some(doc) = &doc {
            self.cache.put_doc(id, doc.clone());
        }
        Ok(doc)
    }

    /// Every committed posting of `term`, from the store (one range read), by group.
    fn read_term(&self, store: &impl KvStore, term: &str) -> Result<TermCache, HistoryError> {
        let prefix = term_prefix(term);
        let chunks = store.range(&prefix, &prefix_end(&prefix), false, usize::MAX)?;
        let mut blocks: Vec<(u32, Vec<Posting>)> = Vec::new();
        decode_chunks(chunks, &prefix, |group, mut postings| {
            self.meta.keep_committed(&mut postings);
            if postings.is_empty() {
                return;
            }
            match blocks.last_mut() {
                Some(last) if last.0 == group => last.1.extend(postings),
                _ => blocks.push((group, postings)),
            }
        })?;
        Ok(TermCache {
            blocks,
            complete: true,
        })
    }

    /// Calls `f` with all committed postings of `term` (from the cache, or read and cached).
    fn with_postings(
        &mut self,
        store: &impl KvStore,
        term: &str,
        f: impl FnOnce(&[&[Posting]]),
    ) -> Result<(), HistoryError> {
        if let Some(cached) = self.cache.term(term).filter(|c| c.complete) {
            f(&cached.slices());
            return Ok(());
        }
        let loaded = self.read_term(store, term)?;
        f(&loaded.slices());
        self.cache.put_term(term, loaded);
        Ok(())
    }

    /// The stored chunks of `term` in `group`, in key order: its format-1 block if it may have
    /// one, then its pieces.
    fn group_chunks(
        &self,
        store: &impl KvStore,
        term: &str,
        group: u32,
    ) -> Result<Vec<(String, Vec<u8>)>, HistoryError> {
        let mut chunks = Vec::new();
        let start = group.saturating_mul(BLOCK_DOCS);
        if start < self.meta.legacy {
            let key = block_key(term, group);
            if let Some(bytes) = store.get(&key)? {
                chunks.push((key, bytes));
            }
        }
        let end = match start.checked_add(BLOCK_DOCS) {
            Some(end) => piece_key(term, end),
            None => prefix_end(&term_prefix(term)),
        };
        chunks.extend(store.range(&piece_key(term, start), &end, false, usize::MAX)?);
        Ok(chunks)
    }

    /// Cleans an interrupted update's leftovers, if the store may hold any (see the module
    /// docs). Idempotent: a failure leaves what a later call can finish.
    fn recover(&mut self, store: &mut impl KvStore) -> Result<(), HistoryError> {
        if !self.unclean {
            return Ok(());
        }
        // The stored meta is the truth: a write reported as failed may have landed after all.
        let mut stored = read_meta(store)?;
        // What is known of format-1 blocks in memory stays known (a format-1 meta reads as
        // "anywhere").
        stored.legacy = stored.legacy.min(self.meta.legacy);
        if stored != self.meta {
            self.meta = stored;
            self.cache.clear();
        }
        let mut leftovers =
            read_rows(store, &doc_key(self.meta.next_doc), &prefix_end(DOC_PREFIX))?;
        for &(start, end) in &self.meta.dead {
            leftovers.extend(read_rows(store, &doc_key(start), &doc_key(end))?);
        }
        self.clean(store, &leftovers)?;
        self.end_cleanup(store)
    }

    /// Clears `dead` once its chunks are clean, and marks the store clean.
    fn end_cleanup(&mut self, store: &mut impl KvStore) -> Result<(), HistoryError> {
        // Clean: no chunk holds a doc id at or above `next_doc`, format-1 blocks included.
        self.meta.legacy = self.meta.legacy.min(self.meta.next_doc);
        if !self.meta.dead.is_empty() {
            let meta = Meta {
                dead: Vec::new(),
                ..self.meta.clone()
            };
            put_json(store, META_KEY, &meta)?;
            self.meta = meta;
        }
        self.unclean = false;
        Ok(())
    }

    /// Removes the uncommitted doc ids `rows` from the store: from every chunk of their terms'
    /// groups (each chunk filtered as stored, so an interrupted merge's copies go too), from
    /// their tabs' runs, the dictionary markers of terms left without postings, then the rows
    /// themselves (last, since they are what finds the rest).
    fn clean(
        &mut self,
        store: &mut impl KvStore,
        rows: &[(u32, HistoryDoc)],
    ) -> Result<(), HistoryError> {
        let mut groups = BTreeSet::new();
        let mut tabs = BTreeSet::new();
        for (id, doc) in rows {
            let (counts, _) = term_counts(&doc.text);
            groups.extend(counts.into_keys().map(|t| (t, group_of(*id))));
            tabs.insert(doc.tab_id.as_str());
        }
        let mut emptied = BTreeSet::new();
        for (term, group) in groups {
            let prefix = term_prefix(&term);
            for (key, bytes) in self.group_chunks(store, &term, group)? {
                let chunk = Chunk::parse(&key, &prefix)
                    .ok_or_else(|| HistoryError::Corrupt(key.clone()))?;
                let mut postings = chunk
                    .decode(&bytes)
                    .ok_or_else(|| HistoryError::Corrupt(key.clone()))?;
                let before = postings.len();
                postings.retain(|p| self.meta.is_committed(p.doc));
                if postings.len() == before {
                    continue;
                }
                if postings.is_empty() {
                    store.delete(&key)?;
                    emptied.insert(term.clone());
                } else {
                    let base = match chunk {
                        Chunk::Block(block) => block,
                        Chunk::Piece(_) => 0,
                    };
                    store.put(&key, &encode_block(base, &postings))?;
                }
            }
        }
        for term in emptied {
            let prefix = term_prefix(&term);
            if store
                .range(&prefix, &prefix_end(&prefix), false, 1)?
                .is_empty()
            {
                store.delete(&dict_key(&term))?;
            }
        }
        for tab in tabs {
            let key = tab_key(tab);
            let Some(stored) = get_json::<TabRuns>(store, &key)? else {
                continue;
            };
            let runs = stored.restricted(self.meta.next_doc, &self.meta.dead);
            if runs == stored {
                continue;
            }
            if runs.is_empty() {
                store.delete(&key)?;
            } else {
                put_json(store, &key, &runs)?;
            }
        }
        for (id, _) in rows {
            store.delete(&doc_key(*id))?;
        }
        Ok(())
    }

    /// Plans the merge of `term`'s chunks in its last group before `first_new`, if that group
    /// has several (see the module docs): one short reverse range read in the usual case.
    /// Also says whether the term has no chunk at all (a new term needs its dictionary marker).
    fn plan_merge(
        &self,
        store: &impl KvStore,
        term: &str,
        first_new: u32,
    ) -> Result<(Option<PlannedMerge>, bool), HistoryError> {
        let prefix = term_prefix(term);
        let current = match first_new.checked_mul(BLOCK_DOCS) {
            Some(start) => piece_key(term, start),
            None => prefix_end(&prefix),
        };
        // The newest chunks before the batch's first group (that group may have pieces already).
        let tail = store.range(&prefix, &current, true, MERGE_AT)?;
        if tail.is_empty() {
            let none = store
                .range(&current, &prefix_end(&prefix), false, 1)?
                .is_empty();
            return Ok((None, none));
        }
        let groups: Vec<u32> = tail
            .iter()
            .map(|(key, _)| Chunk::parse(key, &prefix).map(Chunk::group))
            .collect::<Option<_>>()
            .ok_or_else(|| HistoryError::Corrupt(prefix.clone()))?;
        let Some(&last) = groups.first() else {
            return Ok((None, false));
        };
        if groups.len() < MERGE_AT || last >= first_new || groups.iter().any(|&g| g != last) {
            return Ok((None, false));
        }
        let chunks = self.group_chunks(store, term, last)?;
        let mut keys: Vec<String> = chunks.iter().map(|(key, _)| key.clone()).collect();
        let mut postings = Vec::new();
        decode_chunks(chunks, &prefix, |_, p| postings.extend(p))?;
        let Some(key) = keys.pop() else {
            return Ok((None, false));
        };
        if !matches!(Chunk::parse(&key, &prefix), Some(Chunk::Piece(_))) {
            return Ok((None, false));
        }
        Ok((
            Some(PlannedMerge {
                key,
                postings,
                delete: keys,
            }),
            false,
        ))
    }

    /// Indexes `docs` and writes the touched chunks; a `(tab_id, seq)` already indexed (or
    /// repeated in `docs`) is skipped, so a retried flush writes nothing. Returns how many were
    /// added.
    ///
    /// All or nothing: on an error the index (in memory, and as read from the store) is as
    /// before the call, and retrying the same batch later indexes each message once.
    ///
    /// Errors: [`HistoryError::Storage`] when the store fails, [`HistoryError::Corrupt`] when a
    /// chunk does not decode.
    pub fn add(
        &mut self,
        store: &mut impl KvStore,
        docs: &[HistoryDoc],
    ) -> Result<usize, HistoryError> {
        self.recover(store)?;
        // Plan: the new meta, rows, tab runs and blocks, computed without changing anything.
        let mut meta = self.meta.clone();
        let mut tabs: BTreeMap<&str, (TabRuns, bool)> = BTreeMap::new();
        let mut rows: Vec<(u32, &HistoryDoc)> = Vec::new();
        let mut new_postings: BTreeMap<(String, u32), Vec<Posting>> = BTreeMap::new();
        for doc in docs {
            let tab = doc.tab_id.as_str();
            if !tabs.contains_key(tab) {
                let runs = self.tab_runs(store, tab)?;
                tabs.insert(tab, (runs, false));
            }
            let Some((runs, touched)) = tabs.get_mut(tab) else {
                continue;
            };
            if runs.doc_of(doc.seq).is_some() {
                continue;
            }
            let id = meta.next_doc;
            meta.next_doc = id.checked_add(1).ok_or_else(|| {
                HistoryError::Corrupt("doc id space exhausted (u32::MAX documents)".into())
            })?;
            runs.insert(doc.seq, id);
            *touched = true;
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
            rows.push((id, doc));
            meta.live_docs += 1;
            meta.total_len += u64::from(len);
        }
        if rows.is_empty() {
            return Ok(0);
        }
        meta.v = FORMAT_VERSION;
        // One piece per (term, group) of the batch; per term, one look at its newest chunks.
        let mut pieces = Vec::with_capacity(new_postings.len());
        let mut merges = Vec::new();
        let mut new_terms = BTreeSet::new();
        let mut last_term: Option<String> = None;
        for ((term, _), postings) in new_postings {
            if last_term.as_deref() != Some(term.as_str()) {
                let first_new = postings.first().map_or(0, |p| group_of(p.doc));
                let (merge, new) = self.plan_merge(store, &term, first_new)?;
                merges.extend(merge);
                if new {
                    new_terms.insert(term.clone());
                }
                last_term = Some(term.clone());
            }
            let Some(last) = postings.last().map(|p| p.doc) else {
                continue;
            };
            pieces.push(PlannedPiece {
                term,
                last,
                postings,
            });
        }
        tabs.retain(|_, (_, touched)| *touched);
        if let Err(err) = Self::write_add(store, &rows, &pieces, &new_terms, &merges, &tabs, &meta)
        {
            self.unclean = true;
            return Err(err);
        }
        // Committed: apply the same state in memory (a merge changes no posting).
        self.meta = meta;
        for (tab, (runs, _)) in tabs {
            self.cache.put_tab(tab, runs);
        }
        for piece in pieces {
            let create = new_terms.contains(&piece.term);
            let group = group_of(piece.last);
            self.cache.update_term(&piece.term, create, |entry| {
                let mut merged = entry.block(group).cloned().unwrap_or_default();
                merged.extend(piece.postings);
                entry.set_block(group, merged);
            });
        }
        Ok(rows.len())
    }

    /// The writes of an add, commit (meta) last; see the module docs for why in this order.
    fn write_add(
        store: &mut impl KvStore,
        rows: &[(u32, &HistoryDoc)],
        pieces: &[PlannedPiece],
        new_terms: &BTreeSet<String>,
        merges: &[PlannedMerge],
        tabs: &BTreeMap<&str, (TabRuns, bool)>,
        meta: &Meta,
    ) -> Result<(), HistoryError> {
        for (id, doc) in rows {
            store.put(&doc_key(*id), &encode_doc(doc))?;
        }
        for piece in pieces {
            let bytes = encode_block(0, &piece.postings);
            store.put(&piece_key(&piece.term, piece.last), &bytes)?;
        }
        for term in new_terms {
            store.put(&dict_key(term), b"")?;
        }
        for merge in merges {
            store.put(&merge.key, &encode_block(0, &merge.postings))?;
            // Newest first: until a chunk is deleted, the merged one only stands for the doc ids
            // above every remaining chunk, so each deletion hands it exactly the ids it drops.
            for key in merge.delete.iter().rev() {
                store.delete(key)?;
            }
        }
        for (tab, (runs, _)) in tabs {
            put_json(store, &tab_key(tab), runs)?;
        }
        put_json(store, META_KEY, meta)
    }

    /// Removes every message of `tab_id`: its rows, its postings (blocks rewritten or deleted),
    /// dictionary entries of terms left without postings, and its tab runs. Returns how many
    /// messages were removed; an unknown tab removes nothing and writes nothing.
    ///
    /// All or nothing: on an error nothing was removed (in memory and as read from the store).
    /// Once the removal is committed (one meta write) it returns `Ok` even if cleaning the
    /// chunks fails; the next update finishes that cleanup.
    pub fn remove_tab(
        &mut self,
        store: &mut impl KvStore,
        tab_id: &str,
    ) -> Result<u64, HistoryError> {
        self.recover(store)?;
        let runs = self.tab_runs(store, tab_id)?;
        if runs.is_empty() {
            return Ok(0);
        }
        let ranges = runs.doc_ranges();
        let mut rows = Vec::new();
        for &(start, end) in &ranges {
            rows.extend(read_rows(store, &doc_key(start), &doc_key(end))?);
        }
        let mut meta = self.meta.clone();
        let mut terms = BTreeSet::new();
        for (_, doc) in &rows {
            let (counts, len) = term_counts(&doc.text);
            terms.extend(counts.into_keys());
            meta.live_docs = meta.live_docs.saturating_sub(1);
            meta.total_len = meta.total_len.saturating_sub(u64::from(len));
        }
        meta.dead = merge_ranges(&meta.dead, &ranges);
        if let Err(err) = put_json(store, META_KEY, &meta) {
            self.unclean = true;
            return Err(err);
        }
        // Committed: the tab's doc ids are dead; drop them from what is cached.
        self.meta = meta;
        self.unclean = true;
        self.cache.put_tab(tab_id, TabRuns::default());
        for (id, _) in &rows {
            self.cache.remove_doc(*id);
        }
        for term in &terms {
            let meta = &self.meta;
            self.cache.update_term(term, false, |entry| {
                let blocks = std::mem::take(&mut entry.blocks);
                for (block, mut postings) in blocks {
                    meta.keep_committed(&mut postings);
                    entry.set_block(block, postings);
                }
            });
        }
        // Best effort: what fails here is finished by the next update (`recover`).
        if self.clean(store, &rows).is_ok() {
            let _ = self.end_cleanup(store);
        }
        Ok(rows.len() as u64)
    }

    /// The indexed terms longer than the query's prefix that start with it, first in byte order
    /// (enough to fill the expansions).
    fn prefix_candidates(
        &mut self,
        store: &impl KvStore,
        parsed: &ParsedQuery,
    ) -> Result<Vec<String>, HistoryError> {
        let Some(prefix) = parsed.prefix() else {
            return Ok(Vec::new());
        };
        let end = prefix_end(&dict_key(prefix));
        // Enough to fill the expansions after skipping the prefix and the query terms.
        let want = MAX_PREFIX_EXPANSIONS + parsed.terms.len() + 1;
        let mut from = dict_key(prefix);
        let mut out = Vec::new();
        loop {
            let page = store.range(&from, &end, false, want)?;
            let full = page.len() == want;
            for (key, _) in page {
                let Some(term) = key.strip_prefix(DICT_PREFIX) else {
                    continue;
                };
                // After an interrupted update, a marker may stand for uncommitted postings only.
                let mut committed = true;
                if self.unclean {
                    self.with_postings(store, term, |slices| committed = !slices.is_empty())?;
                }
                if committed {
                    out.push(term.to_owned());
                }
                // The next page starts right after this key.
                from = key.clone();
                from.push('\0');
            }
            if !full || out.len() >= want {
                return Ok(out);
            }
        }
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
            indexed.push(self.contains(store, &doc.tab_id, doc.seq)?);
        }
        let pending = Pending::new(extra, |i, _| indexed.get(i).copied().unwrap_or(false));
        let candidates = self.prefix_candidates(store, &parsed)?;
        let terms = expand_prefix(&parsed, candidates.iter().map(String::as_str), &pending);
        let allowed = match tab {
            Some(tab) => Some(self.tab_runs(store, tab)?.doc_ranges()),
            None => None,
        };
        let stats = CorpusStats {
            doc_count: self.meta.live_docs,
            total_len: self.meta.total_len,
            doc_id_bound: self.meta.next_doc,
        };
        let mut scorer = Scorer::new(stats, &pending, tab, allowed);
        for term in &terms {
            self.with_postings(store, term, |slices| scorer.add_term(term, slices))?;
        }
        let ranked = scorer.finish(limit);
        let mut results = Vec::with_capacity(ranked.top.len());
        for (score, doc) in ranked.top {
            match doc {
                DocRef::Indexed(id) => {
                    if let Some(doc) = self.doc(store, id)? {
                        results.push(hit(&doc, &terms, score));
                    }
                }
                DocRef::Pending(i) => {
                    if let Some(doc) = extra.get(i) {
                        results.push(hit(doc, &terms, score));
                    }
                }
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
    use crate::storage::{FaultyStore, MemoryStore};
    use proptest::prelude::*;

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

    fn assert_same(memory: &HistoryIndex, persistent: &mut PersistentIndex, store: &impl KvStore) {
        for q in QUERIES {
            for tab in [None, Some("t1"), Some("t2")] {
                assert_eq!(
                    memory.search(q, tab, 10, &[]).unwrap(),
                    persistent.search(store, q, tab, 10, &[]).unwrap(),
                    "query {q:?} tab {tab:?}"
                );
            }
        }
        assert_eq!(memory.len(), persistent.len());
    }

    /// Every key under `hx/`, with its value.
    fn dump(store: &impl KvStore) -> Vec<(String, Vec<u8>)> {
        store
            .range("hx/", &prefix_end("hx/"), false, usize::MAX)
            .unwrap()
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
    fn doc_rows_round_trip_in_binary_and_still_read_as_json() {
        let d = doc("tab-ü", 1 << 40, "héllo \"world\"\n東京");
        let bytes = encode_doc(&d);
        assert_eq!(decode_doc(&bytes), Some(d.clone()));
        // Shorter than the format-1 JSON row, which still decodes.
        let json = serde_json::to_vec(&d).unwrap();
        assert!(
            bytes.len() + 40 <= json.len(),
            "{} {}",
            bytes.len(),
            json.len()
        );
        assert_eq!(decode_doc(&json), Some(d));
        assert_eq!(decode_doc(&bytes[..5]), None);
        assert_eq!(decode_doc(&[DOC_ROW_V2, 0xff]), None);
        assert_eq!(decode_doc(b""), None);
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
        let mut reopened = PersistentIndex::open(&store).unwrap();
        assert!(reopened.cache.is_empty());
        reopened.search(&store, "zebra", None, 3, &[]).unwrap();
        assert_eq!(reopened.cache.terms(), ["zebra"]);
        assert!(reopened.cache.doc_count() <= 3);
    }

    #[test]
    fn a_flush_writes_only_the_chunks_it_touches() {
        let mut store = MemoryStore::new();
        let mut persistent = PersistentIndex::open(&store).unwrap();
        persistent.add(&mut store, &corpus(3000)).unwrap();
        let before = store.write_stats();
        // Two messages with 3 distinct terms, all existing (a new tab, so its runs are short):
        // 2 rows + 3 new pieces + 1 tab + 1 meta, and nothing already stored is rewritten.
        let batch = [doc("t3", 5000, "rust rust trait"), doc("t3", 5001, "zebra")];
        persistent.add(&mut store, &batch).unwrap();
        let after = store.write_stats();
        assert_eq!(after.write_ops - before.write_ops, 7);
        let written = after.bytes_written - before.bytes_written;
        assert!(written < 300, "{written}");
        // Retrying the same flush writes nothing.
        persistent.add(&mut store, &batch).unwrap();
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

    /// A batch with new terms (and new blocks) as well as existing ones, over three tabs.
    fn failing_batch() -> Vec<HistoryDoc> {
        let mut batch = corpus(1030)[1000..].to_vec();
        batch.push(doc("t3", 1, "ocelot zebra rust"));
        batch.push(doc("t1", 9000, "a brand new unique word"));
        batch
    }

    #[test]
    fn a_failed_add_changes_nothing_and_its_retry_indexes_once() {
        check_failed_add(&corpus(1000), 1000, &failing_batch());
    }

    #[test]
    fn a_failed_add_that_merges_a_finished_group_changes_nothing() {
        // Group 0 is written 100 messages at a time (several pieces per term), and every term
        // of the batch first shows up in group 1, so the add merges group 0 of each of them.
        let mut batch = corpus(1054)[1024..].to_vec();
        batch.push(doc("t3", 1, "ocelot zebra rust"));
        let mut s = MemoryStore::new();
        let mut p = PersistentIndex::open(&s).unwrap();
        for chunk in corpus(1024).chunks(100) {
            p.add(&mut s, chunk).unwrap();
        }
        let before = s.write_stats().write_ops;
        p.add(&mut s, &batch).unwrap();
        let writes = s.write_stats().write_ops - before;
        assert!(writes > 100, "merges: {writes} writes");
        assert!(!dump(&s)
            .iter()
            .any(|(k, _)| k.starts_with("hx/t/rust p000001")));
        assert_eq!(
            dump(&s)
                .iter()
                .filter(|(k, _)| k.starts_with("hx/t/rust p000003"))
                .count(),
            1,
            "group 0 of `rust` is one chunk"
        );
        check_failed_add(&corpus(1024), 100, &batch);
    }

    /// Adds `base` in batches of `base_batch`, then fails `batch` at every write position.
    fn check_failed_add(base: &[HistoryDoc], base_batch: usize, batch: &[HistoryDoc]) {
        let other = [
            doc("t4", 1, "zebra crossing ocelot"),
            doc("t2", 7000, "rust"),
        ];
        let mut memory_before = HistoryIndex::new();
        memory_before.add(base).unwrap();
        let mut memory_after = memory_before.clone();
        memory_after.add(batch).unwrap();
        let mut memory_other = memory_before.clone();
        memory_other.add(&other).unwrap();
        let mut memory_both = memory_other.clone();
        memory_both.add(batch).unwrap();

        let mut store = FaultyStore::default();
        let mut p = PersistentIndex::open(&store).unwrap();
        for chunk in base.chunks(base_batch) {
            p.add(&mut store, chunk).unwrap();
        }
        let (writes, clean) = {
            let mut s = store.clone();
            let before = s.write_stats().write_ops;
            PersistentIndex::open(&s)
                .unwrap()
                .add(&mut s, batch)
                .unwrap();
            (s.write_stats().write_ops - before, dump(&s))
        };
        assert!(writes > batch.len() as u64, "{writes}");
        for k in 0..writes {
            let mut s = store.clone();
            let mut p = PersistentIndex::open(&s).unwrap();
            assert_same(&memory_before, &mut p, &s); // warm the caches first
            s.crash_after(k as usize);
            assert!(p.add(&mut s, batch).is_err(), "write {k} failed");
            s.restart();
            // The live index and one reopened over what was written both answer as before.
            assert_same(&memory_before, &mut p, &s);
            assert_same(&memory_before, &mut PersistentIndex::open(&s).unwrap(), &s);
            // Another batch may come first (it reuses the doc ids the failed call had taken).
            let mut s2 = s.clone();
            let mut p2 = PersistentIndex::open(&s2).unwrap();
            assert_eq!(p2.add(&mut s2, &other).unwrap(), other.len());
            assert_same(&memory_other, &mut p2, &s2);
            assert_eq!(p2.add(&mut s2, batch).unwrap(), batch.len());
            assert_same(&memory_both, &mut p2, &s2);
            // The retry indexes every message of the batch, once.
            assert_eq!(
                p.add(&mut s, batch).unwrap(),
                batch.len(),
                "retry after {k}"
            );
            assert_same(&memory_after, &mut p, &s);
            assert_eq!(p.add(&mut s, batch).unwrap(), 0);
            let mut reopened = PersistentIndex::open(&s).unwrap();
            assert_same(&memory_after, &mut reopened, &s);
            // Storage ends up as if nothing had failed.
            assert_eq!(dump(&s), clean, "after failing write {k}");
        }
    }

    #[test]
    fn a_failed_remove_tab_changes_nothing_or_everything_and_is_finished_later() {
        // Tab t1 has a few messages spread over two blocks (every write position is tried).
        let base: Vec<HistoryDoc> = corpus(1100)
            .into_iter()
            .map(|mut d| {
                d.tab_id = if d.seq % 50 == 0 { "t1" } else { "t2" }.into();
                d
            })
            .collect();
        let mut memory_before = HistoryIndex::new();
        memory_before.add(&base).unwrap();
        let mut memory_after = memory_before.clone();
        let removed = memory_after.remove_tab("t1");
        let mut store = FaultyStore::default();
        PersistentIndex::open(&store)
            .unwrap()
            .add(&mut store, &base)
            .unwrap();
        let mut clean = store.clone();
        let mut p = PersistentIndex::open(&clean).unwrap();
        let before = clean.write_stats().write_ops;
        assert_eq!(p.remove_tab(&mut clean, "t1").unwrap(), removed);
        let writes = clean.write_stats().write_ops - before;
        for k in 0..writes {
            let mut s = store.clone();
            let mut p = PersistentIndex::open(&s).unwrap();
            assert_same(&memory_before, &mut p, &s);
            s.crash_after(k as usize);
            let result = p.remove_tab(&mut s, "t1");
            s.restart();
            // Either the removal did not happen at all, or it is complete from the outside.
            let expected = match result {
                Ok(n) => {
                    assert_eq!(n, removed);
                    &memory_after
                }
                Err(_) => &memory_before,
            };
            assert_same(expected, &mut p, &s);
            assert_same(expected, &mut PersistentIndex::open(&s).unwrap(), &s);
            let again = p.remove_tab(&mut s, "t1").unwrap();
            assert_eq!(again, if result.is_ok() { 0 } else { removed }, "{k}");
            assert_same(&memory_after, &mut p, &s);
            assert_same(&memory_after, &mut PersistentIndex::open(&s).unwrap(), &s);
            assert_eq!(dump(&s), dump(&clean), "after failing write {k}");
        }
    }

    #[test]
    fn a_tiny_cache_keeps_under_its_budget_and_changes_no_answer() {
        const BUDGET: usize = 8 * 1024;
        let docs = corpus(2600);
        let mut store = MemoryStore::new();
        let mut memory = HistoryIndex::new();
        let mut persistent = PersistentIndex::open_with_budget(&store, BUDGET).unwrap();
        let mut peak = 0;
        let mut check = |persistent: &PersistentIndex| {
            assert!(persistent.resident_bytes() <= BUDGET);
            peak = peak.max(persistent.resident_bytes());
        };
        for (i, batch) in docs.chunks(40).enumerate() {
            memory.add(batch).unwrap();
            persistent.add(&mut store, batch).unwrap();
            check(&persistent);
            if i % 16 == 0 {
                assert_same(&memory, &mut persistent, &store);
                check(&persistent);
            }
        }
        let pending = [doc("t3", 1, "ocelot rust"), doc("t1", 5000, "cafeteria")];
        for q in QUERIES.iter().chain(&["oce", "cafet"]) {
            for tab in [None, Some("t1"), Some("t3")] {
                assert_eq!(
                    memory.search(q, tab, 10, &pending).unwrap(),
                    persistent.search(&store, q, tab, 10, &pending).unwrap(),
                    "{q} {tab:?}"
                );
                check(&persistent);
            }
        }
        assert_eq!(
            persistent.remove_tab(&mut store, "t1").unwrap(),
            memory.remove_tab("t1")
        );
        check(&persistent);
        assert_same(&memory, &mut persistent, &store);
        let again = [doc("t1", 1, "rust again"), doc("t1", 2, "zebra")];
        memory.add(&again).unwrap();
        persistent.add(&mut store, &again).unwrap();
        check(&persistent);
        assert_same(&memory, &mut persistent, &store);
        check(&persistent);
        let mut reopened = PersistentIndex::open_with_budget(&store, BUDGET).unwrap();
        assert_same(&memory, &mut reopened, &store);
        check(&reopened);
        // The cache was used, not just bypassed.
        assert!(peak > BUDGET / 2, "{peak}");
    }

    #[test]
    fn cache_accounting_matches_a_hand_computed_size() {
        assert_eq!(size_of::<usize>(), 8, "hand-computed for 64-bit");
        let mut postings = Vec::with_capacity(100);
        postings.extend((0..3).map(|doc| Posting { doc, tf: 1, dl: 4 }));
        let term = TermCache {
            blocks: vec![(0, postings)],
            complete: true,
        };
        let mut cache = Cache::new(1 << 20);
        cache.put_term("rust", term);
        // Spare capacity is dropped first: 3 postings of 12 bytes in one block slot of 32
        // (u32, padding, Vec), the 4-byte key, the inline key and slot, lru's 33 bytes.
        assert_eq!(size_of::<(u32, Vec<Posting>)>(), 32);
        let inline = LRU_ENTRY_OVERHEAD + size_of::<CacheKey>() + size_of::<Slot>();
        assert_eq!(cache.bytes, inline + 4 + 32 + 3 * 12);
        cache.put_doc(7, doc("tab", 1, "hello"));
        assert_eq!(cache.bytes, 2 * inline + 4 + 32 + 36 + 3 + 4 + 5);
        // Replacing and removing keep the count exact.
        cache.put_doc(7, doc("tab", 1, "hi"));
        assert_eq!(cache.bytes, 2 * inline + 4 + 32 + 36 + 3 + 4 + 2);
        cache.remove_doc(7);
        cache.update_term("rust", false, |t| t.set_block(0, Vec::new()));
        assert_eq!(cache.bytes, inline + 4);
    }

    #[test]
    fn the_cache_evicts_least_recently_used_and_refuses_oversized_entries() {
        let one = {
            let mut c = Cache::new(1 << 20);
            c.put_doc(0, doc("t", 1, "0123456789"));
            c.bytes
        };
        let mut cache = Cache::new(4 * one + 10);
        for id in 0..4 {
            cache.put_doc(id, doc("t", 1, "0123456789"));
        }
        assert!(cache.doc(0).is_some()); // 0 is now the most recent; 1 is the LRU
        cache.put_doc(4, doc("t", 1, "0123456789"));
        assert!(cache.doc(1).is_none());
        assert!(cache.doc(0).is_some() && cache.doc(4).is_some());
        assert_eq!(cache.bytes, 4 * one);
        // Above a quarter of the budget: not kept, nothing evicted.
        cache.put_doc(9, doc("t", 1, "0123456789abc"));
        assert!(cache.doc(9).is_none());
        assert_eq!(cache.doc_count(), 4);
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
                let row: HistoryDoc = decode_doc(&value).unwrap();
                assert_eq!(row.tab_id, "t2");
            }
        }
    }

    /// Writes `docs` as format 1 did (JSON rows, whole blocks of [`BLOCK_DOCS`] doc ids, a
    /// version-1 meta), one doc id per message from 0; the last `uncommitted` messages are
    /// written but left above `next_doc`, like an add interrupted before its commit.
    fn write_format_1(store: &mut impl KvStore, docs: &[HistoryDoc], uncommitted: usize) {
        let committed = docs.len() - uncommitted;
        let mut blocks: BTreeMap<(String, u32), Vec<Posting>> = BTreeMap::new();
        let mut tabs: BTreeMap<&str, TabRuns> = BTreeMap::new();
        let mut total_len = 0;
        for (id, d) in docs.iter().enumerate() {
            let id = id as u32;
            let (counts, len) = term_counts(&d.text);
            for (term, tf) in counts {
                blocks
                    .entry((term, id / BLOCK_DOCS))
                    .or_default()
                    .push(Posting {
                        doc: id,
                        tf,
                        dl: len,
                    });
            }
            tabs.entry(d.tab_id.as_str()).or_default().insert(d.seq, id);
            put_json(store, &doc_key(id), d).unwrap();
            if (id as usize) < committed {
                total_len += u64::from(len);
            }
        }
        for ((term, block), postings) in blocks {
            store
                .put(&block_key(&term, block), &encode_block(block, &postings))
                .unwrap();
            store.put(&dict_key(&term), b"").unwrap();
        }
        for (tab, runs) in tabs {
            put_json(store, &tab_key(tab), &runs).unwrap();
        }
        let meta = format!(
            r#"{{"v":1,"next_doc":{committed},"live_docs":{committed},"total_len":{total_len}}}"#
        );
        store.put(META_KEY, meta.as_bytes()).unwrap();
    }

    #[test]
    fn a_format_1_store_opens_searches_and_updates_in_format_2() {
        let docs = corpus(2600);
        let (old, new) = docs.split_at(1500);
        for uncommitted in [0, 30] {
            let mut store = MemoryStore::new();
            write_format_1(&mut store, &docs[..old.len() + uncommitted], uncommitted);
            let mut memory = HistoryIndex::new();
            memory.add(old).unwrap();
            let mut persistent = PersistentIndex::open(&store).unwrap();
            assert_same(&memory, &mut persistent, &store);
            assert_eq!(
                persistent.search(&store, "rust", None, 3, &[]).unwrap(),
                memory.search("rust", None, 3, &[]).unwrap()
            );
            // New batches go to pieces next to the old blocks (group 1 holds both), and merging
            // group 1 folds its old block in.
            for batch in new.chunks(10) {
                memory.add(batch).unwrap();
                persistent.add(&mut store, batch).unwrap();
            }
            assert_same(&memory, &mut persistent, &store);
            let meta: Meta = get_json(&store, META_KEY).unwrap().unwrap();
            assert_eq!((meta.v, meta.legacy), (2, 1500));
            let keys: Vec<String> = dump(&store).into_iter().map(|(k, _)| k).collect();
            assert!(
                keys.contains(&"hx/t/rust 00000000".to_owned()),
                "group 0 kept"
            );
            assert!(
                !keys.contains(&"hx/t/rust 00000001".to_owned()),
                "group 1 merged"
            );
            // A tab with messages in both formats is removed everywhere.
            assert_eq!(
                persistent.remove_tab(&mut store, "t1").unwrap(),
                memory.remove_tab("t1")
            );
            assert_same(&memory, &mut persistent, &store);
            let mut reopened = PersistentIndex::open(&store).unwrap();
            assert_same(&memory, &mut reopened, &store);
            for (key, value) in dump(&store) {
                if key.starts_with(DOC_PREFIX) {
                    assert_eq!(decode_doc(&value).unwrap().tab_id, "t2");
                }
            }
        }
    }

    /// A small vocabulary with shared prefixes, so terms collide and prefix expansion matters.
    const PROP_WORDS: [&str; 10] = [
        "rust",
        "rusty",
        "rustacean",
        "cache",
        "cached",
        "caching",
        "zebra",
        "東京",
        "42",
        "ok",
    ];

    #[derive(Debug, Clone)]
    enum Op {
        Add(Vec<HistoryDoc>),
        Remove(String),
        Search(String, Option<String>, Vec<HistoryDoc>),
        Reopen,
        /// Like `Add` / `Remove`, with every write after the first `k` failing.
        FailingAdd(u64, Vec<HistoryDoc>),
        FailingRemove(u64, String),
        /// Many messages in batches of 50, so doc ids cross groups and merges happen.
        Bulk(u64, u16),
    }

    /// `count` messages from `seed` over tabs t0..t2 (seqs far from `prop_docs`' 1..12).
    fn bulk_docs(seed: u64, count: u16) -> Vec<HistoryDoc> {
        let mut x = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (0..u64::from(count))
            .map(|i| {
                let mut words = Vec::new();
                for _ in 0..(1 + i % 4) {
                    x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                    words.push(PROP_WORDS[((x >> 33) % 10) as usize]);
                }
                let seq = 100 + (seed % 1000) * 1000 + i;
                doc(&format!("t{}", i % 3), seq, &words.join(" "))
            })
            .collect()
    }

    fn prop_docs() -> impl Strategy<Value = Vec<HistoryDoc>> {
        proptest::collection::vec(
            (
                0u8..3,
                1u64..12,
                proptest::collection::vec(0usize..10, 1..6),
            ),
            0..8,
        )
        .prop_map(|raw| {
            raw.into_iter()
                .map(|(tab, seq, words)| {
                    let text: Vec<&str> = words.iter().map(|&w| PROP_WORDS[w]).collect();
                    doc(&format!("t{tab}"), seq, &text.join(" "))
                })
                .collect()
        })
    }

    fn prop_op() -> impl Strategy<Value = Op> {
        let tab = (0u8..4).prop_map(|t| format!("t{t}"));
        let query = proptest::collection::vec(0usize..10, 1..3).prop_flat_map(|words| {
            let q: Vec<&str> = words.iter().map(|&w| PROP_WORDS[w]).collect();
            let q = q.join(" ");
            // Sometimes only the start of the last word, to exercise prefix expansion.
            (0usize..3).prop_map(move |cut| {
                let keep = q.chars().count().saturating_sub(cut).max(1);
                q.chars().take(keep).collect::<String>()
            })
        });
        prop_oneof![
            4 => prop_docs().prop_map(Op::Add),
            1 => tab.clone().prop_map(Op::Remove),
            4 => (query, proptest::option::of(tab.clone()), prop_docs())
                .prop_map(|(q, t, p)| Op::Search(q, t, p)),
            1 => Just(Op::Reopen),
            2 => (0u64..40, prop_docs()).prop_map(|(k, d)| Op::FailingAdd(k, d)),
            1 => (0u64..20, tab).prop_map(|(k, t)| Op::FailingRemove(k, t)),
            2 => (any::<u64>(), 200u16..900).prop_map(|(s, n)| Op::Bulk(s, n)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]
        /// Any sequence of updates (some failing midway), reopenings and searches, under any
        /// cache budget, answers like the in-memory index, and the cache stays within budget.
        #[test]
        fn random_operations_answer_like_the_memory_index(
            budget in prop_oneof![Just(0usize), 256usize..4096, Just(CACHE_BUDGET_BYTES)],
            ops in proptest::collection::vec(prop_op(), 1..30),
        ) {
            let mut store = FaultyStore::default();
            let mut persistent = PersistentIndex::open_with_budget(&store, budget).unwrap();
            let mut memory = HistoryIndex::new();
            for op in ops {
                match op {
                    Op::Add(docs) => {
                        let added = persistent.add(&mut store, &docs).unwrap();
                        prop_assert_eq!(added, memory.add(&docs).unwrap());
                    }
                    Op::Remove(tab) => {
                        let removed = persistent.remove_tab(&mut store, &tab).unwrap();
                        prop_assert_eq!(removed, memory.remove_tab(&tab));
                    }
                    Op::Search(q, tab, pending) => {
                        let a = persistent.search(&store, &q, tab.as_deref(), 10, &pending);
                        let b = memory.search(&q, tab.as_deref(), 10, &pending);
                        prop_assert_eq!(a, b, "{}", q);
                    }
                    Op::Bulk(seed, count) => {
                        for batch in bulk_docs(seed, count).chunks(50) {
                            let added = persistent.add(&mut store, batch).unwrap();
                            prop_assert_eq!(added, memory.add(batch).unwrap());
                        }
                    }
                    Op::Reopen => {
                        persistent = PersistentIndex::open_with_budget(&store, budget).unwrap();
                    }
                    Op::FailingAdd(k, docs) => {
                        store.crash_after(k as usize);
                        let result = persistent.add(&mut store, &docs);
                        store.restart();
                        if let Ok(added) = result {
                            prop_assert_eq!(added, memory.add(&docs).unwrap());
                        }
                    }
                    Op::FailingRemove(k, tab) => {
                        store.crash_after(k as usize);
                        let result = persistent.remove_tab(&mut store, &tab);
                        store.restart();
                        if let Ok(removed) = result {
                            prop_assert_eq!(removed, memory.remove_tab(&tab));
                        }
                    }
                }
                prop_assert!(persistent.resident_bytes() <= budget);
                prop_assert_eq!(persistent.len(), memory.len());
            }
            // Whatever failed on the way, a reopened index agrees too.
            let mut reopened = PersistentIndex::open_with_budget(&store, budget).unwrap();
            assert_same(&memory, &mut reopened, &store);
        }
    }
}
