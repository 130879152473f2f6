//! `TabObject`: one SQLite-backed Durable Object per (user, tab), named `"{user}/{tab}"`, owning
//! that tab's messages. It only does I/O; what to store and when to flush is decided by
//! [`crate::chat::TabLog`] and [`crate::chat::Batcher`].
//!
//! - Append: the message is written to SQL storage before the response; the output gate holds
//!   the response until the write is durable, so a 201 means durable. Then the batcher decides:
//!   at `FLUSH_MAX_PENDING` pending the object sets its alarm to *now* (the flush runs right after,
//!   off the append's latency, with the alarm's retry semantics); otherwise the alarm is set
//!   `FLUSH_INTERVAL_MS` after the first pending append.
//! - Flush (alarm or `POST /flush`): compacts pending messages into pages locally, then sends the
//!   messages not yet indexed to the user's object (history index + tab metadata) and records the
//!   indexed watermark (`x`). If that call fails the alarm handler fails, so the platform retries
//!   it; compaction and indexing are both idempotent.
//!
//! Storage keys besides the tab log's (`m`, `l/`, `p/`, `c/`): `o` the owner record, `x` the highest
//! `seq` already in the history index.

use std::cell::RefCell;

use serde::{Deserialize, Serialize};
use worker::{durable_object, DurableObject, Env, Method, Request, Response, State};

use crate::api::ErrorCode;
use crate::chat::{
    self, AppendDecision, AppendOutcome, Batcher, FlushPolicy, PageCursor, PageQuery, TabLog,
};
use crate::storage::KvStore;

use super::config;
use super::error::ApiError;
use super::http;
use super::log;
use super::objects::{self, Call};
use super::storage::SqlKv;

const OWNER_KEY: &str = "o";
const INDEXED_KEY: &str = "x";
/// Messages sent to the history index per call, so one call stays small.
const INDEX_BATCH: u32 = 200;

/// Who the tab belongs to (written by `/init`; a tab object without it does not exist).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Owner {
    pub user: String,
    pub tab_id: String,
}

/// The answer of `/append`: the message plus the tab's new count (for the directory).
#[derive(Debug, Serialize, Deserialize)]
pub struct Appended {
    pub message: chat::Message,
    pub created: bool,
    pub message_count: u64,
}

/// Messages for the user's history index, with the tab's state for its directory record.
#[derive(Debug, Serialize, Deserialize)]
pub struct IndexBatch {
    pub tab_id: String,
    pub messages: Vec<chat::Message>,
    pub message_count: u64,
    pub indexed_through: u64,
    pub updated_ms: u64,
}

struct Loaded {
    kv: SqlKv,
    log: TabLog,
    batcher: Batcher,
    owner: Option<Owner>,
    indexed_through: u64,
    /// An immediate flush alarm is already set (so later appends need not set it again).
    flush_requested: bool,
}

#[durable_object]
pub struct TabObject {
    state: State,
    env: Env,
    loaded: RefCell<Option<Loaded>>,
    /// Fault injection for the reliability tests: the first N alarm runs of this object fail as a
    /// flush failure would (var `FAULT_FAIL_ALARMS`, unset = 0; never set it in production).
    injected_alarm_failures: std::cell::Cell<u32>,
}

fn now_ms() -> u64 {
    worker::Date::now().as_millis()
}

impl TabObject {
    /// Loads the tab from storage on first use. Synchronous (SQL only), so two concurrent first
    /// requests cannot interleave a load with a write.
    fn with<T>(&self, f: impl FnOnce(&mut Loaded) -> Result<T, ApiError>) -> Result<T, ApiError> {
        let mut slot = self.loaded.borrow_mut();
        if slot.is_none() {
            let config = config::load(&self.env)?;
            let kv = SqlKv::open(self.state.storage().sql())?;
            let log = TabLog::load(&kv)?;
            let owner = kv
                .get(OWNER_KEY)?
                .and_then(|b| serde_json::from_slice::<Owner>(&b).ok());
            let indexed_through = kv
                .get(INDEXED_KEY)?
                .and_then(|b| String::from_utf8(b).ok())
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            let policy = FlushPolicy {
                max_pending: config.flush_max_pending,
                interval_ms: config.flush_interval_ms,
            };
            *slot = Some(Loaded {
                kv,
                log,
                batcher: Batcher::new(policy, None),
                owner,
                indexed_through,
                flush_requested: false,
            });
        }
        match slot.as_mut() {
            Some(loaded) => f(loaded),
            None => Err(ApiError::internal("tab state missing after load")),
        }
    }

