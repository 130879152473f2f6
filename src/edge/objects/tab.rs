//! `TabObject`: one SQLite-backed Durable Object per (user, tab), named by
//! [`ObjectName::tab`], owning that tab's messages. Decode a [`TabCall`] → run the
//! [`crate::chat::Tab`] core → carry out its effects (alarm, index calls) → answer.
//!
//! - Append: the message is written to SQL storage before the answer, and the output gate holds
//!   the answer until the write is durable, so a 201 means durable. Nothing after that write can
//!   turn it into an error: a failed alarm or stats write is logged (the core asks for the alarm
//!   again on the next append, or after a restart).
//! - Alarm and `Flush`: compact pending messages, then send the backlog to the user's history
//!   index in batches; a failed index call leaves an alarm set to retry it, and the alarm is only
//!   deleted once nothing is pending and the index is up to date.
//! - Probing an id that was never created answers 404 and writes nothing (no tables are created
//!   until the first write).

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use worker::{
    durable_object, DurableObject, Env, Request, Response, State, Storage, WebSocket,
    WebSocketIncomingMessage,
};

use crate::api::ErrorCode;
use crate::calls::tab::{self as call, Appended, ReplyStarted, TabCall, UnindexedPage};
use crate::calls::user::{Index, ReleaseTokens, ReserveTokens, Touch};
use crate::calls::{Answer, Encoded, ObjectName};
use crate::chat::live::Coalescer;
use crate::chat::reply::ReplyView;
use crate::chat::{Effect, FlushPolicy, Owner, PageCursor, PageQuery, ReplyCheck, Tab};

use super::super::config;
use super::super::error::ApiError;
use super::super::log;
use super::super::storage::SqlKv;
use super::live;
use super::reply::{self as driver, Job, Live};
use super::{answer, decode, respond, send};

pub struct Loaded {
    pub kv: SqlKv,
    pub tab: Tab,
}

/// What a reply start did before the start is written ([`TabObject::send_early`]).
enum Early {
    /// The model request is in flight; the context is recorded with the start.
    Sent(Box<driver::InFlight>, driver::ContextRecord),
    /// Nothing was sent: the driver takes the reply up from here.
    Driver(driver::Head),
}

/// The object's state that the reply driver shares while it runs on its own.
pub struct Shared {
    /// A reply start is between its checks and its writes (waiting on the token reservation).
    starting: Cell<bool>,
    pub env: Env,
    storage: Storage,
    /// The object's state, for its hibernatable live sockets (`objects/live.rs`).
    pub state: State,
    loaded: RefCell<Option<Loaded>>,
    /// Watchers and the running upstream call of the reply.
    pub live: RefCell<Live>,
    /// Deltas held for the live sockets' next frame (at most one per reply per 50 ms).
    pub coalescer: RefCell<Coalescer>,
}

impl Shared {
    /// Runs `f` on the loaded tab (an internal error before the load).
    pub fn with<T>(
        &self,
        f: impl FnOnce(&mut Loaded) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        match self.loaded.borrow_mut().as_mut() {
            Some(loaded) => f(loaded),
            None => Err(ApiError::internal("tab state used before it was loaded")),
        }
    }

    /// Carries out the core's effects. A failure is logged, never returned: the work they
    /// schedule is already durable, and the core asks again when it learns the alarm is unset.
    pub async fn apply(&self, effects: Vec<Effect>) {
        for effect in effects {
            let outcome = match effect {
                Effect::SetAlarm { at_ms } => {
                    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(at_ms as f64));
                    self.storage
                        .set_alarm(worker::ScheduledTime::new(date))
                        .await
                }
                Effect::DeleteAlarm => self.storage.delete_alarm().await,
            };
            if let Err(err) = outcome {
                if matches!(effect, Effect::SetAlarm { .. }) {
                    if let Some(loaded) = self.loaded.borrow_mut().as_mut() {
                        loaded.tab.alarm_not_set();
                    }
                }
                log::event(
                    "tab_alarm_effect_failed",
                    serde_json::json!({ "effect": format!("{effect:?}"), "error": err.to_string() }),
                );
            }
        }
    }
}

