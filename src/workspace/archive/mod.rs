//! Uploaded archives (`.tar`, `.tar.gz`, `.zip`) to the text files a workspace keeps.
//!
//! [`extract`] reads the body entry by entry under [`Caps`], refuses unsafe paths, leaves out
//! what the built-in set and the archive's `.gitignore` files exclude, and keeps text files only.
//! Decompression is streamed and budgeted, so a bomb fails after at most about one cap's worth
//! of output; entries over the per-file cap are never kept (and, in a zip, never inflated).
//!
//! Decisions a caller can see:
//! - **Links**: symbolic and hard links, devices and FIFOs are never followed or stored; they are
//!   counted in [`Skipped::links`]. Encrypted zip entries, other zip methods and exotic tar types
//!   (GNU sparse, …) are counted in [`Skipped::unsupported`]. The API's `skipped.ignored` is
//!   meant to include both.
//! - **Unsafe paths** (`..`, absolute, drive letters, NUL, over 1 KiB) refuse the whole upload;
//!   see [`path`] for how names are normalised (`\` is a separator; non-UTF-8 names are Latin-1).
//! - **Common top-level directory**: when every entry lies under one directory (GitHub's
//!   `repo-main/`), that directory is stripped, so paths read as they do in the repository.
//!   [`Extracted::stripped_prefix`] says what was stripped.
//! - **Duplicates**: when two entries have the same path, the later one in the archive wins; the
//!   earlier is dropped without being counted (as extracting the archive on disk would do).
//! - **`.gitignore` placement**: rules apply wherever they appear in the archive, before or after
//!   the files they govern (everything is collected first, filtered at the end). A `.gitignore`
//!   over the per-file cap is not read.
//! - **Text**: a file is binary when its first 8 KiB hold a NUL byte (unless it has a UTF-16
//!   BOM) or it is itself an archive; [`decode_text`] turns kept bytes into text (UTF-8, UTF-16
//!   with BOM, else Latin-1). [`ExtractedFile::bytes`] stays exactly what was uploaded.
//! - 0-byte files are kept.

mod crc32;
mod gzip;
pub mod ignore;
pub mod path;
mod tar;
mod text;
mod zip;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fmt;

pub use text::{decode_text, is_binary};

use ignore::{in_built_in_directory, IgnoreRules};

/// Limits on one upload. Config plumbing sets these from the environment; the defaults fit one
/// Workers request (128 MB isolate memory, ≤ 1 s CPU) with the CPython standard library (1,790
/// `.py` files, 34 MB, ~9 MB as tar.gz) inside them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caps {
    /// Largest body accepted (32 MiB): with the extracted files, the body must fit in isolate
    /// memory at once; 32 MiB of tar.gz is several times a large source tree.
    pub max_archive_bytes: u64,
    /// Most bytes decompressed or copied out of the archive in total (64 MiB): for tar and tar.gz
    /// the whole tar stream (skipped entries cost the same CPU to inflate), for zip the entries
    /// actually read. It bounds memory (the kept files) and CPU (inflating is ~0.3 s per 64 MiB
    /// in wasm), and stops a bomb after at most this much output.
    pub max_extracted_bytes: u64,
    /// Most files kept (20,000): the workspace object indexes every one; large monorepos aside,
    /// source trees are far smaller (CPython's stdlib is 1,790 `.py` files).
    pub max_files: u32,
    /// Most entries of any kind in the archive (100,000): bounds the work spent on names and
    /// ignore rules for entries that are never kept (a zip's directory can list ~700,000 empty
    /// entries in 32 MiB).
    pub max_entries: u32,
    /// Largest file kept (1 MiB): bigger files are generated, minified or data, not code to read;
    /// they are counted as too large, and in a zip never inflated.
    pub max_file_bytes: u64,
    /// Largest output-to-input ratio once past 1 MiB of output (200:1): source code deflates
    /// 3–10:1, a tar's headers and padding a little more; 1000:1 is only reached by bombs. Applied
    /// to a gzip stream as a whole and to each zip entry (with the default per-file cap no kept
    /// zip entry is big enough for it to matter).
    pub max_compression_ratio: u64,
    /// Most `.gitignore` patterns in one archive (2,000): every path is matched against the
    /// patterns of its ancestors' files, so this bounds the matching CPU.
    pub max_ignore_patterns: usize,
}

