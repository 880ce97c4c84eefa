//! Exactness of DMALA (deterministic where possible, in `f64` on the CPU):
//!
//! 1. its proposal, read from the kernel, equals the definition on every configuration of
//!    small binary, categorical and mixed spaces, clamped variables included;
//! 2. its exact transition matrix (from the definition) satisfies detailed balance and
//!    `πP = π` to 1e-10, with and without clamped variables;
//! 3. the real kernel's one-step frequencies from every state match that matrix (n = 4096
//!    chains per state, bound `7 √(P(1−P)/n) + 0.003` per entry), and its reported acceptance
//!    is the exact acceptance of the move it proposed;
//! 4. a deliberately broken kernel (reverse proposal dropped from the acceptance) fails 2 and
//!    3: the suite catches it;
//! 5. one head forward and one backward per step.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use ebm_core::{eval, DiscreteKernel, JointEnergy, JointState, YLayout};
use samplers_disc::{Dmala, DmalaConfig};
use tch::Tensor;

const N: usize = 4096;

/// Step sizes `α` for the bits, `α_g` for the categorical groups.
fn mixed(bits: f64, groups: f64) -> Alpha {
    Alpha { bits, groups }
}

/// The exact kernel with these step sizes (`group_step_size` set only when they differ).
fn dmala(alpha: Alpha) -> Dmala {
    Dmala::new(DmalaConfig {
        step_size: alpha.bits,
        group_step_size: (alpha.groups != alpha.bits).then_some(alpha.groups),
        adjusted: true,
    })
    .unwrap()
}

fn free_of(nv: usize, fixed: Option<&[bool]>) -> Vec<bool> {
    (0..nv).map(|v| !matches!(fixed, Some(f) if f[v])).collect()
}

/// Check 1: the kernel's `log q(y' | y)` for every pair of configurations equals the definition.
fn check_proposal<M: HostModel>(model: &M, alpha: Alpha, fixed: Option<&[bool]>, what: &str) {
    let layout = model.y_layout();
    let configs = host_configs(layout);
    let n = configs.len();
    let free = free_of(layout.num_vars(), fixed);
    let kernel = dmala(alpha);
    // Row r·n + c: from configs[r] to configs[c].
    let from_idx: Vec<usize> = (0..n * n).map(|r| r / n).collect();
    let to_idx: Vec<usize> = (0..n * n).map(|r| r % n).collect();
    let from = configs_to_y(layout, &configs, &from_idx);
    let to = configs_to_y(layout, &configs, &to_idx);
    let mut state = JointState::new(model, &dummy_x(n * n), &from).unwrap();
    if let Some(f) = fixed {
        state = state.with_fixed_y(&Tensor::from_slice(f)).unwrap();
    }
    let p = kernel.proposal(
        state.columns(),
        state.y(),
        state.eval().grad_y(),
        state.y_free(),
    );
    let got = to_f64(&Dmala::log_q(state.columns(), &p, state.y(), &to));
    let mut worst = 0.0f64;
    for r in 0..n {
        let mut total = 0.0;
        for c in 0..n {
            let want = host_dmala_log_q(model, &configs[r], &configs[c], &free, alpha);
            let g = got[r * n + c];
            if want == f64::NEG_INFINITY {
                assert_eq!(g, f64::NEG_INFINITY, "{what}: {r} → {c} must be impossible");
            } else {
                worst = worst.max((g - want).abs());
                total += g.exp();
            }
        }
        assert!(
            (total - 1.0).abs() < 1e-12,
            "{what}: row {r} sums to {total}"
        );
    }
    assert!(worst < 1e-12, "{what}: log q off by {worst}");
}

#[test]
fn dmala_proposal_matches_its_definition() {
    let (_torch, _) = seeded(201);
    let cases: Vec<(YLayout, Option<Vec<bool>>)> = vec![
        (YLayout::binary(4).unwrap(), None),
        (YLayout::categorical(vec![3, 4]).unwrap(), None),
        (YLayout::new(vec![3], 2).unwrap(), None),
        (
            YLayout::new(vec![3, 2], 2).unwrap(),
            Some(vec![false, true, false, true]),
        ),
    ];
    for (i, (layout, fixed)) in cases.into_iter().enumerate() {
        let model = Mlp::random(layout, 4, 1.0, 300 + i as u64);
        for alpha in [0.1.into(), 0.5.into(), 2.0.into(), mixed(0.2, 2.0)] {
            check_proposal(
                &model,
                alpha,
                fixed.as_deref(),
                &format!("case {i}, α {alpha:?}"),
            );
        }
    }
}

