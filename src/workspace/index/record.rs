//! One file's contribution to the code index, computed once when the file is stored: its line
//! chunks and each term's postings in them, plus its symbols. The workspace object keeps one
//! [`FileRecord`] per file and feeds them all to [`super::CodeIndex::insert`] when it starts, so
//! the index is rebuilt without reading or tokenizing any file text.
//!
//! Chunking: a chunk is a run of whole lines, cut
//! - where a symbol's line starts once the chunk has [`MIN_CHUNK_LINES`] lines (so a hit in one
//!   item points into that item, without one-line chunks for runs of one-line constants);
//! - after [`MAX_CHUNK_LINES`] lines or [`MAX_CHUNK_BYTES`] bytes;
//! - inside a line when the line alone passes [`MAX_CHUNK_BYTES`] (minified code): the cut is at
//!   the start of a word, so a chunk never splits a word and a one-line file of 1 MB is still
//!   some 250 chunks, each a precise place to cut a snippet from.
//!
//! Lines holding no word never start a chunk. The record carries no text: the object already
//! stores every file's bytes (the API serves them), and snippets are cut from the text of the
//! few top hits only ([`super::snippet`]).

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::tokenize;
use crate::workspace::scan::Symbol;

/// Most lines in one chunk.
pub const MAX_CHUNK_LINES: u32 = 40;
/// A symbol's line only starts a new chunk once the current one has this many lines.
pub const MIN_CHUNK_LINES: u32 = 4;
/// Most bytes in one chunk (a longer line is cut at a word start).
pub const MAX_CHUNK_BYTES: usize = 4096;
/// Most terms (parts and whole terms, with repeats) indexed per file; the rest of a larger file
/// is not searchable by text (its symbols still are).
pub const MAX_TERMS_PER_FILE: usize = 250_000;
/// Most symbols kept per file.
pub const MAX_SYMBOLS_PER_FILE: usize = 20_000;

/// Everything the index needs about one file, serializable and compact (short field names,
/// flat integer arrays).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    /// The file's size in bytes.
    #[serde(rename = "b")]
    pub bytes: u64,
    /// The file's number of lines as `str::split('\n')` counts them (a final newline opens an
    /// empty last line): hits and symbols past it point nowhere.
    #[serde(rename = "l", default)]
    pub lines: u32,
    /// The file's symbols, as the scanner gave them (at most [`MAX_SYMBOLS_PER_FILE`]).
    #[serde(rename = "s", default)]
    pub symbols: Vec<Symbol>,
    /// The chunks in text order, flattened `[first line (1-based), first byte, terms]` triples;
    /// a chunk ends where the next begins (the last at the end of the file).
    #[serde(rename = "c", default)]
    pub(super) chunks: Vec<u32>,
    /// Each distinct term (sorted) with its postings, flattened `[chunk, term frequency, line of
    /// its first occurrence relative to the chunk's first line]` triples.
    #[serde(rename = "t", default)]
    pub(super) terms: Vec<(String, Vec<u32>)>,
}

impl FileRecord {
    /// Number of chunks.
    pub fn chunk_count(&self) -> usize {
        self.chunks.len() / 3
    }

    /// Number of distinct terms.
    pub fn term_count(&self) -> usize {
        self.terms.len()
    }
}

/// A chunk being filled.
struct OpenChunk {
    first_line: u32,
    first_byte: usize,
    lines: u32,
    terms: u32,
    /// term → (frequency, first line offset)
    counts: HashMap<String, (u32, u32)>,
}

impl OpenChunk {
    fn new(first_line: u32, first_byte: usize) -> Self {
        Self {
            first_line,
            first_byte,
            lines: 0,
            terms: 0,
            counts: HashMap::new(),
        }
    }

    fn add(&mut self, term: &str, line: u32) {
        let offset = line.saturating_sub(self.first_line);
        match self.counts.get_mut(term) {
            Some((tf, _)) => *tf += 1,
            None => {
                self.counts.insert(term.to_owned(), (1, offset));
            }
        }
        self.terms += 1;
    }
}

/// Builds a record: closes chunks into the flat arrays.
struct Builder {
    chunks: Vec<u32>,
    postings: BTreeMap<String, Vec<u32>>,
}

impl Builder {
    /// Closes `chunk` (dropped when it holds no term) and opens the next one at
    /// (`line`, `byte`).
    fn cut(&mut self, chunk: &mut OpenChunk, line: u32, byte: usize) {
        let done = std::mem::replace(chunk, OpenChunk::new(line, byte));
        if done.terms == 0 {
            return;
        }
        let index = (self.chunks.len() / 3) as u32;
        self.chunks.extend([
            done.first_line,
            u32::try_from(done.first_byte).unwrap_or(u32::MAX),
            done.terms,
        ]);
        for (term, (tf, offset)) in done.counts {
            self.postings
                .entry(term)
                .or_default()
                .extend([index, tf, offset]);
        }
    }
}

