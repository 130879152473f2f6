//! HTTP handlers of the chat routes: parse and validate with the chat core, then call the tab's
//! object (messages) and the user's object (directory); map errors through `ApiError`.
//!
//! Ownership: a tab's object is named `"{user}/{tab}"`, so another user's tab id reaches an
//! object that was never initialised and answers 404 — ids never leak across users.

use serde::Serialize;
use worker::{Method, Request, Response, Stub};

use crate::chat::directory::{self, TabRecord};
use crate::chat::{self, Message};
use crate::ids;

use super::context::RequestCtx;
use super::error::ApiError;
use super::http;
use super::objects::{stub, Call};
use super::tab_object::{Appended, Owner};

/// Largest tab create/rename body: a 200-char title written entirely as JSON `\u` escapes
/// (12 bytes per astral char) is under 3 KiB, so anything larger is not a title; the margin keeps
/// over-long titles a 400, not a 413.
const SMALL_BODY_BYTES: usize = 64 * 1024;

pub fn user_stub(ctx: &RequestCtx) -> Result<Stub, ApiError> {
    stub(&ctx.env, "USER", &ctx.user)
}

pub fn tab_stub(ctx: &RequestCtx, tab_id: &str) -> Result<Stub, ApiError> {
    stub(&ctx.env, "TAB", &format!("{}/{tab_id}", ctx.user))
}

/// Largest append body: the content limit with room for JSON escaping (a `\u` escape turns one
/// byte into six) and the other fields.
fn append_body_limit(max_message_bytes: usize) -> usize {
    max_message_bytes * 6 + 1024
}

pub async fn create_tab(mut req: Request, ctx: &RequestCtx) -> Result<Response, ApiError> {
    let body = http::json_body(&mut req, SMALL_BODY_BYTES).await?;
    let new = chat::parse_new_tab(&body)?;
    let id = ids::new_id()?;
    let owner = Owner {
        user: ctx.user.clone(),
        tab_id: id.clone(),
    };
    Call::new(Method::Post, "/init")
        .json(&owner)?
        .send(&tab_stub(ctx, &id)?)
        .await?;
    let record = TabRecord {
        id,
        title: new.title.unwrap_or_else(|| "New chat".to_owned()),
        created_ms: ctx.now_ms,
        updated_ms: ctx.now_ms,
        message_count: 0,
        indexed_through: 0,
    };
    let (status, meta): (u16, chat::TabMeta) = Call::new(Method::Post, "/tabs")
        .json(&record)?
        .send_json(&user_stub(ctx)?)
        .await?;
    http::json(status, &meta)
}

pub async fn list_tabs(req: Request, ctx: &RequestCtx) -> Result<Response, ApiError> {
    let url = req.url()?;
    http::check_query(&url, &["limit", "cursor"])?;
    let limit = http::query_param(&url, "limit");
    let cursor = http::query_param(&url, "cursor");
    // Validate here so bad input never reaches the object.
    directory::parse_list_query(limit.as_deref(), cursor.as_deref())?;
    let mut path = "/tabs?".to_owned();
    if let Some(query) = url.query() {
        path.push_str(query);
    }
    let (_, list): (u16, serde_json::Value) = Call::new(Method::Get, path)
        .send_json(&user_stub(ctx)?)
        .await?;
    http::json(200, &list)
}

pub async fn get_tab(tab_id: &str, ctx: &RequestCtx) -> Result<Response, ApiError> {
    let (_, meta): (u16, chat::TabMeta) = Call::new(Method::Get, format!("/tabs/{tab_id}"))
        .send_json(&user_stub(ctx)?)
        .await?;
    http::json(200, &meta)
}

pub async fn rename_tab(
    mut req: Request,
    tab_id: &str,
    ctx: &RequestCtx,
) -> Result<Response, ApiError> {
    let body = http::json_body(&mut req, SMALL_BODY_BYTES).await?;
    let patch = chat::parse_tab_patch(&body)?;
    #[derive(Serialize)]
    struct Rename {
        title: String,
        now_ms: u64,
    }
    let (_, meta): (u16, chat::TabMeta) = Call::new(Method::Patch, format!("/tabs/{tab_id}"))
        .json(&Rename {
            title: patch.title,
            now_ms: ctx.now_ms,
        })?
        .send_json(&user_stub(ctx)?)
        .await?;
    http::json(200, &meta)
}

pub async fn delete_tab(tab_id: &str, ctx: &RequestCtx) -> Result<Response, ApiError> {
    let user = user_stub(ctx)?;
    // 404 for a tab the user does not have, before touching anything.
    Call::new(Method::Get, format!("/tabs/{tab_id}"))
        .send(&user)
        .await?;
    Call::new(Method::Delete, "/")
        .send(&tab_stub(ctx, tab_id)?)
        .await?;
    Call::new(Method::Delete, format!("/tabs/{tab_id}"))
        .send(&user)
        .await?;
    http::no_content()
}

pub async fn append_message(
    mut req: Request,
    tab_id: &str,
    ctx: &RequestCtx,
) -> Result<Response, ApiError> {
    let max = ctx.config.max_message_bytes;
    let body = http::json_body(&mut req, append_body_limit(max)).await?;
    // Reject bad input before any object is involved.
    chat::parse_new_message(&body, max)?;
    let (status, appended): (u16, Appended) = Call::new(Method::Post, "/append")
        .raw(body)
        .header("x-now-ms", ctx.now_ms)
        .header("x-message-id", ids::new_id()?)
        .send_json(&tab_stub(ctx, tab_id)?)
        .await?;
    if appended.created {
        // The message is durable already; the directory update orders the tab list. Should it
        // fail, the next flush brings the directory up to date, so the append still succeeds.
        let touch = serde_json::json!({ "message_count": appended.message_count, "updated_ms": ctx.now_ms });
        if let Err(err) = Call::new(Method::Post, format!("/tabs/{tab_id}/touch"))
            .json(&touch)?
            .send(&user_stub(ctx)?)
            .await
        {
            super::log::event(
                "directory_touch_failed",
                serde_json::json!({ "request_id": ctx.request_id, "message": err.message }),
            );
        }
    }
    let message: &Message = &appended.message;
    http::json(status, message)
}

pub async fn list_messages(
    req: Request,
    tab_id: &str,
    ctx: &RequestCtx,
) -> Result<Response, ApiError> {
    let url = req.url()?;
    http::check_query(&url, &["after", "before", "limit"])?;
    let q = |name| http::query_param(&url, name);
    chat::parse_page_query(
        q("after").as_deref(),
        q("before").as_deref(),
        q("limit").as_deref(),
    )?;
    let mut path = "/messages?".to_owned();
    if let Some(query) = url.query() {
        path.push_str(query);
    }
    let (_, page): (u16, serde_json::Value) = Call::new(Method::Get, path)
        .send_json(&tab_stub(ctx, tab_id)?)
        .await?;
    http::json(200, &page)
}

pub async fn tab_stats(tab_id: &str, ctx: &RequestCtx) -> Result<Response, ApiError> {
    let (_, stats): (u16, serde_json::Value) = Call::new(Method::Get, "/stats")
        .send_json(&tab_stub(ctx, tab_id)?)
        .await?;
    http::json(200, &stats)
}

pub async fn flush_tab(tab_id: &str, ctx: &RequestCtx) -> Result<Response, ApiError> {
    let (_, stats): (u16, serde_json::Value) = Call::new(Method::Post, "/flush")
        .send_json(&tab_stub(ctx, tab_id)?)
        .await?;
    http::json(200, &stats)
}
