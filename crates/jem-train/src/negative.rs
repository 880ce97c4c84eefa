//! The Rao-Blackwellised negative phase: `E_{p(y | x)} f(x, y)` with the label posterior held
//! fixed, whose parameter gradient is `E_{p(y | x)} ∇θ f(x, y)`.
//!
//! The joint log-likelihood's gradient has the negative term `E_{p(x, y)} ∇θ f(x, y)`. Writing
//! the expectation as `E_{p(x)} E_{p(y | x)}` and computing the inner one exactly (every label
//! configuration, on the cached features of `x`) removes the label noise of the negative
//! samples without changing the objective (see `NegativeLabels::Expected`).
//!
//! Cost: one head evaluation per example and configuration (`B · C` rows; the feature stage is
//! not repeated).

use ebm_core::JointEnergy;
use tch::{Kind, Tensor};

/// `Σ_y p(y | x) f(x, y)` per example `[B]`, with `p(y | x) = softmax_y f(x, y)` **detached**,
/// so that the gradient with respect to the parameters is `E_{p(y | x)} ∇θ f(x, y)`.
///
/// * `h` — features `h = features(x)` (or `x` itself when the energy has none) `[B, …]`;
/// * `all_y` — every label configuration, one-hot encoded, `[C, D]` (e.g. from
///   `YLayout::enumerate_values` and `YLayout::encode`), of `h`'s float kind.
///
/// Shapes are trusted (the trainer builds both).
pub fn expected_log_density<E: JointEnergy + ?Sized>(
    model: &E,
    h: &Tensor,
    all_y: &Tensor,
) -> Tensor {
    let b = h.size()[0];
    let c = all_y.size()[0];
    let mut rep_shape = h.size();
    rep_shape[0] *= c;
    let mut expand_shape = vec![c];
    expand_shape.extend(h.size());
    // Row r·B + i holds (h_i, y_r).
    let hs = h
        .unsqueeze(0)
        .expand(&expand_shape, false)
        .reshape(&rep_shape);
    let ys = all_y
        .unsqueeze(1)
        .expand([c, b, all_y.size()[1]], false)
        .reshape([c * b, -1]);
    let f = model.log_density_from_features(&hs, &ys).view([c, b]);
    let w = f.detach().softmax(0, Kind::Float).to_kind(f.kind());
    (w * &f).sum_dim_intlist(0, false, f.kind())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ebm_core::{FnEnergy, YLayout};
    use tch::nn::{self, Module, VarStore};
    use tch::Device;

    /// The value is the posterior mean of f and the parameter gradient equals
    /// `Σ_y p(y | x) ∇θ f(x, y)` computed one configuration at a time.
    #[test]
    fn gradient_is_the_posterior_expectation() {
        tch::manual_seed(0);
        let vs = VarStore::new(Device::Cpu);
        let lin = nn::linear(vs.root() / "l", 2 + 5, 1, Default::default());
        let layout = YLayout::new(vec![3], 2).unwrap();
        let m = FnEnergy::new(layout.clone(), move |x: &Tensor, y: &Tensor| {
            lin.forward(&Tensor::cat(&[x, y], 1)).tanh().squeeze_dim(1) * 2.0
                + (x.narrow(1, 0, 1) * y.narrow(1, 1, 1)).squeeze_dim(1)
        });
        let x = Tensor::from_slice(&[0.3f32, -1.2, 2.0, 0.1]).view([2, 2]);
        let all_y = layout
            .encode(&layout.enumerate_values(100).unwrap(), Kind::Float)
            .unwrap();
        assert_eq!(all_y.size(), vec![12, 5]);
        let e = expected_log_density(&m, &x, &all_y);
        let grads = |t: &Tensor| {
            for v in vs.trainable_variables() {
                let mut g = v.grad();
                if g.defined() {
                    let _ = g.zero_();
                }
            }
            t.backward();
            vs.trainable_variables()
                .iter()
                .map(|v| v.grad().copy())
                .collect::<Vec<_>>()
        };
        let got = grads(&e.sum(Kind::Float));
        // Brute force.
        let mut want: Vec<Tensor> = got.iter().map(|g| g.zeros_like()).collect();
        let mut value = [0.0f64; 2];
        for i in 0..2 {
            let xi = x.narrow(0, i, 1).repeat([12, 1]);
            let f = m.log_density(&xi, &all_y);
            let p = f.detach().softmax(0, Kind::Double);
            for r in 0..12 {
                let pr = p.double_value(&[r]);
                value[i as usize] += pr * f.double_value(&[r]);
                let fr = m
                    .log_density(&x.narrow(0, i, 1), &all_y.narrow(0, r, 1))
                    .sum(Kind::Float);
                for (w, g) in want.iter_mut().zip(grads(&fr)) {
                    *w += g * pr;
                }
            }
        }
        for i in 0..2 {
            assert!((e.double_value(&[i]) - value[i as usize]).abs() < 1e-5);
        }
        for (g, w) in got.iter().zip(&want) {
            assert!(g.allclose(w, 1e-4, 1e-5, false), "{g:?} vs {w:?}");
        }
    }
}
