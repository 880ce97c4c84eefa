//! Algorithm 1 of the paper: block Metropolis-within-Gibbs over `(x, y)`.

use ebm_core::{ContinuousKernel, DiscreteKernel, JointEnergy, JointState, Result, StepInfo};
use serde::Serialize;
use tch::{Kind, Tensor};

/// Facts about one sweep, per chain, on the device.
#[derive(Debug)]
pub struct SweepInfo {
    /// The discrete step's info (`[B]` acceptance probability and accepted mask).
    pub y: StepInfo,
    /// The continuous step's info.
    pub x: StepInfo,
}

/// Acceptance statistics accumulated **on the device** over sweeps; read on the host only when
/// [`SweepDiagnostics::summary`] is called (e.g. once per reporting interval).
#[derive(Debug, Default)]
pub struct SweepDiagnostics {
    accept_prob_y: Option<Tensor>,
    accepted_y: Option<Tensor>,
    accept_prob_x: Option<Tensor>,
    sweeps: u64,
    chains: i64,
}

/// Host-side means of [`SweepDiagnostics`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct DiagnosticsSummary {
    /// Mean discrete acceptance probability over chains and sweeps.
    pub accept_prob_y: f64,
    /// Fraction of discrete proposals accepted.
    pub accept_rate_y: f64,
    /// Mean continuous acceptance probability (1 for unadjusted Langevin).
    pub accept_prob_x: f64,
    /// Number of sweeps recorded.
    pub sweeps: u64,
}

fn accumulate(acc: &mut Option<Tensor>, v: &Tensor) {
    let s = v.sum(Kind::Double);
    *acc = Some(match acc.take() {
        Some(a) => a + s,
        None => s,
    });
}

impl SweepDiagnostics {
    /// Adds one sweep's info (device ops only, no synchronisation).
    pub fn record(&mut self, info: &SweepInfo) {
        accumulate(&mut self.accept_prob_y, &info.y.accept_prob);
        accumulate(&mut self.accepted_y, &info.y.accepted);
        accumulate(&mut self.accept_prob_x, &info.x.accept_prob);
        self.sweeps += 1;
        self.chains = info.y.accept_prob.size()[0];
    }

    /// Reads the means (one host synchronisation).
    pub fn summary(&self) -> DiagnosticsSummary {
        let n = (self.sweeps as f64) * (self.chains as f64);
        let read = |t: &Option<Tensor>| {
            t.as_ref()
                .and_then(|t| f64::try_from(t).ok())
                .map_or(f64::NAN, |s| s / n)
        };
        DiagnosticsSummary {
            accept_prob_y: read(&self.accept_prob_y),
            accept_rate_y: read(&self.accepted_y),
            accept_prob_x: read(&self.accept_prob_x),
            sweeps: self.sweeps,
        }
    }
}

/// The joint sampler of the paper (Algorithm 1): each sweep makes one discrete step on `y`
/// given `x` (`𝒯_d`, e.g. Gibbs-with-Gradients) and then one continuous step on `x` given the
/// new `y` (`𝒯_c`, e.g. Langevin), for `p(x, y) ∝ exp(f(x, y))` (`f` higher = more probable).
///
/// **Exact** when both kernels are (e.g. `samplers_disc::Gwg` +
/// `samplers_cont::Mala`): each block kernel leaves its conditional, hence the joint,
/// invariant. The paper's pairing with `samplers_cont::Langevin` at `λ ≪ 1` is biased
/// by design (low temperature in `x` only).
///
/// **Cost**: two fused evaluations per sweep with GWG + Langevin — the discrete step evaluates
/// `(x, y')` (head only, reusing cached features), the continuous step evaluates `(x', y_{t+1})`,
/// which is the cached point the next discrete step starts from (plus one backward pass through
/// the feature stage for energies that have one). The authors' code spends 5 forwards and 3
/// backwards per sweep.
///
/// Clamping: variables of `y` fixed with [`JointState::with_fixed_y`] and elements of `x` fixed
/// with [`JointState::with_fixed_x`] never change, which gives conditional sampling of `x` given
/// some or all labels, of `y` given `x` and some labels, and inpainting.
#[derive(Clone, Debug, Default)]
pub struct JointSampler<D, C> {
    /// Kernel on `y` given `x`.
    pub discrete: D,
    /// Kernel on `x` given `y`.
    pub continuous: C,
}

impl<D: DiscreteKernel, C: ContinuousKernel> JointSampler<D, C> {
    /// A sampler from its two block kernels.
    pub fn new(discrete: D, continuous: C) -> Self {
        Self {
            discrete,
            continuous,
        }
    }

    /// Whether the joint chain leaves `exp(f)` exactly invariant.
    pub fn is_exact(&self) -> bool {
        self.discrete.is_exact() && self.continuous.is_exact()
    }

    /// One sweep: `y ← 𝒯_d(y | x)`, then `x ← 𝒯_c(x | y)`.
    pub fn sweep<E: JointEnergy + ?Sized>(
        &self,
        energy: &E,
        state: JointState,
    ) -> Result<(JointState, SweepInfo)> {
        let (state, y) = self.discrete.step(energy, state)?;
        let (state, x) = self.continuous.step(energy, state)?;
        Ok((state, SweepInfo { y, x }))
    }

    /// `sweeps` sweeps, recording acceptance into `diagnostics` (no host synchronisation).
    pub fn run<E: JointEnergy + ?Sized>(
        &self,
        energy: &E,
        mut state: JointState,
        sweeps: usize,
        diagnostics: &mut SweepDiagnostics,
    ) -> Result<JointState> {
        for _ in 0..sweeps {
            let (next, info) = self.sweep(energy, state)?;
            diagnostics.record(&info);
            state = next;
        }
        Ok(state)
    }
}

/// Runs a discrete kernel alone for `steps` steps (x fixed), e.g. for prediction.
pub fn run_discrete<E: JointEnergy + ?Sized, D: DiscreteKernel>(
    kernel: &D,
    energy: &E,
    mut state: JointState,
    steps: usize,
) -> Result<JointState> {
    for _ in 0..steps {
        state = kernel.step(energy, state)?.0;
    }
    Ok(state)
}
