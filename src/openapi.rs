//! The OpenAPI 3.1 description of the HTTP API, served at `GET /api/openapi.json`.
//!
//! Built from code next to the route table so it changes with the routes; a host test checks
//! that every route of [`crate::routes`] is described and that every operation documents its
//! error responses. `docs/API.md` describes the same API in prose, and `tests/api_doc.rs` holds
//! it to this document (routes, statuses, parameters, body fields, error codes).

use serde_json::{json, Map, Value};

/// The document as the worker serves it: [`document`]'s output, committed as
/// `src/openapi.json`. The worker then carries the JSON text (about 10 KiB gzipped) instead of
/// the code that builds it (about 210 KB of wasm). The host test
/// `served_document_is_the_generated_one` fails when the two differ;
/// `UPDATE_OPENAPI=1 cargo test --lib openapi` rewrites the file.
pub const SERVED: &str = include_str!("openapi.json");

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } }
    })
}

fn ok_json(description: &str, schema: Value) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": schema } } })
}

/// The 200 of `POST /api/rollout`: JSON, or a safetensors file for `Accept: application/octet-stream`.
fn rollout_ok() -> Value {
    or_safetensors(ok_json("Summary and optional trajectory. With `Accept: application/octet-stream`: the same answer as a safetensors file (8-byte little-endian header length, JSON header, raw little-endian tensors), the summary object as JSON text in `__metadata__.summary`, the trajectory arrays as tensors of the same names", schema_ref("RolloutSummary")))
}

/// Adds the binary (safetensors) representation to a JSON 200, and the `vary` header.
fn or_safetensors(mut ok: Value) -> Value {
    ok["content"]["application/octet-stream"] =
        json!({ "schema": { "type": "string", "contentMediaType": "application/octet-stream" } });
    ok["headers"] = json!({ "vary": { "schema": { "type": "string" } } });
    ok
}

