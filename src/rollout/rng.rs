//! The rollout's seeded random number generator, with a draw counter so its exact position can
//! be stored in a few bytes and restored later (a stateful run lives in a Durable Object between
//! requests).
//!
//! Generator: `rand_pcg::Pcg64` (PCG XSL-RR 128/64) seeded with `SeedableRng::seed_from_u64(seed)`.
//! Every draw is one `next_u64()`, which advances the underlying LCG by exactly one step, so the
//! position after `n` draws is `seed_from_u64(seed)` advanced by `n` (`Pcg64::advance`, O(log n)).
//!
//! Mappings from a drawn `u64` (all documented because a client replaying a rollout relies on them):
//! - unit float: `(u >> 11) as f64 * 2^-53`, a multiple of 2^-53 in `[0, 1)`;
//! - reset component: `-0.05 + 0.1 * unit`, in `[-0.05, 0.05)`;
//! - random action: the top bit, `u >> 63` (0 or 1 with probability 1/2 each);
//! - softmax action: `1` when `unit < p(action 1)`, else `0`.

use rand_core::{RngCore, SeedableRng};
use rand_pcg::Pcg64;

/// 2^-53: the spacing of the unit floats produced by [`unit_f64`].
const UNIT_SCALE: f64 = 1.0 / (1u64 << 53) as f64;

/// Maps a raw draw to a float in `[0, 1)` using its 53 high bits (every value is exact in f64).
#[inline]
pub fn unit_f64(draw: u64) -> f64 {
    (draw >> 11) as f64 * UNIT_SCALE
}

/// A seeded `Pcg64` that counts its draws so that `(seed, draws)` restores it exactly.
#[derive(Clone, Debug)]
pub struct SeededRng {
    seed: u64,
    draws: u128,
    inner: Pcg64,
}

impl SeededRng {
    /// A generator at the start of the stream for `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            draws: 0,
            inner: Pcg64::seed_from_u64(seed),
        }
    }

    /// The generator for `seed` positioned after `draws` draws (as if `next_u64` had been
    /// called `draws` times); costs O(log draws).
    pub fn restore(seed: u64, draws: u128) -> Self {
        let mut inner = Pcg64::seed_from_u64(seed);
        inner.advance(draws);
        Self { seed, draws, inner }
    }

    /// The seed this stream started from.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// How many `u64` draws were taken since the seed.
    pub fn draws(&self) -> u128 {
        self.draws
    }

    /// The next raw 64-bit draw.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.draws += 1;
        self.inner.next_u64()
    }

    /// The next float in `[0, 1)` (one draw, see [`unit_f64`]).
    #[inline]
    pub fn next_unit(&mut self) -> f64 {
        unit_f64(self.next_u64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restore_continues_the_same_stream() {
        let mut a = SeededRng::new(42);
        for _ in 0..1000 {
            a.next_u64();
        }
        let mut b = SeededRng::restore(42, a.draws());
        for _ in 0..10 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        assert_eq!(b.draws(), 1010);
    }

    #[test]
    fn unit_floats_cover_zero_to_just_below_one() {
        assert_eq!(unit_f64(0), 0.0);
        assert_eq!(unit_f64(u64::MAX), 1.0 - UNIT_SCALE);
        assert_eq!(unit_f64(1 << 63), 0.5);
    }
}
