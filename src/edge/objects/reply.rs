//! The reply driver of `TabObject`: the I/O of one assistant reply, which the tab's object runs
//! on its own once the reply exists, whatever becomes of the request that started it.
//!
//! The driver routes the question ([`crate::assistant::intent`]), records the context, builds
//! the prompt ([`crate::assistant::prompt`]), calls the model and feeds what comes back into
//! the model client's state machine ([`crate::assistant::llm::UpstreamCall`]) and every delta
//! into the tab core ([`crate::chat::Tab::reply_delta`]), which persists them in batches. Each
//! wait on the upstream is raced against a timer: the client's deadlines (first byte, idle gap),
//! the core's age rule for waiting deltas, and the `: keep-alive` comment every watcher gets at
//! least every [`KEEP_ALIVE_MS`].
//!
//! Watchers are the open `GET …/events` streams of this object: each is an unbounded channel
//! whose receiving end is the response body. An event goes to every watcher of its reply as it
//! happens; `done` closes them. The tab's live WebSockets get the same deltas through the
//! coalescer ([`super::live`]): the driver's waits are bounded by its due time and it flushes
//! after every chunk, so a held delta goes out within the 50 ms window.
//!
//! Keeping the object alive: the reply keeps an alarm at most `REPLY_HEARTBEAT_MS` ahead (the
//! tab core asks for it), and each alarm run is an event of the object. If the object is evicted
//! or crashes anyway, the next load ends the reply as `failed` (`interrupted`) with what was
//! stored ([`crate::chat::Tab::recover_reply`]).

use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use futures_channel::mpsc::{unbounded, UnboundedReceiver, UnboundedSender};
use futures_util::future::{select, Either};
use futures_util::StreamExt;
use worker::{AbortController, ByteStream, Delay, Env, Fetch, Method, Request, RequestInit};

use crate::assistant::grounding::{self, Gathered};
use crate::assistant::intent::{self, SearchMode, Sources};
use crate::assistant::llm::{build_request, Item, Limits, Outcome, UpstreamCall};
use crate::assistant::prompt::build_prompt;
use crate::calls::user::{Search, SettleTokens};
use crate::calls::workspace::Context as WorkspaceContext;
use crate::calls::ObjectName;
use crate::chat::reply::{Ending, EventKind, ReplyEvent, ReplyIntent, Usage};
use crate::chat::{PageCursor, PageQuery, ReplyEnded};
use crate::config::Config;
use crate::rollout::request::RolloutRequest;
use crate::search::history::HistoryResults;

use super::super::handlers::web::{self, Background, WebCtx};
use super::send;

use super::super::error::ApiError;
use super::super::log;
use super::tab::Shared;

/// A watcher gets a `: keep-alive` comment when nothing else was sent for this long.
pub const KEEP_ALIVE_MS: u64 = 10_000;
/// Longest wait of the driver between checks (deadlines, the age rule, keep-alives).
const TICK_MS: u64 = 1_000;
/// Messages read before the answered one, for the prompt (the budget picks among them).
const HISTORY_MESSAGES: u32 = 100;

/// One open `GET …/events` stream.
pub struct Watcher {
    reply_id: String,
    tx: UnboundedSender<Result<Vec<u8>, worker::Error>>,
}

/// The streaming side of the object: watchers, the running upstream call, the keep-alive clock.
#[derive(Default)]
pub struct Live {
    watchers: Vec<Watcher>,
    /// The reply being driven and the controller that aborts its upstream request.
    running: Option<(String, AbortController)>,
    last_sent_ms: u64,
}

impl Live {
    /// A new watcher of `reply_id`, fed `first` (the replay) at once; the receiver is the body.
    pub fn watch(
        &mut self,
        reply_id: &str,
        first: &[ReplyEvent],
    ) -> UnboundedReceiver<Result<Vec<u8>, worker::Error>> {
        let (tx, rx) = unbounded();
        let replay: String = first.iter().map(ReplyEvent::to_sse).collect();
        // Something goes out at once (the replay, or a comment) so the client sees the headers.
        let opening = if replay.is_empty() {
            ": waiting for the reply\n\n".to_owned()
        } else {
            replay
        };
        let _ = tx.unbounded_send(Ok(opening.into_bytes()));
        self.watchers.push(Watcher {
            reply_id: reply_id.to_owned(),
            tx,
        });
        rx
    }

