//! The measured workloads: history search (in-memory and warm persistent BM25 index, the full
//! search path incl. validation, prefix expansion, ranking and snippets) and rollout requests as
//! `POST /api/rollout` does them (parse body → rollout → encode: `serde_json::to_vec`, or the
//! safetensors writer for `Accept: application/octet-stream`), plus a few parts measured alone
//! (rollout only, serialize only, the dynamics kernel) to say what dominates. Issue 14 adds the
//! workspace scanner (every file of a source bundle, per language) and the extraction of a
//! tar.gz upload (`workspace::archive::extract`).

use std::hint::black_box;

use edge_assistant::rollout::cartpole::step_dynamics;
use edge_assistant::rollout::request::benchmark_body;
use edge_assistant::rollout::rng::SeededRng;
use edge_assistant::rollout::{encode_safetensors, rollout, RolloutRequest, RolloutResponse};
use edge_assistant::search::history::{HistoryDoc, HistoryIndex, PersistentIndex};
use edge_assistant::storage::MemoryStore;
use edge_assistant::workspace::archive::{extract, ArchiveFormat, Caps};
use edge_assistant::workspace::scan::{scan, Language};
use ndarray::{Array1, Array2};
use serde::Deserialize;
use serde_json::{json, Value};

/// What to run; every field has a default so `{}` is a full run.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct Options {
    /// Run the history search part (needs a corpus and queries).
    pub history: bool,
    /// Also build the persistent index (MemoryStore) and time warm searches through it; this is
    /// the path the UserObject takes, but building it costs ~4× the in-memory build.
    pub persistent: bool,
    /// Timed passes over all queries; the reported p50/p99/mean are medians over passes.
    pub passes: usize,
    /// Run the rollout part.
    pub rollout: bool,
    /// Env counts of the rollout requests (128 steps each).
    pub num_envs: Vec<usize>,
    /// Samples per rollout figure (the median is reported).
    pub samples: usize,
    /// Minimum duration of one sample, in ms (short calls are repeated to fill it).
    pub min_sample_ms: f64,
    /// When non-zero, also return (as `"dump"`) the response JSON of the linear-policy
    /// trajectory request with this many envs, to diff native against wasm.
    pub dump_linear_trajectory: usize,
    /// Run the scanner part (needs a file bundle, see [`Inputs::files`]).
    pub scan: bool,
    /// Run the archive part (needs a tar.gz, see [`Inputs::archive`]).
    pub archive: bool,
    /// Timed samples of a pass over all files of a language / an extraction of the archive (after
    /// one untimed pass; a sample repeats the pass to last `min_sample_ms`); the median is
    /// reported.
    pub scan_passes: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            history: true,
            persistent: true,
            passes: 3,
            rollout: true,
            num_envs: vec![64, 256, 1024],
            samples: 7,
            min_sample_ms: 40.0,
            dump_linear_trajectory: 0,
            scan: true,
            archive: true,
            scan_passes: 5,
        }
    }
}

const STEPS: usize = 128;

/// FNV-1a, to compare outputs across the two builds without shipping them.
fn fnv(hash: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(hash, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}
const FNV_START: u64 = 0xcbf2_9ce4_8422_2325;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted.get(i).copied().unwrap_or(f64::NAN)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    percentile(&v, 0.5)
}

/// Median ms per call of `f` over `samples` samples, each repeating `f` enough times to last
/// about `min_sample_ms` (the same scheme as `benches/rollout.rs`).
fn median_ms(opts: &Options, clock: &dyn Fn() -> f64, mut f: impl FnMut()) -> f64 {
    f();
    let mut iters = 1u32;
    loop {
        let start = clock();
        for _ in 0..iters {
            f();
        }
        if clock() - start >= opts.min_sample_ms / 4.0 || iters >= 1 << 20 {
            break;
        }
        iters *= 2;
    }
    let iters = iters * 4;
    let samples = (0..opts.samples.max(1))
        .map(|_| {
            let start = clock();
            for _ in 0..iters {
                f();
            }
            (clock() - start) / f64::from(iters)
        })
        .collect();
    median(samples)
}

