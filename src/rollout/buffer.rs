//! A bounded experience ring buffer of CartPole transitions (oldest dropped first), stored
//! compactly so a whole run's buffer fits in one Durable Object value.
//!
//! Each transition is kept as 21 bytes: the observation *before* the step as four `f32` (the dtype
//! gymnasium's CartPole uses for observations; the run's exact float64 state lives in the run
//! state, not here), the reward as `f32`, and one flag byte (bit 0 action, bit 1 terminated,
//! bit 2 truncated). At the maximum capacity of 65 536 transitions the encoding is
//! 65 536 × 21 + 17 bytes ≈ 1.38 MB, under the 2 MB limit of a Durable Object storage value.
//!
//! The byte layout is documented on [`ExperienceBuffer::encode`].

use std::collections::VecDeque;

use serde::Serialize;

use super::RolloutError;

/// Largest accepted buffer capacity, in transitions.
pub const MAX_BUFFER_CAPACITY: usize = 65_536;
/// Bytes of one encoded transition.
pub const RECORD_BYTES: usize = 21;
const MAGIC: &[u8; 2] = b"RB";
const VERSION: u8 = 1;
/// magic + version + capacity u32 + len u32 + pushed u64.
const HEADER_BYTES: usize = 2 + 1 + 4 + 4 + 8;

const FLAG_ACTION: u8 = 1;
const FLAG_TERMINATED: u8 = 2;
const FLAG_TRUNCATED: u8 = 4;

/// One transition as returned by `GET /api/rollout/runs/{id}/buffer`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Transition {
    /// Observation the action was taken in, `[x, x_dot, theta, theta_dot]` (stored as f32).
    pub obs: [f32; 4],
    /// Action taken, 0 (push left) or 1 (push right).
    pub action: u8,
    /// Reward received (1.0 in CartPole).
    pub reward: f32,
    /// The step ended the episode by leaving the bounds.
    pub terminated: bool,
    /// The step was the episode's 500th.
    pub truncated: bool,
}

impl Transition {
    fn flags(&self) -> u8 {
        (self.action & FLAG_ACTION)
            | if self.terminated { FLAG_TERMINATED } else { 0 }
            | if self.truncated { FLAG_TRUNCATED } else { 0 }
    }

    fn from_record(record: &[u8]) -> Option<Self> {
        let f = |i: usize| -> Option<f32> {
            let bytes: [u8; 4] = record.get(i * 4..i * 4 + 4)?.try_into().ok()?;
            Some(f32::from_le_bytes(bytes))
        };
        let flags = *record.get(20)?;
        // Unknown flag bits mean the bytes are not a record this version wrote: refuse them
        // (a corrupt value must not decode into something that re-encodes differently).
        if flags & !(FLAG_ACTION | FLAG_TERMINATED | FLAG_TRUNCATED) != 0 {
            return None;
        }
        Some(Self {
            obs: [f(0)?, f(1)?, f(2)?, f(3)?],
            reward: f(4)?,
            action: flags & FLAG_ACTION,
            terminated: flags & FLAG_TERMINATED != 0,
            truncated: flags & FLAG_TRUNCATED != 0,
        })
    }
}

/// The answer of `GET /api/rollout/runs/{id}/buffer`: the newest transitions, oldest first, and
/// the ring's fill and capacity.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BufferView {
    /// Up to `limit` of the newest transitions, oldest first.
    pub transitions: Vec<Transition>,
    /// Transitions held by the ring.
    pub len: usize,
    /// The ring's capacity.
    pub capacity: usize,
}

/// A ring of at most `capacity` transitions; pushing into a full ring drops the oldest.
#[derive(Debug, Clone, PartialEq)]
pub struct ExperienceBuffer {
    capacity: usize,
    items: VecDeque<Transition>,
    pushed: u64,
}

impl ExperienceBuffer {
    /// An empty buffer holding up to `capacity` transitions.
    ///
    /// Errors: `invalid_field` when `capacity` is 0 or above [`MAX_BUFFER_CAPACITY`].
    pub fn new(capacity: usize) -> Result<Self, RolloutError> {
        if capacity == 0 || capacity > MAX_BUFFER_CAPACITY {
            return Err(RolloutError::invalid(format!(
                "`buffer_capacity` must be in 1..={MAX_BUFFER_CAPACITY}, got {capacity}"
            )));
        }
        Ok(Self {
            capacity,
            items: VecDeque::with_capacity(capacity.min(4096)),
            pushed: 0,
        })
    }

    /// Appends a transition, dropping the oldest when full.
    pub fn push(&mut self, transition: Transition) {
        if self.items.len() >= self.capacity {
            self.items.pop_front();
        }
        self.items.push_back(transition);
        self.pushed += 1;
    }

    /// Transitions held now, `0..=capacity`.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether nothing was pushed yet.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Maximum transitions held.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Transitions ever pushed (including dropped ones).
    pub fn pushed_total(&self) -> u64 {
        self.pushed
    }

    /// The newest `limit` transitions (fewer when the buffer holds fewer), oldest first.
    pub fn latest(&self, limit: usize) -> Vec<Transition> {
        let skip = self.items.len().saturating_sub(limit);
        self.items.iter().skip(skip).copied().collect()
    }

