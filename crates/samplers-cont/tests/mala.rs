//! Deterministic tests of MALA (`x' = x + a ∇ₓf(x) + σ ξ`, accepted with the
//! Metropolis–Hastings ratio of `exp(f)`, `f` higher = more probable): the reported acceptance
//! probability against an independently written MH ratio, exact detailed balance of the kernel's
//! transition density through controlled proposals, clamping, non-finite proposals, the cached
//! evaluation, configuration errors.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use ebm_core::{
    seed_everything, ContinuousKernel, Error, Evaluation, FnEnergy, JointState, StepInfo,
};
use samplers_cont::{Mala, MalaConfig};
use tch::{Kind, Tensor};

/// `Σ` over all but the first dimension.
fn sum_rows(t: &Tensor) -> Tensor {
    let b = t.size()[0];
    t.reshape([b, -1])
        .sum_dim_intlist([1i64].as_slice(), false, None)
}

/// Independent MH log-ratio for the move `x → x'` of the MALA proposal with drift `a`, noise
/// `σ`, restricted to the free elements (`free`: bool broadcastable to `x`, `None` = all).
/// `log q(to | from) = −‖to − from − a ∇f(from)‖² / (2σ²)` over free elements.
fn log_mh_ratio(
    energy: &TestEnergy,
    x: &Tensor,
    x_new: &Tensor,
    y: &Tensor,
    config: &MalaConfig,
    free: Option<&Tensor>,
) -> Tensor {
    let (a, s) = (config.step_size, config.noise_scale);
    let mask = match free {
        Some(m) => m.to_kind(Kind::Double).expand_as(x),
        None => x.ones_like(),
    };
    let log_q = |to: &Tensor, from: &Tensor| {
        let d = to - from - energy.grad_x(from, y) * a;
        sum_rows(&(&d * &d * &mask)) / (-2.0 * s * s)
    };
    energy.value(x_new, y) - energy.value(x, y) + log_q(x, x_new) - log_q(x_new, x)
}

/// The kernel's `accept_prob` equals `min(1, exp(log r))` of an independently computed MH
/// ratio at the proposal reproduced from the same seed (analytic gradients, own formula), for
/// both energy kinds, textbook and non-textbook `(a, σ)`, with and without a clamp mask
/// (the ratio is then over the free elements only). The new state is the proposal where
/// accepted and the old point elsewhere; both outcomes occur.
#[test]
fn accept_prob_equals_independent_mh_ratio() {
    let _g = torch_rng_lock();
    let b = 64;
    let mut probs_seen = Vec::new();
    for with_features in [false, true] {
        let energy = TestEnergy::new(2, with_features);
        for config in [
            MalaConfig::from_noise_scale(1.1),
            MalaConfig {
                step_size: 0.3,
                noise_scale: 0.7,
            },
        ] {
            for clamp in [None, Some(tensor(&[0.0, 1.0], &[2]).to_kind(Kind::Bool))] {
                let what = format!("features={with_features}, {config:?}, clamp={clamp:?}");
                seed_everything(99);
                let x = Tensor::randn([b, 2], OPTS) * 1.5;
                let y = one_hot(&alternating_classes(b as usize));
                let free = clamp.as_ref().map(|c| c.logical_not());

                seed_everything(2024);
                let xi = x.randn_like();
                let mut x_prop =
                    &x + energy.grad_x(&x, &y) * config.step_size + xi * config.noise_scale;
                if let Some(free) = &free {
                    x_prop = x_prop.where_self(free, &x);
                }
                let log_r = log_mh_ratio(&energy, &x, &x_prop, &y, &config, free.as_ref());
                let expected = log_r.clamp_max(0.0).exp();

                let mut state = JointState::new(&energy, &x, &y).unwrap();
                if let Some(c) = &clamp {
                    state = state.with_fixed_x(c).unwrap();
                }
                seed_everything(2024);
                let kernel = Mala::new(config.clone()).unwrap();
                let (
                    state,
                    StepInfo {
                        accept_prob,
                        accepted,
                    },
                ) = kernel.step(&energy, state).unwrap();
                let err = max_abs_diff(&accept_prob, &expected);
                assert!(err < 1e-12, "{what}: |accept_prob − MH| = {err:e}");

                let acc = to_bools(&accepted);
                let n_acc = acc.iter().filter(|&&a| a).count();
                assert!(
                    n_acc > 0 && n_acc < b as usize,
                    "{what}: {n_acc}/{b} accepted"
                );
                let want_x = x_prop.where_self(&accepted.unsqueeze(1), &x);
                assert!(max_abs_diff(state.x(), &want_x) < 1e-12, "{what}: new x");
                for (&a, &p) in acc.iter().zip(&to_vec(&accept_prob)) {
                    assert!(!a || p > 0.0, "{what}: accepted with probability 0");
                }
                probs_seen.extend(to_vec(&accept_prob));
            }
        }
    }
    // The comparison covered acceptance probabilities strictly between 0 and 1.
    let interior = probs_seen.iter().filter(|&&p| p > 0.05 && p < 0.95).count();
    assert!(
        interior > 50,
        "only {interior} interior acceptance probabilities"
    );
}