    /// Sends `event` to the watchers of `reply_id`, dropping those that went away.
    pub fn broadcast(&mut self, reply_id: &str, event: &ReplyEvent, now_ms: u64) {
        let bytes = event.to_sse().into_bytes();
        self.watchers
            .retain(|w| w.reply_id != reply_id || w.tx.unbounded_send(Ok(bytes.clone())).is_ok());
        self.last_sent_ms = now_ms;
    }

    /// Sends the `done` event to the watchers of `reply_id` and closes their streams.
    pub fn finish(&mut self, reply_id: &str, done: &ReplyEvent, now_ms: u64) {
        self.broadcast(reply_id, done, now_ms);
        self.watchers.retain(|w| w.reply_id != reply_id);
    }

    /// A keep-alive comment to every watcher when the last send is `KEEP_ALIVE_MS` old.
    fn keep_alive(&mut self, now_ms: u64) {
        if now_ms.saturating_sub(self.last_sent_ms) < KEEP_ALIVE_MS {
            return;
        }
        self.watchers.retain(|w| {
            w.tx.unbounded_send(Ok(b": keep-alive\n\n".to_vec()))
                .is_ok()
        });
        self.last_sent_ms = now_ms;
    }

    /// Aborts the upstream request of `reply_id` if it is running.
    pub fn abort(&mut self, reply_id: &str) {
        if self.running.as_ref().is_some_and(|(id, _)| id == reply_id) {
            if let Some((_, controller)) = self.running.take() {
                controller.abort();
            }
        }
    }
}

/// What the driver needs to know about its reply.
pub struct Job {
    pub reply_id: String,
    pub message_seq: u64,
    pub model: String,
    pub search: SearchMode,
    /// The sources the request allows (`None`: every configured one).
    pub sources: Option<Sources>,
    /// The workspace the `code` source reads (the request's `workspace`).
    pub workspace: Option<String>,
    /// The tab's owner and id (history excludes this tab).
    pub user: String,
    pub tab_id: String,
}

/// Tokens of the prompt given to code context (search hits and the workspace's symbol map).
const CODE_CONTEXT_TOKENS: usize = 1500;

/// History hits asked of the user's object (the best [`grounding::HISTORY_SOURCES`] outside
/// this tab are kept).
const HISTORY_HITS: usize = 10;

fn now_ms() -> u64 {
    worker::Date::now().as_millis()
}

/// Where the driver takes a reply up.
pub enum Head {
    /// Nothing done yet: the driver reads the question, gathers the sources and calls the model.
    Fresh,
    /// The object read and routed the question ([`plan`]); the driver gathers the sources and
    /// calls the model.
    Planned(Box<Plan>),
    /// The object sent the model request before it wrote the start, and recorded the context
    /// with it ([`plan`], [`prepare`], [`send_request`]); the driver streams the answer.
    Sent {
        in_flight: Box<InFlight>,
        prompt_estimate: u64,
    },
    /// The start failed after the request was sent (it was aborted): the reply ends `failed`.
    Failed(ApiError),
}

/// Runs reply `job` to its end. Never fails: every failure ends the reply as `failed`.
pub async fn drive(shared: Rc<Shared>, env: Env, job: Job, head: Head) {
    let outcome = match head {
        Head::Fresh => run(&shared, &env, &job, None).await,
        Head::Planned(plan) => run(&shared, &env, &job, Some(*plan)).await,
        Head::Sent {
            in_flight,
            prompt_estimate,
        } => stream(&shared, &job, *in_flight, prompt_estimate).await,
        Head::Failed(err) => Err(err),
    };
    let ending = match outcome {
        Ok(ending) => ending,
        Err(err) => {
            log::event(
                "reply_failed",
                serde_json::json!({ "reply_id": job.reply_id, "message": err.message, "detail": err.detail }),
            );
            Ending::failed(
                "internal",
                "the reply could not be completed; the text so far is kept",
            )
        }
    };
    shared.live.borrow_mut().running = None;
    finish(&shared, &job.reply_id, ending).await;
}

