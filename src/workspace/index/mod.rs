//! The code search index of one workspace, in memory: BM25 over line chunks of the files with
//! identifier-part terms, a boost for chunks that define a symbol the query names, and symbol
//! lookup by name.
//!
//! - [`tokenize`]: identifiers split into parts (`parseConfig` → `parse`, `config`, plus the whole
//!   term `parseconfig`);
//! - [`record`]: [`FileRecord`], one file's chunks, term postings and symbols, computed once per
//!   stored file ([`index_file`]) and what the object persists;
//! - this module: [`CodeIndex`], built from records (`insert`, `remove`), answering
//!   [`CodeIndex::search`] and [`CodeIndex::symbols`]; [`snippet`] cuts a hit's line from the
//!   file's text.
//!
//! Ranking. A chunk's score is the BM25 sum (the history search's maths, [`TermScorer`])
//! of the query's terms: every part of every query word, and the whole term of each multi-part
//! word, so `parse_config`, `parseConfig` and `ParseConfig` all match `parse config` and the
//! query `parseConfig`, and chunks holding the identifier itself rank above chunks holding its
//! parts apart. The last part typed also matches up to [`MAX_PREFIX_EXPANSIONS`] longer terms
//! at half weight. A chunk where a symbol starts gets a boost when the query names it, in units
//! of `S`, the query terms' summed idf (an upper bound of any chunk's BM25 score), plus the idf
//! of the query parts the match covers (so the symbol matching more of the query wins):
//! - `3·S`, exact: its name (parts joined, lowercased) is the whole query joined (`parse config`,
//!   `parseConfig` and `PARSE_CONFIG` all name `parse_config`);
//! - `2·S`: its name is a multi-part query word or a run of 2 to 4 consecutive query parts
//!   (`how does parse_config work`, `where is url parse` names `urlparse`);
//! - `1·S`: it holds every part of the query (`config` and `parse config` find
//!   `parse_config_file`);
//! - `0.5·S`: its name is one single-part word of a longer query (`config` for `parse config`).
//!
//! From `1·S` up, a definition outranks any chunk that only mentions the query (a BM25 score is
//! at most `S`), and each level outranks the ones below. Ties go to the path, then the position
//! in the file, so the order is deterministic.
//!
//! Memory: postings are 6 bytes (chunk id, term frequency, line offset); chunk ids of removed
//! files are reused, so an object that rewrites files for a long time does not grow.

pub mod record;
pub mod tokenize;

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

// foldhash (hashbrown's default) rather than SipHash: the maps are keyed by ids and terms the
// index made itself, and the rebuild at start does millions of lookups.
use hashbrown::{HashMap, HashSet};

use serde::Serialize;

use crate::api::{ErrorCode, HasErrorCode};
use crate::search::history::bm25::TermScorer;
use crate::workspace::scan::{Symbol, SymbolKind};

pub use crate::search::query::MAX_QUERY_CHARS;
pub use record::{index_file, FileRecord};

/// Most hits a search returns.
pub const MAX_LIMIT: usize = 50;
/// Most symbols a lookup returns.
pub const MAX_SYMBOL_LIMIT: usize = 1000;
/// The last query part expands to longer terms only from this many chars: shorter prefixes match
/// too much of the vocabulary.
pub const MIN_PREFIX_CHARS: usize = 3;
/// Most terms the last part expands to (first in byte order), which bounds a query's cost.
pub const MAX_PREFIX_EXPANSIONS: usize = 16;
/// Weight of a prefix expansion against a term typed in full.
const PREFIX_WEIGHT: f32 = 0.5;
/// Boosts in units of the query's summed idf (see the module doc).
const EXACT_BOOST: f32 = 3.0;
const RUN_BOOST: f32 = 2.0;
const CONTAINS_BOOST: f32 = 1.0;
const WORD_BOOST: f32 = 0.5;
/// Longest run of query parts tried as a symbol name.
const MAX_RUN_PARTS: usize = 4;
/// Snippet length in chars, before the "…" marks.
pub const SNIPPET_CHARS: usize = 200;
/// Chars kept before the match in a snippet.
const SNIPPET_LEAD_CHARS: usize = 60;

/// Why a code search failed or a record was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeSearchError {
    /// `q` is empty.
    #[error("query parameter `q` is empty; send 1 to {MAX_QUERY_CHARS} characters")]
    EmptyQuery,
    /// `q` is longer than [`MAX_QUERY_CHARS`].
    #[error("query parameter `q` has {0} characters; send at most {MAX_QUERY_CHARS}")]
    QueryTooLong(usize),
    /// `q` holds no letter or digit.
    #[error("query parameter `q` has no searchable word; include at least one letter or digit")]
    NoSearchableWords,
    /// A stored record does not describe a file (a bug or a foreign write); rescan the file.
    #[error("code index record of `{0}` is corrupt; rescan the file")]
    CorruptRecord(String),
}

