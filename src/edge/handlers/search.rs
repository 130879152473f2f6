//! HTTP handlers of the search routes: `source=history` asks the user's object (BM25 over the
//! user's messages, flushed or not); `source=web` goes through the two-level cache to the
//! SearXNG-compatible upstream.

use serde::Serialize;
use worker::{Request, Response};

use crate::api::{query_int, ErrorCode, InputError};
use crate::calls::user::Search;
use crate::calls::ObjectName;
use crate::routes::valid_id;

use super::super::context::RequestCtx;
use super::super::error::ApiError;
use super::super::http;
use super::super::objects::send;

/// Longest accepted query, in characters.
pub const MAX_QUERY_CHARS: usize = 400;

/// A validated `GET /api/search` query.
pub struct SearchQuery {
    pub q: String,
    pub web: bool,
    pub limit: usize,
    pub tab: Option<String>,
}

fn parse(url: &worker::Url) -> Result<SearchQuery, ApiError> {
    http::check_query(url, &["q", "source", "limit", "tab"])?;
    let q = http::query_param(url, "q").unwrap_or_default();
    let chars = q.trim().chars().count();
    if chars == 0 || q.chars().count() > MAX_QUERY_CHARS {
        return Err(InputError::invalid(format!(
            "query parameter `q` must have 1 to {MAX_QUERY_CHARS} characters"
        ))
        .into());
    }
    let web = match http::query_param(url, "source").as_deref() {
        None | Some("web") => true,
        Some("history") => false,
        Some(other) => {
            return Err(InputError::invalid(format!(
                "query parameter `source` must be `web` or `history`, got `{other}`"
            ))
            .into())
        }
    };
    let limit = query_int(
        "limit",
        http::query_param(url, "limit").as_deref(),
        1,
        50,
        10,
    )? as usize;
    let tab = http::query_param(url, "tab");
    if let Some(tab) = &tab {
        if web {
            return Err(InputError::invalid(
                "query parameter `tab` is only allowed with `source=history`",
            )
            .into());
        }
        if !valid_id(tab) {
            return Err(ApiError::not_found("tab"));
        }
    }
    Ok(SearchQuery { q, web, limit, tab })
}

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
    let query = parse(&url)?;
    if query.web {
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

/// The error for web search when no upstream is configured.
pub fn not_configured() -> ApiError {
    ApiError::new(
        ErrorCode::NotConfigured,
        "web search is not configured: set SEARCH_UPSTREAM_URL to a SearXNG-compatible base URL",
    )
}
