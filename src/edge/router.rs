//! Dispatch: the pure route table's [`Route`] → the handler for it, with authentication first.

use worker::{Context, Env, Request, Response};

use crate::api::ErrorCode;
use crate::auth;
use crate::ratelimit::{self, RateLimiter, DEFAULT_MAX_KEYS};
use crate::routes::{self, Method, Route, RouteError};

use super::config;
use super::context::RequestCtx;
use super::error::ApiError;
use super::handlers::{chat, intent, live, reply, rollout, search, web, workspaces};
use super::http;

/// A handled request: the response plus what the log line needs.
pub struct Handled {
    pub response: Response,
    pub route: Option<&'static str>,
    pub user: Option<String>,
}

/// A failed request: the error plus what the log line needs.
pub struct Failed {
    pub error: ApiError,
    pub route: Option<&'static str>,
    pub user: Option<String>,
}

impl From<ApiError> for Failed {
    fn from(error: ApiError) -> Self {
        Self {
            error,
            route: None,
            user: None,
        }
    }
}

/// Serves a non-API path from the static assets (the browser UI).
pub async fn handle_asset(req: Request, env: Env) -> Result<Handled, Failed> {
    let assets = env.assets("ASSETS").map_err(ApiError::from)?;
    let response = assets.fetch_request(req).await.map_err(ApiError::from)?;
    Ok(Handled {
        response,
        route: None,
        user: None,
    })
}

/// Serves an `/api/*` request.
pub async fn handle_api(
    req: Request,
    env: Env,
    exec: Context,
    request_id: &str,
    now_ms: u64,
) -> Result<Handled, Failed> {
    let config = config::load(&env).map_err(ApiError::from)?;
    // The raw method: `worker::Method` maps names it does not know to GET.
    let method = Method::parse(&req.inner().method());
    if method == Method::Options {
        let origin = req.headers().get("origin").ok().flatten();
        return Ok(Handled {
            response: http::preflight(origin.as_deref(), &config)?,
            route: Some("preflight"),
            user: None,
        });
    }
    let route = routes::route(method, &req.path()).map_err(|err| match err {
        RouteError::MethodNotAllowed(allowed) => ApiError {
            allow: Some(allowed.join(", ")),
            ..ApiError::from(RouteError::MethodNotAllowed(allowed))
        },
        other => ApiError::from(other),
    })?;
    let route_name = Some(route.name());
    let user = if route.requires_auth() {
        let secret = config.auth_secret.as_deref().ok_or_else(|| Failed {
            error: ApiError::new(
                ErrorCode::NotConfigured,
                "AUTH_SECRET is not set: add it to .dev.vars locally or `wrangler secret put AUTH_SECRET`",
            ),
            route: route_name,
            user: None,
        })?;
        let header = req.headers().get("authorization").ok().flatten();
        // Browsers cannot set headers on a WebSocket: the live route also takes the token as
        // the subprotocol pair `bearer`, `<JWT>`.
        let protocols = match (&route, &header) {
            (Route::Live(_), None) => req.headers().get("sec-websocket-protocol").ok().flatten(),
            _ => None,
        };
        let token = match protocols.as_deref() {
            Some(offered) => match crate::chat::live::bearer_subprotocol(Some(offered)) {
                Ok(Some(token)) => Ok(token),
                Ok(None) => Err(auth::AuthError::Missing),
                Err(_) => Err(auth::AuthError::Malformed),
            },
            None => auth::bearer_token(header.as_deref()),
        };
        let verified = token
            .and_then(|token| auth::verify_hs256(token, secret.as_bytes(), (now_ms / 1000) as i64));
        match verified {
            Ok(claims) => claims.sub,
            Err(err) => {
                // Failed authentications are limited per client address across isolates.
                let address = req.headers().get("cf-connecting-ip").ok().flatten();
                let key = ratelimit::address_key(address.as_deref());
                let error = match shared_limit(&env, AUTH_FAIL_BINDING, key).await {
                    SharedLimit::Exceeded => {
                        shared_limit_error("too many failed authentications from this address")
                    }
                    SharedLimit::Allowed => err.into(),
                };
                return Err(Failed {
                    error,
                    route: route_name,
                    user: None,
                });
            }
        }
    } else {
        String::new()
    };
    if route.requires_auth() {
        if let Err(retry_after) = rate_limit(&config, &user, now_ms) {
            return Err(Failed {
                error: ApiError {
                    retry_after_secs: Some(retry_after),
                    ..ApiError::new(
                        ErrorCode::RateLimited,
                        format!(
                            "more than {} requests per minute; retry after {retry_after} s",
                            config.rate_limit_per_minute
                        ),
                    )
                },
                route: route_name,
                user: Some(user),
            });
        }
        if shared_limit(&env, USER_BINDING, ratelimit::user_key(&user)).await
            == SharedLimit::Exceeded
        {
            return Err(Failed {
                error: shared_limit_error(&format!(
                    "more than {} requests per minute",
                    config.rate_limit_per_minute
                )),
                route: route_name,
                user: Some(user),
            });
        }
    }
    let mut ctx = RequestCtx {
        env,
        config,
        user,
        now_ms,
        request_id: request_id.to_owned(),
        exec,
    };
    let user_for_log = (!ctx.user.is_empty()).then(|| ctx.user.clone());
    match dispatch(route, req, &mut ctx).await {
        Ok(response) => Ok(Handled {
            response,
            route: route_name,
            user: user_for_log,
        }),
        Err(error) => Err(Failed {
            error,
            route: route_name,
            user: user_for_log,
        }),
    }
}

