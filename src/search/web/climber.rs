//! The adaptive admission window of the web-cache policy: how [`super::policy::CachePolicy`]
//! decides, once per sample period, how many of its entries the LRU admission window gets and how
//! many the TinyLFU-guarded main space keeps.
//!
//! # Why adapt
//!
//! The best split depends on the traffic. Frequency-heavy traffic (a stable head of popular
//! queries, loops, scans) wants a window of about 1%: every entry in the window is one the
//! frequency filter could have kept. Recency-heavy traffic (bursts of news queries that are hot
//! for an hour and gone) wants most of the cache as window: new keys are re-requested soon after
//! their first request, before their frequency can beat the main space's residents. Replayed on
//! the LIRS traces (docs/BENCHMARKS.md), the best fixed window ranges from ≤1% (loop, scan, gli,
//! ps) to 60–95% (sprite), and a wrong fixed window costs up to 40 points.
//!
//! # The climbers
//!
//! Every climber counts the requests (hits and misses) the policy records; every
//! `sample_factor × capacity` requests (at least [`MIN_SAMPLE`]) a sample ends and the window
//! bound moves by one step, the main space by the opposite amount. The policy's floor is the
//! configured share (1%), its ceiling all entries but one (or the configured share, if larger).
//! The first [`WARMUP_SAMPLES`] samples only measure (see there).
//!
//! - [`Climber::Marginal`] (shipped): a *marginal-hit* climber, with the hit rate as its audit.
//!   It estimates, within the sample, what moving `Δ` entries (a quarter of the capacity,
//!   [`GHOST_PERMILLE`]) from one side to the other would gain and cost:
//!   - gain of a bigger window: misses on keys in the *window ghost*, the last `Δ` candidates
//!     that lost TinyLFU admission at the window's end (a window bigger by `Δ` would still have
//!     held them), weighted by [`WINDOW_GHOST_WEIGHT`];
//!   - gain of a bigger main space: misses on keys in the *main ghost*, the last `Δ` victims
//!     evicted from main;
//!   - cost of a smaller main space: first hits, this sample, on the `Δ` entries at main's
//!     eviction end (probation's LRU end, then protected's), marked when the sample started;
//!   - cost of a smaller window: first hits on the `Δ` entries at the window's LRU end.
//!
//!   The window grows when gain minus cost of growing exceeds twice the Poisson noise of the two
//!   counts, shrinks on the same test the other way, and stays otherwise. When both tests pass
//!   (each side claims it would earn more than the other's end does), the side with the larger
//!   net gain moves, the window ghost counted once: main's evicted keys come back too, so the
//!   traffic rewards frequency, and the weight's allowance for recency does not apply. The step is
//!   [`MAX_STEP_PERMILLE`] of the capacity scaled by how one-sided the evidence is. A growth
//!   is a probe: the first is a quarter step, and each confirmed one doubles it up to the whole
//!   step; if after a growth the ghosts stop asking for more and the sample's hit rate fell by
//!   more than twice its noise, the growth is undone and growth is held off for 1, 2, 4 … 64
//!   samples. A sample ends early when the evidence is one-sided and large (a burst of new keys:
//!   the other side's count at most a seventh of the gain, see `one_sided`), so bursts are
//!   followed within a fraction of a sample. When the window's tail earned nothing
//!   and a bigger window would not have earned more than main's tail, the window gives a step
//!   back: on a loop larger than the cache, main never evicts (its equally frequent keys always
//!   win), so its ghost stays empty and only this rule brings a window an earlier phase grew
//!   back to 1%.
//!
//!   Both estimates are measured in the same sample on the current split, so the traffic's phase
//!   cancels (unlike a hit-rate comparison across samples), and they compare *marginal* values,
//!   which is where a split maximizes the total hit rate (unlike Caffeine's newest hit-density
//!   climber, which equalizes average values and so leans towards too large a window on
//!   frequency-heavy traffic). Where neither side earns anything (loop, scan) the window stays at
//!   1% instead of paying for exploratory probes.
//!
//!   What marginal estimates cannot see is a split far from the current one: from a full window
//!   (main down to one entry) main's ghost cannot show what a 99% main space would earn, and a
//!   reuse distance beyond the window plus the ghost length (a quarter of the capacity) shows in
//!   no ghost at all. The first is covered by the policy's fixed-window audit
//!   ([`super::audit`]: a sampled simulation of the 1% window beside the policy; when it hits
//!   significantly more, the window goes back to 1% and growth is held off via
//!   [`ClimberState::refute`]). The second is not: traffic whose only reuse is at such distances
//!   (every new key asked twice, half a capacity apart) keeps the window at 1% where LRU hits
//!   half the requests.
//! - [`Climber::HitRate`]: Caffeine's classic hill climber, kept as the benchmark's reference.
//!   It compares the sample's hit rate with the previous sample's: the direction is kept while the
//!   hit rate does not fall and reversed when it does; the step starts at 6.25% of the capacity,
//!   decays by 2% per sample, and restarts at 6.25% when the hit rate moves by 5 points or more.
//! - [`Climber::Fixed`]: the window stays at its configured share (the W-TinyLFU reference).
//!
//! The climber's state (counters, step, probe, hold, ghosts, tail marks) is integers only and
//! persisted in the policy snapshot, so a restored policy takes the same climbing decisions (its
//! fixed-window audit, which is not persisted, starts over); nothing here does I/O. Its memory is bounded by the capacity: two ghosts of a quarter of it each.

