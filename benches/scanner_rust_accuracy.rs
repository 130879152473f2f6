//! How exactly the Rust scanner finds items, measured against `syn`'s full parse of real crates,
//! and how fast it is next to that parse.
//!
//! Walks the `src/` trees of a few crates in the local cargo registry (the newest version of
//! each), skips files `syn` cannot parse, derives the expected (kind, name, line, container)
//! from `syn` with the mapping documented in `src/workspace/scan/rust_lang.rs`, and compares them
//! as multisets with what the scanner returns. Prints precision, recall, counts, the first
//! mismatches, and both sides' throughput (median of 5 passes over all files).
//!
//! Run: `cargo bench --bench scanner_rust_accuracy` (`SCANNER_CRATES=a,b` for other crates).
//! `-- --min 99.5 --no-speed` is the check in `scripts/test`: it exits 1 when precision or recall
//! is below the given percent (or nothing could be measured) and skips the timing.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use edge_assistant::workspace::scan::rust_lang;
use edge_assistant::workspace::scan::SymbolKind;
use syn::ext::IdentExt;

const CRATES: [&str; 5] = ["serde_json", "regex-syntax", "syn", "hashbrown", "tokio"];
const PASSES: usize = 5;
const SHOWN_MISMATCHES: usize = 25;

type Entry = (SymbolKind, String, u32, Option<String>);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let min_percent: Option<f64> = args
        .iter()
        .position(|a| a == "--min")
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse().expect("--min takes a percent, e.g. 99.5"));
    let timed = !args.iter().any(|a| a == "--no-speed");
    let Some(registry) = registry_src() else {
        println!(
            "no cargo registry sources found under $CARGO_HOME/registry/src; nothing to measure"
        );
        if min_percent.is_some() {
            std::process::exit(1);
        }
        return;
    };
    // `SCANNER_CRATES=a,b,c` measures other crates instead.
    let chosen: Vec<String> = match std::env::var("SCANNER_CRATES") {
        Ok(list) => list.split(',').map(str::to_string).collect(),
        Err(_) => CRATES.iter().map(|c| c.to_string()).collect(),
    };
    let mut files: Vec<(PathBuf, Vec<u8>)> = Vec::new();
    for name in &chosen {
        let Some(dir) = newest_crate_dir(&registry, name) else {
            println!("{name}: not in the registry, skipped");
            continue;
        };
        let before = files.len();
        collect_rs(&dir.join("src"), &mut files);
        println!("{}: {} files", dir.display(), files.len() - before);
    }

    let mut parsed: Vec<(PathBuf, Vec<u8>, Vec<Entry>)> = Vec::new();
    let mut unparsable = 0;
    for (path, bytes) in files {
        let Ok(text) = std::str::from_utf8(&bytes) else {
            unparsable += 1;
            continue;
        };
        match syn::parse_file(text) {
            Ok(file) => {
                let expected = expected_symbols(&file);
                parsed.push((path, bytes, expected));
            }
            Err(_) => unparsable += 1,
        }
    }

    let (mut expected_total, mut found_total, mut matched_total) = (0usize, 0usize, 0usize);
    let mut mismatches: Vec<String> = Vec::new();
    for (path, bytes, expected) in &parsed {
        let found: Vec<Entry> = rust_lang::scan(bytes)
            .into_iter()
            .map(|s| (s.kind, s.name, s.line, s.container))
            .collect();
        let mut remaining: HashMap<&Entry, usize> = HashMap::new();
        for entry in expected {
            *remaining.entry(entry).or_default() += 1;
        }
        let mut extra = Vec::new();
        for entry in &found {
            match remaining.get_mut(entry) {
                Some(n) if *n > 0 => {
                    *n -= 1;
                    matched_total += 1;
                }
                _ => extra.push(entry.clone()),
            }
        }
        expected_total += expected.len();
        found_total += found.len();
        for entry in expected {
            if let Some(n) = remaining.get_mut(entry) {
                if *n > 0 {
                    *n -= 1;
                    mismatches.push(format!("missing {} {entry:?}", path.display()));
                }
            }
        }
        for entry in extra {
            mismatches.push(format!("extra   {} {entry:?}", path.display()));
        }
    }

    let bytes_total: usize = parsed.iter().map(|(_, b, _)| b.len()).sum();
    println!(
        "\nfiles: {} parsed by syn, {unparsable} skipped (syn could not parse them); {:.2} MB",
        parsed.len(),
        bytes_total as f64 / 1e6
    );
    println!("symbols: syn {expected_total}, scanner {found_total}, matched {matched_total}");
    println!(
        "precision {:.3}%  recall {:.3}%",
        100.0 * matched_total as f64 / found_total.max(1) as f64,
        100.0 * matched_total as f64 / expected_total.max(1) as f64
    );
    println!(
        "mismatches: {} (first {SHOWN_MISMATCHES})",
        mismatches.len()
    );
    for line in mismatches.iter().take(SHOWN_MISMATCHES) {
        println!("  {line}");
    }
    if let Some(min) = min_percent {
        let precision = 100.0 * matched_total as f64 / found_total.max(1) as f64;
        let recall = 100.0 * matched_total as f64 / expected_total.max(1) as f64;
        if expected_total == 0 || precision < min || recall < min {
            println!("FAIL: precision and recall must be at least {min}% (and something measured)");
            std::process::exit(1);
        }
        println!("ok: precision and recall at least {min}%");
    }
    if !timed {
        return;
    }

    let texts: Vec<&str> = parsed
        .iter()
        .filter_map(|(_, b, _)| std::str::from_utf8(b).ok())
        .collect();
    let scanner = median_seconds(|| {
        let mut count = 0;
        for (_, bytes, _) in &parsed {
            count += std::hint::black_box(rust_lang::scan(bytes)).len();
        }
        count
    });
    let oracle = median_seconds(|| {
        let mut count = 0;
        for text in &texts {
            if let Ok(file) = syn::parse_file(text) {
                count += std::hint::black_box(file).items.len();
            }
        }
        count
    });
    let mb = bytes_total as f64 / 1e6;
    println!(
        "\nthroughput (median of {PASSES}): scanner {:.1} MB/s ({:.1} ms), syn::parse_file {:.1} MB/s ({:.1} ms); scanner is {:.1}x syn",
        mb / scanner,
        scanner * 1e3,
        mb / oracle,
        oracle * 1e3,
        oracle / scanner
    );
}

