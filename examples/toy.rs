//! The paper's toy experiment (§6.1, appendix B.1, Table 1): a joint EBM over points on 8
//! Gaussians and three binary attributes, trained by PCD with the joint GWG + Langevin sampler.
//!
//! `cargo run --release --example toy -- [--preset default|paper] [--out-dir DIR] [--seed N]
//!  [--device auto|cpu|cuda] [--iterations N] [--resume DIR] [--missing-labels FRACTION]`
//!
//! Writes into `--out-dir`: `config.json`, `metrics.jsonl`, `metrics.json`, `checkpoints/`, and
//! the figures `conditional_samples.png` (rows: attributes, columns: values; Figs. 1, 4, 5),
//! `unconditional_samples.png` (Fig. 6), `densities.png` (class-conditional densities,
//! Figs. 7–10).
mod common;

use anyhow::{bail, Context, Result};
use clap::Parser;
use common::{plot, write_json, CommonArgs, RunObserver};
use ebm_data::{DataSource, EightGaussians};
use jem_train::{Activation, MlpEnergy, TrainConfig, Trainer, YInitMode};
use joint_ebm::cont::{Langevin, LangevinConfig};
use joint_ebm::core::{seed_everything, JointEnergy, JointState};
use joint_ebm::disc::Gwg;
use joint_ebm::mwg::{JointSampler, SweepDiagnostics};
use joint_ebm::tch::{nn, Device, Kind, Tensor};
use std::time::Instant;

#[derive(Parser, Debug)]
#[command(about = "Toy experiment: 8 Gaussians with three binary attributes")]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// Test examples for the final evaluation.
    #[arg(long, default_value_t = 1000)]
    eval_examples: i64,
}

/// Table 1 of the paper, verbatim.
fn paper_preset() -> TrainConfig {
    TrainConfig {
        iterations: 5_500,
        batch_size: 1_000,
        lr: 1e-4,
        warmup_iters: 1_000,
        sweeps: 20,
        langevin: LangevinConfig::from_paper(0.1, 0.5),
        y_init: YInitMode::Empirical,
        eval_every: 500,
        checkpoint_every: 500,
        ..TrainConfig::default()
    }
}

/// Reaches the paper's accuracy in a few minutes on 2 CPU cores: smaller batches and a larger
/// learning rate with a short warm-up (see README for the measurements behind it).
fn default_preset() -> TrainConfig {
    TrainConfig {
        iterations: 600,
        batch_size: 200,
        lr: 1e-3,
        warmup_iters: 50,
        eval_every: 200,
        eval_examples: 300,
        checkpoint_every: 200,
        ..paper_preset()
    }
}

/// A few seconds end to end: for smoke tests of the whole pipeline, not for results.
fn tiny_preset() -> TrainConfig {
    TrainConfig {
        iterations: 4,
        batch_size: 32,
        warmup_iters: 2,
        sweeps: 3,
        buffer_size: 128,
        eval_every: 2,
        eval_chains: 2,
        eval_steps: 5,
        checkpoint_every: 2,
        ..default_preset()
    }
}

fn build(p: &nn::Path) -> MlpEnergy {
    MlpEnergy::new(
        p,
        2,
        joint_ebm::core::YLayout::categorical(vec![2, 2, 2]).expect("valid layout"),
        &[256, 256, 256],
        Activation::Elu,
    )
}

const EXTENT: f64 = 4.5;

/// Test-time samples from noise (no buffer): `steps` MWG sweeps with the EMA model, optionally
/// with attribute `fixed.0` clamped to value `fixed.1`.
fn sample_from_noise(
    t: &Trainer<MlpEnergy>,
    n: i64,
    fixed: Option<(usize, i64)>,
) -> Result<(Tensor, Tensor)> {
    let layout = t.ema_model().y_layout().clone();
    let x0 = t.x_init().sample(n);
    let mut y0 = t.y_init().sample(&layout, n, t.device(), x0.kind())?;
    let mut mask = None;
    if let Some((var, value)) = fixed {
        let vals = layout.decode(&y0);
        let _ = vals.select(1, var as i64).fill_(value);
        y0 = layout.encode(&vals, x0.kind())?;
        let m: Vec<bool> = (0..layout.num_vars()).map(|v| v == var).collect();
        mask = Some(Tensor::from_slice(&m));
    }
    let mut state = JointState::new(t.ema_model(), &x0, &y0)?;
    if let Some(m) = &mask {
        state = state.with_fixed_y(m)?;
    }
    let cfg = t.config();
    let sampler = JointSampler::new(
        Gwg::new(cfg.gwg.clone())?,
        Langevin::new(cfg.langevin.clone())?,
    );
    let mut d = SweepDiagnostics::default();
    let state = sampler.run(t.ema_model(), state, cfg.eval_steps, &mut d)?;
    Ok((
        state.x.to_device(Device::Cpu).to_kind(Kind::Double),
        layout.decode(&state.y).to_device(Device::Cpu),
    ))
}

