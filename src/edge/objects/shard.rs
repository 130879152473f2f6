//! `CacheShard`: one shard of the web-search cache, the single writer of its keys in Workers KV.
//! Decode a [`ShardCall`] → run the [`Shard`] core (policy + ledger of what may be in KV) → save
//! when it says so → carry out its KV puts and deletes → answer.
//!
//! - `Admit`: a miss was fetched; the core decides admission and evictions. The state is saved
//!   before any KV operation it asks for, evicted keys are deleted, and the value is written only
//!   when the core still has room for it once those deletes are done ([`Shard::start_put`]), so
//!   the namespace never holds more than the configured entries and bytes. A failed KV operation
//!   is not an error of the call: the value is just not stored, and owed deletes are retried.
//! - `Hits`: batched hit records from isolates' lossy read buffers (frequency only; saved lazily).
//! - `Stats`: the shard's counters; `entries` and `bytes` are what KV may hold.
//! - The alarm sweeps: retries owed deletes (with backoff), expires what KV expired by itself,
//!   and applies the current configuration (capacity, shard count), deleting what that evicts.
//!   The shard keeps an alarm while it holds anything, so a shard the worker no longer calls
//!   (the shard count went down) still empties its share of KV.

use std::cell::{Cell, RefCell};

use worker::{durable_object, DurableObject, Env, Request, Response, State};

use crate::calls::shard::{Admission, ShardCall};
use crate::config::Config;
use crate::search::web::normalize::kv_key_for_hash;
use crate::search::web::shard::{Durability, Shard, ShardSettings, Start};
use crate::storage::KvStore;

use super::super::config;
use super::super::error::ApiError;
use super::super::handlers::web::{injected, KV_BINDING};
use super::super::log;
use super::super::storage::SqlKv;
use super::{answer, decode, respond};

/// Where the shard's state lives in its SQL storage.
const STATE_KEY: &str = "shard";
/// Where shards saved a bare policy before the ledger (adopted once, then removed).
const LEGACY_POLICY_KEY: &str = "policy";
/// Lazy changes (hits, confirmed deletes) saved at the latest after this many.
const LAZY_SAVE_EVERY: u32 = 64;
/// KV operations one invocation issues at most (Workers limits subrequests per invocation); the
/// rest stay owed and the alarm comes back at once.
const MAX_KV_OPS_PER_CALL: usize = 200;

fn now_ms() -> u64 {
    worker::Date::now().as_millis()
}

#[durable_object]
pub struct CacheShard {
    state: State,
    env: Env,
    shard: RefCell<Option<Shard>>,
    /// The alarm as this object last set or read it (ms); `None` when there is none.
    alarm_at: Cell<Option<u64>>,
    alarm_known: Cell<bool>,
    lazy_changes: Cell<u32>,
}

impl CacheShard {
    fn config(&self) -> Result<std::rc::Rc<Config>, ApiError> {
        Ok(config::load(&self.env)?)
    }

    /// Loads the state on first use. `index` is the shard number the call names; an alarm
    /// passes `None` and takes it from the saved state (nothing saved: nothing to do, false).
    async fn ensure_loaded(&self, index: Option<u32>) -> Result<bool, ApiError> {
        if self.shard.borrow().is_some() {
            return Ok(true);
        }
        let config = self.config()?;
        let now = now_ms();
        let mut kv = SqlKv::open(self.state.storage().sql())?;
        let loaded = match (kv.get(STATE_KEY)?, kv.get(LEGACY_POLICY_KEY)?) {
            (Some(bytes), _) => {
                let index = match index {
                    Some(index) => index,
                    None => Shard::snapshot_index(&bytes)?,
                };
                let settings = ShardSettings::new(index, &config);
                Some(Shard::restore(&bytes, settings, now))
            }
            (None, Some(bytes)) => index.map(|index| {
                let settings = ShardSettings::new(index, &config);
                Shard::restore_policy(&bytes, settings, now)
            }),
            (None, None) => None,
        };
        let (shard, deletes) = match (loaded, index) {
            (Some(Ok(restored)), _) => restored,
            (Some(Err(err)), Some(index)) => {
                // Whatever the broken state held stays in KV until KV's own expiration.
                log::event(
                    "cache_shard_state_corrupt",
                    serde_json::json!({ "message": err.to_string() }),
                );
                (Shard::new(ShardSettings::new(index, &config)), Vec::new())
            }
            (Some(Err(err)), None) => {
                // An alarm cannot rebuild a shard it cannot read: wait for a call, which names
                // the shard and starts it afresh (retrying the alarm would not help).
                log::event(
                    "cache_shard_state_corrupt",
                    serde_json::json!({ "message": err.to_string() }),
                );
                return Ok(false);
            }
            (None, Some(index)) => (Shard::new(ShardSettings::new(index, &config)), Vec::new()),
            (None, None) => return Ok(false),
        };
        {
            let mut slot = self.shard.borrow_mut();
            if slot.is_some() {
                return Ok(true); // loaded by a concurrent call meanwhile
            }
            *slot = Some(shard);
        }
        if !self.alarm_known.get() {
            let at = self.state.storage().get_alarm().await?;
            self.alarm_at.set(at.map(|ms| ms.max(0) as u64));
            self.alarm_known.set(true);
        }
        self.persist(&mut kv)?;
        if kv.get(LEGACY_POLICY_KEY)?.is_some() {
            kv.delete(LEGACY_POLICY_KEY)?;
        }
        self.run_deletes(deletes).await;
        Ok(true)
    }

