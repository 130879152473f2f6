//! HTTP handlers of the rollout routes. `POST /api/rollout` runs entirely in the worker (pure
//! core, no storage); stateful runs live in a `RunObject` per (user, run).

use worker::{Request, Response};

use crate::calls::run::{Buffer, Create, Delete, Info, Step};
use crate::calls::user::{AddRun, RemoveRun};
use crate::calls::ObjectName;
use crate::ids;
use crate::rollout::encoding::SAFETENSORS_MEDIA_TYPE;
use crate::rollout::request::{seed_from_entropy, ROLLOUT_BODY_BYTES, RUN_BODY_BYTES};
use crate::rollout::{self, ResponseFormat, RolloutRequest, RunCreateRequest, RunStepRequest};

use super::super::context::RequestCtx;
use super::super::error::ApiError;
use super::super::http;
use super::super::objects::send;

fn pick_seed(given: Option<u64>) -> Result<u64, ApiError> {
    match given {
        Some(seed) => Ok(seed),
        None => Ok(seed_from_entropy(ids::random_seed()?.to_le_bytes())),
    }
}

fn run_object(ctx: &RequestCtx, run_id: &str) -> Result<ObjectName, ApiError> {
    ObjectName::run(&ctx.user, run_id).map_err(|_| ApiError::not_found("run"))
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

/// `{"id": …, <the run's info fields>}`, the object's encoded info spliced in.
fn run_view(id: &str, info: Vec<u8>) -> Result<Response, ApiError> {
    #[derive(serde::Serialize)]
    struct Id<'a> {
        id: &'a str,
    }
    http::json_object_with(200, &Id { id }, &info)
}

pub async fn create_run(mut req: Request, ctx: &RequestCtx) -> Result<Response, ApiError> {
    let body = http::json_body(&mut req, RUN_BODY_BYTES).await?;
    let request = RunCreateRequest::parse(&body)?;
    let id = ids::new_id()?;
    let user = ObjectName::user(&ctx.user)?;
    send(
        &ctx.env,
        &user,
        AddRun {
            run_id: id.clone(),
            now_ms: ctx.now_ms,
        },
    )
    .await?;
    let create = Create {
        user: ctx.user.clone(),
        run_id: id.clone(),
        num_envs: request.num_envs,
        seed: pick_seed(request.seed)?,
        buffer_capacity: request.buffer_capacity,
        now_ms: ctx.now_ms,
    };
    let info = match send(&ctx.env, &run_object(ctx, &id)?, create).await {
        Ok(info) => info,
        Err(err) => {
            // Give the place back; should that fail too, the entry only counts toward the cap.
            let _ = send(&ctx.env, &user, RemoveRun { run_id: id }).await;
            return Err(err);
        }
    };
    let response = run_view(&id, info.into_bytes())?;
    Ok(response.with_status(201))
}

pub async fn get_run(run_id: &str, ctx: &RequestCtx) -> Result<Response, ApiError> {
    let info = send(&ctx.env, &run_object(ctx, run_id)?, Info).await?;
    run_view(run_id, info.into_bytes())
}

pub async fn step_run(
    mut req: Request,
    run_id: &str,
    ctx: &RequestCtx,
) -> Result<Response, ApiError> {
    let body = http::json_body(&mut req, RUN_BODY_BYTES).await?;
    let request = RunStepRequest::parse(&body)?;
    let step = Step {
        steps: request.steps,
        policy: request.policy,
        now_ms: ctx.now_ms,
    };
    let summary = send(&ctx.env, &run_object(ctx, run_id)?, step).await?;
    http::json_bytes(200, summary.into_bytes())
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
    let format = ResponseFormat::negotiate(req.headers().get("accept")?.as_deref());
    let content_type = match format {
        ResponseFormat::Json => "application/json; charset=utf-8",
        ResponseFormat::Safetensors => SAFETENSORS_MEDIA_TYPE,
    };
    let buffer = Buffer {
        limit: usize::try_from(limit).unwrap_or(100),
        format,
    };
    let bytes = send(&ctx.env, &run_object(ctx, run_id)?, buffer).await?;
    let answer = http::bytes(200, content_type, bytes.0)?;
    answer.headers().set("vary", "Accept")?;
    Ok(answer)
}

pub async fn delete_run(run_id: &str, ctx: &RequestCtx) -> Result<Response, ApiError> {
    send(&ctx.env, &run_object(ctx, run_id)?, Delete).await?;
    let remove = RemoveRun {
        run_id: run_id.to_owned(),
    };
    send(&ctx.env, &ObjectName::user(&ctx.user)?, remove).await?;
    http::no_content()
}
