//! Web search through the SearXNG-compatible upstream behind the two-level cache:
//! L1 in this isolate ([`L1Cache`], bounded by bytes), L2 in Workers KV bounded by the sharded
//! policy objects ([`super::cache_shard`]).
//!
//! - Hit (L1 or fresh KV value): answered without waiting on any object; the hit goes into this
//!   isolate's lossy read buffer, drained to the shard in batches in `wait_until`.
//! - Stale (past TTL, within the stale-while-revalidate window): answered at once, refreshed in
//!   `wait_until`.
//! - Miss: concurrent identical misses in this isolate share one upstream call (single-flight);
//!   the result is admitted (or not) by the shard, which evicts first; then the value goes to KV.
//! - Upstream failure or timeout: a stored value up to `MAX_STALE_ON_ERROR_MS` old is served as
//!   `stale` (stale-if-error); otherwise 502/504. Nothing is cached from a failed call.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use futures_util::future::{select, Either};
use serde::Serialize;
use worker::{AbortController, Delay, Env, Fetch, Method, Request, RequestInit, Response};

use crate::config::Config;
use crate::search::web::l1::L1Cache;
use crate::search::web::normalize::{key_hash, kv_key_for_hash, normalize_query, shard_of};
use crate::search::web::policy::PolicyStats;
use crate::search::web::read_buffer::ReadBuffer;
use crate::search::web::upstream::{
    build_upstream_url, parse_searxng, CachedResults, Freshness, WebResult, MAX_CACHED_RESULTS,
    MAX_UPSTREAM_BODY_BYTES,
};
use crate::search::web::WebSearchError;

use crate::calls::shard::{Admit, Hits, Stats};
use crate::calls::ObjectName;

use super::super::context::RequestCtx;
use super::super::error::ApiError;
use super::super::http;
use super::super::log;
use super::super::objects::send;
use super::search::not_configured;
use crate::search::query::SearchQuery;

/// The KV namespace binding holding cached values.
pub const KV_BINDING: &str = "SEARCH_CACHE";
/// Upstream call budget (connect + body), ms.
pub const UPSTREAM_TIMEOUT_MS: u64 = 4000;
/// A stored value this old may still be served when the upstream fails.
pub const MAX_STALE_ON_ERROR_MS: u64 = 24 * 3600 * 1000;
/// Bytes of results the isolate keeps in L1 (an isolate has 128 MB).
pub const L1_MAX_BYTES: usize = 8 * 1024 * 1024;
/// Hits buffered per shard before a batch goes to the shard (and the buffer's hard size).
const READ_BUFFER_DRAIN_AT: usize = 64;
const READ_BUFFER_CAPACITY: usize = 1024;
const READ_BUFFER_MAX_AGE_MS: u64 = 2000;

/// Fault injection for the tests (`FAULT_WEB_CACHE`, honoured only with `DEV_MODE`): true
/// `percent` % of the time.
pub fn injected(percent: u8) -> bool {
    percent > 0 && crate::ids::random_seed().is_ok_and(|r| r % 100 < u64::from(percent))
}

thread_local! {
    static CANCEL_FAULTS_USED: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// `Some(freeze)` when this miss is one the fault injection cancels (`drop_miss`, then
/// `freeze_miss`, counted per isolate).
fn take_cancel_fault(config: &Config) -> Option<bool> {
    let faults = config.web_cache_faults;
    let (drops, freezes) = (
        u32::from(faults.drop_misses),
        u32::from(faults.freeze_misses),
    );
    CANCEL_FAULTS_USED.with(|used| {
        let n = used.get();
        if n >= drops + freezes {
            return None;
        }
        used.set(n + 1);
        Some(n >= drops)
    })
}

/// Policy shards for a configuration: one per 1000 entries, 1 to 16. One shard object serves on
/// the order of a thousand admissions per second; hits never reach it one by one.
pub fn shard_count(config: &Config) -> u32 {
    (config.cache_max_entries / 1000).clamp(1, 16) as u32
}

/// A miss being fetched by one request of this isolate. Workers does not let one request await
/// a promise driven by another request's I/O, so followers poll the flight on their own timer
/// instead of sharing the leader's future.
enum Flight {
    Pending,
    Done(Result<CachedResults, ApiError>),
}

/// How often a follower checks the leader's flight, ms.
const FLIGHT_POLL_MS: u64 = 15;

thread_local! {
    static L1: RefCell<Option<L1Cache>> = const { RefCell::new(None) };
    static READ_BUFFERS: RefCell<HashMap<u32, ReadBuffer>> = RefCell::new(HashMap::new());
    static IN_FLIGHT: RefCell<HashMap<u64, (Flight, usize)>> = RefCell::new(HashMap::new());
}

/// L1 is keyed by the normalized query itself (it checks each value's query against its key).
fn l1_get(normalized: &str, now_ms: u64, ttl_ms: u64) -> Option<CachedResults> {
    L1.with(|l1| {
        let mut l1 = l1.borrow_mut();
        let cache = l1.get_or_insert_with(|| L1Cache::new(L1_MAX_BYTES, ttl_ms));
        cache.get(normalized, now_ms).cloned()
    })
}

fn l1_put(normalized: &str, value: CachedResults, ttl_ms: u64) {
    L1.with(|l1| {
        let mut l1 = l1.borrow_mut();
        let cache = l1.get_or_insert_with(|| L1Cache::new(L1_MAX_BYTES, ttl_ms));
        cache.put(normalized, value);
    })
}

#[derive(Serialize)]
struct WebResponse<'a> {
    query: &'a str,
    source: &'static str,
    cache: &'static str,
    results: &'a [WebResult],
}

