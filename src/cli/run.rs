//! The training driver shared by the examples: presets → trainer (new or resumed) → train with
//! progress and metrics → final `metrics.json` and table.

use super::{write_json, CommonArgs, RunObserver};
use anyhow::{Context, Result};
use ebm_core::{seed_everything, Error, JointEnergy};
use ebm_data::{Batch, DataSource};
use jem_train::{EvalMetrics, Judge, TrainConfig, TrainOptions, TrainSummary, Trainer};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use tch::{nn, Device};

/// Builds (or resumes) a trainer, writes `config.json`, trains with progress output and
/// returns the trainer, final metrics and summary.
#[allow(clippy::too_many_arguments)]
pub fn train<M: JointEnergy, D: DataSource>(
    experiment: &str,
    c: &CommonArgs,
    device: Device,
    config: TrainConfig,
    data: &mut D,
    test: &Batch,
    validation: Option<&Batch>,
    (energy_based, sample_based): (bool, bool),
    build: impl Fn(&nn::Path) -> M,
    architecture: Option<jem_train::Architecture>,
    extra: serde_json::Value,
    judge: Option<Judge<M>>,
) -> Result<(Trainer<M>, EvalMetrics, TrainSummary)> {
    // A data-parallel launch (`mpirun -n N …`): this process is one rank. Rank 0 works in
    // OUT_DIR as a single process would; rank r > 0 keeps its metrics and checkpoints (its own
    // buffer and chains) in OUT_DIR/rank<r>, does not evaluate, and stops after training.
    let launch = ebm_dist::launch_info();
    // One GPU per rank: the launch's local rank.
    let device = match device {
        Device::Cuda(_) if launch.world_size > 1 => Device::Cuda(launch.local_rank),
        d => d,
    };
    let group = ebm_dist::from_env_for(device)?;
    let rank = group.as_ref().map_or(0, |g| g.rank());
    let world = group.as_ref().map_or(1, |g| g.world_size());
    let out_dir = if rank == 0 {
        c.out_dir()
    } else {
        c.out_dir().join(format!("rank{rank}"))
    };
    std::fs::create_dir_all(&out_dir)
        .with_context(|| format!("cannot create {}", out_dir.display()))?;
    let mut trainer = match &c.resume {
        Some(dir) => {
            let dir = if rank == 0 {
                dir.clone()
            } else {
                let own = dir.join(format!("rank{rank}"));
                if !own.is_dir() {
                    anyhow::bail!(
                        "rank {rank} resumes from {}, which does not exist: resume a \
                         data-parallel run from its OUT_DIR with the same number of ranks",
                        own.display()
                    );
                }
                own
            };
            Trainer::resume(&dir, device, build, &c.overrides())
                .with_context(|| format!("cannot resume from {}", dir.display()))
                .inspect(|t| {
                    for (p, why) in t.resume_skipped() {
                        say!(
                            "{experiment}: skipped unloadable checkpoint {} ({why}); resumed from an older one",
                            p.display()
                        );
                    }
                })?
        }
        None => {
            seed_everything(config.seed);
            let first = data.next_batch(config.batch_size, device)?;
            Trainer::new(
                config.clone(),
                device,
                build,
                &Batch::labelled(&first.x, &first.y),
            )?
        }
    };
    // Recorded in every checkpoint: `JointModel::load_saved` rebuilds the network from it.
    if let Some(a) = architecture {
        trainer.set_architecture(a);
    }
    if let Some(g) = group {
        let engine = g.engine();
        trainer.set_collective(g)?;
        say!(
            "{experiment}: rank {rank} of {world} ({engine}); batch {} per rank, {} in all",
            trainer.config().batch_size,
            trainer.config().batch_size * world as i64
        );
    }
    if let Some(j) = judge.filter(|_| rank == 0) {
        trainer.set_judge(j);
    }
    let resolved = serde_json::json!({
        "objective": trainer.config().objective_summary(),
        "experiment": experiment, "preset": c.preset(), "device": format!("{device:?}"),
        "missing_labels": c.missing_labels, "threads": c.threads, "resumed_from": c.resume,
        "ranks": world,
        "options": extra, "train": trainer.config(),
    });
    write_json(&out_dir.join("config.json"), &resolved)?;
    let t = trainer.config();
    say!("{experiment}: objective: {}", t.objective_summary());
    say!(
        "{experiment}: preset {}, {} iterations (from {}), batch {}, {} sweeps, lr {}, Langevin \
         drift {} noise {} (ε {:.3e}, λ {:.3e}), device {device:?}, out {}",
        c.preset(),
        t.iterations,
        trainer.iteration(),
        t.batch_size,
        t.sweeps,
        t.lr,
        t.langevin.step_size,
        t.langevin.noise_scale,
        t.langevin.to_paper().0,
        t.langevin.to_paper().1,
        c.out_dir().display()
    );
    let mut observer = RunObserver::new(&out_dir, t.iterations, trainer.iteration())?;
    let ckpt = out_dir.join("checkpoints");
    // SIGINT / SIGTERM: the first one stops training cleanly after the current iteration
    // (checkpoint written), a second one exits at once.
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register_conditional_shutdown(sig, 130, Arc::clone(&stop))?;
        signal_hook::flag::register(sig, Arc::clone(&stop))?;
    }
    // The handler cannot print: say from a watcher that the stop was heard, since an
    // evaluation in progress (the final one can take longer than training) finishes first.
    let returned = Arc::new(AtomicBool::new(false));
    if rank == 0 {
        let (heard, returned) = (Arc::clone(&stop), Arc::clone(&returned));
        let name = experiment.to_string();
        std::thread::spawn(move || {
            use std::sync::atomic::Ordering::SeqCst;
            // Ends with the run (a library caller may train again in the same process).
            while !heard.load(SeqCst) {
                if returned.load(SeqCst) {
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
            if returned.load(SeqCst) {
                return;
            }
            say!(
                "{name}: stopping with a checkpoint once the current iteration or evaluation ends \
                 (resuming runs what is left, the final evaluation included); a second signal \
                 exits at once"
            );
        });
    }
    let options = TrainOptions {
        test: (rank == 0).then_some(test),
        validation: validation.filter(|_| rank == 0),
        energy_based,
        sample_based,
        checkpoint_dir: Some(&ckpt),
        stop: Some(&stop),
    };
    let result = trainer.train(data, &options, &mut observer);
    returned.store(true, std::sync::atomic::Ordering::SeqCst);
    observer.finish();
    if let Err(Error::Interrupted {
        iteration,
        checkpoint,
    }) = &result
    {
        // The command line again, less what a resume refuses or replaces: `--resume`,
        // `--config` and `--set` (the checkpoint holds the configuration).
        let mut args: Vec<String> = Vec::new();
        let mut skip = false;
        for a in std::env::args() {
            let dropped = ["--resume", "--config", "--set"];
            if skip {
                skip = false;
            } else if dropped.contains(&a.as_str()) {
                skip = true;
            } else if !dropped.iter().any(|d| a.starts_with(&format!("{d}="))) {
                args.push(a);
            }
        }
        say!(
            "{experiment}: interrupted after iteration {iteration}; checkpoint {}.\nResume with: {} --resume {}",
            checkpoint
                .as_ref()
                .map_or("not written".into(), |p| p.display().to_string()),
            args.join(" "),
            c.out_dir().display()
        );
        std::process::exit(130);
    }
    let (metrics, summary) = match result {
        Ok(r) => r,
        Err(e) if world > 1 => {
            // The other ranks are blocked in a collective: end them all.
            say!("{experiment}: rank {rank}: training failed: {e}");
            trainer.abort_all_ranks(1);
        }
        Err(e @ Error::Diverged { .. }) => {
            // No silent failure and nothing lost: the verdict goes to metrics.json as for a
            // finished run, with the checkpoint to continue from.
            let last_healthy = jem_train::checkpoint::newest_healthy(&out_dir.join("checkpoints"))
                .ok()
                .flatten();
            let line = serde_json::json!({
                "objective": trainer.config().objective_summary(),
                "healthy": false, "bars_met": null, "failures": [e.to_string()],
                "iterations": trainer.iteration(),
                "recoveries": trainer.recoveries().len(),
                "recovery_events": trainer.recoveries(),
                "last_healthy_checkpoint": last_healthy,
            });
            write_json(&out_dir.join("metrics.json"), &line)?;
            say!(
                "{experiment}: FAILED: training failed: {e}; last checkpoint taken with a healthy \
                 energy gap: {}",
                last_healthy.map_or("none".into(), |p| p.display().to_string())
            );
            std::process::exit(3);
        }
        Err(e) => return Err(anyhow::Error::new(e).context("training failed")),
    };
    if rank > 0 {
        let line = serde_json::json!({
            "rank": rank, "iterations": summary.iterations,
            "train_seconds": summary.train_seconds, "all_reduce_seconds": summary.all_reduce_seconds,
        });
        write_json(&out_dir.join("metrics.json"), &line)?;
        say!(
            "{experiment}: rank {rank} done ({} iterations, {:.1} s of training); rank 0 evaluates",
            summary.iterations,
            summary.train_seconds
        );
        drop(trainer); // finalises the group
        std::process::exit(0);
    }
    Ok((trainer, metrics, summary))
}

/// Writes `metrics.json` (with the entries of the object `extra` added, e.g. the energy's
/// architecture) with the health check of `jem_train::health` (`healthy`, `bars_met`,
/// `failures`, `last_healthy_checkpoint`), prints the final table and, when the check fails,
/// a message naming what failed and exits: status 3 for an unhealthy run (a metric under its
/// floor), 4 for a healthy run of the default preset that misses one of its bars.
/// `example_default`: the example's own choices (energy, data set) are those the preset
/// was measured with, so the bars of `expect` apply when no training setting was changed
/// either.
#[allow(clippy::too_many_arguments)]
pub fn finish(
    experiment: &str,
    example_default: bool,
    expect: &jem_train::health::Expectations,
    c: &CommonArgs,
    config: &TrainConfig,
    metrics: &EvalMetrics,
    summary: &TrainSummary,
    total_seconds: f64,
    figures: &[String],
    extra: serde_json::Value,
) -> Result<()> {
    let mut final_metrics = serde_json::json!({
        "objective": config.objective_summary(),
        "gen_start": config.gen_start,
        "gen_sweeps": config.gen_sweeps,
        "energy_accuracy": metrics.energy_accuracy,
        "sample_accuracy": metrics.sample_accuracy,
        "ece": metrics.ece,
        "energy_accuracy_per_attribute": metrics.energy_accuracy_per_attribute,
        "sample_accuracy_per_attribute": metrics.sample_accuracy_per_attribute,
        "iterations": summary.iterations,
        "recoveries": summary.recoveries.len(),
        "recovery_events": summary.recoveries,
        "train_seconds": summary.train_seconds,
        "ranks": summary.world_size,
        "all_reduce_seconds": summary.all_reduce_seconds,
        "total_seconds": total_seconds,
        "test_examples": metrics.test_examples,
        "split": metrics.split,
        "figures": figures,
    });
    if let Some(obj) = final_metrics.as_object_mut() {
        for (k, v) in &metrics.judges {
            obj.insert(k.clone(), (*v).into());
        }
        if let serde_json::Value::Object(more) = extra {
            obj.extend(more);
        }
    }
    let values: std::collections::BTreeMap<String, f64> = final_metrics
        .as_object()
        .map(|o| {
            o.iter()
                .filter_map(|(k, v)| v.as_f64().map(|v| (k.clone(), v)))
                .collect()
        })
        .unwrap_or_default();
    let bars_apply = example_default
        && !expect.bars.is_empty()
        && !c.overrides().changes_training()
        && c.batch_size.is_none()
        && c.config.is_none()
        && !jem_train::Overrides {
            set: c.set.clone(),
            ..Default::default()
        }
        .changes_training()
        && c.missing_labels == 0.0;
    let health = expect.check(&values, bars_apply);
    let ckpt = c.out_dir().join("checkpoints");
    let last_healthy = jem_train::checkpoint::newest_healthy(&ckpt).ok().flatten();
    if let Some(obj) = final_metrics.as_object_mut() {
        obj.insert("healthy".into(), health.healthy.into());
        obj.insert("bars_apply".into(), bars_apply.into());
        obj.insert("bars_met".into(), serde_json::to_value(health.bars_met)?);
        obj.insert("failures".into(), serde_json::to_value(&health.failures)?);
        obj.insert(
            "last_healthy_checkpoint".into(),
            serde_json::to_value(&last_healthy)?,
        );
    }
    write_json(&c.out_dir().join("metrics.json"), &final_metrics)?;
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
    for (k, v) in &metrics.judges {
        println!("| {k} | {v:.4} |");
    }
    println!("| iterations | {} |", summary.iterations);
    println!("| train seconds | {:.1} |", summary.train_seconds);
    println!("| total seconds (with evaluation and figures) | {total_seconds:.1} |");
    println!("\nresults in {}", c.out_dir().display());
    if health.passed() {
        return Ok(());
    }
    let (what, code) = if health.healthy {
        ("misses the default preset's bars", 4)
    } else {
        ("is unhealthy (a metric under its floor: a broken model)", 3)
    };
    let resume = last_healthy.as_ref().map_or(
        "no checkpoint taken with a healthy energy gap".to_string(),
        |p| {
            format!(
                "last checkpoint taken with a healthy energy gap: {} (continue from it with \
                 --resume {} --seed <a new seed>)",
                p.display(),
                p.display()
            )
        },
    );
    say!(
        "{experiment}: FAILED: the run {what}: {}; {} automatic recoveries; {resume}",
        health.failures.join("; "),
        summary.recoveries.len()
    );
    std::process::exit(code);
}