    fn owned<T>(&self, f: impl FnOnce(&mut Loaded) -> Result<T, ApiError>) -> Result<T, ApiError> {
        self.with(|loaded| {
            if loaded.owner.is_none() {
                return Err(ApiError::not_found("tab"));
            }
            f(loaded)
        })
    }

    async fn set_alarm(&self, at_ms: u64) -> Result<(), ApiError> {
        let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(at_ms as f64));
        self.state
            .storage()
            .set_alarm(worker::ScheduledTime::new(date))
            .await?;
        Ok(())
    }

    async fn handle(&self, mut req: Request) -> Result<Response, ApiError> {
        let url = req.url()?;
        let path = url.path().to_owned();
        let method = req.method();
        let header = |name: &str| req.headers().get(name).ok().flatten();
        match (method, path.as_str()) {
            (Method::Post, "/init") => {
                let owner: Owner = serde_json::from_slice(&req.bytes().await?)
                    .map_err(|e| ApiError::internal(format!("init body: {e}")))?;
                self.with(|l| {
                    let bytes = serde_json::to_vec(&owner)
                        .map_err(|e| ApiError::internal(e.to_string()))?;
                    l.kv.put(OWNER_KEY, &bytes)?;
                    l.kv.save_stats()?;
                    l.owner = Some(owner);
                    Ok(())
                })?;
                http::no_content()
            }
            (Method::Post, "/append") => {
                let now = header("x-now-ms")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(now_ms);
                let id = header("x-message-id").unwrap_or_default();
                let body = req.bytes().await?;
                let (appended, decision) = self.owned(|l| {
                    let max = config::load(&self.env)?.max_message_bytes;
                    let new = chat::parse_new_message(&body, max)?;
                    let outcome = l.log.append(&mut l.kv, new, now, id)?;
                    l.kv.save_stats()?;
                    let decision = match &outcome {
                        AppendOutcome::Created(_) => l.batcher.after_append(
                            l.log.pending(),
                            l.log.first_pending_at_ms().unwrap_or(now),
                            now,
                        ),
                        AppendOutcome::Existing(_) => AppendDecision::Nothing,
                    };
                    // One immediate alarm per batch is enough.
                    let decision = match decision {
                        AppendDecision::FlushNow if l.flush_requested => AppendDecision::Nothing,
                        AppendDecision::FlushNow => {
                            l.flush_requested = true;
                            AppendDecision::FlushNow
                        }
                        other => other,
                    };
                    let created = matches!(outcome, AppendOutcome::Created(_));
                    Ok((
                        Appended {
                            message: outcome.message().clone(),
                            created,
                            message_count: l.log.message_count(),
                        },
                        decision,
                    ))
                })?;
                match decision {
                    AppendDecision::FlushNow => self.set_alarm(now).await?,
                    AppendDecision::SetAlarm { at_ms } => self.set_alarm(at_ms).await?,
                    AppendDecision::Nothing => {}
                }
                http::json(if appended.created { 201 } else { 200 }, &appended)
            }
            (Method::Get, "/messages") => {
                let q = |name| http::query_param(&url, name);
                let query = chat::parse_page_query(
                    q("after").as_deref(),
                    q("before").as_deref(),
                    q("limit").as_deref(),
                )?;
                let page = self.owned(|l| Ok(l.log.read(&l.kv, query)?))?;
                http::json(200, &page)
            }
            (Method::Get, "/unindexed") => {
                // Messages the history index does not hold yet (pending or awaiting indexing).
                let messages = self.owned(|l| {
                    let page = l.log.read(
                        &l.kv,
                        PageQuery {
                            cursor: PageCursor::After(l.indexed_through),
                            limit: chat::model::MAX_PAGE_LIMIT,
                        },
                    )?;
                    Ok(page.messages)
                })?;
                http::json(200, &messages)
            }
            (Method::Get, "/stats") => {
                let stats = self.owned(|l| Ok(l.log.stats(&l.kv)))?;
                http::json(200, &stats)
            }
            (Method::Post, "/flush") => {
                self.owned(|_| Ok(()))?;
                self.flush_and_index(now_ms()).await?;
                let stats = self.owned(|l| Ok(l.log.stats(&l.kv)))?;
                http::json(200, &stats)
            }
            (Method::Delete, "/") => {
                self.with(|l| {
                    l.kv.wipe()?;
                    *l = Loaded {
                        kv: SqlKv::open(self.state.storage().sql())?,
                        log: TabLog::load(&l.kv)?,
                        batcher: Batcher::new(l.batcher.policy(), None),
                        owner: None,
                        indexed_through: 0,
                        flush_requested: false,
                    };
                    Ok(())
                })?;
                self.state.storage().delete_alarm().await?;
                http::no_content()
            }
            _ => Err(ApiError::new(ErrorCode::NotFound, "no such tab operation")),
        }
    }

    /// Compacts pending messages, then brings the user's history index up to date.
    async fn flush_and_index(&self, now: u64) -> Result<(), ApiError> {
        let after = self.with(|l| {
            l.flush_requested = false;
            if l.log.pending() > 0 {
                l.log.flush(&mut l.kv, now)?;
                l.kv.save_stats()?;
            }
            Ok(l.batcher.after_flush())
        })?;
        if after == chat::AfterFlush::DeleteAlarm {
            self.state.storage().delete_alarm().await?;
        }
        self.index_backlog(now).await
    }

    /// Sends every compacted message above the indexed watermark to the user's object.
    async fn index_backlog(&self, now: u64) -> Result<(), ApiError> {
        loop {
            let batch = self.with(|l| {
                let Some(owner) = l.owner.clone() else {
                    return Ok(None);
                };
                let flushed_through = l.log.message_count() - l.log.pending();
                if l.indexed_through >= flushed_through {
                    return Ok(None);
                }
                let page = l.log.read(
                    &l.kv,
                    PageQuery {
                        cursor: PageCursor::After(l.indexed_through),
                        limit: INDEX_BATCH,
                    },
                )?;
                let messages: Vec<_> = page
                    .messages
                    .into_iter()
                    .filter(|m| m.seq <= flushed_through)
                    .collect();
                let through = messages.last().map_or(l.indexed_through, |m| m.seq);
                Ok(Some((
                    owner.user,
                    IndexBatch {
                        tab_id: owner.tab_id,
                        messages,
                        message_count: l.log.message_count(),
                        indexed_through: through,
                        updated_ms: now,
                    },
                )))
            })?;
            let Some((user, batch)) = batch else {
                return Ok(());
            };
            if batch.messages.is_empty() {
                return Ok(());
            }
            let through = batch.indexed_through;
            let stub = objects::stub(&self.env, "USER", &user)?;
            Call::new(Method::Post, "/index")
                .json(&batch)?
                .send(&stub)
                .await?;
            self.with(|l| {
                l.indexed_through = through;
                l.kv.put(INDEXED_KEY, through.to_string().as_bytes())?;
                l.kv.save_stats()?;
                Ok(())
            })?;
        }
    }

    async fn run_alarm(&self) -> Result<(), ApiError> {
        let now = now_ms();
        let decision = self.with(|l| {
            if l.owner.is_none() {
                return Ok(chat::AlarmDecision::Idle);
            }
            let pending = l.log.pending();
            if pending >= u64::from(l.batcher.policy().max_pending) {
                return Ok(chat::AlarmDecision::Flush);
            }
            Ok(l.batcher
                .on_alarm(pending, l.log.first_pending_at_ms(), now))
        })?;
        match decision {
            chat::AlarmDecision::Flush | chat::AlarmDecision::Idle => {
                self.flush_and_index(now).await
            }
            chat::AlarmDecision::Reschedule { at_ms } => self.set_alarm(at_ms).await,
        }
    }
}

