//! The live sockets of `TabObject` (`GET /api/tabs/{id}/live`): the I/O around the pure core
//! [`crate::chat::live`].
//!
//! Sockets are accepted with the hibernation API (`state.accept_web_socket`): the runtime holds
//! them, the object may be evicted while they stay open, and an idle socket costs no object
//! duration. So nothing about a socket lives in the object's memory: each carries its
//! [`Attachment`] (user, tab, `after`, the reply text its catch-up held), and every frame goes to
//! `state.get_websockets()`. The one piece of memory is the delta [`Coalescer`], which holds
//! deltas for at most [`crate::chat::live::COALESCE_MS`] while a reply streams (the reply driver
//! keeps the object awake then, and flushes it from its timer: `objects/reply.rs`).
//!
//! A send to a socket that went away fails and is ignored: the runtime drops closed sockets from
//! `get_websockets()`, and one broken socket never stops the frame reaching the others.

use worker::{Response, WebSocket, WebSocketPair};

use crate::calls::tab::OpenLive;
use crate::chat::live::{self, Attachment, Batch, BEARER_PROTOCOL};
use crate::chat::model::MAX_PAGE_LIMIT;
use crate::chat::{Message, PageCursor, PageQuery, ReplyEnded, TabMeta};

use super::super::error::ApiError;
use super::super::log;
use super::tab::Shared;

fn attachment(ws: &WebSocket) -> Option<Attachment> {
    ws.deserialize_attachment::<Attachment>().ok().flatten()
}

fn send(ws: &WebSocket, frame: &str) {
    // A socket that is closing or gone refuses; the others still get the frame.
    let _ = ws.send_with_str(frame);
}

/// Accepts a live socket: checks the tab exists (404 before any upgrade), plans the catch-up
/// from the loaded tab, accepts the server end for hibernation with its attachment, queues the
/// catch-up frames and answers 101 with the client end.
pub fn open(shared: &Shared, call: OpenLive) -> Result<Response, ApiError> {
    // Everything below runs without awaiting, so no append or delta can slip between the
    // catch-up and the socket joining the broadcast list.
    let plan = shared.with(|l| {
        l.tab.owner()?;
        let mut messages: Vec<Message> = Vec::new();
        let mut cursor = call.after;
        loop {
            let page = l.tab.read(
                &l.kv,
                PageQuery {
                    cursor: PageCursor::After(cursor),
                    limit: MAX_PAGE_LIMIT,
                },
            )?;
            messages.extend(page.messages);
            match page.next_after {
                Some(next) if next > cursor => cursor = next,
                _ => break,
            }
        }
        Ok(live::catch_up(
            &call.user,
            &call.tab_id,
            call.after,
            &messages,
            l.tab.streaming_live(),
        ))
    })?;
    let pair = WebSocketPair::new()?;
    let server = pair.server;
    shared.state.accept_web_socket(&server);
    server.serialize_attachment(&plan.attachment)?;
    for frame in &plan.frames {
        send(&server, frame);
    }
    let headers = worker::Headers::new();
    if call.bearer {
        headers.set("sec-websocket-protocol", BEARER_PROTOCOL)?;
    }
    Ok(Response::from_websocket(pair.client)?.with_headers(headers))
}

/// A new message (appended, or the assistant message of a reply that starts).
pub fn message(shared: &Shared, message: &Message) {
    let frame = live::message_frame(message);
    for ws in shared.state.get_websockets() {
        if attachment(&ws).is_none_or(|a| a.wants_message(message.seq)) {
            send(&ws, &frame);
        }
    }
}

/// A reply's status changed: `reply_json` is the reply object.
pub fn reply(shared: &Shared, reply_json: &str) {
    let Some(frame) = live::reply_frame(reply_json) else {
        log::event("live_reply_frame_failed", serde_json::json!({}));
        return;
    };
    for ws in shared.state.get_websockets() {
        send(&ws, &frame);
    }
}

fn send_batch(shared: &Shared, batch: &Batch) {
    for ws in shared.state.get_websockets() {
        let floor = attachment(&ws).and_then(|a| a.floor);
        if let Some(frame) = batch.frame_for(floor.as_ref()) {
            send(&ws, &frame);
        }
    }
}

/// A delta of the streaming reply: sent now, or held by the coalescer.
pub fn delta(shared: &Shared, reply_id: &str, id: u64, text: &str, now_ms: u64) {
    let batch = shared
        .coalescer
        .borrow_mut()
        .push(reply_id, id, text, now_ms);
    if let Some(batch) = batch {
        send_batch(shared, &batch);
    }
}

/// Sends held deltas whose window has passed (the reply driver's timer).
pub fn flush_due(shared: &Shared, now_ms: u64) {
    let batch = shared.coalescer.borrow_mut().flush_due(now_ms);
    if let Some(batch) = batch {
        send_batch(shared, &batch);
    }
}

/// When held deltas are due (for the driver's timer).
pub fn due_at(shared: &Shared) -> Option<u64> {
    shared.coalescer.borrow().due_at()
}

/// A reply ended: its held deltas, then the reply frame with its final status.
pub fn reply_ended(shared: &Shared, ended: &ReplyEnded, now_ms: u64) {
    let batch = shared.coalescer.borrow_mut().take(&ended.record.id, now_ms);
    if let Some(batch) = batch {
        send_batch(shared, &batch);
    }
    if let crate::chat::reply::EventKind::Done(json) = &ended.done.kind {
        reply(shared, json);
    }
}

/// The tab was renamed.
pub fn tab_changed(shared: &Shared, tab: &TabMeta) {
    let frame = live::tab_frame(tab, false);
    for ws in shared.state.get_websockets() {
        send(&ws, &frame);
    }
}

/// The tab is being deleted: the `tab` frame with `deleted` (when the directory's entry is
/// known), then every socket is closed.
pub fn tab_deleted(shared: &Shared, tab: Option<&TabMeta>) {
    let frame = tab.map(|t| live::tab_frame(t, true));
    for ws in shared.state.get_websockets() {
        if let Some(frame) = &frame {
            send(&ws, frame);
        }
        if let Err(err) = ws.close(Some(1000), Some("the tab was deleted")) {
            log::event(
                "live_close_failed",
                serde_json::json!({ "error": err.to_string() }),
            );
        }
    }
}
