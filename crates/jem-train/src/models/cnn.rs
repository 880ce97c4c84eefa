//! The dSprites CNN energy: a convolutional trunk, then an MLP head on `concat(h, y)`.

use super::mlp::{Activation, MlpEnergy};
use super::trunk::ConvTrunk;
use ebm_core::{JointEnergy, YLayout};
use tch::nn;
use tch::Tensor;

/// The dSprites energy of appendix B.3.2: a CNN feature extractor `h_φ(x)`
/// (`Conv(1,16,3,1,1)-SiLU-Conv(16,32,4,2,1)-SiLU-Conv(32,64,4,2,1)-SiLU-Conv(64,128,4,2,1)-SiLU-
/// Conv(128,16,1)-Flatten`, 256 features for a 32 × 32 input) followed by an MLP on
/// `concat(h, y)` (`Linear(256 + D, 256)-SiLU-Linear(256,256)-SiLU-Linear(256,1)`).
/// Higher = more probable.
///
/// [`CnnEnergy::with_side`] builds the same network for square inputs of another side `s`
/// (`16 · ⌊s/8⌋²` features: 144 for MNIST's 28 × 28; not an architecture of the paper, which
/// uses an MLP for MNIST).
///
/// The feature stage exposed to the samplers is the CNN **and** the h-columns of the MLP's first
/// layer, so a discrete move costs only the small head. Shapes: `x` `[B, 1, s, s]` (or any
/// shape with `s²` values per row), `y` `[B, D]`, output `[B]`.
#[derive(Debug)]
pub struct CnnEnergy {
    trunk: ConvTrunk,
    head: MlpEnergy,
}

impl CnnEnergy {
    /// Builds the dSprites network (32 × 32 inputs) under `path` for labels laid out by
    /// `layout`.
    pub fn new(path: &nn::Path, layout: YLayout) -> Self {
        Self::with_side(path, layout, 32)
    }

    /// The same network for `side × side` inputs (`side ≥ 8`): the three stride-2 convolutions
    /// halve the side (rounding down) each time, so the head reads `16 · ⌊side/8⌋²` features.
    pub fn with_side(path: &nn::Path, layout: YLayout, side: i64) -> Self {
        let trunk = ConvTrunk::new(path, side);
        let head = MlpEnergy::new(
            &(path / "mlp"),
            trunk.features,
            layout,
            &[256, 256],
            Activation::Silu,
        );
        Self { trunk, head }
    }

    /// The CNN features `[B, 16 · ⌊side/8⌋²]` of `x` `[B, 1, side, side]`.
    pub fn cnn(&self, x: &Tensor) -> Tensor {
        self.trunk.forward(x)
    }
}

impl JointEnergy for CnnEnergy {
    fn y_layout(&self) -> &YLayout {
        self.head.y_layout()
    }
    fn features(&self, x: &Tensor) -> Option<Tensor> {
        self.head.features(&self.cnn(x))
    }
    fn log_density_from_features(&self, h: &Tensor, y: &Tensor) -> Tensor {
        self.head.log_density_from_features(h, y)
    }
}
