//! Trace replay of the web-cache policy, for the hit-ratio benchmark
//! (`benches/cache_hit_ratio.rs`) and the trace regression test (test support only; the worker
//! does not ship it).
//!
//! A trace is a sequence of key hashes. Every replay answers one hit flag per request, so the
//! benchmark and the test compare policies on exactly the same requests:
//!
//! - [`lru()`]: plain LRU (the `lru` crate), the recency reference;
//! - [`policy()`]: one [`CachePolicy`] with the given config (a fixed window when its climber is
//!   off: the W-TinyLFU reference), hits and misses recorded one by one;
//! - [`sharded`]: the layout the worker deploys: keys split over [`shard_count`] shard cores
//!   ([`Shard`]: policy plus KV ledger) by [`shard_of`], misses admitted at once, hits reaching
//!   their shard through a lossy [`ReadBuffer`] in batches of [`read_buffer::DRAIN_AT`] or with
//!   the next admission to that shard, with `drop_permille` of them lost on the way (a failed
//!   batch send or a full buffer);
//! - [`batched`]: hits delivered only in batches (no admission to ride along with) on a single
//!   policy of any config: what the deployed layout did before admissions carried hits.
//!
//! All entries have size 1 and the byte bound is not binding.

use std::num::NonZeroUsize;

use rand_core::{RngCore, SeedableRng};

use super::normalize::{key_hash, shard_of};
use super::policy::{CachePolicy, PolicyConfig};
use super::read_buffer::{self, ReadBuffer};
use super::shard::{shard_count, Shard, ShardSettings, Start};
use crate::config::Config;

/// The key hashes of a text trace with one key per line (blank lines and LIRS end markers `*`
/// skipped), and how many distinct keys it has.
pub fn parse_trace(text: &str) -> (Vec<u64>, usize) {
    let mut distinct = std::collections::HashSet::new();
    let hashes: Vec<u64> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && *l != "*")
        .map(key_hash)
        .collect();
    for h in &hashes {
        distinct.insert(*h);
    }
    (hashes, distinct.len())
}

/// Per-request hit flags of plain LRU with `capacity` entries (at least 1).
pub fn lru(requests: &[u64], capacity: usize) -> Vec<bool> {
    let mut cache =
        lru::LruCache::new(NonZeroUsize::new(capacity.max(1)).unwrap_or(NonZeroUsize::MIN));
    requests
        .iter()
        .map(|&k| {
            if cache.get(&k).is_some() {
                true
            } else {
                cache.put(k, ());
                false
            }
        })
        .collect()
}

/// Per-request hit flags of one policy (no byte bound), and the policy at the end.
pub fn policy(requests: &[u64], config: PolicyConfig) -> (Vec<bool>, CachePolicy) {
    let mut p = CachePolicy::new(config);
    let hits = requests
        .iter()
        .map(|&h| {
            if p.contains(h) {
                p.record_hit(h);
                true
            } else {
                p.record_miss();
                p.insert(h, 1, 0);
                false
            }
        })
        .collect();
    (hits, p)
}

/// Per-request hit flags of the deployed layout with `capacity` entries in total, and how many
/// hits never reached their shard. `seed` drives which hits are lost. Hits reach their shard as
/// the worker sends them: in batches of [`read_buffer::DRAIN_AT`], or with the next admission to
/// that shard.
pub fn sharded(requests: &[u64], capacity: u64, drop_permille: u64, seed: u64) -> (Vec<bool>, u64) {
    let config = Config {
        cache_max_entries: capacity,
        cache_max_bytes: u64::MAX,
        ..Config::default()
    };
    let shards = shard_count(config.cache_max_entries);
    let mut cores: Vec<Shard> = (0..shards)
        .map(|i| Shard::new(ShardSettings::new(i, &config)))
        .collect();
    let mut buffers: Vec<ReadBuffer> = (0..shards)
        .map(|_| ReadBuffer::new(read_buffer::CAPACITY, read_buffer::DRAIN_AT, u64::MAX))
        .collect();
    let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
    let mut dropped = 0;
    let hits = requests
        .iter()
        .map(|&h| {
            let s = shard_of(h, shards) as usize;
            let (Some(core), Some(buffer)) = (cores.get_mut(s), buffers.get_mut(s)) else {
                return false;
            };
            if core.may_hold(h) {
                let lost = rng.next_u64() % 1000 < drop_permille;
                if lost || !buffer.push(h, 0) {
                    dropped += 1;
                }
                if buffer.should_drain(0) {
                    core.record_hits(&buffer.drain(), &[]);
                }
                true
            } else {
                // The worker sends the isolate's buffered hits along with the admission.
                if !buffer.is_empty() {
                    core.record_hits(&buffer.drain(), &[]);
                }
                let plan = core.admit(h, 1, 0, true);
                for d in plan.deletes {
                    core.deleted(d, true, 0);
                }
                if let Some(ticket) = plan.ticket {
                    if core.start_put(&ticket, 0) == Start::Put {
                        core.put_done(&ticket, true, 0);
                    }
                }
                false
            }
        })
        .collect();
    (hits, dropped)
}

/// Hit ratio in percent.
pub fn ratio(hits: &[bool]) -> f64 {
    if hits.is_empty() {
        return 0.0;
    }
    100.0 * hits.iter().filter(|&&x| x).count() as f64 / hits.len() as f64
}

/// Per-request hit flags of one policy whose hits arrive in batches of `drain_at`, with
/// `drop_permille` of them lost (the sharded layout's delivery on a single policy of any config,
/// e.g. a fixed window, to tell the delivery's effect from the climber's). `seed` drives which
/// hits are lost.
pub fn batched(
    requests: &[u64],
    config: PolicyConfig,
    drain_at: usize,
    drop_permille: u64,
    seed: u64,
) -> Vec<bool> {
    let mut p = CachePolicy::new(config);
    let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
    let mut buffer = Vec::new();
    requests
        .iter()
        .map(|&h| {
            if p.contains(h) {
                if rng.next_u64() % 1000 >= drop_permille {
                    buffer.push(h);
                }
                if buffer.len() >= drain_at {
                    p.record_hits(&buffer);
                    buffer.clear();
                }
                true
            } else {
                p.record_miss();
                p.insert(h, 1, 0);
                false
            }
        })
        .collect()
}
