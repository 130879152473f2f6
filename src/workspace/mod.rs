//! Code workspaces, pure: a user's uploaded source files, their top-level symbols and the code
//! search over them. Nothing here touches `worker`; the workspace object (`edge/objects/`) stores
//! what these functions decide.
//!
//! - [`scan`]: per-language extraction of each file's top-level items (like Python's
//!   `ast.parse(src).body`), plus the methods of top-level classes, impls and interfaces.

pub mod scan;
