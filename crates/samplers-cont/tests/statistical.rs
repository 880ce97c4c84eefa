//! Statistical tests (docs/SAMPLER-TESTING.md items 8 and 9), `#[ignore]`d: run with
//! `cargo test -p samplers-cont --test statistical -- --ignored --nocapture`.
//! Thresholds come from the statistics (Monte-Carlo standard errors from the effective sample
//! size, Bonferroni-corrected KS levels), never from a seed.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use ebm_core::{seed_everything, ContinuousKernel, FnEnergy, JointEnergy, JointState};
use rand::Rng;
use samplers_cont::{Langevin, LangevinConfig, Mala, MalaConfig};
use std::time::Instant;
use tch::{Kind, Tensor};

/// `N(0, s²)` in 1-D: `f(x) = −x²/(2s²)` (higher = more probable); `y` is ignored.
fn gaussian_1d(s: f64) -> impl JointEnergy {
    FnEnergy::new(layout(), move |x: &Tensor, _y: &Tensor| {
        x.select(1, 0).square() / (-2.0 * s * s)
    })
}

const CHAINS: i64 = 4000;
const GROUPS: i64 = 40;
const BURN_IN: usize = 300;
const KEPT: usize = 2000;

/// Runs `CHAINS` chains of `kernel` on `N(0, s²)` from exact draws, discards `BURN_IN` steps and
/// records, for each of `KEPT` steps, the mean of `x²` over each of `GROUPS` groups of chains.
/// Returns `(E[x²] estimate, its MCSE, ESS, mean acceptance probability)`; the MCSE treats the
/// groups as independent stationary series (they are) and uses their effective sample size.
fn second_moment<K: ContinuousKernel>(kernel: &K, s: f64, seed: u64) -> (f64, f64, f64, f64) {
    let energy = gaussian_1d(s);
    seed_everything(seed);
    let x = Tensor::randn([CHAINS, 1], OPTS) * s;
    let y = one_hot(&alternating_classes(CHAINS as usize));
    let mut state = JointState::new(&energy, &x, &y).unwrap();
    let mut series = vec![Vec::with_capacity(KEPT); GROUPS as usize];
    let mut accept = Tensor::zeros([CHAINS], OPTS);
    for t in 0..BURN_IN + KEPT {
        let (next, info) = kernel.step(&energy, state).unwrap();
        state = next;
        if t >= BURN_IN {
            accept += &info.accept_prob;
            let z = state.x().square().reshape([GROUPS, -1]).mean_dim(
                [1i64].as_slice(),
                false,
                Kind::Double,
            );
            for (g, v) in to_vec(&z).into_iter().enumerate() {
                series[g].push(v);
            }
        }
    }
    let (m, mcse, ess) = mean_and_mcse(&series);
    let acc = accept.mean(Kind::Double).double_value(&[]) / KEPT as f64;
    (m, mcse, ess, acc)
}

/// Stationary variance of `x ← x + a ∇f + σ ξ` on `N(0, s²)`: the AR(1) `x ← (1 − a/s²) x + σ ξ`
/// has variance `σ² / (1 − (1 − a/s²)²) = σ² / (2a/s² − a²/s⁴)`.
fn langevin_variance(a: f64, sigma: f64, s: f64) -> f64 {
    let s2 = s * s;
    sigma * sigma / (2.0 * a / s2 - a * a / (s2 * s2))
}

