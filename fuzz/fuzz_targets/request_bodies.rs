//! Fuzzes every JSON request-body parser with the same bytes: chat (`parse_new_message`,
//! `parse_new_tab`, `parse_tab_patch`) and rollout (`RolloutRequest`, `RunCreateRequest`,
//! `RunStepRequest`). Besides "never panics", every accepted body must satisfy the bounds the
//! API documents, since the handlers trust a parsed value without re-checking it.
#![no_main]

use edge_assistant::chat::model::{
    parse_new_message, parse_new_tab, parse_tab_patch, MAX_CLIENT_ID_CHARS, MAX_TITLE_CHARS,
};
use edge_assistant::rollout::request::{MAX_ABS_STATE, MAX_ENV_STEPS, MAX_NUM_ENVS, MAX_STEPS};
use edge_assistant::rollout::{Policy, RolloutRequest, RunCreateRequest, RunStepRequest};
use libfuzzer_sys::fuzz_target;

fn check_title(title: &str) {
    assert!(!title.is_empty() && title.chars().count() <= MAX_TITLE_CHARS);
    assert_eq!(title, title.trim(), "titles are stored trimmed");
    assert!(!title.chars().any(char::is_control));
}

fn check_policy(policy: &Policy) {
    if let Policy::Linear(p) = policy {
        let finite = |v: f64| v.is_finite();
        assert!(p.weights.iter().flatten().copied().all(finite));
        assert!(p.bias.iter().copied().all(finite));
    }
}

fuzz_target!(|body: &[u8]| {
    // The first byte picks MAX_MESSAGE_BYTES (1..=256) so the limit check is reachable.
    let max_message_bytes = usize::from(body.first().copied().unwrap_or(0)) + 1;
    if let Ok(m) = parse_new_message(body, max_message_bytes) {
        assert!(!m.content.is_empty() && m.content.len() <= max_message_bytes);
        if let Some(cid) = &m.client_id {
            assert!(!cid.is_empty() && cid.chars().count() <= MAX_CLIENT_ID_CHARS);
            assert!(cid
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-_:".contains(&b)));
        }
    }
    if let Ok(tab) = parse_new_tab(body) {
        if let Some(title) = &tab.title {
            check_title(title);
        }
    }
    if let Ok(patch) = parse_tab_patch(body) {
        check_title(&patch.title);
    }
    if let Ok(r) = RolloutRequest::parse(body) {
        assert!((1..=MAX_NUM_ENVS).contains(&r.num_envs));
        assert!((1..=MAX_STEPS).contains(&r.steps));
        assert!(r.num_envs * r.steps <= MAX_ENV_STEPS);
        assert!((0.0..=1.0).contains(&r.gamma) && (0.0..=1.0).contains(&r.lambda));
        check_policy(&r.policy);
        if let Some(s) = &r.initial_state {
            assert_eq!(s.dim(), (r.num_envs, 4));
            assert!(s.iter().all(|v| v.is_finite() && v.abs() <= MAX_ABS_STATE));
        }
        if let Some(a) = &r.actions {
            assert_eq!(a.dim(), (r.steps, r.num_envs));
            assert!(a.iter().all(|&v| v <= 1));
        }
    }
    if let Ok(r) = RunCreateRequest::parse(body) {
        assert!((1..=MAX_NUM_ENVS).contains(&r.num_envs));
        assert!((1..=65_536).contains(&r.buffer_capacity));
    }
    if let Ok(r) = RunStepRequest::parse(body) {
        assert!((1..=MAX_STEPS).contains(&r.steps));
        check_policy(&r.policy);
    }
});
