//! Placeholder: web search cache policy and upstream parsing.
