//! The MLP energy on `concat(x, y)`, with its first layer split into a feature stage and a
//! head.

use super::init::torch_linear;
use ebm_core::{JointEnergy, YLayout};
use serde::{Deserialize, Serialize};
use tch::nn::{self, Init, Module};
use tch::Tensor;

/// Activation of an MLP energy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// ELU (α = 1): the toy and MNIST models.
    Elu,
    /// SiLU / swish: the dSprites head.
    Silu,
}

impl Activation {
    fn apply(self, t: &Tensor) -> Tensor {
        match self {
            Activation::Elu => t.elu(),
            Activation::Silu => t.silu(),
        }
    }
}

/// Name of the label columns of an [`MlpEnergy`]'s first layer (also the head of a
/// [`CnnEnergy`]): the variables [`crate::TrainConfig::label_lr_scale`] applies to.
///
/// [`CnnEnergy`]: super::CnnEnergy
pub const LABEL_WEIGHT_NAME: &str = "first_weight_y";

/// `f(x, y) = MLP(concat(x, y))` → scalar, higher = more probable (paper appendix B.1, B.2.2).
///
/// The first layer `W [x; y] + b` is stored split as `W_x x + b` (the feature stage, computed
/// once per `x`) and `W_y y` (the head), which is the same function with the same parameter
/// count; initialisation matches PyTorch's `nn.Linear` on the concatenated input
/// (`U(−1/√fan_in, 1/√fan_in)` with `fan_in = dim(x) + dim(y)`).
///
/// Shapes: `x` `[B, …]` (flattened to `[B, dim(x)]`), `y` `[B, D]`, output `[B]`.
#[derive(Debug)]
pub struct MlpEnergy {
    layout: YLayout,
    pub(super) w_x: Tensor,
    pub(super) b: Tensor,
    pub(super) w_y: Tensor,
    rest: Vec<nn::Linear>,
    activation: Activation,
}

impl MlpEnergy {
    /// Builds the MLP under `path` with hidden widths `hidden` (the last layer maps to 1).
    /// Toy: `hidden = [256, 256, 256]`, ELU; MNIST: `[1000, 500, 500, 250, 250, 250]`, ELU.
    pub fn new(
        path: &nn::Path,
        x_dim: i64,
        layout: YLayout,
        hidden: &[i64],
        activation: Activation,
    ) -> Self {
        let d = layout.dim() as i64;
        let h1 = hidden.first().copied().unwrap_or(1);
        let bound = 1.0 / ((x_dim + d) as f64).sqrt();
        let init = Init::Uniform {
            lo: -bound,
            up: bound,
        };
        let w_x = path.var("first_weight_x", &[h1, x_dim], init);
        let w_y = path.var(LABEL_WEIGHT_NAME, &[h1, d], init);
        let b = path.var("first_bias", &[h1], init);
        let mut rest = Vec::new();
        let mut widths: Vec<i64> = hidden.to_vec();
        widths.push(1);
        for (i, pair) in widths.windows(2).enumerate() {
            rest.push(torch_linear(
                &(path / format!("layer{}", i + 1)),
                pair[0],
                pair[1],
            ));
        }
        Self {
            layout,
            w_x,
            b,
            w_y,
            rest,
            activation,
        }
    }

    /// The MLP part after the first layer's pre-activation `z` `[B, h1]`.
    pub(super) fn tail(&self, z: &Tensor) -> Tensor {
        let mut h = self.activation.apply(z);
        let last = self.rest.len().saturating_sub(1);
        for (i, layer) in self.rest.iter().enumerate() {
            h = layer.forward(&h);
            if i < last {
                h = self.activation.apply(&h);
            }
        }
        h.squeeze_dim(-1)
    }
}

impl JointEnergy for MlpEnergy {
    fn y_layout(&self) -> &YLayout {
        &self.layout
    }
    fn features(&self, x: &Tensor) -> Option<Tensor> {
        Some(x.flatten(1, -1).matmul(&self.w_x.tr()) + &self.b)
    }
    fn log_density_from_features(&self, h: &Tensor, y: &Tensor) -> Tensor {
        self.tail(&(h + y.matmul(&self.w_y.tr())))
    }
}
