use super::*;
use ebm_core::{JointEnergy, YInit, YLayout};
use tch::{nn, Tensor};
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
