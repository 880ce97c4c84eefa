//! Gibbs-with-Gradients on two classic discrete models, `gwg_step/ising10x10` and
//! `gwg_step/potts10x10k3`: 100 chains, 100 GWG steps per iteration (one proposed change per
//! site on average), on a 10 × 10 periodic lattice with coupling `J = 0.4`.
//!
//! Scaling in the number of label columns `D`: `gwg_step/bits{64,256,1024,4096}` and
//! `dmala_step/bits{64,256,1024,4096}` on a periodic Ising chain of `D` bits, and
//! `{gwg,dmala}_step/groups64x16` on a Potts chain of 64 groups of 16 values (`D = 1024`):
//! 100 chains, 10 steps per iteration. The chain energies cost `O(B·D)`, so the time per step
//! measures the kernels' own growth in `D` (linear: every column map is a length-`D` index).
//!
//! All are [`JointEnergy`]s with a dummy continuous block `x` `[B, 1]` that `f` ignores.

use super::{bench_chain, configure, criterion, setup};
use criterion::{criterion_group, Criterion};
use ebm_core::{DiscreteKernel, JointEnergy, JointState, YInit, YLayout};
use samplers_disc::{Dmala, DmalaConfig, Gwg, GwgConfig};
use tch::{Kind, Tensor};

const SIDE: i64 = 10;
const COUPLING: f64 = 0.4;
const CHAINS: i64 = 100;
const STEPS: usize = 100;

/// Ising model `log p(y) = J Σ_{⟨i,j⟩} s_i s_j + const`, `s = 2y − 1`, over the nearest-neighbour
/// edges of a periodic `SIDE × SIDE` lattice (each edge once); `y` = `SIDE²` bits.
struct Ising {
    layout: YLayout,
}

impl JointEnergy for Ising {
    fn y_layout(&self) -> &YLayout {
        &self.layout
    }
    fn log_density_from_features(&self, _h: &Tensor, y: &Tensor) -> Tensor {
        let s = (y * 2.0 - 1.0).view([-1, SIDE, SIDE]);
        let right = s.roll([1], [2]);
        let down = s.roll([1], [1]);
        (&s * right + &s * down).sum_dim_intlist([1i64, 2].as_slice(), false, s.kind()) * COUPLING
    }
}

/// Potts model `log p(y) = J Σ_{⟨i,j⟩} [y_i = y_j] + const` with `K` states per site on the same
/// lattice; `y` = `SIDE²` one-hot groups of size `K` (`[y_i = y_j]` is the dot product of the
/// one-hot vectors).
struct Potts {
    layout: YLayout,
    states: i64,
}

impl JointEnergy for Potts {
    fn y_layout(&self) -> &YLayout {
        &self.layout
    }
    fn log_density_from_features(&self, _h: &Tensor, y: &Tensor) -> Tensor {
        let s = y.view([-1, SIDE, SIDE, self.states]);
        let right = s.roll([1], [2]);
        let down = s.roll([1], [1]);
        (&s * right + &s * down).sum_dim_intlist([1i64, 2, 3].as_slice(), false, s.kind())
            * COUPLING
    }
}

/// Periodic Ising chain `log p(y) = J Σ_i s_i s_{i+1}`, `s = 2y − 1`, over `D` bits.
struct IsingChain {
    layout: YLayout,
}

impl JointEnergy for IsingChain {
    fn y_layout(&self) -> &YLayout {
        &self.layout
    }
    fn log_density_from_features(&self, _h: &Tensor, y: &Tensor) -> Tensor {
        let s = y * 2.0 - 1.0;
        (&s * s.roll([1], [1])).sum_dim_intlist([1i64].as_slice(), false, s.kind()) * COUPLING
    }
}

/// Periodic Potts chain `log p(y) = J Σ_i [y_i = y_{i+1}]` over `groups` one-hot groups of
/// `states` values.
struct PottsChain {
    layout: YLayout,
    states: i64,
}

impl JointEnergy for PottsChain {
    fn y_layout(&self) -> &YLayout {
        &self.layout
    }
    fn log_density_from_features(&self, _h: &Tensor, y: &Tensor) -> Tensor {
        let s = y.view([y.size()[0], -1, self.states]);
        (&s * s.roll([1], [1])).sum_dim_intlist([1i64, 2].as_slice(), false, s.kind()) * COUPLING
    }
}

/// Steps per iteration of the scaling benchmarks.
const SCALING_STEPS: usize = 10;

/// Benchmarks `steps` steps of `kernel` on `CHAINS` chains of `energy` (dummy `x`, labels from
/// `q₀ = uniform`) as `group/id`, throughput in chain-steps.
fn bench_kernel<K: DiscreteKernel>(
    c: &mut Criterion,
    group: &str,
    id: &str,
    kernel: &K,
    energy: &dyn JointEnergy,
    steps: usize,
) {
    let device = setup();
    let mut group = c.benchmark_group(group);
    configure(&mut group, CHAINS as u64 * steps as u64);
    let x0 = Tensor::zeros([CHAINS, 1], (Kind::Float, device));
    let y0 = YInit::Uniform
        .sample(energy.y_layout(), CHAINS, device, Kind::Float)
        .expect("uniform start");
    bench_chain(
        &mut group,
        id,
        device,
        || JointState::new(energy, &x0, &y0).expect("valid chains"),
        |mut s| {
            for _ in 0..steps {
                s = kernel.step(energy, s).expect("kernel step").0;
            }
            s
        },
    );
    group.finish();
}

/// `group/bits{64,256,1024,4096}` and `group/groups64x16` for one kernel.
fn scaling_of<K: DiscreteKernel>(c: &mut Criterion, group: &str, kernel: &K) {
    for bits in [64usize, 256, 1024, 4096] {
        let ising = IsingChain {
            layout: YLayout::binary(bits).expect("valid layout"),
        };
        bench_kernel(
            c,
            group,
            &format!("bits{bits}"),
            kernel,
            &ising,
            SCALING_STEPS,
        );
    }
    let potts = PottsChain {
        layout: YLayout::categorical(vec![16; 64]).expect("valid layout"),
        states: 16,
    };
    bench_kernel(c, group, "groups64x16", kernel, &potts, SCALING_STEPS);
}

fn scaling(c: &mut Criterion) {
    let gwg = Gwg::new(GwgConfig::default()).expect("valid GWG config");
    scaling_of(c, "gwg_step", &gwg);
    let dmala = Dmala::new(DmalaConfig::default()).expect("valid DMALA config");
    scaling_of(c, "dmala_step", &dmala);
}

fn bench_model(c: &mut Criterion, id: &str, energy: &dyn JointEnergy) {
    let gwg = Gwg::new(GwgConfig::default()).expect("valid GWG config");
    bench_kernel(c, "gwg_step", id, &gwg, energy, STEPS);
}

fn ising(c: &mut Criterion) {
    let energy = Ising {
        layout: YLayout::binary((SIDE * SIDE) as usize).expect("valid layout"),
    };
    bench_model(c, "ising10x10", &energy);
}

fn potts(c: &mut Criterion) {
    let energy = Potts {
        layout: YLayout::categorical(vec![3; (SIDE * SIDE) as usize]).expect("valid layout"),
        states: 3,
    };
    bench_model(c, "potts10x10k3", &energy);
}

criterion_group! {
    name = benches;
    config = criterion();
    targets = ising, potts, scaling
}
