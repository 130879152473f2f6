//! When a tab flushes: after `max_pending` appends, or from the Durable Object's alarm
//! `interval_ms` after the first pending append — whichever comes first.
//!
//! The [`Batcher`] is a tiny state machine that only *decides*; it never reads a clock or touches
//! storage. The Durable Object passes `now_ms` (`Date.now()`) and the tab's pending summary (from
//! [`super::TabLog`]), then carries out the decision: run `TabLog::flush`, or set or delete its
//! single alarm. Because appends are durable on their own (see `tab_log`), losing the batcher's
//! state (an eviction, a deploy) loses nothing: a fresh batcher built from `getAlarm()` and the
//! reloaded `TabLog` makes the same decisions, and a flush that runs twice is a no-op the second
//! time. That is what makes the alarm's at-least-once delivery safe.

/// The two knobs of the flush policy (`FLUSH_MAX_PENDING`, `FLUSH_INTERVAL_MS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlushPolicy {
    /// Flush as soon as this many messages are pending. 0 behaves like 1 (flush every append).
    pub max_pending: u32,
    /// Flush this many milliseconds after the first pending append at the latest.
    pub interval_ms: u64,
}

impl Default for FlushPolicy {
    /// The contract's defaults: 10 pending messages or 5000 ms.
    fn default() -> Self {
        Self {
            max_pending: 10,
            interval_ms: 5_000,
        }
    }
}

/// What the object does right after an append was stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendDecision {
    /// Enough messages are pending: flush now (the append is already durable, so a failing flush
    /// must not fail the append: the tab core runs the flush from an alarm set for now, which is
    /// retried when it fails).
    FlushNow,
    /// Set the object's alarm to fire at `at_ms` (ms since the epoch).
    SetAlarm {
        /// When the alarm must fire, ms since the epoch.
        at_ms: u64,
    },
    /// An alarm is already set (or nothing is pending): do nothing.
    Nothing,
}

/// What the object does when its alarm fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlarmDecision {
    /// The oldest pending message is due: flush now. If the flush fails, let the alarm handler
    /// fail so the platform retries it.
    Flush,
    /// The alarm fired early (a stale alarm from before a flush): set it again for `at_ms`.
    Reschedule {
        /// When the alarm must fire, ms since the epoch.
        at_ms: u64,
    },
    /// Nothing is pending (an at-least-once duplicate or an alarm outliving its flush): do nothing.
    Idle,
}

/// What the object does after a flush completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFlush {
    /// An alarm is set and no longer needed: delete it (harmless if it fires anyway).
    DeleteAlarm,
    /// No alarm is set.
    Nothing,
}

/// The flush scheduler of one tab; see the module docs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batcher {
    policy: FlushPolicy,
    alarm_at_ms: Option<u64>,
}

impl Batcher {
    /// A batcher for `policy`. `scheduled_alarm_ms` is the alarm the object already has
    /// (`storage.getAlarm()` after a restart), so no second one is requested.
    pub fn new(policy: FlushPolicy, scheduled_alarm_ms: Option<u64>) -> Self {
        Self {
            policy,
            alarm_at_ms: scheduled_alarm_ms,
        }
    }

    /// The policy in force.
    pub fn policy(&self) -> FlushPolicy {
        self.policy
    }

    /// The alarm this batcher believes is set, ms since the epoch.
    pub fn alarm_at_ms(&self) -> Option<u64> {
        self.alarm_at_ms
    }

    /// Decides after an append, given `pending` messages (including this one) of which the oldest
    /// was appended at `first_pending_at_ms`. Also usable right after loading a tab, to make sure
    /// leftover pending messages get an alarm.
    pub fn after_append(
        &mut self,
        pending: u64,
        first_pending_at_ms: u64,
        now_ms: u64,
    ) -> AppendDecision {
        if pending == 0 {
            return AppendDecision::Nothing;
        }
        if pending >= u64::from(self.policy.max_pending) {
            // One immediate alarm per batch: an alarm already due covers this append too.
            if self.alarm_at_ms.is_some_and(|at| at <= now_ms) {
                return AppendDecision::Nothing;
            }
            self.alarm_at_ms = Some(now_ms);
            return AppendDecision::FlushNow;
        }
        if self.alarm_at_ms.is_some() {
            return AppendDecision::Nothing;
        }
        let at_ms = self.due_at(first_pending_at_ms).max(now_ms);
        self.alarm_at_ms = Some(at_ms);
        AppendDecision::SetAlarm { at_ms }
    }

    /// Decides when the alarm fires at `now_ms` with `pending` messages, the oldest appended at
    /// `first_pending_at_ms` (`None` when nothing is pending).
    pub fn on_alarm(
        &mut self,
        pending: u64,
        first_pending_at_ms: Option<u64>,
        now_ms: u64,
    ) -> AlarmDecision {
        // The platform deletes an alarm once it fired.
        self.alarm_at_ms = None;
        let Some(first) = first_pending_at_ms.filter(|_| pending > 0) else {
            return AlarmDecision::Idle;
        };
        let due = self.due_at(first);
        if now_ms >= due || pending >= u64::from(self.policy.max_pending) {
            AlarmDecision::Flush
        } else {
            self.alarm_at_ms = Some(due);
            AlarmDecision::Reschedule { at_ms: due }
        }
    }

    /// Records that a flush completed (every pending message is now compacted).
    pub fn after_flush(&mut self) -> AfterFlush {
        match self.alarm_at_ms.take() {
            Some(_) => AfterFlush::DeleteAlarm,
            None => AfterFlush::Nothing,
        }
    }

