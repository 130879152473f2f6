//! A tar reader: ustar, GNU (`L` long names, `K` long link names, base-256 sizes) and pax
//! (`x` headers' `path` and `size`; `g` global headers skipped), checksums verified.
//!
//! Regular files are read (or skipped without being kept when over the per-file cap or under a
//! built-in ignored directory); directories only record their name; symbolic and hard links,
//! devices and FIFOs are recorded as links and never followed; other types (GNU sparse, …) as
//! unsupported. A short read anywhere but on a header boundary is [`ArchiveError::Truncated`];
//! the end-of-archive zero block, or the end of the input on a header boundary, ends the archive.

use super::gzip::GzipReader;
use super::path::{name_from_bytes, normalise};
use super::{outside_first_component_is_built_in, ArchiveError, Caps, Entry, Payload};

const BLOCK: usize = 512;
/// The largest GNU long-name or pax header read: far above any legitimate one (paths are capped at
/// 1 KiB), small enough that a hostile size cannot make us allocate.
const MAX_META_BYTES: u64 = 64 * 1024;

/// Where tar blocks come from: the body itself, or a gzip stream inflated on demand.
pub trait Source {
    /// Fills `buffer` as far as the input goes.
    fn read_full(&mut self, buffer: &mut [u8]) -> Result<usize, ArchiveError>;

    /// Passes over `count` bytes, which must be there.
    fn skip(&mut self, mut count: u64) -> Result<(), ArchiveError> {
        let mut scratch = [0u8; 16 * 1024];
        while count > 0 {
            let want = count.min(scratch.len() as u64) as usize;
            let read = self.read_full(&mut scratch[..want])?;
            if read < want {
                return Err(ArchiveError::Truncated);
            }
            count -= want as u64;
        }
        Ok(())
    }
}

pub struct SliceSource<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl<'a> SliceSource<'a> {
    pub fn new(bytes: &'a [u8]) -> SliceSource<'a> {
        SliceSource { bytes, position: 0 }
    }
}

impl Source for SliceSource<'_> {
    fn read_full(&mut self, buffer: &mut [u8]) -> Result<usize, ArchiveError> {
        let rest = self.bytes.get(self.position..).unwrap_or_default();
        let count = rest.len().min(buffer.len());
        buffer[..count].copy_from_slice(&rest[..count]);
        self.position += count;
        Ok(count)
    }

    fn skip(&mut self, count: u64) -> Result<(), ArchiveError> {
        let rest = (self.bytes.len() - self.position.min(self.bytes.len())) as u64;
        if count > rest {
            return Err(ArchiveError::Truncated);
        }
        self.position += count as usize;
        Ok(())
    }
}

impl Source for GzipReader<'_> {
    fn read_full(&mut self, buffer: &mut [u8]) -> Result<usize, ArchiveError> {
        GzipReader::read_full(self, buffer)
    }
}

