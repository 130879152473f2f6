//! Request parsing and validation, and response types, for `POST /api/rollout` and the stateful
//! run routes (`POST /api/rollout/runs`, `POST /api/rollout/runs/{id}/step`).
//!
//! Parsing is two-phase: serde decodes the raw JSON (unknown fields rejected with
//! `unknown_field`, also inside `policy`), then [`RolloutRequest::parse`] checks ranges and shapes
//! and builds ndarray arrays. Every number must be finite; JSON cannot carry NaN, but a literal
//! like `1e400` is rejected by the JSON parser and anything that survives is checked again here.
//! Magnitudes are bounded ([`MAX_ABS_STATE`], [`MAX_ABS_PARAM`]) so the dynamics and the softmax
//! stay finite for every accepted input (squares of 1e6 are far from overflow).
//!
//! Decoding keeps memory bounded whatever a 2 MiB body holds (see
//! [`crate::api::parse_json_object`]): arrays decode into [`Rows`] and [`List`], which count every
//! element but keep no more values than the largest valid request has, `include` keeps one item,
//! and `policy` stays a slice of the body until its turn comes.

use ndarray::{Array2, Array3, ArrayView2, ArrayView3};
use serde::ser::{SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};

use super::policy::{LinearPolicy, Policy};
use super::RolloutError;
use crate::api::{
    format_exact, parse_json_object, InputError, JsonObject, List, ObjectFields, Rows,
};

/// The only environment id served.
pub const ENV_ID: &str = "CartPole-v1";
/// Largest `num_envs`.
pub const MAX_NUM_ENVS: usize = 1024;
/// Largest `steps` per request.
pub const MAX_STEPS: usize = 512;
/// Largest `num_envs * steps` per request (env-steps).
pub const MAX_ENV_STEPS: usize = 131_072;
/// Default discount.
pub const DEFAULT_GAMMA: f64 = 0.99;
/// Default GAE lambda.
pub const DEFAULT_LAMBDA: f64 = 0.95;
/// Largest |value| accepted in `initial_state`.
pub const MAX_ABS_STATE: f64 = 1e6;
/// Largest |value| accepted in policy weights, biases and value head.
pub const MAX_ABS_PARAM: f64 = 1e6;
/// Default experience buffer capacity of a run, in transitions.
pub const DEFAULT_BUFFER_CAPACITY: usize = 4096;
/// Largest `POST /api/rollout` body: 1024 × 4 initial-state numbers and 131072 actions fit well
/// within it.
pub const ROLLOUT_BODY_BYTES: usize = 2 * 1024 * 1024;
/// Largest run create/step body (a policy is a few hundred bytes).
pub const RUN_BODY_BYTES: usize = 16 * 1024;

/// Fields accepted by `POST /api/rollout`.
pub const ROLLOUT_FIELDS: &[&str] = &[
    "env",
    "num_envs",
    "steps",
    "seed",
    "policy",
    "gamma",
    "lambda",
    "initial_state",
    "actions",
    "include",
];
/// Fields accepted inside `policy`.
pub const POLICY_FIELDS: &[&str] = &["weights", "bias", "value_weights", "value_bias"];
/// Fields accepted by `POST /api/rollout/runs`.
pub const RUN_CREATE_FIELDS: &[&str] = &["num_envs", "seed", "buffer_capacity"];
/// Fields accepted by `POST /api/rollout/runs/{id}/step`.
pub const RUN_STEP_FIELDS: &[&str] = &["steps", "policy"];

/// Turns 8 random bytes (from `getrandom`, in the edge) into a seed for a request without one.
///
/// The seed is masked to 53 bits so it survives a round trip through a JavaScript number: a
/// browser client that re-sends the echoed seed gets the same rollout.
pub fn seed_from_entropy(bytes: [u8; 8]) -> u64 {
    u64::from_le_bytes(bytes) & ((1u64 << 53) - 1)
}

