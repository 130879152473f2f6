//! Tests of the shard core: the scenarios behind each KV-bound defect, and a property test that
//! drives the core through arbitrary interleavings of admissions, KV operations that land late,
//! fail, or fail after landing, sweeps, restarts and configuration changes against a simulated
//! KV, checking the bound at every step.

use std::collections::HashMap;

use proptest::prelude::*;

use super::*;

fn settings(entries: u64, bytes: u64) -> ShardSettings {
    ShardSettings {
        index: 0,
        shards: 1,
        capacity_entries: entries,
        capacity_bytes: bytes,
        kv_ttl_secs: 100,
        sweep_ms: 10_000,
    }
}

fn put(shard: &mut Shard, plan: &Plan, now: u64) -> PutTicket {
    let ticket = plan.ticket.expect("admitted");
    assert_eq!(shard.start_put(&ticket, now), Start::Put);
    ticket
}

#[test]
fn shard_count_is_one_per_thousand_entries_from_1_to_16() {
    assert_eq!(shard_count(1), 1);
    assert_eq!(shard_count(1_999), 1);
    assert_eq!(shard_count(2_000), 2);
    assert_eq!(shard_count(10_000), 10);
    assert_eq!(shard_count(16_000), 16);
    assert_eq!(shard_count(1_000_000), 16);
    assert_eq!(shard_count(u64::MAX), 16);
    // The shares never add up to more than the totals.
    for total in [1u64, 20, 999, 1_000, 4_000, 12_345, 1_000_000] {
        let config = Config {
            cache_max_entries: total,
            ..Config::default()
        };
        let shards = shard_count(total);
        let sum: u64 = (0..shards)
            .map(|i| ShardSettings::new(i, &config).capacity_entries)
            .sum();
        assert!(sum <= total && sum + u64::from(shards) > total, "{total}");
    }
}

#[test]
fn settings_follow_the_config() {
    let config = Config {
        cache_max_entries: 4_000,
        cache_max_bytes: 4_000_000,
        cache_ttl_seconds: 2,
        ..Config::default()
    };
    let s = ShardSettings::new(3, &config);
    assert_eq!(
        (s.index, s.shards, s.capacity_entries, s.capacity_bytes),
        (3, 4, 1_000, 1_000_000)
    );
    assert_eq!(s.sweep_ms, 5_000, "at least 5 s");
    assert_eq!(s.kv_ttl_secs, 2 + 24 * 3600);
    assert_eq!(kv_expiration_secs(0), 24 * 3600);
    assert_eq!(
        ShardSettings::new(0, &Config::default()).sweep_ms,
        600_000,
        "at most 10 min"
    );
}

#[test]
fn a_late_put_never_lands_after_the_delete_of_its_key() {
    // Capacity 2, window 1: admissions interleave while earlier puts are still in flight.
    let mut s = Shard::new(settings(2, 1_000));
    let a = s.admit(1, 10, 0, true);
    let b = s.admit(2, 10, 0, true);
    let ta = put(&mut s, &a, 0); // A's put is in flight...
    let c = s.admit(3, 10, 0, true); // ...when C's admission evicts a key
    assert_eq!(c.evicted, 1);
    // Whatever was evicted, no delete of a key is issued while its put runs.
    if !s.policy.contains(1) {
        assert!(!c.deletes.contains(&1), "A's delete waits for A's put");
        assert_eq!(
            s.put_done(&ta, true, 1),
            vec![1],
            "…and starts when it returns"
        );
        s.deleted(1, true, 2);
        assert!(!s.may_hold(1));
    } else {
        assert_eq!(s.put_done(&ta, true, 1), Vec::<u64>::new());
    }
    // An admission evicted before its put started never writes.
    for plan in [&b, &c] {
        let t = plan.ticket.expect("admitted");
        if !s.policy.contains(t.hash) {
            assert!(matches!(s.start_put(&t, 3), Start::Refused { .. }));
            assert!(!s.may_hold(t.hash));
        }
    }
    assert!(s.ledger_len() <= 2);
}

