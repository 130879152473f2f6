//! HTTP handlers of the chat routes: parse and validate with the chat core, then call the tab's
//! object (messages) and the user's object (directory) with typed calls.
//!
//! Ownership: objects are named by [`ObjectName`] from the authenticated user and the path's id,
//! so another user's tab id reaches an object that was never created and answers 404.

use worker::{Request, Response};

use crate::calls::tab::{Append, Delete, Flush, Init, Read, Stats, TabChanged};
use crate::calls::user::{CanCreateTab, CreateTab, GetTab, ListTabs, RemoveTab, RenameTab, Touch};
use crate::calls::ObjectName;
use crate::chat::directory::{self, TabRecord};
use crate::chat::model::{append_body_limit, SMALL_BODY_BYTES};
use crate::chat::{self, TabMeta};
use crate::ids;

use super::super::context::RequestCtx;
use super::super::error::ApiError;
use super::super::http;
use super::super::log;
use super::super::objects::send;

fn user_object(ctx: &RequestCtx) -> Result<ObjectName, ApiError> {
    Ok(ObjectName::user(&ctx.user)?)
}

fn tab_object(ctx: &RequestCtx, tab_id: &str) -> Result<ObjectName, ApiError> {
    ObjectName::tab(&ctx.user, tab_id).map_err(|_| ApiError::not_found("tab"))
}

pub async fn create_tab(mut req: Request, ctx: &RequestCtx) -> Result<Response, ApiError> {
    let body = http::json_body(&mut req, SMALL_BODY_BYTES).await?;
    let new = chat::parse_new_tab(&body)?;
    let user = user_object(ctx)?;
    // Refuse over the cap before the tab's object exists, so a refused create leaves nothing.
    send(&ctx.env, &user, CanCreateTab).await?;
    let id = ids::new_id()?;
    send(
        &ctx.env,
        &tab_object(ctx, &id)?,
        Init {
            user: ctx.user.clone(),
            tab_id: id.clone(),
        },
    )
    .await?;
    let record = TabRecord {
        id,
        title: new.title.unwrap_or_else(|| "New chat".to_owned()),
        created_ms: ctx.now_ms,
        updated_ms: ctx.now_ms,
        message_count: 0,
        indexed_through: 0,
    };
    let meta = send(&ctx.env, &user, CreateTab { record }).await?;
    http::json(201, &meta)
}

pub async fn list_tabs(req: Request, ctx: &RequestCtx) -> Result<Response, ApiError> {
    let url = req.url()?;
    http::check_query(&url, &["limit", "cursor"])?;
    let (limit, cursor) = directory::parse_list_query(
        http::query_param(&url, "limit").as_deref(),
        http::query_param(&url, "cursor").as_deref(),
    )?;
    let list = send(&ctx.env, &user_object(ctx)?, ListTabs { limit, cursor }).await?;
    http::json_bytes(200, list.into_bytes())
}

pub async fn get_tab(tab_id: &str, ctx: &RequestCtx) -> Result<Response, ApiError> {
    let get = GetTab {
        tab_id: tab_id.to_owned(),
    };
    let meta = send(&ctx.env, &user_object(ctx)?, get).await?;
    http::json_bytes(200, meta.into_bytes())
}

pub async fn rename_tab(
    mut req: Request,
    tab_id: &str,
    ctx: &RequestCtx,
) -> Result<Response, ApiError> {
    let body = http::json_body(&mut req, SMALL_BODY_BYTES).await?;
    let patch = chat::parse_tab_patch(&body)?;
    let rename = RenameTab {
        tab_id: tab_id.to_owned(),
        title: patch.title,
        now_ms: ctx.now_ms,
    };
    let meta = send(&ctx.env, &user_object(ctx)?, rename)
        .await?
        .into_bytes();
    // The tab's live sockets get the `tab` frame; the rename is done, so a failure is logged.
    let notified = match serde_json::from_slice::<TabMeta>(&meta) {
        Ok(tab) => match tab_object(ctx, tab_id) {
            Ok(object) => send(&ctx.env, &object, TabChanged { tab }).await,
            Err(err) => Err(err),
        },
        Err(err) => Err(ApiError::internal(format!("a renamed tab's entry: {err}"))),
    };
    if let Err(err) = notified {
        log::event(
            "live_rename_notify_failed",
            serde_json::json!({ "request_id": ctx.request_id, "message": err.message }),
        );
    }
    http::json_bytes(200, meta)
}

