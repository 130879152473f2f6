//! The chat API's data types and the strict parsing of chat request bodies and query strings.
//!
//! Shapes follow `shared/API.md` ("Chat tabs", "Messages"). Parsing rejects, with a 400-class
//! [`ChatError::Input`], everything the contract forbids: malformed JSON, unknown fields, a role
//! outside the enum, empty or oversized content, a bad `client_id`, overlong titles, non-numeric
//! cursors. Nothing is stored when parsing fails because parsing runs before any storage call.

use serde::{Deserialize, Serialize};

use super::ChatError;
use crate::api::{format_exact, parse_json_object, query_int, InputError};
use crate::storage::WriteStats;

/// Default for `MAX_MESSAGE_BYTES`: the largest message content, in UTF-8 bytes.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 32_768;
/// Longest `client_id`, in characters (all allowed characters are ASCII, so also bytes).
pub const MAX_CLIENT_ID_CHARS: usize = 64;
/// Longest tab title after trimming, in Unicode scalar values (`char`s).
pub const MAX_TITLE_CHARS: usize = 200;
/// Default page size of `GET /api/tabs/{id}/messages`.
pub const DEFAULT_PAGE_LIMIT: u32 = 50;
/// Largest page size of `GET /api/tabs/{id}/messages`.
pub const MAX_PAGE_LIMIT: u32 = 200;
/// Largest tab create/rename body: a 200-char title written entirely as JSON `\u` escapes
/// (12 bytes per astral char) is under 3 KiB, so anything larger is not a title; the margin keeps
/// over-long titles a 400, not a 413.
pub const SMALL_BODY_BYTES: usize = 64 * 1024;
/// Largest `MAX_MESSAGE_BYTES` the config accepts.
pub const MAX_MAX_MESSAGE_BYTES: usize = 65_536;
/// Largest append body for the largest `MAX_MESSAGE_BYTES`: [`append_body_limit`] of 65536.
pub const APPEND_BODY_BYTES_MAX: usize = append_body_limit(MAX_MAX_MESSAGE_BYTES);

/// Largest append body: the content limit with room for JSON escaping (a `\u` escape turns one
/// byte into six) and the other fields.
pub const fn append_body_limit(max_message_bytes: usize) -> usize {
    max_message_bytes * 6 + 1024
}

/// Who wrote a message. Serialized lowercase: `"user"`, `"assistant"`, `"system"`, `"tool"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The person using the assistant.
    User,
    /// The model's answer.
    Assistant,
    /// Instructions that frame the conversation.
    System,
    /// Output of a tool call.
    Tool,
}

impl Role {
    /// Every role, in the order the API documents them.
    pub const ALL: [Role; 4] = [Role::User, Role::Assistant, Role::System, Role::Tool];

    /// The API spelling (`"user"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Assistant => "assistant",
            Self::System => "system",
            Self::Tool => "tool",
        }
    }

    /// The role spelled `name` in the API, if any (case-sensitive, like the contract).
    pub fn from_api_name(name: &str) -> Option<Role> {
        Self::ALL.into_iter().find(|r| r.as_str() == name)
    }

    /// One-letter code used in stored records (keeps every stored copy of a message small).
    pub(crate) fn storage_code(self) -> &'static str {
        match self {
            Self::User => "u",
            Self::Assistant => "a",
            Self::System => "s",
            Self::Tool => "t",
        }
    }

    /// Inverse of [`Role::storage_code`].
    pub(crate) fn from_storage_code(code: &str) -> Option<Role> {
        Self::ALL.into_iter().find(|r| r.storage_code() == code)
    }
}

/// A stored message as the API returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Opaque id chosen by the edge when the message was appended.
    pub id: String,
    /// Position in the tab: 1 for the first message, then +1 per acknowledged append.
    pub seq: u64,
    /// Who wrote it.
    pub role: Role,
    /// The text, 1..=`MAX_MESSAGE_BYTES` UTF-8 bytes.
    pub content: String,
    /// When the append was acknowledged, RFC 3339 UTC with milliseconds.
    pub created_at: String,
    /// The caller's idempotency key, when one was sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// For an assistant message written by a reply: the reply's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_id: Option<String>,
    /// For an assistant message written by a reply: where the reply is (`streaming` until it
    /// ends; `content` is what has streamed so far).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ReplyStatus>,
}

