//! Native side of the wasm-vs-native benchmark.
//!
//! ```text
//! wasmbench-native gen OUT_DIR [DOCS] [QUERIES]      # writes OUT_DIR/corpus.txt, queries.txt
//! wasmbench-native run CORPUS QUERIES [OPTIONS_JSON]  # prints the suite's JSON on stdout
//! ```
//! `gen` produces the synthetic corpus of `benches/history_search.rs` (100,000 docs, 1,000
//! queries by default); `run` is what `run.mjs` does in wasm, timed with `Instant`.

use std::io::Write;
use std::time::Instant;

use edge_assistant_wasmbench::{corpus, run_suite, Options};

fn write_lines(path: &std::path::Path, lines: &[String]) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    for line in lines {
        writeln!(out, "{line}")?;
    }
    out.flush()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("gen") => {
            let out = std::path::PathBuf::from(args.get(1).ok_or("gen OUT_DIR")?);
            let docs = args.get(2).map_or(Ok(100_000), |s| s.parse())?;
            let queries = args.get(3).map_or(Ok(1_000), |s| s.parse())?;
            std::fs::create_dir_all(&out)?;
            let (d, q) = corpus::synthetic(docs, queries);
            write_lines(&out.join("corpus.txt"), &d)?;
            write_lines(&out.join("queries.txt"), &q)?;
            Ok(())
        }
        Some("run") => {
            let corpus = std::fs::read_to_string(args.get(1).ok_or("run CORPUS QUERIES")?)?;
            let queries = std::fs::read_to_string(args.get(2).ok_or("run CORPUS QUERIES")?)?;
            let options: Options = serde_json::from_str(args.get(3).map_or("{}", String::as_str))?;
            let origin = Instant::now();
            let clock = || origin.elapsed().as_secs_f64() * 1e3;
            let result = run_suite(&corpus, &queries, &options, &clock, &|m| eprintln!("{m}"));
            println!("{result}");
            Ok(())
        }
        _ => Err("usage: wasmbench-native gen OUT_DIR [DOCS] [QUERIES] | run CORPUS QUERIES [OPTIONS_JSON]".into()),
    }
}
