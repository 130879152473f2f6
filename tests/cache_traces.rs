//! The short version of the web-cache trace check (issue 12; the full table is
//! `cargo bench --bench cache_hit_ratio`, docs/BENCHMARKS.md).
//!
//! Replays small committed LIRS traces (bench/traces/lirs, gzipped, nothing fetched) and asserts
//! the targets: the adaptive policy's hit ratio at least the better of LRU and the fixed 1%
//! W-TinyLFU minus 0.5 points, and the sharded, lossy layout (hits in batches of 64, 1% lost)
//! within 1 point of it. Each kind of traffic is covered: frequency-heavy loops and scans (ps,
//! gli, scan, cs), a mix (multi2), recency-heavy traffic (sprite) and stationary Zipf(0.8)
//! traffic in a cache large enough for its warm-up to mislead the climber. A few seconds on the
//! host.
#![cfg(not(target_arch = "wasm32"))]

use std::io::Read;

use edge_assistant::search::web::climber::Climber;
use edge_assistant::search::web::policy::PolicyConfig;
use edge_assistant::search::web::replay::{self, ratio};

fn trace(name: &str) -> Vec<u64> {
    let path = format!(
        "{}/bench/traces/lirs/{name}.trace.gz",
        env!("CARGO_MANIFEST_DIR")
    );
    let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut text = String::new();
    flate2::read::GzDecoder::new(file)
        .read_to_string(&mut text)
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    replay::parse_trace(&text).0
}

/// The hit ratios (LRU, fixed 1%, adaptive, sharded) of one trace at one capacity.
fn ratios(requests: &[u64], cap: u64) -> [f64; 4] {
    let mut fixed = PolicyConfig::new(cap, u64::MAX);
    fixed.climber = Climber::Fixed;
    [
        ratio(&replay::lru(requests, cap as usize)),
        ratio(&replay::policy(requests, fixed).0),
        ratio(&replay::policy(requests, PolicyConfig::new(cap, u64::MAX)).0),
        ratio(&replay::sharded(requests, cap, 10, 0x5eed_cafe ^ 0xd20b).0),
    ]
}

