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

/// What the history answer puts before the user's object's `total` and `results`.
#[derive(Serialize)]
struct HistoryHead<'a> {
    query: &'a str,
    source: &'static str,
}

pub async fn search(req: Request, ctx: &RequestCtx) -> Result<Response, ApiError> {
    let url = req.url()?;
    let query = query::parse(url.query_pairs())?;
    match query.source {
        Source::Web => return super::web::search(query, ctx).await,
        Source::Code => return super::workspaces::search_code(query, ctx).await,
        Source::History => {}
    }
    let search = Search {
        user: ctx.user.clone(),
        q: query.q.clone(),
        tab: query.tab.clone(),
        limit: query.limit,
        skip_unindexed_of: None,
    };
    let results = send(&ctx.env, &ObjectName::user(&ctx.user)?, search).await?;
    let head = HistoryHead {
        query: &query.q,
        source: "history",
    };
    http::json_object_with(200, &head, &results.into_bytes())
}
