//! The W-TinyLFU admission and eviction policy of one web-cache shard, bounded in entries and
//! bytes.
//!
//! # How the edge uses it
//!
//! Workers KV holds the cached values (fast global reads) but has no capacity bound, so the bound
//! is kept by the cache shards. The key space is split into shards by
//! [`super::normalize::shard_of`]; each shard is a Durable Object running one
//! [`super::shard::Shard`], which owns a `CachePolicy` with its share of `CACHE_MAX_ENTRIES` and
//! `CACHE_MAX_BYTES` (see [`PolicyConfig::for_shard`]) next to a ledger of what may be in KV:
//!
//! 1. An isolate misses (L1 and KV), calls the upstream, and sends `(hash, value)` to the shard.
//! 2. The shard calls [`CachePolicy::insert`]; the hashes in `Admission::evicted` are deleted from
//!    KV (key [`super::normalize::kv_key_for_hash`]) and the value is written when `admitted` —
//!    in the order and under the conditions the shard core sets, so that KV stays within the
//!    bound under concurrency and failures (see [`super::shard`]).
//! 3. Hits never wait on the shard: the isolate pushes the hash into its lossy
//!    [`super::read_buffer::ReadBuffer`] and now and then sends the batch, which the shard applies
//!    with [`CachePolicy::record_hits`] (recency and frequency only; losing some is harmless).
//! 4. The shard persists [`CachePolicy::snapshot`] (inside its own snapshot) before it touches KV
//!    whenever the resident set changed, and [`CachePolicy::restore`]s it on startup; hits are
//!    saved lazily (losing them costs a little recency/frequency information). Its alarm calls
//!    [`CachePolicy::expire`] for entries KV's own expiration removed, [`CachePolicy::remove`]
//!    for keys it gives up, and [`CachePolicy::set_capacity`] when the configuration shrank.
//!
//! # The algorithm (after Caffeine's W-TinyLFU)
//!
//! - **Admission window** (an LRU, [`PolicyConfig::window_permille`] of the capacity, 1% by
//!   default): every new entry lands here, so a burst of new keys gets a chance to prove itself
//!   without flushing the main space (this is what moka's TinyLFU lacks).
//! - **Main space**, a segmented LRU: *probation* (about 20%) for entries seen once in main, and
//!   *protected* (80%, [`PolicyConfig::protected_permille`]) for entries hit while on probation.
//!   A protected overflow demotes its LRU entry back to probation's MRU end.
//! - **TinyLFU admission**: when the window overflows, its LRU entry becomes a *candidate* for
//!   main. While the shard is over either bound the candidate is compared with probation's LRU
//!   entry (the *victim*) by the [`FrequencySketch`] estimate: the candidate enters only when
//!   strictly more frequent, else it is evicted. As in Caffeine, a candidate of frequency ≥ 6
//!   that loses is still admitted with probability 1/128 (a seeded deterministic generator), which
//!   stops an attacker from pinning a victim by inflating its count (hash flooding).
//! - **Bytes**: a large candidate may need several victims; each is compared in turn. An entry
//!   larger than the byte capacity is rejected outright.
//! - **Adaptive window** ([`super::climber`]): the window's 1% is only where it starts. Once per
//!   sample period (`sample_factor × capacity` requests, 2 by default) the climber moves the
//!   window bound, and the main space by the opposite amount, from what the sample measured: the
//!   misses a bigger window would have served (keys that recently lost admission at the window's
//!   end) against those a bigger main space would have served (keys recently evicted from main).
//!   Frequency-heavy traffic keeps the window at 1%; recency-heavy traffic grows it to most of
//!   the cache. The configured share is the floor; main keeps at least one entry. Moving the
//!   bound evicts nothing by itself: a grown window takes main's room as new keys arrive, and a
//!   shrunk window's overflow goes through admission at the next insert.
//! - **Fixed-window audit** ([`super::audit`]): beside an adaptive policy runs a miniature
//!   simulation of the same policy with the window fixed at its share, on a hash sample of the
//!   keys (about 2,048 simulated entries whatever the capacity). When, over a period of 8 ×
//!   the simulation's capacity in sampled requests, it hits significantly and materially more
//!   than the policy on the same requests, the window goes back to its share and growth is held
//!   off. It catches what the climber's local estimates cannot (a window left at its ceiling
//!   after a burst). It holds key hashes only and is not part of the snapshot: after a restore it
//!   starts empty, which can delay a verdict, never cause one.
//!
//! # What this replaced
//!
//! Until issue 12 the window was fixed at 1% and a *shift detector* aged the sketch three extra
//! times and emptied the protected segment whenever a sample's hit ratio fell by 5 points. It
//! helped the synthetic shift trace (76.9% at 10,000 entries, the adaptive window gets 75.2%),
//! but on the LIRS traces it cost up to 11 points where frequency matters (loop, scan), and the
//! fixed 1% window stays up to 6.7 points below LRU on recency-heavy traffic (sprite). This
//! comment used to say Caffeine's hill climbing of the window had been tried and rejected for
//! costing 0.1–1.1 points on Zipf traces. Re-measured with the LIRS traces (docs/BENCHMARKS.md,
//! "Web-search cache: hit ratio"): the classic hit-rate climber
//! ([`super::climber::Climber::HitRate`]) does recover most of sprite's gap to LRU, but costs up
//! to 18 points on loop and scan and 4–6 on Zipf(0.8) at 10,000 entries; the marginal-hit
//! climber shipped here is within 0.5 points of the better of LRU and the fixed window on all 33
//! measured trace/capacity cells.
//!
//! Both bounds hold after every public operation (property-tested).

use std::collections::VecDeque;

use lru::LruCache;
use serde::Serialize;

use super::audit::FixedWindowAudit;
use super::climber::{Climber, ClimberState, Ghost, GHOST_PERMILLE, STATE_WORDS};
use super::sketch::FrequencySketch;
use super::WebSearchError;

/// Default admission window, in thousandths of the capacity (1%).
pub const DEFAULT_WINDOW_PERMILLE: u32 = 10;
/// Default protected segment, in thousandths of the main space (80%).
pub const DEFAULT_PROTECTED_PERMILLE: u32 = 800;
/// A losing candidate at least this frequent is admitted with probability 1/128.
const HASH_DOS_THRESHOLD: u8 = 6;
/// Default sample period of the window climber, as a multiple of the capacity.
pub const DEFAULT_SAMPLE_FACTOR: u32 = 2;
/// Snapshot magic and format version (1: the fixed window with the shift detector; 2: the
/// climber's state and ghosts).
const SNAPSHOT_MAGIC: &[u8; 4] = b"WTLF";
const SNAPSHOT_VERSION: u8 = 2;
const SNAPSHOT_VERSION_1: u8 = 1;

/// Sizing and tuning of one shard's policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PolicyConfig {
    /// Most entries resident at once (≥ 1 to cache anything).
    pub capacity_entries: u64,
    /// Most value bytes resident at once, as reported to [`CachePolicy::insert`].
    pub capacity_bytes: u64,
    /// Initial admission window, thousandths of `capacity_entries` (default 10 = 1%; at least
    /// 1 entry); the climber moves it from there.
    pub window_permille: u32,
    /// Protected segment, thousandths of the main space (default 800 = 80%).
    pub protected_permille: u32,
    /// How the window is sized (default [`Climber::Marginal`]; [`Climber::Fixed`] keeps
    /// `window_permille`).
    pub climber: Climber,
    /// Requests per climber sample, as a multiple of `capacity_entries` (default 2; at least
    /// [`super::climber::MIN_SAMPLE`] requests).
    pub sample_factor: u32,
    /// Sketch additions between agings (halvings), as a multiple of `capacity_entries`
    /// (default 10, as in the TinyLFU paper and Caffeine).
    pub aging_factor: u32,
}

