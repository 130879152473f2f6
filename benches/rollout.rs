//! Rollout benchmark: env-steps per second of the rollout core, natively, for 1–1024 envs × 128
//! steps (random and linear policy, with and without trajectory + GAE), the dynamics kernel as a
//! fused row loop vs whole-array column operations, and per-request time and response size for
//! 64 envs × 128 steps, JSON and safetensors answers. Prints markdown tables.
//!
//! ```text
//! cargo bench --bench rollout                              # core only
//! cargo bench --bench rollout -- --baseline FILE           # plus ratios vs bench/rollout_numpy.py output
//! cargo bench --bench rollout -- --dump-trajectory FILE    # JSON lines for tests/gym/crosscheck.py --local
//! cargo bench --bench rollout -- --requests-only           # only the per-request table (JSON vs safetensors)
//! ```
//! `bench/rollout_compare.sh` runs the Python baselines and this benchmark in one go.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use edge_assistant::rollout::cartpole::{step_dynamics, step_dynamics_columns, step_state};
use edge_assistant::rollout::request::benchmark_body;
use edge_assistant::rollout::rng::SeededRng;
use edge_assistant::rollout::{encode_safetensors, rollout, RolloutRequest, RolloutResponse};
use ndarray::{Array1, Array2};
use serde_json::{json, Value};

const ENV_COUNTS: [usize; 5] = [1, 16, 64, 256, 1024];
const STEPS: usize = 128;
const SAMPLES: usize = 7;
const MIN_SAMPLE: Duration = Duration::from_millis(40);

/// Median seconds per call of `f`, over `SAMPLES` samples each long enough to time reliably.
fn median_secs(mut f: impl FnMut()) -> f64 {
    f();
    let mut iters = 1u32;
    loop {
        let start = Instant::now();
        for _ in 0..iters {
            f();
        }
        if start.elapsed() >= MIN_SAMPLE / 4 || iters >= 1 << 20 {
            break;
        }
        iters *= 2;
    }
    let iters = iters * 4;
    let mut samples: Vec<f64> = (0..SAMPLES)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..iters {
                f();
            }
            start.elapsed().as_secs_f64() / iters as f64
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[SAMPLES / 2]
}

fn fmt_rate(r: f64) -> String {
    if r >= 1e6 {
        format!("{:.1}M", r / 1e6)
    } else {
        format!("{:.0}k", r / 1e3)
    }
}

/// `{impl: {num_envs: env_steps_per_s}}` from the Python script's JSON lines.
fn read_baseline(path: &str) -> BTreeMap<String, BTreeMap<usize, f64>> {
    let mut out: BTreeMap<String, BTreeMap<usize, f64>> = BTreeMap::new();
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    for line in text.lines().filter(|l| l.starts_with('{')) {
        let v: Value = serde_json::from_str(line).expect("baseline line is JSON");
        let name = v["impl"].as_str().unwrap_or("?").to_string();
        let n = v["num_envs"].as_u64().unwrap_or(0) as usize;
        let rate = v["env_steps_per_s"].as_f64().unwrap_or(0.0);
        out.entry(name).or_default().insert(n, rate);
    }
    out
}

fn throughput(baseline: Option<&BTreeMap<String, BTreeMap<usize, f64>>>) {
    let variants: [(&str, bool, bool); 4] = [
        ("core, random, summary only", false, false),
        ("core, random, trajectory + GAE", false, true),
        ("core, linear + value head, summary only", true, false),
        ("core, linear + value head, trajectory + GAE", true, true),
    ];
    let mut rows: Vec<(String, Vec<f64>)> = Vec::new();
    for (name, linear, traj) in variants {
        let mut rates = Vec::new();
        for n in ENV_COUNTS {
            let req =
                RolloutRequest::parse(benchmark_body(n, STEPS, linear, traj).as_bytes()).unwrap();
            let secs = median_secs(|| {
                black_box(rollout(black_box(&req), 1).unwrap());
            });
            rates.push((n * STEPS) as f64 / secs);
        }
        rows.push((name.to_string(), rates));
    }
    println!("### Env-steps per second, {STEPS} steps (median of {SAMPLES} samples)\n");
    print!("| implementation |");
    for n in ENV_COUNTS {
        print!(" {n} envs |");
    }
    println!();
    println!("|---|{}", "---:|".repeat(ENV_COUNTS.len()));
    for (name, rates) in &rows {
        print!("| {name} |");
        for r in rates {
            print!(" {} |", fmt_rate(*r));
        }
        println!();
    }
    let Some(baseline) = baseline else {
        println!();
        return;
    };
    for (name, by_n) in baseline {
        print!("| {name} |");
        for n in ENV_COUNTS {
            match by_n.get(&n) {
                Some(r) => print!(" {} |", fmt_rate(*r)),
                None => print!(" – |"),
            }
        }
        println!();
    }
    println!("\n### Speed-up of the core over each baseline (same run)\n");
    print!("| core variant ÷ baseline |");
    for n in ENV_COUNTS {
        print!(" {n} envs |");
    }
    println!();
    println!("|---|{}", "---:|".repeat(ENV_COUNTS.len()));
    for (base_name, by_n) in baseline {
        // Like for like: a baseline that records a trajectory is compared with the core's
        // trajectory variant, the others with the summary-only one.
        let core_name = if base_name.contains("trajectory") {
            "core, random, trajectory + GAE"
        } else {
            "core, random, summary only"
        };
        let Some((_, rates)) = rows.iter().find(|(n, _)| n == core_name) else {
            continue;
        };
        print!("| {core_name} ÷ {base_name} |");
        for (n, r) in ENV_COUNTS.iter().zip(rates) {
            match by_n.get(n) {
                Some(b) if *b > 0.0 => print!(" {:.1}× |", r / b),
                _ => print!(" – |"),
            }
        }
        println!();
    }
    println!();
}

