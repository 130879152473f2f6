//! History search benchmark: index build time, index bytes, query latency p50/p99 of the
//! inverted index next to a naive scan over the same corpus in the same run.
//!
//! ```text
//! cargo bench --bench history_search -- [--corpus FILE] [--queries FILE] [--docs N]
//!     [--num-queries N] [--naive-queries N] [--batch N] [--budget-mib N] [--sweep-mib N,...]
//!     [--million]
//!     [--out DIR] [--dump] [--top10]
//! ```
//! - `--corpus FILE`: one document per line; without it a deterministic synthetic corpus of
//!   `--docs` (100,000) messages over a Zipf(1.0) vocabulary of 50,000 pseudo-words is
//!   generated and written to `DIR/corpus.txt`.
//! - `--queries FILE`: one query per line; without it `--num-queries` (1,000) queries of 1–3
//!   words are generated (Zipf over the vocabulary, skipping its 50 most frequent words, which
//!   people do not search for) and written to `DIR/queries.txt`.
//! - `--dump`: writes `DIR/corpus_tokens.jsonl` (each document's terms), `DIR/query_tokens.jsonl`
//!   (each query's terms after prefix expansion: what the index scores) and
//!   `DIR/rust_top10.jsonl` for `bench/history_bm25s_agreement.py`.
//! - `--top10`: prints `{"query": i, "top": [line, ...], "scores": [...]}` per query to stdout
//!   (lines are 0-based) instead of the table.
//!
//! - `--batch N`: documents per `add` (default 10, a chat flush; the tab's alarm flushes up to
//!   200).
//! - `--budget-mib N`: the persistent index's cache bound (default `CACHE_BUDGET_BYTES`).
//! - `--sweep-mib N,N,...`: also runs the stream measure with a fresh index of each of these
//!   cache budgets over the same store (one table row per budget).
//! - `--million`: the scale run: 1,000,000 documents in batches of 200, naive scan and cold rows
//!   on the first 50 queries (each flag can still be overridden after it).
//!
//! Every document is one message of tab `bench` with `seq` = line + 1.
//!
//! The persistent index (over a `MemoryStore` wrapped to count reads) is timed three ways: warm
//! (each query run twice in a row, the second timed: its chunks are cached if they fit the
//! budget), stream (the whole query list once to fill the cache, then again timed: what an LRU of
//! this budget keeps of a stream) and cold (a fresh `open` per query). Its cache's accounted
//! bytes are sampled after every call; the peak is reported against the budget.

use std::cell::Cell;
use std::collections::HashMap;
use std::io::Write;
use std::time::Instant;

use edge_assistant::search::history::bm25::TermScorer;
use edge_assistant::search::history::persist::CACHE_BUDGET_BYTES;
use edge_assistant::search::history::synthetic::synthetic;
use edge_assistant::search::history::{
    tokenize, DocRef, HistoryDoc, HistoryIndex, PersistentIndex,
};
use edge_assistant::storage::{KvStore, MemoryStore, StorageError, WriteStats};

#[path = "support/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::{live_bytes, CountingAlloc};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

struct Args {
    corpus: Option<String>,
    queries: Option<String>,
    docs: usize,
    num_queries: usize,
    naive_queries: usize,
    out: std::path::PathBuf,
    dump: bool,
    top10: bool,
    batch: usize,
    budget: usize,
    sweep: Vec<usize>,
}

fn parse_args() -> Args {
    let mut args = Args {
        corpus: None,
        queries: None,
        docs: 100_000,
        num_queries: 1_000,
        naive_queries: 200,
        out: std::env::temp_dir().join("edge-assistant-history-bench"),
        dump: false,
        top10: false,
        batch: 10,
        budget: CACHE_BUDGET_BYTES,
        sweep: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--corpus" => args.corpus = Some(value()),
            "--queries" => args.queries = Some(value()),
            "--docs" => args.docs = value().parse().expect("--docs N"),
            "--num-queries" => args.num_queries = value().parse().expect("--num-queries N"),
            "--naive-queries" => args.naive_queries = value().parse().expect("--naive-queries N"),
            "--out" => args.out = value().into(),
            "--dump" => args.dump = true,
            "--top10" => args.top10 = true,
            "--batch" => args.batch = value().parse().expect("--batch N"),
            "--budget-mib" => {
                args.budget = value().parse::<usize>().expect("--budget-mib N") * 1024 * 1024;
            }
            "--sweep-mib" => {
                args.sweep = value()
                    .split(',')
                    .map(|v| v.trim().parse::<usize>().expect("--sweep-mib N,N,...") * 1024 * 1024)
                    .collect();
            }
            "--million" => {
                args.docs = 1_000_000;
                args.batch = 200;
                args.naive_queries = 50;
            }
            "--bench" => {} // passed by `cargo bench`
            other => panic!("unknown argument {other}"),
        }
    }
    args
}

