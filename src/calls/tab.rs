//! Calls to a tab's object (`TabObject`, one per user and tab).

use serde::{Deserialize, Serialize};

use super::{calls, json_answer, Answer, CallError, Encoded};
use crate::assistant::intent::SearchMode;
use crate::chat::reply::{NewReply, ReplyView};
use crate::chat::{Message, MessagePage, NewMessage, PageQuery, TabMeta, TabStats};

/// Every call a tab's object accepts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TabCall {
    Init(Init),
    Append(Append),
    Read(Read),
    Unindexed(Unindexed),
    Stats(Stats),
    Flush(Flush),
    Delete(Delete),
    StartReply(StartReply),
    StartReplyStream(StartReplyStream),
    GetReply(GetReply),
    ReplyEvents(ReplyEvents),
    CancelReply(CancelReply),
    OpenLive(OpenLive),
    TabChanged(TabChanged),
}

/// Creates the tab: records its owner (a tab object without one answers 404 to everything).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Init {
    pub user: String,
    pub tab_id: String,
}

/// Appends a message the worker already validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Append {
    pub message: NewMessage,
    /// The id the new message gets (ignored when `client_id` finds an existing message).
    pub message_id: String,
    pub now_ms: u64,
}

/// The answer to [`Append`]: the stored message and the tab's count for the directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Appended {
    pub message: Message,
    /// `false` when `client_id` matched a message stored earlier (answered 200, not 201).
    pub created: bool,
    pub message_count: u64,
}

/// A page of messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Read {
    pub query: PageQuery,
}

/// Messages the user's history index does not hold yet (pending or awaiting indexing), oldest
/// first, at most `limit`, with `seq > after` (page with the last `seq` while `more`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unindexed {
    pub after: u64,
    pub limit: u32,
}

/// The answer to [`Unindexed`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnindexedPage {
    pub messages: Vec<Message>,
    /// More unindexed messages exist past `limit` (the caller may say its answer is partial).
    pub more: bool,
}

/// The tab's batching and storage counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats;

/// Flushes now and brings the history index up to date; answers the stats after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flush {
    pub now_ms: u64,
}

/// Deletes the tab's messages and owner (the object is empty afterwards). `tab`, the directory's
/// entry, goes to the live sockets as the `tab` frame with `deleted` before they are closed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delete {
    pub tab: Option<TabMeta>,
}

/// Starts an assistant reply to a user message of the tab; the object then streams it from the
/// model on its own (see `edge/objects/reply.rs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartReply {
    pub reply: NewReply,
    pub search: SearchMode,
    /// The sources the request allows, as `intent::Sources` bits (`None`: every configured one).
    pub sources: Option<u8>,
    pub workspace: Option<String>,
    pub now_ms: u64,
}

/// [`StartReply`], answered with the reply's event stream from the start (`Accept:
/// text/event-stream`): one call instead of a start and an events call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartReplyStream {
    pub start: StartReply,
}

/// The answer to [`StartReply`]: the reply, and whether this call created it.
#[derive(Debug, Serialize, Deserialize)]
pub struct ReplyStarted {
    /// `false` when the `client_id` found a reply started earlier (200, not 202).
    pub created: bool,
    /// The API's reply object.
    pub reply: Box<serde_json::value::RawValue>,
}

/// A reply as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetReply {
    pub reply_id: String,
}

/// The reply's events after `after`, as a `text/event-stream` that stays open while the reply
/// streams.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyEvents {
    pub reply_id: String,
    pub after: u64,
}

/// Cancels a streaming reply (no change to an ended one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancelReply {
    pub reply_id: String,
    pub now_ms: u64,
}

/// Opens a live socket (`GET /api/tabs/{id}/live`): sent as a WebSocket upgrade request
/// (`edge::objects::send_upgrade`), answered 101 by the object, which accepts the socket with
/// the hibernation API and sends the catch-up after `after` (404 when the tab does not exist).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenLive {
    pub user: String,
    pub tab_id: String,
    pub after: u64,
    /// The client offered the `bearer` subprotocol: the 101 selects it.
    pub bearer: bool,
}

/// The tab was renamed: its live sockets get the `tab` frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TabChanged {
    pub tab: TabMeta,
}

/// The 101 answer to [`OpenLive`]: the worker passes the socket through, never decodes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Upgraded;

impl Answer for Upgraded {
    fn encode(self) -> Result<Vec<u8>, CallError> {
        Ok(Vec::new())
    }
    fn decode(_: Vec<u8>) -> Result<Self, CallError> {
        Err(CallError::Decode {
            what: "Upgraded",
            detail: "a WebSocket answer is passed through, not decoded".into(),
        })
    }
}

/// An answer the object streams: the worker passes the response through
/// (`edge::objects::send_stream`) and never decodes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Streamed;

impl Answer for Streamed {
    const CONTENT_TYPE: &'static str = "text/event-stream; charset=utf-8";
    fn encode(self) -> Result<Vec<u8>, CallError> {
        Ok(Vec::new())
    }
    fn decode(_: Vec<u8>) -> Result<Self, CallError> {
        Err(CallError::Decode {
            what: "Streamed",
            detail: "a streamed answer is passed through, not decoded".into(),
        })
    }
}

json_answer!(Appended, UnindexedPage, ReplyStarted);

calls!(TabCall {
    Init => (),
    Append => Appended,
    Read => Encoded<MessagePage>,
    Unindexed => UnindexedPage,
    Stats => Encoded<TabStats>,
    Flush => Encoded<TabStats>,
    Delete => (),
    StartReply => ReplyStarted,
    StartReplyStream => Streamed,
    GetReply => Encoded<ReplyView<'static>>,
    ReplyEvents => Streamed,
    CancelReply => Encoded<ReplyView<'static>>,
    OpenLive => Upgraded,
    TabChanged => (),
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calls::{decode_call, encode_call, ObjectCall};
    use crate::chat::{PageCursor, Role};

    fn roundtrip<C: ObjectCall + Clone>(call: C) -> TabCall
    where
        C::Enum: Into<TabCall>,
    {
        let wire = encode_call(&call.into().into()).expect("encodes");
        decode_call::<TabCall>(&wire).expect("decodes")
    }

    #[test]
    fn calls_survive_the_wire() {
        let append = Append {
            message: NewMessage {
                role: Role::User,
                content: "héllo \u{1F600}".into(),
                client_id: Some("c-1".into()),
            },
            message_id: "m1".into(),
            now_ms: 42,
        };
        assert_eq!(roundtrip(append.clone()), TabCall::Append(append));
        let read = Read {
            query: PageQuery {
                cursor: PageCursor::Between(3, 9),
                limit: 50,
            },
        };
        assert_eq!(roundtrip(read), TabCall::Read(read));
        assert_eq!(roundtrip(Stats), TabCall::Stats(Stats));
        let open = OpenLive {
            user: "u".into(),
            tab_id: "t".into(),
            after: 7,
            bearer: true,
        };
        assert_eq!(roundtrip(open.clone()), TabCall::OpenLive(open));
        let delete = Delete { tab: None };
        assert_eq!(roundtrip(delete.clone()), TabCall::Delete(delete));
    }

    #[test]
    fn an_append_without_its_message_id_does_not_decode() {
        let wire =
            br#"{"Append":{"message":{"role":"user","content":"x","client_id":null},"now_ms":1}}"#;
        assert!(decode_call::<TabCall>(wire).is_err());
    }
}
