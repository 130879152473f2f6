//! A 4-bit count-min sketch that estimates how often a key was seen recently (TinyLFU).
//!
//! # The algorithm
//!
//! TinyLFU (G. Einziger, R. Friedman, B. Manes, "TinyLFU: A Highly Efficient Cache Admission
//! Policy", ACM Transactions on Storage 13(4), 2017) decides whether a new entry deserves a place
//! in a full cache by comparing how often the newcomer and the would-be victim were requested
//! *recently*. Keeping an exact counter per key ever seen would cost more than the cache itself,
//! so the frequencies live in an approximate, fixed-size structure:
//!
//! - **Count-min sketch.** Each key maps to `DEPTH = 4` counters, one per hash function; an
//!   increment bumps all four and the estimate is their minimum. Collisions can only inflate a
//!   counter, so the minimum over four is an upper bound that is usually exact.
//! - **4-bit counters.** Admission only needs to tell "rarely" from "often", so counters saturate
//!   at 15. Sixteen counters pack into one `u64`; the table holds `next_power_of_two(capacity)`
//!   words, i.e. 16 counters per cached entry (the sizing Caffeine uses). As in Caffeine, the four
//!   counters of a key sit at distinct nibble positions (`start + i`) of four words chosen by four
//!   seeded hashes, which spreads collisions.
//! - **Aging ("reset").** Popularity changes; a key that was hot yesterday must not keep its
//!   place forever. After `sample_size = 10 × capacity` increments every counter is halved
//!   (one shift and mask per word). The paper shows this keeps the estimate within a bounded error
//!   of the true frequency over a sliding sample and makes old popularity fade geometrically.
//!   Counters that were odd lose their half-unit; the additions counter is reduced to match, so
//!   the next reset comes after another half sample.
//! - **Doorkeeper (not used).** The paper's optional Bloom filter in front of the sketch absorbs
//!   one-hit wonders so they cost no counters. Caffeine leaves it out; at 16 counters per entry the
//!   sketch is already accurate enough, so this one does too, keeping persistence simple.
//!
//! The sketch is I/O-free and hash-agnostic: callers pass the 64-bit key hash
//! ([`super::normalize::key_hash`]); it is re-mixed here so weak input bits do not matter.

use super::normalize::mix64;

/// Number of counters (hash functions) per key.
const DEPTH: usize = 4;
/// Counter maximum (4 bits).
const MAX_COUNT: u64 = 15;
/// Seeds of the four index hashes (from Caffeine's sketch: odd 64-bit constants).
const SEEDS: [u64; DEPTH] = [
    0xc3a5_c85c_97cb_3127,
    0xb492_b66f_be98_f273,
    0x9ae1_6a3b_2f90_404f,
    0xcbf2_9ce4_8422_2325,
];
/// Clears the top bit of every nibble after a right shift (halving all 16 counters at once).
const RESET_MASK: u64 = 0x7777_7777_7777_7777;
/// The lowest bit of every nibble (finds odd counters).
const ONE_MASK: u64 = 0x1111_1111_1111_1111;
/// Largest table, in words (16 Mi counters, 8 MiB); bounds memory for absurd capacities.
const MAX_WORDS: usize = 1 << 20;

/// A 4-bit count-min frequency sketch with periodic halving.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrequencySketch {
    /// 16 four-bit counters per word; length is a power of two.
    table: Vec<u64>,
    /// Increments since the last reset (only increments that raised some counter count).
    additions: u64,
    /// Number of additions that triggers a reset (halving).
    sample_size: u64,
}

impl FrequencySketch {
    /// A sketch sized for a cache of `capacity` entries: `next_power_of_two(capacity)` words
    /// (16 counters per entry, at least one word, at most 2^20 words) and a reset every
    /// `10 × capacity` additions.
    pub fn with_capacity(capacity: usize) -> Self {
        Self::with_sample_size(capacity, (capacity.max(1) as u64).saturating_mul(10))
    }

    /// Like [`with_capacity`](Self::with_capacity) but aging after `sample_size` additions
    /// (at least 1).
    pub fn with_sample_size(capacity: usize, sample_size: u64) -> Self {
        let words = capacity.clamp(1, MAX_WORDS).next_power_of_two();
        Self {
            table: vec![0; words],
            additions: 0,
            sample_size: sample_size.max(1),
        }
    }

    /// Rebuilds a sketch from persisted parts; `None` when they are inconsistent (table length not
    /// a power of two or above the maximum, zero sample size).
    pub fn from_parts(table: Vec<u64>, additions: u64, sample_size: u64) -> Option<Self> {
        let ok = table.len().is_power_of_two() && table.len() <= MAX_WORDS && sample_size > 0;
        ok.then_some(Self {
            table,
            additions: additions.min(sample_size),
            sample_size,
        })
    }

    /// The counter words (for persistence).
    pub fn table(&self) -> &[u64] {
        &self.table
    }

