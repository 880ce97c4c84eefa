//! Shared helpers of the `samplers-cont` tests: test energies with analytic gradients and call
//! counters, tensor ↔ host conversions, a lock around torch's global generator, and the
//! statistics used by the `#[ignore]`d tests (Monte-Carlo standard errors, KS tests).
#![allow(dead_code, clippy::unwrap_used)]

use ebm_core::{JointEnergy, YLayout};
use std::cell::Cell;
use std::sync::{Mutex, MutexGuard};
use tch::{Device, Kind, Tensor};

/// Every test works in `f64` on the CPU.
pub const OPTS: (Kind, Device) = (Kind::Double, Device::Cpu);

static TORCH_RNG: Mutex<()> = Mutex::new(());

/// Tests of one binary run on parallel threads but torch has one global generator: every test
/// that seeds it (and relies on the draws that follow) holds this lock for its whole body.
pub fn torch_rng_lock() -> MutexGuard<'static, ()> {
    TORCH_RNG.lock().unwrap_or_else(|e| e.into_inner())
}

/// A `f64` tensor of the given shape.
pub fn tensor(values: &[f64], shape: &[i64]) -> Tensor {
    Tensor::from_slice(values).reshape(shape)
}

/// All elements of `t`, row-major, as `f64`.
pub fn to_vec(t: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(t.to_kind(Kind::Double).flatten(0, -1)).unwrap()
}

/// All elements of a bool tensor, row-major.
pub fn to_bools(t: &Tensor) -> Vec<bool> {
    Vec::<bool>::try_from(t.to_kind(Kind::Bool).flatten(0, -1)).unwrap()
}

/// `max |a − b|` over all elements.
pub fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.size(), b.size(), "shapes differ");
    (a - b).abs().max().double_value(&[])
}

/// The labels layout used throughout: one categorical group with 2 values.
pub fn layout() -> YLayout {
    YLayout::categorical(vec![2]).unwrap()
}

/// One-hot `y` `[B, 2]` for the given classes.
pub fn one_hot(classes: &[usize]) -> Tensor {
    let mut v = vec![0.0; classes.len() * 2];
    for (b, &c) in classes.iter().enumerate() {
        v[2 * b + c] = 1.0;
    }
    tensor(&v, &[classes.len() as i64, 2])
}

/// Alternating classes 0, 1, 0, 1, … for `b` chains.
pub fn alternating_classes(b: usize) -> Vec<usize> {
    (0..b).map(|i| i % 2).collect()
}

/// A non-quadratic joint log-density (higher = more probable) over `x` `[B, …]` (flattened to
/// `d` coordinates) and `y` one-hot `[B, 2]`:
///
/// `f(x, y) = −½ xᵀΛx − c Σᵢ xᵢ⁴ + (y·w) · vᵀ tanh(Wᵀx + b)`
///
/// with fixed parameters (no random draws). Built either **without** a feature stage (the head
/// sees `x`) or **with** one: `h(x) = [x, tanh(Wᵀx + b)]` and the head computes the same `f`
/// from `h`. Both kinds define the same density, so one analytic gradient serves both.
/// Counters record feature-stage forwards (only for the features kind) and head forwards.
pub struct TestEnergy {
    layout: YLayout,
    with_features: bool,
    dim: i64,
    lambda: Tensor,
    quartic: f64,
    w_in: Tensor,
    bias: Tensor,
    v: Tensor,
    y_weights: Tensor,
    /// Feature-stage forward calls (features kind only).
    pub feature_calls: Cell<u64>,
    /// Head forward calls.
    pub head_calls: Cell<u64>,
}

const HIDDEN: i64 = 3;

impl TestEnergy {
    /// `dim` coordinates of `x` per chain; `with_features` picks the kind.
    pub fn new(dim: i64, with_features: bool) -> Self {
        let d = dim as usize;
        let k = HIDDEN as usize;
        let mut lambda = vec![0.0; d * d];
        for i in 0..d {
            for j in 0..d {
                let off = (i as i32 - j as i32).unsigned_abs() as i32;
                // Diagonally dominant, hence positive definite.
                lambda[i * d + j] = if i == j { 1.0 } else { 0.3 * 0.5f64.powi(off) };
            }
        }
        let w: Vec<f64> = (0..d * k)
            .map(|n| 0.9 * (1.3 * (n / k) as f64 + 0.7 * (n % k) as f64 + 0.5).sin())
            .collect();
        let bias: Vec<f64> = (0..k).map(|j| 0.2 * j as f64 - 0.2).collect();
        let v: Vec<f64> = (0..k).map(|j| (0.9 * j as f64 + 0.2).cos()).collect();
        Self {
            layout: layout(),
            with_features,
            dim,
            lambda: tensor(&lambda, &[dim, dim]),
            quartic: 0.05,
            w_in: tensor(&w, &[dim, HIDDEN]),
            bias: tensor(&bias, &[HIDDEN]),
            v: tensor(&v, &[HIDDEN]),
            y_weights: tensor(&[-0.7, 1.3], &[2]),
            feature_calls: Cell::new(0),
            head_calls: Cell::new(0),
        }
    }

