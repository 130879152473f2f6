//! Placeholder: filled in by the chat work.
