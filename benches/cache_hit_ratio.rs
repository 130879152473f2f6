//! Hit-ratio benchmark of the web-search cache policy (issue 4).
//!
//! Replays request traces through, side by side in one run: plain LRU (the `lru` crate), moka
//! 0.12 (TinyLFU without an admission window), this crate's W-TinyLFU (with and without its
//! popularity-shift detection), the same policy *as the worker deploys it*, and the clairvoyant
//! optimum (Belady's MIN with bypass). All entries have the same size; the byte bound is not
//! binding here.
//!
//! "As deployed": keys are split by [`shard_of`] over [`shard_count`] shards (10 at 10,000
//! entries), each the shipped shard core ([`Shard`]: policy plus KV ledger) with its share of the
//! capacity; a request hits when the shard's KV holds the key; a miss is admitted at once (its
//! evictions deleted, its value written); hits reach the shard only through the isolate's lossy
//! [`ReadBuffer`] in batches of [`read_buffer::DRAIN_AT`] (64), and a share of them is lost
//! (`--drop-permille`, default 10 = 1%: buffer overflow and failed batch sends), as in the worker.
//! One isolate is simulated; more isolates would delay the hits of each further.
//!
//! Built-in traces (fixed seed): Zipf(0.8) and Zipf(1.0) over 100,000 keys, 1,000,000 requests;
//! "shift": Zipf(1.0) whose popular set is replaced halfway (the second half draws from 100,000
//! new keys). For the shift trace the benchmark also prints hit ratios per 10,000-request window
//! and how many requests after the shift W-TinyLFU needs to be at least as good as LRU from then
//! on.
//!
//! Usage: `cargo bench --bench cache_hit_ratio -- [--capacities 1000,10000] [--requests N]
//! [--drop-permille 10] [--trace FILE]...` — a trace file has one key per line (any text); with
//! `--trace` only the given files are replayed.

use std::collections::{BTreeSet, HashMap};
use std::hash::BuildHasherDefault;
use std::num::NonZeroUsize;

use edge_assistant::config::Config;
use edge_assistant::search::web::normalize::{key_hash, shard_of};
use edge_assistant::search::web::policy::{CachePolicy, PolicyConfig};
use edge_assistant::search::web::read_buffer::{self, ReadBuffer};
use edge_assistant::search::web::shard::{shard_count, Shard, ShardSettings, Start};
use rand_core::{RngCore, SeedableRng};

const SEED: u64 = 0x5eed_cafe;
const KEYS: usize = 100_000;
const SHIFT_WINDOW: usize = 10_000;

/// A trace: the request sequence as dense key ids, and the stable hash of each id.
struct Trace {
    name: String,
    requests: Vec<u32>,
    hashes: Vec<u64>,
}

fn zipf_cdf(n: usize, s: f64) -> Vec<f64> {
    let mut acc = 0.0;
    (0..n)
        .map(|i| {
            acc += 1.0 / ((i + 1) as f64).powf(s);
            acc
        })
        .collect()
}

fn zipf_trace(name: &str, s: f64, requests: usize, shift: bool, seed: u64) -> Trace {
    let cdf = zipf_cdf(KEYS, s);
    let total = cdf.last().copied().unwrap_or(1.0);
    let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
    let reqs = (0..requests)
        .map(|i| {
            let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * total;
            let rank = cdf.partition_point(|&c| c < u).min(KEYS - 1);
            let offset = if shift && i >= requests / 2 { KEYS } else { 0 };
            (rank + offset) as u32
        })
        .collect();
    let n_ids = if shift { 2 * KEYS } else { KEYS };
    Trace {
        name: name.to_string(),
        requests: reqs,
        hashes: (0..n_ids)
            .map(|i| key_hash(&format!("query {i}")))
            .collect(),
    }
}

fn file_trace(path: &str) -> std::io::Result<Trace> {
    let text = std::fs::read_to_string(path)?;
    let mut ids: HashMap<&str, u32> = HashMap::new();
    let mut hashes = Vec::new();
    let mut requests = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let next = ids.len() as u32;
        let id = *ids.entry(line).or_insert_with(|| {
            hashes.push(key_hash(line));
            next
        });
        requests.push(id);
    }
    Ok(Trace {
        name: path.to_string(),
        requests,
        hashes,
    })
}