    /// Records an alarm set for another reason (a retry): `at_ms`, or the earlier alarm already
    /// set. Returns the time the alarm must have.
    pub fn alarm_at_least_by(&mut self, at_ms: u64) -> u64 {
        let at = self.alarm_at_ms.map_or(at_ms, |set| set.min(at_ms));
        self.alarm_at_ms = Some(at);
        at
    }

    /// The object failed to set the alarm it was asked for: believe none is set, so the next
    /// decision asks again.
    pub fn forget_alarm(&mut self) {
        self.alarm_at_ms = None;
    }

    fn due_at(&self, first_pending_at_ms: u64) -> u64 {
        first_pending_at_ms.saturating_add(self.policy.interval_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_contract() {
        assert_eq!(
            FlushPolicy::default(),
            FlushPolicy {
                max_pending: 10,
                interval_ms: 5000
            }
        );
    }

    #[test]
    fn threshold_flush_on_the_tenth_pending_append() {
        let mut b = Batcher::new(FlushPolicy::default(), None);
        let t0 = 1_000_000;
        assert_eq!(
            b.after_append(1, t0, t0),
            AppendDecision::SetAlarm { at_ms: t0 + 5000 }
        );
        for pending in 2..10 {
            assert_eq!(
                b.after_append(pending, t0, t0 + pending * 10),
                AppendDecision::Nothing
            );
        }
        assert_eq!(b.after_append(10, t0, t0 + 100), AppendDecision::FlushNow);
        assert_eq!(b.after_flush(), AfterFlush::DeleteAlarm);
        assert_eq!(b.alarm_at_ms(), None);
        // A flush without an alarm has nothing to delete.
        assert_eq!(b.after_flush(), AfterFlush::Nothing);
    }

    #[test]
    fn alarm_is_requested_once_per_batch() {
        let mut b = Batcher::new(FlushPolicy::default(), None);
        assert_eq!(
            b.after_append(1, 0, 0),
            AppendDecision::SetAlarm { at_ms: 5000 }
        );
        assert_eq!(b.after_append(2, 0, 1000), AppendDecision::Nothing);
        assert_eq!(b.after_append(3, 0, 4999), AppendDecision::Nothing);
        // A batcher rebuilt after a restart knows the scheduled alarm and asks for no other.
        let mut rebuilt = Batcher::new(FlushPolicy::default(), Some(5000));
        assert_eq!(rebuilt.after_append(4, 0, 4999), AppendDecision::Nothing);
    }

    #[test]
    fn timer_flush_when_the_alarm_fires_after_the_interval() {
        let mut b = Batcher::new(FlushPolicy::default(), None);
        assert_eq!(
            b.after_append(1, 200, 200),
            AppendDecision::SetAlarm { at_ms: 5200 }
        );
        assert_eq!(b.on_alarm(3, Some(200), 5200), AlarmDecision::Flush);
        assert_eq!(b.after_flush(), AfterFlush::Nothing);
        // The next batch gets a new alarm measured from its own first append.
        assert_eq!(
            b.after_append(1, 9000, 9000),
            AppendDecision::SetAlarm { at_ms: 14_000 }
        );
    }

    #[test]
    fn duplicate_or_stale_alarms_do_no_harm() {
        let mut b = Batcher::new(FlushPolicy::default(), None);
        assert_eq!(b.on_alarm(0, None, 7000), AlarmDecision::Idle);
        // A stale alarm firing before the current batch is due is moved, not turned into a flush.
        assert_eq!(
            b.on_alarm(2, Some(6000), 7000),
            AlarmDecision::Reschedule { at_ms: 11_000 }
        );
        assert_eq!(b.alarm_at_ms(), Some(11_000));
        assert_eq!(b.after_append(3, 6000, 7100), AppendDecision::Nothing);
    }

    #[test]
    fn overdue_pending_messages_get_an_alarm_now_not_in_the_past() {
        let mut b = Batcher::new(FlushPolicy::default(), None);
        assert_eq!(
            b.after_append(2, 1000, 60_000),
            AppendDecision::SetAlarm { at_ms: 60_000 }
        );
    }

    #[test]
    fn one_immediate_alarm_per_full_batch() {
        let mut b = Batcher::new(
            FlushPolicy {
                max_pending: 2,
                interval_ms: 5000,
            },
            None,
        );
        assert_eq!(
            b.after_append(1, 0, 0),
            AppendDecision::SetAlarm { at_ms: 5000 }
        );
        assert_eq!(b.after_append(2, 0, 10), AppendDecision::FlushNow);
        assert_eq!(b.alarm_at_ms(), Some(10));
        // Appends landing before the immediate alarm ran ask for nothing more.
        assert_eq!(b.after_append(3, 0, 11), AppendDecision::Nothing);
        // A full batch is flushed by any alarm, even one set before it was due.
        assert_eq!(b.on_alarm(3, Some(0), 12), AlarmDecision::Flush);
    }

    #[test]
    fn a_forgotten_alarm_is_asked_for_again() {
        let mut b = Batcher::new(FlushPolicy::default(), None);
        assert_eq!(
            b.after_append(1, 0, 0),
            AppendDecision::SetAlarm { at_ms: 5000 }
        );
        b.forget_alarm();
        assert_eq!(
            b.after_append(2, 0, 10),
            AppendDecision::SetAlarm { at_ms: 5000 }
        );
        assert_eq!(b.alarm_at_least_by(7000), 5000);
        assert_eq!(b.alarm_at_least_by(100), 100);
    }

    #[test]
    fn zero_max_pending_flushes_every_append() {
        let mut b = Batcher::new(
            FlushPolicy {
                max_pending: 0,
                interval_ms: 5000,
            },
            None,
        );
        assert_eq!(b.after_append(1, 0, 0), AppendDecision::FlushNow);
    }
}