/// Ends the reply in the core, tells the watchers, and schedules the indexing.
pub async fn finish(shared: &Rc<Shared>, reply_id: &str, ending: Ending) {
    let now = now_ms();
    let ended = shared.with(|l| Ok(l.tab.finish_reply(&mut l.kv, reply_id, ending, now)?));
    match ended {
        Ok(Some(ended)) => announce_end(shared, ended).await,
        Ok(None) => {} // cancelled meanwhile: the cancel announced it
        Err(err) => log::event(
            "reply_finish_failed",
            serde_json::json!({ "reply_id": reply_id, "message": err.message, "detail": err.detail }),
        ),
    }
}

/// Sends an ended reply's `done` to its watchers, carries out the core's effects, and settles
/// the reply's tokens with the user's daily budget.
pub async fn announce_end(shared: &Rc<Shared>, ended: ReplyEnded) {
    let now = now_ms();
    shared
        .live
        .borrow_mut()
        .finish(&ended.record.id, &ended.done, now);
    super::live::reply_ended(shared, &ended, now);
    shared.apply(ended.effects).await;
    settle_usage(shared, &ended.record).await;
}

/// Replaces the reply's reservation with its usage (idempotent in the user's object). Tried
/// twice; a reservation that still stays is dropped when the day ends (`assistant::quota`).
async fn settle_usage(shared: &Rc<Shared>, record: &crate::chat::reply::ReplyRecord) {
    let Some(usage) = record.usage else { return };
    let Ok(user) = shared.with(|l| Ok(l.tab.owner()?.user.clone())) else {
        return;
    };
    let Ok(name) = ObjectName::user(&user) else {
        return;
    };
    let mut last_error = None;
    for _ in 0..2 {
        let settle = SettleTokens {
            reply_id: record.id.clone(),
            prompt_tokens: usage.prompt_tokens,
            completion_tokens: usage.completion_tokens,
            now_ms: now_ms(),
        };
        match send(&shared.env, &name, settle).await {
            Ok(()) => return,
            Err(err) => last_error = Some(err.message),
        }
    }
    log::event(
        "reply_usage_settle_failed",
        serde_json::json!({ "reply_id": record.id, "message": last_error }),
    );
}

/// Prepares the reply (from `plan`, or planned here), calls the model and streams the answer.
async fn run(
    shared: &Rc<Shared>,
    env: &Env,
    job: &Job,
    plan: Option<Plan>,
) -> Result<Ending, ApiError> {
    let config = super::super::config::load(env)?;
    let plan = match plan {
        Some(plan) => plan,
        None => self::plan(shared, &config, job)?,
    };
    let Prepared { context, request } = prepare(env, &config, job, plan).await;
    let prompt_estimate = context.prompt_estimate;
    let request = match request {
        Ok(request) => request,
        // No model call: the context is still recorded, then the reply ends.
        Err(ending) => {
            return Ok(if record_context(shared, job, context)? {
                ending
            } else {
                Ending::cancelled()
            });
        }
    };
    let in_flight = send_request(shared, &config, job, request).await?;
    // Written once the request is out: the output gate holds an object's outgoing requests
    // until the writes made before them are durable, so writing first would add a storage
    // commit to the time to first token. The context event still reaches watchers before any
    // delta (it is broadcast here, first).
    if !record_context(shared, job, context)? {
        shared.live.borrow_mut().abort(&job.reply_id);
        return Ok(Ending::cancelled());
    }
    stream(shared, job, in_flight, prompt_estimate).await
}

/// The question, the conversation before it, and the sources the router picked: what the
/// reply's context is made of, read from the tab (no I/O beyond its own storage).
pub struct Plan {
    question: crate::chat::model::Message,
    /// The conversation before the question, oldest first.
    history: Vec<crate::chat::model::Message>,
    routed: intent::Intent,
    chosen: Sources,
}

impl Plan {
    /// Whether a chosen source is a search in another object or upstream (web, history, code),
    /// which the object does not run before the reply is stored.
    pub fn needs_io(&self) -> bool {
        !self.chosen.intersection(Sources::SEARCHES).is_empty()
    }
}

