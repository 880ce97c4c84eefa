//! Deterministic tests of the unadjusted Langevin kernel (`x' = x + a ∇ₓf + σ ξ`, `f` higher =
//! more probable): the update rule against an analytic gradient and a reproduced noise draw,
//! the paper's `(ε, λ)` mapping, clamping, the cached evaluation, configuration errors.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use ebm_core::{seed_everything, ContinuousKernel, Error, Evaluation, JointEnergy, JointState};
use samplers_cont::{Langevin, LangevinConfig};
use tch::{Kind, Tensor};

const B: i64 = 16;

/// Standard-normal `x` of the given shape (seeded) and alternating classes.
fn start(shape: &[i64], seed: u64) -> (Tensor, Tensor) {
    seed_everything(seed);
    let x = Tensor::randn(shape, OPTS);
    let y = one_hot(&alternating_classes(shape[0] as usize));
    (x, y)
}

/// One step equals `x + a ∇ₓf(x) + σ ξ` with `∇ₓf` from the analytic formula and `ξ` the
/// same normal draw (re-seeded), within 1e-12, for both energy kinds and two configurations.
#[test]
fn one_step_is_the_update_rule() {
    let _g = torch_rng_lock();
    for with_features in [false, true] {
        let energy = TestEnergy::new(3, with_features);
        for config in [
            LangevinConfig::from_paper(0.1, 0.5),
            LangevinConfig {
                step_size: 0.37,
                noise_scale: 0.8,
            },
        ] {
            let (x, y) = start(&[B, 3], 7);
            let expected_grad = energy.grad_x(&x, &y);
            seed_everything(1234);
            let xi = x.randn_like();
            let expected = &x + &expected_grad * config.step_size + xi * config.noise_scale;

            let kernel = Langevin::new(config.clone()).unwrap();
            let state = JointState::new(&energy, &x, &y).unwrap();
            seed_everything(1234);
            let (state, info) = kernel.step(&energy, state).unwrap();
            let err = max_abs_diff(state.x(), &expected);
            assert!(
                err < 1e-12,
                "features={with_features} {config:?}: |x' − expected| = {err:e}"
            );
            // Every proposal is taken.
            assert!(to_bools(&info.accepted).iter().all(|&a| a));
            assert!(to_vec(&info.accept_prob).iter().all(|&p| p == 1.0));
            assert_eq!(info.accept_prob.size(), vec![B]);
            // y is untouched.
            assert_eq!(max_abs_diff(state.y(), &y), 0.0);
        }
    }
}

/// The gradient really enters with a `+` sign (f is a log-density): with no noise to speak of,
/// a step from a point away from the mode increases `f` on average.
#[test]
fn drift_climbs_the_log_density() {
    let _g = torch_rng_lock();
    let energy = TestEnergy::new(2, false);
    let (x, y) = start(&[B, 2], 3);
    let x = x * 3.0;
    let kernel = Langevin::new(LangevinConfig {
        step_size: 0.01,
        noise_scale: 1e-8,
    })
    .unwrap();
    let state = JointState::new(&energy, &x, &y).unwrap();
    let before = to_vec(state.eval().log_density());
    let (state, _) = kernel.step(&energy, state).unwrap();
    let after = to_vec(state.eval().log_density());
    for (b, a) in before.iter().zip(&after) {
        assert!(a > b, "f went down: {b} → {a}");
    }
}

/// `from_paper(ε, λ)` is `step_size = ε²/(2λ)`, `noise_scale = ε`; `to_paper` inverts it.
/// Toy: (0.1, 0.5) → (0.01, 0.1); MNIST: (3e-3, 1.5e-6) → (3.0, 3e-3); dSprites:
/// (3e-3, 4.5e-7) → (10.0, 3e-3).
#[test]
fn paper_parametrisation() {
    let rel = |a: f64, b: f64| (a - b).abs() / b.abs();
    for ((eps, lambda), (step, noise)) in [
        ((0.1, 0.5), (0.01, 0.1)),
        ((3e-3, 1.5e-6), (3.0, 3e-3)),
        ((3e-3, 4.5e-7), (10.0, 3e-3)),
    ] {
        let c = LangevinConfig::from_paper(eps, lambda);
        assert!(rel(c.step_size, step) < 1e-12, "{c:?} vs step {step}");
        assert!(rel(c.noise_scale, noise) < 1e-12, "{c:?} vs noise {noise}");
        let (e2, l2) = c.to_paper();
        assert!(
            rel(e2, eps) < 1e-12 && rel(l2, lambda) < 1e-12,
            "to_paper {e2}, {l2}"
        );
        assert!(Langevin::new(c).is_ok());
    }
    assert_eq!(
        LangevinConfig::default(),
        LangevinConfig::from_paper(0.1, 0.5)
    );
    let k = Langevin::default();
    assert_eq!(k.config(), &LangevinConfig::from_paper(0.1, 0.5));
    assert!(!k.is_exact());
    assert_eq!(k.name(), "langevin");
}