    /// Compact bytes: header (`b"RB"`, version 1, capacity u32, len u32, pushed u64, all LE)
    /// then `len` records of [`RECORD_BYTES`], oldest first.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_BYTES + self.items.len() * RECORD_BYTES);
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        out.extend_from_slice(&(self.capacity as u32).to_le_bytes());
        out.extend_from_slice(&(self.items.len() as u32).to_le_bytes());
        out.extend_from_slice(&self.pushed.to_le_bytes());
        for t in &self.items {
            for v in t.obs {
                out.extend_from_slice(&v.to_le_bytes());
            }
            out.extend_from_slice(&t.reward.to_le_bytes());
            out.push(t.flags());
        }
        out
    }

    /// Decodes [`encode`](Self::encode)'s bytes, returning the buffer and the bytes consumed.
    ///
    /// Errors: `CorruptState` on a wrong header, length or capacity.
    pub fn decode(bytes: &[u8]) -> Result<(Self, usize), RolloutError> {
        let corrupt = |what: &str| RolloutError::CorruptState(format!("experience buffer: {what}"));
        if bytes.get(..2) != Some(MAGIC.as_slice()) || bytes.get(2) != Some(&VERSION) {
            return Err(corrupt("bad header"));
        }
        let u32_at = |i: usize| -> Option<u32> {
            Some(u32::from_le_bytes(bytes.get(i..i + 4)?.try_into().ok()?))
        };
        let capacity = u32_at(3).ok_or_else(|| corrupt("truncated header"))? as usize;
        let len = u32_at(7).ok_or_else(|| corrupt("truncated header"))? as usize;
        let pushed = bytes
            .get(11..19)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
            .ok_or_else(|| corrupt("truncated header"))?;
        if capacity == 0 || capacity > MAX_BUFFER_CAPACITY || len > capacity {
            return Err(corrupt("capacity or length out of range"));
        }
        let end = HEADER_BYTES + len * RECORD_BYTES;
        let body = bytes
            .get(HEADER_BYTES..end)
            .ok_or_else(|| corrupt("truncated records"))?;
        let items = body
            .chunks_exact(RECORD_BYTES)
            .map(Transition::from_record)
            .collect::<Option<VecDeque<_>>>()
            .ok_or_else(|| corrupt("bad record"))?;
        Ok((
            Self {
                capacity,
                items,
                pushed,
            },
            end,
        ))
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn records_with_unknown_flag_bits_are_corrupt() {
        let mut buffer = ExperienceBuffer::new(4).unwrap();
        buffer.push(Transition {
            obs: [0.0; 4],
            action: 1,
            reward: 1.0,
            terminated: false,
            truncated: false,
        });
        let mut bytes = buffer.encode();
        let last = bytes.len() - 1;
        bytes[last] |= 8;
        assert!(ExperienceBuffer::decode(&bytes).is_err());
    }

    use super::*;

    fn transition(i: usize) -> Transition {
        Transition {
            obs: [i as f32, -0.5, 0.25, 1e-3],
            action: (i % 2) as u8,
            reward: 1.0,
            terminated: i.is_multiple_of(3),
            truncated: i.is_multiple_of(5),
        }
    }

    #[test]
    fn full_ring_drops_the_oldest_first() {
        let mut buf = ExperienceBuffer::new(3).unwrap();
        for i in 0..5 {
            buf.push(transition(i));
        }
        assert_eq!(buf.len(), 3);
        assert_eq!(buf.pushed_total(), 5);
        let obs0: Vec<f32> = buf.latest(10).iter().map(|t| t.obs[0]).collect();
        assert_eq!(obs0, vec![2.0, 3.0, 4.0], "oldest first, 0 and 1 dropped");
        let newest: Vec<f32> = buf.latest(2).iter().map(|t| t.obs[0]).collect();
        assert_eq!(newest, vec![3.0, 4.0]);
        assert!(buf.latest(0).is_empty());
    }

    #[test]
    fn encoding_round_trips_and_is_compact() {
        let mut buf = ExperienceBuffer::new(100).unwrap();
        for i in 0..40 {
            buf.push(transition(i));
        }
        let bytes = buf.encode();
        assert_eq!(bytes.len(), HEADER_BYTES + 40 * RECORD_BYTES);
        let (back, used) = ExperienceBuffer::decode(&bytes).unwrap();
        assert_eq!(back, buf);
        assert_eq!(used, bytes.len());
    }

    #[test]
    fn capacity_is_bounded() {
        assert!(ExperienceBuffer::new(0).is_err());
        assert!(ExperienceBuffer::new(MAX_BUFFER_CAPACITY + 1).is_err());
        assert!(ExperienceBuffer::new(MAX_BUFFER_CAPACITY).is_ok());
    }

    #[test]
    fn corrupt_bytes_are_errors_not_panics() {
        let mut buf = ExperienceBuffer::new(4).unwrap();
        buf.push(transition(1));
        let bytes = buf.encode();
        for cut in 0..bytes.len() {
            assert!(
                ExperienceBuffer::decode(&bytes[..cut]).is_err(),
                "cut at {cut}"
            );
        }
        assert!(ExperienceBuffer::decode(b"XX\x01").is_err());
    }
}
