//! [`Workspace`]: the pure core of one workspace's Durable Object — its file table, its upload
//! lease, the scan queue and the code index — over a [`KvStore`].
//!
//! File contents live in R2 in *packs*: one object per upload batch holding the files' bytes
//! back to back (a few MiB each, so an upload of thousands of files is a handful of R2 writes).
//! The table maps each path to its pack, offset and length, its content hash and language. The
//! object's storage holds, per file, the table entry (`f/{path}`), the index record the scanner
//! and the code index made of it (`r/{path}`) and its decoded text for snippets (`t/{path}`).
//!
//! An archive upload is two calls: [`Workspace::begin_upload`] takes the upload lease (one
//! upload at a time; 409 while another runs or the last one is still indexing) and says which
//! files changed; the worker writes those to packs; [`Workspace::commit_upload`] swaps the table
//! and queues the changed files for scanning. Scanning runs in bounded batches
//! ([`Workspace::next_batch`] → the shell reads the packs → [`Workspace::apply_scan`]), in the
//! commit request and then in alarms, so no request or alarm does more than
//! [`SCAN_BATCH_BYTES`] of scanning; the workspace's `status` is `indexing` until the queue is
//! empty. A file whose content hash did not change is never scanned again.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::archive::decode_text;
use super::index::{CodeIndex, CodeResultRow, FileRecord, SymbolHit};
use super::scan::{Language, SymbolKind};
use super::{context, index, scan, WorkspaceError};
use crate::api::InputError;
use crate::chat::time::format_rfc3339_ms;
use crate::storage::{prefix_end, KvStore};

/// Source bytes scanned and indexed per request or alarm. Measured on the CPython standard
/// library (docs/BENCHMARKS.md "Code workspaces"): well under the 1 s CPU budget per batch.
pub const SCAN_BATCH_BYTES: u64 = 2 * 1024 * 1024;

/// How long an upload may take between `begin_upload` and `commit_upload`.
pub const UPLOAD_LEASE_MS: u64 = 120_000;

/// Most files per page of `GET …/files`.
pub const MAX_FILES_PAGE: usize = 1000;

/// Longest workspace name, in characters.
pub const MAX_NAME_CHARS: usize = 100;

/// Most source bytes one workspace holds (40 MiB), archive and single files together. The
/// workspace object keeps the whole code index in memory: ~1.4 bytes of heap per source byte
/// (docs/BENCHMARKS.md "Code search index"), so 40 MiB of source is ~56 MB of index, which leaves
/// room in a Durable Object's 128 MB isolate for the runtime and a scan batch. The CPython
/// standard library (31.5 MB of `.py`) fits.
pub const MAX_WORKSPACE_BYTES: u64 = 40 << 20;

/// Most files one workspace holds, archive and single files together (the archive reader's
/// own cap is the same, so only single-file adds can reach it).
pub const MAX_WORKSPACE_FILES: usize = 20_000;

const META_KEY: &str = "m";
const FILE_PREFIX: &str = "f/";
const RECORD_PREFIX: &str = "r/";
const TEXT_PREFIX: &str = "t/";

/// Where a file's bytes are in R2.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Blob {
    /// The pack's R2 key.
    pub pack: String,
    pub offset: u64,
    pub len: u64,
}

/// One file of the table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    pub bytes: u64,
    /// Content hash of the raw bytes ([`super::content_hash`]).
    pub hash: String,
    pub language: Language,
    pub symbols: u32,
    pub blob: Blob,
    /// Whether the file has been scanned and indexed (false: queued).
    pub scanned: bool,
}

/// The upload in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub upload_id: String,
    pub expires_ms: u64,
}

/// What the object stores about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    pub id: String,
    pub name: String,
    pub user: String,
    pub created_ms: u64,
    pub updated_ms: u64,
    #[serde(default)]
    pub lease: Option<Lease>,
}

/// A workspace as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkspaceInfo {
    pub id: String,
    pub name: String,
    pub files: u64,
    pub bytes: u64,
    pub symbols: u64,
    /// `indexing` while files are queued for scanning, else `ready`.
    pub status: String,
    /// Files queued for scanning.
    pub pending: u64,
    pub created_at: String,
    pub updated_at: String,
}

/// A file as `GET …/files` and `PUT …/files/{path}` show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileInfo {
    pub path: String,
    pub bytes: u64,
    pub language: Language,
    pub symbols: u32,
}

/// A page of the file list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilePage {
    pub files: Vec<FileInfo>,
    pub next_cursor: Option<String>,
}

/// A file the worker read from an upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incoming {
    pub path: String,
    pub hash: String,
    pub bytes: u64,
}

/// Which files of an upload the worker must store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadPlan {
    pub upload_id: String,
    /// Paths whose content is new or changed, in the order given.
    pub store: Vec<String>,
}

/// A stored file of an upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stored {
    pub path: String,
    pub hash: String,
    pub blob: Blob,
}

