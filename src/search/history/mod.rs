//! BM25 search over one user's chat messages (`GET /api/search?source=history`).
//!
//! - [`tokenize`]: the Unicode tokenizer shared by indexing, queries and snippets;
//! - [`bm25`]: the scoring functions (Lucene idf, K1 = 1.2, B = 0.75, as `bm25s` "lucene");
//! - [`index`]: [`HistoryIndex`], the whole inverted index in memory;
//! - [`persist`]: [`PersistentIndex`], the same index kept in a [`crate::storage::KvStore`] in
//!   small chunks that are loaded lazily; an update appends new chunks (merged once per finished
//!   group of doc ids), so its writes are proportional to the batch.
//!
//! Both indexes answer a query the same way (this module's shared steps): the query is validated
//! and tokenized ([`parse_query`]); messages not yet flushed to the index (`extra`) are prepared
//! once ([`Pending`]) and treated as part of the corpus; the last query term also matches the
//! terms it is a prefix of, indexed or pending ([`expand_prefix`]); a [`Scorer`] adds up each
//! term's BM25 scores, one term at a time; the top `limit` documents by score come back with a
//! snippet around their first matching word.

pub mod bm25;
pub mod index;
pub mod persist;
#[cfg(any(test, feature = "test-support"))]
pub mod synthetic;
pub mod tokenize;

use std::cmp::Ordering;
use std::collections::{BTreeSet, BinaryHeap, HashMap, HashSet};

use serde::Serialize;

use crate::api::{ErrorCode, HasErrorCode};
use crate::storage::StorageError;

pub use index::HistoryIndex;
pub use persist::PersistentIndex;

/// Longest accepted query, in chars: the one bound of `GET /api/search`'s `q`.
pub use crate::search::query::MAX_QUERY_CHARS;
/// Largest accepted `limit`.
pub const MAX_LIMIT: usize = 50;
/// Longest accepted tab id filter, in bytes.
pub const MAX_TAB_ID_BYTES: usize = 128;
/// The last query term only expands to longer terms when it has at least this many chars:
/// one letter would match a large share of the vocabulary and rank noise.
pub const MIN_PREFIX_CHARS: usize = 2;
/// At most this many terms (first in byte order, indexed or from pending messages) are added for
/// the last query term's prefix, which bounds a query's cost whatever the vocabulary.
pub const MAX_PREFIX_EXPANSIONS: usize = 32;
/// Snippet length, in chars, before the "…" marks.
pub const SNIPPET_CHARS: usize = 160;
/// Chars of context kept before the first match in a snippet.
const SNIPPET_LEAD_CHARS: usize = 60;

/// A message to index: identified by its tab and its sequence number within the tab.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, Serialize)]
pub struct HistoryDoc {
    /// The tab holding the message (opaque id).
    pub tab_id: String,
    /// The message's `seq` in its tab (starts at 1).
    pub seq: u64,
    /// `user`, `assistant`, `system` or `tool` (not interpreted here).
    pub role: String,
    /// The message content; what is searched and what snippets are cut from.
    pub text: String,
}

/// One search result, with the contract's field names.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct HistoryHit {
    /// Tab of the matching message.
    pub tab_id: String,
    /// The message's `seq` in that tab.
    pub seq: u64,
    /// The message's role.
    pub role: String,
    /// About [`SNIPPET_CHARS`] chars around the first matching word, "…" where cut.
    pub snippet: String,
    /// BM25 score (higher is better; only comparable within one query).
    pub score: f32,
}

/// The answer to a query: results best first, and how many messages matched in all.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct HistoryResults {
    /// Number of matching messages (within the tab filter), not capped by `limit`.
    pub total: u64,
    /// At most `limit` hits, by descending score; ties go to the most recently indexed.
    pub results: Vec<HistoryHit>,
}

