//! Live updates of a tab over WebSockets (`GET /api/tabs/{id}/live`), as a pure core: the
//! frames and their JSON, the request's `after` and `bearer` subprotocol, the per-socket state
//! kept in the socket's attachment, the catch-up plan, and the delta coalescer.
//!
//! The tab's object (`edge/objects/tab.rs`, `edge/objects/live.rs`) accepts each socket with the
//! hibernation API, so the object may be evicted while sockets stay open. Everything a socket
//! needs after that is in its [`Attachment`] (who, from which `seq`, what text it already has);
//! the only in-memory state here is the [`Coalescer`]'s deltas waiting for their frame, which
//! exist only while a reply streams, and the object does not hibernate then.
//!
//! # Frames (JSON text)
//! - `{"type":"message","message"}`: every message after `after` (catch-up first, then live: a
//!   user message as it is appended, the assistant message when a reply starts).
//! - `{"type":"delta","reply_id","id","text"}`: the reply's text as it streams. Deltas are
//!   coalesced: at most one frame per reply per [`COALESCE_MS`] (the first delta after a quiet
//!   window goes out at once, the ones that follow within the window wait for its end), plus a
//!   last one right before the reply's end frame. A frame carries the concatenated text of the
//!   deltas it covers and `id`, the event id of the *last* of them (the SSE stream's ids, so a
//!   client can resume `GET …/replies/{id}/events?after=id`).
//! - `{"type":"reply","reply"}`: the reply object at each status change (start, end).
//! - `{"type":"tab","tab"}`: the tab after a rename; on delete the tab with `"deleted": true`,
//!   after which the server closes the socket (1000).
//!
//! # Joining mid-reply
//! The catch-up holds the streaming assistant message with the text streamed so far, and the
//! socket's [`Attachment::floor`] records the id of the last delta in it: later delta frames to
//! that socket carry only text after it, so `message.content` + the frames' texts is the reply's
//! text exactly, whatever the coalescer held back when the socket joined.

use serde::{Deserialize, Serialize};

use super::model::{Message, TabMeta};
use crate::api::{ErrorCode, HasErrorCode};

/// Window of the delta coalescer: at most one delta frame per reply per this many ms.
pub const COALESCE_MS: u64 = 50;
/// The subprotocol that carries the token (`new WebSocket(url, ["bearer", token])`).
pub const BEARER_PROTOCOL: &str = "bearer";

/// Why a live request is refused (before the upgrade).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LiveError {
    /// `after` is not a non-negative integer.
    #[error("query parameter `after` must be a non-negative integer (a message seq), got `{0}`")]
    BadAfter(String),
    /// The request is not a WebSocket upgrade.
    #[error(
        "this route is a WebSocket: send `GET` with `Upgrade: websocket` \
         (in a browser, `new WebSocket(url, [\"bearer\", token])`)"
    )]
    NotUpgrade,
    /// `bearer` was offered as a subprotocol without a token after it.
    #[error("the `bearer` subprotocol must be followed by the token: [\"bearer\", \"<JWT>\"]")]
    BearerWithoutToken,
}

impl HasErrorCode for LiveError {
    fn error_code(&self) -> ErrorCode {
        match self {
            Self::BadAfter(_) | Self::NotUpgrade => ErrorCode::InvalidField,
            Self::BearerWithoutToken => ErrorCode::Unauthorized,
        }
    }
}

/// Parses `?after=` (absent: 0, the start of the tab).
pub fn parse_after(raw: Option<&str>) -> Result<u64, LiveError> {
    let Some(raw) = raw else { return Ok(0) };
    let trimmed = raw.trim();
    if trimmed.is_empty() || !trimmed.bytes().all(|b| b.is_ascii_digit()) {
        return Err(LiveError::BadAfter(raw.chars().take(64).collect()));
    }
    trimmed
        .parse::<u64>()
        .map_err(|_| LiveError::BadAfter(raw.chars().take(64).collect()))
}