fn median_seconds(mut pass: impl FnMut() -> usize) -> f64 {
    let mut times: Vec<f64> = (0..PASSES)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(pass());
            start.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[PASSES / 2]
}

fn registry_src() -> Option<PathBuf> {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))?;
    let src = home.join("registry").join("src");
    let mut indexes: Vec<PathBuf> = std::fs::read_dir(&src)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    indexes.sort();
    indexes.into_iter().next()
}

/// The newest `name-X.Y.Z` directory in `registry` (syn: the newest 2.x, which `syn` 2 parses).
fn newest_crate_dir(registry: &Path, name: &str) -> Option<PathBuf> {
    let prefix = format!("{name}-");
    let mut best: Option<(Vec<u64>, PathBuf)> = None;
    for entry in std::fs::read_dir(registry).ok()?.flatten() {
        let file_name = entry.file_name().to_string_lossy().into_owned();
        let Some(version) = file_name.strip_prefix(&prefix) else {
            continue;
        };
        let numbers: Option<Vec<u64>> = version
            .split(['.', '+', '-'])
            .take(3)
            .map(|p| p.parse().ok())
            .collect();
        let Some(numbers) = numbers else { continue };
        if name == "syn" && numbers.first() != Some(&2) {
            continue;
        }
        if best.as_ref().is_none_or(|(v, _)| numbers > *v) {
            best = Some((numbers, entry.path()));
        }
    }
    best.map(|(_, path)| path)
}

fn collect_rs(dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            collect_rs(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            if let Ok(bytes) = std::fs::read(&path) {
                out.push((path, bytes));
            }
        }
    }
}

fn line(span: proc_macro2::Span) -> u32 {
    span.start().line as u32
}

fn name(ident: &syn::Ident) -> String {
    ident.unraw().to_string()
}