/// Reads every entry of the tar stream in `source` into `entries`, in archive order. `dyn`: one
/// copy of the reader serves both sources.
pub fn read_entries(
    source: &mut dyn Source,
    caps: &Caps,
    entries: &mut Vec<Entry>,
) -> Result<(), ArchiveError> {
    let mut long_name: Option<Vec<u8>> = None;
    let mut pax_path: Option<Vec<u8>> = None;
    let mut pax_size: Option<u64> = None;
    loop {
        let mut header = [0u8; BLOCK];
        let read = source.read_full(&mut header)?;
        if read == 0 {
            return Ok(());
        }
        if read < BLOCK {
            return Err(ArchiveError::Truncated);
        }
        if header.iter().all(|&byte| byte == 0) {
            return Ok(());
        }
        verify_checksum(&header)?;
        let header_size = parse_number(&header[124..136])?;
        let type_flag = header[156];
        match type_flag {
            b'L' => {
                long_name = Some(trim_nul(&read_meta(source, header_size)?).to_vec());
                continue;
            }
            b'x' => {
                let records = read_meta(source, header_size)?;
                parse_pax(&records, &mut pax_path, &mut pax_size)?;
                continue;
            }
            // Global pax headers (git archive's commit id), long link names and volume labels
            // say nothing about the files we keep.
            b'g' | b'K' | b'V' => {
                source.skip(padded(header_size)?)?;
                continue;
            }
            _ => {}
        }
        let size = pax_size.take().unwrap_or(header_size);
        let raw_name = match (pax_path.take(), long_name.take()) {
            (Some(path), _) | (None, Some(path)) => path,
            (None, None) => header_name(&header),
        };
        if entries.len() >= caps.max_entries as usize {
            return Err(ArchiveError::TooManyEntries {
                max: caps.max_entries,
            });
        }
        let name = name_from_bytes(&raw_name);
        let path = normalise(&name)?;
        // Pre-POSIX archives mark directories only by the trailing slash.
        let is_directory =
            type_flag == b'5' || (matches!(type_flag, 0 | b'0') && name.ends_with('/'));
        let payload = if is_directory {
            source.skip(padded(size)?)?;
            Payload::Directory
        } else if path.is_empty() {
            return Err(ArchiveError::UnsafePath(name));
        } else {
            match type_flag {
                b'0' | 0 | b'7' => read_file(source, caps, &path, size)?,
                b'1' | b'2' | b'3' | b'4' | b'6' => {
                    source.skip(padded(size)?)?;
                    Payload::Link
                }
                _ => {
                    source.skip(padded(size)?)?;
                    Payload::Unsupported
                }
            }
        };
        entries.push(Entry { path, payload });
    }
}

fn read_file(
    source: &mut dyn Source,
    caps: &Caps,
    path: &str,
    size: u64,
) -> Result<Payload, ArchiveError> {
    if size > caps.max_file_bytes {
        source.skip(padded(size)?)?;
        return Ok(Payload::TooLarge);
    }
    if outside_first_component_is_built_in(path) {
        source.skip(padded(size)?)?;
        return Ok(Payload::BuiltInIgnored);
    }
    // `size` is at most the per-file cap here, so allocating it up front is bounded.
    let mut bytes = vec![0u8; size as usize];
    if source.read_full(&mut bytes)? < bytes.len() {
        return Err(ArchiveError::Truncated);
    }
    source.skip(padded(size)? - size)?;
    Ok(Payload::Bytes(bytes))
}

fn read_meta(source: &mut dyn Source, size: u64) -> Result<Vec<u8>, ArchiveError> {
    if size > MAX_META_BYTES {
        return Err(ArchiveError::Corrupt("oversized tar metadata header"));
    }
    let mut bytes = vec![0u8; size as usize];
    if source.read_full(&mut bytes)? < bytes.len() {
        return Err(ArchiveError::Truncated);
    }
    source.skip(padded(size)? - size)?;
    Ok(bytes)
}

/// `size` rounded up to whole blocks.
fn padded(size: u64) -> Result<u64, ArchiveError> {
    size.checked_next_multiple_of(BLOCK as u64)
        .ok_or(ArchiveError::Corrupt("tar entry size overflows"))
}

fn trim_nul(bytes: &[u8]) -> &[u8] {
    let end = bytes
        .iter()
        .position(|&byte| byte == 0)
        .unwrap_or(bytes.len());
    &bytes[..end]
}

/// The name field, joined to the ustar prefix field when the header is POSIX ustar (GNU headers
/// use those bytes for other things).
fn header_name(header: &[u8; BLOCK]) -> Vec<u8> {
    let name = trim_nul(&header[0..100]);
    let prefix = trim_nul(&header[345..500]);
    if &header[257..263] == b"ustar\0" && !prefix.is_empty() {
        let mut joined = prefix.to_vec();
        joined.push(b'/');
        joined.extend_from_slice(name);
        joined
    } else {
        name.to_vec()
    }
}

pub fn verify_checksum(header: &[u8; BLOCK]) -> Result<(), ArchiveError> {
    let stored = parse_number(&header[148..156])?;
    let mut unsigned: u64 = 0;
    let mut signed: i64 = 0;
    for (index, &byte) in header.iter().enumerate() {
        let byte = if (148..156).contains(&index) {
            b' '
        } else {
            byte
        };
        unsigned += u64::from(byte);
        signed += i64::from(byte as i8);
    }
    // Some old writers summed signed chars; both are accepted, as GNU tar does.
    if stored == unsigned || i64::try_from(stored).ok() == Some(signed) {
        Ok(())
    } else {
        Err(ArchiveError::Corrupt("tar header checksum mismatch"))
    }
}

