//! The JavaScript/TypeScript scanner (JSX and TSX too): a file's top-level declarations and the
//! methods of its top-level classes and interfaces, from raw bytes, without a full parser.
//!
//! A lexer turns the bytes into tokens; what it must get right is where strings, comments,
//! template literals (with `${…}` nesting to any depth), regular expressions and JSX elements end,
//! so that their contents never look like code. `/` starts a regex only where an operand is
//! expected (after an operator, `(`, `,`, a keyword like `return`, or at a statement's start),
//! and is a division after an identifier, a literal, `)` or `]`. `<` in the same operand position
//! is tried as a JSX element; when that cannot close (a TypeScript cast or generic arrow such as
//! `<T>(x: T) => x`), the lexer goes back and reads it as an operator. A budget proportional to the
//! file's size bounds that trying, so the scan stays linear in practice.
//!
//! The walker then reads statement heads at the top level and jumps over every body with a
//! bracket table. Symbols (all of them also behind `export`, `export default`, `declare`):
//! - `function`, `async function`, `function*` → function; unnamed `export default function` is
//!   named `default` (so is an unnamed default class).
//! - `class`, `abstract class` → class; its methods, getters, setters, static and `#private`
//!   methods, and fields initialised with an arrow function or function expression → method
//!   with the class as `container` (computed names `[…]` are skipped; `constructor` counts).
//! - `const`/`let`/`var x = (…) =>` or `= function` → function; any other `const x =` → const
//!   (`let`/`var` that do not hold functions are not symbols; destructuring names nothing).
//! - TypeScript: `interface` → interface with its method signatures → method; `type X =` → type;
//!   `enum`/`const enum` → enum; `namespace`/`module` → module (`A.B` keeps the dots; a quoted
//!   module name is unquoted). Their bodies are not top level.
//!
//! `line` is the line of the keyword (`function`, `class`, `const`, `interface`, …) or, for a
//! member, of its name; decorators are not counted.
//!
//! Broken files: unterminated strings end at their line; a bracket that never closes ends before
//! the next unindented line that starts a declaration, so later declarations are still listed.
//! Line breaks end statements the way automatic semicolon insertion does where it matters (a
//! line that starts with a word after a line that ended an expression).

use super::text::{memchr_from, signature};
use super::tokens::{impl_scan_token, match_brackets, starts_item, TokenWalk};
use super::{Symbol, SymbolKind};

/// The declarations of one JavaScript (`typescript == false`) or TypeScript file.
pub fn scan(src: &[u8], typescript: bool) -> Vec<Symbol> {
    let tokens = Lexer::lex(src, typescript);
    let groups = match_brackets(src, &tokens, |token| {
        starts_item(src, token, b'@', &ITEM_START_WORDS)
    });
    let mut walker = TokenWalk::new(src, &tokens, &groups);
    walker.statements(0, tokens.len());
    walker.out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Ident,
    /// `#name`
    PrivateName,
    Str,
    Number,
    Regex,
    /// A whole template literal, or its last part (`}…\``).
    Template,
    /// A template part that ends in `${`: an expression follows.
    TemplateOpen,
    /// A whole JSX element or fragment.
    Jsx,
    /// `=>`
    Arrow,
    Open(u8),
    Close(u8),
    Punct(u8),
}

#[derive(Debug, Clone, Copy)]
struct Token {
    kind: Kind,
    start: usize,
    end: usize,
    /// A line break between this token and the one before it.
    newline_before: bool,
}

/// Words after which an operand (so a regex or JSX) is expected, though they are identifiers.
const OPERAND_KEYWORDS: [&[u8]; 17] = [
    b"return",
    b"typeof",
    b"instanceof",
    b"in",
    b"of",
    b"new",
    b"delete",
    b"void",
    b"throw",
    b"case",
    b"do",
    b"else",
    b"yield",
    b"await",
    b"extends",
    b"as",
    b"satisfies",
];

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b == b'$' || b >= 0x80
}

fn is_ident_continue(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

/// JSX nesting deeper than this is read as not JSX (bounds the lexer's recursion).
const MAX_JSX_DEPTH: usize = 48;

struct Lexer<'a> {
    src: &'a [u8],
    pos: usize,
    tokens: Vec<Token>,
    typescript: bool,
    /// Bytes that failed JSX attempts may still re-read; none left → no more attempts.
    jsx_budget: usize,
    jsx_depth: usize,
    /// Tokens before this index belong outside the current JSX expression container.
    floor: usize,
    newline_pending: bool,
}

impl<'a> Lexer<'a> {
    fn lex(src: &'a [u8], typescript: bool) -> Vec<Token> {
        let mut lexer = Lexer {
            src,
            pos: 0,
            tokens: Vec::with_capacity(src.len() / 4),
            typescript,
            jsx_budget: src.len().saturating_mul(4).saturating_add(4096),
            jsx_depth: 0,
            floor: 0,
            newline_pending: false,
        };
        if src.starts_with(b"#!") {
            lexer.pos = memchr_from(src, b'\n', 0);
        }
        lexer.run(false);
        lexer.tokens
    }

    fn at(&self, i: usize) -> u8 {
        self.src.get(i).copied().unwrap_or(0)
    }

    fn push(&mut self, kind: Kind, start: usize) {
        let newline_before = std::mem::take(&mut self.newline_pending);
        self.tokens.push(Token {
            kind,
            start,
            end: self.pos.min(self.src.len()),
            newline_before,
        });
    }

    /// Whether the next token is in operand position (a `/` there is a regex, a `<` may be JSX).
    fn operand_expected(&self) -> bool {
        if self.tokens.len() <= self.floor {
            return true;
        }
        let Some(last) = self.tokens.last() else {
            return true;
        };
        match last.kind {
            Kind::Ident => {
                let word = self.src.get(last.start..last.end).unwrap_or_default();
                OPERAND_KEYWORDS.contains(&word)
            }
            Kind::Close(b'}') => true,
            Kind::PrivateName
            | Kind::Str
            | Kind::Number
            | Kind::Regex
            | Kind::Template
            | Kind::Jsx
            | Kind::Close(_) => false,
            _ => true,
        }
    }

    /// Skips whitespace and comments; notes line breaks.
    fn skip_trivia(&mut self) {
        while self.pos < self.src.len() {
            let b = self.at(self.pos);
            match b {
                b'\n' => {
                    self.newline_pending = true;
                    self.pos += 1;
                }
                b' ' | b'\t' | b'\r' | 0x0b | 0x0c => self.pos += 1,
                b'/' if self.at(self.pos + 1) == b'/' => {
                    self.pos = memchr_from(self.src, b'\n', self.pos);
                }
                b'/' if self.at(self.pos + 1) == b'*' => {
                    let body_start = self.pos + 2;
                    let end =
                        find_from(self.src, b"*/", body_start).map_or(self.src.len(), |e| e + 2);
                    if self
                        .src
                        .get(body_start..end.min(self.src.len()))
                        .is_some_and(|c| c.contains(&b'\n'))
                    {
                        self.newline_pending = true;
                    }
                    self.pos = end;
                }
                // U+2028/U+2029 and a no-break space count as the whitespace they are.
                0xE2 if self.at(self.pos + 1) == 0x80
                    && matches!(self.at(self.pos + 2), 0xA8 | 0xA9) =>
                {
                    self.newline_pending = true;
                    self.pos += 3;
                }
                0xC2 if self.at(self.pos + 1) == 0xA0 => self.pos += 2,
                0xEF if self.at(self.pos + 1) == 0xBB && self.at(self.pos + 2) == 0xBF => {
                    self.pos += 3
                }
                _ => return,
            }
        }
    }

