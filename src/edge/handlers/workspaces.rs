//! HTTP handlers of the code workspace routes. A workspace is a `WorkspaceObject` per (user,
//! workspace) holding the file table, symbols and code index; file contents are in the
//! `WORKSPACE_FILES` R2 bucket, in packs written here (see [`crate::workspace::state`]).
//!
//! An archive upload is read against `WORKSPACE_MAX_ARCHIVE_BYTES`, extracted and filtered by the
//! pure archive reader, hashed, and sent to the object in two calls: `BeginUpload` (which files
//! changed; 409 while another upload runs or indexes) and, once the changed files are in R2,
//! `CommitUpload` (swap the table, scan the first batch, queue the rest for the object's alarm).

use serde::Serialize;
use worker::{Request, Response};

use crate::api::{ErrorCode, InputError};
use crate::calls::user::{AddWorkspace, ListWorkspaces, RemoveWorkspace};
use crate::calls::workspace::{
    BeginUpload, CommitUpload, Create, Delete, DeleteFile, Info, ListFiles, Locate, PutFile,
    Search, Symbols,
};
use crate::calls::ObjectName;
use crate::ids;
use crate::search::query::SearchQuery;
use crate::workspace::archive::{self, ArchiveFormat, Caps};
use crate::workspace::registry::WorkspaceEntry;
use crate::workspace::scan::SymbolKind;
use crate::workspace::state::{
    validate_name, Blob, Incoming, SkippedCounts, Stored, WorkspaceInfo, MAX_FILES_PAGE,
};
use crate::workspace::{content_hash, paths};

use super::super::context::RequestCtx;
use super::super::error::ApiError;
use super::super::http;
use super::super::objects::send;

/// The R2 bucket of workspace file contents.
pub const FILES_BUCKET: &str = "WORKSPACE_FILES";

/// Largest body of `POST /api/workspaces`.
const CREATE_BODY_BYTES: usize = 4096;

/// Target size of one pack (R2 object) of an upload's files.
const PACK_BYTES: usize = 4 * 1024 * 1024;

/// Most symbols per `GET …/symbols` page, and the default.
const MAX_SYMBOLS: usize = 500;
const DEFAULT_SYMBOLS: usize = 100;

fn workspace_object(ctx: &RequestCtx, id: &str) -> Result<ObjectName, ApiError> {
    ObjectName::workspace(&ctx.user, id).map_err(|_| ApiError::not_found("workspace"))
}

/// The R2 key of pack `n` of upload `upload_id`.
fn pack_key(ctx: &RequestCtx, workspace: &str, upload_id: &str, n: usize) -> String {
    format!("ws/{}/{}/{}/{}", ctx.user, workspace, upload_id, n)
}

/// `POST /api/workspaces` `{"name"}` → 201 workspace.
pub async fn create(mut req: Request, ctx: &RequestCtx) -> Result<Response, ApiError> {
    #[derive(serde::Deserialize)]
    struct Body {
        name: String,
    }
    let body = http::json_body(&mut req, CREATE_BODY_BYTES).await?;
    let parsed: Body = crate::api::parse_json_object(&body, &["name"])?;
    let name = validate_name(&parsed.name)?;
    let id = ids::new_id()?;
    let user = ObjectName::user(&ctx.user)?;
    let entry = WorkspaceEntry {
        id: id.clone(),
        name: name.clone(),
        created_ms: ctx.now_ms,
    };
    send(&ctx.env, &user, AddWorkspace { entry }).await?;
    let create = Create {
        id: id.clone(),
        name,
        user: ctx.user.clone(),
        now_ms: ctx.now_ms,
    };
    match send(&ctx.env, &workspace_object(ctx, &id)?, create).await {
        Ok(info) => Ok(http::json_bytes(201, info.into_bytes())?),
        Err(err) => {
            // Give the place back; should that fail too, the entry only counts toward the cap.
            let _ = send(&ctx.env, &user, RemoveWorkspace { id }).await;
            Err(err)
        }
    }
}

