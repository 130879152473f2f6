//! The pure core of one web-cache shard: the W-TinyLFU policy ([`CachePolicy`]) plus the
//! *ledger* of every key that may be in Workers KV, so the KV bound holds under concurrency and
//! faults.
//!
//! # Why a ledger
//!
//! KV has no bound of its own; the shard is the single writer of its keys and does every KV put
//! and delete itself (the worker sends the value with the admission). Between the decision and
//! the KV operation there is an `await`, during which the object takes other calls, and any KV
//! operation may fail — or fail after it landed. The policy alone only knows which keys *should*
//! be resident; the ledger knows which keys *may be* in KV:
//!
//! - every resident key whose value was (or is being) written, and
//! - every key that must go (evicted, expired from the policy, or orphaned by a failed or
//!   ambiguous put) until KV confirmed its delete.
//!
//! The bound is kept on the ledger, which over-approximates KV: a put starts only when the ledger
//! with the new key still fits both bounds ([`Shard::start_put`]), so KV — a subset of the ledger —
//! never holds more than the configured entries and bytes, at any instant, whatever the
//! interleaving or failure. Only one KV operation per key is in flight at a time (a key evicted
//! while its put runs is deleted when the put returns), so a late put can never land after its
//! delete. A put that fails counts as possibly landed: its key is removed from the policy and
//! deleted.
//!
//! # Durability
//!
//! [`Shard::snapshot`] holds the policy and the keys waiting for a delete. The shell saves it
//! before it carries out the KV operations a call returned whenever [`Shard::take_dirty`] says
//! [`Durability::Now`] (the resident set or the delete queue grew), so after a restart nothing
//! that may be in KV is forgotten: the restored ledger is every resident key plus the queued
//! deletes. Failed deletes stay queued and are retried by the shard's alarm ([`Shard::sweep`],
//! with backoff), which also expires entries that KV's own expiration removed, drops keys a
//! changed shard count gave to another shard, and shrinks the shard to changed capacities —
//! persisting what those evict like any other eviction. The shard keeps its alarm while it holds
//! anything ([`Shard::next_alarm`]), so a shard the worker no longer calls (the shard count went
//! down) still empties its share of KV.

use std::collections::HashMap;

use super::normalize::shard_of;
use super::policy::{CachePolicy, PolicyConfig, PolicyStats};
use super::WebSearchError;
use crate::config::Config;

use super::lookup::MAX_STALE_ON_ERROR_MS;

/// Most policy shards, whatever the configured capacity.
pub const MAX_SHARDS: u32 = 16;
/// Entries per shard before another shard is added.
pub const ENTRIES_PER_SHARD: u64 = 1000;
/// First retry of a failed KV delete, ms (doubling per attempt up to [`MAX_RETRY_MS`]).
pub const FIRST_RETRY_MS: u64 = 1000;
/// Longest wait between retries of a failed KV delete, ms.
pub const MAX_RETRY_MS: u64 = 60_000;
/// An admitted key whose value never arrived (its call died between admission and put) is
/// dropped from the policy after this long, ms; a put is not started later than this after its
/// admission. With puts landing within about as long (a request's subrequests do not outlive
/// it), a value lands well within [`EXPIRY_MARGIN_MS`] of its admission time.
pub const AWAIT_PUT_MS: u64 = 60_000;
/// The policy forgets an entry this long after KV's own expiration should have removed it (the
/// put lands a little after the admission's clock reading), ms.
pub const EXPIRY_MARGIN_MS: u64 = 5 * 60 * 1000;

/// Policy shards for a capacity: one per [`ENTRIES_PER_SHARD`] entries, 1 to [`MAX_SHARDS`]. One
/// shard object serves on the order of a thousand admissions per second; hits never reach it one
/// by one.
pub fn shard_count(cache_max_entries: u64) -> u32 {
    let shards = (cache_max_entries / ENTRIES_PER_SHARD).clamp(1, u64::from(MAX_SHARDS));
    u32::try_from(shards).unwrap_or(MAX_SHARDS)
}

/// KV's own expiration of a cached value, seconds: when even stale-if-error could not use it
/// (KV's minimum is 60).
pub fn kv_expiration_secs(ttl_secs: u64) -> u64 {
    ttl_secs
        .saturating_add(MAX_STALE_ON_ERROR_MS / 1000)
        .max(60)
}

