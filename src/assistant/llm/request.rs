//! The upstream request: an OpenAI-compatible Chat Completions call with streaming, as plain data
//! (URL, headers, body bytes) for the edge to send with `fetch`.
//!
//! The body is `{"model", "messages": [{"role", "content"}], "stream": true,
//! "stream_options": {"include_usage": true}, "max_tokens"}`, serialized by serde. `max_tokens`
//! rather than OpenAI's newer `max_completion_tokens`, because Ollama, vLLM, llama.cpp and Workers
//! AI read the former (OpenAI still accepts it for non-reasoning models).

use serde::Serialize;

use crate::config::LlmUpstream;

/// Longest model name accepted in a request (the same bound as `LLM_MODEL`).
pub const MAX_MODEL_BYTES: usize = 256;

/// Who wrote a chat message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
}

/// One message of the prompt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChatMessage {
    pub role: Role,
    pub content: String,
}

impl ChatMessage {
    /// A message from `role`.
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        Self {
            role,
            content: content.into(),
        }
    }
}

/// What the edge sends: `POST url` with these headers and body.
#[derive(Clone, PartialEq, Eq)]
pub struct UpstreamRequest {
    /// `{LLM_UPSTREAM_URL}/chat/completions`.
    pub url: String,
    /// `content-type`, `accept` and, with a key, `authorization` (lower-case names).
    pub headers: Vec<(&'static str, String)>,
    /// The JSON body.
    pub body: Vec<u8>,
}

// Hand-written so that logging a request never prints the bearer key.
impl std::fmt::Debug for UpstreamRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    *k,
                    if *k == "authorization" {
                        "<redacted>"
                    } else {
                        v
                    },
                )
            })
            .collect();
        f.debug_struct("UpstreamRequest")
            .field("url", &self.url)
            .field("headers", &headers)
            .field("body", &String::from_utf8_lossy(&self.body))
            .finish()
    }
}

/// A request that cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// A prompt needs at least one message.
    #[error("the prompt has no messages")]
    NoMessages,
    /// The model name is empty, too long, or holds control characters.
    #[error("the model name must be 1 to {MAX_MODEL_BYTES} bytes without control characters")]
    InvalidModel,
    /// `max_tokens` must be at least 1.
    #[error("max_tokens must be at least 1")]
    NoOutputTokens,
}

#[derive(Serialize)]
struct Body<'a> {
    model: &'a str,
    messages: &'a [ChatMessage],
    stream: bool,
    stream_options: StreamOptions,
    max_tokens: u32,
}

#[derive(Serialize)]
struct StreamOptions {
    include_usage: bool,
}

/// `{base}/chat/completions`, whether or not `base` ends with slashes.
pub fn chat_completions_url(base: &str) -> String {
    format!("{}/chat/completions", base.trim_end_matches('/'))
}

/// Whether `name` is acceptable as a model name (1..=256 bytes, no control characters).
pub fn valid_model(name: &str) -> bool {
    !name.is_empty() && name.len() <= MAX_MODEL_BYTES && !name.chars().any(char::is_control)
}

/// Builds the streaming request for `messages`, with `model` overriding the configured one.
pub fn build_request(
    upstream: &LlmUpstream,
    model: Option<&str>,
    messages: &[ChatMessage],
    max_tokens: u32,
) -> Result<UpstreamRequest, RequestError> {
    let model = model.unwrap_or(&upstream.model);
    if !valid_model(model) {
        return Err(RequestError::InvalidModel);
    }
    if messages.is_empty() {
        return Err(RequestError::NoMessages);
    }
    if max_tokens == 0 {
        return Err(RequestError::NoOutputTokens);
    }
    let body = Body {
        model,
        messages,
        stream: true,
        stream_options: StreamOptions {
            include_usage: true,
        },
        max_tokens,
    };
    // Serializing plain strings, bools and integers into a Vec cannot fail; the fallback only
    // keeps an impossible error from being a panic.
    let body = serde_json::to_vec(&body).unwrap_or_default();
    let mut headers = vec![
        ("content-type", "application/json".to_owned()),
        ("accept", "text/event-stream".to_owned()),
    ];
    if let Some(key) = &upstream.api_key {
        headers.push(("authorization", format!("Bearer {key}")));
    }
    Ok(UpstreamRequest {
        url: chat_completions_url(&upstream.url),
        headers,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upstream(key: Option<&str>) -> LlmUpstream {
        LlmUpstream {
            url: "http://127.0.0.1:11434/v1".into(),
            model: "llama3.2".into(),
            api_key: key.map(str::to_owned),
        }
    }

    #[test]
    fn url_handles_trailing_slashes() {
        for base in ["http://h/v1", "http://h/v1/", "http://h/v1//"] {
            assert_eq!(chat_completions_url(base), "http://h/v1/chat/completions");
        }
    }

    #[test]
    fn body_is_the_documented_json() {
        let messages = [
            ChatMessage::new(Role::System, "Be brief."),
            ChatMessage::new(Role::User, "Say \"hi\"\n\u{1F600}"),
            ChatMessage::new(Role::Assistant, "hi"),
        ];
        let req = build_request(&upstream(None), None, &messages, 256).unwrap();
        assert_eq!(req.url, "http://127.0.0.1:11434/v1/chat/completions");
        let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "model": "llama3.2",
                "messages": [
                    {"role": "system", "content": "Be brief."},
                    {"role": "user", "content": "Say \"hi\"\n\u{1F600}"},
                    {"role": "assistant", "content": "hi"},
                ],
                "stream": true,
                "stream_options": {"include_usage": true},
                "max_tokens": 256,
            })
        );
        let with_model = build_request(&upstream(None), Some("other"), &messages, 1).unwrap();
        assert!(String::from_utf8_lossy(&with_model.body).contains("\"model\":\"other\""));
    }

    #[test]
    fn headers_carry_the_key_only_when_set_and_debug_hides_it() {
        let messages = [ChatMessage::new(Role::User, "x")];
        let without = build_request(&upstream(None), None, &messages, 8).unwrap();
        assert_eq!(
            without.headers,
            vec![
                ("content-type", "application/json".to_owned()),
                ("accept", "text/event-stream".to_owned()),
            ]
        );
        let with = build_request(&upstream(Some("sk-123")), None, &messages, 8).unwrap();
        assert!(with
            .headers
            .contains(&("authorization", "Bearer sk-123".to_owned())));
        let printed = format!("{with:?}");
        assert!(!printed.contains("sk-123"), "{printed}");
    }

    #[test]
    fn bad_requests_are_refused() {
        let messages = [ChatMessage::new(Role::User, "x")];
        let up = upstream(None);
        assert_eq!(
            build_request(&up, None, &[], 8),
            Err(RequestError::NoMessages)
        );
        assert_eq!(
            build_request(&up, Some(""), &messages, 8),
            Err(RequestError::InvalidModel)
        );
        assert_eq!(
            build_request(&up, Some("a\nb"), &messages, 8),
            Err(RequestError::InvalidModel)
        );
        assert_eq!(
            build_request(&up, Some(&"m".repeat(257)), &messages, 8),
            Err(RequestError::InvalidModel)
        );
        assert_eq!(
            build_request(&up, None, &messages, 0),
            Err(RequestError::NoOutputTokens)
        );
    }
}
