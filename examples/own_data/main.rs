//! The tutorial of `docs/YOUR-OWN-DATA.md`, end to end: your own data (`DataSource`, in
//! `data.rs`) and network (`JointEnergy`, in `network.rs`), trained with a `Trainer`, then loaded
//! as a `JointModel` without the trainer to predict and generate. Four 2-D clusters, label =
//! cluster.
//!
//! `cargo run --release --example own_data -- [OUT_DIR] [ITERATIONS]` (default `runs/own-data`,
//! 300 iterations: seconds).
mod data;
mod network;

use data::Clusters;
use joint_ebm::ebm_core::{DataSource, Result, YLayout};
use joint_ebm::mwg::SamplePredictionConfig;
use joint_ebm::tch::{Device, Kind, Tensor};
use joint_ebm::train::{
    GenerationStart, JointModel, RecoveryConfig, Silent, TrainConfig, TrainOptions, Trainer,
};
use network::MyEnergy;
use std::path::PathBuf;

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let out = PathBuf::from(args.next().unwrap_or_else(|| "runs/own-data".into()));
    let iterations = match args.next() {
        Some(n) => n.parse().map_err(|_| {
            joint_ebm::ebm_core::Error::config("iterations", n, "expected a whole number")
        })?,
        None => 300,
    };
    joint_ebm::ebm_core::seed_everything(0);
    let device = Device::Cpu;

    // 1. Train: a configuration (documented on `TrainConfig`), the first batch (it sets the
    //    starting distributions of the chains), then `train`, writing checkpoints.
    let mut data = Clusters {
        layout: YLayout::categorical(vec![4])?,
    };
    let config = TrainConfig {
        iterations,
        batch_size: 100,
        lr: 1e-3,
        warmup_iters: 50,
        l2_energy: 0.1,
        recovery: RecoveryConfig::on(),
        ..TrainConfig::default()
    };
    let first = data.next_batch(config.batch_size, device)?;
    let mut trainer = Trainer::new(config, device, MyEnergy::new, &first)?;
    let test = data.test_set(500, device)?;
    let checkpoints = out.join("checkpoints");
    let options = TrainOptions {
        test: Some(&test),
        checkpoint_dir: Some(&checkpoints),
        ..Default::default()
    };
    let (metrics, summary) = trainer.train(&mut data, &options, &mut Silent)?;
    println!(
        "trained {} iterations: energy-based accuracy {:.3}, sample-based {:.3}",
        summary.iterations,
        metrics.energy_accuracy.unwrap_or(f64::NAN),
        metrics.sample_accuracy.unwrap_or(f64::NAN)
    );

    // 2. Load the saved model without the trainer, predict and generate.
    let model = JointModel::load(&out, device, MyEnergy::new)?;
    let x = Tensor::from_slice(&[2.0f32, 0.0, 0.0, 2.0, -2.0, 0.0, 0.0, -2.0]).view([4, 2]);
    let by_energy = model.predict_by_energy(&x)?;
    let by_sampling = model.predict_by_sampling(&x, &SamplePredictionConfig::default())?;
    println!(
        "predicted clusters of the four centres: by energy {:?}, by sampling {:?}",
        Vec::<i64>::try_from(by_energy.values.view([-1]))?,
        Vec::<i64>::try_from(by_sampling.values.view([-1]))?
    );
    let (samples, _) = model.generate(200, &[(0, &[1])], None, GenerationStart::Noise, 200)?;
    let mean = Vec::<f64>::try_from(samples.to_kind(Kind::Double).mean_dim(0, false, None))?;
    println!(
        "200 samples of cluster 1 (centre (0, 2)) from noise: mean ({:.2}, {:.2})",
        mean[0], mean[1]
    );
    Ok(())
}