/// What one shard needs to know about the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardSettings {
    /// This shard's number.
    pub index: u32,
    /// How many shards there are now.
    pub shards: u32,
    /// This shard's share of the entry bound.
    pub capacity_entries: u64,
    /// This shard's share of the byte bound.
    pub capacity_bytes: u64,
    /// KV expiration of a value, seconds ([`kv_expiration_secs`]).
    pub kv_ttl_secs: u64,
    /// Period of the sweep while the shard holds anything, ms.
    pub sweep_ms: u64,
}

impl ShardSettings {
    /// The settings of shard `index` under `config`. The sweep runs every TTL, between 5 s and
    /// 10 min.
    pub fn new(index: u32, config: &Config) -> Self {
        let shards = shard_count(config.cache_max_entries);
        let share =
            PolicyConfig::for_shard(config.cache_max_entries, config.cache_max_bytes, shards);
        Self {
            index,
            shards,
            capacity_entries: share.capacity_entries,
            capacity_bytes: share.capacity_bytes,
            kv_ttl_secs: kv_expiration_secs(config.cache_ttl_seconds),
            sweep_ms: config
                .cache_ttl_seconds
                .saturating_mul(1000)
                .clamp(5_000, 600_000),
        }
    }

    /// Whether this shard owns `hash` under these settings.
    pub fn owns(&self, hash: u64) -> bool {
        shard_of(hash, self.shards) == self.index
    }

    fn policy_max_age_ms(&self) -> u64 {
        self.kv_ttl_secs
            .saturating_mul(1000)
            .saturating_add(EXPIRY_MARGIN_MS)
    }
}

/// How urgently the shard's state must be saved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Durability {
    /// Nothing changed that a restart must not lose.
    Clean,
    /// Only frequencies, recency or completed deletes changed: save some time (a restart
    /// repeats a delete or loses a little frequency information).
    Lazy,
    /// The resident set or the delete queue grew: save before any KV operation it returned.
    Now,
}

/// The right to write one admitted value to KV (see [`Shard::start_put`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PutTicket {
    /// The key's hash.
    pub hash: u64,
    /// The value's size in bytes.
    pub size: u64,
    id: u64,
}

/// The outcome of [`Shard::admit`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Present when the key was admitted: try [`Shard::start_put`] once `deletes` are done.
    pub ticket: Option<PutTicket>,
    /// Keys to delete from KV now; report each with [`Shard::deleted`].
    pub deletes: Vec<u64>,
    /// How many keys the admission evicted.
    pub evicted: usize,
}

/// The outcome of [`Shard::start_put`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// Write the value to KV, then report with [`Shard::put_done`].
    Put,
    /// Do not write (no room while earlier deletes are unconfirmed, the key was evicted or is
    /// being deleted meanwhile). The key is not resident; delete these keys.
    Refused { deletes: Vec<u64> },
}

/// A KV operation in flight on a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Idle,
    Putting,
    Deleting,
}

/// A key that may be in KV.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Slot {
    /// Bytes it may occupy (the larger of old and new value while an overwrite runs).
    size: u64,
    op: Op,
    /// Present when the key must go from KV: failed attempts so far and when to try next.
    delete: Option<Retry>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Retry {
    attempts: u32,
    due_ms: u64,
}

/// An admitted key whose value is not written yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Awaiting {
    id: u64,
    since_ms: u64,
}

/// One cache shard's policy and ledger (see the module docs).
#[derive(Debug)]
pub struct Shard {
    settings: ShardSettings,
    policy: CachePolicy,
    ledger: HashMap<u64, Slot>,
    ledger_bytes: u64,
    awaiting: HashMap<u64, Awaiting>,
    next_ticket: u64,
    /// Admissions whose put was refused (counted as rejected).
    refused: u64,
    dirty: Durability,
}

const SNAPSHOT_MAGIC: &[u8; 4] = b"WSH1";

