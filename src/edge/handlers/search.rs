//! HTTP handlers of the search routes: the query is parsed by the core
//! ([`crate::search::query::parse`]); `source=history` asks the user's object (BM25 over the
//! user's messages, flushed or not); `source=web` goes through the two-level cache to the
//! SearXNG-compatible upstream.

use serde::Serialize;
use worker::{Request, Response};

use crate::calls::user::Search;
use crate::calls::ObjectName;
use crate::search::query::{self, Source};

use super::super::context::RequestCtx;
use super::super::error::ApiError;
use super::super::http;
use super::super::objects::send;

#[derive(Serialize)]
struct HistoryResponse<'a> {
    query: &'a str,
    source: &'static str,
    /// `total` and `results` as the user's object ranked them.
    #[serde(flatten)]
    results: serde_json::Value,
}

pub async fn search(req: Request, ctx: &RequestCtx) -> Result<Response, ApiError> {
    let url = req.url()?;
    let query = query::parse(url.query_pairs())?;
    if query.source == Source::Web {
        return super::web::search(query, ctx).await;
    }
    let search = Search {
        user: ctx.user.clone(),
        q: query.q.clone(),
        tab: query.tab.clone(),
        limit: query.limit,
    };
    let results = send(&ctx.env, &ObjectName::user(&ctx.user)?, search).await?;
    let results: serde_json::Value = serde_json::from_slice(&results.into_bytes())
        .map_err(|e| ApiError::internal(format!("history results: {e}")))?;
    http::json(
        200,
        &HistoryResponse {
            query: &query.q,
            source: "history",
            results,
        },
    )
}
