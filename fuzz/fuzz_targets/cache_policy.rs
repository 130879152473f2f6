//! Fuzzes `search::web::policy::CachePolicy` with arbitrary operation sequences (insert, hit,
//! stale hit, miss, remove, expire, set_capacity, snapshot + restore).
//!
//! Checked after every operation:
//! - both bounds hold: entries ≤ capacity_entries and bytes ≤ capacity_bytes, whatever the
//!   window climber does (every climber is fuzzed; `Hits` batches end its samples quickly);
//! - the window bound stays between the configured share and all entries but one (or the
//!   configured share, when that is larger);
//! - the edge's mirror of the resident set, kept only from what the calls return (`admitted`,
//!   `evicted`, `remove`'s bool, `expire`'s and `set_capacity`'s lists), equals the policy's
//!   resident set: this is what keeps KV exactly within the bound;
//! - a policy restored from `snapshot()` snapshots to the same bytes and then answers every
//!   later operation exactly as the original does.
//!
//! Then the shard core (`search::web::shard::Shard`, the policy plus its ledger of what may be in
//! KV) is driven through arbitrary interleavings of admissions, KV operations that land late,
//! fail or fail after landing, sweeps, restarts and reconfigurations against a simulated KV.
//! Checked after every step: KV holds only keys the ledger knows, never more bytes than the
//! ledger counts, and never more than the bound in force (the capacities, or during a shrink the
//! larger ones until the ledger fits); after everything returns and the sweep ran, KV is within
//! the current capacities and nothing is owed.
#![no_main]

use std::collections::{BTreeSet, HashMap};

use arbitrary::Arbitrary;
use edge_assistant::search::web::climber::Climber;
use edge_assistant::search::web::policy::{CachePolicy, PolicyConfig};
use edge_assistant::search::web::shard::{Durability, PutTicket, Shard, ShardSettings, Start};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
enum Op {
    Insert { key: u8, size: u16, advance_ms: u16 },
    Hit { key: u8 },
    StaleHit { key: u8 },
    Hits { keys: Vec<u8> },
    Miss,
    Remove { key: u8 },
    Expire { max_age_ms: u16 },
    SetCapacity { entries: u8, bytes: u32 },
    SnapshotRestore,
}

#[derive(Debug, Arbitrary)]
enum ShardOp {
    Admit { key: u8, size: u16 },
    Hit { key: u8 },
    StartPut { pick: u8 },
    Land { pick: u8 },
    Return { pick: u8, ok: bool },
    Sweep,
    Tick { ms: u16 },
    SaveLazy,
    Restart { land_mask: u32 },
    Reconfigure { entries: u8, bytes: u16, shards: u8 },
}

#[derive(Debug, Arbitrary)]
struct Input {
    entries: u8,
    bytes: u32,
    window_permille: u16,
    protected_permille: u16,
    climber: u8,
    sample_factor: u8,
    aging_factor: u8,
    ops: Vec<Op>,
    shard_ops: Vec<ShardOp>,
}

/// Spreads a small key id over the hash space (the sketch and shards use the high bits).
fn hash(key: u8) -> u64 {
    u64::from(key).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1
}

#[derive(Debug, PartialEq)]
enum Outcome {
    Insert(bool, Vec<u64>),
    Removed(bool),
    Evicted(Vec<u64>),
    None,
}

fn apply(p: &mut CachePolicy, op: &Op, now_ms: u64) -> Outcome {
    match *op {
        Op::Insert { key, size, .. } => {
            let a = p.insert(hash(key), u64::from(size), now_ms);
            Outcome::Insert(a.admitted, a.evicted)
        }
        Op::Hit { key } => {
            p.record_hit(hash(key));
            Outcome::None
        }
        Op::StaleHit { key } => {
            p.record_stale_hit(hash(key));
            Outcome::None
        }
        Op::Hits { ref keys } => {
            p.record_hits(&keys.iter().map(|&k| hash(k)).collect::<Vec<_>>());
            Outcome::None
        }
        Op::Miss => {
            p.record_miss();
            Outcome::None
        }
        Op::Remove { key } => Outcome::Removed(p.remove(hash(key))),
        Op::Expire { max_age_ms } => Outcome::Evicted(p.expire(now_ms, u64::from(max_age_ms))),
        Op::SetCapacity { entries, bytes } => {
            Outcome::Evicted(p.set_capacity(u64::from(entries), u64::from(bytes)))
        }
        Op::SnapshotRestore => Outcome::None,
    }
}