#[cfg(any(test, feature = "test-support"))]
/// The `POST /api/rollout` body the benchmarks time (`benches/rollout.rs` and the wasm-vs-native
/// suite in `bench/wasm`), kept here so both measure the same request: seed 1, the random policy,
/// or with `linear` a fixed linear policy with a value head; `trajectory` adds
/// `include: ["trajectory"]`.
pub fn benchmark_body(num_envs: usize, steps: usize, linear: bool, trajectory: bool) -> String {
    let mut body =
        serde_json::json!({"env": ENV_ID, "num_envs": num_envs, "steps": steps, "seed": 1});
    if linear {
        body["policy"] = serde_json::json!({
            "weights": [[0.0, 0.1], [0.0, 0.5], [0.0, 8.0], [0.0, 1.5]],
            "bias": [0.0, 0.0],
            "value_weights": [0.1, 0.2, 0.3, 0.4],
            "value_bias": 20.0
        });
    }
    if trajectory {
        body["include"] = serde_json::json!(["trajectory"]);
    }
    body.to_string()
}

#[derive(Deserialize)]
struct RawRollout<'a> {
    env: Option<String>,
    num_envs: Option<i64>,
    steps: Option<i64>,
    seed: Option<u64>,
    #[serde(borrow)]
    policy: Option<JsonObject<'a>>,
    gamma: Option<f64>,
    lambda: Option<f64>,
    initial_state: Option<Rows<f64, MAX_NUM_ENVS, { MAX_NUM_ENVS * 4 }>>,
    actions: Option<Rows<i64, MAX_STEPS, MAX_ENV_STEPS>>,
    include: Option<Include>,
}

/// Rows of `policy.weights` whose lengths a shape error lists.
const LISTED_WEIGHT_ROWS: usize = 16;

#[derive(Deserialize)]
struct RawPolicy {
    weights: Option<Rows<f64, LISTED_WEIGHT_ROWS, 8>>,
    bias: Option<List<f64, 2>>,
    value_weights: Option<List<f64, 4>>,
    value_bias: Option<f64>,
}

/// The `include` list: whether it names `"trajectory"`, and its first other item (an error).
/// Items are decoded one at a time, so a long list costs one item.
struct Include {
    trajectory: bool,
    other: Option<String>,
}

impl<'de> Deserialize<'de> for Include {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Include;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a sequence")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Include, A::Error> {
                let mut include = Include {
                    trajectory: false,
                    other: None,
                };
                while let Some(item) = seq.next_element::<String>()? {
                    if item == "trajectory" {
                        include.trajectory = true;
                    } else if include.other.is_none() {
                        include.other = Some(item);
                    }
                }
                Ok(include)
            }
        }
        d.deserialize_seq(V)
    }
}

#[derive(Deserialize)]
struct RawRunCreate {
    num_envs: Option<i64>,
    seed: Option<u64>,
    buffer_capacity: Option<i64>,
}

#[derive(Deserialize)]
struct RawRunStep<'a> {
    steps: Option<i64>,
    #[serde(borrow)]
    policy: Option<JsonObject<'a>>,
}

fn finite(name: &str, v: f64, max_abs: f64) -> Result<f64, RolloutError> {
    if !v.is_finite() || v.abs() > max_abs {
        return Err(RolloutError::invalid(format!(
            "`{name}` must be a finite number with |value| ≤ {max_abs:e}, got {v}"
        )));
    }
    Ok(v)
}

fn required_count(name: &str, v: Option<i64>, max: usize) -> Result<usize, RolloutError> {
    let v = v.ok_or_else(|| RolloutError::invalid(format!("`{name}` is required")))?;
    if v < 1 {
        return Err(RolloutError::invalid(format!(
            "`{name}` must be in 1..={max}, got {v}"
        )));
    }
    match usize::try_from(v) {
        Ok(n) if n <= max => Ok(n),
        _ => Err(RolloutError::limit(format!(
            "`{name}` must be at most {max}, got {v}"
        ))),
    }
}

