//! `WorkspaceObject`: one SQLite-backed Durable Object per (user, code workspace), named
//! `"{user}/{workspace}"`. The core is [`crate::workspace::state::Workspace`] (file table,
//! upload lease, scan queue, code index); this object decodes a [`WorkspaceCall`], runs the core
//! and carries out its effects: reading packs from R2 for a scan batch, deleting packs no file
//! refers to, and the alarm that scans the queue in batches of
//! [`SCAN_BATCH_BYTES`](crate::workspace::state::SCAN_BATCH_BYTES) until it is empty.
//!
//! The table and index are loaded once per object instance and kept in memory, so searches and
//! symbol lookups read no storage but the snippets of their hits.

use std::cell::RefCell;

use worker::{durable_object, DurableObject, Env, Request, Response, State};

use crate::calls::workspace::{Located, SymbolList, WorkspaceCall};
use crate::calls::Encoded;
use crate::workspace::state::{PackRead, Workspace, SCAN_BATCH_BYTES};
use crate::workspace::WorkspaceError;

use super::super::error::ApiError;
use super::super::handlers::workspaces::FILES_BUCKET;
use super::super::log;
use super::super::storage::SqlKv;
use super::{answer, decode, respond};

#[durable_object]
pub struct WorkspaceObject {
    state: State,
    env: Env,
    workspace: RefCell<Option<Workspace>>,
}

impl WorkspaceObject {
    fn kv(&self) -> Result<SqlKv, ApiError> {
        Ok(SqlKv::open(self.state.storage().sql())?)
    }

    /// Runs `f` on the workspace, loaded on first use; 404 when it was never created (or was
    /// deleted). No borrow is held across an await: callers only run synchronous core code here.
    fn with<T>(
        &self,
        f: impl FnOnce(&mut Workspace, &mut SqlKv) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let mut kv = self.kv()?;
        let mut slot = self.workspace.borrow_mut();
        if slot.is_none() {
            *slot = Workspace::load(&kv)?;
        }
        match slot.as_mut() {
            Some(ws) => f(ws, &mut kv),
            None => Err(WorkspaceError::NotFound.into()),
        }
    }

    /// Scans one batch of the queue: reads each pack range from R2 and hands the files to the
    /// core. Returns how many files are still queued.
    async fn scan_batch(&self) -> Result<u64, ApiError> {
        let reads: Vec<PackRead> = self.with(|ws, _| Ok(ws.next_batch(SCAN_BATCH_BYTES)))?;
        self.scan_reads(reads).await
    }

    /// Reads each pack range from R2 and hands its files to the core; returns how many files
    /// are still queued.
    async fn scan_reads(&self, reads: Vec<PackRead>) -> Result<u64, ApiError> {
        if reads.is_empty() {
            return self.with(|ws, _| Ok(ws.pending()));
        }
        let bucket = self.env.bucket(FILES_BUCKET)?;
        for read in reads {
            let length = read.end.saturating_sub(read.start);
            let range = worker::Range::OffsetWithLength {
                offset: read.start,
                length,
            };
            // Only 0-byte files: nothing to read, and R2 refuses an empty range (416).
            let bytes = if length == 0 {
                Some(Vec::new())
            } else {
                match bucket.get(read.pack.clone()).range(range).execute().await {
                    Ok(Some(object)) => match object.body() {
                        Some(body) => Some(body.bytes().await?),
                        None => None,
                    },
                    Ok(None) => None,
                    Err(err) => return Err(err.into()),
                }
            };
            if bytes.is_none() {
                log::event(
                    "workspace_pack_missing",
                    serde_json::json!({ "pack": read.pack, "files": read.files.len() }),
                );
            }
            self.with(|ws, kv| {
                for (path, blob) in &read.files {
                    let raw = bytes.as_deref().and_then(|b| {
                        let start = usize::try_from(blob.offset - read.start).ok()?;
                        let end = start.checked_add(usize::try_from(blob.len).ok()?)?;
                        b.get(start..end)
                    });
                    ws.apply_scan(kv, path, blob, raw)?;
                }
                Ok(())
            })?;
        }
        let pending = self.with(|ws, kv| {
            kv.save_stats()?;
            Ok(ws.pending())
        })?;
        Ok(pending)
    }

    /// Scans one batch now and leaves the rest of the queue to the alarm.
    async fn scan_and_schedule(&self) -> Result<(), ApiError> {
        if self.scan_batch().await? > 0 {
            self.schedule_scan().await?;
        }
        Ok(())
    }

    /// Sets the alarm to scan the next batch right away.
    async fn schedule_scan(&self) -> Result<(), ApiError> {
        self.state
            .storage()
            .set_alarm(std::time::Duration::from_millis(0))
            .await?;
        Ok(())
    }

    /// Deletes packs that no file refers to any more. A failure only leaves garbage in R2,
    /// so it is logged, not answered.
    async fn delete_packs(&self, packs: Vec<String>) {
        if packs.is_empty() {
            return;
        }
        let result = match self.env.bucket(FILES_BUCKET) {
            Ok(bucket) => bucket.delete_multiple(packs.clone()).await,
            Err(err) => Err(err),
        };
        if let Err(err) = result {
            log::event(
                "workspace_pack_delete_failed",
                serde_json::json!({ "packs": packs.len(), "error": err.to_string() }),
            );
        }
    }

    /// Deletes every R2 object under the workspace's prefix (packs of aborted uploads too).
    async fn delete_all_packs(&self, prefix: String) -> Result<(), ApiError> {
        let bucket = self.env.bucket(FILES_BUCKET)?;
        loop {
            let listed = bucket.list().prefix(prefix.clone()).execute().await?;
            let keys: Vec<String> = listed.objects().iter().map(|o| o.key()).collect();
            if keys.is_empty() {
                return Ok(());
            }
            bucket.delete_multiple(keys).await?;
            if !listed.truncated() {
                return Ok(());
            }
        }
    }

