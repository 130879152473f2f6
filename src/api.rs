//! Shared vocabulary of the HTTP API that the core can use without touching the platform:
//! the stable error codes of `shared/API.md`, and strict parsing of JSON bodies and query values.
//!
//! Each core module has its own error enum; each implements [`HasErrorCode`] so the edge maps
//! every error to a status and a JSON body in one place (`edge/error.rs`).

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// The machine-readable error codes of the API contract, with their HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// 400: the body is not JSON.
    InvalidJson,
    /// 400: a field or query value is missing, of the wrong type, or out of range.
    InvalidField,
    /// 400: the body holds a field the route does not know.
    UnknownField,
    /// 400: a documented size or count limit was exceeded.
    LimitExceeded,
    /// 401: missing, malformed, expired or wrongly signed bearer token.
    Unauthorized,
    /// 404: no such route or resource (or it belongs to another user).
    NotFound,
    /// 405: the route exists but not with this method.
    MethodNotAllowed,
    /// 413: the request body is larger than the route accepts.
    PayloadTooLarge,
    /// 415: the body is not `application/json`.
    UnsupportedMediaType,
    /// 429: too many requests; `retry-after` says when to come back.
    RateLimited,
    /// 502: the upstream answered with an error or garbage.
    UpstreamError,
    /// 504: the upstream did not answer in time.
    UpstreamTimeout,
    /// 503: a required setting is missing or invalid.
    NotConfigured,
    /// 500: a bug or a platform failure; never caused by input alone.
    Internal,
}

impl ErrorCode {
    /// The snake_case code sent in `{"error": {"code": ...}}`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidJson => "invalid_json",
            Self::InvalidField => "invalid_field",
            Self::UnknownField => "unknown_field",
            Self::LimitExceeded => "limit_exceeded",
            Self::Unauthorized => "unauthorized",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::RateLimited => "rate_limited",
            Self::UpstreamError => "upstream_error",
            Self::UpstreamTimeout => "upstream_timeout",
            Self::NotConfigured => "not_configured",
            Self::Internal => "internal",
        }
    }

    /// The code for its snake_case name (used to pass errors from a Durable Object through the
    /// worker unchanged); `None` for a name this version does not know.
    pub fn from_name(name: &str) -> Option<Self> {
        const ALL: [ErrorCode; 14] = [
            ErrorCode::InvalidJson,
            ErrorCode::InvalidField,
            ErrorCode::UnknownField,
            ErrorCode::LimitExceeded,
            ErrorCode::Unauthorized,
            ErrorCode::NotFound,
            ErrorCode::MethodNotAllowed,
            ErrorCode::PayloadTooLarge,
            ErrorCode::UnsupportedMediaType,
            ErrorCode::RateLimited,
            ErrorCode::UpstreamError,
            ErrorCode::UpstreamTimeout,
            ErrorCode::NotConfigured,
            ErrorCode::Internal,
        ];
        ALL.into_iter().find(|c| c.as_str() == name)
    }

    /// The HTTP status that goes with the code.
    pub fn status(self) -> u16 {
        match self {
            Self::InvalidJson | Self::InvalidField | Self::UnknownField | Self::LimitExceeded => {
                400
            }
            Self::Unauthorized => 401,
            Self::NotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::PayloadTooLarge => 413,
            Self::UnsupportedMediaType => 415,
            Self::RateLimited => 429,
            Self::UpstreamError => 502,
            Self::NotConfigured => 503,
            Self::UpstreamTimeout => 504,
            Self::Internal => 500,
        }
    }
}

/// Implemented by every core error so the edge can map it to a status and body.
/// The error's `Display` is the human message: it says what went wrong and what to do.
pub trait HasErrorCode: std::fmt::Display {
    /// The API error code for this error.
    fn error_code(&self) -> ErrorCode;
}

/// A rejected request input (body or query), with the API code and a message for the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct InputError {
    /// Which of the 400-class codes applies.
    pub code: ErrorCode,
    /// What went wrong and how to fix it.
    pub message: String,
}