/// Check 2: detailed balance and stationarity of the exact matrix.
#[test]
fn dmala_exact_matrix_satisfies_detailed_balance() {
    let (_torch, _) = seeded(202);
    for (i, layout) in [
        YLayout::binary(4).unwrap(),
        YLayout::categorical(vec![3, 3]).unwrap(),
        YLayout::new(vec![3, 2], 2).unwrap(),
    ]
    .into_iter()
    .enumerate()
    {
        let model = Mlp::random(layout, 5, 1.0, 400 + i as u64);
        let l = model.y_layout();
        let nv = l.num_vars();
        let mut cases = vec![(host_configs(l), vec![true; nv])];
        let mut fixed = vec![false; nv];
        fixed[0] = true;
        let anchor = vec![1; nv];
        cases.push((
            conditional_configs(l, &fixed, &anchor),
            fixed.iter().map(|f| !f).collect(),
        ));
        for (states, free) in cases {
            let pi = host_pi(&model, &states);
            for alpha in [0.2.into(), 1.0.into(), mixed(0.2, 3.0)] {
                let p = host_dmala(&model, &states, &free, alpha, false);
                assert!(p.iter().flatten().all(|&x| x >= -1e-15));
                let db = detailed_balance_residual(&pi, &p);
                let st = stationarity_residual(&pi, &p);
                assert!(
                    db < 1e-10 && st < 1e-10,
                    "layout {i}, α {alpha:?}: {db:e}, {st:e}"
                );
            }
        }
    }
}

/// One real step of `kernel` from `N` copies of every state.
fn one_step<E: JointEnergy>(
    energy: &E,
    kernel: &Dmala,
    states: &[Vec<usize>],
    fixed: Option<&[bool]>,
) -> Vec<(usize, usize, f64, bool)> {
    one_step_from_every_state(energy, states, fixed, N, |s| {
        kernel.step(energy, s).unwrap()
    })
}

/// Entries beyond `7 √(P(1−P)/n) + 0.003`, or seen where `P = 0`: `(count, worst ratio)`.
fn frequency_violations(runs: &[(usize, usize, f64, bool)], p: &[Vec<f64>]) -> (usize, f64) {
    let n = p.len();
    let mut hist = vec![vec![0u64; n]; n];
    for &(i, j, _, _) in runs {
        hist[i][j] += 1;
    }
    let mut bad = 0;
    let mut worst = 0.0f64;
    for i in 0..n {
        let total: u64 = hist[i].iter().sum();
        for j in 0..n {
            let (phat, pij) = (hist[i][j] as f64 / total as f64, p[i][j].clamp(0.0, 1.0));
            let bound = 7.0 * (pij * (1.0 - pij) / total as f64).sqrt() + 0.003;
            if (pij < 1e-12 && hist[i][j] > 0) || (phat - pij).abs() >= bound {
                bad += 1;
            }
            worst = worst.max((phat - pij).abs() / bound);
        }
    }
    (bad, worst)
}

/// Check 3: the real kernel against the exact matrix, free and clamped.
#[test]
fn dmala_step_frequencies_match_exact_matrix() {
    let (_torch, _) = seeded(203);
    let model = Mlp::random(YLayout::new(vec![3, 2], 2).unwrap(), 5, 1.0, 501);
    let layout = model.y_layout();
    let nv = layout.num_vars();
    let fixed = [false, true, false, false];
    for (states, fx) in [
        (host_configs(layout), None),
        (
            conditional_configs(layout, &fixed, &[0, 1, 0, 1]),
            Some(&fixed[..]),
        ),
    ] {
        let free = free_of(nv, fx);
        for alpha in [0.3.into(), 1.5.into(), mixed(0.3, 2.0)] {
            let kernel = dmala(alpha);
            let p = host_dmala(&model, &states, &free, alpha, false);
            let runs = one_step(&model, &kernel, &states, fx);
            let (bad, worst) = frequency_violations(&runs, &p);
            assert_eq!(
                bad,
                0,
                "α {alpha:?}, clamped {}: worst ratio {worst:.2}",
                fx.is_some()
            );
            // The reported acceptance of an accepted move is its exact acceptance.
            for &(i, j, a, acc) in runs.iter().filter(|r| r.3 && r.0 != r.1).take(2000) {
                let lq = host_dmala_log_q(&model, &states[i], &states[j], &free, alpha);
                let lr = host_dmala_log_q(&model, &states[j], &states[i], &free, alpha);
                let fi = model.host_log_p(&one_hot(layout, &states[i]));
                let fj = model.host_log_p(&one_hot(layout, &states[j]));
                let exact = (fj - fi + lr - lq).min(0.0).exp();
                assert!(
                    acc && (a - exact).abs() < 1e-10,
                    "{i} → {j}: {a} vs {exact}"
                );
            }
        }
    }
}

