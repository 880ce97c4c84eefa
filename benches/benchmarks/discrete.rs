//! Gibbs-with-Gradients on two classic discrete models, `gwg_step/ising10x10` and
//! `gwg_step/potts10x10k3`: 100 chains, 100 GWG steps per iteration (one proposed change per
//! site on average), on a 10 × 10 periodic lattice with coupling `J = 0.4`.
//!
//! Both are [`JointEnergy`]s with a dummy continuous block `x` `[B, 1]` that `f` ignores.

use super::{bench_chain, configure, criterion, setup};
use criterion::{criterion_group, Criterion};
use ebm_core::{DiscreteKernel, JointEnergy, JointState, YInit, YLayout};
use samplers_disc::{Gwg, GwgConfig};
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

fn bench_model(c: &mut Criterion, id: &str, energy: &dyn JointEnergy) {
    let device = setup();
    let mut group = c.benchmark_group("gwg_step");
    configure(&mut group, CHAINS as u64 * STEPS as u64);
    let x0 = Tensor::zeros([CHAINS, 1], (Kind::Float, device));
    let y0 = YInit::Uniform
        .sample(energy.y_layout(), CHAINS, device, Kind::Float)
        .expect("uniform start");
    let gwg = Gwg::new(GwgConfig::default()).expect("valid GWG config");
    bench_chain(
        &mut group,
        id,
        device,
        || JointState::new(energy, &x0, &y0).expect("valid chains"),
        |mut s| {
            for _ in 0..STEPS {
                s = gwg.step(energy, s).expect("GWG step").0;
            }
            s
        },
    );
    group.finish();
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
    targets = ising, potts
}