/// The scanner's mapping, from `syn`'s tree (see `rust_lang.rs`'s module doc).
fn expected_symbols(file: &syn::File) -> Vec<Entry> {
    use syn::{ForeignItem, ImplItem, Item, TraitItem};
    let mut out = Vec::new();
    for item in &file.items {
        match item {
            Item::Fn(f) => out.push((
                SymbolKind::Function,
                name(&f.sig.ident),
                line(f.sig.fn_token.span),
                None,
            )),
            Item::Struct(s) => out.push((
                SymbolKind::Struct,
                name(&s.ident),
                line(s.struct_token.span),
                None,
            )),
            Item::Union(u) => out.push((
                SymbolKind::Struct,
                name(&u.ident),
                line(u.union_token.span),
                None,
            )),
            Item::Enum(e) => out.push((
                SymbolKind::Enum,
                name(&e.ident),
                line(e.enum_token.span),
                None,
            )),
            Item::Mod(m) => out.push((
                SymbolKind::Module,
                name(&m.ident),
                line(m.mod_token.span),
                None,
            )),
            Item::Const(c) if c.ident != "_" => out.push((
                SymbolKind::Const,
                name(&c.ident),
                line(c.const_token.span),
                None,
            )),
            Item::Static(s) => out.push((
                SymbolKind::Const,
                name(&s.ident),
                line(s.static_token.span),
                None,
            )),
            Item::Type(t) => out.push((
                SymbolKind::Type,
                name(&t.ident),
                line(t.type_token.span),
                None,
            )),
            Item::TraitAlias(t) => out.push((
                SymbolKind::Trait,
                name(&t.ident),
                line(t.trait_token.span),
                None,
            )),
            Item::Trait(t) => {
                let trait_name = name(&t.ident);
                out.push((
                    SymbolKind::Trait,
                    trait_name.clone(),
                    line(t.trait_token.span),
                    None,
                ));
                for member in &t.items {
                    if let TraitItem::Fn(f) = member {
                        out.push((
                            SymbolKind::Method,
                            name(&f.sig.ident),
                            line(f.sig.fn_token.span),
                            Some(trait_name.clone()),
                        ));
                    }
                }
            }
            Item::Impl(i) => {
                let self_name = type_name(&i.self_ty);
                out.push((
                    SymbolKind::Impl,
                    self_name.clone(),
                    line(i.impl_token.span),
                    None,
                ));
                for member in &i.items {
                    if let ImplItem::Fn(f) = member {
                        out.push((
                            SymbolKind::Method,
                            name(&f.sig.ident),
                            line(f.sig.fn_token.span),
                            Some(self_name.clone()),
                        ));
                    }
                }
            }
            Item::Macro(m) => {
                if let (Some(ident), true) = (&m.ident, m.mac.path.is_ident("macro_rules")) {
                    let keyword = m.mac.path.segments.last().map(|s| s.ident.span());
                    out.push((
                        SymbolKind::Function,
                        name(ident),
                        keyword.map_or(0, line),
                        None,
                    ));
                }
            }
            Item::ForeignMod(block) => {
                for foreign in &block.items {
                    match foreign {
                        ForeignItem::Fn(f) => out.push((
                            SymbolKind::Function,
                            name(&f.sig.ident),
                            line(f.sig.fn_token.span),
                            None,
                        )),
                        ForeignItem::Static(s) => out.push((
                            SymbolKind::Const,
                            name(&s.ident),
                            line(s.static_token.span),
                            None,
                        )),
                        ForeignItem::Type(t) => out.push((
                            SymbolKind::Type,
                            name(&t.ident),
                            line(t.type_token.span),
                            None,
                        )),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// An impl's self type name: the path's last segment, looking through references, pointers,
/// slices, arrays, parentheses, groups and trait objects; a tuple by its first element.
fn type_name(ty: &syn::Type) -> String {
    use syn::Type;
    match ty {
        Type::Path(p) => p
            .path
            .segments
            .last()
            .map_or_else(|| "_".to_string(), |s| name(&s.ident)),
        Type::Reference(r) => type_name(&r.elem),
        Type::Ptr(p) => type_name(&p.elem),
        Type::Slice(s) => type_name(&s.elem),
        Type::Array(a) => type_name(&a.elem),
        Type::Paren(p) => type_name(&p.elem),
        Type::Group(g) => type_name(&g.elem),
        Type::Tuple(t) => t.elems.first().map_or_else(|| "()".to_string(), type_name),
        Type::BareFn(_) => "fn".to_string(),
        Type::Never(_) => "!".to_string(),
        Type::TraitObject(t) => first_trait_bound(t.bounds.iter()),
        Type::ImplTrait(t) => first_trait_bound(t.bounds.iter()),
        _ => "_".to_string(),
    }
}

fn first_trait_bound<'a>(mut bounds: impl Iterator<Item = &'a syn::TypeParamBound>) -> String {
    bounds
        .find_map(|b| match b {
            syn::TypeParamBound::Trait(t) => t.path.segments.last().map(|s| name(&s.ident)),
            _ => None,
        })
        .unwrap_or_else(|| "_".to_string())
}
