//! `UserObject`: one SQLite-backed Durable Object per user, named by the user id. It is the
//! single writer of the user's tab directory ([`crate::chat::directory`]) and of the user's
//! history search index ([`crate::search::history::PersistentIndex`]), so the tab list is
//! read-your-writes and the index is updated in batches by the tabs' flushes, never per message.
//!
//! History search also finds messages not yet indexed: the directory knows, per tab, how far the
//! index goes (`indexed_through`) and how many messages the tab has, so a search asks only the
//! tabs that are ahead of the index for their unindexed messages, and ranks them with the rest.

use std::cell::RefCell;

use serde::Deserialize;
use worker::{durable_object, DurableObject, Env, Method, Request, Response, State};

use crate::api::ErrorCode;
use crate::chat::directory::{self, TabRecord};
use crate::chat::Message;
use crate::search::history::{HistoryDoc, HistoryError, HistoryResults, PersistentIndex};

use super::error::ApiError;
use super::http;
use super::objects::{self, Call};
use super::storage::SqlKv;
use super::tab_object::IndexBatch;

#[derive(Deserialize)]
struct Touch {
    message_count: u64,
    updated_ms: u64,
}

#[derive(Deserialize)]
struct Rename {
    title: String,
    now_ms: u64,
}

struct Loaded {
    kv: SqlKv,
    index: PersistentIndex,
}

#[durable_object]
pub struct UserObject {
    state: State,
    env: Env,
    loaded: RefCell<Option<Loaded>>,
    /// Appends' soft directory updates (see [`directory::Touches`]).
    touches: RefCell<directory::Touches>,
}

fn doc(tab_id: &str, m: &Message) -> HistoryDoc {
    HistoryDoc {
        tab_id: tab_id.to_owned(),
        seq: m.seq,
        role: m.role.as_str().to_owned(),
        text: m.content.clone(),
    }
}

impl UserObject {
    fn with<T>(&self, f: impl FnOnce(&mut Loaded) -> Result<T, ApiError>) -> Result<T, ApiError> {
        let mut slot = self.loaded.borrow_mut();
        if slot.is_none() {
            let kv = SqlKv::open(self.state.storage().sql())?;
            let index = PersistentIndex::open(&kv)?;
            *slot = Some(Loaded { kv, index });
        }
        match slot.as_mut() {
            Some(loaded) => f(loaded),
            None => Err(ApiError::internal("user state missing after load")),
        }
    }

