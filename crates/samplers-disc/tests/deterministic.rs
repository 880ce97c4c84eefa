//! Exact (deterministic) tests of the discrete kernels, in `f64` on the CPU:
//!
//! 1. GWG's proposal equals an independent enumeration from a closed-form gradient;
//! 2. the GWG transition matrix, assembled from the kernel's own proposal and reported
//!    acceptance, equals the host-computed matrix and satisfies detailed balance and `πP = π`
//!    for a non-quadratic log-density (binary, categorical, mixed, clamped);
//! 5. robustness to extreme, infinite and NaN log-densities and gradients;
//! 6. the number of forward and backward evaluations per step.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use ebm_core::{eval, DiscreteKernel, JointEnergy, JointState, YLayout};
use rand::{rngs::StdRng, Rng, SeedableRng};
use samplers_disc::{ExactGibbs, Gwg, GwgConfig};
use tch::Tensor;

fn gwg(temperature: f64) -> Gwg {
    Gwg::new(GwgConfig { temperature }).unwrap()
}

// -------------------------------------------------------------------------------------------
// 1. Proposal enumeration
// -------------------------------------------------------------------------------------------

/// Compares `Gwg::proposal` at every configuration of the model's layout with
/// [`host_gwg_log_q`] computed from the closed-form gradient: every `log q(cell | y)` within
/// 1e-12, `-inf` exactly where the host says the cell cannot be chosen (current values,
/// clamped variables), rows summing to 1, `valid` true exactly for chains with a free variable,
/// and the number of reachable neighbours `Σ_free (K_v − 1)`. `fixed` is an optional
/// per-chain clamp mask (`fixed[b][v]`, chain `b` = configuration `b`). The cached gradient
/// `∂f/∂y` of the state is checked against the closed form as well.
fn check_proposal_enumeration<M: HostModel>(model: &M, temp: f64, fixed: Option<&[Vec<bool>]>) {
    let layout = model.y_layout();
    let configs = host_configs(layout);
    let (n, d, nv) = (configs.len(), layout.dim(), layout.num_vars());
    let ys: Vec<Vec<f64>> = configs.iter().map(|c| one_hot(layout, c)).collect();
    let mut state = JointState::new(model, &dummy_x(n), &rows_to_tensor(&ys, d)).unwrap();
    if let Some(f) = fixed {
        let flat: Vec<bool> = f.iter().flatten().copied().collect();
        state = state
            .with_fixed_y(&Tensor::from_slice(&flat).view([n as i64, nv as i64]))
            .unwrap();
    }
    let grads = to_f64(state.eval().grad_y());
    let kernel = gwg(temp);
    let prop = kernel.proposal(&state, state.y(), state.eval().grad_y(), state.y_free());
    let lq = to_f64(&prop.log_probs);
    let valid = to_bool(&prop.valid);
    let mut worst = 0.0f64;
    for (b, c) in configs.iter().enumerate() {
        let host_g = model.host_grad(&ys[b]);
        for k in 0..d {
            let e = (grads[b * d + k] - host_g[k]).abs();
            assert!(e < 1e-12, "config {c:?}: grad_y[{k}] off by {e}");
        }
        let free: Vec<bool> = (0..nv)
            .map(|v| !matches!(fixed, Some(f) if f[b][v]))
            .collect();
        let expected = host_gwg_log_q(layout, c, &host_g, &free, temp);
        let reachable: usize = (0..nv)
            .filter(|&v| free[v])
            .map(|v| layout.cardinality(v) - 1)
            .sum();
        assert_eq!(valid[b], reachable > 0, "config {c:?}: valid flag");
        if !valid[b] {
            continue;
        }
        let row = &lq[b * d..(b + 1) * d];
        let mut finite = 0;
        for k in 0..d {
            if expected[k] == f64::NEG_INFINITY {
                assert_eq!(
                    row[k],
                    f64::NEG_INFINITY,
                    "config {c:?}, free {free:?}: cell {k} must not be proposable"
                );
            } else {
                finite += 1;
                assert!(row[k].is_finite());
                worst = worst.max((row[k] - expected[k]).abs());
            }
        }
        assert_eq!(
            finite, reachable,
            "config {c:?}: number of proposable cells"
        );
        let total: f64 = row.iter().map(|l| l.exp()).sum();
        assert!(
            (total - 1.0).abs() < 1e-12,
            "config {c:?}: row sums to {total}"
        );
    }
    assert!(worst < 1e-12, "max |log q − host log q| = {worst:e}");
}

/// Per-chain clamp masks with each variable clamped with probability 0.3 (some chains end up
/// fully clamped, some fully free).
fn random_masks(layout: &YLayout, n: usize, seed: u64) -> Vec<Vec<bool>> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            (0..layout.num_vars())
                .map(|_| rng.random::<f64>() < 0.3)
                .collect()
        })
        .collect()
}

