//! `GET /api/tabs/{id}/live`: the tab's live updates over a WebSocket. The worker authenticates
//! (the router takes the token from `Authorization` or the `bearer` subprotocol), checks the
//! request is an upgrade and parses `after`, then sends the typed [`OpenLive`] call to the tab's
//! object as an upgrade request. The object answers 404 for a tab that does not exist (another
//! user's id names an object that was never created), before any upgrade, or 101 with the socket,
//! which it has accepted with the hibernation API (`objects/live.rs`). The 101 is passed on.

use worker::{Request, Response};

use crate::calls::tab::OpenLive;
use crate::calls::ObjectName;
use crate::chat::live::{self, BEARER_PROTOCOL};

use super::super::context::RequestCtx;
use super::super::error::ApiError;
use super::super::http;
use super::super::objects::send_upgrade;

pub async fn open(req: Request, tab_id: &str, ctx: &RequestCtx) -> Result<Response, ApiError> {
    let url = req.url()?;
    http::check_query(&url, &["after"])?;
    let after = live::parse_after(http::query_param(&url, "after").as_deref())?;
    let upgrade = req.headers().get("upgrade")?;
    if !live::is_upgrade(upgrade.as_deref()) {
        return Err(live::LiveError::NotUpgrade.into());
    }
    let protocols = req.headers().get("sec-websocket-protocol")?;
    let bearer = live::bearer_subprotocol(protocols.as_deref())?.is_some();
    let tab = ObjectName::tab(&ctx.user, tab_id).map_err(|_| ApiError::not_found("tab"))?;
    let res = send_upgrade(
        &ctx.env,
        &tab,
        OpenLive {
            user: ctx.user.clone(),
            tab_id: tab_id.to_owned(),
            after,
            bearer,
        },
    )
    .await?;
    // The object's response has immutable headers; a fresh 101 around the same socket takes the
    // shell's headers (`http::finish`).
    let socket = res
        .websocket()
        .ok_or_else(|| ApiError::internal("the tab's object answered without a WebSocket"))?;
    let headers = worker::Headers::new();
    if bearer {
        headers.set("sec-websocket-protocol", BEARER_PROTOCOL)?;
    }
    Ok(Response::from_websocket(socket)?.with_headers(headers))
}
