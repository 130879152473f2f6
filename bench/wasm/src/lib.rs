//! Workloads of the wasm-vs-native benchmark (issues 4 and 5), written once and run twice: by
//! the native binary `wasmbench-native` and, compiled to wasm32, by `run.mjs` under Node.
//!
//! Both sides call [`run_suite`] with the same corpus and queries text and the same options and
//! get back the same JSON shape; only the clock differs (`Instant` natively, `performance.now()`
//! in wasm, both in milliseconds with sub-microsecond resolution). Every figure is a median over
//! repeated samples taken inside one process. Output hashes let the driver check that both sides
//! did the identical work (same search hits, same rollout JSON bytes).

/// The shared synthetic corpus (one generator for every benchmark).
pub use edge_assistant::search::history::synthetic as corpus;
pub mod suite;

#[cfg(target_arch = "wasm32")]
mod wasm;

pub use suite::{run_suite, Options};
