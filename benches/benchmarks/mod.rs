//! Shared set-up: device and thread selection, synchronisation, criterion configuration, and the
//! paper's three energies (plus the MNIST default's CNN) with their batch sizes, step counts and
//! Langevin settings.

pub mod discrete;
pub mod samplers;
pub mod training;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, SamplingMode, Throughput};
use ebm_core::{JointEnergy, JointState, XInit, YInit, YLayout, CUDA_UNAVAILABLE};
use jem_train::{Activation, CnnEnergy, MlpEnergy};
use samplers_cont::LangevinConfig;
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use tch::{nn, Cuda, Device, Kind, Tensor};

/// Reads `JEBM_BENCH_THREADS` (default 1) into libtorch's intra-op thread count, once, and
/// returns the device named by `JEBM_BENCH_DEVICE` (`cpu`, the default, or `cuda`).
pub fn setup() -> Device {
    static DEVICE: OnceLock<Device> = OnceLock::new();
    *DEVICE.get_or_init(|| {
        // As in the examples; scripts/pytorch_reference.py makes the same mallopt calls.
        ebm_core::keep_freed_memory();
        let threads = std::env::var("JEBM_BENCH_THREADS")
            .ok()
            .map(|s| {
                s.trim()
                    .parse::<i32>()
                    .ok()
                    .filter(|&n| n >= 1)
                    .unwrap_or_else(|| panic!("JEBM_BENCH_THREADS={s:?}: expected an integer ≥ 1"))
            })
            .unwrap_or(1);
        tch::set_num_threads(threads);
        let device = match std::env::var("JEBM_BENCH_DEVICE")
            .unwrap_or_else(|_| "cpu".into())
            .trim()
            .to_ascii_lowercase()
            .as_str()
        {
            "" | "cpu" => Device::Cpu,
            "cuda" | "gpu" => {
                if !Cuda::is_available() {
                    panic!("JEBM_BENCH_DEVICE=cuda: {CUDA_UNAVAILABLE}");
                }
                Device::Cuda(0)
            }
            other => panic!("JEBM_BENCH_DEVICE={other:?}: expected cpu or cuda"),
        };
        eprintln!(
            "joint-ebm benches: device {device:?}, {} libtorch threads",
            tch::get_num_threads()
        );
        device
    })
}

/// Waits until every queued operation that produced `t` has finished: on CUDA a device
/// synchronisation, on the CPU a read of one scalar derived from `t` to the host.
pub fn sync(device: Device, t: &Tensor) {
    match device {
        Device::Cuda(i) => Cuda::synchronize(i as i64),
        _ => {
            let v = f64::try_from(t.sum(Kind::Double)).unwrap_or(f64::NAN);
            std::hint::black_box(v);
        }
    }
}

/// The criterion configuration of every group: few samples and a short measurement, so that
/// the whole suite takes a few minutes on two cores. `JEBM_BENCH_SECONDS` overrides the
/// measurement time; command-line flags (`--quick`, `--test`, `--sample-size`, …) still apply.
pub fn criterion() -> Criterion {
    let seconds = std::env::var("JEBM_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|s| *s > 0.0)
        .unwrap_or(3.0);
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs_f64(seconds))
        .without_plots()
}

/// Sets a group up for long iterations: flat sampling (the same number of iterations in every
/// sample) and the throughput of one iteration in chain-steps.
pub fn configure(group: &mut BenchmarkGroup<'_, WallTime>, chain_steps: u64) {
    group.sampling_mode(SamplingMode::Flat);
    group.throughput(Throughput::Elements(chain_steps));
}

/// Benchmarks a chain: every criterion sample starts fresh chains with `init` (not timed), then
/// threads the state through `iters` calls of `advance` and synchronises the device inside the
/// timed region.
pub fn bench_chain(
    group: &mut BenchmarkGroup<'_, WallTime>,
    id: &str,
    device: Device,
    mut init: impl FnMut() -> JointState,
    mut advance: impl FnMut(JointState) -> JointState,
) {
    group.bench_function(id, |b| {
        b.iter_custom(|iters| {
            let mut state = init();
            sync(device, state.eval().log_density());
            let start = Instant::now();
            for _ in 0..iters {
                state = advance(state);
            }
            sync(device, state.eval().log_density());
            start.elapsed()
        })
    });
}

/// The paper's three experiments, and the MNIST default's CNN on the MNIST experiment's batch
/// and steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Paper {
    /// 8 Gaussians with three binary attributes: MLP 2+6 → 256 → 256 → 256 → 1 (ELU).
    Toy,
    /// MNIST: MLP 784+10 → 1000 → 500 → 500 → 250 → 250 → 250 → 1 (ELU).
    Mnist,
    /// dSprites: CNN features + MLP head on 32 × 32 images, two 16-way position labels.
    Dsprites,
    /// MNIST with the MNIST default's network instead of the paper's MLP: the dSprites CNN on
    /// 28 × 28 inputs (144 features) + MLP head (this project's choice, not the paper's).
    MnistCnn,
}