#[test]
fn gwg_proposal_matches_enumeration_on_binary_spaces() {
    for (d, seed) in [(6, 1u64), (10, 2)] {
        let model = Quadratic::random(YLayout::binary(d).unwrap(), seed);
        for temp in [2.0, 1.0, 0.5] {
            check_proposal_enumeration(&model, temp, None);
        }
        let masks = random_masks(model.y_layout(), 1 << d, seed + 100);
        check_proposal_enumeration(&model, 2.0, Some(&masks));
    }
    // An Ising model (closed-form gradient 2J Σ s_nbr) on a 3 × 3 periodic lattice.
    let ising = Ising::new(3, 0.44);
    check_proposal_enumeration(&ising, 2.0, None);
}

#[test]
fn gwg_proposal_matches_enumeration_on_categorical_groups() {
    for (groups, seed) in [(vec![4, 4, 4], 3u64), (vec![4; 5], 4), (vec![2, 5, 3], 5)] {
        let layout = YLayout::categorical(groups).unwrap();
        let model = Quadratic::random(layout, seed);
        for temp in [2.0, 1.0, 0.5] {
            check_proposal_enumeration(&model, temp, None);
        }
        let n = host_configs(model.y_layout()).len();
        let masks = random_masks(model.y_layout(), n, seed + 100);
        check_proposal_enumeration(&model, 2.0, Some(&masks));
    }
    let potts = Potts::new(2, 3, 0.7);
    check_proposal_enumeration(&potts, 2.0, None);
}

#[test]
fn gwg_proposal_matches_enumeration_on_mixed_layouts() {
    let layout = YLayout::new(vec![3, 2, 4], 3).unwrap();
    let quad = Quadratic::random(layout.clone(), 6);
    let mlp = Mlp::random(layout, 5, 1.0, 7);
    let n = host_configs(quad.y_layout()).len();
    let masks = random_masks(quad.y_layout(), n, 8);
    for temp in [2.0, 1.0] {
        check_proposal_enumeration(&quad, temp, None);
        check_proposal_enumeration(&mlp, temp, None);
    }
    check_proposal_enumeration(&quad, 2.0, Some(&masks));
    check_proposal_enumeration(&mlp, 2.0, Some(&masks));
}

// -------------------------------------------------------------------------------------------
// 2. Exact detailed balance
// -------------------------------------------------------------------------------------------

/// Builds the GWG transition matrix on `states` twice — from the kernel (`Gwg::proposal` ×
/// the `accept_prob` reported by `Gwg::step_with`) and from the host closed forms — and checks:
/// the same proposable moves, `log q` within 1e-12, acceptances within 1e-10, matrices within
/// 1e-10, `max |π_i P_ij − π_j P_ji| < 1e-10` and `‖πP − π‖∞ < 1e-10` with `π ∝ exp f` on
/// `states`, a non-negative diagonal, and that the MH correction is active (some acceptance
/// below 0.99, so the first-order proposal is not exact for this energy). Returns the
/// detailed-balance residual of the *uncorrected* proposal matrix (acceptance forced to 1),
/// which the callers require to be large: the check has power.
fn check_exact_gwg<M: HostModel>(
    model: &M,
    states: &[Vec<usize>],
    fixed: Option<&[bool]>,
    temp: f64,
) -> f64 {
    let layout = model.y_layout();
    let nv = layout.num_vars();
    let free: Vec<bool> = (0..nv).map(|v| !matches!(fixed, Some(f) if f[v])).collect();
    let kernel = gwg(temp);
    let k = kernel_gwg(model, &kernel, states, fixed);
    let h = host_gwg(model, states, &free, temp);
    assert_eq!(k.rows.len(), h.moves.len(), "number of proposable moves");
    for (r, m) in k.rows.iter().zip(&h.moves) {
        assert_eq!((r.0, r.1, r.2), (m.from, m.cell, m.to));
        assert!(
            (r.3 - m.log_q).abs() < 1e-12,
            "log q {} vs host {}",
            r.3,
            m.log_q
        );
        assert!(r.4.is_finite() && (0.0..=1.0).contains(&r.4));
        assert!(
            (r.4 - m.accept).abs() < 1e-10,
            "move {m:?}: kernel accept_prob {} vs exact {}",
            r.4,
            m.accept
        );
    }
    assert!(max_abs_diff(&k.p, &h.p) < 1e-10);
    let pi = host_pi(model, states);
    // The tch energy and the host closed form define the same π.
    let ys: Vec<Vec<f64>> = states.iter().map(|s| one_hot(layout, s)).collect();
    let f = to_f64(&model.log_density(&dummy_x(states.len()), &rows_to_tensor(&ys, layout.dim())));
    for (fi, y) in f.iter().zip(&ys) {
        assert!((fi - model.host_log_p(y)).abs() < 1e-12);
    }
    for (i, row) in k.p.iter().enumerate() {
        assert!(row[i] >= -1e-12, "negative diagonal {}", row[i]);
    }
    let db = detailed_balance_residual(&pi, &k.p);
    let st = stationarity_residual(&pi, &k.p);
    assert!(db < 1e-10, "detailed balance residual {db:e}");
    assert!(st < 1e-10, "stationarity residual {st:e}");
    let min_accept = h.moves.iter().map(|m| m.accept).fold(1.0, f64::min);
    assert!(
        min_accept < 0.99,
        "MH correction never active (min α {min_accept})"
    );
    // Negative control: the bare proposal (no MH correction) must violate detailed balance.
    let mut q_only = vec![vec![0.0; states.len()]; states.len()];
    for m in &h.moves {
        q_only[m.from][m.to] += m.log_q.exp();
    }
    set_diagonal(&mut q_only);
    detailed_balance_residual(&pi, &q_only)
}