fn check_env_steps(num_envs: usize, steps: usize) -> Result<(), RolloutError> {
    if num_envs.saturating_mul(steps) > MAX_ENV_STEPS {
        return Err(RolloutError::limit(format!(
            "`num_envs * steps` must be at most {MAX_ENV_STEPS}, got {num_envs} * {steps} = {}; \
             use fewer envs or fewer steps per request",
            num_envs.saturating_mul(steps)
        )));
    }
    Ok(())
}

fn unit_interval(name: &str, v: Option<f64>, default: f64) -> Result<f64, RolloutError> {
    let v = v.unwrap_or(default);
    if !(0.0..=1.0).contains(&v) {
        return Err(RolloutError::invalid(format!(
            "`{name}` must be in [0, 1], got {v}"
        )));
    }
    Ok(v)
}

/// Parses and validates a `policy` object (`None` → the random policy).
fn parse_policy(raw: Option<JsonObject>) -> Result<Policy, RolloutError> {
    let Some(object) = raw else {
        return Ok(Policy::Random);
    };
    let in_policy = |e: InputError| {
        RolloutError::Input(InputError {
            code: e.code,
            message: format!("in `policy`: {}", e.message),
        })
    };
    let fields = ObjectFields::parse(object.text(), POLICY_FIELDS).map_err(in_policy)?;
    fields.check_unknown().map_err(in_policy)?;
    let raw: RawPolicy = fields
        .decode("invalid `policy`: ")
        .map_err(RolloutError::invalid)?;
    let weights_rows = raw.weights.ok_or_else(|| {
        RolloutError::invalid("`policy.weights` is required: 4 rows of 2 numbers")
    })?;
    if !weights_rows.has_shape(4, 2) {
        return Err(RolloutError::invalid(format!(
            "`policy.weights` must be 4 rows (x, x_dot, theta, theta_dot) of 2 numbers \
             (action 0, action 1), got {} rows of lengths {}",
            weights_rows.len(),
            weights_rows.row_lengths()
        )));
    }
    let mut weights = [[0.0; 2]; 4];
    for (d, &s) in weights.iter_mut().flatten().zip(weights_rows.cells()) {
        *d = finite("policy.weights", s, MAX_ABS_PARAM)?;
    }
    let bias_list = raw
        .bias
        .ok_or_else(|| RolloutError::invalid("`policy.bias` is required: 2 numbers"))?;
    let (2, &[b0, b1]) = (bias_list.len(), bias_list.items()) else {
        return Err(RolloutError::invalid(format!(
            "`policy.bias` must be 2 numbers, got {}",
            bias_list.len()
        )));
    };
    let bias = [
        finite("policy.bias", b0, MAX_ABS_PARAM)?,
        finite("policy.bias", b1, MAX_ABS_PARAM)?,
    ];
    let value_weights = match raw.value_weights {
        None => None,
        Some(v) => {
            let (4, &[a, b, c, d]) = (v.len(), v.items()) else {
                return Err(RolloutError::invalid(format!(
                    "`policy.value_weights` must be 4 numbers, got {}",
                    v.len()
                )));
            };
            let mut out = [a, b, c, d];
            for w in &mut out {
                *w = finite("policy.value_weights", *w, MAX_ABS_PARAM)?;
            }
            Some(out)
        }
    };
    let value_bias = finite(
        "policy.value_bias",
        raw.value_bias.unwrap_or(0.0),
        MAX_ABS_PARAM,
    )?;
    Ok(Policy::Linear(LinearPolicy {
        weights,
        bias,
        value_weights,
        value_bias,
    }))
}

