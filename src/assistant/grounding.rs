//! Grounding a reply: the search text taken from the question, and the gathered results turned
//! into numbered sources for the prompt and citations for the reply. Pure; the tab's object does
//! the searching (`edge/objects/reply.rs`).
//!
//! - `web`: the top [`WEB_SOURCES`] results of the cached web search (title, URL, snippet).
//! - `history`: the top [`HISTORY_SOURCES`] BM25 hits in the user's *other* tabs (the current
//!   tab is already in the prompt as conversation), cited by tab and `seq`.
//! - `rollout`: a CartPole rollout summary (16 envs × 200 steps, seed 0, the default policy),
//!   given as context without a citation: it is computed, not found.
//! - `code`: the best code-search hits of the user's workspace
//!   ([`crate::workspace::context::code_context`]), cited by `path` and `line`.
//!
//! Sources are numbered in gathering order (web first, then history, then code), from 1, and the
//! citation `n` always equals the `[n]` the prompt shows.

use super::prompt::PromptSource;
use crate::chat::reply::Citation;
use crate::rollout::request::RolloutSummary;
use crate::search::history::HistoryHit;
use crate::search::web::upstream::WebResult;
use crate::workspace::context::CodeContext;

/// Web results given to the model.
pub const WEB_SOURCES: usize = 4;
/// History hits given to the model.
pub const HISTORY_SOURCES: usize = 3;
/// Longest search text, in characters (the search routes accept 400; a question's first 200
/// characters carry its topic).
pub const MAX_SEARCH_CHARS: usize = 200;

/// The text to search for: the question without fenced code, whitespace collapsed, cut at a
/// word boundary to at most [`MAX_SEARCH_CHARS`] characters. `None` when nothing is left.
pub fn search_text(question: &str) -> Option<String> {
    let mut out = String::new();
    let mut in_fence = false;
    for line in question.lines() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            continue;
        }
        for word in line.split_whitespace() {
            let needed = usize::from(!out.is_empty()) + word.chars().count();
            if out.chars().count() + needed > MAX_SEARCH_CHARS {
                return (!out.is_empty()).then_some(out);
            }
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(word);
        }
    }
    (!out.is_empty()).then_some(out)
}

/// Sources gathered for a reply, in prompt order, with their citations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Gathered {
    pub sources: Vec<PromptSource>,
    pub citations: Vec<Citation>,
}

impl Gathered {
    fn push(&mut self, mut citation: Citation, source: PromptSource) {
        citation.n = self.citations.len() as u32 + 1;
        self.citations.push(citation);
        self.sources.push(source);
    }

    /// Adds the top web results (those with a URL and some text).
    pub fn add_web(&mut self, results: &[WebResult]) {
        for result in results
            .iter()
            .filter(|r| {
                let has_text = !r.title.is_empty() || !r.snippet.is_empty();
                !r.url.is_empty() && has_text
            })
            .take(WEB_SOURCES)
        {
            let title = if result.title.is_empty() {
                result.url.clone()
            } else {
                result.title.clone()
            };
            self.push(
                Citation {
                    n: 0,
                    source: "web".into(),
                    title: title.clone(),
                    url: Some(result.url.clone()),
                    tab_id: None,
                    seq: None,
                    path: None,
                    line: None,
                },
                PromptSource {
                    title,
                    locator: result.url.clone(),
                    text: result.snippet.clone(),
                },
            );
        }
    }

    /// Adds the top history hits outside `current_tab`.
    pub fn add_history(&mut self, hits: &[HistoryHit], current_tab: &str) {
        for hit in hits
            .iter()
            .filter(|h| h.tab_id != current_tab)
            .take(HISTORY_SOURCES)
        {
            let title = format!("Earlier conversation ({} message {})", hit.role, hit.seq);
            self.push(
                Citation {
                    n: 0,
                    source: "history".into(),
                    title: title.clone(),
                    url: None,
                    tab_id: Some(hit.tab_id.clone()),
                    seq: Some(hit.seq),
                    path: None,
                    line: None,
                },
                PromptSource {
                    title,
                    locator: format!("tab {} seq {}", hit.tab_id, hit.seq),
                    text: hit.snippet.clone(),
                },
            );
        }
    }
}

impl Gathered {
    /// Adds the code sources of `context` (already ranked, deduplicated and fitted to the
    /// budget), each cited as `path:line`. The symbol map is not a source: the caller passes
    /// `context.symbol_map` as the prompt's note.
    pub fn add_code(&mut self, context: &CodeContext) {
        for source in &context.sources {
            self.push(
                Citation {
                    n: 0,
                    source: "code".into(),
                    title: source.title.clone(),
                    url: None,
                    tab_id: None,
                    seq: None,
                    path: Some(source.path.clone()),
                    line: Some(source.line),
                },
                PromptSource {
                    title: source.title.clone(),
                    locator: source.locator(),
                    text: source.text.clone(),
                },
            );
        }
    }
}

