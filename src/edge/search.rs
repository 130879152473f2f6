//! HTTP handlers of the search routes: `source=history` asks the user's object (BM25 over the
//! user's messages, flushed or not); `source=web` goes through the two-level cache to the
//! SearXNG-compatible upstream.

use serde::Serialize;
use worker::{Method, Request, Response};

use crate::api::{query_int, ErrorCode, InputError};
use crate::routes::valid_id;

use super::chat::user_stub;
use super::context::RequestCtx;
use super::error::ApiError;
use super::http;
use super::objects::Call;

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
struct HistoryResponse {
    query: String,
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
    let mut path = worker::url::form_urlencoded::Serializer::new("/search?".to_owned());
    path.append_pair("q", &query.q)
        .append_pair("limit", &query.limit.to_string())
        .append_pair("user", &ctx.user);
    if let Some(tab) = &query.tab {
        path.append_pair("tab", tab);
    }
    let (_, results): (u16, serde_json::Value) = Call::new(Method::Get, path.finish())
        .send_json(&user_stub(ctx)?)
        .await?;
    http::json(
        200,
        &HistoryResponse {
            query: query.q,
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