/// docs/SAMPLER-TESTING.md item 9. Unadjusted Langevin on `N(0, s²)` has the closed-form stationary
/// variance `σ²/(2a/s² − a²/s⁴)`: the measured `E[x²]` is within 3 MCSE of it and, the bias
/// being many MCSE, **not** within 3 MCSE of `s²` (catches ε vs ε²/2 mix-ups: the paper
/// configurations are built with `from_paper` and the formula uses our own `a = ε²/(2λ)`,
/// `σ = ε`). MALA with the same and larger steps hits `s²` within 3 MCSE.
/// 4000 chains × (300 burn-in + 2000 kept) steps per configuration, 6 configurations.
///
/// Measured run time: 13 s alone, 23 s beside the other ignored test on a loaded 2-core machine
/// (test profile, `f64` on CPU). A 16-seed calibration run of the first configuration gave
/// z-scores with mean 0.06 and sd 1.16, and the MCSE agreed with a between-chain estimate.
#[test]
#[ignore = "statistical, ~15 s"]
fn closed_form_bias_of_langevin_and_exactness_of_mala() {
    let _g = torch_rng_lock();
    let t0 = Instant::now();
    // (ε, λ, s) through the paper's parametrisation, plus one direct (a, σ).
    let langevin_cases: [(&str, LangevinConfig, f64, f64, f64); 3] = [
        (
            "paper ε=0.6 λ=1",
            LangevinConfig::from_paper(0.6, 1.0),
            0.6 * 0.6 / 2.0,
            0.6,
            1.0,
        ),
        (
            "paper ε=0.3 λ=0.45",
            LangevinConfig::from_paper(0.3, 0.45),
            0.3 * 0.3 / 0.9,
            0.3,
            1.0,
        ),
        (
            "direct a=0.5 σ=1",
            LangevinConfig {
                step_size: 0.5,
                noise_scale: 1.0,
            },
            0.5,
            1.0,
            2.0,
        ),
    ];
    println!("Langevin on N(0, s²): E[x²] vs σ²/(2a/s² − a²/s⁴) and vs s²");
    for (i, (name, config, a, sigma, s)) in langevin_cases.into_iter().enumerate() {
        let kernel = Langevin::new(config).unwrap();
        let (m, mcse, ess, _) = second_moment(&kernel, s, 100 + i as u64);
        let theory = langevin_variance(a, sigma, s);
        let z_theory = (m - theory) / mcse;
        let z_target = (m - s * s) / mcse;
        println!(
            "  {name:20} s={s}: E[x²] = {m:.5} ± {mcse:.5} (ESS {ess:.0}); theory {theory:.5} \
             (z = {z_theory:+.2}); s² = {:.5} (z = {z_target:+.1})",
            s * s
        );
        assert!(
            z_theory.abs() < 3.0,
            "{name}: {m} vs theory {theory}, z = {z_theory}"
        );
        assert!(
            z_target.abs() > 3.0,
            "{name}: bias not resolved, z = {z_target}"
        );
    }
    println!("MALA on N(0, s²): E[x²] vs s²");
    let mala_cases = [
        (
            "a=0.18 σ=0.6",
            MalaConfig {
                step_size: 0.18,
                noise_scale: 0.6,
            },
            1.0,
        ),
        ("textbook σ=1.4", MalaConfig::from_noise_scale(1.4), 1.0),
        ("textbook σ=1", MalaConfig::from_noise_scale(1.0), 2.0),
    ];
    for (i, (name, config, s)) in mala_cases.into_iter().enumerate() {
        let kernel = Mala::new(config).unwrap();
        let (m, mcse, ess, acc) = second_moment(&kernel, s, 200 + i as u64);
        let z = (m - s * s) / mcse;
        println!(
            "  {name:20} s={s}: E[x²] = {m:.5} ± {mcse:.5} (ESS {ess:.0}); s² = {:.5} \
             (z = {z:+.2}); mean acceptance {acc:.3}",
            s * s
        );
        assert!(z.abs() < 3.0, "MALA {name}: {m} vs {}, z = {z}", s * s);
        assert!(acc > 0.3, "MALA {name}: acceptance {acc}");
    }
    println!("elapsed {:.1} s", t0.elapsed().as_secs_f64());
}

/// Standardised projections `uᵀ(x − μ_y) / √(uᵀΣu)` `[B]`, which are `N(0, 1)` under the target.
fn standardised_projection(energy: &GaussianEnergy, x: &Tensor, y: &Tensor, angle: f64) -> Tensor {
    let u = [angle.cos(), angle.sin()];
    let c = energy.cov;
    let var = u[0] * u[0] * c[0][0] + 2.0 * u[0] * u[1] * c[0][1] + u[1] * u[1] * c[1][1];
    let m = energy.means;
    let mu = y.mm(&tensor(&[m[0][0], m[0][1], m[1][0], m[1][1]], &[2, 2]));
    (x - mu).mv(&tensor(&u, &[2])) / var.sqrt()
}