impl PolicyConfig {
    /// A config with the given bounds and the default tuning.
    pub fn new(capacity_entries: u64, capacity_bytes: u64) -> Self {
        Self {
            capacity_entries,
            capacity_bytes,
            window_permille: DEFAULT_WINDOW_PERMILLE,
            protected_permille: DEFAULT_PROTECTED_PERMILLE,
            climber: Climber::Marginal,
            sample_factor: DEFAULT_SAMPLE_FACTOR,
            aging_factor: 10,
        }
    }

    /// The config of one of `shards` shards sharing `total_entries` and `total_bytes`: each gets
    /// the floor of its share, so the shards together never exceed the totals. `shards == 0` is
    /// treated as 1.
    pub fn for_shard(total_entries: u64, total_bytes: u64, shards: u32) -> Self {
        let shards = u64::from(shards.max(1));
        Self::new(total_entries / shards, total_bytes / shards)
    }
}

/// Counters of one shard, as `GET /api/search/cache/stats` reports them (summed over shards).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct PolicyStats {
    /// Resident entries (≤ `capacity_entries`).
    pub entries: u64,
    /// Resident bytes (≤ `capacity_bytes`).
    pub bytes: u64,
    /// Entry bound.
    pub capacity_entries: u64,
    /// Byte bound.
    pub capacity_bytes: u64,
    /// Requests answered from the cache (fresh or stale), as recorded.
    pub hits: u64,
    /// Requests that found nothing usable.
    pub misses: u64,
    /// Hits that served a stale value (also counted in `hits`).
    pub stale_hits: u64,
    /// Resident entries removed to make room (not explicit removals or expiries).
    pub evictions: u64,
    /// Inserts that did not become resident (too large, or lost admission at once), and
    /// admissions whose value could not be written to KV (the shard's ledger had no room).
    pub rejected: u64,
    /// Evicted keys whose KV delete is not confirmed yet (retried by the shard's alarm); they
    /// are counted in `entries` and `bytes`, which are what KV may hold.
    #[serde(default)]
    pub pending_deletes: u64,
}

impl PolicyStats {
    /// Adds another shard's counters (the service's stats are the sum over its shards).
    pub fn add(&mut self, other: &PolicyStats) {
        self.entries += other.entries;
        self.bytes += other.bytes;
        self.capacity_entries += other.capacity_entries;
        self.capacity_bytes += other.capacity_bytes;
        self.hits += other.hits;
        self.misses += other.misses;
        self.stale_hits += other.stale_hits;
        self.evictions += other.evictions;
        self.rejected += other.rejected;
        self.pending_deletes += other.pending_deletes;
    }
}

/// Outcome of [`CachePolicy::insert`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Admission {
    /// The inserted key is resident now: write its value to KV.
    pub admitted: bool,
    /// Keys that were resident before the call and are not any more: delete them from KV
    /// (before writing the new value). May include the inserted key itself when an update
    /// of a resident key lost its place.
    pub evicted: Vec<u64>,
}

/// Per-entry bookkeeping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Meta {
    /// Value size in bytes.
    size: u64,
    /// When the value was (last) inserted, ms since the epoch.
    inserted_at_ms: u64,
    /// Nonzero while the entry is in the tail the climber watches this sample
    /// ([`CachePolicy::mark_tails`]): `2 × sample + side` (0 window, 1 main).
    mark: u64,
}

/// One LRU segment and its byte total.
struct Segment {
    /// Unbounded LRU (the policy enforces the bounds); iteration is MRU → LRU.
    lru: LruCache<u64, Meta>,
    /// Sum of `size` of its entries.
    bytes: u64,
}

impl Segment {
    fn new() -> Self {
        Self {
            lru: LruCache::unbounded(),
            bytes: 0,
        }
    }

    fn push_mru(&mut self, hash: u64, meta: Meta) {
        self.bytes += meta.size;
        self.lru.put(hash, meta);
    }

    fn pop_lru(&mut self) -> Option<(u64, Meta)> {
        let popped = self.lru.pop_lru();
        if let Some((_, meta)) = popped {
            self.bytes -= meta.size;
        }
        popped
    }

    fn remove(&mut self, hash: u64) -> Option<Meta> {
        let meta = self.lru.pop(&hash);
        if let Some(meta) = meta {
            self.bytes -= meta.size;
        }
        meta
    }

    fn len(&self) -> u64 {
        self.lru.len() as u64
    }

    /// Entries LRU → MRU.
    fn lru_to_mru(&self) -> impl Iterator<Item = (u64, Meta)> + '_ {
        self.lru.iter().rev().map(|(h, m)| (*h, *m))
    }
}

/// Which segment holds a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Window,
    Probation,
    Protected,
}

/// The W-TinyLFU policy of one cache shard (see the module docs).
pub struct CachePolicy {
    config: PolicyConfig,
    /// Window bound in entries.
    window_max: u64,
    window: Segment,
    probation: Segment,
    protected: Segment,
    sketch: FrequencySketch,
    stats: PolicyStats,
    climb: ClimberState,
    /// The last keys that lost admission at the window's end.
    window_ghost: Ghost,
    /// The last keys evicted from main.
    main_ghost: Ghost,
    /// xorshift64 state for the 1/128 hash-flooding admission.
    rng: u64,
    /// The fixed-window simulation that audits the climber (adaptive policies only; not
    /// persisted, see [`super::audit`]).
    audit: Option<Box<FixedWindowAudit>>,
    /// Times the audit put the window back since this policy was created or restored.
    audit_resets: u64,
}

