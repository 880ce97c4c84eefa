//! Exact random-scan Gibbs sampling on `y`: the reference kernel for tests.

use ebm_core::{eval::select_rows, DiscreteKernel, JointEnergy, JointState, Result, StepInfo};
use tch::{Kind, Tensor};

/// Random-scan Gibbs on `y` given `x`, targeting `p(y | x) ∝ exp(f(x, y))` (`f` higher = more
/// probable).
///
/// **Update rule.** Each chain picks one free variable (categorical group or bit) uniformly at
/// random, evaluates `f` at every value of it with everything else fixed, and draws the new value
/// from the softmax of those `f` values (the exact full conditional).
///
/// **Exact**: yes (no accept/reject; acceptance probability reported as 1, or 0 for a chain with
/// no free variable or non-finite energies, which stays put).
///
/// **Cost**: one head forward over `B · K_max` rows (the candidates; no gradients) plus one
/// head forward and backward over the `B` chosen rows, where `K_max` is the largest cardinality
/// in the layout (known from the layout: no host synchronisation inside `step`).
/// Meant as a reference for tests and small problems, not for speed.
#[derive(Clone, Debug, Default)]
pub struct ExactGibbs;

impl DiscreteKernel for ExactGibbs {
    fn step<E: JointEnergy + ?Sized>(
        &self,
        energy: &E,
        state: JointState,
    ) -> Result<(JointState, StepInfo)> {
        let cols = state.columns();
        let y = state.y();
        let (b, d) = (y.size()[0], y.size()[1]);
        let kind = y.kind();
        let device = y.device();
        let n_vars = cols.cardinality.size()[0];
        let k_max = cols.max_cardinality();

        // Choose one free variable per chain (uniform over free variables, Gumbel-max).
        let var_free = match state.y_free() {
            Some(free) => cols.any_per_var(free),
            None => Tensor::ones([b, n_vars], (Kind::Bool, device)),
        };
        let has_free = var_free.any_dim(1, false);
        let u = Tensor::rand([b, n_vars], (kind, device)).clamp_min(1e-30);
        let gumbel = -(-u.log()).log();
        let var_logits =
            gumbel.where_self(&var_free, &Tensor::full_like(&gumbel, f64::NEG_INFINITY));
        let var_logits = select_rows(&has_free, &var_logits, &gumbel);
        let var = var_logits.argmax(1, false); // [B]

        // Candidates: chain b with variable var_b set to each value k < K_max.
        let in_var = cols.var_of_col.unsqueeze(0).eq_tensor(&var.unsqueeze(1)); // [B, D]
        let ks = Tensor::arange(k_max, (Kind::Int64, device)); // [K]
        let col_val = cols.value_of_col.view([1, 1, d]);
        let is_cat = cols.categorical.view([1, 1, d]);
        let kk = ks.view([1, k_max, 1]);
        let cand_cat = col_val.eq_tensor(&kk).to_kind(kind); // [1, K, D]
        let cand_bit = kk.to_kind(kind).expand([1, k_max, d], false);
        let cand_vals = cand_cat.where_self(&is_cat, &cand_bit); // [1, K, D]
        let in_var3 = in_var.unsqueeze(1); // [B, 1, D]
        let cands = cand_vals.where_self(&in_var3, &y.unsqueeze(1)); // [B, K, D]
        let card = cols.cardinality.index_select(0, &var); // [B]
        let valid_k = ks.unsqueeze(0).lt_tensor(&card.unsqueeze(1)); // [B, K]

        // One batched head evaluation of the B · K candidates; draw from the full conditional.
        let mut ok = None;
        let proposal = state.propose_y_among(energy, &cands, |f_all| {
            let logits = f_all.where_self(&valid_k, &Tensor::full_like(f_all, f64::NEG_INFINITY));
            let finite = logits
                .isfinite()
                .logical_or(&valid_k.logical_not())
                .all_dim(1, false);
            let good = has_free.logical_and(&finite);
            let logits = select_rows(&good, &logits, &f_all.zeros_like());
            let u = Tensor::rand([b, k_max], (kind, device)).clamp_min(1e-30);
            let gumbel = -(-u.log()).log();
            ok = Some(good);
            Ok((logits.log_softmax(1, kind) + gumbel).argmax(1, false))
        })?;
        let ok = ok.unwrap_or_else(|| has_free.zeros_like());
        let accept_prob = ok.to_kind(kind);
        let next = state.accept(&ok, proposal)?;
        Ok((
            next,
            StepInfo {
                accept_prob,
                accepted: ok,
            },
        ))
    }

    fn is_exact(&self) -> bool {
        true
    }

    /// A free variable is redrawn from its full conditional, whatever its current value.
    fn draws_single_free_variable_exactly(&self) -> bool {
        true
    }

    fn name(&self) -> &'static str {
        "gibbs"
    }
}