/// A validated `POST /api/rollout` request.
#[derive(Debug, Clone, PartialEq)]
pub struct RolloutRequest {
    /// Envs stepped together, `1..=1024`.
    pub num_envs: usize,
    /// Steps per env, `1..=512`, with `num_envs * steps ≤ 131072`.
    pub steps: usize,
    /// The caller's seed, if given (else the edge picks one, see [`seed_from_entropy`]).
    pub seed: Option<u64>,
    /// Random unless a `policy` was given.
    pub policy: Policy,
    /// Discount in `[0, 1]`, default 0.99.
    pub gamma: f64,
    /// GAE lambda in `[0, 1]`, default 0.95.
    pub lambda: f64,
    /// `(num_envs, 4)` start states, else every env is reset from the RNG.
    pub initial_state: Option<Array2<f64>>,
    /// `(steps, num_envs)` actions 0/1 overriding the policy.
    pub actions: Option<Array2<u8>>,
    /// Whether to return the per-step arrays.
    pub include_trajectory: bool,
}

impl RolloutRequest {
    /// Parses and validates a JSON body.
    ///
    /// Errors (`RolloutError::Input`): `invalid_json`; `unknown_field` (top level or in
    /// `policy`); `invalid_field` for a wrong `env`, a missing/zero count, wrong shapes
    /// (`initial_state` rows ≠ num_envs or not 4 wide, `actions` not steps × num_envs,
    /// `policy.weights` not 4×2, `policy.bias` not 2), actions not 0/1, non-finite or too large
    /// numbers, gamma/lambda outside [0, 1], unknown `include` items; `limit_exceeded` for
    /// num_envs > 1024, steps > 512 or num_envs * steps > 131072.
    pub fn parse(body: &[u8]) -> Result<Self, RolloutError> {
        let raw: RawRollout = parse_json_object(body, ROLLOUT_FIELDS)?;
        match raw.env.as_deref() {
            Some(ENV_ID) => {}
            Some(other) => {
                return Err(RolloutError::invalid(format_exact(format_args!(
                    "`env` must be \"{ENV_ID}\", got \"{other}\""
                ))))
            }
            None => {
                return Err(RolloutError::invalid(format!(
                    "`env` is required (\"{ENV_ID}\")"
                )))
            }
        }
        let num_envs = required_count("num_envs", raw.num_envs, MAX_NUM_ENVS)?;
        let steps = required_count("steps", raw.steps, MAX_STEPS)?;
        check_env_steps(num_envs, steps)?;
        let gamma = unit_interval("gamma", raw.gamma, DEFAULT_GAMMA)?;
        let lambda = unit_interval("lambda", raw.lambda, DEFAULT_LAMBDA)?;
        let policy = parse_policy(raw.policy)?;

        let initial_state = match raw.initial_state {
            None => None,
            Some(rows) => {
                // num_envs * 4 ≤ the 4096 values `Rows` keeps: a valid shape is kept whole.
                if !rows.has_shape(num_envs, 4) {
                    return Err(RolloutError::invalid(format!(
                        "`initial_state` must be num_envs = {num_envs} rows of 4 numbers \
                         [x, x_dot, theta, theta_dot], got {} rows",
                        rows.len()
                    )));
                }
                let mut flat = rows.into_cells();
                for v in &mut flat {
                    *v = finite("initial_state", *v, MAX_ABS_STATE)?;
                }
                let array = Array2::from_shape_vec((num_envs, 4), flat).map_err(|e| {
                    RolloutError::invalid(format!("`initial_state` has the wrong shape: {e}"))
                })?;
                Some(array)
            }
        };

        let actions = match raw.actions {
            None => None,
            Some(rows) => {
                // steps * num_envs ≤ MAX_ENV_STEPS (checked above), the values `Rows` keeps.
                if !rows.has_shape(steps, num_envs) {
                    return Err(RolloutError::invalid(format!(
                        "`actions` must be steps = {steps} rows of num_envs = {num_envs} \
                         actions (0 or 1), got {} rows",
                        rows.len()
                    )));
                }
                let mut flat = Vec::with_capacity(steps * num_envs);
                for (k, &a) in rows.cells().iter().enumerate() {
                    match a {
                        0 | 1 => flat.push(a as u8),
                        other => {
                            let (t, i) = (k / num_envs, k % num_envs);
                            return Err(RolloutError::invalid(format!(
                                "`actions[{t}][{i}]` must be 0 or 1, got {other}"
                            )));
                        }
                    }
                }
                let array = Array2::from_shape_vec((steps, num_envs), flat).map_err(|e| {
                    RolloutError::invalid(format!("`actions` has the wrong shape: {e}"))
                })?;
                Some(array)
            }
        };

        let mut include_trajectory = false;
        if let Some(include) = raw.include {
            if let Some(other) = include.other {
                return Err(RolloutError::invalid(format_exact(format_args!(
                    "`include` items must be \"trajectory\", got \"{other}\""
                ))));
            }
            include_trajectory = include.trajectory;
        }

        Ok(Self {
            num_envs,
            steps,
            seed: raw.seed,
            policy,
            gamma,
            lambda,
            initial_state,
            actions,
            include_trajectory,
        })
    }
}

