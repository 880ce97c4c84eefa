//! `train_iter/*`: one PCD training iteration of [`jem_train::Trainer`] with the paper's batch
//! size and sweeps — buffer draw (5 % re-initialised), `sweeps` MWG sweeps with the live model
//! frozen, write-back of `x` and `y`, loss `−(mean f⁺ − mean f⁻)`, backward, Adam with warm-up,
//! EMA update, and the trainer's one host read of the loss. Synthetic data of the right shapes.
//!
//! The trainer (and its replay buffer) persists across iterations and samples, as in training.

use super::{configure, criterion, setup, sync, PAPER};
use criterion::{criterion_group, Criterion};
use ebm_core::JointEnergy;
use jem_train::{Batch, TrainConfig, Trainer, YInitMode};
use std::time::Instant;

fn train_iter(c: &mut Criterion) {
    let device = setup();
    let mut group = c.benchmark_group("train_iter");
    for paper in PAPER {
        configure(&mut group, paper.chain_steps());
        let (x, y) = paper.data(paper.batch(), device);
        let (lr, warmup_iters) = paper.lr_warmup();
        let mut trainer: Option<Trainer<Box<dyn JointEnergy>>> = None;
        group.bench_function(paper.name(), |b| {
            let trainer = trainer.get_or_insert_with(|| {
                let config = TrainConfig {
                    batch_size: paper.batch(),
                    sweeps: paper.steps(),
                    langevin: paper.langevin(),
                    buffer_size: 10_000,
                    lr,
                    warmup_iters,
                    y_init: YInitMode::Uniform,
                    seed: 0,
                    ..TrainConfig::default()
                };
                let batch = Batch::labelled(&x, &y);
                Trainer::new(config, device, |path| paper.build(path), &batch)
                    .expect("trainer set-up")
            });
            b.iter_custom(|iters| {
                let batch = Batch::labelled(&x, &y);
                sync(device, &x);
                let start = Instant::now();
                for _ in 0..iters {
                    let report = trainer.step(&batch).expect("training step");
                    std::hint::black_box(report.loss);
                }
                sync(device, &x);
                start.elapsed()
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = criterion();
    targets = train_iter
}