    /// Lexes until the end, or (`in_container`) until the `}` that closes the JSX expression
    /// container being read; returns whether that `}` was found.
    fn run(&mut self, in_container: bool) -> bool {
        // For each open `{`: whether it is a template's `${`.
        let mut braces: Vec<bool> = Vec::new();
        loop {
            self.skip_trivia();
            if self.pos >= self.src.len() {
                return false;
            }
            let start = self.pos;
            let b = self.at(self.pos);
            match b {
                b'"' | b'\'' => {
                    self.pos = skip_string(self.src, self.pos + 1, b);
                    self.push(Kind::Str, start);
                }
                b'`' => {
                    self.pos += 1;
                    self.template_part(start, &mut braces);
                }
                b'{' => {
                    braces.push(false);
                    self.pos += 1;
                    self.push(Kind::Open(b'{'), start);
                }
                b'}' => match braces.pop() {
                    Some(true) => {
                        self.pos += 1;
                        self.template_part(start, &mut braces);
                    }
                    Some(false) => {
                        self.pos += 1;
                        self.push(Kind::Close(b'}'), start);
                    }
                    None if in_container => {
                        self.pos += 1;
                        return true;
                    }
                    None => {
                        self.pos += 1;
                        self.push(Kind::Close(b'}'), start);
                    }
                },
                b'(' | b'[' => {
                    self.pos += 1;
                    self.push(Kind::Open(b), start);
                }
                b')' | b']' => {
                    self.pos += 1;
                    self.push(Kind::Close(b), start);
                }
                b'/' if self.operand_expected() => match regex_end(self.src, self.pos) {
                    Some(end) => {
                        self.pos = end;
                        self.push(Kind::Regex, start);
                    }
                    None => {
                        self.pos += 1;
                        self.push(Kind::Punct(b'/'), start);
                    }
                },
                b'<' if self.operand_expected() && self.looks_like_jsx() => {
                    let saved_tokens = self.tokens.len();
                    let saved_newline = self.newline_pending;
                    let saved_floor = self.floor;
                    let ok = self.jsx_element();
                    self.tokens.truncate(saved_tokens);
                    self.floor = saved_floor;
                    self.newline_pending = saved_newline;
                    if ok {
                        self.push(Kind::Jsx, start);
                    } else {
                        let spent = self.pos.saturating_sub(start).max(1);
                        self.jsx_budget = self.jsx_budget.saturating_sub(spent);
                        self.pos = start + 1;
                        self.push(Kind::Punct(b'<'), start);
                    }
                }
                b'=' if self.at(self.pos + 1) == b'>' => {
                    self.pos += 2;
                    self.push(Kind::Arrow, start);
                }
                b'#' if is_ident_start(self.at(self.pos + 1)) => {
                    self.pos = ident_end(self.src, self.pos + 1);
                    self.push(Kind::PrivateName, start);
                }
                b'.' if self.at(self.pos + 1).is_ascii_digit() => {
                    self.pos = number_end(self.src, self.pos);
                    self.push(Kind::Number, start);
                }
                b'0'..=b'9' => {
                    self.pos = number_end(self.src, self.pos);
                    self.push(Kind::Number, start);
                }
                _ if is_ident_start(b) => {
                    self.pos = ident_end(self.src, self.pos);
                    self.push(Kind::Ident, start);
                }
                _ => {
                    self.pos += 1;
                    self.push(Kind::Punct(b), start);
                }
            }
        }
    }

    /// Reads template text from `pos` to its closing backtick (→ `Template`) or to a `${`
    /// (→ `TemplateOpen`, and the brace is remembered as the template's).
    fn template_part(&mut self, start: usize, braces: &mut Vec<bool>) {
        while self.pos < self.src.len() {
            match self.at(self.pos) {
                b'\\' => self.pos += 2,
                b'`' => {
                    self.pos += 1;
                    self.push(Kind::Template, start);
                    return;
                }
                b'$' if self.at(self.pos + 1) == b'{' => {
                    self.pos += 2;
                    braces.push(true);
                    self.push(Kind::TemplateOpen, start);
                    return;
                }
                _ => self.pos += 1,
            }
        }
        self.push(Kind::Template, start);
    }

    /// A `<` that could open JSX: followed by a name or `>`, and not a TypeScript type
    /// parameter list (`<T,>` or `<T extends …>`).
    fn looks_like_jsx(&self) -> bool {
        if self.jsx_budget == 0 || self.jsx_depth >= MAX_JSX_DEPTH {
            return false;
        }
        let next = self.at(self.pos + 1);
        if next == b'>' {
            return true;
        }
        if !is_ident_start(next) {
            return false;
        }
        let name_end = ident_end(self.src, self.pos + 1);
        let mut k = name_end;
        while matches!(self.at(k), b' ' | b'\t' | b'\r' | b'\n') {
            k += 1;
        }
        let rest = self.src.get(k..).unwrap_or_default();
        // `<T,>` is a type parameter list in JS-with-types too; `<T extends …>` only in TS.
        let extends =
            rest.starts_with(b"extends") && !rest.get(7).copied().is_some_and(is_ident_continue);
        !(rest.starts_with(b",") || (self.typescript && extends))
    }

    fn skip_jsx_space(&mut self) {
        while matches!(self.at(self.pos), b' ' | b'\t' | b'\r' | b'\n') {
            self.pos += 1;
        }
        // Comments inside a tag: `<div /* x */ a="1">`.
        if self.at(self.pos) == b'/' && matches!(self.at(self.pos + 1), b'/' | b'*') {
            self.skip_trivia();
            self.newline_pending = false;
        }
    }