fn check_bounds(p: &CachePolicy) {
    let c = p.config();
    assert!(
        p.len() <= c.capacity_entries,
        "{} entries > {}",
        p.len(),
        c.capacity_entries
    );
    assert!(
        p.bytes() <= c.capacity_bytes,
        "{} bytes > {}",
        p.bytes(),
        c.capacity_bytes
    );
    let s = p.stats();
    assert_eq!((s.entries, s.bytes), (p.len(), p.bytes()));
    assert!(s.stale_hits <= s.hits);
    let floor =
        (u128::from(c.capacity_entries) * u128::from(c.window_permille.min(1000)) / 1000).max(1);
    let window = u128::from(p.window_max_entries());
    assert!(window >= floor, "window {window} below its floor {floor}");
    // Main keeps one entry, unless the configured share (the floor) is the whole cache.
    let ceiling = u128::from(c.capacity_entries.saturating_sub(1)).max(floor);
    assert!(
        window <= ceiling,
        "window {window} above its ceiling {ceiling}"
    );
}

fuzz_target!(|input: Input| {
    fuzz_policy(&input);
    fuzz_shard(
        u64::from(input.entries % 16),
        u64::from(input.bytes % 4096),
        &input.shard_ops,
    );
});

fn fuzz_policy(input: &Input) {
    let config = PolicyConfig {
        capacity_entries: u64::from(input.entries % 64),
        capacity_bytes: u64::from(input.bytes % (1 << 20)),
        window_permille: u32::from(input.window_permille % 1001),
        protected_permille: u32::from(input.protected_permille % 1001),
        // Every climber, and sample periods short enough (the minimum, 128 requests, at these
        // capacities) that the window moves within an input.
        climber: Climber::from_code(u64::from(input.climber % 3)).unwrap_or(Climber::Marginal),
        sample_factor: u32::from(input.sample_factor % 4),
        aging_factor: u32::from(input.aging_factor % 16),
    };
    let mut policy = CachePolicy::new(config);
    let mut restored: Option<CachePolicy> = None;
    let mut resident: BTreeSet<u64> = BTreeSet::new();
    let mut now_ms: u64 = 1_000;
    for op in input.ops.iter().take(512) {
        if let Op::Insert { advance_ms, .. } = op {
            now_ms += u64::from(*advance_ms);
        }
        if let Op::SnapshotRestore = op {
            let bytes = policy.snapshot();
            let back = CachePolicy::restore(&bytes).expect("a snapshot must restore");
            assert_eq!(
                back.snapshot(),
                bytes,
                "restore(snapshot) is not the same policy"
            );
            restored = Some(back);
            continue;
        }
        let outcome = apply(&mut policy, op, now_ms);
        if let Some(twin) = restored.as_mut() {
            assert_eq!(
                apply(twin, op, now_ms),
                outcome,
                "restored policy diverged at {op:?}"
            );
            assert_eq!(twin.snapshot(), policy.snapshot());
        }
        match &outcome {
            Outcome::Insert(admitted, evicted) => {
                for h in evicted {
                    assert!(
                        resident.remove(h),
                        "evicted {h:x} was never reported resident"
                    );
                }
                if *admitted {
                    resident.insert(op_hash(op));
                } else {
                    // A rejected update of a resident key must be reported as evicted.
                    assert!(!resident.contains(&op_hash(op)));
                }
            }
            Outcome::Removed(was) => assert_eq!(*was, resident.remove(&op_hash(op))),
            Outcome::Evicted(list) => {
                for h in list {
                    assert!(
                        resident.remove(h),
                        "{h:x} reported gone but was not resident"
                    );
                }
            }
            Outcome::None => {}
        }
        check_bounds(&policy);
        assert_eq!(
            policy.len(),
            resident.len() as u64,
            "resident set drifted after {op:?}"
        );
        assert!(resident.iter().all(|&h| policy.contains(h)));
    }
}

