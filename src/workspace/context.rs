//! The code context of an assistant reply about a workspace: the best code-search hits as
//! numbered sources (`path:line` and a few lines of code around the hit), and a compact map of
//! the workspace's symbols, grouped by path with the paths of the hits first, together within a
//! token budget (the estimate of [`crate::assistant::llm::tokens`]).
//!
//! The sources become prompt sources and `code` citations through
//! [`crate::assistant::grounding::Gathered::add_code`]; the map is unnumbered context (it cites
//! nothing), for the prompt's note. Sources are counted the way the prompt builder counts them
//! (`[n] title (locator)\ntext` as one message each), so the sources kept here fit the prompt
//! when the budget given is the prompt's share for them.

use std::collections::{HashMap, HashSet};

use super::index::{hit_line, snippet, CodeHit, CodeIndex};
use crate::assistant::grounding::search_text;
use crate::assistant::llm::tokens::estimate_prompt_tokens;

/// Most code sources given to the model.
pub const CODE_SOURCES: usize = 5;
/// Lines shown before a hit's line.
pub const LINES_BEFORE: u32 = 3;
/// Lines shown after a hit's line.
pub const LINES_AFTER: u32 = 8;
/// Longest code line shown, in chars ("…" marks a cut); the hit's own line shows up to
/// [`super::index::SNIPPET_CHARS`] around the match.
pub const MAX_LINE_CHARS: usize = 160;
/// Most symbols listed per path in the map ("… n more" after).
pub const MAX_MAP_SYMBOLS_PER_PATH: usize = 24;
/// The share of the budget the sources may take when the map has something to say, in percent;
/// whatever they leave goes to the map.
pub const SOURCES_SHARE_PERCENT: usize = 75;
/// Hits searched for, before near-duplicates (same path, overlapping excerpts) are dropped.
const SEARCHED_HITS: usize = 3 * CODE_SOURCES;

/// One code source: where it is and the lines around it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CodeSource {
    pub path: String,
    /// 1-based line of the hit.
    pub line: u32,
    /// The symbol the question named there, if any.
    pub symbol: Option<String>,
    /// `path` or `path (symbol)`.
    pub title: String,
    /// The lines around the hit, each as `line: code`.
    pub text: String,
}

impl CodeSource {
    /// `path:line`, the locator the prompt shows and the citation points at.
    pub fn locator(&self) -> String {
        format!("{}:{}", self.path, self.line)
    }
}

/// The code context of a reply.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CodeContext {
    /// Best first.
    pub sources: Vec<CodeSource>,
    /// The symbol map (empty when nothing fits or the workspace has no symbols).
    pub symbol_map: String,
    /// Estimated tokens of the sources (as prompt entries) and the map (as a message).
    pub estimated_tokens: u64,
}

/// Tokens of one source as the prompt builder counts it, numbered `n`.
pub fn source_tokens(n: usize, source: &CodeSource) -> u64 {
    let entry = format!(
        "[{n}] {} ({})\n{}\n\n",
        source.title,
        source.locator(),
        source.text
    );
    estimate_prompt_tokens([entry.as_str()])
}

/// The context for `question` from `index`, reading the hits' files through `texts` (each file
/// at most once), within `budget_tokens`.
pub fn code_context(
    index: &CodeIndex,
    question: &str,
    texts: &dyn Fn(&str) -> Option<String>,
    budget_tokens: usize,
) -> CodeContext {
    let budget = budget_tokens as u64;
    let hits = search_text(question)
        .and_then(|q| index.search(&q, SEARCHED_HITS).ok())
        .map(|r| r.hits)
        .unwrap_or_default();
    let has_symbols = index
        .files()
        .any(|p| index.file_symbols(p).is_some_and(|s| !s.is_empty()));
    let sources_budget = if has_symbols {
        budget * SOURCES_SHARE_PERCENT as u64 / 100
    } else {
        budget
    };

    let mut cache: HashMap<String, Option<String>> = HashMap::new();
    let mut sources: Vec<CodeSource> = Vec::new();
    let mut used = 0u64;
    for hit in &hits {
        if sources.len() >= CODE_SOURCES {
            break;
        }
        let overlaps = sources
            .iter()
            .any(|s| s.path == hit.path && s.line.abs_diff(hit.line) <= LINES_BEFORE + LINES_AFTER);
        if overlaps {
            continue;
        }
        let text = cache
            .entry(hit.path.clone())
            .or_insert_with(|| texts(&hit.path));
        let Some(source) = text.as_deref().and_then(|t| source_of(t, hit)) else {
            continue;
        };
        let cost = source_tokens(sources.len() + 1, &source);
        if used + cost > sources_budget {
            // Like the prompt: the sources kept are a prefix of the ranking.
            break;
        }
        used += cost;
        sources.push(source);
    }

    let symbol_map = symbol_map(index, &sources, &hits, budget.saturating_sub(used));
    if !symbol_map.is_empty() {
        used += estimate_prompt_tokens([symbol_map.as_str()]);
    }
    CodeContext {
        sources,
        symbol_map,
        estimated_tokens: used,
    }
}