/// The `Accept` header of the routes with a binary representation.
fn accept_header() -> Value {
    json!({
        "name": "accept", "in": "header", "required": false,
        "description": "application/octet-stream (ranked above application/json) selects the safetensors answer; anything else, or nothing, gives JSON",
        "schema": { "type": "string", "examples": ["application/octet-stream", "application/json"] }
    })
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

fn body(schema: Value) -> Value {
    json!({ "required": true, "content": { "application/json": { "schema": schema } } })
}

fn with_body(mut op: Value, schema: Value) -> Value {
    op["requestBody"] = body(schema);
    op["responses"]["413"] = error_response("Request body too large");
    op["responses"]["415"] = error_response("Body is not application/json");
    op
}

fn with_ok(mut op: Value, status: &str, response: Value) -> Value {
    op["responses"][status] = response;
    op
}

fn with_params(mut op: Value, params: Value) -> Value {
    op["parameters"] = params;
    op
}

fn path_id(name: &str) -> Value {
    json!({ "name": name, "in": "path", "required": true,
            "schema": { "type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$" } })
}

fn query(name: &str, schema: Value, description: &str) -> Value {
    json!({ "name": name, "in": "query", "required": false, "schema": schema, "description": description })
}

fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn no_content(description: &str) -> Value {
    json!({ "description": description })
}

fn schemas() -> Value {
    let f64s = |n: usize| json!({ "type": "array", "items": { "type": "number" }, "minItems": n, "maxItems": n });
    let unit = || json!({ "type": "number", "minimum": 0, "maximum": 1 });
    json!({
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
                            "unauthorized", "not_found", "method_not_allowed", "conflict", "quota_exceeded", "payload_too_large",
                            "unsupported_media_type", "rate_limited", "upstream_error",
                            "upstream_timeout", "not_configured", "internal"
                        ] },
                        "message": { "type": "string" }
                    }
                }
            }
        },
        "Tab": {
            "type": "object",
            "required": ["id", "title", "created_at", "updated_at", "message_count"],
            "properties": {
                "id": { "type": "string" },
                "title": { "type": "string", "maxLength": 200 },
                "created_at": { "type": "string", "format": "date-time" },
                "updated_at": { "type": "string", "format": "date-time" },
                "message_count": { "type": "integer", "minimum": 0 }
            }
        },
        "Message": {
            "type": "object",
            "required": ["id", "seq", "role", "content", "created_at"],
            "properties": {
                "id": { "type": "string" },
                "seq": { "type": "integer", "minimum": 1 },
                "role": { "type": "string", "enum": ["user", "assistant", "system", "tool"] },
                "content": { "type": "string" },
                "created_at": { "type": "string", "format": "date-time" },
                "client_id": { "type": "string", "maxLength": 64 },
                "reply_id": { "type": "string" },
                "status": { "type": "string", "enum": ["streaming", "complete", "truncated", "cancelled", "failed"] }
            }
        },
        "TabStats": {
            "type": "object",
            "required": ["message_count", "pending", "flushes", "last_flush_at", "storage"],
            "properties": {
                "message_count": { "type": "integer" },
                "pending": { "type": "integer" },
                "flushes": { "type": "integer" },
                "last_flush_at": { "type": ["string", "null"], "format": "date-time" },
                "storage": {
                    "type": "object",
                    "required": ["write_ops", "bytes_written"],
                    "properties": { "write_ops": { "type": "integer" }, "bytes_written": { "type": "integer" } }
                }
            }
        },
        "WebSearchResponse": {
            "type": "object",
            "required": ["query", "source", "cache", "results"],
            "properties": {
                "query": { "type": "string" },
                "source": { "const": "web" },
                "cache": { "type": "string", "enum": ["hit", "miss", "stale"] },
                "results": { "type": "array", "items": {
                    "type": "object",
                    "required": ["title", "url", "snippet"],
                    "properties": {
                        "title": { "type": "string" }, "url": { "type": "string" },
                        "snippet": { "type": "string" }, "engine": { "type": "string" }
                    }
                } }
            }
        },
        "HistorySearchResponse": {
            "type": "object",
            "required": ["query", "source", "total", "results"],
            "properties": {
                "query": { "type": "string" },
                "source": { "const": "history" },
                "total": { "type": "integer" },
                "results": { "type": "array", "items": {
                    "type": "object",
                    "required": ["tab_id", "seq", "role", "snippet", "score"],
                    "properties": {
                        "tab_id": { "type": "string" }, "seq": { "type": "integer" },
                        "role": { "type": "string" }, "snippet": { "type": "string" },
                        "score": { "type": "number" }
                    }
                } }
            }
        },
        "CacheStats": {
            "type": "object",
            "required": ["entries", "bytes", "capacity_entries", "capacity_bytes", "hits", "misses", "stale_hits", "evictions", "rejected"],
            "properties": {
                "entries": { "type": "integer" }, "bytes": { "type": "integer" },
                "capacity_entries": { "type": "integer" }, "capacity_bytes": { "type": "integer" },
                "hits": { "type": "integer" }, "misses": { "type": "integer" },
                "stale_hits": { "type": "integer" }, "evictions": { "type": "integer" },
                "rejected": { "type": "integer" },
                "pending_deletes": { "type": "integer", "minimum": 0 }
            }
        },
        "Policy": {
            "type": "object",
            "required": ["weights", "bias"],
            "properties": {
                "weights": { "type": "array", "items": f64s(2), "minItems": 4, "maxItems": 4 },
                "bias": f64s(2),
                "value_weights": f64s(4),
                "value_bias": { "type": "number" }
            }
        },
        "RolloutRequest": {
            "type": "object",
            "required": ["env", "num_envs", "steps"],
            "properties": {
                "env": { "const": "CartPole-v1" },
                "num_envs": { "type": "integer", "minimum": 1, "maximum": 1024 },
                "steps": { "type": "integer", "minimum": 1, "maximum": 512 },
                "seed": { "type": "integer", "minimum": 0 },
                "policy": schema_ref("Policy"),
                "gamma": { "type": "number", "minimum": 0, "maximum": 1 },
                "lambda": { "type": "number", "minimum": 0, "maximum": 1 },
                "initial_state": { "type": "array", "items": f64s(4) },
                "actions": { "type": "array", "items": { "type": "array", "items": { "type": "integer", "enum": [0, 1] } } },
                "include": { "type": "array", "items": { "const": "trajectory" } }
            }
        },
        "RolloutSummary": {
            "type": "object",
            "required": ["num_envs", "steps", "seed", "episodes_finished", "mean_episode_return", "reward_sum"],
            "properties": {
                "num_envs": { "type": "integer" }, "steps": { "type": "integer" },
                "seed": { "type": "integer" }, "episodes_finished": { "type": "integer" },
                "mean_episode_return": { "type": ["number", "null"] },
                "reward_sum": { "type": "number" },
                "trajectory": { "type": "object" }
            }
        },
        "Reply": {
            "type": "object",
            "required": ["id", "tab_id", "message_seq", "assistant_seq", "status", "content", "intent", "citations", "model", "last_event_id", "created_at"],
            "properties": {
                "id": { "type": "string" }, "tab_id": { "type": "string" },
                "message_seq": { "type": "integer", "minimum": 1 },
                "assistant_seq": { "type": "integer", "minimum": 1 },
                "status": { "type": "string", "enum": ["streaming", "complete", "truncated", "cancelled", "failed"] },
                "finish_reason": { "type": "string" },
                "content": { "type": "string" },
                "intent": { "type": "object", "required": ["label", "scores"], "properties": {
                    "label": { "type": "string" }, "scores": { "type": "object" } } },
                "citations": { "type": "array", "items": { "type": "object", "required": ["n", "source", "title"], "properties": {
                    "n": { "type": "integer", "minimum": 1 },
                    "source": { "type": "string", "enum": ["web", "history", "code"] },
                    "title": { "type": "string" }, "url": { "type": "string" },
                    "tab_id": { "type": "string" }, "seq": { "type": "integer" },
                    "path": { "type": "string" }, "line": { "type": "integer" } } } },
                "usage": { "type": "object", "required": ["prompt_tokens", "completion_tokens"], "properties": {
                    "prompt_tokens": { "type": "integer", "minimum": 0 }, "completion_tokens": { "type": "integer", "minimum": 0 } } },
                "error": { "type": "object", "required": ["code", "message"], "properties": {
                    "code": { "type": "string" }, "message": { "type": "string" } } },
                "model": { "type": "string" },
                "last_event_id": { "type": "integer", "minimum": 0 },
                "created_at": { "type": "string" }, "finished_at": { "type": "string" }
            }
        },
        "Intent": {
            "type": "object",
            "required": ["label", "scores", "threshold", "matched"],
            "properties": {
                "label": { "type": "string", "enum": ["web", "history", "code", "rollout", "chat"] },
                "scores": {
                    "type": "object",
                    "required": ["web", "history", "code", "rollout"],
                    "properties": {
                        "web": unit(), "history": unit(), "code": unit(), "rollout": unit()
                    }
                },
                "threshold": unit(),
                "matched": { "type": "array", "items": { "type": "string" }, "maxItems": 16 }
            }
        },
        "Run": {
            "type": "object",
            "required": ["id", "num_envs", "seed", "buffer_capacity", "buffer_len", "total_steps", "episodes_finished", "mean_episode_return"],
            "properties": {
                "id": { "type": "string" }, "num_envs": { "type": "integer" },
                "seed": { "type": "integer" }, "buffer_capacity": { "type": "integer" },
                "buffer_len": { "type": "integer", "minimum": 0 },
                "total_steps": { "type": "integer", "minimum": 0 },
                "episodes_finished": { "type": "integer", "minimum": 0 },
                "mean_episode_return": { "type": ["number", "null"] }
            }
        }
    })
}

