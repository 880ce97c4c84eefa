//! Discrete Langevin (Zhang, Liu & Liu 2022, "A Langevin-like sampler for discrete
//! distributions"): DMALA (Metropolis-adjusted, exact) and DULA (unadjusted, not exact), for
//! categorical groups and bits.

use ebm_core::{
    check_positive, eval::select_rows, ColumnMaps, DiscreteKernel, JointEnergy, JointState, Result,
    StepInfo,
};
use serde::{Deserialize, Serialize};
use tch::Tensor;

/// Configuration of [`Dmala`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DmalaConfig {
    /// Step size `α > 0`: every change of a variable costs `1/α` (categorical, a change moves
    /// two one-hot entries) or `1/(2α)` (a bit flip) in the proposal's log-odds. Small `α`:
    /// few changes, high acceptance; large `α`: many changes, low acceptance. Default 0.2, the
    /// order of the step sizes the DMALA paper uses for its binary models (0.1–0.2 on Ising
    /// and RBMs); tune it per problem, e.g. with [`Dmala::adapt_step_size`] during burn-in.
    pub step_size: f64,
    /// Step size of the **categorical groups** when it should differ from the bits' (`None`,
    /// default: `step_size` for both). A categorical change costs `1/α_g` against a bit flip's
    /// `1/(2α)`, and one proposal draws every variable at once: with hundreds of bits beside a
    /// few groups, the `α` that keeps the bits' acceptance up makes a group's change so costly
    /// that a group value almost never moves. A larger `α_g` lets the groups move while the
    /// bits keep theirs; the proposal stays a valid distribution, so the kernel stays exact.
    pub group_step_size: Option<f64>,
    /// `true` (default): Metropolis–Hastings correction (DMALA, exact). `false`: every
    /// proposal accepted (DULA; biased, with a bias that vanishes as `α → 0`).
    pub adjusted: bool,
}

impl Default for DmalaConfig {
    fn default() -> Self {
        Self {
            step_size: 0.2,
            group_step_size: None,
            adjusted: true,
        }
    }
}

impl DmalaConfig {
    /// Checks the configuration.
    pub fn validate(&self) -> Result<()> {
        check_positive("step_size", self.step_size)?;
        if let Some(a) = self.group_step_size {
            check_positive("group_step_size", a)?;
        }
        Ok(())
    }
}

/// Discrete Langevin on `y` given `x`, targeting `p(y | x) ∝ exp(f(x, y))` (`f` higher = more
/// probable).
///
/// **Update rule.** With `g = ∂f/∂y` at the current `(x, y)` (`[B, D]`, cached), **every free
/// variable** is resampled independently from
/// * categorical group `i` with current value `c`: `q_i(k) ∝ exp((g[i,k] − g[i,c]) / 2 −
///   1[k ≠ c] / α_g)` (`α_g` = `group_step_size`, else `α`);
/// * bit `j`: flip with probability `σ((1 − 2 y_j) g_j / 2 − 1/(2α))`;
///
/// i.e. the proposal `q(y' | y) ∝ exp(½ g·(y' − y) − ‖y' − y‖² / (2α))` restricted to valid
/// labels, which factorises over variables. Clamped variables keep their values. DMALA
/// accepts with `min(1, exp(f(y') − f(y)) q(y | y') / q(y' | y))`, the reverse proposal
/// computed the same way from `∂f/∂y` at `y'`; DULA accepts every proposal.
///
/// **Exact**: DMALA yes (Metropolis–Hastings with a valid proposal distribution, any `α`);
/// DULA no.
///
/// **Cost**: one head evaluation (forward + backward) at `(x, y')` per step, as GWG; it
/// reuses the cached features and gradient at `(x, y)`. Unlike GWG, which changes one
/// variable per step, it can change all of them.
///
/// **Robustness**: a chain with non-finite scores, proposal energy or reverse probability
/// rejects; no host synchronisation happens inside `step`.
#[derive(Clone, Debug, Default)]
pub struct Dmala {
    config: DmalaConfig,
    /// Test hook: leave out the reverse proposal in the acceptance (a deliberately wrong
    /// kernel, for showing that the exactness tests catch it).
    omit_reverse: bool,
}

impl Dmala {
    /// A validated kernel.
    pub fn new(config: DmalaConfig) -> Result<Self> {
        config.validate()?;
        Ok(Self {
            config,
            omit_reverse: false,
        })
    }