/// `GET /api/workspaces` → `{"workspaces": [workspace]}`, oldest first.
pub async fn list(ctx: &RequestCtx) -> Result<Response, ApiError> {
    #[derive(Serialize)]
    struct Listed {
        workspaces: Vec<WorkspaceInfo>,
    }
    let entries = send(&ctx.env, &ObjectName::user(&ctx.user)?, ListWorkspaces).await?;
    let calls = entries.0.iter().map(|entry| async move {
        let name = workspace_object(ctx, &entry.id)?;
        send(&ctx.env, &name, Info).await
    });
    let mut workspaces = Vec::with_capacity(entries.0.len());
    for answer in futures_util::future::join_all(calls).await {
        match answer {
            Ok(info) => workspaces.push(info),
            // Registered but not (or no longer) created: a create or delete that failed half-way.
            Err(err) if err.code == ErrorCode::NotFound => {}
            Err(err) => return Err(err),
        }
    }
    http::json(200, &Listed { workspaces })
}

/// `GET /api/workspaces/{id}`.
pub async fn get(id: &str, ctx: &RequestCtx) -> Result<Response, ApiError> {
    let info = send(&ctx.env, &workspace_object(ctx, id)?, Info).await?;
    http::json(200, &info)
}

/// `DELETE /api/workspaces/{id}` → 204: the object deletes its packs and its storage, then the
/// owner's list forgets it.
pub async fn delete(id: &str, ctx: &RequestCtx) -> Result<Response, ApiError> {
    send(&ctx.env, &workspace_object(ctx, id)?, Delete).await?;
    let remove = RemoveWorkspace { id: id.to_owned() };
    send(&ctx.env, &ObjectName::user(&ctx.user)?, remove).await?;
    http::no_content()
}

/// The archive format a `content-type` names; 415 otherwise.
fn archive_format(content_type: &str) -> Result<ArchiveFormat, ApiError> {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "application/x-tar" | "application/tar" => Ok(ArchiveFormat::Tar),
        "application/gzip" | "application/x-gzip" | "application/x-compressed-tar" => {
            Ok(ArchiveFormat::TarGz)
        }
        "application/zip" | "application/x-zip-compressed" => Ok(ArchiveFormat::Zip),
        _ => Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "send the archive as `application/x-tar`, `application/gzip` (a .tar.gz) or \
             `application/zip`",
        )),
    }
}

/// Writes `files` (in order) to packs of about [`PACK_BYTES`]; answers where each one went.
async fn write_packs(
    ctx: &RequestCtx,
    workspace: &str,
    upload_id: &str,
    files: &[(&str, &str, &[u8])],
) -> Result<Vec<Stored>, ApiError> {
    let bucket = ctx.env.bucket(FILES_BUCKET)?;
    let mut stored = Vec::with_capacity(files.len());
    let mut pack: Vec<u8> = Vec::new();
    let mut puts = Vec::new();
    let mut n = 0;
    for (i, (path, hash, bytes)) in files.iter().enumerate() {
        let key = pack_key(ctx, workspace, upload_id, n);
        stored.push(Stored {
            path: (*path).to_owned(),
            hash: (*hash).to_owned(),
            blob: Blob {
                pack: key.clone(),
                offset: pack.len() as u64,
                len: bytes.len() as u64,
            },
        });
        pack.extend_from_slice(bytes);
        let last = i + 1 == files.len();
        if pack.len() >= PACK_BYTES || last {
            puts.push((key, std::mem::take(&mut pack)));
            n += 1;
        }
    }
    let writes = puts
        .into_iter()
        .map(|(key, bytes)| bucket.put(key, bytes).execute());
    for result in futures_util::future::join_all(writes).await {
        result?;
    }
    Ok(stored)
}