/// Per-query latencies of one pass, summarised: `(p50 µs, p99 µs, mean µs)`.
fn summarize(mut us: Vec<f64>) -> (f64, f64, f64) {
    let mean = us.iter().sum::<f64>() / us.len().max(1) as f64;
    us.sort_by(f64::total_cmp);
    (percentile(&us, 0.5), percentile(&us, 0.99), mean)
}

fn pass_stats(passes: Vec<(f64, f64, f64)>, checksum: u64, errors: usize) -> Value {
    json!({
        "p50_us": median(passes.iter().map(|p| p.0).collect()),
        "p99_us": median(passes.iter().map(|p| p.1).collect()),
        "mean_us": median(passes.iter().map(|p| p.2).collect()),
        "passes": passes.len(),
        "checksum": format!("{checksum:016x}"),
        "errors": errors,
    })
}

/// Hash of what a search returned: total and (seq, snippet) of each hit. Scores are left out
/// because `ln` may differ in the last bit between the platform libm and wasm's.
fn hash_results(hash: u64, results: &edge_assistant::search::history::HistoryResults) -> u64 {
    let mut h = fnv(hash, &results.total.to_le_bytes());
    for hit in &results.results {
        h = fnv(h, &hit.seq.to_le_bytes());
        h = fnv(h, hit.snippet.as_bytes());
    }
    h
}

fn history(
    corpus: &str,
    queries: &str,
    opts: &Options,
    clock: &dyn Fn() -> f64,
    log: &dyn Fn(&str),
) -> Value {
    let docs: Vec<HistoryDoc> = corpus
        .lines()
        .enumerate()
        .map(|(i, t)| HistoryDoc {
            tab_id: "bench".into(),
            seq: i as u64 + 1,
            role: "user".into(),
            text: t.to_owned(),
        })
        .collect();
    let queries: Vec<&str> = queries.lines().collect();

    log(&format!(
        "history: building the in-memory index of {} docs",
        docs.len()
    ));
    let t = clock();
    let mut index = HistoryIndex::new();
    for batch in docs.chunks(10) {
        if let Err(e) = index.add(batch) {
            return json!({"error": format!("index add: {e}")});
        }
    }
    let build_ms = clock() - t;

    let mut out = json!({
        "docs": docs.len(),
        "queries": queries.len(),
        "build_ms": build_ms,
        "terms": index.term_count(),
    });

    // Untimed warm-up pass, then timed passes; every query timed alone.
    let mut checksum = FNV_START;
    let mut errors = 0;
    for q in &queries {
        match index.search(q, None, 10, &[]) {
            Ok(r) => checksum = hash_results(checksum, &r),
            Err(_) => errors += 1,
        }
    }
    let mut passes = Vec::new();
    for _ in 0..opts.passes.max(1) {
        let mut us = Vec::with_capacity(queries.len());
        for q in &queries {
            let t = clock();
            let r = index.search(q, None, 10, &[]);
            us.push((clock() - t) * 1e3);
            black_box(&r);
        }
        passes.push(summarize(us));
    }
    out["in_memory"] = pass_stats(passes, checksum, errors);
    drop(index);

    if opts.persistent {
        log("history: building the persistent index (MemoryStore)");
        let mut store = MemoryStore::new();
        let t = clock();
        let mut persistent = match PersistentIndex::open(&store) {
            Ok(p) => p,
            Err(e) => return json!({"error": format!("open: {e}")}),
        };
        for batch in docs.chunks(10) {
            if let Err(e) = persistent.add(&mut store, batch) {
                return json!({"error": format!("persist: {e}")});
            }
        }
        out["persist_ms"] = json!(clock() - t);
        let mut checksum = FNV_START;
        let mut errors = 0;
        for q in &queries {
            match persistent.search(&store, q, None, 10, &[]) {
                Ok(r) => checksum = hash_results(checksum, &r),
                Err(_) => errors += 1,
            }
        }
        let mut passes = Vec::new();
        for _ in 0..opts.passes.max(1) {
            let mut us = Vec::with_capacity(queries.len());
            for q in &queries {
                let t = clock();
                let r = persistent.search(&store, q, None, 10, &[]);
                us.push((clock() - t) * 1e3);
                black_box(&r);
            }
            passes.push(summarize(us));
        }
        out["persistent_warm"] = pass_stats(passes, checksum, errors);
    }
    out
}

