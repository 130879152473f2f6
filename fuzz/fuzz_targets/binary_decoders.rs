//! Fuzzes every decoder of stored bytes with arbitrary input: rollout runs
//! (`RunState::decode`, `decode_parts`, `ExperienceBuffer::decode`), cache-policy snapshots
//! (`CachePolicy::restore`), history posting blocks (`decode_block`) and doc rows (`decode_doc`,
//! both formats), and KV cache values
//! (`CachedResults::decode`). Corrupt storage must give an error, never a panic; and whatever
//! decodes must re-encode to the same bytes (the formats are canonical) and, for a restored
//! policy, respect the bounds it declares.
#![no_main]

use edge_assistant::rollout::{ExperienceBuffer, RunState};
use edge_assistant::search::history::persist::{
    decode_block, decode_doc, encode_block, encode_doc,
};
use edge_assistant::search::web::policy::CachePolicy;
use edge_assistant::search::web::upstream::CachedResults;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    match selector % 6 {
        0 => {
            if let Ok(run) = RunState::decode(bytes) {
                assert_eq!(run.encode(), bytes, "RunState encoding is not canonical");
                let info = run.info();
                assert!(info.buffer_len <= info.buffer_capacity);
            }
        }
        1 => {
            let split = usize::from(bytes.first().copied().unwrap_or(0)) * 4;
            let (envs, buffer) = bytes.split_at(split.min(bytes.len()));
            if let Ok(run) = RunState::decode_parts(envs, buffer) {
                assert_eq!(run.encode_envs(), envs);
                assert_eq!(run.buffer().encode(), buffer);
            }
        }
        2 => {
            if let Ok((buffer, used)) = ExperienceBuffer::decode(bytes) {
                assert_eq!(buffer.encode(), bytes[..used]);
                assert!(buffer.len() <= buffer.capacity());
            }
        }
        3 => {
            if let Ok(policy) = CachePolicy::restore(bytes) {
                let c = policy.config();
                assert!(policy.len() <= c.capacity_entries);
                assert!(policy.bytes() <= c.capacity_bytes);
                let again = policy.snapshot();
                assert_eq!(
                    CachePolicy::restore(&again).map(|p| p.snapshot()).ok(),
                    Some(again),
                    "a restored policy's snapshot does not restore"
                );
            }
        }
        4 => {
            let block = u32::from(bytes.first().copied().unwrap_or(0));
            let body = bytes.get(1..).unwrap_or_default();
            if let Some(postings) = decode_block(block, body) {
                assert_eq!(
                    decode_block(block, &encode_block(block, &postings)),
                    Some(postings)
                );
            }
            // Varints may be over-long, so a row is checked by value, not by bytes.
            if let Some(doc) = decode_doc(bytes) {
                assert_eq!(decode_doc(&encode_doc(&doc)), Some(doc));
            }
        }
        _ => {
            if let Ok(value) = CachedResults::decode(bytes) {
                assert_eq!(CachedResults::decode(&value.encode()).ok(), Some(value));
            }
        }
    }
});