/// `PUT /api/workspaces/{id}/archive` → 200 upload report.
pub async fn upload_archive(
    mut req: Request,
    id: &str,
    ctx: &RequestCtx,
) -> Result<Response, ApiError> {
    let object = workspace_object(ctx, id)?;
    let content_type = req.headers().get("content-type")?.unwrap_or_default();
    let format = match archive_format(&content_type) {
        Ok(format) => format,
        Err(err) => {
            http::cancel_body(&mut req);
            return Err(err);
        }
    };
    let limit = usize::try_from(ctx.config.workspace_max_archive_bytes).unwrap_or(usize::MAX);
    let body = http::raw_body(&mut req, limit).await?;
    let caps = Caps {
        max_archive_bytes: limit as u64,
        max_file_bytes: ctx.config.workspace_max_file_bytes,
        ..Caps::default()
    };
    let extracted = archive::extract(&body, format, &caps)?;
    drop(body);
    let hashes: Vec<String> = extracted
        .files
        .iter()
        .map(|f| content_hash(&f.bytes))
        .collect();
    let incoming: Vec<Incoming> = extracted
        .files
        .iter()
        .zip(&hashes)
        .map(|(f, hash)| Incoming {
            path: f.path.clone(),
            hash: hash.clone(),
            bytes: f.bytes.len() as u64,
        })
        .collect();
    let upload_id = ids::new_id()?;
    let plan = send(
        &ctx.env,
        &object,
        BeginUpload {
            upload_id: upload_id.clone(),
            incoming: incoming.clone(),
            now_ms: ctx.now_ms,
        },
    )
    .await?;
    let wanted: std::collections::HashSet<&str> = plan.store.iter().map(String::as_str).collect();
    let to_store: Vec<(&str, &str, &[u8])> = extracted
        .files
        .iter()
        .zip(&hashes)
        .filter(|(f, _)| wanted.contains(f.path.as_str()))
        .map(|(f, hash)| (f.path.as_str(), hash.as_str(), f.bytes.as_slice()))
        .collect();
    let stored = write_packs(ctx, id, &upload_id, &to_store).await?;
    let skipped = SkippedCounts {
        ignored: u64::from(extracted.skipped.ignored),
        binary: u64::from(extracted.skipped.binary),
        too_large: u64::from(extracted.skipped.too_large),
        links: u64::from(extracted.skipped.links),
        unsupported: u64::from(extracted.skipped.unsupported),
    };
    let commit = CommitUpload {
        upload_id,
        incoming,
        stored,
        skipped,
        now_ms: ctx.now_ms,
    };
    let report = send(&ctx.env, &object, commit).await?;
    http::json_bytes(200, report.into_bytes())
}

/// `PUT /api/workspaces/{id}/files/{path}` raw bytes → 200 file (scanned).
pub async fn put_file(
    mut req: Request,
    id: &str,
    raw_path: &str,
    ctx: &RequestCtx,
) -> Result<Response, ApiError> {
    let object = workspace_object(ctx, id)?;
    let path = match paths::from_url(raw_path) {
        Ok(path) => path,
        Err(err) => {
            http::cancel_body(&mut req);
            return Err(err.into());
        }
    };
    let max_file_bytes = usize::try_from(ctx.config.workspace_max_file_bytes).unwrap_or(usize::MAX);
    let bytes = http::raw_body(&mut req, max_file_bytes).await?;
    if archive::is_binary(&path, &bytes) {
        return Err(InputError::invalid(
            "the file looks binary (a NUL byte in its first 8 KiB); workspaces hold text files",
        )
        .into());
    }
    // Make sure the workspace exists before writing to R2.
    send(&ctx.env, &object, Info).await?;
    let hash = content_hash(&bytes);
    let upload_id = ids::new_id()?;
    let stored = write_packs(ctx, id, &upload_id, &[(&path, &hash, &bytes)]).await?;
    let blob = stored
        .into_iter()
        .next()
        .map(|s| s.blob)
        .ok_or_else(|| ApiError::internal("a one-file pack lost its file"))?;
    let put = PutFile {
        path,
        hash,
        bytes: bytes.len() as u64,
        blob,
        now_ms: ctx.now_ms,
    };
    let file = send(&ctx.env, &object, put).await?;
    http::json(200, &file)
}

