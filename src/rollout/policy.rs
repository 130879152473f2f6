//! Action selection for a batch of CartPole envs: uniform random, a linear softmax policy with
//! sampled actions and their log-probabilities, or explicit actions (replay); plus an optional
//! linear value head.
//!
//! Linear policy: `logits = obs · weights + bias` with `weights` 4×2 (row k = observation component
//! k, column j = action j) and `bias` length 2; `p = softmax(logits)`. With two actions,
//! `p(1) = sigmoid(d)` where `d = logit1 − logit0`, and the log-probabilities are computed as
//! `log p(1) = −softplus(−d)`, `log p(0) = −softplus(d)` with
//! `softplus(z) = max(z, 0) + ln(1 + e^(−|z|))`: no exponential of a large number is ever taken, so
//! they stay finite and accurate for any finite logits (the stable form of log-softmax), and
//! both need only one `exp(−|d|)` and one `ln_1p`.
//! Sampling draws one unit float `u` per env (env order) and picks action 1 when `u < p(1)`.
//! Random policy: one draw per env, action = top bit; its log-probability is `ln 0.5`.
//!
//! Value head: `value = obs · value_weights + value_bias` when `value_weights` is given, else 0.

use ndarray::{ArrayView1, ArrayView2, ArrayViewMut1, Zip};
use serde::Deserialize;

use super::rng::SeededRng;
use super::RolloutError;

/// Parameters of the linear softmax policy and the optional linear value head, as sent in the
/// request's `policy` object.
#[derive(Debug, Clone, PartialEq, serde::Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinearPolicy {
    /// 4×2: `weights[k][j]` multiplies observation component k into the logit of action j.
    pub weights: [[f64; 2]; 4],
    /// Added to the two logits.
    pub bias: [f64; 2],
    /// Optional value head: `value = obs · value_weights + value_bias`; values are 0 without it.
    #[serde(default)]
    pub value_weights: Option<[f64; 4]>,
    /// Bias of the value head (ignored without `value_weights`), default 0.
    #[serde(default)]
    pub value_bias: f64,
}

/// How actions are chosen at each step.
#[derive(Debug, Clone, PartialEq, serde::Serialize, Deserialize)]
pub enum Policy {
    /// Each action 0 or 1 with probability 1/2.
    Random,
    /// Softmax over `obs · weights + bias`.
    Linear(LinearPolicy),
}

/// `ln(1/2)`: the log-probability of either action under the random policy.
pub const LN_HALF: f64 = -std::f64::consts::LN_2;

impl LinearPolicy {
    /// `logit1 − logit0` for one observation.
    #[inline]
    fn logit_gap(&self, obs: ArrayView1<f64>) -> f64 {
        let w = &self.weights;
        let mut l0 = self.bias[0];
        let mut l1 = self.bias[1];
        for (o, row) in obs.iter().zip(w.iter()) {
            l0 += o * row[0];
            l1 += o * row[1];
        }
        l1 - l0
    }

    /// `(log p(0), log p(1))` for one observation.
    #[inline]
    pub fn log_probs(&self, obs: ArrayView1<f64>) -> (f64, f64) {
        let (lp0, lp1, _) = self.log_probs_and_p1(obs);
        (lp0, lp1)
    }

    /// `(log p(0), log p(1), p(1))` with one `exp` and one `ln_1p`: with `d = logit1 − logit0`
    /// and `e = exp(−|d|) ≤ 1`, the likelier action has log-probability `−ln(1 + e)` and the
    /// other `−|d| − ln(1 + e)` (the softplus form of the module docs, computed once).
    #[inline]
    pub fn log_probs_and_p1(&self, obs: ArrayView1<f64>) -> (f64, f64, f64) {
        let d = self.logit_gap(obs);
        let e = (-d.abs()).exp();
        let l = e.ln_1p();
        if d >= 0.0 {
            (-d - l, -l, 1.0 / (1.0 + e))
        } else {
            (-l, d - l, e / (1.0 + e))
        }
    }