/// Whether the request's headers ask for a WebSocket upgrade (`Upgrade: websocket`, any case).
pub fn is_upgrade(upgrade_header: Option<&str>) -> bool {
    upgrade_header.is_some_and(|h| {
        h.split(',')
            .any(|p| p.trim().eq_ignore_ascii_case("websocket"))
    })
}

/// The token offered as the subprotocol pair `bearer`, `<JWT>` in `Sec-WebSocket-Protocol`
/// (`None` when `bearer` is not offered; then the server selects no subprotocol).
pub fn bearer_subprotocol(header: Option<&str>) -> Result<Option<&str>, LiveError> {
    let Some(header) = header else {
        return Ok(None);
    };
    let mut offered = header.split(',').map(str::trim);
    while let Some(protocol) = offered.next() {
        if protocol.eq_ignore_ascii_case(BEARER_PROTOCOL) {
            return match offered.next() {
                Some(token) if !token.is_empty() => Ok(Some(token)),
                _ => Err(LiveError::BearerWithoutToken),
            };
        }
    }
    Ok(None)
}

/// What a socket already has of the streaming reply: its text through delta id `id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Floor {
    pub reply_id: String,
    pub id: u64,
}

/// Per-socket state, kept in the socket's attachment so it survives hibernation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    pub user: String,
    pub tab_id: String,
    /// Messages with `seq <= after` are never sent to this socket.
    pub after: u64,
    /// The reply text the catch-up already gave it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub floor: Option<Floor>,
}

impl Attachment {
    /// Whether message `seq` goes to this socket.
    pub fn wants_message(&self, seq: u64) -> bool {
        seq > self.after
    }
}

/// The reply streaming when a socket joins: its id, assistant message and last delta id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Streaming {
    pub reply_id: String,
    pub assistant_seq: u64,
    /// Id of the last delta taken (`deltas + 1`; 1, the context event, when none yet).
    pub last_delta_id: u64,
}

/// What to send a socket as it joins, and its attachment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatchUp {
    pub frames: Vec<String>,
    pub attachment: Attachment,
}

/// Plans the catch-up of a socket joining with `after`: a message frame per message (ascending
/// `seq`, all `> after`, the streaming one with its text so far), and the floor when the
/// streaming assistant message is among them.
pub fn catch_up(
    user: &str,
    tab_id: &str,
    after: u64,
    messages: &[Message],
    streaming: Option<Streaming>,
) -> CatchUp {
    let mut attachment = Attachment {
        user: user.to_owned(),
        tab_id: tab_id.to_owned(),
        after,
        floor: None,
    };
    let frames = messages
        .iter()
        .filter(|m| attachment.wants_message(m.seq))
        .map(message_frame)
        .collect();
    if let Some(s) = streaming {
        if messages.iter().any(|m| m.seq == s.assistant_seq)
            && attachment.wants_message(s.assistant_seq)
        {
            attachment.floor = Some(Floor {
                reply_id: s.reply_id,
                id: s.last_delta_id,
            });
        }
    }
    CatchUp { frames, attachment }
}

#[derive(Serialize)]
struct MessageFrame<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    message: &'a Message,
}

#[derive(Serialize)]
struct DeltaFrame<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    reply_id: &'a str,
    id: u64,
    text: &'a str,
}

#[derive(Serialize)]
struct ReplyFrame<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    reply: &'a serde_json::value::RawValue,
}

#[derive(Serialize)]
struct TabFrame<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    tab: DeletedTab<'a>,
}

#[derive(Serialize)]
struct DeletedTab<'a> {
    #[serde(flatten)]
    tab: &'a TabMeta,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    deleted: bool,
}

// Serializing these structs of strings, integers and already-valid JSON cannot fail; an empty
// string (never sent) would be the answer if it did.
fn to_json(value: &impl Serialize) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// `{"type":"message","message"}`.
pub fn message_frame(message: &Message) -> String {
    to_json(&MessageFrame {
        kind: "message",
        message,
    })
}

/// `{"type":"delta","reply_id","id","text"}`.
pub fn delta_frame(reply_id: &str, id: u64, text: &str) -> String {
    to_json(&DeltaFrame {
        kind: "delta",
        reply_id,
        id,
        text,
    })
}

