//! What the token-based scanners (Rust and JS/TS) share: bracket matching with recovery (which
//! token closes each opening bracket, and where a group that never closes, in a file being
//! edited, is taken to end so the items after it are still found), and [`TokenWalk`], the walk
//! over the tokens each scanner's grammar methods are written on. Each scanner says what its
//! tokens are (through [`ScanToken`]) and what starts an item in its language; the rest is here.

use super::text::signature;
use super::{Symbol, SymbolKind};

/// A token's role in bracket matching.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bracket {
    Open,
    Close,
    Other,
}

/// What the shared walk needs to know of a scanner's token.
pub(crate) trait ScanToken {
    /// The scanner's token kinds.
    type Kind: Copy + PartialEq;
    /// The kind of an identifier or keyword.
    const IDENT: Self::Kind;
    /// The kind of the one-byte punctuation `p`.
    fn punct(p: u8) -> Self::Kind;
    fn kind(&self) -> Self::Kind;
    /// Whether the token opens or closes a group (of any bracket kind).
    fn bracket(&self) -> Bracket;
    /// The token's first byte in the source.
    fn start(&self) -> usize;
    /// The byte after the token's last.
    fn end(&self) -> usize;
}

/// Implements [`ScanToken`] for a scanner's `$token` (fields `kind`, `start`, `end`) whose kind
/// enum `$kind` has `Ident`, `Punct(u8)`, `Open(u8)` and `Close(u8)`.
macro_rules! impl_scan_token {
    ($token:ty, $kind:ident) => {
        impl $crate::workspace::scan::tokens::ScanToken for $token {
            type Kind = $kind;
            const IDENT: $kind = $kind::Ident;
            fn punct(p: u8) -> $kind {
                $kind::Punct(p)
            }
            fn kind(&self) -> $kind {
                self.kind
            }
            fn bracket(&self) -> $crate::workspace::scan::tokens::Bracket {
                use $crate::workspace::scan::tokens::Bracket;
                match self.kind {
                    $kind::Open(_) => Bracket::Open,
                    $kind::Close(_) => Bracket::Close,
                    _ => Bracket::Other,
                }
            }
            fn start(&self) -> usize {
                self.start
            }
            fn end(&self) -> usize {
                self.end
            }
        }
    };
}
pub(crate) use impl_scan_token;

/// Whether `token` can start an item, where a never-closed group is taken to end (see
/// [`match_brackets`]): the punctuation `mark` (an attribute's or decorator's) or one of
/// `words`.
pub(crate) fn starts_item<T: ScanToken>(src: &[u8], token: &T, mark: u8, words: &[&[u8]]) -> bool {
    let kind = token.kind();
    kind == T::punct(mark)
        || (kind == T::IDENT
            && words.contains(&src.get(token.start()..token.end()).unwrap_or_default()))
}

/// Brackets matched over one file's tokens.
pub(crate) struct Groups {
    /// For every opening bracket's index, the index of its closing token (`tokens.len()` for
    /// one that runs to the end of the file); other indices hold `tokens.len()`.
    pub closes: Vec<usize>,
    /// Sorted, without repeats: the indices of the item starts that end never-closed groups.
    pub recoveries: Vec<usize>,
}