/// The record of a file with `text` and the scanner's `symbols`.
pub fn index_file(text: &str, symbols: &[Symbol]) -> FileRecord {
    let mut symbol_lines: Vec<u32> = symbols.iter().map(|s| s.line).collect();
    symbol_lines.sort_unstable();
    symbol_lines.dedup();

    let mut builder = Builder {
        chunks: Vec::new(),
        postings: BTreeMap::new(),
    };
    let mut chunk = OpenChunk::new(1, 0);
    let mut indexed_terms = 0usize;
    let mut line_start = 0usize;
    'lines: for (index, line) in text.split('\n').enumerate() {
        let line_no = u32::try_from(index + 1).unwrap_or(u32::MAX);
        let starts_item = symbol_lines.binary_search(&line_no).is_ok();
        let full =
            chunk.lines >= MAX_CHUNK_LINES || line_start - chunk.first_byte >= MAX_CHUNK_BYTES;
        if chunk.terms == 0 {
            // Nothing worth keeping yet: the chunk starts here.
            chunk = OpenChunk::new(line_no, line_start);
        } else if full || (starts_item && chunk.lines >= MIN_CHUNK_LINES) {
            builder.cut(&mut chunk, line_no, line_start);
        }
        for word in tokenize::words(line) {
            let at = line_start + word.start;
            if at - chunk.first_byte >= MAX_CHUNK_BYTES && chunk.terms > 0 {
                builder.cut(&mut chunk, line_no, at);
            }
            for term in word.terms() {
                if indexed_terms >= MAX_TERMS_PER_FILE {
                    break 'lines;
                }
                indexed_terms += 1;
                chunk.add(term, line_no);
            }
        }
        chunk.lines += 1;
        line_start += line.len() + 1;
    }
    builder.cut(&mut chunk, 0, 0);

    FileRecord {
        bytes: text.len() as u64,
        lines: u32::try_from(text.split('\n').count()).unwrap_or(u32::MAX),
        symbols: symbols.iter().take(MAX_SYMBOLS_PER_FILE).cloned().collect(),
        chunks: builder.chunks,
        terms: builder.postings.into_iter().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workspace::scan::SymbolKind;

    fn symbol(name: &str, line: u32) -> Symbol {
        Symbol {
            name: name.into(),
            kind: SymbolKind::Function,
            line,
            container: None,
            signature: format!("def {name}():"),
        }
    }

    fn chunk_starts(record: &FileRecord) -> Vec<(u32, u32)> {
        record.chunks.chunks(3).map(|c| (c[0], c[1])).collect()
    }

    #[test]
    fn symbols_start_chunks_once_a_chunk_has_a_few_lines() {
        let text = (1..=20)
            .map(|i| format!("line{i} word"))
            .collect::<Vec<_>>()
            .join("\n");
        // Line 3 is too early to cut (2 lines so far); lines 8 and 15 cut.
        let record = index_file(&text, &[symbol("a", 3), symbol("b", 8), symbol("c", 15)]);
        let lines: Vec<u32> = chunk_starts(&record).iter().map(|c| c.0).collect();
        assert_eq!(lines, [1, 8, 15]);
        assert_eq!(record.symbols.len(), 3);
    }

    #[test]
    fn long_files_cut_every_max_lines_and_skip_blank_starts() {
        let text = format!("\n\n\n{}", "x = 1\n".repeat(100));
        let record = index_file(&text, &[]);
        let lines: Vec<u32> = chunk_starts(&record).iter().map(|c| c.0).collect();
        assert_eq!(lines, [4, 44, 84]);
        // Term postings point at existing chunks, with the line offset of the first occurrence.
        let (_, x) = record.terms.iter().find(|(t, _)| t == "x").unwrap();
        assert_eq!(&x[..3], &[0, 40, 0]);
    }

    #[test]
    fn a_huge_single_line_is_cut_by_bytes_at_word_starts() {
        let text = "alpha beta ".repeat(10_000); // 110,000 bytes, one line
        let record = index_file(&text, &[]);
        let starts = chunk_starts(&record);
        assert!(
            starts.len() >= 110_000 / MAX_CHUNK_BYTES,
            "{}",
            starts.len()
        );
        for &(line, byte) in &starts {
            assert_eq!(line, 1);
            let rest = &text[byte as usize..];
            assert!(rest.starts_with("alpha") || rest.starts_with("beta"));
        }
    }

    #[test]
    fn terms_per_file_are_capped() {
        let text = "word ".repeat(MAX_TERMS_PER_FILE + 100);
        let record = index_file(&text, &[]);
        let total: u32 = record.chunks.chunks(3).map(|c| c[2]).sum();
        assert_eq!(total as usize, MAX_TERMS_PER_FILE);
    }

    #[test]
    fn the_record_round_trips_through_json() {
        let record = index_file(
            "def parse_config(path):\n    return path\n",
            &[symbol("parse_config", 1)],
        );
        let json = serde_json::to_string(&record).unwrap();
        assert_eq!(serde_json::from_str::<FileRecord>(&json).unwrap(), record);
        assert!(json.contains("[\"parseconfig\",[0,1,0]]"), "{json}");
    }
}