fn read_lines(path: &str) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
        .lines()
        .map(str::to_owned)
        .collect()
}

fn write_lines(path: &std::path::Path, lines: impl IntoIterator<Item = String>) {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).expect("create file"));
    for line in lines {
        writeln!(out, "{line}").expect("write");
    }
}

fn percentile(sorted_us: &[f64], p: f64) -> f64 {
    if sorted_us.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted_us.len() - 1) as f64 * p).round() as usize;
    sorted_us[i]
}

/// p50, p95 and p99 of latencies in µs.
fn stats(mut us: Vec<f64>) -> (f64, f64, f64) {
    us.sort_by(f64::total_cmp);
    (
        percentile(&us, 0.5),
        percentile(&us, 0.95),
        percentile(&us, 0.99),
    )
}

/// A [`MemoryStore`] that counts read calls, to tell cached queries from ones that read.
#[derive(Default)]
struct CountingStore {
    inner: MemoryStore,
    reads: Cell<u64>,
}

impl KvStore for CountingStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        self.reads.set(self.reads.get() + 1);
        self.inner.get(key)
    }
    fn put(&mut self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        self.inner.put(key, value)
    }
    fn delete(&mut self, key: &str) -> Result<(), StorageError> {
        self.inner.delete(key)
    }
    fn range(
        &self,
        start: &str,
        end: &str,
        reverse: bool,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, StorageError> {
        self.reads.set(self.reads.get() + 1);
        self.inner.range(start, end, reverse, limit)
    }
    fn delete_prefix(&mut self, prefix: &str) -> Result<u64, StorageError> {
        self.inner.delete_prefix(prefix)
    }
    fn write_stats(&self) -> WriteStats {
        self.inner.write_stats()
    }
}

/// The baseline: every document tokenized once up front, then every query scores every document
/// (document frequencies counted by scanning too): O(documents × terms) per query.
struct Naive {
    docs: Vec<(Vec<(u32, u32)>, u32)>,
    ids: HashMap<String, u32>,
    total_len: u64,
}

impl Naive {
    fn build(texts: &[String]) -> Self {
        let mut ids = HashMap::new();
        let mut total_len = 0;
        let docs = texts
            .iter()
            .map(|t| {
                let terms = tokenize::terms(t);
                total_len += terms.len() as u64;
                let mut counts: HashMap<u32, u32> = HashMap::new();
                for term in &terms {
                    let next = ids.len() as u32;
                    *counts
                        .entry(*ids.entry(term.clone()).or_insert(next))
                        .or_insert(0) += 1;
                }
                let mut counts: Vec<(u32, u32)> = counts.into_iter().collect();
                counts.sort_unstable();
                (counts, terms.len() as u32)
            })
            .collect();
        Self {
            docs,
            ids,
            total_len,
        }
    }

    fn top10(&self, terms: &[String]) -> Vec<(f32, usize)> {
        let ids: Vec<u32> = terms
            .iter()
            .filter_map(|t| self.ids.get(t).copied())
            .collect();
        let tf = |doc: &[(u32, u32)], id: u32| {
            doc.binary_search_by_key(&id, |p| p.0)
                .ok()
                .map(|i| doc[i].1)
        };
        let n = self.docs.len() as u64;
        let scorers: Vec<TermScorer> = ids
            .iter()
            .map(|&id| {
                let df = self
                    .docs
                    .iter()
                    .filter(|(d, _)| tf(d, id).is_some())
                    .count();
                TermScorer::new(df as u64, n, self.total_len)
            })
            .collect();
        let mut scored: Vec<(f32, usize)> = self
            .docs
            .iter()
            .enumerate()
            .filter_map(|(i, (d, dl))| {
                let s: f32 = ids
                    .iter()
                    .zip(&scorers)
                    .filter_map(|(&id, sc)| tf(d, id).map(|f| sc.score(f, *dl)))
                    .sum();
                (s > 0.0).then_some((s, i))
            })
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.cmp(&a.1)));
        scored.truncate(10);
        scored
    }
}