/// For every opening bracket, the index of its closing token. A closer of the wrong kind still
/// closes: one typo must not swallow the file. A bracket that never closes is taken to end
/// before the next line that starts, unindented, with a token for which `item_start` holds (an
/// item's first word), so the items after it are still found.
pub(crate) fn match_brackets<T: ScanToken>(
    src: &[u8],
    tokens: &[T],
    item_start: impl Fn(&T) -> bool,
) -> Groups {
    let mut closes = vec![tokens.len(); tokens.len()];
    let mut stack: Vec<usize> = Vec::new();
    for (index, token) in tokens.iter().enumerate() {
        match token.bracket() {
            Bracket::Open => stack.push(index),
            Bracket::Close => {
                if let Some(open) = stack.pop() {
                    if let Some(slot) = closes.get_mut(open) {
                        *slot = index;
                    }
                }
            }
            Bracket::Other => {}
        }
    }
    if stack.is_empty() {
        return Groups {
            closes,
            recoveries: Vec::new(),
        };
    }
    // For each token, the first unindented item start at or after it.
    let mut next_item = vec![tokens.len(); tokens.len() + 1];
    for index in (0..tokens.len()).rev() {
        let Some(token) = tokens.get(index) else {
            continue;
        };
        let start = token.start();
        let unindented = start == 0 || src.get(start - 1) == Some(&b'\n');
        next_item[index] = if unindented && item_start(token) {
            index
        } else {
            next_item[index + 1]
        };
    }
    let mut recoveries = Vec::new();
    for open in stack {
        let recovery = next_item.get(open + 1).copied().unwrap_or(tokens.len());
        if let Some(slot) = closes.get_mut(open) {
            // The group's last token is the one before the recovered item.
            *slot = if recovery < tokens.len() {
                recoveries.push(recovery);
                recovery - 1
            } else {
                tokens.len()
            };
        }
    }
    recoveries.sort_unstable();
    recoveries.dedup();
    Groups { closes, recoveries }
}

/// A walk over one file's tokens with its groups matched: the token accessors and the symbol
/// list the scanners' grammar methods share (each scanner adds its own in an `impl` for its
/// token type).
pub(crate) struct TokenWalk<'a, T> {
    pub src: &'a [u8],
    pub tokens: &'a [T],
    /// For each opening bracket, its closing token (see [`Groups::closes`]).
    pub closes: &'a [usize],
    /// Sorted indices of the items that end never-closed groups (see [`match_brackets`]).
    pub recoveries: &'a [usize],
    pub line_starts: Vec<usize>,
    /// The symbols found so far.
    pub out: Vec<Symbol>,
}

impl<'a, T: ScanToken> TokenWalk<'a, T> {
    pub fn new(src: &'a [u8], tokens: &'a [T], groups: &'a Groups) -> Self {
        Self {
            src,
            tokens,
            closes: &groups.closes,
            recoveries: &groups.recoveries,
            line_starts: line_starts(src),
            out: Vec::new(),
        }
    }

    pub fn kind(&self, i: usize) -> Option<T::Kind> {
        self.tokens.get(i).map(ScanToken::kind)
    }

    /// The source bytes of token `i` (empty past the end).
    pub fn text(&self, i: usize) -> &'a [u8] {
        let src = self.src;
        self.tokens
            .get(i)
            .and_then(|t| src.get(t.start()..t.end()))
            .unwrap_or_default()
    }

    /// Whether token `i` is the identifier or keyword `word`.
    pub fn is_word(&self, i: usize, word: &str) -> bool {
        self.kind(i) == Some(T::IDENT) && self.text(i) == word.as_bytes()
    }

    pub fn is_punct(&self, i: usize, p: u8) -> bool {
        self.kind(i) == Some(T::punct(p))
    }

    /// Index after the group opening at `i`.
    pub fn after_group(&self, i: usize) -> usize {
        self.closes.get(i).map_or(self.tokens.len(), |&c| c + 1)
    }

    /// `end`, or the first recovered item after `i` if that comes sooner: no skipping runs past
    /// an item that ends a never-closed group.
    pub fn bounded(&self, i: usize, end: usize) -> usize {
        let k = self.recoveries.partition_point(|&r| r <= i);
        self.recoveries.get(k).map_or(end, |&r| r.min(end))
    }

    /// Lists a symbol whose line and signature are those of token `at` (its first keyword). An
    /// empty name (JS's `""() {}` is a valid method) is not listed: nothing could find it.
    pub fn push(&mut self, name: String, kind: SymbolKind, at: usize, container: Option<String>) {
        if name.is_empty() {
            return;
        }
        let start = self.tokens.get(at).map_or(0, ScanToken::start);
        let line = self.line_starts.partition_point(|&s| s <= start);
        self.out.push(Symbol {
            name,
            kind,
            line: u32::try_from(line).unwrap_or(u32::MAX),
            container,
            signature: signature(self.src, start),
        });
    }
}

