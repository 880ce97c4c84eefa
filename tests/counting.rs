//! Pins the cost of a joint sweep in energy evaluations (docs/SAMPLER-TESTING.md item 6,
//! docs/REFERENCE-NOTES.md §3.2, "one evaluation, both gradients"): GWG + Langevin spends
//! exactly two fused evaluations per sweep, where the authors' code spends 5 forwards + 3
//! backwards.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Counting, SmallMlp};
use joint_ebm::cont::{Langevin, LangevinConfig, Mala, MalaConfig};
use joint_ebm::disc::{Gwg, GwgConfig};
use joint_ebm::ebm_core::{eval, seed_everything, JointState, YInit, YLayout};
use joint_ebm::mwg::{JointSampler, SweepDiagnostics};
use joint_ebm::tch::{Device, Kind, Tensor};

struct Counts {
    feature_fwd: u64,
    head_fwd: u64,
    head_bwd: u64,
    feature_bwd: u64,
}

fn count_sweeps<F>(split: bool, sweeps: usize, run: F) -> Counts
where
    F: Fn(&Counting<SmallMlp>, JointState, usize),
{
    seed_everything(3);
    let layout = YLayout::categorical(vec![2, 2, 2]).unwrap();
    let energy = Counting::new(SmallMlp::new(layout.clone(), 2, 16, split));
    let x = Tensor::randn([50, 2], (Kind::Double, Device::Cpu));
    let y = YInit::Uniform
        .sample(&layout, 50, Device::Cpu, Kind::Double)
        .unwrap();
    let state = JointState::new(&energy, &x, &y).unwrap();
    // One warm-up sweep so that the cached state is in its steady form.
    run(&energy, state, 0);
    let (f0, h0) = (energy.feature_forwards.get(), energy.head_forwards.get());
    let (b0, fb0) = (eval::backward_passes(), eval::feature_backward_passes());
    let state = JointState::new(&energy, &x, &y).unwrap();
    let (f1, h1) = (energy.feature_forwards.get(), energy.head_forwards.get());
    let (b1, fb1) = (eval::backward_passes(), eval::feature_backward_passes());
    assert_eq!(h1 - h0, 1, "initial evaluation is one head forward");
    assert_eq!(b1 - b0, 1, "initial evaluation is one head backward");
    assert_eq!(f1 - f0, u64::from(split));
    assert_eq!(fb1 - fb0, 0);
    run(&energy, state, sweeps);
    Counts {
        feature_fwd: energy.feature_forwards.get() - f1,
        head_fwd: energy.head_forwards.get() - h1,
        head_bwd: eval::backward_passes() - b1,
        feature_bwd: eval::feature_backward_passes() - fb1,
    }
}

fn gwg_langevin(energy: &Counting<SmallMlp>, state: JointState, sweeps: usize) {
    let sampler = JointSampler::new(
        Gwg::new(GwgConfig::default()).unwrap(),
        Langevin::new(LangevinConfig::from_paper(0.1, 0.5)).unwrap(),
    );
    let mut d = SweepDiagnostics::default();
    sampler.run(energy, state, sweeps, &mut d).unwrap();
}

fn gwg_mala(energy: &Counting<SmallMlp>, state: JointState, sweeps: usize) {
    let sampler = JointSampler::new(
        Gwg::new(GwgConfig::default()).unwrap(),
        Mala::new(MalaConfig::from_noise_scale(0.1)).unwrap(),
    );
    let mut d = SweepDiagnostics::default();
    sampler.run(energy, state, sweeps, &mut d).unwrap();
}

/// GWG + Langevin, energy without a feature stage: per sweep exactly 2 forwards and 2
/// backwards of the whole energy (the authors' code: 5 forwards + 3 backwards).
#[test]
fn gwg_langevin_sweep_costs_two_fused_evaluations() {
    let sweeps = 7;
    let c = count_sweeps(false, sweeps, gwg_langevin);
    let n = sweeps as u64;
    assert_eq!(c.head_fwd, 2 * n, "forwards per sweep");
    assert_eq!(c.head_bwd, 2 * n, "backwards per sweep");
    assert_eq!(c.feature_fwd, 0);
    assert_eq!(c.feature_bwd, 0);
}

/// GWG + Langevin, energy with a feature stage: the head runs 2 forwards + 2 backwards per
/// sweep, the feature stage 1 forward + 1 backward (computed once per x, reused by GWG).
#[test]
fn gwg_langevin_sweep_reuses_features() {
    let sweeps = 7;
    let c = count_sweeps(true, sweeps, gwg_langevin);
    let n = sweeps as u64;
    assert_eq!(c.head_fwd, 2 * n);
    assert_eq!(c.head_bwd, 2 * n);
    assert_eq!(c.feature_fwd, n);
    assert_eq!(c.feature_bwd, n);
}

/// GWG + MALA: still two head evaluations per sweep; with a feature stage MALA also needs
/// ∇ₓf at the proposal and, after a per-chain accept/reject, recomputes the features once:
/// 2 feature forwards + 2 feature backwards per sweep.
#[test]
fn gwg_mala_sweep_costs() {
    let sweeps = 5;
    let n = sweeps as u64;
    let c = count_sweeps(false, sweeps, gwg_mala);
    assert_eq!((c.head_fwd, c.head_bwd), (2 * n, 2 * n));
    let c = count_sweeps(true, sweeps, gwg_mala);
    assert_eq!((c.head_fwd, c.head_bwd), (2 * n, 2 * n));
    // First sweep: the graph from JointState::new is still valid (1 fwd: proposal; 2 bwd).
    assert_eq!(c.feature_fwd, 2 * n - 1);
    assert_eq!(c.feature_bwd, 2 * n);
}
