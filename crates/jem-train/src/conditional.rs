//! Conditional pseudo-log-likelihood of the labels, `Σ_v log p_θ(y_v | y_¬v, x)`, computed
//! exactly by enumerating each variable's values (an optional extra training term; **not in the
//! paper**).
//!
//! For one categorical group (MNIST) this is the exact conditional log-likelihood
//! `log p_θ(y | x) = f(x, y) − log Σ_k exp f(x, e_k)`; for several groups (dSprites) it is
//! Besag's pseudo-likelihood, whose terms are each exact. The joint log-likelihood
//! `log p(x, y) = log p(y | x) + log p(x)` already contains the conditional once (that sum with
//! equal weights is JEM's objective, Grathwohl et al. 2020), so adding `α ·` this term weights
//! the conditional by `1 + α`: a **different objective**, not JEM's and not the paper's. It uses
//! the same network and leaves prediction and sampling unchanged; `α = 0` is the paper.
//!
//! Cost: one head evaluation per example and per value of each variable (`B · Σ_v K_v` rows),
//! reusing the y-independent features `h(x)` computed once.

use ebm_core::{JointEnergy, YLayout};
use tch::{Kind, Tensor};

/// `Σ_v log p(y_v | y_¬v, x)` per example `[B]`, summed over the observed variables only.
///
/// * `h` — the energy's features `h = features(x)` (or `x` itself when it has none), `[B, …]`;
/// * `y` — labels `[B, D]` (valid one-hot groups and bits; unobserved entries may hold any
///   valid value, e.g. imputed ones — they condition the other variables' terms);
/// * `observed` — `[B, V]` bool, or `None` when every variable is observed.
///
/// Differentiable with respect to the model's parameters (and `h`). Shapes are trusted: call
/// it with tensors that the trainer has already validated.
pub fn conditional_pseudo_log_likelihood<E: JointEnergy + ?Sized>(
    model: &E,
    h: &Tensor,
    y: &Tensor,
    observed: Option<&Tensor>,
) -> Tensor {
    let layout: &YLayout = model.y_layout();
    let b = y.size()[0];
    let values = layout.decode(y); // [B, V] int64
    let mut variants = Vec::with_capacity(layout.num_vars());
    let mut sizes = Vec::with_capacity(layout.num_vars());
    for v in 0..layout.num_vars() {
        let cols = layout.columns(v);
        let k = layout.cardinality(v) as i64;
        // The K values of variable v written into every row: [K, B, D].
        let settings = if layout.is_bit(v) {
            Tensor::arange(2, (y.kind(), y.device())).view([2, 1, 1])
        } else {
            Tensor::eye(k, (y.kind(), y.device())).view([k, 1, k])
        };
        let yk = y.unsqueeze(0).repeat([k, 1, 1]);
        yk.narrow(2, cols.start as i64, cols.len() as i64)
            .copy_(&settings.expand([k, b, cols.len() as i64], false));
        variants.push(yk.view([k * b, -1]));
        sizes.push(k);
    }
    let total: i64 = sizes.iter().sum();
    let ys = Tensor::cat(&variants, 0); // [Σ K · B, D]
    let mut h_shape = h.size();
    h_shape[0] *= total;
    let hs = h
        .unsqueeze(0)
        .expand(
            [total]
                .iter()
                .chain(h.size().iter())
                .copied()
                .collect::<Vec<_>>(),
            false,
        )
        .reshape(&h_shape);
    let f = model.log_density_from_features(&hs, &ys); // [Σ K · B]
    let mut terms = Vec::with_capacity(sizes.len());
    let mut start = 0;
    for (v, &k) in sizes.iter().enumerate() {
        let fv = f.narrow(0, start * b, k * b).view([k, b]);
        start += k;
        let logp = fv.log_softmax(0, Kind::Float); // [K, B]
        let truth = values.select(1, v as i64).unsqueeze(0); // [1, B]
        terms.push(logp.gather(0, &truth, false).squeeze_dim(0));
    }
    let per_var = Tensor::stack(&terms, 1); // [B, V]
    let per_var = match observed {
        Some(obs) => per_var * obs.to_kind(Kind::Float),
        None => per_var,
    };
    per_var.sum_dim_intlist(1, false, Kind::Float)
}

