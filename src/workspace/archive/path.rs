//! Entry names to safe workspace paths.
//!
//! An archive's names are untrusted: `../../etc/passwd`, `/etc/passwd`, `C:\evil` or a NUL byte
//! would escape or confuse whatever later writes or serves the file, so any of them refuses the
//! whole upload rather than silently dropping one entry (a tampered archive is not a project).
//!
//! Decisions:
//! - Names that are not UTF-8 are read as Latin-1 (each byte its char); zip's legacy CP437 names
//!   therefore come out readable for ASCII and deterministic otherwise.
//! - `\` is a separator, like `/`: Windows zip tools write it, and treating it as an ordinary
//!   character would let `..\x` through to a consumer that splits on it.
//! - `.` components and repeated or trailing separators disappear (`./a//b/` → `a/b`).
//! - `..` anywhere, a leading separator, a drive letter (`C:`), a NUL byte or a normalised path over
//!   [`MAX_PATH_BYTES`] → [`ArchiveError::UnsafePath`].

use super::ArchiveError;

/// The longest path kept, in bytes after normalisation.
pub const MAX_PATH_BYTES: usize = 1024;

/// A name as read from the archive: UTF-8 when it is, Latin-1 otherwise.
pub fn name_from_bytes(raw: &[u8]) -> String {
    match std::str::from_utf8(raw) {
        Ok(name) => name.to_owned(),
        Err(_) => raw.iter().map(|&byte| char::from(byte)).collect(),
    }
}

/// `raw` normalised to `a/b/c`; `Ok("")` for a name that names the archive root (`./`), which only
/// a directory entry may have.
pub fn normalise(raw: &str) -> Result<String, ArchiveError> {
    let unsafe_path = || ArchiveError::UnsafePath(raw.chars().take(MAX_PATH_BYTES).collect());
    if raw.contains('\0') || raw.starts_with(['/', '\\']) {
        return Err(unsafe_path());
    }
    let bytes = raw.as_bytes();
    if bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' {
        return Err(unsafe_path());
    }
    let mut normalised = String::with_capacity(raw.len());
    for component in raw.split(['/', '\\']) {
        match component {
            "" | "." => {}
            ".." => return Err(unsafe_path()),
            _ => {
                if !normalised.is_empty() {
                    normalised.push('/');
                }
                normalised.push_str(component);
            }
        }
    }
    if normalised.len() > MAX_PATH_BYTES {
        return Err(unsafe_path());
    }
    Ok(normalised)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_harmless_spellings() {
        assert_eq!(normalise("./a//b").unwrap(), "a/b");
        assert_eq!(normalise("a/./b/").unwrap(), "a/b");
        assert_eq!(normalise("src\\lib.rs").unwrap(), "src/lib.rs");
        assert_eq!(normalise("./").unwrap(), "");
        assert_eq!(normalise("a..b/c..").unwrap(), "a..b/c..");
        assert_eq!(normalise("dir:colon/x").unwrap(), "dir:colon/x");
    }

    #[test]
    fn refuses_paths_that_escape_or_confuse() {
        for bad in [
            "../x",
            "a/../../x",
            "a/..",
            "/etc/passwd",
            "\\windows\\x",
            "C:/x",
            "c:x",
            "..\\..\\x",
            "a\0b",
        ] {
            assert!(
                matches!(normalise(bad), Err(ArchiveError::UnsafePath(_))),
                "{bad:?} was accepted"
            );
        }
        let long = "a/".repeat(600);
        assert!(matches!(normalise(&long), Err(ArchiveError::UnsafePath(_))));
        assert!(normalise(&"a".repeat(1024)).is_ok());
    }

    #[test]
    fn non_utf8_names_read_as_latin1() {
        assert_eq!(name_from_bytes(b"caf\xe9.txt"), "café.txt");
        assert_eq!(name_from_bytes("café.txt".as_bytes()), "café.txt");
    }
}