    /// Additions since the last reset (for persistence).
    pub fn additions(&self) -> u64 {
        self.additions
    }

    /// Additions between resets (for persistence).
    pub fn sample_size(&self) -> u64 {
        self.sample_size
    }

    /// The estimated recent frequency of `hash`, 0..=15.
    pub fn frequency(&self, hash: u64) -> u8 {
        let (spread, start) = Self::spread(hash);
        let mut min = MAX_COUNT;
        for i in 0..DEPTH {
            let word = self
                .table
                .get(self.index_of(spread, i))
                .copied()
                .unwrap_or(0);
            min = min.min((word >> Self::shift(start, i)) & MAX_COUNT);
        }
        min as u8
    }

    /// Records one occurrence of `hash`; halves all counters when the sample is full.
    pub fn increment(&mut self, hash: u64) {
        let (spread, start) = Self::spread(hash);
        let mut added = false;
        for i in 0..DEPTH {
            let index = self.index_of(spread, i);
            let shift = Self::shift(start, i);
            if let Some(word) = self.table.get_mut(index) {
                if (*word >> shift) & MAX_COUNT < MAX_COUNT {
                    *word += 1 << shift;
                    added = true;
                }
            }
        }
        if added {
            self.additions += 1;
            if self.additions >= self.sample_size {
                self.reset();
            }
        }
    }

    /// Halves every counter (aging).
    pub fn reset(&mut self) {
        let mut odd = 0u64;
        for word in &mut self.table {
            odd += u64::from((*word & ONE_MASK).count_ones());
            *word = (*word >> 1) & RESET_MASK;
        }
        // Each key owns DEPTH counters, so odd/DEPTH approximates the half-units lost by keys.
        self.additions = self.additions.saturating_sub(odd / DEPTH as u64) / 2;
    }

    /// The mixed hash and the first nibble position (0, 4, 8 or 12) of this key's counters.
    fn spread(hash: u64) -> (u64, u32) {
        let spread = mix64(hash);
        (spread, ((spread & 3) << 2) as u32)
    }

    /// Bit shift of counter `i` (nibble `start + i`) inside its word.
    fn shift(start: u32, i: usize) -> u32 {
        (start + i as u32) << 2
    }

    /// Word index of the `i`-th hash of a key.
    fn index_of(&self, spread: u64, i: usize) -> usize {
        let seed = SEEDS.get(i).copied().unwrap_or(SEEDS[0]);
        let mut h = spread.wrapping_add(seed).wrapping_mul(seed);
        h = h.wrapping_add(h >> 32);
        (h as usize) & (self.table.len() - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::web::normalize::key_hash;

    #[test]
    fn counts_up_to_fifteen_and_saturates() {
        let mut s = FrequencySketch::with_capacity(1000);
        let h = key_hash("popular");
        assert_eq!(s.frequency(h), 0);
        for expected in 1..=15 {
            s.increment(h);
            assert_eq!(s.frequency(h), expected);
        }
        s.increment(h);
        assert_eq!(s.frequency(h), 15);
        assert_eq!(s.frequency(key_hash("never seen")), 0);
    }

    #[test]
    fn estimates_are_close_for_many_keys() {
        // 1000 keys seen 1..=5 times in a sketch sized for 1000: count-min never underestimates,
        // and with 16 counters per key almost every estimate is exact.
        let mut s = FrequencySketch::with_capacity(1000);
        for k in 0..1000u64 {
            for _ in 0..(k % 5 + 1) {
                s.increment(key_hash(&k.to_string()));
            }
        }
        let mut exact = 0;
        for k in 0..1000u64 {
            let f = u64::from(s.frequency(key_hash(&k.to_string())));
            let truth = k % 5 + 1;
            assert!(f >= truth, "count-min never underestimates");
            exact += u64::from(f == truth);
        }
        assert!(exact >= 950, "{exact} exact of 1000");
    }

    #[test]
    fn halves_after_ten_times_capacity_additions() {
        let mut s = FrequencySketch::with_capacity(10);
        assert_eq!(s.sample_size(), 100);
        let hot = key_hash("hot");
        for _ in 0..15 {
            s.increment(hot);
        }
        assert_eq!(s.frequency(hot), 15);
        // 85 more distinct additions reach the sample size of 100 and trigger the halving.
        for k in 0..85 {
            s.increment(key_hash(&format!("cold {k}")));
        }
        assert_eq!(s.frequency(hot), 7);
        assert!(s.additions() < 50);
    }

    #[test]
    fn parts_round_trip_and_are_validated() {
        let mut s = FrequencySketch::with_capacity(64);
        s.increment(7);
        let back = FrequencySketch::from_parts(s.table().to_vec(), s.additions(), s.sample_size())
            .unwrap();
        assert_eq!(back, s);
        assert!(FrequencySketch::from_parts(vec![0; 3], 0, 10).is_none());
        assert!(FrequencySketch::from_parts(vec![0; 4], 0, 0).is_none());
    }
}
