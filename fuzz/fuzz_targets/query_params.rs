//! Fuzzes the query-string parsers and the text pipeline: `chat::parse_page_query`,
//! `chat::directory::parse_list_query`, `search::history::parse_query` and `tokenize`, and
//! `search::web::normalize::normalize_query`. Accepted values must be within their documented
//! bounds, token offsets must be char boundaries of the input (snippets slice by them), and
//! normalization must be idempotent (a normalized query is its own cache key).
#![no_main]

use arbitrary::Arbitrary;
use edge_assistant::chat::directory::parse_list_query;
use edge_assistant::chat::model::{parse_page_query, PageCursor, MAX_PAGE_LIMIT};
use edge_assistant::routes::valid_id;
use edge_assistant::search::history::tokenize::{tokenize, MAX_TOKENS_PER_DOC, MAX_TOKEN_BYTES};
use edge_assistant::search::history::{parse_query, MAX_QUERY_CHARS};
use edge_assistant::search::web::normalize::normalize_query;
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input<'a> {
    after: Option<&'a str>,
    before: Option<&'a str>,
    limit: Option<&'a str>,
    cursor: Option<&'a str>,
    tab: Option<&'a str>,
    history_limit: u8,
    text: &'a str,
}

fuzz_target!(|input: Input<'_>| {
    if let Ok(q) = parse_page_query(input.after, input.before, input.limit) {
        assert!((1..=MAX_PAGE_LIMIT).contains(&q.limit));
        // The cursor kind follows exactly which of `after` / `before` were given.
        match (q.cursor, input.after, input.before) {
            (PageCursor::After(_), _, None) => {}
            (PageCursor::Before(_), None, Some(_)) => {}
            (PageCursor::Between(_, _), Some(_), Some(_)) => {}
            (cursor, after, before) => {
                panic!("cursor {cursor:?} for after={after:?} before={before:?}")
            }
        }
    }
    if let Ok((limit, cursor)) = parse_list_query(input.limit, input.cursor) {
        assert!(limit >= 1);
        if let Some((_, id)) = cursor {
            assert!(valid_id(&id));
        }
    }

    let tokens = tokenize(input.text);
    assert!(tokens.len() <= MAX_TOKENS_PER_DOC);
    let mut previous_end = 0;
    for t in &tokens {
        assert!(!t.term.is_empty() && t.term.len() <= MAX_TOKEN_BYTES);
        assert!(t.start < t.end && t.start >= previous_end);
        assert!(
            input.text.get(t.start..t.end).is_some(),
            "offsets off a char boundary"
        );
        previous_end = t.end;
    }

    let limit = usize::from(input.history_limit);
    if let Ok(parsed) = parse_query(input.text, input.tab, limit) {
        assert!(input.text.chars().count() <= MAX_QUERY_CHARS);
        assert!(!parsed.terms.is_empty());
        assert!(parsed.terms.contains(&parsed.last));
        let mut distinct = parsed.terms.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), parsed.terms.len(), "terms are distinct");
    }

    if let Ok(normalized) = normalize_query(input.text) {
        assert!(!normalized.is_empty());
        assert_eq!(normalized, normalized.trim());
        assert!(!normalized.contains("  "));
        assert_eq!(
            normalize_query(&normalized).ok().as_deref(),
            Some(normalized.as_str()),
            "normalize_query is not idempotent"
        );
    }
});
