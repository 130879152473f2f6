//! Running rollouts: [`rollout`] for one `POST /api/rollout` request, and [`RunState`] for a
//! stateful run advanced a few steps per request and stored between requests in a Durable Object.
//!
//! Both share [`advance`]: per step, record the observations (when asked), compute values (when
//! asked), choose actions (policy sample or explicit), step the batch (which resets finished envs).

use ndarray::{s, Array1, Array2, Array3, ArrayView2, Axis, Zip};
use serde::Serialize;

use super::buffer::{ExperienceBuffer, Transition};
use super::cartpole::{CartPoleBatch, EpisodeTally, StepOutputs};
use super::gae::gae;
use super::policy::Policy;
use super::request::{
    RolloutRequest, RolloutResponse, RolloutSummary, Trajectory, MAX_ENV_STEPS, MAX_STEPS,
};
use super::rng::SeededRng;
use super::RolloutError;

/// What [`advance`] records per step; arrays are `(steps, num_envs)` (observations
/// `(steps, num_envs, 4)`) when recording, else `(1, num_envs)` holding the last step only (a
/// summary needs no history, and reusing one row avoids megabytes of allocation per request).
#[derive(Debug, Clone)]
pub struct StepRecord {
    /// Observation before each step, when recording was asked for.
    pub observations: Option<Array3<f64>>,
    /// Actions taken.
    pub actions: Array2<u8>,
    /// Log-probabilities of the actions.
    pub log_probs: Array2<f64>,
    /// Rewards.
    pub rewards: Array2<f64>,
    /// Termination flags.
    pub terminated: Array2<bool>,
    /// Truncation flags.
    pub truncated: Array2<bool>,
    /// Values of the observations before each step, when asked for.
    pub values: Option<Array2<f64>>,
    /// Episodes finished during these steps.
    pub tally: EpisodeTally,
}

/// Advances `batch` by `steps` steps with `policy` (or the `(steps, num_envs)` `explicit_actions`),
/// drawing from `rng` in the documented order.
///
/// Errors: `ShapeMismatch` when `explicit_actions` is not `(steps, num_envs)`.
pub fn advance(
    batch: &mut CartPoleBatch,
    rng: &mut SeededRng,
    policy: &Policy,
    steps: usize,
    explicit_actions: Option<ArrayView2<u8>>,
    record_observations: bool,
    record_values: bool,
) -> Result<StepRecord, RolloutError> {
    let n = batch.num_envs();
    if let Some(a) = &explicit_actions {
        if a.dim() != (steps, n) {
            return Err(RolloutError::ShapeMismatch(format!(
                "explicit actions are {:?}, expected ({steps}, {n})",
                a.dim()
            )));
        }
    }
    let mut observations = record_observations.then(|| Array3::<f64>::zeros((steps, n, 4)));
    let mut values = record_values.then(|| Array2::<f64>::zeros((steps, n)));
    let rows = if record_observations || record_values {
        steps
    } else {
        1
    };
    let mut actions = Array2::<u8>::zeros((rows, n));
    let mut log_probs = Array2::<f64>::zeros((rows, n));
    let mut rewards = Array2::<f64>::zeros((rows, n));
    let mut terminated = Array2::from_elem((rows, n), false);
    let mut truncated = Array2::from_elem((rows, n), false);
    let mut tally = EpisodeTally::default();
    for step in 0..steps {
        let t = step.min(rows - 1);
        let obs = batch.states();
        if let Some(o) = observations.as_mut() {
            o.index_axis_mut(Axis(0), step).assign(&obs);
        }
        if let Some(v) = values.as_mut() {
            policy.values(obs, v.row_mut(step))?;
        }
        match &explicit_actions {
            Some(all) => {
                actions.row_mut(t).assign(&all.row(step));
                policy.log_probs_of(obs, all.row(step), log_probs.row_mut(t))?;
            }
            None => policy.sample(obs, rng, actions.row_mut(t), log_probs.row_mut(t))?,
        }
        let out = StepOutputs {
            rewards: rewards.row_mut(t),
            terminated: terminated.row_mut(t),
            truncated: truncated.row_mut(t),
        };
        batch.step(actions.row(t), rng, out, &mut tally)?;
    }
    Ok(StepRecord {
        observations,
        actions,
        log_probs,
        rewards,
        terminated,
        truncated,
        values,
        tally,
    })
}