impl DurableObject for TabObject {
    fn new(state: State, env: Env) -> Self {
        let injected = env
            .var("FAULT_FAIL_ALARMS")
            .ok()
            .and_then(|v| v.to_string().trim().parse().ok())
            .unwrap_or(0);
        Self {
            state,
            env,
            loaded: RefCell::new(None),
            injected_alarm_failures: std::cell::Cell::new(injected),
        }
    }

    async fn fetch(&self, req: Request) -> worker::Result<Response> {
        objects::respond(self.handle(req).await)
    }

    async fn alarm(&self) -> worker::Result<Response> {
        let outcome = match self.injected_alarm_failures.get() {
            0 => self.run_alarm().await,
            n => {
                self.injected_alarm_failures.set(n - 1);
                Err(ApiError::internal(
                    "injected alarm failure (FAULT_FAIL_ALARMS)",
                ))
            }
        };
        match outcome {
            Ok(()) => Response::ok("flushed"),
            Err(err) => {
                // Failing the alarm makes the platform retry it (with backoff); log why.
                log::event(
                    "tab_alarm_failed",
                    serde_json::json!({ "message": err.message, "detail": err.detail }),
                );
                if let Err(e) = self.set_alarm(now_ms() + 1000).await {
                    log::event(
                        "tab_alarm_reschedule_failed",
                        serde_json::json!({ "error": e.message }),
                    );
                }
                Err(worker::Error::RustError(format!(
                    "flush failed: {}",
                    err.message
                )))
            }
        }
    }
}