impl Default for Caps {
    fn default() -> Caps {
        Caps {
            max_archive_bytes: 32 << 20,
            max_extracted_bytes: 64 << 20,
            max_files: 20_000,
            max_entries: 100_000,
            max_file_bytes: 1 << 20,
            max_compression_ratio: 200,
            max_ignore_patterns: 2_000,
        }
    }
}

/// The container format of an upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArchiveFormat {
    Tar,
    TarGz,
    Zip,
}

impl ArchiveFormat {
    /// The format a request's `Content-Type` names (parameters and case ignored), if any.
    pub fn from_content_type(content_type: &str) -> Option<ArchiveFormat> {
        let media_type = content_type.split(';').next().unwrap_or_default().trim();
        let lower = media_type.to_ascii_lowercase();
        match lower.as_str() {
            "application/x-tar" | "application/tar" => Some(ArchiveFormat::Tar),
            "application/gzip"
            | "application/x-gzip"
            | "application/x-gtar"
            | "application/x-compressed-tar" => Some(ArchiveFormat::TarGz),
            "application/zip" | "application/x-zip-compressed" => Some(ArchiveFormat::Zip),
            _ => None,
        }
    }

    /// The format the body's magic numbers show, if any: gzip's `1F 8B`, zip's `PK` local header
    /// (or the end record of an empty zip), tar's `ustar` magic or, for pre-POSIX tars, a header
    /// whose checksum holds, or the all-zero blocks of an empty tar.
    pub fn sniff(bytes: &[u8]) -> Option<ArchiveFormat> {
        if bytes.starts_with(b"\x1F\x8B") {
            return Some(ArchiveFormat::TarGz);
        }
        if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06") {
            return Some(ArchiveFormat::Zip);
        }
        let header = bytes.get(..512)?;
        if header.get(257..262) == Some(b"ustar") || header.iter().all(|&byte| byte == 0) {
            return Some(ArchiveFormat::Tar);
        }
        let header: &[u8; 512] = header.try_into().ok()?;
        tar::verify_checksum(header)
            .ok()
            .map(|()| ArchiveFormat::Tar)
    }

    /// The name used in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            ArchiveFormat::Tar => "tar",
            ArchiveFormat::TarGz => "tar.gz",
            ArchiveFormat::Zip => "zip",
        }
    }
}

impl fmt::Display for ArchiveFormat {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// Why an upload was refused as a whole. Every variant is the client's doing (400, or 413 for the
/// size limits); none leaves a partial result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArchiveError {
    #[error("the archive is {bytes} bytes; the limit is {max}")]
    ArchiveTooLarge { bytes: u64, max: u64 },
    #[error("the body is a {found} archive, not the declared {declared}")]
    FormatMismatch {
        declared: ArchiveFormat,
        found: ArchiveFormat,
    },
    #[error("corrupt archive: {0}")]
    Corrupt(&'static str),
    #[error("the archive is truncated")]
    Truncated,
    #[error("unsafe path in the archive: {0:?}")]
    UnsafePath(String),
    #[error("the archive has more than {max} entries")]
    TooManyEntries { max: u32 },
    #[error("the archive has more than {max} files to keep")]
    TooManyFiles { max: u32 },
    #[error("the archive expands to more than {max} bytes")]
    ExtractedTooLarge { max: u64 },
    #[error("the archive is compressed more than {max}:1, as a decompression bomb is")]
    CompressionRatio { max: u64 },
    #[error("the archive's .gitignore files hold more than {max} patterns")]
    TooManyIgnorePatterns { max: usize },
}

impl crate::api::HasErrorCode for ArchiveError {
    fn error_code(&self) -> crate::api::ErrorCode {
        use crate::api::ErrorCode;
        match self {
            // The upload is well-formed but bigger than a workspace takes: 413.
            Self::ArchiveTooLarge { .. }
            | Self::TooManyEntries { .. }
            | Self::TooManyFiles { .. }
            | Self::ExtractedTooLarge { .. }
            | Self::CompressionRatio { .. }
            | Self::TooManyIgnorePatterns { .. } => ErrorCode::PayloadTooLarge,
            // The bytes are not what they claim, or name a path outside the workspace: 400.
            Self::FormatMismatch { .. } | Self::Corrupt(_) | Self::Truncated | Self::UnsafePath(_) => {
                ErrorCode::InvalidField
            }
        }
    }
}

/// One kept file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtractedFile {
    /// Normalised, relative, `/`-separated, unique within the upload.
    pub path: String,
    /// Exactly the uploaded bytes; [`decode_text`] gives the text.
    pub bytes: Vec<u8>,
}