    /// The value head's estimate for one observation (0 without a value head).
    #[inline]
    pub fn value(&self, obs: ArrayView1<f64>) -> f64 {
        match &self.value_weights {
            Some(vw) => {
                obs.iter().zip(vw.iter()).map(|(o, w)| o * w).sum::<f64>() + self.value_bias
            }
            None => 0.0,
        }
    }
}

fn check_len(obs: &ArrayView2<f64>, n: usize) -> Result<(), RolloutError> {
    if obs.nrows() != n || obs.ncols() != 4 {
        return Err(RolloutError::ShapeMismatch(format!(
            "observations are {}x{}, per-env output has length {n}",
            obs.nrows(),
            obs.ncols()
        )));
    }
    Ok(())
}

impl Policy {
    /// Samples one action per env from `obs` (`(n, 4)`), one RNG draw per env in env order,
    /// writing the actions and their log-probabilities.
    ///
    /// Errors: `ShapeMismatch` when the outputs are not `n` long.
    pub fn sample(
        &self,
        obs: ArrayView2<f64>,
        rng: &mut SeededRng,
        mut actions: ArrayViewMut1<u8>,
        mut log_probs: ArrayViewMut1<f64>,
    ) -> Result<(), RolloutError> {
        check_len(&obs, actions.len())?;
        check_len(&obs, log_probs.len())?;
        match self {
            Policy::Random => {
                Zip::from(&mut actions)
                    .and(&mut log_probs)
                    .for_each(|a, lp| {
                        *a = (rng.next_u64() >> 63) as u8;
                        *lp = LN_HALF;
                    });
            }
            Policy::Linear(p) => {
                Zip::from(obs.rows())
                    .and(&mut actions)
                    .and(&mut log_probs)
                    .for_each(|o, a, lp| {
                        let (lp0, lp1, p1) = p.log_probs_and_p1(o);
                        let take_one = rng.next_unit() < p1;
                        *a = u8::from(take_one);
                        *lp = if take_one { lp1 } else { lp0 };
                    });
            }
        }
        Ok(())
    }

    /// Log-probabilities of given `actions` (0/1) under this policy, for replayed actions.
    ///
    /// Errors: `ShapeMismatch` when the lengths disagree.
    pub fn log_probs_of(
        &self,
        obs: ArrayView2<f64>,
        actions: ArrayView1<u8>,
        mut log_probs: ArrayViewMut1<f64>,
    ) -> Result<(), RolloutError> {
        check_len(&obs, actions.len())?;
        check_len(&obs, log_probs.len())?;
        match self {
            Policy::Random => log_probs.fill(LN_HALF),
            Policy::Linear(p) => Zip::from(obs.rows())
                .and(&actions)
                .and(&mut log_probs)
                .for_each(|o, &a, lp| {
                    let (lp0, lp1) = p.log_probs(o);
                    *lp = if a == 1 { lp1 } else { lp0 };
                }),
        }
        Ok(())
    }

    /// Whether values come from a value head (otherwise they are all 0).
    pub fn has_value_head(&self) -> bool {
        matches!(self, Policy::Linear(p) if p.value_weights.is_some())
    }

