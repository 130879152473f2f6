//! Web search through the SearXNG-compatible upstream behind the two-level cache: L1 in this
//! isolate ([`L1Cache`], bounded by bytes), L2 in Workers KV bounded by the cache shard objects
//! (`objects::shard`). The decisions are the core's; this file reads state, asks, and carries
//! the answer out.
//!
//! - Lookup ([`decide`]): a fresh L1 or KV value is answered without waiting on any object (the
//!   hit goes into this isolate's lossy read buffer, drained to the shard in batches in
//!   `wait_until`); a stale one is answered at once and refreshed in `wait_until`; otherwise the
//!   upstream is asked.
//! - Miss: concurrent identical misses in this isolate share one upstream call ([`Flights`]). The
//!   leading request runs the fetch as a `wait_until` task of its own, so a client that goes
//!   away does not take the fetch with it, and every request waits by polling the table. The
//!   answer goes out as soon as the upstream's results are in hand; storing them (the shard's
//!   admission and KV write) follows in the background, and its failure is only logged.
//! - Upstream failure or timeout: a stored value within the stale-if-error window is served as
//!   `stale`; otherwise 502/504. Nothing failed is cached; degraded answers (no usable results,
//!   failed engines) live briefly in L1 only.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use futures_util::future::{select, Either};
use serde::Serialize;
use worker::{AbortController, Delay, Env, Fetch, Method, Request, RequestInit, Response};

use crate::calls::shard::{Admit, Hits, Stats};
use crate::calls::ObjectName;
use crate::config::Config;
use crate::search::query::SearchQuery;
use crate::search::web::flight::{Flights, Join, Poll, Ticket};
use crate::search::web::l1::L1Cache;
use crate::search::web::lookup::{decide, CacheTimes, Decision, Stored};
use crate::search::web::normalize::{key_hash, kv_key_for_hash, normalize_query, shard_of};
use crate::search::web::policy::PolicyStats;
use crate::search::web::read_buffer::{self, ReadBuffer};
use crate::search::web::shard::shard_count;
use crate::search::web::upstream::{
    build_upstream_url, parse_searxng_answer, CachedResults, WebResult, MAX_CACHED_RESULTS,
    MAX_UPSTREAM_BODY_BYTES,
};
use crate::search::web::WebSearchError;

use super::super::context::RequestCtx;
use super::super::error::ApiError;
use super::super::http;
use super::super::log;
use super::super::objects::send;

/// The KV namespace binding holding cached values.
pub const KV_BINDING: &str = "SEARCH_CACHE";
/// The answer while `SEARCH_UPSTREAM_URL` is unset (503 `not_configured`).
fn not_configured() -> ApiError {
    WebSearchError::NotConfigured("SEARCH_UPSTREAM_URL is not set".into()).into()
}

/// Upstream call budget (connect + body), ms.
pub const UPSTREAM_TIMEOUT_MS: u64 = 4000;
/// Bytes of results the isolate keeps in L1 (an isolate has 128 MB).
pub const L1_MAX_BYTES: usize = 8 * 1024 * 1024;
/// A fetch that has not finished this long after it started counts as lost: the next request
/// (or waiter) leads a new one. The upstream's own budget plus a margin.
const FLIGHT_LEAD_MS: u64 = UPSTREAM_TIMEOUT_MS + 1000;
/// A finished fetch's result waits this long for waiters that have not polled it yet.
const FLIGHT_LINGER_MS: u64 = 2000;
/// How often a waiting request checks its flight, ms.
const FLIGHT_POLL_MS: u64 = 15;
/// The longest a request waits for a result (two fetches), then 504.
const FLIGHT_WAIT_MS: u64 = 2 * FLIGHT_LEAD_MS;

type FetchResult = Result<CachedResults, ApiError>;

/// What the web search needs from its caller: the bindings, the config, the request's clock
/// reading, and a way to run work past the answer. A route handler passes its request's
/// `wait_until`; the tab's object (grounding a reply) runs it on the object's own event loop,
/// which outlives any one request.
pub struct WebCtx<'a> {
    pub env: &'a Env,
    pub config: &'a Rc<Config>,
    pub now_ms: u64,
    pub background: Background<'a>,
}

/// Where background work (hit batches, fetches, refreshes) runs.
pub enum Background<'a> {
    /// The request's `wait_until`.
    Request(&'a worker::Context),
    /// A Durable Object: its event loop keeps the task.
    Object,
}

