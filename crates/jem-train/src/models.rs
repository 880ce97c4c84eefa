//! Energy architectures of the paper, with their y-independent feature stages exposed.

#[cfg(test)]
use ebm_core::YInit;
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

/// PyTorch's default initialisation of `nn.Linear` / `nn.Conv2d` (weights and biases
/// `U(−1/√fan_in, 1/√fan_in)`), which the paper's models use; tch's own default differs.
fn torch_init(fan_in: i64) -> Init {
    let bound = 1.0 / (fan_in.max(1) as f64).sqrt();
    Init::Uniform {
        lo: -bound,
        up: bound,
    }
}

/// A linear layer initialised like PyTorch's `nn.Linear`.
pub fn torch_linear(path: &nn::Path, in_dim: i64, out_dim: i64) -> nn::Linear {
    let init = torch_init(in_dim);
    nn::linear(
        path,
        in_dim,
        out_dim,
        nn::LinearConfig {
            ws_init: init,
            bs_init: Some(init),
            bias: true,
        },
    )
}

/// A 2-D convolution initialised like PyTorch's `nn.Conv2d`.
pub fn torch_conv2d(
    path: &nn::Path,
    c_in: i64,
    c_out: i64,
    kernel: i64,
    stride: i64,
    padding: i64,
) -> nn::Conv2D {
    let init = torch_init(c_in * kernel * kernel);
    let cfg = nn::ConvConfig {
        stride,
        padding,
        ws_init: init,
        bs_init: init,
        ..Default::default()
    };
    nn::conv2d(path, c_in, c_out, kernel, cfg)
}

/// Name of the label columns of an [`MlpEnergy`]'s first layer (also the head of a
/// [`CnnEnergy`]): the variables [`crate::TrainConfig::label_lr_scale`] applies to.
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
    w_x: Tensor,
    b: Tensor,
    w_y: Tensor,
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
    fn tail(&self, z: &Tensor) -> Tensor {
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

/// The dSprites energy of appendix B.3.2: a CNN feature extractor `h_φ(x)`
/// (`Conv(1,16,3,1,1)-SiLU-Conv(16,32,4,2,1)-SiLU-Conv(32,64,4,2,1)-SiLU-Conv(64,128,4,2,1)-SiLU-
/// Conv(128,16,1)-Flatten`, 256 features for a 32 × 32 input) followed by an MLP on
/// `concat(h, y)` (`Linear(256 + D, 256)-SiLU-Linear(256,256)-SiLU-Linear(256,1)`).
/// Higher = more probable.
///
/// The feature stage exposed to the samplers is the CNN **and** the h-columns of the MLP's first
/// layer, so a discrete move costs only the small head. Shapes: `x` `[B, 1, 32, 32]`, `y`
/// `[B, D]`, output `[B]`.
#[derive(Debug)]
pub struct CnnEnergy {
    convs: Vec<nn::Conv2D>,
    head: MlpEnergy,
}

impl CnnEnergy {
    /// Builds the network under `path` for labels laid out by `layout`.
    pub fn new(path: &nn::Path, layout: YLayout) -> Self {
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
        let head = MlpEnergy::new(&(path / "mlp"), 256, layout, &[256, 256], Activation::Silu);
        Self { convs, head }
    }

    /// The CNN features `[B, 256]` of `x` `[B, 1, 32, 32]`.
    pub fn cnn(&self, x: &Tensor) -> Tensor {
        let mut h = x.shallow_clone();
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

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    /// The split first layer computes exactly `Linear(concat(x, y))`, and the features path
    /// equals the direct path.
    #[test]
    fn split_first_layer_equals_concat_linear() {
        let vs = nn::VarStore::new(Device::Cpu);
        let layout = YLayout::categorical(vec![2, 3]).unwrap();
        let m = MlpEnergy::new(&vs.root(), 4, layout.clone(), &[8, 8], Activation::Elu);
        let x = Tensor::randn([5, 4], (Kind::Float, Device::Cpu));
        let y = YInit::Uniform
            .sample(&layout, 5, Device::Cpu, Kind::Float)
            .unwrap();
        let w = Tensor::cat(&[&m.w_x, &m.w_y], 1);
        let z = Tensor::cat(&[&x, &y], 1).matmul(&w.tr()) + &m.b;
        let direct = m.tail(&z);
        let via = m.log_density(&x, &y);
        assert!(direct.allclose(&via, 1e-5, 1e-6, false));
        assert_eq!(via.size(), vec![5]);
        let n: i64 = vs
            .trainable_variables()
            .iter()
            .map(|t| t.numel() as i64)
            .sum();
        assert_eq!(n, (4 + 5) * 8 + 8 + 8 * 8 + 8 + 8 + 1);
    }

    /// Every layer is initialised like PyTorch: |w| ≤ 1/√fan_in.
    #[test]
    fn pytorch_default_initialisation() {
        let vs = nn::VarStore::new(Device::Cpu);
        let layout = YLayout::categorical(vec![10]).unwrap();
        let _m = MlpEnergy::new(&vs.root(), 784, layout, &[1000, 500, 250], Activation::Elu);
        for (name, t) in vs.variables() {
            let fan_in = match name.as_str() {
                n if n.starts_with("first") => 794,
                n if n.starts_with("layer1") => 1000,
                n if n.starts_with("layer2") => 500,
                _ => 250,
            };
            let max = t.abs().max().double_value(&[]);
            assert!(max <= 1.0 / (fan_in as f64).sqrt() + 1e-7, "{name}: {max}");
            if t.numel() >= 100 {
                let lower = 0.8 / (fan_in as f64).sqrt();
                assert!(max > lower, "{name}: {max} (too small for U(±1/√fan_in))");
            }
        }
    }

    #[test]
    fn cnn_energy_shapes_and_parameter_count() {
        let vs = nn::VarStore::new(Device::Cpu);
        let layout = YLayout::categorical(vec![16, 16]).unwrap();
        let m = CnnEnergy::new(&vs.root(), layout.clone());
        let x = Tensor::randn([3, 1, 32, 32], (Kind::Float, Device::Cpu));
        assert_eq!(m.cnn(&x).size(), vec![3, 256]);
        let y = YInit::Uniform
            .sample(&layout, 3, Device::Cpu, Kind::Float)
            .unwrap();
        assert_eq!(m.log_density(&x, &y).size(), vec![3]);
        let n: i64 = vs
            .trainable_variables()
            .iter()
            .map(|t| t.numel() as i64)
            .sum();
        let convs = (16 * 9 + 16)
            + (32 * 16 * 16 + 32)
            + (64 * 32 * 16 + 64)
            + (128 * 64 * 16 + 128)
            + (16 * 128 + 16);
        let mlp = 288 * 256 + 256 + 256 * 256 + 256 + 256 + 1;
        assert_eq!(n, (convs + mlp) as i64);
    }
}
