//! The upstream's answer before its body is streamed: what its status and content type mean, its
//! `retry-after`, the short message of a refusal's JSON body, and a plain JSON completion (a
//! server that ignores `stream: true`).
//!
//! Status classes: 2xx is an answer (read on); 429 and 503 are `upstream_busy`, with
//! `retry-after` passed on as seconds (an integer or an HTTP date, capped at a day); every other
//! status (400, 401, 403, 404, other 4xx and 5xx, and 1xx/3xx a fetch did not follow) is
//! `upstream_error`. A 2xx with `text/event-stream` (or no content type) is streamed; with JSON
//! (`application/json`, `*+json`) it is read whole (bounded) as one non-streaming completion —
//! one delta, then its finish reason — because servers that ignore `stream` answer exactly that
//! and the text is as good; any other content type (an HTML login page from a proxy) fails as
//! `upstream_error`.

use serde::de::IgnoredAny;
use serde::Deserialize;

/// Longest `retry-after` passed on, in seconds (a day): a longer one is a misconfiguration.
pub const MAX_RETRY_AFTER_S: u64 = 86_400;
/// Most characters of an upstream's message kept in a reply's `error.message`.
pub const MAX_UPSTREAM_MESSAGE_CHARS: usize = 300;
/// Most bytes of a refusal's body read for its message; the rest is not read.
pub const REFUSAL_BODY_LIMIT: usize = 8 * 1024;

/// How to read a response, from its status and content type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeadKind {
    /// A 2xx event stream: decode the body as SSE.
    Stream,
    /// A 2xx JSON body: one non-streaming completion.
    Json,
    /// A 2xx of another content type (named): fail without reading it.
    Unsupported(String),
    /// Not a 2xx: read up to [`REFUSAL_BODY_LIMIT`] bytes for the message, then fail.
    Refused { busy: bool },
}

/// Classifies a response head.
pub fn classify(status: u16, content_type: Option<&str>) -> HeadKind {
    if !(200..300).contains(&status) {
        return HeadKind::Refused {
            busy: status == 429 || status == 503,
        };
    }
    let Some(content_type) = content_type else {
        return HeadKind::Stream; // the decoder will tell if it is not one
    };
    let media = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match media.as_str() {
        "text/event-stream" | "" => HeadKind::Stream,
        "application/json" => HeadKind::Json,
        m if m.ends_with("+json") => HeadKind::Json,
        _ => HeadKind::Unsupported(short_message(content_type)),
    }
}

/// `retry-after` as seconds from `now_ms`: delay-seconds, or an IMF-fixdate (`Sun, 06 Nov 1994
/// 08:49:37 GMT`, the form HTTP servers send) rounded up; a past date is 0. Capped at
/// [`MAX_RETRY_AFTER_S`]. `None` for anything else.
pub fn parse_retry_after(value: &str, now_ms: u64) -> Option<u64> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // All digits: only too many of them fails to parse, and that is "very long".
        return Some(
            value
                .parse::<u64>()
                .map_or(MAX_RETRY_AFTER_S, |s| s.min(MAX_RETRY_AFTER_S)),
        );
    }
    let at_s = parse_imf_fixdate(value)?;
    let at_ms = at_s.saturating_mul(1000);
    let wait_s = at_ms.saturating_sub(now_ms).div_ceil(1000);
    Some(wait_s.min(MAX_RETRY_AFTER_S))
}

/// Seconds since the epoch of an IMF-fixdate (RFC 9110 §5.6.7).
fn parse_imf_fixdate(value: &str) -> Option<u64> {
    let mut parts = value.split_ascii_whitespace();
    let weekday = parts.next()?;
    let day: u32 = parts.next()?.parse().ok()?;
    let month = parts.next()?;
    let year: i64 = parts.next()?.parse().ok()?;
    let time = parts.next()?;
    let zone = parts.next()?;
    if parts.next().is_some()
        || zone != "GMT"
        || !weekday.ends_with(',')
        || !(1..=31).contains(&day)
        || !(1970..=9999).contains(&year)
    {
        return None;
    }
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| *m == month)? as i64 + 1;
    let mut hms = time.split(':').map(|p| p.parse::<u64>().ok());
    let (h, m, s) = (hms.next()??, hms.next()??, hms.next()??);
    if hms.next().is_some() || h > 23 || m > 59 || s > 60 {
        return None;
    }
    let days = days_from_civil(year, month, i64::from(day));
    u64::try_from(days)
        .ok()
        .map(|d| d * 86_400 + h * 3600 + m * 60 + s)
}