#[test]
fn no_put_starts_while_earlier_deletes_are_unconfirmed() {
    // Capacity 2: window 1, main 1.
    let st = settings(2, 1_000);
    let mut s = Shard::new(st);
    for k in 1..=2 {
        let plan = s.admit(k, 10, 0, true);
        let t = put(&mut s, &plan, 0);
        assert!(s.put_done(&t, true, 0).is_empty());
    }
    // Key 9 enters the window; candidate 2 ties with victim 1 and is evicted.
    let plan = s.admit(9, 10, 0, true);
    assert_eq!(plan.deletes, vec![2]);
    let ticket = plan.ticket.expect("9 is admitted");
    // The delete fails: key 2 may still be in KV, so 9 has no room and is not written.
    s.deleted(2, false, 1);
    assert_eq!(s.ledger_len(), 2);
    assert_eq!(
        s.start_put(&ticket, 1),
        Start::Refused {
            deletes: Vec::new()
        }
    );
    assert!(!s.policy.contains(9), "refused means not resident");
    assert_eq!(s.stats().rejected, 1);
    assert_eq!(s.pending_deletes(), 1);
    // The sweep retries it with backoff; once confirmed, there is room again.
    let due = s.next_alarm(1).expect("a retry is scheduled");
    assert_eq!(due, 1 + 2 * FIRST_RETRY_MS);
    assert!(s.sweep(st, due - 1).is_empty(), "not due yet");
    assert_eq!(s.sweep(st, due), vec![2]);
    s.deleted(2, true, due);
    assert_eq!((s.pending_deletes(), s.ledger_len()), (0, 1));
    assert_eq!(
        s.next_alarm(due),
        Some(due + st.sweep_ms),
        "the periodic sweep"
    );
    let plan = s.admit(9, 10, due, true);
    assert!(plan.deletes.is_empty());
    assert_eq!(
        s.start_put(&plan.ticket.expect("admitted"), due),
        Start::Put
    );
}

#[test]
fn the_delete_queue_is_durable_before_any_delete_runs() {
    let mut s = Shard::new(settings(1, 1_000));
    let plan = s.admit(1, 10, 0, true);
    let t = put(&mut s, &plan, 0);
    s.put_done(&t, true, 0);
    s.take_dirty();
    let plan = s.admit(2, 10, 0, true); // capacity 1: evicts key 1 or rejects 2
    assert_eq!(s.take_dirty(), Durability::Now, "save before deleting");
    let saved = s.snapshot();
    // The object dies before the delete runs: the restored shard still owes it.
    let (restored, deletes) = Shard::restore(&saved, settings(1, 1_000), 5).unwrap();
    for d in &plan.deletes {
        assert!(restored.may_hold(*d));
        assert!(deletes.contains(d), "retried at once after a restart");
    }
    assert_eq!(restored.pending_deletes() as usize, plan.deletes.len());
}

#[test]
fn a_failed_put_counts_as_landed_and_is_deleted() {
    let mut s = Shard::new(settings(4, 1_000));
    let plan = s.admit(1, 10, 0, true);
    let t = put(&mut s, &plan, 0);
    assert_eq!(s.put_done(&t, false, 1), vec![1]);
    assert!(
        !s.policy.contains(1),
        "not resident: its value may be missing"
    );
    assert!(
        s.may_hold(1),
        "but it may be in KV until the delete is confirmed"
    );
    s.deleted(1, true, 2);
    assert!(!s.may_hold(1));
    assert_eq!(s.stats().entries, 0);
}

#[test]
fn shrinking_on_restore_evicts_and_persists_the_deletes() {
    let mut s = Shard::new(settings(10, 10_000));
    for k in 1..=10 {
        let plan = s.admit(k, 100, 0, true);
        let t = put(&mut s, &plan, 0);
        s.put_done(&t, true, 0);
    }
    let saved = s.snapshot();
    let (mut small, deletes) = Shard::restore(&saved, settings(4, 10_000), 1).unwrap();
    assert_eq!(deletes.len(), 6);
    assert_eq!(small.take_dirty(), Durability::Now);
    // Persisted: a second restart before the deletes ran still owes them.
    let (again, redo) = Shard::restore(&small.snapshot(), settings(4, 10_000), 2).unwrap();
    assert_eq!(redo.len(), 6);
    assert_eq!(
        again.ledger_len(),
        10,
        "KV may hold all ten until confirmed"
    );
    for d in deletes {
        small.deleted(d, true, 3);
    }
    assert_eq!(small.stats().entries, 4);
    assert!(small.policy.len() <= 4);
}