/// A validated `POST /api/rollout/runs` request.
#[derive(Debug, Clone, PartialEq)]
pub struct RunCreateRequest {
    /// Envs of the run, `1..=1024`.
    pub num_envs: usize,
    /// The caller's seed, if given.
    pub seed: Option<u64>,
    /// Experience buffer capacity in transitions, `1..=65536`, default 4096.
    pub buffer_capacity: usize,
}

impl RunCreateRequest {
    /// Parses and validates a JSON body.
    ///
    /// Errors: as [`RolloutRequest::parse`]; `buffer_capacity` outside 1..=65536 →
    /// `invalid_field` below 1, `limit_exceeded` above.
    pub fn parse(body: &[u8]) -> Result<Self, RolloutError> {
        let raw: RawRunCreate = parse_json_object(body, RUN_CREATE_FIELDS)?;
        let num_envs = required_count("num_envs", raw.num_envs, MAX_NUM_ENVS)?;
        let buffer_capacity = match raw.buffer_capacity {
            None => DEFAULT_BUFFER_CAPACITY,
            some => required_count("buffer_capacity", some, super::buffer::MAX_BUFFER_CAPACITY)?,
        };
        Ok(Self {
            num_envs,
            seed: raw.seed,
            buffer_capacity,
        })
    }
}

/// A validated `POST /api/rollout/runs/{id}/step` request.
#[derive(Debug, Clone, PartialEq)]
pub struct RunStepRequest {
    /// Steps to advance every env, `1..=512` (the run's `num_envs * steps ≤ 131072` is checked
    /// by [`super::RunState::step`]).
    pub steps: usize,
    /// Random unless a `policy` was given.
    pub policy: Policy,
}

impl RunStepRequest {
    /// Parses and validates a JSON body. Errors: as [`RolloutRequest::parse`].
    pub fn parse(body: &[u8]) -> Result<Self, RolloutError> {
        let raw: RawRunStep = parse_json_object(body, RUN_STEP_FIELDS)?;
        let steps = required_count("steps", raw.steps, MAX_STEPS)?;
        let policy = parse_policy(raw.policy)?;
        Ok(Self { steps, policy })
    }
}

/// The summary returned by `POST /api/rollout` and by a run's `/step`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RolloutSummary {
    /// Envs stepped.
    pub num_envs: usize,
    /// Steps taken by each env in this request.
    pub steps: usize,
    /// The seed used (echoed, or the one picked by the server).
    pub seed: u64,
    /// Episodes that terminated or were truncated during this request.
    pub episodes_finished: u64,
    /// Mean undiscounted return of those episodes (counting their steps from earlier requests of
    /// a run, or from the rollout's start for `initial_state`); `null` when none finished.
    pub mean_episode_return: Option<f64>,
    /// Sum of all rewards of this request (`num_envs * steps` for CartPole).
    pub reward_sum: f64,
}