impl Shard {
    /// An empty shard.
    pub fn new(settings: ShardSettings) -> Self {
        Self {
            settings,
            policy: CachePolicy::new(PolicyConfig::new(
                settings.capacity_entries,
                settings.capacity_bytes,
            )),
            ledger: HashMap::new(),
            ledger_bytes: 0,
            awaiting: HashMap::new(),
            next_ticket: 1,
            refused: 0,
            dirty: Durability::Clean,
        }
    }

    /// The settings in force.
    pub fn settings(&self) -> ShardSettings {
        self.settings
    }

    /// Keys that may be in KV, and their bytes (what the bound is kept on).
    pub fn ledger_len(&self) -> u64 {
        self.ledger.len() as u64
    }

    /// See [`ledger_len`](Self::ledger_len).
    pub fn ledger_bytes(&self) -> u64 {
        self.ledger_bytes
    }

    /// Whether `hash` may be in KV.
    pub fn may_hold(&self, hash: u64) -> bool {
        self.ledger.contains_key(&hash)
    }

    /// Keys waiting for a confirmed KV delete.
    pub fn pending_deletes(&self) -> u64 {
        self.ledger.values().filter(|s| s.delete.is_some()).count() as u64
    }

    /// The counters, with `entries` and `bytes` of what may really be in KV (not what the policy
    /// would like to be) and the deletes still owed.
    pub fn stats(&self) -> PolicyStats {
        let mut stats = self.policy.stats();
        stats.entries = self.ledger_len();
        stats.bytes = self.ledger_bytes;
        stats.rejected += self.refused;
        stats.pending_deletes = self.pending_deletes();
        stats
    }

    /// How urgently the state must be saved since the last call; resets it.
    pub fn take_dirty(&mut self) -> Durability {
        std::mem::replace(&mut self.dirty, Durability::Clean)
    }

    fn mark(&mut self, level: Durability) {
        self.dirty = self.dirty.max(level);
    }

    /// Records a batch of hits (frequency and recency only).
    pub fn record_hits(&mut self, hits: &[u64], stale_hits: &[u64]) {
        self.policy.record_hits(hits);
        for &hash in stale_hits {
            self.policy.record_stale_hit(hash);
        }
        if !hits.is_empty() || !stale_hits.is_empty() {
            self.mark(Durability::Lazy);
        }
    }

    /// A value of `size` bytes for `hash` was fetched at `now_ms` (after a miss when `miss`):
    /// the policy decides; evicted keys that may be in KV are to be deleted first. A key another
    /// shard owns is never admitted.
    pub fn admit(&mut self, hash: u64, size: u64, now_ms: u64, miss: bool) -> Plan {
        if miss {
            self.policy.record_miss();
            self.mark(Durability::Lazy);
        }
        if !self.settings.owns(hash) {
            return Plan::default();
        }
        let admission = self.policy.insert(hash, size, now_ms);
        let mut deletes = Vec::new();
        for &gone in &admission.evicted {
            self.forget_resident(gone, now_ms, &mut deletes);
        }
        let ticket = admission.admitted.then(|| {
            let id = self.next_ticket;
            self.next_ticket += 1;
            self.awaiting.insert(
                hash,
                Awaiting {
                    id,
                    since_ms: now_ms,
                },
            );
            PutTicket { hash, size, id }
        });
        self.mark(Durability::Now);
        Plan {
            ticket,
            deletes,
            evicted: admission.evicted.len(),
        }
    }