/// The Rate Limiting bindings (`wrangler.toml` `[[ratelimits]]`).
const USER_BINDING: &str = "USER_RATE_LIMIT";
const AUTH_FAIL_BINDING: &str = "AUTH_FAIL_RATE_LIMIT";

#[derive(Debug, PartialEq, Eq)]
enum SharedLimit {
    Allowed,
    Exceeded,
}

/// Asks a shared limiter. Without the binding (a config that lacks it) or when it fails, the
/// request is allowed and the isolate's own limit still applies; a missing binding is logged
/// once per isolate, a failing one every time.
async fn shared_limit(env: &Env, binding: &str, key: String) -> SharedLimit {
    let limiter = match env.rate_limiter(binding) {
        Ok(limiter) => limiter,
        Err(err) => {
            if !MISSING_BINDING_LOGGED.replace(true) {
                super::log::event(
                    "rate_limit_binding_missing",
                    serde_json::json!({ "binding": binding, "error": err.to_string() }),
                );
            }
            return SharedLimit::Allowed;
        }
    };
    let outcome = limiter.limit(key).await;
    match outcome {
        Ok(outcome) if !outcome.success => SharedLimit::Exceeded,
        Ok(_) => SharedLimit::Allowed,
        Err(err) => {
            super::log::event(
                "rate_limit_binding_failed",
                serde_json::json!({ "binding": binding, "error": err.to_string() }),
            );
            SharedLimit::Allowed
        }
    }
}

fn shared_limit_error(what: &str) -> ApiError {
    let secs = ratelimit::SHARED_LIMIT_PERIOD_SECS;
    ApiError {
        retry_after_secs: Some(secs),
        ..ApiError::new(
            ErrorCode::RateLimited,
            format!("{what}; retry after {secs} s"),
        )
    }
}

thread_local! {
    static MISSING_BINDING_LOGGED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    static LIMITER: std::cell::RefCell<Option<RateLimiter>> = const { std::cell::RefCell::new(None) };
}

/// Takes a token from the user's bucket in this isolate (see [`crate::ratelimit`]).
fn rate_limit(config: &crate::config::Config, user: &str, now_ms: u64) -> Result<(), u64> {
    LIMITER.with(|cell| {
        let mut slot = cell.borrow_mut();
        let limiter = match slot.as_mut() {
            Some(l) if l.per_minute() == config.rate_limit_per_minute => l,
            _ => slot.insert(RateLimiter::new(
                config.rate_limit_per_minute,
                DEFAULT_MAX_KEYS,
            )),
        };
        limiter.check(user, now_ms)
    })
}

async fn dispatch(route: Route, req: Request, ctx: &mut RequestCtx) -> Result<Response, ApiError> {
    match route {
        Route::Health => http::json(
            200,
            &serde_json::json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }),
        ),
        Route::OpenApi => http::json_bytes(200, crate::openapi::SERVED.as_bytes().to_vec()),
        Route::CreateTab => chat::create_tab(req, ctx).await,
        Route::ListTabs => chat::list_tabs(req, ctx).await,
        Route::GetTab(id) => chat::get_tab(&id, ctx).await,
        Route::RenameTab(id) => chat::rename_tab(req, &id, ctx).await,
        Route::DeleteTab(id) => chat::delete_tab(&id, ctx).await,
        Route::AppendMessage(id) => chat::append_message(req, &id, ctx).await,
        Route::ListMessages(id) => chat::list_messages(req, &id, ctx).await,
        Route::TabStats(id) => chat::tab_stats(&id, ctx).await,
        Route::FlushTab(id) => chat::flush_tab(&id, ctx).await,
        Route::Search => search::search(req, ctx).await,
        Route::SearchCacheStats => web::cache_stats(ctx).await,
        Route::Rollout => rollout::rollout(req, ctx).await,
        Route::CreateRun => rollout::create_run(req, ctx).await,
        Route::GetRun(id) => rollout::get_run(&id, ctx).await,
        Route::StepRun(id) => rollout::step_run(req, &id, ctx).await,
        Route::RunBuffer(id) => rollout::run_buffer(req, &id, ctx).await,
        Route::DeleteRun(id) => rollout::delete_run(&id, ctx).await,
        Route::Intent => intent::intent(req, ctx).await,
        Route::StartReply(tab) => reply::start(req, &tab, ctx).await,
        Route::GetReply(tab, id) => reply::get(&tab, &id, ctx).await,
        Route::ReplyEvents(tab, id) => reply::events(req, &tab, &id, ctx).await,
        Route::CancelReply(tab, id) => reply::cancel(&tab, &id, ctx).await,
        Route::Usage => reply::usage(ctx).await,
        Route::Live(tab) => live::open(req, &tab, ctx).await,
        Route::CreateWorkspace => workspaces::create(req, ctx).await,
        Route::ListWorkspaces => workspaces::list(ctx).await,
        Route::GetWorkspace(id) => workspaces::get(&id, ctx).await,
        Route::DeleteWorkspace(id) => workspaces::delete(&id, ctx).await,
        Route::UploadArchive(id) => workspaces::upload_archive(req, &id, ctx).await,
        Route::ListFiles(id) => workspaces::list_files(req, &id, ctx).await,
        Route::PutFile(id, path) => workspaces::put_file(req, &id, &path, ctx).await,
        Route::GetFile(id, path) => workspaces::get_file(&id, &path, ctx).await,
        Route::DeleteFile(id, path) => workspaces::delete_file(&id, &path, ctx).await,
        Route::Symbols(id) => workspaces::symbols(req, &id, ctx).await,
    }
}
