//! Random identifiers and seeds from the platform's CSPRNG (`getrandom`: the OS on the host,
//! `crypto.getRandomValues` in Workers). The only place outside the edge that reads randomness;
//! the core takes ids and seeds as arguments.

/// Error from the platform's random source (not expected in practice).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("random source unavailable: {0}")]
pub struct RandomError(String);

impl crate::api::HasErrorCode for RandomError {
    fn error_code(&self) -> crate::api::ErrorCode {
        crate::api::ErrorCode::Internal
    }
}

/// `bytes` random bytes as lowercase hex (2 × `bytes` chars).
pub fn random_hex(bytes: usize) -> Result<String, RandomError> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| RandomError(e.to_string()))?;
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes * 2);
    for b in buf {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    Ok(out)
}

/// A new opaque id: 128 random bits as 32 hex chars (valid for [`crate::routes::valid_id`]).
pub fn new_id() -> Result<String, RandomError> {
    random_hex(16)
}

/// A random 64-bit seed, for rollouts whose caller gave none.
pub fn random_seed() -> Result<u64, RandomError> {
    let mut buf = [0u8; 8];
    getrandom::fill(&mut buf).map_err(|e| RandomError(e.to_string()))?;
    Ok(u64::from_le_bytes(buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_routable_and_distinct() {
        let a = new_id().unwrap();
        let b = new_id().unwrap();
        assert_eq!(a.len(), 32);
        assert!(crate::routes::valid_id(&a));
        assert_ne!(a, b);
        assert_ne!(random_seed().unwrap(), random_seed().unwrap());
    }

    #[test]
    fn random_hex_is_lowercase_hex_of_twice_the_bytes() {
        for n in [0, 1, 7, 16] {
            let hex = random_hex(n).unwrap();
            assert_eq!(hex.len(), 2 * n);
            assert!(hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        }
        // Every nibble value appears over enough draws (the table is indexed correctly).
        let many = random_hex(4096).unwrap();
        for c in "0123456789abcdef".chars() {
            assert!(many.contains(c), "{c} never drawn");
        }
    }
}