/// The source of `hit` from its file's `text`; `None` when the line is not in the text.
fn source_of(text: &str, hit: &CodeHit) -> Option<CodeSource> {
    let (hit_start, _) = hit_line(text, hit)?;
    // Back up to LINES_BEFORE lines before the hit's line.
    let mut first = hit.line;
    let mut start = hit_start;
    while first > 1 && hit.line - first < LINES_BEFORE {
        let Some(previous) = text.get(..start.saturating_sub(1)) else {
            break;
        };
        start = previous.rfind('\n').map_or(0, |i| i + 1);
        first -= 1;
    }
    let last = hit.line.saturating_add(LINES_AFTER);
    let mut lines = Vec::new();
    for (n, line) in (first..=last).zip(text.get(start..)?.split('\n')) {
        let line = line.strip_suffix('\r').unwrap_or(line).trim_end();
        let shown = if n == hit.line && line.chars().nth(MAX_LINE_CHARS).is_some() {
            // The hit's own long line (minified code): the part around the match.
            snippet(text, hit)
        } else {
            cut_chars(line, MAX_LINE_CHARS)
        };
        lines.push((n, shown));
    }
    // A final newline's empty line says nothing.
    while lines.len() > 1
        && lines
            .last()
            .is_some_and(|(n, l)| l.is_empty() && *n > hit.line)
    {
        lines.pop();
    }
    let title = match &hit.symbol {
        Some(symbol) => format!("{} ({symbol})", hit.path),
        None => hit.path.clone(),
    };
    Some(CodeSource {
        path: hit.path.clone(),
        line: hit.line,
        symbol: hit.symbol.clone(),
        title,
        text: lines
            .iter()
            .map(|(n, l)| format!("{n}: {l}"))
            .collect::<Vec<_>>()
            .join("\n"),
    })
}

/// `s` cut to `max` chars, "…" marking the cut.
fn cut_chars(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", s.get(..at).unwrap_or(s)),
        None => s.to_owned(),
    }
}

