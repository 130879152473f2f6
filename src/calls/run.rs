//! Calls to a rollout run's object (`RunObject`, one per user and run).

use serde::{Deserialize, Serialize};

use super::{calls, Answer, CallError, Encoded};
use crate::rollout::{Policy, ResponseFormat, RolloutSummary, RunInfo};

/// Every call a run's object accepts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum RunCall {
    Create(Create),
    Info(Info),
    Step(Step),
    Buffer(Buffer),
    Delete(Delete),
}

/// Creates the run (validated by the worker; the seed already chosen).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Create {
    /// The owner and the run's id: the owner's registry is told when the run expires.
    pub user: String,
    pub run_id: String,
    pub num_envs: usize,
    pub seed: u64,
    pub buffer_capacity: usize,
    pub now_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Info;

/// Advances every env `steps` steps under `policy`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub steps: usize,
    pub policy: Policy,
    pub now_ms: u64,
}

/// The newest `limit` transitions, encoded by the object in `format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Buffer {
    pub limit: usize,
    pub format: ResponseFormat,
}

/// The buffer's bytes in the representation [`Buffer::format`] asked for, passed through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedBuffer(pub Vec<u8>);

impl Answer for EncodedBuffer {
    const CONTENT_TYPE: &'static str = "application/octet-stream";
    fn encode(self) -> Result<Vec<u8>, CallError> {
        Ok(self.0)
    }
    fn decode(bytes: Vec<u8>) -> Result<Self, CallError> {
        Ok(Self(bytes))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delete;

calls!(RunCall {
    Create => Encoded<RunInfo>,
    Info => Encoded<RunInfo>,
    Step => Encoded<RolloutSummary>,
    Buffer => EncodedBuffer,
    Delete => (),
});