#[test]
fn a_shard_count_change_hands_foreign_keys_back_to_kv_deletes() {
    let mut s = Shard::new(settings(100, 100_000));
    let keys: Vec<u64> = (0..40u64).map(mix).collect();
    for &k in &keys {
        let plan = s.admit(k, 10, 0, true);
        let t = put(&mut s, &plan, 0);
        s.put_done(&t, true, 0);
    }
    // Two shards now: this one (index 0) keeps its half, deletes the rest.
    let two = ShardSettings {
        shards: 2,
        ..settings(50, 50_000)
    };
    let deletes = s.sweep(two, 1);
    let foreign: Vec<u64> = keys.iter().copied().filter(|&k| !two.owns(k)).collect();
    assert!(!foreign.is_empty());
    for k in &foreign {
        assert!(deletes.contains(k));
    }
    // A shard that no longer exists (index 1 of 1) empties itself, and keeps its alarm until
    // it has.
    let gone = ShardSettings {
        index: 1,
        shards: 1,
        ..settings(100, 100_000)
    };
    let mut orphan = Shard::new(gone);
    let deletes = orphan.sweep(gone, 0);
    assert!(deletes.is_empty() && orphan.next_alarm(0).is_none());
    let (mut orphan, deletes) = Shard::restore(&s.snapshot(), gone, 2).unwrap();
    assert_eq!(orphan.policy.len(), 0);
    assert!(orphan.next_alarm(2).is_some());
    for d in deletes {
        orphan.deleted(d, true, 3);
    }
    assert_eq!(orphan.ledger_len(), 0);
    assert_eq!(orphan.next_alarm(3), None);
}

#[test]
fn the_sweep_expires_what_kv_expired_and_drops_admissions_whose_value_never_came() {
    let st = settings(10, 10_000);
    let mut s = Shard::new(st);
    let plan = s.admit(1, 10, 0, true);
    let t = put(&mut s, &plan, 0);
    s.put_done(&t, true, 0);
    let lost = s.admit(2, 10, 0, true); // its call died before the put
    assert!(s.sweep(st, AWAIT_PUT_MS - 1).is_empty());
    assert!(s.policy.contains(2));
    s.sweep(st, AWAIT_PUT_MS);
    assert!(!s.policy.contains(2), "dropped after AWAIT_PUT_MS");
    assert!(matches!(
        s.start_put(&lost.ticket.unwrap(), AWAIT_PUT_MS + 1),
        Start::Refused { .. }
    ));
    let expiry = st.policy_max_age_ms();
    assert!(s.sweep(st, expiry - 1).is_empty());
    assert!(s.may_hold(1));
    assert!(s.sweep(st, expiry).is_empty(), "KV expired it: no delete");
    assert!(!s.may_hold(1));
    assert_eq!(s.stats().entries, 0);
    assert_eq!(s.next_alarm(expiry), None);
}

#[test]
fn keys_of_other_shards_are_never_admitted() {
    let st = ShardSettings {
        shards: 4,
        ..settings(10, 1_000)
    };
    let foreign = (0..100u64).map(mix).find(|&h| !st.owns(h)).unwrap();
    let mut s = Shard::new(st);
    assert_eq!(s.admit(foreign, 10, 0, true), Plan::default());
    assert_eq!(s.stats().misses, 1, "the miss still counts");
}

