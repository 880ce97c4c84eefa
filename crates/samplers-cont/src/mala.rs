//! Metropolis-adjusted Langevin (MALA): the exact continuous kernel.

use ebm_core::{check_positive, ContinuousKernel, JointEnergy, JointState, Result, StepInfo};
use serde::{Deserialize, Serialize};
use tch::Tensor;

/// Configuration of [`Mala`]: proposal `x' ~ N(x + step_size · ∇ₓf(x), noise_scale² I)`.
///
/// The textbook MALA for `exp(f)` has `step_size = noise_scale² / 2`
/// ([`MalaConfig::from_noise_scale`]); any positive pair is valid because the
/// Metropolis–Hastings step corrects for the proposal. Default `noise_scale = 0.1`,
/// `step_size = 0.005`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MalaConfig {
    /// Drift coefficient `a` multiplying `∇ₓf`.
    pub step_size: f64,
    /// Standard deviation `σ` of the proposal noise.
    pub noise_scale: f64,
}

impl Default for MalaConfig {
    fn default() -> Self {
        Self::from_noise_scale(0.1)
    }
}

impl MalaConfig {
    /// The textbook pairing `step_size = σ²/2`, `noise_scale = σ`.
    pub fn from_noise_scale(noise_scale: f64) -> Self {
        Self {
            step_size: noise_scale * noise_scale / 2.0,
            noise_scale,
        }
    }

    /// Checks that both numbers are finite and positive.
    pub fn validate(&self) -> Result<()> {
        check_positive("step_size", self.step_size)?;
        check_positive("noise_scale", self.noise_scale)
    }
}

/// Metropolis-adjusted Langevin on `x` given `y`, targeting `p(x | y) ∝ exp(f(x, y))` (`f`
/// higher = more probable) at temperature 1.
///
/// **Update rule**: propose `x' = x + a ∇ₓf(x) + σ ξ` on the free elements, accept with
/// `min(1, exp(f(x') − f(x) + log q(x | x') − log q(x' | x)))`,
/// `log q(x' | x) = −‖x' − x − a ∇ₓf(x)‖² / (2σ²)` (sums over free elements).
///
/// **Exact**: yes, for any `a, σ > 0`. Non-finite proposals are rejected.
///
/// **Cost**: one full evaluation at `x'` (forward + backward) per step, plus for features
/// energies one extra backward pass through the feature stage for `∇ₓf(x')`; after a
/// per-chain accept/reject the feature graph is gone, so the next `∇ₓf` after a discrete move
/// recomputes the feature stage once.
#[derive(Clone, Debug, Default)]
pub struct Mala {
    config: MalaConfig,
}

impl Mala {
    /// A validated kernel.
    pub fn new(config: MalaConfig) -> Result<Self> {
        config.validate()?;
        Ok(Self { config })
    }

    /// The configuration.
    pub fn config(&self) -> &MalaConfig {
        &self.config
    }

    /// `log q(to | from)` per chain `[B]` up to a constant, given `∇ₓf(from)`; `free` masks
    /// moving elements.
    fn log_q(
        &self,
        to: &Tensor,
        from: &Tensor,
        grad_from: &Tensor,
        free: Option<&Tensor>,
    ) -> Tensor {
        let diff = to - from - grad_from * self.config.step_size;
        let mut sq = &diff * &diff;
        if let Some(free) = free {
            sq = sq.where_self(free, &sq.zeros_like());
        }
        let b = sq.size()[0];
        sq.reshape([b, -1])
            .sum_dim_intlist([1i64].as_slice(), false, None)
            / (-2.0 * self.config.noise_scale * self.config.noise_scale)
    }
}

impl ContinuousKernel for Mala {
    fn step<E: JointEnergy + ?Sized>(
        &self,
        energy: &E,
        mut state: JointState,
    ) -> Result<(JointState, StepInfo)> {
        let grad = state.grad_x(energy)?;
        let noise = state.x().randn_like();
        let x_new = state.x() + &grad * self.config.step_size + noise * self.config.noise_scale;
        // The proposal holds clamped elements at their current values.
        let mut proposal = state.propose_x(energy, &x_new)?;
        let grad_new = proposal.grad_x(energy)?;
        let free = state.x_free();
        let log_alpha = proposal.eval().log_density() - state.eval().log_density()
            + self.log_q(state.x(), proposal.x(), &grad_new, free)
            - self.log_q(proposal.x(), state.x(), &grad, free);
        let ok = log_alpha
            .isnan()
            .logical_not()
            .logical_and(&proposal.eval().log_density().isfinite());
        let log_u = log_alpha.rand_like().clamp_min(1e-30).log();
        let accepted = ok.logical_and(&log_u.lt_tensor(&log_alpha));
        let accept_prob = log_alpha
            .clamp_max(0.0)
            .exp()
            .where_self(&ok, &log_alpha.zeros_like());
        let state = state.accept(&accepted, proposal)?;
        Ok((
            state,
            StepInfo {
                accept_prob,
                accepted,
            },
        ))
    }

    fn is_exact(&self) -> bool {
        true
    }

    fn name(&self) -> &'static str {
        "mala"
    }
}
