//! Code workspaces, pure: a user's uploaded source files, their top-level symbols and the code
//! search over them. Nothing here touches `worker`; the workspace object (`edge/objects/`) stores
//! what these functions decide.
//!
//! - [`scan`]: per-language extraction of each file's top-level items (like Python's
//!   `ast.parse(src).body`), plus the methods of top-level classes, impls and interfaces.
//! - [`index`]: the code search index (BM25 over line chunks, identifiers split into parts,
//!   symbol definitions boosted) and symbol lookup, rebuilt from one record per file.
//! - [`context`]: the code sources and symbol map given to an assistant reply about code.

pub mod context;
pub mod index;
pub mod scan;