fn settings(entries: u64, bytes: u64, shards: u32) -> ShardSettings {
    ShardSettings {
        index: 0,
        shards,
        capacity_entries: entries,
        capacity_bytes: bytes,
        kv_ttl_secs: 100,
        sweep_ms: 10_000,
    }
}

#[derive(Debug, Clone, Copy)]
enum Flying {
    /// A put, whether it landed, when it was issued.
    Put(PutTicket, bool, u64),
    Delete(u64, bool),
}

/// A KV put lands within this long of being issued, or never (a request's subrequests do not
/// outlive it by minutes).
const PUT_LANDS_WITHIN_MS: u64 = 60_000;

/// The shard with the shell's duties and a simulated KV (see the module docs).
struct World {
    shard: Shard,
    settings: ShardSettings,
    saved: Vec<u8>,
    lazy: bool,
    /// Key → (size, when KV's own expiration removes it).
    kv: HashMap<u64, (u64, u64)>,
    tickets: Vec<PutTicket>,
    flying: Vec<Flying>,
    now: u64,
    bound: (u64, u64),
}

impl World {
    fn after(&mut self, deletes: Vec<u64>) {
        match self.shard.take_dirty() {
            Durability::Now => {
                self.saved = self.shard.snapshot();
                self.lazy = false;
            }
            Durability::Lazy => self.lazy = true,
            Durability::Clean => {}
        }
        self.flying
            .extend(deletes.into_iter().map(|h| Flying::Delete(h, false)));
    }

    fn land(&mut self, op: &mut Flying) {
        match op {
            Flying::Put(t, landed, started)
                if !*landed && self.now.saturating_sub(*started) <= PUT_LANDS_WITHIN_MS =>
            {
                let expires = self.now + self.settings.kv_ttl_secs * 1000;
                self.kv.insert(t.hash, (t.size, expires));
                *landed = true;
            }
            Flying::Delete(h, landed) if !*landed => {
                self.kv.remove(h);
                *landed = true;
            }
            _ => {}
        }
    }

    /// Whether the operation can (still) take effect: a put only within its time.
    fn can_land(&self, op: &Flying) -> bool {
        match op {
            Flying::Put(_, landed, started) => {
                *landed || self.now.saturating_sub(*started) <= PUT_LANDS_WITHIN_MS
            }
            Flying::Delete(..) => true,
        }
    }

    fn ret(&mut self, mut op: Flying, ok: bool) {
        // A success has landed; a put past its time cannot succeed any more.
        let ok = ok && self.can_land(&op);
        if ok {
            self.land(&mut op);
        }
        let deletes = match op {
            Flying::Put(t, _, _) => self.shard.put_done(&t, ok, self.now),
            Flying::Delete(h, _) => {
                self.shard.deleted(h, ok, self.now);
                Vec::new()
            }
        };
        self.after(deletes);
    }

    fn start(&mut self, ticket: PutTicket) {
        match self.shard.start_put(&ticket, self.now) {
            Start::Put => {
                self.after(Vec::new());
                self.flying.push(Flying::Put(ticket, false, self.now));
            }
            Start::Refused { deletes } => self.after(deletes),
        }
    }

    fn check(&mut self) {
        // KV expires values by itself.
        let now = self.now;
        self.kv.retain(|_, (_, expires)| *expires > now);
        let kv_bytes: u64 = self.kv.values().map(|(size, _)| size).sum();
        for h in self.kv.keys() {
            assert!(self.shard.may_hold(*h), "KV holds {h:x}, unknown to the ledger");
        }
        assert!(kv_bytes <= self.shard.ledger_bytes());
        assert!(
            self.kv.len() as u64 <= self.bound.0 && kv_bytes <= self.bound.1,
            "KV {} entries / {kv_bytes} bytes over {:?}",
            self.kv.len(),
            self.bound
        );
        if self.shard.ledger_len() <= self.settings.capacity_entries
            && self.shard.ledger_bytes() <= self.settings.capacity_bytes
        {
            self.bound = (self.settings.capacity_entries, self.settings.capacity_bytes);
        }
    }
}

