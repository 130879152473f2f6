//! Vectorized CartPole-v1 rollouts: the pure core behind `POST /api/rollout` and the stateful
//! runs of `/api/rollout/runs` (contract: `shared/API.md`, section Rollouts).
//!
//! - [`cartpole`]: a batch of envs as one `(num_envs, 4)` float64 array, gymnasium's dynamics.
//! - [`policy`]: random, linear softmax (with log-probabilities), explicit actions; value head.
//! - [`gae`]: GAE(gamma, lambda) and returns as CleanRL's PPO computes them.
//! - [`buffer`]: the bounded experience ring of a stateful run, with a compact byte encoding.
//! - [`request`]: request parsing/validation and response types.
//! - [`encoding`]: rollout and buffer answers as JSON or as a safetensors file, picked from `Accept`.
//! - [`run`]: [`rollout`] (one request) and [`RunState`] (a run carried between requests).
//! - [`rng`]: the seeded generator and its documented mappings from draws to numbers.
//!
//! Determinism: everything random comes from one `Pcg64` per rollout or run, seeded with the
//! request's seed (the edge picks one with `getrandom` when absent, see
//! [`request::seed_from_entropy`]), and drawn in a fixed order: at each step first the actions (one
//! draw per env, env order; none for explicit actions), then the resets of the envs that finished
//! (four draws per env, env order). Without `initial_state`, all envs are reset first, in env order.

pub mod buffer;
pub mod cartpole;
pub mod encoding;
pub mod gae;
pub mod policy;
pub mod request;
pub mod rng;
pub mod run;

pub use buffer::{BufferView, ExperienceBuffer, Transition};
pub use encoding::{encode_buffer_safetensors, encode_safetensors, ResponseFormat};
pub use policy::{LinearPolicy, Policy};
pub use request::{
    RolloutRequest, RolloutResponse, RolloutSummary, RunCreateRequest, RunStepRequest, Trajectory,
};
pub use run::{rollout, RunInfo, RunState};

use crate::api::{ErrorCode, HasErrorCode, InputError};

/// Everything that can go wrong in the rollout core.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RolloutError {
    /// The request is malformed or out of bounds (`invalid_json`, `invalid_field`,
    /// `unknown_field` or `limit_exceeded`; the message says which field and what is allowed).
    #[error(transparent)]
    Input(#[from] InputError),
    /// Arrays handed between core functions disagree in shape: a bug, never caused by input
    /// (inputs are validated first). Maps to 500 `internal`.
    #[error("internal error: rollout arrays disagree in shape ({0}); please report this")]
    ShapeMismatch(String),
    /// A stored run state or buffer cannot be decoded. Maps to 500 `internal`.
    #[error("the stored rollout run is corrupt ({0}); delete the run and create a new one")]
    CorruptState(String),
    /// The safetensors writer rejected the answer it was given: a bug. Maps to 500 `internal`.
    #[error(
        "internal error: the binary rollout answer could not be written ({0}); please report this"
    )]
    Encode(String),
}

impl RolloutError {
    /// An `invalid_field` input error with `message`.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::Input(InputError::invalid(message))
    }

    /// A `limit_exceeded` input error with `message`.
    pub fn limit(message: impl Into<String>) -> Self {
        Self::Input(InputError::limit(message))
    }
}

impl HasErrorCode for RolloutError {
    fn error_code(&self) -> ErrorCode {
        match self {
            Self::Input(e) => e.code,
            Self::ShapeMismatch(_) | Self::CorruptState(_) | Self::Encode(_) => ErrorCode::Internal,
        }
    }
}