    /// May the admitted value of `ticket` be written now? Only if it is still the key's latest
    /// admission, still resident, no operation runs on the key, and the ledger with it fits both
    /// bounds. Otherwise the key leaves the policy (its value never reaches KV).
    pub fn start_put(&mut self, ticket: &PutTicket, now_ms: u64) -> Start {
        let since = match self.awaiting.get(&ticket.hash) {
            Some(a) if a.id == ticket.id => a.since_ms,
            // Evicted meanwhile, or a newer admission of the same key will write it.
            _ => {
                return Start::Refused {
                    deletes: Vec::new(),
                }
            }
        };
        self.awaiting.remove(&ticket.hash);
        if !self.policy.contains(ticket.hash) {
            return Start::Refused {
                deletes: Vec::new(),
            };
        }
        if now_ms.saturating_sub(since) >= AWAIT_PUT_MS {
            // Too late: the sweep may already count on this value never coming, and the
            // policy's expiry (from the admission's time) must not run ahead of KV's (from the
            // put's).
            return self.refuse(ticket.hash, now_ms);
        }
        let fits = match self.ledger.get(&ticket.hash) {
            Some(slot) if slot.op != Op::Idle || slot.delete.is_some() => false,
            // An overwrite adds no key, but the ledger as a whole must fit: after a restart it
            // may count keys KV does not hold yet (this one among them).
            Some(slot) => {
                self.ledger_len() <= self.settings.capacity_entries
                    && self.ledger_bytes - slot.size + slot.size.max(ticket.size)
                        <= self.settings.capacity_bytes
            }
            None => {
                self.ledger_len() < self.settings.capacity_entries
                    && self.ledger_bytes.saturating_add(ticket.size) <= self.settings.capacity_bytes
            }
        };
        if !fits {
            return self.refuse(ticket.hash, now_ms);
        }
        match self.ledger.get_mut(&ticket.hash) {
            Some(slot) => {
                // An overwrite: KV holds the old or the new value until the put returns.
                let grown = slot.size.max(ticket.size);
                self.ledger_bytes = self.ledger_bytes - slot.size + grown;
                slot.size = grown;
                slot.op = Op::Putting;
            }
            None => {
                self.ledger.insert(
                    ticket.hash,
                    Slot {
                        size: ticket.size,
                        op: Op::Putting,
                        delete: None,
                    },
                );
                self.ledger_bytes += ticket.size;
            }
        }
        Start::Put
    }

    /// The KV put of `ticket` returned (`ok` false: it failed and may or may not have landed).
    /// Returns keys to delete now: the key itself when it was evicted meanwhile or the put failed.
    pub fn put_done(&mut self, ticket: &PutTicket, ok: bool, now_ms: u64) -> Vec<u64> {
        let Some(slot) = self.ledger.get_mut(&ticket.hash) else {
            return Vec::new();
        };
        if slot.op != Op::Putting {
            return Vec::new();
        }
        slot.op = Op::Idle;
        let evicted_meanwhile = slot.delete.is_some();
        if ok && !evicted_meanwhile {
            self.ledger_bytes = self.ledger_bytes - slot.size + ticket.size;
            slot.size = ticket.size;
            return Vec::new();
        }
        if !ok && self.policy.remove(ticket.hash) {
            self.refused += 1;
        }
        let mut deletes = Vec::new();
        self.forget_resident(ticket.hash, now_ms, &mut deletes);
        self.mark(Durability::Now);
        deletes
    }

    /// The KV delete of `hash` returned. A failure is retried by the sweep, with backoff.
    pub fn deleted(&mut self, hash: u64, ok: bool, now_ms: u64) {
        let Some(slot) = self.ledger.get_mut(&hash) else {
            return;
        };
        if slot.op != Op::Deleting {
            return;
        }
        slot.op = Op::Idle;
        if ok {
            let size = slot.size;
            self.ledger.remove(&hash);
            self.ledger_bytes -= size;
            self.mark(Durability::Lazy);
        } else if let Some(retry) = slot.delete.as_mut() {
            retry.attempts = retry.attempts.saturating_add(1);
            let backoff = FIRST_RETRY_MS
                .saturating_mul(1u64 << retry.attempts.min(16))
                .min(MAX_RETRY_MS);
            retry.due_ms = now_ms.saturating_add(backoff);
        }
    }

    /// A delete [`sweep`](Self::sweep) or another call returned is not issued in this
    /// invocation (the shell bounds how many KV operations one invocation makes): it stays owed,
    /// due at once, without counting as a failed attempt.
    pub fn postpone(&mut self, hash: u64, now_ms: u64) {
        if let Some(slot) = self.ledger.get_mut(&hash) {
            if slot.op == Op::Deleting {
                slot.op = Op::Idle;
                if let Some(retry) = slot.delete.as_mut() {
                    retry.due_ms = now_ms;
                }
            }
        }
    }