fn points(x: &Tensor, colour_of: impl Fn(usize) -> [u8; 3]) -> Result<Vec<(f64, f64, [u8; 3])>> {
    let v = Vec::<f64>::try_from(x.reshape([-1]))?;
    Ok(v.chunks(2)
        .enumerate()
        .map(|(i, p)| (p[0], p[1], colour_of(i)))
        .collect())
}

fn figures(
    t: &Trainer<MlpEnergy>,
    out: &std::path::Path,
    data: &mut EightGaussians,
) -> Result<Vec<String>> {
    // Test-time chains per panel (fewer for the smoke-test preset).
    let n = if t.config().iterations < 10 { 20 } else { 500 };
    let size = 240;
    let (data_x, _, _) = data.sample(1000, Device::Cpu)?;
    let background = points(&data_x.to_kind(Kind::Double), |_| [210, 210, 210])?;
    // Conditional samples: one panel per (attribute, value).
    let mut panels = Vec::new();
    for var in 0..3 {
        for value in 0..2 {
            let (x, _) = sample_from_noise(t, n, Some((var, value)))?;
            let mut pts = background.clone();
            pts.extend(points(&x, |_| plot::PALETTE[var * 2 + value as usize])?);
            panels.push(plot::scatter(&pts, EXTENT, size));
        }
    }
    plot::save(
        &plot::grid(&panels, 2, 6),
        &out.join("conditional_samples.png"),
    )?;
    // Unconditional samples coloured by their sampled mode.
    let (x, y) = sample_from_noise(t, 2 * n, None)?;
    let vals = Vec::<i64>::try_from(y.reshape([-1]))?;
    let pts = points(&x, |i| {
        let m =
            EightGaussians::mode_of([vals[3 * i], vals[3 * i + 1], vals[3 * i + 2]]).unwrap_or(7);
        plot::PALETTE[m as usize]
    })?;
    plot::save(
        &plot::grid(&[plot::scatter(&pts, EXTENT, 2 * size)], 1, 6),
        &out.join("unconditional_samples.png"),
    )?;
    // Class-conditional densities exp f(x, y) on a grid, one panel per configuration (mode).
    let g = 120i64;
    let lin = Tensor::linspace(-EXTENT, EXTENT, g, (Kind::Float, t.device()));
    let gx = lin.unsqueeze(0).expand([g, g], false);
    let gy = lin.flip([0]).unsqueeze(1).expand([g, g], false);
    let grid_x = Tensor::stack(&[gx.reshape([-1]), gy.reshape([-1])], 1);
    let layout = t.ema_model().y_layout().clone();
    let mut panels = Vec::new();
    for mode in 0..8 {
        let a = EightGaussians::attributes(mode);
        let y = layout
            .encode(
                &Tensor::from_slice(&a).view([1, 3]).to_device(t.device()),
                Kind::Float,
            )?
            .expand([g * g, 6], false);
        let f = tch::no_grad(|| t.ema_model().log_density(&grid_x, &y));
        let dens = (&f - f.max())
            .exp()
            .to_device(Device::Cpu)
            .to_kind(Kind::Double);
        let v = Vec::<f64>::try_from(dens)?;
        panels.push(plot::heatmap(
            &v.chunks(g as usize)
                .map(<[f64]>::to_vec)
                .collect::<Vec<_>>(),
            2,
        ));
    }
    plot::save(&plot::grid(&panels, 4, 6), &out.join("densities.png"))?;
    Ok(vec![
        "conditional_samples.png".into(),
        "unconditional_samples.png".into(),
        "densities.png".into(),
    ])
}

