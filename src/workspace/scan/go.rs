//! The Go scanner: a file's top-level declarations. `func F(` → function; `func (r *T) M(` →
//! method of `T` (pointer and type parameters stripped); `type X struct`/`interface`/other →
//! struct/interface/type, with an interface's methods as methods of `X`; each name declared by a
//! top-level `const` or `var` → const (the blank identifier `_` is not a name). Grouped
//! `type ( … )`, `const ( … )` and `var ( … )` declare one symbol per spec/name.
//!
//! It tokenizes (comments, interpreted and raw strings, runes), then reads declarations at
//! bracket depth 0 that start a statement, using Go's semicolon-insertion rule to tell where
//! statements start. Lines are counted on `\n` only, as Go does (a `\r` is whitespace).

use super::text::{ident_end, is_ident_start, name, signature};
use super::{Symbol, SymbolKind};

/// The symbols of one Go source file, in source order.
pub fn scan(src: &[u8]) -> Vec<Symbol> {
    let tokens = tokenize(src);
    let mut reader = Reader {
        src,
        tokens: &tokens,
        symbols: Vec::new(),
    };
    let mut depth: u32 = 0;
    let mut i = 0;
    while let Some(token) = tokens.get(i) {
        if depth == 0 && reader.starts_statement(i) {
            let next = match reader.word(i) {
                b"func" => Some(reader.func(i)),
                b"type" => Some(reader.group(i, Reader::type_spec)),
                b"const" | b"var" => Some(reader.group(i, Reader::value_spec)),
                _ => None,
            };
            if let Some(next) = next {
                i = next.max(i + 1);
                continue;
            }
        }
        match token.kind {
            Kind::Punct(b'(' | b'[' | b'{') => depth = depth.saturating_add(1),
            Kind::Punct(b')' | b']' | b'}') => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    reader.symbols
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Kind {
    Ident,
    /// A string, rune or number.
    Literal,
    Punct(u8),
}

#[derive(Clone, Copy, Debug)]
struct Token {
    kind: Kind,
    start: usize,
    end: usize,
    line: u32,
    /// A newline (or a block comment spanning lines) precedes this token.
    newline_before: bool,
}

fn tokenize(src: &[u8]) -> Vec<Token> {
    let mut tokens = Vec::with_capacity(src.len() / 6);
    let mut pos = 0;
    let mut line: u32 = 1;
    let mut newline_before = false;
    while let Some(&b) = src.get(pos) {
        let start = pos;
        let start_line = line;
        let kind = match b {
            b'\n' => {
                line += 1;
                newline_before = true;
                pos += 1;
                continue;
            }
            b' ' | b'\t' | b'\r' | b'\x0c' | b'\x0b' => {
                pos += 1;
                continue;
            }
            b'/' if src.get(pos + 1) == Some(&b'/') => {
                pos = src[pos..]
                    .iter()
                    .position(|&c| c == b'\n')
                    .map_or(src.len(), |n| pos + n);
                continue;
            }
            b'/' if src.get(pos + 1) == Some(&b'*') => {
                let body = &src[pos + 2..];
                let len = body.windows(2).position(|w| w == b"*/");
                let comment = &body[..len.unwrap_or(body.len())];
                let lines = comment.iter().filter(|&&c| c == b'\n').count();
                if lines > 0 {
                    newline_before = true;
                    line = line.saturating_add(u32::try_from(lines).unwrap_or(u32::MAX));
                }
                pos = len.map_or(src.len(), |n| pos + 2 + n + 2);
                continue;
            }
            b'"' | b'\'' => {
                pos += 1;
                while let Some(&c) = src.get(pos) {
                    if c == b || c == b'\n' {
                        pos += usize::from(c == b);
                        break;
                    }
                    pos += if c == b'\\' && src.get(pos + 1) != Some(&b'\n') {
                        2
                    } else {
                        1
                    };
                }
                pos = pos.min(src.len());
                Kind::Literal
            }
            b'`' => {
                let body = &src[pos + 1..];
                let len = body.iter().position(|&c| c == b'`').unwrap_or(body.len());
                let lines = body[..len].iter().filter(|&&c| c == b'\n').count();
                line = line.saturating_add(u32::try_from(lines).unwrap_or(u32::MAX));
                pos = (pos + 1 + len + 1).min(src.len());
                Kind::Literal
            }
            b'0'..=b'9' => {
                pos = ident_end(src, pos);
                while src.get(pos) == Some(&b'.') {
                    pos = ident_end(src, pos + 1);
                }
                Kind::Literal
            }
            _ if is_ident_start(b) => {
                pos = ident_end(src, pos);
                Kind::Ident
            }
            _ => {
                pos += 1;
                Kind::Punct(b)
            }
        };
        tokens.push(Token {
            kind,
            start,
            end: pos,
            line: start_line,
            newline_before,
        });
        newline_before = false;
    }
    tokens
}

struct Reader<'a> {
    src: &'a [u8],
    tokens: &'a [Token],
    symbols: Vec<Symbol>,
}

impl Reader<'_> {
    fn word(&self, i: usize) -> &[u8] {
        match self.tokens.get(i) {
            Some(t) if t.kind == Kind::Ident => &self.src[t.start..t.end],
            _ => b"",
        }
    }

    fn is(&self, i: usize, punct: u8) -> bool {
        self.tokens
            .get(i)
            .is_some_and(|t| t.kind == Kind::Punct(punct))
    }

    fn is_ident(&self, i: usize) -> bool {
        self.tokens.get(i).is_some_and(|t| t.kind == Kind::Ident)
    }

    /// Whether token `i` starts a statement: the first token, one after `;`, or one after a
    /// newline that Go turns into a semicolon (after an identifier, literal, `)`, `]` or `}`).
    fn starts_statement(&self, i: usize) -> bool {
        let Some(token) = self.tokens.get(i) else {
            return false;
        };
        let Some(prev) = i.checked_sub(1).and_then(|p| self.tokens.get(p)) else {
            return true;
        };
        match prev.kind {
            Kind::Punct(b';') => true,
            Kind::Ident | Kind::Literal | Kind::Punct(b')' | b']' | b'}') => token.newline_before,
            Kind::Punct(_) => false,
        }
    }

    /// The index just past the bracket that closes the one at `open`.
    fn skip_brackets(&self, open: usize) -> usize {
        let mut depth: u32 = 0;
        let mut i = open;
        while let Some(t) = self.tokens.get(i) {
            match t.kind {
                Kind::Punct(b'(' | b'[' | b'{') => depth += 1,
                Kind::Punct(b')' | b']' | b'}') => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        return i + 1;
                    }
                }
                _ => {}
            }
            i += 1;
        }
        i
    }

    fn push(
        &mut self,
        kind: SymbolKind,
        name_at: usize,
        keyword_at: usize,
        container: Option<String>,
    ) {
        let (Some(n), Some(k)) = (self.tokens.get(name_at), self.tokens.get(keyword_at)) else {
            return;
        };
        if &self.src[n.start..n.end] == b"_" {
            return;
        }
        self.symbols.push(Symbol {
            name: name(self.src, n.start, n.end),
            kind,
            line: k.line,
            container,
            signature: signature(self.src, k.start),
        });
    }

    /// `func Name…` or `func (receiver) Name…` at `at`; returns where reading resumes (the body
    /// is left to the caller, whose bracket depth skips it).
    fn func(&mut self, at: usize) -> usize {
        let mut i = at + 1;
        let mut container = None;
        if self.is(i, b'(') {
            // The receiver's type is its last identifier outside type arguments:
            // `(r *Map[K, V])` → Map, `(T)` → T.
            let close = self.skip_brackets(i);
            let mut depth = 0u32;
            for j in i + 1..close.saturating_sub(1) {
                match self.tokens[j].kind {
                    Kind::Punct(b'(' | b'[' | b'{') => depth += 1,
                    Kind::Punct(b')' | b']' | b'}') => depth = depth.saturating_sub(1),
                    Kind::Ident if depth == 0 => container = Some(j),
                    _ => {}
                }
            }
            if container.is_none() {
                return close;
            }
            i = close;
        }
        if !self.is_ident(i) {
            return i;
        }
        match container {
            Some(receiver) => {
                let t = self.tokens[receiver];
                let class = name(self.src, t.start, t.end);
                self.push(SymbolKind::Method, i, at, Some(class));
            }
            None => self.push(SymbolKind::Function, i, at, None),
        }
        i + 1
    }

    /// A `type`/`const`/`var` declaration at `at`, single or grouped; `spec` reads one spec
    /// starting at a token index (with the keyword's index, None inside a group) and returns
    /// where it stopped.
    fn group(&mut self, at: usize, spec: fn(&mut Self, usize, Option<usize>) -> usize) -> usize {
        if !self.is(at + 1, b'(') {
            return spec(self, at + 1, Some(at));
        }
        let close = self.skip_brackets(at + 1);
        let mut i = at + 2;
        let mut depth: u32 = 0;
        let mut spec_start = true;
        while i + 1 < close {
            if depth == 0 && (spec_start || self.starts_statement(i)) && self.is_ident(i) {
                i = spec(self, i, None).max(i + 1);
                spec_start = false;
                continue;
            }
            spec_start = false;
            match self.tokens[i].kind {
                Kind::Punct(b'(' | b'[' | b'{') => depth += 1,
                Kind::Punct(b')' | b']' | b'}') => depth = depth.saturating_sub(1),
                _ => {}
            }
            i += 1;
        }
        close
    }

    /// `Name [TypeParams] [=] Type`: struct, interface (with its methods) or type.
    fn type_spec(&mut self, at: usize, keyword: Option<usize>) -> usize {
        if !self.is_ident(at) {
            return at;
        }
        let mut i = at + 1;
        if self.is(i, b'[') && self.is_ident(i + 1) && self.starts_type_params(i + 2) {
            i = self.skip_brackets(i);
        }
        if self.is(i, b'=') {
            i += 1;
        }
        let kind = match self.word(i) {
            b"struct" => SymbolKind::Struct,
            b"interface" => SymbolKind::Interface,
            _ => SymbolKind::Type,
        };
        self.push(kind, at, keyword.unwrap_or(at), None);
        if kind == SymbolKind::Interface && self.is(i + 1, b'{') {
            let t = self.tokens[at];
            let container = name(self.src, t.start, t.end);
            return self.interface_methods(i + 1, &container);
        }
        i
    }

    /// After `[Name`: whether what follows makes a type parameter list (`[T any]`,
    /// `[K comparable, V any]`, `[P *C]`, `[T ~int]`) rather than an array length (`[N]T`).
    fn starts_type_params(&self, i: usize) -> bool {
        self.is_ident(i)
            || self.is(i, b',')
            || self.is(i, b'*')
            || self.is(i, b'~')
            || self.is(i, b'[')
    }

    /// The methods of the interface whose `{` is at `open`: elements `Name(…)`; embedded types
    /// and type sets are not methods.
    fn interface_methods(&mut self, open: usize, container: &str) -> usize {
        let close = self.skip_brackets(open);
        let mut depth: u32 = 0;
        let mut element_start = true;
        for i in open + 1..close.saturating_sub(1) {
            if depth == 0
                && (element_start || self.starts_statement(i))
                && self.is_ident(i)
                && self.is(i + 1, b'(')
            {
                self.push(SymbolKind::Method, i, i, Some(container.to_string()));
            }
            element_start = false;
            match self.tokens[i].kind {
                Kind::Punct(b'(' | b'[' | b'{') => depth += 1,
                Kind::Punct(b')' | b']' | b'}') => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        close
    }

    /// `a, b, c [Type] [= values]`: one const per name.
    fn value_spec(&mut self, at: usize, keyword: Option<usize>) -> usize {
        let mut i = at;
        while self.is_ident(i) {
            // Line and signature from the keyword, or in a group from the spec's first name.
            self.push(SymbolKind::Const, i, keyword.unwrap_or(at), None);
            if !self.is(i + 1, b',') {
                return i + 1;
            }
            i += 2;
        }
        i
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(src: &str) -> Vec<(&'static str, String, u32, Option<String>)> {
        scan(src.as_bytes())
            .into_iter()
            .map(|s| (s.kind.as_str(), s.name, s.line, s.container))
            .collect()
    }

    fn s(kind: &'static str, name: &str, line: u32) -> (&'static str, String, u32, Option<String>) {
        (kind, name.into(), line, None)
    }

    fn m(name: &str, line: u32, on: &str) -> (&'static str, String, u32, Option<String>) {
        ("method", name.into(), line, Some(on.into()))
    }

    #[test]
    fn functions_and_methods_with_receivers_and_generics() {
        let src = "package p\n\nimport \"fmt\"\n\nfunc Plain(a int) error {\n\tf := func() {}\n\treturn nil\n}\n\nfunc (r *Reader) Read(b []byte) (int, error) { return 0, nil }\nfunc (Value) String() string { return \"\" }\nfunc (m *Map[K, V]) Get(k K) V { var v V; return v }\nfunc (s Set[T]) Has(t T) bool { return false }\nfunc Map2[K comparable, V any](m map[K]V) {}\n";
        assert_eq!(
            items(src),
            vec![
                s("function", "Plain", 5),
                m("Read", 10, "Reader"),
                m("String", 11, "Value"),
                m("Get", 12, "Map"),
                m("Has", 13, "Set"),
                s("function", "Map2", 14),
            ]
        );
    }

    #[test]
    fn types_single_and_grouped_with_interface_methods() {
        let src = "package p\n\ntype Point struct {\n\tX, Y int\n}\n\ntype Shape interface {\n\tArea() float64\n\tfmt.Stringer\n\tPerimeter(scale float64) float64\n\t~int | ~string\n}\n\ntype ID string\ntype List[T any] []T\ntype Arr [4]struct{ a int }\ntype Alias = map[string]int\ntype (\n\tA struct{}\n\tB interface{ M() }\n\tC[T any] func(T)\n\tD = int\n)\n";
        assert_eq!(
            items(src),
            vec![
                s("struct", "Point", 3),
                s("interface", "Shape", 7),
                m("Area", 8, "Shape"),
                m("Perimeter", 10, "Shape"),
                s("type", "ID", 14),
                s("type", "List", 15),
                s("type", "Arr", 16),
                s("type", "Alias", 17),
                s("struct", "A", 19),
                s("interface", "B", 20),
                m("M", 20, "B"),
                s("type", "C", 21),
                s("type", "D", 22),
            ]
        );
    }

    #[test]
    fn consts_and_vars_single_and_grouped() {
        let src = "package p\n\nconst Max = 10\nvar a, b int = 1, 2\nvar _ = check()\nconst (\n\tRed Color = iota\n\tGreen\n\tBlue; Alpha\n\tx, y = f(1,\n\t\t2), 3\n)\nvar (\n\tdefault_ = map[string]int{\n\t\t\"k\": 1,\n\t}\n\tlast error\n)\nvar f = func(x int) bool { return true }\n";
        assert_eq!(
            items(src),
            vec![
                s("const", "Max", 3),
                s("const", "a", 4),
                s("const", "b", 4),
                s("const", "Red", 7),
                s("const", "Green", 8),
                s("const", "Blue", 9),
                s("const", "Alpha", 9),
                s("const", "x", 10),
                s("const", "y", 10),
                s("const", "default_", 14),
                s("const", "last", 17),
                s("const", "f", 19),
            ]
        );
    }

    #[test]
    fn comments_strings_and_runes_hide_their_contents() {
        let src = "package p\n// func Commented() {}\n/* func Block() {}\nfunc Also() {} */ func After() {}\nvar raw = `\nfunc InRaw() {}\n}`\nvar q = \"func InString() {\\\" }\"\nvar r = '}'\nvar r2 = '\\''\nfunc Last() {\n\ts := \"{\"\n\t_ = `{`\n}\ntype T struct{}\n";
        assert_eq!(
            items(src),
            vec![
                s("function", "After", 4),
                s("const", "raw", 5),
                s("const", "q", 8),
                s("const", "r", 9),
                s("const", "r2", 10),
                s("function", "Last", 11),
                s("struct", "T", 15),
            ]
        );
    }

    #[test]
    fn signatures_and_crlf() {
        let src =
            b"package p\r\nfunc  (r *R)   Do(x int) {\r\n}\r\ntype S struct {\r\n\tA int\r\n}\r\n";
        let got = scan(src);
        assert_eq!(got[0].signature, "func (r *R) Do(x int) {");
        assert_eq!(got[0].line, 2);
        assert_eq!(got[1].signature, "type S struct {");
        assert_eq!(got[1].line, 4);
    }

    #[test]
    fn broken_input_yields_what_is_readable() {
        assert_eq!(items("func"), vec![]);
        assert_eq!(items("func ("), vec![]);
        assert_eq!(items("type ("), vec![]);
        assert_eq!(items("type X"), vec![s("type", "X", 1)]);
        assert_eq!(
            items("var x = \"unterminated\nfunc F() {}\n"),
            vec![s("const", "x", 1), s("function", "F", 2)]
        );
        assert_eq!(items("/* open comment\nfunc F() {}"), vec![]);
        assert_eq!(
            items("type I interface {\n\tM(\n"),
            vec![s("interface", "I", 1), m("M", 2, "I")]
        );
    }
}
