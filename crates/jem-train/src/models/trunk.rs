//! The convolutional stage shared by the CNN and label-readout energies.

use super::init::torch_conv2d;
use tch::nn::{self, Module};
use tch::Tensor;

/// The convolutional stage shared by [`CnnEnergy`] and [`LogitEnergy`]:
/// `Conv(1,16,3,1,1)-SiLU-Conv(16,32,4,2,1)-SiLU-Conv(32,64,4,2,1)-SiLU-Conv(64,128,4,2,1)-SiLU-
/// Conv(128,16,1)-Flatten` on `side × side` inputs → `16 · ⌊side/8⌋²` features.
///
/// [`CnnEnergy`]: super::CnnEnergy
/// [`LogitEnergy`]: super::LogitEnergy
#[derive(Debug)]
pub(super) struct ConvTrunk {
    convs: Vec<nn::Conv2D>,
    side: i64,
    pub(super) features: i64,
}

impl ConvTrunk {
    pub(super) fn new(path: &nn::Path, side: i64) -> Self {
        let specs = [
            (1, 16, 3, 1, 1),
            (16, 32, 4, 2, 1),
            (32, 64, 4, 2, 1),
            (64, 128, 4, 2, 1),
            (128, 16, 1, 1, 0),
        ];
        let convs = specs
            .iter()
            .enumerate()
            .map(|(i, &(ci, co, k, s, p))| {
                torch_conv2d(&(path / format!("conv{i}")), ci, co, k, s, p)
            })
            .collect();
        let side = side.max(8);
        let spatial = side / 2 / 2 / 2;
        Self {
            convs,
            side,
            features: 16 * spatial * spatial,
        }
    }

    pub(super) fn forward(&self, x: &Tensor) -> Tensor {
        let mut h = x.reshape([-1, 1, self.side, self.side]);
        let last = self.convs.len() - 1;
        for (i, c) in self.convs.iter().enumerate() {
            h = c.forward(&h);
            if i < last {
                h = h.silu();
            }
        }
        h.flatten(1, -1)
    }
}
