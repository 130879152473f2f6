//! Fuzzes `search::web::policy::CachePolicy` with arbitrary operation sequences (insert, hit,
//! stale hit, miss, remove, expire, set_capacity, snapshot + restore).
//!
//! Checked after every operation:
//! - both bounds hold: entries ≤ capacity_entries and bytes ≤ capacity_bytes;
//! - the edge's mirror of the resident set, kept only from what the calls return (`admitted`,
//!   `evicted`, `remove`'s bool, `expire`'s and `set_capacity`'s lists), equals the policy's
//!   resident set: this is what keeps KV exactly within the bound;
//! - a policy restored from `snapshot()` snapshots to the same bytes and then answers every
//!   later operation exactly as the original does.
#![no_main]

use std::collections::BTreeSet;

use arbitrary::Arbitrary;
use edge_assistant::search::web::policy::{CachePolicy, PolicyConfig};
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
struct Input {
    entries: u8,
    bytes: u32,
    window_permille: u16,
    protected_permille: u16,
    shift_sample_factor: u8,
    aging_factor: u8,
    ops: Vec<Op>,
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
}

fuzz_target!(|input: Input| {
    let config = PolicyConfig {
        capacity_entries: u64::from(input.entries % 64),
        capacity_bytes: u64::from(input.bytes % (1 << 20)),
        window_permille: u32::from(input.window_permille % 1001),
        protected_permille: u32::from(input.protected_permille % 1001),
        shift_sample_factor: u32::from(input.shift_sample_factor % 4),
        aging_factor: u32::from(input.aging_factor % 16),
    };
    let mut policy = CachePolicy::new(config);
    let mut restored: Option<CachePolicy> = None;
    let mut resident: BTreeSet<u64> = BTreeSet::new();
    let mut now_ms: u64 = 1_000;
    for op in input.ops.iter().take(256) {
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
});

fn op_hash(op: &Op) -> u64 {
    match *op {
        Op::Insert { key, .. } | Op::Remove { key } | Op::Hit { key } | Op::StaleHit { key } => {
            hash(key)
        }
        _ => 0,
    }
}