#[test]
fn corrupt_snapshots_are_errors_not_panics() {
    let mut s = Shard::new(settings(4, 1_000));
    let plan = s.admit(1, 10, 0, true);
    let t = put(&mut s, &plan, 0);
    s.put_done(&t, true, 0);
    s.admit(2, 10, 0, true);
    let good = s.snapshot();
    assert_eq!(Shard::snapshot_index(&good).unwrap(), 0);
    for cut in [0, 3, 7, 15, 20, good.len() - 1] {
        assert!(Shard::restore(&good[..cut], settings(4, 1_000), 0).is_err());
    }
    let mut huge = good.clone();
    huge[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(Shard::restore(&huge, settings(4, 1_000), 0).is_err());
}

#[test]
fn after_a_restart_no_put_starts_while_the_whole_ledger_is_over_the_bound() {
    // Found by the interleaving property test: a restored ledger counts admitted keys whose
    // value never came; "overwriting" one adds a key to KV, so the whole ledger must fit.
    let st = settings(2, 1_000);
    let mut s = Shard::new(st);
    for k in 1..=2 {
        let plan = s.admit(k, 10, 0, true);
        let t = put(&mut s, &plan, 0);
        s.put_done(&t, true, 0);
    }
    let plan = s.admit(3, 10, 0, true); // evicts 2; 3 awaits its put
    assert_eq!(plan.deletes, vec![2]);
    s.deleted(2, false, 0); // owed
    assert_eq!(s.take_dirty(), Durability::Now);
    let (mut s, deletes) = Shard::restore(&s.snapshot(), st, 1).unwrap();
    assert_eq!(deletes, vec![2], "retried at once; still in flight below");
    assert_eq!(s.ledger_len(), 3, "1 and 2 may be in KV, and 3 counts too");
    let again = s.admit(3, 10, 1, true); // 3 missed again: its value never came
    let ticket = again.ticket.expect("resident: updated in place");
    assert!(matches!(s.start_put(&ticket, 1), Start::Refused { .. }));
}

#[test]
fn a_put_is_not_started_long_after_its_admission() {
    // The policy expires entries by their admission time; KV by the put's. A put started late
    // would land a value the policy forgets before KV does.
    let mut s = Shard::new(settings(4, 1_000));
    let plan = s.admit(1, 10, 0, true);
    let ticket = plan.ticket.unwrap();
    assert!(matches!(
        s.start_put(&ticket, AWAIT_PUT_MS),
        Start::Refused { .. }
    ));
    assert!(!s.policy.contains(1) && !s.may_hold(1));
}

#[test]
fn postponed_deletes_stay_owed_and_due() {
    let st = settings(1, 1_000);
    let mut s = Shard::new(st);
    let plan = s.admit(1, 10, 0, true);
    let t = put(&mut s, &plan, 0);
    s.put_done(&t, false, 0); // failed put: delete owed
    s.postpone(1, 5);
    assert_eq!(s.pending_deletes(), 1);
    assert_eq!(s.next_alarm(5), Some(5), "due at once");
    assert_eq!(s.sweep(st, 5), vec![1]);
}

#[test]
fn a_bare_policy_snapshot_is_adopted_with_all_its_keys() {
    let mut policy = CachePolicy::new(PolicyConfig::new(10, 1_000));
    for k in 1..=5 {
        policy.insert(mix(k), 10, 0);
    }
    let (mut s, deletes) =
        Shard::restore_policy(&policy.snapshot(), settings(3, 1_000), 0).unwrap();
    assert_eq!(deletes.len(), 2, "shrunk to the current capacity");
    assert_eq!(s.ledger_len(), 5, "until those deletes are confirmed");
    assert_eq!(s.take_dirty(), Durability::Now, "saved in the new format");
}

#[test]
fn a_snapshot_saved_before_the_window_climber_restores() {
    // A shard saved by the previous release: its policy in snapshot format 1 (the shift
    // detector), a delete still owed. It restores with every key and the owed delete; the
    // policy's climber starts fresh, and the next save is in the current format.
    let st = settings(10, 1_000);
    let mut s = Shard::new(st);
    for k in 1..=4 {
        let plan = s.admit(mix(k), 10, 0, true);
        let t = put(&mut s, &plan, 0);
        assert!(s.put_done(&t, true, 0).is_empty());
    }
    assert!(s.policy.remove(mix(2)));
    let mut deletes = Vec::new();
    s.forget_resident(mix(2), 0, &mut deletes);
    assert_eq!(deletes, vec![mix(2)]);
    let current = s.snapshot();
    let policy = s.policy.snapshot();
    let mut old = current[..current.len() - policy.len()].to_vec();
    old.extend_from_slice(&s.policy.snapshot_v1([3, 4, 0.5f64.to_bits()]));
    let (r, due) = Shard::restore(&old, st, 10).unwrap();
    assert_eq!(due, vec![mix(2)], "the owed delete is due at once");
    assert_eq!(r.ledger_len(), 4);
    for k in [1, 3, 4] {
        assert!(r.policy.contains(mix(k)));
    }
    assert_eq!(r.policy.window_max_entries(), 1);
    let (again, _) = Shard::restore(&r.snapshot(), st, 10).unwrap();
    assert_eq!(again.snapshot(), r.snapshot());
}

/// Spreads small ids over the hash space (ownership uses the mixed high bits).
fn mix(k: u64) -> u64 {
    k.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1
}

// --- the KV bound under arbitrary interleavings -------------------------------------------

#[derive(Debug, Clone)]
enum Step {
    Admit {
        key: u8,
        size: u16,
    },
    Hit(u8),
    StartPut(u8),
    /// A KV operation in flight takes effect (it stays in flight until it returns).
    Land(u8),
    /// A KV operation in flight returns; `ok` false = it failed (having landed or not).
    Return {
        pick: u8,
        ok: bool,
    },
    Sweep,
    Tick(u16),
    SaveLazy,
    /// The object restarts; each in-flight operation lands or not first.
    Restart {
        land_mask: u32,
    },
    Reconfigure {
        entries: u8,
        bytes: u16,
        shards: u8,
    },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        5 => (0u8..24, 1u16..300).prop_map(|(key, size)| Step::Admit { key, size }),
        2 => (0u8..24).prop_map(Step::Hit),
        4 => any::<u8>().prop_map(Step::StartPut),
        4 => any::<u8>().prop_map(Step::Land),
        5 => (any::<u8>(), prop::bool::weighted(0.7)).prop_map(|(pick, ok)| Step::Return { pick, ok }),
        2 => Just(Step::Sweep),
        2 => (0u16..5000).prop_map(Step::Tick),
        1 => (30_000u16..=u16::MAX).prop_map(Step::Tick),
        1 => Just(Step::SaveLazy),
        1 => any::<u32>().prop_map(|land_mask| Step::Restart { land_mask }),
        1 => (1u8..12, 100u16..3000, 1u8..3)
            .prop_map(|(entries, bytes, shards)| Step::Reconfigure { entries, bytes, shards }),
    ]
}