impl HasErrorCode for CodeSearchError {
    fn error_code(&self) -> ErrorCode {
        match self {
            Self::EmptyQuery | Self::QueryTooLong(_) | Self::NoSearchableWords => {
                ErrorCode::InvalidField
            }
            Self::CorruptRecord(_) => ErrorCode::Internal,
        }
    }
}

/// Where a hit's chunk lies in its file: what [`snippet`] needs besides the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ChunkRef {
    /// 1-based line the chunk starts on.
    pub first_line: u32,
    /// Byte range of the chunk in the file.
    pub start_byte: u32,
    pub end_byte: u32,
}

/// One search result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CodeHit {
    pub path: String,
    /// 1-based: the matched symbol's line, else the line where the query's weightiest term first
    /// occurs in the chunk.
    pub line: u32,
    /// Higher is better; only comparable within one query.
    pub score: f32,
    /// The symbol the query named, when the chunk defines one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub symbol: Option<String>,
    #[serde(skip)]
    pub chunk: ChunkRef,
    /// The query's terms (prefix expansions included): what [`snippet`] looks for.
    #[serde(skip)]
    pub terms: Vec<String>,
}

/// The answer to a search: the best hits and how many chunks matched.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CodeResults {
    pub total: u64,
    pub hits: Vec<CodeHit>,
}

/// [`CodeIndex::heap_bytes`] by part, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeapUsage {
    /// The terms (hashed and sorted).
    pub vocabulary: usize,
    /// Term postings and chunk table.
    pub postings: usize,
    /// Symbols, their name and part tables.
    pub symbols: usize,
    /// Paths and per-file lists.
    pub files: usize,
}

/// One row of `GET /api/search?source=code`'s `results`, with the contract's field names.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CodeResultRow {
    pub path: String,
    pub line: u32,
    pub snippet: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub symbol: Option<String>,
    pub score: f32,
}

impl CodeHit {
    /// The contract's row for this hit, its snippet cut from the file's `text` (empty when the
    /// object could not read the file).
    pub fn row(&self, text: Option<&str>) -> CodeResultRow {
        CodeResultRow {
            path: self.path.clone(),
            line: self.line,
            snippet: text.map(|t| snippet(t, self)).unwrap_or_default(),
            symbol: self.symbol.clone(),
            score: self.score,
        }
    }
}

/// One symbol lookup result, with the contract's field names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SymbolHit {
    pub name: String,
    pub kind: SymbolKind,
    pub path: String,
    pub line: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    pub signature: String,
}

/// A term in one chunk, in 6 bytes (the bulk of the index's memory): the chunk id as two
/// halves so the struct aligns to 2, the term frequency saturated at 255 (BM25 saturates long
/// before), the line offset within the chunk (chunks have at most 40 lines; a longer offset from
/// a foreign record saturates).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Posting {
    doc: [u16; 2],
    tf: u8,
    /// Line of the term's first occurrence, relative to the chunk's first line.
    line: u8,
}

impl Posting {
    fn new(doc: u32, tf: u32, line: u32) -> Self {
        Self {
            doc: [doc as u16, (doc >> 16) as u16],
            tf: u8::try_from(tf).unwrap_or(u8::MAX),
            line: u8::try_from(line).unwrap_or(u8::MAX),
        }
    }

    fn doc(&self) -> u32 {
        u32::from(self.doc[0]) | (u32::from(self.doc[1]) << 16)
    }
}

/// A chunk (document); `file == FREE` marks an unused slot.
#[derive(Debug, Clone, Copy)]
struct Doc {
    file: u32,
    first_line: u32,
    start_byte: u32,
    end_byte: u32,
    len: u32,
}

const FREE: u32 = u32::MAX;

/// A symbol of a file, by file slot and index in the file's symbols.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct SymbolRef {
    file: u32,
    symbol: u32,
}

#[derive(Debug, Clone)]
struct SymbolInfo {
    /// The chunk holding the symbol's line, if any chunk does.
    doc: Option<u32>,
    /// Ids of its name's distinct parts.
    parts: Box<[u32]>,
    /// Id of its name's parts joined (the key looked up for exact and run matches).
    key: Option<u32>,
}

#[derive(Debug, Clone)]
struct FileEntry {
    path: Box<str>,
    bytes: u64,
    symbols: Vec<Symbol>,
    info: Vec<SymbolInfo>,
    docs: Vec<u32>,
    /// Ids of the terms with postings in this file.
    terms: Vec<u32>,
}

/// The in-memory code index of one workspace.
#[derive(Debug, Clone, Default)]
pub struct CodeIndex {
    by_path: BTreeMap<Box<str>, u32>,
    files: Vec<Option<FileEntry>>,
    free_files: Vec<u32>,
    /// Term → id, for lookups (hashed: the rebuild at start does millions of them).
    vocab: HashMap<Box<str>, u32>,
    /// The same terms in byte order, for the prefix expansion.
    sorted_terms: BTreeMap<Box<str>, u32>,
    postings: Vec<Vec<Posting>>,
    /// Symbols by the id of their key.
    symbol_keys: HashMap<u32, Vec<SymbolRef>>,
    /// Symbols by the id of each of their parts.
    symbol_parts: HashMap<u32, Vec<SymbolRef>>,
    /// Every symbol by lowercase name, then file slot and index: name and prefix lookup.
    symbol_names: BTreeSet<(Box<str>, u32, u32)>,
    docs: Vec<Doc>,
    free_docs: Vec<u32>,
    live_docs: u64,
    total_len: u64,
}

