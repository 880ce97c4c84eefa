//! Image preprocessing of the paper's appendix B.2.1 (MNIST) and B.3.1 (dSprites):
//! dequantisation with fresh uniform noise, then the logit transform; and its inverse for
//! display.
//!
//! ```text
//! x̃ = (x·k + u) / (k + 1),   u ~ U[0, 1) per pixel      (k = 255 MNIST, k = 7 dSprites)
//! x̂ = x̃·(1 − 2λ) + λ,        λ = 1e-6
//! x̄ = log(x̂ / (1 − x̂))
//! ```

use tch::Tensor;

/// The `λ` of the logit transform `x̂ = x·(1 − 2λ) + λ` (appendix B.2.1).
pub const LOGIT_LAMBDA: f64 = 1e-6;

/// Dequantisation level `k` of `x̃ = (x·k + u)/(k + 1)`, followed by [`to_logit`].
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Preprocess {
    /// `k`: 255 for MNIST (256 grey levels), 7 for dSprites ("a significant amount of
    /// dequantization", B.3.1).
    pub levels: f64,
}

impl Preprocess {
    /// MNIST, appendix B.2.1: `x̃ = (x·255 + u)/256`.
    pub const MNIST: Self = Self { levels: 255.0 };
    /// dSprites, appendix B.3.1: `x̃ = (x·7 + u)/8`.
    pub const DSPRITES: Self = Self { levels: 7.0 };

    /// `x̃ = (x·k + u)/(k + 1)` with `u ~ U[0, 1)` drawn per element from torch's generator, on
    /// `x`'s device and of `x`'s float kind. `x` is any shape with values in `[0, 1]`; the result
    /// lies in `[x·k/(k+1), (x·k + 1)/(k+1))`.
    pub fn dequantize(&self, x: &Tensor) -> Tensor {
        (x * self.levels + x.rand_like()) / (self.levels + 1.0)
    }

    /// The full map into model space: [`Self::dequantize`] then [`to_logit`]. Same shape and
    /// kind as `x` (a float tensor with values in `[0, 1]`).
    pub fn apply(&self, x: &Tensor) -> Tensor {
        to_logit(&self.dequantize(x))
    }
}

/// The logit transform: `x̂ = x·(1 − 2λ) + λ`, then `log(x̂/(1 − x̂))` elementwise (any shape,
/// `x` in `[0, 1]`; finite for every such `x`, within `±logit(1 − λ) ≈ ±13.8`).
pub fn to_logit(x: &Tensor) -> Tensor {
    (x * (1.0 - 2.0 * LOGIT_LAMBDA) + LOGIT_LAMBDA).logit(None::<f64>)
}

/// Inverse of [`to_logit`] for display: `sigmoid(z)`, undo the affine map
/// `(s − λ)/(1 − 2λ)`, clamp to `[0, 1]`. Any shape; model samples may leave the range that
/// [`to_logit`] produces, hence the clamp.
pub fn from_logit(z: &Tensor) -> Tensor {
    ((z.sigmoid() - LOGIT_LAMBDA) / (1.0 - 2.0 * LOGIT_LAMBDA)).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    fn max_abs(t: &Tensor) -> f64 {
        f64::try_from(t.abs().max()).unwrap()
    }

    #[test]
    fn logit_round_trip_and_dequantisation_bounds() {
        // Exact round trip of the logit map on the whole of [0, 1], in double and float.
        let x = Tensor::linspace(0.0, 1.0, 1001, (Kind::Double, Device::Cpu));
        assert!(max_abs(&(from_logit(&to_logit(&x)) - &x)) < 1e-12);
        let xf = x.to_kind(Kind::Float);
        let zf = to_logit(&xf);
        assert!(bool::try_from(zf.isfinite().all()).unwrap());
        assert!(max_abs(&(from_logit(&zf) - &xf)) < 1e-5);
        // Extreme inputs clamp into [0, 1].
        let z = Tensor::from_slice(&[-1e3f64, -20.0, 0.0, 20.0, 1e3]);
        let back = Vec::<f64>::try_from(from_logit(&z)).unwrap();
        assert_eq!(back[0], 0.0);
        assert_eq!(back[4], 1.0);
        assert!((back[2] - 0.5).abs() < 1e-12);

        // Dequantisation: values stay in their bin [x·k/(k+1), (x·k+1)/(k+1)) and the noise is
        // fresh at every call.
        ebm_core::seed_everything(3);
        for p in [Preprocess::MNIST, Preprocess::DSPRITES] {
            let k = p.levels;
            let levels = Tensor::arange_start(0, k as i64 + 1, (Kind::Double, Device::Cpu)) / k;
            let x = levels.repeat([200]);
            let a = p.apply(&x);
            let b = p.apply(&x);
            assert!(max_abs(&(&a - &b)) > 0.0, "fresh noise at every load");
            let t = from_logit(&a);
            let lo = &x * k / (k + 1.0);
            let hi = (&x * k + 1.0) / (k + 1.0);
            assert!(bool::try_from(t.ge_tensor(&(&lo - 1e-9)).all()).unwrap());
            assert!(bool::try_from(t.le_tensor(&(&hi + 1e-9)).all()).unwrap());
            // Mean of the noise is ½ bin: E[x̃] = (x·k + ½)/(k + 1).
            let mean_offset = f64::try_from(((t - lo) * (k + 1.0)).mean(Kind::Double)).unwrap();
            assert!((mean_offset - 0.5).abs() < 0.05, "k={k}: {mean_offset}");
        }
    }
}
