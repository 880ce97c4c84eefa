//! The label-readout energy: one logit per label value.

use super::init::torch_linear;
use super::trunk::ConvTrunk;
use ebm_core::{JointEnergy, YLayout};
use tch::nn::{self, Module};
use tch::Tensor;

/// A label-readout energy: the [`CnnEnergy`] trunk and an MLP to one logit per label value,
/// `f(x, y) = Σ_v logit(x)[y_v] = ⟨logit(x), y⟩` (`Linear(F, 256)-SiLU-Linear(256, 256)-SiLU-
/// Linear(256, D)` on the `F = 16 · ⌊side/8⌋²` CNN features). Higher = more probable.
///
/// **Not an architecture of the paper** (whose energies read `y` at the input of an MLP): it
/// is JEM's parameterisation (Grathwohl et al., 2020), where `p(y | x)` is the softmax of
/// the logits of each label group (the groups are independent given `x`) and
/// `log p(x) = Σ_v logsumexp logit_v(x)` up to the constant. The label coupling is then linear
/// in the features from the first iteration, where the input-side label columns of the
/// paper's energies must first meet class-specific features in a hidden layer.
///
/// The feature stage exposed to the samplers is the logits `[B, D]`, so a discrete move costs
/// one dot product. Shapes: `x` `[B, 1, side, side]` (or `side²` values per row), `y` `[B, D]`,
/// output `[B]`.
///
/// [`CnnEnergy`]: super::CnnEnergy
#[derive(Debug)]
pub struct LogitEnergy {
    layout: YLayout,
    trunk: ConvTrunk,
    hidden: Vec<nn::Linear>,
    out: nn::Linear,
}

impl LogitEnergy {
    /// Builds the network under `path` for `side × side` inputs (`side ≥ 8`) and labels laid
    /// out by `layout`. It has no input-side label weights, so
    /// [`crate::TrainConfig::label_lr_scale`] must stay 1.
    pub fn with_side(path: &nn::Path, layout: YLayout, side: i64) -> Self {
        let trunk = ConvTrunk::new(path, side);
        let hidden = vec![
            torch_linear(&(path / "mlp" / "layer0"), trunk.features, 256),
            torch_linear(&(path / "mlp" / "layer1"), 256, 256),
        ];
        let out = torch_linear(&(path / "logits"), 256, layout.dim() as i64);
        Self {
            layout,
            trunk,
            hidden,
            out,
        }
    }

    /// The logits `[B, D]` of `x`: one per label value.
    pub fn logits(&self, x: &Tensor) -> Tensor {
        let mut h = self.trunk.forward(x);
        for layer in &self.hidden {
            h = layer.forward(&h).silu();
        }
        self.out.forward(&h)
    }
}

impl JointEnergy for LogitEnergy {
    fn y_layout(&self) -> &YLayout {
        &self.layout
    }
    fn features(&self, x: &Tensor) -> Option<Tensor> {
        Some(self.logits(x))
    }
    fn log_density_from_features(&self, h: &Tensor, y: &Tensor) -> Tensor {
        (h * y).sum_dim_intlist([-1i64].as_slice(), false, None)
    }
}