/// The schemas of the code workspace routes (kept apart from [`schemas`] so neither `json!`
/// grows past the macro's recursion limit).
fn workspace_schemas() -> Value {
    let count = || json!({ "type": "integer", "minimum": 0 });
    let language = json!({ "type": "string",
        "enum": ["python", "rust", "javascript", "typescript", "go", "markdown", "text"],
        "description": "By file extension: .py .pyi, .rs, .js .mjs .cjs .jsx, .ts .mts .cts .tsx, .go, .md .markdown; anything else is text (searchable, no symbols)" });
    let status = json!({ "type": "string", "enum": ["indexing", "ready"],
        "description": "indexing while files are queued for scanning (pending > 0), else ready" });
    json!({
        "Workspace": {
            "type": "object",
            "required": ["id", "name", "files", "bytes", "symbols", "status", "pending", "created_at", "updated_at"],
            "properties": {
                "id": { "type": "string" },
                "name": { "type": "string", "minLength": 1, "maxLength": 100 },
                "files": count(), "bytes": count(), "symbols": count(),
                "status": status.clone(),
                "pending": count(),
                "created_at": { "type": "string", "format": "date-time" },
                "updated_at": { "type": "string", "format": "date-time" }
            }
        },
        "WorkspaceFile": {
            "type": "object",
            "required": ["path", "bytes", "language", "symbols"],
            "properties": {
                "path": { "type": "string", "minLength": 1, "maxLength": 1024 },
                "bytes": count(),
                "language": language,
                "symbols": count()
            }
        },
        "FilePage": {
            "type": "object",
            "required": ["files", "next_cursor"],
            "properties": {
                "files": { "type": "array", "items": schema_ref("WorkspaceFile"), "maxItems": 1000 },
                "next_cursor": { "type": ["string", "null"] }
            }
        },
        "UploadReport": {
            "type": "object",
            "required": ["files", "scanned", "unchanged", "removed", "skipped", "symbols", "bytes", "status", "pending"],
            "properties": {
                "files": count(), "scanned": count(), "unchanged": count(), "removed": count(),
                "skipped": {
                    "type": "object",
                    "required": ["ignored", "binary", "too_large", "links", "unsupported"],
                    "properties": { "ignored": count(), "binary": count(), "too_large": count(),
                        "links": count(), "unsupported": count() }
                },
                "symbols": count(), "bytes": count(),
                "status": status,
                "pending": count()
            }
        },
        "Symbol": {
            "type": "object",
            "required": ["name", "kind", "path", "line", "signature"],
            "properties": {
                "name": { "type": "string" },
                "kind": { "type": "string", "enum": [
                    "function", "class", "method", "struct", "enum", "trait", "impl",
                    "interface", "type", "const", "module", "heading"
                ] },
                "path": { "type": "string" },
                "line": { "type": "integer", "minimum": 1 },
                "container": { "type": "string" },
                "signature": { "type": "string", "maxLength": 200 }
            }
        },
        "CodeSearchResponse": {
            "type": "object",
            "required": ["query", "source", "total", "results"],
            "properties": {
                "query": { "type": "string" },
                "source": { "const": "code" },
                "total": count(),
                "results": { "type": "array", "items": {
                    "type": "object",
                    "required": ["path", "line", "snippet", "score"],
                    "properties": {
                        "path": { "type": "string" },
                        "line": { "type": "integer", "minimum": 1 },
                        "snippet": { "type": "string" },
                        "symbol": { "type": "string" },
                        "score": { "type": "number" }
                    }
                } }
            }
        }
    })
}

/// A raw (non-JSON) request body in any of `media_types`.
fn raw_body(media_types: &[&str], description: &str) -> Value {
    let mut content = Map::new();
    for media_type in media_types {
        content.insert(
            (*media_type).to_owned(),
            json!({ "schema": { "type": "string", "contentMediaType": media_type } }),
        );
    }
    json!({ "required": true, "description": description, "content": content })
}