use std::collections::{HashMap, VecDeque};

/// Fewest requests in a sample, whatever the capacity (a smaller sample is mostly noise).
pub const MIN_SAMPLE: u64 = 128;
/// Samples at the start that only measure: no growth, and no sample ends early (4 × capacity
/// requests with the default sample factor of 2). While the sketch is young every candidate's
/// frequency is underestimated, TinyLFU turns away candidates it would later admit, and the
/// window's ghost asks for a growth the traffic does not need: Zipf(0.8) at 24,143 entries grew
/// to 44% and ended 0.8 points below the fixed 1% window, 0.6 with this warm-up (longer warm-ups
/// cost multi2 and sprite, which need the window to grow early). Since contested evidence is
/// judged without the window ghost's weight (see [`ClimberState`]'s marginal step), that cell is
/// fixed by the step rule itself, and 0, 1 and 2 warm-up samples give the same benchmark table
/// to 0.2 points in total; 2 is kept so that no decision rests on a sketch that has seen fewer
/// than 4 × capacity requests.
pub const WARMUP_SAMPLES: u64 = 2;
/// Largest window move per sample, in thousandths of the capacity.
pub const MAX_STEP_PERMILLE: u64 = 125;
/// Ghost length (the marginal step measured), in thousandths of the capacity.
pub const GHOST_PERMILLE: u64 = 250;
/// A window-ghost hit counts this many times against main's tail hits. The ghost count is a
/// first-order estimate that undercounts: a key that lost admission and comes back would, in a
/// bigger window, also have been refreshed there and hit again, which the single ghost hit does
/// not count. Calibrated on the benchmark traces (docs/BENCHMARKS.md) while the probe rules were
/// still being developed: at 1 the climber kept too small a window on recency-heavy traffic
/// (sprite 0.7 and the shift trace at 31,016 entries 2.6 points below LRU), at 1.5 still 1.8 on
/// the shift trace; at 2 every cell meets the adaptive target. Applied only while main's ghost
/// does not also ask for room (contested evidence is judged on the unweighted count).
pub const WINDOW_GHOST_WEIGHT: u64 = 2;
/// A sample ends early only on at least this many (weighted) hits of net gain.
const MIN_DECISIVE: u64 = 32;
/// The longest hold after refuted growths is `2^MAX_HOLD_LEVEL` samples.
const MAX_HOLD_LEVEL: u64 = 6;
/// Confirmed growths after which the growth step is whole (see `audited_marginal`).
const MAX_GROW_STREAK: u64 = 2;
/// Hit-rate climber: first step and restart step, in ten-thousandths of the capacity (6.25%).
const HIT_RATE_STEP_BP: u64 = 625;
/// Hit-rate climber: a hit-rate change of this many parts per million restarts the step (5 pt).
const HIT_RATE_RESTART_PPM: u64 = 50_000;
/// Hit-rate climber: the step keeps this many percent per sample.
const HIT_RATE_DECAY_PERCENT: u64 = 98;