/// Per-request hit flags of one policy on one trace.
type Hits = Vec<bool>;

fn run_lru(t: &Trace, cap: usize) -> Hits {
    let mut c = lru::LruCache::new(NonZeroUsize::new(cap).unwrap());
    t.requests
        .iter()
        .map(|&k| {
            if c.get(&k).is_some() {
                true
            } else {
                c.put(k, ());
                false
            }
        })
        .collect()
}

fn run_moka(t: &Trace, cap: usize) -> Hits {
    // A fixed hasher keeps moka's sketch deterministic between runs.
    let c: moka::sync::Cache<
        u32,
        (),
        BuildHasherDefault<std::collections::hash_map::DefaultHasher>,
    > = moka::sync::Cache::builder()
        .max_capacity(cap as u64)
        .build_with_hasher(BuildHasherDefault::default());
    t.requests
        .iter()
        .map(|&k| {
            if c.get(&k).is_some() {
                true
            } else {
                c.insert(k, ());
                // Apply the write (and buffered reads) now, so moka is held to its capacity at
                // every step like the other policies instead of running over between maintenance.
                c.run_pending_tasks();
                false
            }
        })
        .collect()
}

fn run_wtinylfu(t: &Trace, cap: usize, shift_detection: bool) -> Hits {
    let mut config = PolicyConfig::new(cap as u64, u64::MAX);
    if !shift_detection {
        config.climber = edge_assistant::search::web::climber::Climber::Fixed;
    }

    let mut p = CachePolicy::new(config);
    t.requests
        .iter()
        .map(|&k| {
            let h = t.hashes[k as usize];
            if p.contains(h) {
                p.record_hit(h);
                true
            } else {
                p.record_miss();
                p.insert(h, 1, 0);
                false
            }
        })
        .collect()
}