    /// A deliberately **wrong** kernel that drops the reverse proposal `q(y | y')` from the
    /// acceptance ratio: for tests that must catch it. Hidden from the documentation.
    #[doc(hidden)]
    pub fn without_reverse_term(config: DmalaConfig) -> Result<Self> {
        let mut k = Self::new(config)?;
        k.omit_reverse = true;
        Ok(k)
    }

    /// The configuration.
    pub fn config(&self) -> &DmalaConfig {
        &self.config
    }

    /// One Robbins–Monro step of the step size toward a target acceptance rate:
    /// `α ← α · exp(rate · (accept − target))`, clamped to `[1e-4, 1e4]`. For burn-in only:
    /// a kernel whose step size changes with the chain's history is not a fixed Markov kernel,
    /// so stop adapting before the samples are used (exactness holds from then on).
    pub fn adapt_step_size(&mut self, observed_accept: f64, target: f64, rate: f64) {
        if observed_accept.is_finite() {
            let a = self.config.step_size * (rate * (observed_accept - target)).exp();
            self.config.step_size = a.clamp(1e-4, 1e4);
        }
    }

    /// Per-column log-probabilities of the proposal from `y` `[B, D]` with gradient `g`
    /// `[B, D]`: categorical columns hold `log q_i(k)` of their group's value, bit columns
    /// `log P(flip)`; plus per-bit `log P(stay)` and a `[B]` validity flag (finite scores).
    /// (A test hook, hidden from the documentation.)
    #[doc(hidden)]
    pub fn proposal(
        &self,
        cols: &ColumnMaps,
        y: &Tensor,
        g: &Tensor,
        y_free: Option<&Tensor>,
    ) -> DmalaProposal {
        let a = self.config.step_size;
        let a_group = self.config.group_step_size.unwrap_or(a);
        let kind = y.kind();
        let (b, d) = (y.size()[0], y.size()[1]);
        let cat = cols.categorical.unsqueeze(0).expand([b, d], false);
        let neg_inf = Tensor::full([b, d], f64::NEG_INFINITY, (kind, y.device()));
        // Categorical: (g − g[current]) / 2 − 1[not current] / α_g.
        let cur = cols.sum_within_var(&(g * y));
        let l_cat: Tensor = (g - &cur) / 2.0 - (1.0 - y) / a_group;
        // Bits: log-odds of a flip.
        let l_bit: Tensor = (1.0 - 2.0 * y) * g / 2.0 - 1.0 / (2.0 * a);
        let mut logits = l_cat.where_self(&cat, &l_bit);
        let valid = logits.isfinite().all_dim(1, false);
        if let Some(free) = y_free {
            // Clamped: categorical only the current value, bits never flip.
            let keep = free.logical_or(&y.eq(1.0).logical_and(&cat));
            logits = logits.where_self(&keep, &neg_inf);
        }
        // Neutralise non-finite rows (rejected later) so that the arithmetic stays finite.
        let logits = select_rows(&valid, &logits, &y.zeros_like());
        // Group log-sum-exp for categorical columns, via per-group max.
        let var = cols.var_of_col.unsqueeze(0).expand([b, d], false);
        let nv = cols.cardinality.size()[0];
        let cat_logits = logits.where_self(&cat, &neg_inf);
        let gmax = Tensor::full([b, nv], f64::NEG_INFINITY, (kind, y.device())).index_reduce(
            1,
            &cols.var_of_col,
            &cat_logits,
            "amax",
            true,
        );
        let gmax_col = gmax.gather(1, &var, false);
        let gmax_safe = gmax_col.where_self(&gmax_col.isfinite(), &gmax_col.zeros_like());
        let sum = Tensor::zeros([b, nv], (kind, y.device())).index_add(
            1,
            &cols.var_of_col,
            &(&cat_logits - &gmax_safe).exp(),
        );
        let lse_col = sum.log().gather(1, &var, false) + &gmax_safe;
        let log_cat = &logits - &lse_col;
        let log_flip = logits.log_sigmoid();
        let log_stay = (-&logits).log_sigmoid();
        DmalaProposal {
            log_probs: log_cat.where_self(&cat, &log_flip),
            log_stay: y.zeros_like().where_self(&cat, &log_stay),
            logits,
            valid,
        }
    }

