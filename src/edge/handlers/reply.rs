//! HTTP handlers of the assistant reply routes: the body and resume point are parsed by the core
//! ([`crate::assistant::reply_request`]), and the tab's object does the rest: it owns the reply
//! (`objects/reply.rs` streams it from the model), so these handlers only start, read, watch and
//! cancel it. The events stream is the object's response, passed through as it is written.

use worker::{Request, Response};

use crate::api::ErrorCode;
use crate::assistant::reply_request::{parse_reply_request, parse_resume_point, REPLY_BODY_BYTES};
use crate::calls::tab::{CancelReply, GetReply, ReplyEvents, StartReply, StartReplyStream};
use crate::calls::user::GetUsage;
use crate::calls::workspace::Info as WorkspaceInfoCall;
use crate::calls::ObjectName;
use crate::chat::reply::NewReply;
use crate::ids;

use super::super::context::RequestCtx;
use super::super::error::ApiError;
use super::super::http;
use super::super::objects::{send, send_stream};

fn tab_object(ctx: &RequestCtx, tab_id: &str) -> Result<ObjectName, ApiError> {
    ObjectName::tab(&ctx.user, tab_id).map_err(|_| ApiError::not_found("tab"))
}

/// What `POST …/replies` answers around the reply object.
#[derive(serde::Serialize)]
struct Started<'a> {
    reply: &'a serde_json::value::RawValue,
}

/// `POST /api/tabs/{id}/replies`: 202 once the reply exists durably (200 for a `client_id` seen
/// before); with `Accept: text/event-stream`, 200 and the reply's events from the start.
pub async fn start(mut req: Request, tab_id: &str, ctx: &RequestCtx) -> Result<Response, ApiError> {
    let Some(upstream) = ctx.config.llm.as_ref() else {
        return Err(ApiError::new(
            ErrorCode::NotConfigured,
            "replies need a model: set LLM_UPSTREAM_URL and LLM_MODEL (see the README)",
        ));
    };
    let wants_stream = req
        .headers()
        .get("accept")?
        .is_some_and(|accept| accept.contains("text/event-stream"));
    let body = http::json_body(&mut req, REPLY_BODY_BYTES).await?;
    let request = parse_reply_request(&body)?;
    let tab = tab_object(ctx, tab_id)?;
    if let Some(workspace) = &request.workspace {
        // A workspace the user does not have is the request's mistake: 404 now, not a reply
        // that silently answers without its code.
        let name = ObjectName::workspace(&ctx.user, workspace)
            .map_err(|_| ApiError::not_found("workspace"))?;
        send(&ctx.env, &name, WorkspaceInfoCall).await?;
    }
    // The tab's object checks the request, reserves the reply's tokens with the user's
    // object (429 `quota_exceeded`), starts it, and updates the tab's directory entry.
    let start = StartReply {
        reply: NewReply {
            reply_id: ids::new_id()?,
            message_id: ids::new_id()?,
            message_seq: request.message_seq,
            client_id: request.client_id,
            model: request.model.unwrap_or_else(|| upstream.model.clone()),
        },
        search: request.search,
        sources: request.sources.map(|s| s.bits()),
        workspace: request.workspace,
        now_ms: ctx.now_ms,
    };
    if wants_stream {
        // One call: the object starts the reply and answers its event stream.
        return send_stream(&ctx.env, &tab, StartReplyStream { start }).await;
    }
    let started = send(&ctx.env, &tab, start).await?;
    http::json(
        if started.created { 202 } else { 200 },
        &Started {
            reply: &started.reply,
        },
    )
}

/// `GET /api/tabs/{id}/replies/{reply_id}`.
pub async fn get(tab_id: &str, reply_id: &str, ctx: &RequestCtx) -> Result<Response, ApiError> {
    let reply = send(
        &ctx.env,
        &tab_object(ctx, tab_id)?,
        GetReply {
            reply_id: reply_id.to_owned(),
        },
    )
    .await?;
    http::json_bytes(200, reply.into_bytes())
}

/// `GET /api/tabs/{id}/replies/{reply_id}/events`: resumable with `?after=N` or `Last-Event-ID`.
pub async fn events(
    req: Request,
    tab_id: &str,
    reply_id: &str,
    ctx: &RequestCtx,
) -> Result<Response, ApiError> {
    let url = req.url()?;
    http::check_query(&url, &["after"])?;
    let after = http::query_param(&url, "after");
    let last_event_id = req.headers().get("last-event-id")?;
    let after = parse_resume_point(after.as_deref(), last_event_id.as_deref())?;
    send_stream(
        &ctx.env,
        &tab_object(ctx, tab_id)?,
        ReplyEvents {
            reply_id: reply_id.to_owned(),
            after,
        },
    )
    .await
}

/// `POST /api/tabs/{id}/replies/{reply_id}/cancel`.
pub async fn cancel(tab_id: &str, reply_id: &str, ctx: &RequestCtx) -> Result<Response, ApiError> {
    let reply = send(
        &ctx.env,
        &tab_object(ctx, tab_id)?,
        CancelReply {
            reply_id: reply_id.to_owned(),
            now_ms: ctx.now_ms,
        },
    )
    .await?;
    http::json_bytes(200, reply.into_bytes())
}

/// `GET /api/usage`: the caller's tokens for the current UTC day.
pub async fn usage(ctx: &RequestCtx) -> Result<Response, ApiError> {
    let view = send(
        &ctx.env,
        &ObjectName::user(&ctx.user)?,
        GetUsage {
            limit: ctx.config.user_daily_tokens,
            now_ms: ctx.now_ms,
        },
    )
    .await?;
    http::json_bytes(200, view.into_bytes())
}