/// Files skipped by the archive reader, as the API reports them (`links` and `unsupported` are
/// additions to the contract's three counts).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedCounts {
    /// Excluded by the built-in ignore set or a `.gitignore`.
    pub ignored: u64,
    /// Binary files, nested archives included.
    pub binary: u64,
    /// Over `WORKSPACE_MAX_FILE_BYTES`.
    pub too_large: u64,
    /// Symbolic and hard links, devices and FIFOs: never followed, never stored.
    pub links: u64,
    /// Encrypted zip entries, unsupported compression methods, unknown tar entry types.
    pub unsupported: u64,
}

/// The answer to an archive upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadReport {
    /// Files in the workspace after the upload.
    pub files: u64,
    /// Files whose content was new or changed: scanned, or queued while `status` is `indexing`.
    pub scanned: u64,
    /// Files whose content hash did not change (not scanned again).
    pub unchanged: u64,
    /// Files of the previous contents that the archive no longer has (deleted).
    pub removed: u64,
    pub skipped: SkippedCounts,
    /// Symbols in the workspace after the upload (grows while `status` is `indexing`).
    pub symbols: u64,
    pub bytes: u64,
    pub status: String,
    pub pending: u64,
}

/// One R2 read of a scan batch: a range of one pack and the queued files inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackRead {
    pub pack: String,
    pub start: u64,
    pub end: u64,
    /// The queued files in this range, with their blobs (offsets within the pack).
    pub files: Vec<(String, Blob)>,
}

/// The answer of a code search.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CodeResults {
    pub query: String,
    pub source: String,
    pub total: u64,
    pub results: Vec<CodeResultRow>,
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> WorkspaceError {
    WorkspaceError::Corrupt(format!("{what}: {e}"))
}

fn to_json(value: &impl Serialize) -> Result<Vec<u8>, WorkspaceError> {
    serde_json::to_vec(value).map_err(|e| corrupt("encode", e))
}

/// One workspace: see the module docs.
#[derive(Debug, Clone)]
pub struct Workspace {
    meta: Meta,
    files: BTreeMap<String, FileEntry>,
    index: CodeIndex,
    bytes: u64,
    symbols: u64,
    pending: u64,
}

impl Workspace {
    /// Creates the workspace (its meta record).
    pub fn create(
        store: &mut impl KvStore,
        id: &str,
        name: &str,
        user: &str,
        now_ms: u64,
    ) -> Result<Self, WorkspaceError> {
        let meta = Meta {
            id: id.into(),
            name: name.into(),
            user: user.into(),
            created_ms: now_ms,
            updated_ms: now_ms,
            lease: None,
        };
        store.put(META_KEY, &to_json(&meta)?)?;
        Ok(Self {
            meta,
            files: BTreeMap::new(),
            index: CodeIndex::new(),
            bytes: 0,
            symbols: 0,
            pending: 0,
        })
    }

    /// Loads the workspace (table and index) from `store`; `None` when it was never created.
    pub fn load(store: &impl KvStore) -> Result<Option<Self>, WorkspaceError> {
        let Some(meta) = store.get(META_KEY)? else {
            return Ok(None);
        };
        let meta: Meta = serde_json::from_slice(&meta).map_err(|e| corrupt("meta", e))?;
        let mut ws = Self {
            meta,
            files: BTreeMap::new(),
            index: CodeIndex::new(),
            bytes: 0,
            symbols: 0,
            pending: 0,
        };
        for (key, value) in store.range(FILE_PREFIX, &prefix_end(FILE_PREFIX), false, usize::MAX)? {
            let entry: FileEntry =
                serde_json::from_slice(&value).map_err(|e| corrupt("file entry", e))?;
            let path = key[FILE_PREFIX.len()..].to_owned();
            ws.count(&entry, 1);
            ws.files.insert(path, entry);
        }
        for (key, value) in
            store.range(RECORD_PREFIX, &prefix_end(RECORD_PREFIX), false, usize::MAX)?
        {
            let path = &key[RECORD_PREFIX.len()..];
            if ws.files.get(path).is_some_and(|f| f.scanned) {
                let record: FileRecord =
                    serde_json::from_slice(&value).map_err(|e| corrupt("index record", e))?;
                ws.index.insert(path, record)?;
            }
        }
        Ok(Some(ws))
    }

    fn count(&mut self, entry: &FileEntry, sign: i64) {
        let apply = |total: &mut u64, n: u64| {
            *total = if sign > 0 {
                total.saturating_add(n)
            } else {
                total.saturating_sub(n)
            };
        };
        apply(&mut self.bytes, entry.bytes);
        apply(&mut self.symbols, u64::from(entry.symbols));
        apply(&mut self.pending, u64::from(!entry.scanned));
    }

    /// The owner's user id.
    pub fn user(&self) -> &str {
        &self.meta.user
    }

