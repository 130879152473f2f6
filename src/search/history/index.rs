//! [`HistoryIndex`]: the whole inverted index of one user's messages, in memory.
//!
//! Documents are identified outside by `(tab_id, seq)` and inside by dense `u32` ids handed out
//! in insertion order, so a term's postings are sorted by doc id simply by appending. Each
//! posting carries the document's length, so scoring reads nothing but the query terms'
//! postings. The term dictionary is a `BTreeMap`, which gives the prefix expansion of the last
//! query term as a range scan. [`super::PersistentIndex`] stores the same structure in chunks.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::{
    expand_prefix, hit, parse_query, tokenize, CorpusStats, DocRef, HistoryDoc, HistoryError,
    HistoryResults, ParsedQuery, Pending, Posting, Ranked, Scorer, TabRuns,
};

/// The inverted index of one user's messages, fully in memory.
#[derive(Debug, Clone, Default)]
pub struct HistoryIndex {
    terms: BTreeMap<String, Vec<Posting>>,
    /// By doc id; `None` once the doc's tab was removed.
    docs: Vec<Option<HistoryDoc>>,
    tabs: HashMap<String, TabRuns>,
    live_docs: u64,
    total_len: u64,
}

/// Term counts of a text, and its length in terms.
pub(crate) fn term_counts(text: &str) -> (BTreeMap<String, u32>, u32) {
    let terms = tokenize::terms(text);
    let len = terms.len() as u32;
    let mut counts = BTreeMap::new();
    for t in terms {
        *counts.entry(t).or_insert(0) += 1;
    }
    (counts, len)
}

impl HistoryIndex {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of indexed messages.
    pub fn len(&self) -> u64 {
        self.live_docs
    }

    /// Whether no message is indexed.
    pub fn is_empty(&self) -> bool {
        self.live_docs == 0
    }

    /// Number of distinct terms.
    pub fn term_count(&self) -> usize {
        self.terms.len()
    }

    /// Whether `(tab_id, seq)` is indexed.
    pub fn contains(&self, tab_id: &str, seq: u64) -> bool {
        self.tabs
            .get(tab_id)
            .is_some_and(|runs| runs.doc_of(seq).is_some())
    }

    /// Indexes `docs`; a `(tab_id, seq)` already indexed (or repeated in `docs`) is skipped, so
    /// a retried flush changes nothing. Returns how many were added. Cost: proportional to the
    /// batch's terms. Fails only when the index holds `u32::MAX` documents.
    pub fn add(&mut self, docs: &[HistoryDoc]) -> Result<usize, HistoryError> {
        let mut added = 0;
        for doc in docs {
            if self.contains(&doc.tab_id, doc.seq) {
                continue;
            }
            let id = u32::try_from(self.docs.len()).map_err(|_| {
                HistoryError::Corrupt("doc id space exhausted (u32::MAX documents)".into())
            })?;
            let (counts, len) = term_counts(&doc.text);
            for (term, tf) in counts {
                self.terms.entry(term).or_default().push(Posting {
                    doc: id,
                    tf,
                    dl: len,
                });
            }
            self.tabs
                .entry(doc.tab_id.clone())
                .or_default()
                .insert(doc.seq, id);
            self.docs.push(Some(doc.clone()));
            self.live_docs += 1;
            self.total_len += u64::from(len);
            added += 1;
        }
        Ok(added)
    }

    /// Removes every message of `tab_id` (its text, postings and terms left without postings).
    /// Returns how many were removed; an unknown tab removes nothing.
    pub fn remove_tab(&mut self, tab_id: &str) -> u64 {
        let Some(runs) = self.tabs.remove(tab_id) else {
            return 0;
        };
        let ranges = runs.doc_ranges();
        let mut affected = HashSet::new();
        let mut removed = 0;
        for &(start, end) in &ranges {
            for id in start..end {
                let Some(doc) = self.docs.get_mut(id as usize).and_then(Option::take) else {
                    continue;
                };
                let (counts, len) = term_counts(&doc.text);
                affected.extend(counts.into_keys());
                self.live_docs -= 1;
                self.total_len -= u64::from(len);
                removed += 1;
            }
        }
        for term in affected {
            if let Some(postings) = self.terms.get_mut(&term) {
                postings.retain(|p| !super::in_ranges(&ranges, p.doc));
                if postings.is_empty() {
                    self.terms.remove(&term);
                }
            }
        }
        removed
    }

