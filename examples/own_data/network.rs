//! The tutorial's network: your `JointEnergy` (see `docs/YOUR-OWN-DATA.md`, section 2).
use joint_ebm::ebm_core::{JointEnergy, YLayout};
use joint_ebm::tch::{nn, nn::Module, Tensor};

/// `f(x, y)` for 2-D points and one 4-way label: an MLP on `concat(x, y)`, higher = more
/// probable; `x` `[B, 2]`, `y` `[B, 4]` one-hot, output `[B]`.
pub struct MyEnergy {
    layout: YLayout,
    net: nn::Sequential,
}

impl MyEnergy {
    pub fn new(p: &nn::Path) -> Self {
        let net = nn::seq()
            .add(nn::linear(p / "l1", 2 + 4, 64, Default::default()))
            .add_fn(|t| t.silu())
            .add(nn::linear(p / "l2", 64, 64, Default::default()))
            .add_fn(|t| t.silu())
            .add(nn::linear(p / "l3", 64, 1, Default::default()));
        let layout = YLayout::categorical(vec![4]).expect("a valid layout");
        Self { layout, net }
    }
}

impl JointEnergy for MyEnergy {
    fn y_layout(&self) -> &YLayout {
        &self.layout
    }
    fn log_density_from_features(&self, h: &Tensor, y: &Tensor) -> Tensor {
        self.net.forward(&Tensor::cat(&[h, y], 1)).squeeze_dim(1)
    }
}