/// Where an assistant reply is: `streaming`, then one final status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReplyStatus {
    /// The model is still answering.
    Streaming,
    /// The upstream ended the answer with a `finish_reason`.
    Complete,
    /// The upstream stream ended without a `finish_reason`, or a size cap cut it.
    Truncated,
    /// A client cancelled it; the text so far is kept.
    Cancelled,
    /// It failed (`error` says why); the text so far is kept.
    Failed,
}

impl ReplyStatus {
    /// The API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Streaming => "streaming",
            Self::Complete => "complete",
            Self::Truncated => "truncated",
            Self::Cancelled => "cancelled",
            Self::Failed => "failed",
        }
    }

    /// Whether the reply has ended.
    pub fn is_final(self) -> bool {
        self != Self::Streaming
    }

    /// One-letter code in stored message records.
    pub(crate) fn storage_code(self) -> &'static str {
        match self {
            Self::Streaming => "s",
            Self::Complete => "c",
            Self::Truncated => "t",
            Self::Cancelled => "x",
            Self::Failed => "f",
        }
    }

    /// Inverse of [`ReplyStatus::storage_code`].
    pub(crate) fn from_storage_code(code: &str) -> Option<ReplyStatus> {
        [
            Self::Streaming,
            Self::Complete,
            Self::Truncated,
            Self::Cancelled,
            Self::Failed,
        ]
        .into_iter()
        .find(|s| s.storage_code() == code)
    }
}

/// A validated `POST /api/tabs/{id}/messages` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewMessage {
    /// Who wrote it.
    pub role: Role,
    /// 1..=max bytes of UTF-8.
    pub content: String,
    /// Idempotency key: 1..=64 characters of `[A-Za-z0-9._:-]`.
    pub client_id: Option<String>,
}

/// Parses a message append body `{"role", "content", "client_id"?}`.
///
/// `max_message_bytes` is `MAX_MESSAGE_BYTES` (default [`DEFAULT_MAX_MESSAGE_BYTES`]).
/// Errors: `invalid_json`, `unknown_field`, `invalid_field` (missing or unknown role, empty
/// content, malformed client_id), `limit_exceeded` (content over the limit, client_id over 64).
pub fn parse_new_message(body: &[u8], max_message_bytes: usize) -> Result<NewMessage, ChatError> {
    #[derive(Deserialize)]
    struct Raw {
        role: Option<String>,
        content: Option<String>,
        client_id: Option<String>,
    }
    let raw: Raw = parse_json_object(body, &["role", "content", "client_id"])?;
    let role_names = || {
        Role::ALL
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let role = match raw.role {
        None => {
            return Err(InputError::invalid(format!(
                "field `role` is required; use one of {}",
                role_names()
            ))
            .into())
        }
        Some(name) => Role::from_api_name(&name).ok_or_else(|| {
            InputError::invalid(format_exact(format_args!(
                "field `role` must be one of {}, got `{name}`",
                role_names()
            )))
        })?,
    };
    let content = raw
        .content
        .ok_or_else(|| InputError::invalid("field `content` is required: a non-empty string"))?;
    if content.is_empty() {
        return Err(InputError::invalid("field `content` must not be empty").into());
    }
    if content.len() > max_message_bytes {
        return Err(InputError::limit(format!(
            "field `content` is {} bytes; the limit is {max_message_bytes} bytes (UTF-8)",
            content.len()
        ))
        .into());
    }
    let client_id = raw.client_id.map(validate_client_id).transpose()?;
    Ok(NewMessage {
        role,
        content,
        client_id,
    })
}

/// Checks a `client_id`: 1..=64 characters of `[A-Za-z0-9._:-]` (safe inside storage keys).
fn validate_client_id(client_id: String) -> Result<String, ChatError> {
    if client_id.is_empty() {
        return Err(
            InputError::invalid("field `client_id` must not be empty; omit it instead").into(),
        );
    }
    if client_id.chars().count() > MAX_CLIENT_ID_CHARS {
        return Err(InputError::limit(format!(
            "field `client_id` is longer than {MAX_CLIENT_ID_CHARS} characters"
        ))
        .into());
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-');
    if !client_id.chars().all(allowed) {
        return Err(InputError::invalid(
            "field `client_id` may only contain letters, digits and . _ : -",
        )
        .into());
    }
    Ok(client_id)
}

/// A validated `POST /api/tabs` body.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NewTab {
    /// Trimmed title, 1..=200 chars; `None` when absent, null or blank (the edge picks a default).
    pub title: Option<String>,
}

/// Parses a tab creation body `{"title"?}`. An empty (or all-whitespace) body means no title.
///
/// Errors: `invalid_json`, `unknown_field`, `invalid_field` (non-string title, control
/// characters), `limit_exceeded` (over 200 chars).
pub fn parse_new_tab(body: &[u8]) -> Result<NewTab, ChatError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(NewTab::default());
    }
    #[derive(Deserialize)]
    struct Raw {
        title: Option<String>,
    }
    let raw: Raw = parse_json_object(body, &["title"])?;
    let title = match raw.title {
        Some(title) => validate_title(&title)?,
        None => None,
    };
    Ok(NewTab { title })
}

