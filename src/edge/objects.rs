//! Calling Durable Objects from the worker (and from each other) with small internal JSON
//! requests, and passing their errors through unchanged.
//!
//! Objects answer errors with the same `{"error": {"code", "message"}}` body as the API, so the
//! caller turns a non-2xx answer back into the same [`ApiError`].

use serde::de::DeserializeOwned;
use serde::Serialize;
use worker::{Env, Method, Request, RequestInit, Response, Stub};

use crate::api::ErrorCode;

use super::error::ApiError;

/// The stub of object `name` in namespace `binding`.
pub fn stub(env: &Env, binding: &str, name: &str) -> Result<Stub, ApiError> {
    Ok(env.durable_object(binding)?.get_by_name(name)?)
}

/// An internal request to an object. `path` starts with `/`; the host is ignored by objects.
pub struct Call<'a> {
    pub method: Method,
    pub path: String,
    pub body: Option<Vec<u8>>,
    pub headers: Vec<(&'a str, String)>,
}

impl<'a> Call<'a> {
    pub fn new(method: Method, path: impl Into<String>) -> Self {
        Self {
            method,
            path: path.into(),
            body: None,
            headers: Vec::new(),
        }
    }

    pub fn json<T: Serialize>(mut self, body: &T) -> Result<Self, ApiError> {
        self.body =
            Some(serde_json::to_vec(body).map_err(|e| ApiError::internal(format!("encode: {e}")))?);
        Ok(self)
    }

    pub fn raw(mut self, body: Vec<u8>) -> Self {
        self.body = Some(body);
        self
    }

    pub fn header(mut self, name: &'a str, value: impl ToString) -> Self {
        self.headers.push((name, value.to_string()));
        self
    }

    /// Sends the call; a non-2xx answer becomes the [`ApiError`] the object reported.
    pub async fn send(self, stub: &Stub) -> Result<Response, ApiError> {
        let mut init = RequestInit::new();
        init.with_method(self.method);
        let headers = worker::Headers::new();
        headers.set("content-type", "application/json")?;
        for (name, value) in &self.headers {
            headers.set(name, value)?;
        }
        init.with_headers(headers);
        if let Some(body) = self.body {
            init.with_body(Some(js_sys::Uint8Array::from(body.as_slice()).into()));
        }
        let req = Request::new_with_init(&format!("https://object{}", self.path), &init)?;
        let mut res = stub.fetch_with_request(req).await?;
        if res.status_code() >= 400 {
            return Err(error_from_response(&mut res).await);
        }
        Ok(res)
    }

    /// Sends the call and decodes a JSON answer.
    pub async fn send_json<T: DeserializeOwned>(self, stub: &Stub) -> Result<(u16, T), ApiError> {
        let mut res = self.send(stub).await?;
        let status = res.status_code();
        let bytes = res.bytes().await?;
        let value = serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::internal(format!("object answered malformed JSON: {e}")))?;
        Ok((status, value))
    }
}

async fn error_from_response(res: &mut Response) -> ApiError {
    let status = res.status_code();
    let body = res.bytes().await.unwrap_or_default();
    let parsed: Option<serde_json::Value> = serde_json::from_slice(&body).ok();
    let code = parsed
        .as_ref()
        .and_then(|v| v["error"]["code"].as_str())
        .and_then(ErrorCode::from_name);
    let message = parsed
        .as_ref()
        .and_then(|v| v["error"]["message"].as_str())
        .map(str::to_owned);
    match (code, message) {
        (Some(code), Some(message)) if code != ErrorCode::Internal => ApiError::new(code, message),
        _ => ApiError::internal(format!(
            "object answered {status}: {}",
            String::from_utf8_lossy(&body)
        )),
    }
}

/// Runs an object's request handler, rendering any error as the API's JSON error.
pub fn respond(result: Result<Response, ApiError>) -> worker::Result<Response> {
    Ok(result.unwrap_or_else(|err| {
        if err.code == ErrorCode::Internal {
            super::log::event(
                "object_error",
                serde_json::json!({ "detail": err.detail, "message": err.message }),
            );
        }
        err.to_response()
    }))
}