#[test]
fn gwg_exact_detailed_balance_binary() {
    let model = Mlp::random(YLayout::binary(6).unwrap(), 5, 1.0, 11);
    let states = host_configs(model.y_layout());
    for temp in [2.0, 1.0, 0.5] {
        let control = check_exact_gwg(&model, &states, None, temp);
        assert!(
            control > 1e-3,
            "uncorrected proposal residual only {control:e}"
        );
    }
}

#[test]
fn gwg_exact_detailed_balance_categorical_and_mixed() {
    let cat = Mlp::random(YLayout::categorical(vec![3, 4, 3]).unwrap(), 5, 1.0, 12);
    let mixed = Mlp::random(YLayout::new(vec![3, 2], 3).unwrap(), 5, 1.0, 13);
    for temp in [2.0, 1.0] {
        let c = check_exact_gwg(&cat, &host_configs(cat.y_layout()), None, temp);
        assert!(c > 1e-3, "uncorrected proposal residual only {c:e}");
        let c = check_exact_gwg(&mixed, &host_configs(mixed.y_layout()), None, temp);
        assert!(c > 1e-3, "uncorrected proposal residual only {c:e}");
    }
}

#[test]
fn gwg_exact_detailed_balance_with_clamped_variable() {
    // Mixed layout, group 1 clamped at value 2: the chain lives on the conditional space.
    let model = Mlp::random(YLayout::new(vec![3, 3, 2], 2).unwrap(), 5, 1.0, 14);
    let layout = model.y_layout();
    let fixed = vec![false, true, false, false, false];
    let states = conditional_configs(layout, &fixed, &[0, 2, 0, 0, 0]);
    assert_eq!(states.len(), 24);
    let c = check_exact_gwg(&model, &states, Some(&fixed), 2.0);
    assert!(c > 1e-3);
    // Binary layout, bit 2 clamped at 1.
    let model = Mlp::random(YLayout::binary(7).unwrap(), 5, 1.0, 15);
    let fixed = vec![false, false, true, false, false, false, false];
    let states = conditional_configs(model.y_layout(), &fixed, &[0, 0, 1, 0, 0, 0, 0]);
    assert_eq!(states.len(), 64);
    let c = check_exact_gwg(&model, &states, Some(&fixed), 2.0);
    assert!(c > 1e-3);
}

// -------------------------------------------------------------------------------------------
// 5. Robustness
// -------------------------------------------------------------------------------------------