/// `{"type":"reply","reply"}` from the reply object's JSON; `None` if `reply_json` is not JSON.
pub fn reply_frame(reply_json: &str) -> Option<String> {
    let reply = serde_json::from_str::<&serde_json::value::RawValue>(reply_json).ok()?;
    Some(to_json(&ReplyFrame {
        kind: "reply",
        reply,
    }))
}

/// `{"type":"tab","tab"}`; with `deleted`, the tab carries `"deleted": true`.
pub fn tab_frame(tab: &TabMeta, deleted: bool) -> String {
    to_json(&TabFrame {
        kind: "tab",
        tab: DeletedTab { tab, deleted },
    })
}

/// Deltas of one reply waiting for their frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    pub reply_id: String,
    text: String,
    /// `(id, end offset in text)` per delta, ascending.
    ends: Vec<(u64, usize)>,
}

impl Batch {
    /// Id of the last delta in the batch.
    pub fn last_id(&self) -> u64 {
        self.ends.last().map_or(0, |&(id, _)| id)
    }

    /// The frame for a socket whose floor is `floor`: the text of the deltas after it (all of
    /// them without a floor for this reply); `None` when it already has every one.
    pub fn frame_for(&self, floor: Option<&Floor>) -> Option<String> {
        let after = floor
            .filter(|f| f.reply_id == self.reply_id)
            .map_or(0, |f| f.id);
        let last = self.last_id();
        if last <= after {
            return None;
        }
        let start = self
            .ends
            .iter()
            .rev()
            .find(|&&(id, _)| id <= after)
            .map_or(0, |&(_, end)| end);
        Some(delta_frame(&self.reply_id, last, &self.text[start..]))
    }
}

/// The delta coalescer: at most one frame per reply per [`COALESCE_MS`], with the clock passed
/// in. Leading edge: a delta that arrives when the reply's last frame is at least a window old
/// goes out at once; later ones wait until [`Coalescer::due_at`], and the object flushes them
/// with [`Coalescer::flush_due`] from its timer (or [`Coalescer::take`] at the reply's end).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Coalescer {
    waiting: Option<Batch>,
    /// When the last frame of `last_reply` went out.
    last_sent: Option<(String, u64)>,
}

impl Coalescer {
    /// Takes delta `id` of `reply_id`; the batch to send now, if the window allows.
    pub fn push(&mut self, reply_id: &str, id: u64, text: &str, now_ms: u64) -> Option<Batch> {
        // A delta of another reply (one reply streams at a time): send what waits first.
        let mut out = None;
        if self
            .waiting
            .as_ref()
            .is_some_and(|w| w.reply_id != reply_id)
        {
            out = self.waiting.take();
        }
        let batch = self.waiting.get_or_insert_with(|| Batch {
            reply_id: reply_id.to_owned(),
            text: String::new(),
            ends: Vec::new(),
        });
        batch.text.push_str(text);
        batch.ends.push((id, batch.text.len()));
        if out.is_none() {
            out = self.flush_due(now_ms);
        }
        out
    }

    /// When the waiting batch may go out (`None`: nothing waits).
    pub fn due_at(&self) -> Option<u64> {
        let waiting = self.waiting.as_ref()?;
        Some(match &self.last_sent {
            Some((reply, at)) if *reply == waiting.reply_id => at.saturating_add(COALESCE_MS),
            _ => 0,
        })
    }

    /// The waiting batch if its window has passed.
    pub fn flush_due(&mut self, now_ms: u64) -> Option<Batch> {
        if self.due_at()? > now_ms {
            return None;
        }
        let batch = self.waiting.take()?;
        self.last_sent = Some((batch.reply_id.clone(), now_ms));
        Some(batch)
    }