fn rollout_body(num_envs: usize, linear: bool, trajectory: bool) -> String {
    benchmark_body(num_envs, STEPS, linear, trajectory)
}

/// The answer's encoding, as the route picks it from `Accept`.
#[derive(Clone, Copy)]
enum Encoding {
    Json,
    Safetensors,
}

fn encode(resp: &RolloutResponse, encoding: Encoding) -> Option<Vec<u8>> {
    match encoding {
        Encoding::Json => serde_json::to_vec(resp).ok(),
        Encoding::Safetensors => encode_safetensors(resp).ok(),
    }
}

/// The route's work for one body: parse, roll out (seed given in the body), encode the answer.
fn handle(body: &[u8], encoding: Encoding) -> Option<Vec<u8>> {
    let req = RolloutRequest::parse(body).ok()?;
    let resp = rollout(&req, req.seed.unwrap_or(1)).ok()?;
    encode(&resp, encoding)
}

/// (name, linear policy + value head, trajectory, encoding).
const VARIANTS: [(&str, bool, bool, Encoding); 6] = [
    ("random, summary only", false, false, Encoding::Json),
    (
        "random, trajectory + GAE, JSON",
        false,
        true,
        Encoding::Json,
    ),
    (
        "random, trajectory + GAE, safetensors",
        false,
        true,
        Encoding::Safetensors,
    ),
    (
        "linear + value head, summary only",
        true,
        false,
        Encoding::Json,
    ),
    (
        "linear + value head, trajectory + GAE, JSON",
        true,
        true,
        Encoding::Json,
    ),
    (
        "linear + value head, trajectory + GAE, safetensors",
        true,
        true,
        Encoding::Safetensors,
    ),
];

fn rollouts(opts: &Options, clock: &dyn Fn() -> f64, log: &dyn Fn(&str)) -> Value {
    let mut rows = Vec::new();
    for &n in &opts.num_envs {
        for (name, linear, traj, encoding) in VARIANTS {
            log(&format!("rollout: {n} envs, {name}"));
            let body = rollout_body(n, linear, traj);
            let Some(response) = handle(body.as_bytes(), encoding) else {
                rows.push(json!({"case": "request", "variant": name, "num_envs": n, "error": "request failed"}));
                continue;
            };
            let ms = median_ms(opts, clock, || {
                black_box(handle(black_box(body.as_bytes()), encoding));
            });
            rows.push(json!({
                "case": "request", "variant": name, "num_envs": n, "ms": ms,
                "bytes": response.len(), "hash": format!("{:016x}", fnv(FNV_START, &response)),
            }));
            // Parts, to see what dominates: the rollout alone and the encoding alone.
            let (Ok(req), true) = (RolloutRequest::parse(body.as_bytes()), traj || n == 64) else {
                continue;
            };
            let Ok(resp) = rollout(&req, 1) else {
                continue;
            };
            let run_ms = median_ms(opts, clock, || {
                black_box(rollout(black_box(&req), 1).ok());
            });
            let ser_ms = median_ms(opts, clock, || {
                black_box(encode(black_box(&resp), encoding));
            });
            rows.push(
                json!({"case": "rollout only", "variant": name, "num_envs": n, "ms": run_ms}),
            );
            rows.push(
                json!({"case": "serialize only", "variant": name, "num_envs": n, "ms": ser_ms}),
            );
        }
        // The dynamics kernel alone (one step of every env: sin/cos + arithmetic).
        let mut rng = SeededRng::new(3);
        let start = Array2::from_shape_fn((n, 4), |_| (rng.next_unit() - 0.5) * 0.1);
        let actions = Array1::from_shape_fn(n, |i| (i % 2) as u8);
        let mut term = Array1::from_elem(n, false);
        let mut state = start.clone();
        let ms = median_ms(opts, clock, || {
            state.assign(&start);
            black_box(step_dynamics(state.view_mut(), actions.view(), term.view_mut()).ok());
            black_box(&state);
        });
        rows.push(json!({"case": "kernel: one step_dynamics call", "variant": "", "num_envs": n, "ms": ms}));
    }
    Value::Array(rows)
}