/// Log-densities scaled to ±1e3: proposals stay finite and normalised, the kernel's matrix
/// still equals the exact one (acceptances within 1e-10) and is balanced, `accept_prob` is
/// finite in [0, 1], and from a uniform spread of starts the fraction of chains that move in
/// one real step matches the exact `Σ_i (1 − P_ii) / C` within 7 binomial standard errors.
#[test]
fn gwg_extreme_scale_log_densities() {
    let (_torch, _) = seeded(21);
    for scale in [1e3, -1e3] {
        for layout in [
            YLayout::binary(6).unwrap(),
            YLayout::new(vec![3, 2], 2).unwrap(),
        ] {
            let model = Mlp::random(layout, 5, scale, 22);
            let layout = model.y_layout();
            let states = host_configs(layout);
            let free = vec![true; layout.num_vars()];
            check_proposal_enumeration_loose(&model);
            let kernel = gwg(2.0);
            let k = kernel_gwg(&model, &kernel, &states, None);
            let h = host_gwg(&model, &states, &free, 2.0);
            for (r, m) in k.rows.iter().zip(&h.moves) {
                assert!(r.3.is_finite(), "log q not finite at scale {scale}");
                assert!(r.4.is_finite() && (0.0..=1.0).contains(&r.4));
                assert!((r.4 - m.accept).abs() < 1e-10);
            }
            let pi = host_pi(&model, &states);
            assert!(detailed_balance_residual(&pi, &k.p) < 1e-10);
            assert!(stationarity_residual(&pi, &k.p) < 1e-10);
            // Real steps: 256 chains per state.
            let reps = 256;
            let idx: Vec<usize> = (0..states.len())
                .flat_map(|i| std::iter::repeat_n(i, reps))
                .collect();
            let y = configs_to_y(layout, &states, &idx);
            let state = JointState::new(&model, &dummy_x(idx.len()), &y).unwrap();
            let (next, info) = kernel.step(&model, state).unwrap();
            let a = to_f64(&info.accept_prob);
            assert!(a.iter().all(|p| p.is_finite() && (0.0..=1.0).contains(p)));
            let ends = decode_indices(layout, next.y());
            let moved = ends.iter().zip(&idx).filter(|(e, s)| e != s).count() as f64;
            let n = idx.len() as f64;
            let expect: f64 = (0..states.len()).map(|i| 1.0 - k.p[i][i]).sum::<f64>() * reps as f64;
            let sd: f64 = (0..states.len())
                .map(|i| (1.0 - k.p[i][i]) * k.p[i][i] * reps as f64)
                .sum::<f64>()
                .sqrt();
            assert!(
                expect / n > 0.01,
                "scale {scale}: nothing is expected to move"
            );
            assert!(
                (moved - expect).abs() < 7.0 * sd + 1.0,
                "scale {scale}: {moved} chains moved, expected {expect} ± {sd}"
            );
        }
    }
}

/// `check_proposal_enumeration` with the tolerance scaled to the log-density (`|f| ~ 1e3`
/// gives rounding errors of ~1e-13 in the scores).
fn check_proposal_enumeration_loose<M: HostModel>(model: &M) {
    let layout = model.y_layout();
    let configs = host_configs(layout);
    let (n, d) = (configs.len(), layout.dim());
    let ys: Vec<Vec<f64>> = configs.iter().map(|c| one_hot(layout, c)).collect();
    let state = JointState::new(model, &dummy_x(n), &rows_to_tensor(&ys, d)).unwrap();
    let prop = gwg(2.0).proposal(&state, state.y(), state.eval().grad_y(), None);
    let lq = to_f64(&prop.log_probs);
    assert!(to_bool(&prop.valid).iter().all(|&v| v));
    let free = vec![true; layout.num_vars()];
    for (b, c) in configs.iter().enumerate() {
        let expected = host_gwg_log_q(layout, c, &model.host_grad(&ys[b]), &free, 2.0);
        let row = &lq[b * d..(b + 1) * d];
        for k in 0..d {
            if expected[k] == f64::NEG_INFINITY {
                assert_eq!(row[k], f64::NEG_INFINITY);
            } else {
                assert!(row[k].is_finite());
                assert!((row[k] - expected[k]).abs() < 1e-9 * (1.0 + expected[k].abs()));
            }
        }
        let total: f64 = row.iter().map(|l| l.exp()).sum();
        assert!((total - 1.0).abs() < 1e-12);
    }
}

/// What is wrong with a configuration of [`Faulty`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    /// Finite log-density and gradient.
    Normal,
    /// `f = NaN` (finite gradient).
    NanValue,
    /// `f = +inf`.
    PosInf,
    /// `f = −inf` (probability zero; finite gradient).
    NegInf,
    /// Finite `f`, NaN gradient.
    NanGrad,
}

/// An [`Mlp`] on the layout `[3, 2] + 2 bits` (columns: group 0 = 0..3, group 1 = 3..5,
/// bit 0 = 5, bit 1 = 6) with faults injected at some configurations and some chains:
/// * state faults (see [`Faulty::fault`]): `f = NaN` where group 0 = 2 and bit 0 = 1;
///   `f = +inf` where group 0 = 0, group 1 = 1, bit 1 = 1; `f = −inf` where group 0 = 1,
///   group 1 = 0, bit 1 = 1; a NaN gradient with finite `f` where group 0 = 1 and group 1 = 1
///   (`+ 0·√(1 − y₁y₄)`, whose derivative is `0 · ∞` there);
/// * chain faults through the dummy `x`: `x = 1` gives `f = NaN` everywhere, `x = 2` gives
///   `f = +inf` everywhere, `x = 3` a NaN gradient everywhere.
struct Faulty {
    base: Mlp,
}

impl Faulty {
    fn new(seed: u64) -> Self {
        Self {
            base: Mlp::random(YLayout::new(vec![3, 2], 2).unwrap(), 5, 1.0, seed),
        }
    }

