//! Parsing of the reply routes' inputs: the `POST /api/tabs/{id}/replies` body and the resume
//! point of `GET …/events` (`?after=N` or `Last-Event-ID`).

use serde::Deserialize;

use super::intent::{SearchMode, Sources};
use super::llm::request::valid_model;
use crate::api::{parse_json_object, InputError};
use crate::chat::reply::MAX_REPLY_CLIENT_ID_CHARS;

/// Largest `POST …/replies` body.
pub const REPLY_BODY_BYTES: usize = 4 * 1024;
/// Largest event id a client may resume after (far beyond any reply: it is capped in bytes).
pub const MAX_EVENT_ID: u64 = 1 << 40;

/// A validated `POST …/replies` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyRequest {
    pub message_seq: Option<u64>,
    pub search: SearchMode,
    /// The sources the request allows (`None`: every configured one).
    pub sources: Option<Sources>,
    pub workspace: Option<String>,
    pub model: Option<String>,
    pub client_id: Option<String>,
}

/// Parses the body; every error is a 400 with a message naming the field.
pub fn parse_reply_request(body: &[u8]) -> Result<ReplyRequest, InputError> {
    #[derive(Deserialize)]
    struct Raw {
        message_seq: Option<u64>,
        search: Option<String>,
        sources: Option<Vec<String>>,
        workspace: Option<String>,
        model: Option<String>,
        client_id: Option<String>,
    }
    // An empty body is an empty object: every field has a default.
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    let raw: Raw = parse_json_object(
        body,
        &[
            "message_seq",
            "search",
            "sources",
            "workspace",
            "model",
            "client_id",
        ],
    )?;
    let search = match raw.search.as_deref() {
        None => SearchMode::Auto,
        Some(name) => SearchMode::parse(name).map_err(|_| {
            InputError::invalid("field `search` must be \"auto\", \"always\" or \"never\"")
        })?,
    };
    let sources = match raw.sources {
        None => None,
        Some(names) => {
            let mut set = Sources::NONE;
            for name in &names {
                set = set.union(match name.as_str() {
                    "web" => Sources::WEB,
                    "history" => Sources::HISTORY,
                    "code" => Sources::CODE,
                    _ => {
                        return Err(InputError::invalid(format!(
                            "field `sources` may hold \"web\", \"history\" and \"code\", got `{}`",
                            name.chars().take(40).collect::<String>()
                        )))
                    }
                });
            }
            Some(set)
        }
    };
    if let Some(seq) = raw.message_seq {
        if seq == 0 {
            return Err(InputError::invalid(
                "field `message_seq` must be a message's seq (1 or more)",
            ));
        }
    }
    if let Some(workspace) = &raw.workspace {
        if workspace.is_empty() || workspace.len() > 64 {
            return Err(InputError::invalid(
                "field `workspace` must be a workspace id (1–64 characters)",
            ));
        }
    }
    if let Some(model) = &raw.model {
        if !valid_model(model) {
            return Err(InputError::invalid(
                "field `model` must be a model name: 1–256 bytes without control characters",
            ));
        }
    }
    let client_id = match raw.client_id {
        None => None,
        Some(cid) => {
            let ok = (1..=MAX_REPLY_CLIENT_ID_CHARS).contains(&cid.len())
                && cid
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b));
            if !ok {
                return Err(InputError::invalid(format!(
                    "field `client_id` must be 1–{MAX_REPLY_CLIENT_ID_CHARS} characters of \
                     [A-Za-z0-9._:-]"
                )));
            }
            Some(cid)
        }
    };
    Ok(ReplyRequest {
        message_seq: raw.message_seq,
        search,
        sources,
        workspace: raw.workspace,
        model: raw.model,
        client_id,
    })
}

/// The event id to resume after: `?after=N` wins over the `Last-Event-ID` header; neither is 0.
/// A value that is not a non-negative integer is a 400.
pub fn parse_resume_point(
    after: Option<&str>,
    last_event_id: Option<&str>,
) -> Result<u64, InputError> {
    let (name, raw) = match (after, last_event_id) {
        (Some(raw), _) => ("query parameter `after`", raw),
        (None, Some(raw)) => ("header `Last-Event-ID`", raw),
        (None, None) => return Ok(0),
    };
    let raw = raw.trim();
    match raw.parse::<u64>() {
        Ok(n) if n <= MAX_EVENT_ID => Ok(n),
        _ => Err(InputError::invalid(format!(
            "{name} must be an event id: an integer from 0 to {MAX_EVENT_ID}, got `{}`",
            raw.chars().take(40).collect::<String>()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ErrorCode;

    #[test]
    fn an_empty_body_asks_for_the_defaults() {
        for body in [&b""[..], b"  ", b"{}"] {
            let req = parse_reply_request(body).unwrap();
            assert_eq!(req.search, SearchMode::Auto);
            assert_eq!(req.message_seq, None);
            assert_eq!(req.sources, None);
        }
    }

    #[test]
    fn fields_are_checked() {
        let req = parse_reply_request(
            br#"{"message_seq":3,"search":"never","sources":["web","history"],"model":"m1","client_id":"k.1"}"#,
        )
        .unwrap();
        assert_eq!(req.message_seq, Some(3));
        assert_eq!(req.search, SearchMode::Never);
        assert_eq!(req.sources, Some(Sources::WEB.union(Sources::HISTORY)));
        for bad in [
            &br#"{"message_seq":0}"#[..],
            br#"{"message_seq":-1}"#,
            br#"{"search":"sometimes"}"#,
            br#"{"sources":["files"]}"#,
            br#"{"client_id":"a b"}"#,
            br#"{"model":""}"#,
            br#"{"workspace":""}"#,
            br#"[1]"#,
        ] {
            let err = parse_reply_request(bad).unwrap_err();
            assert_eq!(
                err.code,
                ErrorCode::InvalidField,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(
            parse_reply_request(br#"{"surprise":1}"#).unwrap_err().code,
            ErrorCode::UnknownField
        );
    }

    #[test]
    fn resume_points() {
        assert_eq!(parse_resume_point(None, None).unwrap(), 0);
        assert_eq!(parse_resume_point(Some("7"), Some("3")).unwrap(), 7);
        assert_eq!(parse_resume_point(None, Some(" 3 ")).unwrap(), 3);
        for bad in ["-1", "x", "1.5", "", "99999999999999999999"] {
            assert!(parse_resume_point(Some(bad), None).is_err(), "{bad}");
            assert!(parse_resume_point(None, Some(bad)).is_err(), "{bad}");
        }
    }
}