#[durable_object]
pub struct TabObject {
    state: State,
    env: Env,
    shared: Rc<Shared>,
    /// Fault injection for the reliability tests: the first N alarm runs of this object fail as a
    /// flush failure would (`Config::fault_fail_alarms`: var `FAULT_FAIL_ALARMS`, only accepted
    /// with `DEV_MODE`).
    injected_alarm_failures: Cell<u32>,
}

fn now_ms() -> u64 {
    worker::Date::now().as_millis()
}

impl TabObject {
    /// Loads the tab on first use, with the alarm the object already has, and carries out what
    /// the load asks for (an alarm for leftover work).
    async fn ensure_loaded(&self) -> Result<(), ApiError> {
        if self.shared.loaded.borrow().is_some() {
            return Ok(());
        }
        let scheduled = self
            .state
            .storage()
            .get_alarm()
            .await?
            .map(|ms| ms.max(0) as u64);
        let (effects, interrupted) = {
            let mut slot = self.shared.loaded.borrow_mut();
            if slot.is_some() {
                return Ok(());
            }
            let config = config::load(&self.env)?;
            let policy = FlushPolicy {
                max_pending: config.flush_max_pending,
                interval_ms: config.flush_interval_ms,
            };
            // The object's one store for its life: its read cache stays coherent.
            let mut kv = SqlKv::open(self.state.storage().sql())?.with_read_cache();
            let now = now_ms();
            let (mut tab, effects) = Tab::load(&kv, policy, scheduled, now)?;
            // A reply that was streaming when the object went away ends now, with its text.
            let interrupted = tab.recover_reply(&mut kv, now)?;
            *slot = Some(Loaded { kv, tab });
            (effects, interrupted)
        };
        self.apply(effects).await;
        // Live sockets outlive the object (hibernation): say so when it comes back with some.
        let sockets = self.state.get_websockets().len();
        if sockets > 0 {
            let tab = self.with(|l| Ok(l.tab.owner().ok().map(|o| o.tab_id.clone())))?;
            log::event(
                "tab_woke_with_sockets",
                serde_json::json!({ "tab": tab, "sockets": sockets }),
            );
        }
        if let Some(ended) = interrupted {
            driver::announce_end(&self.shared, ended).await;
        }
        Ok(())
    }

    fn with<T>(&self, f: impl FnOnce(&mut Loaded) -> Result<T, ApiError>) -> Result<T, ApiError> {
        self.shared.with(f)
    }

    async fn apply(&self, effects: Vec<Effect>) {
        self.shared.apply(effects).await;
    }

    /// Saves the write counters; they are bookkeeping, so a failure is logged, not answered.
    fn save_stats(kv: &mut SqlKv) {
        if let Err(err) = kv.save_stats() {
            log::event(
                "tab_stats_save_failed",
                serde_json::json!({ "error": err.to_string() }),
            );
        }
    }

