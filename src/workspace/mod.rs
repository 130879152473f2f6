//! Code workspaces, pure: a user's uploaded source files, their top-level symbols and the code
//! search over them. Nothing here touches `worker`; the workspace object (`edge/objects/`) stores
//! what these functions decide.
//!
//! - [`archive`]: uploaded `.tar`, `.tar.gz` and `.zip` bodies to the text files a workspace
//!   keeps (path safety, `.gitignore` and built-in ignores, binary detection, bomb-proof caps).
//! - [`scan`]: per-language extraction of each file's top-level items (like Python's
//!   `ast.parse(src).body`), plus the methods of top-level classes, impls and interfaces.
//! - [`index`]: the code search index (BM25 over line chunks, identifiers split into parts,
//!   symbol definitions boosted) and symbol lookup, rebuilt from one record per file.
//! - [`context`]: the code sources and symbol map given to an assistant reply about code.
//! - [`state`]: one workspace's core (file table, upload lease, scan queue, code index).
//! - [`registry`]: a user's list of workspaces (kept in the user's object).
//! - [`paths`]: file paths of the single-file routes.

pub mod archive;
pub mod context;
pub mod error;
pub mod index;
pub mod paths;
pub mod registry;
pub mod scan;
pub mod state;

pub use error::WorkspaceError;

/// The content hash that decides whether a file changed between uploads: XXH3-128 of the raw
/// bytes, as 32 hex digits. Not a security boundary (a collision only skips a rescan of the
/// uploader's own file); chosen for speed, since every uploaded byte is hashed in the request.
pub fn content_hash(bytes: &[u8]) -> String {
    format!("{:032x}", xxhash_rust::xxh3::xxh3_128(bytes))
}