/// How the admission window is sized (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Climber {
    /// The window keeps its configured share.
    Fixed,
    /// Caffeine's classic hill climber on the sample hit rate.
    HitRate,
    /// The marginal-hit climber with ghost lists (the default).
    Marginal,
}

impl Climber {
    /// The persisted code of the climber.
    pub fn code(self) -> u64 {
        match self {
            Self::Fixed => 0,
            Self::HitRate => 1,
            Self::Marginal => 2,
        }
    }

    /// The climber of a persisted code.
    pub fn from_code(code: u64) -> Option<Self> {
        match code {
            0 => Some(Self::Fixed),
            1 => Some(Self::HitRate),
            2 => Some(Self::Marginal),
            _ => None,
        }
    }
}

/// A bounded FIFO of key hashes with O(1) membership: the last `capacity` keys that left one side
/// of the cache. A key may appear more than once (it left, came back and left again).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ghost {
    order: VecDeque<u64>,
    counts: HashMap<u64, u32>,
    capacity: usize,
}

impl Ghost {
    /// An empty ghost of `capacity` hashes.
    pub fn new(capacity: usize) -> Self {
        Self {
            order: VecDeque::new(),
            counts: HashMap::new(),
            capacity,
        }
    }

    /// Remembers `hash`, forgetting the oldest one when full.
    pub fn push(&mut self, hash: u64) {
        if self.capacity == 0 {
            return;
        }
        self.order.push_back(hash);
        *self.counts.entry(hash).or_insert(0) += 1;
        self.trim();
    }

    /// Whether `hash` is remembered.
    pub fn contains(&self, hash: u64) -> bool {
        self.counts.contains_key(&hash)
    }

    /// Changes the capacity, forgetting the oldest hashes that no longer fit.
    pub fn set_capacity(&mut self, capacity: usize) {
        self.capacity = capacity;
        self.trim();
    }

    /// Most hashes held.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Hashes held, oldest first (for persistence).
    pub fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        self.order.iter().copied()
    }

    /// Hashes held.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    fn trim(&mut self) {
        while self.order.len() > self.capacity {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if let Some(count) = self.counts.get_mut(&old) {
                *count -= 1;
                if *count == 0 {
                    self.counts.remove(&old);
                }
            }
        }
    }
}

/// The climber's counters between and across samples (persisted as [`ClimberState::to_words`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClimberState {
    /// Hits recorded in the current sample.
    pub sample_hits: u64,
    /// Misses recorded in the current sample.
    pub sample_misses: u64,
    /// Misses on keys in the window's ghost, this sample.
    pub window_ghost_hits: u64,
    /// Misses on keys in main's ghost, this sample.
    pub main_ghost_hits: u64,
    /// Marked entries at the window's LRU end hit this sample (each counted once).
    pub window_tail_hits: u64,
    /// Marked entries at main's eviction end hit this sample (each counted once).
    pub main_tail_hits: u64,
    /// Completed samples.
    pub samples: u64,
    /// Hit-rate climber: the previous sample's hit rate, parts per million.
    pub previous_ppm: u64,
    /// Hit-rate climber: the step, in ten-thousandths of the capacity.
    pub step_bp: u64,
    /// Hit-rate climber: true while growing the window.
    pub growing: bool,
    /// Marginal climber: entries the window grew by at the end of the previous sample, to be
    /// audited at the end of this one (0: none).
    pub pending_grow: u64,
    /// Marginal climber: no growth before this sample number (after a refuted growth).
    pub hold_until: u64,
    /// Marginal climber: refuted growths in a row (the hold doubles with each, up to 64 samples).
    pub hold_level: u64,
    /// Marginal climber: confirmed growths in a row, up to 2 (the growth step doubles with each).
    pub grow_streak: u64,
}

/// Number of words [`ClimberState::to_words`] writes.
pub const STATE_WORDS: usize = 14;

impl ClimberState {
    /// A fresh state: no sample yet, the hit-rate climber about to grow with its first step.
    pub fn new() -> Self {
        Self {
            step_bp: HIT_RATE_STEP_BP,
            growing: true,
            ..Self::default()
        }
    }

    /// The state as persisted words.
    pub fn to_words(&self) -> [u64; STATE_WORDS] {
        [
            self.sample_hits,
            self.sample_misses,
            self.window_ghost_hits,
            self.main_ghost_hits,
            self.window_tail_hits,
            self.main_tail_hits,
            self.samples,
            self.previous_ppm,
            self.step_bp,
            u64::from(self.growing),
            self.pending_grow,
            self.hold_until,
            self.hold_level,
            self.grow_streak,
        ]
    }