/// An octal field (spaces or NULs around the digits), or GNU base-256 when the top bit is set.
fn parse_number(field: &[u8]) -> Result<u64, ArchiveError> {
    let Some((&first, rest)) = field.split_first() else {
        return Ok(0);
    };
    if first & 0x80 != 0 {
        if first == 0xFF {
            return Err(ArchiveError::Corrupt("negative tar number"));
        }
        let mut value = u64::from(first & 0x7F);
        for &byte in rest {
            value = value
                .checked_mul(256)
                .map(|shifted| shifted | u64::from(byte))
                .ok_or(ArchiveError::Corrupt("tar number overflows"))?;
        }
        return Ok(value);
    }
    let mut value: u64 = 0;
    let mut digits = field.iter().skip_while(|&&byte| byte == b' ').peekable();
    while let Some(&byte) = digits.peek() {
        match byte {
            b'0'..=b'7' => {
                value = value
                    .checked_mul(8)
                    .map(|shifted| shifted + u64::from(byte - b'0'))
                    .ok_or(ArchiveError::Corrupt("tar number overflows"))?;
                digits.next();
            }
            0 | b' ' => break,
            _ => return Err(ArchiveError::Corrupt("invalid octal number in tar header")),
        }
    }
    Ok(value)
}

/// Reads `length key=value\n` records, keeping `path` and `size`.
fn parse_pax(
    mut records: &[u8],
    path: &mut Option<Vec<u8>>,
    size: &mut Option<u64>,
) -> Result<(), ArchiveError> {
    let malformed = ArchiveError::Corrupt("malformed pax header");
    while !records.is_empty() {
        if records.iter().all(|&byte| byte == 0) {
            break;
        }
        let space = records
            .iter()
            .position(|&byte| byte == b' ')
            .ok_or(malformed.clone())?;
        let length: usize = std::str::from_utf8(&records[..space])
            .ok()
            .and_then(|digits| digits.parse().ok())
            .ok_or(malformed.clone())?;
        let record = records.get(..length).ok_or(malformed.clone())?;
        let body = record
            .get(space + 1..)
            .and_then(|body| body.strip_suffix(b"\n"))
            .ok_or(malformed.clone())?;
        let equals = body
            .iter()
            .position(|&byte| byte == b'=')
            .ok_or(malformed.clone())?;
        let (key, value) = (&body[..equals], &body[equals + 1..]);
        match key {
            b"path" => *path = Some(value.to_vec()),
            b"size" => {
                let parsed = std::str::from_utf8(value)
                    .ok()
                    .and_then(|digits| digits.parse().ok())
                    .ok_or(malformed.clone())?;
                *size = Some(parsed);
            }
            _ => {}
        }
        records = &records[length..];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_in_octal_and_base_256() {
        assert_eq!(parse_number(b"0000644\0").unwrap(), 0o644);
        assert_eq!(parse_number(b"   755 \0").unwrap(), 0o755);
        assert_eq!(parse_number(b"\0\0\0\0").unwrap(), 0);
        let mut big = [0u8; 12];
        big[0] = 0x80;
        big[7] = 1;
        assert_eq!(parse_number(&big).unwrap(), 1 << 32);
        assert!(parse_number(b"12x4").is_err());
        assert!(parse_number(&[0xFF; 12]).is_err());
        assert!(parse_number(&[0x81, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]).is_err());
    }

    #[test]
    fn pax_records() {
        let mut path = None;
        let mut size = None;
        parse_pax(
            b"30 mtime=1700000000.123456789\n14 path=a/b.c\n12 size=999\n",
            &mut path,
            &mut size,
        )
        .unwrap();
        assert_eq!(path.as_deref(), Some(&b"a/b.c"[..]));
        assert_eq!(size, Some(999));
        assert!(parse_pax(b"99 path=x\n", &mut path, &mut size).is_err());
        assert!(parse_pax(b"garbage", &mut path, &mut size).is_err());
    }
}