/// Why a history search or index update failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HistoryError {
    /// `q` is empty.
    #[error("query parameter `q` is empty; send 1 to {MAX_QUERY_CHARS} characters")]
    EmptyQuery,
    /// `q` is longer than [`MAX_QUERY_CHARS`].
    #[error("query parameter `q` has {0} characters; send at most {MAX_QUERY_CHARS}")]
    QueryTooLong(usize),
    /// `q` holds no letter or digit to search for.
    #[error("query parameter `q` has no searchable word; include at least one letter or digit")]
    NoSearchableWords,
    /// `limit` is outside `1..=MAX_LIMIT`.
    #[error("query parameter `limit` must be in 1..={MAX_LIMIT}, got {0}")]
    LimitOutOfRange(usize),
    /// The `tab` filter is empty or too long.
    #[error("query parameter `tab` must be a tab id of 1 to {MAX_TAB_ID_BYTES} bytes")]
    InvalidTab,
    /// The storage backend failed; retrying later may help.
    #[error("history index storage failed: {0}")]
    Storage(#[from] StorageError),
    /// A stored chunk does not decode: a bug or a foreign write under the index's prefix.
    #[error("history index chunk `{0}` is corrupt; rebuild the index")]
    Corrupt(String),
}

impl HasErrorCode for HistoryError {
    fn error_code(&self) -> ErrorCode {
        match self {
            Self::EmptyQuery
            | Self::QueryTooLong(_)
            | Self::NoSearchableWords
            | Self::LimitOutOfRange(_)
            | Self::InvalidTab => ErrorCode::InvalidField,
            Self::Storage(_) | Self::Corrupt(_) => ErrorCode::Internal,
        }
    }
}

/// One entry of a term's postings: a document holding the term.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Posting {
    /// Internal dense document id.
    pub doc: u32,
    /// Occurrences of the term in the document (≥ 1).
    pub tf: u32,
    /// The document's length in terms (kept here so scoring needs no other lookup).
    pub dl: u32,
}

/// A validated query: its distinct terms, the last one separately for prefix expansion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedQuery {
    /// Distinct query terms in query order (the last term included).
    pub terms: Vec<String>,
    /// The last term typed, whose prefix expansion is added when long enough.
    pub last: String,
}

impl ParsedQuery {
    /// The prefix to expand, if the last term is long enough to be worth expanding.
    pub fn prefix(&self) -> Option<&str> {
        (self.last.chars().count() >= MIN_PREFIX_CHARS).then_some(self.last.as_str())
    }
}

/// Validates `q`, `limit` and `tab` (all map to `invalid_field`) and tokenizes `q`.
pub fn parse_query(q: &str, tab: Option<&str>, limit: usize) -> Result<ParsedQuery, HistoryError> {
    let chars = q.chars().count();
    if chars == 0 {
        return Err(HistoryError::EmptyQuery);
    }
    if chars > MAX_QUERY_CHARS {
        return Err(HistoryError::QueryTooLong(chars));
    }
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(HistoryError::LimitOutOfRange(limit));
    }
    if let Some(tab) = tab {
        if tab.is_empty() || tab.len() > MAX_TAB_ID_BYTES {
            return Err(HistoryError::InvalidTab);
        }
    }
    let mut seen = HashSet::new();
    let mut terms = Vec::new();
    let mut last = None;
    for term in tokenize::terms(q) {
        last = Some(term.clone());
        if seen.insert(term.clone()) {
            terms.push(term);
        }
    }
    let last = last.ok_or(HistoryError::NoSearchableWords)?;
    Ok(ParsedQuery { terms, last })
}

/// The query's full term list: its distinct terms, then up to [`MAX_PREFIX_EXPANSIONS`] longer
/// terms starting with the last one, first in byte order, drawn from `indexed` (the index's terms
/// with that prefix in byte order; more than the cap may be passed) and from the terms of the
/// `pending` messages, so a word stored a moment ago is found by its prefix like an indexed one.
pub fn expand_prefix<'a>(
    query: &ParsedQuery,
    indexed: impl IntoIterator<Item = &'a str>,
    pending: &'a Pending<'_>,
) -> Vec<String> {
    let mut all = query.terms.clone();
    let Some(prefix) = query.prefix() else {
        return all;
    };
    let qualifies = |t: &str| {
        t.len() > prefix.len() && t.starts_with(prefix) && !query.terms.iter().any(|q| q == t)
    };
    // Both sources in byte order: the first MAX of each hold the first MAX of their union.
    let mut candidates: BTreeSet<&str> = indexed
        .into_iter()
        .filter(|t| qualifies(t))
        .take(MAX_PREFIX_EXPANSIONS)
        .collect();
    candidates.extend(pending.terms().filter(|t| qualifies(t)));
    all.extend(
        candidates
            .into_iter()
            .take(MAX_PREFIX_EXPANSIONS)
            .map(str::to_owned),
    );
    all
}