/// A validated `PATCH /api/tabs/{id}` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TabPatch {
    /// The new title, trimmed, 1..=200 chars.
    pub title: String,
}

/// Parses a tab rename body `{"title"}`; the title is required and must not be blank.
///
/// Errors: `invalid_json`, `unknown_field`, `invalid_field` (missing, blank, control
/// characters), `limit_exceeded` (over 200 chars).
pub fn parse_tab_patch(body: &[u8]) -> Result<TabPatch, ChatError> {
    #[derive(Deserialize)]
    struct Raw {
        title: Option<String>,
    }
    let raw: Raw = parse_json_object(body, &["title"])?;
    let title = raw
        .title
        .as_deref()
        .map(validate_title)
        .transpose()?
        .flatten()
        .ok_or_else(|| InputError::invalid("field `title` is required and must not be blank"))?;
    Ok(TabPatch { title })
}

/// Trims `title`; `None` when blank. Rejects control characters and titles over the limit.
fn validate_title(title: &str) -> Result<Option<String>, ChatError> {
    let title = title.trim();
    if title.is_empty() {
        return Ok(None);
    }
    if title.chars().count() > MAX_TITLE_CHARS {
        return Err(InputError::limit(format!(
            "field `title` is longer than {MAX_TITLE_CHARS} characters"
        ))
        .into());
    }
    if title.chars().any(char::is_control) {
        return Err(
            InputError::invalid("field `title` must not contain control characters").into(),
        );
    }
    Ok(Some(title.to_owned()))
}

/// A tab as the API returns it (`GET /api/tabs`, `GET /api/tabs/{id}`); kept by the tab directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TabMeta {
    /// Opaque tab id.
    pub id: String,
    /// Display title.
    pub title: String,
    /// Creation time, RFC 3339 UTC.
    pub created_at: String,
    /// Last rename or last flushed message, RFC 3339 UTC.
    pub updated_at: String,
    /// Messages in the tab as of the last update the directory saw.
    pub message_count: u64,
}

/// Where a page of messages starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PageCursor {
    /// Messages with `seq > n`, oldest first (`after=0` is the start of the tab).
    After(u64),
    /// The latest messages with `seq < n`, still returned oldest first.
    Before(u64),
    /// Messages with `after < seq < before`, oldest first (both query parameters given).
    Between(u64, u64),
}

/// A validated `GET /api/tabs/{id}/messages` query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageQuery {
    /// Start of the page.
    pub cursor: PageCursor,
    /// Most messages to return, 1..=200.
    pub limit: u32,
}

impl Default for PageQuery {
    fn default() -> Self {
        Self {
            cursor: PageCursor::After(0),
            limit: DEFAULT_PAGE_LIMIT,
        }
    }
}

/// Parses the raw `after`, `before` and `limit` query values (each `None` when absent).
///
/// `after`/`before` are non-negative integers and mutually exclusive; `limit` is 1..=200,
/// default 50. Every violation is `invalid_field`.
pub fn parse_page_query(
    after: Option<&str>,
    before: Option<&str>,
    limit: Option<&str>,
) -> Result<PageQuery, ChatError> {
    let limit = query_int(
        "limit",
        limit,
        1,
        i64::from(MAX_PAGE_LIMIT),
        i64::from(DEFAULT_PAGE_LIMIT),
    )?;
    // query_int enforced 1..=200, so the conversion cannot fail; keep a defined fallback anyway.
    let limit = u32::try_from(limit).unwrap_or(DEFAULT_PAGE_LIMIT);
    let cursor = match (after, before) {
        (Some(a), Some(b)) => PageCursor::Between(parse_seq("after", a)?, parse_seq("before", b)?),
        (Some(raw), None) => PageCursor::After(parse_seq("after", raw)?),
        (None, Some(raw)) => PageCursor::Before(parse_seq("before", raw)?),
        (None, None) => PageCursor::After(0),
    };
    Ok(PageQuery { cursor, limit })
}

