//! The Workers shell: the only code that uses the `worker` crate.
//!
//! `fetch` below is the entry point: it assigns the request id, answers CORS preflights, sends
//! non-API paths to the static assets, routes `/api/*` through the pure route table
//! ([`crate::routes`]), authenticates, dispatches to a handler, maps any error through
//! [`ApiError`], and writes one JSON log line per request.
//!
//! - `handlers/`: one file per API area; parse, call the core or an object, answer.
//! - `objects/`: the Durable Objects; decode a typed call, run the object's core, carry out its
//!   effects, answer. `objects::send` is the only way anything calls an object.
//! - `router.rs`, `http.rs`, `config.rs`, `log.rs`, `error.rs`, `storage.rs`, `context.rs`: the
//!   plumbing every request shares.

mod config;
mod context;
mod error;
mod handlers;
mod http;
mod log;
mod objects;
mod router;
mod storage;

use std::future::Future;
use std::task::{Context as TaskContext, Poll, Waker};

use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;
use worker::{event, worker_sys, Context, Env, Request, Response};

#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
}

/// The Worker's `fetch` export, written out instead of `#[event(fetch)]` for one reason: the
/// macro's `async fn` export always answers through a promise and wasm-bindgen's futures queue
/// (a `queueMicrotask` call, a promise to settle, a microtask checkpoint in workerd). Most
/// requests need no I/O until they answer (health, an isolate-cache hit, every 4xx before an
/// object call), so the handler's first poll runs here, synchronously: when it is ready the
/// `Response` goes back as is, and only a request still waiting on I/O becomes a promise, driven
/// by wasm-bindgen's executor from where the first poll left off. The first poll's waker is a
/// no-op; that is sound because every future polls again under the executor's waker, which is
/// the one a pending future registers last (the `Future` contract), and the executor polls once
/// on spawn whatever happened in between. `worker/entry.mjs` awaits either form.
#[wasm_bindgen(js_name = fetch)]
pub fn fetch_export(
    req: worker_sys::web_sys::Request,
    env: Env,
    ctx: worker_sys::Context,
) -> JsValue {
    let mut answer = Box::pin(serve(Request::from(req), env, Context::new(ctx)));
    match answer
        .as_mut()
        .poll(&mut TaskContext::from_waker(Waker::noop()))
    {
        Poll::Ready(response) => to_js(response),
        Poll::Pending => {
            worker::wasm_bindgen_futures::future_to_promise(async move { Ok(to_js(answer.await)) })
                .into()
        }
    }
}

/// The runtime's `Response` for `response`.
fn to_js(response: Response) -> JsValue {
    worker_sys::web_sys::Response::from(response).into()
}

/// Serves one request: API or static asset, with the shared headers and one log line. Never
/// fails: every error is already an answer.
async fn serve(req: Request, env: Env, ctx: Context) -> Response {
    let started_ms = js_sys::Date::now() as u64;
    let request_id = http::request_id(&req);
    // CORS needs the origin only when some origin is allowed (same-origin needs no headers);
    // skipping the read saves a runtime call per request in the usual setup.
    let cors_configured = config::cached().is_none_or(|c| !c.allowed_origins.is_empty());
    let origin = if cors_configured {
        req.headers().get("origin").ok().flatten()
    } else {
        None
    };
    let method = req.method().to_string();
    let path = req.path();
    let is_api = path == "/api" || path.starts_with("/api/");

    let outcome = if is_api {
        router::handle_api(req, env, ctx, &request_id, started_ms).await
    } else {
        router::handle_asset(req, env).await
    };
    let (response, route, user, error_detail) = match outcome {
        Ok(done) => (done.response, done.route, done.user, None),
        Err(failed) => (
            failed.error.to_response(),
            failed.route,
            failed.user,
            failed.error.detail.clone().or_else(|| {
                (failed.error.code.status() >= 500).then(|| failed.error.message.clone())
            }),
        ),
    };
    let config = config::cached();
    let duration_ms = (js_sys::Date::now() as u64).saturating_sub(started_ms);
    let response = http::finish(
        response,
        &request_id,
        origin.as_deref(),
        config.as_deref(),
        duration_ms,
        !is_api,
    );
    log::request_line(&log::RequestLog {
        request_id: &request_id,
        method: &method,
        path: &path,
        route,
        status: response.status_code(),
        duration_ms,
        user: user.as_deref(),
        error: error_detail.as_deref(),
    });
    response
}
