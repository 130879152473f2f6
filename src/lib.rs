//! edge-assistant: the backend of an AI assistant as a Cloudflare Worker.
//!
//! The crate is a pure core (everything outside `edge/`) that compiles and is tested on the host,
//! plus a thin shell in `edge/` that is the only code touching the Workers platform. Data flows one
//! way: `edge` → core modules; nothing in the core imports `edge`.

pub mod api;
pub mod assistant;
pub mod auth;
pub mod body;
pub mod calls;
pub mod chat;
pub mod config;
pub mod ids;
pub mod openapi;
pub mod ratelimit;
pub mod rollout;
pub mod routes;
pub mod search;
pub mod storage;
pub mod workspace;

#[cfg(target_arch = "wasm32")]
mod edge;