/// Splits a file bundle into `(path, bytes)`: repeated `[u32 LE path length][path][u32 LE byte
/// length][bytes]`, as `wasmbench-native bundle` writes it.
pub fn parse_bundle(mut bundle: &[u8]) -> Result<Vec<(&str, &[u8])>, String> {
    fn take<'a>(rest: &mut &'a [u8]) -> Result<&'a [u8], String> {
        let (len, tail) = rest.split_at_checked(4).ok_or("truncated length")?;
        let len = u32::from_le_bytes(len.try_into().map_err(|_| "length")?) as usize;
        let (item, tail) = tail.split_at_checked(len).ok_or("truncated item")?;
        *rest = tail;
        Ok(item)
    }
    let mut files = Vec::new();
    while !bundle.is_empty() {
        let path = std::str::from_utf8(take(&mut bundle)?).map_err(|e| format!("path: {e}"))?;
        files.push((path, take(&mut bundle)?));
    }
    Ok(files)
}

/// The languages measured, in report order (`Text` files have no symbols and are left out).
const SCANNED: [Language; 6] = [
    Language::Python,
    Language::Rust,
    Language::JavaScript,
    Language::TypeScript,
    Language::Go,
    Language::Markdown,
];

/// Median ms per call of `f` over `passes` samples, after one untimed call; a sample repeats `f`
/// enough times to last about `min_ms` (by the untimed call's duration), so that small inputs are
/// not timed one short call at a time.
fn median_pass_ms(passes: usize, min_ms: f64, clock: &dyn Fn() -> f64, mut f: impl FnMut()) -> f64 {
    let start = clock();
    f();
    let first = clock() - start;
    let iters = (min_ms / first.max(1e-3)).ceil().clamp(1.0, 65_536.0) as u32;
    let times = (0..passes.max(1))
        .map(|_| {
            let start = clock();
            for _ in 0..iters {
                f();
            }
            (clock() - start) / f64::from(iters)
        })
        .collect();
    median(times)
}

/// Scans every file of the bundle, per language: one pass = `scan` of each file of that language
/// (symbols built and dropped, as the workspace object does before storing them). The hash covers
/// every symbol's kind, name, line, container and signature, to prove both sides found the same.
fn scanner(bundle: &[u8], opts: &Options, clock: &dyn Fn() -> f64, log: &dyn Fn(&str)) -> Value {
    let files = match parse_bundle(bundle) {
        Ok(files) => files,
        Err(e) => return json!([{"error": format!("bundle: {e}")}]),
    };
    let mut rows = Vec::new();
    for language in SCANNED {
        let mine: Vec<&[u8]> = files
            .iter()
            .filter(|(path, _)| Language::from_path(path) == language)
            .map(|&(_, bytes)| bytes)
            .collect();
        if mine.is_empty() {
            continue;
        }
        log(&format!(
            "scan: {} files of {}",
            mine.len(),
            language.as_str()
        ));
        let (mut symbols, mut hash) = (0usize, FNV_START);
        for src in &mine {
            for s in scan(language, src) {
                symbols += 1;
                hash = fnv(hash, s.kind.as_str().as_bytes());
                hash = fnv(hash, s.name.as_bytes());
                hash = fnv(hash, &s.line.to_le_bytes());
                hash = fnv(hash, s.container.as_deref().unwrap_or("\0").as_bytes());
                hash = fnv(hash, s.signature.as_bytes());
            }
            hash = fnv(hash, b"\n");
        }
        let ms = median_pass_ms(opts.scan_passes, opts.min_sample_ms, clock, || {
            for src in &mine {
                black_box(scan(language, black_box(src)));
            }
        });
        rows.push(json!({
            "language": language.as_str(),
            "files": mine.len(),
            "bytes": mine.iter().map(|s| s.len()).sum::<usize>(),
            "symbols": symbols,
            "hash": format!("{hash:016x}"),
            "ms": ms,
        }));
    }
    Value::Array(rows)
}