    /// A JSX tag or attribute name: identifier characters, `-`, `.`, `:`.
    fn jsx_name(&mut self) -> &'a [u8] {
        let start = self.pos;
        while is_ident_continue(self.at(self.pos))
            || matches!(self.at(self.pos), b'-' | b'.' | b':')
        {
            self.pos += 1;
        }
        self.src.get(start..self.pos).unwrap_or_default()
    }

    /// Reads `{ expression }` from `pos` (at the `{`); false if it never closes.
    fn jsx_container(&mut self) -> bool {
        self.pos += 1;
        let saved_floor = self.floor;
        self.floor = self.tokens.len();
        let closed = self.run(true);
        self.floor = saved_floor;
        closed
    }

    /// Reads a whole JSX element from `pos` (at its `<`); false (position unspecified) if it is
    /// not one.
    fn jsx_element(&mut self) -> bool {
        self.jsx_depth += 1;
        let ok = self.jsx_element_inner();
        self.jsx_depth -= 1;
        ok
    }

    fn jsx_element_inner(&mut self) -> bool {
        if self.jsx_depth > MAX_JSX_DEPTH {
            return false;
        }
        self.pos += 1;
        self.skip_jsx_space();
        let name = self.jsx_name();
        // TSX type arguments: `<Select<Option> …>`.
        if !name.is_empty() && self.at(self.pos) == b'<' {
            let mut depth = 0usize;
            while self.pos < self.src.len() {
                match self.at(self.pos) {
                    b'<' => depth += 1,
                    b'>' if self.at(self.pos.wrapping_sub(1)) != b'=' => {
                        depth -= 1;
                        if depth == 0 {
                            self.pos += 1;
                            break;
                        }
                    }
                    b'\n' | b'{' | b'"' | b'\'' => return false,
                    _ => {}
                }
                self.pos += 1;
            }
        }
        // Attributes, up to `>` or `/>`.
        loop {
            self.skip_jsx_space();
            match self.at(self.pos) {
                b'/' if self.at(self.pos + 1) == b'>' => {
                    self.pos += 2;
                    return !name.is_empty();
                }
                b'>' => {
                    self.pos += 1;
                    break;
                }
                b'{' => {
                    if name.is_empty() || !self.jsx_container() {
                        return false;
                    }
                }
                b if is_ident_start(b) && !name.is_empty() => {
                    self.jsx_name();
                    self.skip_jsx_space();
                    if self.at(self.pos) != b'=' {
                        continue;
                    }
                    self.pos += 1;
                    self.skip_jsx_space();
                    match self.at(self.pos) {
                        quote @ (b'"' | b'\'') => {
                            let close = memchr_from(self.src, quote, self.pos + 1);
                            if close >= self.src.len() {
                                return false;
                            }
                            self.pos = close + 1;
                        }
                        b'{' => {
                            if !self.jsx_container() {
                                return false;
                            }
                        }
                        b'<' => {
                            if !self.jsx_element() {
                                return false;
                            }
                        }
                        _ => return false,
                    }
                }
                _ => return false,
            }
        }
        // Children, up to the matching closing tag.
        loop {
            match self.at(self.pos) {
                _ if self.pos >= self.src.len() => return false,
                b'{' => {
                    if !self.jsx_container() {
                        return false;
                    }
                }
                b'<' => {
                    let mut k = self.pos + 1;
                    while matches!(self.at(k), b' ' | b'\t' | b'\r' | b'\n') {
                        k += 1;
                    }
                    if self.at(k) == b'/' {
                        self.pos = k + 1;
                        self.skip_jsx_space();
                        let closing = self.jsx_name();
                        self.skip_jsx_space();
                        if self.at(self.pos) != b'>' || closing != name {
                            return false;
                        }
                        self.pos += 1;
                        return true;
                    }
                    if !self.jsx_element() {
                        return false;
                    }
                }
                _ => self.pos += 1,
            }
        }
    }
}

fn find_from(src: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    src.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| from + p)
}

fn ident_end(src: &[u8], mut i: usize) -> usize {
    while src.get(i).copied().is_some_and(is_ident_continue) {
        i += 1;
    }
    i
}

fn number_end(src: &[u8], mut i: usize) -> usize {
    while let Some(&b) = src.get(i) {
        let exponent_sign = (b == b'+' || b == b'-')
            && matches!(src.get(i.wrapping_sub(1)), Some(b'e' | b'E'))
            && !matches!(src.get(i.wrapping_sub(2)), Some(b'x' | b'X'));
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || exponent_sign {
            i += 1;
        } else {
            break;
        }
    }
    i
}

/// Past the closing quote of a string whose contents start at `i`; an unescaped line break
/// ends a broken string there.
fn skip_string(src: &[u8], mut i: usize, quote: u8) -> usize {
    while let Some(&b) = src.get(i) {
        match b {
            b'\\' => i += 2,
            b'\n' => return i,
            _ if b == quote => return i + 1,
            _ => i += 1,
        }
    }
    src.len()
}

/// The end of the regex literal at `start` (its `/`), flags included; `None` if the line ends
/// first (then it was not a regex).
fn regex_end(src: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    let mut in_class = false;
    loop {
        match src.get(i)? {
            b'\\' => i += 2,
            b'\n' | b'\r' => return None,
            b'[' => {
                in_class = true;
                i += 1;
            }
            b']' => {
                in_class = false;
                i += 1;
            }
            b'/' if !in_class => return Some(ident_end(src, i + 1)),
            _ => i += 1,
        }
    }
}

impl_scan_token!(Token, Kind);

/// The words that start a top-level declaration (with a decorator's `@`): where a never-closed
/// group is taken to end (see [`super::tokens::match_brackets`]).
const ITEM_START_WORDS: [&[u8]; 15] = [
    b"export",
    b"function",
    b"class",
    b"const",
    b"let",
    b"var",
    b"interface",
    b"type",
    b"enum",
    b"namespace",
    b"module",
    b"declare",
    b"abstract",
    b"async",
    b"import",
];

/// Modifiers before a class or interface member's name.
const MEMBER_MODIFIERS: [&[u8]; 13] = [
    b"static",
    b"async",
    b"get",
    b"set",
    b"public",
    b"private",
    b"protected",
    b"readonly",
    b"abstract",
    b"override",
    b"declare",
    b"accessor",
    b"default",
];

/// The walk over one file's tokens; the grammar is the `impl` below.
type Walker<'a> = TokenWalk<'a, Token>;