/// A symbol name a query names: parts of the query joined, with the boost level of a symbol of
/// that name and the parts it covers.
#[derive(Debug)]
struct QueryKey {
    key: String,
    level: f32,
    parts: Vec<String>,
}

/// A query split into what the ranking needs.
#[derive(Debug)]
struct ParsedQuery {
    /// Distinct terms in query order (parts and whole terms).
    terms: Vec<String>,
    /// Distinct parts in query order.
    parts: Vec<String>,
    /// Symbol names the query names.
    keys: Vec<QueryKey>,
    /// The last part typed.
    last: String,
}

fn parse_query(q: &str) -> Result<ParsedQuery, CodeSearchError> {
    let chars = q.chars().count();
    if chars == 0 {
        return Err(CodeSearchError::EmptyQuery);
    }
    if chars > MAX_QUERY_CHARS {
        return Err(CodeSearchError::QueryTooLong(chars));
    }
    let words: Vec<tokenize::Word> = tokenize::words(q).collect();
    let all_parts: Vec<&str> = words
        .iter()
        .flat_map(|w| w.parts.iter().map(String::as_str))
        .collect();
    let last = all_parts
        .last()
        .map(|s| (*s).to_owned())
        .ok_or(CodeSearchError::NoSearchableWords)?;
    let mut seen = HashSet::new();
    let terms: Vec<String> = words
        .iter()
        .flat_map(tokenize::Word::terms)
        .filter(|t| seen.insert(*t))
        .map(str::to_owned)
        .collect();
    let mut seen = HashSet::new();
    let parts: Vec<String> = all_parts
        .iter()
        .filter(|t| seen.insert(**t))
        .map(|t| (*t).to_owned())
        .collect();
    let mut keys: Vec<QueryKey> = Vec::new();
    let mut add_key = |parts: &[&str], level: f32| {
        let key = cap_term(parts.concat());
        if let Some(k) = keys.iter_mut().find(|k| k.key == key) {
            k.level = k.level.max(level);
        } else {
            keys.push(QueryKey {
                key,
                level,
                parts: parts.iter().map(|p| (*p).to_owned()).collect(),
            });
        }
    };
    add_key(&all_parts, EXACT_BOOST);
    for word in &words {
        let parts: Vec<&str> = word.parts.iter().map(String::as_str).collect();
        let level = if parts.len() > 1 {
            RUN_BOOST
        } else {
            WORD_BOOST
        };
        add_key(&parts, level);
    }
    for run in 2..=MAX_RUN_PARTS.min(all_parts.len()) {
        for window in all_parts.windows(run) {
            add_key(window, RUN_BOOST);
        }
    }
    Ok(ParsedQuery {
        terms,
        parts,
        keys,
        last,
    })
}

/// `term` cut to the tokenizer's bound, as the index stores keys.
fn cap_term(mut term: String) -> String {
    if term.len() > tokenize::MAX_TERM_BYTES {
        let mut cut = tokenize::MAX_TERM_BYTES;
        while !term.is_char_boundary(cut) {
            cut -= 1;
        }
        term.truncate(cut);
    }
    term
}

/// A symbol's name as distinct parts and key (parts joined), over all its words.
fn symbol_terms(name: &str) -> (Vec<String>, Option<String>) {
    let mut parts: Vec<String> = Vec::new();
    for word in tokenize::words(name) {
        parts.extend(word.parts);
    }
    let key = (!parts.is_empty()).then(|| cap_term(parts.concat()));
    let mut seen = HashSet::new();
    parts.retain(|p| seen.insert(p.clone()));
    (parts, key)
}

/// Per-chunk score accumulator of one query.
#[derive(Debug, Clone, Copy, Default)]
struct Acc {
    score: f32,
    best: f32,
    line: u8,
}

impl CodeIndex {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of files.
    pub fn len(&self) -> usize {
        self.by_path.len()
    }

    /// Whether no file is indexed.
    pub fn is_empty(&self) -> bool {
        self.by_path.is_empty()
    }

    /// The indexed paths, in byte order.
    pub fn files(&self) -> impl Iterator<Item = &str> {
        self.by_path.keys().map(|p| &**p)
    }

    /// The symbols of `path`, if indexed.
    pub fn file_symbols(&self, path: &str) -> Option<&[Symbol]> {
        self.file(path).map(|f| f.symbols.as_slice())
    }

    /// The size in bytes of `path` as indexed.
    pub fn file_bytes(&self, path: &str) -> Option<u64> {
        self.file(path).map(|f| f.bytes)
    }

    fn file(&self, path: &str) -> Option<&FileEntry> {
        let slot = *self.by_path.get(path)?;
        self.files.get(slot as usize)?.as_ref()
    }