/// The paths of the code workspace routes.
fn workspace_paths() -> Value {
    let ws_id = || path_id("id");
    let file_path = || {
        json!({ "name": "path", "in": "path", "required": true,
            "description": "The file's path in the workspace, `/`-separated, slashes as they are (`src/lib.rs`), other reserved characters percent-encoded. Decoded: relative, at most 1024 bytes of UTF-8, no empty, `.` or `..` segment, no NUL or backslash (else 400)",
            "schema": { "type": "string", "minLength": 1 } })
    };
    let create_body = json!({ "type": "object", "additionalProperties": false, "required": ["name"],
        "properties": { "name": { "type": "string", "minLength": 1, "maxLength": 100,
            "description": "Trimmed; not blank, at most 100 characters" } } });
    let listed = json!({ "type": "object", "required": ["workspaces"], "properties": {
        "workspaces": { "type": "array", "items": schema_ref("Workspace"), "maxItems": 20 } } });
    let symbols = json!({ "type": "object", "required": ["symbols"], "properties": {
        "symbols": { "type": "array", "items": schema_ref("Symbol"), "maxItems": 500 } } });
    let busy = ("409", "An archive upload to this workspace is in progress, or the previous one is still indexing (status indexing)");
    let mut archive = operation(
        "Replace the workspace's contents with an archive (tar, tar.gz or zip); unchanged files are not scanned again",
        "200",
        ok_json("What the upload changed; status indexing while changed files are still being scanned", schema_ref("UploadReport")),
        &[busy],
    );
    archive["requestBody"] = raw_body(
        &["application/x-tar", "application/gzip", "application/zip"],
        "The archive, up to WORKSPACE_MAX_ARCHIVE_BYTES (default 32 MiB). Also accepted: application/tar, application/x-gzip, application/x-compressed-tar, application/x-zip-compressed",
    );
    archive["responses"]["400"] = error_response(
        "invalid_field: a corrupt or truncated archive, or an unsafe path in it (absolute, `..`)",
    );
    archive["responses"]["413"] = error_response("The archive is over WORKSPACE_MAX_ARCHIVE_BYTES, or passes the file or extracted-bytes caps");
    archive["responses"]["415"] = error_response("content-type is not an archive type");
    let mut put_file = operation(
        "Add or replace one file (raw bytes), scanned at once",
        "200",
        ok_json("The file", schema_ref("WorkspaceFile")),
        &[],
    );
    put_file["requestBody"] = raw_body(&["application/octet-stream"], "The file's bytes, as they are (any content-type is accepted); at most 1 MiB, text (no NUL byte in the first 8 KiB)");
    put_file["responses"]["400"] =
        error_response("invalid_field: an unsafe path, or a binary file");
    put_file["responses"]["413"] = error_response("The file is over 1 MiB");
    let file_bytes = json!({
        "description": "The file's bytes as uploaded: text/plain; charset=utf-8 for a known language, application/octet-stream for others (language text)",
        "content": {
            "text/plain; charset=utf-8": { "schema": { "type": "string" } },
            "application/octet-stream": { "schema": { "type": "string", "contentMediaType": "application/octet-stream" } }
        }
    });
    json!({
        "/api/workspaces": {
            "post": with_body(operation("Create a code workspace", "201", ok_json("The new workspace", schema_ref("Workspace")), &[]), create_body),
            "get": operation("List the caller's workspaces, oldest first", "200", ok_json("The workspaces", listed), &[]),
        },
        "/api/workspaces/{id}": {
            "get": with_params(operation("Get a workspace", "200", ok_json("The workspace", schema_ref("Workspace")), &[]), json!([ws_id()])),
            "delete": with_params(operation("Delete a workspace with its files, symbols and index", "204", no_content("Deleted"), &[]), json!([ws_id()])),
        },
        "/api/workspaces/{id}/archive": {
            "put": with_params(archive, json!([ws_id()])),
        },
        "/api/workspaces/{id}/files": {
            "get": with_params(operation("Page through the workspace's files in path order", "200", ok_json("A page of files", schema_ref("FilePage")), &[]), json!([
                ws_id(),
                query("prefix", json!({ "type": "string" }), "Only paths starting with this"),
                query("cursor", json!({ "type": "string" }), "next_cursor of the previous page"),
                query("limit", json!({ "type": "integer", "minimum": 1, "maximum": 1000 }), "Default 100"),
            ])),
        },
        "/api/workspaces/{id}/files/{path}": {
            "put": with_params(put_file, json!([ws_id(), file_path()])),
            "get": with_params(operation("A file's content, as uploaded", "200", file_bytes, &[]), json!([ws_id(), file_path()])),
            "delete": with_params(operation("Delete one file", "204", no_content("Deleted"), &[]), json!([ws_id(), file_path()])),
        },
        "/api/workspaces/{id}/symbols": {
            "get": with_params(operation("Look up the workspace's symbols by name, path prefix and kind", "200", ok_json("The symbols, best match first", symbols), &[]), json!([
                ws_id(),
                query("q", json!({ "type": "string", "maxLength": 400 }), "A name or its start: exact names first, then names starting with q, then names holding every part of q"),
                query("path", json!({ "type": "string" }), "Only symbols of files whose path starts with this"),
                query("kind", json!({ "type": "string", "enum": [
                    "function", "class", "method", "struct", "enum", "trait", "impl",
                    "interface", "type", "const", "module", "heading"
                ] }), "Only symbols of this kind"),
                query("limit", json!({ "type": "integer", "minimum": 1, "maximum": 500 }), "Default 100"),
            ])),
        },
    })
}