/// The per-step arrays of a rollout, indexed `[t][i]` (step, env).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trajectory {
    /// `[t][i]` = env i's observation `[x, x_dot, theta, theta_dot]` before step t.
    #[serde(serialize_with = "serialize_3d")]
    pub observations: Array3<f64>,
    /// Actions taken, 0 or 1.
    #[serde(serialize_with = "serialize_2d")]
    pub actions: Array2<u8>,
    /// Rewards (1.0).
    #[serde(serialize_with = "serialize_2d")]
    pub rewards: Array2<f64>,
    /// Step t left the bounds.
    #[serde(serialize_with = "serialize_2d")]
    pub terminated: Array2<bool>,
    /// Step t was the episode's 500th.
    #[serde(serialize_with = "serialize_2d")]
    pub truncated: Array2<bool>,
    /// Value head's estimate of `observations[t][i]` (0 without a value head).
    #[serde(serialize_with = "serialize_2d")]
    pub values: Array2<f64>,
    /// GAE advantages (CleanRL's PPO).
    #[serde(serialize_with = "serialize_2d")]
    pub advantages: Array2<f64>,
    /// `advantages + values`.
    #[serde(serialize_with = "serialize_2d")]
    pub returns: Array2<f64>,
    /// Log-probability of each action under the policy (`ln 0.5` for the random policy, also for
    /// replayed `actions` without a policy).
    #[serde(serialize_with = "serialize_2d")]
    pub log_probs: Array2<f64>,
}

/// The body of `POST /api/rollout`'s 200 answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RolloutResponse {
    /// The summary fields, at the top level of the JSON object.
    #[serde(flatten)]
    pub summary: RolloutSummary,
    /// Present when the request had `include: ["trajectory"]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trajectory: Option<Trajectory>,
}

/// Nested `[[..]..]` without copying into `Vec`s.
struct Rows2<'a, T>(ArrayView2<'a, T>);
struct Row1<'a, T>(ndarray::ArrayView1<'a, T>);

impl<T: Serialize> Serialize for Row1<'_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for v in self.0.iter() {
            seq.serialize_element(v)?;
        }
        seq.end()
    }
}

impl<T: Serialize> Serialize for Rows2<'_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.nrows()))?;
        for row in self.0.rows() {
            seq.serialize_element(&Row1(row))?;
        }
        seq.end()
    }
}

fn serialize_2d<T: Serialize, S: Serializer>(a: &Array2<T>, s: S) -> Result<S::Ok, S::Error> {
    Rows2(a.view()).serialize(s)
}

