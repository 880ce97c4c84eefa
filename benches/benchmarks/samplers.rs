//! Sampler benchmarks on the paper's energies — `gwg_step/*`, `langevin_step/*`, `mwg_sweep/*`
//! — and the chain check against the PyTorch reference (`JEBM_BENCH_CHECK_DIR`).
//!
//! One iteration is a run of the paper's step count on the paper's batch of chains with a
//! frozen `VarStore` (as the trainer samples): `gwg_step` = that many GWG steps on `y` with `x`
//! fixed, `langevin_step` = that many Langevin steps on `x` with `y` fixed, `mwg_sweep` = that
//! many MWG sweeps (GWG then Langevin), with the acceptance diagnostics accumulated on the
//! device as the trainer does.

use super::{bench_chain, configure, criterion, setup, Paper, PAPER};
use criterion::{criterion_group, Criterion};
use ebm_core::{ContinuousKernel, DiscreteKernel, JointState};
use mwg::{JointSampler, SweepDiagnostics};
use samplers_cont::Langevin;
use samplers_disc::{Gwg, GwgConfig};
use std::collections::HashMap;
use std::path::Path;
use tch::{nn, Device, Kind, Tensor};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kernel {
    Gwg,
    Langevin,
    Mwg,
}

fn kernel_group(c: &mut Criterion, group_name: &str, kernel: Kernel) {
    let device = setup();
    let mut group = c.benchmark_group(group_name);
    for paper in PAPER {
        configure(&mut group, paper.chain_steps());
        let mut vs = nn::VarStore::new(device);
        let energy = paper.build(&vs.root());
        vs.freeze();
        let energy = energy.as_ref();
        let (x0, y0) = paper.chains(device);
        let steps = paper.steps();
        let gwg = Gwg::new(GwgConfig::default()).expect("valid GWG config");
        let langevin = Langevin::new(paper.langevin()).expect("valid Langevin config");
        let init = || JointState::new(energy, &x0, &y0).expect("valid chains");
        match kernel {
            Kernel::Gwg => bench_chain(&mut group, paper.name(), device, init, |mut s| {
                for _ in 0..steps {
                    s = gwg.step(energy, s).expect("GWG step").0;
                }
                s
            }),
            Kernel::Langevin => bench_chain(&mut group, paper.name(), device, init, |mut s| {
                for _ in 0..steps {
                    s = langevin.step(energy, s).expect("Langevin step").0;
                }
                s
            }),
            Kernel::Mwg => {
                let sampler = JointSampler::new(gwg.clone(), langevin.clone());
                bench_chain(&mut group, paper.name(), device, init, |s| {
                    let mut diagnostics = SweepDiagnostics::default();
                    sampler
                        .run(energy, s, steps, &mut diagnostics)
                        .expect("MWG sweeps")
                })
            }
        }
    }
    group.finish();
}

fn gwg_step(c: &mut Criterion) {
    kernel_group(c, "gwg_step", Kernel::Gwg);
}

fn langevin_step(c: &mut Criterion) {
    kernel_group(c, "langevin_step", Kernel::Langevin);
}

fn mwg_sweep(c: &mut Criterion) {
    kernel_group(c, "mwg_sweep", Kernel::Mwg);
}

criterion_group! {
    name = benches;
    config = criterion();
    targets = gwg_step, langevin_step, mwg_sweep
}

