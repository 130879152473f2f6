//! Code search benchmark over a real tree: the CPython standard library's `.py` files.
//!
//! ```text
//! cargo bench --bench code_search -- [--root DIR] [--rounds N] [--naive-queries N]
//! ```
//! - `--root DIR`: the tree to index (default `/root/.pyenv/versions/3.11.7/lib/python3.11`);
//!   `site-packages/` is skipped. Files are read from disk at bench time (invalid UTF-8 decoded
//!   lossily, as the object does).
//! - `--rounds N` (5): query rounds; each figure is the median over the rounds.
//! - `--naive-queries N` (100): queries also answered by the baseline, a case-insensitive
//!   substring scan of every file's text for every query part (what a grep would do), timed in
//!   the same run.
//! - `--show Q` (repeatable): build, then print the top 5 hits of each `Q` with snippets.
//! - `--profile Q N`: build, then only run query `Q` `N` times (for `perf record`).
//!
//! Symbols come from the shipped Python scanner (`workspace::scan`).
//!
//! Reported: record build time (tokenize + chunk every file), insert time, JSON record bytes
//! against source bytes (total and the largest), `heap_bytes` and the allocator's live bytes
//! after building, the rebuild from the serialized records (decode + insert: what the object does
//! at start), the time to replace one file, and search latency p50/p99 over 1,000 fixed queries
//! (identifiers in four spellings, two-word queries, common and rare words).

use std::path::{Path, PathBuf};
use std::time::Instant;

use edge_assistant::workspace::index::{index_file, snippet, CodeIndex, FileRecord};
use edge_assistant::workspace::scan::{scan, Language, Symbol};

#[path = "support/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::{live_bytes, CountingAlloc};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

struct Args {
    root: PathBuf,
    rounds: usize,
    naive_queries: usize,
    /// `--profile Q N`: after building, run query Q N times and stop (for a profiler).
    profile: Option<(String, usize)>,
    /// `--show Q` (repeatable): after building, print the top 5 hits of each Q and stop.
    show: Vec<String>,
}

fn parse_args() -> Args {
    let mut args = Args {
        root: PathBuf::from("/root/.pyenv/versions/3.11.7/lib/python3.11"),
        rounds: 5,
        naive_queries: 100,
        profile: None,
        show: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--root" => args.root = it.next().expect("--root DIR").into(),
            "--rounds" => args.rounds = it.next().and_then(|v| v.parse().ok()).expect("--rounds N"),
            "--naive-queries" => {
                args.naive_queries = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--naive-queries N")
            }
            "--profile" => {
                let q = it.next().expect("--profile Q N");
                let n = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--profile Q N");
                args.profile = Some((q, n));
            }
            "--show" => args.show.push(it.next().expect("--show Q")),
            "--bench" => {}
            other => panic!("unknown argument {other}"),
        }
    }
    args
}

fn walk(dir: &Path, root: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            if path
                .strip_prefix(root)
                .is_ok_and(|p| p.starts_with("site-packages"))
            {
                continue;
            }
            walk(&path, root, out);
        } else if kind.is_file() && path.extension().is_some_and(|e| e == "py") {
            out.push(path);
        }
    }
}

/// A small deterministic generator (PCG-style LCG), so the query list is the same every run.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.next() as usize % items.len()]
    }
}

fn split_snake(name: &str) -> Vec<String> {
    name.split('_')
        .filter(|p| !p.is_empty())
        .map(str::to_lowercase)
        .collect()
}

fn camel(parts: &[String], upper_first: bool) -> String {
    parts
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mut c = p.chars();
            match c.next() {
                Some(f) if i > 0 || upper_first => f.to_uppercase().chain(c).collect(),
                Some(f) => std::iter::once(f).chain(c).collect(),
                None => String::new(),
            }
        })
        .collect()
}