impl Walker<'_> {
    fn newline_before(&self, i: usize) -> bool {
        self.tokens.get(i).is_some_and(|t| t.newline_before)
    }

    fn name_at(&self, i: usize) -> String {
        String::from_utf8_lossy(self.text(i)).into_owned()
    }

    /// A member or module name: identifiers as written, strings unquoted.
    fn key_name(&self, i: usize) -> Option<String> {
        match self.kind(i)? {
            Kind::Ident | Kind::PrivateName | Kind::Number => Some(self.name_at(i)),
            Kind::Str => {
                let text = self.text(i);
                let inner = text
                    .get(1..text.len().saturating_sub(1))
                    .unwrap_or_default();
                Some(String::from_utf8_lossy(inner).into_owned())
            }
            _ => None,
        }
    }

    /// Whether token `i` ends an expression or type (so a line break after it may end the
    /// statement).
    fn ends_expression(&self, i: usize) -> bool {
        match self.kind(i) {
            // Words that need something after them; `void` (a type too), `return` and `yield`
            // may end a line.
            Some(Kind::Ident) => !matches!(
                self.text(i),
                b"typeof"
                    | b"instanceof"
                    | b"in"
                    | b"of"
                    | b"new"
                    | b"delete"
                    | b"throw"
                    | b"case"
                    | b"do"
                    | b"else"
                    | b"await"
                    | b"extends"
                    | b"as"
                    | b"satisfies"
                    | b"keyof"
                    | b"is"
            ),
            Some(
                Kind::PrivateName
                | Kind::Str
                | Kind::Number
                | Kind::Regex
                | Kind::Template
                | Kind::Jsx
                | Kind::Close(_)
                | Kind::Punct(b'>'),
            ) => true,
            _ => false,
        }
    }

    /// Whether a line break before token `i` ends the statement before it (automatic semicolon
    /// insertion, as far as it matters here): the previous token ends an expression and `i`
    /// is a word that cannot continue one.
    fn asi_before(&self, i: usize) -> bool {
        if !self.newline_before(i) || i == 0 || !self.ends_expression(i - 1) {
            return false;
        }
        match self.kind(i) {
            Some(Kind::Ident) => !matches!(
                self.text(i),
                b"in"
                    | b"instanceof"
                    | b"as"
                    | b"satisfies"
                    | b"of"
                    | b"extends"
                    | b"is"
                    | b"keyof"
            ),
            Some(Kind::PrivateName | Kind::Punct(b'@')) => true,
            _ => false,
        }
    }

    /// Walks the top-level statements in tokens `i..end`.
    fn statements(&mut self, mut i: usize, end: usize) {
        let mut at_start = true;
        while i < end {
            if !at_start && self.asi_before(i) {
                at_start = true;
            }
            if at_start {
                if let Some(next) = self.declaration(i, end) {
                    i = next;
                    at_start = true;
                    continue;
                }
            }
            match self.kind(i) {
                Some(Kind::Open(b'{')) => {
                    i = self.after_group(i);
                    at_start = true;
                }
                Some(Kind::Open(_)) => {
                    i = self.after_group(i);
                    at_start = false;
                }
                // A stray closer (a broken file) ends whatever statement it was in.
                Some(Kind::Punct(b';') | Kind::Close(_)) => {
                    i += 1;
                    at_start = true;
                }
                // `export`, `declare`, decorators… that did not lead to a declaration.
                Some(_) => {
                    i += 1;
                    at_start = false;
                }
                None => break,
            }
        }
    }

    /// Reads the declaration at `i`, if there is one; returns where to go on.
    fn declaration(&mut self, mut i: usize, end: usize) -> Option<usize> {
        // Prefixes: decorators, `export`, `export default`, `declare`, `abstract`, `async`.
        let mut is_default = false;
        loop {
            match self.kind(i)? {
                Kind::Punct(b'@') => i = self.skip_decorator(i, end),
                Kind::Ident => {
                    let next_on_line =
                        self.kind(i + 1) == Some(Kind::Ident) && !self.newline_before(i + 1);
                    match self.text(i) {
                        b"export" if self.is_word(i + 1, "default") => {
                            is_default = true;
                            i += 2;
                        }
                        b"export" => i += 1,
                        b"declare" | b"abstract" if next_on_line => i += 1,
                        b"async" if next_on_line && self.is_word(i + 1, "function") => i += 1,
                        _ => break,
                    }
                }
                _ => return None,
            }
            if i >= end {
                return None;
            }
        }
        let word = self.text(i);
        match word {
            b"function" => Some(self.function(i, end, is_default)),
            b"class" => Some(self.class(i, end, is_default)),
            b"const" if self.is_word(i + 1, "enum") => {
                Some(self.braced_named(i + 1, end, SymbolKind::Enum))
            }
            b"const" | b"let" | b"var" => {
                let starts_binding = matches!(
                    self.kind(i + 1),
                    Some(Kind::Ident | Kind::Open(b'{') | Kind::Open(b'['))
                );
                starts_binding.then(|| self.variables(i, end))
            }
            b"interface" if self.kind(i + 1) == Some(Kind::Ident) => Some(self.interface(i, end)),
            b"type"
                if self.kind(i + 1) == Some(Kind::Ident)
                    && (self.is_punct(i + 2, b'=') || self.is_punct(i + 2, b'<')) =>
            {
                self.push(self.name_at(i + 1), SymbolKind::Type, i, None);
                Some(self.skip_type(i + 2, end, true))
            }
            b"enum" if self.kind(i + 1) == Some(Kind::Ident) => {
                Some(self.braced_named(i, end, SymbolKind::Enum))
            }
            b"namespace" | b"module"
                if matches!(self.kind(i + 1), Some(Kind::Ident | Kind::Str))
                    && !self.newline_before(i + 1) =>
            {
                Some(self.module(i))
            }
            b"global" if self.kind(i + 1) == Some(Kind::Open(b'{')) => {
                Some(self.after_group(i + 1))
            }
            _ => None,
        }
    }

    /// Past `@name.path(args)` at `i`.
    fn skip_decorator(&self, mut i: usize, end: usize) -> usize {
        i += 1;
        if self.kind(i) == Some(Kind::Open(b'(')) {
            return self.after_group(i);
        }
        if self.kind(i) == Some(Kind::Ident) {
            i += 1;
        }
        while i < end && self.is_punct(i, b'.') && self.kind(i + 1) == Some(Kind::Ident) {
            i += 2;
        }
        if self.kind(i) == Some(Kind::Open(b'(')) && !self.newline_before(i) {
            i = self.after_group(i);
        }
        i
    }

    /// Past the `<…>` opening at `i` (groups inside jumped over).
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

    /// Skips a type from `i`. Stops before `=` and `,` outside angle brackets (an initializer,
    /// the next declarator) and before a `{` that opens a body rather than an object type; with
    /// `statement`, also consumes the `;` or line break that ends a type alias.
    fn skip_type(&self, mut i: usize, end: usize, statement: bool) -> usize {
        let end = self.bounded(i, end);
        let mut angle = 0usize;
        let start = i;
        while i < end {
            if i > start && angle == 0 && self.asi_before(i) {
                return i;
            }
            match self.kind(i) {
                Some(Kind::Punct(b'<')) => angle += 1,
                Some(Kind::Punct(b'>')) => angle = angle.saturating_sub(1),
                Some(Kind::Punct(b';')) => return if statement { i + 1 } else { i },
                Some(Kind::Punct(b'=' | b',')) if angle == 0 && !statement => return i,
                Some(Kind::Open(b'{')) if angle == 0 && i > start && !statement => {
                    let type_goes_on = match self.kind(i - 1) {
                        Some(Kind::Punct(b':' | b'|' | b'&' | b',' | b'?' | b'(' | b'<')) => true,
                        Some(Kind::Arrow) => true,
                        Some(Kind::Ident) => matches!(
                            self.text(i - 1),
                            b"extends" | b"keyof" | b"typeof" | b"readonly" | b"infer" | b"is"
                        ),
                        _ => false,
                    };
                    if !type_goes_on {
                        return i;
                    }
                    i = self.after_group(i);
                    continue;
                }
                Some(Kind::Open(_)) => {
                    i = self.after_group(i);
                    continue;
                }
                Some(Kind::Close(_)) | None => return i,
                _ => {}
            }
            i += 1;
        }
        end
    }

    /// Skips an expression from `i` to the `;` (consumed), `,` (not consumed, when `comma`),
    /// closer, or line break that ends it.
    fn skip_expression(&self, mut i: usize, end: usize, comma: bool) -> usize {
        let end = self.bounded(i, end);
        let start = i;
        while i < end {
            if i > start && self.asi_before(i) {
                return i;
            }
            match self.kind(i) {
                Some(Kind::Punct(b';')) => return i + 1,
                Some(Kind::Punct(b',')) if comma => return i,
                Some(Kind::Open(_)) => {
                    i = self.after_group(i);
                    continue;
                }
                Some(Kind::Close(_)) | None => return i,
                _ => {}
            }
            i += 1;
        }
        end
    }

    /// From a function's name (or `(`/`<`) at `i`: past its body, or the `;` of an overload.
    fn skip_function_rest(&self, mut i: usize, end: usize) -> usize {
        if self.is_punct(i, b'<') {
            i = self.skip_angles(i, end);
        }
        if self.kind(i) == Some(Kind::Open(b'(')) {
            i = self.after_group(i);
        }
        if self.is_punct(i, b':') {
            i = self.skip_type(i + 1, end, false);
        }
        match self.kind(i) {
            Some(Kind::Open(b'{')) => self.after_group(i),
            Some(Kind::Punct(b';')) => i + 1,
            _ => i,
        }
    }

    fn function(&mut self, i: usize, end: usize, is_default: bool) -> usize {
        let mut j = i + 1;
        if self.is_punct(j, b'*') {
            j += 1;
        }
        if self.kind(j) == Some(Kind::Ident) {
            self.push(self.name_at(j), SymbolKind::Function, i, None);
            j += 1;
        } else if is_default {
            self.push("default".to_string(), SymbolKind::Function, i, None);
        }
        self.skip_function_rest(j, end)
    }

    /// From after a name: the index of the `{` that opens the class/interface/enum body
    /// (heritage clauses and type parameters skipped), if any.
    fn find_body(&self, mut i: usize, end: usize) -> Option<usize> {
        let end = self.bounded(i, end);
        while i < end {
            match self.kind(i)? {
                Kind::Open(b'{') => {
                    let type_literal = i > 0
                        && match self.kind(i - 1) {
                            Some(Kind::Punct(b'<' | b',' | b'|' | b'&' | b':' | b'=')) => true,
                            Some(Kind::Ident) => matches!(
                                self.text(i - 1),
                                b"extends" | b"implements" | b"keyof" | b"typeof" | b"readonly"
                            ),
                            _ => false,
                        };
                    if !type_literal {
                        return Some(i);
                    }
                    i = self.after_group(i);
                }
                Kind::Open(_) => i = self.after_group(i),
                Kind::Punct(b';') | Kind::Close(_) => return None,
                _ => i += 1,
            }
        }
        None
    }

    fn class(&mut self, i: usize, end: usize, is_default: bool) -> usize {
        let name = match self.kind(i + 1) {
            Some(Kind::Ident) if !matches!(self.text(i + 1), b"extends" | b"implements") => {
                Some(self.name_at(i + 1))
            }
            _ if is_default => Some("default".to_string()),
            _ => None,
        };
        if let Some(name) = &name {
            self.push(name.clone(), SymbolKind::Class, i, None);
        }
        let Some(open) = self.find_body(i + 1, end) else {
            return self.skip_expression(i + 1, end, false);
        };
        let after = self.after_group(open);
        if let Some(name) = name {
            self.members(open + 1, after.saturating_sub(1).min(end), &name, false);
        }
        after
    }

    fn interface(&mut self, i: usize, end: usize) -> usize {
        let name = self.name_at(i + 1);
        self.push(name.clone(), SymbolKind::Interface, i, None);
        let Some(open) = self.find_body(i + 2, end) else {
            return i + 2;
        };
        let after = self.after_group(open);
        self.members(open + 1, after.saturating_sub(1).min(end), &name, true);
        after
    }

    fn braced_named(&mut self, i: usize, end: usize, kind: SymbolKind) -> usize {
        self.push(self.name_at(i + 1), kind, i, None);
        match self.find_body(i + 2, end) {
            Some(open) => self.after_group(open),
            None => i + 2,
        }
    }

    fn module(&mut self, i: usize) -> usize {
        let mut name = self.key_name(i + 1).unwrap_or_default();
        let mut j = i + 2;
        while self.is_punct(j, b'.') && self.kind(j + 1) == Some(Kind::Ident) {
            name.push('.');
            name.push_str(&self.name_at(j + 1));
            j += 2;
        }
        self.push(name, SymbolKind::Module, i, None);
        match self.kind(j) {
            Some(Kind::Open(b'{')) => self.after_group(j),
            Some(Kind::Punct(b';')) => j + 1,
            _ => j,
        }
    }

    /// Whether the expression at `i` is a function: `function`, `async function`, an arrow
    /// (`x =>`, `async x =>`, `(…) =>`, `(…): T =>`, `<T>(…) =>`).
    fn is_function_value(&self, mut i: usize, end: usize) -> bool {
        let end = self.bounded(i, end);
        if self.is_word(i, "async") && !self.newline_before(i + 1) {
            i += 1;
        }
        if self.is_word(i, "function") {
            // `function () {}(…)` is a call of one, not a function.
            let mut j = i + 1;
            if self.is_punct(j, b'*') {
                j += 1;
            }
            if self.kind(j) == Some(Kind::Ident) {
                j += 1;
            }
            let after = self.skip_function_rest(j, end);
            // (A line break does not end the expression before `(`, `[` or `.`.)
            return !matches!(
                self.kind(after),
                Some(Kind::Open(b'(' | b'[') | Kind::Punct(b'.' | b'?'))
            );
        }
        if self.kind(i) == Some(Kind::Ident) {
            return self.kind(i + 1) == Some(Kind::Arrow);
        }
        if self.is_punct(i, b'<') {
            i = self.skip_angles(i, end);
        }
        if self.kind(i) != Some(Kind::Open(b'(')) {
            return false;
        }
        i = self.after_group(i);
        if self.kind(i) == Some(Kind::Arrow) {
            return true;
        }
        if !self.is_punct(i, b':') {
            return false;
        }
        // A return type: the arrow follows the type.
        let mut angle = 0usize;
        let mut j = i + 1;
        while j < end {
            match self.kind(j) {
                Some(Kind::Arrow) if angle == 0 => return true,
                Some(Kind::Punct(b'<')) => angle += 1,
                Some(Kind::Punct(b'>')) => angle = angle.saturating_sub(1),
                Some(Kind::Open(_)) => {
                    j = self.after_group(j);
                    continue;
                }
                Some(Kind::Punct(b',')) if angle > 0 => {}
                Some(Kind::Punct(b';' | b'=' | b',')) | Some(Kind::Close(_)) | None => {
                    return false
                }
                _ => {}
            }
            j += 1;
        }
        false
    }

    /// `const`/`let`/`var` declarators from the keyword at `i`.
    fn variables(&mut self, i: usize, end: usize) -> usize {
        let is_const = self.is_word(i, "const");
        let mut j = i + 1;
        let mut keyword = i;
        loop {
            let name = match self.kind(j) {
                Some(Kind::Ident) => {
                    let name = self.name_at(j);
                    j += 1;
                    Some(name)
                }
                Some(Kind::Open(b'{' | b'[')) => {
                    j = self.after_group(j);
                    None
                }
                _ => return j,
            };
            if self.is_punct(j, b'!') {
                j += 1;
            }
            if self.is_punct(j, b':') {
                j = self.skip_type(j + 1, end, false);
            }
            let mut kind = is_const.then_some(SymbolKind::Const);
            if self.is_punct(j, b'=') {
                let mut value = j + 1;
                if self.is_function_value(value, end) {
                    kind = Some(SymbolKind::Function);
                    // A generic arrow's `<A, B>` holds commas that do not end the declarator.
                    if self.is_word(value, "async") {
                        value += 1;
                    }
                    if self.is_punct(value, b'<') {
                        value = self.skip_angles(value, end);
                    }
                }
                j = self.skip_expression(value, end, true);
            }
            if let (Some(name), Some(kind)) = (name, kind) {
                self.push(name, kind, keyword, None);
            }
            // Another declarator only if a name follows the comma the way a declarator's does.
            if !self.is_punct(j, b',') {
                return if self.is_punct(j, b';') { j + 1 } else { j };
            }
            let follows = self.kind(j + 2);
            let declarator = matches!(self.kind(j + 1), Some(Kind::Open(b'{' | b'[')))
                || (self.kind(j + 1) == Some(Kind::Ident)
                    && matches!(
                        follows,
                        Some(Kind::Punct(b'=' | b':' | b',' | b';' | b'!')) | None
                    ));
            if !declarator {
                return self.skip_expression(j + 1, end, false);
            }
            j += 1;
            keyword = j;
        }
    }

    /// Walks a class body (or, `interface`, an interface body) in `i..end`.
    fn members(&mut self, mut i: usize, end: usize, container: &str, interface: bool) {
        while i < end {
            match self.kind(i) {
                Some(Kind::Punct(b';' | b',')) => {
                    i += 1;
                    continue;
                }
                Some(Kind::Punct(b'@')) => {
                    i = self.skip_decorator(i, end);
                    continue;
                }
                None => return,
                _ => {}
            }
            let first = i;
            // Modifiers: a modifier word followed on its line by something that can be a name.
            while self.kind(i) == Some(Kind::Ident)
                && MEMBER_MODIFIERS.contains(&self.text(i))
                && !self.newline_before(i + 1)
                && matches!(
                    self.kind(i + 1),
                    Some(
                        Kind::Ident
                            | Kind::PrivateName
                            | Kind::Str
                            | Kind::Number
                            | Kind::Open(b'[')
                            | Kind::Open(b'{')
                            | Kind::Punct(b'*')
                    )
                )
            {
                i += 1;
            }
            if self.kind(i) == Some(Kind::Open(b'{')) {
                // A static initialization block.
                i = self.after_group(i);
                continue;
            }
            if self.is_punct(i, b'*') {
                i += 1;
            }
            let name_at = i;
            let name = match self.kind(i) {
                // `new (…): T` in an interface is a construct signature.
                Some(Kind::Ident)
                    if interface
                        && self.is_word(i, "new")
                        && matches!(
                            self.kind(i + 1),
                            Some(Kind::Open(b'(') | Kind::Punct(b'<'))
                        ) =>
                {
                    i += 1;
                    None
                }
                Some(Kind::Ident | Kind::PrivateName | Kind::Str | Kind::Number) => {
                    i += 1;
                    self.key_name(name_at)
                }
                Some(Kind::Open(b'[')) => {
                    i = self.after_group(i);
                    None
                }
                // Call and construct signatures (`(…): T`, `new (…): T`) name nothing.
                Some(Kind::Open(b'(') | Kind::Punct(b'<')) if interface => None,
                Some(Kind::Close(_)) => return,
                _ => {
                    i += 1;
                    continue;
                }
            };
            if self.is_punct(i, b'?') || self.is_punct(i, b'!') {
                i += 1;
            }
            let signature_at = if self.newline_before(name_at) || first == name_at {
                name_at
            } else {
                first
            };
            let is_method_head = self.kind(i) == Some(Kind::Open(b'(')) || self.is_punct(i, b'<');
            if is_method_head {
                if let Some(name) = name {
                    self.push_member(name, signature_at, name_at, container);
                }
                i = if interface {
                    let after_params = self.skip_function_head(i, end);
                    self.skip_member_type(after_params, end)
                } else {
                    self.skip_function_rest(i, end)
                };
                continue;
            }
            if self.is_punct(i, b':') {
                i = if interface {
                    self.skip_member_type(i + 1, end)
                } else {
                    self.skip_type(i + 1, end, false)
                };
            }
            if self.is_punct(i, b'=') && !interface {
                if self.is_function_value(i + 1, end) {
                    if let Some(name) = name {
                        self.push_member(name, signature_at, name_at, container);
                    }
                }
                i = self.skip_expression(i + 1, end, false);
            }
        }
    }

    fn push_member(&mut self, name: String, signature_at: usize, name_at: usize, container: &str) {
        if name.is_empty() {
            return;
        }
        let start = self.tokens.get(signature_at).map_or(0, |t| t.start);
        let line_at = self.tokens.get(name_at).map_or(0, |t| t.start);
        let line = self.line_starts.partition_point(|&s| s <= line_at);
        self.out.push(Symbol {
            name,
            kind: SymbolKind::Method,
            line: u32::try_from(line).unwrap_or(u32::MAX),
            container: Some(container.to_string()),
            signature: signature(self.src, start),
        });
    }

    /// Past a method signature's type parameters and parameters.
    fn skip_function_head(&self, mut i: usize, end: usize) -> usize {
        if self.is_punct(i, b'<') {
            i = self.skip_angles(i, end);
        }
        if self.kind(i) == Some(Kind::Open(b'(')) {
            i = self.after_group(i);
        }
        i
    }

    /// Past an interface member's type: to its `;` or `,` (outside angle brackets) or the line
    /// break that ends it.
    fn skip_member_type(&self, mut i: usize, end: usize) -> usize {
        let end = self.bounded(i, end);
        let start = i;
        let mut angle = 0usize;
        while i < end {
            if i > start && angle == 0 && self.asi_before(i) {
                return i;
            }
            match self.kind(i) {
                Some(Kind::Punct(b'<')) => angle += 1,
                Some(Kind::Punct(b'>')) => angle = angle.saturating_sub(1),
                Some(Kind::Punct(b';')) => return i + 1,
                Some(Kind::Punct(b',')) if angle == 0 => return i + 1,
                Some(Kind::Open(_)) => {
                    i = self.after_group(i);
                    continue;
                }
                Some(Kind::Close(_)) | None => return i,
                _ => {}
            }
            i += 1;
        }
        end
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workspace::scan::MAX_SIGNATURE_BYTES;
    use SymbolKind::*;

    type Row = (SymbolKind, String, u32, Option<String>);

    fn scanned(src: &str, typescript: bool) -> Vec<Row> {
        scan(src.as_bytes(), typescript)
            .into_iter()
            .map(|s| (s.kind, s.name, s.line, s.container))
            .collect()
    }

    fn js(src: &str) -> Vec<Row> {
        scanned(src, false)
    }

    fn ts(src: &str) -> Vec<Row> {
        scanned(src, true)
    }

    fn sym(kind: SymbolKind, name: &str, line: u32) -> Row {
        (kind, name.to_string(), line, None)
    }

    fn method(name: &str, line: u32, container: &str) -> Row {
        (Method, name.to_string(), line, Some(container.to_string()))
    }

    #[test]
    fn a_method_named_by_an_empty_string_is_not_listed() {
        // Found by the `scanner` fuzz target: `""() {}` gave a symbol with an empty name.
        let got = js("class A {\n  \"\"() {}\n  'x'() {}\n}\n");
        assert_eq!(got, vec![sym(Class, "A", 1), method("x", 3, "A")]);
    }

    #[test]
    fn functions_classes_and_variables() {
        let src = "import x from 'y'
function plain(a, b) { return a / b }
async function later() {}
function* gen() { yield 1 }
export default function () {}
export const arrow = (a) => a * 2;
export let single = a => a;
var expr = function named() {};
const asyncArrow = async () => {};
var called = function (x) { return x }(Feature || {});
const VALUE = 42, OTHER = 'x';
let counter = 0;
const { a, b } = obj;
class Shape extends Base {
  static count = 0;
  #secret = 1;
  constructor(x) { super(); this.x = x }
  get area() { return 1 }
  set area(v) {}
  static async *items() {}
  #hidden() {}
  [Symbol.iterator]() {}
  'quoted'() {}
  onClick = (e) => { this.x = e }
  handler = function () {}
}
export default class {}
";
        assert_eq!(
            js(src),
            vec![
                sym(Function, "plain", 2),
                sym(Function, "later", 3),
                sym(Function, "gen", 4),
                sym(Function, "default", 5),
                sym(Function, "arrow", 6),
                sym(Function, "single", 7),
                sym(Function, "expr", 8),
                sym(Function, "asyncArrow", 9),
                sym(Const, "VALUE", 11),
                sym(Const, "OTHER", 11),
                sym(Class, "Shape", 14),
                method("constructor", 17, "Shape"),
                method("area", 18, "Shape"),
                method("area", 19, "Shape"),
                method("items", 20, "Shape"),
                method("#hidden", 21, "Shape"),
                method("quoted", 23, "Shape"),
                method("onClick", 24, "Shape"),
                method("handler", 25, "Shape"),
                sym(Class, "default", 27),
            ]
        );
        let symbols = scan(src.as_bytes(), false);
        assert_eq!(
            symbols[0].signature,
            "function plain(a, b) { return a / b }"
        );
        assert_eq!(symbols[14].signature, "static async *items() {}");
    }

    #[test]
    fn template_literals_nest_and_hide_code() {
        let src = "const t = `a ${ `inner ${ x + `deep` } }` } function fake() {} ${'}'}`;
function real() { return `${a}/${b}` }
const u = `unterminated ${ { a: '`' } } still`;
function after() {}
";
        assert_eq!(
            js(src),
            vec![
                sym(Const, "t", 1),
                sym(Function, "real", 2),
                sym(Const, "u", 3),
                sym(Function, "after", 4),
            ]
        );
    }

    #[test]
    fn regex_literals_versus_division() {
        let src = r#"const re = /[/{]function fake() {}/g;
const half = total / 2 / count;
const r2 = x.replace(/\/\*}/, '') / 3;
function f() { return /}\//.test(s) }
const q = (a) / (b) + c[1] / d;
if (ok) x = y
/ z / w;
const s = "it's /* not a comment";
function g() {}
"#;
        assert_eq!(
            js(src),
            vec![
                sym(Const, "re", 1),
                sym(Const, "half", 2),
                sym(Const, "r2", 3),
                sym(Function, "f", 4),
                sym(Const, "q", 5),
                sym(Const, "s", 8),
                sym(Function, "g", 9),
            ]
        );
    }

    #[test]
    fn jsx_text_with_quotes_and_braces() {
        let src = r#"export function App({ items }) {
  return (
    <div className="app" data-x='{' {...rest}>
      It's "quoted" text with a } brace
      {items.map((i) => <Item key={i.id} label={`${i.name}'s`} />)}
      <>fragment's text</>
    </div>
  );
}
const el = <span>don't {"}"}</span>;
const typed = <Select<Option> value={v}>a ` and it's {/* a } comment */}</Select>;
export const Card = () => <p title="a/b">x / y</p>;
function last() {}
"#;
        assert_eq!(
            js(src),
            vec![
                sym(Function, "App", 1),
                sym(Const, "el", 10),
                sym(Const, "typed", 11),
                sym(Function, "Card", 12),
                sym(Function, "last", 13),
            ]
        );
    }

    #[test]
    fn typescript_declarations() {
        let src = "export interface Props<T> extends Base {
  name: string;
  onChange(value: T): void;
  render?<U>(x: U): JSX.Element
  (call: number): string;
  new (x: number): Props<T>;
  readonly [key: string]: unknown;
  handler: (e: Event) => void;
}
export type Id = string | number;
type Mapped<T> = {
  [K in keyof T]: T[K];
};
export enum Color { Red, Green }
export const enum Flag { A = 1 }
namespace Outer.Inner { export function hidden() {} }
declare module 'virtual-mod' { const x: number; }
declare function external(a: string): void;
declare const VERSION: string;
export abstract class Repo<T extends { id: string }> implements Store<T> {
  private readonly items: Map<string, T> = new Map();
  abstract find(id: string): T | undefined;
  public async save(item: T): Promise<void> {}
  protected toKey = (item: T): string => item.id;
  useNav = (): Result<
    Pick<A, B>['x']
  > => {};
  declare field: number;
}
export const typed: (a: number) => number = (a) => a;
export const identity = <T,>(x: T): T => x;
export const pair = <
  A,
  B extends object,
>(a: A, b: B) => [a, b];
const generic = <T>(x: T) => x;
function overload(a: string): string;
function overload(a: any) { return a }
";
        assert_eq!(
            ts(src),
            vec![
                sym(Interface, "Props", 1),
                method("onChange", 3, "Props"),
                method("render", 4, "Props"),
                sym(Type, "Id", 10),
                sym(Type, "Mapped", 11),
                sym(Enum, "Color", 14),
                sym(Enum, "Flag", 15),
                sym(Module, "Outer.Inner", 16),
                sym(Module, "virtual-mod", 17),
                sym(Function, "external", 18),
                sym(Const, "VERSION", 19),
                sym(Class, "Repo", 20),
                method("find", 22, "Repo"),
                method("save", 23, "Repo"),
                method("toKey", 24, "Repo"),
                method("useNav", 25, "Repo"),
                sym(Function, "typed", 30),
                sym(Function, "identity", 31),
                sym(Function, "pair", 32),
                sym(Function, "generic", 36),
                sym(Function, "overload", 37),
                sym(Function, "overload", 38),
            ]
        );
    }

    #[test]
    fn function_types_ending_in_void_end_their_alias() {
        let src = "type Listener = (focused: boolean) => void

type SetupFn = (
  setFocused: (focused?: boolean) => void,
) => (() => void) | undefined
export class After {}
";
        assert_eq!(
            ts(src),
            vec![
                sym(Type, "Listener", 1),
                sym(Type, "SetupFn", 3),
                sym(Class, "After", 6),
            ]
        );
    }

    #[test]
    fn decorators_and_object_literals() {
        let src = "@Component({ selector: 'x', template: `<b>{{a}}</b>` })
export class Widget {
  @Input() value = 1;
  @HostListener('click', ['$event'])
  onClick(e) {}
}
export default {
  data() { return {} },
  methods: { go() {} },
};
module.exports = { helper() {} };
const config = {
  build: () => {},
};
";
        assert_eq!(
            ts(src),
            vec![
                sym(Class, "Widget", 2),
                method("onClick", 5, "Widget"),
                sym(Const, "config", 12),
            ]
        );
    }

    #[test]
    fn statements_without_semicolons() {
        let src = "const a = 1
const b = a
  + 2
let f = () => {
}
class K {
  x = 1
  y = () => 2
  z
  m() {}
}
export function g() {}
";
        assert_eq!(
            js(src),
            vec![
                sym(Const, "a", 1),
                sym(Const, "b", 2),
                sym(Function, "f", 4),
                sym(Class, "K", 6),
                method("y", 8, "K"),
                method("m", 10, "K"),
                sym(Function, "g", 12),
            ]
        );
    }

    #[test]
    fn nested_functions_and_property_keywords_are_not_top_level() {
        let src = "function outer() { function inner() {} class Local {} }
obj.function = 1; x.class = 2;
(function iife() {})();
if (x) { const scoped = 1 }
";
        assert_eq!(js(src), vec![sym(Function, "outer", 1)]);
    }

    #[test]
    fn broken_input_keeps_what_is_readable() {
        assert_eq!(
            js("function ok() {}\nconst s = 'unterminated\nfunction also() {}"),
            vec![
                sym(Function, "ok", 1),
                sym(Const, "s", 2),
                sym(Function, "also", 3),
            ]
        );
        assert_eq!(
            js("function a() {}\nconst t = `never closed ${"),
            vec![sym(Function, "a", 1), sym(Const, "t", 2),]
        );
        assert_eq!(js("}}) function a() {}"), vec![sym(Function, "a", 1)]);
        // A group that never closes ends before the next unindented declaration.
        assert_eq!(
            js("function broken() {\n  if (x) {\n}\nexport function after() {}\n"),
            vec![sym(Function, "broken", 1), sym(Function, "after", 4)]
        );
        assert_eq!(
            ts("class A {\n  m() {\n    call(1;\n  }\nconst f = () => 1\n"),
            vec![
                sym(Class, "A", 1),
                method("m", 2, "A"),
                sym(Function, "f", 5)
            ]
        );
        assert_eq!(
            ts("class Broken<T extends { a: 1 } {\n  m() {}\n"),
            vec![sym(Class, "Broken", 1), method("m", 2, "Broken")]
        );
        // A `<` that never becomes JSX is an operator; the scan goes on past it.
        assert_eq!(
            ts("const cast = <Foo>bar;\nfunction after() {}"),
            vec![sym(Const, "cast", 1), sym(Function, "after", 2),]
        );
    }

    #[test]
    fn many_failed_jsx_attempts_stay_fast() {
        let src = "const f = <T>(x: T) => x;\n".repeat(5000);
        let start = std::time::Instant::now();
        let symbols = scan(src.as_bytes(), true);
        assert_eq!(symbols.len(), 5000);
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn token_soup_scans_in_linear_time() {
        const PARTS: [&str; 24] = [
            "<a>",
            "</a>",
            "<",
            ">",
            "/",
            "{",
            "}",
            "(",
            ")",
            "`",
            "${",
            "'",
            "=>",
            "x",
            "class C",
            "function f",
            "const c =",
            "=",
            ";",
            "\n",
            "@d",
            "interface I",
            "type T =",
            "<T,>",
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
        let _ = scan(src.as_bytes(), false);
        let _ = scan(src.as_bytes(), true);
        assert!(
            start.elapsed() < std::time::Duration::from_secs(5),
            "{:?}",
            start.elapsed()
        );
    }

    #[test]
    fn deep_nesting_does_not_overflow() {
        let mut src = String::from("const x = ");
        src.push_str(&"<a>{".repeat(5000));
        src.push_str(&"@".repeat(5000));
        src.push_str(&"`${".repeat(5000));
        let _ = scan(src.as_bytes(), false);
        let _ = scan(src.as_bytes(), true);
    }

    proptest::proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512), typescript in proptest::prelude::any::<bool>()) {
            let _ = scan(&bytes, typescript);
        }

        #[test]
        fn random_tokens_never_panic(parts in proptest::collection::vec(proptest::sample::select(vec![
            "<", ">", "/", "{", "}", "(", ")", "`", "${", "'", "\"", "=>", "a", "class", "function",
            "const", "=", ";", "\n", "@", "#x", "interface", "export", "default", "*", "/*", "//", "[", "]",
        ]), 0..200), typescript in proptest::prelude::any::<bool>()) {
            let src = parts.concat();
            let _ = scan(src.as_bytes(), typescript);
        }

        #[test]
        fn mutated_source_never_panics(cut in 0usize..6000, at in 0usize..6000, byte in proptest::prelude::any::<u8>()) {
            let mut src = SAMPLE.as_bytes().to_vec();
            let at = at.min(src.len() - 1);
            src[at] = byte;
            src.truncate(cut.max(at + 1));
            for symbol in scan(&src, true) {
                proptest::prop_assert!(symbol.signature.len() <= MAX_SIGNATURE_BYTES);
                proptest::prop_assert!(symbol.line >= 1);
            }
        }
    }

    const SAMPLE: &str = "import React from 'react';
/** Doc. */
@decorate({ a: /re}/g })
export class View<T extends { id: string }> extends React.Component<Props<T>> {
  state = { open: false };
  #count = 0;
  static defaultProps = { label: `x ${1 + `y`}` };
  toggle = (e: Event): void => { this.setState({ open: !this.state.open }) };
  render() {
    return <div className='a' onClick={() => this.toggle()}>it's {`${this.#count}`}<br/></div>;
  }
}
export interface Store { get(id: string): Item | undefined; items: Item[] }
export type Fn = <A>(a: A) => A;
export const ratio = total / count / 2, re = /[/]\\//u;
export default async function* stream() { yield* other() }
";
}