/// The answer; `tier` (`l1`, `kv` or `upstream`) goes into `x-cache-tier` for operators.
fn answer(
    query: &SearchQuery,
    cache: &'static str,
    tier: &str,
    value: &CachedResults,
) -> Result<Response, ApiError> {
    let results = &value.results[..value.results.len().min(query.limit)];
    let response = http::json(
        200,
        &WebResponse {
            query: &query.q,
            source: "web",
            cache,
            results,
        },
    )?;
    response.headers().set("x-cache-tier", tier)?;
    Ok(response)
}

/// Records a hit in the isolate's read buffer; a full batch goes to the shard in the background.
fn record_hit(ctx: &RequestCtx, shard: u32, hash: u64, stale: bool) {
    let batch = READ_BUFFERS.with(|buffers| {
        let mut buffers = buffers.borrow_mut();
        let buffer = buffers.entry(shard).or_insert_with(|| {
            ReadBuffer::new(
                READ_BUFFER_CAPACITY,
                READ_BUFFER_DRAIN_AT,
                READ_BUFFER_MAX_AGE_MS,
            )
        });
        // Stale hits count as hits for frequency; they are also reported as stale below.
        buffer.push(hash, ctx.now_ms);
        buffer.should_drain(ctx.now_ms).then(|| buffer.drain())
    });
    let stale_hits = if stale { vec![hash] } else { Vec::new() };
    if batch.is_none() && stale_hits.is_empty() {
        return;
    }
    let hits = batch.unwrap_or_default();
    let env = ctx.env.clone();
    ctx.exec.wait_until(async move {
        let sent = send(&env, &ObjectName::shard(shard), Hits { hits, stale_hits }).await;
        if let Err(err) = sent {
            log::event(
                "cache_hits_flush_failed",
                serde_json::json!({ "message": err.message }),
            );
        }
    });
}

/// Fetches from the upstream within the timeout and parses the answer.
async fn fetch_upstream(base: &str, normalized: &str) -> Result<Vec<WebResult>, ApiError> {
    let url = build_upstream_url(base, normalized)?;
    let controller = AbortController::default();
    let signal = controller.signal();
    let call = async {
        let mut init = RequestInit::new();
        init.with_method(Method::Get);
        let headers = worker::Headers::new();
        headers.set("accept", "application/json")?;
        init.with_headers(headers);
        let request = Request::new_with_init(&url, &init)?;
        let mut res = Fetch::Request(request)
            .send_with_signal(&signal)
            .await
            .map_err(|e| WebSearchError::Upstream(format!("upstream unreachable: {e}")))?;
        if !(200..300).contains(&res.status_code()) {
            return Err(WebSearchError::Upstream(format!(
                "upstream answered HTTP {}",
                res.status_code()
            ))
            .into());
        }
        if let Some(length) = res
            .headers()
            .get("content-length")?
            .and_then(|v| v.parse::<usize>().ok())
        {
            if length > MAX_UPSTREAM_BODY_BYTES {
                return Err(WebSearchError::Upstream(format!(
                    "upstream body of {length} bytes is too large"
                ))
                .into());
            }
        }
        let body = res
            .bytes()
            .await
            .map_err(|e| WebSearchError::Upstream(format!("upstream body unreadable: {e}")))?;
        Ok::<_, ApiError>(parse_searxng(&body, MAX_CACHED_RESULTS)?)
    };
    let timeout = Delay::from(Duration::from_millis(UPSTREAM_TIMEOUT_MS));
    let outcome = match select(Box::pin(call), timeout).await {
        Either::Left((result, _)) => result,
        Either::Right(_) => {
            controller.abort();
            Err(WebSearchError::UpstreamTimeout {
                timeout_ms: UPSTREAM_TIMEOUT_MS,
            }
            .into())
        }
    };
    outcome
}

