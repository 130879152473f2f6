//! File paths of the single-file routes (`/api/workspaces/{id}/files/{path}`): percent-decoded
//! from the URL and held to the same rule as archive entries — relative, `/`-separated, no
//! empty, `.` or `..` segment, no NUL or backslash, valid UTF-8, at most [`MAX_PATH_BYTES`].

use crate::api::InputError;

/// Longest file path, in bytes.
pub const MAX_PATH_BYTES: usize = 1024;

/// Why a path was refused (400 `invalid_field`).
fn refuse(why: &str) -> InputError {
    InputError::invalid(format!("file path {why}"))
}

/// Percent-decodes the path part of a URL (`%2F` stays a separator, as it would be in a path).
pub fn percent_decode(raw: &str) -> Result<String, InputError> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| refuse("has a malformed percent escape"))?;
                out.push(hex);
                i += 3;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| refuse("is not valid UTF-8"))
}

/// Checks a decoded path: the rule in the module docs.
pub fn validate(path: &str) -> Result<&str, InputError> {
    if path.is_empty() {
        return Err(refuse("is empty"));
    }
    if path.len() > MAX_PATH_BYTES {
        return Err(refuse(&format!("is longer than {MAX_PATH_BYTES} bytes")));
    }
    if path.contains('\0') || path.contains('\\') {
        return Err(refuse("contains a NUL byte or a backslash"));
    }
    if path.starts_with('/') {
        return Err(refuse("must be relative (no leading `/`)"));
    }
    if path
        .split('/')
        .any(|seg| seg.is_empty() || seg == "." || seg == "..")
    {
        return Err(refuse("has an empty, `.` or `..` segment"));
    }
    Ok(path)
}

/// Decodes and checks the path of a single-file route.
pub fn from_url(raw: &str) -> Result<String, InputError> {
    let decoded = percent_decode(raw)?;
    validate(&decoded)?;
    Ok(decoded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_decode_to_safe_relative_paths() {
        assert_eq!(from_url("src/lib.rs").unwrap(), "src/lib.rs");
        assert_eq!(from_url("docs/a%20b.md").unwrap(), "docs/a b.md");
        assert_eq!(from_url("a%2Fb.py").unwrap(), "a/b.py");
        assert_eq!(from_url("caf%C3%A9.py").unwrap(), "café.py");
        for bad in [
            "",
            "../x",
            "a/../b",
            "a//b",
            "./a",
            "%2E%2E/x",
            "a%00b",
            "a%5Cb",
            "%ff",
            "%zz",
            "%2",
            "%2Fetc/passwd",
        ] {
            assert!(from_url(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(from_url(&"a".repeat(MAX_PATH_BYTES + 1)).is_err());
    }
}
