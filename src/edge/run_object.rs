//! `RunObject`: one SQLite-backed Durable Object per (user, rollout run), named
//! `"{user}/{run}"`, carrying the run's env states, RNG position and bounded experience buffer
//! between `/step` requests. The maths is [`crate::rollout::RunState`]; this object only loads
//! and stores its two compact encodings (`e`: env state, `b`: buffer).

use std::cell::RefCell;

use worker::{durable_object, DurableObject, Env, Method, Request, Response, State};

use crate::api::ErrorCode;
use crate::rollout::encoding::SAFETENSORS_MEDIA_TYPE;
use crate::rollout::{self, BufferView, ResponseFormat, RunState, RunStepRequest};
use crate::storage::KvStore;

use super::error::ApiError;
use super::http;
use super::objects;
use super::rollout::CreateRun;
use super::storage::SqlKv;

const ENVS_KEY: &str = "e";
const BUFFER_KEY: &str = "b";

#[durable_object]
pub struct RunObject {
    state: State,
    #[allow(dead_code)]
    env: Env,
    run: RefCell<Option<RunState>>,
}

impl RunObject {
    fn kv(&self) -> Result<SqlKv, ApiError> {
        Ok(SqlKv::open(self.state.storage().sql())?)
    }

    /// The run, loaded on first use; 404 when it was never created (or was deleted).
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

    async fn handle(&self, mut req: Request) -> Result<Response, ApiError> {
        let url = req.url()?;
        match (req.method(), url.path()) {
            (Method::Post, "/create") => {
                let create: CreateRun = serde_json::from_slice(&req.bytes().await?)
                    .map_err(|e| ApiError::internal(format!("create body: {e}")))?;
                let run = RunState::new(create.num_envs, create.seed, create.buffer_capacity)?;
                let mut kv = self.kv()?;
                Self::save(&run, &mut kv)?;
                let info = run.info();
                *self.run.borrow_mut() = Some(run);
                http::json(201, &info)
            }
            (Method::Get, "/info") => {
                let info = self.with(|run, _| Ok(run.info()))?;
                http::json(200, &info)
            }
            (Method::Post, "/step") => {
                let body = req.bytes().await?;
                let step = RunStepRequest::parse(&body)?;
                let summary = self.with(|run, kv| {
                    // Step a copy so a failed save leaves the stored and in-memory run in step.
                    let mut next = run.clone();
                    let summary = next.step(step.steps, &step.policy)?;
                    Self::save(&next, kv)?;
                    *run = next;
                    Ok(summary)
                })?;
                http::json(200, &summary)
            }
            (Method::Get, "/buffer") => {
                let limit = http::query_param(&url, "limit")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(100);
                let view = self.with(|run, _| {
                    Ok(BufferView {
                        transitions: run.latest(limit),
                        len: run.buffer().len(),
                        capacity: run.buffer().capacity(),
                    })
                })?;
                // The worker forwards the client's `Accept`; the object encodes, so a large
                // buffer crosses from the object to the worker once, in its final form.
                let accept = req.headers().get("accept")?;
                match ResponseFormat::negotiate(accept.as_deref()) {
                    ResponseFormat::Json => http::json(200, &view),
                    ResponseFormat::Safetensors => http::bytes(
                        200,
                        SAFETENSORS_MEDIA_TYPE,
                        rollout::encode_buffer_safetensors(&view)?,
                    ),
                }
            }
            (Method::Delete, "/") => {
                self.with(|_, _| Ok(()))?;
                self.kv()?.wipe()?;
                *self.run.borrow_mut() = None;
                http::no_content()
            }
            _ => Err(ApiError::new(ErrorCode::NotFound, "no such run operation")),
        }
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

    async fn fetch(&self, req: Request) -> worker::Result<Response> {
        objects::respond(self.handle(req).await)
    }
}
