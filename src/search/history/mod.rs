//! BM25 search over one user's chat messages (`GET /api/search?source=history`).
//!
//! - [`tokenize`]: the Unicode tokenizer shared by indexing, queries and snippets;
//! - [`bm25`]: the scoring functions (Lucene idf, K1 = 1.2, B = 0.75, as `bm25s` "lucene");
//! - [`index`]: [`HistoryIndex`], the whole inverted index in memory;
//! - [`persist`]: [`PersistentIndex`], the same index kept in a [`crate::storage::KvStore`] in
//!   small chunks that are loaded lazily and rewritten only where a batch touches them.
//!
//! Both indexes answer a query the same way (this module's shared steps): the query is validated
//! and tokenized ([`parse_query`]); its last term also matches the indexed terms it is a prefix
//! of ([`expand_prefix`]); messages not yet flushed to the index (`extra`) are scored together
//! with the indexed ones as if they were part of the corpus; the top `limit` documents by score
//! come back with a snippet around their first matching word.

pub mod bm25;
pub mod index;
pub mod persist;
pub mod synthetic;
pub mod tokenize;

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap, HashSet};

use serde::Serialize;

use crate::api::{ErrorCode, HasErrorCode};
use crate::storage::StorageError;

pub use index::HistoryIndex;
pub use persist::PersistentIndex;

/// Longest accepted query, in chars (the contract's `q` bound).
pub const MAX_QUERY_CHARS: usize = 400;
/// Largest accepted `limit`.
pub const MAX_LIMIT: usize = 50;
/// Longest accepted tab id filter, in bytes.
pub const MAX_TAB_ID_BYTES: usize = 128;
/// The last query term only expands to longer terms when it has at least this many chars:
/// one letter would match a large share of the vocabulary and rank noise.
pub const MIN_PREFIX_CHARS: usize = 2;
/// At most this many indexed terms (first in byte order) are added for the last query term's
/// prefix, which bounds a query's cost whatever the vocabulary.
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
#[derive(Debug, Clone, PartialEq, Serialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize)]
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

/// The query's full term list: its distinct terms, then up to [`MAX_PREFIX_EXPANSIONS`]
/// longer terms from `candidates` (indexed terms starting with the prefix, in byte order).
pub fn expand_prefix<'a>(
    query: &ParsedQuery,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Vec<String> {
    let mut all = query.terms.clone();
    let Some(prefix) = query.prefix() else {
        return all;
    };
    let extra: Vec<String> = candidates
        .into_iter()
        .filter(|t| t.len() > prefix.len() && t.starts_with(prefix))
        .filter(|t| !query.terms.iter().any(|q| q == t))
        .take(MAX_PREFIX_EXPANSIONS)
        .map(str::to_owned)
        .collect();
    all.extend(extra);
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
    doc: &'a HistoryDoc,
    counts: HashMap<String, u32>,
    len: u32,
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

/// What the ranking needs from an index (fully in memory, or partly loaded).
pub struct RankInput<'a> {
    /// Indexed documents and their total length in terms.
    pub doc_count: u64,
    /// Sum of the indexed documents' lengths.
    pub total_len: u64,
    /// One past the largest doc id in use (sizes the score array).
    pub doc_id_bound: u32,
    /// For each query term (same order as the term list): its postings, in any number of
    /// slices whose doc ids are disjoint.
    pub postings: Vec<Vec<&'a [Posting]>>,
    /// Doc-id ranges of the tab filter, or `None` for all tabs.
    pub allowed: Option<Vec<(u32, u32)>>,
}

/// Scores `terms` over the indexed postings plus the `extra` pending messages (those not already
/// indexed, per `is_indexed`), treating the pending ones as part of the corpus for the
/// statistics, and keeps the best `limit` matches within `tab`.
pub fn rank(
    input: &RankInput<'_>,
    terms: &[String],
    extra: &[HistoryDoc],
    tab: Option<&str>,
    limit: usize,
    is_indexed: impl Fn(&HistoryDoc) -> bool,
) -> Ranked {
    // Pending messages count in N, avgdl and df whatever the tab filter, like indexed ones.
    let mut seen = HashSet::new();
    let pending: Vec<(usize, PendingDoc<'_>)> = extra
        .iter()
        .enumerate()
        .filter(|(_, d)| !is_indexed(d) && seen.insert((d.tab_id.as_str(), d.seq)))
        .map(|(i, doc)| {
            let terms = tokenize::terms(&doc.text);
            let len = terms.len() as u32;
            let mut counts = HashMap::new();
            for t in terms {
                *counts.entry(t).or_insert(0) += 1;
            }
            (i, PendingDoc { doc, counts, len })
        })
        .collect();
    let doc_count = input.doc_count + pending.len() as u64;
    let total_len = input.total_len + pending.iter().map(|(_, p)| u64::from(p.len)).sum::<u64>();

    let bound = input.doc_id_bound as usize;
    let mut scores = vec![0f32; bound + pending.len()];
    let mut touched: Vec<u32> = Vec::new();
    for (term, slices) in terms.iter().zip(&input.postings) {
        let pending_df = pending
            .iter()
            .filter(|(_, p)| p.counts.contains_key(term))
            .count();
        let df = slices.iter().map(|s| s.len()).sum::<usize>() + pending_df;
        if df == 0 {
            continue;
        }
        let scorer = bm25::TermScorer::new(df as u64, doc_count, total_len);
        for slice in slices {
            for p in *slice {
                if let Some(allowed) = &input.allowed {
                    if !in_ranges(allowed, p.doc) {
                        continue;
                    }
                }
                if let Some(slot) = scores.get_mut(p.doc as usize) {
                    if *slot == 0.0 {
                        touched.push(p.doc);
                    }
                    *slot += scorer.score(p.tf, p.dl);
                }
            }
        }
        for (j, (_, p)) in pending.iter().enumerate() {
            if tab.is_some_and(|t| t != p.doc.tab_id) {
                continue;
            }
            if let (Some(&tf), Some(slot)) = (p.counts.get(term), scores.get_mut(bound + j)) {
                if *slot == 0.0 {
                    touched.push((bound + j) as u32);
                }
                *slot += scorer.score(tf, p.len);
            }
        }
    }

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
    for &id in &touched {
        let entry = Entry(scores.get(id as usize).copied().unwrap_or(0.0), id);
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
            let doc = if id_usize < bound {
                DocRef::Indexed(id)
            } else {
                DocRef::Pending(pending.get(id_usize - bound)?.0)
            };
            Some((score, doc))
        })
        .collect();
    Ranked {
        total: touched.len() as u64,
        top,
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
        let all = expand_prefix(&q, ["ch", "che", "checker", "cheap", "rust"]);
        assert_eq!(all, ["rust", "borrow", "che", "checker", "cheap"]);
        let short = parse_query("a", None, 10).unwrap();
        assert_eq!(expand_prefix(&short, ["ab"]), ["a"]);
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
