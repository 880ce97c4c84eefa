//! docs/SAMPLER-TESTING.md item 6: a counting energy pins the forward and backward passes of one
//! kernel step. Feature-stage and head forwards are counted by the energy itself; head and
//! feature-stage backwards by `ebm_core::eval::{backward_passes, feature_backward_passes}`
//! (per thread, so the tests may run in parallel).
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use ebm_core::eval::{backward_passes, feature_backward_passes};
use ebm_core::{seed_everything, ContinuousKernel, JointState};
use samplers_cont::{Langevin, LangevinConfig, Mala, MalaConfig};
use tch::Tensor;

/// Passes made by one call, as (feature forwards, head forwards, head backwards, feature
/// backwards).
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
struct Counts {
    feature_fwd: u64,
    head_fwd: u64,
    head_bwd: u64,
    feature_bwd: u64,
}

fn counted<K: ContinuousKernel>(
    kernel: &K,
    energy: &TestEnergy,
    state: JointState,
) -> (JointState, Counts) {
    energy.reset_counts();
    let (hb, fb) = (backward_passes(), feature_backward_passes());
    let (state, _) = kernel.step(energy, state).unwrap();
    let counts = Counts {
        feature_fwd: energy.feature_calls.get(),
        head_fwd: energy.head_calls.get(),
        head_bwd: backward_passes() - hb,
        feature_bwd: feature_backward_passes() - fb,
    };
    (state, counts)
}

fn start(energy: &TestEnergy) -> JointState {
    seed_everything(3);
    let x = Tensor::randn([8, 3], OPTS);
    let y = one_hot(&alternating_classes(8));
    JointState::new(energy, &x, &y).unwrap()
}

fn counts(feature_fwd: u64, head_fwd: u64, head_bwd: u64, feature_bwd: u64) -> Counts {
    Counts {
        feature_fwd,
        head_fwd,
        head_bwd,
        feature_bwd,
    }
}

/// Langevin, every step (including the first from a fresh state): one head forward and one
/// head backward at the new point; for a features energy also one feature-stage forward there
/// and one feature-stage backward for `∇ₓf` at the current point (through the graph kept by the
/// previous evaluation, so no feature forward is repeated).
#[test]
fn langevin_costs_one_fused_evaluation_per_step() {
    let _g = torch_rng_lock();
    let kernel = Langevin::new(LangevinConfig::from_paper(0.1, 0.5)).unwrap();
    for (with_features, want) in [(false, counts(0, 1, 1, 0)), (true, counts(1, 1, 1, 1))] {
        let energy = TestEnergy::new(3, with_features);
        let mut state = start(&energy);
        for step in 0..4 {
            let (s, c) = counted(&kernel, &energy, state);
            state = s;
            assert_eq!(c, want, "features={with_features}, step {step}");
        }
    }
}

/// MALA: one head forward and one head backward at the proposal; for a features energy one
/// feature-stage forward at the proposal and the documented extra feature-stage backward for
/// `∇ₓf(x')` (needed by the reverse proposal density). `∇ₓf` at the current point is cached
/// from the previous step, so only the first step from a fresh state pays one more feature
/// backward for it.
#[test]
fn mala_costs_one_fused_evaluation_plus_reverse_gradient() {
    let _g = torch_rng_lock();
    let kernel = Mala::new(MalaConfig::from_noise_scale(0.8)).unwrap();
    for (with_features, first, later) in [
        (false, counts(0, 1, 1, 0), counts(0, 1, 1, 0)),
        (true, counts(1, 1, 1, 2), counts(1, 1, 1, 1)),
    ] {
        let energy = TestEnergy::new(3, with_features);
        let mut state = start(&energy);
        for step in 0..4 {
            let (s, c) = counted(&kernel, &energy, state);
            state = s;
            let want = if step == 0 { first } else { later };
            assert_eq!(c, want, "features={with_features}, step {step}");
        }
    }
}

/// A discrete move (a per-chain selection at the same `x`, as GWG makes) leaves a features
/// energy's `∇ₓf` stale. After a Langevin step the feature graph is still kept, so the next step
/// costs what any Langevin step costs; after a MALA step the per-chain accept/reject has
/// dropped the graph, so the next step recomputes the feature stage at the current `x` once
/// (one extra forward; the backward replaces the one it would have made) — as MALA documents.
#[test]
fn gradient_after_a_discrete_move() {
    let _g = torch_rng_lock();
    let energy = TestEnergy::new(3, true);
    let langevin = Langevin::new(LangevinConfig::from_paper(0.1, 0.5)).unwrap();
    let mala = Mala::new(MalaConfig::from_noise_scale(0.8)).unwrap();
    for (use_mala, want) in [(false, counts(1, 1, 1, 1)), (true, counts(2, 1, 1, 2))] {
        let mut state = start(&energy);
        state = if use_mala {
            mala.step(&energy, state).unwrap().0
        } else {
            langevin.step(&energy, state).unwrap().0
        };
        // A same-x "discrete move" that flips every label, evaluated head-only as GWG does.
        let y_new = 1.0 - state.y();
        let proposal = state.propose_y(&energy, &y_new).unwrap();
        let accept = Tensor::ones([8], (tch::Kind::Bool, tch::Device::Cpu));
        state = state.accept(&accept, proposal).unwrap();
        let c = if use_mala {
            counted(&mala, &energy, state).1
        } else {
            counted(&langevin, &energy, state).1
        };
        assert_eq!(c, want, "mala={use_mala}: step after a discrete move");
    }
}