use joint_ebm::tch;

fn main() -> Result<()> {
    let args = Args::parse();
    let c = &args.common;
    let device = c.setup()?;
    c.prepare_out_dir()?;
    let mut config = match c.preset.as_str() {
        "paper" => paper_preset(),
        "default" => default_preset(),
        "tiny" => tiny_preset(),
        other => bail!("unknown preset {other:?} (expected default, paper or tiny)"),
    };
    if let Some(s) = c.seed {
        config.seed = s;
    }
    if let Some(i) = c.iterations {
        config.iterations = i;
    }
    if args.eval_examples < 1 {
        bail!("--eval-examples must be ≥ 1");
    }
    seed_everything(config.seed);
    let mut data = EightGaussians::new(c.missing_labels, Kind::Float)?;
    // A fixed test set, drawn from a seed of its own.
    seed_everything(config.seed.wrapping_add(1_000_003));
    let test = data.test_set(args.eval_examples, device)?;

    let mut trainer = match &c.resume {
        Some(dir) => {
            let cfg = config.clone();
            Trainer::resume(dir, device, build, |r| {
                r.iterations = cfg.iterations;
                r.seed = cfg.seed;
            })
            .with_context(|| format!("cannot resume from {}", dir.display()))?
        }
        None => {
            seed_everything(config.seed);
            let first = data.next_batch(config.batch_size, device)?;
            Trainer::new(
                config.clone(),
                device,
                build,
                &jem_train::LabelledBatch {
                    x: &first.x,
                    y: &first.y,
                    observed: None,
                },
            )?
        }
    };
    let resolved = serde_json::json!({
        "experiment": "toy", "preset": c.preset, "device": format!("{device:?}"),
        "missing_labels": c.missing_labels, "eval_examples": args.eval_examples,
        "resumed_from": c.resume, "train": trainer.config(),
    });
    write_json(&c.out_dir.join("config.json"), &resolved)?;
    eprintln!(
        "toy: preset {}, {} iterations (from {}), batch {}, {} sweeps, device {device:?}, out {}",
        c.preset,
        trainer.config().iterations,
        trainer.iteration(),
        trainer.config().batch_size,
        trainer.config().sweeps,
        c.out_dir.display()
    );

    let mut observer =
        RunObserver::new(&c.out_dir, trainer.config().iterations, trainer.iteration())?;
    let started = Instant::now();
    let batch = trainer.config().batch_size;
    let ckpt = c.checkpoint_dir();
    let result = trainer.train(
        |_| {
            let b = data.next_batch(batch, device)?;
            Ok((b.x, b.y, b.observed))
        },
        &test.x,
        &test.y,
        true,
        true,
        Some(&ckpt),
        &mut observer,
    );
    observer.finish();
    let (metrics, summary) = result.context("training failed")?;
    let figs = figures(&trainer, &c.out_dir, &mut data)?;
    let total = started.elapsed().as_secs_f64();
    let final_metrics = serde_json::json!({
        "energy_accuracy": metrics.energy_accuracy,
        "sample_accuracy": metrics.sample_accuracy,
        "ece": metrics.ece,
        "energy_accuracy_per_attribute": metrics.energy_accuracy_per_attribute,
        "sample_accuracy_per_attribute": metrics.sample_accuracy_per_attribute,
        "iterations": summary.iterations,
        "train_seconds": summary.train_seconds,
        "total_seconds": total,
        "test_examples": metrics.test_examples,
        "figures": figs,
    });
    write_json(&c.out_dir.join("metrics.json"), &final_metrics)?;
    let fmt = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.4}"));
    println!("\n| metric | value |\n| --- | --- |");
    println!(
        "| energy-based accuracy | {} |",
        fmt(metrics.energy_accuracy)
    );
    println!(
        "| sample-based accuracy | {} |",
        fmt(metrics.sample_accuracy)
    );
    println!("| ECE (20 bins) | {} |", fmt(metrics.ece));
    println!("| iterations | {} |", summary.iterations);
    println!("| train seconds | {:.1} |", summary.train_seconds);
    println!("| total seconds (with evaluation and figures) | {total:.1} |");
    println!("\nresults in {}", c.out_dir.display());
    Ok(())
}
