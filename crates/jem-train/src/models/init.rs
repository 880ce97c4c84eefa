//! Linear and convolutional layers initialised like PyTorch's.

use tch::nn::{self, Init};

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
