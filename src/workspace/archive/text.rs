//! Text or binary, and bytes to text.
//!
//! A file is binary when its first 8 KiB hold a NUL byte (git's own test) unless it starts with a
//! UTF-16 byte-order mark, or when it is itself an archive or compressed stream (by extension or
//! magic number): nested archives are never expanded, so their contents could not be searched.
//!
//! [`decode_text`] reads UTF-8 as is (without its BOM), UTF-16 with a BOM as UTF-16, and anything
//! else as Latin-1, each byte its char: that never fails, keeps ASCII intact, and is what most
//! legacy source files (Latin-1 or Windows-1252) actually are.

use std::borrow::Cow;

/// How far into a file the NUL test looks.
const SNIFF_BYTES: usize = 8 * 1024;

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";
const UTF16_LE_BOM: &[u8] = b"\xFF\xFE";
const UTF16_BE_BOM: &[u8] = b"\xFE\xFF";

/// Extensions of archives and compressed files, which are binary even without a NUL early on.
const ARCHIVE_EXTENSIONS: &[&str] = &[
    "zip", "tar", "gz", "tgz", "bz2", "tbz2", "xz", "txz", "zst", "lz", "lz4", "lzma", "7z", "rar",
    "jar", "war", "ear", "whl", "egg", "apk", "aar", "nupkg", "crate", "deb", "rpm",
];

/// Whether `bytes` (the content of `path`) is binary.
pub fn is_binary(path: &str, bytes: &[u8]) -> bool {
    if has_archive_extension(path) || has_archive_magic(bytes) {
        return true;
    }
    if bytes.starts_with(UTF16_LE_BOM) || bytes.starts_with(UTF16_BE_BOM) {
        return false;
    }
    bytes.iter().take(SNIFF_BYTES).any(|&byte| byte == 0)
}

fn has_archive_extension(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => ARCHIVE_EXTENSIONS
            .iter()
            .any(|known| ext.eq_ignore_ascii_case(known)),
        _ => false,
    }
}

fn has_archive_magic(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PK\x03\x04")
        || bytes.starts_with(b"PK\x05\x06")
        || bytes.starts_with(b"\x1F\x8B")
        || bytes.starts_with(b"BZh")
        || bytes.starts_with(b"\xFD7zXZ\x00")
        || bytes.starts_with(b"\x28\xB5\x2F\xFD")
        || bytes.starts_with(b"7z\xBC\xAF\x27\x1C")
        || bytes.starts_with(b"Rar!\x1A\x07")
        || bytes.get(257..262) == Some(b"ustar")
}

/// The text of a file: UTF-8 borrowed (BOM dropped), UTF-16 with a BOM decoded (unpaired
/// surrogates become U+FFFD), anything else Latin-1.
pub fn decode_text(bytes: &[u8]) -> Cow<'_, str> {
    if let Some(rest) = bytes.strip_prefix(UTF8_BOM) {
        if let Ok(text) = std::str::from_utf8(rest) {
            return Cow::Borrowed(text);
        }
    }
    if let Some(rest) = bytes.strip_prefix(UTF16_LE_BOM) {
        return Cow::Owned(decode_utf16(rest, u16::from_le_bytes));
    }
    if let Some(rest) = bytes.strip_prefix(UTF16_BE_BOM) {
        return Cow::Owned(decode_utf16(rest, u16::from_be_bytes));
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => Cow::Owned(bytes.iter().map(|&byte| char::from(byte)).collect()),
    }
}

fn decode_utf16(bytes: &[u8], unit: fn([u8; 2]) -> u16) -> String {
    let units = bytes.chunks(2).map(|pair| match *pair {
        [a, b] => unit([a, b]),
        // A dangling odd byte cannot be a character.
        _ => 0xFFFD,
    });
    char::decode_utf16(units)
        .map(|decoded| decoded.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_early_means_binary_unless_utf16() {
        assert!(!is_binary("a.py", b"print('hi')\n"));
        assert!(!is_binary("empty.txt", b""));
        assert!(is_binary("logo.png", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"));
        let mut late_nul = vec![b'a'; SNIFF_BYTES];
        late_nul.push(0);
        assert!(
            !is_binary("late.txt", &late_nul),
            "NUL past 8 KiB is not looked at"
        );
        assert!(!is_binary("w.txt", b"\xFF\xFEh\0i\0"));
        assert!(!is_binary("w.txt", b"\xFE\xFF\0h\0i"));
        assert!(
            is_binary("w.txt", b"h\0i\0"),
            "UTF-16 without BOM is binary"
        );
    }

    #[test]
    fn nested_archives_are_binary() {
        assert!(is_binary("vendor/lib.jar", b"anything"));
        assert!(is_binary("dist.TAR.GZ", b"text looking"));
        assert!(is_binary("noext", b"PK\x03\x04rest"));
        assert!(is_binary("noext", b"\x1F\x8B\x08"));
        assert!(
            !is_binary(".gz", b"plain"),
            "a dotfile named .gz has no extension"
        );
    }

    #[test]
    fn decodes_each_encoding() {
        assert!(matches!(decode_text(b"plain"), Cow::Borrowed("plain")));
        assert_eq!(decode_text(b"\xEF\xBB\xBFbom"), "bom");
        assert_eq!(decode_text(b"caf\xE9"), "café");
        assert_eq!(decode_text(b"\xFF\xFEh\0\xE9\0"), "hé");
        assert_eq!(decode_text(b"\xFE\xFF\0h\0\xE9"), "hé");
        assert_eq!(decode_text(b"\xFF\xFE\x3D\xD8\x00\xDE"), "😀");
        assert_eq!(decode_text(b"\xFF\xFE\x3D\xD8x"), "\u{FFFD}\u{FFFD}");
    }
}