    /// The state of persisted words; `None` when a word is out of range.
    pub fn from_words(w: [u64; STATE_WORDS]) -> Option<Self> {
        let [sample_hits, sample_misses, window_ghost_hits, main_ghost_hits, window_tail_hits, main_tail_hits, samples, previous_ppm, step_bp, growing, pending_grow, hold_until, hold_level, grow_streak] =
            w;
        if previous_ppm > 1_000_000
            || step_bp > 10_000
            || growing > 1
            || hold_level > MAX_HOLD_LEVEL
            || grow_streak > MAX_GROW_STREAK
        {
            return None;
        }
        Some(Self {
            sample_hits,
            sample_misses,
            window_ghost_hits,
            main_ghost_hits,
            window_tail_hits,
            main_tail_hits,
            samples,
            previous_ppm,
            step_bp,
            growing: growing == 1,
            pending_grow,
            hold_until,
            hold_level,
            grow_streak,
        })
    }

    /// Whether the current sample is complete for a cache of `capacity` entries.
    pub fn sample_full(&self, capacity: u64, sample_factor: u32) -> bool {
        let len = capacity
            .saturating_mul(u64::from(sample_factor))
            .max(MIN_SAMPLE);
        self.sample_hits.saturating_add(self.sample_misses) >= len
            || (self.samples >= WARMUP_SAMPLES && self.decisive())
    }

    /// Whether the sample already justifies the largest step: then it ends early, so a sudden
    /// burst of new keys is followed within a fraction of a sample.
    fn decisive(&self) -> bool {
        self.surge() || one_sided(self.main_ghost_hits, self.window_tail_hits)
    }

    /// Whether growth is asked for one-sidedly (see [`one_sided`]).
    fn surge(&self) -> bool {
        one_sided(self.window_gain(), self.main_tail_hits)
    }

    /// Ends the sample: the new window bound for a cache of `capacity` entries whose window
    /// holds `window` entries at most, within `min..=max`; resets the sample counters.
    pub fn end_sample(
        &mut self,
        climber: Climber,
        capacity: u64,
        window: u64,
        (min, max): (u64, u64),
    ) -> u64 {
        let target = match climber {
            Climber::Fixed => window,
            Climber::Marginal => self.audited_marginal(capacity, window),
            Climber::HitRate => self.hit_rate(capacity, window),
        };
        self.samples = self.samples.saturating_add(1);
        self.sample_hits = 0;
        self.sample_misses = 0;
        self.window_ghost_hits = 0;
        self.main_ghost_hits = 0;
        self.window_tail_hits = 0;
        self.main_tail_hits = 0;
        target.clamp(min, max.max(min))
    }

    /// Holds growth off as after a refuted growth (1, 2, 4, … 64 samples): what the policy does
    /// when its fixed-window audit ([`super::audit`]) finds the configured window ahead.
    pub fn refute(&mut self) {
        self.pending_grow = 0;
        self.grow_streak = 0;
        self.hold_until = self.samples.saturating_add(1 + (1 << self.hold_level));
        self.hold_level = (self.hold_level + 1).min(MAX_HOLD_LEVEL);
    }