    fn fault(vals: &[usize]) -> Fault {
        match (vals[0], vals[1], vals[2], vals[3]) {
            (2, _, 1, _) => Fault::NanValue,
            (0, 1, _, 1) => Fault::PosInf,
            (1, 0, _, 1) => Fault::NegInf,
            (1, 1, _, _) => Fault::NanGrad,
            _ => Fault::Normal,
        }
    }
}

fn all_ones(y: &Tensor, cols: &[i64]) -> Tensor {
    y.index_select(1, &Tensor::from_slice(cols))
        .eq(1.0)
        .all_dim(1, false)
}

impl JointEnergy for Faulty {
    fn y_layout(&self) -> &YLayout {
        self.base.y_layout()
    }
    fn log_density_from_features(&self, h: &Tensor, y: &Tensor) -> Tensor {
        let f = self.base.log_density_from_features(h, y);
        let nan = f.full_like(f64::NAN);
        let f = nan.where_self(&all_ones(y, &[2, 5]), &f);
        let f = f
            .full_like(f64::INFINITY)
            .where_self(&all_ones(y, &[0, 4, 6]), &f);
        let f = f
            .full_like(f64::NEG_INFINITY)
            .where_self(&all_ones(y, &[1, 3, 6]), &f);
        let u: Tensor = 1.0 - y.select(1, 1) * y.select(1, 4);
        let f = f + u.sqrt() * 0.0;
        // Chain faults.
        let x0 = h.select(1, 0);
        let f = f.full_like(f64::NAN).where_self(&x0.eq(1.0), &f);
        let f = f.full_like(f64::INFINITY).where_self(&x0.eq(2.0), &f);
        let y_sum = y.sum_dim_intlist([1i64].as_slice(), false, None);
        f + ((&x0 - 3.0).abs() * y_sum).sqrt() * 0.0
    }
}

