//! How exactly the JavaScript/TypeScript scanner finds declarations, measured against
//! TypeScript's own parser (`bench/scanner_js/oracle.mjs`), and how fast it is.
//!
//! The corpus is whatever `npm ci` put in `bench/scanner_js/node_modules` (TypeScript itself,
//! rxjs, TanStack Query/Router/Table: .js/.cjs/.mjs/.ts/.d.ts/.tsx) plus the hand-written hard
//! cases in `bench/scanner_js/cases/`. Files TypeScript reports syntax errors in
//! are skipped. Both sides are compared as multisets of (kind, name, line, container). Prints
//! precision, recall and counts per language, the first mismatches, and the scanner's throughput
//! (median of 5 passes). Needs `node`; without it or the corpus it says so and stops.
//!
//! Run: `(cd bench/scanner_js && npm ci) && cargo bench --bench scanner_js_accuracy`.
//! Not a pass/fail test.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use edge_assistant::workspace::scan::{js, SymbolKind};

const EXTENSIONS: [&str; 8] = ["js", "mjs", "cjs", "jsx", "ts", "mts", "cts", "tsx"];
const PASSES: usize = 5;
const SHOWN_MISMATCHES: usize = 30;

type Entry = (SymbolKind, String, u32, Option<String>);

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/scanner_js");
    let corpus = root.join("node_modules");
    if !corpus.is_dir() {
        println!("no corpus: run `npm ci` in {}", root.display());
        return;
    }
    let mut paths = Vec::new();
    collect(&corpus, &mut paths);
    // Hand-written hard cases (JSX text with quotes, TSX generics, ASI, regex vs division).
    collect(&root.join("cases"), &mut paths);
    paths.sort();

    let list: String = paths.iter().map(|p| format!("{}\n", p.display())).collect();
    let oracle_start = Instant::now();
    let child = Command::new("node")
        .arg(root.join("oracle.mjs"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn();
    let Ok(mut child) = child else {
        println!("node is not available; nothing measured");
        return;
    };
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(list.as_bytes())
            .expect("write the file list to node");
    }
    let output = child.wait_with_output().expect("the oracle's output");
    let oracle_seconds = oracle_start.elapsed().as_secs_f64();

    let mut expected: HashMap<String, Vec<Entry>> = HashMap::new();
    let mut skipped = 0usize;
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Ok(value) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let path = value["path"].as_str().unwrap_or_default().to_string();
        let Some(symbols) = value["symbols"].as_array() else {
            skipped += 1;
            continue;
        };
        let entries = symbols
            .iter()
            .filter_map(|s| {
                Some((
                    SymbolKind::parse(s[0].as_str()?)?,
                    s[1].as_str()?.to_string(),
                    u32::try_from(s[2].as_u64()?).ok()?,
                    s[3].as_str().map(str::to_string),
                ))
            })
            .collect();
        expected.insert(path, entries);
    }

    let files: Vec<(PathBuf, bool, Vec<u8>)> = paths
        .iter()
        .filter(|p| expected.contains_key(&p.display().to_string()))
        .filter_map(|p| Some((p.clone(), is_typescript(p), std::fs::read(p).ok()?)))
        .collect();

    // [javascript, typescript] × (expected, found, matched)
    let mut counts = [[0usize; 3]; 2];
    let mut mismatches = Vec::new();
    for (path, typescript, bytes) in &files {
        let want = &expected[&path.display().to_string()];
        let found: Vec<Entry> = js::scan(bytes, *typescript)
            .into_iter()
            .map(|s| (s.kind, s.name, s.line, s.container))
            .collect();
        let mut remaining: HashMap<&Entry, usize> = HashMap::new();
        for entry in want {
            *remaining.entry(entry).or_default() += 1;
        }
        let side = &mut counts[usize::from(*typescript)];
        side[0] += want.len();
        side[1] += found.len();
        for entry in &found {
            match remaining.get_mut(entry) {
                Some(n) if *n > 0 => {
                    *n -= 1;
                    side[2] += 1;
                }
                _ => mismatches.push(format!("extra   {} {entry:?}", short(path))),
            }
        }
        for entry in want {
            if let Some(n) = remaining.get_mut(entry) {
                if *n > 0 {
                    *n -= 1;
                    mismatches.push(format!("missing {} {entry:?}", short(path)));
                }
            }
        }
    }

    let bytes_total: usize = files.iter().map(|(_, _, b)| b.len()).sum();
    println!(
        "files: {} compared, {skipped} skipped (TypeScript reports syntax errors); {:.2} MB",
        files.len(),
        bytes_total as f64 / 1e6
    );
    for (label, [want, found, matched]) in ["javascript", "typescript"].iter().zip(counts) {
        println!(
            "{label}: oracle {want}, scanner {found}, matched {matched}; precision {:.3}% recall {:.3}%",
            100.0 * matched as f64 / found.max(1) as f64,
            100.0 * matched as f64 / want.max(1) as f64
        );
    }
    println!(
        "mismatches: {} (first {SHOWN_MISMATCHES})",
        mismatches.len()
    );
    for line in mismatches.iter().take(SHOWN_MISMATCHES) {
        println!("  {line}");
    }

    let mut times: Vec<f64> = (0..PASSES)
        .map(|_| {
            let start = Instant::now();
            for (_, typescript, bytes) in &files {
                std::hint::black_box(js::scan(bytes, *typescript));
            }
            start.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    let median = times[PASSES / 2];
    let mb = bytes_total as f64 / 1e6;
    println!(
        "\nthroughput (median of {PASSES}): scanner {:.1} MB/s ({:.1} ms); the TypeScript oracle took {:.1} s for all files in node (parse + walk + JSON, one run)",
        mb / median,
        median * 1e3,
        oracle_seconds
    );
}

fn is_typescript(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e == "ts" || e == "mts" || e == "cts" || e == "tsx")
}

fn short(path: &Path) -> String {
    let text = path.display().to_string();
    match text.find("scanner_js/") {
        Some(i) => text[i + "scanner_js/".len()..].to_string(),
        None => text,
    }
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, out);
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| EXTENSIONS.contains(&e))
        {
            out.push(path);
        }
    }
}