    /// The marginal step, with growth audited by the hit rate: a growth after which the hit
    /// rate fell by more than twice the noise of the difference is undone and growth is held off
    /// for 1, 2, 4, … 64 samples. The ghost estimate leans towards the window (see
    /// [`WINDOW_GHOST_WEIGHT`]); the audit is what stops it from walking a frequency-heavy cache
    /// into a window it does not need (Zipf(0.8) at 24,000 entries lost 1.2 points without it).
    fn audited_marginal(&mut self, capacity: u64, window: u64) -> u64 {
        let n = self.sample_hits.saturating_add(self.sample_misses).max(1);
        let ppm = u64::try_from(u128::from(self.sample_hits) * 1_000_000 / u128::from(n))
            .unwrap_or(1_000_000);
        let previous = std::mem::replace(&mut self.previous_ppm, ppm);
        let grown = std::mem::take(&mut self.pending_grow);
        let target = self.marginal(capacity, window);
        let wants_growth = target > window;
        if grown > 0 {
            // Two standard deviations of the difference of two sample hit rates, in ppm.
            let noise = isqrt(8 * ppm * (1_000_000 - ppm.min(1_000_000)) / n);
            // Refuted only when the ghosts no longer ask for growth either: a fall while they
            // still do is the traffic changing (a burst of new keys), not the step.
            if !wants_growth && previous.saturating_sub(ppm) > noise {
                self.refute();
                return window.saturating_sub(grown);
            }
            self.hold_level = 0;
            if wants_growth {
                self.grow_streak = (self.grow_streak + 1).min(MAX_GROW_STREAK);
            }
        }
        if wants_growth {
            if self.samples < self.hold_until || self.samples < WARMUP_SAMPLES {
                return window;
            }
            // A first growth is a quarter step, a confirmed one half, then whole: a probe that
            // turns out wrong costs little, and a real burst still gets the whole step within
            // three samples.
            let step = ((target - window) >> (MAX_GROW_STREAK - self.grow_streak)).max(1);
            self.pending_grow = step;
            return window.saturating_add(step);
        }
        if target < window {
            self.grow_streak = 0;
        }
        target
    }

    fn marginal(&self, capacity: u64, window: u64) -> u64 {
        // The step is the largest one scaled by how one-sided the evidence is.
        let step = |gain: u64, cost: u64| {
            let total = u128::from(gain.saturating_add(cost)).max(1);
            let net = u128::from(gain.saturating_sub(cost));
            u64::try_from(u128::from(max_step(capacity)) * net / total)
                .unwrap_or(u64::MAX)
                .max(1)
        };
        let (grow, shrink) = self.gains();
        let grows = match (grow, shrink) {
            (Some(_), None) => true,
            // Contested: both ghosts ask for room, so each side claims it would earn more than
            // the other's end does. Then the window ghost's weight (an allowance for what a
            // returning key earns in a bigger window, see [`WINDOW_GHOST_WEIGHT`]) is not given:
            // main's evicted keys return as well, so the traffic rewards frequency, and the
            // weighted count kept growing the window of a stationary Zipf(0.8) cache of 24,143
            // entries to 41% while the fixed 1% window was 0.6 points ahead.
            (Some(_), Some(shrink)) => {
                self.window_ghost_hits.saturating_sub(self.main_tail_hits) >= shrink
            }
            (None, _) => false,
        };
        match shrink {
            _ if grows => window.saturating_add(step(self.window_gain(), self.main_tail_hits)),
            Some(_) => window.saturating_sub(step(self.main_ghost_hits, self.window_tail_hits)),
            None if self.window_tail_hits == 0 && self.window_ghost_hits <= self.main_tail_hits => {
                // The window's tail earned nothing and a bigger window would not have earned
                // more than main's tail: that room is idle, give it back. Without this a loop
                // (where main, full of equally frequent keys, never evicts and so never fills
                // its ghost) would keep whatever window an earlier phase left.
                window.saturating_sub(max_step(capacity))
            }
            None => window,
        }
    }

    /// The window's ghost hits, weighted by [`WINDOW_GHOST_WEIGHT`].
    fn window_gain(&self) -> u64 {
        self.window_ghost_hits.saturating_mul(WINDOW_GHOST_WEIGHT)
    }

    /// The significant net gains of growing and of shrinking the window by the ghost length:
    /// what the side that grows would have earned (its ghost hits, the window's weighted) minus
    /// what the side that shrinks did earn at its end (its tail hits); `None` unless the net gain
    /// exceeds twice the Poisson noise of the two counts.
    fn gains(&self) -> (Option<u64>, Option<u64>) {
        let significant = |gain: u64, cost: u64| {
            let noise = 2 * isqrt(gain.saturating_add(cost));
            gain.checked_sub(cost).filter(|&net| net > noise.max(1))
        };
        (
            significant(self.window_gain(), self.main_tail_hits),
            significant(self.main_ghost_hits, self.window_tail_hits),
        )
    }

