//! Fuzzes the archive readers (`workspace::archive::extract`) with arbitrary bytes as each format
//! (the first byte picks tar, tar.gz or zip), under small caps so inputs stay fast. Any input must
//! give an error or a result whose files are sorted, unique, safe relative paths, within the caps
//! and not binary — never a panic. Also `decode_text` and `ArchiveFormat::sniff` on the raw bytes.
#![no_main]

use edge_assistant::workspace::archive::{
    decode_text, extract, is_binary, ArchiveFormat, ArchiveError, Caps,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let format = match selector % 3 {
        0 => ArchiveFormat::Tar,
        1 => ArchiveFormat::TarGz,
        _ => ArchiveFormat::Zip,
    };
    let caps = Caps {
        max_archive_bytes: 1 << 20,
        max_extracted_bytes: 4 << 20,
        max_files: 200,
        max_entries: 1_000,
        max_file_bytes: 64 << 10,
        max_compression_ratio: 200,
        max_ignore_patterns: 100,
    };
    let _ = ArchiveFormat::sniff(body);
    let _ = decode_text(body);
    match extract(body, format, &caps) {
        Ok(extracted) => {
            assert!(extracted.files.len() <= caps.max_files as usize);
            for pair in extracted.files.windows(2) {
                assert!(pair[0].path < pair[1].path, "files are sorted and unique");
            }
            for file in &extracted.files {
                let path = &file.path;
                assert!(!path.is_empty() && path.len() <= 1024);
                assert!(!path.starts_with('/') && !path.ends_with('/'));
                assert!(!path.contains('\\') && !path.contains('\0'));
                assert!(path.split('/').all(|part| !part.is_empty() && part != "." && part != ".."));
                assert!(file.bytes.len() as u64 <= caps.max_file_bytes);
                assert!(!is_binary(path, &file.bytes));
                let _ = decode_text(&file.bytes);
            }
        }
        Err(ArchiveError::FormatMismatch { declared, found }) => assert_ne!(declared, found),
        Err(_) => {}
    }
});
