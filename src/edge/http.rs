//! HTTP plumbing of the shell: request ids, JSON responses, body limits, CORS and the headers
//! every response carries.

use futures_util::StreamExt;
use serde::Serialize;
use worker::{FixedLengthStream, Headers, Request, Response, ResponseBody};

use crate::api::ErrorCode;
use crate::body::{self, BodyCollector, ChunkedBody};
use crate::config::Config;

use super::error::ApiError;

/// The request id: the client's `x-request-id` when it is sane (1–128 visible ASCII chars),
/// otherwise 16 random bytes in hex.
pub fn request_id(req: &Request) -> String {
    if let Ok(Some(id)) = req.headers().get("x-request-id") {
        if (1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic()) {
            return id;
        }
    }
    crate::ids::random_hex(16).unwrap_or_else(|_| "0".repeat(32))
}

/// A JSON response with `status`.
///
/// The JSON is written in chunks ([`ChunkedBody`]): a small answer is one chunk and goes out as
/// before; a large one (a rollout trajectory, up to ~23 MB) goes out as a stream of its chunks,
/// each copied to the runtime when it reads it, through a `FixedLengthStream` so the answer keeps
/// its `content-length`. Neither side ever holds a second whole copy, and no buffer doubles.
pub fn json<T: Serialize>(status: u16, body: &T) -> Result<Response, ApiError> {
    let mut out = ChunkedBody::new(body::ANSWER_CHUNK_BYTES);
    serde_json::to_writer(&mut out, body)
        .map_err(|e| ApiError::internal(format!("encode: {e}")))?;
    let len = out.len() as u64;
    let mut chunks = out.into_chunks();
    let response = if chunks.len() <= 1 {
        Response::from_bytes(chunks.pop().unwrap_or_default())?
    } else {
        let stream = futures_util::stream::iter(chunks.into_iter().map(Ok::<_, worker::Error>));
        let fixed: worker::worker_sys::FixedLengthStream =
            FixedLengthStream::wrap(stream, len).into();
        Response::from_body(ResponseBody::Stream(fixed.readable()))?
    };
    with_content_type(
        response.with_status(status),
        "application/json; charset=utf-8",
    )
}

/// Sets `content-type` on the response's own headers (one JS `Headers` per response, not two).
fn with_content_type(mut response: Response, content_type: &str) -> Result<Response, ApiError> {
    response.headers_mut().set("content-type", content_type)?;
    Ok(response)
}

/// A JSON response whose body is already encoded (an object's answer passed through).
pub fn json_bytes(status: u16, body: Vec<u8>) -> Result<Response, ApiError> {
    bytes(status, "application/json; charset=utf-8", body)
}

/// A JSON object answer made of `leading` fields (a struct that serializes to an object) followed
/// by the fields of `object`, the JSON object an object answered: the object's bytes are spliced
/// in, not parsed and printed again.
pub fn json_object_with<T: Serialize>(
    status: u16,
    leading: &T,
    object: &[u8],
) -> Result<Response, ApiError> {
    let bad = || ApiError::internal("an object's answer is not a JSON object");
    let fields = object.strip_prefix(b"{").ok_or_else(bad)?;
    let mut body =
        serde_json::to_vec(leading).map_err(|e| ApiError::internal(format!("encode: {e}")))?;
    if body.pop() != Some(b'}') {
        return Err(bad());
    }
    let leading_empty = body == b"{";
    if !leading_empty && fields != b"}" {
        body.push(b',');
    }
    body.extend_from_slice(fields);
    json_bytes(status, body)
}

/// Builds a response with a binary body of `content_type`.
pub fn bytes(status: u16, content_type: &str, body: Vec<u8>) -> Result<Response, ApiError> {
    with_content_type(
        Response::from_bytes(body)?.with_status(status),
        content_type,
    )
}

/// An empty 204 response.
pub fn no_content() -> Result<Response, ApiError> {
    Ok(Response::empty()?.with_status(204))
}