/// GWG on [`Faulty`]: from every (state, move) pair, via `step_with`, and from 256 real chains
/// per (state, chain fault) combination:
/// * nothing panics, every `accept_prob` is finite in [0, 1];
/// * a chain at a NaN / +inf / NaN-gradient state, or with a chain fault, never moves and
///   reports `accept_prob = 0`;
/// * no move into a NaN / ±inf / NaN-gradient state is ever accepted (`accept_prob = 0`);
/// * every other move has exactly the acceptance of the fault-free base energy (1 out of a
///   −inf state), so the kernel's matrix equals the expected one within 1e-10 and keeps
///   `π ∝ exp f` (zero on −inf states) invariant with detailed balance, the normal states
///   losing no mass to the faulty ones;
/// * fault-free chains still move, at the exact expected rate (within 7 standard errors).
#[test]
fn gwg_non_finite_energies_and_gradients_reject_per_chain() {
    let (_torch, _) = seeded(31);
    let energy = Faulty::new(32);
    let layout = energy.y_layout().clone();
    let states = host_configs(&layout);
    let faults: Vec<Fault> = states.iter().map(|s| Faulty::fault(s)).collect();
    // Sanity of the fault injection against the tch energy and its gradient.
    let ys: Vec<Vec<f64>> = states.iter().map(|s| one_hot(&layout, s)).collect();
    let probe = JointState::new(&energy, &dummy_x(states.len()), &rows_to_tensor(&ys, 7)).unwrap();
    let f = to_f64(probe.eval().log_density());
    let g = to_f64(probe.eval().grad_y());
    for (i, fault) in faults.iter().enumerate() {
        let grad_finite = g[i * 7..(i + 1) * 7].iter().all(|x| x.is_finite());
        let ok = match fault {
            Fault::Normal => f[i].is_finite() && grad_finite,
            Fault::NanValue => f[i].is_nan() && grad_finite,
            Fault::PosInf => f[i] == f64::INFINITY,
            Fault::NegInf => f[i] == f64::NEG_INFINITY && grad_finite,
            Fault::NanGrad => f[i].is_finite() && !grad_finite,
        };
        assert!(ok, "fault injection at {:?}: f = {}", states[i], f[i]);
    }
    for want in [
        Fault::Normal,
        Fault::NanValue,
        Fault::PosInf,
        Fault::NegInf,
        Fault::NanGrad,
    ] {
        assert!(faults.contains(&want));
    }

    // Expected matrix: the base kernel's moves between normal states. At a −inf state the
    // gradient is 0 (the `where` that injects −inf passes no gradient to the base), so the
    // proposal is uniform over its 5 single changes, and every proposal of a normal state is
    // accepted (log α = +inf).
    let free = vec![true; 4];
    let base = host_gwg(&energy.base, &states, &free, 2.0);
    let n = states.len();
    let mut expected = vec![vec![0.0; n]; n];
    let mut expected_accept = std::collections::HashMap::new();
    for m in &base.moves {
        let (q, a) = match (faults[m.from], faults[m.to]) {
            (Fault::Normal, Fault::Normal) => (m.log_q.exp(), m.accept),
            (Fault::NegInf, Fault::Normal) => (0.2, 1.0),
            _ => (0.0, 0.0),
        };
        expected[m.from][m.to] += q * a;
        expected_accept.insert((m.from, m.cell), a);
    }
    set_diagonal(&mut expected);

    let kernel = gwg(2.0);
    let k = kernel_gwg(&energy, &kernel, &states, None);
    for &(i, cell, j, _, a) in &k.rows {
        assert!(a.is_finite() && (0.0..=1.0).contains(&a), "accept_prob {a}");
        let want = expected_accept[&(i, cell)];
        assert!(
            (a - want).abs() < 1e-10,
            "{:?} ({:?}) → {:?} ({:?}): accept_prob {a}, expected {want}",
            states[i],
            faults[i],
            states[j],
            faults[j]
        );
    }
    assert!(max_abs_diff(&k.p, &expected) < 1e-10);
    // Invariance of π ∝ exp f on the normal and −inf states (π = 0 on −inf states).
    let live: Vec<usize> = (0..n)
        .filter(|&i| matches!(faults[i], Fault::Normal | Fault::NegInf))
        .collect();
    let live_f: Vec<f64> = live
        .iter()
        .map(|&i| energy.base.host_log_p(&ys[i]))
        .collect();
    let mut pi: Vec<f64> = live
        .iter()
        .zip(&live_f)
        .map(|(&i, &fi)| {
            if faults[i] == Fault::Normal {
                fi.exp()
            } else {
                0.0
            }
        })
        .collect();
    let z: f64 = pi.iter().sum();
    pi.iter_mut().for_each(|p| *p /= z);
    let sub: Vec<Vec<f64>> = live
        .iter()
        .map(|&i| live.iter().map(|&j| k.p[i][j]).collect())
        .collect();
    for (r, &i) in live.iter().enumerate() {
        if faults[i] == Fault::Normal {
            let mass: f64 = sub[r].iter().sum();
            assert!(
                (mass - 1.0).abs() < 1e-12,
                "state {:?} leaks {}",
                states[i],
                1.0 - mass
            );
        }
    }
    assert!(detailed_balance_residual(&pi, &sub) < 1e-10);
    assert!(stationarity_residual(&pi, &sub) < 1e-10);

    // Real steps: every state × chain fault (x = 0, 1, 2, 3), 256 copies each.
    let reps = 256;
    let mut start = Vec::new();
    let mut xs = Vec::new();
    for i in 0..n {
        for xf in 0..4 {
            for _ in 0..reps {
                start.push(i);
                xs.push(xf as f64);
            }
        }
    }
    let x = Tensor::from_slice(&xs).view([xs.len() as i64, 1]);
    let y = configs_to_y(&layout, &states, &start);
    let state = JointState::new(&energy, &x, &y).unwrap();
    let (next, info) = kernel.step(&energy, state).unwrap();
    let a = to_f64(&info.accept_prob);
    let acc = to_bool(&info.accepted);
    let ends = decode_indices(&layout, next.y());
    let (mut moved, mut expect, mut var) = (0.0, 0.0, 0.0);
    for r in 0..start.len() {
        assert!(
            a[r].is_finite() && (0.0..=1.0).contains(&a[r]),
            "accept_prob {}",
            a[r]
        );
        assert_eq!(acc[r], ends[r] != start[r]);
        let i = start[r];
        let frozen =
            xs[r] != 0.0 || matches!(faults[i], Fault::NanValue | Fault::PosInf | Fault::NanGrad);
        if frozen {
            assert_eq!(ends[r], i, "a faulty chain moved");
            assert_eq!(a[r], 0.0, "a faulty chain reported accept_prob {}", a[r]);
        } else {
            assert!(
                expected[i][ends[r]] > 0.0,
                "impossible move {:?} → {:?}",
                states[i],
                states[ends[r]]
            );
            if faults[i] == Fault::Normal {
                let p_move = 1.0 - expected[i][i];
                moved += f64::from(u8::from(ends[r] != i));
                expect += p_move;
                var += p_move * (1.0 - p_move);
            }
        }
    }
    assert!(expect > 0.05 * (reps * live.len()) as f64);
    assert!(
        (moved - expect).abs() < 7.0 * var.sqrt() + 1.0,
        "fault-free chains moved {moved} times, expected {expect} ± {}",
        var.sqrt()
    );
}

