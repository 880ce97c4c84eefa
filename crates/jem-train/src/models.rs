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

/// The convolutional stage shared by [`CnnEnergy`] and [`LogitEnergy`]:
/// `Conv(1,16,3,1,1)-SiLU-Conv(16,32,4,2,1)-SiLU-Conv(32,64,4,2,1)-SiLU-Conv(64,128,4,2,1)-SiLU-
/// Conv(128,16,1)-Flatten` on `side × side` inputs → `16 · ⌊side/8⌋²` features.
#[derive(Debug)]
struct ConvTrunk {
    convs: Vec<nn::Conv2D>,
    side: i64,
    features: i64,
}

impl ConvTrunk {
    fn new(path: &nn::Path, side: i64) -> Self {
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

    fn forward(&self, x: &Tensor) -> Tensor {
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

    /// `f(x, y)` reads the logit of each group's chosen value, so the exact `p(y | x)` of a
    /// single group is the softmax of the logits.
    #[test]
    fn logit_energy_reads_the_chosen_logits() {
        let vs = nn::VarStore::new(Device::Cpu);
        let layout = YLayout::categorical(vec![3, 4]).unwrap();
        let m = LogitEnergy::with_side(&vs.root(), layout.clone(), 28);
        let x = Tensor::randn([5, 1, 28, 28], (Kind::Float, Device::Cpu));
        let logits = m.logits(&x);
        assert_eq!(logits.size(), vec![5, 7]);
        let y = YInit::Uniform
            .sample(&layout, 5, Device::Cpu, Kind::Float)
            .unwrap();
        let f = m.log_density(&x, &y);
        let a = y.narrow(1, 0, 3).argmax(1, false);
        let b = y.narrow(1, 3, 4).argmax(1, false) + 3;
        let want = logits.gather(1, &a.unsqueeze(1), false).squeeze_dim(1)
            + logits.gather(1, &b.unsqueeze(1), false).squeeze_dim(1);
        assert!(f.allclose(&want, 1e-5, 1e-6, false));
        assert_eq!(f.size(), vec![5]);
    }

    #[test]
    fn cnn_energy_on_28_by_28_reads_144_features() {
        let vs = nn::VarStore::new(Device::Cpu);
        let layout = YLayout::categorical(vec![10]).unwrap();
        let m = CnnEnergy::with_side(&vs.root(), layout.clone(), 28);
        let x = Tensor::randn([3, 1, 28, 28], (Kind::Float, Device::Cpu));
        assert_eq!(m.cnn(&x).size(), vec![3, 144]);
        let y = YInit::Uniform
            .sample(&layout, 3, Device::Cpu, Kind::Float)
            .unwrap();
        let f = m.log_density(&x, &y);
        assert_eq!(f.size(), vec![3]);
        // Flattened rows are the same images.
        let flat = m.log_density(&x.reshape([3, 784]), &y);
        assert!(f.allclose(&flat, 1e-6, 1e-6, false));
    }
}