/// Rounded to the printed tenth, as the benchmark table judges.
fn tenth(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

#[test]
fn the_adaptive_policy_meets_the_targets_on_small_lirs_traces() {
    let cases: [(&str, &[u64]); 6] = [
        ("ps", &[308, 500, 770]),
        ("gli", &[252, 632]),
        ("cs", &[140, 200, 352]),
        ("multi2", &[500, 568, 1421]),
        ("scan", &[200, 500]),
        ("sprite", &[500, 707]),
    ];
    let mut failures = Vec::new();
    for (name, caps) in cases {
        let requests = trace(name);
        for &cap in caps {
            let [lru, fixed, adaptive, sharded] = ratios(&requests, cap);
            let gap = tenth(adaptive - lru.max(fixed));
            let shard_gap = tenth(sharded - adaptive);
            eprintln!(
                "{name} {cap}: LRU {lru:.1} fixed {fixed:.1} adaptive {adaptive:.1} ({gap:+.1}) \
                 sharded {sharded:.1} ({shard_gap:+.1})"
            );
            if gap < -0.5 {
                failures.push(format!("{name} at {cap}: adaptive {gap:+.1}"));
            }
            if shard_gap < -1.0 {
                failures.push(format!("{name} at {cap}: sharded {shard_gap:+.1}"));
            }
        }
    }
    assert!(failures.is_empty(), "targets missed: {failures:?}");
}

#[test]
fn buffered_hits_ride_along_with_admissions_so_the_shard_decides_on_fresh_frequencies() {
    // cs at 352 entries: with hits reaching the policy only in batches of 64, the same policy
    // (window fixed at 1%) loses about 2 points, because admissions are decided on frequencies
    // up to 64 requests old. The deployed layout sends an isolate's buffered hits with each
    // admission (`calls::shard::Admit::hits`), and that brings it back within 1 point.
    let requests = trace("cs");
    let mut fixed = PolicyConfig::new(352, u64::MAX);
    fixed.climber = Climber::Fixed;
    let direct = ratio(&replay::policy(&requests, fixed).0);
    let batched = ratio(&replay::batched(&requests, fixed, 64, 0, 1));
    assert!(
        direct - batched > 1.5,
        "direct {direct:.1}, batched {batched:.1}"
    );
    let (adaptive_hits, adaptive) = replay::policy(&requests, PolicyConfig::new(352, u64::MAX));
    assert_eq!(
        adaptive.window_max_entries(),
        3,
        "the climber stays at 1% here"
    );
    let sharded = ratio(&replay::sharded(&requests, 352, 10, 7).0);
    let adaptive = ratio(&adaptive_hits);
    assert!(
        sharded > adaptive - 1.0,
        "sharded {sharded:.1}, adaptive {adaptive:.1}"
    );
}

#[test]
fn on_sprite_the_adaptive_policy_recovers_the_gap_to_lru() {
    // The recency-heavy trace: the fixed 1% window is 3.8 points below LRU at 500 entries.
    let requests = trace("sprite");
    let [lru, fixed, adaptive, _] = ratios(&requests, 500);
    assert!(fixed < lru - 3.0, "fixed {fixed:.1}, LRU {lru:.1}");
    assert!(
        adaptive >= lru - 0.5,
        "adaptive {adaptive:.1}, LRU {lru:.1}"
    );
}

/// `requests` draws from Zipf(`s`) over `keys` keys (fixed seed), as key hashes.
fn zipf(s: f64, keys: usize, requests: usize) -> Vec<u64> {
    use rand_core::{RngCore, SeedableRng};
    let mut acc = 0.0;
    let cdf: Vec<f64> = (1..=keys)
        .map(|rank| {
            acc += 1.0 / (rank as f64).powf(s);
            acc
        })
        .collect();
    let total = acc;
    let mut rng = rand_pcg::Pcg64::seed_from_u64(0x5eed_cafe);
    (0..requests)
        .map(|_| {
            let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * total;
            let rank = cdf.partition_point(|&c| c < u) as u64;
            // Any fixed bijection of the rank will do as the key hash.
            (rank + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15)
        })
        .collect()
}

#[test]
fn on_stationary_zipf_traffic_the_window_stays_small() {
    // Zipf(0.8) is frequency-heavy: the fixed 1% window is the better split. While a large
    // cache warms up, both ghosts ask for room; judged with the window ghost's weight that grew
    // the window for a while and ended 0.6–0.7 points below the fixed window here (68.4 or 68.5
    // against 69.1; a lead that small is under the fixed-window audit's threshold). Judged
    // without it (the contested rule in `climber::marginal`), the two are equal.
    let cap = 8_000;
    let requests = zipf(0.8, 30_000, 400_000);
    let mut fixed = PolicyConfig::new(cap, u64::MAX);
    fixed.climber = Climber::Fixed;
    let fixed = ratio(&replay::policy(&requests, fixed).0);
    let (hits, policy) = replay::policy(&requests, PolicyConfig::new(cap, u64::MAX));
    let adaptive = ratio(&hits);
    assert!(
        tenth(adaptive) >= tenth(fixed) - 0.5,
        "adaptive {adaptive:.1}, fixed {fixed:.1}"
    );
    assert_eq!(policy.window_max_entries(), cap / 100, "back at 1%");
}

#[test]
fn after_a_burst_of_new_keys_the_window_comes_back() {
    // 100,000 requests of fresh keys, each asked twice 500 requests apart, then 100,000 of
    // Zipf(1.0) over 20,000 other keys; 1,000 entries. When the Zipf phase starts every key is
    // new to the cache and the window grows; once the phase's head is known, the
    // frequency-guarded main space is worth more again. The climber's marginal estimates cannot
    // see that from a full window (main's ghost holds only the few keys that beat its one
    // entry). Without the fixed-window audit (`search::web::audit`) the window stayed at or near
    // its ceiling on 4 of 8 key sets tried (key set = the Zipf keys' hashes shifted by `salt`),
    // and the Zipf phase got 61.0–61.1% against the fixed window's 65.6–65.7%; these are two of
    // them. With the audit the window is back at 1% on all 8.
    let cap = 1_000u64;
    for salt in [1u64, 4] {
        let mut requests = Vec::new();
        for start in (0..50_000u64).step_by(500) {
            for _ in 0..2 {
                requests.extend(
                    (start..start + 500)
                        .map(|k| (k + (1 << 40)).wrapping_mul(0x9e37_79b9_7f4a_7c15)),
                );
            }
        }
        let shift = salt.wrapping_mul(0x1234_5678_9abc_def1);
        requests.extend(
            zipf(1.0, 20_000, 100_000)
                .into_iter()
                .map(|h| h.wrapping_add(shift)),
        );
        let zipf_phase = 100_000;
        let mut fixed = PolicyConfig::new(cap, u64::MAX);
        fixed.climber = Climber::Fixed;
        let fixed = ratio(&replay::policy(&requests, fixed).0[zipf_phase..]);
        let (hits, policy) = replay::policy(&requests, PolicyConfig::new(cap, u64::MAX));
        let adaptive = ratio(&hits[zipf_phase..]);
        assert!(
            tenth(adaptive) >= tenth(fixed) - 0.5,
            "salt {salt}, Zipf phase: adaptive {adaptive:.1}, fixed {fixed:.1}"
        );
        assert_eq!(
            policy.window_max_entries(),
            cap / 100,
            "salt {salt}: back at 1%"
        );
        assert!(policy.audit_resets() >= 1, "salt {salt}: by the audit");
    }
}