    /// The workspace as the API shows it.
    pub fn info(&self) -> WorkspaceInfo {
        WorkspaceInfo {
            id: self.meta.id.clone(),
            name: self.meta.name.clone(),
            files: self.files.len() as u64,
            bytes: self.bytes,
            symbols: self.symbols,
            status: self.status().into(),
            pending: self.pending,
            created_at: format_rfc3339_ms(self.meta.created_ms),
            updated_at: format_rfc3339_ms(self.meta.updated_ms),
        }
    }

    /// `indexing` while files are queued, else `ready`.
    pub fn status(&self) -> &'static str {
        if self.pending > 0 {
            "indexing"
        } else {
            "ready"
        }
    }

    /// Files queued for scanning.
    pub fn pending(&self) -> u64 {
        self.pending
    }

    /// Every pack the table refers to (for deleting the workspace).
    pub fn packs(&self) -> BTreeSet<String> {
        self.files.values().map(|f| f.blob.pack.clone()).collect()
    }

    fn save_meta(&self, store: &mut impl KvStore) -> Result<(), WorkspaceError> {
        store.put(META_KEY, &to_json(&self.meta)?)?;
        Ok(())
    }

    /// Takes the upload lease and says which of `incoming` must be stored. 409 while another
    /// upload holds the lease or the previous one is still being indexed.
    pub fn begin_upload(
        &mut self,
        store: &mut impl KvStore,
        upload_id: &str,
        incoming: &[Incoming],
        now_ms: u64,
    ) -> Result<UploadPlan, WorkspaceError> {
        if let Some(lease) = &self.meta.lease {
            if lease.expires_ms > now_ms {
                return Err(WorkspaceError::Busy(
                    "another archive upload to this workspace is in progress".into(),
                ));
            }
        }
        if self.pending > 0 {
            return Err(WorkspaceError::Busy(format!(
                "the previous upload is still being indexed ({} files to go)",
                self.pending
            )));
        }
        // An upload replaces the whole workspace, so its own totals are what must fit.
        let total: u64 = incoming
            .iter()
            .map(|f| f.bytes)
            .fold(0, u64::saturating_add);
        check_totals(incoming.len(), total)?;
        let store_paths = incoming
            .iter()
            .filter(|f| self.files.get(&f.path).is_none_or(|e| e.hash != f.hash))
            .map(|f| f.path.clone())
            .collect();
        self.meta.lease = Some(Lease {
            upload_id: upload_id.into(),
            expires_ms: now_ms.saturating_add(UPLOAD_LEASE_MS),
        });
        self.save_meta(store)?;
        Ok(UploadPlan {
            upload_id: upload_id.into(),
            store: store_paths,
        })
    }

    /// Replaces the workspace's contents with `incoming`: unchanged files stay as they are,
    /// `stored` ones (new or changed) are queued for scanning, files absent from the upload are
    /// removed. Returns the report and the packs no file refers to any more (for the shell to
    /// delete from R2).
    pub fn commit_upload(
        &mut self,
        store: &mut impl KvStore,
        upload_id: &str,
        incoming: &[Incoming],
        stored: Vec<Stored>,
        skipped: SkippedCounts,
        now_ms: u64,
    ) -> Result<(UploadReport, Vec<String>), WorkspaceError> {
        match &self.meta.lease {
            Some(lease) if lease.upload_id == upload_id && lease.expires_ms > now_ms => {}
            _ => return Err(WorkspaceError::UploadExpired),
        }
        let packs_before = self.packs();
        let keep: BTreeSet<&str> = incoming.iter().map(|f| f.path.as_str()).collect();
        let removed: Vec<String> = self
            .files
            .keys()
            .filter(|p| !keep.contains(p.as_str()))
            .cloned()
            .collect();
        for path in &removed {
            self.forget(store, path)?;
        }
        let changed = stored.len() as u64;
        for file in stored {
            let bytes = incoming
                .iter()
                .find(|f| f.path == file.path)
                .map_or(file.blob.len, |f| f.bytes);
            self.queue(store, &file.path, file.hash, bytes, file.blob)?;
        }
        self.meta.lease = None;
        self.meta.updated_ms = now_ms;
        self.save_meta(store)?;
        let dead = self.dead_packs(&packs_before);
        let report = UploadReport {
            files: self.files.len() as u64,
            scanned: changed,
            unchanged: (incoming.len() as u64).saturating_sub(changed),
            removed: removed.len() as u64,
            skipped,
            symbols: self.symbols,
            bytes: self.bytes,
            status: self.status().into(),
            pending: self.pending,
        };
        Ok((report, dead))
    }

    /// Adds or replaces one file (`PUT …/files/{path}`), queued for scanning. Returns the packs
    /// no file refers to any more.
    pub fn put_file(
        &mut self,
        store: &mut impl KvStore,
        path: &str,
        hash: String,
        bytes: u64,
        blob: Blob,
        now_ms: u64,
    ) -> Result<Vec<String>, WorkspaceError> {
        let (files, total) = match self.files.get(path) {
            Some(old) => (self.files.len(), self.bytes - old.bytes.min(self.bytes)),
            None => (self.files.len() + 1, self.bytes),
        };
        check_totals(files, total.saturating_add(bytes))?;
        let packs_before = self.packs();
        self.queue(store, path, hash, bytes, blob)?;
        self.meta.updated_ms = now_ms;
        self.save_meta(store)?;
        Ok(self.dead_packs(&packs_before))
    }

    /// Removes one file. Returns the packs no file refers to any more.
    pub fn delete_file(
        &mut self,
        store: &mut impl KvStore,
        path: &str,
        now_ms: u64,
    ) -> Result<Vec<String>, WorkspaceError> {
        if !self.files.contains_key(path) {
            return Err(WorkspaceError::FileNotFound);
        }
        let packs_before = self.packs();
        self.forget(store, path)?;
        self.meta.updated_ms = now_ms;
        self.save_meta(store)?;
        Ok(self.dead_packs(&packs_before))
    }

    fn dead_packs(&self, before: &BTreeSet<String>) -> Vec<String> {
        let now = self.packs();
        before.difference(&now).cloned().collect()
    }

    fn queue(
        &mut self,
        store: &mut impl KvStore,
        path: &str,
        hash: String,
        bytes: u64,
        blob: Blob,
    ) -> Result<(), WorkspaceError> {
        if self.files.contains_key(path) {
            self.forget(store, path)?;
        }
        let entry = FileEntry {
            bytes,
            hash,
            language: Language::from_path(path),
            symbols: 0,
            blob,
            scanned: false,
        };
        store.put(&format!("{FILE_PREFIX}{path}"), &to_json(&entry)?)?;
        self.count(&entry, 1);
        self.files.insert(path.to_owned(), entry);
        Ok(())
    }

    fn forget(&mut self, store: &mut impl KvStore, path: &str) -> Result<(), WorkspaceError> {
        if let Some(entry) = self.files.remove(path) {
            self.count(&entry, -1);
            self.index.remove(path);
            store.delete(&format!("{FILE_PREFIX}{path}"))?;
            store.delete(&format!("{RECORD_PREFIX}{path}"))?;
            store.delete(&format!("{TEXT_PREFIX}{path}"))?;
        }
        Ok(())
    }

    /// The next batch to scan: queued files grouped by pack, in path order, until
    /// `max_bytes` of source (at least one file).
    pub fn next_batch(&self, max_bytes: u64) -> Vec<PackRead> {
        let mut reads: Vec<PackRead> = Vec::new();
        let mut total = 0u64;
        for (path, entry) in self.files.iter().filter(|(_, e)| !e.scanned) {
            if total > 0 && total.saturating_add(entry.bytes) > max_bytes {
                break;
            }
            total = total.saturating_add(entry.bytes);
            let blob = &entry.blob;
            let end = blob.offset.saturating_add(blob.len);
            match reads.iter_mut().find(|r| r.pack == blob.pack) {
                Some(read) => {
                    read.start = read.start.min(blob.offset);
                    read.end = read.end.max(end);
                    read.files.push((path.clone(), blob.clone()));
                }
                None => reads.push(PackRead {
                    pack: blob.pack.clone(),
                    start: blob.offset,
                    end,
                    files: vec![(path.clone(), blob.clone())],
                }),
            }
        }
        reads
    }

    /// The read that scans `path` alone, if it is queued (a single-file PUT is scanned in its
    /// own request, ahead of an upload's queue).
    pub fn batch_for(&self, path: &str) -> Option<PackRead> {
        let entry = self.files.get(path).filter(|e| !e.scanned)?;
        let blob = &entry.blob;
        Some(PackRead {
            pack: blob.pack.clone(),
            start: blob.offset,
            end: blob.offset.saturating_add(blob.len),
            files: vec![(path.to_owned(), blob.clone())],
        })
    }

    /// Scans and indexes a queued file from its bytes (`raw`, as uploaded, read from `blob`). A
    /// file that is no longer queued at that blob (scanned, deleted or replaced while the pack
    /// was read) is left alone. `raw = None` means its pack could not be read: the file is
    /// kept, without symbols, and leaves the queue.
    pub fn apply_scan(
        &mut self,
        store: &mut impl KvStore,
        path: &str,
        blob: &Blob,
        raw: Option<&[u8]>,
    ) -> Result<(), WorkspaceError> {
        let Some(entry) = self.files.get(path) else {
            return Ok(());
        };
        if entry.scanned || entry.blob != *blob {
            return Ok(());
        }
        let mut entry = entry.clone();
        self.count(&entry, -1);
        let text = raw.map(decode_text);
        let text = text.as_deref().unwrap_or("");
        let symbols = match raw {
            Some(raw) => scan::scan(entry.language, raw),
            None => Vec::new(),
        };
        let record = index::index_file(text, &symbols);
        store.put(&format!("{RECORD_PREFIX}{path}"), &to_json(&record)?)?;
        store.put(&format!("{TEXT_PREFIX}{path}"), text.as_bytes())?;
        entry.symbols = u32::try_from(symbols.len()).unwrap_or(u32::MAX);
        entry.scanned = true;
        store.put(&format!("{FILE_PREFIX}{path}"), &to_json(&entry)?)?;
        self.count(&entry, 1);
        self.index.insert(path, record)?;
        self.files.insert(path.to_owned(), entry);
        Ok(())
    }

    /// One file's table entry.
    pub fn file(&self, path: &str) -> Option<&FileEntry> {
        self.files.get(path)
    }

    /// One file as the API shows it.
    pub fn file_info(&self, path: &str) -> Option<FileInfo> {
        self.files.get(path).map(|e| FileInfo {
            path: path.to_owned(),
            bytes: e.bytes,
            language: e.language,
            symbols: e.symbols,
        })
    }

    /// A page of files under `prefix`, in path order, after `cursor` (the last path of the
    /// previous page).
    pub fn list_files(&self, prefix: &str, cursor: Option<&str>, limit: usize) -> FilePage {
        let limit = limit.clamp(1, MAX_FILES_PAGE);
        let mut files = Vec::new();
        let mut next_cursor = None;
        for (path, e) in self
            .files
            .range::<str, _>((
                cursor.map_or(std::ops::Bound::Included(prefix), std::ops::Bound::Excluded),
                std::ops::Bound::Unbounded,
            ))
            // Paths under `prefix` are contiguous in path order: skip to them, stop after them.
            .skip_while(|(p, _)| !p.starts_with(prefix) && p.as_str() < prefix)
            .take_while(|(p, _)| p.starts_with(prefix))
        {
            if files.len() == limit {
                next_cursor = files.last().map(|f: &FileInfo| f.path.clone());
                break;
            }
            files.push(FileInfo {
                path: path.clone(),
                bytes: e.bytes,
                language: e.language,
                symbols: e.symbols,
            });
        }
        FilePage { files, next_cursor }
    }

    /// Symbols by name or prefix, path prefix and kind.
    pub fn symbols(
        &self,
        q: Option<&str>,
        path: Option<&str>,
        kind: Option<SymbolKind>,
        limit: usize,
    ) -> Vec<SymbolHit> {
        self.index.symbols(q, path, kind, limit)
    }

    /// Code search with snippets read from the stored texts of the hits' files.
    pub fn search(
        &self,
        store: &impl KvStore,
        query: &str,
        limit: usize,
    ) -> Result<CodeResults, WorkspaceError> {
        let found = self.index.search(query, limit)?;
        let hits = found.hits;
        let mut results = Vec::with_capacity(hits.len());
        let mut texts: BTreeMap<String, Option<String>> = BTreeMap::new();
        for hit in hits {
            if !texts.contains_key(&hit.path) {
                let text = store
                    .get(&format!("{TEXT_PREFIX}{}", hit.path))?
                    .map(|b| String::from_utf8_lossy(&b).into_owned());
                texts.insert(hit.path.clone(), text);
            }
            let text = texts.get(&hit.path).and_then(Option::as_deref);
            results.push(hit.row(text));
        }
        Ok(CodeResults {
            query: query.to_owned(),
            source: "code".into(),
            total: found.total,
            results,
        })
    }

    /// The code context for an assistant reply about this workspace.
    pub fn context(
        &self,
        store: &impl KvStore,
        question: &str,
        budget_tokens: usize,
    ) -> context::CodeContext {
        let texts = |path: &str| -> Option<String> {
            store
                .get(&format!("{TEXT_PREFIX}{path}"))
                .ok()
                .flatten()
                .map(|b| String::from_utf8_lossy(&b).into_owned())
        };
        context::code_context(&self.index, question, &texts, budget_tokens)
    }
}