/// Upstream fetch, admission by the shard, then the KV write (only when admitted).
async fn fetch_and_store(
    env: Env,
    config: Rc<Config>,
    normalized: String,
    hash: u64,
    now_ms: u64,
    miss: bool,
) -> Result<CachedResults, ApiError> {
    let base = config
        .search_upstream_url
        .clone()
        .ok_or_else(not_configured)?;
    let results = fetch_upstream(&base, &normalized).await?;
    let value = CachedResults {
        query: normalized,
        results,
        fetched_at_ms: now_ms,
        degraded: false,
    };
    let bytes = value.encode();
    let shard = shard_of(hash, shard_count(&config));
    let admit = Admit {
        hash,
        size: bytes.len() as u64,
        now_ms,
        miss,
    };
    if injected(config.web_cache_faults.admit_percent) {
        return Err(ApiError::internal("injected admit failure"));
    }
    let admission = send(&env, &ObjectName::shard(shard), admit).await?;
    let key = kv_key_for_hash(hash);
    if admission.admitted {
        // KV also expires the value on its own once even stale-if-error could not use it.
        let ttl_secs = (config.cache_ttl_seconds + MAX_STALE_ON_ERROR_MS / 1000).max(60);
        if injected(config.web_cache_faults.kv_put_percent) {
            return Err(ApiError::internal("injected KV put failure"));
        }
        env.kv(KV_BINDING)?
            .put_bytes(&key, &bytes)?
            .expiration_ttl(ttl_secs)
            .execute()
            .await?;
    }
    l1_put(&value.query, value.clone(), config.cache_ttl_seconds * 1000);
    Ok(value)
}

/// One upstream call per key at a time in this isolate; later callers wait for the first's result.
async fn single_flight(
    ctx: &RequestCtx,
    normalized: &str,
    hash: u64,
    miss: bool,
) -> Result<CachedResults, ApiError> {
    let leader = IN_FLIGHT.with(|f| {
        let mut flights = f.borrow_mut();
        match flights.get_mut(&hash) {
            Some((_, waiters)) => {
                *waiters += 1;
                false
            }
            None => {
                flights.insert(hash, (Flight::Pending, 0));
                true
            }
        }
    });
    if leader {
        let result = fetch_and_store(
            ctx.env.clone(),
            ctx.config.clone(),
            normalized.to_owned(),
            hash,
            ctx.now_ms,
            miss,
        )
        .await;
        IN_FLIGHT.with(|f| {
            let mut flights = f.borrow_mut();
            match flights.get(&hash) {
                Some((_, 0)) | None => {
                    flights.remove(&hash);
                }
                Some((_, waiters)) => {
                    let waiters = *waiters;
                    flights.insert(hash, (Flight::Done(result.clone()), waiters));
                }
            }
        });
        return result;
    }
    let deadline = worker::Date::now().as_millis() + UPSTREAM_TIMEOUT_MS + 2000;
    loop {
        Delay::from(Duration::from_millis(FLIGHT_POLL_MS)).await;
        let done = IN_FLIGHT.with(|f| {
            let mut flights = f.borrow_mut();
            let (result, last) = match flights.get_mut(&hash) {
                Some((Flight::Done(result), waiters)) => {
                    *waiters -= 1;
                    (Some(result.clone()), *waiters == 0)
                }
                Some((Flight::Pending, _)) => (None, false),
                // The flight vanished (should not happen): fetch ourselves.
                None => (
                    Some(Err(ApiError::new(
                        crate::api::ErrorCode::UpstreamError,
                        "retry",
                    ))),
                    false,
                ),
            };
            if last {
                flights.remove(&hash);
            }
            result
        });
        if let Some(result) = done {
            return result;
        }
        if worker::Date::now().as_millis() > deadline {
            return Err(WebSearchError::UpstreamTimeout {
                timeout_ms: UPSTREAM_TIMEOUT_MS,
            }
            .into());
        }
    }
}