/// Days from 1970-01-01 to the given Gregorian date (Howard Hinnant's `days_from_civil`, the
/// inverse of `chat::time`'s `civil_from_days`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// An upstream's text made safe to store and show: control characters become spaces, runs of
/// whitespace one space, at most [`MAX_UPSTREAM_MESSAGE_CHARS`] characters (then `…`).
pub fn short_message(text: &str) -> String {
    let mut out = String::new();
    let mut chars = 0;
    let mut last_space = true;
    for c in text.chars() {
        let c = if c.is_control() || c.is_whitespace() {
            ' '
        } else {
            c
        };
        if c == ' ' && last_space {
            continue;
        }
        if chars == MAX_UPSTREAM_MESSAGE_CHARS {
            out.push('…');
            return out;
        }
        last_space = c == ' ';
        out.push(c);
        chars += 1;
    }
    out.truncate(out.trim_end().len());
    out
}

/// An `error` value as servers send it: OpenAI's `{"message", "type", "code"}`, Ollama's plain
/// string, or something else (kept as "no message").
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum ErrorField {
    Text(String),
    Object { message: Option<String> },
    Other(IgnoredAny),
}

impl ErrorField {
    pub(crate) fn message(&self) -> Option<String> {
        match self {
            Self::Text(text)
            | Self::Object {
                message: Some(text),
            } => Some(short_message(text)).filter(|m| !m.is_empty()),
            _ => None,
        }
    }
}

/// A string where a server may put something else.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Text {
    Text(String),
    Other(IgnoredAny),
}

/// The error bodies of OpenAI (`error.message`), Ollama (`error`), vLLM (`message`), FastAPI
/// servers (`detail`) and Cloudflare (`errors[0].message`).
#[derive(Debug, Deserialize)]
struct ErrorBody {
    error: Option<ErrorField>,
    message: Option<Text>,
    detail: Option<Text>,
    errors: Option<Vec<ErrorField>>,
}

/// The short message in a JSON error body, if there is one.
pub fn error_message(body: &[u8]) -> Option<String> {
    let body: ErrorBody = serde_json::from_slice(body).ok()?;
    let text = |t: Option<Text>| match t {
        Some(Text::Text(t)) => Some(short_message(&t)).filter(|m| !m.is_empty()),
        _ => None,
    };
    body.error
        .and_then(|e| e.message())
        .or_else(|| text(body.message))
        .or_else(|| text(body.detail))
        .or_else(|| body.errors?.first()?.message())
}

/// What to tell the user about a refusal's status.
pub(crate) fn refusal_hint(status: u16) -> &'static str {
    match status {
        401 | 403 => " (check LLM_API_KEY)",
        404 => " (check LLM_UPSTREAM_URL and the model name)",
        429 | 503 => " (busy; try again later)",
        _ => "",
    }
}