fn serialize_3d<S: Serializer>(a: &Array3<f64>, s: S) -> Result<S::Ok, S::Error> {
    let view: ArrayView3<f64> = a.view();
    let mut seq = s.serialize_seq(Some(view.len_of(ndarray::Axis(0))))?;
    for plane in view.outer_iter() {
        seq.serialize_element(&Rows2(plane))?;
    }
    seq.end()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{ErrorCode, HasErrorCode};

    fn code(body: &str) -> ErrorCode {
        RolloutRequest::parse(body.as_bytes())
            .unwrap_err()
            .error_code()
    }

    fn message(body: &str) -> String {
        RolloutRequest::parse(body.as_bytes())
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn a_minimal_request_gets_the_documented_defaults() {
        let r = RolloutRequest::parse(br#"{"env":"CartPole-v1","num_envs":2,"steps":3}"#).unwrap();
        assert_eq!((r.num_envs, r.steps, r.seed), (2, 3, None));
        assert_eq!((r.gamma, r.lambda), (0.99, 0.95));
        assert_eq!(r.policy, Policy::Random);
        assert!(!r.include_trajectory && r.initial_state.is_none() && r.actions.is_none());
    }

    #[test]
    fn a_full_request_is_parsed_into_arrays() {
        let body = r#"{"env":"CartPole-v1","num_envs":2,"steps":1,"seed":7,
            "policy":{"weights":[[1,2],[3,4],[5,6],[7,8]],"bias":[0.5,-0.5],"value_weights":[1,0,0,0]},
            "gamma":1,"lambda":0,"initial_state":[[0,0,0,0],[0.01,0,0,0]],"actions":[[1,0]],
            "include":["trajectory"]}"#;
        let r = RolloutRequest::parse(body.as_bytes()).unwrap();
        assert_eq!(r.initial_state.unwrap()[[1, 0]], 0.01);
        assert_eq!(r.actions.unwrap().row(0).to_vec(), vec![1, 0]);
        let Policy::Linear(p) = r.policy else {
            panic!("linear policy expected")
        };
        assert_eq!(p.weights[3], [7.0, 8.0]);
        assert_eq!(p.value_weights, Some([1.0, 0.0, 0.0, 0.0]));
        assert!(r.include_trajectory);
    }

    #[test]
    fn limits_are_limit_exceeded() {
        assert_eq!(
            code(r#"{"env":"CartPole-v1","num_envs":1024,"steps":256}"#),
            ErrorCode::LimitExceeded
        );
        assert!(
            RolloutRequest::parse(br#"{"env":"CartPole-v1","num_envs":1024,"steps":128}"#).is_ok()
        );
        assert_eq!(
            code(r#"{"env":"CartPole-v1","num_envs":1025,"steps":1}"#),
            ErrorCode::LimitExceeded
        );
        assert_eq!(
            code(r#"{"env":"CartPole-v1","num_envs":1,"steps":513}"#),
            ErrorCode::LimitExceeded
        );
        assert_eq!(
            code(r#"{"env":"CartPole-v1","num_envs":0,"steps":1}"#),
            ErrorCode::InvalidField
        );
    }

    #[test]
    fn bad_input_gets_clear_400s() {
        let base = r#""env":"CartPole-v1","num_envs":2,"steps":2"#;
        assert_eq!(
            code(&format!("{{{base},\"extra\":1}}")),
            ErrorCode::UnknownField
        );
        assert_eq!(
            code(&format!(
                r#"{{{base},"policy":{{"weights":[[0,0],[0,0],[0,0],[0,0]],"bias":[0,0],"temp":1}}}}"#
            )),
            ErrorCode::UnknownField
        );
        assert_eq!(
            code(r#"{"env":"Pendulum-v1","num_envs":2,"steps":2}"#),
            ErrorCode::InvalidField
        );
        let m = message(&format!(r#"{{{base},"initial_state":[[0,0,0,0]]}}"#));
        assert!(m.contains("initial_state") && m.contains("2 rows"), "{m}");
        let m = message(&format!(r#"{{{base},"actions":[[0,1],[1,2]]}}"#));
        assert!(m.contains("actions[1][1]") && m.contains("0 or 1"), "{m}");
        assert_eq!(
            code(&format!(r#"{{{base},"actions":[[0,1]]}}"#)),
            ErrorCode::InvalidField
        );
        assert_eq!(
            code(&format!(r#"{{{base},"actions":[[0.5,1],[1,1]]}}"#)),
            ErrorCode::InvalidField
        );
        let m = message(&format!(
            r#"{{{base},"policy":{{"weights":[[0,0],[0,0],[0,0]],"bias":[0,0]}}}}"#
        ));
        assert!(m.contains("policy.weights") && m.contains("4 rows"), "{m}");
        let m = message(&format!(
            r#"{{{base},"policy":{{"weights":[[0,0],[0,0],[0,0],[0,0]],"bias":[0]}}}}"#
        ));
        assert!(m.contains("policy.bias"), "{m}");
        assert!(message(&format!(r#"{{{base},"gamma":1.5}}"#)).contains("gamma"));
        assert!(message(&format!(r#"{{{base},"lambda":-0.1}}"#)).contains("lambda"));
        assert_eq!(
            code(&format!(r#"{{{base},"include":["video"]}}"#)),
            ErrorCode::InvalidField
        );
        assert_eq!(code("{"), ErrorCode::InvalidJson);
    }

    #[test]
    fn oversized_arrays_are_counted_not_kept() {
        let base = r#""env":"CartPole-v1","num_envs":2,"steps":2"#;
        // 100,000 rows of actions: far more than any valid request, reported with the true count.
        let rows = vec!["[0,1]"; 100_000].join(",");
        let m = message(&format!(r#"{{{base},"actions":[{rows}]}}"#));
        assert!(m.contains("got 100000 rows"), "{m}");
        // A bad value past what is kept is still a type error.
        let m = message(&format!(r#"{{{base},"actions":[{rows},["x"]]}}"#));
        assert!(m.contains("invalid type: string \"x\""), "{m}");
        // Weight rows are listed up to 16, then elided.
        let weights = vec!["[0,0]"; 20].join(",");
        let m = message(&format!(
            r#"{{{base},"policy":{{"weights":[{weights}],"bias":[0,0]}}}}"#
        ));
        assert!(
            m.contains("got 20 rows of lengths [2, 2,") && m.ends_with(", …]"),
            "{m}"
        );
        let m = message(&format!(
            r#"{{{base},"policy":{{"weights":[[0,0],[0,0],[0],[0,0]],"bias":[0,0]}}}}"#
        ));
        assert!(m.ends_with("got 4 rows of lengths [2, 2, 1, 2]"), "{m}");
        // A long include list costs nothing; its first other item is named.
        let items = vec![r#""trajectory""#; 10_000].join(",");
        let m = message(&format!(r#"{{{base},"include":[{items},"video","x"]}}"#));
        assert!(m.ends_with(r#"got "video""#), "{m}");
        let ok = format!(r#"{{{base},"include":[{items}]}}"#);
        assert!(
            RolloutRequest::parse(ok.as_bytes())
                .unwrap()
                .include_trajectory
        );
    }

    #[test]
    fn overflowing_and_huge_numbers_are_rejected() {
        let base = r#""env":"CartPole-v1","num_envs":1,"steps":1"#;
        // 1e400 overflows f64: rejected by the JSON layer or as non-finite, never accepted.
        let c = code(&format!(r#"{{{base},"initial_state":[[1e400,0,0,0]]}}"#));
        assert!(
            matches!(c, ErrorCode::InvalidJson | ErrorCode::InvalidField),
            "{c:?}"
        );
        assert_eq!(
            code(&format!(r#"{{{base},"initial_state":[[1e7,0,0,0]]}}"#)),
            ErrorCode::InvalidField
        );
        assert_eq!(
            code(&format!(
                r#"{{{base},"policy":{{"weights":[[1e300,0],[0,0],[0,0],[0,0]],"bias":[0,0]}}}}"#
            )),
            ErrorCode::InvalidField
        );
    }

    #[test]
    fn run_requests_are_validated() {
        let r = RunCreateRequest::parse(br#"{"num_envs":4}"#).unwrap();
        assert_eq!(
            (r.num_envs, r.seed, r.buffer_capacity),
            (4, None, DEFAULT_BUFFER_CAPACITY)
        );
        let c = |b: &str| {
            RunCreateRequest::parse(b.as_bytes())
                .unwrap_err()
                .error_code()
        };
        assert_eq!(
            c(r#"{"num_envs":4,"buffer_capacity":65537}"#),
            ErrorCode::LimitExceeded
        );
        assert_eq!(
            c(r#"{"num_envs":4,"buffer_capacity":0}"#),
            ErrorCode::InvalidField
        );
        assert_eq!(
            c(r#"{"num_envs":4,"env":"CartPole-v1"}"#),
            ErrorCode::UnknownField
        );
        let s = RunStepRequest::parse(br#"{"steps":5}"#).unwrap();
        assert_eq!((s.steps, s.policy), (5, Policy::Random));
        assert!(RunStepRequest::parse(br#"{}"#).is_err());
    }

    #[test]
    fn entropy_seeds_fit_in_a_javascript_number() {
        assert_eq!(seed_from_entropy([0xff; 8]), (1u64 << 53) - 1);
    }
}
