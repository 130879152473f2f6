//! Request and answer bodies with bounded memory.
//!
//! Requests: the shell feeds the chunks of the request's byte stream into a [`BodyCollector`] and
//! stops reading (cancelling the stream) at the first [`TooLarge`]. So a body is never held whole
//! before its size is known: a chunked upload without `content-length` costs at most the limit
//! plus one chunk, however much the client sends. `content-length` only decides early; the bytes
//! that actually arrive are what count, so a header announcing less than is sent changes nothing.
//! The buffer never grows past the limit; growing it copies what it holds, so collecting a
//! chunked body peaks at 1.5 × the limit, and one with `content-length` at the limit.
//!
//! Answers: [`ChunkedBody`] is an `io::Write` that keeps what is written in chunks of a fixed
//! size, so a large JSON answer (a rollout trajectory, ~23 MB) costs its size plus at most one
//! chunk, where one growing `Vec` passes through its size plus twice as much again while it
//! copies itself into a buffer of double capacity. The shell hands the chunks to the runtime one
//! at a time.

use crate::api::{ErrorCode, HasErrorCode};

/// The body is larger than the route accepts: 413 `payload_too_large`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("request body is larger than this route's limit of {limit} bytes")]
pub struct TooLarge {
    /// The route's limit in bytes.
    pub limit: usize,
}

impl HasErrorCode for TooLarge {
    fn error_code(&self) -> ErrorCode {
        ErrorCode::PayloadTooLarge
    }
}

/// Whether a `content-type` value names JSON (`application/json`, any case, parameters such as
/// `charset` allowed).
pub fn is_json_content_type(content_type: &str) -> bool {
    let media_type = content_type.split(';').next().unwrap_or("").trim();
    media_type.eq_ignore_ascii_case("application/json")
}

/// Collects a request body of at most `limit` bytes from its chunks.
#[derive(Debug)]
pub struct BodyCollector {
    limit: usize,
    /// The length the request's `content-length` declared, if it had one.
    declared: Option<usize>,
    bytes: Vec<u8>,
}

impl BodyCollector {
    /// Starts a body for a route that accepts at most `limit` bytes.
    ///
    /// `content_length` is the request's header, if any. A value above `limit`, or one that is not
    /// a number, is refused at once (nothing needs to be read); a plausible one sizes the buffer.
    pub fn new(limit: usize, content_length: Option<&str>) -> Result<Self, TooLarge> {
        let mut bytes = Vec::new();
        let mut declared = None;
        if let Some(raw) = content_length {
            match raw.trim().parse::<u64>() {
                Ok(n) if n <= limit as u64 => {
                    // n ≤ limit, which is a usize: the conversion cannot fail.
                    let n = usize::try_from(n).unwrap_or(0);
                    bytes.reserve_exact(n);
                    declared = Some(n);
                }
                _ => return Err(TooLarge { limit }),
            }
        }
        Ok(Self {
            limit,
            declared,
            bytes,
        })
    }

    /// The length the request's `content-length` declared (at most the limit), if any.
    pub fn declared_len(&self) -> Option<usize> {
        self.declared
    }

    /// Appends one chunk of the body.
    ///
    /// Errors once the body would pass the limit; the chunk is not copied then, and the caller
    /// must stop reading (dropping the collector frees what was read).
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), TooLarge> {
        let needed = self
            .bytes
            .len()
            .checked_add(chunk.len())
            .filter(|&n| n <= self.limit)
            .ok_or(TooLarge { limit: self.limit })?;
        if needed > self.bytes.capacity() {
            // Grow geometrically as `Vec` would, but never past the limit: the buffer's capacity
            // stays ≤ limit, which is what the documented peak relies on.
            let target = needed.max(self.bytes.capacity().saturating_mul(2).min(self.limit));
            self.bytes.reserve_exact(target - self.bytes.len());
        }
        self.bytes.extend_from_slice(chunk);
        Ok(())
    }

    /// Bytes collected so far.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether nothing was collected yet.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The whole body.
    pub fn finish(self) -> Vec<u8> {
        self.bytes
    }
}

/// Size of the chunks [`ChunkedBody`] writes answers in.
pub const ANSWER_CHUNK_BYTES: usize = 1 << 20;

/// An answer body kept in chunks of at most `chunk_bytes` as it is written.
///
/// The first chunk starts small and grows (most answers are a few hundred bytes); later ones are
/// allocated whole. Nothing written is ever copied again, and at most one chunk is partly empty.
#[derive(Debug)]
pub struct ChunkedBody {
    chunk_bytes: usize,
    chunks: Vec<Vec<u8>>,
    len: usize,
}

impl ChunkedBody {
    /// An empty body written in chunks of `chunk_bytes` (at least 1).
    pub fn new(chunk_bytes: usize) -> Self {
        Self {
            chunk_bytes: chunk_bytes.max(1),
            chunks: Vec::new(),
            len: 0,
        }
    }

    /// Bytes written.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The chunks, in order; each is full but the last.
    pub fn into_chunks(self) -> Vec<Vec<u8>> {
        self.chunks
    }
}

