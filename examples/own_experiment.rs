//! Your own experiment with the whole command line: the tutorial's data and network
//! (`examples/own_data/`) as one [`Experiment`] — its presets, data and network — run by the
//! library's driver, which brings presets with `--set` / `--config`, `--resume`, progress,
//! checkpoints, automatic recovery and `metrics.json` (`docs/YOUR-OWN-DATA.md`, section 6).
//! Nothing in the library names this experiment.
//!
//! `cargo run --release --example own_experiment -- [--preset default|tiny] [--out-dir DIR]
//! [--set KEY=VALUE]… [--resume DIR]`
#[path = "own_data/data.rs"]
mod data;
#[path = "own_data/network.rs"]
mod network;

use data::Clusters;
use joint_ebm::cli::{CommonArgs, Experiment, Splits};
use joint_ebm::ebm_core::{seed_everything, DataSource, Error, Result, YLayout};
use joint_ebm::tch::{nn, Device};
use joint_ebm::train::{presets, RecoveryConfig, TrainConfig};
use network::MyEnergy;

/// Four 2-D clusters, label = cluster.
struct FourClusters;

impl Experiment for FourClusters {
    type Energy = MyEnergy;
    type Data = Clusters;

    fn name(&self) -> &str {
        "four-clusters"
    }

    /// `default`: seconds on a CPU; `tiny`: a smoke test of the pipeline.
    fn preset(&self, preset: &str) -> Result<TrainConfig> {
        let default = TrainConfig {
            iterations: 300,
            batch_size: 100,
            lr: 1e-3,
            warmup_iters: 50,
            l2_energy: 0.1,
            eval_examples: 500,
            recovery: RecoveryConfig::on(),
            ..TrainConfig::default()
        };
        match preset {
            "default" => Ok(default),
            "tiny" => Ok(presets::tiny_from(default)),
            other => Err(Error::config("preset", other, "expected default or tiny")),
        }
    }

    fn data(
        &mut self,
        _: &CommonArgs,
        config: &TrainConfig,
        device: Device,
    ) -> anyhow::Result<Splits<Clusters>> {
        seed_everything(presets::setup_seed(config.seed));
        let mut train = Clusters {
            layout: YLayout::categorical(vec![4])?,
        };
        let test = train.test_set(500, device)?;
        Ok(Splits {
            train,
            test,
            validation: None,
        })
    }

    fn network(&self, p: &nn::Path) -> Result<MyEnergy> {
        Ok(MyEnergy::new(p))
    }
}

fn main() -> anyhow::Result<()> {
    joint_ebm::cli::experiment::main(FourClusters)
}