#[derive(Debug, Clone, Copy)]
enum InFlight {
    Put {
        ticket: PutTicket,
        landed: bool,
        started: u64,
    },
    Delete {
        hash: u64,
        landed: bool,
    },
}

/// A KV put lands within this long of being issued, or never (a request's subrequests do not
/// outlive it by minutes).
const PUT_LANDS_WITHIN_MS: u64 = 60_000;

/// The shard with the shell's duties (save when told, carry out the KV operations it returns)
/// and a simulated KV that only the operations change.
struct World {
    shard: Shard,
    settings: ShardSettings,
    saved: Vec<u8>,
    lazy: bool,
    /// Key → (size, when KV's own expiration removes it).
    kv: HashMap<u64, (u64, u64)>,
    tickets: Vec<PutTicket>,
    flying: Vec<InFlight>,
    now: u64,
    restarted: bool,
    /// KV expired a value by itself (the ledger keeps counting it for a margin).
    kv_expired: bool,
    /// The bound KV must respect now: the current capacities, or during a shrink the larger
    /// ones until the ledger fits the new ones.
    bound: (u64, u64),
}

impl World {
    fn new(settings: ShardSettings) -> Self {
        let shard = Shard::new(settings);
        let saved = shard.snapshot();
        Self {
            shard,
            settings,
            saved,
            lazy: false,
            kv: HashMap::new(),
            tickets: Vec::new(),
            flying: Vec::new(),
            now: 0,
            restarted: false,
            kv_expired: false,
            bound: (settings.capacity_entries, settings.capacity_bytes),
        }
    }