impl Background<'_> {
    /// Runs `task` in the background.
    pub fn spawn(&self, task: impl std::future::Future<Output = ()> + 'static) {
        match self {
            Self::Request(exec) => exec.wait_until(task),
            Self::Object => worker::wasm_bindgen_futures::spawn_local(task),
        }
    }
}

impl<'a> WebCtx<'a> {
    /// The context of a route handler.
    pub fn for_request(ctx: &'a RequestCtx) -> Self {
        Self {
            env: &ctx.env,
            config: &ctx.config,
            now_ms: ctx.now_ms,
            background: Background::Request(&ctx.exec),
        }
    }
}

/// A web search's results with how they were served.
pub struct WebAnswer {
    /// `hit`, `stale` or `miss` (the contract's `cache` field).
    pub cache: &'static str,
    /// `l1`, `kv` or `upstream` (`x-cache-tier`).
    pub tier: &'static str,
    pub value: CachedResults,
}

thread_local! {
    static L1: RefCell<Option<L1Cache>> = const { RefCell::new(None) };
    static READ_BUFFERS: RefCell<HashMap<u32, ReadBuffer>> = RefCell::new(HashMap::new());
    static FLIGHTS: RefCell<Flights<FetchResult>> =
        RefCell::new(Flights::new(FLIGHT_LEAD_MS, FLIGHT_LINGER_MS));
    static CANCEL_FAULTS_USED: Cell<u32> = const { Cell::new(0) };
}

fn clock_ms() -> u64 {
    worker::Date::now().as_millis()
}