    fn term_id(&mut self, term: &str) -> u32 {
        if let Some(&id) = self.vocab.get(term) {
            return id;
        }
        let id = self.postings.len() as u32;
        self.vocab.insert(term.into(), id);
        self.sorted_terms.insert(term.into(), id);
        self.postings.push(Vec::new());
        id
    }

    /// Adds `path` from its record, replacing what was indexed under `path`. A record that does
    /// not describe a file (chunks out of order, postings naming no chunk) is refused whole and
    /// the index is left as it was.
    pub fn insert(&mut self, path: &str, record: FileRecord) -> Result<(), CodeSearchError> {
        validate(&record).map_err(|()| CodeSearchError::CorruptRecord(path.to_owned()))?;
        self.remove(path);
        let FileRecord {
            bytes,
            lines,
            symbols,
            chunks,
            terms,
        } = record;

        let slot = match self.free_files.pop() {
            Some(slot) => slot,
            None => {
                self.files.push(None);
                (self.files.len() - 1) as u32
            }
        };
        let triples: Vec<&[u32]> = chunks.chunks_exact(3).collect();
        let mut docs = Vec::with_capacity(triples.len());
        for (i, c) in triples.iter().enumerate() {
            let end_byte = triples
                .get(i + 1)
                .map_or(u32::try_from(bytes).unwrap_or(u32::MAX), |next| next[1]);
            let doc = Doc {
                file: slot,
                first_line: c[0],
                start_byte: c[1],
                end_byte,
                len: c[2],
            };
            let id = match self.free_docs.pop() {
                Some(id) => {
                    if let Some(d) = self.docs.get_mut(id as usize) {
                        *d = doc;
                    }
                    id
                }
                None => {
                    self.docs.push(doc);
                    (self.docs.len() - 1) as u32
                }
            };
            self.total_len += u64::from(c[2]);
            docs.push(id);
        }
        self.live_docs += docs.len() as u64;

        let mut term_ids = Vec::with_capacity(terms.len());
        for (term, flat) in &terms {
            let id = self.term_id(term);
            term_ids.push(id);
            let Some(list) = self.postings.get_mut(id as usize) else {
                continue;
            };
            for p in flat.chunks_exact(3) {
                if let Some(&doc) = docs.get(p[0] as usize) {
                    list.push(Posting::new(doc, p[1], p[2]));
                }
            }
        }

        let first_lines: Vec<u32> = triples.iter().map(|c| c[0]).collect();
        let mut info = Vec::with_capacity(symbols.len());
        for (i, symbol) in symbols.iter().enumerate() {
            // A symbol outside the file (a stale scan) is listed but boosts no chunk.
            let doc = (1..=lines)
                .contains(&symbol.line)
                .then(|| chunk_of_line(&first_lines, symbol.line))
                .flatten()
                .and_then(|c| docs.get(c).copied());
            let (parts, key) = symbol_terms(&symbol.name);
            let sref = SymbolRef {
                file: slot,
                symbol: i as u32,
            };
            let part_ids: Box<[u32]> = parts.iter().map(|p| self.term_id(p)).collect();
            for &id in part_ids.iter() {
                self.symbol_parts.entry(id).or_default().push(sref);
            }
            let key = key.map(|k| self.term_id(&k));
            if let Some(id) = key {
                self.symbol_keys.entry(id).or_default().push(sref);
            }
            self.symbol_names
                .insert((symbol.name.to_lowercase().into(), slot, i as u32));
            info.push(SymbolInfo {
                doc,
                parts: part_ids,
                key,
            });
        }

        if let Some(entry) = self.files.get_mut(slot as usize) {
            *entry = Some(FileEntry {
                path: path.into(),
                bytes,
                symbols,
                info,
                docs,
                terms: term_ids,
            });
        }
        self.by_path.insert(path.into(), slot);
        Ok(())
    }

    /// Removes `path`; whether it was indexed.
    pub fn remove(&mut self, path: &str) -> bool {
        let Some(slot) = self.by_path.remove(path) else {
            return false;
        };
        let Some(entry) = self.files.get_mut(slot as usize).and_then(Option::take) else {
            return false;
        };
        // The file's chunks as a bitmap (an eighth of a byte per chunk of the index, which stays
        // in cache while the posting lists are filtered).
        let mut dead = vec![0u64; self.docs.len().div_ceil(64)];
        for &doc in &entry.docs {
            if let Some(word) = dead.get_mut(doc as usize / 64) {
                *word |= 1 << (doc % 64);
            }
        }
        let is_dead = |doc: u32| {
            dead.get(doc as usize / 64)
                .is_some_and(|word| word & (1 << (doc % 64)) != 0)
        };
        for &id in &entry.terms {
            if let Some(list) = self.postings.get_mut(id as usize) {
                list.retain(|p| !is_dead(p.doc()));
                if list.is_empty() {
                    // Give the memory back; the term keeps its id for a later file.
                    *list = Vec::new();
                }
            }
        }
        for (i, symbol) in entry.symbols.iter().enumerate() {
            self.symbol_names
                .remove(&(symbol.name.to_lowercase().into(), slot, i as u32));
        }
        for info in &entry.info {
            let table_ids = info.parts.iter().map(|&id| (false, id));
            for (is_key, id) in table_ids.chain(info.key.map(|k| (true, k))) {
                let table = if is_key {
                    &mut self.symbol_keys
                } else {
                    &mut self.symbol_parts
                };
                if let Some(list) = table.get_mut(&id) {
                    list.retain(|s| s.file != slot);
                    if list.is_empty() {
                        table.remove(&id);
                    }
                }
            }
        }
        for &doc in &entry.docs {
            if let Some(d) = self.docs.get_mut(doc as usize) {
                self.total_len = self.total_len.saturating_sub(u64::from(d.len));
                d.file = FREE;
                self.free_docs.push(doc);
            }
        }
        self.live_docs = self.live_docs.saturating_sub(entry.docs.len() as u64);
        self.free_files.push(slot);
        true
    }

