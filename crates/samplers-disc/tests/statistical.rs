//! Statistical tests of the discrete kernels on enumerable targets (ignored by default; run
//! with `cargo test -p samplers-disc --test statistical -- --ignored --nocapture`).
//!
//! * **Total variation** (GWG): many independent chains from the uniform distribution, a
//!   burn-in justified by a pilot estimate of the integrated autocorrelation time, the final
//!   states taken as iid draws (ESS = number of chains); their TV to the exact distribution
//!   (every state enumerated) must stay below the 99.9% quantile of the TV of the same number
//!   of iid exact draws (Monte-Carlo, 200 replications, mean + 3.09 sd).
//! * **Target conservation** (GWG and ExactGibbs): chains started from exact draws must still
//!   be exact draws after 1 and 10 applications of the kernel (TV against the same quantile;
//!   pooled χ² where there are at least 5 chains per state), and must actually have moved: the fraction of chains that
//!   moved in one step must equal the exact `E_π[1 − P(y, y)]` within 7 standard errors.
//!
//! All six tests together: ~5.5 min (they run one at a time, see `common::seeded`).
//!
//! Targets: the 4×4 periodic Ising model (bits) with J = 0.1 and J = 0.44, the 3×3 periodic
//! Potts model with 3 states and J = 0.5 (one-hot groups), and a tanh-MLP energy on 5
//! categorical groups of 4 values. Everything in `f64` on the CPU with fixed seeds.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use ebm_core::{diagnostics, DiscreteKernel, JointEnergy, JointState, YLayout};
use rand::rngs::StdRng;
use samplers_disc::{Dmala, DmalaConfig, ExactGibbs, Gwg, GwgConfig};
use std::time::Instant;
use tch::{Kind, Tensor};

/// Seeds torch and the host RNG, and runs libtorch with one intra-op thread (override with
/// `STAT_THREADS=n`). On the shared 2-core machine, libtorch's default of one thread per core
/// made these tests 3–6× slower as soon as anything else ran (370 s instead of 64 s for the MLP
/// test). The tests of this file run one at a time (see [`seeded`]), so runs are reproducible.
fn setup(seed: u64) -> (std::sync::MutexGuard<'static, ()>, StdRng) {
    let threads = std::env::var("STAT_THREADS").map_or(1, |t| t.parse().unwrap());
    tch::set_num_threads(threads);
    seeded(seed)
}

/// Monitored statistics `[B, S]` of a batch `y` `[B, D]` (for autocorrelation times).
type Stats = fn(&Tensor) -> Tensor;

/// An enumerable target: the model, its configurations and exact probabilities.
struct Target<M> {
    name: &'static str,
    model: M,
    configs: Vec<Vec<usize>>,
    pi: Vec<f64>,
    cdf: Vec<f64>,
    stats: Stats,
}

impl<M: HostModel> Target<M> {
    fn new(name: &'static str, model: M, stats: Stats) -> Self {
        let configs = host_configs(model.y_layout());
        let pi = host_pi(&model, &configs);
        let total: f64 = pi.iter().sum();
        assert!((total - 1.0).abs() < 1e-12);
        Self {
            name,
            cdf: cdf(&pi),
            model,
            configs,
            pi,
            stats,
        }
    }

    fn layout(&self) -> &YLayout {
        self.model.y_layout()
    }

    /// `n` iid exact draws as indices and as `y` `[n, D]`.
    fn exact_draws(&self, n: usize, rng: &mut StdRng) -> (Vec<usize>, Tensor) {
        let idx = sample_exact(&self.cdf, n, rng);
        let y = configs_to_y(self.layout(), &self.configs, &idx);
        (idx, y)
    }
}

