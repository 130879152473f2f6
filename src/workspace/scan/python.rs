//! The Python scanner: the `def`/`async def`/`class` statements that `ast.parse(src).body` lists,
//! and the `def`s listed directly in a top-level class's body (as methods of that class).
//!
//! It is a lexer for logical lines, not a parser: it follows strings (every prefix, triple quotes,
//! f-strings with nested fields and quotes), comments, backslash continuations and open brackets,
//! so that it knows where each logical line starts and at which indentation column (tabs to the
//! next multiple of 8, a form feed resets, as in CPython's tokenizer). A statement at column 0
//! is a direct child of the module; one at the column of the first line of a top-level class's
//! body is a direct child of that class. Nothing else needs to be parsed: `def` and `class` are
//! hard keywords that can only start a statement. Measured against `ast` over the standard
//! library by `bench/scanner/python_accuracy.py`.

use unicode_normalization::UnicodeNormalization;

use super::text::{ident_end, is_ident_start, newline_len, signature, IDENT};
use super::{Symbol, SymbolKind};

/// A name as `ast` gives it: Python normalizes identifiers to NFKC (`ﬁnd` is `find`).
fn name(src: &[u8], start: usize, end: usize) -> String {
    let raw = super::text::name(src, start, end);
    if raw.is_ascii() {
        raw
    } else {
        raw.nfkc().collect()
    }
}

/// The symbols of one Python source file, in source order.
pub fn scan(src: &[u8]) -> Vec<Symbol> {
    let start = if src.starts_with(b"\xef\xbb\xbf") {
        3
    } else {
        0
    };
    let mut lexer = Lexer {
        src,
        pos: start,
        line: 1,
    };
    let mut symbols = Vec::new();
    // The top-level class whose body the following indented lines belong to, with the column
    // of its body's first statement once seen.
    let mut open_class: Option<(String, Option<u32>)> = None;
    while let Some(column) = lexer.begin_logical_line() {
        let line = lexer.line;
        let head = lexer.statement_head();
        if column == 0 {
            open_class = None;
            if let Some(head) = head {
                let name = name(src, head.name.0, head.name.1);
                let kind = if head.is_class {
                    open_class = Some((name.clone(), None));
                    SymbolKind::Class
                } else {
                    SymbolKind::Function
                };
                symbols.push(Symbol {
                    name,
                    kind,
                    line,
                    container: None,
                    signature: signature(src, head.keyword),
                });
            }
        } else if let Some((class_name, body_column)) = &mut open_class {
            let body_column = *body_column.get_or_insert(column);
            if let Some(head) = head.filter(|h| !h.is_class && column == body_column) {
                symbols.push(Symbol {
                    name: name(src, head.name.0, head.name.1),
                    kind: SymbolKind::Method,
                    line,
                    container: Some(class_name.clone()),
                    signature: signature(src, head.keyword),
                });
            }
        }
        lexer.skip_rest_of_logical_line();
    }
    symbols
}

/// A `def`, `async def` or `class` statement's start: where its first keyword is and its name.
struct Head {
    is_class: bool,
    keyword: usize,
    name: (usize, usize),
}

struct Lexer<'a> {
    src: &'a [u8],
    pos: usize,
    line: u32,
}

/// One open f-string level: which quote closes it and what is being read inside it.
#[derive(Clone, Copy)]
struct FFrame {
    quote: u8,
    triple: bool,
    state: FState,
}

#[derive(Clone, Copy, PartialEq)]
enum FState {
    /// Literal text (`{{`/`}}` are escapes; `{` opens a replacement field).
    Literal,
    /// A replacement field's expression: code, with its own bracket depth.
    Expr { depth: u32 },
    /// A format spec after `:`: literal text in which `{` opens a nested field.
    Spec,
}