/// The symbol map within `budget` tokens: one line per path, the sources' paths first, then the
/// other hits' paths, then every other path in byte order; a path line that does not fit ends the
/// map.
fn symbol_map(index: &CodeIndex, sources: &[CodeSource], hits: &[CodeHit], budget: u64) -> String {
    const HEADER: &str = "Top-level symbols of the workspace (path: name kind line):";
    let mut seen = HashSet::new();
    let ranked = sources
        .iter()
        .map(|s| s.path.as_str())
        .chain(hits.iter().map(|h| h.path.as_str()))
        .chain(index.files());
    let mut map = String::new();
    for path in ranked {
        if !seen.insert(path) {
            continue;
        }
        let Some(symbols) = index.file_symbols(path).filter(|s| !s.is_empty()) else {
            continue;
        };
        let mut line = format!("{path}:");
        for (i, s) in symbols.iter().take(MAX_MAP_SYMBOLS_PER_PATH).enumerate() {
            let sep = if i == 0 { " " } else { ", " };
            match &s.container {
                Some(c) => line.push_str(&format!(
                    "{sep}{c}.{} {} {}",
                    s.name,
                    s.kind.as_str(),
                    s.line
                )),
                None => line.push_str(&format!("{sep}{} {} {}", s.name, s.kind.as_str(), s.line)),
            }
        }
        if symbols.len() > MAX_MAP_SYMBOLS_PER_PATH {
            line.push_str(&format!(
                ", … {} more",
                symbols.len() - MAX_MAP_SYMBOLS_PER_PATH
            ));
        }
        let candidate = if map.is_empty() {
            format!("{HEADER}\n{line}")
        } else {
            format!("{map}\n{line}")
        };
        if estimate_prompt_tokens([candidate.as_str()]) > budget {
            break;
        }
        map = candidate;
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workspace::index::{index_file, SNIPPET_CHARS};
    use crate::workspace::scan::{Symbol, SymbolKind};

    fn func(name: &str, line: u32) -> Symbol {
        Symbol {
            name: name.into(),
            kind: SymbolKind::Function,
            line,
            container: None,
            signature: format!("def {name}():"),
        }
    }

    fn workspace() -> (CodeIndex, HashMap<String, String>) {
        let mut files = HashMap::new();
        files.insert(
            "app/config.py".to_owned(),
            format!(
                "import os\n\n{}def parse_config(path):\n    \"\"\"Reads the config.\"\"\"\n    return open(path).read()\n",
                "# filler\n".repeat(20)
            ),
        );
        files.insert(
            "app/main.py".to_owned(),
            "from config import parse_config\n\ndef main():\n    cfg = parse_config('a.toml')\n    run(cfg)\n"
                .to_owned(),
        );
        for i in 0..30 {
            files.insert(
                format!("lib/mod{i:02}.py"),
                format!("def helper_{i}():\n    return {i}\n"),
            );
        }
        let mut index = CodeIndex::new();
        for (path, text) in &files {
            let symbols: Vec<Symbol> = text
                .lines()
                .enumerate()
                .filter_map(|(i, l)| {
                    let name = l.strip_prefix("def ")?.split('(').next()?;
                    Some(func(name, i as u32 + 1))
                })
                .collect();
            index.insert(path, index_file(text, &symbols)).unwrap();
        }
        (index, files)
    }

    #[test]
    fn the_definition_comes_first_with_its_lines_and_the_map_follows() {
        let (index, files) = workspace();
        let texts = |p: &str| files.get(p).cloned();
        let ctx = code_context(&index, "How does parse_config read the file?", &texts, 4000);
        assert!(ctx.sources.len() >= 2, "{ctx:?}");
        let first = &ctx.sources[0];
        assert_eq!(first.locator(), "app/config.py:23");
        assert_eq!(first.title, "app/config.py (parse_config)");
        assert!(
            first.text.contains("23: def parse_config(path):"),
            "{}",
            first.text
        );
        assert!(first.text.starts_with("20: # filler"));
        assert_eq!(ctx.sources[1].path, "app/main.py");
        // The map starts with the sources' paths, then the rest in path order.
        let map_lines: Vec<&str> = ctx.symbol_map.lines().collect();
        assert!(map_lines[1].starts_with("app/config.py: parse_config function 23"));
        assert!(map_lines[2].starts_with("app/main.py: main function 3"));
        assert!(map_lines[3].starts_with("lib/mod00.py: helper_0 function 1"));
        assert!(ctx.estimated_tokens <= 4000);
    }

    #[test]
    fn the_budget_is_respected_at_every_size() {
        let (index, files) = workspace();
        let texts = |p: &str| files.get(p).cloned();
        let mut previous = 0;
        for budget in [0, 10, 40, 80, 120, 200, 400, 800, 5000] {
            let ctx = code_context(&index, "parse config", &texts, budget);
            let mut counted: u64 = ctx
                .sources
                .iter()
                .enumerate()
                .map(|(i, s)| source_tokens(i + 1, s))
                .sum();
            if !ctx.symbol_map.is_empty() {
                counted += estimate_prompt_tokens([ctx.symbol_map.as_str()]);
            }
            assert_eq!(counted, ctx.estimated_tokens);
            assert!(counted <= budget as u64, "budget {budget}: {counted}");
            // More budget never gives less context.
            assert!(counted >= previous || budget == 0);
            previous = counted;
        }
        assert!(code_context(&index, "parse config", &texts, 0)
            .sources
            .is_empty());
    }

    #[test]
    fn unreadable_files_and_empty_questions_give_no_sources() {
        let (index, _) = workspace();
        let none = |_: &str| None;
        let ctx = code_context(&index, "parse_config", &none, 4000);
        assert!(ctx.sources.is_empty());
        assert!(!ctx.symbol_map.is_empty());
        let ctx = code_context(&CodeIndex::new(), "```\ncode only\n```", &none, 4000);
        assert_eq!(ctx, CodeContext::default());
    }

    #[test]
    fn long_lines_are_cut() {
        let mut index = CodeIndex::new();
        let text = format!("x = \"{}\" # needle\n", "é".repeat(1000));
        index.insert("a.py", index_file(&text, &[])).unwrap();
        let texts = |_: &str| Some(text.clone());
        let ctx = code_context(&index, "needle", &texts, 4000);
        assert_eq!(ctx.sources.len(), 1);
        let shown = &ctx.sources[0].text;
        assert!(shown.starts_with("1: …é"), "{shown}");
        assert!(shown.ends_with("# needle"), "{shown}");
        assert!(shown.chars().count() <= SNIPPET_CHARS + 4);
        // Other long lines are cut at the start.
        assert_eq!(
            cut_chars(&"é".repeat(500), MAX_LINE_CHARS).chars().count(),
            MAX_LINE_CHARS + 1
        );
    }
}
