//! CRC-32 (IEEE 802.3, the one gzip and zip use), slice-by-8.
//!
//! Hand-written rather than `crc32fast` for size: its tables are built once at run time instead of
//! shipping 16 KiB of incompressible constants in the worker, and slice-by-8 keeps checking 64 MiB
//! of output well under the request's CPU budget.

use std::sync::OnceLock;

const POLYNOMIAL: u32 = 0xEDB8_8320;

fn tables() -> &'static [[u32; 256]; 8] {
    static TABLES: OnceLock<Box<[[u32; 256]; 8]>> = OnceLock::new();
    TABLES.get_or_init(|| {
        let mut tables = Box::new([[0u32; 256]; 8]);
        for byte in 0..256u32 {
            let mut crc = byte;
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ POLYNOMIAL
                } else {
                    crc >> 1
                };
            }
            tables[0][byte as usize] = crc;
        }
        for byte in 0..256usize {
            for slice in 1..8 {
                let previous = tables[slice - 1][byte];
                tables[slice][byte] = (previous >> 8) ^ tables[0][(previous & 0xFF) as usize];
            }
        }
        tables
    })
}

/// A running CRC-32: feed it with [`Crc32::update`], read it with [`Crc32::value`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Crc32 {
    state: u32,
}

impl Crc32 {
    pub fn new() -> Crc32 {
        Crc32::default()
    }

    pub fn update(&mut self, bytes: &[u8]) {
        let t = tables();
        let mut crc = !self.state;
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let low = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]) ^ crc;
            crc = t[7][(low & 0xFF) as usize]
                ^ t[6][((low >> 8) & 0xFF) as usize]
                ^ t[5][((low >> 16) & 0xFF) as usize]
                ^ t[4][(low >> 24) as usize]
                ^ t[3][chunk[4] as usize]
                ^ t[2][chunk[5] as usize]
                ^ t[1][chunk[6] as usize]
                ^ t[0][chunk[7] as usize];
        }
        for &byte in chunks.remainder() {
            crc = (crc >> 8) ^ t[0][((crc ^ u32::from(byte)) & 0xFF) as usize];
        }
        self.state = !crc;
    }

    pub fn value(&self) -> u32 {
        self.state
    }
}

/// The CRC-32 of `bytes` in one call.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = Crc32::new();
    crc.update(bytes);
    crc.value()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_published_check_value_and_is_incremental() {
        // The standard check value: CRC-32 of "123456789".
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
        let text = b"The quick brown fox jumps over the lazy dog, several times over.";
        let mut split = Crc32::new();
        split.update(&text[..13]);
        split.update(&text[13..]);
        assert_eq!(split.value(), crc32(text));
        assert_eq!(
            crc32(b"The quick brown fox jumps over the lazy dog"),
            0x414F_A339
        );
    }
}