    fn hit_rate(&mut self, capacity: u64, window: u64) -> u64 {
        let total = self.sample_hits.saturating_add(self.sample_misses).max(1);
        let ppm = u64::try_from(u128::from(self.sample_hits) * 1_000_000 / u128::from(total))
            .unwrap_or(1_000_000);
        if self.samples > 0 {
            if ppm < self.previous_ppm {
                self.growing = !self.growing;
            }
            if ppm.abs_diff(self.previous_ppm) >= HIT_RATE_RESTART_PPM {
                self.step_bp = HIT_RATE_STEP_BP;
            } else {
                self.step_bp = self.step_bp * HIT_RATE_DECAY_PERCENT / 100;
            }
        }
        self.previous_ppm = ppm;
        let step = u64::try_from(u128::from(capacity) * u128::from(self.step_bp) / 10_000)
            .unwrap_or(u64::MAX)
            .max(1);
        if self.growing {
            window.saturating_add(step)
        } else {
            window.saturating_sub(step)
        }
    }
}

/// Whether a side's gain is both significant (at least [`MIN_DECISIVE`] net) and one-sided (the
/// other side's cost at most a seventh of it): the evidence of a burst, not of a slow drift.
///
/// A seventh, not the fifteenth of sessions 4–7: right after a burst of new keys, main's tail
/// soon holds some of them too, so its hits rise with the window ghost's and a fifteenth made
/// the samples that should follow the burst run their full length (the shift trace at 10,000
/// entries took 70,000 requests to reach a full window where 5,000 suffice, depending on where
/// a sample boundary fell). The faster growth this allows is safe only with the fixed-window
/// audit ([`super::audit`]): without it the window also ran to its ceiling after the shift at
/// 2,000 entries and stayed there (3.6 points below the fixed window).
fn one_sided(gain: u64, cost: u64) -> bool {
    let net = gain.saturating_sub(cost);
    net >= MIN_DECISIVE && net.saturating_mul(4) >= gain.saturating_add(cost).saturating_mul(3)
}

/// The largest window move per sample for `capacity` entries (at least 1).
fn max_step(capacity: u64) -> u64 {
    u64::try_from(u128::from(capacity) * u128::from(MAX_STEP_PERMILLE) / 1000)
        .unwrap_or(u64::MAX)
        .max(1)
}