impl std::io::Write for ChunkedBody {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut rest = buf;
        while !rest.is_empty() {
            let chunk_bytes = self.chunk_bytes;
            if self.chunks.last().is_none_or(|c| c.len() >= chunk_bytes) {
                let capacity = if self.chunks.is_empty() {
                    chunk_bytes.min(4096)
                } else {
                    chunk_bytes
                };
                self.chunks.push(Vec::with_capacity(capacity));
            }
            let Some(chunk) = self.chunks.last_mut() else {
                return Err(std::io::Error::other("no chunk to write into"));
            };
            let n = rest.len().min(chunk_bytes - chunk.len());
            if chunk.len() + n > chunk.capacity() {
                // The first chunk grows geometrically, but never past `chunk_bytes`.
                let target = (chunk.len() + n).max(chunk.capacity() * 2).min(chunk_bytes);
                chunk.reserve_exact(target - chunk.len());
            }
            chunk.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
        }
        self.len += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(
        limit: usize,
        content_length: Option<&str>,
        chunks: &[&[u8]],
    ) -> Result<Vec<u8>, TooLarge> {
        let mut body = BodyCollector::new(limit, content_length)?;
        for chunk in chunks {
            body.push(chunk)?;
        }
        Ok(body.finish())
    }

    #[test]
    fn a_body_up_to_the_limit_is_collected_whole() {
        assert_eq!(
            collect(6, None, &[b"abc", b"", b"def"]),
            Ok(b"abcdef".to_vec())
        );
        assert_eq!(collect(6, Some("6"), &[b"abcdef"]), Ok(b"abcdef".to_vec()));
        assert_eq!(collect(0, None, &[]), Ok(Vec::new()));
        assert_eq!(collect(0, Some(" 0 "), &[b""]), Ok(Vec::new()));
    }

    #[test]
    fn the_chunk_that_passes_the_limit_is_refused_without_being_copied() {
        let mut body = BodyCollector::new(6, None).unwrap();
        body.push(b"abcd").unwrap();
        assert_eq!(body.push(b"efg"), Err(TooLarge { limit: 6 }));
        assert_eq!(body.len(), 4);
        assert_eq!(collect(0, None, &[b"x"]), Err(TooLarge { limit: 0 }));
    }

    #[test]
    fn content_length_decides_early_but_the_bytes_decide_last() {
        // Announced too large, or not a number: refused before reading.
        assert_eq!(collect(6, Some("7"), &[]), Err(TooLarge { limit: 6 }));
        assert_eq!(collect(6, Some("-1"), &[]), Err(TooLarge { limit: 6 }));
        assert_eq!(collect(6, Some("six"), &[]), Err(TooLarge { limit: 6 }));
        assert_eq!(
            collect(6, Some("99999999999999999999999"), &[]),
            Err(TooLarge { limit: 6 })
        );
        // Announced small, sent larger: the bytes count.
        assert_eq!(
            collect(6, Some("2"), &[b"abcd", b"efg"]),
            Err(TooLarge { limit: 6 })
        );
        assert_eq!(collect(6, Some("2"), &[b"abcd"]), Ok(b"abcd".to_vec()));
    }

    #[test]
    fn the_buffer_never_grows_past_the_limit() {
        let limit = 1000;
        let mut body = BodyCollector::new(limit, None).unwrap();
        for _ in 0..100 {
            body.push(&[7; 10]).unwrap();
            assert!(body.bytes.capacity() <= limit, "{}", body.bytes.capacity());
        }
        assert_eq!(body.len(), limit);
        assert!(body.push(b"x").is_err());
        // A huge chunk is refused before any allocation for it.
        let mut body = BodyCollector::new(limit, None).unwrap();
        assert!(body.push(&vec![0; 10 * limit]).is_err());
        assert_eq!(body.bytes.capacity(), 0);
    }

    #[test]
    fn json_content_types() {
        for ok in [
            "application/json",
            "Application/JSON",
            "application/json; charset=utf-8",
            " application/json ;x=y",
        ] {
            assert!(is_json_content_type(ok), "{ok}");
        }
        for bad in [
            "",
            "text/plain",
            "application/jsonx",
            "application/json-seq",
            "json",
        ] {
            assert!(!is_json_content_type(bad), "{bad}");
        }
    }

    #[test]
    fn a_chunked_body_keeps_every_byte_in_order_in_full_chunks() {
        use std::io::Write;
        let mut body = ChunkedBody::new(8);
        assert!(body.is_empty());
        body.write_all(b"abc").unwrap();
        body.write_all(b"defghijklmnopqrst").unwrap();
        body.write_all(b"").unwrap();
        body.write_all(b"u").unwrap();
        assert_eq!(body.len(), 21);
        let chunks = body.into_chunks();
        assert_eq!(chunks.concat(), b"abcdefghijklmnopqrstu");
        assert_eq!(chunks.iter().map(Vec::len).collect::<Vec<_>>(), [8, 8, 5]);
        assert!(chunks.iter().all(|c| c.capacity() <= 8));
    }

    #[test]
    fn json_written_in_chunks_is_the_same_json() {
        let value = serde_json::json!({"a": [1.5, 2, "x".repeat(5000)], "b": null});
        let mut body = ChunkedBody::new(1000);
        serde_json::to_writer(&mut body, &value).unwrap();
        let chunks = body.into_chunks();
        assert!(chunks.len() > 5);
        assert_eq!(chunks.concat(), serde_json::to_vec(&value).unwrap());
        // A small answer is one small chunk.
        let mut small = ChunkedBody::new(ANSWER_CHUNK_BYTES);
        serde_json::to_writer(&mut small, &value["b"]).unwrap();
        let chunks = small.into_chunks();
        assert_eq!(chunks, [b"null".to_vec()]);
        assert!(chunks[0].capacity() <= 4096);
    }
}
