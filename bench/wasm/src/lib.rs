//! Workloads of the wasm-vs-native benchmark (issues 4 and 5), written once and run twice: by
//! the native binary `wasmbench-native` and, compiled to wasm32, by `run.mjs` under Node.
//!
//! Both sides call [`run_suite`] with the same inputs (history corpus and queries text, a bundle
//! of source files for the scanner, a tar.gz for the archive reader) and the same options and
//! get back the same JSON shape; only the clock differs (`Instant` natively, `performance.now()`
//! in wasm, both in milliseconds with sub-microsecond resolution). Every figure is a median over
//! repeated samples taken inside one process. Output hashes let the driver check that both sides
//! did the identical work (same search hits, same rollout JSON bytes, same symbols, same extracted
//! files).

/// The shared synthetic corpus (one generator for every benchmark).
pub use edge_assistant::search::history::synthetic as corpus;
pub mod suite;

#[cfg(target_arch = "wasm32")]
mod wasm;

pub use suite::{parse_bundle, run_suite, Inputs, Options};