    async fn handle(&self, call: TabCall) -> Result<Response, ApiError> {
        self.ensure_loaded().await?;
        match call {
            TabCall::Init(init) => {
                self.with(|l| {
                    l.tab.init(
                        &mut l.kv,
                        Owner {
                            user: init.user,
                            tab_id: init.tab_id,
                        },
                    )?;
                    Self::save_stats(&mut l.kv);
                    Ok(())
                })?;
                answer(())
            }
            TabCall::Append(append) => {
                let result = self.with(|l| {
                    let result = l.tab.append(
                        &mut l.kv,
                        append.message,
                        append.message_id,
                        append.now_ms,
                    )?;
                    Self::save_stats(&mut l.kv);
                    Ok(result)
                })?;
                if result.created {
                    live::message(&self.shared, &result.message);
                }
                self.apply(result.effects).await;
                answer(Appended {
                    message: result.message,
                    created: result.created,
                    message_count: result.message_count,
                })
            }
            TabCall::Read(read) => {
                let page = self.with(|l| Ok(l.tab.read(&l.kv, read.query)?))?;
                answer(Encoded::new(&page)?)
            }
            TabCall::Unindexed(query) => {
                let page =
                    self.with(|l| Ok(l.tab.unindexed(&l.kv, query.after, query.limit)?))?;
                answer(UnindexedPage {
                    messages: page.messages,
                    more: page.more,
                })
            }
            TabCall::Stats(call::Stats) => {
                let stats = self.with(|l| Ok(l.tab.stats(&l.kv)?))?;
                answer(Encoded::new(&stats)?)
            }
            TabCall::Flush(flush) => {
                self.with(|l| {
                    l.tab.flush(&mut l.kv, flush.now_ms)?;
                    Self::save_stats(&mut l.kv);
                    Ok(())
                })?;
                // The compaction is done; a failed index call is retried by the alarm it set.
                if let Err(err) = self.index_backlog(flush.now_ms).await {
                    log::event(
                        "tab_index_failed",
                        serde_json::json!({ "message": err.message, "detail": err.detail }),
                    );
                }
                let stats = self.with(|l| Ok(l.tab.stats(&l.kv)?))?;
                answer(Encoded::new(&stats)?)
            }
            TabCall::Delete(delete) => {
                self.with(|l| Ok(l.tab.owner().map(|_| ())?))?;
                live::tab_deleted(&self.shared, delete.tab.as_ref());
                let streaming = self.with(|l| Ok(l.tab.streaming_reply().map(str::to_owned)))?;
                if let Some(reply_id) = streaming {
                    self.shared.live.borrow_mut().abort(&reply_id);
                }
                let effects = self.with(|l| {
                    l.tab.owner()?;
                    l.kv.wipe()?;
                    Ok(l.tab.reset(&l.kv)?)
                })?;
                self.apply(effects).await;
                answer(())
            }
            TabCall::StartReply(start) => {
                let started = self.start_reply(start).await?;
                Self::answer_started(started)
            }
            TabCall::StartReplyStream(call::StartReplyStream { start }) => {
                let started = self.start_reply(start).await?;
                self.event_stream(&started.record.id, 0)
            }
            TabCall::OpenLive(open) => live::open(&self.shared, open),
            TabCall::TabChanged(changed) => {
                self.with(|l| Ok(l.tab.owner().map(|_| ())?))?;
                live::tab_changed(&self.shared, &changed.tab);
                answer(())
            }
            TabCall::GetReply(get) => {
                let (record, content) = self.with(|l| Ok(l.tab.reply(&l.kv, &get.reply_id)?))?;
                answer(Encoded::<ReplyView<'static>>::from_json(
                    &record.view(&content),
                )?)
            }
            TabCall::ReplyEvents(events) => self.event_stream(&events.reply_id, events.after),
            TabCall::CancelReply(cancel) => {
                let (record, content, ended) = self.with(|l| {
                    Ok(l.tab
                        .cancel_reply(&mut l.kv, &cancel.reply_id, cancel.now_ms)?)
                })?;
                if let Some(ended) = ended {
                    self.shared.live.borrow_mut().abort(&cancel.reply_id);
                    driver::announce_end(&self.shared, ended).await;
                }
                answer(Encoded::<ReplyView<'static>>::from_json(
                    &record.view(&content),
                )?)
            }
        }
    }

    /// The events of `reply_id` after `after`: the whole stream of an ended reply, or a watcher
    /// that gets the replay at once and the live events until `done`.
    fn event_stream(&self, reply_id: &str, after: u64) -> Result<Response, ApiError> {
        let (record, replay) = self.with(|l| Ok(l.tab.reply_events(&l.kv, reply_id, after)?))?;
        let headers = worker::Headers::new();
        headers.set("content-type", call::Streamed::CONTENT_TYPE)?;
        headers.set("cache-control", "no-store")?;
        if replay.finished {
            let body = driver::event_stream_body(&replay.events);
            return Ok(Response::from_bytes(body)?.with_headers(headers));
        }
        let rx = self
            .shared
            .live
            .borrow_mut()
            .watch(&record.id, &replay.events);
        Ok(Response::from_stream(rx)?.with_headers(headers))
    }

    /// Starts a reply: the user's object reserves its tokens (and takes the tab's directory
    /// update in the same call), the core writes it (durable before the answer), then the driver
    /// streams it on its own, outliving this request.
    ///
    /// A reply whose sources need no search (most chat) sends its model request before the
    /// start is written, so the write's commit overlaps the model's first byte instead of
    /// delaying the request: the output gate holds the answer and every event until the start
    /// is durable, so a stream head or a 202 still means the reply is stored. If the object dies
    /// in between, the client gets an error, nothing of the reply is stored, and its reservation
    /// stays counted until the day ends (`assistant::quota`): tokens the model may have spent are
    /// never unaccounted. A reply that searches writes its start first, so it is visible while
    /// the searches run.
    async fn start_reply(
        &self,
        start: call::StartReply,
    ) -> Result<crate::chat::reply::Started, ApiError> {
        // Refusals first (busy, nothing to answer, a known client_id), so only a reply that will
        // start reserves tokens; `starting` keeps concurrent starts out while the reservation is
        // in flight (other calls reach the object while it waits on the user's object).
        if self.shared.starting.get() {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                "a reply is starting in this tab; wait for it to end or cancel it",
            ));
        }
        let message_seq = match self.with(|l| Ok(l.tab.check_reply(&l.kv, &start.reply)?))? {
            ReplyCheck::Existing(started) => return Ok(*started),
            ReplyCheck::New { message_seq } => message_seq,
        };
        let (user, tab_id) = self.with(|l| {
            let owner = l.tab.owner()?;
            Ok((owner.user.clone(), owner.tab_id.clone()))
        })?;
        let job = Job {
            sources: start
                .sources
                .map(crate::assistant::intent::Sources::from_bits),
            workspace: start.workspace.clone(),
            user,
            tab_id,
            reply_id: start.reply.reply_id.clone(),
            message_seq,
            model: start.reply.model.clone(),
            search: start.search,
        };
        self.shared.starting.set(true);
        // The directory's entry for the tab as the start will leave it (its assistant message
        // is the next one), sent with the reservation.
        let touch = self.with(|l| {
            Ok(Touch {
                tab_id: job.tab_id.clone(),
                message_count: l.tab.log().message_count() + 1,
                updated_ms: start.now_ms,
            })
        })?;
        let reserved = self
            .reserve_tokens(&job.user, &start.reply.reply_id, touch)
            .await;
        let was_reserved = reserved.is_ok();
        let early = match reserved {
            Ok(()) => self.send_early(&job).await,
            Err(_) => Early::Driver(driver::Head::Fresh),
        };
        let result = match reserved {
            Ok(()) => self.with(|l| {
                let result = l
                    .tab
                    .start_reply(&mut l.kv, start.reply.clone(), start.now_ms)?;
                Self::save_stats(&mut l.kv);
                Ok(result)
            }),
            Err(err) => Err(err),
        };
        self.shared.starting.set(false);
        let (started, effects) = match result {
            Ok(done) => done,
            Err(err) => {
                if matches!(early, Early::Sent(..)) {
                    // The model may have taken the prompt in already: the reservation stays
                    // counted until the day ends rather than leave that spend unaccounted.
                    self.shared.live.borrow_mut().abort(&job.reply_id);
                } else if was_reserved {
                    self.release_tokens(&job.user, &start.reply.reply_id).await;
                }
                return Err(err);
            }
        };
        // The context goes into the same commit as the start.
        let head = match early {
            Early::Sent(in_flight, context) if started.created => {
                let prompt_estimate = context.prompt_estimate();
                match driver::record_context(&self.shared, &job, context) {
                    Ok(_) => driver::Head::Sent {
                        in_flight,
                        prompt_estimate,
                    },
                    Err(err) => {
                        self.shared.live.borrow_mut().abort(&job.reply_id);
                        driver::Head::Failed(err)
                    }
                }
            }
            Early::Sent(..) => {
                // An earlier reply answered (not reachable: `starting` kept other starts out
                // since the check).
                self.shared.live.borrow_mut().abort(&job.reply_id);
                driver::Head::Fresh
            }
            Early::Driver(head) => head,
        };
        self.apply(effects).await;
        if started.created {
            let view = serde_json::value::to_raw_value(&started.record.view(&started.content))
                .map_err(|e| ApiError::internal(format!("encode a reply: {e}")))?;
            self.announce_start(&started.record.assistant_seq, view.get());
            let shared = Rc::clone(&self.shared);
            let env = self.env.clone();
            // `wait_until` keeps the object's I/O context for the driver after this answer.
            self.state
                .wait_until(async move { driver::drive(shared, env, job, head).await });
        }
        Ok(started)
    }

    /// Reads and routes reply `job`'s question and, when none of its sources needs a search,
    /// prepares it and sends its model request: the fast start of [`Self::start_reply`]. A reply
    /// that searches goes to the driver with its plan; any other case (it cannot call the model,
    /// or its preparation failed, which the driver then reports) starts the driver afresh.
    async fn send_early(&self, job: &Job) -> Early {
        let Ok(config) = config::load(&self.env) else {
            return Early::Driver(driver::Head::Fresh);
        };
        let Ok(plan) = driver::plan(&self.shared, &config, job) else {
            return Early::Driver(driver::Head::Fresh);
        };
        if plan.needs_io() {
            return Early::Driver(driver::Head::Planned(Box::new(plan)));
        }
        let Some((request, context)) = driver::prepare(&self.env, &config, job, plan)
            .await
            .into_request()
        else {
            return Early::Driver(driver::Head::Fresh);
        };
        let Ok(in_flight) = driver::send_request(&self.shared, &config, job, request).await else {
            return Early::Driver(driver::Head::Fresh);
        };
        // The runtime sends the request on its next turn, and an outgoing request that finds
        // a write in flight waits for its commit: one turn for the request to leave.
        worker::Delay::from(std::time::Duration::ZERO).await;
        Early::Sent(Box::new(in_flight), context)
    }

    fn answer_started(started: crate::chat::reply::Started) -> Result<Response, ApiError> {
        let view = serde_json::value::to_raw_value(&started.record.view(&started.content))
            .map_err(|e| ApiError::internal(format!("encode a reply: {e}")))?;
        answer(ReplyStarted {
            created: started.created,
            reply: view,
        })
    }

    /// Reserves the reply's worst case under the owner's daily budget (429 `quota_exceeded`);
    /// an admitted reply's `touch` updates the tab's directory entry in the same call.
    async fn reserve_tokens(
        &self,
        user: &str,
        reply_id: &str,
        touch: Touch,
    ) -> Result<(), ApiError> {
        let config = config::load(&self.env)?;
        let reserve = ReserveTokens {
            reply_id: reply_id.to_owned(),
            tokens: u64::from(config.llm_context_tokens),
            limit: config.user_daily_tokens,
            now_ms: now_ms(),
            touch: Some(touch),
        };
        send(&self.env, &ObjectName::user(user)?, reserve).await
    }

    /// Gives back the reservation of a reply that did not start.
    async fn release_tokens(&self, user: &str, reply_id: &str) {
        let released = async {
            let release = ReleaseTokens {
                reply_id: reply_id.to_owned(),
                now_ms: now_ms(),
            };
            send(&self.env, &ObjectName::user(user)?, release).await
        };
        if let Err(err) = released.await {
            log::event(
                "reply_release_failed",
                serde_json::json!({ "reply_id": reply_id, "message": err.message }),
            );
        }
    }

    /// Tells the live sockets that a reply started: its assistant message, then the reply.
    fn announce_start(&self, assistant_seq: &u64, reply_json: &str) {
        // Nobody watching (the usual start): skip the message's read, which sits on the path
        // to the reply's first byte.
        if self.state.get_websockets().is_empty() {
            return;
        }
        let seq = *assistant_seq;
        let page = self.with(|l| {
            Ok(l.tab.read(
                &l.kv,
                PageQuery {
                    cursor: PageCursor::Between(seq.saturating_sub(1), seq + 1),
                    limit: 1,
                },
            )?)
        });
        match page {
            Ok(page) => {
                for message in &page.messages {
                    live::message(&self.shared, message);
                }
            }
            Err(err) => log::event(
                "live_start_read_failed",
                serde_json::json!({ "message": err.message }),
            ),
        }
        live::reply(&self.shared, reply_json);
    }

    /// Sends every compacted message above the indexed watermark to the user's object, then
    /// lets the core settle the alarm. On failure the core has set a retry alarm.
    async fn index_backlog(&self, now: u64) -> Result<(), ApiError> {
        while let Some(batch) = self.with(|l| Ok(l.tab.next_index_batch(&l.kv)?))? {
            let through = batch.indexed_through;
            let sent = match ObjectName::user(&batch.user) {
                Ok(user) => {
                    send(
                        &self.env,
                        &user,
                        Index {
                            tab_id: batch.tab_id,
                            messages: batch.messages,
                            message_count: batch.message_count,
                            indexed_through: through,
                            updated_ms: now,
                        },
                    )
                    .await
                }
                Err(err) => Err(err.into()),
            };
            if let Err(err) = sent {
                let effect = self.with(|l| Ok(l.tab.index_failed(now)))?;
                self.apply(vec![effect]).await;
                return Err(err);
            }
            self.with(|l| {
                l.tab.mark_indexed(&mut l.kv, through)?;
                Self::save_stats(&mut l.kv);
                Ok(())
            })?;
        }
        let effects = self.with(|l| Ok(l.tab.settle()))?;
        self.apply(effects).await;
        Ok(())
    }

    async fn run_alarm(&self) -> Result<(), ApiError> {
        self.ensure_loaded().await?;
        let now = now_ms();
        let effects = self.with(|l| {
            let effects = l.tab.on_alarm(&mut l.kv, now)?;
            Self::save_stats(&mut l.kv);
            Ok(effects)
        })?;
        self.apply(effects).await;
        self.index_backlog(now).await
    }
}

