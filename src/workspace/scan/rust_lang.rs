//! The Rust scanner: a file's top-level items and the fns of its top-level `impl` and `trait`
//! blocks, from raw bytes, without a full parser.
//!
//! A small lexer turns the bytes into tokens (it knows raw strings with any number of `#`, byte
//! and C strings, char literals versus lifetimes, nested block comments), a table matches every
//! bracket, and the item walker reads only the item heads at the level it is scanning, jumping
//! over every body through the bracket table. So a body's contents never leak out as items and
//! the work is linear in the file's size.
//!
//! The mapping (the accuracy bench `benches/scanner_rust_accuracy.rs` derives the same from `syn`):
//! - `fn` → function; inside a top-level `impl` or `trait` → method, `container` = the impl's
//!   self type name or the trait's name.
//! - `struct`/`union` → struct, `enum` → enum, `trait` (and trait aliases) → trait,
//!   `mod` (inline or not; an inline module's contents are not top level) → module,
//!   `const`/`static` → const (`const _` is skipped: it names nothing), `type` → type.
//! - `impl` → impl named by its self type alone, without generics or path
//!   (`impl<T> fmt::Display for Wrapper<T>` → `Wrapper`), so looking up a type finds its impls;
//!   the trait is in the signature. References, pointers, slices, arrays and parentheses are
//!   looked through (`&'a [Foo]` → `Foo`), a tuple is named by its first element (`()` if empty),
//!   a bare fn type is `fn`, the never type `!`, `dyn Trait` is `Trait`.
//! - `macro_rules! name` → function named `name`: a macro is called like one.
//! - Items of `extern { … }` blocks are the module's own: fn → function, static → const,
//!   type → type.
//! - Not symbols: `use`, `extern crate`, macro invocations (what a macro like `cfg_if!` expands to
//!   is not visible without expanding it), and consts, types and macros inside impls and traits.
//!
//! `line` is the line of the item's keyword (`fn`, `struct`, `impl`, `macro_rules`, …), not of
//! its attributes, doc comments, visibility or qualifiers.
//!
//! Broken files: a closer of the wrong kind still closes, and a bracket that never closes ends
//! before the next unindented line that starts an item, so the items after a half-typed one are
//! still listed. Nothing panics or loops; the bracket table makes every skip a jump.

use super::text::memchr_from;
use super::tokens::{impl_scan_token, match_brackets, starts_item, TokenWalk};
use super::{Symbol, SymbolKind};

/// The items of one Rust source file, in source order.
pub fn scan(src: &[u8]) -> Vec<Symbol> {
    let tokens = lex(src);
    let groups = match_brackets(src, &tokens, |token| {
        starts_item(src, token, b'#', &ITEM_START_WORDS)
    });
    let mut walker = TokenWalk::new(src, &tokens, &groups);
    walker.items(0, tokens.len(), &Level::File);
    walker.out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Ident,
    Lifetime,
    /// Strings, chars, numbers: nothing inside matters.
    Literal,
    /// `::`
    PathSep,
    /// `->`, kept whole so its `>` never closes a generic list.
    Arrow,
    /// `=>`
    FatArrow,
    Open(u8),
    Close(u8),
    Punct(u8),
}

#[derive(Debug, Clone, Copy)]
struct Token {
    kind: Kind,
    start: usize,
    end: usize,
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b >= 0x80
}

