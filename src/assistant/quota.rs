//! The per-user daily token budget (`USER_DAILY_TOKENS`), as a pure core kept in the user's
//! Durable Object: one writer per user, so admission is a plain check-and-reserve with no race.
//!
//! A reply is admitted only if the day's tokens — used, plus reserved by replies still streaming,
//! plus this reply's reservation — stay within the limit; it then holds its reservation until it
//! ends and its real usage (the upstream's counts, or the estimate) replaces it. Concurrent replies
//! therefore cannot together pass the limit: each one's worst case is reserved before it starts.
//! The reservation is the reply's worst case: `LLM_CONTEXT_TOKENS` (the prompt budget plus
//! `LLM_MAX_OUTPUT_TOKENS`), since the prompt is built after admission.
//!
//! Days are UTC days. A refusal says when the next day starts (`retry-after`). A reservation whose
//! reply never settles (its object lost the settle call) is dropped when the day rolls over, so it
//! can block at most the rest of one day's budget share it reserved.
//!
//! Stored under key [`QUOTA_KEY`] as JSON; one small write per admission and per settle.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::chat::format_rfc3339_ms;

/// The user object's key for the day's usage.
pub const QUOTA_KEY: &str = "q";
/// Milliseconds in a day.
pub const DAY_MS: u64 = 86_400_000;
/// Most reservations held at once (a bound on the record; far above one user's tabs streaming).
pub const MAX_RESERVATIONS: usize = 1_000;

/// One user's usage for one UTC day.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DailyUsage {
    /// Days since the Unix epoch (UTC).
    pub day: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// Replies settled today.
    pub replies: u64,
    /// Tokens reserved by replies still streaming, by reply id.
    pub reserved: BTreeMap<String, u64>,
}

/// Why a reply is not admitted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuotaError {
    /// The day's tokens would pass the limit.
    #[error("today's token budget of {limit} is used up ({used} used, {reserved} reserved by replies in progress); it renews at 00:00 UTC")]
    Exceeded {
        limit: u64,
        used: u64,
        reserved: u64,
        /// Seconds until the next UTC day.
        retry_after_s: u64,
    },
    /// Too many replies in progress for one user.
    #[error("{MAX_RESERVATIONS} replies are in progress for this user; wait for some to end")]
    TooManyInProgress,
}

impl crate::api::HasErrorCode for QuotaError {
    fn error_code(&self) -> crate::api::ErrorCode {
        match self {
            Self::Exceeded { .. } => crate::api::ErrorCode::QuotaExceeded,
            Self::TooManyInProgress => crate::api::ErrorCode::Conflict,
        }
    }
}

impl QuotaError {
    /// Seconds until the budget renews, for `retry-after`.
    pub fn retry_after_s(&self) -> Option<u64> {
        match self {
            Self::Exceeded { retry_after_s, .. } => Some(*retry_after_s),
            Self::TooManyInProgress => None,
        }
    }
}

impl DailyUsage {
    /// The usage stored in `store` (a new day's when none).
    pub fn load(
        store: &impl crate::storage::KvStore,
    ) -> Result<DailyUsage, crate::chat::ChatError> {
        match store.get(QUOTA_KEY)? {
            Some(bytes) => serde_json::from_slice(&bytes).map_err(|_| {
                crate::chat::ChatError::Corrupt("the user's usage record is malformed".into())
            }),
            None => Ok(DailyUsage::default()),
        }
    }

    /// Writes the usage to `store`.
    pub fn save(
        &self,
        store: &mut impl crate::storage::KvStore,
    ) -> Result<(), crate::chat::ChatError> {
        let bytes = serde_json::to_vec(self)
            .map_err(|e| crate::chat::ChatError::Corrupt(format!("encode the usage: {e}")))?;
        store.put(QUOTA_KEY, &bytes)?;
        Ok(())
    }

    fn roll_to(&mut self, now_ms: u64) {
        let today = now_ms / DAY_MS;
        if today != self.day {
            *self = DailyUsage {
                day: today,
                ..DailyUsage::default()
            };
        }
    }

    /// Tokens used today.
    pub fn used(&self) -> u64 {
        self.prompt_tokens.saturating_add(self.completion_tokens)
    }

    /// Tokens reserved by replies in progress.
    pub fn reserved_total(&self) -> u64 {
        self.reserved
            .values()
            .fold(0u64, |a, b| a.saturating_add(*b))
    }

