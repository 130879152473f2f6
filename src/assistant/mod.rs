//! The assistant: intent routing, model client, replies.

pub mod grounding;
pub mod intent;
pub mod llm;
pub mod prompt;
pub mod quota;
pub mod reply_request;
