//! Placeholder: filled in by the rollout work.