    fn flat(&self, x: &Tensor) -> Tensor {
        let b = x.size()[0];
        x.reshape([b, self.dim])
    }

    fn hidden(&self, xf: &Tensor) -> Tensor {
        (xf.mm(&self.w_in) + &self.bias).tanh()
    }

    fn head(&self, xf: &Tensor, t: &Tensor, y: &Tensor) -> Tensor {
        let quad = (xf.mm(&self.lambda) * xf).sum_dim_intlist([1i64].as_slice(), false, None);
        let quart = xf
            .pow_tensor_scalar(4)
            .sum_dim_intlist([1i64].as_slice(), false, None);
        quad * -0.5 - quart * self.quartic + y.mv(&self.y_weights) * t.mv(&self.v)
    }

    /// `f(x, y)` `[B]` by the formula (no autograd).
    pub fn value(&self, x: &Tensor, y: &Tensor) -> Tensor {
        let xf = self.flat(x);
        self.head(&xf, &self.hidden(&xf), y)
    }

    /// `∇ₓf(x, y)` with the shape of `x`, by the analytic formula (no autograd):
    /// `−Λx − 4c x³ + (y·w) · W (v ⊙ (1 − t²))`, `t = tanh(Wᵀx + b)`.
    pub fn grad_x(&self, x: &Tensor, y: &Tensor) -> Tensor {
        let xf = self.flat(x);
        let t = self.hidden(&xf);
        let s = y.mv(&self.y_weights).unsqueeze(1);
        let dt = (t.ones_like() - &t * &t) * &self.v * s;
        let g = -xf.mm(&self.lambda) - xf.pow_tensor_scalar(3) * (4.0 * self.quartic)
            + dt.mm(&self.w_in.tr());
        g.reshape(x.size())
    }

    /// Resets both counters.
    pub fn reset_counts(&self) {
        self.feature_calls.set(0);
        self.head_calls.set(0);
    }
}

impl JointEnergy for TestEnergy {
    fn y_layout(&self) -> &YLayout {
        &self.layout
    }

    fn features(&self, x: &Tensor) -> Option<Tensor> {
        if !self.with_features {
            return None;
        }
        self.feature_calls.set(self.feature_calls.get() + 1);
        let xf = self.flat(x);
        let t = self.hidden(&xf);
        Some(Tensor::cat(&[xf, t], 1))
    }

    fn log_density_from_features(&self, h: &Tensor, y: &Tensor) -> Tensor {
        self.head_calls.set(self.head_calls.get() + 1);
        if self.with_features {
            let xf = h.narrow(1, 0, self.dim);
            let t = h.narrow(1, self.dim, HIDDEN);
            self.head(&xf, &t, y)
        } else {
            let xf = self.flat(h);
            self.head(&xf, &self.hidden(&xf), y)
        }
    }
}

/// A 2-D Gaussian class-conditional target `x | y ~ N(μ_y, Σ)` (the log-density is
/// `−½ (x − μ_y)ᵀ Σ⁻¹ (x − μ_y)`, higher = more probable), either computed directly from `x`
/// or through a linear feature stage `h = x L⁻ᵀ` (`Σ = L Lᵀ`) with the head
/// `−½ ‖h − μ_y L⁻ᵀ‖²`. Both kinds define the same density.
pub struct GaussianEnergy {
    layout: YLayout,
    with_features: bool,
    /// `Σ` `[2, 2]`.
    pub cov: [[f64; 2]; 2],
    /// `μ_y` for y = 0, 1.
    pub means: [[f64; 2]; 2],
    precision: Tensor,
    whiten: Tensor,
    mean_rows: Tensor,
}

impl GaussianEnergy {
    /// Correlation 0.8, variances 1 and 0.5, class means (1, −0.5) and (−1, 0.5).
    pub fn new(with_features: bool) -> Self {
        let cov = [[1.0, 0.8 * 0.5f64.sqrt()], [0.8 * 0.5f64.sqrt(), 0.5]];
        let means = [[1.0, -0.5], [-1.0, 0.5]];
        let det = cov[0][0] * cov[1][1] - cov[0][1] * cov[1][0];
        let precision = [
            cov[1][1] / det,
            -cov[0][1] / det,
            -cov[1][0] / det,
            cov[0][0] / det,
        ];
        let l = cholesky2(cov);
        // L⁻¹ for lower-triangular L = [[a, 0], [b, c]] is [[1/a, 0], [−b/(ac), 1/c]].
        let linv = [
            [1.0 / l[0][0], 0.0],
            [-l[1][0] / (l[0][0] * l[1][1]), 1.0 / l[1][1]],
        ];
        // Row form: h = x L⁻ᵀ, so the matrix is (L⁻¹)ᵀ.
        let whiten = [linv[0][0], linv[1][0], linv[0][1], linv[1][1]];
        Self {
            layout: layout(),
            with_features,
            cov,
            means,
            precision: tensor(&precision, &[2, 2]),
            whiten: tensor(&whiten, &[2, 2]),
            mean_rows: tensor(
                &[means[0][0], means[0][1], means[1][0], means[1][1]],
                &[2, 2],
            ),
        }
    }