/// Reads the question and its conversation and routes the question (`search: auto`), or
/// widens (`always`) or empties (`never`) the sources as the request asks.
pub fn plan(shared: &Shared, config: &Config, job: &Job) -> Result<Plan, ApiError> {
    let page = shared.with(|l| {
        Ok(l.tab.read(
            &l.kv,
            PageQuery {
                cursor: PageCursor::Before(job.message_seq + 1),
                limit: HISTORY_MESSAGES + 1,
            },
        )?)
    })?;
    let mut history = page.messages;
    let Some(question) = history.pop().filter(|m| m.seq == job.message_seq) else {
        return Err(ApiError::internal("the answered message is missing"));
    };
    let routed = intent::route(&question.content);
    let configured = {
        let mut set = Sources::HISTORY.union(Sources::ROLLOUT);
        if config.search_upstream_url.is_some() {
            set = set.union(Sources::WEB);
        }
        if job.workspace.is_some() {
            set = set.union(Sources::CODE);
        }
        set
    };
    let asked = job
        .sources
        .unwrap_or(Sources::SEARCHES)
        .union(Sources::ROLLOUT);
    let chosen = intent::sources_for(routed.label, job.search, asked.intersection(configured));
    Ok(Plan {
        question,
        history,
        routed,
        chosen,
    })
}

/// The reply's context and its model request (or the ending of a reply that cannot call the
/// model).
pub struct Prepared {
    context: ContextRecord,
    request: Result<crate::assistant::llm::UpstreamRequest, Ending>,
}

impl Prepared {
    /// The model request, if the reply calls the model; the context comes with it.
    pub fn into_request(self) -> Option<(crate::assistant::llm::UpstreamRequest, ContextRecord)> {
        let Prepared { context, request } = self;
        request.ok().map(|request| (request, context))
    }
}

/// Gathers `plan`'s sources and builds the prompt and the model request.
pub async fn prepare(env: &Env, config: &Rc<Config>, job: &Job, plan: Plan) -> Prepared {
    let Plan {
        question,
        history,
        routed,
        chosen,
    } = plan;
    let (gathered, note) = gather(env, config, job, &question.content, chosen).await;
    let prompt = build_prompt(
        &question,
        &history,
        &gathered.sources,
        note.as_deref(),
        u64::from(config.llm_prompt_tokens()),
    );
    let scores = serde_json::to_value(routed.scores)
        .ok()
        .and_then(|v| v.as_object().cloned())
        .unwrap_or_default();
    let context = ContextRecord {
        intent: ReplyIntent {
            label: routed.label.as_str().to_owned(),
            scores,
        },
        citations: gathered.citations.clone(),
        prompt_estimate: prompt.estimated_tokens,
    };
    let request = upstream_request(config, job, &prompt.messages);
    Prepared { context, request }
}

/// The model request for `messages`, or the ending of a reply that cannot call the model.
fn upstream_request(
    config: &Config,
    job: &Job,
    messages: &[crate::assistant::llm::ChatMessage],
) -> Result<crate::assistant::llm::UpstreamRequest, Ending> {
    let Some(upstream) = &config.llm else {
        return Err(Ending::failed(
            "not_configured",
            "LLM_UPSTREAM_URL is not set: no model to answer with",
        ));
    };
    let model = (!job.model.is_empty()).then_some(job.model.as_str());
    build_request(upstream, model, messages, config.llm_max_output_tokens)
        .map_err(|err| Ending::failed("upstream_error", err.to_string()))
}

/// The gathered context of a reply, recorded as its event 1.
pub struct ContextRecord {
    intent: ReplyIntent,
    citations: Vec<crate::chat::reply::Citation>,
    prompt_estimate: u64,
}

impl ContextRecord {
    /// The prompt's estimated tokens (the usage estimate when the upstream sends none).
    pub fn prompt_estimate(&self) -> u64 {
        self.prompt_estimate
    }
}

