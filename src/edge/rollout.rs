//! HTTP handlers of the rollout routes. `POST /api/rollout` runs entirely in the worker (pure
//! core, no storage); stateful runs live in a `RunObject` per (user, run).

use serde::Serialize;
use worker::{Method, Request, Response, Stub};

use crate::ids;
use crate::rollout::encoding::SAFETENSORS_MEDIA_TYPE;
use crate::rollout::request::seed_from_entropy;
use crate::rollout::{self, ResponseFormat, RolloutRequest, RunCreateRequest, RunStepRequest};

use super::context::RequestCtx;
use super::error::ApiError;
use super::http;
use super::objects::{stub, Call};

/// Largest rollout body: 1024 × 4 initial-state numbers and 131072 actions fit well within it.
const ROLLOUT_BODY_BYTES: usize = 2 * 1024 * 1024;
/// Largest run create/step body (a policy is a few hundred bytes).
const RUN_BODY_BYTES: usize = 16 * 1024;

fn pick_seed(given: Option<u64>) -> Result<u64, ApiError> {
    match given {
        Some(seed) => Ok(seed),
        None => Ok(seed_from_entropy(ids::random_seed()?.to_le_bytes())),
    }
}

fn run_stub(ctx: &RequestCtx, run_id: &str) -> Result<Stub, ApiError> {
    stub(&ctx.env, "RUN", &format!("{}/{run_id}", ctx.user))
}

/// `POST /api/rollout`: JSON by default, a safetensors file for `Accept: application/octet-stream`
/// (see [`ResponseFormat::negotiate`]). Errors are JSON either way.
pub async fn rollout(mut req: Request, _ctx: &RequestCtx) -> Result<Response, ApiError> {
    let format = ResponseFormat::negotiate(req.headers().get("accept")?.as_deref());
    let body = http::json_body(&mut req, ROLLOUT_BODY_BYTES).await?;
    let request = RolloutRequest::parse(&body)?;
    let seed = pick_seed(request.seed)?;
    let response = rollout::rollout(&request, seed)?;
    let answer = match format {
        ResponseFormat::Json => http::json(200, &response)?,
        ResponseFormat::Safetensors => http::bytes(
            200,
            SAFETENSORS_MEDIA_TYPE,
            rollout::encode_safetensors(&response)?,
        )?,
    };
    // The representation depends on `Accept`: tell caches.
    answer.headers().set("vary", "Accept")?;
    Ok(answer)
}

/// What the run object stores at creation (validated by the worker).
#[derive(Serialize, serde::Deserialize)]
pub struct CreateRun {
    pub num_envs: usize,
    pub seed: u64,
    pub buffer_capacity: usize,
}

#[derive(Serialize)]
struct RunView<'a> {
    id: &'a str,
    #[serde(flatten)]
    info: serde_json::Value,
}

pub async fn create_run(mut req: Request, ctx: &RequestCtx) -> Result<Response, ApiError> {
    let body = http::json_body(&mut req, RUN_BODY_BYTES).await?;
    let request = RunCreateRequest::parse(&body)?;
    let id = ids::new_id()?;
    let create = CreateRun {
        num_envs: request.num_envs,
        seed: pick_seed(request.seed)?,
        buffer_capacity: request.buffer_capacity,
    };
    let (_, info): (u16, serde_json::Value) = Call::new(Method::Post, "/create")
        .json(&create)?
        .send_json(&run_stub(ctx, &id)?)
        .await?;
    http::json(201, &RunView { id: &id, info })
}

pub async fn get_run(run_id: &str, ctx: &RequestCtx) -> Result<Response, ApiError> {
    let (_, info): (u16, serde_json::Value) = Call::new(Method::Get, "/info")
        .send_json(&run_stub(ctx, run_id)?)
        .await?;
    http::json(200, &RunView { id: run_id, info })
}

pub async fn step_run(
    mut req: Request,
    run_id: &str,
    ctx: &RequestCtx,
) -> Result<Response, ApiError> {
    let body = http::json_body(&mut req, RUN_BODY_BYTES).await?;
    RunStepRequest::parse(&body)?;
    let (_, summary): (u16, serde_json::Value) = Call::new(Method::Post, "/step")
        .raw(body)
        .send_json(&run_stub(ctx, run_id)?)
        .await?;
    http::json(200, &summary)
}

pub async fn run_buffer(
    req: Request,
    run_id: &str,
    ctx: &RequestCtx,
) -> Result<Response, ApiError> {
    let url = req.url()?;
    http::check_query(&url, &["limit"])?;
    let limit = crate::api::query_int(
        "limit",
        http::query_param(&url, "limit").as_deref(),
        1,
        rollout::buffer::MAX_BUFFER_CAPACITY as i64,
        100,
    )?;
    // The object encodes the answer in the representation the client asked for, and the worker
    // passes its bytes through (up to 65,536 transitions: no second parse and print here).
    let content_type = match ResponseFormat::negotiate(req.headers().get("accept")?.as_deref()) {
        ResponseFormat::Json => "application/json; charset=utf-8",
        ResponseFormat::Safetensors => SAFETENSORS_MEDIA_TYPE,
    };
    let mut res = Call::new(Method::Get, format!("/buffer?limit={limit}"))
        .header("accept", content_type)
        .send(&run_stub(ctx, run_id)?)
        .await?;
    let answer = http::bytes(200, content_type, res.bytes().await?)?;
    answer.headers().set("vary", "Accept")?;
    Ok(answer)
}

pub async fn delete_run(run_id: &str, ctx: &RequestCtx) -> Result<Response, ApiError> {
    Call::new(Method::Delete, "/")
        .send(&run_stub(ctx, run_id)?)
        .await?;
    http::no_content()
}
