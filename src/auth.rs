//! Bearer-token authentication: parsing and verifying HS256 JSON Web Tokens (RFC 7519).
//!
//! Only `alg: HS256` is accepted (so `alg: none` and algorithm-confusion tokens are refused), the
//! signature is checked in constant time by `hmac`'s `verify_slice` before any claim is trusted,
//! and `exp` is required. The user id is the `sub` claim: 1–64 chars of `[A-Za-z0-9_-]`, which also
//! makes it safe to embed in Durable Object names and storage keys. The clock is passed in.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::api::{ErrorCode, HasErrorCode};

type HmacSha256 = Hmac<Sha256>;

/// Longest token accepted, in bytes; real tokens of this service are ~200 bytes.
pub const MAX_TOKEN_BYTES: usize = 4096;

/// Why a token was refused. Every variant maps to 401 `unauthorized`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("missing bearer token: send `Authorization: Bearer <JWT>` (see scripts/token)")]
    Missing,
    #[error("malformed bearer token: expected a JWT of three base64url parts")]
    Malformed,
    #[error("unsupported token algorithm: only HS256 is accepted")]
    UnsupportedAlgorithm,
    #[error("invalid token signature")]
    BadSignature,
    #[error("token expired: request a new one")]
    Expired,
    #[error("token not valid yet (nbf is in the future)")]
    NotYetValid,
    #[error("invalid token claims: {0}")]
    BadClaims(String),
}

impl HasErrorCode for AuthError {
    fn error_code(&self) -> ErrorCode {
        ErrorCode::Unauthorized
    }
}

/// The claims this service reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// User id: 1–64 chars of `[A-Za-z0-9_-]`.
    pub sub: String,
    /// Expiry, seconds since the Unix epoch.
    pub exp: i64,
    /// Not-before, seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// Issued-at, seconds since the Unix epoch (informational).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
}

/// Whether `id` is a valid user id (the `sub` claim).
pub fn valid_user_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Extracts the token from an `Authorization` header value (`Bearer <token>`, scheme case-insensitive).
pub fn bearer_token(header: Option<&str>) -> Result<&str, AuthError> {
    let header = header.ok_or(AuthError::Missing)?.trim();
    let (scheme, token) = header.split_once(' ').ok_or(AuthError::Malformed)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(AuthError::Malformed);
    }
    Ok(token.trim())
}

/// Verifies an HS256 JWT with `secret` at time `now_secs` and returns its claims.
pub fn verify_hs256(token: &str, secret: &[u8], now_secs: i64) -> Result<Claims, AuthError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(AuthError::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(header_b64), Some(claims_b64), Some(sig_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AuthError::Malformed);
    };
    let decode = |part: &str| {
        URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| AuthError::Malformed)
    };
    let header: Header =
        serde_json::from_slice(&decode(header_b64)?).map_err(|_| AuthError::Malformed)?;
    if header.alg != "HS256" {
        return Err(AuthError::UnsupportedAlgorithm);
    }
    let signature = decode(sig_b64)?;
    let mut mac = HmacSha256::new_from_slice(secret).map_err(|_| AuthError::BadSignature)?;
    mac.update(header_b64.as_bytes());
    mac.update(b".");
    mac.update(claims_b64.as_bytes());
    mac.verify_slice(&signature)
        .map_err(|_| AuthError::BadSignature)?;

    let claims: Claims = serde_json::from_slice(&decode(claims_b64)?)
        .map_err(|e| AuthError::BadClaims(format!("{e} (need string `sub` and integer `exp`)")))?;
    if !valid_user_id(&claims.sub) {
        return Err(AuthError::BadClaims(
            "`sub` must be 1-64 chars of [A-Za-z0-9_-]".into(),
        ));
    }
    if claims.exp <= now_secs {
        return Err(AuthError::Expired);
    }
    if claims.nbf.is_some_and(|nbf| nbf > now_secs) {
        return Err(AuthError::NotYetValid);
    }
    Ok(claims)
}