/// Writes the reply's context and sends its event to the watchers; `false` when the reply no
/// longer streams (it was cancelled meanwhile).
pub fn record_context(
    shared: &Rc<Shared>,
    job: &Job,
    context: ContextRecord,
) -> Result<bool, ApiError> {
    let event = shared.with(|l| {
        Ok(l.tab.reply_context(
            &mut l.kv,
            &job.reply_id,
            context.intent,
            context.citations,
            context.prompt_estimate,
        )?)
    })?;
    let Some(event) = event else {
        return Ok(false);
    };
    shared
        .live
        .borrow_mut()
        .broadcast(&job.reply_id, &event, now_ms());
    Ok(true)
}

/// Gathers the `chosen` sources for `question`, concurrently. A source that fails is logged and
/// left out: the reply still answers, from what was found.
async fn gather(
    env: &Env,
    config: &Rc<Config>,
    job: &Job,
    question: &str,
    chosen: Sources,
) -> (Gathered, Option<String>) {
    let mut gathered = Gathered::default();
    let note = chosen
        .contains(Sources::ROLLOUT)
        .then(rollout_note)
        .flatten();
    let Some(text) = grounding::search_text(question) else {
        return (gathered, note);
    };
    let web_search = async {
        if !chosen.contains(Sources::WEB) {
            return None;
        }
        let ctx = WebCtx {
            env,
            config,
            now_ms: now_ms(),
            background: Background::Object,
        };
        match web::lookup(&text, &ctx).await {
            Ok(found) => Some(found.value.results),
            Err(err) => {
                log::event(
                    "reply_web_source_failed",
                    serde_json::json!({ "reply_id": job.reply_id, "message": err.message }),
                );
                None
            }
        }
    };
    let history_search = async {
        if !chosen.contains(Sources::HISTORY) {
            return None;
        }
        let search = Search {
            user: job.user.clone(),
            q: text.clone(),
            tab: None,
            limit: HISTORY_HITS,
            // This tab's messages are left out below: no need to fetch its unindexed ones.
            skip_unindexed_of: Some(job.tab_id.clone()),
        };
        let found = match ObjectName::user(&job.user) {
            Ok(user) => send(env, &user, search).await,
            Err(err) => Err(err.into()),
        };
        match found.map(|encoded| {
            serde_json::from_slice::<HistoryResults>(&encoded.into_bytes())
                .map_err(|e| ApiError::internal(format!("history results: {e}")))
        }) {
            Ok(Ok(results)) => Some(results.results),
            Ok(Err(err)) | Err(err) => {
                log::event(
                    "reply_history_source_failed",
                    serde_json::json!({ "reply_id": job.reply_id, "message": err.message }),
                );
                None
            }
        }
    };
    let code_search = async {
        let workspace = job.workspace.as_deref()?;
        if !chosen.contains(Sources::CODE) {
            return None;
        }
        let call = WorkspaceContext {
            question: text.clone(),
            budget_tokens: CODE_CONTEXT_TOKENS,
        };
        let found = match ObjectName::workspace(&job.user, workspace) {
            Ok(name) => send(env, &name, call).await,
            Err(err) => Err(err.into()),
        };
        match found {
            Ok(context) => Some(context),
            Err(err) => {
                log::event(
                    "reply_code_source_failed",
                    serde_json::json!({ "reply_id": job.reply_id, "message": err.message }),
                );
                None
            }
        }
    };
    let ((web_results, history_hits), code_context) = futures_util::future::join(
        futures_util::future::join(web_search, history_search),
        code_search,
    )
    .await;
    if let Some(results) = web_results {
        gathered.add_web(&results);
    }
    if let Some(hits) = history_hits {
        gathered.add_history(&hits, &job.tab_id);
    }
    let mut note = note;
    if let Some(context) = code_context {
        gathered.add_code(&context);
        // The workspace's symbol map is context, not a citable source: it goes with the note.
        if !context.symbol_map.is_empty() {
            note = Some(match note {
                Some(rollout) => format!("{rollout}\n\n{}", context.symbol_map),
                None => context.symbol_map,
            });
        }
    }
    (gathered, note)
}

