//! Placeholder: BM25 history search with an inverted index.
