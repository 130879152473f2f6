//! `ApiError`: the one error type of the edge, mapped to a status and the contract's JSON body.
//!
//! Every core error converts into it through [`HasErrorCode`], so handlers use `?` throughout and
//! the mapping from error to HTTP lives here only. Platform failures (`worker::Error`) become 500
//! `internal` with a generic message; their detail goes to the log, not to the client.

use crate::api::{ErrorCode, HasErrorCode};
use worker::{Headers, Response};

/// An error answer: code, human message and, for 429, the seconds to wait.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub retry_after_secs: Option<u64>,
    /// For 405: the methods to put in `allow`.
    pub allow: Option<String>,
    /// Detail for the log only (never sent to the client).
    pub detail: Option<String>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            retry_after_secs: None,
            allow: None,
            detail: None,
        }
    }

    /// A 404 for a resource that does not exist or belongs to someone else.
    pub fn not_found(what: &str) -> Self {
        Self::new(ErrorCode::NotFound, format!("{what} not found"))
    }

    /// A 500 whose detail is logged but not shown.
    pub fn internal(detail: impl Into<String>) -> Self {
        Self {
            detail: Some(detail.into()),
            ..Self::new(
                ErrorCode::Internal,
                "internal error; retry later, and report the x-request-id if it persists",
            )
        }
    }

    /// The JSON response for this error.
    pub fn to_response(&self) -> Response {
        let body = serde_json::json!({
            "error": { "code": self.code.as_str(), "message": self.message }
        });
        let headers = Headers::new();
        let _ = headers.set("content-type", "application/json; charset=utf-8");
        if let Some(secs) = self.retry_after_secs {
            let _ = headers.set("retry-after", &secs.to_string());
        }
        if let Some(allow) = &self.allow {
            let _ = headers.set("allow", allow);
        }
        Response::from_bytes(body.to_string().into_bytes())
            .unwrap_or_else(|_| Response::empty().unwrap_or_else(|_| unreachable_response()))
            .with_status(self.code.status())
            .with_headers(headers)
    }
}

// `Response::empty` only fails if the JS Response constructor throws, which it does not for an
// empty body; this keeps the error path free of panics all the same.
fn unreachable_response() -> Response {
    Response::from_body(worker::ResponseBody::Empty).unwrap_or_else(|_| unreachable_response())
}

impl<E: HasErrorCode> From<E> for ApiError {
    fn from(err: E) -> Self {
        let code = err.error_code();
        if code == ErrorCode::Internal {
            return Self::internal(err.to_string());
        }
        Self::new(code, err.to_string())
    }
}

impl From<worker::Error> for ApiError {
    fn from(err: worker::Error) -> Self {
        Self::internal(format!("platform: {err}"))
    }
}

impl From<worker::KvError> for ApiError {
    fn from(err: worker::KvError) -> Self {
        Self::internal(format!("kv: {err}"))
    }
}