impl Lexer<'_> {
    #[inline]
    fn byte(&self, at: usize) -> Option<u8> {
        self.src.get(at).copied()
    }

    /// Consumes the line ending at `pos` if there is one.
    #[inline]
    fn eat_newline(&mut self) -> bool {
        let n = newline_len(self.src, self.pos);
        if n > 0 {
            self.pos += n;
            self.line += 1;
        }
        n > 0
    }

    /// Skips blank and comment-only lines and the next logical line's indentation; returns its
    /// column (None at the end of the input). `pos` is then at the line's first token.
    fn begin_logical_line(&mut self) -> Option<u32> {
        loop {
            let mut column: u32 = 0;
            while let Some(b) = self.byte(self.pos) {
                match b {
                    b' ' => column = column.saturating_add(1),
                    b'\t' => column = (column / 8).saturating_add(1).saturating_mul(8),
                    b'\x0c' => column = 0,
                    _ => break,
                }
                self.pos += 1;
            }
            match self.byte(self.pos)? {
                b'\n' | b'\r' => {
                    self.eat_newline();
                }
                b'#' => self.skip_comment(),
                b'\\' if newline_len(self.src, self.pos + 1) > 0 => {
                    // A continuation before the first token: the indentation was measured on
                    // this line, the first token comes later.
                    self.pos += 1;
                    self.eat_newline();
                    self.skip_blanks_and_continuations();
                    return Some(column);
                }
                _ => return Some(column),
            }
        }
    }

    fn skip_comment(&mut self) {
        let rest = self.src.get(self.pos..).unwrap_or_default();
        self.pos += rest
            .iter()
            .position(|&b| b == b'\n' || b == b'\r')
            .unwrap_or(rest.len());
    }

    /// Skips spaces, tabs, form feeds and backslash continuations within a logical line.
    fn skip_blanks_and_continuations(&mut self) {
        while let Some(b) = self.byte(self.pos) {
            match b {
                b' ' | b'\t' | b'\x0c' => self.pos += 1,
                b'\\' if newline_len(self.src, self.pos + 1) > 0 => {
                    self.pos += 1;
                    self.eat_newline();
                }
                _ => break,
            }
        }
    }

    /// Reads an identifier at `pos` (after blanks and continuations).
    fn ident(&mut self) -> Option<(usize, usize)> {
        self.skip_blanks_and_continuations();
        let start = self.pos;
        if !is_ident_start(self.byte(start)?) {
            return None;
        }
        self.pos = ident_end(self.src, start);
        Some((start, self.pos))
    }

    /// At a logical line's first token: the statement's head if it is a `def`, `async def` or
    /// `class` with a name. Otherwise `pos` is left where it was.
    fn statement_head(&mut self) -> Option<Head> {
        // The line too: reading the head may cross a backslash continuation (`async \` then
        // not `def`), and the line's rest is then read again from `start`.
        let (start, line) = (self.pos, self.line);
        let head = self.read_head();
        if head.is_none() {
            self.pos = start;
            self.line = line;
        }
        head
    }

    fn read_head(&mut self) -> Option<Head> {
        let keyword = self.pos;
        let (s, e) = self.ident()?;
        let is_class = match &self.src[s..e] {
            b"def" => false,
            b"class" => true,
            b"async" => {
                let (s, e) = self.ident()?;
                if &self.src[s..e] != b"def" {
                    return None;
                }
                false
            }
            _ => return None,
        };
        let name = self.ident()?;
        Some(Head {
            is_class,
            keyword,
            name,
        })
    }

    /// Skips to just past the newline that ends the current logical line.
    fn skip_rest_of_logical_line(&mut self) {
        let mut depth: u32 = 0;
        while let Some(b) = self.byte(self.pos) {
            match b {
                b'\n' | b'\r' => {
                    self.eat_newline();
                    if depth == 0 {
                        return;
                    }
                    if self.starts_def_or_class() {
                        // A statement keyword at column 0 can never be inside brackets: the
                        // brackets were left open by a syntax error; resume at this statement.
                        return;
                    }
                }
                b'#' => self.skip_comment(),
                b'\\' => {
                    self.pos += 1;
                    self.eat_newline();
                }
                b'"' | b'\'' => self.skip_string(false),
                b'(' | b'[' | b'{' => {
                    depth = depth.saturating_add(1);
                    self.pos += 1;
                }
                b')' | b']' | b'}' => {
                    depth = depth.saturating_sub(1);
                    self.pos += 1;
                }
                _ if IDENT[b as usize] => self.skip_word(),
                _ => self.pos += 1,
            }
        }
    }

    /// Whether the line starting at `pos` starts with `def`, `class` or `async` at column 0.
    fn starts_def_or_class(&self) -> bool {
        let end = ident_end(self.src, self.pos);
        matches!(&self.src[self.pos..end], b"def" | b"class" | b"async")
            && matches!(self.byte(end), Some(b' ' | b'\t' | b'\\'))
    }

    /// Skips a name or number; a string prefix (`r`, `b`, `f`, `rb`, `Fr`, …) directly followed
    /// by a quote starts a string instead.
    fn skip_word(&mut self) {
        let start = self.pos;
        let end = ident_end(self.src, start);
        self.pos = end;
        if end - start <= 2 && matches!(self.byte(end), Some(b'"' | b'\'')) {
            if let Some(is_f) = string_prefix(&self.src[start..end]) {
                self.skip_string(is_f);
            }
        }
    }

    /// Skips a string literal whose opening quote is at `pos`.
    fn skip_string(&mut self, is_f: bool) {
        let Some(quote) = self.byte(self.pos) else {
            return;
        };
        let triple =
            self.byte(self.pos + 1) == Some(quote) && self.byte(self.pos + 2) == Some(quote);
        self.pos += if triple { 3 } else { 1 };
        if is_f {
            self.skip_fstring(quote, triple);
        } else {
            self.skip_plain_string_body(quote, triple);
        }
    }

    /// Skips the rest of a plain string. An unescaped line ending ends a single-quoted string
    /// (a syntax error; it is left for the caller so the logical line ends there).
    fn skip_plain_string_body(&mut self, quote: u8, triple: bool) {
        while let Some(b) = self.byte(self.pos) {
            if b == quote {
                if !triple {
                    self.pos += 1;
                    return;
                }
                if self.byte(self.pos + 1) == Some(quote) && self.byte(self.pos + 2) == Some(quote)
                {
                    self.pos += 3;
                    return;
                }
                self.pos += 1;
            } else if b == b'\\' {
                self.pos += 1;
                if !self.eat_newline() && self.pos < self.src.len() {
                    self.pos += 1;
                }
            } else if b == b'\n' || b == b'\r' {
                if !triple {
                    return;
                }
                self.eat_newline();
            } else {
                self.pos += 1;
            }
        }
    }

    /// Skips the rest of an f-string (after its opening quote), nested fields and f-strings
    /// included, with an explicit stack so that no input can exhaust the call stack.
    fn skip_fstring(&mut self, quote: u8, triple: bool) {
        let mut stack = vec![FFrame {
            quote,
            triple,
            state: FState::Literal,
        }];
        while let Some(&frame) = stack.last() {
            let Some(b) = self.byte(self.pos) else {
                return;
            };
            let closes = b == frame.quote
                && (!frame.triple
                    || (self.byte(self.pos + 1) == Some(b) && self.byte(self.pos + 2) == Some(b)));
            if b == b'\n' || b == b'\r' {
                if !frame.triple {
                    // A line ending inside a single-quoted f-string: unterminated. Close
                    // every level up to the innermost triple-quoted one.
                    while stack.last().is_some_and(|f| !f.triple) {
                        stack.pop();
                    }
                    if stack.is_empty() {
                        return;
                    }
                }
                self.eat_newline();
                continue;
            }
            match frame.state {
                FState::Literal | FState::Spec => {
                    if closes {
                        self.pos += if frame.triple { 3 } else { 1 };
                        // The f-string ends, spec levels included.
                        while let Some(f) = stack.pop() {
                            if f.state == FState::Literal {
                                break;
                            }
                        }
                        continue;
                    }
                    match b {
                        b'\\' => {
                            self.pos += 1;
                            if !self.eat_newline()
                                && !matches!(self.byte(self.pos), Some(b'{' | b'}') | None)
                            {
                                self.pos += 1;
                            }
                        }
                        b'{' if frame.state == FState::Literal
                            && self.byte(self.pos + 1) == Some(b'{') =>
                        {
                            self.pos += 2;
                        }
                        b'{' => {
                            self.pos += 1;
                            stack.push(FFrame {
                                state: FState::Expr { depth: 0 },
                                ..frame
                            });
                        }
                        b'}' if frame.state == FState::Spec => {
                            self.pos += 1;
                            stack.pop();
                        }
                        _ => self.pos += 1,
                    }
                }
                FState::Expr { depth } => match b {
                    b'#' => self.skip_comment(),
                    b'\\' => {
                        self.pos += 1;
                        self.eat_newline();
                    }
                    b'"' | b'\'' => self.skip_plain_string_in(&mut stack, false),
                    b'(' | b'[' | b'{' => {
                        self.pos += 1;
                        set_depth(&mut stack, depth.saturating_add(1));
                    }
                    b')' | b']' => {
                        self.pos += 1;
                        set_depth(&mut stack, depth.saturating_sub(1));
                    }
                    b'}' => {
                        self.pos += 1;
                        if depth == 0 {
                            stack.pop();
                        } else {
                            set_depth(&mut stack, depth - 1);
                        }
                    }
                    b':' if depth == 0 => {
                        self.pos += 1;
                        if let Some(top) = stack.last_mut() {
                            top.state = FState::Spec;
                        }
                    }
                    _ if IDENT[b as usize] => {
                        let start = self.pos;
                        let end = ident_end(self.src, start);
                        self.pos = end;
                        if end - start <= 2 && matches!(self.byte(end), Some(b'"' | b'\'')) {
                            if let Some(is_f) = string_prefix(&self.src[start..end]) {
                                self.skip_plain_string_in(&mut stack, is_f);
                            }
                        }
                    }
                    _ => self.pos += 1,
                },
            }
        }
    }

    /// Inside an f-string's field: a string at `pos`; a nested f-string becomes a new level.
    fn skip_plain_string_in(&mut self, stack: &mut Vec<FFrame>, is_f: bool) {
        let Some(quote) = self.byte(self.pos) else {
            return;
        };
        let triple =
            self.byte(self.pos + 1) == Some(quote) && self.byte(self.pos + 2) == Some(quote);
        self.pos += if triple { 3 } else { 1 };
        if is_f {
            stack.push(FFrame {
                quote,
                triple,
                state: FState::Literal,
            });
        } else {
            self.skip_plain_string_body(quote, triple);
        }
    }
}

