//! The SearXNG-compatible upstream and the cached value format.
//!
//! - [`build_upstream_url`] builds `GET {base}/search?q=<percent-encoded>&format=json`.
//! - [`parse_searxng`] turns the upstream's JSON body into at most `max_results` [`WebResult`]s.
//!   The upstream is not trusted: a body that is not JSON, has no `results` array or is larger than
//!   [`MAX_UPSTREAM_BODY_BYTES`] is a 502 `upstream_error` (and nothing gets cached); single
//!   malformed items (no usable http(s) `url`, wrong types) are skipped; every text field is capped
//!   so one result cannot blow up the cache's byte budget.
//! - [`CachedResults`] is what KV stores under the query's key: the normalized query (compared on
//!   read, so a 64-bit hash collision is a miss), the results and when they were fetched.
//! - [`Freshness`] classifies a cached value by age: fresh within the TTL, stale within the
//!   stale-while-revalidate window after it (served, and refreshed in the background), expired
//!   after that. An expired value is still served when the upstream fails, as long as it is younger
//!   than TTL + max-stale-if-error ([`Freshness::usable_on_error`]): a slightly old answer beats a
//!   502, but not an arbitrarily old one.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::WebSearchError;

/// Largest upstream body parsed, in bytes. The edge should stop reading at this many bytes and
/// treat a longer body as [`WebSearchError::Upstream`]; [`parse_searxng`] enforces it too.
pub const MAX_UPSTREAM_BODY_BYTES: usize = 2 * 1024 * 1024;
/// Most results kept per query (the API's largest `limit`); the cache stores this many and a
/// request's `limit` slices them.
pub const MAX_CACHED_RESULTS: usize = 50;
/// Longest title kept, in characters (longer ones are cut at a character boundary).
pub const MAX_TITLE_CHARS: usize = 300;
/// Longest snippet kept, in characters.
pub const MAX_SNIPPET_CHARS: usize = 1000;
/// Longest URL accepted, in bytes; a longer URL is skipped, since a cut URL would be wrong.
pub const MAX_URL_BYTES: usize = 2048;
/// Longest engine name kept, in characters.
pub const MAX_ENGINE_CHARS: usize = 64;

/// One web search result as the API returns it (`snippet` is SearXNG's `content`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebResult {
    /// Page title, at most [`MAX_TITLE_CHARS`] characters (may be empty).
    pub title: String,
    /// Absolute http(s) URL, at most [`MAX_URL_BYTES`] bytes.
    pub url: String,
    /// Text excerpt, at most [`MAX_SNIPPET_CHARS`] characters (may be empty).
    pub snippet: String,
    /// The engine that found it, when the upstream says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
}

/// Builds the upstream request URL: `{base}/search?q=<q percent-encoded>&format=json`.
///
/// `base` is `SEARCH_UPSTREAM_URL`: an `http://` or `https://` URL with a host, without query or
/// fragment; trailing slashes are ignored.
/// Errors: [`WebSearchError::NotConfigured`] (503) when `base` is empty or not such a URL.
pub fn build_upstream_url(base: &str, normalized_q: &str) -> Result<String, WebSearchError> {
    let base = base.trim();
    if base.is_empty() {
        return Err(WebSearchError::NotConfigured(
            "SEARCH_UPSTREAM_URL is not set".into(),
        ));
    }
    let rest = strip_http_scheme(base).ok_or_else(|| {
        WebSearchError::NotConfigured(
            "SEARCH_UPSTREAM_URL must start with http:// or https://".into(),
        )
    })?;
    let host = rest.split('/').next().unwrap_or("");
    let bad_char = base
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '?' || c == '#');
    if host.is_empty() || bad_char {
        return Err(WebSearchError::NotConfigured(
            "SEARCH_UPSTREAM_URL must be a base URL with a host and no query, fragment or spaces"
                .into(),
        ));
    }
    Ok(format!(
        "{}/search?q={}&format=json",
        base.trim_end_matches('/'),
        percent_encode(normalized_q)
    ))
}