/// Refuses a workspace that would hold more than [`MAX_WORKSPACE_FILES`] files or
/// [`MAX_WORKSPACE_BYTES`] bytes of source.
fn check_totals(files: usize, bytes: u64) -> Result<(), WorkspaceError> {
    if files > MAX_WORKSPACE_FILES {
        return Err(WorkspaceError::Limit(format!(
            "a workspace holds at most {MAX_WORKSPACE_FILES} files; this change would make {files}"
        )));
    }
    if bytes > MAX_WORKSPACE_BYTES {
        return Err(WorkspaceError::Limit(format!(
            "a workspace holds at most {} MiB of source; this change would make {:.1} MiB",
            MAX_WORKSPACE_BYTES >> 20,
            bytes as f64 / (1024.0 * 1024.0)
        )));
    }
    Ok(())
}

/// The name a user gave a workspace, trimmed; 400 when empty or too long.
pub fn validate_name(name: &str) -> Result<String, WorkspaceError> {
    let trimmed = name.trim();
    if trimmed.is_empty() {
        return Err(InputError::invalid("name: must not be empty").into());
    }
    if trimmed.chars().count() > MAX_NAME_CHARS {
        return Err(InputError::limit(format!("name: at most {MAX_NAME_CHARS} characters")).into());
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{ErrorCode, HasErrorCode};
    use crate::storage::MemoryStore;

    const NOW: u64 = 1_700_000_000_000;

    fn incoming(files: &[(&str, &str)]) -> Vec<Incoming> {
        files
            .iter()
            .map(|(path, text)| Incoming {
                path: (*path).into(),
                hash: super::super::content_hash(text.as_bytes()),
                bytes: text.len() as u64,
            })
            .collect()
    }

    /// Packs `files` (those the plan asks for) into one pack named `pack`, as the worker does,
    /// and keeps the pack's bytes for the scan.
    fn store_files(
        plan: &UploadPlan,
        files: &[(&str, &str)],
        pack: &str,
    ) -> (Vec<Stored>, Vec<u8>) {
        let mut bytes = Vec::new();
        let mut stored = Vec::new();
        for (path, text) in files
            .iter()
            .filter(|(p, _)| plan.store.iter().any(|s| s == p))
        {
            stored.push(Stored {
                path: (*path).into(),
                hash: super::super::content_hash(text.as_bytes()),
                blob: Blob {
                    pack: pack.into(),
                    offset: bytes.len() as u64,
                    len: text.len() as u64,
                },
            });
            bytes.extend_from_slice(text.as_bytes());
        }
        (stored, bytes)
    }

    /// Runs every scan batch against the given packs, as the object's alarm does.
    fn scan_all(ws: &mut Workspace, store: &mut MemoryStore, packs: &BTreeMap<String, Vec<u8>>) {
        let mut rounds = 0;
        loop {
            let batch = ws.next_batch(SCAN_BATCH_BYTES);
            if batch.is_empty() {
                break;
            }
            for read in batch {
                let pack = packs.get(&read.pack);
                for (path, blob) in &read.files {
                    let raw =
                        pack.map(|p| &p[blob.offset as usize..(blob.offset + blob.len) as usize]);
                    ws.apply_scan(store, path, blob, raw).unwrap();
                }
            }
            rounds += 1;
            assert!(rounds < 1000, "the scan queue never emptied");
        }
    }

    fn upload(
        ws: &mut Workspace,
        store: &mut MemoryStore,
        packs: &mut BTreeMap<String, Vec<u8>>,
        files: &[(&str, &str)],
        upload_id: &str,
    ) -> (UploadReport, Vec<String>) {
        let incoming = incoming(files);
        let plan = ws.begin_upload(store, upload_id, &incoming, NOW).unwrap();
        let (stored, bytes) = store_files(&plan, files, &format!("p-{upload_id}"));
        packs.insert(format!("p-{upload_id}"), bytes);
        let done = ws
            .commit_upload(
                store,
                upload_id,
                &incoming,
                stored,
                SkippedCounts::default(),
                NOW + 1,
            )
            .unwrap();
        scan_all(ws, store, packs);
        done
    }

    const FILES: [(&str, &str); 3] = [
        ("src/config.py", "def parse_config(path):\n    return path\n\nclass Loader:\n    def load(self):\n        pass\n"),
        ("src/lib.rs", "pub fn parseConfig() -> u32 { 1 }\n"),
        ("README.md", "# Readme\n\nparse config here\n"),
    ];

    #[test]
    fn an_upload_is_queued_then_scanned_and_survives_a_reload() {
        let mut store = MemoryStore::new();
        let mut packs = BTreeMap::new();
        let mut ws = Workspace::create(&mut store, "w1", "proj", "alice", NOW).unwrap();
        let (report, dead) = upload(&mut ws, &mut store, &mut packs, &FILES, "u1");
        assert_eq!((report.files, report.scanned, report.unchanged), (3, 3, 0));
        assert_eq!(report.status, "indexing");
        assert!(dead.is_empty());
        let info = ws.info();
        assert_eq!(
            (info.status.as_str(), info.pending, info.files),
            ("ready", 0, 3)
        );
        assert_eq!(info.symbols, 5, "{info:?}");
        let reloaded = Workspace::load(&store).unwrap().unwrap();
        assert_eq!(reloaded.info(), info);
        let names: Vec<String> = reloaded
            .symbols(Some("parse"), None, None, 10)
            .into_iter()
            .map(|s| s.name)
            .collect();
        assert!(names.contains(&"parse_config".to_owned()), "{names:?}");
        assert!(names.contains(&"parseConfig".to_owned()), "{names:?}");
        let results = reloaded.search(&store, "parse config", 10).unwrap();
        assert!(results
            .results
            .iter()
            .any(|r| r.path == "src/config.py" && r.line == 1));
        assert!(results.results.iter().all(|r| !r.snippet.is_empty()));
    }

    #[test]
    fn unchanged_files_are_not_rescanned_and_missing_ones_are_removed() {
        let mut store = MemoryStore::new();
        let mut packs = BTreeMap::new();
        let mut ws = Workspace::create(&mut store, "w1", "proj", "alice", NOW).unwrap();
        upload(&mut ws, &mut store, &mut packs, &FILES, "u1");
        let second = [FILES[0], ("src/lib.rs", "pub fn other() {}\n")];
        let (report, dead) = upload(&mut ws, &mut store, &mut packs, &second, "u2");
        assert_eq!(
            (
                report.files,
                report.scanned,
                report.unchanged,
                report.removed
            ),
            (2, 1, 1, 1)
        );
        // The first pack still holds config.py, so it lives on.
        assert!(dead.is_empty(), "{dead:?}");
        let third = [("src/lib.rs", "pub fn other() {}\n")];
        let (report, dead) = upload(&mut ws, &mut store, &mut packs, &third, "u3");
        assert_eq!(
            (report.scanned, report.unchanged, report.removed),
            (0, 1, 1)
        );
        assert_eq!(dead, vec!["p-u1".to_owned()]);
        assert!(ws.symbols(Some("parse_config"), None, None, 10).is_empty());
        assert!(ws.search(&store, "parse", 10).unwrap().results.is_empty());
    }

    #[test]
    fn one_upload_at_a_time_and_none_while_indexing() {
        let mut store = MemoryStore::new();
        let mut ws = Workspace::create(&mut store, "w1", "proj", "alice", NOW).unwrap();
        let files = incoming(&FILES);
        ws.begin_upload(&mut store, "u1", &files, NOW).unwrap();
        let busy = ws
            .begin_upload(&mut store, "u2", &files, NOW + 10)
            .unwrap_err();
        assert!(matches!(busy, WorkspaceError::Busy(_)), "{busy:?}");
        // A lease that ran out frees the workspace, and its upload can no longer commit.
        ws.begin_upload(&mut store, "u2", &files, NOW + UPLOAD_LEASE_MS + 1)
            .unwrap();
        let late = ws
            .commit_upload(
                &mut store,
                "u1",
                &files,
                Vec::new(),
                SkippedCounts::default(),
                NOW + UPLOAD_LEASE_MS + 2,
            )
            .unwrap_err();
        assert_eq!(late, WorkspaceError::UploadExpired);
        let plan = ws
            .begin_upload(&mut store, "u3", &files, NOW + 3 * UPLOAD_LEASE_MS)
            .unwrap();
        let (stored, _) = store_files(&plan, &FILES, "p");
        ws.commit_upload(
            &mut store,
            "u3",
            &files,
            stored,
            SkippedCounts::default(),
            NOW + 3 * UPLOAD_LEASE_MS,
        )
        .unwrap();
        assert_eq!(ws.status(), "indexing");
        let indexing = ws
            .begin_upload(&mut store, "u4", &files, NOW + 3 * UPLOAD_LEASE_MS)
            .unwrap_err();
        assert!(matches!(indexing, WorkspaceError::Busy(_)), "{indexing:?}");
    }

    #[test]
    fn batches_are_bounded_and_a_missing_pack_empties_the_queue() {
        let mut store = MemoryStore::new();
        let mut ws = Workspace::create(&mut store, "w1", "big", "alice", NOW).unwrap();
        let text = "x = 1\n".repeat(100_000); // 600 KB each
        let names: Vec<String> = (0..10).map(|i| format!("f{i}.py")).collect();
        let files: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), text.as_str())).collect();
        let incoming = incoming(&files);
        let plan = ws.begin_upload(&mut store, "u1", &incoming, NOW).unwrap();
        let (stored, _) = store_files(&plan, &files, "gone");
        ws.commit_upload(
            &mut store,
            "u1",
            &incoming,
            stored,
            SkippedCounts::default(),
            NOW,
        )
        .unwrap();
        let batch = ws.next_batch(SCAN_BATCH_BYTES);
        let batch_bytes: u64 = batch
            .iter()
            .flat_map(|r| &r.files)
            .map(|(_, b)| b.len)
            .sum();
        assert!(
            batch_bytes <= SCAN_BATCH_BYTES && batch_bytes > 0,
            "{batch_bytes}"
        );
        // The pack is gone from R2: files leave the queue without symbols.
        scan_all(&mut ws, &mut store, &BTreeMap::new());
        assert_eq!(
            (ws.status(), ws.info().files, ws.info().symbols),
            ("ready", 10, 0)
        );
    }

    #[test]
    fn uploads_and_single_files_past_the_workspace_caps_are_refused_and_change_nothing() {
        let mut store = MemoryStore::new();
        let mut ws = Workspace::create(&mut store, "w1", "p", "alice", NOW).unwrap();
        let half = MAX_WORKSPACE_BYTES / 2;
        let file = |path: &str, bytes: u64| Incoming {
            path: path.into(),
            hash: format!("h-{path}"),
            bytes,
        };
        let too_big = [file("a.py", half), file("b.py", half + 1)];
        let err = ws
            .begin_upload(&mut store, "u1", &too_big, NOW)
            .unwrap_err();
        assert_eq!(err.error_code(), ErrorCode::LimitExceeded, "{err}");
        assert!(err.to_string().contains("40 MiB"), "{err}");
        assert!(ws.meta.lease.is_none(), "a refused upload takes no lease");
        let fits = [file("a.py", half), file("b.py", half)];
        assert!(ws.begin_upload(&mut store, "u2", &fits, NOW).is_ok());
        let many: Vec<Incoming> = (0..=MAX_WORKSPACE_FILES)
            .map(|i| file(&format!("f{i}.py"), 1))
            .collect();
        let err = ws
            .begin_upload(&mut store, "u3", &many, NOW + UPLOAD_LEASE_MS)
            .unwrap_err();
        assert_eq!(err.error_code(), ErrorCode::LimitExceeded, "{err}");

        let blob = |len: u64| Blob {
            pack: "p".into(),
            offset: 0,
            len,
        };
        let mut ws = Workspace::create(&mut store, "w2", "p", "alice", NOW).unwrap();
        ws.put_file(&mut store, "a.py", "h1".into(), half, blob(half), NOW)
            .unwrap();
        ws.put_file(&mut store, "b.py", "h2".into(), half, blob(half), NOW)
            .unwrap();
        let err = ws
            .put_file(&mut store, "c.py", "h3".into(), 1, blob(1), NOW)
            .unwrap_err();
        assert_eq!(err.error_code(), ErrorCode::LimitExceeded, "{err}");
        assert!(ws.file("c.py").is_none());
        // Replacing a file counts its new size instead of its old one.
        ws.put_file(
            &mut store,
            "b.py",
            "h4".into(),
            half - 10,
            blob(half - 10),
            NOW,
        )
        .unwrap();
        ws.put_file(&mut store, "c.py", "h5".into(), 10, blob(10), NOW)
            .unwrap();
        assert_eq!(ws.info().bytes, MAX_WORKSPACE_BYTES);
    }

    #[test]
    fn a_file_replaced_while_its_pack_was_read_is_not_scanned_from_the_old_bytes() {
        let mut store = MemoryStore::new();
        let mut ws = Workspace::create(&mut store, "w1", "p", "alice", NOW).unwrap();
        let old = Blob {
            pack: "p1".into(),
            offset: 0,
            len: 10,
        };
        ws.put_file(&mut store, "a.py", "h1".into(), 10, old.clone(), NOW)
            .unwrap();
        let new = Blob {
            pack: "p2".into(),
            offset: 0,
            len: 12,
        };
        let dead = ws
            .put_file(&mut store, "a.py", "h2".into(), 12, new.clone(), NOW)
            .unwrap();
        assert_eq!(dead, vec!["p1".to_owned()]);
        ws.apply_scan(&mut store, "a.py", &old, Some(b"def old(): 1"))
            .unwrap();
        assert_eq!(ws.pending(), 1, "the stale read was ignored");
        ws.apply_scan(&mut store, "a.py", &new, Some(b"def new(): 1"))
            .unwrap();
        assert_eq!(ws.pending(), 0);
        let names: Vec<String> = ws
            .symbols(None, None, None, 10)
            .into_iter()
            .map(|s| s.name)
            .collect();
        assert_eq!(names, vec!["new".to_owned()]);
    }

    #[test]
    fn file_pages_follow_the_cursor() {
        let mut store = MemoryStore::new();
        let mut ws = Workspace::create(&mut store, "w1", "p", "alice", NOW).unwrap();
        for name in ["a/1.py", "a/2.py", "a/3.py", "b/1.py"] {
            let blob = Blob {
                pack: "p".into(),
                offset: 0,
                len: 0,
            };
            ws.put_file(&mut store, name, "h".into(), 0, blob, NOW)
                .unwrap();
        }
        let first = ws.list_files("a/", None, 2);
        assert_eq!(
            first
                .files
                .iter()
                .map(|f| f.path.as_str())
                .collect::<Vec<_>>(),
            ["a/1.py", "a/2.py"]
        );
        let second = ws.list_files("a/", first.next_cursor.as_deref(), 2);
        assert_eq!(
            second
                .files
                .iter()
                .map(|f| f.path.as_str())
                .collect::<Vec<_>>(),
            ["a/3.py"]
        );
        assert_eq!(second.next_cursor, None);
        assert_eq!(ws.list_files("", None, 10).files.len(), 4);
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(validate_name("  x ").unwrap(), "x");
        assert!(validate_name(" ").is_err());
        assert!(validate_name(&"é".repeat(MAX_NAME_CHARS + 1)).is_err());
        assert!(validate_name(&"é".repeat(MAX_NAME_CHARS)).is_ok());
    }
}
