//! Fuzzes bearer-token extraction and HS256 verification (`auth::bearer_token`,
//! `auth::verify_hs256`) three ways: arbitrary header values, arbitrary tokens, and tokens signed
//! with the real secret and then tampered with one byte. A tampered token must never verify to
//! other claims, and a verified token's claims must satisfy the documented checks.
#![no_main]

use arbitrary::Arbitrary;
use edge_assistant::auth::{bearer_token, sign_hs256, valid_user_id, verify_hs256, Claims};
use libfuzzer_sys::fuzz_target;

const SECRET: &[u8] = b"fuzz-secret-0123456789abcdef0123";

#[derive(Debug, Arbitrary)]
struct Input<'a> {
    header: Option<&'a str>,
    now: i64,
    sub: &'a str,
    exp: i64,
    nbf: Option<i64>,
    tamper_at: u16,
    tamper_with: u8,
}

fn check_accepted(claims: &Claims, now: i64) {
    assert!(valid_user_id(&claims.sub));
    assert!(claims.exp > now);
    assert!(claims.nbf.is_none_or(|nbf| nbf <= now));
}

fuzz_target!(|input: Input<'_>| {
    // 1. Header parsing: the token is a non-empty, trimmed part of the header.
    if let Ok(token) = bearer_token(input.header) {
        assert!(!token.is_empty() && token == token.trim());
        assert!(input.header.is_some_and(|h| h.contains(token)));
        // 2. Arbitrary tokens under the real secret.
        if let Ok(claims) = verify_hs256(token, SECRET, input.now) {
            check_accepted(&claims, input.now);
        }
    }

    // 3. Sign, verify, tamper.
    let claims = Claims {
        sub: input.sub.to_owned(),
        exp: input.exp,
        nbf: input.nbf,
        iat: None,
    };
    let token = sign_hs256(&claims, SECRET);
    match verify_hs256(&token, SECRET, input.now) {
        Ok(back) => {
            assert_eq!(back, claims);
            check_accepted(&back, input.now);
        }
        Err(_) => {
            let valid = valid_user_id(&claims.sub)
                && claims.exp > input.now
                && claims.nbf.is_none_or(|nbf| nbf <= input.now);
            assert!(!valid, "a freshly signed valid token was refused");
        }
    }
    assert!(
        verify_hs256(&token, b"another-secret-0123456789abcdef01", input.now).is_err(),
        "a token verified under the wrong secret"
    );
    let mut bytes = token.into_bytes();
    if bytes.is_empty() {
        return;
    }
    let at = usize::from(input.tamper_at) % bytes.len();
    if bytes[at] == input.tamper_with {
        return;
    }
    bytes[at] = input.tamper_with;
    if let Ok(tampered) = std::str::from_utf8(&bytes) {
        if let Ok(back) = verify_hs256(tampered, SECRET, input.now) {
            panic!("a tampered token verified: {tampered:?} -> {back:?}");
        }
    }
});
