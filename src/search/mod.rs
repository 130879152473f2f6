//! Search: web search behind a bounded two-level cache (`web`) and BM25 over chat history (`history`).

pub mod history;
pub mod query;
pub mod web;