fn summary(num_envs: usize, steps: usize, seed: u64, record: &StepRecord) -> RolloutSummary {
    let tally = record.tally;
    RolloutSummary {
        num_envs,
        steps,
        seed,
        episodes_finished: tally.finished,
        mean_episode_return: (tally.finished > 0).then(|| tally.return_sum / tally.finished as f64),
        reward_sum: tally.reward_sum,
    }
}

/// Runs one validated `POST /api/rollout` request with `seed` (the request's own seed, or one the
/// edge picked with [`super::request::seed_from_entropy`] when it had none).
///
/// Without `include_trajectory` neither observations, values nor GAE are computed.
/// Errors: only `ShapeMismatch` (a bug); every input problem was caught by
/// [`RolloutRequest::parse`].
pub fn rollout(req: &RolloutRequest, seed: u64) -> Result<RolloutResponse, RolloutError> {
    let mut rng = SeededRng::new(seed);
    let mut batch = match &req.initial_state {
        Some(states) if states.dim() == (req.num_envs, 4) => {
            CartPoleBatch::from_states(states.clone(), None, None)
        }
        Some(states) => {
            return Err(RolloutError::ShapeMismatch(format!(
                "initial_state is {:?}, expected ({}, 4)",
                states.dim(),
                req.num_envs
            )))
        }
        None => CartPoleBatch::reset(req.num_envs, &mut rng),
    };
    let want = req.include_trajectory;
    let record = advance(
        &mut batch,
        &mut rng,
        &req.policy,
        req.steps,
        req.actions.as_ref().map(|a| a.view()),
        want,
        want,
    )?;
    let summary = summary(req.num_envs, req.steps, seed, &record);
    let trajectory = if want {
        let StepRecord {
            observations,
            actions,
            log_probs,
            rewards,
            terminated,
            truncated,
            values,
            ..
        } = record;
        let values = values.unwrap_or_else(|| Array2::zeros((req.steps, req.num_envs)));
        let mut last_values = Array1::zeros(req.num_envs);
        req.policy.values(batch.states(), last_values.view_mut())?;
        let dones = Zip::from(&terminated)
            .and(&truncated)
            .map_collect(|&term, &trunc| term | trunc);
        let adv = gae(
            rewards.view(),
            values.view(),
            dones.view(),
            last_values.view(),
            req.gamma,
            req.lambda,
        )?;
        Some(Trajectory {
            observations: observations
                .unwrap_or_else(|| Array3::zeros((req.steps, req.num_envs, 4))),
            actions,
            rewards,
            terminated,
            truncated,
            values,
            advantages: adv.advantages,
            returns: adv.returns,
            log_probs,
        })
    } else {
        None
    };
    Ok(RolloutResponse {
        summary,
        trajectory,
    })
}

/// Public facts about a run (the edge adds its `id` for the 201 answer of `POST /api/rollout/runs`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunInfo {
    /// Envs of the run.
    pub num_envs: usize,
    /// Seed of the run's RNG stream.
    pub seed: u64,
    /// Experience buffer capacity, transitions.
    pub buffer_capacity: usize,
    /// Transitions currently in the buffer.
    pub buffer_len: usize,
    /// Steps each env has taken since the run was created.
    pub total_steps: u64,
    /// Episodes finished since the run was created.
    pub episodes_finished: u64,
    /// Mean return of those episodes, `null` when none finished yet.
    pub mean_episode_return: Option<f64>,
}

/// A rollout run carried between requests: env states, episode counters, RNG position, the
/// bounded experience buffer and running totals.
#[derive(Debug, Clone, PartialEq)]
pub struct RunState {
    batch: CartPoleBatch,
    seed: u64,
    rng_draws: u128,
    buffer: ExperienceBuffer,
    total_steps: u64,
    episodes_finished: u64,
    return_sum: f64,
}