/// 1,000 queries: 400 identifiers (100 each as snake_case, camelCase, PascalCase and spaced
/// words, from multi-part snake_case symbol names), 250 two-word queries, 200 common words,
/// 150 rare words (identifiers of one symbol, as typed).
fn queries(symbols: &[String]) -> Vec<String> {
    let mut rng = Lcg(0x5eed);
    let multi: Vec<&String> = symbols
        .iter()
        .filter(|s| s.contains('_') && !s.starts_with('_') && s.to_lowercase() == **s)
        .collect();
    let mut out = Vec::new();
    for spelling in 0..4 {
        for _ in 0..100 {
            let parts = split_snake(rng.pick(&multi).as_str());
            out.push(match spelling {
                0 => parts.join("_"),
                1 => camel(&parts, false),
                2 => camel(&parts, true),
                _ => parts.join(" "),
            });
        }
    }
    let words = [
        "socket",
        "timeout",
        "buffer",
        "parse",
        "header",
        "encode",
        "decode",
        "thread",
        "lock",
        "path",
        "file",
        "stream",
        "error",
        "cache",
        "request",
        "response",
        "queue",
        "signal",
        "process",
        "format",
        "date",
        "time",
        "unicode",
        "bytes",
        "compile",
        "token",
        "address",
        "server",
        "client",
        "mail",
        "archive",
        "zip",
        "random",
        "hash",
        "digest",
        "json",
        "xml",
        "element",
        "attribute",
        "module",
        "import",
        "loader",
        "finder",
        "frame",
        "stack",
        "trace",
    ];
    for _ in 0..250 {
        out.push(format!("{} {}", rng.pick(&words), rng.pick(&words)));
    }
    let common = [
        "self", "return", "none", "if", "def", "import", "for", "in", "not", "is",
    ];
    for _ in 0..200 {
        out.push((*rng.pick(&common)).to_owned());
    }
    for _ in 0..150 {
        out.push(rng.pick(symbols).clone());
    }
    out
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    percentile(&v, 0.5)
}

fn ms(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1e3
}

