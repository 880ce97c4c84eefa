//! Unadjusted Langevin dynamics exactly as the paper (Eq. 3, appendix B).

use ebm_core::{check_positive, ContinuousKernel, JointEnergy, JointState, Result, StepInfo};
use serde::{Deserialize, Serialize};
use tch::Kind;

/// Configuration of [`Langevin`], in the `(step_size, noise_scale)` parametrisation
/// `x ← x + step_size · ∇ₓf + noise_scale · ξ`.
///
/// The paper's `(ε, λ)` (Eq. 3: `x ← x + ε²/(2λ) ∇ₓf + ε ξ`) maps to
/// `step_size = ε² / (2λ)`, `noise_scale = ε` ([`LangevinConfig::from_paper`]); the authors' code
/// calls these `--step_size` and `--sigma`. Defaults are the toy experiment's (Table 1:
/// `ε = 0.1`, `λ = 0.5` → `step_size = 0.01`, `noise_scale = 0.1`); MNIST uses
/// `(3e-3, 1.5e-6)` → `(3.0, 3e-3)`, dSprites `(3e-3, 4.5e-7)` → `(10.0, 3e-3)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LangevinConfig {
    /// Drift coefficient `a` multiplying `∇ₓf`.
    pub step_size: f64,
    /// Standard deviation `σ` of the Gaussian noise.
    pub noise_scale: f64,
}

impl Default for LangevinConfig {
    fn default() -> Self {
        Self::from_paper(0.1, 0.5)
    }
}

impl LangevinConfig {
    /// From the paper's step size `ε` and temperature `λ`: `step_size = ε²/(2λ)`,
    /// `noise_scale = ε`.
    pub fn from_paper(epsilon: f64, temperature: f64) -> Self {
        Self {
            step_size: epsilon * epsilon / (2.0 * temperature),
            noise_scale: epsilon,
        }
    }

    /// The paper's `(ε, λ)` for this configuration: `ε = noise_scale`,
    /// `λ = noise_scale² / (2 step_size)`.
    pub fn to_paper(&self) -> (f64, f64) {
        (
            self.noise_scale,
            self.noise_scale * self.noise_scale / (2.0 * self.step_size),
        )
    }

    /// Checks that both numbers are finite and positive.
    pub fn validate(&self) -> Result<()> {
        check_positive("step_size", self.step_size)?;
        check_positive("noise_scale", self.noise_scale)
    }
}

/// Unadjusted Langevin dynamics on `x` given `y` for `p(x | y) ∝ exp(f(x, y))` (`f` higher = more
/// probable).
///
/// **Update rule**: `x' = x + step_size · ∇ₓf(x, y) + noise_scale · ξ`, `ξ ~ N(0, I)`; clamped
/// elements of `x` are left unchanged. Every proposal is taken (no accept/reject).
///
/// **Exact**: no. With `step_size = ε²/(2λ)` and `noise_scale = ε` it is the Euler discretisation
/// of the Langevin diffusion of `exp(f/λ)`, so it samples `x` at temperature `λ` (the paper uses
/// `λ ≪ 1` on purpose) with an `O(ε²)` discretisation bias on top. Combined with an exact `y`
/// kernel it does not leave `exp(f)` invariant; use [`Mala`](crate::Mala) for that.
///
/// **Cost**: one full evaluation (feature stage + head, forward + backward) at the new point per
/// step, which is the cached evaluation the next discrete step needs; `∇ₓf` at the current point
/// comes from the cache (for features energies: one backward pass through the feature stage).
#[derive(Clone, Debug, Default)]
pub struct Langevin {
    config: LangevinConfig,
}

impl Langevin {
    /// A validated kernel.
    pub fn new(config: LangevinConfig) -> Result<Self> {
        config.validate()?;
        Ok(Self { config })
    }

    /// The configuration.
    pub fn config(&self) -> &LangevinConfig {
        &self.config
    }
}

impl ContinuousKernel for Langevin {
    fn step<E: JointEnergy + ?Sized>(
        &self,
        energy: &E,
        mut state: JointState,
    ) -> Result<(JointState, StepInfo)> {
        let grad = state.grad_x(energy)?;
        let noise = state.x().randn_like();
        let x_new = state.x() + grad * self.config.step_size + noise * self.config.noise_scale;
        // Clamped elements are held by the proposal itself.
        let proposal = state.propose_x(energy, &x_new)?;
        let ones = state.eval().log_density().ones_like();
        let state = state.accept_all(proposal)?;
        Ok((
            state,
            StepInfo {
                accepted: ones.to_kind(Kind::Bool),
                accept_prob: ones,
            },
        ))
    }

    fn is_exact(&self) -> bool {
        false
    }

    fn name(&self) -> &'static str {
        "langevin"
    }
}
