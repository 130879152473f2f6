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

use worker::{event, Context, Env, Request, Response};

#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    let started_ms = js_sys::Date::now() as u64;
    let request_id = http::request_id(&req);
    let origin = req.headers().get("origin").ok().flatten();
    let method = req.method().to_string();
    let path = req.path();

    let outcome = if path == "/api" || path.starts_with("/api/") {
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
    Ok(response)
}
