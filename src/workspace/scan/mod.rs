//! The scanner: each file's top-level items, per language, from raw bytes.
//!
//! A file's symbols are its direct children the way Python's `ast.parse(src).body` lists them,
//! plus the methods of top-level classes, impls, traits and interfaces (with their `container`).
//! `line` is 1-based and is the line of the item's keyword (`def`, `class`, `fn`, `func`, …);
//! decorators and attributes are not counted. Input is bytes: invalid UTF-8 never stops a scan,
//! and a file with syntax errors still yields what can be read. No input can panic it.

use serde::{Deserialize, Serialize};

pub mod go;
pub mod js;
pub mod markdown;
pub mod python;
pub mod rust_lang;
mod text;
mod tokens;

/// The symbols of one file of `language`, in source order.
pub fn scan(language: Language, src: &[u8]) -> Vec<Symbol> {
    match language {
        Language::Python => python::scan(src),
        Language::Go => go::scan(src),
        Language::Markdown => markdown::scan(src),
        Language::Rust => rust_lang::scan(src),
        Language::JavaScript => js::scan(src, false),
        Language::TypeScript => js::scan(src, true),
        Language::Text => Vec::new(),
    }
}

/// The languages the workspace knows, by file extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    Python,
    Rust,
    JavaScript,
    TypeScript,
    Go,
    Markdown,
    /// Any other text file: searchable, without symbols.
    Text,
}

impl Language {
    /// The language of `path` by its extension (case-insensitive); [`Language::Text`] otherwise.
    pub fn from_path(path: &str) -> Language {
        let name = path.rsplit('/').next().unwrap_or(path);
        let ext = match name.rsplit_once('.') {
            Some((stem, ext)) if !stem.is_empty() => ext.to_ascii_lowercase(),
            _ => return Language::Text,
        };
        match ext.as_str() {
            "py" | "pyi" => Language::Python,
            "rs" => Language::Rust,
            "js" | "mjs" | "cjs" | "jsx" => Language::JavaScript,
            "ts" | "mts" | "cts" | "tsx" => Language::TypeScript,
            "go" => Language::Go,
            "md" | "markdown" => Language::Markdown,
            _ => Language::Text,
        }
    }

    /// The name used in the API (`"python"`, …, `"text"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Language::Python => "python",
            Language::Rust => "rust",
            Language::JavaScript => "javascript",
            Language::TypeScript => "typescript",
            Language::Go => "go",
            Language::Markdown => "markdown",
            Language::Text => "text",
        }
    }
}

/// What a symbol is. The API's names are the lowercase variant names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SymbolKind {
    Function,
    Class,
    Method,
    Struct,
    Enum,
    Trait,
    Impl,
    Interface,
    Type,
    Const,
    Module,
    Heading,
}

impl SymbolKind {
    /// The name used in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            SymbolKind::Function => "function",
            SymbolKind::Class => "class",
            SymbolKind::Method => "method",
            SymbolKind::Struct => "struct",
            SymbolKind::Enum => "enum",
            SymbolKind::Trait => "trait",
            SymbolKind::Impl => "impl",
            SymbolKind::Interface => "interface",
            SymbolKind::Type => "type",
            SymbolKind::Const => "const",
            SymbolKind::Module => "module",
            SymbolKind::Heading => "heading",
        }
    }

    /// The kind named `name` in the API, if any.
    pub fn parse(name: &str) -> Option<SymbolKind> {
        ALL_KINDS.iter().copied().find(|k| k.as_str() == name)
    }
}

/// Every kind, in API order.
pub const ALL_KINDS: [SymbolKind; 12] = [
    SymbolKind::Function,
    SymbolKind::Class,
    SymbolKind::Method,
    SymbolKind::Struct,
    SymbolKind::Enum,
    SymbolKind::Trait,
    SymbolKind::Impl,
    SymbolKind::Interface,
    SymbolKind::Type,
    SymbolKind::Const,
    SymbolKind::Module,
    SymbolKind::Heading,
];

/// Longest signature kept, in bytes (cut on a char boundary).
pub const MAX_SIGNATURE_BYTES: usize = 200;