const STATE_MAGIC: &[u8; 2] = b"RS";
const STATE_VERSION: u8 = 1;
/// magic, version, num_envs u32, seed u64, rng draws u128, total_steps u64, episodes u64,
/// return sum f64.
const STATE_HEADER_BYTES: usize = 2 + 1 + 4 + 8 + 16 + 8 + 8 + 8;
/// Per env: state 4 × f64, episode steps u32, episode return f64.
const STATE_ENV_BYTES: usize = 4 * 8 + 4 + 8;

impl RunState {
    /// A new run of `num_envs` (1..=1024) envs reset from `seed`, with an empty buffer of
    /// `buffer_capacity` (1..=65536) transitions.
    ///
    /// Errors: `invalid_field`/`limit_exceeded` when a count is out of range.
    pub fn new(num_envs: usize, seed: u64, buffer_capacity: usize) -> Result<Self, RolloutError> {
        if num_envs == 0 || num_envs > super::request::MAX_NUM_ENVS {
            return Err(RolloutError::invalid(format!(
                "`num_envs` must be in 1..={}, got {num_envs}",
                super::request::MAX_NUM_ENVS
            )));
        }
        let buffer = ExperienceBuffer::new(buffer_capacity)?;
        let mut rng = SeededRng::new(seed);
        let batch = CartPoleBatch::reset(num_envs, &mut rng);
        Ok(Self {
            batch,
            seed,
            rng_draws: rng.draws(),
            buffer,
            total_steps: 0,
            episodes_finished: 0,
            return_sum: 0.0,
        })
    }

    /// Advances every env by `steps` (1..=512, `num_envs * steps ≤ 131072`) with `policy`,
    /// pushes the transitions into the buffer (time-major, env order; only the newest
    /// `capacity` survive) and returns the summary of these steps.
    ///
    /// Errors: `invalid_field`/`limit_exceeded` for `steps` out of range.
    pub fn step(&mut self, steps: usize, policy: &Policy) -> Result<RolloutSummary, RolloutError> {
        let n = self.batch.num_envs();
        if steps == 0 || steps > MAX_STEPS {
            return Err(RolloutError::invalid(format!(
                "`steps` must be in 1..={MAX_STEPS}, got {steps}"
            )));
        }
        if n.saturating_mul(steps) > MAX_ENV_STEPS {
            return Err(RolloutError::limit(format!(
                "`num_envs * steps` must be at most {MAX_ENV_STEPS}; this run has {n} envs, so \
                 send at most {} steps",
                MAX_ENV_STEPS / n
            )));
        }
        let mut rng = SeededRng::restore(self.seed, self.rng_draws);
        let record = advance(&mut self.batch, &mut rng, policy, steps, None, true, false)?;
        self.rng_draws = rng.draws();
        self.total_steps += steps as u64;
        self.episodes_finished += record.tally.finished;
        self.return_sum += record.tally.return_sum;
        self.push_transitions(&record);
        Ok(summary(n, steps, self.seed, &record))
    }

    fn push_transitions(&mut self, record: &StepRecord) {
        let Some(obs) = &record.observations else {
            return;
        };
        let (steps, n) = record.actions.dim();
        // Transitions that would be dropped right away are skipped.
        let skip = (steps * n).saturating_sub(self.buffer.capacity());
        let first_step = skip / n;
        for t in first_step..steps {
            for i in 0..n {
                if t * n + i < skip {
                    continue;
                }
                let o = obs.slice(s![t, i, ..]);
                let mut obs32 = [0f32; 4];
                for (d, v) in obs32.iter_mut().zip(o.iter()) {
                    *d = *v as f32;
                }
                let at = [t, i];
                self.buffer.push(Transition {
                    obs: obs32,
                    action: record.actions.get(at).copied().unwrap_or(0),
                    reward: record.rewards.get(at).copied().unwrap_or(0.0) as f32,
                    terminated: record.terminated.get(at).copied().unwrap_or(false),
                    truncated: record.truncated.get(at).copied().unwrap_or(false),
                });
            }
        }
    }