/// The OpenAPI document.
pub fn document() -> Value {
    let tab_id = || path_id("id");
    let run_id = || path_id("id");
    let tabs_list = json!({ "type": "object", "required": ["tabs", "next_cursor"], "properties": {
        "tabs": { "type": "array", "items": schema_ref("Tab") },
        "next_cursor": { "type": ["string", "null"] } } });
    let messages_list = json!({ "type": "object", "required": ["messages", "next_after"], "properties": {
        "messages": { "type": "array", "items": schema_ref("Message") },
        "next_after": { "type": ["integer", "null"] } } });
    // Titles: at most 200 characters, no control characters; a rename needs a non-blank one.
    let title = json!({ "type": "string", "maxLength": 200, "not": { "pattern": "[\\u0000-\\u001F\\u007F]" } });
    let title_body = json!({ "type": "object", "additionalProperties": false,
        "properties": { "title": title.clone() } });
    let mut rename_title = title.clone();
    rename_title["pattern"] = json!("\\S");
    let rename_body = json!({ "type": "object", "additionalProperties": false, "required": ["title"],
        "properties": { "title": rename_title } });
    let append_body = json!({ "type": "object", "additionalProperties": false, "required": ["role", "content"],
        "properties": {
            "role": { "type": "string", "enum": ["user", "assistant", "system", "tool"] },
            "content": { "type": "string", "minLength": 1 },
            "client_id": { "type": "string", "pattern": "^[A-Za-z0-9._:-]{1,64}$" } } });
    let search_params = json!([
        query(
            "q",
            json!({ "type": "string", "minLength": 1, "maxLength": 400 }),
            "The query (required)"
        ),
        query(
            "source",
            json!({ "type": "string", "enum": ["web", "history", "code"] }),
            "Default web; code needs workspace"
        ),
        query(
            "limit",
            json!({ "type": "integer", "minimum": 1, "maximum": 50 }),
            "Default 10"
        ),
        query(
            "tab",
            json!({ "type": "string" }),
            "Only with source=history: restrict to one tab"
        ),
        query(
            "workspace",
            json!({ "type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$" }),
            "Required with source=code, and only allowed there: the workspace to search"
        ),
    ]);
    let search_ok = ok_json(
        "Search results",
        json!({ "oneOf": [schema_ref("WebSearchResponse"), schema_ref("HistorySearchResponse"), schema_ref("CodeSearchResponse")] }),
    );
    let run_create = json!({ "type": "object", "additionalProperties": false, "required": ["num_envs"], "properties": {
        "num_envs": { "type": "integer", "minimum": 1, "maximum": 1024 },
        "seed": { "type": "integer", "minimum": 0 },
        "buffer_capacity": { "type": "integer", "minimum": 1, "maximum": 65536 } } });
    let run_step = json!({ "type": "object", "additionalProperties": false, "required": ["steps"], "properties": {
        "steps": { "type": "integer", "minimum": 1, "maximum": 512 },
        "policy": schema_ref("Policy") } });
    let transition = json!({ "type": "object", "required": ["obs", "action", "reward", "terminated", "truncated"], "properties": {
        "obs": { "type": "array", "items": { "type": "number" }, "minItems": 4, "maxItems": 4 },
        "action": { "type": "integer", "enum": [0, 1] }, "reward": { "type": "number" },
        "terminated": { "type": "boolean" }, "truncated": { "type": "boolean" } } });
    let buffer = json!({ "type": "object", "required": ["transitions", "len", "capacity"], "properties": {
        "transitions": { "type": "array", "items": transition },
        "len": { "type": "integer", "minimum": 0 }, "capacity": { "type": "integer", "minimum": 1 } } });
    let intent_body = json!({ "type": "object", "additionalProperties": false, "required": ["text"],
        "properties": { "text": { "type": "string", "minLength": 1, "maxLength": 4000 } } });
    let reply_id = || path_id("reply_id");
    let reply_body = json!({ "type": "object", "additionalProperties": false, "properties": {
        "message_seq": { "type": "integer", "minimum": 1 },
        "search": { "type": "string", "enum": ["auto", "always", "never"] },
        "sources": { "type": "array", "items": { "type": "string", "enum": ["web", "history", "code"] } },
        "workspace": { "type": "string", "minLength": 1, "maxLength": 64 },
        "model": { "type": "string", "minLength": 1, "maxLength": 256 },
        "client_id": { "type": "string", "pattern": "^[A-Za-z0-9._:-]{1,64}$" } } });
    let reply_started = json!({ "type": "object", "required": ["reply"], "properties": { "reply": schema_ref("Reply") } });
    let event_stream = |description: &str| {
        json!({ "description": description,
        "content": { "text/event-stream": { "schema": { "type": "string" } } } })
    };
    let busy = [
        ("409", "Another reply is streaming in this tab"),
        (
            "429",
            "Rate limited, or the daily token budget is used up (quota_exceeded); see retry-after",
        ),
    ];
    let upstream = [
        ("502", "Upstream failed and nothing cached could serve"),
        ("504", "Upstream timed out and nothing cached could serve"),
    ];

    let mut paths = json!({
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
        "/api/tabs": {
            "post": with_body(operation("Create a tab", "201", ok_json("The new tab", schema_ref("Tab")), &[]), title_body.clone()),
            "get": with_params(operation("List tabs, most recently updated first", "200", ok_json("A page of tabs", tabs_list), &[]), json!([
                query("limit", json!({ "type": "integer", "minimum": 1, "maximum": 100 }), "Default 20"),
                query("cursor", json!({ "type": "string", "pattern": "^[0-9]{1,20}\\.[A-Za-z0-9_-]{1,64}$" }), "next_cursor of the previous page"),
            ])),
        },
        "/api/tabs/{id}": {
            "get": with_params(operation("Get a tab", "200", ok_json("The tab", schema_ref("Tab")), &[]), json!([tab_id()])),
            "patch": with_params(with_body(operation("Rename a tab", "200", ok_json("The tab", schema_ref("Tab")), &[]), rename_body), json!([tab_id()])),
            "delete": with_params(operation("Delete a tab, its messages and its search entries", "204", no_content("Deleted"), &[]), json!([tab_id()])),
        },
        "/api/tabs/{id}/messages": {
            "post": with_params(with_body(with_ok(operation("Append a message (201 once durable; 200 for a client_id retry)", "201",
                ok_json("The stored message, durable", schema_ref("Message")), &[]), "200", ok_json("A retry with a known client_id: the original message", schema_ref("Message"))), append_body), json!([tab_id()])),
            "get": with_params(operation("Page through messages in ascending seq", "200", ok_json("A page of messages", messages_list), &[]), json!([
                tab_id(),
                query("after", json!({ "type": "integer", "minimum": 0 }), "Messages with seq > after"),
                query("before", json!({ "type": "integer", "minimum": 0 }), "The latest messages with seq < before; with `after` too, the messages between them"),
                query("limit", json!({ "type": "integer", "minimum": 1, "maximum": 200 }), "Default 50"),
            ])),
        },
        "/api/tabs/{id}/stats": {
            "get": with_params(operation("Batching and storage statistics of a tab", "200", ok_json("Stats", schema_ref("TabStats")), &[]), json!([tab_id()])),
        },
        "/api/tabs/{id}/flush": {
            "post": with_params(operation("Flush pending messages now", "200", ok_json("Stats after the flush", schema_ref("TabStats")), &[]), json!([tab_id()])),
        },
        "/api/tabs/{id}/live": {
            "get": with_params(operation("Live updates of a tab over a WebSocket (accepted by the tab's object with the hibernation API). Open it with a WebSocket handshake (`upgrade: websocket`); a plain GET answers 400 invalid_field", "101",
                json!({ "description": "Switching protocols: a WebSocket of JSON text frames `{\"type\": \"message\", \"message\"}` (catch-up after `after`, then live), `{\"type\": \"delta\", \"reply_id\", \"id\", \"text\"}` (coalesced, at most one per reply per 50 ms), `{\"type\": \"reply\", \"reply\"}` (start, end), `{\"type\": \"tab\", \"tab\"}` (rename; delete with `deleted: true`, then the socket closes). `sec-websocket-protocol: bearer` when the token came as that subprotocol",
                        "headers": { "sec-websocket-protocol": { "schema": { "type": "string", "enum": ["bearer"] } } } }), &[]), json!([
                tab_id(),
                query("after", json!({ "type": "integer", "minimum": 0 }), "Send the messages with seq > after first (default 0: all)"),
                { "name": "sec-websocket-protocol", "in": "header", "required": false, "schema": { "type": "string" }, "description": "`bearer, <JWT>`: the token for clients that cannot set `Authorization` (browsers); the answer then selects `bearer`" },
            ])),
        },
        "/api/tabs/{id}/replies": {
            "post": with_params(with_body(with_ok(operation("Start the assistant's reply to a user message (202 once it exists durably; it streams on without the client)", "202",
                ok_json("The reply, streaming", reply_started.clone()), &busy), "200", {
                    let mut ok = ok_json("A retry with a known client_id: that reply. With `Accept: text/event-stream`: the reply's events from the start", reply_started);
                    ok["content"]["text/event-stream"] = json!({ "schema": { "type": "string" } });
                    ok
                }), reply_body), json!([tab_id(), {
                    "name": "accept", "in": "header", "required": false,
                    "description": "text/event-stream: answer 200 with the reply's events instead of 202 with the reply",
                    "schema": { "type": "string" } }])),
        },
        "/api/tabs/{id}/replies/{reply_id}": {
            "get": with_params(operation("Get a reply (its text so far while it streams)", "200", ok_json("The reply", schema_ref("Reply")), &[]), json!([tab_id(), reply_id()])),
        },
        "/api/tabs/{id}/replies/{reply_id}/events": {
            "get": with_params(operation("The reply's events as server-sent events, resumable", "200", event_stream("Events `context`, `delta`, `done` with ids from 1; `: keep-alive` comments while waiting"), &[]), json!([
                tab_id(), reply_id(),
                query("after", json!({ "type": "integer", "minimum": 0 }), "Resume after this event id (wins over Last-Event-ID)"),
                { "name": "last-event-id", "in": "header", "required": false, "schema": { "type": "string", "pattern": "^[0-9]{1,13}$" }, "description": "Resume after this event id" },
            ])),
        },
        "/api/tabs/{id}/replies/{reply_id}/cancel": {
            "post": with_params(operation("Cancel a streaming reply (the text so far is kept); an ended reply is returned unchanged", "200", ok_json("The reply", schema_ref("Reply")), &[]), json!([tab_id(), reply_id()])),
        },
        "/api/usage": {
            "get": operation("The caller's token usage for the current UTC day", "200", ok_json("Usage", json!({
                "type": "object",
                "required": ["date", "prompt_tokens", "completion_tokens", "replies", "reserved_tokens", "limit_tokens"],
                "properties": {
                    "date": { "type": "string" },
                    "prompt_tokens": { "type": "integer", "minimum": 0 },
                    "completion_tokens": { "type": "integer", "minimum": 0 },
                    "replies": { "type": "integer", "minimum": 0 },
                    "reserved_tokens": { "type": "integer", "minimum": 0 },
                    "limit_tokens": { "type": "integer", "minimum": 1 }
                } })), &[]),
        },
        "/api/search": {
            "get": with_params(operation("Web search (cached), BM25 search over the caller's chat history, or code search in one of the caller's workspaces", "200", search_ok, &upstream), search_params),
        },
        "/api/search/cache/stats": {
            "get": operation("Web-search cache statistics", "200", ok_json("Stats", schema_ref("CacheStats")), &[]),
        },
        "/api/rollout": {
            "post": with_params(with_body(operation("Vectorized CartPole-v1 rollout with GAE", "200", rollout_ok(), &[]), schema_ref("RolloutRequest")), json!([accept_header()])),
        },
        "/api/rollout/runs": {
            "post": with_body(operation("Create a stateful rollout run", "201", ok_json("The run", schema_ref("Run")), &[]), run_create),
        },
        "/api/rollout/runs/{id}": {
            "get": with_params(operation("Get a run", "200", ok_json("The run", schema_ref("Run")), &[]), json!([run_id()])),
            "delete": with_params(operation("Delete a run", "204", no_content("Deleted"), &[]), json!([run_id()])),
        },
        "/api/rollout/runs/{id}/step": {
            "post": with_params(with_body(operation("Advance a run", "200", ok_json("Summary of these steps", schema_ref("RolloutSummary")), &[]), run_step), json!([run_id()])),
        },
        "/api/intent": {
            "post": with_body(operation("Route a message by intent: web, history, code, rollout or chat (deterministic, no upstream call)", "200", ok_json("The label, the score of each source label, the threshold and the terms matched", schema_ref("Intent")), &[]), intent_body),
        },
        "/api/rollout/runs/{id}/buffer": {
            "get": with_params(operation("Latest transitions of the run's experience buffer", "200", or_safetensors(ok_json("Transitions, oldest first. With `Accept: application/octet-stream`: a safetensors file, tensors obs F32 (n, 4), action U8, reward F32, terminated and truncated BOOL (n), and {len, capacity} as JSON text in `__metadata__.summary`", buffer)), &[]), json!([
                run_id(), query("limit", json!({ "type": "integer", "minimum": 1, "maximum": 65536 }), "Default 100"),
                accept_header(),
            ])),
        },
    });
    if let (Some(paths), Value::Object(more)) = (paths.as_object_mut(), workspace_paths()) {
        paths.extend(more);
    }
    let mut schemas = schemas();
    if let (Some(schemas), Value::Object(more)) = (schemas.as_object_mut(), workspace_schemas()) {
        schemas.extend(more);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "edge-assistant API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Chat tabs in Durable Objects, cached web search, BM25 history search, vectorized CartPole rollouts, intent routing and code workspaces (archive upload, symbols, code search). Errors are {\"error\": {\"code\", \"message\"}}; every response carries x-request-id."
        },
        "servers": [{ "url": "/" }],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearerAuth": { "type": "http", "scheme": "bearer", "bearerFormat": "JWT (HS256, claims sub and exp)" }
            },
            "schemas": schemas
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn served_document_is_the_generated_one() {
        let generated = document();
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/openapi.json");
        if std::env::var_os("UPDATE_OPENAPI").is_some() {
            let mut text = serde_json::to_string_pretty(&generated).unwrap();
            text.push('\n');
            std::fs::write(path, text).unwrap();
            return;
        }
        let served: Value = serde_json::from_str(SERVED).expect("src/openapi.json is JSON");
        assert!(
            served == generated,
            "src/openapi.json is not what openapi::document() builds; regenerate it with \
             `UPDATE_OPENAPI=1 cargo test --lib openapi`"
        );
    }

    #[test]
    fn document_is_openapi_31_with_error_schema() {
        let doc = document();
        assert_eq!(doc["openapi"], "3.1.0");
        assert!(doc["components"]["schemas"]["Error"].is_object());
        assert!(doc["paths"]["/api/health"]["get"]["responses"]["200"].is_object());
    }

    #[test]
    fn every_route_of_the_route_table_is_documented() {
        use crate::routes::{route, Method};
        let doc = document();
        let concrete = |template: &str| {
            template
                .replace("{id}", "abc")
                .replace("{reply_id}", "r1")
                .replace("{path}", "src/lib.rs")
        };
        let mut documented = 0;
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                let m = Method::parse(&method.to_uppercase());
                assert!(
                    route(m, &concrete(path)).is_ok(),
                    "{method} {path} is not routed"
                );
                documented += 1;
            }
        }
        // Every route the table knows appears in the document.
        assert_eq!(documented, 36);
    }

    /// The property names of an object schema, sorted.
    fn properties(schema: &Value) -> Vec<String> {
        let mut names: Vec<String> = schema["properties"]
            .as_object()
            .expect("an object schema")
            .keys()
            .cloned()
            .collect();
        names.sort();
        names
    }

    /// The keys of a serialized JSON object, sorted.
    fn keys(value: &impl serde::Serialize) -> Vec<String> {
        let value = serde_json::to_value(value).unwrap();
        let mut names: Vec<String> = value.as_object().unwrap().keys().cloned().collect();
        names.sort();
        names
    }

    #[test]
    fn run_and_buffer_schemas_list_what_a_run_answers() {
        use crate::rollout::{BufferView, Policy, RunState};
        let doc = document();
        let mut run = RunState::new(2, 7, 16).unwrap();
        run.step(3, &Policy::Random).unwrap();
        // The edge puts the run's id in front of its info.
        let mut info = keys(&run.info());
        info.push("id".into());
        info.sort();
        let schema = &doc["components"]["schemas"]["Run"];
        assert_eq!(properties(schema), info);
        let mut required: Vec<String> = serde_json::from_value(schema["required"].clone()).unwrap();
        required.sort();
        assert_eq!(required, info, "every field of a run is always present");

        let view = BufferView {
            transitions: run.latest(10),
            len: run.buffer().len(),
            capacity: run.buffer().capacity(),
        };
        let buffer = &doc["paths"]["/api/rollout/runs/{id}/buffer"]["get"]["responses"]["200"]
            ["content"]["application/json"]["schema"];
        assert_eq!(properties(buffer), keys(&view));
        assert_eq!(
            properties(&buffer["properties"]["transitions"]["items"]),
            keys(&view.transitions[0])
        );
    }

    #[test]
    fn intent_schema_lists_what_route_answers() {
        let doc = document();
        let answer = crate::assistant::intent::route("what's the weather in Oslo?");
        let schema = &doc["components"]["schemas"]["Intent"];
        assert_eq!(properties(schema), keys(&answer));
        assert_eq!(
            properties(&schema["properties"]["scores"]),
            keys(&answer.scores)
        );
    }

    /// The sorted `required` list of an object schema.
    fn required(schema: &Value) -> Vec<String> {
        let mut names: Vec<String> = serde_json::from_value(schema["required"].clone()).unwrap();
        names.sort();
        names
    }

    #[test]
    fn workspace_schemas_list_what_the_workspace_types_serialize() {
        use crate::calls::workspace::SymbolList;
        use crate::workspace::index::{CodeResultRow, SymbolHit};
        use crate::workspace::scan::{Language, SymbolKind, ALL_KINDS};
        use crate::workspace::state::{
            CodeResults, FileInfo, FilePage, SkippedCounts, UploadReport, WorkspaceInfo,
        };
        let doc = document();
        let schema = |name: &str| doc["components"]["schemas"][name].clone();
        let info = WorkspaceInfo {
            id: "w1".into(),
            name: "repo".into(),
            files: 1,
            bytes: 2,
            symbols: 3,
            status: "ready".into(),
            pending: 0,
            created_at: "2026-01-31T12:00:00.000Z".into(),
            updated_at: "2026-01-31T12:00:00.000Z".into(),
        };
        assert_eq!(properties(&schema("Workspace")), keys(&info));
        assert_eq!(required(&schema("Workspace")), keys(&info));

        let file = FileInfo {
            path: "src/lib.rs".into(),
            bytes: 10,
            language: Language::Rust,
            symbols: 1,
        };
        assert_eq!(properties(&schema("WorkspaceFile")), keys(&file));
        assert_eq!(required(&schema("WorkspaceFile")), keys(&file));
        let languages: Vec<Value> = [
            Language::Python,
            Language::Rust,
            Language::JavaScript,
            Language::TypeScript,
            Language::Go,
            Language::Markdown,
            Language::Text,
        ]
        .iter()
        .map(|l| serde_json::to_value(l).unwrap())
        .collect();
        assert_eq!(
            schema("WorkspaceFile")["properties"]["language"]["enum"],
            Value::Array(languages)
        );

        let page = FilePage {
            files: vec![file],
            next_cursor: None,
        };
        assert_eq!(properties(&schema("FilePage")), keys(&page));
        assert_eq!(required(&schema("FilePage")), keys(&page));

        let report = UploadReport {
            files: 1,
            scanned: 1,
            unchanged: 0,
            removed: 0,
            skipped: SkippedCounts::default(),
            symbols: 1,
            bytes: 10,
            status: "indexing".into(),
            pending: 1,
        };
        let upload = schema("UploadReport");
        assert_eq!(properties(&upload), keys(&report));
        assert_eq!(required(&upload), keys(&report));
        assert_eq!(
            properties(&upload["properties"]["skipped"]),
            keys(&report.skipped)
        );

        let mut symbol = SymbolHit {
            name: "parse".into(),
            kind: SymbolKind::Method,
            path: "src/lib.rs".into(),
            line: 3,
            container: Some("Parser".into()),
            signature: "fn parse(&self)".into(),
        };
        assert_eq!(properties(&schema("Symbol")), keys(&symbol));
        symbol.container = None;
        assert_eq!(required(&schema("Symbol")), keys(&symbol));
        let kinds: Vec<Value> = ALL_KINDS
            .iter()
            .map(|k| serde_json::to_value(k).unwrap())
            .collect();
        assert_eq!(
            schema("Symbol")["properties"]["kind"]["enum"],
            Value::Array(kinds)
        );
        let list = SymbolList {
            symbols: vec![symbol],
        };
        let listed = &doc["paths"]["/api/workspaces/{id}/symbols"]["get"]["responses"]["200"]
            ["content"]["application/json"]["schema"];
        assert_eq!(properties(listed), keys(&list));

        let mut hit = CodeResultRow {
            path: "src/lib.rs".into(),
            line: 3,
            snippet: "fn parse(&self)".into(),
            symbol: Some("parse".into()),
            score: 1.5,
        };
        let code = schema("CodeSearchResponse");
        assert_eq!(
            properties(&code["properties"]["results"]["items"]),
            keys(&hit)
        );
        hit.symbol = None;
        assert_eq!(
            required(&code["properties"]["results"]["items"]),
            keys(&hit)
        );
        let results = CodeResults {
            query: "parse".into(),
            source: "code".into(),
            total: 1,
            results: vec![hit],
        };
        assert_eq!(properties(&code), keys(&results));
        assert_eq!(required(&code), keys(&results));
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