/// `|Σ s_i|` and the number of agreeing minus disagreeing edges of an Ising batch: the slowest
/// modes that are invariant under the global flip `s → −s`. The uniform start, the target and
/// the kernel are all flip-invariant, so the deviation from `π` lives in the flip-invariant
/// functions and the sign of the magnetisation (whose autocorrelation time is far longer at
/// J = 0.44) never needs to mix.
fn ising_stats(y: &Tensor) -> Tensor {
    let s = y * 2.0 - 1.0;
    let m = s
        .sum_dim_intlist([1i64].as_slice(), true, Kind::Double)
        .abs();
    let e = Ising::new(4, 1.0)
        .log_density(&dummy_x(y.size()[0] as usize), y)
        .unsqueeze(1);
    Tensor::cat(&[m, e], 1)
}

/// `Σ_c n_c²` (colour counts `n_c`) and the number of agreeing edges of a 3×3, 3-state Potts
/// batch: slow modes invariant under permutations of the colours (the uniform start, the
/// target and the kernel are all permutation-invariant, so only such functions need to mix).
fn potts_stats(y: &Tensor) -> Tensor {
    let counts = y
        .view([-1, 9, 3])
        .sum_dim_intlist([1i64].as_slice(), false, Kind::Double);
    let sq = (&counts * &counts).sum_dim_intlist([1i64].as_slice(), true, Kind::Double);
    let agree = Potts::new(3, 3, 1.0)
        .log_density(&dummy_x(y.size()[0] as usize), y)
        .unsqueeze(1);
    Tensor::cat(&[sq, agree], 1)
}

/// Every column of `y` (value indicators) — for the MLP target.
fn column_stats(y: &Tensor) -> Tensor {
    y.to_kind(Kind::Double)
}

/// Integrated autocorrelation times (in kernel steps) of the target's statistics, from a pilot
/// of `chains` chains started from exact draws (so stationary from the start) and run for
/// `steps` steps: `τ = chains · steps / ESS` with Stan's multi-chain ESS
/// (`ebm_core::diagnostics::effective_sample_size`).
fn pilot_tau<M: HostModel, K: DiscreteKernel>(
    target: &Target<M>,
    kernel: &K,
    chains: usize,
    steps: usize,
    rng: &mut StdRng,
) -> Vec<f64> {
    let (_, y) = target.exact_draws(chains, rng);
    let mut state = JointState::new(&target.model, &dummy_x(chains), &y).unwrap();
    let mut trace = Vec::with_capacity(steps);
    for _ in 0..steps {
        state = kernel.step(&target.model, state).unwrap().0;
        trace.push((target.stats)(state.y()));
    }
    let t = Tensor::stack(&trace, 0); // [steps, chains, S]
    let s = t.size()[2] as usize;
    let flat = to_f64(&t);
    (0..s)
        .map(|k| {
            let per_chain: Vec<Vec<f64>> = (0..chains)
                .map(|c| (0..steps).map(|i| flat[(i * chains + c) * s + k]).collect())
                .collect();
            let ess = diagnostics::effective_sample_size(&per_chain);
            (chains * steps) as f64 / ess
        })
        .collect()
}

/// The TV test of GWG on `target` (see the module docs). The burn-in must be at least
/// `20 τ_max` (pilot estimate): for a reversible chain, `TV(μ_t, π) ≤ ½ √χ²(μ_0‖π) · λ^t` with
/// `λ = 1 − 1/t_rel`, and `t_rel ≈ τ_int / 2` for the slowest mode, so 20 τ ≈ 40 t_rel
/// multiplies the initial `√χ²` (below `√(max π / min π) ≤ e^{14}` for these targets) by
/// `e^{−40}`: a bias below 1e-11, far under the TV resolution. The pilot must be long enough
/// for its own estimate (`steps ≥ 50 τ_max`).
fn gwg_tv_test<M: HostModel>(
    target: &Target<M>,
    n_chains: usize,
    burn_in: usize,
    pilot: (usize, usize),
    seed: u64,
) {
    tv_test(
        target,
        &Gwg::new(GwgConfig::default()).unwrap(),
        n_chains,
        burn_in,
        pilot,
        seed,
    );
}