/// The `(tab_id, seq)` → doc id map of one tab, as runs of consecutive seqs with consecutive
/// doc ids: a flush of one tab's messages is one run, so the map stays a few bytes per flush.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize, Serialize)]
pub struct TabRuns {
    /// `(first seq, first doc id, length)`, sorted by first seq, non-overlapping.
    pub runs: Vec<(u64, u32, u32)>,
}

impl TabRuns {
    /// The doc id of `seq`, if indexed.
    pub fn doc_of(&self, seq: u64) -> Option<u32> {
        let i = self.runs.partition_point(|r| r.0 <= seq).checked_sub(1)?;
        let (first, doc, len) = *self.runs.get(i)?;
        let offset = seq - first;
        (offset < u64::from(len)).then(|| doc + offset as u32)
    }

    /// Records `seq` → `doc`, extending the run it continues when possible.
    pub fn insert(&mut self, seq: u64, doc: u32) {
        let i = self.runs.partition_point(|r| r.0 <= seq);
        if let Some(prev) = i.checked_sub(1).and_then(|p| self.runs.get_mut(p)) {
            let (first, first_doc, len) = *prev;
            if first + u64::from(len) == seq && first_doc + len == doc {
                prev.2 += 1;
                return;
            }
        }
        self.runs.insert(i, (seq, doc, 1));
    }

    /// The tab's doc ids as sorted half-open ranges.
    pub fn doc_ranges(&self) -> Vec<(u32, u32)> {
        let mut ranges: Vec<(u32, u32)> = self.runs.iter().map(|r| (r.1, r.1 + r.2)).collect();
        ranges.sort_unstable();
        ranges
    }

    /// The runs cut to the doc ids below `bound` and outside the sorted disjoint `dead` ranges
    /// (seqs keep their doc ids; a run may split in pieces).
    pub fn restricted(&self, bound: u32, dead: &[(u32, u32)]) -> TabRuns {
        let mut runs = Vec::with_capacity(self.runs.len());
        for &(seq, doc, len) in &self.runs {
            let end = u32::try_from(u64::from(doc) + u64::from(len))
                .unwrap_or(u32::MAX)
                .min(bound);
            let mut start = doc;
            let mut piece = |from: u32, to: u32| {
                if from < to {
                    runs.push((seq + u64::from(from - doc), from, to - from));
                }
            };
            for &(dead_start, dead_end) in dead {
                if dead_end <= start {
                    continue;
                }
                if dead_start >= end {
                    break;
                }
                piece(start, dead_start.min(end));
                start = dead_end;
            }
            piece(start, end);
        }
        TabRuns { runs }
    }

    /// Number of indexed messages of the tab.
    pub fn len(&self) -> u64 {
        self.runs.iter().map(|r| u64::from(r.2)).sum()
    }

    /// Whether the tab has no indexed message.
    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }
}

/// Whether `doc` lies in one of the sorted half-open `ranges`.
fn in_ranges(ranges: &[(u32, u32)], doc: u32) -> bool {
    let i = ranges.partition_point(|r| r.0 <= doc);
    i.checked_sub(1)
        .and_then(|p| ranges.get(p))
        .is_some_and(|r| doc < r.1)
}

/// A pending message prepared for scoring: its term counts and length.
struct PendingDoc<'a> {
    /// Its position in the caller's `extra` slice.
    index: usize,
    doc: &'a HistoryDoc,
    counts: HashMap<String, u32>,
    len: u32,
}

/// The messages of a query that are not in the index yet (`extra`), prepared once per query for
/// both prefix expansion and scoring: those the index already holds and repeats of a
/// `(tab_id, seq)` are dropped (the first copy counts), the rest are tokenized.
///
/// Pending messages count in the corpus statistics (N, average length, document frequencies)
/// whatever the tab filter, like indexed ones, so a search gives the same scores before and after
/// the flush that indexes them.
pub struct Pending<'a> {
    docs: Vec<PendingDoc<'a>>,
}

