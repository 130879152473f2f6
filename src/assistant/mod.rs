//! The assistant: intent routing, model client, replies.

pub mod llm;
