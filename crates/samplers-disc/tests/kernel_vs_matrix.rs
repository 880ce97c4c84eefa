//! The real kernels against their exact transition matrices: from every state of a small space,
//! n = 4096 independent chains (one batch) make one real `step`; the empirical one-step
//! frequencies must match the exact matrix within `7 √(P(1−P)/n) + 0.003` (and be exactly 0
//! where the matrix is 0). For GWG the reported `accept_prob` of every chain must be the exact
//! acceptance of the move it proposed. ExactGibbs's matrix is computed from its definition
//! (uniform free variable, full conditional) and must leave `π` invariant.
//!
//! With 7 standard errors per entry and a few thousand entries in all, a correct kernel fails
//! with probability below 1e-8; the fixed seeds make the run reproducible.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use ebm_core::{DiscreteKernel, JointEnergy, YLayout};
use samplers_disc::{ExactGibbs, Gwg, GwgConfig};
use std::collections::HashMap;

/// Chains per start state.
const N: usize = 4096;

/// `|p̂_ij − P_ij| < 7 √(P_ij (1 − P_ij) / n) + 0.003` for every start `i` and end `j`
/// (diagonal included), and no observed transition where `P_ij = 0`.
fn assert_frequencies_match(hist: &[Vec<u64>], p: &[Vec<f64>], what: &str) {
    let mut worst = 0.0f64;
    for (i, row) in hist.iter().enumerate() {
        let n: u64 = row.iter().sum();
        for (j, &c) in row.iter().enumerate() {
            // Clamp rounding residue (a diagonal of −1e-17) into [0, 1].
            let (phat, pij) = (c as f64 / n as f64, p[i][j].clamp(0.0, 1.0));
            if pij < 1e-12 {
                assert_eq!(
                    c, 0,
                    "{what}: impossible transition {i} → {j} seen {c} times"
                );
            }
            let bound = 7.0 * (pij * (1.0 - pij) / n as f64).sqrt() + 0.003;
            assert!(
                (phat - pij).abs() < bound,
                "{what}: P[{i}][{j}] = {pij:.5}, observed {phat:.5} (bound {bound:.5})"
            );
            worst = worst.max((phat - pij).abs() / bound);
        }
    }
    println!("{what}: worst |p̂ − P| / bound = {worst:.3}");
}

fn histogram(runs: &[(usize, usize, f64, bool)], n: usize) -> Vec<Vec<u64>> {
    let mut h = vec![vec![0u64; n]; n];
    for &(i, j, _, _) in runs {
        h[i][j] += 1;
    }
    h
}

/// GWG from every state of `states`: frequencies against the exact host matrix; per chain,
/// `accepted ⇔ moved`; an accepting chain reports exactly (1e-10) the exact acceptance
/// `α(i → j)` of its move; a rejecting chain reports `< 1` and the acceptance of one of the
/// moves proposable from its state; and the mean reported acceptance per start state is within
/// 7 standard errors of the exact `Σ_c q(c|i) α(i, c)` (standard deviation from the exact
/// moments).
fn check_gwg<M: HostModel>(model: &M, states: &[Vec<usize>], fixed: Option<&[bool]>, what: &str) {
    let nv = model.y_layout().num_vars();
    let free: Vec<bool> = (0..nv).map(|v| !matches!(fixed, Some(f) if f[v])).collect();
    let host = host_gwg(model, states, &free, 2.0);
    let kernel = Gwg::new(GwgConfig::default()).unwrap();
    assert_eq!(kernel.config().temperature, 2.0);
    let runs =
        one_step_from_every_state(model, states, fixed, N, |s| kernel.step(model, s).unwrap());
    assert_frequencies_match(&histogram(&runs, states.len()), &host.p, what);

    let mut alpha: HashMap<(usize, usize), f64> = HashMap::new();
    let mut by_start: Vec<Vec<(f64, f64)>> = vec![Vec::new(); states.len()];
    for m in &host.moves {
        alpha.insert((m.from, m.to), m.accept);
        by_start[m.from].push((m.log_q.exp(), m.accept));
    }
    let mut sums = vec![0.0; states.len()];
    for &(i, j, a, acc) in &runs {
        assert!(a.is_finite() && (0.0..=1.0).contains(&a));
        assert_eq!(acc, i != j, "{what}: accepted flag vs move");
        if acc {
            let exact = alpha[&(i, j)];
            assert!(
                (a - exact).abs() < 1e-10,
                "{what}: move {i} → {j} reported {a}, exact acceptance {exact}"
            );
        } else {
            assert!(a < 1.0, "{what}: rejected with accept_prob 1");
            assert!(
                by_start[i].iter().any(|&(_, e)| (a - e).abs() < 1e-10),
                "{what}: rejected chain at {i} reported {a}, not the acceptance of any move"
            );
        }
        sums[i] += a;
    }
    for (i, moves) in by_start.iter().enumerate() {
        let mean: f64 = moves.iter().map(|(q, a)| q * a).sum();
        let second: f64 = moves.iter().map(|(q, a)| q * a * a).sum();
        let sd = (second - mean * mean).max(0.0).sqrt();
        let got = sums[i] / N as f64;
        assert!(
            (got - mean).abs() < 7.0 * sd / (N as f64).sqrt() + 1e-12,
            "{what}: mean accept_prob from {i} is {got}, exact {mean} (sd {sd})"
        );
    }
}