impl<'a> Pending<'a> {
    /// `extra` without the messages for which `is_indexed(position, message)` holds.
    pub fn new(
        extra: &'a [HistoryDoc],
        mut is_indexed: impl FnMut(usize, &HistoryDoc) -> bool,
    ) -> Self {
        let mut seen = HashSet::new();
        let docs = extra
            .iter()
            .enumerate()
            .filter(|&(i, d)| !is_indexed(i, d) && seen.insert((d.tab_id.as_str(), d.seq)))
            .map(|(index, doc)| {
                let terms = tokenize::terms(&doc.text);
                let len = terms.len() as u32;
                let mut counts = HashMap::new();
                for t in terms {
                    *counts.entry(t).or_insert(0) += 1;
                }
                PendingDoc {
                    index,
                    doc,
                    counts,
                    len,
                }
            })
            .collect();
        Self { docs }
    }

    /// No pending message.
    pub fn none() -> Self {
        Self { docs: Vec::new() }
    }

    /// Number of pending messages kept.
    pub fn len(&self) -> usize {
        self.docs.len()
    }

    /// Whether no pending message is kept.
    pub fn is_empty(&self) -> bool {
        self.docs.is_empty()
    }

    /// Every term of every kept message (a term may repeat across messages).
    fn terms(&self) -> impl Iterator<Item = &str> {
        self.docs
            .iter()
            .flat_map(|p| p.counts.keys().map(String::as_str))
    }
}

/// Where a ranked document lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocRef {
    /// An indexed document, by internal id.
    Indexed(u32),
    /// `extra[i]` of the query.
    Pending(usize),
}

/// The ranking of one query before documents are fetched.
#[derive(Debug, Clone, PartialEq)]
pub struct Ranked {
    /// Matching documents within the filter.
    pub total: u64,
    /// Best first, at most `limit`.
    pub top: Vec<(f32, DocRef)>,
}

/// Statistics of the indexed documents, as the scorer needs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CorpusStats {
    /// Indexed documents.
    pub doc_count: u64,
    /// Sum of the indexed documents' lengths in terms.
    pub total_len: u64,
    /// One past the largest doc id in use (sizes the score array).
    pub doc_id_bound: u32,
}

/// BM25 scores of one query, accumulated one term at a time so an index only needs one term's
/// postings in memory at once; [`Scorer::finish`] keeps the best matches.
pub struct Scorer<'a> {
    pending: &'a Pending<'a>,
    tab: Option<&'a str>,
    /// Doc-id ranges of the tab filter (sorted), or `None` for all tabs.
    allowed: Option<Vec<(u32, u32)>>,
    doc_count: u64,
    total_len: u64,
    bound: usize,
    /// By doc id, then pending message `j` at `bound + j`.
    scores: Vec<f32>,
    touched: Vec<u32>,
}

impl<'a> Scorer<'a> {
    /// A scorer over the indexed documents described by `stats` plus `pending`, counting only
    /// matches in `tab` (whose indexed doc ids are the ranges `allowed`) when a tab is given.
    pub fn new(
        stats: CorpusStats,
        pending: &'a Pending<'a>,
        tab: Option<&'a str>,
        allowed: Option<Vec<(u32, u32)>>,
    ) -> Self {
        let bound = stats.doc_id_bound as usize;
        Self {
            pending,
            tab,
            allowed,
            doc_count: stats.doc_count + pending.len() as u64,
            total_len: stats.total_len + pending.docs.iter().map(|p| u64::from(p.len)).sum::<u64>(),
            bound,
            scores: vec![0f32; bound + pending.len()],
            touched: Vec::new(),
        }
    }

    /// Adds the scores of `term`, whose indexed postings are `slices` (disjoint doc ids; all of
    /// the term's postings, since they give its document frequency). Terms must come in the same
    /// order for two indexes to sum the same floats.
    pub fn add_term(&mut self, term: &str, slices: &[&[Posting]]) {
        let pending_df = self
            .pending
            .docs
            .iter()
            .filter(|p| p.counts.contains_key(term))
            .count();
        let df = slices.iter().map(|s| s.len()).sum::<usize>() + pending_df;
        if df == 0 {
            return;
        }
        let scorer = bm25::TermScorer::new(df as u64, self.doc_count, self.total_len);
        for slice in slices {
            for p in *slice {
                if let Some(allowed) = &self.allowed {
                    if !in_ranges(allowed, p.doc) {
                        continue;
                    }
                }
                if let Some(slot) = self.scores.get_mut(p.doc as usize) {
                    if *slot == 0.0 {
                        self.touched.push(p.doc);
                    }
                    *slot += scorer.score(p.tf, p.dl);
                }
            }
        }
        for (j, p) in self.pending.docs.iter().enumerate() {
            if self.tab.is_some_and(|t| t != p.doc.tab_id) {
                continue;
            }
            if let (Some(&tf), Some(slot)) =
                (p.counts.get(term), self.scores.get_mut(self.bound + j))
            {
                if *slot == 0.0 {
                    self.touched.push((self.bound + j) as u32);
                }
                *slot += scorer.score(tf, p.len);
            }
        }
    }

