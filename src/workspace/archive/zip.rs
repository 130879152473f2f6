//! A zip reader driven by the central directory (the authoritative list: local headers may carry
//! zero sizes when a data descriptor follows, and a stream-scan can be fooled by prepended data).
//!
//! Stored and deflate entries are read; zip64 sizes, offsets and counts are understood; encrypted
//! entries and other methods are recorded as unsupported. Nothing is inflated while the directory
//! is read: sizes come from the directory, so an entry over the per-file cap is skipped without a
//! byte of inflation, and an entry whose stream would inflate past its declared size fails once it
//! reaches that size. Each entry's local header must agree with the directory on name and method,
//! and its CRC-32 must match.

use miniz_oxide::inflate::decompress_slice_iter_to_slice;
use miniz_oxide::inflate::TINFLStatus;

use super::crc32::crc32;
use super::path::{name_from_bytes, normalise};
use super::{outside_first_component_is_built_in, ArchiveError, Caps, Entry, Payload};

const END_OF_DIRECTORY: u32 = 0x0605_4B50;
const ZIP64_LOCATOR: u32 = 0x0706_4B50;
const ZIP64_END_OF_DIRECTORY: u32 = 0x0606_4B50;
const DIRECTORY_ENTRY: u32 = 0x0201_4B50;
const LOCAL_HEADER: u32 = 0x0403_4B50;

const METHOD_STORED: u16 = 0;
const METHOD_DEFLATE: u16 = 8;
const FLAG_ENCRYPTED: u16 = 0x0001;
const HOST_UNIX: u16 = 3;
const UNIX_TYPE_MASK: u32 = 0o170_000;
const UNIX_REGULAR: u32 = 0o100_000;
const UNIX_DIRECTORY: u32 = 0o040_000;
/// Entries under this size are never judged by their compression ratio.
const RATIO_GRACE_BYTES: u64 = 1 << 20;

/// Where one entry's data is and what it must inflate to.
#[derive(Debug, Clone)]
pub struct ZipEntry {
    raw_name: Vec<u8>,
    method: u16,
    crc32: u32,
    compressed_size: u64,
    uncompressed_size: u64,
    local_header_offset: u64,
}

impl ZipEntry {
    pub fn uncompressed_size(&self) -> u64 {
        self.uncompressed_size
    }
}

fn u16_at(bytes: &[u8], at: usize) -> Result<u16, ArchiveError> {
    bytes
        .get(at..at + 2)
        .map(|b| u16::from_le_bytes([b[0], b[1]]))
        .ok_or(ArchiveError::Truncated)
}

