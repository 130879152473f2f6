//! HTTP handler of `POST /api/intent`: the body is parsed and the message routed by the pure
//! core ([`crate::assistant::intent`]); no object, storage or upstream is involved.

use worker::{Request, Response};

use crate::assistant::intent::{self, BODY_BYTES};

use super::super::context::RequestCtx;
use super::super::error::ApiError;
use super::super::http;

pub async fn intent(mut req: Request, _ctx: &RequestCtx) -> Result<Response, ApiError> {
    let body = http::json_body(&mut req, BODY_BYTES).await?;
    let request = intent::parse_request(&body)?;
    http::json(200, &intent::route(&request.text))
}
