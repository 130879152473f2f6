//! The OpenAPI 3.1 description of the HTTP API, served at `GET /api/openapi.json`.
//!
//! Built from code next to the route table so it changes with the routes; a host test checks
//! that every route of [`crate::routes`] is described and that every operation documents its
//! error responses.

use serde_json::{json, Map, Value};

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } }
    })
}

fn ok_json(description: &str, schema: Value) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": schema } } })
}

/// Standard error responses for an authenticated operation.
fn errors(extra: &[(&str, &str)]) -> Map<String, Value> {
    let mut map = Map::new();
    for (status, description) in [
        (
            "400",
            "Invalid input: invalid_json, invalid_field, unknown_field or limit_exceeded",
        ),
        (
            "401",
            "Missing, malformed, expired or wrongly signed bearer token",
        ),
        ("404", "No such resource for this user"),
        ("405", "Method not allowed on this route"),
        ("429", "Rate limited; see retry-after"),
        ("503", "Server not configured (e.g. AUTH_SECRET missing)"),
    ]
    .iter()
    .chain(extra)
    {
        map.insert((*status).to_owned(), error_response(description));
    }
    map
}

fn operation(summary: &str, ok_status: &str, ok: Value, extra_errors: &[(&str, &str)]) -> Value {
    let mut responses = errors(extra_errors);
    responses.insert(ok_status.to_owned(), ok);
    json!({
        "summary": summary,
        "security": [{ "bearerAuth": [] }],
        "responses": responses,
    })
}

fn public_operation(summary: &str, ok: Value) -> Value {
    let mut responses = Map::new();
    responses.insert("200".into(), ok);
    responses.insert(
        "405".into(),
        error_response("Method not allowed on this route"),
    );
    responses.insert("503".into(), error_response("Server configuration invalid"));
    json!({ "summary": summary, "security": [], "responses": responses })
}

/// The OpenAPI document.
pub fn document() -> Value {
    let paths = json!({
        "/api/health": {
            "get": public_operation("Liveness and version", ok_json("The service is up", json!({
                "type": "object",
                "required": ["status", "version"],
                "properties": { "status": { "const": "ok" }, "version": { "type": "string" } }
            })))
        },
        "/api/openapi.json": {
            "get": public_operation("This OpenAPI document", ok_json("OpenAPI 3.1 document", json!({ "type": "object" })))
        },
    });
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "edge-assistant API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Chat tabs in Durable Objects, cached web search, BM25 history search and vectorized CartPole rollouts. Errors are {\"error\": {\"code\", \"message\"}}; every response carries x-request-id."
        },
        "servers": [{ "url": "/" }],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearerAuth": { "type": "http", "scheme": "bearer", "bearerFormat": "JWT (HS256, claims sub and exp)" }
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {
                            "type": "object",
                            "required": ["code", "message"],
                            "properties": {
                                "code": { "type": "string", "enum": [
                                    "invalid_json", "invalid_field", "unknown_field", "limit_exceeded",
                                    "unauthorized", "not_found", "method_not_allowed", "payload_too_large",
                                    "unsupported_media_type", "rate_limited", "upstream_error",
                                    "upstream_timeout", "not_configured", "internal"
                                ] },
                                "message": { "type": "string" }
                            }
                        }
                    }
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_is_openapi_31_with_error_schema() {
        let doc = document();
        assert_eq!(doc["openapi"], "3.1.0");
        assert!(doc["components"]["schemas"]["Error"].is_object());
        assert!(doc["paths"]["/api/health"]["get"]["responses"]["200"].is_object());
    }

    #[test]
    fn every_operation_documents_errors() {
        let doc = document();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let responses = op["responses"].as_object().unwrap();
                assert!(
                    responses
                        .keys()
                        .any(|s| s.starts_with('4') || s.starts_with('5')),
                    "{method} {path} documents no error"
                );
            }
        }
    }
}
