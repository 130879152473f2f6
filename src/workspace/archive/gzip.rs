//! A streaming gzip reader (RFC 1952) over an in-memory body: inflates on demand, member after
//! member, with each member's CRC-32 and length checked, and refuses to inflate past a budget.
//!
//! The inflater is `miniz_oxide`'s (pure Rust, no `std` I/O, already in the tree through
//! `flate2`); the gzip framing around it is a few dozen lines, so `flate2` itself is not needed.
//! Output is pulled in small pieces by the tar reader, so a bomb fails once the budget is spent —
//! after at most `max_output` bytes of inflation, never after inflating everything.

use miniz_oxide::inflate::stream::{inflate, InflateState};
use miniz_oxide::{DataFormat, MZError, MZFlush, MZStatus};

use super::crc32::Crc32;
use super::ArchiveError;

const FLAG_HEADER_CRC: u8 = 0x02;
const FLAG_EXTRA: u8 = 0x04;
const FLAG_NAME: u8 = 0x08;
const FLAG_COMMENT: u8 = 0x10;
const FLAG_RESERVED: u8 = 0xE0;

/// Below this much output the ratio check is not applied: small files compress well legitimately.
const RATIO_GRACE_BYTES: u64 = 1 << 20;

pub struct GzipReader<'a> {
    input: &'a [u8],
    position: usize,
    state: Box<InflateState>,
    in_member: bool,
    member_crc: Crc32,
    member_length: u32,
    total_output: u64,
    max_output: u64,
    max_ratio: u64,
}