    /// The periodic work (the alarm): apply `settings` (capacity shrink, keys now owned by
    /// another shard), expire entries KV has dropped by itself, give up on admissions whose
    /// value never came, and retry due deletes. Returns the keys to delete now.
    pub fn sweep(&mut self, settings: ShardSettings, now_ms: u64) -> Vec<u64> {
        let mut deletes = Vec::new();
        self.apply_settings(settings, now_ms, &mut deletes);
        // KV expired these values itself: forget them without a delete.
        for hash in self.policy.expire(now_ms, settings.policy_max_age_ms()) {
            self.awaiting.remove(&hash);
            let idle = self
                .ledger
                .get(&hash)
                .is_some_and(|s| s.op == Op::Idle && s.delete.is_none());
            if idle {
                if let Some(slot) = self.ledger.remove(&hash) {
                    self.ledger_bytes -= slot.size;
                }
            } else {
                self.forget_resident(hash, now_ms, &mut deletes);
            }
            self.mark(Durability::Now);
        }
        let stale: Vec<u64> = self
            .awaiting
            .iter()
            .filter(|(_, a)| now_ms.saturating_sub(a.since_ms) >= AWAIT_PUT_MS)
            .map(|(h, _)| *h)
            .collect();
        for hash in stale {
            self.awaiting.remove(&hash);
            if self.policy.remove(hash) {
                self.refused += 1;
            }
            self.forget_resident(hash, now_ms, &mut deletes);
            self.mark(Durability::Now);
        }
        for (&hash, slot) in self.ledger.iter_mut() {
            if let (Op::Idle, Some(retry)) = (slot.op, slot.delete) {
                if retry.due_ms <= now_ms && !deletes.contains(&hash) {
                    slot.op = Op::Deleting;
                    deletes.push(hash);
                }
            }
        }
        deletes
    }

    /// When the alarm should run next: at the earliest due retry, else one sweep period from
    /// now while anything is held, else never.
    pub fn next_alarm(&self, now_ms: u64) -> Option<u64> {
        let retry = self
            .ledger
            .values()
            .filter(|s| s.op == Op::Idle)
            .filter_map(|s| s.delete.map(|r| r.due_ms.max(now_ms)))
            .min();
        let busy = !self.ledger.is_empty() || !self.policy.is_empty() || !self.awaiting.is_empty();
        let sweep = busy.then(|| now_ms.saturating_add(self.settings.sweep_ms));
        match (retry, sweep) {
            (Some(r), Some(s)) => Some(r.min(s)),
            (r, s) => r.or(s),
        }
    }

    /// Brings the shard to `settings`: the new capacities (evicting what no longer fits) and
    /// the keys it owns (dropping the others).
    fn apply_settings(&mut self, settings: ShardSettings, now_ms: u64, deletes: &mut Vec<u64>) {
        let old = self.settings;
        self.settings = settings;
        let config = self.policy.config();
        if (config.capacity_entries, config.capacity_bytes)
            != (settings.capacity_entries, settings.capacity_bytes)
        {
            let evicted = self
                .policy
                .set_capacity(settings.capacity_entries, settings.capacity_bytes);
            for hash in evicted {
                self.forget_resident(hash, now_ms, deletes);
            }
            self.mark(Durability::Now);
        }
        if old.index != settings.index || old.shards != settings.shards || !self.all_owned() {
            let foreign: Vec<u64> = self
                .policy
                .resident()
                .map(|(hash, _)| hash)
                .filter(|&hash| !settings.owns(hash))
                .collect();
            for hash in foreign {
                self.policy.remove(hash);
                self.forget_resident(hash, now_ms, deletes);
                self.mark(Durability::Now);
            }
        }
        self.enforce_ledger_bound(now_ms, deletes);
    }

