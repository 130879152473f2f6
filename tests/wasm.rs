//! wasm-bindgen tests: the parts of the crate that reach JavaScript when compiled to wasm32
//! (randomness through `crypto.getRandomValues`, time through `Date`), run under Node by
//! `wasm-bindgen-test-runner` (`scripts/test` sets it as the cargo runner).
#![cfg(target_arch = "wasm32")]

use edge_assistant::auth::{sign_hs256, verify_hs256, Claims};
use edge_assistant::ids;
use wasm_bindgen_test::wasm_bindgen_test;

#[wasm_bindgen_test]
fn random_ids_come_from_the_js_crypto_source() {
    let a = ids::new_id().expect("crypto.getRandomValues available");
    let b = ids::new_id().expect("crypto.getRandomValues available");
    assert_eq!(a.len(), 32);
    assert_ne!(a, b);
    assert_ne!(ids::random_seed().unwrap(), ids::random_seed().unwrap());
}

#[wasm_bindgen_test]
fn js_clock_reads_a_plausible_epoch_time() {
    let now_ms = js_sys::Date::now();
    // After 2024-01-01 and before 2100-01-01.
    assert!(now_ms > 1_704_067_200_000.0 && now_ms < 4_102_444_800_000.0);
}

#[wasm_bindgen_test]
fn hs256_tokens_verify_on_wasm32_as_on_the_host() {
    let secret = b"secret-of-32-bytes-for-the-vector!";
    let claims = Claims {
        sub: "bob".into(),
        exp: 1_900_000_000,
        nbf: None,
        iat: None,
    };
    let token = sign_hs256(&claims, secret);
    assert!(token.ends_with(".EzvwmiXU3iG7xpRC8Ai-VyW3212UQhP553o42gxsmQk"));
    let now = (js_sys::Date::now() / 1000.0) as i64;
    assert_eq!(verify_hs256(&token, secret, now).unwrap().sub, "bob");
}