/// Byte offset of each line's first byte, lines ended by `\n` (how the Rust and JS/TS scanners
/// number lines: a CRLF file ends its lines with `\n` too).
pub(crate) fn line_starts(src: &[u8]) -> Vec<usize> {
    let mut starts = vec![0];
    starts.extend(
        src.iter()
            .enumerate()
            .filter(|(_, &b)| b == b'\n')
            .map(|(i, _)| i + 1),
    );
    starts
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A token of a toy language: `(` and `)` are brackets, words are other tokens, and the
    /// word `item` starts an item.
    struct Tok {
        start: usize,
        end: usize,
        kind: Bracket,
    }

    impl ScanToken for Tok {
        type Kind = Bracket;
        const IDENT: Bracket = Bracket::Other;
        fn punct(_: u8) -> Bracket {
            Bracket::Other
        }
        fn kind(&self) -> Bracket {
            self.kind
        }
        fn bracket(&self) -> Bracket {
            self.kind
        }
        fn start(&self) -> usize {
            self.start
        }
        fn end(&self) -> usize {
            self.end
        }
    }

    fn lex(src: &[u8]) -> Vec<Tok> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < src.len() {
            let start = i;
            let kind = match src[i] {
                b'(' => Bracket::Open,
                b')' => Bracket::Close,
                b if b.is_ascii_alphabetic() => {
                    while src.get(i + 1).is_some_and(u8::is_ascii_alphabetic) {
                        i += 1;
                    }
                    Bracket::Other
                }
                _ => {
                    i += 1;
                    continue;
                }
            };
            i += 1;
            out.push(Tok {
                start,
                end: i,
                kind,
            });
        }
        out
    }

    fn groups(src: &str) -> (Vec<Tok>, Groups) {
        let src = src.as_bytes();
        let tokens = lex(src);
        let groups = match_brackets(src, &tokens, |t| &src[t.start..t.end] == b"item");
        (tokens, groups)
    }

    #[test]
    fn balanced_brackets_close_in_pairs() {
        // item ( a ( b ) c ) item ( d )
        // 0    1 2 3 4 5 6 7 8    9 10 11
        let (tokens, g) = groups("item (a (b) c)\nitem (d)\n");
        assert_eq!(tokens.len(), 12);
        assert_eq!(g.closes[1], 7);
        assert_eq!(g.closes[3], 5);
        assert_eq!(g.closes[9], 11);
        assert_eq!(g.closes[0], tokens.len(), "a word is no group");
        assert!(g.recoveries.is_empty());
    }

    #[test]
    fn an_unclosed_group_ends_before_the_next_unindented_item() {
        // item ( a item b item ( c )
        // 0    1 2 3    4 5    6 7 8
        // The indented `item` (3) does not end the open group; the unindented one (5) does.
        let (_, g) = groups("item (a\n  item b\nitem (c)\n");
        assert_eq!(g.closes[1], 4);
        assert_eq!(g.recoveries, vec![5]);
        assert_eq!(g.closes[6], 8);
    }

    #[test]
    fn an_unclosed_group_without_a_later_item_runs_to_the_end() {
        let (tokens, g) = groups("item (a b\n  c\n");
        assert_eq!(g.closes[1], tokens.len());
        assert!(g.recoveries.is_empty());
    }

    #[test]
    fn every_closer_pops_the_innermost_group() {
        // item ( ( a )      : the inner group closes, the outer never does.
        let (tokens, g) = groups("item ((a)\n");
        assert_eq!(g.closes[2], 4);
        assert_eq!(g.closes[1], tokens.len());
    }

    #[test]
    fn line_starts_count_lf_only() {
        assert_eq!(line_starts(b"a\nb\r\nc"), vec![0, 2, 5]);
        assert_eq!(line_starts(b""), vec![0]);
    }
}