    /// Evicts resident keys until the keys KV may keep (the ledger without those being deleted)
    /// fit the capacities. Only needed after a restart or a shrink: a restored key counts with
    /// the larger of its old and new value, which may not fit the policy's own accounting.
    fn enforce_ledger_bound(&mut self, now_ms: u64, deletes: &mut Vec<u64>) {
        let kept = |shard: &Self| {
            shard
                .ledger
                .values()
                .filter(|s| s.delete.is_none())
                .fold((0u64, 0u64), |(n, b), s| (n + 1, b.saturating_add(s.size)))
        };
        let (mut entries, mut bytes) = kept(self);
        let (max_entries, max_bytes) =
            (self.settings.capacity_entries, self.settings.capacity_bytes);
        if entries <= max_entries && bytes <= max_bytes {
            return;
        }
        // Protected entries last (they were hit while on probation); LRU first in each segment.
        let victims: Vec<u64> = self
            .policy
            .resident()
            .map(|(hash, _)| hash)
            .filter(|hash| self.ledger.get(hash).is_some_and(|s| s.delete.is_none()))
            .collect();
        for hash in victims {
            if entries <= max_entries && bytes <= max_bytes {
                break;
            }
            let size = self.ledger.get(&hash).map_or(0, |s| s.size);
            self.policy.remove(hash);
            self.forget_resident(hash, now_ms, deletes);
            entries -= 1;
            bytes -= size;
            self.mark(Durability::Now);
        }
    }

    fn all_owned(&self) -> bool {
        self.policy
            .resident()
            .all(|(hash, _)| self.settings.owns(hash))
    }

    fn insert_slot(&mut self, hash: u64, size: u64, delete: Option<Retry>) {
        self.ledger.insert(
            hash,
            Slot {
                size,
                op: Op::Idle,
                delete,
            },
        );
        self.ledger_bytes = self.ledger_bytes.saturating_add(size);
    }

    /// `hash` is no longer resident in the policy: drop its pending admission, and if KV may
    /// hold it, queue its delete (started now unless an operation on it is in flight; the put's
    /// return starts it then).
    /// Refuses a put: the key leaves the policy and the ledger (its delete queued if KV may
    /// hold it), durably before any KV operation.
    fn refuse(&mut self, hash: u64, now_ms: u64) -> Start {
        self.refused += 1;
        self.policy.remove(hash);
        let mut deletes = Vec::new();
        self.forget_resident(hash, now_ms, &mut deletes);
        self.mark(Durability::Now);
        Start::Refused { deletes }
    }

    fn forget_resident(&mut self, hash: u64, now_ms: u64, deletes: &mut Vec<u64>) {
        self.awaiting.remove(&hash);
        let Some(slot) = self.ledger.get_mut(&hash) else {
            return;
        };
        if slot.delete.is_none() {
            slot.delete = Some(Retry {
                attempts: 0,
                due_ms: now_ms,
            });
        }
        if slot.op == Op::Idle {
            slot.op = Op::Deleting;
            if !deletes.contains(&hash) {
                deletes.push(hash);
            }
        }
    }

    /// The durable state: the settings' index; the keys waiting for a delete; the resident keys
    /// KV may hold with more bytes than the policy says (an overwrite by a smaller value not
    /// confirmed yet); then the policy.
    pub fn snapshot(&self) -> Vec<u8> {
        let deletes: Vec<(u64, u64)> = self
            .ledger
            .iter()
            .filter(|(_, s)| s.delete.is_some())
            .map(|(h, s)| (*h, s.size))
            .collect();
        let larger: Vec<(u64, u64)> = self
            .ledger
            .iter()
            .filter(|(h, s)| {
                s.delete.is_none() && self.policy.size_of(**h).is_some_and(|p| p < s.size)
            })
            .map(|(h, s)| (*h, s.size))
            .collect();
        let policy = self.policy.snapshot();
        let mut out = Vec::with_capacity(24 + 16 * (deletes.len() + larger.len()) + policy.len());
        out.extend_from_slice(SNAPSHOT_MAGIC);
        out.extend_from_slice(&self.settings.index.to_le_bytes());
        for list in [&deletes, &larger] {
            out.extend_from_slice(&(list.len() as u64).to_le_bytes());
            for (hash, size) in list {
                out.extend_from_slice(&hash.to_le_bytes());
                out.extend_from_slice(&size.to_le_bytes());
            }
        }
        out.extend_from_slice(&policy);
        out
    }

