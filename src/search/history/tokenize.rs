//! The tokenizer shared by indexing, querying and snippets.
//!
//! A chain of small steps, each a pure function:
//! 1. [`segment`]: Unicode word segmentation (UAX #29, `unicode-segmentation`), which keeps the
//!    byte offset of every word in the original text;
//! 2. [`normalize`]: NFKC then lowercase, so "Ｃafé", "CAFÉ" and "café" are one term, and any
//!    whitespace or control character a compatibility mapping introduces is dropped (terms never
//!    contain whitespace, which the storage keys rely on);
//! 3. [`is_searchable`]: words without a letter or digit are dropped;
//! 4. [`cap_token`]: a term is cut to [`MAX_TOKEN_BYTES`] on a char boundary, and a document
//!    keeps at most [`MAX_TOKENS_PER_DOC`] terms, which bounds the index growth per message.
//!
//! Under UAX #29, each Han ideograph and each kana is its own word, so CJK text is indexed per
//! character; emoji are not words and are dropped.

use unicode_normalization::UnicodeNormalization;
use unicode_segmentation::UnicodeSegmentation;

/// Longest term kept, in UTF-8 bytes; longer words are cut on a char boundary.
pub const MAX_TOKEN_BYTES: usize = 64;

/// Most terms kept per document; words past this count are not indexed.
pub const MAX_TOKENS_PER_DOC: usize = 4096;

/// One term of a text, with where its word sits in the original text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// The normalized term (NFKC, lowercase, at most [`MAX_TOKEN_BYTES`] bytes, non-empty).
    pub term: String,
    /// Byte offset of the word's first byte in the original text (a char boundary).
    pub start: usize,
    /// Byte offset just past the word in the original text (a char boundary).
    pub end: usize,
}

/// Step 1: the words of `text` with their byte offsets, in order.
pub fn segment(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.unicode_word_indices()
}

/// Step 2: NFKC then lowercase; whitespace and control characters are removed.
pub fn normalize(word: &str) -> String {
    // ASCII is already NFKC; skipping the normalizer there makes indexing several times faster.
    if word.is_ascii() {
        let mut out = word.to_ascii_lowercase();
        out.retain(|c| !c.is_ascii_whitespace() && !c.is_ascii_control());
        return out;
    }
    let lowered: String = word.nfkc().collect::<String>().to_lowercase();
    lowered
        .chars()
        .filter(|c| !c.is_whitespace() && !c.is_control())
        .collect()
}

/// Step 3: whether a normalized word holds at least one letter or digit.
pub fn is_searchable(term: &str) -> bool {
    term.chars().any(char::is_alphanumeric)
}

/// Step 4: `term` cut to at most [`MAX_TOKEN_BYTES`] bytes, on a char boundary.
pub fn cap_token(mut term: String) -> String {
    if term.len() > MAX_TOKEN_BYTES {
        let mut cut = MAX_TOKEN_BYTES;
        while !term.is_char_boundary(cut) {
            cut -= 1;
        }
        term.truncate(cut);
    }
    term
}

/// All steps: the terms of `text` with offsets, at most [`MAX_TOKENS_PER_DOC`] of them.
pub fn tokenize(text: &str) -> Vec<Token> {
    segment(text)
        .filter_map(|(start, word)| {
            let term = normalize(word);
            is_searchable(&term).then(|| Token {
                term: cap_token(term),
                start,
                end: start + word.len(),
            })
        })
        .take(MAX_TOKENS_PER_DOC)
        .collect()
}

/// Only the terms of `text` (what indexing needs), at most [`MAX_TOKENS_PER_DOC`].
pub fn terms(text: &str) -> Vec<String> {
    tokenize(text).into_iter().map(|t| t.term).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_words_lowercases_and_keeps_offsets() {
        let text = "Hello, World! It's 3.14";
        let tokens = tokenize(text);
        let terms: Vec<&str> = tokens.iter().map(|t| t.term.as_str()).collect();
        assert_eq!(terms, ["hello", "world", "it's", "3.14"]);
        assert_eq!(&text[tokens[1].start..tokens[1].end], "World");
    }

    #[test]
    fn accents_and_compatibility_forms_fold_to_one_term() {
        // Decomposed "e" + combining acute, fullwidth letters and uppercase all meet at "café".
        let text = "CAFÉ cafe\u{301} Ｃａｆé";
        let tokens = tokenize(text);
        assert!(tokens.iter().all(|t| t.term == "café"), "{tokens:?}");
        // Offsets still point into the original (un-normalized) text.
        assert_eq!(&text[tokens[2].start..tokens[2].end], "Ｃａｆé");
    }

    #[test]
    fn cjk_is_one_term_per_ideograph_and_emoji_are_dropped() {
        let tokens = tokenize("東京 🎉 ok 😀");
        let terms: Vec<&str> = tokens.iter().map(|t| t.term.as_str()).collect();
        assert_eq!(terms, ["東", "京", "ok"]);
        assert_eq!(tokens[1].start, 3);
    }

    #[test]
    fn punctuation_only_words_are_dropped() {
        assert!(tokenize("... -- !!! ___").is_empty());
        assert_eq!(terms("foo_bar"), ["foo_bar"]);
    }

    #[test]
    fn long_words_are_cut_on_a_char_boundary() {
        let word = "é".repeat(40); // 80 bytes
        let tokens = tokenize(&word);
        assert_eq!(tokens[0].term, "é".repeat(32));
        assert_eq!(tokens[0].end, 80);
    }

    #[test]
    fn documents_keep_at_most_the_token_cap() {
        let text = "word ".repeat(MAX_TOKENS_PER_DOC + 10);
        assert_eq!(tokenize(&text).len(), MAX_TOKENS_PER_DOC);
    }

    #[test]
    fn compatibility_mappings_never_leave_whitespace_in_a_term() {
        // U+FDFA decomposes under NFKC into several words separated by spaces.
        for t in tokenize("\u{FDFA} ¨a") {
            assert!(!t.term.chars().any(char::is_whitespace), "{t:?}");
        }
    }
}