/// ExactGibbs on [`Faulty`]: nothing panics; `accept_prob` is 0 or 1; chains whose log-density
/// is NaN or +inf everywhere (chain faults) never move and report 0; a chain whose chosen
/// variable has a non-finite candidate stays; so no chain ever enters a NaN / ±inf state
/// (NaN gradients are irrelevant to Gibbs); and the empirical one-step frequencies of fault-free
/// chains match the exact matrix of that rule (`|p̂ − P| < 7 √(P(1−P)/n) + 0.003`).
#[test]
fn gibbs_non_finite_energies_reject_per_chain() {
    let (_torch, _) = seeded(33);
    let energy = Faulty::new(34);
    let layout = energy.y_layout().clone();
    let states = host_configs(&layout);
    let faults: Vec<Fault> = states.iter().map(|s| Faulty::fault(s)).collect();
    let n = states.len();
    let idx = index_map(&states);
    // Exact matrix of the documented rule.
    let base_f: Vec<f64> = states
        .iter()
        .map(|s| energy.base.host_log_p(&one_hot(&layout, s)))
        .collect();
    let finite = |j: usize| matches!(faults[j], Fault::Normal | Fault::NanGrad);
    let mut expected = vec![vec![0.0; n]; n];
    for (i, s) in states.iter().enumerate() {
        for v in 0..4 {
            let cands: Vec<usize> = (0..layout.cardinality(v))
                .map(|k| idx[&with_value(s, v, k)])
                .collect();
            if cands.iter().all(|&j| finite(j)) {
                let lp = log_softmax(&cands.iter().map(|&j| base_f[j]).collect::<Vec<_>>());
                for (&j, l) in cands.iter().zip(lp) {
                    expected[i][j] += l.exp() / 4.0;
                }
            } else {
                expected[i][i] += 0.25;
            }
        }
    }
    let reps = 2048;
    let mut start = Vec::new();
    let mut xs = Vec::new();
    for i in 0..n {
        for xf in [0.0, 0.0, 1.0, 2.0] {
            for _ in 0..reps / 2 {
                start.push(i);
                xs.push(xf);
            }
        }
    }
    let x = Tensor::from_slice(&xs).view([xs.len() as i64, 1]);
    let y = configs_to_y(&layout, &states, &start);
    let state = JointState::new(&energy, &x, &y).unwrap();
    let (next, info) = ExactGibbs.step(&energy, state).unwrap();
    let a = to_f64(&info.accept_prob);
    let ends = decode_indices(&layout, next.y());
    let mut hist = vec![vec![0u64; n]; n];
    for r in 0..start.len() {
        assert!(a[r] == 0.0 || a[r] == 1.0, "accept_prob {}", a[r]);
        if xs[r] != 0.0 {
            assert_eq!(ends[r], start[r]);
            assert_eq!(a[r], 0.0);
        } else {
            hist[start[r]][ends[r]] += 1;
            if ends[r] != start[r] {
                assert!(
                    finite(ends[r]),
                    "entered {:?} ({:?})",
                    states[ends[r]],
                    faults[ends[r]]
                );
            }
        }
    }
    assert_rows_match(&hist, &expected, "ExactGibbs on Faulty");
}

/// `|p̂_ij − P_ij| < 7 √(P_ij (1 − P_ij) / n_i) + 0.003` for every start `i` and end `j`, and
/// `p̂_ij = 0` exactly where `P_ij = 0`.
fn assert_rows_match(hist: &[Vec<u64>], p: &[Vec<f64>], what: &str) {
    for (i, row) in hist.iter().enumerate() {
        let n: u64 = row.iter().sum();
        for (j, &c) in row.iter().enumerate() {
            let phat = c as f64 / n as f64;
            let pij = p[i][j].clamp(0.0, 1.0);
            if pij < 1e-12 {
                assert_eq!(
                    c, 0,
                    "{what}: impossible transition {i} → {j} observed {c} times"
                );
            }
            let bound = 7.0 * (pij * (1.0 - pij) / n as f64).sqrt() + 0.003;
            assert!(
                (phat - pij).abs() < bound,
                "{what}: P[{i}][{j}] = {pij}, observed {phat} (n = {n})"
            );
        }
    }
}