    /// What the shell does after every core call: save when told, then start the deletes.
    fn after(&mut self, deletes: Vec<u64>) {
        match self.shard.take_dirty() {
            Durability::Now => {
                self.saved = self.shard.snapshot();
                self.lazy = false;
            }
            Durability::Lazy => self.lazy = true,
            Durability::Clean => {}
        }
        for hash in deletes {
            self.flying.push(InFlight::Delete {
                hash,
                landed: false,
            });
        }
    }

    /// Whether the operation can (still) take effect: a put only within its time.
    fn can_land(&self, op: &InFlight) -> bool {
        match op {
            InFlight::Put {
                landed, started, ..
            } => *landed || self.now.saturating_sub(*started) <= PUT_LANDS_WITHIN_MS,
            InFlight::Delete { .. } => true,
        }
    }

    fn land(&mut self, op: &mut InFlight) {
        match op {
            InFlight::Put {
                ticket,
                landed,
                started,
            } if !*landed && self.now.saturating_sub(*started) <= PUT_LANDS_WITHIN_MS => {
                let expires = self.now + self.settings.kv_ttl_secs * 1000;
                self.kv.insert(ticket.hash, (ticket.size, expires));
                *landed = true;
            }
            InFlight::Delete { hash, landed } if !*landed => {
                self.kv.remove(hash);
                *landed = true;
            }
            _ => {}
        }
    }

    fn apply(&mut self, step: Step) {
        match step {
            Step::Admit { key, size } => {
                let plan = self
                    .shard
                    .admit(mix(u64::from(key)), u64::from(size), self.now, true);
                self.tickets.extend(plan.ticket);
                self.after(plan.deletes);
            }
            Step::Hit(key) => {
                self.shard.record_hits(&[mix(u64::from(key))], &[]);
                self.after(Vec::new());
            }
            Step::StartPut(i) if !self.tickets.is_empty() => {
                let ticket = self.tickets.remove(usize::from(i) % self.tickets.len());
                match self.shard.start_put(&ticket, self.now) {
                    Start::Put => {
                        self.after(Vec::new());
                        self.flying.push(InFlight::Put {
                            ticket,
                            landed: false,
                            started: self.now,
                        });
                    }
                    Start::Refused { deletes } => self.after(deletes),
                }
            }
            Step::Land(i) if !self.flying.is_empty() => {
                let at = usize::from(i) % self.flying.len();
                let mut op = self.flying[at];
                self.land(&mut op);
                self.flying[at] = op;
            }
            Step::Return { pick, ok } if !self.flying.is_empty() => {
                let mut op = self.flying.remove(usize::from(pick) % self.flying.len());
                let ok = ok && self.can_land(&op);
                if ok {
                    self.land(&mut op); // a success has landed
                }
                let deletes = match op {
                    InFlight::Put { ticket, .. } => self.shard.put_done(&ticket, ok, self.now),
                    InFlight::Delete { hash, .. } => {
                        self.shard.deleted(hash, ok, self.now);
                        Vec::new()
                    }
                };
                self.after(deletes);
            }
            Step::Sweep => {
                let deletes = self.shard.sweep(self.settings, self.now);
                self.after(deletes);
            }
            Step::Tick(ms) => self.now += u64::from(ms),
            Step::SaveLazy if self.lazy => {
                self.saved = self.shard.snapshot();
                self.lazy = false;
            }
            Step::Restart { land_mask } => {
                let flying = std::mem::take(&mut self.flying);
                for (i, mut op) in flying.into_iter().enumerate() {
                    if land_mask & (1 << (i % 32)) != 0 {
                        self.land(&mut op);
                    }
                }
                self.tickets.clear();
                let (shard, deletes) =
                    Shard::restore(&self.saved, self.settings, self.now).expect("own snapshot");
                self.shard = shard;
                self.lazy = false;
                self.restarted = true;
                self.after(deletes);
            }
            Step::Reconfigure {
                entries,
                bytes,
                shards,
            } => {
                self.settings = ShardSettings {
                    shards: u32::from(shards),
                    ..settings(u64::from(entries), u64::from(bytes))
                };
                self.bound = (
                    self.bound.0.max(self.settings.capacity_entries),
                    self.bound.1.max(self.settings.capacity_bytes),
                );
                let deletes = self.shard.sweep(self.settings, self.now);
                self.after(deletes);
            }
            _ => {}
        }
    }