/// Clamped elements never move (bit for bit) over many steps, free ones do, with a per-chain
/// mask (shape of one chain) and a full mask (shape of `x`), on a 3-D `x`.
#[test]
fn clamped_elements_never_move() {
    let _g = torch_rng_lock();
    let energy = TestEnergy::new(6, true);
    let (x, y) = start(&[B, 2, 3], 11);
    let per_chain = tensor(&[1.0, 0.0, 0.0, 1.0, 1.0, 0.0], &[2, 3]).to_kind(Kind::Bool);
    seed_everything(5);
    let full = Tensor::rand([B, 2, 3], OPTS).lt(0.5);
    let kernel = Langevin::default();
    for mask in [per_chain, full] {
        let mut state = JointState::new(&energy, &x, &y)
            .unwrap()
            .with_fixed_x(&mask)
            .unwrap();
        for _ in 0..20 {
            state = kernel.step(&energy, state).unwrap().0;
        }
        let fixed = mask.expand_as(&x);
        let moved = state.x().ne_tensor(&x);
        let clamped_moved = moved.logical_and(&fixed).any();
        assert!(
            !bool::try_from(clamped_moved).unwrap(),
            "a clamped element moved"
        );
        let free_stayed = moved.logical_not().logical_and(&fixed.logical_not()).any();
        assert!(
            !bool::try_from(free_stayed).unwrap(),
            "a free element never moved"
        );
        // The cached evaluation belongs to the clamped position.
        let fresh = Evaluation::at(&energy, state.x(), state.y()).unwrap();
        assert!(max_abs_diff(state.eval().log_density(), fresh.log_density()) < 1e-12);
    }
}

/// After each of several steps the cached evaluation equals a fresh `Evaluation::at` at the
/// new point: `f`, `∂f/∂y`, `∂f/∂x` (through the kept or recomputed feature graph), and also
/// the analytic formulas; for both energy kinds.
#[test]
fn cached_evaluation_matches_fresh_one() {
    let _g = torch_rng_lock();
    for with_features in [false, true] {
        let energy = TestEnergy::new(3, with_features);
        let (x, y) = start(&[B, 3], 21);
        let kernel = Langevin::new(LangevinConfig {
            step_size: 0.05,
            noise_scale: 0.3,
        })
        .unwrap();
        let mut state = JointState::new(&energy, &x, &y).unwrap();
        for step in 0..5 {
            state = kernel.step(&energy, state).unwrap().0;
            let mut fresh = Evaluation::at(&energy, state.x(), state.y()).unwrap();
            let what = format!("features={with_features}, step {step}");
            assert!(
                max_abs_diff(state.eval().log_density(), fresh.log_density()) < 1e-12,
                "{what}: f"
            );
            assert!(
                max_abs_diff(
                    state.eval().log_density(),
                    &energy.value(state.x(), state.y())
                ) < 1e-12,
                "{what}: f vs formula"
            );
            assert!(
                max_abs_diff(state.eval().grad_y(), fresh.grad_y()) < 1e-12,
                "{what}: ∂f/∂y"
            );
            assert!(
                max_abs_diff(state.eval().features(), fresh.features()) < 1e-12,
                "{what}: features"
            );
            let cached = state.grad_x(&energy).unwrap();
            let gx = fresh.grad_x(&energy, state.x()).unwrap();
            assert!(max_abs_diff(&cached, &gx) < 1e-12, "{what}: ∂f/∂x");
            let formula = energy.grad_x(state.x(), state.y());
            assert!(
                max_abs_diff(&cached, &formula) < 1e-12,
                "{what}: ∂f/∂x vs formula"
            );
            assert_eq!(energy.y_layout().dim(), 2);
        }
    }
}

/// Non-positive, NaN and infinite step sizes or noise scales are `Error::InvalidConfig`,
/// including through the paper's mapping (`ε = 0` → noise 0, `λ = 0` → step ∞).
#[test]
fn invalid_configs_are_errors() {
    let bad = [0.0, -0.1, f64::NAN, f64::INFINITY, f64::NEG_INFINITY];
    for v in bad {
        let r = Langevin::new(LangevinConfig {
            step_size: v,
            noise_scale: 0.1,
        });
        assert!(
            matches!(
                r,
                Err(Error::InvalidConfig {
                    param: "step_size",
                    ..
                })
            ),
            "step_size {v}: {r:?}"
        );
        let r = Langevin::new(LangevinConfig {
            step_size: 0.1,
            noise_scale: v,
        });
        assert!(
            matches!(
                r,
                Err(Error::InvalidConfig {
                    param: "noise_scale",
                    ..
                })
            ),
            "noise_scale {v}: {r:?}"
        );
    }
    assert!(matches!(
        Langevin::new(LangevinConfig::from_paper(0.0, 0.5)),
        Err(Error::InvalidConfig { .. })
    ));
    assert!(matches!(
        Langevin::new(LangevinConfig::from_paper(0.1, 0.0)),
        Err(Error::InvalidConfig { .. })
    ));
    assert!(matches!(
        Langevin::new(LangevinConfig::from_paper(0.1, -1.0)),
        Err(Error::InvalidConfig { .. })
    ));
}
