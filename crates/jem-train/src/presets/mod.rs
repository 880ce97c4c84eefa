//! The paper's three experiments as library values: for each, the energy of the paper
//! (appendix B) and its training presets.
//!
//! * `paper()` — the paper's Tables 1–3, verbatim (days of CPU time for MNIST and dSprites);
//! * `default()` — what the examples run by default: minutes on 2 CPU cores, with every
//!   departure from the paper written in its doc comment and reported by
//!   [`TrainConfig::objective_summary`]; automatic recovery from divergence is on
//!   ([`RecoveryConfig::on`]);
//! * `tiny()` — seconds end to end, for smoke tests of a pipeline, not for results.
//!
//! ```no_run
//! use jem_train::{presets, Trainer};
//! # fn main() -> ebm_core::Result<()> {
//! let config = presets::lookup("mnist", "default")?;
//! assert_eq!(config, presets::mnist::default());
//! # Ok(()) }
//! ```

use crate::config::{GenerationStart, NegativeLabels, RecoveryConfig, TrainConfig, YInitMode};
use crate::health::{Expectations, Threshold};
use crate::kernels::YSampler;
use crate::models::{Activation, CnnEnergy, LogitEnergy, MlpEnergy};
use ebm_core::{Error, Result, YLayout};
use samplers_cont::LangevinConfig;
use tch::nn;

/// The preset names every experiment has.
pub const PRESETS: [&str; 3] = ["default", "paper", "tiny"];
/// The experiments.
pub const EXPERIMENTS: [&str; 4] = ["toy", "mnist", "dsprites", "sprites"];

/// The preset `preset` (`default`, `paper` or `tiny`; dSprites also `conditional` and
/// `paper-objective`) of
/// `experiment` (`toy`, `mnist`, `dsprites` or `sprites`). Unknown names are an [`Error::InvalidConfig`]
/// listing the known ones.
pub fn lookup(experiment: &str, preset: &str) -> Result<TrainConfig> {
    type Table = &'static [(&'static str, fn() -> TrainConfig)];
    let table: Table = match experiment {
        "toy" => &[
            ("default", toy::default),
            ("paper", toy::paper),
            ("tiny", toy::tiny),
        ],
        "mnist" => &[
            ("default", mnist::default),
            ("paper", mnist::paper),
            ("tiny", mnist::tiny),
        ],
        "dsprites" => &[
            ("default", dsprites::default),
            ("paper", dsprites::paper),
            ("tiny", dsprites::tiny),
            ("conditional", dsprites::conditional),
            ("paper-objective", dsprites::paper_objective),
        ],
        "sprites" => &[
            ("default", sprites::default),
            ("paper", sprites::paper),
            ("tiny", sprites::tiny),
        ],
        other => {
            return Err(Error::config(
                "experiment",
                other,
                format!("expected one of {}", EXPERIMENTS.join(", ")),
            ))
        }
    };
    table
        .iter()
        .find(|(name, _)| *name == preset)
        .map(|(_, make)| make())
        .ok_or_else(|| {
            let names: Vec<&str> = table.iter().map(|(n, _)| *n).collect();
            Error::config(
                "preset",
                preset,
                format!("expected one of {}", names.join(", ")),
            )
        })
}

/// The floors and bars of `experiment` (see [`crate::health`]): the floors for every preset
/// but `tiny` (seconds of training, for smoke tests: at chance by design), the bars for its
/// `default` only (the one they were measured with); unknown names are an
/// [`Error::InvalidConfig`].
pub fn expectations(experiment: &str, preset: &str) -> Result<Expectations> {
    lookup(experiment, preset)?;
    let mut e = match experiment {
        "toy" => toy::expectations(),
        "mnist" => mnist::expectations(),
        "sprites" => sprites::expectations(),
        _ => dsprites::expectations(),
    };
    match preset {
        "default" => {}
        "tiny" => e = Expectations::default(),
        _ => e.bars.clear(),
    }
    Ok(e)
}

fn thresholds(pairs: &[(&str, f64)]) -> Vec<Threshold> {
    pairs.iter().map(|(m, v)| Threshold::new(m, *v)).collect()
}

/// Whether a run is a smoke test (fewer than 10 iterations, as the `tiny` presets): the
/// examples then draw their figures and judges with a handful of samples instead of hundreds,
/// so that a test of the whole pipeline takes seconds. Its metrics mean nothing.
pub fn is_smoke_test(config: &TrainConfig) -> bool {
    config.iterations < 10
}

/// The seed of the random choices made before training that must not depend on the training
/// stream (the examples' test-split subsampling and judge fitting): the run's seed plus a
/// fixed offset, so that runs with different seeds still see different but reproducible
/// choices.
pub fn setup_seed(seed: u64) -> u64 {
    seed.wrapping_add(1_000_003)
}

/// A few seconds end to end from any preset: 4 iterations of batch 16, 2 sweeps, a 64-state
/// buffer, evaluation with 2 chains × 3 steps, 5-sweep test-time chains.
pub fn tiny_from(base: TrainConfig) -> TrainConfig {
    TrainConfig {
        iterations: 4,
        batch_size: 16,
        warmup_iters: 2,
        sweeps: 2,
        buffer_size: 64,
        eval_every: 2,
        eval_chains: 2,
        eval_steps: 3,
        gen_sweeps: 5,
        checkpoint_every: 2,
        cond_batch_size: if base.cond_batch_size > 0 { 32 } else { 0 },
        ..base
    }
}

/// The toy experiment (§6.1, appendix B.1, Table 1): points on 8 Gaussians × three binary
/// attributes.
pub mod toy;

/// The MNIST experiment (§6.2, appendix B.2, Table 2): digits × a 10-way class.
pub mod mnist;

/// The dSprites experiment (§6.3, appendix B.3, Table 3): 32 × 32 ellipses × their binned
/// (x, y) position (two 16-way labels).
pub mod dsprites;

/// Structured sprites (not an experiment of the paper; the case it was written for): all three
/// dSprites shapes, `y` = four factor groups (shape 3, scale 6, position bins 16 × 16) and the
/// sprite's 16 × 16 mask as 256 bits — `3 · 6 · 256 · 2²⁵⁶` configurations, so nothing can be
/// enumerated: sampled negatives, DMALA on `y`, sample-based prediction, generation from noise.
pub mod sprites;

#[cfg(test)]
mod tests;
