//! [`Experiment`]: one experiment as a library value — its data, energy, presets, judges and
//! figures — and [`run`], the driver every experiment shares: presets and flags → data →
//! trainer (new or resumed) → training with progress and metrics → figures → `metrics.json`
//! with its health check.
//!
//! The built-in experiments (`crate::experiments`) are implementations of this trait; a new
//! dataset is one more, written outside the library (`examples/own_experiment.rs` is a
//! complete one, 2-D clusters in about 80 lines, run by a test in `tests/examples.rs`), and gets the
//! whole command line of [`CommonArgs`] — presets with `--set` / `--config`, `--resume`,
//! `--validation`, progress, checkpoints, recovery, `metrics.json`.

use super::CommonArgs;
use anyhow::{Context, Result};
use ebm_core::JointEnergy;
use ebm_data::{Batch, DataSource, HoldOutValidation};
use jem_train::health::Expectations;
use jem_train::{presets, Architecture, Judge, TrainConfig, Trainer};
use std::path::Path;
use std::time::Instant;
use tch::{nn, Device};

/// The data an experiment trains and evaluates on.
pub struct Splits<D> {
    /// The training stream.
    pub train: D,
    /// The examples of the final evaluation (the test split).
    pub test: Batch,
    /// Examples carved from the training data for the evaluations during training
    /// (`--validation N`; `None`: those use `test`).
    pub validation: Option<Batch>,
}

impl<D: HoldOutValidation> Splits<D> {
    /// `train`'s test split and, when `validation > 0` (`--validation N`), `validation`
    /// examples carved from its training data by a fixed permutation
    /// ([`crate::cli::VALIDATION_SEED`]) for the evaluations during training. The test split is
    /// read first, so its dequantisation noise does not depend on `validation`.
    pub fn carve(mut train: D, validation: usize, device: Device) -> Result<Self> {
        let test = train.test_set(i64::MAX, device)?;
        let validation = match validation {
            0 => None,
            n => {
                train.hold_out_validation(n, crate::cli::VALIDATION_SEED)?;
                Some(train.validation_set(i64::MAX, device)?)
            }
        };
        Ok(Self {
            train,
            test,
            validation,
        })
    }
}

/// Which accuracies the trainer's evaluations compute (both need a label space small enough
/// to enumerate for the energy-based one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Evaluation {
    /// Accuracy of `argmax_y f(x, y)` by enumeration.
    pub energy_based: bool,
    /// Accuracy of the majority vote of sampled chains on `y` given `x`.
    pub sample_based: bool,
}

impl Default for Evaluation {
    fn default() -> Self {
        Self {
            energy_based: true,
            sample_based: true,
        }
    }
}

/// One experiment: what [`run`] asks of it, in the order it asks. [`name`](Self::name),
/// [`data`](Self::data) and [`network`](Self::network) must be written, and
/// [`preset`](Self::preset) too under a name that is not a built-in experiment's (its default
/// looks the built-in presets up); the rest have defaults (no floors or bars, no judge, no
/// figures).
pub trait Experiment {
    /// The energy network `f_θ(x, y)` (higher = more probable).
    type Energy: JointEnergy;
    /// The training data.
    type Data: DataSource;

    /// The experiment's name: log lines, `config.json`, the built-in presets' lookup.
    fn name(&self) -> &str;

    /// The training preset named `preset` (`--preset`; on `--resume`, the run's). Default:
    /// [`presets::lookup`] under [`name`](Self::name) — a new experiment returns its own.
    fn preset(&self, preset: &str) -> ebm_core::Result<TrainConfig> {
        presets::lookup(self.name(), preset)
    }

    /// The floors and bars checked at the end of a run of `preset` (see
    /// [`jem_train::health`]). Default: the built-in ones of a built-in experiment, none
    /// otherwise.
    fn expectations(&self, preset: &str) -> ebm_core::Result<Expectations> {
        if presets::EXPERIMENTS.contains(&self.name()) {
            presets::expectations(self.name(), preset)
        } else {
            self.preset(preset).map(|_| Expectations::default())
        }
    }

    /// Adjusts the resolved configuration before it is validated (e.g. a setting that depends
    /// on the experiment's own flags). Default: nothing.
    fn configure(&mut self, _common: &CommonArgs, _config: &mut TrainConfig) -> Result<()> {
        Ok(())
    }

    /// Loads or generates the data. Called after the configuration is resolved and
    /// validated; the random state is the experiment's to seed
    /// ([`presets::setup_seed`] keeps the split's draws apart from the training stream's).
    fn data(
        &mut self,
        common: &CommonArgs,
        config: &TrainConfig,
        device: Device,
    ) -> Result<Splits<Self::Data>>;

