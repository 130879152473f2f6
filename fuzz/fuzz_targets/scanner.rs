//! Fuzzes the code-workspace scanner (`workspace::scan::scan`) through its dispatcher, for every
//! language on the same input: it never panics or hangs, every symbol has a name, a line inside
//! the input (lines in source order) and a signature of at most `MAX_SIGNATURE_BYTES`, and the
//! answer is deterministic.
#![no_main]

use edge_assistant::workspace::scan::{scan, Language, MAX_SIGNATURE_BYTES};
use libfuzzer_sys::fuzz_target;

const LANGUAGES: [Language; 7] = [
    Language::Python,
    Language::Rust,
    Language::JavaScript,
    Language::TypeScript,
    Language::Go,
    Language::Markdown,
    Language::Text,
];

fuzz_target!(|data: &[u8]| {
    let lines = data.iter().filter(|&&b| b == b'\n' || b == b'\r').count() + 1;
    for language in LANGUAGES {
        let symbols = scan(language, data);
        let mut last = 0;
        for s in &symbols {
            assert!(!s.name.is_empty(), "{language:?}: {s:?}");
            assert!(s.signature.len() <= MAX_SIGNATURE_BYTES, "{language:?}: {s:?}");
            assert!(s.line >= 1 && s.line as usize <= lines, "{language:?}: {s:?}");
            assert!(s.line >= last, "{language:?}: out of order: {symbols:?}");
            last = s.line;
        }
        assert_eq!(scan(language, data), symbols, "scanning is deterministic");
    }
});