/// A 1-D non-Gaussian target `f(x, y) = −x²/2 + 0.8 cos 2x + w_y x` (bimodal for w = 0),
/// evaluated on the host.
struct Target1d {
    shift: [f64; 2],
}

impl Target1d {
    fn f(&self, x: f64, c: usize) -> f64 {
        -0.5 * x * x + 0.8 * (2.0 * x).cos() + self.shift[c] * x
    }
    fn g(&self, x: f64, c: usize) -> f64 {
        -x - 1.6 * (2.0 * x).sin() + self.shift[c]
    }
    fn energy(&self) -> impl ebm_core::JointEnergy {
        let w = tensor(&self.shift, &[2]);
        FnEnergy::new(layout(), move |x: &Tensor, y: &Tensor| {
            let x = x.select(1, 0);
            x.square() * -0.5 + (&x * 2.0).cos() * 0.8 + y.mv(&w) * x
        })
    }
    /// `log q(to | from)` of MALA without its constant.
    fn log_q(&self, to: f64, from: f64, c: usize, a: f64, s: f64) -> f64 {
        let d = to - from - a * self.g(from, c);
        -d * d / (2.0 * s * s)
    }
    /// `min(1, r)` by our own formula.
    fn alpha(&self, x: f64, xp: f64, c: usize, a: f64, s: f64) -> f64 {
        let log_r =
            self.f(xp, c) - self.f(x, c) + self.log_q(x, xp, c, a, s) - self.log_q(xp, x, c, a, s);
        log_r.min(0.0).exp()
    }
}

/// Finds `x` with `a (g(x) + g(x')) + σ (ξ + ζ) = 0`, `x' = x + a g(x) + σ ξ`, by bisection:
/// then MALA proposes `x'` from `x` with noise `ξ` and `x` from `x'` with noise `ζ`.
fn solve_pair(t: &Target1d, c: usize, a: f64, s: f64, xi: f64, zeta: f64) -> (f64, f64) {
    let fwd = |x: f64| x + a * t.g(x, c) + s * xi;
    let h = |x: f64| a * (t.g(x, c) + t.g(fwd(x), c)) + s * (xi + zeta);
    let (mut lo, mut hi) = (-60.0, 60.0);
    assert!(h(lo) > 0.0 && h(hi) < 0.0, "no bracket");
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        if h(mid) > 0.0 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let x = 0.5 * (lo + hi);
    (x, fwd(x))
}