/// Chains whose variables are all clamped (per-chain `[B, V]` mask, and the `[V]` mask) never
/// move and report `accept_prob = 0` under both kernels, over several steps; the free chains of
/// the same batch do move.
#[test]
fn fully_clamped_chains_never_move() {
    let (_torch, _) = seeded(41);
    let model = Mlp::random(YLayout::new(vec![3, 2], 2).unwrap(), 5, 1.0, 42);
    let layout = model.y_layout().clone();
    let mut rng = StdRng::seed_from_u64(43);
    let b = 512usize;
    let y0 = uniform_y(&layout, b, &mut rng);
    let start = decode_indices(&layout, &y0);
    let mask: Vec<bool> = (0..b)
        .flat_map(|r| std::iter::repeat_n(r % 2 == 0, 4))
        .collect();
    let mask = Tensor::from_slice(&mask).view([b as i64, 4]);
    let run = |kernel: &dyn Fn(JointState) -> (JointState, ebm_core::StepInfo)| {
        let mut state = JointState::new(&model, &dummy_x(b), &y0)
            .unwrap()
            .with_fixed_y(&mask)
            .unwrap();
        let mut moved_free = 0;
        for _ in 0..5 {
            let (next, info) = kernel(state);
            let a = to_f64(&info.accept_prob);
            let acc = to_bool(&info.accepted);
            let ends = decode_indices(&layout, next.y());
            for r in 0..b {
                assert!(a[r].is_finite() && (0.0..=1.0).contains(&a[r]));
                if r % 2 == 0 {
                    assert_eq!(ends[r], start[r], "clamped chain {r} moved");
                    assert_eq!(a[r], 0.0);
                    assert!(!acc[r]);
                } else if acc[r] {
                    moved_free += 1;
                }
            }
            state = next;
        }
        assert!(
            moved_free > b / 4,
            "free chains moved only {moved_free} times in 5 steps"
        );
        // All chains clamped through the [V] mask.
        let all = Tensor::from_slice(&[true; 4]);
        let state = JointState::new(&model, &dummy_x(b), &y0)
            .unwrap()
            .with_fixed_y(&all)
            .unwrap();
        let (next, info) = kernel(state);
        assert!(next.y().equal(&y0));
        assert!(to_f64(&info.accept_prob).iter().all(|&a| a == 0.0));
        assert!(!to_bool(&info.accepted).iter().any(|&a| a));
    };
    let g = gwg(2.0);
    run(&|s| g.step(&model, s).unwrap());
    run(&|s| ExactGibbs.step(&model, s).unwrap());
}

// -------------------------------------------------------------------------------------------
// 6. Counting
// -------------------------------------------------------------------------------------------

/// Pins the cost of a step with a counting wrapper and `eval::backward_passes()`: GWG makes
/// exactly 1 head forward over `B` rows and 1 head backward per step; ExactGibbs exactly 2
/// head forwards (the `B · K_max` candidates without gradients, then the `B` chosen rows) and 1
/// backward. Neither recomputes the feature
/// stage nor backpropagates through it (checked with an energy that has one).
#[test]
fn evaluations_per_step_are_pinned() {
    let (_torch, _) = seeded(51);
    let layout = YLayout::new(vec![3, 4], 2).unwrap();
    let b = 64usize;
    let mut rng = StdRng::seed_from_u64(52);
    let y0 = uniform_y(&layout, b, &mut rng);
    let steps = 7u64;
    let k_max = 4u64;
    for with_features in [false, true] {
        let energy = Counting::new(Mlp::random(layout.clone(), 4, 1.0, 53), with_features);
        let gw = gwg(2.0);
        type Stepper<'a> = Box<dyn Fn(JointState) -> JointState + 'a>;
        // (name, step, head forwards per step, head rows per step)
        let kernels: Vec<(&str, Stepper, u64, u64)> = vec![
            (
                "gwg",
                Box::new(|s| gw.step(&energy, s).unwrap().0),
                1,
                b as u64,
            ),
            (
                "gibbs",
                Box::new(|s| ExactGibbs.step(&energy, s).unwrap().0),
                2,
                b as u64 * k_max + b as u64,
            ),
        ];
        for (name, step, forwards_per_step, rows_per_step) in kernels {
            let mut state = JointState::new(&energy, &dummy_x(b), &y0).unwrap();
            let (f0, r0, h0) = (
                energy.head_forwards.get(),
                energy.head_rows.get(),
                energy.feature_forwards.get(),
            );
            let (b0, fb0) = (eval::backward_passes(), eval::feature_backward_passes());
            for _ in 0..steps {
                state = step(state);
            }
            assert_eq!(
                energy.head_forwards.get() - f0,
                steps * forwards_per_step,
                "{name}: head forwards"
            );
            assert_eq!(
                energy.head_rows.get() - r0,
                steps * rows_per_step,
                "{name}: rows"
            );
            assert_eq!(
                eval::backward_passes() - b0,
                steps,
                "{name}: head backwards"
            );
            assert_eq!(
                energy.feature_forwards.get() - h0,
                0,
                "{name}: feature forwards"
            );
            assert_eq!(
                eval::feature_backward_passes() - fb0,
                0,
                "{name}: feature backwards"
            );
            drop(state);
        }
    }
}
