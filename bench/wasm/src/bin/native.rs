//! Native side of the wasm-vs-native benchmark.
//!
//! ```text
//! wasmbench-native gen OUT_DIR [DOCS] [QUERIES]      # writes OUT_DIR/corpus.txt, queries.txt
//! wasmbench-native bundle LIST OUT                    # the files named in LIST into one bundle
//! wasmbench-native run CORPUS QUERIES [OPTIONS_JSON [FILES [ARCHIVE]]]  # the suite's JSON
//! ```
//! `gen` produces the synthetic corpus of `benches/history_search.rs` (100,000 docs, 1,000
//! queries by default); `bundle` packs the files listed in LIST (one path a line) into the
//! scanner's input (see `parse_bundle`); `run` is what `run.mjs` does in wasm, timed with
//! `Instant`. FILES (a bundle) and ARCHIVE (a tar.gz) are optional; an empty argument skips it.

use std::io::Write;
use std::time::Instant;

use edge_assistant_wasmbench::{corpus, parse_bundle, run_suite, Inputs, Options};

fn write_lines(path: &std::path::Path, lines: &[String]) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    for line in lines {
        writeln!(out, "{line}")?;
    }
    out.flush()
}

fn write_bundle(list: &str, out: &str) -> Result<(), Box<dyn std::error::Error>> {
    let mut bundle = Vec::new();
    let (mut files, mut bytes) = (0usize, 0usize);
    for path in std::fs::read_to_string(list)?
        .lines()
        .filter(|l| !l.is_empty())
    {
        let data = std::fs::read(path)?;
        for item in [path.as_bytes(), &data] {
            bundle.extend_from_slice(&u32::try_from(item.len())?.to_le_bytes());
            bundle.extend_from_slice(item);
        }
        files += 1;
        bytes += data.len();
    }
    parse_bundle(&bundle)?;
    std::fs::write(out, &bundle)?;
    eprintln!("bundle: {files} files, {bytes} bytes -> {out}");
    Ok(())
}

/// The bytes of the file at `args[i]`, empty when the argument is missing or empty.
fn read_optional(args: &[String], i: usize) -> std::io::Result<Vec<u8>> {
    match args.get(i).filter(|p| !p.is_empty()) {
        Some(path) => std::fs::read(path),
        None => Ok(Vec::new()),
    }
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
        Some("bundle") => write_bundle(
            args.get(1).ok_or("bundle LIST OUT")?,
            args.get(2).ok_or("bundle LIST OUT")?,
        ),
        Some("run") => {
            let corpus = std::fs::read_to_string(args.get(1).ok_or("run CORPUS QUERIES")?)?;
            let queries = std::fs::read_to_string(args.get(2).ok_or("run CORPUS QUERIES")?)?;
            let options: Options = serde_json::from_str(args.get(3).map_or("{}", String::as_str))?;
            let files = read_optional(&args, 4)?;
            let archive = read_optional(&args, 5)?;
            let inputs = Inputs {
                corpus: &corpus,
                queries: &queries,
                files: &files,
                archive: &archive,
            };
            let origin = Instant::now();
            let clock = || origin.elapsed().as_secs_f64() * 1e3;
            let result = run_suite(&inputs, &options, &clock, &|m| eprintln!("{m}"));
            println!("{result}");
            Ok(())
        }
        _ => Err("usage: wasmbench-native gen OUT_DIR [DOCS] [QUERIES] | bundle LIST OUT | run CORPUS QUERIES [OPTIONS_JSON [FILES [ARCHIVE]]]".into()),
    }
}