pub async fn search(query: SearchQuery, ctx: &RequestCtx) -> Result<Response, ApiError> {
    if ctx.config.search_upstream_url.is_none() {
        return Err(not_configured());
    }
    let normalized = normalize_query(&query.q)?;
    let hash = key_hash(&normalized);
    let key = kv_key_for_hash(hash);
    let shard = shard_of(hash, shard_count(&ctx.config));
    let ttl_ms = ctx.config.cache_ttl_seconds * 1000;
    // Stale-while-revalidate window: one more TTL.
    let stale_ms = ttl_ms;

    if let Some(value) = l1_get(&normalized, ctx.now_ms, ttl_ms) {
        if value.matches(&normalized)
            && Freshness::of(ctx.now_ms, value.fetched_at_ms, ttl_ms, stale_ms) == Freshness::Fresh
        {
            record_hit(ctx, shard, hash, false);
            return answer(&query, "hit", "l1", &value);
        }
    }
    let stored = ctx
        .env
        .kv(KV_BINDING)?
        .get(&key)
        .bytes()
        .await?
        .and_then(|bytes| CachedResults::decode(&bytes).ok())
        .filter(|value| value.matches(&normalized));
    if let Some(value) = &stored {
        match Freshness::of(ctx.now_ms, value.fetched_at_ms, ttl_ms, stale_ms) {
            Freshness::Fresh => {
                l1_put(&normalized, value.clone(), ttl_ms);
                record_hit(ctx, shard, hash, false);
                return answer(&query, "hit", "kv", value);
            }
            Freshness::Stale => {
                record_hit(ctx, shard, hash, true);
                let refresh = fetch_and_store(
                    ctx.env.clone(),
                    ctx.config.clone(),
                    normalized.clone(),
                    hash,
                    ctx.now_ms,
                    false,
                );
                ctx.exec.wait_until(async move {
                    if let Err(err) = refresh.await {
                        log::event(
                            "cache_refresh_failed",
                            serde_json::json!({ "message": err.message }),
                        );
                    }
                });
                return answer(&query, "stale", "kv", value);
            }
            Freshness::Expired => {}
        }
    }
    let fetched = match take_cancel_fault(&ctx.config) {
        None => single_flight(ctx, &normalized, hash, true).await,
        Some(freeze) => {
            let flight = Box::pin(single_flight(ctx, &normalized, hash, true));
            let timer = Delay::from(Duration::from_millis(200));
            match select(flight, timer).await {
                Either::Left((result, _)) => result,
                Either::Right((_, flight)) => {
                    if freeze {
                        std::mem::forget(flight);
                    } else {
                        drop(flight);
                    }
                    return Err(ApiError::internal("injected cancellation of a miss"));
                }
            }
        }
    };
    match fetched {
        Ok(value) => answer(&query, "miss", "upstream", &value),
        Err(err) => match stored {
            Some(value)
                if Freshness::usable_on_error(
                    ctx.now_ms,
                    value.fetched_at_ms,
                    ttl_ms,
                    MAX_STALE_ON_ERROR_MS,
                ) =>
            {
                log::event(
                    "cache_stale_if_error",
                    serde_json::json!({ "message": err.message }),
                );
                answer(&query, "stale", "kv", &value)
            }
            _ => Err(err),
        },
    }
}

/// `GET /api/search/cache/stats`: the shards' counters summed. This isolate's buffered hits are
/// delivered first, so a client that just got a hit sees it counted.
pub async fn cache_stats(ctx: &RequestCtx) -> Result<Response, ApiError> {
    let pending: Vec<(u32, Vec<u64>)> = READ_BUFFERS.with(|buffers| {
        buffers
            .borrow_mut()
            .iter_mut()
            .filter(|(_, b)| !b.is_empty())
            .map(|(shard, b)| (*shard, b.drain()))
            .collect()
    });
    for (shard, hits) in pending {
        let hits = Hits {
            hits,
            stale_hits: Vec::new(),
        };
        send(&ctx.env, &ObjectName::shard(shard), hits).await?;
    }
    let mut total = PolicyStats::default();
    for shard in 0..shard_count(&ctx.config) {
        let stats = send(&ctx.env, &ObjectName::shard(shard), Stats).await?;
        total.add(&stats);
    }
    http::json(200, &total)
}