fn main() {
    let args = parse_args();
    let mut paths = Vec::new();
    walk(&args.root, &args.root, &mut paths);
    paths.sort();
    let files: Vec<(String, String)> = paths
        .iter()
        .filter_map(|p| {
            let bytes = std::fs::read(p).ok()?;
            let rel = p
                .strip_prefix(&args.root)
                .ok()?
                .to_string_lossy()
                .into_owned();
            Some((rel, String::from_utf8_lossy(&bytes).into_owned()))
        })
        .collect();
    let source_bytes: usize = files.iter().map(|(_, t)| t.len()).sum();
    let symbols: Vec<Vec<Symbol>> = files
        .iter()
        .map(|(_, t)| scan(Language::Python, t.as_bytes()))
        .collect();
    let symbol_count: usize = symbols.iter().map(Vec::len).sum();
    println!(
        "corpus: {} files, {:.1} MB, {} symbols (the Python scanner), root {}",
        files.len(),
        source_bytes as f64 / 1e6,
        symbol_count,
        args.root.display()
    );

    // Records: tokenize and chunk every file.
    let start = Instant::now();
    let records: Vec<FileRecord> = files
        .iter()
        .zip(&symbols)
        .map(|((_, text), syms)| index_file(text, syms))
        .collect();
    let build_ms = ms(start);
    let encoded: Vec<Vec<u8>> = records
        .iter()
        .map(|r| serde_json::to_vec(r).expect("record encodes"))
        .collect();
    let record_bytes: usize = encoded.iter().map(Vec::len).sum();
    let (largest, largest_path) = encoded
        .iter()
        .zip(&files)
        .map(|(e, (p, t))| (e.len(), format!("{p} ({} source bytes)", t.len())))
        .max()
        .unwrap_or_default();
    let chunks: usize = records.iter().map(FileRecord::chunk_count).sum();
    let symbol_bytes: usize = records
        .iter()
        .map(|r| serde_json::to_vec(&r.symbols).map_or(0, |v| v.len()))
        .sum();
    println!(
        "records: built in {build_ms:.0} ms ({:.1} MB/s), {chunks} chunks; JSON {:.1} MB (symbols {:.1} MB) = {:.2} x source ({:.0} KB per source MB), largest {} KB: {largest_path}",
        source_bytes as f64 / 1e6 / (build_ms / 1e3),
        record_bytes as f64 / 1e6,
        symbol_bytes as f64 / 1e6,
        record_bytes as f64 / source_bytes as f64,
        record_bytes as f64 / 1e3 / (source_bytes as f64 / 1e6),
        largest / 1000,
    );

    // Insert into the in-memory index.
    let live_before = live_bytes();
    let start = Instant::now();
    let mut index = CodeIndex::new();
    for ((path, _), record) in files.iter().zip(records.iter().cloned()) {
        index.insert(path, record).expect("own records are valid");
    }
    let insert_ms = ms(start);
    let live = live_bytes().saturating_sub(live_before);
    println!(
        "index: inserted in {insert_ms:.0} ms; heap_bytes {:.1} MB, allocator live {:.1} MB ({:.2} x source)",
        index.heap_bytes() as f64 / 1e6,
        live as f64 / 1e6,
        live as f64 / source_bytes as f64
    );
    drop(records);
    let before = index.heap_usage();
    let live_before_shrink = live_bytes();
    let start = Instant::now();
    index.shrink_to_fit();
    let shrink_ms = ms(start);
    let after = index.heap_usage();
    println!(
        "heap by part (MB), before / after shrink_to_fit ({shrink_ms:.0} ms, allocator live -{:.1} MB): vocabulary {:.1} / {:.1}, postings {:.1} / {:.1}, symbols {:.1} / {:.1}, files {:.1} / {:.1}; heap_bytes {:.1} MB after",
        live_before_shrink.saturating_sub(live_bytes()) as f64 / 1e6,
        before.vocabulary as f64 / 1e6,
        after.vocabulary as f64 / 1e6,
        before.postings as f64 / 1e6,
        after.postings as f64 / 1e6,
        before.symbols as f64 / 1e6,
        after.symbols as f64 / 1e6,
        before.files as f64 / 1e6,
        after.files as f64 / 1e6,
        index.heap_bytes() as f64 / 1e6,
    );
    if !args.show.is_empty() {
        let texts: std::collections::HashMap<&str, &str> = files
            .iter()
            .map(|(p, t)| (p.as_str(), t.as_str()))
            .collect();
        for q in &args.show {
            let results = index.search(q, 5).expect("valid query");
            println!("{q:?}: {} chunks", results.total);
            for hit in &results.hits {
                let text = texts.get(hit.path.as_str()).copied().unwrap_or("");
                println!(
                    "  {:.2} {}:{} {:?} | {}",
                    hit.score,
                    hit.path,
                    hit.line,
                    hit.symbol,
                    snippet(text, hit)
                );
            }
        }
        return;
    }
    if let Some((q, n)) = &args.profile {
        let start = Instant::now();
        for _ in 0..*n {
            std::hint::black_box(index.search(q, 10).expect("valid query"));
        }
        println!("{q:?}: {:.0} us per search", ms(start) * 1e3 / *n as f64);
        return;
    }

    // Rebuild from serialized records: what the object does at start.
    let mut rebuild = Vec::new();
    for _ in 0..args.rounds.min(3) {
        let start = Instant::now();
        let mut fresh = CodeIndex::new();
        for ((path, _), bytes) in files.iter().zip(&encoded) {
            let record: FileRecord = serde_json::from_slice(bytes).expect("record decodes");
            fresh.insert(path, record).expect("valid");
        }
        fresh.shrink_to_fit();
        rebuild.push(ms(start));
        assert_eq!(fresh.len(), index.len());
    }
    let start = Instant::now();
    for bytes in &encoded {
        std::hint::black_box(serde_json::from_slice::<FileRecord>(bytes).expect("decodes"));
    }
    let decode_ms = ms(start);
    println!(
        "rebuild from JSON records (decode + insert): median {:.0} ms over {} runs (decode alone {decode_ms:.0} ms)",
        median(rebuild.clone()),
        rebuild.len()
    );

    // Replacing one file (remove + insert of its record), over 200 files spread over the tree.
    let mut replace_us = Vec::new();
    let step = (files.len() / 200).max(1);
    for i in (0..files.len()).step_by(step) {
        let (path, text) = &files[i];
        let record = index_file(text, &symbols[i]);
        let start = Instant::now();
        index.insert(path, record).expect("valid");
        replace_us.push(start.elapsed().as_secs_f64() * 1e6);
    }
    replace_us.sort_by(f64::total_cmp);
    println!(
        "replace one file (insert over an indexed path, record prebuilt): p50 {:.0} us, p99 {:.0} us, max {:.0} us over {}",
        percentile(&replace_us, 0.5),
        percentile(&replace_us, 0.99),
        replace_us.last().copied().unwrap_or(0.0),
        replace_us.len()
    );

    // Queries.
    let mut names: Vec<String> = symbols.iter().flatten().map(|s| s.name.clone()).collect();
    names.sort();
    names.dedup();
    let queries = queries(&names);
    let mut p50s = Vec::new();
    let mut p99s = Vec::new();
    let mut means = Vec::new();
    let mut total_hits = 0u64;
    for _ in 0..args.rounds {
        let mut us = Vec::with_capacity(queries.len());
        for q in &queries {
            let start = Instant::now();
            let results = index.search(q, 10).expect("valid query");
            us.push(start.elapsed().as_secs_f64() * 1e6);
            total_hits += results.hits.len() as u64;
        }
        means.push(us.iter().sum::<f64>() / us.len() as f64);
        us.sort_by(f64::total_cmp);
        p50s.push(percentile(&us, 0.5));
        p99s.push(percentile(&us, 0.99));
    }
    let mut slowest: Vec<(f64, &String)> = queries
        .iter()
        .map(|q| {
            let start = Instant::now();
            let _ = index.search(q, 10);
            (start.elapsed().as_secs_f64() * 1e6, q)
        })
        .collect();
    slowest.sort_by(|a, b| b.0.total_cmp(&a.0));
    slowest.truncate(8);
    let by_kind = |range: std::ops::Range<usize>| {
        let mut us: Vec<f64> = queries[range]
            .iter()
            .map(|q| {
                let start = Instant::now();
                let _ = index.search(q, 10);
                start.elapsed().as_secs_f64() * 1e6
            })
            .collect();
        us.sort_by(f64::total_cmp);
        (percentile(&us, 0.5), percentile(&us, 0.99))
    };
    println!(
        "search (limit 10), {} queries x {} rounds: p50 {:.0} us, p99 {:.0} us, mean {:.0} us (medians over rounds); {} hits per round",
        queries.len(),
        args.rounds,
        median(p50s),
        median(p99s),
        median(means),
        total_hits / args.rounds.max(1) as u64
    );
    for (label, range) in [
        ("identifiers (4 spellings)", 0..400),
        ("two words", 400..650),
        ("common words", 650..850),
        ("rare identifiers", 850..1000),
    ] {
        let (p50, p99) = by_kind(range);
        println!("  {label}: p50 {p50:.0} us, p99 {p99:.0} us");
    }

    println!(
        "  slowest: {}",
        slowest
            .iter()
            .map(|(us, q)| format!("{q:?} {us:.0} us"))
            .collect::<Vec<_>>()
            .join(", ")
    );

    // Symbol lookup.
    let mut sym_us = Vec::new();
    for q in queries.iter().take(200) {
        let start = Instant::now();
        let _ = index.symbols(Some(q), None, None, 20);
        sym_us.push(start.elapsed().as_secs_f64() * 1e6);
    }
    sym_us.sort_by(f64::total_cmp);
    println!(
        "symbols(q, limit 20), 200 queries: p50 {:.0} us, p99 {:.0} us",
        percentile(&sym_us, 0.5),
        percentile(&sym_us, 0.99)
    );

    // Snippets for a page of hits.
    let texts: std::collections::HashMap<&str, &str> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    let mut snip_us = Vec::new();
    for q in queries.iter().take(200) {
        let results = index.search(q, 10).expect("valid");
        let start = Instant::now();
        for hit in &results.hits {
            let _ = snippet(texts.get(hit.path.as_str()).copied().unwrap_or(""), hit);
        }
        snip_us.push(start.elapsed().as_secs_f64() * 1e6);
    }
    snip_us.sort_by(f64::total_cmp);
    println!(
        "snippets for 10 hits (texts in memory): p50 {:.0} us, p99 {:.0} us",
        percentile(&snip_us, 0.5),
        percentile(&snip_us, 0.99)
    );

    // Baseline: a case-insensitive substring scan of every file for every query part.
    let lowered: Vec<String> = files.iter().map(|(_, t)| t.to_lowercase()).collect();
    let naive: Vec<&String> = queries
        .iter()
        .step_by((queries.len() / args.naive_queries.max(1)).max(1))
        .collect();
    let mut naive_us = Vec::new();
    let mut indexed_us = Vec::new();
    for q in &naive {
        let parts: Vec<String> = q
            .split(|c: char| !c.is_alphanumeric())
            .filter(|p| !p.is_empty())
            .map(str::to_lowercase)
            .collect();
        let start = Instant::now();
        let matching = lowered
            .iter()
            .filter(|t| parts.iter().any(|p| t.contains(p.as_str())))
            .count();
        naive_us.push(start.elapsed().as_secs_f64() * 1e6);
        std::hint::black_box(matching);
        let start = Instant::now();
        std::hint::black_box(index.search(q, 10).expect("valid"));
        indexed_us.push(start.elapsed().as_secs_f64() * 1e6);
    }
    let (naive_p50, indexed_p50) = (median(naive_us), median(indexed_us));
    println!(
        "baseline substring scan, same {} queries: p50 {:.0} us vs index {:.0} us ({:.0}x faster)",
        naive.len(),
        naive_p50,
        indexed_p50,
        naive_p50 / indexed_p50
    );
}