    fn kv_bytes(&self) -> u64 {
        self.kv.values().map(|(size, _)| size).sum()
    }

    fn check(&mut self) -> Result<(), TestCaseError> {
        // KV expires values by itself (the core forgets them a margin later).
        let (now, before) = (self.now, self.kv.len());
        self.kv.retain(|_, (_, expires)| *expires > now);
        self.kv_expired |= self.kv.len() < before;
        for hash in self.kv.keys() {
            prop_assert!(
                self.shard.may_hold(*hash),
                "KV holds {hash:x} unknown to the ledger"
            );
        }
        prop_assert!(self.kv_bytes() <= self.shard.ledger_bytes());
        prop_assert!(
            self.kv.len() as u64 <= self.bound.0 && self.kv_bytes() <= self.bound.1,
            "KV {} entries / {} bytes over the bound {:?}",
            self.kv.len(),
            self.kv_bytes(),
            self.bound
        );
        let fits = self.shard.ledger_len() <= self.settings.capacity_entries
            && self.shard.ledger_bytes() <= self.settings.capacity_bytes;
        if fits {
            self.bound = (self.settings.capacity_entries, self.settings.capacity_bytes);
        }
        let policy = self.shard.policy.config();
        prop_assert!(self.shard.policy.len() <= policy.capacity_entries);
        Ok(())
    }

    /// Every operation returns successfully and the sweep runs until nothing is owed.
    fn settle(&mut self) {
        for ticket in std::mem::take(&mut self.tickets) {
            if let Start::Refused { deletes } = self.shard.start_put(&ticket, self.now) {
                self.after(deletes);
            } else {
                self.after(Vec::new());
                self.flying.push(InFlight::Put {
                    ticket,
                    landed: false,
                    started: self.now,
                });
            }
        }
        for _ in 0..100 {
            while let Some(mut op) = self.flying.pop() {
                let ok = self.can_land(&op);
                self.land(&mut op);
                let deletes = match op {
                    InFlight::Put { ticket, .. } => self.shard.put_done(&ticket, ok, self.now),
                    InFlight::Delete { hash, .. } => {
                        self.shard.deleted(hash, true, self.now);
                        Vec::new()
                    }
                };
                self.after(deletes);
            }
            if self.shard.pending_deletes() == 0 {
                return;
            }
            self.now += MAX_RETRY_MS;
            let deletes = self.shard.sweep(self.settings, self.now);
            self.after(deletes);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn kv_never_exceeds_the_bound_under_any_interleaving(
        entries in 1u64..10,
        bytes in 200u64..3000,
        steps in proptest::collection::vec(step(), 1..250),
    ) {
        let mut world = World::new(settings(entries, bytes));
        for step in steps {
            world.apply(step);
            world.check()?;
        }
        world.settle();
        world.check()?;
        prop_assert_eq!(world.shard.pending_deletes(), 0);
        prop_assert!(world.kv.len() as u64 <= world.settings.capacity_entries);
        prop_assert!(world.kv_bytes() <= world.settings.capacity_bytes);
        let stats = world.shard.stats();
        if world.restarted || world.kv_expired {
            // Admitted keys whose value never came before a restart, and values KV expired by
            // itself, count until the policy expires them.
            prop_assert!(stats.entries >= world.kv.len() as u64);
        } else {
            // The stats are what KV holds.
            prop_assert_eq!(stats.entries, world.kv.len() as u64);
            prop_assert_eq!(stats.bytes, world.kv_bytes());
        }
    }
}