/// The policy as the worker runs it (see the module docs). Returns the hit flags and how many
/// hits were dropped on their way to the shards.
fn run_deployed(t: &Trace, cap: usize, drop_permille: u64) -> (Hits, u64) {
    let config = Config {
        cache_max_entries: cap as u64,
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
    let mut rng = rand_pcg::Pcg64::seed_from_u64(SEED ^ 0xd20b);
    let mut dropped = 0;
    let hits = t
        .requests
        .iter()
        .map(|&k| {
            let h = t.hashes[k as usize];
            let s = shard_of(h, shards) as usize;
            let (core, buffer) = (&mut cores[s], &mut buffers[s]);
            if core.may_hold(h) {
                // Lost on the way (a failed batch send), or the buffer is full.
                let lost = rng.next_u64() % 1000 < drop_permille;
                if lost || !buffer.push(h, 0) {
                    dropped += 1;
                }
                if buffer.should_drain(0) {
                    core.record_hits(&buffer.drain(), &[]);
                }
                true
            } else {
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

/// Belady's MIN with bypass: on a miss with a full cache, keep the `cap` keys whose next use is
/// soonest among the residents and the newcomer.
fn run_opt(t: &Trace, cap: usize) -> Hits {
    let n = t.requests.len();
    let mut next = vec![usize::MAX; n];
    let mut last: HashMap<u32, usize> = HashMap::new();
    for i in (0..n).rev() {
        let k = t.requests[i];
        next[i] = last.get(&k).copied().unwrap_or(usize::MAX - i);
        last.insert(k, i);
    }
    let mut resident: HashMap<u32, usize> = HashMap::new();
    let mut by_next: BTreeSet<(usize, u32)> = BTreeSet::new();
    (0..n)
        .map(|i| {
            let k = t.requests[i];
            if let Some(old) = resident.insert(k, next[i]) {
                by_next.remove(&(old, k));
                by_next.insert((next[i], k));
                return true;
            }
            by_next.insert((next[i], k));
            if resident.len() > cap {
                if let Some(&(far, victim)) = by_next.iter().next_back() {
                    by_next.remove(&(far, victim));
                    resident.remove(&victim);
                }
            }
            false
        })
        .collect()
}

fn ratio(h: &[bool]) -> f64 {
    if h.is_empty() {
        return 0.0;
    }
    100.0 * h.iter().filter(|&&x| x).count() as f64 / h.len() as f64
}

fn windows(h: &[bool]) -> Vec<f64> {
    h.chunks(SHIFT_WINDOW).map(ratio).collect()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut capacities = vec![1_000usize, 10_000];
    let mut requests = 1_000_000usize;
    let mut files = Vec::new();
    let mut drop_permille = 10u64;
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--capacities" => {
                i += 1;
                capacities = args[i]
                    .split(',')
                    .map(|c| c.parse().expect("capacity"))
                    .collect();
            }
            "--requests" => {
                i += 1;
                requests = args[i].parse().expect("requests");
            }
            "--drop-permille" => {
                i += 1;
                drop_permille = args[i].parse().expect("drop permille");
            }
            "--trace" => {
                i += 1;
                files.push(args[i].clone());
            }
            "--bench" => {}
            other => panic!("unknown argument {other}"),
        }
        i += 1;
    }

    let traces: Vec<Trace> = if files.is_empty() {
        vec![
            zipf_trace("zipf-0.8", 0.8, requests, false, SEED),
            zipf_trace("zipf-1.0", 1.0, requests, false, SEED),
            zipf_trace("shift (zipf-1.0)", 1.0, requests, true, SEED),
        ]
    } else {
        files
            .iter()
            .map(|f| file_trace(f).expect("read trace"))
            .collect()
    };

    println!(
        "| trace | capacity | LRU | moka | W-TinyLFU | W-TinyLFU without shift detection \
         | W-TinyLFU as deployed | shards | hits dropped | optimum |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut shift_reports = Vec::new();
    for t in &traces {
        for &cap in &capacities {
            let lru = run_lru(t, cap);
            let moka = run_moka(t, cap);
            let w = run_wtinylfu(t, cap, true);
            let wf = run_wtinylfu(t, cap, false);
            let (deployed, dropped) = run_deployed(t, cap, drop_permille);
            let opt = run_opt(t, cap);
            let hits = deployed.iter().filter(|&&h| h).count().max(1);
            println!(
                "| {} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {} | {:.1}% | {:.1} |",
                t.name,
                cap,
                ratio(&lru),
                ratio(&moka),
                ratio(&w),
                ratio(&wf),
                ratio(&deployed),
                shard_count(cap as u64),
                100.0 * dropped as f64 / hits as f64,
                ratio(&opt)
            );
            if t.name.starts_with("shift") {
                shift_reports.push((
                    cap,
                    windows(&lru),
                    windows(&moka),
                    windows(&w),
                    windows(&wf),
                    windows(&deployed),
                ));
            }
        }
    }
    let half_window = requests / 2 / SHIFT_WINDOW;
    for (cap, lru, moka, w, wf, dep) in shift_reports {
        println!("\nShift trace, capacity {cap}: hit % per {SHIFT_WINDOW}-request window after the shift");
        println!(
            "\n| window (requests after shift) | LRU | moka | W-TinyLFU | W-TinyLFU no-detect \
             | as deployed |"
        );
        println!("|---|---:|---:|---:|---:|---:|");
        for j in (half_window.saturating_sub(2))..(half_window + 12).min(lru.len()) {
            println!(
                "| {:+} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} |",
                (j as i64 - half_window as i64) * SHIFT_WINDOW as i64,
                lru[j],
                moka[j],
                w[j],
                wf[j],
                dep[j]
            );
        }
        let recovery = |p: &[f64]| {
            (half_window..lru.len())
                .find(|&j| (j..lru.len()).all(|k| p[k] >= lru[k]))
                .map(|j| (j - half_window + 1) * SHIFT_WINDOW)
        };
        for (name, p) in [
            ("W-TinyLFU", &w),
            ("W-TinyLFU no-detect", &wf),
            ("W-TinyLFU as deployed", &dep),
            ("moka", &moka),
        ] {
            match recovery(p) {
                Some(r) => println!(
                    "\n{name}: at least LRU's hit ratio in every window from {r} requests after the shift on ({:.1}% of the trace)",
                    100.0 * r as f64 / requests as f64
                ),
                None => println!("\n{name}: never stays at LRU's hit ratio after the shift"),
            }
        }
    }
}