/// A fresh CartPole rollout summary for a `rollout` question.
fn rollout_note() -> Option<String> {
    let request =
        RolloutRequest::parse(br#"{"env":"CartPole-v1","num_envs":16,"steps":200,"seed":0}"#)
            .ok()?;
    let response = crate::rollout::run::rollout(&request, 0).ok()?;
    Some(grounding::rollout_context(&response.summary))
}

/// The model's answer head as the runtime gives it.
type HeadFuture = std::pin::Pin<Box<dyn Future<Output = worker::Result<worker::Response>>>>;

/// A model request handed to the runtime, with the model client's state from that moment.
pub struct InFlight {
    send: HeadFuture,
    /// The head, when it was already there at the first poll.
    head: Option<worker::Result<worker::Response>>,
    call: UpstreamCall,
}

/// Hands the model request to the runtime (its first poll sends it) and registers its
/// controller, so a cancel or a delete aborts it from now on.
pub async fn send_request(
    shared: &Shared,
    config: &Config,
    job: &Job,
    request: crate::assistant::llm::UpstreamRequest,
) -> Result<InFlight, ApiError> {
    let headers = worker::Headers::new();
    for (name, value) in &request.headers {
        headers.set(name, value)?;
    }
    let mut init = RequestInit::new();
    init.with_method(Method::Post);
    init.with_headers(headers);
    init.with_body(Some(
        js_sys::Uint8Array::from(request.body.as_slice()).into(),
    ));
    let upstream_request = Request::new_with_init(&request.url, &init)?;
    let controller = AbortController::default();
    let signal = controller.signal();
    let call = UpstreamCall::new(Limits::from_config(config), now_ms());
    let fetch = Fetch::Request(upstream_request);
    let mut send: HeadFuture = Box::pin(async move { fetch.send_with_signal(&signal).await });
    shared.live.borrow_mut().running = Some((job.reply_id.clone(), controller));
    let mut head = None;
    std::future::poll_fn(|cx| {
        if let std::task::Poll::Ready(result) = send.as_mut().poll(cx) {
            head = Some(result);
        }
        std::task::Poll::Ready(())
    })
    .await;
    Ok(InFlight { send, head, call })
}

/// Streams the answer of the request in flight into the reply.
async fn stream(
    shared: &Rc<Shared>,
    job: &Job,
    in_flight: InFlight,
    prompt_estimate: u64,
) -> Result<Ending, ApiError> {
    let InFlight {
        mut send,
        head: mut sent,
        mut call,
    } = in_flight;
    let mut items: Vec<Item>;
    let mut body: Option<ByteStream> = None;
    loop {
        // The head, or `None` when the timer fired first.
        let head = match sent.take() {
            Some(result) => Some(result),
            None => {
                let wait = wait_ms(shared, &call, now_ms());
                match select(send.as_mut(), std::pin::pin!(Delay::from(wait))).await {
                    Either::Left((result, _)) => Some(result),
                    Either::Right(_) => None,
                }
            }
        };
        match head {
            Some(Ok(mut response)) => {
                let headers = response.headers();
                let content_type = headers.get("content-type").ok().flatten();
                let retry_after = headers.get("retry-after").ok().flatten();
                items = call.on_head(
                    response.status_code(),
                    content_type.as_deref(),
                    retry_after.as_deref(),
                    now_ms(),
                );
                body = response.stream().ok();
                break;
            }
            Some(Err(err)) => {
                items = call.on_transport_error(&err.to_string());
                break;
            }
            None => {
                let now = now_ms();
                tick(shared, now);
                items = call.on_timer(now);
                if !items.is_empty() {
                    break;
                }
            }
        }
    }
    let mut usage = None;
    loop {
        for item in items.drain(..) {
            match item {
                Item::Delta(text) => {
                    let now = now_ms();
                    let taken = shared
                        .with(|l| Ok(l.tab.reply_delta(&mut l.kv, &job.reply_id, &text, now)?))?;
                    let Some(taken) = taken else {
                        // Cancelled: the cancel ended the reply and aborted the request.
                        return Ok(Ending::cancelled());
                    };
                    if let Some(err) = taken.store_error {
                        log::event(
                            "reply_chunk_write_failed",
                            serde_json::json!({ "reply_id": job.reply_id, "error": err.to_string() }),
                        );
                    }
                    if let Some(event) = taken.event {
                        shared
                            .live
                            .borrow_mut()
                            .broadcast(&job.reply_id, &event, now);
                        if let EventKind::Delta(text) = &event.kind {
                            super::live::delta(shared, &job.reply_id, event.id, text, now);
                        }
                    }
                    if taken.full {
                        shared.live.borrow_mut().abort(&job.reply_id);
                        return Ok(Ending::truncated(
                            Some("length".into()),
                            Some(to_usage(call.usage_or_estimate(prompt_estimate))),
                        ));
                    }
                }
                Item::Usage(u) => usage = Some(u),
                Item::Finish(_) => {}
                Item::End(outcome) => {
                    shared.live.borrow_mut().abort(&job.reply_id);
                    let usage = usage.unwrap_or_else(|| call.usage_or_estimate(prompt_estimate));
                    return Ok(ending_of(outcome, to_usage(usage)));
                }
            }
        }
        let Some(stream) = body.as_mut() else {
            items = call.on_eof(now_ms());
            continue;
        };
        // Held live deltas go out on time even while chunks keep the timer from firing.
        super::live::flush_due(shared, now_ms());
        let wait = wait_ms(shared, &call, now_ms());
        match select(stream.next(), std::pin::pin!(Delay::from(wait))).await {
            Either::Left((Some(Ok(chunk)), _)) => items = call.on_chunk(&chunk, now_ms()),
            Either::Left((Some(Err(err)), _)) => items = call.on_transport_error(&err.to_string()),
            Either::Left((None, _)) => items = call.on_eof(now_ms()),
            Either::Right(_) => {
                let now = now_ms();
                tick(shared, now);
                items = call.on_timer(now);
            }
        }
        if shared
            .with(|l| Ok(l.tab.streaming_reply() != Some(job.reply_id.as_str())))
            .unwrap_or(true)
        {
            return Ok(Ending::cancelled());
        }
    }
}

/// How long to wait for the upstream before checking the clock again: the next deadline, or
/// the moment the live sockets' held deltas are due, at most [`TICK_MS`].
fn wait_ms(shared: &Shared, call: &UpstreamCall, now: u64) -> Duration {
    let until_deadline = call
        .deadline_ms()
        .map_or(TICK_MS, |d| d.saturating_sub(now).max(1));
    let until_frame = super::live::due_at(shared).map_or(TICK_MS, |d| d.saturating_sub(now).max(1));
    Duration::from_millis(until_deadline.min(until_frame).min(TICK_MS))
}

/// The periodic work while waiting: the age rule for waiting deltas, keep-alives.
fn tick(shared: &Rc<Shared>, now: u64) {
    if let Err(err) = shared.with(|l| Ok(l.tab.reply_tick(&mut l.kv, now)?)) {
        log::event(
            "reply_chunk_write_failed",
            serde_json::json!({ "error": err.message }),
        );
    }
    shared.live.borrow_mut().keep_alive(now);
    super::live::flush_due(shared, now);
}

fn to_usage(usage: crate::assistant::llm::Usage) -> Usage {
    Usage {
        prompt_tokens: usage.prompt_tokens,
        completion_tokens: usage.completion_tokens,
    }
}

/// The reply's ending for the model client's outcome.
fn ending_of(outcome: Outcome, usage: Usage) -> Ending {
    match outcome {
        Outcome::Complete { finish_reason } => Ending::complete(finish_reason, Some(usage)),
        Outcome::Truncated { .. } => {
            Ending::truncated(outcome.finish_reason().map(str::to_owned), Some(usage))
        }
        Outcome::Cancelled => Ending::cancelled(),
        Outcome::Failed(failure) => {
            let mut ending = Ending::failed(failure.code().as_str(), failure.message.clone());
            ending.usage = Some(usage);
            ending
        }
    }
}

/// The events of a reply as one finished `text/event-stream` body.
pub fn event_stream_body(events: &[ReplyEvent]) -> Vec<u8> {
    events
        .iter()
        .map(ReplyEvent::to_sse)
        .collect::<String>()
        .into_bytes()
}