/// All four, in the order the suite runs them.
pub const PAPER: [Paper; 4] = [Paper::Toy, Paper::Mnist, Paper::Dsprites, Paper::MnistCnn];

impl Paper {
    /// Benchmark-ID suffix.
    pub fn name(self) -> &'static str {
        match self {
            Paper::Toy => "toy",
            Paper::Mnist => "mnist",
            Paper::Dsprites => "dsprites",
            Paper::MnistCnn => "mnist_cnn",
        }
    }

    /// Chains per run = training batch size (toy 1000, images 100).
    pub fn batch(self) -> i64 {
        match self {
            Paper::Toy => 1000,
            Paper::Mnist | Paper::Dsprites | Paper::MnistCnn => 100,
        }
    }

    /// MWG steps per training iteration (toy 20, images 40).
    pub fn steps(self) -> usize {
        match self {
            Paper::Toy => 20,
            Paper::Mnist | Paper::Dsprites | Paper::MnistCnn => 40,
        }
    }

    /// `batch × steps`: chain-steps of one benchmark iteration.
    pub fn chain_steps(self) -> u64 {
        self.batch() as u64 * self.steps() as u64
    }

    /// The paper's Langevin `(ε, λ)`.
    pub fn langevin(self) -> LangevinConfig {
        match self {
            Paper::Toy => LangevinConfig::from_paper(0.1, 0.5),
            Paper::Mnist | Paper::MnistCnn => LangevinConfig::from_paper(3e-3, 1.5e-6),
            Paper::Dsprites => LangevinConfig::from_paper(3e-3, 4.5e-7),
        }
    }

    /// Learning rate and warm-up iterations of the paper (only the shape of the schedule
    /// matters for timing).
    pub fn lr_warmup(self) -> (f64, usize) {
        match self {
            Paper::Toy => (1e-4, 1_000),
            Paper::Mnist | Paper::MnistCnn => (1e-4, 10_000),
            Paper::Dsprites => (1e-5, 10_000),
        }
    }

    /// Layout of `y`: toy 3 × 2, MNIST 1 × 10 (either network), dSprites 2 × 16.
    pub fn layout(self) -> YLayout {
        let groups = match self {
            Paper::Toy => vec![2, 2, 2],
            Paper::Mnist | Paper::MnistCnn => vec![10],
            Paper::Dsprites => vec![16, 16],
        };
        YLayout::categorical(groups).expect("valid layout")
    }

    /// Shape of `x` for `b` chains.
    pub fn x_shape(self, b: i64) -> Vec<i64> {
        match self {
            Paper::Toy => vec![b, 2],
            Paper::Mnist => vec![b, 784],
            Paper::Dsprites => vec![b, 1, 32, 32],
            Paper::MnistCnn => vec![b, 1, 28, 28],
        }
    }

    /// The paper's energy for this experiment, built under `path`.
    pub fn build(self, path: &nn::Path) -> Box<dyn JointEnergy> {
        match self {
            Paper::Toy => Box::new(MlpEnergy::new(
                path,
                2,
                self.layout(),
                &[256, 256, 256],
                Activation::Elu,
            )),
            Paper::Mnist => Box::new(MlpEnergy::new(
                path,
                784,
                self.layout(),
                &[1000, 500, 500, 250, 250, 250],
                Activation::Elu,
            )),
            Paper::Dsprites => Box::new(CnnEnergy::new(path, self.layout())),
            Paper::MnistCnn => Box::new(CnnEnergy::with_side(path, self.layout(), 28)),
        }
    }

    /// A synthetic data batch `(x, y)` of `b` examples with the right shapes and value ranges:
    /// toy `x ~ N(0, 2²)`; images the logit transform of uniform pixels (as the paper's
    /// pre-processing produces); `y` uniform one-hot.
    pub fn data(self, b: i64, device: Device) -> (Tensor, Tensor) {
        let shape = self.x_shape(b);
        let x = match self {
            Paper::Toy => Tensor::randn(shape.as_slice(), (Kind::Float, device)) * 2.0,
            Paper::Mnist | Paper::Dsprites | Paper::MnistCnn => {
                (Tensor::rand(shape.as_slice(), (Kind::Float, device)) * (1.0 - 2e-6) + 1e-6)
                    .logit(None::<f64>)
            }
        };
        let y = YInit::Uniform
            .sample(&self.layout(), b, device, Kind::Float)
            .expect("uniform labels");
        (x, y)
    }

    /// Starting chains as PCD starts them from noise: `x` uniform per dimension between the min
    /// and max of a data batch, `y` uniform.
    pub fn chains(self, device: Device) -> (Tensor, Tensor) {
        let (data, _) = self.data(self.batch(), device);
        let x = XInit::from_batch(&data)
            .expect("finite data")
            .sample(self.batch());
        let y = YInit::Uniform
            .sample(&self.layout(), self.batch(), device, Kind::Float)
            .expect("uniform labels");
        (x, y)
    }
}
