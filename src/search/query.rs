//! The query of `GET /api/search`: the one parser of its parameters and the one length limit of
//! its text, shared by web and history search.
//!
//! The shell only hands over the decoded query pairs in order ([`parse`]); everything about them
//! is decided here and host-tested: which names are allowed, which source, the limit's range, and
//! that `tab` only goes with history search. The text is checked for length only; what counts as
//! a cache key (web) or as terms (history) is each search's own business.

use crate::api::{ErrorCode, HasErrorCode};
use crate::routes::valid_id;

/// Longest accepted query text `q`, in characters (Unicode scalar values).
pub const MAX_QUERY_CHARS: usize = 400;
/// Results per page: `limit` is 1 to this, default [`DEFAULT_LIMIT`].
pub const MAX_LIMIT: usize = 50;
/// Results when `limit` is absent.
pub const DEFAULT_LIMIT: usize = 10;
/// The parameters `GET /api/search` accepts.
pub const PARAMS: [&str; 5] = ["q", "source", "limit", "tab", "workspace"];

/// Which search answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The SearXNG-compatible upstream behind the two-level cache (the default).
    Web,
    /// BM25 over the user's chat history.
    History,
    /// Code search over one of the user's workspaces (`workspace` required).
    Code,
}

/// A validated search query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    /// The text as sent (1 to [`MAX_QUERY_CHARS`] characters, not blank).
    pub q: String,
    pub source: Source,
    /// 1 to [`MAX_LIMIT`].
    pub limit: usize,
    /// History search within one tab (a valid id); only with [`Source::History`].
    pub tab: Option<String>,
    /// The workspace a code search reads (a valid id); required with [`Source::Code`] and only
    /// allowed there.
    pub workspace: Option<String>,
}

/// Why a search query was refused, with the API code it answers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// 400 `unknown_field`.
    #[error("unknown query parameter `{0}`; allowed: q, source, limit, tab, workspace")]
    UnknownParam(String),
    /// 400 `invalid_field`.
    #[error("{0}")]
    Invalid(String),
    /// 404 `not_found`: `tab` cannot name any tab (not an id), as if it did not exist.
    #[error("tab not found")]
    TabNotFound,
    /// 404 `not_found`: `workspace` cannot name any workspace (not an id).
    #[error("workspace not found")]
    WorkspaceNotFound,
}

impl HasErrorCode for QueryError {
    fn error_code(&self) -> ErrorCode {
        match self {
            Self::UnknownParam(_) => ErrorCode::UnknownField,
            Self::Invalid(_) => ErrorCode::InvalidField,
            Self::TabNotFound | Self::WorkspaceNotFound => ErrorCode::NotFound,
        }
    }
}