    /// The best `limit` matches, best first (ties to the larger id: the more recent message),
    /// and how many documents matched.
    pub fn finish(self, limit: usize) -> Ranked {
        // Min-heap of the best `limit` (score, id); a larger id (more recent) wins ties.
        #[derive(PartialEq)]
        struct Entry(f32, u32);
        impl Eq for Entry {}
        impl PartialOrd for Entry {
            fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
                Some(self.cmp(other))
            }
        }
        impl Ord for Entry {
            fn cmp(&self, other: &Self) -> Ordering {
                // Reversed so the heap's top is the weakest kept entry.
                other.0.total_cmp(&self.0).then(other.1.cmp(&self.1))
            }
        }
        let mut heap = BinaryHeap::with_capacity(limit + 1);
        for &id in &self.touched {
            let entry = Entry(self.scores.get(id as usize).copied().unwrap_or(0.0), id);
            if heap.len() < limit {
                heap.push(entry);
            } else if heap.peek().is_some_and(|weakest| entry < *weakest) {
                heap.pop();
                heap.push(entry);
            }
        }
        let top = heap
            .into_sorted_vec()
            .into_iter()
            .filter_map(|Entry(score, id)| {
                let id_usize = id as usize;
                let doc = if id_usize < self.bound {
                    DocRef::Indexed(id)
                } else {
                    DocRef::Pending(self.pending.docs.get(id_usize - self.bound)?.index)
                };
                Some((score, doc))
            })
            .collect();
        Ranked {
            total: self.touched.len() as u64,
            top,
        }
    }
}

/// About [`SNIPPET_CHARS`] chars of `text` around the first word whose term is in `terms`
/// (the start of the text when none is), cut on char boundaries with "…" where cut, and with
/// line breaks and tabs shown as spaces.
pub fn snippet(text: &str, terms: &[String]) -> String {
    let match_start = tokenize::tokenize(text)
        .into_iter()
        .find(|t| terms.contains(&t.term))
        .map_or(0, |t| t.start);
    let total_chars = text.chars().count();
    let match_char = text
        .get(..match_start)
        .map_or(0, |before| before.chars().count());
    let mut first = match_char.saturating_sub(SNIPPET_LEAD_CHARS);
    // Near the end, show a full window rather than a short tail.
    if first + SNIPPET_CHARS > total_chars {
        first = total_chars.saturating_sub(SNIPPET_CHARS);
    }
    let mut out = String::new();
    if first > 0 {
        out.push('…');
    }
    out.extend(text.chars().skip(first).take(SNIPPET_CHARS).map(|c| {
        if c == '\n' || c == '\r' || c == '\t' {
            ' '
        } else {
            c
        }
    }));
    if first + SNIPPET_CHARS < total_chars {
        out.push('…');
    }
    out
}