/// Files in the archive that were not kept, by reason. Directories are not counted; nor are
/// earlier duplicates of a path.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Skipped {
    /// Excluded by the built-in directories or a `.gitignore`.
    pub ignored: u32,
    /// Binary, including nested archives.
    pub binary: u32,
    /// Over [`Caps::max_file_bytes`].
    pub too_large: u32,
    /// Symbolic and hard links, devices, FIFOs.
    pub links: u32,
    /// Encrypted zip entries, unsupported zip methods, unknown tar entry types.
    pub unsupported: u32,
}

/// What an upload holds for the workspace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extracted {
    /// The kept text files, sorted by path.
    pub files: Vec<ExtractedFile>,
    pub skipped: Skipped,
    /// The top-level directory removed from every path (`"repo-main"`), if one was.
    pub stripped_prefix: Option<String>,
}

/// One entry as read from an archive.
#[derive(Debug)]
struct Entry {
    /// Normalised, before the common prefix is stripped.
    path: String,
    payload: Payload,
}

/// Not generic over the deferred handle on purpose: one copy of the shared code in the worker.
#[derive(Debug)]
enum Payload {
    Bytes(Vec<u8>),
    /// A zip entry not read yet: its index in the zip reader's list.
    Deferred(usize),
    Directory,
    Link,
    Unsupported,
    TooLarge,
    /// Under a built-in directory below the top level, so ignored whatever prefix is stripped;
    /// its bytes were not kept.
    BuiltInIgnored,
}

/// Whether a directory of `path` other than its first component is built-in ignored: those
/// entries are ignored whether or not the first component turns out to be a stripped prefix.
fn outside_first_component_is_built_in(path: &str) -> bool {
    match path.split_once('/') {
        Some((_, rest)) => in_built_in_directory(rest),
        None => false,
    }
}

/// The text files of the archive in `bytes`, declared to be `format`. See the module doc.
pub fn extract(
    bytes: &[u8],
    format: ArchiveFormat,
    caps: &Caps,
) -> Result<Extracted, ArchiveError> {
    let length = bytes.len() as u64;
    if length > caps.max_archive_bytes {
        return Err(ArchiveError::ArchiveTooLarge {
            bytes: length,
            max: caps.max_archive_bytes,
        });
    }
    if bytes.is_empty() {
        return Err(ArchiveError::Corrupt("empty body"));
    }
    if let Some(found) = ArchiveFormat::sniff(bytes) {
        if found != format {
            return Err(ArchiveError::FormatMismatch {
                declared: format,
                found,
            });
        }
    }
    match format {
        ArchiveFormat::Tar => {
            let mut entries = Vec::new();
            tar::read_entries(&mut tar::SliceSource::new(bytes), caps, &mut entries)?;
            finish(entries, caps, &mut |_| {
                Err(ArchiveError::Corrupt("no deferred tar entries"))
            })
        }
        ArchiveFormat::TarGz => {
            let mut entries = Vec::new();
            let mut stream =
                gzip::GzipReader::new(bytes, caps.max_extracted_bytes, caps.max_compression_ratio);
            tar::read_entries(&mut stream, caps, &mut entries)?;
            // Read on past the tar's end-of-archive blocks so the last member's CRC-32 and length
            // are checked and trailing garbage is refused (within the same output budget).
            let mut rest = [0u8; 16 * 1024];
            while stream.read(&mut rest)? > 0 {}
            finish(entries, caps, &mut |_| {
                Err(ArchiveError::Corrupt("no deferred tar entries"))
            })
        }
        ArchiveFormat::Zip => {
            let mut entries = Vec::new();
            let zip_entries = zip::read_entries(bytes, caps, &mut entries)?;
            let mut read_so_far: u64 = 0;
            finish(entries, caps, &mut |index| {
                let entry = zip_entries
                    .get(index)
                    .ok_or(ArchiveError::Corrupt("no such zip entry"))?;
                // Checked before inflating: overlapping entries (several directory records
                // pointing at one bomb) cannot multiply the work past the cap.
                read_so_far = read_so_far.saturating_add(entry.uncompressed_size());
                if read_so_far > caps.max_extracted_bytes {
                    return Err(ArchiveError::ExtractedTooLarge {
                        max: caps.max_extracted_bytes,
                    });
                }
                zip::read_entry(bytes, entry)
            })
        }
    }
}