/// docs/SAMPLER-TESTING.md item 8 (TensorFlow Probability's pattern) for MALA: 50 000 chains
/// start from exact draws of a 2-D correlated Gaussian class-conditional target
/// (`x | y ~ N(μ_y, Σ)`, correlation 0.8, both classes), once without and once with a (linear,
/// whitening) feature stage; after 1 and after 10 applications of the kernel, one-sample KS
/// tests of 5 random standardised projections against `N(0, 1)` at a Bonferroni-corrected
/// family level of 0.001 (40 tests: 2 configurations × 2 energy kinds × 2 horizons × 5
/// projections). And the chains moved: mean acceptance above 0.3, almost every chain displaced
/// after 10 steps.
///
/// Measured run time: 0.5 s alone, 5 s beside the other ignored test on a loaded 2-core
/// machine (test profile, `f64` on CPU).
#[test]
#[ignore = "statistical, ~1 s"]
fn mala_conserves_the_target() {
    let _g = torch_rng_lock();
    let t0 = Instant::now();
    const N: i64 = 50_000;
    const PROJECTIONS: usize = 5;
    let configs = [
        MalaConfig::from_noise_scale(0.45),
        MalaConfig {
            step_size: 0.02,
            noise_scale: 0.35,
        },
    ];
    let n_tests = configs.len() * 2 * 2 * PROJECTIONS;
    let level = 0.001 / n_tests as f64;
    let mut rng = seed_everything(2718);
    let angles: Vec<f64> = (0..PROJECTIONS)
        .map(|_| rng.random_range(0.0..std::f64::consts::PI))
        .collect();
    println!(
        "MALA target conservation: {N} chains, per-test level {level:.2e}, angles {angles:.3?}"
    );
    let mut min_p = 1.0f64;
    for (ci, config) in configs.iter().enumerate() {
        for with_features in [false, true] {
            let energy = GaussianEnergy::new(with_features);
            seed_everything(3000 + 10 * ci as u64 + with_features as u64);
            let classes: Vec<usize> = (0..N as usize).map(|i| i % 2).collect();
            let y = one_hot(&classes);
            let x0 = energy.sample(&y);
            let kernel = Mala::new(config.clone()).unwrap();
            let mut state = JointState::new(&energy, &x0, &y).unwrap();
            let mut accept = Vec::new();
            for step in 1..=10 {
                let (next, info) = kernel.step(&energy, state).unwrap();
                state = next;
                accept.push(info.accept_prob.mean(Kind::Double).double_value(&[]));
                if step != 1 && step != 10 {
                    continue;
                }
                let mut ps = Vec::new();
                for &angle in &angles {
                    let z = standardised_projection(&energy, state.x(), &y, angle);
                    let d = ks_statistic_std_normal(&z);
                    let p = ks_p_value(d, N as usize);
                    min_p = min_p.min(p);
                    ps.push(p);
                    assert!(
                        p > level,
                        "{config:?}, features={with_features}, after {step} steps, angle \
                         {angle:.3}: KS D = {d:.5}, p = {p:.2e} < {level:.2e}"
                    );
                }
                println!(
                    "  {config:?} features={with_features} after {step:2} steps: KS p-values \
                     {ps:.3?}"
                );
            }
            let mean_acc = accept.iter().sum::<f64>() / accept.len() as f64;
            let disp = (state.x() - &x0)
                .square()
                .sum_dim_intlist([1i64].as_slice(), false, None);
            let moved = disp
                .gt(0.0)
                .to_kind(Kind::Double)
                .mean(Kind::Double)
                .double_value(&[]);
            let rms = disp.mean(Kind::Double).double_value(&[]).sqrt();
            println!(
                "    mean acceptance {mean_acc:.3}, chains displaced after 10 steps {:.4}, \
                 rms displacement {rms:.3}",
                moved
            );
            assert!(mean_acc > 0.3, "acceptance {mean_acc}");
            assert!(moved > 0.95, "only {moved} of the chains moved in 10 steps");
            assert!(rms > 0.1, "rms displacement {rms}");
        }
    }
    println!(
        "smallest p-value {min_p:.3e}; elapsed {:.1} s",
        t0.elapsed().as_secs_f64()
    );
}