    /// Bytes of heap the index holds (capacities, not allocator rounding).
    pub fn heap_bytes(&self) -> usize {
        let h = self.heap_usage();
        h.vocabulary + h.postings + h.symbols + h.files
    }

    /// [`Self::heap_bytes`] by part.
    pub fn heap_usage(&self) -> HeapUsage {
        use std::mem::size_of;
        let str_node = size_of::<Box<str>>() + size_of::<u32>();
        let vocabulary = self
            .vocab
            .keys()
            .map(|t| t.len() + str_node + 1)
            .sum::<usize>()
            + self
                .sorted_terms
                .keys()
                .map(|t| t.len() + str_node)
                .sum::<usize>();
        let postings = self.postings.capacity() * size_of::<Vec<Posting>>()
            + self
                .postings
                .iter()
                .map(|l| l.capacity() * size_of::<Posting>())
                .sum::<usize>()
            + self.docs.capacity() * size_of::<Doc>()
            + self.free_docs.capacity() * 4;
        let mut symbols = 0;
        for table in [&self.symbol_keys, &self.symbol_parts] {
            symbols += table.capacity() * (size_of::<u32>() + size_of::<Vec<SymbolRef>>() + 1);
            symbols += table
                .values()
                .map(|l| l.capacity() * size_of::<SymbolRef>())
                .sum::<usize>();
        }
        // A B-tree entry: the key plus about half its size of node overhead.
        symbols += self
            .symbol_names
            .iter()
            .map(|(name, _, _)| name.len() + size_of::<(Box<str>, u32, u32)>() * 3 / 2)
            .sum::<usize>();
        let mut files = self
            .by_path
            .keys()
            .map(|p| p.len() + str_node)
            .sum::<usize>()
            + self.files.capacity() * size_of::<Option<FileEntry>>();
        for file in self.files.iter().flatten() {
            files += file.path.len() + file.docs.capacity() * 4 + file.terms.capacity() * 4;
            symbols += file.info.capacity() * size_of::<SymbolInfo>();
            symbols += file.info.iter().map(|i| i.parts.len() * 4).sum::<usize>();
            symbols += file.symbols.capacity() * size_of::<Symbol>();
            symbols += file
                .symbols
                .iter()
                .map(|s| {
                    s.name.capacity()
                        + s.signature.capacity()
                        + s.container.as_ref().map_or(0, String::capacity)
                })
                .sum::<usize>();
        }
        HeapUsage {
            vocabulary,
            postings,
            symbols,
            files,
        }
    }

    /// Gives back the spare capacity of every list: for after a bulk load (the object's start),
    /// where growth by doubling leaves up to half of each posting list unused.
    pub fn shrink_to_fit(&mut self) {
        for list in &mut self.postings {
            list.shrink_to_fit();
        }
        for list in self
            .symbol_keys
            .values_mut()
            .chain(self.symbol_parts.values_mut())
        {
            list.shrink_to_fit();
        }
        self.postings.shrink_to_fit();
        self.docs.shrink_to_fit();
    }

    fn path_of(&self, doc: u32) -> &str {
        self.docs
            .get(doc as usize)
            .and_then(|d| self.files.get(d.file as usize))
            .and_then(Option::as_ref)
            .map_or("", |f| &f.path)
    }

