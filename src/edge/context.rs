//! What a handler gets: the environment, the validated config, the authenticated user, the
//! request's clock reading and id, and the execution context for background work.

use std::rc::Rc;

use worker::{Context, Env};

use crate::config::Config;

/// Per-request context handed to every handler.
pub struct RequestCtx {
    pub env: Env,
    pub config: Rc<Config>,
    /// The authenticated user id (`sub`); empty only for public routes.
    pub user: String,
    /// Milliseconds since the Unix epoch when the request arrived (the only clock read).
    pub now_ms: u64,
    pub request_id: String,
    pub exec: Context,
}
