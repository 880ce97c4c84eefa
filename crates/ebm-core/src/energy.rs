//! The joint log-density trait: `f(x, y)`, higher = more probable.

use crate::layout::YLayout;
use tch::Tensor;

/// A joint unnormalised log-density `f(x, y)` over continuous `x` and discrete `y`:
/// `p(x, y) ∝ exp(f(x, y))`. **Higher `f` means more probable.** The paper calls `f` the
/// "energy"; we never negate it.
///
/// Shapes: `x` is `[B, …]` (one row per chain), `y` is `[B, D]` laid out by
/// [`y_layout`](Self::y_layout) (one-hot groups, then bits), the result is `[B]`. The leading
/// dimension is always independent chains: row `b` of the output may depend only on row `b` of
/// the inputs.
///
/// An energy may split into a y-independent *feature stage* `h = features(x)` and a head
/// `f = log_density_from_features(h, y)` (e.g. a CNN followed by an MLP on `concat(h, y)`, or the
/// x-columns of a first linear layer). The samplers then compute `h` once per continuous move and
/// reuse it for every discrete proposal, backpropagating through the feature stage only when the
/// x-gradient is needed. An energy without such a stage returns `None` from
/// [`features`](Self::features) and receives `x` itself as `h`.
///
/// Implementations must be differentiable with respect to `x` and `y` (the samplers request
/// `∂f/∂x` and `∂f/∂y`, treating `y` as a real vector — Gibbs-with-Gradients' Taylor
/// proposal). Model parameters should not require gradients while sampling (freeze the
/// `VarStore`), so that no weight-gradient graph is built.
pub trait JointEnergy {
    /// Layout of `y`.
    fn y_layout(&self) -> &YLayout;

    /// The y-independent feature stage `h(x)` `[B, …]`, or `None` when there is none (then
    /// `h = x`). The default has none.
    fn features(&self, x: &Tensor) -> Option<Tensor> {
        let _ = x;
        None
    }

    /// `f(x, y)` `[B]` computed from `h = features(x)` (or `h = x`) and `y` `[B, D]`.
    /// Higher = more probable.
    fn log_density_from_features(&self, h: &Tensor, y: &Tensor) -> Tensor;

    /// `f(x, y)` `[B]`. Higher = more probable.
    fn log_density(&self, x: &Tensor, y: &Tensor) -> Tensor {
        match self.features(x) {
            Some(h) => self.log_density_from_features(&h, y),
            None => self.log_density_from_features(x, y),
        }
    }
}

impl<E: JointEnergy + ?Sized> JointEnergy for &E {
    fn y_layout(&self) -> &YLayout {
        (**self).y_layout()
    }
    fn features(&self, x: &Tensor) -> Option<Tensor> {
        (**self).features(x)
    }
    fn log_density_from_features(&self, h: &Tensor, y: &Tensor) -> Tensor {
        (**self).log_density_from_features(h, y)
    }
    fn log_density(&self, x: &Tensor, y: &Tensor) -> Tensor {
        (**self).log_density(x, y)
    }
}

impl<E: JointEnergy + ?Sized> JointEnergy for Box<E> {
    fn y_layout(&self) -> &YLayout {
        (**self).y_layout()
    }
    fn features(&self, x: &Tensor) -> Option<Tensor> {
        (**self).features(x)
    }
    fn log_density_from_features(&self, h: &Tensor, y: &Tensor) -> Tensor {
        (**self).log_density_from_features(h, y)
    }
    fn log_density(&self, x: &Tensor, y: &Tensor) -> Tensor {
        (**self).log_density(x, y)
    }
}

/// A [`JointEnergy`] from a closure `f(x, y) -> [B]` (no feature stage).
///
/// ```
/// use ebm_core::{FnEnergy, JointEnergy, YLayout};
/// use tch::Tensor;
/// // f(x, y) = -|x|^2/2 + y·w: higher = more probable.
/// let w = Tensor::from_slice(&[0.0f64, 1.0]);
/// let energy = FnEnergy::new(YLayout::categorical(vec![2]).unwrap(), move |x: &Tensor, y: &Tensor| {
///     -(x * x).sum_dim_intlist([1i64].as_slice(), false, None) / 2.0 + y.mv(&w)
/// });
/// let f = energy.log_density(&Tensor::zeros([3, 2], tch::kind::FLOAT_CPU).to_kind(tch::Kind::Double),
///                            &Tensor::from_slice(&[0.0f64, 1.0]).repeat([3, 1]));
/// assert_eq!(f.size(), vec![3]);
/// ```
pub struct FnEnergy<F> {
    layout: YLayout,
    f: F,
}

impl<F: Fn(&Tensor, &Tensor) -> Tensor> FnEnergy<F> {
    /// Wraps `f(x, y) -> [B]` (higher = more probable) with the layout of `y`.
    pub fn new(layout: YLayout, f: F) -> Self {
        Self { layout, f }
    }
}

impl<F: Fn(&Tensor, &Tensor) -> Tensor> JointEnergy for FnEnergy<F> {
    fn y_layout(&self) -> &YLayout {
        &self.layout
    }
    fn log_density_from_features(&self, h: &Tensor, y: &Tensor) -> Tensor {
        (self.f)(h, y)
    }
}