    /// The best `limit` (at most [`MAX_LIMIT`]) chunks for `query`, best first.
    pub fn search(&self, query: &str, limit: usize) -> Result<CodeResults, CodeSearchError> {
        let parsed = parse_query(query)?;
        let limit = limit.min(MAX_LIMIT);

        // The query's terms with weights; the last part's expansions at half weight.
        let mut weighted: Vec<(String, f32)> =
            parsed.terms.iter().map(|t| (t.clone(), 1.0)).collect();
        if parsed.last.chars().count() >= MIN_PREFIX_CHARS {
            let expansions = self
                .sorted_terms
                .range::<str, _>((
                    std::ops::Bound::Excluded(parsed.last.as_str()),
                    std::ops::Bound::Unbounded,
                ))
                .take_while(|(t, _)| t.starts_with(parsed.last.as_str()))
                .filter(|(t, &id)| {
                    !parsed.terms.iter().any(|q| q == &***t)
                        && self
                            .postings
                            .get(id as usize)
                            .is_some_and(|l| !l.is_empty())
                })
                .take(MAX_PREFIX_EXPANSIONS)
                .map(|(t, _)| (t.to_string(), PREFIX_WEIGHT))
                .collect::<Vec<_>>();
            weighted.extend(expansions);
        }

        let mut acc = vec![Acc::default(); self.docs.len()];
        let mut touched: Vec<u32> = Vec::new();
        let mut idf_of: HashMap<u32, f32> = HashMap::new();
        let mut idf_sum = 0f32;
        for (term, weight) in &weighted {
            let Some(&id) = self.vocab.get(term.as_str()) else {
                continue;
            };
            let Some(list) = self.postings.get(id as usize).filter(|l| !l.is_empty()) else {
                continue;
            };
            let scorer = TermScorer::new(list.len() as u64, self.live_docs, self.total_len);
            if *weight >= 1.0 {
                idf_sum += scorer.idf();
                idf_of.insert(id, scorer.idf());
            }
            for p in list {
                let id = p.doc();
                let (Some(doc), Some(a)) = (self.docs.get(id as usize), acc.get_mut(id as usize))
                else {
                    continue;
                };
                let s = weight * scorer.score(u32::from(p.tf), doc.len);
                if a.score == 0.0 {
                    touched.push(id);
                }
                a.score += s;
                if s > a.best {
                    a.best = s;
                    a.line = p.line;
                }
            }
        }

        // Symbol boosts: the best one per chunk.
        let mut named: HashMap<u32, (f32, SymbolRef)> = HashMap::new();
        let mut consider = |sref: SymbolRef, level: f32, covered: f32| {
            let Some(doc) = self
                .files
                .get(sref.file as usize)
                .and_then(Option::as_ref)
                .and_then(|file| file.info.get(sref.symbol as usize))
                .and_then(|info| info.doc)
            else {
                return;
            };
            let boost = level * idf_sum + covered;
            let better = named.get(&doc).is_none_or(|(b, old)| {
                boost > *b || (boost == *b && (sref.file, sref.symbol) < (old.file, old.symbol))
            });
            if better {
                named.insert(doc, (boost, sref));
            }
        };
        let idf_of_part = |part: &str| {
            self.vocab
                .get(part)
                .and_then(|id| idf_of.get(id))
                .copied()
                .unwrap_or(0.0)
        };
        for key in &parsed.keys {
            if let Some(list) = self
                .vocab
                .get(key.key.as_str())
                .and_then(|id| self.symbol_keys.get(id))
            {
                let covered: f32 = key.parts.iter().map(|p| idf_of_part(p)).sum();
                for &sref in list {
                    consider(sref, key.level, covered);
                }
            }
        }
        // Symbols holding every query part: scan the rarest part's symbols.
        let part_ids: Option<Vec<u32>> = parsed
            .parts
            .iter()
            .map(|p| self.vocab.get(p.as_str()).copied())
            .collect();
        if let Some(part_ids) = part_ids {
            let rarest = part_ids
                .iter()
                .filter_map(|id| self.symbol_parts.get(id))
                .min_by_key(|l| l.len());
            let all_have_symbols = part_ids.iter().all(|id| self.symbol_parts.contains_key(id));
            let all_covered: f32 = parsed.parts.iter().map(|p| idf_of_part(p)).sum();
            if let (Some(list), true) = (rarest, all_have_symbols) {
                for &sref in list {
                    let holds_all = self
                        .files
                        .get(sref.file as usize)
                        .and_then(Option::as_ref)
                        .and_then(|f| f.info.get(sref.symbol as usize))
                        .is_some_and(|info| part_ids.iter().all(|id| info.parts.contains(id)));
                    if holds_all {
                        consider(sref, CONTAINS_BOOST, all_covered);
                    }
                }
            }
        }
        for (&doc, &(boost, _)) in &named {
            if let Some(a) = acc.get_mut(doc as usize) {
                if a.score == 0.0 {
                    touched.push(doc);
                }
                a.score += boost;
            }
        }

        // Best first; ties by path then position, so the order never depends on insertion.
        let score_of = |doc: u32| acc.get(doc as usize).map_or(0.0, |a| a.score);
        let order = |a: &u32, b: &u32| -> Ordering {
            score_of(*b)
                .total_cmp(&score_of(*a))
                .then_with(|| self.path_of(*a).cmp(self.path_of(*b)))
                .then_with(|| {
                    let start = |d: &u32| self.docs.get(*d as usize).map_or(0, |d| d.start_byte);
                    start(a).cmp(&start(b))
                })
        };
        let total = touched.len() as u64;
        if limit == 0 {
            return Ok(CodeResults {
                total,
                hits: Vec::new(),
            });
        }
        if touched.len() > limit {
            touched.select_nth_unstable_by(limit - 1, order);
            touched.truncate(limit);
        }
        touched.sort_unstable_by(order);

        let terms: Vec<String> = weighted.into_iter().map(|(t, _)| t).collect();
        let hits = touched
            .into_iter()
            .filter_map(|id| {
                let doc = self.docs.get(id as usize)?;
                let file = self.files.get(doc.file as usize)?.as_ref()?;
                let a = acc.get(id as usize)?;
                let symbol = named
                    .get(&id)
                    .and_then(|(_, s)| file.symbols.get(s.symbol as usize));
                let line = symbol.map_or_else(
                    || doc.first_line.saturating_add(u32::from(a.line)),
                    |s| s.line,
                );
                Some(CodeHit {
                    path: file.path.to_string(),
                    line,
                    score: a.score,
                    symbol: symbol.map(|s| s.name.clone()),
                    chunk: ChunkRef {
                        first_line: doc.first_line,
                        start_byte: doc.start_byte,
                        end_byte: doc.end_byte,
                    },
                    terms: terms.clone(),
                })
            })
            .collect();
        Ok(CodeResults { total, hits })
    }