    fn with<T>(&self, f: impl FnOnce(&mut Shard) -> T) -> Result<T, ApiError> {
        match self.shard.borrow_mut().as_mut() {
            Some(shard) => Ok(f(shard)),
            None => Err(ApiError::internal("cache shard used before it was loaded")),
        }
    }

    /// Saves the state when the core asks for it: at once for `Now` (before the KV operations
    /// the call returned), every [`LAZY_SAVE_EVERY`] changes for `Lazy`. A failed save unloads
    /// the state, so the next call starts again from what is durable.
    fn persist(&self, kv: &mut SqlKv) -> Result<(), ApiError> {
        let dirty = self.with(Shard::take_dirty)?;
        let lazy = self.lazy_changes.get() + u32::from(dirty == Durability::Lazy);
        if dirty == Durability::Now || lazy >= LAZY_SAVE_EVERY {
            self.save(kv)?;
        } else {
            self.lazy_changes.set(lazy);
        }
        Ok(())
    }

    fn save(&self, kv: &mut SqlKv) -> Result<(), ApiError> {
        let bytes = self.with(|s| s.snapshot())?;
        if let Err(err) = kv.put(STATE_KEY, &bytes) {
            *self.shard.borrow_mut() = None;
            return Err(err.into());
        }
        self.lazy_changes.set(0);
        Ok(())
    }

    fn sql(&self) -> Result<SqlKv, ApiError> {
        Ok(SqlKv::open(self.state.storage().sql())?)
    }

    /// Deletes keys from KV and reports each outcome to the core; failures are logged and
    /// retried by the alarm.
    async fn run_deletes(&self, deletes: Vec<u64>) {
        if deletes.is_empty() {
            return;
        }
        let faults = self
            .config()
            .map(|c| c.web_cache_faults)
            .unwrap_or_default();
        let namespace = self.env.kv(KV_BINDING);
        for (i, hash) in deletes.into_iter().enumerate() {
            if i >= MAX_KV_OPS_PER_CALL {
                let _ = self.with(|s| s.postpone(hash, now_ms()));
                continue;
            }
            let outcome = match &namespace {
                _ if injected(faults.kv_delete_percent) => Err("injected KV delete failure".into()),
                Ok(namespace) => namespace
                    .delete(&kv_key_for_hash(hash))
                    .await
                    .map_err(|e| e.to_string()),
                Err(err) => Err(err.to_string()),
            };
            if let Err(message) = &outcome {
                log::event(
                    "cache_kv_delete_failed",
                    serde_json::json!({ "key": kv_key_for_hash(hash), "message": message }),
                );
            }
            let _ = self.with(|s| s.deleted(hash, outcome.is_ok(), now_ms()));
        }
        if let Ok(mut kv) = self.sql() {
            if let Err(err) = self.persist(&mut kv) {
                log::event(
                    "cache_shard_save_failed",
                    serde_json::json!({ "message": err.message, "detail": err.detail }),
                );
            }
        }
    }

    /// Writes an admitted value (fault injection: half of the injected failures happen after
    /// the value landed, as a timeout after the write would).
    async fn kv_put(&self, hash: u64, value: &str, ttl_secs: u64) -> Result<(), String> {
        let faults = self
            .config()
            .map(|c| c.web_cache_faults)
            .unwrap_or_default();
        let (before, after) = (
            injected(faults.kv_put_percent / 2),
            injected(faults.kv_put_percent - faults.kv_put_percent / 2),
        );
        if before {
            return Err("injected KV put failure".into());
        }
        self.env
            .kv(KV_BINDING)
            .map_err(|e| e.to_string())?
            .put(&kv_key_for_hash(hash), value)
            .map_err(|e| e.to_string())?
            .expiration_ttl(ttl_secs)
            .execute()
            .await
            .map_err(|e| e.to_string())?;
        if after {
            return Err("injected KV put failure (after the write)".into());
        }
        Ok(())
    }