/// Exact detailed balance of the kernel's transition density on a 1-D non-Gaussian target:
/// `π(x) q(x'|x) α(x, x') = π(x') q(x|x') α(x', x)` with `α` the **kernel's** reported
/// acceptance probabilities. The proposals are controlled: the noise of the step is drawn in
/// advance from the seed, and each pair of chains `(p, P + p)` starts at `(x, x')` solved so
/// that chain `p` proposes `x'` and chain `P + p` proposes `x`. Also: both reported
/// probabilities equal our own formula, and our formula satisfies detailed balance at random
/// pairs. Two configurations (textbook `a = σ²/2` and an arbitrary `a`).
#[test]
fn detailed_balance_of_the_kernel_transition_density() {
    let _g = torch_rng_lock();
    let target = Target1d { shift: [0.0, 0.5] };
    let energy = target.energy();
    let pairs = 48usize;
    let b = 2 * pairs;
    let mut interior = 0;
    for (cfg_i, config) in [
        MalaConfig::from_noise_scale(1.0),
        MalaConfig {
            step_size: 0.15,
            noise_scale: 0.9,
        },
    ]
    .into_iter()
    .enumerate()
    {
        let (a, s) = (config.step_size, config.noise_scale);
        let seed = 500 + cfg_i as u64;
        seed_everything(seed);
        let eta = to_vec(&Tensor::randn([b as i64, 1], OPTS));
        let classes: Vec<usize> = (0..b).map(|i| (i % pairs) % 2).collect();
        let mut x0 = vec![0.0; b];
        for p in 0..pairs {
            let (x, xp) = solve_pair(&target, classes[p], a, s, eta[p], eta[pairs + p]);
            x0[p] = x;
            x0[pairs + p] = xp;
        }
        let x = tensor(&x0, &[b as i64, 1]);
        let y = one_hot(&classes);
        let state = JointState::new(&energy, &x, &y).unwrap();
        seed_everything(seed);
        let kernel = Mala::new(config.clone()).unwrap();
        let (state, info) = kernel.step(&energy, state).unwrap();
        let alpha = to_vec(&info.accept_prob);
        let accepted = to_bools(&info.accepted);
        let x1 = to_vec(state.x());
        for p in 0..pairs {
            let c = classes[p];
            let (x, xp) = (x0[p], x0[pairs + p]);
            let (af, ar) = (alpha[p], alpha[pairs + p]);
            // The controlled proposals were made: an accepted chain sits at its partner's start.
            if accepted[p] {
                assert!((x1[p] - xp).abs() < 1e-12, "pair {p}: forward proposal");
            }
            if accepted[pairs + p] {
                assert!(
                    (x1[pairs + p] - x).abs() < 1e-12,
                    "pair {p}: reverse proposal"
                );
            }
            assert!(af > 0.0 && ar > 0.0, "pair {p}: zero acceptance {af} {ar}");
            assert!(
                (af - target.alpha(x, xp, c, a, s)).abs() < 1e-11,
                "pair {p}: α(x, x')"
            );
            assert!(
                (ar - target.alpha(xp, x, c, a, s)).abs() < 1e-11,
                "pair {p}: α(x', x)"
            );
            let lhs = target.f(x, c) + target.log_q(xp, x, c, a, s) + af.ln();
            let rhs = target.f(xp, c) + target.log_q(x, xp, c, a, s) + ar.ln();
            assert!(
                (lhs - rhs).abs() < 1e-9,
                "config {cfg_i}, pair {p} (x = {x}, x' = {xp}): log π q α {lhs} vs {rhs}"
            );
            if af.min(ar) < 0.9 {
                interior += 1;
            }
        }
    }
    assert!(
        interior > 20,
        "only {interior} pairs with α < 0.9 on one side"
    );

    // Our own formula at random pairs (also far apart, where α is tiny).
    seed_everything(77);
    let xs = to_vec(&(Tensor::randn([200], OPTS) * 2.0));
    let xps = to_vec(&(Tensor::randn([200], OPTS) * 2.0));
    for (i, (&x, &xp)) in xs.iter().zip(&xps).enumerate() {
        let (c, a, s) = (i % 2, 0.2, 0.8);
        let lhs = target.f(x, c) + target.log_q(xp, x, c, a, s) + target.alpha(x, xp, c, a, s).ln();
        let rhs =
            target.f(xp, c) + target.log_q(x, xp, c, a, s) + target.alpha(xp, x, c, a, s).ln();
        assert!(
            (lhs - rhs).abs() < 1e-9,
            "formula, pair {i}: {lhs} vs {rhs}"
        );
    }
}

