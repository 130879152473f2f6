//! Fuzzes the upstream answer parser (`search::web::upstream::parse_searxng`), the one parser
//! fed by a third party: never panics, keeps at most `max_results` (and at most 50) results,
//! and every kept result has an http(s) URL within the size bounds and bounded text fields.
//! Accepted results must also survive the KV value round trip (`CachedResults`).
#![no_main]

use edge_assistant::search::web::upstream::{
    parse_searxng, CachedResults, MAX_CACHED_RESULTS, MAX_ENGINE_CHARS, MAX_SNIPPET_CHARS,
    MAX_TITLE_CHARS, MAX_URL_BYTES,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&max, body)) = data.split_first() else {
        return;
    };
    let max_results = usize::from(max % 64);
    let Ok(results) = parse_searxng(body, max_results) else {
        return;
    };
    assert!(results.len() <= max_results.min(MAX_CACHED_RESULTS));
    for r in &results {
        let lower = r.url.to_ascii_lowercase();
        assert!(
            lower.starts_with("http://") || lower.starts_with("https://"),
            "{:?}",
            r.url
        );
        assert!(r.url.len() <= MAX_URL_BYTES);
        assert!(!r.url.chars().any(|c| c.is_whitespace() || c.is_control()));
        assert!(r.title.chars().count() <= MAX_TITLE_CHARS);
        assert!(r.snippet.chars().count() <= MAX_SNIPPET_CHARS);
        assert!(r
            .engine
            .as_ref()
            .is_none_or(|e| !e.is_empty() && e.chars().count() <= MAX_ENGINE_CHARS));
    }
    let value = CachedResults {
        query: "q".into(),
        results,
        fetched_at_ms: u64::from(max),
        degraded: max % 2 == 0,
    };
    let back = CachedResults::decode(&value.encode()).expect("a cached value must decode");
    assert_eq!(back, value);
});