/// The rollout summary given as context for a `rollout` question.
pub fn rollout_context(summary: &RolloutSummary) -> String {
    let mean = summary
        .mean_episode_return
        .map_or("no episode finished".to_owned(), |m| format!("{m:.1}"));
    format!(
        "A CartPole-v1 rollout just run by this service (gymnasium's dynamics, vectorized): \
         {} environments x {} steps, seed {}, the default policy; {} episodes finished, mean \
         episode return {mean}, total reward {:.0}. Users can run their own with POST \
         /api/rollout or stateful runs under /api/rollout/runs.",
        summary.num_envs,
        summary.steps,
        summary.seed,
        summary.episodes_finished,
        summary.reward_sum
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_text_drops_code_and_stays_short() {
        assert_eq!(
            search_text("  what's   new\nin Rust? "),
            Some("what's new in Rust?".into())
        );
        assert_eq!(
            search_text("why does this fail?\n```\nfn main() { panic!() }\n```\nthanks"),
            Some("why does this fail? thanks".into())
        );
        assert_eq!(search_text("```\nonly code\n```"), None);
        assert_eq!(search_text(""), None);
        let long = "word ".repeat(100);
        let text = search_text(&long).unwrap();
        assert!(text.chars().count() <= MAX_SEARCH_CHARS);
        assert!(text.ends_with("word"));
    }

    fn web(title: &str, url: &str, snippet: &str) -> WebResult {
        WebResult {
            title: title.into(),
            url: url.into(),
            snippet: snippet.into(),
            engine: None,
        }
    }

    fn hit(tab: &str, seq: u64) -> HistoryHit {
        HistoryHit {
            tab_id: tab.into(),
            seq,
            role: "user".into(),
            snippet: format!("snippet {seq}"),
            score: 1.0,
        }
    }

    #[test]
    fn sources_are_numbered_in_order_and_the_current_tab_is_left_out() {
        let mut gathered = Gathered::default();
        gathered.add_web(&[
            web("A", "https://a.example", "alpha"),
            web("", "", "no url"),
            web("", "https://b.example", "beta"),
        ]);
        gathered.add_history(&[hit("this", 1), hit("other", 7), hit("other", 9)], "this");
        let ns: Vec<u32> = gathered.citations.iter().map(|c| c.n).collect();
        assert_eq!(ns, vec![1, 2, 3, 4]);
        assert_eq!(gathered.citations[1].title, "https://b.example");
        assert_eq!(gathered.citations[2].tab_id.as_deref(), Some("other"));
        assert_eq!(gathered.citations[2].seq, Some(7));
        assert_eq!(gathered.sources.len(), 4);
        assert_eq!(gathered.sources[0].text, "alpha");
    }

    #[test]
    fn code_sources_follow_the_others_and_cite_path_and_line() {
        use crate::workspace::context::code_context;
        use crate::workspace::index::{index_file, CodeIndex};
        let mut index = CodeIndex::new();
        let files = [
            ("src/a.py", "def load_settings():\n    return 1\n"),
            ("src/b.py", "x = load_settings()\n"),
        ];
        let definition = crate::workspace::scan::Symbol {
            name: "load_settings".into(),
            kind: crate::workspace::scan::SymbolKind::Function,
            line: 1,
            container: None,
            signature: "def load_settings():".into(),
        };
        index
            .insert(files[0].0, index_file(files[0].1, &[definition]))
            .unwrap();
        index
            .insert(files[1].0, index_file(files[1].1, &[]))
            .unwrap();
        let texts = |p: &str| {
            files
                .iter()
                .find(|(path, _)| *path == p)
                .map(|(_, t)| (*t).to_owned())
        };
        let context = code_context(&index, "where is load_settings?", &texts, 2000);
        let mut gathered = Gathered::default();
        gathered.add_web(&[web("A", "https://a.example", "alpha")]);
        gathered.add_code(&context);
        assert_eq!(gathered.citations.len(), 3);
        for (i, (citation, source)) in gathered
            .citations
            .iter()
            .zip(&gathered.sources)
            .enumerate()
            .skip(1)
        {
            assert_eq!(citation.n as usize, i + 1);
            assert_eq!(citation.source, "code");
            let locator = format!(
                "{}:{}",
                citation.path.as_deref().unwrap(),
                citation.line.unwrap()
            );
            assert_eq!(source.locator, locator);
        }
        assert_eq!(gathered.sources[1].locator, "src/a.py:1");
        assert_eq!(gathered.sources[2].locator, "src/b.py:1");
        assert_eq!(gathered.citations[1].title, "src/a.py (load_settings)");
        assert!(gathered.sources[1]
            .text
            .starts_with("1: def load_settings():"));
    }

    #[test]
    fn at_most_the_documented_number_of_each() {
        let mut gathered = Gathered::default();
        let many: Vec<WebResult> = (0..10)
            .map(|i| web("t", &format!("https://{i}.example"), "s"))
            .collect();
        gathered.add_web(&many);
        let hits: Vec<HistoryHit> = (1..10).map(|i| hit("x", i)).collect();
        gathered.add_history(&hits, "y");
        assert_eq!(gathered.citations.len(), WEB_SOURCES + HISTORY_SOURCES);
    }
}
