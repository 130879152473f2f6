//! The code tokenizer: identifiers split into their parts, so `parse_config`, `parseConfig`,
//! `ParseConfig` and `parse-config` all yield the terms `parse` and `config`.
//!
//! A *word* is a maximal run of letters, digits and `_` (anything else, `-` and `.` included,
//! separates words). A word splits into *parts*:
//! - at `_` (dropped);
//! - before an uppercase letter that follows a lowercase letter or a digit (`parseConfig`,
//!   `http2Response` → `http2`, `response`);
//! - before the last capital of an acronym that a lowercase letter follows (`HTTPServer` →
//!   `http`, `server`).
//!
//! Digits stay with the part they follow (`http2`, `utf8`, `base64`, `sha256`): people search
//! for `utf8`, not `utf` and `8`. Scripts without case (CJK, …) are never split inside a run.
//! Every part is lowercased (no NFKC: identifiers are compared as written, case aside).
//!
//! A word of two or more parts also yields its *whole* term, the lowercased parts joined
//! (`parseconfig`), so a query naming an identifier ranks chunks holding that identifier (in any
//! spelling) above chunks that only hold its parts apart.
//!
//! Bounded: a term is cut to [`MAX_TERM_BYTES`] on a char boundary, a word yields at most
//! [`MAX_PARTS_PER_WORD`] parts; the caller caps terms per file.

/// Longest term kept, in UTF-8 bytes; longer ones are cut on a char boundary.
pub const MAX_TERM_BYTES: usize = 64;

/// Most parts taken from one word (the rest of a giant identifier only counts in its whole term).
pub const MAX_PARTS_PER_WORD: usize = 16;

/// One identifier-like word of a text, split into parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    /// The lowercased parts, in order, each at most [`MAX_TERM_BYTES`] (may repeat).
    pub parts: Vec<String>,
    /// The lowercased parts joined, when there are two or more parts.
    pub whole: Option<String>,
    /// Byte offset of the word's first byte in the text.
    pub start: usize,
    /// Byte offset just past the word.
    pub end: usize,
}

impl Word {
    /// The word as one term: the whole term, or the single part.
    pub fn identifier(&self) -> Option<&str> {
        self.whole
            .as_deref()
            .or_else(|| self.parts.first().map(String::as_str))
    }

    /// All terms of the word: parts, then the whole term.
    pub fn terms(&self) -> impl Iterator<Item = &str> {
        self.parts
            .iter()
            .map(String::as_str)
            .chain(self.whole.as_deref())
    }
}

fn is_word_char(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// The words of `text` with their byte offsets (runs of letters, digits and `_` holding at least
/// one letter or digit), in order.
pub fn raw_words(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut rest = text.char_indices().peekable();
    std::iter::from_fn(move || loop {
        // Skip separators.
        let (start, _) = loop {
            let (i, c) = rest.next()?;
            if is_word_char(c) {
                break (i, c);
            }
        };
        let mut end = text.len();
        while let Some(&(i, c)) = rest.peek() {
            if !is_word_char(c) {
                end = i;
                break;
            }
            rest.next();
        }
        let word = text.get(start..end).unwrap_or("");
        if word.chars().any(char::is_alphanumeric) {
            return Some((start, word));
        }
    })
}

/// `s` lowercased and cut to [`MAX_TERM_BYTES`] on a char boundary.
fn lower_capped(s: &str) -> String {
    let mut out = if s.is_ascii() {
        s.to_ascii_lowercase()
    } else {
        s.to_lowercase()
    };
    if out.len() > MAX_TERM_BYTES {
        let mut cut = MAX_TERM_BYTES;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
    }
    out
}

/// The parts of one word as slices of it (see the module doc for the rules).
pub fn split_parts(word: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut part_start: Option<usize> = None;
    let mut prev: Option<char> = None;
    let mut chars = word.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if parts.len() >= MAX_PARTS_PER_WORD {
            return parts;
        }
        if c == '_' {
            if let Some(s) = part_start.take() {
                parts.extend(word.get(s..i));
            }
            prev = None;
            continue;
        }
        let boundary = match prev {
            Some(p) if c.is_uppercase() => {
                let next_lower = chars.peek().is_some_and(|&(_, n)| n.is_lowercase());
                p.is_lowercase() || p.is_numeric() || (p.is_uppercase() && next_lower)
            }
            _ => false,
        };
        if boundary {
            if let Some(s) = part_start.take() {
                parts.extend(word.get(s..i));
            }
        }
        if part_start.is_none() {
            part_start = Some(i);
        }
        prev = Some(c);
    }
    if let Some(s) = part_start {
        if parts.len() < MAX_PARTS_PER_WORD {
            parts.extend(word.get(s..));
        }
    }
    parts
}