#[test]
fn gwg_step_frequencies_match_exact_matrix_binary() {
    let (_torch, _) = seeded(101);
    let model = Mlp::random(YLayout::binary(5).unwrap(), 5, 1.0, 102);
    check_gwg(
        &model,
        &host_configs(model.y_layout()),
        None,
        "gwg binary(5)",
    );
}

#[test]
fn gwg_step_frequencies_match_exact_matrix_categorical() {
    let (_torch, _) = seeded(103);
    let model = Mlp::random(YLayout::categorical(vec![3, 3, 2]).unwrap(), 5, 1.0, 104);
    check_gwg(&model, &host_configs(model.y_layout()), None, "gwg [3,3,2]");
}

#[test]
fn gwg_step_frequencies_match_exact_matrix_mixed_and_clamped() {
    let (_torch, _) = seeded(105);
    let model = Mlp::random(YLayout::new(vec![3, 2], 2).unwrap(), 5, 1.0, 106);
    let layout = model.y_layout();
    check_gwg(&model, &host_configs(layout), None, "gwg [3,2]+2");
    let fixed = [false, true, false, false];
    let states = conditional_configs(layout, &fixed, &[0, 1, 0, 0]);
    check_gwg(
        &model,
        &states,
        Some(&fixed),
        "gwg [3,2]+2, group 1 clamped",
    );
    let fixed = [false, false, false, true];
    let states = conditional_configs(layout, &fixed, &[0, 0, 0, 1]);
    check_gwg(&model, &states, Some(&fixed), "gwg [3,2]+2, bit 1 clamped");
}

/// ExactGibbs from every state: the exact matrix from the definition is balanced
/// (`‖πP − π‖∞ < 1e-12`, detailed balance < 1e-12), the kernel's one-step frequencies match it,
/// every chain reports `accept_prob = 1` and `accepted`.
fn check_gibbs<M: HostModel>(model: &M, states: &[Vec<usize>], fixed: Option<&[bool]>, what: &str) {
    let nv = model.y_layout().num_vars();
    let free: Vec<bool> = (0..nv).map(|v| !matches!(fixed, Some(f) if f[v])).collect();
    let p = host_gibbs(model, states, &free);
    let pi = host_pi(model, states);
    assert!(stationarity_residual(&pi, &p) < 1e-12);
    assert!(detailed_balance_residual(&pi, &p) < 1e-12);
    for row in &p {
        assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }
    let runs = one_step_from_every_state(model, states, fixed, N, |s| {
        ExactGibbs.step(model, s).unwrap()
    });
    for &(_, _, a, acc) in &runs {
        assert_eq!(a, 1.0);
        assert!(acc);
    }
    assert_frequencies_match(&histogram(&runs, states.len()), &p, what);
}

#[test]
fn gibbs_step_frequencies_match_exact_matrix() {
    let (_torch, _) = seeded(107);
    let bin = Mlp::random(YLayout::binary(5).unwrap(), 5, 1.0, 108);
    check_gibbs(&bin, &host_configs(bin.y_layout()), None, "gibbs binary(5)");
    let cat = Mlp::random(YLayout::categorical(vec![3, 3, 2]).unwrap(), 5, 1.0, 109);
    check_gibbs(&cat, &host_configs(cat.y_layout()), None, "gibbs [3,3,2]");
    let mixed = Mlp::random(YLayout::new(vec![3, 2], 2).unwrap(), 5, 1.0, 110);
    let layout = mixed.y_layout();
    check_gibbs(&mixed, &host_configs(layout), None, "gibbs [3,2]+2");
    let fixed = [true, false, false, false];
    let states = conditional_configs(layout, &fixed, &[2, 0, 0, 0]);
    check_gibbs(
        &mixed,
        &states,
        Some(&fixed),
        "gibbs [3,2]+2, group 0 clamped",
    );
}
