//! Gibbs-with-Gradients (Grathwohl et al. 2021) for categorical groups and binary bits, exactly
//! as the joint-EBM paper uses it (docs/REFERENCE-NOTES.md §1).

use ebm_core::{
    check_positive, eval::select_rows, DiscreteKernel, JointEnergy, JointState, Result, StepInfo,
};
use serde::{Deserialize, Serialize};
use tch::Tensor;

/// Configuration of [`Gwg`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GwgConfig {
    /// Proposal temperature `T`: scores are divided by `T` before the softmax. Default 2, the
    /// locally balanced `√·` proposal of Zanella (2020) as in paper Eq. 4 and the authors' code
    /// (`--temp 2`). Only the proposal is tempered; acceptance uses the untempered `f`.
    pub temperature: f64,
}

impl Default for GwgConfig {
    fn default() -> Self {
        Self { temperature: 2.0 }
    }
}

impl GwgConfig {
    /// Checks the configuration.
    pub fn validate(&self) -> Result<()> {
        check_positive("temperature", self.temperature)
    }
}

/// Gibbs-with-Gradients on `y` given `x`, targeting `p(y | x) ∝ exp(f(x, y))` (`f` higher = more
/// probable).
///
/// **Update rule.** With `g = ∂f/∂y` at the current `(x, y)` (`[B, D]`, cached), every *free*
/// cell gets the first-order score of the single change it stands for:
/// * categorical group `i`, value `k ≠ cur_i`: `d = g[i,k] − g[i,cur_i]` (set group `i` to `k`);
/// * bit `j`: `d = (1 − 2 y_j) g_j` (flip bit `j`).
///
/// One softmax of `d / T` over all free cells (current values and clamped variables excluded)
/// picks exactly one change per step, `y → y'`. The reverse probability `q(y | y')` is computed the
/// same way from `∂f/∂y` at `(x, y')` for the move back (the old value of the changed group, or the
/// same bit), and the chain accepts with `min(1, exp(f(x,y') − f(x,y)) q(y|y') / q(y'|y))`.
///
/// **Exact**: yes — a Metropolis–Hastings kernel with a proposal that is a valid distribution on
/// the Hamming ball of radius 1, so `p(y | x)` is invariant for any `T` and any energy.
///
/// **Cost**: one head evaluation (forward + backward) at `(x, y')` per step. It reuses the cached
/// features `h(x)` and gradient at `(x, y)`, and its result becomes the cached evaluation of
/// whichever state each chain keeps (the reference code spends 4 forwards + 2 backwards).
///
/// **Robustness**: a chain whose scores, proposal energy or reverse probability are not finite,
/// or that has no free cell, rejects; no host synchronisation happens inside `step`.
#[derive(Clone, Debug, Default)]
pub struct Gwg {
    config: GwgConfig,
}

/// The proposal at one state: log-probabilities over cells and which chains can propose.
/// (A test hook, hidden from the documentation.)
#[doc(hidden)]
#[derive(Debug)]
pub struct CellProposal {
    /// `[B, D]` `log q(cell | y)`; `-inf` for cells that cannot be chosen.
    pub log_probs: Tensor,
    /// `[B]` bool: the chain has at least one free cell and finite scores.
    pub valid: Tensor,
}

impl Gwg {
    /// A validated kernel.
    pub fn new(config: GwgConfig) -> Result<Self> {
        config.validate()?;
        Ok(Self { config })
    }

    /// The configuration.
    pub fn config(&self) -> &GwgConfig {
        &self.config
    }

    /// The proposal distribution over single changes at `y` `[B, D]` with gradient `grad_y`
    /// `[B, D]`; `y_free` `[B, D]` bool marks cells of free variables.
    pub fn proposal(
        &self,
        state: &JointState,
        y: &Tensor,
        grad_y: &Tensor,
        y_free: Option<&Tensor>,
    ) -> CellProposal {
        let cols = state.columns();
        let current = cols.sum_within_var(&(grad_y * y));
        let d_cat = grad_y - &current;
        let d_bit = (1.0 - 2.0 * y) * grad_y;
        let scores = d_cat.where_self(&cols.categorical, &d_bit) / self.config.temperature;
        let mut allowed = y.eq(0.0).logical_or(&cols.categorical.logical_not());
        if let Some(free) = y_free {
            allowed = allowed.logical_and(free);
        }
        let non_finite = allowed
            .logical_and(&scores.isfinite().logical_not())
            .any_dim(1, false);
        let valid = allowed
            .any_dim(1, false)
            .logical_and(&non_finite.logical_not());
        let neg_inf = Tensor::full_like(&scores, f64::NEG_INFINITY);
        let logits = scores.where_self(&allowed, &neg_inf);
        // Rows that cannot propose get a harmless uniform placeholder and are rejected later.
        let logits = select_rows(&valid, &logits, &scores.zeros_like());
        CellProposal {
            log_probs: logits.log_softmax(1, logits.kind()),
            valid,
        }
    }