fn is_ident_continue(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

/// Byte length of the UTF-8 char that starts with `lead` (1 for a stray byte).
fn utf8_len(lead: u8) -> usize {
    match lead {
        0xF0..=0xF7 => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

fn lex(src: &[u8]) -> Vec<Token> {
    let mut tokens = Vec::with_capacity(src.len() / 5);
    let len = src.len();
    let at = |i: usize| src.get(i).copied().unwrap_or(0);
    let mut i = skip_shebang(src);
    while i < len {
        let b = at(i);
        let start = i;
        let kind = match b {
            b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c => {
                i += 1;
                continue;
            }
            b'/' if at(i + 1) == b'/' => {
                i = memchr_from(src, b'\n', i);
                continue;
            }
            b'/' if at(i + 1) == b'*' => {
                i = skip_block_comment(src, i);
                continue;
            }
            b'"' => {
                i = skip_quoted(src, i + 1, b'"');
                Kind::Literal
            }
            b'\'' => {
                let (end, kind) = char_or_lifetime(src, i);
                i = end;
                kind
            }
            b'0'..=b'9' => {
                i += 1;
                while i < len {
                    let c = at(i);
                    if is_ident_continue(c) || (c == b'.' && at(i + 1).is_ascii_digit()) {
                        i += 1;
                    } else {
                        break;
                    }
                }
                Kind::Literal
            }
            _ if is_ident_start(b) => {
                let (end, kind) = ident_or_prefixed_literal(src, i);
                i = end;
                kind
            }
            b':' if at(i + 1) == b':' => {
                i += 2;
                Kind::PathSep
            }
            b'-' if at(i + 1) == b'>' => {
                i += 2;
                Kind::Arrow
            }
            b'=' if at(i + 1) == b'>' => {
                i += 2;
                Kind::FatArrow
            }
            b'(' | b'[' | b'{' => {
                i += 1;
                Kind::Open(b)
            }
            b')' | b']' | b'}' => {
                i += 1;
                Kind::Close(b)
            }
            _ => {
                i += 1;
                Kind::Punct(b)
            }
        };
        tokens.push(Token {
            kind,
            start,
            end: i.min(len),
        });
    }
    tokens
}

/// Where lexing starts: after a `#!` first line unless it opens an inner attribute `#![…]`.
fn skip_shebang(src: &[u8]) -> usize {
    if !src.starts_with(b"#!") {
        return 0;
    }
    let rest = src.get(2..).unwrap_or_default();
    let next = rest.iter().find(|b| !b.is_ascii_whitespace());
    if next == Some(&b'[') {
        0
    } else {
        memchr_from(src, b'\n', 0)
    }
}

/// Past the end of the (nested) block comment opening at `i`.
fn skip_block_comment(src: &[u8], mut i: usize) -> usize {
    let mut depth = 0usize;
    while i < src.len() {
        match (src.get(i), src.get(i + 1)) {
            (Some(b'/'), Some(b'*')) => {
                depth += 1;
                i += 2;
            }
            (Some(b'*'), Some(b'/')) => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return i;
                }
            }
            _ => i += 1,
        }
    }
    src.len()
}

/// Past the closing `quote` of a literal whose contents start at `i` (backslash escapes).
fn skip_quoted(src: &[u8], mut i: usize, quote: u8) -> usize {
    while let Some(&b) = src.get(i) {
        if b == b'\\' {
            i += 2;
        } else if b == quote {
            return i + 1;
        } else {
            i += 1;
        }
    }
    src.len()
}

/// A `'` at `i` opens a char literal (`'a'`, `'\n'`, `'é'`) or a lifetime/label (`'a`).
fn char_or_lifetime(src: &[u8], i: usize) -> (usize, Kind) {
    let at = |k: usize| src.get(k).copied().unwrap_or(0);
    let next = at(i + 1);
    if next == b'\\' {
        // An escaped char: its end is the next quote on the same line (`'\''`, `'\u{1F600}'`).
        let mut k = i + 3;
        while k < src.len() && at(k) != b'\'' && at(k) != b'\n' {
            k += 1;
        }
        return (if at(k) == b'\'' { k + 1 } else { k }, Kind::Literal);
    }
    let char_end = i + 1 + utf8_len(next);
    if next != 0 && next != b'\n' && at(char_end) == b'\'' {
        return (char_end + 1, Kind::Literal);
    }
    let mut k = i + 1;
    while k < src.len() && is_ident_continue(at(k)) {
        k += 1;
    }
    if k == i + 1 {
        (i + 1, Kind::Punct(b'\''))
    } else {
        (k, Kind::Lifetime)
    }
}

/// An identifier at `i`, or a literal behind a prefix: `b'x'`, `b"…"`, `c"…"`, `r"…"`,
/// `r#"…"#`, `br##"…"##`, `cr#"…"#`; `r#ident` is a raw identifier.
fn ident_or_prefixed_literal(src: &[u8], i: usize) -> (usize, Kind) {
    let at = |k: usize| src.get(k).copied().unwrap_or(0);
    let b = at(i);
    if b == b'b' && at(i + 1) == b'\'' {
        let (end, _) = char_or_lifetime(src, i + 1);
        return (end, Kind::Literal);
    }
    if (b == b'b' || b == b'c') && at(i + 1) == b'"' {
        return (skip_quoted(src, i + 2, b'"'), Kind::Literal);
    }
    let r_at = if b == b'r' {
        Some(i)
    } else if (b == b'b' || b == b'c') && at(i + 1) == b'r' {
        Some(i + 1)
    } else {
        None
    };
    if let Some(r) = r_at {
        let mut k = r + 1;
        while at(k) == b'#' {
            k += 1;
        }
        let hashes = k - r - 1;
        if at(k) == b'"' {
            return (skip_raw_string(src, k + 1, hashes), Kind::Literal);
        }
        if r == i && hashes == 1 && is_ident_start(at(k)) {
            let mut e = k;
            while e < src.len() && is_ident_continue(at(e)) {
                e += 1;
            }
            return (e, Kind::Ident);
        }
    }
    let mut e = i + 1;
    while e < src.len() && is_ident_continue(at(e)) {
        e += 1;
    }
    (e, Kind::Ident)
}

/// Past the `"` + `hashes` × `#` that closes a raw string whose contents start at `i`.
fn skip_raw_string(src: &[u8], mut i: usize, hashes: usize) -> usize {
    while i < src.len() {
        i = memchr_from(src, b'"', i);
        if i >= src.len() {
            break;
        }
        let closing = src.get(i + 1..i + 1 + hashes);
        if closing.is_some_and(|c| c.iter().all(|&h| h == b'#')) {
            return i + 1 + hashes;
        }
        i += 1;
    }
    src.len()
}

impl_scan_token!(Token, Kind);

/// The words that start an item (with an attribute's `#`): where a never-closed group is taken
/// to end (see [`super::tokens::match_brackets`]).
const ITEM_START_WORDS: [&[u8]; 16] = [
    b"pub",
    b"fn",
    b"struct",
    b"enum",
    b"union",
    b"trait",
    b"impl",
    b"mod",
    b"const",
    b"static",
    b"type",
    b"use",
    b"extern",
    b"unsafe",
    b"async",
    b"macro_rules",
];

/// Which list of items is being walked: what a `fn` there becomes.
enum Level {
    File,
    /// An impl's or trait's body; the container name.
    Members(String),
    /// An `extern { … }` block.
    Foreign,
}

/// The walk over one file's tokens; the grammar is the `impl` below.
type Walker<'a> = TokenWalk<'a, Token>;

impl Walker<'_> {
    /// The identifier at `i`, without a raw `r#`.
    fn ident(&self, i: usize) -> Option<String> {
        if self.kind(i) != Some(Kind::Ident) {
            return None;
        }
        let text = self.text(i);
        let text = text.strip_prefix(b"r#").unwrap_or(text);
        Some(String::from_utf8_lossy(text).into_owned())
    }

    /// Walks the items in tokens `i..end` at one level.
    fn items(&mut self, mut i: usize, end: usize, level: &Level) {
        let at_file = matches!(level, Level::File);
        while i < end {
            let Some(kind) = self.kind(i) else { break };
            match kind {
                Kind::Punct(b'#') => {
                    let mut j = i + 1;
                    if self.is_punct(j, b'!') {
                        j += 1;
                    }
                    i = if self.kind(j) == Some(Kind::Open(b'[')) {
                        self.after_group(j)
                    } else {
                        i + 1
                    };
                }
                Kind::Open(_) => i = self.after_group(i),
                Kind::Ident => i = self.item(i, end, level, at_file),
                _ => i += 1,
            }
        }
    }

    /// Reads the item (or qualifier) whose word is at `i`; returns where to go on.
    fn item(&mut self, i: usize, end: usize, level: &Level, at_file: bool) -> usize {
        let word = self.text(i);
        match word {
            b"pub" => {
                if self.kind(i + 1) == Some(Kind::Open(b'(')) {
                    self.after_group(i + 1)
                } else {
                    i + 1
                }
            }
            b"async" | b"unsafe" | b"default" | b"safe" | b"auto" => i + 1,
            b"extern" => {
                let mut j = i + 1;
                if self.kind(j) == Some(Kind::Literal) {
                    j += 1;
                }
                if self.kind(j) == Some(Kind::Open(b'{')) {
                    // Only a file's own extern blocks are read: no recursion past one level.
                    if at_file {
                        let close = self.after_group(j).saturating_sub(1);
                        self.items(j + 1, close.min(end), &Level::Foreign);
                    }
                    self.after_group(j)
                } else if self.is_word(j, "crate") {
                    self.skip_statement(j, end)
                } else {
                    j
                }
            }
            b"const" => {
                let next = self.text(i + 1);
                if matches!(next, b"fn" | b"unsafe" | b"async" | b"extern") {
                    return i + 1;
                }
                if self.kind(i + 1) == Some(Kind::Open(b'{')) {
                    // A const block expression; nothing to name.
                    return self.after_group(i + 1);
                }
                if let Some(name) = self.ident(i + 1) {
                    if !matches!(level, Level::Members(_)) && name != "_" {
                        self.push(name, SymbolKind::Const, i, None);
                    }
                }
                self.skip_statement(i + 1, end)
            }
            b"static" => {
                let mut j = i + 1;
                if self.is_word(j, "mut") {
                    j += 1;
                }
                if let Some(name) = self.ident(j) {
                    if !matches!(level, Level::Members(_)) {
                        self.push(name, SymbolKind::Const, i, None);
                    }
                }
                self.skip_statement(j, end)
            }
            b"type" => {
                if let Some(name) = self.ident(i + 1) {
                    if !matches!(level, Level::Members(_)) {
                        self.push(name, SymbolKind::Type, i, None);
                    }
                }
                self.skip_statement(i + 1, end)
            }
            b"fn" => {
                if let Some(name) = self.ident(i + 1) {
                    match level {
                        Level::Members(container) => {
                            let container = Some(container.clone());
                            self.push(name, SymbolKind::Method, i, container);
                        }
                        _ => self.push(name, SymbolKind::Function, i, None),
                    }
                }
                match self.find_body(i + 1, end) {
                    Ok(open) => self.after_group(open),
                    Err(after) => after,
                }
            }
            b"struct" | b"enum" | b"union" | b"mod" => {
                let Some(name) = self.ident(i + 1) else {
                    return i + 1;
                };
                if word == b"union" && self.is_punct(i + 2, b'!') {
                    return i + 1;
                }
                let kind = match word {
                    b"enum" => SymbolKind::Enum,
                    b"mod" => SymbolKind::Module,
                    _ => SymbolKind::Struct,
                };
                if at_file {
                    self.push(name, kind, i, None);
                }
                match self.find_body(i + 1, end) {
                    Ok(open) => self.after_group(open),
                    Err(after) => after,
                }
            }
            b"trait" => {
                let Some(name) = self.ident(i + 1) else {
                    return i + 1;
                };
                if at_file {
                    self.push(name.clone(), SymbolKind::Trait, i, None);
                }
                self.members(i + 1, end, name, at_file)
            }
            b"impl" => {
                let name = self.impl_self_name(i + 1, end);
                if at_file {
                    self.push(name.clone(), SymbolKind::Impl, i, None);
                }
                self.members(i + 1, end, name, at_file)
            }
            b"macro_rules" if self.is_punct(i + 1, b'!') => {
                if let Some(name) = self.ident(i + 2) {
                    if at_file {
                        self.push(name, SymbolKind::Function, i, None);
                    }
                }
                self.skip_macro_call(i + 2, end)
            }
            b"use" => self.skip_statement(i + 1, end),
            _ if self.is_punct(i + 1, b'!') => self.skip_macro_call(i + 2, end),
            _ => i + 1,
        }
    }

    /// Skips an impl's or trait's header, walks its body (when at file level) as `container`'s
    /// members, and returns where to go on.
    fn members(&mut self, from: usize, end: usize, container: String, at_file: bool) -> usize {
        match self.find_body(from, end) {
            Ok(open) => {
                let after = self.after_group(open);
                if at_file {
                    let close = after.saturating_sub(1).min(end);
                    self.items(open + 1, close, &Level::Members(container));
                }
                after
            }
            Err(after) => after,
        }
    }

    /// From an item's head at `i`, the index of its body's `{`, or (`Err`) the index after the
    /// `;` that ends a body-less item. Parentheses and brackets are jumped over; a `{` inside
    /// generics (`<const N: usize = { 1 }>`) is not the body.
    fn find_body(&self, mut i: usize, end: usize) -> Result<usize, usize> {
        let end = self.bounded(i, end);
        let mut angle = 0usize;
        while i < end {
            match self.kind(i) {
                Some(Kind::Open(b'{')) if angle == 0 => return Ok(i),
                Some(Kind::Open(_)) => i = self.after_group(i),
                Some(Kind::Punct(b';')) => return Err(i + 1),
                Some(Kind::Punct(b'<')) => {
                    angle += 1;
                    i += 1;
                }
                Some(Kind::Punct(b'>')) => {
                    angle = angle.saturating_sub(1);
                    i += 1;
                }
                // A stray closer ends this level: it belongs to an enclosing (broken) group.
                Some(Kind::Close(_)) | None => return Err(i),
                Some(_) => i += 1,
            }
        }
        Err(end)
    }

    /// Index after the `;` that ends the statement from `i` (groups jumped over).
    fn skip_statement(&self, mut i: usize, end: usize) -> usize {
        let end = self.bounded(i, end);
        while i < end {
            match self.kind(i) {
                Some(Kind::Open(_)) => i = self.after_group(i),
                Some(Kind::Punct(b';')) => return i + 1,
                Some(Kind::Close(_)) | None => return i,
                Some(_) => i += 1,
            }
        }
        end
    }

    /// Past a macro call's body whose name (if any) or group starts at `i`: `name! { … }`,
    /// `name!(…);`, and the old `macro_rules! name (…);` form.
    fn skip_macro_call(&self, mut i: usize, end: usize) -> usize {
        if self.kind(i) == Some(Kind::Ident) {
            i += 1;
        }
        match self.kind(i) {
            Some(Kind::Open(b'{')) => self.after_group(i),
            Some(Kind::Open(_)) => {
                let after = self.after_group(i);
                if after < end && self.is_punct(after, b';') {
                    after + 1
                } else {
                    after
                }
            }
            _ => i,
        }
    }

    /// Index after the `<…>` that opens at `i` (groups inside jumped over).
    fn skip_angles(&self, mut i: usize, end: usize) -> usize {
        let end = self.bounded(i, end);
        let mut depth = 0usize;
        while i < end {
            match self.kind(i) {
                Some(Kind::Punct(b'<')) => depth += 1,
                Some(Kind::Punct(b'>')) => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        return i + 1;
                    }
                }
                Some(Kind::Open(_)) => {
                    i = self.after_group(i);
                    continue;
                }
                Some(Kind::Close(_) | Kind::Punct(b';')) | None => return i,
                _ => {}
            }
            i += 1;
        }
        end
    }

    /// The self type's name of the impl whose header starts at `i` (after `impl`).
    fn impl_self_name(&self, mut i: usize, end: usize) -> String {
        let end = self.bounded(i, end);
        if self.is_punct(i, b'<') {
            i = self.skip_angles(i, end);
        }
        // The self type follows `for` when there is a trait; look for it before the body.
        let mut self_start = i;
        let mut j = i;
        let mut angle = 0usize;
        while j < end {
            match self.kind(j) {
                Some(Kind::Open(b'{') | Kind::Close(_) | Kind::Punct(b';')) | None => break,
                Some(Kind::Open(_)) => {
                    j = self.after_group(j);
                    continue;
                }
                Some(Kind::Punct(b'<')) => angle += 1,
                Some(Kind::Punct(b'>')) => angle = angle.saturating_sub(1),
                Some(Kind::Ident) if angle == 0 => {
                    if self.is_word(j, "where") {
                        break;
                    }
                    // `for<'a>` is a higher-ranked bound, not the `for` before the self type.
                    if self.is_word(j, "for") && !self.is_punct(j + 1, b'<') {
                        self_start = j + 1;
                        break;
                    }
                }
                _ => {}
            }
            j += 1;
        }
        self.type_name(self_start, end)
    }

    /// The name of the type at `i`: its path's last segment, looking through references,
    /// pointers, slices, arrays, parentheses and `dyn`; see the module doc.
    fn type_name(&self, mut i: usize, end: usize) -> String {
        let mut guard = 0;
        while i < end && guard < 64 {
            guard += 1;
            match self.kind(i) {
                Some(Kind::Punct(b'!')) => return "!".to_string(),
                Some(Kind::Punct(b'&' | b'*')) | Some(Kind::Lifetime | Kind::Literal) => i += 1,
                Some(Kind::Open(b'(')) if self.kind(i + 1) == Some(Kind::Close(b')')) => {
                    return "()".to_string();
                }
                Some(Kind::Open(b'(' | b'[')) => i += 1,
                Some(Kind::Punct(b'<')) => i = self.skip_angles(i, end),
                Some(Kind::PathSep) => i += 1,
                Some(Kind::Ident) => {
                    let word = self.text(i);
                    if word == b"for" && self.is_punct(i + 1, b'<') {
                        i = self.skip_angles(i + 1, end);
                        continue;
                    }
                    if matches!(
                        word,
                        b"mut" | b"const" | b"dyn" | b"impl" | b"unsafe" | b"extern"
                    ) {
                        i += 1;
                        continue;
                    }
                    return self.path_last_segment(i, end);
                }
                _ => break,
            }
        }
        "_".to_string()
    }

    /// The last identifier of the path starting with the identifier at `i`.
    fn path_last_segment(&self, mut i: usize, end: usize) -> String {
        let mut name = self.ident(i).unwrap_or_default();
        i += 1;
        while i < end {
            if self.is_punct(i, b'<') {
                i = self.skip_angles(i, end);
            } else if self.kind(i) == Some(Kind::PathSep) {
                if let Some(next) = self.ident(i + 1) {
                    name = next;
                    i += 2;
                } else {
                    i += 1;
                }
            } else {
                break;
            }
        }
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workspace::scan::MAX_SIGNATURE_BYTES;
    use SymbolKind::*;

    /// (kind, name, line, container) of each symbol.
    fn scanned(src: &str) -> Vec<(SymbolKind, String, u32, Option<String>)> {
        scan(src.as_bytes())
            .into_iter()
            .map(|s| (s.kind, s.name, s.line, s.container))
            .collect()
    }

    fn sym(kind: SymbolKind, name: &str, line: u32) -> (SymbolKind, String, u32, Option<String>) {
        (kind, name.to_string(), line, None)
    }

    fn method(name: &str, line: u32, container: &str) -> (SymbolKind, String, u32, Option<String>) {
        (Method, name.to_string(), line, Some(container.to_string()))
    }

    #[test]
    fn every_item_kind_with_its_keyword_line() {
        let src = r#"//! Crate doc.
use std::fmt;
extern crate alloc;

/// A point.
#[derive(Debug)]
pub struct Point { x: i32 }
pub(crate) enum Shape { Circle, Square }
union Bits { a: u32, b: f32 }
pub trait Draw { fn draw(&self); }
pub mod inline { pub fn hidden() {} }
mod outline;
pub const MAX: usize = 3;
static mut COUNTER: u32 = 0;
type Alias<T> = Vec<T>;
macro_rules! square { ($x:expr) => { $x * $x }; }
pub
fn
split() {}
"#;
        assert_eq!(
            scanned(src),
            vec![
                sym(Struct, "Point", 7),
                sym(Enum, "Shape", 8),
                sym(Struct, "Bits", 9),
                sym(Trait, "Draw", 10),
                method("draw", 10, "Draw"),
                sym(Module, "inline", 11),
                sym(Module, "outline", 12),
                sym(Const, "MAX", 13),
                sym(Const, "COUNTER", 14),
                sym(Type, "Alias", 15),
                sym(Function, "square", 16),
                sym(Function, "split", 18),
            ]
        );
        let point = &scan(src.as_bytes())[0];
        assert_eq!(point.signature, "struct Point { x: i32 }");
    }

    #[test]
    fn impl_blocks_are_named_by_their_self_type() {
        let src = "impl<T> fmt::Display for Wrapper<T> where T: fmt::Debug {
    const N: usize = 1;
    type Out = T;
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { todo!() }
    pub(crate) async unsafe fn other() {}
    some_macro! { fn not_this() {} }
}
impl Point { pub const fn new() -> Self { Self { x: 0 } } }
unsafe impl<'a> Send for &'a [Cell<u8>] {}
impl<T> From<T> for (T, u8) {}
impl !Sync for Raw {}
impl<F> Handler for F where F: for<'a> Fn(&'a str) -> u8 {}
impl dyn Any + Send {}
impl crate::a::b::Deep<{ 1 + 2 }> {}
impl<E> Into<E> for !
where
    E: Error {}