/// Check 4: break the kernel on purpose (drop the reverse proposal). Its matrix violates
/// detailed balance, and its frequencies do not match the correct matrix: the checks above
/// fail.
#[test]
fn a_dmala_without_the_reverse_term_is_caught() {
    let (_torch, _) = seeded(204);
    let model = Mlp::random(YLayout::new(vec![3, 2], 2).unwrap(), 5, 1.0, 501);
    let layout = model.y_layout();
    let states = host_configs(layout);
    let free = vec![true; layout.num_vars()];
    let alpha = 1.5;
    let pi = host_pi(&model, &states);
    let broken = host_dmala(&model, &states, &free, alpha, true);
    let db = detailed_balance_residual(&pi, &broken);
    assert!(
        db > 1e-3,
        "the broken matrix should violate detailed balance ({db:e})"
    );
    let kernel = Dmala::without_reverse_term(DmalaConfig {
        step_size: alpha,
        adjusted: true,
        group_step_size: None,
    })
    .unwrap();
    assert!(!kernel.is_exact());
    let runs = one_step(&model, &kernel, &states, None);
    let correct = host_dmala(&model, &states, &free, alpha, false);
    let (bad, worst) = frequency_violations(&runs, &correct);
    assert!(
        bad > 0,
        "the frequency test did not catch the broken kernel (worst {worst:.2})"
    );
    // … while the broken kernel does follow its own (wrong) matrix: the test has power.
    let (bad_own, worst_own) = frequency_violations(&runs, &broken);
    assert_eq!(bad_own, 0, "worst {worst_own:.2}");
}

/// DULA accepts every proposal and says it is not exact.
#[test]
fn dula_accepts_everything() {
    let (_torch, _) = seeded(205);
    let model = Mlp::random(YLayout::binary(4).unwrap(), 4, 1.0, 601);
    let k = Dmala::new(DmalaConfig {
        step_size: 0.5,
        adjusted: false,
        group_step_size: None,
    })
    .unwrap();
    assert!(!k.is_exact());
    assert_eq!(k.name(), "dula");
    let states = host_configs(model.y_layout());
    let runs = one_step(&model, &k, &states, None);
    assert!(runs.iter().all(|r| r.3 && r.2 == 1.0));
}

/// Check 5, cost: one head forward over `B` rows and one backward per step.
#[test]
fn dmala_evaluations_per_step_are_pinned() {
    let (_torch, _) = seeded(206);
    let layout = YLayout::new(vec![3, 4], 2).unwrap();
    let energy = Counting::new(Mlp::random(layout.clone(), 4, 1.0, 701), true);
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(702);
    let y0 = uniform_y(&layout, 64, &mut rng);
    let mut s = JointState::new(&energy, &dummy_x(64), &y0).unwrap();
    let k = Dmala::default();
    let (f0, r0, h0) = (
        energy.head_forwards.get(),
        energy.head_rows.get(),
        energy.feature_forwards.get(),
    );
    let (b0, fb0) = (eval::backward_passes(), eval::feature_backward_passes());
    for _ in 0..5 {
        s = k.step(&energy, s).unwrap().0;
    }
    assert_eq!(energy.head_forwards.get() - f0, 5);
    assert_eq!(energy.head_rows.get() - r0, 5 * 64);
    assert_eq!(eval::backward_passes() - b0, 5);
    assert_eq!(energy.feature_forwards.get() - h0, 0);
    assert_eq!(eval::feature_backward_passes() - fb0, 0);
    drop(s);
}