    /// Sets the alarm to when the core next needs it, if that is earlier than the one set.
    async fn schedule(&self) {
        let Ok(Some(want)) = self.with(|s| s.next_alarm(now_ms())) else {
            return;
        };
        if self.alarm_at.get().is_some_and(|at| at <= want) {
            return;
        }
        let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(want as f64));
        match self
            .state
            .storage()
            .set_alarm(worker::ScheduledTime::new(date))
            .await
        {
            Ok(()) => self.alarm_at.set(Some(want)),
            Err(err) => log::event(
                "cache_shard_alarm_failed",
                serde_json::json!({ "message": err.to_string() }),
            ),
        }
    }

    async fn admit(&self, admit: crate::calls::shard::Admit) -> Result<Admission, ApiError> {
        let size = admit.value.len() as u64;
        let plan = self.with(|s| {
            s.record_hits(&admit.hits, &[]);
            s.admit(admit.hash, size, admit.now_ms, admit.miss)
        })?;
        let mut kv = self.sql()?;
        self.persist(&mut kv)?;
        self.run_deletes(plan.deletes).await;
        let mut stored = false;
        if let Some(ticket) = plan.ticket {
            match self.with(|s| s.start_put(&ticket, now_ms()))? {
                Start::Put => {
                    let ttl_secs = self.with(|s| s.settings().kv_ttl_secs)?;
                    let outcome = self.kv_put(admit.hash, &admit.value, ttl_secs).await;
                    if let Err(message) = &outcome {
                        log::event(
                            "cache_kv_put_failed",
                            serde_json::json!({ "key": kv_key_for_hash(admit.hash), "message": message }),
                        );
                    }
                    let deletes = self.with(|s| s.put_done(&ticket, outcome.is_ok(), now_ms()))?;
                    stored = outcome.is_ok() && deletes.is_empty();
                    self.persist(&mut kv)?;
                    self.run_deletes(deletes).await;
                }
                Start::Refused { deletes } => {
                    self.persist(&mut kv)?;
                    self.run_deletes(deletes).await;
                }
            }
        }
        self.schedule().await;
        Ok(Admission {
            stored,
            evicted: plan.evicted,
        })
    }

    async fn handle(&self, call: ShardCall) -> Result<Response, ApiError> {
        let index = match &call {
            ShardCall::Admit(c) => c.shard,
            ShardCall::Hits(c) => c.shard,
            ShardCall::Stats(c) => c.shard,
        };
        self.ensure_loaded(Some(index)).await?;
        match call {
            ShardCall::Admit(admit) => answer(self.admit(admit).await?),
            ShardCall::Hits(batch) => {
                self.with(|s| s.record_hits(&batch.hits, &batch.stale_hits))?;
                self.persist(&mut self.sql()?)?;
                self.schedule().await;
                answer(())
            }
            ShardCall::Stats(_) => answer(self.with(|s| s.stats())?),
        }
    }

    async fn sweep(&self) -> Result<(), ApiError> {
        if !self.ensure_loaded(None).await? {
            return Ok(());
        }
        let config = self.config()?;
        let settings = ShardSettings::new(self.with(|s| s.settings().index)?, &config);
        let deletes = self.with(|s| s.sweep(settings, now_ms()))?;
        let mut kv = self.sql()?;
        self.persist(&mut kv)?;
        if self.lazy_changes.get() > 0 {
            self.save(&mut kv)?;
        }
        self.run_deletes(deletes).await;
        self.schedule().await;
        Ok(())
    }
}

impl DurableObject for CacheShard {
    fn new(state: State, env: Env) -> Self {
        Self {
            state,
            env,
            shard: RefCell::new(None),
            alarm_at: Cell::new(None),
            alarm_known: Cell::new(false),
            lazy_changes: Cell::new(0),
        }
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        let result = match decode::<ShardCall>(&mut req).await {
            Ok(call) => self.handle(call).await,
            Err(err) => Err(err),
        };
        respond(result)
    }

    async fn alarm(&self) -> worker::Result<Response> {
        // The platform deleted the alarm as it fired it.
        self.alarm_at.set(None);
        self.alarm_known.set(true);
        match self.sweep().await {
            Ok(()) => Response::ok("swept"),
            Err(err) => {
                log::event(
                    "cache_shard_sweep_failed",
                    serde_json::json!({ "message": err.message, "detail": err.detail }),
                );
                // The runtime retries a failed alarm handler, with backoff.
                Err(worker::Error::RustError(err.message))
            }
        }
    }
}