    /// Symbols by name: with `q`, exact names first (case-insensitive), then names starting with
    /// `q`, then names holding every part of `q` (`config` finds `parse_config`); without `q`,
    /// all. Only under `path_prefix` and of `kind` when given; at most `limit` (capped at
    /// [`MAX_SYMBOL_LIMIT`]), ordered by match, path, line and name.
    pub fn symbols(
        &self,
        q: Option<&str>,
        path_prefix: Option<&str>,
        kind: Option<SymbolKind>,
        limit: usize,
    ) -> Vec<SymbolHit> {
        let limit = limit.min(MAX_SYMBOL_LIMIT);
        let prefix = path_prefix.unwrap_or("");
        let keep = |file: &FileEntry, i: usize| {
            file.path.starts_with(prefix)
                && file
                    .symbols
                    .get(i)
                    .is_some_and(|s| kind.is_none_or(|k| k == s.kind))
        };
        let mut found: Vec<(u8, &FileEntry, usize)> = Vec::new();
        match q.map(str::to_lowercase).filter(|q| !q.is_empty()) {
            None => {
                for (_, &slot) in self.by_path.range::<str, _>((
                    std::ops::Bound::Included(prefix),
                    std::ops::Bound::Unbounded,
                )) {
                    let Some(file) = self.files.get(slot as usize).and_then(Option::as_ref) else {
                        continue;
                    };
                    if !file.path.starts_with(prefix) {
                        break;
                    }
                    found.extend(
                        (0..file.symbols.len())
                            .filter(|&i| keep(file, i))
                            .map(|i| (0, file, i)),
                    );
                }
            }
            Some(q_lower) => {
                // Exact and prefix matches: a range of the sorted lowercase names.
                let mut seen: HashSet<SymbolRef> = HashSet::new();
                let from = (Box::<str>::from(q_lower.as_str()), 0, 0);
                for (name, file_slot, i) in self.symbol_names.range(from..) {
                    if !name.starts_with(q_lower.as_str()) {
                        break;
                    }
                    let Some(file) = self.files.get(*file_slot as usize).and_then(Option::as_ref)
                    else {
                        continue;
                    };
                    seen.insert(SymbolRef {
                        file: *file_slot,
                        symbol: *i,
                    });
                    if keep(file, *i as usize) {
                        let rank = if **name == *q_lower { 0 } else { 1 };
                        found.push((rank, file, *i as usize));
                    }
                }
                // Part matches: the symbols of the rarest query part holding all the others.
                let (parts, _) = symbol_terms(q.unwrap_or(""));
                let part_ids: Option<Vec<u32>> = parts
                    .iter()
                    .map(|p| self.vocab.get(p.as_str()).copied())
                    .collect();
                let rarest = part_ids.as_ref().and_then(|ids| {
                    ids.iter()
                        .map(|id| self.symbol_parts.get(id))
                        .collect::<Option<Vec<_>>>()
                        .and_then(|lists| lists.into_iter().min_by_key(|l| l.len()))
                });
                if let (Some(ids), Some(list)) = (&part_ids, rarest) {
                    for sref in list {
                        let Some(file) =
                            self.files.get(sref.file as usize).and_then(Option::as_ref)
                        else {
                            continue;
                        };
                        let holds = file
                            .info
                            .get(sref.symbol as usize)
                            .is_some_and(|info| ids.iter().all(|id| info.parts.contains(id)));
                        if holds && !seen.contains(sref) && keep(file, sref.symbol as usize) {
                            found.push((2, file, sref.symbol as usize));
                        }
                    }
                }
            }
        }
        fn key<'f>(
            &(rank, file, i): &(u8, &'f FileEntry, usize),
        ) -> (u8, &'f str, u32, Option<&'f str>) {
            let s = file.symbols.get(i);
            (
                rank,
                &file.path,
                s.map_or(0, |s| s.line),
                s.map(|s| s.name.as_str()),
            )
        }
        found.sort_unstable_by(|a, b| key(a).cmp(&key(b)));
        found
            .into_iter()
            .take(limit)
            .filter_map(|(_, file, i)| {
                let s = file.symbols.get(i)?;
                Some(SymbolHit {
                    name: s.name.clone(),
                    kind: s.kind,
                    path: file.path.to_string(),
                    line: s.line,
                    container: s.container.clone(),
                    signature: s.signature.clone(),
                })
            })
            .collect()
    }
}