/// One word split and lowercased; `None` when nothing searchable is left.
pub fn word(start: usize, raw: &str) -> Option<Word> {
    let parts: Vec<String> = split_parts(raw)
        .into_iter()
        .filter(|p| p.chars().any(char::is_alphanumeric))
        .map(lower_capped)
        .collect();
    if parts.is_empty() {
        return None;
    }
    let whole = (parts.len() > 1).then(|| lower_capped(&parts.concat()));
    Some(Word {
        parts,
        whole,
        start,
        end: start + raw.len(),
    })
}

/// The words of `text`, split into parts.
pub fn words(text: &str) -> impl Iterator<Item = Word> + '_ {
    raw_words(text).filter_map(|(start, raw)| word(start, raw))
}

/// All terms of `text` (parts and whole terms) in order; what a query or a test needs.
pub fn terms(text: &str) -> Vec<String> {
    words(text)
        .flat_map(|w| {
            let Word { parts, whole, .. } = w;
            parts.into_iter().chain(whole)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(word: &str) -> Vec<&str> {
        split_parts(word)
    }

    #[test]
    fn the_three_spellings_share_their_parts_and_whole_term() {
        for spelling in ["parse_config", "parseConfig", "ParseConfig", "PARSE_CONFIG"] {
            assert_eq!(
                terms(spelling),
                ["parse", "config", "parseconfig"],
                "{spelling}"
            );
        }
        // A hyphen separates words: no whole term, but the same parts.
        assert_eq!(terms("parse-config"), ["parse", "config"]);
    }

    #[test]
    fn acronyms_and_digits() {
        assert_eq!(parts("HTTPServer"), ["HTTP", "Server"]);
        assert_eq!(parts("parseHTTP2Response"), ["parse", "HTTP2", "Response"]);
        assert_eq!(parts("http2Response"), ["http2", "Response"]);
        assert_eq!(parts("Base64Encoder"), ["Base64", "Encoder"]);
        assert_eq!(parts("getX"), ["get", "X"]);
        assert_eq!(parts("IOError"), ["IO", "Error"]);
        assert_eq!(parts("__init__"), ["init"]);
        assert_eq!(parts("utf8"), ["utf8"]);
        assert_eq!(terms("__init__"), ["init"]);
    }

    #[test]
    fn offsets_point_at_the_word_in_the_text() {
        let text = "let x = parseConfig(path);";
        let found: Vec<Word> = words(text).collect();
        let w = &found[2];
        assert_eq!(&text[w.start..w.end], "parseConfig");
        assert_eq!(w.identifier(), Some("parseconfig"));
        // Underscore-only runs and punctuation are no words.
        assert_eq!(words("__ -- ++ ()").count(), 0);
    }

    #[test]
    fn unicode_words_lowercase_and_never_split_inside_uncased_scripts() {
        assert_eq!(
            terms("Ἀθῆναι café_Größe"),
            [
                "ἀθῆναι",
                "café",
                "größe",
                "caféGröße".to_lowercase().as_str()
            ]
        );
        assert_eq!(terms("東京タワー = 1"), ["東京タワー", "1"]);
        let text = "ÉCOLE😀x";
        let found: Vec<Word> = words(text).collect();
        assert_eq!(found.len(), 2);
        assert_eq!(&text[found[1].start..found[1].end], "x");
    }

    #[test]
    fn long_identifiers_are_bounded() {
        let long = "ab".repeat(100);
        let t = terms(&long);
        assert_eq!(t, ["ab".repeat(32)]);
        let many = (0..40)
            .map(|i| format!("part{i}"))
            .collect::<Vec<_>>()
            .join("_");
        let w = words(&many).next().unwrap();
        assert_eq!(w.parts.len(), MAX_PARTS_PER_WORD);
        assert!(w.whole.unwrap().len() <= MAX_TERM_BYTES);
        // Cut on a char boundary.
        let wide = "é".repeat(50);
        assert_eq!(terms(&wide), ["é".repeat(32)]);
    }
}