/// Parses the query pairs of `GET /api/search` (decoded, in order; the first of a repeated name
/// counts).
///
/// Errors: an unknown name ([`QueryError::UnknownParam`]); `q` missing, blank or longer than
/// [`MAX_QUERY_CHARS`], `source` other than `web`/`history`, `limit` outside 1..=[`MAX_LIMIT`],
/// or `tab` with web search ([`QueryError::Invalid`]); a `tab` that is not an id
/// ([`QueryError::TabNotFound`]).
pub fn parse<K, V>(pairs: impl IntoIterator<Item = (K, V)>) -> Result<SearchQuery, QueryError>
where
    K: AsRef<str>,
    V: AsRef<str>,
{
    let mut values: [Option<String>; 5] = Default::default();
    for (name, value) in pairs {
        let name = name.as_ref();
        let slot = PARAMS
            .iter()
            .position(|p| *p == name)
            .ok_or_else(|| QueryError::UnknownParam(name.chars().take(64).collect()))?;
        values[slot].get_or_insert_with(|| value.as_ref().to_owned());
    }
    let [q, source, limit, tab, workspace] = values;
    let q = q.unwrap_or_default();
    if q.trim().is_empty() || q.chars().count() > MAX_QUERY_CHARS {
        return Err(QueryError::Invalid(format!(
            "query parameter `q` must have 1 to {MAX_QUERY_CHARS} characters"
        )));
    }
    let source = match source.as_deref() {
        None | Some("web") => Source::Web,
        Some("history") => Source::History,
        Some("code") => Source::Code,
        Some(other) => {
            return Err(QueryError::Invalid(format!(
                "query parameter `source` must be `web`, `history` or `code`, got `{}`",
                other.chars().take(64).collect::<String>()
            )))
        }
    };
    let limit = match limit {
        None => DEFAULT_LIMIT,
        Some(raw) => raw
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|l| (1..=MAX_LIMIT).contains(l))
            .ok_or_else(|| {
                QueryError::Invalid(format!(
                    "query parameter `limit` must be an integer in 1..={MAX_LIMIT}, got `{}`",
                    raw.chars().take(64).collect::<String>()
                ))
            })?,
    };
    if let Some(tab) = &tab {
        if source != Source::History {
            return Err(QueryError::Invalid(
                "query parameter `tab` is only allowed with `source=history`".into(),
            ));
        }
        if !valid_id(tab) {
            return Err(QueryError::TabNotFound);
        }
    }
    match (&workspace, source) {
        (None, Source::Code) => {
            return Err(QueryError::Invalid(
                "query parameter `workspace` is required with `source=code`".into(),
            ))
        }
        (Some(_), Source::Web | Source::History) => {
            return Err(QueryError::Invalid(
                "query parameter `workspace` is only allowed with `source=code`".into(),
            ))
        }
        (Some(ws), Source::Code) if !valid_id(ws) => return Err(QueryError::WorkspaceNotFound),
        _ => {}
    }
    Ok(SearchQuery {
        q,
        source,
        limit,
        tab,
        workspace,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse_str(pairs: &[(&str, &str)]) -> Result<SearchQuery, QueryError> {
        parse(pairs.iter().copied())
    }

    fn code(pairs: &[(&str, &str)]) -> &'static str {
        parse_str(pairs).unwrap_err().error_code().as_str()
    }

    #[test]
    fn defaults_are_web_and_ten_results() {
        let q = parse_str(&[("q", "rust")]).unwrap();
        assert_eq!(
            q,
            SearchQuery {
                q: "rust".into(),
                source: Source::Web,
                limit: DEFAULT_LIMIT,
                tab: None,
                workspace: None,
            }
        );
        let h = parse_str(&[
            ("q", " a "),
            ("source", "history"),
            ("limit", "50"),
            ("tab", "t1"),
        ])
        .unwrap();
        assert_eq!(
            (h.q.as_str(), h.source, h.limit, h.tab.as_deref()),
            (" a ", Source::History, 50, Some("t1"))
        );
        // The first of a repeated parameter counts.
        assert_eq!(parse_str(&[("q", "a"), ("q", "b")]).unwrap().q, "a");
    }

    #[test]
    fn bad_queries_get_their_codes() {
        assert_eq!(code(&[]), "invalid_field");
        assert_eq!(code(&[("q", "")]), "invalid_field");
        assert_eq!(code(&[("q", " \t")]), "invalid_field");
        assert!(parse_str(&[("q", &"é".repeat(MAX_QUERY_CHARS))]).is_ok());
        assert_eq!(
            code(&[("q", &"x".repeat(MAX_QUERY_CHARS + 1))]),
            "invalid_field"
        );
        assert_eq!(code(&[("q", "x"), ("limit", "0")]), "invalid_field");
        assert_eq!(code(&[("q", "x"), ("limit", "51")]), "invalid_field");
        assert_eq!(code(&[("q", "x"), ("limit", "ten")]), "invalid_field");
        assert_eq!(code(&[("q", "x"), ("source", "both")]), "invalid_field");
        assert_eq!(code(&[("q", "x"), ("tab", "abc")]), "invalid_field");
        assert_eq!(
            code(&[("q", "x"), ("source", "history"), ("tab", "a/b")]),
            "not_found"
        );
        assert_eq!(code(&[("q", "x"), ("page", "2")]), "unknown_field");
    }

    #[test]
    fn code_search_needs_a_workspace_and_only_it_takes_one() {
        let q = parse_str(&[
            ("q", "parse config"),
            ("source", "code"),
            ("workspace", "w1"),
        ])
        .unwrap();
        assert_eq!(
            (q.source, q.workspace.as_deref()),
            (Source::Code, Some("w1"))
        );
        assert_eq!(code(&[("q", "x"), ("source", "code")]), "invalid_field");
        assert_eq!(code(&[("q", "x"), ("workspace", "w1")]), "invalid_field");
        assert_eq!(
            code(&[("q", "x"), ("source", "history"), ("workspace", "w1")]),
            "invalid_field"
        );
        assert_eq!(
            code(&[("q", "x"), ("source", "code"), ("workspace", "../w")]),
            "not_found"
        );
        assert_eq!(
            code(&[
                ("q", "x"),
                ("source", "code"),
                ("workspace", "w1"),
                ("tab", "t")
            ]),
            "invalid_field"
        );
    }

    proptest! {
        #[test]
        fn accepted_queries_are_within_bounds(
            q in "\\PC{0,500}",
            limit in proptest::option::of("[0-9]{0,3}"),
            history in any::<bool>(),
        ) {
            let mut pairs = vec![("q".to_owned(), q.clone())];
            if let Some(limit) = &limit {
                pairs.push(("limit".to_owned(), limit.clone()));
            }
            if history {
                pairs.push(("source".to_owned(), "history".to_owned()));
            }
            if let Ok(parsed) = parse(pairs) {
                prop_assert!(!parsed.q.trim().is_empty());
                prop_assert!(parsed.q.chars().count() <= MAX_QUERY_CHARS);
                prop_assert!((1..=MAX_LIMIT).contains(&parsed.limit));
                prop_assert_eq!(parsed.source == Source::History, history);
            }
        }
    }
}