";
        assert_eq!(
            scanned(src),
            vec![
                sym(Impl, "Wrapper", 1),
                method("fmt", 4, "Wrapper"),
                method("other", 5, "Wrapper"),
                sym(Impl, "Point", 8),
                method("new", 8, "Point"),
                sym(Impl, "Cell", 9),
                sym(Impl, "T", 10),
                sym(Impl, "Raw", 11),
                sym(Impl, "F", 12),
                sym(Impl, "Any", 13),
                sym(Impl, "Deep", 14),
                sym(Impl, "!", 15),
            ]
        );
        assert_eq!(
            scan(src.as_bytes())[0].signature,
            "impl<T> fmt::Display for Wrapper<T> where T: fmt::Debug {"
        );
    }

    #[test]
    fn literals_and_comments_hide_braces_and_keywords() {
        let src = r####"const RAW: &str = r##"fn fake() { "# }"##;
const BYTES: &[u8] = b"fn fake2() {";
const C: char = '{';
const Q: char = '\'';
const U: char = '\u{7B}';
const E: char = 'é';
fn lifetimes<'a>(x: &'a str) -> &'a str { let _c = '}'; 'outer: loop { break 'outer; } x }
/* outer /* nested fn fake3() {} */ still comment } */
/// doc with fn fake4() {
fn after() {}
const CRAW: &CStr = cr#"}"#;
const BRAW: &[u8] = br###"}"##"###;
fn r#type() {}
"####;
        assert_eq!(
            scanned(src),
            vec![
                sym(Const, "RAW", 1),
                sym(Const, "BYTES", 2),
                sym(Const, "C", 3),
                sym(Const, "Q", 4),
                sym(Const, "U", 5),
                sym(Const, "E", 6),
                sym(Function, "lifetimes", 7),
                sym(Function, "after", 10),
                sym(Const, "CRAW", 11),
                sym(Const, "BRAW", 12),
                sym(Function, "type", 13),
            ]
        );
    }

    #[test]
    fn attributes_qualifiers_and_where_clauses() {
        let src = r#"#![cfg_attr(docsrs, feature(doc_cfg, "]"))]
#[cfg(all(feature = "x", not(target = "[")))]
#[doc = "fn fake() {"]
pub(in crate::a) const unsafe extern "C" fn ffi<T: Into<Vec<Vec<u8>>>>(x: T) -> Option<Vec<Vec<u8>>>
where
    T: Clone,
{
}
pub async fn fetch() -> impl Future<Output = ()> + 'static { async {} }
const fn generic<const N: usize>() -> [u8; N] { [0; N] }
const _: () = assert!(true);
#[cfg(test)]
mod tests {
    fn inner() {}
}
"#;
        assert_eq!(
            scanned(src),
            vec![
                sym(Function, "ffi", 4),
                sym(Function, "fetch", 9),
                sym(Function, "generic", 10),
                sym(Module, "tests", 13),
            ]
        );
    }

    #[test]
    fn extern_blocks_and_macros() {
        let src = r#"extern "C" {
    fn abs(x: i32) -> i32;
    static errno: i32;
    type Opaque;
}
macro_rules! braces {
    () => { fn not_an_item() { } };
    ($($t:tt)*) => {{ } { }};
}
cfg_if::cfg_if! { if #[cfg(x)] { fn hidden() {} } }
lazy_static!(static ref X: u8 = 1;);
fn last() {}
"#;
        assert_eq!(
            scanned(src),
            vec![
                sym(Function, "abs", 2),
                sym(Const, "errno", 3),
                sym(Type, "Opaque", 4),
                sym(Function, "braces", 6),
                sym(Function, "last", 12),
            ]
        );
    }

    #[test]
    fn trait_methods_with_and_without_default_bodies() {
        let src = "pub unsafe trait Store<K>: Send where K: Eq {
    type Item;
    const SIZE: usize;
    fn get(&self, k: &K) -> Option<&Self::Item>;
    fn len(&self) -> usize { 0 }
    #[doc(hidden)]
    async fn flush(&mut self);
}
trait Alias = Store<u8> + Sync;
";
        assert_eq!(
            scanned(src),
            vec![
                sym(Trait, "Store", 1),
                method("get", 4, "Store"),
                method("len", 5, "Store"),
                method("flush", 7, "Store"),
                sym(Trait, "Alias", 9),
            ]
        );
    }

    #[test]
    fn broken_files_still_yield_what_is_readable() {
        // A group that never closes ends before the next unindented item.
        assert_eq!(
            scanned("fn ok() {}\nfn broken( {\nfn lost() {}\n"),
            vec![
                sym(Function, "ok", 1),
                sym(Function, "broken", 2),
                sym(Function, "lost", 3)
            ]
        );
        assert_eq!(
            scanned(
                "impl A {\n    fn m(&self) {\n        let x = (1;\n    }\n\npub fn after() {}\n"
            ),
            vec![
                sym(Impl, "A", 1),
                method("m", 2, "A"),
                sym(Function, "after", 6)
            ]
        );
        // Indented items inside the unclosed group stay inside it.
        assert_eq!(
            scanned("mod m {\n    fn inner() {}\n"),
            vec![sym(Module, "m", 1)]
        );
        // A stray closer does not stop the walk.
        assert_eq!(
            scanned("}\n) fn a() {}\nstruct"),
            vec![sym(Function, "a", 2)]
        );
        assert_eq!(
            scanned("const X: &str = \"unterminated"),
            vec![sym(Const, "X", 1)]
        );
        assert_eq!(scanned("r##\"never closed"), vec![]);
        assert_eq!(
            scanned("#!/usr/bin/env run-cargo-script\nfn main() {}"),
            vec![sym(Function, "main", 2)]
        );
    }

    #[test]
    fn signatures_collapse_whitespace_and_stop_at_the_line_end() {
        let src = "pub   fn   spaced(\ta: u8,   b: u8)\t-> u8 {\n    a\n}\n";
        assert_eq!(
            scan(src.as_bytes())[0].signature,
            "fn spaced( a: u8, b: u8) -> u8 {"
        );
        let long = format!("fn long_one() {{ /* {} */ }}", "é".repeat(300));
        let signature = &scan(long.as_bytes())[0].signature;
        assert!(
            signature.len() <= MAX_SIGNATURE_BYTES && signature.len() >= MAX_SIGNATURE_BYTES - 1
        );
        assert!(signature.starts_with("fn long_one() { /* éé"));
    }

    #[test]
    fn invalid_utf8_is_scanned_around() {
        let src = b"const A: &[u8] = b\"\xff\xfe\";\nfn \xc3(x) {}\nfn ok\xff() {}\n";
        let names: Vec<String> = scan(src).into_iter().map(|s| s.name).collect();
        assert_eq!(names, vec!["A", "\u{fffd}", "ok\u{fffd}"]);
    }

    #[test]
    fn token_soup_scans_in_linear_time() {
        const PARTS: [&str; 20] = [
            "impl<T> X for Y<T> {",
            "fn f()",
            "{",
            "}",
            "(",
            ")",
            "<",
            ">",
            "'a",
            "'b'",
            "r#\"",
            "\"#",
            "/*",
            "*/",
            "#[",
            "]",
            "macro_rules! m",
            "trait T",
            ";",
            "\n",
        ];
        let mut state = 0x2545_f491_u64;
        let mut src = String::new();
        while src.len() < 300_000 {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            src.push_str(PARTS[(state >> 33) as usize % PARTS.len()]);
            src.push(' ');
        }
        let start = std::time::Instant::now();
        let _ = scan(src.as_bytes());
        assert!(
            start.elapsed() < std::time::Duration::from_secs(5),
            "{:?}",
            start.elapsed()
        );
        let deep = "{".repeat(100_000) + &"impl X {".repeat(10_000);
        let _ = scan(deep.as_bytes());
        let deep = "extern { trait T { impl X { mod m { ".repeat(100_000);
        let _ = scan(deep.as_bytes());
    }

    proptest::proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            let _ = scan(&bytes);
        }

        #[test]
        fn mutated_rust_never_panics(cut in 0usize..2000, at in 0usize..2000, byte in proptest::prelude::any::<u8>()) {
            let mut src = include_bytes!("rust_lang.rs")[..4000].to_vec();
            let at = at.min(src.len() - 1);
            src[at] = byte;
            src.truncate(cut.max(at + 1));
            let symbols = scan(&src);
            for symbol in symbols {
                proptest::prop_assert!(symbol.signature.len() <= MAX_SIGNATURE_BYTES);
                proptest::prop_assert!(symbol.line >= 1);
            }
        }
    }
}
