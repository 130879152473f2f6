//! go scanner (in progress).

use super::Symbol;

/// The symbols of one file.
pub fn scan(_src: &[u8]) -> Vec<Symbol> {
    Vec::new()
}