/// `GET /api/workspaces/{id}/files/{path}` → the raw content.
pub async fn get_file(id: &str, raw_path: &str, ctx: &RequestCtx) -> Result<Response, ApiError> {
    let path = paths::from_url(raw_path)?;
    let located = send(&ctx.env, &workspace_object(ctx, id)?, Locate { path }).await?;
    let bucket = ctx.env.bucket(FILES_BUCKET)?;
    let bytes = if located.blob.len == 0 {
        Vec::new()
    } else {
        let range = worker::Range::OffsetWithLength {
            offset: located.blob.offset,
            length: located.blob.len,
        };
        let object = bucket
            .get(located.blob.pack.clone())
            .range(range)
            .execute()
            .await?
            .ok_or_else(|| ApiError::internal("the file's pack is missing from R2"))?;
        let body = object
            .body()
            .ok_or_else(|| ApiError::internal("the file's pack has no body"))?;
        body.bytes().await?
    };
    let content_type = if located.info.language == crate::workspace::scan::Language::Text {
        "application/octet-stream"
    } else {
        "text/plain; charset=utf-8"
    };
    http::bytes(200, content_type, bytes)
}

/// `DELETE /api/workspaces/{id}/files/{path}` → 204.
pub async fn delete_file(id: &str, raw_path: &str, ctx: &RequestCtx) -> Result<Response, ApiError> {
    let path = paths::from_url(raw_path)?;
    let call = DeleteFile {
        path,
        now_ms: ctx.now_ms,
    };
    send(&ctx.env, &workspace_object(ctx, id)?, call).await?;
    http::no_content()
}

fn limit_param(raw: Option<String>, default: usize, max: usize) -> Result<usize, ApiError> {
    match raw {
        None => Ok(default),
        Some(raw) => raw
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|l| (1..=max).contains(l))
            .ok_or_else(|| {
                InputError::invalid(format!(
                    "query parameter `limit` must be an integer in 1..={max}"
                ))
                .into()
            }),
    }
}

/// `GET /api/workspaces/{id}/files?prefix=&cursor=&limit=`.
pub async fn list_files(req: Request, id: &str, ctx: &RequestCtx) -> Result<Response, ApiError> {
    let url = req.url()?;
    http::check_query(&url, &["prefix", "cursor", "limit"])?;
    let call = ListFiles {
        prefix: http::query_param(&url, "prefix").unwrap_or_default(),
        cursor: http::query_param(&url, "cursor").filter(|c| !c.is_empty()),
        limit: limit_param(http::query_param(&url, "limit"), 100, MAX_FILES_PAGE)?,
    };
    let page = send(&ctx.env, &workspace_object(ctx, id)?, call).await?;
    http::json_bytes(200, page.into_bytes())
}

/// `GET /api/workspaces/{id}/symbols?q=&path=&kind=&limit=`.
pub async fn symbols(req: Request, id: &str, ctx: &RequestCtx) -> Result<Response, ApiError> {
    let url = req.url()?;
    http::check_query(&url, &["q", "path", "kind", "limit"])?;
    let kind = match http::query_param(&url, "kind") {
        None => None,
        Some(name) => Some(SymbolKind::parse(&name).ok_or_else(|| {
            InputError::invalid(
                "query parameter `kind` must be one of function, class, method, struct, enum, \
                 trait, impl, interface, type, const, module, heading",
            )
        })?),
    };
    let q = http::query_param(&url, "q").filter(|q| !q.trim().is_empty());
    if q
        .as_ref()
        .is_some_and(|q| q.chars().count() > crate::search::query::MAX_QUERY_CHARS)
    {
        return Err(InputError::invalid(format!(
            "query parameter `q` must have at most {} characters",
            crate::search::query::MAX_QUERY_CHARS
        ))
        .into());
    }
    let call = Symbols {
        q,
        path: http::query_param(&url, "path").filter(|p| !p.is_empty()),
        kind,
        limit: limit_param(
            http::query_param(&url, "limit"),
            DEFAULT_SYMBOLS,
            MAX_SYMBOLS,
        )?,
    };
    let list = send(&ctx.env, &workspace_object(ctx, id)?, call).await?;
    http::json_bytes(200, list.into_bytes())
}

/// `GET /api/search?source=code&workspace=…&q=`: the workspace object searches and answers.
pub async fn search_code(query: SearchQuery, ctx: &RequestCtx) -> Result<Response, ApiError> {
    let workspace = query
        .workspace
        .as_deref()
        .ok_or_else(|| ApiError::not_found("workspace"))?;
    let call = Search {
        q: query.q.clone(),
        limit: query.limit,
    };
    let results = send(&ctx.env, &workspace_object(ctx, workspace)?, call).await?;
    http::json_bytes(200, results.into_bytes())
}
