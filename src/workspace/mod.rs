//! Code workspaces, pure: a user's uploaded source files, their top-level symbols and the code
//! search over them. Nothing here touches `worker`; the workspace object (`edge/objects/`) stores
//! what these functions decide.
//!
//! - [`archive`]: uploaded `.tar`, `.tar.gz` and `.zip` bodies to the text files a workspace
//!   keeps (path safety, `.gitignore` and built-in ignores, binary detection, bomb-proof caps).
//! - [`scan`]: per-language extraction of each file's top-level items (like Python's
//!   `ast.parse(src).body`), plus the methods of top-level classes, impls and interfaces.

pub mod archive;
pub mod scan;