/// Extracts the tar.gz upload with the default caps; the hash covers every kept path and byte.
fn archive(bytes: &[u8], opts: &Options, clock: &dyn Fn() -> f64, log: &dyn Fn(&str)) -> Value {
    log(&format!(
        "archive: extracting {} bytes of tar.gz",
        bytes.len()
    ));
    let caps = Caps::default();
    let extracted = match extract(bytes, ArchiveFormat::TarGz, &caps) {
        Ok(extracted) => extracted,
        Err(e) => return json!({"error": format!("extract: {e}")}),
    };
    let mut hash = FNV_START;
    for file in &extracted.files {
        hash = fnv(hash, file.path.as_bytes());
        hash = fnv(hash, &(file.bytes.len() as u64).to_le_bytes());
        hash = fnv(hash, &file.bytes);
    }
    let ms = median_pass_ms(opts.scan_passes, opts.min_sample_ms, clock, || {
        black_box(extract(black_box(bytes), ArchiveFormat::TarGz, &caps).ok());
    });
    json!({
        "format": "tar.gz",
        "archive_bytes": bytes.len(),
        "files": extracted.files.len(),
        "bytes": extracted.files.iter().map(|f| f.bytes.len()).sum::<usize>(),
        "hash": format!("{hash:016x}"),
        "ms": ms,
    })
}

/// What the workloads read. `corpus` and `queries` hold one document / query per line (history);
/// `files` is a bundle of source files (see [`parse_bundle`]) for the scanner and `archive` a
/// tar.gz; an empty input skips its workload.
#[derive(Debug, Clone, Copy, Default)]
pub struct Inputs<'a> {
    pub corpus: &'a str,
    pub queries: &'a str,
    pub files: &'a [u8],
    pub archive: &'a [u8],
}

/// Runs the selected workloads on `inputs`. `clock` returns milliseconds from any fixed origin;
/// `log` receives progress lines. Returns `{"history": {...}, "rollout": [...], "scan": [...],
/// "archive": {...}}`; failures appear as `"error"` fields.
pub fn run_suite(
    inputs: &Inputs,
    opts: &Options,
    clock: &dyn Fn() -> f64,
    log: &dyn Fn(&str),
) -> Value {
    let mut out = json!({});
    if opts.history {
        out["history"] = history(inputs.corpus, inputs.queries, opts, clock, log);
    }
    if opts.rollout {
        out["rollout"] = rollouts(opts, clock, log);
    }
    if opts.scan && !inputs.files.is_empty() {
        out["scan"] = scanner(inputs.files, opts, clock, log);
    }
    if opts.archive && !inputs.archive.is_empty() {
        out["archive"] = archive(inputs.archive, opts, clock, log);
    }
    if opts.dump_linear_trajectory > 0 {
        let body = rollout_body(opts.dump_linear_trajectory, true, true);
        out["dump"] = json!(handle(body.as_bytes(), Encoding::Json)
            .map(|b| String::from_utf8_lossy(&b).into_owned()));
    }
    out
}