/// A result row from a ranked document.
pub fn hit(doc: &HistoryDoc, terms: &[String], score: f32) -> HistoryHit {
    HistoryHit {
        tab_id: doc.tab_id.clone(),
        seq: doc.seq,
        role: doc.role.clone(),
        snippet: snippet(&doc.text, terms),
        score,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_validation_maps_to_invalid_field() {
        let err = |q: &str, tab: Option<&str>, limit| parse_query(q, tab, limit).unwrap_err();
        assert_eq!(err("", None, 10), HistoryError::EmptyQuery);
        assert_eq!(
            err(&"a".repeat(401), None, 10),
            HistoryError::QueryTooLong(401)
        );
        assert_eq!(err("?! ...", None, 10), HistoryError::NoSearchableWords);
        assert_eq!(err("ok", None, 0), HistoryError::LimitOutOfRange(0));
        assert_eq!(err("ok", None, 51), HistoryError::LimitOutOfRange(51));
        assert_eq!(err("ok", Some(""), 5), HistoryError::InvalidTab);
        assert_eq!(
            err("", None, 1).error_code(),
            crate::api::ErrorCode::InvalidField
        );
        // 400 chars of "é" (800 bytes) are accepted: the bound is in chars.
        assert!(parse_query(&"é".repeat(400), None, 50).is_ok());
    }

    #[test]
    fn query_terms_are_distinct_and_the_last_is_the_prefix() {
        let q = parse_query("Rust rust BORROW che", None, 10).unwrap();
        assert_eq!(q.terms, ["rust", "borrow", "che"]);
        assert_eq!(q.prefix(), Some("che"));
        let none = Pending::none();
        let all = expand_prefix(&q, ["ch", "che", "cheap", "checker", "rust"], &none);
        assert_eq!(all, ["rust", "borrow", "che", "cheap", "checker"]);
        let short = parse_query("a", None, 10).unwrap();
        assert_eq!(expand_prefix(&short, ["ab"], &none), ["a"]);
        // Pending terms join the indexed ones in byte order, under the same cap.
        let extra = [HistoryDoc {
            tab_id: "t".into(),
            seq: 1,
            role: "user".into(),
            text: "Chemistry cheap".into(),
        }];
        let pending = Pending::new(&extra, |_, _| false);
        let all = expand_prefix(&q, ["cheap", "checker"], &pending);
        assert_eq!(
            all,
            ["rust", "borrow", "che", "cheap", "checker", "chemistry"]
        );
        let many: Vec<String> = (0..40).map(|i| format!("che{i:02}")).collect();
        let all = expand_prefix(&q, many.iter().map(String::as_str), &pending);
        assert_eq!(all.len(), 3 + MAX_PREFIX_EXPANSIONS);
        assert_eq!(all.last().map(String::as_str), Some("che31"));
    }

    #[test]
    fn tab_runs_map_seqs_to_docs_and_extend_runs() {
        let mut runs = TabRuns::default();
        for (seq, doc) in [(1, 10), (2, 11), (3, 12), (4, 20), (9, 30)] {
            runs.insert(seq, doc);
        }
        assert_eq!(runs.runs, [(1, 10, 3), (4, 20, 1), (9, 30, 1)]);
        assert_eq!(runs.doc_of(2), Some(11));
        assert_eq!(runs.doc_of(5), None);
        assert_eq!(runs.doc_of(0), None);
        assert_eq!(runs.doc_ranges(), [(10, 13), (20, 21), (30, 31)]);
        assert_eq!(runs.len(), 5);
    }

    #[test]
    fn restricted_tab_runs_drop_dead_and_uncommitted_doc_ids() {
        let runs = TabRuns {
            runs: vec![(1, 10, 5), (6, 20, 3), (20, 40, 4)],
        };
        assert_eq!(runs.restricted(100, &[]), runs);
        // Ids ≥ 42 uncommitted, 11..13 and 20..23 dead: runs split or vanish, seqs follow ids.
        let cut = runs.restricted(42, &[(11, 13), (20, 23)]);
        assert_eq!(cut.runs, [(1, 10, 1), (4, 13, 2), (20, 40, 2)]);
        assert_eq!(cut.doc_of(4), Some(13));
        assert_eq!(cut.doc_of(2), None);
        assert!(runs.restricted(10, &[]).is_empty());
    }

    #[test]
    fn snippets_center_on_the_first_match_and_mark_cuts() {
        let text = format!("{} needle {}", "début ".repeat(40), "fin ".repeat(60));
        let s = snippet(&text, &["needle".to_owned()]);
        assert!(s.starts_with('…') && s.ends_with('…'), "{s}");
        assert!(s.contains("needle"));
        assert_eq!(s.chars().count(), SNIPPET_CHARS + 2);
        // Short texts come back whole, line breaks as spaces.
        assert_eq!(snippet("a\nb", &["b".to_owned()]), "a b");
        // CJK and emoji are cut on char boundaries.
        let cjk = format!("{}東京{}", "😀".repeat(100), "語".repeat(200));
        let s = snippet(&cjk, &["京".to_owned()]);
        assert!(s.contains("東京") && s.starts_with("…😀"), "{s}");
    }
}