/// Signs `claims` as an HS256 JWT (used by tests and tools that mint development tokens).
pub fn sign_hs256(claims: &Claims, secret: &[u8]) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    // Serializing a struct of strings and integers cannot fail.
    let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default());
    let signing_input = format!("{header}.{body}");
    let signature = match HmacSha256::new_from_slice(secret) {
        Ok(mut mac) => {
            mac.update(signing_input.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    };
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"test-secret-test-secret-test-secret!";

    fn claims(sub: &str, exp: i64) -> Claims {
        Claims {
            sub: sub.into(),
            exp,
            nbf: None,
            iat: None,
        }
    }

    #[test]
    fn accepts_a_valid_token() {
        let token = sign_hs256(&claims("alice", 2000), SECRET);
        assert_eq!(verify_hs256(&token, SECRET, 1000).unwrap().sub, "alice");
    }

    #[test]
    fn matches_a_known_rfc7519_style_vector() {
        // Computed independently with Python: hmac.new(b"secret-of-32-bytes-for-the-vector!",
        // b"<header>.<payload>", hashlib.sha256), base64url without padding.
        let secret = b"secret-of-32-bytes-for-the-vector!";
        let token = sign_hs256(&claims("bob", 1_900_000_000), secret);
        assert_eq!(
            token,
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJib2IiLCJleHAiOjE5MDAwMDAwMDB9\
             .EzvwmiXU3iG7xpRC8Ai-VyW3212UQhP553o42gxsmQk"
        );
        assert!(verify_hs256(&token, secret, 0).is_ok());
    }

    #[test]
    fn refuses_expired_tampered_wrong_secret_and_alg_none() {
        let token = sign_hs256(&claims("alice", 2000), SECRET);
        assert_eq!(verify_hs256(&token, SECRET, 2000), Err(AuthError::Expired));
        assert_eq!(
            verify_hs256(&token, b"another-secret-another-secret-123", 1000),
            Err(AuthError::BadSignature)
        );
        let (input, sig) = token.rsplit_once('.').unwrap();
        let (header, _) = input.split_once('.').unwrap();
        let forged_body = URL_SAFE_NO_PAD.encode(br#"{"sub":"mallory","exp":2000}"#);
        let tampered = format!("{header}.{forged_body}.{sig}");
        assert_eq!(
            verify_hs256(&tampered, SECRET, 1000),
            Err(AuthError::BadSignature)
        );
        let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#);
        let unsigned = format!("{none_header}.{forged_body}.");
        assert_eq!(
            verify_hs256(&unsigned, SECRET, 1000),
            Err(AuthError::UnsupportedAlgorithm)
        );
    }

    #[test]
    fn refuses_malformed_tokens_and_bad_subjects() {
        for bad in ["", "abc", "a.b", "a.b.c.d", "!!.??.**"] {
            assert_eq!(
                verify_hs256(bad, SECRET, 0),
                Err(AuthError::Malformed),
                "{bad}"
            );
        }
        let token = sign_hs256(&claims("bad/user", 2000), SECRET);
        assert!(matches!(
            verify_hs256(&token, SECRET, 1000),
            Err(AuthError::BadClaims(_))
        ));
        let no_exp_body = URL_SAFE_NO_PAD.encode(br#"{"sub":"alice"}"#);
        let good = sign_hs256(&claims("alice", 1), SECRET);
        let header = good.split('.').next().unwrap();
        let input = format!("{header}.{no_exp_body}");
        let mut mac = HmacSha256::new_from_slice(SECRET).unwrap();
        mac.update(input.as_bytes());
        let sig = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        assert!(matches!(
            verify_hs256(&format!("{input}.{sig}"), SECRET, 0),
            Err(AuthError::BadClaims(_))
        ));
    }

    #[test]
    fn bearer_header_parsing() {
        assert_eq!(bearer_token(Some("Bearer abc")), Ok("abc"));
        assert_eq!(bearer_token(Some("bearer  abc ")), Ok("abc"));
        assert_eq!(bearer_token(None), Err(AuthError::Missing));
        assert_eq!(bearer_token(Some("Basic abc")), Err(AuthError::Malformed));
        assert_eq!(bearer_token(Some("Bearer")), Err(AuthError::Malformed));
    }
}
