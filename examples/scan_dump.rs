//! Host driver for the scanner benchmarks (`bench/scanner/`): reads file paths from stdin, one
//! per line, and scans each with the language its extension gives.
//!
//! - default: prints one JSON line per file, `{"path": …, "symbols": [Symbol…]}`.
//! - `--time ROUNDS`: loads every file first, then scans them all ROUNDS times and prints one
//!   JSON line with the median round in seconds, the byte and file counts and MB/s, files/s.
//!
//!   cargo run --release --example scan_dump < paths.txt
//!   cargo run --release --example scan_dump -- --time 7 < paths.txt

use std::io::{BufRead, Write};
use std::time::Instant;

use edge_assistant::workspace::scan::{scan, Language};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rounds = match args.get(1).map(String::as_str) {
        Some("--time") => Some(
            args.get(2)
                .and_then(|n| n.parse::<usize>().ok())
                .filter(|&n| n > 0)
                .unwrap_or(5),
        ),
        Some(other) => {
            eprintln!("unknown argument {other}; usage: scan_dump [--time ROUNDS] < paths");
            std::process::exit(2);
        }
        None => None,
    };
    let paths: Vec<String> = std::io::stdin()
        .lock()
        .lines()
        .map_while(Result::ok)
        .filter(|l| !l.is_empty())
        .collect();
    match rounds {
        None => dump(&paths),
        Some(rounds) => time(&paths, rounds),
    }
}

fn dump(paths: &[String]) {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for path in paths {
        let src = std::fs::read(path).unwrap_or_default();
        let symbols = scan(Language::from_path(path), &src);
        let line = serde_json::json!({ "path": path, "symbols": symbols });
        writeln!(out, "{line}").expect("stdout");
    }
}

fn time(paths: &[String], rounds: usize) {
    let files: Vec<(Language, Vec<u8>)> = paths
        .iter()
        .map(|p| (Language::from_path(p), std::fs::read(p).unwrap_or_default()))
        .collect();
    let bytes: usize = files.iter().map(|(_, src)| src.len()).sum();
    let mut seconds = Vec::with_capacity(rounds);
    let mut symbols = 0usize;
    for _ in 0..rounds {
        let start = Instant::now();
        symbols = files
            .iter()
            .map(|(language, src)| std::hint::black_box(scan(*language, src)).len())
            .sum();
        seconds.push(start.elapsed().as_secs_f64());
    }
    seconds.sort_by(f64::total_cmp);
    let median = seconds[seconds.len() / 2];
    let line = serde_json::json!({
        "rounds": rounds,
        "files": files.len(),
        "bytes": bytes,
        "symbols": symbols,
        "median_s": median,
        "mb_per_s": bytes as f64 / 1e6 / median,
        "files_per_s": files.len() as f64 / median,
    });
    println!("{line}");
}