    /// The waiting batch of `reply_id` now, whatever the window (the reply is ending).
    pub fn take(&mut self, reply_id: &str, now_ms: u64) -> Option<Batch> {
        if self.waiting.as_ref()?.reply_id != reply_id {
            return None;
        }
        let batch = self.waiting.take()?;
        self.last_sent = Some((batch.reply_id.clone(), now_ms));
        Some(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::Role;

    fn message(seq: u64, content: &str) -> Message {
        Message {
            id: format!("m{seq}"),
            seq,
            role: Role::User,
            content: content.into(),
            created_at: "2026-01-01T00:00:00.000Z".into(),
            client_id: None,
            reply_id: None,
            status: None,
        }
    }

    fn json(frame: &str) -> serde_json::Value {
        serde_json::from_str(frame).expect("a frame is JSON")
    }

    #[test]
    fn after_is_a_non_negative_integer() {
        assert_eq!(parse_after(None), Ok(0));
        assert_eq!(parse_after(Some("12")), Ok(12));
        for bad in ["", "-1", "+1", "1.5", "x", "99999999999999999999999"] {
            let err = parse_after(Some(bad)).unwrap_err();
            assert_eq!(err.error_code(), ErrorCode::InvalidField, "{bad}");
        }
    }

    #[test]
    fn upgrade_header_is_case_insensitive() {
        assert!(is_upgrade(Some("websocket")));
        assert!(is_upgrade(Some("WebSocket")));
        assert!(is_upgrade(Some("h2c, websocket")));
        assert!(!is_upgrade(Some("h2c")));
        assert!(!is_upgrade(None));
    }

    #[test]
    fn the_bearer_subprotocol_carries_the_token() {
        assert_eq!(bearer_subprotocol(None), Ok(None));
        assert_eq!(bearer_subprotocol(Some("chat, v2")), Ok(None));
        assert_eq!(bearer_subprotocol(Some("bearer, a.b.c")), Ok(Some("a.b.c")));
        assert_eq!(
            bearer_subprotocol(Some("other,Bearer,a.b.c,more")),
            Ok(Some("a.b.c"))
        );
        for bad in ["bearer", "bearer, ", "x, bearer"] {
            let err = bearer_subprotocol(Some(bad)).unwrap_err();
            assert_eq!(err.error_code(), ErrorCode::Unauthorized, "{bad}");
        }
    }

    #[test]
    fn frames_have_the_contract_shape() {
        let m = json(&message_frame(&message(3, "hi")));
        assert_eq!(m["type"], "message");
        assert_eq!(m["message"]["seq"], 3);
        assert_eq!(m["message"]["content"], "hi");
        let d = json(&delta_frame("r1", 7, "caf\u{e9} \"q\""));
        assert_eq!(
            d,
            serde_json::json!({"type": "delta", "reply_id": "r1", "id": 7, "text": "caf\u{e9} \"q\""})
        );
        let r = json(&reply_frame(r#"{"id":"r1","status":"complete"}"#).expect("json"));
        assert_eq!(r["type"], "reply");
        assert_eq!(r["reply"]["status"], "complete");
        assert_eq!(reply_frame("not json"), None);
        let meta = TabMeta {
            id: "t1".into(),
            title: "T".into(),
            created_at: "a".into(),
            updated_at: "b".into(),
            message_count: 2,
        };
        let t = json(&tab_frame(&meta, false));
        assert_eq!(t["type"], "tab");
        assert_eq!(t["tab"]["title"], "T");
        assert!(t["tab"].get("deleted").is_none());
        assert_eq!(json(&tab_frame(&meta, true))["tab"]["deleted"], true);
    }

    #[test]
    fn catch_up_sends_messages_after_seq_and_records_the_floor() {
        let mut msgs: Vec<Message> = (1..=4).map(|s| message(s, "x")).collect();
        msgs[3].content = "so far".into();
        let streaming = Streaming {
            reply_id: "r1".into(),
            assistant_seq: 4,
            last_delta_id: 9,
        };
        let plan = catch_up("u", "t", 2, &msgs[2..], Some(streaming.clone()));
        assert_eq!(plan.frames.len(), 2);
        assert_eq!(json(&plan.frames[0])["message"]["seq"], 3);
        assert_eq!(json(&plan.frames[1])["message"]["content"], "so far");
        assert_eq!(
            plan.attachment.floor,
            Some(Floor {
                reply_id: "r1".into(),
                id: 9
            })
        );
        // Past the streaming message: no floor, every later delta goes out.
        let plan = catch_up("u", "t", 4, &[], Some(streaming));
        assert!(plan.frames.is_empty());
        assert_eq!(plan.attachment.floor, None);
        assert!(!plan.attachment.wants_message(4));
        assert!(plan.attachment.wants_message(5));
    }

    #[test]
    fn the_attachment_roundtrips_as_json() {
        let a = Attachment {
            user: "u".into(),
            tab_id: "t".into(),
            after: 3,
            floor: Some(Floor {
                reply_id: "r".into(),
                id: 4,
            }),
        };
        let back: Attachment =
            serde_json::from_str(&serde_json::to_string(&a).expect("encodes")).expect("decodes");
        assert_eq!(back, a);
    }

    #[test]
    fn the_coalescer_sends_at_most_one_frame_per_window() {
        let mut c = Coalescer::default();
        // Leading edge: the first delta goes out at once.
        let first = c.push("r", 2, "a", 1000).expect("sent at once");
        assert_eq!(first.last_id(), 2);
        assert_eq!(c.due_at(), None);
        // Within the window: held.
        assert_eq!(c.push("r", 3, "b", 1010), None);
        assert_eq!(c.push("r", 4, "c", 1040), None);
        assert_eq!(c.due_at(), Some(1050));
        assert_eq!(c.flush_due(1049), None);
        let second = c.flush_due(1050).expect("due");
        let frame = json(&second.frame_for(None).expect("frame"));
        assert_eq!(frame["text"], "bc");
        assert_eq!(frame["id"], 4);
        // The next delta waits for the window after that frame.
        assert_eq!(c.push("r", 5, "d", 1060), None);
        assert_eq!(c.take("other", 1061), None);
        let last = c.take("r", 1061).expect("forced at the end");
        assert_eq!(last.last_id(), 5);
        assert_eq!(c.due_at(), None);
    }

    #[test]
    fn frames_over_time_never_come_closer_than_the_window() {
        let mut c = Coalescer::default();
        let mut sent = Vec::new();
        let mut text = String::new();
        for i in 0..500u64 {
            let now = 10_000 + i * 7; // a delta every 7 ms
            if let Some(b) = c.flush_due(now) {
                sent.push((now, b));
            }
            if let Some(b) = c.push("r", i + 2, &format!("{i},"), now) {
                sent.push((now, b));
            }
        }
        if let Some(b) = c.take("r", 20_000) {
            sent.push((20_000, b));
        }
        for pair in sent.windows(2) {
            assert!(pair[1].0 - pair[0].0 >= COALESCE_MS, "frames too close");
        }
        for (_, b) in &sent {
            let frame = json(&b.frame_for(None).expect("frame"));
            text.push_str(frame["text"].as_str().expect("text"));
        }
        let expected: String = (0..500).map(|i| format!("{i},")).collect();
        assert_eq!(text, expected);
        assert_eq!(sent.last().map(|(_, b)| b.last_id()), Some(501));
    }

    #[test]
    fn a_floor_trims_what_the_socket_already_has() {
        let mut c = Coalescer::default();
        c.push("r", 2, "ab", 0);
        c.push("r", 3, "cd", 10);
        c.push("r", 4, "ef", 20);
        let batch = c.flush_due(50).expect("due");
        let floor = |id| Floor {
            reply_id: "r".into(),
            id,
        };
        assert_eq!(json(&batch.frame_for(None).expect("all"))["text"], "cdef");
        assert_eq!(
            json(&batch.frame_for(Some(&floor(3))).expect("tail"))["text"],
            "ef"
        );
        assert_eq!(
            json(&batch.frame_for(Some(&floor(3))).expect("tail"))["id"],
            4
        );
        assert_eq!(batch.frame_for(Some(&floor(4))), None);
        let other = Floor {
            reply_id: "q".into(),
            id: 9,
        };
        assert_eq!(
            json(&batch.frame_for(Some(&other)).expect("all"))["text"],
            "cdef"
        );
    }
}