/// Replays, for every energy exported by `scripts/pytorch_reference.py --export-check DIR`,
/// the PyTorch chain with our sampler and compares them. Returns whether all agree.
///
/// The exported files are `DIR/<energy>.model.safetensors` (the PyTorch weights under our
/// variable names, float64) and `DIR/<energy>.chain.safetensors` (`seed`, start `x0`, `y0`,
/// and for each PyTorch variant `<impl>.x`, `<impl>.y` after the sweeps and
/// `<impl>.accepted` `[sweeps, B]`). Both sides run on the CPU in float64 from
/// `manual_seed(seed)`; PyTorch draws its random numbers in our kernels' order (GWG: uniforms
/// `[B, D]` for the Gumbel-max cell choice, uniforms `[B]` for the MH test; Langevin: normals
/// like `x`) from the same libtorch generator, so the chains must agree move for move: every
/// accept/reject decision, every `y`, and `x` up to rounding.
pub fn chain_check(dir: &Path) -> bool {
    let mut all_ok = true;
    let mut found = 0;
    for paper in PAPER {
        let model = dir.join(format!("{}.model.safetensors", paper.name()));
        let chain = dir.join(format!("{}.chain.safetensors", paper.name()));
        if !model.exists() || !chain.exists() {
            continue;
        }
        found += 1;
        match check_one(paper, &model, &chain) {
            Ok(ok) => all_ok &= ok,
            Err(e) => {
                eprintln!("chain check {}: {e:#}", paper.name());
                all_ok = false;
            }
        }
    }
    if found == 0 {
        eprintln!(
            "chain check: no <energy>.model.safetensors / <energy>.chain.safetensors in {}",
            dir.display()
        );
        return false;
    }
    all_ok
}

fn check_one(paper: Paper, model: &Path, chain: &Path) -> anyhow::Result<bool> {
    let mut vs = nn::VarStore::new(Device::Cpu);
    let energy = paper.build(&vs.root());
    vs.load(model)?;
    vs.freeze();
    let energy = energy.as_ref();
    let tensors: HashMap<String, Tensor> = Tensor::read_safetensors(chain)?.into_iter().collect();
    let get = |k: &str| {
        tensors
            .get(k)
            .map(|t| t.shallow_clone())
            .ok_or_else(|| anyhow::anyhow!("{} has no tensor {k}", chain.display()))
    };
    let seed = get("seed")?.int64_value(&[0]);
    let (x0, y0) = (get("x0")?, get("y0")?);
    let sweeps = get("fused.accepted")?.size()[0];

    let sampler = JointSampler::new(
        Gwg::new(GwgConfig::default())?,
        Langevin::new(paper.langevin())?,
    );
    tch::manual_seed(seed);
    let mut state = JointState::new(energy, &x0, &y0)?;
    let mut accepted = Vec::new();
    for _ in 0..sweeps {
        let (next, info) = sampler.sweep(energy, state)?;
        accepted.push(info.y.accepted.to_kind(Kind::Double));
        state = next;
    }
    let accepted = Tensor::stack(&accepted, 0);
    let rate = |a: &Tensor| a.mean(Kind::Double).double_value(&[]);
    let mut ok = true;
    for variant in ["fused", "authors"] {
        let Ok(their_acc) = get(&format!("{variant}.accepted")) else {
            continue;
        };
        let their_x = get(&format!("{variant}.x"))?;
        let their_y = get(&format!("{variant}.y"))?;
        let decisions_differ = accepted
            .ne_tensor(&their_acc)
            .sum(Kind::Int64)
            .int64_value(&[]);
        let y_rows_differ = state
            .y()
            .ne_tensor(&their_y)
            .any_dim(1, false)
            .sum(Kind::Int64)
            .int64_value(&[]);
        let x_scale = their_x.abs().max().double_value(&[]).max(1.0);
        let x_diff = (state.x() - &their_x).abs().max().double_value(&[]);
        let agree = decisions_differ == 0 && y_rows_differ == 0 && x_diff <= 1e-6 * x_scale;
        ok &= agree;
        println!(
            "{}",
            serde_json::json!({
                "check": "rust_vs_pytorch",
                "energy": paper.name(),
                "pytorch_impl": variant,
                "chains": state.batch_size(),
                "sweeps": sweeps,
                "accept_rate_ours": rate(&accepted),
                "accept_rate_pytorch": rate(&their_acc),
                "accept_decisions_differing": decisions_differ,
                "y_rows_differing": y_rows_differ,
                "x_max_abs_diff": x_diff,
                "x_max_abs": x_scale,
                "agree": agree,
            })
        );
    }
    Ok(ok)
}