fn kernels() {
    println!("### Dynamics kernel only: blocked `Zip` (8 rows as SIMD lanes) vs whole-array column ops\n");
    println!(
        "| num_envs | blocked Zip (env-steps/s) | column ops (env-steps/s) | blocked ÷ columns |"
    );
    println!("|---:|---:|---:|---:|");
    for n in ENV_COUNTS {
        let mut rng = SeededRng::new(3);
        let start = Array2::from_shape_fn((n, 4), |_| (rng.next_unit() - 0.5) * 0.1);
        let actions = Array1::from_shape_fn(n, |i| (i % 2) as u8);
        let mut term = Array1::from_elem(n, false);
        let mut a = start.clone();
        let fused = median_secs(|| {
            a.assign(&start);
            step_dynamics(a.view_mut(), actions.view(), term.view_mut()).unwrap();
            black_box(&a);
        });
        let mut b = start.clone();
        let columns = median_secs(|| {
            b.assign(&start);
            step_dynamics_columns(b.view_mut(), actions.view(), term.view_mut()).unwrap();
            black_box(&b);
        });
        println!(
            "| {n} | {} | {} | {:.1}× |",
            fmt_rate(n as f64 / fused),
            fmt_rate(n as f64 / columns),
            columns / fused
        );
    }
    println!();
}

fn per_request() {
    println!("### One request, 64 envs × 128 steps (parse body → rollout → encode), median\n");
    println!("| request | parse µs | rollout µs | encode µs | total µs | response bytes |");
    println!("|---|---:|---:|---:|---:|---:|");
    let json = |r: &RolloutResponse| serde_json::to_vec(r).unwrap();
    let binary = |r: &RolloutResponse| encode_safetensors(r).unwrap();
    type Encode<'a> = &'a dyn Fn(&RolloutResponse) -> Vec<u8>;
    let cases: [(&str, bool, bool, Encode); 6] = [
        ("random, summary only (JSON)", false, false, &json),
        ("random, trajectory + GAE, JSON", false, true, &json),
        (
            "random, trajectory + GAE, safetensors",
            false,
            true,
            &binary,
        ),
        (
            "linear + value head, summary only (JSON)",
            true,
            false,
            &json,
        ),
        (
            "linear + value head, trajectory + GAE, JSON",
            true,
            true,
            &json,
        ),
        (
            "linear + value head, trajectory + GAE, safetensors",
            true,
            true,
            &binary,
        ),
    ];
    for (name, linear, traj, encode) in cases {
        let b = benchmark_body(64, 128, linear, traj);
        let req = RolloutRequest::parse(b.as_bytes()).unwrap();
        let resp = rollout(&req, 1).unwrap();
        let bytes = encode(&resp).len();
        let parse = median_secs(|| {
            black_box(RolloutRequest::parse(black_box(b.as_bytes())).unwrap());
        });
        let run = median_secs(|| {
            black_box(rollout(&req, 1).unwrap());
        });
        let enc = median_secs(|| {
            black_box(encode(black_box(&resp)));
        });
        let total = median_secs(|| {
            let r = RolloutRequest::parse(b.as_bytes()).unwrap();
            let out = rollout(&r, 1).unwrap();
            black_box(encode(&out));
        });
        println!(
            "| {name} | {:.0} | {:.0} | {:.0} | {:.0} | {bytes} |",
            parse * 1e6,
            run * 1e6,
            enc * 1e6,
            total * 1e6
        );
    }
    println!();
}

