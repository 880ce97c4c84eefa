//! A joint energy whose every conditional and marginal is known: the Gaussian class-conditional
//! model, used as a test oracle and in the demo.

use ebm_core::{JointEnergy, Result, YLayout};
use tch::{Device, Kind, Tensor};

/// Gaussian class-conditional model over `x ∈ ℝⁿ` and categorical groups `y`:
/// a *class* is one configuration `c` of all groups, `y ~ π`, `x | y = c ~ N(μ_c, Λ⁻¹)`.
///
/// Log-density (higher = more probable), with `1[y = c] = Π_g y_{g, c_g}` (multilinear in the
/// one-hot `y`, so `∂f/∂y` exists as Gibbs-with-Gradients needs):
/// `f(x, y) = Σ_c 1[y = c] (log π_c − ½ (x − μ_c)ᵀ Λ (x − μ_c))`.
///
/// Known exactly: `p(y | x) = softmax_c(log π_c − ½ (x − μ_c)ᵀΛ(x − μ_c))` (the Bayes
/// classifier), `p(x | y)`, `p(y) = π` and `p(x)` (a Gaussian mixture).
#[derive(Debug)]
pub struct GaussianClassConditional {
    layout: YLayout,
    /// `[C]` log class probabilities `log π_c` (normalised), classes in the order of
    /// [`YLayout::enumerate_values`].
    pub log_prior: Tensor,
    /// `[C, n]` class means.
    pub means: Tensor,
    /// `[n, n]` shared precision `Λ`.
    pub precision: Tensor,
}

impl GaussianClassConditional {
    /// A model with the given groups (`groups.len()` ≥ 1), log class weights `[C]` (normalised
    /// here), means `[C, n]` and precision `[n, n]` (all f64 on the CPU or one device).
    pub fn new(
        groups: Vec<usize>,
        log_weights: Tensor,
        means: Tensor,
        precision: Tensor,
    ) -> Result<Self> {
        let layout = YLayout::categorical(groups)?;
        let c = layout.num_configurations() as i64;
        if log_weights.size() != [c] {
            return Err(ebm_core::Error::shape(
                "GaussianClassConditional::new",
                "log_weights",
                format!("[{c}]"),
                &log_weights.size(),
            ));
        }
        let n = *means.size().get(1).unwrap_or(&0);
        if means.size() != [c, n] || n == 0 {
            return Err(ebm_core::Error::shape(
                "GaussianClassConditional::new",
                "means",
                format!("[{c}, n]"),
                &means.size(),
            ));
        }
        if precision.size() != [n, n] {
            return Err(ebm_core::Error::shape(
                "GaussianClassConditional::new",
                "precision",
                format!("[{n}, {n}]"),
                &precision.size(),
            ));
        }
        Ok(Self {
            layout,
            log_prior: log_weights
                .log_softmax(0, Kind::Double)
                .to_kind(means.kind()),
            means,
            precision,
        })
    }

    /// Number of classes `C`.
    pub fn num_classes(&self) -> i64 {
        self.log_prior.size()[0]
    }

    /// `[B, C]` class scores `log π_c − ½ (x − μ_c)ᵀΛ(x − μ_c)` (so `log p(y = c | x)` up to a
    /// per-row constant).
    pub fn class_scores(&self, x: &Tensor) -> Tensor {
        let diff = x.unsqueeze(1) - self.means.unsqueeze(0); // [B, C, n]
        let quad =
            (diff.matmul(&self.precision) * &diff).sum_dim_intlist([2i64].as_slice(), false, None);
        &self.log_prior - quad * 0.5
    }

    /// `[B, C]` product indicator `Π_g y_{g, c_g}` for every class `c`.
    pub fn class_indicator(&self, y: &Tensor) -> Tensor {
        let b = y.size()[0];
        let mut ind = Tensor::ones([b, 1], (y.kind(), y.device()));
        for g in 0..self.layout.groups().len() {
            let r = self.layout.columns(g);
            let yg = y.narrow(1, r.start as i64, r.len() as i64);
            ind = (ind.unsqueeze(2) * yg.unsqueeze(1)).reshape([b, -1]);
        }
        ind
    }

    /// Exact draws `(x [n, d], class [n])` from the joint, using torch's generator.
    pub fn sample(&self, n: i64) -> (Tensor, Tensor) {
        let classes = self.log_prior.exp().multinomial(n, true);
        let mu = self.means.index_select(0, &classes);
        let cov = self.precision.inverse();
        let l = cov.linalg_cholesky(false);
        let z = mu.randn_like();
        (mu + z.matmul(&l.transpose(0, 1)), classes)
    }

    /// The one-hot labels `[n, D]` of class indices `[n]`.
    pub fn labels_of(&self, classes: &Tensor) -> Result<Tensor> {
        let all = self
            .layout
            .enumerate_values(u64::MAX)?
            .to_device(classes.device());
        self.layout
            .encode(&all.index_select(0, classes), self.means.kind())
    }
}

impl JointEnergy for GaussianClassConditional {
    fn y_layout(&self) -> &YLayout {
        &self.layout
    }
    fn log_density_from_features(&self, x: &Tensor, y: &Tensor) -> Tensor {
        (self.class_indicator(y) * self.class_scores(x)).sum_dim_intlist(
            [1i64].as_slice(),
            false,
            None,
        )
    }
}

/// A default oracle for demos and tests: groups `[3, 2]` (6 classes), `x ∈ ℝ²`, means on a
/// circle of radius 2, precision `4 I` (sd 0.5), unequal class weights. f64 on `device`.
pub fn demo_oracle(device: Device) -> Result<GaussianClassConditional> {
    let c = 6i64;
    let angles =
        Tensor::arange(c, (Kind::Double, device)) * (2.0 * std::f64::consts::PI / c as f64);
    let means = Tensor::stack(&[angles.cos() * 2.0, angles.sin() * 2.0], 1);
    let log_w = Tensor::from_slice(&[0.0f64, 0.5, -0.5, 0.25, -0.25, 0.1]).to_device(device);
    let precision = Tensor::eye(2, (Kind::Double, device)) * 4.0;
    GaussianClassConditional::new(vec![3, 2], log_w, means, precision)
}
