//! `CacheShard`: the single writer of one shard of the web-search cache policy
//! ([`crate::search::web::policy::CachePolicy`]). Values live in Workers KV (fast global reads);
//! which keys may be resident, and their frequencies, live here, so the KV namespace never holds
//! more than the configured entries and bytes.
//!
//! - `/admit`: a miss was fetched; the policy decides admission and evictions. Evicted keys are
//!   deleted from KV *before* this answers, and the snapshot is saved before KV is touched, so the
//!   resident set survives a restart and KV never holds more than it.
//! - `/hits`: batched hit records from isolates' lossy read buffers (frequency only; saved lazily).
//! - `/stats`: the shard's counters.
//!
//! Shards are chosen by key hash; each bounds its share (`PolicyConfig::for_shard`), so the sum
//! never exceeds the configured totals.

use std::cell::RefCell;

use worker::{durable_object, DurableObject, Env, Request, Response, State};

use crate::calls::shard::{Admission, ShardCall};
use crate::search::web::normalize::kv_key_for_hash;
use crate::search::web::policy::{CachePolicy, PolicyConfig};
use crate::storage::KvStore;

use super::super::config;
use super::super::error::ApiError;
use super::super::handlers::web::{shard_count, KV_BINDING};
use super::super::storage::SqlKv;
use super::{answer, decode, respond};

const SNAPSHOT_KEY: &str = "policy";

#[durable_object]
pub struct CacheShard {
    state: State,
    env: Env,
    policy: RefCell<Option<CachePolicy>>,
    dirty_hits: RefCell<u64>,
}

impl CacheShard {
    fn with<T>(
        &self,
        f: impl FnOnce(&mut CachePolicy, &mut SqlKv) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let mut kv = SqlKv::open(self.state.storage().sql())?;
        let mut slot = self.policy.borrow_mut();
        if slot.is_none() {
            let config = config::load(&self.env)?;
            let shards = shard_count(&config);
            let shard_config =
                PolicyConfig::for_shard(config.cache_max_entries, config.cache_max_bytes, shards);
            let policy = match kv.get(SNAPSHOT_KEY)? {
                Some(bytes) => {
                    let mut policy = CachePolicy::restore(&bytes)?;
                    // The bounds may have changed since the snapshot: shrink to the current ones.
                    let evicted = policy
                        .set_capacity(shard_config.capacity_entries, shard_config.capacity_bytes);
                    if !evicted.is_empty() {
                        super::super::log::event(
                            "cache_capacity_shrunk",
                            serde_json::json!({ "evicted": evicted.len() }),
                        );
                    }
                    policy
                }
                None => CachePolicy::new(shard_config),
            };
            *slot = Some(policy);
        }
        match slot.as_mut() {
            Some(policy) => f(policy, &mut kv),
            None => Err(ApiError::internal("cache policy missing after load")),
        }
    }

    async fn handle(&self, call: ShardCall) -> Result<Response, ApiError> {
        match call {
            ShardCall::Admit(admit) => {
                let admission = self.with(|policy, kv| {
                    if admit.miss {
                        policy.record_miss();
                    }
                    let admission = policy.insert(admit.hash, admit.size, admit.now_ms);
                    kv.put(SNAPSHOT_KEY, &policy.snapshot())?;
                    Ok(admission)
                })?;
                let kv_ns = self.env.kv(KV_BINDING)?;
                let faults = config::load(&self.env)?.web_cache_faults;
                for hash in &admission.evicted {
                    if super::super::handlers::web::injected(faults.kv_delete_percent) {
                        return Err(ApiError::internal("injected KV delete failure"));
                    }
                    kv_ns.delete(&kv_key_for_hash(*hash)).await?;
                }
                answer(&Admission {
                    admitted: admission.admitted,
                    evicted: admission.evicted.len(),
                })
            }
            ShardCall::Hits(batch) => {
                self.with(|policy, kv| {
                    policy.record_hits(&batch.hits);
                    for hash in &batch.stale_hits {
                        policy.record_stale_hit(*hash);
                    }
                    // Frequencies are advisory: save them every so often, not on every batch.
                    let mut dirty = self.dirty_hits.borrow_mut();
                    *dirty += (batch.hits.len() + batch.stale_hits.len()) as u64;
                    if *dirty >= 256 {
                        kv.put(SNAPSHOT_KEY, &policy.snapshot())?;
                        *dirty = 0;
                    }
                    Ok(())
                })?;
                answer(&())
            }
            ShardCall::Stats(_) => {
                let stats = self.with(|policy, _| Ok(policy.stats()))?;
                answer(&stats)
            }
        }
    }
}

impl DurableObject for CacheShard {
    fn new(state: State, env: Env) -> Self {
        Self {
            state,
            env,
            policy: RefCell::new(None),
            dirty_hits: RefCell::new(0),
        }
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        let result = match decode::<ShardCall>(&mut req).await {
            Ok(call) => self.handle(call).await,
            Err(err) => Err(err),
        };
        respond(result)
    }
}