/// Percent-encodes every byte outside RFC 3986's unreserved set (`A-Z a-z 0-9 - . _ ~`).
fn percent_encode(s: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
    }
    out
}

/// The part after `http://` or `https://` (scheme matched case-insensitively), else `None`.
fn strip_http_scheme(url: &str) -> Option<&str> {
    for scheme in ["http://", "https://"] {
        if let Some(head) = url.get(..scheme.len()) {
            if head.eq_ignore_ascii_case(scheme) {
                return url.get(scheme.len()..);
            }
        }
    }
    None
}

/// What a SearXNG answer gives: its usable results, and whether it is degraded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamAnswer {
    /// At most `max_results` results, in upstream order.
    pub results: Vec<WebResult>,
    /// The upstream said some engines did not answer (`unresponsive_engines` is not empty): the
    /// results may be partial. With no results at all the answer is degraded anyway
    /// ([`CachedResults::is_degraded`]).
    pub engines_failed: bool,
}

/// Parses a SearXNG JSON answer into at most `max_results` results, in upstream order.
///
/// Errors ([`WebSearchError::Upstream`], 502): body larger than [`MAX_UPSTREAM_BODY_BYTES`], not
/// JSON, not an object, or without a `results` array. Items that are not objects or lack an
/// http(s) `url` of at most [`MAX_URL_BYTES`] are skipped; a missing/non-string `title`, `content`
/// or `engine` becomes empty/absent. An answer whose items are all skipped is `Ok(vec![])`.
pub fn parse_searxng(body: &[u8], max_results: usize) -> Result<Vec<WebResult>, WebSearchError> {
    parse_searxng_answer(body, max_results).map(|answer| answer.results)
}

/// [`parse_searxng`], also telling whether the upstream reported failed engines.
pub fn parse_searxng_answer(
    body: &[u8],
    max_results: usize,
) -> Result<UpstreamAnswer, WebSearchError> {
    if body.len() > MAX_UPSTREAM_BODY_BYTES {
        return Err(WebSearchError::Upstream(format!(
            "the answer is larger than {MAX_UPSTREAM_BODY_BYTES} bytes"
        )));
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| WebSearchError::Upstream(format!("the answer is not JSON ({e})")))?;
    let Some(items) = value.get("results").and_then(Value::as_array) else {
        return Err(WebSearchError::Upstream(
            "the answer has no `results` array; is SEARCH_UPSTREAM_URL a SearXNG instance with the json format enabled?"
                .into(),
        ));
    };
    let engines_failed = value
        .get("unresponsive_engines")
        .and_then(Value::as_array)
        .is_some_and(|engines| !engines.is_empty());
    Ok(UpstreamAnswer {
        results: items
            .iter()
            .filter_map(parse_item)
            .take(max_results.min(MAX_CACHED_RESULTS))
            .collect(),
        engines_failed,
    })
}

/// One upstream item, or `None` when it has no usable URL.
fn parse_item(item: &Value) -> Option<WebResult> {
    let url = item.get("url")?.as_str()?.trim();
    if url.len() > MAX_URL_BYTES || !is_http_url(url) {
        return None;
    }
    let text = |field: &str, max_chars: usize| {
        item.get(field)
            .and_then(Value::as_str)
            .map(|s| truncate_chars(s.trim(), max_chars))
    };
    Some(WebResult {
        title: text("title", MAX_TITLE_CHARS).unwrap_or_default(),
        url: url.to_owned(),
        snippet: text("content", MAX_SNIPPET_CHARS).unwrap_or_default(),
        engine: text("engine", MAX_ENGINE_CHARS).filter(|e| !e.is_empty()),
    })
}