/// Reads a JSON request body of at most `max_bytes`.
///
/// 415 unless `content-type` is `application/json` (parameters such as charset allowed); 413 when
/// `content-length` announces more than `max_bytes` (before reading) or the body turns out larger.
/// The body is read as a stream and fed to [`BodyCollector`]: at the first chunk past the limit
/// the stream is dropped, which cancels it, so a chunked upload without `content-length` costs at
/// most `max_bytes` plus one chunk however much the client sends. A body refused before reading
/// is cancelled too, so the runtime does not wait for the rest of the upload before answering.
pub async fn json_body(req: &mut Request, max_bytes: usize) -> Result<Vec<u8>, ApiError> {
    let content_type = req.headers().get("content-type")?.unwrap_or_default();
    if !body::is_json_content_type(&content_type) {
        cancel_body(req);
        return Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "send the body as JSON with `content-type: application/json`",
        ));
    }
    raw_body(req, max_bytes).await
}

/// The request body, whatever its type (the caller checked `content-type`), read against
/// `max_bytes` as [`json_body`] reads it: 413 from `content-length` before reading, or at the
/// first chunk past the limit, the rest of the upload cancelled.
pub async fn raw_body(req: &mut Request, max_bytes: usize) -> Result<Vec<u8>, ApiError> {
    let content_length = req.headers().get("content-length")?;
    let mut collector = match BodyCollector::new(max_bytes, content_length.as_deref()) {
        Ok(collector) => collector,
        Err(too_large) => {
            cancel_body(req);
            return Err(too_large.into());
        }
    };
    // A request without a body has no stream (`Request::stream` would fail): an empty body.
    if req.inner().body().is_none() {
        return Ok(collector.finish());
    }
    // A small body of a known length is read in one `arrayBuffer()` call: the runtime's HTTP
    // framing holds it to its `content-length` (checked against the limit above, and again by
    // the collector). A stream reader costs more per request: its release makes workerd build a
    // `TypeError`. Larger bodies stream, so the limit bounds memory while they arrive.
    if collector
        .declared_len()
        .is_some_and(|n| n <= WHOLE_BODY_BYTES)
    {
        let whole = whole_body(req.inner().array_buffer())
            .await
            .map_err(unreadable_body)?;
        collector.push(&whole)?;
        return Ok(collector.finish());
    }
    let mut stream = req.stream()?;
    while let Some(chunk) = stream.next().await {
        // A body that breaks off (client gone, broken chunked framing) is the client's input,
        // not a server fault: 400, with the runtime's words kept for the log.
        let chunk = chunk.map_err(|err| unreadable_body(err.to_string()))?;
        // On `TooLarge` the `?` returns early and drops `stream`: wasm-streams cancels the
        // underlying ReadableStream on drop, so the runtime stops reading the upload.
        collector.push(&chunk)?;
    }
    Ok(collector.finish())
}

/// Bodies up to this size with a `content-length` are read whole ([`raw_body`]).
const WHOLE_BODY_BYTES: usize = 64 * 1024;

/// The bytes of a body read whole by the runtime: `read` is a request's or response's
/// `arrayBuffer()`. One call, where a stream reader would cost a `TypeError` on its release.
/// Errors are the runtime's words.
pub async fn whole_body(
    read: Result<js_sys::Promise, wasm_bindgen::JsValue>,
) -> Result<Vec<u8>, String> {
    let buffer = worker::wasm_bindgen_futures::JsFuture::from(read.map_err(|e| format!("{e:?}"))?)
        .await
        .map_err(|e| format!("{e:?}"))?;
    Ok(js_sys::Uint8Array::new(&buffer).to_vec())
}

/// A body that broke off (client gone, broken chunked framing).
fn unreadable_body(detail: String) -> ApiError {
    ApiError {
        detail: Some(format!("reading the request body: {detail}")),
        ..ApiError::new(
            ErrorCode::InvalidJson,
            "the request body could not be read to its end; send it again",
        )
    }
}

/// Cancels the request body unread (taking the stream and dropping it cancels it).
pub fn cancel_body(req: &mut Request) {
    if req.inner().body().is_some() {
        drop(req.stream());
    }
}