/// Token counts as the upstream reports them; a count that is not a non-negative integer is
/// ignored rather than failing the reply.
#[derive(Debug, Deserialize)]
pub(crate) struct WireUsage {
    prompt_tokens: Option<Count>,
    completion_tokens: Option<Count>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Count {
    N(u64),
    Other(IgnoredAny),
}

impl WireUsage {
    /// `(prompt_tokens, completion_tokens)` when both are integers.
    pub(crate) fn counts(&self) -> Option<(u64, u64)> {
        match (&self.prompt_tokens, &self.completion_tokens) {
            (Some(Count::N(p)), Some(Count::N(c))) => Some((*p, *c)),
            _ => None,
        }
    }
}

/// A non-streaming completion (`choices[0].message.content`).
#[derive(Debug, Deserialize)]
pub(crate) struct Completion {
    pub(crate) choices: Option<Vec<CompletionChoice>>,
    pub(crate) usage: Option<WireUsage>,
    pub(crate) error: Option<ErrorField>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct CompletionChoice {
    pub(crate) message: Option<CompletionMessage>,
    pub(crate) finish_reason: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct CompletionMessage {
    pub(crate) content: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_content_types() {
        for status in [400, 401, 403, 404, 422, 500, 502, 504, 301, 101] {
            assert_eq!(
                classify(status, Some("application/json")),
                HeadKind::Refused { busy: false },
                "{status}"
            );
        }
        for status in [429, 503] {
            assert_eq!(classify(status, None), HeadKind::Refused { busy: true });
        }
        assert_eq!(classify(200, Some("text/event-stream")), HeadKind::Stream);
        assert_eq!(
            classify(200, Some("Text/Event-Stream; charset=utf-8")),
            HeadKind::Stream
        );
        assert_eq!(classify(200, None), HeadKind::Stream);
        assert_eq!(
            classify(200, Some("application/json; charset=utf-8")),
            HeadKind::Json
        );
        assert_eq!(
            classify(201, Some("application/vnd.x+json")),
            HeadKind::Json
        );
        assert_eq!(
            classify(200, Some("text/html")),
            HeadKind::Unsupported("text/html".into())
        );
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = 784_111_777_000; // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(parse_retry_after("7", now), Some(7));
        assert_eq!(parse_retry_after(" 120 ", now), Some(120));
        assert_eq!(parse_retry_after("999999999", now), Some(MAX_RETRY_AFTER_S));
        assert_eq!(
            parse_retry_after("99999999999999999999999", now),
            Some(MAX_RETRY_AFTER_S)
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now),
            Some(0)
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:50:07 GMT", now),
            Some(30)
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:50:07 GMT", now + 500),
            Some(30) // 29.5 s rounds up
        );
        assert_eq!(
            parse_retry_after("Sat, 05 Nov 1994 08:49:37 GMT", now),
            Some(0)
        );
        assert_eq!(
            parse_retry_after("Thu, 01 Jan 2099 00:00:00 GMT", now),
            Some(MAX_RETRY_AFTER_S)
        );
        assert_eq!(
            parse_retry_after("Sat, 29 Feb 2000 12:00:00 GMT", 951_825_600_000 - 2000),
            Some(2)
        );
        for bad in [
            "",
            "-1",
            "1.5",
            "soon",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun 06 Nov 1994 08:49:37 GMT",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 32 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 24:00:00 GMT",
            "Sun, 06 Nov 1994 08:49 GMT",
            "Sun, 06 Nov 1994 08:49:37 GMT extra",
        ] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad:?}");
        }
    }

    #[test]
    fn error_messages_of_common_servers() {
        let msg = |body: &str| error_message(body.as_bytes());
        assert_eq!(
            msg(r#"{"error":{"message":"Invalid API key","type":"invalid_request_error"}}"#),
            Some("Invalid API key".into())
        );
        assert_eq!(
            msg(r#"{"error":"model \"x\" not found, try pulling it first"}"#),
            Some("model \"x\" not found, try pulling it first".into())
        );
        assert_eq!(
            msg(r#"{"object":"error","message":"bad\nrequest","code":400}"#),
            Some("bad request".into())
        );
        assert_eq!(msg(r#"{"detail":"Not Found"}"#), Some("Not Found".into()));
        assert_eq!(
            msg(r#"{"errors":[{"message":"AiError: bad model","code":5007}],"success":false}"#),
            Some("AiError: bad model".into())
        );
        assert_eq!(msg(r#"{"error":{"code":42}}"#), None);
        assert_eq!(msg(r#"{"error":{"message":123}}"#), None);
        assert_eq!(msg(r#"{"message":["x"]}"#), None);
        assert_eq!(msg("<html>502 Bad Gateway</html>"), None);
        assert_eq!(msg(""), None);
        let long = format!(r#"{{"error":"{}"}}"#, "x".repeat(10_000));
        let kept = msg(&long).unwrap();
        assert_eq!(kept.chars().count(), MAX_UPSTREAM_MESSAGE_CHARS + 1);
        assert!(kept.ends_with('…'));
    }

    #[test]
    fn short_messages_are_clean() {
        assert_eq!(short_message("  a\u{0}\u{7}b\r\n\tc  "), "a b c");
        assert_eq!(short_message(""), "");
        assert_eq!(short_message("\n\n"), "");
    }
}
