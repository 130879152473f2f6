//! Generalized advantage estimation, vectorized across envs, exactly as CleanRL's `ppo.py`.
//!
//! CleanRL (`ppo.py`, "bootstrap value if not done"):
//! ```text
//! for t in reversed(range(T)):
//!     if t == T - 1: nextnonterminal = 1 - next_done;   nextvalues = next_value
//!     else:          nextnonterminal = 1 - dones[t + 1]; nextvalues = values[t + 1]
//!     delta = rewards[t] + gamma * nextvalues * nextnonterminal - values[t]
//!     advantages[t] = lastgaelam = delta + gamma * lambda * nextnonterminal * lastgaelam
//! returns = advantages + values
//! ```
//! CleanRL's `dones[t + 1]` is the done flag returned by step `t` (it is stored with the *next*
//! observation), and `next_done` is the flag of the last step, so here `nextnonterminal` of step t
//! is simply `1 − done[t]` where `done[t] = terminated[t] | truncated[t]` of step t.
//!
//! Termination vs truncation: like CleanRL, both cut the bootstrap (`next_done = terminated |
//! truncated`), so a time-limit truncation is treated as a true end (a known, accepted bias of
//! CleanRL's PPO). Because a finished env is reset in the same step, `values[t + 1]` of a finished
//! env is the value of the *fresh* state, and it is multiplied by 0. The bootstrap `last_values` is
//! the value of the observation after the last step (a fresh reset state for envs that finished at
//! the last step, again multiplied by 0).

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Zip};

use super::RolloutError;

/// Advantages and returns (`advantages + values`), each `(T, num_envs)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Advantages {
    /// GAE(gamma, lambda) advantages.
    pub advantages: Array2<f64>,
    /// `advantages + values`: the value targets.
    pub returns: Array2<f64>,
}

/// Computes GAE over a `(T, num_envs)` rollout.
///
/// `rewards`, `values` and `dones` (`terminated | truncated` of each step) are `(T, n)`;
/// `last_values` (length n) is the value of the observation after step `T − 1`. `gamma` and
/// `lambda` are validated by the caller to lie in `[0, 1]`.
///
/// Errors: `ShapeMismatch` when the shapes disagree.
pub fn gae(
    rewards: ArrayView2<f64>,
    values: ArrayView2<f64>,
    dones: ArrayView2<bool>,
    last_values: ArrayView1<f64>,
    gamma: f64,
    lambda: f64,
) -> Result<Advantages, RolloutError> {
    let shape = rewards.raw_dim();
    if values.raw_dim() != shape || dones.raw_dim() != shape || last_values.len() != rewards.ncols()
    {
        return Err(RolloutError::ShapeMismatch(format!(
            "gae: rewards {:?}, values {:?}, dones {:?}, last values {}",
            rewards.shape(),
            values.shape(),
            dones.shape(),
            last_values.len()
        )));
    }
    let steps = rewards.nrows();
    let mut advantages = Array2::<f64>::zeros(shape);
    let mut last_gae_lam = Array1::<f64>::zeros(rewards.ncols());
    let mut next_values = last_values.to_owned();
    for t in (0..steps).rev() {
        Zip::from(advantages.row_mut(t))
            .and(&mut last_gae_lam)
            .and(&mut next_values)
            .and(rewards.row(t))
            .and(values.row(t))
            .and(dones.row(t))
            .for_each(|adv, lam, next_value, &reward, &value, &done| {
                let next_non_terminal = if done { 0.0 } else { 1.0 };
                let delta = reward + gamma * *next_value * next_non_terminal - value;
                *lam = delta + gamma * lambda * next_non_terminal * *lam;
                *adv = *lam;
                // Row t's value is the "next value" of row t − 1.
                *next_value = value;
            });
    }
    let returns = &advantages + &values;
    Ok(Advantages {
        advantages,
        returns,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    /// Two envs, three steps, gamma 0.9, lambda 0.8 (gamma·lambda = 0.72), rewards 1.
    /// Env 0 finishes at step 1: step 1 takes no bootstrap and cuts the trace seen by step 0,
    /// and its last value 10.0 still counts for step 2 (the new episode). Env 1 never finishes
    /// and bootstraps from its last value 2.0.
    #[test]
    fn matches_a_hand_computed_case_with_an_episode_end_and_a_bootstrap() {
        let rewards = array![[1.0, 1.0], [1.0, 1.0], [1.0, 1.0]];
        let values = array![[0.5, 1.0], [0.4, 1.5], [0.3, 0.5]];
        let dones = array![[false, false], [true, false], [false, false]];
        let last = array![10.0, 2.0];
        let out = gae(
            rewards.view(),
            values.view(),
            dones.view(),
            last.view(),
            0.9,
            0.8,
        )
        .unwrap();

        // Env 0: t=2: delta = 1 + 0.9·10 − 0.3 = 9.7; A2 = 9.7.
        //        t=1: done → delta = 1 − 0.4 = 0.6; A1 = 0.6 (trace cut).
        //        t=0: delta = 1 + 0.9·0.4 − 0.5 = 0.86; A0 = 0.86 + 0.72·0.6 = 1.292.
        // Env 1: t=2: delta = 1 + 0.9·2 − 0.5 = 2.3; A2 = 2.3.
        //        t=1: delta = 1 + 0.9·0.5 − 1.5 = −0.05; A1 = −0.05 + 0.72·2.3 = 1.606.
        //        t=0: delta = 1 + 0.9·1.5 − 1.0 = 1.35; A0 = 1.35 + 0.72·1.606 = 2.50632.
        let expected = array![[1.292, 2.50632], [0.6, 1.606], [9.7, 2.3]];
        for (a, e) in out.advantages.iter().zip(expected.iter()) {
            assert!((a - e).abs() < 1e-12, "{a} vs {e}");
        }
        let expected_returns = &expected + &values;
        for (r, e) in out.returns.iter().zip(expected_returns.iter()) {
            assert!((r - e).abs() < 1e-12);
        }
    }

    #[test]
    fn a_done_last_step_ignores_the_bootstrap_value() {
        let out = gae(
            array![[1.0]].view(),
            array![[0.25]].view(),
            array![[true]].view(),
            array![1e9].view(),
            0.99,
            0.95,
        )
        .unwrap();
        assert_eq!(out.advantages[[0, 0]], 0.75);
        assert_eq!(out.returns[[0, 0]], 1.0);
    }

    #[test]
    fn lambda_one_and_zero_values_give_discounted_returns() {
        // With values 0, lambda 1, no dones: A_t = sum_k gamma^k r_{t+k} + gamma^(T−t)·0.
        let out = gae(
            array![[1.0], [1.0], [1.0]].view(),
            array![[0.0], [0.0], [0.0]].view(),
            array![[false], [false], [false]].view(),
            array![0.0].view(),
            0.5,
            1.0,
        )
        .unwrap();
        assert_eq!(out.returns, array![[1.75], [1.5], [1.0]]);
    }

    #[test]
    fn mismatched_shapes_are_errors() {
        let r = gae(
            array![[1.0, 1.0]].view(),
            array![[0.0]].view(),
            array![[false, false]].view(),
            array![0.0, 0.0].view(),
            0.9,
            0.9,
        );
        assert!(r.is_err());
    }
}