fn json_list<T: std::fmt::Display>(items: impl IntoIterator<Item = T>) -> String {
    let v: Vec<String> = items.into_iter().map(|x| x.to_string()).collect();
    format!("[{}]", v.join(","))
}

fn main() {
    let args = parse_args();
    std::fs::create_dir_all(&args.out).expect("create output folder");
    let (texts, queries) = match (&args.corpus, &args.queries) {
        (Some(c), Some(q)) => (read_lines(c), read_lines(q)),
        (corpus, queries) => {
            let (docs, qs) = synthetic(args.docs, args.num_queries);
            let docs = corpus.as_deref().map_or(docs, read_lines);
            let qs = queries.as_deref().map_or(qs, read_lines);
            (docs, qs)
        }
    };
    if args.corpus.is_none() {
        write_lines(&args.out.join("corpus.txt"), texts.iter().cloned());
    }
    if args.queries.is_none() {
        write_lines(&args.out.join("queries.txt"), queries.iter().cloned());
    }
    let docs: Vec<HistoryDoc> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| HistoryDoc {
            tab_id: "bench".into(),
            seq: i as u64 + 1,
            role: "user".into(),
            text: t.clone(),
        })
        .collect();

    eprintln!("building {} documents…", docs.len());
    // Build: in memory, then persisted in flush-sized batches.
    let batch = args.batch.max(1);
    let flushes = docs.len().div_ceil(batch).max(1) as f64;
    let t = Instant::now();
    let mut index = HistoryIndex::new();
    for chunk in docs.chunks(batch) {
        index.add(chunk).expect("add");
    }
    let build_ms = t.elapsed().as_secs_f64() * 1e3;
    let mut store = CountingStore::default();
    let mut peak_resident = 0usize;
    let t = Instant::now();
    let mut persistent = PersistentIndex::open_with_budget(&store, args.budget).expect("open");
    for chunk in docs.chunks(batch) {
        persistent.add(&mut store, chunk).expect("persist");
        peak_resident = peak_resident.max(persistent.resident_bytes());
    }
    let persist_ms = t.elapsed().as_secs_f64() * 1e3;
    let writes = store.write_stats();
    let text_bytes: u64 = texts.iter().map(|t| t.len() as u64).sum();
    let postings_bytes: u64 = store
        .inner
        .range("hx/t/", "hx/t0", false, usize::MAX)
        .expect("range")
        .iter()
        .map(|(k, v)| (k.len() + v.len()) as u64)
        .sum();

    let t = Instant::now();
    let naive = Naive::build(&texts);
    let naive_build_ms = t.elapsed().as_secs_f64() * 1e3;

    // Queries: the full search path (validation, prefix expansion, ranking, snippets).
    let mut index_us = Vec::new();
    let mut terms_per_query = Vec::new();
    let mut tops = Vec::new();
    for q in &queries {
        let terms = match index.expand_query(q, None, 10) {
            Ok(terms) => terms,
            Err(_) => {
                terms_per_query.push(Vec::new());
                tops.push(Vec::new());
                continue;
            }
        };
        let t = Instant::now();
        let results = index.search(q, None, 10, &[]).expect("search");
        index_us.push(t.elapsed().as_secs_f64() * 1e6);
        std::hint::black_box(&results);
        let ranked = index.rank_terms(&terms, None, 10, &[]);
        let top: Vec<(f32, usize)> = ranked
            .top
            .iter()
            .filter_map(|&(s, d)| match d {
                DocRef::Indexed(id) => Some((s, id as usize)),
                DocRef::Pending(_) => None,
            })
            .collect();
        terms_per_query.push(terms);
        tops.push(top);
    }
    // Persistent index, warm: each query twice in a row, the second timed.
    let mut warm_us = Vec::new();
    let mut warm_reads = 0;
    for q in &queries {
        let _ = persistent.search(&store, q, None, 10, &[]);
        let reads = store.reads.get();
        let t = Instant::now();
        let r = persistent.search(&store, q, None, 10, &[]);
        warm_us.push(t.elapsed().as_secs_f64() * 1e6);
        warm_reads += store.reads.get() - reads;
        peak_resident = peak_resident.max(persistent.resident_bytes());
        std::hint::black_box(&r);
    }
    // Stream: one pass fills the cache, the next is timed (the LRU keeps what fits).
    for q in &queries {
        let _ = persistent.search(&store, q, None, 10, &[]);
        peak_resident = peak_resident.max(persistent.resident_bytes());
    }
    let mut stream_us = Vec::new();
    let reads = store.reads.get();
    for q in &queries {
        let t = Instant::now();
        let r = persistent.search(&store, q, None, 10, &[]);
        stream_us.push(t.elapsed().as_secs_f64() * 1e6);
        peak_resident = peak_resident.max(persistent.resident_bytes());
        std::hint::black_box(&r);
    }
    let stream_reads = store.reads.get() - reads;
    let mut cold_us = Vec::new();
    for q in queries.iter().take(args.naive_queries) {
        let t = Instant::now();
        let mut fresh = PersistentIndex::open_with_budget(&store, args.budget).expect("open");
        let r = fresh.search(&store, q, None, 10, &[]);
        cold_us.push(t.elapsed().as_secs_f64() * 1e6);
        std::hint::black_box(&r);
    }
    // Budget sweep: the stream measure again with fresh indexes of other budgets.
    if !args.sweep.is_empty() {
        eprintln!("budget sweep ({} budgets)…", args.sweep.len());
    }
    let mut sweep_rows = Vec::new();
    for &budget in &args.sweep {
        let mut us = Vec::with_capacity(queries.len());
        let live_before = live_bytes();
        let mut index = PersistentIndex::open_with_budget(&store, budget).expect("open");
        let mut peak = 0usize;
        for q in &queries {
            let _ = index.search(&store, q, None, 10, &[]);
            peak = peak.max(index.resident_bytes());
        }
        let reads = store.reads.get();
        for q in &queries {
            let t = Instant::now();
            let r = index.search(&store, q, None, 10, &[]);
            us.push(t.elapsed().as_secs_f64() * 1e6);
            peak = peak.max(index.resident_bytes());
            std::hint::black_box(&r);
        }
        let reads = store.reads.get() - reads;
        // What the index retains once its queries returned (their transients are freed).
        let held = live_bytes().saturating_sub(live_before);
        let accounted = index.resident_bytes();
        drop(index);
        sweep_rows.push((budget, stats(us), reads, peak, accounted, held));
    }
    let mut naive_us = Vec::new();
    let mut naive_same = 0;
    let mut naive_compared = 0;
    for (terms, top) in terms_per_query.iter().zip(&tops).take(args.naive_queries) {
        if terms.is_empty() {
            continue;
        }
        let t = Instant::now();
        let naive_top = naive.top10(terms);
        naive_us.push(t.elapsed().as_secs_f64() * 1e6);
        naive_compared += 1;
        let ids = |v: &[(f32, usize)]| v.iter().map(|x| x.1).collect::<Vec<_>>();
        if ids(&naive_top) == ids(top) {
            naive_same += 1;
        }
    }

    if args.dump {
        write_lines(
            &args.out.join("corpus_tokens.jsonl"),
            texts
                .iter()
                .map(|t| serde_json::to_string(&tokenize::terms(t)).expect("json")),
        );
        write_lines(
            &args.out.join("query_tokens.jsonl"),
            terms_per_query
                .iter()
                .map(|t| serde_json::to_string(t).expect("json")),
        );
    }
    let top_lines: Vec<String> = tops
        .iter()
        .enumerate()
        .map(|(i, top)| {
            format!(
                "{{\"query\":{i},\"top\":{},\"scores\":{}}}",
                json_list(top.iter().map(|x| x.1)),
                json_list(top.iter().map(|x| x.0))
            )
        })
        .collect();
    if args.dump {
        write_lines(
            &args.out.join("rust_top10.jsonl"),
            top_lines.iter().cloned(),
        );
    }
    if args.top10 {
        for line in top_lines {
            println!("{line}");
        }
        return;
    }

    let (i50, i95, i99) = stats(index_us.clone());
    let (w50, w95, w99) = stats(warm_us);
    let (s50, s95, s99) = stats(stream_us);
    let (c50, c95, c99) = stats(cold_us.clone());
    let (n50, n95, n99) = stats(naive_us.clone());
    let mean_terms = terms_per_query.iter().map(Vec::len).sum::<usize>() as f64
        / terms_per_query.len().max(1) as f64;
    println!(
        "History search: {} docs ({:.1} MB text), {} queries (mean {:.1} terms after prefix expansion), {} distinct terms\n",
        docs.len(),
        text_bytes as f64 / 1e6,
        queries.len(),
        mean_terms,
        index.term_count()
    );
    println!("| what | figure |");
    println!("|---|---|");
    println!("| index build, in memory (batches of {batch}) | {build_ms:.0} ms |");
    println!("| index build, persisted to MemoryStore (batches of {batch}) | {persist_ms:.0} ms |");
    println!("| naive baseline build (tokenize once) | {naive_build_ms:.0} ms |");
    println!(
        "| index heap bytes (estimate, incl. message text) | {:.1} MB |",
        index.heap_bytes() as f64 / 1e6
    );
    println!(
        "| persisted bytes, all keys | {:.1} MB in {} keys |",
        store.inner.stored_bytes() as f64 / 1e6,
        store.inner.len()
    );
    println!(
        "| persisted bytes, postings blocks only | {:.1} MB |",
        postings_bytes as f64 / 1e6
    );
    println!(
        "| persist writes over the whole build | {} ops, {:.1} MB ({:.1} ops and {:.1} KB per flush of {batch}) |",
        writes.write_ops,
        writes.bytes_written as f64 / 1e6,
        writes.write_ops as f64 / flushes,
        writes.bytes_written as f64 / 1e3 / flushes
    );
    println!(
        "| persistent index cache, peak accounted bytes (build and all queries) | {peak_resident} of a {} budget ({:.2} %) |",
        args.budget,
        100.0 * peak_resident as f64 / args.budget.max(1) as f64
    );
    println!(
        "| persistent store reads per query: warm / stream | {:.2} / {:.2} |",
        warm_reads as f64 / queries.len().max(1) as f64,
        stream_reads as f64 / queries.len().max(1) as f64
    );
    println!();
    println!(
        "| search (top 10) | queries | p50 | p95 | p99 | p50 vs naive | p50 vs in-memory index |"
    );
    println!("|---|---|---|---|---|---|---|");
    let row = |name: &str, n: usize, p50: f64, p95: f64, p99: f64| {
        println!(
            "| {name} | {n} | {:.3} ms | {:.3} ms | {:.3} ms | {:.0}× faster | {:.2}× |",
            p50 / 1e3,
            p95 / 1e3,
            p99 / 1e3,
            n50 / p50,
            p50 / i50
        );
    };
    row(
        "inverted index, in memory (full path incl. snippets)",
        index_us.len(),
        i50,
        i95,
        i99,
    );
    row(
        "persistent index, warm (query repeated)",
        queries.len(),
        w50,
        w95,
        w99,
    );
    row(
        "persistent index, stream (second pass through the LRU)",
        queries.len(),
        s50,
        s95,
        s99,
    );
    row(
        "persistent index, cold (open + lazy loads per query)",
        cold_us.len(),
        c50,
        c95,
        c99,
    );
    row(
        "naive scan (tokenized once, scores every doc)",
        naive_us.len(),
        n50,
        n95,
        n99,
    );
    if !sweep_rows.is_empty() {
        println!();
        println!("| stream pass, cache budget | p50 | p95 | p99 | p50 vs in-memory index | store reads per query | peak accounted bytes | at the end: accounted / heap the index holds |");
        println!("|---|---|---|---|---|---|---|---|");
        for (budget, (p50, p95, p99), reads, peak, accounted, held) in &sweep_rows {
            println!(
                "| {} MiB | {:.3} ms | {:.3} ms | {:.3} ms | {:.2}× | {:.2} | {} | {} / {} ({:+.1} %) |",
                budget / 1048576,
                p50 / 1e3,
                p95 / 1e3,
                p99 / 1e3,
                p50 / i50,
                *reads as f64 / queries.len().max(1) as f64,
                peak,
                accounted,
                held,
                100.0 * (*held as f64 - *accounted as f64) / (*accounted).max(1) as f64
            );
        }
    }
    println!(
        "\nnaive scan and index return the same top-10 list for {naive_same}/{naive_compared} queries"
    );
    eprintln!("corpus and queries in {}", args.out.display());
}