pub async fn delete_tab(tab_id: &str, ctx: &RequestCtx) -> Result<Response, ApiError> {
    let user = user_object(ctx)?;
    // 404 for a tab the user does not have, before touching anything.
    let entry = send(
        &ctx.env,
        &user,
        GetTab {
            tab_id: tab_id.to_owned(),
        },
    )
    .await?;
    // The entry goes to the tab's live sockets as the `tab` frame with `deleted`.
    let tab = serde_json::from_slice::<TabMeta>(&entry.into_bytes()).ok();
    send(&ctx.env, &tab_object(ctx, tab_id)?, Delete { tab }).await?;
    send(
        &ctx.env,
        &user,
        RemoveTab {
            tab_id: tab_id.to_owned(),
        },
    )
    .await?;
    http::no_content()
}

/// Appends a message: validated here once, stored by the tab's object (one round trip that
/// decides the answer), then the user's directory is touched so the tab list orders it at once.
///
/// The touch is a second round trip, kept on the path on purpose: it is what makes the tab list
/// read-your-writes right after a 201, and it costs the user's object no storage write. Its
/// failure never fails the append (the next flush brings the directory up to date).
pub async fn append_message(
    mut req: Request,
    tab_id: &str,
    ctx: &RequestCtx,
) -> Result<Response, ApiError> {
    let max = ctx.config.max_message_bytes;
    let body = http::json_body(&mut req, append_body_limit(max)).await?;
    let message = chat::parse_new_message(&body, max)?;
    let appended = send(
        &ctx.env,
        &tab_object(ctx, tab_id)?,
        Append {
            message,
            message_id: ids::new_id()?,
            now_ms: ctx.now_ms,
        },
    )
    .await?;
    if appended.created {
        let touch = Touch {
            tab_id: tab_id.to_owned(),
            message_count: appended.message_count,
            updated_ms: ctx.now_ms,
        };
        let touched = match user_object(ctx) {
            Ok(user) => send(&ctx.env, &user, touch).await,
            Err(err) => Err(err),
        };
        if let Err(err) = touched {
            log::event(
                "directory_touch_failed",
                serde_json::json!({ "request_id": ctx.request_id, "message": err.message }),
            );
        }
    }
    http::json(if appended.created { 201 } else { 200 }, &appended.message)
}

pub async fn list_messages(
    req: Request,
    tab_id: &str,
    ctx: &RequestCtx,
) -> Result<Response, ApiError> {
    let url = req.url()?;
    http::check_query(&url, &["after", "before", "limit"])?;
    let q = |name| http::query_param(&url, name);
    let query = chat::parse_page_query(
        q("after").as_deref(),
        q("before").as_deref(),
        q("limit").as_deref(),
    )?;
    let page = send(&ctx.env, &tab_object(ctx, tab_id)?, Read { query }).await?;
    http::json_bytes(200, page.into_bytes())
}

pub async fn tab_stats(tab_id: &str, ctx: &RequestCtx) -> Result<Response, ApiError> {
    let stats = send(&ctx.env, &tab_object(ctx, tab_id)?, Stats).await?;
    http::json_bytes(200, stats.into_bytes())
}

pub async fn flush_tab(tab_id: &str, ctx: &RequestCtx) -> Result<Response, ApiError> {
    let flush = Flush { now_ms: ctx.now_ms };
    let stats = send(&ctx.env, &tab_object(ctx, tab_id)?, flush).await?;
    http::json_bytes(200, stats.into_bytes())
}