/// Integer square root (floor).
fn isqrt(n: u64) -> u64 {
    if n < 2 {
        return n;
    }
    // Newton's iteration from an upper bound; converges in a few steps for u64.
    let mut x = 1u64 << (64 - n.leading_zeros()).div_ceil(2);
    loop {
        let y = (x + n / x) / 2;
        if y >= x {
            return x;
        }
        x = y;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ghost_is_a_bounded_fifo_with_membership() {
        let mut g = Ghost::new(3);
        for h in [1, 2, 1, 3] {
            g.push(h);
        }
        assert_eq!(g.iter().collect::<Vec<_>>(), vec![2, 1, 3]);
        assert!(g.contains(1) && g.contains(2) && g.contains(3));
        g.push(4);
        assert!(!g.contains(2) && g.contains(1));
        g.set_capacity(1);
        assert_eq!(g.iter().collect::<Vec<_>>(), vec![4]);
        assert!(!g.contains(1));
        let mut none = Ghost::new(0);
        none.push(9);
        assert!(none.is_empty());
    }

    #[test]
    fn isqrt_is_the_floor() {
        for n in 0..10_000u64 {
            let r = isqrt(n);
            assert!(r * r <= n && (r + 1) * (r + 1) > n, "{n}");
        }
        assert_eq!(isqrt(u64::MAX), u64::from(u32::MAX));
    }

    /// One sample's counts: (window ghost, main ghost, window tail, main tail, hits, misses).
    fn sample(s: &mut ClimberState, counts: [u64; 6], window: u64) -> u64 {
        [
            s.window_ghost_hits,
            s.main_ghost_hits,
            s.window_tail_hits,
            s.main_tail_hits,
            s.sample_hits,
            s.sample_misses,
        ] = counts;
        s.end_sample(Climber::Marginal, 1000, window, (10, 999))
    }

    #[test]
    fn the_warm_up_samples_only_measure() {
        let mut s = ClimberState::new();
        // One-sided and large evidence for growth: it would end a later sample early.
        [s.window_ghost_hits, s.sample_hits, s.sample_misses] = [400, 10, 10];
        assert!(!s.sample_full(1000, 10), "no early end while warming up");
        for _ in 0..WARMUP_SAMPLES {
            assert_eq!(sample(&mut s, [400, 0, 0, 0, 500, 500], 10), 10);
        }
        [s.window_ghost_hits, s.sample_hits, s.sample_misses] = [400, 10, 10];
        assert!(
            s.sample_full(1000, 10),
            "a decisive sample ends early after the warm-up"
        );
        assert!(
            sample(&mut s, [400, 0, 0, 0, 500, 500], 10) > 10,
            "then it grows"
        );
    }

    #[test]
    fn marginal_probes_confirms_refutes_holds_and_shrinks() {
        let mut s = ClimberState::new();
        s.samples = WARMUP_SAMPLES;
        // Weighted gain 10 against cost 8: within the noise, no move.
        assert_eq!(sample(&mut s, [5, 0, 3, 8, 500, 500], 10), 10);
        // One-sided gain: a probe of a quarter of the whole step (125 / 4).
        assert_eq!(sample(&mut s, [40, 0, 3, 0, 500, 500], 10), 41);
        // Still asked for: confirmed, half a step.
        assert_eq!(sample(&mut s, [40, 0, 3, 0, 500, 500], 41), 103);
        // The ghosts stop asking and the hit rate fell 10 points: undone, growth held.
        assert_eq!(sample(&mut s, [0, 0, 5, 20, 400, 600], 103), 41);
        assert_eq!(sample(&mut s, [40, 0, 3, 0, 500, 500], 41), 41, "held");
        assert_eq!(
            sample(&mut s, [40, 0, 3, 0, 500, 500], 41),
            72,
            "a new probe"
        );
        // Main's ghost earns what the window's tail did not: shrink (to the floor here).
        assert_eq!(sample(&mut s, [0, 60, 0, 0, 500, 500], 72), 10);
        // Nothing earned anywhere: an idle large window gives a step back.
        assert_eq!(sample(&mut s, [0, 0, 0, 0, 500, 500], 500), 375);
        assert_eq!(s.samples, WARMUP_SAMPLES + 8);
    }

    #[test]
    fn contested_evidence_is_judged_without_the_window_ghost_weight() {
        let mut s = ClimberState::new();
        s.samples = WARMUP_SAMPLES;
        // Both ghosts ask for room: weighted, growth nets 2 × 1500 − 650 = 2350 against
        // shrinking's 1450 − 120 = 1330; unweighted, growth nets only 850, so the window shrinks
        // (what a frequency-heavy cache whose window has grown to 3,500 of 24,000 entries shows).
        let shrunk = sample(&mut s, [1500, 1450, 120, 650, 650, 350], 500);
        assert!(shrunk < 500, "shrank to {shrunk}");
        // Uncontested, the same window-ghost count (weighted) wins against main's tail.
        let mut s = ClimberState::new();
        s.samples = WARMUP_SAMPLES;
        assert!(sample(&mut s, [1500, 0, 120, 650, 650, 350], 500) > 500);
        // Contested, but the window's unweighted net (2000 − 300) still beats main's (900 − 100).
        let mut s = ClimberState::new();
        s.samples = WARMUP_SAMPLES;
        assert!(sample(&mut s, [2000, 900, 100, 300, 650, 350], 500) > 500);
    }

    #[test]
    fn hit_rate_climber_reverses_on_a_drop() {
        let mut s = ClimberState::new();
        s.sample_hits = 50;
        s.sample_misses = 50;
        assert_eq!(s.end_sample(Climber::HitRate, 1000, 10, (1, 999)), 72);
        s.sample_hits = 40;
        s.sample_misses = 60; // a 10-point drop: reverse, restart the step
        assert_eq!(s.end_sample(Climber::HitRate, 1000, 72, (1, 999)), 10);
        s.sample_hits = 41;
        s.sample_misses = 59; // better: keep shrinking, decayed step
        assert_eq!(s.end_sample(Climber::HitRate, 1000, 300, (1, 999)), 239);
    }

    #[test]
    fn state_words_round_trip_and_are_validated() {
        let mut s = ClimberState::new();
        s.sample_hits = 7;
        s.previous_ppm = 123;
        assert_eq!(ClimberState::from_words(s.to_words()), Some(s));
        let mut bad = s.to_words();
        bad[9] = 2; // `growing` is a bool
        assert_eq!(ClimberState::from_words(bad), None);
    }
}
