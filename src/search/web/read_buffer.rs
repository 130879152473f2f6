//! The isolate's lossy buffer of cache-hit hashes (like Caffeine's read buffer).
//!
//! A cache hit must never wait on the shard Durable Object that owns the policy. So the isolate
//! only pushes the key hash here; when [`ReadBuffer::should_drain`] says so (enough hits or old
//! enough), the edge drains the batch and sends it to the shard in the background (`wait_until`),
//! which applies it with [`super::policy::CachePolicy::record_hits`]. When the buffer is full new
//! hits are dropped, never blocking: the policy only needs a representative sample of hits for
//! recency and frequency, and an isolate that cannot reach its shard must not grow without bound.

/// Hits an isolate buffers per shard before it sends them as one batch.
pub const DRAIN_AT: usize = 64;
/// Most hits an isolate buffers per shard; more are dropped until the next drain.
pub const CAPACITY: usize = 1024;
/// A non-empty buffer is drained at the latest when its oldest hit is this old, ms.
pub const MAX_AGE_MS: u64 = 2000;

/// A bounded, lossy buffer of hit hashes for one shard.
#[derive(Debug, Clone)]
pub struct ReadBuffer {
    hashes: Vec<u64>,
    capacity: usize,
    drain_at: usize,
    max_age_ms: u64,
    /// When the oldest buffered hit arrived (ms since the epoch), if any.
    oldest_ms: Option<u64>,
    dropped: u64,
}

impl ReadBuffer {
    /// A buffer holding at most `capacity` hashes (at least 1) that wants draining once it holds
    /// `drain_at` hashes (clamped to 1..=capacity) or its oldest hash is `max_age_ms` old.
    pub fn new(capacity: usize, drain_at: usize, max_age_ms: u64) -> Self {
        let capacity = capacity.max(1);
        Self {
            hashes: Vec::new(),
            capacity,
            drain_at: drain_at.clamp(1, capacity),
            max_age_ms,
            oldest_ms: None,
            dropped: 0,
        }
    }

    /// Records a hit at `now_ms`; false (and counted in [`dropped`](Self::dropped)) when full.
    pub fn push(&mut self, hash: u64, now_ms: u64) -> bool {
        if self.hashes.len() >= self.capacity {
            self.dropped += 1;
            return false;
        }
        self.oldest_ms.get_or_insert(now_ms);
        self.hashes.push(hash);
        true
    }

    /// True when the batch should be sent: it reached `drain_at` hashes, or it is non-empty and
    /// its oldest hash is at least `max_age_ms` old at `now_ms`.
    pub fn should_drain(&self, now_ms: u64) -> bool {
        self.hashes.len() >= self.drain_at
            || self
                .oldest_ms
                .is_some_and(|t| now_ms.saturating_sub(t) >= self.max_age_ms)
    }

    /// Takes the buffered hashes in arrival order, leaving the buffer empty.
    pub fn drain(&mut self) -> Vec<u64> {
        self.oldest_ms = None;
        std::mem::take(&mut self.hashes)
    }

    /// Hashes currently buffered.
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    /// True when nothing is buffered.
    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// Hits dropped because the buffer was full, since creation.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_when_full_and_drains_in_order() {
        let mut b = ReadBuffer::new(3, 3, 1000);
        assert!(b.push(1, 0) && b.push(2, 0) && b.push(3, 0));
        assert!(!b.push(4, 0));
        assert_eq!(b.dropped(), 1);
        assert_eq!(b.drain(), vec![1, 2, 3]);
        assert!(b.is_empty());
        assert!(b.push(5, 0));
        assert_eq!(b.len(), 1);
    }

    #[test]
    fn drains_by_size_or_age_with_a_fake_clock() {
        let mut b = ReadBuffer::new(100, 2, 5_000);
        assert!(!b.should_drain(1_000_000), "empty never drains");
        b.push(7, 1_000);
        assert!(!b.should_drain(5_999));
        assert!(b.should_drain(6_000), "oldest is 5 s old");
        b.push(8, 6_000);
        assert!(b.should_drain(1_000), "size reached");
        b.drain();
        b.push(9, 10_000);
        assert!(!b.should_drain(14_999), "age restarts after a drain");
    }
}