impl InputError {
    /// An `invalid_field` error.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self {
            code: ErrorCode::InvalidField,
            message: message.into(),
        }
    }

    /// A `limit_exceeded` error.
    pub fn limit(message: impl Into<String>) -> Self {
        Self {
            code: ErrorCode::LimitExceeded,
            message: message.into(),
        }
    }
}

impl HasErrorCode for InputError {
    fn error_code(&self) -> ErrorCode {
        self.code
    }
}

/// Parses a JSON object body into `T`, rejecting fields outside `allowed`.
///
/// Errors: `invalid_json` when the bytes are not JSON, `invalid_field` when the top level is not
/// an object or a field has the wrong type, `unknown_field` naming the first unexpected field.
/// Checking field names before typed decoding keeps the three cases apart without relying on
/// serde's error wording.
pub fn parse_json_object<T: DeserializeOwned>(
    body: &[u8],
    allowed: &[&str],
) -> Result<T, InputError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| InputError {
        code: ErrorCode::InvalidJson,
        message: format!("request body is not valid JSON ({e}); send a JSON object"),
    })?;
    let Value::Object(map) = value else {
        return Err(InputError::invalid("request body must be a JSON object"));
    };
    check_fields(&map, allowed)?;
    serde_json::from_value(Value::Object(map))
        .map_err(|e| InputError::invalid(format!("invalid request body: {e}")))
}

/// Rejects the first key of `map` not in `allowed` with `unknown_field`.
pub fn check_fields(map: &Map<String, Value>, allowed: &[&str]) -> Result<(), InputError> {
    match map.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(unknown) => Err(InputError {
            code: ErrorCode::UnknownField,
            message: format!(
                "unknown field `{unknown}`; allowed fields: {}",
                allowed.join(", ")
            ),
        }),
        None => Ok(()),
    }
}

/// Parses an optional integer query parameter within `min..=max`, with `default` when absent.
pub fn query_int(
    name: &str,
    raw: Option<&str>,
    min: i64,
    max: i64,
    default: i64,
) -> Result<i64, InputError> {
    let Some(raw) = raw else {
        return Ok(default);
    };
    let value: i64 = raw.trim().parse().map_err(|_| {
        InputError::invalid(format!(
            "query parameter `{name}` must be an integer in {min}..={max}, got `{raw}`"
        ))
    })?;
    if !(min..=max).contains(&value) {
        return Err(InputError::invalid(format!(
            "query parameter `{name}` must be in {min}..={max}, got {value}"
        )));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    struct Title {
        title: Option<String>,
    }

    #[test]
    fn body_parsing_separates_json_type_and_field_errors() {
        let code = |b: &[u8]| parse_json_object::<Title>(b, &["title"]).unwrap_err().code;
        assert_eq!(code(b"{"), ErrorCode::InvalidJson);
        assert_eq!(code(b"[1]"), ErrorCode::InvalidField);
        assert_eq!(code(br#"{"title": 5}"#), ErrorCode::InvalidField);
        assert_eq!(code(br#"{"title": "a", "x": 1}"#), ErrorCode::UnknownField);
        let ok: Title = parse_json_object(br#"{"title": "a"}"#, &["title"]).unwrap();
        assert_eq!(ok.title.as_deref(), Some("a"));
    }

    #[test]
    fn query_int_checks_type_and_range() {
        assert_eq!(query_int("limit", None, 1, 100, 50), Ok(50));
        assert_eq!(query_int("limit", Some("7"), 1, 100, 50), Ok(7));
        assert!(query_int("limit", Some("abc"), 1, 100, 50).is_err());
        assert!(query_int("limit", Some("0"), 1, 100, 50).is_err());
        assert!(query_int("limit", Some("101"), 1, 100, 50).is_err());
    }

    #[test]
    fn every_code_has_a_fitting_status() {
        assert_eq!(ErrorCode::NotConfigured.status(), 503);
        assert_eq!(ErrorCode::UpstreamTimeout.status(), 504);
        assert_eq!(ErrorCode::RateLimited.as_str(), "rate_limited");
        assert_eq!(ErrorCode::from_name("not_found"), Some(ErrorCode::NotFound));
        assert_eq!(ErrorCode::from_name("nope"), None);
    }
}