    /// The newest `limit` transitions of the buffer, oldest first.
    pub fn latest(&self, limit: usize) -> Vec<Transition> {
        self.buffer.latest(limit)
    }

    /// The run's experience buffer.
    pub fn buffer(&self) -> &ExperienceBuffer {
        &self.buffer
    }

    /// The envs' current observations, `(num_envs, 4)`.
    pub fn states(&self) -> ArrayView2<'_, f64> {
        self.batch.states()
    }

    /// Public facts about the run.
    pub fn info(&self) -> RunInfo {
        RunInfo {
            num_envs: self.batch.num_envs(),
            seed: self.seed,
            buffer_capacity: self.buffer.capacity(),
            buffer_len: self.buffer.len(),
            total_steps: self.total_steps,
            episodes_finished: self.episodes_finished,
            mean_episode_return: (self.episodes_finished > 0)
                .then(|| self.return_sum / self.episodes_finished as f64),
        }
    }

    /// Encodes the run without its buffer (a few dozen bytes per env), for storing env state and
    /// buffer under separate keys: header (`b"RS"`, version 1, num_envs u32, seed u64, rng draws
    /// u128, total_steps u64, episodes u64, return sum f64) then per env 4 × f64 state,
    /// u32 episode steps and f64 episode return; all little-endian.
    pub fn encode_envs(&self) -> Vec<u8> {
        let n = self.batch.num_envs();
        let mut out = Vec::with_capacity(STATE_HEADER_BYTES + n * STATE_ENV_BYTES);
        out.extend_from_slice(STATE_MAGIC);
        out.push(STATE_VERSION);
        out.extend_from_slice(&(n as u32).to_le_bytes());
        out.extend_from_slice(&self.seed.to_le_bytes());
        out.extend_from_slice(&self.rng_draws.to_le_bytes());
        out.extend_from_slice(&self.total_steps.to_le_bytes());
        out.extend_from_slice(&self.episodes_finished.to_le_bytes());
        out.extend_from_slice(&self.return_sum.to_le_bytes());
        let states = self.batch.states();
        let steps = self.batch.episode_steps();
        let returns = self.batch.episode_returns();
        for ((row, s), r) in states
            .rows()
            .into_iter()
            .zip(steps.iter())
            .zip(returns.iter())
        {
            for v in row.iter() {
                out.extend_from_slice(&v.to_le_bytes());
            }
            out.extend_from_slice(&s.to_le_bytes());
            out.extend_from_slice(&r.to_le_bytes());
        }
        out
    }

    /// The whole run in one value: [`encode_envs`](Self::encode_envs) followed by the buffer's
    /// [`ExperienceBuffer::encode`] (≤ 45 KB + 1.38 MB at the maximum sizes).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = self.encode_envs();
        out.extend_from_slice(&self.buffer.encode());
        out
    }

    /// Decodes [`encode`](Self::encode)'s bytes.
    ///
    /// Errors: `CorruptState` when the bytes are not a complete run.
    pub fn decode(bytes: &[u8]) -> Result<Self, RolloutError> {
        let (mut state, used) = Self::decode_envs_prefix(bytes)?;
        let rest = bytes.get(used..).unwrap_or_default();
        let (buffer, buffer_used) = ExperienceBuffer::decode(rest)?;
        if buffer_used != rest.len() {
            return Err(RolloutError::CorruptState("trailing bytes".into()));
        }
        state.buffer = buffer;
        Ok(state)
    }

    /// Decodes a run stored as two values: [`encode_envs`](Self::encode_envs) and
    /// `buffer().encode()`.
    ///
    /// Errors: `CorruptState` when either part is not complete.
    pub fn decode_parts(envs: &[u8], buffer_bytes: &[u8]) -> Result<Self, RolloutError> {
        let (mut state, used) = Self::decode_envs_prefix(envs)?;
        let (buffer, buffer_used) = ExperienceBuffer::decode(buffer_bytes)?;
        if used != envs.len() || buffer_used != buffer_bytes.len() {
            return Err(RolloutError::CorruptState("trailing bytes".into()));
        }
        state.buffer = buffer;
        Ok(state)
    }

    fn decode_envs_prefix(bytes: &[u8]) -> Result<(Self, usize), RolloutError> {
        let corrupt = |what: &str| RolloutError::CorruptState(format!("run state: {what}"));
        let mut cursor = Cursor { bytes, at: 0 };
        if cursor.take(2) != Some(STATE_MAGIC.as_slice())
            || cursor.take(1) != Some(&[STATE_VERSION])
        {
            return Err(corrupt("bad header"));
        }
        let short = || corrupt("truncated");
        let n = cursor.u32().ok_or_else(short)? as usize;
        if n == 0 || n > super::request::MAX_NUM_ENVS {
            return Err(corrupt("num_envs out of range"));
        }
        let seed = cursor.u64().ok_or_else(short)?;
        let rng_draws = u128::from_le_bytes(cursor.array::<16>().ok_or_else(short)?);
        let total_steps = cursor.u64().ok_or_else(short)?;
        let episodes_finished = cursor.u64().ok_or_else(short)?;
        let return_sum = cursor.f64().ok_or_else(short)?;
        let mut states = Array2::<f64>::zeros((n, 4));
        let mut steps = Array1::<u32>::zeros(n);
        let mut returns = Array1::<f64>::zeros(n);
        for ((mut row, s), r) in states
            .rows_mut()
            .into_iter()
            .zip(steps.iter_mut())
            .zip(returns.iter_mut())
        {
            for v in row.iter_mut() {
                *v = cursor.f64().ok_or_else(short)?;
            }
            *s = cursor.u32().ok_or_else(short)?;
            *r = cursor.f64().ok_or_else(short)?;
        }
        let batch = CartPoleBatch::from_states(states, Some(steps), Some(returns));
        let placeholder = ExperienceBuffer::new(1)?;
        Ok((
            Self {
                batch,
                seed,
                rng_draws,
                buffer: placeholder,
                total_steps,
                episodes_finished,
                return_sum,
            },
            cursor.at,
        ))
    }
}