/// Clamped elements never move, free ones do (over many steps), with a per-chain mask on a
/// 3-D `x` and a full mask; the kernel keeps accepting.
#[test]
fn clamped_elements_never_move() {
    let _g = torch_rng_lock();
    let energy = TestEnergy::new(6, true);
    let b = 16;
    seed_everything(31);
    let x = Tensor::randn([b, 2, 3], OPTS);
    let y = one_hot(&alternating_classes(b as usize));
    let per_chain = tensor(&[0.0, 1.0, 0.0, 1.0, 0.0, 0.0], &[2, 3]).to_kind(Kind::Bool);
    let full = Tensor::rand([b, 2, 3], OPTS).lt(0.5);
    let kernel = Mala::new(MalaConfig::from_noise_scale(0.5)).unwrap();
    for mask in [per_chain, full] {
        let mut state = JointState::new(&energy, &x, &y)
            .unwrap()
            .with_fixed_x(&mask)
            .unwrap();
        let mut accept_sum = 0.0;
        for _ in 0..30 {
            let (s, info) = kernel.step(&energy, state).unwrap();
            accept_sum += info.accept_prob.mean(Kind::Double).double_value(&[]);
            state = s;
        }
        let fixed = mask.expand_as(&x);
        let moved = state.x().ne_tensor(&x);
        assert!(
            !bool::try_from(moved.logical_and(&fixed).any()).unwrap(),
            "a clamped element moved"
        );
        assert!(
            !bool::try_from(moved.logical_not().logical_and(&fixed.logical_not()).any()).unwrap(),
            "a free element never moved in 30 steps"
        );
        assert!(
            accept_sum / 30.0 > 0.5,
            "mean acceptance {}",
            accept_sum / 30.0
        );
    }
}

/// An energy that is `−x²/2` for `x < 1` and `bad` (+∞, −∞ or NaN) from 1 on, or finite
/// everywhere with a NaN gradient from 1 on (`bad = None`).
fn cliff_energy(bad: Option<f64>) -> impl ebm_core::JointEnergy {
    FnEnergy::new(layout(), move |x: &Tensor, _y: &Tensor| {
        let x = x.select(1, 0);
        let base = x.square() * -0.5;
        match bad {
            Some(v) => base.where_self(&x.lt(1.0), &x.full_like(v)),
            // u = (1 − x)·[x < 1] is 0 from 1 on, and sqrt′(0) = ∞ times ∂u/∂x = 0 is NaN:
            // a NaN gradient for x ≥ 1 with a finite value.
            None => {
                let below = x.lt(1.0).to_kind(x.kind());
                base + ((-&x + 1.0) * below).sqrt() * 0.1
            }
        }
    })
}

/// A proposal with a non-finite log-density (+∞, −∞, NaN) or a NaN gradient is rejected per
/// chain (accept_prob 0, x and the cached evaluation unchanged); other chains proceed;
/// nothing panics.
#[test]
fn non_finite_proposals_are_rejected() {
    let _g = torch_rng_lock();
    let b = 64;
    let config = MalaConfig::from_noise_scale(0.5);
    let y = one_hot(&alternating_classes(b as usize));
    for bad in [
        Some(f64::INFINITY),
        Some(f64::NEG_INFINITY),
        Some(f64::NAN),
        None,
    ] {
        let energy = cliff_energy(bad);
        if bad.is_none() {
            let mut e = Evaluation::at(&energy, &tensor(&[1.5], &[1, 1]), &one_hot(&[0])).unwrap();
            assert!(e.log_density().double_value(&[0]).is_finite());
            let g = e.grad_x(&energy, &tensor(&[1.5], &[1, 1])).unwrap();
            assert!(
                g.double_value(&[0, 0]).is_nan(),
                "precondition: NaN gradient"
            );
        }
        let x = Tensor::full([b, 1], 0.8, OPTS);
        seed_everything(8);
        let xi = x.randn_like();
        let x_prop = &x * (1.0 - config.step_size) + xi * config.noise_scale;
        let bad_rows = to_bools(&x_prop.ge(1.0).select(1, 0));
        let n_bad = bad_rows.iter().filter(|&&v| v).count();
        assert!(n_bad > 5 && n_bad < b as usize - 5, "{n_bad} bad proposals");

        let state = JointState::new(&energy, &x, &y).unwrap();
        let f0 = to_vec(state.eval().log_density());
        seed_everything(8);
        let kernel = Mala::new(config.clone()).unwrap();
        let (mut state, info) = kernel.step(&energy, state).unwrap();
        let ap = to_vec(&info.accept_prob);
        let acc = to_bools(&info.accepted);
        let x1 = to_vec(state.x());
        let f1 = to_vec(state.eval().log_density());
        for i in 0..b as usize {
            if bad_rows[i] {
                assert_eq!(ap[i], 0.0, "{bad:?} chain {i}: accept_prob");
                assert!(!acc[i], "{bad:?} chain {i}: accepted");
                assert_eq!(x1[i], 0.8, "{bad:?} chain {i}: x moved");
                assert_eq!(f1[i], f0[i], "{bad:?} chain {i}: cached f changed");
            } else {
                assert!(
                    ap[i] > 0.0 && ap[i] <= 1.0,
                    "{bad:?} chain {i}: accept_prob {}",
                    ap[i]
                );
            }
        }
        assert!(acc.iter().any(|&a| a), "{bad:?}: no good chain accepted");
        // Keep going: the chains stay finite and below the cliff.
        for _ in 0..20 {
            state = kernel.step(&energy, state).unwrap().0;
        }
        assert!(
            bool::try_from(state.x().lt(1.0).all()).unwrap(),
            "{bad:?}: crossed"
        );
        assert!(bool::try_from(state.eval().log_density().isfinite().all()).unwrap());
        let gx = state.grad_x(&energy).unwrap();
        assert!(bool::try_from(gx.isfinite().all()).unwrap());
    }
}