    async fn handle(&self, mut req: Request) -> Result<Response, ApiError> {
        let url = req.url()?;
        let path = url.path().to_owned();
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let method = req.method();
        match (method, segments.as_slice()) {
            (Method::Post, ["tabs"]) => {
                let record: TabRecord = serde_json::from_slice(&req.bytes().await?)
                    .map_err(|e| ApiError::internal(format!("tab record: {e}")))?;
                self.with(|l| {
                    directory::put(&mut l.kv, &record)?;
                    l.kv.save_stats()?;
                    Ok(())
                })?;
                http::json(201, &record.meta())
            }
            (Method::Get, ["tabs"]) => {
                let q = |name| http::query_param(&url, name);
                let (limit, cursor) =
                    directory::parse_list_query(q("limit").as_deref(), q("cursor").as_deref())?;
                let touches = self.touches.borrow().clone();
                let list = self.with(|l| Ok(directory::list(&l.kv, limit, cursor, &touches)?))?;
                http::json(200, &list)
            }
            (Method::Get, ["tabs", id]) => {
                let record = self.with(|l| Ok(directory::get(&l.kv, id)?))?;
                let record = record.ok_or_else(|| ApiError::not_found("tab"))?;
                http::json(200, &self.touches.borrow().apply(record).meta())
            }
            (Method::Patch, ["tabs", id]) => {
                let rename: Rename = serde_json::from_slice(&req.bytes().await?)
                    .map_err(|e| ApiError::internal(format!("rename body: {e}")))?;
                let record = self.with(|l| {
                    let r = directory::rename(&mut l.kv, id, rename.title, rename.now_ms)?;
                    l.kv.save_stats()?;
                    Ok(r)
                })?;
                let record = record.ok_or_else(|| ApiError::not_found("tab"))?;
                http::json(200, &record.meta())
            }
            (Method::Post, ["tabs", id, "touch"]) => {
                // Memory only: no durable write on the append's path (the flush writes it).
                let touch: Touch = serde_json::from_slice(&req.bytes().await?)
                    .map_err(|e| ApiError::internal(format!("touch body: {e}")))?;
                self.with(|l| Ok(directory::get(&l.kv, id)?))?
                    .ok_or_else(|| ApiError::not_found("tab"))?;
                self.touches
                    .borrow_mut()
                    .record(id, touch.message_count, touch.updated_ms);
                http::no_content()
            }
            (Method::Delete, ["tabs", id]) => {
                self.touches.borrow_mut().forget(id);
                self.with(|l| {
                    directory::remove(&mut l.kv, id)?;
                    l.index.remove_tab(&mut l.kv, id)?;
                    l.kv.save_stats()?;
                    Ok(())
                })?;
                http::no_content()
            }
            (Method::Post, ["index"]) => {
                let batch: IndexBatch = serde_json::from_slice(&req.bytes().await?)
                    .map_err(|e| ApiError::internal(format!("index batch: {e}")))?;
                self.with(|l| {
                    // A tab deleted meanwhile must not come back through a late flush.
                    if directory::get(&l.kv, &batch.tab_id)?.is_none() {
                        return Ok(());
                    }
                    let docs: Vec<HistoryDoc> = batch
                        .messages
                        .iter()
                        .map(|m| doc(&batch.tab_id, m))
                        .collect();
                    l.index.add(&mut l.kv, &docs)?;
                    directory::touch(
                        &mut l.kv,
                        &batch.tab_id,
                        batch.message_count,
                        batch.updated_ms,
                        Some(batch.indexed_through),
                    )?;
                    l.kv.save_stats()?;
                    Ok(())
                })?;
                http::no_content()
            }
            (Method::Get, ["search"]) => {
                let q = http::query_param(&url, "q").unwrap_or_default();
                let tab = http::query_param(&url, "tab");
                let limit: usize = http::query_param(&url, "limit")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(10);
                if let Some(tab_id) = &tab {
                    if self.with(|l| Ok(directory::get(&l.kv, tab_id)?))?.is_none() {
                        return Err(ApiError::not_found("tab"));
                    }
                }
                // Messages the index does not hold yet, from the tabs that are ahead of it.
                let behind: Vec<String> = self.with(|l| {
                    let touches = self.touches.borrow();
                    Ok(directory::all(&l.kv)?
                        .into_iter()
                        .map(|r| touches.apply(r))
                        .filter(|r| r.has_unindexed())
                        .filter(|r| tab.as_deref().is_none_or(|t| t == r.id))
                        .map(|r| r.id)
                        .collect())
                })?;
                let user = http::query_param(&url, "user")
                    .filter(|u| crate::auth::valid_user_id(u))
                    .ok_or_else(|| ApiError::internal("search call without a valid user"))?;
                let mut extra = Vec::new();
                for tab_id in behind {
                    let stub = objects::stub(&self.env, "TAB", &format!("{user}/{tab_id}"))?;
                    match Call::new(Method::Get, "/unindexed")
                        .send_json::<Vec<Message>>(&stub)
                        .await
                    {
                        Ok((_, messages)) => extra.extend(messages.iter().map(|m| doc(&tab_id, m))),
                        Err(err) if err.code == ErrorCode::NotFound => {}
                        Err(err) => return Err(err),
                    }
                }
                let results = self.with(|l| {
                    match l.index.search(&l.kv, &q, tab.as_deref(), limit, &extra) {
                        // Punctuation-only queries match nothing rather than being an error.
                        Err(HistoryError::NoSearchableWords) => Ok(HistoryResults {
                            total: 0,
                            results: Vec::new(),
                        }),
                        other => Ok(other?),
                    }
                })?;
                http::json(200, &results)
            }
            _ => Err(ApiError::new(ErrorCode::NotFound, "no such user operation")),
        }
    }
}

impl DurableObject for UserObject {
    fn new(state: State, env: Env) -> Self {
        Self {
            state,
            env,
            loaded: RefCell::new(None),
            touches: RefCell::new(directory::Touches::default()),
        }
    }

    async fn fetch(&self, req: Request) -> worker::Result<Response> {
        objects::respond(self.handle(req).await)
    }
}