fn parse_seq(name: &str, raw: &str) -> Result<u64, ChatError> {
    let trimmed = raw.trim();
    // Rust's integer parser accepts a leading '+'; the API only documents plain digits.
    if trimmed.is_empty() || !trimmed.bytes().all(|b| b.is_ascii_digit()) {
        return Err(InputError::invalid(format!(
            "query parameter `{name}` must be a non-negative integer (a message seq), got `{raw}`"
        ))
        .into());
    }
    trimmed.parse::<u64>().map_err(|_| {
        InputError::invalid(format!("query parameter `{name}` is too large: `{raw}`")).into()
    })
}

/// One page of `GET /api/tabs/{id}/messages`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MessagePage {
    /// Messages in ascending `seq`, flushed or not.
    pub messages: Vec<Message>,
    /// The `after` value for the next page: the last returned `seq` when newer messages exist,
    /// `null` when this page reaches the newest message (or is empty).
    pub next_after: Option<u64>,
}

/// `GET /api/tabs/{id}/stats`, with the contract's field names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TabStats {
    /// Messages acknowledged in the tab (flushed or not).
    pub message_count: u64,
    /// Messages appended since the last flush.
    pub pending: u64,
    /// Flushes completed since the tab was created.
    pub flushes: u64,
    /// When the last flush completed, RFC 3339 UTC; `null` before the first.
    pub last_flush_at: Option<String>,
    /// Every write the tab's Durable Object made to its storage.
    pub storage: WriteStats,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{ErrorCode, HasErrorCode};

    fn code<T: std::fmt::Debug>(result: Result<T, ChatError>) -> ErrorCode {
        result.unwrap_err().error_code()
    }

    #[test]
    fn parses_a_valid_message() {
        let msg = parse_new_message(
            br#"{"role":"assistant","content":"hi there","client_id":"c-1.x:9_Z"}"#,
            100,
        )
        .unwrap();
        assert_eq!(
            msg,
            NewMessage {
                role: Role::Assistant,
                content: "hi there".into(),
                client_id: Some("c-1.x:9_Z".into()),
            }
        );
        let no_id = parse_new_message(br#"{"role":"tool","content":"x","client_id":null}"#, 1);
        assert_eq!(no_id.unwrap().client_id, None);
    }

    #[test]
    fn rejects_bad_messages_with_the_contract_codes() {
        let parse = |b: &[u8]| parse_new_message(b, 10);
        assert_eq!(code(parse(b"{")), ErrorCode::InvalidJson);
        assert_eq!(code(parse(br#"{"role":"user"}"#)), ErrorCode::InvalidField);
        assert_eq!(code(parse(br#"{"content":"x"}"#)), ErrorCode::InvalidField);
        assert_eq!(
            code(parse(br#"{"role":"admin","content":"x"}"#)),
            ErrorCode::InvalidField
        );
        assert_eq!(
            code(parse(br#"{"role":"User","content":"x"}"#)),
            ErrorCode::InvalidField
        );
        assert_eq!(
            code(parse(br#"{"role":"user","content":""}"#)),
            ErrorCode::InvalidField
        );
        assert_eq!(
            code(parse(br#"{"role":"user","content":5}"#)),
            ErrorCode::InvalidField
        );
        assert_eq!(
            code(parse(br#"{"role":"user","content":"x","extra":1}"#)),
            ErrorCode::UnknownField
        );
        assert_eq!(
            code(parse(br#"{"role":"user","content":"x","client_id":""}"#)),
            ErrorCode::InvalidField
        );
        assert_eq!(
            code(parse(br#"{"role":"user","content":"x","client_id":"a/b"}"#)),
            ErrorCode::InvalidField
        );
        let long_id = format!(
            r#"{{"role":"user","content":"x","client_id":"{}"}}"#,
            "a".repeat(65)
        );
        assert_eq!(code(parse(long_id.as_bytes())), ErrorCode::LimitExceeded);
        let max_id = format!(
            r#"{{"role":"user","content":"x","client_id":"{}"}}"#,
            "a".repeat(64)
        );
        assert!(parse(max_id.as_bytes()).is_ok());
    }

    #[test]
    fn content_limit_counts_utf8_bytes_inclusively() {
        // "é" is 2 bytes: 5 of them are 10 bytes (allowed at a 10-byte limit), 6 are 12.
        let body = |n: usize| format!(r#"{{"role":"user","content":"{}"}}"#, "é".repeat(n));
        assert!(parse_new_message(body(5).as_bytes(), 10).is_ok());
        let err = parse_new_message(body(6).as_bytes(), 10).unwrap_err();
        assert_eq!(err.error_code(), ErrorCode::LimitExceeded);
        assert!(err.to_string().contains("12 bytes"));
    }

    #[test]
    fn tab_titles_are_trimmed_and_bounded() {
        assert_eq!(parse_new_tab(b"").unwrap(), NewTab { title: None });
        assert_eq!(parse_new_tab(b" {} ").unwrap(), NewTab { title: None });
        assert_eq!(
            parse_new_tab(br#"{"title":"   "}"#).unwrap(),
            NewTab { title: None }
        );
        assert_eq!(
            parse_new_tab(br#"{"title":"  Trip plans "}"#)
                .unwrap()
                .title
                .as_deref(),
            Some("Trip plans")
        );
        let at_limit = format!(r#"{{"title":"{}"}}"#, "ü".repeat(200));
        assert!(parse_new_tab(at_limit.as_bytes()).is_ok());
        let over = format!(r#"{{"title":"{}"}}"#, "ü".repeat(201));
        assert_eq!(
            code(parse_new_tab(over.as_bytes())),
            ErrorCode::LimitExceeded
        );
        assert_eq!(
            code(parse_new_tab(br#"{"title":"a\nb"}"#)),
            ErrorCode::InvalidField
        );
        assert_eq!(
            code(parse_new_tab(br#"{"name":"a"}"#)),
            ErrorCode::UnknownField
        );

        assert_eq!(
            parse_tab_patch(br#"{"title":" New "}"#).unwrap().title,
            "New"
        );
        assert_eq!(
            code(parse_tab_patch(br#"{"title":" "}"#)),
            ErrorCode::InvalidField
        );
        assert_eq!(code(parse_tab_patch(b"{}")), ErrorCode::InvalidField);
        assert_eq!(code(parse_tab_patch(b"")), ErrorCode::InvalidJson);
    }

    #[test]
    fn page_queries_validate_cursors_and_limit() {
        assert_eq!(
            parse_page_query(None, None, None).unwrap(),
            PageQuery::default()
        );
        assert_eq!(
            parse_page_query(Some("7"), None, Some("200")).unwrap(),
            PageQuery {
                cursor: PageCursor::After(7),
                limit: 200
            }
        );
        assert_eq!(
            parse_page_query(None, Some("0"), Some("1")).unwrap().cursor,
            PageCursor::Before(0)
        );
        for bad in ["-1", "abc", "", "+3", "1.5", "99999999999999999999999"] {
            assert_eq!(
                code(parse_page_query(Some(bad), None, None)),
                ErrorCode::InvalidField
            );
            assert_eq!(
                code(parse_page_query(None, Some(bad), None)),
                ErrorCode::InvalidField
            );
        }
        assert_eq!(
            parse_page_query(Some("1"), Some("5"), None).unwrap().cursor,
            PageCursor::Between(1, 5)
        );
        for bad in ["0", "201", "x"] {
            assert_eq!(
                code(parse_page_query(None, None, Some(bad))),
                ErrorCode::InvalidField
            );
        }
    }

    #[test]
    fn message_json_matches_the_contract() {
        let mut msg = Message {
            id: "m1".into(),
            seq: 3,
            role: Role::System,
            content: "c".into(),
            created_at: "2026-11-27T13:26:06.123Z".into(),
            client_id: None,
            reply_id: None,
            status: None,
        };
        assert_eq!(
            serde_json::to_string(&msg).unwrap(),
            r#"{"id":"m1","seq":3,"role":"system","content":"c","created_at":"2026-11-27T13:26:06.123Z"}"#
        );
        msg.client_id = Some("k".into());
        let json = serde_json::to_string(&msg).unwrap();
        assert!(json.ends_with(r#","client_id":"k"}"#));
        assert_eq!(serde_json::from_str::<Message>(&json).unwrap(), msg);
    }

    #[test]
    fn stats_json_has_the_contract_field_names() {
        let stats = TabStats {
            message_count: 12,
            pending: 2,
            flushes: 1,
            last_flush_at: None,
            storage: WriteStats {
                write_ops: 30,
                bytes_written: 4000,
            },
        };
        assert_eq!(
            serde_json::to_value(&stats).unwrap(),
            serde_json::json!({"message_count": 12, "pending": 2, "flushes": 1,
                "last_flush_at": null, "storage": {"write_ops": 30, "bytes_written": 4000}})
        );
    }
}