/// [`gwg_tv_test`] for any kernel.
fn tv_test<M: HostModel, K: DiscreteKernel>(
    target: &Target<M>,
    kernel: &K,
    n_chains: usize,
    burn_in: usize,
    pilot: (usize, usize),
    seed: u64,
) {
    let (_torch, mut rng) = setup(seed);
    let t0 = Instant::now();
    let taus = pilot_tau(target, kernel, pilot.0, pilot.1, &mut rng);
    let tau = taus.iter().copied().fold(0.0, f64::max);
    let t_pilot = t0.elapsed().as_secs_f64();
    println!(
        "[{}] pilot: {} chains × {} steps, τ_int per statistic = {:.1?} → τ_max = {tau:.1} \
         steps ({t_pilot:.1} s)",
        target.name, pilot.0, pilot.1, taus
    );
    assert!(
        pilot.1 as f64 >= 50.0 * tau,
        "pilot too short for τ = {tau}"
    );
    assert!(
        burn_in as f64 >= 20.0 * tau,
        "[{}] burn-in {burn_in} < 20 τ = {}",
        target.name,
        20.0 * tau
    );

    let t1 = Instant::now();
    let layout = target.layout();
    let y0 = uniform_y(layout, n_chains, &mut rng);
    let mut state = JointState::new(&target.model, &dummy_x(n_chains), &y0).unwrap();
    let mut acc = 0.0;
    for _ in 0..burn_in {
        let (next, info) = kernel.step(&target.model, state).unwrap();
        acc += info.accept_prob.mean(Kind::Double).double_value(&[]);
        state = next;
    }
    let t_run = t1.elapsed().as_secs_f64();
    let ends = decode_indices(layout, state.y());
    let observed = tv(&counts(&ends, target.pi.len()), &target.pi);
    let (mean, sd, threshold) = iid_tv_quantile(&target.pi, n_chains, 200, &mut rng);
    println!(
        "[{}] {}: {n_chains} chains (ESS = {n_chains}) × {burn_in} steps from uniform \
         ({t_run:.1} s, mean accept {:.3}): TV = {observed:.5}; iid TV {mean:.5} ± {sd:.5}, \
         threshold (99.9%) {threshold:.5}; {} states; total {:.1} s",
        target.name,
        kernel.name(),
        acc / burn_in as f64,
        target.pi.len(),
        t0.elapsed().as_secs_f64()
    );
    assert!(
        observed < threshold,
        "[{}] TV {observed} ≥ 99.9% iid quantile {threshold}",
        target.name
    );
}

/// Exact `E_π[P(move)]` of GWG (temperature 2) on a target, from the host closed forms
/// (no dense matrix): `Σ_i π_i Σ_c q(c | i) α(i, c)`.
fn gwg_move_rate<M: HostModel>(target: &Target<M>) -> f64 {
    let layout = target.layout();
    let idx = index_map(&target.configs);
    let free = vec![true; layout.num_vars()];
    let f: Vec<f64> = target
        .configs
        .iter()
        .map(|c| target.model.host_log_p(&one_hot(layout, c)))
        .collect();
    let lq: Vec<Vec<f64>> = target
        .configs
        .iter()
        .map(|c| {
            let g = target.model.host_grad(&one_hot(layout, c));
            host_gwg_log_q(layout, c, &g, &free, 2.0)
        })
        .collect();
    let mut rate = 0.0;
    for (i, c) in target.configs.iter().enumerate() {
        for (cell, &l) in lq[i].iter().enumerate() {
            if l == f64::NEG_INFINITY {
                continue;
            }
            let (v, k) = cell_move(layout, c, cell).unwrap();
            let j = idx[&with_value(c, v, k)];
            let back = lq[j][reverse_cell(layout, c, v)];
            let alpha = (f[j] - f[i] + back - l).min(0.0).exp();
            rate += target.pi[i] * l.exp() * alpha;
        }
    }
    rate
}