/// True for `http(s)://host...` without whitespace or control characters.
fn is_http_url(url: &str) -> bool {
    let Some(rest) = strip_http_scheme(url) else {
        return false;
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    !host.is_empty() && !url.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// The first `max_chars` characters of `s` (a fresh, exactly sized String).
fn truncate_chars(s: &str, max_chars: usize) -> String {
    match s.char_indices().nth(max_chars) {
        Some((cut, _)) => s.get(..cut).unwrap_or(s).to_owned(),
        None => s.to_owned(),
    }
}

/// The value stored in KV (and in L1) for one normalized query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedResults {
    /// The normalized query; compared on read so a key-hash collision is a miss.
    pub query: String,
    /// The results, at most [`MAX_CACHED_RESULTS`].
    pub results: Vec<WebResult>,
    /// When the upstream answered, in ms since the Unix epoch.
    pub fetched_at_ms: u64,
    /// The upstream reported failed engines (see [`CachedResults::is_degraded`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub degraded: bool,
}

impl CachedResults {
    /// Serializes to the KV value bytes (JSON).
    pub fn encode(&self) -> Vec<u8> {
        // Serializing plain strings and integers cannot fail; fall back to an empty value that
        // `decode` rejects rather than panicking.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Parses KV value bytes.
    /// Errors: [`WebSearchError::Corrupt`] when they are not a valid cached value; the edge should
    /// treat that as a miss (and overwrite it), not as a failed request.
    pub fn decode(bytes: &[u8]) -> Result<Self, WebSearchError> {
        serde_json::from_slice(bytes)
            .map_err(|e| WebSearchError::Corrupt(format!("cached search value: {e}")))
    }

    /// A degraded answer: no usable results, or the upstream said engines failed. It is not
    /// stored in KV and is fresh only briefly ([`super::lookup`]).
    pub fn is_degraded(&self) -> bool {
        self.degraded || self.results.is_empty()
    }

    /// True when this value belongs to `normalized_query` (false on a key-hash collision).
    pub fn matches(&self, normalized_query: &str) -> bool {
        self.query == normalized_query
    }
}

/// How a cached value may be used, by age.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Younger than the TTL: serve it, nothing else to do.
    Fresh,
    /// Past the TTL but within the stale-while-revalidate window: serve it (`"cache": "stale"`)
    /// and refresh it from the upstream in the background (`wait_until`).
    Stale,
    /// Too old to serve normally: fetch from the upstream; if that fails, it may still be served
    /// when [`Freshness::usable_on_error`] says so.
    Expired,
}

impl Freshness {
    /// Classifies a value fetched at `fetched_at_ms` at time `now_ms` (both ms since the epoch):
    /// `Fresh` when age < `ttl_ms`, `Stale` when age < `ttl_ms + stale_ms`, else `Expired`.
    /// A `fetched_at_ms` in the future (clock skew between machines) counts as age 0.
    pub fn of(now_ms: u64, fetched_at_ms: u64, ttl_ms: u64, stale_ms: u64) -> Self {
        let age = now_ms.saturating_sub(fetched_at_ms);
        if age < ttl_ms {
            Self::Fresh
        } else if age < ttl_ms.saturating_add(stale_ms) {
            Self::Stale
        } else {
            Self::Expired
        }
    }

    /// Stale-if-error: true when a value of this age may be served because the upstream failed,
    /// i.e. age < `ttl_ms + max_stale_ms`. Choose `max_stale_ms` ≥ the stale-while-revalidate
    /// window (so everything `Stale` is also usable on error); KV entries should expire (KV's
    /// `expiration_ttl`) after `ttl_ms + max_stale_ms`, when nothing can use them any more.
    pub fn usable_on_error(
        now_ms: u64,
        fetched_at_ms: u64,
        ttl_ms: u64,
        max_stale_ms: u64,
    ) -> bool {
        now_ms.saturating_sub(fetched_at_ms) < ttl_ms.saturating_add(max_stale_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::HasErrorCode;

    const GOOD: &str = r#"{
        "query": "rust",
        "number_of_results": 3,
        "results": [
            {"url": "https://www.rust-lang.org/", "title": " Rust ", "content": "A language", "engine": "duckduckgo"},
            {"url": "http://example.org/x?y=1", "title": "Example"},
            {"url": "https://doc.rust-lang.org/book/", "title": "The Book", "content": "Learn Rust", "engine": ""}
        ],
        "answers": [], "suggestions": []
    }"#;

    #[test]
    fn parses_good_answers_in_order_with_snippet_from_content() {
        let results = parse_searxng(GOOD.as_bytes(), 10).unwrap();
        assert_eq!(
            results,
            vec![
                WebResult {
                    title: "Rust".into(),
                    url: "https://www.rust-lang.org/".into(),
                    snippet: "A language".into(),
                    engine: Some("duckduckgo".into()),
                },
                WebResult {
                    title: "Example".into(),
                    url: "http://example.org/x?y=1".into(),
                    snippet: String::new(),
                    engine: None,
                },
                WebResult {
                    title: "The Book".into(),
                    url: "https://doc.rust-lang.org/book/".into(),
                    snippet: "Learn Rust".into(),
                    engine: None,
                },
            ]
        );
        assert_eq!(parse_searxng(GOOD.as_bytes(), 2).unwrap().len(), 2);
        // The API omits `engine` when unknown.
        let json = serde_json::to_string(&results[1]).unwrap();
        assert_eq!(
            json,
            r#"{"title":"Example","url":"http://example.org/x?y=1","snippet":""}"#
        );
    }

    #[test]
    fn garbage_is_a_502_upstream_error() {
        for body in [
            &b"<html>502 Bad Gateway</html>"[..],
            b"",
            b"\xff\xfe\x00",
            b"[1,2,3]",
            b"{\"results\": {}}",
            b"{\"query\": \"x\"}",
            b"{\"results\": [",
        ] {
            let err = parse_searxng(body, 10).unwrap_err();
            assert_eq!(err.error_code().status(), 502, "{body:?}");
        }
        // Deep nesting hits serde_json's recursion limit: an error, not a stack overflow.
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(parse_searxng(deep.as_bytes(), 10).is_err());
    }

    #[test]
    fn huge_bodies_are_rejected_and_huge_fields_capped() {
        let big = vec![b' '; MAX_UPSTREAM_BODY_BYTES + 1];
        assert_eq!(
            parse_searxng(&big, 10).unwrap_err().error_code().status(),
            502
        );

        let body = serde_json::json!({"results": [{
            "url": "https://a.example/",
            "title": "é".repeat(5000),
            "content": "x".repeat(50_000),
            "engine": "e".repeat(500),
        }]})
        .to_string();
        let r = parse_searxng(body.as_bytes(), 10).unwrap();
        assert_eq!(r[0].title.chars().count(), MAX_TITLE_CHARS);
        assert_eq!(
            r[0].title.len(),
            2 * MAX_TITLE_CHARS,
            "cut on a char boundary"
        );
        assert_eq!(r[0].snippet.len(), MAX_SNIPPET_CHARS);
        assert_eq!(r[0].engine.as_deref().map(str::len), Some(MAX_ENGINE_CHARS));

        let many: Vec<_> = (0..500)
            .map(|i| serde_json::json!({"url": format!("https://e.example/{i}"), "title": "t"}))
            .collect();
        let body = serde_json::json!({ "results": many }).to_string();
        assert_eq!(
            parse_searxng(body.as_bytes(), 1000).unwrap().len(),
            MAX_CACHED_RESULTS
        );
    }

    #[test]
    fn failed_engines_and_empty_answers_are_degraded() {
        let good = parse_searxng_answer(GOOD.as_bytes(), 10).unwrap();
        assert!(!good.engines_failed);
        let partial = br#"{"results": [{"url": "https://a.example/"}],
            "unresponsive_engines": [["duckduckgo", "timeout"]]}"#;
        let partial = parse_searxng_answer(partial, 10).unwrap();
        assert_eq!((partial.results.len(), partial.engines_failed), (1, true));
        let value = |results: Vec<WebResult>, degraded| CachedResults {
            query: "q".into(),
            results,
            fetched_at_ms: 0,
            degraded,
        };
        assert!(!value(good.results.clone(), false).is_degraded());
        assert!(value(good.results.clone(), true).is_degraded());
        assert!(value(Vec::new(), false).is_degraded());
        // The flag survives KV and is absent from full answers' bytes.
        let stored = value(good.results, true);
        assert_eq!(CachedResults::decode(&stored.encode()).unwrap(), stored);
        let full = value(Vec::new(), false).encode();
        assert!(!String::from_utf8(full).unwrap().contains("degraded"));
    }

    #[test]
    fn malformed_items_are_skipped() {
        let long_url = format!("https://a.example/{}", "p".repeat(MAX_URL_BYTES));
        let body = serde_json::json!({"results": [
            "not an object",
            {"title": "no url"},
            {"url": 42},
            {"url": "javascript:alert(1)", "title": "xss"},
            {"url": "ftp://files.example/", "title": "ftp"},
            {"url": "https:///nohost"},
            {"url": "https://sp ace.example/"},
            {"url": long_url},
            {"url": "HTTPS://OK.example/", "title": 7, "content": ["x"]},
        ]})
        .to_string();
        let r = parse_searxng(body.as_bytes(), 10).unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].url, "HTTPS://OK.example/");
        assert_eq!(r[0].title, "");
        assert_eq!(r[0].snippet, "");
        assert!(parse_searxng(br#"{"results": []}"#, 10).unwrap().is_empty());
    }

    #[test]
    fn upstream_url_is_built_and_validated() {
        assert_eq!(
            build_upstream_url("https://searx.example/", "rust & wasm/é?").unwrap(),
            "https://searx.example/search?q=rust%20%26%20wasm%2F%C3%A9%3F&format=json"
        );
        assert_eq!(
            build_upstream_url("http://127.0.0.1:8888/base", "a-b_c.d~").unwrap(),
            "http://127.0.0.1:8888/base/search?q=a-b_c.d~&format=json"
        );
        for bad in [
            "",
            "  ",
            "searx.example",
            "ftp://x",
            "https://",
            "https://x?y=1",
            "https://a b",
        ] {
            let err = build_upstream_url(bad, "q").unwrap_err();
            assert_eq!(err.error_code().status(), 503, "{bad:?}");
        }
    }

    #[test]
    fn cached_value_round_trips_and_detects_collisions() {
        let value = CachedResults {
            query: "rust".into(),
            results: parse_searxng(GOOD.as_bytes(), 10).unwrap(),
            fetched_at_ms: 1_700_000_000_000,
            degraded: false,
        };
        let back = CachedResults::decode(&value.encode()).unwrap();
        assert_eq!(back, value);
        assert!(back.matches("rust"));
        assert!(!back.matches("rust book"));
        let err = CachedResults::decode(b"{\"query\":1}").unwrap_err();
        assert_eq!(err.error_code().status(), 500);
    }

    #[test]
    fn freshness_follows_a_fake_clock() {
        let (ttl, swr, max_stale) = (60_000, 30_000, 3_600_000);
        let fetched = 1_000_000;
        assert_eq!(Freshness::of(fetched, fetched, ttl, swr), Freshness::Fresh);
        assert_eq!(
            Freshness::of(fetched + 59_999, fetched, ttl, swr),
            Freshness::Fresh
        );
        assert_eq!(
            Freshness::of(fetched + 60_000, fetched, ttl, swr),
            Freshness::Stale
        );
        assert_eq!(
            Freshness::of(fetched + 89_999, fetched, ttl, swr),
            Freshness::Stale
        );
        assert_eq!(
            Freshness::of(fetched + 90_000, fetched, ttl, swr),
            Freshness::Expired
        );
        // Clock skew: fetched "in the future" is fresh, not an underflow.
        assert_eq!(
            Freshness::of(fetched - 5, fetched, ttl, swr),
            Freshness::Fresh
        );
        // Stale-if-error: expired but within TTL + max-stale is still usable when upstream fails.
        assert!(Freshness::usable_on_error(
            fetched + 90_000,
            fetched,
            ttl,
            max_stale
        ));
        assert!(Freshness::usable_on_error(
            fetched + 3_659_999,
            fetched,
            ttl,
            max_stale
        ));
        assert!(!Freshness::usable_on_error(
            fetched + 3_660_000,
            fetched,
            ttl,
            max_stale
        ));
        assert_eq!(
            Freshness::of(u64::MAX, 0, u64::MAX, u64::MAX),
            Freshness::Expired
        );
    }
}
