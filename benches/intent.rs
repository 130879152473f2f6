//! Intent router benchmark: µs per message natively over the labelled set
//! (`tests/data/intent/labelled.jsonl`), p50/p99 across messages, and the one-off cost of
//! indexing the lexicon (paid once per process, or per Worker isolate).
//!
//! ```text
//! cargo bench --bench intent
//! ```
//!
//! Each message is routed `REPEAT` times in a row and timed as a block (one call is too short
//! for the clock); the per-call time is the block over `REPEAT`. That is done for `ROUNDS`
//! rounds and each message keeps its fastest round (the least disturbed by other processes on a
//! shared machine). A long-message row routes a 4,000-character message (the API's limit).

use std::hint::black_box;
use std::time::Instant;

use edge_assistant::assistant::intent::route;

const REPEAT: u32 = 200;
const ROUNDS: usize = 5;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

fn main() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/intent/labelled.jsonl"
    );
    let data = std::fs::read_to_string(path).expect("read the labelled set");
    let texts: Vec<String> = data
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("a JSON line");
            v["text"].as_str().expect("a text").to_owned()
        })
        .collect();

    // The first call indexes the lexicon.
    let start = Instant::now();
    black_box(route(black_box("hello")));
    let first_us = start.elapsed().as_secs_f64() * 1e6;

    let time = |text: &str| -> f64 {
        let mut best = f64::INFINITY;
        for _ in 0..ROUNDS {
            let start = Instant::now();
            for _ in 0..REPEAT {
                black_box(route(black_box(text)));
            }
            best = best.min(start.elapsed().as_secs_f64() * 1e6 / f64::from(REPEAT));
        }
        best
    };
    let mut per_message: Vec<f64> = texts.iter().map(|t| time(t)).collect();
    per_message.sort_by(f64::total_cmp);
    let mean_chars =
        texts.iter().map(|t| t.chars().count()).sum::<usize>() as f64 / texts.len() as f64;

    let long: String = texts
        .iter()
        .cycle()
        .take(400)
        .fold(String::new(), |mut s, t| {
            if s.chars().count() + t.chars().count() < 4000 {
                s.push_str(t);
                s.push(' ');
            }
            s
        });
    let long_us = time(&long);

    println!(
        "intent router, native (release), {} messages of {mean_chars:.0} chars on average:\n",
        texts.len()
    );
    println!("| what | p50 µs | p99 µs | max µs |");
    println!("|---|---:|---:|---:|");
    println!(
        "| route(), labelled set | {:.2} | {:.2} | {:.2} |",
        percentile(&per_message, 0.5),
        percentile(&per_message, 0.99),
        per_message[per_message.len() - 1]
    );
    println!(
        "| route(), one {}-char message | {long_us:.2} | | |",
        long.chars().count()
    );
    println!("| first call (indexes the lexicon) | {first_us:.1} | | |");
}