/// The value of query parameter `name`, if present (first occurrence).
pub fn query_param(url: &worker::Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Rejects query parameters outside `allowed` (400 `unknown_field`).
pub fn check_query(url: &worker::Url, allowed: &[&str]) -> Result<(), ApiError> {
    match url
        .query_pairs()
        .find(|(k, _)| !allowed.contains(&k.as_ref()))
    {
        Some((k, _)) => Err(ApiError::new(
            ErrorCode::UnknownField,
            format!(
                "unknown query parameter `{k}`; allowed: {}",
                if allowed.is_empty() {
                    "none".to_owned()
                } else {
                    allowed.join(", ")
                }
            ),
        )),
        None => Ok(()),
    }
}

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

/// Adds the headers every response carries: `x-request-id`, `server-timing`, security headers, and CORS headers
/// when the request came from an allowed origin. Headers of asset responses are immutable in
/// the runtime, so they are copied into a fresh set.
pub fn finish(
    response: Response,
    request_id: &str,
    origin: Option<&str>,
    config: Option<&Config>,
    duration_ms: u64,
    may_be_html: bool,
) -> Response {
    // The shell's own responses take the headers in place. Responses whose headers are
    // immutable (static assets, fetched responses) refuse the first set, and only those are
    // copied: the copy costs three JS `Headers` objects and one call per header.
    if decorate(
        response.headers(),
        request_id,
        origin,
        config,
        duration_ms,
        may_be_html,
    )
    .is_ok()
    {
        return response;
    }
    let status = response.status_code();
    let (builder_headers, body) = {
        let headers = response.headers().clone();
        let (_, body) = response.into_parts();
        (headers, body)
    };
    let headers = Headers::new();
    for (name, value) in builder_headers.entries() {
        let _ = headers.append(&name, &value);
    }
    let _ = decorate(
        &headers,
        request_id,
        origin,
        config,
        duration_ms,
        may_be_html,
    );
    worker::ResponseBuilder::new()
        .with_status(status)
        .with_headers(headers)
        .body(body)
}

/// Sets the headers every response carries; fails at the first set that the headers refuse.
fn decorate(
    headers: &Headers,
    request_id: &str,
    origin: Option<&str>,
    config: Option<&Config>,
    duration_ms: u64,
    may_be_html: bool,
) -> Result<(), worker::Error> {
    headers.set("x-request-id", request_id)?;
    // Time spent in the worker for this request (ms), for clients and browser dev tools. On
    // Cloudflare the clock only advances across I/O, so this is not CPU time there.
    headers.set("server-timing", &format!("app;dur={duration_ms}"))?;
    headers.set("x-content-type-options", "nosniff")?;
    headers.set("referrer-policy", "no-referrer")?;
    // Only static assets can be HTML; the API's own answers skip the read.
    let is_html = may_be_html
        && headers
            .get("content-type")
            .ok()
            .flatten()
            .is_some_and(|ct| ct.starts_with("text/html"));
    if is_html {
        headers.set("content-security-policy", CSP)?;
        headers.set("x-frame-options", "DENY")?;
    }
    if let (Some(origin), Some(config)) = (origin, config) {
        if config.origin_allowed(origin) {
            headers.set("access-control-allow-origin", origin)?;
            headers.set(
                "access-control-expose-headers",
                "x-request-id, retry-after, server-timing, x-cache-tier",
            )?;
            headers.append("vary", "Origin")?;
        }
    }
    Ok(())
}

/// The answer to a CORS preflight: 204, with allow headers only for an allowed origin (a browser
/// then blocks the real request from any other origin).
pub fn preflight(origin: Option<&str>, config: &Config) -> Result<Response, ApiError> {
    let headers = Headers::new();
    if let Some(origin) = origin.filter(|o| config.origin_allowed(o)) {
        headers.set("access-control-allow-origin", origin)?;
        headers.set(
            "access-control-allow-methods",
            "GET, POST, PUT, PATCH, DELETE, OPTIONS",
        )?;
        headers.set(
            "access-control-allow-headers",
            "authorization, content-type, x-request-id",
        )?;
        headers.set("access-control-max-age", "600")?;
        headers.set("vary", "Origin")?;
    }
    Ok(Response::empty()?.with_status(204).with_headers(headers))
}