    /// Value estimates of `obs` (`(n, 4)`) into `values` (zeros without a value head).
    ///
    /// Errors: `ShapeMismatch` when `values` is not `n` long.
    pub fn values(
        &self,
        obs: ArrayView2<f64>,
        mut values: ArrayViewMut1<f64>,
    ) -> Result<(), RolloutError> {
        check_len(&obs, values.len())?;
        match self {
            Policy::Linear(p) if p.value_weights.is_some() => Zip::from(obs.rows())
                .and(&mut values)
                .for_each(|o, v| *v = p.value(o)),
            _ => values.fill(0.0),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array1};

    fn policy(weights: [[f64; 2]; 4], bias: [f64; 2]) -> LinearPolicy {
        LinearPolicy {
            weights,
            bias,
            value_weights: None,
            value_bias: 0.0,
        }
    }

    #[test]
    fn log_probs_match_a_hand_computed_softmax() {
        // logits = [0.5·1 + 0.1, 2·1 − 0.2] = [0.6, 1.8] for obs [1, 0, 0, 0].
        let p = policy([[0.5, 2.0], [0.0; 2], [0.0; 2], [0.0; 2]], [0.1, -0.2]);
        let obs = array![1.0, 0.0, 0.0, 0.0];
        let (lp0, lp1) = p.log_probs(obs.view());
        let z = 0.6f64.exp() + 1.8f64.exp();
        assert!((lp0 - (0.6f64.exp() / z).ln()).abs() < 1e-14);
        assert!((lp1 - (1.8f64.exp() / z).ln()).abs() < 1e-14);
        assert!(
            (lp0.exp() + lp1.exp() - 1.0).abs() < 1e-15,
            "probabilities sum to 1"
        );
    }

    #[test]
    fn log_probs_stay_finite_for_huge_logits() {
        let p = policy([[0.0; 2], [0.0; 2], [0.0; 2], [0.0; 2]], [0.0, 1000.0]);
        let (lp0, lp1) = p.log_probs(array![0.0, 0.0, 0.0, 0.0].view());
        assert_eq!(lp0, -1000.0);
        assert_eq!(lp1, 0.0);
        let (lp0, lp1) = p.log_probs(array![0.0, 0.0, 0.0, 0.0].view());
        assert!((lp0.exp() + lp1.exp() - 1.0).abs() < 1e-15);
    }

    #[test]
    fn sampled_actions_follow_the_probabilities_and_report_their_log_probs() {
        // p(1) = sigmoid(ln 3) = 0.75.
        let p = Policy::Linear(policy([[0.0; 2]; 4], [0.0, 3f64.ln()]));
        let obs = ndarray::Array2::<f64>::zeros((4000, 4));
        let mut rng = SeededRng::new(11);
        let mut actions = Array1::zeros(4000);
        let mut lps = Array1::zeros(4000);
        p.sample(obs.view(), &mut rng, actions.view_mut(), lps.view_mut())
            .unwrap();
        let ones = actions.iter().filter(|&&a| a == 1).count() as f64 / 4000.0;
        assert!((ones - 0.75).abs() < 0.03, "share of action 1: {ones}");
        for (&a, &lp) in actions.iter().zip(lps.iter()) {
            let expected = if a == 1 { 0.75f64.ln() } else { 0.25f64.ln() };
            assert!((lp - expected).abs() < 1e-12);
        }
        assert_eq!(rng.draws(), 4000, "one draw per env");
    }

    #[test]
    fn random_policy_is_balanced_and_seeded() {
        let obs = ndarray::Array2::<f64>::zeros((1000, 4));
        let run = |seed| {
            let mut a = Array1::zeros(1000);
            let mut lp = Array1::zeros(1000);
            Policy::Random
                .sample(
                    obs.view(),
                    &mut SeededRng::new(seed),
                    a.view_mut(),
                    lp.view_mut(),
                )
                .unwrap();
            (a, lp)
        };
        let (a, lp) = run(9);
        assert_eq!(a, run(9).0);
        let ones = a.iter().filter(|&&x| x == 1).count();
        assert!((430..570).contains(&ones), "{ones} ones of 1000");
        assert!(lp.iter().all(|&v| v == LN_HALF));
    }

    #[test]
    fn value_head_is_linear_and_defaults_to_zero() {
        let mut lp = policy([[0.0; 2]; 4], [0.0; 2]);
        let obs = array![[1.0, 2.0, 3.0, 4.0]];
        let mut v = Array1::zeros(1);
        Policy::Linear(lp.clone())
            .values(obs.view(), v.view_mut())
            .unwrap();
        assert_eq!(v[0], 0.0);
        lp.value_weights = Some([1.0, 0.5, 0.0, -1.0]);
        lp.value_bias = 0.25;
        Policy::Linear(lp).values(obs.view(), v.view_mut()).unwrap();
        assert_eq!(v[0], 1.0 + 1.0 - 4.0 + 0.25);
    }
}