    /// Builds the network under `p` (fresh parameters; a checkpoint's are loaded into its
    /// store). Called once first to report errors, then by the trainer for the model and its
    /// EMA copy.
    fn network(&self, p: &nn::Path) -> ebm_core::Result<Self::Energy>;

    /// The network as a serialisable spec, recorded in every checkpoint so that
    /// `JointModel::load_saved` rebuilds it without this code. Default: `None` (load the
    /// model with `JointModel::load` and [`network`](Self::network) instead).
    fn architecture(&self) -> Option<Architecture> {
        None
    }

    /// A judge of the trained model, called at every evaluation (metrics into
    /// `metrics.jsonl` and `metrics.json`). Default: none.
    fn judge(
        &mut self,
        _common: &CommonArgs,
        _config: &TrainConfig,
        _data: &mut Splits<Self::Data>,
        _device: Device,
    ) -> Result<Option<Judge<Self::Energy>>> {
        Ok(None)
    }

    /// Which accuracies the evaluations compute. Default: both.
    fn evaluation(&self) -> Evaluation {
        Evaluation::default()
    }

    /// The experiment's own settings, written to `config.json` as `options`.
    fn options(&self) -> serde_json::Value {
        serde_json::json!({})
    }

    /// Draws the figures of the trained model into `out`; returns their file names. Default:
    /// none.
    fn figures(
        &mut self,
        _trainer: &Trainer<Self::Energy>,
        _data: &mut Splits<Self::Data>,
        _out: &Path,
    ) -> Result<Vec<String>> {
        Ok(Vec::new())
    }

    /// More entries for `metrics.json` (e.g. the energy's name).
    fn metrics(&self) -> serde_json::Value {
        serde_json::json!({})
    }

    /// Whether the experiment's own choices (network, data set) are those its `default`
    /// preset's bars were measured with, so that the bars apply when no training setting was
    /// changed either. Default: true.
    fn bars_apply(&self) -> bool {
        true
    }
}

/// Trains and evaluates `experiment` as the flags `common` say: writes `config.json`,
/// `metrics.jsonl`, checkpoints, the figures and `metrics.json` into the run's folder and
/// prints the final table. Exits the process with status 3 for an unhealthy run (a metric
/// under its floor, or divergence), 4 for a default-preset run that misses a bar, 130 when
/// interrupted (after a checkpoint).
pub fn run<E: Experiment>(mut experiment: E, common: &CommonArgs) -> Result<()> {
    let started = Instant::now();
    let name = experiment.name().to_string();
    let device = common.setup()?;
    common.prepare_out_dir()?;
    let mut config = common.resolve(experiment.preset(&common.preset())?)?;
    // Looked up now, so that a preset without expectations fails before training, not after.
    let expectations = experiment.expectations(&common.preset())?;
    experiment.configure(common, &mut config)?;
    config.validate()?;
    let mut splits = experiment
        .data(common, &config, device)
        .with_context(|| format!("{name}: cannot prepare the data"))?;
    if common.validation > 0 && splits.validation.is_none() {
        say!(
            "{name}: --validation {} ignored: this experiment carves no validation split (its \
             evaluations during training read the test split)",
            common.validation
        );
    }
    let judge = experiment.judge(common, &config, &mut splits, device)?;
    // Built once here so that a network that cannot be built is an error, not a panic in
    // the trainer (which seeds the generator again before it builds its own).
    experiment
        .network(&nn::VarStore::new(Device::Cpu).root())
        .with_context(|| format!("{name}: cannot build the network"))?;
    let eval = experiment.evaluation();
    let (trainer, metrics, summary) = super::run::train(
        &name,
        common,
        device,
        config,
        &mut splits.train,
        &splits.test,
        splits.validation.as_ref(),
        (eval.energy_based, eval.sample_based),
        |p: &nn::Path| {
            experiment
                .network(p)
                .expect("the network was built once before with the same settings")
        },
        experiment.architecture(),
        experiment.options(),
        judge,
    )?;
    let figures = experiment.figures(&trainer, &mut splits, &common.out_dir())?;
    super::run::finish(
        &name,
        experiment.bars_apply(),
        &expectations,
        common,
        trainer.config(),
        &metrics,
        &summary,
        started.elapsed().as_secs_f64(),
        &figures,
        experiment.metrics(),
    )
}

/// [`run`] with the common flags read from the process's command line: the whole `main` of
/// an experiment that has no flags of its own (one with its own flags parses a `clap::Parser`
/// that flattens [`CommonArgs`], as the built-in ones do, and calls [`run`]).
pub fn main<E: Experiment>(experiment: E) -> Result<()> {
    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        common: CommonArgs,
    }
    let cli = <Cli as clap::Parser>::parse();
    run(experiment, &cli.common)
}
