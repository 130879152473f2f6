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

use worker::{durable_object, DurableObject, Env, Request, Response, State};

use crate::calls::tab::{self as call, Appended, TabCall, UnindexedPage};
use crate::calls::user::Index;
use crate::calls::{Encoded, ObjectName};
use crate::chat::{Effect, FlushPolicy, Owner, Tab};

use super::super::config;
use super::super::error::ApiError;
use super::super::log;
use super::super::storage::SqlKv;
use super::{answer, decode, respond, send};

struct Loaded {
    kv: SqlKv,
    tab: Tab,
}

#[durable_object]
pub struct TabObject {
    state: State,
    env: Env,
    loaded: RefCell<Option<Loaded>>,
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
        if self.loaded.borrow().is_some() {
            return Ok(());
        }
        let scheduled = self
            .state
            .storage()
            .get_alarm()
            .await?
            .map(|ms| ms.max(0) as u64);
        let effects = {
            let mut slot = self.loaded.borrow_mut();
            if slot.is_some() {
                return Ok(());
            }
            let config = config::load(&self.env)?;
            let policy = FlushPolicy {
                max_pending: config.flush_max_pending,
                interval_ms: config.flush_interval_ms,
            };
            let kv = SqlKv::open(self.state.storage().sql())?;
            let (tab, effects) = Tab::load(&kv, policy, scheduled, now_ms())?;
            *slot = Some(Loaded { kv, tab });
            effects
        };
        self.apply(effects).await;
        Ok(())
    }

    fn with<T>(&self, f: impl FnOnce(&mut Loaded) -> Result<T, ApiError>) -> Result<T, ApiError> {
        match self.loaded.borrow_mut().as_mut() {
            Some(loaded) => f(loaded),
            None => Err(ApiError::internal("tab state used before it was loaded")),
        }
    }

    /// Carries out the core's effects. A failure is logged, never returned: the work they
    /// schedule is already durable, and the core asks again when it learns the alarm is unset.
    async fn apply(&self, effects: Vec<Effect>) {
        for effect in effects {
            let outcome = match effect {
                Effect::SetAlarm { at_ms } => {
                    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(at_ms as f64));
                    self.state
                        .storage()
                        .set_alarm(worker::ScheduledTime::new(date))
                        .await
                }
                Effect::DeleteAlarm => self.state.storage().delete_alarm().await,
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
            TabCall::Delete(call::Delete) => {
                let effects = self.with(|l| {
                    l.tab.owner()?;
                    l.kv.wipe()?;
                    Ok(l.tab.reset(&l.kv)?)
                })?;
                self.apply(effects).await;
                answer(())
            }
        }
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
        Self {
            state,
            env,
            loaded: RefCell::new(None),
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

    async fn alarm(&self) -> worker::Result<Response> {
        // The platform deleted the alarm as it fired it: the core must not count on it.
        if let Err(err) = self.ensure_loaded().await {
            log::event(
                "tab_alarm_failed",
                serde_json::json!({ "message": err.message, "detail": err.detail }),
            );
            return Err(worker::Error::RustError(err.message));
        }
        if let Some(loaded) = self.loaded.borrow_mut().as_mut() {
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