impl DurableObject for TabObject {
    fn new(state: State, env: Env) -> Self {
        // Validated like every var (and only honoured with DEV_MODE); with an invalid config
        // every request and alarm fails anyway, so 0 is safe there.
        let injected = config::load(&env).map_or(0, |c| c.fault_fail_alarms);
        let shared = Rc::new(Shared {
            starting: Cell::new(false),
            env: env.clone(),
            storage: state.storage(),
            state: State::from(wasm_bindgen::JsCast::unchecked_into::<
                worker::worker_sys::DurableObjectState,
            >(
                AsRef::<wasm_bindgen::JsValue>::as_ref(state.as_raw()).clone(),
            )),
            loaded: RefCell::new(None),
            live: RefCell::new(Live::default()),
            coalescer: RefCell::new(Coalescer::default()),
        });
        Self {
            state,
            env,
            shared,
            injected_alarm_failures: Cell::new(injected),
        }
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        let result = match decode::<TabCall>(&mut req).await {
            Ok(call) => self.handle(call).await,
            Err(err) => Err(err),
        };
        respond(result)
    }

    /// Live sockets only receive; what a client sends is ignored.
    async fn websocket_message(
        &self,
        _ws: WebSocket,
        _message: WebSocketIncomingMessage,
    ) -> worker::Result<()> {
        Ok(())
    }

