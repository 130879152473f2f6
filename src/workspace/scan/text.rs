//! Byte-level helpers shared by the Python, Markdown and Go scanners: line endings (LF, CRLF and
//! a lone CR all end a line, as CPython's tokenizer and Go's treat them), identifier bytes, names
//! from raw bytes, and the signature rule.

use super::MAX_SIGNATURE_BYTES;

/// The length of the line ending starting at `pos` (2 for CRLF, 1 for LF or a lone CR), or 0.
#[inline]
pub(crate) fn newline_len(src: &[u8], pos: usize) -> usize {
    match src.get(pos) {
        Some(b'\n') => 1,
        Some(b'\r') => {
            if src.get(pos + 1) == Some(&b'\n') {
                2
            } else {
                1
            }
        }
        _ => 0,
    }
}

/// Bytes that continue an identifier: ASCII letters, digits, `_`, and every byte ≥ 0x80, so
/// that Unicode identifiers (UTF-8) and stray non-UTF-8 bytes stay inside one name.
pub(crate) const IDENT: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80;
        b += 1;
    }
    table
};

/// Whether `b` can start an identifier (an identifier byte that is not a digit).
#[inline]
pub(crate) fn is_ident_start(b: u8) -> bool {
    IDENT[b as usize] && !b.is_ascii_digit()
}

/// The end of the identifier run starting at `pos`.
#[inline]
pub(crate) fn ident_end(src: &[u8], mut pos: usize) -> usize {
    while let Some(&b) = src.get(pos) {
        if !IDENT[b as usize] {
            break;
        }
        pos += 1;
    }
    pos
}

/// A name from raw bytes; invalid UTF-8 becomes U+FFFD rather than stopping the scan.
pub(crate) fn name(src: &[u8], start: usize, end: usize) -> String {
    String::from_utf8_lossy(src.get(start..end).unwrap_or_default()).into_owned()
}

/// Index of the first `needle` at or after `from`, or the length.
pub(crate) fn memchr_from(src: &[u8], needle: u8, from: usize) -> usize {
    src.get(from..)
        .and_then(|rest| rest.iter().position(|&b| b == needle))
        .map_or(src.len(), |p| from + p)
}

/// The signature of an item whose keyword starts at `start`: the text from there to the end of
/// that line, each run of whitespace collapsed to one space, trimmed, and cut to
/// [`MAX_SIGNATURE_BYTES`] on a char boundary.
pub(crate) fn signature(src: &[u8], start: usize) -> String {
    let rest = src.get(start..).unwrap_or_default();
    // Collapse first and stop a few bytes past the limit: a minified line costs no more than
    // a short one, and a char cut at the stop lies wholly beyond the limit.
    let mut collapsed = Vec::with_capacity(64);
    let mut in_space = false;
    for &b in rest {
        if b == b'\n' || b == b'\r' || collapsed.len() >= MAX_SIGNATURE_BYTES + 4 {
            break;
        }
        if matches!(b, b' ' | b'\t' | b'\x0b' | b'\x0c') {
            in_space = true;
            continue;
        }
        if in_space && !collapsed.is_empty() {
            collapsed.push(b' ');
        }
        in_space = false;
        collapsed.push(b);
    }
    let mut text = String::from_utf8_lossy(&collapsed).into_owned();
    if text.len() > MAX_SIGNATURE_BYTES {
        let mut cut = MAX_SIGNATURE_BYTES;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_collapses_whitespace_and_stops_at_the_line_end() {
        assert_eq!(
            signature(b"def  f(a,\t b):   # c  \r\n  pass", 0),
            "def f(a, b): # c"
        );
        assert_eq!(signature(b"class A:\rx", 0), "class A:");
        assert_eq!(signature(b"x = 1; def f(): pass", 7), "def f(): pass");
    }

    #[test]
    fn signature_is_cut_on_a_char_boundary() {
        let mut src = b"def f(): s = '".to_vec();
        src.extend("é".repeat(300).as_bytes());
        let sig = signature(&src, 0);
        assert!(sig.len() <= MAX_SIGNATURE_BYTES);
        assert!(sig.len() >= MAX_SIGNATURE_BYTES - 1);
        assert!(sig.ends_with('é'));
    }

    #[test]
    fn names_survive_invalid_utf8() {
        assert_eq!(name(b"caf\xe9", 0, 4), "caf\u{fffd}");
        assert_eq!(name("naïve".as_bytes(), 0, 6), "naïve");
        assert_eq!(ident_end("naïve(x)".as_bytes(), 0), 6);
    }

    #[test]
    fn line_endings() {
        assert_eq!(newline_len(b"\r\nx", 0), 2);
        assert_eq!(newline_len(b"\rx", 0), 1);
        assert_eq!(newline_len(b"\nx", 0), 1);
        assert_eq!(newline_len(b"x", 0), 0);
    }
}