/// After several steps with a mix of accepted and rejected proposals, the cached evaluation
/// equals a fresh `Evaluation::at` at the chain's point (`f`, `∂f/∂y`, features, `∂f/∂x`) and
/// the analytic formulas, for both energy kinds.
#[test]
fn cached_evaluation_matches_fresh_one() {
    let _g = torch_rng_lock();
    let b = 32;
    for with_features in [false, true] {
        let energy = TestEnergy::new(3, with_features);
        seed_everything(41);
        let x = Tensor::randn([b, 3], OPTS);
        let y = one_hot(&alternating_classes(b as usize));
        let kernel = Mala::new(MalaConfig::from_noise_scale(1.2)).unwrap();
        let mut state = JointState::new(&energy, &x, &y).unwrap();
        let (mut n_acc, mut n_rej) = (0, 0);
        for step in 0..5 {
            let (s, info) = kernel.step(&energy, state).unwrap();
            state = s;
            let acc = to_bools(&info.accepted);
            n_acc += acc.iter().filter(|&&a| a).count();
            n_rej += acc.iter().filter(|&&a| !a).count();
            let what = format!("features={with_features}, step {step}");
            let mut fresh = Evaluation::at(&energy, state.x(), state.y()).unwrap();
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
            assert_eq!(max_abs_diff(state.y(), &y), 0.0, "{what}: y changed");
        }
        assert!(
            n_acc > 10 && n_rej > 10,
            "accepted {n_acc}, rejected {n_rej}"
        );
    }
}

/// Non-positive, NaN and infinite step sizes or noise scales are `Error::InvalidConfig`.
#[test]
fn invalid_configs_are_errors() {
    for v in [0.0, -0.1, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let r = Mala::new(MalaConfig {
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
        let r = Mala::new(MalaConfig {
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
        assert!(matches!(
            Mala::new(MalaConfig::from_noise_scale(v)),
            Err(Error::InvalidConfig { .. })
        ));
    }
}

/// Defaults, the textbook pairing, exactness flag and name.
#[test]
fn defaults_and_metadata() {
    let c = MalaConfig::from_noise_scale(0.3);
    assert!((c.step_size - 0.045).abs() < 1e-15 && c.noise_scale == 0.3);
    assert_eq!(MalaConfig::default(), MalaConfig::from_noise_scale(0.1));
    let k = Mala::default();
    assert_eq!(k.config(), &MalaConfig::from_noise_scale(0.1));
    assert!(k.is_exact());
    assert_eq!(k.name(), "mala");
}