    /// Exact draws `[B, 2]` from `N(μ_{y_b}, Σ)` with torch's generator.
    pub fn sample(&self, y: &Tensor) -> Tensor {
        let b = y.size()[0];
        let l = cholesky2(self.cov);
        let lt = tensor(&[l[0][0], l[1][0], l[0][1], l[1][1]], &[2, 2]);
        y.mm(&self.mean_rows) + Tensor::randn([b, 2], OPTS).mm(&lt)
    }
}

/// Lower Cholesky factor of a 2×2 covariance.
pub fn cholesky2(c: [[f64; 2]; 2]) -> [[f64; 2]; 2] {
    let a = c[0][0].sqrt();
    let b = c[1][0] / a;
    let d = (c[1][1] - b * b).sqrt();
    [[a, 0.0], [b, d]]
}

impl JointEnergy for GaussianEnergy {
    fn y_layout(&self) -> &YLayout {
        &self.layout
    }

    fn features(&self, x: &Tensor) -> Option<Tensor> {
        self.with_features.then(|| x.mm(&self.whiten))
    }

    fn log_density_from_features(&self, h: &Tensor, y: &Tensor) -> Tensor {
        let mu = y.mm(&self.mean_rows);
        if self.with_features {
            let r = h - mu.mm(&self.whiten);
            (&r * &r).sum_dim_intlist([1i64].as_slice(), false, None) * -0.5
        } else {
            let r = h - mu;
            (r.mm(&self.precision) * &r).sum_dim_intlist([1i64].as_slice(), false, None) * -0.5
        }
    }
}

/// Mean and Monte-Carlo standard error of the mean of `series[c][t]` (independent series,
/// each stationary), with the effective sample size of `ebm_core::diagnostics`.
/// Returns `(mean, mcse, ess)`.
pub fn mean_and_mcse(series: &[Vec<f64>]) -> (f64, f64, f64) {
    let n: usize = series.iter().map(Vec::len).sum();
    let mean = series.iter().flatten().sum::<f64>() / n as f64;
    let var = series
        .iter()
        .flatten()
        .map(|v| (v - mean).powi(2))
        .sum::<f64>()
        / (n as f64 - 1.0);
    let ess = ebm_core::diagnostics::effective_sample_size(series);
    (mean, (var / ess).sqrt(), ess)
}

/// Standard normal CDF of every element (torch's `erf`, double precision).
pub fn normal_cdf(z: &Tensor) -> Tensor {
    ((z / std::f64::consts::SQRT_2).erf() + 1.0) * 0.5
}

/// One-sample Kolmogorov–Smirnov statistic of `samples` against the standard normal.
pub fn ks_statistic_std_normal(samples: &Tensor) -> f64 {
    let (sorted, _) = samples.flatten(0, -1).sort(0, false);
    let n = sorted.size()[0];
    let cdf = normal_cdf(&sorted);
    let i = Tensor::arange(n, OPTS);
    let upper = (&i + 1.0) / n as f64 - &cdf;
    let lower = &cdf - i / n as f64;
    upper
        .max()
        .double_value(&[])
        .max(lower.max().double_value(&[]))
}

/// Asymptotic p-value of a one-sample KS statistic `d` from `n` samples (Kolmogorov's
/// distribution with Stephens' small-sample correction, as in Numerical Recipes).
pub fn ks_p_value(d: f64, n: usize) -> f64 {
    let sn = (n as f64).sqrt();
    let lambda = (sn + 0.12 + 0.11 / sn) * d;
    if lambda < 1e-3 {
        return 1.0;
    }
    if lambda < 1.18 {
        // 1 − √(2π)/λ Σ exp(−(2k−1)²π²/(8λ²))
        let y = (-std::f64::consts::PI.powi(2) / (8.0 * lambda * lambda)).exp();
        let s: f64 = (1..=6).map(|k| y.powi((2 * k - 1) * (2 * k - 1))).sum();
        (1.0 - (2.0 * std::f64::consts::PI).sqrt() / lambda * s).clamp(0.0, 1.0)
    } else {
        let s: f64 = (1..=100)
            .map(|k| {
                let sign = if k % 2 == 1 { 1.0 } else { -1.0 };
                sign * (-2.0 * (k * k) as f64 * lambda * lambda).exp()
            })
            .sum();
        (2.0 * s).clamp(0.0, 1.0)
    }
}