/// Whether a record describes a file: whole triples, chunks in text order within the file,
/// postings naming existing chunks with a frequency of at least 1, terms non-empty and bounded.
fn validate(record: &FileRecord) -> Result<(), ()> {
    if !record.chunks.len().is_multiple_of(3) {
        return Err(());
    }
    let chunks = record.chunk_count();
    let mut previous: Option<(u32, u32)> = None;
    for c in record.chunks.chunks_exact(3) {
        let (line, byte) = (c[0], c[1]);
        let ordered = previous.is_none_or(|(l, b)| line >= l && byte > b);
        if line == 0 || line > record.lines || !ordered || u64::from(byte) > record.bytes {
            return Err(());
        }
        previous = Some((line, byte));
    }
    for (term, flat) in &record.terms {
        if term.is_empty() || term.len() > tokenize::MAX_TERM_BYTES || !flat.len().is_multiple_of(3)
        {
            return Err(());
        }
        if flat
            .chunks_exact(3)
            .any(|p| p[0] as usize >= chunks || p[1] == 0)
        {
            return Err(());
        }
    }
    Ok(())
}

/// The index of the chunk holding `line` (the first chunk starting on it, else the last one
/// starting before it), given the chunks' first lines in order.
fn chunk_of_line(first_lines: &[u32], line: u32) -> Option<usize> {
    let at = first_lines.partition_point(|&l| l < line);
    if first_lines.get(at) == Some(&line) {
        Some(at)
    } else {
        at.checked_sub(1)
    }
}

/// About [`SNIPPET_CHARS`] chars of the hit's line from the file's `text`, around the first word
/// matching the query (within the hit's chunk when the line is longer than the chunk), leading
/// indentation dropped, tabs as spaces, "…" where cut. Empty when the text has no such line (the
/// file changed since it was indexed).
pub fn snippet(text: &str, hit: &CodeHit) -> String {
    let Some((line_start, line)) = hit_line(text, hit) else {
        return String::new();
    };
    // Within the chunk when the chunk cuts the line (a long minified line).
    let line_end = line_start + line.len();
    let from = (hit.chunk.start_byte as usize).clamp(line_start, line_end);
    let to = (hit.chunk.end_byte as usize).clamp(from, line_end);
    let segment = match text.get(from..to) {
        Some(s) if !s.trim().is_empty() => s,
        _ => line,
    };
    let segment = segment.trim();
    let match_at = tokenize::words(segment)
        .find(|w| w.terms().any(|t| hit.terms.iter().any(|q| q == t)))
        .map_or(0, |w| w.start);
    let total_chars = segment.chars().count();
    let match_char = segment.get(..match_at).map_or(0, |s| s.chars().count());
    let mut first = match_char.saturating_sub(SNIPPET_LEAD_CHARS);
    if first + SNIPPET_CHARS > total_chars {
        first = total_chars.saturating_sub(SNIPPET_CHARS);
    }
    let mut out = String::new();
    if first > 0 {
        out.push('…');
    }
    out.extend(segment.chars().skip(first).take(SNIPPET_CHARS).map(|c| {
        if c.is_control() {
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

/// The byte offset and text (without `\r`) of the hit's line in its file's `text`, found from
/// the chunk's start, so a hit deep in a large file costs its chunk rather than the file; the
/// text is walked from the top only when the chunk does not fit it (the file changed).
pub fn hit_line<'t>(text: &'t str, hit: &CodeHit) -> Option<(usize, &'t str)> {
    let start = hit.chunk.start_byte as usize;
    let (Some(before), Some(mut rest)) = (
        text.get(..start),
        hit.line.checked_sub(hit.chunk.first_line),
    ) else {
        return nth_line(text, hit.line);
    };
    let mut from = before.rfind('\n').map_or(0, |i| i + 1);
    loop {
        let tail = text.get(from..)?;
        let end = tail.find('\n').map_or(text.len(), |i| from + i);
        if rest == 0 {
            let line = text.get(from..end)?;
            return Some((from, line.strip_suffix('\r').unwrap_or(line)));
        }
        if end >= text.len() {
            return None;
        }
        from = end + 1;
        rest -= 1;
    }
}

/// The byte offset and text (without `\r`) of 1-based line `line` of `text`.
pub fn nth_line(text: &str, line: u32) -> Option<(usize, &str)> {
    let mut start = 0usize;
    for (i, l) in text.split('\n').enumerate() {
        if i + 1 == line as usize {
            return Some((start, l.strip_suffix('\r').unwrap_or(l)));
        }
        start += l.len() + 1;
    }
    None
}

#[cfg(test)]
mod tests;