impl std::fmt::Debug for CachePolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachePolicy")
            .field("config", &self.config)
            .field("window_max", &self.window_max)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl CachePolicy {
    /// An empty policy. The sketch gets 16 counters per entry of capacity (8 bytes per entry).
    pub fn new(config: PolicyConfig) -> Self {
        let mut policy = Self {
            config,
            window_max: 1,
            window: Segment::new(),
            probation: Segment::new(),
            protected: Segment::new(),
            sketch: FrequencySketch::with_sample_size(
                usize::try_from(config.capacity_entries).unwrap_or(usize::MAX),
                config
                    .capacity_entries
                    .max(1)
                    .saturating_mul(u64::from(config.aging_factor)),
            ),
            stats: PolicyStats::default(),
            climb: ClimberState::new(),
            window_ghost: Ghost::new(0),
            main_ghost: Ghost::new(0),
            rng: 0x9e37_79b9_7f4a_7c15,
            audit: None,
            audit_resets: 0,
        };
        policy.audit = Self::audit_for(&config);
        policy.window_max = policy.initial_window_max();
        policy.size_ghosts();
        policy
    }

    /// The configuration (capacities as last set).
    pub fn config(&self) -> PolicyConfig {
        self.config
    }

    /// Number of resident entries.
    pub fn len(&self) -> u64 {
        self.window.len() + self.probation.len() + self.protected.len()
    }

    /// True when nothing is resident.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sum of the sizes of the resident entries, in bytes.
    pub fn bytes(&self) -> u64 {
        self.window.bytes + self.probation.bytes + self.protected.bytes
    }

    /// True when `hash` is resident.
    pub fn contains(&self, hash: u64) -> bool {
        self.place_of(hash).is_some()
    }

    /// The size of resident `hash` as last inserted, in bytes.
    pub fn size_of(&self, hash: u64) -> Option<u64> {
        [&self.window, &self.probation, &self.protected]
            .into_iter()
            .find_map(|s| s.lru.peek(&hash).map(|m| m.size))
    }

    /// The resident entries as `(hash, size in bytes)`, in segment order.
    pub fn resident(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        [&self.window, &self.probation, &self.protected]
            .into_iter()
            .flat_map(|s| s.lru_to_mru().map(|(h, m)| (h, m.size)))
    }

    /// Current counters.
    pub fn stats(&self) -> PolicyStats {
        PolicyStats {
            entries: self.len(),
            bytes: self.bytes(),
            capacity_entries: self.config.capacity_entries,
            capacity_bytes: self.config.capacity_bytes,
            ..self.stats
        }
    }

    /// Admission-window bound, in entries.
    pub fn window_max_entries(&self) -> u64 {
        self.window_max
    }

    /// Times the fixed-window audit put the window back to its configured share (since this
    /// policy was created or restored; not persisted, like the audit).
    pub fn audit_resets(&self) -> u64 {
        self.audit_resets
    }

    /// Climber samples completed so far (since creation, across restores).
    pub fn climber_samples(&self) -> u64 {
        self.climb.samples
    }

    /// Records a cache hit on `hash`: counts it, bumps its frequency, and refreshes its recency
    /// (a probation entry is promoted to protected). Hits on keys that are not resident (the shard
    /// evicted them since the isolate read them) still count and bump the frequency.
    pub fn record_hit(&mut self, hash: u64) {
        self.stats.hits += 1;
        self.climb.sample_hits += 1;
        self.on_access(hash);
        self.audit_request(hash, true);
        self.maybe_climb();
    }

    /// The audit for a policy of `config`: adaptive policies only.
    fn audit_for(config: &PolicyConfig) -> Option<Box<FixedWindowAudit>> {
        (config.climber == Climber::Marginal).then(|| Box::new(FixedWindowAudit::new(config)))
    }

    /// Scores a request against the fixed-window audit; when the fixed window is ahead, the
    /// window goes back to its configured share and growth is held off.
    fn audit_request(&mut self, hash: u64, hit: bool) {
        let fixed_ahead = self.audit.as_mut().is_some_and(|a| a.observe(hash, hit));
        let floor = self.initial_window_max();
        if fixed_ahead && self.window_max > floor {
            self.audit_resets += 1;
            self.climb.refute();
            self.set_window_max(floor);
        }
    }

    /// Records a batch of hits drained from an isolate's read buffer, in order.
    pub fn record_hits(&mut self, hashes: &[u64]) {
        for &hash in hashes {
            self.record_hit(hash);
        }
    }

    /// Records a hit that served a stale value (counted as a hit and as a stale hit).
    pub fn record_stale_hit(&mut self, hash: u64) {
        self.stats.stale_hits += 1;
        self.record_hit(hash);
    }

    /// Records a miss. It does not bump the frequency: the [`insert`](Self::insert) that follows a
    /// successful upstream call does (one access, one increment).
    pub fn record_miss(&mut self) {
        self.stats.misses += 1;
        self.climb.sample_misses += 1;
        self.maybe_climb();
    }

    /// Offers `hash` with a value of `size_bytes` bytes fetched at `now_ms`.
    ///
    /// A new key enters the admission window; window overflow then runs TinyLFU admission against
    /// probation until both bounds hold. A resident key is updated in place (new size and time,
    /// counts as an access). An entry larger than `capacity_bytes` (or any entry when
    /// `capacity_entries` is 0) is rejected and a resident copy removed.
    pub fn insert(&mut self, hash: u64, size_bytes: u64, now_ms: u64) -> Admission {
        let mut meta = Meta {
            size: size_bytes,
            inserted_at_ms: now_ms,
            mark: 0,
        };
        let was_resident = self.contains(hash);
        if size_bytes > self.config.capacity_bytes || self.config.capacity_entries == 0 {
            self.stats.rejected += 1;
            let mut evicted = Vec::new();
            if self.remove(hash) {
                evicted.push(hash);
            }
            return Admission {
                admitted: false,
                evicted,
            };
        }
        self.sketch.increment(hash);
        match self.place_of(hash) {
            Some(place) => {
                // Update in place, then treat it like a hit for recency (and for the climber's
                // tail count, so the old mark is kept).
                if let Some(old) = self.segment_mut(place).remove(hash) {
                    meta.mark = old.mark;
                }
                self.segment_mut(place).push_mru(hash, meta);
                self.touch(hash, place);
            }
            None => {
                // A miss a bigger window or main space would have served (see the climber).
                if self.window_ghost.contains(hash) {
                    self.climb.window_ghost_hits += 1;
                }
                if self.main_ghost.contains(hash) {
                    self.climb.main_ghost_hits += 1;
                }
                self.window.push_mru(hash, meta);
                self.audit_request(hash, false);
            }
        }
        let mut evicted = Vec::new();
        self.evict(&mut evicted);
        let admitted = self.contains(hash);
        if !admitted && !was_resident {
            // It never reached KV: not an eviction the edge must act on.
            evicted.retain(|&h| h != hash);
            self.stats.evictions = self.stats.evictions.saturating_sub(1);
            self.stats.rejected += 1;
        }
        Admission { admitted, evicted }
    }

    /// Removes `hash` (e.g. its KV value turned out corrupt); true when it was resident.
    pub fn remove(&mut self, hash: u64) -> bool {
        match self.place_of(hash) {
            Some(place) => self.segment_mut(place).remove(hash).is_some(),
            None => false,
        }
    }

    /// Removes every entry inserted at or before `now_ms - max_age_ms` (KV will have expired its
    /// value by then) and returns their hashes. O(entries); run it from a periodic alarm.
    pub fn expire(&mut self, now_ms: u64, max_age_ms: u64) -> Vec<u64> {
        let expired: Vec<u64> = [&self.window, &self.probation, &self.protected]
            .iter()
            .flat_map(|s| s.lru_to_mru())
            .filter(|(_, m)| now_ms.saturating_sub(m.inserted_at_ms) >= max_age_ms)
            .map(|(h, _)| h)
            .collect();
        for &hash in &expired {
            self.remove(hash);
        }
        expired
    }

    /// Changes the capacities (e.g. the settings changed between deployments) and evicts until
    /// the new bounds hold; returns the evicted hashes. The sketch keeps its size.
    pub fn set_capacity(&mut self, capacity_entries: u64, capacity_bytes: u64) -> Vec<u64> {
        self.config.capacity_entries = capacity_entries;
        self.config.capacity_bytes = capacity_bytes;
        // The climber starts over from the initial window: what it learned was for the old size.
        self.window_max = self.initial_window_max();
        // The sample number stays: it tells this sample's tail marks from older ones.
        let samples = self.climb.samples;
        self.climb = ClimberState::new();
        self.climb.samples = samples;
        self.size_ghosts();
        self.audit = Self::audit_for(&self.config);
        let mut evicted = Vec::new();
        self.evict(&mut evicted);
        evicted
    }

    fn place_of(&self, hash: u64) -> Option<Place> {
        if self.window.lru.contains(&hash) {
            Some(Place::Window)
        } else if self.probation.lru.contains(&hash) {
            Some(Place::Probation)
        } else if self.protected.lru.contains(&hash) {
            Some(Place::Protected)
        } else {
            None
        }
    }

    fn segment_mut(&mut self, place: Place) -> &mut Segment {
        match place {
            Place::Window => &mut self.window,
            Place::Probation => &mut self.probation,
            Place::Protected => &mut self.protected,
        }
    }

    fn on_access(&mut self, hash: u64) {
        self.sketch.increment(hash);
        if let Some(place) = self.place_of(hash) {
            self.touch(hash, place);
        }
    }

    /// Recency update of a resident key: MRU in its segment, probation → protected.
    fn touch(&mut self, hash: u64, place: Place) {
        let epoch = self.climb.samples.saturating_mul(2);
        let (window_mark, main_mark) = (epoch, epoch | 1);
        match place {
            Place::Window => {
                if let Some(meta) = self.window.lru.get_mut(&hash) {
                    if meta.mark == window_mark && epoch > 0 {
                        meta.mark = 0;
                        self.climb.window_tail_hits += 1;
                    }
                }
            }
            Place::Protected => {
                if let Some(meta) = self.protected.lru.get_mut(&hash) {
                    if meta.mark == main_mark {
                        meta.mark = 0;
                        self.climb.main_tail_hits += 1;
                    }
                }
            }
            Place::Probation => {
                if let Some(mut meta) = self.probation.remove(hash) {
                    if meta.mark == main_mark {
                        meta.mark = 0;
                        self.climb.main_tail_hits += 1;
                    }
                    self.protected.push_mru(hash, meta);
                    self.demote_protected_overflow();
                }
            }
        }
    }

    /// Marks the entries each side would give up first if the other grew by the ghost length:
    /// the window's LRU end, and main's eviction end (probation LRU first, then protected LRU).
    /// Their first hits this sample are the marginal cost of shrinking that side
    /// ([`super::climber`]). O(ghost length) once per sample.
    fn mark_tails(&mut self) {
        let epoch = self.climb.samples.saturating_mul(2);
        if epoch == 0 || self.config.climber != Climber::Marginal {
            return;
        }
        let len = self.main_ghost.capacity();
        for (_, meta) in self.window.lru.iter_mut().rev().take(len) {
            meta.mark = epoch;
        }
        let main = self
            .probation
            .lru
            .iter_mut()
            .rev()
            .chain(self.protected.lru.iter_mut().rev());
        for (_, meta) in main.take(len) {
            meta.mark = epoch | 1;
        }
    }

    fn demote_protected_overflow(&mut self) {
        let (max_entries, max_bytes) = self.protected_max();
        while self.protected.len() > max_entries || self.protected.bytes > max_bytes {
            match self.protected.pop_lru() {
                Some((h, m)) => self.probation.push_mru(h, m),
                None => break,
            }
        }
    }

    fn initial_window_max(&self) -> u64 {
        // u128: a restored snapshot may declare any capacity (the product must not overflow).
        let share = u128::from(self.config.capacity_entries)
            * u128::from(self.config.window_permille.min(1000))
            / 1000;
        u64::try_from(share).unwrap_or(u64::MAX).max(1)
    }

    fn window_max_bytes(&self) -> u64 {
        let cap = self.config.capacity_entries.max(1);
        let share =
            u128::from(self.config.capacity_bytes) * u128::from(self.window_max) / u128::from(cap);
        u64::try_from(share).unwrap_or(u64::MAX)
    }

    /// Bounds of the protected segment: its share of the main space, entries and bytes.
    fn protected_max(&self) -> (u64, u64) {
        let permille = u128::from(self.config.protected_permille.min(1000));
        let main_entries = self.config.capacity_entries.saturating_sub(self.window_max);
        let main_bytes = self
            .config
            .capacity_bytes
            .saturating_sub(self.window_max_bytes());
        let share = |v: u64| u64::try_from(u128::from(v) * permille / 1000).unwrap_or(u64::MAX);
        (share(main_entries), share(main_bytes))
    }

    fn over_capacity(&self, extra_entries: u64, extra_bytes: u64) -> bool {
        self.len() + extra_entries > self.config.capacity_entries
            || self.bytes() + extra_bytes > self.config.capacity_bytes
    }

    /// Moves window overflow into main through TinyLFU admission and evicts until both bounds
    /// hold. Appends evicted (previously resident) hashes to `evicted`.
    fn evict(&mut self, evicted: &mut Vec<u64>) {
        // Candidates leave the window oldest first but stay resident until decided, so they are
        // counted on top of the segments.
        let mut candidates: VecDeque<(u64, Meta)> = VecDeque::new();
        let (mut cand_entries, mut cand_bytes) = (0u64, 0u64);
        let window_max_bytes = self.window_max_bytes();
        while self.window.len() > self.window_max || self.window.bytes > window_max_bytes {
            match self.window.pop_lru() {
                Some((h, m)) => {
                    cand_entries += 1;
                    cand_bytes += m.size;
                    candidates.push_back((h, m));
                }
                None => break,
            }
        }
        while self.over_capacity(cand_entries, cand_bytes) {
            let victim = self.probation.lru.peek_lru().map(|(h, _)| *h);
            match (candidates.front().copied(), victim) {
                (Some((cand, meta)), Some(victim)) => {
                    if self.admit(cand, victim) {
                        self.probation.remove(victim);
                        self.main_ghost.push(victim);
                        evicted.push(victim);
                    } else {
                        candidates.pop_front();
                        cand_entries -= 1;
                        cand_bytes -= meta.size;
                        self.window_ghost.push(cand);
                        evicted.push(cand);
                    }
                }
                (Some((cand, meta)), None) => {
                    candidates.pop_front();
                    cand_entries -= 1;
                    cand_bytes -= meta.size;
                    self.window_ghost.push(cand);
                    evicted.push(cand);
                }
                (None, Some(victim)) => {
                    self.probation.remove(victim);
                    self.main_ghost.push(victim);
                    evicted.push(victim);
                }
                (None, None) => {
                    // Only protected and window entries left (e.g. after shrinking capacity).
                    let popped = self.protected.pop_lru().or_else(|| self.window.pop_lru());
                    match popped {
                        Some((h, _)) => evicted.push(h),
                        None => break,
                    }
                }
            }
            self.stats.evictions += 1;
        }
        for (h, m) in candidates {
            self.probation.push_mru(h, m);
        }
    }

    /// TinyLFU: admit the candidate when it is strictly more frequent than the victim; a frequent
    /// loser still gets in with probability 1/128 (defeats hash flooding of the victim).
    fn admit(&mut self, candidate: u64, victim: u64) -> bool {
        let candidate_freq = self.sketch.frequency(candidate);
        let victim_freq = self.sketch.frequency(victim);
        if candidate_freq > victim_freq {
            return true;
        }
        if candidate_freq < HASH_DOS_THRESHOLD {
            return false;
        }
        // xorshift64: deterministic and persisted, so a restored policy behaves the same.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng & 127 == 0
    }

    /// Once per sample (see [`super::climber`]): lets the climber move the window bound. Nothing
    /// is evicted here (hits and misses report no evictions): the total is unchanged, so the
    /// bounds still hold; a grown window takes main's room as new keys arrive, and a shrunk
    /// window's overflow is offered to main at the next insert.
    fn maybe_climb(&mut self) {
        let cap = self.config.capacity_entries;
        if !self.climb.sample_full(cap, self.config.sample_factor) {
            return;
        }
        // The configured share is the floor: a smaller window gives candidates too little time
        // to show a second access, which cost up to 0.6 points on the LIRS scan trace.
        let bounds = (self.initial_window_max(), cap.saturating_sub(1).max(1));
        let next = self
            .climb
            .end_sample(self.config.climber, cap, self.window_max, bounds);
        if next != self.window_max {
            self.set_window_max(next);
        }
        self.mark_tails();
    }

    /// Moves the window bound (and main's by the opposite amount). Nothing is evicted: a shrunk
    /// window's overflow moves to probation, a grown one takes main's room as keys arrive.
    fn set_window_max(&mut self, window_max: u64) {
        self.window_max = window_max;
        self.demote_protected_overflow();
        self.drain_window_overflow();
    }

    /// After the window shrank: its entries beyond the new bound move to probation's LRU end,
    /// the oldest at the very end, without an admission contest (the total is unchanged, nothing must go). They
    /// are the first victims there, so main keeps what it chose by frequency; placed at the MRU
    /// end instead, the recency-picked entries of a large window stayed in main long after a
    /// warm-up phase had passed (Zipf(0.8) at 24,000 entries stayed a point below the fixed
    /// window for half the trace).
    fn drain_window_overflow(&mut self) {
        let window_max_bytes = self.window_max_bytes();
        let mut overflow = Vec::new();
        while self.window.len() > self.window_max || self.window.bytes > window_max_bytes {
            match self.window.pop_lru() {
                Some(entry) => overflow.push(entry),
                None => break,
            }
        }
        // Caffeine's classic climber puts them at probation's MRU end; the reference column of
        // the benchmark keeps that.
        let at_lru_end = self.config.climber != Climber::HitRate;
        for (h, m) in overflow.into_iter().rev() {
            self.probation.push_mru(h, m);
            if at_lru_end {
                self.probation.lru.demote(&h);
            }
        }
    }

    /// Sizes the ghosts for the current capacity (dropping their oldest keys when smaller).
    fn size_ghosts(&mut self) {
        let len = u128::from(self.config.capacity_entries) * u128::from(GHOST_PERMILLE) / 1000;
        let len = usize::try_from(len).unwrap_or(usize::MAX).max(1);
        self.window_ghost.set_capacity(len);
        self.main_ghost.set_capacity(len);
    }

    /// Serializes the whole policy state (config, counters, the climber's state and window bound,
    /// resident entries in segment order, the ghosts, the sketch) into a compact little-endian
    /// binary blob: about 24 bytes per resident entry, 8 per entry of capacity for the sketch and
    /// up to 4 for the ghosts.
    pub fn snapshot(&self) -> Vec<u8> {
        let ghosts = self.window_ghost.len() + self.main_ghost.len();
        let mut out = Vec::with_capacity(
            256 + 24 * self.len() as usize + 8 * (ghosts + self.sketch.table().len()),
        );
        out.extend_from_slice(SNAPSHOT_MAGIC);
        out.push(SNAPSHOT_VERSION);
        let s = &self.stats;
        let header = [
            self.config.capacity_entries,
            self.config.capacity_bytes,
            u64::from(self.config.window_permille),
            u64::from(self.config.protected_permille),
            self.config.climber.code(),
            u64::from(self.config.sample_factor),
            u64::from(self.config.aging_factor),
            s.hits,
            s.misses,
            s.stale_hits,
            s.evictions,
            s.rejected,
            self.rng,
            self.window_max,
        ];
        for v in header.into_iter().chain(self.climb.to_words()) {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for segment in [&self.window, &self.probation, &self.protected] {
            out.extend_from_slice(&segment.len().to_le_bytes());
            for (h, m) in segment.lru_to_mru() {
                out.extend_from_slice(&h.to_le_bytes());
                out.extend_from_slice(&m.size.to_le_bytes());
                out.extend_from_slice(&m.inserted_at_ms.to_le_bytes());
                out.extend_from_slice(&m.mark.to_le_bytes());
            }
        }
        for ghost in [&self.window_ghost, &self.main_ghost] {
            out.extend_from_slice(&(ghost.len() as u64).to_le_bytes());
            for h in ghost.iter() {
                out.extend_from_slice(&h.to_le_bytes());
            }
        }
        out.extend_from_slice(&self.sketch.sample_size().to_le_bytes());
        out.extend_from_slice(&self.sketch.additions().to_le_bytes());
        out.extend_from_slice(&(self.sketch.table().len() as u64).to_le_bytes());
        for w in self.sketch.table() {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out
    }

    /// An empty policy for `config` with restored counters (`[hits, misses, stale_hits,
    /// evictions, rejected]`) and random state: the part both snapshot formats share.
    fn with_counters(config: PolicyConfig, counters: [u64; 5], rng: u64) -> Self {
        let [hits, misses, stale_hits, evictions, rejected] = counters;
        let mut policy = Self::new(config);
        policy.stats = PolicyStats {
            hits,
            misses,
            stale_hits,
            evictions,
            rejected,
            ..PolicyStats::default()
        };
        policy.rng = rng;
        policy
    }

    /// Rebuilds a policy from [`snapshot`](Self::snapshot) bytes: the same resident entries in the
    /// same order, the same sketch, counters, config and climber (window bound, sample, ghosts).
    /// The fixed-window audit starts empty ([`super::audit`]: it is not in the snapshot, and a
    /// cold audit can only delay a verdict).
    ///
    /// A snapshot of format 1 (written before the climber existed, with the shift detector) still
    /// restores: its entries, sketch, counters and tuning are kept, the shift detector's state is
    /// dropped, and the climber starts fresh ([`Climber::Marginal`], the window at its configured
    /// share, empty ghosts) — as a new policy would, so nothing cached is lost.
    ///
    /// Errors: [`WebSearchError::Corrupt`] when the bytes are truncated, of another format, hold a
    /// key twice, or violate the bounds they declare. The shard should then start empty (and may
    /// clear its KV prefix) rather than fail requests.
    pub fn restore(bytes: &[u8]) -> Result<Self, WebSearchError> {
        let corrupt = |what: &str| WebSearchError::Corrupt(format!("policy snapshot: {what}"));
        let mut r = Reader { bytes, pos: 0 };
        if r.take(4)? != SNAPSHOT_MAGIC {
            return Err(corrupt("bad magic"));
        }
        let version = r.take(1)?.first().copied().unwrap_or(0);
        let small = |v: u64, what: &str| u32::try_from(v).map_err(|_| corrupt(what));
        let mut policy = match version {
            SNAPSHOT_VERSION => {
                let mut v = [0u64; 14];
                for slot in &mut v {
                    *slot = r.u64()?;
                }
                let [cap_entries, cap_bytes, window_permille, protected_permille, climber, sample_factor, aging_factor, hits, misses, stale_hits, evictions, rejected, rng, window_max] =
                    v;
                let mut state = [0u64; STATE_WORDS];
                for slot in &mut state {
                    *slot = r.u64()?;
                }
                let config = PolicyConfig {
                    capacity_entries: cap_entries,
                    capacity_bytes: cap_bytes,
                    window_permille: small(window_permille, "window")?,
                    protected_permille: small(protected_permille, "protected")?,
                    climber: Climber::from_code(climber).ok_or_else(|| corrupt("climber"))?,
                    sample_factor: small(sample_factor, "sample factor")?,
                    aging_factor: small(aging_factor, "aging")?,
                };
                let mut policy = Self::with_counters(
                    config,
                    [hits, misses, stale_hits, evictions, rejected],
                    rng,
                );
                if window_max == 0 || window_max > cap_entries.max(1) {
                    return Err(corrupt("window bound outside the capacity"));
                }
                policy.window_max = window_max;
                policy.climb =
                    ClimberState::from_words(state).ok_or_else(|| corrupt("climber state"))?;
                policy
            }
            SNAPSHOT_VERSION_1 => {
                // cap_entries, cap_bytes, window_permille, protected_permille,
                // shift_sample_factor, aging_factor, the five counters, the shift detector's
                // three words (dropped), rng.
                let mut v = [0u64; 15];
                for slot in &mut v {
                    *slot = r.u64()?;
                }
                let [cap_entries, cap_bytes, window_permille, protected_permille, _, aging_factor, hits, misses, stale_hits, evictions, rejected, _, _, _, rng] =
                    v;
                let mut config = PolicyConfig::new(cap_entries, cap_bytes);
                config.window_permille = small(window_permille, "window")?;
                config.protected_permille = small(protected_permille, "protected")?;
                config.aging_factor = small(aging_factor, "aging")?;
                Self::with_counters(config, [hits, misses, stale_hits, evictions, rejected], rng)
            }
            _ => return Err(corrupt("unknown version")),
        };
        if policy.rng == 0 {
            // xorshift64 never leaves 0.
            policy.rng = 0x9e37_79b9_7f4a_7c15;
        }
        let (cap_entries, cap_bytes) =
            (policy.config.capacity_entries, policy.config.capacity_bytes);
        let mut resident_bytes: u64 = 0;
        for place in [Place::Window, Place::Probation, Place::Protected] {
            let count = r.u64()?;
            if count > cap_entries || count > (bytes.len() / 24) as u64 {
                return Err(corrupt("segment larger than the capacity"));
            }
            for _ in 0..count {
                let (h, size, at) = (r.u64()?, r.u64()?, r.u64()?);
                // Format 1 has no tail marks.
                let mark = if version == SNAPSHOT_VERSION {
                    r.u64()?
                } else {
                    0
                };
                if policy.contains(h) {
                    return Err(corrupt("a key appears twice"));
                }
                // Checked before push_mru adds it: the declared sizes may sum past u64::MAX.
                resident_bytes = resident_bytes
                    .checked_add(size)
                    .filter(|&total| total <= cap_bytes)
                    .ok_or_else(|| corrupt("resident entries exceed the byte capacity"))?;
                policy.segment_mut(place).push_mru(
                    h,
                    Meta {
                        size,
                        inserted_at_ms: at,
                        mark,
                    },
                );
            }
        }
        if policy.over_capacity(0, 0) {
            return Err(corrupt("resident entries exceed the capacity"));
        }
        if version == SNAPSHOT_VERSION {
            for which in 0..2 {
                let count = r.u64()?;
                let ghost = if which == 0 {
                    &mut policy.window_ghost
                } else {
                    &mut policy.main_ghost
                };
                if count > ghost.capacity() as u64 || count > (r.remaining() / 8) as u64 {
                    return Err(corrupt("ghost larger than its capacity"));
                }
                for _ in 0..count {
                    ghost.push(r.u64()?);
                }
            }
        }
        let sample_size = r.u64()?;
        let additions = r.u64()?;
        let words = usize::try_from(r.u64()?).map_err(|_| corrupt("sketch size"))?;
        if words > r.remaining() / 8 {
            return Err(corrupt("truncated sketch"));
        }
        let table = (0..words).map(|_| r.u64()).collect::<Result<Vec<_>, _>>()?;
        policy.sketch = FrequencySketch::from_parts(table, additions, sample_size)
            .ok_or_else(|| corrupt("invalid sketch"))?;
        if r.remaining() != 0 {
            return Err(corrupt("trailing bytes"));
        }
        Ok(policy)
    }
}

/// Test support: the older snapshot format, to show it still restores.
#[cfg(test)]
impl CachePolicy {
    /// What format 1 (before the climber) wrote for this policy: the same fields, the shift detector's
    /// three words where the climber's are now, no tail marks, no ghosts.
    pub(crate) fn snapshot_v1(&self, detector: [u64; 3]) -> Vec<u8> {
        let p = self;
        let mut out = b"WTLF".to_vec();
        out.push(1);
        let c = p.config();
        let s = p.stats;
        let words = [
            c.capacity_entries,
            c.capacity_bytes,
            u64::from(c.window_permille),
            u64::from(c.protected_permille),
            2, // shift_sample_factor
            u64::from(c.aging_factor),
            s.hits,
            s.misses,
            s.stale_hits,
            s.evictions,
            s.rejected,
            detector[0],
            detector[1],
            detector[2],
            p.rng,
        ];
        for w in words {
            out.extend_from_slice(&w.to_le_bytes());
        }
        for segment in [&p.window, &p.probation, &p.protected] {
            out.extend_from_slice(&segment.len().to_le_bytes());
            for (h, m) in segment.lru_to_mru() {
                for w in [h, m.size, m.inserted_at_ms] {
                    out.extend_from_slice(&w.to_le_bytes());
                }
            }
        }
        for w in [p.sketch.sample_size(), p.sketch.additions()] {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out.extend_from_slice(&(p.sketch.table().len() as u64).to_le_bytes());
        for w in p.sketch.table() {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out
    }
}

/// Little-endian cursor over snapshot bytes; every read is bounds-checked.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], WebSearchError> {
        let end = self.pos.checked_add(n);
        let slice = end.and_then(|end| self.bytes.get(self.pos..end));
        match slice {
            Some(s) => {
                self.pos += n;
                Ok(s)
            }
            None => Err(WebSearchError::Corrupt("policy snapshot: truncated".into())),
        }
    }

    fn u64(&mut self) -> Result<u64, WebSearchError> {
        let mut buf = [0u8; 8];
        buf.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(buf))
    }

    fn remaining(&self) -> usize {
        self.bytes.len().saturating_sub(self.pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand_core::{RngCore, SeedableRng};

    fn policy(entries: u64, bytes: u64) -> CachePolicy {
        CachePolicy::new(PolicyConfig::new(entries, bytes))
    }

    /// Resident keys in segment order (window, probation, protected), each LRU → MRU.
    fn layout(p: &CachePolicy) -> [Vec<u64>; 3] {
        [&p.window, &p.probation, &p.protected].map(|s| s.lru_to_mru().map(|(h, _)| h).collect())
    }

    /// Words before the first segment in a format-2 snapshot: the header and the climber.
    const HEADER_WORDS: usize = 14 + STATE_WORDS;

    #[test]
    fn restore_of_a_corrupt_snapshot_never_overflows() {
        // Found by fuzz/fuzz_targets/binary_decoders.rs (fuzz/regressions/binary_decoders/).
        // A declared capacity of u64::MAX entries: the window bounds must not overflow.
        let mut snap = policy(4, 100).snapshot();
        snap[5..13].copy_from_slice(&u64::MAX.to_le_bytes());
        let mut restored = CachePolicy::restore(&snap).unwrap();
        assert_eq!(restored.window_max_entries(), 1);
        for k in 0..2_000 {
            restored.record_miss();
            restored.insert(k, 1, 0);
        }
        assert!(restored.len() <= 4 || restored.config().capacity_entries == u64::MAX);
        // Two resident sizes summing past u64::MAX under a 10-byte bound: corrupt, not wrapped.
        let mut p = policy(2, 10);
        p.insert(1, 5, 0);
        p.insert(2, 5, 0);
        let mut snap = p.snapshot();
        let first_size = 5 + HEADER_WORDS * 8 + 8 + 8; // header, window count, first hash
        snap[first_size..first_size + 8].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(
            CachePolicy::restore(&snap),
            Err(WebSearchError::Corrupt(_))
        ));
        // A window bound of 0 or past the capacity is corrupt too.
        for bad in [0u64, 3] {
            let mut snap = p.snapshot();
            let at = 5 + 13 * 8;
            snap[at..at + 8].copy_from_slice(&bad.to_le_bytes());
            assert!(CachePolicy::restore(&snap).is_err(), "window {bad}");
        }
    }

    #[test]
    fn one_hit_wonders_do_not_displace_and_frequent_keys_get_in() {
        // 4 entries: window 1, main 3 (protected up to 2).
        let mut p = policy(4, 1_000);
        for k in 1..=4 {
            assert_eq!(
                p.insert(k, 10, 0),
                Admission {
                    admitted: true,
                    evicted: vec![]
                }
            );
        }
        assert_eq!(layout(&p), [vec![4], vec![1, 2, 3], vec![]]);
        // 5 is new: 4 leaves the window as candidate, ties with victim 1 (both seen once): 4 goes.
        assert_eq!(
            p.insert(5, 10, 0),
            Admission {
                admitted: true,
                evicted: vec![4]
            }
        );
        // A hit on probation promotes to protected.
        p.record_hit(1);
        assert_eq!(layout(&p), [vec![5], vec![2, 3], vec![1]]);
        // Key 7 is requested often (hits recorded while another isolate still had it).
        for _ in 0..3 {
            p.record_hit(7);
        }
        assert_eq!(p.insert(6, 10, 0).evicted, vec![5]); // candidate 5 (1) vs victim 2 (1)
        assert_eq!(p.insert(7, 10, 0).evicted, vec![6]); // candidate 6 (1) vs victim 2 (1)
                                                         // Candidate 7 (frequency 4) beats victim 2 (1): 2 is evicted, 7 enters probation.
        assert_eq!(
            p.insert(8, 10, 0),
            Admission {
                admitted: true,
                evicted: vec![2]
            }
        );
        assert_eq!(layout(&p), [vec![8], vec![3, 7], vec![1]]);
        let s = p.stats();
        assert_eq!(
            (s.entries, s.bytes, s.evictions, s.rejected, s.hits),
            (4, 40, 4, 0, 4)
        );
    }

    #[test]
    fn protected_overflow_demotes_its_lru_to_probation() {
        let mut p = policy(4, 1_000); // protected holds at most 2
        for k in 1..=4 {
            p.insert(k, 1, 0);
        }
        for k in [1, 2, 3] {
            p.record_hit(k);
        }
        assert_eq!(layout(&p), [vec![4], vec![1], vec![2, 3]]);
    }

    #[test]
    fn byte_bound_rejects_oversized_and_evicts_several_victims() {
        let mut p = policy(100, 100); // window = 1 entry / 1 byte: every entry goes to main
        assert_eq!(
            p.insert(1, 101, 0),
            Admission {
                admitted: false,
                evicted: vec![]
            }
        );
        assert_eq!(p.stats().rejected, 1);
        for k in 2..=5 {
            assert!(p.insert(k, 25, 0).admitted);
        }
        assert_eq!(p.bytes(), 100);
        // A frequent 60-byte entry needs three 25-byte victims.
        for _ in 0..5 {
            p.record_hit(9);
        }
        let a = p.insert(9, 60, 0);
        assert!(a.admitted);
        assert_eq!(a.evicted, vec![2, 3, 4]);
        assert_eq!((p.len(), p.bytes()), (2, 85));
        // A resident key growing past the bound is updated in place, evicting others.
        let a = p.insert(5, 40, 0);
        assert!(a.admitted && p.bytes() <= 100);
        // Updating to more than the whole capacity removes the resident copy: the edge deletes it.
        assert_eq!(
            p.insert(5, 500, 0),
            Admission {
                admitted: false,
                evicted: vec![5]
            }
        );
        assert!(!p.contains(5));
    }

    #[test]
    fn expiry_follows_a_fake_clock_and_capacity_can_shrink() {
        let mut p = policy(10, 1_000);
        p.insert(1, 10, 1_000);
        p.insert(2, 10, 5_000);
        p.insert(3, 10, 9_000);
        assert_eq!(p.expire(10_999, 10_000), Vec::<u64>::new());
        assert_eq!(p.expire(11_000, 10_000), vec![1]);
        let mut rest = p.expire(20_000, 10_000);
        rest.sort_unstable();
        assert_eq!(rest, vec![2, 3]);
        assert!(p.is_empty());
        for k in 1..=10 {
            p.insert(k, 10, 0);
        }
        let evicted = p.set_capacity(4, 30);
        assert_eq!(evicted.len(), 7);
        assert!(p.len() <= 3 && p.bytes() <= 30);
    }

    #[test]
    fn snapshot_restore_round_trips_exactly() {
        let mut p = policy(50, 5_000);
        for k in 0..200u64 {
            p.insert(k % 70, 10 + k % 30, k);
            if k % 3 == 0 {
                p.record_hits(&[k % 11, k % 7]);
            }
            p.record_miss();
        }
        p.record_stale_hit(3);
        let bytes = p.snapshot();
        let q = CachePolicy::restore(&bytes).unwrap();
        assert_eq!(layout(&q), layout(&p));
        assert_eq!(q.stats(), p.stats());
        assert_eq!(q.sketch, p.sketch);
        assert_eq!(q.config(), p.config());
        assert_eq!(q.snapshot(), bytes);
        // The same future: identical decisions after restore.
        let (mut p, mut q) = (p, q);
        for k in 100..150 {
            assert_eq!(p.insert(k, 20, 0), q.insert(k, 20, 0));
        }
    }

    #[test]
    fn corrupt_snapshots_are_internal_errors_not_panics() {
        use crate::api::HasErrorCode;
        let mut p = policy(8, 800);
        for k in 0..8 {
            p.insert(k, 10, 0);
        }
        let good = p.snapshot();
        for cut in [0, 3, 5, 40, good.len() - 1] {
            let err = CachePolicy::restore(&good[..cut]).unwrap_err();
            assert_eq!(err.error_code().status(), 500);
        }
        let mut extra = good.clone();
        extra.push(0);
        assert!(CachePolicy::restore(&extra).is_err());
        let mut wrong_magic = good.clone();
        wrong_magic[0] = b'X';
        assert!(CachePolicy::restore(&wrong_magic).is_err());
    }

    /// Replays `requests` (a hit when resident, else a miss and an insert); the hit count.
    fn replay(p: &mut CachePolicy, requests: impl IntoIterator<Item = u64>) -> u64 {
        let mut hits = 0;
        for h in requests {
            if p.contains(h) {
                p.record_hit(h);
                hits += 1;
            } else {
                p.record_miss();
                p.insert(h, 1, 0);
            }
        }
        hits
    }

    /// Recency traffic: each step a new key, and a key from 1 to 70 steps (up to 140 requests)
    /// back. LRU with 200 entries hits nearly every second request; a 1% window only the
    /// shortest reuses once main is full of keys that tie with the candidates.
    fn recency(from: u64, steps: u64) -> impl Iterator<Item = u64> {
        (from..from + steps).flat_map(|i| {
            let back = 1 + i.wrapping_mul(37) % 70;
            [1_000_000 + i, 1_000_000 + i.saturating_sub(back)]
        })
    }

    #[test]
    fn the_climber_grows_the_window_on_recency_and_shrinks_it_on_a_loop() {
        const CAP: u64 = 200;
        let mut p = policy(CAP, u64::MAX);
        assert_eq!(p.window_max_entries(), 2, "starts at 1%");
        // Within 10 samples of recency traffic the window holds at least 40% of the cache.
        let mut step = 0;
        while p.window_max_entries() < CAP * 2 / 5 {
            replay(&mut p, recency(step, 10));
            step += 10;
            assert!(
                p.climber_samples() <= 10,
                "window {}",
                p.window_max_entries()
            );
        }
        // The cache then serves the recency traffic as LRU does (50%; a fixed 1% window gets
        // 5.5%, below).
        let hits = replay(&mut p, recency(step, 2_000));
        assert!(hits * 100 / 4_000 >= 49, "{hits} of 4000");
        // Within 8 samples of a loop over twice the capacity the window is back at its floor.
        let start = p.climber_samples();
        let mut i = 0u64;
        while p.window_max_entries() > 2 {
            replay(&mut p, (i..i + 20).map(|k| k % (2 * CAP)));
            i += 20;
            assert!(
                p.climber_samples() - start <= 8,
                "window {}",
                p.window_max_entries()
            );
        }
        // And stays there while the loop goes on.
        replay(&mut p, (0..20_000).map(|k| k % (2 * CAP)));
        assert_eq!(p.window_max_entries(), 2);
    }

    #[test]
    fn a_fixed_window_never_moves() {
        let mut config = PolicyConfig::new(200, u64::MAX);
        config.climber = Climber::Fixed;
        let mut p = CachePolicy::new(config);
        let hits = replay(&mut p, recency(0, 5_000));
        assert!(p.climber_samples() > 10);
        // 5.5% of 10,000 requests, where the climber gets 50% (above).
        assert!(hits < 600, "{hits}");
        assert_eq!(p.window_max_entries(), 2);
    }

    #[test]
    fn snapshot_restore_carries_the_climber() {
        let mut p = policy(200, 100_000);
        replay(&mut p, recency(0, 1_500));
        replay(&mut p, (0..333).map(|k| k % 300));
        assert!(
            p.window_max_entries() > 2 && p.climber_samples() > 3,
            "window {} after {} samples",
            p.window_max_entries(),
            p.climber_samples()
        );
        assert!(!p.window_ghost.is_empty() && !p.main_ghost.is_empty());
        let bytes = p.snapshot();
        let mut q = CachePolicy::restore(&bytes).unwrap();
        assert_eq!(q.window_max_entries(), p.window_max_entries());
        assert_eq!(q.climb, p.climb);
        assert_eq!(q.window_ghost, p.window_ghost);
        assert_eq!(q.main_ghost, p.main_ghost);
        assert_eq!(q.snapshot(), bytes);
        // The same future, window moves included.
        for (a, b) in [(0u64, 3_000u64), (5_000, 400)] {
            let ra: Vec<u64> = recency(a, b).chain((0..b).map(|k| k % 350)).collect();
            assert_eq!(replay(&mut p, ra.clone()), replay(&mut q, ra));
            assert_eq!(q.window_max_entries(), p.window_max_entries());
            assert_eq!(q.snapshot(), p.snapshot());
        }
    }

    #[test]
    fn a_format_1_snapshot_restores_with_a_fresh_climber() {
        let mut p = policy(50, 5_000);
        for k in 0..200u64 {
            p.insert(k % 70, 10 + k % 30, k);
            if k % 3 == 0 {
                p.record_hits(&[k % 11, k % 7]);
            }
            p.record_miss();
        }
        let old = p.snapshot_v1([12, 30, 0.4f64.to_bits()]);
        let q = CachePolicy::restore(&old).unwrap();
        // Everything format 1 had is kept: entries in order, sizes, times, sketch, counters.
        assert_eq!(layout(&q), layout(&p));
        assert_eq!(q.stats(), p.stats());
        assert_eq!(q.sketch, p.sketch);
        assert_eq!(q.rng, p.rng);
        for (h, size) in p.resident() {
            assert_eq!(q.size_of(h), Some(size));
        }
        // The climber starts as in a new policy: the default climber, the window at 1%.
        assert_eq!(q.config().climber, Climber::Marginal);
        assert_eq!(q.config().sample_factor, DEFAULT_SAMPLE_FACTOR);
        assert_eq!(q.window_max_entries(), 1);
        assert_eq!(q.climb, ClimberState::new());
        assert!(q.window_ghost.is_empty() && q.main_ghost.is_empty());
        // It saves in the current format, which restores to the same policy.
        let now = q.snapshot();
        assert_eq!(now[4], SNAPSHOT_VERSION);
        assert_eq!(CachePolicy::restore(&now).unwrap().snapshot(), now);
        // A truncated format-1 snapshot is corrupt, not a panic.
        assert!(CachePolicy::restore(&old[..old.len() - 3]).is_err());
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u64, u64),
        Hit(u64),
        Miss,
        Remove(u64),
        Expire(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0u64..40, 0u64..400).prop_map(|(k, s)| Op::Insert(k, s)),
            3 => (0u64..40).prop_map(Op::Hit),
            1 => Just(Op::Miss),
            1 => (0u64..40).prop_map(Op::Remove),
            1 => (0u64..50).prop_map(Op::Expire),
        ]
    }

    #[test]
    fn bounds_hold_while_the_window_moves() {
        // A long seeded mix of recency bursts, loops and random sizes: the window moves many
        // times in both directions, by the climber and by the fixed-window audit, and both
        // bounds hold after every operation.
        let mut rng = rand_pcg::Pcg64::seed_from_u64(7);
        let mut p = policy(60, 3_000);
        let (mut grew, mut shrank, mut last) = (0, 0, p.window_max_entries());
        for t in 0..60_000u64 {
            let phase = (t / 6_000) % 2;
            let key = if phase == 0 {
                1_000 + t / 2 - (t % 2) * 15 // each key twice, 30 steps apart
            } else {
                t % 150 // a loop over two and a half times the capacity
            };
            let size = 10 + rng.next_u64() % 90;
            if p.contains(key) {
                p.record_hit(key);
            } else {
                p.record_miss();
                p.insert(key, size, t);
            }
            if rng.next_u64() % 50 == 0 {
                p.remove(rng.next_u64() % 200);
            }
            assert!(p.len() <= 60 && p.bytes() <= 3_000, "{:?}", p.stats());
            let w = p.window_max_entries();
            grew += u32::from(w > last);
            shrank += u32::from(w < last);
            last = w;
        }
        assert!(grew >= 5 && shrank >= 5, "grew {grew}, shrank {shrank}");
        assert!(
            p.audit_resets() >= 1,
            "the fixed-window audit moved the window too (and the bounds held)"
        );
    }

    proptest! {
        #[test]
        fn bounds_and_stats_hold_under_random_operations(
            cap_entries in 0u64..20,
            cap_bytes in 0u64..2_000,
            ops in proptest::collection::vec(op(), 1..700),
        ) {
            // Up to five climber samples (128 requests each at these capacities) per case, so
            // the window moves while the bounds are checked.
            let mut p = policy(cap_entries, cap_bytes);
            let mut resident = std::collections::HashMap::new();
            for (t, op) in ops.into_iter().enumerate() {
                let now = t as u64;
                match op {
                    Op::Insert(k, size) => {
                        let a = p.insert(k, size, now);
                        for h in &a.evicted {
                            prop_assert!(resident.remove(h).is_some(), "evicted {h} was not resident");
                        }
                        if a.admitted {
                            resident.insert(k, size);
                        } else {
                            prop_assert!(!resident.contains_key(&k));
                        }
                    }
                    Op::Hit(k) => p.record_hit(k),
                    Op::Miss => p.record_miss(),
                    Op::Remove(k) => {
                        prop_assert_eq!(p.remove(k), resident.remove(&k).is_some());
                    }
                    Op::Expire(age) => {
                        for h in p.expire(now, age) {
                            prop_assert!(resident.remove(&h).is_some());
                        }
                    }
                }
                let s = p.stats();
                prop_assert!(s.entries <= cap_entries && s.bytes <= cap_bytes, "{s:?}");
                prop_assert!(p.window_max_entries() >= p.initial_window_max());
                prop_assert!(p.window_max_entries() <= cap_entries.saturating_sub(1).max(1));
                prop_assert_eq!(s.entries, resident.len() as u64);
                prop_assert_eq!(s.bytes, resident.values().sum::<u64>());
                for k in resident.keys() {
                    prop_assert!(p.contains(*k));
                }
            }
            let q = CachePolicy::restore(&p.snapshot()).unwrap();
            prop_assert_eq!(layout(&q), layout(&p));
            prop_assert_eq!(q.stats(), p.stats());
        }
    }
}