/// Exact `E_π[P(move)]` of random-scan Gibbs: `Σ_i π_i (1/V) Σ_v (1 − p(y_v | y_−v))`.
fn gibbs_move_rate<M: HostModel>(target: &Target<M>) -> f64 {
    let layout = target.layout();
    let idx = index_map(&target.configs);
    let nv = layout.num_vars();
    let mut rate = 0.0;
    for (i, c) in target.configs.iter().enumerate() {
        for v in 0..nv {
            let z: f64 = (0..layout.cardinality(v))
                .map(|k| target.pi[idx[&with_value(c, v, k)]])
                .sum();
            rate += target.pi[i] * (1.0 - target.pi[i] / z) / nv as f64;
        }
    }
    rate
}

/// Target conservation (TFP's pattern) for one kernel: `n` chains from exact draws; after 1
/// and after 10 steps the empirical distribution must pass TV against the iid 99.9% quantile
/// (and the pooled χ² against χ²₀.₉₉₉ where `n` ≥ 5 × states); the fraction of chains that
/// moved in the first step must be within 7 binomial standard errors of the exact rate
/// `move_rate` (which itself must be clearly positive), and the fraction of chains that moved
/// at least once in 10 steps must be at least that large (minus the same margin).
fn conservation<M: HostModel, K: DiscreteKernel>(
    target: &Target<M>,
    kernel: &K,
    move_rate: f64,
    n: usize,
    tv_threshold: f64,
    rng: &mut StdRng,
) {
    let t0 = Instant::now();
    let layout = target.layout();
    let (start, y) = target.exact_draws(n, rng);
    let mut state = JointState::new(&target.model, &dummy_x(n), &y).unwrap();
    let mut ever = Tensor::zeros([n as i64], (Kind::Bool, tch::Device::Cpu));
    let sd = (move_rate * (1.0 - move_rate) / n as f64).sqrt();
    assert!(
        move_rate > 0.02,
        "exact move rate {move_rate} too small to be a check"
    );
    for step in 1..=10 {
        let prev = state.y().shallow_clone();
        let (next, info) = kernel.step(&target.model, state).unwrap();
        let a = to_f64(&info.accept_prob);
        assert!(a.iter().all(|p| p.is_finite() && (0.0..=1.0).contains(p)));
        // "Moved" = the state changed (ExactGibbs reports every redraw as accepted, even one
        // that redraws the current value).
        ever = ever.logical_or(&next.y().ne_tensor(&prev).any_dim(1, false));
        state = next;
        if step != 1 && step != 10 {
            continue;
        }
        let ends = decode_indices(layout, state.y());
        let changed = ends.iter().zip(&start).filter(|(a, b)| a != b).count() as f64 / n as f64;
        let ever_moved = to_bool(&ever).iter().filter(|&&m| m).count() as f64 / n as f64;
        let c = counts(&ends, target.pi.len());
        let d = tv(&c, &target.pi);
        let chi = (n >= 5 * target.pi.len()).then(|| {
            let (stat, df) = chi2_pooled(&c, &target.pi);
            (stat, df, chi2_quantile_999(df))
        });
        println!(
            "[{} / {}] after {step} step(s): TV = {d:.5} (threshold {tv_threshold:.5}), χ² = \
             {chi:.1?}, state changed {changed:.4}, moved at least once {ever_moved:.4}, exact \
             one-step move rate {move_rate:.4} ± {sd:.4}",
            target.name,
            kernel.name()
        );
        assert!(
            d < tv_threshold,
            "distribution moved: TV {d} ≥ {tv_threshold}"
        );
        if let Some((stat, df, q)) = chi {
            assert!(stat < q, "χ² = {stat} ≥ χ²_0.999({df}) = {q}");
        }
        if step == 1 {
            assert!(
                (ever_moved - move_rate).abs() < 7.0 * sd,
                "one-step move fraction {ever_moved}, exact {move_rate} ± {sd}"
            );
            assert_eq!(changed, ever_moved);
        } else {
            assert!(
                ever_moved > move_rate - 7.0 * sd,
                "only {ever_moved} of the chains moved in 10 steps"
            );
        }
    }
    println!(
        "[{} / {}] conservation checks took {:.1} s",
        target.name,
        kernel.name(),
        t0.elapsed().as_secs_f64()
    );
}