    /// Searches the index plus the pending messages `extra` (not yet indexed; those already
    /// indexed are ignored) for `query`, in one tab or all, best `limit` first.
    ///
    /// Errors: `invalid_field` ([`HistoryError`]) for an empty or over-long query, one without a
    /// searchable word, `limit` outside 1..=50 or an empty tab id.
    pub fn search(
        &self,
        query: &str,
        tab: Option<&str>,
        limit: usize,
        extra: &[HistoryDoc],
    ) -> Result<HistoryResults, HistoryError> {
        let parsed = parse_query(query, tab, limit)?;
        let pending = self.pending(extra);
        let terms = expand_prefix(&parsed, self.prefix_candidates(&parsed), &pending);
        let ranked = self.rank_pending(&terms, tab, limit, &pending);
        let results = ranked
            .top
            .iter()
            .filter_map(|&(score, doc)| {
                let doc = match doc {
                    DocRef::Indexed(id) => self.docs.get(id as usize)?.as_ref()?,
                    DocRef::Pending(i) => extra.get(i)?,
                };
                Some(hit(doc, &terms, score))
            })
            .collect();
        Ok(HistoryResults {
            total: ranked.total,
            results,
        })
    }

    /// `extra` without the messages this index holds.
    fn pending<'a>(&self, extra: &'a [HistoryDoc]) -> Pending<'a> {
        Pending::new(extra, |_, d| self.contains(&d.tab_id, d.seq))
    }

    /// The indexed terms longer than the query's prefix that start with it, in byte order.
    fn prefix_candidates<'a>(&'a self, parsed: &'a ParsedQuery) -> impl Iterator<Item = &'a str> {
        parsed
            .prefix()
            .map(|prefix| {
                self.terms
                    .range::<str, _>((
                        std::ops::Bound::Excluded(prefix),
                        std::ops::Bound::Unbounded,
                    ))
                    .map(|(t, _)| t.as_str())
                    .take_while(move |t| t.starts_with(prefix))
            })
            .into_iter()
            .flatten()
    }

    /// Ranks the already expanded `terms` (no validation): the benchmark's entry point.
    pub fn rank_terms(
        &self,
        terms: &[String],
        tab: Option<&str>,
        limit: usize,
        extra: &[HistoryDoc],
    ) -> Ranked {
        self.rank_pending(terms, tab, limit, &self.pending(extra))
    }

    fn rank_pending(
        &self,
        terms: &[String],
        tab: Option<&str>,
        limit: usize,
        pending: &Pending<'_>,
    ) -> Ranked {
        let stats = CorpusStats {
            doc_count: self.live_docs,
            total_len: self.total_len,
            doc_id_bound: self.docs.len() as u32,
        };
        let allowed = tab.map(|t| {
            self.tabs
                .get(t)
                .map(TabRuns::doc_ranges)
                .unwrap_or_default()
        });
        let mut scorer = Scorer::new(stats, pending, tab, allowed);
        for term in terms {
            if let Some(postings) = self.terms.get(term) {
                scorer.add_term(term, &[postings.as_slice()]);
            } else {
                scorer.add_term(term, &[]);
            }
        }
        scorer.finish(limit)
    }

    /// The query's terms after validation and prefix expansion against this index (no pending
    /// messages).
    pub fn expand_query(
        &self,
        query: &str,
        tab: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, HistoryError> {
        let parsed = parse_query(query, tab, limit)?;
        let none = Pending::none();
        Ok(expand_prefix(
            &parsed,
            self.prefix_candidates(&parsed),
            &none,
        ))
    }

    /// Estimated heap bytes held (term strings, postings, documents, tab maps).
    pub fn heap_bytes(&self) -> u64 {
        let posting = std::mem::size_of::<Posting>() as u64;
        let terms: u64 = self
            .terms
            .iter()
            .map(|(t, p)| t.capacity() as u64 + 24 + 24 + p.capacity() as u64 * posting + 16)
            .sum();
        let docs: u64 = self
            .docs
            .iter()
            .map(|d| {
                std::mem::size_of::<Option<HistoryDoc>>() as u64
                    + d.as_ref().map_or(0, |d| {
                        (d.tab_id.capacity() + d.role.capacity() + d.text.capacity()) as u64
                    })
            })
            .sum();
        let tabs: u64 = self
            .tabs
            .iter()
            .map(|(t, r)| t.capacity() as u64 + 48 + r.runs.capacity() as u64 * 16)
            .sum();
        terms + docs + tabs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn doc(tab: &str, seq: u64, text: &str) -> HistoryDoc {
        HistoryDoc {
            tab_id: tab.into(),
            seq,
            role: "user".into(),
            text: text.into(),
        }
    }

    fn ids(results: &HistoryResults) -> Vec<(String, u64)> {
        results
            .results
            .iter()
            .map(|h| (h.tab_id.clone(), h.seq))
            .collect()
    }

    fn corpus() -> HistoryIndex {
        let mut index = HistoryIndex::new();
        index
            .add(&[
                doc("a", 1, "the cat sat on the mat"),
                doc("a", 2, "the dog chased the cat around the cat tree"),
                doc("b", 1, "dogs and birds are pets"),
                doc("b", 2, "a quick note about the weather"),
            ])
            .unwrap();
        index
    }

    #[test]
    fn scores_match_hand_computed_bm25() {
        let index = corpus();
        // N = 4, lengths 6, 9, 5, 6 → avgdl 6.5. "cat" in 2 docs: idf = ln(1 + 2.5/2.5) = ln 2.
        // Doc a/2: tf 2, dl 9: 2 / (2 + 1.2·(0.25 + 0.75·9/6.5)) = 2 / 3.546154.
        // Doc a/1: tf 1, dl 6: 1 / (1 + 1.2·(0.25 + 0.75·6/6.5)) = 1 / 2.130769.
        let r = index.search("cat", None, 10, &[]).unwrap();
        assert_eq!(r.total, 2);
        assert_eq!(ids(&r), [("a".into(), 2), ("a".into(), 1)]);
        let ln2 = std::f32::consts::LN_2;
        assert!((r.results[0].score - ln2 * 2.0 / 3.546_154).abs() < 1e-5);
        assert!((r.results[1].score - ln2 / 2.130_769).abs() < 1e-5);
    }

    #[test]
    fn rarer_terms_and_more_matches_rank_higher() {
        let index = corpus();
        // "weather" is in one doc, "the" in three: the weather note wins.
        let r = index.search("the weather", None, 10, &[]).unwrap();
        assert_eq!(r.results[0].seq, 1 + 1);
        assert_eq!(r.results[0].tab_id, "b");
        assert_eq!(r.total, 3);
        let r = index.search("the weather", None, 1, &[]).unwrap();
        assert_eq!((r.total, r.results.len()), (3, 1));
    }

    #[test]
    fn tab_filter_keeps_statistics_but_only_that_tab() {
        let index = corpus();
        let all = index.search("cat", None, 10, &[]).unwrap();
        let only_a = index.search("cat", Some("a"), 10, &[]).unwrap();
        assert_eq!(all.results, only_a.results);
        let only_b = index.search("cat", Some("b"), 10, &[]).unwrap();
        assert_eq!(only_b.total, 0);
        assert!(index
            .search("cat", Some("zzz"), 10, &[])
            .unwrap()
            .results
            .is_empty());
    }

    #[test]
    fn last_term_matches_as_a_prefix() {
        let index = corpus();
        // "do" expands to "dog" and "dogs"; "cat" (not last) stays exact, "ca" would not.
        let r = index.search("do", None, 10, &[]).unwrap();
        assert_eq!(r.total, 2);
        let r = index.search("quick wea", None, 10, &[]).unwrap();
        assert_eq!(r.results[0].tab_id, "b");
        assert!(r.results[0].snippet.contains("quick"));
        let r = index.search("ca sat", None, 10, &[]).unwrap();
        assert_eq!(ids(&r), [("a".into(), 1)]);
    }

    #[test]
    fn pending_messages_are_found_and_counted_in_statistics() {
        let index = corpus();
        let pending = [doc("c", 1, "a brand new zebra message")];
        let r = index.search("zebra", None, 10, &pending).unwrap();
        assert_eq!(ids(&r), [("c".into(), 1)]);
        // N = 5 now, df 1: idf = ln(1 + 4.5/1.5) = ln 4; dl 5, avgdl 31/5.
        let expected = 4f32.ln() / (1.0 + 1.2 * (0.25 + 0.75 * 5.0 / 6.2));
        assert!((r.results[0].score - expected).abs() < 1e-5);
        // A pending copy of an indexed message is not counted twice.
        let dup = [doc("a", 1, "the cat sat on the mat")];
        assert_eq!(index.search("mat", None, 10, &dup).unwrap().total, 1);
        // The tab filter applies to pending messages too.
        assert_eq!(
            index
                .search("zebra", Some("a"), 10, &pending)
                .unwrap()
                .total,
            0
        );
    }

    #[test]
    fn last_term_prefix_also_matches_pending_messages() {
        let index = corpus();
        // "ocelot" is only in a message not flushed to the index yet.
        let pending = [doc("c", 1, "an ocelot sleeps"), doc("c", 2, "ocean view")];
        let r = index.search("oce", None, 10, &pending).unwrap();
        assert_eq!(ids(&r), [("c".into(), 2), ("c".into(), 1)]);
        assert_eq!(r.results[1].snippet, "an ocelot sleeps");
        // Indexed and pending expansions are merged in byte order: "do" → "dog", "dogs", "dome".
        let r = index
            .search("do", None, 10, &[doc("c", 3, "a dome")])
            .unwrap();
        assert_eq!(r.total, 3);
        // A pending copy of an indexed message does not contribute expansions.
        let dup = [doc("a", 1, "the cat sat on the mattress")];
        assert_eq!(index.search("matt", None, 10, &dup).unwrap().total, 0);
        // Nor does a pending message outside the tab filter change the expansion of the rest.
        let r = index.search("oce", Some("a"), 10, &pending).unwrap();
        assert_eq!(r.total, 0);
    }

    #[test]
    fn adding_the_same_messages_again_changes_nothing() {
        let mut index = corpus();
        let before = index.search("the cat", None, 10, &[]).unwrap();
        let added = index
            .add(&[
                doc("a", 1, "the cat sat on the mat"),
                doc("b", 2, "different text, same id"),
            ])
            .unwrap();
        assert_eq!(added, 0);
        assert_eq!(index.len(), 4);
        assert_eq!(index.search("the cat", None, 10, &[]).unwrap(), before);
    }

    #[test]
    fn removing_a_tab_removes_its_entries_and_terms() {
        let mut index = corpus();
        assert_eq!(index.remove_tab("a"), 2);
        assert_eq!(index.search("cat", None, 10, &[]).unwrap().total, 0);
        assert_eq!(index.len(), 2);
        // "mat" only occurred in tab a: the term is gone from the dictionary.
        assert!(index
            .search("mat", None, 10, &[])
            .unwrap()
            .results
            .is_empty());
        assert!(!index.terms.contains_key("mat"));
        // Statistics now describe the remaining docs: same score as an index of them alone.
        let mut fresh = HistoryIndex::new();
        fresh
            .add(&[
                doc("b", 1, "dogs and birds are pets"),
                doc("b", 2, "a quick note about the weather"),
            ])
            .unwrap();
        assert_eq!(
            index.search("weather pets", None, 10, &[]).unwrap(),
            fresh.search("weather pets", None, 10, &[]).unwrap()
        );
        assert_eq!(index.remove_tab("a"), 0);
        // The tab can be written again (a new tab with the same id starts from scratch).
        index.add(&[doc("a", 1, "cat again")]).unwrap();
        assert_eq!(index.search("cat", None, 10, &[]).unwrap().total, 1);
    }

    #[test]
    fn unicode_text_is_searchable_and_snipped() {
        let mut index = HistoryIndex::new();
        index
            .add(&[
                doc("t", 1, "Rendez-vous au CAFÉ à Paris"),
                doc("t", 2, "東京で会いましょう 🎉"),
            ])
            .unwrap();
        let r = index.search("cafe\u{301}", None, 10, &[]).unwrap();
        assert_eq!(r.results[0].seq, 1);
        assert_eq!(r.results[0].snippet, "Rendez-vous au CAFÉ à Paris");
        let r = index.search("東京", None, 10, &[]).unwrap();
        assert_eq!(r.results[0].seq, 2);
        assert!(r.results[0].snippet.contains('🎉'));
    }
}