    /// The client closed its socket: close our end too (the runtime may already have).
    async fn websocket_close(
        &self,
        ws: WebSocket,
        code: usize,
        _reason: String,
        _was_clean: bool,
    ) -> worker::Result<()> {
        // 1005/1006 are reserved and cannot be sent back; answer those with 1000.
        let code = u16::try_from(code)
            .ok()
            .filter(|c| matches!(c, 1000 | 1001 | 1003 | 1007..=1014 | 3000..=4999))
            .unwrap_or(1000);
        let _ = ws.close(Some(code), Some("closed"));
        Ok(())
    }

    /// A socket failed: the runtime drops it from the broadcast list; nothing to do.
    async fn websocket_error(&self, _ws: WebSocket, error: worker::Error) -> worker::Result<()> {
        log::event(
            "live_socket_error",
            serde_json::json!({ "error": error.to_string() }),
        );
        Ok(())
    }

    async fn alarm(&self) -> worker::Result<Response> {
        // The platform deleted the alarm as it fired it: the core must not count on it.
        if let Err(err) = self.ensure_loaded().await {
            log::event(
                "tab_alarm_failed",
                serde_json::json!({ "message": err.message, "detail": err.detail }),
            );
            return Err(worker::Error::RustError(err.message));
        }
        if let Some(loaded) = self.shared.loaded.borrow_mut().as_mut() {
            loaded.tab.alarm_not_set();
        }
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
                log::event(
                    "tab_alarm_failed",
                    serde_json::json!({ "message": err.message, "detail": err.detail }),
                );
                // Make sure a retry is scheduled whatever failed (the platform also retries a
                // failed alarm handler, with backoff).
                let effect = self
                    .shared
                    .loaded
                    .borrow_mut()
                    .as_mut()
                    .map(|l| l.tab.index_failed(now_ms()));
                if let Some(effect) = effect {
                    self.apply(vec![effect]).await;
                }
                Err(worker::Error::RustError(format!(
                    "flush failed: {}",
                    err.message
                )))
            }
        }
    }
}