fn ising(j: f64) -> Target<Ising> {
    let name = if j < 0.2 {
        "Ising 4x4 J=0.1"
    } else {
        "Ising 4x4 J=0.44"
    };
    Target::new(name, Ising::new(4, j), ising_stats)
}

fn potts() -> Target<Potts> {
    Target::new("Potts 3x3 K=3 J=0.5", Potts::new(3, 3, 0.5), potts_stats)
}

fn categorical_mlp() -> Target<Mlp> {
    let layout = YLayout::categorical(vec![4; 5]).unwrap();
    Target::new(
        "MLP 5 groups x 4",
        Mlp::random(layout, 8, 1.0, 2024),
        column_stats,
    )
}

/// 4×4 periodic Ising, J = 0.1: GWG from uniform, TV against the iid 99.9% quantile.
/// 100 000 chains × 300 steps (pilot τ ≈ 10 steps). Measured: 67–75 s on the shared 2-core
/// machine under load (one libtorch thread).
#[test]
#[ignore]
fn gwg_tv_ising_4x4_weak_coupling() {
    gwg_tv_test(&ising(0.1), 100_000, 300, (64, 6000), 7001);
}

/// 4×4 periodic Ising, J = 0.44 (near the critical coupling): GWG from uniform, TV against
/// the iid 99.9% quantile. 50 000 chains × 900 steps (pilot τ ≈ 32 steps for the
/// flip-invariant statistics). Measured: 55–86 s on the shared 2-core machine.
#[test]
#[ignore]
fn gwg_tv_ising_4x4_critical_coupling() {
    gwg_tv_test(&ising(0.44), 50_000, 900, (64, 8000), 7002);
}

/// 3×3 periodic Potts, 3 states, J = 0.5: GWG from uniform, TV against the iid 99.9%
/// quantile. 40 000 chains × 400 steps (pilot τ ≈ 12 steps). Measured: 62 s on the shared
/// 2-core machine.
#[test]
#[ignore]
fn gwg_tv_potts_3x3() {
    gwg_tv_test(&potts(), 40_000, 400, (64, 6000), 7003);
}

/// Tanh-MLP energy on 5 categorical groups of 4 values (1024 states): GWG from uniform, TV
/// against the iid 99.9% quantile. 50 000 chains × 400 steps (pilot τ ≈ 13 steps).
/// Measured: 62–72 s on the shared 2-core machine.
#[test]
#[ignore]
fn gwg_tv_categorical_mlp() {
    gwg_tv_test(&categorical_mlp(), 50_000, 400, (64, 2000), 7004);
}

/// Target conservation for GWG on all four targets (100 000 chains each). Measured: ~15 s.
#[test]
#[ignore]
fn gwg_conserves_exact_draws() {
    let (_torch, mut rng) = setup(7101);
    let kernel = Gwg::new(GwgConfig::default()).unwrap();
    let n = 100_000;
    for t in [ising(0.1), ising(0.44)] {
        let thr = iid_tv_quantile(&t.pi, n, 200, &mut rng).2;
        conservation(&t, &kernel, gwg_move_rate(&t), n, thr, &mut rng);
    }
    let t = potts();
    let thr = iid_tv_quantile(&t.pi, n, 200, &mut rng).2;
    conservation(&t, &kernel, gwg_move_rate(&t), n, thr, &mut rng);
    let t = categorical_mlp();
    let thr = iid_tv_quantile(&t.pi, n, 200, &mut rng).2;
    conservation(&t, &kernel, gwg_move_rate(&t), n, thr, &mut rng);
}