fn key(k: u8) -> u64 {
    hash(k % 32)
}

fn fuzz_shard(entries: u64, bytes: u64, ops: &[ShardOp]) {
    let initial = settings(entries, bytes, 1);
    let shard = Shard::new(initial);
    let mut w = World {
        saved: shard.snapshot(),
        shard,
        settings: initial,
        lazy: false,
        kv: HashMap::new(),
        tickets: Vec::new(),
        flying: Vec::new(),
        now: 0,
        bound: (entries, bytes),
    };
    for op in ops.iter().take(300) {
        match *op {
            ShardOp::Admit { key: k, size } => {
                let plan = w.shard.admit(key(k), u64::from(size % 600), w.now, true);
                w.tickets.extend(plan.ticket);
                w.after(plan.deletes);
            }
            ShardOp::Hit { key: k } => {
                w.shard.record_hits(&[key(k)], &[]);
                w.after(Vec::new());
            }
            ShardOp::StartPut { pick } if !w.tickets.is_empty() => {
                let t = w.tickets.remove(usize::from(pick) % w.tickets.len());
                w.start(t);
            }
            ShardOp::Land { pick } if !w.flying.is_empty() => {
                let at = usize::from(pick) % w.flying.len();
                let mut op = w.flying[at];
                w.land(&mut op);
                w.flying[at] = op;
            }
            ShardOp::Return { pick, ok } if !w.flying.is_empty() => {
                let op = w.flying.remove(usize::from(pick) % w.flying.len());
                w.ret(op, ok);
            }
            ShardOp::Sweep => {
                let deletes = w.shard.sweep(w.settings, w.now);
                w.after(deletes);
            }
            ShardOp::Tick { ms } => w.now += u64::from(ms),
            ShardOp::SaveLazy if w.lazy => {
                w.saved = w.shard.snapshot();
                w.lazy = false;
            }
            ShardOp::Restart { land_mask } => {
                for (i, mut op) in std::mem::take(&mut w.flying).into_iter().enumerate() {
                    if land_mask & (1 << (i % 32)) != 0 {
                        w.land(&mut op);
                    }
                }
                w.tickets.clear();
                let (shard, deletes) =
                    Shard::restore(&w.saved, w.settings, w.now).expect("own snapshot restores");
                w.shard = shard;
                w.lazy = false;
                w.after(deletes);
            }
            ShardOp::Reconfigure {
                entries,
                bytes,
                shards,
            } => {
                w.settings = settings(
                    u64::from(entries % 16),
                    u64::from(bytes % 4096),
                    u32::from(shards % 3 + 1),
                );
                w.bound = (
                    w.bound.0.max(w.settings.capacity_entries),
                    w.bound.1.max(w.settings.capacity_bytes),
                );
                let deletes = w.shard.sweep(w.settings, w.now);
                w.after(deletes);
            }
            _ => {}
        }
        w.check();
    }
    // Everything returns successfully; the sweep runs until nothing is owed.
    for t in std::mem::take(&mut w.tickets) {
        w.start(t);
    }
    for _ in 0..100 {
        while let Some(op) = w.flying.pop() {
            w.ret(op, true);
        }
        if w.shard.pending_deletes() == 0 {
            break;
        }
        w.now += 60_000;
        let deletes = w.shard.sweep(w.settings, w.now);
        w.after(deletes);
    }
    w.check();
    assert_eq!(w.shard.pending_deletes(), 0);
    let kv_bytes: u64 = w.kv.values().map(|(size, _)| size).sum();
    assert!(w.kv.len() as u64 <= w.settings.capacity_entries);
    assert!(kv_bytes <= w.settings.capacity_bytes);
}

fn op_hash(op: &Op) -> u64 {
    match *op {
        Op::Insert { key, .. } | Op::Remove { key } | Op::Hit { key } | Op::StaleHit { key } => {
            hash(key)
        }
        _ => 0,
    }
}