/// A bounds-checked little-endian reader.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, len: usize) -> Option<&'a [u8]> {
        let out = self.bytes.get(self.at..self.at.checked_add(len)?)?;
        self.at += len;
        Some(out)
    }
    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }
    fn u32(&mut self) -> Option<u32> {
        self.array().map(u32::from_le_bytes)
    }
    fn u64(&mut self) -> Option<u64> {
        self.array().map(u64::from_le_bytes)
    }
    fn f64(&mut self) -> Option<f64> {
        self.array().map(f64::from_le_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::cartpole::{reset_state, step_state};
    use crate::rollout::policy::LinearPolicy;
    use crate::rollout::request::RolloutRequest;

    fn request(body: &str) -> RolloutRequest {
        RolloutRequest::parse(body.as_bytes()).unwrap()
    }

    #[test]
    fn the_same_seed_gives_the_same_rollout_and_another_seed_does_not() {
        let r =
            request(r#"{"env":"CartPole-v1","num_envs":8,"steps":100,"include":["trajectory"]}"#);
        let a = rollout(&r, 42).unwrap();
        let b = rollout(&r, 42).unwrap();
        let c = rollout(&r, 43).unwrap();
        assert_eq!(a, b);
        assert_ne!(a.trajectory, c.trajectory);
        assert_eq!(a.summary.seed, 42);
        assert_eq!(a.summary.reward_sum, 800.0);
    }

    #[test]
    fn trajectory_follows_the_dynamics_and_resets_finished_envs_for_the_next_step() {
        let r = request(
            r#"{"env":"CartPole-v1","num_envs":2,"steps":40,"seed":1,"include":["trajectory"],
                "initial_state":[[0,0,0.21,0],[0,0,0,0]],
                "actions":[[1,1],[1,0],[1,1],[1,0],[1,1],[1,0],[1,1],[1,0],[1,1],[1,0],
                           [1,1],[1,0],[1,1],[1,0],[1,1],[1,0],[1,1],[1,0],[1,1],[1,0],
                           [1,1],[1,0],[1,1],[1,0],[1,1],[1,0],[1,1],[1,0],[1,1],[1,0],
                           [1,1],[1,0],[1,1],[1,0],[1,1],[1,0],[1,1],[1,0],[1,1],[1,0]]}"#,
        );
        let tr = rollout(&r, 1).unwrap().trajectory.unwrap();
        // Env 0 starts beyond 12° leaning further: terminates at step 0 and restarts fresh.
        assert!(tr.terminated[[0, 0]]);
        let fresh = reset_state(&mut SeededRng::new(1));
        assert_eq!(tr.observations.slice(s![1, 0, ..]).to_vec(), fresh.to_vec());
        // Env 1 follows step_state exactly until it first ends.
        let mut state = [0.0; 4];
        for t in 0..40 {
            assert_eq!(
                tr.observations.slice(s![t, 1, ..]).to_vec(),
                state.to_vec(),
                "t={t}"
            );
            let (next, term) = step_state(state, tr.actions[[t, 1]]);
            assert_eq!(tr.terminated[[t, 1]], term);
            if term {
                break;
            }
            state = next;
        }
        assert!(tr.rewards.iter().all(|&r| r == 1.0));
        assert!(tr.values.iter().all(|&v| v == 0.0), "no value head: zeros");
    }

    #[test]
    fn summary_counts_finished_episodes_and_their_mean_return() {
        // Env 0 terminates at step 0 (return 1); env 1 does not finish in 3 steps.
        let r = request(
            r#"{"env":"CartPole-v1","num_envs":2,"steps":3,"initial_state":[[2.4,1,0,0],[0,0,0,0]],
                "actions":[[1,0],[0,1],[1,0]]}"#,
        );
        let out = rollout(&r, 5).unwrap();
        assert!(out.trajectory.is_none());
        assert_eq!(out.summary.episodes_finished, 1);
        assert_eq!(out.summary.mean_episode_return, Some(1.0));
        let none = rollout(
            &request(r#"{"env":"CartPole-v1","num_envs":1,"steps":2}"#),
            5,
        )
        .unwrap();
        assert_eq!(none.summary.mean_episode_return, None);
        let json = serde_json::to_value(&none).unwrap();
        assert!(json["mean_episode_return"].is_null());
        assert!(json.get("trajectory").is_none());
    }

    #[test]
    fn gae_in_a_rollout_uses_the_value_head_and_returns_add_up() {
        let r = request(
            r#"{"env":"CartPole-v1","num_envs":4,"steps":30,"seed":3,"gamma":0.9,"lambda":0.8,
                "policy":{"weights":[[0,0],[0,0],[0,-5],[0,-1]],"bias":[0,0],
                          "value_weights":[1,2,3,4],"value_bias":5},
                "include":["trajectory"]}"#,
        );
        let tr = rollout(&r, 3).unwrap().trajectory.unwrap();
        let v = tr.values[[7, 2]];
        let o = tr.observations.slice(s![7_usize, 2_usize, ..]);
        assert!((v - (o[0] + 2.0 * o[1] + 3.0 * o[2] + 4.0 * o[3] + 5.0)).abs() < 1e-12);
        for ((ret, adv), val) in tr
            .returns
            .iter()
            .zip(tr.advantages.iter())
            .zip(tr.values.iter())
        {
            assert_eq!(*ret, adv + val);
        }
        // Step 0 of env 0 by hand from its successor's values (no episode ends that early).
        let delta = 1.0 + 0.9 * tr.values[[1, 0]] - tr.values[[0, 0]];
        let expected = delta + 0.72 * tr.advantages[[1, 0]];
        assert!((tr.advantages[[0, 0]] - expected).abs() < 1e-12);
    }

    #[test]
    fn linear_policy_log_probs_are_reported_in_the_trajectory() {
        let policy = LinearPolicy {
            weights: [[0.0, 0.0], [0.0, 1.0], [0.0, 10.0], [0.0, 2.0]],
            bias: [0.1, -0.1],
            value_weights: None,
            value_bias: 0.0,
        };
        let mut req =
            request(r#"{"env":"CartPole-v1","num_envs":3,"steps":5,"include":["trajectory"]}"#);
        req.policy = Policy::Linear(policy.clone());
        let tr = rollout(&req, 9).unwrap().trajectory.unwrap();
        for t in 0..5 {
            for i in 0..3 {
                let (lp0, lp1) = policy.log_probs(tr.observations.slice(s![t, i, ..]));
                let expected = if tr.actions[[t, i]] == 1 { lp1 } else { lp0 };
                assert_eq!(tr.log_probs[[t, i]], expected);
            }
        }
    }

    #[test]
    fn a_run_resumed_from_its_bytes_continues_like_an_uninterrupted_run() {
        let policy = Policy::Random;
        let mut straight = RunState::new(16, 77, 300).unwrap();
        let mut resumed = RunState::new(16, 77, 300).unwrap();
        for _ in 0..5 {
            let a = straight.step(37, &policy).unwrap();
            let bytes = resumed.encode();
            resumed = RunState::decode(&bytes).unwrap();
            let b = resumed.step(37, &policy).unwrap();
            assert_eq!(a, b);
        }
        assert_eq!(straight, resumed);
        let (envs, buf) = (straight.encode_envs(), straight.buffer().encode());
        assert_eq!(RunState::decode_parts(&envs, &buf).unwrap(), straight);
        assert!(
            straight.info().episodes_finished > 0,
            "random play ends episodes in 185 steps"
        );
        // One long request equals five short ones.
        let mut one = RunState::new(16, 77, 300).unwrap();
        one.step(185, &policy).unwrap();
        assert_eq!(one.states(), straight.states());
        assert_eq!(one.latest(300), straight.latest(300));
    }

    #[test]
    fn run_buffer_keeps_only_the_newest_transitions() {
        let mut run = RunState::new(4, 1, 10).unwrap();
        run.step(3, &Policy::Random).unwrap();
        assert_eq!(run.buffer().len(), 10);
        assert_eq!(
            run.buffer().pushed_total(),
            10,
            "the two oldest were never pushed"
        );
        let before = run.states().to_owned();
        run.step(1, &Policy::Random).unwrap();
        let latest = run.latest(4);
        for (i, t) in latest.iter().enumerate() {
            let expected: Vec<f32> = before.row(i).iter().map(|&v| v as f32).collect();
            assert_eq!(
                t.obs.to_vec(),
                expected,
                "newest transitions are the last step's"
            );
        }
        assert_eq!(run.info().buffer_len, 10);
        assert_eq!(run.info().total_steps, 4);
    }

    #[test]
    fn run_limits_and_corrupt_bytes_are_errors() {
        assert!(RunState::new(0, 1, 10).is_err());
        assert!(RunState::new(1025, 1, 10).is_err());
        assert!(RunState::new(4, 1, 0).is_err());
        let mut run = RunState::new(1024, 1, 10).unwrap();
        assert!(run.step(129, &Policy::Random).is_err());
        assert!(run.step(0, &Policy::Random).is_err());
        let bytes = RunState::new(2, 1, 10).unwrap().encode();
        for cut in 0..bytes.len() {
            assert!(RunState::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn truncation_happens_at_500_steps_within_a_run() {
        // A policy that keeps the pole up for long: push toward the lean.
        let policy = Policy::Linear(LinearPolicy {
            weights: [[0.0, 0.0], [0.0, 0.0], [0.0, 1e3], [0.0, 1e2]],
            bias: [0.0, 0.0],
            value_weights: None,
            value_bias: 0.0,
        });
        let mut run = RunState::new(1, 2, 1024).unwrap();
        let mut truncated_at = None;
        for chunk in 0..4 {
            run.step(128, &policy).unwrap();
            if let Some(pos) = run.latest(128).iter().position(|t| t.truncated) {
                truncated_at = Some(chunk * 128 + pos + 1);
                break;
            }
        }
        assert_eq!(truncated_at, Some(500));
        assert_eq!(run.info().mean_episode_return, Some(500.0));
    }
}
