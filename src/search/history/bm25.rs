//! BM25 scoring as free pure functions (the shape of tantivy's `query/bm25.rs`).
//!
//! The variant is the one `bm25s` calls "lucene" (Kamphuis et al., ECIR 2020), which Lucene ≥ 8
//! uses: `idf(n) = ln(1 + (N − n + 0.5) / (n + 0.5))`, never negative, and a term-frequency
//! component `tf / (tf + K1 · (1 − B + B · dl / avgdl))` without the constant `(K1 + 1)` factor
//! (a constant factor changes no ranking; dropping it makes scores equal to `bm25s`'s).

/// Term-frequency saturation: how fast repeated occurrences stop adding to the score.
pub const K1: f32 = 1.2;

/// Length normalization: 0 ignores document length, 1 normalizes fully.
pub const B: f32 = 0.75;

/// Lucene's inverse document frequency of a term found in `doc_freq` of `doc_count` documents.
///
/// Always positive, also for a term in every document. `doc_freq` above `doc_count` (which
/// consistent statistics never produce) is clamped so the result stays finite and positive.
pub fn idf(doc_freq: u64, doc_count: u64) -> f32 {
    let n = doc_freq.min(doc_count) as f64;
    let total = doc_count as f64;
    (1.0 + (total - n + 0.5) / (n + 0.5)).ln() as f32
}

/// The length part of the denominator, `K1 · (1 − B + B · dl / avgdl)`, for a document of
/// `doc_len` terms when documents hold `avg_doc_len` terms on average (0 is treated as 1).
pub fn length_norm(doc_len: u32, avg_doc_len: f32) -> f32 {
    let avg = if avg_doc_len > 0.0 { avg_doc_len } else { 1.0 };
    K1 * (1.0 - B + B * doc_len as f32 / avg)
}

/// The term-frequency component `tf / (tf + norm)`, in `[0, 1)`, for `term_freq` occurrences.
pub fn tf_component(term_freq: u32, norm: f32) -> f32 {
    let tf = term_freq as f32;
    tf / (tf + norm)
}

/// A one-term scorer built from counts alone: the corpus statistics are fixed at construction.
#[derive(Debug, Clone, Copy)]
pub struct TermScorer {
    idf: f32,
    // `K1 · (1 − B)` and `K1 · B / avgdl`, so a posting costs one multiply-add and one division.
    norm_base: f32,
    norm_per_term: f32,
}

impl TermScorer {
    /// A scorer for a term in `doc_freq` of `doc_count` documents that hold `total_len` terms.
    pub fn new(doc_freq: u64, doc_count: u64, total_len: u64) -> Self {
        let avg = if doc_count == 0 || total_len == 0 {
            1.0
        } else {
            total_len as f32 / doc_count as f32
        };
        Self {
            idf: idf(doc_freq, doc_count),
            norm_base: K1 * (1.0 - B),
            norm_per_term: K1 * B / avg,
        }
    }

    /// The term's idf.
    pub fn idf(&self) -> f32 {
        self.idf
    }

    /// The score of a document of `doc_len` terms holding the term `term_freq` times.
    #[inline]
    pub fn score(&self, term_freq: u32, doc_len: u32) -> f32 {
        let tf = term_freq as f32;
        self.idf * tf / (tf + self.norm_base + self.norm_per_term * doc_len as f32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f32, b: f32) -> bool {
        (a - b).abs() < 1e-5
    }

    #[test]
    fn idf_matches_hand_computed_values() {
        // ln(1 + 2.5 / 1.5) = ln(8/3)
        assert!(close(idf(1, 3), 0.980_829_3));
        // A term in every one of 3 documents: ln(1 + 0.5 / 3.5) = ln(8/7), still positive.
        assert!(close(idf(3, 3), 0.133_531_4));
        // Rarer terms weigh more.
        assert!(idf(1, 1000) > idf(10, 1000));
    }

    #[test]
    fn tf_component_matches_hand_computed_values() {
        // dl = avgdl: norm = K1 = 1.2; tf 2 → 2 / 3.2.
        assert!(close(tf_component(2, length_norm(4, 4.0)), 0.625));
        // dl = 2·avgdl: norm = 1.2 · 1.75 = 2.1; tf 1 → 1 / 3.1.
        assert!(close(tf_component(1, length_norm(8, 4.0)), 0.322_580_6));
    }

    #[test]
    fn scorer_combines_idf_and_tf_like_bm25s_lucene() {
        // N = 3 docs, 12 terms in all (avgdl 4), term in 1 doc, tf 2, dl 4:
        // ln(8/3) · 2 / (2 + 1.2) = 0.980829 · 0.625.
        let scorer = TermScorer::new(1, 3, 12);
        assert!(close(scorer.score(2, 4), 0.613_018_3));
        // Saturation: doubling tf adds less than double.
        assert!(scorer.score(4, 4) < 2.0 * scorer.score(2, 4));
        // Shorter documents score higher for the same tf.
        assert!(scorer.score(1, 2) > scorer.score(1, 8));
    }

    #[test]
    fn degenerate_statistics_stay_finite() {
        let scorer = TermScorer::new(5, 0, 0);
        assert!(scorer.score(1, 0).is_finite());
        assert!(idf(9, 3) > 0.0);
    }
}