    /// Draws one cell per chain from `log_probs` `[B, D]` by the Gumbel-max trick (no host
    /// synchronisation): `[B]` int64. (A test hook, hidden from the documentation.)
    #[doc(hidden)]
    pub fn sample_cells(log_probs: &Tensor) -> Tensor {
        let u = log_probs.rand_like().clamp_min(1e-30);
        let gumbel = -(-u.log()).log();
        (log_probs + gumbel).argmax(1, false)
    }

    /// One step with the proposed cell `[B]` (int64) and `log_u` `[B]` (log of the uniform
    /// used for acceptance) given: the deterministic part of [`DiscreteKernel::step`], exposed
    /// for tests that build the exact transition matrix (hidden from the documentation).
    #[doc(hidden)]
    pub fn step_with<E: JointEnergy + ?Sized>(
        &self,
        energy: &E,
        state: JointState,
        cell: &Tensor,
        log_u: &Tensor,
    ) -> Result<(JointState, StepInfo)> {
        let fwd = self.proposal(&state, state.y(), state.eval().grad_y(), state.y_free());
        self.finish(energy, state, fwd, cell, log_u)
    }

    fn finish<E: JointEnergy + ?Sized>(
        &self,
        energy: &E,
        state: JointState,
        fwd: CellProposal,
        cell: &Tensor,
        log_u: &Tensor,
    ) -> Result<(JointState, StepInfo)> {
        let cols = state.columns();
        let y = state.y();
        let d = y.size()[1];
        let e = cell.one_hot(d).to_kind(y.kind());
        let group = cols.same_var_as(cell).to_kind(y.kind());
        let y_new = y * (1.0 - &group) + &e * (1.0 - y);
        let reverse = (y * &group).where_self(&cols.categorical, &e);
        let reverse_cell = reverse.argmax(1, true);
        let lq_fwd = fwd
            .log_probs
            .gather(1, &cell.unsqueeze(1), false)
            .squeeze_dim(1);

        let proposal = state.propose_y(energy, &y_new)?;
        let rev = self.proposal(
            &state,
            proposal.y(),
            proposal.eval().grad_y(),
            state.y_free(),
        );
        let lq_rev = rev.log_probs.gather(1, &reverse_cell, false).squeeze_dim(1);

        let f_new = proposal.eval().log_density();
        let log_alpha = f_new - state.eval().log_density() + &lq_rev - &lq_fwd;
        // The reverse proposal must be a real one: where it is invalid (non-finite scores at
        // `y'`) its `log_probs` are only a placeholder, and `y'` could never be left again.
        let ok = fwd
            .valid
            .logical_and(&rev.valid)
            .logical_and(&f_new.isfinite())
            .logical_and(&lq_rev.isfinite())
            .logical_and(&log_alpha.isnan().logical_not());
        let accepted = ok.logical_and(&log_u.lt_tensor(&log_alpha));
        let accept_prob = log_alpha
            .clamp_max(0.0)
            .exp()
            .where_self(&ok, &log_alpha.zeros_like());
        let next = state.accept(&accepted, proposal)?;
        Ok((
            next,
            StepInfo {
                accept_prob,
                accepted,
            },
        ))
    }
}

impl DiscreteKernel for Gwg {
    fn step<E: JointEnergy + ?Sized>(
        &self,
        energy: &E,
        state: JointState,
    ) -> Result<(JointState, StepInfo)> {
        let fwd = self.proposal(&state, state.y(), state.eval().grad_y(), state.y_free());
        let cell = Self::sample_cells(&fwd.log_probs);
        let log_u = state
            .eval()
            .log_density()
            .rand_like()
            .clamp_min(1e-30)
            .log();
        self.finish(energy, state, fwd, &cell, &log_u)
    }

    fn is_exact(&self) -> bool {
        true
    }

    fn name(&self) -> &'static str {
        "gwg"
    }
}
