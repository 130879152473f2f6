//! HTTP handlers, one file per API area: parse and validate the request with the core, call the
//! core or an object (typed calls through [`super::objects::send`]), and answer.

pub mod chat;
pub mod intent;
pub mod live;
pub mod reply;
pub mod rollout;
pub mod search;
pub mod web;
pub mod workspaces;