/// One top-level item of a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Symbol {
    pub name: String,
    pub kind: SymbolKind,
    /// 1-based line of the item's keyword.
    pub line: u32,
    /// The class, impl, trait or interface a method belongs to.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub container: Option<String>,
    /// The item's first line from its keyword, whitespace collapsed, at most
    /// [`MAX_SIGNATURE_BYTES`].
    pub signature: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SCANNED: [Language; 3] = [Language::Python, Language::Go, Language::Markdown];

    /// What any scan must give, whatever the input: names (except nothing) and signatures
    /// within bounds, lines inside the file and in source order.
    fn check(language: Language, src: &[u8]) {
        let symbols = scan(language, src);
        let lines = src.iter().filter(|&&b| b == b'\n' || b == b'\r').count() + 1;
        let mut last = 0;
        for s in &symbols {
            assert!(!s.name.is_empty(), "{language:?}: empty name in {s:?}");
            assert!(s.signature.len() <= MAX_SIGNATURE_BYTES);
            assert!(
                s.line >= 1 && s.line as usize <= lines,
                "{language:?}: {s:?} of {lines}"
            );
            assert!(s.line >= last, "{language:?}: out of order: {symbols:?}");
            last = s.line;
        }
    }

    #[test]
    fn the_dispatcher_routes_by_language() {
        let src = b"def f(): pass\nfunc G() {}\n# H\n";
        assert_eq!(scan(Language::Python, src)[0].name, "f");
        assert_eq!(scan(Language::Go, src)[0].name, "G");
        assert_eq!(scan(Language::Markdown, src)[0].name, "H");
        assert!(scan(Language::Text, src).is_empty());
    }

    #[test]
    fn every_truncation_of_real_files_scans() {
        let files: [(Language, &[u8]); 6] = [
            (
                Language::Python,
                include_bytes!("../../../tests/data/scanner/python/tricky.py"),
            ),
            (
                Language::Python,
                include_bytes!("../../../tests/data/scanner/python/crlf_latin1.py"),
            ),
            (
                Language::Python,
                include_bytes!("../../../tests/data/scanner/python/cr_bom.py"),
            ),
            (
                Language::Python,
                include_bytes!("../../../tests/data/scanner/python/unicode_names.py"),
            ),
            (
                Language::Go,
                include_bytes!("../../../tests/data/scanner/go/sample.go"),
            ),
            (
                Language::Markdown,
                include_bytes!("../../../docs/ARCHITECTURE.md"),
            ),
        ];
        for (language, src) in files {
            let stride = (src.len() / 3000).max(1);
            for end in (0..=src.len()).step_by(stride) {
                check(language, &src[..end]);
                check(language, &src[end..]);
            }
        }
    }

    /// Pieces of syntax whose every combination must scan without a panic or a hang.
    const FRAGMENTS: &[&str] = &[
        "def ",
        "async ",
        "class ",
        "func ",
        "type ",
        "const ",
        "var ",
        "f",
        "(",
        ")",
        "[",
        "]",
        "{",
        "}",
        ":",
        ";",
        ",",
        "*",
        "=",
        "'",
        "\"",
        "'''",
        "\"\"\"",
        "`",
        "f'",
        "rb\"",
        "F\"\"\"",
        "{{",
        "}}",
        "#",
        "//",
        "/*",
        "*/",
        "\\",
        "\n",
        "\r\n",
        "\r",
        "\t",
        "    ",
        "\x0c",
        "x",
        "interface",
        "struct",
        "---",
        "===",
        "```",
        "~~~",
        "<!--",
        "-->",
        "> ",
        "- ",
        "\u{e9}",
        "\u{fb01}",
        "\u{ef}\u{bb}\u{bf}",
    ];

    proptest! {
        #[test]
        fn random_bytes_never_panic(src in proptest::collection::vec(any::<u8>(), 0..600)) {
            for language in SCANNED {
                check(language, &src);
            }
        }

        #[test]
        fn random_syntax_never_panics(
            picks in proptest::collection::vec(0..FRAGMENTS.len(), 0..120),
            bad_byte in any::<u8>(),
        ) {
            let mut src: Vec<u8> = picks.iter().flat_map(|&i| FRAGMENTS[i].bytes()).collect();
            if let Some(i) = picks.first() {
                src.insert(i % (src.len() + 1), bad_byte);
            }
            for language in SCANNED {
                check(language, &src);
            }
        }
    }
}