    /// Admits reply `reply_id` with a reservation of `tokens` under `limit` (idempotent for the
    /// same reply id).
    pub fn reserve(
        &mut self,
        reply_id: &str,
        tokens: u64,
        limit: u64,
        now_ms: u64,
    ) -> Result<(), QuotaError> {
        self.roll_to(now_ms);
        if self.reserved.contains_key(reply_id) {
            return Ok(());
        }
        if self.reserved.len() >= MAX_RESERVATIONS {
            return Err(QuotaError::TooManyInProgress);
        }
        let used = self.used();
        let reserved = self.reserved_total();
        if used.saturating_add(reserved).saturating_add(tokens) > limit {
            let next_day_ms = (self.day + 1) * DAY_MS;
            return Err(QuotaError::Exceeded {
                limit,
                used,
                reserved,
                retry_after_s: next_day_ms.saturating_sub(now_ms).div_ceil(1000).max(1),
            });
        }
        self.reserved.insert(reply_id.to_owned(), tokens);
        Ok(())
    }

    /// Drops the reservation of a reply that did not start (refused by its tab, or a retry that
    /// found an earlier reply).
    pub fn release(&mut self, reply_id: &str, now_ms: u64) {
        self.roll_to(now_ms);
        self.reserved.remove(reply_id);
    }

    /// Replaces reply `reply_id`'s reservation with its real usage. Idempotent: a reply settled
    /// before (no reservation left) is not counted again. Returns whether it counted.
    pub fn settle(
        &mut self,
        reply_id: &str,
        prompt_tokens: u64,
        completion_tokens: u64,
        now_ms: u64,
    ) -> bool {
        self.roll_to(now_ms);
        if self.reserved.remove(reply_id).is_none() {
            return false;
        }
        self.prompt_tokens = self.prompt_tokens.saturating_add(prompt_tokens);
        self.completion_tokens = self.completion_tokens.saturating_add(completion_tokens);
        self.replies += 1;
        true
    }

    /// The `GET /api/usage` answer at `now_ms`.
    pub fn view(&self, limit: u64, now_ms: u64) -> UsageView {
        let mut current = self.clone();
        current.roll_to(now_ms);
        let date = format_rfc3339_ms(current.day * DAY_MS);
        UsageView {
            date: date.get(..10).unwrap_or(&date).to_owned(),
            prompt_tokens: current.prompt_tokens,
            completion_tokens: current.completion_tokens,
            replies: current.replies,
            reserved_tokens: current.reserved_total(),
            limit_tokens: limit,
        }
    }
}

/// The caller's usage for the current UTC day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageView {
    /// `YYYY-MM-DD` (UTC).
    pub date: String,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub replies: u64,
    /// Held by replies still streaming.
    pub reserved_tokens: u64,
    pub limit_tokens: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOON: u64 = 20_000 * DAY_MS + DAY_MS / 2;

    #[test]
    fn concurrent_reservations_cannot_pass_the_limit_together() {
        let mut usage = DailyUsage::default();
        let mut admitted = 0;
        for i in 0..100 {
            if usage.reserve(&format!("r{i}"), 1_000, 10_000, NOON).is_ok() {
                admitted += 1;
            }
        }
        assert_eq!(admitted, 10);
        assert!(usage.used() + usage.reserved_total() <= 10_000);
        let err = usage.reserve("late", 1, 10_000, NOON).unwrap_err();
        match err {
            QuotaError::Exceeded { retry_after_s, .. } => assert_eq!(retry_after_s, 43_200),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn settling_replaces_the_reservation_with_the_real_usage_once() {
        let mut usage = DailyUsage::default();
        usage.reserve("a", 8_000, 10_000, NOON).unwrap();
        assert!(usage.reserve("b", 8_000, 10_000, NOON).is_err());
        assert!(usage.settle("a", 300, 200, NOON));
        assert!(!usage.settle("a", 300, 200, NOON), "settled once");
        assert_eq!(usage.used(), 500);
        assert_eq!(usage.replies, 1);
        usage.reserve("b", 8_000, 10_000, NOON).unwrap();
        usage.release("b", NOON);
        assert_eq!(usage.reserved_total(), 0);
        // Idempotent for the same reply.
        usage.reserve("c", 9_000, 10_000, NOON).unwrap();
        usage.reserve("c", 9_000, 10_000, NOON).unwrap();
        assert_eq!(usage.reserved_total(), 9_000);
    }

    #[test]
    fn a_new_day_starts_from_zero_and_drops_lost_reservations() {
        let mut usage = DailyUsage::default();
        usage.reserve("a", 10_000, 10_000, NOON).unwrap();
        assert!(usage.reserve("b", 1, 10_000, NOON).is_err());
        let tomorrow = NOON + DAY_MS;
        usage.reserve("b", 10_000, 10_000, tomorrow).unwrap();
        assert!(
            !usage.settle("a", 5, 5, tomorrow),
            "yesterday's reservation is gone"
        );
        let view = usage.view(10_000, tomorrow);
        assert_eq!(view.reserved_tokens, 10_000);
        assert_eq!(view.used_total(), 0);
        assert_eq!(view.date.len(), 10);
    }

    impl UsageView {
        fn used_total(&self) -> u64 {
            self.prompt_tokens + self.completion_tokens
        }
    }
}