/// The common top-level directory of all entries, when there is one to strip: every entry but the
/// directory itself lies inside it.
fn common_prefix(entries: &[Entry]) -> Option<String> {
    let mut prefix: Option<&str> = None;
    let mut any_inside = false;
    for entry in entries {
        if entry.path.is_empty() {
            continue;
        }
        let (first, inside) = match entry.path.split_once('/') {
            Some((first, _)) => (first, true),
            None => (entry.path.as_str(), false),
        };
        if !inside && !matches!(entry.payload, Payload::Directory) {
            return None;
        }
        any_inside |= inside;
        match prefix {
            None => prefix = Some(first),
            Some(known) if known == first => {}
            Some(_) => return None,
        }
    }
    prefix.filter(|_| any_inside).map(str::to_owned)
}

/// Strips the common prefix, drops earlier duplicates, applies the ignore rules and the text test,
/// and sorts: the part shared by every format. `load` reads a deferred entry.
fn finish(
    mut entries: Vec<Entry>,
    caps: &Caps,
    load: &mut dyn FnMut(usize) -> Result<Vec<u8>, ArchiveError>,
) -> Result<Extracted, ArchiveError> {
    let stripped_prefix = common_prefix(&entries);
    if let Some(prefix) = &stripped_prefix {
        let cut = prefix.len() + 1;
        for entry in &mut entries {
            entry.path = entry.path.get(cut..).unwrap_or_default().to_owned();
        }
    }
    // Later entries win: remember the last index of each file path.
    let mut last_index: HashMap<&str, usize> = HashMap::with_capacity(entries.len());
    for (index, entry) in entries.iter().enumerate() {
        if !matches!(entry.payload, Payload::Directory) && !entry.path.is_empty() {
            last_index.insert(entry.path.as_str(), index);
        }
    }
    let live: Vec<usize> = {
        let mut live: Vec<usize> = last_index.into_values().collect();
        live.sort_unstable();
        live
    };

    let mut rules = IgnoreRules::new();
    for &index in &live {
        let entry = &mut entries[index];
        let directory = match entry.path.rsplit_once('/') {
            Some((directory, ".gitignore")) => directory.to_owned(),
            None if entry.path == ".gitignore" => String::new(),
            _ => continue,
        };
        if in_built_in_directory(&entry.path) {
            continue;
        }
        if let Payload::Deferred(handle) = entry.payload {
            entry.payload = Payload::Bytes(load(handle)?);
        }
        let Payload::Bytes(bytes) = &entry.payload else {
            continue;
        };
        rules.add(&directory, &decode_text(bytes));
        if rules.pattern_count() > caps.max_ignore_patterns {
            return Err(ArchiveError::TooManyIgnorePatterns {
                max: caps.max_ignore_patterns,
            });
        }
    }

    let mut extracted = Extracted {
        stripped_prefix,
        ..Extracted::default()
    };
    let skipped = &mut extracted.skipped;
    for index in live {
        let entry = &mut entries[index];
        let payload = std::mem::replace(&mut entry.payload, Payload::Directory);
        let ignored = matches!(payload, Payload::BuiltInIgnored)
            || in_built_in_directory(&entry.path)
            || rules.is_ignored(&entry.path, false);
        let bytes = match payload {
            _ if ignored => {
                skipped.ignored += 1;
                continue;
            }
            Payload::Directory | Payload::BuiltInIgnored => continue,
            Payload::TooLarge => {
                skipped.too_large += 1;
                continue;
            }
            Payload::Link => {
                skipped.links += 1;
                continue;
            }
            Payload::Unsupported => {
                skipped.unsupported += 1;
                continue;
            }
            Payload::Bytes(bytes) => bytes,
            Payload::Deferred(handle) => load(handle)?,
        };
        if is_binary(&entry.path, &bytes) {
            skipped.binary += 1;
            continue;
        }
        if extracted.files.len() >= caps.max_files as usize {
            return Err(ArchiveError::TooManyFiles {
                max: caps.max_files,
            });
        }
        extracted.files.push(ExtractedFile {
            path: std::mem::take(&mut entry.path),
            bytes,
        });
    }
    extracted.files.sort_unstable_by(|a, b| a.path.cmp(&b.path));
    Ok(extracted)
}