    async fn handle(&self, call: WorkspaceCall) -> Result<Response, ApiError> {
        match call {
            WorkspaceCall::Create(create) => {
                let mut kv = self.kv()?;
                let ws = Workspace::create(
                    &mut kv,
                    &create.id,
                    &create.name,
                    &create.user,
                    create.now_ms,
                )?;
                let info = ws.info();
                *self.workspace.borrow_mut() = Some(ws);
                answer(Encoded::new(&info)?)
            }
            WorkspaceCall::Info(_) => answer(self.with(|ws, _| Ok(ws.info()))?),
            WorkspaceCall::Delete(_) => {
                let (user, id) = self.with(|ws, _| {
                    let info = ws.info();
                    Ok((ws.user().to_owned(), info.id))
                })?;
                self.delete_all_packs(format!("ws/{user}/{id}/")).await?;
                self.kv()?.wipe()?;
                *self.workspace.borrow_mut() = None;
                self.state.storage().delete_alarm().await?;
                answer(())
            }
            WorkspaceCall::BeginUpload(begin) => {
                let plan = self.with(|ws, kv| {
                    let plan =
                        ws.begin_upload(kv, &begin.upload_id, &begin.incoming, begin.now_ms)?;
                    kv.save_stats()?;
                    Ok(plan)
                })?;
                answer(plan)
            }
            WorkspaceCall::CommitUpload(commit) => {
                let (mut report, dead) = self.with(|ws, kv| {
                    let done = ws.commit_upload(
                        kv,
                        &commit.upload_id,
                        &commit.incoming,
                        commit.stored,
                        commit.skipped,
                        commit.now_ms,
                    )?;
                    kv.save_stats()?;
                    Ok(done)
                })?;
                self.delete_packs(dead).await;
                self.scan_and_schedule().await?;
                // The counts after the first batch: a small upload answers `ready`.
                let info = self.with(|ws, _| Ok(ws.info()))?;
                report.symbols = info.symbols;
                report.status = info.status;
                report.pending = info.pending;
                answer(Encoded::new(&report)?)
            }
            WorkspaceCall::PutFile(put) => {
                let path = put.path.clone();
                let dead = self.with(|ws, kv| {
                    let dead =
                        ws.put_file(kv, &put.path, put.hash, put.bytes, put.blob, put.now_ms)?;
                    kv.save_stats()?;
                    Ok(dead)
                })?;
                self.delete_packs(dead).await;
                // This file first, whatever an upload still has queued.
                let own = self.with(|ws, _| Ok(ws.batch_for(&path)))?;
                let pending = self.scan_reads(own.into_iter().collect()).await?;
                if pending > 0 {
                    self.schedule_scan().await?;
                }
                let info = self.with(|ws, _| {
                    ws.file_info(&path)
                        .ok_or_else(|| WorkspaceError::FileNotFound.into())
                })?;
                answer(info)
            }
            WorkspaceCall::DeleteFile(delete) => {
                let dead = self.with(|ws, kv| {
                    let dead = ws.delete_file(kv, &delete.path, delete.now_ms)?;
                    kv.save_stats()?;
                    Ok(dead)
                })?;
                self.delete_packs(dead).await;
                answer(())
            }
            WorkspaceCall::Locate(locate) => {
                let located = self.with(|ws, _| {
                    let entry = ws.file(&locate.path).ok_or(WorkspaceError::FileNotFound)?;
                    let info = ws
                        .file_info(&locate.path)
                        .ok_or(WorkspaceError::FileNotFound)?;
                    Ok(Located {
                        blob: entry.blob.clone(),
                        info,
                    })
                })?;
                answer(located)
            }
            WorkspaceCall::ListFiles(list) => {
                let page = self.with(|ws, _| {
                    Ok(ws.list_files(&list.prefix, list.cursor.as_deref(), list.limit))
                })?;
                answer(Encoded::new(&page)?)
            }
            WorkspaceCall::Symbols(q) => {
                let symbols = self.with(|ws, _| {
                    Ok(ws.symbols(q.q.as_deref(), q.path.as_deref(), q.kind, q.limit))
                })?;
                answer(Encoded::new(&SymbolList { symbols })?)
            }
            WorkspaceCall::Search(search) => {
                let results = self.with(|ws, kv| Ok(ws.search(kv, &search.q, search.limit)?))?;
                answer(Encoded::new(&results)?)
            }
            WorkspaceCall::Context(context) => {
                let ctx = self
                    .with(|ws, kv| Ok(ws.context(kv, &context.question, context.budget_tokens)))?;
                answer(ctx)
            }
        }
    }
}

impl DurableObject for WorkspaceObject {
    fn new(state: State, env: Env) -> Self {
        Self {
            state,
            env,
            workspace: RefCell::new(None),
        }
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        let result = match decode::<WorkspaceCall>(&mut req).await {
            Ok(call) => self.handle(call).await,
            Err(err) => Err(err),
        };
        respond(result)
    }

    /// Scans the next batch of the queue, and sets itself again while files remain. A failed
    /// batch is retried by the runtime's alarm retries; files whose pack is gone leave the queue.
    async fn alarm(&self) -> worker::Result<Response> {
        match self.scan_and_schedule().await {
            Ok(()) => Response::ok("scanned"),
            Err(err) if err.code == crate::api::ErrorCode::NotFound => Response::ok("deleted"),
            Err(err) => {
                log::event(
                    "workspace_scan_failed",
                    serde_json::json!({ "message": err.message, "detail": err.detail }),
                );
                Err(worker::Error::RustError(err.message))
            }
        }
    }
}
