//! `RunObject`: one SQLite-backed Durable Object per (user, rollout run), named
//! `"{user}/{run}"`, carrying the run's env states, RNG position and bounded experience buffer
//! between steps. The maths is [`crate::rollout::RunState`]; this object decodes a [`RunCall`],
//! loads and stores the run's two compact encodings (`e`: env state, `b`: buffer), and deletes
//! the run when it has been idle for `RUN_IDLE_EXPIRY_SECONDS` (default 7 days; its alarm, moved
//! by every create and step).

use std::cell::RefCell;

use worker::{durable_object, DurableObject, Env, Request, Response, State};

use crate::calls::run::{EncodedBuffer, RunCall};
use crate::calls::user::RemoveRun;
use crate::calls::{Encoded, ObjectName};
use crate::rollout::{self, BufferView, ResponseFormat, RunState};
use crate::storage::KvStore;

use super::super::config;
use super::super::error::ApiError;
use super::super::log;
use super::super::storage::SqlKv;
use super::{answer, decode, respond, send};

const ENVS_KEY: &str = "e";
const OWNER_KEY: &str = "o";
const BUFFER_KEY: &str = "b";

#[durable_object]
pub struct RunObject {
    state: State,
    env: Env,
    run: RefCell<Option<RunState>>,
}

impl RunObject {
    fn kv(&self) -> Result<SqlKv, ApiError> {
        Ok(SqlKv::open(self.state.storage().sql())?)
    }

    /// The run, loaded on first use; 404 when it was never created (or was deleted or expired).
    fn with<T>(
        &self,
        f: impl FnOnce(&mut RunState, &mut SqlKv) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let mut kv = self.kv()?;
        let mut slot = self.run.borrow_mut();
        if slot.is_none() {
            let (Some(envs), Some(buffer)) = (kv.get(ENVS_KEY)?, kv.get(BUFFER_KEY)?) else {
                return Err(ApiError::not_found("run"));
            };
            *slot = Some(RunState::decode_parts(&envs, &buffer)?);
        }
        match slot.as_mut() {
            Some(run) => f(run, &mut kv),
            None => Err(ApiError::not_found("run")),
        }
    }

    fn save(run: &RunState, kv: &mut SqlKv) -> Result<(), ApiError> {
        kv.put(ENVS_KEY, &run.encode_envs())?;
        kv.put(BUFFER_KEY, &run.buffer().encode())?;
        Ok(())
    }

    /// Moves the idle-expiry alarm to `RUN_IDLE_EXPIRY_SECONDS` after `now_ms`. A failure is logged:
    /// the run is saved, and the next step tries again.
    async fn keep_alive(&self, now_ms: u64) {
        let expiry_ms = config::load(&self.env)
            .map_or(7 * 24 * 3600, |c| c.run_idle_expiry_seconds)
            .saturating_mul(1000);
        let at = now_ms.saturating_add(expiry_ms);
        let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(at as f64));
        if let Err(err) = self
            .state
            .storage()
            .set_alarm(worker::ScheduledTime::new(date))
            .await
        {
            log::event(
                "run_expiry_alarm_failed",
                serde_json::json!({ "error": err.to_string() }),
            );
        }
    }

    async fn handle(&self, call: RunCall) -> Result<Response, ApiError> {
        match call {
            RunCall::Create(create) => {
                let run = RunState::new(create.num_envs, create.seed, create.buffer_capacity)?;
                let mut kv = self.kv()?;
                Self::save(&run, &mut kv)?;
                kv.put(
                    OWNER_KEY,
                    format!("{}/{}", create.user, create.run_id).as_bytes(),
                )?;
                let info = run.info();
                *self.run.borrow_mut() = Some(run);
                self.keep_alive(create.now_ms).await;
                answer(Encoded::new(&info)?)
            }
            RunCall::Info(_) => {
                let info = self.with(|run, _| Ok(run.info()))?;
                answer(Encoded::new(&info)?)
            }
            RunCall::Step(step) => {
                let summary = self.with(|run, kv| {
                    // Step a copy so a failed save leaves the stored and in-memory run in step.
                    let mut next = run.clone();
                    let summary = next.step(step.steps, &step.policy)?;
                    Self::save(&next, kv)?;
                    *run = next;
                    Ok(summary)
                })?;
                self.keep_alive(step.now_ms).await;
                answer(Encoded::new(&summary)?)
            }
            RunCall::Buffer(buffer) => {
                let view = self.with(|run, _| {
                    Ok(BufferView {
                        transitions: run.latest(buffer.limit),
                        len: run.buffer().len(),
                        capacity: run.buffer().capacity(),
                    })
                })?;
                // The object encodes, so a large buffer crosses from the object to the worker
                // once, in its final form, and the worker passes the bytes through.
                let bytes = match buffer.format {
                    ResponseFormat::Json => serde_json::to_vec(&view)
                        .map_err(|e| ApiError::internal(format!("encode buffer: {e}")))?,
                    ResponseFormat::Safetensors => rollout::encode_buffer_safetensors(&view)?,
                };
                answer(EncodedBuffer(bytes))
            }
            RunCall::Delete(_) => {
                self.with(|_, _| Ok(()))?;
                self.wipe().await?;
                answer(())
            }
        }
    }

    async fn wipe(&self) -> Result<(), ApiError> {
        self.kv()?.wipe()?;
        *self.run.borrow_mut() = None;
        self.state.storage().delete_alarm().await?;
        Ok(())
    }
}

impl DurableObject for RunObject {
    fn new(state: State, env: Env) -> Self {
        Self {
            state,
            env,
            run: RefCell::new(None),
        }
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        let result = match decode::<RunCall>(&mut req).await {
            Ok(call) => self.handle(call).await,
            Err(err) => Err(err),
        };
        respond(result)
    }

    /// The idle-expiry alarm: every create and step moves it, so firing means the run was idle.
    /// The owner's registry is told first, so a failure leaves the run to be retried, never a
    /// registry entry without its run.
    async fn alarm(&self) -> worker::Result<Response> {
        let expire = async {
            let owner = self.kv()?.get(OWNER_KEY)?;
            let owner = owner.and_then(|b| String::from_utf8(b).ok());
            if let Some((user, run_id)) = owner.as_deref().and_then(|o| o.split_once('/')) {
                let run_id = run_id.to_owned();
                send(&self.env, &ObjectName::user(user)?, RemoveRun { run_id }).await?;
            }
            self.wipe().await
        };
        match expire.await {
            Ok(()) => Response::ok("expired"),
            Err(err) => {
                log::event(
                    "run_expiry_failed",
                    serde_json::json!({ "message": err.message, "detail": err.detail }),
                );
                Err(worker::Error::RustError(err.message))
            }
        }
    }
}