    /// `log q(to | from)` `[B]` under a proposal computed at `from`. (Test hook, hidden.)
    #[doc(hidden)]
    pub fn log_q(cols: &ColumnMaps, p: &DmalaProposal, from: &Tensor, to: &Tensor) -> Tensor {
        let cat = cols.categorical.unsqueeze(0);
        // Categorical: the log-probability of the value `to` holds (its one-hot column).
        let on = to.eq(1.0).logical_and(&cat);
        let cat_part = p.log_probs.where_self(&on, &p.log_probs.zeros_like());
        // Bits: flipped where `to` differs from `from`.
        let flipped = to.ne_tensor(from).logical_and(&cat.logical_not());
        let stayed = to.eq_tensor(from).logical_and(&cat.logical_not());
        let bit_part = p.log_probs.where_self(&flipped, &p.log_probs.zeros_like())
            + p.log_stay.where_self(&stayed, &p.log_stay.zeros_like());
        (cat_part + bit_part).sum_dim_intlist([1i64].as_slice(), false, p.log_probs.kind())
    }

    /// A draw from the proposal `p` at `y`: `[B, D]` valid labels.
    fn sample(cols: &ColumnMaps, p: &DmalaProposal, y: &Tensor) -> Tensor {
        let (b, d) = (y.size()[0], y.size()[1]);
        let kind = y.kind();
        let cat = cols.categorical.unsqueeze(0).expand([b, d], false);
        // Categorical: Gumbel-max within each group.
        let u = y.rand_like().clamp_min(1e-30);
        let z = (&p.log_probs - (-u.log()).log()).where_self(
            &cat,
            &Tensor::full([b, d], f64::NEG_INFINITY, (kind, y.device())),
        );
        let nv = cols.cardinality.size()[0];
        let zmax = Tensor::full([b, nv], f64::NEG_INFINITY, (kind, y.device())).index_reduce(
            1,
            &cols.var_of_col,
            &z,
            "amax",
            true,
        );
        let var = cols.var_of_col.unsqueeze(0).expand([b, d], false);
        let chosen = z.eq_tensor(&zmax.gather(1, &var, false)).to_kind(kind);
        // Bits: flip with probability exp(log_probs).
        let flip = y.rand_like().log().lt_tensor(&p.log_probs).to_kind(kind);
        let bits = (y - &flip).abs();
        chosen.where_self(&cat, &bits)
    }
}

/// The DMALA proposal at one state (a test hook, hidden from the documentation).
#[doc(hidden)]
#[derive(Debug)]
pub struct DmalaProposal {
    /// `[B, D]`: categorical columns `log q_i(k)`; bit columns `log P(flip)`.
    pub log_probs: Tensor,
    /// `[B, D]`: bit columns `log P(stay)`; 0 elsewhere.
    pub log_stay: Tensor,
    /// `[B, D]` the unnormalised logits.
    pub logits: Tensor,
    /// `[B]` bool: finite scores.
    pub valid: Tensor,
}

impl DiscreteKernel for Dmala {
    fn step<E: JointEnergy + ?Sized>(
        &self,
        energy: &E,
        state: JointState,
    ) -> Result<(JointState, StepInfo)> {
        let cols = state.columns();
        let y = state.y();
        let fwd = self.proposal(cols, y, state.eval().grad_y(), state.y_free());
        let y_new = Self::sample(cols, &fwd, y);
        let lq_fwd = Self::log_q(cols, &fwd, y, &y_new);
        let proposal = state.propose_y(energy, &y_new)?;
        let f_new = proposal.eval().log_density();
        let ok = fwd.valid.logical_and(&f_new.isfinite());
        let (accepted, accept_prob) = if self.config.adjusted {
            let rev = self.proposal(cols, proposal.y(), proposal.eval().grad_y(), state.y_free());
            let lq_rev = if self.omit_reverse {
                lq_fwd.zeros_like()
            } else {
                Self::log_q(cols, &rev, proposal.y(), y)
            };
            let log_alpha = f_new - state.eval().log_density() + &lq_rev - &lq_fwd;
            let ok = ok
                .logical_and(&rev.valid)
                .logical_and(&lq_rev.isfinite())
                .logical_and(&log_alpha.isnan().logical_not());
            let log_u = log_alpha.rand_like().clamp_min(1e-30).log();
            let accepted = ok.logical_and(&log_u.lt_tensor(&log_alpha));
            let p = log_alpha
                .clamp_max(0.0)
                .exp()
                .where_self(&ok, &log_alpha.zeros_like());
            (accepted, p)
        } else {
            (ok.shallow_clone(), ok.to_kind(f_new.kind()))
        };
        let next = state.accept(&accepted, proposal)?;
        Ok((
            next,
            StepInfo {
                accept_prob,
                accepted,
            },
        ))
    }

    fn is_exact(&self) -> bool {
        self.config.adjusted && !self.omit_reverse
    }

    fn name(&self) -> &'static str {
        if self.config.adjusted {
            "dmala"
        } else {
            "dula"
        }
    }
}
