//! Structured logs: one JSON object per line through `console.log`, which Workers Logs and
//! `wrangler tail` index by field.

use serde::Serialize;

/// The one log line written for every request.
#[derive(Serialize)]
pub struct RequestLog<'a> {
    pub request_id: &'a str,
    pub method: &'a str,
    pub path: &'a str,
    /// Route name from the route table (`None` for static assets and unmatched paths).
    pub route: Option<&'static str>,
    pub status: u16,
    pub duration_ms: u64,
    /// Authenticated user id, when the route required one and the token was valid.
    pub user: Option<&'a str>,
    /// Server-side detail of a 5xx (never sent to the client).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'a str>,
}

/// Writes the request's log line.
pub fn request_line(line: &RequestLog<'_>) {
    if let Ok(json) = serde_json::to_string(line) {
        worker::console_log!("{json}");
    }
}

/// Logs an event that is not tied to one request (alarms, background refreshes).
pub fn event(kind: &str, fields: serde_json::Value) {
    let line = serde_json::json!({ "event": kind, "fields": fields });
    worker::console_log!("{line}");
}