/// Actions that keep the pole up (push toward the lean), found by simulating with the core's own
/// dynamics, so a case reaches the 500-step truncation.
fn balancing_actions(start: [f64; 4], steps: usize) -> Vec<u8> {
    let mut s = start;
    let mut out = Vec::with_capacity(steps);
    for _ in 0..steps {
        let a = u8::from(s[2] + 0.5 * s[3] + 0.01 * s[0] + 0.05 * s[1] > 0.0);
        out.push(a);
        s = step_state(s, a).0;
    }
    out
}

/// Writes JSON lines `{"request": {...}, "response": {...}}` for the gymnasium cross-check.
fn dump(path: &str) {
    let mut rng = SeededRng::new(2024);
    let mut lines = Vec::new();
    let cases: [(&str, usize, usize); 4] = [
        ("reset-range starts, random actions", 16, 200),
        ("wide starts, random actions", 16, 120),
        ("near-threshold starts", 8, 30),
        ("balanced to truncation", 2, 510),
    ];
    for (name, n, steps) in cases {
        let scale = match name {
            "wide starts, random actions" => 2.0,
            "near-threshold starts" => 0.0,
            _ => 0.1,
        };
        let mut initial: Vec<[f64; 4]> = (0..n)
            .map(|_| {
                let mut s = [0.0; 4];
                for v in &mut s {
                    *v = (rng.next_unit() - 0.5) * scale;
                }
                s
            })
            .collect();
        if name == "near-threshold starts" {
            let theta = 12.0 * 2.0 * std::f64::consts::PI / 360.0;
            for (i, s) in initial.iter_mut().enumerate() {
                let sign = if i % 2 == 0 { 1.0 } else { -1.0 };
                *s = match i % 4 {
                    0 | 1 => [sign * 2.39, sign * 0.4, 0.0, 0.0],
                    _ => [0.0, 0.0, sign * (theta - 0.004), sign * 0.3],
                };
            }
        }
        let actions: Vec<Vec<u8>> = if name == "balanced to truncation" {
            let per_env: Vec<Vec<u8>> = initial
                .iter()
                .map(|s| balancing_actions(*s, steps))
                .collect();
            (0..steps)
                .map(|t| per_env.iter().map(|a| a[t]).collect())
                .collect()
        } else {
            (0..steps)
                .map(|_| (0..n).map(|_| (rng.next_u64() >> 63) as u8).collect())
                .collect()
        };
        let request = json!({
            "env": "CartPole-v1", "num_envs": n, "steps": steps, "seed": 5,
            "initial_state": initial, "actions": actions, "include": ["trajectory"],
        });
        let req = RolloutRequest::parse(request.to_string().as_bytes()).unwrap();
        let response = serde_json::to_value(rollout(&req, 5).unwrap()).unwrap();
        lines.push(json!({"case": name, "request": request, "response": response}).to_string());
    }
    std::fs::write(path, lines.join("\n") + "\n").unwrap_or_else(|e| panic!("write {path}: {e}"));
    println!("wrote {} cases to {path}", lines.len());
}

fn main() {
    // `--profile-loop ENVS TRAJ(0|1) LINEAR(0|1)`: repeat one case for a profiler.
    let argv: Vec<String> = std::env::args().collect();
    if let Some(i) = argv.iter().position(|a| a == "--profile-loop") {
        let arg = |k: usize| {
            argv.get(i + k)
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(64)
        };
        let req = RolloutRequest::parse(
            benchmark_body(arg(1), STEPS, arg(3) == 1, arg(2) == 1).as_bytes(),
        )
        .unwrap();
        for _ in 0..2000 {
            black_box(rollout(&req, 1).unwrap());
        }
        return;
    }
    if std::env::args().any(|a| a == "--kernels-only") {
        kernels();
        return;
    }
    if std::env::args().any(|a| a == "--requests-only") {
        per_request();
        return;
    }
    let args: Vec<String> = std::env::args().collect();
    let value_of = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1).cloned())
    };
    if let Some(path) = value_of("--dump-trajectory") {
        dump(&path);
        return;
    }
    let baseline = value_of("--baseline").map(|p| read_baseline(&p));
    println!("## rollout benchmark (native, `cargo bench --bench rollout`)\n");
    throughput(baseline.as_ref());
    kernels();
    per_request();
}
