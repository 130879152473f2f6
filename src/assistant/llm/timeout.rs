//! The two upstream timeouts as pure decisions over a clock the edge passes in (ms).
//!
//! The edge races a timer against each `fetch`/read and asks [`Watchdog::deadline_ms`] when to
//! wake; on waking it asks [`Watchdog::expired`]. Until the first body byte the deadline is
//! `sent + LLM_FIRST_BYTE_TIMEOUT_MS` (the response head alone does not count: a server that
//! sends headers and then nothing is as stuck as one that sends nothing); after it, each chunk
//! moves the deadline to `last chunk + LLM_IDLE_TIMEOUT_MS`. Comments (`: keep-alive`) are bytes,
//! so an upstream that pings while it thinks is not idle. Defaults: 30 000 ms each
//! (`config::Config`).

/// Which timeout passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeoutKind {
    /// No body byte within the first-byte timeout of sending the request.
    FirstByte,
    /// No chunk within the idle timeout of the previous one.
    Idle,
}

/// Deadlines of one upstream call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Watchdog {
    first_byte_ms: u64,
    idle_ms: u64,
    sent_ms: u64,
    last_byte_ms: Option<u64>,
}

impl Watchdog {
    /// A watchdog for a request sent at `sent_ms`.
    pub fn new(first_byte_ms: u64, idle_ms: u64, sent_ms: u64) -> Self {
        Self {
            first_byte_ms,
            idle_ms,
            sent_ms,
            last_byte_ms: None,
        }
    }

    /// Body bytes arrived at `now_ms`.
    pub fn on_bytes(&mut self, now_ms: u64) {
        // A clock that steps back never moves the deadline earlier than it was.
        let last = self.last_byte_ms.unwrap_or(self.sent_ms);
        self.last_byte_ms = Some(now_ms.max(last));
    }

    /// Whether any body byte has arrived.
    pub fn first_byte_seen(&self) -> bool {
        self.last_byte_ms.is_some()
    }

    /// When the current timeout passes (ms, same clock).
    pub fn deadline_ms(&self) -> u64 {
        match self.last_byte_ms {
            None => self.sent_ms.saturating_add(self.first_byte_ms),
            Some(last) => last.saturating_add(self.idle_ms),
        }
    }

    /// The timeout that has passed at `now_ms`, if any.
    pub fn expired(&self, now_ms: u64) -> Option<TimeoutKind> {
        if now_ms < self.deadline_ms() {
            return None;
        }
        Some(if self.first_byte_seen() {
            TimeoutKind::Idle
        } else {
            TimeoutKind::FirstByte
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_byte_then_idle() {
        let mut w = Watchdog::new(1000, 300, 10_000);
        assert_eq!(w.deadline_ms(), 11_000);
        assert_eq!(w.expired(10_999), None);
        assert_eq!(w.expired(11_000), Some(TimeoutKind::FirstByte));
        w.on_bytes(10_500);
        assert_eq!(w.deadline_ms(), 10_800);
        assert_eq!(w.expired(10_799), None);
        assert_eq!(w.expired(10_800), Some(TimeoutKind::Idle));
        w.on_bytes(10_700);
        assert_eq!(w.expired(10_800), None);
        assert_eq!(w.expired(11_000), Some(TimeoutKind::Idle));
    }

    #[test]
    fn a_clock_stepping_back_or_huge_values_do_not_break_it() {
        let mut w = Watchdog::new(u64::MAX, u64::MAX, u64::MAX - 5);
        assert_eq!(w.deadline_ms(), u64::MAX);
        w.on_bytes(3);
        assert_eq!(w.deadline_ms(), u64::MAX);
        let mut w = Watchdog::new(100, 100, 1000);
        w.on_bytes(2000);
        w.on_bytes(1500); // earlier than the last chunk: ignored
        assert_eq!(w.deadline_ms(), 2100);
    }
}
