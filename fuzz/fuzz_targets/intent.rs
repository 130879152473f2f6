//! Fuzzes the intent router (`assistant::intent`): for any text, `route` never panics, every
//! score is finite in [0, 1), the label is `chat` or a label whose score reaches the threshold
//! and is the highest, `matched` holds at most 16 lexicon entries, the answer is deterministic,
//! and it serializes to JSON. Also `parse_request` on the raw bytes: an error or a text of
//! 1–4000 characters, never a panic.
#![no_main]

use edge_assistant::assistant::intent::{parse_request, route, Label, MAX_MATCHED, MAX_TEXT_CHARS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = parse_request(data) {
        let chars = request.text.chars().count();
        assert!((1..=MAX_TEXT_CHARS).contains(&chars));
    }
    let text = String::from_utf8_lossy(data);
    let intent = route(&text);
    let scored = [Label::Web, Label::History, Label::Code, Label::Rollout];
    for label in scored {
        let s = intent.scores.get(label);
        assert!(s.is_finite() && (0.0..1.0).contains(&s), "{label:?}: {s}");
    }
    if intent.label != Label::Chat {
        let own = intent.scores.get(intent.label);
        assert!(own >= intent.threshold);
        assert!(scored.iter().all(|&l| intent.scores.get(l) <= own));
        assert!(!intent.small_talk);
    }
    assert!(intent.matched.as_slice().len() <= MAX_MATCHED);
    assert_eq!(route(&text), intent, "routing is deterministic");
    let json = serde_json::to_string(&intent).expect("the answer serializes");
    assert!(json.starts_with("{\"label\":"));
});