/// Target conservation for ExactGibbs on all four targets (100 000 chains each). Measured:
/// ~20 s.
#[test]
#[ignore]
fn gibbs_conserves_exact_draws() {
    let (_torch, mut rng) = setup(7102);
    let n = 100_000;
    for t in [ising(0.1), ising(0.44)] {
        let thr = iid_tv_quantile(&t.pi, n, 200, &mut rng).2;
        conservation(&t, &ExactGibbs, gibbs_move_rate(&t), n, thr, &mut rng);
    }
    let t = potts();
    let thr = iid_tv_quantile(&t.pi, n, 200, &mut rng).2;
    conservation(&t, &ExactGibbs, gibbs_move_rate(&t), n, thr, &mut rng);
    let t = categorical_mlp();
    let thr = iid_tv_quantile(&t.pi, n, 200, &mut rng).2;
    conservation(&t, &ExactGibbs, gibbs_move_rate(&t), n, thr, &mut rng);
}

/// Exact `E_π[P(move)]` of DMALA with step `alpha` on a target, from the definition:
/// `Σ_i π_i Σ_{j ≠ i} q(j | i) α(i, j)` over every pair (small targets only).
fn dmala_move_rate<M: HostModel>(target: &Target<M>, alpha: f64) -> f64 {
    let layout = target.layout();
    let nv = layout.num_vars();
    let free = vec![true; nv];
    let f: Vec<f64> = target
        .configs
        .iter()
        .map(|c| target.model.host_log_p(&one_hot(layout, c)))
        .collect();
    let per: Vec<Vec<Vec<f64>>> = target
        .configs
        .iter()
        .map(|c| {
            let g = target.model.host_grad(&one_hot(layout, c));
            host_dmala_var_log_q(layout, c, &g, &free, alpha)
        })
        .collect();
    let lq = |i: usize, j: usize| -> f64 { (0..nv).map(|v| per[i][v][target.configs[j][v]]).sum() };
    let n = target.configs.len();
    let mut rate = 0.0;
    for i in 0..n {
        for j in 0..n {
            if i != j {
                let (fwd, back) = (lq(i, j), lq(j, i));
                let a = (f[j] - f[i] + back - fwd).min(0.0).exp();
                rate += target.pi[i] * fwd.exp() * a;
            }
        }
    }
    rate
}

fn dmala(alpha: f64) -> Dmala {
    Dmala::new(DmalaConfig {
        step_size: alpha,
        adjusted: true,
        group_step_size: None,
    })
    .unwrap()
}

/// 4×4 periodic Ising, J = 0.44: DMALA (α = 0.2) from uniform, TV against the iid 99.9%
/// quantile. 50 000 chains × 900 steps.
#[test]
#[ignore]
fn dmala_tv_ising_4x4_critical_coupling() {
    tv_test(&ising(0.44), &dmala(0.2), 50_000, 900, (64, 8000), 7201);
}

/// 3×3 periodic Potts, 3 states, J = 0.5: DMALA (α = 0.5) from uniform, TV against the iid
/// 99.9% quantile. 40 000 chains × 400 steps.
#[test]
#[ignore]
fn dmala_tv_potts_3x3() {
    tv_test(&potts(), &dmala(0.5), 40_000, 400, (64, 6000), 7202);
}

/// Target conservation for DMALA on a 3×3 Ising model (J = 0.44, 512 states) and the
/// categorical MLP (1 024 states), whose exact move rates can be enumerated over all pairs.
#[test]
#[ignore]
fn dmala_conserves_exact_draws() {
    let (_torch, mut rng) = setup(7203);
    let n = 100_000;
    let t = Target::new("Ising 3x3 J=0.44", Ising::new(3, 0.44), ising_stats);
    let k = dmala(0.2);
    let thr = iid_tv_quantile(&t.pi, n, 200, &mut rng).2;
    conservation(&t, &k, dmala_move_rate(&t, 0.2), n, thr, &mut rng);
    let t = categorical_mlp();
    let k = dmala(0.5);
    let thr = iid_tv_quantile(&t.pi, n, 200, &mut rng).2;
    conservation(&t, &k, dmala_move_rate(&t, 0.5), n, thr, &mut rng);
}