fn u32_at(bytes: &[u8], at: usize) -> Result<u32, ArchiveError> {
    bytes
        .get(at..at + 4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or(ArchiveError::Truncated)
}

fn u64_at(bytes: &[u8], at: usize) -> Result<u64, ArchiveError> {
    Ok(u64::from(u32_at(bytes, at)?) | (u64::from(u32_at(bytes, at + 4)?) << 32))
}

fn to_index(value: u64) -> Result<usize, ArchiveError> {
    usize::try_from(value).map_err(|_| ArchiveError::Corrupt("zip offset out of range"))
}

struct Directory {
    offset: usize,
    size: usize,
    count: u64,
}

/// Finds the end-of-central-directory record (searching back over a comment of up to 64 KiB) and,
/// through the zip64 locator when there is one, the central directory.
fn find_directory(bytes: &[u8]) -> Result<Directory, ArchiveError> {
    let not_zip = ArchiveError::Corrupt("no zip end-of-central-directory record");
    let last = bytes.len().checked_sub(22).ok_or(not_zip.clone())?;
    let earliest = last.saturating_sub(0xFFFF);
    let end = (earliest..=last)
        .rev()
        .find(|&at| {
            u32_at(bytes, at).ok() == Some(END_OF_DIRECTORY)
                && u16_at(bytes, at + 20)
                    .is_ok_and(|comment| at + 22 + usize::from(comment) <= bytes.len())
        })
        .ok_or(not_zip)?;
    let disk = u16_at(bytes, end + 4)?;
    let directory_disk = u16_at(bytes, end + 6)?;
    let mut directory = Directory {
        count: u64::from(u16_at(bytes, end + 10)?),
        size: to_index(u64::from(u32_at(bytes, end + 12)?))?,
        offset: to_index(u64::from(u32_at(bytes, end + 16)?))?,
    };
    let locator = end.checked_sub(20);
    if let Some(locator) = locator.filter(|&at| u32_at(bytes, at).ok() == Some(ZIP64_LOCATOR)) {
        let record = to_index(u64_at(bytes, locator + 8)?)?;
        if u32_at(bytes, record)? != ZIP64_END_OF_DIRECTORY {
            return Err(ArchiveError::Corrupt(
                "bad zip64 end-of-central-directory record",
            ));
        }
        directory.count = u64_at(bytes, record + 32)?;
        directory.size = to_index(u64_at(bytes, record + 40)?)?;
        directory.offset = to_index(u64_at(bytes, record + 48)?)?;
    } else if disk != 0 || directory_disk != 0 {
        return Err(ArchiveError::Corrupt(
            "multi-disk zip archives are not supported",
        ));
    }
    let directory_end = directory
        .offset
        .checked_add(directory.size)
        .ok_or(ArchiveError::Corrupt("zip central directory out of range"))?;
    if directory_end > end {
        return Err(ArchiveError::Corrupt("zip central directory out of range"));
    }
    Ok(directory)
}

/// Reads the central directory into `entries`, in directory order; no entry data is touched.
/// Entries to read later are [`Payload::Deferred`] with their index in the returned list.
pub fn read_entries(
    bytes: &[u8],
    caps: &Caps,
    entries: &mut Vec<Entry>,
) -> Result<Vec<ZipEntry>, ArchiveError> {
    let mut deferred = Vec::new();
    let directory = find_directory(bytes)?;
    if directory.count > u64::from(caps.max_entries) {
        return Err(ArchiveError::TooManyEntries {
            max: caps.max_entries,
        });
    }
    let listing = bytes
        .get(directory.offset..directory.offset + directory.size)
        .ok_or(ArchiveError::Truncated)?;
    let mut at = 0;
    for _ in 0..directory.count {
        if u32_at(listing, at)? != DIRECTORY_ENTRY {
            return Err(ArchiveError::Corrupt("bad zip central directory entry"));
        }
        let made_by = u16_at(listing, at + 4)?;
        let flags = u16_at(listing, at + 8)?;
        let method = u16_at(listing, at + 10)?;
        let crc32 = u32_at(listing, at + 16)?;
        let mut compressed_size = u64::from(u32_at(listing, at + 20)?);
        let mut uncompressed_size = u64::from(u32_at(listing, at + 24)?);
        let name_length = usize::from(u16_at(listing, at + 28)?);
        let extra_length = usize::from(u16_at(listing, at + 30)?);
        let comment_length = usize::from(u16_at(listing, at + 32)?);
        let external_attributes = u32_at(listing, at + 38)?;
        let mut local_header_offset = u64::from(u32_at(listing, at + 42)?);
        let name_start = at + 46;
        let raw_name = listing
            .get(name_start..name_start + name_length)
            .ok_or(ArchiveError::Truncated)?;
        let extra = listing
            .get(name_start + name_length..name_start + name_length + extra_length)
            .ok_or(ArchiveError::Truncated)?;
        read_zip64_extra(
            extra,
            &mut uncompressed_size,
            &mut compressed_size,
            &mut local_header_offset,
        )?;
        at = name_start + name_length + extra_length + comment_length;

        let name = name_from_bytes(raw_name);
        let path = normalise(&name)?;
        let unix_type = if made_by >> 8 == HOST_UNIX {
            (external_attributes >> 16) & UNIX_TYPE_MASK
        } else {
            0
        };
        let payload = if name.ends_with(['/', '\\']) || unix_type == UNIX_DIRECTORY {
            Payload::Directory
        } else if path.is_empty() {
            return Err(ArchiveError::UnsafePath(name));
        } else if unix_type != 0 && unix_type != UNIX_REGULAR {
            Payload::Link
        } else if flags & FLAG_ENCRYPTED != 0
            || (method != METHOD_STORED && method != METHOD_DEFLATE)
        {
            Payload::Unsupported
        } else if uncompressed_size > caps.max_file_bytes {
            Payload::TooLarge
        } else if uncompressed_size > RATIO_GRACE_BYTES
            && uncompressed_size / compressed_size.max(1) > caps.max_compression_ratio
        {
            return Err(ArchiveError::CompressionRatio {
                max: caps.max_compression_ratio,
            });
        } else if outside_first_component_is_built_in(&path) {
            Payload::BuiltInIgnored
        } else {
            deferred.push(ZipEntry {
                raw_name: raw_name.to_vec(),
                method,
                crc32,
                compressed_size,
                uncompressed_size,
                local_header_offset,
            });
            Payload::Deferred(deferred.len() - 1)
        };
        entries.push(Entry { path, payload });
    }
    Ok(deferred)
}

/// Replaces the 32-bit fields saturated at `0xFFFFFFFF` with their zip64 values, which appear in
/// this order and only for the saturated fields.
fn read_zip64_extra(
    mut extra: &[u8],
    uncompressed_size: &mut u64,
    compressed_size: &mut u64,
    local_header_offset: &mut u64,
) -> Result<(), ArchiveError> {
    while extra.len() >= 4 {
        let tag = u16_at(extra, 0)?;
        let length = usize::from(u16_at(extra, 2)?);
        let data = extra
            .get(4..4 + length)
            .ok_or(ArchiveError::Corrupt("bad zip extra field"))?;
        if tag == 0x0001 {
            let mut at = 0;
            for field in [uncompressed_size, compressed_size, local_header_offset] {
                if *field == u64::from(u32::MAX) {
                    *field = u64_at(data, at)
                        .map_err(|_| ArchiveError::Corrupt("short zip64 extra field"))?;
                    at += 8;
                }
            }
            return Ok(());
        }
        extra = &extra[4 + length..];
    }
    Ok(())
}

/// The content of `entry`, checked against its declared size and CRC-32.
pub fn read_entry(bytes: &[u8], entry: &ZipEntry) -> Result<Vec<u8>, ArchiveError> {
    let offset = to_index(entry.local_header_offset)?;
    if u32_at(bytes, offset)? != LOCAL_HEADER {
        return Err(ArchiveError::Corrupt("bad zip local header"));
    }
    let method = u16_at(bytes, offset + 8)?;
    let name_length = usize::from(u16_at(bytes, offset + 26)?);
    let extra_length = usize::from(u16_at(bytes, offset + 28)?);
    let name = bytes
        .get(offset + 30..offset + 30 + name_length)
        .ok_or(ArchiveError::Truncated)?;
    if method != entry.method || name != entry.raw_name.as_slice() {
        return Err(ArchiveError::Corrupt(
            "zip local header disagrees with the central directory",
        ));
    }
    let data_start = offset + 30 + name_length + extra_length;
    let data_end = to_index(entry.compressed_size)?
        .checked_add(data_start)
        .ok_or(ArchiveError::Truncated)?;
    let data = bytes
        .get(data_start..data_end)
        .ok_or(ArchiveError::Truncated)?;
    let size = to_index(entry.uncompressed_size)?;
    let content = if entry.method == METHOD_STORED {
        if data.len() != size {
            return Err(ArchiveError::Corrupt("stored zip entry sizes disagree"));
        }
        data.to_vec()
    } else {
        let mut content = vec![0u8; size];
        match decompress_slice_iter_to_slice(&mut content, std::iter::once(data), false, true) {
            Ok(written) if written == size => content,
            Ok(_) => return Err(ArchiveError::Corrupt("zip entry shorter than declared")),
            Err(TINFLStatus::HasMoreOutput) => {
                return Err(ArchiveError::Corrupt("zip entry longer than declared"))
            }
            Err(_) => return Err(ArchiveError::Corrupt("invalid deflate data in zip entry")),
        }
    };
    if crc32(&content) != entry.crc32 {
        return Err(ArchiveError::Corrupt("zip CRC-32 mismatch"));
    }
    Ok(content)
}