/// `Σ_g log softmax_g(∂f/∂y)[y_g]` per example `[B]`: the categorical groups' conditional
/// pseudo-log-likelihood read from the **label gradient** at `(x, y)`, summed over the observed
/// groups (bits are left out).
///
/// For an energy **affine in each group's one-hot** given everything else — `f(x, y) = a +
/// ⟨z_g, e_k⟩` when group `g` takes value `k`, as [`crate::MaskCnnEnergy`]'s readout head —
/// `∂f/∂y_g = z_g` and `log softmax(z_g)[y_g] = log p(y_g | y_¬g, x)` exactly; for other
/// energies it is the first-order (Taylor) approximation of that term. Cost: one head forward
/// and one backward that keeps its graph (the loss's backward then runs through it), whatever
/// the groups' cardinalities — where [`conditional_pseudo_log_likelihood`] evaluates the head
/// once per value of every variable.
///
/// Arguments as [`conditional_pseudo_log_likelihood`]'s; `observed` `[B, V]` selects groups
/// (its bit columns are ignored).
pub fn group_log_likelihood_from_gradient<E: JointEnergy + ?Sized>(
    model: &E,
    h: &Tensor,
    y: &Tensor,
    observed: Option<&Tensor>,
) -> Tensor {
    let layout: &YLayout = model.y_layout();
    let b = y.size()[0];
    let groups = layout.groups().len();
    if groups == 0 {
        return Tensor::zeros([b], (Kind::Float, y.device()));
    }
    let yg = y.detach().set_requires_grad(true);
    let f = model.log_density_from_features(h, &yg);
    let g = Tensor::run_backward(&[f.sum(Kind::Float)], &[&yg], true, true)
        .pop()
        .unwrap_or_else(|| yg.zeros_like());
    let values = layout.decode(y); // [B, V] int64
    let terms: Vec<Tensor> = (0..groups)
        .map(|v| {
            let cols = layout.columns(v);
            let logp = g
                .narrow(1, cols.start as i64, cols.len() as i64)
                .log_softmax(1, Kind::Float);
            let truth = values.select(1, v as i64).unsqueeze(1); // [B, 1]
            logp.gather(1, &truth, false).squeeze_dim(1)
        })
        .collect();
    let per_group = Tensor::stack(&terms, 1); // [B, G]
    let per_group = match observed {
        Some(obs) => per_group * obs.narrow(1, 0, groups as i64).to_kind(Kind::Float),
        None => per_group,
    };
    per_group.sum_dim_intlist(1, false, Kind::Float)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ebm_core::FnEnergy;

    /// A small non-linear energy over 2 features and y = one group of 3 + one bit.
    fn energy() -> FnEnergy<impl Fn(&Tensor, &Tensor) -> Tensor> {
        let layout = YLayout::new(vec![3], 1).unwrap();
        FnEnergy::new(layout, |x: &Tensor, y: &Tensor| {
            let w = Tensor::from_slice(&[0.5f32, -1.0, 2.0, 0.7, 1.5, 0.3, -0.4, 1.1]).view([2, 4]);
            let z = x.matmul(&w) * y;
            z.tanh().sum_dim_intlist(1, false, Kind::Float) * 3.0
                + (y.narrow(1, 0, 1) * y.narrow(1, 3, 1)).squeeze_dim(1)
        })
    }

    /// Each variable's term equals `f(y) − log Σ_k f(y with v = k)` computed one configuration at
    /// a time on the host.
    #[test]
    fn matches_brute_force_per_variable() {
        let m = energy();
        let x = Tensor::from_slice(&[0.3f32, -1.2, 2.0, 0.1, -0.7, 0.9]).view([3, 2]);
        let vals = Tensor::from_slice(&[2i64, 1, 0, 0, 1, 1]).view([3, 2]);
        let y = m.y_layout().encode(&vals, Kind::Float).unwrap();
        let got = Vec::<f64>::try_from(
            conditional_pseudo_log_likelihood(&m, &x, &y, None).to_kind(Kind::Double),
        )
        .unwrap();
        let f = |x: &Tensor, g: i64, bit: i64| -> f64 {
            let v = Tensor::from_slice(&[g, bit]).view([1, 2]);
            let y = m.y_layout().encode(&v, Kind::Float).unwrap();
            m.log_density(x, &y).double_value(&[0])
        };
        let lse = |v: &[f64]| {
            let mx = v.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            mx + v.iter().map(|a| (a - mx).exp()).sum::<f64>().ln()
        };
        for b in 0..3 {
            let xb = x.narrow(0, b, 1);
            let g = vals.int64_value(&[b, 0]);
            let bit = vals.int64_value(&[b, 1]);
            let group: Vec<f64> = (0..3).map(|k| f(&xb, k, bit)).collect();
            let bits: Vec<f64> = (0..2).map(|k| f(&xb, g, k)).collect();
            let want = group[g as usize] - lse(&group) + bits[bit as usize] - lse(&bits);
            assert!(
                (got[b as usize] - want).abs() < 1e-5,
                "row {b}: {} vs {want}",
                got[b as usize]
            );
        }
    }

    /// Unobserved variables contribute nothing; an all-unobserved row gives 0.
    #[test]
    fn observed_mask_selects_terms() {
        let m = energy();
        let x = Tensor::from_slice(&[0.3f32, -1.2, 2.0, 0.1]).view([2, 2]);
        let vals = Tensor::from_slice(&[2i64, 1, 0, 0]).view([2, 2]);
        let y = m.y_layout().encode(&vals, Kind::Float).unwrap();
        let all = conditional_pseudo_log_likelihood(&m, &x, &y, None);
        let only_group = Tensor::from_slice(&[true, false, false, false]).view([2, 2]);
        let part = conditional_pseudo_log_likelihood(&m, &x, &y, Some(&only_group));
        let group_only = Tensor::from_slice(&[true, false, true, false]).view([2, 2]);
        let g = conditional_pseudo_log_likelihood(&m, &x, &y, Some(&group_only));
        assert!((part.double_value(&[0]) - g.double_value(&[0])).abs() < 1e-6);
        assert_eq!(part.double_value(&[1]), 0.0);
        assert!(all.double_value(&[0]) < g.double_value(&[0]) + 1e-6);
    }

    /// Exact for an energy affine in each group's one-hot (equals the enumerated
    /// pseudo-likelihood's group terms); differentiable with respect to the parameters.
    #[test]
    fn gradient_form_is_exact_for_affine_groups() {
        let layout = YLayout::new(vec![3, 2], 1).unwrap();
        let w = Tensor::from_slice(&[
            0.5f32, -1.0, 2.0, 0.7, 1.5, 0.3, -0.4, 1.1, 0.2, -0.9, 0.6, 1.3,
        ])
        .view([2, 6])
        .set_requires_grad(true);
        let w2 = w.shallow_clone();
        let m = FnEnergy::new(layout.clone(), move |x: &Tensor, y: &Tensor| {
            // Group logits z(x, bit) = x W (1 + bit): affine in each group's one-hot.
            let bit = y.narrow(1, 5, 1);
            let z = x.matmul(&w2) * (bit + 1.0);
            (z.narrow(1, 0, 5) * y.narrow(1, 0, 5)).sum_dim_intlist(1, false, Kind::Float)
                + (x.narrow(1, 0, 1) * y.narrow(1, 5, 1))
                    .squeeze_dim(1)
                    .tanh()
        });
        let x = Tensor::from_slice(&[0.3f32, -1.2, 2.0, 0.1, -0.7, 0.9]).view([3, 2]);
        let vals = Tensor::from_slice(&[2i64, 1, 0, 0, 0, 1, 1, 1, 1]).view([3, 3]);
        let y = layout.encode(&vals, Kind::Float).unwrap();
        let got = group_log_likelihood_from_gradient(&m, &x, &y, None);
        // The enumerated pseudo-likelihood restricted to the two groups.
        let obs = Tensor::from_slice(&[true, true, false])
            .view([1, 3])
            .expand([3, 3], false);
        let want = conditional_pseudo_log_likelihood(&m, &x, &y, Some(&obs));
        let diff = (&got - &want).abs().max().double_value(&[]);
        assert!(diff < 1e-5, "{got:?} vs {want:?}");
        // Only the first group observed for row 0.
        let obs0 = Tensor::from_slice(&[true, false, false, true, true, false, true, true, false])
            .view([3, 3]);
        let part = group_log_likelihood_from_gradient(&m, &x, &y, Some(&obs0));
        let whole = Vec::<f64>::try_from(got.to_kind(Kind::Double)).unwrap();
        let part = Vec::<f64>::try_from(part.to_kind(Kind::Double)).unwrap();
        assert!(part[0] > whole[0] - 1e-9 && (part[1] - whole[1]).abs() < 1e-6);
        // The loss reaches the parameters.
        let ll = group_log_likelihood_from_gradient(&m, &x, &y, None).sum(Kind::Float);
        let g = Tensor::run_backward(&[ll], &[&w], false, false)
            .pop()
            .unwrap();
        assert!(g.abs().sum(Kind::Float).double_value(&[]) > 1e-3);
    }
}