    /// Adopts the snapshot of a bare [`CachePolicy`] (what shards saved before the ledger
    /// existed): its resident keys may all be in KV. See [`restore`](Self::restore).
    pub fn restore_policy(
        policy_snapshot: &[u8],
        settings: ShardSettings,
        now_ms: u64,
    ) -> Result<(Self, Vec<u64>), WebSearchError> {
        let mut bytes = Vec::with_capacity(24 + policy_snapshot.len());
        bytes.extend_from_slice(SNAPSHOT_MAGIC);
        bytes.extend_from_slice(&settings.index.to_le_bytes());
        bytes.extend_from_slice(&0u64.to_le_bytes());
        bytes.extend_from_slice(&0u64.to_le_bytes());
        bytes.extend_from_slice(policy_snapshot);
        let (mut shard, deletes) = Self::restore(&bytes, settings, now_ms)?;
        shard.mark(Durability::Now);
        Ok((shard, deletes))
    }

    /// The shard number a snapshot belongs to (what an alarm that woke the object needs to
    /// build its settings).
    pub fn snapshot_index(bytes: &[u8]) -> Result<u32, WebSearchError> {
        let index = bytes
            .get(..4)
            .filter(|magic| *magic == SNAPSHOT_MAGIC)
            .and_then(|_| bytes.get(4..8))
            .ok_or_else(|| WebSearchError::Corrupt("shard snapshot: bad header".into()))?;
        let mut buf = [0u8; 4];
        buf.copy_from_slice(index);
        Ok(u32::from_le_bytes(buf))
    }

    /// Rebuilds a shard from [`snapshot`](Self::snapshot) bytes: every resident key counts as
    /// possibly in KV, the queued deletes are due at once, and `settings` are applied as by
    /// [`sweep`](Self::sweep) (the returned keys are to be deleted; save first when
    /// [`take_dirty`](Self::take_dirty) says so).
    ///
    /// Errors: [`WebSearchError::Corrupt`] for bytes of another format or a broken policy.
    pub fn restore(
        bytes: &[u8],
        settings: ShardSettings,
        now_ms: u64,
    ) -> Result<(Self, Vec<u64>), WebSearchError> {
        let corrupt = |what: &str| WebSearchError::Corrupt(format!("shard snapshot: {what}"));
        Self::snapshot_index(bytes)?;
        let mut r = Reader { bytes, pos: 8 };
        let mut lists: [Vec<(u64, u64)>; 2] = Default::default();
        for list in &mut lists {
            let count = r.u64()?;
            if count > (bytes.len() / 16) as u64 {
                return Err(corrupt("truncated key list"));
            }
            for _ in 0..count {
                list.push((r.u64()?, r.u64()?));
            }
        }
        let [deletes, larger] = lists;
        let policy = CachePolicy::restore(r.rest())?;
        let mut shard = Self::new(settings);
        shard.policy = policy;
        for (hash, size) in shard.policy.resident().collect::<Vec<_>>() {
            shard.insert_slot(hash, size, None);
        }
        for (hash, size) in larger {
            if let Some(slot) = shard.ledger.get_mut(&hash) {
                shard.ledger_bytes = shard.ledger_bytes - slot.size + slot.size.max(size);
                slot.size = slot.size.max(size);
            }
        }
        for (hash, size) in deletes {
            let delete = Some(Retry {
                attempts: 0,
                due_ms: now_ms,
            });
            match shard.ledger.get_mut(&hash) {
                // Re-admitted while its delete was owed: its new value was never written (a
                // put waits for the delete), so it is not resident after all.
                Some(slot) => {
                    shard.policy.remove(hash);
                    shard.ledger_bytes = shard.ledger_bytes - slot.size + slot.size.max(size);
                    slot.size = slot.size.max(size);
                    slot.delete = delete;
                }
                None => shard.insert_slot(hash, size, delete),
            }
        }
        let deletes = shard.sweep(settings, now_ms);
        Ok((shard, deletes))
    }
}

/// Little-endian cursor over snapshot bytes; every read is bounds-checked.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn u64(&mut self) -> Result<u64, WebSearchError> {
        let end = self.pos.saturating_add(8);
        let slice = self
            .bytes
            .get(self.pos..end)
            .ok_or_else(|| WebSearchError::Corrupt("shard snapshot: truncated".into()))?;
        let mut buf = [0u8; 8];
        buf.copy_from_slice(slice);
        self.pos = end;
        Ok(u64::from_le_bytes(buf))
    }

    fn rest(&self) -> &'a [u8] {
        self.bytes.get(self.pos..).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests;
