//! The Durable Objects, and the one way the worker (and objects) call them: typed calls from
//! [`crate::calls`], sent with [`send`] and answered with [`answer`].
//!
//! Each object file is the same shape: decode the call enum → run the object's pure core →
//! carry out the effects it returns (alarms, calls to other objects) → encode the answer.
//! Objects answer errors with the API's `{"error": {"code", "message"}}` body, so [`send`]
//! turns a non-2xx answer back into the same [`ApiError`].
//!
//! - [`tab::TabObject`]: one per (user, tab), the tab's messages ([`crate::chat::Tab`]), its
//!   reply driver ([`reply`]) and its hibernating live sockets ([`live`]).
//! - [`user::UserObject`]: one per user, the tab directory and the history index.
//! - [`run::RunObject`]: one per (user, rollout run).
//! - [`shard::CacheShard`]: one per web-cache policy shard.
//! - [`workspace::WorkspaceObject`]: one per (user, code workspace).

pub mod live;
pub mod reply;
pub mod run;
pub mod shard;
pub mod tab;
pub mod user;
pub mod workspace;

use serde::de::DeserializeOwned;
use worker::{Env, Method, Request, RequestInit, Response};

use crate::api::ErrorCode;
use crate::calls::{decode_call, encode_call, Answer, ObjectCall, ObjectName, CALL_PATH};

use super::error::ApiError;

/// Sends `call` to the object `name` and decodes its typed answer; a non-2xx answer becomes the
/// [`ApiError`] the object reported.
pub async fn send<C: ObjectCall>(
    env: &Env,
    name: &ObjectName,
    call: C,
) -> Result<C::Answer, ApiError> {
    let res = fetch_call(env, name, call).await?;
    Ok(C::Answer::decode(body_bytes(res).await?)?)
}

/// The whole body of an object's answer, read by the runtime in one `arrayBuffer()` call.
///
/// worker-rs's `Response::bytes` reads the body through a stream reader and releases its lock
/// afterwards; workerd answers that release with a `TypeError` whose stack it captures through
/// the wasm frames, about 50 µs of every object call (`docs/BENCHMARKS.md`, the profiles).
async fn body_bytes(res: Response) -> Result<Vec<u8>, ApiError> {
    let res = worker::worker_sys::web_sys::Response::from(res);
    super::http::whole_body(res.array_buffer())
        .await
        .map_err(|e| ApiError::internal(format!("read an object's answer: {e}")))
}

/// Sends `call`, whose answer the object streams, and hands back the object's response to pass
/// through (a non-2xx answer becomes the [`ApiError`] the object reported).
///
/// The response is the worker's own: the object's status, headers and body stream, with the
/// headers in a new, mutable set. A fetched response's headers are immutable, so the shell's
/// `http::finish` would otherwise learn it from a refused set (a `TypeError` the runtime builds)
/// and copy them one by one.
pub async fn send_stream<C: ObjectCall>(
    env: &Env,
    name: &ObjectName,
    call: C,
) -> Result<Response, ApiError> {
    let res = fetch_call(env, name, call).await?;
    let status = res.status_code();
    let headers = res.headers().clone(); // `new Headers(old)`: a mutable copy
    let (_, body) = res.into_parts();
    Ok(worker::ResponseBuilder::new()
        .with_status(status)
        .with_headers(headers)
        .body(body))
}

/// Sends `call` and hands back the object's answer as it came.
async fn fetch_call<C: ObjectCall>(
    env: &Env,
    name: &ObjectName,
    call: C,
) -> Result<Response, ApiError> {
    let req = call_request(&encode_call(&call.into())?)?;
    fetch_object(env, name, req).await
}

/// Sends `req` to the object `name`; a non-2xx answer becomes the [`ApiError`] it reported.
async fn fetch_object(env: &Env, name: &ObjectName, req: Request) -> Result<Response, ApiError> {
    let stub = env
        .durable_object(name.kind().binding())?
        .get_by_name(name.name())?;
    let mut res = stub.fetch_with_request(req).await?;
    if res.status_code() >= 400 {
        return Err(error_from_response(&mut res).await);
    }
    Ok(res)
}

/// Header of an upgrade request that carries the call (a WebSocket upgrade has no body).
const CALL_HEADER: &str = "x-object-call";

/// Sends `call` as a WebSocket upgrade request (`GET` with `Upgrade: websocket`, the call in a
/// header) and hands back the object's 101 response with its socket, to pass through; a non-2xx
/// answer becomes the [`ApiError`] the object reported.
pub async fn send_upgrade<C: ObjectCall>(
    env: &Env,
    name: &ObjectName,
    call: C,
) -> Result<Response, ApiError> {
    let encoded = encode_call(&call.into())?;
    let encoded = String::from_utf8(encoded)
        .map_err(|e| ApiError::internal(format!("a call is not UTF-8: {e}")))?;
    let headers = worker::Headers::new();
    headers.set("upgrade", "websocket")?;
    headers.set(CALL_HEADER, &encoded)?;
    let mut init = RequestInit::new();
    init.with_method(Method::Get);
    init.with_headers(headers);
    let req = Request::new_with_init(&format!("https://object{CALL_PATH}"), &init)?;
    fetch_object(env, name, req).await
}

fn call_request(body: &[u8]) -> Result<Request, ApiError> {
    let mut init = RequestInit::new();
    init.with_method(Method::Post);
    let headers = worker::Headers::new();
    headers.set("content-type", "application/json")?;
    init.with_headers(headers);
    init.with_body(Some(js_sys::Uint8Array::from(body).into()));
    Ok(Request::new_with_init(
        &format!("https://object{CALL_PATH}"),
        &init,
    )?)
}

/// Decodes the call enum an object received.
pub async fn decode<E: DeserializeOwned>(req: &mut Request) -> Result<E, ApiError> {
    if req.method() == Method::Get && req.path() == CALL_PATH {
        // An upgrade request from `send_upgrade`: the call is in its header.
        if let Some(call) = req.headers().get(CALL_HEADER)? {
            return Ok(decode_call(call.as_bytes())?);
        }
    }
    if req.method() != Method::Post || req.path() != CALL_PATH {
        return Err(ApiError::new(
            ErrorCode::NotFound,
            "objects only answer typed calls",
        ));
    }
    Ok(decode_call(&req.bytes().await?)?)
}

/// An object's successful answer.
pub fn answer<A: Answer>(value: A) -> Result<Response, ApiError> {
    let headers = worker::Headers::new();
    headers.set("content-type", A::CONTENT_TYPE)?;
    Ok(Response::from_bytes(value.encode()?)?.with_headers(headers))
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
    let retry_after_secs = res
        .headers()
        .get("retry-after")
        .ok()
        .flatten()
        .and_then(|v| v.parse().ok());
    match (code, message) {
        (Some(code), Some(message)) if code != ErrorCode::Internal => ApiError {
            retry_after_secs,
            ..ApiError::new(code, message)
        },
        _ => ApiError::internal(format!(
            "object answered {status}: {}",
            String::from_utf8_lossy(&body)
        )),
    }
}

/// Renders an object's result, logging internal errors (the caller sees only the code).
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