fn set_depth(stack: &mut [FFrame], depth: u32) {
    if let Some(top) = stack.last_mut() {
        top.state = FState::Expr { depth };
    }
}

/// Whether `prefix` is a string prefix (any case; `t` for template strings too), and if so
/// whether it makes an f-string (or t-string, lexed the same way).
fn string_prefix(prefix: &[u8]) -> Option<bool> {
    let mut raw = false;
    let mut bytes = false;
    let mut formatted = false;
    let mut unicode = false;
    for &c in prefix {
        let flag = match c.to_ascii_lowercase() {
            b'r' => &mut raw,
            b'b' => &mut bytes,
            b'f' | b't' => &mut formatted,
            b'u' => &mut unicode,
            _ => return None,
        };
        if *flag {
            return None;
        }
        *flag = true;
    }
    let valid = match (bytes, formatted, unicode) {
        (_, _, true) => prefix.len() == 1,
        (true, true, _) => false,
        _ => true,
    };
    valid.then_some(formatted)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (kind, name, line, container) of each symbol, for compact assertions.
    fn items(src: &str) -> Vec<(&'static str, String, u32, Option<String>)> {
        scan(src.as_bytes())
            .into_iter()
            .map(|s| (s.kind.as_str(), s.name, s.line, s.container))
            .collect()
    }

    fn f(name: &str, line: u32) -> (&'static str, String, u32, Option<String>) {
        ("function", name.into(), line, None)
    }
    fn c(name: &str, line: u32) -> (&'static str, String, u32, Option<String>) {
        ("class", name.into(), line, None)
    }
    fn m(name: &str, line: u32, class: &str) -> (&'static str, String, u32, Option<String>) {
        ("method", name.into(), line, Some(class.into()))
    }

    #[test]
    fn top_level_functions_classes_and_methods() {
        let src = "import os\n\ndef a(x):\n    def inner(): pass\n    return x\n\nasync def b():\n    pass\n\nclass C(Base):\n    '''doc'''\n    x = 1\n    def m(self):\n        def deep(): pass\n    async def n(self): ...\n    class Inner:\n        def hidden(self): pass\n    def after(self): pass\n\ndef z(): return 1\n";
        assert_eq!(
            items(src),
            vec![
                f("a", 3),
                f("b", 7),
                c("C", 10),
                m("m", 13, "C"),
                m("n", 15, "C"),
                m("after", 18, "C"),
                f("z", 20)
            ]
        );
    }

    #[test]
    fn defs_in_blocks_are_not_listed() {
        let src = "if X:\n    def a(): pass\nelse:\n    def b(): pass\ntry:\n    class T: pass\nexcept E:\n    pass\nwith o:\n    def w(): pass\nfor i in r:\n    def l(): pass\nclass K:\n    if Y:\n        def k(self): pass\n    try:\n        def t(self): pass\n    finally:\n        pass\n";
        assert_eq!(items(src), vec![c("K", 13)]);
    }

    #[test]
    fn a_continued_async_that_is_not_a_def_counts_its_lines_once() {
        // Found by the `scanner` fuzz target: the continuation's newline was counted when the
        // head was tried and again when the line was skipped, so every later line was off by one.
        let src = "async \\\n  x = 1\n\nasync def f(): pass\n";
        let s = scan(src.as_bytes());
        assert_eq!(s.len(), 1, "{s:?}");
        assert_eq!((s[0].name.as_str(), s[0].line), ("f", 4));
    }

    #[test]
    fn decorators_are_not_counted_and_async_counts_from_async() {
        let src = "@dec\ndef a(): pass\n@dec(\n    1,\n    2)\nclass B:\n    @property\n    def p(self): pass\n    @x.setter\n    async def q(self): pass\n@d\nasync \\\n  def c(): pass\n";
        assert_eq!(
            items(src),
            vec![
                f("a", 2),
                c("B", 6),
                m("p", 8, "B"),
                m("q", 10, "B"),
                f("c", 12)
            ]
        );
    }

    #[test]
    fn strings_hide_their_contents() {
        let src = concat!(
            "s = '''\ndef no(): pass\n'''\n",
            "t = \"\"\"x\\\"\"\"\ndef no2(): pass\n\"\"\"\n",
            "u = 'it\\'s' ; v = \"a#b\"  # def no3():\n",
            "w = rb'\\\\' + \"\\\n",
            "def no4(): pass\"\n",
            "def yes(): pass\n",
            "x = Rb'''\nclass No: pass'''\n",
            "y = u'def no5'\n",
            "class Yes: pass\n",
        );
        assert_eq!(items(src), vec![f("yes", 10), c("Yes", 14)]);
    }

    #[test]
    fn fstrings_with_quotes_braces_and_nesting() {
        let src = concat!(
            "a = f\"{x['k']} {{literal}} {y:{width}} {z!r:>10}\"\n",
            "def one(): pass\n",
            "b = f'''{\n  \"\"\"\ndef no(): pass\n\"\"\"\n}'''\n",
            "def two(): pass\n",
            "c = F\"{f'{n}'}\" + fR'{d}\\n' + rf\"}}\"\n",
            "def three(): pass\n",
            "d = f\"{x:'>10}\"\n",
            "def four(): pass\n",
            "e = f\"{a[\"b\"]}\"\n", // PEP 701 (3.12): the same quote inside a field
            "def five(): pass\n",
        );
        assert_eq!(
            items(src),
            vec![
                f("one", 2),
                f("two", 8),
                f("three", 10),
                f("four", 12),
                f("five", 14)
            ]
        );
    }

    #[test]
    fn brackets_and_backslashes_continue_lines() {
        let src = "x = (1,\ndef_ := 2,\n  3)\nclass A(B,\n        metaclass=M):\n    def m(self): pass\ny = 1 + \\\n2\ndef after(): pass\nz = [\n  'def', {\n}]\n";
        assert_eq!(items(src), vec![c("A", 4), m("m", 6, "A"), f("after", 9)]);
    }

    #[test]
    fn one_line_bodies_and_semicolons() {
        let src = "class A: pass\ndef f(): return 1\nclass B: x = 1; y = 2\ndef g(): pass; pass\nclass C:\n    def m(self): return 1; \n";
        assert_eq!(
            items(src),
            vec![
                c("A", 1),
                f("f", 2),
                c("B", 3),
                f("g", 4),
                c("C", 5),
                m("m", 6, "C")
            ]
        );
    }

    #[test]
    fn tabs_form_feeds_and_comment_lines() {
        let src = "class A:\n\tdef a(self): pass\n# comment at column 0 does not close the class\n\n\tdef b(self):\n\t\tpass\n\x0cclass B:\n        def c(self): pass\n  # an indented comment\n\x0cdef d(): pass\n";
        assert_eq!(
            items(src),
            vec![
                c("A", 1),
                m("a", 2, "A"),
                m("b", 5, "A"),
                c("B", 7),
                m("c", 8, "B"),
                f("d", 10)
            ]
        );
    }

    #[test]
    fn crlf_cr_bom_and_non_utf8() {
        let src = b"\xef\xbb\xbfdef a():\r\n    pass\r\nclass B:\r    def b(self): pass\rs = b'\xff\xfe'\rdef caf\xc3\xa9(): pass\ndef bad\xe9(): pass\n";
        let got: Vec<_> = scan(src)
            .into_iter()
            .map(|s| (s.name, s.line, s.kind))
            .collect();
        assert_eq!(
            got,
            vec![
                ("a".into(), 1, SymbolKind::Function),
                ("B".into(), 3, SymbolKind::Class),
                ("b".into(), 4, SymbolKind::Method),
                ("café".into(), 6, SymbolKind::Function),
                ("bad\u{fffd}".into(), 7, SymbolKind::Function),
            ]
        );
    }

    #[test]
    fn unicode_names_are_nfkc_normalized_like_ast() {
        let src = "def \u{fb01}nd(): pass\nclass \u{212b}x:\n    def \u{65e5}(self): pass\n";
        let names: Vec<_> = scan(src.as_bytes()).into_iter().map(|s| s.name).collect();
        assert_eq!(names, ["find", "\u{c5}x", "\u{65e5}"]);
    }

    #[test]
    fn soft_keywords_and_def_as_a_word() {
        let src = "match x:\n    case 1:\n        def no(): pass\nmatch = 1\ncase = obj.define\nprint('def x')\nclass M:\n    match = 2\n    def case(self): pass\n";
        assert_eq!(items(src), vec![c("M", 7), m("case", 9, "M")]);
    }

    #[test]
    fn signatures_come_from_the_keyword_line() {
        let s = scan(b"@d\nasync  def  f(a,\n   b) -> int:\n    pass\n");
        assert_eq!(s[0].signature, "async def f(a,");
        let s = scan(b"class A(B):  # note\r\n    def m(self):\tpass\n");
        assert_eq!(s[0].signature, "class A(B): # note");
        assert_eq!(s[1].signature, "def m(self): pass");
    }

    #[test]
    fn syntax_errors_still_yield_what_is_readable() {
        // An unclosed bracket: the next column-0 `def` resumes the scan.
        let src = "x = foo(1,\n\ndef a(): pass\nclass B(:\n    def m(self): pass\ns = 'unterminated\ndef c(): pass\ndef (): pass\nasync x\ndef d(): pass\n";
        assert_eq!(
            items(src),
            vec![f("a", 3), c("B", 4), f("c", 7), f("d", 10)]
        );
        // Unterminated strings and f-strings end the scan without hanging.
        assert_eq!(
            items("def a(): pass\nx = '''\ndef b(): pass"),
            vec![f("a", 1)]
        );
        assert_eq!(items("x = f'{\ndef b(): pass"), vec![f("b", 2)]);
        assert_eq!(items("x = f'''{f\"{'\ndef b(): pass"), vec![]);
        assert_eq!(items("x = f'{x:{\ndef b(): pass"), vec![f("b", 2)]);
    }

    #[test]
    fn string_prefixes() {
        for p in [
            "r", "R", "b", "B", "u", "U", "f", "F", "rb", "Rb", "bR", "BR", "fr", "rF", "t",
        ] {
            assert!(string_prefix(p.as_bytes()).is_some(), "{p}");
        }
        for p in ["x", "ub", "bf", "rr", "ur", "fb"] {
            assert!(string_prefix(p.as_bytes()).is_none(), "{p}");
        }
        assert_eq!(string_prefix(b"Rf"), Some(true));
        assert_eq!(string_prefix(b"rb"), Some(false));
    }
}