/// Fault injection for the tests (`FAULT_WEB_CACHE`, only valid with `DEV_MODE`): true
/// `percent` % of the time.
pub fn injected(percent: u8) -> bool {
    percent > 0 && crate::ids::random_seed().is_ok_and(|r| r % 100 < u64::from(percent))
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
fn record_hit(ctx: &WebCtx<'_>, shard: u32, hash: u64, stale: bool) {
    let batch = READ_BUFFERS.with(|buffers| {
        let mut buffers = buffers.borrow_mut();
        let buffer = buffers.entry(shard).or_insert_with(|| {
            ReadBuffer::new(
                read_buffer::CAPACITY,
                read_buffer::DRAIN_AT,
                read_buffer::MAX_AGE_MS,
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
    ctx.background.spawn(async move {
        let batch = Hits {
            shard,
            hits,
            stale_hits,
        };
        if let Err(err) = send(&env, &ObjectName::shard(shard), batch).await {
            log::event(
                "cache_hits_flush_failed",
                serde_json::json!({ "message": err.message }),
            );
        }
    });
}

/// Fetches from the upstream within the timeout and parses the answer.
async fn fetch_upstream(base: &str, normalized: &str, now_ms: u64) -> FetchResult {
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
        let parsed = parse_searxng_answer(&body, MAX_CACHED_RESULTS)?;
        Ok::<_, ApiError>(CachedResults {
            query: normalized.to_owned(),
            results: parsed.results,
            fetched_at_ms: now_ms,
            degraded: parsed.engines_failed,
        })
    };
    let timeout = Delay::from(Duration::from_millis(UPSTREAM_TIMEOUT_MS));
    // Bound to a local so the call (which borrows `url` and `signal`) is dropped first.
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

/// Offers a fetched value to its shard, which admits it (or not) and writes KV itself. Runs in
/// the background; the results were answered already, so a failure is only logged.
async fn store(env: &Env, config: &Config, hash: u64, value: &CachedResults, miss: bool) {
    let shard = shard_of(hash, shard_count(config.cache_max_entries));
    // The isolate's buffered hits for this shard ride along (lost with the call if it fails,
    // like any batch: the buffer is lossy by design).
    let hits = READ_BUFFERS.with(|buffers| {
        buffers
            .borrow_mut()
            .get_mut(&shard)
            .map(ReadBuffer::drain)
            .unwrap_or_default()
    });
    let admit = Admit {
        shard,
        hash,
        value: String::from_utf8_lossy(&value.encode()).into_owned(),
        now_ms: value.fetched_at_ms,
        miss,
        hits,
    };
    let sent = if injected(config.web_cache_faults.admit_percent) {
        Err(ApiError::internal("injected admit failure"))
    } else {
        send(env, &ObjectName::shard(shard), admit).await
    };
    if let Err(err) = sent {
        log::event(
            "cache_admit_failed",
            serde_json::json!({ "message": err.message, "detail": err.detail }),
        );
    }
}

/// Ends a flight entry when the fetch task is dropped before it finished.
struct FetchGuard {
    ticket: Ticket,
    finished: bool,
}

impl Drop for FetchGuard {
    fn drop(&mut self) {
        if !self.finished {
            FLIGHTS.with(|f| f.borrow_mut().abandon(&self.ticket));
        }
    }
}

/// Starts the fetch of a flight this request leads, as a background task of the request, so it
/// runs to its end even if the client goes away: upstream, result to the waiters and L1, then
/// the shard's admission.
fn start_fetch(ctx: &WebCtx<'_>, ticket: Ticket, normalized: &str, miss: bool) {
    let env = ctx.env.clone();
    let config = ctx.config.clone();
    let normalized = normalized.to_owned();
    let now_ms = ctx.now_ms;
    ctx.background.spawn(async move {
        let mut guard = FetchGuard {
            ticket,
            finished: false,
        };
        let result = match config.search_upstream_url.as_deref() {
            Some(base) => fetch_upstream(base, &normalized, now_ms).await,
            None => Err(not_configured()),
        };
        FLIGHTS.with(|f| {
            f.borrow_mut()
                .complete(&guard.ticket, result.clone(), clock_ms())
        });
        guard.finished = true;
        let ttl_ms = config.cache_ttl_seconds * 1000;
        match result {
            Ok(value) => {
                l1_put(&value.query, value.clone(), ttl_ms);
                // A degraded answer is not worth a KV slot; L1 keeps it briefly.
                if !value.is_degraded() {
                    store(&env, &config, guard.ticket.hash, &value, miss).await;
                }
            }
            Err(err) if !miss => log::event(
                "cache_refresh_failed",
                serde_json::json!({ "message": err.message }),
            ),
            Err(_) => {}
        }
    });
}

/// Leaves the flight when the waiting request ends without its result (timeout, or its future
/// dropped because the request was cancelled).
struct Waiter {
    ticket: Ticket,
    done: bool,
}

impl Drop for Waiter {
    fn drop(&mut self) {
        if !self.done {
            FLIGHTS.with(|f| f.borrow_mut().leave(&self.ticket));
        }
    }
}

/// One upstream call per key at a time in this isolate: lead or follow the key's flight, then
/// poll it on this request's own timer.
async fn fetch_shared(ctx: &WebCtx<'_>, normalized: &str, hash: u64) -> FetchResult {
    let started = clock_ms();
    let role = FLIGHTS.with(|f| f.borrow_mut().join(hash, started));
    let ticket = match role {
        Join::Lead(ticket) => {
            start_fetch(ctx, ticket, normalized, true);
            ticket
        }
        Join::Follow(ticket) => ticket,
    };
    let mut waiter = Waiter {
        ticket,
        done: false,
    };
    loop {
        let now = clock_ms();
        let poll = FLIGHTS.with(|f| f.borrow_mut().poll(&mut waiter.ticket, now));
        match poll {
            Poll::Ready(result) => {
                waiter.done = true;
                return result;
            }
            Poll::Wait => {}
            // The fetch was lost (its task dropped or stuck past its deadline): lead a new one.
            Poll::Lead => start_fetch(ctx, waiter.ticket, normalized, true),
        }
        if now.saturating_sub(started) >= FLIGHT_WAIT_MS {
            return Err(WebSearchError::UpstreamTimeout {
                timeout_ms: UPSTREAM_TIMEOUT_MS,
            }
            .into());
        }
        Delay::from(Duration::from_millis(FLIGHT_POLL_MS)).await;
    }
}

/// Refreshes a stale value in the background, unless this isolate is fetching it already.
fn refresh(ctx: &WebCtx<'_>, normalized: &str, hash: u64) {
    let role = FLIGHTS.with(|f| f.borrow_mut().join(hash, clock_ms()));
    let ticket = match role {
        Join::Lead(ticket) => {
            start_fetch(ctx, ticket, normalized, false);
            ticket
        }
        Join::Follow(ticket) => ticket,
    };
    // Nobody waits for a refresh: the entry ends when the fetch does.
    FLIGHTS.with(|f| f.borrow_mut().leave(&ticket));
}

/// A miss, with the fault injection of the tests: a cancelled request's future dropped or
/// abandoned 200 ms in.
async fn fetch_miss(ctx: &WebCtx<'_>, normalized: &str, hash: u64) -> FetchResult {
    let Some(freeze) = take_cancel_fault(ctx.config) else {
        return fetch_shared(ctx, normalized, hash).await;
    };
    let flight = Box::pin(fetch_shared(ctx, normalized, hash));
    let timer = Delay::from(Duration::from_millis(200));
    match select(flight, timer).await {
        Either::Left((result, _)) => result,
        Either::Right((_, flight)) => {
            if freeze {
                std::mem::forget(flight);
            } else {
                drop(flight);
            }
            Err(ApiError::internal("injected cancellation of a miss"))
        }
    }
}

/// Reads the key's KV value; a read failure counts as a miss (the upstream can still answer).
async fn read_kv(env: &Env, hash: u64) -> Option<CachedResults> {
    let read = match env.kv(KV_BINDING) {
        Ok(namespace) => namespace
            .get(&kv_key_for_hash(hash))
            .bytes()
            .await
            .map_err(|e| e.to_string()),
        Err(err) => Err(err.to_string()),
    };
    match read {
        Ok(bytes) => bytes.and_then(|b| CachedResults::decode(&b).ok()),
        Err(message) => {
            log::event(
                "cache_kv_read_failed",
                serde_json::json!({ "message": message }),
            );
            None
        }
    }
}

/// `GET /api/search?source=web`.
pub async fn search(query: SearchQuery, ctx: &RequestCtx) -> Result<Response, ApiError> {
    let found = lookup(&query.q, &WebCtx::for_request(ctx)).await?;
    answer(&query, found.cache, found.tier, &found.value)
}

/// Looks `q` up through the two cache levels, asking the upstream on a miss.
pub async fn lookup(q: &str, ctx: &WebCtx<'_>) -> Result<WebAnswer, ApiError> {
    if ctx.config.search_upstream_url.is_none() {
        return Err(not_configured());
    }
    let normalized = normalize_query(q)?;
    let hash = key_hash(&normalized);
    let shard = shard_of(hash, shard_count(ctx.config.cache_max_entries));
    let ttl_ms = ctx.config.cache_ttl_seconds * 1000;
    let times = CacheTimes::for_ttl(ttl_ms);
    let found = |cache, tier: &'static str, value: &CachedResults| WebAnswer {
        cache,
        tier,
        value: value.clone(),
    };

    let l1 = l1_get(&normalized, ctx.now_ms, ttl_ms);
    if let Decision::Answer { value, tier } =
        decide(l1.as_ref(), Stored::Unread, &normalized, ctx.now_ms, &times)
    {
        record_hit(ctx, shard, hash, false);
        return Ok(found("hit", tier.as_str(), value));
    }
    let stored = read_kv(ctx.env, hash).await;
    let kv = stored.as_ref().map_or(Stored::Missing, Stored::Found);
    let fallback = match decide(l1.as_ref(), kv, &normalized, ctx.now_ms, &times) {
        Decision::Answer { value, tier } => {
            l1_put(&normalized, value.clone(), ttl_ms);
            record_hit(ctx, shard, hash, false);
            return Ok(found("hit", tier.as_str(), value));
        }
        Decision::AnswerAndRefresh { value, tier } => {
            record_hit(ctx, shard, hash, true);
            refresh(ctx, &normalized, hash);
            return Ok(found("stale", tier.as_str(), value));
        }
        Decision::Fetch { fallback } => fallback,
        // KV was read: the core does not ask again; fetch without a fallback.
        Decision::ReadKv => None,
    };
    match fetch_miss(ctx, &normalized, hash).await {
        Ok(value) => Ok(WebAnswer {
            cache: "miss",
            tier: "upstream",
            value,
        }),
        Err(err) => match fallback {
            Some(value) => {
                log::event(
                    "cache_stale_if_error",
                    serde_json::json!({ "message": err.message }),
                );
                let from_kv = stored.as_ref().is_some_and(|v| std::ptr::eq(v, value));
                Ok(found("stale", if from_kv { "kv" } else { "l1" }, value))
            }
            None => Err(err),
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
            shard,
            hits,
            stale_hits: Vec::new(),
        };
        send(&ctx.env, &ObjectName::shard(shard), hits).await?;
    }
    let mut total = PolicyStats::default();
    for shard in 0..shard_count(ctx.config.cache_max_entries) {
        let stats = send(&ctx.env, &ObjectName::shard(shard), Stats { shard }).await?;
        total.add(&stats);
    }
    http::json(200, &total)
}