impl<'a> GzipReader<'a> {
    /// A reader that fails with [`ArchiveError::ExtractedTooLarge`] past `max_output` bytes of
    /// output, and with [`ArchiveError::CompressionRatio`] when, past 1 MiB of output, the output
    /// is more than `max_ratio` times the input consumed.
    pub fn new(input: &'a [u8], max_output: u64, max_ratio: u64) -> GzipReader<'a> {
        GzipReader {
            input,
            position: 0,
            state: InflateState::new_boxed(DataFormat::Raw),
            in_member: false,
            member_crc: Crc32::new(),
            member_length: 0,
            total_output: 0,
            max_output,
            max_ratio,
        }
    }

    /// How many bytes have been inflated so far.
    #[cfg(test)]
    pub fn total_output(&self) -> u64 {
        self.total_output
    }

    /// Fills `buffer` as far as the stream goes; fewer bytes than asked only at the end.
    pub fn read_full(&mut self, buffer: &mut [u8]) -> Result<usize, ArchiveError> {
        let mut filled = 0;
        while filled < buffer.len() {
            let read = self.read(&mut buffer[filled..])?;
            if read == 0 {
                break;
            }
            filled += read;
        }
        Ok(filled)
    }

    /// Some bytes of output, `Ok(0)` at the end of the last member.
    pub fn read(&mut self, buffer: &mut [u8]) -> Result<usize, ArchiveError> {
        if buffer.is_empty() {
            return Ok(0);
        }
        loop {
            if !self.in_member {
                let rest = self.input.get(self.position..).unwrap_or_default();
                // Zero padding after the last member (tape-style blocking) is tolerated, like gzip.
                if rest.iter().all(|&byte| byte == 0) {
                    return Ok(0);
                }
                self.start_member()?;
            }
            let input = self.input.get(self.position..).unwrap_or_default();
            let result = inflate(&mut self.state, input, buffer, MZFlush::None);
            self.position += result.bytes_consumed;
            let written = result.bytes_written;
            if let Some(output) = buffer.get(..written) {
                self.member_crc.update(output);
            }
            self.member_length = self.member_length.wrapping_add(written as u32);
            self.total_output += written as u64;
            self.check_budget()?;
            match result.status {
                Ok(MZStatus::StreamEnd) => {
                    self.finish_member()?;
                    if written > 0 {
                        return Ok(written);
                    }
                }
                Ok(_) if written > 0 => return Ok(written),
                Ok(_) if result.bytes_consumed > 0 => {}
                Ok(_) | Err(MZError::Buf) if self.position >= self.input.len() => {
                    return Err(ArchiveError::Truncated)
                }
                Ok(_) | Err(_) => return Err(ArchiveError::Corrupt("invalid deflate data")),
            }
        }
    }

    fn check_budget(&self) -> Result<(), ArchiveError> {
        if self.total_output > self.max_output {
            return Err(ArchiveError::ExtractedTooLarge {
                max: self.max_output,
            });
        }
        let consumed = self.position.max(1) as u64;
        if self.total_output > RATIO_GRACE_BYTES && self.total_output / consumed > self.max_ratio {
            return Err(ArchiveError::CompressionRatio {
                max: self.max_ratio,
            });
        }
        Ok(())
    }

    fn start_member(&mut self) -> Result<(), ArchiveError> {
        let input = self.input;
        let mut at = self.position;
        let header = input.get(at..at + 10).ok_or(ArchiveError::Truncated)?;
        if header[0] != 0x1F || header[1] != 0x8B {
            return Err(ArchiveError::Corrupt("not a gzip member"));
        }
        if header[2] != 8 {
            return Err(ArchiveError::Corrupt("gzip member is not deflate"));
        }
        let flags = header[3];
        if flags & FLAG_RESERVED != 0 {
            return Err(ArchiveError::Corrupt("reserved gzip flags set"));
        }
        at += 10;
        if flags & FLAG_EXTRA != 0 {
            let length = input.get(at..at + 2).ok_or(ArchiveError::Truncated)?;
            at += 2 + usize::from(u16::from_le_bytes([length[0], length[1]]));
        }
        for flag in [FLAG_NAME, FLAG_COMMENT] {
            if flags & flag != 0 {
                let rest = input.get(at..).ok_or(ArchiveError::Truncated)?;
                let end = rest
                    .iter()
                    .position(|&byte| byte == 0)
                    .ok_or(ArchiveError::Truncated)?;
                at += end + 1;
            }
        }
        if flags & FLAG_HEADER_CRC != 0 {
            at += 2;
        }
        if at > input.len() {
            return Err(ArchiveError::Truncated);
        }
        self.position = at;
        self.state.reset(DataFormat::Raw);
        self.in_member = true;
        self.member_crc = Crc32::new();
        self.member_length = 0;
        Ok(())
    }

    fn finish_member(&mut self) -> Result<(), ArchiveError> {
        let trailer = self
            .input
            .get(self.position..self.position + 8)
            .ok_or(ArchiveError::Truncated)?;
        let crc = u32::from_le_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
        let length = u32::from_le_bytes([trailer[4], trailer[5], trailer[6], trailer[7]]);
        if crc != self.member_crc.value() {
            return Err(ArchiveError::Corrupt("gzip CRC-32 mismatch"));
        }
        if length != self.member_length {
            return Err(ArchiveError::Corrupt("gzip length mismatch"));
        }
        self.position += 8;
        self.in_member = false;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use flate2::Compression;
    use std::io::Write;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    fn read_all(body: &[u8], max_output: u64) -> Result<Vec<u8>, ArchiveError> {
        let mut reader = GzipReader::new(body, max_output, 1000);
        let mut out = Vec::new();
        let mut buffer = [0u8; 777];
        loop {
            let read = reader.read(&mut buffer)?;
            if read == 0 {
                return Ok(out);
            }
            out.extend_from_slice(&buffer[..read]);
        }
    }

    #[test]
    fn reads_multi_member_streams_and_padding() {
        let mut body = gzip(b"first member, ");
        body.extend(gzip(b""));
        body.extend(gzip(b"second member"));
        body.extend([0u8; 100]);
        assert_eq!(
            read_all(&body, 1 << 20).unwrap(),
            b"first member, second member"
        );
    }

    #[test]
    fn detects_corruption_and_truncation() {
        let text: Vec<u8> = (0..20_000u32)
            .flat_map(|n| n.to_string().into_bytes())
            .collect();
        let body = gzip(&text);
        let mut bad_crc = body.clone();
        let crc_at = bad_crc.len() - 8;
        bad_crc[crc_at] ^= 1;
        assert!(matches!(
            read_all(&bad_crc, 1 << 30),
            Err(ArchiveError::Corrupt(_))
        ));
        for cut in [5, 20, body.len() / 2, body.len() - 3] {
            assert!(
                matches!(
                    read_all(&body[..cut], 1 << 30),
                    Err(ArchiveError::Truncated)
                ),
                "cut at {cut}"
            );
        }
        let mut garbage = body.clone();
        garbage.extend_from_slice(b"trailing junk");
        assert!(matches!(
            read_all(&garbage, 1 << 30),
            Err(ArchiveError::Corrupt(_))
        ));
    }

    #[test]
    fn stops_at_the_output_budget() {
        let zeros = vec![0u8; 20 << 20];
        let body = gzip(&zeros);
        let mut reader = GzipReader::new(&body, 4 << 20, u64::MAX);
        let mut buffer = vec![0u8; 64 << 10];
        let error = loop {
            match reader.read(&mut buffer) {
                Ok(0) => panic!("the budget was not enforced"),
                Ok(_) => {}
                Err(error) => break error,
            }
        };
        assert!(matches!(error, ArchiveError::ExtractedTooLarge { .. }));
        assert!(reader.total_output() <= (4 << 20) + (64 << 10));
        let mut by_ratio = GzipReader::new(&body, u64::MAX, 200);
        assert!(matches!(
            by_ratio.read_full(&mut vec![0u8; 20 << 20]),
            Err(ArchiveError::CompressionRatio { .. })
        ));
    }
}
