//! The scanner: each file's top-level items, per language, from raw bytes.
//!
//! A file's symbols are its direct children the way Python's `ast.parse(src).body` lists them,
//! plus the methods of top-level classes, impls, traits and interfaces (with their `container`).
//! `line` is 1-based and is the line of the item's keyword (`def`, `class`, `fn`, `func`, …);
//! decorators and attributes are not counted. Input is bytes: invalid UTF-8 never stops a scan,
//! and a file with syntax errors still yields what can be read. No input can panic it.

pub mod js;
pub mod rust_lang;

use serde::{Deserialize, Serialize};

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
